// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * tcprr: TCP transaction rates for the namespace lab benchmark
 * (bench_lab.py), netperf's TCP_RR and TCP_CRR in miniature.
 *
 *   tcprr server PORT SECONDS   echo one byte per byte read, one
 *                               connection at a time, until SECONDS pass
 *   tcprr rr HOST PORT SECONDS  one connection, 1-byte ping-pong
 *   tcprr crr HOST PORT SECONDS connect, 1-byte request, 1-byte reply,
 *                               close, again
 *
 * The clients print "transactions N in S s"; every call is bounded by the
 * deadline (SO_RCVTIMEO/SO_SNDTIMEO), so a stalled path ends the run.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define LAB_TOOL "tcprr"
#include "labargs.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int usage(void)
{
	fprintf(stderr, "usage: tcprr server PORT SECONDS\n"
			"       tcprr rr|crr HOST PORT SECONDS\n");
	return 2;
}

/* No Nagle, and no call blocks for more than a second. */
static void tune(int fd)
{
	struct timeval tv = { .tv_sec = 1 };
	int one = 1;

	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static int do_server(int argc, char **argv)
{
	struct sockaddr_in me = { .sin_family = AF_INET };
	int one = 1, lfd;

	if (argc != 2)
		return usage();
	me.sin_port = htons(lab_port(argv[0]));
	double end = now_s() + (double)lab_seconds(argv[1]);
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(lfd, (struct sockaddr *)&me, sizeof(me)) < 0 || listen(lfd, 128) < 0) {
		perror("tcprr: listen");
		return 1;
	}
	printf("listening\n");
	fflush(stdout);
	while (now_s() < end) {
		struct pollfd p = { .fd = lfd, .events = POLLIN };
		if (poll(&p, 1, 100) <= 0)
			continue;
		int fd = accept(lfd, NULL, NULL);
		if (fd < 0)
			continue;
		tune(fd);
		char c;
		while (read(fd, &c, 1) == 1 && write(fd, &c, 1) == 1 && now_s() < end)
			;
		close(fd);
	}
	close(lfd);
	return 0;
}

static int dial(const struct sockaddr_in *to)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0)
		return -1;
	tune(fd);
	if (connect(fd, (const struct sockaddr *)to, sizeof(*to)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static bool ping(int fd)
{
	char c = 'x';

	return write(fd, &c, 1) == 1 && read(fd, &c, 1) == 1;
}

static int do_client(bool crr, int argc, char **argv)
{
	struct sockaddr_in to = { .sin_family = AF_INET };
	uint64_t n = 0, errors = 0;
	int fd = -1;

	if (argc != 3)
		return usage();
	if (inet_pton(AF_INET, argv[0], &to.sin_addr) != 1) {
		fprintf(stderr, "tcprr: not an IPv4 address: %s\n", argv[0]);
		return 2;
	}
	to.sin_port = htons(lab_port(argv[1]));
	double secs = (double)lab_seconds(argv[2]);
	double start = now_s(), end = start + secs, t = start;

	if (!crr && (fd = dial(&to)) < 0) {
		perror("tcprr: connect");
		return 1;
	}
	while (t < end) {
		if (crr) {
			fd = dial(&to);
			if (fd >= 0 && ping(fd))
				n++;
			else
				errors++;
			if (fd >= 0)
				close(fd);
		} else if (ping(fd)) {
			n++;
		} else {
			perror("tcprr: ping-pong");
			errors++;
			break;
		}
		t = now_s();
	}
	if (!crr)
		close(fd);
	printf("transactions %" PRIu64 " in %.3f s (%" PRIu64 " errors)\n", n, t - start, errors);
	return errors && !n ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage();
	if (!strcmp(argv[1], "server"))
		return do_server(argc - 2, argv + 2);
	if (!strcmp(argv[1], "rr"))
		return do_client(false, argc - 2, argv + 2);
	if (!strcmp(argv[1], "crr"))
		return do_client(true, argc - 2, argv + 2);
	return usage();
}
