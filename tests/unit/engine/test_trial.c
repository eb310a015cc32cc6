// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Trials' pure parts: the SYN and RST frames (checksums summed here, not by
 * the library that wrote them), the report and the reason of a silent
 * trial from recorded steps, and the workers' trace through
 * pe_worker_process on hand-made frames.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "common/key.h"
#include "common/pkt.h"
#include "pe_config.h"
#include "pe_dp.h"
#include "pe_trial.h"

#include "engine_defs.h"

static uint32_t v4(const char *s)
{
	uint32_t a;

	cr_assert_eq(inet_pton(AF_INET, s, &a), 1);
	return a;
}

/* RFC 1071, written out: the sum of 16-bit words of a and b, folded. */
static uint16_t sum16(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	uint32_t s = 0;

	for (size_t i = 0; i < alen; i += 2)
		s += (uint32_t)a[i] << 8 | a[i + 1];
	for (size_t i = 0; i < blen; i += 2)
		s += (uint32_t)b[i] << 8 | (i + 1 < blen ? b[i + 1] : 0);
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

static const uint8_t gw[6] = { 2, 0, 0, 0, 0, 0xfe };
static const uint8_t cli_mac[6] = { 2, 0, 0, 0, 0, 1 };

static struct pe_trial_seg seg(bool rst)
{
	struct pe_trial_seg s = { .saddr = v4("10.1.0.1"), .daddr = v4("10.9.0.1"),
				  .sport = 40123, .dport = 80, .seq = 0xfffffffeu, .rst = rst };

	memcpy(s.dst_mac, cli_mac, 6);
	memcpy(s.src_mac, gw, 6);
	return s;
}

static void check_frame(const uint8_t *b, size_t len, bool rst)
{
	const uint8_t *ip = b + 14, *tcp = ip + 20;
	uint8_t pseudo[12];
	size_t tcp_len = len - 34;
	struct pkt_view v;

	cr_assert_eq(len, rst ? 54u : PE_TRIAL_LEN);
	cr_assert_arr_eq(b, cli_mac, 6);
	cr_assert_arr_eq(b + 6, gw, 6);
	cr_assert_eq(b[12] << 8 | b[13], 0x0800);
	cr_assert_eq(ip[0], 0x45);
	cr_assert_eq((size_t)(ip[2] << 8 | ip[3]), len - 14);
	cr_assert_eq(ip[9], IPPROTO_TCP);
	cr_assert_eq(sum16(ip, 20, NULL, 0), 0xffff, "IPv4 header checksum");
	memcpy(pseudo, ip + 12, 8);
	pseudo[8] = 0;
	pseudo[9] = IPPROTO_TCP;
	pseudo[10] = 0;
	pseudo[11] = (uint8_t)tcp_len;
	cr_assert_eq(sum16(pseudo, 12, tcp, tcp_len), 0xffff, "TCP checksum");
	cr_assert_eq(tcp[0] << 8 | tcp[1], 40123);
	cr_assert_eq(tcp[2] << 8 | tcp[3], 80);
	cr_assert_eq((uint32_t)tcp[4] << 24 | (uint32_t)tcp[5] << 16 | tcp[6] << 8 | tcp[7],
		     rst ? 0xffffffffu : 0xfffffffeu);
	cr_assert_eq(tcp[13], rst ? 0x04 : 0x02, "flags");
	cr_assert_eq(tcp[12] >> 4, tcp_len / 4, "data offset");
	if (!rst) {
		cr_assert_eq(tcp[20], 2, "the MSS option");
		cr_assert_eq(tcp[21], 4);
		cr_assert_eq(tcp[22] << 8 | tcp[23], PE_TRIAL_MSS);
	}
	/* and the project's parser agrees */
	cr_assert_eq(pkt_parse(b, (uint32_t)len, &v), 0);
	cr_assert(pkt_ipv4_csum_ok(&v, b));
	cr_assert_eq(pkt_l4_csum_verify(&v, b), 0);
	cr_assert_eq(v.tcp_flags, rst ? 0x04 : 0x02);
}

Test(trial, syn_and_rst_frames_have_valid_checksums)
{
	uint8_t b[PE_TRIAL_LEN + 8];
	struct pe_trial_seg s = seg(false);

	check_frame(b, pe_trial_frame(b, &s), false);
	s = seg(true);
	s.seq += 1; /* the RST follows the SYN's sequence number */
	check_frame(b, pe_trial_frame(b, &s), true);
}

/* ---- the report -------------------------------------------------------------- */

/* fw is snapshot device 0, web1 device 2 (ids, device 1, only gets copies) */
static const struct pe_trial_chain chain = { .name = { "fw", "web1" }, .device = { 0, 2 },
					     .n = 2 };

static struct pe_trial_step step(uint32_t device, uint8_t dir, bool route, uint64_t us)
{
	return (struct pe_trial_step){ .ns = 1000000 + us * 1000, .device = device, .dir = dir,
				       .route = route, .tcp_flags = dir ? 0x12 : 0x02 };
}

static json_t *report(const struct pe_trial_step *s, unsigned n, bool ok)
{
	struct pe_trial_info info = { .service = "shop", .port = 80, .client = v4("10.1.0.1"),
				      .client_port = 40123, .ok = ok, .rtt_us = ok ? 700 : -1,
				      .reason = ok ? NULL : "why", .start_ns = 1000000 };

	key_addr_from_v4(info.addr, v4("10.9.0.1"));
	json_t *r = pe_trial_report(&info, &chain, s, n);
	cr_assert_not_null(r);
	return r;
}

static void expect_hop(json_t *r, size_t i, const char *dir, const char *from, const char *to,
		       json_int_t us)
{
	json_t *h = json_array_get(json_object_get(r, "hops"), i);

	cr_assert_not_null(h, "hop %zu", i);
	cr_assert_str_eq(json_string_value(json_object_get(h, "direction")), dir);
	cr_assert_str_eq(json_string_value(json_object_get(h, "from")), from);
	cr_assert_str_eq(json_string_value(json_object_get(h, "to")), to);
	cr_assert_eq(json_integer_value(json_object_get(h, "us")), us);
}

static void expect_device(json_t *r, size_t i, const char *name, bool fwd, bool reply)
{
	json_t *d = json_array_get(json_object_get(r, "devices"), i);

	cr_assert_str_eq(json_string_value(json_object_get(d, "name")), name);
	cr_assert_eq(json_is_true(json_object_get(d, "forward")), fwd, "%s forward", name);
	cr_assert_eq(json_is_true(json_object_get(d, "reply")), reply, "%s reply", name);
}

Test(trial, report_of_a_full_round_trip)
{
	/* the first SYN lost behind fw, the resent one answered: listed once */
	struct pe_trial_step s[] = {
		step(0, SEQ_DIR_FWD, false, 0), step(0, SEQ_DIR_FWD, false, 300000),
		step(2, SEQ_DIR_FWD, false, 300130), step(2, SEQ_DIR_REPLY, false, 300420),
		step(0, SEQ_DIR_REPLY, true, 300700),
	};
	json_t *r = report(s, 5, true);
	char *text = json_dumps(r, JSON_COMPACT);

	cr_assert_str_eq(text, "{\"ok\":true,\"service\":\"shop\",\"address\":\"10.9.0.1\","
			 "\"port\":80,\"protocol\":\"tcp\",\"client\":\"10.1.0.1\","
			 "\"client-port\":40123,\"rtt-us\":700,\"hops\":["
			 "{\"direction\":\"forward\",\"from\":\"client\",\"to\":\"fw\",\"us\":0},"
			 "{\"direction\":\"forward\",\"from\":\"fw\",\"to\":\"web1\",\"us\":300130},"
			 "{\"direction\":\"reply\",\"from\":\"web1\",\"to\":\"fw\",\"us\":300420},"
			 "{\"direction\":\"reply\",\"from\":\"fw\",\"to\":\"client\",\"us\":300700}],"
			 "\"devices\":[{\"name\":\"fw\",\"forward\":true,\"reply\":true},"
			 "{\"name\":\"web1\",\"forward\":true,\"reply\":true}]}");
	free(text);
	json_decref(r);
}

Test(trial, report_of_a_reply_lost_in_the_firewall)
{
	struct pe_trial_step s[] = {
		step(0, SEQ_DIR_FWD, false, 0), step(2, SEQ_DIR_FWD, false, 100),
		step(2, SEQ_DIR_REPLY, false, 300), step(1, SEQ_DIR_FWD, false, 400),
	};
	json_t *r = report(s, 4, false);

	cr_assert_eq(json_array_size(json_object_get(r, "hops")), 3, "a stranger is no hop");
	expect_hop(r, 2, "reply", "web1", "fw", 300);
	expect_device(r, 0, "fw", true, false);
	expect_device(r, 1, "web1", true, true);
	cr_assert_str_eq(json_string_value(json_object_get(r, "reason")), "why");
	cr_assert(json_is_null(json_object_get(r, "rtt-us")));
	json_decref(r);
}

Test(trial, a_silent_trial_names_the_device_that_kept_it)
{
	struct pe_trial_step s[] = {
		step(0, SEQ_DIR_FWD, false, 0), step(2, SEQ_DIR_FWD, false, 100),
		step(2, SEQ_DIR_REPLY, false, 300), step(0, SEQ_DIR_FWD, false, 300000),
	};
	char why[160];

	pe_trial_why_silent(&chain, s, 1, 1000, why, sizeof(why));
	cr_assert_str_eq(why, "no answer within 1000 ms: the SYN went to fw and nothing came "
			 "back from it");
	pe_trial_why_silent(&chain, s, 2, 1000, why, sizeof(why));
	cr_assert_str_eq(why, "no answer within 1000 ms: the SYN went to web1 and nothing came "
			 "back from it");
	/* a resent SYN does not hide how far the first one got */
	pe_trial_why_silent(&chain, s, 4, 500, why, sizeof(why));
	cr_assert_str_eq(why, "no answer within 500 ms: the SYN-ACK went to fw and nothing came "
			 "back from it");
	pe_trial_why_silent(&chain, s, 0, 1000, why, sizeof(why));
	cr_assert_str_eq(why, "no answer within 1000 ms: the SYN was not steered");

	json_t *r = report(s, 1, false);
	expect_hop(r, 0, "forward", "client", "fw", 0);
	expect_device(r, 0, "fw", false, false);
	expect_device(r, 1, "web1", false, false);
	json_decref(r);
}

/* ---- the workers' trace ------------------------------------------------------- */

static const uint8_t fw_mac[6] = { 2, 0, 0, 0, 0x0f, 1 };
static const uint8_t app_mac[6] = { 2, 0, 0, 0, 0x0a, 1 };

struct rig {
	void *block;
	struct seq_view v;
	struct pe_dp dp;
	struct pe_worker w;
	struct pktio_pkt out[PE_OUT_MAX(1)];
	uint8_t buf[128];
};

static void rig_up(struct rig *r)
{
	struct pe_config *c = calloc(1, sizeof(*c));
	struct cfg_diag diag = { 0 };
	int rc;

	memset(r, 0, sizeof(*r));
	cr_assert_not_null(c);
	cr_assert_eq(cfg_load_buffer("t.yaml", base_yaml, strlen(base_yaml), &pe_config_schema, c,
				     &diag), 0, "%s", diag.n ? diag.msg[0] : "");
	struct seq_builder *b = pe_defs_build(&c->defs, NULL, NULL, &rc);
	cr_assert_not_null(b);
	size_t len = seq_builder_size(b);
	r->block = aligned_alloc(64, (len + 63) & ~(size_t)63);
	cr_assert_eq(seq_builder_write(b, r->block, len, 1, 0), 0);
	cr_assert_eq(seq_view_init(&r->v, r->block, len), 0);
	seq_builder_free(b);
	free(c);
	r->dp.nports = 2;
	r->dp.copy_room = 4096;
	cr_assert_eq(pe_worker_init_private(&r->w, &r->dp), 0);
}

static void rig_down(struct rig *r)
{
	pe_worker_fini(&r->w);
	free(r->block);
}

/* One frame of flow 10.1.0.5:sport <-> 10.9.0.1:80 from smac into port. */
static unsigned run1(struct rig *r, const uint8_t smac[6], bool reply, uint16_t sport,
		     unsigned port)
{
	struct pe_trial_seg s = { .saddr = v4(reply ? "10.9.0.1" : "10.1.0.5"),
				  .daddr = v4(reply ? "10.1.0.5" : "10.9.0.1"),
				  .sport = reply ? 80 : sport, .dport = reply ? sport : 80 };

	memcpy(s.src_mac, smac, 6);
	struct pktio_pkt p = { .data = r->buf, .port = (uint16_t)port, .room = sizeof(r->buf) };
	p.len = (uint32_t)pe_trial_frame(r->buf, &s);
	return pe_worker_process(&r->w, &r->v, &p, 1, r->out);
}

static void arm(struct pe_dp *dp, const char *client, uint16_t port)
{
	atomic_store(&dp->trial.addr, v4(client));
	atomic_store(&dp->trial.port, htons(port));
	atomic_store(&dp->trial.active, true);
}

Test(trial, workers_record_the_flow_and_take_its_answer)
{
	struct rig r;
	struct pe_trial_step s[PE_TRIAL_EVENTS];

	rig_up(&r);
	arm(&r.dp, "10.1.0.5", 40000);
	cr_assert_eq(run1(&r, gw, false, 40000, 0), 1, "client -> fw");
	cr_assert_eq(run1(&r, fw_mac, false, 40000, 1), 2, "fw -> app, and the IDS copy");
	cr_assert_eq(run1(&r, app_mac, true, 40000, 1), 2, "app -> fw, and the IDS copy");
	cr_assert_eq(run1(&r, gw, false, 40001, 0), 1, "another flow: not recorded");
	cr_assert_eq(atomic_load(&r.dp.trial.done_ns), 0);
	cr_assert_eq(run1(&r, fw_mac, true, 40000, 1), 0, "the answer is taken, not sent");
	cr_assert_eq(pe_worker_ctr(&r.w, PE_C_TRIAL), 1);
	cr_assert_neq(atomic_load(&r.dp.trial.done_ns), 0);

	unsigned n = pe_trial_read(&r.dp.trial, s, PE_TRIAL_EVENTS);
	cr_assert_eq(n, 4);
	/* devices by snapshot index: fw 0, app 2 */
	const uint32_t dev[] = { 0, 2, 2, 0 };
	const uint8_t dir[] = { SEQ_DIR_FWD, SEQ_DIR_FWD, SEQ_DIR_REPLY, SEQ_DIR_REPLY };
	const uint8_t *mac[] = { gw, fw_mac, app_mac, fw_mac };
	for (unsigned i = 0; i < n; i++) {
		cr_assert_eq(s[i].device, dev[i], "step %u", i);
		cr_assert_eq(s[i].dir, dir[i], "step %u", i);
		cr_assert_eq(s[i].route, i == 3, "step %u", i);
		cr_assert_arr_eq(s[i].mac, mac[i], 6, "step %u", i);
		cr_assert(i == 0 || s[i].ns >= s[i - 1].ns);
	}

	/* no trial: the same reply goes to the client side's router */
	atomic_store(&r.dp.trial.active, false);
	cr_assert_eq(run1(&r, fw_mac, true, 40000, 1), 1);
	cr_assert_arr_eq(r.out[0].data, gw, 6);
	cr_assert_eq(pe_worker_ctr(&r.w, PE_C_TRIAL), 1);
	cr_assert_eq(atomic_load(&r.dp.trial.n), 4, "nothing recorded while off");
	rig_down(&r);
}

Test(trial, a_refused_first_step_is_counted_on_the_private_lane)
{
	struct rig r;

	rig_up(&r);
	arm(&r.dp, "10.1.0.66", 40000);
	/* nat's ACL denies 10.1.0.66 */
	struct pe_trial_seg s = { .saddr = v4("10.1.0.66"), .daddr = v4("10.9.0.2"),
				  .sport = 40000, .dport = 80 };
	memcpy(s.src_mac, gw, 6);
	struct pktio_pkt p = { .data = r.buf, .room = sizeof(r.buf) };
	p.len = (uint32_t)pe_trial_frame(r.buf, &s);
	cr_assert_eq(pe_worker_process(&r.w, &r.v, &p, 1, r.out), 0);
	cr_assert_eq(pe_worker_ctr(&r.w, PE_C_ACL_DENY), 1);
	cr_assert_eq(atomic_load(&r.dp.trial.n), 0, "a refused packet is no step");
	rig_down(&r);
}
