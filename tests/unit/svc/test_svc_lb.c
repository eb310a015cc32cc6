// SPDX-License-Identifier: LGPL-2.1-or-later
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>

#include "svc_lb.h"

/* Deterministic pseudo-random numbers so a failure replays. */
static uint64_t rng_state = 0x1234567887654321ULL;

static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static struct svc_lb_backend backend(uint32_t id, uint32_t weight)
{
	struct svc_lb_backend b = { .id = id, .port = 8080, .weight = weight, .up = true };

	key_addr_from_v4(b.addr, htonl(0x0a000000u + id));
	return b;
}

static struct svc_lb *make(enum svc_lb_alg alg, const uint32_t *weights, unsigned n)
{
	struct svc_lb_backend b[64];
	struct svc_lb *lb;

	cr_assert_leq(n, 64);
	for (unsigned i = 0; i < n; i++)
		b[i] = backend(i + 1, weights[i]);
	cr_assert_eq(svc_lb_new(alg, SVC_LB_HASH_SOURCE, 0, 42, &lb), 0);
	cr_assert_eq(svc_lb_set_backends(lb, b, n), 0);
	return lb;
}

static void client_key(struct flow_key *k, uint64_t r)
{
	key_init(k);
	memcpy(k->saddr, &r, 8);
	k->saddr[15] = (uint8_t)(r >> 7);
	key_addr_from_v4(k->daddr, htonl(0xc0a80001));
	k->sport = htons((uint16_t)(1024 + r % 60000));
	k->dport = htons(80);
	k->proto = 6;
}

/* Backend id chosen for a flow, or 0 for none. */
static uint32_t pick_id(struct svc_lb *lb, const struct flow_key *k)
{
	int i = svc_lb_pick(lb, k);

	return i < 0 ? 0 : svc_lb_backend(lb, (unsigned)i)->id;
}

Test(svc_lb, names_round_trip)
{
	static const char *const algs[] = { "rr", "wrr", "wlc", "maglev" };
	enum svc_lb_alg a;
	enum svc_lb_hash h;

	for (unsigned i = 0; i < 4; i++) {
		cr_assert_eq(svc_lb_alg_parse(algs[i], &a), 0);
		cr_assert_eq((unsigned)a, i);
		cr_assert_str_eq(svc_lb_alg_name(a), algs[i]);
	}
	cr_assert_eq(svc_lb_hash_parse("flow", &h), 0);
	cr_assert_eq(h, SVC_LB_HASH_FLOW);
	cr_assert_str_eq(svc_lb_hash_name(SVC_LB_HASH_SOURCE), "source");
	cr_assert_eq(svc_lb_alg_parse("lc", &a), -EINVAL);
	cr_assert_eq(svc_lb_alg_parse(NULL, &a), -EINVAL);
	cr_assert_eq(svc_lb_hash_parse("dest", &h), -EINVAL);
	cr_assert_str_eq(svc_lb_alg_name((enum svc_lb_alg)99), "?");
}

/* ---- rr ---- */

Test(svc_lb, rr_cycles_fairly)
{
	const uint32_t w[] = { 1, 1, 1 };
	struct svc_lb *lb = make(SVC_LB_RR, w, 3);
	unsigned count[3] = { 0 };

	for (int i = 0; i < 300; i++) {
		int p = svc_lb_pick(lb, NULL);

		cr_assert_eq(p, i % 3, "pick %d went to %d", i, p);
		count[p]++;
	}
	cr_assert(count[0] == 100 && count[1] == 100 && count[2] == 100);
	svc_lb_free(lb);
}

Test(svc_lb, rr_skips_down_and_drained)
{
	const uint32_t w[] = { 1, 1, 1, 1 };
	struct svc_lb *lb = make(SVC_LB_RR, w, 4);

	cr_assert_eq(svc_lb_set_state(lb, 2, 1, false), 0); /* down */
	cr_assert_eq(svc_lb_set_state(lb, 3, 0, true), 0);  /* drained */
	for (int i = 0; i < 20; i++)
		cr_assert_eq(svc_lb_pick(lb, NULL), i % 2 ? 3 : 0);
	cr_assert_eq(svc_lb_set_state(lb, 2, 1, true), 0);
	cr_assert_eq(svc_lb_pick(lb, NULL), 0);
	cr_assert_eq(svc_lb_pick(lb, NULL), 1);
	cr_assert_eq(svc_lb_pick(lb, NULL), 3);
	svc_lb_free(lb);
}

Test(svc_lb, rr_rotation_survives_reorder)
{
	struct svc_lb_backend b[3] = { backend(1, 1), backend(2, 1), backend(3, 1) };
	struct svc_lb_backend r[3] = { b[2], b[1], b[0] };
	struct svc_lb *lb;

	cr_assert_eq(svc_lb_new(SVC_LB_RR, SVC_LB_HASH_SOURCE, 0, 0, &lb), 0);
	cr_assert_eq(svc_lb_set_backends(lb, b, 3), 0);
	cr_assert_eq(pick_id(lb, NULL), 1);
	cr_assert_eq(svc_lb_set_backends(lb, r, 3), 0);
	/* id 1 is now at index 2; the rotation carries on after it (wrapping
	 * to index 0, id 3), rather than restarting at id 1's old slot. */
	cr_assert_eq(pick_id(lb, NULL), 3);
	cr_assert_eq(pick_id(lb, NULL), 2);
	cr_assert_eq(pick_id(lb, NULL), 1);
	svc_lb_free(lb);
}

/* ---- wrr ---- */

Test(svc_lb, wrr_exact_split_and_interleaved)
{
	const uint32_t w[] = { 5, 3, 2 };
	struct svc_lb *lb = make(SVC_LB_WRR, w, 3);
	int seq[100];
	unsigned count[3] = { 0 }, run = 1, max_run = 1;

	for (int i = 0; i < 100; i++) {
		seq[i] = svc_lb_pick(lb, NULL);
		cr_assert(seq[i] >= 0 && seq[i] < 3);
		count[seq[i]]++;
		run = i && seq[i] == seq[i - 1] ? run + 1 : 1;
		max_run = run > max_run ? run : max_run;
	}
	cr_assert_eq(count[0], 50);
	cr_assert_eq(count[1], 30);
	cr_assert_eq(count[2], 20);
	/* Every window of 10 consecutive picks holds exactly 5/3/2. */
	for (int s = 0; s + 10 <= 100; s++) {
		unsigned c[3] = { 0 };

		for (int i = s; i < s + 10; i++)
			c[seq[i]]++;
		cr_assert(c[0] == 5 && c[1] == 3 && c[2] == 2, "window at %d: %u/%u/%u", s, c[0],
			  c[1], c[2]);
	}
	/* A bursty WRR would give the weight-5 backend 5 picks in a row. */
	cr_assert_leq(max_run, 2);
	svc_lb_free(lb);
}

Test(svc_lb, wrr_equal_weights_never_twice_in_a_row)
{
	const uint32_t w[] = { 7, 7, 7, 7 };
	struct svc_lb *lb = make(SVC_LB_WRR, w, 4);
	int prev = -1;

	for (int i = 0; i < 400; i++) {
		int p = svc_lb_pick(lb, NULL);

		cr_assert(p >= 0);
		cr_assert_neq(p, prev, "backend %d twice in a row at pick %d", p, i);
		prev = p;
	}
	svc_lb_free(lb);
}

Test(svc_lb, wrr_credit_survives_reorder)
{
	struct svc_lb_backend b[3] = { backend(1, 5), backend(2, 3), backend(3, 2) };
	struct svc_lb_backend r[3] = { b[1], b[2], b[0] };
	struct svc_lb *lb, *ref;

	/* A reordered list continues the same sequence of ids as one left
	 * alone: the credit travels with the id. */
	cr_assert_eq(svc_lb_new(SVC_LB_WRR, SVC_LB_HASH_SOURCE, 0, 0, &lb), 0);
	cr_assert_eq(svc_lb_new(SVC_LB_WRR, SVC_LB_HASH_SOURCE, 0, 0, &ref), 0);
	cr_assert_eq(svc_lb_set_backends(lb, b, 3), 0);
	cr_assert_eq(svc_lb_set_backends(ref, b, 3), 0);
	for (int i = 0; i < 23; i++) {
		if (i == 4 || i == 11)
			cr_assert_eq(svc_lb_set_backends(lb, i == 4 ? r : b, 3), 0);
		cr_assert_eq(pick_id(lb, NULL), pick_id(ref, NULL), "pick %d", i);
	}
	svc_lb_free(lb);
	svc_lb_free(ref);
}

/* ---- wlc ---- */

Test(svc_lb, wlc_follows_connections)
{
	const uint32_t w[] = { 1, 1, 1 };
	struct svc_lb *lb = make(SVC_LB_WLC, w, 3);

	svc_lb_conn(lb, 0, 10);
	svc_lb_conn(lb, 2, 5);
	cr_assert_eq(svc_lb_pick(lb, NULL), 1);
	/* Each pick opens a connection: the counts level out at 15 each. */
	for (int i = 0; i < 30; i++) {
		int p = svc_lb_pick(lb, NULL);

		cr_assert(p >= 0);
		cr_assert_eq(svc_lb_conn(lb, (unsigned)p, 1), 0);
	}
	cr_assert_eq(svc_lb_conns(lb, 0), 15);
	cr_assert_eq(svc_lb_conns(lb, 1), 15);
	cr_assert_eq(svc_lb_conns(lb, 2), 15);
	/* Closing connections on backend 0 makes it the choice. */
	svc_lb_conn(lb, 0, -3);
	cr_assert_eq(svc_lb_pick(lb, NULL), 0);
	svc_lb_free(lb);
}

Test(svc_lb, wlc_follows_weights_and_rotates_ties)
{
	const uint32_t w[] = { 1, 2, 3 };
	struct svc_lb *lb = make(SVC_LB_WLC, w, 3);

	for (int i = 0; i < 60; i++) {
		int p = svc_lb_pick(lb, NULL);

		cr_assert(p >= 0);
		svc_lb_conn(lb, (unsigned)p, 1);
	}
	cr_assert_eq(svc_lb_conns(lb, 0), 10);
	cr_assert_eq(svc_lb_conns(lb, 1), 20);
	cr_assert_eq(svc_lb_conns(lb, 2), 30);
	svc_lb_free(lb);

	/* Equal backends, no connection opened: they take turns. */
	const uint32_t e[] = { 4, 4, 4 };
	lb = make(SVC_LB_WLC, e, 3);
	for (int i = 0; i < 9; i++)
		cr_assert_eq(svc_lb_pick(lb, NULL), i % 3);
	svc_lb_free(lb);
}

Test(svc_lb, conn_counts_clamp_and_survive)
{
	const uint32_t w[] = { 1, 1 };
	struct svc_lb *lb = make(SVC_LB_WLC, w, 2);
	struct svc_lb_backend b[3] = { backend(3, 1), backend(2, 1), backend(1, 1) };

	cr_assert_eq(svc_lb_conn(lb, 0, -5), 0);
	cr_assert_eq(svc_lb_conns(lb, 0), 0);
	cr_assert_eq(svc_lb_conn(lb, 1, 7), 0);
	cr_assert_eq(svc_lb_conn(lb, 2, 1), -EINVAL);
	cr_assert_eq(svc_lb_conn(NULL, 0, 1), -EINVAL);
	cr_assert_eq(svc_lb_set_backends(lb, b, 3), 0);
	cr_assert_eq(svc_lb_conns(lb, (unsigned)svc_lb_find(lb, 2)), 7);
	cr_assert_eq(svc_lb_conns(lb, (unsigned)svc_lb_find(lb, 3)), 0);
	svc_lb_free(lb);
}

/* ---- Maglev ---- */

static void assert_slots(struct svc_lb *lb, const uint32_t *w, unsigned n, double tol)
{
	uint64_t total = 0, sum = 0;

	for (unsigned i = 0; i < n; i++)
		total += w[i];
	for (unsigned i = 0; i < n; i++) {
		uint32_t s;
		double want = 65537.0 * w[i] / (double)total;

		cr_assert_eq(svc_lb_maglev_slots(lb, i, &s), 0);
		cr_assert(s >= want * (1 - tol) && s <= want * (1 + tol),
			  "backend %u: %u slots, want %.0f", i, s, want);
		sum += s;
	}
	cr_assert_eq(sum, 65537, "the table is full");
}

Test(svc_lb, maglev_table_follows_weights)
{
	const uint32_t eq[] = { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 };
	const uint32_t w123[] = { 1, 2, 3 };
	const uint32_t w532[] = { 500, 300, 200 };
	struct svc_lb *lb;

	lb = make(SVC_LB_MAGLEV, eq, 10);
	assert_slots(lb, eq, 10, 0.01);
	/* And the clients follow the table. */
	unsigned count[10] = { 0 };
	for (int i = 0; i < 100000; i++) {
		struct flow_key k;

		client_key(&k, rnd());
		int p = svc_lb_pick(lb, &k);
		cr_assert(p >= 0 && p < 10);
		count[p]++;
	}
	for (int i = 0; i < 10; i++)
		cr_assert(count[i] > 9000 && count[i] < 11000, "backend %d: %u clients", i,
			  count[i]);
	svc_lb_free(lb);

	lb = make(SVC_LB_MAGLEV, w123, 3);
	assert_slots(lb, w123, 3, 0.01);
	svc_lb_free(lb);
	lb = make(SVC_LB_MAGLEV, w532, 3);
	assert_slots(lb, w532, 3, 0.01);
	svc_lb_free(lb);
}

Test(svc_lb, maglev_same_config_same_mapping_in_any_order)
{
	struct svc_lb_backend b[12], r[12];
	struct svc_lb *x, *y, *z;
	unsigned differ = 0;

	for (unsigned i = 0; i < 12; i++)
		b[i] = backend(100 + i, 1 + i % 3);
	for (unsigned i = 0; i < 12; i++)
		r[i] = b[(i * 5 + 7) % 12]; /* a permutation: 5 is prime to 12 */
	cr_assert_eq(svc_lb_new(SVC_LB_MAGLEV, SVC_LB_HASH_SOURCE, 0, 77, &x), 0);
	cr_assert_eq(svc_lb_new(SVC_LB_MAGLEV, SVC_LB_HASH_SOURCE, 0, 77, &y), 0);
	cr_assert_eq(svc_lb_new(SVC_LB_MAGLEV, SVC_LB_HASH_SOURCE, 0, 78, &z), 0);
	cr_assert_eq(svc_lb_set_backends(x, b, 12), 0);
	cr_assert_eq(svc_lb_set_backends(y, r, 12), 0);
	cr_assert_eq(svc_lb_set_backends(z, b, 12), 0);
	for (int i = 0; i < 10000; i++) {
		struct flow_key k;

		client_key(&k, rnd());
		uint32_t a = pick_id(x, &k);
		cr_assert_neq(a, 0);
		cr_assert_eq(a, pick_id(y, &k), "client %d maps differently", i);
		differ += a != pick_id(z, &k);
	}
	/* The seed matters: another seed is another placement. */
	cr_assert_gt(differ, 5000);
	svc_lb_free(x);
	svc_lb_free(y);
	svc_lb_free(z);
}

/*
 * Pinned placement: a restarted manager (or a new build) must map clients as
 * the old one did, so the hash and the build are part of the contract.
 */
Test(svc_lb, maglev_placement_is_pinned)
{
	static const uint8_t key[16] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 };
	uint8_t msg[15];
	uint64_t k0 = 0, k1 = 0;

	/* SipHash-2-4 reference vectors (the paper's appendix and vectors.h). */
	for (int i = 7; i >= 0; i--) {
		k0 = (k0 << 8) | key[i];
		k1 = (k1 << 8) | key[8 + i];
	}
	for (unsigned i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)i;
	cr_assert_eq(svc_lb_siphash24(k0, k1, msg, 0), 0x726fdb47dd0e0e31ULL);
	cr_assert_eq(svc_lb_siphash24(k0, k1, msg, 15), 0xa129ca6149be45e5ULL);
	cr_assert_eq(svc_lb_siphash24(k0, k1, msg, 8), 0x93f5f5799a932462ULL);

	/* Placement of 16 clients (203.0.113.0-15) on 192.0.2.1-5:443,
	 * weights 1..5, seed 2016, M = 65537, recorded when this was written.
	 * If this changes, restarted managers move existing clients: change it
	 * only on purpose and say so in the release notes. */
	static const uint32_t want[16] = { 4, 1, 3, 3, 4, 4, 3, 4, 3, 5, 5, 1, 4, 1, 4, 4 };
	struct svc_lb_backend b[5];
	struct svc_lb *lb;

	for (unsigned i = 0; i < 5; i++) {
		b[i] = (struct svc_lb_backend){ .id = i + 1, .port = 443, .weight = i + 1, .up = true };
		key_addr_from_v4(b[i].addr, htonl(0xc0000201u + i));
	}
	cr_assert_eq(svc_lb_new(SVC_LB_MAGLEV, SVC_LB_HASH_SOURCE, 0, 2016, &lb), 0);
	cr_assert_eq(svc_lb_set_backends(lb, b, 5), 0);
	for (unsigned c = 0; c < 16; c++) {
		struct flow_key k;

		key_init(&k);
		key_addr_from_v4(k.saddr, htonl(0xcb007100u + c));
		cr_assert_eq(pick_id(lb, &k), want[c], "client %u", c);
	}
	svc_lb_free(lb);
}

static void map_clients(struct svc_lb *lb, uint32_t *ids, unsigned n, uint64_t seed)
{
	uint64_t saved = rng_state;

	rng_state = seed;
	for (unsigned i = 0; i < n; i++) {
		struct flow_key k;

		client_key(&k, rnd());
		ids[i] = pick_id(lb, &k);
	}
	rng_state = saved;
}

#define NCLIENTS 100000u

Test(svc_lb, maglev_removal_moves_few_other_clients)
{
	struct svc_lb_backend b[10];
	struct svc_lb *lb;
	static uint32_t before[NCLIENTS], after[NCLIENTS];
	unsigned moved_other = 0, of_removed = 0;

	for (unsigned i = 0; i < 10; i++)
		b[i] = backend(i + 1, 1);
	cr_assert_eq(svc_lb_new(SVC_LB_MAGLEV, SVC_LB_HASH_SOURCE, 0, 5, &lb), 0);
	cr_assert_eq(svc_lb_set_backends(lb, b, 10), 0);
	map_clients(lb, before, NCLIENTS, 99);
	/* Remove id 4 by giving the list without it. */
	b[3] = b[9];
	cr_assert_eq(svc_lb_set_backends(lb, b, 9), 0);
	map_clients(lb, after, NCLIENTS, 99);
	for (unsigned i = 0; i < NCLIENTS; i++) {
		cr_assert_neq(after[i], 4);
		if (before[i] == 4)
			of_removed++;
		else if (before[i] != after[i])
			moved_other++;
	}
	cr_assert_gt(of_removed, NCLIENTS / 20);
	cr_assert_lt(moved_other, NCLIENTS / 20, "%u clients of other backends moved",
		     moved_other);
	cr_log_info("removal: %u of %u other clients moved", moved_other, NCLIENTS - of_removed);

	/* Marking one down instead of removing it: the same property. */
	cr_assert_eq(svc_lb_set_state(lb, 1, 1, false), 0);
	map_clients(lb, before, NCLIENTS, 99);
	moved_other = 0;
	for (unsigned i = 0; i < NCLIENTS; i++) {
		cr_assert_neq(before[i], 1, "a down backend gets nothing");
		if (after[i] != 1 && before[i] != after[i])
			moved_other++;
	}
	cr_assert_lt(moved_other, NCLIENTS / 20, "%u clients moved on down", moved_other);
	svc_lb_free(lb);
}

Test(svc_lb, maglev_addition_moves_clients_to_the_new_backend)
{
	struct svc_lb_backend b[10];
	struct svc_lb *lb;
	static uint32_t before[NCLIENTS], after[NCLIENTS];
	unsigned to_new = 0, moved_other = 0;

	for (unsigned i = 0; i < 10; i++)
		b[i] = backend(i + 1, 1);
	cr_assert_eq(svc_lb_new(SVC_LB_MAGLEV, SVC_LB_HASH_SOURCE, 0, 5, &lb), 0);
	cr_assert_eq(svc_lb_set_backends(lb, b, 9), 0);
	map_clients(lb, before, NCLIENTS, 7);
	cr_assert_eq(svc_lb_set_backends(lb, b, 10), 0);
	map_clients(lb, after, NCLIENTS, 7);
	for (unsigned i = 0; i < NCLIENTS; i++) {
		if (after[i] == 10)
			to_new++;
		else if (before[i] != after[i])
			moved_other++;
	}
	cr_assert(to_new > NCLIENTS * 9 / 100 && to_new < NCLIENTS * 11 / 100, "%u", to_new);
	cr_assert_lt(moved_other, NCLIENTS / 20, "%u clients moved between old backends",
		     moved_other);
	svc_lb_free(lb);
}

Test(svc_lb, maglev_down_or_drained_gets_nothing)
{
	const uint32_t w[] = { 1, 1, 1, 1 };
	struct svc_lb *lb = make(SVC_LB_MAGLEV, w, 4);
	uint32_t s;

	cr_assert_eq(svc_lb_set_state(lb, 2, 1, false), 0);
	cr_assert_eq(svc_lb_set_state(lb, 3, 0, true), 0);
	cr_assert_eq(svc_lb_maglev_slots(lb, 1, &s), 0);
	cr_assert_eq(s, 0);
	cr_assert_eq(svc_lb_maglev_slots(lb, 2, &s), 0);
	cr_assert_eq(s, 0);
	for (int i = 0; i < 10000; i++) {
		struct flow_key k;

		client_key(&k, rnd());
		uint32_t id = pick_id(lb, &k);
		cr_assert(id == 1 || id == 4, "picked %u", id);
	}
	svc_lb_free(lb);
}

Test(svc_lb, maglev_hash_source_vs_flow)
{
	const uint32_t w[] = { 1, 1, 1, 1, 1, 1, 1, 1 };
	struct svc_lb_backend b[8];
	struct svc_lb *src = make(SVC_LB_MAGLEV, w, 8), *flow;
	struct flow_key k;
	unsigned seen = 0;

	for (unsigned i = 0; i < 8; i++)
		b[i] = backend(i + 1, 1);
	cr_assert_eq(svc_lb_new(SVC_LB_MAGLEV, SVC_LB_HASH_FLOW, 0, 42, &flow), 0);
	cr_assert_eq(svc_lb_set_backends(flow, b, 8), 0);
	client_key(&k, 12345);
	uint32_t first = pick_id(src, &k);
	for (uint16_t port = 1000; port < 1100; port++) {
		k.sport = htons(port);
		cr_assert_eq(pick_id(src, &k), first, "source hashing ignores ports");
		seen |= 1u << (pick_id(flow, &k) - 1);
	}
	cr_assert_eq(seen, 0xff, "flow hashing spreads one client's flows (%#x)", seen);
	svc_lb_free(src);
	svc_lb_free(flow);
}

/* ---- All algorithms ---- */

Test(svc_lb, no_eligible_backend_is_enoent)
{
	const uint32_t w[] = { 1, 0, 3 };
	struct flow_key k;

	client_key(&k, 1);
	for (unsigned a = 0; a < SVC_LB_ALG_COUNT; a++) {
		struct svc_lb *lb;

		cr_assert_eq(svc_lb_new(a, SVC_LB_HASH_SOURCE, 0, 0, &lb), 0);
		cr_assert_eq(svc_lb_pick(lb, &k), -ENOENT, "%s, empty", svc_lb_alg_name(a));
		svc_lb_free(lb);
		lb = make(a, w, 3);
		cr_assert_geq(svc_lb_pick(lb, &k), 0);
		cr_assert_eq(svc_lb_set_state(lb, 1, 1, false), 0);
		cr_assert_eq(svc_lb_set_state(lb, 3, 0, true), 0);
		cr_assert_eq(svc_lb_pick(lb, &k), -ENOENT, "%s, all down or drained",
			     svc_lb_alg_name(a));
		cr_assert_eq(svc_lb_set_state(lb, 2, 9, true), 0);
		cr_assert_eq(svc_lb_pick(lb, &k), 1, "%s, undrained", svc_lb_alg_name(a));
		svc_lb_free(lb);
	}
}

Test(svc_lb, bad_input_is_einval)
{
	struct svc_lb_backend b[3] = { backend(1, 1), backend(2, 1), backend(1, 1) };
	struct svc_lb *lb;
	uint32_t s;

	cr_assert_eq(svc_lb_new((enum svc_lb_alg)9, SVC_LB_HASH_SOURCE, 0, 0, &lb), -EINVAL);
	cr_assert_eq(svc_lb_new(SVC_LB_RR, (enum svc_lb_hash)9, 0, 0, &lb), -EINVAL);
	cr_assert_eq(svc_lb_new(SVC_LB_MAGLEV, SVC_LB_HASH_SOURCE, 65536, 0, &lb), -EINVAL);
	cr_assert_eq(svc_lb_new(SVC_LB_MAGLEV, SVC_LB_HASH_SOURCE, 1048583, 0, &lb), -EINVAL,
		     "a prime above SVC_LB_MAGLEV_MAX");
	cr_assert_eq(svc_lb_new(SVC_LB_MAGLEV, SVC_LB_HASH_SOURCE, SVC_LB_MAGLEV_MAX, 0, &lb), 0);
	svc_lb_free(lb);
	cr_assert_eq(svc_lb_new(SVC_LB_MAGLEV, SVC_LB_HASH_SOURCE, 2, 0, &lb), -EINVAL);
	cr_assert_eq(svc_lb_new(SVC_LB_RR, SVC_LB_HASH_SOURCE, 0, 0, NULL), -EINVAL);

	cr_assert_eq(svc_lb_new(SVC_LB_MAGLEV, SVC_LB_HASH_SOURCE, 5, 0, &lb), 0);
	cr_assert_eq(svc_lb_set_backends(lb, b, 2), 0);
	cr_assert_eq(svc_lb_set_backends(lb, b, 3), -EINVAL, "duplicate id");
	cr_assert_eq(svc_lb_count(lb), 2, "a refused list leaves the old one");
	cr_assert_eq(svc_lb_set_backends(lb, NULL, 1), -EINVAL);
	cr_assert_eq(svc_lb_set_backends(NULL, b, 1), -EINVAL);
	struct svc_lb_backend six[6];
	for (unsigned i = 0; i < 6; i++)
		six[i] = backend(i + 1, 1);
	cr_assert_eq(svc_lb_set_backends(lb, six, 6), -EINVAL, "more backends than M");
	b[1].weight = SVC_LB_MAX_WEIGHT + 1;
	cr_assert_eq(svc_lb_set_backends(lb, b, 2), -EINVAL);
	cr_assert_eq(svc_lb_set_state(lb, 1, SVC_LB_MAX_WEIGHT + 1, true), -EINVAL);
	cr_assert_eq(svc_lb_set_state(lb, 99, 1, true), -ENOENT);
	cr_assert_eq(svc_lb_set_state(NULL, 1, 1, true), -EINVAL);
	cr_assert_eq(svc_lb_pick(lb, NULL), -EINVAL, "Maglev needs the key");
	cr_assert_eq(svc_lb_pick(NULL, NULL), -EINVAL);
	cr_assert_null(svc_lb_backend(lb, 2));
	cr_assert_null(svc_lb_backend(NULL, 0));
	cr_assert_eq(svc_lb_find(lb, 99), -ENOENT);
	cr_assert_eq(svc_lb_find(lb, 2), 1);
	cr_assert_eq(svc_lb_maglev_slots(lb, 2, &s), -EINVAL);
	cr_assert_eq(svc_lb_maglev_slots(lb, 0, NULL), -EINVAL);
	svc_lb_free(lb);
	svc_lb_free(NULL);

	cr_assert_eq(svc_lb_new(SVC_LB_RR, SVC_LB_HASH_SOURCE, 0, 0, &lb), 0);
	static struct svc_lb_backend many[SVC_LB_MAX_BACKENDS + 1];
	for (unsigned i = 0; i <= SVC_LB_MAX_BACKENDS; i++)
		many[i] = backend(i, 1);
	cr_assert_eq(svc_lb_set_backends(lb, many, SVC_LB_MAX_BACKENDS + 1), -EINVAL);
	cr_assert_eq(svc_lb_set_backends(lb, many, SVC_LB_MAX_BACKENDS), 0);
	cr_assert_eq(svc_lb_maglev_slots(lb, 0, &s), -EINVAL, "not Maglev");
	svc_lb_free(lb);
}

/*
 * Random operations on every algorithm: a pick is always an eligible index,
 * -ENOENT exactly when none is, and a Maglev table is always full.
 */
Test(svc_lb, random_operations_keep_invariants)
{
	for (unsigned a = 0; a < SVC_LB_ALG_COUNT; a++) {
		struct svc_lb *lb;
		struct svc_lb_backend b[40];

		cr_assert_eq(svc_lb_new(a, rnd() & 1, 1009, rnd(), &lb), 0);
		for (int op = 0; op < 3000; op++) {
			unsigned n = svc_lb_count(lb);
			struct flow_key k;

			switch (rnd() % 8) {
			case 0: {
				unsigned m = (unsigned)(rnd() % 41);
				for (unsigned i = 0; i < m; i++) {
					b[i] = backend((uint32_t)(rnd() % 60), (uint32_t)(rnd() % 4));
					b[i].up = rnd() % 5;
				}
				int rc = svc_lb_set_backends(lb, b, m);
				cr_assert(rc == 0 || rc == -EINVAL);
				break;
			}
			case 1:
				svc_lb_set_state(lb, (uint32_t)(rnd() % 60), (uint32_t)(rnd() % 4),
						 rnd() % 3);
				break;
			case 2:
				if (n)
					svc_lb_conn(lb, (unsigned)(rnd() % n), (int)(rnd() % 7) - 3);
				break;
			default: {
				bool any = false;

				for (unsigned i = 0; i < n; i++)
					any |= svc_lb_eligible(lb, i);
				client_key(&k, rnd());
				int p = svc_lb_pick(lb, &k);
				if (any)
					cr_assert(p >= 0 && svc_lb_eligible(lb, (unsigned)p),
						  "%s picked %d", svc_lb_alg_name(a), p);
				else
					cr_assert_eq(p, -ENOENT);
				if (a == SVC_LB_MAGLEV && any) {
					uint64_t sum = 0;
					uint32_t s;

					for (unsigned i = 0; i < n; i++) {
						cr_assert_eq(svc_lb_maglev_slots(lb, i, &s), 0);
						sum += s;
					}
					cr_assert_eq(sum, 1009);
				}
			}
			}
		}
		svc_lb_free(lb);
	}
}

/* ---- Persistence ---- */

static void client(uint8_t c[16], uint32_t v)
{
	key_addr_from_v4(c, htonl(v));
}

Test(svc_lb, persist_get_after_put_and_expiry)
{
	struct svc_lb_persist *p;
	uint8_t c[16], d[16];
	uint32_t id = 0;

	cr_assert_eq(svc_lb_persist_new(8, &p), 0);
	client(c, 0x0a000001);
	client(d, 0x0a000002);
	cr_assert_eq(svc_lb_persist_get(p, c, 0, &id), -ENOENT);
	cr_assert_eq(svc_lb_persist_put(p, c, 7, 1000), 0);
	cr_assert_eq(svc_lb_persist_get(p, c, 999, &id), 0);
	cr_assert_eq(id, 7);
	cr_assert_eq(svc_lb_persist_get(p, d, 999, &id), -ENOENT);
	/* Refresh: new backend, later expiry. */
	cr_assert_eq(svc_lb_persist_put(p, c, 9, 2000), 0);
	cr_assert_eq(svc_lb_persist_count(p), 1);
	cr_assert_eq(svc_lb_persist_get(p, c, 1500, &id), 0);
	cr_assert_eq(id, 9);
	cr_assert_eq(svc_lb_persist_get(p, c, 2000, &id), -ENOENT, "expired at expires_ms");
	cr_assert_eq(svc_lb_persist_count(p), 0, "an expired entry found by get is dropped");
	svc_lb_persist_free(p);
}

Test(svc_lb, persist_expire_earliest_first_bounded)
{
	struct svc_lb_persist *p;
	uint8_t c[16];
	uint32_t id;

	cr_assert_eq(svc_lb_persist_new(100, &p), 0);
	for (uint32_t i = 0; i < 50; i++) {
		client(c, 0x0a000000 + i);
		cr_assert_eq(svc_lb_persist_put(p, c, i, 1000 + (i * 37) % 50 * 10), 0);
	}
	/* Expiries 1000..1490: those <= 1240 are the 25 due. */
	cr_assert_eq(svc_lb_persist_expire(p, 1240, 10), 10);
	cr_assert_eq(svc_lb_persist_expire(p, 1240, 100), 15);
	cr_assert_eq(svc_lb_persist_expire(p, 1240, 100), 0);
	cr_assert_eq(svc_lb_persist_count(p), 25);
	for (uint32_t i = 0; i < 50; i++) {
		client(c, 0x0a000000 + i);
		bool live = 1000 + (i * 37) % 50 * 10 > 1240;
		cr_assert_eq(svc_lb_persist_get(p, c, 0, &id), live ? 0 : -ENOENT, "client %u", i);
	}
	svc_lb_persist_free(p);
}

Test(svc_lb, persist_full_evicts_the_first_to_expire)
{
	struct svc_lb_persist *p;
	uint8_t c[16];
	uint32_t id;

	cr_assert_eq(svc_lb_persist_new(4, &p), 0);
	for (uint32_t i = 0; i < 4; i++) {
		client(c, 0x0a000000 + i);
		cr_assert_eq(svc_lb_persist_put(p, c, i, i == 2 ? 500 : 1000 + i), 0);
	}
	client(c, 0x0b000000);
	cr_assert_eq(svc_lb_persist_put(p, c, 42, 5000), 0);
	cr_assert_eq(svc_lb_persist_count(p), 4);
	cr_assert_eq(svc_lb_persist_get(p, c, 0, &id), 0);
	cr_assert_eq(id, 42);
	client(c, 0x0a000002);
	cr_assert_eq(svc_lb_persist_get(p, c, 0, &id), -ENOENT, "the earliest expiry went");
	for (uint32_t i = 0; i < 4; i++) {
		if (i == 2)
			continue;
		client(c, 0x0a000000 + i);
		cr_assert_eq(svc_lb_persist_get(p, c, 0, &id), 0);
		cr_assert_eq(id, i);
	}
	svc_lb_persist_free(p);
}

Test(svc_lb, persist_forget_backend)
{
	struct svc_lb_persist *p;
	uint8_t c[16];
	uint32_t id;

	cr_assert_eq(svc_lb_persist_new(64, &p), 0);
	for (uint32_t i = 0; i < 60; i++) {
		client(c, 0x0a000000 + i);
		cr_assert_eq(svc_lb_persist_put(p, c, i % 3, 1000), 0);
	}
	svc_lb_persist_forget_backend(p, 1);
	cr_assert_eq(svc_lb_persist_count(p), 40);
	for (uint32_t i = 0; i < 60; i++) {
		client(c, 0x0a000000 + i);
		int rc = svc_lb_persist_get(p, c, 0, &id);
		if (i % 3 == 1) {
			cr_assert_eq(rc, -ENOENT);
		} else {
			cr_assert_eq(rc, 0);
			cr_assert_eq(id, i % 3);
		}
	}
	svc_lb_persist_free(p);
}

/* Random puts, gets, expiries and forgets against a plain array model. */
Test(svc_lb, persist_matches_model)
{
	enum { CAP = 32, CLIENTS = 80 };
	struct { bool in; uint32_t id; uint64_t exp; } model[CLIENTS] = { 0 };
	struct svc_lb_persist *p;
	uint64_t now = 0;
	uint8_t c[16];
	uint32_t id;

	cr_assert_eq(svc_lb_persist_new(CAP, &p), 0);
	for (int op = 0; op < 100000; op++) {
		unsigned x = (unsigned)(rnd() % CLIENTS), count = 0;

		client(c, 0x0a000000 + x);
		now += rnd() % 3;
		switch (rnd() % 5) {
		case 0: {
			for (unsigned i = 0; i < CLIENTS; i++)
				count += model[i].in;
			/* Distinct expiries (x in the low bits) make the
			 * eviction choice unique. */
			uint64_t exp = (now + rnd() % 200) * 128 + x;
			if (!model[x].in && count == CAP) {
				unsigned v = CLIENTS;
				for (unsigned i = 0; i < CLIENTS; i++)
					if (model[i].in && (v == CLIENTS || model[i].exp < model[v].exp))
						v = i;
				model[v].in = false;
			}
			uint32_t b = (uint32_t)(rnd() % 5);
			cr_assert_eq(svc_lb_persist_put(p, c, b, exp), 0);
			model[x].in = true;
			model[x].id = b;
			model[x].exp = exp;
			break;
		}
		case 1:
		case 2: {
			int rc = svc_lb_persist_get(p, c, now * 128, &id);
			bool live = model[x].in && now * 128 < model[x].exp;
			cr_assert_eq(rc, live ? 0 : -ENOENT, "op %d client %u", op, x);
			if (live)
				cr_assert_eq(id, model[x].id);
			if (!live)
				model[x].in = false;
			break;
		}
		case 3: {
			unsigned want = 0, max = (unsigned)(rnd() % 4);
			for (unsigned i = 0; i < CLIENTS; i++)
				want += model[i].in && model[i].exp <= now * 128;
			want = want < max ? want : max;
			cr_assert_eq(svc_lb_persist_expire(p, now * 128, max), want);
			/* Earliest first: remove the model's `want` earliest. */
			for (unsigned k = 0; k < want; k++) {
				unsigned v = CLIENTS;
				for (unsigned i = 0; i < CLIENTS; i++)
					if (model[i].in && (v == CLIENTS || model[i].exp < model[v].exp))
						v = i;
				model[v].in = false;
			}
			break;
		}
		default: {
			uint32_t b = (uint32_t)(rnd() % 5);
			if (rnd() % 8)
				break;
			svc_lb_persist_forget_backend(p, b);
			for (unsigned i = 0; i < CLIENTS; i++)
				if (model[i].id == b)
					model[i].in = false;
		}
		}
		count = 0;
		for (unsigned i = 0; i < CLIENTS; i++)
			count += model[i].in;
		cr_assert_eq(svc_lb_persist_count(p), count, "op %d", op);
	}
	svc_lb_persist_free(p);
}

Test(svc_lb, persist_bad_input_is_einval)
{
	struct svc_lb_persist *p;
	uint8_t c[16] = { 0 };
	uint32_t id;

	cr_assert_eq(svc_lb_persist_new(0, &p), -EINVAL);
	cr_assert_eq(svc_lb_persist_new(SVC_LB_PERSIST_MAX + 1, &p), -EINVAL);
	cr_assert_eq(svc_lb_persist_new(4, NULL), -EINVAL);
	cr_assert_eq(svc_lb_persist_new(4, &p), 0);
	cr_assert_eq(svc_lb_persist_put(p, NULL, 1, 1), -EINVAL);
	cr_assert_eq(svc_lb_persist_put(NULL, c, 1, 1), -EINVAL);
	cr_assert_eq(svc_lb_persist_get(p, c, 0, NULL), -EINVAL);
	cr_assert_eq(svc_lb_persist_get(p, NULL, 0, &id), -EINVAL);
	cr_assert_eq(svc_lb_persist_expire(NULL, 0, 1), 0);
	svc_lb_persist_forget_backend(NULL, 1);
	svc_lb_persist_free(p);
	svc_lb_persist_free(NULL);
}
