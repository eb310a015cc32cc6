// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * loomctl against real tables: the agent's affinity code (fwd_aff) fills
 * them from updates built with the codec, as a manager would send them,
 * a data-path lane counts packets, and the real loomctl binary is run and
 * its table and JSON output checked field by field.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/affinity.h"
#include "common/msg.h"
#include "ctl_run.h"
#include "fwd_aff.h"

static char inst[32];
static struct fwd_aff *aff;

/* ---- the tables ------------------------------------------------------------------- */

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void v4(uint8_t a[16], const char *s)
{
	uint32_t x;

	cr_assert_eq(inet_pton(AF_INET, s, &x), 1);
	key_addr_from_v4(a, x);
}

static void mask_v4(uint8_t m[16], unsigned len)
{
	memset(m, 0xff, 12);
	uint32_t x = len ? htonl(~0u << (32 - len)) : 0;
	memcpy(m + 12, &x, 4);
}

static void wildcard(struct msg *m, const char *dst, unsigned len, uint16_t dport, uint32_t prec,
		     uint32_t backup)
{
	msg_init(m, MSG_T_UPDATE_WILDCARD);
	struct msg_wildcard *w = &msg_add(m, MSG_S_WILDCARD, true)->u.wildcard;
	key_init(&w->key);
	w->key.proto = IPPROTO_TCP;
	w->key.dport = htons(dport);
	v4(w->key.daddr, dst);
	mask_v4(w->dmask, len);
	v4(w->key.saddr, "0.0.0.0");
	mask_v4(w->smask, 0);
	w->ttl = 30;
	struct msg_service_prec *p = &msg_add(m, MSG_S_SERVICE_PREC, false)->u.service_prec;
	p->order = MSG_ORDER_HIGHER_BETTER;
	p->value = prec;
	if (backup)
		msg_add(m, MSG_S_BACKUP_PREC, false)->u.backup_prec.value = backup;
}

static void fixed(struct msg *m, const char *src, uint16_t sport, const char *dst, uint16_t dport)
{
	msg_init(m, MSG_T_UPDATE_FIXED);
	struct msg_fixed *f = &msg_add(m, MSG_S_FIXED, true)->u.fixed;
	key_init(&f->key);
	f->key.proto = IPPROTO_TCP;
	v4(f->key.saddr, src);
	v4(f->key.daddr, dst);
	f->key.sport = htons(sport);
	f->key.dport = htons(dport);
	f->ttl = 60;
}

static void nat_interest(struct msg *m)
{
	struct msg_nat *n = &msg_add(m, MSG_S_ACT_NAT, true)->u.nat;
	n->present = MSG_NAT_DADDR | MSG_NAT_DPORT;
	v4(n->daddr, "10.2.0.11");
	n->dport = htons(8080);
	struct msg_interest *in = &msg_add(m, MSG_S_ACT_INTEREST, true)->u.interest;
	in->mask = MSG_INT_FIN | MSG_INT_RST;
	in->data = MSG_INT_FIN;
}

static void count(const char *src, uint16_t sport, const char *dst, uint16_t dport,
		  unsigned packets, uint32_t bytes)
{
	struct shm_table *t = fwd_aff_table(aff);
	struct flow_key k;

	key_init(&k);
	k.proto = IPPROTO_TCP;
	v4(k.saddr, src);
	v4(k.daddr, dst);
	k.sport = htons(sport);
	k.dport = htons(dport);
	const struct shm_entry *e = shm_table_lookup(t, &k);
	cr_assert_not_null(e);
	for (unsigned i = 0; i < packets; i++)
		shm_table_count(t, i % 2, shm_entry_index(t, e), bytes, now_ms() * 1000000u);
}

/*
 * Two wildcards of two managers and two fixed affinities:
 *   #0 manager 2, tcp any > 10.9.0.5/32 any port, precedence 20,
 *      dispatch to 10.2.0.5, advertises 10.9.0.5
 *   #1 manager 1, tcp any > 10.9.0.0/24:80, precedence 10, backup 1,
 *      NAT to 10.2.0.11:8080, interest fin,rst data=fin
 *   192.0.2.1:40000 > 10.9.0.7:80 (manager 1, NAT + interest, 3 packets)
 *   192.0.2.2:40001 > 10.9.0.8:80 (manager 1, no actions, no packets)
 */
static void setup(void)
{
	struct fwd_aff_cfg cfg = { .instance = inst, .capacity = 64, .lanes = 2,
				   .rcu_slots = 8, .caps = ~UINT64_C(0) };
	struct msg_action_list deny;
	struct msg m;
	uint64_t now = now_ms();

	snprintf(inst, sizeof(inst), "lc%d", (int)getpid());
	cr_assert_eq(fwd_aff_open(&cfg, &aff, NULL), 0);

	wildcard(&m, "10.9.0.5", 32, 0, 20, 0);
	m.segs[0].u.wildcard.dispatch = true;
	v4(m.segs[0].u.wildcard.forward, "10.2.0.5");
	v4(msg_add(&m, MSG_S_ACT_ADVERTISE, true)->u.advertise.addr, "10.9.0.5");
	cr_assert_eq(fwd_aff_apply(aff, 2, &m, now, &deny), FWD_UPD_APPLIED);

	wildcard(&m, "10.9.0.0", 24, 80, 10, 1);
	nat_interest(&m);
	cr_assert_eq(fwd_aff_apply(aff, 1, &m, now, &deny), FWD_UPD_APPLIED);

	fixed(&m, "192.0.2.1", 40000, "10.9.0.7", 80);
	nat_interest(&m);
	struct msg_interest_data *d = &msg_add(&m, MSG_S_MGR_INTEREST, false)->u.mgr_interest;
	d->len = 4;
	memcpy(d->data, "flow", 4);
	cr_assert_eq(fwd_aff_apply(aff, 1, &m, now, &deny), FWD_UPD_APPLIED);
	fixed(&m, "192.0.2.2", 40001, "10.9.0.8", 80);
	cr_assert_eq(fwd_aff_apply(aff, 1, &m, now, &deny), FWD_UPD_APPLIED);
	cr_assert_eq(fwd_aff_publish(aff, now), 0);

	count("192.0.2.1", 40000, "10.9.0.7", 80, 3, 100);
}

static void teardown(void)
{
	fwd_aff_close(aff);
	fwd_aff_unlink(inst);
}

TestSuite(loomctl, .init = setup, .fini = teardown, .timeout = 30);

Test(loomctl, list_shows_wildcards_fixed_and_advertised_in_columns)
{
	struct run *r = RUN("-i", inst, "affinity", "list");

	cr_assert_eq(r->status, 0, "%s", r->err);
	cr_assert(strstr(r->out, "Wildcard affinities: 2"), "%s", r->out);
	cr_assert(strstr(r->out, "Fixed affinities: 2 (capacity 64)"), "%s", r->out);

	/* precedence order: manager 2's better service first */
	const char *w0 = strstr(r->out, "10.9.0.5/32"), *w1 = strstr(r->out, "10.9.0.0/24");
	cr_assert(w0 && w1 && w0 < w1, "%s", r->out);

	char hdr[1024], row0[1024];
	snprintf(hdr, sizeof(hdr), "%s", line_with(r->out, "DESTINATION  DPORT"));
	snprintf(row0, sizeof(row0), "%s", line_with(r->out, "10.9.0.5/32  *"));
	cr_assert(strstr(row0, "dispatch 10.2.0.5 advertise 10.9.0.5/32"), "%s", row0);
	cr_assert(strstr(row0, "0.0.0.0/0"), "any IPv4 client as a prefix: %s", row0);
	cr_assert_eq(col(row0, "10.9.0.5/32"), col(hdr, "DESTINATION"), "aligned:\n%s\n%s", hdr,
		     row0);
	cr_assert_eq(col(row0, "dispatch"), col(hdr, "ACTIONS"));
	const char *row1 = line_with(r->out, "10.9.0.0/24");
	cr_assert(strstr(row1, " tcp "));
	cr_assert(strstr(row1, "nat d=10.2.0.11:8080 interest fin,rst data=fin"), "%s", row1);
	cr_assert(strstr(row1, "30s") || strstr(row1, "29s"), "ttl left: %s", row1);

	cr_assert(strstr(r->out, "Advertised addresses: 1"));
	cr_assert(strstr(line_with(r->out, "10.9.0.5/32      2"), "10.9.0.5/32"), "%s", r->out);

	snprintf(hdr, sizeof(hdr), "%s", line_with(r->out, "PACKETS"));
	const char *f1 = line_with(r->out, "192.0.2.1:40000");
	cr_assert(strstr(f1, "10.9.0.7:80"));
	cr_assert_eq(col(f1, "10.9.0.7:80"), col(hdr, "DESTINATION"), "%s\n%s", hdr, f1);
	/* numbers are right-aligned: they end where their header ends */
	cr_assert_eq(col(f1, " 3 ") + 2, col(hdr, "PACKETS") + 7, "%s\n%s", hdr, f1);
	cr_assert_eq(col(f1, " 300 ") + 4, col(hdr, "BYTES") + 5, "%s\n%s", hdr, f1);
	cr_assert(strstr(f1, "nat d=10.2.0.11:8080 interest fin,rst data=fin"), "%s", f1);
	const char *f2 = line_with(r->out, "192.0.2.2:40001");
	cr_assert(strstr(f2, "forward"), "no actions: %s", f2);
}

Test(loomctl, list_json_field_by_field)
{
	struct run *r = RUN("-i", inst, "affinity", "list", "--json");

	cr_assert_eq(r->status, 0, "%s", r->err);
	json_t *j = parse(r), *w = json_object_get(j, "wildcards");
	cr_assert_str_eq(JSTR(j, "instance"), inst);
	cr_assert_eq(json_array_size(w), 2);

	json_t *w0 = json_array_get(w, 0), *w1 = json_array_get(w, 1);
	cr_assert_eq(JINT(w0, "index"), 0);
	cr_assert_eq(JINT(w0, "owner"), 2);
	cr_assert_eq(JINT(w0, "rank"), 20);
	cr_assert_eq(JINT(w0, "proto"), 6);
	cr_assert_str_eq(JSTR(w0, "proto_name"), "tcp");
	cr_assert_str_eq(JSTR(w0, "src"), "0.0.0.0/0");
	cr_assert_str_eq(JSTR(w0, "dst"), "10.9.0.5/32");
	cr_assert_eq(JINT(w0, "dport"), 0);
	json_t *a0 = json_object_get(w0, "actions");
	cr_assert_str_eq(JSTR(a0, "forward"), "10.2.0.5");
	cr_assert(json_is_false(json_object_get(a0, "drop")));
	cr_assert_str_eq(JSTR(a0, "advertise"), "10.9.0.5/32");
	cr_assert_str_eq(json_string_value(json_array_get(json_object_get(a0, "flags"), 0)), "dispatch");
	cr_assert_eq(JINT(w0, "ttl_s"), 30);
	cr_assert(JINT(w0, "ttl_left_ms") > 25000 && JINT(w0, "ttl_left_ms") <= 30000);
	cr_assert(json_is_false(json_object_get(w0, "expired")));

	cr_assert_eq(JINT(w1, "owner"), 1);
	cr_assert_eq(JINT(w1, "rank"), 10);
	cr_assert_eq(JINT(w1, "backup_prec"), 1);
	cr_assert_str_eq(JSTR(w1, "dst"), "10.9.0.0/24");
	cr_assert_eq(JINT(w1, "dport"), 80);
	json_t *nat = json_object_get(json_object_get(w1, "actions"), "nat");
	cr_assert_str_eq(JSTR(nat, "daddr"), "10.2.0.11");
	cr_assert_eq(JINT(nat, "dport"), 8080);
	cr_assert_null(json_object_get(nat, "saddr"), "only the fields NAT rewrites");
	json_t *in = json_object_get(json_object_get(w1, "actions"), "interest");
	cr_assert_eq(json_array_size(json_object_get(in, "mask")), 2);
	cr_assert_str_eq(json_string_value(json_array_get(json_object_get(in, "mask"), 1)), "rst");
	cr_assert_str_eq(json_string_value(json_array_get(json_object_get(in, "data"), 0)), "fin");

	json_t *adv = json_object_get(j, "advertised");
	cr_assert_eq(json_array_size(adv), 1);
	cr_assert_str_eq(JSTR(json_array_get(adv, 0), "prefix"), "10.9.0.5/32");
	cr_assert_eq(JINT(json_array_get(adv, 0), "owner"), 2);

	json_t *fx = json_object_get(j, "fixed");
	cr_assert_eq(json_array_size(fx), 2);
	cr_assert_eq(JINT(j, "fixed_capacity"), 64);
	int seen = 0;
	for (size_t i = 0; i < 2; i++) {
		json_t *f = json_array_get(fx, i);
		cr_assert_eq(JINT(f, "owner"), 1);
		cr_assert_eq(JINT(f, "ttl_s"), 60);
		cr_assert(JINT(f, "idle_ms") >= 0 && JINT(f, "idle_ms") < 10000);
		if (JINT(f, "sport") == 40000) {
			seen |= 1;
			cr_assert_str_eq(JSTR(f, "src"), "192.0.2.1", "IPv4-mapped shown as IPv4");
			cr_assert_str_eq(JSTR(f, "dst"), "10.9.0.7");
			cr_assert_eq(JINT(f, "dport"), 80);
			cr_assert_eq(JINT(f, "packets"), 3, "summed over both lanes");
			cr_assert_eq(JINT(f, "bytes"), 300);
			cr_assert(json_is_true(json_object_get(f, "seen")));
			cr_assert_str_eq(JSTR(f, "mgr_data"), "666c6f77");
			cr_assert_str_eq(JSTR(json_object_get(f, "actions"), "summary"),
					 "nat d=10.2.0.11:8080 interest fin,rst data=fin");
		} else {
			seen |= 2;
			cr_assert_str_eq(JSTR(f, "src"), "192.0.2.2");
			cr_assert_eq(JINT(f, "packets"), 0);
			cr_assert(json_is_false(json_object_get(f, "seen")));
			cr_assert_eq(json_array_size(json_object_get(json_object_get(f, "actions"),
								     "flags")), 0);
		}
	}
	cr_assert_eq(seen, 3);
	json_decref(j);
}

Test(loomctl, list_limit_and_sections)
{
	struct run *r = RUN("-i", inst, "affinity", "list", "-j", "--fixed", "--limit", "1");

	cr_assert_eq(r->status, 0, "%s", r->err);
	json_t *j = parse(r);
	cr_assert_eq(json_array_size(json_object_get(j, "fixed")), 1);
	cr_assert_eq(JINT(j, "fixed_count"), 2);
	cr_assert_null(json_object_get(j, "wildcards"));
	json_decref(j);

	r = RUN("-i", inst, "-j", "aff", "-w");
	cr_assert_eq(r->status, 0, "%s", r->err);
	j = parse(r);
	cr_assert_null(json_object_get(j, "fixed"));
	cr_assert_eq(json_array_size(json_object_get(j, "wildcards")), 2);
	json_decref(j);

	r = RUN("-i", inst, "affinity", "list", "--wildcards", "-n", "1");
	cr_assert_eq(r->status, 0, "%s", r->err);
	cr_assert(strstr(r->out, "10.9.0.5/32"));
	cr_assert_null(strstr(r->out, "10.9.0.0/24"), "limited to one row: %s", r->out);
	cr_assert(strstr(r->out, "... 1 more"));
	cr_assert_null(strstr(r->out, "Fixed"));
}

Test(loomctl, show_present_key)
{
	struct run *r = RUN("-i", inst, "affinity", "show", "tcp", "192.0.2.1:40000",
			    "10.9.0.7:80");

	cr_assert_eq(r->status, 0, "%s", r->err);
	cr_assert(strstr(r->out, "Fixed affinity tcp 192.0.2.1:40000 > 10.9.0.7:80\n"), "%s",
		  r->out);
	cr_assert(strstr(r->out, "  owner         1\n"), "%s", r->out);
	cr_assert(strstr(r->out, "  nat_daddr     10.2.0.11\n"), "%s", r->out);
	cr_assert(strstr(r->out, "  nat_dport     8080\n"));
	cr_assert(strstr(r->out, "  interest      fin,rst\n"));
	cr_assert(strstr(r->out, "  int_data      fin\n"));
	cr_assert(strstr(r->out, "  mgr_data      666c6f77\n"));
	cr_assert(strstr(r->out, "  packets       3\n"));
	cr_assert(strstr(r->out, "  bytes         300\n"));
	cr_assert(strstr(r->out, "  ttl           60s\n"));
	const char *m = strstr(r->out, "Matching wildcard:\n");
	cr_assert_not_null(m, "%s", r->out);
	cr_assert(strstr(m, "10.9.0.0/24"), "the /24 of manager 1: %s", m);

	r = RUN("-i", inst, "affinity", "show", "--json", "tcp", "192.0.2.1:40000",
		"10.9.0.7:80");
	cr_assert_eq(r->status, 0, "%s", r->err);
	json_t *j = parse(r), *f = json_object_get(j, "fixed");
	cr_assert_str_eq(JSTR(json_object_get(j, "key"), "src"), "192.0.2.1");
	cr_assert_eq(JINT(f, "packets"), 3);
	cr_assert_eq(JINT(f, "bytes"), 300);
	cr_assert_eq(JINT(f, "sport"), 40000);
	cr_assert(JINT(f, "ttl_left_ms") > 55000 && JINT(f, "ttl_left_ms") <= 60000);
	cr_assert_eq(JINT(json_object_get(j, "wildcard"), "index"), 1);
	cr_assert_eq(JINT(json_object_get(j, "wildcard"), "owner"), 1);
	json_decref(j);
}

Test(loomctl, show_absent_key)
{
	struct run *r = RUN("-i", inst, "affinity", "show", "tcp", "192.0.2.9:1234",
			    "10.9.0.5:80");

	cr_assert_eq(r->status, 1, "absent: exit 1 (%d) %s", r->status, r->err);
	cr_assert(strstr(r->out, "Fixed affinity tcp 192.0.2.9:1234 > 10.9.0.5:80: none"), "%s",
		  r->out);
	/* a new flow to 10.9.0.5 would hit manager 2's better service first */
	cr_assert(strstr(strstr(r->out, "Matching wildcard:"), "dispatch 10.2.0.5"), "%s",
		  r->out);

	r = RUN("-i", inst, "-j", "affinity", "show", "udp", "192.0.2.9:1234", "10.8.0.5:53");
	cr_assert_eq(r->status, 1);
	json_t *j = parse(r);
	cr_assert(json_is_null(json_object_get(j, "fixed")));
	cr_assert(json_is_null(json_object_get(j, "wildcard")), "nothing covers udp to 10.8/16");
	cr_assert_eq(JINT(json_object_get(j, "key"), "proto"), 17);
	json_decref(j);
}

Test(loomctl, stats_text_and_json)
{
	struct run *r = RUN("-i", inst, "affinity", "stats");

	cr_assert_eq(r->status, 0, "%s", r->err);
	cr_assert(strstr(line_with(r->out, "fixed_capacity"), " 64"));
	cr_assert(strstr(line_with(r->out, "fixed_fill"), "3.1%"), "%s", r->out);
	cr_assert(strstr(line_with(r->out, "advertised"), " 1"));
	const char *seg = line_with(r->out, "affinity  ");
	char pid[16];
	snprintf(pid, sizeof(pid), " %d ", (int)getpid());
	cr_assert(strstr(seg, pid), "writer pid: %s", seg);
	cr_assert(strstr(seg, "/8"), "reader slots: %s", seg);

	r = RUN("-i", inst, "affinity", "stats", "--json");
	cr_assert_eq(r->status, 0, "%s", r->err);
	json_t *j = parse(r), *fx = json_object_get(j, "fixed");
	cr_assert_eq(JINT(fx, "count"), 2);
	cr_assert_eq(JINT(fx, "writer_count"), 2);
	cr_assert_eq(JINT(fx, "capacity"), 64);
	cr_assert_eq(JINT(fx, "lanes"), 2);
	cr_assert_float_eq(json_real_value(json_object_get(fx, "fill_pct")), 3.125, 1e-9);
	cr_assert_eq(JINT(j, "wildcards"), 2);
	cr_assert_eq(JINT(j, "advertised"), 1);
	cr_assert(JINT(json_object_get(j, "snapshot"), "generation") >= 1);
	json_t *segs = json_object_get(j, "segments");
	for (int i = 0; i < 2; i++) {
		json_t *s = json_object_get(segs, i ? "wildcard" : "affinity");
		json_t *rcu = json_object_get(s, "rcu");
		cr_assert_eq(JINT(s, "writer_pid"), getpid());
		cr_assert(json_is_true(json_object_get(s, "writer_alive")));
		cr_assert(JINT(s, "generation") >= 1);
		cr_assert_eq(JINT(rcu, "reader_slots"), 8);
		cr_assert(JINT(rcu, "readers_attached") >= 1, "loomctl itself is attached");
		cr_assert_eq(JINT(rcu, "readers_in_section"), 0, "no section held while printing");
		cr_assert_eq(JINT(rcu, "timeouts"), 0);
		cr_assert(JINT(rcu, "gp_max_ns") >= JINT(rcu, "gp_mean_ns"));
	}
	json_t *e = json_object_get(j, "reader_errors");
	const char *k;
	json_t *v;
	json_object_foreach(e, k, v)
		cr_assert_eq(json_integer_value(v), 0, "%s", k);
	cr_assert_eq(json_object_size(e), 7);
	json_decref(j);
}

Test(loomctl, instance_from_env_and_unknown_instance)
{
	struct run *r = run_env(inst, (const char *const[]){ "affinity", "stats", "-j", NULL });

	cr_assert_eq(r->status, 0, "LOOM_INSTANCE: %s", r->err);
	json_t *j = parse(r);
	cr_assert_str_eq(JSTR(j, "instance"), inst);
	json_decref(j);

	r = run_env(inst, (const char *const[]){ "-i", "nosuch", "affinity", NULL });
	cr_assert_eq(r->status, 1);
	cr_assert_str_eq(r->err, "loomctl: no affinity table for instance 'nosuch' "
				 "(is loom-fwd-agent running?)\n");
	cr_assert_str_eq(r->out, "");

	r = run_env(NULL, (const char *const[]){ "-i", "bad/name", "affinity", NULL });
	cr_assert_eq(r->status, 2, "%s", r->err);
	cr_assert(strstr(r->err, "invalid instance name 'bad/name'"), "%s", r->err);
}

Test(loomctl, wrong_layout_is_refused)
{
	char other[40];
	struct shm_table *t = NULL;
	struct shm_table_geom g = { .capacity = 16, .value_size = 64, .value_kind = 0x4f544852,
				    .value_version = 1, .lanes = 1, .rcu_slots = 4 };

	snprintf(other, sizeof(other), "%s-x", inst);
	cr_assert_eq(shm_table_open_writer(other, "affinity", &g, NULL, &t, NULL), 0);
	struct run *r = RUN("-i", other, "affinity");
	shm_table_close(t);
	shm_seg_unlink(other, "affinity");
	cr_assert_eq(r->status, 3, "%s", r->err);
	cr_assert(strstr(r->err, "has a layout this loomctl does not understand"), "%s", r->err);
}

Test(loomctl, usage_errors)
{
	static const char *const cases[][8] = {
		{ NULL },
		{ "frob", NULL },
		{ "affinity", "frob", NULL },
		{ "affinity", "show", "tcp", "192.0.2.1:1", NULL },
		{ "affinity", "show", "tcp", "192.0.2.1:99999", "10.0.0.1", NULL },
		{ "affinity", "show", "bogus", "192.0.2.1", "10.0.0.1", NULL },
		{ "affinity", "show", "tcp", "192.0.2.1", "10.0.0.1", "extra", NULL },
		{ "affinity", "list", "--limit", "x", NULL },
		{ "affinity", "list", "--wildcards", "--fixed", NULL },
		{ "affinity", "list", "--bogus", NULL },
		{ "affinity", "stats", "-n", "3", NULL },
		{ "-i", NULL },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *args[10] = { "-i", inst };
		size_t n = 2;
		for (size_t k = 0; cases[i][k]; k++)
			args[n++] = cases[i][k];
		args[n] = NULL;
		struct run *r = run_env(NULL, args);
		cr_assert_eq(r->status, 2, "case %zu: exit %d, %s", i, r->status, r->err);
		cr_assert(strstr(r->err, "Usage: loomctl"), "case %zu: %s", i, r->err);
		cr_assert_str_eq(r->out, "", "case %zu", i);
	}
	struct run *r = RUN("-h");
	cr_assert_eq(r->status, 0);
	cr_assert(strstr(r->out, "Usage: loomctl"));
}

/*
 * A writer that breaks the rules (what a bug or a hostile process could
 * leave): a length beyond its field, action bits nobody defined, and a
 * published snapshot that is not a wildcard snapshot. loomctl shows what it
 * can, clamps, and counts.
 */
Test(loomctl, hostile_values_are_clamped_and_counted)
{
	char other[40];
	struct shm_table *t = NULL;
	struct shm_snap *s = NULL;
	struct shm_table_geom g = { .capacity = 16, .value_size = AFF_FIXED_VALUE_SIZE,
				    .value_kind = AFF_FIXED_KIND,
				    .value_version = AFF_FIXED_VERSION, .lanes = 1,
				    .rcu_slots = 4 };
	struct shm_snap_geom sg = { .area_size = 1 << 16, .value_kind = AFF_SNAP_KIND,
				    .value_version = AFF_SNAP_VERSION, .rcu_slots = 4 };
	struct aff_fixed v;
	struct flow_key k;

	snprintf(other, sizeof(other), "%s-h", inst);
	cr_assert_eq(shm_table_open_writer(other, "affinity", &g, NULL, &t, NULL), 0);
	cr_assert_eq(shm_snap_open_writer(other, "wildcard", &sg, NULL, &s), 0);
	key_init(&k);
	k.proto = 6;
	v4(k.saddr, "192.0.2.1");
	v4(k.daddr, "10.9.0.7");
	memset(&v, 0, sizeof(v));
	v.mgr_len = 200;
	memset(v.mgr_data, 0xab, sizeof(v.mgr_data));
	v.flags = 0x8000;
	cr_assert_eq(shm_table_upsert(t, &k, &v), 0);
	void *p = shm_snap_alloc(s, 4096);
	cr_assert_not_null(p);
	memset(p, 0x5a, 4096);
	cr_assert_eq(shm_snap_publish(s, p, 4096), 0);

	struct run *r = RUN("-i", other, "affinity", "list");
	int st1 = r->status;
	char *out = strdup(r->out);
	r = RUN("-i", other, "affinity", "stats", "-j");
	shm_table_close(t);
	shm_snap_close(s);
	fwd_aff_unlink(other);

	cr_assert_eq(st1, 0);
	cr_assert(strstr(out, "(no snapshot published)"), "%s", out);
	cr_assert(strstr(line_with(out, "192.0.2.1:0"), "flags=0x8000"), "%s", out);
	free(out);
	cr_assert_eq(r->status, 0, "%s", r->err);
	json_t *j = parse(r), *e = json_object_get(j, "reader_errors");
	cr_assert_eq(JINT(e, "bad_snapshot"), 1);
	cr_assert_eq(JINT(e, "clamped"), 1, "mgr_len 200 clamped to 64");
	cr_assert_eq(JINT(json_object_get(j, "fixed"), "count"), 1);
	cr_assert_eq(JINT(j, "wildcards"), 0);
	json_decref(j);
}

/* The information flag: packets and bytes per forward address. */
Test(loomctl, forward_statistics)
{
	struct msg m;
	struct msg_action_list deny;
	struct shm_table *t = fwd_aff_fwdstats(aff);
	struct flow_key k;
	uint8_t fwd[16];

	/* a fixed affinity that dispatches to 10.2.0.7 with the information flag */
	fixed(&m, "192.0.2.3", 40002, "10.9.0.9", 80);
	m.segs[0].u.fixed.dispatch = true;
	m.segs[0].u.fixed.info = true;
	v4(m.segs[0].u.fixed.forward, "10.2.0.7");
	cr_assert_eq(fwd_aff_apply(aff, 1, &m, now_ms(), &deny), FWD_UPD_APPLIED);
	/* two workers count on it, as the data path does */
	v4(fwd, "10.2.0.7");
	aff_fwdstat_key(&k, fwd);
	const struct shm_entry *e = shm_table_lookup(t, &k);
	cr_assert_not_null(e, "the agent made a statistics entry for the forward address");
	shm_table_count(t, 0, shm_entry_index(t, e), 100, 1);
	shm_table_count(t, 1, shm_entry_index(t, e), 50, 2);

	struct run *r = RUN("-i", inst, "affinity", "forward");
	cr_assert_eq(r->status, 0, "%s", r->err);
	cr_assert(strstr(r->out, "Forward addresses: 1"), "%s", r->out);
	const char *line = strstr(r->out, "\n10.2.0.7 ");
	char addr[48];
	unsigned long pk = 0, by = 0;
	cr_assert_not_null(line, "%s", r->out);
	cr_assert_eq(sscanf(line + 1, "%47s %lu %lu", addr, &pk, &by), 3, "%s", r->out);
	cr_assert_eq(pk, 2, "packets summed over the lanes");
	cr_assert_eq(by, 150);

	r = RUN("-i", inst, "-j", "affinity", "forward");
	cr_assert_eq(r->status, 0, "%s", r->err);
	json_error_t je;
	json_t *j = json_loads(r->out, 0, &je);
	cr_assert_not_null(j, "%s", r->out);
	cr_assert_eq(json_array_size(j), 1);
	json_t *row = json_array_get(j, 0);
	cr_assert_str_eq(json_string_value(json_object_get(row, "address")), "10.2.0.7");
	cr_assert_eq(json_integer_value(json_object_get(row, "packets")), 2);
	cr_assert_eq(json_integer_value(json_object_get(row, "bytes")), 150);
	json_decref(j);

	r = RUN("-i", "nosuchinstance", "affinity", "forward");
	cr_assert_eq(r->status, 1);
}
