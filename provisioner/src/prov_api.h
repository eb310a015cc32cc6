/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The REST API's request handling, apart from HTTP transport (prov_http.c)
 * so tests and the fuzz target can drive it directly: a method, a path, the
 * Authorization header and the body in; a status, a JSON body and the
 * headers that go with it out. Routes and their order of checks (404 path,
 * 405 method, 401 token, 403 role, 400 body, then the model) are in
 * docs/api.md. Same thread contract as prov_model.h.
 */
#ifndef LOOM_PROV_API_H
#define LOOM_PROV_API_H

#include <stddef.h>
#include <stdint.h>

#include "prov_model.h"
#include "prov_trial.h"

struct prov_stats_cfg;

struct prov_api {
	struct prov_model *model;
	uint64_t token_lifetime_ms;
	/* the local tables GET /statistics reads (prov_stats.h) */
	const struct prov_stats_cfg *stats;
	unsigned n_stats;
	/* after a request that may have committed a change (the push) */
	void (*changed)(void *arg);
	void *changed_arg;
	/* how a trial reaches the engines (prov_trial.h); start NULL: none */
	struct prov_trial_runner trials;
};

struct prov_reply {
	unsigned status;
	char *body;        /* JSON text (malloc'd), NULL for 204 */
	const char *allow; /* the Allow header of a 405 */
};

void prov_api_handle(struct prov_api *api, const char *method, const char *path,
		     const char *authorization, const char *body, size_t len,
		     struct prov_reply *out);

/* The reply for an error the transport found itself (413). */
void prov_api_error(struct prov_reply *out, const struct prov_error *e);

void prov_reply_free(struct prov_reply *r);

#endif
