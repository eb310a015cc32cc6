// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Probe frames and device health (see pe_probe.h).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "common/pkt_csum.h"
#include "pe_probe.h"

#define ETH_LEN 14u
#define IP_LEN  20u
#define UDP_LEN 8u
#define PAYLOAD_OFF (ETH_LEN + IP_LEN + UDP_LEN)

static void put32(uint8_t *p, uint32_t v)
{
	v = htonl(v);
	memcpy(p, &v, 4);
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return ntohl(v);
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)(v >> 32));
	put32(p + 4, (uint32_t)v);
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) << 32 | get32(p + 4);
}

size_t pe_ipv4_head(uint8_t *buf, const uint8_t dst_mac[6], const uint8_t src_mac[6],
		    uint8_t proto, uint16_t l4_len, uint32_t saddr, uint32_t daddr)
{
	uint8_t *ip = buf + ETH_LEN;

	memset(buf, 0, ETH_LEN + IP_LEN);
	memcpy(buf, dst_mac, 6);
	memcpy(buf + 6, src_mac, 6);
	pkt_store16(buf + 12, htons(0x0800));
	ip[0] = 0x45;
	pkt_store16(ip + 2, htons((uint16_t)(IP_LEN + l4_len)));
	ip[6] = 0x40; /* DF: never fragmented, as the kernel's own SYNs */
	ip[8] = 64;
	ip[9] = proto;
	memcpy(ip + 12, &saddr, 4);
	memcpy(ip + 16, &daddr, 4);
	pkt_store16(ip + 10, (uint16_t)~pkt_csum_fold(pkt_csum_add(0, ip, IP_LEN)));
	return ETH_LEN + IP_LEN;
}

size_t pe_probe_frame(uint8_t *buf, const uint8_t dst_mac[6], const uint8_t src_mac[6],
		      uint32_t saddr, uint32_t daddr, const struct pe_probe_id *id)
{
	uint8_t *udp = buf + ETH_LEN + IP_LEN, *pl = buf + PAYLOAD_OFF;

	memset(buf, 0, PE_PROBE_LEN);
	pe_ipv4_head(buf, dst_mac, src_mac, IPPROTO_UDP, PE_PROBE_LEN - ETH_LEN - IP_LEN, saddr,
		     daddr);
	pkt_store16(udp, htons(PE_PROBE_PORT));
	pkt_store16(udp + 2, htons(PE_PROBE_PORT));
	pkt_store16(udp + 4, htons(PE_PROBE_LEN - ETH_LEN - IP_LEN));
	/* UDP checksum 0: none (IPv4 allows it); the magic and token do the checking */
	put64(pl, PE_PROBE_MAGIC);
	put64(pl + 8, id->token);
	put32(pl + 16, id->device);
	put32(pl + 20, id->seq);
	return PE_PROBE_LEN;
}

bool pe_probe_parse(const uint8_t *frame, size_t len, struct pe_probe_id *id,
		    uint8_t src_mac[6])
{
	const uint8_t *ip = frame + ETH_LEN;

	if (len < PE_PROBE_LEN || ntohs(pkt_load16(frame + 12)) != 0x0800)
		return false;
	/* a router may not add options to what it forwards: the header is 20 bytes */
	if (ip[0] != 0x45 || ip[9] != IPPROTO_UDP || (ntohs(pkt_load16(ip + 6)) & 0x3fff))
		return false;
	if (ntohs(pkt_load16(ip + 2)) < PE_PROBE_LEN - ETH_LEN)
		return false;
	const uint8_t *udp = ip + IP_LEN, *pl = frame + PAYLOAD_OFF;
	if (ntohs(pkt_load16(udp)) != PE_PROBE_PORT ||
	    ntohs(pkt_load16(udp + 2)) != PE_PROBE_PORT || get64(pl) != PE_PROBE_MAGIC)
		return false;
	id->token = get64(pl + 8);
	id->device = get32(pl + 16);
	id->seq = get32(pl + 20);
	memcpy(src_mac, frame + 6, 6);
	return true;
}

size_t pe_garp_frame(uint8_t *buf, const uint8_t mac[6], uint32_t addr)
{
	static const uint8_t arp_req[8] = { 0, 1, 8, 0, 6, 4, 0, 1 }; /* Ethernet, IPv4, request */
	uint8_t *arp = buf + ETH_LEN;

	memset(buf, 0xff, 6);
	memcpy(buf + 6, mac, 6);
	pkt_store16(buf + 12, htons(0x0806));
	memcpy(arp, arp_req, 8);
	memcpy(arp + 8, mac, 6);
	memcpy(arp + 14, &addr, 4);
	memset(arp + 18, 0, 6);
	memcpy(arp + 24, &addr, 4);
	return PE_GARP_LEN;
}

bool pe_health_round(struct pe_health *h, uint64_t now_ns, unsigned fail, uint32_t *seq)
{
	bool changed = false;

	if (h->outstanding) {
		h->ok_run = 0;
		h->miss_run++;
		if (h->state == PE_HEALTH_UP && h->miss_run >= fail) {
			h->state = PE_HEALTH_DOWN;
			h->changes++;
			changed = true;
		}
	}
	h->seq++;
	h->outstanding = true;
	h->sent_ns = now_ns;
	h->sent++;
	*seq = h->seq;
	return changed;
}

bool pe_health_answer(struct pe_health *h, uint32_t seq, uint64_t now_ns, uint64_t now_ms,
		      unsigned recover)
{
	if (!h->outstanding || seq != h->seq)
		return false;
	h->outstanding = false;
	h->answered++;
	h->rtt_ns = now_ns - h->sent_ns;
	h->last_ok_ms = now_ms;
	h->miss_run = 0;
	h->ok_run++;
	if (h->state == PE_HEALTH_DOWN && h->ok_run >= recover) {
		h->state = PE_HEALTH_UP;
		h->changes++;
		return true;
	}
	return false;
}
