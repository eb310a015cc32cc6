/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A small HTTP/1.1 server on a daemon's event loop (libmicrohttpd), for the
 * provisioner's REST API and every daemon's metrics endpoint.
 *
 * libmicrohttpd runs in its external mode with epoll: no thread of its own;
 * its epoll descriptor is a reader on the loop and its timeout a timer, and
 * MHD_run() is called from the loop. So every request is handled on the
 * control thread, one at a time, next to everything else the daemon does:
 * a handler may read the daemon's state without a lock. The price: a slow
 * handler stalls the loop; keep them short.
 *
 * Bodies are gathered up to a limit (larger: the handler is told, with no
 * body, and answers 413 its own way); connections are limited and time out.
 */
#ifndef LOOM_COMMON_HTTP_H
#define LOOM_COMMON_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ev_loop;
struct http_srv;

struct http_request {
	const char *method;      /* "GET", ... */
	const char *url;         /* the path, percent-decoded by libmicrohttpd */
	const char *body;        /* NULL when empty; not NUL-terminated */
	size_t body_len;
	bool too_large;          /* the body was over the limit (and is not here) */
	void *conn;              /* for http_header() */
};

/* A request header's value, NULL if absent (valid during the handler). */
const char *http_header(const struct http_request *q, const char *name);

#define HTTP_MAX_HEADERS 8

struct http_reply {
	unsigned status;
	const char *content_type; /* NULL: none (an empty body) */
	char *body;               /* malloc'd, taken over by the server; may be NULL */
	const void *static_body;  /* or: bytes that live as long as the program */
	size_t body_len;          /* of whichever is set */
	const char *cache_control; /* NULL: "no-store" */
	const char *headers[HTTP_MAX_HEADERS][2]; /* {name, value}; name NULL ends */
};

/* Add a header to r (ignored past HTTP_MAX_HEADERS). Both strings must
 * outlive the handler's return (literals, or the server's own). */
void http_reply_header(struct http_reply *r, const char *name, const char *value);

/* Fill *r (zeroed before the call). Control thread. */
typedef void http_handler_fn(void *arg, const struct http_request *q, struct http_reply *r);

struct http_config {
	uint8_t addr[16];         /* IPv4-mapped or IPv6 (common/key.h) */
	uint16_t port;            /* 0: a free port, see http_port() */
	size_t body_limit;        /* largest body accepted */
	unsigned max_connections;
	unsigned timeout_s;       /* an idle connection is closed after it */
};

/* Bind and serve on loop. 0, -EADDRNOTAVAIL if the address cannot be bound,
 * -errno otherwise. */
int http_srv_open(struct ev_loop *loop, const struct http_config *cfg, http_handler_fn *fn,
		  void *arg, struct http_srv **out);
/* Close the listening socket and every connection; NULL is fine. */
void http_srv_close(struct http_srv *s);
/* The port bound (the one asked for, or the one the kernel picked). */
uint16_t http_port(const struct http_srv *s);

/* "address:port", "[v6]:port" or ":port" (every IPv4 address) into cfg's
 * address and port. 0 or -EINVAL. */
int http_parse_listen(const char *s, struct http_config *cfg);

#endif
