// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * `loomctl flow ...`: a service manager's flow table (common/flow.h), like
 * `conntrack -L`.
 *
 * The table is walked as the fixed affinities are (ctl_read.c): CTL_PIECE
 * entries per read-side section, each entry copied under its version, the
 * section dropped before a piece is filtered or shown, the walk cut at the
 * table's capacity and required to move forward. A flow is two entries; the
 * listing shows each flow once, from its ORIG entry. Service names come
 * from the services snapshot (copied once at the start); a flow whose
 * service is unknown there is shown with its id.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

/* ---- names ---------------------------------------------------------------------- */

#define STATE_NAME(name, num, str) [num] = str,
static const char *const state_names[] = { FLOW_STATE_LIST(STATE_NAME) };
#undef STATE_NAME

/* Indexed by enum flow_type; 0 is not a type. */
static const char *const type_names[] = { NULL, "lb", "nat", "seen", "pass" };

static const char *const flag_names[] = { "fin-orig", "fin-reply", "rst", "no-interest",
					  "counted", "direct", "bytes" };

const char *ctl_flow_type_name(uint8_t type, char *buf, size_t len)
{
	if (type < LOOM_ARRAY_SIZE(type_names) && type_names[type])
		return type_names[type];
	snprintf(buf, len, "%u", type);
	return buf;
}

const char *ctl_flow_state_name(uint8_t state, char *buf, size_t len)
{
	if (state < LOOM_ARRAY_SIZE(state_names) && state_names[state])
		return state_names[state];
	snprintf(buf, len, "%u", state);
	return buf;
}

int ctl_parse_flow_state(const char *s)
{
	for (size_t i = 0; i < LOOM_ARRAY_SIZE(state_names); i++)
		if (state_names[i] && !strcmp(s, state_names[i]))
			return (int)i;
	return -EINVAL;
}

/* ---- reading -------------------------------------------------------------------- */

struct flow_row {
	struct flow_key key;
	struct flow_rec r;
};

struct flows {
	struct shm_table *t;
	struct shm_table_geom geom;
	struct shm_rcu_reader rd;
	bool reg;
	struct ctl_rerr err;
};

struct flow_piece {
	struct flows *f;
	struct flow_row rows[CTL_PIECE_ROOM];
	size_t n;
};

static void flows_close(struct flows *f)
{
	if (f->reg)
		shm_table_reader_unregister(&f->rd);
	if (f->t)
		shm_table_close(f->t);
	memset(f, 0, sizeof(*f));
}

/* Attach and register, or explain why not: an exit code. */
static int flows_open(const struct ctl_opts *o, struct flows *f)
{
	int r;

	memset(f, 0, sizeof(*f));
	r = shm_table_open_reader(o->instance, "flow", FLOW_KIND, FLOW_VERSION, &f->t, &f->geom);
	/* every copy below is sizeof(struct flow_rec): a table that says
	 * otherwise is not one we understand */
	if (r == 0 && f->geom.value_size != FLOW_VALUE_SIZE)
		r = -EPROTO;
	if (r == 0)
		r = shm_table_reader_register(f->t, &f->rd);
	if (r < 0) {
		flows_close(f);
		return ctl_open_error(o->instance, "flow", "loom-svc-mgr", "flow-table",
				      FLOW_VERSION, r);
	}
	f->reg = true;
	return CTL_EXIT_OK;
}

/* Inside the read-side section: copy, nothing else. */
static int piece_cb(const struct shm_entry *e, uint32_t idx, void *arg)
{
	struct flow_piece *p = arg;

	(void)idx;
	if (p->n == CTL_PIECE_ROOM) {
		p->f->err.overflow++;
		return 0;
	}
	if (shm_entry_read(p->f->t, e, &p->rows[p->n].key, &p->rows[p->n].r) < 0) {
		p->f->err.busy++;
		return 0;
	}
	p->n++;
	return 0;
}

/*
 * Every entry (both directions), piece by piece; cb runs outside any
 * read-side section and stops the walk with a non-zero return. Returns the
 * number of entries delivered.
 */
static uint64_t flows_walk(struct flows *f, int (*cb)(const struct flow_row *rows, size_t n,
						      void *arg),
			   void *arg)
{
	struct flow_piece *p = malloc(sizeof(*p));
	uint64_t total = 0;
	uint32_t pos = 0;

	if (!p)
		return 0;
	p->f = f;
	while (pos != UINT32_MAX) {
		uint32_t next;

		p->n = 0;
		shm_rcu_read_lock(&f->rd);
		next = shm_table_walk(f->t, pos, CTL_PIECE, piece_cb, p);
		shm_rcu_read_unlock(&f->rd);

		if (next != UINT32_MAX && next <= pos) {
			f->err.overflow++;
			break;
		}
		pos = next;
		size_t n = p->n;
		if (total + n > f->geom.capacity) {
			f->err.overflow++;
			n = f->geom.capacity > total ? (size_t)(f->geom.capacity - total) : 0;
			pos = UINT32_MAX;
		}
		total += n;
		if (n && cb(p->rows, n, arg))
			break;
	}
	free(p);
	return total;
}

/* Copy the services for their names; a flow listing goes on without them. */
static void names_or_warn(const struct ctl_opts *o, struct ctl_svcs *s, bool *have)
{
	int r = ctl_svcs_read(o->instance, s);

	*have = r == 0;
	if (r == 0)
		return;
	fprintf(stderr, "loomctl: warning: no services of instance '%s' to name flows by (%s); "
			"services shown by id\n", o->instance,
		r == -ENODATA   ? "none published yet"
		: r == -EBADMSG ? "the snapshot is invalid"
				: strerror(-r));
}

/* ---- one flow ------------------------------------------------------------------- */

/* Client (or inside host), virtual (or pool) and server endpoints. */
static void endpoints(const struct flow_rec *r, const struct flow_ep **client,
		      const struct flow_ep **virt, const struct flow_ep **server)
{
	*virt = &r->in_global;
	if (r->type == FLOW_T_NAT) {
		*client = &r->in_local;
		*server = &r->out_local;
	} else {
		*client = &r->out_local;
		*server = &r->in_local;
	}
}

/* ICMP endpoints carry the echo identifier, not a port: address only. */
static void ep_text(const struct flow_rec *r, const struct flow_ep *ep, char *buf, size_t len)
{
	if (flow_proto_is_icmp(r->proto))
		ctl_addr(ep->addr, buf, len);
	else
		ctl_addr_port(ep->addr, ep->port, buf, len);
}

static unsigned agent_count(const struct flow_rec *r)
{
	unsigned n = 0;

	for (unsigned i = 0; i < FLOW_MAX_AGENTS; i++)
		n += r->agents[i] != 0;
	return n;
}

static const char *svc_text(const struct ctl_svcs *s, uint32_t id, char *buf, size_t len)
{
	const struct svcs_service *svc = ctl_svcs_by_id(s, id);

	if (svc)
		return svc->name;
	snprintf(buf, len, "%u", id);
	return buf;
}

static json_t *j_ep(const struct flow_ep *ep)
{
	json_t *o = json_object();

	if (!o)
		return NULL;
	ctl_json_set(o, "address", ctl_json_addr(ep->addr));
	ctl_json_set(o, "port", json_integer(ntohs(ep->port)));
	return o;
}

static json_t *j_flow(const struct flow_rec *r, const struct ctl_svcs *s, uint64_t now_ms)
{
	const struct flow_ep *cl, *vi, *sv;
	const struct svcs_service *svc = ctl_svcs_by_id(s, r->svc_id);
	char b[16];
	uint64_t left;
	bool expires = ctl_ttl_left(r->expires_ms, now_ms, &left);
	json_t *o = json_object(), *flags = json_array(), *agents = json_array();

	if (!o || !flags || !agents) {
		json_decref(o);
		json_decref(flags);
		json_decref(agents);
		return NULL;
	}
	endpoints(r, &cl, &vi, &sv);
	ctl_json_set(o, "proto", json_integer(r->proto));
	ctl_json_set(o, "proto_name", json_string(ctl_proto_name(r->proto, b, sizeof(b))));
	ctl_json_set(o, "type", json_string(ctl_flow_type_name(r->type, b, sizeof(b))));
	ctl_json_set(o, "state", json_string(ctl_flow_state_name(r->state, b, sizeof(b))));
	ctl_json_set(o, "service", svc ? json_string(svc->name) : json_null());
	ctl_json_set(o, "svc_id", json_integer(r->svc_id));
	ctl_json_set(o, "backend_id", json_integer(r->backend_id));
	ctl_json_set(o, "client", j_ep(cl));
	ctl_json_set(o, "virtual", j_ep(vi));
	ctl_json_set(o, "server", j_ep(sv));
	ctl_json_set(o, "age_ms", ctl_json_u64(ctl_age_ms(r->created_ms, now_ms)));
	ctl_json_set(o, "idle_ms", ctl_json_u64(ctl_age_ms(r->touched_ms, now_ms)));
	ctl_json_set(o, "expires_in_ms", expires ? ctl_json_u64(left) : json_null());
	ctl_json_set(o, "expired", json_boolean(expires && left == 0));
	ctl_json_set(o, "ttl_s", json_integer(r->ttl_s));
	for (unsigned i = 0; i < LOOM_ARRAY_SIZE(flag_names); i++)
		if (r->flags & (1u << i))
			json_array_append_new(flags, json_string(flag_names[i]));
	ctl_json_set(o, "flags", flags);
	if (r->flags >> LOOM_ARRAY_SIZE(flag_names))
		ctl_json_set(o, "unknown_flags",
			     json_integer(r->flags & ~((1u << LOOM_ARRAY_SIZE(flag_names)) - 1)));
	ctl_json_set(o, "owner", ctl_json_id(r->owner));
	for (unsigned i = 0; i < FLOW_MAX_AGENTS; i++)
		if (r->agents[i])
			json_array_append_new(agents, ctl_json_id(r->agents[i]));
	ctl_json_set(o, "agents", agents);
	ctl_json_set(o, "app_ctx", json_integer(r->app_ctx));
	return o;
}

static const struct ctl_tbl_col flow_cols[] = {
	{ "PROTO", false },  { "TYPE", false },   { "STATE", false },  { "CLIENT", false },
	{ "VIRTUAL", false }, { "SERVER", false }, { "SERVICE", false }, { "AGE", false },
	{ "EXPIRES", false }, { "AGENTS", true },
};

static int flow_row(struct ctl_tbl *t, const struct flow_rec *r, const struct ctl_svcs *s,
		    uint64_t now_ms)
{
	const struct flow_ep *cl, *vi, *sv;
	char pb[16], tb[16], sb[16], ib[16], c[CTL_ADDR_LEN + 8], v[CTL_ADDR_LEN + 8],
		srv[CTL_ADDR_LEN + 8], age[24], exp[24], ag[8];

	endpoints(r, &cl, &vi, &sv);
	ep_text(r, cl, c, sizeof(c));
	ep_text(r, vi, v, sizeof(v));
	ep_text(r, sv, srv, sizeof(srv));
	ctl_duration(ctl_age_ms(r->created_ms, now_ms), age, sizeof(age));
	ctl_ttl_text(r->expires_ms, now_ms, exp, sizeof(exp));
	snprintf(ag, sizeof(ag), "%u", agent_count(r));
	const char *cells[] = { ctl_proto_name(r->proto, pb, sizeof(pb)),
				ctl_flow_type_name(r->type, tb, sizeof(tb)),
				ctl_flow_state_name(r->state, sb, sizeof(sb)),
				c, v, srv, svc_text(s, r->svc_id, ib, sizeof(ib)), age, exp, ag };
	return ctl_tbl_row(t, cells);
}

/* ---- flow list ------------------------------------------------------------------ */

struct list_ctx {
	const struct ctl_opts *o;
	const struct ctl_svcs *svcs;   /* NULL: names unknown */
	bool by_svc;
	uint32_t svc_id;
	uint64_t now_ms;
	uint64_t matched, shown;
	struct ctl_tbl tbl;
	struct ctl_json *jw;
	int err;
};

static int list_piece(const struct flow_row *rows, size_t n, void *arg)
{
	struct list_ctx *x = arg;

	for (size_t i = 0; i < n; i++) {
		const struct flow_rec *r = &rows[i].r;
		if (r->dir != FLOW_DIR_ORIG)
			continue;
		if (x->by_svc && r->svc_id != x->svc_id)
			continue;
		if (x->o->state >= 0 && r->state != x->o->state)
			continue;
		/* past the limit the walk goes on, to say how many were left out */
		if (x->matched++ >= x->o->limit)
			continue;
		x->shown++;
		if (x->jw)
			ctl_json_val(x->jw, j_flow(r, x->svcs, x->now_ms));
		else if (flow_row(&x->tbl, r, x->svcs, x->now_ms) < 0)
			x->err = -ENOMEM;
	}
	if (!x->jw)
		ctl_tbl_flush(&x->tbl);
	return x->err || (x->jw && x->jw->err);
}

/* --service NAME, or an id when no service has that name. */
static int resolve_service(const struct ctl_opts *o, const struct ctl_svcs *s,
			   struct list_ctx *x)
{
	const struct svcs_service *svc = ctl_svcs_by_name(s, o->service);
	char *end;

	x->by_svc = true;
	if (svc) {
		x->svc_id = svc->id;
		return 0;
	}
	errno = 0;
	unsigned long id = strtoul(o->service, &end, 10);
	if (*o->service && !*end && !errno && id <= UINT32_MAX && o->service[0] != '-') {
		x->svc_id = (uint32_t)id;
		return 0;
	}
	fprintf(stderr, "loomctl: no service '%s' in instance '%s'\n", o->service, o->instance);
	return CTL_EXIT_NOT_FOUND;
}

int ctl_cmd_flow_list(const struct ctl_opts *o)
{
	struct flows f;
	struct ctl_svcs s;
	struct ctl_json jw;
	struct list_ctx x = { .o = o };
	bool have;
	int r = flows_open(o, &f);

	if (r)
		return r;
	names_or_warn(o, &s, &have);
	x.svcs = have ? &s : NULL;
	if (o->service && (r = resolve_service(o, x.svcs, &x)) != 0)
		goto out;
	x.now_ms = ctl_now_ms();
	if (o->json) {
		ctl_json_init(&jw, stdout);
		x.jw = &jw;
		ctl_json_obj(&jw);
		ctl_json_key(&jw, "instance");
		ctl_json_val(&jw, json_string(o->instance));
		ctl_json_key(&jw, "now_ms");
		ctl_json_val(&jw, ctl_json_u64(x.now_ms));
		ctl_json_key(&jw, "entries");
		ctl_json_val(&jw, ctl_json_u64(shm_table_count_entries(f.t)));
		ctl_json_key(&jw, "capacity");
		ctl_json_val(&jw, json_integer(f.geom.capacity));
		ctl_json_key(&jw, "flows");
		ctl_json_arr(&jw);
		flows_walk(&f, list_piece, &x);
		ctl_json_end(&jw);
		ctl_json_key(&jw, "shown");
		ctl_json_val(&jw, ctl_json_u64(x.shown));
		ctl_json_key(&jw, "matched");
		ctl_json_val(&jw, ctl_json_u64(x.matched));
		ctl_json_end(&jw);
	} else {
		printf("Flow table of instance %s: %" PRIu64 " entries, capacity %u (two entries "
		       "per flow)\n", o->instance, shm_table_count_entries(f.t), f.geom.capacity);
		ctl_tbl_init(&x.tbl, stdout, flow_cols, LOOM_ARRAY_SIZE(flow_cols));
		flows_walk(&f, list_piece, &x);
		if (x.shown == 0)
			ctl_tbl_flush(&x.tbl); /* the header alone */
		ctl_tbl_free(&x.tbl);
		if (x.matched > x.shown)
			printf("%" PRIu64 " flows shown, %" PRIu64 " more (--limit %" PRIu64 ")\n",
			       x.shown, x.matched - x.shown, o->limit);
		else
			printf("%" PRIu64 " flows shown\n", x.shown);
	}
	r = ctl_finish(x.jw, x.err);
out:
	if (have)
		ctl_svcs_free(&s);
	flows_close(&f);
	return r;
}

/* ---- flow stats ----------------------------------------------------------------- */

#define NTYPES LOOM_ARRAY_SIZE(type_names)
#define NSTATES LOOM_ARRAY_SIZE(state_names)

struct stats_ctx {
	uint64_t entries, flows, replies, bad_dir;
	uint64_t by_type[NTYPES + 1];     /* [NTYPES]: unknown type */
	uint64_t by_state[NSTATES + 1];   /* [NSTATES]: unknown state */
};

static int stats_piece(const struct flow_row *rows, size_t n, void *arg)
{
	struct stats_ctx *x = arg;

	for (size_t i = 0; i < n; i++) {
		const struct flow_rec *r = &rows[i].r;
		x->entries++;
		if (r->dir == FLOW_DIR_REPLY) {
			x->replies++;
			continue;
		}
		if (r->dir != FLOW_DIR_ORIG) {
			x->bad_dir++;
			continue;
		}
		x->flows++;
		x->by_type[r->type < NTYPES && type_names[r->type] ? r->type : NTYPES]++;
		x->by_state[r->state < NSTATES ? r->state : NSTATES]++;
	}
	return 0;
}

int ctl_cmd_flow_stats(const struct ctl_opts *o)
{
	struct flows f;
	struct stats_ctx x = { 0 };
	struct ctl_seg_stats sg;
	struct shm_table_rstats rs;
	struct ctl_json jw;
	int r = flows_open(o, &f);

	if (r)
		return r;
	/* a full walk: what a reader can actually reach */
	flows_walk(&f, stats_piece, &x);
	ctl_seg_stats(shm_table_seg(f.t), &sg);
	shm_table_reader_stats(f.t, &rs);
	uint64_t hint = shm_table_count_entries(f.t);
	double fill = f.geom.capacity ? 100.0 * (double)x.entries / f.geom.capacity : 0;
	struct {
		const char *name;
		uint64_t v;
	} errs[] = {
		{ "bad_index", rs.bad_index }, { "long_chain", rs.long_chain },
		{ "retries", rs.retries },     { "busy", f.err.busy },
		{ "overflow", f.err.overflow }, { "bad_dir", x.bad_dir },
	};

	if (o->json) {
		ctl_json_init(&jw, stdout);
		ctl_json_obj(&jw);
		ctl_json_key(&jw, "instance");
		ctl_json_val(&jw, json_string(o->instance));
		json_t *t = json_object();
		ctl_json_set(t, "flows", ctl_json_u64(x.flows));
		ctl_json_set(t, "entries", ctl_json_u64(x.entries));
		ctl_json_set(t, "reply_entries", ctl_json_u64(x.replies));
		ctl_json_set(t, "writer_count", ctl_json_u64(hint));
		ctl_json_set(t, "capacity", json_integer(f.geom.capacity));
		ctl_json_set(t, "fill_pct", json_real(fill));
		ctl_json_key(&jw, "table");
		ctl_json_val(&jw, t);
		json_t *bt = json_object(), *bs = json_object();
		for (size_t i = 1; i < NTYPES; i++)
			ctl_json_set(bt, type_names[i], ctl_json_u64(x.by_type[i]));
		ctl_json_set(bt, "other", ctl_json_u64(x.by_type[NTYPES]));
		for (size_t i = 0; i < NSTATES; i++)
			ctl_json_set(bs, state_names[i], ctl_json_u64(x.by_state[i]));
		ctl_json_set(bs, "other", ctl_json_u64(x.by_state[NSTATES]));
		ctl_json_key(&jw, "by_type");
		ctl_json_val(&jw, bt);
		ctl_json_key(&jw, "by_state");
		ctl_json_val(&jw, bs);
		ctl_json_key(&jw, "segment");
		ctl_json_val(&jw, ctl_json_seg(&sg));
		json_t *e = json_object();
		for (size_t i = 0; i < LOOM_ARRAY_SIZE(errs); i++)
			ctl_json_set(e, errs[i].name, ctl_json_u64(errs[i].v));
		ctl_json_key(&jw, "reader_errors");
		ctl_json_val(&jw, e);
		ctl_json_end(&jw);
	} else {
		static const struct ctl_tbl_col kv[] = { { "FIGURE", false }, { "VALUE", true } };
		static const struct ctl_tbl_col tc[] = { { "TYPE", false }, { "FLOWS", true } };
		static const struct ctl_tbl_col sc[] = { { "STATE", false }, { "FLOWS", true } };
		struct ctl_tbl t;
		char v[32];

		printf("Flow table of instance %s\n", o->instance);
		ctl_tbl_init(&t, stdout, kv, LOOM_ARRAY_SIZE(kv));
#define KV(name, ...) (snprintf(v, sizeof(v), __VA_ARGS__), \
		       ctl_tbl_row(&t, (const char *const[]){ name, v }))
		KV("flows", "%" PRIu64, x.flows);
		KV("entries", "%" PRIu64, x.entries);
		KV("reply_entries", "%" PRIu64, x.replies);
		KV("writer_count", "%" PRIu64, hint);
		KV("capacity", "%u", f.geom.capacity);
		KV("fill", "%.1f%%", fill);
		for (size_t i = 0; i < LOOM_ARRAY_SIZE(errs); i++)
			KV(errs[i].name, "%" PRIu64, errs[i].v);
		ctl_tbl_flush(&t);
		ctl_tbl_free(&t);

		printf("\n");
		ctl_tbl_init(&t, stdout, tc, LOOM_ARRAY_SIZE(tc));
		for (size_t i = 1; i < NTYPES; i++)
			KV(type_names[i], "%" PRIu64, x.by_type[i]);
		if (x.by_type[NTYPES])
			KV("other", "%" PRIu64, x.by_type[NTYPES]);
		ctl_tbl_flush(&t);
		ctl_tbl_free(&t);

		printf("\n");
		ctl_tbl_init(&t, stdout, sc, LOOM_ARRAY_SIZE(sc));
		for (size_t i = 0; i < NSTATES; i++)
			KV(state_names[i], "%" PRIu64, x.by_state[i]);
		if (x.by_state[NSTATES])
			KV("other", "%" PRIu64, x.by_state[NSTATES]);
#undef KV
		ctl_tbl_flush(&t);
		ctl_tbl_free(&t);

		printf("\n");
		ctl_tbl_init(&t, stdout, ctl_seg_cols, LOOM_ARRAY_SIZE(ctl_seg_cols));
		ctl_seg_row(&t, "flow", &sg);
		ctl_tbl_flush(&t);
		ctl_tbl_free(&t);
	}
	flows_close(&f);
	return ctl_finish(o->json ? &jw : NULL, 0);
}
