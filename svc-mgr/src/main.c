// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * loom-svc-mgr: the service manager (ARCHITECTURE.md sections 1-4).
 *
 *   loom-svc-mgr [-c FILE] [-n] [-l LEVEL] [-s]
 *
 * -c the configuration (default /etc/loom/svc-mgr.yaml), -n check it,
 * print it normalised and exit, -l override the log level, -s log to syslog
 * as well as stderr.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "svc_daemon.h"

static int usage(void)
{
	fprintf(stderr, "usage: loom-svc-mgr [-c config.yaml] [-n] [-l err|warn|notice|info|debug] "
			"[-s]\n");
	return 2;
}

int main(int argc, char **argv)
{
	static struct svc_config cfg;
	static struct cfg_diag diag;
	const char *path = "/etc/loom/svc-mgr.yaml", *level = NULL;
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

	log_init("loom-svc-mgr", LOG_LVL_NOTICE, sinks);
	if (cfg_load_file(path, &svc_config_schema, &cfg, &diag) < 0) {
		cfg_diag_print(&diag, stderr);
		return 1;
	}
	if (check)
		return cfg_dump(&svc_config_schema, &cfg, stdout) < 0;
	enum log_level l = (enum log_level)cfg.log_level;
	if (level && log_level_parse(level, &l) < 0)
		return usage();
	log_set_level(l);
	return svc_daemon_run(&cfg, path) < 0 ? 1 : 0;
}
