// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The event loop: zmq_poll over [epoll fd, ZeroMQ sockets...]; plain fds,
 * the timerfd, the signalfd and the eventfd live in the epoll set. See
 * common/ev.h for the contract; the comments here explain the machinery.
 *
 * Safety of cancel during dispatch rests on two rules:
 *   - a cancelled handle is unlinked at once from every structure that can
 *     lead dispatch to it (fd slot, zmq list, heap, signal/notify lists) and
 *     marked dead, but freed only when the iteration's dispatch is over
 *     (the zombie list), because dispatch may still hold a pointer to it
 *     (the zmq item array, a list walk, the running callback);
 *   - a handle added during dispatch records the iteration number and is
 *     skipped until the next iteration, so a poll result that predates it
 *     (e.g. for a reused fd number) is never delivered to it.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>
#include <pthread.h>
#include <zmq.h>

#include "common/compiler.h"
#include "common/ev.h"

enum ev_kind { EVK_READ, EVK_WRITE, EVK_ZMQ, EVK_TIMER, EVK_SIGNAL, EVK_NOTIFY };

/* One millisecond: timer deadlines are whole milliseconds (see ev.h). */
#define NS_PER_MS 1000000ull

struct ev_handle {
	struct ev_loop *loop;
	struct ev_handle **owner; /* the caller's pointer; cleared by the loop */
	ev_cb *cb;
	void *arg;
	enum ev_kind kind;
	bool dead;
	uint64_t iter_added;
	int fd;     /* EVK_READ, EVK_WRITE */
	int signo;  /* EVK_SIGNAL */
	void *zsock; /* EVK_ZMQ */
	short zevents; /* EVK_ZMQ: ZMQ_POLLIN or ZMQ_POLLOUT */
	/* EVK_TIMER */
	uint64_t deadline_ms;
	uint64_t interval_ms; /* 0: one-shot */
	/* Tie-break and "added during this pass". Taken once, at the add: a
	 * periodic re-arm keeps it, so ties stay in add order for good. */
	uint64_t seq;
	size_t heap_idx;
	/* EVK_ZMQ, EVK_SIGNAL, EVK_NOTIFY lists. Unlinking never changes a
	 * node's own next pointer, so a walk standing on it can continue. */
	struct ev_handle *prev, *next;
	struct ev_handle *zombie_next;
};

struct ev_fdrec {
	struct ev_handle *rd, *wr;
};

/* epoll data for the loop's own descriptors; caller fds are stored as is. */
#define EV_TAG_INTERNAL (1ull << 63)
#define EV_TAG_TIMER    (EV_TAG_INTERNAL | 1)
#define EV_TAG_SIGNAL   (EV_TAG_INTERNAL | 2)
#define EV_TAG_NOTIFY   (EV_TAG_INTERNAL | 3)

/* Ready fds taken per iteration; level-triggered, so the rest come next. */
#define EV_MAX_EVENTS 64

struct ev_loop {
	int epfd, tfd, sfd, efd;
	bool stop;
	bool dispatching;
	uint64_t iter;
	int ncalls;

	struct ev_fdrec *fds;
	size_t nfds;

	struct ev_handle *zmq_list;
	size_t n_zmq;
	bool items_dirty;
	zmq_pollitem_t *items; /* [0] is epfd */
	struct ev_handle **items_h;
	size_t n_items, items_cap;

	struct ev_handle **heap;
	size_t heap_len, heap_cap;
	uint64_t seq;
	uint64_t armed_ms;

	struct ev_handle *sig_list;
	sigset_t sigmask;
	struct ev_handle *notify_list;
	struct ev_handle *zombies;

	struct epoll_event events[EV_MAX_EVENTS];
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t ev_now_ms(void)
{
	return mono_ns() / NS_PER_MS;
}

static int epoll_add_internal(int epfd, int fd, uint64_t tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = tag };

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

struct ev_loop *ev_loop_new(void)
{
	struct ev_loop *loop = calloc(1, sizeof(*loop));
	int err = 0;

	if (!loop)
		return NULL;
	loop->epfd = loop->tfd = loop->sfd = loop->efd = -1;
	sigemptyset(&loop->sigmask);
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	loop->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	loop->sfd = signalfd(-1, &loop->sigmask, SFD_NONBLOCK | SFD_CLOEXEC);
	loop->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (loop->epfd < 0 || loop->tfd < 0 || loop->sfd < 0 || loop->efd < 0)
		err = -errno;
	if (!err)
		err = epoll_add_internal(loop->epfd, loop->tfd, EV_TAG_TIMER);
	if (!err)
		err = epoll_add_internal(loop->epfd, loop->sfd, EV_TAG_SIGNAL);
	if (!err)
		err = epoll_add_internal(loop->epfd, loop->efd, EV_TAG_NOTIFY);
	if (!err) {
		loop->items_cap = 8;
		loop->items = calloc(loop->items_cap, sizeof(*loop->items));
		loop->items_h = calloc(loop->items_cap, sizeof(*loop->items_h));
		if (!loop->items || !loop->items_h)
			err = -ENOMEM;
	}
	if (err) {
		ev_loop_free(loop);
		errno = -err;
		return NULL;
	}
	loop->items_dirty = true;
	return loop;
}

static void handle_free(struct ev_handle *h)
{
	if (h->owner && *h->owner == h)
		*h->owner = NULL;
	free(h);
}

static void list_free(struct ev_handle *h)
{
	while (h) {
		struct ev_handle *next = h->next;
		handle_free(h);
		h = next;
	}
}

void ev_loop_free(struct ev_loop *loop)
{
	if (!loop)
		return;
	for (size_t i = 0; i < loop->nfds; i++) {
		if (loop->fds[i].rd)
			handle_free(loop->fds[i].rd);
		if (loop->fds[i].wr)
			handle_free(loop->fds[i].wr);
	}
	for (size_t i = 0; i < loop->heap_len; i++)
		handle_free(loop->heap[i]);
	list_free(loop->zmq_list);
	list_free(loop->sig_list);
	list_free(loop->notify_list);
	while (loop->zombies) {
		struct ev_handle *z = loop->zombies;
		loop->zombies = z->zombie_next;
		free(z);
	}
	free(loop->fds);
	free(loop->heap);
	free(loop->items);
	free(loop->items_h);
	if (loop->epfd >= 0)
		close(loop->epfd);
	if (loop->tfd >= 0)
		close(loop->tfd);
	if (loop->sfd >= 0)
		close(loop->sfd);
	if (loop->efd >= 0)
		close(loop->efd);
	free(loop);
}

/* ---- handles ---------------------------------------------------------- */

static struct ev_handle *handle_new(struct ev_loop *loop, enum ev_kind kind, ev_cb *cb,
				    void *arg, struct ev_handle **hp)
{
	struct ev_handle *h;

	ev_cancel(hp); /* re-add is re-arm */
	h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->loop = loop;
	h->kind = kind;
	h->cb = cb;
	h->arg = arg;
	h->owner = hp;
	h->fd = -1;
	h->iter_added = loop->dispatching ? loop->iter : 0;
	return h;
}

static void handle_publish(struct ev_handle *h)
{
	if (h->owner)
		*h->owner = h;
}

static void list_push(struct ev_handle **head, struct ev_handle *h)
{
	h->prev = NULL;
	h->next = *head;
	if (*head)
		(*head)->prev = h;
	*head = h;
}

static void list_unlink(struct ev_handle **head, struct ev_handle *h)
{
	if (h->prev)
		h->prev->next = h->next;
	else if (*head == h)
		*head = h->next;
	if (h->next)
		h->next->prev = h->prev;
	/* h->next is kept on purpose: see struct ev_handle. */
}

/* ---- timer heap ------------------------------------------------------- */

static bool timer_before(const struct ev_handle *a, const struct ev_handle *b)
{
	return a->deadline_ms < b->deadline_ms ||
	       (a->deadline_ms == b->deadline_ms && a->seq < b->seq);
}

static void heap_set(struct ev_loop *loop, size_t i, struct ev_handle *h)
{
	loop->heap[i] = h;
	h->heap_idx = i;
}

static void heap_up(struct ev_loop *loop, size_t i)
{
	struct ev_handle *h = loop->heap[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (!timer_before(h, loop->heap[parent]))
			break;
		heap_set(loop, i, loop->heap[parent]);
		i = parent;
	}
	heap_set(loop, i, h);
}

static void heap_down(struct ev_loop *loop, size_t i)
{
	struct ev_handle *h = loop->heap[i];

	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		const struct ev_handle *best = h;

		if (l < loop->heap_len && timer_before(loop->heap[l], best)) {
			m = l;
			best = loop->heap[l];
		}
		if (r < loop->heap_len && timer_before(loop->heap[r], best))
			m = r;
		if (m == i)
			break;
		heap_set(loop, i, loop->heap[m]);
		i = m;
	}
	heap_set(loop, i, h);
}

static int heap_reserve(struct ev_loop *loop)
{
	if (loop->heap_len < loop->heap_cap)
		return 0;
	size_t cap = loop->heap_cap ? loop->heap_cap * 2 : 16;
	struct ev_handle **n = realloc(loop->heap, cap * sizeof(*n));
	if (!n)
		return -ENOMEM;
	loop->heap = n;
	loop->heap_cap = cap;
	return 0;
}

/* Caller has reserved room and set h->seq. */
static void heap_push(struct ev_loop *loop, struct ev_handle *h)
{
	loop->heap[loop->heap_len++] = h;
	heap_up(loop, loop->heap_len - 1);
}

static void heap_remove(struct ev_loop *loop, struct ev_handle *h)
{
	size_t i = h->heap_idx;
	struct ev_handle *last = loop->heap[--loop->heap_len];

	if (i == loop->heap_len)
		return;
	heap_set(loop, i, last);
	heap_up(loop, i);
	heap_down(loop, last->heap_idx);
}

/* ---- fds ---------------------------------------------------------------- */

static int fd_update(struct ev_loop *loop, int fd, bool had)
{
	struct ev_fdrec *r = &loop->fds[fd];
	struct epoll_event ev = {
		.events = (r->rd ? EPOLLIN : 0u) | (r->wr ? EPOLLOUT : 0u),
		.data.u64 = (uint64_t)fd,
	};
	int op = !had ? EPOLL_CTL_ADD : ev.events ? EPOLL_CTL_MOD : EPOLL_CTL_DEL;

	return epoll_ctl(loop->epfd, op, fd, &ev) < 0 ? -errno : 0;
}

static int fd_reserve(struct ev_loop *loop, int fd)
{
	if ((size_t)fd < loop->nfds)
		return 0;
	size_t n = loop->nfds ? loop->nfds : 64;
	while (n <= (size_t)fd)
		n *= 2;
	struct ev_fdrec *fds = realloc(loop->fds, n * sizeof(*fds));
	if (!fds)
		return -ENOMEM;
	memset(fds + loop->nfds, 0, (n - loop->nfds) * sizeof(*fds));
	loop->fds = fds;
	loop->nfds = n;
	return 0;
}

static int fd_add(struct ev_loop *loop, int fd, enum ev_kind kind, ev_cb *cb, void *arg,
		  struct ev_handle **hp)
{
	struct ev_handle *h;
	struct ev_handle **slot;
	bool had;
	int err;

	if (!loop || !cb || fd < 0)
		return fd < 0 ? -EBADF : -EINVAL;
	ev_cancel(hp);
	err = fd_reserve(loop, fd);
	if (err)
		return err;
	slot = kind == EVK_READ ? &loop->fds[fd].rd : &loop->fds[fd].wr;
	if (*slot)
		return -EEXIST;
	had = loop->fds[fd].rd || loop->fds[fd].wr;
	h = handle_new(loop, kind, cb, arg, hp);
	if (!h)
		return -ENOMEM;
	h->fd = fd;
	*slot = h;
	err = fd_update(loop, fd, had);
	if (err) {
		*slot = NULL;
		free(h);
		return err;
	}
	handle_publish(h);
	return 0;
}

int ev_reader_add(struct ev_loop *loop, int fd, ev_cb *cb, void *arg, struct ev_handle **hp)
{
	return fd_add(loop, fd, EVK_READ, cb, arg, hp);
}

int ev_writer_add(struct ev_loop *loop, int fd, ev_cb *cb, void *arg, struct ev_handle **hp)
{
	return fd_add(loop, fd, EVK_WRITE, cb, arg, hp);
}

/* ---- zmq ---------------------------------------------------------------- */

static int zmq_add(struct ev_loop *loop, void *zsock, short zevents, ev_cb *cb, void *arg,
		   struct ev_handle **hp)
{
	struct ev_handle *h;

	if (!loop || !zsock || !cb)
		return -EINVAL;
	h = handle_new(loop, EVK_ZMQ, cb, arg, hp);
	if (!h)
		return -ENOMEM;
	h->zsock = zsock;
	h->zevents = zevents;
	list_push(&loop->zmq_list, h);
	loop->n_zmq++;
	loop->items_dirty = true;
	handle_publish(h);
	return 0;
}

int ev_zmq_reader_add(struct ev_loop *loop, void *zsock, ev_cb *cb, void *arg,
		      struct ev_handle **hp)
{
	return zmq_add(loop, zsock, ZMQ_POLLIN, cb, arg, hp);
}

int ev_zmq_writer_add(struct ev_loop *loop, void *zsock, ev_cb *cb, void *arg,
		      struct ev_handle **hp)
{
	return zmq_add(loop, zsock, ZMQ_POLLOUT, cb, arg, hp);
}

/* Only between iterations: dispatch walks the arrays. */
static int items_rebuild(struct ev_loop *loop)
{
	size_t need = 1 + loop->n_zmq, i = 1;

	if (need > loop->items_cap) {
		size_t cap = loop->items_cap;
		while (cap < need)
			cap *= 2;
		zmq_pollitem_t *items = realloc(loop->items, cap * sizeof(*items));
		if (!items)
			return -ENOMEM;
		loop->items = items;
		struct ev_handle **ih = realloc(loop->items_h, cap * sizeof(*ih));
		if (!ih)
			return -ENOMEM;
		loop->items_h = ih;
		loop->items_cap = cap;
	}
	loop->items[0] = (zmq_pollitem_t){ .fd = loop->epfd, .events = ZMQ_POLLIN };
	loop->items_h[0] = NULL;
	for (struct ev_handle *h = loop->zmq_list; h; h = h->next, i++) {
		loop->items[i] = (zmq_pollitem_t){ .socket = h->zsock, .events = h->zevents };
		loop->items_h[i] = h;
	}
	loop->n_items = i;
	loop->items_dirty = false;
	return 0;
}

/* ---- timers --------------------------------------------------------------- */

static int timer_add(struct ev_loop *loop, uint64_t ms, uint64_t interval_ms, ev_cb *cb,
		     void *arg, struct ev_handle **hp)
{
	struct ev_handle *h;
	int err;

	if (!loop || !cb)
		return -EINVAL;
	if (ms > UINT64_MAX / 2000000ull)
		return -ERANGE;
	ev_cancel(hp);
	err = heap_reserve(loop);
	if (err)
		return err;
	h = handle_new(loop, EVK_TIMER, cb, arg, hp);
	if (!h)
		return -ENOMEM;
	/* Rounded up, so never early; whole ms, so equal delays added within
	 * one millisecond really tie and fire in add order. 0 ms: due now. */
	h->deadline_ms = ms ? (mono_ns() + NS_PER_MS - 1) / NS_PER_MS + ms : ev_now_ms();
	h->interval_ms = interval_ms;
	h->seq = loop->seq++;
	heap_push(loop, h);
	handle_publish(h);
	return 0;
}

int ev_timer_add(struct ev_loop *loop, uint64_t ms, ev_cb *cb, void *arg, struct ev_handle **hp)
{
	return timer_add(loop, ms, 0, cb, arg, hp);
}

int ev_timer_periodic_add(struct ev_loop *loop, uint64_t ms, ev_cb *cb, void *arg,
			  struct ev_handle **hp)
{
	if (ms == 0)
		return -EINVAL;
	return timer_add(loop, ms, ms, cb, arg, hp);
}

/* A failure leaves armed_ms alone, so the next iteration tries again. */
static int timer_arm(struct ev_loop *loop)
{
	uint64_t want = loop->heap_len ? loop->heap[0]->deadline_ms : 0;
	struct itimerspec its = { 0 };

	if (want == loop->armed_ms)
		return 0;
	/* An absolute deadline already past fires at once: nothing is lost. */
	its.it_value.tv_sec = (time_t)(want / 1000ull);
	its.it_value.tv_nsec = (long)(want % 1000ull * NS_PER_MS);
	if (timerfd_settime(loop->tfd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
		return -errno;
	loop->armed_ms = want;
	return 0;
}

/* Timers queued or re-queued at or after seq_limit wait for the next pass. */
static void timers_run(struct ev_loop *loop, uint64_t seq_limit)
{
	uint64_t now = ev_now_ms();

	while (loop->heap_len) {
		struct ev_handle *h = loop->heap[0];
		int what = 1;

		if (h->deadline_ms > now || h->seq >= seq_limit)
			break;
		heap_remove(loop, h);
		if (h->interval_ms) {
			h->deadline_ms += h->interval_ms;
			if (h->deadline_ms <= now) {
				uint64_t missed = (now - h->deadline_ms) / h->interval_ms + 1;
				h->deadline_ms += missed * h->interval_ms;
				what += missed > INT32_MAX ? INT32_MAX - 1 : (int)missed;
			}
			/* Room exists: we just removed h. The new deadline is
			 * after now, so this pass cannot take it again. */
			heap_push(loop, h);
			loop->ncalls++;
			h->cb(loop, h->arg, what);
			continue;
		}
		/* One-shot: clear the caller's pointer first (see ev.h). */
		if (h->owner && *h->owner == h)
			*h->owner = NULL;
		h->owner = NULL;
		h->dead = true;
		loop->ncalls++;
		h->cb(loop, h->arg, what);
		/* Freed after dispatch like any ended handle, so a copy of the
		 * pointer may still be cancelled in this pass (see ev.h). */
		h->zombie_next = loop->zombies;
		loop->zombies = h;
	}
}

/* ---- signals and notify ------------------------------------------------------- */

static int sig_update(struct ev_loop *loop)
{
	return signalfd(loop->sfd, &loop->sigmask, SFD_NONBLOCK | SFD_CLOEXEC) < 0 ? -errno : 0;
}

static bool signo_ok(int signo)
{
	sigset_t one;

	sigemptyset(&one);
	return sigaddset(&one, signo) == 0 && signo != SIGKILL && signo != SIGSTOP;
}

int ev_block_signals(const int *signals, size_t n)
{
	sigset_t set;

	if (!signals && n)
		return -EINVAL;
	sigemptyset(&set);
	for (size_t i = 0; i < n; i++) {
		if (!signo_ok(signals[i]))
			return -EINVAL;
		sigaddset(&set, signals[i]);
	}
	return -pthread_sigmask(SIG_BLOCK, &set, NULL);
}

int ev_signal_add(struct ev_loop *loop, int signo, ev_cb *cb, void *arg, struct ev_handle **hp)
{
	struct ev_handle *h;
	sigset_t one;
	int err;

	if (!loop || !cb || !signo_ok(signo))
		return -EINVAL;
	sigemptyset(&one);
	sigaddset(&one, signo);
	h = handle_new(loop, EVK_SIGNAL, cb, arg, hp);
	if (!h)
		return -ENOMEM;
	h->signo = signo;
	err = -pthread_sigmask(SIG_BLOCK, &one, NULL);
	if (!err && !sigismember(&loop->sigmask, signo)) {
		sigaddset(&loop->sigmask, signo);
		err = sig_update(loop);
		/* No handler has signo now (it was not in the mask), so take it
		 * out again: else the next sig_update() would route it into the
		 * signalfd, where signals_run() would drop it unseen. */
		if (err)
			sigdelset(&loop->sigmask, signo);
	}
	if (err) {
		free(h);
		return err;
	}
	list_push(&loop->sig_list, h);
	handle_publish(h);
	return 0;
}

static void signals_run(struct ev_loop *loop)
{
	struct signalfd_siginfo si[8];
	ssize_t n = read(loop->sfd, si, sizeof(si));

	for (ssize_t i = 0; n > 0 && i < n / (ssize_t)sizeof(si[0]); i++) {
		int signo = (int)si[i].ssi_signo;
		for (struct ev_handle *h = loop->sig_list; h; h = h->next) {
			/* No iter_added guard: the siginfo is read here, during
			 * dispatch, so a handler added earlier in this pass
			 * cannot see a stale result, and skipping it would lose
			 * the signal for good. */
			if (h->dead || h->signo != signo)
				continue;
			loop->ncalls++;
			h->cb(loop, h->arg, signo);
		}
	}
}

int ev_notify_add(struct ev_loop *loop, ev_cb *cb, void *arg, struct ev_handle **hp)
{
	struct ev_handle *h;

	if (!loop || !cb)
		return -EINVAL;
	h = handle_new(loop, EVK_NOTIFY, cb, arg, hp);
	if (!h)
		return -ENOMEM;
	list_push(&loop->notify_list, h);
	handle_publish(h);
	return 0;
}

void ev_notify(struct ev_loop *loop)
{
	uint64_t one = 1;
	int saved = errno; /* async-signal-safe: the interrupted code's errno */

	/* EAGAIN means the counter is saturated: a wake-up is pending anyway. */
	if (write(loop->efd, &one, sizeof(one)) < 0)
		errno = saved;
}

static void notify_run(struct ev_loop *loop)
{
	uint64_t v;

	/* Reset before the handlers drain (see "Wake-ups" in ev.h). */
	if (read(loop->efd, &v, sizeof(v)) < 0)
		return;
	for (struct ev_handle *h = loop->notify_list; h; h = h->next) {
		if (h->dead || h->iter_added == loop->iter)
			continue;
		loop->ncalls++;
		h->cb(loop, h->arg, 0);
	}
}

/* ---- cancel ------------------------------------------------------------------ */

void ev_cancel(struct ev_handle **hp)
{
	struct ev_handle *h;
	struct ev_loop *loop;

	if (!hp || !*hp)
		return;
	h = *hp;
	*hp = NULL;
	/* Reached through a copy of the pointer: the handle already left every
	 * structure (a one-shot in its callback, or cancelled earlier in this
	 * pass) and dispatch frees it; unlinking it again would corrupt them. */
	if (h->dead)
		return;
	loop = h->loop;
	h->owner = NULL;
	h->dead = true;
	switch (h->kind) {
	case EVK_READ:
	case EVK_WRITE: {
		struct ev_fdrec *r = &loop->fds[h->fd];
		if (h->kind == EVK_READ)
			r->rd = NULL;
		else
			r->wr = NULL;
		(void)fd_update(loop, h->fd, true);
		break;
	}
	case EVK_ZMQ:
		list_unlink(&loop->zmq_list, h);
		loop->n_zmq--;
		loop->items_dirty = true;
		break;
	case EVK_TIMER:
		heap_remove(loop, h);
		break;
	case EVK_SIGNAL: {
		bool other = false;
		list_unlink(&loop->sig_list, h);
		for (struct ev_handle *s = loop->sig_list; s; s = s->next)
			other |= s->signo == h->signo;
		if (!other) {
			sigdelset(&loop->sigmask, h->signo);
			(void)sig_update(loop);
		}
		break;
	}
	case EVK_NOTIFY:
		list_unlink(&loop->notify_list, h);
		break;
	}
	if (loop->dispatching) {
		h->zombie_next = loop->zombies;
		loop->zombies = h;
	} else {
		free(h);
	}
}

/* ---- running --------------------------------------------------------------- */

static void fd_dispatch(struct ev_loop *loop, int fd, uint32_t events)
{
	int what = ((events & EPOLLIN) ? EV_READ : 0) | ((events & EPOLLOUT) ? EV_WRITE : 0) |
		   ((events & (EPOLLERR | EPOLLHUP)) ? EV_ERROR : 0);
	struct ev_handle *h;

	if ((size_t)fd >= loop->nfds)
		return;
	h = loop->fds[fd].rd;
	if (h && (what & (EV_READ | EV_ERROR)) && h->iter_added != loop->iter) {
		loop->ncalls++;
		h->cb(loop, h->arg, what & (EV_READ | EV_ERROR));
	}
	/* Look again: the reader may have cancelled the writer or grown fds. */
	h = loop->fds[fd].wr;
	if (h && (what & (EV_WRITE | EV_ERROR)) && h->iter_added != loop->iter) {
		loop->ncalls++;
		h->cb(loop, h->arg, what & (EV_WRITE | EV_ERROR));
	}
}

static void epoll_dispatch(struct ev_loop *loop)
{
	int n = epoll_wait(loop->epfd, loop->events, EV_MAX_EVENTS, 0);
	bool timer_fired = false;

	for (int i = 0; i < n; i++) {
		uint64_t tag = loop->events[i].data.u64;

		if (tag == EV_TAG_TIMER)
			timer_fired = true;
		else if (tag == EV_TAG_SIGNAL)
			signals_run(loop);
		else if (tag == EV_TAG_NOTIFY)
			notify_run(loop);
		else
			fd_dispatch(loop, (int)tag, loop->events[i].events);
	}
	if (timer_fired) {
		uint64_t expirations;
		if (read(loop->tfd, &expirations, sizeof(expirations)) > 0)
			loop->armed_ms = 0; /* expired timerfds are disarmed */
	}
}

int ev_run_once(struct ev_loop *loop, int timeout_ms)
{
	uint64_t seq_limit;
	int rc, err;

	if (loop->dispatching)
		return -EBUSY;
	if (loop->items_dirty) {
		err = items_rebuild(loop);
		if (err)
			return err;
	}
	err = timer_arm(loop);
	if (err)
		return err;
	loop->iter++;
	rc = zmq_poll(loop->items, (int)loop->n_items, timeout_ms);
	if (rc < 0)
		return zmq_errno() == EINTR ? 0 : -zmq_errno();

	loop->dispatching = true;
	loop->ncalls = 0;
	seq_limit = loop->seq;
	if (loop->items[0].revents)
		epoll_dispatch(loop);
	/* Always: a 0 ms timer or a late wake-up must not wait for the timerfd. */
	timers_run(loop, seq_limit);
	for (size_t i = 1; i < loop->n_items; i++) {
		struct ev_handle *h = loop->items_h[i];
		short re = loop->items[i].revents;
		/* libzmq never reports ZMQ_POLLERR for sockets (see ev.h). */
		int what = ((re & ZMQ_POLLIN) ? EV_READ : 0) | ((re & ZMQ_POLLOUT) ? EV_WRITE : 0);

		if (!what || h->dead || h->iter_added == loop->iter)
			continue;
		loop->ncalls++;
		h->cb(loop, h->arg, what);
	}
	loop->dispatching = false;

	while (loop->zombies) {
		struct ev_handle *z = loop->zombies;
		loop->zombies = z->zombie_next;
		free(z);
	}
	return loop->ncalls;
}

/* stop is cleared on the way out, not on entry: an ev_stop() made before
 * ev_run() (from an ev_run_once() callback during start-up) must hold. */
int ev_run(struct ev_loop *loop)
{
	int rc = 0;

	while (!loop->stop && rc >= 0)
		rc = ev_run_once(loop, -1);
	loop->stop = false;
	return rc < 0 ? rc : 0;
}

void ev_stop(struct ev_loop *loop)
{
	loop->stop = true;
}
