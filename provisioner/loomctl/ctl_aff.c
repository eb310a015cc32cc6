// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * `loomctl affinity ...`: the forwarding agent's wildcard and fixed
 * affinities, its advertised addresses and the tables' health figures.
 *
 * Each command has its text and JSON output side by side, built from the
 * same private copies (ctl_read.c), so the two cannot drift apart.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/msg.h"
#include "ctl.h"

static int open_or_explain(const struct ctl_opts *o, struct ctl_aff **c)
{
	const char *seg = "affinity";
	int r = ctl_aff_open(o->instance, c, &seg);
	bool fixed = seg[0] == 'a';

	if (r == 0)
		return CTL_EXIT_OK;
	return ctl_open_error(o->instance, seg, "loom-fwd-agent",
			      fixed ? "fixed-affinity" : "wildcard-snapshot",
			      fixed ? AFF_FIXED_VERSION : AFF_SNAP_VERSION, r);
}

static void hex(const uint8_t *p, size_t n, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n && off + 3 <= len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%02x", p[i]);
}

static void port_text(uint16_t port_be, char *buf, size_t len)
{
	if (port_be)
		snprintf(buf, len, "%u", ntohs(port_be));
	else
		snprintf(buf, len, "*");
}

/* ---- JSON values ---------------------------------------------------------------- */

static json_t *j_prefix(const uint8_t a[16], const uint8_t m[16])
{
	char s[CTL_PREFIX_LEN];

	ctl_prefix(a, m, s, sizeof(s));
	return json_string(s);
}

static json_t *j_bits(uint16_t bits)
{
	char s[128];
	json_t *arr = json_array();
	char *save = NULL;

	if (!arr || !bits)
		return arr;
	ctl_int_bits(bits, s, sizeof(s));
	for (char *t = strtok_r(s, ",", &save); t; t = strtok_r(NULL, ",", &save))
		json_array_append_new(arr, json_string(t));
	return arr;
}

static void j_ttl(json_t *o, uint32_t ttl_s, uint64_t expires_ms, uint64_t now_ms)
{
	uint64_t left;
	bool expires = ctl_ttl_left(expires_ms, now_ms, &left);

	ctl_json_set(o, "ttl_s", json_integer(ttl_s));
	ctl_json_set(o, "ttl_left_ms", expires ? ctl_json_u64(left) : json_null());
	ctl_json_set(o, "expired", json_boolean(expires && left == 0));
}

static json_t *j_actions(const struct aff_actions *a, const uint8_t *adv_addr,
			 const uint8_t *adv_mask)
{
	static const char *const names[] = { "dispatch", "info", "nat", "seq", "interest",
					     "advertise" };
	char sum[CTL_ACT_LEN];
	json_t *o = json_object(), *flags = json_array();

	if (!o || !flags) {
		json_decref(o);
		json_decref(flags);
		return NULL;
	}
	ctl_actions(a, adv_addr, adv_mask, sum, sizeof(sum));
	ctl_json_set(o, "summary", json_string(sum));
	for (unsigned i = 0; i < LOOM_ARRAY_SIZE(names); i++)
		if (a->flags & (1u << i))
			json_array_append_new(flags, json_string(names[i]));
	ctl_json_set(o, "flags", flags);
	if (a->flags & ~((1u << LOOM_ARRAY_SIZE(names)) - 1))
		ctl_json_set(o, "unknown_flags",
			     json_integer(a->flags & ~((1u << LOOM_ARRAY_SIZE(names)) - 1)));
	if (a->flags & AFF_F_NAT) {
		json_t *n = json_object();
		if (a->nat_fields & MSG_NAT_SADDR)
			ctl_json_set(n, "saddr", ctl_json_addr(a->nat_saddr));
		if (a->nat_fields & MSG_NAT_SPORT)
			ctl_json_set(n, "sport", json_integer(ntohs(a->nat_sport)));
		if (a->nat_fields & MSG_NAT_DADDR)
			ctl_json_set(n, "daddr", ctl_json_addr(a->nat_daddr));
		if (a->nat_fields & MSG_NAT_DPORT)
			ctl_json_set(n, "dport", json_integer(ntohs(a->nat_dport)));
		ctl_json_set(o, "nat", n);
	}
	if (a->flags & (AFF_F_DISPATCH | AFF_F_INFO)) {
		static const uint8_t zero[16];
		bool drop = (a->flags & AFF_F_DISPATCH) && !memcmp(a->fwd_addr, zero, 16);
		ctl_json_set(o, "forward", drop ? json_null() : ctl_json_addr(a->fwd_addr));
		ctl_json_set(o, "drop", json_boolean(drop));
	}
	if (a->flags & AFF_F_SEQ) {
		json_t *s = json_object();
		ctl_json_set(s, "seq_delta", json_integer(a->seq_delta));
		ctl_json_set(s, "seq_init", json_integer(a->seq_init));
		ctl_json_set(s, "ack_delta", json_integer(a->ack_delta));
		ctl_json_set(s, "ack_init", json_integer(a->ack_init));
		ctl_json_set(o, "seq", s);
	}
	if (a->flags & AFF_F_INTEREST) {
		json_t *in = json_object();
		ctl_json_set(in, "mask", j_bits(a->int_mask));
		ctl_json_set(in, "data", j_bits(a->int_data));
		ctl_json_set(in, "copy", j_bits(a->int_copy));
		ctl_json_set(in, "hold", j_bits(a->int_hold));
		ctl_json_set(in, "addr", ctl_json_addr(a->int_addr));
		ctl_json_set(in, "port", json_integer(ntohs(a->int_port)));
		ctl_json_set(o, "interest", in);
	}
	if ((a->flags & AFF_F_ADVERTISE) && adv_addr && adv_mask)
		ctl_json_set(o, "advertise", j_prefix(adv_addr, adv_mask));
	return o;
}

static json_t *j_mgr_data(const uint8_t *p, uint8_t len)
{
	char s[2 * AFF_MAX_MGR_DATA + 1];

	hex(p, len, s, sizeof(s));
	return json_string(s);
}

static json_t *j_wild(const struct aff_wild *w, uint32_t i, uint64_t now_ms)
{
	char pb[16];
	json_t *o = json_object();

	if (!o)
		return NULL;
	ctl_json_set(o, "index", json_integer(i));
	ctl_json_set(o, "rank", json_integer(w->rank));
	ctl_json_set(o, "backup_prec", json_integer(w->backup_prec));
	ctl_json_set(o, "owner", json_integer(w->owner));
	ctl_json_set(o, "proto", json_integer(w->key.proto));
	ctl_json_set(o, "proto_name", json_string(ctl_proto_name(w->key.proto, pb, sizeof(pb))));
	ctl_json_set(o, "src", j_prefix(w->key.saddr, w->smask));
	ctl_json_set(o, "sport", json_integer(ntohs(w->key.sport)));
	ctl_json_set(o, "dst", j_prefix(w->key.daddr, w->dmask));
	ctl_json_set(o, "dport", json_integer(ntohs(w->key.dport)));
	ctl_json_set(o, "actions", j_actions(&w->act, w->adv_addr, w->adv_mask));
	j_ttl(o, w->ttl_s, w->expires_ms, now_ms);
	ctl_json_set(o, "mgr_data", j_mgr_data(w->mgr_data, w->mgr_len));
	return o;
}

static json_t *j_key(const struct flow_key *k, json_t *o)
{
	char pb[16];

	if (!o)
		return NULL;
	ctl_json_set(o, "proto", json_integer(k->proto));
	ctl_json_set(o, "proto_name", json_string(ctl_proto_name(k->proto, pb, sizeof(pb))));
	ctl_json_set(o, "src", ctl_json_addr(k->saddr));
	ctl_json_set(o, "sport", json_integer(ntohs(k->sport)));
	ctl_json_set(o, "dst", ctl_json_addr(k->daddr));
	ctl_json_set(o, "dport", json_integer(ntohs(k->dport)));
	return o;
}

static json_t *j_fixed(const struct ctl_fixed *f, uint64_t now_ms)
{
	json_t *o = json_object();
	struct aff_actions act;

	if (!o)
		return NULL;
	aff_fixed_actions(&f->v, sizeof(f->v), &act);
	ctl_json_set(o, "index", json_integer(f->idx));
	j_key(&f->key, o);
	ctl_json_set(o, "owner", json_integer(f->v.owner));
	ctl_json_set(o, "rank", json_integer(f->v.rank));
	ctl_json_set(o, "backup_prec", json_integer(f->v.backup_prec));
	ctl_json_set(o, "actions", j_actions(&act, NULL, NULL));
	j_ttl(o, f->v.ttl_s, f->v.expires_ms, now_ms);
	ctl_json_set(o, "packets", ctl_json_u64(f->packets));
	ctl_json_set(o, "bytes", ctl_json_u64(f->bytes));
	ctl_json_set(o, "idle_ms", ctl_json_u64(ctl_idle_ms(f, now_ms)));
	ctl_json_set(o, "seen", json_boolean(f->last_seen_ns != 0));
	ctl_json_set(o, "mgr_data", j_mgr_data(f->v.mgr_data, f->v.mgr_len < AFF_FIXED_MGR_DATA
								? f->v.mgr_len : AFF_FIXED_MGR_DATA));
	return o;
}

/* ---- text rows -------------------------------------------------------------------- */

static const struct ctl_tbl_col wild_cols[] = {
	{ "#", true },       { "RANK", true }, { "BACKUP", true }, { "OWNER", true },
	{ "PROTO", false },  { "SOURCE", false }, { "SPORT", false },
	{ "DESTINATION", false }, { "DPORT", false }, { "TTL", false }, { "ACTIONS", false },
};

static int wild_row(struct ctl_tbl *t, const struct aff_wild *w, uint32_t i, uint64_t now_ms)
{
	char idx[16], rank[24], backup[16], owner[8], pb[16], src[CTL_PREFIX_LEN],
		dst[CTL_PREFIX_LEN], sport[8], dport[8], ttl[24], act[CTL_ACT_LEN];

	snprintf(idx, sizeof(idx), "%u", i);
	snprintf(rank, sizeof(rank), "%" PRId64, w->rank);
	snprintf(backup, sizeof(backup), "%u", w->backup_prec);
	snprintf(owner, sizeof(owner), "%u", w->owner);
	ctl_prefix(w->key.saddr, w->smask, src, sizeof(src));
	ctl_prefix(w->key.daddr, w->dmask, dst, sizeof(dst));
	port_text(w->key.sport, sport, sizeof(sport));
	port_text(w->key.dport, dport, sizeof(dport));
	ctl_ttl_text(w->expires_ms, now_ms, ttl, sizeof(ttl));
	ctl_actions(&w->act, w->adv_addr, w->adv_mask, act, sizeof(act));
	const char *cells[] = { idx, rank, backup, owner,
				ctl_proto_name(w->key.proto, pb, sizeof(pb)),
				src, sport, dst, dport, ttl, act };
	return ctl_tbl_row(t, cells);
}

static const struct ctl_tbl_col fixed_cols[] = {
	{ "PROTO", false }, { "SOURCE", false }, { "DESTINATION", false }, { "OWNER", true },
	{ "PACKETS", true }, { "BYTES", true }, { "IDLE", false }, { "TTL", false },
	{ "ACTIONS", false },
};

static int fixed_row(struct ctl_tbl *t, const struct ctl_fixed *f, uint64_t now_ms)
{
	char pb[16], src[CTL_ADDR_LEN + 8], dst[CTL_ADDR_LEN + 8], owner[8], pk[24], by[24],
		idle[24], ttl[24], act[CTL_ACT_LEN];
	struct aff_actions a;

	aff_fixed_actions(&f->v, sizeof(f->v), &a);
	ctl_addr_port(f->key.saddr, f->key.sport, src, sizeof(src));
	ctl_addr_port(f->key.daddr, f->key.dport, dst, sizeof(dst));
	snprintf(owner, sizeof(owner), "%u", f->v.owner);
	snprintf(pk, sizeof(pk), "%" PRIu64, f->packets);
	snprintf(by, sizeof(by), "%" PRIu64, f->bytes);
	ctl_duration(ctl_idle_ms(f, now_ms), idle, sizeof(idle));
	ctl_ttl_text(f->v.expires_ms, now_ms, ttl, sizeof(ttl));
	ctl_actions(&a, NULL, NULL, act, sizeof(act));
	const char *cells[] = { ctl_proto_name(f->key.proto, pb, sizeof(pb)), src, dst, owner,
				pk, by, idle, ttl, act };
	return ctl_tbl_row(t, cells);
}

/* ---- affinity list ------------------------------------------------------------------ */

struct list_ctx {
	const struct ctl_opts *o;
	uint64_t now_ms;
	struct ctl_tbl tbl;
	struct ctl_json *jw;
	int err;
};

static int list_piece(const struct ctl_fixed *rows, size_t n, void *arg)
{
	struct list_ctx *x = arg;

	for (size_t i = 0; i < n; i++) {
		if (x->jw)
			ctl_json_val(x->jw, j_fixed(&rows[i], x->now_ms));
		else if (fixed_row(&x->tbl, &rows[i], x->now_ms) < 0)
			x->err = -ENOMEM;
	}
	if (!x->jw)
		ctl_tbl_flush(&x->tbl);
	return x->err || (x->jw && x->jw->err);
}

static uint32_t min_u32(uint32_t a, uint64_t b)
{
	return b < a ? (uint32_t)b : a;
}

static void list_text(struct ctl_aff *c, const struct ctl_snap *s, struct list_ctx *x)
{
	const struct ctl_opts *o = x->o;

	if (!o->only_fixed) {
		uint32_t nw = min_u32(s->nwild, o->limit), na = min_u32(s->nadv, o->limit);
		struct ctl_tbl t;

		printf("Wildcard affinities: %u", s->nwild);
		if (s->present)
			printf(" (snapshot generation %" PRIu64 ")", s->generation);
		else
			printf(" (no snapshot published)");
		printf("\n");
		ctl_tbl_init(&t, stdout, wild_cols, LOOM_ARRAY_SIZE(wild_cols));
		for (uint32_t i = 0; i < nw; i++)
			if (wild_row(&t, &s->wild[i], i, x->now_ms) < 0)
				x->err = -ENOMEM;
		ctl_tbl_flush(&t);
		ctl_tbl_free(&t);
		if (nw < s->nwild)
			printf("... %u more\n", s->nwild - nw);

		static const struct ctl_tbl_col adv_cols[] = { { "PREFIX", false },
								{ "OWNER", true } };
		printf("\nAdvertised addresses: %u\n", s->nadv);
		ctl_tbl_init(&t, stdout, adv_cols, LOOM_ARRAY_SIZE(adv_cols));
		for (uint32_t i = 0; i < na; i++) {
			char p[CTL_PREFIX_LEN], ow[8];
			ctl_prefix(s->adv[i].addr, s->adv[i].mask, p, sizeof(p));
			snprintf(ow, sizeof(ow), "%u", s->adv[i].owner);
			const char *cells[] = { p, ow };
			if (ctl_tbl_row(&t, cells) < 0)
				x->err = -ENOMEM;
		}
		ctl_tbl_flush(&t);
		ctl_tbl_free(&t);
		if (na < s->nadv)
			printf("... %u more\n", s->nadv - na);
	}
	if (!o->only_wild) {
		if (!o->only_fixed)
			printf("\n");
		printf("Fixed affinities: %" PRIu64 " (capacity %u)\n", ctl_aff_count_hint(c),
		       ctl_aff_geom(c)->capacity);
		ctl_tbl_init(&x->tbl, stdout, fixed_cols, LOOM_ARRAY_SIZE(fixed_cols));
		uint64_t shown = ctl_aff_walk(c, o->limit, list_piece, x);
		if (shown == 0)
			ctl_tbl_flush(&x->tbl); /* the header alone */
		ctl_tbl_free(&x->tbl);
		if (o->limit != UINT64_MAX && shown == o->limit &&
		    ctl_aff_count_hint(c) > shown)
			printf("... more (--limit %" PRIu64 ")\n", o->limit);
	}
}

static void list_json(struct ctl_aff *c, const struct ctl_snap *s, struct list_ctx *x)
{
	const struct ctl_opts *o = x->o;
	struct ctl_json *w = x->jw;

	ctl_json_obj(w);
	ctl_json_key(w, "instance");
	ctl_json_val(w, json_string(o->instance));
	ctl_json_key(w, "now_ms");
	ctl_json_val(w, ctl_json_u64(x->now_ms));
	if (!o->only_fixed) {
		json_t *snap = json_object();
		ctl_json_set(snap, "present", json_boolean(s->present));
		ctl_json_set(snap, "generation", ctl_json_u64(s->generation));
		ctl_json_set(snap, "built_ms", ctl_json_u64(s->built_ms));
		ctl_json_set(snap, "wildcards", json_integer(s->nwild));
		ctl_json_set(snap, "advertised", json_integer(s->nadv));
		ctl_json_key(w, "snapshot");
		ctl_json_val(w, snap);

		ctl_json_key(w, "wildcards");
		ctl_json_arr(w);
		for (uint32_t i = 0; i < min_u32(s->nwild, o->limit); i++)
			ctl_json_val(w, j_wild(&s->wild[i], i, x->now_ms));
		ctl_json_end(w);
		ctl_json_key(w, "advertised");
		ctl_json_arr(w);
		for (uint32_t i = 0; i < min_u32(s->nadv, o->limit); i++) {
			json_t *a = json_object();
			ctl_json_set(a, "prefix", j_prefix(s->adv[i].addr, s->adv[i].mask));
			ctl_json_set(a, "owner", json_integer(s->adv[i].owner));
			ctl_json_val(w, a);
		}
		ctl_json_end(w);
	}
	if (!o->only_wild) {
		ctl_json_key(w, "fixed_count");
		ctl_json_val(w, ctl_json_u64(ctl_aff_count_hint(c)));
		ctl_json_key(w, "fixed_capacity");
		ctl_json_val(w, json_integer(ctl_aff_geom(c)->capacity));
		ctl_json_key(w, "fixed");
		ctl_json_arr(w);
		ctl_aff_walk(c, o->limit, list_piece, x);
		ctl_json_end(w);
	}
	ctl_json_end(w);
}

int ctl_cmd_aff_list(const struct ctl_opts *o)
{
	struct ctl_aff *c;
	struct ctl_snap s;
	struct ctl_json jw;
	struct list_ctx x = { .o = o };
	int r = open_or_explain(o, &c);

	if (r)
		return r;
	ctl_aff_snapshot(c, &s);
	x.now_ms = ctl_now_ms();
	if (o->json) {
		ctl_json_init(&jw, stdout);
		x.jw = &jw;
		list_json(c, &s, &x);
	} else {
		list_text(c, &s, &x);
	}
	ctl_snap_free(&s);
	ctl_aff_close(c);
	return ctl_finish(x.jw, x.err);
}

/* ---- affinity show ------------------------------------------------------------------ */

static void show_text(const struct flow_key *key, const struct ctl_fixed *f, const struct ctl_snap *s,
		      int wi, uint64_t now_ms)
{
	char buf[CTL_ACT_LEN], k[2 * CTL_ADDR_LEN + 40], a[CTL_ADDR_LEN + 8], pb[16];

	ctl_addr_port(key->saddr, key->sport, a, sizeof(a));
	snprintf(k, sizeof(k), "%s %s", ctl_proto_name(key->proto, pb, sizeof(pb)), a);
	ctl_addr_port(key->daddr, key->dport, a, sizeof(a));
	snprintf(k + strlen(k), sizeof(k) - strlen(k), " > %s", a);
	if (!f) {
		printf("Fixed affinity %s: none\n", k);
	} else {
		struct aff_actions fa;
		const struct aff_actions *act = &fa;

		aff_fixed_actions(&f->v, sizeof(f->v), &fa);

		printf("Fixed affinity %s\n", k);
#define FIELD(name, ...) (printf("  %-13s ", name), printf(__VA_ARGS__), printf("\n"))
		FIELD("entry", "%u", f->idx);
		FIELD("owner", "%u", f->v.owner);
		FIELD("rank", "%" PRId64, f->v.rank);
		FIELD("backup_prec", "%u", f->v.backup_prec);
		ctl_actions(act, NULL, NULL, buf, sizeof(buf));
		FIELD("actions", "%s", buf);
		if (act->flags & AFF_F_NAT) {
			ctl_addr(act->nat_saddr, a, sizeof(a));
			FIELD("nat_saddr", "%s", act->nat_fields & MSG_NAT_SADDR ? a : "-");
			FIELD("nat_sport", "%u", ntohs(act->nat_sport));
			ctl_addr(act->nat_daddr, a, sizeof(a));
			FIELD("nat_daddr", "%s", act->nat_fields & MSG_NAT_DADDR ? a : "-");
			FIELD("nat_dport", "%u", ntohs(act->nat_dport));
		}
		if (act->flags & (AFF_F_DISPATCH | AFF_F_INFO)) {
			ctl_addr(act->fwd_addr, a, sizeof(a));
			FIELD("forward", "%s", a);
		}
		if (act->flags & AFF_F_SEQ) {
			FIELD("seq", "delta %u from %u", act->seq_delta, act->seq_init);
			FIELD("ack", "delta %u from %u", act->ack_delta, act->ack_init);
		}
		if (act->flags & AFF_F_INTEREST) {
			const struct {
				const char *name;
				uint16_t v;
			} vec[] = { { "interest", act->int_mask }, { "int_data", act->int_data },
				    { "int_copy", act->int_copy }, { "int_hold", act->int_hold } };
			for (size_t i = 0; i < LOOM_ARRAY_SIZE(vec); i++) {
				ctl_int_bits(vec[i].v, buf, sizeof(buf));
				FIELD(vec[i].name, "%s", buf);
			}
			ctl_addr_port(act->int_addr, act->int_port, a, sizeof(a));
			FIELD("int_to", "%s", a);
		}
		hex(f->v.mgr_data, f->v.mgr_len < AFF_FIXED_MGR_DATA ? f->v.mgr_len
								       : AFF_FIXED_MGR_DATA, buf, sizeof(buf));
		FIELD("mgr_data", "%s", f->v.mgr_len ? buf : "-");
		FIELD("packets", "%" PRIu64, f->packets);
		FIELD("bytes", "%" PRIu64, f->bytes);
		ctl_duration(ctl_idle_ms(f, now_ms), buf, sizeof(buf));
		FIELD("idle", "%s%s", buf, f->last_seen_ns ? "" : " (no packet yet)");
		FIELD("ttl", "%us", f->v.ttl_s);
		ctl_ttl_text(f->v.expires_ms, now_ms, buf, sizeof(buf));
		FIELD("ttl_left", "%s", buf);
#undef FIELD
	}
	printf("\nMatching wildcard:%s\n", wi < 0 ? " none" : "");
	if (wi >= 0) {
		struct ctl_tbl t;
		ctl_tbl_init(&t, stdout, wild_cols, LOOM_ARRAY_SIZE(wild_cols));
		wild_row(&t, &s->wild[wi], (uint32_t)wi, now_ms);
		ctl_tbl_flush(&t);
		ctl_tbl_free(&t);
	}
}

int ctl_cmd_aff_show(const struct ctl_opts *o, const struct flow_key *key)
{
	struct ctl_aff *c;
	struct ctl_fixed f;
	struct ctl_snap s;
	struct ctl_json jw;
	int r = open_or_explain(o, &c), found, wi = -1;

	if (r)
		return r;
	found = ctl_aff_lookup(c, key, &f);
	ctl_aff_snapshot(c, &s);
	uint64_t now_ms = ctl_now_ms();
	if (s.present)
		wi = aff_snap_find(&s.view, key, INT64_MAX, now_ms);

	if (found == -EAGAIN)
		fprintf(stderr, "loomctl: the entry kept changing while read; try again\n");
	if (o->json) {
		ctl_json_init(&jw, stdout);
		ctl_json_obj(&jw);
		ctl_json_key(&jw, "instance");
		ctl_json_val(&jw, json_string(o->instance));
		ctl_json_key(&jw, "now_ms");
		ctl_json_val(&jw, ctl_json_u64(now_ms));
		ctl_json_key(&jw, "key");
		ctl_json_val(&jw, j_key(key, json_object()));
		ctl_json_key(&jw, "fixed");
		ctl_json_val(&jw, found == 0 ? j_fixed(&f, now_ms) : json_null());
		ctl_json_key(&jw, "wildcard");
		ctl_json_val(&jw, wi >= 0 ? j_wild(&s.wild[wi], (uint32_t)wi, now_ms) : json_null());
		ctl_json_end(&jw);
	} else {
		show_text(key, found == 0 ? &f : NULL, &s, wi, now_ms);
	}
	ctl_snap_free(&s);
	ctl_aff_close(c);
	r = ctl_finish(o->json ? &jw : NULL, 0);
	if (r == CTL_EXIT_OK && found == -ENOENT)
		return CTL_EXIT_NOT_FOUND;
	if (r == CTL_EXIT_OK && found < 0)
		return CTL_EXIT_FAIL;
	return r;
}

/* ---- affinity stats ---------------------------------------------------------------- */

static int count_piece(const struct ctl_fixed *rows, size_t n, void *arg)
{
	(void)rows;
	*(uint64_t *)arg += n;
	return 0;
}

int ctl_cmd_aff_stats(const struct ctl_opts *o)
{
	struct ctl_aff *c;
	struct ctl_snap s;
	struct ctl_seg_stats sf, sw;
	struct shm_table_rstats rs;
	struct ctl_rerr re;
	struct ctl_json jw;
	uint64_t walked = 0;
	int r = open_or_explain(o, &c);

	if (r)
		return r;
	/* a full walk: the count is what a reader can actually reach, and any
	 * damage the walk meets shows in the reader-side error counts */
	ctl_aff_walk(c, UINT64_MAX, count_piece, &walked);
	ctl_aff_snapshot(c, &s);
	ctl_aff_seg_stats(c, false, &sf);
	ctl_aff_seg_stats(c, true, &sw);
	ctl_aff_reader_errors(c, &rs, &re);
	const struct shm_table_geom *g = ctl_aff_geom(c);
	uint64_t hint = ctl_aff_count_hint(c), now_ms = ctl_now_ms();
	uint64_t age = s.present && now_ms > s.built_ms ? now_ms - s.built_ms : 0;
	double fill = g->capacity ? 100.0 * (double)walked / g->capacity : 0;

	if (o->json) {
		ctl_json_init(&jw, stdout);
		ctl_json_obj(&jw);
		ctl_json_key(&jw, "instance");
		ctl_json_val(&jw, json_string(o->instance));
		json_t *fx = json_object();
		ctl_json_set(fx, "count", ctl_json_u64(walked));
		ctl_json_set(fx, "writer_count", ctl_json_u64(hint));
		ctl_json_set(fx, "capacity", json_integer(g->capacity));
		ctl_json_set(fx, "fill_pct", json_real(fill));
		ctl_json_set(fx, "lanes", json_integer(g->lanes));
		ctl_json_key(&jw, "fixed");
		ctl_json_val(&jw, fx);
		ctl_json_key(&jw, "wildcards");
		ctl_json_val(&jw, json_integer(s.nwild));
		ctl_json_key(&jw, "wildcard_capacity");
		ctl_json_val(&jw, json_integer(AFF_MAX_WILDCARDS));
		ctl_json_key(&jw, "advertised");
		ctl_json_val(&jw, json_integer(s.nadv));
		json_t *sn = json_object();
		ctl_json_set(sn, "present", json_boolean(s.present));
		ctl_json_set(sn, "generation", ctl_json_u64(s.generation));
		ctl_json_set(sn, "built_ms", ctl_json_u64(s.built_ms));
		ctl_json_set(sn, "age_ms", ctl_json_u64(age));
		ctl_json_key(&jw, "snapshot");
		ctl_json_val(&jw, sn);
		ctl_json_key(&jw, "segments");
		ctl_json_obj(&jw);
		ctl_json_key(&jw, "affinity");
		ctl_json_val(&jw, ctl_json_seg(&sf));
		ctl_json_key(&jw, "wildcard");
		ctl_json_val(&jw, ctl_json_seg(&sw));
		ctl_json_end(&jw);
		json_t *e = json_object();
		ctl_json_set(e, "bad_index", ctl_json_u64(rs.bad_index));
		ctl_json_set(e, "long_chain", ctl_json_u64(rs.long_chain));
		ctl_json_set(e, "retries", ctl_json_u64(rs.retries));
		ctl_json_set(e, "busy", ctl_json_u64(re.busy));
		ctl_json_set(e, "bad_snapshot", ctl_json_u64(re.bad_snapshot));
		ctl_json_set(e, "clamped", ctl_json_u64(re.clamped));
		ctl_json_set(e, "overflow", ctl_json_u64(re.overflow));
		ctl_json_key(&jw, "reader_errors");
		ctl_json_val(&jw, e);
		ctl_json_end(&jw);
	} else {
		static const struct ctl_tbl_col kv[] = { { "FIGURE", false }, { "VALUE", true } };
		struct {
			const char *name;
			uint64_t v;
		} figs[] = {
			{ "fixed", walked }, { "fixed_writer_count", hint },
			{ "fixed_capacity", g->capacity }, { "wildcards", s.nwild },
			{ "wildcard_capacity", AFF_MAX_WILDCARDS }, { "advertised", s.nadv },
			{ "snapshot_generation", s.generation }, { "snapshot_age_ms", age },
			{ "bad_index", rs.bad_index }, { "long_chain", rs.long_chain },
			{ "retries", rs.retries }, { "busy", re.busy },
			{ "bad_snapshot", re.bad_snapshot }, { "clamped", re.clamped },
			{ "overflow", re.overflow },
		};
		struct ctl_tbl t;
		char v[32];

		printf("Affinity tables of instance %s\n", o->instance);
		ctl_tbl_init(&t, stdout, kv, LOOM_ARRAY_SIZE(kv));
		for (size_t i = 0; i < LOOM_ARRAY_SIZE(figs); i++) {
			snprintf(v, sizeof(v), "%" PRIu64, figs[i].v);
			const char *cells[] = { figs[i].name, v };
			ctl_tbl_row(&t, cells);
			if (!strcmp(figs[i].name, "fixed_capacity")) {
				snprintf(v, sizeof(v), "%.1f%%", fill);
				const char *fc[] = { "fixed_fill", v };
				ctl_tbl_row(&t, fc);
			}
		}
		ctl_tbl_flush(&t);
		ctl_tbl_free(&t);
		printf("\n");
		ctl_tbl_init(&t, stdout, ctl_seg_cols, LOOM_ARRAY_SIZE(ctl_seg_cols));
		ctl_seg_row(&t, "affinity", &sf);
		ctl_seg_row(&t, "wildcard", &sw);
		ctl_tbl_flush(&t);
		ctl_tbl_free(&t);
	}
	ctl_snap_free(&s);
	ctl_aff_close(c);
	return ctl_finish(o->json ? &jw : NULL, 0);
}
