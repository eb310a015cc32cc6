// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The sequence table: view (validation, lookup, ACL) and builder. See
 * common/sequence.h for the layout and its rules.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/sequence.h"
#include "common/str.h"

static const char *const err_str[] = { SEQ_ERR_LIST(LOOM_XSTR) };
static const char *const mode_str[] = { SEQ_MODE_LIST(LOOM_XSTR) };

const char *seq_err_str(int err)
{
	if (err < 0)
		err = -err;
	return err < SEQ__E_MAX ? err_str[err] : "?";
}

const char *seq_mode_str(unsigned mode)
{
	return mode < SEQ__MODE_MAX ? mode_str[mode] : "?";
}

static const size_t sec_size[SEQ_SEC__COUNT] = {
	[SEQ_SEC_DEVICES] = sizeof(struct seq_device),
	[SEQ_SEC_ENTRIES] = sizeof(struct seq_entry),
	[SEQ_SEC_BUCKETS] = sizeof(uint32_t),
	[SEQ_SEC_COPIES] = sizeof(struct seq_copy),
	[SEQ_SEC_ACL_SETS] = sizeof(struct seq_acl_set),
	[SEQ_SEC_ACL_RULES] = sizeof(struct seq_acl_rule),
	[SEQ_SEC_STATS] = sizeof(struct seq_stat),
};

/* The bucket of a key; the builder and the readers must agree. */
static uint32_t bucket_of(unsigned ingress, unsigned dir, uint8_t proto, const uint8_t addr[16],
			  uint32_t nbuckets)
{
	uint8_t k[3] = { (uint8_t)ingress, (uint8_t)dir, proto };
	uint64_t h = loom_hash64(LOOM_HASH64_INIT, k, sizeof(k));

	h = loom_hash64(h, addr, 16);
	return (uint32_t)(h ^ (h >> 32)) & (nbuckets - 1);
}

/* ---- view ----------------------------------------------------------------- */

static bool idx_ok(uint32_t i, uint32_t n)
{
	return i == SEQ_NONE || i < n;
}

static int check_entry(const struct seq_view *v, const struct seq_entry *e)
{
	if (!idx_ok(e->device, v->n_devices) || !idx_ok(e->stat, v->n_stats) ||
	    !idx_ok(e->acl, v->n_acl_sets) || !idx_ok(e->next, v->n_entries))
		return -SEQ_E_INDEX;
	if ((uint64_t)e->copy_first + e->copy_n > v->n_copies)
		return -SEQ_E_INDEX;
	if (e->ingress >= SEQ_MAX_PORTS || e->egress >= SEQ_MAX_PORTS || e->dir > SEQ_DIR_REPLY ||
	    e->mode >= SEQ__MODE_MAX || (e->flags & ~SEQ_F__ALL) || e->dscp > 63 ||
	    e->port_lo > e->port_hi)
		return -SEQ_E_VALUE;
	return 0;
}

int seq_view_init(struct seq_view *v, const void *block, size_t len)
{
	const uint8_t *base = block;
	const struct seq_hdr *h = block;
	const void *sec[SEQ_SEC__COUNT];
	uint32_t cnt[SEQ_SEC__COUNT];
	int r;

	memset(v, 0, sizeof(*v));
	if (!block || len < sizeof(*h) || ((uintptr_t)block & 7))
		return -SEQ_E_SHORT;
	if (h->magic != SEQ_MAGIC || h->version != SEQ_SNAP_VERSION || h->hdr_size != sizeof(*h))
		return -SEQ_E_MAGIC;
	for (unsigned i = 0; i < SEQ_SEC__COUNT; i++) {
		uint64_t off = h->sec[i].off, end = off + (uint64_t)h->sec[i].count * sec_size[i];

		if (off < sizeof(*h) || (off & 7) || end > len)
			return -SEQ_E_SECTION;
		sec[i] = base + off;
		cnt[i] = h->sec[i].count;
	}
	v->hdr = h;
	v->devices = sec[SEQ_SEC_DEVICES];
	v->entries = sec[SEQ_SEC_ENTRIES];
	v->buckets = sec[SEQ_SEC_BUCKETS];
	v->copies = sec[SEQ_SEC_COPIES];
	v->acl_sets = sec[SEQ_SEC_ACL_SETS];
	v->acl_rules = sec[SEQ_SEC_ACL_RULES];
	v->stats = sec[SEQ_SEC_STATS];
	v->n_devices = cnt[SEQ_SEC_DEVICES];
	v->n_entries = cnt[SEQ_SEC_ENTRIES];
	v->n_buckets = cnt[SEQ_SEC_BUCKETS];
	v->n_copies = cnt[SEQ_SEC_COPIES];
	v->n_acl_sets = cnt[SEQ_SEC_ACL_SETS];
	v->n_acl_rules = cnt[SEQ_SEC_ACL_RULES];
	v->n_stats = cnt[SEQ_SEC_STATS];

	r = -SEQ_E_BUCKETS;
	if (!v->n_buckets || (v->n_buckets & (v->n_buckets - 1)))
		goto bad;
	r = -SEQ_E_INDEX;
	for (uint32_t i = 0; i < v->n_buckets; i++)
		if (!idx_ok(v->buckets[i], v->n_entries))
			goto bad;
	for (uint32_t i = 0; i < v->n_entries; i++)
		if ((r = check_entry(v, &v->entries[i])) < 0)
			goto bad;
	r = -SEQ_E_INDEX;
	for (uint32_t i = 0; i < v->n_copies; i++)
		if (v->copies[i].egress >= SEQ_MAX_PORTS ||
		    !idx_ok(v->copies[i].device, v->n_devices))
			goto bad;
	for (uint32_t i = 0; i < v->n_acl_sets; i++)
		if ((uint64_t)v->acl_sets[i].first + v->acl_sets[i].n > v->n_acl_rules ||
		    v->acl_sets[i].deflt > SEQ_ACL_DENY)
			goto bad;
	for (uint32_t i = 0; i < v->n_devices; i++)
		if (!idx_ok(v->devices[i].alternate, v->n_devices) ||
		    v->devices[i].mode >= SEQ__MODE_MAX)
			goto bad;
	return 0;
bad:
	memset(v, 0, sizeof(*v));
	return r;
}

const struct seq_entry *seq_lookup(const struct seq_view *v, unsigned ingress, unsigned dir,
				   const uint8_t addr[16], uint8_t proto, uint16_t port,
				   const uint8_t src_mac[6], enum seq_miss *miss)
{
	const struct seq_entry *any = NULL;
	bool known = false;

	*miss = SEQ_MISS_NONE;
	if (!v->n_buckets)
		return NULL;
	uint32_t i = v->buckets[bucket_of(ingress, dir, proto, addr, v->n_buckets)];
	/* at most n_entries steps: a corrupt chain cannot loop forever */
	for (uint32_t steps = 0; i != SEQ_NONE && steps < v->n_entries; steps++) {
		const struct seq_entry *e = &v->entries[i];

		i = e->next;
		if (e->ingress != ingress || e->dir != dir || e->proto != proto ||
		    port < e->port_lo || port > e->port_hi || memcmp(e->addr, addr, 16))
			continue;
		known = true;
		if (!(e->flags & SEQ_F_SRC_MAC)) {
			if (!any)
				any = e;
		} else if (!memcmp(e->src_mac, src_mac, 6)) {
			return e;
		}
	}
	if (!any && known)
		*miss = SEQ_MISS_SRC_MAC;
	return any;
}

static bool prefix_has(const struct seq_acl_rule *r, const uint8_t a[16])
{
	for (unsigned i = 0; i < 16; i++)
		if ((a[i] & r->mask[i]) != r->addr[i])
			return false;
	return true;
}

bool seq_acl_permit(const struct seq_view *v, uint32_t set, const uint8_t saddr[16],
		    uint8_t proto, uint16_t dport)
{
	if (set == SEQ_NONE || set >= v->n_acl_sets)
		return set == SEQ_NONE;
	const struct seq_acl_set *s = &v->acl_sets[set];

	for (uint32_t i = 0; i < s->n; i++) {
		const struct seq_acl_rule *r = &v->acl_rules[s->first + i];

		if ((!r->proto || r->proto == proto) && dport >= r->port_lo &&
		    dport <= r->port_hi && prefix_has(r, saddr))
			return r->action == SEQ_ACL_PERMIT;
	}
	return s->deflt == SEQ_ACL_PERMIT;
}

/* ---- builder -------------------------------------------------------------- */

/* A growable array of fixed-size elements. */
struct vec {
	void *p;
	uint32_t n, cap;
	size_t size;
};

#define SEQ_MAX_ELEMS (1u << 22) /* per section: keeps every offset in 32 bits */

static int vec_push(struct vec *v, const void *elem, uint32_t n)
{
	if (v->n + (uint64_t)n > SEQ_MAX_ELEMS)
		return -E2BIG;
	if (v->n + n > v->cap) {
		uint32_t cap = v->cap ? v->cap : 16;
		while (cap < v->n + n)
			cap *= 2;
		void *p = realloc(v->p, cap * v->size);
		if (!p)
			return -ENOMEM;
		v->p = p;
		v->cap = cap;
	}
	memcpy((uint8_t *)v->p + v->n * v->size, elem, n * v->size);
	v->n += n;
	return (int)(v->n - n);
}

/* Chains of the entries added so far, to find a clash without a scan;
 * the snapshot's own buckets are computed at write. */
#define BUILD_BUCKETS 4096u

struct seq_builder {
	struct vec v[SEQ_SEC__COUNT]; /* v[SEQ_SEC_BUCKETS] unused */
	uint32_t head[BUILD_BUCKETS];  /* entries chained through their next */
};

struct seq_builder *seq_builder_new(void)
{
	struct seq_builder *b = calloc(1, sizeof(*b));

	if (!b)
		return NULL;
	for (unsigned i = 0; i < SEQ_SEC__COUNT; i++)
		b->v[i].size = sec_size[i];
	for (unsigned i = 0; i < BUILD_BUCKETS; i++)
		b->head[i] = SEQ_NONE;
	return b;
}

void seq_builder_free(struct seq_builder *b)
{
	if (!b)
		return;
	for (unsigned i = 0; i < SEQ_SEC__COUNT; i++)
		free(b->v[i].p);
	free(b);
}

int seq_add_device(struct seq_builder *b, const struct seq_device *d)
{
	return vec_push(&b->v[SEQ_SEC_DEVICES], d, 1);
}

int seq_add_stat(struct seq_builder *b, const struct seq_stat *s)
{
	return vec_push(&b->v[SEQ_SEC_STATS], s, 1);
}

int seq_add_acl_set(struct seq_builder *b, enum seq_acl_action deflt,
		    const struct seq_acl_rule *rules, uint32_t n)
{
	struct seq_acl_set s = { .first = b->v[SEQ_SEC_ACL_RULES].n, .n = n,
				 .deflt = (uint8_t)deflt };
	int r;

	if (n && (r = vec_push(&b->v[SEQ_SEC_ACL_RULES], rules, n)) < 0)
		return r;
	return vec_push(&b->v[SEQ_SEC_ACL_SETS], &s, 1);
}

static bool same_key(const struct seq_entry *a, const struct seq_entry *e)
{
	return a->ingress == e->ingress && a->dir == e->dir && a->proto == e->proto &&
	       !memcmp(a->addr, e->addr, 16) && a->port_lo <= e->port_hi &&
	       e->port_lo <= a->port_hi &&
	       (a->flags & SEQ_F_SRC_MAC) == (e->flags & SEQ_F_SRC_MAC) &&
	       (!(e->flags & SEQ_F_SRC_MAC) || !memcmp(a->src_mac, e->src_mac, 6));
}

int seq_add_entry(struct seq_builder *b, const struct seq_entry *e,
		  const struct seq_copy *copies, uint32_t ncopies, uint32_t *clash)
{
	struct vec *ev = &b->v[SEQ_SEC_ENTRIES];
	struct seq_entry n = *e;
	int r;

	if (e->ingress >= SEQ_MAX_PORTS || e->egress >= SEQ_MAX_PORTS || e->dir > SEQ_DIR_REPLY ||
	    e->mode >= SEQ__MODE_MAX || (e->flags & ~SEQ_F__ALL) || e->dscp > 63 ||
	    e->port_lo > e->port_hi || !idx_ok(e->device, b->v[SEQ_SEC_DEVICES].n) ||
	    !idx_ok(e->stat, b->v[SEQ_SEC_STATS].n) || !idx_ok(e->acl, b->v[SEQ_SEC_ACL_SETS].n))
		return -EINVAL;
	for (uint32_t i = 0; i < ncopies; i++)
		if (copies[i].egress >= SEQ_MAX_PORTS ||
		    !idx_ok(copies[i].device, b->v[SEQ_SEC_DEVICES].n))
			return -EINVAL;
	uint32_t k = bucket_of(e->ingress, e->dir, e->proto, e->addr, BUILD_BUCKETS);
	const struct seq_entry *all = ev->p;

	for (uint32_t i = b->head[k]; i != SEQ_NONE; i = all[i].next)
		if (same_key(&all[i], e)) {
			if (clash)
				*clash = i;
			return -EEXIST;
		}
	n.copy_first = b->v[SEQ_SEC_COPIES].n;
	n.copy_n = ncopies;
	n.next = b->head[k];
	if (ncopies && (r = vec_push(&b->v[SEQ_SEC_COPIES], copies, ncopies)) < 0)
		return r;
	if ((r = vec_push(ev, &n, 1)) >= 0)
		b->head[k] = (uint32_t)r;
	return r;
}

const struct seq_entry *seq_builder_entry(const struct seq_builder *b, uint32_t idx)
{
	return idx < b->v[SEQ_SEC_ENTRIES].n ? &((const struct seq_entry *)
						  b->v[SEQ_SEC_ENTRIES].p)[idx] : NULL;
}

/* Twice the entries, rounded up to a power of two: chains stay short. */
static uint32_t nbuckets_for(uint32_t nentries)
{
	uint32_t n = 16;

	while (n < 2 * (uint64_t)nentries)
		n *= 2;
	return n;
}

static size_t align8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

static size_t layout(const struct seq_builder *b, struct seq_hdr *h)
{
	size_t off = sizeof(*h);

	for (unsigned i = 0; i < SEQ_SEC__COUNT; i++) {
		uint32_t n = i == SEQ_SEC_BUCKETS ? nbuckets_for(b->v[SEQ_SEC_ENTRIES].n)
						  : b->v[i].n;

		h->sec[i].off = (uint32_t)off;
		h->sec[i].count = n;
		off = align8(off + (size_t)n * sec_size[i]);
	}
	return off;
}

size_t seq_builder_size(const struct seq_builder *b)
{
	struct seq_hdr h;

	return layout(b, &h);
}

int seq_builder_write(const struct seq_builder *b, void *out, size_t len,
		      uint64_t defs_version, uint64_t built_ms)
{
	struct seq_hdr h = { .magic = SEQ_MAGIC, .version = SEQ_SNAP_VERSION,
			     .hdr_size = sizeof(h), .defs_version = defs_version,
			     .built_ms = built_ms };
	uint8_t *base = out;
	size_t need = layout(b, &h);

	if (len < need)
		return -ENOSPC;
	memset(out, 0, need);
	memcpy(out, &h, sizeof(h));
	for (unsigned i = 0; i < SEQ_SEC__COUNT; i++)
		if (i != SEQ_SEC_BUCKETS && b->v[i].n)
			memcpy(base + h.sec[i].off, b->v[i].p, b->v[i].n * sec_size[i]);

	uint32_t nb = h.sec[SEQ_SEC_BUCKETS].count;
	uint32_t *bk = (uint32_t *)(base + h.sec[SEQ_SEC_BUCKETS].off);
	struct seq_entry *e = (struct seq_entry *)(base + h.sec[SEQ_SEC_ENTRIES].off);

	for (uint32_t i = 0; i < nb; i++)
		bk[i] = SEQ_NONE;
	/* pushed in reverse so each chain keeps the order entries were added */
	for (uint32_t i = b->v[SEQ_SEC_ENTRIES].n; i-- > 0;) {
		uint32_t k = bucket_of(e[i].ingress, e[i].dir, e[i].proto, e[i].addr, nb);

		e[i].next = bk[k];
		bk[k] = i;
	}
	return 0;
}
