// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The manager's side of the agent channel (ARCHITECTURE.md section 3): one
 * ROUTER per configured endpoint (CurveZMQ and a ZAP handler admitting only
 * the configured agent keys on tcp://, filesystem permissions on ipc://).
 *
 * The envelope is checked here before the core sees anything: the routing
 * frame, the size, the authenticator when an auth key is configured
 * (verified before decoding), the codec's validation. A message the codec
 * refuses is answered with an error message; a message from a peer that has
 * not said hello is dropped and counted, except hello itself. Agents are
 * known by routing id; a hello with the instance of a known agent replaces
 * it (the agent restarted or reconnected) and gets every wildcard at once.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "common/log.h"
#include "common/str.h"
#include "common/zap.h"
#include "common/zsock.h"
#include "svc_mgr.h"

#define RX_BATCH 64
#define ZAP_DOMAIN "loom"

struct svc_agents {
	struct svc_mgr *m;
	void *zctx;
	void *sock[SVC_MAX_LISTEN];
	struct ev_handle *rx[SVC_MAX_LISTEN];
	unsigned nsock;
	struct zap *zap;
	uint64_t hb_seq;
	struct msg in;
	uint8_t rxbuf[MSG_MAX_SIZE + 1];
	uint8_t txbuf[MSG_MAX_SIZE];
};

/* ---- sending -------------------------------------------------------------- */

static int agent_send(struct svc_mgr *m, struct svc_agent *a, struct msg *msg)
{
	struct svc_agents *ag = m->send_arg;
	struct msg_err err;
	size_t len;

	if (!a->live)
		return -ENOTCONN;
	if (msg_encode(msg, ag->txbuf, sizeof(ag->txbuf), &len, &err) < 0) {
		char why[MSG_ERR_STR_LEN];
		return log_debug_errno(-EINVAL, "encode: %s", msg_err_str(&err, why, sizeof(why)));
	}
	if (m->cfg->auth.len && msg_sign(ag->txbuf, len, m->cfg->auth.key, m->cfg->auth.len) < 0)
		return -EINVAL;
	void *s = ag->sock[a->sock];
	if (zmq_send(s, a->rid, a->rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
	    zmq_send(s, ag->txbuf, len, ZMQ_DONTWAIT) < 0)
		return -errno;
	a->tx++;
	return 0;
}

static void send_heartbeat(struct svc_agents *ag, struct svc_agent *a)
{
	struct svc_mgr *m = ag->m;
	struct msg *o = &m->out;

	msg_init(o, MSG_T_HEARTBEAT);
	if (m->cfg->auth.len) {
		struct msg_security *sec = &msg_add(o, MSG_S_SECURITY, true)->u.security;
		sec->type = MSG_SEC_HMAC_SHA256;
		sec->len = MSG_HMAC_LEN;
	}
	struct msg_heartbeat *h = &msg_add(o, MSG_S_HEARTBEAT, true)->u.heartbeat;
	h->seq = ag->hb_seq;
	h->mono_ms = ev_now_ms();
	agent_send(m, a, o);
}

/* ---- agents ---------------------------------------------------------------- */

/* The agent behind a route: live, or forgotten for silence (stale). */
static struct svc_agent *by_rid(struct svc_mgr *m, unsigned sock, const uint8_t *rid,
				size_t len)
{
	for (unsigned i = 0; i < SVC_MAX_AGENTS; i++) {
		struct svc_agent *a = &m->agents[i];
		if ((a->live || a->stale) && a->sock == sock && a->rid_len == len &&
		    !memcmp(a->rid, rid, len))
			return a;
	}
	return NULL;
}

/*
 * Who an agent is: its instance and its identity together. Two routers
 * started from the same example configuration share an instance name; they
 * are still two agents, and flows remember both.
 */
static uint64_t agent_id(const struct msg_hello *h, const struct msg_identity *id)
{
	uint64_t x = loom_hash64(LOOM_HASH64_INIT, &h->instance, sizeof(h->instance));

	x = loom_hash64(x, id->host, strnlen(id->host, sizeof(id->host)));
	x = loom_hash64(x, id->addr, 16);
	return x ? x : 1; /* 0 is a free slot in a flow record */
}

/* A stale agent spoke again (it was only slow, or the link was): take it
 * back as it was and give it the wildcards it may have lost. */
static void revive(struct svc_agents *ag, struct svc_agent *a)
{
	a->stale = false;
	a->live = true;
	log_notice("agent %s (%016llx) is back", a->identity.host, (unsigned long long)a->id);
	send_heartbeat(ag, a);
	svc_core_wildcards(ag->m, a);
}

unsigned svc_agents_live(const struct svc_mgr *m)
{
	unsigned n = 0;

	for (unsigned i = 0; i < SVC_MAX_AGENTS; i++)
		n += m->agents[i].live;
	return n;
}

static void on_hello(struct svc_agents *ag, unsigned sock, const uint8_t *rid, size_t rid_len,
		     const struct msg *in)
{
	struct svc_mgr *m = ag->m;
	const struct msg_seg *hs = msg_find(in, MSG_S_HELLO);
	const struct msg_seg *is = msg_find(in, MSG_S_IDENTITY);
	const struct msg_hello *h = &hs->u.hello;
	struct svc_agent *a = by_rid(m, sock, rid, rid_len);

	m->ctr[SVC_C_HELLOS]++;
	if (h->role != MSG_ROLE_FWD_AGENT || MSG_VERSION < h->vmin || MSG_VERSION > h->vmax) {
		log_warn("hello from a peer that is not an agent of protocol version %u "
			 "(role %u, versions %u-%u): ignored", MSG_VERSION, h->role, h->vmin,
			 h->vmax);
		return;
	}
	static const struct msg_identity none;
	uint64_t id = agent_id(h, is ? &is->u.identity : &none);
	if (!a) {
		/* the same agent by another route (it restarted): forget the old one */
		for (unsigned i = 0; i < SVC_MAX_AGENTS; i++)
			if ((m->agents[i].live || m->agents[i].stale) && m->agents[i].id == id) {
				m->agents[i].live = false;
				m->agents[i].stale = false;
			} else if (m->agents[i].live && m->agents[i].instance == h->instance) {
				log_warn("agents %s and %s share the instance name hash %016llx: "
					 "give each its own instance", m->agents[i].identity.host,
					 is ? is->u.identity.host : "?",
					 (unsigned long long)h->instance);
			}
		for (unsigned i = 0; i < SVC_MAX_AGENTS && !a; i++)
			if (!m->agents[i].live && !m->agents[i].stale)
				a = &m->agents[i];
		for (unsigned i = 0; i < SVC_MAX_AGENTS && !a; i++)
			if (!m->agents[i].live) /* a stale one makes room */
				a = &m->agents[i];
		if (!a) {
			log_warn("more than %u agents: hello ignored", SVC_MAX_AGENTS);
			return;
		}
		memset(a, 0, sizeof(*a));
		memcpy(a->rid, rid, rid_len);
		a->rid_len = (uint8_t)rid_len;
		a->sock = (uint8_t)sock;
		a->live = true;
	}
	a->stale = false;
	a->live = true;
	a->id = id;
	a->instance = h->instance;
	a->generation = h->generation;
	a->caps = h->caps;
	a->no_caps = 0;
	if (is)
		a->identity = is->u.identity;
	a->last_heard_ms = ev_now_ms();
	log_notice("agent %s (%016llx, generation %llu) said hello", a->identity.host,
		   (unsigned long long)a->instance, (unsigned long long)a->generation);
	if (!(a->caps & MSG_CAP(MSG_S_ACT_NAT)))
		log_warn("agent %s cannot translate addresses: it will deny load balancing",
			 a->identity.host);
	send_heartbeat(ag, a);
	svc_core_wildcards(m, a);
}

static void refuse(struct svc_agents *ag, struct svc_agent *a, const struct msg_err *err)
{
	struct svc_mgr *m = ag->m;
	char why[MSG_ERR_STR_LEN];

	m->ctr[SVC_C_RX_BAD]++;
	/* Formatted here, not inside log_debug(): that macro evaluates its
	 * arguments only when debug logging is on, and the error message
	 * below carries this text, so it went out as stack garbage. */
	msg_err_str(err, why, sizeof(why));
	log_debug("refused a message: %s", why);
	if (!a || err->code == MSG_E_AUTH || err->code == MSG_E_NOAUTH)
		return; /* never talk back to what failed authentication */
	msg_build_error(&m->out, err, why, NULL, m->cfg->auth.len != 0);
	agent_send(m, a, &m->out);
}

static void on_message(struct svc_agents *ag, unsigned sock, const uint8_t *rid, size_t rid_len,
		       const uint8_t *buf, size_t len)
{
	struct svc_mgr *m = ag->m;
	struct svc_agent *a = by_rid(m, sock, rid, rid_len);
	struct msg_err err;
	int r;

	if (m->cfg->auth.len)
		r = msg_decode_verified(buf, len, m->cfg->auth.key, m->cfg->auth.len, &ag->in, &err);
	else
		r = msg_decode(buf, len, &ag->in, &err);
	if (r < 0) {
		refuse(ag, a, &err);
		return;
	}
	if (ag->in.type == MSG_T_HELLO) {
		on_hello(ag, sock, rid, rid_len, &ag->in);
		return;
	}
	if (!a) {
		m->ctr[SVC_C_RX_UNEXPECTED]++; /* not said hello (yet) */
		return;
	}
	if (a->stale)
		revive(ag, a);
	a->rx++;
	a->last_heard_ms = ev_now_ms();
	if (ag->in.type == MSG_T_HEARTBEAT)
		return;
	svc_core_on_msg(m, a, &ag->in);
}

static void on_rx(struct ev_loop *loop, void *arg, int what)
{
	struct svc_agents *ag = arg;
	(void)loop;
	(void)what;

	for (unsigned s = 0; s < ag->nsock; s++) {
		for (unsigned n = 0; n < RX_BATCH; n++) {
			uint8_t rid[256];
			int more = 0;
			size_t ml = sizeof(more);
			int rl = zmq_recv(ag->sock[s], rid, sizeof(rid), ZMQ_DONTWAIT);
			if (rl < 0)
				break;
			zmq_getsockopt(ag->sock[s], ZMQ_RCVMORE, &more, &ml);
			if (!more) {
				ag->m->ctr[SVC_C_RX_BAD]++;
				continue;
			}
			int len = zmq_recv(ag->sock[s], ag->rxbuf, sizeof(ag->rxbuf), ZMQ_DONTWAIT);
			zmq_getsockopt(ag->sock[s], ZMQ_RCVMORE, &more, &ml);
			while (more) { /* a well-formed agent sends one body frame */
				char junk[64];
				if (zmq_recv(ag->sock[s], junk, sizeof(junk), ZMQ_DONTWAIT) < 0)
					break;
				zmq_getsockopt(ag->sock[s], ZMQ_RCVMORE, &more, &ml);
				len = -1;
			}
			if (len < 0 || (size_t)len > MSG_MAX_SIZE || rl > 64) {
				ag->m->ctr[SVC_C_RX_BAD]++;
				continue;
			}
			on_message(ag, s, rid, (size_t)rl, ag->rxbuf, (size_t)len);
		}
	}
}

void svc_agents_tick(struct svc_agents *ag, uint64_t now)
{
	struct svc_mgr *m = ag->m;

	ag->hb_seq++;
	for (unsigned i = 0; i < SVC_MAX_AGENTS; i++) {
		struct svc_agent *a = &m->agents[i];
		if (!a->live)
			continue;
		if (now > a->last_heard_ms + m->cfg->agent_timeout_ms) {
			log_notice("agent %s (%016llx) silent for %llu ms: forgotten",
				   a->identity.host, (unsigned long long)a->instance,
				   (unsigned long long)(now - a->last_heard_ms));
			a->live = false;
			a->stale = true; /* its route is kept: a word from it brings it back */
			m->ctr[SVC_C_AGENTS_LOST]++;
			svc_core_agent_lost(m, a);
			continue;
		}
		send_heartbeat(ag, a);
	}
}

/* CurveZMQ admission: the context's ZAP handler (common/zap.h) with the
 * agent keys under the domain the ROUTER sockets name */
static int open_zap(struct svc_agents *ag, const struct svc_config *c)
{
	int r;

	if ((r = zap_open(ag->m->loop, ag->zctx, &ag->zap)) < 0)
		return r;
	for (unsigned i = 0; i < c->n_agent_keys; i++)
		if ((r = zap_allow_z85(ag->zap, ZAP_DOMAIN, c->agent_keys[i])) < 0)
			return r;
	return 0;
}

static int open_socket(struct svc_agents *ag, const char *endpoint, const char *secret)
{
	struct svc_mgr *m = ag->m;
	void *s = zmq_socket(ag->zctx, ZMQ_ROUTER);
	int r;

	if (!s)
		return -errno;
	ag->sock[ag->nsock] = s;
	if ((r = zsock_set_int(s, ZMQ_LINGER, 0)) < 0 ||
	    (r = zsock_set_int(s, ZMQ_ROUTER_MANDATORY, 1)) < 0 ||
	    (r = zsock_set_int(s, ZMQ_SNDHWM, 100000)) < 0 ||
	    (r = zsock_set_int(s, ZMQ_RCVHWM, 100000)) < 0 ||
	    (r = zsock_set(s, ZMQ_MAXMSGSIZE, &(int64_t){ MSG_MAX_SIZE + 64 }, sizeof(int64_t))) < 0)
		return r;
	if (zsock_is_tcp(endpoint) && (r = zsock_curve_server(s, secret, ZAP_DOMAIN)) < 0)
		return r;
	if (zmq_bind(s, endpoint) < 0)
		return log_errno(-errno, "binding %s", endpoint);
	if ((r = ev_zmq_reader_add(m->loop, s, on_rx, ag, &ag->rx[ag->nsock])) < 0)
		return r;
	ag->nsock++;
	return 0;
}

int svc_agents_open(struct svc_mgr *m, void *zctx, struct svc_agents **out)
{
	const struct svc_config *c = m->cfg;
	struct svc_agents *ag = calloc(1, sizeof(*ag));
	char secret[CFG_Z85_LEN + 1] = "";
	int r = 0;

	if (!ag)
		return -ENOMEM;
	ag->m = m;
	ag->zctx = zctx;
	m->send = agent_send;
	m->send_arg = ag;
	if (c->n_agent_keys && (r = open_zap(ag, c)) < 0) {
		log_errno(r, "setting up CurveZMQ admission");
		goto fail;
	}
	if (c->secret_key_file[0] && (r = cfg_read_z85_file(c->secret_key_file, secret)) < 0) {
		log_errno(r, "reading the secret key from %s", c->secret_key_file);
		goto fail;
	}
	for (unsigned i = 0; i < c->n_listen; i++)
		if ((r = open_socket(ag, c->listen[i], secret)) < 0) {
			log_errno(r, "listening on %s", c->listen[i]);
			goto fail;
		}
	memset(secret, 0, sizeof(secret));
	*out = ag;
	return 0;
fail:
	memset(secret, 0, sizeof(secret));
	svc_agents_close(ag);
	return r;
}

struct zap *svc_agents_zap(const struct svc_agents *ag)
{
	return ag ? ag->zap : NULL;
}

void svc_agents_close(struct svc_agents *ag)
{
	if (!ag)
		return;
	for (unsigned i = 0; i < ag->nsock; i++) {
		ev_cancel(&ag->rx[i]);
		zmq_close(ag->sock[i]);
	}
	if (ag->nsock < SVC_MAX_LISTEN && ag->sock[ag->nsock])
		zmq_close(ag->sock[ag->nsock]); /* opened, not bound */
	zap_close(ag->zap);
	if (ag->m->send_arg == ag)
		ag->m->send = NULL;
	free(ag);
}
