// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The forwarding agent's pipeline on hostile packets: a service with a
 * wildcard (punting SYNs), fixed affinities that translate both directions
 * (NAT of address and port, sequence adjust, interest criteria), a dispatch
 * with the information flag and an advertised address, then bursts made of
 * the input's bytes run through parse, fragments, ICMP-quote translation,
 * lookup, actions and routing. Nothing may crash or touch memory outside a
 * packet's buffer; whatever comes out must still parse.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/msg.h"
#include "common/pkt.h"
#include "fwd_aff.h"
#include "fwd_dp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct fwd_aff *aff;
static struct fwd_dp dp;
static struct fwd_worker wk;
static char inst[32];

static void v4(uint8_t a[16], uint32_t host)
{
	key_addr_from_v4(a, htonl(host));
}

static void cleanup(void)
{
	fwd_worker_fini(&wk);
	fwd_aff_close(aff);
	fwd_aff_unlink(inst);
}

static void setup(void)
{
	struct msg m;
	struct msg_action_list deny;
	struct fwd_aff_cfg ac = { .capacity = 256, .lanes = 1, .rcu_slots = 8,
				  .caps = ~UINT64_C(0) };

	snprintf(inst, sizeof(inst), "fzf%d", (int)getpid());
	ac.instance = inst;
	if (fwd_aff_open(&ac, &aff, NULL) < 0)
		abort();
	atexit(cleanup);

	/* wildcard: any client to 10.9.0.0/24, interest in SYN, advertised */
	msg_init(&m, MSG_T_UPDATE_WILDCARD);
	struct msg_wildcard *w = &msg_add(&m, MSG_S_WILDCARD, true)->u.wildcard;
	key_init(&w->key);
	v4(w->key.daddr, 0x0a090000);
	memset(w->dmask, 0xff, 15);
	v4(w->key.saddr, 0);
	memset(w->smask, 0xff, 12);
	w->ttl = 86400;
	struct msg_interest *in = &msg_add(&m, MSG_S_ACT_INTEREST, true)->u.interest;
	in->mask = MSG_INT_SYN | MSG_INT_FRAGMENT;
	in->data = MSG_INT_SYN;
	in->hold = MSG_INT_SYN;
	struct msg_advertise *ad = &msg_add(&m, MSG_S_ACT_ADVERTISE, true)->u.advertise;
	v4(ad->addr, 0x0a090005);
	fwd_aff_apply(aff, 0, &m, 0, &deny);
	/* and the reply direction from the servers */
	msg_init(&m, MSG_T_UPDATE_WILDCARD);
	w = &msg_add(&m, MSG_S_WILDCARD, true)->u.wildcard;
	key_init(&w->key);
	v4(w->key.saddr, 0x0a020000);
	memset(w->smask, 0xff, 15);
	v4(w->key.daddr, 0);
	memset(w->dmask, 0xff, 12);
	w->ttl = 86400;
	fwd_aff_apply(aff, 0, &m, 0, &deny);

	/* fixed affinities for a handful of flows from 10.1.0.1-4, both ways */
	for (uint32_t i = 1; i <= 4; i++) {
		for (int dir = 0; dir < 2; dir++) {
			msg_init(&m, MSG_T_UPDATE_FIXED);
			struct msg_fixed *f = &msg_add(&m, MSG_S_FIXED, true)->u.fixed;
			key_init(&f->key);
			f->key.proto = i == 4 ? 17 : 6;
			f->ttl = 86400;
			struct msg_nat *n = &msg_add(&m, MSG_S_ACT_NAT, true)->u.nat;
			if (dir == 0) {
				v4(f->key.saddr, 0x0a010000 + i);
				v4(f->key.daddr, 0x0a090005);
				f->key.sport = htons((uint16_t)(1000 + i));
				f->key.dport = htons(80);
				n->present = MSG_NAT_DADDR | MSG_NAT_DPORT;
				v4(n->daddr, 0x0a02000b);
				n->dport = htons(8080);
			} else {
				v4(f->key.saddr, 0x0a02000b);
				v4(f->key.daddr, 0x0a010000 + i);
				f->key.sport = htons(8080);
				f->key.dport = htons((uint16_t)(1000 + i));
				n->present = MSG_NAT_SADDR | MSG_NAT_SPORT;
				v4(n->saddr, 0x0a090005);
				n->sport = htons(80);
			}
			if (i == 2) {
				struct msg_seq_adjust *sa =
					&msg_add(&m, MSG_S_ACT_SEQ_ADJUST, true)->u.seq_adjust;
				sa->seq_delta = 1000;
				sa->ack_delta = (uint32_t)-1000;
			}
			if (i == 3) {
				struct msg_interest *fi =
					&msg_add(&m, MSG_S_ACT_INTEREST, true)->u.interest;
				fi->mask = MSG_INT_FIN | MSG_INT_RST;
				fi->data = MSG_INT_FIN;
				fi->copy = MSG_INT_RST;
				f->dispatch = true;
				f->info = true;
				v4(f->forward, 0x0a02000c);
			}
			fwd_aff_apply(aff, 0, &m, 0, &deny);
		}
	}
	fwd_aff_publish(aff, 0);

	struct pktio_cfg pc;
	pktio_cfg_init(&pc, "pcap");
	pc.n_ports = 2;
	pc.ports[1].pcap_out = "/dev/null";
	if (pktio_open(&pc, &dp.io) < 0)
		abort();
	dp.fixed = fwd_aff_table(aff);
	dp.snap = fwd_aff_snap(aff);
	dp.fwdstats = fwd_aff_fwdstats(aff);
	dp.nports = 2;
	dp.nroutes = 2;
	v4(dp.routes[0].addr, 0x0a020000);
	memset(dp.routes[0].mask, 0xff, 15);
	dp.routes[0].len = 120;
	dp.routes[0].port = 1;
	v4(dp.routes[1].addr, 0x0a010000);
	memset(dp.routes[1].mask, 0xff, 15);
	dp.routes[1].len = 120;
	dp.routes[1].port = 0;
	if (fwd_worker_init(&wk, &dp, 0) < 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t frames[8][2048];
	struct pktio_pkt pkts[8], out[2 * FWD_BURST];
	unsigned n = 0;

	if (!aff)
		setup();
	/* the input is up to 8 frames, each prefixed by a 2-byte length */
	while (size >= 2 && n < 8) {
		size_t len = (size_t)data[0] | (size_t)data[1] << 8;
		data += 2;
		size -= 2;
		if (len > size)
			len = size;
		if (len > sizeof(frames[n]))
			len = sizeof(frames[n]);
		memcpy(frames[n], data, len);
		pkts[n] = (struct pktio_pkt){ .data = frames[n], .len = (uint32_t)len,
					      .room = sizeof(frames[n]), .port = (uint16_t)(n & 1) };
		data += len;
		size -= len;
		n++;
	}
	unsigned nout = fwd_worker_process(&wk, pkts, n, out);
	for (unsigned i = 0; i < nout; i++) {
		struct pkt_view v;
		if (out[i].len < 14 || out[i].len > out[i].room)
			__builtin_trap();
		/* what goes out was parsed on the way in: it must parse again */
		if (out[i].len > 42 && pkt_parse(out[i].data, out[i].len, &v) < 0 &&
		    out[i].data != wk.reply)
			__builtin_trap();
	}
	/* drain what the pipeline queued for managers, as the control thread would */
	struct fwd_slot *s;
	while ((s = fwd_ring_consume_begin(&wk.punts)) != NULL)
		fwd_ring_consume_end(&wk.punts);
	return 0;
}
