// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Health checks against real sockets on 127.0.0.1 and ::1. The backends are
 * written here and run on the same event loop as the checks: a listener that
 * accepts and closes (TCP), a socket that is bound but not listening (a
 * closed port that can come back with listen()), a listener whose accept
 * queue is full (a connect that never completes), and a tiny HTTP responder
 * whose behaviour is chosen per test. Intervals are tens of milliseconds;
 * every wait is bounded.
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/ev.h"
#include "common/key.h"
#include "svc_health.h"

static struct ev_loop *loop;

/* ---- helpers ------------------------------------------------------------ */

/* Run the loop until cond holds or max_ms have passed: never unbounded. */
#define RUN_UNTIL(cond, max_ms)                                         \
	do {                                                            \
		uint64_t end_ = ev_now_ms() + (max_ms);                 \
		while (!(cond) && ev_now_ms() < end_)                   \
			cr_assert_geq(ev_run_once(loop, 5), 0);         \
	} while (0)

static void run_for(uint64_t ms)
{
	uint64_t end = ev_now_ms() + ms;

	while (ev_now_ms() < end)
		cr_assert_geq(ev_run_once(loop, 5), 0);
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	cr_assert_not_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static void addr_v4_loopback(uint8_t a[16])
{
	key_addr_from_v4(a, htonl(INADDR_LOOPBACK));
}

static void addr_v6_loopback(uint8_t a[16])
{
	memcpy(a, &in6addr_loopback, 16);
}

static struct svc_hc_cfg cfg_of(enum svc_hc_type type, uint32_t interval, uint32_t timeout,
				uint8_t rise, uint8_t fall, bool init_up)
{
	struct svc_hc_cfg c;

	svc_hc_cfg_init(&c, type);
	c.interval_ms = interval;
	c.timeout_ms = timeout;
	c.rise = rise;
	c.fall = fall;
	c.init_up = init_up;
	return c;
}

/* What the callback saw. Static: a failed assertion must not leave the loop
 * pointing into a dead stack frame during teardown. */
struct watch {
	struct svc_hc *hc;
	int calls;
	bool last_up;
	uint64_t at_ms;
	struct svc_hc_stats at_cb; /* the stats when the callback ran */
	bool free_in_cb;
};

static void on_change(void *arg, bool up)
{
	struct watch *w = arg;

	w->calls++;
	w->last_up = up;
	w->at_ms = ev_now_ms();
	svc_hc_stats(w->hc, &w->at_cb);
	cr_assert_eq(svc_hc_is_up(w->hc), up);
	if (w->free_in_cb) {
		svc_hc_free(w->hc);
		w->hc = NULL;
	}
}

static void watch_start(struct watch *w, const struct svc_hc_cfg *c, const uint8_t addr[16],
			uint16_t port)
{
	memset(w, 0, sizeof(*w));
	cr_assert_eq(svc_hc_new(loop, c, addr, port, on_change, w, &w->hc), 0);
}

static void watch_stats(const struct watch *w, struct svc_hc_stats *st)
{
	svc_hc_stats(w->hc, st);
	/* The callback fires on transitions and only then. */
	cr_assert_eq(st->transitions, (uint64_t)w->calls);
	cr_assert_eq(st->checks, st->ok + st->failed);
}

/* ---- backends ----------------------------------------------------------- */

enum srv_mode {
	SRV_ACCEPT_CLOSE, /* TCP: accept and close */
	SRV_HTTP_200,
	SRV_HTTP_503,
	SRV_HTTP_ALTERNATE, /* 200, 503, 200, ... */
	SRV_GARBAGE,
	SRV_SILENT,         /* read the request, never answer */
	SRV_CLOSE_EARLY,    /* read the request, close without answer */
	SRV_OVERLONG,       /* a status line that never ends */
	SRV_SPLIT,          /* a good answer in pieces, across iterations */
};

#define SRV_CONNS 16

struct conn {
	struct srv *srv;
	int fd;
	struct ev_handle *rh, *th;
	char req[1024];
	size_t len;
	int step;  /* 1 once the request is in */
	int piece; /* SRV_SPLIT: pieces sent */
};

struct srv {
	int family;
	int lfd;
	uint16_t port;
	enum srv_mode mode;
	struct ev_handle *lh;
	struct conn conns[SRV_CONNS];
	int accepted, requests, peer_gone, open;
	char last_req[1024];
};

static struct srv srv;

static void conn_close(struct conn *c)
{
	ev_cancel(&c->rh);
	ev_cancel(&c->th);
	if (c->fd >= 0) {
		close(c->fd);
		c->srv->open--;
	}
	c->fd = -1;
}

static void conn_send(struct conn *c, const char *s)
{
	ssize_t n = send(c->fd, s, strlen(s), MSG_NOSIGNAL);

	cr_assert_eq(n, (ssize_t)strlen(s), "backend send: %zd (%s), mode %d", n, strerror(errno),
		     c->srv->mode);
}

static void split_cb(struct ev_loop *l, void *arg, int what)
{
	static const char *const pieces[] = { "HT", "TP/1.1 2", "00 OK\r", "\nServer: t\r\n\r\n" };
	struct conn *c = arg;

	(void)what;
	conn_send(c, pieces[c->piece++]);
	if (c->piece < (int)(sizeof(pieces) / sizeof(pieces[0])))
		cr_assert_eq(ev_timer_add(l, 3, split_cb, c, &c->th), 0);
	else
		conn_close(c);
}

static void respond(struct conn *c)
{
	struct srv *s = c->srv;
	char longline[700];

	s->requests++;
	memcpy(s->last_req, c->req, sizeof(s->last_req));
	switch (s->mode) {
	case SRV_ACCEPT_CLOSE:
		break;
	case SRV_HTTP_200:
	case SRV_HTTP_503:
	case SRV_HTTP_ALTERNATE:
		if (s->mode == SRV_HTTP_503 ||
		    (s->mode == SRV_HTTP_ALTERNATE && s->requests % 2 == 0))
			conn_send(c, "HTTP/1.0 503 Service Unavailable\r\n\r\n");
		else
			conn_send(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
		break;
	case SRV_GARBAGE:
		conn_send(c, "SSH-2.0-OpenSSH_9.2\r\n");
		break;
	case SRV_SILENT:
		return; /* keep reading: we see the checker close */
	case SRV_CLOSE_EARLY:
		break;
	case SRV_OVERLONG:
		memset(longline, 'x', sizeof(longline) - 1);
		memcpy(longline, "HTTP/1.1 200 ", 13);
		longline[sizeof(longline) - 1] = '\0';
		conn_send(c, longline);
		return; /* no close: the checker must decide on length alone */
	case SRV_SPLIT:
		ev_cancel(&c->rh);
		cr_assert_eq(ev_timer_add(loop, 3, split_cb, c, &c->th), 0);
		return;
	}
	conn_close(c);
}

static void conn_read(struct ev_loop *l, void *arg, int what)
{
	struct conn *c = arg;
	ssize_t n;

	(void)l;
	(void)what;
	n = recv(c->fd, c->req + c->len, sizeof(c->req) - 1 - c->len, 0);
	if (n <= 0) {
		if (n < 0 && errno == EAGAIN)
			return;
		c->srv->peer_gone++;
		conn_close(c);
		return;
	}
	c->len += (size_t)n;
	c->req[c->len] = '\0';
	if (strstr(c->req, "\r\n\r\n") && c->step == 0) {
		c->step = 1;
		respond(c);
	}
}

static void srv_accept(struct ev_loop *l, void *arg, int what)
{
	struct srv *s = arg;
	struct conn *c = NULL;
	int fd;

	(void)what;
	fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	s->accepted++;
	for (int i = 0; i < SRV_CONNS && !c; i++)
		if (s->conns[i].fd < 0)
			c = &s->conns[i];
	if (!c || s->mode == SRV_ACCEPT_CLOSE) {
		close(fd);
		return;
	}
	memset(c, 0, sizeof(*c));
	c->srv = s;
	c->fd = fd;
	s->open++;
	cr_assert_eq(ev_reader_add(l, fd, conn_read, c, &c->rh), 0);
}

/* Bound to the loopback address of family, port chosen by the kernel;
 * listening only if backlog >= 0. Returns false if family is unavailable. */
static bool srv_open(int family, enum srv_mode mode, int backlog)
{
	union {
		struct sockaddr sa;
		struct sockaddr_in v4;
		struct sockaddr_in6 v6;
	} a;
	socklen_t len;

	memset(&srv, 0, sizeof(srv));
	for (int i = 0; i < SRV_CONNS; i++)
		srv.conns[i].fd = -1;
	srv.family = family;
	srv.mode = mode;
	memset(&a, 0, sizeof(a));
	if (family == AF_INET) {
		a.v4.sin_family = AF_INET;
		a.v4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(a.v4);
	} else {
		a.v6.sin6_family = AF_INET6;
		a.v6.sin6_addr = in6addr_loopback;
		len = sizeof(a.v6);
	}
	srv.lfd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (srv.lfd < 0 || bind(srv.lfd, &a.sa, len) < 0) {
		if (srv.lfd >= 0)
			close(srv.lfd);
		srv.lfd = -1;
		return false;
	}
	cr_assert_eq(getsockname(srv.lfd, &a.sa, &len), 0);
	srv.port = ntohs(family == AF_INET ? a.v4.sin_port : a.v6.sin6_port);
	if (backlog >= 0) {
		cr_assert_eq(listen(srv.lfd, backlog), 0);
		cr_assert_eq(ev_reader_add(loop, srv.lfd, srv_accept, &srv, &srv.lh), 0);
	}
	return true;
}

static void srv_listen(void)
{
	cr_assert_eq(listen(srv.lfd, 16), 0);
	cr_assert_eq(ev_reader_add(loop, srv.lfd, srv_accept, &srv, &srv.lh), 0);
}

static void srv_close(void)
{
	for (int i = 0; i < SRV_CONNS; i++)
		conn_close(&srv.conns[i]);
	ev_cancel(&srv.lh);
	if (srv.lfd >= 0)
		close(srv.lfd);
	srv.lfd = -1;
}

static struct watch w;

static void setup(void)
{
	loop = ev_loop_new();
	cr_assert_not_null(loop);
	srv.lfd = -1;
	for (int i = 0; i < SRV_CONNS; i++)
		srv.conns[i].fd = -1;
}

static void teardown(void)
{
	svc_hc_free(w.hc);
	w.hc = NULL;
	srv_close();
	ev_loop_free(loop);
}

TestSuite(svc_health, .init = setup, .fini = teardown, .timeout = 20);

/* ---- pure parts --------------------------------------------------------- */

Test(svc_health, type_names_round_trip)
{
	static const char *const names[] = { "none", "tcp", "http" };
	enum svc_hc_type t;

	for (unsigned i = 0; i < 3; i++) {
		cr_assert_eq(svc_hc_type_parse(names[i], &t), 0);
		cr_assert_eq((unsigned)t, i);
		cr_assert_str_eq(svc_hc_type_name(t), names[i]);
	}
	cr_assert_eq(svc_hc_type_parse("HTTP", &t), -EINVAL);
	cr_assert_eq(svc_hc_type_parse("", &t), -EINVAL);
	cr_assert_eq(svc_hc_type_parse(NULL, &t), -EINVAL);
	cr_assert_str_eq(svc_hc_type_name((enum svc_hc_type)7), "?");
	cr_assert_str_eq(svc_hc_result_name(SVC_HC_ERR_TIMEOUT), "timeout");
}

Test(svc_health, cfg_check_rejects_each_bad_field)
{
	struct svc_hc_cfg c;
	const char *why = NULL;

	svc_hc_cfg_init(&c, SVC_HC_HTTP);
	cr_assert_eq(svc_hc_cfg_check(&c, &why), 0);
	cr_assert_str_eq(c.path, "/");
	cr_assert_eq(c.expect_status, 200);

	struct {
		const char *field;
		struct svc_hc_cfg cfg;
	} bad[16];
	size_t n = 0;
#define BAD(fieldname, stmt)                           \
	do {                                           \
		bad[n].field = fieldname;              \
		svc_hc_cfg_init(&bad[n].cfg, SVC_HC_HTTP); \
		struct svc_hc_cfg *b = &bad[n].cfg;    \
		stmt;                                  \
		n++;                                   \
		cr_assert_lt(n, 16);                   \
	} while (0)
	BAD("type", b->type = (enum svc_hc_type)9);
	BAD("interval_ms", b->interval_ms = 0);
	BAD("timeout_ms", b->timeout_ms = 0);
	BAD("timeout_ms", b->timeout_ms = b->interval_ms + 1);
	BAD("rise", b->rise = 0);
	BAD("fall", b->fall = 101);
	BAD("path", strcpy(b->path, "health"));
	BAD("path", strcpy(b->path, "/a b"));
	BAD("path", memset(b->path, 'a', sizeof(b->path)));
	BAD("host", strcpy(b->host, "x\r\nX-Evil: 1"));
	BAD("expect_status", b->expect_status = 99);
	BAD("expect_status", b->expect_status = 600);
#undef BAD
	for (size_t i = 0; i < n; i++) {
		why = NULL;
		cr_assert_eq(svc_hc_cfg_check(&bad[i].cfg, &why), -EINVAL, "%s", bad[i].field);
		cr_assert_not_null(why);
		cr_assert_not_null(strstr(why, bad[i].field), "%s: %s", bad[i].field, why);
	}

	/* NONE ignores the rest; TCP ignores the HTTP fields. */
	svc_hc_cfg_init(&c, SVC_HC_NONE);
	c.interval_ms = 0;
	cr_assert_eq(svc_hc_cfg_check(&c, NULL), 0);
	svc_hc_cfg_init(&c, SVC_HC_TCP);
	c.expect_status = 0;
	c.path[0] = 'x';
	cr_assert_eq(svc_hc_cfg_check(&c, NULL), 0);
	cr_assert_eq(svc_hc_cfg_check(NULL, NULL), -EINVAL);
}

Test(svc_health, status_line_parser_table)
{
	static const struct {
		const char *desc;
		const char *in;
		int rc;
		uint16_t status;
	} rows[] = {
		{ "plain 200", "HTTP/1.1 200 OK\r\n", 1, 200 },
		{ "1.0, headers after", "HTTP/1.0 503 Busy\r\nX: y\r\n\r\n", 1, 503 },
		{ "bare LF", "HTTP/1.1 204 No Content\n", 1, 204 },
		{ "no reason", "HTTP/1.1 301\r\n", 1, 301 },
		{ "empty reason", "HTTP/1.1 404 \r\n", 1, 404 },
		{ "obs-text and tab in reason", "HTTP/1.1 200 \t\xe9t\xe9\r\n", 1, 200 },
		{ "nothing yet", "", 0, 0 },
		{ "prefix of the version", "HTT", 0, 0 },
		{ "prefix of the code", "HTTP/1.1 2", 0, 0 },
		{ "code, no end", "HTTP/1.1 200", 0, 0 },
		{ "reason, no end", "HTTP/1.1 200 O", 0, 0 },
		{ "CR, LF pending", "HTTP/1.1 200 OK\r", 0, 0 },
		{ "garbage", "SSH-2.0-OpenSSH\r\n", -EBADMSG, 0 },
		{ "lower case", "http/1.1 200 OK\r\n", -EBADMSG, 0 },
		{ "HTTP/2 shape", "HTTP/2 200\r\n", -EBADMSG, 0 },
		{ "two-digit code", "HTTP/1.1 20 OK\r\n", -EBADMSG, 0 },
		{ "four-digit code", "HTTP/1.1 2000 OK\r\n", -EBADMSG, 0 },
		{ "leading zero code", "HTTP/1.1 099 OK\r\n", -EBADMSG, 0 },
		{ "letter in code", "HTTP/1.1 2x0 OK\r\n", -EBADMSG, 0 },
		{ "CR not before LF", "HTTP/1.1 200 OK\rX\n", -EBADMSG, 0 },
		{ "NUL in reason", "HTTP/1.1 200 O\0K\r\n", -EBADMSG, 0 },
		{ "leading space", " HTTP/1.1 200 OK\r\n", -EBADMSG, 0 },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		/* NUL row: count its bytes by hand. */
		size_t len = strcmp(rows[i].desc, "NUL in reason") ? strlen(rows[i].in) : 18;
		uint16_t status = 0;
		int rc = svc_hc_http_status_parse(rows[i].in, len, &status);

		cr_assert_eq(rc, rows[i].rc, "%s: rc %d", rows[i].desc, rc);
		if (rc == 1)
			cr_assert_eq(status, rows[i].status, "%s: status %u", rows[i].desc, status);
	}

	/* A line that never ends: undecided below the bound, refused at it, and
	 * nothing past the bound is read (the rest of buf is not a line end). */
	char big[SVC_HC_STATUS_LINE_MAX + 8];
	uint16_t status = 0;

	memset(big, 'x', sizeof(big));
	memcpy(big, "HTTP/1.1 200 ", 13);
	big[SVC_HC_STATUS_LINE_MAX] = '\n';
	cr_assert_eq(svc_hc_http_status_parse(big, SVC_HC_STATUS_LINE_MAX - 1, &status), 0);
	cr_assert_eq(svc_hc_http_status_parse(big, SVC_HC_STATUS_LINE_MAX, &status), -EMSGSIZE);
	cr_assert_eq(svc_hc_http_status_parse(big, sizeof(big), &status), -EMSGSIZE);
	big[SVC_HC_STATUS_LINE_MAX - 1] = '\n';
	cr_assert_eq(svc_hc_http_status_parse(big, SVC_HC_STATUS_LINE_MAX, &status), 1);
	cr_assert_eq(status, 200);
}

Test(svc_health, new_rejects_bad_arguments)
{
	struct svc_hc_cfg c = cfg_of(SVC_HC_TCP, 20, 20, 1, 1, false);
	struct svc_hc *hc = NULL;
	uint8_t a[16];

	addr_v4_loopback(a);
	cr_assert_eq(svc_hc_new(loop, &c, a, 0, NULL, NULL, &hc), -EINVAL);
	cr_assert_eq(svc_hc_new(NULL, &c, a, 80, NULL, NULL, &hc), -EINVAL);
	cr_assert_eq(svc_hc_new(loop, &c, NULL, 80, NULL, NULL, &hc), -EINVAL);
	c.rise = 0;
	cr_assert_eq(svc_hc_new(loop, &c, a, 80, NULL, NULL, &hc), -EINVAL);
	cr_assert_null(hc);
}

Test(svc_health, none_is_always_up_and_opens_nothing)
{
	struct svc_hc_cfg c = cfg_of(SVC_HC_NONE, 20, 20, 1, 1, false);
	struct svc_hc_stats st;
	uint8_t a[16];
	int fds = count_fds();

	addr_v4_loopback(a);
	watch_start(&w, &c, a, 0);
	run_for(60);
	cr_assert(svc_hc_is_up(w.hc));
	watch_stats(&w, &st);
	cr_assert_eq(st.checks, 0);
	cr_assert_eq(w.calls, 0);
	cr_assert_eq(count_fds(), fds);
}

/* ---- TCP ---------------------------------------------------------------- */

static void tcp_goes_up_and_stays_up(int family)
{
	struct svc_hc_cfg c = cfg_of(SVC_HC_TCP, 20, 20, 2, 2, false);
	struct svc_hc_stats st;
	uint8_t a[16];

	if (!srv_open(family, SRV_ACCEPT_CLOSE, 16))
		cr_skip_test("no loopback for family %d", family);
	if (family == AF_INET)
		addr_v4_loopback(a);
	else
		addr_v6_loopback(a);
	watch_start(&w, &c, a, srv.port);
	cr_assert_not(svc_hc_is_up(w.hc));
	RUN_UNTIL(w.calls == 1, 2000);
	cr_assert_eq(w.calls, 1);
	cr_assert(w.last_up);
	/* Up on the rise-th good check, not before. */
	cr_assert_eq(w.at_cb.ok, 2);
	cr_assert_eq(w.at_cb.checks, 2);
	cr_assert_eq(w.at_cb.streak, 2);
	cr_assert(w.at_cb.up);

	RUN_UNTIL(srv.accepted >= 8, 2000);
	watch_stats(&w, &st);
	cr_assert_eq(w.calls, 1, "no callback without a change");
	cr_assert(svc_hc_is_up(w.hc));
	cr_assert_geq(st.ok, 7);
	cr_assert_eq(st.failed, 0);
	cr_assert(st.last_ok);
	cr_assert_eq(st.last_result, SVC_HC_OK);
	cr_assert_str_eq(st.last_error, "");
	cr_assert_neq(st.last_check_ms, 0);
	cr_assert_leq(st.last_ms, 20);
}

Test(svc_health, tcp_v4_listener_goes_up_and_stays_up)
{
	tcp_goes_up_and_stays_up(AF_INET);
}

Test(svc_health, tcp_v6_listener_goes_up_and_stays_up)
{
	tcp_goes_up_and_stays_up(AF_INET6);
}

Test(svc_health, tcp_closed_port_goes_down_after_fall_and_back_up_after_rise)
{
	const uint32_t interval = 30;
	const uint8_t fall = 3, rise = 2;
	struct svc_hc_cfg c = cfg_of(SVC_HC_TCP, interval, 20, rise, fall, true);
	struct svc_hc_stats st;
	char refused[96];
	uint64_t t0, t1;
	uint8_t a[16];

	/* Bound, not listening: connections are refused until srv_listen(). */
	cr_assert(srv_open(AF_INET, SRV_ACCEPT_CLOSE, -1));
	addr_v4_loopback(a);
	t0 = ev_now_ms();
	watch_start(&w, &c, a, srv.port);
	cr_assert(svc_hc_is_up(w.hc), "init_up holds before the first verdict");
	RUN_UNTIL(w.calls == 1, 3000);
	cr_assert_eq(w.calls, 1);
	cr_assert_not(w.last_up);
	cr_assert_eq(w.at_cb.failed, fall, "down on the fall-th failure, not before");
	cr_assert_eq(w.at_cb.checks, fall);
	/* The first check runs at once, then one per interval: the fall-th
	 * failure cannot come before (fall - 1) intervals. */
	cr_assert_geq(w.at_ms - t0, (uint64_t)(fall - 1) * interval);
	cr_assert_lt(w.at_ms - t0, 2000);
	snprintf(refused, sizeof(refused), "connect: %s", strerror(ECONNREFUSED));
	cr_assert_str_eq(w.at_cb.last_error, refused);
	cr_assert_eq(w.at_cb.last_result, SVC_HC_ERR_CONNECT);

	/* Stays down quietly while refused. */
	run_for(2 * interval);
	cr_assert_eq(w.calls, 1);

	srv_listen();
	t1 = ev_now_ms();
	RUN_UNTIL(w.calls == 2, 3000);
	cr_assert_eq(w.calls, 2);
	cr_assert(w.last_up);
	cr_assert_eq(w.at_cb.streak, rise);
	cr_assert_geq(w.at_ms - t1, (uint64_t)(rise - 1) * interval);
	/* The failure reason stays for display after the recovery. */
	cr_assert_str_eq(w.at_cb.last_error, refused);
	watch_stats(&w, &st);
	cr_assert_eq(st.transitions, 2);
	cr_assert(st.up);
}

Test(svc_health, tcp_connect_that_never_completes_times_out)
{
	struct svc_hc_cfg c = cfg_of(SVC_HC_TCP, 60, 40, 1, 1, true);
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct pollfd pfd;
	int filler;
	uint8_t a[16];

	/* Backlog 0 holds one connection; with it queued and never accepted,
	 * the kernel drops further SYNs and a connect stays in progress. */
	cr_assert(srv_open(AF_INET, SRV_ACCEPT_CLOSE, -1));
	cr_assert_eq(listen(srv.lfd, 0), 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons(srv.port);
	filler = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	cr_assert_geq(filler, 0);
	connect(filler, (struct sockaddr *)&sa, sizeof(sa));
	pfd = (struct pollfd){ .fd = filler, .events = POLLOUT };
	cr_assert_eq(poll(&pfd, 1, 1000), 1);

	addr_v4_loopback(a);
	watch_start(&w, &c, a, srv.port);
	RUN_UNTIL(w.calls == 1, 2000);
	cr_assert_eq(w.calls, 1);
	cr_assert_not(w.last_up);
	cr_assert_str_eq(w.at_cb.last_error, "timeout after 40 ms");
	cr_assert_eq(w.at_cb.last_result, SVC_HC_ERR_TIMEOUT);
	cr_assert_geq(w.at_cb.last_ms, 40);

	/* Free in the middle of the next pending connect: nothing stays open. */
	int fds = count_fds();

	/* a socket comes and goes with each attempt: wait for one to be open
	 * (a loaded machine may take a while to run the next attempt) */
	RUN_UNTIL(count_fds() == fds + 1, 3000);
	cr_assert_eq(count_fds(), fds + 1, "a check is connecting");
	svc_hc_free(w.hc);
	w.hc = NULL;
	cr_assert_eq(count_fds(), fds);
	run_for(100);
	cr_assert_eq(w.calls, 1);
	close(filler);
}

Test(svc_health, free_in_the_callback_stops_everything)
{
	struct svc_hc_cfg c = cfg_of(SVC_HC_TCP, 20, 20, 1, 1, true);
	uint8_t a[16];
	int fds;

	cr_assert(srv_open(AF_INET, SRV_ACCEPT_CLOSE, -1));
	fds = count_fds();
	addr_v4_loopback(a);
	watch_start(&w, &c, a, srv.port);
	w.free_in_cb = true;
	RUN_UNTIL(w.calls == 1, 2000);
	cr_assert_eq(w.calls, 1);
	cr_assert_null(w.hc);
	run_for(100); /* a live timer would now touch freed memory (ASan) */
	cr_assert_eq(w.calls, 1);
	cr_assert_eq(count_fds(), fds);
}

Test(svc_health, free_before_the_first_check)
{
	struct svc_hc_cfg c = cfg_of(SVC_HC_TCP, 20, 20, 1, 1, false);
	uint8_t a[16];

	cr_assert(srv_open(AF_INET, SRV_ACCEPT_CLOSE, 16));
	addr_v4_loopback(a);
	watch_start(&w, &c, a, srv.port);
	svc_hc_free(w.hc);
	w.hc = NULL;
	run_for(60);
	cr_assert_eq(w.calls, 0);
	cr_assert_eq(srv.accepted, 0);
}

/* ---- HTTP --------------------------------------------------------------- */

Test(svc_health, http_200_goes_up_with_the_exact_request)
{
	struct svc_hc_cfg c = cfg_of(SVC_HC_HTTP, 20, 20, 1, 1, false);
	struct svc_hc_stats st;
	char expect[256];
	uint8_t a[16];

	cr_assert(srv_open(AF_INET, SRV_HTTP_200, 16));
	strcpy(c.path, "/healthz?full=1");
	addr_v4_loopback(a);
	watch_start(&w, &c, a, srv.port);
	RUN_UNTIL(w.calls == 1, 2000);
	cr_assert_eq(w.calls, 1);
	cr_assert(w.last_up);
	snprintf(expect, sizeof(expect),
		 "GET /healthz?full=1 HTTP/1.0\r\nHost: 127.0.0.1:%u\r\n"
		 "User-Agent: loom-svc-mgr\r\nConnection: close\r\n\r\n", srv.port);
	cr_assert_str_eq(srv.last_req, expect);
	RUN_UNTIL(srv.requests >= 4, 2000);
	watch_stats(&w, &st);
	cr_assert_eq(st.failed, 0);
	cr_assert_geq(st.ok, 3);
}

Test(svc_health, http_v6_with_host_header)
{
	struct svc_hc_cfg c = cfg_of(SVC_HC_HTTP, 20, 20, 1, 1, false);
	uint8_t a[16];

	if (!srv_open(AF_INET6, SRV_HTTP_200, 16))
		cr_skip_test("no ::1");
	strcpy(c.host, "api.example.test");
	c.path[0] = '\0'; /* "/" */
	addr_v6_loopback(a);
	watch_start(&w, &c, a, srv.port);
	RUN_UNTIL(w.calls == 1, 2000);
	cr_assert(w.last_up);
	cr_assert_str_eq(srv.last_req, "GET / HTTP/1.0\r\nHost: api.example.test\r\n"
			 "User-Agent: loom-svc-mgr\r\nConnection: close\r\n\r\n");
}

Test(svc_health, http_503_goes_down_naming_the_status)
{
	struct svc_hc_cfg c = cfg_of(SVC_HC_HTTP, 20, 20, 1, 2, true);
	struct svc_hc_stats st;
	uint8_t a[16];

	cr_assert(srv_open(AF_INET, SRV_HTTP_503, 16));
	addr_v4_loopback(a);
	watch_start(&w, &c, a, srv.port);
	RUN_UNTIL(w.calls == 1, 2000);
	cr_assert_eq(w.calls, 1);
	cr_assert_not(w.last_up);
	cr_assert_eq(w.at_cb.failed, 2);
	cr_assert_str_eq(w.at_cb.last_error, "HTTP status 503, expected 200");
	cr_assert_eq(w.at_cb.last_result, SVC_HC_ERR_STATUS);
	watch_stats(&w, &st);
	cr_assert_eq(st.ok, 0);
}

Test(svc_health, http_expected_status_is_whatever_was_asked)
{
	struct svc_hc_cfg c = cfg_of(SVC_HC_HTTP, 20, 20, 1, 1, false);
	uint8_t a[16];

	cr_assert(srv_open(AF_INET, SRV_HTTP_503, 16));
	c.expect_status = 503;
	addr_v4_loopback(a);
	watch_start(&w, &c, a, srv.port);
	RUN_UNTIL(w.calls == 1, 2000);
	cr_assert(w.last_up);
}

Test(svc_health, http_alternating_answers_never_flap)
{
	/* fall 2 / rise 2 and good, bad, good, bad...: no two in a row. */
	struct svc_hc_cfg c = cfg_of(SVC_HC_HTTP, 15, 15, 2, 2, true);
	struct svc_hc_stats st;
	uint8_t a[16];

	cr_assert(srv_open(AF_INET, SRV_HTTP_ALTERNATE, 16));
	addr_v4_loopback(a);
	watch_start(&w, &c, a, srv.port);
	RUN_UNTIL(srv.requests >= 10, 3000);
	watch_stats(&w, &st);
	cr_assert_geq(st.failed, 4);
	cr_assert_geq(st.ok, 4);
	cr_assert_eq(w.calls, 0);
	cr_assert(svc_hc_is_up(w.hc));
	cr_assert_eq(st.streak, 1);
}

Test(svc_health, http_hostile_responses_table)
{
	static const struct {
		const char *desc;
		enum srv_mode mode;
		bool init_up;
		enum svc_hc_result result;
		const char *error; /* expected last_error, NULL: none */
	} rows[] = {
		{ "garbage", SRV_GARBAGE, true, SVC_HC_ERR_BAD_RESPONSE, "bad HTTP response" },
		{ "no answer", SRV_SILENT, true, SVC_HC_ERR_TIMEOUT, "timeout after 50 ms" },
		{ "close after the request", SRV_CLOSE_EARLY, true, SVC_HC_ERR_CLOSED,
		  "connection closed without a response" },
		{ "endless status line", SRV_OVERLONG, true, SVC_HC_ERR_BAD_RESPONSE,
		  "bad HTTP response: status line too long" },
		{ "answer in pieces", SRV_SPLIT, false, SVC_HC_OK, NULL },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct svc_hc_cfg c = cfg_of(SVC_HC_HTTP, 80, 50, 1, 1, rows[i].init_up);
		struct svc_hc_stats st;
		uint8_t a[16];
		int fds;

		cr_assert(srv_open(AF_INET, rows[i].mode, 16));
		fds = count_fds();
		addr_v4_loopback(a);
		watch_start(&w, &c, a, srv.port);
		RUN_UNTIL(w.calls == 1, 2000);
		cr_assert_eq(w.calls, 1, "%s: no verdict", rows[i].desc);
		cr_assert_eq(w.last_up, !rows[i].init_up, "%s", rows[i].desc);
		cr_assert_eq(w.at_cb.last_result, rows[i].result, "%s: %s", rows[i].desc,
			     svc_hc_result_name(w.at_cb.last_result));
		cr_assert_str_eq(w.at_cb.last_error, rows[i].error ? rows[i].error : "",
				 "%s", rows[i].desc);
		if (rows[i].result == SVC_HC_ERR_TIMEOUT)
			cr_assert_geq(w.at_cb.last_ms, 50, "%s", rows[i].desc);
		else
			cr_assert_lt(w.at_cb.last_ms, 50, "%s: decided early", rows[i].desc);
		watch_stats(&w, &st);
		svc_hc_free(w.hc);
		w.hc = NULL;
		/* The checker's socket is gone: only the backend's remain. */
		cr_assert_eq(count_fds(), fds + srv.open, "%s", rows[i].desc);
		srv_close();
	}
}

Test(svc_health, free_while_waiting_for_the_answer)
{
	struct svc_hc_cfg c = cfg_of(SVC_HC_HTTP, 200, 200, 1, 1, true);
	uint8_t a[16];
	int fds;

	cr_assert(srv_open(AF_INET, SRV_SILENT, 16));
	fds = count_fds();
	addr_v4_loopback(a);
	watch_start(&w, &c, a, srv.port);
	RUN_UNTIL(srv.requests == 1, 2000);
	cr_assert_eq(srv.requests, 1);
	cr_assert_eq(count_fds(), fds + 2, "the checker's socket and the backend's");
	svc_hc_free(w.hc);
	w.hc = NULL;
	cr_assert_eq(count_fds(), fds + 1);
	/* The backend sees the checker go away (RST from SO_LINGER 0). */
	RUN_UNTIL(srv.peer_gone == 1, 1000);
	cr_assert_eq(srv.peer_gone, 1);
	cr_assert_eq(count_fds(), fds);
	run_for(250); /* past the timeout and the next tick: nothing fires */
	cr_assert_eq(w.calls, 0);
	cr_assert_eq(srv.accepted, 1);
}

Test(svc_health, timeout_equal_to_interval_never_overlaps)
{
	struct svc_hc_cfg c = cfg_of(SVC_HC_HTTP, 30, 30, 1, 2, true);
	struct svc_hc_stats st;
	uint8_t a[16];
	int fds, max_open = 0;
	uint64_t end;

	cr_assert(srv_open(AF_INET, SRV_SILENT, 16));
	fds = count_fds();
	addr_v4_loopback(a);
	watch_start(&w, &c, a, srv.port);
	end = ev_now_ms() + 2000;
	while (srv.accepted < 5) {
		cr_assert_lt(ev_now_ms(), end);
		cr_assert_geq(ev_run_once(loop, 5), 0);
		/* Our side: at most one check socket at any time. */
		int ours = count_fds() - fds - srv.open;
		if (ours > max_open)
			max_open = ours;
	}
	cr_assert_eq(max_open, 1);
	cr_assert_eq(w.calls, 1);
	cr_assert_not(w.last_up);
	watch_stats(&w, &st);
	cr_assert_geq(st.failed, 4);
	cr_assert_str_eq(st.last_error, "timeout after 30 ms");
}
