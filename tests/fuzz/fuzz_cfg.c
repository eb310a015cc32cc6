// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Feed bytes to the configuration loader with the example agent schema.
 * Besides "never crash, never leak", it checks the round trip on every
 * input that loads: dump -> load -> dump must be the identity.
 *
 * The example schema lives with the unit tests (tests/unit/cfg/).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cfg.h"
#include "example_schema.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *dump(const struct ex_config *c, size_t *len)
{
	char *buf = NULL;
	FILE *m = open_memstream(&buf, len);

	if (!m)
		abort();
	if (cfg_dump(&ex_config_schema, c, m) != 0)
		abort();
	fclose(m);
	return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ex_config a, b;
	static struct cfg_diag d;
	size_t l1, l2;

	if (cfg_load_buffer("fuzz", data, size, &ex_config_schema, &a, &d) != 0) {
		if (d.n == 0)
			abort(); /* every failure must say why */
		return 0;
	}
	char *d1 = dump(&a, &l1);
	if (cfg_load_buffer("dump", d1, l1, &ex_config_schema, &b, &d) != 0) {
		fprintf(stderr, "dump does not load: %s\n%s", d.n ? d.msg[0] : "", d1);
		abort();
	}
	char *d2 = dump(&b, &l2);
	if (l1 != l2 || memcmp(d1, d2, l1) != 0) {
		fprintf(stderr, "round trip differs:\n%s---\n%s", d1, d2);
		abort();
	}
	free(d1);
	free(d2);
	return 0;
}
