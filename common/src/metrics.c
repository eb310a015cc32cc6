// SPDX-License-Identifier: LGPL-2.1-or-later
/* The metrics endpoint of common/metrics.h. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/compiler.h"
#include "common/http.h"
#include "common/metrics.h"

struct metrics {
	struct http_srv *http;
	metrics_fill_fn *fill;
	void *arg;
};

/* The page being written: grows as needed; a failed allocation is sticky. */
struct metrics_out {
	char *buf;
	size_t len, cap;
	bool failed;
};

static void put(struct metrics_out *o, const char *s, size_t n)
{
	if (o->failed)
		return;
	if (o->len + n + 1 > o->cap) {
		size_t cap = o->cap ? o->cap : 4096;
		while (cap < o->len + n + 1)
			cap *= 2;
		char *b = realloc(o->buf, cap);
		if (!b) {
			o->failed = true;
			return;
		}
		o->buf = b;
		o->cap = cap;
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
	o->buf[o->len] = '\0';
}

static void putf(struct metrics_out *o, const char *fmt, ...) LOOM_PRINTF(2, 3);

static void putf(struct metrics_out *o, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n > 0)
		put(o, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* A label value: backslash, double quote and newline escaped. */
static void put_escaped(struct metrics_out *o, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\')
			put(o, "\\\\", 2);
		else if (*v == '"')
			put(o, "\\\"", 2);
		else if (*v == '\n')
			put(o, "\\n", 2);
		else
			put(o, v, 1);
	}
}

void metrics_family(struct metrics_out *o, const char *name, enum metrics_type type,
		    const char *help)
{
	putf(o, "# HELP %s ", name);
	put_escaped(o, help); /* HELP escapes backslash and newline; a quote is harmless */
	putf(o, "\n# TYPE %s %s\n", name, type == METRICS_COUNTER ? "counter" : "gauge");
}

static void labels(struct metrics_out *o, const char *const kv[6])
{
	bool any = false;

	for (unsigned i = 0; i < 6 && kv[i]; i += 2) {
		put(o, any ? "," : "{", 1);
		put(o, kv[i], strlen(kv[i]));
		put(o, "=\"", 2);
		put_escaped(o, kv[i + 1] ? kv[i + 1] : "");
		put(o, "\"", 1);
		any = true;
	}
	if (any)
		put(o, "}", 1);
}

void metrics_sample(struct metrics_out *o, const char *name, const char *k1, const char *v1,
		    const char *k2, const char *v2, const char *k3, const char *v3, uint64_t value)
{
	const char *kv[6] = { k1, v1, k1 ? k2 : NULL, v2, k1 && k2 ? k3 : NULL, v3 };

	put(o, name, strlen(name));
	labels(o, kv);
	putf(o, " %" PRIu64 "\n", value);
}

void metrics_sample_f(struct metrics_out *o, const char *name, const char *k1, const char *v1,
		      double value)
{
	const char *kv[6] = { k1, v1, NULL, NULL, NULL, NULL };

	put(o, name, strlen(name));
	labels(o, kv);
	putf(o, " %.17g\n", value);
}

void metrics_reply(const struct http_request *q, struct http_reply *r, metrics_fill_fn *fill,
		   void *arg)
{
	struct metrics_out o = { 0 };

	if (strcmp(q->method, "GET") && strcmp(q->method, "HEAD")) {
		r->status = 405;
		http_reply_header(r, "Allow", "GET, HEAD");
		return;
	}
	fill(arg, &o);
	if (o.failed) {
		free(o.buf);
		r->status = 503;
		return;
	}
	r->status = 200;
	r->content_type = "text/plain; version=0.0.4; charset=utf-8";
	r->body = o.buf;
	r->body_len = o.len;
}

static void on_request(void *arg, const struct http_request *q, struct http_reply *r)
{
	struct metrics *m = arg;

	if (strcmp(q->url, "/metrics")) {
		r->status = 404;
		return;
	}
	metrics_reply(q, r, m->fill, m->arg);
}

int metrics_open(struct ev_loop *loop, const char *listen, metrics_fill_fn *fill, void *arg,
		 struct metrics **out)
{
	struct http_config hc = { .body_limit = 0, .max_connections = 8, .timeout_s = 10 };
	struct metrics *m;
	int r;

	if (http_parse_listen(listen, &hc) < 0)
		return -EINVAL;
	if (!(m = calloc(1, sizeof(*m))))
		return -ENOMEM;
	m->fill = fill;
	m->arg = arg;
	if ((r = http_srv_open(loop, &hc, on_request, m, &m->http)) < 0) {
		free(m);
		return r;
	}
	*out = m;
	return 0;
}

void metrics_close(struct metrics *m)
{
	if (!m)
		return;
	http_srv_close(m->http);
	free(m);
}

uint16_t metrics_port(const struct metrics *m)
{
	return http_port(m->http);
}
