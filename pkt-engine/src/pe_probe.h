/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Device probes: does a device still forward? (docs/pkt-engine.md,
 * "Device probes and alternates").
 *
 * A probe is real traffic through the device, the way a service packet
 * goes: a small UDP datagram sent from the engine's interface facing the
 * device's client-side arm, to that arm's MAC, addressed from the engine's
 * address there to the engine's address on the interface facing the
 * device's other arm. A device that routes (a firewall, a VPN box) hands it
 * back on its other arm, where the engine sees it arrive from the arm's
 * MAC. The engine's kernel drops the datagram (its source is one of its own
 * addresses), so probes cause no replies; a firewall must admit them (UDP,
 * port PE_PROBE_PORT both ways).
 *
 * Health is judged with hysteresis: `fail` probes in a row unanswered mark a
 * device down, `recover` answered in a row mark it up again, so a flapping
 * link does not flip the services every interval.
 *
 * The frame format and the health state machine are pure (unit tests, fuzz);
 * the sockets and timers live in struct pe_prober (control thread only).
 */
#ifndef LOOM_PE_PROBE_H
#define LOOM_PE_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PE_PROBE_PORT   47999u /* UDP source and destination port of probes */
#define PE_PROBE_MAGIC  0x4c4f4f4d50524231ULL /* "LOOMPRB1" */
/* Ethernet 14 + IPv4 20 + UDP 8 + magic 8 + token 8 + device 4 + seq 4 */
#define PE_PROBE_LEN    66u

/* What one probe names: which engine run sent it, for which device, which round. */
struct pe_probe_id {
	uint64_t token;   /* random per engine run: another engine's probes are not ours */
	uint32_t device;  /* the definitions' device index */
	uint32_t seq;     /* the round */
};

/*
 * Write a probe frame into buf (at least PE_PROBE_LEN bytes): from src_mac
 * and saddr (IPv4, network order) to dst_mac and daddr. Returns its length.
 */
size_t pe_probe_frame(uint8_t *buf, const uint8_t dst_mac[6], const uint8_t src_mac[6],
		      uint32_t saddr, uint32_t daddr, const struct pe_probe_id *id);

/*
 * The Ethernet and IPv4 headers of a frame the engine sends itself (probes,
 * trials): from src_mac and saddr to dst_mac and daddr (network order), a
 * 20-byte header with DF and TTL 64, its checksum computed, for l4_len
 * bytes of protocol proto. Returns where the L4 header starts (34).
 */
#define PE_IPV4_HEAD_LEN 34u
size_t pe_ipv4_head(uint8_t *buf, const uint8_t dst_mac[6], const uint8_t src_mac[6],
		    uint8_t proto, uint16_t l4_len, uint32_t saddr, uint32_t daddr);

/*
 * Is the frame of len bytes (hostile: any content) a well-formed probe? On
 * true, *id and src_mac (6 bytes: who handed it back) are filled.
 */
bool pe_probe_parse(const uint8_t *frame, size_t len, struct pe_probe_id *id,
		    uint8_t src_mac[6]);

/*
 * A gratuitous ARP for a takeover (pe_ha.h): a broadcast request for addr
 * from addr at mac, so every neighbour's cache moves to mac. addr in network
 * order; buf holds at least PE_GARP_LEN bytes. Returns its length.
 */
#define PE_GARP_LEN 42u
size_t pe_garp_frame(uint8_t *buf, const uint8_t mac[6], uint32_t addr);

/* ---- health, with hysteresis ---------------------------------------------- */

enum pe_health_state { PE_HEALTH_UP = 0, PE_HEALTH_DOWN = 1 };

struct pe_health {
	uint8_t state;        /* enum pe_health_state */
	bool outstanding;     /* a probe of round seq is unanswered */
	uint32_t seq;         /* the round last sent */
	uint32_t ok_run;      /* answered in a row */
	uint32_t miss_run;    /* unanswered in a row */
	uint64_t sent_ns;     /* when round seq went out (CLOCK_MONOTONIC) */
	uint64_t rtt_ns;      /* round trip of the last answer */
	uint64_t sent, answered, changes;
	uint64_t last_ok_ms;  /* CLOCK_REALTIME of the last answer, 0: never */
};

/*
 * A new round is due at now_ns. The round before, if unanswered, counts as
 * a miss first. Returns true when this marked the device down (miss_run
 * reached fail). Returns the round number to send in *seq.
 */
bool pe_health_round(struct pe_health *h, uint64_t now_ns, unsigned fail, uint32_t *seq);

/*
 * An answer to round seq arrived at now_ns. Late or repeated answers (not
 * the outstanding round) are ignored. Returns true when this marked the
 * device up again (ok_run reached recover).
 */
bool pe_health_answer(struct pe_health *h, uint32_t seq, uint64_t now_ns, uint64_t now_ms,
		      unsigned recover);

#endif
