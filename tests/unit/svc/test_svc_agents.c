// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * loom-svc-mgr's agent channel from the agents' side of the socket: the
 * real svc_agents and svc_core of a manager (a real flow table, services
 * from a YAML string), its event loop stepped by this thread, and agents
 * played by raw ZeroMQ DEALER sockets that speak the codec. What an agent
 * sees is what is checked: what comes back for a hello, a punt or a deny,
 * and what never comes back (before hello, unauthenticated, unadmitted).
 *
 * Each test is its own process (Criterion forks), so the instance name, the
 * ipc:// path and the key file carry the pid and are removed afterwards.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zmq.h>

#include "common/msg.h"
#include "common/pkt_csum.h"
#include "svc_mgr.h"

#define AGENT_CAPS (MSG_CAP(MSG_S_ACT_NAT) | MSG_CAP(MSG_S_ACT_INTEREST) | \
		    MSG_CAP(MSG_S_WILDCARD) | MSG_CAP(MSG_S_FIXED) | MSG_CAP(MSG_S_IP_PACKET))
#define N_WILDCARDS 4 /* web: the virtual address and two backends; seen: one */
#define MAX_AGENTS 8

static const uint8_t auth_key[16] = { 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
				      0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff };
static const uint8_t wrong_key[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };

/* The part of every test's configuration after instance and endpoints. */
static const char common_yaml[] =
	"address: 10.2.0.1\n"
	"heartbeat: 100ms\n"
	"wildcard-ttl: 30s\n"
	"fixed-ttl: 60s\n"
	"flows: 1024\n"
	"services:\n"
	"  - name: web\n"
	"    address: 10.9.0.1\n"
	"    port: 80\n"
	"    clients: [ 10.1.0.0/24 ]\n"
	"    precedence: 150\n"
	"    backup-precedence: 5\n"
	"    backends:\n"
	"      - { address: 10.2.0.11, port: 8080 }\n"
	"      - { address: 10.2.0.12 }\n"
	"  - name: seen\n"
	"    type: observe\n"
	"    address: 10.9.0.5\n"
	"    port: 443\n"
	"    precedence: 7\n"
	"    precedence-order: lower\n";

static struct svc_config cfg;
static struct svc_mgr mgr;
static struct svc_agents *agents;
static struct ev_loop *loop;
static void *zctx, *cctx; /* the manager's context, the agents' */
static void *socks[MAX_AGENTS];
static unsigned nsocks;
static char instance[32], ipc_ep[128], key_path[64];

/* A message as an agent receives it: the bytes and their decode. */
struct rx {
	uint8_t buf[MSG_MAX_SIZE];
	size_t len;
	struct msg m;
};
static struct rx rx, rxs[N_WILDCARDS + 2];

/* ---- the manager -------------------------------------------------------------- */

static void setup(void)
{
	snprintf(instance, sizeof(instance), "tsa%d", (int)getpid());
	snprintf(ipc_ep, sizeof(ipc_ep), "ipc:///tmp/loom-test-svc-agents-%d.sock", (int)getpid());
	loop = ev_loop_new();
	zctx = zmq_ctx_new();
	cctx = zmq_ctx_new();
	cr_assert(loop && zctx && cctx);
}

static void teardown(void)
{
	char path[96];

	for (unsigned i = 0; i < nsocks; i++)
		zmq_close(socks[i]);
	svc_agents_close(agents);
	svc_model_free(&mgr);
	svc_flows_close(mgr.flows);
	snprintf(path, sizeof(path), "/dev/shm/loom.%s.flow", instance);
	unlink(path);
	unlink(ipc_ep + strlen("ipc://"));
	if (key_path[0])
		unlink(key_path);
	zmq_ctx_term(cctx);
	zmq_ctx_term(zctx);
	ev_loop_free(loop);
}

TestSuite(svc_agents, .init = setup, .fini = teardown);

/* Start the manager with head (endpoints, keys) before the common part. */
static void start_mgr(const char *head)
{
	static char yaml[8192];
	static struct cfg_diag diag;
	struct shm_perm perm = { .mode = 0600, .gid = (gid_t)-1 };
	int n = snprintf(yaml, sizeof(yaml), "instance: %s\n%s%s", instance, head, common_yaml);

	cr_assert(n > 0 && (size_t)n < sizeof(yaml));
	if (cfg_load_buffer("test", yaml, (size_t)n, &svc_config_schema, &cfg, &diag) < 0) {
		cfg_diag_print(&diag, stderr);
		cr_assert_fail("the test's configuration was refused");
	}
	mgr.cfg = &cfg;
	mgr.loop = loop;
	mgr.instance = 0x10c;
	cr_assert_eq(svc_flows_open(instance, cfg.flows, 8, &perm, &mgr.flows, NULL), 0);
	cr_assert_eq(svc_model_load(&mgr, &cfg), 0);
	cr_assert_eq(svc_core_init(&mgr), 0);
	cr_assert_eq(svc_agents_open(&mgr, zctx, &agents), 0);
}

/* agent-timeout is 5 s unless extra says otherwise. */
static void start_ipc(const char *extra)
{
	char head[512];

	snprintf(head, sizeof(head), "listen: [ \"%s\" ]\n%s", ipc_ep,
		 extra[0] ? extra : "agent-timeout: 5s\n");
	start_mgr(head);
}

static const struct svc_service *service(const char *name)
{
	for (unsigned i = 0; i < mgr.nsvcs; i++)
		if (!strcmp(mgr.svcs[i]->cfg.name, name))
			return mgr.svcs[i];
	cr_assert_fail("no service %s", name);
	return NULL;
}

/* Let the manager's loop run for ms. */
static void pump(int ms)
{
	uint64_t end = ev_now_ms() + (uint64_t)ms;

	while (ev_now_ms() < end)
		ev_run_once(loop, 5);
}

/* ---- the agents ------------------------------------------------------------------ */

/* A DEALER; a CurveZMQ client if server_pub is not NULL. Not connected yet. */
static void *agent_new(const char *server_pub, const char *pub, const char *sec)
{
	void *s = zmq_socket(cctx, ZMQ_DEALER);
	int linger = 0;

	cr_assert(s && nsocks < MAX_AGENTS);
	socks[nsocks++] = s;
	cr_assert_eq(zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof(linger)), 0);
	if (server_pub) {
		cr_assert_eq(zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, server_pub, 40), 0);
		cr_assert_eq(zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, pub, 40), 0);
		cr_assert_eq(zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, sec, 40), 0);
	}
	return s;
}

static void *agent_at(const char *ep)
{
	void *s = agent_new(NULL, NULL, NULL);

	cr_assert_eq(zmq_connect(s, ep), 0);
	return s;
}

/* Start m, with a security segment first when it is to be signed. */
static void msg_start(struct msg *m, enum msg_type type, bool secure)
{
	msg_init(m, type);
	if (secure) {
		struct msg_security *sec = &msg_add(m, MSG_S_SECURITY, true)->u.security;
		sec->type = MSG_SEC_HMAC_SHA256;
		sec->len = MSG_HMAC_LEN;
	}
}

static size_t encode(const struct msg *m, uint8_t *buf, size_t cap, const uint8_t *key)
{
	struct msg_err err;
	char why[MSG_ERR_STR_LEN];
	size_t len;

	cr_assert_eq(msg_encode(m, buf, cap, &len, &err), 0, "encode: %s",
		     msg_err_str(&err, why, sizeof(why)));
	if (key)
		cr_assert_eq(msg_sign(buf, len, key, sizeof(auth_key)), 0);
	return len;
}

static void send_bytes(void *s, const uint8_t *buf, size_t len)
{
	cr_assert_eq(zmq_send(s, buf, len, 0), (int)len);
}

/* Encode m and send it, signed with key (16 bytes) if not NULL. */
static void send_msg(void *s, const struct msg *m, const uint8_t *key)
{
	static uint8_t buf[MSG_MAX_SIZE];

	send_bytes(s, buf, encode(m, buf, sizeof(buf), key));
}

static void hello(void *s, uint64_t inst, const uint8_t *key)
{
	static struct msg m;

	msg_start(&m, MSG_T_HELLO, key != NULL);
	struct msg_hello *h = &msg_add(&m, MSG_S_HELLO, true)->u.hello;
	h->role = MSG_ROLE_FWD_AGENT;
	h->caps = AGENT_CAPS;
	h->instance = inst;
	h->generation = 1;
	h->vmin = MSG_VERSION;
	h->vmax = MSG_VERSION;
	struct msg_identity *id = &msg_add(&m, MSG_S_IDENTITY, true)->u.identity;
	snprintf(id->host, sizeof(id->host), "agent-%llx", (unsigned long long)inst);
	send_msg(s, &m, key);
}

static void heartbeat(void *s, uint64_t seq, const uint8_t *key)
{
	static struct msg m;

	msg_start(&m, MSG_T_HEARTBEAT, key != NULL);
	struct msg_heartbeat *h = &msg_add(&m, MSG_S_HEARTBEAT, true)->u.heartbeat;
	h->seq = seq;
	h->mono_ms = ev_now_ms();
	send_msg(s, &m, key);
}

/* Step the manager's loop until s has a message (true) or ms have passed.
 * Everything the manager sends must decode. */
static bool recv_msg(void *s, struct rx *r, int ms)
{
	uint64_t end = ev_now_ms() + (uint64_t)ms;

	for (;;) {
		int n = zmq_recv(s, r->buf, sizeof(r->buf), ZMQ_DONTWAIT);
		if (n >= 0) {
			struct msg_err err;
			char why[MSG_ERR_STR_LEN];
			cr_assert((size_t)n <= sizeof(r->buf));
			r->len = (size_t)n;
			cr_assert_eq(msg_decode(r->buf, r->len, &r->m, &err), 0,
				     "the manager sent what the codec refuses: %s",
				     msg_err_str(&err, why, sizeof(why)));
			return true;
		}
		cr_assert_eq(errno, EAGAIN);
		if (ev_now_ms() >= end)
			return false;
		ev_run_once(loop, 5);
	}
}

static void expect_silence(void *s, int ms, const char *what)
{
	bool got = recv_msg(s, &rx, ms);

	cr_assert(!got, "%s, yet the manager sent a %s", what,
		  got ? msg_type_name(rx.m.type) : "");
}

/* Drain what s has received so far (heartbeats of the ticks, say). */
static void drain(void *s)
{
	while (recv_msg(s, &rx, 50))
		;
}

/* ---- what the manager must send ---------------------------------------------------- */

static void a4(uint8_t a[16], const char *dotted)
{
	struct in_addr in;

	cr_assert_eq(inet_pton(AF_INET, dotted, &in), 1);
	key_addr_from_v4(a, in.s_addr);
}

/* The 16-byte mask of an IPv4 prefix of len bits. */
static void m4(uint8_t m[16], unsigned len)
{
	unsigned bits = 96 + len;

	memset(m, 0, 16);
	for (unsigned i = 0; i < bits; i++)
		m[i / 8] |= (uint8_t)(0x80 >> (i % 8));
}

struct want_wc {
	struct flow_key key;
	uint8_t smask[16], dmask[16];
	uint32_t svc_id;
	uint8_t dir, order;
	uint32_t prec, backup;
	bool seen;
};

static struct want_wc want[N_WILDCARDS];

static void want_init(void)
{
	const struct svc_service *web = service("web"), *seen = service("seen");
	static const char *const backend[2] = { "10.2.0.11", "10.2.0.12" };
	static const uint16_t bport[2] = { 8080, 80 };

	memset(want, 0, sizeof(want));
	for (unsigned i = 0; i < 3; i++) {
		want[i].key.proto = 6;
		want[i].svc_id = web->id;
		want[i].order = MSG_ORDER_HIGHER_BETTER;
		want[i].prec = 150;
		want[i].backup = 5;
	}
	/* clients -> the virtual address */
	a4(want[0].key.saddr, "10.1.0.0");
	m4(want[0].smask, 24);
	a4(want[0].key.daddr, "10.9.0.1");
	m4(want[0].dmask, 32);
	want[0].key.dport = htons(80);
	want[0].dir = FLOW_DIR_ORIG;
	/* each backend -> the clients: replies seen without their request */
	for (unsigned b = 0; b < 2; b++) {
		struct want_wc *w = &want[1 + b];
		a4(w->key.saddr, backend[b]);
		m4(w->smask, 32);
		w->key.sport = htons(bport[b]);
		a4(w->key.daddr, "10.1.0.0");
		m4(w->dmask, 24);
		w->dir = FLOW_DIR_REPLY;
	}
	/* observe: any IPv4 client -> 10.9.0.5:443, lower precedence is better */
	struct want_wc *w = &want[3];
	w->key.proto = 6;
	a4(w->key.saddr, "0.0.0.0");
	m4(w->smask, 0);
	a4(w->key.daddr, "10.9.0.5");
	m4(w->dmask, 32);
	w->key.dport = htons(443);
	w->svc_id = seen->id;
	w->dir = FLOW_DIR_ORIG;
	w->order = MSG_ORDER_LOWER_BETTER;
	w->prec = 7;
}

/* The manager interest data svc_core's mgrdata_put() writes. */
static bool mgrdata_is(const struct msg *m, uint32_t svc_id, uint8_t dir)
{
	const struct msg_seg *s = msg_find(m, MSG_S_MGR_INTEREST);

	if (!s || s->u.mgr_interest.len != SVC_MGRDATA_LEN)
		return false;
	const uint8_t *d = s->u.mgr_interest.data;
	return d[0] == SVC_MGRDATA_MAGIC && d[1] == dir && d[2] == (uint8_t)svc_id &&
	       d[3] == (uint8_t)(svc_id >> 8) && d[4] == (uint8_t)(svc_id >> 16) &&
	       d[5] == (uint8_t)(svc_id >> 24);
}

static bool wildcard_is(const struct msg *m, const struct want_wc *w)
{
	const struct msg_seg *ws = msg_find(m, MSG_S_WILDCARD);
	const struct msg_seg *ps = msg_find(m, MSG_S_SERVICE_PREC);
	const struct msg_seg *bs = msg_find(m, MSG_S_BACKUP_PREC);

	return ws && ps && bs && key_equal(&ws->u.wildcard.key, &w->key) &&
	       !memcmp(ws->u.wildcard.smask, w->smask, 16) &&
	       !memcmp(ws->u.wildcard.dmask, w->dmask, 16) && ws->u.wildcard.ttl == 30 &&
	       ps->u.service_prec.order == w->order && ps->u.service_prec.value == w->prec &&
	       bs->u.backup_prec.value == w->backup && mgrdata_is(m, w->svc_id, w->dir);
}

/* Every wildcard of every service, each once, and nothing else after. */
static void expect_wildcards(void *s, const char *when)
{
	want_init();
	for (unsigned i = 0; i < N_WILDCARDS; i++) {
		cr_assert(recv_msg(s, &rx, 2000), "%s: wildcard %u of %u missing", when, i + 1,
			  N_WILDCARDS);
		cr_assert_eq(rx.m.type, MSG_T_UPDATE_WILDCARD, "%s: a %s among the wildcards",
			     when, msg_type_name(rx.m.type));
		unsigned k = 0;
		while (k < N_WILDCARDS && (want[k].seen || !wildcard_is(&rx.m, &want[k])))
			k++;
		cr_assert_lt(k, N_WILDCARDS, "%s: a wildcard that is not one of the services'",
			     when);
		want[k].seen = true;
	}
	expect_silence(s, 200, "every wildcard was sent");
}

/* The answer to hello: a heartbeat, then every wildcard. */
static void expect_welcome(void *s, const char *when)
{
	cr_assert(recv_msg(s, &rx, 3000), "%s: no answer to hello", when);
	cr_assert_eq(rx.m.type, MSG_T_HEARTBEAT, "%s: a %s first, not a heartbeat", when,
		     msg_type_name(rx.m.type));
	expect_wildcards(s, when);
}

/* ---- 1. ipc://: hello, heartbeats, errors, restarts, silence ------------------------ */

Test(svc_agents, hello_gets_every_wildcard_and_heartbeats)
{
	start_ipc("");
	void *s = agent_at(ipc_ep);

	hello(s, 0xa1, NULL);
	expect_welcome(s, "hello");
	cr_assert_eq(svc_agents_live(&mgr), 1);
	cr_assert_eq(mgr.ctr[SVC_C_HELLOS], 1);
	cr_assert_eq(mgr.ctr[SVC_C_WILDCARDS_SENT], N_WILDCARDS);

	/* the heartbeat timer's work: one heartbeat each time, numbered on */
	uint64_t last = 0;
	for (unsigned i = 0; i < 3; i++) {
		svc_agents_tick(agents, ev_now_ms());
		cr_assert(recv_msg(s, &rx, 1000), "no heartbeat after tick %u", i);
		cr_assert_eq(rx.m.type, MSG_T_HEARTBEAT);
		uint64_t seq = msg_find(&rx.m, MSG_S_HEARTBEAT)->u.heartbeat.seq;
		cr_assert_gt(seq, last, "heartbeat sequence numbers go up");
		last = seq;
		expect_silence(s, 50, "one tick, one heartbeat");
	}
}

Test(svc_agents, nothing_before_hello)
{
	static struct msg m;

	start_ipc("");
	void *s = agent_at(ipc_ep);

	heartbeat(s, 1, NULL);
	expect_silence(s, 300, "a heartbeat before hello");
	cr_assert_eq(mgr.ctr[SVC_C_RX_UNEXPECTED], 1);

	/* a punt before hello is not decided either */
	msg_init(&m, MSG_T_IP_PACKET);
	static const uint8_t pkt[20] = { 0x45, 0, 0, 20, 0, 0, 0, 0, 64, 17 };
	msg_add(&m, MSG_S_IP_PACKET, true)->u.ip_packet =
		(struct msg_ip_packet){ .data = pkt, .len = sizeof(pkt) };
	send_msg(s, &m, NULL);
	expect_silence(s, 300, "a message before hello");
	cr_assert_eq(mgr.ctr[SVC_C_RX_UNEXPECTED], 2);
	cr_assert_eq(svc_agents_live(&mgr), 0);
	cr_assert_eq(mgr.ctr[SVC_C_HELLOS], 0);

	/* and the peer can still say hello afterwards */
	hello(s, 0xa2, NULL);
	expect_welcome(s, "hello after the strays");
}

Test(svc_agents, malformed_message_is_answered_with_an_error)
{
	static uint8_t buf[256];
	static struct msg m;
	struct msg_err err;

	start_ipc("");
	void *s = agent_at(ipc_ep);
	hello(s, 0xa3, NULL);
	expect_welcome(s, "hello");

	/* a heartbeat cut short by one byte */
	msg_start(&m, MSG_T_HEARTBEAT, false);
	msg_add(&m, MSG_S_HEARTBEAT, true)->u.heartbeat.seq = 9;
	size_t len = encode(&m, buf, sizeof(buf), NULL) - 1;
	cr_assert_lt(msg_decode(buf, len, &m, &err), 0);
	send_bytes(s, buf, len);

	cr_assert(recv_msg(s, &rx, 2000), "a malformed message got no answer");
	cr_assert_eq(rx.m.type, MSG_T_ERROR);
	const struct msg_error *e = &msg_find(&rx.m, MSG_S_ERROR)->u.error;
	cr_assert_eq(e->code, err.code, "the error names %s, not %s", msg_errc_name(e->code),
		     msg_errc_name(err.code));
	cr_assert(e->present & MSG_ERRSEG_TEXT);
	cr_assert(strstr(e->text, msg_errc_name(err.code)), "error text \"%s\"", e->text);
	cr_assert_eq(mgr.ctr[SVC_C_RX_BAD], 1);
	expect_silence(s, 200, "one error for one bad message");

	/* a message of an unknown type: named as such */
	msg_start(&m, MSG_T_HEARTBEAT, false);
	msg_add(&m, MSG_S_HEARTBEAT, true)->u.heartbeat.seq = 10;
	len = encode(&m, buf, sizeof(buf), NULL);
	cr_assert(buf[0] == 0x93 && buf[2] == MSG_T_HEARTBEAT); /* [ version, type, ... */
	buf[2] = 31;
	cr_assert_eq(msg_decode(buf, len, &m, &err), -MSG_E_MSG_TYPE);
	send_bytes(s, buf, len);
	cr_assert(recv_msg(s, &rx, 2000), "a message of an unknown type got no answer");
	cr_assert_eq(rx.m.type, MSG_T_ERROR);
	cr_assert_eq(msg_find(&rx.m, MSG_S_ERROR)->u.error.code, MSG_E_MSG_TYPE);
	cr_assert_eq(mgr.ctr[SVC_C_RX_BAD], 2);

	/* the agent is still there */
	cr_assert_eq(svc_agents_live(&mgr), 1);
}

Test(svc_agents, restarted_agent_replaces_the_old_one)
{
	start_ipc("");
	void *old = agent_at(ipc_ep);
	hello(old, 0xa4, NULL);
	expect_welcome(old, "first hello");

	/* the agent restarted: a new socket (a new routing id), the same instance */
	void *s = agent_at(ipc_ep);
	hello(s, 0xa4, NULL);
	expect_welcome(s, "hello after the restart");
	cr_assert_eq(svc_agents_live(&mgr), 1, "the old route was kept beside the new");
	cr_assert_eq(mgr.ctr[SVC_C_HELLOS], 2);

	/* heartbeats go to the new route only */
	svc_agents_tick(agents, ev_now_ms());
	cr_assert(recv_msg(s, &rx, 1000), "the restarted agent gets no heartbeat");
	cr_assert_eq(rx.m.type, MSG_T_HEARTBEAT);
	expect_silence(old, 200, "the old route was forgotten");

	/* and the old route is a stranger now */
	heartbeat(old, 1, NULL);
	pump(100);
	cr_assert_eq(mgr.ctr[SVC_C_RX_UNEXPECTED], 1);

	/* a second agent is another agent */
	void *other = agent_at(ipc_ep);
	hello(other, 0xb4, NULL);
	expect_welcome(other, "another agent's hello");
	cr_assert_eq(svc_agents_live(&mgr), 2);
}

Test(svc_agents, silent_agent_is_forgotten)
{
	start_ipc("agent-timeout: 300ms\n");
	void *talker = agent_at(ipc_ep), *mute = agent_at(ipc_ep);

	hello(talker, 0xa5, NULL);
	expect_welcome(talker, "hello");
	hello(mute, 0xb5, NULL);
	expect_welcome(mute, "hello");
	cr_assert_eq(svc_agents_live(&mgr), 2);

	/* 700 ms (agent-timeout is 300 ms): one heartbeat each way every 100 ms,
	 * but only from the talker, whose last one is read right before each
	 * tick (on a loaded machine a 100 ms pump may take more than 300) */
	for (unsigned i = 0; i < 7; i++) {
		pump(100);
		heartbeat(talker, i, NULL);
		pump(20);
		svc_agents_tick(agents, ev_now_ms());
	}
	cr_assert_eq(svc_agents_live(&mgr), 1);
	cr_assert_eq(mgr.ctr[SVC_C_AGENTS_LOST], 1);

	/* the talker still gets heartbeats, the forgotten one no longer */
	drain(talker);
	drain(mute);
	svc_agents_tick(agents, ev_now_ms());
	cr_assert(recv_msg(talker, &rx, 1000), "the live agent gets no heartbeat");
	cr_assert_eq(rx.m.type, MSG_T_HEARTBEAT);
	expect_silence(mute, 200, "the silent agent was forgotten");

	/* a forgotten agent that comes back says hello and is welcome again */
	hello(mute, 0xb5, NULL);
	expect_welcome(mute, "hello after being forgotten");
	cr_assert_eq(svc_agents_live(&mgr), 2);
}

/* ---- 2. tcp:// with CurveZMQ ------------------------------------------------------- */

/* A port nothing listens on now (the manager binds it right after). */
static unsigned free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	cr_assert_geq(fd, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	return ntohs(a.sin_port);
}

/* Watch s's handshakes: a PAIR that gets its monitor events. */
static void *watch(void *s, unsigned n)
{
	char ep[64];
	void *p = zmq_socket(cctx, ZMQ_PAIR);
	int linger = 0;

	cr_assert(p && nsocks < MAX_AGENTS);
	socks[nsocks++] = p;
	zmq_setsockopt(p, ZMQ_LINGER, &linger, sizeof(linger));
	snprintf(ep, sizeof(ep), "inproc://watch-%u", n);
	cr_assert_eq(zmq_socket_monitor(s, ep, ZMQ_EVENT_HANDSHAKE_SUCCEEDED |
					ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
					ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
					ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL), 0);
	cr_assert_eq(zmq_connect(p, ep), 0);
	return p;
}

/* The first handshake event on watcher p (stepping the manager's loop, which
 * runs the ZAP handler): its event number, *value its value. 0: none. */
static unsigned handshake(void *p, uint32_t *value, int ms)
{
	uint64_t end = ev_now_ms() + (uint64_t)ms;
	uint8_t ev[6];
	char addr[256];

	while (ev_now_ms() < end) {
		if (zmq_recv(p, ev, sizeof(ev), ZMQ_DONTWAIT) == 6) {
			uint16_t num;
			memcpy(&num, ev, 2);
			memcpy(value, ev + 2, 4);
			zmq_recv(p, addr, sizeof(addr), 0);
			return num;
		}
		ev_run_once(loop, 5);
	}
	return 0;
}

Test(svc_agents, curve_admits_only_listed_agent_keys)
{
	char spub[41], ssec[41], apub[41], asec[41], xpub[41], xsec[41], ep[64], head[512];
	uint32_t value = 0;

	cr_assert_eq(zmq_curve_keypair(spub, ssec), 0);
	cr_assert_eq(zmq_curve_keypair(apub, asec), 0);
	cr_assert_eq(zmq_curve_keypair(xpub, xsec), 0);
	snprintf(key_path, sizeof(key_path), "/tmp/loom-test-svc-agents-%d.key", (int)getpid());
	FILE *f = fopen(key_path, "w");
	cr_assert(f);
	fprintf(f, "%s\n", ssec);
	fclose(f);
	snprintf(ep, sizeof(ep), "tcp://127.0.0.1:%u", free_port());
	snprintf(head, sizeof(head),
		 "listen: [ \"%s\" ]\npublic-key: \"%s\"\nsecret-key-file: %s\n"
		 "agent-keys: [ \"%s\" ]\nagent-timeout: 5s\n", ep, spub, key_path, apub);
	start_mgr(head);

	/* the listed agent: admitted, welcomed */
	void *good = agent_new(spub, apub, asec);
	void *wg = watch(good, 0);
	cr_assert_eq(zmq_connect(good, ep), 0);
	hello(good, 0xc1, NULL);
	cr_assert_eq(handshake(wg, &value, 3000), ZMQ_EVENT_HANDSHAKE_SUCCEEDED);
	expect_welcome(good, "hello over CurveZMQ");

	/* a valid key pair that is not listed: the ZAP handler refuses it (the
	 * handshake fails with status 400), and its hello never arrives */
	void *stranger = agent_new(spub, xpub, xsec);
	void *wx = watch(stranger, 1);
	cr_assert_eq(zmq_connect(stranger, ep), 0);
	hello(stranger, 0xc2, NULL);
	cr_assert_eq(handshake(wx, &value, 3000), ZMQ_EVENT_HANDSHAKE_FAILED_AUTH,
		     "an unlisted agent key was not refused by the manager's ZAP handler");
	cr_assert_eq(value, 400);
	expect_silence(stranger, 500, "an unlisted agent key");

	/* no CurveZMQ at all: the handshake cannot even start */
	void *plain = agent_new(NULL, NULL, NULL);
	void *wp = watch(plain, 2);
	cr_assert_eq(zmq_connect(plain, ep), 0);
	hello(plain, 0xc3, NULL);
	unsigned e = handshake(wp, &value, 2000);
	cr_assert_neq(e, ZMQ_EVENT_HANDSHAKE_SUCCEEDED, "a plain peer completed a handshake");
	expect_silence(plain, 500, "a peer without CurveZMQ");

	cr_assert_eq(mgr.ctr[SVC_C_HELLOS], 1, "a refused peer's hello reached the manager");
	cr_assert_eq(svc_agents_live(&mgr), 1);

	/* and the admitted agent is undisturbed */
	svc_agents_tick(agents, ev_now_ms());
	cr_assert(recv_msg(good, &rx, 1000));
	cr_assert_eq(rx.m.type, MSG_T_HEARTBEAT);
}

/* ---- 3. auth-key --------------------------------------------------------------------- */

Test(svc_agents, auth_key_signs_and_verifies_everything)
{
	start_ipc("auth-key: 00112233445566778899aabbccddeeff\nagent-timeout: 5s\n");
	void *s = agent_at(ipc_ep);

	/* unsigned: dropped unheard, counted */
	hello(s, 0xd1, NULL);
	expect_silence(s, 300, "an unsigned hello");
	cr_assert_eq(mgr.ctr[SVC_C_RX_BAD], 1);
	/* signed with another key: the same */
	hello(s, 0xd1, wrong_key);
	expect_silence(s, 300, "a hello signed with the wrong key");
	cr_assert_eq(mgr.ctr[SVC_C_RX_BAD], 2);
	cr_assert_eq(mgr.ctr[SVC_C_HELLOS], 0);
	cr_assert_eq(svc_agents_live(&mgr), 0);

	/* signed right: welcomed, and every answer carries a good authenticator */
	hello(s, 0xd1, auth_key);
	cr_assert(recv_msg(s, &rx, 3000), "a signed hello got no answer");
	cr_assert_eq(rx.m.type, MSG_T_HEARTBEAT);
	cr_assert_eq(msg_verify(rx.buf, rx.len, auth_key, sizeof(auth_key)), 0);
	for (unsigned i = 0; i < N_WILDCARDS; i++) {
		cr_assert(recv_msg(s, &rxs[i], 2000), "wildcard %u missing", i);
		cr_assert_eq(rxs[i].m.type, MSG_T_UPDATE_WILDCARD);
		cr_assert_eq(msg_verify(rxs[i].buf, rxs[i].len, auth_key, sizeof(auth_key)), 0,
			     "wildcard %u is not signed with the auth key", i);
		cr_assert_eq(msg_verify(rxs[i].buf, rxs[i].len, wrong_key, sizeof(wrong_key)),
			     -MSG_E_AUTH);
	}
	svc_agents_tick(agents, ev_now_ms());
	cr_assert(recv_msg(s, &rx, 1000));
	cr_assert_eq(rx.m.type, MSG_T_HEARTBEAT);
	cr_assert_eq(msg_verify(rx.buf, rx.len, auth_key, sizeof(auth_key)), 0);

	/* from a known agent too: a bad signature is never answered, not even
	 * with an error (that would talk back to whoever forged it) */
	heartbeat(s, 1, wrong_key);
	expect_silence(s, 300, "a heartbeat signed with the wrong key");
	cr_assert_eq(mgr.ctr[SVC_C_RX_BAD], 3);
	heartbeat(s, 2, NULL);
	expect_silence(s, 300, "an unsigned heartbeat");
	cr_assert_eq(mgr.ctr[SVC_C_RX_BAD], 4);
}

/* ---- 4. the first packet over the socket ------------------------------------------ */

/* An IPv4 TCP SYN, 60 bytes, header checksum right. */
static uint32_t syn(uint8_t *p, const char *src, uint16_t sport, const char *dst, uint16_t dport)
{
	struct in_addr s, d;

	cr_assert_eq(inet_pton(AF_INET, src, &s), 1);
	cr_assert_eq(inet_pton(AF_INET, dst, &d), 1);
	memset(p, 0, 60);
	p[0] = 0x45;
	p[3] = 60;
	p[8] = 64;
	p[9] = 6;
	memcpy(p + 12, &s, 4);
	memcpy(p + 16, &d, 4);
	uint16_t c = (uint16_t)~pkt_csum_fold(pkt_csum_add(0, p, 20));
	memcpy(p + 10, &c, 2);
	uint8_t *t = p + 20;
	t[0] = (uint8_t)(sport >> 8);
	t[1] = (uint8_t)sport;
	t[2] = (uint8_t)(dport >> 8);
	t[3] = (uint8_t)dport;
	t[12] = 0xa0;
	t[13] = 0x02; /* SYN */
	t[14] = 0xff;
	t[15] = 0xff;
	return 60;
}

/* What an agent sends when a SYN from client:sport matches web's wildcard. */
static void punt(void *s, const char *client, uint16_t sport, uint8_t *pkt)
{
	static struct msg m;
	uint32_t id = service("web")->id;
	uint32_t len = syn(pkt, client, sport, "10.9.0.1", 80);

	msg_init(&m, MSG_T_MATCH_WILDCARD);
	struct msg_affinity_id *aid = &msg_add(&m, MSG_S_AFFINITY_ID, true)->u.affinity_id;
	key_init(&aid->key);
	aid->key.proto = 6;
	a4(aid->key.saddr, "10.1.0.0");
	a4(aid->key.daddr, "10.9.0.1");
	aid->key.dport = htons(80);
	aid->present = MSG_AID_SMASK | MSG_AID_DMASK;
	m4(aid->smask, 24);
	m4(aid->dmask, 32);
	aid->reasons = MSG_INT_SYN | MSG_INT_ALL;
	/* the interest data of the wildcard, as mgrdata_put() lays it out */
	struct msg_interest_data *md = &msg_add(&m, MSG_S_MGR_INTEREST, true)->u.mgr_interest;
	md->len = SVC_MGRDATA_LEN;
	md->data[0] = SVC_MGRDATA_MAGIC;
	md->data[1] = FLOW_DIR_ORIG;
	for (unsigned b = 0; b < 4; b++)
		md->data[2 + b] = (uint8_t)(id >> (8 * b));
	msg_add(&m, MSG_S_IP_PACKET, true)->u.ip_packet =
		(struct msg_ip_packet){ .data = pkt, .len = len };
	send_msg(s, &m, NULL);
}

static const struct msg_nat *nat_of(const struct msg *m)
{
	const struct msg_seg *s = msg_find(m, MSG_S_ACT_NAT);

	cr_assert(s, "an update-fixed without NAT");
	return &s->u.nat;
}

/* The two fixed affinities answering a SYN from client:sport; returns which
 * backend (0: 10.2.0.11:8080, 1: 10.2.0.12:80) the flow went to. */
static unsigned expect_decision(void *s, const char *client, uint16_t sport, const uint8_t *pkt,
				bool interest)
{
	uint32_t id = service("web")->id;
	struct flow_key ko, kr;
	uint8_t vip[16], be[2][16];
	static const uint16_t bport[2] = { 8080, 80 };

	key_init(&ko);
	ko.proto = 6;
	a4(ko.saddr, client);
	ko.sport = htons(sport);
	a4(ko.daddr, "10.9.0.1");
	ko.dport = htons(80);
	a4(vip, "10.9.0.1");
	a4(be[0], "10.2.0.11");
	a4(be[1], "10.2.0.12");

	/* first the reply direction: backend -> client, source back to the VIP */
	struct rx *r1 = &rxs[0], *r2 = &rxs[1];
	cr_assert(recv_msg(s, r1, 2000), "the punt got no answer");
	cr_assert_eq(r1->m.type, MSG_T_UPDATE_FIXED, "a %s, not update-fixed",
		     msg_type_name(r1->m.type));
	const struct msg_fixed *f1 = &msg_find(&r1->m, MSG_S_FIXED)->u.fixed;
	unsigned b = !memcmp(f1->key.saddr, be[0], 16) ? 0 : 1;
	cr_assert(!memcmp(f1->key.saddr, be[b], 16), "the reply comes from no backend");
	key_reverse(&kr, &ko);
	memcpy(kr.saddr, be[b], 16);
	kr.sport = htons(bport[b]);
	cr_assert(key_equal(&f1->key, &kr), "the reply direction's key is not backend -> client");
	cr_assert_eq(f1->ttl, 60);
	const struct msg_nat *n1 = nat_of(&r1->m);
	cr_assert_eq(n1->present, MSG_NAT_SADDR | MSG_NAT_SPORT);
	cr_assert(!memcmp(n1->saddr, vip, 16), "replies are not translated back to the VIP");
	cr_assert_eq(n1->sport, htons(80));
	cr_assert(mgrdata_is(&r1->m, id, FLOW_DIR_REPLY));
	cr_assert_null(msg_find(&r1->m, MSG_S_IP_PACKET), "the packet came back too early");
	const struct msg_seg *i1 = msg_find(&r1->m, MSG_S_ACT_INTEREST);
	cr_assert_eq(i1 != NULL, interest);
	if (i1)
		cr_assert(i1->u.interest.mask & MSG_INT_SYN, "the answer's SYN is not asked for");

	/* then the original direction, client -> VIP to the backend, with the packet */
	cr_assert(recv_msg(s, r2, 2000), "only one fixed affinity came back");
	cr_assert_eq(r2->m.type, MSG_T_UPDATE_FIXED);
	const struct msg_fixed *f2 = &msg_find(&r2->m, MSG_S_FIXED)->u.fixed;
	cr_assert(key_equal(&f2->key, &ko), "the original direction's key is not the SYN's");
	cr_assert_eq(f2->ttl, 60);
	const struct msg_nat *n2 = nat_of(&r2->m);
	cr_assert_eq(n2->present, MSG_NAT_DADDR | MSG_NAT_DPORT);
	cr_assert(!memcmp(n2->daddr, be[b], 16), "the two directions name different backends");
	cr_assert_eq(n2->dport, htons(bport[b]));
	cr_assert(mgrdata_is(&r2->m, id, FLOW_DIR_ORIG));
	const struct msg_seg *ps = msg_find(&r2->m, MSG_S_IP_PACKET);
	cr_assert(ps, "the SYN was not carried back");
	cr_assert_eq(ps->u.ip_packet.len, 60);
	cr_assert(!memcmp(ps->u.ip_packet.data, pkt, 60), "the SYN came back changed");
	const struct msg_seg *i2 = msg_find(&r2->m, MSG_S_ACT_INTEREST);
	cr_assert_eq(i2 != NULL, interest);
	if (i2) {
		uint8_t mgr_addr[16];
		a4(mgr_addr, "10.2.0.1");
		cr_assert_eq(i2->u.interest.mask, MSG_INT_FIN | MSG_INT_RST);
		cr_assert(!memcmp(i2->u.interest.addr, mgr_addr, 16));
	}
	expect_silence(s, 200, "two fixed affinities per new flow");
	return b;
}

Test(svc_agents, first_packet_and_update_deny)
{
	static uint8_t pkt[64], pkt2[64];
	static struct msg deny;

	start_ipc("");
	void *s = agent_at(ipc_ep);
	hello(s, 0xe1, NULL);
	expect_welcome(s, "hello");

	punt(s, "10.1.0.7", 40000, pkt);
	unsigned b = expect_decision(s, "10.1.0.7", 40000, pkt, true);
	cr_assert_eq(mgr.ctr[SVC_C_DECIDED], 1);
	cr_assert_eq(mgr.ctr[SVC_C_FIXED_SENT], 2);

	/* the agent cannot keep interest criteria: it denies the original direction */
	struct msg_action_list no = { .n = 1, .a = { { .type = MSG_S_ACT_INTEREST } } };
	cr_assert_eq(msg_build_deny(&rxs[1].m, &no, &deny, false), 0);
	send_msg(s, &deny, NULL);
	cr_assert(recv_msg(s, &rx, 2000), "the deny got no answer");
	cr_assert_eq(rx.m.type, MSG_T_UPDATE_FIXED);
	const struct msg_fixed *f = &msg_find(&rx.m, MSG_S_FIXED)->u.fixed;
	cr_assert(key_equal(&f->key, &msg_find(&rxs[1].m, MSG_S_FIXED)->u.fixed.key),
		  "the retry is not the denied affinity");
	cr_assert_eq(f->ttl, 60);
	cr_assert_null(msg_find(&rx.m, MSG_S_ACT_INTEREST), "retried with the denied action");
	cr_assert_eq(nat_of(&rx.m)->present, MSG_NAT_DADDR | MSG_NAT_DPORT, "retried without NAT");
	cr_assert_null(msg_find(&rx.m, MSG_S_IP_PACKET), "the packet went back twice");
	expect_silence(s, 200, "one retry for one deny");
	cr_assert_eq(mgr.ctr[SVC_C_DENIED], 1);
	cr_assert_eq(mgr.ctr[SVC_C_RETRIED], 1);

	/* the next flow is not offered what the agent denied */
	punt(s, "10.1.0.7", 40001, pkt2);
	expect_decision(s, "10.1.0.7", 40001, pkt2, false);
	cr_assert_eq(mgr.ctr[SVC_C_DECIDED], 2);

	/* a punt of the known flow (an agent that forgot it) is answered from
	 * the table: the same backend, nothing new decided */
	punt(s, "10.1.0.7", 40000, pkt);
	cr_assert_eq(expect_decision(s, "10.1.0.7", 40000, pkt, false), b);
	cr_assert_eq(mgr.ctr[SVC_C_DECIDED], 2);
	cr_assert_eq(mgr.ctr[SVC_C_ANSWERED], 1);
}
