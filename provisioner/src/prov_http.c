// SPDX-License-Identifier: LGPL-2.1-or-later
/* The REST API and the web UI on the common HTTP server (common/http.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/http.h"
#include "common/key.h"
#include "common/log.h"
#include "common/metrics.h"
#include "prov_http.h"
#include "prov_push.h"
#include "prov_version.h"
#include "prov_web.h"

struct prov_http {
	struct http_srv *srv;
	struct prov_api *api;
	size_t limit;
	uint64_t replies[6];       /* by status class: [2] 2xx ... [5] 5xx */
};

/* GET /metrics: requests, the definitions' version, each daemon's push state. */
static void fill_metrics(void *arg, struct metrics_out *o)
{
	struct prov_http *h = arg;
	static const char *const classes[] = { "1xx", "1xx", "2xx", "3xx", "4xx", "5xx" };
	struct prov_error e;
	int64_t version = 0;
	json_t *targets = NULL, *t;
	size_t i;

	metrics_family(o, "loom_prov_requests_total", METRICS_COUNTER,
		       "HTTP requests answered, by status class.");
	for (unsigned c = 2; c < 6; c++)
		metrics_sample(o, "loom_prov_requests_total", "class", classes[c], NULL, NULL, NULL,
			       NULL, h->replies[c]);
	prov_version_current(h->api->model, &version, &e);
	metrics_family(o, "loom_prov_version", METRICS_GAUGE, "The newest definitions version.");
	metrics_sample(o, "loom_prov_version", NULL, NULL, NULL, NULL, NULL, NULL,
		       (uint64_t)(version > 0 ? version : 0));
	if (prov_push_list(h->api->model, &targets, &e) != 0)
		return;
	metrics_family(o, "loom_prov_target_acked_version", METRICS_GAUGE,
		       "The version each daemon acknowledged last.");
	json_array_foreach(targets, i, t)
		metrics_sample(o, "loom_prov_target_acked_version", "target",
			       json_string_value(json_object_get(t, "target")), "kind",
			       json_string_value(json_object_get(t, "kind")), NULL, NULL,
			       (uint64_t)json_integer_value(json_object_get(t, "acked")));
	metrics_family(o, "loom_prov_target_in_step", METRICS_GAUGE,
		       "1 if the daemon runs the newest version.");
	json_array_foreach(targets, i, t)
		metrics_sample(o, "loom_prov_target_in_step", "target",
			       json_string_value(json_object_get(t, "target")), NULL, NULL, NULL,
			       NULL, json_is_true(json_object_get(t, "in_step")));
	json_decref(targets);
}

/* One line per request at info; the path is the client's, percent-decoded:
 * no control characters in our log. */
static void log_request(const struct http_request *q, unsigned status)
{
	char safe[128];
	size_t i;

	if (!log_enabled(LOG_LVL_INFO))
		return;
	for (i = 0; q->url[i] && i < sizeof(safe) - 1; i++)
		safe[i] = (unsigned char)q->url[i] < 0x20 || q->url[i] == 0x7f ? '?' : q->url[i];
	safe[i] = '\0';
	log_info("%.16s %s: %u", q->method, safe, status);
}

static void on_request(void *arg, const struct http_request *q, struct http_reply *out)
{
	struct prov_http *h = arg;
	struct prov_reply r = { 0 };

	if (!strcmp(q->url, "/metrics")) {
		metrics_reply(q, out, fill_metrics, h);
		return;
	}
	if (strncmp(q->url, "/api/", 5)) {
		prov_web_serve(q, out);
		log_request(q, out->status);
		h->replies[out->status / 100 % 6]++;
		return;
	}
	if (q->too_large) {
		struct prov_error e;
		prov_fail(&e, PROV_E_TOO_LARGE, NULL, "the request body is larger than %zu bytes",
			  h->limit);
		prov_api_error(&r, &e);
	} else {
		prov_api_handle(h->api, q->method, q->url, http_header(q, "Authorization"), q->body,
				q->body_len, &r);
		if (strcmp(q->method, "GET") && r.status < 300 && h->api->changed)
			h->api->changed(h->api->changed_arg);
	}
	out->status = r.status;
	out->body = r.body; /* the server frees it */
	out->body_len = r.body ? strlen(r.body) : 0;
	out->content_type = r.body ? "application/json" : NULL;
	if (r.allow)
		http_reply_header(out, "Allow", r.allow);
	if (r.status == 401)
		http_reply_header(out, "WWW-Authenticate", "Bearer");
	log_request(q, out->status);
	h->replies[out->status / 100 % 6]++;
}

int prov_http_start(struct ev_loop *loop, const struct prov_config *cfg, struct prov_api *api,
		    struct prov_http **out)
{
	struct http_config hc = { .port = cfg->port, .body_limit = cfg->request_limit,
				  .max_connections = (unsigned)cfg->max_connections,
				  .timeout_s = 30 };
	struct prov_http *h = calloc(1, sizeof(*h));
	bool v4 = key_addr_is_v4(cfg->listen_address);
	char addr[64];
	int r;

	if (!h)
		return log_errno(-ENOMEM, "starting the API");
	memcpy(hc.addr, cfg->listen_address, 16);
	key_addr_format(cfg->listen_address, addr, sizeof(addr));
	h->api = api;
	h->limit = cfg->request_limit;
	if ((r = http_srv_open(loop, &hc, on_request, h, &h->srv)) < 0) {
		free(h);
		return log_errno(r, "cannot listen on %s port %u", addr, cfg->port);
	}
	log_notice("API on http://%s%s%s:%u/api/v1/", v4 ? "" : "[", addr, v4 ? "" : "]",
		   cfg->port);
	*out = h;
	return 0;
}

void prov_http_stop(struct prov_http *h)
{
	if (!h)
		return;
	http_srv_close(h->srv);
	free(h);
}
