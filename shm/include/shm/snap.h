/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Published snapshots: big structures (the agent's wildcard set, the
 * engine's sequence table) that readers must see whole.
 *
 * The writer builds a new snapshot aside, in free space of the segment's
 * data area, then publishes it with one atomic store of (offset, length).
 * A reader inside a read-side section loads that word once and uses the
 * block it names; the block is freed only after a grace period, so a reader
 * never sees a half-built or reused one. A writer killed while building
 * leaves the published snapshot untouched: the next writer frees everything
 * else after a grace period.
 *
 * The format of the bytes is the user's (kind/version checked at attach);
 * a reader must validate offsets inside the block like any other input.
 */
#ifndef LOOM_SHM_SNAP_H
#define LOOM_SHM_SNAP_H

#include <stddef.h>
#include <stdint.h>

#include "shm/rcu.h"
#include "shm/seg.h"

#define SHM_SNAP_VERSION 1
#define SHM_SNAP_ALIGN 64u

struct shm_snap_geom {
	uint64_t area_size;     /* bytes for snapshots (at least twice the largest) */
	uint32_t value_kind;    /* what the bytes mean (user-defined) */
	uint32_t value_version;
	uint32_t rcu_slots;
};

struct shm_snap;

int shm_snap_open_writer(const char *instance, const char *name,
			 const struct shm_snap_geom *geom, const struct shm_perm *perm,
			 struct shm_snap **out);
int shm_snap_open_reader(const char *instance, const char *name, uint32_t value_kind,
			 uint32_t value_version, struct shm_snap **out);
/* On an open descriptor (tests, fuzzing); takes over fd. */
int shm_snap_attach_fd(int fd, uint32_t value_kind, uint32_t value_version, bool writer,
		       struct shm_snap **out);
void shm_snap_close(struct shm_snap *s);

int shm_snap_reader_register(struct shm_snap *s, struct shm_rcu_reader *r);

/*
 * The published snapshot: its bytes and length, and its generation (+1 per
 * publish). NULL with *len 0 if none has been published or the published
 * word is out of bounds (counted). Read lock held while the bytes are used.
 */
const void *shm_snap_current(struct shm_snap *s, size_t *len, uint64_t *generation);

/*
 * Writer: reserve len bytes to build the next snapshot in. Returns NULL if
 * the area has no room even after a reclaim. The space is the caller's
 * until it is published or given back with shm_snap_abort().
 */
void *shm_snap_alloc(struct shm_snap *s, size_t len);
void shm_snap_abort(struct shm_snap *s, void *p);

/*
 * Writer: make p (from shm_snap_alloc, len bytes used) the published
 * snapshot. The previous one is freed after a grace period. p == NULL
 * publishes "no snapshot".
 */
int shm_snap_publish(struct shm_snap *s, void *p, size_t len);

/* Writer: run a grace period and free old snapshots; bytes freed or -ETIMEDOUT. */
int64_t shm_snap_reclaim(struct shm_snap *s, uint64_t timeout_ns);

/* Bytes free in the area right now (writer). */
uint64_t shm_snap_free_bytes(const struct shm_snap *s);

#endif
