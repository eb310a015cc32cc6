/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The provisioner's SQLite database: opening it (foreign keys on, WAL),
 * the numbered migrations, and the few statement helpers the model uses.
 *
 * Threading: one connection, used only by the daemon's control thread (the
 * event loop that also runs libmicrohttpd), so every statement and every
 * transaction is serialized by construction; SQLite's own mutexes stay on
 * as a second line of defence. WAL lets other processes (a backup, a
 * read-only inspection) read while the daemon writes.
 */
#ifndef LOOM_PROV_DB_H
#define LOOM_PROV_DB_H

#include <sqlite3.h>
#include <stdint.h>

#include "prov_error.h"

/*
 * Open (creating if need be) the database at path (":memory:" for tests),
 * switch foreign keys on and WAL on, and apply the migrations it lacks,
 * each in its own transaction with its number recorded in schema_version.
 * A database newer than this binary (a version it does not know) is
 * refused: -EPROTO. Returns 0 or a negative errno; why says what failed.
 */
int prov_db_open(const char *path, sqlite3 **out, char *why, size_t whylen);
/* The schema version a freshly migrated database has. */
unsigned prov_db_schema_version(void);

/* BEGIN IMMEDIATE / COMMIT / ROLLBACK: 0 or -PROV_E_INTERNAL (e filled). */
int prov_db_begin(sqlite3 *db, struct prov_error *e);
int prov_db_commit(sqlite3 *db, struct prov_error *e);
void prov_db_rollback(sqlite3 *db);

/*
 * Run sql with ?1 bound to a (and ?2 to b when the statement has it) and
 * read the first column of the first row: 1 found (*out set), 0 no row, or
 * -PROV_E_INTERNAL. out may be NULL to test existence.
 */
int prov_db_int(sqlite3 *db, const char *sql, int64_t a, int64_t b, int64_t *out,
		struct prov_error *e);
/* The same with ?1 a text (NULL binds NULL). */
int prov_db_int_text(sqlite3 *db, const char *sql, const char *a, int64_t b, int64_t *out,
		     struct prov_error *e);

/* A statement that failed: -PROV_E_INTERNAL with SQLite's message. */
int prov_db_fail(sqlite3 *db, struct prov_error *e, const char *what);

#endif
