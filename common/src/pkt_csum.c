// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Checksums computed from scratch: the cheap IPv4 header check every packet
 * may get, and the full L4 computation for the slow path and the tests.
 */
#include "common/pkt.h"

#include <netinet/in.h>

#include "common/pkt_csum.h"
#include "pkt-internal.h"

bool pkt_ipv4_csum_ok(const struct pkt_view *v, const uint8_t *buf)
{
	if (v->family != PKT_IPV4)
		return false;
	return pkt_csum_fold(pkt_csum_add(0, buf + v->l3_off, v->l3_hdr_len)) == 0xffff;
}

/* Where the L4 checksum field is, relative to the transport header; 0 when
 * the protocol has none we handle (no field starts at 0). */
static uint32_t l4_csum_field(const struct pkt_view *v)
{
	uint32_t off;
	bool pseudo;

	return pkt_l4_csum_field(v->family, v->l4_proto, &off, &pseudo) ? off : 0;
}

/* Sum of the pseudo-header (RFC 768, RFC 793, RFC 8200 8.1) plus the
 * transport bytes, field included; 0 on failure with *ok false. */
static uint64_t l4_sum(const struct pkt_view *v, const uint8_t *buf, bool *ok)
{
	const uint8_t *ip = buf + v->l3_off;
	uint32_t n = v->l4_len;
	uint64_t s = 0;

	*ok = false;
	if (!(v->flags & PKT_F_L4) || (v->flags & PKT_F_FRAG) || !l4_csum_field(v) ||
	    (v->flags & PKT_F_IPV6_RT_SEGS))
		return 0;
	if (v->l4_proto == IPPROTO_UDP)
		n = v->udp_len;
	if (v->family == PKT_IPV4) {
		if (v->l4_proto != IPPROTO_ICMP) {
			uint8_t ph[4] = { 0, v->l4_proto, (uint8_t)(n >> 8), (uint8_t)n };

			s = pkt_csum_add(s, ip + 12, 8);
			s = pkt_csum_add(s, ph, 4);
		}
	} else {
		uint8_t ph[8] = { (uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8),
				  (uint8_t)n, 0, 0, 0, v->l4_proto };

		s = pkt_csum_add(s, ip + 8, 32);
		s = pkt_csum_add(s, ph, 8);
	}
	*ok = true;
	return pkt_csum_add(s, buf + v->l4_off, n);
}

int pkt_l4_csum_compute(const struct pkt_view *v, const uint8_t *buf)
{
	bool ok;
	uint64_t s = l4_sum(v, buf, &ok);
	uint16_t field, r;

	if (!ok)
		return -PKT_ERR_CSUM_UNKNOWN;
	/* Take the field back out: adding its complement subtracts it. */
	field = pkt_load16(buf + v->l4_off + l4_csum_field(v));
	r = (uint16_t)~pkt_csum_fold(s + (uint16_t)~field);
	if (r == 0 && v->l4_proto == IPPROTO_UDP)
		r = 0xffff;
	return r;
}

int pkt_l4_csum_verify(const struct pkt_view *v, const uint8_t *buf)
{
	bool ok;
	uint64_t s = l4_sum(v, buf, &ok);

	if (!ok)
		return -PKT_ERR_CSUM_UNKNOWN;
	if (v->family == PKT_IPV4 && v->l4_proto == IPPROTO_UDP &&
	    pkt_load16(buf + v->l4_off + 6) == 0)
		return 0;
	return pkt_csum_fold(s) == 0xffff ? 0 : -PKT_ERR_CSUM_BAD;
}
