// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "prov_auth.h"
#include "prov_db.h"

_Static_assert(PROV_HASH_LEN == crypto_pwhash_STRBYTES, "argon2id string length");

/* Compared against when the user does not exist, so both cases cost one hash. */
static char dummy_hash[PROV_HASH_LEN];

int prov_auth_init(void)
{
	if (sodium_init() < 0)
		return -EIO;
	if (!dummy_hash[0] && prov_password_hash("not a password of anyone", dummy_hash) < 0)
		return -ENOMEM;
	return 0;
}

int prov_password_hash(const char *pw, char out[PROV_HASH_LEN])
{
	if (crypto_pwhash_str(out, pw, strlen(pw), crypto_pwhash_OPSLIMIT_INTERACTIVE,
			      crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
		return -ENOMEM;
	return 0;
}

static void token_key(const char *token, char hex[65])
{
	unsigned char h[32];

	crypto_generichash(h, sizeof(h), (const unsigned char *)token, strlen(token), NULL, 0);
	sodium_bin2hex(hex, 65, h, sizeof(h));
}

static int actor_of(struct prov_model *m, const char *sql, const char *key,
		    struct prov_actor *who, char hash[PROV_HASH_LEN], struct prov_error *e)
{
	sqlite3_stmt *st;
	int s;

	if (sqlite3_prepare_v2(m->db, sql, -1, &st, NULL) != SQLITE_OK)
		return prov_db_fail(m->db, e, "prepare");
	sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, (int64_t)time(NULL));
	s = sqlite3_step(st);
	if (s == SQLITE_ROW) {
		memset(who, 0, sizeof(*who));
		who->user = sqlite3_column_int64(st, 0);
		snprintf(who->name, sizeof(who->name), "%s", sqlite3_column_text(st, 1));
		who->role = strcmp((const char *)sqlite3_column_text(st, 2),
				   prov_role_names[PROV_ROLE_CUSTOMER]) ? PROV_ROLE_PROVIDER
									: PROV_ROLE_CUSTOMER;
		who->customer = sqlite3_column_int64(st, 3);
		if (hash)
			snprintf(hash, PROV_HASH_LEN, "%s", sqlite3_column_text(st, 4));
	}
	sqlite3_finalize(st);
	if (s == SQLITE_ROW)
		return 1;
	return s == SQLITE_DONE ? 0 : prov_db_fail(m->db, e, "user");
}

int prov_login(struct prov_model *m, const char *user, const char *password,
	       uint64_t lifetime_ms, char token[PROV_TOKEN_LEN + 1], int64_t *expires,
	       struct prov_actor *who, struct prov_error *e)
{
	char hash[PROV_HASH_LEN] = "", key[65];
	unsigned char raw[PROV_TOKEN_LEN / 2];
	sqlite3_stmt *st;
	int r;

	r = actor_of(m, "SELECT id, name, role, coalesce(customer, 0), password_hash FROM users "
		     "WHERE name = ?1 AND ?2 = ?2", user, who, hash, e);
	if (r < 0)
		return r;
	if (crypto_pwhash_str_verify(r ? hash : dummy_hash, password, strlen(password)) != 0 || !r)
		return prov_fail(e, PROV_E_UNAUTHORIZED, NULL, "wrong user or password");
	randombytes_buf(raw, sizeof(raw));
	sodium_bin2hex(token, PROV_TOKEN_LEN + 1, raw, sizeof(raw));
	token_key(token, key);
	*expires = (int64_t)time(NULL) + (int64_t)(lifetime_ms / 1000);
	/* expired sessions go when someone logs in: no timer needed */
	sqlite3_exec(m->db, "DELETE FROM sessions WHERE expires <= strftime('%s', 'now')", NULL,
		     NULL, NULL);
	if (sqlite3_prepare_v2(m->db, "INSERT INTO sessions(token_hash, user, expires) "
			       "VALUES(?1, ?2, ?3)", -1, &st, NULL) != SQLITE_OK)
		return prov_db_fail(m->db, e, "prepare");
	sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, who->user);
	sqlite3_bind_int64(st, 3, *expires);
	r = sqlite3_step(st) == SQLITE_DONE ? 0 : prov_db_fail(m->db, e, "session");
	sqlite3_finalize(st);
	sodium_memzero(raw, sizeof(raw));
	return r;
}

int prov_authenticate(struct prov_model *m, const char *token, struct prov_actor *who,
		      struct prov_error *e)
{
	char key[65];
	int r;

	if (!token || strlen(token) != PROV_TOKEN_LEN)
		return prov_fail(e, PROV_E_UNAUTHORIZED, NULL, "a bearer token is needed "
				 "(POST /api/v1/login)");
	token_key(token, key);
	r = actor_of(m, "SELECT u.id, u.name, u.role, coalesce(u.customer, 0) FROM sessions s "
		     "JOIN users u ON u.id = s.user WHERE s.token_hash = ?1 AND s.expires > ?2",
		     key, who, NULL, e);
	if (r < 0)
		return r;
	return r ? 0 : prov_fail(e, PROV_E_UNAUTHORIZED, NULL, "unknown or expired token");
}

int prov_bootstrap_admin(struct prov_model *m, const char *user, const char *password,
			 struct prov_error *e)
{
	const struct prov_resource *users = prov_resource_by_table("users");
	json_t *body, *out = NULL;
	sqlite3_stmt *st;
	int r;

	if (sqlite3_prepare_v2(m->db, "SELECT 1 FROM users WHERE name = ?1", -1, &st, NULL) !=
	    SQLITE_OK)
		return prov_db_fail(m->db, e, "prepare");
	sqlite3_bind_text(st, 1, user, -1, SQLITE_TRANSIENT);
	r = sqlite3_step(st);
	sqlite3_finalize(st);
	if (r == SQLITE_ROW)
		return 0;
	body = json_pack("{s:s, s:s, s:s}", "name", user, "password", password, "role",
			 prov_role_names[PROV_ROLE_PROVIDER]);
	r = prov_obj_create(m, users, NULL, body, &out, e);
	json_decref(body);
	json_decref(out);
	return r;
}
