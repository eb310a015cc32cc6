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
 *   bit 3    run the expiry sweep afterwards, as if time had jumped
 * Every message the core sends must encode (the send function checks), and
 * the flow table must stay consistent (checked now and then).
 */
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

static struct svc_config cfg;
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

	if (cfg_load_buffer("fuzz", config, sizeof(config) - 1, &svc_config_schema, &cfg, &diag) <
	    0) {
		cfg_diag_print(&diag, stderr);
		abort();
	}
	snprintf(instance, sizeof(instance), "fzsvc%d", (int)getpid());
	snprintf(cfg.instance, sizeof(cfg.instance), "%s", instance);
	mgr.cfg = &cfg;
	mgr.instance = 7;
	mgr.send = fuzz_send;
	if (svc_flows_open(instance, cfg.flows, 8, &perm, &mgr.flows, NULL) < 0 ||
	    svc_model_load(&mgr, &cfg) < 0 || svc_core_init(&mgr) < 0)
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

/* Both keys of every flow find it, and each service's count of active
 * flows is the number of its counted records: nothing leaked or lost. */
static uint64_t counted[SVC_MAX_SERVICES * 2];

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
	for (unsigned i = 0; i < mgr.nsvcs; i++)
		if (mgr.svcs[i]->id == r->svc_id && (r->flags & FLOW_F_COUNTED))
			counted[i]++;
	return 0;
}

static void check_table(void)
{
	uint32_t pos = 0;

	memset(counted, 0, sizeof(counted));
	do
		svc_flows_walk(mgr.flows, &pos, 1u << 20, check_cb, NULL);
	while (pos);
	for (unsigned i = 0; i < mgr.nsvcs; i++)
		if (counted[i] != mgr.svcs[i]->active_flows)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct msg in;

	if (!mgr.flows)
		setup();
	if (size < 2)
		return 0;
	struct svc_agent *a = &mgr.agents[(data[0] & 3) % 3];
	if (data[0] & 4) {
		if (msg_decode(data + 1, size - 1, &in, NULL) == 0)
			svc_core_on_msg(&mgr, a, &in);
	} else {
		punt(a, data[1], data + 2, size - 2);
	}
	if (data[0] & 8)
		svc_core_sweep(&mgr, ev_now_ms() + 3600u * 1000u);
	if (++runs % 1024 == 0)
		check_table();
	return 0;
}
