/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Small compiler helpers shared by every component. Kept minimal on purpose:
 * anything bigger belongs to the facility that needs it.
 */
#ifndef LOOM_COMMON_COMPILER_H
#define LOOM_COMMON_COMPILER_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define LOOM_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define loom_likely(x)   __builtin_expect(!!(x), 1)
#define loom_unlikely(x) __builtin_expect(!!(x), 0)

#define LOOM_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#define LOOM_UNUSED __attribute__((unused))
#define LOOM_NORETURN __attribute__((noreturn))
/* for small helpers of the per-packet path whose arguments are constants at
 * each call (lengths, offsets): inlined, their loops unroll */
#define LOOM_ALWAYS_INLINE inline __attribute__((always_inline))
#define LOOM_CACHELINE 64
#define LOOM_ALIGNED_CL __attribute__((aligned(LOOM_CACHELINE)))

/* X-macro helpers: a list declared once becomes an enum and a string table. */
#define LOOM_XENUM(name, str) name,
#define LOOM_XSTR(name, str)  [name] = str,

/*
 * An unsigned integer of 1, 2, 4 or 8 bytes (any other size is taken as 8)
 * at p, which need not be aligned: for tables that describe fields by offset
 * and width. The store keeps the low size bytes of v; callers range-check
 * first.
 */
static inline uint64_t loom_load_uint(const void *p, size_t size)
{
	uint8_t u8;
	uint16_t u16;
	uint32_t u32;
	uint64_t u64;

	switch (size) {
	case 1: memcpy(&u8, p, 1); return u8;
	case 2: memcpy(&u16, p, 2); return u16;
	case 4: memcpy(&u32, p, 4); return u32;
	default: memcpy(&u64, p, 8); return u64;
	}
}

static inline void loom_store_uint(void *p, size_t size, uint64_t v)
{
	uint8_t u8 = (uint8_t)v;
	uint16_t u16 = (uint16_t)v;
	uint32_t u32 = (uint32_t)v;

	switch (size) {
	case 1: memcpy(p, &u8, 1); break;
	case 2: memcpy(p, &u16, 2); break;
	case 4: memcpy(p, &u32, 4); break;
	default: memcpy(p, &v, 8); break;
	}
}

#endif
