// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Canonical YAML of a loaded struct: every key in schema order, two-space
 * indentation, strings always double-quoted (escapes for '"', '\' and
 * control bytes), empty lists as []. The loader accepts everything written
 * here, so dump -> load -> dump is the identity.
 */
#include <errno.h>
#include <string.h>

#include "cfg-internal.h"

static void put_quoted(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			fprintf(out, "\\x%02x", c);
		else
			fputc(c, out);
	}
	fputc('"', out);
}

static void put_scalar(FILE *out, const struct cfg_field *f, const void *field)
{
	char buf[512];
	bool quote;

	cfg_scalar_format(f, field, buf, sizeof(buf), &quote);
	if (quote)
		put_quoted(out, buf);
	else
		fputs(buf, out);
}

static void dump_map(FILE *out, const struct cfg_schema *s, const void *obj, int indent,
		     bool list_item);

static void dump_field(FILE *out, const struct cfg_field *f, const void *obj, int indent)
{
	const uint8_t *base = (const uint8_t *)obj;
	unsigned count;

	switch (f->type) {
	case CFG_MAP:
		fprintf(out, "%s:\n", f->key);
		dump_map(out, f->sub, base + f->offset, indent + 2, false);
		return;
	case CFG_LIST:
	case CFG_LIST_MAP: {
		size_t esize = f->type == CFG_LIST ? f->elem->size : f->sub->size;
		memcpy(&count, base + f->count_offset, sizeof(count));
		if (count > f->size / esize)
			count = (unsigned)(f->size / esize);
		if (!count) {
			fprintf(out, "%s: []\n", f->key);
			return;
		}
		fprintf(out, "%s:\n", f->key);
		for (unsigned i = 0; i < count; i++) {
			const uint8_t *e = base + f->offset + i * esize;
			if (f->type == CFG_LIST) {
				fprintf(out, "%*s- ", indent + 2, "");
				put_scalar(out, f->elem, e);
				fputc('\n', out);
			} else {
				dump_map(out, f->sub, e, indent + 4, true);
			}
		}
		return;
	}
	default:
		fprintf(out, "%s: ", f->key);
		put_scalar(out, f, base + f->offset);
		fputc('\n', out);
		return;
	}
}

/* A list item's first key goes on the "- " line, two columns left. */
static void dump_map(FILE *out, const struct cfg_schema *s, const void *obj, int indent,
		     bool list_item)
{
	for (size_t i = 0; i < s->n_fields; i++) {
		if (i == 0 && list_item)
			fprintf(out, "%*s- ", indent - 2, "");
		else
			fprintf(out, "%*s", indent, "");
		dump_field(out, &s->fields[i], obj, indent);
	}
}

int cfg_dump(const struct cfg_schema *schema, const void *obj, FILE *out)
{
	dump_map(out, schema, obj, 0, false);
	if (fflush(out) != 0 || ferror(out))
		return -EIO;
	return 0;
}
