// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The control thread's private copy of the kernel's tables: what netlink
 * said, before it is turned into an immutable version. Only the control
 * thread touches it, so it is plain mutable data.
 */
#include <errno.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rt-internal.h"

uint64_t rt_hash_bytes(const void *p, size_t n, uint64_t seed)
{
	const uint8_t *b = p;
	uint64_t h = seed ^ (n * 0x9e3779b97f4a7c15ULL);

	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ULL;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h;
}

uint64_t rt_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- map ---- */

void rt_map_init(struct rt_map *m, size_t key_size)
{
	memset(m, 0, sizeof(*m));
	m->key_size = key_size;
}

static const void *hkey(const struct rt_hent *h)
{
	return h + 1;
}

struct rt_hent *rt_map_find(const struct rt_map *m, const void *key, uint64_t hash)
{
	if (!m->nb)
		return NULL;
	for (struct rt_hent *h = m->b[hash & (m->nb - 1)]; h; h = h->next)
		if (h->hash == hash && memcmp(hkey(h), key, m->key_size) == 0)
			return h;
	return NULL;
}

static int map_grow(struct rt_map *m)
{
	size_t nb = m->nb ? m->nb * 2 : 64;
	struct rt_hent **b = calloc(nb, sizeof(*b));

	if (!b)
		return -ENOMEM;
	for (size_t i = 0; i < m->nb; i++) {
		struct rt_hent *h = m->b[i], *next;

		for (; h; h = next) {
			next = h->next;
			h->next = b[h->hash & (nb - 1)];
			b[h->hash & (nb - 1)] = h;
		}
	}
	free(m->b);
	m->b = b;
	m->nb = nb;
	return 0;
}

int rt_map_insert(struct rt_map *m, struct rt_hent *h)
{
	if (m->n >= m->nb) {
		int r = map_grow(m);

		if (r < 0)
			return r;
	}
	struct rt_hent **slot = &m->b[h->hash & (m->nb - 1)];

	h->next = *slot;
	*slot = h;
	m->n++;
	return 0;
}

void rt_map_remove(struct rt_map *m, struct rt_hent *h)
{
	for (struct rt_hent **pp = &m->b[h->hash & (m->nb - 1)]; *pp; pp = &(*pp)->next)
		if (*pp == h) {
			*pp = h->next;
			m->n--;
			return;
		}
}

void rt_map_drain(struct rt_map *m, void (*fn)(struct rt_hent *))
{
	for (size_t i = 0; i < m->nb; i++) {
		struct rt_hent *h = m->b[i], *next;

		for (; h; h = next) {
			next = h->next;
			fn(h);
		}
	}
	free(m->b);
	m->b = NULL;
	m->nb = m->n = 0;
}

/* ---- routes ---- */

void rt_model_init(struct rt_model *m)
{
	memset(m, 0, sizeof(*m));
	rt_map_init(&m->routes, sizeof(struct rt_rkey));
	rt_map_init(&m->neighs, sizeof(struct rt_nkey));
}

static void rnode_free(struct rt_hent *h)
{
	struct rt_rnode *n = (struct rt_rnode *)h;

	for (unsigned i = 0; i < n->nvar; i++)
		free(n->var[i].paths);
	free(n->var);
	free(n);
}

static void free_hent(struct rt_hent *h)
{
	free(h);
}

void rt_model_clear(struct rt_table *rt)
{
	rt_map_drain(&rt->m.routes, rnode_free);
	rt_map_drain(&rt->m.neighs, free_hent);
	free(rt->m.links);
	free(rt->m.addrs);
	rt_model_init(&rt->m);
	rt->dirty_fib = rt->dirty_links = rt->dirty_neigh = true;
}

static void mark(struct rt_table *rt, bool *flag)
{
	if (!rt->dirty_fib && !rt->dirty_links && !rt->dirty_neigh)
		rt->dirty_since_ms = rt_now_ms();
	*flag = true;
}

static uint32_t route_oif(const struct rt_route *r)
{
	return r->npaths ? r->paths[0].ifindex : 0;
}

/* The kernel names a route by prefix, table, metric and (IPv6, appended
 * IPv4 alternatives) its device: so do we. */
static int var_find(const struct rt_rnode *n, const struct rt_route *r)
{
	for (unsigned i = 0; i < n->nvar; i++)
		if (n->var[i].priority == r->priority && route_oif(&n->var[i]) == route_oif(r))
			return (int)i;
	return -1;
}

static void rkey_norm(struct rt_rkey *k)
{
	unsigned base = k->tid <= RT_T4_MAIN ? 96 : 0, bits = base + k->len;

	for (unsigned i = 0; i < 16; i++) {
		unsigned lo = i * 8;

		if (lo >= bits)
			k->dst[i] = 0;
		else if (lo + 8 > bits)
			k->dst[i] &= (uint8_t)(0xff00u >> (bits - lo));
	}
	memset(k->pad, 0, sizeof(k->pad));
}

int rt_model_route_add(struct rt_table *rt, const struct rt_rkey *key, const struct rt_route *r)
{
	struct rt_rkey k = *key;
	struct rt_path *paths = NULL;

	if (k.tid >= RT_NTRIES || k.len > (k.tid <= RT_T4_MAIN ? 32 : 128))
		return -EINVAL;
	rkey_norm(&k);
	if (r->npaths) {
		paths = malloc(r->npaths * sizeof(*paths));
		if (!paths)
			return -ENOMEM;
		memcpy(paths, r->paths, r->npaths * sizeof(*paths));
	}
	uint64_t hash = rt_hash_bytes(&k, sizeof(k), 0);
	struct rt_rnode *n = (struct rt_rnode *)rt_map_find(&rt->m.routes, &k, hash);

	if (!n) {
		n = calloc(1, sizeof(*n));
		if (n) {
			n->h.hash = hash;
			n->key = k;
		}
		if (!n || rt_map_insert(&rt->m.routes, &n->h) < 0) {
			free(n);
			free(paths);
			return -ENOMEM;
		}
	}
	int i = var_find(n, r);

	if (i >= 0) {
		free(n->var[i].paths);
		n->var[i] = *r;
		n->var[i].paths = paths;
	} else {
		struct rt_route *v = realloc(n->var, (n->nvar + 1) * sizeof(*v));

		if (!v) {
			free(paths);
			if (!n->nvar) {
				rt_map_remove(&rt->m.routes, &n->h);
				free(n);
			}
			return -ENOMEM;
		}
		n->var = v;
		unsigned at = n->nvar;

		while (at > 0 && n->var[at - 1].priority > r->priority) {
			n->var[at] = n->var[at - 1];
			at--;
		}
		n->var[at] = *r;
		n->var[at].paths = paths;
		n->nvar++;
	}
	mark(rt, &rt->dirty_fib);
	return 0;
}

int rt_model_route_del(struct rt_table *rt, const struct rt_rkey *key, const struct rt_route *r)
{
	struct rt_rkey k = *key;

	if (k.tid >= RT_NTRIES || k.len > (k.tid <= RT_T4_MAIN ? 32 : 128))
		return -EINVAL;
	rkey_norm(&k);
	struct rt_rnode *n = (struct rt_rnode *)rt_map_find(&rt->m.routes, &k,
							    rt_hash_bytes(&k, sizeof(k), 0));
	int i = n ? var_find(n, r) : -1;

	if (i < 0)
		return -ENOENT;
	free(n->var[i].paths);
	memmove(&n->var[i], &n->var[i + 1], (n->nvar - (unsigned)i - 1) * sizeof(*n->var));
	if (--n->nvar == 0) {
		rt_map_remove(&rt->m.routes, &n->h);
		free(n->var);
		free(n);
	}
	mark(rt, &rt->dirty_fib);
	return 0;
}

/*
 * IPv4 flushes the routes through a device that goes down, or away, without
 * telling anyone; IPv6 tells. Mirror the flush: drop every route whose paths
 * all use ifindex (v4only: IPv4 tables only).
 */
static void routes_flush_dev(struct rt_table *rt, uint32_t ifindex, bool v4only)
{
	struct rt_map *m = &rt->m.routes;

	for (size_t b = 0; b < m->nb; b++) {
		struct rt_hent **pp = &m->b[b];

		while (*pp) {
			struct rt_rnode *n = (struct rt_rnode *)*pp;

			if (v4only && n->key.tid > RT_T4_MAIN) {
				pp = &(*pp)->next;
				continue;
			}
			for (unsigned i = 0; i < n->nvar;) {
				struct rt_route *r = &n->var[i];
				bool all = r->npaths > 0;

				for (unsigned p = 0; p < r->npaths; p++)
					all = all && r->paths[p].ifindex == ifindex;
				if (all) {
					free(r->paths);
					memmove(r, r + 1, (n->nvar - i - 1) * sizeof(*r));
					n->nvar--;
					mark(rt, &rt->dirty_fib);
				} else {
					i++;
				}
			}
			if (!n->nvar) {
				*pp = n->h.next;
				m->n--;
				free(n->var);
				free(n);
			} else {
				pp = &(*pp)->next;
			}
		}
	}
}

/* ---- links and addresses ---- */

int rt_model_link_set(struct rt_table *rt, const struct rt_mlink *l)
{
	struct rt_model *m = &rt->m;
	size_t i;

	for (i = 0; i < m->nlinks; i++)
		if (m->links[i].ifindex == l->ifindex)
			break;
	if (i == m->nlinks) {
		if (m->nlinks == m->caplinks) {
			size_t cap = m->caplinks ? m->caplinks * 2 : 16;
			struct rt_mlink *v = realloc(m->links, cap * sizeof(*v));

			if (!v)
				return -ENOMEM;
			m->links = v;
			m->caplinks = cap;
		}
		m->nlinks++;
	} else if ((m->links[i].flags & IFF_UP) && !(l->flags & IFF_UP)) {
		routes_flush_dev(rt, l->ifindex, true);
	}
	m->links[i] = *l;
	mark(rt, &rt->dirty_links);
	return 0;
}

static void neigh_flush_dev(struct rt_table *rt, uint32_t ifindex)
{
	struct rt_map *m = &rt->m.neighs;

	for (size_t b = 0; b < m->nb; b++) {
		struct rt_hent **pp = &m->b[b];

		while (*pp) {
			struct rt_nnode *n = (struct rt_nnode *)*pp;

			if (n->key.ifindex == ifindex) {
				*pp = n->h.next;
				m->n--;
				free(n);
				mark(rt, &rt->dirty_neigh);
			} else {
				pp = &(*pp)->next;
			}
		}
	}
}

int rt_model_link_del(struct rt_table *rt, uint32_t ifindex)
{
	struct rt_model *m = &rt->m;
	size_t j = 0;

	for (size_t i = 0; i < m->nlinks; i++)
		if (m->links[i].ifindex != ifindex)
			m->links[j++] = m->links[i];
	m->nlinks = j;
	j = 0;
	for (size_t i = 0; i < m->naddrs; i++)
		if (m->addrs[i].ifindex != ifindex)
			m->addrs[j++] = m->addrs[i];
	m->naddrs = j;
	routes_flush_dev(rt, ifindex, false);
	neigh_flush_dev(rt, ifindex);
	mark(rt, &rt->dirty_links);
	return 0;
}

static bool addr_same(const struct rt_addr *a, const struct rt_addr *b)
{
	return a->ifindex == b->ifindex && a->prefix_len == b->prefix_len &&
	       memcmp(a->addr, b->addr, 16) == 0;
}

int rt_model_addr_add(struct rt_table *rt, const struct rt_addr *a)
{
	struct rt_model *m = &rt->m;

	for (size_t i = 0; i < m->naddrs; i++)
		if (addr_same(&m->addrs[i], a))
			return 0;
	if (m->naddrs == m->capaddrs) {
		size_t cap = m->capaddrs ? m->capaddrs * 2 : 16;
		struct rt_addr *v = realloc(m->addrs, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		m->addrs = v;
		m->capaddrs = cap;
	}
	m->addrs[m->naddrs++] = *a;
	mark(rt, &rt->dirty_links);
	return 0;
}

int rt_model_addr_del(struct rt_table *rt, const struct rt_addr *a)
{
	struct rt_model *m = &rt->m;

	for (size_t i = 0; i < m->naddrs; i++)
		if (addr_same(&m->addrs[i], a)) {
			m->addrs[i] = m->addrs[--m->naddrs];
			mark(rt, &rt->dirty_links);
			return 0;
		}
	return -ENOENT;
}

/* ---- neighbours ---- */

int rt_model_neigh_set(struct rt_table *rt, const struct rt_nkey *k, uint16_t state,
		       const uint8_t *mac)
{
	uint64_t hash = rt_hash_bytes(k, sizeof(*k), 1);
	struct rt_nnode *n = (struct rt_nnode *)rt_map_find(&rt->m.neighs, k, hash);

	if (!n) {
		n = calloc(1, sizeof(*n));
		if (!n)
			return -ENOMEM;
		n->h.hash = hash;
		n->key = *k;
		if (rt_map_insert(&rt->m.neighs, &n->h) < 0) {
			free(n);
			return -ENOMEM;
		}
	}
	/* The kernel omits the address of an entry that has none (yet). */
	if (mac) {
		memcpy(n->mac, mac, 6);
		n->has_mac = 1;
	} else if (state & (NUD_INCOMPLETE | NUD_FAILED | NUD_NONE)) {
		n->has_mac = 0;
	}
	n->state = state;
	mark(rt, &rt->dirty_neigh);
	return 0;
}

int rt_model_neigh_del(struct rt_table *rt, const struct rt_nkey *k)
{
	struct rt_hent *h = rt_map_find(&rt->m.neighs, k, rt_hash_bytes(k, sizeof(*k), 1));

	if (!h)
		return -ENOENT;
	rt_map_remove(&rt->m.neighs, h);
	free(h);
	mark(rt, &rt->dirty_neigh);
	return 0;
}
