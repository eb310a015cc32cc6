// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Applying affinity updates from managers to the shared tables.
 *
 * Wildcards are few (thousands at most) and change rarely, so they are kept
 * in a private array and republished whole as a sorted snapshot when they
 * change. Fixed affinities are many and change per flow, so they go straight
 * into the shared hash table, one upsert each.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "fwd_aff.h"

#define SNAP_RCU_TIMEOUT_NS 50000000ULL
#define EVICT_BATCH 64

static const char *const upd_names[] = { FWD_UPD_LIST(LOOM_XSTR) };
static const char *const copy_names[] = { FWD_COPY_LIST(LOOM_XSTR) };

const char *fwd_copy_str(enum fwd_copy c)
{
	return (unsigned)c < FWD_COPY__COUNT ? copy_names[c] : "?";
}

const char *fwd_upd_str(enum fwd_upd u)
{
	return (unsigned)u < FWD_UPD__COUNT ? upd_names[u] : "?";
}

struct fwd_aff {
	struct shm_table *fixed;
	struct shm_table *fwdstats;      /* per forward address (information flag) */
	struct shm_snap *snap;
	uint64_t caps;
	fwd_aff_report_fn *report;       /* byte thresholds reached */
	void *report_arg;
	fwd_aff_changed_fn *changed;     /* replication of what managers change */
	void *changed_arg;
	bool has_direct_via;             /* host mode with a direct return path */
	uint8_t direct_via[16];
	struct aff_wild wild[AFF_MAX_WILDCARDS];
	uint32_t nwild;
	bool dirty;
	uint32_t sweep_pos;
	struct fwd_aff_stats st;
};

/* ---- reading an update ---------------------------------------------------- */

/* Actions and precedence common to both kinds of update. */
struct upd {
	struct aff_actions act;
	int64_t rank;
	uint32_t backup;
	uint8_t mgr_len;
	uint8_t mgr_data[AFF_MAX_MGR_DATA];
	const struct msg_advertise *adv;
};

static void mask_addr(uint8_t out[16], const uint8_t a[16], const uint8_t m[16])
{
	for (unsigned i = 0; i < 16; i++)
		out[i] = a[i] & m[i];
}

static int read_update(const struct msg *m, uint64_t caps, struct upd *u)
{
	memset(u, 0, sizeof(*u));
	for (unsigned i = 0; i < m->nsegs; i++) {
		const struct msg_seg *s = &m->segs[i];

		/* an optional action this agent does not perform is skipped, as
		 * the Required flag allows (a required one was denied already) */
		if (s->type >= MSG_S_ACTION_FIRST && s->type <= MSG_S_ACTION_LAST &&
		    !(caps & MSG_CAP(s->type)))
			continue;
		switch (s->type) {
		case MSG_S_SERVICE_PREC:
			u->rank = aff_rank(s->u.service_prec.value,
					   s->u.service_prec.order == MSG_ORDER_LOWER_BETTER);
			break;
		case MSG_S_BACKUP_PREC:
			u->backup = s->u.backup_prec.value;
			break;
		case MSG_S_MGR_INTEREST:
			/* kept with the affinity and returned with interest matches */
			if (s->u.mgr_interest.len > AFF_MAX_MGR_DATA)
				return -EMSGSIZE;
			u->mgr_len = (uint8_t)s->u.mgr_interest.len;
			memcpy(u->mgr_data, s->u.mgr_interest.data, u->mgr_len);
			break;
		case MSG_S_ACT_NAT:
			u->act.flags |= AFF_F_NAT;
			u->act.nat_fields = (uint8_t)s->u.nat.present;
			memcpy(u->act.nat_saddr, s->u.nat.saddr, 16);
			memcpy(u->act.nat_daddr, s->u.nat.daddr, 16);
			u->act.nat_sport = s->u.nat.sport;
			u->act.nat_dport = s->u.nat.dport;
			break;
		case MSG_S_ACT_SEQ_ADJUST:
			u->act.flags |= AFF_F_SEQ;
			u->act.seq_delta = s->u.seq_adjust.seq_delta;
			u->act.seq_init = s->u.seq_adjust.seq_init;
			u->act.ack_delta = s->u.seq_adjust.ack_delta;
			u->act.ack_init = s->u.seq_adjust.ack_init;
			break;
		case MSG_S_ACT_INTEREST:
			u->act.flags |= AFF_F_INTEREST;
			u->act.int_mask = s->u.interest.mask;
			u->act.int_data = s->u.interest.data;
			u->act.int_copy = s->u.interest.copy;
			u->act.int_hold = s->u.interest.hold;
			memcpy(u->act.int_addr, s->u.interest.addr, 16);
			u->act.int_port = s->u.interest.port;
			if (s->u.interest.present & MSG_INTEREST_BYTES)
				u->act.report_bytes = s->u.interest.bytes;
			break;
		case MSG_S_ACT_ADVERTISE:
			u->act.flags |= AFF_F_ADVERTISE;
			u->adv = &s->u.advertise;
			break;
		default:
			break;
		}
	}
	return 0;
}

static void set_dispatch(struct aff_actions *act, bool dispatch, bool info, const uint8_t fwd[16])
{
	if (dispatch)
		act->flags |= AFF_F_DISPATCH;
	if (info)
		act->flags |= AFF_F_INFO;
	memcpy(act->fwd_addr, fwd, 16);
}

/* An affinity that dispatches with the information flag: make sure its
 * forward address has a statistics entry for the workers to count in. */
static void note_forward(struct fwd_aff *a, const struct aff_actions *act, uint64_t now_ms)
{
	struct flow_key k;

	if (!(act->flags & AFF_F_INFO) || !(act->flags & AFF_F_DISPATCH))
		return;
	aff_fwdstat_key(&k, act->fwd_addr);
	if (shm_table_lookup(a->fwdstats, &k))
		return; /* the writer reads its own table without a section */
	struct aff_fwdstat v = { .first_ms = now_ms };
	shm_table_upsert(a->fwdstats, &k, &v); /* full: not counted, nothing else lost */
}

static uint64_t expiry(uint64_t now_ms, uint32_t ttl_s)
{
	return now_ms + (uint64_t)ttl_s * 1000u;
}

/* ---- wildcards ------------------------------------------------------------ */

/* The same wildcard: same manager, same criteria, same precedence. */
static bool same_wild(const struct aff_wild *a, const struct aff_wild *b)
{
	return a->owner == b->owner && a->rank == b->rank && a->backup_prec == b->backup_prec &&
	       key_equal(&a->key, &b->key) && !memcmp(a->smask, b->smask, 16) &&
	       !memcmp(a->dmask, b->dmask, 16);
}

/* An advertisement lives exactly as long as the wildcard that asked for it:
 * the published list of advertised prefixes is derived from the wildcards. */
static void wild_remove(struct fwd_aff *a, uint32_t i)
{
	a->wild[i] = a->wild[--a->nwild];
	a->dirty = true;
}

static enum fwd_upd apply_wildcard(struct fwd_aff *a, uint16_t owner, const struct msg *m,
				   uint64_t now_ms)
{
	const struct msg_seg *s = msg_find(m, MSG_S_WILDCARD);
	struct aff_wild w;
	struct upd u;

	if (!s || read_update(m, a->caps, &u) < 0)
		return FWD_UPD_BAD;
	const struct msg_wildcard *mw = &s->u.wildcard;
	u.act.report_bytes = 0; /* a byte count is a flow's, not a wildcard's */

	memset(&w, 0, sizeof(w));
	key_init(&w.key);
	w.key.proto = mw->key.proto;
	w.key.sport = mw->key.sport;
	w.key.dport = mw->key.dport;
	mask_addr(w.key.saddr, mw->key.saddr, mw->smask);
	mask_addr(w.key.daddr, mw->key.daddr, mw->dmask);
	memcpy(w.smask, mw->smask, 16);
	memcpy(w.dmask, mw->dmask, 16);
	w.owner = owner;
	w.rank = u.rank;
	w.backup_prec = u.backup;

	uint32_t i;
	for (i = 0; i < a->nwild && !same_wild(&a->wild[i], &w); i++)
		;
	if (mw->ttl == 0) {
		if (i == a->nwild)
			return FWD_UPD_NOT_FOUND;
		wild_remove(a, i);
		return FWD_UPD_DELETED;
	}

	w.act = u.act;
	set_dispatch(&w.act, mw->dispatch, mw->info, mw->forward);
	note_forward(a, &w.act, now_ms);
	w.ttl_s = mw->ttl;
	w.expires_ms = expiry(now_ms, mw->ttl);
	w.mgr_len = u.mgr_len;
	memcpy(w.mgr_data, u.mgr_data, u.mgr_len);

	if (u.adv) {
		/* seed 001, figure 10H: the advertise segment names the address,
		 * and a mask when it advertises a subnet */
		if (u.adv->present & MSG_ADV_MASK)
			memcpy(w.adv_mask, u.adv->mask, 16);
		else
			memset(w.adv_mask, 0xff, 16);
		mask_addr(w.adv_addr, u.adv->addr, w.adv_mask);
	}
	if (i == a->nwild) {
		if (a->nwild == AFF_MAX_WILDCARDS)
			return FWD_UPD_TOO_MANY;
		a->nwild++;
	}
	a->wild[i] = w;
	a->dirty = true;
	return FWD_UPD_APPLIED;
}

/* ---- fixed affinities ------------------------------------------------------ */

static bool backed(const struct fwd_aff *a, uint16_t owner, const struct flow_key *k,
		   uint64_t now_ms)
{
	for (uint32_t i = 0; i < a->nwild; i++) {
		const struct aff_wild *w = &a->wild[i];
		if (w->owner == owner && w->expires_ms > now_ms && aff_wild_covers(w, k))
			return true;
	}
	return false;
}

/*
 * Make room by evicting the least recently used idle entries: a sample of
 * the table from a rotating position, the oldest half of it evicted.
 * Approximate LRU, like Redis's: exact LRU would cost a list update per
 * packet on the data path.
 */
struct evict_cand {
	struct flow_key key;
	uint64_t last;
};

struct evict_ctx {
	struct shm_table *t;
	struct evict_cand c[EVICT_BATCH];
	unsigned n;
};

static int evict_cb(const struct shm_entry *e, uint32_t idx, void *arg)
{
	struct evict_ctx *x = arg;
	struct aff_fixed v;
	uint64_t last;

	if (x->n == EVICT_BATCH)
		return 1;
	if (shm_entry_read(x->t, e, &x->c[x->n].key, &v) < 0)
		return 0;
	shm_table_counters(x->t, idx, NULL, NULL, &last);
	/* never seen: count from when it was installed */
	if (last == 0)
		last = (v.expires_ms - (uint64_t)v.ttl_s * 1000u) * 1000000u;
	x->c[x->n++].last = last;
	return 0;
}

static int cmp_last(const void *a, const void *b)
{
	const struct evict_cand *x = a, *y = b;
	return x->last < y->last ? -1 : x->last > y->last;
}

static unsigned evict_lru(struct fwd_aff *a)
{
	struct evict_ctx x = { .t = a->fixed };
	struct shm_rcu_reader rd;
	unsigned evicted = 0;

	if (shm_table_reader_register(a->fixed, &rd) < 0)
		return 0;
	shm_rcu_read_lock(&rd);
	for (int pass = 0; pass < 2 && x.n < EVICT_BATCH; pass++) {
		a->sweep_pos = shm_table_walk(a->fixed, a->sweep_pos, EVICT_BATCH - x.n,
					      evict_cb, &x);
		if (a->sweep_pos == UINT32_MAX)
			a->sweep_pos = 0;
	}
	shm_rcu_read_unlock(&rd);
	shm_table_reader_unregister(&rd);
	qsort(x.c, x.n, sizeof(x.c[0]), cmp_last);
	for (unsigned i = 0; i < (x.n + 1) / 2; i++)
		if (shm_table_delete(a->fixed, &x.c[i].key) == 0)
			evicted++;
	a->st.evicted += evicted;
	shm_table_reclaim(a->fixed, SNAP_RCU_TIMEOUT_NS);
	return evicted;
}

static enum fwd_upd apply_fixed(struct fwd_aff *a, uint16_t owner, const struct msg *m,
				uint64_t now_ms)
{
	const struct msg_seg *s = msg_find(m, MSG_S_FIXED);
	struct aff_fixed v;
	struct upd u;
	int r;

	/* the fixed entry keeps less manager data than a wildcard (its room
	 * holds the byte threshold): refused, never cut */
	if (!s || read_update(m, a->caps, &u) < 0 || (u.act.flags & AFF_F_ADVERTISE) ||
	    u.mgr_len > AFF_FIXED_MGR_DATA)
		return FWD_UPD_BAD;
	const struct msg_fixed *mf = &s->u.fixed;

	if (mf->ttl == 0) {
		if (shm_table_delete(a->fixed, &mf->key) < 0)
			return FWD_UPD_NOT_FOUND;
		if (a->changed)
			a->changed(a->changed_arg, &mf->key, NULL, now_ms);
		return FWD_UPD_DELETED;
	}
	/* seed 001: a fixed affinity with no wildcard of its manager behind it
	 * is ignored and discarded */
	if (!backed(a, owner, &mf->key, now_ms))
		return FWD_UPD_NO_WILDCARD;

	set_dispatch(&u.act, mf->dispatch, mf->info, mf->forward);
	if (a->has_direct_via && !mf->dispatch && (u.act.flags & AFF_F_NAT) &&
	    (u.act.nat_fields & MSG_NAT_SADDR))
		set_dispatch(&u.act, true, mf->info, a->direct_via);
	note_forward(a, &u.act, now_ms);
	memset(&v, 0, sizeof(v));
	aff_fixed_set_actions(&v, &u.act);
	v.ttl_s = mf->ttl;
	v.expires_ms = expiry(now_ms, mf->ttl);
	v.owner = owner;
	v.rank = u.rank;
	v.backup_prec = u.backup;
	v.mgr_len = u.mgr_len;
	memcpy(v.mgr_data, u.mgr_data, u.mgr_len);

	r = shm_table_upsert(a->fixed, &mf->key, &v);
	if (r == -ENOSPC && evict_lru(a) > 0)
		r = shm_table_upsert(a->fixed, &mf->key, &v);
	if (r < 0)
		return FWD_UPD_TABLE_FULL;
	if (a->changed)
		a->changed(a->changed_arg, &mf->key, &v, now_ms);
	return FWD_UPD_APPLIED;
}

/* ---- copies from replication peers --------------------------------------------- */

enum fwd_copy fwd_aff_put_copy(struct fwd_aff *a, const struct flow_key *key,
			       const struct aff_fixed *v, uint64_t now_ms)
{
	enum fwd_copy c = FWD_COPY_APPLIED;

	if (v->expires_ms <= now_ms) {
		c = FWD_COPY_EXPIRED;
	} else if (!backed(a, v->owner, key, now_ms)) {
		/* the same rule as for the manager's own update (seed 001) */
		c = FWD_COPY_NO_WILDCARD;
	} else {
		int r = shm_table_upsert(a->fixed, key, v);
		if (r == -ENOSPC && evict_lru(a) > 0)
			r = shm_table_upsert(a->fixed, key, v);
		if (r < 0)
			c = FWD_COPY_TABLE_FULL;
	}
	a->st.copy[c]++;
	return c;
}

void fwd_aff_delete_copy(struct fwd_aff *a, const struct flow_key *key, uint16_t origin)
{
	const struct shm_entry *e = shm_table_lookup(a->fixed, key);
	struct aff_fixed v;

	/* the writer reads its own table without a section */
	if (e && shm_entry_read(a->fixed, e, NULL, &v) == 0 && v.origin == origin &&
	    shm_table_delete(a->fixed, key) == 0)
		a->st.copy[FWD_COPY_DELETED]++;
}

struct group_ctx {
	struct shm_table *t;
	struct fwd_aff_item *out;
	unsigned n;
};

static int group_cb(const struct shm_entry *e, uint32_t idx, void *arg)
{
	struct group_ctx *x = arg;

	(void)idx;
	if (x->n < FWD_AFF_GROUP &&
	    shm_entry_read(x->t, e, &x->out[x->n].key, &x->out[x->n].v) == 0)
		x->n++;
	return 0;
}

unsigned fwd_aff_read_group(struct fwd_aff *a, uint32_t *pos, struct fwd_aff_item *out)
{
	struct group_ctx x = { .t = a->fixed, .out = out };
	struct shm_rcu_reader rd;

	if (*pos == UINT32_MAX || shm_table_reader_register(a->fixed, &rd) < 0)
		return 0;
	shm_rcu_read_lock(&rd);
	/* the walk stops on a bucket boundary once it has seen max entries,
	 * and a bucket holds at most 7: max + 6 fit */
	*pos = shm_table_walk(a->fixed, *pos, FWD_AFF_GROUP - 6, group_cb, &x);
	shm_rcu_read_unlock(&rd);
	shm_table_reader_unregister(&rd);
	return x.n;
}

uint64_t fwd_aff_purge_copies(struct fwd_aff *a, uint16_t origin)
{
	struct fwd_aff_item *it = malloc(FWD_AFF_GROUP * sizeof(*it));
	uint32_t pos = 0;
	uint64_t n = 0;

	if (!it)
		return 0;
	while (pos != UINT32_MAX) {
		unsigned k = fwd_aff_read_group(a, &pos, it);
		for (unsigned i = 0; i < k; i++)
			if (it[i].v.origin && (!origin || it[i].v.origin == origin) &&
			    shm_table_delete(a->fixed, &it[i].key) == 0)
				n++;
	}
	free(it);
	a->st.copy[FWD_COPY_PURGED] += n;
	return n;
}

void fwd_aff_count_copy(struct fwd_aff *a, enum fwd_copy c)
{
	if ((unsigned)c < FWD_COPY__COUNT)
		a->st.copy[c]++;
}

enum fwd_upd fwd_aff_apply(struct fwd_aff *a, uint16_t owner, const struct msg *m,
			   uint64_t now_ms, struct msg_action_list *deny)
{
	enum fwd_upd r;

	/* an action list (or a Required action segment) naming something we
	 * cannot do: the whole update is refused and the manager told */
	if (msg_check_supported(m, a->caps, deny) > 0) {
		r = FWD_UPD_DENIED;
	} else if (m->type == MSG_T_UPDATE_WILDCARD) {
		r = apply_wildcard(a, owner, m, now_ms);
	} else if (m->type == MSG_T_UPDATE_FIXED) {
		r = apply_fixed(a, owner, m, now_ms);
	} else {
		r = FWD_UPD_BAD;
	}
	a->st.upd[r]++;
	return r;
}

/* ---- expiry, publishing ------------------------------------------------------ */

struct sweep_ctx {
	struct shm_table *t;
	uint64_t now_ms;
	struct flow_key dead[256];
	unsigned n;
	struct flow_key report[64]; /* reached their byte threshold */
	unsigned nrep;
};

static int sweep_cb(const struct shm_entry *e, uint32_t idx, void *arg)
{
	struct sweep_ctx *x = arg;
	struct aff_fixed v;
	struct flow_key k;
	uint64_t bytes;

	if (x->n == LOOM_ARRAY_SIZE(x->dead) || x->nrep == LOOM_ARRAY_SIZE(x->report))
		return 1;
	if (shm_entry_read(x->t, e, &k, &v) < 0)
		return 0;
	if (v.expires_ms && v.expires_ms <= x->now_ms) {
		x->dead[x->n++] = k;
	} else if (v.report_bytes && !(v.flags & AFF_F_REPORTED)) {
		shm_table_counters(x->t, idx, NULL, &bytes, NULL);
		if (bytes >= v.report_bytes)
			x->report[x->nrep++] = k;
	}
	return 0;
}

/* Tell the owners of the affinities that reached their byte thresholds;
 * one that could not be told now (rate limit) is tried at the next sweep. */
static void send_reports(struct fwd_aff *a, const struct sweep_ctx *x)
{
	for (unsigned i = 0; i < x->nrep && a->report; i++) {
		const struct shm_entry *e = shm_table_lookup(a->fixed, &x->report[i]);
		struct aff_fixed v;
		if (!e || shm_entry_read(a->fixed, e, NULL, &v) < 0 || (v.flags & AFF_F_REPORTED))
			continue;
		if (a->report(a->report_arg, &x->report[i], &v) < 0)
			continue;
		v.flags |= AFF_F_REPORTED;
		if (shm_table_upsert(a->fixed, &x->report[i], &v) >= 0)
			a->st.reported++;
	}
}

void fwd_aff_expire(struct fwd_aff *a, uint64_t now_ms, uint32_t budget)
{
	for (uint32_t i = 0; i < a->nwild;) {
		if (a->wild[i].expires_ms && a->wild[i].expires_ms <= now_ms)
			wild_remove(a, i);
		else
			i++;
	}

	struct sweep_ctx *x = malloc(sizeof(*x));
	struct shm_rcu_reader rd;
	if (!x || shm_table_reader_register(a->fixed, &rd) < 0) {
		free(x);
		return;
	}
	x->t = a->fixed;
	x->now_ms = now_ms;
	x->n = 0;
	x->nrep = 0;
	shm_rcu_read_lock(&rd);
	uint32_t next = shm_table_walk(a->fixed, a->sweep_pos, budget, sweep_cb, x);
	shm_rcu_read_unlock(&rd);
	shm_table_reader_unregister(&rd);
	a->sweep_pos = next == UINT32_MAX ? 0 : next;
	for (unsigned i = 0; i < x->n; i++)
		if (shm_table_delete(a->fixed, &x->dead[i]) == 0)
			a->st.expired++;
	send_reports(a, x);
	free(x);
	fwd_aff_publish(a, now_ms);
}

static int cmp_wild(const void *pa, const void *pb)
{
	const struct aff_wild *x = pa, *y = pb;

	if (aff_wild_before(x, y))
		return -1;
	return aff_wild_before(y, x) ? 1 : 0;
}

static uint32_t count_adv(const struct fwd_aff *a)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < a->nwild; i++)
		n += (a->wild[i].act.flags & AFF_F_ADVERTISE) != 0;
	return n;
}

int fwd_aff_publish(struct fwd_aff *a, uint64_t now_ms)
{
	uint32_t nadv = count_adv(a);
	size_t len = aff_snap_size(a->nwild, nadv);
	uint8_t *p;

	if (!a->dirty)
		return 0;
	p = shm_snap_alloc(a->snap, len);
	if (!p)
		return -ENOSPC; /* readers hold every old snapshot: retried next time */
	struct aff_snap_hdr h = { .magic = AFF_SNAP_MAGIC, .nwild = a->nwild, .nadv = nadv,
				  .built_ms = now_ms };
	struct aff_wild *w = (struct aff_wild *)(p + sizeof(h));
	memcpy(w, a->wild, (size_t)a->nwild * sizeof(*w));
	qsort(w, a->nwild, sizeof(*w), cmp_wild);
	struct aff_adv *ad = (struct aff_adv *)(p + sizeof(h) + (size_t)a->nwild * sizeof(*w));
	for (uint32_t i = 0, j = 0; i < a->nwild; i++) {
		if (!(w[i].act.flags & AFF_F_ADVERTISE))
			continue;
		memset(&ad[j], 0, sizeof(ad[j]));
		memcpy(ad[j].addr, w[i].adv_addr, 16);
		memcpy(ad[j].mask, w[i].adv_mask, 16);
		ad[j++].owner = w[i].owner;
	}
	memcpy(p, &h, sizeof(h));
	int r = shm_snap_publish(a->snap, p, len);
	if (r < 0) {
		shm_snap_abort(a->snap, p);
		return r;
	}
	a->dirty = false;
	a->st.published++;
	return 0;
}

void fwd_aff_reclaim(struct fwd_aff *a)
{
	shm_table_reclaim(a->fixed, SNAP_RCU_TIMEOUT_NS);
	shm_snap_reclaim(a->snap, SNAP_RCU_TIMEOUT_NS);
}

void fwd_aff_get_stats(const struct fwd_aff *a, struct fwd_aff_stats *st)
{
	*st = a->st;
	st->nwild = a->nwild;
	st->nadv = count_adv(a);
	st->nfixed = shm_table_count_entries(a->fixed);
}

struct shm_table *fwd_aff_table(struct fwd_aff *a)
{
	return a->fixed;
}

struct shm_snap *fwd_aff_snap(struct fwd_aff *a)
{
	return a->snap;
}

struct shm_table *fwd_aff_fwdstats(struct fwd_aff *a)
{
	return a->fwdstats;
}

/* ---- open ---------------------------------------------------------------------- */

/*
 * On restart the fixed table is taken over as it is (flows keep their
 * affinities); the wildcards are read back from the published snapshot,
 * so the agent keeps matching while its managers reconnect and refresh.
 */
static void load_wildcards(struct fwd_aff *a)
{
	struct shm_rcu_reader rd;
	struct aff_snap_view v;
	size_t len;

	if (shm_snap_reader_register(a->snap, &rd) < 0)
		return;
	shm_rcu_read_lock(&rd);
	const void *p = shm_snap_current(a->snap, &len, NULL);
	if (p && aff_snap_view(p, len, &v) == 0 && v.nwild <= AFF_MAX_WILDCARDS) {
		memcpy(a->wild, v.wild, (size_t)v.nwild * sizeof(*v.wild));
		a->nwild = v.nwild;
	}
	shm_rcu_read_unlock(&rd);
	shm_rcu_unregister(&rd);
}

int fwd_aff_open(const struct fwd_aff_cfg *cfg, struct fwd_aff **out,
		 struct shm_table_repair *rep)
{
	struct shm_table_geom g = {
		.capacity = cfg->capacity, .value_size = AFF_FIXED_VALUE_SIZE,
		.value_kind = AFF_FIXED_KIND, .value_version = AFF_FIXED_VERSION,
		.lanes = cfg->lanes, .rcu_slots = cfg->rcu_slots,
	};
	/* room for two full snapshots plus one being built */
	struct shm_snap_geom sg = {
		.area_size = 3 * ((aff_snap_size(AFF_MAX_WILDCARDS, AFF_MAX_WILDCARDS) + 4095) &
				  ~(size_t)4095),
		.value_kind = AFF_SNAP_KIND, .value_version = AFF_SNAP_VERSION,
		.rcu_slots = cfg->rcu_slots,
	};
	struct fwd_aff *a = calloc(1, sizeof(*a));
	int r;

	if (!a)
		return -ENOMEM;
	a->caps = cfg->caps;
	a->report = cfg->report;
	a->report_arg = cfg->report_arg;
	a->changed = cfg->changed;
	a->changed_arg = cfg->changed_arg;
	if (cfg->direct_via) {
		static const uint8_t zero[16];
		memcpy(a->direct_via, cfg->direct_via, 16);
		a->has_direct_via = memcmp(a->direct_via, zero, 16) != 0;
	}
	r = shm_table_open_writer(cfg->instance, "affinity", &g, &cfg->perm, &a->fixed, rep);
	if (r < 0) {
		free(a);
		return r;
	}
	r = shm_snap_open_writer(cfg->instance, "wildcard", &sg, &cfg->perm, &a->snap);
	if (r < 0) {
		shm_table_close(a->fixed);
		free(a);
		return r;
	}
	struct shm_table_geom fg = {
		.capacity = AFF_FWDSTATS_MAX, .value_size = sizeof(struct aff_fwdstat),
		.value_kind = AFF_FWDSTATS_KIND, .value_version = AFF_FWDSTATS_VERSION,
		.lanes = cfg->lanes, .rcu_slots = cfg->rcu_slots,
	};
	r = shm_table_open_writer(cfg->instance, "fwdstats", &fg, &cfg->perm, &a->fwdstats, NULL);
	if (r < 0) {
		shm_table_close(a->fixed);
		shm_snap_close(a->snap);
		free(a);
		return r;
	}
	load_wildcards(a);
	*out = a;
	return 0;
}

void fwd_aff_unlink(const char *instance)
{
	shm_seg_unlink(instance, "affinity");
	shm_seg_unlink(instance, "wildcard");
	shm_seg_unlink(instance, "fwdstats");
}

void fwd_aff_close(struct fwd_aff *a)
{
	if (!a)
		return;
	shm_table_close(a->fixed);
	shm_table_close(a->fwdstats);
	shm_snap_close(a->snap);
	free(a);
}
