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
 * Copies. Only the pointer given to the add is cleared by the loop. A copy
 * kept elsewhere (a second struct) may be passed to ev_cancel() while the
 * event is live, and also during the iteration in which the event ended (a
 * one-shot inside its own callback, or an event cancelled earlier in the
 * same dispatch): that is a no-op that clears the copy. After that
 * iteration the copy dangles; clear copies when the event ends.
 *
 * Fd readers and writers, ZeroMQ readers and writers, periodic timers,
 * signals and notify handlers stay armed until cancelled; one-shot timers
 * fire once.
 *
 * Re-entrancy. Any add or cancel is allowed from inside any callback,
 * including cancelling the running event and events that are ready later in
 * the same iteration. A cancelled event is never called again, even if the
 * poll already reported it ready: cancelled handles are marked dead and freed
 * only after the iteration's dispatch ends. Events added during dispatch are
 * first considered in the next iteration (a poll result that predates them,
 * e.g. for a reused fd number, is never delivered to them), except signal
 * handlers: the signalfd is read during dispatch, so a handler added in the
 * same dispatch also sees the signals read after it was added.
 *
 * ZeroMQ sockets. ZMQ_FD is edge-triggered; we never poll it ourselves but
 * hand the socket to zmq_poll, which checks ZMQ_EVENTS before it sleeps. So
 * a reader may take one message or a bounded batch per call (non-blocking,
 * ZMQ_DONTWAIT) and return: if messages are still queued, the next zmq_poll
 * returns at once and calls the reader again. Readers must not loop until
 * EAGAIN without bound (that starves every other event), and must not block.
 * A ZeroMQ writer is called while the socket can take a message without
 * blocking (ZMQ_POLLOUT): add it after zmq_send() failed with EAGAIN (high
 * water mark reached), send until EAGAIN or done, and cancel it when done,
 * or it is called on every iteration. EV_ERROR is never reported for a
 * ZeroMQ socket (libzmq has no error readiness for sockets); errors show up
 * as the return value of zmq_recv()/zmq_send(). A callback may cancel its
 * own event and zmq_close() the socket.
 *
 * Signals. ev_signal_add() blocks the signal in the calling thread and
 * routes it through a signalfd. A process-directed signal is delivered to any
 * thread that does not block it, and a signalfd reads only the signals
 * pending for the process or its own thread, so the signal must be blocked
 * in every thread of the process. Threads inherit the mask of the thread
 * that creates them, and nothing here can check the masks of threads that
 * already exist. Hence the order, in the thread that will run the loop:
 *   1. ev_block_signals() with every signal the daemon will ever handle,
 *      before creating any thread: data-path threads, liburcu's call_rcu
 *      thread, and any thread a library starts behind your back (libzmq's
 *      own threads block every signal themselves);
 *   2. create threads;
 *   3. ev_signal_add() for those signals, at any time. A signal that
 *      arrives between 1 and 3 stays pending and is delivered then.
 * Cancelling a signal event leaves the signal blocked (unblocking could
 * deliver a pending one with its default action); ev_loop_free() does not
 * unblock either.
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
 * thread, and is async-signal-safe (it keeps errno), as long as the loop
 * exists.
 */
#ifndef LOOM_COMMON_EV_H
#define LOOM_COMMON_EV_H

#include <stddef.h>
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
	EV_ERROR = 1 << 2, /* error or hang-up: read or write to find out;
			    * plain fds only, never for ZeroMQ sockets */
};

/* Returns NULL with errno set on failure. */
struct ev_loop *ev_loop_new(void);
/* Frees every remaining handle (without calling it) and clears the caller's
 * handle pointers. Must not be called from inside a callback. */
void ev_loop_free(struct ev_loop *loop);

/* Run until ev_stop(). Returns 0 after ev_stop(), negative errno on a poll
 * or timer failure (e.g. -ETERM when the ZeroMQ context is terminated).
 * Either way the stop request is consumed: the next ev_run() runs again. */
int ev_run(struct ev_loop *loop);
/* Make ev_run() return once the current iteration's dispatch is done. Made
 * outside ev_run() (before it, e.g. from a callback of an ev_run_once() during
 * start-up), it makes the next ev_run() return after no iteration at all.
 * Not async-signal-safe: stop from a signal event (ev_signal_add). */
void ev_stop(struct ev_loop *loop);
/*
 * One iteration: poll at most timeout_ms (-1: forever, 0: do not sleep), then
 * dispatch. Returns the number of callbacks called, or negative errno:
 * -EBUSY from inside a callback, the poll's error, or the error of arming
 * the timerfd (then no timer could fire; nothing was polled or dispatched,
 * and the next call tries again). EINTR counts as an empty iteration.
 */
int ev_run_once(struct ev_loop *loop, int timeout_ms);

/* Plain descriptors. Level-triggered: the callback is called while the fd is
 * ready. A reader is also called on error/hang-up (EV_ERROR) so it sees EOF.
 * At most one reader and one writer per fd (-EEXIST otherwise). The loop
 * never closes fd; cancel before closing it. */
int ev_reader_add(struct ev_loop *loop, int fd, ev_cb *cb, void *arg, struct ev_handle **hp);
int ev_writer_add(struct ev_loop *loop, int fd, ev_cb *cb, void *arg, struct ev_handle **hp);

/* A ZeroMQ socket with a message to read, or (writer) room to send one;
 * see "ZeroMQ sockets" above. what is EV_READ or EV_WRITE. */
int ev_zmq_reader_add(struct ev_loop *loop, void *zsock, ev_cb *cb, void *arg,
		      struct ev_handle **hp);
int ev_zmq_writer_add(struct ev_loop *loop, void *zsock, ev_cb *cb, void *arg,
		      struct ev_handle **hp);

/*
 * Timers on CLOCK_MONOTONIC with millisecond resolution: a deadline is a
 * whole millisecond, the time of the add rounded up to the next whole
 * millisecond, plus ms. So a timer never fires early, and fires when
 * ev_now_ms() has reached its deadline (up to 1 ms after add + ms). One-shot:
 * fires once at that deadline (ms 0: due at once, deadline ev_now_ms(), so it
 * runs in the next iteration, without waiting). Periodic: then
 * every ms (> 0) after the previous deadline, never from "now", so it does
 * not drift. Timers due in the same iteration fire in deadline order; equal
 * deadlines (e.g. equal ms added within one millisecond) fire in the order
 * the timers were added, and a periodic timer keeps its place in that order
 * across re-arms. Re-adding through the same hp is a new add.
 */
int ev_timer_add(struct ev_loop *loop, uint64_t ms, ev_cb *cb, void *arg, struct ev_handle **hp);
int ev_timer_periodic_add(struct ev_loop *loop, uint64_t ms, ev_cb *cb, void *arg,
			  struct ev_handle **hp);

/* A signal, delivered through the loop's signalfd (see "Signals" above).
 * Several handlers for one signal are all called, newest first. -EINVAL for
 * SIGKILL, SIGSTOP or a number that is not a signal. On failure nothing
 * changes except that signo may stay blocked in the calling thread. */
int ev_signal_add(struct ev_loop *loop, int signo, ev_cb *cb, void *arg, struct ev_handle **hp);
/* Block the n signals in the calling thread (pthread_sigmask), so that threads
 * it creates afterwards inherit the block: step 1 of "Signals" above, for the
 * daemon skeleton before it creates any thread. Needs no loop. 0, or -EINVAL
 * (nothing blocked) if one is SIGKILL, SIGSTOP or not a signal. */
int ev_block_signals(const int *signals, size_t n);

/* A handler called after ev_notify() (see "Wake-ups" above). */
int ev_notify_add(struct ev_loop *loop, ev_cb *cb, void *arg, struct ev_handle **hp);
/* Wake the loop from any thread or signal handler. Never blocks; keeps errno. */
void ev_notify(struct ev_loop *loop);

/* Cancel the event *hp names and set *hp to NULL. NULL hp or *hp: no-op; so
 * is a handle that already ended in this iteration (see "Copies" above). */
void ev_cancel(struct ev_handle **hp);

/* The loop's monotonic clock in milliseconds, read now. */
uint64_t ev_now_ms(void);

#endif
