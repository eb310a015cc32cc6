// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/daemon.h"
#include "common/log.h"
#include "common/priv.h"

static int usage(const struct loom_daemon_desc *d)
{
	fprintf(stderr, "usage: %s [-c config.yaml] [-n] [-l err|warn|notice|info|debug] [-s] "
		"[-u user]\n",
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
	while ((opt = getopt(argc, argv, "c:nl:su:h")) != -1) {
		switch (opt) {
		case 'c': path = optarg; break;
		case 'n': check = true; break;
		case 'l': level = optarg; break;
		case 's': sinks |= LOG_TO_SYSLOG; break;
		case 'u': priv_set_user(optarg); break;
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
	int r = d->run(cfg_storage, path);
	loom_notify("STOPPING=1");
	return r < 0 ? 1 : 0;
}

int loom_daemon_ready(void)
{
	return loom_notify("READY=1");
}

int loom_notify(const char *state)
{
	const char *name = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t len = name ? strlen(name) : 0;
	int fd, r = 1;

	if (!len)
		return 0;
	if ((name[0] != '/' && name[0] != '@') || len >= sizeof(sa.sun_path))
		return log_debug_errno(-EINVAL, "NOTIFY_SOCKET=%s: not a unix socket", name);
	memcpy(sa.sun_path, name, len);
	if (name[0] == '@')
		sa.sun_path[0] = '\0'; /* the abstract namespace */
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa,
		   (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) < 0)
		r = log_debug_errno(-errno, "telling %s %s", name, state);
	close(fd);
	return r;
}
