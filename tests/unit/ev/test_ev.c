// SPDX-License-Identifier: LGPL-2.1-or-later
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zmq.h>

#include "common/ev.h"

static struct ev_loop *loop;

static void setup(void)
{
	loop = ev_loop_new();
	cr_assert_not_null(loop);
}

static void teardown(void)
{
	ev_loop_free(loop);
}

TestSuite(ev, .init = setup, .fini = teardown, .timeout = 20);

/* Run iterations until *flag or a deadline: never an unbounded wait. */
static void run_until(const int *flag, int want, uint64_t max_ms)
{
	uint64_t end = ev_now_ms() + max_ms;

	while (*flag < want && ev_now_ms() < end)
		cr_assert_geq(ev_run_once(loop, 50), 0);
}

/* ---- fds ------------------------------------------------------------------ */

struct pipe_ctx {
	int fd;
	int calls;
	int last_what;
	char buf[64];
	ssize_t got;
	struct ev_handle *h;
};

static void on_pipe_read(struct ev_loop *l, void *arg, int what)
{
	struct pipe_ctx *c = arg;

	(void)l;
	c->calls++;
	c->last_what = what;
	c->got = read(c->fd, c->buf, sizeof(c->buf));
}

Test(ev, pipe_reader_sees_data_then_eof)
{
	int p[2];
	struct pipe_ctx c = { 0 };

	cr_assert_eq(pipe2(p, O_NONBLOCK), 0);
	c.fd = p[0];
	cr_assert_eq(ev_reader_add(loop, p[0], on_pipe_read, &c, &c.h), 0);
	cr_assert_not_null(c.h);
	cr_assert_eq(ev_run_once(loop, 0), 0, "nothing to read yet");
	cr_assert_eq(write(p[1], "hello", 5), 5);
	cr_assert_eq(ev_run_once(loop, 1000), 1);
	cr_assert_eq(c.got, 5);
	cr_assert_eq(memcmp(c.buf, "hello", 5), 0);
	cr_assert(c.last_what & EV_READ);

	/* A second reader on the same fd is refused; the first stays. */
	struct ev_handle *h2 = NULL;
	cr_assert_eq(ev_reader_add(loop, p[0], on_pipe_read, &c, &h2), -EEXIST);
	cr_assert_null(h2);

	close(p[1]);
	cr_assert_eq(ev_run_once(loop, 1000), 1, "hang-up wakes the reader");
	cr_assert_eq(c.got, 0, "and it reads EOF");
	ev_cancel(&c.h);
	cr_assert_null(c.h);
	cr_assert_eq(ev_run_once(loop, 0), 0, "cancelled reader is not called");
	close(p[0]);
}

static void on_pipe_write(struct ev_loop *l, void *arg, int what)
{
	struct pipe_ctx *c = arg;

	(void)l;
	c->calls++;
	c->last_what = what;
	ev_cancel(&c->h); /* one write, then stop watching */
	c->got = write(c->fd, "x", 1);
}

Test(ev, writer_and_reader_on_one_fd_pair)
{
	int s[2];
	struct pipe_ctx w = { 0 }, r = { 0 };

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, s), 0);
	w.fd = s[0];
	r.fd = s[0];
	cr_assert_eq(ev_writer_add(loop, s[0], on_pipe_write, &w, &w.h), 0);
	cr_assert_eq(ev_reader_add(loop, s[0], on_pipe_read, &r, &r.h), 0);
	cr_assert_eq(ev_run_once(loop, 1000), 1, "only the writer is ready");
	cr_assert_eq(w.calls, 1);
	cr_assert(w.last_what & EV_WRITE);
	cr_assert_null(w.h, "cancelled itself");
	cr_assert_eq(ev_run_once(loop, 0), 0, "writer gone, reader still idle");
	char ch;
	cr_assert_eq(read(s[1], &ch, 1), 1);
	cr_assert_eq(write(s[1], "y", 1), 1);
	cr_assert_eq(ev_run_once(loop, 1000), 1);
	cr_assert_eq(r.calls, 1);
	cr_assert_eq(r.buf[0], 'y');
	ev_cancel(&r.h);
	close(s[0]);
	close(s[1]);
}

/* ---- removal of a later-ready handle in the same iteration -------------------- */

struct pair_ctx {
	int fd;
	int calls;
	struct ev_handle *h;
	struct ev_handle **victim;
};

static void on_ready_cancel_other(struct ev_loop *l, void *arg, int what)
{
	struct pair_ctx *c = arg;
	char buf[8];

	(void)l;
	(void)what;
	c->calls++;
	if (c->fd >= 0 && read(c->fd, buf, sizeof(buf)) < 0)
		cr_log_warn("read failed");
	ev_cancel(c->victim);
}

Test(ev, cancel_of_a_later_ready_fd_in_same_iteration)
{
	int a[2], b[2];
	struct pair_ctx ca = { 0 }, cb = { 0 };

	cr_assert_eq(pipe2(a, O_NONBLOCK), 0);
	cr_assert_eq(pipe2(b, O_NONBLOCK), 0);
	ca.fd = a[0];
	cb.fd = b[0];
	ca.victim = &cb.h;
	cb.victim = &ca.h;
	cr_assert_eq(ev_reader_add(loop, a[0], on_ready_cancel_other, &ca, &ca.h), 0);
	cr_assert_eq(ev_reader_add(loop, b[0], on_ready_cancel_other, &cb, &cb.h), 0);
	cr_assert_eq(write(a[1], "1", 1), 1);
	cr_assert_eq(write(b[1], "1", 1), 1);
	/* Both are ready in one poll; whichever runs first removes the other. */
	cr_assert_eq(ev_run_once(loop, 1000), 1);
	cr_assert_eq(ca.calls + cb.calls, 1);
	cr_assert(ca.calls ? cb.h == NULL : ca.h == NULL, "the victim's handle is cleared");
	ev_cancel(&ca.h);
	ev_cancel(&cb.h);
	for (int i = 0; i < 2; i++) {
		close(a[i]);
		close(b[i]);
	}
}

static void on_count(struct ev_loop *l, void *arg, int what)
{
	(void)l;
	(void)what;
	(*(int *)arg)++;
}

Test(ev, fd_callback_cancels_ready_zmq_reader)
{
	void *ctx = zmq_ctx_new();
	void *z1 = zmq_socket(ctx, ZMQ_PAIR), *z2 = zmq_socket(ctx, ZMQ_PAIR);
	int p[2], zcalls = 0, linger = 0;
	struct ev_handle *zh = NULL;
	struct pair_ctx c = { 0 };

	zmq_setsockopt(z1, ZMQ_LINGER, &linger, sizeof(linger));
	zmq_setsockopt(z2, ZMQ_LINGER, &linger, sizeof(linger));
	cr_assert_eq(zmq_bind(z1, "inproc://later"), 0);
	cr_assert_eq(zmq_connect(z2, "inproc://later"), 0);
	cr_assert_eq(pipe2(p, O_NONBLOCK), 0);
	cr_assert_eq(ev_zmq_reader_add(loop, z1, on_count, &zcalls, &zh), 0);
	cr_assert_eq(zmq_send(z2, "m", 1, 0), 1);
	cr_assert_eq(write(p[1], "1", 1), 1);
	c.fd = p[0];
	c.victim = &zh;
	cr_assert_eq(ev_reader_add(loop, p[0], on_ready_cancel_other, &c, &c.h), 0);
	/* Both ready in one poll; fds dispatch before ZeroMQ sockets. */
	cr_assert_eq(ev_run_once(loop, 1000), 1);
	cr_assert_eq(c.calls, 1);
	cr_assert_eq(zcalls, 0, "zmq reader removed earlier in the iteration is not called");
	cr_assert_null(zh);
	ev_cancel(&c.h);
	close(p[0]);
	close(p[1]);
	zmq_close(z1);
	zmq_close(z2);
	zmq_ctx_term(ctx);
}

/* ---- ZeroMQ ------------------------------------------------------------------ */

struct zctx {
	void *sock;
	int msgs;
	int calls;
	bool router;
	char last[32];
};

/* Take exactly one message per call: the loop must come back for the rest. */
static void on_zmq_one(struct ev_loop *l, void *arg, int what)
{
	struct zctx *z = arg;
	int more = 0;
	size_t sz = sizeof(more);

	(void)l;
	cr_assert(what & EV_READ);
	z->calls++;
	if (z->router) {
		char id[256];
		cr_assert_gt(zmq_recv(z->sock, id, sizeof(id), ZMQ_DONTWAIT), 0);
		zmq_getsockopt(z->sock, ZMQ_RCVMORE, &more, &sz);
		cr_assert(more);
	}
	int n = zmq_recv(z->sock, z->last, sizeof(z->last) - 1, ZMQ_DONTWAIT);
	if (n >= 0) {
		z->last[n] = '\0';
		z->msgs++;
	}
}

static void zmq_queued_messages(int type_a, int type_b, const char *ep, bool router)
{
	void *ctx = zmq_ctx_new();
	void *a = zmq_socket(ctx, type_a), *b = zmq_socket(ctx, type_b);
	int linger = 0;
	struct zctx z = { .sock = a, .router = router };
	struct ev_handle *h = NULL;

	zmq_setsockopt(a, ZMQ_LINGER, &linger, sizeof(linger));
	zmq_setsockopt(b, ZMQ_LINGER, &linger, sizeof(linger));
	cr_assert_eq(zmq_bind(a, ep), 0, "bind %s: %s", ep, zmq_strerror(zmq_errno()));
	cr_assert_eq(zmq_connect(b, ep), 0);
	cr_assert_eq(ev_zmq_reader_add(loop, a, on_zmq_one, &z, &h), 0);
	for (int i = 0; i < 5; i++) {
		char m[8];
		snprintf(m, sizeof(m), "m%d", i);
		cr_assert_eq(zmq_send(b, m, strlen(m), 0), (int)strlen(m));
	}
	uint64_t t0 = ev_now_ms();
	run_until(&z.msgs, 5, 5000);
	cr_assert_eq(z.msgs, 5, "all queued messages processed, got %d", z.msgs);
	cr_assert_str_eq(z.last, "m4");
	/* Once the first arrived, the rest needed no new edge on ZMQ_FD. */
	cr_assert_lt(ev_now_ms() - t0, 2000);
	cr_assert_eq(ev_run_once(loop, 0), 0, "nothing left");
	ev_cancel(&h);
	zmq_close(a);
	zmq_close(b);
	zmq_ctx_term(ctx);
}

Test(ev, zmq_pair_inproc_several_queued)
{
	zmq_queued_messages(ZMQ_PAIR, ZMQ_PAIR, "inproc://ev-pair", false);
}

Test(ev, zmq_router_dealer_ipc_several_queued)
{
	char ep[128];

	snprintf(ep, sizeof(ep), "ipc:///tmp/loom-test-ev-%d.sock", (int)getpid());
	zmq_queued_messages(ZMQ_ROUTER, ZMQ_DEALER, ep, true);
	unlink(ep + strlen("ipc://"));
}

Test(ev, zmq_router_dealer_inproc_several_queued)
{
	zmq_queued_messages(ZMQ_ROUTER, ZMQ_DEALER, "inproc://ev-router", true);
}

/* ---- timers -------------------------------------------------------------------- */

struct order {
	char seen[16];
	int n;
};

struct tmark {
	struct order *o;
	char tag;
	struct ev_handle *h;
};

static void on_mark(struct ev_loop *l, void *arg, int what)
{
	struct tmark *m = arg;

	cr_assert_eq(what, 1);
	cr_assert_null(m->h, "a one-shot's handle is cleared before its callback");
	m->o->seen[m->o->n++] = m->tag;
	if (m->o->n == 4)
		ev_stop(l);
}

Test(ev, timers_fire_in_deadline_order_ties_in_add_order)
{
	struct order o = { 0 };
	struct tmark m[4] = {
		{ &o, 'A', NULL }, { &o, 'B', NULL }, { &o, 'C', NULL }, { &o, 'D', NULL },
	};
	static const uint64_t ms[4] = { 60, 20, 40, 20 };
	uint64_t t0 = ev_now_ms();

	for (int i = 0; i < 4; i++)
		cr_assert_eq(ev_timer_add(loop, ms[i], on_mark, &m[i], &m[i].h), 0);
	cr_assert_eq(ev_run(loop), 0);
	cr_assert_str_eq(o.seen, "BDCA");
	uint64_t dt = ev_now_ms() - t0;
	cr_assert_geq(dt, 60, "never early: %llu ms", (unsigned long long)dt);
	for (int i = 0; i < 4; i++)
		cr_assert_null(m[i].h);
	struct ev_handle *stale = m[0].h;
	ev_cancel(&stale); /* cancelling a fired timer is a no-op */
}

Test(ev, re_adding_through_the_same_handle_rearms)
{
	int a = 0, b = 0;
	struct ev_handle *h = NULL;

	cr_assert_eq(ev_timer_add(loop, 10, on_count, &a, &h), 0);
	cr_assert_eq(ev_timer_add(loop, 10, on_count, &b, &h), 0);
	run_until(&b, 1, 2000);
	cr_assert_eq(b, 1);
	cr_assert_eq(a, 0, "the first arming was replaced");
	cr_assert_null(h);
}

struct periodic {
	int fires;
	int expirations;
	int stop_at;
	struct ev_handle *h;
};

static void on_periodic(struct ev_loop *l, void *arg, int what)
{
	struct periodic *p = arg;

	(void)l;
	cr_assert_not_null(p->h, "periodic handles stay set");
	cr_assert_geq(what, 1);
	p->fires++;
	p->expirations += what;
	if (p->expirations >= p->stop_at)
		ev_cancel(&p->h);
}

Test(ev, periodic_does_not_drift)
{
	struct periodic p = { .stop_at = 25 };
	uint64_t t0 = ev_now_ms();

	cr_assert_eq(ev_timer_periodic_add(loop, 8, on_periodic, &p, &p.h), 0);
	run_until(&p.expirations, 25, 5000);
	uint64_t dt = ev_now_ms() - t0;
	cr_assert_null(p.h, "cancelled from its own callback");
	cr_assert_geq(p.expirations, 25);
	/* Deadlines advance from the previous deadline, not from "now", so the
	 * k-th expiration is at 8k ms whatever the per-tick latency was; a busy
	 * machine may skip ticks (what > 1) but never shifts the schedule. */
	cr_assert_geq(dt + 1, 8 * (uint64_t)p.expirations, "early: %llu ms",
		      (unsigned long long)dt);
	cr_assert_lt(dt, 8 * (uint64_t)p.expirations + 40, "drifted: %llu ms for %d ticks",
		     (unsigned long long)dt, p.expirations);
	cr_assert_leq(p.fires, p.expirations);
	cr_assert_eq(ev_run_once(loop, 30), 0, "cancelled periodic never fires again");
}

Test(ev, periodic_zero_interval_refused)
{
	struct ev_handle *h = NULL;
	int n = 0;

	cr_assert_eq(ev_timer_periodic_add(loop, 0, on_count, &n, &h), -EINVAL);
	cr_assert_null(h);
}

struct canceller {
	int calls;
	struct ev_handle *self;
	struct ev_handle **victim;
};

static void on_cancel_victim(struct ev_loop *l, void *arg, int what)
{
	struct canceller *c = arg;

	(void)l;
	(void)what;
	c->calls++;
	ev_cancel(c->victim);
}

Test(ev, timer_cancels_later_timer_due_in_same_iteration)
{
	struct canceller a = { 0 }, b = { 0 };

	a.victim = &b.self;
	b.victim = &a.self;
	cr_assert_eq(ev_timer_add(loop, 5, on_cancel_victim, &a, &a.self), 0);
	cr_assert_eq(ev_timer_add(loop, 5, on_cancel_victim, &b, &b.self), 0);
	usleep(20 * 1000); /* both overdue before the poll */
	cr_assert_eq(ev_run_once(loop, 0), 1);
	cr_assert_eq(a.calls, 1, "ties fire in add order");
	cr_assert_eq(b.calls, 0, "removed earlier in the iteration: not called");
	cr_assert_null(b.self);
	cr_assert_eq(ev_run_once(loop, 20), 0);
}

static void on_readd_zero(struct ev_loop *l, void *arg, int what)
{
	struct periodic *p = arg;

	(void)what;
	p->fires++;
	/* Re-adding through the cleared handle is allowed; a 0 ms timer added
	 * now must wait for the next iteration, not loop here forever. */
	if (p->fires < 3)
		cr_assert_eq(ev_timer_add(l, 0, on_readd_zero, p, &p->h), 0);
}

Test(ev, one_shot_readds_itself_next_iteration)
{
	struct periodic p = { 0 };

	cr_assert_eq(ev_timer_add(loop, 0, on_readd_zero, &p, &p.h), 0);
	cr_assert_eq(ev_run_once(loop, 100), 1);
	cr_assert_eq(p.fires, 1);
	cr_assert_not_null(p.h);
	cr_assert_eq(ev_run_once(loop, 100), 1);
	cr_assert_eq(ev_run_once(loop, 100), 1);
	cr_assert_eq(p.fires, 3);
	cr_assert_null(p.h);
}

struct many {
	uint64_t last_lo;
	int fired;
	bool in_order;
};

/* The deadline is known to lie in [lo, hi]: the clock is read before and
 * after the add, since the thread may be preempted in between. */
struct many_timer {
	struct many *m;
	uint64_t lo, hi;
	struct ev_handle *h;
};

static void on_many(struct ev_loop *l, void *arg, int what)
{
	struct many_timer *t = arg;
	uint64_t now = ev_now_ms();

	(void)l;
	(void)what;
	if (t->hi < t->m->last_lo || now < t->lo) {
		if (t->m->in_order)
			cr_log_error("deadline in [%llu, %llu] fired after one >= %llu, now %llu",
				     (unsigned long long)t->lo, (unsigned long long)t->hi,
				     (unsigned long long)t->m->last_lo, (unsigned long long)now);
		t->m->in_order = false;
	}
	t->m->last_lo = t->lo;
	t->m->fired++;
}

Test(ev, thousands_of_timers_fire_in_order_and_cancel_cheaply)
{
	enum { N = 5000 };
	struct many m = { .in_order = true };
	struct many_timer *t = calloc(N, sizeof(*t));

	srand(42);
	for (int i = 0; i < N; i++) {
		uint64_t delay = (uint64_t)(rand() % 50);
		t[i].m = &m;
		t[i].lo = ev_now_ms() + delay;
		cr_assert_eq(ev_timer_add(loop, delay, on_many, &t[i], &t[i].h), 0);
		t[i].hi = ev_now_ms() + delay + 1;
	}
	for (int i = 0; i < N; i += 2)
		ev_cancel(&t[i].h);
	run_until(&m.fired, N / 2, 5000);
	cr_assert_eq(m.fired, N / 2);
	cr_assert(m.in_order, "fired in deadline order and never early");
	for (int i = 0; i < N; i++)
		cr_assert_null(t[i].h);
	free(t);
}

/* ---- signals ------------------------------------------------------------------- */

struct sigs {
	int usr1, hup;
};

static void on_sig(struct ev_loop *l, void *arg, int signo)
{
	struct sigs *s = arg;

	(void)l;
	if (signo == SIGUSR1)
		s->usr1++;
	else if (signo == SIGHUP)
		s->hup++;
}

Test(ev, signals_arrive_through_the_loop)
{
	struct sigs s = { 0 };
	struct ev_handle *h1 = NULL, *h2 = NULL;

	cr_assert_eq(ev_signal_add(loop, SIGUSR1, on_sig, &s, &h1), 0);
	cr_assert_eq(ev_signal_add(loop, SIGHUP, on_sig, &s, &h2), 0);
	cr_assert_eq(raise(SIGUSR1), 0); /* would kill us if not blocked */
	cr_assert_eq(raise(SIGHUP), 0);
	run_until(&s.hup, 1, 2000);
	cr_assert_eq(s.usr1, 1);
	cr_assert_eq(s.hup, 1);

	ev_cancel(&h1);
	cr_assert_eq(raise(SIGUSR1), 0); /* stays blocked after cancel */
	cr_assert_eq(raise(SIGHUP), 0);
	run_until(&s.hup, 2, 2000);
	cr_assert_eq(s.usr1, 1, "cancelled handler not called");
	cr_assert_eq(s.hup, 2);
	ev_cancel(&h2);
}

/* ---- notify -------------------------------------------------------------------- */

struct notify_ctx {
	atomic_int produced;
	int consumed;
	int calls;
	struct ev_loop *loop;
};

static void *producer(void *arg)
{
	struct notify_ctx *n = arg;

	for (int i = 0; i < 1000; i++) {
		atomic_fetch_add_explicit(&n->produced, 1, memory_order_release);
		ev_notify(n->loop);
		if (i % 100 == 0)
			usleep(1000);
	}
	return NULL;
}

static void on_notify(struct ev_loop *l, void *arg, int what)
{
	struct notify_ctx *n = arg;

	(void)l;
	cr_assert_eq(what, 0);
	n->calls++;
	n->consumed = atomic_load_explicit(&n->produced, memory_order_acquire);
}

Test(ev, notify_from_another_thread)
{
	struct notify_ctx n = { .loop = loop };
	struct ev_handle *h = NULL;
	pthread_t th;

	cr_assert_eq(ev_notify_add(loop, on_notify, &n, &h), 0);
	cr_assert_eq(ev_run_once(loop, 0), 0, "no wake-up yet");
	cr_assert_eq(pthread_create(&th, NULL, producer, &n), 0);
	run_until(&n.consumed, 1000, 5000);
	pthread_join(th, NULL);
	cr_assert_eq(n.consumed, 1000, "the last push is never lost");
	cr_assert_geq(n.calls, 1);
	cr_assert_leq(n.calls, 1000, "wake-ups coalesce");
	/* The producer's last write may land after the handler already saw
	 * 1000: at most one more wake-up, then the eventfd stays reset. */
	cr_assert_leq(ev_run_once(loop, 0), 1);
	cr_assert_eq(ev_run_once(loop, 0), 0, "eventfd was reset");
	ev_cancel(&h);
}

/* ---- lifecycle ------------------------------------------------------------------ */

Test(ev, loop_free_clears_outstanding_handles)
{
	struct ev_loop *l2 = ev_loop_new();
	struct ev_handle *t = NULL, *p = NULL;
	int n = 0;

	cr_assert_not_null(l2);
	cr_assert_eq(ev_timer_add(l2, 1000, on_count, &n, &t), 0);
	cr_assert_eq(ev_timer_periodic_add(l2, 1000, on_count, &n, &p), 0);
	ev_loop_free(l2);
	cr_assert_null(t);
	cr_assert_null(p);
}
