// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * rt_ lookups per second on one core: IPv4 with 1K and 1M prefixes (lengths
 * drawn like a BGP table: mostly /24, then /22../16, a few /8../15 and /25+)
 * and IPv6 with 100K prefixes (/32../64). Each figure is a full rt_lookup()
 * (local table, main table, link, neighbour) and the bare trie walk; also the
 * build time and memory of the route part, which is what every route change
 * costs at that size. Destinations are random, half of them inside a known
 * prefix. Never asserts a timing.
 *
 * Usage: bench_rt [seconds per figure (default 1)]
 */
#define _LGPL_SOURCE
#include <arpa/inet.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <urcu-qsbr.h>

#include "common/key.h"
#include "common/rt.h"
#include "rt-internal.h"

static double seconds = 1.0;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t rnd(uint64_t *s)
{
	uint64_t x = *s += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static unsigned v4_len(uint64_t r)
{
	unsigned p = (unsigned)(r % 1000);

	if (p < 600)
		return 24;
	if (p < 900)
		return 16 + (unsigned)(r >> 20) % 8;
	if (p < 980)
		return 8 + (unsigned)(r >> 20) % 8;
	return 25 + (unsigned)(r >> 20) % 8;
}

static void run(const char *name, bool v6, unsigned nroutes)
{
	struct rt_table *rt;
	struct rt_path paths[4];
	uint64_t s = nroutes;
	enum { NQ = 1 << 20 };
	uint8_t (*q)[16] = malloc((size_t)NQ * 16);
	uint8_t (*pf)[16] = malloc((size_t)nroutes * 16);

	if (!q || !pf || rt_open_offline(&rt, NULL) < 0) {
		fprintf(stderr, "bench_rt: out of memory\n");
		exit(1);
	}
	struct rt_mlink l = { .ifindex = 2, .flags = IFF_UP | IFF_RUNNING, .mtu = 1500, .l2len = 6 };

	rt_model_link_set(rt, &l);
	memset(paths, 0, sizeof(paths));
	for (int i = 0; i < 4; i++) {
		paths[i].ifindex = 2;
		paths[i].has_gw = 1;
		paths[i].weight = 1;
		key_addr_from_v4(paths[i].gw, htonl(0x0a000001 + (uint32_t)i));
	}
	for (unsigned i = 0; i < nroutes; i++) {
		struct rt_rkey k = { .tid = v6 ? RT_T6_MAIN : RT_T4_MAIN };
		struct rt_route r = { .type = RTN_UNICAST, .npaths = 1, .paths = &paths[i % 4] };
		uint64_t a = rnd(&s), b = rnd(&s);

		if (v6) {
			a = (a & 0x00000fffffffffffULL) | 0x2000000000000000ULL;
			memcpy(k.dst, &a, 8);
			memcpy(k.dst + 8, &b, 8);
			k.len = (uint8_t)(32 + b % 33);
		} else {
			key_addr_from_v4(k.dst, (uint32_t)a);
			k.len = (uint8_t)v4_len(b);
		}
		memcpy(pf[i], k.dst, 16);
		rt_model_route_add(rt, &k, &r);
	}
	uint64_t t0 = now_ns();

	if (rt_publish(rt) < 0) {
		fprintf(stderr, "bench_rt: build failed\n");
		exit(1);
	}
	uint64_t build = now_ns() - t0;
	struct rt_stats st;

	rt_stats_get(rt, &st);
	for (unsigned i = 0; i < NQ; i++) {
		uint64_t a = rnd(&s), b = rnd(&s);

		if (i % 2) {
			memcpy(q[i], pf[a % nroutes], 16);
			q[i][15] ^= (uint8_t)b;
		} else if (v6) {
			a = (a & 0x00000fffffffffffULL) | 0x2000000000000000ULL;
			memcpy(q[i], &a, 8);
			memcpy(q[i] + 8, &b, 8);
		} else {
			key_addr_from_v4(q[i], (uint32_t)a);
		}
	}
	/* Full lookups. */
	uint64_t n = 0, sink = 0, end = now_ns() + (uint64_t)(seconds * 1e9);

	t0 = now_ns();
	while (now_ns() < end)
		for (unsigned i = 0; i < 65536; i++, n++) {
			struct rt_hop h;

			rt_lookup(rt, q[(n * 7) & (NQ - 1)], &h);
			sink += h.verdict;
		}
	double full = (double)n / ((double)(now_ns() - t0) / 1e9);
	/* The bare trie walk. */
	const struct rt_lpm *t = &rt->view->fib->t[v6 ? RT_T6_MAIN : RT_T4_MAIN];

	n = 0;
	end = now_ns() + (uint64_t)(seconds * 1e9);
	t0 = now_ns();
	while (now_ns() < end)
		for (unsigned i = 0; i < 65536; i++, n++)
			sink += lpm_lookup(t, q[(n * 7) & (NQ - 1)]);
	double bare = (double)n / ((double)(now_ns() - t0) / 1e9);

	printf("%-18s %8u prefixes: rt_lookup %6.1f M/s, trie walk %6.1f M/s; "
	       "build %7.1f ms, route memory %7.1f MiB (sink %llu)\n",
	       name, nroutes, full / 1e6, bare / 1e6, (double)build / 1e6,
	       (double)st.fib_bytes / (1 << 20), (unsigned long long)(sink & 1));
	rt_close(rt);
	free(q);
	free(pf);
}

int main(int argc, char **argv)
{
	if (argc > 1)
		seconds = atof(argv[1]);
	rcu_register_thread();
	run("ipv4 bgp-like", false, 1000);
	run("ipv4 bgp-like", false, 1000000);
	run("ipv6 /32../64", true, 100000);
	rcu_unregister_thread();
	return 0;
}
