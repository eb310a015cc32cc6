/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Users, passwords and bearer tokens.
 *
 * Passwords are kept only as argon2id hashes (libsodium crypto_pwhash_str,
 * interactive limits). A login gives a random 256-bit token; the database
 * keeps only its BLAKE2b hash and expiry, so a copy of the database does
 * not let anyone in, and tokens survive a restart of the daemon. Same
 * thread contract as prov_model.h.
 */
#ifndef LOOM_PROV_AUTH_H
#define LOOM_PROV_AUTH_H

#include <stdint.h>

#include "prov_model.h"

#define PROV_HASH_LEN 128   /* crypto_pwhash_STRBYTES */
#define PROV_TOKEN_LEN 64   /* hex characters, without the NUL */

/* Call once before anything else here (sodium_init): 0 or -EIO. */
int prov_auth_init(void);

/* argon2id of pw into out: 0, or -ENOMEM (the hash needs 64 MiB). */
int prov_password_hash(const char *pw, char out[PROV_HASH_LEN]);

/*
 * Check user and password; on success a new token valid for lifetime_ms,
 * its expiry (unix seconds) and the actor it stands for. A wrong user and a
 * wrong password take the same time and give the same -PROV_E_UNAUTHORIZED.
 */
int prov_login(struct prov_model *m, const char *user, const char *password,
	       uint64_t lifetime_ms, char token[PROV_TOKEN_LEN + 1], int64_t *expires,
	       struct prov_actor *who, struct prov_error *e);

/* The actor a token stands for: 0, or -PROV_E_UNAUTHORIZED (unknown, expired). */
int prov_authenticate(struct prov_model *m, const char *token, struct prov_actor *who,
		      struct prov_error *e);

/*
 * Make sure provider-admin `user` exists: created with password if it does
 * not, left as it is (password included) if it does. 0 or -reason.
 */
int prov_bootstrap_admin(struct prov_model *m, const char *user, const char *password,
			 struct prov_error *e);

#endif
