/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Small string helpers shared by every component. */
#ifndef LOOM_COMMON_STR_H
#define LOOM_COMMON_STR_H

#include <stddef.h>
#include <stdint.h>

#include "common/compiler.h"

/*
 * printf into buf at *off, never past len and always terminated; *off
 * advances by what was written (it stops at len - 1 when the text is cut).
 * Repeated calls build a line piece by piece.
 */
void loom_appendf(char *buf, size_t len, size_t *off, const char *fmt, ...) LOOM_PRINTF(4, 5);

/*
 * FNV-1a, 64 bits: of n bytes, going on from h (LOOM_HASH64_INIT to start),
 * and of a NUL-terminated string. How a daemon turns its configured
 * instance name into the numeric instance id of hello messages and owner
 * fields, and names what must be known again after a restart (service and
 * backend ids): stable across restarts and hosts, never a keyed hash.
 */
#define LOOM_HASH64_INIT 1469598103934665603ULL
uint64_t loom_hash64(uint64_t h, const void *p, size_t n);
uint64_t loom_str_hash64(const char *s);

#endif
