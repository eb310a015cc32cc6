// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * udpgen: the small-packet load of the namespace lab benchmark
 * (bench_lab.py). `send` blasts fixed-size UDP datagrams from FLOWS source
 * ports with sendmmsg for a fixed time; `sink` drains a port with recvmmsg
 * for a fixed time. Each prints one line the harness parses:
 *
 *   udpgen send DST PORT SECONDS [FLOWS [PAYLOAD]]
 *     -> "sent N packets in S s"
 *   udpgen sink PORT SECONDS
 *     -> "received N packets in S s"
 *
 * Both are bounded in time. The sink exists so that the datagrams reach a
 * socket (checksum verified, no ICMP port unreachable flowing back).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define LAB_TOOL "udpgen"
#include "labargs.h"

#define BATCH 64
#define MAX_FLOWS 64
#define MAX_PAYLOAD 1472
#define FIRST_SPORT 20000

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int usage(void)
{
	fprintf(stderr, "usage: udpgen send DST PORT SECONDS [FLOWS [PAYLOAD]]\n"
			"       udpgen sink PORT SECONDS\n");
	return 2;
}

static int do_send(int argc, char **argv)
{
	struct sockaddr_in dst = { .sin_family = AF_INET };
	static char payload[MAX_PAYLOAD];
	struct mmsghdr msgs[BATCH];
	struct iovec iov;
	int fds[MAX_FLOWS];
	long flows = 8, size = 64;
	uint64_t sent = 0, failed = 0;

	if (argc < 3 || argc > 5)
		return usage();
	if (inet_pton(AF_INET, argv[0], &dst.sin_addr) != 1) {
		fprintf(stderr, "udpgen: not an IPv4 address: %s\n", argv[0]);
		return 2;
	}
	dst.sin_port = htons(lab_port(argv[1]));
	double secs = (double)lab_seconds(argv[2]);
	if (argc > 3)
		flows = lab_num(argv[3], 1, MAX_FLOWS, "flows");
	if (argc > 4)
		size = lab_num(argv[4], 1, MAX_PAYLOAD, "payload");

	/* one connected socket per flow: the kernel skips the route lookup */
	for (long f = 0; f < flows; f++) {
		struct sockaddr_in src = { .sin_family = AF_INET,
					   .sin_port = htons((uint16_t)(FIRST_SPORT + f)) };
		fds[f] = socket(AF_INET, SOCK_DGRAM, 0);
		if (fds[f] < 0 || bind(fds[f], (struct sockaddr *)&src, sizeof(src)) < 0 ||
		    connect(fds[f], (struct sockaddr *)&dst, sizeof(dst)) < 0) {
			perror("udpgen: socket");
			return 1;
		}
	}
	memset(payload, 0x5a, sizeof(payload));
	iov = (struct iovec){ .iov_base = payload, .iov_len = (size_t)size };
	for (int i = 0; i < BATCH; i++)
		msgs[i] = (struct mmsghdr){ .msg_hdr = { .msg_iov = &iov, .msg_iovlen = 1 } };

	double start = now_s(), end = start + secs, t = start;
	while (t < end) {
		for (long f = 0; f < flows; f++) {
			int n = sendmmsg(fds[f], msgs, BATCH, 0);
			if (n > 0)
				sent += (uint64_t)n;
			else
				failed++; /* ICMP errors queued on the socket, ENOBUFS */
		}
		t = now_s();
	}
	printf("sent %" PRIu64 " packets in %.3f s (%" PRIu64 " failed calls)\n", sent, t - start,
	       failed);
	for (long f = 0; f < flows; f++)
		close(fds[f]);
	return 0;
}

static int do_sink(int argc, char **argv)
{
	struct sockaddr_in me = { .sin_family = AF_INET };
	static char bufs[BATCH][2048];
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	uint64_t got = 0;
	int fd, rcvbuf = 8 << 20;

	if (argc != 2)
		return usage();
	me.sin_port = htons(lab_port(argv[0]));
	double secs = (double)lab_seconds(argv[1]);
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&me, sizeof(me)) < 0) {
		perror("udpgen: sink socket");
		return 1;
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf));
	for (int i = 0; i < BATCH; i++) {
		iov[i] = (struct iovec){ .iov_base = bufs[i], .iov_len = sizeof(bufs[i]) };
		msgs[i] = (struct mmsghdr){ .msg_hdr = { .msg_iov = &iov[i], .msg_iovlen = 1 } };
	}
	/* ready: the harness starts the sender after this line */
	printf("listening\n");
	fflush(stdout);
	double start = now_s(), end = start + secs, t = start;
	while (t < end) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int ms = (int)((end - t) * 1000) + 1;
		if (poll(&p, 1, ms) > 0) {
			int n = recvmmsg(fd, msgs, BATCH, MSG_DONTWAIT, NULL);
			if (n > 0)
				got += (uint64_t)n;
		}
		t = now_s();
	}
	printf("received %" PRIu64 " packets in %.3f s\n", got, t - start);
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage();
	if (!strcmp(argv[1], "send"))
		return do_send(argc - 2, argv + 2);
	if (!strcmp(argv[1], "sink"))
		return do_sink(argc - 2, argv + 2);
	return usage();
}
