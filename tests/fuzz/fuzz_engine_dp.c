// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * loom-pkt-engine's data plane on hostile input. The first byte chooses:
 *   high bit clear: the rest is a burst of frames (2-byte length, 1-byte
 *     port, bytes) steered by the test definitions' snapshot;
 *   high bit set: the rest patches a copy of that snapshot (3 bytes each:
 *     a 2-byte offset and a byte to store), as a corrupt or hostile
 *     segment could hold it; if the readers' validation accepts it, a few
 *     frames of the test services are steered by it.
 * Nothing may crash or touch memory outside a buffer; every frame that
 * comes out must still parse.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../unit/engine/engine_defs.h"
#include "common/pkt.h"
#include "common/sequence.h"
#include "pe_config.h"
#include "pe_dp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_FRAMES 16
#define FRAME_ROOM 2048

static struct pe_dp dp;
static struct pe_worker wk;
static struct seq_view view;
static void *block;
static size_t block_len;

static void set_up(void)
{
	static struct pe_config cfg;
	int rc;

	if (cfg_load_buffer("defs", base_yaml, strlen(base_yaml), &pe_config_schema, &cfg,
			    NULL) < 0)
		abort();
	struct seq_builder *b = pe_defs_build(&cfg.defs, NULL, NULL, &rc);
	if (!b)
		abort();
	block_len = seq_builder_size(b);
	block = aligned_alloc(64, (block_len + 63) & ~(size_t)63);
	if (!block || seq_builder_write(b, block, block_len, 1, 0) < 0 ||
	    seq_view_init(&view, block, block_len) < 0)
		abort();
	seq_builder_free(b);
	dp.nports = 2;
	dp.copy_room = 8192;
	if (pe_worker_init(&wk, &dp, 0) < 0)
		abort();
}

static void steer(const struct seq_view *v, struct pktio_pkt *pkts, unsigned n)
{
	struct pktio_pkt out[PE_OUT_MAX(MAX_FRAMES)];
	unsigned nout = pe_worker_process(&wk, v, pkts, n, out);
	struct pkt_view pv;

	for (unsigned i = 0; i < nout; i++)
		if (out[i].port >= dp.nports || pkt_parse(out[i].data, out[i].len, &pv) < 0)
			abort();
}

/* A frame of the test definitions' web service, from the client side. */
static uint32_t known_frame(uint8_t *f, uint16_t dport)
{
	static const uint8_t hdr[] = {
		2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 0xfe, 0x08, 0x00,
		0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0, 10, 1, 0, 5, 10, 9, 0, 1,
		0x9c, 0x40, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0,
	};

	memcpy(f, hdr, sizeof(hdr));
	f[36] = (uint8_t)(dport >> 8);
	f[37] = (uint8_t)dport;
	return sizeof(hdr);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t frames[MAX_FRAMES][FRAME_ROOM];
	struct pktio_pkt pkts[MAX_FRAMES];
	unsigned n = 0;

	if (!block)
		set_up();
	if (size < 1)
		return 0;
	if (data[0] & 0x80) {
		struct seq_view v;
		uint8_t *copy = aligned_alloc(64, (block_len + 63) & ~(size_t)63);
		if (!copy)
			return 0;
		memcpy(copy, block, block_len);
		for (size_t off = 1; off + 3 <= size; off += 3)
			copy[((size_t)data[off] << 8 | data[off + 1]) % block_len] = data[off + 2];
		if (seq_view_init(&v, copy, block_len) == 0) {
			static const uint16_t ports[] = { 80, 21, 1100, 8080 };
			for (unsigned i = 0; i < LOOM_ARRAY_SIZE(ports); i++) {
				memset(&pkts[n], 0, sizeof(pkts[n]));
				pkts[n].data = frames[n];
				pkts[n].len = known_frame(frames[n], ports[i]);
				pkts[n].port = (uint16_t)(i & 1);
				pkts[n].room = FRAME_ROOM;
				n++;
			}
			steer(&v, pkts, n);
		}
		free(copy);
		return 0;
	}
	for (size_t off = 1; off + 3 <= size && n < MAX_FRAMES;) {
		uint32_t len = (uint32_t)data[off] << 8 | data[off + 1];
		uint8_t port = data[off + 2];
		off += 3;
		if (len > size - off)
			len = (uint32_t)(size - off);
		if (len > FRAME_ROOM)
			len = FRAME_ROOM;
		memcpy(frames[n], data + off, len);
		off += len;
		memset(&pkts[n], 0, sizeof(pkts[n]));
		pkts[n].data = frames[n];
		pkts[n].len = len;
		pkts[n].port = port % 3; /* port 2 exists for no step */
		pkts[n].room = FRAME_ROOM;
		n++;
	}
	steer(&view, pkts, n);
	return 0;
}
