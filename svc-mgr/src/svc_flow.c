// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "svc_flow.h"

#define RECLAIM_TIMEOUT_NS (20u * 1000u * 1000u)

struct svc_flows {
	struct shm_table *t;
	uint32_t flows;
	unsigned pairs_repaired;
	svc_flows_observer *observe;
	void *observe_arg;
};

void svc_flows_observe(struct svc_flows *f, svc_flows_observer *fn, void *arg)
{
	f->observe = fn;
	f->observe_arg = arg;
}

unsigned svc_flows_pairs_repaired(const struct svc_flows *f)
{
	return f->pairs_repaired;
}

/*
 * A writer killed between the two stores of a pair leaves one entry alone:
 * an original without its reply (insert cut short: the record is whole, so
 * the reply is written again) or a reply without its original (delete cut
 * short: no walk of originals would ever find it, so it goes). Both keys
 * are checked against the record so a stray entry is never multiplied.
 */
struct pair_fix {
	struct flow_key key;
	struct flow_rec rec;
};

struct pair_ctx {
	struct shm_table *t;
	struct pair_fix *fix;
	size_t n, cap;
};

static int pair_cb(const struct shm_entry *e, uint32_t idx, void *arg)
{
	struct pair_ctx *x = arg;
	struct flow_rec r;
	struct flow_key ko, kr;

	(void)idx;
	memcpy(&r, shm_entry_value(e), sizeof(r));
	flow_rec_keys(&r, &ko, &kr);
	const struct flow_key *other = r.dir == FLOW_DIR_ORIG ? &kr : &ko;
	if (shm_table_lookup(x->t, other))
		return 0;
	if (x->n == x->cap) {
		size_t cap = x->cap ? 2 * x->cap : 64;
		struct pair_fix *p = realloc(x->fix, cap * sizeof(*p));
		if (!p)
			return 1;
		x->fix = p;
		x->cap = cap;
	}
	x->fix[x->n++] = (struct pair_fix){ .key = e->key, .rec = r };
	return 0;
}

static unsigned repair_pairs(struct svc_flows *f)
{
	struct pair_ctx x = { .t = f->t };
	uint32_t pos = 0;

	do
		pos = shm_table_walk(f->t, pos, 1u << 20, pair_cb, &x);
	while (pos != UINT32_MAX);
	for (size_t i = 0; i < x.n; i++) {
		if (x.fix[i].rec.dir == FLOW_DIR_ORIG)
			svc_flows_put(f, &x.fix[i].rec);
		else
			shm_table_delete(f->t, &x.fix[i].key);
	}
	free(x.fix);
	return (unsigned)x.n;
}

int svc_flows_open(const char *instance, uint32_t flows, uint16_t rcu_slots,
		   const struct shm_perm *perm, struct svc_flows **out,
		   struct shm_table_repair *rep)
{
	struct shm_table_geom g = {
		.capacity = flows * 2, .value_size = FLOW_VALUE_SIZE, .value_kind = FLOW_KIND,
		.value_version = FLOW_VERSION, .lanes = 1, .rcu_slots = rcu_slots,
	};
	struct svc_flows *f;
	int r;

	if (flows == 0 || flows > (1u << 30))
		return -EINVAL;
	if (!(f = calloc(1, sizeof(*f))))
		return -ENOMEM;
	f->flows = flows;
	if ((r = shm_table_open_writer(instance, "flow", &g, perm, &f->t, rep)) < 0) {
		free(f);
		return r;
	}
	f->pairs_repaired = repair_pairs(f);
	*out = f;
	return 0;
}

void svc_flows_close(struct svc_flows *f)
{
	if (!f)
		return;
	shm_table_close(f->t);
	free(f);
}

/* The writer's own reads need no read-side section: only it frees entries. */
int svc_flows_get(struct svc_flows *f, const struct flow_key *k, struct flow_rec *out)
{
	const struct shm_entry *e = shm_table_lookup(f->t, k);

	if (!e)
		return -ENOENT;
	memcpy(out, shm_entry_value(e), sizeof(*out));
	return 0;
}

int svc_flows_put(struct svc_flows *f, const struct flow_rec *r)
{
	struct flow_key ko, kr;
	struct flow_rec o = *r, p = *r;
	int a, b;

	flow_rec_keys(r, &ko, &kr);
	o.dir = FLOW_DIR_ORIG;
	p.dir = FLOW_DIR_REPLY;
	if ((a = shm_table_upsert(f->t, &ko, &o)) < 0)
		return a;
	if ((b = shm_table_upsert(f->t, &kr, &p)) < 0) {
		if (a == 0)
			shm_table_delete(f->t, &ko);
		return b;
	}
	if (f->observe)
		f->observe(f->observe_arg, false, &ko, &o);
	return 0;
}

int svc_flows_insert(struct svc_flows *f, const struct flow_rec *r)
{
	struct flow_key ko, kr;

	flow_rec_keys(r, &ko, &kr);
	if (key_equal(&ko, &kr) || shm_table_lookup(f->t, &ko) || shm_table_lookup(f->t, &kr))
		return -EEXIST;
	return svc_flows_put(f, r);
}

int svc_flows_del(struct svc_flows *f, const struct flow_rec *r)
{
	struct flow_key ko, kr;

	flow_rec_keys(r, &ko, &kr);
	int a = shm_table_delete(f->t, &ko), b = shm_table_delete(f->t, &kr);
	if (a < 0 && b < 0)
		return -ENOENT;
	if (f->observe)
		f->observe(f->observe_arg, true, &ko, r);
	return 0;
}

struct walk_ctx {
	int (*cb)(const struct flow_key *orig, const struct flow_rec *r, void *arg);
	void *arg;
	unsigned n;
	bool stopped;
};

static int walk_cb(const struct shm_entry *e, uint32_t idx, void *arg)
{
	struct walk_ctx *x = arg;
	struct flow_rec r;

	(void)idx;
	memcpy(&r, shm_entry_value(e), sizeof(r));
	if (r.dir != FLOW_DIR_ORIG)
		return 0;
	x->n++;
	if (x->cb(&e->key, &r, x->arg)) {
		x->stopped = true;
		return 1;
	}
	return 0;
}

unsigned svc_flows_walk(struct svc_flows *f, uint32_t *pos, uint32_t max,
			int (*cb)(const struct flow_key *orig, const struct flow_rec *r, void *arg),
			void *arg)
{
	struct walk_ctx x = { .cb = cb, .arg = arg };
	uint32_t next = shm_table_walk(f->t, *pos, max, walk_cb, &x);

	/* shm_table_walk goes on after the bucket where cb stopped, but what
	 * cb did not see of that bucket is left for next time (the sweep
	 * stops when its batch is full, often mid-bucket: those flows were
	 * skipped until the walk came round again) */
	if (x.stopped && next != UINT32_MAX && next > 0)
		next--;
	*pos = next == UINT32_MAX ? 0 : next;
	return x.n;
}

void svc_flows_reclaim(struct svc_flows *f)
{
	shm_table_reclaim(f->t, RECLAIM_TIMEOUT_NS);
}

uint64_t svc_flows_count(const struct svc_flows *f)
{
	return shm_table_count_entries(f->t) / 2;
}

uint32_t svc_flows_capacity(const struct svc_flows *f)
{
	return f->flows;
}

struct shm_seg *svc_flows_seg(const struct svc_flows *f)
{
	return shm_table_seg(f->t);
}

#define EACH_BATCH 1024u

struct each_ctx {
	bool (*pick)(const struct flow_rec *r, void *arg);
	void *arg;
	unsigned n;
	struct flow_rec r[EACH_BATCH];
};

static int each_cb(const struct flow_key *orig, const struct flow_rec *r, void *arg)
{
	struct each_ctx *x = arg;

	(void)orig;
	if (x->pick && !x->pick(r, x->arg))
		return 0;
	if (x->n == EACH_BATCH)
		return 1; /* the rest of this bucket comes first next round */
	x->r[x->n++] = *r;
	return 0;
}

int svc_flows_each(struct svc_flows *f, bool (*pick)(const struct flow_rec *r, void *arg),
		   void (*fn)(struct flow_rec *r, void *arg), void *arg)
{
	struct each_ctx *x = malloc(sizeof(*x));
	uint32_t pos = 0;

	if (!x)
		return -ENOMEM;
	x->pick = pick;
	x->arg = arg;
	do {
		x->n = 0;
		svc_flows_walk(f, &pos, f->flows * 2, each_cb, x);
		for (unsigned i = 0; i < x->n; i++)
			fn(&x->r[i], arg);
	} while (pos != 0);
	free(x);
	return 0;
}
