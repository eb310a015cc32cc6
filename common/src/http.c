// SPDX-License-Identifier: LGPL-2.1-or-later
/* The event-loop HTTP server of common/http.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/compiler.h"
#include "common/ev.h"
#include "common/http.h"
#include "common/key.h"
#include "common/log.h"

struct http_srv {
	struct MHD_Daemon *d;
	struct ev_loop *loop;
	struct ev_handle *reader, *timer;
	http_handler_fn *fn;
	void *arg;
	size_t limit;
	uint16_t port;
};

/* One request's body, gathered as it arrives. */
struct request {
	char *buf;
	size_t len;
	bool too_large;
};

/* libmicrohttpd's messages, at debug: a client's mistakes are not ours to log */
static void mhd_log(void *cls, const char *fmt, va_list ap) LOOM_PRINTF(2, 0);

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	log_vmsg(LOG_LVL_DEBUG, fmt, ap);
}

const char *http_header(const struct http_request *q, const char *name)
{
	return MHD_lookup_connection_value(q->conn, MHD_HEADER_KIND, name);
}

void http_reply_header(struct http_reply *r, const char *name, const char *value)
{
	for (unsigned i = 0; i < HTTP_MAX_HEADERS; i++)
		if (!r->headers[i][0]) {
			r->headers[i][0] = name;
			r->headers[i][1] = value;
			return;
		}
}

static enum MHD_Result send_reply(struct MHD_Connection *c, struct http_reply *r)
{
	static char empty[1];
	struct MHD_Response *resp;
	enum MHD_Result ok;

	if (r->body)
		resp = MHD_create_response_from_buffer(r->body_len, r->body, MHD_RESPMEM_MUST_FREE);
	else /* PERSISTENT memory is only read, whatever the argument's type */
		resp = MHD_create_response_from_buffer(r->static_body ? r->body_len : 0,
						       r->static_body ? (void *)(uintptr_t)r->static_body
								      : empty,
						       MHD_RESPMEM_PERSISTENT);
	if (!resp) {
		free(r->body);
		return MHD_NO;
	}
	if (r->content_type)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
				r->cache_control ? r->cache_control : "no-store");
	for (unsigned i = 0; i < HTTP_MAX_HEADERS && r->headers[i][0]; i++)
		MHD_add_response_header(resp, r->headers[i][0], r->headers[i][1]);
	ok = MHD_queue_response(c, r->status ? r->status : 500, resp);
	MHD_destroy_response(resp);
	return ok;
}

/* Call the handler (the body too large, or gathered whole) and answer. */
static enum MHD_Result handle(struct http_srv *s, struct MHD_Connection *c, const char *method,
			      const char *url, const struct request *q)
{
	struct http_request req = { .method = method, .url = url, .conn = c,
				    .too_large = q->too_large,
				    .body = q->too_large ? NULL : q->buf,
				    .body_len = q->too_large ? 0 : q->len };
	struct http_reply r;

	memset(&r, 0, sizeof(r));
	s->fn(s->arg, &req, &r);
	return send_reply(c, &r);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *data,
				  size_t *data_size, void **con_cls)
{
	struct http_srv *s = cls;
	struct request *q = *con_cls;

	(void)version;
	if (!q) {
		const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
							     MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (!(q = calloc(1, sizeof(*q))))
			return MHD_NO;
		*con_cls = q;
		/* refuse before reading a body we already know is too big */
		if (cl && strtoull(cl, NULL, 10) > s->limit) {
			q->too_large = true;
			return handle(s, c, method, url, q);
		}
		return MHD_YES;
	}
	if (*data_size) {
		if (!q->too_large && q->len + *data_size > s->limit) {
			q->too_large = true;
			free(q->buf);
			q->buf = NULL;
		}
		if (!q->too_large) {
			char *more = realloc(q->buf, q->len + *data_size);
			if (!more)
				return MHD_NO;
			memcpy(more + q->len, data, *data_size);
			q->buf = more;
			q->len += *data_size;
		}
		*data_size = 0;
		return MHD_YES;
	}
	return handle(s, c, method, url, q);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode code)
{
	struct request *q = *con_cls;

	(void)cls;
	(void)c;
	(void)code;
	if (q) {
		free(q->buf);
		free(q);
		*con_cls = NULL;
	}
}

static void on_event(struct ev_loop *loop, void *arg, int what);

/* Let libmicrohttpd work, then wake up again when it wants to. */
static void run(struct http_srv *s)
{
	MHD_UNSIGNED_LONG_LONG ms;

	MHD_run(s->d);
	if (MHD_get_timeout(s->d, &ms) == MHD_YES)
		ev_timer_add(s->loop, ms, on_event, s, &s->timer);
	else
		ev_cancel(&s->timer);
}

/* Its timeout, or its epoll descriptor readable: let it work. */
static void on_event(struct ev_loop *loop, void *arg, int what)
{
	(void)loop;
	(void)what;
	run(arg);
}

int http_srv_open(struct ev_loop *loop, const struct http_config *cfg, http_handler_fn *fn,
		  void *arg, struct http_srv **out)
{
	struct http_srv *s = calloc(1, sizeof(*s));
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(cfg->port) };
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_port = htons(cfg->port) };
	bool v4 = key_addr_is_v4(cfg->addr);
	const union MHD_DaemonInfo *info;
	int r;

	if (!s)
		return -ENOMEM;
	memcpy(&sin.sin_addr, cfg->addr + 12, 4);
	memcpy(&sin6.sin6_addr, cfg->addr, 16);
	s->loop = loop;
	s->fn = fn;
	s->arg = arg;
	s->limit = cfg->body_limit;
	s->d = MHD_start_daemon(MHD_USE_EPOLL | MHD_USE_ERROR_LOG | (v4 ? 0 : MHD_USE_IPv6),
				cfg->port, NULL, NULL, on_request, s,
				MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s,
				MHD_OPTION_SOCK_ADDR, v4 ? (struct sockaddr *)&sin
							 : (struct sockaddr *)&sin6,
				MHD_OPTION_CONNECTION_LIMIT, cfg->max_connections ?
							     cfg->max_connections : 16u,
				MHD_OPTION_CONNECTION_TIMEOUT, cfg->timeout_s ? cfg->timeout_s : 30u,
				MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
				MHD_OPTION_END);
	if (!s->d) {
		free(s);
		return -EADDRNOTAVAIL;
	}
	info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
	s->port = info ? info->port : cfg->port;
	info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_EPOLL_FD);
	if (!info || (r = ev_reader_add(loop, info->epoll_fd, on_event, s, &s->reader)) < 0) {
		http_srv_close(s);
		return -EIO;
	}
	run(s);
	*out = s;
	return 0;
}

void http_srv_close(struct http_srv *s)
{
	if (!s)
		return;
	ev_cancel(&s->reader);
	ev_cancel(&s->timer);
	MHD_stop_daemon(s->d);
	free(s);
}

uint16_t http_port(const struct http_srv *s)
{
	return s->port;
}

int http_parse_listen(const char *s, struct http_config *cfg)
{
	char host[64];
	const char *colon;
	unsigned long port;
	char *end;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close || close[1] != ':' || (size_t)(close - s - 1) >= sizeof(host))
			return -EINVAL;
		memcpy(host, s + 1, (size_t)(close - s - 1));
		host[close - s - 1] = '\0';
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || (size_t)(colon - s) >= sizeof(host))
			return -EINVAL;
		memcpy(host, s, (size_t)(colon - s));
		host[colon - s] = '\0';
		if (!host[0])
			snprintf(host, sizeof(host), "0.0.0.0");
	}
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (!colon[1] || *end || errno || port > 65535)
		return -EINVAL;
	memset(cfg->addr, 0, 16);
	if (inet_pton(AF_INET, host, cfg->addr + 12) == 1) {
		cfg->addr[10] = cfg->addr[11] = 0xff;
	} else if (inet_pton(AF_INET6, host, cfg->addr) != 1) {
		return -EINVAL;
	}
	cfg->port = (uint16_t)port;
	return 0;
}
