/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Trials, replicas and cut-over (feature C10, docs/provisioner.md
 * "Replicas, trials and cut-over").
 *
 * A trial validates a service by a TCP handshake through every device of
 * its chain: each engine that runs the service's definitions sends a SYN
 * from its own address through the chain and traces it back (prov-trial,
 * docs/pkt-engine.md "Trials"). The provisioner records every trial in the
 * table `trials` (migration 5, not part of the definitions): the service,
 * the port, the definitions version it ran against, the chain it tried
 * (package, devices, order, ports), its state (running, passed, failed) and
 * the engines' reports. The record outlives a rollback and the service.
 *
 * A replica is a copy of a service under a new name and address, with its
 * ACLs, made in one version; it can be changed (a new device) and tried
 * without touching the original. A flash cut-over gives the original the
 * replica's package, devices and order in one version, so the original's
 * traffic takes the new chain at once; it needs a passed trial of the
 * replica's chain as it is now (a provider-admin may force it). A rollback
 * to the version before the cut-over undoes it.
 *
 * Same thread contract as prov_model.h. The engines are reached through a
 * runner (prov_chan.c in the daemon; none in unit tests and the fuzz
 * target, where a trial fails at once for want of an engine).
 */
#ifndef LOOM_PROV_TRIAL_H
#define LOOM_PROV_TRIAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "prov_model.h"

/*
 * Hand trial id (service `name` in the engines' definitions, TCP port,
 * definitions version it needs) to the engines. 0, or -errno when no
 * engine can take it (the trial then fails with `why`).
 */
struct prov_trial_runner {
	int (*start)(void *arg, int64_t id, const char *name, uint16_t port, int64_t version,
		     char *why, size_t whylen);
	void *arg;
};

/*
 * POST /services/{id}/trials: body {} or {"port": N} (one of the service's
 * TCP ports; default its first). Records the trial as running and hands it
 * to run (NULL: none). *out is the trial as GET shows it.
 */
int prov_trial_start(struct prov_model *m, const struct prov_actor *who, int64_t service,
		     json_t *body, const struct prov_trial_runner *run, json_t **out,
		     struct prov_error *e);

/* GET /trials/{id} and /trials: what who may see (a customer: its services'). */
int prov_trial_get(struct prov_model *m, const struct prov_actor *who, int64_t id,
		   json_t **out, struct prov_error *e);
int prov_trial_list(struct prov_model *m, const struct prov_actor *who, json_t **out,
		    struct prov_error *e);

/* The runner's end of trial id: passed or not, the report (borrowed). */
int prov_trial_finish(struct prov_model *m, int64_t id, bool passed, const json_t *report,
		      struct prov_error *e);

/* At start: trials left running by a previous process failed with it. */
int prov_trial_recover(struct prov_model *m, struct prov_error *e);

/*
 * POST /services/{id}/replicate: body {"name", "address"} and optionally
 * "pool". The new service with the original's ACLs; *out is the service.
 */
int prov_service_replicate(struct prov_model *m, const struct prov_actor *who, int64_t id,
			   json_t *body, json_t **out, struct prov_error *e);

/*
 * POST /services/{id}/cutover: body {"from": replica id} and optionally
 * "force": true (provider-admin only). *out is the service after it.
 */
int prov_service_cutover(struct prov_model *m, const struct prov_actor *who, int64_t id,
			 json_t *body, json_t **out, struct prov_error *e);

#endif
