// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The ingress filter. AF_PACKET taps a copy of every packet; the kernel
 * would still route (or reject) the transit ones itself. A netdev ingress
 * chain on the agent's interfaces drops unicast packets that are not for
 * this host: the agent forwards those. Packets for the host's own
 * addresses, broadcasts, multicasts (ARP, neighbour discovery, routing
 * protocols) go on to the kernel. The chain runs after the packet taps, so
 * the agent still sees everything.
 *
 * The table is left in place when the agent exits: a restarted or upgraded
 * agent takes over the same interfaces, and in between the kernel must not
 * forward untranslated packets of flows the agent owns.
 */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "fwd_nft.h"

extern char **environ;

static int run_nft(const char *script)
{
	int pfd[2];
	pid_t pid;
	posix_spawn_file_actions_t fa;
	static char a0[] = "nft", a1[] = "-f", a2[] = "-";
	char *const argv[] = { a0, a1, a2, NULL };
	int r, st;

	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -errno;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pfd[0], STDIN_FILENO);
	r = posix_spawnp(&pid, "nft", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(pfd[0]);
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
	close(pfd[1]);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -EIO;
}

int fwd_nft_install(const char *instance, const char *const *ifnames, unsigned n)
{
	char script[8192];
	size_t o = 0;

	/* add-then-delete makes the replacement work whether or not it existed */
	o += (size_t)snprintf(script + o, sizeof(script) - o,
			      "table netdev loom_%s {}\ndelete table netdev loom_%s\n"
			      "table netdev loom_%s {\n",
			      instance, instance, instance);
	for (unsigned i = 0; i < n && o < sizeof(script); i++)
		o += (size_t)snprintf(script + o, sizeof(script) - o,
				      "  chain in_%u {\n"
				      "    type filter hook ingress device \"%s\" priority -500;\n"
				      "    meta protocol ip fib daddr type != { local, broadcast, multicast, anycast } counter drop\n"
				      "    meta protocol ip6 fib daddr type != { local, broadcast, multicast, anycast } counter drop\n"
				      "  }\n",
				      i, ifnames[i]);
	if (o + 3 >= sizeof(script))
		return -E2BIG;
	memcpy(script + o, "}\n", 3);
	int r = run_nft(script);
	if (r < 0)
		return log_errno(r, "installing the ingress filter (nft)");
	log_info("ingress filter installed: table netdev loom_%s", instance);
	return 0;
}
