/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Shared between cfg.c (apply, verify), cfg_yaml.c (node tree), cfg_types.c
 * (scalar types) and cfg_dump.c. Not installed. */
#ifndef LOOM_COMMON_CFG_INTERNAL_H
#define LOOM_COMMON_CFG_INTERNAL_H

#include "common/cfg.h"

enum cfg_node_kind { CFG_N_SCALAR, CFG_N_MAP, CFG_N_SEQ };

struct cfg_node {
	enum cfg_node_kind kind;
	unsigned line, col;
	char *value; /* scalar text, NUL-terminated; may contain NUL if len says so */
	size_t len;
	bool plain;  /* unquoted scalar: only plain scalars can be null */
	char *key;   /* members of a map: their key */
	unsigned key_line, key_col;
	struct cfg_node *child, *last, *next;
	size_t n_children;
	struct cfg_node *all_next; /* every node, for freeing */
};

struct cfg_tree {
	struct cfg_node *root;
	struct cfg_node *all;
	size_t n_nodes;
};

/* Error sink shared by every step. */
struct cfg_errs {
	const char *name;
	struct cfg_diag *diag;
	unsigned count;
};

void cfg_errs_add(struct cfg_errs *e, unsigned line, unsigned col, const char *path,
		  const char *fmt, ...) LOOM_PRINTF(5, 6);

/* Returns 0, or -EINVAL with errors added. The tree is freed by the caller
 * in both cases. An empty document is an empty map. */
int cfg_tree_parse(struct cfg_errs *e, const void *buf, size_t len, struct cfg_tree *t);
void cfg_tree_free(struct cfg_tree *t);

bool cfg_node_is_null(const struct cfg_node *n);
/* "a map", "a list", "nothing", "'text'" for messages. */
void cfg_node_describe(const struct cfg_node *n, char *buf, size_t len);
/* Quote a user's text for a message: printable, bounded, with '...'. */
void cfg_quote(const char *s, size_t len, char *buf, size_t buflen);

/* Scalar types: parse text into field, or say why not. */
int cfg_scalar_parse(const struct cfg_field *f, const char *s, size_t len, void *field,
		     char *why, size_t whylen);
/* Canonical text of a scalar field; *quote says whether to double-quote it. */
void cfg_scalar_format(const struct cfg_field *f, const void *field, char *buf, size_t len,
		       bool *quote);
bool cfg_type_is_scalar(enum cfg_type t);

/* Largest value of an unsigned / signed integer field of size bytes (1-8). */
static inline uint64_t cfg_width_max(size_t size)
{
	return size >= 8 ? UINT64_MAX : (1ull << (size * 8)) - 1;
}

static inline int64_t cfg_width_smax(size_t size)
{
	return size >= 8 ? INT64_MAX : (int64_t)((1ull << (size * 8 - 1)) - 1);
}
/* "expected ..." text for a type, used when the node is not a scalar. */
const char *cfg_type_expect(enum cfg_type t);

/* Edit distance (with transpositions), capped for long words. */
unsigned cfg_edit_distance(const char *a, const char *b);
/* Is cand close enough to word to suggest it, and closer than *best? */
bool cfg_suggest_better(const char *word, const char *cand, unsigned *best);

#endif
