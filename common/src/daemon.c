// SPDX-License-Identifier: LGPL-2.1-or-later
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "common/daemon.h"
#include "common/log.h"

static int usage(const struct loom_daemon_desc *d)
{
	fprintf(stderr, "usage: %s [-c config.yaml] [-n] [-l err|warn|notice|info|debug] [-s]\n",
		d->name);
	return 2;
}

int loom_daemon_main(int argc, char **argv, const struct loom_daemon_desc *d, void *cfg_storage)
{
	struct cfg_diag diag;
	const char *path = d->default_config, *level = NULL;
	unsigned sinks = LOG_TO_STDERR, cfg_level;
	bool check = false;
	int opt;

	/* 0, not 1: glibc then also resets its own state (a caller such as a
	 * test runner may have run getopt already). */
	optind = 0;
	while ((opt = getopt(argc, argv, "c:nl:sh")) != -1) {
		switch (opt) {
		case 'c': path = optarg; break;
		case 'n': check = true; break;
		case 'l': level = optarg; break;
		case 's': sinks |= LOG_TO_SYSLOG; break;
		default: return usage(d);
		}
	}
	if (optind != argc)
		return usage(d);

	log_init(d->name, LOG_LVL_NOTICE, sinks);
	if (cfg_load_file(path, d->schema, cfg_storage, &diag) < 0) {
		cfg_diag_print(&diag, stderr);
		return 1;
	}
	if (check)
		return cfg_dump(d->schema, cfg_storage, stdout) < 0;
	memcpy(&cfg_level, (const char *)cfg_storage + d->log_level_offset, sizeof(cfg_level));
	enum log_level l = (enum log_level)cfg_level;
	if (level && log_level_parse(level, &l) < 0)
		return usage(d);
	log_set_level(l);
	return d->run(cfg_storage, path) < 0 ? 1 : 0;
}
