/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The web UI's static files (provisioner/web/), embedded into the binary at
 * build time by provisioner/web/embed.py: nothing is read from disk and
 * nothing is fetched from the network at run time, so the UI a daemon
 * serves is always the one it was built with, and a chroot or a read-only
 * root changes nothing. The UI talks only to the REST API (docs/api.md);
 * this file serves bytes, never data. See docs/webui.md.
 */
#ifndef LOOM_PROV_WEB_H
#define LOOM_PROV_WEB_H

#include <stddef.h>

struct prov_web_file {
	const char *path;         /* "/index.html": what the URL names */
	const char *type;         /* the Content-Type */
	const char *etag;         /* quoted, from a hash of the bytes */
	const unsigned char *data;
	size_t len;
};

/*
 * The file at path ("/" is "/index.html"), or NULL. path is the client's,
 * already percent-decoded and without its query; it is only compared, never
 * used to open anything.
 */
const struct prov_web_file *prov_web_lookup(const char *path);

struct http_request;
struct http_reply;

/*
 * Answer a request outside /api/ from the embedded files (common/http.h):
 * the file (GET, HEAD; 304 when If-None-Match names its ETag), 404 or 405.
 */
void prov_web_serve(const struct http_request *q, struct http_reply *r);

#endif
