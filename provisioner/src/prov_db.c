// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <stdio.h>

#include "common/compiler.h"
#include "prov_db.h"

/*
 * Migrations, numbered by their index + 1; never edit one that has shipped,
 * add the next. Child tables (a parent's lists) are (parent_id, position,
 * ...) and go with their parent; everything else is kept by foreign keys
 * that refuse to delete what is still used.
 */
/* 1: the model, users and versions */
static const char *const m1[] = {
	"CREATE TABLE interfaces(id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  name TEXT NOT NULL UNIQUE, description TEXT);",
	"CREATE TABLE segments(id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  name TEXT NOT NULL UNIQUE, interface INTEGER NOT NULL REFERENCES interfaces(id),"
	"  prefix TEXT NOT NULL, vlan INTEGER NOT NULL);",
	"CREATE INDEX segments_interface ON segments(interface);",
	"CREATE TABLE ip_pools(id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  name TEXT NOT NULL UNIQUE, interface INTEGER REFERENCES interfaces(id),"
	"  prefix TEXT NOT NULL);",
	"CREATE TABLE device_pools(id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  name TEXT NOT NULL UNIQUE, function TEXT NOT NULL, brand TEXT NOT NULL);",
	"CREATE TABLE devices(id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  name TEXT NOT NULL UNIQUE, pool INTEGER NOT NULL REFERENCES device_pools(id),"
	"  segment INTEGER REFERENCES segments(id), mac TEXT NOT NULL UNIQUE,"
	"  address TEXT NOT NULL UNIQUE, mode TEXT NOT NULL,"
	"  alternate INTEGER REFERENCES devices(id));",
	"CREATE INDEX devices_pool ON devices(pool);",
	"CREATE INDEX devices_alternate ON devices(alternate);",
	"CREATE TABLE packages(id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  name TEXT NOT NULL UNIQUE, description TEXT);",
	"CREATE TABLE package_functions("
	"  parent_id INTEGER NOT NULL REFERENCES packages(id) ON DELETE CASCADE,"
	"  position INTEGER NOT NULL, value TEXT NOT NULL, PRIMARY KEY(parent_id, position));",
	"CREATE TABLE customers(id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  name TEXT NOT NULL UNIQUE, description TEXT);",
	"CREATE TABLE services(id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  name TEXT NOT NULL UNIQUE, customer INTEGER NOT NULL REFERENCES customers(id),"
	"  package INTEGER NOT NULL REFERENCES packages(id),"
	"  pool INTEGER NOT NULL REFERENCES ip_pools(id), address TEXT NOT NULL);",
	"CREATE INDEX services_customer ON services(customer);",
	"CREATE TABLE service_devices("
	"  parent_id INTEGER NOT NULL REFERENCES services(id) ON DELETE CASCADE,"
	"  position INTEGER NOT NULL, value INTEGER NOT NULL REFERENCES devices(id),"
	"  PRIMARY KEY(parent_id, position));",
	"CREATE INDEX service_devices_device ON service_devices(value);",
	"CREATE TABLE service_order("
	"  parent_id INTEGER NOT NULL REFERENCES services(id) ON DELETE CASCADE,"
	"  position INTEGER NOT NULL, value INTEGER NOT NULL, PRIMARY KEY(parent_id, position));",
	"CREATE TABLE service_ports("
	"  parent_id INTEGER NOT NULL REFERENCES services(id) ON DELETE CASCADE,"
	"  position INTEGER NOT NULL, protocol TEXT NOT NULL, port INTEGER NOT NULL,"
	"  port_end INTEGER, PRIMARY KEY(parent_id, position));",
	"CREATE TABLE acls(id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  service INTEGER NOT NULL REFERENCES services(id) ON DELETE CASCADE,"
	"  interface INTEGER REFERENCES interfaces(id), position INTEGER NOT NULL,"
	"  action TEXT NOT NULL, protocol TEXT NOT NULL, source TEXT,"
	"  port INTEGER NOT NULL, port_end INTEGER);",
	"CREATE INDEX acls_service ON acls(service);",
	"CREATE TABLE virtual_services(id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  name TEXT NOT NULL UNIQUE, customer INTEGER REFERENCES customers(id),"
	"  address TEXT NOT NULL, protocol TEXT NOT NULL, port INTEGER NOT NULL,"
	"  algorithm TEXT NOT NULL, persistence_s INTEGER NOT NULL, health TEXT NOT NULL,"
	"  health_interval_ms INTEGER NOT NULL, health_timeout_ms INTEGER NOT NULL,"
	"  health_path TEXT);",
	"CREATE TABLE virtual_service_domains("
	"  parent_id INTEGER NOT NULL REFERENCES virtual_services(id) ON DELETE CASCADE,"
	"  position INTEGER NOT NULL, value TEXT NOT NULL, PRIMARY KEY(parent_id, position));",
	"CREATE TABLE virtual_service_backends("
	"  parent_id INTEGER NOT NULL REFERENCES virtual_services(id) ON DELETE CASCADE,"
	"  position INTEGER NOT NULL, address TEXT NOT NULL, port INTEGER NOT NULL,"
	"  weight INTEGER NOT NULL, PRIMARY KEY(parent_id, position));",
	"CREATE TABLE nat_pools(id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  name TEXT NOT NULL UNIQUE, prefix TEXT NOT NULL, port_min INTEGER NOT NULL,"
	"  port_max INTEGER NOT NULL);",
	"CREATE TABLE nat_pool_inside("
	"  parent_id INTEGER NOT NULL REFERENCES nat_pools(id) ON DELETE CASCADE,"
	"  position INTEGER NOT NULL, value TEXT NOT NULL, PRIMARY KEY(parent_id, position));",
	"CREATE TABLE users(id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  name TEXT NOT NULL UNIQUE, password_hash TEXT NOT NULL, role TEXT NOT NULL,"
	"  customer INTEGER REFERENCES customers(id));",
	"CREATE TABLE sessions(token_hash TEXT PRIMARY KEY,"
	"  user INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
	"  expires INTEGER NOT NULL);",
	"CREATE TABLE versions(version INTEGER PRIMARY KEY, created INTEGER NOT NULL,"
	"  author TEXT NOT NULL, change TEXT NOT NULL, document TEXT NOT NULL);",
	NULL,
};

/* 2: a new password ends the user's sessions (a stolen token dies with the old password) */
static const char *const m2[] = {
	"CREATE TRIGGER users_password_changed AFTER UPDATE OF password_hash ON users "
	"BEGIN DELETE FROM sessions WHERE user = NEW.id; END;",
	NULL,
};

/* 3: what each provisioned daemon acknowledged (the push survives a restart) */
static const char *const m3[] = {
	"CREATE TABLE push_state(target TEXT PRIMARY KEY, kind TEXT NOT NULL,"
	"  endpoint TEXT NOT NULL, acked INTEGER NOT NULL DEFAULT 0,"
	"  refused INTEGER NOT NULL DEFAULT 0, message TEXT NOT NULL DEFAULT '',"
	"  updated INTEGER NOT NULL);",
	NULL,
};

/* 4: a device's second arm (a router's, a firewall's other side) */
static const char *const m4[] = {
	"ALTER TABLE devices ADD COLUMN out_segment INTEGER REFERENCES segments(id);",
	"ALTER TABLE devices ADD COLUMN out_mac TEXT;",
	NULL,
};

/* 5: trials of services (prov_trial.h): not definitions but their record,
 * so no foreign key: a rollback re-imports the services (a cascade would
 * wipe the record) and a trial outlives a deleted service */
static const char *const m5[] = {
	"CREATE TABLE trials(id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  service INTEGER NOT NULL,"
	"  port INTEGER NOT NULL, version INTEGER NOT NULL, chain TEXT NOT NULL,"
	"  state TEXT NOT NULL, report TEXT NOT NULL DEFAULT '{}',"
	"  started INTEGER NOT NULL, finished INTEGER);",
	"CREATE INDEX trials_service ON trials(service);",
	NULL,
};

static const char *const *const migrations[] = { m1, m2, m3, m4, m5 };

unsigned prov_db_schema_version(void)
{
	return LOOM_ARRAY_SIZE(migrations);
}

int prov_db_fail(sqlite3 *db, struct prov_error *e, const char *what)
{
	return prov_fail(e, PROV_E_INTERNAL, NULL, "database: %s: %s", what, sqlite3_errmsg(db));
}

static int exec(sqlite3 *db, const char *sql, char *why, size_t whylen)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK)
		return 0;
	snprintf(why, whylen, "%s", msg ? msg : sqlite3_errmsg(db));
	sqlite3_free(msg);
	return -EIO;
}

static int migrate(sqlite3 *db, char *why, size_t whylen)
{
	int64_t have = 0;
	int r;

	if ((r = exec(db, "CREATE TABLE IF NOT EXISTS schema_version("
		      "version INTEGER PRIMARY KEY, applied INTEGER NOT NULL)", why, whylen)) < 0)
		return r;
	if (prov_db_int(db, "SELECT coalesce(max(version), 0) FROM schema_version", 0, 0, &have,
			NULL) < 0) {
		snprintf(why, whylen, "reading schema_version: %s", sqlite3_errmsg(db));
		return -EIO;
	}
	if (have > (int64_t)LOOM_ARRAY_SIZE(migrations)) {
		snprintf(why, whylen, "schema version %lld is newer than this binary's %zu",
			 (long long)have, LOOM_ARRAY_SIZE(migrations));
		return -EPROTO;
	}
	for (size_t i = (size_t)have; i < LOOM_ARRAY_SIZE(migrations); i++) {
		char record[128];

		/* one transaction per migration: a failed one leaves the last good schema */
		snprintf(record, sizeof(record), "INSERT INTO schema_version VALUES(%zu, "
			 "strftime('%%s','now'))", i + 1);
		if ((r = exec(db, "BEGIN IMMEDIATE", why, whylen)) < 0)
			return r;
		for (const char *const *sql = migrations[i]; r == 0 && *sql; sql++)
			r = exec(db, *sql, why, whylen);
		if (r < 0 || (r = exec(db, record, why, whylen)) < 0 ||
		    (r = exec(db, "COMMIT", why, whylen)) < 0) {
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
			return r;
		}
	}
	return 0;
}

int prov_db_open(const char *path, sqlite3 **out, char *why, size_t whylen)
{
	sqlite3 *db = NULL;
	int r;

	*out = NULL;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
			    SQLITE_OPEN_FULLMUTEX, NULL) != SQLITE_OK) {
		snprintf(why, whylen, "%s", db ? sqlite3_errmsg(db) : "out of memory");
		sqlite3_close(db);
		return -EIO;
	}
	sqlite3_busy_timeout(db, 2000);
	/* WAL: readers in other processes never block the daemon's writes;
	 * NORMAL sync is durable across a process crash, which is what
	 * "restart keeps every committed change" needs. */
	if ((r = exec(db, "PRAGMA foreign_keys = ON", why, whylen)) < 0 ||
	    (r = exec(db, "PRAGMA journal_mode = WAL", why, whylen)) < 0 ||
	    (r = exec(db, "PRAGMA synchronous = NORMAL", why, whylen)) < 0 ||
	    (r = migrate(db, why, whylen)) < 0) {
		sqlite3_close(db);
		return r;
	}
	*out = db;
	return 0;
}

int prov_db_begin(sqlite3 *db, struct prov_error *e)
{
	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return prov_db_fail(db, e, "begin");
	return 0;
}

int prov_db_commit(sqlite3 *db, struct prov_error *e)
{
	if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		int r = prov_db_fail(db, e, "commit");
		prov_db_rollback(db);
		return r;
	}
	return 0;
}

void prov_db_rollback(sqlite3 *db)
{
	if (!sqlite3_get_autocommit(db))
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
}

/* The first column of st's first row; st is finalized. */
static int first_int(sqlite3 *db, sqlite3_stmt *st, int64_t *out, struct prov_error *e)
{
	int r = sqlite3_step(st);

	if (r == SQLITE_ROW) {
		if (out)
			*out = sqlite3_column_int64(st, 0);
		r = 1;
	} else if (r == SQLITE_DONE) {
		r = 0;
	} else {
		r = prov_db_fail(db, e, "query");
	}
	sqlite3_finalize(st);
	return r;
}

int prov_db_int(sqlite3 *db, const char *sql, int64_t a, int64_t b, int64_t *out,
		struct prov_error *e)
{
	sqlite3_stmt *st;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return prov_db_fail(db, e, "prepare");
	if (sqlite3_bind_parameter_count(st) >= 1)
		sqlite3_bind_int64(st, 1, a);
	if (sqlite3_bind_parameter_count(st) >= 2)
		sqlite3_bind_int64(st, 2, b);
	return first_int(db, st, out, e);
}

int prov_db_int_text(sqlite3 *db, const char *sql, const char *a, int64_t b, int64_t *out,
		     struct prov_error *e)
{
	sqlite3_stmt *st;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return prov_db_fail(db, e, "prepare");
	if (sqlite3_bind_parameter_count(st) >= 1)
		sqlite3_bind_text(st, 1, a, -1, SQLITE_TRANSIENT);
	if (sqlite3_bind_parameter_count(st) >= 2)
		sqlite3_bind_int64(st, 2, b);
	return first_int(db, st, out, e);
}
