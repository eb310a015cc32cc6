// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * httpc: new HTTP connections per second for the service lab benchmark
 * (bench_svc_lab.py).
 *
 *   httpc HOST PORT SECONDS CONNS [SOURCE COUNT]
 *
 * CONNS connections run at once from one epoll loop; each connects, sends
 * one "GET / HTTP/1.1" with "Connection: close", reads the response until
 * the server closes, closes and starts again, until SECONDS pass. Prints
 *
 *   requests N in S s (F failures: connect C, reset R, timeout T, status B)
 *   latency us: p50 X p99 Y max Z
 *
 * A request counts when the response starts with "HTTP/1.x 200" and ends
 * with the server's close. Nothing blocks: a request with no progress for
 * a second is a timeout failure, and the loop ends at the deadline (the
 * requests still open then are counted nowhere). wrk would do, but keeps
 * connections open; "Connection: close" makes it reconnect, yet it is not
 * in this machine's packages.
 *
 * With SOURCE and COUNT, the connections take their source address in turn
 * from COUNT consecutive addresses from SOURCE: the kernel then reuses a
 * source port for the same destination COUNT times less often, so that
 * every connection is a new flow for the router (a load balancer that keeps
 * a closed flow for a few seconds would otherwise see port reuses as the
 * old flow).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define LAB_TOOL "httpc"
#include "labargs.h"

#define MAX_CONNS 4096
#define STALL_US 1000000 /* no progress for this long: a timeout failure */
#define HIST_BUCKETS 64  /* latency histogram: 8 buckets per power of two */

enum fail { F_CONNECT, F_RESET, F_TIMEOUT, F_STATUS, F__COUNT };

enum state { S_IDLE, S_CONNECTING, S_READING };

struct conn {
	int fd;
	enum state state;
	uint64_t start_us, progress_us;
	char head[16]; /* the start of the response: the status line */
	size_t head_len;
};

static const char request[] = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int usage(void)
{
	fprintf(stderr, "usage: httpc HOST PORT SECONDS CONNS [SOURCE COUNT]\n");
	return 2;
}

/* Latencies in µs, log-linear: bucket b covers [lo(b), lo(b+1)). */
static uint64_t hist[HIST_BUCKETS * 8];

static unsigned bucket_of(uint64_t us)
{
	if (us < 8)
		return (unsigned)us;
	unsigned log = 63u - (unsigned)__builtin_clzll(us); /* >= 3 */
	unsigned b = (log - 2) * 8 + (unsigned)((us >> (log - 3)) & 7);

	return b < HIST_BUCKETS * 8 ? b : HIST_BUCKETS * 8 - 1;
}

static uint64_t bucket_lo(unsigned b)
{
	if (b < 8)
		return b;
	unsigned log = b / 8 + 2;

	return (8u + (b & 7)) << (log - 3);
}

static uint64_t percentile(uint64_t n, double p)
{
	uint64_t want = (uint64_t)((double)n * p), seen = 0;

	for (unsigned b = 0; b < HIST_BUCKETS * 8; b++) {
		seen += hist[b];
		if (seen > want)
			return bucket_lo(b);
	}
	return 0;
}

struct run {
	int ep;
	struct sockaddr_in to;
	uint32_t src_first, src_count, src_next; /* host order; count 0: the kernel's */
	uint64_t done, fails[F__COUNT], max_us;
};

static void finish(struct run *r, struct conn *c, int fail)
{
	if (c->fd >= 0) {
		(void)epoll_ctl(r->ep, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
	}
	c->fd = -1;
	c->state = S_IDLE;
	if (fail >= 0) {
		r->fails[fail]++;
		return;
	}
	uint64_t lat = now_us() - c->start_us;

	r->done++;
	hist[bucket_of(lat)]++;
	if (lat > r->max_us)
		r->max_us = lat;
}

static void start(struct run *r, struct conn *c)
{
	struct epoll_event ev = { .events = EPOLLOUT, .data.ptr = c };
	int one = 1;

	c->start_us = c->progress_us = now_us();
	c->head_len = 0;
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		goto fail;
	(void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (r->src_count) {
		struct sockaddr_in me = { .sin_family = AF_INET };

		me.sin_addr.s_addr = htonl(r->src_first + r->src_next++ % r->src_count);
		/* the port is chosen at connect(), for the 4-tuple */
		(void)setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
		if (bind(c->fd, (const struct sockaddr *)&me, sizeof(me)) < 0)
			goto fail;
	}
	if (connect(c->fd, (const struct sockaddr *)&r->to, sizeof(r->to)) < 0 &&
	    errno != EINPROGRESS)
		goto fail;
	c->state = S_CONNECTING;
	if (epoll_ctl(r->ep, EPOLL_CTL_ADD, c->fd, &ev) == 0)
		return;
fail:
	finish(r, c, F_CONNECT);
}

/* Connected (or not): send the request, whole, then wait for the response. */
static void on_writable(struct run *r, struct conn *c)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.ptr = c };
	socklen_t len = sizeof(int);
	int err = 0;

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err) {
		finish(r, c, F_CONNECT);
		return;
	}
	c->state = S_READING;
	c->progress_us = now_us();
	/* the request is far below any send buffer: all or nothing */
	if (send(c->fd, request, sizeof(request) - 1, MSG_NOSIGNAL) != sizeof(request) - 1 ||
	    epoll_ctl(r->ep, EPOLL_CTL_MOD, c->fd, &ev) < 0)
		finish(r, c, F_RESET);
}

/* Read until the server closes; the status line decides. */
static void on_readable(struct run *r, struct conn *c)
{
	char buf[4096];
	ssize_t n;

	while ((n = recv(c->fd, buf, sizeof(buf), 0)) > 0) {
		size_t take = sizeof(c->head) - c->head_len;

		if (take > (size_t)n)
			take = (size_t)n;
		memcpy(c->head + c->head_len, buf, take);
		c->head_len += take;
		c->progress_us = now_us();
	}
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n < 0) {
		finish(r, c, F_RESET);
		return;
	}
	bool ok = c->head_len >= 12 && !memcmp(c->head, "HTTP/1.", 7) &&
		  !memcmp(c->head + 8, " 200", 4);

	finish(r, c, ok ? -1 : F_STATUS);
}

int main(int argc, char **argv)
{
	static struct conn conns[MAX_CONNS];
	struct epoll_event evs[256];
	struct run r = { .to = { .sin_family = AF_INET } };

	if (argc != 5 && argc != 7)
		return usage();
	if (inet_pton(AF_INET, argv[1], &r.to.sin_addr) != 1) {
		fprintf(stderr, "httpc: not an IPv4 address: %s\n", argv[1]);
		return 2;
	}
	r.to.sin_port = htons(lab_port(argv[2]));
	uint64_t secs = (uint64_t)lab_seconds(argv[3]);
	unsigned n = (unsigned)lab_num(argv[4], 1, MAX_CONNS, "conns");
	if (argc == 7) {
		struct in_addr src;

		if (inet_pton(AF_INET, argv[5], &src) != 1) {
			fprintf(stderr, "httpc: not an IPv4 address: %s\n", argv[5]);
			return 2;
		}
		r.src_first = ntohl(src.s_addr);
		r.src_count = (uint32_t)lab_num(argv[6], 1, 65536, "count");
	}

	r.ep = epoll_create1(EPOLL_CLOEXEC);
	if (r.ep < 0) {
		perror("httpc: epoll_create1");
		return 1;
	}
	uint64_t begin = now_us(), end = begin + secs * 1000000u, t = begin;

	for (unsigned i = 0; i < n; i++) {
		conns[i].fd = -1;
		start(&r, &conns[i]);
	}
	while (t < end) {
		uint64_t wait_ms = (end - t + 999) / 1000;
		int k = epoll_wait(r.ep, evs, 256, wait_ms > 50 ? 50 : (int)wait_ms);

		if (k < 0 && errno != EINTR) {
			perror("httpc: epoll_wait");
			break;
		}
		for (int i = 0; i < k; i++) {
			struct conn *c = evs[i].data.ptr;

			if (c->state == S_CONNECTING)
				on_writable(&r, c);
			else if (c->state == S_READING)
				on_readable(&r, c);
		}
		t = now_us();
		for (unsigned i = 0; i < n && t < end; i++) {
			struct conn *c = &conns[i];

			if (c->state != S_IDLE && t - c->progress_us > STALL_US)
				finish(&r, c, F_TIMEOUT);
			if (c->state == S_IDLE)
				start(&r, c);
		}
	}
	for (unsigned i = 0; i < n; i++)
		if (conns[i].fd >= 0)
			close(conns[i].fd);
	close(r.ep);

	uint64_t failed = 0;

	for (unsigned f = 0; f < F__COUNT; f++)
		failed += r.fails[f];
	printf("requests %" PRIu64 " in %.3f s (%" PRIu64 " failures: connect %" PRIu64
	       ", reset %" PRIu64 ", timeout %" PRIu64 ", status %" PRIu64 ")\n",
	       r.done, (double)(t - begin) / 1e6, failed, r.fails[F_CONNECT], r.fails[F_RESET],
	       r.fails[F_TIMEOUT], r.fails[F_STATUS]);
	printf("latency us: p50 %" PRIu64 " p99 %" PRIu64 " max %" PRIu64 "\n",
	       percentile(r.done, 0.50), percentile(r.done, 0.99), r.max_us);
	return failed && !r.done ? 1 : 0;
}
