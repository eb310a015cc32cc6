/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Configuration loading: YAML file -> C struct, through a schema table.
 *
 * After systemd-networkd: a daemon declares its configuration as a table of
 * rows, each mapping a key to a type and a field (offset and size) of its
 * config struct. Loading is three steps:
 *   1. parse the YAML into a node tree with line/column marks, bounded
 *      (CFG_MAX_FILE_SIZE, CFG_MAX_DEPTH, CFG_MAX_NODES); anchors, aliases,
 *      tags and multi-document files are refused;
 *   2. apply the schema: each key in document order is looked up (unknown
 *      and duplicate keys are errors), parsed by its type and stored; then
 *      missing keys take their default or, if required, are errors;
 *   3. verify: each schema may have a verify function for rules that span
 *      fields; it runs on a map only if step 2 found no error inside it.
 * Everything is stored inline in the struct (fixed arrays with a count for
 * lists, char arrays for strings), so a loaded config owns no memory and
 * needs no free; it can be copied with memcpy and compared with memcmp
 * (strings and unused list slots are zero-filled).
 *
 * cfg_dump() writes a loaded struct back as canonical YAML through the same
 * schema: every key, defaults filled in, in schema order. dump -> load ->
 * dump is the identity; golden tests compare dumps.
 *
 * Errors are collected (up to CFG_DIAG_MAX, then counted) rather than
 * stopping at the first, each as one line:
 *     path/file.yaml:12:5: managers[1].endpoint: expected an endpoint ...
 * Library code: nothing here logs; the caller prints the diag.
 * Not thread-safe per call object; distinct calls may run concurrently.
 */
#ifndef LOOM_COMMON_CFG_H
#define LOOM_COMMON_CFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/compiler.h"

#define CFG_MAX_FILE_SIZE (1u << 20) /* bytes */
#define CFG_MAX_DEPTH 32             /* nested maps and lists */
#define CFG_MAX_NODES 65536          /* scalars, maps and lists */
#define CFG_MAX_FIELDS 64            /* rows per schema */
#define CFG_DIAG_MAX 16
#define CFG_DIAG_LEN 384

enum cfg_type {
	CFG_BOOL,     /* bool: true/false (also yes/no, on/off) */
	CFG_UINT,     /* uint8/16/32/64_t by size; range [min, max] */
	CFG_INT,      /* int8/16/32/64_t by size; range [smin, smax] */
	CFG_STRING,   /* char[size]: at most size-1 bytes, at least min */
	CFG_ENUM,     /* unsigned integer by size: index into names */
	CFG_ADDR,     /* uint8_t[16]: IPv6, or IPv4 stored IPv4-mapped */
	CFG_PREFIX,   /* struct cfg_prefix: "addr/len", host bits zero */
	CFG_ENDPOINT, /* char[size]: tcp://host:port, ipc:///path, inproc://name */
	CFG_DURATION, /* uint32/64_t milliseconds: 250ms, 5s, 2m, 1h; range in ms */
	CFG_SIZE,     /* uint32/64_t bytes: 4096, 64K, 16M, 1G (powers of 1024) */
	CFG_LIST,     /* array of scalars described by elem */
	CFG_LIST_MAP, /* array of structs described by sub */
	CFG_MAP,      /* nested struct described by sub */
	CFG_CUSTOM,   /* scalar handled by parse/dump */
};

struct cfg_prefix {
	uint8_t addr[16]; /* IPv4-mapped for IPv4 */
	uint8_t mask[16]; /* in the same 16-byte space */
	uint8_t len;      /* as written: 0-32 for IPv4, 0-128 for IPv6 */
	bool v4;
};

struct cfg_field;

/*
 * A custom scalar. parse gets the scalar text (NUL-terminated, len bytes, no
 * NUL inside) and the field; on error it returns a negative errno and writes
 * a reason ("expected ..., got ...") into why. dump writes text that parse
 * accepts into buf, NUL-terminated and cut to len - 1 bytes like snprintf()
 * (the dump quotes it). Text that fills buf may have been cut, so cfg_dump()
 * calls dump again with a larger buf: it must only format, never count.
 */
typedef int cfg_parse_fn(const struct cfg_field *f, const char *s, size_t len, void *field,
			 char *why, size_t whylen);
typedef void cfg_dump_fn(const struct cfg_field *f, const void *field, char *buf, size_t len);

struct cfg_verify;
struct cfg_schema;

/*
 * One row. Unused members stay zero. For CFG_UINT, CFG_DURATION and
 * CFG_SIZE, max == 0 means the largest value of the field's width; for
 * CFG_INT, smin == smax == 0 means the whole range of the field's width.
 */
struct cfg_field {
	const char *key;
	enum cfg_type type;
	size_t offset;
	size_t size;          /* of the field; for lists, of the whole array */
	bool required;
	const char *def;      /* default, in the key's own YAML syntax */
	uint64_t min, max;    /* CFG_UINT/DURATION/SIZE range, CFG_STRING min length */
	int64_t smin, smax;   /* CFG_INT range */
	const char *const *names;        /* CFG_ENUM, NULL-terminated */
	const struct cfg_schema *sub;    /* CFG_MAP, CFG_LIST_MAP */
	const struct cfg_field *elem;    /* CFG_LIST element (offset ignored) */
	size_t count_offset;  /* lists: offset of an `unsigned int` count */
	cfg_parse_fn *parse;  /* CFG_CUSTOM */
	cfg_dump_fn *dump;    /* CFG_CUSTOM */
};

/* Cross-field rules; report with cfg_verify_error(). obj is the map's struct. */
typedef void cfg_verify_fn(struct cfg_verify *v, const void *obj);

struct cfg_schema {
	const char *name;              /* for messages and docs */
	size_t size;                   /* sizeof the struct */
	const struct cfg_field *fields;
	size_t n_fields;               /* at most CFG_MAX_FIELDS (CFG_SCHEMA checks) */
	cfg_verify_fn *verify;
};

/*
 * Row helpers: CFG_AT(struct, member) fills offset and size. CFG_SCHEMA
 * refuses to compile a table longer than CFG_MAX_FIELDS (the loader keeps
 * per-row state in arrays of that size); cfg_schema_check() checks the rest.
 */
#define CFG_AT(type, member) .offset = offsetof(type, member), .size = sizeof(((type *)0)->member)
#define CFG_COUNT(type, member) .count_offset = offsetof(type, member)
#define CFG_SCHEMA(sname, type, rows, verify_fn)                                   \
	{ .name = (sname), .size = sizeof(type), .fields = (rows),                 \
	  .n_fields = LOOM_ARRAY_SIZE(rows) + 0 * sizeof(struct {                  \
		_Static_assert(LOOM_ARRAY_SIZE(rows) <= CFG_MAX_FIELDS,            \
			       "schema " #rows " has more than CFG_MAX_FIELDS rows"); \
		int unused; }),                                                    \
	  .verify = (verify_fn) }

struct cfg_diag {
	unsigned n;       /* messages in msg[] */
	unsigned dropped; /* further errors not recorded */
	char msg[CFG_DIAG_MAX][CFG_DIAG_LEN];
};

/*
 * Is the schema itself right? Every row of it and of its sub-schemas, to
 * CFG_MAX_DEPTH: at most CFG_MAX_FIELDS rows, keys present and unique,
 * fields inside the struct, integer widths 1, 2, 4 or 8 with ranges that fit,
 * bool/address/prefix sizes, strings with room for min and a NUL, enum
 * names, custom parse and dump, elem and sub present with sizes that divide
 * the array (a map's sub the size of its field), list counts inside the
 * struct, and defaults that parse (only on optional scalars). Returns 0, or
 * -EINVAL with the first mistake in why (may be NULL). The loaders call it
 * first; daemons' unit tests should call it on their schemas.
 */
int cfg_schema_check(const struct cfg_schema *schema, char *why, size_t whylen);

/*
 * Load and verify a file into obj (schema->size bytes, zeroed first).
 * Returns 0, -EINVAL when the configuration is wrong (diag says why) or the
 * schema is (a programming error: cfg_schema_check() fails, logged at debug
 * and one diag line), or
 * another negative errno when the file cannot be read (-ENOENT, -EFBIG for
 * more than CFG_MAX_FILE_SIZE, ...; diag has one line too). On error obj
 * holds a partial result: do not use it. diag may be NULL.
 */
int cfg_load_file(const char *path, const struct cfg_schema *schema, void *obj,
		  struct cfg_diag *diag);
/* The same from memory; name is used in messages (e.g. "<stdin>"). */
int cfg_load_buffer(const char *name, const void *buf, size_t len,
		    const struct cfg_schema *schema, void *obj, struct cfg_diag *diag);

/*
 * Canonical YAML of a loaded obj: every valid value in full, whatever its
 * length. Returns 0, -errno from the stream (-ENOSPC, -EIO, ...), or
 * -ENOMEM.
 */
int cfg_dump(const struct cfg_schema *schema, const void *obj, FILE *out);

/*
 * For verify functions: report an error at `where`, a key path relative to
 * the map being verified ("endpoint", "managers[1].endpoint"); the message
 * carries that key's line and column, or the map's when it is absent. NULL
 * and "" both mean the map itself: the message has the map's path and mark.
 */
void cfg_verify_error(struct cfg_verify *v, const char *where, const char *fmt, ...)
	LOOM_PRINTF(3, 4);

/* ---- Custom scalars every daemon uses (CFG_CUSTOM rows) ---------------- */

/* A CurveZMQ key: 40 characters of Z85 in a char[CFG_Z85_LEN + 1]; "" = none. */
#define CFG_Z85_LEN 40
cfg_parse_fn cfg_parse_z85key;
cfg_dump_fn cfg_dump_z85key;

/* An HMAC key written as 32 to 64 hex digits (16 to 32 bytes); len 0 = none. */
struct cfg_hexkey {
	uint8_t key[32];
	uint8_t len;
};
cfg_parse_fn cfg_parse_hexkey;
cfg_dump_fn cfg_dump_hexkey;

/*
 * Read a CurveZMQ secret key (40 Z85 characters, one line) from a file that
 * only its owner may read. 0, -errno, or -EINVAL for anything else.
 */
int cfg_read_z85_file(const char *path, char out[CFG_Z85_LEN + 1]);

/* All messages of diag, one per line, into out (convenience for daemons). */
void cfg_diag_print(const struct cfg_diag *diag, FILE *out);

#endif
