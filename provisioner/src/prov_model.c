// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The generic change path of prov_model.h: shape, references, rules, store,
 * version, all in one transaction, driven by the resource tables.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/str.h"
#include "prov_addr.h"
#include "prov_auth.h"
#include "prov_db.h"
#include "prov_model.h"
#include "prov_version.h"

#define TEXT_MAX 255

static void path_join(char *out, size_t len, const char *base, const char *key, long idx)
{
	if (idx >= 0)
		snprintf(out, len, "%.40s[%ld]", base, idx);
	else if (base[0])
		snprintf(out, len, "%.40s.%.20s", base, key);
	else
		snprintf(out, len, "%.60s", key);
}

static bool valid_name(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n > 63 || !isalnum((unsigned char)s[0]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("._-", s[i]))
			return false;
	return true;
}

static int shape_scalar(const struct prov_field *f, const json_t *v, const char *path,
			json_t **out, struct prov_error *e)
{
	char canon[PROV_ADDR_TEXT];
	struct prov_prefix p;
	const char *s;

	if (f->type == PF_INT || f->type == PF_REF) {
		if (!json_is_integer(v))
			return prov_fail(e, PROV_E_TYPE, path, "expected an integer%s",
					 f->type == PF_REF ? " (an id)" : "");
		json_int_t n = json_integer_value(v);
		if (f->type == PF_REF && n < 1)
			return prov_fail(e, PROV_E_REFERENCE, path, "ids start at 1");
		if (f->type == PF_INT && (n < f->min || n > f->max))
			return prov_fail(e, PROV_E_INVALID, path, "%" JSON_INTEGER_FORMAT " is out of "
					 "range [%" PRId64 ", %" PRId64 "]", n, f->min, f->max);
		*out = json_integer(n);
		return 0;
	}
	if (!json_is_string(v))
		return prov_fail(e, PROV_E_TYPE, path, "expected a string");
	s = json_string_value(v);
	if (strlen(s) != json_string_length(v))
		return prov_fail(e, PROV_E_INVALID, path, "contains a NUL character");
	switch (f->type) {
	case PF_NAME:
		if (!valid_name(s))
			return prov_fail(e, PROV_E_INVALID, path, "a name is 1 to 63 letters, digits, "
					 "'.', '_' or '-', starting with a letter or digit");
		break;
	case PF_TEXT:
		if (strlen(s) > (size_t)(f->max ? f->max : TEXT_MAX))
			return prov_fail(e, PROV_E_INVALID, path, "longer than %" PRId64 " bytes",
					 f->max ? f->max : TEXT_MAX);
		for (const char *c = s; *c; c++)
			if ((unsigned char)*c < 0x20)
				return prov_fail(e, PROV_E_INVALID, path, "contains a control "
						 "character");
		break;
	case PF_ENUM: {
		char list[160];
		size_t off = 0;
		for (const char *const *n = f->names; *n; n++) {
			if (!strcmp(*n, s))
				goto ok;
			loom_appendf(list, sizeof(list), &off, "%s%s", off ? ", " : "", *n);
		}
		return prov_fail(e, PROV_E_INVALID, path, "'%.40s' is not one of %s", s, list);
	}
	case PF_MAC: {
		int r = prov_mac_parse(s, canon);
		if (r == -EDOM)
			return prov_fail(e, PROV_E_INVALID, path, "%s is not a unicast MAC address", s);
		if (r < 0)
			return prov_fail(e, PROV_E_INVALID, path, "expected a MAC address like "
					 "02:00:5e:00:00:01");
		*out = json_string(canon);
		return 0;
	}
	case PF_ADDR:
		if (prov_addr_parse(s, &p) < 0)
			return prov_fail(e, PROV_E_INVALID, path, "'%.60s' is not an IPv4 or IPv6 "
					 "address", s);
		prov_prefix_format(&p, false, canon, sizeof(canon));
		*out = json_string(canon);
		return 0;
	case PF_PREFIX: {
		int r = prov_prefix_parse(s, &p);
		if (r == -EDOM)
			return prov_fail(e, PROV_E_INVALID, path, "%.60s has host bits set", s);
		if (r < 0)
			return prov_fail(e, PROV_E_INVALID, path, "'%.60s' is not a prefix like "
					 "192.0.2.0/24", s);
		prov_prefix_format(&p, true, canon, sizeof(canon));
		*out = json_string(canon);
		return 0;
	}
	case PF_SECRET: {
		char hash[PROV_HASH_LEN];
		size_t n = strlen(s);
		if ((int64_t)n < f->min || (int64_t)n > f->max)
			return prov_fail(e, PROV_E_INVALID, path, "a password has %" PRId64 " to %"
					 PRId64 " characters", f->min, f->max);
		if (prov_password_hash(s, hash) < 0)
			return prov_fail(e, PROV_E_INTERNAL, path, "cannot hash the password");
		*out = json_string(hash);
		return 0;
	}
	default:
		return prov_fail(e, PROV_E_INTERNAL, path, "field type %d", f->type);
	}
ok:
	*out = json_string(s);
	return 0;
}

static int shape_field(const struct prov_field *f, json_t *v, const char *path,
		       bool creating, json_t **out, struct prov_error *e);

static int shape_list(const struct prov_field *f, json_t *v, const char *path,
		      json_t **out, struct prov_error *e)
{
	const struct prov_list *l = f->list;
	json_t *arr, *el;
	size_t i;
	char p[PROV_FIELD_LEN];
	int r;

	if (!json_is_array(v))
		return prov_fail(e, PROV_E_TYPE, path, "expected an array");
	if ((int64_t)json_array_size(v) < f->min || (int64_t)json_array_size(v) > f->max)
		return prov_fail(e, PROV_E_INVALID, path, "has %zu entries, expected %" PRId64
				 " to %" PRId64, json_array_size(v), f->min, f->max);
	arr = json_array();
	json_array_foreach(v, i, el) {
		json_t *n = NULL;
		path_join(p, sizeof(p), path, NULL, (long)i);
		if (l->n_fields == 1) {
			r = shape_field(&l->fields[0], el, p, true, &n, e);
		} else if (!json_is_object(el)) {
			r = prov_fail(e, PROV_E_TYPE, p, "expected an object");
		} else {
			const char *k;
			json_t *x;
			n = json_object();
			r = 0;
			json_object_foreach(el, k, x) {
				size_t j;
				for (j = 0; j < l->n_fields && strcmp(l->fields[j].name, k); j++)
					;
				if (j == l->n_fields) {
					char q[PROV_FIELD_LEN];
					path_join(q, sizeof(q), p, k, -1);
					r = prov_fail(e, PROV_E_UNKNOWN_FIELD, q, "no such field");
					break;
				}
			}
			for (size_t j = 0; !r && j < l->n_fields; j++) {
				char q[PROV_FIELD_LEN];
				json_t *fv = NULL;
				path_join(q, sizeof(q), p, l->fields[j].name, -1);
				r = shape_field(&l->fields[j], json_object_get(el, l->fields[j].name), q,
						true, &fv, e);
				if (!r)
					json_object_set_new(n, l->fields[j].name, fv);
			}
		}
		if (r) {
			json_decref(n);
			json_decref(arr);
			return r;
		}
		json_array_append_new(arr, n);
	}
	*out = arr;
	return 0;
}

static int shape_field(const struct prov_field *f, json_t *v, const char *path,
		       bool creating, json_t **out, struct prov_error *e)
{
	if (!v || json_is_null(v)) {
		/* a password left out of a replacement keeps the old one */
		if (f->required && !(f->type == PF_SECRET && !creating))
			return prov_fail(e, PROV_E_MISSING, path, "required");
		if (f->type == PF_LIST)
			*out = json_array();
		else if (!f->def)
			*out = json_null();
		else if (f->type == PF_INT)
			*out = json_integer(strtoll(f->def, NULL, 10));
		else
			*out = json_string(f->def);
		return 0;
	}
	if (f->type == PF_LIST)
		return shape_list(f, v, path, out, e);
	return shape_scalar(f, v, path, out, e);
}

/* Validate the shape of one object (step 1) into *norm. */
static int prov_obj_shape(const struct prov_resource *r, json_t *body, bool creating,
			  json_t **norm, struct prov_error *e)
{
	const char *k;
	json_t *o, *v;
	int rc;

	*norm = NULL;
	if (!json_is_object(body))
		return prov_fail(e, PROV_E_TYPE, NULL, "the body must be a JSON object");
	json_object_foreach(body, k, v) {
		size_t i;
		if (!strcmp(k, "id"))
			continue; /* the caller's business */
		for (i = 0; i < r->n_fields && strcmp(r->fields[i].name, k); i++)
			;
		if (i == r->n_fields)
			return prov_fail(e, PROV_E_UNKNOWN_FIELD, k, "a %s has no such field", r->one);
	}
	o = json_object();
	for (size_t i = 0; i < r->n_fields; i++) {
		json_t *fv = NULL;
		const struct prov_field *f = &r->fields[i];
		if ((rc = shape_field(f, json_object_get(body, f->name), f->name, creating, &fv, e))) {
			json_decref(o);
			return rc;
		}
		json_object_set_new(o, f->name, fv);
	}
	*norm = o;
	return 0;
}

/* ---- references --------------------------------------------------------- */

static int ref_exists(struct prov_model *m, const struct prov_field *f, const json_t *v,
		      const char *path, struct prov_error *e)
{
	char sql[96];
	int r;

	if (!json_is_integer(v))
		return 0;
	snprintf(sql, sizeof(sql), "SELECT 1 FROM \"%s\" WHERE id = ?1", f->ref);
	r = prov_db_int(m->db, sql, json_integer_value(v), 0, NULL, e);
	if (r == 0) {
		const struct prov_resource *to = prov_resource_by_table(f->ref);
		return prov_fail(e, PROV_E_REFERENCE, path, "no %s %" JSON_INTEGER_FORMAT,
				 to ? to->one : f->ref, json_integer_value(v));
	}
	return r < 0 ? r : 0;
}

static int check_refs(struct prov_model *m, const struct prov_resource *r, const json_t *obj,
		      struct prov_error *e)
{
	char p[PROV_FIELD_LEN], q[PROV_FIELD_LEN];
	int rc;

	for (size_t i = 0; i < r->n_fields; i++) {
		const struct prov_field *f = &r->fields[i];
		const json_t *v = json_object_get(obj, f->name), *el;
		size_t k;

		if (f->type == PF_REF && (rc = ref_exists(m, f, v, f->name, e)))
			return rc;
		if (f->type != PF_LIST)
			continue;
		json_array_foreach(v, k, el) {
			path_join(p, sizeof(p), f->name, NULL, (long)k);
			for (size_t j = 0; j < f->list->n_fields; j++) {
				const struct prov_field *lf = &f->list->fields[j];
				if (lf->type != PF_REF)
					continue;
				if (f->list->n_fields == 1) {
					rc = ref_exists(m, lf, el, p, e);
				} else {
					path_join(q, sizeof(q), p, lf->name, -1);
					rc = ref_exists(m, lf, json_object_get(el, lf->name), q, e);
				}
				if (rc)
					return rc;
			}
		}
	}
	return 0;
}

/* ---- rows <-> JSON ------------------------------------------------------ */

static const char *column(const struct prov_field *f, char *buf, size_t len)
{
	if (f->type == PF_SECRET)
		snprintf(buf, len, "%s_hash", f->name);
	else
		snprintf(buf, len, "%s", f->name);
	return buf;
}

static void bind_json(sqlite3_stmt *st, int i, const json_t *v)
{
	if (json_is_integer(v))
		sqlite3_bind_int64(st, i, json_integer_value(v));
	else if (json_is_string(v))
		sqlite3_bind_text(st, i, json_string_value(v), -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, i);
}

static json_t *column_json(sqlite3_stmt *st, int i, const struct prov_field *f)
{
	if (sqlite3_column_type(st, i) == SQLITE_NULL)
		return json_null();
	if (f->type == PF_INT || f->type == PF_REF)
		return json_integer(sqlite3_column_int64(st, i));
	return json_string((const char *)sqlite3_column_text(st, i));
}

/* A statement that broke a constraint: which field, and what kind of clash. */
static int store_fail(struct prov_model *m, const struct prov_resource *r, struct prov_error *e)
{
	const char *msg = sqlite3_errmsg(m->db);
	int ext = sqlite3_extended_errcode(m->db);

	if (ext == SQLITE_CONSTRAINT_UNIQUE || ext == SQLITE_CONSTRAINT_PRIMARYKEY) {
		const char *dot = strrchr(msg, '.');
		const char *field = dot ? dot + 1 : "";
		return prov_fail(e, PROV_E_CONFLICT, field, "another %s has the same %s", r->one,
				 field);
	}
	if (ext == SQLITE_CONSTRAINT_FOREIGNKEY)
		return prov_fail(e, PROV_E_IN_USE, NULL, "other definitions still refer to it");
	return prov_db_fail(m->db, e, "store");
}

static int store_list(struct prov_model *m, const struct prov_field *f, int64_t id,
		      const json_t *arr, struct prov_error *e)
{
	const struct prov_list *l = f->list;
	char sql[512], c[64];
	size_t off = 0, i;
	sqlite3_stmt *st;
	const json_t *el;
	int r = 0;

	snprintf(sql, sizeof(sql), "DELETE FROM \"%s\" WHERE parent_id = ?1", l->table);
	if (prov_db_int(m->db, sql, id, 0, NULL, e) < 0)
		return -PROV_E_INTERNAL;
	off = 0;
	loom_appendf(sql, sizeof(sql), &off, "INSERT INTO \"%s\"(parent_id, position", l->table);
	for (size_t j = 0; j < l->n_fields; j++)
		loom_appendf(sql, sizeof(sql), &off, ", \"%s\"",
			     l->n_fields == 1 ? "value" : column(&l->fields[j], c, sizeof(c)));
	loom_appendf(sql, sizeof(sql), &off, ") VALUES(?, ?");
	for (size_t j = 0; j < l->n_fields; j++)
		loom_appendf(sql, sizeof(sql), &off, ", ?");
	loom_appendf(sql, sizeof(sql), &off, ")");
	if (sqlite3_prepare_v2(m->db, sql, -1, &st, NULL) != SQLITE_OK)
		return prov_db_fail(m->db, e, "prepare");
	json_array_foreach(arr, i, el) {
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_int64(st, 2, (int64_t)i);
		for (size_t j = 0; j < l->n_fields; j++)
			bind_json(st, (int)j + 3, l->n_fields == 1 ? el :
				  json_object_get(el, l->fields[j].name));
		if (sqlite3_step(st) != SQLITE_DONE) {
			r = prov_db_fail(m->db, e, "store list");
			break;
		}
	}
	sqlite3_finalize(st);
	return r;
}

/*
 * Write obj as object *id of r: insert when *id is 0 (the new id is set),
 * or with the given id when `insert` (import), update otherwise.
 */
static int store(struct prov_model *m, const struct prov_resource *r, int64_t *id, bool insert,
		 const json_t *obj, struct prov_error *e)
{
	char sql[1024], c[64];
	size_t off;
	sqlite3_stmt *st;
	int n = 0, rc;
	bool update = *id && !insert;

	if (update) {
		off = 0;
		loom_appendf(sql, sizeof(sql), &off, "UPDATE \"%s\" SET id = id", r->table);
		for (size_t i = 0; i < r->n_fields; i++) {
			const struct prov_field *f = &r->fields[i];
			if (f->type == PF_LIST || (f->type == PF_SECRET &&
						   json_is_null(json_object_get(obj, f->name))))
				continue;
			loom_appendf(sql, sizeof(sql), &off, ", \"%s\" = ?",
				     column(f, c, sizeof(c)));
		}
		loom_appendf(sql, sizeof(sql), &off, " WHERE id = ?");
	} else {
		char vals[256] = "?";
		size_t voff = 1;
		off = 0;
		loom_appendf(sql, sizeof(sql), &off, "INSERT INTO \"%s\"(id", r->table);
		for (size_t i = 0; i < r->n_fields; i++) {
			if (r->fields[i].type == PF_LIST)
				continue;
			loom_appendf(sql, sizeof(sql), &off, ", \"%s\"",
				     column(&r->fields[i], c, sizeof(c)));
			loom_appendf(vals, sizeof(vals), &voff, ", ?");
		}
		loom_appendf(sql, sizeof(sql), &off, ") VALUES(%s)", vals);
	}
	if (sqlite3_prepare_v2(m->db, sql, -1, &st, NULL) != SQLITE_OK)
		return prov_db_fail(m->db, e, "prepare");
	if (!update) {
		if (*id)
			sqlite3_bind_int64(st, ++n, *id);
		else
			sqlite3_bind_null(st, ++n);
	}
	for (size_t i = 0; i < r->n_fields; i++) {
		const struct prov_field *f = &r->fields[i];
		const json_t *v = json_object_get(obj, f->name);
		if (f->type == PF_LIST || (update && f->type == PF_SECRET && json_is_null(v)))
			continue;
		bind_json(st, ++n, v);
	}
	if (update)
		sqlite3_bind_int64(st, ++n, *id);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : store_fail(m, r, e);
	sqlite3_finalize(st);
	if (rc)
		return rc;
	if (!*id)
		*id = sqlite3_last_insert_rowid(m->db);
	for (size_t i = 0; i < r->n_fields; i++)
		if (r->fields[i].type == PF_LIST &&
		    (rc = store_list(m, &r->fields[i], *id, json_object_get(obj, r->fields[i].name), e)))
			return rc;
	return 0;
}

static int load_list(struct prov_model *m, const struct prov_field *f, int64_t id, json_t **out,
		     struct prov_error *e)
{
	const struct prov_list *l = f->list;
	char sql[512], c[64];
	size_t off = 0;
	sqlite3_stmt *st;
	int s;

	loom_appendf(sql, sizeof(sql), &off, "SELECT ");
	for (size_t j = 0; j < l->n_fields; j++)
		loom_appendf(sql, sizeof(sql), &off, "%s\"%s\"", j ? ", " : "",
			     l->n_fields == 1 ? "value" : column(&l->fields[j], c, sizeof(c)));
	loom_appendf(sql, sizeof(sql), &off, " FROM \"%s\" WHERE parent_id = ?1 ORDER BY position",
		     l->table);
	if (sqlite3_prepare_v2(m->db, sql, -1, &st, NULL) != SQLITE_OK)
		return prov_db_fail(m->db, e, "prepare");
	sqlite3_bind_int64(st, 1, id);
	*out = json_array();
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		if (l->n_fields == 1) {
			json_array_append_new(*out, column_json(st, 0, &l->fields[0]));
			continue;
		}
		json_t *o = json_object();
		for (size_t j = 0; j < l->n_fields; j++)
			json_object_set_new(o, l->fields[j].name, column_json(st, (int)j, &l->fields[j]));
		json_array_append_new(*out, o);
	}
	sqlite3_finalize(st);
	if (s != SQLITE_DONE) {
		json_decref(*out);
		*out = NULL;
		return prov_db_fail(m->db, e, "load list");
	}
	return 0;
}

/* Object id of r as the API shows it (secrets left out); -PROV_E_NOT_FOUND if none. */
static int load(struct prov_model *m, const struct prov_resource *r, int64_t id, json_t **out,
		struct prov_error *e)
{
	char sql[1024], c[64];
	size_t off = 0;
	sqlite3_stmt *st;
	json_t *o;
	int s, rc = 0;

	loom_appendf(sql, sizeof(sql), &off, "SELECT id");
	for (size_t i = 0; i < r->n_fields; i++)
		loom_appendf(sql, sizeof(sql), &off, ", \"%s\"",
			     r->fields[i].type == PF_LIST ? "id" :
			     column(&r->fields[i], c, sizeof(c)));
	loom_appendf(sql, sizeof(sql), &off, " FROM \"%s\" WHERE id = ?1", r->table);
	if (sqlite3_prepare_v2(m->db, sql, -1, &st, NULL) != SQLITE_OK)
		return prov_db_fail(m->db, e, "prepare");
	sqlite3_bind_int64(st, 1, id);
	s = sqlite3_step(st);
	if (s != SQLITE_ROW) {
		rc = s == SQLITE_DONE ? prov_fail(e, PROV_E_NOT_FOUND, NULL, "no %s %" PRId64, r->one, id)
				      : prov_db_fail(m->db, e, "load");
		sqlite3_finalize(st);
		return rc;
	}
	o = json_object();
	json_object_set_new(o, "id", json_integer(id));
	for (size_t i = 0; i < r->n_fields; i++) {
		const struct prov_field *f = &r->fields[i];
		if (f->type == PF_SECRET || f->type == PF_LIST)
			continue;
		json_object_set_new(o, f->name, column_json(st, (int)i + 1, f));
	}
	sqlite3_finalize(st);
	for (size_t i = 0; !rc && i < r->n_fields; i++) {
		json_t *l = NULL;
		if (r->fields[i].type != PF_LIST)
			continue;
		if (!(rc = load_list(m, &r->fields[i], id, &l, e)))
			json_object_set_new(o, r->fields[i].name, l);
	}
	if (rc) {
		json_decref(o);
		return rc;
	}
	*out = o;
	return 0;
}

/* Every id of table, ascending, into a new array of n (caller frees). */
static int ids_of(struct prov_model *m, const char *table, int64_t **ids, size_t *n,
		  struct prov_error *e)
{
	char sql[96];
	sqlite3_stmt *st;
	size_t cap = 16;
	int s;

	snprintf(sql, sizeof(sql), "SELECT id FROM \"%s\" ORDER BY id", table);
	if (sqlite3_prepare_v2(m->db, sql, -1, &st, NULL) != SQLITE_OK)
		return prov_db_fail(m->db, e, "prepare");
	*n = 0;
	*ids = malloc(cap * sizeof(**ids));
	while (*ids && (s = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n == cap) {
			int64_t *more = realloc(*ids, 2 * cap * sizeof(**ids));
			if (!more)
				break;
			*ids = more;
			cap *= 2;
		}
		(*ids)[(*n)++] = sqlite3_column_int64(st, 0);
	}
	sqlite3_finalize(st);
	if (!*ids || s != SQLITE_DONE) {
		free(*ids);
		*ids = NULL;
		return prov_fail(e, PROV_E_INTERNAL, NULL, "listing %s failed", table);
	}
	return 0;
}

/* ---- roles -------------------------------------------------------------- */

static int authorize(struct prov_model *m, const struct prov_resource *r,
		     const struct prov_actor *who, const json_t *obj, struct prov_error *e)
{
	int64_t owner;
	const json_t *v;

	if (!who || who->role == PROV_ROLE_PROVIDER)
		return 0;
	if (!r->owner_field)
		return prov_fail(e, PROV_E_FORBIDDEN, NULL, "only a provider-admin may use %s",
				 r->url);
	v = json_object_get(obj, r->owner_field);
	owner = json_integer_value(v);
	if (r->owner_sql && json_is_integer(v) &&
	    prov_db_int(m->db, r->owner_sql, owner, 0, &owner, e) < 0)
		return -PROV_E_INTERNAL;
	if (!json_is_integer(v) || owner != who->customer)
		return prov_fail(e, PROV_E_FORBIDDEN, NULL, "this %s belongs to another customer",
				 r->one);
	return 0;
}

/* ---- operations ----------------------------------------------------------- */

int prov_obj_get(struct prov_model *m, const struct prov_resource *r,
		 const struct prov_actor *who, int64_t id, json_t **out, struct prov_error *e)
{
	int rc;

	*out = NULL;
	if (who && who->role != PROV_ROLE_PROVIDER && !r->owner_field)
		return authorize(m, r, who, NULL, e);
	if ((rc = load(m, r, id, out, e)))
		return rc;
	if ((rc = authorize(m, r, who, *out, e))) {
		json_decref(*out);
		*out = NULL;
	}
	return rc;
}

int prov_obj_list(struct prov_model *m, const struct prov_resource *r,
		  const struct prov_actor *who, json_t **out, struct prov_error *e)
{
	int64_t *ids;
	size_t n;
	int rc;

	*out = NULL;
	if (who && who->role != PROV_ROLE_PROVIDER && !r->owner_field)
		return authorize(m, r, who, NULL, e);
	if ((rc = ids_of(m, r->table, &ids, &n, e)))
		return rc;
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++) {
		json_t *o;
		if ((rc = load(m, r, ids[i], &o, e)))
			break;
		/* a customer admin sees its own and nothing of the others */
		if (authorize(m, r, who, o, NULL) == 0)
			json_array_append_new(arr, o);
		else
			json_decref(o);
	}
	free(ids);
	if (rc) {
		json_decref(arr);
		return rc;
	}
	*out = arr;
	return 0;
}

/*
 * After a change to r, the objects whose rules read r must still hold
 * (prov_resource.recheck): the change is refused otherwise.
 */
static int recheck(struct prov_model *m, const struct prov_resource *r, struct prov_error *e)
{
	for (size_t k = 0; k < LOOM_ARRAY_SIZE(r->recheck) && r->recheck[k]; k++) {
		const struct prov_resource *d = prov_resource_by_table(r->recheck[k]);
		int64_t *ids;
		size_t n;
		int rc;

		if (!d || !d->check)
			continue;
		if ((rc = ids_of(m, d->table, &ids, &n, e)))
			return rc;
		for (size_t i = 0; !rc && i < n; i++) {
			json_t *o;
			struct prov_error why;
			if ((rc = load(m, d, ids[i], &o, e)))
				break;
			if ((rc = d->check(m, ids[i], o, &why)) && why.reason != PROV_E_INTERNAL)
				rc = prov_fail(e, PROV_E_CONFLICT, NULL, "%s %" PRId64 " ('%s') would "
					       "no longer be valid: %s: %s", d->one, ids[i],
					       json_string_value(json_object_get(o, "name")),
					       why.field, why.message);
			else if (rc)
				*e = why;
			json_decref(o);
		}
		free(ids);
		if (rc)
			return rc;
	}
	return 0;
}

static int finish(struct prov_model *m, const struct prov_resource *r,
		  const struct prov_actor *who, const char *verb, int64_t id, json_t **out,
		  struct prov_error *e)
{
	char change[128];
	int rc;

	if ((rc = recheck(m, r, e)))
		return rc;
	/* nobody could make the next provider-admin */
	if (!strcmp(r->table, "users") &&
	    (rc = prov_db_int(m->db, "SELECT 1 FROM users WHERE role = 'provider-admin'", 0, 0,
			      NULL, e)) <= 0)
		return rc < 0 ? rc : prov_fail(e, PROV_E_CONFLICT, NULL, "the last provider-admin "
					       "cannot go");
	snprintf(change, sizeof(change), "%s %s %" PRId64, verb, r->url, id);
	if (r->versioned && (rc = prov_version_commit(m, who, change, NULL, e)))
		return rc;
	if (out && (rc = load(m, r, id, out, e)))
		return rc;
	return prov_db_commit(m->db, e);
}

static int validate(struct prov_model *m, const struct prov_resource *r,
		    const struct prov_actor *who, int64_t id, const json_t *norm,
		    struct prov_error *e)
{
	int rc;

	if ((rc = check_refs(m, r, norm, e)) || (rc = authorize(m, r, who, norm, e)))
		return rc;
	return r->check ? r->check(m, id, norm, e) : 0;
}

/* Steps 2 to 6 of a change whose body has its shape: object id, or a new one (0). */
static int apply(struct prov_model *m, const struct prov_resource *r,
		 const struct prov_actor *who, int64_t id, const json_t *norm, json_t **out,
		 struct prov_error *e)
{
	const char *verb = id ? "replace" : "create";
	int rc;

	if ((rc = prov_db_begin(m->db, e)))
		return rc;
	if ((rc = validate(m, r, who, id, norm, e)) || (rc = store(m, r, &id, false, norm, e)) ||
	    (rc = finish(m, r, who, verb, id, out, e))) {
		prov_db_rollback(m->db);
		json_decref(*out);
		*out = NULL;
	}
	return rc;
}

int prov_obj_create(struct prov_model *m, const struct prov_resource *r,
		    const struct prov_actor *who, json_t *body, json_t **out,
		    struct prov_error *e)
{
	json_t *norm;
	int rc;

	*out = NULL;
	if (json_is_object(body) && json_object_get(body, "id"))
		return prov_fail(e, PROV_E_UNKNOWN_FIELD, "id", "ids are assigned by the server");
	if ((rc = prov_obj_shape(r, body, true, &norm, e)))
		return rc;
	rc = apply(m, r, who, 0, norm, out, e);
	json_decref(norm);
	return rc;
}

int prov_obj_replace(struct prov_model *m, const struct prov_resource *r,
		     const struct prov_actor *who, int64_t id, json_t *body, bool merge,
		     json_t **out, struct prov_error *e)
{
	json_t *old = NULL, *norm = NULL, *id_v;
	int rc;

	*out = NULL;
	if ((rc = prov_obj_get(m, r, who, id, &old, e)))
		return rc;
	id_v = json_is_object(body) ? json_object_get(body, "id") : NULL;
	if (id_v && (!json_is_integer(id_v) || json_integer_value(id_v) != id)) {
		json_decref(old);
		return prov_fail(e, PROV_E_INVALID, "id", "differs from the id in the URL");
	}
	if (merge && json_is_object(body)) {
		/* PATCH: the fields the body names, the others as they are */
		json_object_update(old, body);
		body = old;
	}
	rc = prov_obj_shape(r, body, false, &norm, e);
	json_decref(old);
	if (rc)
		return rc;
	rc = apply(m, r, who, id, norm, out, e);
	json_decref(norm);
	return rc;
}

/* Who still refers to object id of r: a clear 409 rather than SQLite's. */
int prov_change_begin(struct prov_model *m, struct prov_error *e)
{
	return prov_db_begin(m->db, e);
}

int prov_change_put(struct prov_model *m, const struct prov_resource *r,
		    const struct prov_actor *who, int64_t *id, json_t *body,
		    struct prov_error *e)
{
	json_t *norm;
	int rc;

	if ((rc = prov_obj_shape(r, body, *id == 0, &norm, e)))
		return rc;
	if (!(rc = validate(m, r, who, *id, norm, e)))
		rc = store(m, r, id, false, norm, e);
	json_decref(norm);
	return rc;
}

int prov_change_commit(struct prov_model *m, const struct prov_actor *who,
		       const struct prov_resource *const *rs, size_t n, const char *change,
		       struct prov_error *e)
{
	int rc = 0;

	for (size_t i = 0; !rc && i < n; i++)
		rc = recheck(m, rs[i], e);
	if (!rc)
		rc = prov_version_commit(m, who, change, NULL, e);
	return rc ? rc : prov_db_commit(m->db, e);
}

void prov_change_abort(struct prov_model *m)
{
	prov_db_rollback(m->db);
}

static int in_use(struct prov_model *m, const struct prov_resource *r, int64_t id,
		  struct prov_error *e)
{
	char sql[160];
	int64_t by;
	int rc;

	for (size_t i = 0; i < prov_n_resources; i++) {
		const struct prov_resource *o = prov_resources[i];
		for (size_t j = 0; j < o->n_fields; j++) {
			const struct prov_field *f = &o->fields[j];
			const struct prov_list *l = f->list;
			if (f->type == PF_REF && !strcmp(f->ref, r->table) && !f->owned_by)
				snprintf(sql, sizeof(sql), "SELECT id FROM \"%s\" WHERE \"%s\" = ?1 "
					 "AND id != ?2", o->table, f->name);
			else if (f->type == PF_LIST && l->n_fields == 1 &&
				 l->fields[0].type == PF_REF && !strcmp(l->fields[0].ref, r->table))
				snprintf(sql, sizeof(sql), "SELECT parent_id FROM \"%s\" WHERE "
					 "value = ?1 AND ?2 = ?2", l->table);
			else
				continue;
			if ((rc = prov_db_int(m->db, sql, id, id, &by, e)) < 0)
				return rc;
			if (rc)
				return prov_fail(e, PROV_E_IN_USE, NULL, "%s %" PRId64 " still uses "
						 "this %s (field %s)", o->one, by, r->one, f->name);
		}
	}
	return 0;
}

int prov_obj_delete(struct prov_model *m, const struct prov_resource *r,
		    const struct prov_actor *who, int64_t id, struct prov_error *e)
{
	json_t *old;
	char sql[96];
	int rc;

	if ((rc = prov_obj_get(m, r, who, id, &old, e)))
		return rc;
	json_decref(old);
	if ((rc = prov_db_begin(m->db, e)))
		return rc;
	snprintf(sql, sizeof(sql), "DELETE FROM \"%s\" WHERE id = ?1", r->table);
	if (!(rc = in_use(m, r, id, e))) {
		sqlite3_stmt *st;
		if (sqlite3_prepare_v2(m->db, sql, -1, &st, NULL) != SQLITE_OK) {
			rc = prov_db_fail(m->db, e, "prepare");
		} else {
			sqlite3_bind_int64(st, 1, id);
			rc = sqlite3_step(st) == SQLITE_DONE ? 0 : store_fail(m, r, e);
			sqlite3_finalize(st);
		}
	}
	if (rc || (rc = finish(m, r, who, "delete", id, NULL, e)))
		prov_db_rollback(m->db);
	return rc;
}

/* ---- the whole set ---------------------------------------------------------- */

int prov_model_export(struct prov_model *m, json_t **doc, struct prov_error *e)
{
	json_t *res = json_object();
	int rc = 0;

	for (size_t i = 0; !rc && i < prov_n_resources; i++) {
		json_t *arr;
		if (!prov_resources[i]->versioned)
			continue;
		if (!(rc = prov_obj_list(m, prov_resources[i], NULL, &arr, e)))
			json_object_set_new(res, prov_resources[i]->table, arr);
	}
	if (rc) {
		json_decref(res);
		return rc;
	}
	*doc = json_pack("{s:o}", "resources", res);
	return 0;
}

/* Prefix e->field with "resources.<table>[i]." so an import error names its object. */
static int in_doc(int rc, struct prov_error *e, const char *table, size_t i)
{
	char f[PROV_FIELD_LEN];

	if (e) {
		/* a cut path still names its object */
		if (snprintf(f, sizeof(f), "resources.%s[%zu]%s%s", table, i,
			     e->field[0] ? "." : "", e->field) >= (int)sizeof(f))
			f[sizeof(f) - 1] = '\0';
		memcpy(e->field, f, sizeof(f));
	}
	return rc;
}

int prov_model_import(struct prov_model *m, json_t *doc, struct prov_error *e)
{
	json_t *res = json_object_get(doc, "resources"), *arr, *o;
	const char *k;
	char sql[96];
	size_t i;
	int rc;

	if (!json_is_object(doc) || !json_is_object(res))
		return prov_fail(e, PROV_E_TYPE, "resources", "expected {\"resources\": {...}}");
	json_object_foreach(doc, k, o)
		if (strcmp(k, "resources"))
			return prov_fail(e, PROV_E_UNKNOWN_FIELD, k, "no such field");
	json_object_foreach(res, k, arr) {
		const struct prov_resource *r = prov_resource_by_table(k);
		char f[PROV_FIELD_LEN];
		snprintf(f, sizeof(f), "resources.%s", k);
		if (!r || !r->versioned)
			return prov_fail(e, PROV_E_UNKNOWN_FIELD, f, "not a kind of definition");
		if (!json_is_array(arr))
			return prov_fail(e, PROV_E_TYPE, f, "expected an array");
	}
	/* references are checked once everything is in (a device's alternate
	 * may come after it) and by SQLite at commit */
	if (sqlite3_exec(m->db, "PRAGMA defer_foreign_keys = ON", NULL, NULL, NULL) != SQLITE_OK)
		return prov_db_fail(m->db, e, "defer foreign keys");
	for (size_t n = prov_n_resources; n-- > 0;) {
		if (!prov_resources[n]->versioned)
			continue;
		snprintf(sql, sizeof(sql), "DELETE FROM \"%s\"", prov_resources[n]->table);
		if (sqlite3_exec(m->db, sql, NULL, NULL, NULL) != SQLITE_OK)
			return prov_db_fail(m->db, e, "clear");
	}
	for (size_t n = 0; n < prov_n_resources; n++) {
		const struct prov_resource *r = prov_resources[n];
		json_array_foreach(json_object_get(res, r->table), i, o) {
			json_t *norm, *idv = json_is_object(o) ? json_object_get(o, "id") : NULL;
			int64_t id = json_integer_value(idv);
			if (!json_is_integer(idv) || id < 1)
				return in_doc(prov_fail(e, PROV_E_INVALID, "id", "expected an id"), e,
					      r->table, i);
			if ((rc = prov_obj_shape(r, o, true, &norm, e)))
				return in_doc(rc, e, r->table, i);
			rc = store(m, r, &id, true, norm, e);
			json_decref(norm);
			if (rc)
				return in_doc(rc, e, r->table, i);
		}
	}
	for (size_t n = 0; n < prov_n_resources; n++) {
		const struct prov_resource *r = prov_resources[n];
		json_array_foreach(json_object_get(res, r->table), i, o) {
			json_t *norm;
			int64_t id = json_integer_value(json_object_get(o, "id"));
			if ((rc = load(m, r, id, &norm, e)))
				return in_doc(rc, e, r->table, i);
			rc = validate(m, r, NULL, id, norm, e);
			json_decref(norm);
			if (rc)
				return in_doc(rc, e, r->table, i);
		}
	}
	/* what is not in the document but refers to it: users of a customer */
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(m->db, "PRAGMA foreign_key_check", -1, &st, NULL) != SQLITE_OK)
		return prov_db_fail(m->db, e, "foreign key check");
	rc = 0;
	if (sqlite3_step(st) == SQLITE_ROW) {
		const struct prov_resource *child, *parent;
		child = prov_resource_by_table((const char *)sqlite3_column_text(st, 0));
		parent = prov_resource_by_table((const char *)sqlite3_column_text(st, 2));
		rc = prov_fail(e, PROV_E_IN_USE, NULL, "%s %lld refers to a %s that these "
			       "definitions do not have", child ? child->one : "row",
			       (long long)sqlite3_column_int64(st, 1), parent ? parent->one : "row");
	}
	sqlite3_finalize(st);
	return rc;
}
