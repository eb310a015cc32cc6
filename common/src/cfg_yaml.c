// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * YAML text -> node tree with marks, on libyaml's event parser. Every limit
 * is checked as events arrive, so hostile input never builds more than
 * CFG_MAX_NODES nodes or CFG_MAX_DEPTH levels before we stop.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "cfg-internal.h"

struct builder {
	struct cfg_errs *e;
	struct cfg_tree *t;
	struct cfg_node *stack[CFG_MAX_DEPTH + 1];
	unsigned depth;
	/* a map's key waiting for its value */
	char *key;
	unsigned key_line, key_col;
	size_t key_len;
	unsigned docs;
};

static struct cfg_node *node_new(struct builder *b, enum cfg_node_kind kind,
				 const yaml_mark_t *m)
{
	struct cfg_node *n;

	if (b->t->n_nodes >= CFG_MAX_NODES) {
		cfg_errs_add(b->e, (unsigned)m->line + 1, (unsigned)m->column + 1, NULL,
			     "too many values: at most %u", CFG_MAX_NODES);
		return NULL;
	}
	n = calloc(1, sizeof(*n));
	if (!n) {
		cfg_errs_add(b->e, 0, 0, NULL, "out of memory");
		return NULL;
	}
	n->kind = kind;
	n->line = (unsigned)m->line + 1;
	n->col = (unsigned)m->column + 1;
	n->all_next = b->t->all;
	b->t->all = n;
	b->t->n_nodes++;
	return n;
}

static bool refuse_decorations(struct builder *b, const yaml_mark_t *m,
			       const yaml_char_t *anchor, const yaml_char_t *tag)
{
	char q[80];

	if (anchor) {
		cfg_quote((const char *)anchor, strlen((const char *)anchor), q, sizeof(q));
		cfg_errs_add(b->e, (unsigned)m->line + 1, (unsigned)m->column + 1, NULL,
			     "anchor %s refused: anchors and aliases are not supported, "
			     "write the value out", q);
		return true;
	}
	if (tag) {
		cfg_quote((const char *)tag, strlen((const char *)tag), q, sizeof(q));
		cfg_errs_add(b->e, (unsigned)m->line + 1, (unsigned)m->column + 1, NULL,
			     "tag %s refused: tags are not supported", q);
		return true;
	}
	return false;
}

/* Attach a finished or opened node under the current parent. */
static int attach(struct builder *b, struct cfg_node *n, const yaml_mark_t *m)
{
	struct cfg_node *p = b->depth ? b->stack[b->depth - 1] : NULL;

	if (!p) {
		if (b->t->root) /* cannot happen: one document, one root */
			return -EINVAL;
		b->t->root = n;
		return 0;
	}
	if (p->kind == CFG_N_MAP) {
		if (!b->key) {
			cfg_errs_add(b->e, (unsigned)m->line + 1, (unsigned)m->column + 1, NULL,
				     "keys must be plain text, not a map or a list");
			return -EINVAL;
		}
		n->key = b->key;
		n->key_line = b->key_line;
		n->key_col = b->key_col;
		b->key = NULL;
	}
	if (p->last)
		p->last->next = n;
	else
		p->child = n;
	p->last = n;
	p->n_children++;
	return 0;
}

static int on_scalar(struct builder *b, yaml_event_t *ev)
{
	const yaml_mark_t *m = &ev->start_mark;
	struct cfg_node *p = b->depth ? b->stack[b->depth - 1] : NULL;
	const char *v = (const char *)ev->data.scalar.value;
	size_t len = ev->data.scalar.length;
	struct cfg_node *n;

	if (refuse_decorations(b, m, ev->data.scalar.anchor, ev->data.scalar.tag))
		return -EINVAL;
	if (p && p->kind == CFG_N_MAP && !b->key) {
		if (memchr(v, '\0', len)) {
			cfg_errs_add(b->e, (unsigned)m->line + 1, (unsigned)m->column + 1, NULL,
				     "a key contains a NUL byte");
			return -EINVAL;
		}
		b->key = strndup(v, len);
		if (!b->key)
			return -ENOMEM;
		b->key_len = len;
		b->key_line = (unsigned)m->line + 1;
		b->key_col = (unsigned)m->column + 1;
		return 0;
	}
	n = node_new(b, CFG_N_SCALAR, m);
	if (!n)
		return -EINVAL;
	n->value = malloc(len + 1);
	if (!n->value)
		return -ENOMEM;
	memcpy(n->value, v, len);
	n->value[len] = '\0';
	n->len = len;
	n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
	return attach(b, n, m);
}

static int on_open(struct builder *b, yaml_event_t *ev, enum cfg_node_kind kind)
{
	const yaml_mark_t *m = &ev->start_mark;
	const yaml_char_t *anchor, *tag;
	struct cfg_node *n;
	int err;

	if (kind == CFG_N_MAP) {
		anchor = ev->data.mapping_start.anchor;
		tag = ev->data.mapping_start.tag;
	} else {
		anchor = ev->data.sequence_start.anchor;
		tag = ev->data.sequence_start.tag;
	}
	if (refuse_decorations(b, m, anchor, tag))
		return -EINVAL;
	if (b->depth >= CFG_MAX_DEPTH) {
		cfg_errs_add(b->e, (unsigned)m->line + 1, (unsigned)m->column + 1, NULL,
			     "nested too deeply: at most %u levels", CFG_MAX_DEPTH);
		return -EINVAL;
	}
	n = node_new(b, kind, m);
	if (!n)
		return -EINVAL;
	err = attach(b, n, m);
	if (err)
		return err;
	b->stack[b->depth++] = n;
	return 0;
}

static void syntax_error(struct builder *b, const yaml_parser_t *p)
{
	const yaml_mark_t *m = p->problem ? &p->problem_mark : &p->context_mark;
	const char *what = p->problem ? p->problem : "cannot parse";

	if (p->error == YAML_MEMORY_ERROR) {
		cfg_errs_add(b->e, 0, 0, NULL, "out of memory");
		return;
	}
	if (p->context)
		cfg_errs_add(b->e, (unsigned)m->line + 1, (unsigned)m->column + 1, NULL,
			     "YAML syntax error: %s %s", what, p->context);
	else
		cfg_errs_add(b->e, (unsigned)m->line + 1, (unsigned)m->column + 1, NULL,
			     "YAML syntax error: %s", what);
}

int cfg_tree_parse(struct cfg_errs *e, const void *buf, size_t len, struct cfg_tree *t)
{
	struct builder b = { .e = e, .t = t };
	yaml_parser_t parser;
	int err = 0;
	bool done = false;

	memset(t, 0, sizeof(*t));
	if (len > CFG_MAX_FILE_SIZE) {
		cfg_errs_add(e, 0, 0, NULL, "file too large: %zu bytes, at most %u", len,
			     CFG_MAX_FILE_SIZE);
		return -EFBIG;
	}
	if (!yaml_parser_initialize(&parser))
		return -ENOMEM;
	yaml_parser_set_input_string(&parser, buf, len);
	while (!done && !err) {
		yaml_event_t ev;

		if (!yaml_parser_parse(&parser, &ev)) {
			syntax_error(&b, &parser);
			err = -EINVAL;
			break;
		}
		switch (ev.type) {
		case YAML_DOCUMENT_START_EVENT:
			if (++b.docs > 1) {
				cfg_errs_add(e, (unsigned)ev.start_mark.line + 1,
					     (unsigned)ev.start_mark.column + 1, NULL,
					     "only one YAML document per file");
				err = -EINVAL;
			}
			break;
		case YAML_ALIAS_EVENT:
			cfg_errs_add(e, (unsigned)ev.start_mark.line + 1,
				     (unsigned)ev.start_mark.column + 1, NULL,
				     "alias refused: anchors and aliases are not supported, "
				     "write the value out");
			err = -EINVAL;
			break;
		case YAML_SCALAR_EVENT:
			err = on_scalar(&b, &ev);
			break;
		case YAML_MAPPING_START_EVENT:
			err = on_open(&b, &ev, CFG_N_MAP);
			break;
		case YAML_SEQUENCE_START_EVENT:
			err = on_open(&b, &ev, CFG_N_SEQ);
			break;
		case YAML_MAPPING_END_EVENT:
		case YAML_SEQUENCE_END_EVENT:
			if (b.depth)
				b.depth--;
			break;
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);
	free(b.key);
	if (err)
		return err == -ENOMEM ? (cfg_errs_add(e, 0, 0, NULL, "out of memory"), -ENOMEM)
				      : -EINVAL;
	return 0;
}

void cfg_tree_free(struct cfg_tree *t)
{
	struct cfg_node *n = t->all;

	while (n) {
		struct cfg_node *next = n->all_next;
		free(n->value);
		free(n->key);
		free(n);
		n = next;
	}
	memset(t, 0, sizeof(*t));
}

bool cfg_node_is_null(const struct cfg_node *n)
{
	if (!n)
		return true;
	if (n->kind != CFG_N_SCALAR || !n->plain)
		return false;
	return n->len == 0 || strcmp(n->value, "~") == 0 || strcmp(n->value, "null") == 0 ||
	       strcmp(n->value, "Null") == 0 || strcmp(n->value, "NULL") == 0;
}

void cfg_quote(const char *s, size_t len, char *buf, size_t buflen)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	if (buflen < 8) {
		if (buflen)
			buf[0] = '\0';
		return;
	}
	buf[o++] = '\'';
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		bool plain = c >= 0x20 && c != 0x7f && c != '\\';

		/* room for this char, then "...'" and the NUL */
		if (o + (plain ? 1 : 4) + 5 > buflen) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		if (plain) {
			buf[o++] = (char)c;
		} else {
			buf[o++] = '\\';
			buf[o++] = 'x';
			buf[o++] = hex[c >> 4];
			buf[o++] = hex[c & 15];
		}
	}
	buf[o++] = '\'';
	buf[o] = '\0';
}

void cfg_node_describe(const struct cfg_node *n, char *buf, size_t len)
{
	if (cfg_node_is_null(n))
		snprintf(buf, len, "nothing");
	else if (n->kind == CFG_N_MAP)
		snprintf(buf, len, "a map");
	else if (n->kind == CFG_N_SEQ)
		snprintf(buf, len, "a list");
	else
		cfg_quote(n->value, n->len, buf, len);
}
