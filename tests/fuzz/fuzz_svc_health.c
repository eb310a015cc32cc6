// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Fuzz the HTTP status-line parser of the health checks: a backend (or
 * whatever answers on its port) writes these bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "svc_health.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size ? size : 1);
	int final = 0, rc;
	uint16_t st = 0, first = 0;

	memcpy(buf, data, size);
	/* A verdict, once given for a prefix, never changes with more bytes. */
	for (size_t n = 0; n <= size; n++) {
		rc = svc_hc_http_status_parse(buf, n, &st);
		if (final) {
			if (rc != final || (rc == 1 && st != first))
				abort();
			continue;
		}
		if (rc == 1 && (st < 100 || st > 999 || !memchr(buf, '\n', n)))
			abort();
		if (rc == 0 && n >= SVC_HC_STATUS_LINE_MAX)
			abort();
		if (rc != 0) {
			final = rc;
			first = st;
		}
	}
	free(buf);
	return 0;
}
