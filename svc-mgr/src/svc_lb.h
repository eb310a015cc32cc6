/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Backend selection for loom-svc-mgr: given the first packet of a new flow to
 * a virtual service, pick one of its real servers.
 *
 * One `struct svc_lb` per virtual service holds a copy of the backend list
 * and the state of one algorithm:
 *
 *   rr      round robin over the eligible backends.
 *   wrr     smooth weighted round robin (nginx): weights 5:3:2 give exactly
 *           5, 3 and 2 picks in every 10, interleaved rather than in bursts.
 *   wlc     weighted least connections: the smallest conns/weight, compared
 *           by cross-multiplication; equal backends take turns.
 *   maglev  consistent hashing with the lookup table of Eisenbud et al.,
 *           "Maglev", NSDI 2016, section 3.4, weighted. The same seed and
 *           backends give the same table in every process, in any array
 *           order, so a restarted or standby manager sends every client
 *           where the old one did; a change of one backend moves few
 *           clients of the others.
 *
 * A backend is *eligible* when it is up and its weight is above 0. Weight 0
 * drains: no new flows; flows already placed belong to the caller's flow
 * table and are not this library's concern.
 *
 * Backends are named by the caller's stable `id`; indices into the current
 * array are valid until the next svc_lb_set_backends().
 *
 * Source persistence (IPVS "persistent" services) is a separate bounded map,
 * `struct svc_lb_persist`, from client address to backend id with an expiry
 * time: the caller looks it up before picking and records the pick.
 *
 * Threading: none of this is thread-safe. Everything is meant for the
 * manager's control thread (one thread per object). No I/O, no logging above
 * debug. Every function checks its arguments and returns -EINVAL for bad
 * ones; allocations that fail return -ENOMEM and leave the object unchanged.
 */
#ifndef LOOM_SVC_LB_H
#define LOOM_SVC_LB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/compiler.h"
#include "common/key.h"

#define SVC_LB_ALG_LIST(X)            \
	X(SVC_LB_RR, "rr")            \
	X(SVC_LB_WRR, "wrr")          \
	X(SVC_LB_WLC, "wlc")          \
	X(SVC_LB_MAGLEV, "maglev")

enum svc_lb_alg {
	SVC_LB_ALG_LIST(LOOM_XENUM)
	SVC_LB_ALG_COUNT
};

/* What Maglev hashes: the client address alone (default) or the 5-tuple. */
#define SVC_LB_HASH_LIST(X)                 \
	X(SVC_LB_HASH_SOURCE, "source")     \
	X(SVC_LB_HASH_FLOW, "flow")

enum svc_lb_hash {
	SVC_LB_HASH_LIST(LOOM_XENUM)
	SVC_LB_HASH_COUNT
};

/* Parse a name from the lists above; -EINVAL for NULL or an unknown name. */
int svc_lb_alg_parse(const char *s, enum svc_lb_alg *out);
int svc_lb_hash_parse(const char *s, enum svc_lb_hash *out);
/* The name, or "?" for a value outside the list. */
const char *svc_lb_alg_name(enum svc_lb_alg alg);
const char *svc_lb_hash_name(enum svc_lb_hash hash);

#define SVC_LB_MAX_BACKENDS 4096u
#define SVC_LB_MAX_WEIGHT 65535u
/*
 * Maglev table size M: a prime (so every skip generates a full permutation)
 * between SVC_LB_MAGLEV_MIN and SVC_LB_MAGLEV_MAX, and at least the number
 * of backends. The paper wants M >= 100 x backends for an even split; the
 * default suits up to about 650.
 */
#define SVC_LB_MAGLEV_DEFAULT 65537u
#define SVC_LB_MAGLEV_MIN 3u
#define SVC_LB_MAGLEV_MAX 1048573u /* largest prime below 2^20: 100 x 4096 fits */

struct svc_lb_backend {
	uint32_t id;      /* stable identity chosen by the caller; unique in a set */
	uint8_t addr[16]; /* IPv4-mapped for IPv4 (common/key.h) */
	uint16_t port;    /* host byte order; with addr, the Maglev identity */
	uint32_t weight;  /* 0..SVC_LB_MAX_WEIGHT; 0 = drained */
	bool up;          /* health: false = never picked */
};

struct svc_lb;

/*
 * Create a selector with no backends. `hash` matters only for Maglev;
 * `maglev_size` is M (0 = SVC_LB_MAGLEV_DEFAULT) and is ignored by the other
 * algorithms; `seed` keys Maglev's hashes: managers that must agree on
 * placement (restart, standby) use the same seed.
 * Returns 0 and *out, -EINVAL (bad alg, hash, or non-prime size), -ENOMEM.
 */
int svc_lb_new(enum svc_lb_alg alg, enum svc_lb_hash hash, uint32_t maglev_size, uint64_t seed,
	       struct svc_lb **out);
void svc_lb_free(struct svc_lb *lb);

enum svc_lb_alg svc_lb_alg(const struct svc_lb *lb);

/*
 * Replace the backend list with a copy of b[0..n). Backends whose id was
 * present before keep their connection count, their WRR credit and (for
 * rr/wlc) the rotation position; new ones start at zero connections.
 * -EINVAL for n > SVC_LB_MAX_BACKENDS, b == NULL with n > 0, a weight above
 * SVC_LB_MAX_WEIGHT, a duplicate id, or (Maglev) n > M. On any error the old
 * list stays in force.
 */
int svc_lb_set_backends(struct svc_lb *lb, const struct svc_lb_backend *b, unsigned n);

/*
 * Drain/undrain (weight) or mark down/up one backend by id. The Maglev table
 * is rebuilt at the next pick. -ENOENT for an unknown id, -EINVAL for a bad
 * weight.
 */
int svc_lb_set_state(struct svc_lb *lb, uint32_t id, uint32_t weight, bool up);

/*
 * Pick a backend for a new flow: returns its index in the current array, or
 * -ENOENT when no backend is eligible. k is the flow's key (common/key.h);
 * Maglev needs it, the other algorithms accept NULL. Rebuilds the Maglev
 * table first if a change left it stale (O(M log M), never allocates).
 */
int svc_lb_pick(struct svc_lb *lb, const struct flow_key *k);

/* The backend at idx, or NULL if idx is out of range. Valid until the next
 * svc_lb_set_backends(). */
const struct svc_lb_backend *svc_lb_backend(const struct svc_lb *lb, unsigned idx);
unsigned svc_lb_count(const struct svc_lb *lb);
/* Index of the backend with this id, or -ENOENT. */
int svc_lb_find(const struct svc_lb *lb, uint32_t id);
bool svc_lb_eligible(const struct svc_lb *lb, unsigned idx);

/*
 * Active connections, for wlc (the other algorithms only count them).
 * delta is added and the result clamped to [0, UINT32_MAX], so a late close
 * after a reset cannot wrap. -EINVAL for a bad idx.
 */
int svc_lb_conn(struct svc_lb *lb, unsigned idx, int delta);
uint32_t svc_lb_conns(const struct svc_lb *lb, unsigned idx);

/*
 * Maglev only: how many of the M table slots backend idx owns (its share of
 * clients is slots / M), rebuilding a stale table first. For display
 * (loomctl) and tests. -EINVAL for another algorithm or a bad idx.
 */
int svc_lb_maglev_slots(struct svc_lb *lb, unsigned idx, uint32_t *slots);

/*
 * SipHash-2-4 (Aumasson and Bernstein), the hash behind Maglev: exposed so
 * tools can predict placement and tests can pin it to the reference vectors.
 */
uint64_t svc_lb_siphash24(uint64_t k0, uint64_t k1, const void *data, size_t len);

/*
 * Source persistence: client address -> backend id, until an expiry time.
 * Capacity is fixed at creation (1..SVC_LB_PERSIST_MAX); when full, a put of
 * a new client evicts the entry that expires first. Times are the caller's
 * monotonic milliseconds; an entry is live while now_ms < expires_ms.
 * Lookups cost O(1) expected (keyed hash, so hostile source addresses cannot
 * force collisions); put, evict and expire O(log capacity).
 */
#define SVC_LB_PERSIST_MAX (1u << 24)

struct svc_lb_persist;

int svc_lb_persist_new(uint32_t capacity, struct svc_lb_persist **out);
void svc_lb_persist_free(struct svc_lb_persist *p);
/* 0 and *backend_id, or -ENOENT if absent or expired (an expired entry is
 * removed on the way). */
int svc_lb_persist_get(struct svc_lb_persist *p, const uint8_t client[16], uint64_t now_ms,
		       uint32_t *backend_id);
/* Insert or refresh (new backend and expiry). 0, or -EINVAL. */
int svc_lb_persist_put(struct svc_lb_persist *p, const uint8_t client[16], uint32_t backend_id,
		       uint64_t expires_ms);
/* Drop every entry pointing at backend_id (removed backend). O(capacity). */
void svc_lb_persist_forget_backend(struct svc_lb_persist *p, uint32_t backend_id);
/* Remove up to max entries with expires_ms <= now_ms, earliest first;
 * returns how many were removed. Call from a timer to bound the work. */
unsigned svc_lb_persist_expire(struct svc_lb_persist *p, uint64_t now_ms, unsigned max);
unsigned svc_lb_persist_count(const struct svc_lb_persist *p);

#endif
