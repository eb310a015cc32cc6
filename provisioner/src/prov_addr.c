// SPDX-License-Identifier: LGPL-2.1-or-later
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prov_addr.h"

static const uint8_t v4_mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

int prov_addr_parse(const char *s, struct prov_prefix *out)
{
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, s, out->a + 12) == 1) {
		memcpy(out->a, v4_mapped, 12);
		out->v4 = true;
		out->len = 32;
		return 0;
	}
	if (inet_pton(AF_INET6, s, out->a) == 1) {
		out->len = 128;
		return 0;
	}
	return -EINVAL;
}

/* The bit offset of prefix length len in the 16-byte space. */
static unsigned bits(const struct prov_prefix *p, unsigned len)
{
	return p->v4 ? 96 + len : len;
}

static bool same_bits(const uint8_t *a, const uint8_t *b, unsigned n)
{
	unsigned full = n / 8, rest = n % 8;

	if (memcmp(a, b, full))
		return false;
	if (!rest)
		return true;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return (a[full] & mask) == (b[full] & mask);
}

int prov_prefix_parse(const char *s, struct prov_prefix *out)
{
	char addr[PROV_ADDR_TEXT];
	const char *slash = strchr(s, '/');
	char *end;

	if (!slash || (size_t)(slash - s) >= sizeof(addr) || !isdigit((unsigned char)slash[1]))
		return -EINVAL;
	memcpy(addr, s, (size_t)(slash - s));
	addr[slash - s] = '\0';
	if (prov_addr_parse(addr, out) < 0)
		return -EINVAL;
	errno = 0;
	unsigned long len = strtoul(slash + 1, &end, 10);
	if (errno || *end || end - (slash + 1) > 3 || len > (out->v4 ? 32u : 128u))
		return -EINVAL;
	out->len = (unsigned)len;
	unsigned from = bits(out, out->len);
	/* host bits: everything after the prefix must be zero */
	for (unsigned b = from; b < 128; b++)
		if (out->a[b / 8] & (0x80 >> (b % 8)))
			return -EDOM;
	return 0;
}

void prov_prefix_format(const struct prov_prefix *p, bool prefix, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	if (p->v4)
		inet_ntop(AF_INET, p->a + 12, a, sizeof(a));
	else
		inet_ntop(AF_INET6, p->a, a, sizeof(a));
	if (prefix)
		snprintf(buf, len, "%s/%u", a, p->len);
	else
		snprintf(buf, len, "%s", a);
}

bool prov_prefix_contains(const struct prov_prefix *p, const struct prov_prefix *q)
{
	return p->v4 == q->v4 && p->len <= q->len && same_bits(p->a, q->a, bits(p, p->len));
}

bool prov_prefix_overlap(const struct prov_prefix *p, const struct prov_prefix *q)
{
	return prov_prefix_contains(p, q) || prov_prefix_contains(q, p);
}

int prov_mac_parse(const char *s, char out[18])
{
	unsigned char v[6];
	char sep = s[0] ? s[2] : '\0';

	if (strlen(s) != 17 || (sep != ':' && sep != '-'))
		return -EINVAL;
	for (unsigned i = 0; i < 6; i++) {
		const char *h = s + 3 * i;
		if (!isxdigit((unsigned char)h[0]) || !isxdigit((unsigned char)h[1]) ||
		    (i < 5 && h[2] != sep))
			return -EINVAL;
		char two[3] = { h[0], h[1], '\0' };
		v[i] = (unsigned char)strtoul(two, NULL, 16);
	}
	if ((v[0] & 1) || !(v[0] | v[1] | v[2] | v[3] | v[4] | v[5]))
		return -EDOM;
	snprintf(out, 18, "%02hhx:%02hhx:%02hhx:%02hhx:%02hhx:%02hhx", v[0], v[1], v[2], v[3], v[4], v[5]);
	return 0;
}
