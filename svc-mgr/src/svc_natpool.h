/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * NAT gateway address and port pools: which outside endpoint a private
 * (inside) endpoint is translated to, in loom-svc-mgr's NAT gateway mode
 * (dynamic source NAT, the model is a carrier-grade NAT or VPP's NAT44-EI).
 *
 * A pool is a set of outside addresses (one or more ranges of one family)
 * and one port range. Each (pool address, protocol) owns its own port space:
 * TCP, UDP and ICMP (the echo identifier stands in for the port) never share
 * a port, but the same number may be in use once in each.
 *
 * Behaviour, with the RFC requirement each choice answers:
 *
 *  - Endpoint-independent mapping (RFC 4787 REQ-1, RFC 5382 REQ-1, and
 *    RFC 5508 section 3.1 for ICMP queries): a mapping is (proto, inside addr, inside port) ->
 *    (outside addr, outside port). Every flow from that inside endpoint, to
 *    any destination, reuses it; the mapping counts the flows that hold it.
 *  - Paired address pooling (RFC 4787 REQ-2): all mappings of one inside
 *    address use one outside address. A new inside address is placed by a
 *    keyed hash of the address; if that address has no free port for the
 *    protocol, the next address (in pool order, wrapping) that has one is
 *    used. Pairing is kept while the paired address has free ports: when it
 *    runs out for a protocol, that one mapping goes to the next address with
 *    a free port and the pairing itself does not move (degrading beats
 *    refusing a flow while the pool still has ports).
 *  - Port preservation when the inside port is within the pool's port range
 *    and free on the chosen address; otherwise the next free port after a
 *    rotating per-(address, protocol) cursor. Free ports live in a bitmap
 *    with a one-bit-per-word "word is full" summary, so a search touches at
 *    most a few dozen words even in a full 64K space. Port parity
 *    (RFC 4787 section 4.2.2) is not preserved: RTP/RTCP pairs are not
 *    this gateway's traffic. Inside ports below the pool's range (e.g.
 *    0-1023 with the default 1024-65535) get a port from the pool's range:
 *    RFC 4787 REQ-3's "same range" is a RECOMMENDED that a pool meets by
 *    its configuration, not by this code.
 *  - No port overloading (RFC 4787 REQ-3): an outside (address, protocol,
 *    port) belongs to at most one mapping. When no address has a free port
 *    for the protocol, allocation fails with -ENOSPC and is counted.
 *  - Timeouts are the caller's: it knows the per-protocol timers (UDP in
 *    RFC 4787, TCP in RFC 5382, ICMP queries in RFC 5508) and calls release
 *    once a flow has expired. At refcount zero the mapping and its port are freed at
 *    once.
 *  - ICMP identifiers come from the same numeric range as ports (pool
 *    identifiers 0..port_min-1 are never handed out). ICMP (1) is accepted
 *    on an IPv4 pool only, ICMPv6 (58) on an IPv6 pool only; both use the
 *    ICMP port space.
 *  - Inside and outside addresses have the pool's family: NAT44 or NAT66,
 *    no NAT64 here.
 *
 * Addresses are 16 bytes as in common/key.h (IPv4 stored IPv4-mapped);
 * ports are in host byte order in this API.
 *
 * Storage: mappings sit in a growable slab indexed by 32-bit numbers and
 * are chained into two hash tables, by inside endpoint and by outside
 * endpoint; inside addresses (for pairing) sit in a third. Tables double
 * with the slab, so every operation is O(1) expected; the hash is keyed by
 * a per-pool random seed so inside hosts cannot choose endpoints that pile
 * up in one chain. The seed is taken from getrandom() once, at creation.
 * Memory per (address, protocol) with a port in use: about 8 KiB for a
 * full 64K port range, released when its last port is.
 *
 * Threading: none. A pool belongs to one thread (the manager's control
 * thread); no function blocks or performs I/O after svc_natpool_new.
 */
#ifndef LOOM_SVC_NATPOOL_H
#define LOOM_SVC_NATPOOL_H

#include <stdbool.h>
#include <stdint.h>

/* At most this many addresses in one pool, over all its ranges. */
#define SVC_NATPOOL_MAX_ADDRS 65536u

#define SVC_NATPOOL_PORT_MIN 1024
#define SVC_NATPOOL_PORT_MAX 65535

/* Per-protocol counters come in this order (see svc_natpool_addr_usage). */
enum svc_natpool_proto {
	SVC_NATPOOL_TCP,
	SVC_NATPOOL_UDP,
	SVC_NATPOOL_ICMP,
	SVC_NATPOOL_NPROTO,
};

struct svc_natpool;

/* One end of a mapping: address as in common/key.h, port in host order. */
struct svc_nat_ep {
	uint8_t addr[16];
	uint16_t port;
};

/*
 * Create an empty pool handing out ports port_min..port_max (inclusive,
 * 1 <= port_min <= port_max; SVC_NATPOOL_PORT_MIN/MAX are the usual
 * choice). Returns 0 and *out, -EINVAL for a bad range, -ENOMEM.
 */
int svc_natpool_new(uint16_t port_min, uint16_t port_max, struct svc_natpool **out);

/*
 * Add the addresses first..last (inclusive) to the pool. Both ends have the
 * same family, and the family of every range of a pool is the same; first
 * <= last. Addresses already in the pool keep their index and mappings, so
 * ranges may be added while mappings exist; new inside addresses then also
 * hash onto the new addresses.
 * Returns 0; -EINVAL (mixed family, first > last), -EEXIST (overlaps a
 * range of the pool), -E2BIG (the pool would exceed SVC_NATPOOL_MAX_ADDRS),
 * -ENOMEM (the pool is unchanged).
 */
int svc_natpool_add_range(struct svc_natpool *p, const uint8_t first[16], const uint8_t last[16]);

/* Free the pool and every mapping. NULL is a no-op. */
void svc_natpool_free(struct svc_natpool *p);

/*
 * The mapping of (proto, inside) for one more flow: the existing mapping
 * with its refcount raised, or a new one with refcount 1. *outside is
 * written on success only.
 * proto is IPPROTO_TCP, IPPROTO_UDP, or the pool family's ICMP (IPPROTO_ICMP
 * for IPv4, IPPROTO_ICMPV6 for IPv6); inside->addr has the pool's family;
 * inside->port is not 0 for TCP and UDP.
 * Returns 0; -EINVAL (bad proto, family or port), -ENOSPC (no free port on
 * any address for proto, counted in alloc_fail; also an empty pool),
 * -EOVERFLOW (refcount would wrap), -ENOMEM (nothing changed).
 */
int svc_natpool_map(struct svc_natpool *p, uint8_t proto, const struct svc_nat_ep *inside,
		    struct svc_nat_ep *outside);

/*
 * Re-create a mapping with exactly this outside endpoint, after a restart,
 * from the caller's flow table: one call per flow, so a mapping shared by n
 * flows is restored n times and ends with refcount n.
 * Returns 0 (created, or the same mapping existed and its refcount rose);
 * -EEXIST (another mapping holds outside, or inside is mapped to another
 * outside endpoint); -EINVAL (bad proto, family or inside port; outside
 * address not in the pool or port outside its range); -EOVERFLOW; -ENOMEM.
 */
int svc_natpool_restore(struct svc_natpool *p, uint8_t proto, const struct svc_nat_ep *inside,
			const struct svc_nat_ep *outside);

/*
 * One flow of (proto, inside) has ended: refcount down; at zero the mapping
 * and its outside port are free for reuse at once (the caller has already
 * waited out the protocol's timeout). Returns 0, or -ENOENT (no mapping),
 * -EINVAL (bad proto).
 */
int svc_natpool_release(struct svc_natpool *p, uint8_t proto, const struct svc_nat_ep *inside);

/*
 * The mapping of an inside endpoint, for packets going out. outside and refs
 * may be NULL. Returns 0 or -ENOENT (also for a bad proto or family).
 */
int svc_natpool_lookup_inside(const struct svc_natpool *p, uint8_t proto,
			      const struct svc_nat_ep *inside, struct svc_nat_ep *outside,
			      uint32_t *refs);

/*
 * The inside endpoint an outside endpoint is mapped from, for packets
 * arriving from outside. inside may be NULL. Returns 0 or -ENOENT (not
 * mapped, not a pool address, bad proto).
 */
int svc_natpool_lookup_outside(const struct svc_natpool *p, uint8_t proto,
			       const struct svc_nat_ep *outside, struct svc_nat_ep *inside);

/* Whether addr is one of the pool's addresses. */
bool svc_natpool_contains(const struct svc_natpool *p, const uint8_t addr[16]);

struct svc_natpool_stats {
	uint32_t addresses;  /* pool addresses, over all ranges */
	uint32_t ports;      /* port space per address and protocol */
	uint64_t mappings;   /* live mappings, all protocols */
	uint64_t hosts;      /* inside addresses with at least one mapping */
	uint64_t alloc_fail; /* map calls refused with -ENOSPC */
};

void svc_natpool_stats(const struct svc_natpool *p, struct svc_natpool_stats *out);

/*
 * Usage of pool address i (0 <= i < stats.addresses; indices follow the
 * order the addresses were added in): the address, and the ports in use per
 * protocol, indexed by enum svc_natpool_proto. For display: O(ranges).
 * Returns 0 or -ENOENT past the last address.
 */
int svc_natpool_addr_usage(const struct svc_natpool *p, unsigned i, uint8_t addr[16],
			   uint32_t used[SVC_NATPOOL_NPROTO]);

#endif
