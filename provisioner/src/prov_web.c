// SPDX-License-Identifier: LGPL-2.1-or-later
#include <stdint.h>
#include <string.h>

#include "common/compiler.h"
#include "common/http.h"
#include "prov_web.h"
#include "prov_web_files.h" /* generated: static const struct prov_web_file web_files[] */

/*
 * The UI is a script that calls the API with a bearer token, so the one
 * thing worth guarding is that no other origin's script or frame runs with
 * it: everything from this server only, no inline script, never framed.
 */
#define CSP "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " \
	    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

const struct prov_web_file *prov_web_lookup(const char *path)
{
	if (!strcmp(path, "/"))
		path = "/index.html";
	for (size_t i = 0; i < LOOM_ARRAY_SIZE(web_files); i++)
		if (!strcmp(path, web_files[i].path))
			return &web_files[i];
	return NULL;
}

/*
 * Answer with text (a plain-text error) or else f: its bytes, or none for a
 * 304, which carries the ETag alone. Both live as long as the program.
 */
static void answer(struct http_reply *r, unsigned status, const struct prov_web_file *f,
		   const char *text)
{
	r->status = status;
	r->static_body = text ? (const void *)text : f->data;
	r->body_len = text ? strlen(text) : status == 304 ? 0 : f->len;
	r->content_type = text ? "text/plain; charset=utf-8" : f->type;
	if (!text) {
		/* revalidate every time: a new daemon may serve a new UI at the same path */
		http_reply_header(r, "ETag", f->etag);
		r->cache_control = "no-cache";
	}
	if (status == 405)
		http_reply_header(r, "Allow", "GET, HEAD");
	http_reply_header(r, "Content-Security-Policy", CSP);
	http_reply_header(r, "X-Content-Type-Options", "nosniff");
	http_reply_header(r, "Referrer-Policy", "no-referrer");
}

void prov_web_serve(const struct http_request *q, struct http_reply *r)
{
	const struct prov_web_file *f = prov_web_lookup(q->url);
	const char *inm;

	if (!f) {
		answer(r, 404, NULL, "not found; the API is under /api/v1/\n");
		return;
	}
	if (strcmp(q->method, "GET") && strcmp(q->method, "HEAD")) {
		answer(r, 405, NULL, "only GET and HEAD\n");
		return;
	}
	inm = http_header(q, "If-None-Match");
	answer(r, inm && strstr(inm, f->etag) ? 304 : 200, f, NULL);
}
