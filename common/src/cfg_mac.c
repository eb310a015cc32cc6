// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <stdio.h>

#include "common/cfg_mac.h"

int cfg_parse_mac(const struct cfg_field *f, const char *s, size_t len, void *field, char *why,
		  size_t whylen)
{
	unsigned b[6];
	char tail;

	(void)f;
	if (len != 17 || sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4],
				&b[5], &tail) != 6 || s[2] != ':' || s[5] != ':' || s[8] != ':' ||
	    s[11] != ':' || s[14] != ':') {
		snprintf(why, whylen, "expected a MAC address like 02:00:00:00:00:01");
		return -EINVAL;
	}
	for (unsigned i = 0; i < 6; i++)
		((uint8_t *)field)[i] = (uint8_t)b[i];
	return 0;
}

void cfg_dump_mac(const struct cfg_field *f, const void *field, char *buf, size_t len)
{
	const uint8_t *m = field;

	(void)f;
	snprintf(buf, len, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
}
