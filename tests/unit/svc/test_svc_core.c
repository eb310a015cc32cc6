// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * loom-svc-mgr's core (svc_core.c, svc_model.c, svc_flow.c) without a
 * socket: a manager built as the daemon builds it (services from a YAML
 * string, a real flow table in /dev/shm), agents set up by hand, and a send
 * function that encodes every message the core hands it, decodes it back
 * and keeps it. What is checked is what an agent receives and what the
 * flow table (which loomctl shows) holds.
 *
 * m.loop is NULL: no health checks, no timers. Time moves by calling
 * svc_core_sweep() with a clock ahead of ev_now_ms(). Criterion runs each
 * test in its own process: the table's instance carries the pid and is
 * removed after each test.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/msg.h"
#include "common/pkt_csum.h"
#include "common/pkt.h"
#include "common/str.h"
#include "svc_mgr.h"

#define ALL_CAPS (~UINT64_C(0))
#define NO_INTEREST_CAPS (ALL_CAPS & ~MSG_CAP(MSG_S_ACT_INTEREST))
#define NO_NAT_CAPS (ALL_CAPS & ~MSG_CAP(MSG_S_ACT_NAT))

/* Timeouts the tests count on: fixed-ttl is short, so the idle timeouts
 * (not the agents' copies) decide when a record goes. */
#define STICKY_MS 4000u
#define FIXED_TTL_S 10u
#define TCP_MS (15u * 60u * 1000u)
#define TCP_NEW_MS 60000u
#define UDP_MS 120000u
#define ICMP_MS 30000u

static const char head_yaml[] =
	"listen: [ \"ipc:///tmp/loom-coretest.sock\" ]\n"
	"address: 10.2.0.1\n"
	"flows: 4096\n"
	"sticky: 4s\n"
	"fixed-ttl: 10s\n"
	"wildcard-ttl: 30s\n"
	"tcp-timeout: 15m\n"
	"tcp-new-timeout: 60s\n"
	"udp-timeout: 2m\n"
	"icmp-timeout: 30s\n"
	"services:\n";

#define SVC_WEB                                                          \
	"  - name: web\n"                                                \
	"    address: 10.9.0.1\n"                                        \
	"    port: 80\n"                                                 \
	"    clients: [ 10.1.0.0/16 ]\n"                                 \
	"    backends: [ { address: 10.2.0.11, port: 8080 } ]\n"
#define SVC_WEB6                                                         \
	"  - name: web6\n"                                               \
	"    address: \"fd00:9::1\"\n"                                   \
	"    port: 443\n"                                                \
	"    backends: [ { address: \"fd00:2::11\", port: 8443 } ]\n"
#define SVC_ANY                                                          \
	"  - name: any\n"                                                \
	"    address: 10.9.0.2\n"                                        \
	"    backends: [ { address: 10.2.0.21 } ]\n"
#define SVC_PING                                                         \
	"  - name: ping\n"                                               \
	"    protocol: icmp\n"                                           \
	"    address: 10.9.0.3\n"                                        \
	"    backends: [ { address: 10.2.0.31 } ]\n"
#define SVC_DNS                                                          \
	"  - name: dns\n"                                                \
	"    protocol: udp\n"                                            \
	"    address: 10.9.0.4\n"                                        \
	"    port: 53\n"                                                 \
	"    backends: [ { address: 10.2.0.41 } ]\n"
#define SVC_NAT_POOL(pool)                                               \
	"  - name: nat\n"                                                \
	"    type: nat\n"                                                \
	"    protocol: any\n"                                            \
	"    clients: [ 192.168.0.0/16 ]\n"                              \
	"    pool: [ " pool " ]\n"                                       \
	"    port-min: 1000\n"                                           \
	"    port-max: 1015\n"
#define SVC_NAT SVC_NAT_POOL("203.0.113.8/31")
#define SVC_SSH                                                          \
	"  - name: ssh\n"                                                \
	"    address: 10.9.0.5\n"                                        \
	"    port: 22\n"                                                 \
	"    track: false\n"                                             \
	"    backends: [ { address: 10.2.0.51 } ]\n"
#define SVC_SEEN                                                         \
	"  - name: seen\n"                                               \
	"    type: observe\n"                                            \
	"    address: 10.9.0.7\n"
/* two backends; weights and persistence vary per test */
#define SVC_PAIR(w1, w2, extra)                                          \
	"  - name: pair\n"                                               \
	"    address: 10.9.0.8\n"                                        \
	"    port: 80\n" extra                                           \
	"    backends:\n"                                                \
	"      - { address: 10.2.0.81, weight: " w1 " }\n"               \
	"      - { address: 10.2.0.82, weight: " w2 " }\n"
/* pair without its second backend */
#define SVC_PAIR1                                                        \
	"  - name: pair\n"                                               \
	"    address: 10.9.0.8\n"                                        \
	"    port: 80\n"                                                 \
	"    backends: [ { address: 10.2.0.81 } ]\n"
/* a second virtual address with web's backend */
#define SVC_WEB_B                                                        \
	"  - name: web-b\n"                                              \
	"    address: 10.9.0.6\n"                                        \
	"    port: 80\n"                                                 \
	"    clients: [ 10.1.0.0/16 ]\n"                                 \
	"    backends: [ { address: 10.2.0.11, port: 8080 } ]\n"

#define ALL_SVCS SVC_WEB SVC_WEB6 SVC_ANY SVC_PING SVC_DNS SVC_NAT SVC_SSH SVC_SEEN

/* ---- the manager ------------------------------------------------------------- */

static struct svc_config cfgs[2]; /* in use and spare, as the daemon's reload */
static unsigned cur;
static struct svc_mgr m;
static char instance[32];

/* What the core sent, decoded: one entry per message. */
struct sent {
	unsigned agent;
	uint8_t *bytes; /* the encoded message; packets point into it */
	struct msg msg;
};
static struct sent *sent;
static unsigned nsent, sent_cap;

static int capture(struct svc_mgr *mm, struct svc_agent *a, struct msg *msg)
{
	static uint8_t buf[MSG_MAX_SIZE];
	struct msg_err err;
	size_t len;

	cr_assert_eq(msg_encode(msg, buf, sizeof(buf), &len, &err), 0,
		     "the core built a message the codec refuses");
	if (nsent == sent_cap) {
		sent_cap = sent_cap ? sent_cap * 2 : 64;
		sent = realloc(sent, sizeof(*sent) * sent_cap);
		cr_assert_not_null(sent);
	}
	struct sent *s = &sent[nsent++];
	s->agent = (unsigned)(a - mm->agents);
	s->bytes = malloc(len);
	cr_assert_not_null(s->bytes);
	memcpy(s->bytes, buf, len);
	cr_assert_eq(msg_decode(s->bytes, len, &s->msg, NULL), 0);
	return 0;
}

static void clear(void)
{
	for (unsigned i = 0; i < nsent; i++)
		free(sent[i].bytes);
	nsent = 0;
}

static void load_cfg(struct svc_config *c, const char *services)
{
	static struct cfg_diag diag;
	static char yaml[16384];

	snprintf(yaml, sizeof(yaml), "instance: %s\n%s%s", instance, head_yaml, services);
	memset(c, 0, sizeof(*c));
	if (cfg_load_buffer("test", yaml, strlen(yaml), &svc_config_schema, c, &diag) < 0) {
		cfg_diag_print(&diag, stderr);
		cr_assert_fail("configuration refused");
	}
}

static void add_agent(unsigned i, uint64_t caps)
{
	m.agents[i].live = true;
	m.agents[i].id = 100 + i;
	m.agents[i].instance = 100 + i;
	m.agents[i].caps = caps;
}

/* A manager on a fresh table: agents 0 and 1 can do everything, 2 lacks
 * interest criteria, 3 cannot translate. */
static void start(const char *services)
{
	struct shm_perm perm = { .mode = 0600, .gid = (gid_t)-1 };

	snprintf(instance, sizeof(instance), "coretest%d", (int)getpid());
	cur = 0;
	load_cfg(&cfgs[0], services);
	m.cfg = &cfgs[0];
	m.instance = 7;
	m.send = capture;
	cr_assert_eq(svc_flows_open(instance, cfgs[0].flows, 8, &perm, &m.flows, NULL), 0);
	cr_assert_eq(svc_model_load(&m, &cfgs[0]), 0);
	cr_assert_eq(svc_core_init(&m), 0);
	add_agent(0, ALL_CAPS);
	add_agent(1, ALL_CAPS);
	add_agent(2, NO_INTEREST_CAPS);
	add_agent(3, NO_NAT_CAPS);
}

static void teardown(void)
{
	char path[96];

	svc_model_free(&m);
	svc_flows_close(m.flows);
	m.flows = NULL;
	snprintf(path, sizeof(path), "/dev/shm/loom.%s.flow", instance);
	unlink(path);
	clear();
	free(sent);
	sent = NULL;
	sent_cap = 0;
}

TestSuite(core, .fini = teardown);

/* As svc_daemon.c's reload(): the new services by difference, withdraw
 * what went away, send the rest. */
static void reload(const char *services)
{
	struct svc_config *c = &cfgs[cur ^ 1];

	load_cfg(c, services);
	c->flows = m.cfg->flows;
	cur ^= 1;
	m.cfg = c;
	clear();
	cr_assert_eq(svc_model_reload(&m, c), 0);
	svc_core_withdraw(&m);
	svc_core_wildcards(&m, NULL);
}

/* A restart: the model goes, the table stays; a new model recovers. */
static void restart(void)
{
	svc_model_free(&m);
	memset(m.ctr, 0, sizeof(m.ctr));
	cr_assert_eq(svc_model_load(&m, m.cfg), 0);
	cr_assert_eq(svc_core_init(&m), 0);
	svc_core_recover(&m);
}

static void sweep(uint64_t now)
{
	clear();
	svc_core_sweep(&m, now);
}

/* The active service of that name, else a draining one. */
static struct svc_service *svc(const char *name)
{
	struct svc_service *found = NULL;

	for (unsigned i = 0; i < m.nsvcs; i++)
		if (!strcmp(m.svcs[i]->cfg.name, name) && (!found || m.svcs[i]->active))
			found = m.svcs[i];
	cr_assert_not_null(found, "no service %s", name);
	return found;
}

/* ---- addresses, keys, packets -------------------------------------------------- */

static void addr(const char *s, uint8_t a[16])
{
	struct in_addr v4;

	if (inet_pton(AF_INET, s, &v4) == 1)
		key_addr_from_v4(a, v4.s_addr);
	else
		cr_assert_eq(inet_pton(AF_INET6, s, a), 1, "bad address %s", s);
}

static bool addr_is(const uint8_t a[16], const char *s)
{
	uint8_t b[16];

	addr(s, b);
	return !memcmp(a, b, 16);
}

static struct flow_key key(uint8_t proto, const char *s, uint16_t sport, const char *d,
			   uint16_t dport)
{
	struct flow_key k;

	key_init(&k);
	k.proto = proto;
	addr(s, k.saddr);
	addr(d, k.daddr);
	k.sport = htons(sport);
	k.dport = htons(dport);
	return k;
}

struct pkt {
	uint8_t b[256];
	uint32_t len;
};

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* An IP packet of src -> dst carrying l4[0..n) (v4 or v6 by the addresses). */
static struct pkt ip(const char *src, const char *dst, uint8_t proto, const uint8_t *l4,
		     uint32_t n)
{
	struct pkt p = { 0 };
	uint8_t s[16], d[16];

	addr(src, s);
	addr(dst, d);
	if (key_addr_is_v4(s)) {
		p.b[0] = 0x45;
		put16(p.b + 2, (uint16_t)(20 + n));
		p.b[8] = 64;
		p.b[9] = proto;
		memcpy(p.b + 12, s + 12, 4);
		memcpy(p.b + 16, d + 12, 4);
		uint16_t c = (uint16_t)~pkt_csum_fold(pkt_csum_add(0, p.b, 20));
		memcpy(p.b + 10, &c, 2);
		memcpy(p.b + 20, l4, n);
		p.len = 20 + n;
	} else {
		p.b[0] = 0x60;
		put16(p.b + 4, (uint16_t)n);
		p.b[6] = proto;
		p.b[7] = 64;
		memcpy(p.b + 8, s, 16);
		memcpy(p.b + 24, d, 16);
		memcpy(p.b + 40, l4, n);
		p.len = 40 + n;
	}
	return p;
}

#define SYN 0x02
#define RST 0x04
#define ACK 0x10
#define SYNACK (SYN | ACK)

static struct pkt tcp(const char *src, uint16_t sport, const char *dst, uint16_t dport,
		      uint8_t flags)
{
	uint8_t t[20] = { 0 };

	put16(t, sport);
	put16(t + 2, dport);
	t[12] = 0x50;
	t[13] = flags;
	put16(t + 14, 65535);
	return ip(src, dst, 6, t, sizeof(t));
}

static struct pkt udp(const char *src, uint16_t sport, const char *dst, uint16_t dport)
{
	uint8_t u[8] = { 0 };

	put16(u, sport);
	put16(u + 2, dport);
	put16(u + 4, 8);
	return ip(src, dst, 17, u, sizeof(u));
}

static struct pkt echo(const char *src, const char *dst, uint16_t id)
{
	uint8_t e[8] = { 8, 0, 0, 0 };

	put16(e + 4, id);
	put16(e + 6, 1);
	return ip(src, dst, 1, e, sizeof(e));
}

/* ICMP "fragmentation needed" from router to dst, quoting q (header + 8). */
static struct pkt frag_needed(const char *router, const char *dst, const struct pkt *q)
{
	uint8_t e[8 + 28] = { 3, 4 };

	put16(e + 6, 1400);
	memcpy(e + 8, q->b, 28);
	return ip(router, dst, 1, e, sizeof(e));
}

/* ---- what agents send ----------------------------------------------------------- */

/* Send in through the codec, as an agent's message arrives. */
static void deliver(unsigned agent, const struct msg *in)
{
	static uint8_t buf[MSG_MAX_SIZE];
	static struct msg dec;
	size_t len;

	cr_assert_eq(msg_encode(in, buf, sizeof(buf), &len, NULL), 0);
	cr_assert_eq(msg_decode(buf, len, &dec, NULL), 0);
	clear();
	svc_core_on_msg(&m, &m.agents[agent], &dec);
}

/* A packet punted through service svc_id's wildcard of direction dir, with
 * the manager interest data the wildcard carried (svc_core.c mgrdata_put). */
static void punt_id(unsigned agent, uint32_t svc_id, uint8_t dir, const struct pkt *p)
{
	static struct msg in;

	msg_init(&in, MSG_T_MATCH_WILDCARD);
	struct msg_affinity_id *id = &msg_add(&in, MSG_S_AFFINITY_ID, true)->u.affinity_id;
	key_init(&id->key);
	id->reasons = MSG_INT_ALL;
	struct msg_interest_data *d = &msg_add(&in, MSG_S_MGR_INTEREST, true)->u.mgr_interest;
	d->len = SVC_MGRDATA_LEN;
	d->data[0] = SVC_MGRDATA_MAGIC;
	d->data[1] = dir;
	for (unsigned i = 0; i < 4; i++)
		d->data[2 + i] = (uint8_t)(svc_id >> (8 * i));
	msg_add(&in, MSG_S_IP_PACKET, true)->u.ip_packet =
		(struct msg_ip_packet){ .data = p->b, .len = p->len };
	deliver(agent, &in);
}

static void punt(unsigned agent, const char *name, uint8_t dir, const struct pkt *p)
{
	punt_id(agent, svc(name)->id, dir, p);
}

/* An interest match on the fixed affinity of key k. */
static void interest(unsigned agent, const struct flow_key *k, uint16_t reasons)
{
	static struct msg in;

	msg_init(&in, MSG_T_MATCH_FIXED);
	struct msg_affinity_id *id = &msg_add(&in, MSG_S_AFFINITY_ID, true)->u.affinity_id;
	id->key = *k;
	id->reasons = reasons;
	deliver(agent, &in);
}

/* An update-deny of the fixed affinity of key k: the agent lacks action. */
static void deny(unsigned agent, const struct flow_key *k, uint8_t action)
{
	static struct msg in;

	msg_init(&in, MSG_T_UPDATE_DENY);
	struct msg_action_list *l = &msg_add(&in, MSG_S_ACTION_LIST, true)->u.action_list;
	l->n = 1;
	l->a[0] = (struct msg_action_ref){ .type = action, .required = true };
	msg_add(&in, MSG_S_FIXED, false)->u.fixed.key = *k;
	deliver(agent, &in);
}

/* ---- what the core sent, what the table holds ----------------------------------- */

static unsigned count(uint8_t type, int agent)
{
	unsigned n = 0;

	for (unsigned i = 0; i < nsent; i++)
		n += sent[i].msg.type == type && (agent < 0 || sent[i].agent == (unsigned)agent);
	return n;
}

static const struct msg *nth(unsigned i)
{
	cr_assert_lt(i, nsent);
	return &sent[i].msg;
}

static const struct msg_fixed *fixed_of(const struct msg *o)
{
	const struct msg_seg *s = msg_find(o, MSG_S_FIXED);

	cr_assert_eq(o->type, MSG_T_UPDATE_FIXED);
	cr_assert_not_null(s);
	return &s->u.fixed;
}

static const struct msg_nat *nat_of(const struct msg *o)
{
	const struct msg_seg *s = msg_find(o, MSG_S_ACT_NAT);

	cr_assert_not_null(s, "an update-fixed without NAT");
	return &s->u.nat;
}

/* TTL-0 update-fixed of key k sent to agent. */
static unsigned withdrawals(const struct flow_key *k, unsigned agent)
{
	unsigned n = 0;

	for (unsigned i = 0; i < nsent; i++) {
		const struct msg_seg *s = msg_find(&sent[i].msg, MSG_S_FIXED);
		n += sent[i].msg.type == MSG_T_UPDATE_FIXED && sent[i].agent == agent && s &&
		     s->u.fixed.ttl == 0 && key_equal(&s->u.fixed.key, k);
	}
	return n;
}

/* Update-wildcard messages to agent (withdrawals if zero, else with a TTL)
 * of that source and destination address (NULL: any); prec: the service
 * precedence they carry, 0 for any. */
static unsigned wildcards(unsigned agent, bool zero, const char *saddr, const char *daddr,
			  uint32_t prec)
{
	unsigned n = 0;

	for (unsigned i = 0; i < nsent; i++) {
		const struct msg *o = &sent[i].msg;
		if (sent[i].agent != agent)
			continue;
		const struct msg_seg *w = msg_find(o, MSG_S_WILDCARD);
		const struct msg_seg *p = msg_find(o, MSG_S_SERVICE_PREC);
		if (o->type != MSG_T_UPDATE_WILDCARD || !w || (w->u.wildcard.ttl == 0) != zero)
			continue;
		if (saddr && !addr_is(w->u.wildcard.key.saddr, saddr))
			continue;
		if (daddr && !addr_is(w->u.wildcard.key.daddr, daddr))
			continue;
		if (prec && (!p || p->u.service_prec.value != prec))
			continue;
		n++;
	}
	return n;
}

static bool flow(const struct flow_key *k, struct flow_rec *r)
{
	return svc_flows_get(m.flows, k, r) == 0;
}

static struct flow_rec must_flow(const struct flow_key *k)
{
	struct flow_rec r;

	cr_assert(flow(k, &r), "no flow under the key");
	return r;
}

static bool has_agent(const struct flow_rec *r, unsigned agent)
{
	for (unsigned i = 0; i < FLOW_MAX_AGENTS; i++)
		if (r->agents[i] == 100 + agent)
			return true;
	return false;
}

/* Active connections the scheduler counts for a backend. */
static uint32_t conns(const char *name, const char *baddr, uint16_t port)
{
	struct svc_service *s = svc(name);
	uint8_t a[16];

	addr(baddr, a);
	int i = svc_lb_find(s->lb, svc_backend_id(a, port));
	cr_assert_geq(i, 0, "backend %s:%u not in the scheduler", baddr, port);
	return svc_lb_conns(s->lb, (unsigned)i);
}

/* Flows sharing an inside endpoint's mapping (0: no mapping). */
static uint32_t nat_refs(const char *name, uint8_t proto, const char *inside, uint16_t port,
			 struct svc_nat_ep *out)
{
	struct svc_nat_ep in = { .port = port }, o;
	uint32_t refs = 0;

	addr(inside, in.addr);
	if (svc_natpool_lookup_inside(svc(name)->pool, proto, &in, &o, &refs) < 0)
		return 0;
	if (out)
		*out = o;
	return refs;
}

static uint64_t mappings(const char *name)
{
	struct svc_natpool_stats st;

	svc_natpool_stats(svc(name)->pool, &st);
	return st.mappings;
}

static uint64_t ctr(enum svc_ctr c)
{
	return m.ctr[c];
}

/* ---- the first packet ------------------------------------------------------------ */

Test(core, lb_first_packet_two_fixed_affinities_and_a_record)
{
	start(ALL_SVCS);
	struct pkt p = tcp("10.1.0.5", 40000, "10.9.0.1", 80, SYN);
	struct flow_key ko = key(6, "10.1.0.5", 40000, "10.9.0.1", 80);
	struct flow_key kr = key(6, "10.2.0.11", 8080, "10.1.0.5", 40000);

	punt(0, "web", FLOW_DIR_ORIG, &p);
	cr_assert_eq(nsent, 2);
	cr_assert_eq(ctr(SVC_C_DECIDED), 1);

	/* the reply direction first, so the answer is translated before it comes */
	const struct msg *r = nth(0), *o = nth(1);
	cr_assert(key_equal(&fixed_of(r)->key, &kr));
	cr_assert_eq(fixed_of(r)->ttl, FIXED_TTL_S);
	const struct msg_nat *rn = nat_of(r);
	cr_assert_eq(rn->present, MSG_NAT_SADDR | MSG_NAT_SPORT);
	cr_assert(addr_is(rn->saddr, "10.9.0.1"));
	cr_assert_eq(rn->sport, htons(80));
	cr_assert_null(msg_find(r, MSG_S_IP_PACKET));
	const struct msg_seg *ri = msg_find(r, MSG_S_ACT_INTEREST);
	cr_assert_not_null(ri);
	cr_assert_eq(ri->u.interest.mask, MSG_INT_FIN | MSG_INT_RST | MSG_INT_SYN);

	cr_assert(key_equal(&fixed_of(o)->key, &ko));
	const struct msg_nat *on = nat_of(o);
	cr_assert_eq(on->present, MSG_NAT_DADDR | MSG_NAT_DPORT);
	cr_assert(addr_is(on->daddr, "10.2.0.11"));
	cr_assert_eq(on->dport, htons(8080));
	const struct msg_seg *op = msg_find(o, MSG_S_IP_PACKET);
	cr_assert_not_null(op, "the packet is not carried back");
	cr_assert_eq(op->u.ip_packet.len, p.len);
	cr_assert_arr_eq(op->u.ip_packet.data, p.b, p.len);
	const struct msg_seg *md = msg_find(o, MSG_S_MGR_INTEREST);
	cr_assert_not_null(md);
	cr_assert_eq(md->u.mgr_interest.data[1], FLOW_DIR_ORIG);
	cr_assert_eq(count(MSG_T_UPDATE_FIXED, 0), 2);

	/* one record under both keys, seed 004's fields */
	struct flow_rec a = must_flow(&ko), b = must_flow(&kr);
	cr_assert_eq(a.dir, FLOW_DIR_ORIG);
	cr_assert_eq(b.dir, FLOW_DIR_REPLY);
	cr_assert_eq(a.created_ms, b.created_ms);
	cr_assert_eq(a.type, FLOW_T_LB);
	cr_assert_eq(a.state, FLOW_S_NEW);
	cr_assert_eq(a.proto, 6);
	cr_assert_eq(a.svc_id, svc("web")->id);
	cr_assert_eq(a.owner, 7);
	cr_assert(addr_is(a.in_local.addr, "10.2.0.11"));
	cr_assert_eq(a.in_local.port, htons(8080));
	cr_assert(addr_is(a.in_global.addr, "10.9.0.1"));
	cr_assert_eq(a.in_global.port, htons(80));
	cr_assert(addr_is(a.out_local.addr, "10.1.0.5"));
	cr_assert_eq(a.out_local.port, htons(40000));
	cr_assert(!memcmp(&a.out_global, &a.out_local, sizeof(a.out_local)));
	uint8_t ba[16];
	addr("10.2.0.11", ba);
	cr_assert_eq(a.backend_id, svc_backend_id(ba, 8080));
	cr_assert(has_agent(&a, 0));
	cr_assert_eq(a.ttl_s, FIXED_TTL_S);
	cr_assert_eq(conns("web", "10.2.0.11", 8080), 1);
	cr_assert_eq(svc("web")->active_flows, 1);
	cr_assert_eq(svc_flows_count(m.flows), 1);
}

Test(core, lb_ipv6)
{
	start(ALL_SVCS);
	struct pkt p = tcp("fd00:1::5", 33000, "fd00:9::1", 443, SYN);

	punt(0, "web6", FLOW_DIR_ORIG, &p);
	cr_assert_eq(nsent, 2);
	const struct msg_nat *on = nat_of(nth(1));
	cr_assert(addr_is(on->daddr, "fd00:2::11"));
	cr_assert_eq(on->dport, htons(8443));
	const struct msg_nat *rn = nat_of(nth(0));
	cr_assert(addr_is(rn->saddr, "fd00:9::1"));
	cr_assert_eq(rn->sport, htons(443));
	struct flow_key kr = key(6, "fd00:2::11", 8443, "fd00:1::5", 33000);
	struct flow_rec r = must_flow(&kr);
	cr_assert(addr_is(r.in_global.addr, "fd00:9::1"));
	cr_assert_eq(conns("web6", "fd00:2::11", 8443), 1);
}

Test(core, lb_every_port_keeps_the_client_port)
{
	start(ALL_SVCS);
	struct pkt p = tcp("10.1.0.5", 40000, "10.9.0.2", 5555, SYN);

	punt(0, "any", FLOW_DIR_ORIG, &p);
	cr_assert_eq(nsent, 2);
	const struct msg_nat *on = nat_of(nth(1));
	cr_assert(addr_is(on->daddr, "10.2.0.21"));
	cr_assert(!(on->present & MSG_NAT_DPORT) || on->dport == htons(5555));
	struct flow_key kr = key(6, "10.2.0.21", 5555, "10.1.0.5", 40000);
	cr_assert(key_equal(&fixed_of(nth(0))->key, &kr));
	struct flow_rec r = must_flow(&kr);
	cr_assert_eq(r.in_local.port, htons(5555));
	cr_assert_eq(r.in_global.port, htons(5555));
}

Test(core, lb_icmp_echo_keeps_its_identifier)
{
	start(ALL_SVCS);
	struct pkt p = echo("10.1.0.5", "10.9.0.3", 0x1234);

	punt(0, "ping", FLOW_DIR_ORIG, &p);
	cr_assert_eq(nsent, 2);
	struct flow_key ko = key(1, "10.1.0.5", 0x1234, "10.9.0.3", 0);
	struct flow_key kr = key(1, "10.2.0.31", 0x1234, "10.1.0.5", 0);
	cr_assert(key_equal(&fixed_of(nth(1))->key, &ko));
	cr_assert(key_equal(&fixed_of(nth(0))->key, &kr), "the reply key has the identifier");
	cr_assert_eq(nat_of(nth(1))->present, MSG_NAT_DADDR);
	cr_assert_eq(nat_of(nth(0))->present, MSG_NAT_SADDR);
	struct flow_rec r = must_flow(&kr);
	cr_assert_eq(r.state, FLOW_S_EST);
	cr_assert_eq(r.ttl_s, FIXED_TTL_S);
}

Test(core, nat_tcp_endpoint_independent_mapping)
{
	start(ALL_SVCS);
	struct pkt p1 = tcp("192.168.1.10", 5000, "198.51.100.1", 443, SYN);
	struct pkt p2 = tcp("192.168.1.10", 5000, "198.51.100.2", 443, SYN);

	punt(0, "nat", FLOW_DIR_ORIG, &p1);
	cr_assert_eq(nsent, 2);
	struct svc_nat_ep out;
	cr_assert_eq(nat_refs("nat", 6, "192.168.1.10", 5000, &out), 1);
	cr_assert(addr_is(out.addr, "203.0.113.8") || addr_is(out.addr, "203.0.113.9"));
	cr_assert(out.port >= 1000 && out.port <= 1015);

	const struct msg_nat *on = nat_of(nth(1));
	cr_assert_eq(on->present, MSG_NAT_SADDR | MSG_NAT_SPORT);
	cr_assert(!memcmp(on->saddr, out.addr, 16));
	cr_assert_eq(on->sport, htons(out.port));
	struct flow_key kr;
	key_init(&kr);
	kr = key(6, "198.51.100.1", 443, "0.0.0.0", 0);
	memcpy(kr.daddr, out.addr, 16);
	kr.dport = htons(out.port);
	cr_assert(key_equal(&fixed_of(nth(0))->key, &kr));
	const struct msg_nat *rn = nat_of(nth(0));
	cr_assert_eq(rn->present, MSG_NAT_DADDR | MSG_NAT_DPORT);
	cr_assert(addr_is(rn->daddr, "192.168.1.10"));
	cr_assert_eq(rn->dport, htons(5000));
	struct flow_rec r = must_flow(&kr);
	cr_assert_eq(r.type, FLOW_T_NAT);
	cr_assert(addr_is(r.in_local.addr, "192.168.1.10"));
	cr_assert(!memcmp(r.in_global.addr, out.addr, 16));
	cr_assert(addr_is(r.out_local.addr, "198.51.100.1"));

	/* the same inside endpoint to another server: the same mapping */
	punt(0, "nat", FLOW_DIR_ORIG, &p2);
	cr_assert_eq(nsent, 2);
	cr_assert(!memcmp(nat_of(nth(1))->saddr, out.addr, 16));
	cr_assert_eq(nat_of(nth(1))->sport, htons(out.port));
	cr_assert_eq(nat_refs("nat", 6, "192.168.1.10", 5000, NULL), 2);
	cr_assert_eq(mappings("nat"), 1);

	/* inbound to the mapped endpoint with a SYN: a flow of that inside host */
	char pool[INET_ADDRSTRLEN];
	inet_ntop(AF_INET, out.addr + 12, pool, sizeof(pool));
	struct pkt in = tcp("198.51.100.3", 999, pool, out.port, SYN);
	punt(1, "nat", FLOW_DIR_REPLY, &in);
	cr_assert_eq(ctr(SVC_C_DECIDED), 3);
	cr_assert_eq(nsent, 2);
	cr_assert(addr_is(nat_of(nth(1))->daddr, "192.168.1.10"), "inbound goes to the inside host");
	cr_assert_eq(nat_refs("nat", 6, "192.168.1.10", 5000, NULL), 3);
	struct flow_key ko3 = key(6, "192.168.1.10", 5000, "198.51.100.3", 999);
	must_flow(&ko3);

	/* inbound without SYN, or to an endpoint without mapping: dropped */
	struct pkt ack = tcp("198.51.100.4", 999, pool, out.port, ACK);
	punt(1, "nat", FLOW_DIR_REPLY, &ack);
	cr_assert_eq(nsent, 0);
	cr_assert_eq(ctr(SVC_C_NOT_SYN), 1);
	struct pkt stray = tcp("198.51.100.4", 999, pool, out.port == 1000 ? 1001 : 1000, SYN);
	punt(1, "nat", FLOW_DIR_REPLY, &stray);
	cr_assert_eq(nsent, 0);
	cr_assert_eq(ctr(SVC_C_NO_MAPPING), 1);
	cr_assert_eq(svc_flows_count(m.flows), 3);
	cr_assert_eq(mappings("nat"), 1);
}

Test(core, nat_udp_and_icmp)
{
	start(ALL_SVCS);
	struct pkt u = udp("192.168.1.11", 6000, "8.8.8.8", 53);
	struct pkt e = echo("192.168.1.12", "8.8.8.8", 77);
	struct svc_nat_ep out;

	punt(0, "nat", FLOW_DIR_ORIG, &u);
	cr_assert_eq(nsent, 2);
	cr_assert_eq(nat_refs("nat", 17, "192.168.1.11", 6000, &out), 1);
	cr_assert(out.port >= 1000 && out.port <= 1015);
	cr_assert_eq(nat_of(nth(1))->sport, htons(out.port));
	cr_assert_eq(nat_of(nth(0))->dport, htons(6000));
	struct flow_key ku = key(17, "192.168.1.11", 6000, "8.8.8.8", 53);
	cr_assert_eq(must_flow(&ku).state, FLOW_S_EST);

	punt(0, "nat", FLOW_DIR_ORIG, &e);
	cr_assert_eq(nsent, 2);
	cr_assert_eq(nat_refs("nat", 1, "192.168.1.12", 77, &out), 1);
	cr_assert(out.port >= 1000 && out.port <= 1015, "the identifier comes from the pool");
	const struct msg_nat *on = nat_of(nth(1));
	cr_assert_eq(on->present, MSG_NAT_SADDR | MSG_NAT_SPORT);
	cr_assert_eq(on->sport, htons(out.port));
	/* the echo reply carries the pool identifier back to the inside one */
	struct flow_key kr = key(1, "8.8.8.8", out.port, "0.0.0.0", 0);
	memcpy(kr.daddr, out.addr, 16);
	cr_assert(key_equal(&fixed_of(nth(0))->key, &kr));
	const struct msg_nat *rn = nat_of(nth(0));
	cr_assert_eq(rn->present, MSG_NAT_DADDR | MSG_NAT_SPORT);
	cr_assert(addr_is(rn->daddr, "192.168.1.12"));
	cr_assert_eq(rn->sport, htons(77));
	cr_assert_eq(mappings("nat"), 2);
}

Test(core, nat_leaves_multicast_and_broadcast_alone)
{
	start(SVC_PAIR("1", "1", "") SVC_NAT SVC_SEEN);
	const char *dst[] = { "224.0.0.251", "239.255.255.250", "255.255.255.255" };

	for (unsigned i = 0; i < 3; i++) {
		struct pkt u = udp("192.168.1.20", 5353, dst[i], 5353);
		punt(0, "nat", FLOW_DIR_ORIG, &u);
	}
	cr_assert_eq(ctr(SVC_C_DECIDED), 0, "a multicast or broadcast packet got a mapping");
	cr_assert_eq(ctr(SVC_C_PASSED), 3);
	cr_assert_eq(mappings("nat"), 0);
	cr_assert_eq(svc_flows_count(m.flows), 0);
}

/* ---- known flows -------------------------------------------------------------------- */

Test(core, second_agent_is_answered_from_the_table)
{
	start(ALL_SVCS);
	struct pkt syn = tcp("10.1.0.5", 40000, "10.9.0.1", 80, SYN);
	struct pkt synack = tcp("10.2.0.11", 8080, "10.1.0.5", 40000, SYNACK);
	struct flow_key ko = key(6, "10.1.0.5", 40000, "10.9.0.1", 80);
	struct flow_key kr = key(6, "10.2.0.11", 8080, "10.1.0.5", 40000);

	punt(0, "web", FLOW_DIR_ORIG, &syn);
	punt(1, "web", FLOW_DIR_REPLY, &synack);
	cr_assert_eq(ctr(SVC_C_DECIDED), 1);
	cr_assert_eq(ctr(SVC_C_ANSWERED), 1);
	cr_assert_eq(count(MSG_T_UPDATE_FIXED, 1), 2);
	/* the other direction first, the packet's own last and with it */
	cr_assert(key_equal(&fixed_of(nth(0))->key, &ko));
	cr_assert(key_equal(&fixed_of(nth(1))->key, &kr));
	cr_assert_not_null(msg_find(nth(1), MSG_S_IP_PACKET));
	cr_assert(addr_is(nat_of(nth(1))->saddr, "10.9.0.1"));
	struct flow_rec r = must_flow(&ko);
	cr_assert(has_agent(&r, 0) && has_agent(&r, 1));
	cr_assert_eq(conns("web", "10.2.0.11", 8080), 1);
	cr_assert_eq(svc_flows_count(m.flows), 1);
}

/* ---- connection state ------------------------------------------------------------- */

Test(core, fin_both_ways_closes_and_sweep_withdraws_after_sticky)
{
	start(ALL_SVCS);
	struct pkt syn = tcp("10.1.0.5", 40000, "10.9.0.1", 80, SYN);
	struct pkt synack = tcp("10.2.0.11", 8080, "10.1.0.5", 40000, SYNACK);
	struct flow_key ko = key(6, "10.1.0.5", 40000, "10.9.0.1", 80);
	struct flow_key kr = key(6, "10.2.0.11", 8080, "10.1.0.5", 40000);

	punt(0, "web", FLOW_DIR_ORIG, &syn);
	punt(1, "web", FLOW_DIR_REPLY, &synack);
	interest(1, &kr, MSG_INT_SYN);
	cr_assert_eq(must_flow(&ko).state, FLOW_S_EST);
	interest(0, &ko, MSG_INT_FIN);
	cr_assert_eq(must_flow(&ko).state, FLOW_S_FIN);
	uint64_t t = ev_now_ms();
	interest(1, &kr, MSG_INT_FIN);
	struct flow_rec r = must_flow(&kr);
	cr_assert_eq(r.state, FLOW_S_CLOSING);
	cr_assert_leq(r.expires_ms, ev_now_ms() + STICKY_MS);

	sweep(t + STICKY_MS - 1000); /* sticky: the last ACK still finds it */
	cr_assert(flow(&ko, &r));
	cr_assert_eq(nsent, 0);
	sweep(t + STICKY_MS + 1000);
	cr_assert(!flow(&ko, &r) && !flow(&kr, &r), "the record stays after sticky");
	for (unsigned a = 0; a < 2; a++) {
		cr_assert_eq(withdrawals(&ko, a), 1, "agent %u keeps the original direction", a);
		cr_assert_eq(withdrawals(&kr, a), 1, "agent %u keeps the reply direction", a);
	}
	cr_assert_eq(count(MSG_T_UPDATE_FIXED, 2), 0);
	cr_assert_eq(ctr(SVC_C_CLOSED), 1);
	cr_assert_eq(conns("web", "10.2.0.11", 8080), 0);
	cr_assert_eq(svc("web")->active_flows, 0);
}

Test(core, rst_closes_and_releases_the_nat_mapping)
{
	start(ALL_SVCS);
	struct pkt syn = tcp("192.168.1.10", 5000, "198.51.100.1", 443, SYN);
	struct flow_key ko = key(6, "192.168.1.10", 5000, "198.51.100.1", 443);
	struct flow_rec r;

	punt(0, "nat", FLOW_DIR_ORIG, &syn);
	cr_assert_eq(mappings("nat"), 1);
	uint64_t t = ev_now_ms();
	interest(0, &ko, MSG_INT_RST);
	cr_assert_eq(must_flow(&ko).state, FLOW_S_CLOSING);
	sweep(t + STICKY_MS + 1000);
	cr_assert(!flow(&ko, &r));
	cr_assert_eq(withdrawals(&ko, 0), 1);
	cr_assert_eq(mappings("nat"), 0, "the mapping outlives its last flow");
	cr_assert_eq(nat_refs("nat", 6, "192.168.1.10", 5000, NULL), 0);
}

Test(core, syn_ack_on_a_closing_flow_reopens_it)
{
	start(ALL_SVCS);
	struct pkt syn = tcp("10.1.0.5", 40000, "10.9.0.1", 80, SYN);
	struct flow_key ko = key(6, "10.1.0.5", 40000, "10.9.0.1", 80);
	struct flow_key kr = key(6, "10.2.0.11", 8080, "10.1.0.5", 40000);
	struct flow_rec r;

	punt(0, "web", FLOW_DIR_ORIG, &syn);
	uint64_t t = ev_now_ms();
	interest(0, &ko, MSG_INT_RST);
	cr_assert_eq(must_flow(&ko).state, FLOW_S_CLOSING);
	interest(0, &kr, MSG_INT_SYN); /* the port reused within sticky */
	cr_assert_eq(ctr(SVC_C_REOPENED), 1);
	cr_assert_eq(must_flow(&ko).state, FLOW_S_EST);
	sweep(t + STICKY_MS + 1000);
	cr_assert(flow(&ko, &r), "a reopened flow went at the old one's sticky end");
	cr_assert_eq(withdrawals(&ko, 0), 0);
	cr_assert_eq(conns("web", "10.2.0.11", 8080), 1);
}

Test(core, untracked_and_interest_less_flows_are_established_at_once)
{
	start(ALL_SVCS);
	struct pkt s1 = tcp("10.1.0.5", 40000, "10.9.0.5", 22, SYN);
	struct pkt s2 = tcp("10.1.0.6", 40000, "10.9.0.1", 80, SYN);
	struct flow_key k1 = key(6, "10.1.0.5", 40000, "10.9.0.5", 22);
	struct flow_rec r;

	uint64_t t = ev_now_ms();
	punt(0, "ssh", FLOW_DIR_ORIG, &s1);
	cr_assert_eq(nsent, 2);
	cr_assert_null(msg_find(nth(0), MSG_S_ACT_INTEREST), "track: false asks for interest");
	cr_assert_null(msg_find(nth(1), MSG_S_ACT_INTEREST));
	cr_assert_eq(must_flow(&k1).state, FLOW_S_EST);

	/* an agent without interest criteria: translated, no criteria */
	punt(2, "web", FLOW_DIR_ORIG, &s2);
	cr_assert_eq(nsent, 2);
	cr_assert_null(msg_find(nth(0), MSG_S_ACT_INTEREST));
	cr_assert_null(msg_find(nth(1), MSG_S_ACT_INTEREST));
	nat_of(nth(0));
	nat_of(nth(1));
	struct flow_key k2 = key(6, "10.1.0.6", 40000, "10.9.0.1", 80);
	cr_assert_eq(must_flow(&k2).state, FLOW_S_EST);

	/* idle longer than tcp-new-timeout: still there (B5) */
	sweep(t + TCP_NEW_MS + 5000);
	cr_assert(flow(&k1, &r) && flow(&k2, &r));
	sweep(t + TCP_MS + 5000);
	cr_assert(!flow(&k1, &r) && !flow(&k2, &r));
	cr_assert_eq(ctr(SVC_C_EXPIRED), 2);
}

Test(core, idle_timeouts_per_protocol)
{
	start(ALL_SVCS);
	struct pkt tn = tcp("10.1.0.5", 40000, "10.9.0.1", 80, SYN);
	struct pkt te = tcp("10.1.0.5", 40001, "10.9.0.1", 80, SYN);
	struct pkt u = udp("10.1.0.5", 40002, "10.9.0.4", 53);
	struct pkt e = echo("10.1.0.5", "10.9.0.3", 9);
	struct flow_key kn = key(6, "10.1.0.5", 40000, "10.9.0.1", 80);
	struct flow_key ke = key(6, "10.1.0.5", 40001, "10.9.0.1", 80);
	struct flow_key kre = key(6, "10.2.0.11", 8080, "10.1.0.5", 40001);
	struct flow_key ku = key(17, "10.1.0.5", 40002, "10.9.0.4", 53);
	struct flow_key ki = key(1, "10.1.0.5", 9, "10.9.0.3", 0);
	struct flow_rec r;

	uint64_t t = ev_now_ms();
	punt(0, "web", FLOW_DIR_ORIG, &tn);
	punt(0, "web", FLOW_DIR_ORIG, &te);
	interest(0, &kre, MSG_INT_SYN);
	punt(0, "dns", FLOW_DIR_ORIG, &u);
	punt(0, "ping", FLOW_DIR_ORIG, &e);
	cr_assert_eq(svc_flows_count(m.flows), 4);

	sweep(t + ICMP_MS - 1000);
	cr_assert_eq(svc_flows_count(m.flows), 4);
	sweep(t + ICMP_MS + 1000);
	cr_assert(!flow(&ki, &r), "icmp outlived icmp-timeout");
	cr_assert_eq(svc_flows_count(m.flows), 3);
	sweep(t + TCP_NEW_MS + 1000);
	cr_assert(!flow(&kn, &r), "a new TCP flow outlived tcp-new-timeout");
	cr_assert(flow(&ke, &r) && flow(&ku, &r));
	sweep(t + UDP_MS + 1000);
	cr_assert(!flow(&ku, &r), "udp outlived udp-timeout");
	cr_assert(flow(&ke, &r));
	sweep(t + TCP_MS - 1000);
	cr_assert(flow(&ke, &r));
	sweep(t + TCP_MS + 1000);
	cr_assert(!flow(&ke, &r));
	cr_assert_eq(ctr(SVC_C_EXPIRED), 4);
	cr_assert_eq(conns("web", "10.2.0.11", 8080), 0);
	cr_assert_eq(conns("dns", "10.2.0.41", 53), 0);
	/* idle well past their TTL: the agents' copies are gone, nothing to withdraw */
	cr_assert_eq(ctr(SVC_C_WITHDRAWN), 0);
}

Test(core, one_sweep_clears_more_than_a_batch)
{
	start(ALL_SVCS);
	uint64_t t = ev_now_ms();

	for (unsigned i = 0; i < 600; i++) {
		struct pkt u = udp("10.1.0.5", (uint16_t)(10000 + i), "10.9.0.4", 53);
		punt(0, "dns", FLOW_DIR_ORIG, &u);
	}
	cr_assert_eq(svc_flows_count(m.flows), 600);
	cr_assert_eq(conns("dns", "10.2.0.41", 53), 600);
	sweep(t + UDP_MS + 5000);
	cr_assert_eq(svc_flows_count(m.flows), 0, "one sweep left %llu expired flows",
		     (unsigned long long)svc_flows_count(m.flows));
	cr_assert_eq(ctr(SVC_C_EXPIRED), 600);
	cr_assert_eq(conns("dns", "10.2.0.41", 53), 0);
}

/* ---- reload --------------------------------------------------------------------------- */

/* New SYNs from 10.1.0.5 to pair until one went to backend b; its key. */
static struct flow_key pair_flow_to(const char *b, uint16_t *sport)
{
	for (uint16_t p = 20000; p < 20010; p++) {
		struct pkt s = tcp("10.1.0.5", p, "10.9.0.8", 80, SYN);
		punt(0, "pair", FLOW_DIR_ORIG, &s);
		cr_assert_eq(nsent, 2);
		if (addr_is(nat_of(nth(1))->daddr, b)) {
			*sport = p;
			return key(6, "10.1.0.5", p, "10.9.0.8", 80);
		}
	}
	cr_assert_fail("the scheduler never picked %s", b);
	return key(0, "0.0.0.0", 0, "0.0.0.0", 0);
}

Test(core, reload_weight_zero_drains)
{
	start(SVC_PAIR("1", "1", "") SVC_SEEN);
	uint16_t sp;
	struct flow_key k = pair_flow_to("10.2.0.82", &sp);

	reload(SVC_PAIR("1", "0", "") SVC_SEEN);
	for (uint16_t p = 30000; p < 30008; p++) {
		struct pkt s = tcp("10.1.0.6", p, "10.9.0.8", 80, SYN);
		punt(0, "pair", FLOW_DIR_ORIG, &s);
		cr_assert(addr_is(nat_of(nth(1))->daddr, "10.2.0.81"), "a new flow to a drained backend");
	}
	/* the existing flow keeps its backend */
	struct pkt again = tcp("10.1.0.5", sp, "10.9.0.8", 80, ACK);
	punt(1, "pair", FLOW_DIR_ORIG, &again);
	cr_assert_eq(ctr(SVC_C_ANSWERED), 1);
	cr_assert(addr_is(nat_of(nth(1))->daddr, "10.2.0.82"));
	cr_assert_eq(conns("pair", "10.2.0.82", 80), 1);
	must_flow(&k);
}


Test(core, reload_removed_backend_keeps_its_wildcard_until_its_last_flow)
{
	start(SVC_PAIR("1", "1", "") SVC_SEEN);
	uint16_t sp;
	struct flow_key k = pair_flow_to("10.2.0.82", &sp);

	reload(SVC_PAIR1 SVC_SEEN);
	cr_assert_eq(wildcards(0, true, "10.2.0.82", NULL, 0), 0,
		     "a removed backend's reply wildcard went under its flow");
	cr_assert_eq(wildcards(0, false, "10.2.0.82", NULL, 0), 1);
	for (uint16_t p = 30000; p < 30004; p++) {
		struct pkt s = tcp("10.1.0.6", p, "10.9.0.8", 80, SYN);
		punt(0, "pair", FLOW_DIR_ORIG, &s);
		cr_assert(addr_is(nat_of(nth(1))->daddr, "10.2.0.81"), "a new flow to a removed backend");
	}
	/* its replies are still translated */
	struct pkt reply = tcp("10.2.0.82", 80, "10.1.0.5", sp, ACK);
	punt(1, "pair", FLOW_DIR_REPLY, &reply);
	cr_assert_eq(ctr(SVC_C_ANSWERED), 1);
	cr_assert(addr_is(nat_of(nth(1))->saddr, "10.9.0.8"));

	/* the last flow ends: the wildcard goes, and is not sent again */
	uint64_t t = ev_now_ms();
	interest(0, &k, MSG_INT_RST);
	sweep(t + STICKY_MS + 1000);
	cr_assert_eq(wildcards(0, true, "10.2.0.82", NULL, 0), 1);
	cr_assert_eq(wildcards(0, true, "10.2.0.81", NULL, 0), 0);
	clear();
	svc_core_wildcards(&m, NULL);
	cr_assert_eq(wildcards(0, false, "10.2.0.82", NULL, 0), 0);
	cr_assert_eq(wildcards(0, false, "10.2.0.81", NULL, 0), 1);
}

Test(core, reload_removed_service_keeps_its_wildcards_while_flows_remain)
{
	start(SVC_WEB SVC_DNS SVC_SEEN);
	struct pkt syn = tcp("10.1.0.5", 40000, "10.9.0.1", 80, SYN);
	struct flow_key ko = key(6, "10.1.0.5", 40000, "10.9.0.1", 80);

	punt(0, "web", FLOW_DIR_ORIG, &syn);
	uint32_t id = svc("web")->id;
	reload(SVC_DNS SVC_SEEN);
	cr_assert_eq(wildcards(0, true, NULL, NULL, 0), 0, "withdrawn while a flow uses them");
	cr_assert_eq(wildcards(0, false, NULL, "10.9.0.1", 0), 1);
	cr_assert_eq(wildcards(0, false, "10.2.0.11", NULL, 0), 1);

	/* no new flows; the old one is answered */
	struct pkt other = tcp("10.1.0.6", 40000, "10.9.0.1", 80, SYN);
	punt_id(0, id, FLOW_DIR_ORIG, &other);
	cr_assert_eq(ctr(SVC_C_DECIDED), 1);
	cr_assert_eq(count(MSG_T_UPDATE_FIXED, -1), 0);
	cr_assert_eq(count(MSG_T_IP_PACKET, 0), 1);
	struct pkt ack = tcp("10.1.0.5", 40000, "10.9.0.1", 80, ACK);
	punt_id(1, id, FLOW_DIR_ORIG, &ack);
	cr_assert_eq(ctr(SVC_C_ANSWERED), 1);
	cr_assert(addr_is(nat_of(nth(1))->daddr, "10.2.0.11"));

	uint64_t t = ev_now_ms();
	interest(0, &ko, MSG_INT_RST);
	sweep(t + STICKY_MS + 1000);
	cr_assert_eq(wildcards(0, true, NULL, "10.9.0.1", 0), 1);
	cr_assert_eq(wildcards(0, true, "10.2.0.11", NULL, 0), 1);
	cr_assert_null(svc_model_find(&m, id), "a drained service stays");
	clear();
	svc_core_wildcards(&m, NULL);
	cr_assert_eq(wildcards(0, false, NULL, "10.9.0.1", 0), 0);
}

#define SVC_WEB_PREC150                                                  \
	"  - name: web\n"                                                \
	"    address: 10.9.0.1\n"                                        \
	"    port: 80\n"                                                 \
	"    precedence: 150\n"                                          \
	"    clients: [ 10.1.0.0/16 ]\n"                                 \
	"    backends: [ { address: 10.2.0.11, port: 8080 } ]\n"

Test(core, reload_precedence_change_withdraws_the_old_rank)
{
	start(SVC_WEB SVC_SEEN);
	reload(SVC_WEB_PREC150 SVC_SEEN);
	cr_assert_eq(wildcards(0, true, NULL, "10.9.0.1", 100), 1,
		     "the old rank was not withdrawn (or not under its own precedence)");
	cr_assert_eq(wildcards(0, true, "10.2.0.11", NULL, 100), 1);
	cr_assert_eq(wildcards(0, true, NULL, NULL, 150), 0);
	cr_assert_eq(wildcards(0, false, NULL, "10.9.0.1", 150), 1);
	cr_assert_eq(wildcards(0, false, NULL, "10.9.0.1", 100), 0);
}

Test(core, reload_shared_backend_keeps_its_reply_wildcard)
{
	start(SVC_WEB SVC_WEB_B SVC_SEEN);
	reload(SVC_WEB SVC_SEEN);
	cr_assert_eq(wildcards(0, true, NULL, "10.9.0.6", 0), 1, "web-b was not withdrawn");
	cr_assert_eq(wildcards(0, true, "10.2.0.11", NULL, 0), 0,
		     "web's reply wildcard went with web-b");
	cr_assert_eq(wildcards(0, false, "10.2.0.11", NULL, 0), 1);
}

Test(core, reload_nat_pool_change_is_a_new_service)
{
	start(SVC_NAT SVC_SEEN);
	struct pkt old = tcp("192.168.1.10", 5000, "198.51.100.1", 443, SYN);
	punt(0, "nat", FLOW_DIR_ORIG, &old);
	struct svc_nat_ep out;
	cr_assert_eq(nat_refs("nat", 6, "192.168.1.10", 5000, &out), 1);
	uint32_t old_id = svc("nat")->id;

	reload(SVC_NAT_POOL("203.0.113.16/31") SVC_SEEN);
	uint32_t new_id = svc("nat")->id;
	cr_assert_neq(new_id, old_id, "a pool change kept the service id");
	cr_assert_eq(wildcards(0, true, NULL, "203.0.113.8", 0), 0, "the old pool's wildcard went");

	struct pkt fresh = tcp("192.168.1.20", 5000, "198.51.100.1", 443, SYN);
	punt_id(0, new_id, FLOW_DIR_ORIG, &fresh);
	cr_assert_eq(ctr(SVC_C_DECIDED), 2, "a new flow was not decided after the pool change");
	const struct msg_nat *n = nat_of(nth(1));
	cr_assert(addr_is(n->saddr, "203.0.113.16") || addr_is(n->saddr, "203.0.113.17"));
	struct flow_key kf = key(6, "192.168.1.20", 5000, "198.51.100.1", 443);
	cr_assert_eq(must_flow(&kf).svc_id, new_id);

	/* the old flow keeps its old mapping */
	struct pkt ack = tcp("192.168.1.10", 5000, "198.51.100.1", 443, ACK);
	punt_id(1, old_id, FLOW_DIR_ORIG, &ack);
	cr_assert_eq(ctr(SVC_C_ANSWERED), 1);
	cr_assert(!memcmp(nat_of(nth(1))->saddr, out.addr, 16));
	cr_assert_eq(nat_of(nth(1))->sport, htons(out.port));
}

/* ---- restart ------------------------------------------------------------------------ */

Test(core, restart_recovers_counts_mappings_and_persistence)
{
	start(SVC_PAIR("1", "1", "    persistence: 10m\n") SVC_NAT SVC_SEEN);
	struct svc_nat_ep held[6];
	uint8_t to[2][16];

	for (unsigned c = 0; c < 2; c++) {
		char client[16];
		snprintf(client, sizeof(client), "10.1.0.%u", 5 + c);
		struct pkt s = tcp(client, 40000, "10.9.0.8", 80, SYN);
		punt(0, "pair", FLOW_DIR_ORIG, &s);
		memcpy(to[c], nat_of(nth(1))->daddr, 16);
	}
	for (unsigned h = 0; h < 5; h++) {
		char inside[16];
		snprintf(inside, sizeof(inside), "192.168.1.%u", 1 + h);
		struct pkt s = tcp(inside, 5000, "198.51.100.1", 443, SYN);
		punt(0, "nat", FLOW_DIR_ORIG, &s);
		cr_assert_eq(nat_refs("nat", 6, inside, 5000, &held[h]), 1);
	}
	struct pkt s2 = tcp("192.168.1.1", 5000, "198.51.100.2", 443, SYN);
	punt(0, "nat", FLOW_DIR_ORIG, &s2);
	uint32_t c81 = conns("pair", "10.2.0.81", 80), c82 = conns("pair", "10.2.0.82", 80);
	cr_assert_eq(c81 + c82, 2);

	restart();
	cr_assert_eq(svc_flows_count(m.flows), 8);
	cr_assert_eq(conns("pair", "10.2.0.81", 80), c81, "connection counts not recovered");
	cr_assert_eq(conns("pair", "10.2.0.82", 80), c82);
	cr_assert_eq(svc("pair")->active_flows, 2);
	cr_assert_eq(nat_refs("nat", 6, "192.168.1.1", 5000, NULL), 2);
	for (unsigned h = 0; h < 5; h++) {
		char inside[16];
		struct svc_nat_ep o;
		snprintf(inside, sizeof(inside), "192.168.1.%u", 1 + h);
		cr_assert_geq(nat_refs("nat", 6, inside, 5000, &o), 1, "mapping not recovered");
		cr_assert(!memcmp(&o.addr, held[h].addr, 16) && o.port == held[h].port);
	}

	/* known flows are answered, not decided again */
	struct pkt ack = tcp("10.1.0.5", 40000, "10.9.0.8", 80, ACK);
	punt(1, "pair", FLOW_DIR_ORIG, &ack);
	cr_assert_eq(ctr(SVC_C_ANSWERED), 1);
	cr_assert(!memcmp(nat_of(nth(1))->daddr, to[0], 16));

	/* persistence: a client's new connections go where its last one went */
	for (unsigned c = 0; c < 2; c++) {
		uint8_t client[16];
		uint32_t id;
		addr(c ? "10.1.0.6" : "10.1.0.5", client);
		cr_assert_eq(svc_lb_persist_get(svc("pair")->persist, client, ev_now_ms(), &id), 0,
			     "persistence lost by a restart");
		cr_assert_eq(id, svc_backend_id(to[c], 80));
	}
	for (uint16_t p = 41000; p < 41004; p++) {
		unsigned c = p & 1;
		struct pkt s = tcp(c ? "10.1.0.6" : "10.1.0.5", p, "10.9.0.8", 80, SYN);
		punt(0, "pair", FLOW_DIR_ORIG, &s);
		cr_assert(!memcmp(nat_of(nth(1))->daddr, to[c], 16), "persistence lost by a restart");
	}

	/* new NAT flows never get an endpoint a recovered flow holds */
	for (unsigned h = 0; h < 20; h++) {
		char inside[16];
		struct svc_nat_ep o;
		snprintf(inside, sizeof(inside), "192.168.2.%u", 1 + h);
		struct pkt s = tcp(inside, 5000, "198.51.100.1", 443, SYN);
		punt(0, "nat", FLOW_DIR_ORIG, &s);
		cr_assert_eq(nat_refs("nat", 6, inside, 5000, &o), 1);
		for (unsigned k = 0; k < 5; k++)
			cr_assert(memcmp(o.addr, held[k].addr, 16) || o.port != held[k].port,
				  "a new flow got a recovered flow's outside endpoint");
	}
}

static void key_of(const struct pkt *p, struct flow_key *k)
{
	struct pkt_view v;

	cr_assert_eq(pkt_parse_l3(p->b, p->len, &v), 0);
	cr_assert_eq(pkt_key(&v, p->b, k), 0);
}

/* A writer killed between the two stores of a pair: the next open completes
 * an original left without its reply and removes a reply left alone. */
Test(core, half_stored_pairs_are_repaired_at_open)
{
	start(SVC_PAIR("1", "1", "") SVC_NAT SVC_SEEN);
	struct flow_key ka, kb, ra, rb;
	struct flow_rec r;

	struct pkt a = tcp("10.1.0.5", 40000, "10.9.0.8", 80, SYN);
	punt(0, "pair", FLOW_DIR_ORIG, &a);
	struct pkt b = tcp("10.1.0.6", 40001, "10.9.0.8", 80, SYN);
	punt(0, "pair", FLOW_DIR_ORIG, &b);
	cr_assert_eq(svc_flows_count(m.flows), 2);
	key_of(&a, &ka);
	key_of(&b, &kb);
	cr_assert_eq(svc_flows_get(m.flows, &ka, &r), 0);
	flow_rec_keys(&r, &ka, &ra);
	cr_assert_eq(svc_flows_get(m.flows, &kb, &r), 0);
	flow_rec_keys(&r, &kb, &rb);

	/* as if killed: a's reply and b's original gone */
	svc_model_free(&m);
	svc_flows_close(m.flows);
	struct shm_table *t;
	struct shm_table_geom g = { .capacity = cfgs[0].flows * 2, .value_size = FLOW_VALUE_SIZE,
				    .value_kind = FLOW_KIND, .value_version = FLOW_VERSION,
				    .lanes = 1, .rcu_slots = 8 };
	struct shm_perm perm = { .mode = 0600, .gid = (gid_t)-1 };
	cr_assert_eq(shm_table_open_writer(instance, "flow", &g, &perm, &t, NULL), 0);
	cr_assert_eq(shm_table_delete(t, &ra), 0);
	cr_assert_eq(shm_table_delete(t, &kb), 0);
	shm_table_close(t);

	cr_assert_eq(svc_flows_open(instance, cfgs[0].flows, 8, &perm, &m.flows, NULL), 0);
	cr_assert_eq(svc_flows_pairs_repaired(m.flows), 2);
	cr_assert_eq(svc_flows_get(m.flows, &ra, &r), 0, "the original's reply not written again");
	cr_assert_eq(r.dir, FLOW_DIR_REPLY);
	cr_assert_eq(svc_flows_get(m.flows, &rb, &r), -ENOENT, "a lone reply left behind");
	cr_assert_eq(svc_flows_count(m.flows), 1);
	cr_assert_eq(svc_model_load(&m, m.cfg), 0);
	cr_assert_eq(svc_core_init(&m), 0);
}

/* A full table under a SYN flood: half-open flows older than a second make
 * room for a new one; an established flow is never evicted. */
Test(core, full_table_evicts_half_open_flows_only)
{
	start(ALL_SVCS);
	uint32_t cap = svc_flows_capacity(m.flows);
	struct flow_key est = key(6, "10.1.0.5", 1024, "10.9.0.1", 80), rest;
	struct flow_rec r;

	for (uint32_t i = 0; i < cap; i++) {
		char client[24];
		snprintf(client, sizeof(client), "10.1.%u.%u", (1 + i / 200) & 0xff, 1 + i % 200);
		struct pkt s = tcp(i ? client : "10.1.0.5", (uint16_t)(1024 + i % 1000), "10.9.0.1",
				   80, SYN);
		punt(0, "web", FLOW_DIR_ORIG, &s);
	}
	cr_assert_eq(svc_flows_count(m.flows), cap, "the flood did not fill the table");
	/* the first flow is answered: established */
	r = must_flow(&est);
	flow_rec_keys(&r, &est, &rest);
	interest(0, &rest, MSG_INT_SYN);
	cr_assert_eq(must_flow(&est).state, FLOW_S_EST);

	struct pkt late = tcp("10.1.250.1", 5000, "10.9.0.1", 80, SYN);
	punt(0, "web", FLOW_DIR_ORIG, &late);
	cr_assert_eq(ctr(SVC_C_TABLE_FULL), 1, "young half-open flows were evicted");

	usleep(1100 * 1000);
	uint64_t decided = ctr(SVC_C_DECIDED);
	punt(0, "web", FLOW_DIR_ORIG, &late);
	cr_assert_eq(ctr(SVC_C_DECIDED), decided + 1, "no room made under a SYN flood");
	cr_assert_geq(ctr(SVC_C_EVICTED), 1);
	cr_assert(flow(&est, &r), "an established flow was evicted");
	cr_assert_eq(svc("web")->active_flows, svc_flows_count(m.flows), "counts drifted");
}

/* ---- hostile or confused agents ----------------------------------------------------- */

Test(core, punt_outside_the_wildcard_is_refused)
{
	start(ALL_SVCS);
	const struct pkt bad[] = {
		tcp("10.1.0.5", 40000, "10.9.0.99", 80, SYN), /* not the virtual address */
		tcp("10.1.0.5", 40000, "10.9.0.1", 81, SYN),  /* not its port */
		tcp("10.7.0.5", 40000, "10.9.0.1", 80, SYN),  /* not a client */
		udp("10.1.0.5", 40000, "10.9.0.1", 80),       /* not its protocol */
	};

	for (unsigned i = 0; i < LOOM_ARRAY_SIZE(bad); i++) {
		punt(0, "web", FLOW_DIR_ORIG, &bad[i]);
		cr_assert_eq(ctr(SVC_C_BAD_PUNT), i + 1, "punt %u was not refused", i);
		cr_assert_eq(count(MSG_T_UPDATE_FIXED, -1), 0);
	}
	/* a "reply" from something that is no backend */
	struct pkt r = tcp("10.2.0.99", 8080, "10.1.0.5", 40000, SYN);
	punt(0, "web", FLOW_DIR_REPLY, &r);
	cr_assert_eq(ctr(SVC_C_BAD_PUNT), 5);
	struct pkt n = tcp("10.1.0.5", 5000, "198.51.100.1", 443, SYN);
	punt(0, "nat", FLOW_DIR_ORIG, &n); /* not an inside host */
	cr_assert_eq(ctr(SVC_C_BAD_PUNT), 6);
	cr_assert_eq(ctr(SVC_C_DECIDED), 0);
	cr_assert_eq(svc_flows_count(m.flows), 0);
	cr_assert_eq(conns("web", "10.2.0.11", 8080), 0);
	cr_assert_eq(mappings("nat"), 0);
}

Test(core, collision_creates_nothing)
{
	start(SVC_WEB SVC_WEB_B SVC_SEEN);
	struct pkt a = tcp("10.1.0.5", 40000, "10.9.0.1", 80, SYN);
	struct pkt b = tcp("10.1.0.5", 40000, "10.9.0.6", 80, SYN);

	punt(0, "web", FLOW_DIR_ORIG, &a);
	punt(0, "web-b", FLOW_DIR_ORIG, &b);
	cr_assert_eq(ctr(SVC_C_COLLISION), 1);
	cr_assert_eq(ctr(SVC_C_DECIDED), 1);
	cr_assert_eq(count(MSG_T_UPDATE_FIXED, -1), 0);
	cr_assert_eq(svc_flows_count(m.flows), 1);
	cr_assert_eq(svc("web-b")->active_flows, 0);
	cr_assert_eq(conns("web-b", "10.2.0.11", 8080), 0);
	cr_assert_eq(conns("web", "10.2.0.11", 8080), 1);
	struct flow_key kr = key(6, "10.2.0.11", 8080, "10.1.0.5", 40000);
	cr_assert_eq(must_flow(&kr).svc_id, svc("web")->id, "the first flow was overwritten");
}

Test(core, icmp_errors_are_answered_from_the_table_only)
{
	start(ALL_SVCS);
	struct pkt syn = tcp("10.1.0.5", 40000, "10.9.0.1", 80, SYN);
	struct flow_key ko = key(6, "10.1.0.5", 40000, "10.9.0.1", 80);
	struct flow_key kr = key(6, "10.2.0.11", 8080, "10.1.0.5", 40000);

	punt(0, "web", FLOW_DIR_ORIG, &syn);
	/* a router on the way to the client says the VIP's reply was too big */
	struct pkt quoted = tcp("10.9.0.1", 80, "10.1.0.5", 40000, ACK);
	struct pkt err = frag_needed("10.1.0.254", "10.9.0.1", &quoted);
	punt(1, "web", FLOW_DIR_ORIG, &err);
	cr_assert_eq(ctr(SVC_C_ANSWERED), 1);
	cr_assert_eq(ctr(SVC_C_DECIDED), 1);
	cr_assert_eq(nsent, 2);
	cr_assert(key_equal(&fixed_of(nth(0))->key, &kr));
	cr_assert(key_equal(&fixed_of(nth(1))->key, &ko));
	const struct msg_seg *p = msg_find(nth(1), MSG_S_IP_PACKET);
	cr_assert_not_null(p);
	cr_assert_eq(p->u.ip_packet.len, err.len);
	cr_assert_arr_eq(p->u.ip_packet.data, err.b, err.len);

	/* about a flow nobody decided: back unchanged, nothing created */
	struct pkt q2 = tcp("10.9.0.1", 80, "10.1.0.9", 40000, ACK);
	struct pkt err2 = frag_needed("10.1.0.254", "10.9.0.1", &q2);
	punt(1, "web", FLOW_DIR_ORIG, &err2);
	cr_assert_eq(ctr(SVC_C_DECIDED), 1, "an ICMP error was decided");
	cr_assert_eq(ctr(SVC_C_PASSED), 1);
	cr_assert_eq(nsent, 1);
	cr_assert_eq(nth(0)->type, MSG_T_IP_PACKET);
	p = msg_find(nth(0), MSG_S_IP_PACKET);
	cr_assert_eq(p->u.ip_packet.len, err2.len);
	cr_assert_arr_eq(p->u.ip_packet.data, err2.b, err2.len);
	cr_assert_eq(svc_flows_count(m.flows), 1);
	cr_assert_eq(conns("web", "10.2.0.11", 8080), 1);
}

/* ---- agents' capabilities ------------------------------------------------------------- */

Test(core, agent_without_nat_gets_observe_wildcards_only)
{
	start(ALL_SVCS);
	clear();
	svc_core_wildcards(&m, &m.agents[3]);
	cr_assert_eq(nsent, 1, "an agent that cannot translate got %u wildcards", nsent);
	cr_assert_eq(wildcards(3, false, NULL, "10.9.0.7", 0), 1);
	clear();
	svc_core_wildcards(&m, &m.agents[0]);
	/* web, web6, any, ping, dns, ssh: address + backend; nat: inside + pool; seen */
	cr_assert_eq(wildcards(0, false, NULL, NULL, 0), 15);
	cr_assert_eq(wildcards(0, false, NULL, "203.0.113.8", 0), 1);
	cr_assert_eq(wildcards(0, false, "10.2.0.11", "10.1.0.0", 0), 1);
}

Test(core, deny_of_nat_stops_wildcards_deny_of_interest_retries)
{
	start(ALL_SVCS);
	struct pkt syn = tcp("10.1.0.5", 40000, "10.9.0.1", 80, SYN);
	struct flow_key ko = key(6, "10.1.0.5", 40000, "10.9.0.1", 80);

	punt(0, "web", FLOW_DIR_ORIG, &syn);
	deny(0, &ko, MSG_S_ACT_INTEREST);
	cr_assert_eq(ctr(SVC_C_RETRIED), 1);
	cr_assert_eq(nsent, 1);
	cr_assert(key_equal(&fixed_of(nth(0))->key, &ko));
	cr_assert_null(msg_find(nth(0), MSG_S_ACT_INTEREST), "retried with what was denied");
	nat_of(nth(0));
	cr_assert(must_flow(&ko).flags & FLOW_F_NO_INTEREST);

	deny(1, &ko, MSG_S_ACT_NAT);
	cr_assert_eq(ctr(SVC_C_DENIED), 2);
	clear();
	svc_core_wildcards(&m, &m.agents[1]);
	cr_assert_eq(nsent, 1, "an agent that denied NAT still gets %u wildcards", nsent);
}

/* ---- direct return: the backend's host agent translates its replies (seed 002) ---- */

#define SVC_DIRECT(mode)                                                  \
	"  - name: web\n"                                                \
	"    address: 10.9.0.1\n"                                        \
	"    port: 80\n"                                                 \
	"    clients: [ 10.1.0.0/16 ]\n"                                 \
	"    direct-return: " mode "\n"                                  \
	"    backends: [ { address: 10.2.0.11, port: 8080, host-agent: h1 } ]\n"

/* Agent 1 is the backend's host agent (instance "h1"). */
static void start_direct(const char *services)
{
	start(services);
	m.agents[1].instance = loom_str_hash64("h1");
}

/* The update-fixed of key k sent to agent (the last one), NULL if none. */
static const struct msg *fixed_to(unsigned agent, const struct flow_key *k)
{
	const struct msg *found = NULL;

	for (unsigned i = 0; i < nsent; i++) {
		const struct msg_seg *s = msg_find(&sent[i].msg, MSG_S_FIXED);
		if (sent[i].agent == agent && s && key_equal(&s->u.fixed.key, k))
			found = &sent[i].msg;
	}
	return found;
}

Test(core, direct_host_agent_gets_only_its_backends_reply_wildcards)
{
	start_direct(SVC_DIRECT("always") SVC_SSH);
	clear();
	svc_core_wildcards(&m, &m.agents[1]);
	cr_assert_gt(count(MSG_T_UPDATE_WILDCARD, 1), 0);
	cr_assert_eq(wildcards(1, false, "10.2.0.11", NULL, 0), count(MSG_T_UPDATE_WILDCARD, 1),
		     "only the reply wildcard of its backend");
	clear();
	svc_core_wildcards(&m, &m.agents[0]);
	cr_assert_gt(wildcards(0, false, NULL, "10.9.0.1", 0), 0, "the ingress agent: all");
}

Test(core, direct_always_hands_the_reply_translation_with_the_decision)
{
	start_direct(SVC_DIRECT("always"));
	struct pkt p = tcp("10.1.0.5", 40000, "10.9.0.1", 80, SYN);
	struct flow_key kr = key(6, "10.2.0.11", 8080, "10.1.0.5", 40000);
	struct flow_key ko = key(6, "10.1.0.5", 40000, "10.9.0.1", 80);

	punt(0, "web", FLOW_DIR_ORIG, &p);
	cr_assert_eq(nsent, 3, "two to the ingress agent, one to the host");
	cr_assert_eq(sent[0].agent, 1, "the host first: it must have it before the server answers");
	const struct msg *h = fixed_to(1, &kr);
	cr_assert_not_null(h);
	cr_assert_eq(nat_of(h)->present, MSG_NAT_SADDR | MSG_NAT_SPORT);
	cr_assert(addr_is(nat_of(h)->saddr, "10.9.0.1"));
	cr_assert_not_null(msg_find(h, MSG_S_ACT_INTEREST), "FIN/RST seen where replies go");
	cr_assert_null(fixed_to(1, &ko), "the host agent never gets the original direction");
	cr_assert_not_null(fixed_to(0, &kr), "the ingress agent keeps its reply affinity");
	struct flow_rec r = must_flow(&ko);
	cr_assert(r.flags & FLOW_F_DIRECT);
	cr_assert(has_agent(&r, 0));
	cr_assert_eq(ctr(SVC_C_DIRECT_HANDED), 1);
}

Test(core, direct_established_waits_for_the_servers_answer)
{
	start_direct(SVC_DIRECT("established"));
	struct pkt p = tcp("10.1.0.5", 40000, "10.9.0.1", 80, SYN);
	struct flow_key kr = key(6, "10.2.0.11", 8080, "10.1.0.5", 40000);

	punt(0, "web", FLOW_DIR_ORIG, &p);
	const struct msg *h = fixed_to(1, &kr);
	cr_assert_not_null(h, "a pass-through affinity with interest");
	cr_assert_null(msg_find(h, MSG_S_ACT_NAT), "not translated before the handshake");
	cr_assert_not_null(msg_find(h, MSG_S_ACT_INTEREST));
	cr_assert_not(must_flow(&kr).flags & FLOW_F_DIRECT);

	interest(1, &kr, MSG_INT_SYN); /* the SYN-ACK passes the host agent */
	h = fixed_to(1, &kr);
	cr_assert_not_null(h);
	cr_assert(addr_is(nat_of(h)->saddr, "10.9.0.1"));
	cr_assert(must_flow(&kr).flags & FLOW_F_DIRECT);
	cr_assert_eq(must_flow(&kr).state, FLOW_S_EST);
}

Test(core, direct_reload_takes_it_back_and_hands_it_again)
{
	start_direct(SVC_DIRECT("always"));
	struct pkt p = tcp("10.1.0.5", 40000, "10.9.0.1", 80, SYN);
	struct flow_key kr = key(6, "10.2.0.11", 8080, "10.1.0.5", 40000);

	punt(0, "web", FLOW_DIR_ORIG, &p);
	reload(SVC_DIRECT("never"));
	svc_core_direct_refresh(&m);
	const struct msg *h = fixed_to(1, &kr);
	cr_assert_not_null(h, "the host agent told");
	cr_assert_neq(fixed_of(h)->ttl, 0, "replaced, not deleted: no punt for every reply");
	cr_assert_null(msg_find(h, MSG_S_ACT_NAT));
	cr_assert_not(must_flow(&kr).flags & FLOW_F_DIRECT);
	cr_assert_eq(ctr(SVC_C_DIRECT_TAKEN), 1);

	reload(SVC_DIRECT("always"));
	svc_core_direct_refresh(&m);
	h = fixed_to(1, &kr);
	cr_assert_not_null(h);
	cr_assert(addr_is(nat_of(h)->saddr, "10.9.0.1"));
	cr_assert(must_flow(&kr).flags & FLOW_F_DIRECT);
	clear();
	svc_core_direct_refresh(&m);
	cr_assert_eq(nsent, 0, "nothing to change: nothing sent");
}

Test(core, direct_host_agent_lost_falls_back_and_is_handed_again_on_return)
{
	start_direct(SVC_DIRECT("always"));
	struct pkt p = tcp("10.1.0.5", 40000, "10.9.0.1", 80, SYN);
	struct flow_key kr = key(6, "10.2.0.11", 8080, "10.1.0.5", 40000);

	punt(0, "web", FLOW_DIR_ORIG, &p);
	clear();
	m.agents[1].live = false;
	svc_core_agent_lost(&m, &m.agents[1]);
	cr_assert_eq(nsent, 0);
	cr_assert_not(must_flow(&kr).flags & FLOW_F_DIRECT);
	cr_assert_eq(ctr(SVC_C_DIRECT_FALLBACK), 1);

	/* replies now come to the ingress agent, which asks if its copy ran out */
	struct pkt rp = tcp("10.2.0.11", 8080, "10.1.0.5", 40000, ACK);
	punt(0, "web", FLOW_DIR_REPLY, &rp);
	cr_assert_not_null(fixed_to(0, &kr));
	cr_assert(addr_is(nat_of(fixed_to(0, &kr))->saddr, "10.9.0.1"));

	m.agents[1].live = true; /* its hello */
	clear();
	svc_core_wildcards(&m, &m.agents[1]);
	cr_assert_not_null(fixed_to(1, &kr), "handed again");
	cr_assert(must_flow(&kr).flags & FLOW_F_DIRECT);
}

Test(core, direct_host_agent_asking_again_gets_only_the_reply)
{
	start_direct(SVC_DIRECT("always"));
	struct pkt p = tcp("10.1.0.5", 40000, "10.9.0.1", 80, SYN);
	struct flow_key kr = key(6, "10.2.0.11", 8080, "10.1.0.5", 40000);
	struct flow_key ko = key(6, "10.1.0.5", 40000, "10.9.0.1", 80);

	punt(0, "web", FLOW_DIR_ORIG, &p);
	struct pkt rp = tcp("10.2.0.11", 8080, "10.1.0.5", 40000, ACK);
	punt(1, "web", FLOW_DIR_REPLY, &rp); /* its copy ran out */
	cr_assert_eq(nsent, 1);
	const struct msg *h = fixed_to(1, &kr);
	cr_assert_not_null(h);
	cr_assert(addr_is(nat_of(h)->saddr, "10.9.0.1"));
	cr_assert_not_null(msg_find(h, MSG_S_IP_PACKET), "the packet comes back with it");
	cr_assert_null(fixed_to(1, &ko));

	/* the flow ends: the host agent loses its reply affinity, nothing else */
	interest(0, &ko, MSG_INT_RST);
	sweep(ev_now_ms() + STICKY_MS + 1000);
	cr_assert_eq(withdrawals(&kr, 1), 1);
	cr_assert_eq(withdrawals(&ko, 1), 0);
}

Test(core, direct_bytes_counts_at_the_host_then_hands_it_over)
{
	start_direct(SVC_DIRECT("bytes") "    direct-return-bytes: 100000\n");
	struct pkt p = tcp("10.1.0.5", 40000, "10.9.0.1", 80, SYN);
	struct flow_key kr = key(6, "10.2.0.11", 8080, "10.1.0.5", 40000);

	punt(0, "web", FLOW_DIR_ORIG, &p);
	const struct msg *h = fixed_to(1, &kr);
	cr_assert_not_null(h);
	cr_assert_null(msg_find(h, MSG_S_ACT_NAT));
	const struct msg_seg *in = msg_find(h, MSG_S_ACT_INTEREST);
	cr_assert_not_null(in);
	cr_assert(in->u.interest.present & MSG_INTEREST_BYTES);
	cr_assert_eq(in->u.interest.bytes, 100000);
	/* the ingress agent's copy: no byte count */
	const struct msg_seg *ii = msg_find(fixed_to(0, &kr), MSG_S_ACT_INTEREST);
	cr_assert(!ii || !(ii->u.interest.present & MSG_INTEREST_BYTES));

	interest(1, &kr, MSG_INT_SYN); /* established is not enough */
	cr_assert_null(fixed_to(1, &kr));
	interest(1, &kr, MSG_INT_BYTES);
	h = fixed_to(1, &kr);
	cr_assert_not_null(h, "handed once the replies carried the bytes");
	cr_assert(addr_is(nat_of(h)->saddr, "10.9.0.1"));
	in = msg_find(h, MSG_S_ACT_INTEREST);
	cr_assert(!in || !(in->u.interest.present & MSG_INTEREST_BYTES), "counted once");
	cr_assert_eq(must_flow(&kr).flags & (FLOW_F_BYTES | FLOW_F_DIRECT),
		     FLOW_F_BYTES | FLOW_F_DIRECT);
}

/* ---- hot standby: what a standby does and does not do ---------------------------- */

Test(core, standby_decides_nothing_and_answers_what_it_holds)
{
	start(SVC_WEB);
	struct pkt p = tcp("10.1.0.5", 40000, "10.9.0.1", 80, SYN);
	struct flow_key ko = key(6, "10.1.0.5", 40000, "10.9.0.1", 80);

	punt(0, "web", FLOW_DIR_ORIG, &p); /* decided while active */
	m.ha = true;
	m.standby = true;
	struct pkt q = tcp("10.1.0.6", 40000, "10.9.0.1", 80, SYN);
	punt(0, "web", FLOW_DIR_ORIG, &q);
	cr_assert_eq(nsent, 0, "a standby decides no new flow");
	cr_assert_eq(ctr(SVC_C_STANDBY_DROPPED), 1);
	struct flow_rec none;
	struct flow_key kq = key(6, "10.1.0.6", 40000, "10.9.0.1", 80);
	cr_assert_not(flow(&kq, &none), "nothing stored for it");
	punt(1, "web", FLOW_DIR_ORIG, &p); /* a flow it holds: answered */
	cr_assert_eq(nsent, 2);
	cr_assert_eq(ctr(SVC_C_ANSWERED), 1);

	sweep(ev_now_ms() + 24 * 3600 * 1000ull);
	cr_assert_eq(nsent, 0, "a standby expires nothing: the active's deletions come");
	must_flow(&ko);
}

Test(core, backup_precedence_follows_role_and_epoch)
{
	start(SVC_WEB);
	const struct svc_service *s = svc("web");
	cr_assert_eq(svc_core_backup(s), 0, "without replication: as configured");
	m.ha = true;
	m.standby = true;
	uint32_t standby = svc_core_backup(s);
	m.standby = false;
	m.epoch = 1;
	uint32_t first = svc_core_backup(s);
	m.epoch = 2;
	uint32_t second = svc_core_backup(s);
	cr_assert_lt(first, standby, "the active beats the standby");
	cr_assert_lt(second, first, "each takeover beats the active it replaced");
	m.epoch = 1u << 30;
	cr_assert_leq(svc_core_backup(s), second, "saturates, never wraps");
}

Test(core, takeover_counts_the_flows_and_restarts_their_timers)
{
	start(SVC_WEB);
	struct pkt p = tcp("10.1.0.5", 40000, "10.9.0.1", 80, SYN);
	struct flow_key ko = key(6, "10.1.0.5", 40000, "10.9.0.1", 80);

	punt(0, "web", FLOW_DIR_ORIG, &p);
	struct flow_rec r = must_flow(&ko);
	/* as a standby gets it: a record with the old active's (old) times,
	 * and a model that counted nothing */
	r.touched_ms = 1;
	r.expires_ms = 2;
	cr_assert_eq(svc_flows_put(m.flows, &r), 0);
	svc_model_free(&m);
	cr_assert_eq(svc_model_load(&m, m.cfg), 0);
	cr_assert_eq(svc_core_init(&m), 0);
	m.ha = true;
	m.standby = false;
	m.epoch = 1;
	clear();
	svc_core_takeover(&m);
	r = must_flow(&ko);
	cr_assert_gt(r.expires_ms, ev_now_ms(), "timers restarted from now");
	cr_assert_eq(svc("web")->active_flows, 1, "counted");
	cr_assert_gt(count(MSG_T_UPDATE_WILDCARD, 0), 0, "the agents get the active's wildcards");
}
