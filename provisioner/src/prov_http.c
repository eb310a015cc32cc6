// SPDX-License-Identifier: LGPL-2.1-or-later
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/key.h"
#include "common/log.h"
#include "prov_http.h"
#include "prov_web.h"

struct prov_http {
	struct MHD_Daemon *d;
	struct ev_loop *loop;
	struct ev_handle *reader, *timer;
	struct prov_api *api;
	size_t limit;
};

/* One request's body, gathered as it arrives. */
struct request {
	char *buf;
	size_t len;
	bool too_large;
};

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	log_vmsg(LOG_LVL_WARN, fmt, ap);
}

static enum MHD_Result send_reply(struct MHD_Connection *c, const char *method, const char *url,
				  struct prov_reply *r)
{
	struct MHD_Response *resp;
	enum MHD_Result ok;
	size_t len = r->body ? strlen(r->body) : 0;

	static char empty[1];

	resp = MHD_create_response_from_buffer(len, r->body ? r->body : empty,
					       r->body ? MHD_RESPMEM_MUST_FREE
						       : MHD_RESPMEM_PERSISTENT);
	if (!resp) {
		prov_reply_free(r);
		return MHD_NO;
	}
	r->body = NULL; /* the response frees it */
	if (len)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (r->allow)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
	if (r->status == 401)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
	ok = MHD_queue_response(c, r->status, resp);
	MHD_destroy_response(resp);
	if (log_enabled(LOG_LVL_INFO)) {
		/* the path is the client's, percent-decoded: no control characters in our log */
		char safe[128];
		size_t i;
		for (i = 0; url[i] && i < sizeof(safe) - 1; i++)
			safe[i] = (unsigned char)url[i] < 0x20 || url[i] == 0x7f ? '?' : url[i];
		safe[i] = '\0';
		log_info("%.16s %s: %u", method, safe, r->status);
	}
	return ok;
}

static enum MHD_Result too_large(struct prov_http *h, struct MHD_Connection *c,
				 const char *method, const char *url)
{
	struct prov_error e;
	struct prov_reply r = { 0 };

	prov_fail(&e, PROV_E_TOO_LARGE, NULL, "the request body is larger than %zu bytes", h->limit);
	prov_api_error(&r, &e);
	return send_reply(c, method, url, &r);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *data,
				  size_t *data_size, void **con_cls)
{
	struct prov_http *h = cls;
	struct request *q = *con_cls;
	struct prov_reply r;

	(void)version;
	if (!q) {
		const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
							     MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (!(q = calloc(1, sizeof(*q))))
			return MHD_NO;
		*con_cls = q;
		/* refuse before reading a body we already know is too big */
		if (cl && strtoull(cl, NULL, 10) > h->limit)
			return too_large(h, c, method, url);
		return MHD_YES;
	}
	if (*data_size) {
		if (!q->too_large && q->len + *data_size > h->limit) {
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
	if (q->too_large)
		return too_large(h, c, method, url);
	if (strncmp(url, "/api/", 5))
		return prov_web_serve(c, method, url);
	prov_api_handle(h->api, method, url,
			MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION),
			q->buf, q->len, &r);
	if (strcmp(method, "GET") && r.status < 300 && h->api->changed)
		h->api->changed(h->api->changed_arg);
	return send_reply(c, method, url, &r);
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

static void on_timer(struct ev_loop *loop, void *arg, int what);

/* Let libmicrohttpd work, then wake up again when it wants to. */
static void run(struct prov_http *h)
{
	MHD_UNSIGNED_LONG_LONG ms;

	MHD_run(h->d);
	if (MHD_get_timeout(h->d, &ms) == MHD_YES)
		ev_timer_add(h->loop, ms, on_timer, h, &h->timer);
	else
		ev_cancel(&h->timer);
}

static void on_timer(struct ev_loop *loop, void *arg, int what)
{
	(void)loop;
	(void)what;
	run(arg);
}

static void on_readable(struct ev_loop *loop, void *arg, int what)
{
	(void)loop;
	(void)what;
	run(arg);
}

int prov_http_start(struct ev_loop *loop, const struct prov_config *cfg, struct prov_api *api,
		    struct prov_http **out)
{
	struct prov_http *h = calloc(1, sizeof(*h));
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(cfg->port) };
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_port = htons(cfg->port) };
	bool v4 = key_addr_is_v4(cfg->listen_address);
	char addr[64];
	const union MHD_DaemonInfo *info;
	int r;

	if (!h)
		return log_errno(-ENOMEM, "starting the API");
	memcpy(&sin.sin_addr, cfg->listen_address + 12, 4);
	memcpy(&sin6.sin6_addr, cfg->listen_address, 16);
	key_addr_format(cfg->listen_address, addr, sizeof(addr));
	h->loop = loop;
	h->api = api;
	h->limit = cfg->request_limit;
	h->d = MHD_start_daemon(MHD_USE_EPOLL | MHD_USE_ERROR_LOG | (v4 ? 0 : MHD_USE_IPv6),
				cfg->port, NULL, NULL, on_request, h,
				MHD_OPTION_EXTERNAL_LOGGER, mhd_log, h,
				MHD_OPTION_SOCK_ADDR, v4 ? (struct sockaddr *)&sin
							 : (struct sockaddr *)&sin6,
				MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->max_connections,
				MHD_OPTION_CONNECTION_TIMEOUT, 30u,
				MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
				MHD_OPTION_END);
	if (!h->d) {
		free(h);
		return log_errno(-EADDRNOTAVAIL, "cannot listen on %s port %u", addr, cfg->port);
	}
	info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_EPOLL_FD);
	if (!info || (r = ev_reader_add(loop, info->epoll_fd, on_readable, h, &h->reader)) < 0) {
		prov_http_stop(h);
		return log_errno(-EIO, "adding the API to the event loop");
	}
	run(h);
	log_notice("API on http://%s%s%s:%u/api/v1/", v4 ? "" : "[", addr, v4 ? "" : "]",
		   cfg->port);
	*out = h;
	return 0;
}

void prov_http_stop(struct prov_http *h)
{
	if (!h)
		return;
	ev_cancel(&h->reader);
	ev_cancel(&h->timer);
	MHD_stop_daemon(h->d);
	free(h);
}
