// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The manager's decisions (seed 001, ARCHITECTURE.md sections 1-4).
 *
 * Wildcards. Every service attracts the packets it must see with wildcard
 * affinities sent to every agent: for load balancing, client -> virtual
 * address:port (one per client prefix) and, for the reply direction, real
 * server:port -> client (one per backend and client prefix), so that an
 * agent that sees only the replies of a flow (asymmetric routing) asks too;
 * for the NAT gateway, inside network -> anywhere and anywhere -> pool.
 * Every wildcard carries manager interest data naming the service and the
 * direction, so a punt is dispatched without a search.
 *
 * The first packet. Its key is looked up in the flow table, which holds
 * every flow under the keys of both its directions. Found: the agent gets
 * the flow's fixed affinities as they are (seed 001's synchronisation
 * point: any agent that sees a flow gets the same answer). Not found in the
 * original direction: decide (persistence, then the scheduler; or a pool
 * mapping), record the flow, send the reply direction's fixed affinity,
 * then the original direction's with the packet. Not found in the reply
 * direction: nothing of ours; the packet goes back unchanged (load
 * balancing) or is dropped unless its pool endpoint has a mapping (NAT:
 * endpoint-independent filtering).
 *
 * Connection state comes from interest matches the fixed affinities ask
 * for: SYN in the reply direction (the answer: established), FIN and RST
 * both ways. After FIN both ways or an RST the flow is kept for the sticky
 * time, so the last ACK (or a browser's RST) still finds its translation,
 * then its affinities are withdrawn (TTL 0) from every agent that holds
 * them and the record goes.
 *
 * Renewal. An agent forgets a fixed affinity TTL seconds after it got it;
 * if the flow is still alive its next packet misses, matches the wildcard
 * and comes here, and the answer comes from the flow table (no new
 * decision): one round trip per flow per fixed-ttl, only for flows that
 * still carry traffic, and nothing at all is sent to refresh idle ones. The
 * record itself lives for the protocol's idle timeout after its last touch.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/affinity.h"
#include "common/log.h"
#include "common/pkt.h"
#include "svc_mgr.h"

#define SWEEP_BATCH 256
#define SWEEP_MAX_PER_TICK (64 * SWEEP_BATCH) /* bounds one tick's work (~10 ms) */

static const char *const ctr_names[] = { SVC_CTR_LIST(LOOM_XSTR) };

const char *svc_ctr_str(enum svc_ctr c)
{
	return (unsigned)c < SVC_C__COUNT ? ctr_names[c] : "?";
}

/* ---- manager interest data ---------------------------------------------------- */

static void mgrdata_put(struct msg_interest_data *d, uint32_t svc_id, uint8_t dir)
{
	d->len = SVC_MGRDATA_LEN;
	d->data[0] = SVC_MGRDATA_MAGIC;
	d->data[1] = dir;
	for (unsigned i = 0; i < 4; i++)
		d->data[2 + i] = (uint8_t)(svc_id >> (8 * i));
}

static int mgrdata_get(const struct msg *in, uint32_t *svc_id, uint8_t *dir)
{
	const struct msg_seg *s = msg_find(in, MSG_S_MGR_INTEREST);

	if (!s || s->u.mgr_interest.len != SVC_MGRDATA_LEN ||
	    s->u.mgr_interest.data[0] != SVC_MGRDATA_MAGIC || s->u.mgr_interest.data[1] > 1)
		return -EINVAL;
	const uint8_t *d = s->u.mgr_interest.data;
	*dir = d[1];
	*svc_id = (uint32_t)d[2] | (uint32_t)d[3] << 8 | (uint32_t)d[4] << 16 |
		  (uint32_t)d[5] << 24;
	return 0;
}

/* ---- building messages -------------------------------------------------------- */

static struct msg *start(struct svc_mgr *m, enum msg_type type)
{
	struct msg *o = &m->out;

	msg_init(o, type);
	if (m->cfg->auth.len) {
		struct msg_security *sec = &msg_add(o, MSG_S_SECURITY, true)->u.security;
		sec->type = MSG_SEC_HMAC_SHA256;
		sec->len = MSG_HMAC_LEN;
	}
	return o;
}

static void add_precedence(struct msg *o, bool lower_better, uint32_t value, uint32_t backup)
{
	struct msg_service_prec *sp = &msg_add(o, MSG_S_SERVICE_PREC, true)->u.service_prec;
	sp->order = lower_better ? MSG_ORDER_LOWER_BETTER : MSG_ORDER_HIGHER_BETTER;
	sp->value = value;
	msg_add(o, MSG_S_BACKUP_PREC, true)->u.backup_prec.value = backup;
}

static int tx(struct svc_mgr *m, struct svc_agent *a, struct msg *o)
{
	int r = m->send(m, a, o);

	if (r < 0)
		m->ctr[SVC_C_TX_FAIL]++;
	return r;
}

/* The address masks of "one host" and "any address of the family". */
static const uint8_t host_mask[16] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
				       0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
static const uint8_t v4_family_mask[16] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
					    0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
static const uint8_t v4_any[16] = { [10] = 0xff, [11] = 0xff };

static void any_of(bool v4, uint8_t addr[16], uint8_t mask[16])
{
	memcpy(addr, v4 ? v4_any : (const uint8_t[16]){ 0 }, 16);
	memcpy(mask, v4 ? v4_family_mask : (const uint8_t[16]){ 0 }, 16);
}

/* ---- wildcards ---------------------------------------------------------------- */

static uint32_t wildcard_ttl_s(const struct svc_mgr *m)
{
	return (uint32_t)(m->cfg->wildcard_ttl_ms / 1000);
}

static unsigned client_prefixes(const struct svc_service *s, uint8_t addr[][16],
				uint8_t mask[][16])
{
	if (!s->cfg.n_clients) {
		any_of(s->v4, addr[0], mask[0]);
		return 1;
	}
	for (unsigned i = 0; i < s->cfg.n_clients; i++) {
		memcpy(addr[i], s->cfg.clients[i].addr, 16);
		memcpy(mask[i], s->cfg.clients[i].mask, 16);
	}
	return s->cfg.n_clients;
}

/*
 * Hot standby: lower backup precedence is better. A standby announces its
 * wildcards HA_STANDBY above the configured value, an active HA_EPOCHS
 * above it less its epoch, so every takeover's active beats the wildcards
 * its lost predecessor left at the agents (they go with their TTL), without
 * waiting for them to expire. Saturates after HA_EPOCHS takeovers.
 */
#define HA_EPOCHS 1000u
#define HA_STANDBY 2000u

uint32_t svc_core_backup(const struct svc_service *s)
{
	const struct svc_mgr *m = s->mgr;
	uint32_t add, base = s->cfg.backup_precedence;

	if (!m || !m->ha)
		return base;
	add = m->standby ? HA_STANDBY : HA_EPOCHS - (m->epoch < HA_EPOCHS ? m->epoch : HA_EPOCHS);
	return base > UINT32_MAX - add ? UINT32_MAX : base + add;
}

static void wc_init(struct svc_wc *wc, const struct svc_service *s, uint8_t dir)
{
	memset(wc, 0, sizeof(*wc));
	wc->dir = dir;
	key_init(&wc->w.key);
	wc->w.key.proto = s->proto;
	wc->prec = s->cfg.precedence;
	wc->prec_lower = (uint8_t)s->cfg.precedence_order;
	wc->backup = svc_core_backup(s);
}

/* The wildcards a service needs now (what its configuration and backends say). */
static unsigned service_wildcards(const struct svc_service *s, struct svc_wc *out)
{
	uint8_t ca[SVC_MAX_PREFIXES][16], cm[SVC_MAX_PREFIXES][16];
	unsigned nc = client_prefixes(s, ca, cm), n = 0;

	/* a removed service keeps its wildcards while flows use it: the agents
	 * ask again when a fixed affinity runs out, and accept one only with a
	 * wildcard of ours behind it */
	if (!s->active && s->active_flows == 0)
		return 0;
	for (unsigned c = 0; c < nc; c++) {
		struct svc_wc *w;
		if (s->cfg.type == SVC_TYPE_NAT) {
			w = &out[n++];
			wc_init(w, s, FLOW_DIR_ORIG);
			memcpy(w->w.key.saddr, ca[c], 16);
			memcpy(w->w.smask, cm[c], 16);
			any_of(s->v4, w->w.key.daddr, w->w.dmask);
			continue;
		}
		w = &out[n++];
		wc_init(w, s, FLOW_DIR_ORIG);
		memcpy(w->w.key.saddr, ca[c], 16);
		memcpy(w->w.smask, cm[c], 16);
		memcpy(w->w.key.daddr, s->cfg.address, 16);
		memcpy(w->w.dmask, host_mask, 16);
		w->w.key.dport = htons(s->cfg.port);
		if (s->cfg.type != SVC_TYPE_LB)
			continue;
		for (unsigned b = 0; b < s->nb; b++) {
			w = &out[n++];
			wc_init(w, s, FLOW_DIR_REPLY);
			memcpy(w->w.key.saddr, s->backends[b].addr, 16);
			memcpy(w->w.smask, host_mask, 16);
			w->w.key.sport = htons(s->backends[b].port);
			memcpy(w->w.key.daddr, ca[c], 16);
			memcpy(w->w.dmask, cm[c], 16);
		}
	}
	if (s->cfg.type == SVC_TYPE_NAT)
		for (unsigned p = 0; p < s->cfg.n_pool; p++) {
			struct svc_wc *w = &out[n++];
			wc_init(w, s, FLOW_DIR_REPLY);
			any_of(s->v4, w->w.key.saddr, w->w.smask);
			memcpy(w->w.key.daddr, s->cfg.pool[p].addr, 16);
			memcpy(w->w.dmask, s->cfg.pool[p].mask, 16);
		}
	for (unsigned i = 0; i < n; i++)
		for (unsigned k = 0; k < 16; k++) {
			out[i].w.key.saddr[k] &= out[i].w.smask[k];
			out[i].w.key.daddr[k] &= out[i].w.dmask[k];
		}
	return n;
}

static void send_wildcard(struct svc_mgr *m, struct svc_agent *a, const struct svc_service *s,
			  const struct svc_wc *wc, uint32_t ttl)
{
	struct msg *o = start(m, MSG_T_UPDATE_WILDCARD);
	struct msg_wildcard *w = &msg_add(o, MSG_S_WILDCARD, true)->u.wildcard;

	*w = wc->w;
	w->ttl = ttl;
	/* the precedence it was sent with: the agent knows a wildcard by its
	 * criteria and precedence, and a withdrawal must name the same */
	add_precedence(o, wc->prec_lower, wc->prec, wc->backup);
	mgrdata_put(&msg_add(o, MSG_S_MGR_INTEREST, true)->u.mgr_interest, s->id, wc->dir);
	if (tx(m, a, o) == 0)
		m->ctr[SVC_C_WILDCARDS_SENT]++;
}

static void for_agents(struct svc_mgr *m, struct svc_agent *only,
		       void (*fn)(struct svc_mgr *m, struct svc_agent *a, void *arg), void *arg)
{
	if (only) {
		fn(m, only, arg);
		return;
	}
	for (unsigned i = 0; i < SVC_MAX_AGENTS; i++)
		if (m->agents[i].live)
			fn(m, &m->agents[i], arg);
}

static bool agent_can(const struct svc_agent *a, enum msg_seg_type action);

static bool is_host_agent(const struct svc_mgr *m, const struct svc_agent *a);

/*
 * Which wildcards go to agent a: all of them, except to a host agent (the
 * agent on a backend's host, seed 002), which gets only the reply
 * wildcards of the backends it hosts: it sees nothing else of the service,
 * and a fixed affinity needs a wildcard of ours behind it there too.
 */
static bool wc_for(const struct svc_agent *a, bool host, const struct svc_service *s,
		   const struct svc_wc *wc)
{
	if (!host)
		return true;
	if (wc->dir != FLOW_DIR_REPLY)
		return false;
	for (unsigned b = 0; b < s->nb; b++)
		if (s->backends[b].host_agent == a->instance &&
		    !memcmp(s->backends[b].addr, wc->w.key.saddr, 16) &&
		    htons(s->backends[b].port) == wc->w.key.sport)
			return true;
	return false;
}

static void wildcards_to(struct svc_mgr *m, struct svc_agent *a, void *arg)
{
	bool host = is_host_agent(m, a);

	(void)arg;
	for (unsigned i = 0; i < m->nsvcs; i++) {
		const struct svc_service *s = m->svcs[i];
		/* an agent that cannot translate would deny every decision */
		if (s->cfg.type != SVC_TYPE_OBSERVE && !agent_can(a, MSG_S_ACT_NAT))
			continue;
		for (unsigned k = 0; k < s->nwc; k++)
			if (wc_for(a, host, s, &s->wc[k]))
				send_wildcard(m, a, s, &s->wc[k], wildcard_ttl_s(m));
	}
}

/* Is it the same wildcard for an agent: the same criteria and precedence
 * (fwd_aff.c knows a wildcard by these, whatever its interest data)? */
static bool wc_same(const struct svc_wc *a, const struct svc_wc *b)
{
	return !memcmp(&a->w, &b->w, sizeof(a->w)) && a->prec == b->prec &&
	       a->prec_lower == b->prec_lower && a->backup == b->backup;
}

struct withdraw_arg {
	const struct svc_service *s;
	const struct svc_wc *gone;
	unsigned n;
};

static void withdraw_to(struct svc_mgr *m, struct svc_agent *a, void *arg)
{
	const struct withdraw_arg *x = arg;
	bool host = is_host_agent(m, a);

	for (unsigned k = 0; k < x->n; k++)
		if (wc_for(a, host, x->s, &x->gone[k]))
			send_wildcard(m, a, x->s, &x->gone[k], 0);
}

/* Is w in set? */
static bool wc_in(const struct svc_wc *w, const struct svc_wc *set, unsigned n)
{
	for (unsigned j = 0; j < n; j++)
		if (wc_same(w, &set[j]))
			return true;
	return false;
}

/*
 * Recompute each service's wildcards; what went away is withdrawn (TTL 0)
 * from every agent, unless another service still sends the same one (two
 * services sharing a backend share its reply wildcard at the agent).
 */
void svc_core_withdraw(struct svc_mgr *m)
{
	struct svc_wc *now[SVC_MAX_SERVICES * 2] = { NULL };
	unsigned nnow[SVC_MAX_SERVICES * 2] = { 0 };
	struct svc_wc *gone = malloc(sizeof(*gone) * SVC_MAX_WC);
	bool ok = gone != NULL;

	for (unsigned i = 0; ok && i < m->nsvcs; i++) {
		now[i] = malloc(sizeof(*now[i]) * SVC_MAX_WC);
		ok = now[i] != NULL;
		if (ok)
			nnow[i] = service_wildcards(m->svcs[i], now[i]);
	}
	if (!ok) {
		log_err("withdrawing wildcards: out of memory");
		goto out;
	}
	for (unsigned i = 0; i < m->nsvcs; i++) {
		struct svc_service *s = m->svcs[i];
		unsigned ng = 0;

		for (unsigned k = 0; k < s->nwc; k++) {
			bool kept = false;
			for (unsigned j = 0; j < m->nsvcs && !kept; j++)
				kept = wc_in(&s->wc[k], now[j], nnow[j]);
			if (!kept)
				gone[ng++] = s->wc[k];
		}
		if (ng) {
			struct withdraw_arg x = { .s = s, .gone = gone, .n = ng };
			for_agents(m, NULL, withdraw_to, &x);
		}
	}
	/* only now take the new sets: every service's old wildcards above
	 * must be compared with every service's new set (a set moved into
	 * its service early would be NULL for the services after it) */
	for (unsigned i = 0; i < m->nsvcs; i++) {
		struct svc_service *s = m->svcs[i];

		free(s->wc);
		s->wc = now[i];
		s->nwc = nnow[i];
		now[i] = NULL;
		if (!s->active && !s->nwc)
			s->withdrawn = true;
	}
out:
	for (unsigned i = 0; i < m->nsvcs; i++)
		free(now[i]);
	free(gone);
}

void svc_core_wildcards(struct svc_mgr *m, struct svc_agent *a)
{
	for_agents(m, a, wildcards_to, NULL);
	/* a host agent (back): hand it the reply translations it should hold */
	if (a && is_host_agent(m, a))
		svc_core_direct_refresh(m);
}

/* ---- fixed affinities --------------------------------------------------------- */

static bool agent_can(const struct svc_agent *a, enum msg_seg_type action)
{
	return (a->caps & MSG_CAP(action)) && !(a->no_caps & MSG_CAP(action));
}

/* The NAT a direction of a flow needs. */
static void flow_nat(const struct flow_rec *r, uint8_t dir, struct msg_nat *nat)
{
	bool icmp = flow_proto_is_icmp(r->proto);

	memset(nat, 0, sizeof(*nat));
	if (r->type == FLOW_T_LB) {
		if (dir == FLOW_DIR_ORIG) {      /* client -> VIP becomes client -> server */
			nat->present = MSG_NAT_DADDR;
			memcpy(nat->daddr, r->in_local.addr, 16);
			if (!icmp && r->in_local.port) {
				nat->present |= MSG_NAT_DPORT;
				nat->dport = r->in_local.port;
			}
		} else {                         /* server -> client becomes VIP -> client */
			nat->present = MSG_NAT_SADDR;
			memcpy(nat->saddr, r->in_global.addr, 16);
			if (!icmp && r->in_global.port) {
				nat->present |= MSG_NAT_SPORT;
				nat->sport = r->in_global.port;
			}
		}
	} else if (r->type == FLOW_T_NAT) {
		if (dir == FLOW_DIR_ORIG) {      /* inside -> server becomes pool -> server */
			nat->present = MSG_NAT_SADDR | MSG_NAT_SPORT;
			memcpy(nat->saddr, r->in_global.addr, 16);
			nat->sport = r->in_global.port;
		} else if (icmp) {               /* echo reply: pool id back to inside id */
			nat->present = MSG_NAT_DADDR | MSG_NAT_SPORT;
			memcpy(nat->daddr, r->in_local.addr, 16);
			nat->sport = r->in_local.port;
		} else {                         /* server -> pool becomes server -> inside */
			nat->present = MSG_NAT_DADDR | MSG_NAT_DPORT;
			memcpy(nat->daddr, r->in_local.addr, 16);
			nat->dport = r->in_local.port;
		}
	}
}

/*
 * Send one direction's fixed affinity of r to agent a, with ttl, carrying
 * packet back if not NULL. A TTL 0 withdraws it (no actions needed then).
 * Without translate, the affinity only lets the packets pass (with the
 * interest criteria): a host agent's reply affinity while the replies go
 * through the ingress agent.
 */
static void send_fixed_as(struct svc_mgr *m, struct svc_agent *a, const struct svc_service *s,
			  const struct flow_rec *r, uint8_t dir, uint32_t ttl,
			  const struct msg_ip_packet *packet, bool translate)
{
	struct flow_key ko, kr;
	struct msg *o = start(m, MSG_T_UPDATE_FIXED);
	struct msg_fixed *f = &msg_add(o, MSG_S_FIXED, true)->u.fixed;

	flow_rec_keys(r, &ko, &kr);
	f->key = dir == FLOW_DIR_ORIG ? ko : kr;
	f->ttl = ttl;
	if (s)
		add_precedence(o, s->cfg.precedence_order, s->cfg.precedence,
			       svc_core_backup(s));
	mgrdata_put(&msg_add(o, MSG_S_MGR_INTEREST, true)->u.mgr_interest, r->svc_id, dir);
	if (ttl && translate && (r->type == FLOW_T_LB || r->type == FLOW_T_NAT))
		flow_nat(r, dir, &msg_add(o, MSG_S_ACT_NAT, true)->u.nat);
	bool track = ttl && r->proto == 6 && !(r->flags & FLOW_F_NO_INTEREST) && s &&
		     s->cfg.track && r->type != FLOW_T_PASS;
	/* a host agent's pass-through reply affinity counts the bytes the
	 * service waits for before it hands the translation over */
	bool count = ttl && !translate && dir == FLOW_DIR_REPLY && s &&
		     s->cfg.direct_return == SVC_DIRECT_BYTES && !(r->flags & FLOW_F_BYTES);
	if ((track || count) && agent_can(a, MSG_S_ACT_INTEREST)) {
		/* not Required: an agent without interest criteria still translates */
		struct msg_interest *in = &msg_add(o, MSG_S_ACT_INTEREST, false)->u.interest;
		if (track)
			in->mask = MSG_INT_FIN | MSG_INT_RST |
				   (dir == FLOW_DIR_REPLY ? MSG_INT_SYN : 0);
		if (count) {
			in->present |= MSG_INTEREST_BYTES;
			in->bytes = (uint32_t)s->cfg.direct_bytes;
		}
		memcpy(in->addr, m->cfg->address, 16);
	}
	if (packet)
		msg_add(o, MSG_S_IP_PACKET, true)->u.ip_packet = *packet;
	if (tx(m, a, o) == 0)
		m->ctr[ttl ? SVC_C_FIXED_SENT : SVC_C_WITHDRAWN]++;
}

static void send_fixed(struct svc_mgr *m, struct svc_agent *a, const struct svc_service *s,
		       const struct flow_rec *r, uint8_t dir, uint32_t ttl,
		       const struct msg_ip_packet *packet)
{
	send_fixed_as(m, a, s, r, dir, ttl, packet, true);
}

static void return_packet(struct svc_mgr *m, struct svc_agent *a,
			  const struct msg_ip_packet *packet)
{
	struct msg *o = start(m, MSG_T_IP_PACKET);

	msg_add(o, MSG_S_IP_PACKET, true)->u.ip_packet = *packet;
	tx(m, a, o);
}

/* ---- flows -------------------------------------------------------------------- */

static uint64_t idle_timeout(const struct svc_mgr *m, const struct flow_rec *r)
{
	switch (r->proto) {
	case 6:
		return r->state == FLOW_S_NEW ? m->cfg->tcp_new_timeout_ms : m->cfg->tcp_timeout_ms;
	case 17:
		return m->cfg->udp_timeout_ms;
	case 1:
	case 58:
		return m->cfg->icmp_timeout_ms;
	default:
		return m->cfg->udp_timeout_ms;
	}
}

static uint32_t fixed_ttl(const struct svc_mgr *m, const struct flow_rec *r)
{
	uint64_t t = m->cfg->fixed_ttl_ms, idle = idle_timeout(m, r);

	if (idle < t)
		t = idle;
	return (uint32_t)((t + 999) / 1000);
}

/* Record stays at least until the agents' copies are surely gone (TTL + 2 s). */
static void touch(const struct svc_mgr *m, struct flow_rec *r, uint64_t now)
{
	uint64_t idle = idle_timeout(m, r), copies = (uint64_t)r->ttl_s * 1000 + 3000;

	r->touched_ms = now;
	if (r->state < FLOW_S_CLOSING)
		r->expires_ms = now + (idle > copies ? idle : copies);
}

static void remember_agent(struct flow_rec *r, const struct svc_agent *a)
{
	unsigned free_slot = FLOW_MAX_AGENTS;

	for (unsigned i = 0; i < FLOW_MAX_AGENTS; i++) {
		if (r->agents[i] == a->id)
			return;
		if (!r->agents[i] && free_slot == FLOW_MAX_AGENTS)
			free_slot = i;
	}
	/* more agents than slots: the oldest is forgotten (its copy simply runs out) */
	if (free_slot == FLOW_MAX_AGENTS) {
		memmove(&r->agents[0], &r->agents[1], sizeof(r->agents[0]) * (FLOW_MAX_AGENTS - 1));
		free_slot = FLOW_MAX_AGENTS - 1;
	}
	r->agents[free_slot] = a->id;
}

/* Both directions to agent a, the one the packet belongs to last, with it. */
static void send_flow(struct svc_mgr *m, struct svc_agent *a, const struct svc_service *s,
		      const struct flow_rec *r, uint8_t pkt_dir, const struct msg_ip_packet *packet)
{
	uint8_t other = pkt_dir == FLOW_DIR_ORIG ? FLOW_DIR_REPLY : FLOW_DIR_ORIG;

	send_fixed(m, a, s, r, other, r->ttl_s, NULL);
	send_fixed(m, a, s, r, pkt_dir, r->ttl_s, packet);
}

static void ep_set(struct flow_ep *e, const uint8_t addr[16], uint16_t port_be)
{
	memset(e, 0, sizeof(*e));
	memcpy(e->addr, addr, 16);
	e->port = port_be;
}

static void rec_init(struct svc_mgr *m, struct flow_rec *r, const struct svc_service *s,
		     uint8_t type, uint8_t proto, uint64_t now)
{
	memset(r, 0, sizeof(*r));
	r->type = type;
	r->proto = proto;
	r->state = proto == 6 ? FLOW_S_NEW : FLOW_S_EST;
	r->svc_id = s->id;
	r->owner = m->instance;
	r->created_ms = now;
	r->ttl_s = fixed_ttl(m, r);
}

static void release_flow(struct svc_mgr *m, const struct flow_rec *r);
static void withdraw_flow(struct svc_mgr *m, const struct flow_rec *r);

/*
 * A full table under a flood of SYNs: half-open flows (new, no answer for
 * a second) make room, established ones never do. A sample from a rotating
 * position, like the agent's eviction: the table is not searched whole.
 */
#define EVICT_SAMPLE 4096u
#define EVICT_MAX 64u
#define EVICT_MIN_AGE_MS 1000u

struct evict_ctx {
	uint64_t now;
	unsigned n;
	struct flow_rec r[EVICT_MAX];
};

static int evict_cb(const struct flow_key *orig, const struct flow_rec *r, void *arg)
{
	struct evict_ctx *x = arg;

	(void)orig;
	if (r->state != FLOW_S_NEW || r->proto != 6 || r->created_ms + EVICT_MIN_AGE_MS > x->now)
		return 0;
	x->r[x->n++] = *r;
	return x->n == EVICT_MAX;
}

static unsigned evict_half_open(struct svc_mgr *m, uint64_t now)
{
	static struct evict_ctx x;

	x.now = now;
	x.n = 0;
	svc_flows_walk(m->flows, &m->evict_pos, EVICT_SAMPLE, evict_cb, &x);
	for (unsigned i = 0; i < x.n; i++) {
		withdraw_flow(m, &x.r[i]);
		release_flow(m, &x.r[i]);
		svc_flows_del(m->flows, &x.r[i]);
	}
	if (x.n) {
		m->ctr[SVC_C_EVICTED] += x.n;
		svc_flows_reclaim(m->flows);
	}
	return x.n;
}

static int store_new(struct svc_mgr *m, struct flow_rec *r)
{
	int e = svc_flows_insert(m->flows, r);

	if (e == -ENOSPC) {
		svc_flows_reclaim(m->flows);
		e = svc_flows_insert(m->flows, r);
	}
	if (e == -ENOSPC && evict_half_open(m, r->created_ms))
		e = svc_flows_insert(m->flows, r);
	if (e == -EEXIST)
		m->ctr[SVC_C_COLLISION]++;
	else if (e < 0)
		m->ctr[SVC_C_TABLE_FULL]++;
	return e;
}

static void backend_conn(struct svc_service *s, uint32_t backend_id, int delta)
{
	if (!s->lb)
		return;
	int i = svc_lb_find(s->lb, backend_id);
	if (i >= 0)
		svc_lb_conn(s->lb, (unsigned)i, delta);
}

/* A new load-balanced flow: persistence, then the scheduler. */
static int decide_lb(struct svc_mgr *m, struct svc_service *s, const struct flow_key *k,
		     uint64_t now, struct flow_rec *r)
{
	int idx = -ENOENT;
	uint32_t id;

	if (s->persist && svc_lb_persist_get(s->persist, k->saddr, now, &id) == 0) {
		idx = svc_lb_find(s->lb, id);
		if (idx >= 0) {
			const struct svc_lb_backend *b = svc_lb_backend(s->lb, (unsigned)idx);
			if (!b->up || !b->weight)
				idx = -ENOENT;
		}
	}
	if (idx < 0)
		idx = svc_lb_pick(s->lb, k);
	if (idx < 0) {
		m->ctr[SVC_C_NO_BACKEND]++;
		s->dropped++;
		return idx;
	}
	const struct svc_lb_backend *lb = svc_lb_backend(s->lb, (unsigned)idx);
	struct svc_backend *b = svc_model_backend(s, lb->id);
	if (!b)
		return -ENOENT;
	rec_init(m, r, s, FLOW_T_LB, k->proto, now);
	r->backend_id = b->id;
	ep_set(&r->out_local, k->saddr, k->sport);
	r->out_global = r->out_local;
	ep_set(&r->in_global, k->daddr, k->dport);
	ep_set(&r->in_local, b->addr, flow_proto_is_icmp(k->proto) ? 0 : htons(b->port));
	if (!b->port) /* a service of every port: the server gets the client's port */
		r->in_local.port = k->dport;
	if (s->persist)
		svc_lb_persist_put(s->persist, k->saddr, b->id, now + s->cfg.persistence_ms);
	b->decided++;
	return 0;
}

static int decide_nat(struct svc_mgr *m, struct svc_service *s, const struct flow_key *k,
		      uint64_t now, struct flow_rec *r)
{
	struct svc_nat_ep in = { .port = ntohs(k->sport) }, out;
	int e;

	memcpy(in.addr, k->saddr, 16);
	if ((e = svc_natpool_map(s->pool, k->proto, &in, &out)) < 0) {
		m->ctr[e == -ENOSPC ? SVC_C_POOL_FULL : SVC_C_BAD_PUNT]++;
		s->dropped++;
		return e;
	}
	rec_init(m, r, s, FLOW_T_NAT, k->proto, now);
	ep_set(&r->in_local, k->saddr, k->sport);
	ep_set(&r->in_global, out.addr, htons(out.port));
	ep_set(&r->out_local, k->daddr, k->dport);
	r->out_global = r->out_local;
	return 0;
}

/* A NAT flow's share of its mapping. */
static void nat_release(struct svc_service *s, const struct flow_rec *r)
{
	if (r->type != FLOW_T_NAT || !s->pool)
		return;
	struct svc_nat_ep in = { .port = ntohs(r->in_local.port) };
	memcpy(in.addr, r->in_local.addr, 16);
	svc_natpool_release(s->pool, r->proto, &in);
}

static void release_flow(struct svc_mgr *m, const struct flow_rec *r)
{
	struct svc_service *s = svc_model_find(m, r->svc_id);

	if (!s)
		return;
	if (!(r->flags & FLOW_F_COUNTED))
		return; /* nothing of ours to give back (recovery could not count it) */
	backend_conn(s, r->backend_id, -1);
	if (s->active_flows)
		s->active_flows--;
	nat_release(s, r);
}

static struct svc_agent *agent_by_id(struct svc_mgr *m, uint64_t id)
{
	for (unsigned i = 0; i < SVC_MAX_AGENTS; i++)
		if (m->agents[i].live && m->agents[i].id == id)
			return &m->agents[i];
	return NULL;
}

static struct svc_agent *host_of(struct svc_mgr *m, struct svc_service *s,
				 const struct flow_rec *r);

/* Withdraw both fixed affinities of r from every agent that may hold them
 * (a host agent holds only the reply's). */
static void withdraw_flow(struct svc_mgr *m, const struct flow_rec *r)
{
	struct svc_service *s = svc_model_find(m, r->svc_id);
	struct svc_agent *host = host_of(m, s, r);

	for (unsigned i = 0; i < FLOW_MAX_AGENTS; i++) {
		struct svc_agent *a = r->agents[i] ? agent_by_id(m, r->agents[i]) : NULL;
		if (!a)
			continue;
		if (a != host)
			send_fixed(m, a, s, r, FLOW_DIR_ORIG, 0, NULL);
		send_fixed(m, a, s, r, FLOW_DIR_REPLY, 0, NULL);
	}
}

/* ---- direct return (host agents, seed 002) ---------------------------------------- */

static bool is_host_agent(const struct svc_mgr *m, const struct svc_agent *a)
{
	for (unsigned i = 0; i < m->nsvcs; i++)
		for (unsigned b = 0; b < m->svcs[i]->nb; b++)
			if (m->svcs[i]->backends[b].host_agent == a->instance)
				return true;
	return false;
}

/* The live host agent of r's backend, if it has one. */
static struct svc_agent *host_of(struct svc_mgr *m, struct svc_service *s,
				 const struct flow_rec *r)
{
	const struct svc_backend *b;

	if (!s || r->type != FLOW_T_LB || !(b = svc_model_backend(s, r->backend_id)) ||
	    !b->host_agent)
		return NULL;
	for (unsigned i = 0; i < SVC_MAX_AGENTS; i++)
		if (m->agents[i].live && m->agents[i].instance == b->host_agent)
			return &m->agents[i];
	return NULL;
}

/* Should r's replies be translated on the backend's host now? */
static bool wants_direct(const struct svc_service *s, const struct flow_rec *r)
{
	switch (s->cfg.direct_return) {
	case SVC_DIRECT_ALWAYS:
		return true;
	case SVC_DIRECT_ESTABLISHED:
		return r->state >= FLOW_S_EST;
	case SVC_DIRECT_BYTES:
		return (r->flags & FLOW_F_BYTES) != 0;
	default:
		return false;
	}
}

/*
 * Give host agent h r's reply affinity as the service wants it now: with
 * the translation (the host sends the replies straight to the client), or
 * without (they pass, to be translated by the ingress agent). Both carry
 * the interest criteria, so the flow's state follows the replies wherever
 * they go. Updates r's flags; the caller stores r.
 */
static void send_host(struct svc_mgr *m, struct svc_agent *h, const struct svc_service *s,
		      struct flow_rec *r, const struct msg_ip_packet *packet)
{
	bool direct = wants_direct(s, r), was = r->flags & FLOW_F_DIRECT;

	send_fixed_as(m, h, s, r, FLOW_DIR_REPLY, r->ttl_s, packet, direct);
	remember_agent(r, h);
	if (direct)
		r->flags |= FLOW_F_DIRECT;
	else
		r->flags &= (uint16_t)~FLOW_F_DIRECT;
	if (direct && !was)
		m->ctr[SVC_C_DIRECT_HANDED]++;
	else if (!direct && was)
		m->ctr[SVC_C_DIRECT_TAKEN]++;
}

/* Flows whose reply translation is not where it should be. */
static bool direct_off(const struct flow_rec *r, void *arg)
{
	struct svc_mgr *m = arg;
	struct svc_service *s;

	if (r->type != FLOW_T_LB || r->owner != m->instance || r->state >= FLOW_S_CLOSING ||
	    !(s = svc_model_find(m, r->svc_id)))
		return false;
	struct svc_agent *h = host_of(m, s, r);
	bool want = h && wants_direct(s, r), have = r->flags & FLOW_F_DIRECT;
	return want != have;
}

static void direct_fix(struct flow_rec *r, void *arg)
{
	struct svc_mgr *m = arg;
	struct svc_service *s = svc_model_find(m, r->svc_id);
	struct svc_agent *h = host_of(m, s, r);

	if (h) {
		send_host(m, h, s, r, NULL);
	} else {
		/* its host agent is gone: the kernel there forwards the replies
		 * the normal way, and the ingress agent translates them (asking
		 * us if its copy ran out) */
		r->flags &= (uint16_t)~FLOW_F_DIRECT;
		m->ctr[SVC_C_DIRECT_FALLBACK]++;
	}
	svc_flows_put(m->flows, r);
}

void svc_core_direct_refresh(struct svc_mgr *m)
{
	if (svc_flows_each(m->flows, direct_off, direct_fix, m) < 0)
		log_err("direct return: out of memory walking the flows");
}

void svc_core_agent_lost(struct svc_mgr *m, struct svc_agent *a)
{
	if (is_host_agent(m, a))
		svc_core_direct_refresh(m);
}

/* ---- punts -------------------------------------------------------------------- */

/*
 * The key a punted packet belongs to. An ICMP error belongs to the flow of
 * the packet it quotes, in the other direction, as the agent keys it
 * (fwd_pipe.c classify): *icmp_err says so, and such a packet is answered
 * from the flow table only, never decided.
 */
static int punt_key(const struct pkt_view *v, const uint8_t *p, struct flow_key *k,
		    bool *icmp_err)
{
	*icmp_err = false;
	if (v->flags & PKT_F_ICMP_ERR) {
		struct pkt_quote q;
		struct flow_key qk;
		if (pkt_icmp_quote(v, p, &q, &qk) == 0) {
			key_reverse(k, &qk);
			*icmp_err = true;
			return 0;
		}
	}
	return pkt_key(v, p, k);
}

static bool unicast(const uint8_t a[16])
{
	if (key_addr_is_v4(a))
		return a[12] < 224 && !(a[12] == 255 && a[13] == 255 && a[14] == 255 && a[15] == 255);
	return a[0] != 0xff;
}

static bool in_prefixes(const struct cfg_prefix *p, unsigned n, bool v4, const uint8_t a[16])
{
	if (!n) /* no client domain: the whole family */
		return key_addr_is_v4(a) == v4;
	for (unsigned i = 0; i < n; i++)
		if (aff_masked_eq(p[i].addr, p[i].mask, a))
			return true;
	return false;
}

/* Does the service's wildcard of direction dir cover k (as the agent's
 * match would)? */
static bool service_covers(const struct svc_service *s, uint8_t dir, const struct flow_key *k)
{
	const struct svc_service_cfg *c = &s->cfg;

	if (s->proto && k->proto != s->proto)
		return false;
	if (c->type == SVC_TYPE_NAT)
		return dir == FLOW_DIR_ORIG ?
			       in_prefixes(c->clients, c->n_clients, s->v4, k->saddr) :
			       c->n_pool && in_prefixes(c->pool, c->n_pool, s->v4, k->daddr);
	if (dir == FLOW_DIR_ORIG)
		return !memcmp(k->daddr, c->address, 16) && (!c->port || k->dport == htons(c->port)) &&
		       in_prefixes(c->clients, c->n_clients, s->v4, k->saddr);
	if (!in_prefixes(c->clients, c->n_clients, s->v4, k->daddr))
		return false;
	for (unsigned b = 0; b < s->nb; b++)
		if (!memcmp(k->saddr, s->backends[b].addr, 16) &&
		    (!s->backends[b].port || k->sport == htons(s->backends[b].port)))
			return true;
	return false;
}

static void on_punt(struct svc_mgr *m, struct svc_agent *a, const struct msg *in)
{
	const struct msg_seg *ps = msg_find(in, MSG_S_IP_PACKET);
	uint64_t now = ev_now_ms();
	struct pkt_view v;
	struct flow_key k;
	struct flow_rec r;
	uint32_t svc_id;
	uint8_t dir;
	bool icmp_err;

	m->ctr[SVC_C_PUNTS]++;
	a->punts++;
	if (!ps || mgrdata_get(in, &svc_id, &dir) < 0 ||
	    pkt_parse_l3(ps->u.ip_packet.data, ps->u.ip_packet.len, &v) < 0 ||
	    punt_key(&v, ps->u.ip_packet.data, &k, &icmp_err) < 0) {
		m->ctr[SVC_C_BAD_PUNT]++;
		return;
	}
	const struct msg_ip_packet *pkt = &ps->u.ip_packet;
	struct svc_service *s = svc_model_find(m, svc_id);

	/* A flow we know, whoever asks and whichever direction: the same answer. */
	if (svc_flows_get(m->flows, &k, &r) == 0 && r.owner == m->instance) {
		struct svc_service *fs = svc_model_find(m, r.svc_id);
		uint8_t pdir = r.dir;
		if (r.type == FLOW_T_SEEN) {
			m->ctr[SVC_C_OBSERVED]++;
			return_packet(m, a, pkt);
			return;
		}
		touch(m, &r, now);
		if (pdir == FLOW_DIR_REPLY && host_of(m, fs, &r) == a) {
			/* the backend's host agent: only the reply is its own */
			send_host(m, a, fs, &r, pkt);
			svc_flows_put(m->flows, &r);
		} else {
			remember_agent(&r, a);
			svc_flows_put(m->flows, &r);
			send_flow(m, a, fs, &r, pdir, pkt);
		}
		m->ctr[SVC_C_ANSWERED]++;
		if (fs)
			fs->answered++;
		return;
	}
	if (m->standby) {
		/* the active decides; a standby only answers what it holds (an
		 * agent whose best wildcard is ours: the sender retransmits) */
		m->ctr[SVC_C_STANDBY_DROPPED]++;
		return;
	}
	if (icmp_err) {
		/* an error about a flow we do not know: not ours to decide */
		m->ctr[SVC_C_PASSED]++;
		return_packet(m, a, pkt);
		return;
	}
	if (!s) {
		/* a wildcard of a service we no longer have: let the packet go on */
		m->ctr[SVC_C_UNKNOWN_SVC]++;
		return_packet(m, a, pkt);
		return;
	}
	if (!service_covers(s, dir, &k)) {
		/* not what this service's wildcard lets through: a confused
		 * (or hostile) agent must not make us create flows */
		m->ctr[SVC_C_BAD_PUNT]++;
		return_packet(m, a, pkt);
		return;
	}
	if (dir == FLOW_DIR_REPLY) {
		if (s->cfg.type == SVC_TYPE_NAT) {
			/* inbound to a pool endpoint with a mapping: a new flow of
			 * that inside endpoint (endpoint-independent filtering) */
			struct svc_nat_ep out = { .port = ntohs(k.dport) }, inside;
			memcpy(out.addr, k.daddr, 16);
			if (k.proto == 6 && (v.tcp_flags & 0x12) != 0x02) {
				m->ctr[SVC_C_NOT_SYN]++;
				return;
			}
			if (!s->active || svc_natpool_lookup_outside(s->pool, k.proto, &out, &inside) < 0) {
				m->ctr[SVC_C_NO_MAPPING]++;
				return;
			}
			struct svc_nat_ep o2; /* the same mapping: one more flow uses it */
			if (svc_natpool_map(s->pool, k.proto, &inside, &o2) < 0)
				return;
			rec_init(m, &r, s, FLOW_T_NAT, k.proto, now);
			ep_set(&r.in_local, inside.addr, htons(inside.port));
			ep_set(&r.in_global, out.addr, k.dport);
			ep_set(&r.out_local, k.saddr, k.sport);
			r.out_global = r.out_local;
			goto record;
		}
		m->ctr[SVC_C_PASSED]++;
		return_packet(m, a, pkt);
		return;
	}
	if (!s->active) {
		m->ctr[SVC_C_UNKNOWN_SVC]++;
		return_packet(m, a, pkt);
		return;
	}
	if (s->cfg.type == SVC_TYPE_OBSERVE) {
		rec_init(m, &r, s, FLOW_T_SEEN, k.proto, now);
		ep_set(&r.out_local, k.saddr, k.sport);
		r.out_global = r.out_local;
		ep_set(&r.in_global, k.daddr, k.dport);
		r.in_local = r.in_global;
		touch(m, &r, now);
		if (store_new(m, &r) == 0) {
			s->decided++;
			m->ctr[SVC_C_OBSERVED]++;
		}
		return_packet(m, a, pkt);
		return;
	}
	if (k.proto == 6 && (!(v.flags & PKT_F_L4) || (v.tcp_flags & 0x12) != 0x02)) {
		m->ctr[SVC_C_NOT_SYN]++; /* no flow and not a SYN: never start one */
		return;
	}
	if (s->cfg.type == SVC_TYPE_NAT && !unicast(k.daddr)) {
		/* multicast and broadcast stay on the inside network (a NAT
		 * gateway of "any" protocol sees a host's IGMP, MLD, mDNS) */
		m->ctr[SVC_C_PASSED]++;
		return_packet(m, a, pkt);
		return;
	}
	if (s->cfg.type == SVC_TYPE_LB) {
		if (decide_lb(m, s, &k, now, &r) < 0)
			return;
	} else if (decide_nat(m, s, &k, now, &r) < 0) {
		return;
	}
record:
	if (!s->cfg.track || !agent_can(a, MSG_S_ACT_INTEREST)) {
		/* no SYN-ACK will tell us: take it as established, or an idle
		 * connection would go at tcp-new-timeout */
		r.flags |= FLOW_F_NO_INTEREST;
		r.state = FLOW_S_EST;
	}
	remember_agent(&r, a);
	touch(m, &r, now);
	r.flags |= FLOW_F_COUNTED;
	if (store_new(m, &r) < 0) {
		nat_release(s, &r);
		return;
	}
	backend_conn(s, r.backend_id, +1);
	s->active_flows++;
	s->decided++;
	m->ctr[SVC_C_DECIDED]++;
	struct svc_agent *h = s->cfg.direct_return != SVC_DIRECT_NEVER ? host_of(m, s, &r) : NULL;
	if (h && h != a) {
		/* first, so the host has it before the server can answer */
		send_host(m, h, s, &r, NULL);
		svc_flows_put(m->flows, &r);
	}
	send_flow(m, a, s, &r, dir, pkt);
}

/* ---- interest matches on fixed affinities -------------------------------------- */

static void on_interest(struct svc_mgr *m, struct svc_agent *a, const struct msg *in)
{
	const struct msg_seg *is = msg_find(in, MSG_S_AFFINITY_ID);
	const struct msg_seg *ps = msg_find(in, MSG_S_IP_PACKET);
	struct flow_rec r;
	uint64_t now = ev_now_ms();

	m->ctr[SVC_C_INTEREST]++;
	if (!is || svc_flows_get(m->flows, &is->u.affinity_id.key, &r) < 0 ||
	    r.owner != m->instance) {
		m->ctr[SVC_C_INTEREST_NOFLOW]++;
		if (ps) /* held: let it go on */
			return_packet(m, a, &ps->u.ip_packet);
		return;
	}
	uint16_t why = is->u.affinity_id.reasons;
	if ((why & MSG_INT_SYN) && r.state >= FLOW_S_FIN) {
		/* The client reused the port while the old connection's affinities
		 * were still held (sticky): its SYN took them to the same backend,
		 * which answered. A new connection of the same tuple: reopen the
		 * flow (as conntrack does with a SYN in TIME_WAIT), or the sweep
		 * would withdraw its affinities under it. */
		r.flags &= (uint16_t)~(FLOW_F_FIN_ORIG | FLOW_F_FIN_REPLY | FLOW_F_RST);
		r.state = FLOW_S_NEW;
		m->ctr[SVC_C_REOPENED]++;
	}
	if (why & MSG_INT_RST)
		r.flags |= FLOW_F_RST;
	if (why & MSG_INT_FIN)
		r.flags |= r.dir == FLOW_DIR_ORIG ? FLOW_F_FIN_ORIG : FLOW_F_FIN_REPLY;
	if ((why & MSG_INT_SYN) && r.dir == FLOW_DIR_REPLY && r.state == FLOW_S_NEW)
		r.state = FLOW_S_EST;
	if (why & MSG_INT_BYTES)
		r.flags |= FLOW_F_BYTES;
	if (r.state < FLOW_S_CLOSING &&
	    ((r.flags & FLOW_F_RST) ||
	     (r.flags & (FLOW_F_FIN_ORIG | FLOW_F_FIN_REPLY)) == (FLOW_F_FIN_ORIG | FLOW_F_FIN_REPLY))) {
		r.state = FLOW_S_CLOSING;
		r.expires_ms = now + m->cfg->sticky_ms;
	} else if (r.state < FLOW_S_FIN && (r.flags & (FLOW_F_FIN_ORIG | FLOW_F_FIN_REPLY))) {
		r.state = FLOW_S_FIN;
	}
	remember_agent(&r, a);
	if (r.state < FLOW_S_CLOSING)
		touch(m, &r, now);
	/* the handshake done (or the byte count reached): the host's turn */
	struct svc_service *fs = svc_model_find(m, r.svc_id);
	struct svc_agent *h = fs ? host_of(m, fs, &r) : NULL;
	if (h && !(r.flags & FLOW_F_DIRECT) && wants_direct(fs, &r))
		send_host(m, h, fs, &r, NULL);
	svc_flows_put(m->flows, &r);
	if (ps)
		return_packet(m, a, &ps->u.ip_packet);
}

/* ---- update-deny ----------------------------------------------------------------- */

static void on_deny(struct svc_mgr *m, struct svc_agent *a, const struct msg *in)
{
	const struct msg_seg *ls = msg_find(in, MSG_S_ACTION_LIST);
	const struct msg_seg *fs = msg_find(in, MSG_S_FIXED);
	bool essential = false;

	m->ctr[SVC_C_DENIED]++;
	if (!ls)
		return;
	for (unsigned i = 0; i < ls->u.action_list.n; i++) {
		uint8_t t = ls->u.action_list.a[i].type;
		if (t < 64)
			a->no_caps |= MSG_CAP(t);
		if (t == MSG_S_ACT_NAT)
			essential = true;
	}
	if (essential) {
		log_warn("agent %s (%016llx) cannot translate addresses: unusable for "
			 "load balancing and NAT", a->identity.host,
			 (unsigned long long)a->instance);
		return;
	}
	/* Retry without what it lacks: the flow's affinity again, now without. */
	struct flow_rec r;
	if (fs && svc_flows_get(m->flows, &fs->u.fixed.key, &r) == 0 && r.owner == m->instance) {
		r.flags |= FLOW_F_NO_INTEREST;
		svc_flows_put(m->flows, &r);
		send_fixed(m, a, svc_model_find(m, r.svc_id), &r, r.dir, r.ttl_s, NULL);
		m->ctr[SVC_C_RETRIED]++;
	}
}

void svc_core_on_msg(struct svc_mgr *m, struct svc_agent *a, const struct msg *in)
{
	switch (in->type) {
	case MSG_T_MATCH_WILDCARD:
		on_punt(m, a, in);
		break;
	case MSG_T_MATCH_FIXED:
		on_interest(m, a, in);
		break;
	case MSG_T_UPDATE_DENY:
		on_deny(m, a, in);
		break;
	case MSG_T_ERROR:
		m->ctr[SVC_C_ERRORS_RX]++;
		break;
	default:
		m->ctr[SVC_C_RX_UNEXPECTED]++;
		break;
	}
}

/* ---- expiry ---------------------------------------------------------------------- */

struct sweep_ctx {
	uint64_t now;
	unsigned n;
	struct flow_rec dead[SWEEP_BATCH];
};

static int sweep_cb(const struct flow_key *orig, const struct flow_rec *r, void *arg)
{
	struct sweep_ctx *x = arg;

	(void)orig;
	if (r->expires_ms > x->now)
		return 0;
	if (x->n == SWEEP_BATCH)
		return 1;
	x->dead[x->n++] = *r;
	return 0;
}

void svc_core_sweep(struct svc_mgr *m, uint64_t now)
{
	static struct sweep_ctx x;
	uint32_t budget = m->cfg->sweep_buckets, start = m->sweep_pos;
	unsigned removed = 0;

	if (m->standby)
		return; /* the active's deletions come by replication */

	/* batches of SWEEP_BATCH until the slice is walked: a tick clears
	 * whatever expired in it, not a fixed number of flows */
	do {
		x.now = now;
		x.n = 0;
		svc_flows_walk(m->flows, &m->sweep_pos, budget, sweep_cb, &x);
		for (unsigned i = 0; i < x.n; i++) {
			struct flow_rec *r = &x.dead[i];
			bool closing = r->state >= FLOW_S_CLOSING;
			/* copies may still be cached: a closed flow's, or one
			 * touched less than a TTL ago (a sticky end comes early) */
			if (closing || now < r->touched_ms + (uint64_t)r->ttl_s * 1000 + 2000)
				withdraw_flow(m, r);
			release_flow(m, r);
			svc_flows_del(m->flows, r);
			m->ctr[closing ? SVC_C_CLOSED : SVC_C_EXPIRED]++;
		}
		removed += x.n;
	} while (x.n == SWEEP_BATCH && m->sweep_pos != 0 && m->sweep_pos != start &&
		 removed < SWEEP_MAX_PER_TICK);
	if (removed)
		svc_flows_reclaim(m->flows);

	/* what drained: removed backends, removed services */
	bool changed = svc_model_prune(m);
	for (unsigned i = 0; i < m->nsvcs; i++)
		if (!m->svcs[i]->active && m->svcs[i]->nwc && m->svcs[i]->active_flows == 0)
			changed = true;
	if (changed)
		svc_core_withdraw(m);
	svc_model_gc(m);
}

/* ---- backends and recovery --------------------------------------------------------- */

void svc_core_backend_changed(struct svc_mgr *m, struct svc_backend *b)
{
	struct svc_service *s = b->svc;

	(void)m;
	if (s->lb)
		svc_lb_set_state(s->lb, b->id, b->weight, b->up);
	if (!b->up && s->persist)
		svc_lb_persist_forget_backend(s->persist, b->id);
}

/* Records recovery could not count (their service is gone, or their NAT
 * mapping is held by another): marked uncounted after the walk, so their
 * end never releases what others hold. */
struct recover_ctx {
	struct svc_mgr *m;
	struct flow_rec *uncount;
	size_t n, cap;
};

static void recover_uncount(struct recover_ctx *x, const struct flow_rec *r)
{
	if (x->n == x->cap) {
		size_t cap = x->cap ? 2 * x->cap : 64;
		struct flow_rec *p = realloc(x->uncount, cap * sizeof(*p));
		if (!p)
			return; /* counted as before: at worst a count drifts */
		x->uncount = p;
		x->cap = cap;
	}
	x->uncount[x->n++] = *r;
}

static int recover_cb(const struct flow_key *orig, const struct flow_rec *r, void *arg)
{
	struct recover_ctx *x = arg;
	struct svc_mgr *m = x->m;
	struct svc_service *s = svc_model_find(m, r->svc_id);

	(void)orig;
	if (r->owner != m->instance || !(r->flags & FLOW_F_COUNTED))
		return 0;
	if (!s) {
		recover_uncount(x, r);
		return 0;
	}
	if (r->type == FLOW_T_NAT && s->pool) {
		struct svc_nat_ep in = { .port = ntohs(r->in_local.port) };
		struct svc_nat_ep out = { .port = ntohs(r->in_global.port) };
		memcpy(in.addr, r->in_local.addr, 16);
		memcpy(out.addr, r->in_global.addr, 16);
		if (svc_natpool_restore(s->pool, r->proto, &in, &out) < 0) {
			log_warn("service %s: a recovered NAT mapping conflicts; its flow runs out",
				 s->cfg.name);
			recover_uncount(x, r);
			return 0;
		}
	}
	if (r->type == FLOW_T_LB && !svc_model_backend(s, r->backend_id) &&
	    svc_model_restore_backend(s, r->backend_id, r->in_local.addr,
				      s->cfg.port ? ntohs(r->in_local.port) : 0) < 0) {
		recover_uncount(x, r);
		return 0;
	}
	backend_conn(s, r->backend_id, +1);
	s->active_flows++;
	if (r->type == FLOW_T_LB && s->persist)
		svc_lb_persist_put(s->persist, r->out_local.addr, r->backend_id,
				   r->touched_ms + s->cfg.persistence_ms);
	return 0;
}

void svc_core_recover(struct svc_mgr *m)
{
	struct recover_ctx x = { .m = m };
	uint32_t pos = 0;
	unsigned n = 0;

	do
		n += svc_flows_walk(m->flows, &pos, 1u << 20, recover_cb, &x);
	while (pos);
	for (size_t i = 0; i < x.n; i++) {
		x.uncount[i].flags &= (uint16_t)~FLOW_F_COUNTED;
		svc_flows_put(m->flows, &x.uncount[i]);
	}
	free(x.uncount);
	if (n)
		log_notice("recovered %u flows from the flow table (%zu of services no longer "
			   "configured or with conflicting mappings)", n, x.n);
}

/* Timers restarted at takeover: the records carry the old active's times. */
static void retime(struct flow_rec *r, void *arg)
{
	struct svc_mgr *m = arg;
	uint64_t now = ev_now_ms();

	if (r->state >= FLOW_S_CLOSING)
		r->expires_ms = now + m->cfg->sticky_ms;
	else
		touch(m, r, now);
	svc_flows_put(m->flows, r);
}

void svc_core_takeover(struct svc_mgr *m)
{
	svc_core_recover(m);
	if (svc_flows_each(m->flows, NULL, retime, m) < 0)
		log_err("takeover: out of memory restarting the flows' timers");
	/* new precedence: the standby's wildcards are withdrawn under their
	 * old one, the active's sent */
	svc_core_withdraw(m);
	svc_core_wildcards(m, NULL);
	svc_core_direct_refresh(m);
}

int svc_core_init(struct svc_mgr *m)
{
	svc_core_withdraw(m); /* computes every service's wildcards */
	return 0;
}
