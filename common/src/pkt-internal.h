/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Private to pkt_*.c: the few facts about protocols that the parser, the
 * rewriter and the checksum code must agree on, stated once.
 */
#ifndef LOOM_COMMON_PKT_INTERNAL_H
#define LOOM_COMMON_PKT_INTERNAL_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/pkt.h"

/*
 * Where the L4 checksum field is, from the transport header, and whether the
 * checksum covers a pseudo-header. False for a protocol without one we
 * handle, including ICMP over IPv6 and ICMPv6 over IPv4 (a packet that says
 * so is not what it claims, and its "checksum" is left alone).
 */
static inline bool pkt_l4_csum_field(unsigned family, uint8_t proto, uint32_t *off,
				     bool *pseudo)
{
	switch (proto) {
	case IPPROTO_TCP:
		*off = 16;
		*pseudo = true;
		return true;
	case IPPROTO_UDP:
		*off = 6;
		*pseudo = true;
		return true;
	case IPPROTO_ICMP:
		*off = 2;
		*pseudo = false;
		return family == PKT_IPV4;
	case IPPROTO_ICMPV6:
		*off = 2;
		*pseudo = true;
		return family == PKT_IPV6;
	default:
		return false;
	}
}

/* ICMP echo request or reply: the identifier at +4 stands in for a port. */
static inline bool pkt_icmp_is_echo(unsigned family, uint8_t type)
{
	return family == PKT_IPV4 ? (type == 8 || type == 0) : (type == 128 || type == 129);
}

/*
 * The fixed IPv6 header at ip, with avail bytes readable: 0 when it is whole
 * and says version 6, else the caller's reason (a packet and an ICMP quote
 * name the same faults differently).
 */
static inline int pkt_ipv6_hdr_check(const uint8_t *ip, uint32_t avail, int trunc, int version)
{
	if (avail < 40)
		return trunc;
	if (ip[0] >> 4 != 6)
		return version;
	return 0;
}

#endif
