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
#include <time.h>
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

/* Run iterations of l until *flag or a deadline: never an unbounded wait. */
static void run_until_on(struct ev_loop *l, const int *flag, int want, uint64_t max_ms)
{
	uint64_t end = ev_now_ms() + max_ms;

	while (*flag < want && ev_now_ms() < end)
		cr_assert_geq(ev_run_once(l, 50), 0);
}

static void run_until(const int *flag, int want, uint64_t max_ms)
{
	run_until_on(loop, flag, want, max_ms);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* A timer added now gets the deadline now_ceil_ms() + ms (see ev.h). */
static uint64_t now_ceil_ms(void)
{
	return (now_ns() + 999999) / 1000000;
}

/* The deadline of a timer of ms added now (see ev.h): 0 ms is due at once. */
static uint64_t deadline_now(uint64_t ms)
{
	return ms ? now_ceil_ms() + ms : ev_now_ms();
}

/* Wait, bounded, until the loop's clock has reached t_ms. */
static void wait_until_ms(uint64_t t_ms)
{
	uint64_t end = ev_now_ms() + 2000;
	struct timespec slice = { 0, 200 * 1000 };

	while (ev_now_ms() < t_ms && ev_now_ms() < end)
		nanosleep(&slice, NULL);
	cr_assert_geq(ev_now_ms(), t_ms);
}

/*
 * Fault injection for the loop's own descriptors: find them among the fds a
 * new loop opened, and swap another file in under the same number (the
 * original stays open, and in the epoll set, through a dup) until restored.
 */
struct loop_fds {
	int tfd, sfd, efd;
};

static struct ev_loop *loop_new_with_fds(struct loop_fds *f)
{
	enum { MAXFD = 1024 };
	bool before[MAXFD];
	struct ev_loop *l;

	for (int fd = 0; fd < MAXFD; fd++)
		before[fd] = fcntl(fd, F_GETFD) >= 0;
	l = ev_loop_new();
	cr_assert_not_null(l);
	*f = (struct loop_fds){ -1, -1, -1 };
	for (int fd = 0; fd < MAXFD; fd++) {
		char path[64], link[64] = "";

		if (before[fd] || fcntl(fd, F_GETFD) < 0)
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		if (readlink(path, link, sizeof(link) - 1) < 0)
			continue;
		if (!strcmp(link, "anon_inode:[timerfd]"))
			f->tfd = fd;
		else if (!strcmp(link, "anon_inode:[signalfd]"))
			f->sfd = fd;
		else if (!strcmp(link, "anon_inode:[eventfd]"))
			f->efd = fd;
	}
	cr_assert(f->tfd >= 0 && f->sfd >= 0 && f->efd >= 0, "loop fds not found");
	return l;
}

struct fd_swap {
	int fd, saved;
};

static void fd_swap_in(struct fd_swap *s, int fd, int other)
{
	s->fd = fd;
	s->saved = dup(fd);
	cr_assert_geq(s->saved, 0);
	cr_assert_eq(dup2(other, fd), fd);
}

static void fd_swap_out(struct fd_swap *s)
{
	cr_assert_eq(dup2(s->saved, s->fd), s->fd);
	close(s->saved);
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
	int stop_at;
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
	if (m->o->n == m->o->stop_at)
		ev_stop(l);
}

/*
 * Equal delays tie only when added within one millisecond (deadlines are
 * whole ms). add() adds a set of timers; retry until one attempt stayed in
 * one millisecond, so the tie-break really decides. Returns that ms.
 */
static uint64_t add_within_one_ms(void (*add)(void *), void (*undo)(void *), void *arg)
{
	for (int attempt = 0; attempt < 50; attempt++) {
		uint64_t ms = now_ceil_ms();

		add(arg);
		if (now_ceil_ms() == ms)
			return ms;
		undo(arg);
	}
	cr_assert_fail("could not add the timers within one millisecond");
	return 0;
}

struct tie_set {
	struct order o;
	struct tmark m[6];
};

static const uint64_t tie_ms[6] = { 60, 20, 40, 20, 0, 20 };

static void tie_add(void *arg)
{
	struct tie_set *t = arg;

	for (int i = 0; i < 6; i++)
		cr_assert_eq(ev_timer_add(loop, tie_ms[i], on_mark, &t->m[i], &t->m[i].h), 0);
}

static void tie_undo(void *arg)
{
	struct tie_set *t = arg;

	for (int i = 0; i < 6; i++)
		ev_cancel(&t->m[i].h);
}

Test(ev, timers_fire_in_deadline_order_ties_in_add_order)
{
	struct tie_set t = { .o.stop_at = 6 };

	for (int i = 0; i < 6; i++)
		t.m[i] = (struct tmark){ &t.o, (char)('A' + i), NULL };
	uint64_t t0 = add_within_one_ms(tie_add, tie_undo, &t);
	cr_assert_eq(ev_run(loop), 0);
	/* B, D and F share a deadline: add order, not reversed, not by address. */
	cr_assert_str_eq(t.o.seen, "EBDFCA");
	uint64_t dt = ev_now_ms() - t0;
	cr_assert_geq(dt, 60, "never early: %llu ms", (unsigned long long)dt);
	for (int i = 0; i < 6; i++)
		cr_assert_null(t.m[i].h);
	struct ev_handle *stale = t.m[0].h;
	ev_cancel(&stale); /* cancelling a fired timer is a no-op */
}

/* A periodic timer keeps its add-order place across re-arms: P (every 10 ms)
 * was added before T (once, at 20 ms), so at 20 ms P's second tick runs
 * before T. */
struct ptie {
	int p_expirations;
	int p_seen_by_t;
	int t_fired;
	struct ev_handle *p, *t;
};

static void on_ptie_p(struct ev_loop *l, void *arg, int what)
{
	struct ptie *x = arg;

	(void)l;
	x->p_expirations += what;
}

static void on_ptie_t(struct ev_loop *l, void *arg, int what)
{
	struct ptie *x = arg;

	(void)l;
	(void)what;
	x->p_seen_by_t = x->p_expirations;
	x->t_fired++;
}

static void ptie_add(void *arg)
{
	struct ptie *x = arg;

	cr_assert_eq(ev_timer_periodic_add(loop, 10, on_ptie_p, x, &x->p), 0);
	cr_assert_eq(ev_timer_add(loop, 20, on_ptie_t, x, &x->t), 0);
}

static void ptie_undo(void *arg)
{
	struct ptie *x = arg;

	ev_cancel(&x->p);
	ev_cancel(&x->t);
}

Test(ev, periodic_re_arm_keeps_its_place_among_ties)
{
	struct ptie x = { 0 };

	add_within_one_ms(ptie_add, ptie_undo, &x);
	run_until(&x.t_fired, 1, 2000);
	cr_assert_eq(x.t_fired, 1);
	cr_assert_geq(x.p_seen_by_t, 2, "P's tick at 20 ms ran before T (P was added first)");
	ev_cancel(&x.p);
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

/* Deadlines of an 8 ms periodic timer whose first deadline is `first` that
 * have passed at `now` (all in ms). */
static int ticks_by(uint64_t first, uint64_t now)
{
	return now < first ? 0 : (int)((now - first) / 8 + 1);
}

Test(ev, periodic_does_not_drift)
{
	struct periodic p = { .stop_at = 25 };
	int skipped = 0;
	/* The first deadline lies in [lo, hi]: the clock is read around the add. */
	uint64_t lo = deadline_now(8);

	cr_assert_eq(ev_timer_periodic_add(loop, 8, on_periodic, &p, &p.h), 0);
	uint64_t hi = deadline_now(8);
	uint64_t end = ev_now_ms() + 4000;

	/*
	 * Late on purpose: after each iteration the loop sleeps 20 ms, more than
	 * two periods. Deadlines advance from the previous deadline, never from
	 * "now", so after any iteration the expirations reported so far are
	 * exactly the deadlines passed, however late the loop was: between the
	 * count at the iteration's start and at its end. Re-arming from "now"
	 * falls behind by more than a tick per iteration. These bounds hold on a
	 * loaded machine too: they are read from the clock, not assumed.
	 */
	while (p.h && ev_now_ms() < end) {
		int prev = p.expirations;
		uint64_t before = ev_now_ms();

		cr_assert_geq(ev_run_once(loop, 50), 0);
		uint64_t after = ev_now_ms();

		cr_assert_geq(p.expirations, ticks_by(hi, before) < 25 ? ticks_by(hi, before) : 25,
			      "drifted: %d expirations reported, %d deadlines passed",
			      p.expirations, ticks_by(hi, before));
		cr_assert_leq(p.expirations, ticks_by(lo, after), "early: %d expirations by %llu",
			      p.expirations, (unsigned long long)(after - lo));
		skipped += p.expirations - prev > 1;
		if (p.h)
			usleep(20 * 1000);
	}
	cr_assert_null(p.h, "reached 25 and cancelled from its own callback");
	cr_assert_geq(p.expirations, 25);
	cr_assert_lt(p.fires, p.expirations);
	cr_assert_geq(skipped, 1, "skipped ticks are reported (what > 1)");
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

struct cancel_pair {
	struct canceller a, b;
};

static void cancel_pair_add(void *arg)
{
	struct cancel_pair *c = arg;

	cr_assert_eq(ev_timer_add(loop, 5, on_cancel_victim, &c->a, &c->a.self), 0);
	cr_assert_eq(ev_timer_add(loop, 5, on_cancel_victim, &c->b, &c->b.self), 0);
}

static void cancel_pair_undo(void *arg)
{
	struct cancel_pair *c = arg;

	ev_cancel(&c->a.self);
	ev_cancel(&c->b.self);
}

Test(ev, timer_cancels_later_timer_due_in_same_iteration)
{
	struct cancel_pair c = { 0 };
	struct canceller *a = &c.a, *b = &c.b;

	a->victim = &b->self;
	b->victim = &a->self;
	uint64_t t0 = add_within_one_ms(cancel_pair_add, cancel_pair_undo, &c);
	wait_until_ms(t0 + 5); /* both due before the poll */
	cr_assert_eq(ev_run_once(loop, 0), 1);
	cr_assert_eq(a->calls, 1, "ties fire in add order");
	cr_assert_eq(b->calls, 0, "removed earlier in the iteration: not called");
	cr_assert_null(b->self);
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
	uint64_t last_lo, last_hi;
	int last_idx;
	int fired;
	bool in_order;
};

/* The deadline is known to lie in [lo, hi] ms: the clock is read (in ns, and
 * rounded up as the loop does) before and after the add, since the thread
 * may be preempted in between. Usually lo == hi: the deadline is exact. */
struct many_timer {
	struct many *m;
	int idx;
	int ran;
	uint64_t lo, hi;
	struct ev_handle *h;
};

static void on_many(struct ev_loop *l, void *arg, int what)
{
	struct many_timer *t = arg;
	struct many *m = t->m;
	uint64_t now = now_ns();
	bool early = now < t->lo * 1000000;
	bool before_prev = m->fired && t->hi < m->last_lo;
	/* Both deadlines exact and equal: the tie-break decides. */
	bool tie_reversed = m->fired && t->lo == t->hi && m->last_lo == m->last_hi &&
			    t->lo == m->last_lo && t->idx < m->last_idx;

	(void)l;
	(void)what;
	if (early || before_prev || tie_reversed) {
		if (m->in_order)
			cr_log_error("timer %d, deadline in [%llu, %llu] ms, fired at %llu ns after "
				     "timer %d, deadline in [%llu, %llu]",
				     t->idx, (unsigned long long)t->lo, (unsigned long long)t->hi,
				     (unsigned long long)now, m->last_idx,
				     (unsigned long long)m->last_lo, (unsigned long long)m->last_hi);
		m->in_order = false;
	}
	m->last_lo = t->lo;
	m->last_hi = t->hi;
	m->last_idx = t->idx;
	m->fired++;
	t->ran++;
}

Test(ev, thousands_of_timers_fire_in_order_after_interior_cancels)
{
	enum { N = 5000 };
	struct many m = { .in_order = true };
	struct many_timer *t = calloc(N, sizeof(*t));

	cr_assert_not_null(t);
	srand(42);
	for (int i = 0; i < N; i++) {
		uint64_t delay = (uint64_t)(rand() % 50);

		t[i].m = &m;
		t[i].idx = i;
		t[i].lo = deadline_now(delay);
		cr_assert_eq(ev_timer_add(loop, delay, on_many, &t[i], &t[i].h), 0);
		t[i].hi = deadline_now(delay);
	}
	/* Every other one: removals from the middle of the heap. */
	for (int i = 0; i < N; i += 2)
		ev_cancel(&t[i].h);
	run_until(&m.fired, N / 2, 5000);
	cr_assert_eq(m.fired, N / 2);
	cr_assert(m.in_order, "fired in deadline order, ties in add order, never early");
	for (int i = 0; i < N; i++) {
		cr_assert_null(t[i].h);
		cr_assert_eq(t[i].ran, i % 2, "timer %d (%s) ran %d times", i,
			     i % 2 ? "kept" : "cancelled", t[i].ran);
	}
	free(t);
}

/* ---- signals ------------------------------------------------------------------- */

struct sigs {
	int usr1, usr2, hup;
};

static void on_sig(struct ev_loop *l, void *arg, int signo)
{
	struct sigs *s = arg;

	(void)l;
	if (signo == SIGUSR1)
		s->usr1++;
	else if (signo == SIGUSR2)
		s->usr2++;
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

/* A smoke test: the races it stands for are made deterministic below. */
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
	/* The producer's last write may land after the handler already saw
	 * 1000: at most one more wake-up, then the eventfd stays reset. */
	cr_assert_leq(ev_run_once(loop, 0), 1);
	cr_assert_eq(ev_run_once(loop, 0), 0, "eventfd was reset");
	ev_cancel(&h);
}


struct renotify {
	int calls;
};

/* Its first call stands in for a producer whose push races the drain: the
 * push lands after the handler looked, and its ev_notify() must not be eaten
 * by a reset that comes after the handlers. */
static void on_renotify(struct ev_loop *l, void *arg, int what)
{
	struct renotify *r = arg;

	(void)what;
	if (++r->calls == 1)
		ev_notify(l);
}

Test(ev, notify_coalesces_and_a_push_during_the_drain_is_not_lost)
{
	struct renotify r = { 0 };
	struct ev_handle *h = NULL;

	cr_assert_eq(ev_notify_add(loop, on_renotify, &r, &h), 0);
	cr_assert_eq(ev_run_once(loop, 0), 0, "no wake-up yet");
	for (int i = 0; i < 100; i++)
		ev_notify(loop);
	cr_assert_eq(ev_run_once(loop, 0), 1, "100 notifies, one call");
	cr_assert_eq(r.calls, 1);
	cr_assert_eq(ev_run_once(loop, 0), 1, "the notify made during the drain wakes again");
	cr_assert_eq(r.calls, 2);
	cr_assert_eq(ev_run_once(loop, 0), 0, "then the eventfd stays reset");
	ev_cancel(&h);
}

static struct ev_loop *sig_loop;

static void notify_from_handler(int signo)
{
	(void)signo;
	ev_notify(sig_loop);
}

Test(ev, notify_from_a_signal_handler)
{
	struct sigaction sa = { .sa_handler = notify_from_handler };
	int calls = 0;
	struct ev_handle *h = NULL;

	sig_loop = loop;
	sigemptyset(&sa.sa_mask);
	cr_assert_eq(sigaction(SIGUSR2, &sa, NULL), 0);
	cr_assert_eq(ev_notify_add(loop, on_count, &calls, &h), 0);
	cr_assert_eq(ev_run_once(loop, 0), 0);
	errno = EDOM;
	cr_assert_eq(raise(SIGUSR2), 0); /* the handler runs before raise returns */
	cr_assert_eq(errno, EDOM);
	cr_assert_eq(ev_run_once(loop, 1000), 1);
	cr_assert_eq(calls, 1);
	ev_cancel(&h);
}

Test(ev, notify_keeps_errno_when_its_write_fails)
{
	struct loop_fds f;
	struct ev_loop *l = loop_new_with_fds(&f);
	struct fd_swap sw;
	int calls = 0, ro = open("/dev/null", O_RDONLY | O_CLOEXEC);
	struct ev_handle *h = NULL;

	cr_assert_geq(ro, 0);
	cr_assert_eq(ev_notify_add(l, on_count, &calls, &h), 0);
	/* A read-only file under the eventfd's number: write() fails (EBADF),
	 * as it would with EAGAIN on a saturated counter. */
	fd_swap_in(&sw, f.efd, ro);
	errno = ERANGE;
	ev_notify(l);
	cr_assert_eq(errno, ERANGE, "errno of the interrupted code kept, got %d", errno);
	fd_swap_out(&sw);
	cr_assert_eq(ev_run_once(l, 0), 0, "the failed write woke nothing (so it did fail)");
	ev_notify(l);
	cr_assert_eq(ev_run_once(l, 0), 1);
	cr_assert_eq(calls, 1);
	close(ro);
	ev_loop_free(l);
	cr_assert_null(h);
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

static void on_count_stop(struct ev_loop *l, void *arg, int what)
{
	(void)what;
	(*(int *)arg)++;
	ev_stop(l);
}

Test(ev, stop_before_run_is_kept_then_consumed)
{
	int backstop = 0, early = 0, later = 0;
	struct ev_handle *bh = NULL, *eh = NULL, *lh = NULL;

	/* If a stop were lost, ev_run() would only end here, 2 s later. */
	cr_assert_eq(ev_timer_add(loop, 2000, on_count_stop, &backstop, &bh), 0);
	ev_stop(loop);
	cr_assert_eq(ev_run(loop), 0);
	cr_assert_eq(backstop, 0, "a stop made before ev_run() is kept");

	/* The daemon skeleton's case: stopped from an ev_run_once() callback
	 * (say, SIGTERM during start-up), then it enters ev_run(). */
	cr_assert_eq(ev_timer_add(loop, 0, on_count_stop, &early, &eh), 0);
	cr_assert_eq(ev_run_once(loop, 1000), 1);
	cr_assert_eq(early, 1);
	cr_assert_eq(ev_run(loop), 0);
	cr_assert_eq(backstop, 0, "the stop from a start-up callback is kept");

	/* Consumed: the next ev_run() runs until something stops it. */
	cr_assert_eq(ev_timer_add(loop, 10, on_count_stop, &later, &lh), 0);
	cr_assert_eq(ev_run(loop), 0);
	cr_assert_eq(later, 1, "ev_run() ran again after a stop was consumed");
	cr_assert_eq(backstop, 0);
	ev_cancel(&bh);
}

Test(ev, timerfd_failure_is_reported_and_retried)
{
	struct loop_fds f;
	struct ev_loop *l = loop_new_with_fds(&f);
	struct fd_swap sw;
	int p[2], n = 0;
	struct ev_handle *h = NULL;

	cr_assert_eq(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
	cr_assert_eq(ev_timer_add(l, 5, on_count, &n, &h), 0);
	fd_swap_in(&sw, f.tfd, p[0]); /* timerfd_settime() now fails: EINVAL */
	cr_assert_eq(ev_run_once(l, 0), -EINVAL, "a timer that cannot be armed is an error");
	fd_swap_out(&sw);
	run_until_on(l, &n, 1, 2000);
	cr_assert_eq(n, 1, "armed on the next iteration, and fired");
	cr_assert_null(h);
	close(p[0]);
	close(p[1]);
	ev_loop_free(l);
}

/* ---- copies of a handle pointer ---------------------------------------------- */

struct alias_ctx {
	int calls;
	struct ev_handle *h, *copy;
	struct ev_handle **other, **other_copy;
};

static void on_alias(struct ev_loop *l, void *arg, int what)
{
	struct alias_ctx *a = arg;

	(void)l;
	(void)what;
	a->calls++;
	cr_assert_null(a->h);
	/* The one-shot that is running, through a copy kept elsewhere. */
	ev_cancel(&a->copy);
	cr_assert_null(a->copy);
	/* A live timer, through its pointer, then again through a copy. */
	ev_cancel(a->other);
	ev_cancel(a->other_copy);
	cr_assert_null(*a->other_copy);
}

/* Later in the same pass: a copy of the one-shot that already fired. */
static void on_cancel_copy(struct ev_loop *l, void *arg, int what)
{
	struct ev_handle **copy = arg;

	(void)l;
	(void)what;
	ev_cancel(copy);
	cr_assert_null(*copy);
}

Test(ev, cancel_through_a_copy_of_an_ended_handle_is_a_no_op)
{
	struct alias_ctx a = { 0 };
	struct ev_handle *victim = NULL, *victim_copy, *b = NULL, *c = NULL;
	struct ev_handle *later = NULL, *a_copy2;
	int n = 0, victim_calls = 0;

	cr_assert_eq(ev_timer_add(loop, 30, on_count, &n, &b), 0);
	cr_assert_eq(ev_timer_add(loop, 30, on_count, &n, &c), 0);
	cr_assert_eq(ev_timer_add(loop, 30, on_count, &victim_calls, &victim), 0);
	cr_assert_eq(ev_timer_add(loop, 0, on_alias, &a, &a.h), 0);
	cr_assert_eq(ev_timer_add(loop, 0, on_cancel_copy, &a_copy2, &later), 0);
	victim_copy = victim;
	a.copy = a.h;
	a_copy2 = a.h;
	a.other = &victim;
	a.other_copy = &victim_copy;
	cr_assert_eq(ev_run_once(loop, 0), 2);
	cr_assert_eq(a.calls, 1);
	cr_assert_null(a_copy2);
	cr_assert_not_null(b, "other timers stay armed");
	cr_assert_not_null(c);
	run_until(&n, 2, 2000);
	cr_assert_eq(n, 2, "both other timers fire");
	cr_assert_eq(victim_calls, 0);
	cr_assert_null(b);
	cr_assert_null(c);
}

/* ---- more fd cases ------------------------------------------------------------ */

struct reuse {
	int fd[2];       /* read ends of two ready pipes */
	int wr[2];       /* their write ends */
	struct ev_handle *h[2];
	int calls[2];
	bool swapped;
	int newp[2];     /* the pipe now read through the reused number */
	int reused;
	struct ev_handle *hn;
	int new_calls;
};

static void on_reuse_new(struct ev_loop *l, void *arg, int what)
{
	struct reuse *r = arg;
	char buf[8];

	(void)l;
	(void)what;
	r->new_calls++;
	if (read(r->newp[0], buf, sizeof(buf)) < 0)
		cr_log_warn("read on the reused fd: %s", strerror(errno));
}

/* Whichever pipe is dispatched first replaces the other under the same fd
 * number, whose stale "ready" is still in this iteration's poll result. */
static void reuse_step(struct ev_loop *l, struct reuse *r, int me)
{
	int other = 1 - me;
	char buf[8];

	r->calls[me]++;
	if (read(r->fd[me], buf, sizeof(buf)) < 0)
		cr_log_warn("read: %s", strerror(errno));
	if (r->swapped)
		return;
	r->swapped = true;
	ev_cancel(&r->h[other]);
	cr_assert_eq(pipe2(r->newp, O_NONBLOCK | O_CLOEXEC), 0);
	cr_assert_eq(dup2(r->newp[0], r->fd[other]), r->fd[other]); /* closes the old pipe */
	close(r->newp[0]);
	r->newp[0] = r->reused = r->fd[other];
	cr_assert_eq(ev_reader_add(l, r->reused, on_reuse_new, r, &r->hn), 0);
}

static void on_reuse_0(struct ev_loop *l, void *arg, int what)
{
	(void)what;
	reuse_step(l, arg, 0);
}

static void on_reuse_1(struct ev_loop *l, void *arg, int what)
{
	(void)what;
	reuse_step(l, arg, 1);
}

Test(ev, reused_fd_number_is_not_dispatched_a_stale_result)
{
	struct reuse r = { 0 };
	int a[2], b[2];

	cr_assert_eq(pipe2(a, O_NONBLOCK | O_CLOEXEC), 0);
	cr_assert_eq(pipe2(b, O_NONBLOCK | O_CLOEXEC), 0);
	r.fd[0] = a[0];
	r.wr[0] = a[1];
	r.fd[1] = b[0];
	r.wr[1] = b[1];
	cr_assert_eq(ev_reader_add(loop, a[0], on_reuse_0, &r, &r.h[0]), 0);
	cr_assert_eq(ev_reader_add(loop, b[0], on_reuse_1, &r, &r.h[1]), 0);
	cr_assert_eq(write(a[1], "1", 1), 1);
	cr_assert_eq(write(b[1], "1", 1), 1);
	cr_assert_eq(ev_run_once(loop, 1000), 1, "both ready; the first replaces the second");
	cr_assert(r.swapped);
	cr_assert_eq(r.new_calls, 0, "the new reader never sees the old fd's readiness");
	cr_assert_eq(ev_run_once(loop, 0), 0, "the new pipe is empty");
	cr_assert_eq(write(r.newp[1], "2", 1), 1);
	cr_assert_eq(ev_run_once(loop, 1000), 1);
	cr_assert_eq(r.new_calls, 1, "and it works from the next iteration on");
	for (int i = 0; i < 2; i++)
		ev_cancel(&r.h[i]);
	ev_cancel(&r.hn);
	close(r.reused);
	close(r.newp[1]);
	close(r.calls[0] ? a[0] : b[0]);
	close(a[1]);
	close(b[1]);
}

static void on_err_writer(struct ev_loop *l, void *arg, int what)
{
	struct pipe_ctx *c = arg;

	(void)l;
	c->calls++;
	c->last_what = what;
	ev_cancel(&c->h);
}

Test(ev, writer_only_fd_sees_ev_error)
{
	int p[2];
	struct pipe_ctx c = { 0 };
	char chunk[4096] = { 0 };
	int i;

	cr_assert_eq(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
	for (i = 0; i < 1024 && write(p[1], chunk, sizeof(chunk)) > 0; i++)
		;
	cr_assert_lt(i, 1024, "the pipe filled up");
	cr_assert_eq(ev_writer_add(loop, p[1], on_err_writer, &c, &c.h), 0);
	cr_assert_eq(ev_run_once(loop, 0), 0, "full pipe: not writable");
	close(p[0]); /* no reader left: an error for the writer, still no room */
	cr_assert_eq(ev_run_once(loop, 1000), 1);
	cr_assert_eq(c.last_what, EV_ERROR, "what = %#x", c.last_what);
	cr_assert_null(c.h);
	close(p[1]);
}

/* ---- more ZeroMQ cases --------------------------------------------------------- */

struct zclose {
	void *sock;
	int calls;
	struct ev_handle *h;
};

static void on_zmq_close_self(struct ev_loop *l, void *arg, int what)
{
	struct zclose *z = arg;
	char buf[8];

	(void)l;
	(void)what;
	z->calls++;
	cr_assert_eq(zmq_recv(z->sock, buf, sizeof(buf), ZMQ_DONTWAIT), 1);
	ev_cancel(&z->h);
	cr_assert_eq(zmq_close(z->sock), 0);
	z->sock = NULL;
}

Test(ev, zmq_reader_cancels_itself_and_closes_its_socket)
{
	void *ctx = zmq_ctx_new();
	void *a1 = zmq_socket(ctx, ZMQ_PAIR), *b1 = zmq_socket(ctx, ZMQ_PAIR);
	void *a2 = zmq_socket(ctx, ZMQ_PAIR), *b2 = zmq_socket(ctx, ZMQ_PAIR);
	int linger = 0;
	struct zclose zc = { .sock = a1 };
	struct zctx other = { .sock = a2 };
	struct ev_handle *oh = NULL;

	void *socks[] = { a1, b1, a2, b2 };
	for (int i = 0; i < 4; i++)
		zmq_setsockopt(socks[i], ZMQ_LINGER, &linger, sizeof(linger));
	cr_assert_eq(zmq_bind(a1, "inproc://ev-close-1"), 0);
	cr_assert_eq(zmq_connect(b1, "inproc://ev-close-1"), 0);
	cr_assert_eq(zmq_bind(a2, "inproc://ev-close-2"), 0);
	cr_assert_eq(zmq_connect(b2, "inproc://ev-close-2"), 0);
	cr_assert_eq(ev_zmq_reader_add(loop, a1, on_zmq_close_self, &zc, &zc.h), 0);
	cr_assert_eq(ev_zmq_reader_add(loop, a2, on_zmq_one, &other, &oh), 0);
	cr_assert_eq(zmq_send(b1, "x", 1, 0), 1);
	cr_assert_eq(zmq_send(b2, "y", 1, 0), 1);
	run_until(&other.msgs, 1, 2000);
	run_until(&zc.calls, 1, 2000);
	cr_assert_eq(zc.calls, 1);
	cr_assert_null(zc.sock);
	cr_assert_eq(other.msgs, 1);
	/* The closed socket is no longer polled: no -ENOTSOCK, no use after free. */
	cr_assert_eq(ev_run_once(loop, 0), 0);
	cr_assert_eq(zmq_send(b2, "z", 1, 0), 1);
	run_until(&other.msgs, 2, 2000);
	cr_assert_eq(other.msgs, 2, "the other reader still works");
	cr_assert_str_eq(other.last, "z");
	ev_cancel(&oh);
	zmq_close(b1);
	zmq_close(a2);
	zmq_close(b2);
	zmq_ctx_term(ctx);
}

enum { ZW_TOTAL = 200 };

struct zwriter {
	void *sock;
	int sent;
	int calls;
	int whats;
	int last_err;
	struct ev_handle *h;
};

/* Send message number w->sent; -1 with last_err on failure. */
static int zw_send_one(struct zwriter *w)
{
	uint32_t v = (uint32_t)w->sent;

	if (zmq_send(w->sock, &v, sizeof(v), ZMQ_DONTWAIT) < 0) {
		w->last_err = zmq_errno();
		return -1;
	}
	w->sent++;
	return 0;
}

static void on_zmq_writable(struct ev_loop *l, void *arg, int what)
{
	struct zwriter *w = arg;

	(void)l;
	w->calls++;
	w->whats |= what;
	while (w->sent < ZW_TOTAL && zw_send_one(w) == 0)
		;
	if (w->sent == ZW_TOTAL)
		ev_cancel(&w->h);
	else
		cr_assert_eq(w->last_err, EAGAIN);
}

struct zpeer {
	void *sock;
	int got;
	bool in_order;
	struct ev_handle *h;
};

/* A ROUTER reading a bounded batch per call. */
static void on_router_batch(struct ev_loop *l, void *arg, int what)
{
	struct zpeer *r = arg;

	(void)l;
	cr_assert_eq(what, EV_READ);
	for (int i = 0; i < 16; i++) {
		char id[256];
		uint32_t v;

		if (zmq_recv(r->sock, id, sizeof(id), ZMQ_DONTWAIT) < 0)
			break;
		cr_assert_eq(zmq_recv(r->sock, &v, sizeof(v), ZMQ_DONTWAIT), (int)sizeof(v));
		if (v != (uint32_t)r->got)
			r->in_order = false;
		r->got++;
	}
}

Test(ev, zmq_writer_waits_through_the_loop_after_hwm)
{
	void *ctx = zmq_ctx_new();
	void *dealer = zmq_socket(ctx, ZMQ_DEALER), *peer = zmq_socket(ctx, ZMQ_ROUTER);
	int linger = 0, hwm = 4;
	struct zwriter w = { .sock = dealer };
	struct zpeer r = { .sock = peer, .in_order = true };

	zmq_setsockopt(dealer, ZMQ_LINGER, &linger, sizeof(linger));
	zmq_setsockopt(peer, ZMQ_LINGER, &linger, sizeof(linger));
	zmq_setsockopt(dealer, ZMQ_SNDHWM, &hwm, sizeof(hwm));
	zmq_setsockopt(peer, ZMQ_RCVHWM, &hwm, sizeof(hwm));
	cr_assert_eq(zmq_bind(peer, "inproc://ev-hwm"), 0);
	cr_assert_eq(zmq_connect(dealer, "inproc://ev-hwm"), 0);

	/* The peer does not read: the DEALER runs into its high water mark. */
	while (w.sent < ZW_TOTAL && zw_send_one(&w) == 0)
		;
	cr_assert_lt(w.sent, ZW_TOTAL, "HWM reached after %d messages", w.sent);
	cr_assert_eq(w.last_err, EAGAIN);
	cr_assert_eq(ev_zmq_writer_add(loop, dealer, on_zmq_writable, &w, &w.h), 0);
	cr_assert_eq(ev_run_once(loop, 0), 0, "no room while the peer does not read");
	cr_assert_eq(w.calls, 0);

	/* The peer drains, through the same loop; the writer is woken for room. */
	cr_assert_eq(ev_zmq_reader_add(loop, peer, on_router_batch, &r, &r.h), 0);
	run_until(&r.got, ZW_TOTAL, 5000);
	cr_assert_eq(r.got, ZW_TOTAL, "received %d", r.got);
	cr_assert(r.in_order);
	cr_assert_eq(w.sent, ZW_TOTAL);
	cr_assert_geq(w.calls, 1);
	cr_assert_eq(w.whats, EV_WRITE, "a writer sees EV_WRITE only, got %#x", w.whats);
	cr_assert_null(w.h, "cancelled once done");
	ev_cancel(&r.h);
	zmq_close(dealer);
	zmq_close(peer);
	zmq_ctx_term(ctx);
}

/* ---- more signal cases ---------------------------------------------------------- */

Test(ev, failed_signal_add_leaves_the_signal_out_of_the_loop)
{
	struct loop_fds f;
	struct ev_loop *l = loop_new_with_fds(&f);
	struct fd_swap sw;
	struct sigs s = { 0 };
	struct ev_handle *h1 = NULL, *h2 = NULL;
	sigset_t cur, pend;
	int p[2];

	cr_assert_eq(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
	fd_swap_in(&sw, f.sfd, p[0]); /* signalfd() on it now fails: EINVAL */
	cr_assert_eq(ev_signal_add(l, SIGUSR2, on_sig, &s, &h2), -EINVAL);
	cr_assert_null(h2);
	fd_swap_out(&sw);
	cr_assert_eq(pthread_sigmask(SIG_BLOCK, NULL, &cur), 0);
	cr_assert(sigismember(&cur, SIGUSR2), "still blocked (documented)");

	/* A later successful add must not route SIGUSR2 into the signalfd,
	 * where, with no handler, it would be read and dropped. */
	cr_assert_eq(ev_signal_add(l, SIGUSR1, on_sig, &s, &h1), 0);
	cr_assert_eq(raise(SIGUSR2), 0);
	cr_assert_eq(raise(SIGUSR1), 0);
	run_until_on(l, &s.usr1, 1, 2000);
	cr_assert_eq(s.usr1, 1);
	cr_assert_eq(sigpending(&pend), 0);
	cr_assert(sigismember(&pend, SIGUSR2), "SIGUSR2 still pending, not eaten by the loop");

	cr_assert_eq(ev_signal_add(l, SIGUSR2, on_sig, &s, &h2), 0);
	run_until_on(l, &s.usr2, 1, 2000);
	cr_assert_eq(s.usr2, 1, "delivered once a handler exists");
	close(p[0]);
	close(p[1]);
	ev_loop_free(l);
}

struct readd_sig {
	int calls;
	struct ev_handle *h;
};

/* A handler that re-adds itself (say, to change its argument) on its first call. */
static void on_sig_readd(struct ev_loop *l, void *arg, int signo)
{
	struct readd_sig *r = arg;

	if (++r->calls == 1)
		cr_assert_eq(ev_signal_add(l, signo, on_sig_readd, r, &r->h), 0);
}

Test(ev, signal_handler_added_during_dispatch_sees_signals_already_read)
{
	struct readd_sig r = { 0 };
	int rt = SIGRTMIN;

	cr_assert_eq(ev_signal_add(loop, rt, on_sig_readd, &r, &r.h), 0);
	/* Real-time signals queue: both are read from the signalfd at once. */
	cr_assert_eq(raise(rt), 0);
	cr_assert_eq(raise(rt), 0);
	cr_assert_eq(ev_run_once(loop, 1000), 2);
	cr_assert_eq(r.calls, 2, "the second signal reached the re-added handler");
	cr_assert_eq(ev_run_once(loop, 0), 0);
	ev_cancel(&r.h);
}

static atomic_int tripped;

static void tripwire(int signo)
{
	(void)signo;
	atomic_store(&tripped, 1);
}

static void tripwire_on(int signo)
{
	struct sigaction sa = { .sa_handler = tripwire };

	sigemptyset(&sa.sa_mask);
	cr_assert_eq(sigaction(signo, &sa, NULL), 0);
}

struct worker_sig {
	const int *signals;
	int n;
	bool blocked;
	bool pending_here;
};

/* In a new thread: is each signal blocked, and does one sent to this very
 * thread stay pending instead of running the tripwire here? */
static void *worker(void *arg)
{
	struct worker_sig *w = arg;
	sigset_t cur, pend;

	pthread_sigmask(SIG_BLOCK, NULL, &cur);
	w->blocked = true;
	for (int i = 0; i < w->n; i++)
		w->blocked &= sigismember(&cur, w->signals[i]) == 1;
	raise(w->signals[0]);
	sigpending(&pend);
	w->pending_here = sigismember(&pend, w->signals[0]) == 1;
	return NULL;
}

static void run_worker(struct worker_sig *w)
{
	pthread_t th;

	cr_assert_eq(pthread_create(&th, NULL, worker, w), 0);
	cr_assert_eq(pthread_join(th, NULL), 0);
}

Test(ev, thread_created_after_signal_add_does_not_take_the_signal)
{
	static const int usr1[] = { SIGUSR1 };
	struct worker_sig w = { .signals = usr1, .n = 1 };
	struct sigs s = { 0 };
	struct ev_handle *h = NULL;

	tripwire_on(SIGUSR1);
	cr_assert_eq(ev_signal_add(loop, SIGUSR1, on_sig, &s, &h), 0);
	run_worker(&w);
	cr_assert(w.blocked, "the worker inherited the block");
	cr_assert(w.pending_here, "sent to the worker, it stays pending there");
	cr_assert_eq(atomic_load(&tripped), 0, "no thread took the signal");
	cr_assert_eq(raise(SIGUSR1), 0);
	run_until(&s.usr1, 1, 2000);
	cr_assert_eq(s.usr1, 1, "the loop still gets it");
	cr_assert_eq(atomic_load(&tripped), 0);
	ev_cancel(&h);
}

Test(ev, block_signals_before_creating_threads)
{
	static const int sigs[] = { SIGUSR2, SIGWINCH };
	static const int bad[] = { SIGURG, SIGKILL };
	static const int zero[] = { 0 };
	struct worker_sig w = { .signals = sigs, .n = 2 };
	struct sigs s = { 0 };
	struct ev_handle *h = NULL;
	sigset_t cur;

	tripwire_on(SIGUSR2);
	tripwire_on(SIGWINCH);
	cr_assert_eq(ev_block_signals(bad, 2), -EINVAL);
	cr_assert_eq(ev_block_signals(zero, 1), -EINVAL);
	cr_assert_eq(ev_block_signals(NULL, 1), -EINVAL);
	cr_assert_eq(ev_block_signals(NULL, 0), 0);
	cr_assert_eq(pthread_sigmask(SIG_BLOCK, NULL, &cur), 0);
	cr_assert_not(sigismember(&cur, SIGURG), "nothing blocked on error");

	cr_assert_eq(ev_block_signals(sigs, 2), 0);
	cr_assert_eq(pthread_sigmask(SIG_BLOCK, NULL, &cur), 0);
	cr_assert(sigismember(&cur, SIGUSR2) && sigismember(&cur, SIGWINCH));
	run_worker(&w);
	cr_assert(w.blocked, "a thread created afterwards has both blocked");
	cr_assert(w.pending_here);

	/* Arrives before the loop has a handler: waits, then goes through it. */
	cr_assert_eq(raise(SIGUSR2), 0);
	cr_assert_eq(ev_signal_add(loop, SIGUSR2, on_sig, &s, &h), 0);
	run_until(&s.usr2, 1, 2000);
	cr_assert_eq(s.usr2, 1);
	cr_assert_eq(atomic_load(&tripped), 0, "no thread took a signal");
	ev_cancel(&h);
}
