// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The forwarding agent's per-packet pipeline (see fwd_dp.h for the shape).
 *
 * A burst is processed in three passes so the shared table's lookups can
 * be batched: parse and build keys; one batched fixed-affinity lookup;
 * then per packet the decision, the actions and the routing. Everything a
 * packet needs is copied out of shared memory under its version (the value
 * of a fixed affinity, the snapshot view) inside one read-side section per
 * burst.
 */
#include <errno.h>
#include <sched.h>
#include <net/ethernet.h>
#include <netinet/icmp6.h>
#include <netinet/if_ether.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>
#include <urcu-qsbr.h>

#include "common/log.h"
#include "common/msg_wire.h"
#include "common/pkt.h"
#include "fwd_dp.h"

/* every hit reads the entry header and the hot part: two cache lines */
static_assert(sizeof(struct shm_entry) + AFF_FIXED_HOT_LEN <= 2 * LOOM_CACHELINE,
	      "the hot part of a fixed affinity spans the entry's first two lines");

static const char *const ctr_names[] = { FWD_CTR_LIST(LOOM_XSTR) };

const char *fwd_ctr_str(enum fwd_ctr c)
{
	return (unsigned)c < FWD_C__COUNT ? ctr_names[c] : "?";
}

static inline void count(struct fwd_worker *w, enum fwd_ctr c)
{
	__atomic_store_n(&w->ctr[c], __atomic_load_n(&w->ctr[c], __ATOMIC_RELAXED) + 1,
			 __ATOMIC_RELAXED);
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* ---- routing ------------------------------------------------------------- */

void fwd_route(const struct fwd_dp *dp, const uint8_t dst[16], uint32_t hash, struct fwd_hop *h)
{
	memset(h, 0, sizeof(*h));
	if (!dp->rt) {
		const struct fwd_static_route *best = NULL;
		unsigned best_len = 0;

		for (unsigned i = 0; i < dp->nroutes; i++) {
			const struct fwd_static_route *r = &dp->routes[i];
			if (!aff_masked_eq(r->addr, r->mask, dst))
				continue;
			if (!best || r->len > best_len) {
				best = r;
				best_len = r->len;
			}
		}
		if (!best) {
			/* as rt says for no route: network unreachable */
			h->verdict = RT_DROP;
			h->icmp = true;
			h->icmp_type = key_addr_is_v4(dst) ? 3 : 1;
			return;
		}
		h->verdict = RT_FORWARD;
		h->port = best->port;
		h->mtu = dp->ports[best->port].mtu;
		memcpy(h->smac, dp->ports[best->port].mac, 6);
		memcpy(h->dmac, best->dmac, 6);
		memcpy(h->nexthop, dst, 16);
		return;
	}

	struct rt_hop rh;
	rt_lookup_flow(dp->rt, dst, hash, &rh);
	h->verdict = rh.verdict;
	h->ifindex = rh.ifindex;
	h->mtu = rh.mtu;
	h->icmp = rh.icmp;
	h->icmp_type = rh.icmp_type;
	h->icmp_code = rh.icmp_code;
	memcpy(h->nexthop, rh.nexthop, 16);
	if (rh.verdict != RT_FORWARD && rh.verdict != RT_NO_NEIGH)
		return;
	/* only our own interfaces: a route out of another one is not ours to use */
	for (unsigned p = 0; p < dp->nports; p++) {
		if (dp->ports[p].ifindex == rh.ifindex) {
			h->port = (uint16_t)p;
			memcpy(h->smac, rh.if_mac, 6);
			memcpy(h->dmac, rh.neigh_mac, 6);
			return;
		}
	}
	h->verdict = RT_LOCAL; /* out of an interface we do not own: the kernel's job */
}

/* ---- fragments ----------------------------------------------------------- */

static struct fwd_frag *frag_slot(struct fwd_worker *w, const uint8_t *s, const uint8_t *d,
				  uint32_t id, uint8_t proto)
{
	uint64_t h = id * 0x9e3779b97f4a7c15ULL;

	for (unsigned i = 0; i < 16; i++)
		h = (h ^ s[i] ^ ((uint64_t)d[i] << 8)) * 0x100000001b3ULL;
	h ^= proto;
	return &w->frags[(h >> 20) % FWD_FRAG_SLOTS];
}

/* Virtual reassembly: later fragments carry no ports; they take the key of
 * their first fragment, seen earlier on this worker (the kernel's fanout
 * hash of a fragment covers the addresses only, so every fragment of a
 * datagram lands on the same worker). */
static int frag_key(struct fwd_worker *w, const struct flow_key *k, uint32_t id, bool first,
		    uint64_t now_ms, struct flow_key *out)
{
	struct fwd_frag *f = frag_slot(w, k->saddr, k->daddr, id, k->proto);

	if (first) {
		memcpy(f->saddr, k->saddr, 16);
		memcpy(f->daddr, k->daddr, 16);
		f->id = id;
		f->proto = k->proto;
		f->key = *k;
		f->expires_ms = now_ms + FWD_FRAG_TTL_MS;
		*out = *k;
		return 0;
	}
	if (f->expires_ms <= now_ms || f->id != id || f->proto != k->proto ||
	    memcmp(f->saddr, k->saddr, 16) || memcmp(f->daddr, k->daddr, 16))
		return -ENOENT;
	*out = f->key;
	return 0;
}

/* ---- interest -------------------------------------------------------------- */

static uint16_t reasons_of(const struct pkt_view *v)
{
	uint16_t r = MSG_INT_ALL;

	if ((v->flags & PKT_F_L4) && v->l4_proto == IPPROTO_TCP) {
		static const uint16_t bit[6] = { MSG_INT_FIN, MSG_INT_SYN, MSG_INT_RST,
						 MSG_INT_PSH, MSG_INT_ACK, MSG_INT_URG };
		for (unsigned i = 0; i < 6; i++)
			if (v->tcp_flags & (1u << i))
				r |= bit[i];
	}
	if ((v->flags & PKT_F_L4) && v->l4_len > v->l4_hdr_len)
		r |= MSG_INT_DATA;
	if (v->flags & PKT_F_FRAG)
		r |= MSG_INT_FRAGMENT;
	return r;
}

/* ---- the decision ------------------------------------------------------------ */

struct verdict {
	bool forward;                /* send the (rewritten) packet on */
	bool punt;                   /* queue an interest match */
	bool punt_data;              /* with the packet */
	bool fixed;
	uint16_t reasons;
	uint16_t owner;
	const struct aff_actions *act; /* actions to apply before forwarding; NULL: none */
	bool have_act;
	const struct aff_wild *wild; /* the matching wildcard, for the punt */
	const struct flow_key *key;  /* the matching affinity's key (with act) */
	uint8_t mgr_len;
	const uint8_t *mgr_data;
};

/*
 * What interest criteria ask for this packet. Without an interest action a
 * wildcard attracts every packet it matches (seed 001: the first packet of
 * a flow goes to the manager, which returns it); with one, only the packets
 * whose kind is in the mask. The data, copy and hold vectors decide whether
 * the packet travels with the match and whether the original goes on.
 */
static void interest(const struct aff_actions *a, bool wildcard, uint16_t reasons,
		     struct verdict *out)
{
	if (!(a->flags & AFF_F_INTEREST)) {
		if (wildcard) {
			out->punt = out->punt_data = true;
			out->forward = false;
			out->reasons = reasons & (MSG_INT_ALL | MSG_INT_SYN);
		}
		return;
	}
	uint16_t hit = reasons & a->int_mask;
	if (!hit)
		return;
	out->punt = true;
	out->reasons = hit;
	out->punt_data = (hit & (a->int_data | a->int_copy | a->int_hold)) != 0;
	if (hit & a->int_hold)
		out->forward = false;
}

/* ---- actions ----------------------------------------------------------------- */

static bool addr_zero(const uint8_t a[16])
{
	static const uint8_t z[16];
	static const uint8_t v4z[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	return !memcmp(a, z, 16) || !memcmp(a, v4z, 16);
}

/* The information flag: packets and bytes per forward address. */
static void count_forward(struct fwd_worker *w, const uint8_t addr[16], uint32_t bytes)
{
	struct shm_table *t = w->dp->fwdstats;
	struct flow_key k;

	aff_fwdstat_key(&k, addr);
	shm_rcu_read_lock(&w->fwdstats_rd);
	const struct shm_entry *e = shm_table_lookup(t, &k);
	if (e)
		shm_table_count(t, w->id, shm_entry_index(t, e), bytes, 0);
	shm_rcu_read_unlock(&w->fwdstats_rd);
}

/* Apply NAT and sequence adjust; the destination to route to comes back. */
static int apply(struct fwd_worker *w, uint8_t *buf, struct pkt_view *v,
		 const struct aff_actions *a, bool icmp_err, const struct pkt_quote *q,
		 uint8_t route_to[16])
{
	if (a->flags & AFF_F_NAT) {
		struct pkt_nat nat = { .present = a->nat_fields, .sport = a->nat_sport,
				       .dport = a->nat_dport };
		memcpy(nat.saddr, a->nat_saddr, 16);
		memcpy(nat.daddr, a->nat_daddr, 16);
		if (icmp_err) {
			/* the error travels like the flow; its quote is a packet of
			 * the reverse direction: mirror the translation onto it,
			 * and the outer packet only has addresses */
			struct pkt_nat qn = { 0 };
			if (nat.present & PKT_NAT_DADDR) {
				qn.present |= PKT_NAT_SADDR;
				memcpy(qn.saddr, nat.daddr, 16);
			}
			if (nat.present & PKT_NAT_DPORT) {
				qn.present |= PKT_NAT_SPORT;
				qn.sport = nat.dport;
			}
			if (nat.present & PKT_NAT_SADDR) {
				qn.present |= PKT_NAT_DADDR;
				memcpy(qn.daddr, nat.saddr, 16);
			}
			if (nat.present & PKT_NAT_SPORT) {
				qn.present |= PKT_NAT_DPORT;
				qn.dport = nat.sport;
			}
			if (qn.present && pkt_icmp_quote_rewrite(buf, v, q, &qn) < 0)
				return -EINVAL;
			nat.present &= PKT_NAT_SADDR | PKT_NAT_DADDR;
			count(w, FWD_C_ICMP_XLATE);
		}
		if (nat.present && pkt_rewrite(buf, v, &nat) < 0)
			return -EINVAL;
		count(w, FWD_C_NAT);
	}
	if ((a->flags & AFF_F_SEQ) && !icmp_err && (v->flags & PKT_F_L4) &&
	    v->l4_proto == IPPROTO_TCP) {
		struct pkt_seq_adj adj = { .seq_delta = a->seq_delta, .seq_init = a->seq_init,
					   .ack_delta = a->ack_delta, .ack_init = a->ack_init };
		if (pkt_tcp_seq_adjust(buf, v, &adj) < 0)
			return -EINVAL;
		count(w, FWD_C_SEQ);
	}
	/* the destination after translation */
	if (v->family == PKT_IPV4) {
		uint32_t d4; /* frames may sit at any alignment in the ring */
		memcpy(&d4, buf + v->l3_off + 16, 4);
		key_addr_from_v4(route_to, d4);
	} else
		memcpy(route_to, buf + v->l3_off + 24, 16);
	if (a->flags & AFF_F_DISPATCH) {
		if ((a->flags & AFF_F_INFO) && w->dp->fwdstats)
			count_forward(w, a->fwd_addr, v->len);
		if (addr_zero(a->fwd_addr))
			return -EHOSTUNREACH; /* forward address 0: drop after counting */
		memcpy(route_to, a->fwd_addr, 16);
		count(w, FWD_C_DISPATCH);
	}
	return 0;
}

/* ---- punts ---------------------------------------------------------------------- */

static void punt(struct fwd_worker *w, const struct verdict *vd, const struct pkt_view *v,
		 const uint8_t *ip, uint32_t len)
{
	struct fwd_slot *s = fwd_ring_produce_begin(&w->punts);

	if (!s) {
		count(w, FWD_C_PUNT_FULL);
		return;
	}
	s->kind = FWD_SLOT_PUNT;
	s->owner = vd->owner;
	s->fixed = vd->fixed;
	s->reasons = vd->reasons;
	s->key = *vd->key;
	s->dispatch = (vd->act->flags & AFF_F_DISPATCH) != 0; /* a punt comes from an action */
	s->info = (vd->act->flags & AFF_F_INFO) != 0;
	if (vd->wild) {
		memcpy(s->smask, vd->wild->smask, 16);
		memcpy(s->dmask, vd->wild->dmask, 16);
	}
	s->mgr_len = vd->mgr_len;
	if (vd->mgr_len) /* mgr_data may be NULL when there is none */
		memcpy(s->mgr_data, vd->mgr_data, vd->mgr_len);
	s->len = 0;
	if (vd->punt_data) {
		if (len > FWD_SLOT_BYTES) {
			count(w, FWD_C_PUNT_FULL); /* bigger than a first packet should be */
			return;
		}
		memcpy(s->data, ip, len);
		s->len = len;
		/* a checksum the sender's NIC was to finish: the manager gets (and
		 * may return) a packet with nothing left to offload, so finish it
		 * in the copy (the original keeps its offload) */
		if ((v->flags & PKT_F_CSUM_PARTIAL) && v->csum_start >= v->l3_off &&
		    pkt_csum_complete(s->data, len, (uint16_t)(v->csum_start - v->l3_off),
				      v->csum_offset, NULL) < 0)
			count(w, FWD_C_MALFORMED);
	}
	fwd_ring_produce_end(&w->punts);
	count(w, FWD_C_PUNT);
	if (!vd->forward) {
		count(w, FWD_C_HELD);
		atomic_fetch_add_explicit(&w->dp->open_punts, 1, memory_order_relaxed);
	}
}

/* ---- ARP and neighbour replies for advertised addresses --------------------- */

static bool advertised(const struct aff_snap_view *sv, const uint8_t addr[16])
{
	return sv && aff_snap_advertised(sv, addr);
}

static void arp_reply(struct fwd_worker *w, const struct pktio_pkt *p,
		      const struct aff_snap_view *sv, struct pktio_pkt *out, unsigned *nout)
{
	const uint8_t *b = p->data;
	uint8_t tip[16];

	/* Ethernet + ARP for IPv4 over Ethernet, request */
	if (p->len < 42 || b[12] != 0x08 || b[13] != 0x06 || b[14] != 0 || b[15] != 1 ||
	    b[16] != 0x08 || b[17] != 0 || b[18] != 6 || b[19] != 4 || b[20] != 0 || b[21] != 1)
		return;
	uint32_t t4;
	memcpy(&t4, b + 38, 4);
	key_addr_from_v4(tip, t4);
	if (!advertised(sv, tip) || p->port >= w->dp->nports)
		return;
	uint8_t *r = w->reply;
	const uint8_t *mac = w->dp->ports[p->port].mac;
	memcpy(r, b + 6, 6);          /* to the asker */
	memcpy(r + 6, mac, 6);
	r[12] = 0x08;
	r[13] = 0x06;
	memcpy(r + 14, b + 14, 6);    /* htype, ptype, hlen, plen */
	r[20] = 0;
	r[21] = 2;                    /* reply */
	memcpy(r + 22, mac, 6);       /* sender: us, for the advertised address */
	memcpy(r + 28, b + 38, 4);
	memcpy(r + 32, b + 22, 6);    /* target: the asker */
	memcpy(r + 38, b + 28, 4);
	memset(r + 42, 0, 18);        /* pad to the Ethernet minimum */
	out[*nout] = (struct pktio_pkt){ .data = r, .len = 60, .room = sizeof(w->reply),
					 .port = p->port };
	(*nout)++;
	count(w, FWD_C_ARP_REPLY);
}

/* ---- forwarding ----------------------------------------------------------------- */

/* The frame leaves by the hop: its MACs and output port. */
static void to_hop(struct pktio_pkt *p, const struct fwd_hop *h)
{
	memcpy(p->data, h->dmac, 6);
	memcpy(p->data + 6, h->smac, 6);
	p->port = h->port;
}

/*
 * Park a packet whose next hop h is being resolved (fwd_dp.h struct
 * fwd_held), after asking the kernel to resolve it; counted either way.
 */
static bool hold(struct fwd_worker *w, const struct pktio_pkt *p, const struct pkt_view *v,
		 const uint8_t dst[16], uint32_t hash, const struct fwd_hop *hop, bool local)
{
	if (w->dp->rt)
		rt_resolve(w->dp->rt, hop->ifindex, hop->nexthop);
	if (w->nheld == FWD_HOLD_SLOTS || p->len > FWD_HOLD_BYTES) {
		count(w, FWD_C_NO_NEIGH);
		return false;
	}
	count(w, FWD_C_NEIGH_HELD);
	struct fwd_held *h = &w->held[w->nheld++];
	h->deadline_ns = mono_ns() + FWD_HOLD_NS;
	h->p = *p;
	memcpy(h->buf, p->data, p->len);
	h->p.data = h->buf;
	h->p.room = FWD_HOLD_BYTES;
	h->v = *v;
	memcpy(h->dst, dst, 16);
	h->hash = hash;
	h->local = local;
	return true;
}

/* ---- ICMP errors ------------------------------------------------------------------ */

/* The token bucket of fwd_dp.h (FWD_ICMP_*): true when an error may go. */
static bool icmp_allow(struct fwd_worker *w)
{
	const uint64_t per_token = 1000000000ull / FWD_ICMP_RATE;
	uint64_t now = mono_ns(), add = (now - w->icmp_refill_ns) / per_token;

	if (add) {
		if (w->icmp_tokens + add >= FWD_ICMP_BURST) {
			w->icmp_tokens = FWD_ICMP_BURST;
			w->icmp_refill_ns = now;
		} else {
			w->icmp_tokens += (uint32_t)add;
			w->icmp_refill_ns += add * per_token; /* keep the fraction */
		}
	}
	if (!w->icmp_tokens) {
		count(w, FWD_C_ICMP_LIMITED);
		return false;
	}
	w->icmp_tokens--;
	return true;
}

/* The router's address on the port p came in on, to answer src from. */
static bool icmp_source(const struct fwd_worker *w, const struct pktio_pkt *p,
			const uint8_t src[16], uint8_t out[16])
{
	const struct fwd_dp *dp = w->dp;

	if (p->port >= dp->nports)
		return false;
	if (dp->rt)
		return rt_link_addr(dp->rt, dp->ports[p->port].ifindex, src, out) == 0;
	memcpy(out, key_addr_is_v4(src) ? dp->ports[p->port].addr : dp->ports[p->port].addr6, 16);
	return !addr_zero(out);
}

/*
 * Replace the packet p by the ICMP error about it (built in its own buffer,
 * RFC 1812 4.3.2) and route the error to the packet's source like a packet
 * of this host's: no TTL taken, no error about the error. True when p is
 * to be sent; false when no error is due or it cannot go (counted), or when
 * it was held for its next hop (only if may_hold: release_held() cannot
 * take a new held packet while it walks them).
 */
static bool icmp_error(struct fwd_worker *w, struct pktio_pkt *p, struct pkt_view *v,
		       uint8_t type, uint8_t code, uint32_t info, uint32_t hash, bool may_hold)
{
	struct pkt_icmp_err e = { .type = type, .code = code, .ttl = FWD_ICMP_TTL, .info = info };
	uint8_t to[16];
	struct fwd_hop h;
	int n;

	/* an Ethernet frame (the error gets a plain header in front) */
	if (!v->ethertype || v->l3_off < 14 || !pkt_icmp_error_allowed(p->data, v, type))
		return false;
	if (v->family == PKT_IPV4) {
		uint32_t s4;
		memcpy(&s4, p->data + v->l3_off + 12, 4);
		key_addr_from_v4(to, s4);
	} else
		memcpy(to, p->data + v->l3_off + 8, 16);
	if (!icmp_source(w, p, to, e.src)) {
		count(w, FWD_C_ICMP_NO_SRC);
		return false;
	}
	if (!icmp_allow(w))
		return false;
	n = pkt_icmp_error(p->data + 14, p->room - 14, p->data, v, &e);
	if (n < 0 || pkt_parse(p->data, 14 + (uint32_t)n, v) < 0) {
		count(w, FWD_C_MALFORMED);
		return false;
	}
	p->data[12] = v->family == PKT_IPV4 ? 0x08 : 0x86;
	p->data[13] = v->family == PKT_IPV4 ? 0x00 : 0xdd;
	p->len = 14 + (uint32_t)n;
	p->flags = 0; /* nothing left to offload: no GSO, checksums complete */
	v->ethertype = v->family == PKT_IPV4 ? 0x0800 : 0x86dd;

	fwd_route(w->dp, to, hash, &h);
	if (h.verdict == RT_NO_NEIGH && may_hold) {
		if (hold(w, p, v, to, hash, &h, true))
			count(w, FWD_C_ICMP_SENT);
		return false;
	}
	if (h.verdict != RT_FORWARD)
		return false; /* a source we cannot reach, or our own: nothing to answer */
	to_hop(p, &h);
	count(w, FWD_C_ICMP_SENT);
	return true;
}

/*
 * Does the packet not fit the egress MTU? An IPv4 packet without DF does
 * not count (the agent does not fragment: it goes as it is, as before);
 * a GSO super-packet counts by its segments (the kernel's
 * skb_gso_validate_network_len()).
 */
static bool too_big(const struct pktio_pkt *p, const struct pkt_view *v, uint32_t mtu)
{
	uint32_t ip_len = v->len - v->l3_off;

	if (!mtu || ip_len <= mtu)
		return false;
	if (v->family == PKT_IPV4 && !(p->data[v->l3_off + 6] & 0x40))
		return false;
	if ((p->flags & PKTIO_F_GSO) && p->gso_size && p->hdr_len > v->l3_off)
		return (uint32_t)p->hdr_len - v->l3_off + p->gso_size > mtu;
	return true;
}

static void transmit(struct fwd_worker *w, struct pktio_pkt *out, unsigned n);

/*
 * Held packets whose neighbour is known now go out (in the order they came);
 * those past their deadline are dropped as unresolved. Cheap when none is
 * held: the worker calls it every iteration.
 */
static void release_held(struct fwd_worker *w)
{
	struct pktio_pkt out[FWD_HOLD_SLOTS];
	bool keep[FWD_HOLD_SLOTS];
	unsigned n = 0, k = 0;
	uint64_t now;

	if (!w->nheld)
		return;
	now = mono_ns();
	for (unsigned i = 0; i < w->nheld; i++) {
		struct fwd_held *h = &w->held[i];
		struct fwd_hop hop;
		keep[i] = false;
		fwd_route(w->dp, h->dst, h->hash, &hop);
		if (hop.verdict == RT_FORWARD) {
			if (!h->local && pkt_ttl_dec(h->p.data, &h->v) < 0) {
				count(w, FWD_C_TTL); /* route_out() checked: not reached */
				continue;
			}
			to_hop(&h->p, &hop);
			out[n++] = h->p;
			count(w, FWD_C_NEIGH_SENT);
		} else if (hop.verdict != RT_NO_NEIGH || now >= h->deadline_ns) {
			count(w, hop.verdict == RT_NO_NEIGH ? FWD_C_NO_NEIGH : FWD_C_NO_ROUTE);
			/* the kernel's answer when resolution fails: host / address
			 * unreachable (rt names it for NO_NEIGH too) */
			bool v4 = h->v.family == PKT_IPV4;
			uint8_t ty = hop.verdict == RT_NO_NEIGH ? (v4 ? 3 : 1) : hop.icmp_type;
			uint8_t co = hop.verdict == RT_NO_NEIGH ? (v4 ? 1 : 3) : hop.icmp_code;
			if (!h->local && (hop.verdict == RT_NO_NEIGH || hop.icmp) &&
			    icmp_error(w, &h->p, &h->v, ty, co, 0, h->hash, false))
				out[n++] = h->p;
		} else {
			keep[i] = true;
		}
	}
	/* out[] points into the slots: send before any slot moves */
	transmit(w, out, n);
	for (unsigned i = 0; i < w->nheld; i++) {
		if (!keep[i])
			continue;
		if (k != i) {
			w->held[k] = w->held[i];
			w->held[k].p.data = w->held[k].buf;
		}
		k++;
	}
	w->nheld = k;
}

enum out_kind { OUT_NONE, OUT_FWD, OUT_ICMP };

/* Route a packet to dst: forwarded (OUT_FWD), replaced by the ICMP error
 * a router sends instead (OUT_ICMP), or dropped, held, left to the kernel. */
static enum out_kind route_out(struct fwd_worker *w, struct pktio_pkt *p, struct pkt_view *v,
			       const uint8_t dst[16], uint32_t hash)
{
	struct fwd_hop h;
	bool v4 = v->family == PKT_IPV4;

	fwd_route(w->dp, dst, hash, &h);
	switch (h.verdict) {
	case RT_FORWARD:
	case RT_NO_NEIGH:
		break;
	case RT_LOCAL:
		count(w, FWD_C_LOCAL);
		return OUT_NONE;
	default:
		count(w, FWD_C_NO_ROUTE);
		return h.icmp && icmp_error(w, p, v, h.icmp_type, h.icmp_code, 0, hash, true)
			       ? OUT_ICMP : OUT_NONE;
	}
	/* the kernel's order (ip_forward): TTL, then MTU, then the neighbour */
	if (v->ttl <= 1) {
		count(w, FWD_C_TTL);
		return icmp_error(w, p, v, v4 ? 11 : 3, 0, 0, hash, true) ? OUT_ICMP : OUT_NONE;
	}
	if (too_big(p, v, h.mtu)) {
		count(w, FWD_C_TOO_BIG);
		return icmp_error(w, p, v, v4 ? 3 : 2, v4 ? 4 : 0, h.mtu, hash, true) ? OUT_ICMP
											: OUT_NONE;
	}
	if (h.verdict == RT_NO_NEIGH) {
		hold(w, p, v, dst, hash, &h, false);
		return OUT_NONE;
	}
	if (pkt_ttl_dec(p->data, v) < 0) {
		count(w, FWD_C_TTL);
		return OUT_NONE;
	}
	to_hop(p, &h);
	return OUT_FWD;
}

/* Everything after parsing, for one packet. Returns true if it goes out. */
static bool decide(struct fwd_worker *w, struct pktio_pkt *p, struct pkt_view *v,
		   const struct flow_key *k, const struct shm_entry *e, uint32_t idx, bool icmp_err,
		   const struct pkt_quote *q, const struct aff_snap_view *sv, int64_t below,
		   uint64_t now_ms, uint64_t now_ns)
{
	struct fwd_dp *dp = w->dp;
	struct verdict vd = { .forward = true };
	struct aff_actions fact;     /* a fixed affinity's, gathered */
	uint16_t reasons = reasons_of(v);
	uint8_t route_to[16];

	if (e) {
		struct aff_fixed f;
		size_t len = AFF_FIXED_HOT_LEN;
		/* the hot part, then the sequence adjustment only if it is used
		 * (read again as a whole: one consistent version); the manager's
		 * data only matters for a punt: read it then */
		int r = shm_entry_read_part(dp->fixed, e, NULL, &f, len);
		if (r == 0 && (f.flags & AFF_F_SEQ)) {
			len = AFF_FIXED_SEQ_LEN;
			r = shm_entry_read_part(dp->fixed, e, NULL, &f, len);
		}
		if (r == 0) {
			if (f.expires_ms && f.expires_ms <= now_ms) {
				count(w, FWD_C_FIXED_EXPIRED);
			} else {
				count(w, FWD_C_FIXED_HIT);
				shm_table_count(dp->fixed, w->id, idx, v->len, now_ns);
				vd.fixed = true;
				vd.owner = f.owner;
				aff_fixed_actions(&f, len, &fact);
				vd.act = &fact;
				vd.have_act = true;
				vd.key = k;
				/* a packet its manager returned has been there: seed 001,
				 * no second trip (else a hold would loop forever) */
				if (below == INT64_MAX)
					interest(vd.act, false, reasons, &vd);
				if (vd.punt && f.mgr_len &&
				    shm_entry_read(dp->fixed, e, NULL, &f) == 0) {
					/* shared memory is input too: never trust its length */
					vd.mgr_len = f.mgr_len < AFF_FIXED_MGR_DATA
							     ? f.mgr_len : AFF_FIXED_MGR_DATA;
					memcpy(w->scratch, f.mgr_data, vd.mgr_len); /* outlives f */
					vd.mgr_data = w->scratch;
				}
			}
		}
	}
	if (!vd.have_act && sv) {
		int i = aff_snap_find(sv, k, below, now_ms);
		if (i >= 0) {
			const struct aff_wild *wd = &sv->wild[i];
			count(w, FWD_C_WILD_HIT);
			vd.wild = wd;
			vd.owner = wd->owner;
			vd.act = &wd->act;
			vd.have_act = true;
			vd.key = &wd->key;
			vd.mgr_len = wd->mgr_len < AFF_MAX_MGR_DATA ? wd->mgr_len : AFF_MAX_MGR_DATA;
			vd.mgr_data = wd->mgr_data;
			interest(&wd->act, true, reasons, &vd);
		}
	}
	if (vd.punt)
		punt(w, &vd, v, p->data + v->l3_off, v->len - v->l3_off);
	if (!vd.forward)
		return false;

	if (vd.have_act) {
		int r = apply(w, p->data, v, vd.act, icmp_err, q, route_to);
		if (r == -EHOSTUNREACH) {
			count(w, FWD_C_DISPATCH_DROP);
			return false;
		}
		if (r < 0) {
			count(w, FWD_C_MALFORMED);
			return false;
		}
	} else {
		memcpy(route_to, k->daddr, 16);
		if (advertised(sv, route_to)) {
			count(w, FWD_C_ADV_DROP); /* nobody serves this port of it */
			return false;
		}
	}
	enum out_kind o = route_out(w, p, v, route_to, (uint32_t)(k->sport ^ k->dport));
	if (o == OUT_FWD && !vd.have_act)
		count(w, FWD_C_ROUTED);
	return o != OUT_NONE; /* an ICMP error takes the packet's place in out */
}

/* Parse p and build the key the pipeline looks up; false: dropped or not ours. */
static bool classify(struct fwd_worker *w, struct pktio_pkt *p, struct pkt_view *v,
		     struct flow_key *k, bool *icmp_err, struct pkt_quote *q, uint64_t now_ms)
{
	int r = pktio_pkt_parse(p, v);

	*icmp_err = false;
	if (r < 0) {
		count(w, FWD_C_MALFORMED);
		return false;
	}
	if (v->family == PKT_NOT_IP) {
		count(w, FWD_C_NOT_IP);
		return false;
	}
	if (v->flags & PKT_F_ICMP_ERR) {
		struct flow_key qk;
		if (pkt_icmp_quote(v, p->data, q, &qk) == 0) {
			/* the quote went the other way: its flow is the reverse */
			key_reverse(k, &qk);
			*icmp_err = true;
			return true;
		}
	}
	if (pkt_key(v, p->data, k) < 0) {
		count(w, FWD_C_MALFORMED);
		return false;
	}
	if (v->flags & PKT_F_FRAG) {
		bool first = !(v->flags & PKT_F_FRAG_LATER);
		if (frag_key(w, k, v->frag_id, first, now_ms, k) < 0) {
			count(w, FWD_C_FRAG_ORPHAN);
			return false;
		}
		if (!first)
			count(w, FWD_C_FRAG_FOLLOW);
	}
	return true;
}

/*
 * Where a packet its manager returned in an ip-packet-only message (which
 * cannot carry a service precedence, docs/protocol.md) goes on: below the
 * first wildcard of that manager that matches it, the one that sent it
 * there. Taking rank 0 instead ended every cascade through an observing
 * service (the packet was routed to the virtual address, never reaching the
 * next service) and sent a packet of a "lower is better" service (rank < 0)
 * back to the same wildcard. None matching: no wildcard at all.
 */
static int64_t resume_rank(const struct aff_snap_view *sv, const struct flow_key *k,
			   uint16_t owner, uint64_t now_ms)
{
	for (uint32_t i = 0; sv && i < sv->nwild; i++) {
		const struct aff_wild *wd = &sv->wild[i];
		if (wd->owner == owner && (!wd->expires_ms || wd->expires_ms > now_ms) &&
		    aff_wild_match(wd, k))
			return wd->rank;
	}
	return INT64_MIN;
}

static void process(struct fwd_worker *w, struct pktio_pkt *pkts, unsigned n,
		    const int64_t *below, uint16_t owner, struct pktio_pkt *out, unsigned *nout)
{
	struct fwd_dp *dp = w->dp;
	struct pkt_view v[FWD_BURST];
	struct flow_key keys[FWD_BURST];
	const struct flow_key *kp[FWD_BURST];
	const struct shm_entry *ent[FWD_BURST];
	struct pkt_quote q[FWD_BURST];
	bool ok[FWD_BURST], icmp_err[FWD_BURST];
	struct aff_snap_view svs, *sv = NULL;
	uint64_t now_ns = mono_ns(), now_ms = now_ns / 1000000u;
	unsigned m = 0;

	for (unsigned i = 0; i < n; i++) {
		ok[i] = classify(w, &pkts[i], &v[i], &keys[i], &icmp_err[i], &q[i], now_ms);
		if (ok[i])
			kp[m++] = &keys[i];
	}

	shm_rcu_read_lock(&w->fixed_rd);
	shm_rcu_read_lock(&w->snap_rd);
	size_t slen;
	const void *sp = shm_snap_current(dp->snap, &slen, NULL);
	if (sp && aff_snap_view(sp, slen, &svs) == 0)
		sv = &svs;

	/* ARP for advertised addresses: only now is the snapshot at hand */
	if (sv && sv->nadv) {
		for (unsigned i = 0; i < n; i++)
			if (!ok[i] && v[i].family == PKT_NOT_IP)
				arp_reply(w, &pkts[i], sv, out, nout);
	}

	/* the hot part of each hit's value and its counters are fetched with
	 * the entry, as soon as the bucket names it */
	const struct shm_entry *found[FWD_BURST];
	uint32_t found_idx[FWD_BURST], idx[FWD_BURST];
	shm_table_lookup_batch_pf(dp->fixed, kp, m, found, found_idx, AFF_FIXED_HOT_LEN, w->id);
	for (unsigned i = 0, j = 0; i < n; i++) {
		ent[i] = NULL;
		idx[i] = UINT32_MAX;
		if (ok[i]) {
			ent[i] = found[j];
			idx[i] = found_idx[j++];
		}
	}

	for (unsigned i = 0; i < n; i++) {
		if (!ok[i])
			continue;
		int64_t b = below ? below[i] : INT64_MAX;
		if (b == INT64_MIN) /* returned by ip-packet-only (fwd_mgr.c rank_of) */
			b = resume_rank(sv, &keys[i], owner, now_ms);
		/* decided in its place in out: copied back after decide() had
		 * stored its output port, the descriptor was read across that
		 * narrower store, which stalled until it reached the cache */
		out[*nout] = pkts[i];
		if (decide(w, &out[*nout], &v[i], &keys[i], ent[i], idx[i], icmp_err[i], &q[i],
			   sv, b, now_ms, now_ns))
			(*nout)++;
	}
	shm_rcu_read_unlock(&w->snap_rd);
	shm_rcu_read_unlock(&w->fixed_rd);
}

unsigned fwd_worker_process(struct fwd_worker *w, struct pktio_pkt *pkts, unsigned n,
			    struct pktio_pkt *out)
{
	unsigned nout = 0;

	if (n > FWD_BURST)
		n = FWD_BURST;
	process(w, pkts, n, NULL, 0, out, &nout);
	return nout;
}

static void transmit(struct fwd_worker *w, struct pktio_pkt *out, unsigned n)
{
	if (n == 0)
		return;
	int sent = pktio_tx_burst(w->dp->io, w->id, out, n);
	for (int i = 0; i < sent; i++)
		count(w, FWD_C_TX);
	for (unsigned i = sent < 0 ? 0 : (unsigned)sent; i < n; i++)
		count(w, FWD_C_TX_FAIL);
}

/* Packets the managers returned: each gets an Ethernet header in scratch
 * space and runs the pipeline, resuming below the service that saw it. */
static void drain_injects(struct fwd_worker *w)
{
	struct fwd_slot *s;

	while ((s = fwd_ring_consume_begin(&w->injects)) != NULL) {
		struct pktio_pkt p = { 0 }, out[2];
		unsigned nout = 0;
		int64_t below = s->rank_done;
		uint16_t owner = s->owner;
		static uint8_t frame[FWD_SLOT_BYTES + 14];

		if (s->len < 20 || s->len > FWD_SLOT_BYTES) {
			count(w, FWD_C_INJECT_BAD);
			fwd_ring_consume_end(&w->injects);
			continue;
		}
		memset(frame, 0, 12);
		frame[12] = (s->data[0] >> 4) == 6 ? 0x86 : 0x08;
		frame[13] = (s->data[0] >> 4) == 6 ? 0xdd : 0x00;
		memcpy(frame + 14, s->data, s->len);
		p.data = frame;
		p.len = s->len + 14;
		p.room = sizeof(frame);
		fwd_ring_consume_end(&w->injects);
		count(w, FWD_C_INJECTED);
		process(w, &p, 1, &below, owner, out, &nout);
		transmit(w, out, nout);
	}
}

int fwd_worker_run_once(struct fwd_worker *w)
{
	struct pktio_pkt pkts[FWD_BURST], out[2 * FWD_BURST];
	unsigned nout = 0;
	int n;

	drain_injects(w);
	release_held(w);
	n = pktio_rx_burst(w->dp->io, w->id, pkts, FWD_BURST);
	if (n <= 0)
		return 0;
	for (int i = 0; i < n; i++)
		count(w, FWD_C_RX);
	uint32_t punts_before = atomic_load_explicit(&w->punts.head, memory_order_relaxed);
	process(w, pkts, (unsigned)n, NULL, 0, out, &nout);
	transmit(w, out, nout);
	pktio_rx_release(w->dp->io, w->id);
	if (atomic_load_explicit(&w->punts.head, memory_order_relaxed) != punts_before &&
	    w->dp->wake_control)
		w->dp->wake_control(w->dp->wake_arg); /* one wake-up per burst, not per punt */
	return n;
}

bool fwd_worker_idle(struct fwd_worker *w)
{
	uint64_t v;

	if (w->wake_fd >= 0)
		(void)!read(w->wake_fd, &v, sizeof(v));
	/* an injection after the read wrote the eventfd again: no wake-up lost;
	 * so did a stop (stored before its wake-up): a worker asleep while the
	 * agent leaves would leave its ring unserved (fwd_daemon.c teardown) */
	return fwd_ring_consume_begin(&w->injects) == NULL &&
	       !atomic_load_explicit(&w->dp->stop, memory_order_acquire);
}

int fwd_worker_inject(struct fwd_worker *w, uint16_t owner, const uint8_t *ip, uint32_t len,
		      int64_t rank_done)
{
	struct fwd_slot *s = fwd_ring_produce_begin(&w->injects);
	uint64_t one = 1;

	if (!s || len > FWD_SLOT_BYTES)
		return -EAGAIN;
	s->kind = FWD_SLOT_INJECT;
	s->owner = owner;
	s->rank_done = rank_done;
	s->len = len;
	memcpy(s->data, ip, len);
	fwd_ring_produce_end(&w->injects);
	if (w->wake_fd >= 0)
		(void)!write(w->wake_fd, &one, sizeof(one));
	return 0;
}

/*
 * Poll a little longer before sleeping: a reply is usually microseconds
 * away, while waking from poll() on the other vCPU costs tens of them
 * (LAB-FACTS trap 6). Each empty round yields the CPU (fwd_worker_main), so
 * a process that has work on this core (the endpoints of the traffic, the
 * control thread, a manager) runs first and the spinning takes only time
 * nobody else wants. Off by default: it keeps a core out of its idle state.
 */
static bool keep_polling(struct fwd_worker *w, uint64_t *idle_since)
{
	uint64_t now;

	if (!w->dp->busy_poll_ns)
		return false;
	now = mono_ns();
	if (!*idle_since)
		*idle_since = now;
	return now - *idle_since < w->dp->busy_poll_ns;
}

void *fwd_worker_main(void *arg)
{
	struct fwd_worker *w = arg;

	uint64_t idle_since = 0;

	rcu_register_thread(); /* rt's lookup structures are urcu-qsbr protected */
	while (!atomic_load_explicit(&w->dp->stop, memory_order_relaxed)) {
		if (fwd_worker_run_once(w) > 0) {
			idle_since = 0;
		} else if (keep_polling(w, &idle_since)) {
			sched_yield(); /* to anyone with work here: keep_polling() */
		} else if (fwd_worker_idle(w)) {
			/* nothing to do: sleep offline, so grace periods go on */
			rcu_thread_offline();
			/* held packets: look again soon, the neighbour may come
			 * without a packet to wake us */
			pktio_wait(w->dp->io, w->id, w->nheld ? 1 : 100);
			rcu_thread_online();
			idle_since = 0;
		}
		rcu_quiescent_state();
	}
	rcu_unregister_thread();
	return NULL;
}

int fwd_worker_init(struct fwd_worker *w, struct fwd_dp *dp, unsigned id)
{
	int r;

	memset(w, 0, sizeof(*w));
	w->wake_fd = -1; /* fini after a failed init must not close fd 0 */
	w->dp = dp;
	w->id = id;
	w->punts.slots = calloc(FWD_RING_SLOTS, sizeof(struct fwd_slot));
	w->injects.slots = calloc(FWD_RING_SLOTS, sizeof(struct fwd_slot));
	if (!w->punts.slots || !w->injects.slots)
		return -ENOMEM;
	w->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->wake_fd < 0)
		return -errno;
	if ((r = pktio_set_wake_fd(dp->io, id, w->wake_fd)) < 0 ||
	    (r = shm_table_reader_register(dp->fixed, &w->fixed_rd)) < 0 ||
	    (r = shm_snap_reader_register(dp->snap, &w->snap_rd)) < 0 ||
	    (dp->fwdstats && (r = shm_table_reader_register(dp->fwdstats, &w->fwdstats_rd)) < 0))
		return r;
	return 0;
}

void fwd_worker_fini(struct fwd_worker *w)
{
	shm_table_reader_unregister(&w->fixed_rd);
	shm_rcu_unregister(&w->snap_rd);
	if (w->dp->fwdstats)
		shm_table_reader_unregister(&w->fwdstats_rd);
	if (w->wake_fd >= 0)
		close(w->wake_fd);
	free(w->punts.slots);
	free(w->injects.slots);
	w->punts.slots = w->injects.slots = NULL;
}
