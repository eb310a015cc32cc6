// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Peer mode's glue (fwd_repl.c): the value a copy travels as, and two
 * agents' tables kept in step by the real replication library over ipc://,
 * each agent with its own loop, context and configuration, whose managers
 * are listed in different orders.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "common/ev.h"
#include "common/msg.h"
#include "fwd_repl.h"

/* ---- the value on the wire ----------------------------------------------------- */

static const struct fwd_repl_mgrs mgrs_a = { .id = { 11, 22 }, .n = 2 };
static const struct fwd_repl_mgrs mgrs_b = { .id = { 22, 33, 11 }, .n = 3 };

static struct aff_fixed sample(void)
{
	struct aff_fixed v;

	memset(&v, 0, sizeof(v));
	v.expires_ms = 10000;
	v.ttl_s = 60;
	v.owner = 1;           /* manager 22 in agent A's list */
	v.flags = AFF_F_NAT | AFF_F_REPORTED;
	v.nat_fields = MSG_NAT_DADDR;
	v.nat_daddr[15] = 7;
	v.mgr_len = 3;
	memcpy(v.mgr_data, "abc", 3);
	v.report_bytes = 5000;
	return v;
}

Test(fwd_repl_value, manager_and_expiry_follow_the_receiver)
{
	struct aff_fixed v = sample(), out;
	struct fwd_repl_copy c;

	fwd_repl_encode(&v, &mgrs_a, 4000, &c);
	cr_assert_eq(c.left_ms, 6000);
	cr_assert_eq(c.manager, 22);
	cr_assert_eq(fwd_repl_decode(&c, sizeof(c), &mgrs_b, 3, 100, &out), 0);
	cr_assert_eq(out.owner, 0, "manager 22 is index 0 at the receiver");
	cr_assert_eq(out.origin, 3);
	cr_assert_eq(out.expires_ms, 6100, "expires as the original: 6 s from arrival");
	cr_assert_eq(out.flags, AFF_F_NAT, "the byte report is the receiver's own business");
	cr_assert_eq(out.nat_daddr[15], 7);
	cr_assert_eq(out.report_bytes, 5000);
	cr_assert_eq(out.mgr_len, 3);
	cr_assert_arr_eq(out.mgr_data, "abc", 3);
}

Test(fwd_repl_value, hostile_values_refused)
{
	struct aff_fixed v = sample(), out;
	struct fwd_repl_copy c, bad;
	static const struct fwd_repl_mgrs only_33 = { .id = { 33 }, .n = 1 };

	fwd_repl_encode(&v, &mgrs_a, 4000, &c);
	cr_assert_eq(fwd_repl_decode(&c, sizeof(c) - 1, &mgrs_b, 1, 0, &out), FWD_COPY_BAD);
	cr_assert_eq(fwd_repl_decode(&c, sizeof(c) + 1, &mgrs_b, 1, 0, &out), FWD_COPY_BAD);
	bad = c;
	bad.version ^= 1;
	cr_assert_eq(fwd_repl_decode(&bad, sizeof(bad), &mgrs_b, 1, 0, &out), FWD_COPY_BAD);
	bad = c;
	bad.v.mgr_len = AFF_FIXED_MGR_DATA + 1;
	cr_assert_eq(fwd_repl_decode(&bad, sizeof(bad), &mgrs_b, 1, 0, &out), FWD_COPY_BAD);
	bad = c;
	bad.left_ms = 0;
	cr_assert_eq(fwd_repl_decode(&bad, sizeof(bad), &mgrs_b, 1, 0, &out), FWD_COPY_BAD);
	bad = c;
	bad.v.flags |= AFF_F_ADVERTISE;
	cr_assert_eq(fwd_repl_decode(&bad, sizeof(bad), &mgrs_b, 1, 0, &out), FWD_COPY_BAD);
	cr_assert_eq(fwd_repl_decode(&c, sizeof(c), &only_33, 1, 0, &out), FWD_COPY_NO_MANAGER);
	/* an affinity whose manager index is not configured travels as manager 0: refused */
	v.owner = 9;
	fwd_repl_encode(&v, &mgrs_a, 4000, &c);
	cr_assert_eq(fwd_repl_decode(&c, sizeof(c), &mgrs_b, 1, 0, &out), FWD_COPY_NO_MANAGER);
}

/* ---- two agents ------------------------------------------------------------------ */

struct agent {
	char inst[32];
	struct fwd_config cfg;
	struct ev_loop *loop;
	void *zctx;
	struct fwd_aff *aff;
	struct fwd_repl *repl;
};

static char dir[64];
static struct agent ag[2];

static void changed(void *arg, const struct flow_key *k, const struct aff_fixed *v, uint64_t now)
{
	struct agent *a = arg;

	if (a->repl)
		fwd_repl_changed(a->repl, k, v, now);
}

/* Agent i lists the managers m1, m2 (agent 1 in the other order) by endpoint. */
static void agent_config(unsigned i, uint64_t grace_ms)
{
	struct fwd_config *c = &ag[i].cfg;
	unsigned j = 1 - i;

	memset(c, 0, sizeof(*c));
	snprintf(ag[i].inst, sizeof(ag[i].inst), "fr%d%c", (int)getpid() % 1000000, 'a' + i);
	memcpy(c->instance, ag[i].inst, sizeof(c->instance));
	c->n_managers = 2;
	snprintf(c->managers[i].endpoint, sizeof(c->managers[i].endpoint), "ipc://%s/m1", dir);
	snprintf(c->managers[j].endpoint, sizeof(c->managers[j].endpoint), "ipc://%s/m2", dir);
	snprintf(c->repl.listen, sizeof(c->repl.listen), "ipc://%s/r%u", dir, i);
	c->repl.group = 1;
	c->repl.n_peers = 1;
	snprintf(c->repl.peers[0].instance, sizeof(c->repl.peers[0].instance), "fr%d%c",
		 (int)getpid() % 1000000, 'a' + j);
	snprintf(c->repl.peers[0].endpoint, sizeof(c->repl.peers[0].endpoint), "ipc://%s/r%u",
		 dir, j);
	c->repl.heartbeat_ms = 20;
	c->repl.dead_ms = 100;
	c->repl.grace_ms = grace_ms;
	c->repl.batch_ms = 0;
}

static void agent_start(unsigned i)
{
	struct agent *a = &ag[i];
	struct fwd_aff_cfg ac = { .instance = a->inst, .capacity = 256, .lanes = 1,
				  .rcu_slots = 8, .caps = ~UINT64_C(0), .changed = changed,
				  .changed_arg = a };

	a->loop = ev_loop_new();
	a->zctx = zmq_ctx_new();
	cr_assert(a->loop && a->zctx);
	cr_assert_eq(fwd_aff_open(&ac, &a->aff, NULL), 0);
	cr_assert_eq(fwd_repl_open(a->loop, a->zctx, &a->cfg, NULL, (uint64_t)getpid() * 10 + i,
				   a->aff, &a->repl), 0);
	cr_assert_not_null(a->repl);
}

static void agent_stop(unsigned i)
{
	struct agent *a = &ag[i];

	fwd_repl_close(a->repl);
	a->repl = NULL;
	if (a->zctx)
		zmq_ctx_destroy(a->zctx);
	a->zctx = NULL;
	ev_loop_free(a->loop);
	a->loop = NULL;
}

static void two_agents(uint64_t grace_ms)
{
	snprintf(dir, sizeof(dir), "/tmp/fwd-repl-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	for (unsigned i = 0; i < 2; i++)
		agent_config(i, grace_ms);
	for (unsigned i = 0; i < 2; i++)
		agent_start(i);
}

static void fini(void)
{
	char path[96];

	for (unsigned i = 0; i < 2; i++) {
		agent_stop(i);
		fwd_aff_close(ag[i].aff);
		ag[i].aff = NULL;
		fwd_aff_unlink(ag[i].inst);
		snprintf(path, sizeof(path), "%s/r%u", dir, i);
		unlink(path);
	}
	rmdir(dir);
}

TestSuite(fwd_repl, .fini = fini, .timeout = 30);

/* Run both loops (those still running) until pred holds or ms pass. */
static bool pump(bool (*pred)(void), unsigned ms)
{
	uint64_t end = ev_now_ms() + ms;

	while (ev_now_ms() < end) {
		for (unsigned i = 0; i < 2; i++)
			if (ag[i].loop)
				ev_run_once(ag[i].loop, 1);
		if (pred && pred())
			return true;
	}
	return pred ? pred() : true;
}

static void v4(uint8_t a[16], const char *s)
{
	uint32_t x;

	inet_pton(AF_INET, s, &x);
	key_addr_from_v4(a, x);
}

static void key(struct flow_key *k, uint16_t sport)
{
	key_init(k);
	k->proto = IPPROTO_TCP;
	v4(k->saddr, "10.1.0.2");
	v4(k->daddr, "10.9.0.1");
	k->sport = htons(sport);
	k->dport = htons(80);
}

/* Manager `mgr` (its index in agent i) sends a wildcard for 10.9.0.1:80. */
static void send_wildcard(unsigned i, uint16_t mgr)
{
	struct msg m;
	struct msg_action_list deny;

	msg_init(&m, MSG_T_UPDATE_WILDCARD);
	struct msg_wildcard *w = &msg_add(&m, MSG_S_WILDCARD, true)->u.wildcard;
	key_init(&w->key);
	w->key.proto = IPPROTO_TCP;
	w->key.dport = htons(80);
	v4(w->key.daddr, "10.9.0.1");
	memset(w->dmask, 0xff, 16);
	v4(w->key.saddr, "0.0.0.0");
	memset(w->smask, 0xff, 12);
	w->ttl = 60;
	cr_assert_eq(fwd_aff_apply(ag[i].aff, mgr, &m, ev_now_ms(), &deny), FWD_UPD_APPLIED);
}

static enum fwd_upd send_fixed(unsigned i, uint16_t mgr, uint16_t sport, uint32_t ttl)
{
	struct msg m;
	struct msg_action_list deny;

	msg_init(&m, MSG_T_UPDATE_FIXED);
	struct msg_fixed *f = &msg_add(&m, MSG_S_FIXED, true)->u.fixed;
	key(&f->key, sport);
	f->ttl = ttl;
	struct msg_nat *n = &msg_add(&m, MSG_S_ACT_NAT, false)->u.nat;
	n->present = MSG_NAT_DADDR;
	v4(n->daddr, "10.2.0.11");
	return fwd_aff_apply(ag[i].aff, mgr, &m, ev_now_ms(), &deny);
}

/* Agent i's entry for sport, read from its table (false: none). */
static bool entry(unsigned i, uint16_t sport, struct aff_fixed *v)
{
	struct fwd_aff_item it[FWD_AFF_GROUP];
	struct flow_key k;
	uint32_t pos = 0;

	key(&k, sport);
	while (pos != UINT32_MAX) {
		unsigned n = fwd_aff_read_group(ag[i].aff, &pos, it);
		for (unsigned j = 0; j < n; j++)
			if (key_equal(&it[j].key, &k)) {
				*v = it[j].v;
				return true;
			}
	}
	return false;
}

static bool b_has_1000(void)
{
	struct aff_fixed v;
	return entry(1, 1000, &v);
}

static bool b_lacks_1000(void)
{
	return !b_has_1000();
}

static bool both_ready(void)
{
	struct repl_counters a, b;

	fwd_repl_counters(ag[0].repl, &a);
	fwd_repl_counters(ag[1].repl, &b);
	return a.c[REPL_C_DUMPS_RECEIVED] >= 1 && b.c[REPL_C_DUMPS_RECEIVED] >= 1;
}

/* Two agents in step; m2 (A's manager 1, B's manager 0) gave A a fixed
 * affinity for port 1000, and B holds its copy. */
static void one_copy(uint64_t grace_ms)
{
	two_agents(grace_ms);
	cr_assert(pump(both_ready, 3000), "the peers never synchronized");
	send_wildcard(0, 1);
	send_wildcard(1, 0);
	cr_assert_eq(send_fixed(0, 1, 1000, 30), FWD_UPD_APPLIED);
	cr_assert(pump(b_has_1000, 2000), "the copy never reached agent B");
}

Test(fwd_repl, copy_follows_its_manager_and_its_owner)
{
	struct aff_fixed v;
	struct fwd_aff_stats st;

	one_copy(0);
	cr_assert(entry(1, 1000, &v));
	cr_assert_eq(v.owner, 0, "owned by m2, which is B's manager 0");
	cr_assert_eq(v.origin, 1, "a copy from B's peer 0");
	cr_assert_eq(v.nat_fields, MSG_NAT_DADDR);
	uint64_t left = v.expires_ms - ev_now_ms();
	cr_assert(left > 28000 && left <= 30000, "expires like the original (%llu ms left)",
		  (unsigned long long)left);

	/* what B applied is not sent back: A's entry stays its own */
	pump(NULL, 200);
	fwd_aff_get_stats(ag[0].aff, &st);
	cr_assert_eq(st.copy[FWD_COPY_APPLIED], 0, "agent A received its own affinity back");
	cr_assert(entry(0, 1000, &v));
	cr_assert_eq(v.origin, 0);

	/* a fixed affinity B's manager has no wildcard for is ignored there too */
	send_wildcard(0, 0); /* m1 at A only */
	cr_assert_eq(send_fixed(0, 0, 2000, 30), FWD_UPD_APPLIED);
	pump(NULL, 300);
	cr_assert_not(entry(1, 2000, &v));
	fwd_aff_get_stats(ag[1].aff, &st);
	cr_assert_eq(st.copy[FWD_COPY_NO_WILDCARD], 1);

	/* TTL 0 from the manager deletes the original and the copy */
	cr_assert_eq(send_fixed(0, 1, 1000, 0), FWD_UPD_DELETED);
	cr_assert(pump(b_lacks_1000, 2000), "the delete never reached agent B");
	fwd_aff_get_stats(ag[1].aff, &st);
	cr_assert_eq(st.copy[FWD_COPY_DELETED], 1);
}

Test(fwd_repl, lost_peer_copies_kept_for_the_grace_then_purged)
{
	struct fwd_aff_stats st;

	one_copy(400);

	agent_stop(0); /* A is gone: no heartbeats */
	uint64_t t0 = ev_now_ms();
	/* dead after 100 ms, then 400 ms of grace */
	cr_assert_not(pump(b_lacks_1000, 300), "purged before the grace period ended");
	cr_assert(pump(b_lacks_1000, 2000), "never purged");
	cr_assert_geq(ev_now_ms() - t0, 400);
	fwd_aff_get_stats(ag[1].aff, &st);
	cr_assert_eq(st.copy[FWD_COPY_PURGED], 1);
}

Test(fwd_repl, restarted_peer_gets_a_dump_of_our_own_entries_only)
{
	struct aff_fixed v;

	one_copy(0);

	/* B restarts with a new generation: A dumps its own entry to it */
	agent_stop(1);
	fwd_aff_purge_copies(ag[1].aff, 0);
	cr_assert_not(entry(1, 1000, &v));
	struct agent *b = &ag[1];
	b->loop = ev_loop_new();
	b->zctx = zmq_ctx_new();
	cr_assert_eq(fwd_repl_open(b->loop, b->zctx, &b->cfg, NULL, 999, b->aff, &b->repl), 0);
	cr_assert(pump(b_has_1000, 3000), "the dump did not bring the copy back");
	cr_assert(entry(1, 1000, &v));
	cr_assert_eq(v.origin, 1);
}
