// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Nanoseconds per parse: pkt_parse() one frame at a time against
 * pkt_parse_burst() in bursts of 32, for a 64-byte IPv4 UDP frame and a
 * 1500-byte IPv4 TCP packet (1514-byte frame).
 *
 *  - hot: the same frame again and again (headers in L1: the parser's own
 *    cost, the per-view memset included);
 *  - ring: a ring of frames in 2 KiB slots, larger than the last-level
 *    cache, walked in address order as a receive ring is (headers cold, but
 *    the hardware prefetcher sees the stride);
 *  - scattered: the same frames in a random order, as buffers come back
 *    from a pool (headers cold and unpredictable: what the burst's software
 *    prefetch is for).
 *
 * Usage: bench_pkt [ring slots (default 16384 = 32 MiB)] [passes (default 20)]
 * Figures vary from run to run on a shared machine: compare only figures
 * from the same run. Never asserts a timing.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/pkt.h"
#include "common/pkt_csum.h"

#define SLOT  2048u
#define BURST 32u

static volatile uint32_t sink;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void put16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* An Ethernet + IPv4 frame of frame_len bytes carrying UDP or TCP. */
static void build(uint8_t *b, uint32_t frame_len, uint8_t proto)
{
	uint32_t ip_len = frame_len - 14;

	memset(b, 0, frame_len);
	memcpy(b, "\x02\0\0\0\0\x02\x02\0\0\0\0\x01\x08\x00", 14);
	b[14] = 0x45;
	put16(b + 16, ip_len);
	b[22] = 64;
	b[23] = proto;
	memcpy(b + 26, "\x0a\0\0\x01\xc0\0\x02\x0a", 8);
	put16(b + 34, 40000);
	put16(b + 36, proto == 6 ? 80 : 53);
	if (proto == 6) {
		b[46] = 5 << 4;
		b[47] = 0x10;
	} else {
		put16(b + 38, ip_len - 20);
	}
	pkt_store16(b + 24, (uint16_t)~pkt_csum_fold(pkt_csum_add(0, b + 14, 20)));
}

static double single(const uint8_t *const *bufs, const uint32_t *lens, unsigned n, unsigned passes)
{
	struct pkt_view v;
	uint32_t acc = 0;
	uint64_t t0 = now_ns();

	for (unsigned p = 0; p < passes; p++)
		for (unsigned i = 0; i < n; i++) {
			acc += (uint32_t)pkt_parse(bufs[i], lens[i], &v);
			acc += v.l4_off;
		}
	sink = acc;
	return (double)(now_ns() - t0) / ((double)n * passes);
}

static double burst(const uint8_t *const *bufs, const uint32_t *lens, unsigned n, unsigned passes)
{
	struct pkt_view v[BURST];
	int rc[BURST];
	uint32_t acc = 0;
	uint64_t t0 = now_ns();

	for (unsigned p = 0; p < passes; p++)
		for (unsigned i = 0; i + BURST <= n; i += BURST) {
			acc += pkt_parse_burst(bufs + i, lens + i, BURST, v, rc);
			for (unsigned j = 0; j < BURST; j++)
				acc += v[j].l4_off;
		}
	sink = acc;
	return (double)(now_ns() - t0) / ((double)(n / BURST * BURST) * passes);
}

int main(int argc, char **argv)
{
	unsigned slots = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 0) : 16384;
	unsigned passes = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 0) : 20;
	static const struct {
		const char *name;
		uint32_t len;
		uint8_t proto;
	} kinds[] = { { "64-byte UDP frame", 64, 17 }, { "1500-byte TCP packet", 1514, 6 } };

	if (slots < BURST)
		slots = BURST;
	slots -= slots % BURST;
	uint8_t *ring = aligned_alloc(64, (size_t)slots * SLOT);
	const uint8_t **bufs = malloc(slots * sizeof(*bufs));
	uint32_t *lens = malloc(slots * sizeof(*lens));
	const uint8_t **hot = malloc(slots * sizeof(*hot));
	const uint8_t **mixed = malloc(slots * sizeof(*mixed));
	uint64_t rng = 0x9e3779b97f4a7c15u;

	if (!ring || !bufs || !lens || !hot || !mixed)
		return 1;
	printf("pkt_parse, ns per frame (ring: %u slots of %u bytes, %u passes)\n", slots, SLOT,
	       passes);
	printf("%-22s %8s %8s %8s %8s %8s %8s\n", "", "hot 1", "hot 32", "ring 1", "ring 32",
	       "scat 1", "scat 32");
	for (unsigned k = 0; k < LOOM_ARRAY_SIZE(kinds); k++) {
		for (unsigned i = 0; i < slots; i++) {
			build(ring + (size_t)i * SLOT, kinds[k].len, kinds[k].proto);
			bufs[i] = ring + (size_t)i * SLOT;
			hot[i] = ring;
			lens[i] = kinds[k].len;
			mixed[i] = bufs[i];
		}
		for (unsigned i = slots - 1; i > 0; i--) { /* Fisher-Yates, xorshift */
			rng ^= rng << 13;
			rng ^= rng >> 7;
			rng ^= rng << 17;
			unsigned j = (unsigned)(rng % (i + 1));
			const uint8_t *t = mixed[i];
			mixed[i] = mixed[j];
			mixed[j] = t;
		}
		struct pkt_view v;
		if (pkt_parse(bufs[0], lens[0], &v) || !(v.flags & PKT_F_L4))
			return 1;
		single(hot, lens, slots, 2); /* warm up */
		double h1 = single(hot, lens, slots, passes);
		double h32 = burst(hot, lens, slots, passes);
		double r1 = single(bufs, lens, slots, passes);
		double r32 = burst(bufs, lens, slots, passes);
		double s1 = single(mixed, lens, slots, passes);
		double s32 = burst(mixed, lens, slots, passes);
		printf("%-22s %8.2f %8.2f %8.2f %8.2f %8.2f %8.2f\n", kinds[k].name, h1, h32, r1, r32,
		       s1, s32);
	}
	free(mixed);
	free(hot);
	free(lens);
	free(bufs);
	free(ring);
	return 0;
}
