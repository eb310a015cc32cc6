// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Peer mode: the glue between the agent's fixed affinities and common/repl
 * (the model is in fwd_repl.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/ev.h"
#include "common/log.h"
#include "common/str.h"
#include "fwd_repl.h"

struct fwd_repl {
	struct repl *r;
	struct fwd_aff *aff;
	struct fwd_repl_mgrs mgrs;
	uint64_t self;
	uint64_t peer[FWD_MAX_PEERS];    /* instance ids, by index */
	unsigned npeers;
	struct fwd_aff_item group[FWD_AFF_GROUP]; /* a dump's current group */
};

/* ---- the value on the wire ---------------------------------------------------- */

void fwd_repl_encode(const struct aff_fixed *v, const struct fwd_repl_mgrs *mgrs,
		     uint64_t now_ms, struct fwd_repl_copy *out)
{
	memset(out, 0, sizeof(*out));
	out->version = FWD_REPL_VERSION;
	if (v->expires_ms > now_ms)
		out->left_ms = v->expires_ms - now_ms > UINT32_MAX ? UINT32_MAX
								   : (uint32_t)(v->expires_ms - now_ms);
	out->manager = v->owner < mgrs->n ? mgrs->id[v->owner] : 0;
	out->v = *v;
	/* what only means something here does not travel */
	out->v.owner = 0;
	out->v.origin = 0;
	out->v.expires_ms = 0;
}

int fwd_repl_decode(const void *val, size_t len, const struct fwd_repl_mgrs *mgrs,
		    uint16_t origin, uint64_t now_ms, struct aff_fixed *out)
{
	struct fwd_repl_copy c;
	unsigned m;

	if (len != sizeof(c))
		return FWD_COPY_BAD;
	memcpy(&c, val, sizeof(c));
	if (c.version != FWD_REPL_VERSION || c.v.mgr_len > AFF_FIXED_MGR_DATA || c.left_ms == 0 ||
	    (c.v.flags & AFF_F_ADVERTISE))
		return FWD_COPY_BAD;
	for (m = 0; m < mgrs->n && mgrs->id[m] != c.manager; m++)
		;
	if (m == mgrs->n || c.manager == 0)
		return FWD_COPY_NO_MANAGER;
	*out = c.v;
	out->owner = (uint16_t)m;
	out->origin = origin;
	out->expires_ms = now_ms + c.left_ms;
	out->flags &= (uint16_t)~AFF_F_REPORTED; /* our own sweep reports our bytes */
	return 0;
}

/* ---- callbacks ---------------------------------------------------------------- */

/* 1 + the peer's index, or 0 if the instance is no peer of ours. */
static uint16_t origin_of(const struct fwd_repl *p, uint64_t instance)
{
	for (unsigned i = 0; i < p->npeers; i++)
		if (p->peer[i] == instance)
			return (uint16_t)(i + 1);
	return 0;
}

static int on_apply(void *arg, uint64_t from, const struct repl_txn *t)
{
	struct fwd_repl *p = arg;
	uint16_t origin = origin_of(p, t->owner);
	uint64_t now = ev_now_ms();
	struct flow_key k;
	struct aff_fixed v;
	int r;

	(void)from;
	if (t->op == REPL_OP_DELETE_OWNER) {
		fwd_aff_purge_copies(p->aff, t->owner == REPL_OWNER_ALL ? 0 : origin);
		return 0;
	}
	if (!origin || t->key_len != sizeof(k)) {
		fwd_aff_count_copy(p->aff, FWD_COPY_BAD);
		return -EINVAL;
	}
	memcpy(&k, t->key, sizeof(k));
	switch (t->op) {
	case REPL_OP_ADD:
	case REPL_OP_UPDATE:
		r = fwd_repl_decode(t->value, t->value_len, &p->mgrs, origin, now, &v);
		if (r) {
			fwd_aff_count_copy(p->aff, (enum fwd_copy)r);
			return -EINVAL;
		}
		return fwd_aff_put_copy(p->aff, &k, &v, now) == FWD_COPY_APPLIED ? 0 : -EAGAIN;
	case REPL_OP_DELETE:
		fwd_aff_delete_copy(p->aff, &k, origin);
		return 0;
	default:
		return 0; /* an owner's error report: nothing to undo in a cache */
	}
}

/* A dump offers our own entries only: copies belong to their owners' streams. */
static int on_dump(void *arg, struct repl_dump *d, uint64_t *cursor)
{
	struct fwd_repl *p = arg;
	uint64_t now = ev_now_ms();
	struct fwd_repl_copy c;

	while (*cursor != UINT32_MAX) {
		uint32_t pos = (uint32_t)*cursor;
		unsigned n = fwd_aff_read_group(p->aff, &pos, p->group);

		for (unsigned i = 0; i < n; i++) {
			const struct fwd_aff_item *it = &p->group[i];
			if (it->v.origin || (it->v.expires_ms && it->v.expires_ms <= now))
				continue;
			fwd_repl_encode(&it->v, &p->mgrs, now, &c);
			/* full: the whole group again in the next chunk (a few
			 * entries twice; applying them is idempotent) */
			if (repl_dump_add(d, p->self, &it->key, sizeof(it->key), &c, sizeof(c)) ==
			    -ENOSPC)
				return 0;
		}
		*cursor = pos;
	}
	return 1;
}

static void on_event(void *arg, const struct repl_event *ev)
{
	struct fwd_repl *p = arg;
	uint16_t o = origin_of(p, ev->instance);

	switch (ev->type) {
	case REPL_EV_MEMBER_UP:
		log_info("replication peer %u is up (generation %llu)", o ? o - 1 : 0,
			 (unsigned long long)ev->generation);
		break;
	case REPL_EV_MEMBER_LOST:
		log_notice("replication peer %u lost: its copies are kept for the grace period",
			   o ? o - 1 : 0);
		break;
	case REPL_EV_PURGED:
		log_notice("replication peer %u: copies purged", o ? o - 1 : 0);
		break;
	default:
		break;
	}
}

void fwd_repl_changed(void *arg, const struct flow_key *key, const struct aff_fixed *v,
		      uint64_t now_ms)
{
	struct fwd_repl *p = arg;
	struct fwd_repl_copy c;
	struct repl_txn t = { .op = REPL_OP_DELETE, .owner = p->self, .key = key,
			      .key_len = sizeof(*key) };

	if (v) {
		fwd_repl_encode(v, &p->mgrs, now_ms, &c);
		t.op = REPL_OP_UPDATE; /* an update of a missing key adds it */
		t.value = &c;
		t.value_len = sizeof(c);
	}
	if (repl_submit(p->r, &t) < 0)
		log_debug("replication: a change was not submitted");
}

/* ---- set-up ---------------------------------------------------------------------- */

int fwd_repl_open(struct ev_loop *loop, void *zctx, const struct fwd_config *cfg,
		  const char *secret_key, uint64_t generation, struct fwd_aff *aff,
		  struct fwd_repl **out)
{
	const struct fwd_repl_cfg *rc = &cfg->repl;
	struct repl_config c;
	struct fwd_repl *p;
	int r;

	*out = NULL;
	if (!rc->listen[0])
		return 0;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->aff = aff;
	p->self = loom_str_hash64(cfg->instance);
	p->mgrs.n = cfg->n_managers;
	for (unsigned i = 0; i < cfg->n_managers; i++)
		p->mgrs.id[i] = fwd_config_manager_id(cfg, i);

	memset(&c, 0, sizeof(c));
	c.zctx = zctx;
	c.group = rc->group;
	c.mode = REPL_MODE_PEER;
	c.role = REPL_ROLE_PEER;
	c.instance = p->self;
	c.generation = generation;
	c.daemon_role = MSG_ROLE_FWD_AGENT;
	snprintf(c.endpoint, sizeof(c.endpoint), "%s", rc->listen);
	snprintf(c.public_key, sizeof(c.public_key), "%s", cfg->public_key);
	snprintf(c.secret_key, sizeof(c.secret_key), "%s", secret_key ? secret_key : "");
	p->npeers = rc->n_peers;
	c.n_members = rc->n_peers;
	for (unsigned i = 0; i < rc->n_peers; i++) {
		p->peer[i] = loom_str_hash64(rc->peers[i].instance);
		c.members[i].instance = p->peer[i];
		snprintf(c.members[i].endpoint, sizeof(c.members[i].endpoint), "%s",
			 rc->peers[i].endpoint);
		snprintf(c.members[i].public_key, sizeof(c.members[i].public_key), "%s",
			 rc->peers[i].public_key);
	}
	if (rc->auth.len) {
		c.auth_key = rc->auth.key;
		c.auth_key_len = rc->auth.len;
	}
	c.heartbeat_ms = (uint32_t)rc->heartbeat_ms;
	c.dead_ms = (uint32_t)rc->dead_ms;
	c.grace_ms = (uint32_t)rc->grace_ms;
	c.batch_ms = (uint32_t)rc->batch_ms;
	c.ops.apply = on_apply;
	c.ops.dump = on_dump;
	c.ops.event = on_event;
	c.arg = p;
	r = repl_new(loop, &c, &p->r);
	memset(c.secret_key, 0, sizeof(c.secret_key));
	if (r < 0) {
		free(p);
		return log_errno(r, "replication: listening on %s", rc->listen);
	}
	*out = p;
	return 0;
}

void fwd_repl_close(struct fwd_repl *p)
{
	if (!p)
		return;
	repl_free(p->r);
	free(p);
}

void fwd_repl_counters(const struct fwd_repl *p, struct repl_counters *out)
{
	repl_counters(p->r, out);
}
