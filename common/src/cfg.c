// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Applying a schema to a node tree, and the verify pass. See common/cfg.h.
 *
 * Keys are handled in document order so errors come out in the order the
 * user reads the file; missing keys (defaults, required) are handled after,
 * in schema order, and reported at the enclosing map's mark.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cfg-internal.h"
#include "common/log.h"

#define CFG_PATH_LEN 256

struct ctx {
	struct cfg_errs e;
	char path[CFG_PATH_LEN];
	size_t plen;
	unsigned verify_errors; /* do not stop the enclosing map's verify */
};

struct cfg_verify {
	struct ctx *c;
	const struct cfg_node *map;
};

/* ---- errors ------------------------------------------------------------------- */

static void diag_put(struct cfg_diag *d, const char *line)
{
	if (!d)
		return;
	if (d->n >= CFG_DIAG_MAX) {
		d->dropped++;
		return;
	}
	size_t len = strnlen(line, CFG_DIAG_LEN - 1); /* a long line is cut, never overrun */
	memcpy(d->msg[d->n], line, len);
	d->msg[d->n++][len] = '\0';
}

void cfg_errs_add(struct cfg_errs *e, unsigned line, unsigned col, const char *path,
		  const char *fmt, ...)
{
	char msg[CFG_DIAG_LEN], out[CFG_DIAG_LEN + 64];
	va_list ap;

	e->count++;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (line && path && *path)
		snprintf(out, sizeof(out), "%s:%u:%u: %s: %s", e->name, line, col, path, msg);
	else if (line)
		snprintf(out, sizeof(out), "%s:%u:%u: %s", e->name, line, col, msg);
	else
		snprintf(out, sizeof(out), "%s: %s", e->name, msg);
	diag_put(e->diag, out);
}

void cfg_diag_print(const struct cfg_diag *d, FILE *out)
{
	for (unsigned i = 0; i < d->n; i++)
		fprintf(out, "%s\n", d->msg[i]);
	if (d->dropped)
		fprintf(out, "... and %u more error%s\n", d->dropped, d->dropped > 1 ? "s" : "");
}

/* ---- paths ---------------------------------------------------------------------- */

/* Append to the path (cut at CFG_PATH_LEN); returns the length to pop back to. */
LOOM_PRINTF(2, 3)
static size_t path_push(struct ctx *c, const char *fmt, ...)
{
	size_t old = c->plen;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(c->path + c->plen, sizeof(c->path) - c->plen, fmt, ap);
	va_end(ap);
	if (n > 0)
		c->plen += (size_t)n;
	if (c->plen >= sizeof(c->path))
		c->plen = sizeof(c->path) - 1;
	return old;
}

static size_t path_push_key(struct ctx *c, const char *key)
{
	return path_push(c, "%s%s", c->plen ? "." : "", key);
}

static void path_pop(struct ctx *c, size_t old)
{
	c->plen = old;
	c->path[old] = '\0';
}

/* ---- apply ------------------------------------------------------------------------ */

static void apply_map(struct ctx *c, const struct cfg_schema *s, const struct cfg_node *map,
		      unsigned line, unsigned col, void *obj);

static void apply_scalar(struct ctx *c, const struct cfg_field *f, const struct cfg_node *n,
			 void *field)
{
	char why[CFG_DIAG_LEN - 64], got[96];

	if (n->kind != CFG_N_SCALAR || cfg_node_is_null(n)) {
		cfg_node_describe(n, got, sizeof(got));
		cfg_errs_add(&c->e, n->line, n->col, c->path, "%s, got %s", cfg_type_expect(f->type),
			     got);
		return;
	}
	why[0] = '\0';
	if (cfg_scalar_parse(f, n->value, n->len, field, why, sizeof(why)) < 0)
		cfg_errs_add(&c->e, n->line, n->col, c->path, "%s", why);
}

static void apply_list(struct ctx *c, const struct cfg_field *f, const struct cfg_node *n,
		       void *obj)
{
	size_t esize = f->type == CFG_LIST ? f->elem->size : f->sub->size;
	size_t cap = f->size / esize, i = 0;
	unsigned count;
	char got[96];

	if (n->kind != CFG_N_SEQ) {
		cfg_node_describe(n, got, sizeof(got));
		cfg_errs_add(&c->e, n->line, n->col, c->path, "%s, got %s", cfg_type_expect(f->type),
			     got);
		return;
	}
	if (n->n_children > cap) {
		cfg_errs_add(&c->e, n->line, n->col, c->path, "too many entries: %zu, at most %zu",
			     n->n_children, cap);
		return;
	}
	for (const struct cfg_node *e = n->child; e; e = e->next, i++) {
		uint8_t *slot = (uint8_t *)obj + f->offset + i * esize;
		size_t old = path_push(c, "[%zu]", i);

		if (f->type == CFG_LIST)
			apply_scalar(c, f->elem, e, slot);
		else
			apply_map(c, f->sub, e, e->line, e->col, slot);
		path_pop(c, old);
	}
	count = (unsigned)n->n_children;
	memcpy((uint8_t *)obj + f->count_offset, &count, sizeof(count));
}

static void apply_field(struct ctx *c, const struct cfg_field *f, const struct cfg_node *n,
			void *obj)
{
	switch (f->type) {
	case CFG_LIST:
	case CFG_LIST_MAP:
		apply_list(c, f, n, obj);
		break;
	case CFG_MAP:
		apply_map(c, f->sub, n, n->line, n->col, (uint8_t *)obj + f->offset);
		break;
	default:
		apply_scalar(c, f, n, (uint8_t *)obj + f->offset);
		break;
	}
}

static void apply_default(struct ctx *c, const struct cfg_field *f, unsigned line,
			  unsigned col, void *obj)
{
	char why[CFG_DIAG_LEN - 64];

	if (f->type == CFG_MAP) {
		/* An absent map is an empty one: its own defaults apply. */
		apply_map(c, f->sub, NULL, line, col, (uint8_t *)obj + f->offset);
		return;
	}
	if (!f->def || !cfg_type_is_scalar(f->type))
		return; /* zero: lists are empty */
	if (cfg_scalar_parse(f, f->def, strlen(f->def), (uint8_t *)obj + f->offset, why,
			     sizeof(why)) < 0)
		cfg_errs_add(&c->e, line, col, c->path, "bad default in the schema: %s", why);
}

static const struct cfg_field *find_field(const struct cfg_schema *s, const char *key,
					  size_t *idx)
{
	for (size_t i = 0; i < s->n_fields; i++) {
		if (!strcmp(s->fields[i].key, key)) {
			*idx = i;
			return &s->fields[i];
		}
	}
	return NULL;
}

static void unknown_key(struct ctx *c, const struct cfg_schema *s, const struct cfg_node *m)
{
	const char *best_key = NULL;
	unsigned best = 1000;
	char q[96];

	for (size_t i = 0; i < s->n_fields; i++)
		if (cfg_suggest_better(m->key, s->fields[i].key, &best))
			best_key = s->fields[i].key;
	cfg_quote(m->key, strlen(m->key), q, sizeof(q));
	if (best_key)
		cfg_errs_add(&c->e, m->key_line, m->key_col, c->path,
			     "unknown key %s, did you mean '%s'?", q, best_key);
	else
		cfg_errs_add(&c->e, m->key_line, m->key_col, c->path, "unknown key %s", q);
}

/* map may be NULL (absent) or null (empty): both mean "no keys". */
static void apply_map(struct ctx *c, const struct cfg_schema *s, const struct cfg_node *map,
		      unsigned line, unsigned col, void *obj)
{
	const struct cfg_node *found[CFG_MAX_FIELDS] = { 0 };
	unsigned errors_before = c->e.count - c->verify_errors;
	char got[96];

	if (map && !cfg_node_is_null(map) && map->kind != CFG_N_MAP) {
		cfg_node_describe(map, got, sizeof(got));
		cfg_errs_add(&c->e, map->line, map->col, c->path, "expected a map of keys, got %s",
			     got);
		return;
	}
	if (map && map->kind == CFG_N_MAP) {
		for (const struct cfg_node *m = map->child; m; m = m->next) {
			size_t idx, old;
			const struct cfg_field *f = find_field(s, m->key, &idx);

			if (!f) {
				unknown_key(c, s, m);
				continue;
			}
			if (found[idx]) {
				cfg_errs_add(&c->e, m->key_line, m->key_col, c->path,
					     "duplicate key '%s' (first at line %u)", f->key,
					     found[idx]->key_line);
				continue;
			}
			found[idx] = m;
			old = path_push_key(c, f->key);
			apply_field(c, f, m, obj);
			path_pop(c, old);
		}
	}
	for (size_t i = 0; i < s->n_fields; i++) {
		const struct cfg_field *f = &s->fields[i];
		size_t old;

		if (found[i])
			continue;
		if (f->required) {
			cfg_errs_add(&c->e, line, col, c->path, "missing required key '%s'%s", f->key,
				     c->plen ? "" : " at the top level");
			continue;
		}
		old = path_push_key(c, f->key);
		apply_default(c, f, line, col, obj);
		path_pop(c, old);
	}
	if (s->verify && c->e.count - c->verify_errors == errors_before) {
		struct cfg_verify v = { .c = c, .map = map && map->kind == CFG_N_MAP ? map : NULL };
		s->verify(&v, obj);
	}
}

/* ---- verify ---------------------------------------------------------------------------- */

/* Follow "a.b[2].c" from map; returns the deepest node found. */
static const struct cfg_node *lookup(const struct cfg_node *map, const char *where)
{
	const struct cfg_node *n = map;
	const char *p = where;

	while (n && *p) {
		if (*p == '[') {
			char *end;
			unsigned long i = strtoul(p + 1, &end, 10);
			const struct cfg_node *e = n->kind == CFG_N_SEQ ? n->child : NULL;
			if (*end != ']')
				break;
			while (e && i--)
				e = e->next;
			if (!e)
				break;
			n = e;
			p = end + 1;
		} else {
			size_t len = strcspn(p, ".[");
			const struct cfg_node *m = n->kind == CFG_N_MAP ? n->child : NULL;
			while (m && (strlen(m->key) != len || memcmp(m->key, p, len)))
				m = m->next;
			if (!m)
				break;
			n = m;
			p += len;
		}
		if (*p == '.')
			p++;
	}
	return n;
}

void cfg_verify_error(struct cfg_verify *v, const char *where, const char *fmt, ...)
{
	char msg[CFG_DIAG_LEN - 64];
	const struct cfg_node *n = v->map && where ? lookup(v->map, where) : v->map;
	size_t old = v->c->plen;
	unsigned line = 1, col = 1;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n) {
		bool member = n != v->map && n->key;
		line = member ? n->key_line : n->line;
		col = member ? n->key_col : n->col;
		if (n != v->map && n->kind != CFG_N_MAP && n->key == NULL) {
			line = n->line; /* a list element */
			col = n->col;
		}
	}
	if (where && *where)
		path_push(v->c, "%s%s", old && where[0] != '[' ? "." : "", where);
	cfg_errs_add(&v->c->e, line, col, v->c->path, "%s", msg);
	v->c->verify_errors++;
	path_pop(v->c, old);
}

/* ---- load -------------------------------------------------------------------------------- */

int cfg_load_buffer(const char *name, const void *buf, size_t len,
		    const struct cfg_schema *schema, void *obj, struct cfg_diag *diag)
{
	struct ctx c = { .e = { .name = name ? name : "<config>", .diag = diag } };
	char why[CFG_DIAG_LEN / 2];
	struct cfg_tree t;
	int err;

	if (diag)
		memset(diag, 0, sizeof(*diag));
	err = cfg_schema_check(schema, why, sizeof(why));
	if (err) {
		cfg_errs_add(&c.e, 0, 0, NULL, "invalid %s", why);
		return log_debug_errno(err, "cfg: invalid %s", why);
	}
	memset(obj, 0, schema->size);
	err = cfg_tree_parse(&c.e, buf, len, &t);
	if (!err) {
		const struct cfg_node *root = t.root;
		apply_map(&c, schema, root, root ? root->line : 1, root ? root->col : 1, obj);
	}
	cfg_tree_free(&t);
	if (err)
		return err;
	return c.e.count ? -EINVAL : 0;
}

int cfg_load_file(const char *path, const struct cfg_schema *schema, void *obj,
		  struct cfg_diag *diag)
{
	struct cfg_errs e = { .name = path, .diag = diag };
	struct stat st;
	char *buf = NULL;
	size_t got = 0;
	int fd, err = 0;

	if (diag)
		memset(diag, 0, sizeof(*diag));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		cfg_errs_add(&e, 0, 0, NULL, "cannot open: %s", strerror(-err));
		return err;
	}
	if (fstat(fd, &st) < 0) {
		err = -errno;
		cfg_errs_add(&e, 0, 0, NULL, "cannot stat: %s", strerror(-err));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		err = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
		cfg_errs_add(&e, 0, 0, NULL, "not a regular file");
		goto out;
	}
	/* Read one byte past the cap: the size in stat may lie (procfs, races). */
	buf = malloc(CFG_MAX_FILE_SIZE + 1);
	if (!buf) {
		err = -ENOMEM;
		goto out;
	}
	for (;;) {
		ssize_t n = read(fd, buf + got, CFG_MAX_FILE_SIZE + 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = -errno;
			cfg_errs_add(&e, 0, 0, NULL, "cannot read: %s", strerror(-err));
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
		if (got > CFG_MAX_FILE_SIZE) {
			err = -EFBIG;
			cfg_errs_add(&e, 0, 0, NULL, "file too large: more than %u bytes",
				     CFG_MAX_FILE_SIZE);
			goto out;
		}
	}
	close(fd);
	fd = -1;
	err = cfg_load_buffer(path, buf, got, schema, obj, diag);
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return err;
}
