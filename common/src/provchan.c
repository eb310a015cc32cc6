// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The provisioning channel (see provchan.h). Both sides in one file, as
 * the encoder and decoder of one conversation.
 */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "common/ev.h"
#include "common/log.h"
#include "common/msg.h"
#include "common/provchan.h"
#include "common/zap.h"
#include "common/zsock.h"

/* ---- Configuration ------------------------------------------------------------ */


static void verify_cfg(struct cfg_verify *v, const void *obj)
{
	const struct provchan_cfg *c = obj;

	if (c->listen[0] && !zsock_is_tcp(c->listen) && strncmp(c->listen, "ipc://", 6))
		cfg_verify_error(v, "listen", "expected tcp://addr:port or ipc:///path");
	if (zsock_is_tcp(c->listen) && !c->secret_key_file[0])
		cfg_verify_error(v, "secret-key-file", "a tcp:// endpoint needs this daemon's "
				 "CurveZMQ secret key");
	if (zsock_is_tcp(c->listen) && !c->provisioner_key[0])
		cfg_verify_error(v, "provisioner-key", "a tcp:// endpoint admits only the "
				 "provisioner's key");
}

static const struct cfg_field cfg_rows[] = {
	{ .key = "listen", .type = CFG_STRING, CFG_AT(struct provchan_cfg, listen), .def = "" },
	{ .key = "secret-key-file", .type = CFG_STRING,
	  CFG_AT(struct provchan_cfg, secret_key_file), .def = "" },
	{ .key = "provisioner-key", .type = CFG_CUSTOM,
	  CFG_AT(struct provchan_cfg, provisioner_key), .parse = cfg_parse_z85key,
	  .dump = cfg_dump_z85key },
};

const struct cfg_schema provchan_cfg_schema =
	CFG_SCHEMA("provisioning", struct provchan_cfg, cfg_rows, verify_cfg);

/* ---- Shared ----------------------------------------------------------------------- */

/* A frame is one message part; each part is bounded by ZMQ_MAXMSGSIZE. */
static int common_opts(void *s)
{
	int64_t max = MSG_MAX_PROV_DOC;
	int rc;

	if ((rc = zsock_set_int(s, ZMQ_LINGER, 0)) < 0 ||
	    (rc = zsock_set(s, ZMQ_MAXMSGSIZE, &max, sizeof(max))) < 0 ||
	    (rc = zsock_set_int(s, ZMQ_HEARTBEAT_IVL, 1000)) < 0 ||
	    (rc = zsock_set_int(s, ZMQ_HEARTBEAT_TIMEOUT, 3000)) < 0)
		return rc;
	return 0;
}

static bool more(void *sock)
{
	int m = 0;
	size_t ml = sizeof(m);

	zmq_getsockopt(sock, ZMQ_RCVMORE, &m, &ml);
	return m;
}

static void drain(void *sock)
{
	char junk[64];

	while (more(sock) && zmq_recv(sock, junk, sizeof(junk), ZMQ_DONTWAIT) >= 0)
		;
}

/* Receive one whole frame into a zmq_msg_t (any size up to ZMQ_MAXMSGSIZE). */
static int recv_frame(void *sock, zmq_msg_t *f)
{
	zmq_msg_init(f);
	if (zmq_msg_recv(f, sock, ZMQ_DONTWAIT) < 0) {
		int e = -errno;
		zmq_msg_close(f);
		return e;
	}
	return 0;
}

/* ---- Daemon side ---------------------------------------------------------------- */

struct provchan_server {
	struct ev_loop *loop;
	void *router;
	struct ev_handle *rx;
	unsigned target;
	provchan_apply_fn *apply;
	void *arg;
	uint64_t applied;
	provchan_trial_fn *trial;
	void *trial_arg;
};

static void reply(struct provchan_server *s, const void *rid, size_t rid_len, const struct msg *m)
{
	uint8_t buf[512];
	size_t len;

	if (msg_encode(m, buf, sizeof(buf), &len, NULL) < 0)
		return;
	if (zmq_send(s->router, rid, rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0)
		zmq_send(s->router, buf, len, ZMQ_DONTWAIT);
}

static void ack(struct provchan_server *s, const void *rid, size_t rid_len, uint64_t version,
		bool ok, const char *why)
{
	struct msg m;
	struct msg_prov_ack *a;

	msg_init(&m, MSG_T_PROV_ACK);
	a = &msg_add(&m, MSG_S_PROV_ACK, true)->u.prov_ack;
	a->version = version;
	a->ok = ok;
	a->applied = s->applied;
	if (why && why[0]) {
		/* the error reply's sanitiser makes any reason wire-valid */
		struct msg e;
		struct msg_err err = { .code = MSG_E_INVALID, .msg_type = MSG_T_PROV_PUSH,
				       .seg_index = -1, .seg_type = -1, .field = -1 };
		msg_build_error(&e, &err, why, NULL, false);
		const struct msg_seg *es = msg_find(&e, MSG_S_ERROR);
		if (es) {
			memcpy(a->text, es->u.error.text, sizeof(a->text));
			a->present |= MSG_PACK_TEXT;
		}
	}
	reply(s, rid, rid_len, &m);
}

static void refuse(struct provchan_server *s, const void *rid, size_t rid_len,
		   const struct msg_err *err, const char *text)
{
	struct msg m;

	msg_build_error(&m, err, text, NULL, false);
	reply(s, rid, rid_len, &m);
}

static void on_push(struct provchan_server *s, const void *rid, size_t rid_len,
		    const struct msg_prov_doc *d)
{
	uint8_t digest[crypto_hash_sha256_BYTES];
	char why[256] = "";
	zmq_msg_t f;
	int r;

	if (!more(s->router) || recv_frame(s->router, &f) < 0) {
		ack(s, rid, rid_len, d->version, false, "the document frame is missing");
		return;
	}
	const char *doc = zmq_msg_data(&f);
	size_t len = zmq_msg_size(&f);
	drain(s->router);
	crypto_hash_sha256(digest, (const unsigned char *)doc, len);
	if (len != d->size || memcmp(digest, d->digest, sizeof(digest)))
		ack(s, rid, rid_len, d->version, false, "the document does not match its size "
		    "and digest");
	else if (d->target != s->target)
		ack(s, rid, rid_len, d->version, false, "a document for another kind of daemon");
	else if (d->version == s->applied) /* a resend of what runs: nothing to do */
		ack(s, rid, rid_len, d->version, true, NULL);
	else if ((r = s->apply(s->arg, d->version, doc, len, why, sizeof(why))) < 0)
		ack(s, rid, rid_len, d->version, false, why[0] ? why : strerror(-r));
	else {
		s->applied = d->version;
		ack(s, rid, rid_len, d->version, true, NULL);
	}
	zmq_msg_close(&f);
}

static void on_trial(struct provchan_server *s, const void *rid, size_t rid_len,
		     const struct msg_prov_trial *pt)
{
	struct provchan_trial t = { .peer_len = rid_len, .id = pt->id, .port = pt->port };

	memcpy(t.peer, rid, rid_len);
	memcpy(t.service, pt->service, sizeof(t.service));
	if (s->trial)
		s->trial(s->trial_arg, &t);
	else
		provchan_server_trial_done(s, &t, false, "{\"ok\":false,\"reason\":"
					   "\"this daemon runs no trials\"}");
}

static void on_server(struct ev_loop *loop, void *arg, int what)
{
	struct provchan_server *s = arg;
	(void)loop;
	(void)what;

	/* a few messages per wake-up: a push may be megabytes */
	for (int i = 0; i < 8; i++) {
		uint8_t rid[256], buf[MSG_MAX_SIZE];
		struct msg m;
		struct msg_err err;
		int rl = zmq_recv(s->router, rid, sizeof(rid), ZMQ_DONTWAIT), n;

		if (rl < 0)
			return;
		if ((size_t)rl > sizeof(rid) || !more(s->router)) {
			drain(s->router);
			continue;
		}
		n = zmq_recv(s->router, buf, sizeof(buf), ZMQ_DONTWAIT);
		if (n < 0 || (size_t)n > sizeof(buf)) {
			drain(s->router);
			continue;
		}
		if (msg_decode(buf, (size_t)n, &m, &err) < 0) {
			drain(s->router);
			refuse(s, rid, (size_t)rl, &err, NULL);
			continue;
		}
		const struct msg_seg *seg;
		if (m.type == MSG_T_PROV_PUSH && (seg = msg_find(&m, MSG_S_PROV_DOC))) {
			on_push(s, rid, (size_t)rl, &seg->u.prov_doc);
			continue;
		}
		drain(s->router);
		if (m.type == MSG_T_PROV_QUERY) {
			ack(s, rid, (size_t)rl, 0, true, NULL);
		} else if (m.type == MSG_T_PROV_TRIAL && (seg = msg_find(&m, MSG_S_PROV_TRIAL))) {
			on_trial(s, rid, (size_t)rl, &seg->u.prov_trial);
		} else if (m.type != MSG_T_ERROR) {
			err = (struct msg_err){ .code = MSG_E_MSG_TYPE, .msg_type = m.type,
						.seg_index = -1, .seg_type = -1, .field = -1 };
			refuse(s, rid, (size_t)rl, &err, "the provisioning channel takes "
			       "prov-push, prov-query and prov-trial");
		}
	}
}

int provchan_server_open(struct ev_loop *loop, void *zctx, struct zap *zap,
			 const struct provchan_cfg *cfg, unsigned target,
			 provchan_apply_fn *apply, void *arg, struct provchan_server **out)
{
	struct provchan_server *s = calloc(1, sizeof(*s));
	char secret[CFG_Z85_LEN + 1] = "";
	int r;

	*out = NULL;
	if (!s)
		return -ENOMEM;
	*s = (struct provchan_server){ .loop = loop, .target = target, .apply = apply,
				       .arg = arg };
	if (!(s->router = zmq_socket(zctx, ZMQ_ROUTER))) {
		r = -errno;
		goto fail;
	}
	if ((r = common_opts(s->router)) < 0)
		goto fail;
	if (zsock_is_tcp(cfg->listen)) {
		if (!zap) {
			r = -EINVAL;
			goto fail;
		}
		if ((r = cfg_read_z85_file(cfg->secret_key_file, secret)) < 0 ||
		    (r = zap_allow_z85(zap, PROVCHAN_ZAP_DOMAIN, cfg->provisioner_key)) < 0 ||
		    (r = zsock_curve_server(s->router, secret, PROVCHAN_ZAP_DOMAIN)) < 0)
			goto fail;
	}
	sodium_memzero(secret, sizeof(secret));
	if (zmq_bind(s->router, cfg->listen) < 0) {
		r = log_debug_errno(-errno, "provchan: binding %s", cfg->listen);
		goto fail;
	}
	if ((r = ev_zmq_reader_add(loop, s->router, on_server, s, &s->rx)) < 0)
		goto fail;
	*out = s;
	return 0;
fail:
	sodium_memzero(secret, sizeof(secret));
	provchan_server_close(s);
	return r;
}

void provchan_server_close(struct provchan_server *s)
{
	if (!s)
		return;
	ev_cancel(&s->rx);
	if (s->router)
		zmq_close(s->router);
	free(s);
}

uint64_t provchan_server_applied(const struct provchan_server *s)
{
	return s->applied;
}

void provchan_server_on_trial(struct provchan_server *s, provchan_trial_fn *fn, void *arg)
{
	s->trial = fn;
	s->trial_arg = arg;
}

int provchan_server_trial_done(struct provchan_server *s, const struct provchan_trial *t,
			       bool ok, const char *report)
{
	uint8_t buf[256];
	struct msg m;
	struct msg_prov_result *r;
	size_t len, rlen = strlen(report);

	if (rlen > MSG_MAX_PROV_DOC || t->peer_len > sizeof(t->peer))
		return -EMSGSIZE;
	msg_init(&m, MSG_T_PROV_RESULT);
	r = &msg_add(&m, MSG_S_PROV_RESULT, true)->u.prov_result;
	*r = (struct msg_prov_result){ .id = t->id, .ok = ok, .size = (uint32_t)rlen,
				       .digest_len = MSG_PROV_DIGEST_LEN };
	crypto_hash_sha256(r->digest, (const unsigned char *)report, rlen);
	if (msg_encode(&m, buf, sizeof(buf), &len, NULL) < 0)
		return -EINVAL;
	/* a multipart message goes whole or not at all */
	if (zmq_send(s->router, t->peer, t->peer_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
	    zmq_send(s->router, buf, len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
	    zmq_send(s->router, report, rlen, ZMQ_DONTWAIT) < 0)
		return -errno;
	return 0;
}

/* ---- Provisioner side ---------------------------------------------------------- */

struct target {
	struct provchan_client *c;
	unsigned idx;
	struct provchan_target cfg;
	void *dealer, *mon;
	struct ev_handle *rx, *mon_rx;
	struct provchan_status st;
};

struct provchan_client {
	struct ev_loop *loop;
	struct provchan_client_cfg cfg;
	struct ev_handle *tick;
	uint64_t latest;
	struct target *t[PROVCHAN_MAX_TARGETS];
	unsigned n;
};

static bool in_step(const struct target *t)
{
	return t->st.applied == t->c->latest || t->st.refused == t->c->latest;
}

/* Push the newest version; a target that is not connected refuses at once
 * (ZMQ_IMMEDIATE) and is pushed again on the next tick or handshake. */
static void push(struct target *t)
{
	struct provchan_client *c = t->c;
	uint8_t buf[256];
	struct msg m;
	struct msg_prov_doc *d;
	char *doc = NULL;
	size_t dlen = 0, len;

	if (!c->latest || c->cfg.render(c->cfg.arg, t->idx, c->latest, &doc, &dlen) < 0)
		return;
	msg_init(&m, MSG_T_PROV_PUSH);
	d = &msg_add(&m, MSG_S_PROV_DOC, true)->u.prov_doc;
	d->version = c->latest;
	d->target = (uint8_t)t->cfg.kind;
	d->size = (uint32_t)dlen;
	d->digest_len = MSG_PROV_DIGEST_LEN;
	crypto_hash_sha256(d->digest, (const unsigned char *)doc, dlen);
	if (dlen <= MSG_MAX_PROV_DOC && msg_encode(&m, buf, sizeof(buf), &len, NULL) == 0 &&
	    zmq_send(t->dealer, buf, len, ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0) {
		/* a multipart message goes whole or not at all */
		zmq_send(t->dealer, doc, dlen, ZMQ_DONTWAIT);
		t->st.pushes++;
	}
	free(doc);
}

static void query(struct target *t)
{
	uint8_t buf[64];
	struct msg m;
	size_t len;

	msg_init(&m, MSG_T_PROV_QUERY);
	msg_add(&m, MSG_S_PROV_QUERY, true)->u.prov_query =
		(struct msg_prov_query){ .target = (uint8_t)t->cfg.kind, .latest = t->c->latest };
	if (msg_encode(&m, buf, sizeof(buf), &len, NULL) == 0)
		zmq_send(t->dealer, buf, len, ZMQ_DONTWAIT);
}

static void on_tick(struct ev_loop *loop, void *arg, int what)
{
	struct provchan_client *c = arg;
	(void)loop;
	(void)what;

	for (unsigned i = 0; i < c->n; i++) {
		if (in_step(c->t[i]))
			query(c->t[i]);
		else
			push(c->t[i]);
	}
}

/* A trial's result: the report frame must match its size and digest. */
static void on_result(struct target *t, const struct msg_prov_result *r)
{
	struct provchan_client *c = t->c;
	uint8_t digest[crypto_hash_sha256_BYTES];
	zmq_msg_t f;

	if (!more(t->dealer) || recv_frame(t->dealer, &f) < 0) {
		log_debug("provchan: %s: a trial result without its report", t->cfg.name);
		return;
	}
	const char *report = zmq_msg_data(&f);
	size_t len = zmq_msg_size(&f);
	drain(t->dealer);
	crypto_hash_sha256(digest, (const unsigned char *)report, len);
	if (len != r->size || memcmp(digest, r->digest, sizeof(digest)))
		log_debug("provchan: %s: a trial report that does not match its digest",
			  t->cfg.name);
	else if (c->cfg.result)
		c->cfg.result(c->cfg.arg, t->idx, r->id, r->ok, report, len);
	zmq_msg_close(&f);
}

static void on_dealer(struct ev_loop *loop, void *arg, int what)
{
	struct target *t = arg;
	struct provchan_client *c = t->c;
	(void)loop;
	(void)what;

	for (int i = 0; i < 16; i++) {
		uint8_t buf[MSG_MAX_SIZE];
		struct msg m;
		const struct msg_seg *seg;
		int n = zmq_recv(t->dealer, buf, sizeof(buf), ZMQ_DONTWAIT);

		if (n < 0)
			return;
		if ((size_t)n > sizeof(buf) || msg_decode(buf, (size_t)n, &m, NULL) < 0) {
			drain(t->dealer);
			continue;
		}
		/* a trial's report follows its result as a frame of its own */
		if (m.type == MSG_T_PROV_RESULT && (seg = msg_find(&m, MSG_S_PROV_RESULT))) {
			on_result(t, &seg->u.prov_result);
			continue;
		}
		drain(t->dealer);
		if (m.type == MSG_T_ERROR && (seg = msg_find(&m, MSG_S_ERROR))) {
			log_debug("provchan: %s refused a message: %s", t->cfg.name,
				  seg->u.error.text);
			continue;
		}
		if (m.type != MSG_T_PROV_ACK || !(seg = msg_find(&m, MSG_S_PROV_ACK)))
			continue;
		const struct msg_prov_ack *a = &seg->u.prov_ack;
		const char *text = a->present & MSG_PACK_TEXT ? a->text : "";
		t->st.acks++;
		t->st.applied = a->applied;
		if (a->version && !a->ok) {
			t->st.refused = a->version;
			snprintf(t->st.why, sizeof(t->st.why), "%s", text);
		}
		c->cfg.ack(c->cfg.arg, t->idx, a->version, a->ok, a->applied, text);
		/* a query found the daemon behind (it restarted): catch it up */
		if (!in_step(t))
			push(t);
	}
}

/* A (re)connection finished its handshake: what it missed goes now. */
static void on_monitor(struct ev_loop *loop, void *arg, int what)
{
	struct target *t = arg;
	(void)loop;
	(void)what;

	for (;;) {
		zmq_msg_t f;
		uint16_t event = 0;

		if (recv_frame(t->mon, &f) < 0)
			return;
		if (zmq_msg_size(&f) >= 2)
			memcpy(&event, zmq_msg_data(&f), 2);
		zmq_msg_close(&f);
		drain(t->mon);
		if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
			if (in_step(t))
				query(t);
			else
				push(t);
		}
	}
}

int provchan_client_open(struct ev_loop *loop, const struct provchan_client_cfg *cfg,
			 struct provchan_client **out)
{
	struct provchan_client *c = calloc(1, sizeof(*c));
	int r;

	*out = NULL;
	if (!c)
		return -ENOMEM;
	c->loop = loop;
	c->cfg = *cfg;
	if (!c->cfg.retry_ms)
		c->cfg.retry_ms = 1000;
	if ((r = ev_timer_periodic_add(loop, c->cfg.retry_ms, on_tick, c, &c->tick)) < 0) {
		free(c);
		return r;
	}
	*out = c;
	return 0;
}

static void target_free(struct target *t)
{
	ev_cancel(&t->rx);
	ev_cancel(&t->mon_rx);
	if (t->dealer)
		zmq_close(t->dealer);
	if (t->mon)
		zmq_close(t->mon);
	free(t);
}

void provchan_client_close(struct provchan_client *c)
{
	if (!c)
		return;
	ev_cancel(&c->tick);
	for (unsigned i = 0; i < c->n; i++)
		target_free(c->t[i]);
	sodium_memzero(c->cfg.secret_key, sizeof(c->cfg.secret_key));
	free(c);
}

static int open_monitor(struct provchan_client *c, struct target *t)
{
	char ep[64];
	int r;

	snprintf(ep, sizeof(ep), "inproc://provchan-mon-%p", (void *)t);
	if (zmq_socket_monitor(t->dealer, ep, ZMQ_EVENT_HANDSHAKE_SUCCEEDED) < 0)
		return -errno;
	if (!(t->mon = zmq_socket(c->cfg.zctx, ZMQ_PAIR)))
		return -errno;
	if ((r = zsock_set_int(t->mon, ZMQ_LINGER, 0)) < 0)
		return r;
	if (zmq_connect(t->mon, ep) < 0)
		return -errno;
	return ev_zmq_reader_add(c->loop, t->mon, on_monitor, t, &t->mon_rx);
}

int provchan_client_add(struct provchan_client *c, const struct provchan_target *tc,
			uint64_t acked, unsigned *idx)
{
	struct target *t;
	int r;

	if (c->n == PROVCHAN_MAX_TARGETS)
		return -ENOSPC;
	if (!(t = calloc(1, sizeof(*t))))
		return -ENOMEM;
	*t = (struct target){ .c = c, .idx = c->n, .cfg = *tc, .st.applied = acked };
	if (!(t->dealer = zmq_socket(c->cfg.zctx, ZMQ_DEALER))) {
		r = -errno;
		goto fail;
	}
	/* Immediate: nothing queues for a daemon that is not there; what it
	 * missed is pushed again, rendered from the newest version. */
	if ((r = common_opts(t->dealer)) < 0 || (r = zsock_set_int(t->dealer, ZMQ_IMMEDIATE, 1)) < 0 ||
	    (r = zsock_set_int(t->dealer, ZMQ_RECONNECT_IVL, 200)) < 0 ||
	    (r = zsock_set_int(t->dealer, ZMQ_RECONNECT_IVL_MAX, (int)c->cfg.retry_ms)) < 0)
		goto fail;
	if (zsock_is_tcp(tc->endpoint) &&
	    (r = zsock_curve_client(t->dealer, tc->server_key, c->cfg.public_key,
				    c->cfg.secret_key)) < 0)
		goto fail;
	if ((r = open_monitor(c, t)) < 0)
		goto fail;
	if (zmq_connect(t->dealer, tc->endpoint) < 0) {
		r = log_debug_errno(-errno, "provchan: connecting %s", tc->endpoint);
		goto fail;
	}
	if ((r = ev_zmq_reader_add(c->loop, t->dealer, on_dealer, t, &t->rx)) < 0)
		goto fail;
	c->t[c->n] = t;
	*idx = c->n++;
	return 0;
fail:
	target_free(t);
	return r;
}

void provchan_client_latest(struct provchan_client *c, uint64_t version)
{
	c->latest = version;
	for (unsigned i = 0; i < c->n; i++)
		if (!in_step(c->t[i]))
			push(c->t[i]);
}

int provchan_client_trial(struct provchan_client *c, unsigned idx, uint64_t id,
			  const char *service, uint16_t port)
{
	uint8_t buf[256];
	struct msg m;
	struct msg_prov_trial *pt;
	size_t len, slen = strlen(service);

	if (idx >= c->n || !slen || slen > MSG_MAX_NAME || !id || id > INT64_MAX)
		return -EINVAL;
	msg_init(&m, MSG_T_PROV_TRIAL);
	pt = &msg_add(&m, MSG_S_PROV_TRIAL, true)->u.prov_trial;
	*pt = (struct msg_prov_trial){ .id = id, .port = port };
	memcpy(pt->service, service, slen + 1);
	if (msg_encode(&m, buf, sizeof(buf), &len, NULL) < 0)
		return -EINVAL;
	/* ZMQ_IMMEDIATE: a target that is not connected refuses at once */
	if (zmq_send(c->t[idx]->dealer, buf, len, ZMQ_DONTWAIT) < 0)
		return errno == EAGAIN ? -ENOTCONN : -errno;
	return 0;
}

void provchan_client_status(const struct provchan_client *c, unsigned idx,
			    struct provchan_status *out)
{
	*out = idx < c->n ? c->t[idx]->st : (struct provchan_status){ 0 };
}
