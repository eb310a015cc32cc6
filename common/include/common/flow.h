/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The flow table of a service manager, as laid out in shared memory.
 *
 * loom-svc-mgr writes it (its control thread is the only writer); loomctl,
 * the web UI and a standby read it. It is a shm hash table (shm/table.h),
 * segment loom.<instance>.flow, holding the manager's authoritative record
 * of every flow it decided: the agents only cache what the manager tells
 * them, so a restarted manager re-reads this table and answers every agent
 * the way it answered before.
 *
 * One flow is two entries, one per direction, so that a packet of either
 * direction punted by any agent (asymmetric routing, seed 001's "several
 * agents") finds its flow with one lookup of the packet's own key:
 *
 *   dir ORIG   key = the flow as the client sent it:
 *                   load balancing: client -> virtual address:port
 *                   NAT gateway:    inside host -> outside server
 *   dir REPLY  key = the answer as it arrives at the agent:
 *                   load balancing: real server:port -> client
 *                   NAT gateway:    outside server -> pool address:port
 *
 * Both entries hold the same record (the writer updates them together; a
 * reader that catches them in between sees two valid records, one newer).
 * The addresses follow seed 004's NAT table entry, whatever the mode:
 *
 *   field           load balancing         NAT gateway
 *   in_local        real server            inside host (private)
 *   in_global       virtual address        pool address
 *   out_global      client                 outside server
 *   out_local       client                 outside server
 *
 * Time is CLOCK_MONOTONIC milliseconds of the host (a restarted manager on
 * the same host reads the same clock).
 */
#ifndef LOOM_COMMON_FLOW_H
#define LOOM_COMMON_FLOW_H

#include <assert.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "common/key.h"

#define FLOW_KIND    0x464c4f57u /* "FLOW": value layout of the flow table */
#define FLOW_VERSION 1u

#define FLOW_MAX_AGENTS 4u        /* agents remembered as holding a copy */

enum flow_type {
	FLOW_T_LB = 1,    /* load-balanced connection to a virtual service */
	FLOW_T_NAT = 2,   /* NAT gateway translation */
	FLOW_T_SEEN = 3,  /* observed and passed on (cascaded, not decided here) */
	FLOW_T_PASS = 4,  /* a reply-side packet of no known flow, let through */
};

enum flow_dir {
	FLOW_DIR_ORIG = 0,
	FLOW_DIR_REPLY = 1,
};

/* Connection state, from the first packet and the interest matches. */
#define FLOW_STATE_LIST(X)                                                   \
	X(FLOW_S_NEW, 0, "new")               /* decided, no answer seen yet */ \
	X(FLOW_S_EST, 1, "established")       /* traffic both ways or UDP/ICMP */ \
	X(FLOW_S_FIN, 2, "fin-wait")          /* a FIN seen one way */           \
	X(FLOW_S_CLOSING, 3, "closing")       /* FIN both ways or RST: sticky */ \
	X(FLOW_S_DEAD, 4, "dead")             /* being withdrawn from agents */

#define FLOW_XENUM(name, num, str) name = num,
enum flow_state { FLOW_STATE_LIST(FLOW_XENUM) };
#undef FLOW_XENUM

enum flow_flags {
	FLOW_F_FIN_ORIG = 1u << 0,   /* FIN seen in the original direction */
	FLOW_F_FIN_REPLY = 1u << 1,
	FLOW_F_RST = 1u << 2,
	FLOW_F_NO_INTEREST = 1u << 3, /* an agent refused interest criteria: timeouts only */
	FLOW_F_COUNTED = 1u << 4,     /* counted in its backend's active connections */
	FLOW_F_DIRECT = 1u << 5,      /* the backend's host agent translates the replies */
	FLOW_F_BYTES = 1u << 6,       /* the replies reached the direct-return threshold */
};

/* One endpoint: address (IPv4-mapped for IPv4) and port (network order). */
struct flow_ep {
	uint8_t addr[16];
	uint16_t port;
	uint16_t pad;
};
static_assert(sizeof(struct flow_ep) == 20, "flow_ep is an shm layout");

/* Value of a flow table entry. */
struct flow_rec {
	uint8_t type;            /* enum flow_type */
	uint8_t dir;             /* enum flow_dir: which direction this entry's key is */
	uint8_t state;           /* enum flow_state */
	uint8_t proto;
	uint16_t flags;          /* enum flow_flags */
	uint16_t pad0;
	uint32_t svc_id;         /* service (stable id from the configuration) */
	uint32_t backend_id;     /* real server (load balancing), 0 otherwise */
	uint64_t owner;          /* manager instance that decided (seed 004's NAT ID) */
	struct flow_ep in_local;
	struct flow_ep in_global;
	struct flow_ep out_global;
	struct flow_ep out_local;
	uint32_t app_ctx;        /* application context (0: none) */
	uint32_t ttl_s;          /* TTL of the fixed affinities sent */
	uint64_t created_ms;
	uint64_t touched_ms;     /* last decision, answer to a punt, or interest match */
	uint64_t expires_ms;     /* when the record goes (idle timeout or sticky end) */
	uint64_t agents[FLOW_MAX_AGENTS]; /* instances of the agents told, 0 = free slot */
};
#define FLOW_VALUE_SIZE 168u
static_assert(sizeof(struct flow_rec) == FLOW_VALUE_SIZE, "flow_rec is an shm layout");

static inline bool flow_proto_is_icmp(uint8_t proto)
{
	return proto == 1 || proto == 58;
}

/*
 * The keys of both directions of a record.
 *   load balancing: ORIG  out_local -> in_global    REPLY in_local -> out_local
 *   NAT gateway:    ORIG  in_local -> out_local     REPLY out_local -> in_global
 * ICMP echo keeps its identifier in sport (common/key.h): an endpoint's port
 * is the identifier as that side sees it, and both keys carry the
 * identifier of their own direction in sport with dport 0.
 */
static inline void flow_rec_keys(const struct flow_rec *r, struct flow_key *orig,
				 struct flow_key *reply)
{
	const struct flow_ep *os, *od, *rs, *rd;

	if (r->type == FLOW_T_NAT) {
		os = &r->in_local, od = &r->out_local;
		rs = &r->out_local, rd = &r->in_global;
	} else {
		os = &r->out_local, od = &r->in_global;
		rs = &r->in_local, rd = &r->out_local;
	}
	key_init(orig);
	key_init(reply);
	orig->proto = reply->proto = r->proto;
	memcpy(orig->saddr, os->addr, 16);
	memcpy(orig->daddr, od->addr, 16);
	memcpy(reply->saddr, rs->addr, 16);
	memcpy(reply->daddr, rd->addr, 16);
	if (flow_proto_is_icmp(r->proto)) {
		orig->sport = os->port;
		reply->sport = rd->port;
	} else {
		orig->sport = os->port;
		orig->dport = od->port;
		reply->sport = rs->port;
		reply->dport = rd->port;
	}
}

#endif
