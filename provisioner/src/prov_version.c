// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prov_db.h"
#include "prov_version.h"

int prov_model_open(struct prov_model *m, const char *path, char *why, size_t whylen)
{
	struct prov_error e;
	int64_t v = 0;
	int r;

	if ((r = prov_db_open(path, &m->db, why, whylen)) < 0)
		return r;
	if (prov_version_current(m, &v, &e) < 0 ||
	    (!v && (prov_db_begin(m->db, &e) < 0 ||
		    prov_version_commit(m, NULL, "initial", NULL, &e) < 0 ||
		    prov_db_commit(m->db, &e) < 0))) {
		prov_db_rollback(m->db);
		snprintf(why, whylen, "%s", e.message);
		prov_model_close(m);
		return -EIO;
	}
	return 0;
}

void prov_model_close(struct prov_model *m)
{
	sqlite3_close(m->db);
	m->db = NULL;
}

int prov_version_commit(struct prov_model *m, const struct prov_actor *who, const char *change,
			int64_t *version, struct prov_error *e)
{
	json_t *doc;
	char *text;
	sqlite3_stmt *st;
	int r;

	if ((r = prov_model_export(m, &doc, e)))
		return r;
	text = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	if (!text)
		return prov_fail(e, PROV_E_INTERNAL, NULL, "out of memory");
	if (sqlite3_prepare_v2(m->db, "INSERT INTO versions(version, created, author, change, "
			       "document) VALUES((SELECT coalesce(max(version), 0) + 1 FROM "
			       "versions), strftime('%s', 'now'), ?1, ?2, ?3)", -1, &st,
			       NULL) != SQLITE_OK) {
		free(text);
		return prov_db_fail(m->db, e, "prepare");
	}
	sqlite3_bind_text(st, 1, who ? who->name : "loom-provisioner", -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, change, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, text, -1, free);
	r = sqlite3_step(st) == SQLITE_DONE ? 0 : prov_db_fail(m->db, e, "store version");
	sqlite3_finalize(st);
	if (!r && version)
		*version = sqlite3_last_insert_rowid(m->db);
	return r;
}

int prov_version_current(struct prov_model *m, int64_t *version, struct prov_error *e)
{
	*version = 0;
	return prov_db_int(m->db, "SELECT coalesce(max(version), 0) FROM versions", 0, 0, version,
			   e) < 0 ? -PROV_E_INTERNAL : 0;
}

static json_t *record(sqlite3_stmt *st, bool with_doc, struct prov_error *e)
{
	json_t *o = json_pack("{s:I, s:I, s:s, s:s}",
			      "version", (json_int_t)sqlite3_column_int64(st, 0),
			      "created", (json_int_t)sqlite3_column_int64(st, 1),
			      "author", (const char *)sqlite3_column_text(st, 2),
			      "change", (const char *)sqlite3_column_text(st, 3));
	if (o && with_doc) {
		json_error_t jerr;
		json_t *doc = json_loads((const char *)sqlite3_column_text(st, 4), 0, &jerr);
		if (!doc) {
			prov_fail(e, PROV_E_INTERNAL, NULL, "stored version does not parse: %s",
				  jerr.text);
			json_decref(o);
			return NULL;
		}
		json_object_set_new(o, "document", doc);
	}
	return o;
}

int prov_version_list(struct prov_model *m, json_t **out, struct prov_error *e)
{
	sqlite3_stmt *st;
	int s;

	if (sqlite3_prepare_v2(m->db, "SELECT version, created, author, change FROM versions "
			       "ORDER BY version DESC", -1, &st, NULL) != SQLITE_OK)
		return prov_db_fail(m->db, e, "prepare");
	*out = json_array();
	while ((s = sqlite3_step(st)) == SQLITE_ROW)
		json_array_append_new(*out, record(st, false, e));
	sqlite3_finalize(st);
	if (s != SQLITE_DONE) {
		json_decref(*out);
		*out = NULL;
		return prov_db_fail(m->db, e, "list versions");
	}
	return 0;
}

static int get(struct prov_model *m, int64_t version, bool with_doc, json_t **out,
	       struct prov_error *e)
{
	sqlite3_stmt *st;
	int s, r = 0;

	*out = NULL;
	if (sqlite3_prepare_v2(m->db, "SELECT version, created, author, change, document FROM "
			       "versions WHERE version = ?1", -1, &st, NULL) != SQLITE_OK)
		return prov_db_fail(m->db, e, "prepare");
	sqlite3_bind_int64(st, 1, version);
	s = sqlite3_step(st);
	if (s == SQLITE_ROW)
		r = (*out = record(st, with_doc, e)) ? 0 : -PROV_E_INTERNAL;
	else if (s == SQLITE_DONE)
		r = prov_fail(e, PROV_E_NOT_FOUND, NULL, "no version %" PRId64, version);
	else
		r = prov_db_fail(m->db, e, "get version");
	sqlite3_finalize(st);
	return r;
}

int prov_version_get(struct prov_model *m, int64_t version, json_t **out, struct prov_error *e)
{
	return get(m, version, true, out, e);
}

int prov_version_rollback(struct prov_model *m, const struct prov_actor *who, int64_t version,
			  json_t **out, struct prov_error *e)
{
	json_t *old;
	int64_t now = 0;
	char change[64];
	int r;

	*out = NULL;
	if ((r = get(m, version, true, &old, e)))
		return r;
	snprintf(change, sizeof(change), "rollback to %" PRId64, version);
	if (!(r = prov_db_begin(m->db, e))) {
		if ((r = prov_model_import(m, json_object_get(old, "document"), e)) ||
		    (r = prov_version_commit(m, who, change, &now, e)) ||
		    (r = prov_db_commit(m->db, e)))
			prov_db_rollback(m->db);
	}
	json_decref(old);
	return r ? r : get(m, now, false, out, e);
}

static const char *const targets[] = { "pkt-engine", "svc-mgr" };

int prov_target_parse(const char *s, enum prov_target *t)
{
	for (size_t i = 0; i < LOOM_ARRAY_SIZE(targets); i++)
		if (!strcmp(s, targets[i])) {
			*t = (enum prov_target)i;
			return 0;
		}
	return -EINVAL;
}

const char *prov_target_name(enum prov_target t)
{
	return targets[t];
}

int prov_render_version(struct prov_model *m, int64_t version, enum prov_target t,
			json_t **out, struct prov_error *e)
{
	json_t *rec;
	int r;

	*out = NULL;
	if ((r = prov_version_get(m, version, &rec, e)))
		return r;
	r = prov_render(json_object_get(rec, "document"), version, t, out, e);
	json_decref(rec);
	return r;
}
