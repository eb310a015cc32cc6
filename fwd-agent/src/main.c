// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * loom-fwd-agent: the data plane on a router (ARCHITECTURE.md section 4).
 *
 *   loom-fwd-agent [-c FILE] [-n] [-l LEVEL] [-s]
 *
 * -c the configuration (default /etc/loom/fwd-agent.yaml), -n check it,
 * print it normalised and exit, -l override the log level, -s log to syslog
 * as well as stderr (common/daemon.h).
 */
#include <stddef.h>

#include "common/daemon.h"
#include "fwd_daemon.h"

/* The agent never rereads its file: it takes the loaded configuration only. */
static int run(const void *cfg, const char *path)
{
	(void)path;
	return fwd_daemon_run(cfg);
}

static const struct loom_daemon_desc agent = {
	.name = "loom-fwd-agent",
	.default_config = "/etc/loom/fwd-agent.yaml",
	.schema = &fwd_config_schema,
	.log_level_offset = offsetof(struct fwd_config, log_level),
	.run = run,
};

int main(int argc, char **argv)
{
	static struct fwd_config cfg;

	return loom_daemon_main(argc, argv, &agent, &cfg);
}
