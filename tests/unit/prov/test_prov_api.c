// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The API's request handling without HTTP: routes, the order of checks
 * (404, 405, 401, 403, 400), login and the error document.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "prov_api.h"
#include "prov_auth.h"
#include "prov_version.h"

static struct prov_model m;
static struct prov_api api = { .model = &m, .token_lifetime_ms = 3600 * 1000 };
static char admin[PROV_TOKEN_LEN + 8], customer[PROV_TOKEN_LEN + 8];

/* The reply's status, its body parsed into *body (may be NULL). */
static unsigned call(const char *method, const char *path, const char *token, const char *text,
		     json_t **body)
{
	struct prov_reply r;
	char auth[PROV_TOKEN_LEN + 16];
	unsigned status;

	snprintf(auth, sizeof(auth), "Bearer %s", token ? token : "");
	prov_api_handle(&api, method, path, token ? auth : NULL, text, text ? strlen(text) : 0, &r);
	status = r.status;
	if (body)
		*body = r.body ? json_loads(r.body, 0, NULL) : NULL;
	prov_reply_free(&r);
	return status;
}

static void login(const char *user, const char *password, char *token)
{
	char req[128];
	json_t *b;

	snprintf(req, sizeof(req), "{\"user\": \"%s\", \"password\": \"%s\"}", user, password);
	cr_assert_eq(call("POST", "/api/v1/login", NULL, req, &b), 200);
	snprintf(token, PROV_TOKEN_LEN + 1, "%s", json_string_value(json_object_get(b, "token")));
	cr_assert_eq(strlen(token), PROV_TOKEN_LEN);
	json_decref(b);
}

static void setup(void)
{
	char why[256];
	struct prov_error e;

	cr_assert_eq(prov_auth_init(), 0);
	cr_assert_eq(prov_model_open(&m, ":memory:", why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(prov_bootstrap_admin(&m, "admin", "admin-password", &e), 0, "%s", e.message);
	login("admin", "admin-password", admin);
	cr_assert_eq(call("POST", "/api/v1/customers", admin, "{\"name\": \"acme\"}", NULL), 201);
	cr_assert_eq(call("POST", "/api/v1/users", admin, "{\"name\": \"bob\", \"password\": "
			  "\"bobs-password\", \"role\": \"customer-admin\", \"customer\": 1}", NULL),
		     201);
	login("bob", "bobs-password", customer);
}

static void teardown(void)
{
	prov_model_close(&m);
}

TestSuite(prov_api, .init = setup, .fini = teardown, .timeout = 60);

Test(prov_api, errors_come_in_one_document_and_in_order)
{
	static const struct {
		const char *method, *path, *token, *body;
		unsigned status;
		const char *code;
	} rows[] = {
		{ "GET", "/api/v2/devices", NULL, NULL, 404, "not-found" },
		{ "GET", "/api/v1/gadgets", NULL, NULL, 404, "not-found" },
		{ "GET", "/api/v1/devices/1/extra", NULL, NULL, 404, "not-found" },
		{ "PUT", "/api/v1/devices", NULL, NULL, 405, "method-not-allowed" },
		{ "GET", "/api/v1/login", NULL, NULL, 405, "method-not-allowed" },
		{ "GET", "/api/v1/devices", NULL, NULL, 401, "unauthorized" },
		{ "GET", "/api/v1/devices", "0123", NULL, 401, "unauthorized" },
		{ "GET", "/api/v1/devices", "customer", NULL, 403, "forbidden" },
		{ "GET", "/api/v1/versions", "customer", NULL, 403, "forbidden" },
		{ "POST", "/api/v1/devices", "admin", "{\"name\": ", 400, "malformed-json" },
		{ "POST", "/api/v1/devices", "admin", "", 400, "malformed-json" },
		{ "POST", "/api/v1/interfaces", "admin", "{\"name\": \"a\", \"name\": \"b\"}", 400,
		  "malformed-json" },
		{ "GET", "/api/v1/devices/abc", "admin", NULL, 404, "not-found" },
		{ "GET", "/api/v1/devices/0", "admin", NULL, 404, "not-found" },
		{ "GET", "/api/v1/devices/7", "admin", NULL, 404, "not-found" },
		{ "GET", "/api/v1/versions/99", "admin", NULL, 404, "not-found" },
		{ "GET", "/api/v1/versions/1/render/fwd-agent", "admin", NULL, 404, "not-found" },
		{ "POST", "/api/v1/login", NULL, "{\"user\": \"admin\", \"password\": \"nope\"}", 401,
		  "unauthorized" },
		{ "POST", "/api/v1/login", NULL, "{\"user\": \"nobody\", \"password\": \"nope\"}", 401,
		  "unauthorized" },
		{ "POST", "/api/v1/login", NULL, "{\"user\": \"admin\"}", 400, "missing-field" },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const char *tok = !rows[i].token ? NULL : !strcmp(rows[i].token, "admin") ? admin :
				  !strcmp(rows[i].token, "customer") ? customer : rows[i].token;
		json_t *b;
		unsigned s = call(rows[i].method, rows[i].path, tok, rows[i].body, &b);
		json_t *err = json_object_get(b, "error");
		cr_assert_eq(s, rows[i].status, "%s %s: %u", rows[i].method, rows[i].path, s);
		cr_assert_str_eq(json_string_value(json_object_get(err, "code")), rows[i].code,
				 "%s %s", rows[i].method, rows[i].path);
		cr_assert(json_is_string(json_object_get(err, "message")));
		cr_assert(json_object_get(err, "field") != NULL, "field is always there (or null)");
		json_decref(b);
	}
}

Test(prov_api, crud_round_trip_and_versions)
{
	json_t *b;

	cr_assert_eq(call("POST", "/api/v1/interfaces", admin, "{\"name\": \"eth0\"}", &b), 201);
	cr_assert_eq(json_integer_value(json_object_get(b, "id")), 1);
	json_decref(b);
	cr_assert_eq(call("PATCH", "/api/v1/interfaces/1", admin, "{\"description\": \"outside\"}",
			  &b), 200);
	cr_assert_str_eq(json_string_value(json_object_get(b, "description")), "outside");
	json_decref(b);
	cr_assert_eq(call("PUT", "/api/v1/interfaces/1", admin, "{\"id\": 2, \"name\": \"eth0\"}",
			  NULL), 422, "the body's id must be the URL's");
	cr_assert_eq(call("GET", "/api/v1/versions/current", admin, NULL, &b), 200);
	json_t *res = json_object_get(json_object_get(b, "document"), "resources");
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(
		json_object_get(res, "interfaces"), 0), "description")), "outside");
	int64_t v = json_integer_value(json_object_get(b, "version"));
	json_decref(b);
	cr_assert_eq(call("DELETE", "/api/v1/interfaces/1", admin, NULL, &b), 204);
	cr_assert_null(b);
	cr_assert_eq(call("GET", "/api/v1/interfaces/1", admin, NULL, NULL), 404);
	char path[64];
	snprintf(path, sizeof(path), "/api/v1/versions/%lld/rollback", (long long)v);
	cr_assert_eq(call("POST", path, admin, NULL, &b), 201);
	cr_assert_eq(json_integer_value(json_object_get(b, "version")), v + 2);
	json_decref(b);
	cr_assert_eq(call("GET", "/api/v1/interfaces/1", admin, NULL, &b), 200);
	cr_assert_str_eq(json_string_value(json_object_get(b, "description")), "outside");
	json_decref(b);
	cr_assert_eq(call("POST", "/api/v1/versions/current/rollback", admin, NULL, NULL), 404);
}

Test(prov_api, users_never_show_a_password)
{
	json_t *b;

	cr_assert_eq(call("GET", "/api/v1/users", admin, NULL, &b), 200);
	cr_assert_eq(json_array_size(b), 2);
	for (size_t i = 0; i < json_array_size(b); i++) {
		json_t *u = json_array_get(b, i);
		cr_assert_null(json_object_get(u, "password"));
		cr_assert_null(json_object_get(u, "password_hash"));
	}
	json_decref(b);
	/* a new password: the old one and the sessions it opened stop working */
	cr_assert_eq(call("GET", "/api/v1/services", customer, NULL, NULL), 200);
	cr_assert_eq(call("PATCH", "/api/v1/users/2", admin, "{\"password\": \"bobs-new-pass\"}",
			  NULL), 200);
	cr_assert_eq(call("GET", "/api/v1/services", customer, NULL, NULL), 401);
	cr_assert_eq(call("POST", "/api/v1/login", NULL, "{\"user\": \"bob\", \"password\": "
			  "\"bobs-password\"}", NULL), 401);
	char tok[PROV_TOKEN_LEN + 1];
	login("bob", "bobs-new-pass", tok);
	/* a user's rename keeps its password */
	cr_assert_eq(call("PATCH", "/api/v1/users/2", admin, "{\"name\": \"robert\"}", NULL), 200);
	login("robert", "bobs-new-pass", tok);
	/* deleting a user ends its sessions */
	cr_assert_eq(call("DELETE", "/api/v1/users/2", admin, NULL, NULL), 204);
	cr_assert_eq(call("GET", "/api/v1/services", tok, NULL, NULL), 401);
}
