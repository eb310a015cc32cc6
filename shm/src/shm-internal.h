/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * On-shm layouts shared by the shm/ sources. Sizes and offsets are pinned
 * with static_assert: changing any of them is a layout change and must bump
 * SHM_HDR_VERSION or the kind's version.
 */
#ifndef LOOM_SHM_INTERNAL_H
#define LOOM_SHM_INTERNAL_H

#include <assert.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "shm/seg.h"

#define SHM_PAGE 4096u
#define SHM_HUGE (2u << 20) /* a PMD-mapped page (x86-64, and arm64 with 4 KB pages) */

struct shm_region_desc {
	uint64_t off;
	uint64_t size;
	uint32_t flags;
	uint32_t pad;
};

struct shm_seg_hdr {
	uint64_t magic;
	uint32_t hdr_version;
	uint32_t kind;
	uint32_t kind_version;
	uint32_t nregions;
	uint64_t seg_size;
	char instance[SHM_NAME_MAX + 1];
	char table[SHM_NAME_MAX + 1];
	uint64_t created_realtime_ns;
	_Atomic uint32_t state;          /* enum shm_seg_state */
	_Atomic uint32_t generation;     /* +1 per writer attach */
	_Atomic uint64_t writer;         /* shm_owner_pack(pid, start) or 0 */
	uint64_t rcu_off;
	uint64_t rcu_size;
	uint32_t rcu_slots;
	uint32_t pad0;
	struct shm_region_desc region[SHM_MAX_REGIONS];
	uint64_t geometry[SHM_GEOM_WORDS];
};
static_assert(sizeof(struct shm_seg_hdr) <= SHM_PAGE, "header fits page 0");
static_assert(offsetof(struct shm_seg_hdr, region) == 144, "header layout pinned");
static_assert(sizeof(struct shm_seg_hdr) == 416, "header layout pinned");

/*
 * A process is named by its pid and its start time, packed in one word so a
 * slot is claimed and released with a single compare-and-swap: pid (22 bits,
 * the kernel's PID_MAX_LIMIT) and start time in clock ticks (42 bits).
 */
static inline uint64_t shm_owner_pack(uint32_t pid, uint64_t start)
{
	return (start << 22) | (pid & 0x3fffffu);
}

static inline uint32_t shm_owner_pid(uint64_t owner)
{
	return (uint32_t)(owner & 0x3fffffu);
}

static inline uint64_t shm_owner_start(uint64_t owner)
{
	return owner >> 22;
}

/* Is the process named by owner (and, if tid != 0, that thread) gone? */
int shm_owner_dead(uint64_t owner, uint32_t tid);

/* Our own owner word (cached after the first call). */
uint64_t shm_owner_self(void);

/* Offset of region i's first byte, rounded for mapping. */
static inline uint64_t shm_round_page(uint64_t v)
{
	return (v + SHM_PAGE - 1) & ~(uint64_t)(SHM_PAGE - 1);
}

#endif
