/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The daemon skeleton (STYLE.md habit 2): a daemon's main.c fills a
 * struct loom_daemon_desc and calls loom_daemon_main(), which gives every
 * daemon the same command line and start-up:
 *
 *   NAME [-c FILE] [-n] [-l LEVEL] [-s] [-u USER]
 *
 * -c the configuration (default desc->default_config), -n check it, print
 * it normalised on stdout and exit, -l override the configuration's log
 * level, -s log to syslog as well as stderr, -u the user the daemon drops
 * to (priv_set_user(): it wins over the configuration's `user`, so a
 * supervisor starts every daemon the same way), -h (or any mistake) usage.
 *
 * Order: options, log_init(name, notice), load and verify the configuration
 * (each mistake printed as file:line:col on stderr), -n dumps and exits, the
 * log level is set from the configuration unless -l, then run().
 * Exit codes: 2 usage (bad option, extra argument, unknown -l level), 1 the
 * configuration does not load, cannot be dumped or run() fails, 0 otherwise.
 *
 * Readiness (systemd's Type=notify, docs/deploy.md): run() calls
 * loom_daemon_ready() once the daemon serves; the skeleton says STOPPING=1
 * when run() returns. Both are datagrams to $NOTIFY_SOCKET, and nothing
 * without it, so the same binary runs under systemd, runit or a shell.
 */
#ifndef LOOM_COMMON_DAEMON_H
#define LOOM_COMMON_DAEMON_H

#include <stddef.h>

#include "common/cfg.h"

struct loom_daemon_desc {
	const char *name;             /* "loom-fwd-agent": log ident and usage */
	const char *default_config;   /* path used without -c */
	const struct cfg_schema *schema;
	size_t log_level_offset;      /* of the config's `unsigned` enum log_level */
	/*
	 * The daemon itself, on the loaded configuration (a cfg_storage of
	 * the schema's type) and the path it came from (for reloads). Called
	 * from the main thread with logging set up; returns 0 or a negative
	 * errno it has already logged.
	 */
	int (*run)(const void *cfg, const char *path);
};

/*
 * The body of main(): returns the process's exit code (above). Call it once
 * from main(), before any other thread exists: it uses getopt() (from the
 * first argument, whatever getopt() parsed before) and log_init().
 * cfg_storage holds desc->schema->size bytes aligned for the config struct;
 * it is usually a static in main.c, as configurations are large, and stays
 * valid for as long as run() may use it.
 */
int loom_daemon_main(int argc, char **argv, const struct loom_daemon_desc *desc,
		     void *cfg_storage);

/*
 * Tell the supervisor the daemon serves: its privileges are dropped, its
 * tables attached and its sockets bound. Call it once from run(), right
 * before entering the event loop. Returns 1 when a supervisor was told, 0
 * when none listens (no $NOTIFY_SOCKET), or -errno, which a daemon logs
 * and otherwise ignores: the supervisor's start timeout is the remedy.
 */
int loom_daemon_ready(void);

/*
 * Send state ("READY=1", "STOPPING=1", "STATUS=...": sd_notify(3)'s
 * variables, newline separated) to the socket $NOTIFY_SOCKET names: a
 * path, or an abstract name when it starts with '@'. Same returns as
 * loom_daemon_ready(); -EINVAL for a name that is not a unix socket name.
 * Any thread may call it.
 */
int loom_notify(const char *state);

#endif
