/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Internet checksum primitives (RFC 1071, RFC 1624), used by pkt_ and by
 * anyone who builds packets (ICMP errors, probes).
 *
 * Words are loaded in host order with memcpy and stored back the same way:
 * the one's complement sum commutes with byte swapping (RFC 1071 2.B), so no
 * byte swap is ever needed and unaligned buffers are fine. A value from a
 * header field given as a number (a length, a protocol) must therefore be
 * converted to network order before it is added (htons/htonl).
 *
 * An incremental change is carried as a "diff": the sum, over every 16-bit
 * word that changed, of ~old + new. Applying it to a checksum field
 * (RFC 1624 eqn. 3) is HC' = ~(~HC + diff); to a CHECKSUM_PARTIAL field,
 * which holds an uncomplemented sum, it is S' = S + diff.
 */
#ifndef LOOM_COMMON_PKT_CSUM_H
#define LOOM_COMMON_PKT_CSUM_H

#include <stdint.h>
#include <string.h>

static inline uint16_t pkt_csum_fold(uint64_t s)
{
	s = (s & 0xffffffffu) + (s >> 32);
	s = (s & 0xffffu) + (s >> 16);
	s = (s & 0xffffu) + (s >> 16);
	s = (s & 0xffffu) + (s >> 16);
	return (uint16_t)s;
}

static inline uint16_t pkt_load16(const uint8_t *p)
{
	uint16_t w;

	memcpy(&w, p, 2);
	return w;
}

static inline void pkt_store16(uint8_t *p, uint16_t w)
{
	memcpy(p, &w, 2);
}

/* Add n bytes at p to an unfolded sum; p must start at an even offset of the
 * summed region (an odd n pads the last byte with zero, RFC 1071). */
static inline uint64_t pkt_csum_add(uint64_t sum, const uint8_t *p, uint32_t n)
{
	while (n >= 2) {
		sum += pkt_load16(p);
		p += 2;
		n -= 2;
	}
	if (n) {
		uint8_t last[2] = { p[0], 0 };
		sum += pkt_load16(last);
	}
	return sum;
}

/* The diff for replacing n (even) bytes old[] by new[]. */
static inline uint32_t pkt_csum_diff(uint32_t diff, const uint8_t *old, const uint8_t *new_,
				     uint32_t n)
{
	for (uint32_t i = 0; i < n; i += 2)
		diff += (uint16_t)~pkt_load16(old + i) + (uint32_t)pkt_load16(new_ + i);
	return pkt_csum_fold(diff);
}

/* Apply a diff to a full (complemented) checksum field. */
static inline void pkt_csum_apply(uint8_t *field, uint32_t diff)
{
	uint16_t hc = pkt_load16(field);

	pkt_store16(field, (uint16_t)~pkt_csum_fold((uint32_t)(uint16_t)~hc + diff));
}

/* Apply a diff to a CHECKSUM_PARTIAL field (an uncomplemented sum). */
static inline void pkt_csum_apply_partial(uint8_t *field, uint32_t diff)
{
	pkt_store16(field, pkt_csum_fold((uint32_t)pkt_load16(field) + diff));
}

#endif
