// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * ctfill: the conntrack load of the conntrackd comparison
 * (bench_repl_conntrackd.py). It sends one small UDP datagram to each of
 * COUNT destinations, so that a namespace whose output path is tracked gets
 * COUNT new conntrack entries (and conntrackd COUNT new-flow events):
 *
 *   ctfill BASE FIRST COUNT RATE SECONDS
 *     -> "sent N packets in S s (F failed)"
 *
 * Destination i (FIRST <= i < FIRST + COUNT) is BASE + i / 50000, port
 * 10000 + i % 50000: every datagram is a flow of its own, and a second run
 * with FIRST past the first one's end adds flows instead of refreshing
 * them. RATE caps datagrams per second (0: as fast as sendmmsg goes);
 * SECONDS bounds the run whatever the rate.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define LAB_TOOL "ctfill"
#include "labargs.h"

#define BATCH 64
#define PORTS_PER_ADDR 50000
#define FIRST_PORT 10000
#define MAX_FLOWS 20000000L

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_s(double s)
{
	struct timespec ts = { .tv_sec = (time_t)s,
			       .tv_nsec = (long)((s - (double)(time_t)s) * 1e9) };

	nanosleep(&ts, NULL);
}

int main(int argc, char **argv)
{
	static struct sockaddr_in dst[BATCH];
	static struct mmsghdr msgs[BATCH];
	static char payload[8];
	struct iovec iov = { .iov_base = payload, .iov_len = sizeof(payload) };
	struct in_addr base;
	long first, count, rate, secs, next;
	uint64_t sent = 0, failed = 0;
	double t0, end, elapsed;
	int fd;

	if (argc != 6 || inet_pton(AF_INET, argv[1], &base) != 1) {
		fprintf(stderr, "usage: ctfill BASE FIRST COUNT RATE SECONDS\n");
		return 2;
	}
	first = lab_num(argv[2], 0, MAX_FLOWS, "first");
	count = lab_num(argv[3], 1, MAX_FLOWS - first, "count");
	rate = lab_num(argv[4], 0, 100000000, "rate");
	secs = lab_num(argv[5], 1, 3600, "seconds");
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0) {
		perror("ctfill: socket");
		return 1;
	}
	for (int i = 0; i < BATCH; i++) {
		dst[i].sin_family = AF_INET;
		msgs[i].msg_hdr = (struct msghdr){ .msg_name = &dst[i],
						   .msg_namelen = sizeof(dst[i]),
						   .msg_iov = &iov, .msg_iovlen = 1 };
	}
	t0 = now_s();
	end = t0 + (double)secs;
	next = first;
	while (next < first + count) {
		int n = (int)(first + count - next < BATCH ? first + count - next : BATCH);
		int done;
		double now;

		for (int i = 0; i < n; i++) {
			long k = next + i;

			dst[i].sin_addr.s_addr = htonl(ntohl(base.s_addr) +
						       (uint32_t)(k / PORTS_PER_ADDR));
			dst[i].sin_port = htons((uint16_t)(FIRST_PORT + k % PORTS_PER_ADDR));
		}
		done = sendmmsg(fd, msgs, (unsigned)n, 0);
		if (done <= 0) {
			/* a full queue or an unreachable address must not stall
			 * the run: count the datagram as lost and go on */
			if (done < 0 && errno != EAGAIN && errno != ENOBUFS && errno != EPERM &&
			    errno != ENETUNREACH && errno != EINTR) {
				perror("ctfill: sendmmsg");
				return 1;
			}
			done = 1;
			failed++;
		} else {
			sent += (uint64_t)done;
		}
		next += done;
		now = now_s();
		if (now > end)
			break;
		if (rate) {
			double due = t0 + (double)(next - first) / (double)rate;

			if (due > now)
				sleep_s(due - now);
		}
	}
	elapsed = now_s() - t0;
	printf("sent %" PRIu64 " packets in %.3f s (%" PRIu64 " failed)\n", sent, elapsed, failed);
	close(fd);
	return 0;
}
