/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The affinity key: the 5-tuple that names one direction of one flow.
 *
 * Address-family agnostic from the start: both addresses are 16 bytes, IPv4
 * is stored IPv4-mapped (::ffff:a.b.c.d, RFC 4291 2.5.5.2). Everything is in
 * network byte order, exactly as in the packet, so building a key from a
 * parsed packet is a few copies and never a byte swap.
 *
 * The key is hashed and compared as 40 raw bytes: whoever builds one must
 * start from a zeroed key (key_init) so the padding is zero.
 *
 * For ICMP echo the identifier stands in both port fields' place: sport
 * holds the identifier and dport is 0 (see pkt_key() in pkt.h).
 */
#ifndef LOOM_COMMON_KEY_H
#define LOOM_COMMON_KEY_H

#include <assert.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

struct flow_key {
	uint8_t saddr[16];
	uint8_t daddr[16];
	uint16_t sport; /* network byte order */
	uint16_t dport; /* network byte order */
	uint8_t proto;  /* IPPROTO_*; 0 in a wildcard means any */
	uint8_t pad[3]; /* always zero */
};
static_assert(sizeof(struct flow_key) == 40, "flow_key is a wire/shm layout");

static inline void key_init(struct flow_key *k)
{
	memset(k, 0, sizeof(*k));
}

static inline bool key_equal(const struct flow_key *a, const struct flow_key *b)
{
	return memcmp(a, b, sizeof(*a)) == 0;
}

/*
 * Store an IPv4 address (network byte order) IPv4-mapped into a 16-byte slot.
 * One 16-byte store: readers load addresses whole or by 8-byte words
 * (copies, hashes, masks, route lookups), often right after this, and a load
 * the store buffer cannot serve from a single store (bytes written apart)
 * waits until they have all reached the cache.
 */
static inline void key_addr_from_v4(uint8_t dst[16], uint32_t v4_be)
{
	typedef uint64_t u64x2 __attribute__((vector_size(16)));
	/* bytes 8..15: 0 0 ff ff a b c d */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	u64x2 v = { 0, (uint64_t)v4_be << 32 | 0xffff0000u };
#else
	u64x2 v = { 0, (uint64_t)0xffffu << 32 | v4_be };
#endif

	memcpy(dst, &v, 16);
}

static inline bool key_addr_is_v4(const uint8_t a[16])
{
	static const uint8_t prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	return memcmp(a, prefix, sizeof(prefix)) == 0;
}

/* The reverse direction of a flow: addresses and ports swapped. */
static inline void key_reverse(struct flow_key *dst, const struct flow_key *src)
{
	struct flow_key r;

	key_init(&r);
	memcpy(r.saddr, src->daddr, 16);
	memcpy(r.daddr, src->saddr, 16);
	r.sport = src->dport;
	r.dport = src->sport;
	r.proto = src->proto;
	*dst = r;
}

/* Format "proto saddr:sport > daddr:dport" into buf; returns buf. */
char *key_format(const struct flow_key *k, char *buf, size_t len);
#define KEY_FMT_LEN 112

/* An address as text: dotted quad for IPv4-mapped, RFC 5952 otherwise
 * (buf of at least 46 bytes, INET6_ADDRSTRLEN). Returns buf. */
char *key_addr_format(const uint8_t a[16], char *buf, size_t len);

#endif
