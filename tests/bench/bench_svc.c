// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * bench_svc: first-packet decisions per second of loom-svc-mgr alone, on one
 * core (the manager issue's benchmark, part b).
 *
 *   bench_svc [flows] [rounds]
 *
 * What one decision costs here is everything the manager does for a new
 * flow except the socket: decode the agent's interest match (bounded
 * msgpack reader, a 60-byte SYN inside), parse the packet, look the key up
 * in the flow table, pick a backend (smooth weighted round robin over 8),
 * store the flow under both keys in the shared-memory table, build and
 * encode the two fixed affinities (NAT, interest criteria, the packet
 * going back). The core hands each message to a send function that would
 * give it to ZeroMQ; here it only counts bytes.
 *
 * Three figures: new flows decided, punts of known flows answered from the
 * table (what an agent that forgot an affinity, or a second agent, costs),
 * and the expiry of the whole table by the sweep. There is no peer to run
 * beside it here: no other system splits the decision from the data path
 * this way. The comparison a user makes, new connections per second
 * through agent and manager against nftables DNAT, is
 * tests/bench/lab/bench_svc_lab.py.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/msg.h"
#include "common/pkt_csum.h"
#include "svc_mgr.h"

static char shm_path[96];

static void remove_table(void)
{
	if (shm_path[0])
		unlink(shm_path);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t tx_bytes, tx_msgs;
static uint8_t txbuf[MSG_MAX_SIZE];

static int bench_send(struct svc_mgr *m, struct svc_agent *a, struct msg *msg)
{
	size_t len;

	(void)m;
	(void)a;
	if (msg_encode(msg, txbuf, sizeof(txbuf), &len, NULL) < 0)
		return -EINVAL;
	tx_bytes += len;
	tx_msgs++;
	return 0;
}

static void v4(uint8_t a[16], uint32_t host_order)
{
	key_addr_from_v4(a, htonl(host_order));
}

/* An IPv4 TCP SYN, 60 bytes, checksums right. */
static uint32_t syn(uint8_t *p, uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport)
{
	memset(p, 0, 60);
	p[0] = 0x45;
	p[3] = 60;
	p[8] = 64;
	p[9] = 6;
	uint32_t s = htonl(src), d = htonl(dst);
	memcpy(p + 12, &s, 4);
	memcpy(p + 16, &d, 4);
	uint16_t c = pkt_csum_fold(pkt_csum_add(0, p, 20));
	c = (uint16_t)~c;
	memcpy(p + 10, &c, 2);
	uint8_t *t = p + 20;
	t[0] = (uint8_t)(sport >> 8);
	t[1] = (uint8_t)sport;
	t[2] = (uint8_t)(dport >> 8);
	t[3] = (uint8_t)dport;
	t[12] = 0xa0; /* 40-byte header: room for options a SYN carries */
	t[13] = 0x02;
	t[14] = 0xff;
	t[15] = 0xff;
	return 60;
}

struct punt {
	uint8_t buf[256];
	uint32_t len;
};

static int build_punts(struct punt *pu, uint32_t n, uint32_t svc_id, uint32_t vip)
{
	static struct msg m;

	for (uint32_t i = 0; i < n; i++) {
		uint8_t pkt[64];
		uint32_t client = 0x0a010000u + (i >> 14), len;
		uint16_t sport = (uint16_t)(1024 + (i & 0x3fff));
		size_t elen;

		len = syn(pkt, client, sport, vip, 80);
		msg_init(&m, MSG_T_MATCH_WILDCARD);
		struct msg_affinity_id *id = &msg_add(&m, MSG_S_AFFINITY_ID, true)->u.affinity_id;
		key_init(&id->key);
		id->key.proto = 6;
		v4(id->key.daddr, vip);
		id->key.dport = htons(80);
		id->present = MSG_AID_SMASK | MSG_AID_DMASK;
		memset(id->dmask, 0xff, 16);
		memset(id->smask, 0xff, 12);
		v4(id->key.saddr, 0);
		id->reasons = MSG_INT_SYN | MSG_INT_ALL;
		struct msg_interest_data *md = &msg_add(&m, MSG_S_MGR_INTEREST, true)->u.mgr_interest;
		md->len = SVC_MGRDATA_LEN;
		md->data[0] = SVC_MGRDATA_MAGIC;
		md->data[1] = FLOW_DIR_ORIG;
		for (unsigned b = 0; b < 4; b++)
			md->data[2 + b] = (uint8_t)(svc_id >> (8 * b));
		msg_add(&m, MSG_S_IP_PACKET, true)->u.ip_packet =
			(struct msg_ip_packet){ .data = pkt, .len = len };
		struct msg_err err;
		if (msg_encode(&m, pu[i].buf, sizeof(pu[i].buf), &elen, &err) < 0) {
			char why[MSG_ERR_STR_LEN];
			fprintf(stderr, "bench_svc: %s\n", msg_err_str(&err, why, sizeof(why)));
			return -1;
		}
		pu[i].len = (uint32_t)elen;
	}
	return 0;
}

static double run(struct svc_mgr *m, struct svc_agent *a, const struct punt *pu, uint32_t n)
{
	static struct msg in;
	double t0 = now_s();

	for (uint32_t i = 0; i < n; i++) {
		if (msg_decode(pu[i].buf, pu[i].len, &in, NULL) < 0)
			abort();
		svc_core_on_msg(m, a, &in);
	}
	return now_s() - t0;
}

int main(int argc, char **argv)
{
	uint32_t flows = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 10) : 262144;
	unsigned rounds = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 3;
	static struct svc_config cfg;
	static struct svc_mgr m;
	char inst[32];
	int r;

	if (flows < 1024 || flows > 4000000 || rounds < 1 || rounds > 100) {
		fprintf(stderr, "usage: bench_svc [flows 1024..4000000] [rounds 1..100]\n");
		return 2;
	}
	snprintf(inst, sizeof(inst), "bsvc%d", (int)getpid());
	snprintf(shm_path, sizeof(shm_path), "/dev/shm/loom.%s.flow", inst);
	atexit(remove_table); /* every way out, the early ones too */
	static struct cfg_diag diag;
	if (cfg_load_file(SOURCE_ROOT "/deploy/svc-mgr.yaml", &svc_config_schema, &cfg, &diag) < 0) {
		cfg_diag_print(&diag, stderr);
		return 1;
	}
	snprintf(cfg.instance, sizeof(cfg.instance), "%s", inst);
	cfg.flows = flows + flows / 4;
	/* one service, eight backends, no health checks (no event loop here) */
	cfg.n_services = 1;
	struct svc_service_cfg *s = &cfg.services[0];
	s->health.type = 0;
	s->n_clients = 0;
	s->n_backends = 8;
	for (unsigned b = 0; b < 8; b++) {
		v4(s->backends[b].address, 0x0a020000u + 10 + b);
		s->backends[b].port = 8080;
		s->backends[b].weight = 1 + b % 3;
	}
	m.cfg = &cfg;
	m.instance = 1;
	m.send = bench_send;
	struct shm_perm perm = { .mode = 0600, .gid = (gid_t)-1 };
	if ((r = svc_flows_open(inst, cfg.flows, 8, &perm, &m.flows, NULL)) < 0 ||
	    (r = svc_model_load(&m, &cfg)) < 0 || (r = svc_core_init(&m)) < 0) {
		fprintf(stderr, "bench_svc: set-up: %s\n", strerror(-r));
		return 1;
	}
	struct svc_agent *a = &m.agents[0];
	a->live = true;
	a->instance = 42;
	a->id = 42;
	a->caps = ~UINT64_C(0);

	struct punt *pu = calloc(flows, sizeof(*pu));
	uint32_t vip;
	memcpy(&vip, s->address + 12, 4);
	if (!pu || build_punts(pu, flows, m.svcs[0]->id, ntohl(vip)) < 0) {
		fprintf(stderr, "bench_svc: building the punts failed\n");
		return 1;
	}

	printf("loom-svc-mgr alone, one core: %u flows per round, %u rounds, 8 backends, wrr\n",
	       flows, rounds);
	printf("%-8s %14s %14s %14s %12s\n", "round", "decided/s", "answered/s", "expired/s",
	       "bytes/flow");
	double best_new = 0, best_ans = 0;
	for (unsigned round = 0; round < rounds; round++) {
		uint64_t d0 = m.ctr[SVC_C_DECIDED], b0 = tx_bytes;
		double tn = run(&m, a, pu, flows);
		uint64_t decided = m.ctr[SVC_C_DECIDED] - d0, bytes = tx_bytes - b0;
		uint64_t a0 = m.ctr[SVC_C_ANSWERED];
		double ta = run(&m, a, pu, flows);
		uint64_t answered = m.ctr[SVC_C_ANSWERED] - a0;
		/* expire everything: the sweep withdraws and deletes */
		uint64_t e0 = m.ctr[SVC_C_EXPIRED] + m.ctr[SVC_C_CLOSED];
		double t0 = now_s();
		uint64_t far = ev_now_ms() + 24ull * 3600 * 1000;
		while (svc_flows_count(m.flows))
			svc_core_sweep(&m, far);
		double te = now_s() - t0;
		uint64_t expired = m.ctr[SVC_C_EXPIRED] + m.ctr[SVC_C_CLOSED] - e0;
		if (decided != flows || answered != flows) {
			fprintf(stderr, "bench_svc: decided %" PRIu64 ", answered %" PRIu64
				" of %u (table full? %" PRIu64 ")\n", decided, answered, flows,
				m.ctr[SVC_C_TABLE_FULL]);
			return 1;
		}
		printf("%-8u %14.0f %14.0f %14.0f %12.1f\n", round, decided / tn, answered / ta,
		       expired / te, (double)bytes / (double)decided);
		if (decided / tn > best_new)
			best_new = decided / tn;
		if (answered / ta > best_ans)
			best_ans = answered / ta;
	}
	printf("best: %.0f new flows/s (%.2f us each), %.0f answers/s (target: 500000 new/s)\n",
	       best_new, 1e6 / best_new, best_ans);

	svc_model_free(&m);
	svc_flows_close(m.flows);
	free(pu);
	return 0;
}
