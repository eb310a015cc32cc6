// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Fuzz loom-svc-mgr's core with what agents send it: the packets they punt
 * (hostile: anyone on the network writes them) and whole messages (an agent
 * is trusted to be an agent, not to be correct).
 *
 * One manager lives for the whole run, with a load-balancing service
 * (Maglev, persistence), a NAT gateway and an observed address, a small flow
 * table (so "full" happens) and three agents of different capabilities.
 * Input byte 0:
 *   bit 0-1  which agent sends it
 *   bit 2    0: the rest is an IP packet punted by the wildcard named by
 *            byte 1 (service index, direction); 1: the rest is a message
 *   bit 3    run the expiry sweep afterwards, as if time had jumped by the
 *            last byte x 4 s (0 to 17 min: sticky, every idle timeout)
 *   bit 4    first reload to the other configuration (weights changed, a
 *            backend and a service removed), as svc_daemon.c's reload()
 *   bit 5    first "restart": the model freed, loaded again and recovered
 *            from the same table (in either configuration: flows of a
 *            service the restarted manager lacks are recovered uncounted)
 *   bit 6    instead of the above: an interest match on a flow of the
 *            table (byte 1 picks the flow, byte 2 the direction and the
 *            reasons), which a fuzzer could never guess the key of
 * Every message the core sends must encode (the send function checks), and
 * after every input the flow table and the counts derived from it must
 * agree: both keys of each flow, each service's active flows, each
 * backend's connections in its scheduler, each NAT mapping's references.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/msg.h"
#include "svc_mgr.h"

static const char config[] =
	"instance: fuzzsvc\n"
	"listen: [ \"ipc:///tmp/fuzzsvc.sock\" ]\n"
	"flows: 256\n"
	"sticky: 1s\n"
	"services:\n"
	"  - name: web\n"
	"    address: 10.9.0.1\n"
	"    port: 80\n"
	"    algorithm: maglev\n"
	"    persistence: 30s\n"
	"    clients: [ 10.1.0.0/16 ]\n"
	"    backends:\n"
	"      - { address: 10.2.0.11, weight: 2 }\n"
	"      - { address: 10.2.0.12, port: 8080 }\n"
	"      - { address: 10.2.0.13, weight: 0 }\n"
	"  - name: dns\n"
	"    protocol: udp\n"
	"    address: 10.9.0.2\n"
	"    algorithm: wlc\n"
	"    backends: [ { address: 10.2.0.21 }, { address: 10.2.0.22 } ]\n"
	"  - name: ping6\n"
	"    protocol: icmp\n"
	"    address: fd00:9::1\n"
	"    backends: [ { address: \"fd00:2::11\" } ]\n"
	"  - name: nat\n"
	"    type: nat\n"
	"    protocol: any\n"
	"    clients: [ 192.168.0.0/16 ]\n"
	"    pool: [ 203.0.113.8/31 ]\n"
	"    port-min: 1000\n"
	"    port-max: 1015\n"
	"  - name: seen\n"
	"    type: observe\n"
	"    address: 10.9.0.3\n"
	"    precedence: 200\n";

/* The reload target: web's weights changed and a backend gone, dns gone,
 * seen at another precedence; the NAT pool as it was. */
static const char alt_config[] =
	"instance: fuzzsvc\n"
	"listen: [ \"ipc:///tmp/fuzzsvc.sock\" ]\n"
	"flows: 256\n"
	"sticky: 1s\n"
	"services:\n"
	"  - name: web\n"
	"    address: 10.9.0.1\n"
	"    port: 80\n"
	"    algorithm: maglev\n"
	"    persistence: 30s\n"
	"    clients: [ 10.1.0.0/16 ]\n"
	"    backends:\n"
	"      - { address: 10.2.0.11, weight: 1 }\n"
	"      - { address: 10.2.0.13, weight: 3 }\n"
	"  - name: ping6\n"
	"    protocol: icmp\n"
	"    address: fd00:9::1\n"
	"    backends: [ { address: \"fd00:2::11\" } ]\n"
	"  - name: nat\n"
	"    type: nat\n"
	"    protocol: any\n"
	"    clients: [ 192.168.0.0/16 ]\n"
	"    pool: [ 203.0.113.8/31 ]\n"
	"    port-min: 1000\n"
	"    port-max: 1015\n"
	"  - name: seen\n"
	"    type: observe\n"
	"    address: 10.9.0.3\n"
	"    precedence: 150\n";

static struct svc_config cfgs[2]; /* the configuration and the reload target */
static unsigned cur;
static struct svc_mgr mgr;
static char instance[32];
static uint8_t txbuf[MSG_MAX_SIZE];
static unsigned runs;

static int fuzz_send(struct svc_mgr *m, struct svc_agent *a, struct msg *msg)
{
	size_t len;
	struct msg_err err;

	(void)m;
	(void)a;
	/* what the core builds must be what an agent accepts */
	if (msg_encode(msg, txbuf, sizeof(txbuf), &len, &err) < 0)
		abort();
	return 0;
}

static void cleanup(void)
{
	char path[96];

	svc_model_free(&mgr);
	svc_flows_close(mgr.flows);
	snprintf(path, sizeof(path), "/dev/shm/loom.%s.flow", instance);
	unlink(path);
}

static void setup(void)
{
	static struct cfg_diag diag;
	struct shm_perm perm = { .mode = 0600, .gid = (gid_t)-1 };

	const char *const yaml[2] = { config, alt_config };
	const size_t len[2] = { sizeof(config) - 1, sizeof(alt_config) - 1 };

	snprintf(instance, sizeof(instance), "fzsvc%d", (int)getpid());
	for (unsigned i = 0; i < 2; i++) {
		if (cfg_load_buffer("fuzz", yaml[i], len[i], &svc_config_schema, &cfgs[i], &diag) <
		    0) {
			cfg_diag_print(&diag, stderr);
			abort();
		}
		snprintf(cfgs[i].instance, sizeof(cfgs[i].instance), "%s", instance);
	}
	mgr.cfg = &cfgs[0];
	mgr.instance = 7;
	mgr.send = fuzz_send;
	if (svc_flows_open(instance, cfgs[0].flows, 8, &perm, &mgr.flows, NULL) < 0 ||
	    svc_model_load(&mgr, &cfgs[0]) < 0 || svc_core_init(&mgr) < 0)
		abort();
	for (unsigned i = 0; i < 3; i++) {
		mgr.agents[i].live = true;
		mgr.agents[i].instance = 100 + i;
		mgr.agents[i].id = 100 + i;
		/* agent 1 cannot do interest criteria, agent 2 cannot translate */
		mgr.agents[i].caps = ~UINT64_C(0);
	}
	mgr.agents[1].caps &= ~MSG_CAP(MSG_S_ACT_INTEREST);
	mgr.agents[2].caps &= ~MSG_CAP(MSG_S_ACT_NAT);
	atexit(cleanup);
}

static void punt(struct svc_agent *a, uint8_t sel, const uint8_t *pkt, size_t len)
{
	static struct msg m;
	const struct svc_service *s = mgr.svcs[(sel & 0x7f) % mgr.nsvcs];

	if (len == 0 || len > MSG_MAX_PACKET)
		return;
	msg_init(&m, MSG_T_MATCH_WILDCARD);
	struct msg_affinity_id *id = &msg_add(&m, MSG_S_AFFINITY_ID, true)->u.affinity_id;
	key_init(&id->key);
	id->reasons = MSG_INT_ALL;
	struct msg_interest_data *md = &msg_add(&m, MSG_S_MGR_INTEREST, true)->u.mgr_interest;
	md->len = SVC_MGRDATA_LEN;
	md->data[0] = SVC_MGRDATA_MAGIC;
	md->data[1] = sel >> 7;
	for (unsigned b = 0; b < 4; b++)
		md->data[2 + b] = (uint8_t)(s->id >> (8 * b));
	msg_add(&m, MSG_S_IP_PACKET, true)->u.ip_packet =
		(struct msg_ip_packet){ .data = pkt, .len = (uint32_t)len };
	svc_core_on_msg(&mgr, a, &m);
}

/*
 * Both keys of every flow find it, and what the core counts is what the
 * table holds: each service's active flows, each backend's connections in
 * its scheduler and each NAT mapping's references are its counted records
 * (the service of a record is the one svc_model_find gives, as for the
 * core's own release). Nothing leaked or lost.
 */
struct tally {
	const struct svc_service *s;
	uint32_t backend_id;             /* LB */
	uint8_t proto;                   /* NAT: the mapping of (proto, inside) */
	struct svc_nat_ep inside;
	uint32_t n;
};
static struct tally tallies[1024];
static unsigned ntallies;
static uint64_t counted[SVC_MAX_SERVICES * 2];

static void tally(const struct tally *t)
{
	for (unsigned i = 0; i < ntallies; i++) {
		struct tally *x = &tallies[i];
		if (x->s == t->s && x->backend_id == t->backend_id && x->proto == t->proto &&
		    !memcmp(&x->inside, &t->inside, sizeof(t->inside))) {
			x->n++;
			return;
		}
	}
	if (ntallies == LOOM_ARRAY_SIZE(tallies))
		abort();
	tallies[ntallies] = *t;
	tallies[ntallies++].n = 1;
}

static int check_cb(const struct flow_key *orig, const struct flow_rec *r, void *arg)
{
	struct flow_key ko, kr;
	struct flow_rec other;

	(void)arg;
	flow_rec_keys(r, &ko, &kr);
	if (!key_equal(&ko, orig) || svc_flows_get(mgr.flows, &kr, &other) < 0 ||
	    other.dir != FLOW_DIR_REPLY || other.svc_id != r->svc_id ||
	    other.created_ms != r->created_ms)
		abort();
	const struct svc_service *s = svc_model_find(&mgr, r->svc_id);
	if (!s || r->owner != mgr.instance || !(r->flags & FLOW_F_COUNTED))
		return 0;
	for (unsigned i = 0; i < mgr.nsvcs; i++)
		if (mgr.svcs[i] == s)
			counted[i]++;
	struct tally t = { .s = s };
	if (r->type == FLOW_T_LB) {
		t.backend_id = r->backend_id;
	} else if (r->type == FLOW_T_NAT) {
		t.proto = r->proto;
		memcpy(t.inside.addr, r->in_local.addr, 16);
		t.inside.port = ntohs(r->in_local.port);
	} else {
		return 0;
	}
	tally(&t);
	return 0;
}

static uint32_t tallied(const struct tally *t)
{
	for (unsigned i = 0; i < ntallies; i++)
		if (tallies[i].s == t->s && tallies[i].backend_id == t->backend_id &&
		    tallies[i].proto == t->proto &&
		    !memcmp(&tallies[i].inside, &t->inside, sizeof(t->inside)))
			return tallies[i].n;
	return 0;
}

static void check_table(void)
{
	uint32_t pos = 0;

	memset(counted, 0, sizeof(counted));
	ntallies = 0;
	do
		svc_flows_walk(mgr.flows, &pos, 1u << 20, check_cb, NULL);
	while (pos);
	for (unsigned i = 0; i < mgr.nsvcs; i++) {
		const struct svc_service *s = mgr.svcs[i];
		if (counted[i] != s->active_flows)
			abort();
		/* every backend the scheduler knows: its connections are its records */
		for (unsigned b = 0; s->lb && b < svc_lb_count(s->lb); b++) {
			struct tally t = { .s = s, .backend_id = svc_lb_backend(s->lb, b)->id };
			if (svc_lb_conns(s->lb, b) != tallied(&t))
				abort();
		}
	}
	/* every mapping a record holds has that many references, and no other
	 * mapping is left in any pool */
	uint64_t held[SVC_MAX_SERVICES * 2] = { 0 };
	for (unsigned i = 0; i < ntallies; i++) {
		const struct tally *t = &tallies[i];
		uint32_t refs = 0;
		if (!t->proto)
			continue;
		if (!t->s->pool ||
		    svc_natpool_lookup_inside(t->s->pool, t->proto, &t->inside, NULL, &refs) < 0 ||
		    refs != t->n)
			abort();
		for (unsigned k = 0; k < mgr.nsvcs; k++)
			if (mgr.svcs[k] == t->s)
				held[k]++;
	}
	for (unsigned i = 0; i < mgr.nsvcs; i++) {
		struct svc_natpool_stats st;
		if (!mgr.svcs[i]->pool)
			continue;
		svc_natpool_stats(mgr.svcs[i]->pool, &st);
		if (st.mappings != held[i])
			abort();
	}
}

/* As svc_daemon.c's reload(): the other configuration, by difference. */
static void reload(void)
{
	cur ^= 1;
	mgr.cfg = &cfgs[cur];
	svc_model_reload(&mgr, &cfgs[cur]);
	svc_core_withdraw(&mgr);
	svc_core_wildcards(&mgr, NULL);
}

/* A restart on the same table: what the model counted comes back from it. */
static void restart(void)
{
	svc_model_free(&mgr);
	if (svc_model_load(&mgr, mgr.cfg) < 0 || svc_core_init(&mgr) < 0)
		abort();
	svc_core_recover(&mgr);
}

struct pick {
	unsigned n, want;
	struct flow_rec r;
	bool found;
};

static int pick_cb(const struct flow_key *orig, const struct flow_rec *r, void *arg)
{
	struct pick *p = arg;

	(void)orig;
	if (p->n++ != p->want)
		return 0;
	p->r = *r;
	p->found = true;
	return 1;
}

/* An interest match on the fixed affinity of one flow of the table. */
static void interest(struct svc_agent *a, uint8_t which, uint8_t how)
{
	static struct msg m;
	struct pick p = { .want = which };
	uint32_t pos = 0;

	do
		svc_flows_walk(mgr.flows, &pos, 1u << 20, pick_cb, &p);
	while (pos && !p.found);
	if (!p.found)
		return;
	struct flow_key ko, kr;
	flow_rec_keys(&p.r, &ko, &kr);
	msg_init(&m, MSG_T_MATCH_FIXED);
	struct msg_affinity_id *id = &msg_add(&m, MSG_S_AFFINITY_ID, true)->u.affinity_id;
	id->key = how & 1 ? kr : ko;
	id->reasons = (uint16_t)((how >> 1) & (MSG_INT_FIN | MSG_INT_SYN | MSG_INT_RST));
	svc_core_on_msg(&mgr, a, &m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct msg in;

	if (!mgr.flows)
		setup();
	if (size < 3)
		return 0;
	struct svc_agent *a = &mgr.agents[(data[0] & 3) % 3];
	uint64_t jump = (uint64_t)data[size - 1] * 4000u;
	if (data[0] & 8)
		size--;
	if (data[0] & 64) {
		interest(a, data[1], data[2]);
	} else {
		if (data[0] & 16)
			reload();
		if (data[0] & 32)
			restart();
		if (data[0] & 4) {
			if (msg_decode(data + 1, size - 1, &in, NULL) == 0)
				svc_core_on_msg(&mgr, a, &in);
		} else {
			punt(a, data[1], data + 2, size - 2);
		}
	}
	if (data[0] & 8)
		svc_core_sweep(&mgr, ev_now_ms() + jump);
	check_table();
	runs++;
	return 0;
}
