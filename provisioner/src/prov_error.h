/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Why a request failed, declared once: each reason is an enum value, the
 * "code" string of the API's error document and its HTTP status. Functions
 * of the provisioner's core return 0 or a negative reason (-PROV_E_...) and
 * fill a struct prov_error naming the field and saying why in a sentence;
 * the API turns it into {"error": {"code", "message", "field"}}.
 */
#ifndef LOOM_PROV_ERROR_H
#define LOOM_PROV_ERROR_H

#include <stddef.h>

#include "common/compiler.h"

/* reason, code, HTTP status */
#define PROV_REASONS(X)                                                        \
	X(PROV_OK, "ok", 200)                                                  \
	X(PROV_E_MALFORMED, "malformed-json", 400)  /* not JSON at all */      \
	X(PROV_E_TYPE, "wrong-type", 400)           /* a JSON type unexpected */ \
	X(PROV_E_UNKNOWN_FIELD, "unknown-field", 400)                          \
	X(PROV_E_MISSING, "missing-field", 400)                                \
	X(PROV_E_INVALID, "invalid-value", 422)     /* well-formed, not valid */ \
	X(PROV_E_REFERENCE, "unknown-reference", 422)                          \
	X(PROV_E_CONFLICT, "conflict", 409)         /* clashes with another */ \
	X(PROV_E_IN_USE, "in-use", 409)             /* others refer to it */   \
	X(PROV_E_NOT_FOUND, "not-found", 404)                                  \
	X(PROV_E_UNAUTHORIZED, "unauthorized", 401)                            \
	X(PROV_E_FORBIDDEN, "forbidden", 403)                                  \
	X(PROV_E_METHOD, "method-not-allowed", 405)                            \
	X(PROV_E_TOO_LARGE, "too-large", 413)                                  \
	X(PROV_E_INTERNAL, "internal", 500)

#define PROV_REASON_ENUM(name, code, status) name,
enum prov_reason { PROV_REASONS(PROV_REASON_ENUM) PROV_REASON_MAX };
#undef PROV_REASON_ENUM

#define PROV_FIELD_LEN 96
#define PROV_MESSAGE_LEN 256

struct prov_error {
	enum prov_reason reason;
	char field[PROV_FIELD_LEN];     /* "devices[1]", "" for the whole request */
	char message[PROV_MESSAGE_LEN]; /* a sentence for a person */
};

const char *prov_reason_code(enum prov_reason r);
unsigned prov_reason_status(enum prov_reason r);

/*
 * Fill e (which may be NULL) and return -reason, so that a check reads
 * `return prov_fail(e, PROV_E_INVALID, "port", "above %u", max);`.
 * field may be NULL for the request as a whole.
 */
int prov_fail(struct prov_error *e, enum prov_reason r, const char *field, const char *fmt, ...)
	LOOM_PRINTF(4, 5);

#endif
