// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Immutable versions and the lookups on them.
 *
 * A version is three independent parts (routes, links, neighbours); each is
 * rebuilt from the model only when it changed, so a neighbour going STALE
 * does not rebuild a million-route trie. The new rt_view shares the parts
 * that did not change; after rcu_assign_pointer() the old view and the parts
 * it does not share with the new one are freed by call_rcu().
 */
#include <errno.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/key.h"
#include "rt-internal.h"

#ifndef IFF_LOWER_UP /* linux/if.h has it; glibc's net/if.h, which rt uses, not */
#define IFF_LOWER_UP (1u << 16)
#endif

/* The kernel's NUD_VALID (include/net/neighbour.h, not exported): states
 * in which the link-layer address may be used. */
#define RT_NUD_VALID                                                           \
	(NUD_PERMANENT | NUD_NOARP | NUD_REACHABLE | NUD_PROBE | NUD_STALE | NUD_DELAY)

static const char *const verdict_names[] = { RT_VERDICT_LIST(LOOM_XSTR) };
static const char *const reason_names[] = { RT_REASON_LIST(LOOM_XSTR) };
static const char *const ctr_names[] = { RT_CTR_LIST(LOOM_XSTR) };

const char *rt_verdict_name(enum rt_verdict v)
{
	return (unsigned)v < RT_VERDICT_MAX ? verdict_names[v] : "?";
}

const char *rt_reason_name(enum rt_reason r)
{
	return (unsigned)r < RT_REASON_MAX ? reason_names[r] : "?";
}

const char *rt_ctr_name(enum rt_ctr c)
{
	return (unsigned)c < RT_CTR_MAX ? ctr_names[c] : "?";
}

/* ---- route part ---- */

void rt_fib_free(struct rt_fib *f)
{
	if (!f)
		return;
	for (int i = 0; i < RT_NTRIES; i++)
		lpm_free(&f->t[i]);
	free(f->leaves);
	free(f->paths);
	free(f);
}

struct leaf_intern {
	uint32_t *slots;   /* leaf index + 1, 0 empty */
	uint32_t mask;
};

static uint64_t leaf_hash(uint8_t type, uint8_t plen, const struct rt_path *p, unsigned n)
{
	uint64_t h = rt_hash_bytes(p, n * sizeof(*p), (uint64_t)type << 8 | plen);

	return h;
}

static bool leaf_eq(const struct rt_fib *f, const struct rt_leaf *l, uint8_t type, uint8_t plen,
		    const struct rt_path *p, unsigned n)
{
	return l->type == type && l->plen == plen && l->npaths == n &&
	       memcmp(&f->paths[l->first], p, n * sizeof(*p)) == 0;
}

static int grow(void **p, uint32_t n, uint32_t *cap, size_t esize)
{
	if (n < *cap)
		return 0;
	uint32_t c = *cap ? *cap * 2 : 64;
	void *v = realloc(*p, (size_t)c * esize);

	if (!v)
		return -ENOMEM;
	*p = v;
	*cap = c;
	return 0;
}

/* The leaf for a route, shared with every route of the same content. */
static int leaf_get(struct rt_fib *f, struct leaf_intern *li, uint32_t *lcap, uint32_t *pcap,
		    const struct rt_rnode *n, uint32_t *out)
{
	const struct rt_route *r = &n->var[0];
	uint64_t h = leaf_hash(r->type, n->key.len, r->paths, r->npaths);

	if (f->nleaves * 2 >= li->mask) {
		uint32_t nmask = li->mask * 2 + 1;
		uint32_t *s = calloc((size_t)nmask + 1, sizeof(*s));

		if (!s)
			return -ENOMEM;
		for (uint32_t i = 0; i <= li->mask; i++) {
			if (!li->slots[i])
				continue;
			const struct rt_leaf *l = &f->leaves[li->slots[i] - 1];
			uint64_t lh = leaf_hash(l->type, l->plen, &f->paths[l->first], l->npaths);
			uint32_t j = (uint32_t)lh & nmask;

			while (s[j])
				j = (j + 1) & nmask;
			s[j] = li->slots[i];
		}
		free(li->slots);
		li->slots = s;
		li->mask = nmask;
	}
	uint32_t j = (uint32_t)h & li->mask;

	for (; li->slots[j]; j = (j + 1) & li->mask)
		if (leaf_eq(f, &f->leaves[li->slots[j] - 1], r->type, n->key.len, r->paths,
			    r->npaths)) {
			*out = li->slots[j];
			return 0;
		}
	if (grow((void **)&f->leaves, f->nleaves, lcap, sizeof(*f->leaves)) < 0)
		return -ENOMEM;
	while (f->npaths + r->npaths > *pcap)
		if (grow((void **)&f->paths, *pcap, pcap, sizeof(*f->paths)) < 0)
			return -ENOMEM;
	struct rt_leaf *l = &f->leaves[f->nleaves];
	unsigned wsum = 0;

	l->type = r->type;
	l->plen = n->key.len;
	l->npaths = r->npaths;
	l->first = f->npaths;
	for (unsigned i = 0; i < r->npaths; i++)
		wsum += r->paths[i].weight;
	l->wsum = (uint8_t)(wsum > 255 ? 255 : wsum);
	if (r->npaths)
		memcpy(&f->paths[f->npaths], r->paths, r->npaths * sizeof(*r->paths));
	f->npaths += r->npaths;
	li->slots[j] = ++f->nleaves;
	*out = f->nleaves;
	return 0;
}

/*
 * Counting sort by (trie, length), then insert in ascending length: the
 * trie's build rule. O(routes + trie size).
 */
struct rt_fib *rt_fib_build(const struct rt_model *m)
{
	enum { NB = RT_NTRIES * 129 };
	struct rt_fib *f = calloc(1, sizeof(*f));
	uint32_t *count = calloc(NB + 1, sizeof(*count));
	const struct rt_rnode **order = malloc((m->routes.n + 1) * sizeof(*order));
	struct leaf_intern li = { calloc(64, sizeof(uint32_t)), 63 };
	uint32_t lcap = 0, pcap = 0;
	int r = 0;

	if (!f || !count || !order || !li.slots)
		goto fail;
	for (int i = 0; i < RT_NTRIES; i++)
		if (lpm_init(&f->t[i], i <= RT_T4_MAIN ? 96 : 0, i <= RT_T4_MAIN ? 8 : 4) < 0)
			goto fail;
	for (size_t b = 0; b < m->routes.nb; b++)
		for (const struct rt_hent *h = m->routes.b[b]; h; h = h->next) {
			const struct rt_rnode *n = (const struct rt_rnode *)h;

			count[n->key.tid * 129 + n->key.len + 1]++;
		}
	for (int i = 1; i <= NB; i++)
		count[i] += count[i - 1];
	for (size_t b = 0; b < m->routes.nb; b++)
		for (const struct rt_hent *h = m->routes.b[b]; h; h = h->next) {
			const struct rt_rnode *n = (const struct rt_rnode *)h;

			order[count[n->key.tid * 129 + n->key.len]++] = n;
		}
	for (size_t i = 0; i < m->routes.n && r == 0; i++) {
		const struct rt_rnode *n = order[i];
		uint32_t leaf;

		r = leaf_get(f, &li, &lcap, &pcap, n, &leaf);
		if (r == 0)
			r = lpm_insert(&f->t[n->key.tid], n->key.dst, n->key.len, leaf);
		if (n->key.tid <= RT_T4_MAIN)
			f->routes4++;
		else
			f->routes6++;
	}
	if (r < 0)
		goto fail;
	f->bytes = sizeof(*f) + (size_t)lcap * sizeof(*f->leaves) + (size_t)pcap * sizeof(*f->paths);
	for (int i = 0; i < RT_NTRIES; i++) {
		/* Give back the doubling slack: this version lives until the
		 * next route change. */
		uint32_t *e = realloc(f->t[i].e, f->t[i].used * sizeof(*e));

		if (e) {
			f->t[i].e = e;
			f->t[i].cap = f->t[i].used;
		}
		f->bytes += f->t[i].cap * sizeof(uint32_t);
	}
	free(count);
	free(order);
	free(li.slots);
	return f;
fail:
	free(count);
	free(order);
	free(li.slots);
	rt_fib_free(f);
	return NULL;
}

/* ---- link part ---- */

static void links_free(struct rt_links *l)
{
	if (!l)
		return;
	free(l->v);
	free(l->addr_first);
	free(l->addrs);
	free(l->l2len);
	free(l);
}

static int cmp_mlink(const void *a, const void *b)
{
	const struct rt_mlink *x = a, *y = b;

	return x->ifindex < y->ifindex ? -1 : x->ifindex > y->ifindex;
}

static struct rt_links *links_build(struct rt_model *m)
{
	struct rt_links *l = calloc(1, sizeof(*l));
	size_t n = m->nlinks;

	if (!l)
		return NULL;
	if (n)
		qsort(m->links, n, sizeof(*m->links), cmp_mlink);
	l->v = calloc(n + 1, sizeof(*l->v));
	l->addr_first = calloc(n + 1, sizeof(*l->addr_first));
	l->l2len = calloc(n + 1, sizeof(*l->l2len));
	l->addrs = calloc(m->naddrs + 1, sizeof(*l->addrs));
	if (!l->v || !l->addr_first || !l->addrs || !l->l2len) {
		links_free(l);
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		const struct rt_mlink *ml = &m->links[i];
		struct rt_link *o = &l->v[i];

		o->ifindex = ml->ifindex;
		memcpy(o->name, ml->name, sizeof(o->name));
		memcpy(o->mac, ml->mac, 6);
		o->has_mac = ml->l2len == 6;
		o->flags = ml->flags;
		o->mtu = ml->mtu;
		/* Carrier (LOWER_UP) is what the kernel's own forwarding goes by.
		 * RUNNING follows operstate, which linkwatch updates up to a
		 * second after the carrier comes: taking it made the agent drop
		 * traffic as "link down" for that second after a link came up. */
		o->up = (ml->flags & IFF_UP) && (ml->flags & (IFF_RUNNING | IFF_LOWER_UP));
		l->l2len[i] = ml->l2len;
		l->addr_first[i] = l->naddrs;
		for (size_t a = 0; a < m->naddrs; a++)
			if (m->addrs[a].ifindex == ml->ifindex)
				l->addrs[l->naddrs++] = m->addrs[a];
		o->naddrs = l->naddrs - l->addr_first[i];
	}
	l->n = (uint32_t)n;
	return l;
}

static const struct rt_link *link_find(const struct rt_links *l, uint32_t ifindex, uint32_t *pos)
{
	uint32_t lo = 0, hi = l->n;

	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;

		if (l->v[mid].ifindex < ifindex)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < l->n && l->v[lo].ifindex == ifindex) {
		if (pos)
			*pos = lo;
		return &l->v[lo];
	}
	return NULL;
}

/* ---- neighbour part ---- */

static void neighs_free(struct rt_neighs *n)
{
	if (!n)
		return;
	free(n->slots);
	free(n);
}

static uint32_t nhash(uint32_t ifindex, const uint8_t addr[16])
{
	uint64_t a, b;

	memcpy(&a, addr, 8);
	memcpy(&b, addr + 8, 8);
	uint64_t h = (a * 0x9e3779b97f4a7c15ULL) ^ (b + ifindex) * 0xc2b2ae3d27d4eb4fULL;

	return (uint32_t)(h ^ (h >> 29));
}

static struct rt_neighs *neighs_build(const struct rt_model *m)
{
	struct rt_neighs *t = calloc(1, sizeof(*t));
	uint32_t size = 16;

	if (!t)
		return NULL;
	while (size < m->neighs.n * 2 + 1)
		size *= 2;
	t->slots = calloc(size, sizeof(*t->slots));
	if (!t->slots) {
		free(t);
		return NULL;
	}
	t->mask = size - 1;
	for (size_t b = 0; b < m->neighs.nb; b++)
		for (const struct rt_hent *h = m->neighs.b[b]; h; h = h->next) {
			const struct rt_nnode *n = (const struct rt_nnode *)h;
			uint32_t j = nhash(n->key.ifindex, n->key.addr) & t->mask;

			while (t->slots[j].ifindex)
				j = (j + 1) & t->mask;
			struct rt_nent *e = &t->slots[j];

			e->ifindex = n->key.ifindex;
			memcpy(e->addr, n->key.addr, 16);
			e->state = n->state;
			e->has_mac = n->has_mac;
			memcpy(e->mac, n->mac, 6);
			t->n++;
		}
	return t;
}

static const struct rt_nent *neigh_find(const struct rt_neighs *t, uint32_t ifindex,
					const uint8_t addr[16])
{
	for (uint32_t j = nhash(ifindex, addr) & t->mask; t->slots[j].ifindex; j = (j + 1) & t->mask)
		if (t->slots[j].ifindex == ifindex && memcmp(t->slots[j].addr, addr, 16) == 0)
			return &t->slots[j];
	return NULL;
}

/* ---- publication ---- */

struct rt_garbage {
	struct rcu_head rcu;
	struct rt_view *view;
	struct rt_fib *fib;
	struct rt_links *links;
	struct rt_neighs *neigh;
};

static void garbage_free(struct rcu_head *head)
{
	/* liburcu's caa_container_of casts through a const pointer: clang's
	 * -Wcast-qual objects, so the same arithmetic by hand */
	struct rt_garbage *g = (struct rt_garbage *)(void *)((char *)head -
							      offsetof(struct rt_garbage, rcu));

	rt_fib_free(g->fib);
	links_free(g->links);
	neighs_free(g->neigh);
	free(g->view);
	free(g);
}

void rt_view_free_now(struct rt_view *v)
{
	if (!v)
		return;
	rt_fib_free(v->fib);
	links_free(v->links);
	neighs_free(v->neigh);
	free(v);
}

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

int rt_publish(struct rt_table *rt)
{
	struct rt_view *old = rt->view;
	struct rt_view *nv = calloc(1, sizeof(*nv));
	struct rt_garbage *g = calloc(1, sizeof(*g));
	bool bf = false, bl = false, bn = false;

	if (!nv || !g)
		goto nomem;
	*nv = old ? *old : (struct rt_view){ 0 };
	if (rt->dirty_fib || !nv->fib) {
		uint64_t t0 = now_us();

		nv->fib = rt_fib_build(&rt->m);
		if (!nv->fib)
			goto nomem;
		bf = true;
		rt->fib_build_us = now_us() - t0;
	}
	if (rt->dirty_links || !nv->links) {
		nv->links = links_build(&rt->m);
		if (!nv->links)
			goto nomem;
		bl = true;
	}
	if (rt->dirty_neigh || !nv->neigh) {
		nv->neigh = neighs_build(&rt->m);
		if (!nv->neigh)
			goto nomem;
		bn = true;
	}
	rt->dirty_fib = rt->dirty_links = rt->dirty_neigh = false;
	rcu_assign_pointer(rt->view, nv);
	if (bf)
		rt_ctr_inc(rt, RT_CTR_PUBLISH_FIB);
	if (bl)
		rt_ctr_inc(rt, RT_CTR_PUBLISH_LINKS);
	if (bn)
		rt_ctr_inc(rt, RT_CTR_PUBLISH_NEIGH);
	if (!old) {
		free(g);
		return 0;
	}
	/* Readers may still hold old and the parts replaced: free them after a
	 * grace period; the parts carried over now belong to nv. */
	g->view = old;
	g->fib = bf ? old->fib : NULL;
	g->links = bl ? old->links : NULL;
	g->neigh = bn ? old->neigh : NULL;
	call_rcu(&g->rcu, garbage_free);
	return 0;
nomem:
	/* Free only what this call built; the model stays dirty for a retry. */
	if (bf)
		rt_fib_free(nv->fib);
	if (bl)
		links_free(nv->links);
	if (bn)
		neighs_free(nv->neigh);
	free(nv);
	free(g);
	return -ENOMEM;
}

/* ---- lookups (readers) ---- */

static void icmp_set(struct rt_hop *o, bool v4, enum rt_reason r)
{
	/* ICMPv4 type 3 (unreachable) codes: 0 net, 1 host, 13 prohibited;
	 * ICMPv6 type 1 codes: 0 no route, 1 prohibited, 3 address unreachable. */
	o->icmp = r != RT_R_BLACKHOLE && r != RT_R_NEIGH;
	o->icmp_type = v4 ? 3 : 1;
	switch (r) {
	case RT_R_UNREACHABLE:
		o->icmp_code = v4 ? 1 : 0;
		break;
	case RT_R_PROHIBIT:
		o->icmp_code = v4 ? 13 : 1;
		break;
	case RT_R_NEIGH:
		o->icmp_code = v4 ? 1 : 3;
		break;
	case RT_R_BLACKHOLE:
		o->icmp_type = 0;
		o->icmp_code = 0;
		break;
	default:
		o->icmp_code = 0;
		break;
	}
}

static void drop(struct rt_hop *o, bool v4, enum rt_reason r)
{
	o->verdict = RT_DROP;
	o->reason = r;
	icmp_set(o, v4, r);
}

/* Pick a path: the first usable one, or by weighted flow hash among those
 * whose link is up. Returns NULL when none is usable. */
static const struct rt_path *path_pick(const struct rt_view *v, const struct rt_leaf *l,
				       bool by_hash, uint32_t hash)
{
	const struct rt_path *p = &v->fib->paths[l->first];
	unsigned n = l->npaths, start = 0;

	if (by_hash && n > 1 && l->wsum) {
		unsigned w = (unsigned)(((uint64_t)hash * l->wsum) >> 32);

		while (start < n - 1 && w >= p[start].weight) {
			w -= p[start].weight;
			start++;
		}
	}
	for (unsigned i = 0; i < n; i++) {
		const struct rt_path *c = &p[(start + i) % n];
		const struct rt_link *lk = link_find(v->links, c->ifindex, NULL);

		if (lk && lk->up)
			return c;
	}
	return NULL;
}

static void lookup(const struct rt_table *rt, const uint8_t dst[16], bool by_hash, uint32_t hash,
		   struct rt_hop *o)
{
	const struct rt_view *v = rcu_dereference(rt->view);
	bool v4 = key_addr_is_v4(dst);
	const struct rt_fib *f = v->fib;
	uint32_t e;

	memset(o, 0, sizeof(*o));
	/* The kernel consults the local table before main. */
	e = lpm_lookup(&f->t[v4 ? RT_T4_LOCAL : RT_T6_LOCAL], dst);
	if (!e)
		e = lpm_lookup(&f->t[v4 ? RT_T4_MAIN : RT_T6_MAIN], dst);
	if (!e) {
		drop(o, v4, RT_R_NO_ROUTE);
		return;
	}
	const struct rt_leaf *l = &f->leaves[e - 1];

	o->prefix_len = l->plen;
	o->npaths = l->npaths;
	switch (l->type) {
	case RTN_LOCAL:
	case RTN_BROADCAST:
	case RTN_ANYCAST:
		o->verdict = RT_LOCAL;
		o->reason = RT_R_OK;
		return;
	case RTN_BLACKHOLE:
		drop(o, v4, RT_R_BLACKHOLE);
		return;
	case RTN_UNREACHABLE:
		drop(o, v4, RT_R_UNREACHABLE);
		return;
	case RTN_PROHIBIT:
		drop(o, v4, RT_R_PROHIBIT);
		return;
	case RTN_UNICAST:
		break;
	default:
		drop(o, v4, RT_R_NO_ROUTE);
		return;
	}
	const struct rt_path *p = path_pick(v, l, by_hash, hash);

	if (!p) {
		drop(o, v4, RT_R_LINK_DOWN);
		return;
	}
	uint32_t pos = 0;
	const struct rt_link *lk = link_find(v->links, p->ifindex, &pos);

	o->ifindex = p->ifindex;
	o->mtu = lk->mtu;
	memcpy(o->nexthop, p->has_gw ? p->gw : dst, 16);
	memcpy(o->if_mac, lk->mac, 6);
	o->l2 = lk->has_mac;
	o->reason = RT_R_OK;
	o->verdict = RT_FORWARD;
	if (!o->l2)
		return;
	const struct rt_nent *n = neigh_find(v->neigh, p->ifindex, o->nexthop);

	if (n && n->has_mac && (n->state & RT_NUD_VALID)) {
		memcpy(o->neigh_mac, n->mac, 6);
		o->neigh_known = true;
		return;
	}
	o->verdict = RT_NO_NEIGH;
	o->reason = RT_R_NEIGH;
	icmp_set(o, v4, RT_R_NEIGH);
}

void rt_lookup(const struct rt_table *rt, const uint8_t dst[16], struct rt_hop *out)
{
	lookup(rt, dst, false, 0, out);
}

void rt_lookup_flow(const struct rt_table *rt, const uint8_t dst[16], uint32_t flow_hash,
		    struct rt_hop *out)
{
	lookup(rt, dst, true, flow_hash, out);
}

int rt_link_get(const struct rt_table *rt, uint32_t ifindex, struct rt_link *out)
{
	const struct rt_view *v = rcu_dereference(rt->view);
	const struct rt_link *l = link_find(v->links, ifindex, NULL);

	if (!l)
		return -ENOENT;
	*out = *l;
	return 0;
}

int rt_link_by_name(const struct rt_table *rt, const char *name, struct rt_link *out)
{
	const struct rt_view *v = rcu_dereference(rt->view);

	for (uint32_t i = 0; i < v->links->n; i++)
		if (strncmp(v->links->v[i].name, name, IF_NAMESIZE) == 0) {
			*out = v->links->v[i];
			return 0;
		}
	return -ENOENT;
}

int rt_link_addrs(const struct rt_table *rt, uint32_t ifindex, struct rt_addr *out, unsigned max)
{
	const struct rt_view *v = rcu_dereference(rt->view);
	uint32_t pos;
	const struct rt_link *l = link_find(v->links, ifindex, &pos);

	if (!l)
		return -ENOENT;
	for (unsigned i = 0; i < l->naddrs && i < max; i++)
		out[i] = v->links->addrs[v->links->addr_first[pos] + i];
	return (int)l->naddrs;
}

/* Does the prefix of a hold b (both 16 bytes; IPv4 lengths count from 96)? */
static bool same_prefix(const struct rt_addr *a, const uint8_t b[16])
{
	unsigned bits = a->prefix_len + (key_addr_is_v4(a->addr) ? 96u : 0u);
	unsigned whole = bits / 8, rest = bits % 8;

	if (bits > 128 || memcmp(a->addr, b, whole))
		return false;
	return !rest || !((a->addr[whole] ^ b[whole]) & (uint8_t)(0xff00u >> rest));
}

static bool link_local6(const uint8_t a[16])
{
	return a[0] == 0xfe && (a[1] & 0xc0) == 0x80;
}

int rt_link_addr(const struct rt_table *rt, uint32_t ifindex, const uint8_t dst[16],
		 uint8_t out[16])
{
	const struct rt_view *v = rcu_dereference(rt->view);
	uint32_t pos;
	const struct rt_link *l = link_find(v->links, ifindex, &pos);
	bool v4 = key_addr_is_v4(dst);
	const struct rt_addr *best = NULL;
	int best_score = -1;

	if (!l)
		return -ENOENT;
	for (unsigned i = 0; i < l->naddrs; i++) {
		const struct rt_addr *a = &v->links->addrs[v->links->addr_first[pos] + i];
		int score = 0;

		if (key_addr_is_v4(a->addr) != v4)
			continue;
		if (same_prefix(a, dst))
			score = 2;
		else if (!v4 && link_local6(a->addr) == link_local6(dst))
			score = 1;
		if (score > best_score) {
			best = a;
			best_score = score;
		}
	}
	if (!best)
		return -ENOENT;
	memcpy(out, best->addr, 16);
	return 0;
}

int rt_addr_find(const struct rt_table *rt, const uint8_t addr[16], struct rt_addr *out)
{
	const struct rt_view *v = rcu_dereference(rt->view);

	for (uint32_t i = 0; i < v->links->naddrs; i++)
		if (memcmp(v->links->addrs[i].addr, addr, 16) == 0) {
			if (out)
				*out = v->links->addrs[i];
			return 0;
		}
	return -ENOENT;
}

int rt_neigh_get(const struct rt_table *rt, uint32_t ifindex, const uint8_t addr[16],
		 uint16_t *state, uint8_t mac[6], bool *has_mac)
{
	const struct rt_view *v = rcu_dereference(rt->view);
	const struct rt_nent *n = neigh_find(v->neigh, ifindex, addr);

	if (!n)
		return -ENOENT;
	if (state)
		*state = n->state;
	if (mac)
		memcpy(mac, n->mac, 6);
	if (has_mac)
		*has_mac = n->has_mac;
	return 0;
}

void rt_stats_get(const struct rt_table *rt, struct rt_stats *out)
{
	const struct rt_view *v = rt->view;

	memset(out, 0, sizeof(*out));
	for (int i = 0; i < RT_CTR_MAX; i++)
		out->ctr[i] = atomic_load_explicit(&rt->ctr[i], memory_order_relaxed);
	if (!v)
		return;
	out->routes4 = v->fib->routes4;
	out->routes6 = v->fib->routes6;
	out->links = v->links->n;
	out->neighs = v->neigh->n;
	out->fib_bytes = v->fib->bytes;
	out->fib_build_us = rt->fib_build_us;
}
