// SPDX-License-Identifier: LGPL-2.1-or-later
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "common/compiler.h"
#include "common/key.h"
#include "svc_natpool.h"

static struct svc_nat_ep v4(uint32_t host_order, uint16_t port)
{
	struct svc_nat_ep ep;

	memset(&ep, 0, sizeof(ep));
	key_addr_from_v4(ep.addr, htonl(host_order));
	ep.port = port;
	return ep;
}

static struct svc_nat_ep v6(const char *s, uint16_t port)
{
	struct svc_nat_ep ep;

	memset(&ep, 0, sizeof(ep));
	cr_assert_eq(inet_pton(AF_INET6, s, ep.addr), 1, "bad literal %s", s);
	ep.port = port;
	return ep;
}

static bool ep_eq(const struct svc_nat_ep *a, const struct svc_nat_ep *b)
{
	return a->port == b->port && !memcmp(a->addr, b->addr, 16);
}

/* A pool of the IPv4 addresses first..first+n-1 (host order), ports lo..hi. */
static struct svc_natpool *pool_v4(uint32_t first, uint32_t n, uint16_t lo, uint16_t hi)
{
	struct svc_natpool *p;
	struct svc_nat_ep a = v4(first, 0), b = v4(first + n - 1, 0);

	cr_assert_eq(svc_natpool_new(lo, hi, &p), 0);
	cr_assert_eq(svc_natpool_add_range(p, a.addr, b.addr), 0);
	return p;
}

#define POOL_BASE 0xc6336400u /* 198.51.100.0 */
#define INSIDE(h) (0x0a000000u + (h)) /* 10.0.0.h */

Test(natpool, two_hosts_same_source_port_get_distinct_endpoints)
{
	struct svc_natpool *p = pool_v4(POOL_BASE + 1, 1, 1024, 65535);
	struct svc_nat_ep a = v4(INSIDE(1), 5000), b = v4(INSIDE(2), 5000), oa, ob;

	cr_assert_eq(svc_natpool_map(p, IPPROTO_UDP, &a, &oa), 0);
	cr_assert_eq(svc_natpool_map(p, IPPROTO_UDP, &b, &ob), 0);
	cr_assert(!ep_eq(&oa, &ob), "two inside endpoints share outside port %u", oa.port);
	/* One address in the pool: both are on it. */
	cr_assert_eq(memcmp(oa.addr, ob.addr, 16), 0);
	svc_natpool_free(p);
}

Test(natpool, endpoint_independent_mapping_counts_flows)
{
	struct svc_natpool *p = pool_v4(POOL_BASE + 1, 4, 1024, 65535);
	struct svc_nat_ep in = v4(INSIDE(7), 40000), o1, o2, o;
	uint32_t refs;

	/* Two flows of one inside endpoint (to two destinations): one mapping. */
	cr_assert_eq(svc_natpool_map(p, IPPROTO_TCP, &in, &o1), 0);
	cr_assert_eq(svc_natpool_map(p, IPPROTO_TCP, &in, &o2), 0);
	cr_assert(ep_eq(&o1, &o2));
	cr_assert_eq(svc_natpool_lookup_inside(p, IPPROTO_TCP, &in, &o, &refs), 0);
	cr_assert(ep_eq(&o, &o1));
	cr_assert_eq(refs, 2);

	struct svc_natpool_stats st;
	svc_natpool_stats(p, &st);
	cr_assert_eq(st.mappings, 1);

	/* The first flow ends: the mapping stays for the second. */
	cr_assert_eq(svc_natpool_release(p, IPPROTO_TCP, &in), 0);
	cr_assert_eq(svc_natpool_lookup_inside(p, IPPROTO_TCP, &in, &o, &refs), 0);
	cr_assert_eq(refs, 1);
	cr_assert_eq(svc_natpool_lookup_outside(p, IPPROTO_TCP, &o1, NULL), 0);
	cr_assert_eq(svc_natpool_release(p, IPPROTO_TCP, &in), 0);
	cr_assert_eq(svc_natpool_lookup_inside(p, IPPROTO_TCP, &in, &o, &refs), -ENOENT);
	cr_assert_eq(svc_natpool_lookup_outside(p, IPPROTO_TCP, &o1, NULL), -ENOENT);
	cr_assert_eq(svc_natpool_release(p, IPPROTO_TCP, &in), -ENOENT);
	svc_natpool_stats(p, &st);
	cr_assert_eq(st.mappings, 0);
	cr_assert_eq(st.hosts, 0);
	svc_natpool_free(p);
}

Test(natpool, paired_pooling_keeps_a_host_on_one_address)
{
	struct svc_natpool *p = pool_v4(POOL_BASE + 1, 16, 1024, 65535);
	uint8_t first_addr[50][16];
	unsigned addr_hits[16] = { 0 };

	for (uint32_t h = 0; h < 50; h++) {
		for (uint16_t port = 0; port < 20; port++) {
			struct svc_nat_ep in = v4(INSIDE(h + 1), (uint16_t)(30000 + port)), out;
			uint8_t proto = port % 2 ? IPPROTO_TCP : IPPROTO_UDP;

			cr_assert_eq(svc_natpool_map(p, proto, &in, &out), 0);
			cr_assert(svc_natpool_contains(p, out.addr));
			if (port == 0)
				memcpy(first_addr[h], out.addr, 16);
			else
				cr_assert_eq(memcmp(first_addr[h], out.addr, 16), 0,
					     "host %u mapping %u left its paired address", h, port);
		}
		uint32_t last_octet = first_addr[h][15];
		addr_hits[last_octet - 1]++;
	}
	/* The hash spreads hosts: 50 hosts on one of 16 addresses would be a bug. */
	unsigned used = 0;
	for (unsigned i = 0; i < 16; i++)
		used += addr_hits[i] != 0;
	cr_assert_geq(used, 4, "50 hosts landed on %u addresses only", used);
	svc_natpool_free(p);
}

Test(natpool, port_preserved_when_free)
{
	struct svc_natpool *p = pool_v4(POOL_BASE + 1, 1, 1024, 65535);
	struct svc_nat_ep a = v4(INSIDE(1), 40000), b = v4(INSIDE(2), 40000);
	struct svc_nat_ep low = v4(INSIDE(3), 80), oa, ob, ol;

	cr_assert_eq(svc_natpool_map(p, IPPROTO_UDP, &a, &oa), 0);
	cr_assert_eq(oa.port, 40000);
	/* Taken by a: b gets another port of the range. */
	cr_assert_eq(svc_natpool_map(p, IPPROTO_UDP, &b, &ob), 0);
	cr_assert_neq(ob.port, 40000);
	cr_assert_geq(ob.port, 1024);
	/* Below the pool's range: never mapped outside it. */
	cr_assert_eq(svc_natpool_map(p, IPPROTO_UDP, &low, &ol), 0);
	cr_assert_geq(ol.port, 1024);
	/* Freed, 40000 is preserved again for the next one. */
	cr_assert_eq(svc_natpool_release(p, IPPROTO_UDP, &a), 0);
	struct svc_nat_ep c = v4(INSIDE(4), 40000), oc;
	cr_assert_eq(svc_natpool_map(p, IPPROTO_UDP, &c, &oc), 0);
	cr_assert_eq(oc.port, 40000);
	svc_natpool_free(p);
}

/* Whether out is among the n endpoints of set. */
static bool ep_in(const struct svc_nat_ep *set, unsigned n, const struct svc_nat_ep *out)
{
	for (unsigned i = 0; i < n; i++)
		if (ep_eq(&set[i], out))
			return true;
	return false;
}

Test(natpool, exhaustion_then_reuse_without_collision)
{
	struct svc_natpool *p = pool_v4(POOL_BASE + 1, 2, 2000, 2009);
	struct svc_nat_ep in[40], out[40];
	struct svc_natpool_stats st;
	unsigned n = 0;

	/* Five hosts, eight ports each: 40 candidates for 20 ports. */
	for (unsigned i = 0; i < 40; i++)
		in[i] = v4(INSIDE(i / 8 + 1), (uint16_t)(2000 + i % 8));
	for (n = 0; n < 20; n++) {
		struct svc_nat_ep o;
		cr_assert_eq(svc_natpool_map(p, IPPROTO_UDP, &in[n], &o), 0, "mapping %u", n);
		cr_assert(!ep_in(out, n, &o), "outside %u reused", o.port);
		cr_assert(o.port >= 2000 && o.port <= 2009);
		out[n] = o;
	}
	struct svc_nat_ep o;
	cr_assert_eq(svc_natpool_map(p, IPPROTO_UDP, &in[20], &o), -ENOSPC);
	cr_assert_eq(svc_natpool_map(p, IPPROTO_UDP, &in[21], &o), -ENOSPC);
	svc_natpool_stats(p, &st);
	cr_assert_eq(st.mappings, 20);
	cr_assert_eq(st.alloc_fail, 2);
	/* A full pool still serves existing mappings, and other protocols. */
	cr_assert_eq(svc_natpool_map(p, IPPROTO_UDP, &in[3], &o), 0);
	cr_assert(ep_eq(&o, &out[3]));
	cr_assert_eq(svc_natpool_release(p, IPPROTO_UDP, &in[3]), 0);
	cr_assert_eq(svc_natpool_map(p, IPPROTO_TCP, &in[20], &o), 0);
	cr_assert_eq(svc_natpool_release(p, IPPROTO_TCP, &in[20]), 0);

	uint8_t addr[16];
	uint32_t used[SVC_NATPOOL_NPROTO];
	for (unsigned i = 0; i < 2; i++) {
		cr_assert_eq(svc_natpool_addr_usage(p, i, addr, used), 0);
		cr_assert_eq(used[SVC_NATPOOL_UDP], 10);
		cr_assert_eq(used[SVC_NATPOOL_TCP], 0);
	}
	cr_assert_eq(svc_natpool_addr_usage(p, 2, addr, used), -ENOENT);

	/* Release seven, map seven newcomers: no outside endpoint is shared. */
	static const unsigned gone[] = { 0, 4, 9, 10, 13, 17, 19 };
	for (unsigned k = 0; k < LOOM_ARRAY_SIZE(gone); k++) {
		cr_assert_eq(svc_natpool_release(p, IPPROTO_UDP, &in[gone[k]]), 0);
		memset(&out[gone[k]], 0, sizeof(out[0]));
	}
	for (unsigned k = 0; k < LOOM_ARRAY_SIZE(gone); k++) {
		cr_assert_eq(svc_natpool_map(p, IPPROTO_UDP, &in[20 + k], &o), 0);
		cr_assert(!ep_in(out, 20, &o), "outside %u reused", o.port);
		out[gone[k]] = o;
	}
	cr_assert_eq(svc_natpool_map(p, IPPROTO_UDP, &in[30], &o), -ENOSPC);
	svc_natpool_stats(p, &st);
	cr_assert_eq(st.mappings, 20);
	cr_assert_eq(st.alloc_fail, 3);
	svc_natpool_free(p);
}

/* Whole 64K spaces: the summary levels of the free-port search span many words. */
Test(natpool, full_port_space_of_one_address)
{
	struct svc_natpool *p = pool_v4(POOL_BASE + 1, 1, 1024, 65535);
	enum { N = 65535 - 1024 + 1 };
	static uint8_t seen[65536];
	struct svc_nat_ep o;

	memset(seen, 0, sizeof(seen));
	for (uint32_t i = 0; i < N; i++) {
		struct svc_nat_ep in = v4(INSIDE(i / 60000 + 1), (uint16_t)(i % 60000 + 1));
		cr_assert_eq(svc_natpool_map(p, IPPROTO_UDP, &in, &o), 0, "mapping %u", i);
		cr_assert(o.port >= 1024 && !seen[o.port], "port %u given twice", o.port);
		seen[o.port] = 1;
	}
	struct svc_nat_ep late = v4(INSIDE(9), 1);
	cr_assert_eq(svc_natpool_map(p, IPPROTO_UDP, &late, &o), -ENOSPC);

	/* Holes scattered over the space are all found again. */
	unsigned holes = 0;
	for (uint32_t i = 0; i < N; i += 97) {
		struct svc_nat_ep in = v4(INSIDE(i / 60000 + 1), (uint16_t)(i % 60000 + 1)), out;
		cr_assert_eq(svc_natpool_lookup_inside(p, IPPROTO_UDP, &in, &out, NULL), 0);
		cr_assert_eq(svc_natpool_release(p, IPPROTO_UDP, &in), 0);
		seen[out.port] = 0;
		holes++;
	}
	for (unsigned k = 0; k < holes; k++) {
		struct svc_nat_ep in = v4(INSIDE(10), (uint16_t)(k + 1));
		cr_assert_eq(svc_natpool_map(p, IPPROTO_UDP, &in, &o), 0, "refill %u", k);
		cr_assert(!seen[o.port], "port %u given twice", o.port);
		seen[o.port] = 1;
	}
	cr_assert_eq(svc_natpool_map(p, IPPROTO_UDP, &late, &o), -ENOSPC);
	svc_natpool_free(p);
}

Test(natpool, largest_pool_one_port_each)
{
	struct svc_natpool *p = pool_v4(0x64400000u /* 100.64.0.0 */, SVC_NATPOOL_MAX_ADDRS, 5000, 5000);
	static uint8_t seen[SVC_NATPOOL_MAX_ADDRS];
	struct svc_nat_ep o;

	memset(seen, 0, sizeof(seen));
	for (uint32_t i = 0; i < SVC_NATPOOL_MAX_ADDRS; i++) {
		struct svc_nat_ep in = v4(INSIDE(i), 5000);
		cr_assert_eq(svc_natpool_map(p, IPPROTO_TCP, &in, &o), 0, "host %u", i);
		unsigned idx = (unsigned)o.addr[14] << 8 | o.addr[15];
		cr_assert(o.addr[12] == 100 && o.addr[13] == 64 && !seen[idx]);
		seen[idx] = 1;
	}
	struct svc_nat_ep late = v4(INSIDE(SVC_NATPOOL_MAX_ADDRS), 5000);
	cr_assert_eq(svc_natpool_map(p, IPPROTO_TCP, &late, &o), -ENOSPC);
	struct svc_nat_ep one = v4(0x0b000000, 0);
	cr_assert_eq(svc_natpool_add_range(p, one.addr, one.addr), -E2BIG);
	svc_natpool_free(p);
}

Test(natpool, lookup_outside_inverts_map)
{
	struct svc_natpool *p = pool_v4(POOL_BASE + 1, 3, 1024, 65535);
	struct svc_nat_ep in[300], out[300], back;

	for (unsigned i = 0; i < 300; i++) {
		in[i] = v4(INSIDE(i % 30 + 1), (uint16_t)(50000 + i / 30));
		cr_assert_eq(svc_natpool_map(p, IPPROTO_TCP, &in[i], &out[i]), 0);
	}
	for (unsigned i = 0; i < 300; i++) {
		cr_assert_eq(svc_natpool_lookup_outside(p, IPPROTO_TCP, &out[i], &back), 0);
		cr_assert(ep_eq(&back, &in[i]), "outside %u maps back to the wrong host", i);
		/* Per protocol: the same outside endpoint is not a UDP mapping. */
		cr_assert_eq(svc_natpool_lookup_outside(p, IPPROTO_UDP, &out[i], &back), -ENOENT);
	}
	struct svc_nat_ep stranger = v4(POOL_BASE + 200, out[0].port);
	cr_assert_eq(svc_natpool_lookup_outside(p, IPPROTO_TCP, &stranger, &back), -ENOENT);
	struct svc_nat_ep unmapped = v4(POOL_BASE + 1, 65535); /* cursor never got there */
	cr_assert_eq(svc_natpool_lookup_outside(p, IPPROTO_TCP, &unmapped, &back), -ENOENT);
	svc_natpool_free(p);
}

struct saved {
	uint8_t proto;
	struct svc_nat_ep in, out;
	uint32_t refs;
};

Test(natpool, restore_after_restart)
{
	static const uint8_t protos[] = { IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP };
	struct svc_natpool *p = pool_v4(POOL_BASE + 1, 4, 1024, 65535);
	struct saved s[120];

	for (unsigned i = 0; i < 120; i++) {
		s[i].proto = protos[i % 3];
		s[i].in = v4(INSIDE(i % 17 + 1), (uint16_t)(20000 + i));
		s[i].refs = i % 4 == 0 ? 2 : 1;
		for (uint32_t r = 0; r < s[i].refs; r++)
			cr_assert_eq(svc_natpool_map(p, s[i].proto, &s[i].in, &s[i].out), 0);
	}
	svc_natpool_free(p);

	/* The manager restarts and replays its flow table, one call per flow. */
	p = pool_v4(POOL_BASE + 1, 4, 1024, 65535);
	for (unsigned i = 0; i < 120; i++)
		for (uint32_t r = 0; r < s[i].refs; r++)
			cr_assert_eq(svc_natpool_restore(p, s[i].proto, &s[i].in, &s[i].out), 0);

	struct svc_natpool_stats st;
	svc_natpool_stats(p, &st);
	cr_assert_eq(st.mappings, 120);
	for (unsigned i = 0; i < 120; i++) {
		struct svc_nat_ep o, back;
		uint32_t refs;
		cr_assert_eq(svc_natpool_lookup_inside(p, s[i].proto, &s[i].in, &o, &refs), 0);
		cr_assert(ep_eq(&o, &s[i].out));
		cr_assert_eq(refs, s[i].refs);
		cr_assert_eq(svc_natpool_lookup_outside(p, s[i].proto, &s[i].out, &back), 0);
		cr_assert(ep_eq(&back, &s[i].in));
		/* map after restore finds the restored mapping. */
		cr_assert_eq(svc_natpool_map(p, s[i].proto, &s[i].in, &o), 0);
		cr_assert(ep_eq(&o, &s[i].out));
	}

	/* Another inside endpoint claiming a held outside endpoint. */
	struct svc_nat_ep thief = v4(INSIDE(99), 1234);
	cr_assert_eq(svc_natpool_restore(p, s[5].proto, &thief, &s[5].out), -EEXIST);
	/* The same inside endpoint with a second outside endpoint (breaks EIM). */
	struct svc_nat_ep other = s[5].out;
	other.port = (uint16_t)(other.port == 65535 ? 1024 : other.port + 1);
	cr_assert_eq(svc_natpool_restore(p, s[5].proto, &s[5].in, &other), -EEXIST);
	/* Outside endpoints the pool does not own. */
	struct svc_nat_ep foreign = v4(POOL_BASE + 100, 3000), low = v4(POOL_BASE + 1, 80);
	cr_assert_eq(svc_natpool_restore(p, IPPROTO_TCP, &thief, &foreign), -EINVAL);
	cr_assert_eq(svc_natpool_restore(p, IPPROTO_TCP, &thief, &low), -EINVAL);
	svc_natpool_stats(p, &st);
	cr_assert_eq(st.mappings, 120);

	/* New mappings never land on a restored outside endpoint. */
	for (unsigned i = 0; i < 200; i++) {
		struct svc_nat_ep in = v4(INSIDE(i % 17 + 1), (uint16_t)(20000 + i % 120)), o, back;
		in.addr[14] = 1; /* 10.0.1.x: hosts the restored table does not know */
		cr_assert_eq(svc_natpool_map(p, protos[i % 3], &in, &o), 0);
		cr_assert_eq(svc_natpool_lookup_outside(p, protos[i % 3], &o, &back), 0);
		cr_assert(ep_eq(&back, &in), "new mapping %u took a restored endpoint", i);
	}
	svc_natpool_free(p);
}

Test(natpool, tcp_udp_icmp_have_separate_port_spaces)
{
	/* One address, one port: one mapping per protocol. */
	struct svc_natpool *p = pool_v4(POOL_BASE + 1, 1, 3000, 3000);
	struct svc_nat_ep t = v4(INSIDE(1), 3000), u = v4(INSIDE(2), 4000), i = v4(INSIDE(3), 0);
	struct svc_nat_ep ot, ou, oi, back;

	cr_assert_eq(svc_natpool_map(p, IPPROTO_TCP, &t, &ot), 0);
	cr_assert_eq(svc_natpool_map(p, IPPROTO_UDP, &u, &ou), 0);
	cr_assert_eq(svc_natpool_map(p, IPPROTO_ICMP, &i, &oi), 0); /* identifier 0 is valid */
	cr_assert(ep_eq(&ot, &ou) && ep_eq(&ou, &oi));
	cr_assert_eq(svc_natpool_lookup_outside(p, IPPROTO_TCP, &ot, &back), 0);
	cr_assert(ep_eq(&back, &t));
	cr_assert_eq(svc_natpool_lookup_outside(p, IPPROTO_UDP, &ot, &back), 0);
	cr_assert(ep_eq(&back, &u));
	cr_assert_eq(svc_natpool_lookup_outside(p, IPPROTO_ICMP, &ot, &back), 0);
	cr_assert(ep_eq(&back, &i));

	struct svc_nat_ep t2 = v4(INSIDE(4), 3000), o;
	cr_assert_eq(svc_natpool_map(p, IPPROTO_TCP, &t2, &o), -ENOSPC);
	uint32_t used[SVC_NATPOOL_NPROTO];
	cr_assert_eq(svc_natpool_addr_usage(p, 0, NULL, used), 0);
	cr_assert(used[0] == 1 && used[1] == 1 && used[2] == 1);
	svc_natpool_free(p);
}

Test(natpool, ipv6_ranges)
{
	struct svc_natpool *p;
	struct svc_nat_ep a = v6("2001:db8::10", 0), b = v6("2001:db8::1f", 0);
	/* Crosses a byte boundary: index to address must carry. */
	struct svc_nat_ep c = v6("2001:db8::1:fffe", 0), d = v6("2001:db8::2:1", 0);

	cr_assert_eq(svc_natpool_new(1024, 65535, &p), 0);
	cr_assert_eq(svc_natpool_add_range(p, a.addr, b.addr), 0);
	cr_assert_eq(svc_natpool_add_range(p, c.addr, d.addr), 0);

	struct svc_natpool_stats st;
	svc_natpool_stats(p, &st);
	cr_assert_eq(st.addresses, 20);
	struct svc_nat_ep x = v6("2001:db8::2:0", 0), y = v6("2001:db8::20", 0);
	cr_assert(svc_natpool_contains(p, x.addr));
	cr_assert(!svc_natpool_contains(p, y.addr));
	uint8_t addr[16];
	cr_assert_eq(svc_natpool_addr_usage(p, 18, addr, NULL), 0);
	cr_assert_eq(memcmp(addr, x.addr, 16), 0);
	cr_assert_eq(svc_natpool_addr_usage(p, 19, addr, NULL), 0);
	cr_assert_eq(memcmp(addr, d.addr, 16), 0);

	struct svc_nat_ep in = v6("fd00::1", 5353), out, back;
	cr_assert_eq(svc_natpool_map(p, IPPROTO_UDP, &in, &out), 0);
	cr_assert(svc_natpool_contains(p, out.addr));
	cr_assert_eq(out.port, 5353);
	cr_assert_eq(svc_natpool_lookup_outside(p, IPPROTO_UDP, &out, &back), 0);
	cr_assert(ep_eq(&back, &in));
	cr_assert_eq(svc_natpool_map(p, IPPROTO_ICMPV6, &in, &out), 0);
	cr_assert_eq(svc_natpool_map(p, IPPROTO_ICMP, &in, &out), -EINVAL);
	struct svc_nat_ep in4 = v4(INSIDE(1), 5353);
	cr_assert_eq(svc_natpool_map(p, IPPROTO_UDP, &in4, &out), -EINVAL);
	/* An IPv4 range cannot join an IPv6 pool. */
	struct svc_nat_ep p4 = v4(POOL_BASE, 0);
	cr_assert_eq(svc_natpool_add_range(p, p4.addr, p4.addr), -EINVAL);
	svc_natpool_free(p);
}

Test(natpool, bad_input)
{
	struct svc_natpool *p;

	cr_assert_eq(svc_natpool_new(0, 100, &p), -EINVAL);
	cr_assert_eq(svc_natpool_new(2000, 1999, &p), -EINVAL);
	cr_assert_eq(svc_natpool_new(1024, 65535, &p), 0);

	struct svc_nat_ep in = v4(INSIDE(1), 1234), out;
	/* Nothing to allocate from yet. */
	cr_assert_eq(svc_natpool_map(p, IPPROTO_TCP, &in, &out), -ENOSPC);

	struct svc_nat_ep a = v4(POOL_BASE + 10, 0), b = v4(POOL_BASE + 20, 0);
	struct svc_nat_ep v6a = v6("2001:db8::1", 0);
	cr_assert_eq(svc_natpool_add_range(p, b.addr, a.addr), -EINVAL);
	cr_assert_eq(svc_natpool_add_range(p, a.addr, v6a.addr), -EINVAL);
	cr_assert_eq(svc_natpool_add_range(p, a.addr, b.addr), 0);
	/* Overlaps from below, from above, inside, around. */
	struct svc_nat_ep a5 = v4(POOL_BASE + 5, 0), a15 = v4(POOL_BASE + 15, 0);
	struct svc_nat_ep a25 = v4(POOL_BASE + 25, 0), a21 = v4(POOL_BASE + 21, 0);
	cr_assert_eq(svc_natpool_add_range(p, a5.addr, a.addr), -EEXIST);
	cr_assert_eq(svc_natpool_add_range(p, a15.addr, a25.addr), -EEXIST);
	cr_assert_eq(svc_natpool_add_range(p, a15.addr, a15.addr), -EEXIST);
	cr_assert_eq(svc_natpool_add_range(p, a5.addr, a25.addr), -EEXIST);
	cr_assert_eq(svc_natpool_add_range(p, a21.addr, a25.addr), 0);
	/* More than SVC_NATPOOL_MAX_ADDRS in all. */
	struct svc_nat_ep big0 = v4(0x0b000000, 0), big1 = v4(0x0b00ffff, 0);
	cr_assert_eq(svc_natpool_add_range(p, big0.addr, big1.addr), -E2BIG);

	cr_assert_eq(svc_natpool_map(p, 47 /* GRE */, &in, &out), -EINVAL);
	cr_assert_eq(svc_natpool_map(p, IPPROTO_ICMPV6, &in, &out), -EINVAL);
	struct svc_nat_ep zero = v4(INSIDE(1), 0);
	cr_assert_eq(svc_natpool_map(p, IPPROTO_TCP, &zero, &out), -EINVAL);
	cr_assert_eq(svc_natpool_map(p, IPPROTO_UDP, &zero, &out), -EINVAL);
	struct svc_nat_ep in6 = v6("fd00::1", 1234);
	cr_assert_eq(svc_natpool_map(p, IPPROTO_TCP, &in6, &out), -EINVAL);
	cr_assert_eq(svc_natpool_release(p, IPPROTO_TCP, &in), -ENOENT);
	cr_assert_eq(svc_natpool_release(p, 47, &in), -EINVAL);

	struct svc_natpool_stats st;
	svc_natpool_stats(p, &st);
	cr_assert_eq(st.addresses, 16);
	cr_assert_eq(st.mappings, 0);
	cr_assert_eq(st.alloc_fail, 1);
	svc_natpool_free(p);
	svc_natpool_free(NULL);
}

/*
 * Random map/release against a model that holds, per inside endpoint, its
 * refcount and outside endpoint, and per outside slot its owner.
 */
#define R_ADDRS 3
#define R_PORT_LO 5000
#define R_PORTS 64
#define R_HOSTS 8
#define R_IN_PORTS 40
#define R_NPROTO 2
#define R_EPS (R_HOSTS * R_IN_PORTS * R_NPROTO)

struct model_ep {
	uint32_t refs;
	unsigned addr, port; /* outside, as index and offset */
};

static uint64_t rng_state;

static uint32_t rnd(uint32_t n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state % n);
}

static void ep_of(unsigned e, uint8_t *proto, struct svc_nat_ep *in)
{
	*proto = e % R_NPROTO ? IPPROTO_UDP : IPPROTO_TCP;
	*in = v4(INSIDE(e / R_NPROTO / R_IN_PORTS + 1),
		 (uint16_t)(R_PORT_LO + 20 + e / R_NPROTO % R_IN_PORTS));
}

static void check_model(const struct svc_natpool *p, const struct model_ep *m,
			int owner[R_NPROTO][R_ADDRS][R_PORTS], const unsigned count[R_NPROTO])
{
	for (unsigned e = 0; e < R_EPS; e++) {
		uint8_t proto;
		struct svc_nat_ep in, o;
		uint32_t refs;

		ep_of(e, &proto, &in);
		int rc = svc_natpool_lookup_inside(p, proto, &in, &o, &refs);
		if (!m[e].refs) {
			cr_assert_eq(rc, -ENOENT, "endpoint %u should be unmapped", e);
			continue;
		}
		cr_assert_eq(rc, 0);
		cr_assert_eq(refs, m[e].refs);
		cr_assert_eq(o.port, R_PORT_LO + m[e].port);
		cr_assert_eq(o.addr[15], m[e].addr + 1);
	}
	for (unsigned pr = 0; pr < R_NPROTO; pr++) {
		uint8_t proto = pr ? IPPROTO_UDP : IPPROTO_TCP;
		for (unsigned a = 0; a < R_ADDRS; a++) {
			uint32_t used[SVC_NATPOOL_NPROTO], n = 0;
			for (unsigned port = 0; port < R_PORTS; port++) {
				struct svc_nat_ep o = v4(POOL_BASE + 1 + a, (uint16_t)(R_PORT_LO + port));
				struct svc_nat_ep back, want;
				uint8_t wp;
				int rc = svc_natpool_lookup_outside(p, proto, &o, &back);
				if (owner[pr][a][port] < 0) {
					cr_assert_eq(rc, -ENOENT);
					continue;
				}
				n++;
				cr_assert_eq(rc, 0);
				ep_of((unsigned)owner[pr][a][port], &wp, &want);
				cr_assert(ep_eq(&back, &want));
			}
			cr_assert_eq(svc_natpool_addr_usage(p, a, NULL, used), 0);
			cr_assert_eq(used[pr ? SVC_NATPOOL_UDP : SVC_NATPOOL_TCP], n);
		}
	}
	struct svc_natpool_stats st;
	svc_natpool_stats(p, &st);
	cr_assert_eq(st.mappings, count[0] + count[1]);
}

Test(natpool, random_against_model)
{
	static struct model_ep m[R_EPS];
	static int owner[R_NPROTO][R_ADDRS][R_PORTS];
	unsigned count[R_NPROTO] = { 0 }, nospc = 0, preserved = 0;
	struct svc_natpool *p = pool_v4(POOL_BASE + 1, R_ADDRS, R_PORT_LO, R_PORT_LO + R_PORTS - 1);

	rng_state = 0x9e3779b97f4a7c15ull;
	memset(m, 0, sizeof(m));
	memset(owner, 0xff, sizeof(owner));
	for (unsigned op = 0; op < 100000; op++) {
		unsigned e = rnd(R_EPS), pr = e % R_NPROTO;
		uint8_t proto;
		struct svc_nat_ep in, o;

		ep_of(e, &proto, &in);
		/* Phases that fill the pool to exhaustion and drain it again. */
		if (rnd(100) < ((op / 5000) % 2 ? 35u : 65u)) {
			int rc = svc_natpool_map(p, proto, &in, &o);
			if (m[e].refs) {
				cr_assert_eq(rc, 0, "op %u", op);
				cr_assert_eq(o.port, R_PORT_LO + m[e].port);
				cr_assert_eq(o.addr[15], m[e].addr + 1);
				m[e].refs++;
				continue;
			}
			if (count[pr] == R_ADDRS * R_PORTS) {
				cr_assert_eq(rc, -ENOSPC, "op %u: a full pool allocated", op);
				nospc++;
				continue;
			}
			cr_assert_eq(rc, 0, "op %u: -ENOSPC with %u of %u in use", op, count[pr],
				     R_ADDRS * R_PORTS);
			cr_assert(svc_natpool_contains(p, o.addr));
			unsigned a = o.addr[15] - 1u, port = o.port - (unsigned)R_PORT_LO;
			cr_assert(a < R_ADDRS && port < R_PORTS);
			cr_assert_eq(owner[pr][a][port], -1, "op %u: outside %u.%u given twice", op,
				     a, o.port);
			owner[pr][a][port] = (int)e;
			m[e] = (struct model_ep){ .refs = 1, .addr = a, .port = port };
			preserved += o.port == in.port;
			count[pr]++;
		} else {
			int rc = svc_natpool_release(p, proto, &in);
			if (!m[e].refs) {
				cr_assert_eq(rc, -ENOENT);
				continue;
			}
			cr_assert_eq(rc, 0);
			if (--m[e].refs == 0) {
				owner[pr][m[e].addr][m[e].port] = -1;
				count[pr]--;
			}
		}
		if (op % 2000 == 0)
			check_model(p, m, owner, count);
	}
	check_model(p, m, owner, count);
	/* The run reached exhaustion and preserved ports: both paths ran. */
	cr_assert_gt(nospc, 0);
	cr_assert_gt(preserved, 0);
	struct svc_natpool_stats st;
	svc_natpool_stats(p, &st);
	cr_assert_eq(st.alloc_fail, nospc);
	svc_natpool_free(p);
}
