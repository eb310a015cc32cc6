// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "repl_table.h"

static uint64_t hash(const void *key, size_t len)
{
	const uint8_t *p = key;
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h;
}

void rt_init(struct rtable *t, size_t cap, uint64_t self)
{
	memset(t, 0, sizeof(*t));
	t->cap = cap;
	t->s = calloc(cap, sizeof(*t->s));
	t->self = self;
}

void rt_free(struct rtable *t)
{
	for (size_t i = 0; i < t->cap; i++)
		free(t->s[i].kv);
	free(t->s);
}

static struct rt_slot *find(const struct rtable *t, const void *key, size_t klen,
			    struct rt_slot **free_slot)
{
	size_t i = hash(key, klen) % t->cap;

	if (free_slot)
		*free_slot = NULL;
	for (size_t n = 0; n < t->cap; n++, i = (i + 1) % t->cap) {
		struct rt_slot *s = &t->s[i];

		if (s->state == 0) {
			if (free_slot && !*free_slot)
				*free_slot = s;
			return NULL;
		}
		if (s->state == 2) {
			if (free_slot && !*free_slot)
				*free_slot = s;
			continue;
		}
		if (s->klen == klen && !memcmp(s->kv, key, klen))
			return s;
	}
	return NULL;
}

const struct rt_slot *rt_get(const struct rtable *t, const void *key, size_t klen)
{
	return find(t, key, klen, NULL);
}

static int store(struct rtable *t, uint64_t owner, const void *key, size_t klen,
		 const void *val, size_t vlen)
{
	struct rt_slot *fs, *s = find(t, key, klen, &fs);
	uint8_t *kv = malloc(klen + vlen + 1);

	if (!kv)
		return -1;
	memcpy(kv, key, klen);
	if (vlen)
		memcpy(kv + klen, val, vlen);
	if (!s) {
		if (!(s = fs)) {
			free(kv);
			return -1;
		}
		t->n++;
	}
	free(s->kv);
	*s = (struct rt_slot){ .state = 1, .klen = (uint8_t)klen, .vlen = (uint16_t)vlen,
			       .owner = owner, .kv = kv };
	return 0;
}

static int erase(struct rtable *t, const void *key, size_t klen)
{
	struct rt_slot *s = find(t, key, klen, NULL);

	if (!s)
		return 0;
	free(s->kv);
	*s = (struct rt_slot){ .state = 2 };
	t->n--;
	return 0;
}

int rt_put(struct rtable *t, uint64_t owner, const void *key, size_t klen, const void *val,
	   size_t vlen)
{
	bool existed = find(t, key, klen, NULL) != NULL;
	struct repl_txn txn = { .op = existed ? REPL_OP_UPDATE : REPL_OP_ADD, .owner = owner,
				.key = key, .key_len = klen, .value = val, .value_len = vlen };

	if (store(t, owner, key, klen, val, vlen) < 0)
		return -1;
	return t->r ? repl_submit(t->r, &txn) : 0;
}

int rt_del(struct rtable *t, const void *key, size_t klen)
{
	const struct rt_slot *s = find(t, key, klen, NULL);
	struct repl_txn txn = { .op = REPL_OP_DELETE, .key = key, .key_len = klen };

	if (!s)
		return 0;
	txn.owner = s->owner;
	erase(t, key, klen);
	return t->r ? repl_submit(t->r, &txn) : 0;
}

size_t rt_count_owner(const struct rtable *t, uint64_t owner)
{
	size_t n = 0;

	for (size_t i = 0; i < t->cap; i++)
		n += t->s[i].state == 1 && t->s[i].owner == owner;
	return n;
}

bool rt_equal(const struct rtable *a, const struct rtable *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->cap; i++) {
		const struct rt_slot *x = &a->s[i], *y;

		if (x->state != 1)
			continue;
		y = rt_get(b, x->kv, x->klen);
		if (!y || y->owner != x->owner || y->vlen != x->vlen ||
		    memcmp(y->kv + y->klen, x->kv + x->klen, x->vlen))
			return false;
	}
	return true;
}

int rt_apply(void *arg, uint64_t from, const struct repl_txn *txn)
{
	struct rtable *t = arg;
	(void)from;

	switch (txn->op) {
	case REPL_OP_ADD:
	case REPL_OP_UPDATE:
		return store(t, txn->owner, txn->key, txn->key_len, txn->value, txn->value_len);
	case REPL_OP_DELETE:
		return erase(t, txn->key, txn->key_len);
	case REPL_OP_DELETE_OWNER:
		for (size_t i = 0; i < t->cap; i++) {
			struct rt_slot *s = &t->s[i];

			if (s->state == 1 && (txn->owner == REPL_OWNER_ALL || s->owner == txn->owner)) {
				free(s->kv);
				*s = (struct rt_slot){ .state = 2 };
				t->n--;
			}
		}
		return 0;
	case REPL_OP_ERROR:
		return 0;
	}
	return -1;
}

int rt_dump(void *arg, struct repl_dump *d, uint64_t *cursor)
{
	struct rtable *t = arg;

	t->dump_calls++;
	for (; *cursor < t->cap; (*cursor)++) {
		const struct rt_slot *s = &t->s[*cursor];

		if (s->state != 1)
			continue;
		if (repl_dump_add(d, s->owner, s->kv, s->klen, s->kv + s->klen, s->vlen) == -ENOSPC)
			break;
	}
	return *cursor >= t->cap;
}
