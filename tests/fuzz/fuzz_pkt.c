// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Fuzz the packet library: parse the input as an Ethernet frame and as a
 * bare IP packet; whatever parses gets every operation applied to a copy of
 * exactly its size. The first input byte picks translation fields, so the
 * fuzzer steers which rewrites run; the rest is the packet.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/pkt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void nat_from(struct pkt_nat *n, uint8_t sel, unsigned family)
{
	memset(n, 0, sizeof(*n));
	n->present = sel & 0xf;
	for (unsigned i = 0; i < 16; i++) {
		n->saddr[i] = (uint8_t)(0x20 + i * 7 + sel);
		n->daddr[i] = (uint8_t)(0x30 + i * 5 - sel);
	}
	if (family == PKT_IPV4) {
		key_addr_from_v4(n->saddr, 0x0100000a);
		key_addr_from_v4(n->daddr, 0x0a7100cb);
	}
	n->sport = (uint16_t)(sel * 257);
	n->dport = (uint16_t)~n->sport;
}

static void run(const uint8_t *in, uint32_t len, bool l3, uint8_t sel)
{
	uint8_t *buf = malloc(len ? len : 1);
	struct pkt_view v;
	struct pkt_quote q;
	struct pkt_nat nat;
	struct flow_key k;
	struct pkt_seq_adj adj = {
		.seq_delta = sel & 0x10 ? 0xfffffff0u : 0, .seq_init = 0x10000000u * sel,
		.ack_delta = sel & 0x20 ? 7 : 0, .ack_init = 1000,
	};
	int r;

	if (!buf)
		return;
	memcpy(buf, in, len);
	r = l3 ? pkt_parse_l3(buf, len, &v) : pkt_parse(buf, len, &v);
	if (r > 0 || r <= -PKT__ERR_MAX || (r == 0 && v.family != PKT_NOT_IP && v.len > len))
		__builtin_trap();
	if (!l3) {
		/* The burst must agree with the single parse. */
		const uint8_t *bufs[2] = { buf, buf };
		uint32_t lens[2] = { len, len };
		struct pkt_view bv[2];
		int rc[2];

		if (pkt_parse_burst(bufs, lens, 2, bv, rc) != (r == 0 ? 2u : 0u) || rc[1] != r ||
		    (r == 0 && (bv[1].len != v.len || bv[1].l4_off != v.l4_off ||
				bv[1].flags != v.flags)))
			__builtin_trap();
		if (r == 0 && (sel & 0x80) && pkt_view_set_vlan(&v, sel & 1 ? 0x88a8 : 0, sel) == 0 &&
		    !(v.flags & PKT_F_VLAN_AUX))
			__builtin_trap();
	}
	if (r == 0 && v.family != PKT_NOT_IP) {
		/* An ICMP error about it (before anything rewrites it): whatever
		 * the packet, the error parses back with a valid checksum. */
		static uint8_t err[2048];
		struct pkt_icmp_err e = { .type = (uint8_t)(sel % 12), .ttl = 64, .info = 1280 };
		if (v.family == PKT_IPV4)
			key_addr_from_v4(e.src, 0x0100000a);
		else
			e.src[0] = 0x20;
		(void)pkt_icmp_error_allowed(buf, &v, e.type);
		int el = pkt_icmp_error(err, sizeof(err), buf, &v, &e);
		if (el > 0) {
			struct pkt_view ev;
			if (pkt_parse_l3(err, (uint32_t)el, &ev) < 0 ||
			    pkt_l4_csum_verify(&ev, err) < 0)
				__builtin_trap();
		}
		pkt_key(&v, buf, &k);
		(void)pkt_ipv4_csum_ok(&v, buf);
		(void)pkt_l4_csum_verify(&v, buf);
		(void)pkt_l4_csum_compute(&v, buf);
		if (pkt_icmp_quote(&v, buf, &q, &k) == 0) {
			if (q.l4_off > v.len || q.end > v.len)
				__builtin_trap();
			nat_from(&nat, (uint8_t)~sel, v.family);
			pkt_icmp_quote_rewrite(buf, &v, &q, &nat);
		}
		nat_from(&nat, sel, v.family);
		if (sel & 0x40)
			pkt_view_set_csum_partial(&v, v.l4_off, v.l4_proto == 6 ? 16 : 6);
		pkt_rewrite(buf, &v, &nat);
		pkt_tcp_seq_adjust(buf, &v, &adj);
		pkt_ttl_dec(buf, &v);
		if (v.flags & PKT_F_CSUM_PARTIAL)
			pkt_csum_complete(buf, v.len, v.csum_start, v.csum_offset, &v);
		/* Arbitrary (hostile) partial offsets must be refused, not followed. */
		pkt_csum_complete(buf, v.len, (uint16_t)(sel * 3), (uint16_t)(sel * 5), NULL);
	}
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 70000)
		return 0;
	run(data + 1, (uint32_t)(size - 1), false, data[0]);
	run(data + 1, (uint32_t)(size - 1), true, data[0]);
	return 0;
}
