// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Backend selection: rr, wrr, wlc, Maglev, and source persistence.
 * The contract is in svc_lb.h; this file explains the choices.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "svc_lb.h"

static const char *const alg_names[] = { SVC_LB_ALG_LIST(LOOM_XSTR) };
static const char *const hash_names[] = { SVC_LB_HASH_LIST(LOOM_XSTR) };

int svc_lb_alg_parse(const char *s, enum svc_lb_alg *out)
{
	if (!s || !out)
		return -EINVAL;
	for (size_t i = 0; i < LOOM_ARRAY_SIZE(alg_names); i++) {
		if (strcmp(s, alg_names[i]) == 0) {
			*out = (enum svc_lb_alg)i;
			return 0;
		}
	}
	return -EINVAL;
}

int svc_lb_hash_parse(const char *s, enum svc_lb_hash *out)
{
	if (!s || !out)
		return -EINVAL;
	for (size_t i = 0; i < LOOM_ARRAY_SIZE(hash_names); i++) {
		if (strcmp(s, hash_names[i]) == 0) {
			*out = (enum svc_lb_hash)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *svc_lb_alg_name(enum svc_lb_alg alg)
{
	return (unsigned)alg < LOOM_ARRAY_SIZE(alg_names) ? alg_names[alg] : "?";
}

const char *svc_lb_hash_name(enum svc_lb_hash hash)
{
	return (unsigned)hash < LOOM_ARRAY_SIZE(hash_names) ? hash_names[hash] : "?";
}

/* ---- SipHash-2-4 ------------------------------------------------------ */

static inline uint64_t rotl64(uint64_t x, int b)
{
	return (x << b) | (x >> (64 - b));
}

#define SIPROUND                                                               \
	do {                                                                   \
		v0 += v1; v1 = rotl64(v1, 13); v1 ^= v0; v0 = rotl64(v0, 32); \
		v2 += v3; v3 = rotl64(v3, 16); v3 ^= v2;                       \
		v0 += v3; v3 = rotl64(v3, 21); v3 ^= v0;                       \
		v2 += v1; v1 = rotl64(v1, 17); v1 ^= v2; v2 = rotl64(v2, 32); \
	} while (0)

/* Little-endian load whatever the host: the hash must not depend on it. */
static inline uint64_t load_le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

uint64_t svc_lb_siphash24(uint64_t k0, uint64_t k1, const void *data, size_t len)
{
	const uint8_t *p = data;
	uint64_t v0 = 0x736f6d6570736575ULL ^ k0;
	uint64_t v1 = 0x646f72616e646f6dULL ^ k1;
	uint64_t v2 = 0x6c7967656e657261ULL ^ k0;
	uint64_t v3 = 0x7465646279746573ULL ^ k1;
	size_t whole = len & ~(size_t)7;
	uint64_t m;

	if (!p)
		len = whole = 0;
	for (size_t i = 0; i < whole; i += 8) {
		m = load_le64(p + i);
		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	m = (uint64_t)(len & 0xff) << 56;
	for (size_t i = 0; i < (len & 7); i++)
		m |= (uint64_t)p[whole + i] << (8 * i);
	v3 ^= m;
	SIPROUND;
	SIPROUND;
	v0 ^= m;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

/*
 * Maglev's three hashes share the caller's seed as k0 and differ in k1, so
 * they are independent functions of (seed, input) and nothing else: no
 * per-process randomness, or a restarted manager would move every client.
 */
#define K1_OFFSET 0x6c6f6f6d2d6f6666ULL /* "loom-off" */
#define K1_SKIP   0x6c6f6f6d2d736b70ULL /* "loom-skp" */
#define K1_LOOKUP 0x6c6f6f6d2d6c6b70ULL /* "loom-lkp" */

/* ---- The selector ----------------------------------------------------- */

#define NO_BACKEND UINT16_MAX
_Static_assert(SVC_LB_MAX_BACKENDS < NO_BACKEND, "table entries are uint16_t indices");

struct lb_state {
	uint32_t conns;
	int64_t wrr_current; /* nginx's current_weight */
	uint32_t offset;     /* Maglev permutation: offset, offset+skip, ... mod M */
	uint32_t skip;
};

/* One backend list with everything sized by it, swapped in as a whole. */
struct lb_set {
	unsigned n;
	struct svc_lb_backend *b;
	struct lb_state *st;
	uint16_t *by_id; /* indices sorted by id, for svc_lb_find() */
	/* Maglev build scratch, allocated here so a rebuild never fails. */
	uint16_t *canon; /* indices sorted by (addr, port, id) */
	uint16_t *rank;  /* rank[canon[c]] == c */
	uint32_t *quota; /* turns (= slots) due in this build */
	uint32_t *taken; /* turns taken so far */
	uint32_t *next;  /* next slot in each permutation */
	uint16_t *heap;  /* backends with turns left, by turn_before() */
};

struct svc_lb {
	enum svc_lb_alg alg;
	enum svc_lb_hash hash;
	uint64_t seed;
	uint32_t m;
	struct lb_set set;
	/* rr/wlc rotation: the last index picked, and its id to survive a reorder. */
	unsigned cursor;
	bool have_cursor;
	uint32_t cursor_id;
	/* Maglev */
	uint16_t *table;
	bool stale;
};

static bool is_prime(uint32_t m)
{
	if (m < 2)
		return false;
	if (m % 2 == 0)
		return m == 2;
	for (uint32_t d = 3; (uint64_t)d * d <= m; d += 2)
		if (m % d == 0)
			return false;
	return true;
}

static void set_free(struct lb_set *s)
{
	free(s->b);
	free(s->st);
	free(s->by_id);
	free(s->canon);
	free(s->rank);
	free(s->quota);
	free(s->taken);
	free(s->next);
	free(s->heap);
	memset(s, 0, sizeof(*s));
}

static int set_alloc(struct lb_set *s, unsigned n, bool maglev)
{
	size_t k = n ? n : 1;

	memset(s, 0, sizeof(*s));
	s->n = n;
	s->b = calloc(k, sizeof(*s->b));
	s->st = calloc(k, sizeof(*s->st));
	s->by_id = calloc(k, sizeof(*s->by_id));
	if (!s->b || !s->st || !s->by_id)
		goto fail;
	if (maglev) {
		s->canon = calloc(k, sizeof(*s->canon));
		s->rank = calloc(k, sizeof(*s->rank));
		s->quota = calloc(k, sizeof(*s->quota));
		s->taken = calloc(k, sizeof(*s->taken));
		s->next = calloc(k, sizeof(*s->next));
		s->heap = calloc(k, sizeof(*s->heap));
		if (!s->canon || !s->rank || !s->quota || !s->taken || !s->next || !s->heap)
			goto fail;
	}
	return 0;
fail:
	set_free(s);
	return -ENOMEM;
}

static int cmp_by_id(const void *a, const void *b, void *ctx)
{
	const struct svc_lb_backend *be = ctx;
	uint32_t x = be[*(const uint16_t *)a].id, y = be[*(const uint16_t *)b].id;

	return (x > y) - (x < y);
}

/* Canonical order: independent of the caller's array order. */
static int cmp_canon(const void *a, const void *b, void *ctx)
{
	const struct svc_lb_backend *be = ctx;
	const struct svc_lb_backend *x = &be[*(const uint16_t *)a], *y = &be[*(const uint16_t *)b];
	int c = memcmp(x->addr, y->addr, sizeof(x->addr));

	if (c)
		return c;
	if (x->port != y->port)
		return (x->port > y->port) - (x->port < y->port);
	return (x->id > y->id) - (x->id < y->id);
}

static int set_find(const struct lb_set *s, uint32_t id)
{
	size_t lo = 0, hi = s->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		uint32_t v = s->b[s->by_id[mid]].id;

		if (v == id)
			return s->by_id[mid];
		if (v < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -ENOENT;
}

static inline bool eligible(const struct svc_lb_backend *b)
{
	return b->up && b->weight > 0;
}

int svc_lb_new(enum svc_lb_alg alg, enum svc_lb_hash hash, uint32_t maglev_size, uint64_t seed,
	       struct svc_lb **out)
{
	struct svc_lb *lb;

	if (!out || (unsigned)alg >= SVC_LB_ALG_COUNT || (unsigned)hash >= SVC_LB_HASH_COUNT)
		return -EINVAL;
	if (maglev_size == 0)
		maglev_size = SVC_LB_MAGLEV_DEFAULT;
	if (alg == SVC_LB_MAGLEV && (maglev_size < SVC_LB_MAGLEV_MIN ||
				     maglev_size > SVC_LB_MAGLEV_MAX || !is_prime(maglev_size)))
		return -EINVAL;
	lb = calloc(1, sizeof(*lb));
	if (!lb)
		return -ENOMEM;
	lb->alg = alg;
	lb->hash = hash;
	lb->seed = seed;
	lb->m = maglev_size;
	if (set_alloc(&lb->set, 0, alg == SVC_LB_MAGLEV) < 0)
		goto fail;
	if (alg == SVC_LB_MAGLEV) {
		lb->table = malloc((size_t)lb->m * sizeof(*lb->table));
		if (!lb->table)
			goto fail;
		lb->stale = true;
	}
	*out = lb;
	return 0;
fail:
	set_free(&lb->set);
	free(lb);
	return -ENOMEM;
}

void svc_lb_free(struct svc_lb *lb)
{
	if (!lb)
		return;
	set_free(&lb->set);
	free(lb->table);
	free(lb);
}

enum svc_lb_alg svc_lb_alg(const struct svc_lb *lb)
{
	return lb ? lb->alg : SVC_LB_ALG_COUNT;
}

static void maglev_permutation(const struct svc_lb *lb, const struct svc_lb_backend *b,
			       struct lb_state *st)
{
	uint8_t name[18];

	/* The identity is where the server is, not the caller's id: two
	 * managers configured separately agree on it. Port big-endian so the
	 * bytes hashed do not depend on the host. */
	memcpy(name, b->addr, 16);
	name[16] = (uint8_t)(b->port >> 8);
	name[17] = (uint8_t)b->port;
	st->offset = (uint32_t)(svc_lb_siphash24(lb->seed, K1_OFFSET, name, sizeof(name)) % lb->m);
	st->skip = (uint32_t)(svc_lb_siphash24(lb->seed, K1_SKIP, name, sizeof(name)) % (lb->m - 1)) + 1;
}

int svc_lb_set_backends(struct svc_lb *lb, const struct svc_lb_backend *b, unsigned n)
{
	struct lb_set s;
	bool maglev;
	int rc;

	if (!lb || n > SVC_LB_MAX_BACKENDS || (n > 0 && !b))
		return -EINVAL;
	maglev = lb->alg == SVC_LB_MAGLEV;
	if (maglev && n > lb->m)
		return -EINVAL;
	for (unsigned i = 0; i < n; i++)
		if (b[i].weight > SVC_LB_MAX_WEIGHT)
			return -EINVAL;
	rc = set_alloc(&s, n, maglev);
	if (rc < 0)
		return rc;
	if (n)
		memcpy(s.b, b, n * sizeof(*b));
	for (unsigned i = 0; i < n; i++)
		s.by_id[i] = (uint16_t)i;
	qsort_r(s.by_id, n, sizeof(*s.by_id), cmp_by_id, s.b);
	for (unsigned i = 1; i < n; i++) {
		if (s.b[s.by_id[i]].id == s.b[s.by_id[i - 1]].id) {
			set_free(&s);
			return -EINVAL;
		}
	}

	for (unsigned i = 0; i < n; i++) {
		int old = set_find(&lb->set, s.b[i].id);

		if (old >= 0) {
			s.st[i].conns = lb->set.st[old].conns;
			s.st[i].wrr_current = lb->set.st[old].wrr_current;
		}
		if (maglev)
			maglev_permutation(lb, &s.b[i], &s.st[i]);
	}
	if (maglev) {
		for (unsigned i = 0; i < n; i++)
			s.canon[i] = (uint16_t)i;
		qsort_r(s.canon, n, sizeof(*s.canon), cmp_canon, s.b);
		for (unsigned c = 0; c < n; c++)
			s.rank[s.canon[c]] = (uint16_t)c;
		lb->stale = true;
	}

	/* Keep the rotation where it was: after the same backend if it
	 * survived, else at the same position. */
	if (lb->have_cursor) {
		int c = set_find(&s, lb->cursor_id);

		if (c >= 0)
			lb->cursor = (unsigned)c;
		else if (n)
			lb->cursor = lb->cursor % n;
		else
			lb->have_cursor = false;
	}
	set_free(&lb->set);
	lb->set = s;
	return 0;
}

int svc_lb_set_state(struct svc_lb *lb, uint32_t id, uint32_t weight, bool up)
{
	struct svc_lb_backend *b;
	int i;

	if (!lb || weight > SVC_LB_MAX_WEIGHT)
		return -EINVAL;
	i = set_find(&lb->set, id);
	if (i < 0)
		return i;
	b = &lb->set.b[i];
	if (b->weight != weight || b->up != up)
		lb->stale = true;
	b->weight = weight;
	b->up = up;
	return 0;
}

/* ---- rr, wrr, wlc ----------------------------------------------------- */

static void set_cursor(struct svc_lb *lb, unsigned i)
{
	lb->cursor = i;
	lb->cursor_id = lb->set.b[i].id;
	lb->have_cursor = true;
}

/* Index after which a rotation starts: the last pick, or "before 0". */
static unsigned rotation_start(const struct svc_lb *lb)
{
	return lb->have_cursor ? lb->cursor : lb->set.n - 1;
}

static int pick_rr(struct svc_lb *lb)
{
	unsigned n = lb->set.n, start = rotation_start(lb);

	for (unsigned k = 1; k <= n; k++) {
		unsigned i = (start + k) % n;

		if (eligible(&lb->set.b[i])) {
			set_cursor(lb, i);
			return (int)i;
		}
	}
	return -ENOENT;
}

/*
 * nginx's smooth weighted round robin (ngx_http_upstream_get_peer): every
 * eligible backend earns its weight, the richest is picked and pays the
 * total. Over any window of sum(weights) picks each backend gets exactly its
 * weight, and the picks of a heavy backend are spread between the others.
 * Ties go to the lower id, not the lower index, so the sequence depends on
 * the backends and not on the order the caller lists them in.
 */
static int pick_wrr(struct svc_lb *lb)
{
	int64_t total = 0;
	int best = -1;

	for (unsigned i = 0; i < lb->set.n; i++) {
		struct lb_state *st = &lb->set.st[i];

		if (!eligible(&lb->set.b[i]))
			continue;
		st->wrr_current += lb->set.b[i].weight;
		total += lb->set.b[i].weight;
		if (best < 0 || st->wrr_current > lb->set.st[best].wrr_current ||
		    (st->wrr_current == lb->set.st[best].wrr_current &&
		     lb->set.b[i].id < lb->set.b[best].id))
			best = (int)i;
	}
	if (best < 0)
		return -ENOENT;
	lb->set.st[best].wrr_current -= total;
	return best;
}

/*
 * Smallest conns/weight, compared as conns_a * w_b < conns_b * w_a (at most
 * 2^32 * 2^16, no overflow, no rounding). The scan starts after the last
 * pick and only a strictly better backend displaces the first found, so
 * equal backends take turns instead of the first one taking every tie.
 */
static int pick_wlc(struct svc_lb *lb)
{
	unsigned n = lb->set.n, start = rotation_start(lb);
	int best = -1;

	for (unsigned k = 1; k <= n; k++) {
		unsigned i = (start + k) % n;
		const struct svc_lb_backend *b = &lb->set.b[i];

		if (!eligible(b))
			continue;
		if (best < 0 ||
		    (uint64_t)lb->set.st[i].conns * lb->set.b[best].weight <
			    (uint64_t)lb->set.st[best].conns * b->weight)
			best = (int)i;
	}
	if (best >= 0)
		set_cursor(lb, (unsigned)best);
	return best < 0 ? -ENOENT : best;
}

/* ---- Maglev ----------------------------------------------------------- */

/*
 * Backend a's k-th turn happens at virtual time (k + 1/2) / quota_a: turns
 * are spread evenly over the build, so a backend with twice the weight takes
 * two turns for each of the other's, interleaved. Ties go to canonical order.
 * Compared by cross-multiplication: (2k+1) <= 2M and quota <= M < 2^24.
 */
static bool turn_before(const struct lb_set *s, uint16_t a, uint16_t b)
{
	uint64_t ta = (2 * (uint64_t)s->taken[a] + 1) * s->quota[b];
	uint64_t tb = (2 * (uint64_t)s->taken[b] + 1) * s->quota[a];

	if (ta != tb)
		return ta < tb;
	return s->rank[a] < s->rank[b];
}

static void heap_down(const struct lb_set *s, unsigned len, unsigned i)
{
	uint16_t *h = s->heap;

	for (;;) {
		unsigned l = 2 * i + 1, r = l + 1, m = i;

		if (l < len && turn_before(s, h[l], h[m]))
			m = l;
		if (r < len && turn_before(s, h[r], h[m]))
			m = r;
		if (m == i)
			return;
		uint16_t t = h[i];
		h[i] = h[m];
		h[m] = t;
		i = m;
	}
}


/* Largest remainder first; equal remainders in canonical order. `taken`
 * holds the remainders while the quotas are settled. */
static int cmp_remainder(const void *a, const void *b, void *ctx)
{
	const struct lb_set *s = ctx;
	uint16_t x = *(const uint16_t *)a, y = *(const uint16_t *)b;

	if (s->taken[x] != s->taken[y])
		return s->taken[x] > s->taken[y] ? -1 : 1;
	return (s->rank[x] > s->rank[y]) - (s->rank[x] < s->rank[y]);
}

/*
 * The paper's Populate (section 3.4, Pseudocode 1), weighted. Each eligible
 * backend walks its own permutation of the M slots (offset, offset + skip,
 * ... mod M: a full cycle since M is prime) and on each of its turns claims
 * the first slot of it still free. The paper gives every backend one turn
 * per round; here backend i gets exactly quota_i turns, M * w_i / sum(w)
 * rounded by largest remainder, so the table splits exactly by weight, and
 * turn_before() interleaves the turns the way rounds would. Nothing depends
 * on the caller's array order: every tie uses the canonical order.
 * Cost: M turns through a heap of backends, plus the permutation walks
 * (O(M log M) expected, as in the paper; about 10 ms for M = 65537, 150 ms
 * for the largest M); no allocation.
 */
static void maglev_build(struct svc_lb *lb)
{
	struct lb_set *s = &lb->set;
	uint32_t m = lb->m;
	uint64_t total = 0, given = 0;
	unsigned len = 0;

	for (uint32_t i = 0; i < m; i++)
		lb->table[i] = NO_BACKEND;
	lb->stale = false;
	for (unsigned i = 0; i < s->n; i++)
		if (eligible(&s->b[i]))
			total += s->b[i].weight;
	if (total == 0)
		return;

	for (unsigned i = 0; i < s->n; i++) {
		uint64_t w = eligible(&s->b[i]) ? s->b[i].weight : 0;

		s->quota[i] = (uint32_t)(w * m / total); /* w * m < 2^40 */
		s->taken[i] = (uint32_t)(w * m % total);
		s->next[i] = s->st[i].offset;
		given += s->quota[i];
		if (w)
			s->heap[len++] = (uint16_t)i;
	}
	/* Fewer than `len` slots are left over: one each to the largest
	 * remainders. */
	qsort_r(s->heap, len, sizeof(*s->heap), cmp_remainder, s);
	for (unsigned j = 0; given < m; j++, given++)
		s->quota[s->heap[j]]++;

	/* Backends whose quota rounded to 0 (only when M is small for the
	 * weights) take no turn. */
	unsigned keep = 0;
	for (unsigned j = 0; j < len; j++) {
		s->taken[s->heap[j]] = 0;
		if (s->quota[s->heap[j]])
			s->heap[keep++] = s->heap[j];
	}
	len = keep;
	for (unsigned j = len / 2; j-- > 0;)
		heap_down(s, len, j);

	while (len) {
		uint16_t a = s->heap[0];
		struct lb_state *st = &s->st[a];

		for (;;) {
			uint32_t c = s->next[a];

			/* Step without a division: skip < M < 2^31. */
			s->next[a] = c + st->skip >= m ? c + st->skip - m : c + st->skip;
			if (lb->table[c] == NO_BACKEND) {
				lb->table[c] = a;
				break;
			}
		}
		if (++s->taken[a] == s->quota[a])
			s->heap[0] = s->heap[--len];
		heap_down(s, len, 0);
	}
}

static uint64_t flow_hash(const struct svc_lb *lb, const struct flow_key *k)
{
	uint8_t buf[37];

	if (lb->hash == SVC_LB_HASH_SOURCE)
		return svc_lb_siphash24(lb->seed, K1_LOOKUP, k->saddr, sizeof(k->saddr));
	/* Field by field, so padding never reaches the hash. */
	memcpy(buf, k->saddr, 16);
	memcpy(buf + 16, k->daddr, 16);
	memcpy(buf + 32, &k->sport, 2);
	memcpy(buf + 34, &k->dport, 2);
	buf[36] = k->proto;
	return svc_lb_siphash24(lb->seed, K1_LOOKUP, buf, sizeof(buf));
}

static int pick_maglev(struct svc_lb *lb, const struct flow_key *k)
{
	uint16_t i;

	if (!k)
		return -EINVAL;
	if (lb->stale)
		maglev_build(lb);
	i = lb->table[flow_hash(lb, k) % lb->m];
	return i == NO_BACKEND ? -ENOENT : i;
}

int svc_lb_pick(struct svc_lb *lb, const struct flow_key *k)
{
	if (!lb)
		return -EINVAL;
	if (lb->set.n == 0)
		return lb->alg == SVC_LB_MAGLEV && !k ? -EINVAL : -ENOENT;
	switch (lb->alg) {
	case SVC_LB_RR:
		return pick_rr(lb);
	case SVC_LB_WRR:
		return pick_wrr(lb);
	case SVC_LB_WLC:
		return pick_wlc(lb);
	case SVC_LB_MAGLEV:
		return pick_maglev(lb, k);
	case SVC_LB_ALG_COUNT:
		break;
	}
	return -EINVAL;
}

int svc_lb_maglev_slots(struct svc_lb *lb, unsigned idx, uint32_t *slots)
{
	uint32_t count = 0;

	if (!lb || !slots || lb->alg != SVC_LB_MAGLEV || idx >= lb->set.n)
		return -EINVAL;
	if (lb->stale)
		maglev_build(lb);
	for (uint32_t i = 0; i < lb->m; i++)
		count += lb->table[i] == idx;
	*slots = count;
	return 0;
}

const struct svc_lb_backend *svc_lb_backend(const struct svc_lb *lb, unsigned idx)
{
	if (!lb || idx >= lb->set.n)
		return NULL;
	return &lb->set.b[idx];
}

unsigned svc_lb_count(const struct svc_lb *lb)
{
	return lb ? lb->set.n : 0;
}

int svc_lb_find(const struct svc_lb *lb, uint32_t id)
{
	if (!lb)
		return -EINVAL;
	return set_find(&lb->set, id);
}

bool svc_lb_eligible(const struct svc_lb *lb, unsigned idx)
{
	return lb && idx < lb->set.n && eligible(&lb->set.b[idx]);
}

int svc_lb_conn(struct svc_lb *lb, unsigned idx, int delta)
{
	int64_t v;

	if (!lb || idx >= lb->set.n)
		return -EINVAL;
	v = (int64_t)lb->set.st[idx].conns + delta;
	if (v < 0)
		v = 0;
	if (v > UINT32_MAX)
		v = UINT32_MAX;
	lb->set.st[idx].conns = (uint32_t)v;
	return 0;
}

uint32_t svc_lb_conns(const struct svc_lb *lb, unsigned idx)
{
	if (!lb || idx >= lb->set.n)
		return 0;
	return lb->set.st[idx].conns;
}

/* ---- Source persistence ----------------------------------------------- */

/*
 * Open addressing with linear probing and backward-shift deletion (no
 * tombstones, so probe lengths stay short however entries churn), at most
 * half full. Entries are dense in e[0..count): a removal moves the last one
 * into the hole. A binary min-heap on expires_ms gives both the next entry to
 * expire and the one to evict.
 */
struct persist_entry {
	uint8_t client[16];
	uint32_t backend_id;
	uint32_t hash;
	uint32_t heap_pos;
	uint64_t expires_ms;
};

struct svc_lb_persist {
	uint32_t cap;
	uint32_t count;
	uint32_t mask;     /* slots - 1 */
	uint64_t k0, k1;   /* random: clients choose their addresses */
	struct persist_entry *e;
	uint32_t *slot;    /* entry index + 1; 0 = empty */
	uint32_t *heap;    /* entry indices */
};

int svc_lb_persist_new(uint32_t capacity, struct svc_lb_persist **out)
{
	struct svc_lb_persist *p;
	uint64_t key[2];
	uint32_t slots = 1;

	if (!out || capacity == 0 || capacity > SVC_LB_PERSIST_MAX)
		return -EINVAL;
	while (slots < 2 * capacity)
		slots <<= 1;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->cap = capacity;
	p->mask = slots - 1;
	p->e = calloc(capacity, sizeof(*p->e));
	p->slot = calloc(slots, sizeof(*p->slot));
	p->heap = calloc(capacity, sizeof(*p->heap));
	if (!p->e || !p->slot || !p->heap) {
		svc_lb_persist_free(p);
		return -ENOMEM;
	}
	/* Placement here is internal, so a per-process key costs nothing and
	 * stops a client from crafting addresses that collide. Should the
	 * kernel have no entropy yet, fall back to a fixed key: still
	 * correct, only predictable. */
	if (getrandom(key, sizeof(key), GRND_NONBLOCK) != (ssize_t)sizeof(key)) {
		key[0] = 0x9e3779b97f4a7c15ULL;
		key[1] = 0xbf58476d1ce4e5b9ULL;
	}
	p->k0 = key[0];
	p->k1 = key[1];
	*out = p;
	return 0;
}

void svc_lb_persist_free(struct svc_lb_persist *p)
{
	if (!p)
		return;
	free(p->e);
	free(p->slot);
	free(p->heap);
	free(p);
}

unsigned svc_lb_persist_count(const struct svc_lb_persist *p)
{
	return p ? p->count : 0;
}

static void pheap_swap(struct svc_lb_persist *p, uint32_t a, uint32_t b)
{
	uint32_t t = p->heap[a];

	p->heap[a] = p->heap[b];
	p->heap[b] = t;
	p->e[p->heap[a]].heap_pos = a;
	p->e[p->heap[b]].heap_pos = b;
}

static bool pheap_less(const struct svc_lb_persist *p, uint32_t a, uint32_t b)
{
	return p->e[p->heap[a]].expires_ms < p->e[p->heap[b]].expires_ms;
}

/* Restore the heap around position i after its key changed either way. */
static void pheap_fix(struct svc_lb_persist *p, uint32_t i)
{
	while (i > 0 && pheap_less(p, i, (i - 1) / 2)) {
		pheap_swap(p, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
	for (;;) {
		uint32_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < p->count && pheap_less(p, l, m))
			m = l;
		if (r < p->count && pheap_less(p, r, m))
			m = r;
		if (m == i)
			return;
		pheap_swap(p, i, m);
		i = m;
	}
}

static uint32_t persist_hash(const struct svc_lb_persist *p, const uint8_t client[16])
{
	return (uint32_t)svc_lb_siphash24(p->k0, p->k1, client, 16);
}

/* Slot holding entry ei (which must be in the table). */
static uint32_t slot_of(const struct svc_lb_persist *p, uint32_t ei)
{
	uint32_t s = p->e[ei].hash & p->mask;

	while (p->slot[s] != ei + 1)
		s = (s + 1) & p->mask;
	return s;
}

/* Slot of client, or the empty slot where it would go (*found false). */
static uint32_t slot_lookup(const struct svc_lb_persist *p, const uint8_t client[16],
			    uint32_t hash, bool *found)
{
	uint32_t s = hash & p->mask;

	/* At most half the slots are used, so an empty one ends the probe. */
	for (; p->slot[s]; s = (s + 1) & p->mask) {
		const struct persist_entry *e = &p->e[p->slot[s] - 1];

		if (e->hash == hash && memcmp(e->client, client, 16) == 0) {
			*found = true;
			return s;
		}
	}
	*found = false;
	return s;
}

static void persist_remove(struct svc_lb_persist *p, uint32_t ei)
{
	uint32_t hole = slot_of(p, ei), last = p->count - 1, pos;

	/* Backward shift: pull later entries of the probe run into the hole
	 * when the hole lies between their home slot and where they sit. */
	for (uint32_t j = (hole + 1) & p->mask; p->slot[j]; j = (j + 1) & p->mask) {
		uint32_t home = p->e[p->slot[j] - 1].hash & p->mask;

		if (((j - home) & p->mask) >= ((j - hole) & p->mask)) {
			p->slot[hole] = p->slot[j];
			hole = j;
		}
	}
	p->slot[hole] = 0;

	/* Out of the heap: the heap's last element takes its place. */
	pos = p->e[ei].heap_pos;
	if (pos != last) {
		pheap_swap(p, pos, last);
		p->count--;
		pheap_fix(p, pos);
	} else {
		p->count--;
	}

	/* Keep e[] dense: the last entry moves into ei. */
	if (ei != last) {
		uint32_t s = slot_of(p, last);

		p->e[ei] = p->e[last];
		p->slot[s] = ei + 1;
		p->heap[p->e[ei].heap_pos] = ei;
	}
}

int svc_lb_persist_get(struct svc_lb_persist *p, const uint8_t client[16], uint64_t now_ms,
		       uint32_t *backend_id)
{
	uint32_t s;
	bool found;

	if (!p || !client || !backend_id)
		return -EINVAL;
	s = slot_lookup(p, client, persist_hash(p, client), &found);
	if (!found)
		return -ENOENT;
	if (now_ms >= p->e[p->slot[s] - 1].expires_ms) {
		persist_remove(p, p->slot[s] - 1);
		return -ENOENT;
	}
	*backend_id = p->e[p->slot[s] - 1].backend_id;
	return 0;
}

int svc_lb_persist_put(struct svc_lb_persist *p, const uint8_t client[16], uint32_t backend_id,
		       uint64_t expires_ms)
{
	struct persist_entry *e;
	uint32_t hash, s, ei;
	bool found;

	if (!p || !client)
		return -EINVAL;
	hash = persist_hash(p, client);
	s = slot_lookup(p, client, hash, &found);
	if (found) {
		e = &p->e[p->slot[s] - 1];
		e->backend_id = backend_id;
		e->expires_ms = expires_ms;
		pheap_fix(p, e->heap_pos);
		return 0;
	}
	if (p->count == p->cap) {
		persist_remove(p, p->heap[0]);
		/* The removal may have shifted the run we probed. */
		s = slot_lookup(p, client, hash, &found);
	}
	ei = p->count++;
	e = &p->e[ei];
	memcpy(e->client, client, 16);
	e->backend_id = backend_id;
	e->hash = hash;
	e->expires_ms = expires_ms;
	e->heap_pos = ei;
	p->heap[ei] = ei;
	p->slot[s] = ei + 1;
	pheap_fix(p, ei);
	return 0;
}

void svc_lb_persist_forget_backend(struct svc_lb_persist *p, uint32_t backend_id)
{
	if (!p)
		return;
	/* A removal moves the last entry into i: look at i again. */
	for (uint32_t i = 0; i < p->count;) {
		if (p->e[i].backend_id == backend_id)
			persist_remove(p, i);
		else
			i++;
	}
}

unsigned svc_lb_persist_expire(struct svc_lb_persist *p, uint64_t now_ms, unsigned max)
{
	unsigned done = 0;

	if (!p)
		return 0;
	while (done < max && p->count && p->e[p->heap[0]].expires_ms <= now_ms) {
		persist_remove(p, p->heap[0]);
		done++;
	}
	return done;
}
