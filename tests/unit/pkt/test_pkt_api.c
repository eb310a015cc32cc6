// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The pkt_ API at its edges: the size limit, reason strings for any int,
 * decoded msg_ actions applied as they are, the burst parser against the
 * single one, and VLAN tags the kernel stripped.
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <assert.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/msg.h"
#include "common/pkt.h"
#include "pcap_read.h"

/*
 * A forwarding agent hands a decoded action-nat or action-seq-adjust
 * segment to pkt_ unchanged; these pin what makes that correct.
 */
static_assert(PKT_NAT_SADDR == MSG_NAT_SADDR, "NAT bits differ");
static_assert(PKT_NAT_SPORT == MSG_NAT_SPORT, "NAT bits differ");
static_assert(PKT_NAT_DADDR == MSG_NAT_DADDR, "NAT bits differ");
static_assert(PKT_NAT_DPORT == MSG_NAT_DPORT, "NAT bits differ");

#define SAME_MEMBER(a, b, m)                                                     \
	static_assert(offsetof(struct a, m) == offsetof(struct b, m) &&          \
		      sizeof(((struct a *)0)->m) == sizeof(((struct b *)0)->m),  \
		      #a "." #m " differs from " #b)
SAME_MEMBER(pkt_nat, msg_nat, saddr);
SAME_MEMBER(pkt_nat, msg_nat, sport);
SAME_MEMBER(pkt_nat, msg_nat, daddr);
SAME_MEMBER(pkt_nat, msg_nat, dport);
SAME_MEMBER(pkt_nat, msg_nat, present);
static_assert(sizeof(struct pkt_nat) == sizeof(struct msg_nat), "pkt_nat size");
SAME_MEMBER(pkt_seq_adj, msg_seq_adjust, seq_delta);
SAME_MEMBER(pkt_seq_adj, msg_seq_adjust, seq_init);
SAME_MEMBER(pkt_seq_adj, msg_seq_adjust, ack_delta);
SAME_MEMBER(pkt_seq_adj, msg_seq_adjust, ack_init);
static_assert(sizeof(struct pkt_seq_adj) == sizeof(struct msg_seq_adjust), "seq adj size");

static void load(const char *name, struct pcap_file *f)
{
	char path[512];

	snprintf(path, sizeof(path), FIXTURES_DIR "/packets/%s.pcap", name);
	cr_assert_eq(pcap_read(path, f), 0, "cannot read %s", path);
	cr_assert_eq(f->linktype, PCAP_LINK_ETH);
}

Test(pkt_api, reason_string_of_any_int)
{
	cr_assert_str_eq(pkt_err_str(INT_MIN), "unknown");
	cr_assert_str_eq(pkt_err_str(INT_MIN + 1), "unknown");
	cr_assert_str_eq(pkt_err_str(INT_MAX), "unknown");
	cr_assert_str_eq(pkt_err_str(-PKT_ERR_TOO_LONG), "longer than PKT_MAX_LEN");
}

/*
 * The longest frame there is: two tags, an ICMPv6 error with payload length
 * 65535. The quote ends at 65597, past what 16 bits hold.
 */
Test(pkt_api, quote_end_beyond_64k)
{
	uint8_t *b = calloc(1, PKT_MAX_LEN + 1);
	static const uint8_t a6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
	struct pkt_view v;
	struct pkt_quote q;
	struct flow_key k;

	cr_assert_not_null(b);
	memcpy(b + 12, "\x88\xa8\x00\x0a\x81\x00\x00\x14\x86\xdd", 10);
	b[22] = 0x60;                           /* IPv6 */
	b[26] = 0xff;                           /* payload length 65535 */
	b[27] = 0xff;
	b[28] = IPPROTO_ICMPV6;
	b[29] = 64;
	memcpy(b + 30, a6, 16);
	memcpy(b + 46, a6, 16);
	b[62] = 1;                              /* destination unreachable */
	b[63] = 4;
	b[70] = 0x60;                           /* quoted IPv6 + UDP */
	b[74] = 0x01;
	b[76] = IPPROTO_UDP;
	memcpy(b + 78, a6, 16);
	memcpy(b + 94, a6, 16);
	memcpy(b + 110, "\x9c\x40\x00\x35\x01\x00", 6);

	cr_assert_eq(pkt_parse(b, PKT_MAX_LEN, &v), 0);
	cr_assert_eq(v.len, PKT_MAX_LEN);
	cr_assert_eq(v.n_vlan, 2);
	cr_assert_eq(pkt_icmp_quote(&v, b, &q, &k), 0);
	cr_expect_eq(q.end, PKT_MAX_LEN, "quote end %u", q.end);
	cr_expect_eq(q.l4_off, 110);
	cr_expect_eq(k.sport, htons(40000));

	/* One byte more is no IP packet at all. */
	cr_expect_eq(pkt_parse(b, PKT_MAX_LEN + 1, &v), -PKT_ERR_TOO_LONG);
	cr_expect_eq(pkt_parse_l3(b + 22, PKT_MAX_LEN + 1 - 22, &v), 0);
	free(b);
	b = calloc(1, PKT_MAX_LEN + 1);
	cr_assert_not_null(b);
	b[0] = 0x45;
	cr_expect_eq(pkt_parse_l3(b, PKT_MAX_LEN + 1, &v), -PKT_ERR_TOO_LONG);
	free(b);
}

/*
 * What a forwarding agent does with a decoded action-nat that names only
 * the destination address: copy it, apply it. Only the destination
 * address may change (the bits used to differ: DADDR meant SPORT here).
 */
Test(pkt_api, decoded_msg_nat_applies_unchanged)
{
	struct pcap_file f;
	struct msg_nat mn = { .present = MSG_NAT_DADDR, .sport = htons(1), .dport = htons(2) };
	struct pkt_nat pn;
	struct pkt_view v;
	struct flow_key before, after;
	uint32_t daddr = htonl(0xc6336407); /* 198.51.100.7 */

	load("parse_v4_udp", &f);
	key_addr_from_v4(mn.daddr, daddr);
	key_addr_from_v4(mn.saddr, htonl(0x01020304));
	memcpy(&pn, &mn, sizeof(pn));

	cr_assert_eq(pkt_parse(f.pkt[0].data, f.pkt[0].len, &v), 0);
	cr_assert_eq(pkt_key(&v, f.pkt[0].data, &before), 0);
	cr_assert_eq(pkt_rewrite(f.pkt[0].data, &v, &pn), 0);
	cr_assert_eq(pkt_key(&v, f.pkt[0].data, &after), 0);
	cr_expect_eq(memcmp(after.daddr, mn.daddr, 16), 0, "destination not translated");
	cr_expect_eq(memcmp(after.saddr, before.saddr, 16), 0, "source changed");
	cr_expect_eq(after.sport, before.sport, "source port changed");
	cr_expect_eq(after.dport, before.dport, "destination port changed");
	cr_expect(pkt_ipv4_csum_ok(&v, f.pkt[0].data));
	cr_expect_eq(pkt_l4_csum_verify(&v, f.pkt[0].data), 0);
	pcap_free(&f);
}

/* A decoded action-seq-adjust with a zero ack delta adjusts only seq. */
Test(pkt_api, decoded_msg_seq_adjust_applies_unchanged)
{
	struct pcap_file f;
	struct msg_seq_adjust ma = { .seq_delta = 100, .seq_init = 4000, .ack_delta = 0,
				     .ack_init = 0 };
	struct pkt_seq_adj pa;
	struct pkt_view v;

	load("seq_above", &f); /* seq 5000, ack 9000, ACK set */
	memcpy(&pa, &ma, sizeof(pa));
	cr_assert_eq(pkt_parse(f.pkt[0].data, f.pkt[0].len, &v), 0);
	cr_assert_eq(pkt_tcp_seq_adjust(f.pkt[0].data, &v, &pa), 0);
	cr_expect_eq(v.tcp_seq, 5100);
	cr_expect_eq(v.tcp_ack, 9000);
	cr_expect_eq(memcmp(f.pkt[0].data, f.pkt[1].data, f.pkt[0].len), 0,
		     "differs from scapy's packet");
	pcap_free(&f);
}

static void expect_same_view(const struct pkt_view *a, const struct pkt_view *b, const char *n)
{
	cr_expect_eq(a->len, b->len, "%s len", n);
	cr_expect_eq(a->l3_len, b->l3_len, "%s", n);
	cr_expect_eq(a->l4_len, b->l4_len, "%s", n);
	cr_expect_eq(a->flags, b->flags, "%s flags", n);
	cr_expect_eq(a->ethertype, b->ethertype, "%s", n);
	cr_expect_eq(a->n_vlan, b->n_vlan, "%s", n);
	cr_expect_eq(memcmp(a->vlan_tci, b->vlan_tci, sizeof(a->vlan_tci)), 0, "%s", n);
	cr_expect_eq(memcmp(a->vlan_tpid, b->vlan_tpid, sizeof(a->vlan_tpid)), 0, "%s", n);
	cr_expect_eq(a->family, b->family, "%s", n);
	cr_expect_eq(a->l4_proto, b->l4_proto, "%s", n);
	cr_expect_eq(a->ttl, b->ttl, "%s", n);
	cr_expect_eq(a->l3_off, b->l3_off, "%s", n);
	cr_expect_eq(a->l3_hdr_len, b->l3_hdr_len, "%s", n);
	cr_expect_eq(a->l4_off, b->l4_off, "%s", n);
	cr_expect_eq(a->frag_hdr_off, b->frag_hdr_off, "%s", n);
	cr_expect_eq(a->frag_id, b->frag_id, "%s", n);
	cr_expect_eq(a->frag_off, b->frag_off, "%s", n);
	cr_expect_eq(a->csum_start, b->csum_start, "%s", n);
	cr_expect_eq(a->csum_offset, b->csum_offset, "%s", n);
	cr_expect_eq(a->l4_hdr_len, b->l4_hdr_len, "%s", n);
	cr_expect_eq(a->tcp_flags, b->tcp_flags, "%s", n);
	cr_expect_eq(a->icmp_type, b->icmp_type, "%s", n);
	cr_expect_eq(a->icmp_code, b->icmp_code, "%s", n);
	cr_expect_eq(a->icmp_id, b->icmp_id, "%s", n);
	cr_expect_eq(a->udp_len, b->udp_len, "%s", n);
	cr_expect_eq(a->tcp_seq, b->tcp_seq, "%s", n);
	cr_expect_eq(a->tcp_ack, b->tcp_ack, "%s", n);
}

/* A burst over Ethernet fixtures, good and bad, into views that hold
 * garbage from before: each result equals pkt_parse() of that frame. */
Test(pkt_api, burst_equals_single)
{
	static const char *const names[] = {
		"parse_v4_tcp", "bad_tcp_trunc", "parse_qinq", "parse_v6_ext", "parse_arp",
		"bad_vlan_depth", "parse_v4_frag_later", "quote_v6_ptb_tcp", "bad_eth_trunc",
		"parse_v6_frag_first", "parse_v4_icmp_echo", "parse_padding", "bad_too_long",
	};
	enum { N = LOOM_ARRAY_SIZE(names) };
	struct pcap_file f[N];
	const uint8_t *bufs[N];
	uint32_t lens[N];
	struct pkt_view v[N], one;
	int rc[N];
	unsigned ok = 0;

	for (unsigned i = 0; i < N; i++) {
		load(names[i], &f[i]);
		bufs[i] = f[i].pkt[0].data;
		lens[i] = f[i].pkt[0].len;
	}
	memset(v, 0xa5, sizeof(v));
	unsigned got = pkt_parse_burst(bufs, lens, N, v, rc);
	for (unsigned i = 0; i < N; i++) {
		int r = pkt_parse(bufs[i], lens[i], &one);

		cr_expect_eq(rc[i], r, "%s: %d vs %d", names[i], rc[i], r);
		ok += r == 0;
		if (r == 0)
			expect_same_view(&v[i], &one, names[i]);
	}
	cr_expect_eq(got, ok);
	cr_expect_eq(ok, 9);
	cr_expect_eq(pkt_parse_burst(bufs, lens, 0, v, rc), 0);
	for (unsigned i = 0; i < N; i++)
		pcap_free(&f[i]);
}

/* AF_PACKET with rx-vlan offload: the kernel took the outer tag out. */
Test(pkt_api, stripped_vlan_tag_from_aux_data)
{
	struct pcap_file plain, one, two;
	struct pkt_view v, ref;
	struct flow_key k1, k2;

	load("parse_v4_udp", &plain);
	load("parse_vlan", &one);
	load("parse_qinq", &two);

	cr_assert_eq(pkt_parse(plain.pkt[0].data, plain.pkt[0].len, &v), 0);
	ref = v;
	cr_assert_eq(pkt_view_set_vlan(&v, 0, 100), 0);
	cr_expect_eq(v.n_vlan, 1);
	cr_expect_eq(v.flags, ref.flags | PKT_F_VLAN | PKT_F_VLAN_AUX);
	cr_expect_eq(v.vlan_tpid[0], 0x8100, "tpid 0 is 802.1Q");
	cr_expect_eq(v.vlan_tci[0], 100);
	cr_expect_eq(v.l3_off, ref.l3_off, "the tag is not in the buffer");
	cr_expect_eq(v.len, ref.len);
	cr_assert_eq(pkt_key(&ref, plain.pkt[0].data, &k1), 0);
	cr_assert_eq(pkt_key(&v, plain.pkt[0].data, &k2), 0);
	cr_expect(key_equal(&k1, &k2));

	/* Stripped 802.1ad outer tag, 802.1Q inner still in the frame. */
	cr_assert_eq(pkt_parse(one.pkt[0].data, one.pkt[0].len, &v), 0);
	cr_assert_eq(v.vlan_tci[0], 100);
	cr_assert_eq(pkt_view_set_vlan(&v, 0x88a8, 7), 0);
	cr_expect_eq(v.n_vlan, 2);
	cr_expect_eq(v.vlan_tpid[0], 0x88a8);
	cr_expect_eq(v.vlan_tci[0], 7);
	cr_expect_eq(v.vlan_tpid[1], 0x8100);
	cr_expect_eq(v.vlan_tci[1], 100);

	/* A third tag is one too many, and the view stays as it was. */
	cr_assert_eq(pkt_parse(two.pkt[0].data, two.pkt[0].len, &v), 0);
	ref = v;
	cr_expect_eq(pkt_view_set_vlan(&v, 0x8100, 5), -PKT_ERR_VLAN_DEPTH);
	cr_expect_eq(memcmp(&v, &ref, sizeof(v)), 0);

	pcap_free(&plain);
	pcap_free(&one);
	pcap_free(&two);
}
