// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Property tests: random rewrites of random valid packets must leave every
 * checksum equal to one computed from scratch; and no input, however cut or
 * mangled, may make any pkt_ function read outside the buffer (these run
 * on exact-size heap copies, so ASan reports any overread).
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/pkt.h"
#include "common/pkt_csum.h"
#include "pcap_read.h"

static uint64_t rng_state;

static uint32_t rnd(void)
{
	/* xorshift64*: deterministic, so a failure reproduces. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * 0x2545f4914f6cdd1dULL) >> 32);
}

static void rnd_bytes(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)rnd();
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

struct gen {
	unsigned family;
	uint8_t proto;
	bool vlan, opts, ext, udp_zero;
};

/*
 * Build a random valid packet into buf (Ethernet unless l3), with right
 * checksums computed from scratch; returns its length.
 */
static uint32_t build(uint8_t *buf, const struct gen *g, bool l3, uint32_t paylen)
{
	uint32_t off = 0, ip, hl, l4, l4len;

	if (!l3) {
		rnd_bytes(buf, 12);
		off = 12;
		if (g->vlan) {
			put16(buf + off, 0x8100);
			put16(buf + off + 2, (uint16_t)(rnd() & 0xfff));
			off += 4;
		}
		put16(buf + off, g->family == PKT_IPV4 ? 0x0800 : 0x86dd);
		off += 2;
	}
	ip = off;
	if (g->family == PKT_IPV4) {
		hl = g->opts ? 28 : 20;
		memset(buf + ip, 0, hl);
		buf[ip] = (uint8_t)(0x40 | hl / 4);
		buf[ip + 8] = (uint8_t)(2 + rnd() % 250);
		buf[ip + 9] = g->proto;
		rnd_bytes(buf + ip + 4, 2);
		rnd_bytes(buf + ip + 12, 8);
		if (g->opts)
			memset(buf + ip + 20, 1, 8); /* NOPs */
		l4 = ip + hl;
	} else {
		memset(buf + ip, 0, 40);
		buf[ip] = 0x60;
		buf[ip + 6] = g->ext ? IPPROTO_DSTOPTS : g->proto;
		buf[ip + 7] = (uint8_t)(2 + rnd() % 250);
		rnd_bytes(buf + ip + 8, 32);
		l4 = ip + 40;
		if (g->ext) {
			memset(buf + l4, 0, 16);
			buf[l4] = g->proto;
			buf[l4 + 1] = 1; /* 16 bytes: PadN fills it */
			buf[l4 + 2] = 1;
			buf[l4 + 3] = 12;
			l4 += 16;
		}
	}
	hl = g->proto == IPPROTO_TCP ? 20 + 4 * (rnd() % 11) : 8;
	l4len = hl + paylen;
	rnd_bytes(buf + l4, l4len);
	if (g->proto == IPPROTO_TCP) {
		buf[l4 + 12] = (uint8_t)(hl / 4 << 4);
		buf[l4 + 13] |= 0x10; /* ACK, so ack adjust applies */
	} else if (g->proto == IPPROTO_UDP) {
		put16(buf + l4 + 4, (uint16_t)l4len);
	} else {
		buf[l4] = g->family == PKT_IPV4 ? 8 : 128; /* echo request */
		buf[l4 + 1] = 0;
	}
	if (g->family == PKT_IPV4) {
		put16(buf + ip + 2, (uint16_t)(l4 + l4len - ip));
		put16(buf + ip + 10, 0);
		pkt_store16(buf + ip + 10, (uint16_t)~pkt_csum_fold(pkt_csum_add(0, buf + ip,
									   (uint32_t)(buf[ip] & 0xf) * 4)));
	} else {
		put16(buf + ip + 4, (uint16_t)(l4 + l4len - ip - 40));
	}

	struct pkt_view v;
	uint32_t len = l4 + l4len;
	int r = l3 ? pkt_parse_l3(buf, len, &v) : pkt_parse(buf, len, &v);

	cr_assert_eq(r, 0, "generated packet does not parse: %s", pkt_err_str(r));
	uint32_t f = g->proto == IPPROTO_TCP ? 16 : g->proto == IPPROTO_UDP ? 6 : 2;
	int c = pkt_l4_csum_compute(&v, buf);
	cr_assert_geq(c, 0);
	pkt_store16(buf + v.l4_off + f, g->udp_zero ? 0 : (uint16_t)c);
	return len;
}

static void rnd_gen(struct gen *g)
{
	static const uint8_t protos[] = { IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP };

	memset(g, 0, sizeof(*g));
	g->family = rnd() & 1 ? PKT_IPV4 : PKT_IPV6;
	g->proto = protos[rnd() % 3];
	if (g->proto == IPPROTO_ICMP && g->family == PKT_IPV6)
		g->proto = IPPROTO_ICMPV6;
	g->vlan = rnd() & 1;
	g->opts = g->family == PKT_IPV4 && (rnd() & 1);
	g->ext = g->family == PKT_IPV6 && (rnd() & 1);
	g->udp_zero = g->family == PKT_IPV4 && g->proto == IPPROTO_UDP && rnd() % 4 == 0;
}

static void rnd_nat(struct pkt_nat *n, unsigned family)
{
	memset(n, 0, sizeof(*n));
	n->present = rnd() % 16;
	if (family == PKT_IPV4) {
		uint32_t a = rnd(), b = rnd();

		key_addr_from_v4(n->saddr, a);
		key_addr_from_v4(n->daddr, b);
	} else {
		rnd_bytes(n->saddr, 16);
		rnd_bytes(n->daddr, 16);
		n->saddr[0] = 0x20; /* never IPv4-mapped */
		n->daddr[0] = 0x20;
	}
	n->sport = (uint16_t)rnd();
	n->dport = (uint16_t)rnd();
}

/* Every checksum of a parsed packet equals a fresh computation. */
static void assert_csums(const uint8_t *buf, uint32_t len, bool l3, bool udp_zero, unsigned iter)
{
	struct pkt_view v;
	int r = l3 ? pkt_parse_l3(buf, len, &v) : pkt_parse(buf, len, &v);

	cr_assert_eq(r, 0, "iter %u: reparse: %s", iter, pkt_err_str(r));
	if (v.family == PKT_IPV4)
		cr_assert(pkt_ipv4_csum_ok(&v, buf), "iter %u: IPv4 header checksum", iter);
	cr_assert_eq(pkt_l4_csum_verify(&v, buf), 0, "iter %u: L4 checksum", iter);
	uint32_t f = v.l4_proto == IPPROTO_TCP ? 16 : v.l4_proto == IPPROTO_UDP ? 6 : 2;
	uint16_t field = pkt_load16(buf + v.l4_off + f);
	if (udp_zero) {
		cr_assert_eq(field, 0, "iter %u: UDP checksum 0 must stay 0", iter);
		return;
	}
	int c = pkt_l4_csum_compute(&v, buf);
	/* 0 and 0xffff are the same one's complement number; a TCP or ICMP
	 * checksum computed from scratch is never 0xffff, incrementally it
	 * can be only if the data sums to zero, which random data never does. */
	cr_assert_eq(field, (uint16_t)c, "iter %u: checksum %04x, from scratch %04x", iter, field,
		     (uint16_t)c);
}

Test(pkt_props, random_rewrites_keep_checksums_exact)
{
	uint8_t buf[1600];

	rng_state = 0x10011001u;
	for (unsigned it = 0; it < 20000; it++) {
		struct gen g;
		struct pkt_view v;
		struct pkt_nat nat;
		bool l3 = rnd() % 4 == 0;

		rnd_gen(&g);
		uint32_t len = build(buf, &g, l3, rnd() % 300);
		cr_assert_eq(l3 ? pkt_parse_l3(buf, len, &v) : pkt_parse(buf, len, &v), 0);

		for (unsigned k = 0; k < 1 + rnd() % 4; k++) {
			switch (rnd() % 3) {
			case 0:
				rnd_nat(&nat, g.family);
				cr_assert_eq(pkt_rewrite(buf, &v, &nat), 0);
				break;
			case 1:
				if (v.ttl > 1)
					cr_assert_eq(pkt_ttl_dec(buf, &v), 0);
				else
					cr_assert_eq(pkt_ttl_dec(buf, &v), -PKT_ERR_TTL_EXPIRED);
				break;
			default: {
				struct pkt_seq_adj a = { rnd(), rnd(), rnd(), rnd() };

				if (rnd() & 1) /* 0 means leave it */
					a.seq_delta = 0;
				if (rnd() & 1)
					a.ack_delta = 0;
				int r = pkt_tcp_seq_adjust(buf, &v, &a);

				cr_assert_eq(r, g.proto == IPPROTO_TCP ? 0 : -PKT_ERR_NOT_TCP);
				break;
			}
			}
		}
		assert_csums(buf, len, l3, g.udp_zero, it);
	}
}

/* Partial checksums: rewrite with the field holding the pseudo-header sum,
 * complete, and the result must be the full checksum of the final packet. */
Test(pkt_props, partial_rewrite_then_complete)
{
	uint8_t buf[1600];

	rng_state = 0x5eed5eedu;
	for (unsigned it = 0; it < 10000; it++) {
		struct gen g;
		struct pkt_view v;
		struct pkt_nat nat;

		do
			rnd_gen(&g);
		while (g.proto != IPPROTO_TCP && g.proto != IPPROTO_UDP);
		g.udp_zero = false;
		uint32_t len = build(buf, &g, false, rnd() % 300);
		cr_assert_eq(pkt_parse(buf, len, &v), 0);
		uint16_t foff = g.proto == IPPROTO_TCP ? 16 : 6;

		/* Make the field partial: the pseudo-header sum is what stays
		 * when the transport bytes' sum is taken out of ~checksum. */
		uint8_t *field = buf + v.l4_off + foff;
		uint64_t s = pkt_csum_add(0, buf + v.l4_off, v.l4_len) + (uint16_t)~pkt_load16(field);
		pkt_store16(field, pkt_csum_fold((uint16_t)~pkt_load16(field) +
						 (uint64_t)(uint16_t)~pkt_csum_fold(s)));
		cr_assert_eq(pkt_view_set_csum_partial(&v, v.l4_off, foff), 0);

		rnd_nat(&nat, g.family);
		cr_assert_eq(pkt_rewrite(buf, &v, &nat), 0);
		if (g.proto == IPPROTO_TCP) {
			struct pkt_seq_adj a = { rnd(), rnd(), rnd(), rnd() };
			cr_assert_eq(pkt_tcp_seq_adjust(buf, &v, &a), 0);
		}
		cr_assert_eq(pkt_csum_complete(buf, v.len, v.csum_start, v.csum_offset, &v), 0);
		cr_assert_eq(pkt_l4_csum_verify(&v, buf), 0, "iter %u", it);
	}
}

/* ICMP errors around random packets: after translating the quote, the outer
 * ICMP checksum, the quoted IPv4 header checksum and (for a whole quote) the
 * quoted L4 checksum are all right. */
Test(pkt_props, icmp_quote_rewrite_keeps_checksums)
{
	uint8_t inner[1600], buf[1700];

	rng_state = 0xc0ffee;
	for (unsigned it = 0; it < 10000; it++) {
		struct gen g;
		struct pkt_view v, iv;
		struct pkt_quote q;
		struct pkt_nat nat;
		struct flow_key k, ik;

		rnd_gen(&g);
		uint32_t ilen = build(inner, &g, true, rnd() % 100);
		cr_assert_eq(pkt_parse_l3(inner, ilen, &iv), 0);
		uint32_t qlen = iv.l4_off + 8 + rnd() % (ilen - iv.l4_off - 7);
		if (rnd() % 3 == 0)
			qlen = ilen;

		/* Outer: bare IP + ICMP error + quote. */
		uint32_t hl = g.family == PKT_IPV4 ? 20 : 40, l4 = hl, len = hl + 8 + qlen;
		memset(buf, 0, hl + 8);
		if (g.family == PKT_IPV4) {
			buf[0] = 0x45;
			put16(buf + 2, (uint16_t)len);
			buf[8] = 64;
			buf[9] = IPPROTO_ICMP;
			rnd_bytes(buf + 12, 8);
			buf[l4] = (uint8_t)(rnd() & 1 ? 3 : 11);
		} else {
			buf[0] = 0x60;
			put16(buf + 4, (uint16_t)(len - 40));
			buf[6] = IPPROTO_ICMPV6;
			buf[7] = 64;
			rnd_bytes(buf + 8, 32);
			buf[l4] = (uint8_t)(1 + rnd() % 4);
		}
		memcpy(buf + l4 + 8, inner, qlen);
		pkt_store16(buf + 10, g.family == PKT_IPV4 ?
			    (uint16_t)~pkt_csum_fold(pkt_csum_add(0, buf, 20)) : pkt_load16(buf + 10));
		cr_assert_eq(pkt_parse_l3(buf, len, &v), 0);
		pkt_store16(buf + l4 + 2, (uint16_t)pkt_l4_csum_compute(&v, buf));

		cr_assert_eq(pkt_icmp_quote(&v, buf, &q, &k), 0, "iter %u", it);
		cr_assert_eq(pkt_key(&iv, inner, &ik), 0);
		cr_assert(key_equal(&k, &ik), "iter %u: quote key differs from the packet's", it);

		rnd_nat(&nat, g.family);
		cr_assert_eq(pkt_icmp_quote_rewrite(buf, &v, &q, &nat), 0);
		rnd_nat(&nat, g.family);
		cr_assert_eq(pkt_rewrite(buf, &v, &nat), 0);

		cr_assert_eq(pkt_l4_csum_verify(&v, buf), 0, "iter %u: outer ICMP checksum", it);
		if (g.family == PKT_IPV4) {
			cr_assert(pkt_ipv4_csum_ok(&v, buf));
			struct pkt_view qv = { .family = PKT_IPV4, .l3_off = q.l3_off,
					       .l3_hdr_len = q.l3_hdr_len };
			cr_assert(pkt_ipv4_csum_ok(&qv, buf), "iter %u: quoted IPv4 header", it);
		}
		if (qlen == ilen && !g.udp_zero) {
			cr_assert_eq(pkt_parse_l3(buf + q.l3_off, qlen, &iv), 0);
			cr_assert_eq(pkt_l4_csum_verify(&iv, buf + q.l3_off), 0,
				     "iter %u: quoted L4 checksum", it);
		}
	}
}

/* Run everything a data plane would on one packet. */
static void exercise(const uint8_t *in, uint32_t len, bool l3)
{
	uint8_t *buf = malloc(len ? len : 1);
	struct pkt_view v;
	struct flow_key k;
	struct pkt_quote q;
	struct pkt_nat nat;
	struct pkt_seq_adj a = { .seq_delta = 1, .seq_init = 2, .ack_delta = 3, .ack_init = 4 };

	cr_assert_not_null(buf);
	memcpy(buf, in, len);
	int r = l3 ? pkt_parse_l3(buf, len, &v) : pkt_parse(buf, len, &v);
	cr_assert(r <= 0 && r > -PKT__ERR_MAX);
	if (r == 0 && v.family != PKT_NOT_IP) {
		cr_assert_leq(v.len, len);
		cr_assert_leq(v.l4_off, v.len);
		pkt_key(&v, buf, &k);
		pkt_ipv4_csum_ok(&v, buf);
		pkt_l4_csum_verify(&v, buf);
		if (pkt_icmp_quote(&v, buf, &q, &k) == 0) {
			cr_assert_leq(q.l4_off, v.len);
			rnd_nat(&nat, v.family);
			pkt_icmp_quote_rewrite(buf, &v, &q, &nat);
		}
		rnd_nat(&nat, v.family);
		pkt_rewrite(buf, &v, &nat);
		pkt_tcp_seq_adjust(buf, &v, &a);
		pkt_ttl_dec(buf, &v);
		if (pkt_view_set_csum_partial(&v, v.l4_off, v.l4_proto == IPPROTO_TCP ? 16 : 6) == 0) {
			pkt_rewrite(buf, &v, &nat);
			pkt_csum_complete(buf, v.len, v.csum_start, v.csum_offset, &v);
		}
	}
	free(buf);
}

/* Every fixture, cut at every length and with random bytes flipped. */
Test(pkt_props, truncated_and_mangled_fixtures_stay_in_bounds)
{
	DIR *d = opendir(FIXTURES_DIR "/packets");
	struct dirent *e;
	unsigned files = 0;

	cr_assert_not_null(d);
	rng_state = 0xbadc0de;
	while ((e = readdir(d))) {
		char path[512];
		struct pcap_file f;

		if (!strstr(e->d_name, ".pcap"))
			continue;
		snprintf(path, sizeof(path), FIXTURES_DIR "/packets/%s", e->d_name);
		cr_assert_eq(pcap_read(path, &f), 0, "%s", path);
		files++;
		bool l3 = f.linktype == PCAP_LINK_RAW;
		const struct pcap_pkt *p = &f.pkt[0];

		/* Every cut of the headers; past 2 KiB only payload is cut, so
		 * sample (the PKT_MAX_LEN fixture would cost seconds). */
		for (uint32_t n = 0; n <= p->len; n += n < 2048 ? 1 : 4093)
			exercise(p->data, n, l3);
		exercise(p->data, p->len, l3);
		uint8_t *m = malloc(p->len ? p->len : 1);
		for (unsigned i = 0; i < 300; i++) {
			memcpy(m, p->data, p->len);
			for (unsigned j = 0; j < 1 + rnd() % 4 && p->len; j++)
				m[rnd() % p->len] = (uint8_t)rnd();
			exercise(m, p->len, l3);
		}
		free(m);
		pcap_free(&f);
	}
	closedir(d);
	cr_assert_gt(files, 50);
}

Test(pkt_props, reason_strings)
{
	for (int e = 0; e < PKT__ERR_MAX; e++) {
		cr_assert_not_null(pkt_err_str(e));
		cr_assert_str_neq(pkt_err_str(e), "unknown");
		cr_assert_str_eq(pkt_err_str(-e), pkt_err_str(e));
	}
	cr_assert_str_eq(pkt_err_str(PKT__ERR_MAX), "unknown");
	cr_assert_str_eq(pkt_err_str(-1000), "unknown");
}
