/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Health checks of real servers, on the control thread's event loop.
 *
 * One struct svc_hc checks one backend (address, port) for as long as it
 * lives. A check is a TCP connect, or a connect plus an HTTP/1.0 GET whose
 * status line must carry the expected code. Everything is non-blocking and
 * driven by the loop: a periodic timer starts a check every interval_ms
 * (the first one in the loop's next iteration), a one-shot timer bounds it
 * to timeout_ms, and an fd writer/reader follows the socket. The loop never
 * waits on a backend.
 *
 * Verdicts go through rise/fall hysteresis: an up backend goes down after
 * `fall` consecutive failed checks, a down one goes up after `rise`
 * consecutive good ones. The callback is called on each change of state,
 * never for a check that does not change it. Nothing is logged above debug:
 * counters and the reason of the last failure are kept for display
 * (svc_hc_stats()).
 *
 * Checks never overlap. timeout_ms <= interval_ms, and a check still running
 * when the next one is due (timeout_ms == interval_ms, or a loop that ran
 * late) is ended as a timeout before the next one starts.
 *
 * Sockets are closed with SO_LINGER {on, 0}: close() sends a RST instead of
 * a FIN, so neither the manager nor the backend keeps a TIME_WAIT entry per
 * check (a 1 s interval would otherwise hold ~60 of them per backend). The
 * cost is a "connection reset" the backend may log, which is what haproxy's
 * checks do as well. For HTTP the request says "Connection: close" and we
 * close as soon as the status line is read, ignoring the rest.
 *
 * A local failure while running a check (no socket, no memory for an event)
 * counts as a failed check: the backend's health could not be verified, and
 * last_error says why.
 *
 * Threads: every function here must be called from the thread that runs the
 * loop (or before it runs), like the ev_* functions it uses.
 */
#ifndef LOOM_SVC_HEALTH_H
#define LOOM_SVC_HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/compiler.h"

struct ev_loop;

#define SVC_HC_TYPES(X)                 \
	X(SVC_HC_NONE, "none")          \
	X(SVC_HC_TCP, "tcp")            \
	X(SVC_HC_HTTP, "http")

enum svc_hc_type { SVC_HC_TYPES(LOOM_XENUM) SVC_HC_TYPE_COUNT };

/* "none", "tcp", "http" (exact, lower case); -EINVAL otherwise, *out untouched. */
int svc_hc_type_parse(const char *s, enum svc_hc_type *out);
/* The name, or "?" for a value outside the enum. */
const char *svc_hc_type_name(enum svc_hc_type type);

/* The outcome of one check; stats keep the last one. */
#define SVC_HC_RESULTS(X)                               \
	X(SVC_HC_OK, "ok")                              \
	X(SVC_HC_ERR_LOCAL, "local error")              \
	X(SVC_HC_ERR_CONNECT, "connect failed")         \
	X(SVC_HC_ERR_TIMEOUT, "timeout")                \
	X(SVC_HC_ERR_SEND, "send failed")               \
	X(SVC_HC_ERR_RECV, "receive failed")            \
	X(SVC_HC_ERR_CLOSED, "closed early")            \
	X(SVC_HC_ERR_BAD_RESPONSE, "bad response")      \
	X(SVC_HC_ERR_STATUS, "unexpected status")

enum svc_hc_result { SVC_HC_RESULTS(LOOM_XENUM) SVC_HC_RESULT_COUNT };

const char *svc_hc_result_name(enum svc_hc_result res);

#define SVC_HC_PATH_MAX 128
#define SVC_HC_HOST_MAX 128
#define SVC_HC_RISE_FALL_MAX 100
#define SVC_HC_INTERVAL_MAX_MS (24u * 3600u * 1000u)

struct svc_hc_cfg {
	enum svc_hc_type type;
	uint32_t interval_ms;   /* start to start; 1..SVC_HC_INTERVAL_MAX_MS */
	uint32_t timeout_ms;    /* one check: connect + request + status line;
				 * 1..interval_ms */
	uint8_t rise, fall;     /* 1..SVC_HC_RISE_FALL_MAX */
	char path[SVC_HC_PATH_MAX]; /* HTTP: "/..." or "" for "/"; printable
				     * ASCII without spaces (encode them) */
	char host[SVC_HC_HOST_MAX]; /* HTTP: Host header, printable ASCII
				     * without spaces; "" = the backend's
				     * address (with ":port" unless 80) */
	uint16_t expect_status; /* HTTP: 100..599 */
	bool init_up;           /* state before the first verdict */
};

/*
 * Defaults for type: 2000 ms interval, 1000 ms timeout, rise 2, fall 3,
 * path "/", host "", expect 200, starting down.
 */
void svc_hc_cfg_init(struct svc_hc_cfg *cfg, enum svc_hc_type type);

/*
 * The verify pass of a configuration: 0, or -EINVAL with *why (if why is
 * not NULL) naming the offending field in a static string. For
 * SVC_HC_NONE only the type is checked. The strings must be terminated
 * inside their arrays.
 */
int svc_hc_cfg_check(const struct svc_hc_cfg *cfg, const char **why);

struct svc_hc;

/*
 * Called from the loop on every change of state, with the new state. It may
 * call any svc_hc_* function, including svc_hc_free() on this very hc (the
 * free takes effect when the callback returns; nothing of hc is used after
 * that). It must not call ev_loop_free().
 */
typedef void svc_hc_cb(void *arg, bool up);

/*
 * Start checking addr (16 bytes, IPv4-mapped for IPv4, see common/key.h;
 * IPv6 link-local addresses are not supported: no scope) on port (host
 * order). cfg is checked (svc_hc_cfg_check) and copied. cb may be NULL.
 * The first check starts in the loop's next iteration, never inside this
 * call, so the callback is never called before *out is set.
 * SVC_HC_NONE runs no checks: such a backend is always up and cb is never
 * called. Returns 0, -EINVAL (bad argument or cfg), -ENOMEM.
 */
int svc_hc_new(struct ev_loop *loop, const struct svc_hc_cfg *cfg, const uint8_t addr[16],
	       uint16_t port, svc_hc_cb *cb, void *arg, struct svc_hc **out);

/*
 * Stop checking: cancels the timers and the socket's events, closes the
 * socket of a running check (no verdict, no callback). NULL is a no-op.
 * Safe at any point of a check and from inside the callback (see
 * svc_hc_cb). May be called before or after ev_loop_free() (the loop clears
 * the handles it frees).
 */
void svc_hc_free(struct svc_hc *hc);

bool svc_hc_is_up(const struct svc_hc *hc);

struct svc_hc_stats {
	uint64_t checks;        /* finished checks: ok + failed */
	uint64_t ok, failed;
	uint64_t transitions;   /* changes of state (= callbacks made) */
	uint32_t last_ms;       /* duration of the last check */
	uint64_t last_check_ms; /* ev_now_ms() when the last check finished; 0: none yet */
	uint8_t streak;         /* consecutive checks with the outcome of the last
				 * one, saturating at 255 */
	bool last_ok;
	bool up;
	enum svc_hc_result last_result;
	/* Why the most recent failed check failed, kept after later good
	 * ones ("" if none failed yet): "connect: Connection refused",
	 * "timeout after 2000 ms", "HTTP status 503, expected 200", ... */
	char last_error[96];
};

void svc_hc_stats(const struct svc_hc *hc, struct svc_hc_stats *out);

/*
 * The longest status line we read, line end included. Servers send
 * "HTTP/1.1 200 OK\r\n"; a longer line is taken as a bad response.
 */
#define SVC_HC_STATUS_LINE_MAX 256

/*
 * Parse an HTTP/1.x status line ("HTTP/" DIGIT "." DIGIT SP 3DIGIT
 * [SP reason] CRLF, a bare LF accepted) at the start of buf, the len bytes
 * received so far; they are hostile. Returns
 *   1         a complete, well-formed line; *status is its code (100..999)
 *   0         a valid beginning: more bytes are needed
 *   -EBADMSG  these bytes can never start a status line
 *   -EMSGSIZE no line end within SVC_HC_STATUS_LINE_MAX bytes
 * Reads at most SVC_HC_STATUS_LINE_MAX bytes of buf. Pure; exposed for the
 * tests and a fuzz target.
 */
int svc_hc_http_status_parse(const char *buf, size_t len, uint16_t *status);

#endif
