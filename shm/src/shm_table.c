// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Fixed-entry hash table in a shared segment. The design and the crash
 * rules are in shm/table.h; this file keeps to them.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "shm-internal.h"
#include "shm/table.h"

#define SLOTS_PER_BUCKET 7
#define ENTRY_HDR 48u
#define BATCH 32
#define PF_L2 2 /* __builtin_prefetch locality: prefetcht1, to L2 (see lookup_batch) */
#define READ_RETRIES 64
#define REPAIR_GP_TIMEOUT_NS 100000000ULL

enum { R_META, R_BUCKETS, R_ENTRIES, R_COUNTERS, R_COUNT };

/* geometry words in the segment header */
enum {
	G_CAPACITY, G_VALUE_SIZE, G_VALUE_KIND, G_VALUE_VERSION, G_LANES,
	G_NBUCKETS, G_NOVERFLOW, G_STRIDE,
};

struct shm_bucket {
	_Atomic uint64_t slot[SLOTS_PER_BUCKET];
	_Atomic uint32_t next; /* overflow index + 1; 0 = end of chain */
	uint32_t pad;
};
static_assert(sizeof(struct shm_bucket) == LOOM_CACHELINE, "a bucket is one cache line");
static_assert(sizeof(struct shm_entry) == ENTRY_HDR, "entry header layout pinned");
static_assert(sizeof(struct shm_counter) == 32, "counter layout pinned");

struct shm_table_meta {
	_Atomic uint64_t count;
	uint64_t seed[2];
	_Atomic uint32_t journal_state; /* 1 while an update is in flight */
	uint32_t journal_idx;
	uint32_t journal_version;       /* the entry's (even) version before the update */
	uint32_t pad[7];
	uint8_t journal_value[];        /* value_size bytes */
};
static_assert(sizeof(struct shm_table_meta) == 64, "meta layout pinned");

struct limbo {
	uint32_t idx;
	uint64_t cookie; /* gp snapshot when unlinked */
};

struct shm_table {
	struct shm_seg *seg;
	struct shm_table_geom geom;
	bool writer;
	/* bounds copied at attach: never re-read from the segment */
	uint32_t nbuckets, noverflow, stride;
	uint64_t mask;
	uint64_t seed[2];
	struct shm_table_meta *meta;
	struct shm_bucket *buckets;   /* nbuckets main, then noverflow overflow */
	uint8_t *entries;
	struct shm_counter *counters;
	struct shm_rcu_area *rcu;
	uint32_t rcu_slots;
	/* reader statistics (process-wide) */
	_Atomic uint64_t bad_index, long_chain, retries;
	/* writer-private state, rebuilt on every attach */
	uint32_t *free_ent;
	uint32_t nfree_ent;
	uint32_t *free_ov;
	uint32_t nfree_ov;
	struct limbo *limbo;
	uint32_t nlimbo;
	uint64_t count;
	uint32_t crash_steps;
};

/* ---- hashing ----------------------------------------------------------- */

static inline uint64_t mum(uint64_t a, uint64_t b)
{
	__uint128_t r = (__uint128_t)a * b;
	return (uint64_t)r ^ (uint64_t)(r >> 64);
}

/* Seeded and keyed per table (keys come from packets: an attacker picks
 * them), three independent multiplies then a mixing one. */
static inline uint64_t key_hash(const struct flow_key *k, const uint64_t seed[2])
{
	uint64_t w[5];

	memcpy(w, k, sizeof(w));
	uint64_t a = mum(w[0] ^ seed[0], w[1] ^ 0xa0761d6478bd642fULL);
	uint64_t b = mum(w[2] ^ seed[1], w[3] ^ 0xe7037ed1a0b428dbULL);
	uint64_t c = mum(w[4] ^ 0x8ebc6af09c88c6e3ULL, seed[0] ^ 0x589965cc75374cc3ULL);
	return mum(a ^ b ^ 0x1d8e4e27c47d124fULL, c ^ seed[1]);
}

static inline bool key_eq(const struct flow_key *a, const struct flow_key *b)
{
	uint64_t x[5], y[5];

	memcpy(x, a, sizeof(x));
	memcpy(y, b, sizeof(y));
	return ((x[0] ^ y[0]) | (x[1] ^ y[1]) | (x[2] ^ y[2]) | (x[3] ^ y[3]) | (x[4] ^ y[4])) == 0;
}

static inline uint32_t slot_sig(uint64_t s)
{
	return (uint32_t)(s >> 32);
}

/* entry index, or UINT32_MAX for an empty slot */
static inline uint32_t slot_idx(uint64_t s)
{
	return (uint32_t)s - 1;
}

static inline uint64_t slot_make(uint32_t sig, uint32_t idx)
{
	return (uint64_t)sig << 32 | (uint64_t)(idx + 1);
}

static inline struct shm_entry *entry_at(const struct shm_table *t, uint32_t idx)
{
	return (struct shm_entry *)(t->entries + (size_t)idx * t->stride);
}

static inline struct shm_counter *counter_at(const struct shm_table *t, unsigned lane,
					    uint32_t idx)
{
	return &t->counters[(size_t)lane * t->geom.capacity + idx];
}

static inline uint8_t *entry_value(const struct shm_table *t, uint32_t idx)
{
	return (uint8_t *)entry_at(t, idx) + ENTRY_HDR;
}

/* ---- geometry ---------------------------------------------------------- */

static uint32_t pow2_at_least(uint64_t v)
{
	uint32_t p = 8;

	while (p < v && p < (1u << 30))
		p <<= 1;
	return p;
}

static int derive(const struct shm_table_geom *g, uint32_t *nbuckets, uint32_t *noverflow,
		  uint32_t *stride)
{
	if (g->capacity == 0 || g->capacity > (1u << 30) || g->value_size % 8 ||
	    g->value_size > 1024 || g->lanes == 0 || g->lanes > SHM_TABLE_MAX_LANES ||
	    g->rcu_slots == 0 || g->rcu_slots > 4096)
		return -EINVAL;
	/* about two entries per 7-slot bucket: overflow stays rare */
	*nbuckets = pow2_at_least((uint64_t)g->capacity / 2);
	*noverflow = *nbuckets / 8 + 8;
	*stride = (ENTRY_HDR + g->value_size + LOOM_CACHELINE - 1) & ~(LOOM_CACHELINE - 1u);
	return 0;
}

static void layout_of(const struct shm_table_geom *g, uint32_t nb, uint32_t no, uint32_t stride,
		      struct shm_layout *l)
{
	memset(l, 0, sizeof(*l));
	l->kind = SHM_KIND_HASH;
	l->kind_version = SHM_TABLE_VERSION;
	l->rcu_slots = g->rcu_slots;
	l->nregions = R_COUNT;
	l->region_size[R_META] = sizeof(struct shm_table_meta) + g->value_size;
	l->region_size[R_BUCKETS] = (uint64_t)(nb + no) * sizeof(struct shm_bucket);
	l->region_size[R_ENTRIES] = (uint64_t)g->capacity * stride;
	l->region_size[R_COUNTERS] = (uint64_t)g->lanes * g->capacity * sizeof(struct shm_counter);
	l->region_flags[R_COUNTERS] = SHM_REGION_READER_RW;
	l->geometry[G_CAPACITY] = g->capacity;
	l->geometry[G_VALUE_SIZE] = g->value_size;
	l->geometry[G_VALUE_KIND] = g->value_kind;
	l->geometry[G_VALUE_VERSION] = g->value_version;
	l->geometry[G_LANES] = g->lanes;
	l->geometry[G_NBUCKETS] = nb;
	l->geometry[G_NOVERFLOW] = no;
	l->geometry[G_STRIDE] = stride;
}

/* Bind a table to its segment, checking every size it will rely on. */
static int bind(struct shm_table *t, struct shm_seg *seg, uint32_t value_kind,
		uint32_t value_version)
{
	const uint64_t *g = shm_seg_geometry(seg);
	struct shm_layout want;
	uint32_t nb, no, stride;
	size_t sz[R_COUNT];

	t->seg = seg;
	if (g[G_CAPACITY] > UINT32_MAX || g[G_VALUE_SIZE] > UINT32_MAX || g[G_LANES] > UINT32_MAX)
		return -EPROTO;
	t->geom.capacity = (uint32_t)g[G_CAPACITY];
	t->geom.value_size = (uint32_t)g[G_VALUE_SIZE];
	t->geom.value_kind = (uint32_t)g[G_VALUE_KIND];
	t->geom.value_version = (uint32_t)g[G_VALUE_VERSION];
	t->geom.lanes = (uint32_t)g[G_LANES];
	t->geom.rcu_slots = shm_seg_rcu_slots(seg);
	if (t->geom.value_kind != value_kind || t->geom.value_version != value_version)
		return -EPROTO;
	if (derive(&t->geom, &nb, &no, &stride) < 0)
		return -EPROTO;
	if (g[G_NBUCKETS] != nb || g[G_NOVERFLOW] != no || g[G_STRIDE] != stride)
		return -EPROTO;
	layout_of(&t->geom, nb, no, stride, &want);
	for (unsigned i = 0; i < R_COUNT; i++) {
		if (!shm_seg_region(seg, i, &sz[i]) || sz[i] < want.region_size[i] ||
		    shm_seg_region_flags(seg, i) != want.region_flags[i])
			return -EPROTO;
	}
	t->nbuckets = nb;
	t->noverflow = no;
	t->stride = stride;
	t->mask = nb - 1;
	t->meta = shm_seg_region(seg, R_META, NULL);
	t->buckets = shm_seg_region(seg, R_BUCKETS, NULL);
	t->entries = shm_seg_region(seg, R_ENTRIES, NULL);
	t->counters = shm_seg_region(seg, R_COUNTERS, NULL);
	t->rcu = shm_seg_rcu(seg);
	t->rcu_slots = shm_seg_rcu_slots(seg);
	memcpy(t->seed, t->meta->seed, sizeof(t->seed));
	return 0;
}

/* ---- reader side -------------------------------------------------------- */

static inline struct shm_bucket *next_bucket(struct shm_table *t, const struct shm_bucket *b,
					     unsigned *hops)
{
	uint32_t nx = atomic_load_explicit(&b->next, memory_order_acquire);

	if (loom_likely(nx == 0))
		return NULL;
	if (loom_unlikely(nx > t->noverflow || ++*hops > t->noverflow)) {
		atomic_fetch_add_explicit(&t->long_chain, 1, memory_order_relaxed);
		return NULL;
	}
	return &t->buckets[t->nbuckets + nx - 1];
}

static const struct shm_entry *lookup_hashed(struct shm_table *t, const struct flow_key *key,
					     uint64_t h)
{
	const struct shm_bucket *b = &t->buckets[h & t->mask];
	uint32_t sig = (uint32_t)(h >> 32);
	unsigned hops = 0;

	do {
		for (unsigned i = 0; i < SLOTS_PER_BUCKET; i++) {
			uint64_t s = atomic_load_explicit(&b->slot[i], memory_order_acquire);
			if (s == 0 || slot_sig(s) != sig)
				continue;
			uint32_t idx = slot_idx(s);
			if (loom_unlikely(idx >= t->geom.capacity)) {
				atomic_fetch_add_explicit(&t->bad_index, 1, memory_order_relaxed);
				continue;
			}
			const struct shm_entry *e = entry_at(t, idx);
			if (key_eq(&e->key, key))
				return e;
		}
		b = next_bucket(t, b, &hops);
	} while (b);
	return NULL;
}

const struct shm_entry *shm_table_lookup(struct shm_table *t, const struct flow_key *key)
{
	return lookup_hashed(t, key, key_hash(key, t->seed));
}

/*
 * Three passes over a group so that each pass's memory accesses overlap:
 * hash and prefetch the buckets; find the first signature match in each and
 * prefetch its entry, with the first value_len bytes of its value; compare
 * keys, and prefetch the counter line of each hit in lane. A miss on the
 * first candidate, or a bucket that overflows, falls back to the full walk.
 * (The counters wait for the third pass: issued with the entries, they
 * queue behind them for the CPU's few miss buffers and the whole group was
 * measured slower.)
 *
 * Every prefetch goes to L2 (prefetcht1), not to L1: a group issues about
 * a hundred, and those to L1 each hold one of L1's few miss buffers until
 * the line arrives, so most of them waited for a free one with the
 * pipeline stalled behind (perf put the samples on the instructions after
 * the prefetches). L2 tracks many more misses; the demand load then finds
 * the line in L2, a few ns away. Measured at 1M flows on 2 MB pages:
 * 7.6-7.9 M to 9.6-10.5 M packets/s (docs/performance.md).
 */
static inline void lookup_batch(struct shm_table *t, const struct flow_key *const *keys,
				unsigned n, const struct shm_entry **out, uint32_t *idx_out,
				size_t value_len, unsigned lane)
{
	uint64_t h[BATCH];
	uint32_t cand[BATCH];
	size_t pf_end = ENTRY_HDR + (value_len < t->geom.value_size ? value_len
								      : t->geom.value_size);
	bool pf_ctr = lane < t->geom.lanes;

	for (unsigned base = 0; base < n; base += BATCH) {
		unsigned m = n - base < BATCH ? n - base : BATCH;

		for (unsigned i = 0; i < m; i++) {
			h[i] = key_hash(keys[base + i], t->seed);
			__builtin_prefetch(&t->buckets[h[i] & t->mask], 0, PF_L2);
		}
		for (unsigned i = 0; i < m; i++) {
			const struct shm_bucket *b = &t->buckets[h[i] & t->mask];
			uint32_t sig = (uint32_t)(h[i] >> 32);

			cand[i] = UINT32_MAX;
			for (unsigned j = 0; j < SLOTS_PER_BUCKET; j++) {
				uint64_t s = atomic_load_explicit(&b->slot[j], memory_order_acquire);
				if (s != 0 && slot_sig(s) == sig) {
					cand[i] = slot_idx(s);
					break;
				}
			}
			if (cand[i] >= t->geom.capacity)
				continue;
			const uint8_t *e = (const uint8_t *)entry_at(t, cand[i]);
			for (size_t off = 0; off < pf_end; off += LOOM_CACHELINE)
				__builtin_prefetch(e + off, 0, PF_L2);
		}
		for (unsigned i = 0; i < m; i++) {
			const struct flow_key *k = keys[base + i];
			const struct shm_entry *e;
			uint32_t idx = cand[i];

			if (idx < t->geom.capacity && key_eq(&entry_at(t, idx)->key, k)) {
				e = entry_at(t, idx);
			} else {
				e = lookup_hashed(t, k, h[i]);
				idx = e ? shm_entry_index(t, e) : UINT32_MAX;
			}
			out[base + i] = e;
			if (idx_out)
				idx_out[base + i] = idx;
			if (!e)
				continue;
			/* again: a prefetch the CPU had no miss buffer for in the
			 * second pass may have been dropped (measured: issuing the
			 * rest of the value again here is faster) */
			for (size_t off = LOOM_CACHELINE; off < pf_end; off += LOOM_CACHELINE)
				__builtin_prefetch((const uint8_t *)e + off, 0, PF_L2);
			if (pf_ctr)
				__builtin_prefetch(counter_at(t, lane, idx), 1, PF_L2);
		}
	}
}

void shm_table_lookup_batch(struct shm_table *t, const struct flow_key *const *keys, unsigned n,
			    const struct shm_entry **out)
{
	lookup_batch(t, keys, n, out, NULL, 0, UINT_MAX);
}

void shm_table_lookup_batch_pf(struct shm_table *t, const struct flow_key *const *keys,
			       unsigned n, const struct shm_entry **out, uint32_t *idx_out,
			       size_t value_len, unsigned lane)
{
	lookup_batch(t, keys, n, out, idx_out, value_len, lane);
}

int shm_entry_read(struct shm_table *t, const struct shm_entry *e, struct flow_key *key_out,
		   void *value_out)
{
	return shm_entry_read_part(t, e, key_out, value_out, t->geom.value_size);
}

int shm_entry_read_part(struct shm_table *t, const struct shm_entry *e, struct flow_key *key_out,
			void *value_out, size_t len)
{
	struct shm_entry *me = (struct shm_entry *)(uintptr_t)e;

	if (len > t->geom.value_size)
		len = t->geom.value_size;

	for (unsigned tries = 0; tries < READ_RETRIES; tries++) {
		uint32_t v1 = atomic_load_explicit(&me->version, memory_order_acquire);
		if (v1 & 1) {
			atomic_fetch_add_explicit(&t->retries, 1, memory_order_relaxed);
			continue;
		}
		if (key_out)
			memcpy(key_out, &e->key, sizeof(*key_out));
		memcpy(value_out, shm_entry_value(e), len);
		atomic_thread_fence(memory_order_acquire);
		if (atomic_load_explicit(&me->version, memory_order_relaxed) == v1)
			return 0;
		atomic_fetch_add_explicit(&t->retries, 1, memory_order_relaxed);
	}
	return -EAGAIN;
}

uint64_t shm_table_key_hash(const struct shm_table *t, const struct flow_key *key)
{
	return key_hash(key, t->seed);
}

uint32_t shm_entry_index(const struct shm_table *t, const struct shm_entry *e)
{
	return (uint32_t)(((const uint8_t *)e - t->entries) / t->stride);
}

uint32_t shm_table_walk(struct shm_table *t, uint32_t start, uint32_t max,
			int (*cb)(const struct shm_entry *e, uint32_t idx, void *arg), void *arg)
{
	uint32_t total = t->nbuckets + t->noverflow;
	uint32_t b = start, seen = 0;

	/* Walk main and overflow buckets alike: a slot's entry is listed once,
	 * whichever bucket holds it. start/return values are bucket positions. */
	for (; b < total && seen < max; b++) {
		const struct shm_bucket *bk = &t->buckets[b];
		for (unsigned i = 0; i < SLOTS_PER_BUCKET; i++) {
			uint64_t s = atomic_load_explicit(&bk->slot[i], memory_order_acquire);
			if (s == 0)
				continue;
			uint32_t idx = slot_idx(s);
			if (idx >= t->geom.capacity) {
				atomic_fetch_add_explicit(&t->bad_index, 1, memory_order_relaxed);
				continue;
			}
			seen++;
			if (cb(entry_at(t, idx), idx, arg))
				return b + 1;
		}
	}
	return b >= total ? UINT32_MAX : b;
}

void shm_table_count(struct shm_table *t, unsigned lane, uint32_t idx, uint32_t bytes,
		     uint64_t now_ns)
{
	if (lane >= t->geom.lanes || idx >= t->geom.capacity)
		return;
	struct shm_counter *c = &t->counters[(size_t)lane * t->geom.capacity + idx];
	/* one writer per lane: plain load + store, no locked instruction */
	atomic_store_explicit(&c->packets,
			      atomic_load_explicit(&c->packets, memory_order_relaxed) + 1,
			      memory_order_relaxed);
	atomic_store_explicit(&c->bytes,
			      atomic_load_explicit(&c->bytes, memory_order_relaxed) + bytes,
			      memory_order_relaxed);
	atomic_store_explicit(&c->last_seen_ns, now_ns, memory_order_relaxed);
}

void shm_table_prefetch_counters(struct shm_table *t, unsigned lane, uint32_t idx)
{
	if (lane < t->geom.lanes && idx < t->geom.capacity)
		__builtin_prefetch(&t->counters[(size_t)lane * t->geom.capacity + idx], 1);
}

void shm_table_counters(struct shm_table *t, uint32_t idx, uint64_t *packets, uint64_t *bytes,
			uint64_t *last_seen_ns)
{
	uint64_t p = 0, b = 0, l = 0;

	if (idx < t->geom.capacity) {
		for (uint32_t lane = 0; lane < t->geom.lanes; lane++) {
			struct shm_counter *c = &t->counters[(size_t)lane * t->geom.capacity + idx];
			p += atomic_load_explicit(&c->packets, memory_order_relaxed);
			b += atomic_load_explicit(&c->bytes, memory_order_relaxed);
			uint64_t ls = atomic_load_explicit(&c->last_seen_ns, memory_order_relaxed);
			if (ls > l)
				l = ls;
		}
	}
	if (packets)
		*packets = p;
	if (bytes)
		*bytes = b;
	if (last_seen_ns)
		*last_seen_ns = l;
}

void shm_table_reader_stats(const struct shm_table *t, struct shm_table_rstats *st)
{
	st->bad_index = atomic_load(&((struct shm_table *)(uintptr_t)t)->bad_index);
	st->long_chain = atomic_load(&((struct shm_table *)(uintptr_t)t)->long_chain);
	st->retries = atomic_load(&((struct shm_table *)(uintptr_t)t)->retries);
}

int shm_table_reader_register(struct shm_table *t, struct shm_rcu_reader *r)
{
	return shm_rcu_register(t->rcu, t->rcu_slots, r);
}

void shm_table_reader_unregister(struct shm_rcu_reader *r)
{
	shm_rcu_unregister(r);
}

const struct shm_table_geom *shm_table_geom(const struct shm_table *t)
{
	return &t->geom;
}

struct shm_seg *shm_table_seg(const struct shm_table *t)
{
	return t->seg;
}

/* ---- writer side -------------------------------------------------------- */

/*
 * Each store the writer makes to shared structure goes through step(): the
 * crash test uses it to kill the writer between any two of them.
 */
static inline void step(struct shm_table *t)
{
	if (loom_unlikely(t->crash_steps) && --t->crash_steps == 0)
		raise(SIGKILL);
}

void shm_table_debug_crash_after(struct shm_table *t, uint32_t steps)
{
	t->crash_steps = steps;
}

struct findpos {
	struct shm_bucket *b; /* bucket holding key, or first with a free slot */
	unsigned slot;        /* SLOTS_PER_BUCKET if none free */
	struct shm_bucket *last;
	uint32_t idx;         /* entry of key, UINT32_MAX if absent */
};

/* Writer's walk: where the key is, or where it could go. */
static void wfind(struct shm_table *t, const struct flow_key *key, uint64_t h, struct findpos *p)
{
	struct shm_bucket *b = &t->buckets[h & t->mask];
	uint32_t sig = (uint32_t)(h >> 32);
	unsigned hops = 0;

	p->b = NULL;
	p->slot = SLOTS_PER_BUCKET;
	p->idx = UINT32_MAX;
	for (;;) {
		for (unsigned i = 0; i < SLOTS_PER_BUCKET; i++) {
			uint64_t s = atomic_load_explicit(&b->slot[i], memory_order_relaxed);
			if (s == 0) {
				if (!p->b) {
					p->b = b;
					p->slot = i;
				}
				continue;
			}
			uint32_t idx = slot_idx(s);
			if (slot_sig(s) == sig && idx < t->geom.capacity &&
			    key_eq(&entry_at(t, idx)->key, key)) {
				p->b = b;
				p->slot = i;
				p->idx = idx;
				return;
			}
		}
		p->last = b;
		struct shm_bucket *nb = next_bucket(t, b, &hops);
		if (!nb)
			return;
		b = nb;
	}
}

static void zero_counters(struct shm_table *t, uint32_t idx)
{
	for (uint32_t lane = 0; lane < t->geom.lanes; lane++) {
		struct shm_counter *c = &t->counters[(size_t)lane * t->geom.capacity + idx];
		atomic_store_explicit(&c->packets, 0, memory_order_relaxed);
		atomic_store_explicit(&c->bytes, 0, memory_order_relaxed);
		atomic_store_explicit(&c->last_seen_ns, 0, memory_order_relaxed);
	}
}

static void update_in_place(struct shm_table *t, uint32_t idx, const void *value)
{
	struct shm_entry *e = entry_at(t, idx);
	uint32_t v = atomic_load_explicit(&e->version, memory_order_relaxed);

	/* 1. journal the old value; the journal counts only once state is 1 */
	memcpy(t->meta->journal_value, entry_value(t, idx), t->geom.value_size);
	t->meta->journal_idx = idx;
	t->meta->journal_version = v;
	step(t);
	atomic_store_explicit(&t->meta->journal_state, 1, memory_order_release);
	step(t);
	/* 2. seqlock write */
	atomic_store_explicit(&e->version, v + 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	step(t);
	memcpy(entry_value(t, idx), value, t->geom.value_size / 2);
	step(t);
	memcpy(entry_value(t, idx) + t->geom.value_size / 2,
	       (const uint8_t *)value + t->geom.value_size / 2,
	       t->geom.value_size - t->geom.value_size / 2);
	step(t);
	atomic_store_explicit(&e->version, v + 2, memory_order_release);
	step(t);
	/* 3. done */
	atomic_store_explicit(&t->meta->journal_state, 0, memory_order_release);
	step(t);
}

static bool reclaim_ready(struct shm_table *t)
{
	uint32_t kept = 0;
	bool any = false;

	for (uint32_t i = 0; i < t->nlimbo; i++) {
		if (shm_rcu_poll(t->rcu, t->limbo[i].cookie)) {
			t->free_ent[t->nfree_ent++] = t->limbo[i].idx;
			any = true;
		} else {
			t->limbo[kept++] = t->limbo[i];
		}
	}
	t->nlimbo = kept;
	return any;
}

int shm_table_reclaim(struct shm_table *t, uint64_t timeout_ns)
{
	uint32_t before = t->nfree_ent, stalled = 0;
	int r;

	if (t->nlimbo == 0)
		return 0;
	r = shm_rcu_synchronize(t->rcu, t->rcu_slots, timeout_ns, &stalled);
	if (r < 0)
		return log_debug_errno(r, "table grace period held up by reader pid %u", stalled);
	reclaim_ready(t);
	return (int)(t->nfree_ent - before);
}

static int alloc_entry(struct shm_table *t, uint32_t *idx)
{
	if (t->nfree_ent == 0 && !reclaim_ready(t))
		shm_table_reclaim(t, 100000000ULL);
	if (t->nfree_ent == 0)
		return -ENOSPC;
	*idx = t->free_ent[--t->nfree_ent];
	return 0;
}

int shm_table_upsert(struct shm_table *t, const struct flow_key *key, const void *value)
{
	uint64_t h = key_hash(key, t->seed);
	struct findpos p;
	uint32_t idx;
	int r;

	if (!t->writer)
		return -EPERM;
	wfind(t, key, h, &p);
	if (p.idx != UINT32_MAX) {
		update_in_place(t, p.idx, value);
		return 1;
	}
	r = alloc_entry(t, &idx);
	if (r < 0)
		return r;
	if (!p.b) {
		/* chain full: a fresh overflow bucket, initialised before it is linked */
		if (t->nfree_ov == 0) {
			t->free_ent[t->nfree_ent++] = idx;
			return -ENOSPC;
		}
		uint32_t ov = t->free_ov[--t->nfree_ov];
		struct shm_bucket *nb = &t->buckets[t->nbuckets + ov];
		for (unsigned i = 0; i < SLOTS_PER_BUCKET; i++)
			atomic_store_explicit(&nb->slot[i], 0, memory_order_relaxed);
		atomic_store_explicit(&nb->next, 0, memory_order_relaxed);
		step(t);
		atomic_store_explicit(&p.last->next, ov + 1, memory_order_release);
		step(t);
		p.b = nb;
		p.slot = 0;
	}

	struct shm_entry *e = entry_at(t, idx);
	uint32_t v = atomic_load_explicit(&e->version, memory_order_relaxed) & ~1u;
	atomic_store_explicit(&e->version, v + 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	memcpy(&e->key, key, sizeof(*key));
	memcpy(entry_value(t, idx), value, t->geom.value_size);
	zero_counters(t, idx);
	step(t);
	atomic_store_explicit(&e->version, v + 2, memory_order_release);
	step(t);
	atomic_store_explicit(&p.b->slot[p.slot], slot_make((uint32_t)(h >> 32), idx),
			      memory_order_release);
	step(t);
	t->count++;
	atomic_store_explicit(&t->meta->count, t->count, memory_order_relaxed);
	step(t);
	return 0;
}

int shm_table_delete(struct shm_table *t, const struct flow_key *key)
{
	struct findpos p;

	if (!t->writer)
		return -EPERM;
	wfind(t, key, key_hash(key, t->seed), &p);
	if (p.idx == UINT32_MAX)
		return -ENOENT;
	atomic_store_explicit(&p.b->slot[p.slot], 0, memory_order_release);
	step(t);
	t->limbo[t->nlimbo++] = (struct limbo){ p.idx, shm_rcu_snapshot(t->rcu) };
	t->count--;
	atomic_store_explicit(&t->meta->count, t->count, memory_order_relaxed);
	step(t);
	return 0;
}

uint64_t shm_table_count_entries(const struct shm_table *t)
{
	if (t->writer)
		return t->count;
	return atomic_load_explicit(&t->meta->count, memory_order_relaxed);
}

/* ---- repair and verify -------------------------------------------------- */

/*
 * One pass over the structure that either fixes (writer attach) or only
 * reports (verify). Establishes: no update in flight; every chain ends,
 * without cycles or shared overflow buckets; every slot points inside the
 * table at an entry whose key hashes to this chain and signature, with an
 * even version, referenced by no other slot and with no other slot holding
 * the same key; count equals the linked entries. used/ov_used (optional)
 * receive the linked entries and overflow buckets.
 */
static int scan(struct shm_table *t, bool fix, struct shm_table_repair *rep, uint8_t *used,
		uint8_t *ov_used)
{
	struct shm_table_meta *m = t->meta;
	uint64_t live = 0;

	memset(rep, 0, sizeof(*rep));
	if (atomic_load(&m->journal_state)) {
		uint32_t idx = m->journal_idx, jv = m->journal_version;
		if (idx < t->geom.capacity) {
			struct shm_entry *e = entry_at(t, idx);
			uint32_t v = atomic_load(&e->version);
			if (v == jv + 2 || v == jv) {
				rep->completed_update = v == jv + 2;
			} else if (fix) {
				/* torn: put the old value back, under a new version */
				atomic_store(&e->version, jv + 1);
				memcpy(entry_value(t, idx), m->journal_value, t->geom.value_size);
				atomic_store(&e->version, jv + 2);
				rep->rolled_back = true;
			} else {
				rep->rolled_back = true;
			}
		}
		if (fix)
			atomic_store(&m->journal_state, 0);
	}

	for (uint32_t b = 0; b < t->nbuckets; b++) {
		struct shm_bucket *bk = &t->buckets[b];
		unsigned hops = 0;

		while (bk) {
			for (unsigned i = 0; i < SLOTS_PER_BUCKET; i++) {
				uint64_t s = atomic_load(&bk->slot[i]);
				if (s == 0)
					continue;
				uint32_t idx = slot_idx(s);
				bool bad = idx >= t->geom.capacity;
				if (!bad) {
					struct shm_entry *e = entry_at(t, idx);
					uint64_t h = key_hash(&e->key, t->seed);
					bad = (h & t->mask) != b || (uint32_t)(h >> 32) != slot_sig(s);
					if (!bad && used && used[idx]) {
						bad = true; /* two slots, one entry */
					}
					if (!bad) {
						/* same key twice in this chain? */
						struct findpos p;
						wfind(t, &e->key, h, &p);
						if (p.b != bk || p.slot != i) {
							rep->duplicates++;
							if (fix)
								atomic_store(&bk->slot[i], 0);
							continue;
						}
						if (atomic_load(&e->version) & 1) {
							rep->bad_slots++;
							if (fix)
								atomic_fetch_add(&e->version, 1);
						}
					}
				}
				if (bad) {
					rep->bad_slots++;
					if (fix)
						atomic_store(&bk->slot[i], 0);
					continue;
				}
				if (used)
					used[idx] = 1;
				live++;
			}
			uint32_t nx = atomic_load(&bk->next);
			if (nx == 0)
				break;
			if (nx > t->noverflow || ++hops > t->noverflow ||
			    (ov_used && ov_used[nx - 1])) {
				rep->cut_chains++;
				if (fix)
					atomic_store(&bk->next, 0);
				break;
			}
			if (ov_used)
				ov_used[nx - 1] = 1;
			bk = &t->buckets[t->nbuckets + nx - 1];
		}
	}
	rep->entries = live;
	if (fix)
		atomic_store(&m->count, live);
	else if (atomic_load(&m->count) != live)
		rep->bad_slots++;
	return 0;
}

static int writer_state_alloc(struct shm_table *t)
{
	t->free_ent = malloc(sizeof(uint32_t) * t->geom.capacity);
	t->limbo = malloc(sizeof(struct limbo) * t->geom.capacity);
	t->free_ov = malloc(sizeof(uint32_t) * t->noverflow);
	return t->free_ent && t->limbo && t->free_ov ? 0 : -ENOMEM;
}

static int repair(struct shm_table *t, bool fresh, struct shm_table_repair *rep)
{
	struct shm_table_repair local;
	uint8_t *used = calloc(t->geom.capacity, 1);
	uint8_t *ov_used = calloc(t->noverflow, 1);
	int r = writer_state_alloc(t);

	if (!rep)
		rep = &local;
	if (r < 0 || !used || !ov_used) {
		free(used);
		free(ov_used);
		return -ENOMEM;
	}
	scan(t, true, rep, used, ov_used);
	t->count = rep->entries;

	/* Entries nobody links may still be read by readers of the previous
	 * writer (deleted ones) or half written (an interrupted insert): wait
	 * one grace period before reuse, or leave them in limbo if it cannot
	 * complete now. */
	bool wait_ok = fresh || shm_rcu_synchronize(t->rcu, t->rcu_slots,
						    REPAIR_GP_TIMEOUT_NS, NULL) == 0;
	uint64_t cookie = shm_rcu_snapshot(t->rcu);
	for (uint32_t i = t->geom.capacity; i-- > 0;) {
		if (used[i])
			continue;
		if (!fresh && atomic_load(&entry_at(t, i)->version) & 1) {
			rep->orphans++;
			atomic_fetch_add(&entry_at(t, i)->version, 1);
		}
		if (wait_ok)
			t->free_ent[t->nfree_ent++] = i;
		else
			t->limbo[t->nlimbo++] = (struct limbo){ i, cookie };
	}
	for (uint32_t i = t->noverflow; i-- > 0;)
		if (!ov_used[i])
			t->free_ov[t->nfree_ov++] = i;
	free(used);
	free(ov_used);
	return 0;
}

int shm_table_verify(struct shm_table *t, struct shm_table_repair *found)
{
	struct shm_table_repair local;
	uint8_t *used = calloc(t->geom.capacity, 1);
	uint8_t *ov_used = calloc(t->noverflow, 1);

	if (!found)
		found = &local;
	if (!used || !ov_used) {
		free(used);
		free(ov_used);
		return -ENOMEM;
	}
	scan(t, false, found, used, ov_used);
	free(used);
	free(ov_used);
	return found->bad_slots || found->duplicates || found->cut_chains || found->rolled_back
		       ? -EUCLEAN
		       : 0;
}

/* ---- open / close ------------------------------------------------------- */

static struct shm_table *table_new(void)
{
	return calloc(1, sizeof(struct shm_table));
}

void shm_table_close(struct shm_table *t)
{
	if (!t)
		return;
	shm_seg_close(t->seg);
	free(t->free_ent);
	free(t->free_ov);
	free(t->limbo);
	free(t);
}

int shm_table_open_writer(const char *instance, const char *name,
			  const struct shm_table_geom *geom, const struct shm_perm *perm,
			  struct shm_table **out, struct shm_table_repair *rep)
{
	uint32_t nb, no, stride;
	struct shm_layout l;
	struct shm_seg *seg;
	bool created;
	int r = derive(geom, &nb, &no, &stride);

	if (r < 0)
		return r;
	layout_of(geom, nb, no, stride, &l);
	r = shm_seg_open_writer(instance, name, &l, perm, &seg, &created);
	if (r < 0)
		return r;
	struct shm_table *t = table_new();
	if (!t) {
		shm_seg_close(seg);
		return -ENOMEM;
	}
	t->writer = true;
	if (created) {
		struct shm_table_meta *m = shm_seg_region(seg, R_META, NULL);
		if (getrandom(m->seed, sizeof(m->seed), 0) != sizeof(m->seed)) {
			m->seed[0] = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
			m->seed[1] = (uint64_t)(uintptr_t)m ^ 0x9e3779b97f4a7c15ULL;
		}
	}
	r = bind(t, seg, geom->value_kind, geom->value_version);
	if (r == 0)
		r = repair(t, created, rep);
	if (r < 0) {
		shm_table_close(t);
		return r;
	}
	*out = t;
	return 0;
}

static int attach_seg(struct shm_seg *seg, uint32_t value_kind, uint32_t value_version,
		      bool writer, struct shm_table **out, struct shm_table_repair *rep)
{
	struct shm_table *t = table_new();
	int r;

	if (!t) {
		shm_seg_close(seg);
		return -ENOMEM;
	}
	t->writer = writer;
	r = bind(t, seg, value_kind, value_version);
	if (r == 0 && writer)
		r = repair(t, false, rep);
	if (r < 0) {
		shm_table_close(t);
		return r;
	}
	*out = t;
	return 0;
}

int shm_table_open_reader(const char *instance, const char *name, uint32_t value_kind,
			  uint32_t value_version, struct shm_table **out,
			  struct shm_table_geom *geom)
{
	struct shm_seg *seg;
	int r = shm_seg_open_reader(instance, name, SHM_KIND_HASH, SHM_TABLE_VERSION, &seg);

	if (r < 0)
		return r;
	r = attach_seg(seg, value_kind, value_version, false, out, NULL);
	if (r == 0 && geom)
		*geom = (*out)->geom;
	return r;
}

int shm_table_attach_fd(int fd, uint32_t value_kind, uint32_t value_version, bool writer,
			struct shm_table **out, struct shm_table_repair *rep)
{
	struct shm_seg *seg;
	int r = shm_seg_attach_fd(fd, SHM_KIND_HASH, SHM_TABLE_VERSION, writer, &seg);

	if (r < 0)
		return r;
	return attach_seg(seg, value_kind, value_version, writer, out, rep);
}
