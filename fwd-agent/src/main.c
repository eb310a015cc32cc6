// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * loom-fwd-agent: the data plane on a router (ARCHITECTURE.md section 4).
 *
 *   loom-fwd-agent [-c FILE] [-n] [-l LEVEL] [-s]
 *
 * -c the configuration (default /etc/loom/fwd-agent.yaml), -n check it,
 * print it normalised and exit, -l override the log level, -s log to syslog
 * as well as stderr.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "fwd_daemon.h"

static int usage(void)
{
	fprintf(stderr, "usage: loom-fwd-agent [-c config.yaml] [-n] [-l err|warn|notice|info|debug] "
			"[-s]\n");
	return 2;
}

int main(int argc, char **argv)
{
	static struct fwd_config cfg;
	static struct cfg_diag diag;
	const char *path = "/etc/loom/fwd-agent.yaml", *level = NULL;
	unsigned sinks = LOG_TO_STDERR;
	bool check = false;
	int opt;

	while ((opt = getopt(argc, argv, "c:nl:sh")) != -1) {
		switch (opt) {
		case 'c': path = optarg; break;
		case 'n': check = true; break;
		case 'l': level = optarg; break;
		case 's': sinks |= LOG_TO_SYSLOG; break;
		default: return usage();
		}
	}
	if (optind != argc)
		return usage();

	log_init("loom-fwd-agent", LOG_LVL_NOTICE, sinks);
	if (cfg_load_file(path, &fwd_config_schema, &cfg, &diag) < 0) {
		cfg_diag_print(&diag, stderr);
		return 1;
	}
	if (check)
		return cfg_dump(&fwd_config_schema, &cfg, stdout) < 0;
	enum log_level l = (enum log_level)cfg.log_level;
	if (level && log_level_parse(level, &l) < 0)
		return usage();
	log_set_level(l);
	return fwd_daemon_run(&cfg) < 0 ? 1 : 0;
}
