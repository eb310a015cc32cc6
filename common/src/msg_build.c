// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Building, comparing and answering messages: the helpers a daemon needs
 * around msg_encode()/msg_decode() (error replies, update-deny, capability
 * checks).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/str.h"
#include "common/compiler.h"
#include "msg-internal.h"

void msg_init(struct msg *m, enum msg_type type)
{
	m->version = MSG_VERSION;
	m->type = (uint8_t)type;
	m->nsegs = 0;
	m->skipped = 0;
}

struct msg_seg *msg_add(struct msg *m, enum msg_seg_type type, bool required)
{
	struct msg_seg *s;

	if (m->nsegs >= MSG_MAX_SEGS)
		return NULL;
	s = &m->segs[m->nsegs++];
	memset(s, 0, sizeof(*s));
	s->type = (uint8_t)type;
	s->required = required;
	return s;
}

const struct msg_seg *msg_find(const struct msg *m, enum msg_seg_type type)
{
	for (unsigned i = 0; i < m->nsegs && i < MSG_MAX_SEGS; i++)
		if (m->segs[i].type == type)
			return &m->segs[i];
	return NULL;
}

/* Segment 0 of a reply that will be signed is the security segment
 * msg_sign() fills; reserve it before anything else goes in. */
static void reply_init(struct msg *out, enum msg_type type, bool secure)
{
	struct msg_seg *s;

	msg_init(out, type);
	if (!secure)
		return;
	s = msg_add(out, MSG_S_SECURITY, true);
	s->u.security.type = MSG_SEC_HMAC_SHA256;
	s->u.security.len = MSG_HMAC_LEN;
}

/* Copy text as the decoder will accept it: whole allowed characters within
 * MSG_MAX_TEXT bytes, '?' for each byte of anything else. */
static void copy_text(char *dst, const char *text)
{
	size_t i = 0, o = 0;

	while (text[i]) {
		size_t n = msg_text_char((const uint8_t *)text + i, strnlen(text + i, 4));

		if (o + (n ? n : 1) > MSG_MAX_TEXT)
			break;
		if (n) {
			memcpy(dst + o, text + i, n);
			o += n;
			i += n;
		} else {
			dst[o++] = '?';
			i++;
		}
	}
	dst[o] = '\0';
}

void msg_build_error(struct msg *out, const struct msg_err *err, const char *text,
		     const struct msg_identity *identity, bool secure)
{
	struct msg_seg *s;
	struct msg_error *e;

	reply_init(out, MSG_T_ERROR, secure);
	s = msg_add(out, MSG_S_ERROR, true);
	e = &s->u.error;
	e->code = (uint16_t)(err->code > 0 && err->code <= UINT16_MAX ? err->code : MSG_E_INVALID);
	e->msg_type = (uint8_t)(err->msg_type > 0 && err->msg_type <= UINT8_MAX ? err->msg_type : 0);
	if (err->seg_index >= 0 && err->seg_index < (int)MSG_MAX_SEGS) {
		e->present |= MSG_ERRSEG_INDEX;
		e->seg_index = (uint8_t)err->seg_index;
	}
	if (err->seg_type >= 0 && err->seg_type <= UINT8_MAX) {
		e->present |= MSG_ERRSEG_TYPE;
		e->seg_type = (uint8_t)err->seg_type;
	}
	if (err->field >= 0 && err->field <= UINT8_MAX) {
		e->present |= MSG_ERRSEG_FIELD;
		e->field = (uint8_t)err->field;
	}
	if (text) {
		copy_text(e->text, text);
		e->present |= MSG_ERRSEG_TEXT;
	}
	if (identity) {
		s = msg_add(out, MSG_S_IDENTITY, false);
		s->u.identity = *identity;
	}
}

static bool caps_has(uint64_t caps, unsigned type)
{
	return type < 64 && (caps & MSG_CAP(type));
}

static void add_unsupported(struct msg_action_list *l, uint8_t type)
{
	for (unsigned i = 0; i < l->n; i++)
		if (l->a[i].type == type)
			return;
	if (l->n < MSG_MAX_ACTIONS)
		l->a[l->n++] = (struct msg_action_ref){ .type = type, .required = true };
}

int msg_check_supported(const struct msg *m, uint64_t caps,
			struct msg_action_list *unsupported)
{
	memset(unsupported, 0, sizeof(*unsupported));
	for (unsigned i = 0; i < m->nsegs && i < MSG_MAX_SEGS; i++) {
		const struct msg_seg *s = &m->segs[i];

		if (s->type >= MSG_S_ACTION_FIRST && s->type <= MSG_S_ACTION_LAST &&
		    s->required && !caps_has(caps, s->type))
			add_unsupported(unsupported, s->type);
		if (s->type != MSG_S_ACTION_LIST)
			continue;
		for (unsigned j = 0; j < s->u.action_list.n && j < MSG_MAX_ACTIONS; j++) {
			const struct msg_action_ref *a = &s->u.action_list.a[j];

			if (a->required && !caps_has(caps, a->type))
				add_unsupported(unsupported, a->type);
		}
	}
	return unsupported->n;
}

int msg_build_deny(const struct msg *m, const struct msg_action_list *unsupported,
		   struct msg *out, bool secure)
{
	static const uint8_t copied[] = {
		MSG_S_WILDCARD, MSG_S_FIXED, MSG_S_IDENTITY,
		MSG_S_MGR_INTEREST, MSG_S_AGENT_INTEREST,
	};
	struct msg_seg *s;

	if (m->type != MSG_T_UPDATE_WILDCARD && m->type != MSG_T_UPDATE_FIXED)
		return -MSG_E_INVALID;
	reply_init(out, MSG_T_UPDATE_DENY, secure);
	s = msg_add(out, MSG_S_ACTION_LIST, true);
	s->u.action_list = *unsupported;
	for (unsigned i = 0; i < sizeof(copied); i++) {
		const struct msg_seg *src = msg_find(m, copied[i]);

		/* Optional in the answer: the manager can act on the list alone. */
		if (src) {
			s = msg_add(out, src->type, false);
			s->u = src->u;
		}
	}
	return 0;
}

static bool field_equal(const struct msg_field *f, const void *a, const void *b)
{
	const uint8_t *pa = (const uint8_t *)a + f->off, *pb = (const uint8_t *)b + f->off;
	uint64_t la, lb;

	switch (f->kind) {
	case MSG_FK_BOOL:
		return *(const bool *)pa == *(const bool *)pb;
	case MSG_FK_UINT:
	case MSG_FK_PORT:
		return memcmp(pa, pb, f->size) == 0;
	case MSG_FK_ADDR:
		return memcmp(pa, pb, 16) == 0;
	case MSG_FK_BYTES:
	case MSG_FK_PTR:
		la = loom_load_uint((const uint8_t *)a + f->len_off, f->size);
		lb = loom_load_uint((const uint8_t *)b + f->len_off, f->size);
		if (la != lb || la > f->cap)
			return false;
		if (f->kind == MSG_FK_PTR) {
			const uint8_t *da, *db;

			memcpy(&da, pa, sizeof(da));
			memcpy(&db, pb, sizeof(db));
			return la == 0 || memcmp(da, db, la) == 0;
		}
		return memcmp(pa, pb, la) == 0;
	case MSG_FK_TEXT:
		return strncmp((const char *)pa, (const char *)pb, f->cap + 1) == 0;
	case MSG_FK_ACTIONS: {
		const struct msg_action_list *x = (const void *)pa, *y = (const void *)pb;

		if (x->n != y->n || x->n > MSG_MAX_ACTIONS)
			return false;
		for (unsigned i = 0; i < x->n; i++)
			if (x->a[i].type != y->a[i].type || x->a[i].required != y->a[i].required)
				return false;
		return true;
	}
	}
	return false;
}

bool msg_equal(const struct msg *a, const struct msg *b)
{
	if (a->version != b->version || a->type != b->type || a->nsegs != b->nsegs ||
	    a->nsegs > MSG_MAX_SEGS)
		return false;
	for (unsigned i = 0; i < a->nsegs; i++) {
		const struct msg_seg *x = &a->segs[i], *y = &b->segs[i];
		const struct msg_seg_desc *d = msg_desc(x->type);
		uint32_t px = 0, py = 0;

		if (x->type != y->type || x->required != y->required || !d)
			return false;
		if (d->present_off >= 0) {
			memcpy(&px, (const uint8_t *)&x->u + d->present_off, sizeof(px));
			memcpy(&py, (const uint8_t *)&y->u + d->present_off, sizeof(py));
			if (px != py)
				return false;
		}
		for (unsigned j = 0; j < d->nfields; j++) {
			const struct msg_field *f = &d->fields[j];

			if (f->pbit >= 0 && !(px & (1u << f->pbit)))
				continue;
			if (!field_equal(f, &x->u, &y->u))
				return false;
		}
	}
	return true;
}

char *msg_err_str(const struct msg_err *err, char *buf, size_t len)
{
	const char *tname = NULL, *sname = NULL, *fname = NULL;
	size_t off = 0;

	if (!len)
		return buf;
	buf[0] = '\0';
	if (err->msg_type >= 0)
		tname = msg_type_name((unsigned)err->msg_type);
	if (err->seg_type >= 0)
		sname = msg_seg_type_name((unsigned)err->seg_type);
	if (err->seg_type >= 0 && err->field >= 0)
		fname = msg_field_name((unsigned)err->seg_type, (unsigned)err->field);

	if (tname)
		loom_appendf(buf, len, &off, "%s ", tname);
	else if (err->msg_type >= 0)
		loom_appendf(buf, len, &off, "message type %d ", err->msg_type);
	if (err->seg_index >= 0)
		loom_appendf(buf, len, &off, "segment %d ", err->seg_index);
	if (sname)
		loom_appendf(buf, len, &off, "(%s) ", sname);
	else if (err->seg_type >= 0)
		loom_appendf(buf, len, &off, "(type %d) ", err->seg_type);
	if (fname)
		loom_appendf(buf, len, &off, "field %d (%s) ", err->field, fname);
	else if (err->field >= 0)
		loom_appendf(buf, len, &off, "field %d ", err->field);
	if (off && off < len)
		off--; /* the trailing space becomes ": " */
	loom_appendf(buf, len, &off, "%s%s", off ? ": " : "", msg_errc_name(err->code));
	return buf;
}
