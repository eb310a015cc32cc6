/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The route and neighbour mirror (rt_).
 *
 * loom-fwd-agent forwards packets that match no affinity the way a router
 * would, with the host's own routing and neighbour tables: the host's routing
 * (static routes, BIRD, FRR) decides, kernel forwarding stays off on the
 * agent's interfaces. rt_ keeps a copy of those tables through rtnetlink.
 *
 * Two planes.
 *   Control: one thread (the agent's control thread) owns the netlink
 *   sockets. rt_open() dumps links, addresses, IPv4 and IPv6 routes and
 *   neighbours, and subscribes to their changes; rt_fd() goes into the event
 *   loop and rt_process() applies what arrived. Changes are applied to a
 *   private mutable model; then a new immutable version of the affected part
 *   (routes, links, neighbours) is built and published with
 *   rcu_assign_pointer(), and the old one is freed after a grace period with
 *   call_rcu().
 *   Data: any number of worker threads call rt_lookup() and the other
 *   reader functions without locks. They never see a half-built version.
 *
 * The RCU contract (urcu-qsbr flavour):
 *   - every thread that calls a reader function (rt_lookup, rt_link_get,
 *     rt_link_addrs, rt_addr_find, rt_neigh_get) must be registered with
 *     urcu-qsbr (rcu_register_thread()) and online; nothing returned points
 *     into the table, results are copies, so a reader may announce a
 *     quiescent state (rcu_quiescent_state()) right after the call;
 *   - workers must announce quiescent states regularly (e.g. once per
 *     batch of packets) and go offline (rcu_thread_offline()) before they
 *     block, otherwise old versions are never freed;
 *   - the control thread that calls rt_open/rt_process/rt_close must be
 *     registered and online too (call_rcu() requires it), and must itself
 *     announce quiescent states or sleep offline.
 *
 * What is mirrored and how lookups decide is described in docs/rt.md: main
 * and local tables only (no policy rules), unicast, local/broadcast/anycast
 * (LOCAL), blackhole, unreachable, prohibit and throw (DROP), multipath
 * (picked by flow hash). Addresses are 16 bytes, IPv4 in the IPv4-mapped form
 * of common/key.h, network byte order.
 */
#ifndef LOOM_COMMON_RT_H
#define LOOM_COMMON_RT_H

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/compiler.h"

struct rt_table;

struct rt_cfg {
	/* Netlink messages applied per rt_process() call; 0: 512. */
	unsigned batch;
	/*
	 * While messages keep arriving, publish a new version at most this
	 * often (ms); a version is always published once the socket is
	 * drained. 0: 20 ms.
	 */
	unsigned publish_delay_ms;
	/* Resolution requests per (ifindex, address) at most once per this
	 * many ms; 0: 1000. */
	unsigned resolve_interval_ms;
	/* Capacity of the worker -> control resolution queue, rounded up to a
	 * power of two; 0: 1024. */
	unsigned resolve_queue;
	/* Receive buffer of the event socket in bytes; 0: 4 MiB. */
	unsigned rcvbuf;
	/*
	 * Called by rt_resolve() (from a worker thread) after it queued a
	 * request, so the control thread runs rt_process() soon: typically
	 * ev_notify(loop). Must be async-safe with respect to workers. May be
	 * NULL (then the requests wait for the next rt_process() call).
	 */
	void (*notify)(void *arg);
	void *notify_arg;
};

#define RT_VERDICT_LIST(X)                                                     \
	X(RT_FORWARD, "forward")   /* send to hop.if_mac -> hop.neigh_mac */   \
	X(RT_LOCAL, "local")       /* addressed to this host: leave it to the kernel */ \
	X(RT_NO_NEIGH, "no-neigh") /* next hop's MAC unknown: rt_resolve() */  \
	X(RT_DROP, "drop")         /* see hop.reason and hop.icmp_* */

enum rt_verdict { RT_VERDICT_LIST(LOOM_XENUM) RT_VERDICT_MAX };

#define RT_REASON_LIST(X)                                                      \
	X(RT_R_OK, "ok")                                                       \
	X(RT_R_NO_ROUTE, "no-route")       /* no route, or a throw route */   \
	X(RT_R_BLACKHOLE, "blackhole")     /* silently discarded */           \
	X(RT_R_UNREACHABLE, "unreachable") \
	X(RT_R_PROHIBIT, "prohibit")       \
	X(RT_R_LINK_DOWN, "link-down")     /* every path's interface is down or gone */ \
	X(RT_R_NEIGH, "neigh-unresolved")  /* with RT_NO_NEIGH */

enum rt_reason { RT_REASON_LIST(LOOM_XENUM) RT_REASON_MAX };

const char *rt_verdict_name(enum rt_verdict v);
const char *rt_reason_name(enum rt_reason r);

/* The result of a lookup: a copy, valid after the RCU section ends. */
struct rt_hop {
	enum rt_verdict verdict;
	enum rt_reason reason;
	uint32_t ifindex;      /* output interface (FORWARD, NO_NEIGH) */
	uint32_t mtu;          /* that interface's MTU */
	uint8_t nexthop[16];   /* gateway, or the destination on a connected route */
	uint8_t if_mac[6];     /* the interface's MAC (source MAC to use) */
	uint8_t neigh_mac[6];  /* the next hop's MAC, if neigh_known */
	bool neigh_known;
	bool l2;               /* the interface has an Ethernet address */
	uint8_t prefix_len;    /* of the matching route (IPv4: 0..32) */
	uint8_t npaths;        /* paths of the matching route (multipath > 1) */
	/*
	 * The ICMP error a router sends for this verdict (icmp true): for DROP
	 * per reason (none for blackhole); for NO_NEIGH the one to send if
	 * resolution fails (icmp stays false: nothing to send yet). ICMPv4
	 * types/codes for IPv4 destinations, ICMPv6 for IPv6.
	 */
	bool icmp;
	uint8_t icmp_type;
	uint8_t icmp_code;
};

/*
 * Open the mirror: sockets, full dump, subscription, first published
 * version. Control thread (registered with urcu-qsbr, online). Blocks for
 * the dump (about a second for a full BGP table). cfg may be NULL.
 * Returns 0 or negative errno.
 */
int rt_open(struct rt_table **out, const struct rt_cfg *cfg);

/*
 * Stop mirroring and free everything, waiting for pending RCU callbacks.
 * No reader may use rt any more. Control thread. NULL is a no-op.
 */
void rt_close(struct rt_table *rt);

/* The descriptor to watch for readability (level-triggered). */
int rt_fd(const struct rt_table *rt);

/*
 * Apply up to cfg->batch netlink messages, send queued resolution requests
 * and publish a new version if something changed (see publish_delay_ms).
 * After an overrun (ENOBUFS) it re-reads everything with a fresh dump, which
 * is not bounded by batch. Never blocks otherwise. Control thread.
 * Returns 1 if work is left (call again), 0 if idle, negative errno on a
 * socket error it could not recover from.
 */
int rt_process(struct rt_table *rt);

/*
 * Longest-prefix match of dst, then the interface and neighbour it leads to.
 * Reader (any registered, online urcu-qsbr thread). Multipath routes: the
 * first usable path; rt_lookup_flow() spreads flows over the paths.
 */
void rt_lookup(const struct rt_table *rt, const uint8_t dst[16], struct rt_hop *out);
/* The same, choosing among a multipath route's usable paths by flow_hash
 * (weighted by the routes' weights): one flow always takes one path. */
void rt_lookup_flow(const struct rt_table *rt, const uint8_t dst[16], uint32_t flow_hash,
		    struct rt_hop *out);

/*
 * Ask for the neighbour (ifindex, addr) to be resolved: a lock-free hand-off
 * to the control thread, which asks the kernel (RTM_NEWNEIGH, NTF_USE) in its
 * next rt_process(). Any thread, never blocks, no RCU requirement. Returns 0
 * when queued, -EALREADY when the same address (or one sharing its
 * rate-limit slot) was asked for within resolve_interval_ms, -ENOBUFS when
 * the queue is full.
 */
int rt_resolve(struct rt_table *rt, uint32_t ifindex, const uint8_t addr[16]);

struct rt_link {
	uint32_t ifindex;
	char name[IF_NAMESIZE];
	uint8_t mac[6];
	bool has_mac;        /* an Ethernet-style 6-byte address */
	bool up;             /* administratively up and operationally running */
	uint32_t flags;      /* IFF_* */
	uint32_t mtu;
	unsigned naddrs;
};

struct rt_addr {
	uint8_t addr[16];
	uint32_t ifindex;
	uint8_t prefix_len;  /* IPv4: 0..32 */
};

/* Reader functions (same contract as rt_lookup). 0 or -ENOENT. */
int rt_link_get(const struct rt_table *rt, uint32_t ifindex, struct rt_link *out);
int rt_link_by_name(const struct rt_table *rt, const char *name, struct rt_link *out);
/* The addresses configured on ifindex: copies up to max, returns how many
 * there are (or -ENOENT for an unknown link). */
int rt_link_addrs(const struct rt_table *rt, uint32_t ifindex, struct rt_addr *out,
		  unsigned max);
/*
 * The address ifindex answers dst from (an ICMP error's source, RFC 1812
 * 4.3.2.4: the router's address on the interface the packet came in on),
 * in the family of dst: an address whose prefix holds dst first; then, for
 * IPv6, a link-local one only for a link-local dst (else a wider scope
 * first); else the first configured (IPv4: the primary). Same contract as
 * rt_lookup. 0, or -ENOENT for an unknown link or one without an address
 * of that family. Linear in the link's addresses.
 */
int rt_link_addr(const struct rt_table *rt, uint32_t ifindex, const uint8_t dst[16],
		 uint8_t out[16]);
/* Is addr configured on some interface? Linear in the number of addresses:
 * for the control path; on the data path rt_lookup() says LOCAL. */
int rt_addr_find(const struct rt_table *rt, const uint8_t addr[16], struct rt_addr *out);
/* The neighbour entry: its NUD_* state and MAC if it has one (0), or
 * -ENOENT. */
int rt_neigh_get(const struct rt_table *rt, uint32_t ifindex, const uint8_t addr[16],
		 uint16_t *state, uint8_t mac[6], bool *has_mac);

#define RT_CTR_LIST(X)                                                         \
	X(RT_CTR_NL_MSGS, "nl_msgs")                 /* netlink messages applied */ \
	X(RT_CTR_NL_BAD, "nl_bad")                   /* malformed, skipped */ \
	X(RT_CTR_ROUTES_IGNORED, "routes_ignored")   /* tables/types not mirrored */ \
	X(RT_CTR_RESYNCS, "resyncs")                 /* full re-dumps after ENOBUFS */ \
	X(RT_CTR_PUBLISH_FIB, "publish_fib")         \
	X(RT_CTR_PUBLISH_LINKS, "publish_links")     \
	X(RT_CTR_PUBLISH_NEIGH, "publish_neigh")     \
	X(RT_CTR_RESOLVE_QUEUED, "resolve_queued")   \
	X(RT_CTR_RESOLVE_LIMITED, "resolve_limited") \
	X(RT_CTR_RESOLVE_FULL, "resolve_full")       \
	X(RT_CTR_RESOLVE_SENT, "resolve_sent")       \
	X(RT_CTR_RESOLVE_ERR, "resolve_err")

enum rt_ctr { RT_CTR_LIST(LOOM_XENUM) RT_CTR_MAX };

struct rt_stats {
	uint64_t ctr[RT_CTR_MAX];
	uint32_t routes4, routes6;   /* prefixes in the published version */
	uint32_t links, neighs;
	uint64_t fib_bytes;          /* memory of the published route tries */
	uint64_t fib_build_us;       /* time the last route build took */
};

const char *rt_ctr_name(enum rt_ctr c);
/* A snapshot; counters bumped by workers are read relaxed. Control thread. */
void rt_stats_get(const struct rt_table *rt, struct rt_stats *out);

#endif
