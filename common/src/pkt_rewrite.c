// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Packet rewriting with incremental checksum updates (RFC 1624). Every
 * function here trusts a view from pkt_parse(): the bytes it touches were
 * proved to be inside the packet there.
 */
#include "common/pkt.h"

#include <netinet/in.h>
#include <string.h>

#include "common/pkt_csum.h"
#include "pkt-internal.h"

/* Replace n bytes at dst by src and return the diff of the change. */
static LOOM_ALWAYS_INLINE uint32_t put(uint8_t *dst, const uint8_t *src, uint32_t n)
{
	uint32_t d = pkt_csum_diff(0, dst, src, n);

	memcpy(dst, src, n);
	return d;
}

/* Update a full L4 checksum field; UDP over IPv4 sent without a checksum
 * (0) stays without, and a computed 0 is sent as 0xffff (RFC 768). Returns
 * the diff of the field itself, for a checksum that covers this one. */
static uint32_t l4_csum_update(uint8_t *field, uint32_t diff, unsigned family, uint8_t proto)
{
	uint8_t old[2];

	memcpy(old, field, 2);
	if (proto == IPPROTO_UDP && family == PKT_IPV4 && pkt_load16(field) == 0)
		return 0;
	pkt_csum_apply(field, diff);
	if (proto == IPPROTO_UDP && pkt_load16(field) == 0)
		pkt_store16(field, 0xffff);
	return pkt_csum_diff(0, old, field, 2);
}

/*
 * Rewrite the addresses of the IP header at ip. Returns the diff of the
 * address change in *addr_diff and of the part of it the L4 pseudo-header
 * sees in *ph_diff (they differ only when a routing header hides the
 * destination), and updates the IPv4 header checksum.
 */
static int addr_rewrite(uint8_t *ip, unsigned family, const struct pkt_nat *nat, bool rt_segs,
			uint32_t *addr_diff, uint32_t *ph_diff)
{
	uint32_t ds = 0, dd = 0;

	if (family == PKT_IPV4) {
		if (((nat->present & PKT_NAT_SADDR) && !key_addr_is_v4(nat->saddr)) ||
		    ((nat->present & PKT_NAT_DADDR) && !key_addr_is_v4(nat->daddr)))
			return -PKT_ERR_FAMILY;
		if (nat->present & PKT_NAT_SADDR)
			ds = put(ip + 12, nat->saddr + 12, 4);
		if (nat->present & PKT_NAT_DADDR)
			dd = put(ip + 16, nat->daddr + 12, 4);
		if (ds | dd)
			pkt_csum_apply(ip + 10, ds + dd);
	} else {
		if (((nat->present & PKT_NAT_SADDR) && key_addr_is_v4(nat->saddr)) ||
		    ((nat->present & PKT_NAT_DADDR) && key_addr_is_v4(nat->daddr)))
			return -PKT_ERR_FAMILY;
		if (nat->present & PKT_NAT_SADDR)
			ds = put(ip + 8, nat->saddr, 16);
		if (nat->present & PKT_NAT_DADDR)
			dd = put(ip + 24, nat->daddr, 16);
	}
	*addr_diff = ds + dd;
	*ph_diff = rt_segs ? ds : ds + dd;
	return 0;
}

/* Rewrite ports (TCP/UDP) or the echo identifier at th; returns the diff. */
static uint32_t port_rewrite(uint8_t *th, unsigned family, uint8_t proto, uint8_t icmp_type,
			     const struct pkt_nat *nat)
{
	uint32_t d = 0;

	if (proto == IPPROTO_TCP || proto == IPPROTO_UDP) {
		if (nat->present & PKT_NAT_SPORT)
			d += put(th, (const uint8_t *)&nat->sport, 2);
		if (nat->present & PKT_NAT_DPORT)
			d += put(th + 2, (const uint8_t *)&nat->dport, 2);
	} else if (pkt_icmp_is_echo(family, icmp_type) && (nat->present & PKT_NAT_SPORT)) {
		d += put(th + 4, (const uint8_t *)&nat->sport, 2);
	}
	return d;
}

int pkt_rewrite(uint8_t *buf, const struct pkt_view *v, const struct pkt_nat *nat)
{
	uint32_t addr_diff, ph_diff, port_diff = 0, foff;
	bool pseudo;
	int r;

	if (v->family == PKT_NOT_IP)
		return -PKT_ERR_NOT_IP;
	r = addr_rewrite(buf + v->l3_off, v->family, nat, v->flags & PKT_F_IPV6_RT_SEGS,
			 &addr_diff, &ph_diff);
	if (r)
		return r;
	/* A later fragment carries no L4 header: its checksum lives in the
	 * first fragment, which got the pseudo-header change. */
	if (!(v->flags & PKT_F_L4) || !pkt_l4_csum_field(v->family, v->l4_proto, &foff, &pseudo))
		return 0;
	if (v->flags & PKT_F_CSUM_PARTIAL) {
		/* Ports are summed later with the payload; only the pseudo-
		 * header sum stored in the field changes. */
		port_rewrite(buf + v->l4_off, v->family, v->l4_proto, v->icmp_type, nat);
		pkt_csum_apply_partial(buf + v->l4_off + foff, ph_diff);
		return 0;
	}
	port_diff = port_rewrite(buf + v->l4_off, v->family, v->l4_proto, v->icmp_type, nat);
	l4_csum_update(buf + v->l4_off + foff, port_diff + (pseudo ? ph_diff : 0), v->family,
		       v->l4_proto);
	return 0;
}

int pkt_ttl_dec(uint8_t *buf, struct pkt_view *v)
{
	uint8_t *ip = buf + v->l3_off;

	if (v->family == PKT_NOT_IP)
		return -PKT_ERR_NOT_IP;
	if (v->ttl <= 1)
		return -PKT_ERR_TTL_EXPIRED;
	v->ttl--;
	if (v->family == PKT_IPV6) {
		ip[7] = v->ttl;
		return 0;
	}
	/* TTL is the high byte of the 16-bit word it shares with protocol. */
	uint8_t w[2] = { v->ttl, ip[9] };
	pkt_csum_apply(ip + 10, put(ip + 8, w, 2));
	return 0;
}

int pkt_tcp_seq_adjust(uint8_t *buf, struct pkt_view *v, const struct pkt_seq_adj *adj)
{
	uint8_t *th = buf + v->l4_off;
	uint32_t d = 0;

	if (!(v->flags & PKT_F_L4) || v->l4_proto != IPPROTO_TCP)
		return -PKT_ERR_NOT_TCP;
	if (adj->seq_delta && (int32_t)(v->tcp_seq - adj->seq_init) >= 0) {
		uint32_t n;

		v->tcp_seq += adj->seq_delta;
		n = htonl(v->tcp_seq);
		d += put(th + 4, (const uint8_t *)&n, 4);
	}
	if (adj->ack_delta && (v->tcp_flags & 0x10) &&
	    (int32_t)(v->tcp_ack - adj->ack_init) >= 0) {
		uint32_t n;

		v->tcp_ack += adj->ack_delta;
		n = htonl(v->tcp_ack);
		d += put(th + 8, (const uint8_t *)&n, 4);
	}
	/* A partial checksum sums the header later, seq and ack included. */
	if (d && !(v->flags & PKT_F_CSUM_PARTIAL))
		pkt_csum_apply(th + 16, d);
	return 0;
}

int pkt_view_set_csum_partial(struct pkt_view *v, uint16_t csum_start, uint16_t csum_offset)
{
	uint32_t foff;
	bool pseudo;

	if (!(v->flags & PKT_F_L4) || (v->l4_proto != IPPROTO_TCP && v->l4_proto != IPPROTO_UDP) ||
	    !pkt_l4_csum_field(v->family, v->l4_proto, &foff, &pseudo) || csum_start != v->l4_off ||
	    csum_offset != foff)
		return -PKT_ERR_CSUM_PARTIAL;
	v->csum_start = csum_start;
	v->csum_offset = csum_offset;
	v->flags |= PKT_F_CSUM_PARTIAL;
	return 0;
}

int pkt_csum_complete(uint8_t *buf, uint32_t len, uint16_t csum_start, uint16_t csum_offset,
		      struct pkt_view *v)
{
	uint32_t field = (uint32_t)csum_start + csum_offset, end = v ? v->len : len;
	uint16_t r;

	/* An odd offset would put the field across two summed words. */
	if (csum_start > end || (csum_offset & 1) || field > end || end - field < 2)
		return -PKT_ERR_CSUM_PARTIAL;
	r = (uint16_t)~pkt_csum_fold(pkt_csum_add(0, buf + csum_start, end - csum_start));
	pkt_store16(buf + field, r ? r : 0xffff);
	if (v)
		v->flags &= (uint16_t)~PKT_F_CSUM_PARTIAL;
	return 0;
}

int pkt_icmp_quote_rewrite(uint8_t *buf, const struct pkt_view *v, const struct pkt_quote *q,
			   const struct pkt_nat *nat)
{
	uint8_t *qip = buf + q->l3_off;
	uint32_t addr_diff, ph_diff, outer, foff;
	bool pseudo;
	int r;

	if (!(v->flags & PKT_F_ICMP_ERR) || q->l3_off != v->l4_off + 8u)
		return -PKT_ERR_NOT_ICMP_ERR;
	/* Quoted routing headers are not looked at: the pseudo-header change
	 * is taken to be the address change. */
	if (q->family == PKT_IPV4) {
		uint8_t old[2];

		memcpy(old, qip + 10, 2);
		r = addr_rewrite(qip, q->family, nat, false, &addr_diff, &ph_diff);
		if (r)
			return r;
		outer = addr_diff + pkt_csum_diff(0, old, qip + 10, 2);
	} else {
		r = addr_rewrite(qip, q->family, nat, false, &addr_diff, &ph_diff);
		if (r)
			return r;
		outer = addr_diff;
	}
	if ((q->flags & PKT_Q_L4) && pkt_l4_csum_field(q->family, q->proto, &foff, &pseudo)) {
		uint8_t *th = buf + q->l4_off;
		uint32_t pd = port_rewrite(th, q->family, q->proto, q->icmp_type, nat);

		outer += pd;
		if (q->flags & PKT_Q_L4_CSUM)
			outer += l4_csum_update(th + foff, pd + (pseudo ? ph_diff : 0), q->family,
						q->proto);
	}
	pkt_csum_apply(buf + v->l4_off + 2, pkt_csum_fold(outer));
	return 0;
}
