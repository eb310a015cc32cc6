/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Trials: validation of a service by a TCP handshake through every device
 * of its chain (FEATURES.md C10; docs/pkt-engine.md, "Trials").
 *
 * The engine plays the client: a SYN from its own address on the service's
 * client interface is steered as if it had arrived there, the workers
 * record every step the flow takes (struct pe_trial_slot in pe_dp.h) and
 * take the SYN-ACK at the step that would hand it to the client side's
 * router. This file holds the pure parts: the frames, reading the slot,
 * the report. The sockets and timers are the daemon's (pe_trialctl.c).
 */
#ifndef LOOM_PE_TRIAL_H
#define LOOM_PE_TRIAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pe_config.h"
#include "pe_dp.h"

#define PE_TRIAL_MSS     1460u
/* Ethernet 14 + IPv4 20 + TCP 20 + the MSS option 4 */
#define PE_TRIAL_LEN     58u
#define PE_TRIAL_PORT_LO 32768u /* the client port: Linux's default ephemeral range */
#define PE_TRIAL_PORT_HI 60999u

/* One TCP segment of the trial: a SYN (with the MSS option) or a RST. */
struct pe_trial_seg {
	uint8_t dst_mac[6], src_mac[6];
	uint32_t saddr, daddr;  /* IPv4, network order */
	uint16_t sport, dport;  /* host order */
	uint32_t seq;           /* host order */
	bool rst;               /* RST (no option), else SYN */
};

/*
 * Write the segment into buf (at least PE_TRIAL_LEN bytes) with valid IPv4
 * and TCP checksums. Returns its length.
 */
size_t pe_trial_frame(uint8_t *buf, const struct pe_trial_seg *s);

/* A recorded step, read back from the slot. */
struct pe_trial_step {
	uint64_t ns;
	uint32_t device;
	uint8_t dir;
	bool route;
	uint8_t tcp_flags;
	uint8_t mac[6];
};

/*
 * Control thread: the slot's events written so far (at most max, in the
 * order the workers claimed them; a claimed one not yet written ends the
 * list). Returns how many.
 */
unsigned pe_trial_read(const struct pe_trial_slot *t, struct pe_trial_step *out, unsigned max);

/* The chain in effect: names and snapshot device indices, in chain order. */
struct pe_trial_chain {
	char name[PE_MAX_CHAIN][PE_NAME_LEN];
	uint32_t device[PE_MAX_CHAIN];
	unsigned n;
};

/* What a report says besides the steps. */
struct pe_trial_info {
	const char *service;
	uint8_t addr[16];        /* the service address (zero: unknown) */
	uint16_t port;           /* 0: unknown */
	uint32_t client;         /* IPv4, network order (0: unknown) */
	uint16_t client_port;
	bool ok;
	const char *reason;      /* when not ok */
	int64_t rtt_us;          /* < 0: none */
	uint64_t start_ns;       /* the first SYN's injection */
};

/*
 * The report (docs/pkt-engine.md, "Trials"): info, the hops the steps
 * took (a step repeated by a resent SYN is listed once) and each chain
 * device's verdict. A new reference, or NULL (no memory).
 */
json_t *pe_trial_report(const struct pe_trial_info *info, const struct pe_trial_chain *chain,
			const struct pe_trial_step *steps, unsigned n);

/*
 * Why a trial without an answer failed, from how far its steps got:
 * "no answer within T ms: the SYN went to web1 and nothing came back from it".
 */
void pe_trial_why_silent(const struct pe_trial_chain *chain, const struct pe_trial_step *steps,
			 unsigned n, unsigned timeout_ms, char *buf, size_t len);

#endif
