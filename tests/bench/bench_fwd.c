// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The forwarding agent's pipeline on the fixed-affinity hit path, one core,
 * packets from an in-memory capture (the pcap back end's loop mode): parse,
 * batched lookup in the shared table, copy of the affinity, NAT of the
 * destination address and port with incremental checksums, TTL, routing,
 * MAC rewrite, transmit (to a port with no output: the packet is counted
 * and dropped, so no file I/O is measured).
 *
 * Usage: bench_fwd [flows (default 1000000)] [seconds (default 3)] [2m|4k]
 * (the table on 2 MB pages as the agent puts it by default, or on 4 KB)
 *
 * There is no peer to run on an in-memory capture: kernel forwarding and
 * nftables are measured on the namespace lab instead (docs/performance.md).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/ev.h"
#include "common/msg.h"
#include "common/pcap_file.h"
#include "fwd_aff.h"
#include "fwd_dp.h"

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void v4(uint8_t a[16], uint32_t host_order)
{
	key_addr_from_v4(a, htonl(host_order));
}

/* A 64-byte TCP ACK from client i to the virtual address, with checksums. */
static unsigned frame(uint8_t *f, uint32_t i)
{
	static const uint8_t hdr[14] = { 2, 0, 0, 0, 1, 1, 2, 0, 0, 0, 1, 2, 8, 0 };
	uint32_t src = 0x0a010000u + i, dst = 0x0a090005u;
	uint8_t *ip = f + 14, *tcp = ip + 20;
	uint32_t sum = 0;

	memset(f, 0, 64);
	memcpy(f, hdr, 14);
	ip[0] = 0x45;
	ip[3] = 46; /* 20 + 20 + 6 bytes of payload: a 60-byte frame */
	ip[8] = 64;
	ip[9] = 6;
	*(uint32_t *)(void *)(ip + 12) = htonl(src);
	*(uint32_t *)(void *)(ip + 16) = htonl(dst);
	for (int k = 0; k < 20; k += 2)
		sum += (uint32_t)ip[k] << 8 | ip[k + 1];
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	ip[10] = (uint8_t)(~sum >> 8);
	ip[11] = (uint8_t)~sum;
	*(uint16_t *)(void *)tcp = htons((uint16_t)(1024 + i % 60000));
	*(uint16_t *)(void *)(tcp + 2) = htons(80);
	tcp[12] = 0x50;
	tcp[13] = 0x10;
	/* pseudo-header + TCP + payload */
	sum = (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) + 6 + 26;
	for (int k = 0; k < 26; k += 2)
		sum += (uint32_t)tcp[k] << 8 | tcp[k + 1];
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	tcp[16] = (uint8_t)(~sum >> 8);
	tcp[17] = (uint8_t)~sum;
	return 60;
}

int main(int argc, char **argv)
{
	uint32_t flows = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 10) : 1000000;
	double seconds = argc > 2 ? strtod(argv[2], NULL) : 3.0;
	const char *pages = argc > 3 ? argv[3] : "2m";
	char inst[32], path[64];
	struct fwd_aff *aff;
	struct msg m;
	struct msg_action_list deny;

	if (flows < 1 || flows > 4000000 || seconds <= 0 ||
	    (strcmp(pages, "2m") != 0 && strcmp(pages, "4k") != 0)) {
		fprintf(stderr, "usage: bench_fwd [flows 1..4000000] [seconds] [2m|4k]\n");
		return 2;
	}
	snprintf(inst, sizeof(inst), "bfwd%d", (int)getpid());
	snprintf(path, sizeof(path), "/tmp/bench-fwd-%d.pcap", (int)getpid());
	struct fwd_aff_cfg ac = { .instance = inst, .capacity = flows + flows / 4 + 64, .lanes = 1,
				  .rcu_slots = 8, .caps = ~UINT64_C(0),
				  /* as the agent has it by default (huge-pages: true) */
				  .perm = { .huge_pages = strcmp(pages, "2m") == 0 } };
	if (fwd_aff_open(&ac, &aff, NULL) < 0)
		return 1;

	/* the service: a wildcard for 10.9.0.0/16, then one fixed affinity per
	 * flow translating to a real server */
	msg_init(&m, MSG_T_UPDATE_WILDCARD);
	struct msg_wildcard *w = &msg_add(&m, MSG_S_WILDCARD, true)->u.wildcard;
	key_init(&w->key);
	w->key.proto = 6;
	v4(w->key.daddr, 0x0a090000u);
	memset(w->dmask, 0xff, 14);
	v4(w->key.saddr, 0);
	memset(w->smask, 0xff, 12);
	w->ttl = 3600;
	/* the data path reads CLOCK_MONOTONIC: install at that time too (a TTL
	 * counted from 0 expired once the machine had been up an hour, and every
	 * packet then took the miss path) */
	uint64_t now_ms = ev_now_ms();
	fwd_aff_apply(aff, 0, &m, now_ms, &deny);
	fwd_aff_publish(aff, now_ms);

	uint64_t t0 = now_ns();
	msg_init(&m, MSG_T_UPDATE_FIXED);
	struct msg_fixed *f = &msg_add(&m, MSG_S_FIXED, true)->u.fixed;
	struct msg_nat *n = &msg_add(&m, MSG_S_ACT_NAT, true)->u.nat;
	n->present = MSG_NAT_DADDR | MSG_NAT_DPORT;
	v4(n->daddr, 0x0a02000bu);
	n->dport = htons(8080);
	for (uint32_t i = 0; i < flows; i++) {
		key_init(&f->key);
		f->key.proto = 6;
		v4(f->key.saddr, 0x0a010000u + i);
		v4(f->key.daddr, 0x0a090005u);
		f->key.sport = htons((uint16_t)(1024 + i % 60000));
		f->key.dport = htons(80);
		f->ttl = 3600;
		if (fwd_aff_apply(aff, 0, &m, now_ms, &deny) != FWD_UPD_APPLIED) {
			fprintf(stderr, "install of flow %u failed\n", i);
			return 1;
		}
	}
	double install_s = (double)(now_ns() - t0) / 1e9;

	/* the capture: one packet per flow, in a shuffled order */
	uint32_t npkts = flows < (1u << 20) ? flows : (1u << 20);
	uint32_t *order = malloc(sizeof(*order) * npkts);
	for (uint32_t i = 0; i < npkts; i++)
		order[i] = (uint32_t)((uint64_t)i * flows / npkts);
	srand(7);
	for (uint32_t i = npkts - 1; i > 0; i--) {
		uint32_t j = (uint32_t)rand() % (i + 1), t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	struct pcap_writer *pw;
	if (pcap_writer_open(path, PCAP_LINKTYPE_ETHERNET, 65535, false, &pw) < 0)
		return 1;
	for (uint32_t i = 0; i < npkts; i++) {
		uint8_t fr[64];
		unsigned len = frame(fr, order[i]);
		pcap_writer_write(pw, (uint64_t)i * 1000u, fr, len);
	}
	pcap_writer_close(pw);
	free(order);

	struct pktio_cfg pc;
	pktio_cfg_init(&pc, "pcap");
	pc.n_queues = 1;
	pc.n_ports = 2;
	pc.ports[0].pcap_in = path;
	pc.loop = 1000000;
	struct fwd_dp dp = { .fixed = fwd_aff_table(aff), .snap = fwd_aff_snap(aff), .nports = 2,
			     .nroutes = 1 };
	if (pktio_open(&pc, &dp.io) < 0)
		return 1;
	v4(dp.routes[0].addr, 0x0a020000u);
	memset(dp.routes[0].mask, 0xff, 15);
	dp.routes[0].port = 1;
	dp.routes[0].len = 120;
	static struct fwd_worker wk;
	if (fwd_worker_init(&wk, &dp, 0) < 0)
		return 1;

	/* warm up, then measure */
	for (int i = 0; i < 1000; i++)
		fwd_worker_run_once(&wk);
	uint64_t hits0 = fwd_worker_ctr(&wk, FWD_C_FIXED_HIT), rx0 = fwd_worker_ctr(&wk, FWD_C_RX);
	uint64_t s0 = now_ns(), end = s0 + (uint64_t)(seconds * 1e9), s1;
	do {
		for (int i = 0; i < 256; i++)
			fwd_worker_run_once(&wk);
		s1 = now_ns();
	} while (s1 < end);
	double secs = (double)(s1 - s0) / 1e9;
	uint64_t rx = fwd_worker_ctr(&wk, FWD_C_RX) - rx0;
	uint64_t hits = fwd_worker_ctr(&wk, FWD_C_FIXED_HIT) - hits0;

	printf("fwd pipeline, fixed-affinity hit path, NAT of destination address and port,\n"
	       "one core, %u flows, %u packets in memory, 60-byte frames:\n", flows, npkts);
	printf("  packets/s per core : %.2f M (%.1f ns per packet)\n", (double)rx / secs / 1e6,
	       secs * 1e9 / (double)rx);
	printf("  fixed hits         : %.1f %% of packets\n", 100.0 * (double)hits / (double)rx);
	if (hits != rx)
		fprintf(stderr, "bench_fwd: only %.1f %% of packets took the hit path: the figure "
			"above is not the one this benchmark is for\n", 100.0 * (double)hits / (double)rx);
	printf("  malformed/no route : %lu / %lu\n",
	       (unsigned long)fwd_worker_ctr(&wk, FWD_C_MALFORMED),
	       (unsigned long)fwd_worker_ctr(&wk, FWD_C_NO_ROUTE));
	uint64_t table_bytes = 0;
	size_t rsz;
	for (unsigned i = 0; shm_seg_region(shm_table_seg(fwd_aff_table(aff)), i, &rsz); i++)
		table_bytes += rsz;
	printf("  table on 2 MB pages: %lu of %lu MB\n",
	       (unsigned long)(shm_seg_huge_bytes(shm_table_seg(fwd_aff_table(aff))) >> 20),
	       (unsigned long)(table_bytes >> 20));
	printf("  (installing %u fixed affinities through the codec path took %.2f s)\n", flows,
	       install_s);

	fwd_worker_fini(&wk);
	pktio_close(dp.io);
	fwd_aff_close(aff);
	fwd_aff_unlink(inst);
	unlink(path);
	return hits * 10 < rx * 9; /* most packets must have taken the hit path */
}
