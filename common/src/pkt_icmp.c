// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * ICMP errors a router sends about a packet it cannot forward (time
 * exceeded, unreachable, fragmentation needed / packet too big). The rules
 * on when not to send one are RFC 1812 4.3.2.7 and RFC 4443 2.4(e); the
 * layout is RFC 792 / RFC 4443 with the quote limits of RFC 1812 4.3.2.3
 * and RFC 4443 2.4(c).
 */
#include "common/pkt.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "common/key.h"
#include "common/pkt_csum.h"

/* ICMPv4 types that are errors (Linux icmp_pointers[].error): never answered. */
static bool icmp4_is_error(uint8_t type)
{
	return type == 3 || type == 4 || type == 5 || type == 11 || type == 12 ||
	       type > 18; /* unknown: the kernel does not answer those either */
}

static bool about_icmp_error(const struct pkt_view *v)
{
	if (v->flags & PKT_F_ICMP_ERR)
		return true;
	if (v->family == PKT_IPV4 && v->l4_proto == IPPROTO_ICMP)
		return !(v->flags & PKT_F_L4) || icmp4_is_error(v->icmp_type);
	if (v->family == PKT_IPV6 && v->l4_proto == IPPROTO_ICMPV6)
		return !(v->flags & PKT_F_L4) || v->icmp_type < 128;
	return false;
}

/* 224/4 (multicast), 240/4 (reserved) and 255.255.255.255 (broadcast) */
static bool v4_group(const uint8_t *a)
{
	return a[0] >= 224;
}

static bool v4_not_a_host(const uint8_t *a)
{
	return a[0] == 0 || a[0] == 127 || v4_group(a);
}

static bool v6_not_a_host(const uint8_t *a)
{
	static const uint8_t any[16], loop[16] = { [15] = 1 };

	return a[0] == 0xff || !memcmp(a, any, 16) || !memcmp(a, loop, 16);
}

bool pkt_icmp_error_allowed(const uint8_t *buf, const struct pkt_view *v, uint8_t type)
{
	const uint8_t *ip = buf + v->l3_off;
	bool ptb = v->family == PKT_IPV6 && type == 2;

	if (v->family != PKT_IPV4 && v->family != PKT_IPV6)
		return false;
	if ((v->flags & PKT_F_FRAG_LATER) || about_icmp_error(v))
		return false;
	/* a frame to a link-layer group address (its I/G bit) */
	if (v->ethertype && v->l3_off >= 14 && (buf[0] & 1) && !ptb)
		return false;
	if (v->family == PKT_IPV4)
		return !v4_group(ip + 16) && !v4_not_a_host(ip + 12);
	return (ptb || ip[24] != 0xff) && !v6_not_a_host(ip + 8);
}

int pkt_icmp_error(uint8_t *out, uint32_t room, const uint8_t *buf, const struct pkt_view *v,
		   const struct pkt_icmp_err *e)
{
	bool v4 = v->family == PKT_IPV4;
	uint32_t hdr = v4 ? 20 + 8 : 40 + 8;
	uint32_t max = v4 ? PKT_ICMP4_ERR_MAX : PKT_ICMP6_ERR_MAX;
	uint32_t qlen = v->len - v->l3_off;
	uint8_t dst[16];
	uint32_t info = htonl(e->info);

	if (v->family != PKT_IPV4 && v->family != PKT_IPV6)
		return -PKT_ERR_NOT_IP;
	if (key_addr_is_v4(e->src) != v4)
		return -PKT_ERR_FAMILY;
	if (qlen > max - hdr)
		qlen = max - hdr;
	if (room < hdr + qlen)
		return -PKT_ERR_TOO_LONG;
	/* read what the headers need before the quote moves over it */
	memcpy(dst, buf + v->l3_off + (v4 ? 12 : 8), v4 ? 4 : 16);
	memmove(out + hdr, buf + v->l3_off, qlen);

	uint32_t tot = hdr + qlen;
	uint8_t *icmp;
	if (v4) {
		uint16_t tl = htons((uint16_t)tot);
		memset(out, 0, 20);
		out[0] = 0x45;
		out[1] = 0xc0;
		memcpy(out + 2, &tl, 2);
		out[8] = e->ttl;
		out[9] = IPPROTO_ICMP;
		memcpy(out + 12, e->src + 12, 4);
		memcpy(out + 16, dst, 4);
		pkt_store16(out + 10, (uint16_t)~pkt_csum_fold(pkt_csum_add(0, out, 20)));
		icmp = out + 20;
	} else {
		uint16_t pl = htons((uint16_t)(tot - 40));
		memset(out, 0, 8);
		out[0] = 0x60;
		memcpy(out + 4, &pl, 2);
		out[6] = IPPROTO_ICMPV6;
		out[7] = e->ttl;
		memcpy(out + 8, e->src, 16);
		memcpy(out + 24, dst, 16);
		icmp = out + 40;
	}
	icmp[0] = e->type;
	icmp[1] = e->code;
	icmp[2] = icmp[3] = 0;
	memcpy(icmp + 4, &info, 4);

	uint32_t ilen = tot - (uint32_t)(icmp - out);
	uint64_t sum = pkt_csum_add(0, icmp, ilen);
	if (!v4) {
		uint32_t plen = htonl(ilen), nh = htonl(IPPROTO_ICMPV6);
		sum = pkt_csum_add(sum, out + 8, 32); /* source and destination */
		sum += (plen & 0xffff) + (plen >> 16) + (nh & 0xffff) + (nh >> 16);
	}
	pkt_store16(icmp + 2, (uint16_t)~pkt_csum_fold(sum));
	return (int)tot;
}
