/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Versions of the definitions.
 *
 * Every committed change to a versioned resource makes a new version number
 * of the whole set of definitions, and the version keeps the document of
 * the whole set (prov_model_export()), so any version can be read back, and
 * rendered for a daemon, without replaying history. A rollback imports an
 * old version's document (validated like any change) and commits it as a
 * new version, so history only grows and the engines only ever see
 * versions go up. Version 1 is the empty set a new database starts with.
 * Same thread contract as prov_model.h.
 */
#ifndef LOOM_PROV_VERSION_H
#define LOOM_PROV_VERSION_H

#include <jansson.h>
#include <stdint.h>

#include "prov_model.h"

/*
 * Open the model's database (prov_db_open) and make sure version 1 exists.
 * 0 or a negative errno, why filled.
 */
int prov_model_open(struct prov_model *m, const char *path, char *why, size_t whylen);
void prov_model_close(struct prov_model *m);

/*
 * Inside the change's transaction: record the current definitions as the
 * next version, made by who (NULL: the daemon) for `change` ("create
 * device 4"). *version may be NULL.
 */
int prov_version_commit(struct prov_model *m, const struct prov_actor *who, const char *change,
			int64_t *version, struct prov_error *e);

int prov_version_current(struct prov_model *m, int64_t *version, struct prov_error *e);
/* [{version, created, author, change}], newest first. */
int prov_version_list(struct prov_model *m, json_t **out, struct prov_error *e);
/* {version, created, author, change, document}; -PROV_E_NOT_FOUND if none. */
int prov_version_get(struct prov_model *m, int64_t version, json_t **out, struct prov_error *e);
/*
 * Make a new version equal to `version`: its definitions replace the
 * current ones (ids kept). *out is the new version's record (without the
 * document). Refused with nothing changed if the old definitions no longer
 * fit (a customer that has users now, for instance).
 */
int prov_version_rollback(struct prov_model *m, const struct prov_actor *who, int64_t version,
			  json_t **out, struct prov_error *e);

/* The daemons the definitions are rendered for. */
enum prov_target {
	PROV_TARGET_PKT_ENGINE, /* "pkt-engine": interfaces, segments, chains, ACLs */
	PROV_TARGET_SVC_MGR,    /* "svc-mgr": virtual services, NAT pools */
};
int prov_target_parse(const char *s, enum prov_target *t);
const char *prov_target_name(enum prov_target t);

/*
 * The definitions daemon t needs, from a version's document (as stored):
 * what the provisioner pushes to it. Pure: reads only doc, which is trusted
 * (it was validated when it was stored). *out is a new reference.
 */
int prov_render(const json_t *doc, int64_t version, enum prov_target t, json_t **out,
		struct prov_error *e);
/* prov_render() of a stored version. */
int prov_render_version(struct prov_model *m, int64_t version, enum prov_target t,
			json_t **out, struct prov_error *e);

/*
 * What is pushed to daemon t at `version`: prov_render_version() without
 * the target and version (they travel in the message), as compact JSON
 * text (malloc'd, *len bytes) that the daemon's configuration schema reads.
 */
int prov_render_document(struct prov_model *m, int64_t version, enum prov_target t,
			 char **text, size_t *len, struct prov_error *e);

#endif
