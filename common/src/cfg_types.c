// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The scalar types: text -> field and field -> canonical text. Parsers are
 * strict (no sign on unsigned values, no hex, units required on durations)
 * so a value means one thing, and each format is what its parser accepts:
 * that is what makes dump -> load -> dump the identity.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "common/key.h"
#include "cfg-internal.h"

bool cfg_type_is_scalar(enum cfg_type t)
{
	return t != CFG_LIST && t != CFG_LIST_MAP && t != CFG_MAP;
}

const char *cfg_type_expect(enum cfg_type t)
{
	switch (t) {
	case CFG_BOOL: return "expected true or false";
	case CFG_UINT:
	case CFG_INT: return "expected an integer";
	case CFG_STRING: return "expected a string";
	case CFG_ENUM: return "expected a name";
	case CFG_ADDR: return "expected an IPv4 or IPv6 address";
	case CFG_PREFIX: return "expected an address prefix like 10.0.0.0/8 or 2001:db8::/32";
	case CFG_ENDPOINT: return "expected an endpoint like tcp://host:port or ipc:///path";
	case CFG_DURATION: return "expected a duration like 250ms, 5s, 2m or 1h";
	case CFG_SIZE: return "expected a size like 4096, 64K, 16M or 1G";
	case CFG_LIST: return "expected a list";
	case CFG_LIST_MAP: return "expected a list of maps";
	case CFG_MAP: return "expected a map of keys";
	case CFG_CUSTOM: return "expected a value";
	}
	return "expected a value";
}

/* ---- edit distance ------------------------------------------------------- */

#define CFG_EDIT_MAX 48

unsigned cfg_edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned d[CFG_EDIT_MAX + 1][CFG_EDIT_MAX + 1];

	if (la > CFG_EDIT_MAX || lb > CFG_EDIT_MAX)
		return 1000;
	for (size_t i = 0; i <= la; i++)
		d[i][0] = (unsigned)i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = (unsigned)j;
	for (size_t i = 1; i <= la; i++) {
		for (size_t j = 1; j <= lb; j++) {
			unsigned cost = a[i - 1] != b[j - 1];
			unsigned v = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < v)
				v = d[i][j - 1] + 1;
			if (d[i - 1][j - 1] + cost < v)
				v = d[i - 1][j - 1] + cost;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    d[i - 2][j - 2] + 1 < v)
				v = d[i - 2][j - 2] + 1;
			d[i][j] = v;
		}
	}
	return d[la][lb];
}

bool cfg_suggest_better(const char *word, const char *cand, unsigned *best)
{
	unsigned d = cfg_edit_distance(word, cand);
	unsigned limit = strlen(cand) >= 5 ? 2 : 1;

	if (d == 0 || d > limit || d >= *best)
		return false;
	*best = d;
	return true;
}

/* ---- integers --------------------------------------------------------------- */

static bool parse_u64(const char *s, size_t len, uint64_t *out)
{
	uint64_t v = 0;

	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		unsigned dgt = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - dgt) / 10)
			return false;
		v = v * 10 + dgt;
	}
	*out = v;
	return true;
}

static bool parse_i64(const char *s, size_t len, int64_t *out)
{
	bool neg = len && s[0] == '-';
	uint64_t u;

	if (!parse_u64(s + neg, len - neg, &u))
		return false;
	if (neg ? u > (uint64_t)INT64_MAX + 1 : u > (uint64_t)INT64_MAX)
		return false;
	*out = neg ? (int64_t)(0 - u) : (int64_t)u;
	return true;
}

static void urange(const struct cfg_field *f, uint64_t *lo, uint64_t *hi)
{
	*lo = f->min;
	*hi = f->max;
	if (!f->max || *hi > cfg_width_max(f->size))
		*hi = cfg_width_max(f->size);
}

static void srange(const struct cfg_field *f, int64_t *lo, int64_t *hi)
{
	int64_t wmax = cfg_width_smax(f->size);

	*lo = f->smin;
	*hi = f->smax;
	if (!f->smin && !f->smax) {
		*lo = -wmax - 1;
		*hi = wmax;
	}
}

static void store_int(void *field, size_t size, int64_t v)
{
	switch (size) {
	case 1: { int8_t x = (int8_t)v; memcpy(field, &x, 1); break; }
	case 2: { int16_t x = (int16_t)v; memcpy(field, &x, 2); break; }
	case 4: { int32_t x = (int32_t)v; memcpy(field, &x, 4); break; }
	default: memcpy(field, &v, 8); break;
	}
}

static int64_t load_int(const void *field, size_t size)
{
	switch (size) {
	case 1: { int8_t x; memcpy(&x, field, 1); return x; }
	case 2: { int16_t x; memcpy(&x, field, 2); return x; }
	case 4: { int32_t x; memcpy(&x, field, 4); return x; }
	default: { int64_t x; memcpy(&x, field, 8); return x; }
	}
}

/* ---- durations and sizes ------------------------------------------------------ */

static const struct unit {
	const char *suffix;
	uint64_t mult;
} duration_units[] = {
	{ "h", 3600000 }, { "m", 60000 }, { "s", 1000 }, { "ms", 1 },
}, size_units[] = {
	{ "T", 1ull << 40 }, { "G", 1ull << 30 }, { "M", 1ull << 20 }, { "K", 1ull << 10 },
	{ "", 1 },
};

static bool parse_units(const char *s, size_t len, const struct unit *u, size_t nu,
			uint64_t *out)
{
	size_t digits = 0;

	while (digits < len && s[digits] >= '0' && s[digits] <= '9')
		digits++;
	for (size_t i = 0; i < nu; i++) {
		uint64_t v;
		if (strlen(u[i].suffix) != len - digits || memcmp(s + digits, u[i].suffix, len - digits))
			continue;
		if (!parse_u64(s, digits, &v) || v > UINT64_MAX / u[i].mult)
			return false;
		*out = v * u[i].mult;
		return true;
	}
	return false;
}

/* The largest unit that divides v exactly: 90000 ms is "90s", not "1.5m". */
static void format_units(uint64_t v, const struct unit *u, size_t nu, char *buf, size_t len)
{
	for (size_t i = 0; i < nu; i++) {
		if (v % u[i].mult == 0 && (v || u[i].mult == 1 || !strcmp(u[i].suffix, "s"))) {
			snprintf(buf, len, "%" PRIu64 "%s", v / u[i].mult, u[i].suffix);
			return;
		}
	}
	snprintf(buf, len, "%" PRIu64 "%s", v, u[nu - 1].suffix);
}

static void format_range(enum cfg_type t, uint64_t v, char *buf, size_t len)
{
	if (t == CFG_DURATION)
		format_units(v, duration_units, LOOM_ARRAY_SIZE(duration_units), buf, len);
	else if (t == CFG_SIZE)
		format_units(v, size_units, LOOM_ARRAY_SIZE(size_units), buf, len);
	else
		snprintf(buf, len, "%" PRIu64, v);
}

/* ---- addresses and endpoints ------------------------------------------------------ */

static bool parse_addr(const char *s, uint8_t out[16], bool *v4)
{
	struct in_addr a4;

	if (inet_pton(AF_INET, s, &a4) == 1) {
		key_addr_from_v4(out, a4.s_addr);
		*v4 = true;
		return true;
	}
	*v4 = false;
	return inet_pton(AF_INET6, s, out) == 1;
}

static void prefix_mask(uint8_t mask[16], unsigned bits)
{
	memset(mask, 0, 16);
	for (unsigned i = 0; i < bits; i++)
		mask[i / 8] |= (uint8_t)(0x80u >> (i % 8));
}

static int parse_prefix(const char *s, size_t len, struct cfg_prefix *p, char *why, size_t wl)
{
	const char *slash = memchr(s, '/', len);
	char addr[INET6_ADDRSTRLEN + 1], q[96];
	uint64_t bits;

	cfg_quote(s, len, q, sizeof(q));
	if (!slash || (size_t)(slash - s) >= sizeof(addr) ||
	    !parse_u64(slash + 1, len - (size_t)(slash - s) - 1, &bits))
		goto bad;
	memcpy(addr, s, (size_t)(slash - s));
	addr[slash - s] = '\0';
	memset(p, 0, sizeof(*p));
	if (!parse_addr(addr, p->addr, &p->v4) || bits > (p->v4 ? 32u : 128u))
		goto bad;
	p->len = (uint8_t)bits;
	prefix_mask(p->mask, p->v4 ? 96 + (unsigned)bits : (unsigned)bits);
	for (int i = 0; i < 16; i++) {
		if (p->addr[i] & ~p->mask[i]) {
			char fixed[INET6_ADDRSTRLEN];
			for (int j = 0; j < 16; j++)
				p->addr[j] &= p->mask[j];
			key_addr_format(p->addr, fixed, sizeof(fixed));
			snprintf(why, wl, "host bits are set in %s: did you mean '%s/%u'?", q, fixed,
				 (unsigned)bits);
			return -EINVAL;
		}
	}
	return 0;
bad:
	snprintf(why, wl, "%s, got %s", cfg_type_expect(CFG_PREFIX), q);
	return -EINVAL;
}

static bool hostname_ok(const char *h, size_t len)
{
	size_t label = 0;

	if (len == 0 || len > 253)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = h[i];
		if (c == '.') {
			if (label == 0 || h[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
		if (!alnum && !(c == '-' && label > 0) && c != '_')
			return false;
		if (++label > 63)
			return false;
	}
	return label > 0 && h[len - 1] != '-';
}

static bool endpoint_ok(const char *s, size_t len)
{
	if (len > 6 && !memcmp(s, "tcp://", 6)) {
		const char *h = s + 6, *end = s + len, *colon;
		char buf[INET6_ADDRSTRLEN + 1];
		uint64_t port;
		uint8_t a[16];

		if (*h == '[') {
			const char *rb = memchr(h, ']', (size_t)(end - h));
			if (!rb || rb + 1 >= end || rb[1] != ':' || (size_t)(rb - h - 1) >= sizeof(buf))
				return false;
			memcpy(buf, h + 1, (size_t)(rb - h - 1));
			buf[rb - h - 1] = '\0';
			if (inet_pton(AF_INET6, buf, a) != 1)
				return false;
			colon = rb + 1;
		} else {
			colon = memrchr(h, ':', (size_t)(end - h));
			if (!colon)
				return false;
			if (!(colon - h == 1 && *h == '*') && !hostname_ok(h, (size_t)(colon - h)))
				return false;
		}
		return parse_u64(colon + 1, (size_t)(end - colon - 1), &port) && port >= 1 &&
		       port <= 65535;
	}
	if (len > 6 && !memcmp(s, "ipc://", 6))
		return (s[6] == '/' || s[6] == '@') && len - 6 >= 2 && len - 6 <= 107;
	if (len > 9 && !memcmp(s, "inproc://", 9))
		return true;
	return false;
}

/* ---- parse --------------------------------------------------------------------------- */

int cfg_scalar_parse(const struct cfg_field *f, const char *s, size_t len, void *field,
		     char *why, size_t wl)
{
	char q[96], lo_s[32], hi_s[32];
	uint64_t u, lo, hi;
	int64_t i, slo, shi;

	cfg_quote(s, len, q, sizeof(q));
	if (memchr(s, '\0', len)) {
		snprintf(why, wl, "%s, got a value with a NUL byte", cfg_type_expect(f->type));
		return -EINVAL;
	}
	switch (f->type) {
	case CFG_BOOL: {
		static const char *const yes[] = { "true", "yes", "on" }, *const no[] = { "false", "no", "off" };
		for (size_t k = 0; k < 3; k++) {
			if (!strcmp(s, yes[k]) || !strcmp(s, no[k])) {
				bool b = !strcmp(s, yes[k]);
				memcpy(field, &b, sizeof(b));
				return 0;
			}
		}
		snprintf(why, wl, "expected true or false, got %s", q);
		return -EINVAL;
	}
	case CFG_UINT:
	case CFG_DURATION:
	case CFG_SIZE: {
		bool ok = f->type == CFG_UINT ? parse_u64(s, len, &u)
			: f->type == CFG_DURATION
				? parse_units(s, len, duration_units, LOOM_ARRAY_SIZE(duration_units), &u)
				: parse_units(s, len, size_units, LOOM_ARRAY_SIZE(size_units), &u);
		urange(f, &lo, &hi);
		format_range(f->type, lo, lo_s, sizeof(lo_s));
		format_range(f->type, hi, hi_s, sizeof(hi_s));
		if (!ok) {
			if (f->type == CFG_UINT)
				snprintf(why, wl, "expected an integer from %s to %s, got %s", lo_s, hi_s, q);
			else
				snprintf(why, wl, "%s, got %s", cfg_type_expect(f->type), q);
			return -EINVAL;
		}
		if (u < lo || u > hi) {
			snprintf(why, wl, "%s is out of range: from %s to %s", q, lo_s, hi_s);
			return -ERANGE;
		}
		loom_store_uint(field, f->size, u);
		return 0;
	}
	case CFG_INT:
		srange(f, &slo, &shi);
		if (!parse_i64(s, len, &i) || i < slo || i > shi) {
			snprintf(why, wl, "expected an integer from %" PRId64 " to %" PRId64 ", got %s",
				 slo, shi, q);
			return -EINVAL;
		}
		store_int(field, f->size, i);
		return 0;
	case CFG_STRING:
	case CFG_ENDPOINT:
		if (len + 1 > f->size) {
			snprintf(why, wl, "too long: %zu bytes, at most %zu", len, f->size - 1);
			return -ENAMETOOLONG;
		}
		if (f->type == CFG_ENDPOINT && !endpoint_ok(s, len)) {
			snprintf(why, wl, "%s, got %s", cfg_type_expect(f->type), q);
			return -EINVAL;
		}
		if (len < f->min) {
			snprintf(why, wl, "too short: %zu bytes, at least %" PRIu64, len, f->min);
			return -EINVAL;
		}
		memset(field, 0, f->size);
		memcpy(field, s, len);
		return 0;
	case CFG_ENUM: {
		const char *best_name = NULL;
		unsigned best = 1000;
		size_t n = 0, o;
		for (; f->names[n]; n++) {
			if (!strcmp(s, f->names[n])) {
				loom_store_uint(field, f->size, n);
				return 0;
			}
			if (cfg_suggest_better(s, f->names[n], &best))
				best_name = f->names[n];
		}
		o = (size_t)snprintf(why, wl, "expected one of ");
		for (size_t k = 0; k < n && o < wl; k++)
			o += (size_t)snprintf(why + o, wl - o, "%s%s", k ? ", " : "", f->names[k]);
		if (o < wl)
			o += (size_t)snprintf(why + o, wl - o, "; got %s", q);
		if (best_name && o < wl)
			snprintf(why + o, wl - o, " (did you mean '%s'?)", best_name);
		return -EINVAL;
	}
	case CFG_ADDR: {
		bool v4;
		uint8_t a[16];
		if (!parse_addr(s, a, &v4)) {
			snprintf(why, wl, "%s, got %s", cfg_type_expect(f->type), q);
			return -EINVAL;
		}
		memcpy(field, a, 16);
		return 0;
	}
	case CFG_PREFIX: {
		struct cfg_prefix p;
		int err = parse_prefix(s, len, &p, why, wl);
		if (!err)
			memcpy(field, &p, sizeof(p));
		return err;
	}
	case CFG_CUSTOM:
		return f->parse(f, s, len, field, why, wl);
	case CFG_LIST:
	case CFG_LIST_MAP:
	case CFG_MAP:
		break;
	}
	snprintf(why, wl, "%s", cfg_type_expect(f->type));
	return -EINVAL;
}

/* ---- format ---------------------------------------------------------------------------- */

void cfg_scalar_format(const struct cfg_field *f, const void *field, char *buf, size_t len,
		       bool *quote)
{
	*quote = false;
	switch (f->type) {
	case CFG_BOOL: {
		bool b;
		memcpy(&b, field, sizeof(b));
		snprintf(buf, len, "%s", b ? "true" : "false");
		return;
	}
	case CFG_UINT:
	case CFG_DURATION:
	case CFG_SIZE:
		format_range(f->type, loom_load_uint(field, f->size), buf, len);
		return;
	case CFG_INT:
		snprintf(buf, len, "%" PRId64, load_int(field, f->size));
		return;
	case CFG_STRING:
	case CFG_ENDPOINT:
		snprintf(buf, len, "%.*s", (int)strnlen(field, f->size), (const char *)field);
		*quote = true;
		return;
	case CFG_ENUM: {
		uint64_t v = loom_load_uint(field, f->size);
		size_t n = 0;
		while (f->names[n] && n < v)
			n++;
		snprintf(buf, len, "%s", f->names[n] ? f->names[n] : "?");
		return;
	}
	case CFG_ADDR:
		/* Quoted: IPv6 text may start with ':', which YAML reads as syntax. */
		key_addr_format(field, buf, len);
		*quote = true;
		return;
	case CFG_PREFIX: {
		struct cfg_prefix p;
		char a[INET6_ADDRSTRLEN];
		memcpy(&p, field, sizeof(p));
		/* An IPv6-written prefix stays IPv6 even when it is v4-mapped. */
		if (p.v4)
			key_addr_format(p.addr, a, sizeof(a));
		else
			inet_ntop(AF_INET6, p.addr, a, sizeof(a));
		snprintf(buf, len, "%s/%u", a, p.len);
		*quote = true;
		return;
	}
	case CFG_CUSTOM:
		f->dump(f, field, buf, len);
		*quote = true;
		return;
	case CFG_LIST:
	case CFG_LIST_MAP:
	case CFG_MAP:
		break;
	}
	snprintf(buf, len, "~");
}
