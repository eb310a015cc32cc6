// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Key material in configuration files: CurveZMQ keys (Z85) and HMAC keys
 * (hex), shared by every daemon's schema.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/cfg.h"

static const char z85[] =
	"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

int cfg_parse_z85key(const struct cfg_field *f, const char *s, size_t len, void *field,
		     char *why, size_t whylen)
{
	(void)f;
	if (len == 0) { /* none: how the dump writes an absent key */
		((char *)field)[0] = '\0';
		return 0;
	}
	if (len != CFG_Z85_LEN || strspn(s, z85) < CFG_Z85_LEN) {
		snprintf(why, whylen, "expected a CurveZMQ public key (40 Z85 characters)");
		return -EINVAL;
	}
	memcpy(field, s, CFG_Z85_LEN);
	((char *)field)[CFG_Z85_LEN] = '\0';
	return 0;
}

void cfg_dump_z85key(const struct cfg_field *f, const void *field, char *buf, size_t len)
{
	(void)f;
	snprintf(buf, len, "%.40s", (const char *)field);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int cfg_parse_hexkey(const struct cfg_field *f, const char *s, size_t len, void *field,
		     char *why, size_t whylen)
{
	struct cfg_hexkey *k = field;

	(void)f;
	memset(k, 0, sizeof(*k));
	if (len == 0)
		return 0;
	if (len % 2 || len < 32 || len > 64) {
		snprintf(why, whylen, "expected 32 to 64 hex digits (a 16 to 32 byte key)");
		return -EINVAL;
	}
	for (size_t i = 0; i < len / 2; i++) {
		int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
		if (hi < 0 || lo < 0) {
			snprintf(why, whylen, "expected hex digits, got '%c%c'", s[2 * i],
				 s[2 * i + 1]);
			memset(k, 0, sizeof(*k));
			return -EINVAL;
		}
		k->key[i] = (uint8_t)(hi << 4 | lo);
	}
	k->len = (uint8_t)(len / 2);
	return 0;
}

void cfg_dump_hexkey(const struct cfg_field *f, const void *field, char *buf, size_t len)
{
	const struct cfg_hexkey *k = field;
	size_t o = 0;

	(void)f;
	buf[0] = '\0';
	for (unsigned i = 0; i < k->len && i < sizeof(k->key) && o + 3 <= len; i++)
		o += (size_t)snprintf(buf + o, len - o, "%02x", k->key[i]);
}

int cfg_read_z85_file(const char *path, char out[CFG_Z85_LEN + 1])
{
	FILE *f = fopen(path, "re");
	char buf[128];

	if (!f)
		return -errno;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	if (strlen(buf) != CFG_Z85_LEN || strspn(buf, z85) != CFG_Z85_LEN) {
		memset(buf, 0, sizeof(buf));
		return -EINVAL;
	}
	memcpy(out, buf, CFG_Z85_LEN + 1);
	memset(buf, 0, sizeof(buf));
	return 0;
}
