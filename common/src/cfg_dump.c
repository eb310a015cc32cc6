// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Canonical YAML of a loaded struct: every key in schema order, two-space
 * indentation, strings always double-quoted (escapes for '"', '\' and
 * control bytes), empty lists as []. The loader accepts everything written
 * here, so dump -> load -> dump is the identity.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cfg-internal.h"

static void put_quoted(FILE *out, const char *s, size_t len)
{
	fputc('"', out);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			fprintf(out, "\\x%02x", c);
		else
			fputc(c, out);
	}
	fputc('"', out);
}

/*
 * Strings are written straight from the field, whatever their size. Other
 * scalars are formatted into a buffer; a custom dump gives no length, so
 * text that fills the buffer may have been cut and is formatted again with
 * twice the room. A value longer than a file can be never loaded.
 */
static int put_scalar(FILE *out, const struct cfg_field *f, const void *field)
{
	char small[512], *buf = small, *big = NULL;
	size_t len = sizeof(small);
	bool quote;

	if (f->type == CFG_STRING || f->type == CFG_ENDPOINT) {
		put_quoted(out, field, strnlen(field, f->size));
		return 0;
	}
	for (;;) {
		cfg_scalar_format(f, field, buf, len, &quote);
		if (strnlen(buf, len) < len - 1)
			break;
		if (len > CFG_MAX_FILE_SIZE) {
			free(big);
			return -EOVERFLOW;
		}
		len *= 2;
		char *grown = realloc(big, len);
		if (!grown) {
			free(big);
			return -ENOMEM;
		}
		buf = big = grown;
	}
	if (quote)
		put_quoted(out, buf, strlen(buf));
	else
		fputs(buf, out);
	free(big);
	return 0;
}

static int dump_map(FILE *out, const struct cfg_schema *s, const void *obj, int indent,
		    bool list_item);

static int dump_field(FILE *out, const struct cfg_field *f, const void *obj, int indent)
{
	const uint8_t *base = (const uint8_t *)obj;
	unsigned count;
	int err = 0;

	switch (f->type) {
	case CFG_MAP:
		fprintf(out, "%s:\n", f->key);
		return dump_map(out, f->sub, base + f->offset, indent + 2, false);
	case CFG_LIST:
	case CFG_LIST_MAP: {
		size_t esize = f->type == CFG_LIST ? f->elem->size : f->sub->size;
		memcpy(&count, base + f->count_offset, sizeof(count));
		if (count > f->size / esize)
			count = (unsigned)(f->size / esize);
		if (!count) {
			fprintf(out, "%s: []\n", f->key);
			return 0;
		}
		fprintf(out, "%s:\n", f->key);
		for (unsigned i = 0; i < count && !err; i++) {
			const uint8_t *e = base + f->offset + i * esize;
			if (f->type == CFG_LIST) {
				fprintf(out, "%*s- ", indent + 2, "");
				err = put_scalar(out, f->elem, e);
				fputc('\n', out);
			} else {
				err = dump_map(out, f->sub, e, indent + 4, true);
			}
		}
		return err;
	}
	default:
		fprintf(out, "%s: ", f->key);
		err = put_scalar(out, f, base + f->offset);
		fputc('\n', out);
		return err;
	}
}

/* A list item's first key goes on the "- " line, two columns left. */
static int dump_map(FILE *out, const struct cfg_schema *s, const void *obj, int indent,
		    bool list_item)
{
	int err = 0;

	for (size_t i = 0; i < s->n_fields && !err; i++) {
		if (i == 0 && list_item)
			fprintf(out, "%*s- ", indent - 2, "");
		else
			fprintf(out, "%*s", indent, "");
		err = dump_field(out, &s->fields[i], obj, indent);
	}
	return err;
}

int cfg_dump(const struct cfg_schema *schema, const void *obj, FILE *out)
{
	int err;

	/* stdio keeps only a flag; errno of the failing write is all there is. */
	errno = 0;
	err = dump_map(out, schema, obj, 0, false);
	if (err)
		return err;
	if (fflush(out) != 0 || ferror(out))
		return errno ? -errno : -EIO;
	return 0;
}
