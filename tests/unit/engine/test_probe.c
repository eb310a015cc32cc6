// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Device probes and alternates: the probe frame, the health state machine
 * with its hysteresis, and chains built with an alternate in place of a
 * failed device.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "common/key.h"
#include "common/pkt_csum.h"
#include "common/sequence.h"
#include "engine_defs.h"
#include "pe_config.h"
#include "pe_probe.h"

static const uint8_t fw_mac[6] = { 2, 0, 0, 0, 0x0f, 1 };
static const uint8_t fw2_mac[6] = { 2, 0, 0, 0, 0x0f, 2 };
static const uint8_t eng_mac[6] = { 2, 0, 0, 0, 0, 2 };

static void probe(uint8_t *buf)
{
	struct pe_probe_id id = { .token = 0x1122334455667788ULL, .device = 3, .seq = 42 };

	cr_assert_eq(pe_probe_frame(buf, fw_mac, eng_mac, htonl(0x0a030001), htonl(0x0a040001),
				    &id), PE_PROBE_LEN);
}

Test(probe, frame_is_a_valid_udp_datagram_that_parses_back)
{
	uint8_t buf[PE_PROBE_LEN], src[6];
	struct pe_probe_id id;

	probe(buf);
	cr_assert_arr_eq(buf, fw_mac, 6);
	cr_assert_eq(buf[12], 0x08);
	cr_assert_eq(buf[13], 0x00);
	/* the IPv4 header sums to 0xffff: a router forwards it */
	cr_assert_eq(pkt_csum_fold(pkt_csum_add(0, buf + 14, 20)), 0xffff);
	cr_assert_eq(buf[14 + 9], IPPROTO_UDP);
	cr_assert_eq(buf[36] << 8 | buf[37], PE_PROBE_PORT);
	cr_assert_eq(buf[16] << 8 | buf[17], PE_PROBE_LEN - 14);
	cr_assert(pe_probe_parse(buf, sizeof(buf), &id, src));
	cr_assert_eq(id.token, 0x1122334455667788ULL);
	cr_assert_eq(id.device, 3);
	cr_assert_eq(id.seq, 42);
	cr_assert_arr_eq(src, eng_mac, 6);
}

Test(probe, look_alikes_are_refused)
{
	uint8_t buf[PE_PROBE_LEN], src[6];
	struct pe_probe_id id;
	static const struct { unsigned off; uint8_t val; } bad[] = {
		{ 12, 0x86 },          /* not IPv4 */
		{ 14, 0x46 },          /* IP options */
		{ 14 + 9, 6 },         /* TCP */
		{ 14 + 7, 1 },         /* a fragment */
		{ 17, 20 },            /* total length too short */
		{ 34, 0 },             /* another source port */
		{ 42, 'X' },           /* bad magic */
	};

	for (unsigned i = 0; i < LOOM_ARRAY_SIZE(bad); i++) {
		probe(buf);
		buf[bad[i].off] = bad[i].val;
		cr_assert_not(pe_probe_parse(buf, sizeof(buf), &id, src), "case %u", i);
	}
	probe(buf);
	cr_assert_not(pe_probe_parse(buf, PE_PROBE_LEN - 1, &id, src), "short frame");
}

Test(health, fail_in_a_row_marks_down_recover_in_a_row_marks_up)
{
	struct pe_health h = { 0 };
	uint32_t seq;
	uint64_t t = 1000;

	/* answered rounds keep it up; a lone miss between answers does not count */
	for (unsigned i = 0; i < 3; i++) {
		cr_assert_not(pe_health_round(&h, t, 3, &seq));
		cr_assert_not(pe_health_answer(&h, seq, t + 50, 1, 5));
	}
	cr_assert_eq(h.rtt_ns, 50);
	cr_assert_not(pe_health_round(&h, t, 3, &seq)); /* this one is lost */
	cr_assert_not(pe_health_round(&h, t, 3, &seq));
	cr_assert_not(pe_health_answer(&h, seq, t, 1, 5));
	cr_assert_eq(h.miss_run, 0);
	/* three unanswered: the third new round finds them and marks it down */
	cr_assert_not(pe_health_round(&h, t, 3, &seq));
	cr_assert_not(pe_health_round(&h, t, 3, &seq));
	cr_assert_not(pe_health_round(&h, t, 3, &seq));
	cr_assert(pe_health_round(&h, t, 3, &seq));
	cr_assert_eq(h.state, PE_HEALTH_DOWN);
	cr_assert_not(pe_health_round(&h, t, 3, &seq), "down is reported once");
	/* a late answer to an older round is ignored */
	cr_assert_not(pe_health_answer(&h, seq - 1, t, 1, 5));
	cr_assert_eq(h.ok_run, 0);
	/* four answered, a miss: the run starts again; five in a row bring it back */
	for (unsigned i = 0; i < 4; i++) {
		cr_assert_not(pe_health_answer(&h, seq, t, 1, 5));
		pe_health_round(&h, t, 3, &seq);
	}
	pe_health_round(&h, t, 3, &seq);
	cr_assert_eq(h.ok_run, 0);
	for (unsigned i = 0; i < 4; i++) {
		cr_assert_not(pe_health_answer(&h, seq, t, 1, 5));
		pe_health_round(&h, t, 3, &seq);
	}
	cr_assert(pe_health_answer(&h, seq, t, 1, 5));
	cr_assert_eq(h.state, PE_HEALTH_UP);
	cr_assert_eq(h.changes, 2);
}

/* ---- alternates ------------------------------------------------------------- */

static char yaml[8192];

/* base_yaml with a second firewall, fw's alternate; fw (and fw2) down as asked. */
static struct pe_config *load_alt(const char *fw_extra, const char *fw2_extra)
{
	const char *at = strstr(base_yaml, "interface: dev}\n  - {name: ids");
	struct pe_config *c = calloc(1, sizeof(*c));
	struct cfg_diag diag = { 0 };

	cr_assert_not_null(at);
	snprintf(yaml, sizeof(yaml), "%.*sinterface: dev, alternate: fw2%s}\n"
		 "  - {name: fw2, function: firewall, mac: \"02:00:00:00:0f:02\", "
		 "interface: dev%s}\n%s", (int)(at - base_yaml), base_yaml, fw_extra, fw2_extra,
		 at + strlen("interface: dev}\n"));
	cr_assert_eq(cfg_load_buffer("e.yaml", yaml, strlen(yaml), &pe_config_schema, c, &diag),
		     0, "%s", diag.n ? diag.msg[0] : "");
	return c;
}

/* The MAC the client's packets to 10.9.0.1:80 are sent to. */
static void first_hop(const struct pe_defs *d, uint8_t mac[6], uint32_t *device)
{
	int rc;
	struct seq_builder *b = pe_defs_build(d, NULL, NULL, &rc);
	struct seq_view v;
	uint8_t w1[16];
	enum seq_miss miss;

	cr_assert_not_null(b, "build: %d", rc);
	size_t len = seq_builder_size(b);
	void *block = aligned_alloc(64, (len + 63) & ~(size_t)63);
	cr_assert_eq(seq_builder_write(b, block, len, 1, 0), 0);
	cr_assert_eq(seq_view_init(&v, block, len), 0);
	key_addr_from_v4(w1, htonl(0x0a090001));
	const struct seq_entry *e = seq_lookup(&v, 0, SEQ_DIR_FWD, w1, IPPROTO_TCP, 80, eng_mac,
					       &miss);
	cr_assert_not_null(e);
	memcpy(mac, e->dst_mac, 6);
	*device = e->device;
	free(block);
	seq_builder_free(b);
}

Test(alternate, takes_the_failed_devices_place_and_gives_it_back)
{
	struct pe_config *c = load_alt("", "");
	uint8_t mac[6];
	uint32_t dev;

	cr_assert_eq(pe_defs_in_place(&c->defs, 0), 0);
	first_hop(&c->defs, mac, &dev);
	cr_assert_arr_eq(mac, fw_mac, 6);
	c->defs.devices[0].down = true;
	cr_assert_eq(pe_defs_in_place(&c->defs, 0), 1);
	first_hop(&c->defs, mac, &dev);
	cr_assert_arr_eq(mac, fw2_mac, 6, "the chain did not switch to fw2");
	cr_assert_eq(dev, 1, "fw2's traffic is counted for fw2");
	c->defs.devices[0].down = false;
	first_hop(&c->defs, mac, &dev);
	cr_assert_arr_eq(mac, fw_mac, 6);
	free(c);
}

Test(alternate, none_up_keeps_the_device_whose_steps_then_drop)
{
	struct pe_config *c = load_alt(", down: true", ", down: true, alternate: fw");

	/* fw -> fw2 -> fw: a loop of failed devices ends, fw stays */
	cr_assert_eq(pe_defs_in_place(&c->defs, 0), 0);
	free(c);
}
