// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * ICMP errors built by pkt_icmp_error(): what a receiver checks (headers,
 * both checksums, the quote and its size limit), building in the packet's
 * own buffer, and the cases pkt_icmp_error_allowed() refuses.
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "common/key.h"
#include "common/pkt.h"
#include "common/pkt_csum.h"

static const uint8_t cli_mac[6] = { 2, 0, 0, 0, 0, 1 }, rtr_mac[6] = { 2, 0, 0, 0, 0, 0xfe };

/* An Ethernet + IPv4 + UDP frame of ip_len bytes of IP; returns the frame length. */
static uint32_t udp4(uint8_t *f, uint32_t ip_len, const char *src, const char *dst, uint8_t ttl)
{
	memset(f, 0, 14 + ip_len);
	memcpy(f, rtr_mac, 6);
	memcpy(f + 6, cli_mac, 6);
	f[12] = 0x08;
	uint8_t *ip = f + 14;
	ip[0] = 0x45;
	pkt_store16(ip + 2, htons((uint16_t)ip_len));
	pkt_store16(ip + 4, htons(0x1234));
	ip[6] = 0x40; /* DF */
	ip[8] = ttl;
	ip[9] = IPPROTO_UDP;
	inet_pton(AF_INET, src, ip + 12);
	inet_pton(AF_INET, dst, ip + 16);
	pkt_store16(ip + 10, (uint16_t)~pkt_csum_fold(pkt_csum_add(0, ip, 20)));
	pkt_store16(ip + 20, htons(40000));
	pkt_store16(ip + 22, htons(53));
	pkt_store16(ip + 24, htons((uint16_t)(ip_len - 20)));
	for (uint32_t i = 28; i < ip_len; i++)
		ip[i] = (uint8_t)i;
	return 14 + ip_len;
}

static uint32_t udp6(uint8_t *f, uint32_t ip_len, const char *src, const char *dst, uint8_t hl)
{
	memset(f, 0, 14 + ip_len);
	memcpy(f, rtr_mac, 6);
	memcpy(f + 6, cli_mac, 6);
	f[12] = 0x86;
	f[13] = 0xdd;
	uint8_t *ip = f + 14;
	ip[0] = 0x60;
	pkt_store16(ip + 4, htons((uint16_t)(ip_len - 40)));
	ip[6] = IPPROTO_UDP;
	ip[7] = hl;
	inet_pton(AF_INET6, src, ip + 8);
	inet_pton(AF_INET6, dst, ip + 24);
	pkt_store16(ip + 40, htons(40000));
	pkt_store16(ip + 42, htons(53));
	pkt_store16(ip + 44, htons((uint16_t)(ip_len - 40)));
	for (uint32_t i = 48; i < ip_len; i++)
		ip[i] = (uint8_t)i;
	return 14 + ip_len;
}

static void parse(const uint8_t *f, uint32_t len, struct pkt_view *v)
{
	cr_assert_eq(pkt_parse(f, len, v), 0);
}

static void src4(struct pkt_icmp_err *e, const char *s)
{
	struct in_addr a;

	cr_assert_eq(inet_pton(AF_INET, s, &a), 1);
	key_addr_from_v4(e->src, a.s_addr);
}

/* Parse an error built at out (bare IP) and check what every receiver does. */
static void check_error(const uint8_t *out, int len, const uint8_t *orig_ip, uint32_t orig_len,
			uint32_t max, struct pkt_view *ev)
{
	struct pkt_quote q;
	struct flow_key k;

	cr_assert_gt(len, 0, "built: %d (%s)", len, pkt_err_str(len));
	cr_assert_eq(pkt_parse_l3(out, (uint32_t)len, ev), 0);
	uint32_t hdr = ev->family == PKT_IPV4 ? 28 : 48;
	uint32_t want_q = orig_len < max - hdr ? orig_len : max - hdr;
	cr_assert_eq((uint32_t)len, want_q + hdr);
	cr_assert_leq((uint32_t)len, max);
	cr_assert(ev->flags & PKT_F_ICMP_ERR, "a receiver sees an ICMP error");
	cr_assert_eq(pkt_l4_csum_verify(ev, out), 0, "ICMP checksum");
	if (ev->family == PKT_IPV4)
		cr_assert(pkt_ipv4_csum_ok(ev, out), "IPv4 header checksum");
	cr_assert_eq(ev->ttl, 64);
	cr_assert_arr_eq(out + ev->l4_off + 8, orig_ip, want_q, "the quote is the packet as it came");
	cr_assert_eq(pkt_icmp_quote(ev, out, &q, &k), 0, "the quote names the flow");
	cr_assert_eq(k.proto, IPPROTO_UDP);
}

Test(pkt_icmp, time_exceeded_v4_goes_back_to_the_source)
{
	uint8_t f[200], out[700];
	struct pkt_view v, ev;
	struct pkt_icmp_err e = { .type = 11, .code = 0, .ttl = 64 };
	uint32_t len = udp4(f, 100, "10.1.0.5", "10.2.0.7", 1);

	src4(&e, "10.1.0.1");
	parse(f, len, &v);
	cr_assert(pkt_icmp_error_allowed(f, &v, 11));
	int n = pkt_icmp_error(out, sizeof(out), f, &v, &e);
	check_error(out, n, f + 14, 100, PKT_ICMP4_ERR_MAX, &ev);
	uint8_t want_src[4], want_dst[4];
	inet_pton(AF_INET, "10.1.0.1", want_src);
	inet_pton(AF_INET, "10.1.0.5", want_dst);
	cr_assert_arr_eq(out + 12, want_src, 4);
	cr_assert_arr_eq(out + 16, want_dst, 4);
	cr_assert_eq(out[1], 0xc0, "TOS internetwork control");
	cr_assert_eq(ev.icmp_type, 11);
	cr_assert_eq(ev.icmp_code, 0);
}

Test(pkt_icmp, frag_needed_v4_carries_the_mtu_and_stops_at_576)
{
	uint8_t f[1600], out[1600];
	struct pkt_view v, ev;
	struct pkt_icmp_err e = { .type = 3, .code = 4, .ttl = 64, .info = 1280 };
	uint32_t len = udp4(f, 1500, "10.1.0.5", "10.2.0.7", 64);

	src4(&e, "10.1.0.1");
	parse(f, len, &v);
	int n = pkt_icmp_error(out, sizeof(out), f, &v, &e);
	check_error(out, n, f + 14, 1500, PKT_ICMP4_ERR_MAX, &ev);
	cr_assert_eq(n, 576);
	cr_assert_eq(ntohs(pkt_load16(out + 20 + 4)), 0, "unused");
	cr_assert_eq(ntohs(pkt_load16(out + 20 + 6)), 1280, "next-hop MTU");
}

Test(pkt_icmp, packet_too_big_v6_stops_at_1280_with_pseudo_header_checksum)
{
	uint8_t f[1600], out[1600];
	struct pkt_view v, ev;
	struct pkt_icmp_err e = { .type = 2, .code = 0, .ttl = 64, .info = 1280 };
	uint32_t len = udp6(f, 1440, "2001:db8:1::5", "2001:db8:2::7", 64);

	inet_pton(AF_INET6, "2001:db8:1::1", e.src);
	parse(f, len, &v);
	cr_assert(pkt_icmp_error_allowed(f, &v, 2));
	int n = pkt_icmp_error(out, sizeof(out), f, &v, &e);
	check_error(out, n, f + 14, 1440, PKT_ICMP6_ERR_MAX, &ev);
	cr_assert_eq(n, 1280);
	uint32_t mtu;
	memcpy(&mtu, out + 44, 4);
	cr_assert_eq(ntohl(mtu), 1280);
	cr_assert_arr_eq(out + 8, e.src, 16);
	cr_assert_arr_eq(out + 24, f + 14 + 8, 16, "to the packet's source");
}

Test(pkt_icmp, time_exceeded_v6_short_packet_whole)
{
	uint8_t f[200], out[200];
	struct pkt_view v, ev;
	struct pkt_icmp_err e = { .type = 3, .code = 0, .ttl = 64 };
	uint32_t len = udp6(f, 60, "2001:db8:1::5", "2001:db8:2::7", 1);

	inet_pton(AF_INET6, "2001:db8:1::1", e.src);
	parse(f, len, &v);
	int n = pkt_icmp_error(out, sizeof(out), f, &v, &e);
	check_error(out, n, f + 14, 60, PKT_ICMP6_ERR_MAX, &ev);
}

/* The agent builds the error over the received frame: the same bytes as a
 * copy into a separate buffer, for a quote that moves up and one that is cut. */
Test(pkt_icmp, built_in_place_equals_built_apart)
{
	static const uint32_t sizes[] = { 60, 600, 1400 };

	for (unsigned i = 0; i < 3; i++) {
		for (int fam = 4; fam <= 6; fam += 2) {
			uint8_t f[1600], apart[1600];
			struct pkt_view v;
			struct pkt_icmp_err e = { .type = fam == 4 ? 11 : 3, .ttl = 64 };
			uint32_t len;

			if (fam == 4) {
				len = udp4(f, sizes[i], "10.1.0.5", "10.2.0.7", 1);
				src4(&e, "10.1.0.1");
			} else {
				len = udp6(f, sizes[i], "2001:db8:1::5", "2001:db8:2::7", 1);
				inet_pton(AF_INET6, "2001:db8:1::1", e.src);
			}
			parse(f, len, &v);
			int a = pkt_icmp_error(apart, sizeof(apart), f, &v, &e);
			int b = pkt_icmp_error(f + 14, sizeof(f) - 14, f, &v, &e);
			cr_assert_gt(a, 0);
			cr_assert_eq(a, b, "size %u family %d", sizes[i], fam);
			cr_assert_arr_eq(apart, f + 14, (size_t)a, "size %u family %d", sizes[i], fam);
			/* and a bare IP buffer built at its own start */
			if (fam == 4)
				len = udp4(f, sizes[i], "10.1.0.5", "10.2.0.7", 1);
			else
				len = udp6(f, sizes[i], "2001:db8:1::5", "2001:db8:2::7", 1);
			memmove(f, f + 14, len - 14);
			cr_assert_eq(pkt_parse_l3(f, len - 14, &v), 0);
			b = pkt_icmp_error(f, sizeof(f), f, &v, &e);
			cr_assert_eq(a, b);
			cr_assert_arr_eq(apart, f, (size_t)a);
		}
	}
}

Test(pkt_icmp, refuses_a_small_buffer_and_the_wrong_family)
{
	uint8_t f[200], out[200];
	struct pkt_view v;
	struct pkt_icmp_err e = { .type = 11, .ttl = 64 };
	uint32_t len = udp4(f, 100, "10.1.0.5", "10.2.0.7", 1);

	parse(f, len, &v);
	inet_pton(AF_INET6, "2001:db8:1::1", e.src);
	cr_assert_eq(pkt_icmp_error(out, sizeof(out), f, &v, &e), -PKT_ERR_FAMILY);
	src4(&e, "10.1.0.1");
	cr_assert_eq(pkt_icmp_error(out, 127, f, &v, &e), -PKT_ERR_TOO_LONG);
	cr_assert_eq(pkt_icmp_error(out, 128, f, &v, &e), 128);
}

static bool allowed4(const char *src, const char *dst, uint8_t type)
{
	uint8_t f[200];
	struct pkt_view v;
	uint32_t len = udp4(f, 100, src, dst, 1);

	parse(f, len, &v);
	return pkt_icmp_error_allowed(f, &v, type);
}

static bool allowed6(const char *src, const char *dst, uint8_t type)
{
	uint8_t f[200];
	struct pkt_view v;
	uint32_t len = udp6(f, 100, src, dst, 1);

	parse(f, len, &v);
	return pkt_icmp_error_allowed(f, &v, type);
}

Test(pkt_icmp, never_about_group_or_non_host_addresses)
{
	cr_assert(allowed4("10.1.0.5", "10.2.0.7", 11));
	cr_assert_not(allowed4("10.1.0.5", "224.0.0.251", 11), "to multicast");
	cr_assert_not(allowed4("10.1.0.5", "255.255.255.255", 11), "to broadcast");
	cr_assert_not(allowed4("0.0.0.0", "10.2.0.7", 11), "from unspecified");
	cr_assert_not(allowed4("127.0.0.1", "10.2.0.7", 11), "from loopback");
	cr_assert_not(allowed4("239.1.1.1", "10.2.0.7", 11), "from multicast");

	cr_assert(allowed6("2001:db8:1::5", "2001:db8:2::7", 3));
	cr_assert_not(allowed6("2001:db8:1::5", "ff02::1", 3), "to multicast");
	cr_assert(allowed6("2001:db8:1::5", "ff0e::1", 2), "packet too big to multicast: RFC 4443 (e.3)");
	cr_assert_not(allowed6("::", "2001:db8:2::7", 3), "from unspecified");
	cr_assert_not(allowed6("::1", "2001:db8:2::7", 3), "from loopback");
	cr_assert_not(allowed6("ff02::1", "2001:db8:2::7", 3), "from multicast");

	/* a unicast packet in a link-layer broadcast frame */
	uint8_t f[200];
	struct pkt_view v;
	uint32_t len = udp4(f, 100, "10.1.0.5", "10.2.0.7", 1);
	memset(f, 0xff, 6);
	parse(f, len, &v);
	cr_assert_not(pkt_icmp_error_allowed(f, &v, 11), "link-layer broadcast");
}

/* An IPv4 ICMP message of the given type: 8 bytes of header, then a
 * quoted IPv4 + UDP header as an error carries. */
static uint32_t icmp4(uint8_t *f, uint8_t type)
{
	uint8_t quote[14 + 28];
	uint32_t len = udp4(f, 56, "10.1.0.5", "10.2.0.7", 1);
	uint8_t *ip = f + 14;

	udp4(quote, 28, "10.2.0.7", "10.1.0.5", 64);
	ip[9] = IPPROTO_ICMP;
	pkt_store16(ip + 10, 0);
	pkt_store16(ip + 10, (uint16_t)~pkt_csum_fold(pkt_csum_add(0, ip, 20)));
	memset(ip + 20, 0, 8);
	ip[20] = type;
	memcpy(ip + 28, quote + 14, 28);
	return len;
}

Test(pkt_icmp, never_about_an_icmp_error_or_a_later_fragment)
{
	uint8_t f[200];
	struct pkt_view v;

	uint32_t len = icmp4(f, 8);
	parse(f, len, &v);
	cr_assert(pkt_icmp_error_allowed(f, &v, 11), "an echo request gets time exceeded");
	len = icmp4(f, 11);
	parse(f, len, &v);
	cr_assert_not(pkt_icmp_error_allowed(f, &v, 11), "an error about an error");
	len = icmp4(f, 3);
	parse(f, len, &v);
	cr_assert_not(pkt_icmp_error_allowed(f, &v, 3), "an error about an error");

	len = udp4(f, 100, "10.1.0.5", "10.2.0.7", 1);
	f[14 + 6] = 0x00;
	f[14 + 7] = 0x10; /* offset 128 bytes */
	pkt_store16(f + 14 + 10, 0);
	pkt_store16(f + 14 + 10, (uint16_t)~pkt_csum_fold(pkt_csum_add(0, f + 14, 20)));
	parse(f, len, &v);
	cr_assert(v.flags & PKT_F_FRAG_LATER);
	cr_assert_not(pkt_icmp_error_allowed(f, &v, 11), "a later fragment");

	/* ICMPv6: errors are types below 128 */
	len = udp6(f, 100, "2001:db8:1::5", "2001:db8:2::7", 1);
	f[14 + 6] = IPPROTO_ICMPV6;
	f[14 + 40] = 1;
	parse(f, len, &v);
	cr_assert_not(pkt_icmp_error_allowed(f, &v, 3), "an ICMPv6 error");
	f[14 + 40] = 128;
	parse(f, len, &v);
	cr_assert(pkt_icmp_error_allowed(f, &v, 3), "an echo request");
}
