// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Packet parsing: Ethernet/VLAN, IPv4 (options, fragments), IPv6 (extension
 * headers, fragments), TCP, UDP, ICMP, ICMPv6, and the quote inside an ICMP
 * error. Every offset is checked against the end of what it belongs to
 * before a byte there is read; lengths come from the packet and are hostile.
 */
#include "common/pkt.h"

#include <netinet/in.h>
#include <string.h>

#include "common/pkt_csum.h"
#include "pkt-internal.h"

#define ETH_HLEN      14
#define ETH_P_IPV4    0x0800
#define ETH_P_IPV6    0x86dd
#define ETH_P_8021Q   0x8100
#define ETH_P_8021AD  0x88a8

static const char *const pkt_err_names[] = { PKT_ERR_LIST(LOOM_XSTR) };

const char *pkt_err_str(int err)
{
	/* -INT_MIN does not exist: negate in unsigned arithmetic. */
	unsigned e = err < 0 ? 0u - (unsigned)err : (unsigned)err;

	if (e >= PKT__ERR_MAX)
		return "unknown";
	return pkt_err_names[e];
}

static inline uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static bool icmp4_is_error(uint8_t type)
{
	return type == 3 || type == 11 || type == 12;
}

static bool icmp6_is_error(uint8_t type)
{
	return type >= 1 && type <= 4;
}

/* Walk IPv4 options in [p, p + n): EOL ends, NOP is one byte, every other
 * option carries a length >= 2 that must stay inside the header. */
static int ipv4_opts_check(const uint8_t *p, uint32_t n)
{
	uint32_t i = 0;

	while (i < n) {
		uint8_t t = p[i];

		if (t == 0)
			return 0;
		if (t == 1) {
			i++;
			continue;
		}
		if (n - i < 2 || p[i + 1] < 2 || p[i + 1] > n - i)
			return -PKT_ERR_IPV4_OPT;
		i += p[i + 1];
	}
	return 0;
}

struct ext_walk {
	uint32_t l4_off;
	uint32_t frag_hdr_off;
	uint32_t frag_id;
	uint16_t frag_off;
	bool frag_more;
	bool frag;
	bool rt_segs;
	uint8_t proto;
};

/*
 * Walk IPv6 extension headers from off (just after the fixed header) with
 * first next-header nh, inside [0, end). Stops at the first header that is
 * not an extension (the transport), at ESP and no-next-header (the proto is
 * recorded, nothing after them is readable), and after the fragment header
 * of a later fragment (what follows belongs to the reassembled packet).
 */
static int ipv6_ext_walk(const uint8_t *buf, uint32_t off, uint32_t end, uint8_t nh,
			 struct ext_walk *w)
{
	memset(w, 0, sizeof(*w));
	for (unsigned n = 0;; n++) {
		uint32_t hlen;

		switch (nh) {
		case IPPROTO_HOPOPTS:
		case IPPROTO_ROUTING:
		case IPPROTO_DSTOPTS:
		case IPPROTO_FRAGMENT:
		case IPPROTO_AH:
			break;
		default:
			w->proto = nh;
			w->l4_off = off;
			return 0;
		}
		if (n == PKT_MAX_EXT_HDR)
			return -PKT_ERR_EXT_CHAIN;
		if (nh == IPPROTO_HOPOPTS && n != 0)
			return -PKT_ERR_EXT_HBH;
		if (end - off < 8)
			return -PKT_ERR_EXT_TRUNC;
		if (nh == IPPROTO_FRAGMENT)
			hlen = 8;
		else if (nh == IPPROTO_AH)
			hlen = ((uint32_t)buf[off + 1] + 2) * 4;
		else
			hlen = ((uint32_t)buf[off + 1] + 1) * 8;
		if (end - off < hlen)
			return -PKT_ERR_EXT_TRUNC;
		if (nh == IPPROTO_ROUTING && buf[off + 3] != 0)
			w->rt_segs = true;
		if (nh == IPPROTO_FRAGMENT) {
			uint16_t fo = rd16(buf + off + 2);

			if (w->frag_hdr_off)
				return -PKT_ERR_EXT_FRAG_DUP;
			w->frag_hdr_off = off;
			w->frag_off = fo & 0xfff8;
			w->frag_more = fo & 1;
			w->frag_id = rd32(buf + off + 4);
			w->frag = w->frag_off || w->frag_more;
			if (w->frag_off) {
				w->proto = buf[off];
				w->l4_off = off + 8;
				return 0;
			}
		}
		nh = buf[off];
		off += hlen;
	}
}

static int parse_tcp(const uint8_t *buf, struct pkt_view *v)
{
	const uint8_t *th = buf + v->l4_off;
	uint32_t doff;

	if (v->l4_len < 20)
		return -PKT_ERR_TCP_TRUNC;
	doff = (uint32_t)(th[12] >> 4) * 4;
	if (doff < 20)
		return -PKT_ERR_TCP_DOFF_SMALL;
	if (doff > v->l4_len)
		return -PKT_ERR_TCP_DOFF_BIG;
	v->l4_hdr_len = (uint16_t)doff;
	v->tcp_flags = th[13] & 0x3f;
	v->tcp_seq = rd32(th + 4);
	v->tcp_ack = rd32(th + 8);
	return 0;
}

static int parse_udp(const uint8_t *buf, struct pkt_view *v)
{
	uint16_t ulen;

	if (v->l4_len < 8)
		return -PKT_ERR_UDP_TRUNC;
	ulen = rd16(buf + v->l4_off + 4);
	/* A first fragment holds only part of the datagram the length names. */
	if (ulen < 8 || (!(v->flags & PKT_F_FRAG) && ulen > v->l4_len))
		return -PKT_ERR_UDP_LEN;
	v->l4_hdr_len = 8;
	v->udp_len = ulen;
	return 0;
}

static int parse_icmp(const uint8_t *buf, struct pkt_view *v, bool v6)
{
	const uint8_t *ih = buf + v->l4_off;

	if (v->l4_len < 8)
		return -PKT_ERR_ICMP_TRUNC;
	v->l4_hdr_len = 8;
	v->icmp_type = ih[0];
	v->icmp_code = ih[1];
	if (v6 ? icmp6_is_error(ih[0]) : icmp4_is_error(ih[0]))
		v->flags |= PKT_F_ICMP_ERR;
	if (pkt_icmp_is_echo(v->family, ih[0])) {
		v->flags |= PKT_F_ICMP_ECHO;
		v->icmp_id = rd16(ih + 4);
	}
	return 0;
}

static int parse_l4(const uint8_t *buf, struct pkt_view *v)
{
	int r;

	if (v->flags & PKT_F_FRAG_LATER)
		return 0;
	switch (v->l4_proto) {
	case IPPROTO_TCP:
		r = parse_tcp(buf, v);
		break;
	case IPPROTO_UDP:
		r = parse_udp(buf, v);
		break;
	case IPPROTO_ICMP:
		if (v->family != PKT_IPV4)
			return 0;
		r = parse_icmp(buf, v, false);
		break;
	case IPPROTO_ICMPV6:
		if (v->family != PKT_IPV6)
			return 0;
		r = parse_icmp(buf, v, true);
		break;
	default:
		return 0;
	}
	if (r == 0)
		v->flags |= PKT_F_L4;
	return r;
}

static int parse_ipv4(const uint8_t *buf, uint32_t off, uint32_t len, struct pkt_view *v)
{
	const uint8_t *ip = buf + off;
	uint32_t avail = len - off, ihl, tot, fo;
	int r;

	if (avail < 20)
		return -PKT_ERR_IPV4_TRUNC;
	if (ip[0] >> 4 != 4)
		return -PKT_ERR_IP_VERSION;
	ihl = (uint32_t)(ip[0] & 0xf) * 4;
	if (ihl < 20)
		return -PKT_ERR_IPV4_IHL;
	tot = rd16(ip + 2);
	if (tot < ihl)
		return -PKT_ERR_IPV4_TOTLEN_SMALL;
	if (tot > avail)
		return -PKT_ERR_IPV4_TOTLEN_BIG;
	if (ihl > 20) {
		r = ipv4_opts_check(ip + 20, ihl - 20);
		if (r)
			return r;
		v->flags |= PKT_F_IPV4_OPTS;
	}
	v->family = PKT_IPV4;
	v->l3_off = (uint16_t)off;
	v->l3_hdr_len = (uint16_t)ihl;
	v->l3_len = tot;
	v->len = off + tot;
	v->l4_off = (uint16_t)(off + ihl);
	v->l4_len = tot - ihl;
	v->l4_proto = ip[9];
	v->ttl = ip[8];
	fo = rd16(ip + 6);
	if (fo & 0x3fff) {
		v->flags |= PKT_F_FRAG;
		v->frag_id = rd16(ip + 4);
		v->frag_off = (uint16_t)((fo & 0x1fff) * 8);
		if (fo & 0x2000)
			v->flags |= PKT_F_FRAG_MORE;
		if (v->frag_off)
			v->flags |= PKT_F_FRAG_LATER;
		/* The reassembled datagram must fit an IPv4 total length. */
		if (v->frag_off + v->l4_len + ihl > 65535)
			return -PKT_ERR_FRAG_LEN;
	}
	return parse_l4(buf, v);
}

static int parse_ipv6(const uint8_t *buf, uint32_t off, uint32_t len, struct pkt_view *v)
{
	const uint8_t *ip = buf + off;
	uint32_t avail = len - off, plen;
	struct ext_walk w;
	int r;

	r = pkt_ipv6_hdr_check(ip, avail, -PKT_ERR_IPV6_TRUNC, -PKT_ERR_IP_VERSION);
	if (r)
		return r;
	plen = rd16(ip + 4);
	if (40 + plen > avail)
		return -PKT_ERR_IPV6_PLEN;
	v->family = PKT_IPV6;
	v->l3_off = (uint16_t)off;
	v->l3_hdr_len = 40;
	v->l3_len = 40 + plen;
	v->len = off + 40 + plen;
	v->ttl = ip[7];
	r = ipv6_ext_walk(buf, off + 40, v->len, ip[6], &w);
	if (r)
		return r;
	if (w.l4_off != off + 40)
		v->flags |= PKT_F_IPV6_EXT;
	if (w.rt_segs)
		v->flags |= PKT_F_IPV6_RT_SEGS;
	v->l4_off = (uint16_t)w.l4_off;
	v->l4_len = v->len - w.l4_off;
	v->l4_proto = w.proto;
	if (w.frag_hdr_off) {
		v->frag_hdr_off = (uint16_t)w.frag_hdr_off;
		v->frag_id = w.frag_id;
		v->frag_off = w.frag_off;
	}
	if (w.frag) {
		uint32_t after = v->len - (w.frag_hdr_off + 8);

		v->flags |= PKT_F_FRAG;
		if (w.frag_more)
			v->flags |= PKT_F_FRAG_MORE;
		if (w.frag_off)
			v->flags |= PKT_F_FRAG_LATER;
		if ((uint32_t)w.frag_off + after > 65535)
			return -PKT_ERR_FRAG_LEN;
	}
	/* Past ESP or no-next-header there is nothing we can read. */
	if (w.proto == IPPROTO_ESP || w.proto == IPPROTO_NONE)
		return 0;
	return parse_l4(buf, v);
}

static int parse_ip(const uint8_t *buf, uint32_t off, uint32_t len, struct pkt_view *v,
		    unsigned family)
{
	return family == PKT_IPV4 ? parse_ipv4(buf, off, len, v) : parse_ipv6(buf, off, len, v);
}

static int parse_eth(const uint8_t *buf, uint32_t len, struct pkt_view *v)
{
	uint32_t off = 12;
	unsigned n = 0;
	uint16_t et;

	if (len < ETH_HLEN)
		return -PKT_ERR_ETH_TRUNC;
	/* Past this, every offset the view records fits its uint16_t. */
	if (len > PKT_MAX_LEN)
		return -PKT_ERR_TOO_LONG;
	et = rd16(buf + off);
	/* n counts in a register: reading back the view just cleared would
	 * wait for the clearing stores. */
	while (et == ETH_P_8021Q || et == ETH_P_8021AD) {
		if (n == PKT_MAX_VLAN)
			return -PKT_ERR_VLAN_DEPTH;
		if (len - off < 6) /* TPID, TCI, next ethertype */
			return -PKT_ERR_VLAN_TRUNC;
		v->vlan_tpid[n] = et;
		v->vlan_tci[n] = rd16(buf + off + 2);
		v->n_vlan = (uint8_t)++n;
		off += 4;
		et = rd16(buf + off);
	}
	if (n)
		v->flags = PKT_F_VLAN;
	v->ethertype = et;
	off += 2;
	v->l3_off = (uint16_t)off;
	v->len = len;
	if (et == ETH_P_IPV4)
		return parse_ip(buf, off, len, v, PKT_IPV4);
	if (et == ETH_P_IPV6)
		return parse_ip(buf, off, len, v, PKT_IPV6);
	return 0;
}

int pkt_parse(const uint8_t *buf, uint32_t len, struct pkt_view *v)
{
	memset(v, 0, sizeof(*v));
	return parse_eth(buf, len, v);
}

unsigned pkt_parse_burst(const uint8_t *const *bufs, const uint32_t *lens, unsigned n,
			 struct pkt_view *v, int *rc)
{
	unsigned ok = 0;

	for (unsigned i = 0; i < n; i++) {
		/* The next frame is most likely cold (just DMAed); fetch its
		 * headers while this one is parsed. */
		if (i + 1 < n)
			__builtin_prefetch(bufs[i + 1]);
		memset(&v[i], 0, sizeof(v[i]));
		rc[i] = parse_eth(bufs[i], lens[i], &v[i]);
		ok += rc[i] == 0;
	}
	return ok;
}

int pkt_view_set_vlan(struct pkt_view *v, uint16_t tpid, uint16_t tci)
{
	if (v->n_vlan == PKT_MAX_VLAN)
		return -PKT_ERR_VLAN_DEPTH;
	/* The kernel strips the outermost tag: whatever the frame still
	 * carries is inside it. */
	if (v->n_vlan) {
		v->vlan_tpid[1] = v->vlan_tpid[0];
		v->vlan_tci[1] = v->vlan_tci[0];
	}
	v->vlan_tpid[0] = tpid ? tpid : ETH_P_8021Q;
	v->vlan_tci[0] = tci;
	v->n_vlan++;
	v->flags |= PKT_F_VLAN | PKT_F_VLAN_AUX;
	return 0;
}

int pkt_parse_l3(const uint8_t *buf, uint32_t len, struct pkt_view *v)
{
	memset(v, 0, sizeof(*v));
	if (len < 1)
		return -PKT_ERR_IPV4_TRUNC;
	if (len > PKT_MAX_LEN)
		return -PKT_ERR_TOO_LONG;
	switch (buf[0] >> 4) {
	case 4:
		return parse_ip(buf, 0, len, v, PKT_IPV4);
	case 6:
		return parse_ip(buf, 0, len, v, PKT_IPV6);
	default:
		return -PKT_ERR_IP_VERSION;
	}
}

static void key_addrs(const uint8_t *ip, unsigned family, struct flow_key *k)
{
	if (family == PKT_IPV4) {
		uint32_t a;

		memcpy(&a, ip + 12, 4);
		key_addr_from_v4(k->saddr, a);
		memcpy(&a, ip + 16, 4);
		key_addr_from_v4(k->daddr, a);
	} else {
		memcpy(k->saddr, ip + 8, 16);
		memcpy(k->daddr, ip + 24, 16);
	}
}

int pkt_key(const struct pkt_view *v, const uint8_t *buf, struct flow_key *k)
{
	key_init(k);
	if (v->family == PKT_NOT_IP)
		return -PKT_ERR_NOT_IP;
	key_addrs(buf + v->l3_off, v->family, k);
	k->proto = v->l4_proto;
	if (!(v->flags & PKT_F_L4))
		return 0;
	if (v->l4_proto == IPPROTO_TCP || v->l4_proto == IPPROTO_UDP) {
		memcpy(&k->sport, buf + v->l4_off, 2);
		memcpy(&k->dport, buf + v->l4_off + 2, 2);
	} else if (v->flags & PKT_F_ICMP_ECHO) {
		memcpy(&k->sport, buf + v->l4_off + 4, 2);
	}
	return 0;
}

int pkt_icmp_quote(const struct pkt_view *v, const uint8_t *buf, struct pkt_quote *q,
		   struct flow_key *k)
{
	uint32_t off, end = v->len, l4, avail;
	const uint8_t *ip;

	memset(q, 0, sizeof(*q));
	if (!(v->flags & PKT_F_ICMP_ERR))
		return -PKT_ERR_NOT_ICMP_ERR;
	off = v->l4_off + 8u;
	ip = buf + off;
	avail = end - off;
	q->family = v->family;
	q->l3_off = (uint16_t)off;
	q->end = end;
	if (v->family == PKT_IPV4) {
		uint32_t ihl;

		if (avail < 20)
			return -PKT_ERR_QUOTE_TRUNC;
		ihl = (uint32_t)(ip[0] & 0xf) * 4;
		if (ip[0] >> 4 != 4 || ihl < 20)
			return -PKT_ERR_QUOTE_BAD;
		if (ihl > avail)
			return -PKT_ERR_QUOTE_TRUNC;
		q->l3_hdr_len = (uint16_t)ihl;
		q->proto = ip[9];
		l4 = off + ihl;
		if (rd16(ip + 6) & 0x1fff)
			q->flags |= PKT_Q_FRAG_LATER;
	} else {
		struct ext_walk w;
		int r;

		r = pkt_ipv6_hdr_check(ip, avail, -PKT_ERR_QUOTE_TRUNC, -PKT_ERR_QUOTE_BAD);
		if (r)
			return r;
		q->l3_hdr_len = 40;
		r = ipv6_ext_walk(buf, off + 40, end, ip[6], &w);
		if (r == -PKT_ERR_EXT_TRUNC)
			return -PKT_ERR_QUOTE_TRUNC;
		if (r)
			return -PKT_ERR_QUOTE_BAD;
		q->proto = w.proto;
		l4 = w.l4_off;
		if (w.frag_off)
			q->flags |= PKT_Q_FRAG_LATER;
	}
	q->l4_off = (uint16_t)l4;
	if (k) {
		key_init(k);
		key_addrs(ip, q->family, k);
		k->proto = q->proto;
	}
	if (q->flags & PKT_Q_FRAG_LATER)
		return 0;
	switch (q->proto) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
		break;
	case IPPROTO_ICMP:
		if (q->family != PKT_IPV4)
			return 0;
		break;
	case IPPROTO_ICMPV6:
		if (q->family != PKT_IPV6)
			return 0;
		break;
	default:
		return 0;
	}
	if (end - l4 < 8)
		return -PKT_ERR_QUOTE_TRUNC;
	q->flags |= PKT_Q_L4;
	switch (q->proto) {
	case IPPROTO_TCP:
		if (end - l4 >= 18)
			q->flags |= PKT_Q_L4_CSUM;
		if (k) {
			memcpy(&k->sport, buf + l4, 2);
			memcpy(&k->dport, buf + l4 + 2, 2);
		}
		break;
	case IPPROTO_UDP:
		q->flags |= PKT_Q_L4_CSUM;
		if (k) {
			memcpy(&k->sport, buf + l4, 2);
			memcpy(&k->dport, buf + l4 + 2, 2);
		}
		break;
	default:
		q->flags |= PKT_Q_L4_CSUM;
		q->icmp_type = buf[l4];
		if (k && pkt_icmp_is_echo(q->family, buf[l4]))
			memcpy(&k->sport, buf + l4 + 4, 2);
		break;
	}
	return 0;
}
