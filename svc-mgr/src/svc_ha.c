// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The manager's hot standby (ARCHITECTURE.md section 5, docs/svc-mgr.md "Hot
 * standby"): the flow table replicated active -> standby through common/repl
 * (active/standby mode), one entry per flow under its original key.
 *
 * Every manager of a group starts as standby and asks the active, if there
 * is one, for a dump. One configured `role: active` that finds no active
 * after the join time takes the role; a standby that holds the table takes
 * it when the active is lost. Taking over raises the group's epoch (a
 * replicated entry of its own), which makes this manager's wildcards win
 * over whatever the lost one left at the agents (svc_core_backup).
 *
 * The flow records' owner is the group, not the manager: both members answer
 * for the same flows, and a takeover finds them its own.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/ev.h"
#include "common/log.h"
#include "common/repl.h"
#include "common/str.h"
#include "svc_ha.h"
#include "svc_mgr.h"

#define EPOCH_KEY "epoch"
#define DUMP_STEP (1u << 16)

struct svc_ha {
	struct svc_mgr *m;
	struct repl *r;
	bool applying;             /* a received change: not to be sent on */
	bool want_active;
	struct ev_handle *join_t;
	uint64_t peers[SVC_MAX_PEERS];
	unsigned npeers;
};

/* ---- what the active sends --------------------------------------------------- */

static void observe(void *arg, bool gone, const struct flow_key *orig, const struct flow_rec *r)
{
	struct svc_ha *h = arg;
	struct repl_txn t = {
		.op = gone ? REPL_OP_DELETE : REPL_OP_UPDATE, .owner = h->m->instance,
		.key = orig, .key_len = sizeof(*orig),
		.value = gone ? NULL : r, .value_len = gone ? 0 : sizeof(*r),
	};

	if (h->applying || h->m->standby)
		return;
	if (repl_submit(h->r, &t) < 0)
		log_debug("replication refused a flow change");
}

static void submit_epoch(struct svc_ha *h)
{
	uint32_t e = h->m->epoch;
	struct repl_txn t = { .op = REPL_OP_UPDATE, .owner = h->m->instance, .key = EPOCH_KEY,
			      .key_len = strlen(EPOCH_KEY), .value = &e, .value_len = sizeof(e) };

	repl_submit(h->r, &t);
}

/* ---- what a standby receives -------------------------------------------------- */

/* A record from the wire must be one the table could hold under that key. */
static bool rec_ok(const struct flow_key *k, const struct flow_rec *r)
{
	struct flow_key ko, kr;

	if (r->type < FLOW_T_LB || r->type > FLOW_T_PASS || r->dir > FLOW_DIR_REPLY ||
	    r->state > FLOW_S_DEAD)
		return false;
	flow_rec_keys(r, &ko, &kr);
	return key_equal(&ko, k) && !key_equal(&ko, &kr);
}

static void drop_flow(struct flow_rec *r, void *arg)
{
	struct svc_mgr *m = arg;

	svc_flows_del(m->flows, r);
}

/* Everything goes: the dump that follows brings the active's table. */
static void clear_table(struct svc_mgr *m)
{
	if (svc_flows_each(m->flows, NULL, drop_flow, m) < 0)
		log_err("replication: out of memory clearing the flow table");
	svc_flows_reclaim(m->flows);
}

static int apply(void *arg, uint64_t from, const struct repl_txn *t)
{
	struct svc_ha *h = arg;
	struct svc_mgr *m = h->m;
	struct flow_key k;
	struct flow_rec r;
	int rc = 0;

	(void)from;
	h->applying = true;
	if (t->op == REPL_OP_DELETE_OWNER) {
		clear_table(m);
	} else if (t->key_len == strlen(EPOCH_KEY) && !memcmp(t->key, EPOCH_KEY, t->key_len)) {
		if (t->op == REPL_OP_DELETE || t->value_len != sizeof(uint32_t))
			rc = -EINVAL;
		else
			memcpy(&m->epoch, t->value, sizeof(uint32_t));
	} else if (t->key_len != sizeof(k)) {
		rc = -EINVAL;
	} else {
		memcpy(&k, t->key, sizeof(k));
		if (t->op == REPL_OP_DELETE) {
			if (svc_flows_get(m->flows, &k, &r) == 0)
				svc_flows_del(m->flows, &r);
		} else if (t->op == REPL_OP_ADD || t->op == REPL_OP_UPDATE) {
			if (t->value_len != sizeof(r)) {
				rc = -EINVAL;
			} else {
				memcpy(&r, t->value, sizeof(r));
				rc = rec_ok(&k, &r) ? svc_flows_put(m->flows, &r) : -EINVAL;
			}
		}
	}
	h->applying = false;
	return rc;
}

/* ---- the dump the active sends a joining standby -------------------------------- */

struct dump_ctx {
	struct repl_dump *d;
	uint64_t owner;
	bool full;
};

static int dump_cb(const struct flow_key *orig, const struct flow_rec *r, void *arg)
{
	struct dump_ctx *x = arg;

	if (repl_dump_add(x->d, x->owner, orig, sizeof(*orig), r, sizeof(*r)) == -ENOSPC) {
		x->full = true;
		return 1;
	}
	return 0;
}

/* *cursor: 0 to start (the epoch first), else the walk's bucket position + 1. */
static int dump(void *arg, struct repl_dump *d, uint64_t *cursor)
{
	struct svc_ha *h = arg;
	struct dump_ctx x = { .d = d, .owner = h->m->instance };
	uint32_t pos;

	if (*cursor == 0) {
		uint32_t e = h->m->epoch;
		if (repl_dump_add(d, h->m->instance, EPOCH_KEY, strlen(EPOCH_KEY), &e, sizeof(e)) < 0)
			return 0;
		*cursor = 1;
	}
	pos = (uint32_t)(*cursor - 1);
	svc_flows_walk(h->m->flows, &pos, DUMP_STEP, dump_cb, &x);
	*cursor = (uint64_t)pos + 1;
	return pos == 0 && !x.full ? 1 : 0;
}

/* ---- roles ---------------------------------------------------------------------- */

static void take_over(struct svc_ha *h, const char *why)
{
	struct svc_mgr *m = h->m;
	int rc = repl_set_role(h->r, REPL_ROLE_ACTIVE);

	if (rc < 0) {
		log_errno(rc, "taking the active role");
		return;
	}
	if (!repl_ready(h->r))
		log_warn("taking over without a complete copy of the flow table (%s)", why);
	m->standby = false;
	m->epoch++;
	m->ctr[SVC_C_TAKEOVERS]++;
	submit_epoch(h);
	svc_core_takeover(m);
	log_notice("active now (%s): epoch %u, %" PRIu64 " flows", why, m->epoch,
		   svc_flows_count(m->flows));
}

static bool active_alive(const struct svc_ha *h)
{
	for (unsigned i = 0; i < h->npeers; i++) {
		struct repl_member_info mi;
		if (repl_member_info(h->r, h->peers[i], &mi) == 0 && mi.alive &&
		    mi.role == REPL_ROLE_ACTIVE)
			return true;
	}
	return false;
}

/* The join time is over: the preferred active takes the role if nobody has it. */
static void on_join(struct ev_loop *loop, void *arg, int what)
{
	struct svc_ha *h = arg;

	(void)loop;
	(void)what;
	h->join_t = NULL;
	if (h->want_active && h->m->standby && !active_alive(h))
		take_over(h, "no active in the group");
	else if (h->m->standby)
		log_notice("standby: %s", active_alive(h) ? "following the active"
							   : "no active in the group yet");
}

static void on_event(void *arg, const struct repl_event *ev)
{
	struct svc_ha *h = arg;

	switch (ev->type) {
	case REPL_EV_READY:
		if (h->m->standby && active_alive(h))
			log_notice("standby holds the active's flow table: %" PRIu64 " flows",
				   svc_flows_count(h->m->flows));
		break;
	case REPL_EV_MEMBER_LOST:
		if (ev->role == REPL_ROLE_ACTIVE && h->m->standby)
			take_over(h, "the active was lost");
		break;
	case REPL_EV_MEMBER_UP:
	case REPL_EV_MEMBER_ROLE:
		if (ev->role == REPL_ROLE_ACTIVE && !h->m->standby)
			log_warn("manager %016" PRIx64 " says it is active too: two actives in the "
				 "group (a partition?); agents follow the higher epoch's wildcards",
				 ev->instance);
		break;
	default:
		break;
	}
}

/* ---- set-up ----------------------------------------------------------------------- */

int svc_ha_open(struct svc_mgr *m, struct ev_loop *loop, void *zctx, struct zap *zap,
		const char *secret_z85, struct svc_ha **out)
{
	const struct svc_config *c = m->cfg;
	const struct svc_repl_cfg *rc = &c->repl;
	struct svc_ha *h = calloc(1, sizeof(*h));
	struct repl_config *rcfg = calloc(1, sizeof(*rcfg));
	int r;

	if (!h || !rcfg) {
		free(h);
		free(rcfg);
		return -ENOMEM;
	}
	h->m = m;
	h->want_active = rc->role == SVC_HA_ACTIVE;
	rcfg->zctx = zctx;
	rcfg->zap = zap;
	rcfg->group = (uint32_t)loom_str_hash64(rc->group);
	rcfg->mode = REPL_MODE_ACTIVE_STANDBY;
	rcfg->role = REPL_ROLE_STANDBY;
	rcfg->instance = loom_str_hash64(c->instance);
	rcfg->generation = m->generation;
	rcfg->daemon_role = MSG_ROLE_SVC_MGR;
	snprintf(rcfg->endpoint, sizeof(rcfg->endpoint), "%s", rc->listen);
	snprintf(rcfg->public_key, sizeof(rcfg->public_key), "%s", c->public_key);
	snprintf(rcfg->secret_key, sizeof(rcfg->secret_key), "%s", secret_z85 ? secret_z85 : "");
	for (unsigned i = 0; i < rc->n_peers; i++) {
		struct repl_member_config *mc = &rcfg->members[rcfg->n_members++];
		mc->instance = h->peers[h->npeers++] = loom_str_hash64(rc->peers[i].instance);
		snprintf(mc->endpoint, sizeof(mc->endpoint), "%s", rc->peers[i].endpoint);
		snprintf(mc->public_key, sizeof(mc->public_key), "%s", rc->peers[i].public_key);
	}
	if (c->auth.len) {
		rcfg->auth_key = c->auth.key;
		rcfg->auth_key_len = c->auth.len;
	}
	rcfg->heartbeat_ms = (uint32_t)rc->heartbeat_ms;
	rcfg->dead_ms = (uint32_t)rc->dead_ms;
	rcfg->ops = (struct repl_ops){ .apply = apply, .dump = dump, .event = on_event };
	rcfg->arg = h;
	r = repl_new(loop, rcfg, &h->r);
	memset(rcfg->secret_key, 0, sizeof(rcfg->secret_key));
	free(rcfg);
	if (r < 0) {
		free(h);
		return r;
	}
	m->ha = true;
	m->standby = true;
	svc_core_withdraw(m); /* the wildcards again, at the standby's precedence */
	svc_flows_observe(m->flows, observe, h);
	/* wait a little longer than the library's own join time, so the roles
	 * of the members that answer are known */
	if ((r = ev_timer_add(loop, 2 * rc->dead_ms + rc->heartbeat_ms, on_join, h,
			      &h->join_t)) < 0) {
		svc_ha_close(h);
		return r;
	}
	*out = h;
	return 0;
}

void svc_ha_close(struct svc_ha *h)
{
	if (!h)
		return;
	svc_flows_observe(h->m->flows, NULL, NULL);
	ev_cancel(&h->join_t);
	repl_free(h->r);
	free(h);
}

void svc_ha_counters(const struct svc_ha *h, struct repl_counters *out)
{
	repl_counters(h->r, out);
}
