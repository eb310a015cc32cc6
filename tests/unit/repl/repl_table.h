/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A daemon's table as the replication tests and the benchmark see it: an
 * open-addressing hash of (key -> owner, value) with tombstones, so a dump's
 * cursor (a slot index) never skips an entry that stays put, plus the two
 * callbacks repl.h asks for.
 */
#ifndef LOOM_TEST_REPL_TABLE_H
#define LOOM_TEST_REPL_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/repl.h"

struct rt_slot {
	uint8_t state;          /* 0 empty, 1 used, 2 deleted */
	uint8_t klen;
	uint16_t vlen;
	uint64_t owner;
	uint8_t *kv;            /* key then value */
};

struct rtable {
	struct rt_slot *s;
	size_t cap, n;
	struct repl *r;         /* to submit local changes to */
	uint64_t self;
	unsigned dump_calls;
};

void rt_init(struct rtable *t, size_t cap, uint64_t self);
void rt_free(struct rtable *t);
/* Local changes: change the table, then submit (when t->r is set). */
int rt_put(struct rtable *t, uint64_t owner, const void *key, size_t klen, const void *val,
	   size_t vlen);
int rt_del(struct rtable *t, const void *key, size_t klen);
const struct rt_slot *rt_get(const struct rtable *t, const void *key, size_t klen);
size_t rt_count_owner(const struct rtable *t, uint64_t owner);
/* Same entries, owners and values. */
bool rt_equal(const struct rtable *a, const struct rtable *b);

int rt_apply(void *arg, uint64_t from, const struct repl_txn *txn);
int rt_dump(void *arg, struct repl_dump *d, uint64_t *cursor);

#endif
