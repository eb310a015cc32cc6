/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef LOOM_SVC_DAEMON_H
#define LOOM_SVC_DAEMON_H

#include "svc_config.h"

/* Run the manager until SIGTERM/SIGINT; SIGHUP reloads the services from
 * path. Returns 0 or a negative errno (already logged). */
int svc_daemon_run(const struct svc_config *cfg, const char *path);

#endif
