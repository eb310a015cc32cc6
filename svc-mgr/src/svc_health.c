// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Health checks: see svc_health.h for the model. A check moves through
 * CONNECTING -> (HTTP: SENDING -> READING) and ends in check_end(), the one
 * place that closes the socket, counts, applies rise/fall and calls the
 * user's callback. The callback may free hc, so check_end() reports whether
 * hc survived and every caller returns at once when it did not.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/ev.h"
#include "common/key.h"
#include "common/log.h"
#include "svc_health.h"

static const char *const type_names[] = { SVC_HC_TYPES(LOOM_XSTR) };
static const char *const result_names[] = { SVC_HC_RESULTS(LOOM_XSTR) };

enum hc_phase { PH_IDLE, PH_CONNECTING, PH_SENDING, PH_READING };

/* "GET " path " HTTP/1.0\r\nHost: " host "\r\nUser-Agent: ..." fits. */
#define HC_REQ_MAX (SVC_HC_PATH_MAX + SVC_HC_HOST_MAX + 128)

struct svc_hc {
	struct ev_loop *loop;
	struct svc_hc_cfg cfg;
	svc_hc_cb *cb;
	void *arg;
	union {
		struct sockaddr sa;
		struct sockaddr_in v4;
		struct sockaddr_in6 v6;
	} addr;
	socklen_t addr_len;
	char name[INET6_ADDRSTRLEN + 8]; /* "a.b.c.d:port", "[v6]:port": debug lines */

	struct ev_handle *kick;     /* one-shot: the first check */
	struct ev_handle *tick;     /* periodic: every later check */
	struct ev_handle *deadline; /* the running check's timeout */
	struct ev_handle *io;       /* the running check's writer or reader */
	int fd;
	enum hc_phase phase;
	uint64_t start_ms;

	char req[HC_REQ_MAX];
	size_t req_len, req_off;
	char rbuf[SVC_HC_STATUS_LINE_MAX];
	size_t rlen;

	bool in_cb, free_pending;
	struct svc_hc_stats st; /* st.up is the state */
};

int svc_hc_type_parse(const char *s, enum svc_hc_type *out)
{
	for (size_t i = 0; s && i < LOOM_ARRAY_SIZE(type_names); i++) {
		if (strcmp(s, type_names[i]) == 0) {
			*out = (enum svc_hc_type)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *svc_hc_type_name(enum svc_hc_type type)
{
	return (unsigned)type < LOOM_ARRAY_SIZE(type_names) ? type_names[type] : "?";
}

const char *svc_hc_result_name(enum svc_hc_result res)
{
	return (unsigned)res < LOOM_ARRAY_SIZE(result_names) ? result_names[res] : "?";
}

void svc_hc_cfg_init(struct svc_hc_cfg *cfg, enum svc_hc_type type)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->type = type;
	cfg->interval_ms = 2000;
	cfg->timeout_ms = 1000;
	cfg->rise = 2;
	cfg->fall = 3;
	strcpy(cfg->path, "/");
	cfg->expect_status = 200;
}

/* Terminated inside its array, and only printable ASCII without spaces:
 * anything else could split the request line or inject a header. */
static bool token_ok(const char *s, size_t size)
{
	const char *end = memchr(s, '\0', size);

	if (!end)
		return false;
	for (; s < end; s++) {
		if (*s <= ' ' || *s >= 0x7f)
			return false;
	}
	return true;
}

#define CHECK_FAIL(msg)                 \
	do {                            \
		if (why)                \
			*why = (msg);   \
		return -EINVAL;         \
	} while (0)

int svc_hc_cfg_check(const struct svc_hc_cfg *cfg, const char **why)
{
	if (!cfg)
		CHECK_FAIL("no configuration");
	if ((unsigned)cfg->type >= SVC_HC_TYPE_COUNT)
		CHECK_FAIL("type must be none, tcp or http");
	if (cfg->type == SVC_HC_NONE)
		return 0;
	if (cfg->interval_ms < 1 || cfg->interval_ms > SVC_HC_INTERVAL_MAX_MS)
		CHECK_FAIL("interval_ms must be 1..86400000");
	if (cfg->timeout_ms < 1 || cfg->timeout_ms > cfg->interval_ms)
		CHECK_FAIL("timeout_ms must be 1..interval_ms");
	if (cfg->rise < 1 || cfg->rise > SVC_HC_RISE_FALL_MAX)
		CHECK_FAIL("rise must be 1..100");
	if (cfg->fall < 1 || cfg->fall > SVC_HC_RISE_FALL_MAX)
		CHECK_FAIL("fall must be 1..100");
	if (cfg->type != SVC_HC_HTTP)
		return 0;
	if (!token_ok(cfg->path, sizeof(cfg->path)) || (cfg->path[0] && cfg->path[0] != '/'))
		CHECK_FAIL("path must be empty or start with '/', printable ASCII, no spaces");
	if (!token_ok(cfg->host, sizeof(cfg->host)))
		CHECK_FAIL("host must be printable ASCII, no spaces");
	if (cfg->expect_status < 100 || cfg->expect_status > 599)
		CHECK_FAIL("expect_status must be 100..599");
	return 0;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

int svc_hc_http_status_parse(const char *buf, size_t len, uint16_t *status)
{
	/* '#' stands for a digit; position 12 is checked separately. */
	static const char shape[] = "HTTP/#.# ###";
	size_t n = len < SVC_HC_STATUS_LINE_MAX ? len : SVC_HC_STATUS_LINE_MAX;
	size_t i;

	for (i = 0; i < n && i < sizeof(shape) - 1; i++) {
		bool ok = shape[i] == '#' ? is_digit(buf[i]) : buf[i] == shape[i];
		if (!ok || (i == 9 && buf[i] == '0'))
			return -EBADMSG;
	}
	if (i == n)
		goto incomplete;
	/* After the code: SP and a reason phrase, or the line end at once. */
	if (buf[i] != ' ' && buf[i] != '\r' && buf[i] != '\n')
		return -EBADMSG;
	for (; i < n; i++) {
		unsigned char c = (unsigned char)buf[i];

		if (c == '\n')
			break;
		if (c == '\r') {
			if (i + 1 < n && buf[i + 1] != '\n')
				return -EBADMSG;
			continue;
		}
		/* reason-phrase = *( HTAB / SP / VCHAR / obs-text ) */
		if (c != '\t' && (c < ' ' || c == 0x7f))
			return -EBADMSG;
	}
	if (i == n)
		goto incomplete;
	*status = (uint16_t)((buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0'));
	return 1;

incomplete:
	return n == SVC_HC_STATUS_LINE_MAX ? -EMSGSIZE : 0;
}

/* ---- one check ---------------------------------------------------------- */

/* Ends the socket side of a check, leaving counters alone. */
static void check_close(struct svc_hc *hc)
{
	ev_cancel(&hc->io); /* before close(): the loop must not poll a dead fd */
	ev_cancel(&hc->deadline);
	if (hc->fd >= 0)
		close(hc->fd);
	hc->fd = -1;
	hc->phase = PH_IDLE;
}

static void hc_destroy(struct svc_hc *hc)
{
	check_close(hc);
	ev_cancel(&hc->kick);
	ev_cancel(&hc->tick);
	free(hc);
}

/* Returns false when the callback freed hc. */
static bool report(struct svc_hc *hc)
{
	if (!hc->cb)
		return true;
	hc->in_cb = true;
	hc->cb(hc->arg, hc->st.up);
	hc->in_cb = false;
	if (hc->free_pending) {
		hc_destroy(hc);
		return false;
	}
	return true;
}

/*
 * The end of every check: close, count, apply rise/fall, call back.
 * Returns false when the callback freed hc: the caller must return at once.
 */
static bool check_end(struct svc_hc *hc, enum svc_hc_result res, const char *fmt, ...)
	LOOM_PRINTF(3, 4);

static bool check_end(struct svc_hc *hc, enum svc_hc_result res, const char *fmt, ...)
{
	struct svc_hc_stats *st = &hc->st;
	uint64_t now = ev_now_ms();
	uint64_t took = now - hc->start_ms;
	bool ok = res == SVC_HC_OK;
	va_list ap;

	check_close(hc);
	st->checks++;
	if (ok)
		st->ok++;
	else
		st->failed++;
	st->last_ms = took > UINT32_MAX ? UINT32_MAX : (uint32_t)took;
	st->last_check_ms = now;
	if (st->checks > 1 && st->last_ok == ok)
		st->streak += st->streak < UINT8_MAX;
	else
		st->streak = 1;
	st->last_ok = ok;
	st->last_result = res;
	if (!ok) {
		va_start(ap, fmt);
		vsnprintf(st->last_error, sizeof(st->last_error), fmt, ap);
		va_end(ap);
	}

	if (st->up == ok || st->streak < (ok ? hc->cfg.rise : hc->cfg.fall))
		return true;
	st->up = ok;
	st->transitions++;
	log_debug("health %s: %s after %u %s checks%s%s", hc->name, ok ? "up" : "down",
		  st->streak, ok ? "good" : "failed", ok ? "" : ", last: ",
		  ok ? "" : st->last_error);
	return report(hc);
}

static void read_cb(struct ev_loop *loop, void *arg, int what)
{
	struct svc_hc *hc = arg;
	uint16_t status = 0;
	ssize_t n;
	int rc;

	(void)loop;
	(void)what;
	/* rlen < sizeof(rbuf) here: a full buffer always has a verdict. */
	n = recv(hc->fd, hc->rbuf + hc->rlen, sizeof(hc->rbuf) - hc->rlen, 0);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return;
		check_end(hc, SVC_HC_ERR_RECV, "recv: %s", strerror(errno));
		return;
	}
	if (n == 0) {
		check_end(hc, SVC_HC_ERR_CLOSED, "connection closed %s",
			  hc->rlen ? "inside the status line" : "without a response");
		return;
	}
	hc->rlen += (size_t)n;
	rc = svc_hc_http_status_parse(hc->rbuf, hc->rlen, &status);
	if (rc == 0)
		return;
	if (rc == -EMSGSIZE)
		check_end(hc, SVC_HC_ERR_BAD_RESPONSE, "bad HTTP response: status line too long");
	else if (rc < 0)
		check_end(hc, SVC_HC_ERR_BAD_RESPONSE, "bad HTTP response");
	else if (status != hc->cfg.expect_status)
		check_end(hc, SVC_HC_ERR_STATUS, "HTTP status %u, expected %u", status,
			  hc->cfg.expect_status);
	else
		check_end(hc, SVC_HC_OK, "ok");
}

static void write_cb(struct ev_loop *loop, void *arg, int what);

/* Send what is left of the request; then wait for the status line. */
static void send_more(struct svc_hc *hc)
{
	ssize_t n;
	int err;

	while (hc->req_off < hc->req_len) {
		n = send(hc->fd, hc->req + hc->req_off, hc->req_len - hc->req_off,
			 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			/* Already waiting when connect() went through the writer. */
			if (hc->io)
				return;
			err = ev_writer_add(hc->loop, hc->fd, write_cb, hc, &hc->io);
			if (err)
				check_end(hc, SVC_HC_ERR_LOCAL, "writer: %s", strerror(-err));
			return;
		}
		if (n < 0) {
			check_end(hc, SVC_HC_ERR_SEND, "send: %s", strerror(errno));
			return;
		}
		hc->req_off += (size_t)n;
	}
	hc->phase = PH_READING;
	/* Through the same handle: replaces the writer, if there is one. */
	err = ev_reader_add(hc->loop, hc->fd, read_cb, hc, &hc->io);
	if (err)
		check_end(hc, SVC_HC_ERR_LOCAL, "reader: %s", strerror(-err));
}

static void connected(struct svc_hc *hc)
{
	if (hc->cfg.type == SVC_HC_TCP) {
		check_end(hc, SVC_HC_OK, "ok");
		return;
	}
	hc->phase = PH_SENDING;
	send_more(hc);
}

static void write_cb(struct ev_loop *loop, void *arg, int what)
{
	struct svc_hc *hc = arg;
	socklen_t len = sizeof(int);
	int soerr = 0;

	(void)loop;
	(void)what;
	if (hc->phase == PH_SENDING) {
		send_more(hc);
		return;
	}
	/* The outcome of a non-blocking connect is in SO_ERROR, whatever
	 * readiness bits woke us. */
	if (getsockopt(hc->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
		soerr = errno;
	if (soerr) {
		check_end(hc, SVC_HC_ERR_CONNECT, "connect: %s", strerror(soerr));
		return;
	}
	connected(hc);
}

static void deadline_cb(struct ev_loop *loop, void *arg, int what)
{
	struct svc_hc *hc = arg;

	(void)loop;
	(void)what;
	check_end(hc, SVC_HC_ERR_TIMEOUT, "timeout after %u ms", hc->cfg.timeout_ms);
}

static void check_start(struct svc_hc *hc)
{
	/* No TIME_WAIT per check: see svc_health.h. */
	static const struct linger rst = { .l_onoff = 1, .l_linger = 0 };
	int err;

	hc->phase = PH_CONNECTING;
	hc->start_ms = ev_now_ms();
	hc->req_off = 0;
	hc->rlen = 0;
	hc->fd = socket(hc->addr.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (hc->fd < 0) {
		check_end(hc, SVC_HC_ERR_LOCAL, "socket: %s", strerror(errno));
		return;
	}
	/* Best effort: without it a check still works, it only leaves TIME_WAIT. */
	(void)setsockopt(hc->fd, SOL_SOCKET, SO_LINGER, &rst, sizeof(rst));
	err = ev_timer_add(hc->loop, hc->cfg.timeout_ms, deadline_cb, hc, &hc->deadline);
	if (err) {
		check_end(hc, SVC_HC_ERR_LOCAL, "timer: %s", strerror(-err));
		return;
	}
	if (connect(hc->fd, &hc->addr.sa, hc->addr_len) == 0) {
		connected(hc);
		return;
	}
	/* EINTR: the connection still goes on, asynchronously (connect(2)). */
	if (errno != EINPROGRESS && errno != EINTR) {
		/* Loopback and local routes often refuse at once. */
		check_end(hc, SVC_HC_ERR_CONNECT, "connect: %s", strerror(errno));
		return;
	}
	err = ev_writer_add(hc->loop, hc->fd, write_cb, hc, &hc->io);
	if (err)
		check_end(hc, SVC_HC_ERR_LOCAL, "writer: %s", strerror(-err));
}

static void tick_cb(struct ev_loop *loop, void *arg, int what)
{
	struct svc_hc *hc = arg;

	(void)loop;
	(void)what; /* missed ticks are not made up for: one check now */
	/* Only when timeout_ms == interval_ms (the periodic timer was added
	 * first, so it wins the tie) or when the loop ran late. */
	if (hc->phase != PH_IDLE &&
	    !check_end(hc, SVC_HC_ERR_TIMEOUT, "timeout after %u ms", hc->cfg.timeout_ms))
		return;
	check_start(hc);
}

/* ---- handle ------------------------------------------------------------- */

static void set_addr(struct svc_hc *hc, const uint8_t addr[16], uint16_t port)
{
	char ip[INET6_ADDRSTRLEN];

	memset(&hc->addr, 0, sizeof(hc->addr));
	if (key_addr_is_v4(addr)) {
		hc->addr.v4.sin_family = AF_INET;
		hc->addr.v4.sin_port = htons(port);
		memcpy(&hc->addr.v4.sin_addr, addr + 12, 4);
		hc->addr_len = sizeof(hc->addr.v4);
		inet_ntop(AF_INET, addr + 12, ip, sizeof(ip));
		snprintf(hc->name, sizeof(hc->name), "%s:%u", ip, port);
	} else {
		hc->addr.v6.sin6_family = AF_INET6;
		hc->addr.v6.sin6_port = htons(port);
		memcpy(&hc->addr.v6.sin6_addr, addr, 16);
		hc->addr_len = sizeof(hc->addr.v6);
		inet_ntop(AF_INET6, addr, ip, sizeof(ip));
		snprintf(hc->name, sizeof(hc->name), "[%s]:%u", ip, port);
	}
}

static void build_request(struct svc_hc *hc, uint16_t port)
{
	char host[SVC_HC_HOST_MAX];
	size_t colon;
	int n;

	if (hc->cfg.host[0]) {
		snprintf(host, sizeof(host), "%s", hc->cfg.host);
	} else {
		/* RFC 9110 7.2: the port goes with the host unless it is the default. */
		snprintf(host, sizeof(host), "%s", hc->name);
		colon = strlen(host);
		while (colon > 0 && host[colon - 1] != ':')
			colon--;
		if (port == 80 && colon > 0)
			host[colon - 1] = '\0';
	}
	n = snprintf(hc->req, sizeof(hc->req),
		     "GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: loom-svc-mgr\r\n"
		     "Connection: close\r\n\r\n",
		     hc->cfg.path[0] ? hc->cfg.path : "/", host);
	/* Cannot be cut: path and host are bounded by their arrays. */
	hc->req_len = n < 0 ? 0 : (size_t)n;
}

int svc_hc_new(struct ev_loop *loop, const struct svc_hc_cfg *cfg, const uint8_t addr[16],
	       uint16_t port, svc_hc_cb *cb, void *arg, struct svc_hc **out)
{
	struct svc_hc *hc;
	int err;

	if (!loop || !addr || !out || svc_hc_cfg_check(cfg, NULL) < 0)
		return -EINVAL;
	if (cfg->type != SVC_HC_NONE && port == 0)
		return -EINVAL;
	hc = calloc(1, sizeof(*hc));
	if (!hc)
		return -ENOMEM;
	hc->loop = loop;
	hc->cfg = *cfg;
	hc->cb = cb;
	hc->arg = arg;
	hc->fd = -1;
	set_addr(hc, addr, port);
	if (cfg->type == SVC_HC_NONE) {
		hc->st.up = true;
		*out = hc;
		return 0;
	}
	hc->st.up = cfg->init_up;
	if (cfg->type == SVC_HC_HTTP)
		build_request(hc, port);
	/* Both timers now, so a check never needs a timer it cannot get. */
	err = ev_timer_add(loop, 0, tick_cb, hc, &hc->kick);
	if (!err)
		err = ev_timer_periodic_add(loop, cfg->interval_ms, tick_cb, hc, &hc->tick);
	if (err) {
		hc_destroy(hc);
		return err;
	}
	*out = hc;
	return 0;
}

void svc_hc_free(struct svc_hc *hc)
{
	if (!hc)
		return;
	if (hc->in_cb) {
		/* report() frees it once the callback returns; stop all now. */
		check_close(hc);
		ev_cancel(&hc->kick);
		ev_cancel(&hc->tick);
		hc->free_pending = true;
		return;
	}
	hc_destroy(hc);
}

bool svc_hc_is_up(const struct svc_hc *hc)
{
	return hc->st.up;
}

void svc_hc_stats(const struct svc_hc *hc, struct svc_hc_stats *out)
{
	*out = hc->st;
}
