// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Copying the agent's affinity tables out of shared memory.
 *
 * Every read-side section here covers a bounded amount of copying and
 * nothing else: no formatting, no output, no allocation. Whatever is copied
 * is checked before it is handed on (lengths clamped, counts bounded by the
 * geometry validated at attach).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"
#include "shm/seg.h"
#include "shm/snap.h"

struct ctl_aff {
	struct shm_table *tab;
	struct shm_table_geom geom;
	struct shm_snap *snap;
	struct shm_seg *snap_seg;   /* the snapshot's segment, for its figures */
	struct shm_rcu_reader tab_rd;
	struct shm_rcu_reader snap_rd;
	bool tab_reg, snap_reg;
	struct ctl_rerr err;
};

uint64_t ctl_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int ctl_aff_open(const char *instance, struct ctl_aff **out, const char **failed)
{
	struct ctl_aff *c = calloc(1, sizeof(*c));
	int r;

	if (!c)
		return -ENOMEM;
	*failed = "affinity";
	r = shm_table_open_reader(instance, "affinity", AFF_FIXED_KIND, AFF_FIXED_VERSION, &c->tab,
				  &c->geom);
	if (r < 0)
		goto fail;
	/* kind and version matched, but the value size is what every copy
	 * below relies on: a segment that disagrees is not one we understand */
	if (c->geom.value_size != sizeof(struct aff_fixed)) {
		r = -EPROTO;
		goto fail;
	}
	r = shm_table_reader_register(c->tab, &c->tab_rd);
	if (r < 0)
		goto fail;
	c->tab_reg = true;

	*failed = "wildcard";
	r = shm_snap_open_reader(instance, "wildcard", AFF_SNAP_KIND, AFF_SNAP_VERSION, &c->snap);
	if (r < 0)
		goto fail;
	r = shm_seg_open_reader(instance, "wildcard", SHM_KIND_SNAP, SHM_SNAP_VERSION,
				&c->snap_seg);
	if (r < 0)
		goto fail;
	r = shm_snap_reader_register(c->snap, &c->snap_rd);
	if (r < 0)
		goto fail;
	c->snap_reg = true;
	*out = c;
	return 0;
fail:
	ctl_aff_close(c);
	return r;
}

void ctl_aff_close(struct ctl_aff *c)
{
	if (!c)
		return;
	if (c->snap_reg)
		shm_rcu_unregister(&c->snap_rd);
	if (c->tab_reg)
		shm_table_reader_unregister(&c->tab_rd);
	if (c->snap_seg)
		shm_seg_close(c->snap_seg);
	if (c->snap)
		shm_snap_close(c->snap);
	if (c->tab)
		shm_table_close(c->tab);
	free(c);
}

const struct shm_table_geom *ctl_aff_geom(const struct ctl_aff *c)
{
	return &c->geom;
}

/* ---- the wildcard snapshot ---------------------------------------------------- */

static void clamp_len(struct ctl_aff *c, uint8_t *len)
{
	if (*len > AFF_MAX_MGR_DATA) {
		*len = AFF_MAX_MGR_DATA;
		c->err.clamped++;
	}
}

void ctl_aff_snapshot(struct ctl_aff *c, struct ctl_snap *s)
{
	size_t max = aff_snap_size(AFF_MAX_WILDCARDS, AFF_MAX_WILDCARDS);
	size_t len = 0;
	void *buf = malloc(max);
	bool copied = false;

	memset(s, 0, sizeof(*s));
	if (!buf)
		return;
	shm_rcu_read_lock(&c->snap_rd);
	const void *p = shm_snap_current(c->snap, &len, &s->generation);
	/* copy once, validate the copy: the writer (or something posing as
	 * it) cannot change the bytes between our checks and our use */
	if (p && len <= max) {
		memcpy(buf, p, len);
		copied = true;
	}
	shm_rcu_read_unlock(&c->snap_rd);

	if (!copied || aff_snap_view(buf, len, &s->view) < 0) {
		if (p)
			c->err.bad_snapshot++;
		free(buf);
		return;
	}
	struct aff_wild *w = (struct aff_wild *)((uint8_t *)buf + sizeof(struct aff_snap_hdr));
	for (uint32_t i = 0; i < s->view.nwild; i++)
		clamp_len(c, &w[i].mgr_len);
	s->present = true;
	s->buf = buf;
	s->wild = s->view.wild;
	s->nwild = s->view.nwild;
	s->adv = s->view.adv;
	s->nadv = s->view.nadv;
	s->built_ms = s->view.built_ms;
}

void ctl_snap_free(struct ctl_snap *s)
{
	free(s->buf);
	memset(s, 0, sizeof(*s));
}

/* ---- the fixed table ------------------------------------------------------------ */

struct piece {
	struct ctl_aff *c;
	struct ctl_fixed rows[CTL_PIECE_ROOM];
	size_t n;
};

/* Inside the read-side section: copy, nothing else. */
static int piece_cb(const struct shm_entry *e, uint32_t idx, void *arg)
{
	struct piece *p = arg;
	struct ctl_fixed *f;

	if (p->n == CTL_PIECE_ROOM) {
		/* cannot happen with 7-slot buckets; never write past the end */
		p->c->err.overflow++;
		return 0;
	}
	f = &p->rows[p->n];
	if (shm_entry_read(p->c->tab, e, &f->key, &f->v) < 0) {
		p->c->err.busy++;
		return 0;
	}
	f->idx = idx;
	shm_table_counters(p->c->tab, idx, &f->packets, &f->bytes, &f->last_seen_ns);
	p->n++;
	return 0;
}

uint64_t ctl_aff_walk(struct ctl_aff *c, uint64_t limit,
		      int (*cb)(const struct ctl_fixed *rows, size_t n, void *arg), void *arg)
{
	struct piece *p = malloc(sizeof(*p));
	uint64_t total = 0;
	uint32_t pos = 0;

	if (!p)
		return 0;
	p->c = c;
	while (pos != UINT32_MAX && total < limit) {
		uint32_t next;

		p->n = 0;
		shm_rcu_read_lock(&c->tab_rd);
		next = shm_table_walk(c->tab, pos, CTL_PIECE, piece_cb, p);
		shm_rcu_read_unlock(&c->tab_rd);

		/* the walk moves forward by whole buckets; anything else is a bug
		 * we refuse to loop on */
		if (next != UINT32_MAX && next <= pos) {
			c->err.overflow++;
			break;
		}
		pos = next;
		size_t n = p->n;
		for (size_t i = 0; i < n; i++)
			clamp_len(c, &p->rows[i].v.mgr_len);
		/* a table cannot hold more than its capacity: a hostile bucket
		 * region listing entries twice is cut there */
		if (total + n > c->geom.capacity) {
			c->err.overflow++;
			n = c->geom.capacity > total ? (size_t)(c->geom.capacity - total) : 0;
			pos = UINT32_MAX;
		}
		if (n > limit - total)
			n = (size_t)(limit - total);
		total += n;
		if (n && cb(p->rows, n, arg))
			break;
	}
	free(p);
	return total;
}

int ctl_aff_lookup(struct ctl_aff *c, const struct flow_key *key, struct ctl_fixed *out)
{
	int r = -ENOENT;

	memset(out, 0, sizeof(*out));
	shm_rcu_read_lock(&c->tab_rd);
	const struct shm_entry *e = shm_table_lookup(c->tab, key);
	if (e) {
		r = shm_entry_read(c->tab, e, &out->key, &out->v);
		if (r == 0) {
			out->idx = shm_entry_index(c->tab, e);
			shm_table_counters(c->tab, out->idx, &out->packets, &out->bytes,
					   &out->last_seen_ns);
		}
	}
	shm_rcu_read_unlock(&c->tab_rd);
	if (r == -EAGAIN)
		c->err.busy++;
	if (r == 0)
		clamp_len(c, &out->v.mgr_len);
	return r;
}

uint64_t ctl_aff_count_hint(const struct ctl_aff *c)
{
	return shm_table_count_entries(c->tab);
}

void ctl_seg_stats(const struct shm_seg *seg, struct ctl_seg_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->writer_pid = shm_seg_writer_pid(seg);
	st->writer_alive = st->writer_pid > 0 && shm_proc_start_time(st->writer_pid) != 0;
	st->generation = shm_seg_generation(seg);
	/* the slot count was validated at attach; the figures are plain words */
	shm_rcu_get_stats(shm_seg_rcu(seg), shm_seg_rcu_slots(seg), &st->rcu);
}

void ctl_aff_seg_stats(const struct ctl_aff *c, bool wildcard, struct ctl_seg_stats *st)
{
	ctl_seg_stats(wildcard ? c->snap_seg : shm_table_seg(c->tab), st);
}

void ctl_aff_reader_errors(const struct ctl_aff *c, struct shm_table_rstats *tab,
			   struct ctl_rerr *own)
{
	shm_table_reader_stats(c->tab, tab);
	*own = c->err;
}

/* ---- the service manager's services snapshot ------------------------------------ */

/* Terminate a fixed-size string field of the copy and replace bytes a
 * terminal would act on; true if anything had to change. */
static bool make_printable(char *s, size_t size)
{
	bool changed = false;
	size_t i;

	for (i = 0; i < size && s[i]; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch < 0x20 || ch == 0x7f) {
			s[i] = '?';
			changed = true;
		}
	}
	if (i == size) {
		s[size - 1] = '\0';
		changed = true;
	}
	return changed;
}

int ctl_snap_copy(const char *instance, const char *name, uint32_t kind, uint32_t version,
		  size_t max, void **buf, size_t *len, uint64_t *generation)
{
	struct shm_snap *snap;
	struct shm_rcu_reader rd;
	bool copied = false, published = false;
	int r;

	*buf = NULL;
	*len = 0;
	r = shm_snap_open_reader(instance, name, kind, version, &snap);
	if (r < 0)
		return r;
	r = shm_snap_reader_register(snap, &rd);
	if (r < 0) {
		shm_snap_close(snap);
		return r;
	}
	/* 64-byte aligned: a snapshot's sections are laid out for it */
	if (!(*buf = aligned_alloc(64, (max + 63) & ~(size_t)63))) {
		r = -ENOMEM;
		goto out;
	}
	shm_rcu_read_lock(&rd);
	const void *p = shm_snap_current(snap, len, generation);
	/* copy once, validate the copy (see ctl_aff_snapshot) */
	if (p) {
		published = true;
		if (*len <= max) {
			memcpy(*buf, p, *len);
			copied = true;
		}
	}
	shm_rcu_read_unlock(&rd);
	r = !published ? -ENODATA : !copied ? -EBADMSG : 0;
out:
	shm_rcu_unregister(&rd);
	shm_snap_close(snap);
	if (r < 0) {
		free(*buf);
		*buf = NULL;
	}
	return r;
}

int ctl_svcs_read(const char *instance, struct ctl_svcs *s)
{
	size_t len;
	int r;

	memset(s, 0, sizeof(*s));
	r = ctl_snap_copy(instance, "services", SVCS_KIND, SVCS_VERSION,
			  svcs_size(SVCS_MAX_SERVICES, SVCS_MAX_BACKENDS), &s->buf, &len,
			  &s->generation);
	if (r < 0)
		return r;
	if (svcs_view(s->buf, len, &s->v) < 0) {
		ctl_svcs_free(s);
		return -EBADMSG;
	}
	/* the view's pointers are const for readers of shared memory; this is
	 * our own copy, fixed up once before anyone formats it */
	struct svcs_service *svc = (struct svcs_service *)((uint8_t *)s->buf + sizeof(struct svcs_hdr));
	struct svcs_backend *be = (struct svcs_backend *)(svc + s->v.hdr->nsvc);
	for (uint32_t i = 0; i < s->v.hdr->nsvc; i++)
		s->fixed += make_printable(svc[i].name, sizeof(svc[i].name));
	for (uint32_t i = 0; i < s->v.hdr->nbackend; i++)
		s->fixed += make_printable(be[i].last_error, sizeof(be[i].last_error));
	return 0;
}

void ctl_svcs_free(struct ctl_svcs *s)
{
	free(s->buf);
	memset(s, 0, sizeof(*s));
}

const struct svcs_service *ctl_svcs_by_id(const struct ctl_svcs *s, uint32_t id)
{
	if (!s || !s->buf)
		return NULL;
	for (uint32_t i = 0; i < s->v.hdr->nsvc; i++)
		if (s->v.svc[i].id == id)
			return &s->v.svc[i];
	return NULL;
}

const struct svcs_service *ctl_svcs_by_name(const struct ctl_svcs *s, const char *name)
{
	if (!s || !s->buf)
		return NULL;
	for (uint32_t i = 0; i < s->v.hdr->nsvc; i++)
		if (!strcmp(s->v.svc[i].name, name))
			return &s->v.svc[i];
	return NULL;
}
