// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * loom-provisioner: the model in SQLite and the REST API (ARCHITECTURE.md
 * section 7, docs/provisioner.md, docs/api.md).
 *
 *   loom-provisioner [-c FILE] [-n] [-l LEVEL] [-s]
 *
 * -c the configuration (default /etc/loom/provisioner.yaml), -n check it,
 * print it normalised and exit, -l override the log level, -s log to syslog
 * as well as stderr (common/daemon.h). It keeps no capabilities.
 */
#include <stddef.h>

#include "common/daemon.h"
#include "prov_daemon.h"

static int run(const void *cfg, const char *path)
{
	return prov_daemon_run(cfg, path);
}

static const struct loom_daemon_desc provisioner = {
	.name = "loom-provisioner",
	.default_config = "/etc/loom/provisioner.yaml",
	.schema = &prov_config_schema,
	.log_level_offset = offsetof(struct prov_config, log_level),
	.run = run,
};

int main(int argc, char **argv)
{
	static struct prov_config cfg;

	return loom_daemon_main(argc, argv, &provisioner, &cfg);
}
