// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The multibit trie behind rt_lookup(): a 2^16-entry root, then nodes of
 * 2^stride entries (stride 8 for IPv4: at most three reads for a /32, one for
 * /16 and shorter, two up to /24; stride 4 for IPv6 so that a node is one
 * 64-byte cache line and sparse /48s do not cost a kilobyte per level).
 * Nodes live in one array and are named by index, so growing the array with
 * realloc() during the build moves nothing a reader can see: a trie is
 * published only once it is complete.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rt-internal.h"

#define ROOT_SIZE ((size_t)1 << LPM_ROOT_BITS)

int lpm_init(struct rt_lpm *t, unsigned base, unsigned stride)
{
	memset(t, 0, sizeof(*t));
	t->base = (uint16_t)base;
	t->stride = (uint8_t)stride;
	t->cap = ROOT_SIZE + ((size_t)16 << stride);
	t->e = calloc(t->cap, sizeof(*t->e));
	if (!t->e)
		return -ENOMEM;
	t->used = ROOT_SIZE;
	return 0;
}

void lpm_free(struct rt_lpm *t)
{
	free(t->e);
	t->e = NULL;
}

/* A new node whose every entry inherits fill (the covering prefix's leaf). */
static int lpm_node_new(struct rt_lpm *t, uint32_t fill, uint32_t *idx)
{
	size_t nsize = (size_t)1 << t->stride;

	if ((t->used - ROOT_SIZE) / nsize >= LPM_CHILD - 1)
		return -E2BIG;
	if (t->used + nsize > t->cap) {
		size_t cap = t->cap * 2;
		uint32_t *e = realloc(t->e, cap * sizeof(*e));

		if (!e)
			return -ENOMEM;
		t->e = e;
		t->cap = cap;
	}
	*idx = (uint32_t)((t->used - ROOT_SIZE) / nsize);
	for (size_t i = 0; i < nsize; i++)
		t->e[t->used + i] = fill;
	t->used += nsize;
	return 0;
}

int lpm_insert(struct rt_lpm *t, const uint8_t a[16], unsigned len, uint32_t val)
{
	unsigned off = t->base, depth = 0, width = LPM_ROOT_BITS;
	size_t node = 0;

	if (len > 128u - t->base || (val & LPM_CHILD))
		return -EINVAL;
	for (;;) {
		size_t idx = lpm_bits(a, off, width);

		if (len <= depth + width) {
			size_t span = (size_t)1 << (depth + width - len);

			/* Every entry under the prefix: a shorter prefix's
			 * value (ascending order), never a child. */
			idx &= ~(span - 1);
			for (size_t i = 0; i < span; i++)
				t->e[node + idx + i] = val;
			return 0;
		}
		uint32_t e = t->e[node + idx];

		if (!(e & LPM_CHILD)) {
			uint32_t n;
			int r = lpm_node_new(t, e, &n);

			if (r < 0)
				return r;
			e = LPM_CHILD | n;
			t->e[node + idx] = e;
		}
		node = ROOT_SIZE + ((size_t)(e & ~LPM_CHILD) << t->stride);
		off += width;
		depth += width;
		width = t->stride;
	}
}
