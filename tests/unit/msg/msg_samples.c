// SPDX-License-Identifier: LGPL-2.1-or-later
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "msg_samples.h"

const uint8_t sample_key[] = "loom-test-key-not-a-secret";
const size_t sample_keylen = sizeof(sample_key) - 1;

/* An IPv4 TCP SYN 10.0.0.1:40000 > 192.0.2.10:80, header only. */
static const uint8_t syn[40] = {
	0x45, 0x00, 0x00, 0x28, 0x12, 0x34, 0x40, 0x00, 0x40, 0x06, 0x00, 0x00,
	0x0a, 0x00, 0x00, 0x01, 0xc0, 0x00, 0x02, 0x0a, 0x9c, 0x40, 0x00, 0x50,
	0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x50, 0x02, 0x72, 0x10,
	0x00, 0x00, 0x00, 0x00,
};

static void v4(uint8_t a[16], uint32_t host_order)
{
	key_addr_from_v4(a, htonl(host_order));
}

static void v4mask(uint8_t a[16], unsigned prefix)
{
	v4(a, prefix ? ~0u << (32 - prefix) : 0);
	memset(a, 0xff, 12); /* the mapped prefix must match too */
}

static void security(struct msg *m)
{
	struct msg_seg *s = msg_add(m, MSG_S_SECURITY, true);

	s->u.security.type = MSG_SEC_HMAC_SHA256;
	s->u.security.len = MSG_HMAC_LEN;
}

static void identity(struct msg *m, const char *host, uint32_t addr)
{
	struct msg_seg *s = msg_add(m, MSG_S_IDENTITY, false);

	v4(s->u.identity.addr, addr);
	strcpy(s->u.identity.host, host);
}

static void interest_data(struct msg *m, enum msg_seg_type t, const char *data)
{
	struct msg_seg *s = msg_add(m, t, false);

	s->u.mgr_interest.len = (uint16_t)strlen(data);
	memcpy(s->u.mgr_interest.data, data, strlen(data));
}

static void packet(struct msg *m, bool required)
{
	struct msg_seg *s = msg_add(m, MSG_S_IP_PACKET, required);

	s->u.ip_packet.data = syn;
	s->u.ip_packet.len = sizeof(syn);
}

static void wildcard_body(struct msg_wildcard *w)
{
	w->dispatch = false;
	w->info = true;
	w->key.proto = 6;
	v4(w->key.saddr, 0);
	v4mask(w->smask, 0);
	v4(w->key.daddr, 0xc000020a);
	v4mask(w->dmask, 32);
	w->key.sport = 0;
	w->key.dport = htons(80);
	v4(w->forward, 0);
	w->ttl = 30;
}

static void build_update_wildcard(struct msg *m)
{
	struct msg_seg *s;

	msg_init(m, MSG_T_UPDATE_WILDCARD);
	security(m);
	wildcard_body(&msg_add(m, MSG_S_WILDCARD, true)->u.wildcard);
	s = msg_add(m, MSG_S_SERVICE_PREC, false);
	s->u.service_prec.order = MSG_ORDER_LOWER_BETTER;
	s->u.service_prec.value = 100;
	s = msg_add(m, MSG_S_BACKUP_PREC, false);
	s->u.backup_prec.value = 2;
	interest_data(m, MSG_S_MGR_INTEREST, "vip-7");
	identity(m, "mgr1.example.net", 0x0a000064);
	s = msg_add(m, MSG_S_ACTION_LIST, true);
	s->u.action_list.n = 3;
	s->u.action_list.a[0] = (struct msg_action_ref){ MSG_S_ACT_NAT, true };
	s->u.action_list.a[1] = (struct msg_action_ref){ MSG_S_ACT_ADVERTISE, true };
	s->u.action_list.a[2] = (struct msg_action_ref){ MSG_S_ACT_INTEREST, false };
	s = msg_add(m, MSG_S_ACT_NAT, true);
	s->u.nat.present = MSG_NAT_SADDR | MSG_NAT_SPORT | MSG_NAT_DADDR | MSG_NAT_DPORT;
	v4(s->u.nat.saddr, 0x0a000101);
	s->u.nat.sport = htons(1024);
	v4(s->u.nat.daddr, 0x0a000202);
	s->u.nat.dport = htons(8080);
	s = msg_add(m, MSG_S_ACT_ADVERTISE, true);
	s->u.advertise.present = MSG_ADV_MASK;
	v4(s->u.advertise.addr, 0xc000020a);
	v4mask(s->u.advertise.mask, 32);
	s = msg_add(m, MSG_S_ACT_SEQ_ADJUST, false);
	s->u.seq_adjust = (struct msg_seq_adjust){ 0xfffffff0u, 1000, 16, 2000 };
	s = msg_add(m, MSG_S_ACT_INTEREST, false);
	v4(s->u.interest.addr, 0x0a000064);
	s->u.interest.port = htons(7400);
	s->u.interest.mask = MSG_INT_SYN | MSG_INT_FIN | MSG_INT_RST;
	s->u.interest.data = MSG_INT_SYN;
	s->u.interest.copy = 0;
	s->u.interest.hold = MSG_INT_ALL;
}

static void build_update_fixed(struct msg *m)
{
	struct msg_seg *s;

	msg_init(m, MSG_T_UPDATE_FIXED);
	s = msg_add(m, MSG_S_FIXED, true);
	s->u.fixed.dispatch = true;
	s->u.fixed.info = false;
	s->u.fixed.key.proto = 6;
	v4(s->u.fixed.key.saddr, 0x0a000001);
	v4(s->u.fixed.key.daddr, 0xc000020a);
	s->u.fixed.key.sport = htons(40000);
	s->u.fixed.key.dport = htons(80);
	v4(s->u.fixed.forward, 0x0a000a0b);
	s->u.fixed.ttl = MSG_MAX_TTL;
	s = msg_add(m, MSG_S_ACT_NAT, true);
	s->u.nat.present = MSG_NAT_DADDR | MSG_NAT_DPORT;
	memset(s->u.nat.daddr, 0x20, 16); /* a v6 backend */
	s->u.nat.dport = htons(8443);
	interest_data(m, MSG_S_AGENT_INTEREST, "slot:42");
	packet(m, false);
}

static void build_update_deny(struct msg *m)
{
	struct msg_seg *s;

	msg_init(m, MSG_T_UPDATE_DENY);
	s = msg_add(m, MSG_S_ACTION_LIST, true);
	s->u.action_list.n = 1;
	s->u.action_list.a[0] = (struct msg_action_ref){ MSG_S_ACT_NAT, true };
	wildcard_body(&msg_add(m, MSG_S_WILDCARD, false)->u.wildcard);
	identity(m, "agent-3", 0x0a000003);
}

static void build_match_wildcard(struct msg *m)
{
	struct msg_seg *s;

	msg_init(m, MSG_T_MATCH_WILDCARD);
	s = msg_add(m, MSG_S_AFFINITY_ID, true);
	s->u.affinity_id.present = MSG_AID_SMASK | MSG_AID_DMASK;
	s->u.affinity_id.info = true;
	s->u.affinity_id.key.proto = 6;
	v4(s->u.affinity_id.key.daddr, 0xc000020a);
	v4mask(s->u.affinity_id.smask, 0);
	v4mask(s->u.affinity_id.dmask, 32);
	s->u.affinity_id.key.dport = htons(80);
	s->u.affinity_id.reasons = MSG_INT_SYN;
	interest_data(m, MSG_S_MGR_INTEREST, "vip-7");
	interest_data(m, MSG_S_AGENT_INTEREST, "");
	packet(m, false);
}

static void build_match_fixed(struct msg *m)
{
	struct msg_seg *s;

	msg_init(m, MSG_T_MATCH_FIXED);
	s = msg_add(m, MSG_S_AFFINITY_ID, true);
	s->u.affinity_id.dispatch = true;
	s->u.affinity_id.key.proto = 17;
	memset(s->u.affinity_id.key.saddr, 0xfe, 16);
	memset(s->u.affinity_id.key.daddr, 0x20, 16);
	s->u.affinity_id.key.sport = htons(5353);
	s->u.affinity_id.key.dport = htons(53);
	s->u.affinity_id.reasons = MSG_INT_FRAGMENT | MSG_INT_DATA | MSG_INT_FIRST_DATA;
	identity(m, "agent-3", 0x0a000003);
}

static void build_ip_packet(struct msg *m)
{
	msg_init(m, MSG_T_IP_PACKET);
	packet(m, true);
}

static void build_hello(struct msg *m)
{
	struct msg_seg *s;

	msg_init(m, MSG_T_HELLO);
	identity(m, "agent-3", 0x0a000003);
	s = msg_add(m, MSG_S_HELLO, true);
	s->u.hello.role = MSG_ROLE_FWD_AGENT;
	s->u.hello.caps = MSG_CAP(MSG_S_ACT_NAT) | MSG_CAP(MSG_S_ACT_SEQ_ADJUST) |
			  MSG_CAP(MSG_S_ACT_INTEREST) | MSG_CAP(MSG_S_ACT_ADVERTISE);
	s->u.hello.instance = 3;
	s->u.hello.generation = 0x0123456789abcdefull;
	s->u.hello.vmin = MSG_VERSION_MIN;
	s->u.hello.vmax = MSG_VERSION_MAX;
}

static void build_heartbeat(struct msg *m)
{
	struct msg_seg *s;

	msg_init(m, MSG_T_HEARTBEAT);
	s = msg_add(m, MSG_S_HEARTBEAT, true);
	s->u.heartbeat.seq = 77;
	s->u.heartbeat.mono_ms = 123456789012ull;
}

static void build_error(struct msg *m)
{
	struct msg_err err = {
		.code = MSG_E_SEG_UNKNOWN, .msg_type = MSG_T_UPDATE_WILDCARD,
		.seg_index = 4, .seg_type = 60, .field = -1,
	};
	struct msg_identity id = { .host = "agent-3" };

	v4(id.addr, 0x0a000003);
	msg_build_error(m, &err, "segment 4 type 60 not understood", &id, false);
}

static void build_repl_hello(struct msg *m)
{
	struct msg_seg *s;

	msg_init(m, MSG_T_REPL_HELLO);
	security(m);
	identity(m, "mgr-b", 0x0a000102);
	s = msg_add(m, MSG_S_HELLO, true);
	s->u.hello = (struct msg_hello){ .role = MSG_ROLE_SVC_MGR, .caps = MSG_CAP(MSG_S_REPL_BATCH),
					 .instance = 2, .generation = 1700000000123ull,
					 .vmin = 1, .vmax = 1 };
	s = msg_add(m, MSG_S_REPL_MEMBER, true);
	s->u.repl_member = (struct msg_repl_member){ .present = MSG_RMEMBER_NEXT, .group = 7,
		.mode = MSG_REPL_MODE_ACTIVE_STANDBY, .role = MSG_REPL_ROLE_STANDBY,
		.ready = true, .next = 4242 };
}

/* Every transaction op, in one dump-begin batch. */
static void build_repl_batch(struct msg *m)
{
	static uint8_t buf[512];
	static const struct msg_repl_txn t[] = {
		{ .op = MSG_REPL_OP_AUTH, .owner = 1, .present = MSG_RTXN_GEN, .generation = 99 },
		{ .op = MSG_REPL_OP_DELETE_OWNER, .owner = 0 },
		{ .op = MSG_REPL_OP_ADD, .owner = 1, .present = MSG_RTXN_KEY | MSG_RTXN_VALUE,
		  .key = (const uint8_t *)"flow-1", .key_len = 6,
		  .value = (const uint8_t *)"10.0.0.1:40000", .value_len = 14 },
		{ .op = MSG_REPL_OP_UPDATE, .owner = 1, .present = MSG_RTXN_KEY | MSG_RTXN_VALUE,
		  .key = (const uint8_t *)"flow-1", .key_len = 6,
		  .value = (const uint8_t *)"", .value_len = 0 },
		{ .op = MSG_REPL_OP_DELETE, .owner = 3, .present = MSG_RTXN_KEY,
		  .key = (const uint8_t *)"flow-2", .key_len = 6 },
		{ .op = MSG_REPL_OP_ERROR, .owner = 1, .present = MSG_RTXN_KEY | MSG_RTXN_VALUE,
		  .key = (const uint8_t *)"flow-3", .key_len = 6,
		  .value = (const uint8_t *)"no port", .value_len = 7 },
	};
	struct msg_repl_txw w;
	struct msg_seg *s;

	msg_repl_txw_init(&w, buf, sizeof(buf));
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		cr_assert_eq(msg_repl_txw_add(&w, &t[i]), 0);
	msg_init(m, MSG_T_REPL_BATCH);
	s = msg_add(m, MSG_S_REPL_BATCH, true);
	s->u.repl_batch.seq = 1;
	s->u.repl_batch.kind = MSG_REPL_KIND_DUMP_BEGIN;
	s->u.repl_batch.txns = msg_repl_txw_finish(&w, &s->u.repl_batch.txns_len);
}

static void build_repl_ack(struct msg *m)
{
	msg_init(m, MSG_T_REPL_ACK);
	msg_add(m, MSG_S_REPL_ACK, true)->u.repl_ack =
		(struct msg_repl_ack){ .next = 70000, .resend = true, .dump = false };
}

static void build_prov_push(struct msg *m)
{
	struct msg_seg *s;

	msg_init(m, MSG_T_PROV_PUSH);
	s = msg_add(m, MSG_S_PROV_DOC, true);
	s->u.prov_doc = (struct msg_prov_doc){ .version = 42, .target = MSG_PROV_TARGET_SVC_MGR,
					       .size = 300000,
					       .digest_len = MSG_PROV_DIGEST_LEN };
	for (unsigned i = 0; i < MSG_PROV_DIGEST_LEN; i++)
		s->u.prov_doc.digest[i] = (uint8_t)(0xa0 + i);
}

static void build_prov_ack(struct msg *m)
{
	struct msg_seg *s;

	msg_init(m, MSG_T_PROV_ACK);
	s = msg_add(m, MSG_S_PROV_ACK, true);
	s->u.prov_ack = (struct msg_prov_ack){ .present = MSG_PACK_TEXT, .version = 43,
					       .ok = false, .applied = 42 };
	strcpy(s->u.prov_ack.text, "services[0].port: ICMP has no ports");
}

static void build_prov_query(struct msg *m)
{
	msg_init(m, MSG_T_PROV_QUERY);
	msg_add(m, MSG_S_PROV_QUERY, true)->u.prov_query =
		(struct msg_prov_query){ .target = MSG_PROV_TARGET_PKT_ENGINE, .latest = 43 };
}

static void build_prov_trial(struct msg *m)
{
	msg_init(m, MSG_T_PROV_TRIAL);
	struct msg_prov_trial *t = &msg_add(m, MSG_S_PROV_TRIAL, true)->u.prov_trial;
	*t = (struct msg_prov_trial){ .id = 7, .port = 8080 };
	snprintf(t->service, sizeof(t->service), "shop-v2");
}

static void build_prov_result(struct msg *m)
{
	msg_init(m, MSG_T_PROV_RESULT);
	struct msg_prov_result *r = &msg_add(m, MSG_S_PROV_RESULT, true)->u.prov_result;
	*r = (struct msg_prov_result){ .id = 7, .ok = true, .size = 300,
				       .digest_len = MSG_PROV_DIGEST_LEN };
	memset(r->digest, 0x5a, sizeof(r->digest));
}

const struct msg_sample msg_samples[] = {
	{ "update_wildcard", MSG_T_UPDATE_WILDCARD, build_update_wildcard, true },
	{ "update_fixed", MSG_T_UPDATE_FIXED, build_update_fixed, false },
	{ "update_deny", MSG_T_UPDATE_DENY, build_update_deny, false },
	{ "match_wildcard", MSG_T_MATCH_WILDCARD, build_match_wildcard, false },
	{ "match_fixed", MSG_T_MATCH_FIXED, build_match_fixed, false },
	{ "ip_packet", MSG_T_IP_PACKET, build_ip_packet, false },
	{ "hello", MSG_T_HELLO, build_hello, false },
	{ "heartbeat", MSG_T_HEARTBEAT, build_heartbeat, false },
	{ "error", MSG_T_ERROR, build_error, false },
	{ "repl_hello", MSG_T_REPL_HELLO, build_repl_hello, true },
	{ "repl_batch", MSG_T_REPL_BATCH, build_repl_batch, false },
	{ "repl_ack", MSG_T_REPL_ACK, build_repl_ack, false },
	{ "prov_push", MSG_T_PROV_PUSH, build_prov_push, false },
	{ "prov_ack", MSG_T_PROV_ACK, build_prov_ack, false },
	{ "prov_query", MSG_T_PROV_QUERY, build_prov_query, false },
	{ "prov_trial", MSG_T_PROV_TRIAL, build_prov_trial, false },
	{ "prov_result", MSG_T_PROV_RESULT, build_prov_result, false },
};
const size_t msg_nsamples = sizeof(msg_samples) / sizeof(msg_samples[0]);

size_t sample_encode(const struct msg_sample *s, struct msg *m, uint8_t *buf, size_t cap)
{
	struct msg_err err;
	char why[MSG_ERR_STR_LEN];
	size_t len = 0;
	int rc;

	memset(m, 0, sizeof(*m));
	s->build(m);
	rc = msg_encode(m, buf, cap, &len, &err);
	cr_assert_eq(rc, 0, "%s: %s", s->name, msg_err_str(&err, why, sizeof(why)));
	if (s->signed_)
		cr_assert_eq(msg_sign(buf, len, sample_key, sample_keylen), 0);
	return len;
}
