// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A streaming JSON writer: the document's outer containers are written as
 * the listing goes, each value inside is built and encoded by jansson (which
 * does the escaping and validates UTF-8). A listing of a million fixed
 * affinities therefore needs memory for one entry at a time.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

void ctl_json_init(struct ctl_json *w, FILE *f)
{
	*w = (struct ctl_json){ .f = f, .first = { true } };
}

/* Separator before a new item of the current container. */
static void item(struct ctl_json *w)
{
	if (w->want_value) {
		w->want_value = false;
		return;
	}
	if (w->depth && !w->first[w->depth])
		fputc(',', w->f);
	w->first[w->depth] = false;
}

static void open_c(struct ctl_json *w, char c)
{
	if (w->err)
		return;
	if (w->depth + 1 >= CTL_JSON_DEPTH) {
		w->err = -E2BIG;
		return;
	}
	item(w);
	fputc(c, w->f);
	w->first[++w->depth] = true;
	w->closer[w->depth] = c == '{' ? '}' : ']';
}

void ctl_json_obj(struct ctl_json *w)
{
	open_c(w, '{');
}

void ctl_json_arr(struct ctl_json *w)
{
	open_c(w, '[');
}

void ctl_json_end(struct ctl_json *w)
{
	if (w->err)
		return;
	if (w->depth == 0 || w->want_value) {
		w->err = -EINVAL;
		return;
	}
	fputc(w->closer[w->depth--], w->f);
}

void ctl_json_key(struct ctl_json *w, const char *key)
{
	json_t *k;
	char *s;

	if (w->err)
		return;
	item(w);
	k = json_string(key);
	s = k ? json_dumps(k, JSON_ENCODE_ANY) : NULL;
	json_decref(k);
	if (!s) {
		w->err = -ENOMEM;
		return;
	}
	fputs(s, w->f);
	fputc(':', w->f);
	free(s);
	w->want_value = true;
}

void ctl_json_val(struct ctl_json *w, json_t *v)
{
	char *s;

	if (!v) {
		if (!w->err)
			w->err = -ENOMEM;
		return;
	}
	if (!w->err) {
		item(w);
		s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_PRESERVE_ORDER);
		if (s) {
			fputs(s, w->f);
			free(s);
		} else {
			w->err = -ENOMEM;
		}
	}
	json_decref(v);
}

int ctl_json_done(struct ctl_json *w)
{
	if (!w->err && w->depth != 0)
		w->err = -EINVAL;
	fputc('\n', w->f);
	if (!w->err && ferror(w->f))
		w->err = -EIO;
	return w->err;
}

json_t *ctl_json_u64(uint64_t v)
{
	return json_integer(v > INT64_MAX ? INT64_MAX : (json_int_t)v);
}

void ctl_json_set(json_t *obj, const char *key, json_t *v)
{
	/* json_object_set_new takes v even on failure; a NULL v leaves the
	 * key out, which the caller's ctl_json_val cannot see: make it null */
	json_object_set_new(obj, key, v ? v : json_null());
}

json_t *ctl_json_addr(const uint8_t a[16])
{
	char s[CTL_ADDR_LEN];

	ctl_addr(a, s, sizeof(s));
	return json_string(s);
}

json_t *ctl_json_id(uint64_t id)
{
	char s[24];

	snprintf(s, sizeof(s), "%016" PRIx64, id);
	return json_string(s);
}

json_t *ctl_json_seg(const struct ctl_seg_stats *g)
{
	const struct shm_rcu_stats *r = &g->rcu;
	json_t *o = json_object(), *rcu = json_object();

	if (!o || !rcu) {
		json_decref(o);
		json_decref(rcu);
		return NULL;
	}
	ctl_json_set(o, "writer_pid", json_integer(g->writer_pid));
	ctl_json_set(o, "writer_alive", json_boolean(g->writer_alive));
	ctl_json_set(o, "generation", json_integer(g->generation));
	ctl_json_set(rcu, "gp", ctl_json_u64(r->gp));
	ctl_json_set(rcu, "grace_periods", ctl_json_u64(r->gp_count));
	ctl_json_set(rcu, "gp_total_ns", ctl_json_u64(r->gp_total_ns));
	ctl_json_set(rcu, "gp_mean_ns", ctl_json_u64(r->gp_count ? r->gp_total_ns / r->gp_count : 0));
	ctl_json_set(rcu, "gp_max_ns", ctl_json_u64(r->gp_max_ns));
	ctl_json_set(rcu, "timeouts", ctl_json_u64(r->gp_timeouts));
	ctl_json_set(rcu, "reaped", ctl_json_u64(r->reaped));
	ctl_json_set(rcu, "readers_attached", json_integer(r->slots_used));
	ctl_json_set(rcu, "reader_slots", json_integer(r->slots_total));
	ctl_json_set(rcu, "readers_in_section", json_integer(r->readers_in_section));
	ctl_json_set(o, "rcu", rcu);
	return o;
}

int ctl_finish(struct ctl_json *jw, int err)
{
	if (jw && ctl_json_done(jw) < 0 && !err)
		err = jw->err;
	if (fflush(stdout) != 0 || ferror(stdout))
		err = err ? err : -EIO;
	if (err) {
		fprintf(stderr, "loomctl: output failed: %s\n", strerror(-err));
		return CTL_EXIT_FAIL;
	}
	return CTL_EXIT_OK;
}
