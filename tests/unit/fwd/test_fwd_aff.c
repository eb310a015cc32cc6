// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The agent's affinity state: updates as a manager sends them (built with
 * the project's codec), checked through the shared tables as a reader in
 * another process would see them.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/affinity.h"
#include "common/msg.h"
#include "fwd_aff.h"

static char inst[32];
static struct fwd_aff *aff;

#define ALL_CAPS (~UINT64_C(0))

static struct fwd_aff *open_aff(uint32_t capacity, uint64_t caps)
{
	struct fwd_aff_cfg cfg = { .instance = inst, .capacity = capacity, .lanes = 2,
				   .rcu_slots = 8, .caps = caps };
	struct fwd_aff *a = NULL;
	int r = fwd_aff_open(&cfg, &a, NULL);

	cr_assert_eq(r, 0, "fwd_aff_open: %s", strerror(-r));
	return a;
}

static void setup(void)
{
	snprintf(inst, sizeof(inst), "fa%d", (int)getpid());
	aff = open_aff(64, ALL_CAPS);
}

static void teardown(void)
{
	fwd_aff_close(aff);
	fwd_aff_unlink(inst);
}

TestSuite(fwd_aff, .init = setup, .fini = teardown, .timeout = 30);

static void v4(uint8_t a[16], const char *s)
{
	uint32_t x;

	inet_pton(AF_INET, s, &x);
	key_addr_from_v4(a, x);
}

static void mask_v4(uint8_t m[16], unsigned len)
{
	memset(m, 0xff, 12);
	uint32_t x = len ? htonl(~0u << (32 - len)) : 0;
	memcpy(m + 12, &x, 4);
}

/* A manager's update-wildcard for dst/len:port from any client. */
static void wildcard(struct msg *m, const char *dst, unsigned len, uint16_t dport, uint32_t ttl,
		     uint32_t prec, uint32_t backup)
{
	msg_init(m, MSG_T_UPDATE_WILDCARD);
	struct msg_wildcard *w = &msg_add(m, MSG_S_WILDCARD, true)->u.wildcard;
	key_init(&w->key);
	w->key.proto = IPPROTO_TCP;
	w->key.dport = htons(dport);
	v4(w->key.daddr, dst);
	mask_v4(w->dmask, len);
	v4(w->key.saddr, "0.0.0.0"); /* any IPv4 client: ::ffff:0.0.0.0/96 */
	mask_v4(w->smask, 0);
	w->ttl = ttl;
	if (prec) {
		struct msg_service_prec *p = &msg_add(m, MSG_S_SERVICE_PREC, false)->u.service_prec;
		p->order = MSG_ORDER_HIGHER_BETTER;
		p->value = prec;
	}
	if (backup)
		msg_add(m, MSG_S_BACKUP_PREC, false)->u.backup_prec.value = backup;
}

static void fixed(struct msg *m, const char *src, uint16_t sport, const char *dst, uint16_t dport,
		  uint32_t ttl)
{
	msg_init(m, MSG_T_UPDATE_FIXED);
	struct msg_fixed *f = &msg_add(m, MSG_S_FIXED, true)->u.fixed;
	key_init(&f->key);
	f->key.proto = IPPROTO_TCP;
	v4(f->key.saddr, src);
	v4(f->key.daddr, dst);
	f->key.sport = htons(sport);
	f->key.dport = htons(dport);
	f->ttl = ttl;
}

static void fixed_key(struct flow_key *k, const char *src, uint16_t sport, const char *dst,
		      uint16_t dport)
{
	key_init(k);
	k->proto = IPPROTO_TCP;
	v4(k->saddr, src);
	v4(k->daddr, dst);
	k->sport = htons(sport);
	k->dport = htons(dport);
}

/* Read the published snapshot as a reader would. */
static void snapshot(struct aff_snap_view *v, struct aff_wild *copy, unsigned max)
{
	struct shm_snap *s = NULL;
	struct shm_rcu_reader rd;
	size_t len;

	cr_assert_eq(shm_snap_open_reader(inst, "wildcard", AFF_SNAP_KIND, AFF_SNAP_VERSION, &s),
		     0);
	shm_snap_reader_register(s, &rd);
	shm_rcu_read_lock(&rd);
	const void *p = shm_snap_current(s, &len, NULL);
	cr_assert_not_null(p, "nothing published");
	cr_assert_eq(aff_snap_view(p, len, v), 0);
	cr_assert_leq(v->nwild, max);
	memcpy(copy, v->wild, v->nwild * sizeof(*copy));
	shm_rcu_read_unlock(&rd);
	shm_rcu_unregister(&rd);
	shm_snap_close(s);
	v->wild = copy;
	v->adv = NULL; /* not copied */
}

static bool fixed_lookup(const struct flow_key *k, struct aff_fixed *out)
{
	struct shm_table *t = NULL;
	struct shm_rcu_reader rd;

	cr_assert_eq(shm_table_open_reader(inst, "affinity", AFF_FIXED_KIND, AFF_FIXED_VERSION, &t,
					   NULL), 0);
	shm_table_reader_register(t, &rd);
	shm_rcu_read_lock(&rd);
	const struct shm_entry *e = shm_table_lookup(t, k);
	bool found = e && shm_entry_read(t, e, NULL, out) == 0;
	shm_rcu_read_unlock(&rd);
	shm_table_reader_unregister(&rd);
	shm_table_close(t);
	return found;
}

Test(fwd_aff, wildcards_are_published_in_precedence_order)
{
	struct msg m;
	struct msg_action_list deny;
	struct aff_wild w[8];
	struct aff_snap_view v;

	wildcard(&m, "10.9.0.0", 24, 80, 30, 10, 2);
	cr_assert_eq(fwd_aff_apply(aff, 0, &m, 1000, &deny), FWD_UPD_APPLIED);
	wildcard(&m, "10.9.0.0", 24, 80, 30, 10, 1); /* same service, better backup */
	cr_assert_eq(fwd_aff_apply(aff, 1, &m, 1000, &deny), FWD_UPD_APPLIED);
	wildcard(&m, "10.9.0.5", 32, 0, 30, 20, 0);  /* a service cascaded before */
	cr_assert_eq(fwd_aff_apply(aff, 2, &m, 1000, &deny), FWD_UPD_APPLIED);
	cr_assert_eq(fwd_aff_publish(aff, 1000), 0);

	snapshot(&v, w, 8);
	cr_assert_eq(v.nwild, 3);
	cr_assert_eq(w[0].owner, 2, "the best service precedence comes first");
	cr_assert_eq(w[1].owner, 1, "then the lower backup precedence");
	cr_assert_eq(w[2].owner, 0);

	struct flow_key k;
	fixed_key(&k, "192.0.2.1", 40000, "10.9.0.5", 80);
	cr_assert_eq(aff_snap_find(&v, &k, INT64_MAX, 1000), 0);
	cr_assert_eq(aff_snap_find(&v, &k, w[0].rank, 1000), 1, "cascade to the next service");
	fixed_key(&k, "192.0.2.1", 40000, "10.9.1.5", 80);
	cr_assert_eq(aff_snap_find(&v, &k, INT64_MAX, 1000), -1);
	fixed_key(&k, "192.0.2.1", 40000, "10.9.0.7", 443);
	cr_assert_eq(aff_snap_find(&v, &k, INT64_MAX, 1000), -1, "port must match");
	cr_assert_eq(aff_snap_find(&v, &k, INT64_MAX, 31000), -1, "expired wildcards are skipped");
}

Test(fwd_aff, refresh_and_ttl_zero)
{
	struct msg m;
	struct msg_action_list deny;
	struct fwd_aff_stats st;

	wildcard(&m, "10.9.0.0", 24, 80, 30, 0, 0);
	cr_assert_eq(fwd_aff_apply(aff, 0, &m, 0, &deny), FWD_UPD_APPLIED);
	cr_assert_eq(fwd_aff_apply(aff, 0, &m, 10000, &deny), FWD_UPD_APPLIED);
	fwd_aff_get_stats(aff, &st);
	cr_assert_eq(st.nwild, 1, "a refresh replaces, it does not add");
	/* refreshed at 10 s with 30 s: still there at 35 s */
	fwd_aff_expire(aff, 35000, 1000);
	fwd_aff_get_stats(aff, &st);
	cr_assert_eq(st.nwild, 1);
	fwd_aff_expire(aff, 40001, 1000);
	fwd_aff_get_stats(aff, &st);
	cr_assert_eq(st.nwild, 0, "expired 30 s after the refresh");

	wildcard(&m, "10.9.0.0", 24, 80, 30, 0, 0);
	fwd_aff_apply(aff, 0, &m, 0, &deny);
	wildcard(&m, "10.9.0.0", 24, 80, 0, 0, 0);
	cr_assert_eq(fwd_aff_apply(aff, 0, &m, 0, &deny), FWD_UPD_DELETED);
	cr_assert_eq(fwd_aff_apply(aff, 0, &m, 0, &deny), FWD_UPD_NOT_FOUND);
}

Test(fwd_aff, fixed_needs_a_wildcard_of_its_manager)
{
	struct msg m;
	struct msg_action_list deny;
	struct aff_fixed v;
	struct flow_key k;

	fixed(&m, "192.0.2.1", 40000, "10.9.0.5", 80, 60);
	cr_assert_eq(fwd_aff_apply(aff, 0, &m, 0, &deny), FWD_UPD_NO_WILDCARD);
	wildcard(&m, "10.9.0.0", 24, 80, 30, 0, 0);
	cr_assert_eq(fwd_aff_apply(aff, 1, &m, 0, &deny), FWD_UPD_APPLIED);
	fixed(&m, "192.0.2.1", 40000, "10.9.0.5", 80, 60);
	cr_assert_eq(fwd_aff_apply(aff, 0, &m, 0, &deny), FWD_UPD_NO_WILDCARD,
		     "another manager's wildcard does not back it");

	fixed(&m, "192.0.2.1", 40000, "10.9.0.5", 80, 60);
	struct msg_nat *n = &msg_add(&m, MSG_S_ACT_NAT, true)->u.nat;
	n->present = MSG_NAT_DADDR | MSG_NAT_DPORT;
	v4(n->daddr, "10.2.0.11");
	n->dport = htons(8080);
	struct msg_interest *in = &msg_add(&m, MSG_S_ACT_INTEREST, true)->u.interest;
	in->mask = MSG_INT_FIN | MSG_INT_RST;
	in->data = MSG_INT_FIN;
	struct msg_interest_data *d = &msg_add(&m, MSG_S_MGR_INTEREST, false)->u.mgr_interest;
	d->len = 4;
	memcpy(d->data, "flow", 4);
	cr_assert_eq(fwd_aff_apply(aff, 1, &m, 5000, &deny), FWD_UPD_APPLIED);

	fixed_key(&k, "192.0.2.1", 40000, "10.9.0.5", 80);
	cr_assert(fixed_lookup(&k, &v));
	cr_assert_eq(v.owner, 1);
	cr_assert_eq(v.expires_ms, 65000);
	cr_assert_eq(v.flags, AFF_F_NAT | AFF_F_INTEREST);
	cr_assert_eq(v.nat_fields, MSG_NAT_DADDR | MSG_NAT_DPORT);
	cr_assert_eq(v.nat_dport, htons(8080));
	uint8_t want[16];
	v4(want, "10.2.0.11");
	cr_assert_arr_eq(v.nat_daddr, want, 16);
	cr_assert_eq(v.int_mask, MSG_INT_FIN | MSG_INT_RST);
	cr_assert_eq(v.int_data, MSG_INT_FIN);
	cr_assert_eq(v.mgr_len, 4);
	cr_assert_arr_eq(v.mgr_data, "flow", 4);

	fixed(&m, "192.0.2.1", 40000, "10.9.0.5", 80, 0);
	cr_assert_eq(fwd_aff_apply(aff, 1, &m, 6000, &deny), FWD_UPD_DELETED);
	cr_assert(!fixed_lookup(&k, &v));
}

Test(fwd_aff, unsupported_action_is_denied)
{
	struct msg m;
	struct msg_action_list deny;
	struct fwd_aff_stats st;

	fwd_aff_close(aff);
	fwd_aff_unlink(inst);
	aff = open_aff(64, ALL_CAPS & ~MSG_CAP(MSG_S_ACT_SEQ_ADJUST));

	wildcard(&m, "10.9.0.0", 24, 80, 30, 0, 0);
	struct msg_action_list *al = &msg_add(&m, MSG_S_ACTION_LIST, false)->u.action_list;
	al->n = 2;
	al->a[0] = (struct msg_action_ref){ MSG_S_ACT_NAT, true };
	al->a[1] = (struct msg_action_ref){ MSG_S_ACT_SEQ_ADJUST, true };
	cr_assert_eq(fwd_aff_apply(aff, 0, &m, 0, &deny), FWD_UPD_DENIED);
	cr_assert_eq(deny.n, 1);
	cr_assert_eq(deny.a[0].type, MSG_S_ACT_SEQ_ADJUST);
	fwd_aff_get_stats(aff, &st);
	cr_assert_eq(st.nwild, 0, "a denied wildcard is discarded");
	cr_assert_eq(st.upd[FWD_UPD_DENIED], 1);

	al->a[1].required = false; /* optional: accepted, the agent just won't do it */
	cr_assert_eq(fwd_aff_apply(aff, 0, &m, 0, &deny), FWD_UPD_APPLIED);
}

Test(fwd_aff, advertised_addresses_follow_their_wildcard)
{
	struct msg m;
	struct msg_action_list deny;
	struct shm_snap *s = NULL;
	struct shm_rcu_reader rd;
	struct aff_snap_view v;
	uint8_t vip[16], other[16];
	size_t len;

	wildcard(&m, "10.9.0.5", 32, 80, 30, 0, 0);
	struct msg_advertise *a = &msg_add(&m, MSG_S_ACT_ADVERTISE, true)->u.advertise;
	v4(a->addr, "10.9.0.5");
	cr_assert_eq(fwd_aff_apply(aff, 0, &m, 0, &deny), FWD_UPD_APPLIED);
	cr_assert_eq(fwd_aff_publish(aff, 0), 0);

	v4(vip, "10.9.0.5");
	v4(other, "10.9.0.6");
	cr_assert_eq(shm_snap_open_reader(inst, "wildcard", AFF_SNAP_KIND, AFF_SNAP_VERSION, &s),
		     0);
	shm_snap_reader_register(s, &rd);
	shm_rcu_read_lock(&rd);
	const void *p = shm_snap_current(s, &len, NULL);
	cr_assert_eq(aff_snap_view(p, len, &v), 0);
	cr_assert_eq(v.nadv, 1);
	cr_assert(aff_snap_advertised(&v, vip));
	cr_assert(!aff_snap_advertised(&v, other));
	shm_rcu_read_unlock(&rd);

	wildcard(&m, "10.9.0.5", 32, 80, 0, 0, 0);
	cr_assert_eq(fwd_aff_apply(aff, 0, &m, 0, &deny), FWD_UPD_DELETED);
	cr_assert_eq(fwd_aff_publish(aff, 0), 0);
	shm_rcu_read_lock(&rd);
	p = shm_snap_current(s, &len, NULL);
	cr_assert_eq(aff_snap_view(p, len, &v), 0);
	cr_assert_eq(v.nadv, 0, "the advertisement went with its wildcard");
	shm_rcu_read_unlock(&rd);
	shm_rcu_unregister(&rd);
	shm_snap_close(s);
}

Test(fwd_aff, full_table_evicts_the_idle)
{
	struct msg m;
	struct msg_action_list deny;
	struct fwd_aff_stats st;
	struct aff_fixed v;
	struct flow_key k;

	wildcard(&m, "10.9.0.0", 16, 80, 3600, 0, 0);
	cr_assert_eq(fwd_aff_apply(aff, 0, &m, 0, &deny), FWD_UPD_APPLIED);
	for (unsigned i = 0; i < 64; i++) {
		char dst[32];
		snprintf(dst, sizeof(dst), "10.9.%u.%u", i / 200, i % 200 + 1);
		fixed(&m, "192.0.2.1", (uint16_t)(1000 + i), dst, 80, 600);
		cr_assert_eq(fwd_aff_apply(aff, 0, &m, 1000 + i, &deny), FWD_UPD_APPLIED);
	}
	/* traffic on the even flows (as workers count it) */
	struct shm_table *t = fwd_aff_table(aff);
	for (unsigned i = 0; i < 64; i += 2) {
		char dst[32];
		snprintf(dst, sizeof(dst), "10.9.%u.%u", i / 200, i % 200 + 1);
		fixed_key(&k, "192.0.2.1", (uint16_t)(1000 + i), dst, 80);
		const struct shm_entry *e = shm_table_lookup(t, &k);
		cr_assert_not_null(e);
		shm_table_count(t, 1, shm_entry_index(t, e), 100, 5000000000ULL);
	}
	fixed(&m, "192.0.2.9", 9999, "10.9.1.1", 80, 600);
	cr_assert_eq(fwd_aff_apply(aff, 0, &m, 6000, &deny), FWD_UPD_APPLIED);
	fwd_aff_get_stats(aff, &st);
	cr_assert_gt(st.evicted, 0);
	cr_assert_leq(st.nfixed, 64);
	for (unsigned i = 0; i < 64; i += 2) {
		char dst[32];
		snprintf(dst, sizeof(dst), "10.9.%u.%u", i / 200, i % 200 + 1);
		fixed_key(&k, "192.0.2.1", (uint16_t)(1000 + i), dst, 80);
		cr_assert(fixed_lookup(&k, &v), "busy flow %u was evicted", i);
	}
}

Test(fwd_aff, restart_keeps_fixed_and_wildcards)
{
	struct msg m;
	struct msg_action_list deny;
	struct fwd_aff_stats st;
	struct aff_fixed v;
	struct flow_key k;

	wildcard(&m, "10.9.0.0", 24, 80, 30, 0, 0);
	fwd_aff_apply(aff, 0, &m, 0, &deny);
	fixed(&m, "192.0.2.1", 40000, "10.9.0.5", 80, 60);
	cr_assert_eq(fwd_aff_apply(aff, 0, &m, 0, &deny), FWD_UPD_APPLIED);
	fwd_aff_publish(aff, 0);
	fwd_aff_close(aff);

	aff = open_aff(64, ALL_CAPS);
	fwd_aff_get_stats(aff, &st);
	cr_assert_eq(st.nwild, 1, "wildcards come back from the published snapshot");
	cr_assert_eq(st.nfixed, 1);
	fixed_key(&k, "192.0.2.1", 40000, "10.9.0.5", 80);
	cr_assert(fixed_lookup(&k, &v));
	/* and the restored wildcard still backs new fixed affinities */
	fixed(&m, "192.0.2.2", 40001, "10.9.0.5", 80, 60);
	cr_assert_eq(fwd_aff_apply(aff, 0, &m, 100, &deny), FWD_UPD_APPLIED);
}

Test(fwd_aff, oversized_interest_data_is_refused)
{
	struct msg m;
	struct msg_action_list deny;

	wildcard(&m, "10.9.0.0", 24, 80, 30, 0, 0);
	struct msg_interest_data *d = &msg_add(&m, MSG_S_MGR_INTEREST, false)->u.mgr_interest;
	d->len = AFF_MAX_MGR_DATA + 1;
	cr_assert_eq(fwd_aff_apply(aff, 0, &m, 0, &deny), FWD_UPD_BAD);
}

Test(fwd_aff, optional_action_the_agent_lacks_is_skipped)
{
	struct msg m;
	struct msg_action_list deny;
	struct aff_wild w[4];
	struct aff_snap_view v;

	fwd_aff_close(aff);
	fwd_aff_unlink(inst);
	aff = open_aff(64, ALL_CAPS & ~MSG_CAP(MSG_S_ACT_SEQ_ADJUST));

	wildcard(&m, "10.9.0.0", 24, 80, 30, 0, 0);
	msg_add(&m, MSG_S_ACT_SEQ_ADJUST, false)->u.seq_adjust.seq_delta = 7; /* optional */
	struct msg_nat *n = &msg_add(&m, MSG_S_ACT_NAT, false)->u.nat;
	n->present = MSG_NAT_DPORT;
	n->dport = htons(8080);
	cr_assert_eq(fwd_aff_apply(aff, 0, &m, 0, &deny), FWD_UPD_APPLIED);
	cr_assert_eq(fwd_aff_publish(aff, 0), 0);
	snapshot(&v, w, 4);
	cr_assert_eq(v.nwild, 1);
	cr_assert_eq(w[0].act.flags & AFF_F_SEQ, 0, "the agent does not do what it cannot");
	cr_assert_neq(w[0].act.flags & AFF_F_NAT, 0, "and still does what it can");
}
