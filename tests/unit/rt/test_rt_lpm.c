// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * rt_ without netlink: the trie against a brute-force longest-prefix match,
 * route metrics, multipath selection, and the netlink parser on hostile input.
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <stdlib.h>
#include <urcu-qsbr.h>

#include "common/key.h"
#include "common/rt.h"
#include "rt-internal.h"

static struct rt_table *rt;
static uint32_t link_ifindex[4] = { 0, 2, 3, 4 };

static void add_link(uint32_t ifindex, bool up)
{
	struct rt_mlink l = { .ifindex = ifindex, .mtu = 1500, .l2len = 6,
			      .flags = up ? IFF_UP | IFF_RUNNING : 0 };

	l.mac[5] = (uint8_t)ifindex;
	snprintf(l.name, sizeof(l.name), "eth%u", ifindex);
	cr_assert_eq(rt_model_link_set(rt, &l), 0);
}

static void setup(void)
{
	rcu_register_thread();
	cr_assert_eq(rt_open_offline(&rt, NULL), 0);
	for (int i = 1; i < 4; i++)
		add_link(link_ifindex[i], true);
}

static void teardown(void)
{
	rt_close(rt);
	rcu_unregister_thread();
}

static void v4(uint8_t a[16], const char *s)
{
	struct in_addr in;

	cr_assert_eq(inet_pton(AF_INET, s, &in), 1);
	key_addr_from_v4(a, in.s_addr);
}

static void add_route(uint8_t tid, const uint8_t dst[16], unsigned len, uint8_t type,
		      uint32_t prio, const struct rt_path *paths, unsigned n)
{
	struct rt_rkey k = { .tid = tid, .len = (uint8_t)len };
	struct rt_route r = { .priority = prio, .type = type, .npaths = (uint8_t)n,
			      .paths = (struct rt_path *)(uintptr_t)paths };

	memcpy(k.dst, dst, 16);
	cr_assert_eq(rt_model_route_add(rt, &k, &r), 0);
}

static uint64_t rnd(uint64_t *s)
{
	uint64_t x = *s += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static bool prefix_match(const uint8_t *a, const uint8_t *p, unsigned bits)
{
	for (unsigned i = 0; i < bits; i++) {
		unsigned m = 0x80u >> (i & 7);

		if ((a[i >> 3] & m) != (p[i >> 3] & m))
			return false;
	}
	return true;
}

/* Random prefixes, nested on purpose (drawn around a few seeds), against a
 * linear scan: every lookup's prefix length and next hop must agree. */
static void brute(bool is_v4, unsigned nroutes, unsigned nlookups)
{
	struct pfx {
		uint8_t a[16];
		unsigned len;
		struct rt_path p;
	} *tab = calloc(nroutes, sizeof(*tab));
	uint64_t s = is_v4 ? 1 : 2;
	unsigned base = is_v4 ? 96 : 0, maxlen = is_v4 ? 32 : 128;

	cr_assert(tab);
	for (unsigned i = 0; i < nroutes; i++) {
		uint8_t a[16];
		uint64_t x = rnd(&s), y = rnd(&s);

		memcpy(a, &x, 8);
		memcpy(a + 8, &y, 8);
		if (is_v4)
			key_addr_from_v4(a, (uint32_t)(x & 0x0f0f0fffu));
		unsigned len = (unsigned)(rnd(&s) % (maxlen + 1));

		for (unsigned b = base + len; b < 128; b++)
			a[b >> 3] &= (uint8_t)~(0x80u >> (b & 7));
		memcpy(tab[i].a, a, 16);
		tab[i].len = len;
		memset(&tab[i].p, 0, sizeof(tab[i].p));
		tab[i].p.ifindex = 2;
		tab[i].p.has_gw = 1;
		tab[i].p.weight = 1;
		memcpy(tab[i].p.gw, a, 16);
		tab[i].p.gw[15] ^= (uint8_t)(i + 1);
		tab[i].p.gw[14] ^= (uint8_t)((i + 1) >> 8);
		tab[i].p.gw[13] ^= (uint8_t)((i + 1) >> 16);
		add_route(is_v4 ? RT_T4_MAIN : RT_T6_MAIN, a, len, RTN_UNICAST, 0, &tab[i].p, 1);
	}
	cr_assert_eq(rt_publish(rt), 0);
	for (unsigned q = 0; q < nlookups; q++) {
		uint8_t d[16];
		uint64_t x = rnd(&s), y = rnd(&s);

		memcpy(d, &x, 8);
		memcpy(d + 8, &y, 8);
		if (is_v4)
			key_addr_from_v4(d, (uint32_t)(x & 0x0f0f0fffu));
		if (q % 2) /* half the lookups inside a known prefix */
			memcpy(d, tab[q % nroutes].a, (base + tab[q % nroutes].len) / 8);
		int best = -1;

		for (unsigned i = 0; i < nroutes; i++)
			if (prefix_match(d, tab[i].a, base + tab[i].len) &&
			    (best < 0 || tab[i].len > tab[best].len))
				best = (int)i;
		struct rt_hop h;

		rt_lookup(rt, d, &h);
		if (best < 0) {
			cr_assert_eq(h.verdict, RT_DROP);
			cr_assert_eq(h.reason, RT_R_NO_ROUTE);
			continue;
		}
		cr_assert_eq(h.verdict, RT_NO_NEIGH, "q %u verdict %s", q, rt_verdict_name(h.verdict));
		cr_assert_eq(h.prefix_len, tab[best].len, "q %u: /%u, want /%u", q, h.prefix_len,
			     tab[best].len);
		/* Duplicate prefixes: any of them names the same prefix. */
		bool ok = false;

		for (unsigned i = 0; i < nroutes && !ok; i++)
			ok = tab[i].len == tab[best].len && prefix_match(d, tab[i].a, base + tab[i].len) &&
			     memcmp(h.nexthop, tab[i].p.gw, 16) == 0;
		cr_assert(ok, "q %u: wrong next hop", q);
	}
	free(tab);
}

TestSuite(rt_lpm, .init = setup, .fini = teardown);

Test(rt_lpm, ipv4_matches_brute_force)
{
	brute(true, 3000, 20000);
}

Test(rt_lpm, ipv6_matches_brute_force)
{
	brute(false, 2000, 10000);
}

Test(rt_lpm, lowest_metric_wins_and_deleting_it_falls_back)
{
	uint8_t d[16];
	struct rt_path a = { .ifindex = 2, .weight = 1 }, b = { .ifindex = 3, .weight = 1 };
	struct rt_hop h;

	v4(d, "10.0.0.0");
	add_route(RT_T4_MAIN, d, 8, RTN_UNICAST, 200, &a, 1);
	add_route(RT_T4_MAIN, d, 8, RTN_UNICAST, 100, &b, 1);
	cr_assert_eq(rt_publish(rt), 0);
	v4(d, "10.1.2.3");
	rt_lookup(rt, d, &h);
	cr_assert_eq(h.ifindex, 3, "got %u %s %u", h.ifindex, rt_verdict_name(h.verdict), h.prefix_len);

	struct rt_rkey k = { .tid = RT_T4_MAIN, .len = 8 };
	struct rt_route r = { .priority = 100, .type = RTN_UNICAST, .npaths = 1, .paths = &b };

	v4(k.dst, "10.0.0.0");
	cr_assert_eq(rt_model_route_del(rt, &k, &r), 0);
	cr_assert_eq(rt_model_route_del(rt, &k, &r), -ENOENT);
	cr_assert_eq(rt_publish(rt), 0);
	rt_lookup(rt, d, &h);
	cr_assert_eq(h.ifindex, 2);
}

Test(rt_lpm, multipath_is_deterministic_weighted_and_avoids_down_links)
{
	uint8_t d[16];
	struct rt_path p[3] = {
		{ .ifindex = 2, .weight = 1 }, { .ifindex = 3, .weight = 1 }, { .ifindex = 4, .weight = 2 },
	};
	unsigned hits[5] = { 0 };
	struct rt_hop h, h2;

	v4(d, "0.0.0.0");
	add_route(RT_T4_MAIN, d, 0, RTN_UNICAST, 0, p, 3);
	cr_assert_eq(rt_publish(rt), 0);
	v4(d, "192.0.2.1");
	rt_lookup(rt, d, &h);
	cr_assert_eq(h.ifindex, 2, "rt_lookup takes the first path");
	cr_assert_eq(h.npaths, 3);
	uint64_t s = 3;

	for (int i = 0; i < 40000; i++) {
		uint32_t fh = (uint32_t)rnd(&s);

		rt_lookup_flow(rt, d, fh, &h);
		rt_lookup_flow(rt, d, fh, &h2);
		cr_assert_eq(h.ifindex, h2.ifindex, "one flow, one path");
		hits[h.ifindex]++;
	}
	/* Weights 1:1:2 -> 10000:10000:20000, within 5%. */
	cr_assert(hits[2] > 9500 && hits[2] < 10500, "%u", hits[2]);
	cr_assert(hits[3] > 9500 && hits[3] < 10500, "%u", hits[3]);
	cr_assert(hits[4] > 19000 && hits[4] < 21000, "%u", hits[4]);

	add_link(4, false);
	cr_assert_eq(rt_publish(rt), 0);
	memset(hits, 0, sizeof(hits));
	for (int i = 0; i < 1000; i++) {
		rt_lookup_flow(rt, d, (uint32_t)rnd(&s), &h);
		cr_assert_eq(h.verdict, RT_NO_NEIGH);
		hits[h.ifindex]++;
	}
	cr_assert_eq(hits[4], 0, "no flow takes the down link");
	add_link(2, false);
	add_link(3, false);
	cr_assert_eq(rt_publish(rt), 0);
	rt_lookup_flow(rt, d, 1, &h);
	cr_assert_eq(h.verdict, RT_DROP);
	cr_assert_eq(h.reason, RT_R_LINK_DOWN);
}

Test(rt_lpm, local_table_is_consulted_before_main)
{
	uint8_t d[16];
	struct rt_path p = { .ifindex = 2, .weight = 1 };
	struct rt_hop h;

	v4(d, "10.0.0.5");
	add_route(RT_T4_MAIN, d, 32, RTN_UNICAST, 0, &p, 1);
	v4(d, "10.0.0.0");
	add_route(RT_T4_LOCAL, d, 8, RTN_LOCAL, 0, &p, 1);
	cr_assert_eq(rt_publish(rt), 0);
	v4(d, "10.0.0.5");
	rt_lookup(rt, d, &h);
	cr_assert_eq(h.verdict, RT_LOCAL, "a local /8 beats a main /32, as in the kernel");
}

Test(rt_lpm, neighbour_states_decide_forward_or_no_neigh)
{
	uint8_t d[16], mac[6] = { 2, 0, 0, 0, 0, 9 };
	struct rt_path p = { .ifindex = 2, .weight = 1 };
	struct rt_nkey k = { .ifindex = 2 };
	struct rt_hop h;

	v4(d, "10.0.0.0");
	add_route(RT_T4_MAIN, d, 24, RTN_UNICAST, 0, &p, 1);
	v4(k.addr, "10.0.0.7");
	cr_assert_eq(rt_model_neigh_set(rt, &k, NUD_INCOMPLETE, NULL), 0);
	cr_assert_eq(rt_publish(rt), 0);
	rt_lookup(rt, k.addr, &h);
	cr_assert_eq(h.verdict, RT_NO_NEIGH);
	cr_assert_eq(h.icmp_type, 3);
	cr_assert_eq(h.icmp_code, 1, "host unreachable if resolution fails");
	cr_assert_eq(rt_model_neigh_set(rt, &k, NUD_STALE, mac), 0);
	cr_assert_eq(rt_publish(rt), 0);
	rt_lookup(rt, k.addr, &h);
	cr_assert_eq(h.verdict, RT_FORWARD, "STALE is usable, as in the kernel");
	cr_assert_arr_eq(h.neigh_mac, mac, 6);
	cr_assert_eq(rt_model_neigh_set(rt, &k, NUD_FAILED, NULL), 0);
	cr_assert_eq(rt_publish(rt), 0);
	rt_lookup(rt, k.addr, &h);
	cr_assert_eq(h.verdict, RT_NO_NEIGH);
}

/* ---- the parser on hostile input ---- */

static size_t route_msg(char *buf, bool truncate_attr, bool bad_multipath)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct rtmsg *rm;

	nlh->nlmsg_type = RTM_NEWROUTE;
	rm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rm));
	rm->rtm_family = AF_INET;
	rm->rtm_dst_len = 24;
	rm->rtm_table = RT_TABLE_MAIN;
	rm->rtm_type = RTN_UNICAST;
	uint32_t dst = htonl(0x0a000000);

	mnl_attr_put_u32(nlh, RTA_OIF, 2);
	if (bad_multipath) {
		struct rtnexthop nh = { .rtnh_len = 200, .rtnh_ifindex = 2 };

		mnl_attr_put(nlh, RTA_MULTIPATH, sizeof(nh), &nh);
	}
	mnl_attr_put(nlh, RTA_DST, truncate_attr ? 3 : 4, &dst);
	return nlh->nlmsg_len;
}

Test(rt_lpm, malformed_messages_are_counted_and_change_nothing)
{
	char buf[512];
	struct rt_stats st;
	struct rt_hop h;
	uint8_t d[16];

	route_msg(buf, true, false);
	cr_assert_eq(rt_nl_apply(rt, (struct nlmsghdr *)buf), -EBADMSG);
	route_msg(buf, false, true);
	cr_assert_eq(rt_nl_apply(rt, (struct nlmsghdr *)buf), -EBADMSG);
	/* A header shorter than struct rtmsg. */
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);

	nlh->nlmsg_type = RTM_NEWROUTE;
	nlh->nlmsg_len = NLMSG_HDRLEN + 2;
	cr_assert_eq(rt_nl_apply(rt, nlh), -EBADMSG);
	rt_stats_get(rt, &st);
	cr_assert_eq(st.ctr[RT_CTR_NL_BAD], 3);
	/* The well-formed one is applied. */
	route_msg(buf, false, false);
	cr_assert_eq(rt_nl_apply(rt, (struct nlmsghdr *)buf), 0);
	cr_assert_eq(rt_publish(rt), 0);
	v4(d, "10.0.0.1");
	rt_lookup(rt, d, &h);
	cr_assert_eq(h.verdict, RT_NO_NEIGH);
	cr_assert_eq(h.prefix_len, 24);
	rt_stats_get(rt, &st);
	cr_assert_eq(st.routes4, 1);
}

/* The resync path: whatever the model held is replaced by what the dump
 * brings (here: nothing, offline), so stale routes cannot survive. */
Test(rt_lpm, resync_clears_the_model_before_the_dump)
{
	uint8_t d[16];
	struct rt_path p = { .ifindex = 2, .weight = 1 };
	struct rt_hop h;

	v4(d, "10.0.0.0");
	add_route(RT_T4_MAIN, d, 8, RTN_UNICAST, 0, &p, 1);
	cr_assert_eq(rt_publish(rt), 0);
	rt_model_clear(rt);
	cr_assert_eq(rt_publish(rt), 0);
	v4(d, "10.0.0.1");
	rt_lookup(rt, d, &h);
	cr_assert_eq(h.verdict, RT_DROP);
}

Test(rt_lpm, resolve_is_rate_limited_per_address_and_bounded)
{
	uint8_t a[16];
	struct rt_stats st;

	v4(a, "10.0.0.1");
	cr_assert_eq(rt_resolve(rt, 2, a), 0);
	cr_assert_eq(rt_resolve(rt, 2, a), -EALREADY);
	int full = 0;

	for (uint32_t i = 0; i < 3000; i++) {
		key_addr_from_v4(a, htonl(0x0b000000 + i));
		if (rt_resolve(rt, 2, a) == -ENOBUFS)
			full++;
	}
	cr_assert_gt(full, 0, "the 1024-slot queue overflows and says so");
	cr_assert_eq(rt_resolve_drain(rt, 100000), 1024);
	rt_stats_get(rt, &st);
	cr_assert_eq(st.ctr[RT_CTR_RESOLVE_QUEUED], 1024);
	cr_assert_eq(st.ctr[RT_CTR_RESOLVE_FULL], (uint64_t)full);
	cr_assert_eq(st.ctr[RT_CTR_RESOLVE_QUEUED] + st.ctr[RT_CTR_RESOLVE_LIMITED] +
			     st.ctr[RT_CTR_RESOLVE_FULL], 3002, "every call is counted once");
	cr_assert_eq(st.ctr[RT_CTR_RESOLVE_ERR], 1024, "offline: nothing to send them to");
}

static void add_addr(uint32_t ifindex, const uint8_t a[16], uint8_t plen)
{
	struct rt_addr ra = { .ifindex = ifindex, .prefix_len = plen };

	memcpy(ra.addr, a, 16);
	cr_assert_eq(rt_model_addr_add(rt, &ra), 0);
}

static void v6(uint8_t a[16], const char *s)
{
	cr_assert_eq(inet_pton(AF_INET6, s, a), 1);
}

/* The source of an ICMP error: the receiving interface's address, the one
 * on the asker's subnet when there are several, of the asker's family. */
Test(rt_lpm, link_addr_picks_the_address_that_answers_dst)
{
	uint8_t a[16], b[16], ll[16], g6[16], g6b[16], d[16], out[16];

	v4(a, "10.1.0.1");
	v4(b, "192.0.2.1");
	v6(ll, "fe80::1");
	v6(g6, "2001:db8:1::1");
	v6(g6b, "2001:db8:7::1");
	add_addr(2, a, 24);
	add_addr(2, ll, 64);
	add_addr(2, b, 24);
	add_addr(2, g6, 64);
	add_addr(2, g6b, 64);
	cr_assert_eq(rt_publish(rt), 0);

	v4(d, "192.0.2.77");
	cr_assert_eq(rt_link_addr(rt, 2, d, out), 0);
	cr_assert_arr_eq(out, b, 16, "the address on the asker's subnet");
	v4(d, "198.51.100.9");
	cr_assert_eq(rt_link_addr(rt, 2, d, out), 0);
	cr_assert_arr_eq(out, a, 16, "off every subnet: the primary (first) address");

	v6(d, "2001:db8:7::42");
	cr_assert_eq(rt_link_addr(rt, 2, d, out), 0);
	cr_assert_arr_eq(out, g6b, 16);
	v6(d, "2001:db8:99::42");
	cr_assert_eq(rt_link_addr(rt, 2, d, out), 0);
	cr_assert_arr_eq(out, g6, 16, "a remote asker gets a global address, not fe80::");
	v6(d, "fe80::99");
	cr_assert_eq(rt_link_addr(rt, 2, d, out), 0);
	cr_assert_arr_eq(out, ll, 16, "a link-local asker gets the link-local address");

	/* interface 3 has no address; 99 does not exist */
	cr_assert_eq(rt_link_addr(rt, 3, d, out), -ENOENT);
	cr_assert_eq(rt_link_addr(rt, 99, d, out), -ENOENT);
	/* no IPv4 address on a v6-only link */
	add_addr(4, g6, 64);
	cr_assert_eq(rt_publish(rt), 0);
	v4(d, "10.1.0.9");
	cr_assert_eq(rt_link_addr(rt, 4, d, out), -ENOENT);
}
