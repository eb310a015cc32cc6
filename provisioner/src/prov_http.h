/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * HTTP transport of the REST API: libmicrohttpd driven by the daemon's one
 * event loop.
 *
 * Threading: libmicrohttpd runs in its "external" mode with epoll: it has
 * no thread of its own; its epoll descriptor is a reader on our loop and
 * its timeout a timer, and MHD_run() is called from the loop. So every
 * request is handled on the control thread, one at a time, and the model's
 * SQLite connection needs no lock of ours; the ZeroMQ pushes of the next
 * step will run on the same loop without any handoff. The cost: a request
 * blocks the loop while it runs. Requests are short (a transaction on a
 * small database), except a login, whose argon2id hash takes some tens of
 * milliseconds by design; a thread pool would only move that cost into
 * SQLite locking.
 */
#ifndef LOOM_PROV_HTTP_H
#define LOOM_PROV_HTTP_H

#include "common/ev.h"
#include "prov_api.h"
#include "prov_config.h"

struct prov_http;

/*
 * Bind the configured address and port and serve api from loop. Returns 0
 * or a negative errno (logged). Call from the loop's thread.
 */
int prov_http_start(struct ev_loop *loop, const struct prov_config *cfg, struct prov_api *api,
		    struct prov_http **out);
/* Close the listening socket and every connection; NULL is fine. */
void prov_http_stop(struct prov_http *h);

#endif
