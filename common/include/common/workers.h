/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A data plane's worker threads, as every daemon's control thread starts and
 * stops them: one per online core unless configured, each running the same
 * function on its own argument, all stopped by one flag they poll.
 * Control thread only.
 */
#ifndef LOOM_COMMON_WORKERS_H
#define LOOM_COMMON_WORKERS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

/* How many workers by default: the online cores, 1 if that is unknown or
 * above max. */
unsigned loom_workers_default(unsigned max);

/*
 * Start n threads: thread i runs fn(args + i * stride). On failure *stop is
 * set, the threads already started are joined, and the error (-errno) is
 * returned: no thread is left running.
 */
int loom_workers_start(pthread_t *threads, unsigned n, void *(*fn)(void *), void *args,
		       size_t stride, atomic_bool *stop);

/* Set *stop and join the n threads started by loom_workers_start(). */
void loom_workers_join(pthread_t *threads, unsigned n, atomic_bool *stop);

#endif
