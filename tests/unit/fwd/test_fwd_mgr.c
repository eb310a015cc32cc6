// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The agent's manager channel against a scripted manager: a ROUTER socket in
 * the test speaking the project's codec, over a real ipc:// endpoint.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "common/ev.h"
#include "common/msg.h"
#include "fwd_aff.h"
#include "fwd_mgr.h"

static char inst[32], endpoint[96];
static void *zctx, *router;
static struct ev_loop *loop;
static struct fwd_aff *aff;
static struct fwd_mgrs *mgrs;
static uint8_t peer[256];
static size_t peer_len;

static struct {
	unsigned calls;
	uint16_t owner;
	uint8_t pkt[128];
	uint32_t len;
	int64_t rank;
} delivered;

static void deliver(void *arg, uint16_t owner, const uint8_t *ip, uint32_t len, int64_t rank)
{
	(void)arg;
	delivered.calls++;
	delivered.owner = owner;
	delivered.len = len;
	memcpy(delivered.pkt, ip, len < sizeof(delivered.pkt) ? len : sizeof(delivered.pkt));
	delivered.rank = rank;
}

#define CAPS_NO_SEQ (~UINT64_C(0) & ~MSG_CAP(MSG_S_ACT_SEQ_ADJUST))

static void open_agent(const uint8_t *key, size_t keylen, uint32_t rate, uint32_t burst)
{
	struct fwd_mgrs_cfg cfg = { .n = 1, .instance = 77, .generation = 3, .heartbeat_ms = 0 };

	snprintf(cfg.mgr[0].endpoint, sizeof(cfg.mgr[0].endpoint), "%s", endpoint);
	cfg.mgr[0].punt_rate = rate;
	cfg.mgr[0].punt_burst = burst;
	if (key) {
		memcpy(cfg.mgr[0].auth_key, key, keylen);
		cfg.mgr[0].auth_key_len = (uint8_t)keylen;
	}
	cr_assert_eq(fwd_mgrs_open(loop, zctx, &cfg, aff, CAPS_NO_SEQ, deliver, NULL, &mgrs), 0);
}

static void setup(void)
{
	struct fwd_aff_cfg ac = { .capacity = 64, .lanes = 1, .rcu_slots = 8, .caps = CAPS_NO_SEQ };
	int linger = 0;

	snprintf(inst, sizeof(inst), "fm%d", (int)getpid());
	snprintf(endpoint, sizeof(endpoint), "ipc:///tmp/loom-test-mgr-%d.sock", (int)getpid());
	ac.instance = inst;
	cr_assert_eq(fwd_aff_open(&ac, &aff, NULL), 0);
	zctx = zmq_ctx_new();
	router = zmq_socket(zctx, ZMQ_ROUTER);
	zmq_setsockopt(router, ZMQ_LINGER, &linger, sizeof(linger));
	cr_assert_eq(zmq_bind(router, endpoint), 0);
	loop = ev_loop_new();
	memset(&delivered, 0, sizeof(delivered));
}

static void teardown(void)
{
	fwd_mgrs_close(mgrs);
	mgrs = NULL;
	ev_loop_free(loop);
	zmq_close(router);
	zmq_ctx_term(zctx);
	fwd_aff_close(aff);
	fwd_aff_unlink(inst);
	unlink(endpoint + strlen("ipc://"));
}

TestSuite(fwd_mgr, .init = setup, .fini = teardown, .timeout = 30);

/* Run the agent's loop until the scripted manager receives a message. */
static bool mgr_recv(struct msg *m, uint8_t *raw, size_t *rawlen, int timeout_ms)
{
	static uint8_t buf[MSG_MAX_SIZE];
	uint64_t end = ev_now_ms() + (uint64_t)timeout_ms;

	while (ev_now_ms() < end) {
		ev_run_once(loop, 10);
		int n = zmq_recv(router, peer, sizeof(peer), ZMQ_DONTWAIT);
		if (n < 0)
			continue;
		peer_len = (size_t)n;
		n = zmq_recv(router, buf, sizeof(buf), 0);
		cr_assert_geq(n, 0);
		if (raw) {
			memcpy(raw, buf, (size_t)n);
			*rawlen = (size_t)n;
		}
		struct msg_err err;
		cr_assert_eq(msg_decode(buf, (size_t)n, m, &err), 0, "agent sent an undecodable message");
		return true;
	}
	return false;
}

static void mgr_send_raw(const uint8_t *buf, size_t len)
{
	cr_assert_eq(zmq_send(router, peer, peer_len, ZMQ_SNDMORE), (int)peer_len);
	cr_assert_eq(zmq_send(router, buf, len, 0), (int)len);
}

static void mgr_send(const struct msg *m, const uint8_t *key, size_t keylen)
{
	static uint8_t buf[MSG_MAX_SIZE];
	size_t len;

	cr_assert_eq(msg_encode(m, buf, sizeof(buf), &len, NULL), 0);
	if (key)
		cr_assert_eq(msg_sign(buf, len, key, keylen), 0);
	mgr_send_raw(buf, len);
}

static void settle(void)
{
	for (int i = 0; i < 20; i++)
		ev_run_once(loop, 5);
}

static void v4(uint8_t a[16], const char *s)
{
	uint32_t x;

	inet_pton(AF_INET, s, &x);
	key_addr_from_v4(a, x);
}

static void wildcard(struct msg *m, bool secure)
{
	msg_init(m, MSG_T_UPDATE_WILDCARD);
	if (secure) {
		struct msg_security *s = &msg_add(m, MSG_S_SECURITY, true)->u.security;
		s->type = MSG_SEC_HMAC_SHA256;
		s->len = MSG_HMAC_LEN;
	}
	struct msg_wildcard *w = &msg_add(m, MSG_S_WILDCARD, true)->u.wildcard;
	key_init(&w->key);
	w->key.proto = IPPROTO_TCP;
	w->key.dport = htons(80);
	v4(w->key.daddr, "10.9.0.5");
	memset(w->dmask, 0xff, 16);
	w->ttl = 30;
}

static void expect_hello(void)
{
	struct msg m;

	cr_assert(mgr_recv(&m, NULL, NULL, 3000), "no hello from the agent");
	cr_assert_eq(m.type, MSG_T_HELLO);
	const struct msg_seg *h = msg_find(&m, MSG_S_HELLO);
	cr_assert_not_null(h);
	cr_assert_eq(h->u.hello.role, MSG_ROLE_FWD_AGENT);
	cr_assert_eq(h->u.hello.instance, 77);
	cr_assert_eq(h->u.hello.caps & MSG_CAP(MSG_S_ACT_SEQ_ADJUST), 0);
	cr_assert_neq(h->u.hello.caps & MSG_CAP(MSG_S_ACT_NAT), 0);
}

Test(fwd_mgr, hello_update_deny_and_returned_packet)
{
	struct msg m;
	struct fwd_aff_stats st;

	open_agent(NULL, 0, 0, 0);
	expect_hello();
	cr_assert(fwd_mgr_connected(mgrs, 0));

	wildcard(&m, false);
	mgr_send(&m, NULL, 0);
	settle();
	fwd_aff_get_stats(aff, &st);
	cr_assert_eq(st.nwild, 1, "the wildcard was applied");

	/* a wildcard that requires sequence adjust: this agent lacks it */
	wildcard(&m, false);
	m.segs[0].u.wildcard.key.dport = htons(21);
	msg_add(&m, MSG_S_ACT_SEQ_ADJUST, true)->u.seq_adjust.seq_delta = 5;
	mgr_send(&m, NULL, 0);
	struct msg r;
	cr_assert(mgr_recv(&r, NULL, NULL, 2000), "no update-deny");
	cr_assert_eq(r.type, MSG_T_UPDATE_DENY);
	const struct msg_seg *al = msg_find(&r, MSG_S_ACTION_LIST);
	cr_assert_not_null(al);
	cr_assert_eq(al->u.action_list.n, 1);
	cr_assert_eq(al->u.action_list.a[0].type, MSG_S_ACT_SEQ_ADJUST);
	cr_assert_eq(fwd_mgr_counter(mgrs, 0, FWD_MGR_DENIES), 1);

	/* a fixed affinity with the punted packet: applied, packet handed back */
	static const uint8_t pkt[40] = { 0x45, 0, 0, 40 };
	msg_init(&m, MSG_T_UPDATE_FIXED);
	struct msg_fixed *f = &msg_add(&m, MSG_S_FIXED, true)->u.fixed;
	key_init(&f->key);
	f->key.proto = IPPROTO_TCP;
	v4(f->key.saddr, "192.0.2.1");
	v4(f->key.daddr, "10.9.0.5");
	f->key.sport = htons(40000);
	f->key.dport = htons(80);
	f->ttl = 60;
	struct msg_ip_packet *ip = &msg_add(&m, MSG_S_IP_PACKET, false)->u.ip_packet;
	ip->data = pkt;
	ip->len = sizeof(pkt);
	mgr_send(&m, NULL, 0);
	settle();
	fwd_aff_get_stats(aff, &st);
	cr_assert_eq(st.nfixed, 1);
	cr_assert_eq(delivered.calls, 1);
	cr_assert_eq(delivered.len, sizeof(pkt));
	cr_assert_eq(delivered.pkt[0], 0x45);
	cr_assert_eq(delivered.rank, 0);

	/* garbage gets an error back, and the agent keeps going */
	static const uint8_t junk[] = { 0x93, 0x01, 0xcc };
	mgr_send_raw(junk, sizeof(junk));
	cr_assert(mgr_recv(&r, NULL, NULL, 2000), "no error reply");
	cr_assert_eq(r.type, MSG_T_ERROR);
	cr_assert_eq(fwd_mgr_counter(mgrs, 0, FWD_MGR_RX_BAD), 1);
}

Test(fwd_mgr, punts_carry_the_packet_and_are_rate_limited)
{
	struct msg m;
	static const uint8_t pkt[60] = { 0x45, 0, 0, 60 };

	open_agent(NULL, 0, 1, 2); /* 1 per second, burst of 2 */
	expect_hello();

	struct fwd_punt p = { .owner = 0, .fixed = false, .reasons = MSG_INT_SYN,
			      .packet = pkt, .packet_len = sizeof(pkt), .mgr_len = 3 };
	key_init(&p.key);
	p.key.proto = IPPROTO_TCP;
	memcpy(p.mgr_data, "svc", 3);
	memset(p.dmask, 0xff, 16);
	uint64_t now = ev_now_ms();
	cr_assert_eq(fwd_mgr_punt(mgrs, &p, now), 0);
	cr_assert_eq(fwd_mgr_punt(mgrs, &p, now), 0);
	cr_assert_eq(fwd_mgr_punt(mgrs, &p, now), -EAGAIN, "over the burst");
	cr_assert_eq(fwd_mgr_counter(mgrs, 0, FWD_MGR_PUNTS_LIMITED), 1);
	cr_assert_eq(fwd_mgr_punt(mgrs, &p, now + 1100), 0, "a token came back after a second");

	for (int i = 0; i < 3; i++) {
		cr_assert(mgr_recv(&m, NULL, NULL, 2000), "punt %d not received", i);
		cr_assert_eq(m.type, MSG_T_MATCH_WILDCARD);
		const struct msg_seg *id = msg_find(&m, MSG_S_AFFINITY_ID);
		cr_assert_not_null(id);
		cr_assert_eq(id->u.affinity_id.reasons, MSG_INT_SYN);
		const struct msg_seg *ip = msg_find(&m, MSG_S_IP_PACKET);
		cr_assert_not_null(ip);
		cr_assert_eq(ip->u.ip_packet.len, sizeof(pkt));
		const struct msg_seg *d = msg_find(&m, MSG_S_MGR_INTEREST);
		cr_assert_not_null(d);
		cr_assert_arr_eq(d->u.mgr_interest.data, "svc", 3);
	}
}

Test(fwd_mgr, hello_again_after_the_manager_restarts)
{
	struct msg m;
	int linger = 0;

	open_agent(NULL, 0, 0, 0);
	expect_hello();
	zmq_close(router);
	router = zmq_socket(zctx, ZMQ_ROUTER);
	zmq_setsockopt(router, ZMQ_LINGER, &linger, sizeof(linger));
	unlink(endpoint + strlen("ipc://"));
	cr_assert_eq(zmq_bind(router, endpoint), 0);
	/* the agent reconnects by itself and introduces itself again */
	cr_assert(mgr_recv(&m, NULL, NULL, 5000), "no hello after the manager came back");
	cr_assert_eq(m.type, MSG_T_HELLO);
}

Test(fwd_mgr, authenticated_messages_only)
{
	static const uint8_t key[32] = "0123456789abcdef0123456789abcde";
	uint8_t raw[MSG_MAX_SIZE];
	size_t rawlen;
	struct msg m;
	struct fwd_aff_stats st;

	open_agent(key, sizeof(key), 0, 0);
	cr_assert(mgr_recv(&m, raw, &rawlen, 3000));
	cr_assert_eq(m.type, MSG_T_HELLO);
	cr_assert_eq(msg_verify(raw, rawlen, key, sizeof(key)), 0, "the hello is signed");

	wildcard(&m, false); /* unsigned */
	mgr_send(&m, NULL, 0);
	settle();
	fwd_aff_get_stats(aff, &st);
	cr_assert_eq(st.nwild, 0, "an unauthenticated update is refused");
	cr_assert_eq(fwd_mgr_counter(mgrs, 0, FWD_MGR_RX_BAD), 1);
	cr_assert(!mgr_recv(&m, NULL, NULL, 200), "and gets no answer");

	wildcard(&m, true);
	mgr_send(&m, key, sizeof(key));
	settle();
	fwd_aff_get_stats(aff, &st);
	cr_assert_eq(st.nwild, 1, "a signed one is applied");
}

/* tcp:// endpoints use CurveZMQ: the agent must know the manager's key. */
static void open_curve(const char *ep, const char *server_pub, const char *pub, const char *sec)
{
	struct fwd_mgrs_cfg cfg = { .n = 1, .instance = 77, .generation = 3 };

	snprintf(cfg.mgr[0].endpoint, sizeof(cfg.mgr[0].endpoint), "%s", ep);
	memcpy(cfg.mgr[0].server_key, server_pub, 41);
	memcpy(cfg.public_key, pub, 41);
	memcpy(cfg.secret_key, sec, 41);
	cr_assert_eq(fwd_mgrs_open(loop, zctx, &cfg, aff, CAPS_NO_SEQ, deliver, NULL, &mgrs), 0);
}

Test(fwd_mgr, curve_over_tcp)
{
	char spub[41], ssec[41], cpub[41], csec[41], wpub[41], wsec[41], ep[64];
	struct msg m;
	int one = 1, linger = 0;
	size_t len = sizeof(ep);

	cr_assert_eq(zmq_curve_keypair(spub, ssec), 0);
	cr_assert_eq(zmq_curve_keypair(cpub, csec), 0);
	cr_assert_eq(zmq_curve_keypair(wpub, wsec), 0);
	zmq_close(router);
	router = zmq_socket(zctx, ZMQ_ROUTER);
	zmq_setsockopt(router, ZMQ_LINGER, &linger, sizeof(linger));
	zmq_setsockopt(router, ZMQ_CURVE_SERVER, &one, sizeof(one));
	zmq_setsockopt(router, ZMQ_CURVE_SECRETKEY, ssec, 40);
	cr_assert_eq(zmq_bind(router, "tcp://127.0.0.1:*"), 0);
	zmq_getsockopt(router, ZMQ_LAST_ENDPOINT, ep, &len);

	/* a wrong server key: the handshake fails, nothing gets through */
	open_curve(ep, wpub, cpub, csec);
	cr_assert(!mgr_recv(&m, NULL, NULL, 1000), "an agent with the wrong server key got through");
	cr_assert(!fwd_mgr_connected(mgrs, 0));
	fwd_mgrs_close(mgrs);

	/* the right one: hello arrives, encrypted */
	open_curve(ep, spub, cpub, csec);
	cr_assert(mgr_recv(&m, NULL, NULL, 3000), "no hello over CurveZMQ");
	cr_assert_eq(m.type, MSG_T_HELLO);
	cr_assert(fwd_mgr_connected(mgrs, 0));
}
