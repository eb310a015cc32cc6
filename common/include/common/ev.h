/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The control-thread event loop.
 *
 * Every daemon's control thread runs exactly one loop. It sleeps in one
 * place only: zmq_poll() over the daemon's ZeroMQ sockets plus one epoll
 * descriptor. Everything that is a plain descriptor lives inside that epoll
 * set: the caller's fds, one timerfd driving a min-heap of timers, one
 * signalfd and one eventfd for wake-ups from worker threads. So zmq_poll sees
 * "1 + number of ZeroMQ sockets" items, libzmq's stack buffer (16 items) is
 * enough for any daemon, and the steady state allocates nothing: memory is
 * taken when an event is added (and, for the zmq item array, when the set of
 * sockets grows), never per iteration.
 *
 * Handles (the FRR rule). Each add function takes `struct ev_handle **hp`,
 * a pointer the caller owns (usually a struct member), which must be NULL or
 * hold a live handle:
 *   - the add stores the new handle in *hp; if *hp already held a live
 *     handle, that event is cancelled first, so "add again" is "re-arm";
 *   - ev_cancel(hp) cancels the event and sets *hp to NULL; on NULL it does
 *     nothing, so cancelling twice or cancelling a fired timer is harmless;
 *   - when a one-shot timer fires, the loop sets *hp to NULL *before* it
 *     calls the callback, so inside the callback and after it the caller's
 *     pointer can never name a dead handle, and the callback may re-add
 *     itself through the same pointer.
 * The loop keeps `hp` and writes through it, so the storage behind hp must
 * stay valid until the event is cancelled or (one-shot timer) has fired:
 * cancel your events before freeing the struct that holds their handles.
 * hp may be NULL for an event that will never be cancelled (it then lives
 * until ev_loop_free()).
 *
 * Fd readers and writers, ZeroMQ readers, periodic timers, signals and
 * notify handlers stay armed until cancelled; one-shot timers fire once.
 *
 * Re-entrancy. Any add or cancel is allowed from inside any callback,
 * including cancelling the running event and events that are ready later in
 * the same iteration. A cancelled event is never called again, even if the
 * poll already reported it ready: cancelled handles are marked dead and freed
 * only after the iteration's dispatch ends. Events added during dispatch are
 * first considered in the next iteration.
 *
 * ZeroMQ sockets. ZMQ_FD is edge-triggered; we never poll it ourselves but
 * hand the socket to zmq_poll, which checks ZMQ_EVENTS before it sleeps. So
 * a reader may take one message or a bounded batch per call (non-blocking,
 * ZMQ_DONTWAIT) and return: if messages are still queued, the next zmq_poll
 * returns at once and calls the reader again. Readers must not loop until
 * EAGAIN without bound (that starves every other event), and must not block.
 *
 * Signals. ev_signal_add() blocks the signal in the calling thread and
 * routes it through a signalfd. A process-directed signal is delivered to any
 * thread that does not block it, so the mask must be in place in every
 * thread: add the loop's signals (or block them with pthread_sigmask) before
 * creating worker threads, which inherit the mask. Cancelling a signal event
 * leaves the signal blocked (unblocking could deliver a pending one with its
 * default action); ev_loop_free() does not unblock either.
 *
 * Wake-ups. Worker threads never call ZeroMQ: they push work onto a lock-free
 * queue and call ev_notify(), which writes the loop's eventfd. Wake-ups
 * coalesce: any number of ev_notify() calls before the loop runs produce at
 * least one call of each notify handler, after the eventfd has been reset. A
 * handler must therefore drain its queue completely; because the reset comes
 * before the handlers run, a push that races with the drain is either seen by
 * this drain or triggers another wake-up, never lost.
 *
 * Threads. Everything here except ev_notify() must be called from the thread
 * that runs the loop (or before it runs). ev_notify() may be called from any
 * thread, and is async-signal-safe, as long as the loop exists.
 */
#ifndef LOOM_COMMON_EV_H
#define LOOM_COMMON_EV_H

#include <stdint.h>

struct ev_loop;
struct ev_handle;

/*
 * One callback type for every event. `what` depends on the event:
 *   fd reader/writer, ZeroMQ reader: the EV_READ/EV_WRITE/EV_ERROR bits seen
 *   timer: the number of expirations since the last call (periodic timers
 *          that fell behind get >1 and skip the missed ones), 1 for one-shot
 *   signal: the signal number
 *   notify: 0
 */
typedef void ev_cb(struct ev_loop *loop, void *arg, int what);

enum {
	EV_READ = 1 << 0,
	EV_WRITE = 1 << 1,
	EV_ERROR = 1 << 2, /* error or hang-up: read or write to find out */
};

/* Returns NULL with errno set on failure. */
struct ev_loop *ev_loop_new(void);
/* Frees every remaining handle (without calling it) and clears the caller's
 * handle pointers. Must not be called from inside a callback. */
void ev_loop_free(struct ev_loop *loop);

/* Run until ev_stop(). Returns 0 after ev_stop(), negative errno on a poll
 * failure (e.g. -ETERM when the ZeroMQ context is terminated). */
int ev_run(struct ev_loop *loop);
/* Make ev_run() return once the current iteration's dispatch is done. */
void ev_stop(struct ev_loop *loop);
/*
 * One iteration: poll at most timeout_ms (-1: forever, 0: do not sleep), then
 * dispatch. Returns the number of callbacks called, or negative errno.
 * EINTR counts as an empty iteration.
 */
int ev_run_once(struct ev_loop *loop, int timeout_ms);

/* Plain descriptors. Level-triggered: the callback is called while the fd is
 * ready. A reader is also called on error/hang-up (EV_ERROR) so it sees EOF.
 * At most one reader and one writer per fd (-EEXIST otherwise). The loop
 * never closes fd; cancel before closing it. */
int ev_reader_add(struct ev_loop *loop, int fd, ev_cb *cb, void *arg, struct ev_handle **hp);
int ev_writer_add(struct ev_loop *loop, int fd, ev_cb *cb, void *arg, struct ev_handle **hp);

/* A ZeroMQ socket with a message to read (see "ZeroMQ sockets" above). */
int ev_zmq_reader_add(struct ev_loop *loop, void *zsock, ev_cb *cb, void *arg,
		      struct ev_handle **hp);

/* Timers on CLOCK_MONOTONIC with millisecond resolution. One-shot: fires once
 * after ms (0: in the next iteration). Periodic: every ms (> 0) measured from
 * the previous deadline, so it does not drift. Timers due in the same
 * iteration fire in deadline order, ties in the order they were added. */
int ev_timer_add(struct ev_loop *loop, uint64_t ms, ev_cb *cb, void *arg, struct ev_handle **hp);
int ev_timer_periodic_add(struct ev_loop *loop, uint64_t ms, ev_cb *cb, void *arg,
			  struct ev_handle **hp);

/* A signal, delivered through the loop's signalfd (see "Signals" above).
 * Several handlers for one signal are all called, newest first. */
int ev_signal_add(struct ev_loop *loop, int signo, ev_cb *cb, void *arg, struct ev_handle **hp);

/* A handler called after ev_notify() (see "Wake-ups" above). */
int ev_notify_add(struct ev_loop *loop, ev_cb *cb, void *arg, struct ev_handle **hp);
/* Wake the loop from any thread or signal handler. Never blocks. */
void ev_notify(struct ev_loop *loop);

/* Cancel the event *hp names and set *hp to NULL. NULL hp or *hp: no-op. */
void ev_cancel(struct ev_handle **hp);

/* The loop's monotonic clock in milliseconds, read now. */
uint64_t ev_now_ms(void);

#endif
