// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <linux/membarrier.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "shm-internal.h"
#include "shm/rcu.h"

/* How long a slot may hold up a grace period before we ask whether its
 * owner is still alive: a live reader's section is normally far shorter. */
#define RCU_CHECK_DEAD_NS 200000ULL
/* Spin this long, then sleep in short steps. */
#define RCU_SPIN_NS 20000ULL
#define RCU_SLEEP_NS 50000L

#if defined(__x86_64__) || defined(__i386__)
#define cpu_relax() __builtin_ia32_pause()
#else
#define cpu_relax() atomic_signal_fence(memory_order_seq_cst)
#endif

static _Atomic int membarrier_state; /* 0 unknown, 1 available, -1 not */
static _Atomic pid_t membarrier_pid;  /* registration is per process: redo after fork */

static int membarrier(int cmd)
{
	return (int)syscall(__NR_membarrier, cmd, 0, 0);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

size_t shm_rcu_area_size(uint32_t nslots)
{
	return sizeof(struct shm_rcu_area) + (size_t)nslots * sizeof(struct shm_rcu_slot);
}

void shm_rcu_area_init(struct shm_rcu_area *area, uint32_t nslots)
{
	memset(area, 0, shm_rcu_area_size(nslots));
	area->nslots = nslots;
	atomic_store(&area->gp, 1);
}

/* Register this process for the writer's membarrier; once per process. */
static bool reader_barrier_ready(void)
{
	int st = atomic_load(&membarrier_state);

	if (st == 0 || atomic_load(&membarrier_pid) != getpid()) {
		int q = membarrier(MEMBARRIER_CMD_QUERY);
		st = -1;
		if (q > 0 && (q & MEMBARRIER_CMD_GLOBAL_EXPEDITED) &&
		    membarrier(MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED) == 0)
			st = 1;
		atomic_store(&membarrier_state, st);
		atomic_store(&membarrier_pid, getpid());
	}
	return st == 1;
}

/*
 * The writer's half of the reader barrier. Readers chose, at registration,
 * whether to rely on it (see reader_barrier_ready), so if the kernel offers
 * the expedited command we must issue it; should it fail at run time, the
 * slow global membarrier (a full RCU grace period in the kernel) still
 * orders every CPU.
 */
static void writer_barrier(void)
{
	atomic_thread_fence(memory_order_seq_cst);
	if (!reader_barrier_ready())
		return;
	if (membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED) < 0)
		membarrier(MEMBARRIER_CMD_GLOBAL);
}

static void reap_slot(struct shm_rcu_area *area, struct shm_rcu_slot *s, uint64_t owner)
{
	/* Clear ctr first: once owner is 0 the slot may be claimed again. */
	atomic_store_explicit(&s->ctr, 0, memory_order_release);
	atomic_store_explicit(&s->tid, 0, memory_order_relaxed);
	if (atomic_compare_exchange_strong(&s->owner, &owner, 0))
		atomic_fetch_add_explicit(&area->reaped, 1, memory_order_relaxed);
}

int shm_rcu_register(struct shm_rcu_area *area, uint32_t nslots, struct shm_rcu_reader *r)
{
	uint64_t self = shm_owner_self();
	uint32_t tid = (uint32_t)gettid();

	memset(r, 0, sizeof(*r));
	r->fence = !reader_barrier_ready();
	for (int pass = 0; pass < 2; pass++) {
		for (uint32_t i = 0; i < nslots; i++) {
			struct shm_rcu_slot *s = &area->slots[i];
			uint64_t expect = 0;

			if (atomic_load_explicit(&s->owner, memory_order_relaxed) != 0)
				continue;
			/* ctr is 0 in a free slot: claiming cannot hold up a writer */
			if (atomic_compare_exchange_strong(&s->owner, &expect, self)) {
				atomic_store(&s->tid, tid);
				r->area = area;
				r->slot = s;
				return 0;
			}
		}
		/* every slot taken: free the ones whose owners have died */
		if (pass == 0 && shm_rcu_reap(area, nslots) == 0)
			break;
	}
	return -ENOSPC;
}

void shm_rcu_unregister(struct shm_rcu_reader *r)
{
	if (!r->slot)
		return;
	uint64_t owner = atomic_load(&r->slot->owner);
	atomic_store_explicit(&r->slot->ctr, 0, memory_order_release);
	atomic_store(&r->slot->tid, 0);
	atomic_compare_exchange_strong(&r->slot->owner, &owner, 0);
	r->slot = NULL;
	r->area = NULL;
}

unsigned shm_rcu_reap(struct shm_rcu_area *area, uint32_t nslots)
{
	unsigned n = 0;

	for (uint32_t i = 0; i < nslots; i++) {
		struct shm_rcu_slot *s = &area->slots[i];
		uint64_t owner = atomic_load(&s->owner);

		if (owner && shm_owner_dead(owner, atomic_load(&s->tid))) {
			reap_slot(area, s, owner);
			n++;
		}
	}
	return n;
}

static void record(struct shm_rcu_area *area, uint64_t ns)
{
	atomic_fetch_add_explicit(&area->gp_count, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&area->gp_total_ns, ns, memory_order_relaxed);
	if (ns > atomic_load_explicit(&area->gp_max_ns, memory_order_relaxed))
		atomic_store_explicit(&area->gp_max_ns, ns, memory_order_relaxed);
}

int shm_rcu_synchronize(struct shm_rcu_area *area, uint32_t nslots, uint64_t timeout_ns,
			uint32_t *stalled_pid)
{
	uint64_t start = now_ns();
	uint64_t gp = atomic_fetch_add(&area->gp, 1) + 1;

	/*
	 * Order the unlinking stores before every reader's next loads. A reader
	 * that entered its section with the old gp either published ctr before
	 * this barrier (we see it below and wait) or will load the protected
	 * pointers after it (and sees only what is still linked).
	 */
	writer_barrier();

	for (uint32_t i = 0; i < nslots; i++) {
		struct shm_rcu_slot *s = &area->slots[i];
		uint64_t next_check = RCU_CHECK_DEAD_NS;

		for (;;) {
			uint64_t c = atomic_load_explicit(&s->ctr, memory_order_acquire);
			if (c == 0 || c >= gp)
				break;
			uint64_t waited = now_ns() - start;
			uint64_t owner = atomic_load(&s->owner);
			if (owner == 0)
				break;
			if (waited > next_check) {
				/* a reader that outlives its section by this much may be dead */
				next_check = waited + RCU_CHECK_DEAD_NS;
				if (shm_owner_dead(owner, atomic_load(&s->tid))) {
					reap_slot(area, s, owner);
					break;
				}
			}
			if (waited > timeout_ns) {
				if (stalled_pid)
					*stalled_pid = shm_owner_pid(owner);
				atomic_fetch_add_explicit(&area->gp_timeouts, 1,
							  memory_order_relaxed);
				return -ETIMEDOUT;
			}
			if (waited < RCU_SPIN_NS) {
				cpu_relax();
			} else {
				struct timespec ts = { 0, RCU_SLEEP_NS };
				nanosleep(&ts, NULL);
			}
		}
	}
	atomic_store_explicit(&area->completed, gp, memory_order_relaxed);
	record(area, now_ns() - start);
	return 0;
}

void shm_rcu_get_stats(struct shm_rcu_area *area, uint32_t nslots, struct shm_rcu_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->gp = atomic_load(&area->gp);
	st->gp_count = atomic_load(&area->gp_count);
	st->gp_total_ns = atomic_load(&area->gp_total_ns);
	st->gp_max_ns = atomic_load(&area->gp_max_ns);
	st->gp_timeouts = atomic_load(&area->gp_timeouts);
	st->reaped = atomic_load(&area->reaped);
	st->slots_total = nslots;
	for (uint32_t i = 0; i < nslots; i++) {
		if (atomic_load(&area->slots[i].owner))
			st->slots_used++;
		if (atomic_load(&area->slots[i].ctr))
			st->readers_in_section++;
	}
}
