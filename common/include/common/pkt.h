/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pkt: parsing and rewriting one packet, the per-packet code of the
 * forwarding agent and the packeting engine.
 *
 * Design. pkt_parse() validates a packet once and fills a struct pkt_view
 * with offsets from the start of the buffer (never pointers) and the few
 * decoded fields a data plane branches on. Every later operation (flow key,
 * NAT, TTL, sequence adjust, ICMP error translation) trusts the view and
 * touches only bytes the parser proved to be inside the packet, so none of
 * them needs a length check of its own beyond what the view records.
 *
 * Everything here runs per packet at millions of packets per second: no
 * allocation, no logging, no locks; a failure is a negative enum pkt_err
 * that the caller turns into a drop counter (pkt_err_str() names it).
 *
 * Checksums are updated incrementally (RFC 1624, HC' = ~(~HC + ~m + m')),
 * including the L4 pseudo-header. Packets whose L4 checksum the kernel left
 * to be finished later (CHECKSUM_PARTIAL) are handled when the caller marks
 * the view with pkt_view_set_csum_partial(); see docs/packets.md.
 *
 * Byte order: addresses and ports given to or taken from this API are in
 * network byte order (as in the packet and in struct flow_key); the decoded
 * scalars in the view (ethertype, lengths, seq/ack, ids) are in host order.
 */
#ifndef LOOM_COMMON_PKT_H
#define LOOM_COMMON_PKT_H

#include <stdbool.h>
#include <stdint.h>

#include "common/compiler.h"
#include "common/key.h"

/*
 * Reasons a packet is refused. The first group is parse errors (malformed
 * input); the second is operations the packet does not allow.
 */
#define PKT_ERR_LIST(X)                                                          \
	X(PKT_OK,                 "ok")                                          \
	X(PKT_ERR_ETH_TRUNC,      "truncated Ethernet header")                   \
	X(PKT_ERR_TOO_LONG,       "longer than PKT_MAX_LEN")                     \
	X(PKT_ERR_VLAN_TRUNC,     "truncated VLAN tag")                          \
	X(PKT_ERR_VLAN_DEPTH,     "more than two VLAN tags")                     \
	X(PKT_ERR_IP_VERSION,     "IP version does not match the ethertype")     \
	X(PKT_ERR_IPV4_TRUNC,     "truncated IPv4 header")                       \
	X(PKT_ERR_IPV4_IHL,       "IPv4 IHL below 5")                            \
	X(PKT_ERR_IPV4_TOTLEN_SMALL, "IPv4 total length below header length")    \
	X(PKT_ERR_IPV4_TOTLEN_BIG, "IPv4 total length beyond the buffer")        \
	X(PKT_ERR_IPV4_OPT,       "bad IPv4 option length")                      \
	X(PKT_ERR_IPV6_TRUNC,     "truncated IPv6 header")                       \
	X(PKT_ERR_IPV6_PLEN,      "IPv6 payload length beyond the buffer")       \
	X(PKT_ERR_EXT_TRUNC,      "IPv6 extension header truncated")             \
	X(PKT_ERR_EXT_CHAIN,      "IPv6 extension header chain too long")        \
	X(PKT_ERR_EXT_HBH,        "IPv6 hop-by-hop header not first")            \
	X(PKT_ERR_EXT_FRAG_DUP,   "IPv6 second fragment header")                 \
	X(PKT_ERR_FRAG_LEN,       "fragment offset + length beyond 65535")       \
	X(PKT_ERR_TCP_TRUNC,      "truncated TCP header")                        \
	X(PKT_ERR_TCP_DOFF_SMALL, "TCP data offset below 5")                     \
	X(PKT_ERR_TCP_DOFF_BIG,   "TCP data offset beyond the packet")           \
	X(PKT_ERR_UDP_TRUNC,      "truncated UDP header")                        \
	X(PKT_ERR_UDP_LEN,        "UDP length below 8 or beyond the packet")     \
	X(PKT_ERR_ICMP_TRUNC,     "truncated ICMP header")                       \
	X(PKT_ERR_QUOTE_TRUNC,    "ICMP error quote truncated")                  \
	X(PKT_ERR_QUOTE_BAD,      "ICMP error quote is not a valid IP header")   \
	X(PKT_ERR_NOT_IP,         "not an IP packet")                            \
	X(PKT_ERR_NOT_ICMP_ERR,   "not an ICMP error message")                   \
	X(PKT_ERR_NOT_TCP,        "no TCP header in this packet")                \
	X(PKT_ERR_FAMILY,         "address family does not match the packet")    \
	X(PKT_ERR_TTL_EXPIRED,    "TTL or hop limit would reach 0")              \
	X(PKT_ERR_CSUM_PARTIAL,   "partial checksum not at the L4 checksum")     \
	X(PKT_ERR_CSUM_BAD,       "checksum mismatch")                           \
	X(PKT_ERR_CSUM_UNKNOWN,   "checksum cannot be verified in this packet")

enum pkt_err {
	PKT_ERR_LIST(LOOM_XENUM)
	PKT__ERR_MAX
};

/* Human-readable reason; "unknown" for a value outside the list. Accepts
 * the error as returned (negative) or as the enum value. */
const char *pkt_err_str(int err);

enum pkt_family {
	PKT_NOT_IP = 0, /* unknown ethertype: a verdict, not an error */
	PKT_IPV4 = 4,
	PKT_IPV6 = 6,
};

/* View flags. */
enum {
	PKT_F_VLAN        = 1u << 0,  /* at least one 802.1Q/802.1ad tag */
	PKT_F_IPV4_OPTS   = 1u << 1,  /* IPv4 header longer than 20 bytes */
	PKT_F_IPV6_EXT    = 1u << 2,  /* IPv6 extension headers present */
	PKT_F_FRAG        = 1u << 3,  /* a fragment (first or later) */
	PKT_F_FRAG_LATER  = 1u << 4,  /* offset != 0: no L4 header here */
	PKT_F_FRAG_MORE   = 1u << 5,  /* MF / M bit set */
	PKT_F_L4          = 1u << 6,  /* TCP, UDP, ICMP or ICMPv6 header parsed */
	PKT_F_ICMP_ERR    = 1u << 7,  /* ICMP(v6) error that quotes a packet */
	PKT_F_ICMP_ECHO   = 1u << 8,  /* ICMP(v6) echo request or reply */
	PKT_F_CSUM_PARTIAL = 1u << 9, /* L4 checksum is CHECKSUM_PARTIAL */
	/* A routing header with segments left: the L4 pseudo-header holds the
	 * final destination, not the IPv6 header's (RFC 8200 8.1). */
	PKT_F_IPV6_RT_SEGS = 1u << 10,
	/* The outer tag came from pkt_view_set_vlan() (the kernel stripped
	 * it): it is in the view, not in the buffer. */
	PKT_F_VLAN_AUX     = 1u << 11,
};

#define PKT_MAX_VLAN    2
#define PKT_MAX_EXT_HDR 8 /* IPv6 extension headers walked before giving up */

/*
 * The longest buffer pkt_parse() and pkt_parse_l3() accept (longer:
 * -PKT_ERR_TOO_LONG): Ethernet, two tags, an IPv6 header and the largest
 * payload length, 14 + 8 + 40 + 65535 = 65597 bytes. No IP packet is longer,
 * and it keeps every offset in a view or a quote below 64 KiB (the IPv6
 * extension walk adds at most 8 x 2 KiB to a header offset), which is why
 * those are uint16_t. Lengths and ends (len, l3_len, l4_len, quote end) can
 * exceed 65535 and are uint32_t.
 */
#define PKT_MAX_LEN (14u + 4u * PKT_MAX_VLAN + 40u + 65535u)

/*
 * A validated packet. All offsets are from the start of the buffer given to
 * pkt_parse(); every [off, off + len) range recorded here lies inside it.
 * Fields past l3 are meaningful only as the flags say (PKT_F_L4 for the
 * transport fields; l4_proto is always the protocol after the IP header and
 * its extensions, also for ESP, no-next-header and later fragments).
 */
struct pkt_view {
	uint32_t len;          /* packet end: l3_off + IP length; padding excluded */
	uint32_t l3_len;       /* IPv4 total length, IPv6 40 + payload length */
	uint32_t l4_len;       /* bytes from l4_off to len */
	uint16_t flags;        /* PKT_F_* */
	uint16_t ethertype;    /* innermost ethertype; 0 when parsed from L3 */
	uint16_t vlan_tci[PKT_MAX_VLAN]; /* outer first */
	uint16_t vlan_tpid[PKT_MAX_VLAN];
	uint8_t n_vlan;
	uint8_t family;        /* enum pkt_family */
	uint8_t l4_proto;      /* IPPROTO_* after the extension headers */
	uint8_t ttl;           /* TTL / hop limit */
	uint16_t l3_off;       /* IP header */
	uint16_t l3_hdr_len;   /* IPv4 IHL * 4; IPv6 40 (extensions not included) */
	uint16_t l4_off;       /* transport header (or where it would start) */
	uint16_t frag_hdr_off; /* IPv6 fragment header, 0 if none */
	uint32_t frag_id;      /* IPv4 16-bit id, IPv6 32-bit id */
	uint16_t frag_off;     /* fragment offset in bytes */
	uint16_t csum_start;   /* set by pkt_view_set_csum_partial() */
	uint16_t csum_offset;
	/* transport, valid with PKT_F_L4 */
	uint16_t l4_hdr_len;   /* TCP doff * 4, UDP 8, ICMP 8 */
	uint8_t tcp_flags;     /* FIN 0x01 SYN 0x02 RST 0x04 PSH 0x08 ACK 0x10 URG 0x20 */
	uint8_t icmp_type;
	uint8_t icmp_code;
	uint16_t icmp_id;      /* echo identifier (host order), with PKT_F_ICMP_ECHO */
	uint16_t udp_len;      /* UDP length field (host order) */
	uint32_t tcp_seq;      /* host order; pkt_tcp_seq_adjust() keeps them current */
	uint32_t tcp_ack;
};

/*
 * Parse an Ethernet frame (up to two VLAN tags, 0x88a8 and/or 0x8100) and
 * the IP packet inside. Returns 0 with v->family == PKT_NOT_IP for an
 * ethertype that is not IPv4/IPv6, 0 with a filled view for a valid IP
 * packet, -PKT_ERR_* for malformed input. buf must hold len readable bytes;
 * len may include trailing Ethernet padding, which v->len excludes.
 */
int pkt_parse(const uint8_t *buf, uint32_t len, struct pkt_view *v);

/*
 * pkt_parse() on n frames: rc[i] and v[i] are what pkt_parse(bufs[i],
 * lens[i], &v[i]) gives. While frame i is parsed, the first cache line of
 * frame i + 1 is prefetched, so a receive ring's cold frames cost one miss
 * in flight instead of one per frame. Returns how many rc[i] are 0. Each
 * bufs[i] must hold lens[i] readable bytes; n may be 0.
 */
unsigned pkt_parse_burst(const uint8_t *const *bufs, const uint32_t *lens, unsigned n,
			 struct pkt_view *v, int *rc);

/*
 * Record a VLAN tag the kernel took out of the frame (AF_PACKET with
 * rx-vlan offload: tpacket aux data tp_vlan_tci, tp_vlan_tpid, valid when
 * TP_STATUS_VLAN_VALID is set) as the outer tag of a view pkt_parse() has
 * filled; tags still in the frame move inward. tpid 0 means 0x8100 (kernels
 * without TP_STATUS_VLAN_TPID_VALID leave it 0). Sets PKT_F_VLAN and
 * PKT_F_VLAN_AUX (the tag is not in the buffer: a sender must put it back).
 * -PKT_ERR_VLAN_DEPTH, view unchanged, when the view holds PKT_MAX_VLAN
 * tags already. Call it once per frame, after pkt_parse() returned 0.
 */
int pkt_view_set_vlan(struct pkt_view *v, uint16_t tpid, uint16_t tci);

/* The same from an IP header at buf[0] (punted packets travel as bare IP).
 * The version nibble picks the family; any other version is
 * -PKT_ERR_IP_VERSION. */
int pkt_parse_l3(const uint8_t *buf, uint32_t len, struct pkt_view *v);

/*
 * The flow key of a parsed IP packet (IPv4 mapped, network byte order).
 * Ports are 0 when there is no L4 header (later fragment, other protocols);
 * ICMP echo: identifier in sport, dport 0; other ICMP: both 0.
 * -PKT_ERR_NOT_IP for a view that is not IP.
 */
int pkt_key(const struct pkt_view *v, const uint8_t *buf, struct flow_key *k);

/* --- checksums (pkt_csum.c) --------------------------------------------- */

/* True when the IPv4 header checksum is right (cheap: 20-60 bytes). */
bool pkt_ipv4_csum_ok(const struct pkt_view *v, const uint8_t *buf);

/*
 * Compute the L4 checksum of a whole, unfragmented TCP/UDP/ICMP/ICMPv6
 * packet from scratch, as it must appear in the packet (UDP over IPv4: 0 is
 * sent as 0xffff). -PKT_ERR_CSUM_UNKNOWN for a fragment or a view without
 * an L4 header; on success returns the value in network byte order as a
 * non-negative int. For the slow path and tests.
 */
int pkt_l4_csum_compute(const struct pkt_view *v, const uint8_t *buf);

/* 0 when the L4 checksum is right (UDP over IPv4 with checksum 0: right),
 * -PKT_ERR_CSUM_BAD when not, -PKT_ERR_CSUM_UNKNOWN when it cannot tell. */
int pkt_l4_csum_verify(const struct pkt_view *v, const uint8_t *buf);

/* --- rewriting (pkt_rewrite.c) ------------------------------------------ */

/*
 * Mark the packet's L4 checksum as CHECKSUM_PARTIAL (from a virtio_net_hdr
 * with VIRTIO_NET_HDR_F_NEEDS_CSUM): the field at csum_start + csum_offset
 * holds the folded, NOT complemented, one's complement sum of the
 * pseudo-header, and whoever transmits sums csum_start..end into it. Only
 * the TCP and UDP checksum field is accepted (-PKT_ERR_CSUM_PARTIAL
 * otherwise: complete it with pkt_csum_complete() first).
 */
int pkt_view_set_csum_partial(struct pkt_view *v, uint16_t csum_start, uint16_t csum_offset);

/*
 * Turn a partial checksum into a full one: sum buf[csum_start, end) (the
 * field included, as it holds the pseudo-header sum), complement, store.
 * end is v->len when v is not NULL: the packet's end, Ethernet padding
 * excluded, whatever len says (an AF_PACKET caller passing the frame length
 * would otherwise sum the padding, which need not be zero). Without a view
 * end is len. A result of 0 is stored as 0xffff (the same number in one's
 * complement, and what UDP requires; the kernel does the same).
 * -PKT_ERR_CSUM_PARTIAL when the field is not inside [csum_start, end).
 * Clears PKT_F_CSUM_PARTIAL if v is not NULL.
 */
int pkt_csum_complete(uint8_t *buf, uint32_t len, uint16_t csum_start, uint16_t csum_offset,
		      struct pkt_view *v);

/*
 * A translation: any subset of the four fields, as in struct flow_key
 * (16-byte addresses, IPv4 mapped; ports in network byte order).
 *
 * The bits, the member order and the member types are those of struct
 * msg_nat, the decoded action-nat segment (common/msg.h), so a forwarding
 * agent applies a decoded action as it is: pkt_ does not depend on msg_,
 * and tests/unit/pkt/test_pkt_api.c pins the two together with
 * static_assert (bits, offsets, size).
 */
enum {
	PKT_NAT_SADDR = 1u << 0,
	PKT_NAT_SPORT = 1u << 1,
	PKT_NAT_DADDR = 1u << 2,
	PKT_NAT_DPORT = 1u << 3,
};

struct pkt_nat {
	uint32_t present; /* PKT_NAT_* */
	uint8_t saddr[16];
	uint16_t sport;
	uint8_t daddr[16];
	uint16_t dport;
};

/*
 * Rewrite addresses and ports of a parsed packet in place, updating the
 * IPv4 header checksum and the L4 checksum (pseudo-header included for TCP,
 * UDP and ICMPv6). Rules:
 *  - an IPv4 packet takes only IPv4-mapped addresses (-PKT_ERR_FAMILY);
 *  - UDP over IPv4 with checksum 0 keeps 0;
 *  - a later fragment has no L4 header: only the IP header changes and the
 *    ports are ignored (the first fragment carried them);
 *  - ICMP echo: PKT_NAT_SPORT sets the identifier, PKT_NAT_DPORT is ignored;
 *    other ICMP and other protocols ignore the ports;
 *  - with PKT_F_CSUM_PARTIAL the L4 field gets the pseudo-header change
 *    only, uncomplemented; port changes leave it alone.
 * Neither the view's offsets nor its flags change. The caller must own buf.
 */
int pkt_rewrite(uint8_t *buf, const struct pkt_view *v, const struct pkt_nat *nat);

/*
 * Decrement the IPv4 TTL (header checksum updated) or IPv6 hop limit.
 * -PKT_ERR_TTL_EXPIRED, packet untouched, when it is <= 1: the caller drops
 * it and may send time-exceeded. Updates v->ttl.
 */
int pkt_ttl_dec(uint8_t *buf, struct pkt_view *v);

/*
 * Sequence-number adjust, host order; deltas are added modulo 2^32 (a
 * negative delta is its two's complement) and a delta of 0 leaves that
 * number alone. Member order, types and meaning are those of struct
 * msg_seq_adjust, the decoded action-seq-adjust segment (common/msg.h;
 * pinned by tests/unit/pkt/test_pkt_api.c), so a decoded action applies as
 * it is.
 */
struct pkt_seq_adj {
	uint32_t seq_delta;
	uint32_t seq_init; /* lowest sequence number adjusted (serial order) */
	uint32_t ack_delta;
	uint32_t ack_init; /* lowest acknowledgement number adjusted */
};

/*
 * Add seq_delta to the TCP sequence number when it is at or after seq_init
 * in serial-number arithmetic (RFC 1982: (int32_t)(seq - init) >= 0), and
 * likewise ack_delta to the acknowledgement number (only when ACK is set).
 * The TCP checksum is updated incrementally (left alone when partial).
 * -PKT_ERR_NOT_TCP without a TCP header. Updates v->tcp_seq / v->tcp_ack.
 * SACK blocks are not adjusted.
 */
int pkt_tcp_seq_adjust(uint8_t *buf, struct pkt_view *v, const struct pkt_seq_adj *adj);

/* --- ICMP errors ----------------------------------------------------------- */

enum {
	PKT_Q_L4         = 1u << 0, /* first 8 bytes of the quoted L4 header present */
	PKT_Q_FRAG_LATER = 1u << 1, /* the quoted packet is a later fragment */
	PKT_Q_L4_CSUM    = 1u << 2, /* quoted L4 checksum field is inside the quote */
};

/* The packet quoted by an ICMP error; offsets from the start of buf. */
struct pkt_quote {
	uint16_t l3_off;     /* quoted IP header */
	uint16_t l3_hdr_len;
	uint16_t l4_off;     /* quoted transport header */
	uint32_t end;        /* end of the quote (end of the ICMP message) */
	uint8_t family;      /* same as the outer packet's */
	uint8_t proto;
	uint8_t flags;       /* PKT_Q_* */
	uint8_t icmp_type;   /* quoted ICMP(v6) type, when proto is ICMP(v6) */
};

/*
 * Locate and validate the packet quoted by an ICMP error (IPv4: dest
 * unreachable incl. frag needed, time exceeded, parameter problem; ICMPv6:
 * dest unreachable, packet too big, time exceeded, parameter problem) and
 * build its flow key (the key of a packet that went the other way). The
 * quote may be truncated: the IP header (with IPv6 extensions) must be
 * whole (-PKT_ERR_QUOTE_TRUNC), and for TCP/UDP/ICMP the first 8 bytes of
 * the transport header too, unless the quote is a later fragment.
 * k may be NULL.
 */
int pkt_icmp_quote(const struct pkt_view *v, const uint8_t *buf, struct pkt_quote *q,
		   struct flow_key *k);

/*
 * Rewrite the quoted packet's fields (nat names the quoted packet's own
 * saddr/daddr/sport/dport) updating the quoted IPv4 header checksum, the
 * quoted L4 checksum when its field is in the quote (UDP: always in the
 * first 8 bytes, 0 stays 0 over IPv4; TCP: only if the quote holds 18 bytes
 * of it; ICMP echo: the identifier and checksum) and the outer ICMP checksum,
 * which covers the whole message. The outer addresses are pkt_rewrite()'s.
 */
int pkt_icmp_quote_rewrite(uint8_t *buf, const struct pkt_view *v, const struct pkt_quote *q,
			   const struct pkt_nat *nat);

/* --- ICMP errors this host sends (pkt_icmp.c) ------------------------------- */

/* The longest error a router sends: RFC 1812 4.3.2.3 (IPv4), RFC 4443 2.4(c). */
#define PKT_ICMP4_ERR_MAX 576u
#define PKT_ICMP6_ERR_MAX 1280u

struct pkt_icmp_err {
	uint8_t type, code;    /* ICMPv4 for an IPv4 packet, ICMPv6 for IPv6 */
	uint8_t ttl;           /* of the error: 64 like the kernel's */
	uint32_t info;         /* host order, the word after the checksum: the
				* next-hop MTU of frag-needed (low 16 bits) and
				* packet-too-big, else 0 */
	uint8_t src[16];       /* the error's source (IPv4 mapped for IPv4) */
};

/*
 * May an ICMP error of this type be sent about this packet (RFC 1812
 * 4.3.2.7, RFC 4443 2.4(e))? Not about an ICMP error (nor an unknown ICMPv4
 * type, which the kernel treats as one), a later fragment, a packet to a
 * multicast or broadcast address (IPv4 224/4 and above, IPv6 ff00::/8, or
 * a link-layer group address when v was parsed from Ethernet; IPv6
 * packet-too-big excepted, RFC 4443 2.4(e.3)), nor one from an address that
 * does not name a single host (IPv4 0/8, 127/8, 224/4 and above; IPv6 ::,
 * ::1, ff00::/8). buf is the buffer v was parsed from.
 */
bool pkt_icmp_error_allowed(const uint8_t *buf, const struct pkt_view *v, uint8_t type);

/*
 * Build the IP packet of an ICMP error about the packet v describes, at out
 * (IP header first, no link layer): to the packet's source, from e->src,
 * quoting as much of the packet (from its IP header, padding excluded) as
 * fits in PKT_ICMP4_ERR_MAX / PKT_ICMP6_ERR_MAX, every checksum computed
 * (ICMPv6 over its pseudo-header). IPv4: TOS 0xc0 (internetwork control,
 * as the kernel sends), no DF, id 0. out may overlap buf in any way (the
 * quote is moved first, with memmove), so an error can be built in the
 * received frame's own buffer. Returns the packet's length, -PKT_ERR_NOT_IP
 * for a view that is not IP, -PKT_ERR_FAMILY when e->src is not of the
 * packet's family, -PKT_ERR_TOO_LONG when room is too small for the
 * headers and the quote. Whether an error is allowed at all is
 * pkt_icmp_error_allowed()'s to say.
 */
int pkt_icmp_error(uint8_t *out, uint32_t room, const uint8_t *buf, const struct pkt_view *v,
		   const struct pkt_icmp_err *e);

#endif
