// SPDX-License-Identifier: LGPL-2.1-or-later
#include <stdarg.h>
#include <stdio.h>

#include "prov_error.h"

#define CODE(name, code, status) [name] = code,
#define STATUS(name, code, status) [name] = status,
static const char *const codes[] = { PROV_REASONS(CODE) };
static const unsigned statuses[] = { PROV_REASONS(STATUS) };

const char *prov_reason_code(enum prov_reason r)
{
	return r < PROV_REASON_MAX ? codes[r] : "internal";
}

unsigned prov_reason_status(enum prov_reason r)
{
	return r < PROV_REASON_MAX ? statuses[r] : 500;
}

int prov_fail(struct prov_error *e, enum prov_reason r, const char *field, const char *fmt, ...)
{
	va_list ap;

	if (e) {
		e->reason = r;
		snprintf(e->field, sizeof(e->field), "%s", field ? field : "");
		va_start(ap, fmt);
		vsnprintf(e->message, sizeof(e->message), fmt, ap);
		va_end(ap);
	}
	return -(int)r;
}
