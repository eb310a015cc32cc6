// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * loom-fwd-agent: the data plane on a router (ARCHITECTURE.md section 4).
 *
 *   loom-fwd-agent [--takeover] [-c FILE] [-n] [-l LEVEL] [-s]
 *
 * -c the configuration (default /etc/loom/fwd-agent.yaml), -n check it,
 * print it normalised and exit, -l override the log level, -s log to syslog
 * as well as stderr (common/daemon.h). --takeover: an upgrade restart, this
 * process takes over from the agent that runs the same instance
 * (docs/fwd-agent.md); it is the agent's own option, so it is taken out
 * before the skeleton common to every daemon parses the rest.
 */
#include <stddef.h>
#include <string.h>

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
	int n = 1;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--takeover"))
			fwd_daemon_set_takeover(true);
		else
			argv[n++] = argv[i];
	}
	argv[n] = NULL;
	return loom_daemon_main(n, argv, &agent, &cfg);
}
