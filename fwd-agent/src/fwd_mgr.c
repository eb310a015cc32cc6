// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "common/log.h"
#include "common/zsock.h"
#include "fwd_mgr.h"

#define RX_BATCH 64

static const char *const ctr_names[] = { FWD_MGR_CTR_LIST(LOOM_XSTR) };

const char *fwd_mgr_ctr_str(enum fwd_mgr_ctr c)
{
	return (unsigned)c < FWD_MGR__COUNT ? ctr_names[c] : "?";
}

struct mgr {
	struct fwd_mgrs *all;
	unsigned idx;
	struct fwd_mgr_cfg cfg;
	void *sock;              /* DEALER to the manager */
	void *mon;               /* PAIR receiving the socket's connection events */
	struct ev_handle *rx, *monh, *hello_retry;
	unsigned hello_tries;
	bool connected;
	bool heard;              /* a heartbeat came from this manager */
	double tokens;
	uint64_t refill_ms;
	uint64_t hb_seq;
	uint64_t ctr[FWD_MGR__COUNT];
};

struct fwd_mgrs {
	struct ev_loop *loop;
	void *zctx;
	struct fwd_aff *aff;
	uint64_t caps;
	fwd_deliver_fn *deliver;
	void *deliver_arg;
	uint64_t instance, generation;
	struct msg_identity identity;
	unsigned n;
	struct mgr m[FWD_MAX_MANAGERS];
	struct ev_handle *hb;
	_Atomic bool ready;      /* every manager has sent a heartbeat */
	struct msg in, out;      /* big: kept here, not on the stack */
	uint8_t buf[MSG_MAX_SIZE];
	uint8_t txbuf[MSG_MAX_SIZE];
};

/* ---- sending -------------------------------------------------------------- */

/* A message to be signed starts with a security segment (msg_sign fills it). */
static void init_out(struct mgr *g, struct msg *m, enum msg_type type)
{
	msg_init(m, type);
	if (g->cfg.auth_key_len) {
		struct msg_security *sec = &msg_add(m, MSG_S_SECURITY, true)->u.security;
		sec->type = MSG_SEC_HMAC_SHA256;
		sec->len = MSG_HMAC_LEN;
	}
}

static int send_msg(struct mgr *g, const struct msg *m)
{
	struct fwd_mgrs *all = g->all;
	struct msg_err err;
	size_t len;
	int r = msg_encode(m, all->txbuf, sizeof(all->txbuf), &len, &err);

	if (r < 0) {
		char why[MSG_ERR_STR_LEN];
		g->ctr[FWD_MGR_TX_FAIL]++;
		return log_debug_errno(-EINVAL, "encode for manager %u: %s", g->idx,
				       msg_err_str(&err, why, sizeof(why)));
	}
	if (g->cfg.auth_key_len &&
	    msg_sign(all->txbuf, len, g->cfg.auth_key, g->cfg.auth_key_len) < 0) {
		g->ctr[FWD_MGR_TX_FAIL]++;
		return -EINVAL;
	}
	if (zmq_send(g->sock, all->txbuf, len, ZMQ_DONTWAIT) < 0) {
		g->ctr[FWD_MGR_TX_FAIL]++;
		return -errno;
	}
	g->ctr[FWD_MGR_TX]++;
	return 0;
}

static void send_hello(struct mgr *g);

static void on_hello_retry(struct ev_loop *loop, void *arg, int what)
{
	(void)loop;
	(void)what;
	send_hello(arg);
}

static void send_hello(struct mgr *g)
{
	struct msg *m = &g->all->out;

	init_out(g, m, MSG_T_HELLO);
	struct msg_hello *h = &msg_add(m, MSG_S_HELLO, true)->u.hello;
	h->role = MSG_ROLE_FWD_AGENT;
	h->caps = g->all->caps;
	h->instance = g->all->instance;
	h->generation = g->all->generation;
	h->vmin = MSG_VERSION;
	h->vmax = MSG_VERSION;
	msg_add(m, MSG_S_IDENTITY, true)->u.identity = g->all->identity;
	int r = send_msg(g, m);
	if (r == 0) {
		g->ctr[FWD_MGR_HELLOS]++;
	} else if (r == -EAGAIN && g->connected && g->hello_tries++ < 50) {
		/* the pipe may attach a moment after the handshake event */
		ev_timer_add(g->all->loop, 10, on_hello_retry, g, &g->hello_retry);
	}
}

static void send_error(struct mgr *g, const struct msg_err *err, const char *text)
{
	struct msg *m = &g->all->out;

	msg_build_error(m, err, text, NULL, g->cfg.auth_key_len != 0);
	send_msg(g, m);
}

/* ---- receiving ------------------------------------------------------------ */

/* Where a returned packet resumes the wildcard search. An ip-packet-only
 * message cannot name a precedence (docs/protocol.md): INT64_MIN tells the
 * worker to resume below its manager's wildcard that matches the packet
 * (fwd_pipe.c resume_rank); rank 0 ended a cascade through an observing
 * service there. */
static int64_t rank_of(const struct msg *m)
{
	const struct msg_seg *s = msg_find(m, MSG_S_SERVICE_PREC);

	if (m->type == MSG_T_IP_PACKET)
		return INT64_MIN;
	return s ? aff_rank(s->u.service_prec.value,
			    s->u.service_prec.order == MSG_ORDER_LOWER_BETTER)
		 : 0;
}

static void deliver_packet(struct mgr *g, const struct msg *m)
{
	const struct msg_seg *p = msg_find(m, MSG_S_IP_PACKET);

	if (!p || !g->all->deliver)
		return;
	/* the packet must meet every update its manager sent before it (a
	 * wildcard deleted just before the return, say), and so must the
	 * input it lets in under pcap-sync: publish now, not after the batch */
	fwd_aff_publish(g->all->aff, ev_now_ms());
	g->ctr[FWD_MGR_RETURNED]++;
	g->all->deliver(g->all->deliver_arg, (uint16_t)g->idx, p->u.ip_packet.data,
			p->u.ip_packet.len, rank_of(m));
}

static void handle(struct mgr *g, const struct msg *m)
{
	struct fwd_mgrs *all = g->all;
	struct msg_action_list deny;
	enum fwd_upd u;

	switch (m->type) {
	case MSG_T_UPDATE_WILDCARD:
	case MSG_T_UPDATE_FIXED:
		u = fwd_aff_apply(all->aff, (uint16_t)g->idx, m, ev_now_ms(), &deny);
		if (u == FWD_UPD_DENIED) {
			struct msg *out = &all->out;
			if (msg_build_deny(m, &deny, out, g->cfg.auth_key_len != 0) == 0 &&
			    send_msg(g, out) == 0)
				g->ctr[FWD_MGR_DENIES]++;
			break;
		}
		if (u != FWD_UPD_APPLIED && u != FWD_UPD_DELETED)
			log_debug("manager %u: %s update %s", g->idx, msg_type_name(m->type),
				  fwd_upd_str(u));
		/* the packet that came back with it goes out after its actions,
		 * unless the update was not applied: then it takes the normal path */
		deliver_packet(g, m);
		break;
	case MSG_T_IP_PACKET:
		deliver_packet(g, m);
		break;
	case MSG_T_HEARTBEAT:
		if (!g->heard) {
			bool every = true;
			g->heard = true;
			for (unsigned i = 0; i < all->n; i++)
				every &= all->m[i].heard;
			/* publish what came before it first: a worker that sees
			 * ready reads its next input packet at once */
			if (every) {
				fwd_aff_publish(all->aff, ev_now_ms());
				atomic_store(&all->ready, true);
				log_notice("every manager heard: their affinities are in "
					   "the table");
			}
		}
		break;
	case MSG_T_HELLO:
		break;
	case MSG_T_ERROR: {
		const struct msg_seg *e = msg_find(m, MSG_S_ERROR);
		log_warn("manager %u (%s) reports an error: %s", g->idx, g->cfg.endpoint,
			 e ? e->u.error.text : "(no text)");
		break;
	}
	default: {
		struct msg_err err = { .code = MSG_E_MSG_TYPE, .msg_type = m->type, .seg_index = -1,
				       .seg_type = -1, .field = -1 };
		send_error(g, &err, "not a message an agent accepts");
		g->ctr[FWD_MGR_RX_BAD]++;
		break;
	}
	}
}

static void on_readable(struct ev_loop *loop, void *arg, int what)
{
	struct mgr *g = arg;
	struct fwd_mgrs *all = g->all;

	(void)loop;
	(void)what;
	/* a bounded batch: whatever is left makes zmq_poll return at once */
	for (unsigned i = 0; i < RX_BATCH; i++) {
		struct msg_err err;
		int n = zmq_recv(g->sock, all->buf, sizeof(all->buf), ZMQ_DONTWAIT);
		int r;

		if (n < 0)
			break;
		g->ctr[FWD_MGR_RX]++;
		if ((size_t)n > sizeof(all->buf)) {
			g->ctr[FWD_MGR_RX_BAD]++;
			continue; /* truncated by zmq_recv: over the protocol's size cap */
		}
		if (g->cfg.auth_key_len)
			r = msg_decode_verified(all->buf, (size_t)n, g->cfg.auth_key,
						g->cfg.auth_key_len, &all->in, &err);
		else
			r = msg_decode(all->buf, (size_t)n, &all->in, &err);
		if (r < 0) {
			char why[MSG_ERR_STR_LEN];
			g->ctr[FWD_MGR_RX_BAD]++;
			log_debug("manager %u: refused: %s", g->idx, msg_err_str(&err, why, sizeof(why)));
			/* a failed authentication gets no answer: the sender may be anyone */
			if (err.code != MSG_E_AUTH && err.code != MSG_E_NOAUTH)
				send_error(g, &err, NULL);
			continue;
		}
		handle(g, &all->in);
	}
	/* make the batch's wildcards visible to the workers now, not at the
	 * next sweep: a manager's heartbeat after its updates means "applied" */
	fwd_aff_publish(all->aff, ev_now_ms());
}

static void on_monitor(struct ev_loop *loop, void *arg, int what)
{
	struct mgr *g = arg;

	(void)loop;
	(void)what;
	for (unsigned i = 0; i < RX_BATCH; i++) {
		uint8_t ev[6];
		char addr[256];
		uint16_t event;

		if (zmq_recv(g->mon, ev, sizeof(ev), ZMQ_DONTWAIT) != (int)sizeof(ev))
			return;
		/* second frame: the endpoint */
		if (zmq_recv(g->mon, addr, sizeof(addr), ZMQ_DONTWAIT) < 0)
			return;
		memcpy(&event, ev, sizeof(event));
		/* the connection is usable once the ZMTP handshake is done: a
		 * hello sent at CONNECTED would be refused (ZMQ_IMMEDIATE) */
		if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
			g->connected = true;
			log_notice("manager %u connected: %s", g->idx, g->cfg.endpoint);
			g->hello_tries = 0;
			send_hello(g);
		} else if (event == ZMQ_EVENT_DISCONNECTED) {
			if (g->connected)
				log_notice("manager %u disconnected: %s", g->idx, g->cfg.endpoint);
			g->connected = false;
			ev_cancel(&g->hello_retry);
		}
	}
}

static void on_heartbeat(struct ev_loop *loop, void *arg, int what)
{
	struct fwd_mgrs *all = arg;

	(void)loop;
	(void)what;
	for (unsigned i = 0; i < all->n; i++) {
		struct mgr *g = &all->m[i];
		struct msg *m = &all->out;

		if (!g->connected)
			continue;
		init_out(g, m, MSG_T_HEARTBEAT);
		struct msg_heartbeat *h = &msg_add(m, MSG_S_HEARTBEAT, true)->u.heartbeat;
		h->seq = ++g->hb_seq;
		h->mono_ms = ev_now_ms();
		send_msg(g, m);
	}
}

/* ---- interest matches ------------------------------------------------------- */

static bool take_token(struct mgr *g, uint64_t now_ms)
{
	if (g->cfg.punt_rate == 0)
		return true; /* unlimited */
	if (now_ms > g->refill_ms) {
		g->tokens += (double)(now_ms - g->refill_ms) * g->cfg.punt_rate / 1000.0;
		if (g->tokens > g->cfg.punt_burst)
			g->tokens = g->cfg.punt_burst;
		g->refill_ms = now_ms;
	}
	if (g->tokens < 1.0)
		return false;
	g->tokens -= 1.0;
	return true;
}

int fwd_mgr_punt(struct fwd_mgrs *all, const struct fwd_punt *p, uint64_t now_ms)
{
	if (p->owner >= all->n)
		return -EINVAL;
	struct mgr *g = &all->m[p->owner];
	struct msg *m = &all->out;

	if (!take_token(g, now_ms)) {
		g->ctr[FWD_MGR_PUNTS_LIMITED]++;
		return -EAGAIN;
	}
	init_out(g, m, p->fixed ? MSG_T_MATCH_FIXED : MSG_T_MATCH_WILDCARD);
	struct msg_affinity_id *id = &msg_add(m, MSG_S_AFFINITY_ID, true)->u.affinity_id;
	id->dispatch = p->dispatch;
	id->info = p->info;
	id->key = p->key;
	id->reasons = p->reasons;
	if (!p->fixed) {
		id->present = MSG_AID_SMASK | MSG_AID_DMASK;
		memcpy(id->smask, p->smask, 16);
		memcpy(id->dmask, p->dmask, 16);
	}
	if (p->mgr_len) {
		struct msg_interest_data *d = &msg_add(m, MSG_S_MGR_INTEREST, false)->u.mgr_interest;
		d->len = p->mgr_len;
		memcpy(d->data, p->mgr_data, p->mgr_len);
	}
	if (p->packet) {
		struct msg_ip_packet *ip = &msg_add(m, MSG_S_IP_PACKET, false)->u.ip_packet;
		ip->data = p->packet;
		ip->len = p->packet_len;
	}
	int r = send_msg(g, m);
	if (r == 0)
		g->ctr[FWD_MGR_PUNTS]++;
	return r;
}

uint64_t fwd_mgr_counter(const struct fwd_mgrs *all, unsigned mgr, enum fwd_mgr_ctr c)
{
	return mgr < all->n && (unsigned)c < FWD_MGR__COUNT ? all->m[mgr].ctr[c] : 0;
}

bool fwd_mgrs_ready(struct fwd_mgrs *all)
{
	return all->n == 0 || atomic_load(&all->ready);
}

bool fwd_mgr_connected(const struct fwd_mgrs *all, unsigned mgr)
{
	return mgr < all->n && all->m[mgr].connected;
}

/* ---- set-up ------------------------------------------------------------------ */

static int open_one(struct fwd_mgrs *all, const struct fwd_mgrs_cfg *cfg, unsigned i)
{
	struct mgr *g = &all->m[i];
	char monaddr[64];
	int r;

	g->all = all;
	g->idx = i;
	g->cfg = cfg->mgr[i];
	g->tokens = g->cfg.punt_burst;
	g->refill_ms = ev_now_ms();
	g->sock = zmq_socket(all->zctx, ZMQ_DEALER);
	if (!g->sock)
		return -errno;
	/* nothing queued for a manager we are not connected to: a stale punt is
	 * worse than none, the agent asks again when traffic returns */
	if ((r = zsock_set_int(g->sock, ZMQ_LINGER, 0)) < 0 ||
	    (r = zsock_set_int(g->sock, ZMQ_IMMEDIATE, 1)) < 0)
		return r;
	if (zsock_is_tcp(g->cfg.endpoint) &&
	    (r = zsock_curve_client(g->sock, g->cfg.server_key, cfg->public_key,
				    cfg->secret_key)) < 0)
		return log_errno(r, "manager %u: CurveZMQ keys", i);
	/* unique for the process's lifetime: a closed monitor's inproc name can
	 * outlive it, and a new fwd_mgrs may sit at the same address */
	static _Atomic unsigned serial;
	snprintf(monaddr, sizeof(monaddr), "inproc://fwd-mgr-mon-%u-%u", atomic_fetch_add(&serial, 1),
		 i);
	if (zmq_socket_monitor(g->sock, monaddr,
			       ZMQ_EVENT_CONNECTED | ZMQ_EVENT_DISCONNECTED |
				       ZMQ_EVENT_HANDSHAKE_SUCCEEDED) < 0)
		return -errno;
	g->mon = zmq_socket(all->zctx, ZMQ_PAIR);
	if (!g->mon || zmq_connect(g->mon, monaddr) < 0)
		return -errno;
	if ((r = ev_zmq_reader_add(all->loop, g->mon, on_monitor, g, &g->monh)) < 0 ||
	    (r = ev_zmq_reader_add(all->loop, g->sock, on_readable, g, &g->rx)) < 0)
		return r;
	if (zmq_connect(g->sock, g->cfg.endpoint) < 0)
		return log_errno(-errno, "manager %u: connect %s", i, g->cfg.endpoint);
	return 0;
}

int fwd_mgrs_open(struct ev_loop *loop, void *zctx, const struct fwd_mgrs_cfg *cfg,
		  struct fwd_aff *aff, uint64_t caps, fwd_deliver_fn *deliver, void *arg,
		  struct fwd_mgrs **out)
{
	struct fwd_mgrs *all = calloc(1, sizeof(*all));
	int r = 0;

	if (!all)
		return -ENOMEM;
	if (cfg->n > FWD_MAX_MANAGERS) {
		free(all);
		return -EINVAL;
	}
	all->loop = loop;
	all->zctx = zctx;
	all->aff = aff;
	all->caps = caps;
	all->deliver = deliver;
	all->deliver_arg = arg;
	all->instance = cfg->instance;
	all->generation = cfg->generation;
	all->identity = cfg->identity;
	if (!all->identity.host[0] && gethostname(all->identity.host, sizeof(all->identity.host) - 1))
		snprintf(all->identity.host, sizeof(all->identity.host), "loom-fwd-agent");
	all->n = cfg->n;
	for (unsigned i = 0; i < cfg->n && r == 0; i++)
		r = open_one(all, cfg, i);
	if (r == 0 && cfg->heartbeat_ms)
		r = ev_timer_periodic_add(loop, cfg->heartbeat_ms, on_heartbeat, all, &all->hb);
	if (r < 0) {
		fwd_mgrs_close(all);
		return r;
	}
	*out = all;
	return 0;
}

void fwd_mgrs_close(struct fwd_mgrs *all)
{
	if (!all)
		return;
	ev_cancel(&all->hb);
	for (unsigned i = 0; i < all->n; i++) {
		struct mgr *g = &all->m[i];
		ev_cancel(&g->rx);
		ev_cancel(&g->monh);
		ev_cancel(&g->hello_retry);
		if (g->sock) {
			zmq_socket_monitor(g->sock, NULL, 0);
			zmq_close(g->sock);
		}
		if (g->mon)
			zmq_close(g->mon);
	}
	free(all);
}
