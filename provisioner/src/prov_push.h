/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What each provisioned daemon acknowledged, in the database (table
 * push_state, migration 3), so that a provisioner restarted in the middle
 * of a push knows what is still owed: a target whose acked version is
 * below the newest is pushed again (prov_chan.c does the pushing, through
 * common/provchan). The state is not versioned and not part of the
 * definitions; GET /api/v1/push shows it. Same thread contract as
 * prov_model.h.
 */
#ifndef LOOM_PROV_PUSH_H
#define LOOM_PROV_PUSH_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "prov_model.h"

/* The version target was last known to run; 0 if none recorded. */
int prov_push_acked(struct prov_model *m, const char *target, int64_t *acked,
		    struct prov_error *e);

/*
 * Record an answer of target (of kind, at endpoint): it runs applied; a
 * refused version (0: none) with its reason. Committed at once.
 */
int prov_push_record(struct prov_model *m, const char *target, const char *kind,
		     const char *endpoint, int64_t applied, int64_t refused, const char *message,
		     struct prov_error *e);

/*
 * [{target, kind, endpoint, acked, refused, message, updated, in_step}] by
 * target name; in_step: acked is the current version.
 */
int prov_push_list(struct prov_model *m, json_t **out, struct prov_error *e);

#endif
