/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The fixed-entry hash table in shared memory: the fixed-affinity table of
 * loom-fwd-agent and the flow table of loom-svc-mgr.
 *
 * One writer process, any number of reader threads in any processes.
 *
 * Layout (regions of one segment, see seg.h):
 *   meta      count, hash seed, the update journal (writer-only state that
 *             must survive the writer)
 *   buckets   2^k main buckets, then an overflow pool; a bucket is one cache
 *             line: 7 slots and the index of the next overflow bucket.
 *             A slot is one 64-bit word: 32-bit signature (high half of the
 *             key's hash) and entry index + 1, so that linking, unlinking
 *             and moving are single atomic stores.
 *   entries   fixed-size entries: a version (even when stable), the key, and
 *             the value bytes whose meaning belongs to the user of the table;
 *             each starts on a cache line (the stride is 48 + value_size
 *             rounded up to 64 bytes, the region is page-aligned), so a value
 *             laid out hot part first costs its readers the fewest lines
 *   counters  per worker lane and per entry: packets, bytes, last seen
 *             (mapped writable by readers: data-path workers count)
 *
 * Readers (inside shm_rcu_read_lock):
 *   hash the key, walk the bucket chain comparing signatures, compare the
 *   key of each candidate entry, and read the value under the entry's
 *   version: v = version (acquire), copy, re-read version; odd or changed
 *   means a concurrent update, so retry. Every index read from the segment
 *   is bounds-checked; a chain longer than the pool is cut and counted.
 *
 * Writer:
 *   insert:  fill a free entry (bumping its version by 2 so a reader that
 *            straddles a reuse notices), zero its counters, then link it with
 *            one atomic store into an empty slot (a new overflow bucket is
 *            initialised before it is linked).
 *   update:  in place under the entry's version, and journaled: the old value
 *            and version are copied to the journal first, so a writer killed
 *            mid-update leaves either a complete update or one the next
 *            writer rolls back. Never torn.
 *   delete:  one atomic store clears the slot; the entry is reused only
 *            after a grace period.
 *   repair:  every writer attach rebuilds the free lists and count from the
 *            buckets (orphans of a killed insert or delete are freed after a
 *            grace period), rolls back an interrupted update, and clears
 *            slots that point outside the table or to an entry whose key does
 *            not hash to that signature.
 */
#ifndef LOOM_SHM_TABLE_H
#define LOOM_SHM_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/key.h"
#include "shm/rcu.h"
#include "shm/seg.h"

#define SHM_TABLE_VERSION 1
#define SHM_TABLE_MAX_LANES 64

/* The shape of a table, fixed when the segment is created. */
struct shm_table_geom {
	uint32_t capacity;      /* entries */
	uint32_t value_size;    /* bytes of value per entry, multiple of 8, <= 1024 */
	uint32_t value_kind;    /* what the value means (user-defined, checked at attach) */
	uint32_t value_version; /* layout version of the value (checked at attach) */
	uint32_t lanes;         /* counter lanes: one per data-path worker, 1..64 */
	uint32_t rcu_slots;     /* reader threads that may attach at once */
};

/* Entry header as stored; the value follows at offset 48. */
struct shm_entry {
	_Atomic uint32_t version;
	uint32_t pad;
	struct flow_key key;
	/* uint8_t value[value_size]; */
};

/* Per-lane counters of one entry. */
struct shm_counter {
	_Atomic uint64_t packets;
	_Atomic uint64_t bytes;
	_Atomic uint64_t last_seen_ns; /* CLOCK_MONOTONIC of the last packet */
	uint64_t pad;
};

struct shm_table_repair {
	uint64_t entries;          /* live entries found */
	uint64_t orphans;          /* entries filled or unlinked but not linked */
	uint64_t bad_slots;        /* slots cleared: out of range or inconsistent */
	uint64_t duplicates;       /* second slot for the same key, cleared */
	uint64_t cut_chains;       /* overflow chains cut (cycle or out of range) */
	bool rolled_back;          /* an interrupted update was undone */
	bool completed_update;     /* an update had finished; its journal was dropped */
};

/* Reader-side error counts (process-private; a hostile segment shows here). */
struct shm_table_rstats {
	uint64_t bad_index;
	uint64_t long_chain;
	uint64_t retries;
};

struct shm_table;

/*
 * Create or take over a table as its writer. When the segment already
 * existed, it is repaired before this returns (report in *rep if non-NULL),
 * which includes one grace period: readers of a dead writer's table are
 * waited for before anything they could see is reused.
 * -EBUSY: another writer is alive. -EEXIST: the table exists with another
 * geometry. Control thread only.
 */
int shm_table_open_writer(const char *instance, const char *name,
			  const struct shm_table_geom *geom, const struct shm_perm *perm,
			  struct shm_table **out, struct shm_table_repair *rep);

/*
 * Attach as a reader. value_kind/value_version must match what the writer
 * created (-EPROTO otherwise). On success *geom (if non-NULL) holds the
 * table's geometry.
 */
int shm_table_open_reader(const char *instance, const char *name, uint32_t value_kind,
			  uint32_t value_version, struct shm_table **out,
			  struct shm_table_geom *geom);

/*
 * The same on an open descriptor (tests, fuzzing); takes over fd. With
 * writer set, the table is repaired as by shm_table_open_writer (no flock is
 * taken: the caller guarantees it is the only writer).
 */
int shm_table_attach_fd(int fd, uint32_t value_kind, uint32_t value_version, bool writer,
			struct shm_table **out, struct shm_table_repair *rep);

void shm_table_close(struct shm_table *t);

const struct shm_table_geom *shm_table_geom(const struct shm_table *t);
struct shm_seg *shm_table_seg(const struct shm_table *t);

/* ---- readers (any thread, any process) ------------------------------- */

/* Register the calling thread as a reader of this table's segment. */
int shm_table_reader_register(struct shm_table *t, struct shm_rcu_reader *r);
void shm_table_reader_unregister(struct shm_rcu_reader *r);

/*
 * Find the entry for key. Call with the read lock held; the entry stays
 * readable until the lock is dropped, but its value may change: read it with
 * shm_entry_read(). Returns NULL if absent.
 */
const struct shm_entry *shm_table_lookup(struct shm_table *t, const struct flow_key *key);

/*
 * Look up n keys at once (any n; the work is pipelined in groups of 32 with
 * prefetches of buckets and entries). out[i] is NULL for a miss. Read lock held.
 */
void shm_table_lookup_batch(struct shm_table *t, const struct flow_key *const *keys,
			    unsigned n, const struct shm_entry **out);

/*
 * shm_table_lookup_batch, fetching early what the caller reads next: for
 * each hit the first value_len bytes of its value and, if lane is one of the
 * table's lanes, its counters in that lane (shm_table_count). idx_out (may
 * be NULL) receives each hit's shm_entry_index(), UINT32_MAX for a miss.
 * Read lock held.
 */
void shm_table_lookup_batch_pf(struct shm_table *t, const struct flow_key *const *keys,
			       unsigned n, const struct shm_entry **out, uint32_t *idx_out,
			       size_t value_len, unsigned lane);

/* The value bytes of an entry (changing under concurrent updates). */
static inline const void *shm_entry_value(const struct shm_entry *e)
{
	return (const uint8_t *)e + sizeof(struct shm_entry);
}

/*
 * Copy an entry's key and value consistently (seqlock read). Returns 0, or
 * -EAGAIN if the entry kept changing (caller retries or treats as a miss).
 * Read lock held. key_out may be NULL.
 */
int shm_entry_read(struct shm_table *t, const struct shm_entry *e, struct flow_key *key_out,
		   void *value_out);

/* The table's keyed hash of a key (benchmarks compare other tables with it). */
uint64_t shm_table_key_hash(const struct shm_table *t, const struct flow_key *key);

/*
 * The same for the first len bytes of the value only (len <= value_size):
 * the data path reads the part it needs and leaves the rest in memory.
 */
int shm_entry_read_part(struct shm_table *t, const struct shm_entry *e, struct flow_key *key_out,
			void *value_out, size_t len);

/* Index of an entry (stable while it is linked); for counters and loomctl. */
uint32_t shm_entry_index(const struct shm_table *t, const struct shm_entry *e);

/*
 * Visit every linked entry. cb returns non-zero to stop. Read lock held for
 * the whole walk (loomctl: fine for a listing; long walks delay the writer's
 * grace periods and should drop and retake the lock in pieces via start).
 * Returns the bucket position to continue from, UINT32_MAX when done.
 */
uint32_t shm_table_walk(struct shm_table *t, uint32_t start, uint32_t max,
			int (*cb)(const struct shm_entry *e, uint32_t idx, void *arg), void *arg);

/* Data-path counting (lane = worker index; one writer per lane). */
void shm_table_count(struct shm_table *t, unsigned lane, uint32_t idx, uint32_t bytes,
		     uint64_t now_ns);
/* Prefetch the counters of entry idx in lane (before counting a burst). */
void shm_table_prefetch_counters(struct shm_table *t, unsigned lane, uint32_t idx);

/* Sum of the lanes for entry idx. */
void shm_table_counters(struct shm_table *t, uint32_t idx, uint64_t *packets, uint64_t *bytes,
			uint64_t *last_seen_ns);

void shm_table_reader_stats(const struct shm_table *t, struct shm_table_rstats *st);

/* ---- writer (one thread of the writer process) ----------------------- */

/*
 * Insert or replace the value for key. Returns 0 if inserted, 1 if an
 * existing entry was updated in place, -ENOSPC if the table (or the overflow
 * pool) is full even after reclaiming deleted entries whose grace period has
 * passed. May run a grace period (bounded) when it needs to reclaim.
 */
int shm_table_upsert(struct shm_table *t, const struct flow_key *key, const void *value);

/* Delete; -ENOENT if absent. The entry is reused after a grace period. */
int shm_table_delete(struct shm_table *t, const struct flow_key *key);

/*
 * Run one grace period (bounded by timeout_ns) and make the entries deleted
 * before it reusable. Call from the event loop now and then. Returns the
 * number reclaimed or -ETIMEDOUT (nothing is lost: they wait for next time).
 */
int shm_table_reclaim(struct shm_table *t, uint64_t timeout_ns);

/* Entries currently linked (writer's exact count; readers see the meta copy). */
uint64_t shm_table_count_entries(const struct shm_table *t);

/*
 * Check every invariant repair establishes, without changing anything:
 * 0 if consistent, else -EUCLEAN. For tests and `loomctl check`. Writer only
 * (or a reader while no writer runs).
 */
int shm_table_verify(struct shm_table *t, struct shm_table_repair *found);

/* Test hook: stop the writer after `steps` shm stores in the next update,
 * as if killed there (raise(SIGKILL) when the count runs out). 0 disables. */
void shm_table_debug_crash_after(struct shm_table *t, uint32_t steps);

#endif
