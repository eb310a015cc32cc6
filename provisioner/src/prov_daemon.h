/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef LOOM_PROV_DAEMON_H
#define LOOM_PROV_DAEMON_H

#include "prov_config.h"

/*
 * The daemon on its loaded configuration: read the admin's password file,
 * bind the API, drop privileges (keeping none), open the database, make the
 * admin, serve until SIGTERM or SIGINT. 0, or a negative errno it logged.
 */
int prov_daemon_run(const struct prov_config *cfg, const char *path);

#endif
