/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A Prometheus metrics endpoint for a daemon: GET /metrics on the daemon's
 * event loop (common/http.h) answers the text exposition format (version
 * 0.0.4), filled by the daemon's callback at each scrape from its own
 * counters: nothing is kept between scrapes.
 *
 *   # HELP loom_fwd_packets_total Packets by what happened to them.
 *   # TYPE loom_fwd_packets_total counter
 *   loom_fwd_packets_total{event="rx"} 1027
 *
 * Names are the daemon's: loom_<daemon>_<what>[_total]. Label values are
 * escaped here (backslash, double quote, newline), so any text may be one.
 */
#ifndef LOOM_COMMON_METRICS_H
#define LOOM_COMMON_METRICS_H

#include <stdint.h>

struct ev_loop;
struct metrics;
struct metrics_out;

enum metrics_type { METRICS_COUNTER, METRICS_GAUGE };

/* Start a family: its HELP and TYPE lines. */
void metrics_family(struct metrics_out *o, const char *name, enum metrics_type type,
		    const char *help);
/*
 * One sample of the family just started: name, then up to three label
 * pairs (key, value; key NULL ends them early), then the value.
 */
void metrics_sample(struct metrics_out *o, const char *name, const char *k1, const char *v1,
		    const char *k2, const char *v2, const char *k3, const char *v3, uint64_t value);
/* The same for a value that is not a whole number (seconds, ratios). */
void metrics_sample_f(struct metrics_out *o, const char *name, const char *k1, const char *v1,
		      double value);

/* Called at each scrape, on the loop's thread. */
typedef void metrics_fill_fn(void *arg, struct metrics_out *o);

/*
 * Serve GET /metrics on listen ("127.0.0.1:9101", "[::1]:9101", ":9101").
 * 0, -EINVAL for a listen string it cannot read, -EADDRNOTAVAIL, -errno.
 */
int metrics_open(struct ev_loop *loop, const char *listen, metrics_fill_fn *fill, void *arg,
		 struct metrics **out);
void metrics_close(struct metrics *m);
/* The port bound (for tests that ask for port 0). */
uint16_t metrics_port(const struct metrics *m);

/* For a daemon that serves HTTP already (the provisioner): answer q, a
 * request for /metrics, on that server (GET/HEAD, else 405). */
struct http_request;
struct http_reply;
void metrics_reply(const struct http_request *q, struct http_reply *r, metrics_fill_fn *fill,
		   void *arg);

#endif
