/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The provisioner's model (ARCHITECTURE.md section 7).
 *
 * Design. Every resource of the API (interfaces, segments, service IP
 * pools, device pools, devices, service packages, customers, services,
 * ACLs, virtual services, NAT pools, users) is described once, as a table of
 * fields (prov_schema.c): name, type, whether required, range, enum names,
 * what it refers to, and for a list the child table that holds it. One
 * generic path does every change from those tables:
 *
 *   1. shape: the body is an object of known fields with the right JSON
 *      types and valid values; it is normalised (canonical addresses and
 *      MACs, defaults filled in) - nothing is read from the database yet;
 *   2. references: each id the body names exists;
 *   3. rules: the resource's check function looks at the database (inside
 *      the same transaction) for what spans objects: a device of the wrong
 *      function for its package step, an address outside its pool,
 *      overlapping client domains, a service IP and port already taken;
 *   4. store: the row and its child rows, then the new version of the whole
 *      set of definitions (prov_version.c), then COMMIT.
 * Any failure rolls the transaction back: nothing of a refused change is
 * stored, and the error names the field and the reason.
 *
 * Ids are assigned by the database and never reused (AUTOINCREMENT), and
 * kept across a rollback to an earlier version, so a client's references stay
 * valid.
 *
 * Contract: a struct prov_model and its connection belong to one thread
 * (the daemon's control thread); none of these functions may be called
 * concurrently on one model. They never log above debug.
 */
#ifndef LOOM_PROV_MODEL_H
#define LOOM_PROV_MODEL_H

#include <jansson.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "prov_error.h"

struct prov_model {
	sqlite3 *db;
};

enum prov_role {
	PROV_ROLE_PROVIDER, /* "provider-admin": everything */
	PROV_ROLE_CUSTOMER, /* "customer-admin": its customer's services, ACLs, virtual services */
};

/* Who asks. NULL where an actor is taken means the daemon itself. */
struct prov_actor {
	int64_t user;
	enum prov_role role;
	int64_t customer; /* PROV_ROLE_CUSTOMER only */
	char name[64];
};

enum prov_ftype {
	PF_NAME,   /* 1-63 of [A-Za-z0-9._-], starting with a letter or digit */
	PF_TEXT,   /* free text, at most max bytes (255 when max is 0) */
	PF_INT,    /* integer in [min, max] */
	PF_ENUM,   /* one of names */
	PF_MAC,    /* a unicast MAC address */
	PF_ADDR,   /* an IPv4 or IPv6 address */
	PF_PREFIX, /* address/length with the host bits zero */
	PF_REF,    /* the id of an existing object of resource ref */
	PF_SECRET, /* a password: stored as its argon2id hash, never shown */
	PF_LIST,   /* an array kept in a child table, see struct prov_list */
};

struct prov_list;

struct prov_field {
	const char *name;     /* JSON key and column */
	enum prov_ftype type;
	bool required;
	const char *def;      /* default of an optional field, as text; NULL: null */
	int64_t min, max;     /* PF_INT range; PF_TEXT max length; PF_LIST count */
	const char *const *names;      /* PF_ENUM, NULL-terminated */
	const char *ref;               /* PF_REF: the table it refers to */
	bool owned_by;                 /* PF_REF: goes when what it refers to goes
					* (ON DELETE CASCADE in the schema) */
	const struct prov_list *list;  /* PF_LIST */
};

/*
 * A list kept as rows (parent_id, position, ...) of table. One field:
 * the list is of scalars and the column is "value"; several: a list of
 * objects with one column each.
 */
struct prov_list {
	const char *table;
	const struct prov_field *fields;
	size_t n_fields;
};

struct prov_model;
/*
 * Rules that span objects (step 3 above). obj is the normalised body; id
 * the object's own id (0 when it is being created), to leave itself out of
 * comparisons with the others. Return 0 or prov_fail(...).
 */
typedef int prov_check_fn(struct prov_model *m, int64_t id, const json_t *obj,
			  struct prov_error *e);

struct prov_resource {
	const char *url;      /* "ip-pools": /api/v1/ip-pools */
	const char *table;    /* "ip_pools": SQL table and document key */
	const char *one;      /* "service IP pool", for messages */
	const struct prov_field *fields;
	size_t n_fields;
	prov_check_fn *check;
	bool versioned;       /* part of the definitions (users are not) */
	/*
	 * Tables whose every object is checked again after a change to this
	 * one, because their rules read it (a service's devices must match its
	 * package's functions: changing a package or a device can break it).
	 */
	const char *recheck[2];
	/*
	 * Customer admins may use it: the customer an object belongs to is
	 * owner_field (a customer id), or, with owner_sql, what owner_sql
	 * gives for that field's value (?1). NULL: provider admins only.
	 */
	const char *owner_field;
	const char *owner_sql;
};

/* Every resource, in dependency order (what is referred to first). */
extern const struct prov_resource *const prov_resources[];
extern const size_t prov_n_resources;
const struct prov_resource *prov_resource_by_url(const char *url);
const struct prov_resource *prov_resource_by_table(const char *table);

extern const char *const prov_role_names[]; /* by enum prov_role, NULL-terminated */

/* Model operations: 0 or -reason with e filled; *out is a new reference. */
int prov_obj_list(struct prov_model *m, const struct prov_resource *r,
		  const struct prov_actor *who, json_t **out, struct prov_error *e);
int prov_obj_get(struct prov_model *m, const struct prov_resource *r,
		 const struct prov_actor *who, int64_t id, json_t **out, struct prov_error *e);
int prov_obj_create(struct prov_model *m, const struct prov_resource *r,
		    const struct prov_actor *who, json_t *body, json_t **out,
		    struct prov_error *e);
/* PUT replaces every field; merge (PATCH) keeps the fields the body omits. */
int prov_obj_replace(struct prov_model *m, const struct prov_resource *r,
		     const struct prov_actor *who, int64_t id, json_t *body, bool merge,
		     json_t **out, struct prov_error *e);
int prov_obj_delete(struct prov_model *m, const struct prov_resource *r,
		    const struct prov_actor *who, int64_t id, struct prov_error *e);

/*
 * Several changes committed as one version (a replica with its ACLs, a
 * cut-over): prov_change_begin(), any number of prov_change_put(), then
 * prov_change_commit() or, after any failure, prov_change_abort().
 *
 * prov_change_put shapes body (a creation when *id is 0; *id is set then),
 * checks it as prov_obj_create/replace would for who and stores it.
 * prov_change_commit checks again what depends on each resource in rs,
 * records one version described by `change` and commits.
 */
int prov_change_begin(struct prov_model *m, struct prov_error *e);
int prov_change_put(struct prov_model *m, const struct prov_resource *r,
		    const struct prov_actor *who, int64_t *id, json_t *body,
		    struct prov_error *e);
int prov_change_commit(struct prov_model *m, const struct prov_actor *who,
		       const struct prov_resource *const *rs, size_t n, const char *change,
		       struct prov_error *e);
void prov_change_abort(struct prov_model *m);

/*
 * The whole set of definitions (every versioned resource, every object
 * with its id) as one document: {"resources": {"interfaces": [...], ...}}.
 * Call inside or outside a transaction.
 */
int prov_model_export(struct prov_model *m, json_t **doc, struct prov_error *e);
/*
 * Replace every definition by those of doc, validating each object as a
 * change would (shape, references, rules) and keeping its id. Call inside a
 * transaction (the caller commits or rolls back); users stay as they are,
 * but a customer that still has users cannot disappear. doc is hostile.
 */
int prov_model_import(struct prov_model *m, json_t *doc, struct prov_error *e);

#endif
