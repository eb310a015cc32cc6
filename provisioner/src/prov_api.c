// SPDX-License-Identifier: LGPL-2.1-or-later
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prov_api.h"
#include "prov_auth.h"
#include "prov_push.h"
#include "prov_stats.h"
#include "prov_version.h"

#define PREFIX "/api/v1/"
#define MAX_PARTS 4

void prov_api_error(struct prov_reply *out, const struct prov_error *e)
{
	json_t *err = json_pack("{s:{s:s, s:s, s:o}}", "error", "code", prov_reason_code(e->reason),
				"message", e->message,
				"field", e->field[0] ? json_string(e->field) : json_null());

	out->status = prov_reason_status(e->reason);
	out->body = err ? json_dumps(err, JSON_COMPACT) : NULL;
	json_decref(err);
}

static void reply(struct prov_reply *out, unsigned status, json_t *body)
{
	out->status = status;
	out->body = body ? json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
	json_decref(body);
}

void prov_reply_free(struct prov_reply *r)
{
	free(r->body);
	r->body = NULL;
}

/* An id in a path: 1 to 18 digits, not 0. */
static bool parse_id(const char *s, int64_t *id)
{
	size_t n = strlen(s);

	if (n < 1 || n > 18 || strspn(s, "0123456789") != n || s[0] == '0')
		return false;
	*id = strtoll(s, NULL, 10);
	return true;
}

static int parse_body(const char *body, size_t len, json_t **out, struct prov_error *e)
{
	json_error_t jerr;

	*out = json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES, &jerr);
	if (!*out)
		return prov_fail(e, PROV_E_MALFORMED, NULL, "malformed JSON at line %d column %d: %s",
				 jerr.line, jerr.column, jerr.text);
	return 0;
}

static bool method_is(const char *m, const char *allow)
{
	/* allow is "GET, POST": m must be one of its words */
	size_t n = strlen(m);
	for (const char *p = allow; (p = strstr(p, m)); p += n)
		if ((p == allow || p[-1] == ' ') && (p[n] == ',' || p[n] == '\0'))
			return true;
	return false;
}

static int login(struct prov_api *api, const char *body, size_t len, struct prov_reply *out,
		 struct prov_error *e)
{
	json_t *req;
	const char *user = NULL, *password = NULL;
	char token[PROV_TOKEN_LEN + 1];
	struct prov_actor who;
	int64_t expires;
	int r;

	if ((r = parse_body(body, len, &req, e)))
		return r;
	if (!json_is_object(req))
		r = prov_fail(e, PROV_E_TYPE, NULL, "the body must be a JSON object");
	else if (!json_is_string(json_object_get(req, "user")))
		r = prov_fail(e, PROV_E_MISSING, "user", "required, a string");
	else if (!json_is_string(json_object_get(req, "password")))
		r = prov_fail(e, PROV_E_MISSING, "password", "required, a string");
	else if (json_object_size(req) != 2)
		r = prov_fail(e, PROV_E_UNKNOWN_FIELD, NULL, "only user and password");
	if (!r) {
		user = json_string_value(json_object_get(req, "user"));
		password = json_string_value(json_object_get(req, "password"));
		r = prov_login(api->model, user, password, api->token_lifetime_ms, token, &expires,
			       &who, e);
	}
	if (!r)
		reply(out, 200, json_pack("{s:s, s:s, s:I, s:s, s:o}", "token", token, "token_type",
					  "Bearer", "expires", (json_int_t)expires, "role",
					  prov_role_names[who.role], "customer",
					  who.role == PROV_ROLE_CUSTOMER ?
					  json_integer(who.customer) : json_null()));
	json_decref(req);
	return r;
}

static int resource(struct prov_api *api, const struct prov_actor *who, const char *method,
		    const struct prov_resource *res, const char *idtext, const char *body,
		    size_t len, struct prov_reply *out, struct prov_error *e)
{
	struct prov_model *m = api->model;
	json_t *req = NULL, *obj = NULL;
	int64_t id = 0;
	int r;

	if (idtext && !parse_id(idtext, &id))
		return prov_fail(e, PROV_E_NOT_FOUND, NULL, "no %s '%.32s'", res->one, idtext);
	if (!strcmp(method, "GET")) {
		r = idtext ? prov_obj_get(m, res, who, id, &obj, e) : prov_obj_list(m, res, who, &obj, e);
		if (!r)
			reply(out, 200, obj);
		return r;
	}
	if (!strcmp(method, "DELETE")) {
		if (!(r = prov_obj_delete(m, res, who, id, e)))
			reply(out, 204, NULL);
		return r;
	}
	if ((r = parse_body(body, len, &req, e)))
		return r;
	if (!strcmp(method, "POST"))
		r = prov_obj_create(m, res, who, req, &obj, e);
	else
		r = prov_obj_replace(m, res, who, id, req, !strcmp(method, "PATCH"), &obj, e);
	json_decref(req);
	if (!r)
		reply(out, strcmp(method, "POST") ? 200 : 201, obj);
	return r;
}

static int versions(struct prov_api *api, const struct prov_actor *who, char **part, size_t n,
		    struct prov_reply *out, struct prov_error *e)
{
	struct prov_model *m = api->model;
	enum prov_target t;
	json_t *obj = NULL;
	int64_t v = 0;
	int r;

	if (who->role != PROV_ROLE_PROVIDER)
		return prov_fail(e, PROV_E_FORBIDDEN, NULL, "only a provider-admin may use versions");
	if (n >= 2 && !strcmp(part[1], "current")) {
		if ((r = prov_version_current(m, &v, e)))
			return r;
	} else if (n >= 2 && !parse_id(part[1], &v)) {
		return prov_fail(e, PROV_E_NOT_FOUND, NULL, "no version '%.32s'", part[1]);
	}
	if (n == 1)
		r = prov_version_list(m, &obj, e);
	else if (n == 2)
		r = prov_version_get(m, v, &obj, e);
	else if (n == 3)
		r = prov_version_rollback(m, who, v, &obj, e);
	else if (prov_target_parse(part[3], &t) < 0)
		return prov_fail(e, PROV_E_NOT_FOUND, NULL, "no daemon '%.32s' to render for "
				 "(pkt-engine, svc-mgr)", part[3]);
	else
		r = prov_render_version(m, v, t, &obj, e);
	if (!r)
		reply(out, n == 3 ? 201 : 200, obj);
	return r;
}

/* What each provisioned daemon acknowledged (prov_push.h). */
static int push_state(struct prov_api *api, const struct prov_actor *who, struct prov_reply *out,
		      struct prov_error *e)
{
	json_t *obj;
	int r;

	if (who->role != PROV_ROLE_PROVIDER)
		return prov_fail(e, PROV_E_FORBIDDEN, NULL, "only a provider-admin may see the push");
	if (!(r = prov_push_list(api->model, &obj, e)))
		reply(out, 200, obj);
	return r;
}

/* Live figures of the local daemons; each actor sees what the model lets it. */
static int statistics(struct prov_api *api, const struct prov_actor *who,
		      struct prov_reply *out, struct prov_error *e)
{
	json_t *obj;
	int r = prov_stats_get(api->model, who, api->stats, api->n_stats, &obj, e);

	if (!r)
		reply(out, 200, obj);
	return r;
}

/* /trials and /trials/{id}. */
static int trials(struct prov_api *api, const struct prov_actor *who, char **part, size_t n,
		  struct prov_reply *out, struct prov_error *e)
{
	json_t *obj;
	int64_t id = 0;
	int r;

	if (n == 2 && !parse_id(part[1], &id))
		return prov_fail(e, PROV_E_NOT_FOUND, NULL, "no trial '%.32s'", part[1]);
	r = n == 2 ? prov_trial_get(api->model, who, id, &obj, e) :
		     prov_trial_list(api->model, who, &obj, e);
	if (!r)
		reply(out, 200, obj);
	return r;
}

/* POST /services/{id}/{replicate,trials,cutover}. */
static int service_action(struct prov_api *api, const struct prov_actor *who, char **part,
			  const char *body, size_t len, struct prov_reply *out,
			  struct prov_error *e)
{
	json_t *req = NULL, *obj = NULL;
	int64_t id;
	int r;

	if (!parse_id(part[1], &id))
		return prov_fail(e, PROV_E_NOT_FOUND, NULL, "no service '%.32s'", part[1]);
	/* a trial may be asked for with no body at all */
	if (!strcmp(part[2], "trials") && !len)
		req = json_object();
	else if ((r = parse_body(body, len, &req, e)))
		return r;
	if (!strcmp(part[2], "replicate"))
		r = prov_service_replicate(api->model, who, id, req, &obj, e);
	else if (!strcmp(part[2], "cutover"))
		r = prov_service_cutover(api->model, who, id, req, &obj, e);
	else
		r = prov_trial_start(api->model, who, id, req, &api->trials, &obj, e);
	json_decref(req);
	if (!r)
		reply(out, !strcmp(part[2], "cutover") ? 200 :
			   !strcmp(part[2], "trials") ? 202 : 201, obj);
	return r;
}

/*
 * The routes: what a path is and which methods it takes. part[] are the
 * path's pieces after /api/v1/.
 */
static const char *route(char **part, size_t n, const struct prov_resource **res)
{
	*res = NULL;
	if (n == 1 && !strcmp(part[0], "login"))
		return "POST";
	if (!strcmp(part[0], "push") || !strcmp(part[0], "statistics"))
		return n == 1 ? "GET" : NULL;
	if (!strcmp(part[0], "versions")) {
		if (n == 1 || n == 2)
			return "GET";
		if (n == 3 && !strcmp(part[2], "rollback") && strcmp(part[1], "current"))
			return "POST";
		if (n == 4 && !strcmp(part[2], "render"))
			return "GET";
		return NULL;
	}
	if (!strcmp(part[0], "trials"))
		return n <= 2 ? "GET" : NULL;
	if (n == 3 && !strcmp(part[0], "services") &&
	    (!strcmp(part[2], "replicate") || !strcmp(part[2], "trials") ||
	     !strcmp(part[2], "cutover")))
		return "POST";
	if (!(*res = prov_resource_by_url(part[0])) || n > 2)
		return NULL;
	return n == 1 ? "GET, POST" : "GET, PUT, PATCH, DELETE";
}

void prov_api_handle(struct prov_api *api, const char *method, const char *path,
		     const char *authorization, const char *body, size_t len,
		     struct prov_reply *out)
{
	struct prov_error e = { .reason = PROV_OK };
	const struct prov_resource *res;
	char copy[256], *part[MAX_PARTS + 1], *save = NULL;
	size_t n = 0;
	const char *allow;
	struct prov_actor who;
	int r;

	memset(out, 0, sizeof(*out));
	if (strncmp(path, PREFIX, strlen(PREFIX)) || strlen(path) >= sizeof(copy)) {
		r = prov_fail(&e, PROV_E_NOT_FOUND, NULL, "no such resource; the API is under "
			      PREFIX);
		goto fail;
	}
	snprintf(copy, sizeof(copy), "%s", path + strlen(PREFIX));
	for (char *p = strtok_r(copy, "/", &save); p && n <= MAX_PARTS; p = strtok_r(NULL, "/", &save))
		part[n++] = p;
	if (!n || n > MAX_PARTS || !(allow = route(part, n, &res))) {
		r = prov_fail(&e, PROV_E_NOT_FOUND, NULL, "no such resource");
		goto fail;
	}
	if (!method_is(method, allow)) {
		out->allow = allow;
		r = prov_fail(&e, PROV_E_METHOD, NULL, "%.16s is not allowed here (%s)", method, allow);
		goto fail;
	}
	if (!strcmp(part[0], "login")) {
		r = login(api, body, len, out, &e);
		goto fail;
	}
	if (!authorization || strncmp(authorization, "Bearer ", 7)) {
		r = prov_fail(&e, PROV_E_UNAUTHORIZED, NULL, "a bearer token is needed "
			      "(POST /api/v1/login)");
		goto fail;
	}
	if ((r = prov_authenticate(api->model, authorization + 7, &who, &e)))
		goto fail;
	if (res)
		r = resource(api, &who, method, res, n == 2 ? part[1] : NULL, body, len, out, &e);
	else if (!strcmp(part[0], "services"))
		r = service_action(api, &who, part, body, len, out, &e);
	else if (!strcmp(part[0], "trials"))
		r = trials(api, &who, part, n, out, &e);
	else if (!strcmp(part[0], "push"))
		r = push_state(api, &who, out, &e);
	else if (!strcmp(part[0], "statistics"))
		r = statistics(api, &who, out, &e);
	else
		r = versions(api, &who, part, n, out, &e);
fail:
	if (r) {
		prov_reply_free(out);
		prov_api_error(out, &e);
	}
}
