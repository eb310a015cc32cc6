/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Internals of rt_: the control-side model (mutable, control thread only),
 * the published versions (immutable) and the multibit trie behind lookups.
 * Tests and the benchmark include this header to drive the model without
 * netlink (rt_open_offline, rt_model_*).
 */
#ifndef LOOM_RT_INTERNAL_H
#define LOOM_RT_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <urcu-qsbr.h>

#include "common/rt.h"

struct mnl_socket;
struct nlmsghdr;

/* ---- multibit trie (rt_lpm.c) ---------------------------------------- */

/*
 * A 16-bit root array, then nodes of 2^stride entries. An entry is 0 (no
 * route), a leaf index + 1, or LPM_CHILD | node number. Built by inserting
 * prefixes in ascending length order (controlled prefix expansion), so an
 * insert never meets a child created by a shorter prefix.
 */
#define LPM_ROOT_BITS 16
#define LPM_CHILD (1u << 31)

struct rt_lpm {
	uint32_t *e;
	size_t cap;      /* entries allocated */
	size_t used;     /* entries in use: root + nnodes * node size */
	uint16_t base;   /* first address bit looked at: 96 for IPv4-mapped */
	uint8_t stride;  /* 8 or 4 */
};

int lpm_init(struct rt_lpm *t, unsigned base, unsigned stride);
void lpm_free(struct rt_lpm *t);
/* len is relative to base; host bits of a beyond len are ignored. */
int lpm_insert(struct rt_lpm *t, const uint8_t a[16], unsigned len, uint32_t val);

static inline uint32_t lpm_bits(const uint8_t a[16], unsigned off, unsigned n)
{
	if (n == 16)
		return (uint32_t)a[off >> 3] << 8 | a[(off >> 3) + 1];
	if (n == 8)
		return a[off >> 3];
	return (uint32_t)(a[off >> 3] >> (4 - (off & 7))) & 0xf;
}

static inline uint32_t lpm_lookup(const struct rt_lpm *t, const uint8_t a[16])
{
	unsigned off = t->base, stride = t->stride;
	uint32_t e = t->e[lpm_bits(a, off, LPM_ROOT_BITS)];

	off += LPM_ROOT_BITS;
	while (e & LPM_CHILD) {
		size_t node = ((size_t)1 << LPM_ROOT_BITS) + ((size_t)(e & ~LPM_CHILD) << stride);
		e = t->e[node + lpm_bits(a, off, stride)];
		off += stride;
	}
	return e;
}

/* ---- published versions ---------------------------------------------- */

enum { RT_T4_LOCAL, RT_T4_MAIN, RT_T6_LOCAL, RT_T6_MAIN, RT_NTRIES };

struct rt_path {
	uint8_t gw[16];
	uint32_t ifindex;
	uint8_t has_gw;
	uint8_t weight;  /* rtnh_hops + 1 */
	uint16_t pad;
};

/* What a trie entry leads to; shared by every prefix with the same content. */
struct rt_leaf {
	uint8_t type;    /* RTN_* */
	uint8_t plen;
	uint8_t npaths;
	uint8_t wsum;    /* sum of weights, <= 255 * npaths capped */
	uint32_t first;  /* index into paths */
};

struct rt_fib {
	struct rt_lpm t[RT_NTRIES];
	struct rt_leaf *leaves;
	uint32_t nleaves;
	struct rt_path *paths;
	uint32_t npaths;
	uint32_t routes4, routes6;
	size_t bytes;
};

struct rt_links {
	uint32_t n;
	struct rt_link *v;          /* sorted by ifindex */
	uint32_t *addr_first;       /* per link, index into addrs */
	uint32_t naddrs;
	struct rt_addr *addrs;      /* grouped by link, in link order */
	uint32_t *l2len;            /* per link: hardware address length */
};

struct rt_nent {
	uint32_t ifindex;           /* 0: empty slot */
	uint16_t state;
	uint8_t has_mac;
	uint8_t mac[6];
	uint8_t addr[16];
};

struct rt_neighs {
	uint32_t mask;              /* slots - 1 */
	uint32_t n;
	struct rt_nent *slots;
};

struct rt_view {
	struct rt_fib *fib;
	struct rt_links *links;
	struct rt_neighs *neigh;
};

/* ---- control-side model ------------------------------------------------ */

struct rt_hent {
	struct rt_hent *next;
	uint64_t hash;
};

/* A chained hash of entries whose key (key_size bytes) follows the rt_hent. */
struct rt_map {
	struct rt_hent **b;
	size_t nb, n, key_size;
};

struct rt_rkey {
	uint8_t dst[16];
	uint8_t tid;     /* RT_T* */
	uint8_t len;     /* relative: 0..32 for IPv4 */
	uint8_t pad[2];
};

struct rt_route {
	uint32_t priority;
	uint8_t type;
	uint8_t npaths;
	struct rt_path *paths;
};

/* One prefix; several routes (metrics, devices) may share it. */
struct rt_rnode {
	struct rt_hent h;
	struct rt_rkey key;
	unsigned nvar;
	struct rt_route *var;   /* sorted by priority: var[0] is used */
};

struct rt_nkey {
	uint32_t ifindex;
	uint8_t addr[16];
};

struct rt_nnode {
	struct rt_hent h;
	struct rt_nkey key;
	uint16_t state;
	uint8_t has_mac;
	uint8_t mac[6];
};

struct rt_mlink {
	uint32_t ifindex;
	uint32_t flags;
	uint32_t mtu;
	uint32_t l2len;
	uint8_t mac[6];
	uint8_t operstate;
	char name[IF_NAMESIZE];
};

struct rt_model {
	struct rt_map routes;
	struct rt_map neighs;
	struct rt_mlink *links;
	size_t nlinks, caplinks;
	struct rt_addr *addrs;
	size_t naddrs, capaddrs;
};

/* A resolution request in the worker -> control ring (Vyukov MPMC). */
struct rt_req_cell {
	_Atomic uint64_t seq;
	uint32_t ifindex;
	uint8_t addr[16];
};

#define RT_RL_SLOTS 4096

struct rt_table {
	struct rt_view *view;           /* rcu_dereference() it */
	struct rt_cfg cfg;

	struct mnl_socket *ev_nl;       /* subscribed to changes */
	struct mnl_socket *req_nl;      /* dumps and resolution requests */
	uint32_t seq;
	uint8_t *buf;
	size_t buf_size;

	struct rt_model m;
	bool dirty_fib, dirty_links, dirty_neigh;
	uint64_t dirty_since_ms;
	uint64_t fib_build_us;
	bool offline;

	struct rt_req_cell *ring;
	uint32_t ring_mask;
	_Atomic uint64_t ring_head LOOM_ALIGNED_CL;   /* producers */
	uint64_t ring_tail LOOM_ALIGNED_CL;           /* the control thread */
	_Atomic uint64_t rl[RT_RL_SLOTS];             /* last request, ms */

	_Atomic uint64_t ctr[RT_CTR_MAX];
};

static inline void rt_ctr_inc(struct rt_table *rt, enum rt_ctr c)
{
	atomic_fetch_add_explicit(&rt->ctr[c], 1, memory_order_relaxed);
}

uint64_t rt_hash_bytes(const void *p, size_t n, uint64_t seed);
uint64_t rt_now_ms(void);

/* map */
void rt_map_init(struct rt_map *m, size_t key_size);
struct rt_hent *rt_map_find(const struct rt_map *m, const void *key, uint64_t hash);
int rt_map_insert(struct rt_map *m, struct rt_hent *h);
void rt_map_remove(struct rt_map *m, struct rt_hent *h);
/* Call fn on every entry; fn may free the entry (the map is emptied). */
void rt_map_drain(struct rt_map *m, void (*fn)(struct rt_hent *));

/* model (rt_model.c): each returns 0 or -errno and marks what changed. */
void rt_model_init(struct rt_model *m);
void rt_model_clear(struct rt_table *rt);
int rt_model_route_add(struct rt_table *rt, const struct rt_rkey *k, const struct rt_route *r);
int rt_model_route_del(struct rt_table *rt, const struct rt_rkey *k, const struct rt_route *r);
int rt_model_link_set(struct rt_table *rt, const struct rt_mlink *l);
int rt_model_link_del(struct rt_table *rt, uint32_t ifindex);
int rt_model_addr_add(struct rt_table *rt, const struct rt_addr *a);
int rt_model_addr_del(struct rt_table *rt, const struct rt_addr *a);
int rt_model_neigh_set(struct rt_table *rt, const struct rt_nkey *k, uint16_t state,
		       const uint8_t *mac);
int rt_model_neigh_del(struct rt_table *rt, const struct rt_nkey *k);

/* versions (rt_view.c) */
struct rt_fib *rt_fib_build(const struct rt_model *m);
void rt_fib_free(struct rt_fib *f);
/* Build what is dirty and publish it; the old parts go to call_rcu. */
int rt_publish(struct rt_table *rt);
void rt_view_free_now(struct rt_view *v);

/* resolution (rt_resolve.c) */
int rt_resolve_init(struct rt_table *rt);
void rt_resolve_fini(struct rt_table *rt);
/* Send up to max queued requests to the kernel; returns how many. */
unsigned rt_resolve_drain(struct rt_table *rt, unsigned max);

/* A table without sockets: routes, links and neighbours come only from the
 * rt_model_* functions, and rt_publish() makes them visible. */
int rt_open_offline(struct rt_table **out, const struct rt_cfg *cfg);

/* netlink (rt_nl.c) */
int rt_nl_open(struct rt_table *rt);
void rt_nl_close(struct rt_table *rt);
int rt_nl_dump_all(struct rt_table *rt);
int rt_nl_read_events(struct rt_table *rt, unsigned budget, bool *drained);
/* Parse one rtnetlink message and apply it to the model (exposed for the
 * resync and parser tests). */
int rt_nl_apply(struct rt_table *rt, const struct nlmsghdr *nlh);
int rt_nl_resync(struct rt_table *rt);

#endif
