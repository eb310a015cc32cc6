// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * loom-pkt-engine: the data plane for service chains (ARCHITECTURE.md
 * section 6, docs/pkt-engine.md).
 *
 *   loom-pkt-engine [-c FILE] [-n] [-l LEVEL] [-s]
 *
 * -c the configuration and definitions (default /etc/loom/pkt-engine.yaml),
 * -n check them, print them normalised and exit, -l override the log level,
 * -s log to syslog as well as stderr (common/daemon.h). SIGHUP rereads the
 * file and publishes the new definitions.
 */
#include <stddef.h>

#include "common/daemon.h"
#include "pe_daemon.h"

static int run(const void *cfg, const char *path)
{
	return pe_daemon_run(cfg, path);
}

static const struct loom_daemon_desc engine = {
	.name = "loom-pkt-engine",
	.default_config = "/etc/loom/pkt-engine.yaml",
	.schema = &pe_config_schema,
	.log_level_offset = offsetof(struct pe_config, log_level),
	.run = run,
};

int main(int argc, char **argv)
{
	static struct pe_config cfg;

	return loom_daemon_main(argc, argv, &engine, &cfg);
}
