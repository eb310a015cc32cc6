// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The engine's per-packet pipeline (see pe_dp.h for the order of checks).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/key.h"
#include "common/pkt.h"
#include "common/pkt_csum.h"
#include "pe_dp.h"

static const char *const ctr_str[] = { PE_CTR_LIST(LOOM_XSTR) };

const char *pe_ctr_str(unsigned c)
{
	return c < PE_C__COUNT ? ctr_str[c] : "?";
}

/* One writer per counter: a relaxed load and store, no locked add. */
static inline void bump(_Atomic uint64_t *c, uint64_t by)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + by,
			      memory_order_relaxed);
}

static inline void count(struct pe_worker *w, enum pe_ctr c)
{
	bump(&w->lane->ctr[c], 1);
}

uint64_t pe_worker_ctr(const struct pe_worker *w, unsigned c)
{
	return c < PE_C__COUNT ? atomic_load_explicit(&w->lane->ctr[c], memory_order_relaxed) : 0;
}

static void add_to(struct seq_counter *c, uint32_t len)
{
	bump(&c->packets, 1);
	bump(&c->bytes, len);
}

static void account(struct pe_worker *w, const struct seq_entry *e, uint32_t len)
{
	if (e->stat < PE_MAX_STATS)
		add_to(&w->lane->slot[e->stat], len);
	if (e->device < PE_MAX_DEVICES)
		add_to(&w->lane->device[e->device], len);
}

/* Set the DSCP, keeping ECN; the IPv4 header checksum follows. */
static void set_dscp(uint8_t *buf, const struct pkt_view *v, uint8_t dscp)
{
	uint8_t *ip = buf + v->l3_off;

	if (v->family == PKT_IPV4) {
		uint8_t old[2] = { ip[0], ip[1] };
		ip[1] = (uint8_t)(dscp << 2 | (ip[1] & 3));
		pkt_csum_apply(ip + 10, pkt_csum_diff(0, old, ip, 2));
	} else {
		uint8_t tc = (uint8_t)((ip[0] & 0x0f) << 4 | ip[1] >> 4);
		tc = (uint8_t)(dscp << 2 | (tc & 3));
		ip[0] = (uint8_t)((ip[0] & 0xf0) | tc >> 4);
		ip[1] = (uint8_t)((tc & 0x0f) << 4 | (ip[1] & 0x0f));
	}
}

/* Copies of the packet as it arrived, each to its receiver's MAC. */
static void emit_copies(struct pe_worker *w, const struct seq_view *v, const struct seq_entry *e,
			const struct pktio_pkt *p, struct pktio_pkt *out, unsigned *nout)
{
	uint32_t n = e->copy_n;

	for (uint32_t i = 0; i < n; i++) {
		const struct seq_copy *c = &v->copies[e->copy_first + i];

		/* a hostile table may list more copies than a burst has slots for */
		if (i >= PE_MAX_COPIES || p->len > w->dp->copy_room - w->copy_used ||
		    c->egress >= w->dp->nports) {
			count(w, PE_C_COPY_SHED);
			continue;
		}
		uint8_t *buf = w->copy_buf + w->copy_used;
		/* 8-byte steps keep each copy aligned like a ring frame */
		w->copy_used += (p->len + 7u) & ~7u;
		if (w->copy_used > w->dp->copy_room)
			w->copy_used = w->dp->copy_room;
		memcpy(buf, p->data, p->len);
		memcpy(buf, c->dst_mac, 6);
		memcpy(buf + 6, w->dp->port_mac[c->egress], 6);
		out[*nout] = *p;
		out[*nout].data = buf;
		out[*nout].port = c->egress;
		out[*nout].room = p->len;
		(*nout)++;
		if (c->device < PE_MAX_DEVICES)
			add_to(&w->lane->device[c->device], p->len);
		count(w, PE_C_COPIES);
	}
}

/* The rewrite a step asks for, applied in place. */
static int rewrite(const struct seq_entry *e, uint8_t *buf, const struct pkt_view *pv,
		   const struct flow_key *k)
{
	struct pkt_nat nat = { 0 };

	if (e->flags & SEQ_F_NAT) {
		if (e->dir == SEQ_DIR_FWD) {
			nat.present |= PKT_NAT_DADDR;
			memcpy(nat.daddr, e->addr2, 16);
		} else {
			nat.present |= PKT_NAT_SADDR;
			memcpy(nat.saddr, e->addr2, 16);
		}
	}
	if (e->flags & SEQ_F_XLAT) {
		if (e->dir == SEQ_DIR_FWD && ntohs(k->dport) == e->xlat_from) {
			nat.present |= PKT_NAT_DPORT;
			nat.dport = htons(e->xlat_to);
		} else if (e->dir == SEQ_DIR_REPLY && ntohs(k->sport) == e->xlat_from) {
			nat.present |= PKT_NAT_SPORT;
			nat.sport = htons(e->xlat_to);
		}
	}
	if (nat.present) {
		int r = pkt_rewrite(buf, pv, &nat);
		if (r < 0)
			return r;
	}
	if (e->flags & SEQ_F_DSCP)
		set_dscp(buf, pv, e->dscp);
	return 0;
}

/* One packet: its step, or a counted drop (NULL). */
static const struct seq_entry *classify(struct pe_worker *w, const struct seq_view *v,
					const struct pktio_pkt *p, struct pkt_view *pv,
					struct flow_key *k)
{
	const struct seq_entry *e;
	enum seq_miss miss = SEQ_MISS_NONE, miss2 = SEQ_MISS_NONE;
	int r;

	if (p->flags & PKTIO_F_RAW_IP) {
		count(w, PE_C_NOT_IP); /* no link layer to steer by */
		return NULL;
	}
	r = pktio_pkt_parse(p, pv);
	if (r < 0) {
		count(w, PE_C_MALFORMED);
		return NULL;
	}
	if (pv->family == PKT_NOT_IP) {
		count(w, PE_C_NOT_IP);
		return NULL;
	}
	if (pv->flags & PKT_F_FRAG_LATER) {
		count(w, PE_C_FRAGMENT);
		return NULL;
	}
	if (!v) {
		count(w, PE_C_NO_TABLE);
		return NULL;
	}
	if (pkt_key(pv, p->data, k) < 0) {
		count(w, PE_C_MALFORMED);
		return NULL;
	}
	const uint8_t *smac = p->data + 6;
	e = seq_lookup(v, p->port, SEQ_DIR_FWD, k->daddr, k->proto, ntohs(k->dport), smac, &miss);
	if (!e)
		e = seq_lookup(v, p->port, SEQ_DIR_REPLY, k->saddr, k->proto, ntohs(k->sport), smac,
			       &miss2);
	if (!e) {
		count(w, miss == SEQ_MISS_SRC_MAC || miss2 == SEQ_MISS_SRC_MAC ? PE_C_SRC_MAC
										: PE_C_NO_SERVICE);
		return NULL;
	}
	if (e->dir == SEQ_DIR_FWD && e->device < v->n_devices &&
	    v->devices[e->device].state != SEQ_DEV_UP) {
		count(w, PE_C_DEVICE_DOWN);
		return NULL;
	}
	if (!seq_acl_permit(v, e->acl, k->saddr, k->proto, ntohs(k->dport))) {
		count(w, PE_C_ACL_DENY);
		return NULL;
	}
	if (e->egress >= w->dp->nports) {
		count(w, PE_C_NO_SERVICE); /* the table names a port this engine lacks */
		return NULL;
	}
	return e;
}

/*
 * A packet of the running trial's flow: record its step. The reply that
 * reached the step to the client side's router is the trial's answer: the
 * client is the engine itself, so it is taken (true), not sent.
 */
static bool trace(struct pe_worker *w, const struct seq_entry *e, const struct pkt_view *pv,
		  const struct flow_key *k, const uint8_t *smac)
{
	struct pe_trial_slot *t = &w->dp->trial;
	bool fwd = e->dir == SEQ_DIR_FWD;
	const uint8_t *a = fwd ? k->saddr : k->daddr;
	uint16_t port = fwd ? k->sport : k->dport;
	uint32_t addr = atomic_load_explicit(&t->addr, memory_order_relaxed);
	uint64_t mac = 0, now;

	if (k->proto != IPPROTO_TCP || !key_addr_is_v4(a) || memcmp(a + 12, &addr, 4) ||
	    port != atomic_load_explicit(&t->port, memory_order_relaxed))
		return false;
	now = pe_mono_ns();
	for (unsigned b = 0; b < 6; b++)
		mac |= (uint64_t)smac[b] << (8 * b);
	bool end = !fwd && e->mode == SEQ_MODE_ROUTE;
	uint32_t slot = atomic_fetch_add_explicit(&t->n, 1, memory_order_relaxed);
	if (slot < PE_TRIAL_EVENTS) {
		struct pe_trial_event *ev = &t->ev[slot];
		atomic_store_explicit(&ev->device, e->device, memory_order_relaxed);
		atomic_store_explicit(&ev->dir, e->dir, memory_order_relaxed);
		atomic_store_explicit(&ev->route, end, memory_order_relaxed);
		atomic_store_explicit(&ev->tcp_flags, pv->tcp_flags, memory_order_relaxed);
		atomic_store_explicit(&ev->mac, mac, memory_order_relaxed);
		atomic_store_explicit(&ev->ns, now, memory_order_release);
	}
	if (!end)
		return false;
	atomic_store_explicit(&t->done_flags, pv->tcp_flags, memory_order_relaxed);
	atomic_store_explicit(&t->done_ns, now, memory_order_release);
	count(w, PE_C_TRIAL);
	return true;
}

unsigned pe_worker_process(struct pe_worker *w, const struct seq_view *v,
			   struct pktio_pkt *pkts, unsigned n, struct pktio_pkt *out)
{
	unsigned nout = 0;
	bool trial = atomic_load_explicit(&w->dp->trial.active, memory_order_relaxed);

	if (trial) /* the slot's client side was written before active */
		atomic_thread_fence(memory_order_acquire);
	w->copy_used = 0;
	bump(&w->lane->ctr[PE_C_RX], n); /* once per burst, not per packet */
	/* the primary steers these: a second copy would duplicate every packet */
	if (atomic_load_explicit(&w->dp->standby, memory_order_relaxed)) {
		bump(&w->lane->ctr[PE_C_STANDBY], n);
		return 0;
	}
	for (unsigned i = 0; i < n; i++) {
		struct pktio_pkt *p = &pkts[i];
		struct pkt_view pv;
		struct flow_key k;
		const struct seq_entry *e;

		e = classify(w, v, p, &pv, &k);
		if (!e)
			continue;
		if (trial && trace(w, e, &pv, &k, p->data + 6))
			continue;
		emit_copies(w, v, e, p, out, &nout);
		if (rewrite(e, p->data, &pv, &k) < 0) {
			count(w, PE_C_REWRITE);
			continue;
		}
		memcpy(p->data, e->dst_mac, 6);
		memcpy(p->data + 6, w->dp->port_mac[e->egress], 6);
		out[nout] = *p;
		out[nout].port = e->egress;
		nout++;
		account(w, e, p->len);
		count(w, e->dir == SEQ_DIR_FWD ? PE_C_FORWARD : PE_C_REPLY);
	}
	return nout;
}

/* The snapshot for this burst, validated once per generation. */
static const struct seq_view *current_view(struct pe_worker *w)
{
	size_t len;
	uint64_t gen;
	const void *p = shm_snap_current(w->dp->snap, &len, &gen);

	if (!p)
		return NULL;
	if (gen != w->gen || p != w->block) {
		/* a refused block stays refused until the next publish */
		w->gen = gen;
		w->block = p;
		if (seq_view_init(&w->view, p, len) < 0)
			count(w, PE_C_BAD_TABLE);
	}
	return w->view.hdr ? &w->view : NULL;
}

unsigned pe_worker_steer(struct pe_worker *w, struct pktio_pkt *pkts, unsigned n,
			 struct pktio_pkt *out)
{
	shm_rcu_read_lock(&w->rd);
	unsigned nout = pe_worker_process(w, current_view(w), pkts, n, out);
	shm_rcu_read_unlock(&w->rd);
	return nout;
}

int pe_worker_run_once(struct pe_worker *w)
{
	struct pktio_pkt pkts[PE_BURST], out[PE_OUT_MAX(PE_BURST)];
	int n = pktio_rx_burst(w->dp->io, w->id, pkts, PE_BURST);

	if (n <= 0)
		return 0;
	unsigned nout = pe_worker_steer(w, pkts, (unsigned)n, out);
	/* the back end copies: frames and copies may be released afterwards */
	int sent = nout ? pktio_tx_burst(w->dp->io, w->id, out, nout) : 0;
	if (sent < 0)
		sent = 0;
	bump(&w->lane->ctr[PE_C_TX], (uint64_t)sent);
	bump(&w->lane->ctr[PE_C_TX_SHED], nout - (unsigned)sent);
	pktio_rx_release(w->dp->io, w->id);
	return n;
}

void *pe_worker_main(void *arg)
{
	struct pe_worker *w = arg;

	while (!atomic_load_explicit(&w->dp->stop, memory_order_relaxed))
		if (pe_worker_run_once(w) == 0)
			pktio_wait(w->dp->io, w->id, 100);
	return NULL;
}

static int worker_init(struct pe_worker *w, struct pe_dp *dp, unsigned id, bool own_lane)
{
	memset(w, 0, sizeof(*w));
	w->dp = dp;
	w->id = id;
	w->gen = UINT64_MAX;
	w->copy_buf = malloc(dp->copy_room ? dp->copy_room : 1);
	if (!w->copy_buf)
		return -ENOMEM;
	if (dp->lanes && !own_lane) {
		w->lane = &dp->lanes[id];
	} else {
		w->lane = aligned_alloc(LOOM_CACHELINE, sizeof(*w->lane));
		if (!w->lane)
			return -ENOMEM;
		memset(w->lane, 0, sizeof(*w->lane));
		w->own_lane = true;
	}
	if (dp->snap) {
		int r = shm_snap_reader_register(dp->snap, &w->rd);
		if (r < 0)
			return r;
		w->rd_registered = true;
	}
	return 0;
}

int pe_worker_init(struct pe_worker *w, struct pe_dp *dp, unsigned id)
{
	return worker_init(w, dp, id, false);
}

int pe_worker_init_private(struct pe_worker *w, struct pe_dp *dp)
{
	return worker_init(w, dp, UINT32_MAX, true);
}

void pe_worker_fini(struct pe_worker *w)
{
	if (w->rd_registered)
		shm_rcu_unregister(&w->rd);
	w->rd_registered = false;
	free(w->copy_buf);
	w->copy_buf = NULL;
	if (w->own_lane)
		free(w->lane);
	w->lane = NULL;
	w->own_lane = false;
}
