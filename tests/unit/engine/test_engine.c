// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * loom-pkt-engine's core: the definitions (schema, verify, build), the
 * sequence table (layout, validation, lookup, ACL) and the per-packet
 * pipeline on frames built here, without a packet back end.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/compiler.h"
#include "common/key.h"
#include "common/pkt.h"
#include "common/sequence.h"
#include "pe_config.h"
#include "pe_dp.h"
#include "shm/snap.h"

/* ---- definitions used by most tests ----------------------------------------- */

#include "engine_defs.h"

static struct pe_config *load(const char *yaml, struct cfg_diag *diag)
{
	struct pe_config *c = calloc(1, sizeof(*c));
	int r = cfg_load_buffer("engine.yaml", yaml, strlen(yaml), &pe_config_schema, c, diag);

	if (r < 0) {
		free(c);
		return NULL;
	}
	return c;
}

/* A load that must fail with a message containing want. */
static void expect_error(const char *yaml, const char *want)
{
	struct cfg_diag diag;
	struct pe_config *c = load(yaml, &diag);
	bool found = false;

	cr_assert_null(c, "loaded, expected '%s'", want);
	for (unsigned i = 0; i < diag.n; i++)
		found |= strstr(diag.msg[i], want) != NULL;
	cr_assert(found, "no error with '%s'; first: %s", want, diag.n ? diag.msg[0] : "(none)");
}

/* base_yaml with the first occurrence of from replaced by to. */
static char *edit(const char *from, const char *to)
{
	static char buf[8192];
	const char *p = strstr(base_yaml, from);

	cr_assert_not_null(p, "'%s' not in the base definitions", from);
	snprintf(buf, sizeof(buf), "%.*s%s%s", (int)(p - base_yaml), base_yaml, to,
		 p + strlen(from));
	return buf;
}

Test(config, schema_is_sound)
{
	char why[256] = "";

	cr_assert_eq(cfg_schema_check(&pe_config_schema, why, sizeof(why)), 0, "%s", why);
}

Test(config, base_definitions_load)
{
	struct cfg_diag diag = { 0 };
	struct pe_config *c = load(base_yaml, &diag);

	cr_assert_not_null(c, "%s", diag.n ? diag.msg[0] : "");
	cr_assert_eq(c->defs.n_services, 2);
	cr_assert_eq(c->defs.services[0].ports[1].dynamic.lo, 1025);
	cr_assert_eq(c->defs.services[0].ports[1].dynamic.hi, 1125);
	cr_assert_eq(c->defs.services[1].ports[0].translate, 8080);
	cr_assert_eq(c->defs.services[1].dscp, 46);
	cr_assert_eq(c->defs.services[0].dscp, -1);
	cr_assert_eq(c->defs.devices[3].mode, SEQ_MODE_NAT);
	free(c);
}

Test(config, errors_name_file_line_and_column)
{
	/* the chain names a device that does not exist: the message points at it */
	expect_error(edit("chain: [fw, app]", "chain: [fw, nope]"),
		     "engine.yaml:16:17: services[0].chain[1]: no device named 'nope'");
}

Test(config, refuses_mistakes)
{
	expect_error(edit("chain: [fw, app]", "chain: [natsrv, app]"), "only the server");
	expect_error(edit("chain: [fw, app]", "chain: [fw, fw]"), "in the chain twice");
	expect_error(edit("interface: cli\n    ports: [{port: 80}",
			  "interface: dev\n    ports: [{port: 80}"), "not a client interface");
	expect_error(edit("{port: 21, dynamic: 1025-1125}", "{port: 21, dynamic: 20-30}"),
		     "holds the service port itself");
	expect_error(edit("{port: 21, dynamic: 1025-1125}", "{port: 21, dynamic: 1125-1025}"),
		     "the first not above the last");
	expect_error(edit("{port: 21, dynamic: 1025-1125}", "{port: 80}"), "overlaps ports[0]");
	expect_error(edit("copies: [{receiver: ids, at: app}]",
			  "copies: [{receiver: ids, at: natsrv}]"), "is not in the chain");
	expect_error(edit("mode: nat, address: 10.2.0.20", "mode: nat"),
		     "a nat device needs its own address");
	expect_error(edit("gateway-mac: \"" GW_MAC "\", ", ""), "needs the MAC of the router");
	expect_error(edit("mac: \"02:00:00:00:0f:01\"", "mac: \"02:00:00:00:0f\""),
		     "expected a MAC address");
	expect_error(edit("dscp: 46", "dscp: 64"), "dscp");
}

Test(config, two_services_taking_the_same_packets_are_refused)
{
	/* a second service on web's address and port: the steps are ambiguous */
	char yaml[8192];

	snprintf(yaml, sizeof(yaml), "%s%s", base_yaml,
		 "  - name: web2\n"
		 "    address: 10.9.0.1\n"
		 "    interface: cli\n"
		 "    ports: [{port: 80}]\n"
		 "    chain: [app]\n");
	expect_error(yaml, "takes the same packets as another service's");
}

/* ---- the sequence table ---------------------------------------------------- */

struct table {
	void *block;
	size_t len;
	struct seq_view v;
};

static void build_table(const char *yaml, struct table *t)
{
	struct cfg_diag diag = { 0 };
	struct pe_config *c = load(yaml, &diag);
	int rc;

	cr_assert_not_null(c, "%s", diag.n ? diag.msg[0] : "");
	struct seq_builder *b = pe_defs_build(&c->defs, NULL, NULL, &rc);
	cr_assert_not_null(b, "build: %d", rc);
	t->len = seq_builder_size(b);
	t->block = aligned_alloc(64, (t->len + 63) & ~(size_t)63);
	cr_assert_eq(seq_builder_write(b, t->block, t->len, 7, 0), 0);
	cr_assert_eq(seq_view_init(&t->v, t->block, t->len), 0);
	seq_builder_free(b);
	free(c);
}

static void addr4(uint8_t out[16], const char *s)
{
	uint32_t a;

	inet_pton(AF_INET, s, &a);
	key_addr_from_v4(out, a);
}

static const uint8_t fw_mac[6] = { 2, 0, 0, 0, 0x0f, 1 };
static const uint8_t app_mac[6] = { 2, 0, 0, 0, 0x0a, 1 };
static const uint8_t nat_mac[6] = { 2, 0, 0, 0, 0x0a, 2 };
static const uint8_t ids_mac[6] = { 2, 0, 0, 0, 0x0d, 1 };
static const uint8_t gw_mac[6] = { 2, 0, 0, 0, 0, 0xfe };
static const uint8_t client_gw[6] = { 2, 0, 0, 0, 0, 0xfe };
static const uint8_t stranger[6] = { 2, 0, 0, 0, 0x66, 0x66 };

Test(sequence, steps_of_a_chain_in_both_directions)
{
	struct table t;
	uint8_t w1[16];
	enum seq_miss miss;
	const struct seq_entry *e;

	build_table(base_yaml, &t);
	addr4(w1, "10.9.0.1");
	cr_assert_eq(t.v.hdr->defs_version, 7);
	/* client -> fw, from any router MAC, with the ACL set of the service */
	e = seq_lookup(&t.v, 0, SEQ_DIR_FWD, w1, IPPROTO_TCP, 80, stranger, &miss);
	cr_assert_not_null(e);
	cr_assert_eq(e->egress, 1);
	cr_assert_arr_eq(e->dst_mac, fw_mac, 6);
	/* fw -> app (loopback), with a copy to the IDS */
	e = seq_lookup(&t.v, 1, SEQ_DIR_FWD, w1, IPPROTO_TCP, 80, fw_mac, &miss);
	cr_assert_not_null(e);
	cr_assert_arr_eq(e->dst_mac, app_mac, 6);
	cr_assert_eq(e->mode, SEQ_MODE_LOOPBACK);
	cr_assert_eq(e->copy_n, 1);
	cr_assert_arr_eq(t.v.copies[e->copy_first].dst_mac, ids_mac, 6);
	/* app's reply -> fw; fw's reply -> the client side's router */
	e = seq_lookup(&t.v, 1, SEQ_DIR_REPLY, w1, IPPROTO_TCP, 80, app_mac, &miss);
	cr_assert_not_null(e);
	cr_assert_arr_eq(e->dst_mac, fw_mac, 6);
	e = seq_lookup(&t.v, 1, SEQ_DIR_REPLY, w1, IPPROTO_TCP, 80, fw_mac, &miss);
	cr_assert_not_null(e);
	cr_assert_eq(e->egress, 0);
	cr_assert_eq(e->mode, SEQ_MODE_ROUTE);
	cr_assert_arr_eq(e->dst_mac, gw_mac, 6);
	/* the dynamic range follows the same chain; a port outside nothing */
	cr_assert_not_null(seq_lookup(&t.v, 0, SEQ_DIR_FWD, w1, IPPROTO_TCP, 1100, stranger,
				      &miss));
	cr_assert_null(seq_lookup(&t.v, 0, SEQ_DIR_FWD, w1, IPPROTO_TCP, 1126, stranger, &miss));
	cr_assert_eq(miss, SEQ_MISS_NONE);
	cr_assert_null(seq_lookup(&t.v, 0, SEQ_DIR_FWD, w1, IPPROTO_UDP, 80, stranger, &miss));
	free(t.block);
}

Test(sequence, an_unexpected_sender_is_refused)
{
	struct table t;
	uint8_t w1[16];
	enum seq_miss miss;

	build_table(base_yaml, &t);
	addr4(w1, "10.9.0.1");
	/* on the device segment only fw may send forward packets for web:80 */
	cr_assert_null(seq_lookup(&t.v, 1, SEQ_DIR_FWD, w1, IPPROTO_TCP, 80, stranger, &miss));
	cr_assert_eq(miss, SEQ_MISS_SRC_MAC);
	cr_assert_null(seq_lookup(&t.v, 1, SEQ_DIR_REPLY, w1, IPPROTO_TCP, 80, ids_mac, &miss));
	cr_assert_eq(miss, SEQ_MISS_SRC_MAC);
	free(t.block);
}

Test(sequence, nat_server_replies_are_keyed_by_its_own_address_and_port)
{
	struct table t;
	uint8_t w2[16], s[16];
	enum seq_miss miss;
	const struct seq_entry *e;

	build_table(base_yaml, &t);
	addr4(w2, "10.9.0.2");
	addr4(s, "10.2.0.20");
	e = seq_lookup(&t.v, 0, SEQ_DIR_FWD, w2, IPPROTO_TCP, 80, stranger, &miss);
	cr_assert_not_null(e);
	cr_assert(e->flags & SEQ_F_NAT);
	cr_assert_arr_eq(e->addr2, s, 16);
	cr_assert(e->flags & SEQ_F_XLAT);
	cr_assert_eq(e->xlat_from, 80);
	cr_assert_eq(e->xlat_to, 8080);
	cr_assert(e->flags & SEQ_F_DSCP);
	e = seq_lookup(&t.v, 1, SEQ_DIR_REPLY, s, IPPROTO_TCP, 8080, nat_mac, &miss);
	cr_assert_not_null(e);
	cr_assert_arr_eq(e->addr2, w2, 16);
	cr_assert_eq(e->xlat_from, 8080);
	cr_assert_eq(e->xlat_to, 80);
	cr_assert_null(seq_lookup(&t.v, 1, SEQ_DIR_REPLY, w2, IPPROTO_TCP, 80, nat_mac, &miss));
	free(t.block);
}

Test(sequence, acl_first_match_then_default)
{
	struct table t;
	uint8_t w2[16], bad[16], good[16];
	enum seq_miss miss;

	build_table(base_yaml, &t);
	addr4(w2, "10.9.0.2");
	addr4(bad, "10.1.0.66");
	addr4(good, "10.1.0.5");
	const struct seq_entry *e = seq_lookup(&t.v, 0, SEQ_DIR_FWD, w2, IPPROTO_TCP, 80, stranger,
					       &miss);
	cr_assert_not_null(e);
	cr_assert_neq(e->acl, SEQ_NONE);
	cr_assert_not(seq_acl_permit(&t.v, e->acl, bad, IPPROTO_TCP, 80));
	cr_assert(seq_acl_permit(&t.v, e->acl, good, IPPROTO_TCP, 80));
	cr_assert(seq_acl_permit(&t.v, SEQ_NONE, bad, IPPROTO_TCP, 80));
	free(t.block);
}

Test(sequence, builder_refuses_an_ambiguous_step)
{
	struct seq_builder *b = seq_builder_new();
	struct seq_entry e = { .port_lo = 80, .port_hi = 90, .proto = IPPROTO_TCP,
			       .device = SEQ_NONE, .stat = SEQ_NONE, .acl = SEQ_NONE };
	uint32_t clash = 99;

	cr_assert_eq(seq_add_entry(b, &e, NULL, 0, NULL), 0);
	e.port_lo = 85;
	e.port_hi = 85;
	cr_assert_eq(seq_add_entry(b, &e, NULL, 0, &clash), -EEXIST);
	cr_assert_eq(clash, 0);
	/* the same key from a checked sender is another step */
	e.flags = SEQ_F_SRC_MAC;
	cr_assert_eq(seq_add_entry(b, &e, NULL, 0, NULL), 1);
	e.ingress = SEQ_MAX_PORTS;
	cr_assert_eq(seq_add_entry(b, &e, NULL, 0, NULL), -EINVAL);
	seq_builder_free(b);
}

Test(sequence, validation_refuses_bad_blocks)
{
	struct table t;
	struct seq_view v;
	struct seq_hdr *h;
	uint8_t *copy;

	build_table(base_yaml, &t);
	copy = aligned_alloc(64, (t.len + 63) & ~(size_t)63);
	h = (struct seq_hdr *)copy;

#define FRESH() memcpy(copy, t.block, t.len)
	FRESH();
	cr_assert_eq(seq_view_init(&v, copy, sizeof(struct seq_hdr) - 1), -SEQ_E_SHORT);
	cr_assert_eq(seq_view_init(&v, copy, t.len - 8), -SEQ_E_SECTION);
	h->magic ^= 1;
	cr_assert_eq(seq_view_init(&v, copy, t.len), -SEQ_E_MAGIC);
	FRESH();
	h->sec[SEQ_SEC_ENTRIES].off = 0xfffffff8u;
	cr_assert_eq(seq_view_init(&v, copy, t.len), -SEQ_E_SECTION);
	FRESH();
	h->sec[SEQ_SEC_BUCKETS].count = 3;
	cr_assert_eq(seq_view_init(&v, copy, t.len), -SEQ_E_BUCKETS);
	FRESH();
	struct seq_entry *e = (struct seq_entry *)(copy + h->sec[SEQ_SEC_ENTRIES].off);
	e[0].next = h->sec[SEQ_SEC_ENTRIES].count;
	cr_assert_eq(seq_view_init(&v, copy, t.len), -SEQ_E_INDEX);
	FRESH();
	e[1].copy_first = UINT32_MAX;
	e[1].copy_n = 2;
	cr_assert_eq(seq_view_init(&v, copy, t.len), -SEQ_E_INDEX);
	FRESH();
	e[2].egress = SEQ_MAX_PORTS;
	cr_assert_eq(seq_view_init(&v, copy, t.len), -SEQ_E_VALUE);
	cr_assert_null(v.hdr, "a refused view is left empty");
	FRESH();
	/* a cycle is not refused up front, but a lookup walking it ends */
	for (uint32_t i = 0; i < h->sec[SEQ_SEC_ENTRIES].count; i++)
		e[i].next = i;
	cr_assert_eq(seq_view_init(&v, copy, t.len), 0);
	uint8_t x[16] = { 0 };
	enum seq_miss miss;
	uint32_t *bk = (uint32_t *)(copy + h->sec[SEQ_SEC_BUCKETS].off);
	for (uint32_t i = 0; i < h->sec[SEQ_SEC_BUCKETS].count; i++)
		bk[i] = 0;
	cr_assert_null(seq_lookup(&v, 0, SEQ_DIR_FWD, x, IPPROTO_TCP, 1, stranger, &miss));
#undef FRESH
	free(copy);
	free(t.block);
}

/* ---- the pipeline ---------------------------------------------------------- */

struct frame {
	uint8_t b[256];
	uint32_t len;
};

/* Ethernet / IPv4 / TCP (SYN) with correct checksums. */
static void tcp4(struct frame *f, const uint8_t smac[6], const char *src, const char *dst,
		 uint16_t sport, uint16_t dport)
{
	uint8_t *ip = f->b + 14, *tcp = ip + 20;
	uint32_t s, d;
	struct pkt_view v;

	memset(f, 0, sizeof(*f));
	memcpy(f->b, (const uint8_t[6]){ 2, 0, 0, 0, 0, 0x11 }, 6);
	memcpy(f->b + 6, smac, 6);
	f->b[12] = 0x08;
	ip[0] = 0x45;
	ip[3] = 40 + 4;
	ip[8] = 64;
	ip[9] = IPPROTO_TCP;
	inet_pton(AF_INET, src, &s);
	inet_pton(AF_INET, dst, &d);
	memcpy(ip + 12, &s, 4);
	memcpy(ip + 16, &d, 4);
	uint32_t sum = 0;
	for (int i = 0; i < 20; i += 2)
		sum += (uint32_t)(ip[i] << 8 | ip[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	ip[10] = (uint8_t)(~sum >> 8);
	ip[11] = (uint8_t)~sum;
	tcp[0] = (uint8_t)(sport >> 8);
	tcp[1] = (uint8_t)sport;
	tcp[2] = (uint8_t)(dport >> 8);
	tcp[3] = (uint8_t)dport;
	tcp[12] = 0x50;
	tcp[13] = 0x02;
	memcpy(tcp + 20, "ping", 4);
	f->len = 14 + 44;
	cr_assert_eq(pkt_parse(f->b, f->len, &v), 0);
	int c = pkt_l4_csum_compute(&v, f->b);
	cr_assert_geq(c, 0);
	uint16_t cs = (uint16_t)c;
	memcpy(tcp + 16, &cs, 2);
}

struct rig {
	struct table t;
	struct pe_dp dp;
	struct pe_worker w;
	struct pktio_pkt out[PE_OUT_MAX(4)];
	unsigned nout;
};

static void rig_up(struct rig *r, const char *yaml)
{
	memset(r, 0, sizeof(*r));
	build_table(yaml, &r->t);
	r->dp.nports = 2;
	memcpy(r->dp.port_mac[0], (const uint8_t[6]){ 2, 0, 0, 0, 0, 1 }, 6);
	memcpy(r->dp.port_mac[1], (const uint8_t[6]){ 2, 0, 0, 0, 0, 2 }, 6);
	r->dp.copy_room = 4096;
	cr_assert_eq(pe_worker_init(&r->w, &r->dp, 0), 0);
}

static void rig_down(struct rig *r)
{
	pe_worker_fini(&r->w);
	free(r->t.block);
}

static unsigned run1(struct rig *r, struct frame *f, unsigned port)
{
	struct pktio_pkt p = { .data = f->b, .len = f->len, .port = (uint16_t)port,
			       .room = sizeof(f->b) };

	r->nout = pe_worker_process(&r->w, &r->t.v, &p, 1, r->out);
	return r->nout;
}

/* The output's checksums are right and its addresses/ports are these. */
static void check_out(const struct pktio_pkt *o, const char *src, const char *dst,
		      uint16_t sport, uint16_t dport)
{
	struct pkt_view v;
	struct flow_key k, want;

	cr_assert_eq(pkt_parse(o->data, o->len, &v), 0);
	cr_assert(pkt_ipv4_csum_ok(&v, o->data), "IPv4 header checksum");
	cr_assert_eq(pkt_l4_csum_verify(&v, o->data), 0, "TCP checksum");
	cr_assert_eq(pkt_key(&v, o->data, &k), 0);
	key_init(&want);
	addr4(want.saddr, src);
	addr4(want.daddr, dst);
	want.sport = htons(sport);
	want.dport = htons(dport);
	want.proto = IPPROTO_TCP;
	cr_assert(key_equal(&k, &want), "addresses or ports differ");
}

Test(pipeline, loopback_chain_with_copy_both_ways)
{
	struct rig r;
	struct frame f;

	rig_up(&r, base_yaml);
	/* client -> engine: to fw, unchanged but for the MACs */
	tcp4(&f, client_gw, "10.1.0.5", "10.9.0.1", 40000, 80);
	cr_assert_eq(run1(&r, &f, 0), 1);
	cr_assert_eq(r.out[0].port, 1);
	cr_assert_arr_eq(r.out[0].data, fw_mac, 6);
	cr_assert_arr_eq(r.out[0].data + 6, r.dp.port_mac[1], 6);
	check_out(&r.out[0], "10.1.0.5", "10.9.0.1", 40000, 80);
	/* fw -> engine: to app, and a copy to the IDS first */
	tcp4(&f, fw_mac, "10.1.0.5", "10.9.0.1", 40000, 80);
	cr_assert_eq(run1(&r, &f, 1), 2);
	cr_assert_arr_eq(r.out[0].data, ids_mac, 6);
	check_out(&r.out[0], "10.1.0.5", "10.9.0.1", 40000, 80);
	cr_assert_arr_eq(r.out[1].data, app_mac, 6);
	check_out(&r.out[1], "10.1.0.5", "10.9.0.1", 40000, 80);
	/* app's reply: copy to the IDS, then to fw; fw's: to the router */
	tcp4(&f, app_mac, "10.9.0.1", "10.1.0.5", 80, 40000);
	cr_assert_eq(run1(&r, &f, 1), 2);
	cr_assert_arr_eq(r.out[0].data, ids_mac, 6);
	cr_assert_arr_eq(r.out[1].data, fw_mac, 6);
	tcp4(&f, fw_mac, "10.9.0.1", "10.1.0.5", 80, 40000);
	cr_assert_eq(run1(&r, &f, 1), 1);
	cr_assert_eq(r.out[0].port, 0);
	cr_assert_arr_eq(r.out[0].data, gw_mac, 6);
	cr_assert_eq(pe_worker_ctr(&r.w, PE_C_FORWARD), 2);
	cr_assert_eq(pe_worker_ctr(&r.w, PE_C_REPLY), 2);
	cr_assert_eq(pe_worker_ctr(&r.w, PE_C_COPIES), 2);
	rig_down(&r);
}

Test(pipeline, nat_and_port_translation_and_back)
{
	struct rig r;
	struct frame f;

	rig_up(&r, base_yaml);
	tcp4(&f, client_gw, "10.1.0.5", "10.9.0.2", 40000, 80);
	cr_assert_eq(run1(&r, &f, 0), 1);
	cr_assert_arr_eq(r.out[0].data, nat_mac, 6);
	check_out(&r.out[0], "10.1.0.5", "10.2.0.20", 40000, 8080);
	cr_assert_eq(r.out[0].data[15] >> 2, 46, "DSCP set");
	tcp4(&f, nat_mac, "10.2.0.20", "10.1.0.5", 8080, 40000);
	cr_assert_eq(run1(&r, &f, 1), 1);
	cr_assert_arr_eq(r.out[0].data, gw_mac, 6);
	check_out(&r.out[0], "10.9.0.2", "10.1.0.5", 80, 40000);
	rig_down(&r);
}

Test(pipeline, drops_are_counted_by_reason)
{
	struct rig r;
	struct frame f;

	rig_up(&r, base_yaml);
	tcp4(&f, client_gw, "10.1.0.66", "10.9.0.2", 40000, 80);
	cr_assert_eq(run1(&r, &f, 0), 0);
	cr_assert_eq(pe_worker_ctr(&r.w, PE_C_ACL_DENY), 1);
	tcp4(&f, stranger, "10.1.0.5", "10.9.0.1", 40000, 80);
	cr_assert_eq(run1(&r, &f, 1), 0);
	cr_assert_eq(pe_worker_ctr(&r.w, PE_C_SRC_MAC), 1);
	tcp4(&f, client_gw, "10.1.0.5", "10.9.0.7", 40000, 80);
	cr_assert_eq(run1(&r, &f, 0), 0);
	cr_assert_eq(pe_worker_ctr(&r.w, PE_C_NO_SERVICE), 1);
	tcp4(&f, client_gw, "10.1.0.5", "10.9.0.1", 40000, 80);
	f.b[14] = 0x44; /* IHL 4 */
	cr_assert_eq(run1(&r, &f, 0), 0);
	cr_assert_eq(pe_worker_ctr(&r.w, PE_C_MALFORMED), 1);
	f.b[12] = 0x08;
	f.b[13] = 0x06; /* ARP */
	cr_assert_eq(run1(&r, &f, 0), 0);
	cr_assert_eq(pe_worker_ctr(&r.w, PE_C_NOT_IP), 1);
	struct pktio_pkt p = { .data = f.b, .len = f.len };
	tcp4(&f, client_gw, "10.1.0.5", "10.9.0.1", 40000, 80);
	cr_assert_eq(pe_worker_process(&r.w, NULL, &p, 1, r.out), 0);
	cr_assert_eq(pe_worker_ctr(&r.w, PE_C_NO_TABLE), 1);
	cr_assert_eq(pe_worker_ctr(&r.w, PE_C_FORWARD), 0);
	rig_down(&r);
}

Test(pipeline, a_failed_device_drops_its_steps)
{
	struct rig r;
	struct frame f;

	rig_up(&r, edit("interface: dev}\n  - {name: ids", "interface: dev, down: true}\n"
			"  - {name: ids"));
	tcp4(&f, client_gw, "10.1.0.5", "10.9.0.1", 40000, 80);
	cr_assert_eq(run1(&r, &f, 0), 0);
	cr_assert_eq(pe_worker_ctr(&r.w, PE_C_DEVICE_DOWN), 1);
	rig_down(&r);
}

Test(pipeline, copies_beyond_the_room_are_shed_not_the_packet)
{
	struct rig r;
	struct frame f;

	rig_up(&r, base_yaml);
	r.dp.copy_room = 16; /* smaller than any frame */
	tcp4(&f, fw_mac, "10.1.0.5", "10.9.0.1", 40000, 80);
	cr_assert_eq(run1(&r, &f, 1), 1);
	cr_assert_arr_eq(r.out[0].data, app_mac, 6);
	cr_assert_eq(pe_worker_ctr(&r.w, PE_C_COPY_SHED), 1);
	rig_down(&r);
}

Test(config, dump_load_dump_is_the_identity)
{
	struct cfg_diag diag = { 0 };
	struct pe_config *c = load(base_yaml, &diag), *c2;
	char *text = NULL, *text2 = NULL;
	size_t len = 0, len2 = 0;
	FILE *f;

	cr_assert_not_null(c);
	f = open_memstream(&text, &len);
	cr_assert_eq(cfg_dump(&pe_config_schema, c, f), 0);
	fclose(f);
	c2 = load(text, &diag);
	cr_assert_not_null(c2, "the dump does not load: %s\n%s", diag.n ? diag.msg[0] : "", text);
	cr_assert_eq(memcmp(c, c2, sizeof(*c)), 0, "dump -> load changed the definitions");
	f = open_memstream(&text2, &len2);
	cr_assert_eq(cfg_dump(&pe_config_schema, c2, f), 0);
	fclose(f);
	cr_assert_str_eq(text, text2);
	free(text);
	free(text2);
	free(c);
	free(c2);
}

Test(sequence, published_in_a_segment_a_reader_attaches_to)
{
	struct shm_snap_geom g = { .area_size = 1u << 20, .value_kind = SEQ_SNAP_KIND,
				   .value_version = SEQ_SNAP_VERSION, .rcu_slots = 8 };
	struct shm_perm perm = { .mode = 0600, .gid = (gid_t)-1 };
	struct shm_snap *w, *r;
	struct shm_rcu_reader rd;
	struct table t;
	char inst[32];
	size_t len;
	uint64_t gen;

	snprintf(inst, sizeof(inst), "engut%d", getpid());
	build_table(base_yaml, &t);
	cr_assert_eq(shm_snap_open_writer(inst, "sequence", &g, &perm, &w), 0);
	void *p = shm_snap_alloc(w, t.len);
	cr_assert_not_null(p);
	memcpy(p, t.block, t.len);
	cr_assert_eq(shm_snap_publish(w, p, t.len), 0);
	/* another attach, as loomctl would: an unknown layout is refused */
	cr_assert_lt(shm_snap_open_reader(inst, "sequence", SEQ_SNAP_KIND, SEQ_SNAP_VERSION + 1,
					  &r), 0);
	cr_assert_eq(shm_snap_open_reader(inst, "sequence", SEQ_SNAP_KIND, SEQ_SNAP_VERSION,
					  &r), 0);
	cr_assert_eq(shm_snap_reader_register(r, &rd), 0);
	shm_rcu_read_lock(&rd);
	const void *q = shm_snap_current(r, &len, &gen);
	struct seq_view v;
	cr_assert_not_null(q);
	cr_assert_eq(seq_view_init(&v, q, len), 0);
	cr_assert_eq(v.n_entries, t.v.n_entries);
	cr_assert_str_eq(v.devices[0].name, "fw");
	shm_rcu_read_unlock(&rd);
	shm_rcu_unregister(&rd);
	shm_snap_close(r);
	shm_snap_close(w);
	shm_seg_unlink(inst, "sequence");
	free(t.block);
}
