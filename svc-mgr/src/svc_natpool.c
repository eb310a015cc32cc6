// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * NAT gateway address and port pools; the design is in svc_natpool.h.
 *
 * Three structures work together:
 *  - a free-port bitmap per (pool address, protocol), allocated on the first
 *    port taken and freed with the last, plus a bitmap per protocol of the
 *    addresses whose port space is full, so that finding an address with a
 *    free port is as quick as finding a free port;
 *  - a slab of mappings chained into two hash tables (by inside endpoint,
 *    by outside endpoint);
 *  - a slab of inside hosts (address -> paired pool address, mapping count),
 *    chained into a third.
 * Slab entries are named by 32-bit indices so the slabs can be reallocated;
 * NIL ends a chain.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "common/compiler.h"
#include "common/key.h"
#include "svc_natpool.h"

#define NIL UINT32_MAX
#define SLAB_MIN 64u

/*
 * A set of n bits (n <= 65536) with a summary bit per 64-bit word, set when
 * the word is all ones: finding a clear bit reads the summary, then one
 * word. Bits past n are set for good so they are never found clear.
 */
struct bitset {
	uint32_t n;
	uint32_t nwords;
	uint64_t *full;   /* nfull words, right after word[] */
	uint64_t word[];
};

static uint32_t div_up64(uint32_t n)
{
	return (n + 63) / 64;
}

static struct bitset *bitset_new(uint32_t n)
{
	uint32_t nwords = div_up64(n), nfull = div_up64(nwords);
	struct bitset *b = calloc(1, sizeof(*b) + (size_t)(nwords + nfull) * sizeof(uint64_t));

	if (!b)
		return NULL;
	b->n = n;
	b->nwords = nwords;
	b->full = b->word + nwords;
	if (n % 64)
		b->word[nwords - 1] = ~0ull << (n % 64);
	if (nwords % 64)
		b->full[nfull - 1] = ~0ull << (nwords % 64);
	return b;
}

static bool bitset_test(const struct bitset *b, uint32_t i)
{
	return b->word[i / 64] >> (i % 64) & 1;
}

static void bitset_set(struct bitset *b, uint32_t i)
{
	uint32_t w = i / 64;

	b->word[w] |= 1ull << (i % 64);
	if (b->word[w] == ~0ull)
		b->full[w / 64] |= 1ull << (w % 64);
}

static void bitset_clear(struct bitset *b, uint32_t i)
{
	uint32_t w = i / 64;

	b->word[w] &= ~(1ull << (i % 64));
	b->full[w / 64] &= ~(1ull << (w % 64));
}

/* The first word index >= from whose summary bit is clear, or NIL. */
static uint32_t bitset_next_open_word(const struct bitset *b, uint32_t from)
{
	uint32_t nfull = div_up64(b->nwords);

	for (uint32_t f = from / 64; f < nfull; f++) {
		uint64_t open = ~b->full[f];

		if (f == from / 64)
			open &= ~0ull << (from % 64);
		if (open)
			return f * 64 + (uint32_t)__builtin_ctzll(open);
	}
	return NIL;
}

/*
 * A clear bit, the first at or after start in circular order, or NIL when
 * every bit is set. start < n.
 */
static uint32_t bitset_find_clear(const struct bitset *b, uint32_t start)
{
	uint32_t w = start / 64;
	uint64_t open = ~b->word[w] & (~0ull << (start % 64));

	if (open)
		return w * 64 + (uint32_t)__builtin_ctzll(open);
	/* Wrapping to word 0 also finds clear bits of word w below start. */
	uint32_t x = bitset_next_open_word(b, w + 1);
	if (x == NIL)
		x = bitset_next_open_word(b, 0);
	if (x == NIL)
		return NIL;
	return x * 64 + (uint32_t)__builtin_ctzll(~b->word[x]);
}

struct nat_range {
	uint8_t first[16];
	uint32_t count; /* addresses in the range */
	uint32_t base;  /* pool index of first */
};

struct nat_addr {
	struct bitset *ports[SVC_NATPOOL_NPROTO]; /* NULL while used is 0 */
	uint32_t used[SVC_NATPOOL_NPROTO];
	uint32_t cursor[SVC_NATPOOL_NPROTO];      /* where the next search starts */
};

struct nat_map {
	uint8_t in_addr[16];
	uint16_t in_port;
	uint16_t out_port;   /* offset from port_min */
	uint32_t out_idx;    /* pool address index */
	uint32_t refs;       /* 0: slot on the free list */
	uint32_t next_in;    /* inside chain; free list when refs is 0 */
	uint32_t next_out;
	uint32_t host;
	uint8_t pi;          /* enum svc_natpool_proto */
};

struct nat_host {
	uint8_t addr[16];
	uint32_t out_idx;    /* paired pool address */
	uint32_t nmaps;      /* 0: slot on the free list */
	uint32_t next;
};

struct svc_natpool {
	uint16_t port_min;
	uint32_t nports;
	int family;          /* 0 until the first range, then 4 or 6 */
	uint64_t seed;

	struct nat_range *ranges; /* sorted by first address */
	uint32_t nranges;
	struct nat_addr *addrs;
	uint32_t naddrs;
	struct bitset *addr_full[SVC_NATPOOL_NPROTO]; /* NULL while naddrs is 0 */

	/* Slab capacity == bucket count, a power of two: load factor <= 1. */
	struct nat_map *maps;
	uint32_t *in_bkt, *out_bkt;
	uint32_t map_cap, map_free, nmaps;

	struct nat_host *hosts;
	uint32_t *host_bkt;
	uint32_t host_cap, host_free, nhosts;

	uint64_t alloc_fail;
};

/* -- hashing ------------------------------------------------------------- */

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 32;
	x *= 0xd6e8feb86659fd93ull;
	x ^= x >> 32;
	x *= 0xd6e8feb86659fd93ull;
	x ^= x >> 32;
	return x;
}

static uint64_t hash_addr(uint64_t seed, const uint8_t a[16])
{
	uint64_t hi, lo;

	memcpy(&hi, a, 8);
	memcpy(&lo, a + 8, 8);
	return mix64(mix64(seed ^ hi) ^ lo);
}

static uint32_t hash_in(const struct svc_natpool *p, uint8_t pi, const uint8_t a[16], uint16_t port)
{
	return (uint32_t)mix64(hash_addr(p->seed, a) ^ ((uint64_t)pi << 16 | port));
}

static uint32_t hash_out(const struct svc_natpool *p, uint8_t pi, uint32_t idx, uint16_t off)
{
	return (uint32_t)mix64(p->seed ^ ((uint64_t)idx << 24 | (uint64_t)pi << 16 | off));
}

/* -- addresses ----------------------------------------------------------- */

static int addr_family(const uint8_t a[16])
{
	return key_addr_is_v4(a) ? 4 : 6;
}

/*
 * b - a as a 128-bit big-endian difference, when a <= b and the difference
 * fits 32 bits; NIL otherwise (NIL itself is beyond any pool).
 */
static uint32_t addr_diff(const uint8_t a[16], const uint8_t b[16])
{
	uint8_t d[16];
	unsigned borrow = 0;

	for (int i = 15; i >= 0; i--) {
		int v = (int)b[i] - (int)a[i] - (int)borrow;
		borrow = v < 0;
		d[i] = (uint8_t)(v + (borrow ? 256 : 0));
	}
	if (borrow)
		return NIL;
	for (int i = 0; i < 12; i++)
		if (d[i])
			return NIL;
	return (uint32_t)d[12] << 24 | (uint32_t)d[13] << 16 | (uint32_t)d[14] << 8 | d[15];
}

static void addr_add(uint8_t out[16], const uint8_t a[16], uint32_t off)
{
	unsigned carry = 0;

	for (int i = 15; i >= 0; i--) {
		unsigned v = a[i] + (off & 0xff) + carry;
		out[i] = (uint8_t)v;
		carry = v >> 8;
		off >>= 8;
	}
}

/* The index of the range with the greatest first <= a, or NIL. */
static uint32_t range_floor(const struct svc_natpool *p, const uint8_t a[16])
{
	uint32_t lo = 0, hi = p->nranges;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (memcmp(p->ranges[mid].first, a, 16) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo ? lo - 1 : NIL;
}

/* The pool index of address a, or NIL. */
static uint32_t addr_index(const struct svc_natpool *p, const uint8_t a[16])
{
	uint32_t r = range_floor(p, a);

	if (r == NIL)
		return NIL;
	uint32_t off = addr_diff(p->ranges[r].first, a);
	if (off >= p->ranges[r].count)
		return NIL;
	return p->ranges[r].base + off;
}

static void addr_of_index(const struct svc_natpool *p, uint32_t idx, uint8_t out[16])
{
	for (uint32_t r = 0; r < p->nranges; r++) {
		const struct nat_range *rg = &p->ranges[r];
		if (idx >= rg->base && idx - rg->base < rg->count) {
			addr_add(out, rg->first, idx - rg->base);
			return;
		}
	}
	memset(out, 0, 16);
}

/* -- protocols and arguments ---------------------------------------------- */

/* The port space of proto on this pool, or -EINVAL. */
static int proto_index(const struct svc_natpool *p, uint8_t proto)
{
	switch (proto) {
	case IPPROTO_TCP:
		return SVC_NATPOOL_TCP;
	case IPPROTO_UDP:
		return SVC_NATPOOL_UDP;
	case IPPROTO_ICMP:
		return p->family == 4 ? SVC_NATPOOL_ICMP : -EINVAL;
	case IPPROTO_ICMPV6:
		return p->family == 6 ? SVC_NATPOOL_ICMP : -EINVAL;
	default:
		return -EINVAL;
	}
}

/* proto's port space if inside is a valid inside endpoint for it. */
static int check_inside(const struct svc_natpool *p, uint8_t proto, const struct svc_nat_ep *in)
{
	if (!p || !in || !p->family)
		return -EINVAL;
	int pi = proto_index(p, proto);
	if (pi < 0)
		return pi;
	if (addr_family(in->addr) != p->family)
		return -EINVAL;
	/* Port 0 never appears on the wire for TCP or UDP; identifier 0 does. */
	if (in->port == 0 && pi != SVC_NATPOOL_ICMP)
		return -EINVAL;
	return pi;
}

/* -- slabs and hash chains ------------------------------------------------- */

static uint32_t map_find_in(const struct svc_natpool *p, uint8_t pi, const uint8_t a[16],
			    uint16_t port)
{
	if (!p->map_cap)
		return NIL;
	uint32_t i = p->in_bkt[hash_in(p, pi, a, port) & (p->map_cap - 1)];
	while (i != NIL) {
		const struct nat_map *m = &p->maps[i];
		if (m->pi == pi && m->in_port == port && !memcmp(m->in_addr, a, 16))
			return i;
		i = m->next_in;
	}
	return NIL;
}

static uint32_t map_find_out(const struct svc_natpool *p, uint8_t pi, uint32_t idx, uint16_t off)
{
	if (!p->map_cap)
		return NIL;
	uint32_t i = p->out_bkt[hash_out(p, pi, idx, off) & (p->map_cap - 1)];
	while (i != NIL) {
		const struct nat_map *m = &p->maps[i];
		if (m->pi == pi && m->out_idx == idx && m->out_port == off)
			return i;
		i = m->next_out;
	}
	return NIL;
}

static void map_link(struct svc_natpool *p, uint32_t i)
{
	struct nat_map *m = &p->maps[i];
	uint32_t hi = hash_in(p, m->pi, m->in_addr, m->in_port) & (p->map_cap - 1);
	uint32_t ho = hash_out(p, m->pi, m->out_idx, m->out_port) & (p->map_cap - 1);

	m->next_in = p->in_bkt[hi];
	p->in_bkt[hi] = i;
	m->next_out = p->out_bkt[ho];
	p->out_bkt[ho] = i;
}

static void map_unlink(struct svc_natpool *p, uint32_t i)
{
	struct nat_map *m = &p->maps[i];
	uint32_t *pp = &p->in_bkt[hash_in(p, m->pi, m->in_addr, m->in_port) & (p->map_cap - 1)];

	while (*pp != i)
		pp = &p->maps[*pp].next_in;
	*pp = m->next_in;
	pp = &p->out_bkt[hash_out(p, m->pi, m->out_idx, m->out_port) & (p->map_cap - 1)];
	while (*pp != i)
		pp = &p->maps[*pp].next_out;
	*pp = m->next_out;
}

/* Room for one more mapping: grow the slab and rehash when it is full. */
static int map_reserve(struct svc_natpool *p)
{
	if (p->map_free != NIL)
		return 0;
	if (p->map_cap > UINT32_MAX / 4)
		return -ENOMEM;
	uint32_t cap = p->map_cap ? p->map_cap * 2 : SLAB_MIN;
	struct nat_map *maps = realloc(p->maps, (size_t)cap * sizeof(*maps));
	if (!maps)
		return -ENOMEM;
	p->maps = maps;
	uint32_t *in_bkt = malloc((size_t)cap * sizeof(*in_bkt));
	uint32_t *out_bkt = malloc((size_t)cap * sizeof(*out_bkt));
	if (!in_bkt || !out_bkt) {
		free(in_bkt);
		free(out_bkt);
		return -ENOMEM;
	}
	free(p->in_bkt);
	free(p->out_bkt);
	p->in_bkt = in_bkt;
	p->out_bkt = out_bkt;
	memset(in_bkt, 0xff, (size_t)cap * sizeof(*in_bkt));
	memset(out_bkt, 0xff, (size_t)cap * sizeof(*out_bkt));
	uint32_t old = p->map_cap;
	p->map_cap = cap;
	/* The slab was full, so every old slot is live. */
	for (uint32_t i = 0; i < old; i++)
		map_link(p, i);
	for (uint32_t i = cap; i-- > old;) {
		p->maps[i].refs = 0;
		p->maps[i].next_in = p->map_free;
		p->map_free = i;
	}
	return 0;
}

static uint32_t host_find(const struct svc_natpool *p, const uint8_t a[16])
{
	if (!p->host_cap)
		return NIL;
	uint32_t i = p->host_bkt[hash_addr(p->seed, a) & (p->host_cap - 1)];
	while (i != NIL && memcmp(p->hosts[i].addr, a, 16))
		i = p->hosts[i].next;
	return i;
}

static void host_link(struct svc_natpool *p, uint32_t i)
{
	uint32_t h = hash_addr(p->seed, p->hosts[i].addr) & (p->host_cap - 1);

	p->hosts[i].next = p->host_bkt[h];
	p->host_bkt[h] = i;
}

static int host_reserve(struct svc_natpool *p)
{
	if (p->host_free != NIL)
		return 0;
	if (p->host_cap > UINT32_MAX / 4)
		return -ENOMEM;
	uint32_t cap = p->host_cap ? p->host_cap * 2 : SLAB_MIN;
	struct nat_host *hosts = realloc(p->hosts, (size_t)cap * sizeof(*hosts));
	if (!hosts)
		return -ENOMEM;
	p->hosts = hosts;
	uint32_t *bkt = malloc((size_t)cap * sizeof(*bkt));
	if (!bkt)
		return -ENOMEM;
	free(p->host_bkt);
	p->host_bkt = bkt;
	memset(bkt, 0xff, (size_t)cap * sizeof(*bkt));
	uint32_t old = p->host_cap;
	p->host_cap = cap;
	for (uint32_t i = 0; i < old; i++)
		host_link(p, i);
	for (uint32_t i = cap; i-- > old;) {
		p->hosts[i].nmaps = 0;
		p->hosts[i].next = p->host_free;
		p->host_free = i;
	}
	return 0;
}

/* -- ports --------------------------------------------------------------- */

/* The port bitmap of (idx, pi), allocated if this is its first port. */
static struct bitset *ports_get(struct svc_natpool *p, uint32_t idx, int pi)
{
	struct nat_addr *a = &p->addrs[idx];

	if (!a->ports[pi])
		a->ports[pi] = bitset_new(p->nports);
	return a->ports[pi];
}

static void port_take(struct svc_natpool *p, uint32_t idx, int pi, uint16_t off)
{
	struct nat_addr *a = &p->addrs[idx];

	bitset_set(a->ports[pi], off);
	if (++a->used[pi] == p->nports)
		bitset_set(p->addr_full[pi], idx);
}

static void port_put(struct svc_natpool *p, uint32_t idx, int pi, uint16_t off)
{
	struct nat_addr *a = &p->addrs[idx];

	bitset_clear(a->ports[pi], off);
	bitset_clear(p->addr_full[pi], idx);
	if (--a->used[pi] == 0) {
		free(a->ports[pi]);
		a->ports[pi] = NULL;
	}
}

/*
 * Record a new mapping of (pi, in) to (idx, off), whose port is free and
 * whose slab, host slab and port bitmap have room (reserved by the caller,
 * so nothing here fails).
 */
static void map_commit(struct svc_natpool *p, int pi, const struct svc_nat_ep *in, uint32_t idx,
		       uint16_t off)
{
	uint32_t h = host_find(p, in->addr);

	if (h == NIL) {
		h = p->host_free;
		p->host_free = p->hosts[h].next;
		memcpy(p->hosts[h].addr, in->addr, 16);
		p->hosts[h].out_idx = idx;
		p->hosts[h].nmaps = 0;
		host_link(p, h);
		p->nhosts++;
	}
	p->hosts[h].nmaps++;

	uint32_t i = p->map_free;
	struct nat_map *m = &p->maps[i];
	p->map_free = m->next_in;
	memcpy(m->in_addr, in->addr, 16);
	m->in_port = in->port;
	m->pi = (uint8_t)pi;
	m->out_idx = idx;
	m->out_port = off;
	m->refs = 1;
	m->host = h;
	map_link(p, i);
	p->nmaps++;
	port_take(p, idx, pi, off);
}

static void map_drop(struct svc_natpool *p, uint32_t i)
{
	struct nat_map *m = &p->maps[i];
	struct nat_host *h = &p->hosts[m->host];

	map_unlink(p, i);
	port_put(p, m->out_idx, m->pi, m->out_port);
	if (--h->nmaps == 0) {
		uint32_t *pp = &p->host_bkt[hash_addr(p->seed, h->addr) & (p->host_cap - 1)];
		while (*pp != m->host)
			pp = &p->hosts[*pp].next;
		*pp = h->next;
		h->next = p->host_free;
		p->host_free = m->host;
		p->nhosts--;
	}
	m->refs = 0;
	m->next_in = p->map_free;
	p->map_free = i;
	p->nmaps--;
}

static void ep_out(const struct svc_natpool *p, const struct nat_map *m, struct svc_nat_ep *out)
{
	addr_of_index(p, m->out_idx, out->addr);
	out->port = (uint16_t)(p->port_min + m->out_port);
}

/* -- public API ------------------------------------------------------------ */

int svc_natpool_new(uint16_t port_min, uint16_t port_max, struct svc_natpool **out)
{
	if (!out || port_min == 0 || port_min > port_max)
		return -EINVAL;
	struct svc_natpool *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->port_min = port_min;
	p->nports = (uint32_t)port_max - port_min + 1;
	p->map_free = NIL;
	p->host_free = NIL;
	/*
	 * The seed only has to be unknown to inside hosts; if the kernel has no
	 * entropy yet, the heap address is a weaker but working fallback.
	 */
	if (getrandom(&p->seed, sizeof(p->seed), GRND_NONBLOCK) != sizeof(p->seed))
		p->seed = mix64((uint64_t)(uintptr_t)p);
	*out = p;
	return 0;
}

int svc_natpool_add_range(struct svc_natpool *p, const uint8_t first[16], const uint8_t last[16])
{
	if (!p || !first || !last)
		return -EINVAL;
	int fam = addr_family(first);
	if (addr_family(last) != fam || (p->family && p->family != fam))
		return -EINVAL;
	uint32_t span = addr_diff(first, last);
	if (memcmp(first, last, 16) > 0)
		return -EINVAL;
	if (span == NIL || span >= SVC_NATPOOL_MAX_ADDRS - p->naddrs)
		return -E2BIG;
	uint32_t count = span + 1;

	/* Sorted ranges: only the neighbours can overlap. */
	uint32_t r = range_floor(p, first);
	if (r != NIL && addr_diff(p->ranges[r].first, first) < p->ranges[r].count)
		return -EEXIST;
	uint32_t at = r == NIL ? 0 : r + 1;
	if (at < p->nranges && memcmp(p->ranges[at].first, last, 16) <= 0)
		return -EEXIST;

	/* Allocate everything first so a failure leaves the pool unchanged. */
	uint32_t naddrs = p->naddrs + count;
	struct bitset *full[SVC_NATPOOL_NPROTO] = { 0 };
	struct nat_range *ranges = realloc(p->ranges, (p->nranges + 1) * sizeof(*ranges));
	if (!ranges)
		return -ENOMEM;
	p->ranges = ranges;
	struct nat_addr *addrs = realloc(p->addrs, naddrs * sizeof(*addrs));
	if (!addrs)
		return -ENOMEM;
	p->addrs = addrs;
	for (int pi = 0; pi < SVC_NATPOOL_NPROTO; pi++) {
		full[pi] = bitset_new(naddrs);
		if (!full[pi]) {
			for (int j = 0; j < pi; j++)
				free(full[j]);
			return -ENOMEM;
		}
	}

	memmove(&ranges[at + 1], &ranges[at], (p->nranges - at) * sizeof(*ranges));
	memcpy(ranges[at].first, first, 16);
	ranges[at].count = count;
	ranges[at].base = p->naddrs;
	p->nranges++;
	memset(&addrs[p->naddrs], 0, count * sizeof(*addrs));
	for (int pi = 0; pi < SVC_NATPOOL_NPROTO; pi++) {
		for (uint32_t i = 0; i < p->naddrs; i++)
			if (addrs[i].used[pi] == p->nports)
				bitset_set(full[pi], i);
		free(p->addr_full[pi]);
		p->addr_full[pi] = full[pi];
	}
	p->naddrs = naddrs;
	p->family = fam;
	return 0;
}

void svc_natpool_free(struct svc_natpool *p)
{
	if (!p)
		return;
	for (uint32_t i = 0; i < p->naddrs; i++)
		for (int pi = 0; pi < SVC_NATPOOL_NPROTO; pi++)
			free(p->addrs[i].ports[pi]);
	for (int pi = 0; pi < SVC_NATPOOL_NPROTO; pi++)
		free(p->addr_full[pi]);
	free(p->addrs);
	free(p->ranges);
	free(p->maps);
	free(p->in_bkt);
	free(p->out_bkt);
	free(p->hosts);
	free(p->host_bkt);
	free(p);
}

int svc_natpool_map(struct svc_natpool *p, uint8_t proto, const struct svc_nat_ep *inside,
		    struct svc_nat_ep *outside)
{
	if (!outside)
		return -EINVAL;
	if (p && !p->family) {
		p->alloc_fail++;
		return -ENOSPC;
	}
	int pi = check_inside(p, proto, inside);
	if (pi < 0)
		return pi;

	uint32_t i = map_find_in(p, (uint8_t)pi, inside->addr, inside->port);
	if (i != NIL) {
		if (p->maps[i].refs == UINT32_MAX)
			return -EOVERFLOW;
		p->maps[i].refs++;
		ep_out(p, &p->maps[i], outside);
		return 0;
	}

	/* Paired pooling: the host's address, else the hashed one, else the next with room. */
	uint32_t h = host_find(p, inside->addr);
	uint32_t start = h != NIL ? p->hosts[h].out_idx :
				    (uint32_t)(hash_addr(p->seed, inside->addr) % p->naddrs);
	uint32_t idx = bitset_find_clear(p->addr_full[pi], start);
	if (idx == NIL) {
		p->alloc_fail++;
		return -ENOSPC;
	}

	int err = map_reserve(p);
	if (!err)
		err = host_reserve(p);
	if (err)
		return err;
	struct bitset *ports = ports_get(p, idx, pi);
	if (!ports)
		return -ENOMEM;

	uint32_t off = (uint32_t)inside->port - p->port_min;
	if (inside->port < p->port_min || off >= p->nports || bitset_test(ports, off)) {
		/* The address is not full, so this finds a port. */
		off = bitset_find_clear(ports, p->addrs[idx].cursor[pi]);
		p->addrs[idx].cursor[pi] = off + 1 < p->nports ? off + 1 : 0;
	}
	map_commit(p, pi, inside, idx, (uint16_t)off);
	outside->port = (uint16_t)(p->port_min + off);
	addr_of_index(p, idx, outside->addr);
	return 0;
}

int svc_natpool_restore(struct svc_natpool *p, uint8_t proto, const struct svc_nat_ep *inside,
			const struct svc_nat_ep *outside)
{
	int pi = check_inside(p, proto, inside);
	if (pi < 0)
		return pi;
	if (!outside)
		return -EINVAL;
	uint32_t idx = addr_index(p, outside->addr);
	uint32_t off = (uint32_t)outside->port - p->port_min;
	if (idx == NIL || outside->port < p->port_min || off >= p->nports)
		return -EINVAL;

	uint32_t i = map_find_in(p, (uint8_t)pi, inside->addr, inside->port);
	if (i != NIL) {
		struct nat_map *m = &p->maps[i];
		if (m->out_idx != idx || m->out_port != off)
			return -EEXIST;
		if (m->refs == UINT32_MAX)
			return -EOVERFLOW;
		m->refs++;
		return 0;
	}
	if (map_find_out(p, (uint8_t)pi, idx, (uint16_t)off) != NIL)
		return -EEXIST;

	int err = map_reserve(p);
	if (!err)
		err = host_reserve(p);
	if (err)
		return err;
	if (!ports_get(p, idx, pi))
		return -ENOMEM;
	map_commit(p, pi, inside, idx, (uint16_t)off);
	return 0;
}

int svc_natpool_release(struct svc_natpool *p, uint8_t proto, const struct svc_nat_ep *inside)
{
	int pi = check_inside(p, proto, inside);
	if (pi < 0)
		return pi;
	uint32_t i = map_find_in(p, (uint8_t)pi, inside->addr, inside->port);
	if (i == NIL)
		return -ENOENT;
	if (--p->maps[i].refs == 0)
		map_drop(p, i);
	return 0;
}

int svc_natpool_lookup_inside(const struct svc_natpool *p, uint8_t proto,
			      const struct svc_nat_ep *inside, struct svc_nat_ep *outside,
			      uint32_t *refs)
{
	int pi = check_inside(p, proto, inside);
	if (pi < 0)
		return -ENOENT;
	uint32_t i = map_find_in(p, (uint8_t)pi, inside->addr, inside->port);
	if (i == NIL)
		return -ENOENT;
	if (outside)
		ep_out(p, &p->maps[i], outside);
	if (refs)
		*refs = p->maps[i].refs;
	return 0;
}

int svc_natpool_lookup_outside(const struct svc_natpool *p, uint8_t proto,
			       const struct svc_nat_ep *outside, struct svc_nat_ep *inside)
{
	if (!p || !outside || !p->family)
		return -ENOENT;
	int pi = proto_index(p, proto);
	if (pi < 0)
		return -ENOENT;
	uint32_t idx = addr_index(p, outside->addr);
	uint32_t off = (uint32_t)outside->port - p->port_min;
	if (idx == NIL || outside->port < p->port_min || off >= p->nports)
		return -ENOENT;
	uint32_t i = map_find_out(p, (uint8_t)pi, idx, (uint16_t)off);
	if (i == NIL)
		return -ENOENT;
	if (inside) {
		memcpy(inside->addr, p->maps[i].in_addr, 16);
		inside->port = p->maps[i].in_port;
	}
	return 0;
}

bool svc_natpool_contains(const struct svc_natpool *p, const uint8_t addr[16])
{
	return p && addr && addr_index(p, addr) != NIL;
}

void svc_natpool_stats(const struct svc_natpool *p, struct svc_natpool_stats *out)
{
	if (!out)
		return;
	memset(out, 0, sizeof(*out));
	if (!p)
		return;
	out->addresses = p->naddrs;
	out->ports = p->nports;
	out->mappings = p->nmaps;
	out->hosts = p->nhosts;
	out->alloc_fail = p->alloc_fail;
}

int svc_natpool_addr_usage(const struct svc_natpool *p, unsigned i, uint8_t addr[16],
			   uint32_t used[SVC_NATPOOL_NPROTO])
{
	if (!p || i >= p->naddrs)
		return -ENOENT;
	if (addr)
		addr_of_index(p, i, addr);
	if (used)
		for (int pi = 0; pi < SVC_NATPOOL_NPROTO; pi++)
			used[pi] = p->addrs[i].used[pi];
	return 0;
}
