// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Replication (repl.h): membership, the outgoing stream per member (queue,
 * window, resend, dump) and the incoming stream per member (order, acks,
 * dump state). One struct member holds both directions for one other
 * member: the "link" half is our stream to it on our DEALER, the "session"
 * half is its stream to us on our ROUTER.
 *
 * Sequence numbers belong to one link and one sender generation; the
 * receiver takes batches in order, acknowledges cumulatively, and asks for a
 * resend once per gap. A dump begin is accepted at any sequence number at or
 * past the expected one: a dump restarts the stream, so whatever the sender
 * dropped before it (its queue overflowed, a receiver asked for a new dump)
 * leaves no hole.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "common/ev.h"
#include "common/log.h"
#include "common/msg.h"
#include "common/repl.h"
#include "common/zap.h"
#include "common/zsock.h"

#define RX_BATCH 64
#define TXW_CAP  MSG_MAX_REPL_TXNS /* what a batch's list may hold */

enum sess_state {
	S_NONE,    /* nothing of its stream: the next hello answer asks a dump */
	S_AWAIT,   /* asked for a dump; drop batches until it begins */
	S_DUMPING, /* inside a dump */
	S_SYNCED,  /* dump ended: following the live stream */
};

struct qbatch {
	uint64_t seq;
	size_t len;
	uint8_t *bytes;            /* the encoded (signed) message */
};

struct member {
	struct repl *r;
	const struct repl_member_config *cfg;
	bool alive;
	uint64_t last_rx_ms;
	uint64_t hb_seq;
	/* link: our stream to it */
	void *dealer;
	struct ev_handle *dealer_rx, *dealer_wr;
	bool up;                   /* it answered our hello */
	bool known_link;           /* it answered once: queue batches for it */
	struct qbatch *q;
	size_t qhead, qn, qcap;
	uint64_t next_seq;         /* sequence number of the next batch queued */
	uint64_t send_seq;         /* next sequence number to transmit */
	uint64_t sent_max;         /* highest sent + 1: below it a send is a resend */
	uint64_t ack_ms;
	bool dumping, dump_begin;
	uint64_t cursor;
	/* session: its stream to us */
	uint8_t rid[256];
	size_t rid_len;
	bool known;                /* said hello on our ROUTER */
	uint64_t gen;
	enum repl_role role;
	enum sess_state state;
	uint64_t expected;
	uint64_t resend_asked;
	struct ev_handle *purge;
};

struct repl_dump {
	struct repl *r;
	struct msg_repl_txw w;
	uint32_t added;
};

struct repl {
	struct ev_loop *loop;
	struct repl_config cfg;
	void *router;
	struct ev_handle *router_rx;
	struct zap *zap;
	bool own_zap;
	struct member m[REPL_MAX_MEMBERS];
	unsigned n;
	enum repl_role role;
	bool ready, join_over;
	bool saw_active;          /* a standby has followed an active since it started */
	struct ev_handle *tick, *flush_t, *join_t, *start_t;
	struct repl_counters ctr;
	struct msg_repl_txw live;
	struct repl_dump dump;
	struct msg in, out;
	uint8_t livebuf[TXW_CAP];
	uint8_t dumpbuf[TXW_CAP];
	uint8_t rxbuf[MSG_MAX_SIZE + 1];
	uint8_t txbuf[MSG_MAX_SIZE];
};

static const char *const counter_names[] = { REPL_COUNTER_LIST(LOOM_XSTR) };

const char *repl_counter_name(enum repl_counter c)
{
	return (unsigned)c < REPL_C_COUNT ? counter_names[c] : "?";
}

static void count_drop(struct repl *r, enum repl_counter why)
{
	r->ctr.c[REPL_C_DROPPED]++;
	r->ctr.c[why]++;
}

static void emit(struct repl *r, enum repl_event_type type, const struct member *m)
{
	struct repl_event ev = { .type = type, .instance = r->cfg.instance,
				 .generation = r->cfg.generation, .role = r->role };

	if (m)
		ev = (struct repl_event){ .type = type, .instance = m->cfg->instance,
					  .generation = m->gen, .role = m->role };
	if (r->cfg.ops.event)
		r->cfg.ops.event(r->cfg.arg, &ev);
}

static bool writer(const struct repl *r)
{
	return r->role != REPL_ROLE_STANDBY;
}

/* Do we take m's stream? Peers: always. Otherwise a standby follows the active. */
static bool follows(const struct repl *r, const struct member *m)
{
	if (r->cfg.mode == REPL_MODE_PEER)
		return true;
	return r->role == REPL_ROLE_STANDBY && m->role == REPL_ROLE_ACTIVE;
}

/* ---- Encoding and sending ----------------------------------------------------- */

static struct msg *start_msg(struct repl *r, enum msg_type type)
{
	msg_init(&r->out, type);
	if (r->cfg.auth_key_len) {
		struct msg_seg *s = msg_add(&r->out, MSG_S_SECURITY, true);

		s->u.security.type = MSG_SEC_HMAC_SHA256;
		s->u.security.len = MSG_HMAC_LEN;
	}
	return &r->out;
}

/* Encode (and sign) r->out into r->txbuf. */
static int encode_out(struct repl *r, size_t *len)
{
	if (msg_encode(&r->out, r->txbuf, sizeof(r->txbuf), len, NULL) < 0)
		return -EINVAL;
	if (r->cfg.auth_key_len &&
	    msg_sign(r->txbuf, *len, r->cfg.auth_key, r->cfg.auth_key_len) < 0)
		return -EINVAL;
	return 0;
}

/* Answers and heartbeats: lost on a full pipe, which is harmless (acks are
 * cumulative, hellos and heartbeats repeat). */
static void send_out(struct repl *r, struct member *m, bool on_router)
{
	size_t len;

	if (encode_out(r, &len) < 0)
		return;
	if (!on_router) {
		zmq_send(m->dealer, r->txbuf, len, ZMQ_DONTWAIT);
		return;
	}
	if (!m->known || zmq_send(r->router, m->rid, m->rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
		return;
	zmq_send(r->router, r->txbuf, len, ZMQ_DONTWAIT);
}

static void send_hello(struct repl *r, struct member *m, bool answer)
{
	struct msg *o = start_msg(r, MSG_T_REPL_HELLO);
	struct msg_seg *s = msg_add(o, MSG_S_HELLO, true);

	s->u.hello = (struct msg_hello){
		.role = r->cfg.daemon_role, .instance = r->cfg.instance,
		.generation = r->cfg.generation, .vmin = MSG_VERSION, .vmax = MSG_VERSION,
		.caps = MSG_CAP(MSG_S_REPL_MEMBER) | MSG_CAP(MSG_S_REPL_BATCH) |
			MSG_CAP(MSG_S_REPL_ACK) | MSG_CAP(MSG_S_HELLO) | MSG_CAP(MSG_S_HEARTBEAT),
	};
	s = msg_add(o, MSG_S_REPL_MEMBER, true);
	s->u.repl_member = (struct msg_repl_member){
		.group = r->cfg.group, .mode = (uint8_t)r->cfg.mode, .role = (uint8_t)r->role,
		.ready = r->ready,
	};
	if (answer) {
		bool fresh = !follows(r, m) || m->state == S_NONE || m->state == S_AWAIT;

		s->u.repl_member.present = MSG_RMEMBER_NEXT;
		s->u.repl_member.next = fresh ? 0 : m->expected;
		if (follows(r, m) && fresh)
			m->state = S_AWAIT;
	}
	send_out(r, m, answer);
}

static void send_heartbeat(struct repl *r, struct member *m, bool on_router)
{
	struct msg_seg *s = msg_add(start_msg(r, MSG_T_HEARTBEAT), MSG_S_HEARTBEAT, true);

	s->u.heartbeat.seq = m->hb_seq++;
	s->u.heartbeat.mono_ms = ev_now_ms();
	send_out(r, m, on_router);
}

static void send_ack(struct repl *r, struct member *m, bool resend, bool dump)
{
	struct msg_seg *s = msg_add(start_msg(r, MSG_T_REPL_ACK), MSG_S_REPL_ACK, true);

	s->u.repl_ack = (struct msg_repl_ack){ .next = m->expected, .resend = resend,
					       .dump = dump };
	send_out(r, m, true);
}

/* ---- The outgoing queue of one link ----------------------------------------- */

static struct qbatch *q_at(struct member *m, size_t i)
{
	return &m->q[(m->qhead + i) % m->qcap];
}

static uint64_t q_first_seq(struct member *m)
{
	return m->qn ? q_at(m, 0)->seq : m->next_seq;
}

static void q_pop(struct member *m)
{
	free(q_at(m, 0)->bytes);
	m->qhead = (m->qhead + 1) % m->qcap;
	m->qn--;
}

static void q_clear(struct member *m)
{
	while (m->qn)
		q_pop(m);
	m->send_seq = m->next_seq;
}

static int q_push(struct member *m, const uint8_t *bytes, size_t len)
{
	struct qbatch *b;

	if (m->qn == m->qcap) {
		size_t cap = m->qcap ? 2 * m->qcap : 64;
		struct qbatch *q = malloc(cap * sizeof(*q));

		if (!q)
			return -ENOMEM;
		for (size_t i = 0; i < m->qn; i++)
			q[i] = *q_at(m, i);
		free(m->q);
		m->q = q;
		m->qcap = cap;
		m->qhead = 0;
	}
	b = &m->q[(m->qhead + m->qn) % m->qcap];
	if (!(b->bytes = malloc(len)))
		return -ENOMEM;
	memcpy(b->bytes, bytes, len);
	b->len = len;
	b->seq = m->next_seq++;
	m->qn++;
	return 0;
}

static void start_dump(struct member *m)
{
	q_clear(m);
	m->dumping = true;
	m->dump_begin = true;
	m->cursor = 0;
}

/* Number and queue one batch for m. A queue past max_queue is given up for
 * a dump: memory stays bounded while a member is away. Returns false when
 * that happened: the batch is gone and m's dump starts over. */
static bool enqueue(struct repl *r, struct member *m, uint8_t kind, const uint8_t *txns,
		    uint32_t len)
{
	struct msg_seg *s = msg_add(start_msg(r, MSG_T_REPL_BATCH), MSG_S_REPL_BATCH, true);
	size_t n;

	s->u.repl_batch = (struct msg_repl_batch){ .seq = m->next_seq, .kind = kind,
						   .txns = txns, .txns_len = len };
	if (encode_out(r, &n) < 0 || q_push(m, r->txbuf, n) < 0 || m->qn > r->cfg.max_queue) {
		r->ctr.c[REPL_C_OVERFLOWS]++;
		start_dump(m);
		return false;
	}
	return true;
}

/* ---- Batching: the live builder ---------------------------------------------- */

static void txw_reset(struct repl *r, struct msg_repl_txw *w, uint8_t *buf)
{
	msg_repl_txw_init(w, buf, TXW_CAP);
	if (r->cfg.auth_key_len) {
		/* Names the sender under the signature (see docs/replication.md). */
		struct msg_repl_txn t = { .op = MSG_REPL_OP_AUTH, .owner = r->cfg.instance,
					  .present = MSG_RTXN_GEN,
					  .generation = r->cfg.generation };
		msg_repl_txw_add(w, &t);
	}
}

static uint32_t txw_base(const struct repl *r)
{
	return r->cfg.auth_key_len ? 1 : 0;
}

static void pump(struct repl *r, struct member *m);

static void flush_live(struct repl *r, bool do_pump)
{
	const uint8_t *p;
	uint32_t len;

	ev_cancel(&r->flush_t);
	if (r->live.n <= txw_base(r))
		return;
	p = msg_repl_txw_finish(&r->live, &len);
	for (unsigned i = 0; i < r->n; i++)
		if (r->m[i].known_link)
			enqueue(r, &r->m[i], MSG_REPL_KIND_LIVE, p, len);
	txw_reset(r, &r->live, r->livebuf);
	for (unsigned i = 0; do_pump && i < r->n; i++)
		pump(r, &r->m[i]);
}

static void on_flush(struct ev_loop *loop, void *arg, int what)
{
	(void)loop;
	(void)what;
	flush_live(arg, true);
}

void repl_flush(struct repl *r)
{
	flush_live(r, true);
}

static void to_msg_txn(const struct repl_txn *t, struct msg_repl_txn *o)
{
	*o = (struct msg_repl_txn){ .op = (uint8_t)t->op, .owner = t->owner,
				    .key = t->key, .key_len = (uint16_t)t->key_len,
				    .value = t->value, .value_len = (uint16_t)t->value_len };
	if (t->op != REPL_OP_DELETE_OWNER)
		o->present |= MSG_RTXN_KEY;
	if (t->op == REPL_OP_ADD || t->op == REPL_OP_UPDATE ||
	    (t->op == REPL_OP_ERROR && t->value))
		o->present |= MSG_RTXN_VALUE;
}

int repl_submit(struct repl *r, const struct repl_txn *t)
{
	struct msg_repl_txn mt;
	int rc;

	if (!writer(r))
		return -EPERM;
	if (r->cfg.mode == REPL_MODE_PEER && t->owner != r->cfg.instance)
		return -EPERM; /* a peer writes only what it owns */
	if (t->key_len > REPL_MAX_KEY || t->value_len > REPL_MAX_VALUE ||
	    t->op < REPL_OP_ADD || t->op > REPL_OP_ERROR)
		return -EINVAL;
	to_msg_txn(t, &mt);
	rc = msg_repl_txw_add(&r->live, &mt);
	if (rc == -MSG_E_NOSPACE) {
		flush_live(r, true);
		rc = msg_repl_txw_add(&r->live, &mt);
	}
	if (rc < 0)
		return -EINVAL;
	r->ctr.c[REPL_C_SUBMITTED]++;
	if (!r->flush_t)
		ev_timer_add(r->loop, r->cfg.batch_ms, on_flush, r, &r->flush_t);
	return 0;
}

/* ---- Dumps ------------------------------------------------------------------------ */

int repl_dump_add(struct repl_dump *d, uint64_t owner, const void *key, size_t key_len,
		  const void *value, size_t value_len)
{
	struct repl_txn t = { .op = REPL_OP_ADD, .owner = owner, .key = key, .key_len = key_len,
			      .value = value, .value_len = value_len };
	struct msg_repl_txn mt;
	int rc;

	if (d->r->cfg.mode == REPL_MODE_PEER && owner != d->r->cfg.instance)
		return 0;
	if (key_len > REPL_MAX_KEY || value_len > REPL_MAX_VALUE || !owner)
		return -EINVAL;
	to_msg_txn(&t, &mt);
	rc = msg_repl_txw_add(&d->w, &mt);
	if (rc == -MSG_E_NOSPACE)
		return -ENOSPC;
	if (rc < 0)
		return -EINVAL;
	d->added++;
	return 0;
}

/* Read the next chunk from the table and queue it. Returns 1 if it queued
 * something, 0 if not (the dump ended, or the walk failed: retried later). */
static int dump_chunk(struct repl *r, struct member *m)
{
	struct repl_dump *d = &r->dump;
	uint8_t kind = m->dump_begin ? MSG_REPL_KIND_DUMP_BEGIN : MSG_REPL_KIND_DUMP;
	const uint8_t *p;
	uint32_t len;
	int rc;

	d->r = r;
	d->added = 0;
	txw_reset(r, &d->w, r->dumpbuf);
	if (m->dump_begin) {
		/* The receiver drops what it held of ours before the entries come. */
		struct msg_repl_txn t = { .op = MSG_REPL_OP_DELETE_OWNER,
					  .owner = r->cfg.mode == REPL_MODE_PEER ?
						   r->cfg.instance : REPL_OWNER_ALL };
		msg_repl_txw_add(&d->w, &t);
	}
	rc = r->cfg.ops.dump(r->cfg.arg, d, &m->cursor);
	if (rc < 0 || (rc == 0 && !d->added))
		return 0;
	r->ctr.c[REPL_C_DUMP_ENTRIES] += d->added;
	if (rc == 1 && !m->dump_begin)
		kind = MSG_REPL_KIND_DUMP_END;
	p = msg_repl_txw_finish(&d->w, &len);
	/* The queue overflowed: the dump starts over, from a new begin (taking
	 * the restarted dump's begin for this one's left the receiver waiting
	 * for a begin that never came) */
	if (!enqueue(r, m, kind, p, len))
		return 1;
	m->dump_begin = false;
	if (rc == 1 && kind == MSG_REPL_KIND_DUMP_BEGIN) {
		txw_reset(r, &d->w, r->dumpbuf);
		p = msg_repl_txw_finish(&d->w, &len);
		if (!enqueue(r, m, MSG_REPL_KIND_DUMP_END, p, len))
			return 1;
	}
	if (rc == 1) {
		m->dumping = false;
		r->ctr.c[REPL_C_DUMPS_SENT]++;
	}
	return 1;
}

/* ---- The link: sending what is queued ------------------------------------------ */

static void on_dealer_writable(struct ev_loop *loop, void *arg, int what);

static void update_lag(struct repl *r, struct member *m)
{
	uint64_t lag = m->next_seq - q_first_seq(m);

	r->ctr.lag = 0;
	for (unsigned i = 0; i < r->n; i++) {
		uint64_t l = r->m[i].next_seq - q_first_seq(&r->m[i]);

		if (l > r->ctr.lag)
			r->ctr.lag = l;
	}
	if (lag > r->ctr.lag_max)
		r->ctr.lag_max = lag;
}

/* Send queued batches while the window and the pipe allow; when the queue
 * is empty and a dump is running, read its next chunk (after flushing the
 * live builder, so every change submitted before the chunk precedes it). */
static void pump(struct repl *r, struct member *m)
{
	bool blocked = false;

	while (m->up && writer(r)) {
		if (m->send_seq - q_first_seq(m) >= r->cfg.window)
			break;
		if (m->send_seq < m->next_seq) {
			struct qbatch *b = q_at(m, (size_t)(m->send_seq - q_first_seq(m)));

			if (zmq_send(m->dealer, b->bytes, b->len, ZMQ_DONTWAIT) < 0) {
				blocked = errno == EAGAIN;
				break;
			}
			r->ctr.c[REPL_C_SENT]++;
			if (m->send_seq < m->sent_max)
				r->ctr.c[REPL_C_RESENT]++;
			else
				m->sent_max = m->send_seq + 1;
			m->send_seq++;
			continue;
		}
		if (!m->dumping)
			break;
		flush_live(r, false);
		if (m->send_seq < m->next_seq)
			continue;
		if (!dump_chunk(r, m))
			break;
	}
	if (blocked && !m->dealer_wr)
		ev_zmq_writer_add(r->loop, m->dealer, on_dealer_writable, m, &m->dealer_wr);
	else if (!blocked)
		ev_cancel(&m->dealer_wr);
	update_lag(r, m);
}

static void on_dealer_writable(struct ev_loop *loop, void *arg, int what)
{
	struct member *m = arg;
	(void)loop;
	(void)what;
	ev_cancel(&m->dealer_wr);
	pump(m->r, m);
}

/* ---- Readiness, membership ---------------------------------------------------- */

static void update_ready(struct repl *r)
{
	bool ready = true;

	if (r->ready)
		return;
	if (r->role == REPL_ROLE_STANDBY) {
		bool active_seen = false;

		ready = false;
		for (unsigned i = 0; i < r->n; i++) {
			struct member *m = &r->m[i];

			if (m->known && m->role == REPL_ROLE_ACTIVE) {
				active_seen = true;
				r->saw_active = true;
				ready |= m->state == S_SYNCED;
			}
		}
		/* complete with nothing only when the group had no active to
		 * follow: an active lost in the middle of its dump leaves this
		 * copy incomplete, whatever comes next */
		ready |= !active_seen && !r->saw_active && r->join_over;
	} else if (r->role == REPL_ROLE_PEER) {
		for (unsigned i = 0; i < r->n; i++) {
			struct member *m = &r->m[i];

			if (m->alive ? m->state != S_SYNCED : !r->join_over)
				ready = false;
		}
	}
	if (ready) {
		r->ready = true;
		emit(r, REPL_EV_READY, NULL);
	}
}

static void purge(struct repl *r, struct member *m)
{
	struct repl_txn t = { .op = REPL_OP_DELETE_OWNER, .owner = m->cfg->instance };

	ev_cancel(&m->purge);
	if (r->cfg.ops.apply(r->cfg.arg, m->cfg->instance, &t) < 0)
		r->ctr.c[REPL_C_APPLY_FAILED]++;
	r->ctr.c[REPL_C_PURGES]++;
	m->state = S_NONE;
	emit(r, REPL_EV_PURGED, m);
}

static void on_purge(struct ev_loop *loop, void *arg, int what)
{
	struct member *m = arg;
	(void)loop;
	(void)what;
	purge(m->r, m);
}

static void lost(struct repl *r, struct member *m)
{
	m->alive = false;
	m->up = false;
	m->known = false;
	r->ctr.c[REPL_C_MEMBERS_LOST]++;
	emit(r, REPL_EV_MEMBER_LOST, m);
	if (r->cfg.mode != REPL_MODE_PEER || m->state == S_NONE)
		return;
	if (!r->cfg.grace_ms)
		purge(r, m);
	else
		ev_timer_add(r->loop, r->cfg.grace_ms, on_purge, m, &m->purge);
}

static void touch(struct repl *r, struct member *m)
{
	m->last_rx_ms = ev_now_ms();
	if (!m->alive) {
		m->alive = true;
		emit(r, REPL_EV_MEMBER_UP, m);
	}
}

static struct member *member_by_instance(struct repl *r, uint64_t instance)
{
	for (unsigned i = 0; i < r->n; i++)
		if (r->m[i].cfg->instance == instance)
			return &r->m[i];
	return NULL;
}

static struct member *member_by_rid(struct repl *r, const uint8_t *rid, size_t len)
{
	for (unsigned i = 0; i < r->n; i++)
		if (r->m[i].known && r->m[i].rid_len == len && !memcmp(r->m[i].rid, rid, len))
			return &r->m[i];
	return NULL;
}

/* A hello or its answer: same group and mode, a member we know. */
static struct member *check_hello(struct repl *r, const struct msg *in)
{
	const struct msg_seg *h = msg_find(in, MSG_S_HELLO), *s = msg_find(in, MSG_S_REPL_MEMBER);
	const struct msg_repl_member *mb = &s->u.repl_member;
	struct member *m = member_by_instance(r, h->u.hello.instance);

	if (!m || mb->group != r->cfg.group || mb->mode != r->cfg.mode ||
	    (mb->role == REPL_ROLE_PEER) != (r->cfg.mode == REPL_MODE_PEER) ||
	    !h->u.hello.generation) {
		count_drop(r, REPL_C_DROPPED_UNKNOWN);
		return NULL;
	}
	return m;
}

/* ---- The session: its stream to us, on our ROUTER -------------------------------- */

static void on_hello(struct repl *r, const uint8_t *rid, size_t rid_len)
{
	struct member *m = check_hello(r, &r->in);
	const struct msg_hello *h;
	const struct msg_repl_member *mb;
	if (!m)
		return;
	h = &msg_find(&r->in, MSG_S_HELLO)->u.hello;
	mb = &msg_find(&r->in, MSG_S_REPL_MEMBER)->u.repl_member;
	if (h->generation != m->gen) {
		m->state = S_NONE;
		m->expected = 0;
		if (m->gen) {
			/* Restarted: nothing it held survives, nor our stream to
			 * it; our hello asks where it stands. */
			m->up = false;
			q_clear(m);
			m->dumping = false;
			send_hello(r, m, false);
		}
		m->gen = h->generation;
	}
	ev_cancel(&m->purge);
	memcpy(m->rid, rid, rid_len);
	m->rid_len = rid_len;
	m->known = true;
	if (m->role != (enum repl_role)mb->role) {
		m->role = (enum repl_role)mb->role;
		if (follows(r, m))
			m->state = S_NONE; /* a new writer for us: start from its dump */
		emit(r, REPL_EV_MEMBER_ROLE, m);
	}
	/* a standby that was ready with no active, or with another one, holds
	 * a complete table again only once this active's dump has ended */
	if (r->role == REPL_ROLE_STANDBY && m->role == REPL_ROLE_ACTIVE && m->state != S_SYNCED)
		r->ready = false;
	touch(r, m);
	send_hello(r, m, true);
	update_ready(r);
}

/* Apply one batch's transactions; false (nothing applied) if it does not
 * name its sender where a shared key says it must. */
static bool apply_batch(struct repl *r, struct member *m, const struct msg_repl_batch *b)
{
	struct msg_repl_txr rd;
	struct msg_repl_txn t;
	bool first = true;

	if (msg_repl_txr_init(&rd, b->txns, b->txns_len) < 0)
		return false;
	while (msg_repl_txr_next(&rd, &t) > 0) {
		bool auth = t.op == MSG_REPL_OP_AUTH;

		if (first && r->cfg.auth_key_len &&
		    (!auth || t.owner != m->cfg->instance || t.generation != m->gen))
			return false;
		first = false;
		if (auth)
			continue;
		if (r->cfg.mode == REPL_MODE_PEER && t.owner != m->cfg->instance) {
			r->ctr.c[REPL_C_REFUSED_TXNS]++;
			continue;
		}
		struct repl_txn u = { .op = (enum repl_op)t.op, .owner = t.owner, .key = t.key,
				      .key_len = t.key_len, .value = t.value,
				      .value_len = t.value_len };

		if (r->cfg.ops.apply(r->cfg.arg, m->cfg->instance, &u) < 0)
			r->ctr.c[REPL_C_APPLY_FAILED]++;
		else
			r->ctr.c[REPL_C_APPLIED]++;
	}
	return true;
}

static void on_batch(struct repl *r, struct member *m, const struct msg_repl_batch *b)
{
	bool begin = b->kind == MSG_REPL_KIND_DUMP_BEGIN;

	if (!follows(r, m)) {
		count_drop(r, REPL_C_DROPPED_NOT_WRITER);
		return;
	}
	if (!begin && (m->state == S_NONE || m->state == S_AWAIT)) {
		if (m->state == S_NONE) {
			m->state = S_AWAIT;
			send_ack(r, m, false, true);
		}
		count_drop(r, REPL_C_DROPPED_AWAITING);
		return;
	}
	if (b->seq < m->expected && !(begin && (m->state == S_NONE || m->state == S_AWAIT))) {
		r->ctr.c[REPL_C_DUPLICATES]++;
		send_ack(r, m, false, false);
		return;
	}
	if (!begin && b->seq > m->expected) {
		if (m->resend_asked != m->expected) {
			m->resend_asked = m->expected;
			send_ack(r, m, true, false);
		}
		return;
	}
	if (!apply_batch(r, m, b)) {
		count_drop(r, REPL_C_DROPPED_AUTH);
		return;
	}
	m->expected = b->seq + 1;
	if (begin)
		m->state = S_DUMPING;
	if (b->kind == MSG_REPL_KIND_DUMP_END && m->state == S_DUMPING) {
		m->state = S_SYNCED;
		r->ctr.c[REPL_C_DUMPS_RECEIVED]++;
		update_ready(r);
	}
	send_ack(r, m, false, false);
}

/* Receive one message into r->rxbuf; its length, or -1 (nothing, or an
 * oversized one, drained). */
static int recv_frame(struct repl *r, void *sock, int flags)
{
	int n = zmq_recv(sock, r->rxbuf, sizeof(r->rxbuf), flags);

	if (n < 0)
		return -1;
	if ((size_t)n >= sizeof(r->rxbuf)) {
		count_drop(r, REPL_C_DROPPED_MALFORMED);
		return -2;
	}
	return n;
}

static bool more(void *sock)
{
	int more = 0;
	size_t ml = sizeof(more);

	zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &ml);
	return more;
}

static void drain(void *sock)
{
	char junk[64];

	while (more(sock) && zmq_recv(sock, junk, sizeof(junk), 0) >= 0)
		;
}

/* Decode r->rxbuf[0..len) into r->in, verifying the authenticator first
 * when a shared key is configured. */
static bool decode_in(struct repl *r, size_t len)
{
	int rc;

	if (r->cfg.auth_key_len)
		rc = msg_decode_verified(r->rxbuf, len, r->cfg.auth_key, r->cfg.auth_key_len,
					 &r->in, NULL);
	else
		rc = msg_decode(r->rxbuf, len, &r->in, NULL);
	if (rc == -MSG_E_AUTH || rc == -MSG_E_NOAUTH)
		count_drop(r, REPL_C_DROPPED_AUTH);
	else if (rc < 0)
		count_drop(r, REPL_C_DROPPED_MALFORMED);
	return rc == 0;
}

static void on_router(struct ev_loop *loop, void *arg, int what)
{
	struct repl *r = arg;
	(void)loop;
	(void)what;

	for (int i = 0; i < RX_BATCH; i++) {
		uint8_t rid[256];
		int rl = zmq_recv(r->router, rid, sizeof(rid), ZMQ_DONTWAIT), n;
		struct member *m;

		if (rl < 0)
			return;
		if ((size_t)rl > sizeof(rid) || !more(r->router)) {
			count_drop(r, REPL_C_DROPPED_MALFORMED);
			drain(r->router);
			continue;
		}
		n = recv_frame(r, r->router, 0);
		if (n < 0 || more(r->router)) {
			if (n >= 0)
				count_drop(r, REPL_C_DROPPED_MALFORMED);
			drain(r->router);
			continue;
		}
		if (!decode_in(r, (size_t)n))
			continue;
		if (r->in.type == MSG_T_REPL_HELLO) {
			on_hello(r, rid, (size_t)rl);
			continue;
		}
		if (!(m = member_by_rid(r, rid, (size_t)rl))) {
			count_drop(r, REPL_C_DROPPED_UNKNOWN);
			continue;
		}
		if (r->in.type == MSG_T_REPL_BATCH) {
			touch(r, m);
			on_batch(r, m, &msg_find(&r->in, MSG_S_REPL_BATCH)->u.repl_batch);
		} else if (r->in.type == MSG_T_HEARTBEAT) {
			touch(r, m);
		} else {
			count_drop(r, REPL_C_DROPPED_MALFORMED);
		}
	}
}

/* ---- The link: answers and acks, on our DEALER ---------------------------------- */

static void on_answer(struct repl *r, struct member *m)
{
	struct member *from = check_hello(r, &r->in);
	const struct msg_repl_member *mb = &msg_find(&r->in, MSG_S_REPL_MEMBER)->u.repl_member;

	if (!from)
		return;
	if (from != m || !(mb->present & MSG_RMEMBER_NEXT)) {
		count_drop(r, REPL_C_DROPPED_UNKNOWN);
		return;
	}
	touch(r, m);
	m->up = true;
	m->known_link = true;
	m->ack_ms = ev_now_ms();
	if (!writer(r))
		return;
	if (mb->next == 0 || mb->next < q_first_seq(m) || mb->next > m->next_seq) {
		start_dump(m);
	} else {
		while (m->qn && q_at(m, 0)->seq < mb->next)
			q_pop(m);
		m->send_seq = mb->next;
	}
	pump(r, m);
}

static void on_ack(struct repl *r, struct member *m, const struct msg_repl_ack *a)
{
	touch(r, m);
	if (!writer(r))
		return;
	if (a->next > m->next_seq) {
		count_drop(r, REPL_C_DROPPED_MALFORMED);
		return;
	}
	if (a->next > q_first_seq(m))
		m->ack_ms = ev_now_ms();
	while (m->qn && q_at(m, 0)->seq < a->next) {
		q_pop(m);
		r->ctr.c[REPL_C_ACKED]++;
	}
	if (m->send_seq < a->next)
		m->send_seq = a->next;
	if (a->dump || (a->resend && a->next < q_first_seq(m)))
		start_dump(m);
	else if (a->resend)
		m->send_seq = a->next;
	pump(r, m);
}

static void on_dealer(struct ev_loop *loop, void *arg, int what)
{
	struct member *m = arg;
	struct repl *r = m->r;
	(void)loop;
	(void)what;

	for (int i = 0; i < RX_BATCH; i++) {
		int n = recv_frame(r, m->dealer, ZMQ_DONTWAIT);

		if (n == -1)
			return;
		if (n < 0 || more(m->dealer)) {
			if (n >= 0)
				count_drop(r, REPL_C_DROPPED_MALFORMED);
			drain(m->dealer);
			continue;
		}
		if (!decode_in(r, (size_t)n))
			continue;
		if (r->in.type == MSG_T_REPL_HELLO)
			on_answer(r, m);
		else if (r->in.type == MSG_T_REPL_ACK && m->up)
			on_ack(r, m, &msg_find(&r->in, MSG_S_REPL_ACK)->u.repl_ack);
		else if (r->in.type == MSG_T_REPL_ACK || r->in.type == MSG_T_HEARTBEAT)
			continue; /* before its answer to our hello: stale */
		else
			count_drop(r, REPL_C_DROPPED_MALFORMED);
	}
}

/* ---- Timers ------------------------------------------------------------------------- */

static void on_tick(struct ev_loop *loop, void *arg, int what)
{
	struct repl *r = arg;
	uint64_t now = ev_now_ms();
	(void)loop;
	(void)what;

	for (unsigned i = 0; i < r->n; i++) {
		struct member *m = &r->m[i];

		if (m->alive && now - m->last_rx_ms > r->cfg.dead_ms)
			lost(r, m);
		if (!m->up) {
			send_hello(r, m, false);
		} else {
			send_heartbeat(r, m, false);
			/* Nothing acknowledged for half of dead_ms although the
			 * member is alive: what was sent may be lost with a
			 * connection libzmq replaced; send it again. */
			if (m->send_seq > q_first_seq(m) && now - m->ack_ms > r->cfg.dead_ms / 2) {
				m->send_seq = q_first_seq(m);
				m->ack_ms = now;
			}
			pump(r, m);
		}
		if (m->known)
			send_heartbeat(r, m, true);
	}
}

static void on_join(struct ev_loop *loop, void *arg, int what)
{
	struct repl *r = arg;
	(void)loop;
	(void)what;
	r->join_over = true;
	update_ready(r);
}

/* ---- Roles ------------------------------------------------------------------------- */

int repl_set_role(struct repl *r, enum repl_role role)
{
	if (r->cfg.mode == REPL_MODE_PEER ||
	    (role != REPL_ROLE_ACTIVE && role != REPL_ROLE_STANDBY))
		return -EINVAL;
	if (role == r->role)
		return 0;
	r->role = role;
	if (role == REPL_ROLE_STANDBY) {
		r->ready = false;
		txw_reset(r, &r->live, r->livebuf);
		ev_cancel(&r->flush_t);
	}
	for (unsigned i = 0; i < r->n; i++) {
		struct member *m = &r->m[i];

		/* Whoever follows us learns the new role from a fresh hello,
		 * and its answer says where our stream stands for it. */
		m->up = false;
		q_clear(m);
		m->dumping = false;
		send_hello(r, m, false);
		if (role == REPL_ROLE_STANDBY && m->known && m->role == REPL_ROLE_ACTIVE) {
			m->state = S_AWAIT;
			send_ack(r, m, false, true);
		}
	}
	update_ready(r);
	return 0;
}

enum repl_role repl_role(const struct repl *r)
{
	return r->role;
}

bool repl_ready(const struct repl *r)
{
	return r->ready;
}

void repl_counters(const struct repl *r, struct repl_counters *out)
{
	*out = r->ctr;
}

int repl_member_info(const struct repl *r, uint64_t instance, struct repl_member_info *out)
{
	for (unsigned i = 0; i < r->n; i++) {
		const struct member *m = &r->m[i];

		if (m->cfg->instance != instance)
			continue;
		*out = (struct repl_member_info){
			.alive = m->alive, .synced = m->state == S_SYNCED, .role = m->role,
			.generation = m->gen,
			.lag = m->next_seq - (m->qn ? m->q[m->qhead].seq : m->next_seq),
		};
		return 0;
	}
	return -ENOENT;
}

/* ---- Set-up ------------------------------------------------------------------------ */

/* Options both socket kinds share: bounded messages, no linger, libzmq's
 * own heartbeats so a dead TCP connection is replaced within dead_ms. */
static int common_opts(void *s, const struct repl_config *c)
{
	int rc;

	if ((rc = zsock_set_int(s, ZMQ_LINGER, 0)) < 0 ||
	    (rc = zsock_set(s, ZMQ_MAXMSGSIZE, &(int64_t){ MSG_MAX_SIZE }, sizeof(int64_t))) < 0 ||
	    (rc = zsock_set_int(s, ZMQ_SNDHWM, (int)c->window * 2 + 64)) < 0 ||
	    (rc = zsock_set_int(s, ZMQ_RCVHWM, (int)c->window * 2 + 64)) < 0 ||
	    (rc = zsock_set_int(s, ZMQ_HEARTBEAT_IVL, (int)c->heartbeat_ms)) < 0 ||
	    (rc = zsock_set_int(s, ZMQ_HEARTBEAT_TIMEOUT, (int)c->dead_ms)) < 0)
		return rc;
	return 0;
}

static int open_router(struct repl *r)
{
	const struct repl_config *c = &r->cfg;
	int rc;

	if (!(r->router = zmq_socket(c->zctx, ZMQ_ROUTER)))
		return -errno;
	if ((rc = common_opts(r->router, c)) < 0 ||
	    (rc = zsock_set_int(r->router, ZMQ_ROUTER_MANDATORY, 1)) < 0)
		return rc;
	if (zsock_is_tcp(c->endpoint) &&
	    (rc = zsock_curve_server(r->router, c->secret_key, REPL_ZAP_DOMAIN)) < 0)
		return rc;
	if (zmq_bind(r->router, c->endpoint) < 0)
		return log_debug_errno(-errno, "repl: binding %s", c->endpoint);
	return ev_zmq_reader_add(r->loop, r->router, on_router, r, &r->router_rx);
}

static int open_dealer(struct repl *r, struct member *m)
{
	const struct repl_config *c = &r->cfg;
	int rc;

	if (!(m->dealer = zmq_socket(c->zctx, ZMQ_DEALER)))
		return -errno;
	/* Immediate: no queueing towards a member not connected; our own
	 * queue holds what must survive, and the pipe never resends stale
	 * bytes to a member that restarted. */
	if ((rc = common_opts(m->dealer, c)) < 0 ||
	    (rc = zsock_set_int(m->dealer, ZMQ_IMMEDIATE, 1)) < 0 ||
	    (rc = zsock_set_int(m->dealer, ZMQ_RECONNECT_IVL, (int)c->heartbeat_ms)) < 0)
		return rc;
	if (zsock_is_tcp(m->cfg->endpoint) &&
	    (rc = zsock_curve_client(m->dealer, m->cfg->public_key, c->public_key,
				     c->secret_key)) < 0)
		return rc;
	if (zmq_connect(m->dealer, m->cfg->endpoint) < 0)
		return log_debug_errno(-errno, "repl: connecting %s", m->cfg->endpoint);
	return ev_zmq_reader_add(r->loop, m->dealer, on_dealer, m, &m->dealer_rx);
}

static int check_config(struct repl_config *c)
{
	bool curve = zsock_is_tcp(c->endpoint);

	if (!c->zctx || !c->instance || !c->generation || !c->ops.apply || !c->ops.dump ||
	    c->n_members > REPL_MAX_MEMBERS || c->mode < REPL_MODE_PRIMARY_BACKUP ||
	    c->mode > REPL_MODE_PEER || (c->mode == REPL_MODE_PEER) != (c->role == REPL_ROLE_PEER) ||
	    (c->role != REPL_ROLE_ACTIVE && c->role != REPL_ROLE_STANDBY &&
	     c->role != REPL_ROLE_PEER) || !c->endpoint[0])
		return -EINVAL;
	for (unsigned i = 0; i < c->n_members; i++) {
		const struct repl_member_config *m = &c->members[i];

		if (!m->instance || m->instance == c->instance || !m->endpoint[0])
			return -EINVAL;
		curve |= zsock_is_tcp(m->endpoint);
		for (unsigned j = 0; j < i; j++)
			if (c->members[j].instance == m->instance)
				return -EINVAL;
		if (zsock_is_tcp(m->endpoint) && strlen(m->public_key) != CFG_Z85_LEN)
			return -EINVAL;
	}
	if (curve && (strlen(c->public_key) != CFG_Z85_LEN || strlen(c->secret_key) != CFG_Z85_LEN))
		return -EINVAL;
	if (!c->daemon_role)
		c->daemon_role = MSG_ROLE_TOOL;
	if (!c->heartbeat_ms)
		c->heartbeat_ms = 100;
	if (!c->dead_ms)
		c->dead_ms = 3 * c->heartbeat_ms;
	if (!c->join_ms)
		c->join_ms = c->dead_ms;
	if (!c->window)
		c->window = 64;
	if (!c->max_queue)
		c->max_queue = 4096;
	if (c->max_queue < c->window)
		c->max_queue = c->window;
	return 0;
}

static void on_start(struct ev_loop *loop, void *arg, int what)
{
	struct repl *r = arg;
	(void)loop;
	(void)what;
	update_ready(r);
	on_tick(r->loop, r, 1);
}

int repl_new(struct ev_loop *loop, const struct repl_config *cfg, struct repl **out)
{
	struct repl *r = calloc(1, sizeof(*r));
	int rc;

	if (!r)
		return -ENOMEM;
	r->loop = loop;
	r->cfg = *cfg;
	if ((rc = check_config(&r->cfg)) < 0) {
		free(r);
		return rc;
	}
	r->role = r->cfg.role;
	r->n = r->cfg.n_members;
	for (unsigned i = 0; i < r->n; i++) {
		r->m[i].r = r;
		r->m[i].cfg = &r->cfg.members[i];
		r->m[i].next_seq = r->m[i].send_seq = r->m[i].sent_max = 1;
	}
	txw_reset(r, &r->live, r->livebuf);
	r->zap = r->cfg.zap;
	if (zsock_is_tcp(r->cfg.endpoint)) {
		if (!r->zap) {
			if ((rc = zap_open(loop, r->cfg.zctx, &r->zap)) < 0)
				goto fail;
			r->own_zap = true;
		}
		for (unsigned i = 0; i < r->n; i++)
			if (r->cfg.members[i].public_key[0] &&
			    (rc = zap_allow_z85(r->zap, REPL_ZAP_DOMAIN,
						r->cfg.members[i].public_key)) < 0)
				goto fail;
	}
	if ((rc = open_router(r)) < 0)
		goto fail;
	for (unsigned i = 0; i < r->n; i++)
		if ((rc = open_dealer(r, &r->m[i])) < 0)
			goto fail;
	if ((rc = ev_timer_periodic_add(loop, r->cfg.heartbeat_ms, on_tick, r, &r->tick)) < 0 ||
	    (rc = ev_timer_add(loop, r->cfg.join_ms, on_join, r, &r->join_t)) < 0 ||
	    (rc = ev_timer_add(loop, 0, on_start, r, &r->start_t)) < 0)
		goto fail;
	*out = r;
	return 0;
fail:
	repl_free(r);
	return rc;
}

void repl_free(struct repl *r)
{
	if (!r)
		return;
	ev_cancel(&r->tick);
	ev_cancel(&r->flush_t);
	ev_cancel(&r->join_t);
	ev_cancel(&r->start_t);
	ev_cancel(&r->router_rx);
	if (r->router)
		zmq_close(r->router);
	for (unsigned i = 0; i < r->n; i++) {
		struct member *m = &r->m[i];

		ev_cancel(&m->dealer_rx);
		ev_cancel(&m->dealer_wr);
		ev_cancel(&m->purge);
		if (m->dealer)
			zmq_close(m->dealer);
		q_clear(m);
		free(m->q);
	}
	if (r->own_zap)
		zap_close(r->zap);
	free(r);
}
