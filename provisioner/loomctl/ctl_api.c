// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * loomctl's API commands (ctl_api.h): every command is one HTTP request;
 * the reply is printed as a table, or as it came with --json.
 */
#include <curl/curl.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"
#include "ctl_api.h"

static const char *const resources[] = {
	"interfaces", "segments", "ip-pools", "device-pools", "devices", "packages",
	"customers", "services", "acls", "virtual-services", "nat-pools", "users",
};

bool ctl_api_object(const char *name)
{
	for (size_t i = 0; i < LOOM_ARRAY_SIZE(resources); i++)
		if (!strcmp(name, resources[i]))
			return true;
	return !strcmp(name, "login") || !strcmp(name, "version") || !strcmp(name, "push") ||
	       !strcmp(name, "trials");
}

LOOM_PRINTF(1, 2)
static int fail(const char *fmt, ...)
{
	va_list ap;

	fputs("loomctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return CTL_EXIT_USAGE;
}

/* ---- HTTP ---------------------------------------------------------------------- */

struct buf {
	char *p;
	size_t len;
};

/* Replies are small; a reply past 64 MB is not the provisioner's. */
static size_t on_data(char *data, size_t size, size_t n, void *arg)
{
	struct buf *b = arg;
	size_t add = size * n;
	char *p;

	if (b->len + add > (64u << 20) || !(p = realloc(b->p, b->len + add + 1)))
		return 0;
	memcpy(p + b->len, data, add);
	b->p = p;
	b->len += add;
	p[b->len] = '\0';
	return add;
}

/*
 * One request: path under /api/v1/, body (may be NULL). On a 2xx, *reply
 * is the parsed body (NULL for 204) and 0 is returned; otherwise the error
 * is printed and an exit status returned.
 */
static int request(const struct ctl_api_opts *o, const char *method, const char *path,
		   const json_t *body, json_t **reply)
{
	char url[1024], auth[600], err[CURL_ERROR_SIZE] = "";
	struct curl_slist *h = NULL;
	struct buf b = { NULL, 0 };
	char *text = NULL;
	long status = 0;
	CURLcode rc;
	CURL *c;

	*reply = NULL;
	if (!(c = curl_easy_init()))
		return fail("out of memory"), CTL_EXIT_FAIL;
	snprintf(url, sizeof(url), "%s/api/v1/%s", o->url, path);
	h = curl_slist_append(h, "Content-Type: application/json");
	h = curl_slist_append(h, "Accept: application/json");
	if (o->token) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", o->token);
		h = curl_slist_append(h, auth);
	}
	if (body) {
		text = json_dumps(body, JSON_COMPACT);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, text ? text : "");
	} else if (!strcmp(method, "POST")) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, err);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	free(text);
	if (rc != CURLE_OK) {
		free(b.p);
		fprintf(stderr, "loomctl: cannot reach the API at %s: %s\n", o->url,
			err[0] ? err : curl_easy_strerror(rc));
		return CTL_EXIT_FAIL;
	}
	json_t *doc = b.len ? json_loadb(b.p, b.len, 0, NULL) : NULL;
	free(b.p);
	if (status >= 200 && status < 300) {
		if (b.len && !doc) {
			fprintf(stderr, "loomctl: %s %s: the reply is not JSON\n", method, path);
			return CTL_EXIT_FAIL;
		}
		*reply = doc;
		return CTL_EXIT_OK;
	}
	const json_t *e = json_object_get(doc, "error");
	const char *code = json_string_value(json_object_get(e, "code"));
	const char *msg = json_string_value(json_object_get(e, "message"));
	const char *field = json_string_value(json_object_get(e, "field"));
	if (code)
		fprintf(stderr, "loomctl: %ld %s: %s%s%s%s\n", status, code, msg ? msg : "",
			field ? " (field " : "", field ? field : "", field ? ")" : "");
	else
		fprintf(stderr, "loomctl: %s %s: HTTP %ld\n", method, path, status);
	if (status == 401 && !o->token)
		fputs("loomctl: no token: export LOOM_TOKEN=$(loomctl login USER) or use "
		      "--token\n", stderr);
	json_decref(doc);
	return status == 404 ? CTL_EXIT_NOT_FOUND : CTL_EXIT_REFUSED;
}

/* ---- Output ---------------------------------------------------------------------- */

/* One table cell for a JSON value: text as is, null "-", lists joined. */
static char *ctl_api_cell(const json_t *v)
{
	if (json_is_null(v) || !v)
		return strdup("-");
	if (json_is_string(v))
		return strdup(json_string_value(v));
	if (json_is_array(v)) {
		/* a list of scalars reads best joined; anything else as JSON */
		size_t i, len = 0;
		const json_t *x;
		char *out = NULL;
		json_array_foreach(v, i, x)
			if (json_is_object(x) || json_is_array(x))
				return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		json_array_foreach(v, i, x) {
			char *c = ctl_api_cell(x), *n;
			size_t cl = strlen(c);
			if (!(n = realloc(out, len + cl + 2))) {
				free(c);
				break;
			}
			out = n;
			if (len)
				out[len++] = ',';
			memcpy(out + len, c, cl + 1);
			len += cl;
			free(c);
		}
		return out ? out : strdup("");
	}
	return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

/* A list of objects: one column per key of the first (at most CTL_TBL_MAXCOL). */
static void print_list(const json_t *arr)
{
	struct ctl_tbl_col cols[CTL_TBL_MAXCOL];
	const char *cells[CTL_TBL_MAXCOL];
	const json_t *first = json_array_get(arr, 0), *row, *v;
	struct ctl_tbl t;
	const char *key;
	unsigned n = 0;
	size_t i;

	if (!json_is_object(first)) {
		puts("(none)");
		return;
	}
	json_object_foreach((json_t *)(uintptr_t)first, key, v)
		if (n < CTL_TBL_MAXCOL)
			cols[n++] = (struct ctl_tbl_col){ key, json_is_integer(v) };
	ctl_tbl_init(&t, stdout, cols, n);
	json_array_foreach(arr, i, row) {
		char *owned[CTL_TBL_MAXCOL];
		for (unsigned k = 0; k < n; k++)
			cells[k] = owned[k] = ctl_api_cell(json_object_get(row, cols[k].name));
		ctl_tbl_row(&t, cells);
		for (unsigned k = 0; k < n; k++)
			free(owned[k]);
	}
	ctl_tbl_flush(&t);
	ctl_tbl_free(&t);
}

/* One object: a key and its value per line. */
static void print_object(const json_t *o)
{
	static const struct ctl_tbl_col cols[] = { { "field", false }, { "value", false } };
	const char *key;
	const json_t *v;
	struct ctl_tbl t;

	ctl_tbl_init(&t, stdout, cols, 2);
	json_object_foreach((json_t *)(uintptr_t)o, key, v) {
		char *c = ctl_api_cell(v);
		const char *cells[2] = { key, c };
		ctl_tbl_row(&t, cells);
		free(c);
	}
	ctl_tbl_flush(&t);
	ctl_tbl_free(&t);
}

static void print(const struct ctl_api_opts *o, const json_t *doc)
{
	if (!doc)
		return;
	if (o->json) {
		json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_ENCODE_ANY);
		putchar('\n');
	} else if (json_is_array(doc)) {
		print_list(doc);
	} else if (json_is_object(doc)) {
		print_object(doc);
	}
}

static int run_print(const struct ctl_api_opts *o, const char *method, const char *path,
		     const json_t *body)
{
	json_t *reply;
	int r = request(o, method, path, body, &reply);

	if (!r)
		print(o, reply);
	json_decref(reply);
	return r;
}

/* ---- Commands ------------------------------------------------------------------ */

/*
 * A request body from KEY=VALUE words: VALUE is taken as JSON when it is
 * JSON (80, true, null, [..], {..}, "..."), else as a string. NULL with a
 * message in why for a word without '=' or a key given twice.
 */
static json_t *ctl_api_body(int n, char **words, char *why, size_t whylen)
{
	json_t *body = json_object();

	for (int i = 0; i < n; i++) {
		const char *eq = strchr(words[i], '=');
		char key[128];
		json_t *v;

		if (!eq || eq == words[i] || (size_t)(eq - words[i]) >= sizeof(key)) {
			snprintf(why, whylen, "'%s' is not KEY=VALUE", words[i]);
			json_decref(body);
			return NULL;
		}
		snprintf(key, sizeof(key), "%.*s", (int)(eq - words[i]), words[i]);
		if (json_object_get(body, key)) {
			snprintf(why, whylen, "%s given twice", key);
			json_decref(body);
			return NULL;
		}
		if (!(v = json_loads(eq + 1, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL)))
			v = json_string(eq + 1);
		json_object_set_new(body, key, v);
	}
	return body;
}

/* The body of create/update/replace: -f FILE (or - for stdin) or KEY=VALUE words. */
static json_t *body_of(int n, char **words, int *status)
{
	char why[256];
	json_t *b;

	*status = CTL_EXIT_USAGE;
	if (n >= 1 && !strcmp(words[0], "-f")) {
		json_error_t e;
		if (n != 2) {
			fail("-f takes one FILE (- for stdin) and nothing else");
			return NULL;
		}
		b = strcmp(words[1], "-") ? json_load_file(words[1], JSON_REJECT_DUPLICATES, &e) :
		    json_loadf(stdin, JSON_REJECT_DUPLICATES, &e);
		if (!b)
			fail("%s:%d: %s", words[1], e.line, e.text);
		return b;
	}
	if (!(b = ctl_api_body(n, words, why, sizeof(why))))
		fail("%s", why);
	return b;
}

/*
 * services try ID [port=N]: start a trial and wait for its end (a trial
 * waits at most PROV_TRIAL_WAIT_MS for its engines: 10 s, polled here for
 * 15); exit 0 when it passed, CTL_EXIT_FAIL when it failed or never ended.
 */
static bool in_state(const json_t *trial, const char *state)
{
	const char *s = json_string_value(json_object_get(trial, "state"));

	return s && !strcmp(s, state);
}

static int try_service(const char *path, json_t *body, const struct ctl_api_opts *o)
{
	json_t *trial = NULL;
	char tpath[64];
	int r = request(o, "POST", path, body, &trial);

	for (int i = 0; !r && i < 75 && in_state(trial, "running"); i++) {
		struct timespec ts = { .tv_nsec = 200 * 1000 * 1000 };
		nanosleep(&ts, NULL);
		snprintf(tpath, sizeof(tpath), "trials/%" JSON_INTEGER_FORMAT,
			 json_integer_value(json_object_get(trial, "id")));
		json_decref(trial);
		r = request(o, "GET", tpath, NULL, &trial);
	}
	if (!r) {
		print(o, trial);
		if (!in_state(trial, "passed"))
			r = CTL_EXIT_FAIL;
	}
	json_decref(trial);
	return r;
}

/* services replicate|try|cutover ID KEY=VALUE... */
static int service_action(const char *cmd, int argc, char **argv, const struct ctl_api_opts *o)
{
	char path[128];
	json_t *b;
	int r;

	snprintf(path, sizeof(path), "services/%.32s/%s", argv[2],
		 !strcmp(cmd, "try") ? "trials" : cmd);
	if (!(b = body_of(argc - 3, argv + 3, &r)))
		return r;
	r = !strcmp(cmd, "try") ? try_service(path, b, o) : run_print(o, "POST", path, b);
	json_decref(b);
	return r;
}

static int resource(const char *res, int argc, char **argv, const struct ctl_api_opts *o)
{
	const char *cmd = argc > 1 ? argv[1] : "list";
	char path[256];
	int r;

	if (!strcmp(cmd, "list") && argc <= 2)
		return run_print(o, "GET", res, NULL);
	if (!strcmp(cmd, "create")) {
		json_t *b = body_of(argc - 2, argv + 2, &r);
		if (!b)
			return r;
		r = run_print(o, "POST", res, b);
		json_decref(b);
		return r;
	}
	if (argc < 3)
		return fail("%s %s needs an ID", res, cmd);
	snprintf(path, sizeof(path), "%s/%.32s", res, argv[2]);
	if (!strcmp(cmd, "show") && argc == 3)
		return run_print(o, "GET", path, NULL);
	if (!strcmp(cmd, "delete") && argc == 3)
		return run_print(o, "DELETE", path, NULL);
	if (!strcmp(res, "services") && (!strcmp(cmd, "replicate") || !strcmp(cmd, "try") ||
					 !strcmp(cmd, "cutover")))
		return service_action(cmd, argc, argv, o);
	if (!strcmp(cmd, "update") || !strcmp(cmd, "replace")) {
		json_t *b = body_of(argc - 3, argv + 3, &r);
		if (!b)
			return r;
		r = run_print(o, cmd[0] == 'u' ? "PATCH" : "PUT", path, b);
		json_decref(b);
		return r;
	}
	return fail("%s: unknown command or arguments '%s' (list, show, create, update, "
		    "replace, delete)", res, cmd);
}

static int version(int argc, char **argv, const struct ctl_api_opts *o)
{
	const char *cmd = argc > 1 ? argv[1] : "list";
	char path[256];

	if (!strcmp(cmd, "list") && argc <= 2)
		return run_print(o, "GET", "versions", NULL);
	if (!strcmp(cmd, "show") && argc == 3) {
		snprintf(path, sizeof(path), "versions/%.32s", argv[2]);
		return run_print(o, "GET", path, NULL);
	}
	if (!strcmp(cmd, "rollback") && argc == 3) {
		snprintf(path, sizeof(path), "versions/%.32s/rollback", argv[2]);
		return run_print(o, "POST", path, NULL);
	}
	if (!strcmp(cmd, "render") && argc == 4) {
		snprintf(path, sizeof(path), "versions/%.32s/render/%.32s", argv[2], argv[3]);
		return run_print(o, "GET", path, NULL);
	}
	return fail("version: list | show V | rollback V | render V pkt-engine|svc-mgr");
}

/* The password from $LOOM_PASSWORD, else the first line of stdin. */
static int login(int argc, char **argv, const struct ctl_api_opts *o)
{
	const char *env = getenv("LOOM_PASSWORD");
	char pw[300] = "";
	json_t *reply;
	int r;

	if (argc != 2)
		return fail("login USER (the password from $LOOM_PASSWORD or stdin)");
	if (env)
		snprintf(pw, sizeof(pw), "%s", env);
	else if (fgets(pw, sizeof(pw), stdin))
		pw[strcspn(pw, "\r\n")] = '\0';
	json_t *body = json_pack("{s:s, s:s}", "user", argv[1], "password", pw);
	r = request(o, "POST", "login", body, &reply);
	json_decref(body);
	if (!r) {
		if (o->json)
			print(o, reply);
		else
			puts(json_string_value(json_object_get(reply, "token")));
	}
	json_decref(reply);
	return r;
}

int ctl_api_run(int argc, char **argv, const struct ctl_api_opts *opts)
{
	struct ctl_api_opts o = *opts;
	char *args[64];
	int n = 0, r;

	/* -j/--json may also follow the command, as with the table views */
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "-j") || !strcmp(argv[i], "--json"))
			o.json = true;
		else if (n < (int)LOOM_ARRAY_SIZE(args))
			args[n++] = argv[i];
		else
			return fail("too many arguments");
	}
	if (!o.url)
		o.url = getenv("LOOM_API") && *getenv("LOOM_API") ? getenv("LOOM_API") :
			"http://127.0.0.1:8080";
	if (!o.token && getenv("LOOM_TOKEN") && *getenv("LOOM_TOKEN"))
		o.token = getenv("LOOM_TOKEN");
	if (curl_global_init(CURL_GLOBAL_DEFAULT))
		return fail("initialising libcurl"), CTL_EXIT_FAIL;
	if (!strcmp(args[0], "login"))
		r = login(n, args, &o);
	else if (!strcmp(args[0], "version"))
		r = version(n, args, &o);
	else if (!strcmp(args[0], "push"))
		r = n == 1 || (n == 2 && !strcmp(args[1], "list")) ?
		    run_print(&o, "GET", "push", NULL) : fail("push [list]");
	else if (!strcmp(args[0], "trials"))
		r = n == 1 || (n == 2 && !strcmp(args[1], "list")) ? run_print(&o, "GET", "trials",
									       NULL) :
		    n == 3 && !strcmp(args[1], "show") ? resource("trials", n, args, &o) :
		    fail("trials [list] | trials show ID");
	else
		r = resource(args[0], n, args, &o);
	curl_global_cleanup();
	return r;
}
