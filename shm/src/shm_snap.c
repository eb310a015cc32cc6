// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "shm-internal.h"
#include "shm/snap.h"

#define REPAIR_GP_TIMEOUT_NS 100000000ULL
#define RECLAIM_TIMEOUT_NS 100000000ULL
#define MAX_EXTENTS 4096

enum { R_META, R_AREA, R_COUNT };
enum { G_AREA, G_VALUE_KIND, G_VALUE_VERSION };

struct shm_snap_meta {
	_Atomic uint64_t cur;        /* offset << 32 | length; 0 = none */
	_Atomic uint64_t generation;
	uint64_t pad[6];
};
static_assert(sizeof(struct shm_snap_meta) == 64, "snap meta layout pinned");

struct extent {
	uint64_t off, len;
	uint64_t cookie; /* limbo only: gp snapshot when retired */
};

struct shm_snap {
	struct shm_seg *seg;
	bool writer;
	struct shm_snap_meta *meta;
	uint8_t *area;
	uint64_t area_size;
	struct shm_rcu_area *rcu;
	uint32_t rcu_slots;
	_Atomic uint64_t bad_current;
	/* writer-private */
	struct extent *free;  /* sorted by offset, coalesced */
	uint32_t nfree;
	struct extent *limbo;
	uint32_t nlimbo;
	struct extent *busy;  /* allocated, not yet published */
	uint32_t nbusy;
};

static uint64_t round_up(uint64_t v)
{
	return (v + SHM_SNAP_ALIGN - 1) & ~(uint64_t)(SHM_SNAP_ALIGN - 1);
}

static void layout_of(const struct shm_snap_geom *g, struct shm_layout *l)
{
	memset(l, 0, sizeof(*l));
	l->kind = SHM_KIND_SNAP;
	l->kind_version = SHM_SNAP_VERSION;
	l->rcu_slots = g->rcu_slots;
	l->nregions = R_COUNT;
	l->region_size[R_META] = sizeof(struct shm_snap_meta);
	l->region_size[R_AREA] = g->area_size;
	l->geometry[G_AREA] = g->area_size;
	l->geometry[G_VALUE_KIND] = g->value_kind;
	l->geometry[G_VALUE_VERSION] = g->value_version;
}

/* Insert a free extent keeping the list sorted and coalesced. */
static void free_insert(struct shm_snap *s, uint64_t off, uint64_t len)
{
	uint32_t i = 0;

	while (i < s->nfree && s->free[i].off < off)
		i++;
	bool join_prev = i > 0 && s->free[i - 1].off + s->free[i - 1].len == off;
	bool join_next = i < s->nfree && off + len == s->free[i].off;
	if (join_prev && join_next) {
		s->free[i - 1].len += len + s->free[i].len;
		memmove(&s->free[i], &s->free[i + 1], (s->nfree - i - 1) * sizeof(*s->free));
		s->nfree--;
	} else if (join_prev) {
		s->free[i - 1].len += len;
	} else if (join_next) {
		s->free[i].off = off;
		s->free[i].len += len;
	} else {
		memmove(&s->free[i + 1], &s->free[i], (s->nfree - i) * sizeof(*s->free));
		s->free[i] = (struct extent){ off, len, 0 };
		s->nfree++;
	}
}

static bool cur_decode(const struct shm_snap *s, uint64_t cur, uint64_t *off, uint64_t *len)
{
	*off = cur >> 32;
	*len = cur & 0xffffffffu;
	return cur != 0 && *off % SHM_SNAP_ALIGN == 0 && *len <= s->area_size &&
	       *off <= s->area_size - *len;
}

const void *shm_snap_current(struct shm_snap *s, size_t *len, uint64_t *generation)
{
	uint64_t cur = atomic_load_explicit(&s->meta->cur, memory_order_acquire);
	uint64_t off, l;

	if (generation)
		*generation = atomic_load_explicit(&s->meta->generation, memory_order_relaxed);
	*len = 0;
	if (cur == 0)
		return NULL;
	if (!cur_decode(s, cur, &off, &l)) {
		atomic_fetch_add_explicit(&s->bad_current, 1, memory_order_relaxed);
		return NULL;
	}
	*len = l;
	return s->area + off;
}

static bool reclaim_ready(struct shm_snap *s)
{
	uint32_t kept = 0;
	bool any = false;

	for (uint32_t i = 0; i < s->nlimbo; i++) {
		if (shm_rcu_poll(s->rcu, s->limbo[i].cookie)) {
			free_insert(s, s->limbo[i].off, s->limbo[i].len);
			any = true;
		} else {
			s->limbo[kept++] = s->limbo[i];
		}
	}
	s->nlimbo = kept;
	return any;
}

int64_t shm_snap_reclaim(struct shm_snap *s, uint64_t timeout_ns)
{
	uint64_t before = shm_snap_free_bytes(s);
	int r;

	if (s->nlimbo == 0)
		return 0;
	r = shm_rcu_synchronize(s->rcu, s->rcu_slots, timeout_ns, NULL);
	if (r < 0)
		return r;
	reclaim_ready(s);
	return (int64_t)(shm_snap_free_bytes(s) - before);
}

uint64_t shm_snap_free_bytes(const struct shm_snap *s)
{
	uint64_t n = 0;

	for (uint32_t i = 0; i < s->nfree; i++)
		n += s->free[i].len;
	return n;
}

static void *try_alloc(struct shm_snap *s, uint64_t need)
{
	for (uint32_t i = 0; i < s->nfree; i++) {
		if (s->free[i].len < need)
			continue;
		uint64_t off = s->free[i].off;
		s->free[i].off += need;
		s->free[i].len -= need;
		if (s->free[i].len == 0) {
			memmove(&s->free[i], &s->free[i + 1], (s->nfree - i - 1) * sizeof(*s->free));
			s->nfree--;
		}
		s->busy[s->nbusy++] = (struct extent){ off, need, 0 };
		return s->area + off;
	}
	return NULL;
}

void *shm_snap_alloc(struct shm_snap *s, size_t len)
{
	uint64_t need = round_up(len ? len : 1);
	void *p;

	if (!s->writer || need > s->area_size || need > 0xffffffffu || s->nbusy >= MAX_EXTENTS ||
	    s->nfree + s->nlimbo + 2 >= MAX_EXTENTS)
		return NULL;
	p = try_alloc(s, need);
	if (!p && (reclaim_ready(s) || shm_snap_reclaim(s, RECLAIM_TIMEOUT_NS) > 0))
		p = try_alloc(s, need);
	return p;
}

static int busy_take(struct shm_snap *s, const void *p, struct extent *out)
{
	uint64_t off = (uint64_t)((const uint8_t *)p - s->area);

	for (uint32_t i = 0; i < s->nbusy; i++) {
		if (s->busy[i].off == off) {
			*out = s->busy[i];
			s->busy[i] = s->busy[--s->nbusy];
			return 0;
		}
	}
	return -EINVAL;
}

void shm_snap_abort(struct shm_snap *s, void *p)
{
	struct extent e;

	if (p && busy_take(s, p, &e) == 0)
		free_insert(s, e.off, e.len);
}

int shm_snap_publish(struct shm_snap *s, void *p, size_t len)
{
	uint64_t newcur = 0, off, l;
	struct extent e = { 0, 0, 0 };

	if (!s->writer)
		return -EPERM;
	if (s->nlimbo >= MAX_EXTENTS - 1 && shm_snap_reclaim(s, RECLAIM_TIMEOUT_NS) < 0)
		return -EBUSY; /* readers hold every old snapshot: try again later */
	if (p) {
		if (busy_take(s, p, &e) < 0)
			return -EINVAL;
		if (len > e.len) {
			s->busy[s->nbusy++] = e;
			return -EINVAL;
		}
		newcur = e.off << 32 | len;
		if (newcur == 0) /* offset 0, length 0: publish as "none" */
			free_insert(s, e.off, e.len);
	}
	uint64_t old = atomic_exchange_explicit(&s->meta->cur, newcur, memory_order_release);
	atomic_fetch_add_explicit(&s->meta->generation, 1, memory_order_relaxed);
	if (old && cur_decode(s, old, &off, &l)) {
		/* the old block's real extent is its rounded length */
		s->limbo[s->nlimbo++] = (struct extent){ off, round_up(l ? l : 1),
							 shm_rcu_snapshot(s->rcu) };
	}
	if (newcur && (e.len > round_up(len ? len : 1))) {
		/* give back the unused tail of the reservation now */
		uint64_t used = round_up(len ? len : 1);
		free_insert(s, e.off + used, e.len - used);
	}
	return 0;
}

int shm_snap_reader_register(struct shm_snap *s, struct shm_rcu_reader *r)
{
	return shm_rcu_register(s->rcu, s->rcu_slots, r);
}

void shm_snap_close(struct shm_snap *s)
{
	if (!s)
		return;
	shm_seg_close(s->seg);
	free(s->free);
	free(s->limbo);
	free(s->busy);
	free(s);
}

static int bind(struct shm_snap *s, struct shm_seg *seg, uint32_t kind, uint32_t version)
{
	const uint64_t *g = shm_seg_geometry(seg);
	size_t msz, asz;

	s->seg = seg;
	if (g[G_VALUE_KIND] != kind || g[G_VALUE_VERSION] != version)
		return -EPROTO;
	s->meta = shm_seg_region(seg, R_META, &msz);
	s->area = shm_seg_region(seg, R_AREA, &asz);
	if (!s->meta || !s->area || msz < sizeof(*s->meta) || g[G_AREA] == 0 ||
	    shm_seg_region_flags(seg, R_META) || shm_seg_region_flags(seg, R_AREA) ||
	    g[G_AREA] > asz || g[G_AREA] > 0xffffffffULL)
		return -EPROTO;
	s->area_size = g[G_AREA] & ~(uint64_t)(SHM_SNAP_ALIGN - 1);
	s->rcu = shm_seg_rcu(seg);
	s->rcu_slots = shm_seg_rcu_slots(seg);
	return 0;
}

/* Everything but the published block is free, once a grace period has let
 * go of whatever readers of a previous writer still held. */
static int writer_init(struct shm_snap *s, bool fresh)
{
	uint64_t off = 0, len = 0;

	s->free = calloc(MAX_EXTENTS, sizeof(*s->free));
	s->limbo = calloc(MAX_EXTENTS, sizeof(*s->limbo));
	s->busy = calloc(MAX_EXTENTS, sizeof(*s->busy));
	if (!s->free || !s->limbo || !s->busy)
		return -ENOMEM;
	uint64_t cur = atomic_load(&s->meta->cur);
	if (cur && !cur_decode(s, cur, &off, &len)) {
		atomic_store(&s->meta->cur, 0); /* corrupt: publish nothing */
		cur = 0;
	}
	uint64_t blk = cur ? round_up(len ? len : 1) : 0;
	if (blk > s->area_size - off)
		blk = s->area_size - off;
	bool ok = fresh ||
		  shm_rcu_synchronize(s->rcu, s->rcu_slots, REPAIR_GP_TIMEOUT_NS, NULL) == 0;
	uint64_t cookie = shm_rcu_snapshot(s->rcu);
	struct extent parts[2] = { { 0, cur ? off : s->area_size, cookie },
				   { off + blk, cur ? s->area_size - off - blk : 0, cookie } };
	for (unsigned i = 0; i < 2; i++) {
		if (parts[i].len == 0)
			continue;
		if (ok)
			free_insert(s, parts[i].off, parts[i].len);
		else
			s->limbo[s->nlimbo++] = parts[i];
	}
	return 0;
}

static int attach_seg(struct shm_seg *seg, uint32_t kind, uint32_t version, bool writer,
		      bool fresh, struct shm_snap **out)
{
	struct shm_snap *s = calloc(1, sizeof(*s));
	int r;

	if (!s) {
		shm_seg_close(seg);
		return -ENOMEM;
	}
	s->writer = writer;
	r = bind(s, seg, kind, version);
	if (r == 0 && writer)
		r = writer_init(s, fresh);
	if (r < 0) {
		shm_snap_close(s);
		return r;
	}
	*out = s;
	return 0;
}

int shm_snap_open_writer(const char *instance, const char *name,
			 const struct shm_snap_geom *geom, const struct shm_perm *perm,
			 struct shm_snap **out)
{
	struct shm_layout l;
	struct shm_seg *seg;
	bool created;
	int r;

	if (geom->area_size < SHM_SNAP_ALIGN || geom->area_size > 0xffffffffULL ||
	    geom->rcu_slots == 0)
		return -EINVAL;
	layout_of(geom, &l);
	r = shm_seg_open_writer(instance, name, &l, perm, &seg, &created);
	if (r < 0)
		return r;
	return attach_seg(seg, geom->value_kind, geom->value_version, true, created, out);
}

int shm_snap_open_reader(const char *instance, const char *name, uint32_t value_kind,
			 uint32_t value_version, struct shm_snap **out)
{
	struct shm_seg *seg;
	int r = shm_seg_open_reader(instance, name, SHM_KIND_SNAP, SHM_SNAP_VERSION, &seg);

	if (r < 0)
		return r;
	return attach_seg(seg, value_kind, value_version, false, false, out);
}

int shm_snap_attach_fd(int fd, uint32_t value_kind, uint32_t value_version, bool writer,
		       struct shm_snap **out)
{
	struct shm_seg *seg;
	int r = shm_seg_attach_fd(fd, SHM_KIND_SNAP, SHM_SNAP_VERSION, writer, &seg);

	if (r < 0)
		return r;
	return attach_seg(seg, value_kind, value_version, writer, false, out);
}
