/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Cross-process RCU.
 *
 * liburcu tracks readers per process, so it cannot protect memory that
 * several processes share. This is a small scheme of the same family that
 * lives inside the segment itself:
 *
 *  - a global grace-period counter `gp` (64 bits: it never wraps);
 *  - a registry of reader slots, one per reader thread, each holding the
 *    owner (pid and process start time, packed), the thread id and `ctr`:
 *    0 while the thread is outside a read-side section, otherwise the value
 *    of `gp` it saw when it entered.
 *
 * Reader:   read_lock   = ctr := gp           (a load and a store)
 *           read_unlock = ctr := 0            (a release store)
 * Writer:   synchronize = gp++; membarrier(GLOBAL_EXPEDITED); wait until
 *           every slot has ctr == 0 or ctr >= the new gp.
 *
 * The reader needs a full barrier between publishing ctr and loading the
 * protected pointers. Rather than pay for it on every read_lock, readers
 * register for MEMBARRIER_CMD_GLOBAL_EXPEDITED and the writer issues that
 * membarrier, which runs a barrier on every CPU currently running one of
 * them (a thread that is not running passes through the scheduler's
 * barriers). Where the kernel lacks it, readers fall back to a real fence.
 *
 * A reader can die anywhere, also inside a section. While waiting on a slot
 * the writer checks whether its owner is still alive (the pid exists and has
 * the same start time, and the thread still exists); a dead owner's slot is
 * reaped so it never blocks reclamation. A live reader that stays in a
 * section too long makes synchronize return -ETIMEDOUT after the caller's
 * bound instead of hanging the writer: grace periods are bounded, and their
 * count, total and maximum duration are recorded in the registry itself.
 *
 * Within one process use liburcu (urcu-qsbr) as usual; this scheme is for
 * memory in shared segments only.
 */
#ifndef LOOM_SHM_RCU_H
#define LOOM_SHM_RCU_H

#include <assert.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/compiler.h"

struct shm_rcu_slot {
	_Atomic uint64_t ctr;    /* 0 = quiescent, else gp seen at read_lock */
	_Atomic uint64_t owner;  /* packed pid + start time; 0 = free */
	_Atomic uint32_t tid;
	uint32_t pad0;
	uint64_t pad[5];
};
static_assert(sizeof(struct shm_rcu_slot) == LOOM_CACHELINE, "one slot per cache line");

struct shm_rcu_area {
	_Atomic uint64_t gp;           /* starts at 1 */
	uint32_t nslots;               /* set at creation, checked at attach */
	uint32_t pad0;
	/* statistics, written by the writer only */
	_Atomic uint64_t gp_count;
	_Atomic uint64_t gp_total_ns;
	_Atomic uint64_t gp_max_ns;
	_Atomic uint64_t gp_timeouts;
	_Atomic uint64_t reaped;
	_Atomic uint64_t completed;    /* last gp whose grace period completed */
	struct shm_rcu_slot slots[];
};
static_assert(sizeof(struct shm_rcu_area) == LOOM_CACHELINE, "area header is one cache line");

/* Process-private handle of one registered reader thread. */
struct shm_rcu_reader {
	struct shm_rcu_area *area;
	struct shm_rcu_slot *slot;
	unsigned nest;
	bool fence; /* no membarrier: read_lock issues a full fence itself */
};

struct shm_rcu_stats {
	uint64_t gp;
	uint64_t gp_count;
	uint64_t gp_total_ns;
	uint64_t gp_max_ns;
	uint64_t gp_timeouts;
	uint64_t reaped;
	uint32_t slots_used;
	uint32_t slots_total;
	uint32_t readers_in_section;
};

/* Bytes the registry needs for nslots readers. */
size_t shm_rcu_area_size(uint32_t nslots);

/* Initialise a fresh registry (segment creation only). */
void shm_rcu_area_init(struct shm_rcu_area *area, uint32_t nslots);

/*
 * Register the calling thread as a reader: claims a free slot (or reaps a
 * dead one). -ENOSPC when every slot belongs to a live thread. Each thread
 * that reads registers once per segment; the handle is not shareable.
 */
int shm_rcu_register(struct shm_rcu_area *area, uint32_t nslots, struct shm_rcu_reader *r);

/* Release the slot. Must not be inside a read-side section. */
void shm_rcu_unregister(struct shm_rcu_reader *r);

/*
 * Read-side section. Nestable. Between lock and unlock, memory reached
 * through the protected offsets stays valid. Must not block for long: a
 * section that outlives the writer's bound delays reclamation (the writer
 * reports it; nothing is freed under the reader).
 */
static inline void shm_rcu_read_lock(struct shm_rcu_reader *r)
{
	if (r->nest++ == 0) {
		uint64_t g = atomic_load_explicit(&r->area->gp, memory_order_acquire);

		atomic_store_explicit(&r->slot->ctr, g, memory_order_relaxed);
		if (loom_unlikely(r->fence))
			atomic_thread_fence(memory_order_seq_cst);
		else
			atomic_signal_fence(memory_order_seq_cst); /* writer's membarrier */
	}
}

static inline void shm_rcu_read_unlock(struct shm_rcu_reader *r)
{
	if (--r->nest == 0)
		atomic_store_explicit(&r->slot->ctr, 0, memory_order_release);
}

/*
 * Wait for a grace period: every read-side section that began before the
 * call has ended (or its thread has died and been reaped). Writer only.
 * Returns 0, or -ETIMEDOUT after timeout_ns with *stalled_pid set to the
 * reader that did not finish (the grace period has not completed then).
 * Blocks (spins, then sleeps in short steps): control thread only.
 */
int shm_rcu_synchronize(struct shm_rcu_area *area, uint32_t nslots, uint64_t timeout_ns,
			uint32_t *stalled_pid);

/* A cookie that a later shm_rcu_poll() compares against. Writer only. */
static inline uint64_t shm_rcu_snapshot(struct shm_rcu_area *area)
{
	return atomic_load_explicit(&area->gp, memory_order_relaxed);
}

/*
 * True once a grace period that started after shm_rcu_snapshot() returned
 * cookie has completed, i.e. memory unlinked before the snapshot was taken
 * may be reused. Writer only.
 */
static inline bool shm_rcu_poll(struct shm_rcu_area *area, uint64_t cookie)
{
	return atomic_load_explicit(&area->completed, memory_order_relaxed) > cookie;
}

/* Reap the slots of dead readers now; returns how many. Writer only. */
unsigned shm_rcu_reap(struct shm_rcu_area *area, uint32_t nslots);

void shm_rcu_get_stats(struct shm_rcu_area *area, uint32_t nslots, struct shm_rcu_stats *st);

#endif
