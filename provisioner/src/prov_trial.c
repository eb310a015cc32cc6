// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Trials, replicas and cut-over (see prov_trial.h).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/compiler.h"
#include "prov_db.h"
#include "prov_trial.h"
#include "prov_version.h"

static const struct prov_resource *services(void)
{
	return prov_resource_by_table("services");
}

/* What a trial tries and a cut-over takes: the chain and the ports. */
static json_t *chain_of(const json_t *svc)
{
	return json_pack("{s:O?, s:O?, s:O?, s:O?}", "package", json_object_get(svc, "package"),
			 "devices", json_object_get(svc, "devices"),
			 "order", json_object_get(svc, "order"),
			 "ports", json_object_get(svc, "ports"));
}

/* Only the keys in allowed[] (NULL-terminated) may be in the body. */
static int only_keys(json_t *body, const char *const *allowed, struct prov_error *e)
{
	const char *k;
	json_t *v;

	if (!json_is_object(body))
		return prov_fail(e, PROV_E_TYPE, NULL, "the body must be a JSON object");
	json_object_foreach(body, k, v) {
		size_t i;
		for (i = 0; allowed[i] && strcmp(allowed[i], k); i++)
			;
		if (!allowed[i])
			return prov_fail(e, PROV_E_UNKNOWN_FIELD, k, "no such field here");
	}
	return 0;
}

/* ---- the record ------------------------------------------------------------- */

#define TRIAL_COLUMNS "t.id, t.service, t.port, t.version, t.chain, t.state, t.report, " \
		      "t.started, t.finished, s.customer"

static json_t *column_doc(sqlite3_stmt *st, int i)
{
	const char *text = (const char *)sqlite3_column_text(st, i);
	json_t *v = text ? json_loads(text, 0, NULL) : NULL;

	return v ? v : json_object();
}

static json_t *trial_row(sqlite3_stmt *st)
{
	return json_pack("{s:I, s:I, s:I, s:I, s:o, s:s, s:o, s:I, s:o}",
			 "id", (json_int_t)sqlite3_column_int64(st, 0),
			 "service", (json_int_t)sqlite3_column_int64(st, 1),
			 "port", (json_int_t)sqlite3_column_int64(st, 2),
			 "version", (json_int_t)sqlite3_column_int64(st, 3),
			 "chain", column_doc(st, 4),
			 "state", (const char *)sqlite3_column_text(st, 5),
			 "report", column_doc(st, 6),
			 "started", (json_int_t)sqlite3_column_int64(st, 7),
			 "finished", sqlite3_column_type(st, 8) == SQLITE_NULL ? json_null() :
			 json_integer(sqlite3_column_int64(st, 8)));
}

int prov_trial_get(struct prov_model *m, const struct prov_actor *who, int64_t id,
		   json_t **out, struct prov_error *e)
{
	sqlite3_stmt *st;
	int s, rc = 0;

	*out = NULL;
	if (sqlite3_prepare_v2(m->db, "SELECT " TRIAL_COLUMNS " FROM trials t LEFT JOIN services "
			       "s ON s.id = t.service WHERE t.id = ?1", -1, &st, NULL) != SQLITE_OK)
		return prov_db_fail(m->db, e, "prepare");
	sqlite3_bind_int64(st, 1, id);
	if ((s = sqlite3_step(st)) == SQLITE_ROW) {
		/* a deleted service's trials are the provider's record */
		if (who && who->role == PROV_ROLE_CUSTOMER &&
		    (sqlite3_column_type(st, 9) == SQLITE_NULL ||
		     sqlite3_column_int64(st, 9) != who->customer))
			rc = prov_fail(e, PROV_E_FORBIDDEN, NULL, "this trial is of another "
				       "customer's service");
		else
			*out = trial_row(st);
	} else if (s == SQLITE_DONE) {
		rc = prov_fail(e, PROV_E_NOT_FOUND, NULL, "no trial %" PRId64, id);
	} else {
		rc = prov_db_fail(m->db, e, "read trial");
	}
	sqlite3_finalize(st);
	return rc;
}

int prov_trial_list(struct prov_model *m, const struct prov_actor *who, json_t **out,
		    struct prov_error *e)
{
	sqlite3_stmt *st;
	int s;

	*out = NULL;
	if (sqlite3_prepare_v2(m->db, "SELECT " TRIAL_COLUMNS " FROM trials t LEFT JOIN services "
			       "s ON s.id = t.service WHERE ?1 = 0 OR s.customer = ?1 "
			       "ORDER BY t.id",
			       -1, &st, NULL) != SQLITE_OK)
		return prov_db_fail(m->db, e, "prepare");
	sqlite3_bind_int64(st, 1, who && who->role == PROV_ROLE_CUSTOMER ? who->customer : 0);
	*out = json_array();
	while ((s = sqlite3_step(st)) == SQLITE_ROW)
		json_array_append_new(*out, trial_row(st));
	sqlite3_finalize(st);
	if (s != SQLITE_DONE) {
		json_decref(*out);
		*out = NULL;
		return prov_db_fail(m->db, e, "list trials");
	}
	return 0;
}

/* Trial id, or every running one (id 0), ends in state with report. */
static int set_state(struct prov_model *m, int64_t id, const char *state, const json_t *report,
		     const char *where, struct prov_error *e)
{
	char *text = json_dumps(report, JSON_COMPACT);
	sqlite3_stmt *st;
	int s;

	if (!text)
		return prov_fail(e, PROV_E_INTERNAL, NULL, "out of memory");
	if (sqlite3_prepare_v2(m->db, "UPDATE trials SET state = ?2, report = ?3, finished = ?4 "
			       "WHERE (?1 = 0 OR id = ?1) AND state = 'running'", -1, &st,
			       NULL) != SQLITE_OK) {
		free(text);
		return prov_db_fail(m->db, e, "prepare");
	}
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, state, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, text, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 4, (int64_t)time(NULL));
	s = sqlite3_step(st);
	sqlite3_finalize(st);
	free(text);
	return s == SQLITE_DONE ? 0 : prov_db_fail(m->db, e, where);
}

int prov_trial_finish(struct prov_model *m, int64_t id, bool passed, const json_t *report,
		      struct prov_error *e)
{
	return set_state(m, id, passed ? "passed" : "failed", report, "finish trial", e);
}

int prov_trial_recover(struct prov_model *m, struct prov_error *e)
{
	json_t *why = json_pack("{s:s}", "reason", "the provisioner stopped during the trial");
	int rc = why ? set_state(m, 0, "failed", why, "recover trials", e) :
		       prov_fail(e, PROV_E_INTERNAL, NULL, "out of memory");

	json_decref(why);
	return rc;
}

/* The port to try: the one asked for, which must be a TCP port of svc, or its first. */
static int trial_port(const json_t *svc, const json_t *body, int64_t *port, struct prov_error *e)
{
	const json_t *want = json_object_get(body, "port"), *p;
	size_t i;

	if (want && (!json_is_integer(want) || json_integer_value(want) < 1 ||
		     json_integer_value(want) > 65535))
		return prov_fail(e, PROV_E_INVALID, "port", "a port, 1 to 65535");
	json_array_foreach(json_object_get(svc, "ports"), i, p) {
		if (strcmp(json_string_value(json_object_get(p, "protocol")), "tcp"))
			continue;
		*port = json_integer_value(json_object_get(p, "port"));
		if (!want || *port == json_integer_value(want))
			return 0;
	}
	if (want)
		return prov_fail(e, PROV_E_INVALID, "port", "not a TCP port of this service");
	return prov_fail(e, PROV_E_CONFLICT, NULL, "a trial is a TCP handshake and this service "
			 "has no TCP port");
}

int prov_trial_start(struct prov_model *m, const struct prov_actor *who, int64_t service,
		     json_t *body, const struct prov_trial_runner *run, json_t **out,
		     struct prov_error *e)
{
	static const char *const keys[] = { "port", NULL };
	char why[256] = "no engine is provisioned to run trials";
	json_t *svc = NULL, *chain = NULL;
	char *chain_text = NULL;
	int64_t version, port = 0, id;
	sqlite3_stmt *st = NULL;
	int rc;

	*out = NULL;
	if ((rc = only_keys(body, keys, e)) || (rc = prov_obj_get(m, services(), who, service,
								   &svc, e)))
		return rc;
	if ((rc = trial_port(svc, body, &port, e)) || (rc = prov_version_current(m, &version, e)))
		goto out;
	chain = chain_of(svc);
	if (!chain || !(chain_text = json_dumps(chain, JSON_COMPACT | JSON_SORT_KEYS))) {
		rc = prov_fail(e, PROV_E_INTERNAL, NULL, "out of memory");
		goto out;
	}
	if (sqlite3_prepare_v2(m->db, "INSERT INTO trials(service, port, version, chain, state, "
			       "started) VALUES(?1, ?2, ?3, ?4, 'running', ?5)", -1, &st,
			       NULL) != SQLITE_OK) {
		rc = prov_db_fail(m->db, e, "prepare");
		goto out;
	}
	sqlite3_bind_int64(st, 1, service);
	sqlite3_bind_int64(st, 2, port);
	sqlite3_bind_int64(st, 3, version);
	sqlite3_bind_text(st, 4, chain_text, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 5, (int64_t)time(NULL));
	if (sqlite3_step(st) != SQLITE_DONE) {
		rc = prov_db_fail(m->db, e, "record trial");
		goto out;
	}
	id = sqlite3_last_insert_rowid(m->db);
	if (!run || !run->start ||
	    run->start(run->arg, id, json_string_value(json_object_get(svc, "name")),
		       (uint16_t)port, version, why, sizeof(why)) < 0) {
		json_t *report = json_pack("{s:s}", "reason", why);
		rc = report ? prov_trial_finish(m, id, false, report, e) :
			      prov_fail(e, PROV_E_INTERNAL, NULL, "out of memory");
		json_decref(report);
	}
	if (!rc)
		rc = prov_trial_get(m, NULL, id, out, e);
out:
	sqlite3_finalize(st);
	free(chain_text);
	json_decref(chain);
	json_decref(svc);
	return rc;
}

/* ---- replicas and cut-over -------------------------------------------------- */

int prov_service_replicate(struct prov_model *m, const struct prov_actor *who, int64_t id,
			   json_t *body, json_t **out, struct prov_error *e)
{
	static const char *const keys[] = { "name", "address", "pool", NULL };
	const struct prov_resource *acls = prov_resource_by_table("acls");
	json_t *svc = NULL, *all = NULL, *a;
	char change[128];
	int64_t nid = 0;
	size_t i;
	int rc;

	*out = NULL;
	if ((rc = only_keys(body, keys, e)) || (rc = prov_obj_get(m, services(), who, id, &svc, e)))
		return rc;
	if (!json_object_get(body, "name") || !json_object_get(body, "address")) {
		rc = prov_fail(e, PROV_E_MISSING, json_object_get(body, "name") ? "address" : "name",
			       "a replica needs its own name and address");
		goto out;
	}
	json_object_del(svc, "id");
	json_object_update(svc, body);
	if ((rc = prov_obj_list(m, acls, who, &all, e)) || (rc = prov_change_begin(m, e)))
		goto out;
	rc = prov_change_put(m, services(), who, &nid, svc, e);
	json_array_foreach(all, i, a) {
		int64_t aid = 0;
		if (rc || json_integer_value(json_object_get(a, "service")) != id)
			continue;
		json_object_del(a, "id");
		json_object_set_new(a, "service", json_integer(nid));
		rc = prov_change_put(m, acls, who, &aid, a, e);
	}
	snprintf(change, sizeof(change), "replicate services %" PRId64 " as %" PRId64, id, nid);
	if (!rc)
		rc = prov_change_commit(m, who, (const struct prov_resource *const[]){ services(),
					acls }, 2, change, e);
	if (rc)
		prov_change_abort(m);
	else
		rc = prov_obj_get(m, services(), who, nid, out, e);
out:
	json_decref(all);
	json_decref(svc);
	return rc;
}

/* The replica's newest trial must have passed on the chain it has now. */
static int tried(struct prov_model *m, const json_t *rep, int64_t from, struct prov_error *e)
{
	json_t *chain = chain_of(rep), *tc = NULL;
	sqlite3_stmt *st;
	int rc, s;

	if (sqlite3_prepare_v2(m->db, "SELECT id, state, chain FROM trials WHERE service = ?1 "
			       "ORDER BY id DESC LIMIT 1", -1, &st, NULL) != SQLITE_OK) {
		json_decref(chain);
		return prov_db_fail(m->db, e, "prepare");
	}
	sqlite3_bind_int64(st, 1, from);
	if ((s = sqlite3_step(st)) == SQLITE_DONE) {
		rc = prov_fail(e, PROV_E_CONFLICT, "from", "service %" PRId64 " was never tried: "
			       "POST /api/v1/services/%" PRId64 "/trials first", from, from);
	} else if (s != SQLITE_ROW) {
		rc = prov_db_fail(m->db, e, "read trial");
	} else {
		int64_t tid = sqlite3_column_int64(st, 0);
		const char *state = (const char *)sqlite3_column_text(st, 1);
		tc = column_doc(st, 2);
		if (strcmp(state, "passed"))
			rc = prov_fail(e, PROV_E_CONFLICT, "from", "the newest trial of service "
				       "%" PRId64 " (trial %" PRId64 ") %s", from, tid,
				       strcmp(state, "running") ? "failed" : "is still running");
		else if (!json_equal(tc, chain))
			rc = prov_fail(e, PROV_E_CONFLICT, "from", "service %" PRId64 " changed "
				       "since its trial %" PRId64 " passed: try it again", from, tid);
		else
			rc = 0;
	}
	sqlite3_finalize(st);
	json_decref(tc);
	json_decref(chain);
	return rc;
}

int prov_service_cutover(struct prov_model *m, const struct prov_actor *who, int64_t id,
			 json_t *body, json_t **out, struct prov_error *e)
{
	static const char *const keys[] = { "from", "force", NULL };
	static const char *const taken[] = { "package", "devices", "order" };
	const json_t *fromv = json_object_get(body, "from"), *force;
	json_t *svc = NULL, *rep = NULL;
	char change[128];
	int64_t from;
	int rc;

	*out = NULL;
	if ((rc = only_keys(body, keys, e)))
		return rc;
	force = json_object_get(body, "force");
	if (!fromv)
		return prov_fail(e, PROV_E_MISSING, "from", "the service whose chain to take");
	if (!json_is_integer(fromv) || (from = json_integer_value(fromv)) < 1)
		return prov_fail(e, PROV_E_TYPE, "from", "a service id");
	if (force && !json_is_boolean(force))
		return prov_fail(e, PROV_E_TYPE, "force", "true or false");
	if (json_is_true(force) && who && who->role != PROV_ROLE_PROVIDER)
		return prov_fail(e, PROV_E_FORBIDDEN, "force", "only a provider-admin may cut "
				 "over without a passed trial");
	if (from == id)
		return prov_fail(e, PROV_E_INVALID, "from", "a service cannot take its own chain");
	if ((rc = prov_obj_get(m, services(), who, id, &svc, e)))
		return rc;
	if ((rc = prov_obj_get(m, services(), who, from, &rep, e))) {
		if (rc == -PROV_E_NOT_FOUND)
			snprintf(e->field, sizeof(e->field), "from");
		goto out;
	}
	if (!json_equal(json_object_get(svc, "customer"), json_object_get(rep, "customer"))) {
		rc = prov_fail(e, PROV_E_CONFLICT, "from", "service %" PRId64 " is another "
			       "customer's", from);
		goto out;
	}
	if (!json_is_true(force) && (rc = tried(m, rep, from, e)))
		goto out;
	for (size_t k = 0; k < LOOM_ARRAY_SIZE(taken); k++)
		json_object_set(svc, taken[k], json_object_get(rep, taken[k]));
	snprintf(change, sizeof(change), "cut over services %" PRId64 " to the chain of %" PRId64
		 "%s", id, from, json_is_true(force) ? " (forced)" : "");
	if ((rc = prov_change_begin(m, e)))
		goto out;
	if ((rc = prov_change_put(m, services(), who, &id, svc, e)) ||
	    (rc = prov_change_commit(m, who, (const struct prov_resource *const[]){ services() },
				     1, change, e)))
		prov_change_abort(m);
	else
		rc = prov_obj_get(m, services(), who, id, out, e);
out:
	json_decref(rep);
	json_decref(svc);
	return rc;
}
