// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Configuration tests: golden files (tests/fixtures/config/N.in with N.ok,
 * the canonical dump, or N.err, the exact error text), the round trip, the
 * edge cases of every type, and the caps.
 *
 * To regenerate goldens after an intended change, run with
 * CFG_GOLDEN_UPDATE=1 and review the diff like code.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cfg.h"
#include "example_schema.h"

#define K1 "rq{-Ji3kF2^wRK1hM7D(8AVcN0:QZsby5g/m4]%x"

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0;

	if (!f)
		return NULL;
	FILE *m = open_memstream(&buf, &cap);
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		fwrite(chunk, 1, n, m);
	fclose(f);
	fclose(m);
	if (len)
		*len = cap;
	return buf;
}

static char *dump_to_string(const struct cfg_schema *s, const void *obj)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);

	cr_assert_eq(cfg_dump(s, obj, m), 0);
	fclose(m);
	return buf;
}

static char *diag_to_string(const struct cfg_diag *d)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);

	cfg_diag_print(d, m);
	fclose(m);
	return buf;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f, "%s", path);
	fputs(text, f);
	fclose(f);
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* dump -> load -> dump must be the identity. */
static void assert_round_trip(const char *name, const char *dump)
{
	struct ex_config again;
	struct cfg_diag d;

	int rc = cfg_load_buffer(name, dump, strlen(dump), &ex_config_schema, &again, &d);
	cr_assert_eq(rc, 0, "%s: dump does not load back:\n%s", name, d.n ? d.msg[0] : "");
	char *dump2 = dump_to_string(&ex_config_schema, &again);
	cr_assert_str_eq(dump2, dump, "%s: round trip changed the dump", name);
	free(dump2);
}

Test(cfg_golden, fixtures)
{
	DIR *dir = opendir(FIXTURES_DIR "/config");
	char *names[256];
	size_t n = 0, valid = 0, invalid = 0;
	bool update = getenv("CFG_GOLDEN_UPDATE") != NULL;
	struct dirent *de;

	cr_assert_not_null(dir);
	while ((de = readdir(dir)) && n < LOOM_ARRAY_SIZE(names)) {
		size_t l = strlen(de->d_name);
		if (l > 3 && !strcmp(de->d_name + l - 3, ".in"))
			names[n++] = strdup(de->d_name);
	}
	closedir(dir);
	qsort(names, n, sizeof(names[0]), cmp_names);
	cr_assert_geq(n, 20, "fixtures are missing");

	for (size_t i = 0; i < n; i++) {
		char in[512], ok[512], err[512];
		size_t len, base = strlen(names[i]) - 3;
		struct ex_config cfg;
		struct cfg_diag d;

		snprintf(in, sizeof(in), "%s/config/%s", FIXTURES_DIR, names[i]);
		snprintf(ok, sizeof(ok), "%s/config/%.*s.ok", FIXTURES_DIR, (int)base, names[i]);
		snprintf(err, sizeof(err), "%s/config/%.*s.err", FIXTURES_DIR, (int)base, names[i]);
		char *text = slurp(in, &len);
		cr_assert_not_null(text);
		/* The name, not the path, so expected errors do not depend on it. */
		int rc = cfg_load_buffer(names[i], text, len, &ex_config_schema, &cfg, &d);
		char *want_ok = slurp(ok, NULL), *want_err = slurp(err, NULL);

		if (update) {
			char *out = rc == 0 ? dump_to_string(&ex_config_schema, &cfg) : diag_to_string(&d);
			unlink(rc == 0 ? err : ok);
			write_file(rc == 0 ? ok : err, out);
			free(out);
		} else if (want_ok) {
			cr_assert_eq(rc, 0, "%s should load: %s", names[i], d.n ? d.msg[0] : "");
			char *out = dump_to_string(&ex_config_schema, &cfg);
			cr_assert_str_eq(out, want_ok, "%s: dump differs from .ok", names[i]);
			assert_round_trip(names[i], out);
			/* The .ok is itself a valid input that dumps to itself. */
			assert_round_trip(ok, want_ok);
			free(out);
			valid++;
		} else {
			cr_assert_not_null(want_err, "%s has neither .ok nor .err", names[i]);
			cr_assert_lt(rc, 0, "%s should fail", names[i]);
			char *out = diag_to_string(&d);
			cr_assert_str_eq(out, want_err, "%s: errors differ from .err", names[i]);
			free(out);
			invalid++;
		}
		free(want_ok);
		free(want_err);
		free(text);
		free(names[i]);
	}
	if (!update) {
		cr_assert_geq(valid, 5);
		cr_assert_geq(invalid, 15);
	}
}

Test(cfg_golden, file_and_buffer_agree)
{
	struct ex_config a, b;
	struct cfg_diag d;
	size_t len;
	char *text = slurp(FIXTURES_DIR "/config/002-full.in", &len);

	cr_assert_eq(cfg_load_file(FIXTURES_DIR "/config/002-full.in", &ex_config_schema, &a, &d), 0);
	cr_assert_eq(cfg_load_buffer("x", text, len, &ex_config_schema, &b, &d), 0);
	cr_assert_eq(memcmp(&a, &b, sizeof(a)), 0);
	cr_assert_str_eq(a.instance, "edge-2");
	cr_assert_eq(a.log_level, 4);
	cr_assert(a.host_mode);
	cr_assert_eq(a.workers, 8);
	cr_assert_eq(a.nice, -5);
	cr_assert_eq(a.n_interfaces, 3);
	cr_assert_str_eq(a.interfaces[2], "bond0.100");
	cr_assert_eq(a.n_managers, 2);
	cr_assert_eq(a.managers[0].weight, 10);
	cr_assert_eq(a.managers[1].weight, 100, "default inside a list of maps");
	cr_assert_eq(a.tables.shm_size, 2u << 20);
	cr_assert_eq(a.limits.idle_timeout_ms, 90000);
	cr_assert_eq(a.heartbeat_ms, 250);
	cr_assert_eq(a.advertise[1].len, 25);
	cr_assert(a.advertise[1].v4);
	static const uint8_t rid[16] = { [10] = 0xff, [11] = 0xff, 192, 0, 2, 1 };
	cr_assert_eq(memcmp(a.router_id, rid, 16), 0, "IPv4 is stored IPv4-mapped");
	static const uint8_t m25[16] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
					 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x80 };
	cr_assert_eq(memcmp(a.advertise[1].mask, m25, 16), 0);
	free(text);
}

Test(cfg_io, missing_file)
{
	struct ex_config c;
	struct cfg_diag d;

	cr_assert_eq(cfg_load_file("/nonexistent/loom.yaml", &ex_config_schema, &c, &d), -ENOENT);
	cr_assert_eq(d.n, 1);
	cr_assert_str_eq(d.msg[0], "/nonexistent/loom.yaml: cannot open: No such file or directory");
	cr_assert_eq(cfg_load_file("/", &ex_config_schema, &c, &d), -EISDIR);
}

/* ---- types: one row per edge case ---------------------------------------------- */

struct types {
	bool b;
	uint8_t u8;
	uint16_t u16;
	uint32_t u32;
	uint64_t u64;
	int8_t i8;
	int64_t i64;
	char s[8];
	unsigned e;
	uint8_t addr[16];
	struct cfg_prefix pfx;
	char ep[40];
	uint64_t dur;
	uint32_t dur32;
	uint64_t size;
	uint16_t list[3];
	unsigned n_list;
};

static const char *const colours[] = { "red", "green", "blue", NULL };
static const struct cfg_field u16_elem = { .key = "x", .type = CFG_UINT, .size = 2 };
static const struct cfg_field type_rows[] = {
	{ .key = "b", .type = CFG_BOOL, CFG_AT(struct types, b) },
	{ .key = "u8", .type = CFG_UINT, CFG_AT(struct types, u8) },
	{ .key = "u16", .type = CFG_UINT, CFG_AT(struct types, u16), .min = 10, .max = 20, .def = "15" },
	{ .key = "u32", .type = CFG_UINT, CFG_AT(struct types, u32) },
	{ .key = "u64", .type = CFG_UINT, CFG_AT(struct types, u64) },
	{ .key = "i8", .type = CFG_INT, CFG_AT(struct types, i8) },
	{ .key = "i64", .type = CFG_INT, CFG_AT(struct types, i64) },
	{ .key = "s", .type = CFG_STRING, CFG_AT(struct types, s), .min = 2, .def = "ok" },
	{ .key = "e", .type = CFG_ENUM, CFG_AT(struct types, e), .names = colours },
	{ .key = "addr", .type = CFG_ADDR, CFG_AT(struct types, addr) },
	{ .key = "pfx", .type = CFG_PREFIX, CFG_AT(struct types, pfx) },
	{ .key = "ep", .type = CFG_ENDPOINT, CFG_AT(struct types, ep), .def = "inproc://x" },
	{ .key = "dur", .type = CFG_DURATION, CFG_AT(struct types, dur) },
	{ .key = "dur32", .type = CFG_DURATION, CFG_AT(struct types, dur32) },
	{ .key = "size", .type = CFG_SIZE, CFG_AT(struct types, size) },
	{ .key = "list", .type = CFG_LIST, CFG_AT(struct types, list),
	  CFG_COUNT(struct types, n_list), .elem = &u16_elem },
};
static const struct cfg_schema types_schema = CFG_SCHEMA("types", struct types, type_rows, NULL);

struct type_case {
	const char *key, *value;
	const char *canonical; /* NULL: must be refused */
	const char *error;     /* with canonical NULL: substring of the message */
};

static const struct type_case type_cases[] = {
	{ "b", "true", "true", NULL },
	{ "b", "on", "true", NULL },
	{ "b", "no", "false", NULL },
	{ "b", "\"yes\"", "true", NULL },
	{ "b", "1", NULL, "expected true or false, got '1'" },
	{ "b", "True", NULL, "expected true or false" },
	{ "u8", "0", "0", NULL },
	{ "u8", "255", "255", NULL },
	{ "u8", "256", NULL, "'256' is out of range: from 0 to 255" },
	{ "u8", "-1", NULL, "expected an integer from 0 to 255, got '-1'" },
	{ "u8", "+1", NULL, "expected an integer" },
	{ "u8", "0x10", NULL, "expected an integer" },
	{ "u8", "007", "7", NULL },
	{ "u16", "10", "10", NULL },
	{ "u16", "20", "20", NULL },
	{ "u16", "9", NULL, "'9' is out of range: from 10 to 20" },
	{ "u16", "21", NULL, "out of range" },
	{ "u32", "4294967295", "4294967295", NULL },
	{ "u32", "4294967296", NULL, "out of range: from 0 to 4294967295" },
	{ "u64", "18446744073709551615", "18446744073709551615", NULL },
	{ "u64", "18446744073709551616", NULL, "expected an integer" },
	{ "i8", "-128", "-128", NULL },
	{ "i8", "127", "127", NULL },
	{ "i8", "128", NULL, "expected an integer from -128 to 127, got '128'" },
	{ "i8", "-129", NULL, "from -128 to 127" },
	{ "i64", "-9223372036854775808", "-9223372036854775808", NULL },
	{ "i64", "9223372036854775807", "9223372036854775807", NULL },
	{ "i64", "9223372036854775808", NULL, "expected an integer" },
	{ "i64", "\"-\"", NULL, "expected an integer" },
	{ "s", "ab", "\"ab\"", NULL },
	{ "s", "abcdefg", "\"abcdefg\"", NULL },
	{ "s", "abcdefgh", NULL, "too long: 8 bytes, at most 7" },
	{ "s", "a", NULL, "too short: 1 bytes, at least 2" },
	{ "s", "\"a\\0b\"", NULL, "NUL byte" },
	{ "s", "\"\\\"\\\\\\t\"", "\"\\\"\\\\\\x09\"", NULL },
	{ "s", "\"h\\u00e9\"", "\"h\xc3\xa9\"", NULL },
	{ "e", "green", "green", NULL },
	{ "e", "gren", NULL, "expected one of red, green, blue; got 'gren' (did you mean 'green'?)" },
	{ "e", "purple", NULL, "expected one of red, green, blue; got 'purple'" },
	{ "addr", "10.1.2.3", "\"10.1.2.3\"", NULL },
	{ "addr", "::ffff:10.1.2.3", "\"10.1.2.3\"", NULL },
	{ "addr", "2001:DB8:0:0::1", "\"2001:db8::1\"", NULL },
	{ "addr", "10.1.2", NULL, "expected an IPv4 or IPv6 address, got '10.1.2'" },
	{ "addr", "\"[::1]\"", NULL, "expected an IPv4 or IPv6 address" },
	{ "pfx", "10.0.0.0/8", "\"10.0.0.0/8\"", NULL },
	{ "pfx", "0.0.0.0/0", "\"0.0.0.0/0\"", NULL },
	{ "pfx", "10.1.2.3/32", "\"10.1.2.3/32\"", NULL },
	{ "pfx", "2001:db8::/32", "\"2001:db8::/32\"", NULL },
	{ "pfx", "::ffff:10.0.0.0/104", "\"::ffff:10.0.0.0/104\"", NULL },
	{ "pfx", "::/128", "\"::/128\"", NULL },
	{ "pfx", "10.0.0.0/33", NULL, "expected an address prefix" },
	{ "pfx", "2001:db8::/129", NULL, "expected an address prefix" },
	{ "pfx", "10.0.0.0/", NULL, "expected an address prefix" },
	{ "pfx", "10.0.0.0/-1", NULL, "expected an address prefix" },
	{ "pfx", "10.1.0.0/8", NULL, "host bits are set in '10.1.0.0/8': did you mean '10.0.0.0/8'?" },
	{ "ep", "tcp://1.2.3.4:1", "\"tcp://1.2.3.4:1\"", NULL },
	{ "ep", "tcp://*:65535", "\"tcp://*:65535\"", NULL },
	{ "ep", "tcp://[::1]:80", "\"tcp://[::1]:80\"", NULL },
	{ "ep", "tcp://host-1.example:80", "\"tcp://host-1.example:80\"", NULL },
	{ "ep", "ipc:///run/x.sock", "\"ipc:///run/x.sock\"", NULL },
	{ "ep", "ipc://@abstract", "\"ipc://@abstract\"", NULL },
	{ "ep", "inproc://x", "\"inproc://x\"", NULL },
	{ "ep", "tcp://1.2.3.4:0", NULL, "expected an endpoint like tcp://host:port or ipc:///path, got 'tcp://1.2.3.4:0'" },
	{ "ep", "tcp://1.2.3.4", NULL, "expected an endpoint" },
	{ "ep", "tcp://:80", NULL, "expected an endpoint" },
	{ "ep", "tcp://-bad:80", NULL, "expected an endpoint" },
	{ "ep", "tcp://[::1:80", NULL, "expected an endpoint" },
	{ "ep", "ipc://relative", NULL, "expected an endpoint" },
	{ "ep", "ipc:///", NULL, "expected an endpoint" },
	{ "ep", "inproc://", NULL, "expected an endpoint" },
	{ "ep", "tcp://a-very-long-host-name.example.com:80", NULL, "too long: 42 bytes, at most 39" },
	{ "dur", "0ms", "0s", NULL },
	{ "dur", "250ms", "250ms", NULL },
	{ "dur", "1000ms", "1s", NULL },
	{ "dur", "90s", "90s", NULL },
	{ "dur", "120s", "2m", NULL },
	{ "dur", "60m", "1h", NULL },
	{ "dur", "48h", "48h", NULL },
	{ "dur", "5", NULL, "expected a duration like 250ms, 5s, 2m or 1h, got '5'" },
	{ "dur", "5 s", NULL, "expected a duration" },
	{ "dur", "1.5s", NULL, "expected a duration" },
	{ "dur", "-1s", NULL, "expected a duration" },
	{ "dur", "s", NULL, "expected a duration" },
	{ "dur", "5S", NULL, "expected a duration" },
	{ "dur", "5124095576030432h", NULL, "expected a duration" },
	{ "dur32", "1193h", "1193h", NULL },
	{ "dur32", "1194h", NULL, "'1194h' is out of range: from 0s to 4294967295ms" },
	{ "size", "0", "0", NULL },
	{ "size", "4096", "4K", NULL },
	{ "size", "4097", "4097", NULL },
	{ "size", "1024K", "1M", NULL },
	{ "size", "3G", "3G", NULL },
	{ "size", "2T", "2T", NULL },
	{ "size", "16777216T", NULL, "expected a size" },
	{ "size", "64k", NULL, "expected a size like 4096, 64K, 16M or 1G, got '64k'" },
	{ "size", "64KiB", NULL, "expected a size" },
	{ "list", "[1, 2, 65535]", NULL, NULL },
	{ "list", "[]", NULL, NULL },
	{ "list", "[1, 2, 3, 4]", NULL, "list: too many entries: 4, at most 3" },
	{ "list", "[1, 65536]", NULL, "list[1]: '65536' is out of range" },
	{ "list", "[[1]]", NULL, "list[0]: expected an integer, got a list" },
	{ "list", "1", NULL, "list: expected a list, got '1'" },
};

Test(cfg_types, edge_cases)
{
	for (size_t i = 0; i < LOOM_ARRAY_SIZE(type_cases); i++) {
		const struct type_case *tc = &type_cases[i];
		char text[256], want[256];
		struct types t;
		struct cfg_diag d;

		snprintf(text, sizeof(text), "%s: %s\n", tc->key, tc->value);
		int rc = cfg_load_buffer("t.yaml", text, strlen(text), &types_schema, &t, &d);
		bool should_load = tc->canonical || !tc->error;
		if (!should_load) {
			cr_expect_lt(rc, 0, "%s should be refused", text);
			cr_expect_eq(d.n, 1, "%s: %u errors", text, d.n);
			cr_expect(d.n && strstr(d.msg[0], tc->error), "%s: got \"%s\", want \"%s\"",
				  text, d.n ? d.msg[0] : "", tc->error);
			cr_expect(d.n && !strncmp(d.msg[0], "t.yaml:1:", 9), "%s: no position", text);
			continue;
		}
		cr_expect_eq(rc, 0, "%s should load: %s", text, d.n ? d.msg[0] : "");
		if (rc)
			continue;
		char *out = dump_to_string(&types_schema, &t);
		if (tc->canonical) {
			char nl_out[2048];
			snprintf(nl_out, sizeof(nl_out), "\n%s", out);
			snprintf(want, sizeof(want), "\n%s: %s\n", tc->key, tc->canonical);
			cr_expect(strstr(nl_out, want) != NULL, "%s: canonical %s not in:\n%s", text,
				  tc->canonical, out);
		}
		/* every accepted value survives the round trip */
		struct types t2;
		cr_expect_eq(cfg_load_buffer("dump", out, strlen(out), &types_schema, &t2, &d), 0,
			     "%s: dump does not load: %s", text, d.n ? d.msg[0] : "");
		char *out2 = dump_to_string(&types_schema, &t2);
		cr_expect_str_eq(out2, out);
		cr_expect_eq(memcmp(&t, &t2, sizeof(t)), 0, "%s: round trip changed the struct", text);
		free(out);
		free(out2);
	}
}

Test(cfg_types, list_values_and_count)
{
	struct types t;
	struct cfg_diag d;
	const char *text = "list: [1, 2, 65535]\n";

	cr_assert_eq(cfg_load_buffer("t", text, strlen(text), &types_schema, &t, &d), 0);
	cr_assert_eq(t.n_list, 3);
	cr_assert_eq(t.list[0], 1);
	cr_assert_eq(t.list[2], 65535);
	char *out = dump_to_string(&types_schema, &t);
	cr_assert(strstr(out, "\nlist:\n  - 1\n  - 2\n  - 65535\n"), "%s", out);
	free(out);
}

/* ---- caps ----------------------------------------------------------------------------- */

Test(cfg_caps, file_size)
{
	size_t len = CFG_MAX_FILE_SIZE + 1;
	char *big = malloc(len);
	struct ex_config c;
	struct cfg_diag d;

	memset(big, '#', len);
	cr_assert_eq(cfg_load_buffer("big", big, len, &ex_config_schema, &c, &d), -EFBIG);
	cr_assert_str_eq(d.msg[0], "big: file too large: 1048577 bytes, at most 1048576");

	/* A comment-only file of exactly the cap is read, and found incomplete. */
	char path[] = "/tmp/loom-cfg-big-XXXXXX";
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, big, CFG_MAX_FILE_SIZE), CFG_MAX_FILE_SIZE);
	cr_assert_eq(cfg_load_file(path, &ex_config_schema, &c, &d), -EINVAL);
	cr_assert(strstr(d.msg[0], "missing required key 'instance'"), "%s", d.msg[0]);
	cr_assert_eq(write(fd, "\n", 1), 1);
	cr_assert_eq(cfg_load_file(path, &ex_config_schema, &c, &d), -EFBIG);
	cr_assert(strstr(d.msg[0], "file too large"));
	close(fd);
	unlink(path);
	free(big);
}

Test(cfg_caps, nesting_depth)
{
	char text[512];
	struct ex_config c;
	struct cfg_diag d;
	size_t o;

	/* CFG_MAX_DEPTH levels (root included) are fine for the tree... */
	o = (size_t)snprintf(text, sizeof(text), "instance: [");
	for (int i = 1; i < CFG_MAX_DEPTH - 1; i++)
		text[o++] = '[';
	for (int i = 0; i < CFG_MAX_DEPTH - 1; i++)
		text[o++] = ']';
	text[o] = '\0';
	cr_assert_eq(cfg_load_buffer("deep", text, o, &ex_config_schema, &c, &d), -EINVAL);
	cr_assert(strstr(d.msg[0], "instance: expected a string, got a list"), "%s", d.msg[0]);

	/* ...one more is refused before the schema sees it. */
	o = (size_t)snprintf(text, sizeof(text), "instance: [");
	for (int i = 0; i < CFG_MAX_DEPTH - 1; i++)
		text[o++] = '[';
	text[o] = '\0';
	cr_assert_eq(cfg_load_buffer("deep", text, o, &ex_config_schema, &c, &d), -EINVAL);
	cr_assert_eq(d.n, 1);
	cr_assert_str_eq(d.msg[0], "deep:1:42: nested too deeply: at most 32 levels");
}

Test(cfg_caps, node_count)
{
	size_t cap = (size_t)CFG_MAX_NODES * 3 + 64;
	char *text = malloc(cap);
	size_t o = (size_t)snprintf(text, cap, "interfaces: [");
	struct ex_config c;
	struct cfg_diag d;

	for (int i = 0; i < CFG_MAX_NODES; i++) {
		text[o++] = '1';
		text[o++] = ',';
	}
	text[o++] = ']';
	cr_assert_lt(o, cap);
	cr_assert_eq(cfg_load_buffer("many", text, o, &ex_config_schema, &c, &d), -EINVAL);
	cr_assert_eq(d.n, 1);
	cr_assert(strstr(d.msg[0], "too many values: at most 65536"), "%s", d.msg[0]);
	free(text);
}

Test(cfg_caps, errors_are_collected_then_counted)
{
	char text[4096];
	size_t o = 0;
	struct ex_config c;
	struct cfg_diag d;

	for (int i = 0; i < 40; i++)
		o += (size_t)snprintf(text + o, sizeof(text) - o, "bogus-%d: 1\n", i);
	cr_assert_eq(cfg_load_buffer("e", text, o, &ex_config_schema, &c, &d), -EINVAL);
	cr_assert_eq(d.n, CFG_DIAG_MAX);
	cr_assert_eq(d.dropped, 40 + 2 - CFG_DIAG_MAX, "40 unknown + 2 missing required");
	cr_assert_str_eq(d.msg[0], "e:1:1: unknown key 'bogus-0'");
	cr_assert_str_eq(d.msg[15], "e:16:1: unknown key 'bogus-15'");
}

Test(cfg_verify, errors_point_at_the_key)
{
	const char *text = "instance: x\n"
			   "managers:\n"
			   "  - {endpoint: 'tcp://a:1', public-key: '" K1 "'}\n"
			   "  - {endpoint: 'tcp://a:1', public-key: '" K1 "'}\n"
			   "limits:\n"
			   "  punt-rate: 10\n"
			   "  punt-burst: 9\n";
	struct ex_config c;
	struct cfg_diag d;

	cr_assert_eq(cfg_load_buffer("v", text, strlen(text), &ex_config_schema, &c, &d), -EINVAL);
	cr_assert_eq(d.n, 2);
	cr_assert_str_eq(d.msg[0], "v:7:3: limits.punt-burst: must be at least punt-rate (10)");
	cr_assert_str_eq(d.msg[1], "v:4:6: managers[1].endpoint: same endpoint as managers[0]");
}

Test(cfg_verify, not_run_on_a_map_with_errors)
{
	const char *text = "instance: x\nmanagers: []\nlimits:\n  punt-rate: 10\n  punt-burst: 0\n";
	struct ex_config c;
	struct cfg_diag d;

	cr_assert_eq(cfg_load_buffer("v", text, strlen(text), &ex_config_schema, &c, &d), -EINVAL);
	cr_assert_eq(d.n, 1, "only the range error, no cascade: %s", d.n > 1 ? d.msg[1] : "");
	cr_assert(strstr(d.msg[0], "limits.punt-burst: '0' is out of range"), "%s", d.msg[0]);
}

/* ---- the schema itself ---------------------------------------------------------------- */

Test(cfg_schema, example_schemas_are_valid)
{
	char why[256];

	cr_assert_eq(cfg_schema_check(&ex_config_schema, why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(cfg_schema_check(&types_schema, why, sizeof(why)), 0, "%s", why);
}

struct two {
	uint32_t a;
	bool b;
	uint16_t list[4];
	unsigned n_list;
	char s[8];
};

static const struct cfg_field zero_elem = { .key = "x", .type = CFG_UINT, .size = 0 };
static const struct cfg_schema self_schema;
static const struct cfg_field self_rows[] = {
	{ .key = "me", .type = CFG_MAP, .offset = 0, .size = sizeof(struct two), .sub = &self_schema },
};
static const struct cfg_schema self_schema = CFG_SCHEMA("self", struct two, self_rows, NULL);

/* One mistake per row; each schema is rows[0] plus a valid uint. */
static const struct schema_case {
	struct cfg_field row;
	const char *why;
} schema_cases[] = {
	{ { .key = "a", .type = CFG_UINT, .offset = 0, .size = 0 }, "width 0: must be 1, 2, 4 or 8" },
	{ { .key = "a", .type = CFG_UINT, .offset = 0, .size = 3 }, "width 3" },
	{ { .key = "a", .type = CFG_UINT, CFG_AT(struct two, a), .max = 1ull << 32 }, "does not fit 4 bytes" },
	{ { .key = "a", .type = CFG_UINT, CFG_AT(struct two, a), .min = 9, .max = 8 }, "range 9..8" },
	{ { .key = "a", .type = CFG_INT, CFG_AT(struct two, a), .smin = 1, .smax = -1 }, "range 1..-1" },
	{ { .key = "a", .type = CFG_DURATION, CFG_AT(struct two, a), .def = "5" }, "bad default: expected a duration" },
	{ { .key = "a", .type = CFG_UINT, CFG_AT(struct two, a), .def = "1", .required = true }, "required key" },
	{ { .key = "b", .type = CFG_BOOL, CFG_AT(struct two, a) }, "a bool has size 1, not 4" },
	{ { .key = "e", .type = CFG_ENUM, CFG_AT(struct two, a) }, "an enum needs names" },
	{ { .key = "s", .type = CFG_STRING, CFG_AT(struct two, s), .min = 8 }, "cannot hold 8 bytes" },
	{ { .key = "s", .type = CFG_ADDR, CFG_AT(struct two, s) }, "an address has size 16" },
	{ { .key = "c", .type = CFG_CUSTOM, CFG_AT(struct two, s) }, "needs parse, dump" },
	{ { .key = "l", .type = CFG_LIST, CFG_AT(struct two, list), CFG_COUNT(struct two, n_list) }, "needs elem" },
	{ { .key = "l", .type = CFG_LIST, CFG_AT(struct two, list), CFG_COUNT(struct two, n_list),
	    .elem = &zero_elem }, "not a whole number of 0-byte elements" },
	{ { .key = "l", .type = CFG_LIST, CFG_AT(struct two, list), .count_offset = sizeof(struct two),
	    .elem = &u16_elem }, "the count is outside" },
	{ { .key = "m", .type = CFG_MAP, CFG_AT(struct two, s) }, "a map needs sub" },
	{ { .key = "m", .type = CFG_MAP, CFG_AT(struct two, s), .sub = &types_schema }, "sub 'types' is" },
	{ { .key = "m", .type = CFG_LIST_MAP, CFG_AT(struct two, list), .sub = &types_schema }, "not a whole number" },
	{ { .key = "m", .type = CFG_MAP, .offset = 0, .size = sizeof(struct two), .sub = &self_schema }, "nested more than 32" },
	{ { .key = "z", .type = CFG_UINT, .offset = sizeof(struct two), .size = 4 }, "outside the struct" },
	{ { .key = "u", .type = CFG_UINT, CFG_AT(struct two, a) }, "the key appears twice" },
	{ { .key = "", .type = CFG_UINT, CFG_AT(struct two, a) }, "a row without a key" },
	{ { .key = "l", .type = CFG_LIST, CFG_AT(struct two, list), CFG_COUNT(struct two, n_list),
	    .elem = &u16_elem, .def = "[1]" }, "only scalars have defaults" },
};

Test(cfg_schema, mistakes_are_refused_before_loading)
{
	for (size_t i = 0; i < LOOM_ARRAY_SIZE(schema_cases); i++) {
		struct cfg_field rows[2] = {
			schema_cases[i].row,
			{ .key = "u", .type = CFG_UINT, CFG_AT(struct two, a) },
		};
		struct cfg_schema s = CFG_SCHEMA("two", struct two, rows, NULL);
		char why[256];
		struct two obj;
		struct cfg_diag d;

		cr_expect_eq(cfg_schema_check(&s, why, sizeof(why)), -EINVAL, "case %zu passes", i);
		cr_expect(strstr(why, schema_cases[i].why), "case %zu: got \"%s\", want \"%s\"", i,
			  why, schema_cases[i].why);
		/* The loader never applies it, and says why in one line. */
		cr_expect_eq(cfg_load_buffer("t", "u: 1\n", 5, &s, &obj, &d), -EINVAL, "case %zu", i);
		cr_expect(d.n == 1 && !strncmp(d.msg[0], "t: invalid schema '", 19),
			  "case %zu: %s", i, d.n ? d.msg[0] : "");
	}
}

Test(cfg_schema, more_rows_than_the_loader_tracks)
{
	static char keys[CFG_MAX_FIELDS + 1][8];
	struct cfg_field rows[CFG_MAX_FIELDS + 1];
	struct cfg_schema s = { .name = "wide", .size = sizeof(bool), .fields = rows,
				.n_fields = CFG_MAX_FIELDS + 1 };
	char text[64], why[256];
	bool obj;
	struct cfg_diag d;

	for (size_t i = 0; i < LOOM_ARRAY_SIZE(rows); i++) {
		snprintf(keys[i], sizeof(keys[i]), "k%zu", i);
		rows[i] = (struct cfg_field){ .key = keys[i], .type = CFG_BOOL, .size = sizeof(bool) };
	}
	/* The last row's state would go one past found[CFG_MAX_FIELDS]. */
	snprintf(text, sizeof(text), "k%d: true\nk%d: false\n", CFG_MAX_FIELDS, CFG_MAX_FIELDS);
	cr_assert_eq(cfg_load_buffer("t", text, strlen(text), &s, &obj, &d), -EINVAL);
	cr_assert_eq(d.n, 1, "the schema, not the duplicate key: %s", d.msg[1]);
	cr_assert_str_eq(d.msg[0], "t: invalid schema 'wide': 65 rows, at most 64");
	cr_assert_eq(cfg_schema_check(&s, why, sizeof(why)), -EINVAL);
	s.n_fields = CFG_MAX_FIELDS;
	cr_assert_eq(cfg_schema_check(&s, why, sizeof(why)), 0, "%s", why);
}

/* ---- dump ------------------------------------------------------------------------------ */

struct long_values {
	char s[2048];
	char c[1600];
	char ep[1200];
};

static int parse_text(const struct cfg_field *f, const char *s, size_t len, void *field,
		      char *why, size_t whylen)
{
	if (len + 1 > f->size) {
		snprintf(why, whylen, "too long");
		return -EINVAL;
	}
	memset(field, 0, f->size);
	memcpy(field, s, len);
	return 0;
}

static void dump_text(const struct cfg_field *f, const void *field, char *buf, size_t len)
{
	snprintf(buf, len, "%.*s", (int)strnlen(field, f->size), (const char *)field);
}

static const struct cfg_field long_rows[] = {
	{ .key = "s", .type = CFG_STRING, CFG_AT(struct long_values, s) },
	{ .key = "c", .type = CFG_CUSTOM, CFG_AT(struct long_values, c), .parse = parse_text,
	  .dump = dump_text },
	{ .key = "ep", .type = CFG_ENDPOINT, CFG_AT(struct long_values, ep), .def = "inproc://x" },
};
static const struct cfg_schema long_schema =
	CFG_SCHEMA("long", struct long_values, long_rows, NULL);

Test(cfg_dump, values_of_any_length_round_trip)
{
	struct long_values a, b;
	struct cfg_diag d;
	size_t o;
	char *text = malloc(8192);

	/* Each the longest its field holds; the string with escapes too. */
	o = (size_t)sprintf(text, "s: \"");
	for (size_t i = 0; i < sizeof(a.s) - 1; i++)
		text[o++] = i % 100 == 7 ? '\t' : (char)('a' + i % 26);
	o += (size_t)sprintf(text + o, "\"\nc: ");
	memset(text + o, 'c', sizeof(a.c) - 1);
	o += sizeof(a.c) - 1;
	o += (size_t)sprintf(text + o, "\nep: inproc://");
	memset(text + o, 'e', sizeof(a.ep) - 1 - 9);
	o += sizeof(a.ep) - 1 - 9;
	text[o++] = '\n';

	cr_assert_eq(cfg_load_buffer("t", text, o, &long_schema, &a, &d), 0, "%s", d.msg[0]);
	cr_assert_eq(strlen(a.s), sizeof(a.s) - 1);
	cr_assert_eq(strlen(a.c), sizeof(a.c) - 1);
	cr_assert_eq(strlen(a.ep), sizeof(a.ep) - 1);
	char *out = dump_to_string(&long_schema, &a);
	cr_assert_eq(cfg_load_buffer("dump", out, strlen(out), &long_schema, &b, &d), 0,
		     "dump does not load: %s", d.msg[0]);
	cr_assert_eq(memcmp(&a, &b, sizeof(a)), 0, "the dump cut a value");
	char *out2 = dump_to_string(&long_schema, &b);
	cr_assert_str_eq(out2, out);
	free(out);
	free(out2);
	free(text);
}

Test(cfg_dump, stream_errors_come_back_as_errno)
{
	struct ex_config c;
	struct cfg_diag d;
	const char *text = "instance: x\nmanagers: []\n";
	FILE *full = fopen("/dev/full", "w");

	cr_assert_not_null(full);
	cr_assert_eq(cfg_load_buffer("t", text, strlen(text), &ex_config_schema, &c, &d), 0);
	cr_assert_eq(cfg_dump(&ex_config_schema, &c, full), -ENOSPC);
	fclose(full);
}
