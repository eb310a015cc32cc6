// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The pcap back end: merge order across ports, pacing, loop mode, the gate,
 * the output files and the partial-checksum port flag; plus the offload
 * metadata helpers.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <linux/virtio_net.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/pcap_file.h"
#include "common/pkt.h"
#include "common/pktio.h"

static char dir[64];
static char in0[128], in1[128], out0[128], out1[128];

static void setup(void)
{
	strcpy(dir, "/tmp/loom-pktio-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(in0, sizeof(in0), "%s/in0.pcap", dir);
	snprintf(in1, sizeof(in1), "%s/in1.pcap", dir);
	snprintf(out0, sizeof(out0), "%s/out0.pcap", dir);
	snprintf(out1, sizeof(out1), "%s/out1.pcap", dir);
}

static void teardown(void)
{
	unlink(in0);
	unlink(in1);
	unlink(out0);
	unlink(out1);
	rmdir(dir);
}

TestSuite(pktio_pcap, .init = setup, .fini = teardown);

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Ethernet + IPv4 + UDP with correct checksums; tag goes in the payload's
 * first byte so a test can tell packets apart. */
static uint32_t make_udp(uint8_t *b, uint8_t tag, uint16_t payload)
{
	static const uint8_t hdr[] = {
		0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00,
		0x45, 0, 0, 0, 0, 1, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
		0x30, 0x39, 0x00, 0x35, 0, 0, 0, 0,
	};
	uint32_t len = sizeof(hdr) + payload, sum = 0;
	struct pkt_view v;
	int c;

	memcpy(b, hdr, sizeof(hdr));
	for (uint16_t i = 0; i < payload; i++)
		b[sizeof(hdr) + i] = (uint8_t)(tag + i);
	b[16] = (uint8_t)((len - 14) >> 8);
	b[17] = (uint8_t)(len - 14);
	b[38] = (uint8_t)((payload + 8) >> 8);
	b[39] = (uint8_t)(payload + 8);
	for (int i = 14; i < 34; i += 2)
		sum += (uint32_t)b[i] << 8 | b[i + 1];
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	b[24] = (uint8_t)(~sum >> 8);
	b[25] = (uint8_t)~sum;
	cr_assert_eq(pkt_parse(b, len, &v), 0);
	c = pkt_l4_csum_compute(&v, b);
	cr_assert_geq(c, 0);
	memcpy(b + 40, &(uint16_t){ (uint16_t)c }, 2);
	cr_assert_eq(pkt_l4_csum_verify(&v, b), 0);
	return len;
}

/* Write a capture of n UDP packets with the given timestamps (ns). */
static void write_capture(const char *path, const uint64_t *ts, const uint8_t *tags, int n)
{
	struct pcap_writer *w;
	uint8_t b[256];

	cr_assert_eq(pcap_writer_open(path, PCAP_LINKTYPE_ETHERNET, 0, true, &w), 0);
	for (int i = 0; i < n; i++) {
		uint32_t len = make_udp(b, tags[i], 20);

		cr_assert_eq(pcap_writer_write(w, ts[i], b, len), 0);
	}
	cr_assert_eq(pcap_writer_close(w), 0);
}

static struct pktio *open_pcap(struct pktio_cfg *cfg)
{
	struct pktio *io;
	int rc = pktio_open(cfg, &io);

	cr_assert_eq(rc, 0, "pktio_open: %d (%s)", rc, pcap_strerror(rc));
	return io;
}

Test(pktio_pcap, merges_ports_in_timestamp_order)
{
	const uint64_t ts0[] = { 1000, 3000, 5000 }, ts1[] = { 2000, 4000, 5000 };
	const uint8_t tag0[] = { 10, 30, 50 }, tag1[] = { 20, 40, 51 };
	const uint8_t want_tag[] = { 10, 20, 30, 40, 50, 51 };
	const uint16_t want_port[] = { 0, 1, 0, 1, 0, 1 };
	struct pktio_pkt pkts[16];
	struct pktio_cfg cfg;
	struct pktio_stats st;
	struct pktio *io;
	int n;

	write_capture(in0, ts0, tag0, 3);
	write_capture(in1, ts1, tag1, 3);
	pktio_cfg_init(&cfg, "pcap");
	cfg.n_ports = 2;
	cfg.ports[0].pcap_in = in0;
	cfg.ports[1].pcap_in = in1;
	io = open_pcap(&cfg);
	cr_assert_not(pktio_eof(io));
	/* A burst's data is valid until the next burst: check each in turn. */
	n = pktio_rx_burst(io, 0, pkts, 4);
	cr_assert_eq(n, 4, "a burst is capped by max");
	for (int i = 0; i < 4; i++) {
		cr_expect_eq(pkts[i].data[42], want_tag[i], "packet %d tag %u", i, pkts[i].data[42]);
		cr_expect_eq(pkts[i].port, want_port[i], "packet %d port", i);
		cr_expect_eq(pkts[i].flags, 0, "pcap carries no offload metadata");
		cr_expect_geq(pkts[i].room, pkts[i].len);
	}
	n = pktio_rx_burst(io, 0, pkts, 16);
	cr_assert_eq(n, 2);
	for (int i = 0; i < 2; i++) {
		cr_expect_eq(pkts[i].data[42], want_tag[4 + i], "packet %d tag", 4 + i);
		cr_expect_eq(pkts[i].port, want_port[4 + i], "packet %d port", 4 + i);
	}
	cr_expect_eq(pkts[1].ts_ns, 5000);
	cr_assert(pktio_eof(io));
	cr_assert_eq(pktio_rx_burst(io, 0, pkts, 16), 0);
	cr_assert_eq(pktio_wait(io, 0, 1000), 0, "wait at end of input returns at once");
	pktio_stats(io, 0, &st);
	cr_assert_eq(st.v[PKTIO_ST_RX_PKTS], 6);
	pktio_close(io);
}

Test(pktio_pcap, real_pace_honours_the_gap)
{
	const uint64_t ts[] = { 1000000000ull, 1400000000ull }; /* 400 ms apart */
	const uint8_t tags[] = { 1, 2 };
	struct pktio_pkt pkts[4];
	struct pktio_cfg cfg;
	struct pktio *io;
	uint64_t t_first = 0, t_second = 0, deadline;

	write_capture(in0, ts, tags, 2);
	pktio_cfg_init(&cfg, "pcap");
	cfg.n_ports = 1;
	cfg.ports[0].pcap_in = in0;
	cfg.pace = PKTIO_PACE_REAL;
	io = open_pcap(&cfg);
	deadline = mono_ms() + 5000;
	while (!pktio_eof(io) && mono_ms() < deadline) {
		int n = pktio_rx_burst(io, 0, pkts, 4);

		cr_assert_leq(n, 1, "the second packet is not due with the first");
		if (n == 1 && pkts[0].data[42] == 1)
			t_first = mono_ms();
		else if (n == 1)
			t_second = mono_ms();
		else
			pktio_wait(io, 0, 50);
	}
	cr_assert(pktio_eof(io), "both packets delivered within 5 s");
	cr_assert_geq(t_second - t_first, 350, "gap %lu ms", (unsigned long)(t_second - t_first));
	cr_assert_leq(t_second - t_first, 1500, "gap %lu ms", (unsigned long)(t_second - t_first));
	pktio_close(io);
}

Test(pktio_pcap, fast_pace_ignores_the_gap)
{
	const uint64_t ts[] = { 1000000000ull, 4000000000ull }; /* 3 s apart */
	const uint8_t tags[] = { 1, 2 };
	struct pktio_pkt pkts[4];
	struct pktio_cfg cfg;
	struct pktio *io;

	write_capture(in0, ts, tags, 2);
	pktio_cfg_init(&cfg, "pcap");
	cfg.n_ports = 1;
	cfg.ports[0].pcap_in = in0;
	io = open_pcap(&cfg);
	cr_assert_eq(pktio_wait(io, 0, 0), 1);
	cr_assert_eq(pktio_rx_burst(io, 0, pkts, 4), 2);
	cr_assert_eq(pkts[1].ts_ns, 4000000000ull, "timestamps are the capture's");
	pktio_close(io);
}

Test(pktio_pcap, loop_replays_pristine_copies)
{
	const uint64_t ts[] = { 100000, 200000, 300000 };
	const uint8_t tags[] = { 7, 8, 9 };
	struct pktio_pkt pkts[64];
	struct pktio_cfg cfg;
	struct pktio *io;
	uint64_t last_ts = 0;
	unsigned total = 0;

	write_capture(in0, ts, tags, 3);
	pktio_cfg_init(&cfg, "pcap");
	cfg.n_ports = 1;
	cfg.ports[0].pcap_in = in0;
	cfg.loop = 1000;
	io = open_pcap(&cfg);
	while (!pktio_eof(io)) {
		int n = pktio_rx_burst(io, 0, pkts, 64);

		cr_assert_gt(n, 0);
		for (int i = 0; i < n; i++, total++) {
			cr_assert_eq(pkts[i].data[42], tags[total % 3], "packet %u", total);
			cr_assert_gt(pkts[i].ts_ns, last_ts, "timestamps keep increasing");
			last_ts = pkts[i].ts_ns;
			pkts[i].data[42] = 0xee; /* a worker rewrites in place */
		}
		pktio_rx_release(io, 0);
	}
	cr_assert_eq(total, 3000);
	pktio_close(io);
}

static int gate_budget;
static bool gate_fn(void *arg)
{
	cr_assert_eq(arg, &gate_budget);
	return gate_budget > 0;
}

Test(pktio_pcap, gate_holds_packets_back)
{
	const uint64_t ts[] = { 1, 2, 3 };
	const uint8_t tags[] = { 1, 2, 3 };
	struct pktio_pkt pkts[8];
	struct pktio_cfg cfg;
	struct pktio *io;

	write_capture(in0, ts, tags, 3);
	pktio_cfg_init(&cfg, "pcap");
	cfg.n_ports = 1;
	cfg.ports[0].pcap_in = in0;
	cfg.gate = gate_fn;
	cfg.gate_arg = &gate_budget;
	io = open_pcap(&cfg);
	gate_budget = 0;
	cr_assert_eq(pktio_rx_burst(io, 0, pkts, 8), 0, "closed gate: nothing");
	cr_assert_eq(pktio_wait(io, 0, 10), 0, "closed gate: wait times out");
	gate_budget = 1;
	cr_assert_eq(pktio_rx_burst(io, 0, pkts, 8), 1, "open gate: one packet per call");
	cr_assert_eq(pkts[0].data[42], 1);
	gate_budget = 0;
	cr_assert_eq(pktio_rx_burst(io, 0, pkts, 8), 0);
	gate_budget = 1;
	cr_assert_eq(pktio_rx_burst(io, 0, pkts, 8), 1);
	cr_assert_eq(pkts[0].data[42], 2);
	cr_assert_eq(pktio_rx_burst(io, 0, pkts, 8), 1);
	cr_assert(pktio_eof(io));
	pktio_close(io);
}

Test(pktio_pcap, tx_writes_output_files)
{
	const uint64_t ts[] = { 5000000000ull, 6000000000ull };
	const uint8_t tags[] = { 1, 2 };
	struct pktio_pkt pkts[4];
	struct pcap_reader *r;
	struct pcap_rec rec;
	struct pktio_cfg cfg;
	struct pktio_stats st;
	struct pktio *io;
	uint8_t buf[2048];

	write_capture(in0, ts, tags, 2);
	pktio_cfg_init(&cfg, "pcap");
	cfg.n_ports = 3;
	cfg.ports[0].pcap_in = in0;
	cfg.ports[1].pcap_out = out1;
	io = open_pcap(&cfg);
	cr_assert_eq(pktio_rx_burst(io, 0, pkts, 4), 2);
	pkts[0].port = 1;
	pkts[0].data[0] = 0xaa; /* rewritten in place, then sent */
	pkts[1].port = 2;       /* no output file: a drop */
	cr_assert_eq(pktio_tx_burst(io, 0, pkts, 2), 1);
	pktio_stats(io, -1u, &st);
	cr_assert_eq(st.v[PKTIO_ST_TX_PKTS], 1);
	cr_assert_eq(st.v[PKTIO_ST_TX_BAD_PORT], 1);
	pktio_close(io);

	cr_assert_eq(pcap_reader_open(out1, 0, &r), 0);
	cr_assert_eq(pcap_reader_linktype(r), PCAP_LINKTYPE_ETHERNET);
	cr_assert_eq(pcap_reader_next(r, &rec, buf, sizeof(buf)), 1);
	cr_assert_eq(buf[0], 0xaa);
	cr_assert_eq(buf[42], 1);
	cr_assert_eq(rec.ts_ns, 6000000000ull, "stamped with the last delivered input's time");
	cr_assert_eq(pcap_reader_next(r, &rec, buf, sizeof(buf)), 0);
	pcap_reader_close(r);
}

Test(pktio_pcap, csum_partial_port_flag)
{
	const uint64_t ts[] = { 1 };
	const uint8_t tags[] = { 3 };
	struct pktio_pkt pkts[2];
	struct pcap_reader *r;
	struct pcap_rec rec;
	struct pktio_cfg cfg;
	struct pkt_view v;
	struct pktio *io;
	uint8_t orig[256], buf[256];
	uint32_t len = make_udp(orig, 3, 20);

	write_capture(in0, ts, tags, 1);
	pktio_cfg_init(&cfg, "pcap");
	cfg.n_ports = 2;
	cfg.ports[0].pcap_in = in0;
	cfg.ports[0].flags = PKTIO_PORT_CSUM_PARTIAL;
	cfg.ports[1].pcap_out = out1;
	io = open_pcap(&cfg);
	cr_assert_eq(pktio_rx_burst(io, 0, pkts, 2), 1);
	cr_assert_eq(pkts[0].flags, PKTIO_F_CSUM_PARTIAL);
	cr_assert_eq(pkts[0].csum_start, 34);
	cr_assert_eq(pkts[0].csum_offset, 6);
	cr_assert_neq(memcmp(pkts[0].data + 40, orig + 40, 2), 0, "field holds the pseudo sum");
	cr_assert_eq(pktio_pkt_parse(&pkts[0], &v), 0);
	cr_assert(v.flags & PKT_F_CSUM_PARTIAL, "the view is marked partial");
	/* Completing the partial checksum gives back the original packet. */
	memcpy(buf, pkts[0].data, len);
	cr_assert_eq(pkt_csum_complete(buf, len, 34, 6, NULL), 0);
	cr_assert_arr_eq(buf, orig, len);
	/* And tx writes what the wire would carry: the completed checksum. */
	pkts[0].port = 1;
	cr_assert_eq(pktio_tx_burst(io, 0, pkts, 1), 1);
	pktio_close(io);
	cr_assert_eq(pcap_reader_open(out1, 0, &r), 0);
	cr_assert_eq(pcap_reader_next(r, &rec, buf, sizeof(buf)), 1);
	cr_assert_eq(rec.caplen, len);
	cr_assert_arr_eq(buf, orig, len);
	pcap_reader_close(r);
}

Test(pktio_pcap, raw_ip_input)
{
	struct pcap_writer *w;
	struct pktio_pkt pkts[2];
	struct pktio_cfg cfg;
	struct pkt_view v;
	struct pktio *io;
	uint8_t b[256];
	uint32_t len = make_udp(b, 4, 10);

	cr_assert_eq(pcap_writer_open(in0, PCAP_LINKTYPE_RAW, 0, false, &w), 0);
	cr_assert_eq(pcap_writer_write(w, 1000, b + 14, len - 14), 0);
	cr_assert_eq(pcap_writer_close(w), 0);
	pktio_cfg_init(&cfg, "pcap");
	cfg.n_ports = 2;
	cfg.ports[0].pcap_in = in0;
	cfg.ports[1].pcap_out = out1; /* Ethernet: a raw packet cannot go there */
	io = open_pcap(&cfg);
	cr_assert_eq(pktio_rx_burst(io, 0, pkts, 2), 1);
	cr_assert_eq(pkts[0].flags, PKTIO_F_RAW_IP);
	cr_assert_eq(pktio_pkt_parse(&pkts[0], &v), 0);
	cr_assert_eq(v.family, PKT_IPV4);
	pkts[0].port = 1;
	cr_assert_eq(pktio_tx_burst(io, 0, pkts, 1), 0);
	pktio_close(io);
}

Test(pktio_pcap, bad_configurations)
{
	struct pktio_cfg cfg;
	struct pktio *io;
	FILE *f;

	pktio_cfg_init(&cfg, "pcap");
	cfg.n_ports = 1;
	cfg.n_queues = 2;
	cr_assert_eq(pktio_open(&cfg, &io), -EINVAL, "one queue only");
	cr_assert_null(io);
	cfg.n_queues = 1;
	cfg.n_ports = 0;
	cr_assert_eq(pktio_open(&cfg, &io), -EINVAL);
	cfg.n_ports = 1;
	cfg.backend = "carrier-pigeon";
	cr_assert_eq(pktio_open(&cfg, &io), -EPROTONOSUPPORT);
	cfg.backend = "pcap";
	cfg.ports[0].pcap_in = "/nonexistent/in.pcap";
	cr_assert_eq(pktio_open(&cfg, &io), -ENOENT);
	f = fopen(in0, "wb");
	cr_assert_not_null(f);
	fputs("this is not a capture file at all", f);
	fclose(f);
	cfg.ports[0].pcap_in = in0;
	cr_assert_eq(pktio_open(&cfg, &io), -PCAP_ERR_MAGIC);
}

Test(pktio_meta, vnet_round_trip_and_checks)
{
	uint8_t data[200] = { 0 };
	struct pktio_pkt p = { .data = data, .len = 200 }, p2 = p;
	struct virtio_net_hdr vh = {
		.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
		.gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
		.hdr_len = 66,
		.gso_size = 1448,
		.csum_start = 34,
		.csum_offset = 16,
	}, back;

	cr_assert_eq(pktio_meta_from_vnet(&p, &vh), 0);
	cr_assert_eq(p.flags, PKTIO_F_CSUM_PARTIAL | PKTIO_F_GSO);
	cr_assert_eq(p.csum_start, 34);
	cr_assert_eq(p.csum_offset, 16);
	cr_assert_eq(p.gso_type, PKTIO_GSO_TCPV4);
	cr_assert_eq(p.gso_size, 1448);
	cr_assert_eq(p.hdr_len, 66);
	pktio_meta_to_vnet(&p, &back);
	cr_assert_eq(memcmp(&back, &vh, sizeof(vh)), 0);

	vh.csum_start = 190;
	vh.csum_offset = 16;
	cr_assert_eq(pktio_meta_from_vnet(&p2, &vh), -EINVAL, "checksum field past the end");
	vh.csum_start = 34;
	vh.gso_type = 2;
	cr_assert_eq(pktio_meta_from_vnet(&p2, &vh), -EINVAL, "unknown GSO type");
	vh.gso_type = VIRTIO_NET_HDR_GSO_TCPV6;
	vh.gso_size = 0;
	cr_assert_eq(pktio_meta_from_vnet(&p2, &vh), -EINVAL, "GSO without a segment size");
	vh = (struct virtio_net_hdr){ .flags = VIRTIO_NET_HDR_F_DATA_VALID };
	cr_assert_eq(pktio_meta_from_vnet(&p2, &vh), 0);
	cr_assert_eq(p2.flags, PKTIO_F_CSUM_VALID);
	pktio_meta_to_vnet(&p2, &back);
	cr_assert_eq(back.flags, 0, "CSUM_VALID is not passed on");
}
