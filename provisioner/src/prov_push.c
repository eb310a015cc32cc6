// SPDX-License-Identifier: LGPL-2.1-or-later
#include "prov_db.h"
#include "prov_push.h"
#include "prov_version.h"

int prov_push_acked(struct prov_model *m, const char *target, int64_t *acked,
		    struct prov_error *e)
{
	sqlite3_stmt *st;
	int s;

	*acked = 0;
	if (sqlite3_prepare_v2(m->db, "SELECT acked FROM push_state WHERE target = ?1", -1, &st,
			       NULL) != SQLITE_OK)
		return prov_db_fail(m->db, e, "prepare");
	sqlite3_bind_text(st, 1, target, -1, SQLITE_TRANSIENT);
	if ((s = sqlite3_step(st)) == SQLITE_ROW)
		*acked = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return s == SQLITE_ROW || s == SQLITE_DONE ? 0 : prov_db_fail(m->db, e, "read push state");
}

int prov_push_record(struct prov_model *m, const char *target, const char *kind,
		     const char *endpoint, int64_t applied, int64_t refused, const char *message,
		     struct prov_error *e)
{
	sqlite3_stmt *st;
	int s;

	/* a refusal stays on record until a newer version is applied */
	if (sqlite3_prepare_v2(m->db, "INSERT INTO push_state(target, kind, endpoint, acked, "
			       "refused, message, updated) VALUES(?1, ?2, ?3, ?4, ?5, ?6, "
			       "strftime('%s', 'now')) ON CONFLICT(target) DO UPDATE SET "
			       "kind = ?2, endpoint = ?3, acked = ?4, "
			       "refused = CASE WHEN ?5 > 0 THEN ?5 WHEN refused > ?4 THEN refused "
			       "ELSE 0 END, message = CASE WHEN ?5 > 0 THEN ?6 WHEN refused > ?4 "
			       "THEN message ELSE '' END, updated = strftime('%s', 'now')",
			       -1, &st, NULL) != SQLITE_OK)
		return prov_db_fail(m->db, e, "prepare");
	sqlite3_bind_text(st, 1, target, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, kind, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, endpoint, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 4, applied);
	sqlite3_bind_int64(st, 5, refused);
	sqlite3_bind_text(st, 6, message ? message : "", -1, SQLITE_TRANSIENT);
	s = sqlite3_step(st);
	sqlite3_finalize(st);
	return s == SQLITE_DONE ? 0 : prov_db_fail(m->db, e, "record push state");
}

int prov_push_list(struct prov_model *m, json_t **out, struct prov_error *e)
{
	sqlite3_stmt *st;
	int64_t now;
	int s, r;

	*out = NULL;
	if ((r = prov_version_current(m, &now, e)))
		return r;
	if (sqlite3_prepare_v2(m->db, "SELECT target, kind, endpoint, acked, refused, message, "
			       "updated FROM push_state ORDER BY target", -1, &st,
			       NULL) != SQLITE_OK)
		return prov_db_fail(m->db, e, "prepare");
	*out = json_array();
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t acked = sqlite3_column_int64(st, 3), refused = sqlite3_column_int64(st, 4);
		json_array_append_new(*out, json_pack("{s:s, s:s, s:s, s:I, s:o, s:s, s:I, s:b}",
			"target", (const char *)sqlite3_column_text(st, 0),
			"kind", (const char *)sqlite3_column_text(st, 1),
			"endpoint", (const char *)sqlite3_column_text(st, 2),
			"acked", (json_int_t)acked,
			"refused", refused ? json_integer(refused) : json_null(),
			"message", (const char *)sqlite3_column_text(st, 5),
			"updated", (json_int_t)sqlite3_column_int64(st, 6),
			"in_step", acked == now));
	}
	sqlite3_finalize(st);
	if (s != SQLITE_DONE) {
		json_decref(*out);
		*out = NULL;
		return prov_db_fail(m->db, e, "list push state");
	}
	return 0;
}
