// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The ingress filter of the data planes (nft_filter.h). A netdev ingress
 * chain on the daemon's interfaces drops unicast packets that are not for
 * this host: the daemon forwards those. Packets for the host's own
 * addresses, broadcasts, multicasts (ARP, neighbour discovery, routing
 * protocols, the engine's probes) go on to the kernel. The chain runs after
 * the packet taps, so the daemon still sees everything.
 *
 * By default the table stays when the daemon exits: a restarted or upgraded
 * one takes over the same interfaces, and in between the kernel must not
 * forward untranslated packets of flows it owns. The agent's host mode ties
 * it to the agent's life instead (owned).
 */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/nft_filter.h"

extern char **environ;

/* nft -f - (or -i: interactive) with script on its standard input. With
 * keep, the pipe stays open in *keep_fd and the child in *keep_pid;
 * otherwise the child is waited for and its exit status returned. */
static int spawn_nft(const char *script, bool interactive, bool quiet, int *keep_fd,
		     pid_t *keep_pid)
{
	int pfd[2], null_fd;
	pid_t pid;
	posix_spawn_file_actions_t fa;
	static char a0[] = "nft", a1[] = "-f", a2[] = "-", a1i[] = "-i";
	char *const argv_f[] = { a0, a1, a2, NULL };
	char *const argv_i[] = { a0, a1i, NULL };
	int r, st;

	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -errno;
	null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pfd[0], STDIN_FILENO);
	if (null_fd >= 0) /* listings and the interactive prompt are not ours to print */
		posix_spawn_file_actions_adddup2(&fa, null_fd, STDOUT_FILENO);
	if (null_fd >= 0 && quiet) /* a probe whose failure is expected */
		posix_spawn_file_actions_adddup2(&fa, null_fd, STDERR_FILENO);
	r = posix_spawnp(&pid, "nft", &fa, NULL, interactive ? argv_i : argv_f, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(pfd[0]);
	if (null_fd >= 0)
		close(null_fd);
	if (r != 0) {
		close(pfd[1]);
		return -r;
	}
	size_t len = strlen(script), off = 0;
	while (off < len) {
		ssize_t w = write(pfd[1], script + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	if (keep_fd) {
		*keep_fd = pfd[1];
		*keep_pid = pid;
		return 0;
	}
	close(pfd[1]);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -EIO;
}

static int run_nft(const char *script, bool quiet)
{
	return spawn_nft(script, false, quiet, NULL, NULL);
}

/* The owned table's keeper: nft -i reading from owner_fd. */
static int owner_fd = -1;
static pid_t owner_pid;

void nft_filter_release(void)
{
	int st;

	if (owner_fd < 0)
		return;
	close(owner_fd); /* end of input: nft exits, the kernel drops the table */
	owner_fd = -1;
	while (waitpid(owner_pid, &st, 0) < 0 && errno == EINTR)
		;
}

static const char rule_fmt[] =
	"meta protocol ip fib daddr type != { local, broadcast, multicast, anycast } counter drop";
static const char rule6_fmt[] =
	"meta protocol ip6 fib daddr type != { local, broadcast, multicast, anycast } counter drop";

/* Owned: the whole table in one line, which nft -i runs as one transaction;
 * then wait until its last chain is listed, as nft -i reports nothing we
 * could read. */
static int install_owned(const char *instance, const char *const *ifnames, unsigned n)
{
	char script[8192], check[128];
	size_t o = 0;

	/* a table left by router mode would keep dropping after we are gone */
	snprintf(script, sizeof(script), "table netdev loom_%s {}\ndelete table netdev loom_%s\n",
		 instance, instance);
	run_nft(script, true);
	o += (size_t)snprintf(script + o, sizeof(script) - o,
			      "add table netdev loom_%s { flags owner; }", instance);
	for (unsigned i = 0; i < n && o < sizeof(script); i++)
		o += (size_t)snprintf(script + o, sizeof(script) - o,
				      "; add chain netdev loom_%s in_%u { type filter hook ingress "
				      "device \"%s\" priority -500; }"
				      "; add rule netdev loom_%s in_%u %s"
				      "; add rule netdev loom_%s in_%u %s",
				      instance, i, ifnames[i], instance, i, rule_fmt, instance, i,
				      rule6_fmt);
	if (o + 2 >= sizeof(script))
		return -E2BIG;
	memcpy(script + o, "\n", 2);
	int r = spawn_nft(script, true, false, &owner_fd, &owner_pid);
	if (r < 0)
		return r;
	snprintf(check, sizeof(check), "list chain netdev loom_%s in_%u\n", instance, n - 1);
	for (int tries = 0; tries < 150; tries++) {
		if (run_nft(check, true) == 0)
			return 0;
		struct timespec ts = { 0, 20 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	nft_filter_release();
	return -ETIMEDOUT;
}

int nft_filter_install(const char *instance, const char *const *ifnames, unsigned n, bool owned)
{
	char script[8192];
	size_t o = 0;
	int r;

	if (n == 0)
		return 0;
	if (owned) {
		if ((r = install_owned(instance, ifnames, n)) < 0)
			return log_errno(r, "installing the ingress filter (nft -i, owned)");
		log_info("ingress filter installed: table netdev loom_%s, owned by this agent",
			 instance);
		return 0;
	}
	/* add-then-delete makes the replacement work whether or not it existed */
	o += (size_t)snprintf(script + o, sizeof(script) - o,
			      "table netdev loom_%s {}\ndelete table netdev loom_%s\n"
			      "table netdev loom_%s {\n",
			      instance, instance, instance);
	for (unsigned i = 0; i < n && o < sizeof(script); i++)
		o += (size_t)snprintf(script + o, sizeof(script) - o,
				      "  chain in_%u {\n"
				      "    type filter hook ingress device \"%s\" priority -500;\n"
				      "    %s\n    %s\n"
				      "  }\n",
				      i, ifnames[i], rule_fmt, rule6_fmt);
	if (o + 3 >= sizeof(script))
		return -E2BIG;
	memcpy(script + o, "}\n", 3);
	r = run_nft(script, false);
	if (r < 0)
		return log_errno(r, "installing the ingress filter (nft)");
	log_info("ingress filter installed: table netdev loom_%s", instance);
	return 0;
}
