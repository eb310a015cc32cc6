/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Small compiler helpers shared by every component. Kept minimal on purpose:
 * anything bigger belongs to the facility that needs it.
 */
#ifndef LOOM_COMMON_COMPILER_H
#define LOOM_COMMON_COMPILER_H

#include <stddef.h>

#define LOOM_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define loom_likely(x)   __builtin_expect(!!(x), 1)
#define loom_unlikely(x) __builtin_expect(!!(x), 0)

#define LOOM_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#define LOOM_UNUSED __attribute__((unused))
#define LOOM_NORETURN __attribute__((noreturn))
#define LOOM_CACHELINE 64
#define LOOM_ALIGNED_CL __attribute__((aligned(LOOM_CACHELINE)))

/* X-macro helpers: a list declared once becomes an enum and a string table. */
#define LOOM_XENUM(name, str) name,
#define LOOM_XSTR(name, str)  [name] = str,

#endif
