// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * `loomctl service ...` and `loomctl backend ...`: a service manager's
 * services and their backends, as it publishes them in
 * loom.<instance>.services (common/services.h), like `ipvsadm -L -n`.
 *
 * The snapshot is copied whole and validated by ctl_read.c; everything here
 * formats that private copy. Text and JSON of each view sit side by side.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

static const char *const svc_types[] = { "lb", "nat", "observe" };
static const char *const algorithms[] = { "rr", "wrr", "wlc", "maglev" };

const char *ctl_svc_type_name(uint8_t type, char *buf, size_t len)
{
	if (type < LOOM_ARRAY_SIZE(svc_types))
		return svc_types[type];
	snprintf(buf, len, "%u", type);
	return buf;
}

static bool is_lb(const struct svcs_service *s)
{
	return s->type == 0;
}

static bool is_nat(const struct svcs_service *s)
{
	return s->type == 1;
}

/* NULL when the service type has no scheduler (nat, observe). */
static const char *alg_name(const struct svcs_service *s, char *buf, size_t len)
{
	if (!is_lb(s))
		return NULL;
	if (s->algorithm < LOOM_ARRAY_SIZE(algorithms))
		return algorithms[s->algorithm];
	snprintf(buf, len, "%u", s->algorithm);
	return buf;
}

/* "10.9.0.1:80", "[2001:db8::1]:80", "10.9.0.1:*" for every port; port in
 * host order as the snapshot keeps it. */
static void hport(const uint8_t a[16], uint16_t port, char *buf, size_t len)
{
	char s[CTL_ADDR_LEN];

	if (port) {
		ctl_addr_port(a, htons(port), buf, len);
		return;
	}
	ctl_addr(a, s, sizeof(s));
	snprintf(buf, len, key_addr_is_v4(a) ? "%s:*" : "[%s]:*", s);
}

static void u64_text(uint64_t v, char *buf, size_t len)
{
	snprintf(buf, len, "%" PRIu64, v);
}

static uint32_t backends_up(const struct ctl_svcs *s, const struct svcs_service *svc)
{
	uint32_t up = 0;

	/* svcs_view checked first + nb against nbackend */
	for (uint32_t i = 0; i < svc->nb; i++)
		up += s->v.backend[svc->first + i].up != 0;
	return up;
}

static const char *order_name(const struct svcs_service *svc)
{
	return svc->precedence_lower ? "lower" : "higher";
}

static int read_or_explain(const struct ctl_opts *o, struct ctl_svcs *s)
{
	int r = ctl_svcs_read(o->instance, s);

	switch (r) {
	case 0:
		return CTL_EXIT_OK;
	case -ENODATA:
		fprintf(stderr, "loomctl: instance '%s' has not published its services yet; "
				"try again\n", o->instance);
		return CTL_EXIT_FAIL;
	case -EBADMSG:
		fprintf(stderr, "loomctl: the services snapshot of instance '%s' is invalid "
				"(a count or index out of range); nothing shown\n", o->instance);
		return CTL_EXIT_FAIL;
	default:
		return ctl_open_error(o->instance, "services", "loom-svc-mgr", "services-snapshot",
				      SVCS_VERSION, r);
	}
}

/* ---- JSON values ---------------------------------------------------------------- */

static json_t *j_backend(const struct svcs_service *svc, const struct svcs_backend *b)
{
	char ep[CTL_ADDR_LEN + 8];
	json_t *o = json_object();

	if (!o)
		return NULL;
	hport(b->addr, b->port, ep, sizeof(ep));
	ctl_json_set(o, "service", json_string(svc->name));
	ctl_json_set(o, "svc_id", json_integer(b->svc_id));
	ctl_json_set(o, "id", json_integer(b->id));
	ctl_json_set(o, "address", ctl_json_addr(b->addr));
	ctl_json_set(o, "port", json_integer(b->port));
	ctl_json_set(o, "endpoint", json_string(ep));
	ctl_json_set(o, "weight", json_integer(b->weight));
	ctl_json_set(o, "drained", json_boolean(b->weight == 0));
	ctl_json_set(o, "up", json_boolean(b->up));
	ctl_json_set(o, "checked", json_boolean(b->checked));
	ctl_json_set(o, "health", b->checked ? json_string(b->up ? "up" : "down") : json_null());
	ctl_json_set(o, "conns", json_integer(b->conns));
	ctl_json_set(o, "decided", ctl_json_u64(b->decided));
	ctl_json_set(o, "checks", ctl_json_u64(b->checks));
	ctl_json_set(o, "checks_failed", ctl_json_u64(b->checks_failed));
	ctl_json_set(o, "last_check_ms_ago", b->last_check_ms_ago == UINT32_MAX
						     ? json_null()
						     : json_integer(b->last_check_ms_ago));
	ctl_json_set(o, "last_error", b->last_error[0] ? json_string(b->last_error) : json_null());
	return o;
}

static json_t *j_service(const struct ctl_svcs *s, const struct svcs_service *svc,
			 bool with_backends)
{
	char ep[CTL_ADDR_LEN + 8], pb[16], ab[16];
	const char *alg = alg_name(svc, ab, sizeof(ab));
	json_t *o = json_object();

	if (!o)
		return NULL;
	ctl_json_set(o, "name", json_string(svc->name));
	ctl_json_set(o, "id", json_integer(svc->id));
	ctl_json_set(o, "type", json_string(ctl_svc_type_name(svc->type, pb, sizeof(pb))));
	ctl_json_set(o, "active", json_boolean(svc->active));
	ctl_json_set(o, "proto", json_integer(svc->proto));
	ctl_json_set(o, "proto_name", json_string(ctl_proto_name(svc->proto, pb, sizeof(pb))));
	if (is_nat(svc)) {
		ctl_json_set(o, "address", json_null());
		ctl_json_set(o, "port", json_null());
		ctl_json_set(o, "virtual", json_null());
	} else {
		hport(svc->addr, svc->port, ep, sizeof(ep));
		ctl_json_set(o, "address", ctl_json_addr(svc->addr));
		ctl_json_set(o, "port", json_integer(svc->port));
		ctl_json_set(o, "virtual", json_string(ep));
	}
	ctl_json_set(o, "algorithm", alg ? json_string(alg) : json_null());
	ctl_json_set(o, "backends_up", json_integer(backends_up(s, svc)));
	ctl_json_set(o, "backends_total", json_integer(svc->nb));
	ctl_json_set(o, "active_flows", ctl_json_u64(svc->active_flows));
	ctl_json_set(o, "decided", ctl_json_u64(svc->decided));
	ctl_json_set(o, "answered", ctl_json_u64(svc->answered));
	ctl_json_set(o, "dropped", ctl_json_u64(svc->dropped));
	ctl_json_set(o, "precedence", json_integer(svc->precedence));
	ctl_json_set(o, "precedence_order", json_string(order_name(svc)));
	ctl_json_set(o, "backup_precedence", json_integer(svc->backup_precedence));
	ctl_json_set(o, "persistence_ms", ctl_json_u64(svc->persistence_ms));
	if (is_nat(svc)) {
		ctl_json_set(o, "pool_addresses", json_integer(svc->pool_addresses));
		ctl_json_set(o, "pool_mappings", ctl_json_u64(svc->pool_mappings));
		ctl_json_set(o, "pool_fail", ctl_json_u64(svc->pool_fail));
	}
	if (with_backends) {
		json_t *arr = json_array();
		for (uint32_t i = 0; arr && i < svc->nb; i++)
			json_array_append_new(arr, j_backend(svc, &s->v.backend[svc->first + i]));
		ctl_json_set(o, "backends", arr);
	}
	return o;
}

/* The fields every services document starts with. */
static void j_head(struct ctl_json *w, const struct ctl_opts *o, const struct ctl_svcs *s,
		   uint64_t now_ms)
{
	const struct svcs_hdr *h = s->v.hdr;

	ctl_json_key(w, "instance");
	ctl_json_val(w, json_string(o->instance));
	ctl_json_key(w, "now_ms");
	ctl_json_val(w, ctl_json_u64(now_ms));
	ctl_json_key(w, "generation");
	ctl_json_val(w, ctl_json_u64(s->generation));
	ctl_json_key(w, "built_ms");
	ctl_json_val(w, ctl_json_u64(h->built_ms));
	ctl_json_key(w, "age_ms");
	ctl_json_val(w, ctl_json_u64(ctl_age_ms(h->built_ms, now_ms)));
	ctl_json_key(w, "owner");
	ctl_json_val(w, ctl_json_id(h->owner));
	ctl_json_key(w, "agents");
	ctl_json_val(w, json_integer(h->agents));
	ctl_json_key(w, "flows");
	ctl_json_val(w, ctl_json_u64(h->flows));
	ctl_json_key(w, "flow_capacity");
	ctl_json_val(w, ctl_json_u64(h->flow_capacity));
}

/* ---- text rows -------------------------------------------------------------------- */

static const struct ctl_tbl_col svc_cols[] = {
	{ "NAME", false },    { "TYPE", false },    { "PROTO", false },   { "VIRTUAL", false },
	{ "ALG", false },     { "BACKENDS", true }, { "FLOWS", true },    { "DECIDED", true },
	{ "ANSWERED", true }, { "DROPPED", true },  { "PREC", false },    { "BACKUP", true },
};

static int svc_row(struct ctl_tbl *t, const struct ctl_svcs *s, const struct svcs_service *svc)
{
	char name[48], tb[16], pb[16], ab[16], vip[CTL_ADDR_LEN + 8], be[24], fl[24], dec[24],
		ans[24], drop[24], prec[32], bk[16];
	const char *alg = alg_name(svc, ab, sizeof(ab));

	snprintf(name, sizeof(name), "%s%s", svc->name, svc->active ? "" : " (withdrawn)");
	if (is_nat(svc))
		snprintf(vip, sizeof(vip), "-");
	else
		hport(svc->addr, svc->port, vip, sizeof(vip));
	if (is_nat(svc) && svc->nb == 0)
		snprintf(be, sizeof(be), "-");
	else
		snprintf(be, sizeof(be), "%u/%u", backends_up(s, svc), svc->nb);
	u64_text(svc->active_flows, fl, sizeof(fl));
	u64_text(svc->decided, dec, sizeof(dec));
	u64_text(svc->answered, ans, sizeof(ans));
	u64_text(svc->dropped, drop, sizeof(drop));
	snprintf(prec, sizeof(prec), "%u %s", svc->precedence, order_name(svc));
	snprintf(bk, sizeof(bk), "%u", svc->backup_precedence);
	const char *cells[] = { name, ctl_svc_type_name(svc->type, tb, sizeof(tb)),
				ctl_proto_name(svc->proto, pb, sizeof(pb)), vip, alg ? alg : "-",
				be, fl, dec, ans, drop, prec, bk };
	return ctl_tbl_row(t, cells);
}

static const struct ctl_tbl_col be_cols[] = {
	{ "SERVICE", false }, { "ADDRESS", false }, { "WEIGHT", true },   { "HEALTH", false },
	{ "CONNS", true },    { "DECIDED", true },  { "CHECKS", true },   { "FAILED", true },
	{ "LAST_CHECK", false }, { "LAST_ERROR", false },
};

/* with_svc false: the SERVICE column is left out (service show). */
static int be_row(struct ctl_tbl *t, const struct svcs_service *svc, const struct svcs_backend *b,
		  bool with_svc)
{
	char ep[CTL_ADDR_LEN + 8], w[16], conns[16], dec[24], ck[24], fail[24], d[16], last[24];

	hport(b->addr, b->port, ep, sizeof(ep));
	if (b->weight)
		snprintf(w, sizeof(w), "%u", b->weight);
	else
		snprintf(w, sizeof(w), "drained");
	snprintf(conns, sizeof(conns), "%u", b->conns);
	u64_text(b->decided, dec, sizeof(dec));
	u64_text(b->checks, ck, sizeof(ck));
	u64_text(b->checks_failed, fail, sizeof(fail));
	if (b->last_check_ms_ago == UINT32_MAX) {
		snprintf(last, sizeof(last), "-");
	} else {
		ctl_duration(b->last_check_ms_ago, d, sizeof(d));
		snprintf(last, sizeof(last), "%s ago", d);
	}
	const char *cells[] = { svc->name, ep, w, b->checked ? (b->up ? "up" : "down") : "-",
				conns, dec, ck, fail, last,
				b->last_error[0] ? b->last_error : "-" };
	return ctl_tbl_row(t, with_svc ? cells : cells + 1);
}

static void svcs_heading(const struct ctl_opts *o, const struct ctl_svcs *s, uint64_t now_ms)
{
	const struct svcs_hdr *h = s->v.hdr;
	char age[24];

	ctl_duration(ctl_age_ms(h->built_ms, now_ms), age, sizeof(age));
	printf("Services of instance %s: %u (snapshot generation %" PRIu64 ", built %s ago)\n",
	       o->instance, h->nsvc, s->generation, age);
	printf("Agents connected: %u  Flows: %" PRIu64 "/%" PRIu64 "\n", h->agents, h->flows,
	       h->flow_capacity);
}

/* ---- service list ----------------------------------------------------------------- */

int ctl_cmd_svc_list(const struct ctl_opts *o)
{
	struct ctl_svcs s;
	struct ctl_json jw;
	int err = 0, r = read_or_explain(o, &s);

	if (r)
		return r;
	uint64_t now_ms = ctl_now_ms();
	if (o->json) {
		ctl_json_init(&jw, stdout);
		ctl_json_obj(&jw);
		j_head(&jw, o, &s, now_ms);
		ctl_json_key(&jw, "services");
		ctl_json_arr(&jw);
		for (uint32_t i = 0; i < s.v.hdr->nsvc; i++)
			ctl_json_val(&jw, j_service(&s, &s.v.svc[i], false));
		ctl_json_end(&jw);
		ctl_json_end(&jw);
	} else {
		struct ctl_tbl t;

		svcs_heading(o, &s, now_ms);
		ctl_tbl_init(&t, stdout, svc_cols, LOOM_ARRAY_SIZE(svc_cols));
		for (uint32_t i = 0; i < s.v.hdr->nsvc; i++)
			if (svc_row(&t, &s, &s.v.svc[i]) < 0)
				err = -ENOMEM;
		ctl_tbl_flush(&t);
		ctl_tbl_free(&t);
	}
	ctl_svcs_free(&s);
	return ctl_finish(o->json ? &jw : NULL, err);
}

/* ---- service show ----------------------------------------------------------------- */

LOOM_PRINTF(2, 3)
static void field(const char *name, const char *fmt, ...)
{
	va_list ap;

	printf("  %-15s ", name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

static void show_text(const struct ctl_svcs *s, const struct svcs_service *svc)
{
	char b[CTL_ADDR_LEN + 8], ab[16];
	const char *alg = alg_name(svc, ab, sizeof(ab));

	printf("Service %s (id %u)\n", svc->name, svc->id);
	field("type", "%s", ctl_svc_type_name(svc->type, b, sizeof(b)));
	field("state", "%s", svc->active ? "active" : "withdrawn");
	field("protocol", "%s", ctl_proto_name(svc->proto, b, sizeof(b)));
	if (!is_nat(svc)) {
		hport(svc->addr, svc->port, b, sizeof(b));
		field("virtual", "%s", b);
	}
	if (alg)
		field("algorithm", "%s", alg);
	field("precedence", "%u (%s wins)", svc->precedence, order_name(svc));
	field("backup_prec", "%u", svc->backup_precedence);
	if (svc->persistence_ms)
		ctl_duration(svc->persistence_ms, b, sizeof(b));
	field("persistence", "%s", svc->persistence_ms ? b : "-");
	field("active_flows", "%" PRIu64, svc->active_flows);
	field("decided", "%" PRIu64, svc->decided);
	field("answered", "%" PRIu64, svc->answered);
	field("dropped", "%" PRIu64, svc->dropped);
	if (is_nat(svc)) {
		field("pool_addresses", "%u", svc->pool_addresses);
		field("pool_mappings", "%" PRIu64, svc->pool_mappings);
		field("pool_fail", "%" PRIu64, svc->pool_fail);
	}
	if (is_nat(svc) && svc->nb == 0)
		return;
	field("backends", "%u up of %u", backends_up(s, svc), svc->nb);

	struct ctl_tbl t;
	printf("\nBackends: %u\n", svc->nb);
	ctl_tbl_init(&t, stdout, be_cols + 1, LOOM_ARRAY_SIZE(be_cols) - 1);
	for (uint32_t i = 0; i < svc->nb; i++)
		be_row(&t, svc, &s->v.backend[svc->first + i], false);
	ctl_tbl_flush(&t);
	ctl_tbl_free(&t);
}

static int no_service(const struct ctl_opts *o, const char *name)
{
	fprintf(stderr, "loomctl: no service '%s' in instance '%s'\n", name, o->instance);
	return CTL_EXIT_NOT_FOUND;
}

int ctl_cmd_svc_show(const struct ctl_opts *o, const char *name)
{
	struct ctl_svcs s;
	struct ctl_json jw;
	int r = read_or_explain(o, &s);

	if (r)
		return r;
	const struct svcs_service *svc = ctl_svcs_by_name(&s, name);
	if (!svc) {
		ctl_svcs_free(&s);
		return no_service(o, name);
	}
	if (o->json) {
		ctl_json_init(&jw, stdout);
		ctl_json_obj(&jw);
		j_head(&jw, o, &s, ctl_now_ms());
		ctl_json_key(&jw, "service");
		ctl_json_val(&jw, j_service(&s, svc, true));
		ctl_json_end(&jw);
	} else {
		show_text(&s, svc);
	}
	ctl_svcs_free(&s);
	return ctl_finish(o->json ? &jw : NULL, 0);
}

/* ---- backend list ----------------------------------------------------------------- */

int ctl_cmd_backend_list(const struct ctl_opts *o, const char *service)
{
	const struct svcs_service *only = NULL;
	struct ctl_svcs s;
	struct ctl_json jw;
	struct ctl_tbl t;
	int err = 0, r = read_or_explain(o, &s);

	if (r)
		return r;
	if (service && !(only = ctl_svcs_by_name(&s, service))) {
		ctl_svcs_free(&s);
		return no_service(o, service);
	}
	uint32_t total = 0;
	for (uint32_t i = 0; i < s.v.hdr->nsvc; i++)
		if (!only || only == &s.v.svc[i])
			total += s.v.svc[i].nb;

	if (o->json) {
		ctl_json_init(&jw, stdout);
		ctl_json_obj(&jw);
		j_head(&jw, o, &s, ctl_now_ms());
		ctl_json_key(&jw, "service");
		ctl_json_val(&jw, only ? json_string(only->name) : json_null());
		ctl_json_key(&jw, "backends");
		ctl_json_arr(&jw);
	} else {
		printf("Backends of %s%s%sinstance %s: %u\n", only ? "service " : "",
		       only ? only->name : "", only ? " of " : "", o->instance, total);
		ctl_tbl_init(&t, stdout, be_cols, LOOM_ARRAY_SIZE(be_cols));
	}
	for (uint32_t i = 0; i < s.v.hdr->nsvc; i++) {
		const struct svcs_service *svc = &s.v.svc[i];
		if (only && only != svc)
			continue;
		for (uint32_t k = 0; k < svc->nb; k++) {
			const struct svcs_backend *b = &s.v.backend[svc->first + k];
			if (o->json)
				ctl_json_val(&jw, j_backend(svc, b));
			else if (be_row(&t, svc, b, true) < 0)
				err = -ENOMEM;
		}
	}
	if (o->json) {
		ctl_json_end(&jw);
		ctl_json_end(&jw);
	} else {
		ctl_tbl_flush(&t);
		ctl_tbl_free(&t);
	}
	ctl_svcs_free(&s);
	return ctl_finish(o->json ? &jw : NULL, err);
}

/* ---- one document for other programs ------------------------------------------------ */

int ctl_svcmgr_doc(const char *instance, json_t **out)
{
	struct ctl_svcs s;
	int r = ctl_svcs_read(instance, &s);

	*out = NULL;
	if (r < 0)
		return r;
	json_t *doc = json_object(), *svcs = json_array();
	if (!doc || !svcs) {
		json_decref(doc);
		json_decref(svcs);
		ctl_svcs_free(&s);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < s.v.hdr->nsvc; i++)
		json_array_append_new(svcs, j_service(&s, &s.v.svc[i], true));
	ctl_json_set(doc, "instance", json_string(instance));
	ctl_json_set(doc, "generation", ctl_json_u64(s.generation));
	ctl_json_set(doc, "agents", json_integer(s.v.hdr->agents));
	ctl_json_set(doc, "flows", ctl_json_u64(s.v.hdr->flows));
	ctl_json_set(doc, "services", svcs);
	ctl_svcs_free(&s);
	*out = doc;
	return 0;
}
