// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * loom-svc-mgr: the service manager (ARCHITECTURE.md sections 1-4).
 *
 *   loom-svc-mgr [-c FILE] [-n] [-l LEVEL] [-s]
 *
 * -c the configuration (default /etc/loom/svc-mgr.yaml), -n check it,
 * print it normalised and exit, -l override the log level, -s log to syslog
 * as well as stderr (common/daemon.h).
 */
#include <stddef.h>

#include "common/daemon.h"
#include "svc_daemon.h"

static int run(const void *cfg, const char *path)
{
	return svc_daemon_run(cfg, path);
}

static const struct loom_daemon_desc manager = {
	.name = "loom-svc-mgr",
	.default_config = "/etc/loom/svc-mgr.yaml",
	.schema = &svc_config_schema,
	.log_level_offset = offsetof(struct svc_config, log_level),
	.run = run,
};

int main(int argc, char **argv)
{
	static struct svc_config cfg;

	return loom_daemon_main(argc, argv, &manager, &cfg);
}
