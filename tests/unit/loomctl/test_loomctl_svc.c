// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * loomctl's service-manager views against real tables: a flow table and a
 * services snapshot written here with the shm writer APIs, as loom-svc-mgr
 * writes them, then the real loomctl binary run and its table and JSON
 * output checked as a user would read them.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/flow.h"
#include "common/services.h"
#include "shm/seg.h"
#include "shm/snap.h"
#include "shm/table.h"

#include "ctl_run.h"

static char inst[32];
static struct shm_table *flows;
static struct shm_snap *svcs;

/* ---- the tables -------------------------------------------------------------------- */

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void addr(uint8_t a[16], const char *s)
{
	uint32_t x;

	if (inet_pton(AF_INET, s, &x) == 1)
		key_addr_from_v4(a, x);
	else
		cr_assert_eq(inet_pton(AF_INET6, s, a), 1, "%s", s);
}

static void ep(struct flow_ep *e, const char *a, uint16_t port)
{
	memset(e, 0, sizeof(*e));
	addr(e->addr, a);
	e->port = htons(port);
}

/* One flow, both entries, as the manager keeps it. For NAT the client is
 * the inside host, the virtual endpoint the pool address, the server the
 * outside server. */
static void add_flow(struct shm_table *t, uint8_t type, uint8_t state, uint32_t svc_id,
		     const char *client, uint16_t cport, const char *virt, uint16_t vport,
		     const char *server, uint16_t sport, unsigned nagents)
{
	struct flow_rec r;
	struct flow_key orig, reply;
	uint64_t now = now_ms();

	memset(&r, 0, sizeof(r));
	r.type = type;
	r.state = state;
	r.proto = IPPROTO_TCP;
	r.svc_id = svc_id;
	r.backend_id = type == FLOW_T_LB ? 1 : 0;
	r.owner = 0x1234abcd5678ef01u;
	if (type == FLOW_T_NAT) {
		ep(&r.in_local, client, cport);
		ep(&r.out_local, server, sport);
	} else {
		ep(&r.out_local, client, cport);
		ep(&r.in_local, server, sport);
	}
	r.out_global = r.out_local;
	ep(&r.in_global, virt, vport);
	r.ttl_s = 30;
	r.created_ms = now - 5000;
	r.touched_ms = now - 1000;
	r.expires_ms = now + 25000;
	r.flags = FLOW_F_COUNTED;
	for (unsigned i = 0; i < nagents; i++)
		r.agents[i] = 0xa0u + i;
	flow_rec_keys(&r, &orig, &reply);
	r.dir = FLOW_DIR_ORIG;
	cr_assert_eq(shm_table_upsert(t, &orig, &r), 0);
	r.dir = FLOW_DIR_REPLY;
	cr_assert_eq(shm_table_upsert(t, &reply, &r), 0);
}

static struct svcs_service *svc(struct svcs_hdr *h, uint32_t i)
{
	return &((struct svcs_service *)(h + 1))[i];
}

static struct svcs_backend *backend(struct svcs_hdr *h, uint32_t i)
{
	return &((struct svcs_backend *)(svc(h, h->nsvc)))[i];
}

static void lb_service(struct svcs_service *s, const char *name, uint32_t id, const char *vip,
		       uint16_t port, uint8_t alg, uint16_t nb, uint32_t first)
{
	snprintf(s->name, sizeof(s->name), "%s", name);
	s->id = id;
	s->type = 0;
	s->proto = IPPROTO_TCP;
	s->algorithm = alg;
	s->active = 1;
	addr(s->addr, vip);
	s->port = port;
	s->nb = nb;
	s->first = first;
}

static void be(struct svcs_backend *b, uint32_t svc_id, uint32_t id, const char *a,
	       uint16_t port, uint32_t weight, bool up, bool checked)
{
	b->svc_id = svc_id;
	b->id = id;
	addr(b->addr, a);
	b->port = port;
	b->weight = weight;
	b->up = up;
	b->checked = checked;
	b->last_check_ms_ago = checked ? 1500 : UINT32_MAX;
}

/*
 * Three services:
 *   web     lb tcp 10.9.0.1:80, wrr, precedence 100 (higher wins), 3 backends:
 *           10.2.0.11:8080 up (2 conns), 10.2.0.12:8080 drained (weight 0),
 *           10.2.0.13:8080 down, its last check refused
 *   web6    lb tcp [2001:db8::1]:443, maglev, precedence 5 (lower wins),
 *           backup 2, one backend without a health check
 *   egress  nat, 4 pool addresses, 1 mapping, 2 allocation failures
 * Five flows: two of web (established, new), one of web6, one NAT, one of a
 * service the snapshot does not know (id 99).
 */
static void publish_services(struct shm_snap *s)
{
	size_t len = svcs_size(3, 4);
	struct svcs_hdr *h = shm_snap_alloc(s, len);

	cr_assert_not_null(h);
	memset(h, 0, len);
	h->magic = SVCS_MAGIC;
	h->nsvc = 3;
	h->nbackend = 4;
	h->agents = 2;
	h->built_ms = now_ms();
	h->flows = 5;
	h->flow_capacity = 32;
	h->owner = 0x1234abcd5678ef01u;

	struct svcs_service *web = svc(h, 0), *web6 = svc(h, 1), *nat = svc(h, 2);
	lb_service(web, "web", 1, "10.9.0.1", 80, 1, 3, 0);
	web->precedence = 100;
	web->decided = 10;
	web->answered = 9;
	web->dropped = 1;
	web->active_flows = 2;
	web->persistence_ms = 30000;
	lb_service(web6, "web6", 2, "2001:db8::1", 443, 3, 1, 3);
	web6->precedence = 5;
	web6->precedence_lower = 1;
	web6->backup_precedence = 2;
	web6->active_flows = 1;
	snprintf(nat->name, sizeof(nat->name), "egress");
	nat->id = 3;
	nat->type = 1;
	nat->active = 1;
	nat->pool_addresses = 4;
	nat->pool_mappings = 1;
	nat->pool_fail = 2;
	nat->first = 4;

	struct svcs_backend *b = backend(h, 0);
	be(b, 1, 1, "10.2.0.11", 8080, 1, true, true);
	b->conns = 2;
	b->decided = 7;
	b->checks = 50;
	b = backend(h, 1);
	be(b, 1, 2, "10.2.0.12", 8080, 0, true, true);
	b->decided = 3;
	b->checks = 50;
	b = backend(h, 2);
	be(b, 1, 3, "10.2.0.13", 8080, 1, false, true);
	b->checks = 40;
	b->checks_failed = 12;
	snprintf(b->last_error, sizeof(b->last_error), "connect: Connection refused");
	b = backend(h, 3);
	be(b, 2, 4, "2001:db8:2::11", 443, 1, true, false);
	b->conns = 1;
	cr_assert_eq(shm_snap_publish(s, h, len), 0);
}

static void open_tables(const char *name, struct shm_table **t, struct shm_snap **s)
{
	struct shm_table_geom g = { .capacity = 64, .value_size = FLOW_VALUE_SIZE,
				    .value_kind = FLOW_KIND, .value_version = FLOW_VERSION,
				    .lanes = 1, .rcu_slots = 8 };
	struct shm_snap_geom sg = { .area_size = 1 << 16, .value_kind = SVCS_KIND,
				    .value_version = SVCS_VERSION, .rcu_slots = 8 };

	cr_assert_eq(shm_table_open_writer(name, "flow", &g, NULL, t, NULL), 0);
	cr_assert_eq(shm_snap_open_writer(name, "services", &sg, NULL, s), 0);
}

static void close_tables(const char *name, struct shm_table *t, struct shm_snap *s)
{
	if (t)
		shm_table_close(t);
	if (s)
		shm_snap_close(s);
	shm_seg_unlink(name, "flow");
	shm_seg_unlink(name, "services");
}

static void setup(void)
{
	snprintf(inst, sizeof(inst), "lcs%d", (int)getpid());
	open_tables(inst, &flows, &svcs);
	publish_services(svcs);
	add_flow(flows, FLOW_T_LB, FLOW_S_EST, 1, "192.0.2.1", 40000, "10.9.0.1", 80,
		 "10.2.0.11", 8080, 2);
	add_flow(flows, FLOW_T_LB, FLOW_S_NEW, 1, "192.0.2.2", 40001, "10.9.0.1", 80,
		 "10.2.0.11", 8080, 1);
	add_flow(flows, FLOW_T_LB, FLOW_S_EST, 2, "2001:db8:9::5", 50000, "2001:db8::1", 443,
		 "2001:db8:2::11", 443, 1);
	add_flow(flows, FLOW_T_NAT, FLOW_S_FIN, 3, "10.1.0.5", 33000, "198.51.100.1", 61000,
		 "203.0.113.7", 443, 1);
	add_flow(flows, FLOW_T_LB, FLOW_S_CLOSING, 99, "192.0.2.3", 40002, "10.9.0.2", 80,
		 "10.2.0.21", 80, 0);
}

static void teardown(void)
{
	close_tables(inst, flows, svcs);
}

TestSuite(loomctl_svc, .init = setup, .fini = teardown, .timeout = 30);

/* ---- service ----------------------------------------------------------------------- */

Test(loomctl_svc, service_list_table)
{
	struct run *r = RUN("-i", inst, "service", "list");

	cr_assert_eq(r->status, 0, "%s", r->err);
	cr_assert(strstr(r->out, "Services of instance "), "%s", r->out);
	cr_assert(strstr(line_with(r->out, "Services of instance"), ": 3 (snapshot generation 1"),
		  "%s", r->out);
	cr_assert(strstr(r->out, "Agents connected: 2  Flows: 5/32\n"), "%s", r->out);

	char hdr[1024];
	snprintf(hdr, sizeof(hdr), "%s", line_with(r->out, "NAME"));
	const char *web = line_with(r->out, "10.9.0.1:80");
	cr_assert(strncmp(web, "web ", 4) == 0, "%s", web);
	cr_assert(strstr(web, " lb "), "%s", web);
	cr_assert(strstr(web, " tcp "), "%s", web);
	cr_assert(strstr(web, " wrr "), "%s", web);
	cr_assert(strstr(web, " 2/3 "), "two of three backends up: %s", web);
	cr_assert(strstr(web, " 100 higher "), "%s", web);
	cr_assert_eq(col(web, "10.9.0.1:80"), col(hdr, "VIRTUAL"), "\n%s\n%s", hdr, web);
	cr_assert_eq(col(web, "wrr"), col(hdr, "ALG"), "\n%s\n%s", hdr, web);
	/* numbers right-aligned under their headers */
	long dec = col(hdr, "DECIDED") + 7, ans = col(hdr, "ANSWERED") + 8;
	cr_assert_eq(col(web, " 10 ") + 3, dec, "\n%s\n%s", hdr, web);
	cr_assert_eq(col(web, " 9 ") + 2, ans, "\n%s\n%s", hdr, web);

	const char *v6 = line_with(r->out, "web6");
	cr_assert(strstr(v6, "[2001:db8::1]:443"), "%s", v6);
	cr_assert(strstr(v6, " maglev "), "%s", v6);
	cr_assert(strstr(v6, " 1/1 "), "%s", v6);
	cr_assert(strstr(v6, " 5 lower "), "%s", v6);
	cr_assert(v6[strlen(v6) - 1] == '2', "backup precedence last: %s", v6);

	const char *nat = line_with(r->out, "egress");
	cr_assert(strstr(nat, " nat "), "%s", nat);
	cr_assert(strstr(nat, " any "), "%s", nat);
	cr_assert_eq(nat[col(hdr, "VIRTUAL")], '-', "no virtual address: %s", nat);
	cr_assert_eq(nat[col(hdr, "ALG")], '-', "no scheduler: %s", nat);
}

Test(loomctl_svc, service_list_json)
{
	struct run *r = RUN("-i", inst, "-j", "svc");

	cr_assert_eq(r->status, 0, "%s", r->err);
	json_t *j = parse(r), *s = json_object_get(j, "services");
	cr_assert_str_eq(JSTR(j, "instance"), inst);
	cr_assert_eq(JINT(j, "agents"), 2);
	cr_assert_eq(JINT(j, "flows"), 5);
	cr_assert_eq(JINT(j, "flow_capacity"), 32);
	cr_assert_str_eq(JSTR(j, "owner"), "1234abcd5678ef01");
	cr_assert_eq(JINT(j, "generation"), 1);
	cr_assert_eq(json_array_size(s), 3);

	json_t *web = json_array_get(s, 0);
	cr_assert_str_eq(JSTR(web, "name"), "web");
	cr_assert_str_eq(JSTR(web, "type"), "lb");
	cr_assert_str_eq(JSTR(web, "proto_name"), "tcp");
	cr_assert_str_eq(JSTR(web, "address"), "10.9.0.1");
	cr_assert_eq(JINT(web, "port"), 80);
	cr_assert_str_eq(JSTR(web, "virtual"), "10.9.0.1:80");
	cr_assert_str_eq(JSTR(web, "algorithm"), "wrr");
	cr_assert_eq(JINT(web, "backends_up"), 2);
	cr_assert_eq(JINT(web, "backends_total"), 3);
	cr_assert_eq(JINT(web, "active_flows"), 2);
	cr_assert_eq(JINT(web, "decided"), 10);
	cr_assert_eq(JINT(web, "answered"), 9);
	cr_assert_eq(JINT(web, "dropped"), 1);
	cr_assert_eq(JINT(web, "precedence"), 100);
	cr_assert_str_eq(JSTR(web, "precedence_order"), "higher");
	cr_assert_eq(JINT(web, "persistence_ms"), 30000);
	cr_assert(json_is_true(json_object_get(web, "active")));
	cr_assert_null(json_object_get(web, "backends"), "list leaves the backends out");
	cr_assert_null(json_object_get(web, "pool_addresses"), "not a NAT service");

	json_t *v6 = json_array_get(s, 1);
	cr_assert_str_eq(JSTR(v6, "virtual"), "[2001:db8::1]:443");
	cr_assert_str_eq(JSTR(v6, "address"), "2001:db8::1");
	cr_assert_str_eq(JSTR(v6, "precedence_order"), "lower");
	cr_assert_eq(JINT(v6, "backup_precedence"), 2);

	json_t *nat = json_array_get(s, 2);
	cr_assert_str_eq(JSTR(nat, "type"), "nat");
	cr_assert(json_is_null(json_object_get(nat, "virtual")));
	cr_assert(json_is_null(json_object_get(nat, "algorithm")));
	cr_assert_eq(JINT(nat, "pool_addresses"), 4);
	cr_assert_eq(JINT(nat, "pool_mappings"), 1);
	cr_assert_eq(JINT(nat, "pool_fail"), 2);
	json_decref(j);
}

Test(loomctl_svc, service_show_lb_backends)
{
	struct run *r = RUN("-i", inst, "service", "show", "web");

	cr_assert_eq(r->status, 0, "%s", r->err);
	cr_assert(strstr(r->out, "Service web (id 1)\n"), "%s", r->out);
	cr_assert(strstr(r->out, "  virtual         10.9.0.1:80\n"), "%s", r->out);
	cr_assert(strstr(r->out, "  precedence      100 (higher wins)\n"), "%s", r->out);
	cr_assert(strstr(r->out, "  persistence     30s\n"), "%s", r->out);
	cr_assert(strstr(r->out, "  backends        2 up of 3\n"), "%s", r->out);
	cr_assert(strstr(r->out, "Backends: 3\n"), "%s", r->out);

	char hdr[1024];
	snprintf(hdr, sizeof(hdr), "%s", line_with(r->out, "ADDRESS"));
	cr_assert_null(strstr(hdr, "SERVICE"), "one service: no SERVICE column: %s", hdr);
	const char *b1 = line_with(r->out, "10.2.0.11:8080");
	cr_assert_eq(col(b1, " up "), col(hdr, "HEALTH") - 1, "\n%s\n%s", hdr, b1);
	cr_assert(strstr(b1, "2s ago"), "last check 1.5 s ago: %s", b1);
	cr_assert_eq(col(b1, " 2 ") + 2, col(hdr, "CONNS") + 5, "2 conns:\n%s\n%s", hdr, b1);
	cr_assert(b1[strlen(b1) - 1] == '-', "no error: %s", b1);
	const char *b2 = line_with(r->out, "10.2.0.12:8080");
	cr_assert(strstr(b2, "drained"), "weight 0: %s", b2);
	const char *b3 = line_with(r->out, "10.2.0.13:8080");
	cr_assert(strstr(b3, " down "), "%s", b3);
	cr_assert(strstr(b3, " 40 "), "%s", b3);
	cr_assert(strstr(b3, " 12 "), "%s", b3);
	cr_assert(strstr(b3, "connect: Connection refused"), "%s", b3);
	cr_assert_eq(col(b3, "connect:"), col(hdr, "LAST_ERROR"), "\n%s\n%s", hdr, b3);

	r = RUN("-i", inst, "service", "show", "web", "--json");
	cr_assert_eq(r->status, 0, "%s", r->err);
	json_t *j = parse(r), *s = json_object_get(j, "service"), *bs = json_object_get(s, "backends");
	cr_assert_str_eq(JSTR(s, "name"), "web");
	cr_assert_eq(json_array_size(bs), 3);
	json_t *j1 = json_array_get(bs, 0), *j2 = json_array_get(bs, 1), *j3 = json_array_get(bs, 2);
	cr_assert_str_eq(JSTR(j1, "address"), "10.2.0.11");
	cr_assert_eq(JINT(j1, "port"), 8080);
	cr_assert_str_eq(JSTR(j1, "health"), "up");
	cr_assert_eq(JINT(j1, "conns"), 2);
	cr_assert_eq(JINT(j1, "decided"), 7);
	cr_assert_eq(JINT(j1, "last_check_ms_ago"), 1500);
	cr_assert(json_is_null(json_object_get(j1, "last_error")));
	cr_assert(json_is_false(json_object_get(j1, "drained")));
	cr_assert(json_is_true(json_object_get(j2, "drained")));
	cr_assert_eq(JINT(j2, "weight"), 0);
	cr_assert_str_eq(JSTR(j3, "health"), "down");
	cr_assert(json_is_false(json_object_get(j3, "up")));
	cr_assert_eq(JINT(j3, "checks"), 40);
	cr_assert_eq(JINT(j3, "checks_failed"), 12);
	cr_assert_str_eq(JSTR(j3, "last_error"), "connect: Connection refused");
	json_decref(j);
}

Test(loomctl_svc, service_show_nat_and_absent)
{
	struct run *r = RUN("-i", inst, "service", "show", "egress");

	cr_assert_eq(r->status, 0, "%s", r->err);
	cr_assert(strstr(r->out, "  type            nat\n"), "%s", r->out);
	cr_assert(strstr(r->out, "  pool_addresses  4\n"), "%s", r->out);
	cr_assert(strstr(r->out, "  pool_mappings   1\n"), "%s", r->out);
	cr_assert(strstr(r->out, "  pool_fail       2\n"), "%s", r->out);
	cr_assert_null(strstr(r->out, "virtual"), "%s", r->out);
	cr_assert_null(strstr(r->out, "Backends"), "%s", r->out);

	r = RUN("-i", inst, "-j", "service", "get", "egress");
	cr_assert_eq(r->status, 0, "%s", r->err);
	json_t *j = parse(r), *s = json_object_get(j, "service");
	cr_assert_eq(JINT(s, "pool_fail"), 2);
	cr_assert_eq(json_array_size(json_object_get(s, "backends")), 0);
	json_decref(j);

	r = RUN("-i", inst, "service", "show", "nosuch");
	cr_assert_eq(r->status, 1);
	char want[128];
	snprintf(want, sizeof(want), "loomctl: no service 'nosuch' in instance '%s'\n", inst);
	cr_assert_str_eq(r->err, want);
	cr_assert_str_eq(r->out, "");
}

/* ---- backend ----------------------------------------------------------------------- */

Test(loomctl_svc, backend_list_all_and_one)
{
	struct run *r = RUN("-i", inst, "backend", "list");

	cr_assert_eq(r->status, 0, "%s", r->err);
	cr_assert(strstr(r->out, "Backends of instance "), "%s", r->out);
	cr_assert(strstr(line_with(r->out, "Backends of"), ": 4"), "%s", r->out);
	char hdr[1024];
	snprintf(hdr, sizeof(hdr), "%s", line_with(r->out, "SERVICE"));
	cr_assert_eq(col(hdr, "SERVICE"), 0);
	cr_assert_eq(lines_with(r->out, "\nweb "), 3, "%s", r->out);
	const char *v6 = line_with(r->out, "[2001:db8:2::11]:443");
	cr_assert(strncmp(v6, "web6 ", 5) == 0, "%s", v6);
	cr_assert_eq(v6[col(hdr, "HEALTH")], '-', "not checked: %s", v6);
	cr_assert_eq(v6[col(hdr, "LAST_CHECK")], '-', "never checked: %s", v6);

	r = RUN("-i", inst, "be", "web6");
	cr_assert_eq(r->status, 0, "%s", r->err);
	cr_assert(strstr(r->out, "Backends of service web6 of instance"), "%s", r->out);
	cr_assert(strstr(r->out, "[2001:db8:2::11]:443"));
	cr_assert_null(strstr(r->out, "10.2.0.11"), "only web6: %s", r->out);

	r = RUN("-i", inst, "backend", "list", "web", "--json");
	cr_assert_eq(r->status, 0, "%s", r->err);
	json_t *j = parse(r), *bs = json_object_get(j, "backends");
	cr_assert_str_eq(JSTR(j, "service"), "web");
	cr_assert_eq(json_array_size(bs), 3);
	for (size_t i = 0; i < 3; i++) {
		cr_assert_str_eq(JSTR(json_array_get(bs, i), "service"), "web");
		cr_assert_eq(JINT(json_array_get(bs, i), "svc_id"), 1);
		cr_assert_eq(JINT(json_array_get(bs, i), "id"), (json_int_t)i + 1);
	}
	json_decref(j);

	r = RUN("-i", inst, "-j", "backend");
	cr_assert_eq(r->status, 0, "%s", r->err);
	j = parse(r);
	bs = json_object_get(j, "backends");
	cr_assert_eq(json_array_size(bs), 4);
	cr_assert(json_is_null(json_object_get(j, "service")));
	json_t *u = json_array_get(bs, 3);
	cr_assert(json_is_null(json_object_get(u, "health")), "not checked");
	cr_assert(json_is_true(json_object_get(u, "up")));
	cr_assert(json_is_null(json_object_get(u, "last_check_ms_ago")));
	cr_assert_str_eq(JSTR(u, "endpoint"), "[2001:db8:2::11]:443");
	json_decref(j);

	r = RUN("-i", inst, "backend", "list", "nosuch");
	cr_assert_eq(r->status, 1, "%s", r->err);
	cr_assert(strstr(r->err, "no service 'nosuch'"), "%s", r->err);
}

/* ---- flow -------------------------------------------------------------------------- */

Test(loomctl_svc, flow_list_table)
{
	struct run *r = RUN("-i", inst, "flow", "list");

	cr_assert_eq(r->status, 0, "%s", r->err);
	cr_assert_str_eq(r->err, "");
	cr_assert(strstr(line_with(r->out, "Flow table of instance"), ": 10 entries, capacity 64"),
		  "%s", r->out);
	cr_assert(strstr(r->out, "\n5 flows shown\n"), "each flow once: %s", r->out);

	char hdr[1024];
	snprintf(hdr, sizeof(hdr), "%s", line_with(r->out, "PROTO"));
	const char *f1 = line_with(r->out, "192.0.2.1:40000");
	cr_assert_eq(col(f1, "192.0.2.1:40000"), col(hdr, "CLIENT"), "\n%s\n%s", hdr, f1);
	cr_assert_eq(col(f1, "10.9.0.1:80"), col(hdr, "VIRTUAL"), "\n%s\n%s", hdr, f1);
	cr_assert_eq(col(f1, "10.2.0.11:8080"), col(hdr, "SERVER"), "\n%s\n%s", hdr, f1);
	cr_assert_eq(col(f1, "established"), col(hdr, "STATE"), "\n%s\n%s", hdr, f1);
	cr_assert_eq(col(f1, "web "), col(hdr, "SERVICE"), "\n%s\n%s", hdr, f1);
	cr_assert(strncmp(f1, "tcp    lb    ", 13) == 0, "%s", f1);
	cr_assert(strstr(f1, " 5s ") || strstr(f1, " 6s "), "age, rounded up: %s", f1);
	cr_assert(strstr(f1, " 25s ") || strstr(f1, " 24s "), "expires: %s", f1);
	cr_assert(f1[strlen(f1) - 1] == '2', "two agents: %s", f1);

	const char *f6 = line_with(r->out, "[2001:db8:9::5]:50000");
	cr_assert(strstr(f6, "[2001:db8::1]:443"), "%s", f6);
	cr_assert(strstr(f6, "[2001:db8:2::11]:443"), "%s", f6);
	cr_assert(strstr(f6, " web6 "), "%s", f6);

	const char *fn = line_with(r->out, "10.1.0.5:33000");
	cr_assert_eq(col(fn, "10.1.0.5:33000"), col(hdr, "CLIENT"), "inside host:\n%s\n%s", hdr, fn);
	cr_assert_eq(col(fn, "198.51.100.1:61000"), col(hdr, "VIRTUAL"), "pool:\n%s\n%s", hdr, fn);
	cr_assert_eq(col(fn, "203.0.113.7:443"), col(hdr, "SERVER"), "server:\n%s\n%s", hdr, fn);
	cr_assert(strstr(fn, " nat "), "%s", fn);
	cr_assert(strstr(fn, " fin-wait "), "%s", fn);
	cr_assert(strstr(fn, " egress "), "%s", fn);

	const char *fu = line_with(r->out, "192.0.2.3:40002");
	cr_assert_eq(col(fu, " 99 ") + 1, col(hdr, "SERVICE"), "unknown service by id:\n%s\n%s",
		     hdr, fu);
	cr_assert(strstr(fu, " closing "), "%s", fu);
	cr_assert(fu[strlen(fu) - 1] == '0', "no agent: %s", fu);

	/* the reply entries are not rows of their own */
	cr_assert_eq(lines_with(r->out, "\ntcp "), 5, "%s", r->out);
}

Test(loomctl_svc, flow_list_json)
{
	struct run *r = RUN("-i", inst, "flow", "--json");

	cr_assert_eq(r->status, 0, "%s", r->err);
	json_t *j = parse(r), *fl = json_object_get(j, "flows");
	cr_assert_eq(json_array_size(fl), 5);
	cr_assert_eq(JINT(j, "shown"), 5);
	cr_assert_eq(JINT(j, "matched"), 5);
	cr_assert_eq(JINT(j, "entries"), 10);
	cr_assert_eq(JINT(j, "capacity"), 64);
	int seen = 0;
	for (size_t i = 0; i < json_array_size(fl); i++) {
		json_t *f = json_array_get(fl, i), *c = json_object_get(f, "client"),
		       *v = json_object_get(f, "virtual"), *s = json_object_get(f, "server");
		cr_assert_str_eq(JSTR(f, "proto_name"), "tcp");
		cr_assert(JINT(f, "age_ms") >= 5000 && JINT(f, "age_ms") < 15000);
		cr_assert(JINT(f, "expires_in_ms") > 15000 && JINT(f, "expires_in_ms") <= 25000);
		cr_assert_eq(JINT(f, "ttl_s"), 30);
		cr_assert_str_eq(JSTR(f, "owner"), "1234abcd5678ef01");
		cr_assert_str_eq(json_string_value(json_array_get(json_object_get(f, "flags"), 0)),
				 "counted");
		if (JINT(c, "port") == 40000) {
			seen |= 1;
			cr_assert_str_eq(JSTR(f, "type"), "lb");
			cr_assert_str_eq(JSTR(f, "state"), "established");
			cr_assert_str_eq(JSTR(f, "service"), "web");
			cr_assert_eq(JINT(f, "svc_id"), 1);
			cr_assert_eq(JINT(f, "backend_id"), 1);
			cr_assert_str_eq(JSTR(c, "address"), "192.0.2.1");
			cr_assert_str_eq(JSTR(v, "address"), "10.9.0.1");
			cr_assert_eq(JINT(v, "port"), 80);
			cr_assert_str_eq(JSTR(s, "address"), "10.2.0.11");
			cr_assert_eq(JINT(s, "port"), 8080);
			json_t *ag = json_object_get(f, "agents");
			cr_assert_eq(json_array_size(ag), 2);
			cr_assert_str_eq(json_string_value(json_array_get(ag, 1)), "00000000000000a1");
		} else if (JINT(c, "port") == 33000) {
			seen |= 2;
			cr_assert_str_eq(JSTR(f, "type"), "nat");
			cr_assert_str_eq(JSTR(f, "state"), "fin-wait");
			cr_assert_str_eq(JSTR(c, "address"), "10.1.0.5");
			cr_assert_str_eq(JSTR(v, "address"), "198.51.100.1");
			cr_assert_eq(JINT(v, "port"), 61000);
			cr_assert_str_eq(JSTR(s, "address"), "203.0.113.7");
		} else if (JINT(c, "port") == 50000) {
			seen |= 4;
			cr_assert_str_eq(JSTR(c, "address"), "2001:db8:9::5");
			cr_assert_str_eq(JSTR(f, "service"), "web6");
		} else if (JINT(c, "port") == 40002) {
			seen |= 8;
			cr_assert(json_is_null(json_object_get(f, "service")), "unknown service");
			cr_assert_eq(JINT(f, "svc_id"), 99);
			cr_assert_eq(json_array_size(json_object_get(f, "agents")), 0);
		}
	}
	cr_assert_eq(seen, 15);
	json_decref(j);
}

static json_int_t count_flows(const char *const *args)
{
	struct run *r = run_env(NULL, args);

	cr_assert_eq(r->status, 0, "%s", r->err);
	json_t *j = parse(r);
	json_int_t n = (json_int_t)json_array_size(json_object_get(j, "flows"));
	cr_assert_eq(n, JINT(j, "shown"));
	json_decref(j);
	return n;
}

#define COUNT(...) count_flows((const char *const[]){ "-i", inst, "-j", "flow", __VA_ARGS__, NULL })

Test(loomctl_svc, flow_list_filters_and_limit)
{
	cr_assert_eq(COUNT("list", "--service", "web"), 2);
	cr_assert_eq(COUNT("list", "-s", "egress"), 1);
	cr_assert_eq(COUNT("list", "--service", "99"), 1, "an id the snapshot does not know");
	cr_assert_eq(COUNT("list", "--state", "established"), 2);
	cr_assert_eq(COUNT("list", "--service", "web", "-t", "new"), 1);
	cr_assert_eq(COUNT("list", "--state", "dead"), 0);
	cr_assert_eq(COUNT("list", "--limit", "3"), 3);

	struct run *r = RUN("-i", inst, "flow", "list", "-n", "2", "--state", "established");
	cr_assert_eq(r->status, 0, "%s", r->err);
	cr_assert(strstr(r->out, "\n2 flows shown\n"), "%s", r->out);
	r = RUN("-i", inst, "flow", "list", "-n", "1");
	cr_assert_eq(r->status, 0, "%s", r->err);
	cr_assert(strstr(r->out, "\n1 flows shown, 4 more (--limit 1)\n"), "%s", r->out);
	r = RUN("-i", inst, "flow", "list", "--service", "web", "--state", "established");
	cr_assert_eq(r->status, 0, "%s", r->err);
	cr_assert(strstr(r->out, "192.0.2.1:40000"), "%s", r->out);
	cr_assert_null(strstr(r->out, "192.0.2.2:40001"), "a new flow: %s", r->out);

	r = RUN("-i", inst, "flow", "list", "--service", "nosuch");
	cr_assert_eq(r->status, 1);
	cr_assert(strstr(r->err, "no service 'nosuch'"), "%s", r->err);
	cr_assert_str_eq(r->out, "");
}

Test(loomctl_svc, flow_stats_text_and_json)
{
	struct run *r = RUN("-i", inst, "flow", "stats", "--json");

	cr_assert_eq(r->status, 0, "%s", r->err);
	json_t *j = parse(r), *t = json_object_get(j, "table"), *bt = json_object_get(j, "by_type"),
	       *bs = json_object_get(j, "by_state"), *sg = json_object_get(j, "segment");
	cr_assert_eq(JINT(t, "flows"), 5);
	cr_assert_eq(JINT(t, "entries"), 10);
	cr_assert_eq(JINT(t, "reply_entries"), 5);
	cr_assert_eq(JINT(t, "writer_count"), 10);
	cr_assert_eq(JINT(t, "capacity"), 64);
	cr_assert_float_eq(json_real_value(json_object_get(t, "fill_pct")), 15.625, 1e-9);
	cr_assert_eq(JINT(bt, "lb"), 4);
	cr_assert_eq(JINT(bt, "nat"), 1);
	cr_assert_eq(JINT(bt, "seen"), 0);
	cr_assert_eq(JINT(bt, "other"), 0);
	cr_assert_eq(JINT(bs, "new"), 1);
	cr_assert_eq(JINT(bs, "established"), 2);
	cr_assert_eq(JINT(bs, "fin-wait"), 1);
	cr_assert_eq(JINT(bs, "closing"), 1);
	cr_assert_eq(JINT(bs, "dead"), 0);
	cr_assert_eq(JINT(sg, "writer_pid"), getpid());
	cr_assert(json_is_true(json_object_get(sg, "writer_alive")));
	cr_assert_eq(JINT(json_object_get(sg, "rcu"), "readers_in_section"), 0);
	const char *k;
	json_t *v;
	json_object_foreach(json_object_get(j, "reader_errors"), k, v)
		cr_assert_eq(json_integer_value(v), 0, "%s", k);
	json_decref(j);

	r = RUN("-i", inst, "flow", "stats");
	cr_assert_eq(r->status, 0, "%s", r->err);
	cr_assert(strstr(line_with(r->out, "flows  "), " 5"), "%s", r->out);
	cr_assert(strstr(line_with(r->out, "fill"), "15.6%"), "%s", r->out);
	cr_assert(strstr(line_with(r->out, "\nlb "), " 4"), "%s", r->out);
	cr_assert(strstr(line_with(r->out, "\nestablished "), " 2"), "%s", r->out);
	char pid[16];
	snprintf(pid, sizeof(pid), " %d ", (int)getpid());
	cr_assert(strstr(line_with(r->out, "\nflow "), pid), "writer pid: %s", r->out);
}

/* ---- errors ------------------------------------------------------------------------ */

Test(loomctl_svc, missing_instance)
{
	static const char *const cmds[][3] = {
		{ "flow", "list", NULL }, { "flow", "stats", NULL },
	};
	for (size_t i = 0; i < 2; i++) {
		struct run *r = RUN("-i", "nosuchsvc", cmds[i][0], cmds[i][1]);
		cr_assert_eq(r->status, 1, "%s", r->err);
		cr_assert_str_eq(r->err, "loomctl: no flow table for instance 'nosuchsvc' "
					 "(is loom-svc-mgr running?)\n");
		cr_assert_str_eq(r->out, "");
	}
	struct run *r = RUN("-i", "nosuchsvc", "service");
	cr_assert_eq(r->status, 1);
	cr_assert_str_eq(r->err, "loomctl: no services table for instance 'nosuchsvc' "
				 "(is loom-svc-mgr running?)\n");
	r = RUN("-i", "nosuchsvc", "backend", "list", "web");
	cr_assert_eq(r->status, 1);
	r = RUN("-i", "bad/name", "flow");
	cr_assert_eq(r->status, 2, "%s", r->err);
}

/* Publish a services snapshot of len bytes shaped by fill. */
static void publish_raw(struct shm_snap *s, size_t len, void (*fill)(struct svcs_hdr *h))
{
	struct svcs_hdr *h = shm_snap_alloc(s, len);

	cr_assert_not_null(h);
	memset(h, 0, len);
	h->magic = SVCS_MAGIC;
	fill(h);
	cr_assert_eq(shm_snap_publish(s, h, len), 0);
}

static void too_many(struct svcs_hdr *h)
{
	h->nsvc = 100000; /* beyond SVCS_MAX_SERVICES and the bytes published */
}

static void first_out_of_range(struct svcs_hdr *h)
{
	h->nsvc = 1;
	h->nbackend = 1;
	svc(h, 0)->nb = 1;
	svc(h, 0)->first = 5;
}

static void nb_past_end(struct svcs_hdr *h)
{
	h->nsvc = 1;
	h->nbackend = 1;
	svc(h, 0)->nb = 0xffff;
	svc(h, 0)->first = 0;
}

static void nbackend_beyond_bytes(struct svcs_hdr *h)
{
	h->nsvc = 1;
	h->nbackend = 8; /* only room for one */
}

/*
 * A services snapshot that lies about its counts or indexes: the service
 * views refuse it with an error (exit 3), the flow listing goes on with
 * service ids and a warning. Nothing crashes.
 */
Test(loomctl_svc, corrupt_services_snapshot)
{
	static void (*const fills[])(struct svcs_hdr *) = { too_many, first_out_of_range,
							   nb_past_end, nbackend_beyond_bytes };
	char other[40];
	struct shm_table *t;
	struct shm_snap *s;

	snprintf(other, sizeof(other), "%s-c", inst);
	open_tables(other, &t, &s);
	add_flow(t, FLOW_T_LB, FLOW_S_EST, 1, "192.0.2.1", 40000, "10.9.0.1", 80, "10.2.0.11",
		 8080, 1);
	for (size_t i = 0; i < sizeof(fills) / sizeof(fills[0]); i++) {
		publish_raw(s, svcs_size(1, 1), fills[i]);
		const char *const cmds[][4] = {
			{ "service", "list", NULL }, { "service", "show", "web", NULL },
			{ "backend", NULL }, { "-j", "service", NULL },
		};
		for (size_t c = 0; c < sizeof(cmds) / sizeof(cmds[0]); c++) {
			struct run *r = run_env(NULL, (const char *const[]){ "-i", other, cmds[c][0],
								  cmds[c][1], cmds[c][2], NULL });
			cr_assert_eq(r->status, 3, "case %zu/%zu: exit %d %s", i, c, r->status, r->err);
			cr_assert(strstr(r->err, "services snapshot of instance"), "%s", r->err);
			cr_assert(strstr(r->err, "is invalid"), "%s", r->err);
			cr_assert_str_eq(r->out, "", "case %zu/%zu: nothing shown", i, c);
		}
		struct run *r = RUN("-i", other, "flow", "list");
		cr_assert_eq(r->status, 0, "case %zu: %s", i, r->err);
		cr_assert(strstr(r->err, "warning: no services of instance"), "%s", r->err);
		const char *f = line_with(r->out, "192.0.2.1:40000");
		cr_assert(strstr(f, " 1 "), "service by id: %s", f);
	}
	/* names without a terminator or with terminal escapes are cut and
	 * made printable */
	size_t len = svcs_size(1, 1);
	struct svcs_hdr *h = shm_snap_alloc(s, len);
	cr_assert_not_null(h);
	memset(h, 0, len);
	h->magic = SVCS_MAGIC;
	h->nsvc = 1;
	h->nbackend = 1;
	memset(svc(h, 0)->name, 'A', sizeof(svc(h, 0)->name));
	svc(h, 0)->name[2] = '\x1b';
	svc(h, 0)->id = 1;
	svc(h, 0)->nb = 1;
	backend(h, 0)->checked = 1;
	memset(backend(h, 0)->last_error, '\n', sizeof(backend(h, 0)->last_error));
	cr_assert_eq(shm_snap_publish(s, h, len), 0);
	struct run *r = RUN("-i", other, "backend");
	int st = r->status;
	char *out = strdup(r->out);
	r = RUN("-i", other, "-j", "flow");
	close_tables(other, t, s);

	cr_assert_eq(st, 0);
	cr_assert(strstr(out, "\nAA?AAAAAAAAAAAAAAAAAAAAAAAAAAAA  "), "31 characters: %s", out);
	cr_assert(strstr(out, "??????????"), "%s", out);
	cr_assert_null(strstr(out, "\x1b"), "%s", out);
	cr_assert_eq(lines_with(out, "\n"), 3, "heading, header, one row: %s", out);
	free(out);
	cr_assert_eq(r->status, 0, "%s", r->err);
	json_t *j = parse(r);
	cr_assert_str_eq(JSTR(json_array_get(json_object_get(j, "flows"), 0), "service"),
			 "AA?AAAAAAAAAAAAAAAAAAAAAAAAAAAA");
	json_decref(j);
}

/* A flow table of another layout version is refused, not guessed at. */
Test(loomctl_svc, wrong_flow_layout)
{
	char other[40];
	struct shm_table *t;
	struct shm_table_geom g = { .capacity = 16, .value_size = FLOW_VALUE_SIZE,
				    .value_kind = FLOW_KIND, .value_version = FLOW_VERSION + 1,
				    .lanes = 1, .rcu_slots = 4 };

	snprintf(other, sizeof(other), "%s-v", inst);
	cr_assert_eq(shm_table_open_writer(other, "flow", &g, NULL, &t, NULL), 0);
	struct run *r = RUN("-i", other, "flow", "stats");
	close_tables(other, t, NULL);
	cr_assert_eq(r->status, 3, "%s", r->err);
	cr_assert(strstr(r->err, "has a layout this loomctl does not understand (it reads "
				 "flow-table layout 1)"), "%s", r->err);
}

Test(loomctl_svc, usage_errors)
{
	static const char *const cases[][6] = {
		{ "service", "frob", NULL },
		{ "service", "show", NULL },
		{ "service", "show", "a", "b", NULL },
		{ "service", "list", "--limit", "3", NULL },
		{ "flow", "list", "--state", "bogus", NULL },
		{ "flow", "list", "--service", NULL },
		{ "flow", "stats", "--service", "web", NULL },
		{ "flow", "frob", NULL },
		{ "backend", "web", "extra", NULL },
		{ "affinity", "stats", "--limit", "3", NULL },
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
}
