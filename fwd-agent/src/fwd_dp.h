/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The agent's data path: worker threads, each with its own pktio queue and
 * counter lane, running the pipeline of ARCHITECTURE.md section 4 on bursts
 * of packets:
 *
 *   parse -> fragments follow their first -> ICMP errors by their quote ->
 *   fixed affinity (batched lookup) -> wildcard by precedence -> actions
 *   (interest, NAT, sequence adjust, dispatch) -> or normal routing
 *   (advertised destinations with no match are dropped) -> transmit.
 *
 * Workers never block except in pktio_wait() and never call ZeroMQ. Packets
 * for a manager go to the control thread through a single-producer ring per
 * worker (punts); packets a manager returns come back through another ring
 * (injections), processed by the worker like received ones but resuming
 * below the precedence of the service that already saw them.
 *
 * Counters are per worker (one writer each) and summed by the control
 * thread; per-affinity counters live in the shared table's lanes.
 */
#ifndef LOOM_FWD_DP_H
#define LOOM_FWD_DP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/affinity.h"
#include "common/compiler.h"
#include "common/key.h"
#include "common/pkt.h"
#include "common/pktio.h"
#include "common/rt.h"
#include "shm/snap.h"
#include "shm/table.h"

#define FWD_BURST 32
#define FWD_MAX_WORKERS 64
#define FWD_RING_SLOTS 256           /* per worker, each way */
#define FWD_SLOT_BYTES 2048          /* a punted or returned packet (IP, no L2) */
#define FWD_FRAG_SLOTS 1024          /* first fragments remembered per worker */
#define FWD_FRAG_TTL_MS 5000
#define FWD_MAX_STATIC_ROUTES 64

/*
 * ICMP errors (RFC 1812, RFC 4443): a packet the agent cannot forward gets
 * one as from a router, sourced from the input port's address, and limited
 * per worker by a token bucket like the kernel's icmp_msgs_per_sec and
 * icmp_msgs_burst.
 */
#define FWD_ICMP_RATE 1000           /* errors per second, per worker */
#define FWD_ICMP_BURST 50
#define FWD_ICMP_TTL 64

#define FWD_CTR_LIST(X)                                                                  \
	X(FWD_C_RX, "packets received")                                                  \
	X(FWD_C_MALFORMED, "dropped: malformed")                                         \
	X(FWD_C_NOT_IP, "not IP: left to the kernel")                                    \
	X(FWD_C_ARP_REPLY, "ARP and neighbour replies for advertised addresses")        \
	X(FWD_C_FIXED_HIT, "fixed affinity hits")                                        \
	X(FWD_C_FIXED_EXPIRED, "expired fixed affinities met (treated as misses)")       \
	X(FWD_C_WILD_HIT, "wildcard matches")                                            \
	X(FWD_C_PUNT, "packets or notifications queued for a manager")                  \
	X(FWD_C_PUNT_FULL, "dropped: queue to the control thread full")                  \
	X(FWD_C_HELD, "packets held for their manager (not forwarded)")                 \
	X(FWD_C_NAT, "packets translated")                                               \
	X(FWD_C_SEQ, "packets with sequence numbers adjusted")                           \
	X(FWD_C_DISPATCH, "packets dispatched to a forward address")                     \
	X(FWD_C_DISPATCH_DROP, "dropped: dispatch to forward address 0")                 \
	X(FWD_C_ADV_DROP, "dropped: for an advertised address with no affinity")        \
	X(FWD_C_ICMP_XLATE, "ICMP errors translated by their quote")                     \
	X(FWD_C_FRAG_FOLLOW, "fragments that followed their first fragment")             \
	X(FWD_C_FRAG_ORPHAN, "dropped: fragment whose first fragment was not seen")      \
	X(FWD_C_ROUTED, "forwarded by the routing table")                                \
	X(FWD_C_LOCAL, "addressed to this host: left to the kernel")                     \
	X(FWD_C_TTL, "dropped: TTL or hop limit expired")                                \
	X(FWD_C_NO_ROUTE, "dropped: no route")                                           \
	X(FWD_C_NO_NEIGH, "dropped: next hop unresolved (resolution asked)")             \
	X(FWD_C_TOO_BIG, "dropped: larger than the egress MTU (IPv4 with DF, IPv6)")     \
	X(FWD_C_ICMP_SENT, "ICMP errors sent (time exceeded, unreachable, too big)")     \
	X(FWD_C_ICMP_LIMITED, "ICMP errors not sent: rate limited")                      \
	X(FWD_C_ICMP_NO_SRC, "ICMP errors not sent: no address on the input port")       \
	X(FWD_C_NEIGH_HELD, "held while the next hop resolved")                          \
	X(FWD_C_NEIGH_SENT, "sent once the next hop resolved")                           \
	X(FWD_C_INJECTED, "packets returned by managers and processed")                  \
	X(FWD_C_INJECT_BAD, "dropped: returned packet malformed")                        \
	X(FWD_C_TX, "packets transmitted")                                               \
	X(FWD_C_TX_FAIL, "dropped: transmit failed")                                     \
	X(FWD_C__COUNT, "")

enum fwd_ctr { FWD_CTR_LIST(LOOM_XENUM) };
const char *fwd_ctr_str(enum fwd_ctr c);

/* A packet crossing between a worker and the control thread. */
struct fwd_slot {
	uint16_t owner;              /* manager index */
	uint8_t kind;                /* enum fwd_slot_kind */
	bool fixed;                  /* punt: matched a fixed affinity */
	uint16_t reasons;            /* punt: MSG_INT_* bits */
	bool dispatch, info;
	uint8_t mgr_len;
	struct flow_key key;         /* punt: the matching affinity's key */
	uint8_t smask[16], dmask[16];
	int64_t rank_done;           /* injection: resume below this rank */
	uint8_t mgr_data[AFF_MAX_MGR_DATA];
	uint32_t len;                /* bytes of packet in data (0: a notification only) */
	uint8_t data[FWD_SLOT_BYTES];
};

enum fwd_slot_kind { FWD_SLOT_PUNT = 1, FWD_SLOT_INJECT = 2 };

/* Single-producer single-consumer ring of slots. */
struct fwd_ring {
	_Atomic uint32_t head LOOM_ALIGNED_CL; /* next slot the producer fills */
	_Atomic uint32_t tail LOOM_ALIGNED_CL; /* next slot the consumer takes */
	struct fwd_slot *slots;              /* FWD_RING_SLOTS */
};

static inline struct fwd_slot *fwd_ring_produce_begin(struct fwd_ring *r)
{
	uint32_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
	uint32_t t = atomic_load_explicit(&r->tail, memory_order_acquire);

	return h - t >= FWD_RING_SLOTS ? NULL : &r->slots[h % FWD_RING_SLOTS];
}

static inline void fwd_ring_produce_end(struct fwd_ring *r)
{
	atomic_store_explicit(&r->head, atomic_load_explicit(&r->head, memory_order_relaxed) + 1,
			      memory_order_release);
}

static inline struct fwd_slot *fwd_ring_consume_begin(struct fwd_ring *r)
{
	uint32_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
	uint32_t h = atomic_load_explicit(&r->head, memory_order_acquire);

	return t == h ? NULL : &r->slots[t % FWD_RING_SLOTS];
}

static inline void fwd_ring_consume_end(struct fwd_ring *r)
{
	atomic_store_explicit(&r->tail, atomic_load_explicit(&r->tail, memory_order_relaxed) + 1,
			      memory_order_release);
}

/* Where a packet leaves: port, MAC addresses. */
struct fwd_hop {
	enum rt_verdict verdict;
	uint16_t port;
	uint8_t smac[6], dmac[6];
	uint32_t ifindex;
	uint32_t mtu;                /* of the output port; 0: not known, not checked */
	uint8_t nexthop[16];
	bool icmp;                   /* RT_DROP: the error to send (struct rt_hop) */
	uint8_t icmp_type, icmp_code;
};

/* A static route, for the pcap back end (no kernel tables behind it). */
struct fwd_static_route {
	uint8_t addr[16], mask[16];
	uint16_t port;
	uint8_t dmac[6];
	uint8_t len;                 /* mask bits set: longest wins */
};

struct fwd_port {
	uint32_t ifindex;            /* afpacket: the interface */
	uint8_t mac[6];              /* the interface's own address */
	/* pcap (no rt to ask): the port's own addresses, the source of the
	 * ICMP errors it sends (IPv4 mapped; all zero: none, no error sent)
	 * and its MTU (0: not checked) */
	uint8_t addr[16];
	uint8_t addr6[16];
	uint32_t mtu;
};

struct fwd_dp {
	struct pktio *io;
	struct shm_table *fixed;
	struct shm_snap *snap;
	struct shm_table *fwdstats;  /* per forward address; NULL: not counted */
	struct rt_table *rt;         /* NULL: static routes */
	unsigned nports;
	struct fwd_port ports[PKTIO_MAX_PORTS];
	unsigned nroutes;
	struct fwd_static_route routes[FWD_MAX_STATIC_ROUTES];
	void (*wake_control)(void *arg); /* a punt is waiting: ev_notify */
	void *wake_arg;
	uint64_t busy_poll_ns;       /* keep polling this long after the last packet */
	_Atomic bool stop;
	_Atomic uint32_t open_punts; /* punted and held, not yet answered */
};

struct fwd_frag {
	uint8_t saddr[16], daddr[16];
	uint32_t id;
	uint8_t proto;
	uint64_t expires_ms;
	struct flow_key key;
};

/*
 * Packets waiting for their next hop's neighbour entry (the kernel queues
 * them the same way, unres_qlen): the first packet of a new destination,
 * a SYN say, is not lost to a second's retransmission while the agent asks
 * the kernel to resolve. A few slots per worker, each the whole frame and
 * its metadata, for FWD_HOLD_NS at most.
 */
#define FWD_HOLD_SLOTS 16
#define FWD_HOLD_BYTES 2048
#define FWD_HOLD_NS (3ull * 1000 * 1000 * 1000) /* the kernel's three probes */

struct fwd_held {
	uint64_t deadline_ns;
	struct pktio_pkt p;          /* data points at buf */
	struct pkt_view v;
	uint8_t dst[16];
	uint32_t hash;
	bool local;                  /* an ICMP error of ours: no TTL to decrement */
	uint8_t buf[FWD_HOLD_BYTES];
};

struct fwd_worker {
	struct fwd_dp *dp;
	unsigned id;                 /* pktio queue and counter lane */
	struct shm_rcu_reader fixed_rd, snap_rd, fwdstats_rd;
	struct fwd_ring punts;       /* worker -> control */
	struct fwd_ring injects;     /* control -> worker */
	int wake_fd;                 /* eventfd: injections waiting */
	uint64_t ctr[FWD_C__COUNT];  /* written by this worker only (relaxed) */
	struct fwd_frag frags[FWD_FRAG_SLOTS];
	uint8_t scratch[FWD_SLOT_BYTES + 64]; /* an injected packet gets an L2 header here */
	uint8_t reply[128];          /* ARP / neighbour replies */
	unsigned nheld;
	struct fwd_held held[FWD_HOLD_SLOTS];
	uint32_t icmp_tokens;        /* ICMP error token bucket (FWD_ICMP_*) */
	uint64_t icmp_refill_ns;     /* when the last whole token was added */
};

/* Prepare a worker (control thread, before the thread starts). */
int fwd_worker_init(struct fwd_worker *w, struct fwd_dp *dp, unsigned id);
void fwd_worker_fini(struct fwd_worker *w);

/*
 * One iteration without waiting: the packets managers returned, then one
 * received burst. Returns how many packets were received (0: nothing was
 * waiting; the caller may pktio_wait()). Worker thread, or a test's thread
 * (without rt, which needs urcu-qsbr registration).
 */
int fwd_worker_run_once(struct fwd_worker *w);

/*
 * The pipeline on a burst of at most FWD_BURST packets the caller owns (tests
 * and fuzzing): out (room for 2 * FWD_BURST) receives what would be sent.
 * Returns how many. Worker thread (or a test's thread without rt).
 */
unsigned fwd_worker_process(struct fwd_worker *w, struct pktio_pkt *pkts, unsigned n,
			    struct pktio_pkt *out);

/*
 * Before the worker sleeps: reset its wake-up descriptor, then tell whether
 * returned packets arrived meanwhile (true: do not sleep). Reading the
 * eventfd only here keeps a system call off every burst.
 */
bool fwd_worker_idle(struct fwd_worker *w);

/* The thread body: register as an RCU reader, poll until dp->stop. */
void *fwd_worker_main(void *arg);

/* Control thread: hand a returned packet to worker w (0 or -EAGAIN). */
int fwd_worker_inject(struct fwd_worker *w, uint16_t owner, const uint8_t *ip, uint32_t len,
		      int64_t rank_done);

/* Read one counter of a worker (any thread). */
static inline uint64_t fwd_worker_ctr(const struct fwd_worker *w, enum fwd_ctr c)
{
	return __atomic_load_n(&w->ctr[c], __ATOMIC_RELAXED);
}

/* Route dst: through rt when present, else the static routes. */
void fwd_route(const struct fwd_dp *dp, const uint8_t dst[16], uint32_t hash, struct fwd_hop *h);

#endif
