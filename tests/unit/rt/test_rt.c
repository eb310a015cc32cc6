// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The mirror against a real kernel. Each test makes two fresh, uniquely
 * named network namespaces: "a", where the test process moves (setns) and
 * runs rt_, and "b", the peer at the end of a veth pair (10.1.0.2,
 * 2001:db8:1::2) that answers ARP and neighbour solicitations. Criterion
 * runs every test in its own process, so setns() affects that test only; the
 * fini removes both namespaces whether the test passed or not. Every wait is
 * bounded (WAIT_MS).
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/neighbour.h>
#include <poll.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <urcu-qsbr.h>

#include "common/key.h"
#include "common/rt.h"
#include "rt-internal.h"

#define WAIT_MS 3000

static char ns_a[64], ns_b[64];
static struct rt_table *rt;
static uint32_t v0;

static int sh(const char *fmt, ...) LOOM_PRINTF(1, 2);
static int sh(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	int st = system(cmd);

	return st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void ns_up(void)
{
	static int seq;
	char path[128];

	snprintf(ns_a, sizeof(ns_a), "loom-rt-%d-%d-a", getpid(), seq);
	snprintf(ns_b, sizeof(ns_b), "loom-rt-%d-%d-b", getpid(), seq++);
	cr_assert_eq(sh("ip netns add %s && ip netns add %s", ns_a, ns_b), 0);
	snprintf(path, sizeof(path), "/run/netns/%s", ns_a);
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	cr_assert_geq(fd, 0);
	cr_assert_eq(setns(fd, CLONE_NEWNET), 0, "setns: %s", strerror(errno));
	close(fd);
	/* Everything below runs inside ns_a (system() children inherit it). */
	cr_assert_eq(sh("ip link set lo up && "
			"ip link add v0 type veth peer name v1 netns %s && "
			"ip addr add 10.1.0.1/24 dev v0 && "
			"ip -6 addr add 2001:db8:1::1/64 dev v0 nodad && "
			"ip link set v0 up && "
			"ip netns exec %s sh -c 'ip link set lo up && "
			"ip addr add 10.1.0.2/24 dev v1 && "
			"ip -6 addr add 2001:db8:1::2/64 dev v1 nodad && ip link set v1 up'",
			ns_b, ns_b), 0);
	v0 = if_nametoindex("v0");
	cr_assert_neq(v0, 0);
	rcu_register_thread();
}

static void ns_down(void)
{
	if (rt) {
		rt_close(rt);
		rt = NULL;
	}
	rcu_unregister_thread();
	sh("ip netns del %s 2>/dev/null; ip netns del %s 2>/dev/null", ns_a, ns_b);
}

TestSuite(rt, .init = ns_up, .fini = ns_down, .timeout = 60);

static void open_rt(const struct rt_cfg *cfg)
{
	int r = rt_open(&rt, cfg);

	cr_assert_eq(r, 0, "rt_open: %s", strerror(-r));
}

static void addr(uint8_t a[16], const char *s)
{
	struct in_addr in;

	if (inet_pton(AF_INET, s, &in) == 1) {
		key_addr_from_v4(a, in.s_addr);
		return;
	}
	cr_assert_eq(inet_pton(AF_INET6, s, a), 1, "%s", s);
}

static struct rt_hop look(const char *dst)
{
	uint8_t a[16];
	struct rt_hop h;

	addr(a, dst);
	rt_lookup(rt, a, &h);
	return h;
}

static void assert_nexthop(const struct rt_hop *h, const char *want)
{
	uint8_t a[16];

	addr(a, want);
	cr_assert_arr_eq(h->nexthop, a, 16, "next hop is not %s", want);
}

/* Run the control loop until pred holds or WAIT_MS passes. */
static bool wait_for(bool (*pred)(void *), void *arg)
{
	uint64_t end = rt_now_ms() + WAIT_MS;

	do {
		struct pollfd p = { .fd = rt_fd(rt), .events = POLLIN };

		poll(&p, 1, 10);
		cr_assert_geq(rt_process(rt), 0);
		rcu_quiescent_state();
		if (pred(arg))
			return true;
	} while (rt_now_ms() < end);
	return false;
}

struct want {
	const char *dst;
	enum rt_verdict verdict;
	int plen; /* -1: any */
};

static bool hop_is(void *arg)
{
	const struct want *w = arg;
	struct rt_hop h = look(w->dst);

	return h.verdict == w->verdict && (w->plen < 0 || h.prefix_len == w->plen);
}

static void peer_mac(uint8_t mac[6])
{
	char cmd[160], line[64];

	snprintf(cmd, sizeof(cmd), "ip netns exec %s cat /sys/class/net/v1/address", ns_b);
	FILE *f = popen(cmd, "r");

	cr_assert(f);
	cr_assert(fgets(line, sizeof(line), f));
	pclose(f);
	cr_assert_eq(sscanf(line, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &mac[0], &mac[1], &mac[2],
			    &mac[3], &mac[4], &mac[5]), 6);
}

Test(rt, connected_static_longest_prefix_and_default_routes)
{
	cr_assert_eq(sh("ip route add 10.0.0.0/8 via 10.1.0.2 && "
			"ip route add 10.2.3.0/24 via 10.1.0.3 && "
			"ip route add 10.2.3.4/32 via 10.1.0.4 && "
			"ip route add default via 10.1.0.254"), 0);
	open_rt(NULL);

	struct rt_hop h = look("10.1.0.2");

	cr_assert_eq(h.verdict, RT_NO_NEIGH, "%s", rt_verdict_name(h.verdict));
	cr_assert_eq(h.ifindex, v0);
	cr_assert_eq(h.prefix_len, 24, "the connected route");
	cr_assert_eq(h.mtu, 1500);
	assert_nexthop(&h, "10.1.0.2");

	struct rt_link l;

	cr_assert_eq(rt_link_get(rt, v0, &l), 0);
	cr_assert_str_eq(l.name, "v0");
	cr_assert(l.up && l.has_mac);
	cr_assert_arr_eq(h.if_mac, l.mac, 6);

	h = look("10.9.9.9");
	cr_assert_eq(h.prefix_len, 8);
	assert_nexthop(&h, "10.1.0.2");
	h = look("10.2.3.9");
	cr_assert_eq(h.prefix_len, 24);
	assert_nexthop(&h, "10.1.0.3");
	h = look("10.2.3.4");
	cr_assert_eq(h.prefix_len, 32);
	assert_nexthop(&h, "10.1.0.4");
	h = look("192.0.2.77");
	cr_assert_eq(h.prefix_len, 0);
	assert_nexthop(&h, "10.1.0.254");
	cr_assert_eq(h.ifindex, v0);
}

Test(rt, local_addresses_are_local_and_listed_on_their_interface)
{
	open_rt(NULL);
	cr_assert_eq(look("10.1.0.1").verdict, RT_LOCAL);
	cr_assert_eq(look("127.0.0.1").verdict, RT_LOCAL);
	cr_assert_eq(look("10.1.0.255").verdict, RT_LOCAL, "broadcast stays with the kernel");
	cr_assert_eq(look("2001:db8:1::1").verdict, RT_LOCAL);
	cr_assert_eq(look("::1").verdict, RT_LOCAL);

	struct rt_addr as[8];
	int n = rt_link_addrs(rt, v0, as, 8);
	uint8_t a4[16], a6[16];
	bool has4 = false, has6 = false;

	addr(a4, "10.1.0.1");
	addr(a6, "2001:db8:1::1");
	for (int i = 0; i < n && i < 8; i++) {
		has4 |= memcmp(as[i].addr, a4, 16) == 0 && as[i].prefix_len == 24;
		has6 |= memcmp(as[i].addr, a6, 16) == 0 && as[i].prefix_len == 64;
	}
	cr_assert(has4 && has6, "%d addresses on v0", n);
	cr_assert_eq(rt_addr_find(rt, a4, NULL), 0);
	addr(a4, "10.1.0.2");
	cr_assert_eq(rt_addr_find(rt, a4, NULL), -ENOENT);
}

Test(rt, ipv6_routes)
{
	cr_assert_eq(sh("ip -6 route add 2001:db8:100::/48 via 2001:db8:1::2 && "
			"ip -6 route add 2001:db8:100:5::/64 via 2001:db8:1::3 && "
			"ip -6 route add default via 2001:db8:1::fe"), 0);
	open_rt(NULL);

	struct rt_hop h = look("2001:db8:1::2");

	cr_assert_eq(h.verdict, RT_NO_NEIGH);
	cr_assert_eq(h.prefix_len, 64);
	assert_nexthop(&h, "2001:db8:1::2");
	h = look("2001:db8:100:7::1");
	cr_assert_eq(h.prefix_len, 48);
	assert_nexthop(&h, "2001:db8:1::2");
	h = look("2001:db8:100:5::1");
	cr_assert_eq(h.prefix_len, 64);
	assert_nexthop(&h, "2001:db8:1::3");
	h = look("2001:db8:ffff::1");
	cr_assert_eq(h.prefix_len, 0);
	assert_nexthop(&h, "2001:db8:1::fe");
	cr_assert_eq(h.ifindex, v0);
}

Test(rt, blackhole_unreachable_prohibit_and_no_route_drop_with_the_right_icmp)
{
	cr_assert_eq(sh("ip route add blackhole 198.51.100.0/24 && "
			"ip route add unreachable 203.0.113.0/24 && "
			"ip route add prohibit 192.0.2.0/25 && "
			"ip -6 route add unreachable 2001:db8:dead::/48 && "
			"ip -6 route add prohibit 2001:db8:beef::/48"), 0);
	open_rt(NULL);
	static const struct {
		const char *dst;
		enum rt_reason reason;
		bool icmp;
		uint8_t type, code;
	} rows[] = {
		{ "198.51.100.1", RT_R_BLACKHOLE, false, 0, 0 },
		{ "203.0.113.1", RT_R_UNREACHABLE, true, 3, 1 },  /* host unreachable */
		{ "192.0.2.1", RT_R_PROHIBIT, true, 3, 13 },      /* administratively prohibited */
		{ "192.0.2.200", RT_R_NO_ROUTE, true, 3, 0 },     /* net unreachable */
		{ "2001:db8:dead::1", RT_R_UNREACHABLE, true, 1, 0 },
		{ "2001:db8:beef::1", RT_R_PROHIBIT, true, 1, 1 },
		{ "2001:db8:9::1", RT_R_NO_ROUTE, true, 1, 0 },
	};
	for (size_t i = 0; i < LOOM_ARRAY_SIZE(rows); i++) {
		struct rt_hop h = look(rows[i].dst);

		cr_assert_eq(h.verdict, RT_DROP, "%s", rows[i].dst);
		cr_assert_eq(h.reason, rows[i].reason, "%s: %s", rows[i].dst,
			     rt_reason_name(h.reason));
		cr_assert_eq(h.icmp, rows[i].icmp, "%s", rows[i].dst);
		cr_assert_eq(h.icmp_type, rows[i].type, "%s", rows[i].dst);
		cr_assert_eq(h.icmp_code, rows[i].code, "%s", rows[i].dst);
	}
}

Test(rt, routes_added_and_deleted_later_are_followed)
{
	open_rt(NULL);
	struct want add = { "172.16.5.5", RT_NO_NEIGH, 16 }, del = { "172.16.5.5", RT_DROP, -1 };
	struct want add6 = { "2001:db8:77::1", RT_NO_NEIGH, 48 };

	cr_assert(hop_is(&del));
	cr_assert_eq(sh("ip route add 172.16.0.0/16 via 10.1.0.2 && "
			"ip -6 route add 2001:db8:77::/48 via 2001:db8:1::2"), 0);
	cr_assert(wait_for(hop_is, &add), "route add not seen within %d ms", WAIT_MS);
	cr_assert(wait_for(hop_is, &add6), "IPv6 route add not seen within %d ms", WAIT_MS);
	cr_assert_eq(sh("ip route del 172.16.0.0/16"), 0);
	cr_assert(wait_for(hop_is, &del), "route delete not seen within %d ms", WAIT_MS);
}

static bool neigh_known(void *arg)
{
	struct rt_hop h = look(arg);

	return h.verdict == RT_FORWARD && h.neigh_known;
}

static void assert_reachable(const char *dst)
{
	uint8_t mac[6], a[16], nmac[6];
	uint16_t state;
	bool has;
	struct rt_hop h = look(dst);

	peer_mac(mac);
	cr_assert_arr_eq(h.neigh_mac, mac, 6, "the peer's MAC");
	addr(a, dst);
	cr_assert_eq(rt_neigh_get(rt, v0, a, &state, nmac, &has), 0);
	cr_assert(has);
	cr_assert(state & (NUD_REACHABLE | NUD_STALE | NUD_DELAY | NUD_PROBE), "state %#x", state);
}

Test(rt, neighbour_learned_from_traffic)
{
	open_rt(NULL);
	cr_assert_eq(look("10.1.0.2").verdict, RT_NO_NEIGH);
	/* A datagram from the host makes the kernel resolve the peer (no ping
	 * binary in the lab image: UDP does the same to the neighbour table). */
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(9) };

	inet_pton(AF_INET, "10.1.0.2", &to.sin_addr);
	cr_assert_eq(sendto(s, "x", 1, 0, (struct sockaddr *)&to, sizeof(to)), 1);
	close(s);
	cr_assert(wait_for(neigh_known, (void *)(uintptr_t)"10.1.0.2"), "neighbour not learned");
	assert_reachable("10.1.0.2");

	uint16_t state;
	uint8_t a[16];

	addr(a, "10.1.0.2");
	cr_assert_eq(rt_neigh_get(rt, v0, a, &state, NULL, NULL), 0);
	cr_assert_eq(state, NUD_REACHABLE, "an ARP reply confirms: REACHABLE");
}

static void resolve_and_check(const char *dst)
{
	uint8_t a[16];
	char cmd[128];

	addr(a, dst);
	/* start from an unknown neighbour even if traffic of the set-up taught
	 * the kernel one already (seen under ASan's slower start) */
	cr_assert_eq(sh("ip neigh flush dev v0"), 0);
	struct want unknown = { dst, RT_NO_NEIGH, -1 };
	cr_assert(wait_for(hop_is, &unknown), "%s still known after a flush", dst);
	cr_assert_eq(rt_resolve(rt, v0, a), 0);
	cr_assert_eq(rt_resolve(rt, v0, a), -EALREADY, "rate limited per address");
	cr_assert(wait_for(neigh_known, (void *)(uintptr_t)dst), "%s not resolved", dst);
	assert_reachable(dst);
	/* The kernel itself holds the entry, with the peer's address: it sent
	 * the ARP request / solicitation and got the answer. */
	snprintf(cmd, sizeof(cmd), "ip neigh show %s dev v0 | grep -q lladdr", dst);
	cr_assert_eq(sh("%s", cmd), 0);

	struct rt_stats st;

	rt_stats_get(rt, &st);
	cr_assert_geq(st.ctr[RT_CTR_RESOLVE_SENT], 1);
	cr_assert_eq(st.ctr[RT_CTR_RESOLVE_ERR], 0);
}

Test(rt, resolve_makes_the_kernel_resolve_ipv4)
{
	open_rt(NULL);
	resolve_and_check("10.1.0.2");
}

Test(rt, resolve_makes_the_kernel_resolve_ipv6)
{
	open_rt(NULL);
	resolve_and_check("2001:db8:1::2");
}

Test(rt, routes_over_a_down_link_are_unusable)
{
	cr_assert_eq(sh("ip route add 10.0.0.0/8 via 10.1.0.2 && "
			"ip -6 route add 2001:db8:100::/48 via 2001:db8:1::2"), 0);
	open_rt(NULL);
	cr_assert_eq(look("10.9.9.9").verdict, RT_NO_NEIGH);

	/* Carrier loss (peer down): routes stay in the kernel, unusable here. */
	cr_assert_eq(sh("ip netns exec %s ip link set v1 down", ns_b), 0);
	struct want c4 = { "10.9.9.9", RT_DROP, -1 }, c6 = { "2001:db8:100::1", RT_DROP, -1 };

	cr_assert(wait_for(hop_is, &c4));
	cr_assert(wait_for(hop_is, &c6));
	cr_assert_eq(look("10.9.9.9").reason, RT_R_LINK_DOWN);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	cr_assert_eq(sh("ip netns exec %s ip link set v1 up", ns_b), 0);
	struct want up = { "10.9.9.9", RT_NO_NEIGH, 8 };

	cr_assert(wait_for(hop_is, &up), "carrier back: usable again");
	clock_gettime(CLOCK_MONOTONIC, &t1);
	/* at once, by the carrier: not when linkwatch gets round to operstate
	 * (up to a second later, while the kernel already forwards) */
	double took = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	cr_assert_lt(took, 0.5, "usable %.2f s after the carrier came back", took);

	/* Administratively down: IPv4 flushes the routes (silently). */
	cr_assert_eq(sh("ip link set v0 down"), 0);
	cr_assert(wait_for(hop_is, &c4));
	cr_assert(wait_for(hop_is, &c6));
	struct rt_link l;

	cr_assert_eq(rt_link_get(rt, v0, &l), 0);
	cr_assert(!l.up);
	cr_assert_eq(sh("ip route show 10.0.0.0/8 | grep -q via"), 1,
		     "the kernel flushed it too");
}

static bool routes_at_least(void *arg)
{
	struct rt_stats st;

	rt_stats_get(rt, &st);
	return st.routes4 >= *(uint32_t *)arg;
}

Test(rt, overrun_resynchronises_with_a_fresh_dump)
{
	struct rt_cfg cfg = { .rcvbuf = 1 }; /* the kernel's minimum */
	char path[] = "/tmp/loom-rt-batch-XXXXXX";
	int fd = mkstemp(path);
	FILE *f = fdopen(fd, "w");

	cr_assert(f);
	for (int i = 0; i < 3000; i++)
		fprintf(f, "route add 100.%d.%d.0/24 via 10.1.0.2\n", i / 256, i % 256);
	fclose(f);
	open_rt(&cfg);

	struct rt_stats st;

	rt_stats_get(rt, &st);
	uint32_t want = st.routes4 + 3000;
	int r = sh("ip -batch %s", path);

	unlink(path);
	cr_assert_eq(r, 0);
	cr_assert(wait_for(routes_at_least, &want));
	rt_stats_get(rt, &st);
	cr_assert_geq(st.ctr[RT_CTR_RESYNCS], 1, "3000 notifications overran a minimal buffer");
	struct rt_hop h = look("100.11.183.9"); /* route 2999 */

	cr_assert_eq(h.prefix_len, 24);
	assert_nexthop(&h, "10.1.0.2");
	/* And events after the resync are still followed. */
	cr_assert_eq(sh("ip route del 100.11.183.0/24"), 0);
	struct want gone = { "100.11.183.9", RT_DROP, -1 };

	bool ok = wait_for(hop_is, &gone);

	rt_stats_get(rt, &st);
	cr_assert(ok, "delete after resync not seen: resyncs %llu msgs %llu bad %llu routes %u",
		  (unsigned long long)st.ctr[RT_CTR_RESYNCS], (unsigned long long)st.ctr[RT_CTR_NL_MSGS],
		  (unsigned long long)st.ctr[RT_CTR_NL_BAD], st.routes4);
}
