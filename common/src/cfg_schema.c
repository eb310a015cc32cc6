// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Checking a schema itself. A wrong row is a programming error, not a
 * configuration error: the loader refuses to apply a schema that fails here
 * (-EINVAL, a debug log and one diag line) instead of letting the mistake
 * reach users as "bad default" or "at most 18446744073709551615", divide by
 * a zero element size, or index past found[CFG_MAX_FIELDS].
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cfg-internal.h"

struct check {
	char *why;
	size_t len;
};

LOOM_PRINTF(4, 5)
static int bad(struct check *c, const struct cfg_schema *s, const struct cfg_field *f,
	       const char *fmt, ...)
{
	char msg[CFG_DIAG_LEN / 2];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (c->why && c->len) {
		if (f)
			snprintf(c->why, c->len, "schema '%s', key '%s': %s",
				 s->name ? s->name : "?", f->key ? f->key : "?", msg);
		else
			snprintf(c->why, c->len, "schema '%s': %s", s->name ? s->name : "?", msg);
	}
	return -EINVAL;
}

static bool width_ok(size_t size)
{
	return size == 1 || size == 2 || size == 4 || size == 8;
}

static int check_schema(struct check *c, const struct cfg_schema *s, unsigned depth);

/* The row's own type, width and range; lists' elements come here too. */
static int check_scalar(struct check *c, const struct cfg_schema *s, const struct cfg_field *f)
{
	size_t n = 0;

	switch (f->type) {
	case CFG_BOOL:
		if (f->size != sizeof(bool))
			return bad(c, s, f, "a bool has size %zu, not %zu", sizeof(bool), f->size);
		return 0;
	case CFG_UINT:
	case CFG_DURATION:
	case CFG_SIZE:
		if (!width_ok(f->size))
			return bad(c, s, f, "width %zu: must be 1, 2, 4 or 8", f->size);
		if (f->max > cfg_width_max(f->size) ||
		    f->min > (f->max ? f->max : cfg_width_max(f->size)))
			return bad(c, s, f, "range %" PRIu64 "..%" PRIu64 " does not fit %zu bytes",
				   f->min, f->max, f->size);
		return 0;
	case CFG_INT: {
		int64_t wmax;

		if (!width_ok(f->size))
			return bad(c, s, f, "width %zu: must be 1, 2, 4 or 8", f->size);
		wmax = cfg_width_smax(f->size);
		if (f->smin > f->smax || f->smin < -wmax - 1 || f->smax > wmax)
			return bad(c, s, f, "range %" PRId64 "..%" PRId64 " does not fit %zu bytes",
				   f->smin, f->smax, f->size);
		return 0;
	}
	case CFG_STRING:
	case CFG_ENDPOINT:
		if (f->size < 2 || f->min > f->size - 1)
			return bad(c, s, f, "a char[%zu] cannot hold %" PRIu64 " bytes and a NUL",
				   f->size, f->min > 1 ? f->min : 1);
		return 0;
	case CFG_ENUM:
		if (!width_ok(f->size))
			return bad(c, s, f, "width %zu: must be 1, 2, 4 or 8", f->size);
		if (!f->names || !f->names[0])
			return bad(c, s, f, "an enum needs names");
		while (f->names[n])
			n++;
		if (n - 1 > cfg_width_max(f->size))
			return bad(c, s, f, "%zu names do not fit %zu bytes", n, f->size);
		return 0;
	case CFG_ADDR:
		return f->size == 16 ? 0 : bad(c, s, f, "an address has size 16, not %zu", f->size);
	case CFG_PREFIX:
		if (f->size != sizeof(struct cfg_prefix))
			return bad(c, s, f, "a prefix is a struct cfg_prefix, not %zu bytes", f->size);
		return 0;
	case CFG_CUSTOM:
		if (!f->parse || !f->dump || !f->size)
			return bad(c, s, f, "a custom row needs parse, dump and a size");
		return 0;
	case CFG_LIST:
	case CFG_LIST_MAP:
	case CFG_MAP:
		break;
	}
	return bad(c, s, f, "type %d is not a scalar type", (int)f->type);
}

/* A default must load exactly as a user's value would. */
static int check_default(struct check *c, const struct cfg_schema *s, const struct cfg_field *f)
{
	char why[CFG_DIAG_LEN / 2];
	void *scratch;
	int err = 0;

	if (!f->def)
		return 0;
	if (f->required)
		return bad(c, s, f, "a required key has no use for a default");
	scratch = calloc(1, f->size);
	if (!scratch)
		return -ENOMEM;
	why[0] = '\0';
	if (cfg_scalar_parse(f, f->def, strlen(f->def), scratch, why, sizeof(why)) < 0)
		err = bad(c, s, f, "bad default: %s", why);
	free(scratch);
	return err;
}

static int check_row(struct check *c, const struct cfg_schema *s, const struct cfg_field *f,
		     unsigned depth)
{
	size_t esize;
	int err;

	if (!f->key || !*f->key)
		return bad(c, s, f, "a row without a key");
	if (f->def && !cfg_type_is_scalar(f->type))
		return bad(c, s, f, "only scalars have defaults");
	if (f->offset > s->size || f->size > s->size - f->offset)
		return bad(c, s, f, "field [%zu, +%zu) is outside the struct (%zu bytes)",
			   f->offset, f->size, s->size);
	switch (f->type) {
	case CFG_MAP:
		if (!f->sub)
			return bad(c, s, f, "a map needs sub");
		if (f->sub->size != f->size)
			return bad(c, s, f, "sub '%s' is %zu bytes, the field %zu",
				   f->sub->name ? f->sub->name : "?", f->sub->size, f->size);
		return check_schema(c, f->sub, depth + 1);
	case CFG_LIST:
	case CFG_LIST_MAP:
		if (f->type == CFG_LIST && (!f->elem || !cfg_type_is_scalar(f->elem->type)))
			return bad(c, s, f, "a list needs elem, a scalar row");
		if (f->type == CFG_LIST_MAP && !f->sub)
			return bad(c, s, f, "a list of maps needs sub");
		esize = f->type == CFG_LIST ? f->elem->size : f->sub->size;
		if (!esize || f->size % esize)
			return bad(c, s, f, "%zu bytes are not a whole number of %zu-byte elements",
				   f->size, esize);
		if (f->count_offset > s->size || s->size - f->count_offset < sizeof(unsigned))
			return bad(c, s, f, "the count is outside the struct");
		if (f->type == CFG_LIST_MAP)
			return check_schema(c, f->sub, depth + 1);
		return check_scalar(c, s, f->elem); /* an element's def is never used */
	default:
		err = check_scalar(c, s, f);
		return err ? err : check_default(c, s, f);
	}
}

static int check_schema(struct check *c, const struct cfg_schema *s, unsigned depth)
{
	int err;

	/* Deeper than a file can nest, so also the end of a schema that contains itself. */
	if (depth >= CFG_MAX_DEPTH)
		return bad(c, s, NULL, "nested more than %d levels", CFG_MAX_DEPTH);
	if (!s->name || !s->size || (s->n_fields && !s->fields))
		return bad(c, s, NULL, "needs a name, a size and its rows");
	if (s->n_fields > CFG_MAX_FIELDS)
		return bad(c, s, NULL, "%zu rows, at most %d", s->n_fields, CFG_MAX_FIELDS);
	for (size_t i = 0; i < s->n_fields; i++) {
		err = check_row(c, s, &s->fields[i], depth);
		if (err)
			return err;
		for (size_t j = 0; j < i; j++)
			if (!strcmp(s->fields[j].key, s->fields[i].key))
				return bad(c, s, &s->fields[i], "the key appears twice");
	}
	return 0;
}

int cfg_schema_check(const struct cfg_schema *schema, char *why, size_t whylen)
{
	struct check c = { .why = why, .len = whylen };

	if (why && whylen)
		why[0] = '\0';
	return check_schema(&c, schema, 0);
}
