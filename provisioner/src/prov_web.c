// SPDX-License-Identifier: LGPL-2.1-or-later
#include <stdint.h>
#include <string.h>

#include "common/compiler.h"
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
 * Queue text (a plain-text error) or else f: its bytes, or none for a 304,
 * which carries the ETag alone.
 */
static enum MHD_Result queue(struct MHD_Connection *c, unsigned status,
			     const struct prov_web_file *f, const char *text)
{
	const void *data = text ? (const void *)text : f->data;
	size_t len = text ? strlen(text) : status == MHD_HTTP_NOT_MODIFIED ? 0 : f->len;
	struct MHD_Response *resp;
	enum MHD_Result ok;

	/*
	 * Both live as long as the program: nothing to copy or free. The
	 * buffer argument is not const, but PERSISTENT memory is only read.
	 */
	resp = MHD_create_response_from_buffer(len, (void *)(uintptr_t)data,
					       MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				text ? "text/plain; charset=utf-8" : f->type);
	if (!text) {
		/* revalidate every time: a new daemon may serve a new UI at the same path */
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, f->etag);
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
	}
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	MHD_add_response_header(resp, "Content-Security-Policy", CSP);
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	ok = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return ok;
}

enum MHD_Result prov_web_serve(struct MHD_Connection *c, const char *method, const char *url)
{
	const struct prov_web_file *f = prov_web_lookup(url);
	const char *inm;

	if (!f)
		return queue(c, MHD_HTTP_NOT_FOUND, NULL, "not found; the API is under /api/v1/\n");
	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		return queue(c, MHD_HTTP_METHOD_NOT_ALLOWED, NULL, "only GET and HEAD\n");
	inm = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);
	if (inm && strstr(inm, f->etag))
		return queue(c, MHD_HTTP_NOT_MODIFIED, f, NULL);
	return queue(c, MHD_HTTP_OK, f, NULL);
}
