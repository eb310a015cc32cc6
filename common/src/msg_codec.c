// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Encoder and decoder, side by side, both walking the field tables of
 * msg_tables.c. See msg.h for why decoding uses its own bounded reader
 * (msg_reader.c) and encoding is a small writer of msgpack's shortest forms.
 */
#include <arpa/inet.h>
#include <string.h>

#include "msg-internal.h"

static void err_reset(struct msg_err *err)
{
	*err = (struct msg_err){ .msg_type = -1, .seg_index = -1, .seg_type = -1, .field = -1 };
}

/* Record the code and return it negated: "fail and say why" in one line. */
static int fail(struct msg_err *err, int code)
{
	err->code = code;
	return -code;
}

/* Text fields: UTF-8 without control bytes (msg_wire.h). */
static bool text_ok(const uint8_t *s, size_t len)
{
	for (size_t i = 0, n; i < len; i += n) {
		n = msg_text_char(s + i, len - i);
		if (!n)
			return false;
	}
	return true;
}

static uint32_t presence(const struct msg_seg_desc *d, const void *body)
{
	uint32_t p;

	if (d->present_off < 0)
		return 0;
	memcpy(&p, (const uint8_t *)body + d->present_off, sizeof(p));
	return p;
}

static bool field_present(const struct msg_field *f, uint32_t present)
{
	return f->pbit < 0 || (present & (1u << f->pbit));
}

/* ---- Validation shared by the encoder ------------------------------------- */

/*
 * Checks one field of a body about to be encoded, with the same rules the
 * decoder applies to what it reads, so we never send what we would refuse.
 */
static int check_field(const struct msg_field *f, const void *body)
{
	const uint8_t *p = (const uint8_t *)body + f->off;

	switch (f->kind) {
	case MSG_FK_UINT:
		return msg_uint_ok(f, loom_load_uint(p, f->size)) ? 0 : MSG_E_RANGE;
	case MSG_FK_BYTES:
	case MSG_FK_PTR: {
		uint64_t len = loom_load_uint((const uint8_t *)body + f->len_off, f->size);
		const uint8_t *ptr;

		if (len < f->min || len > f->cap)
			return MSG_E_LENGTH;
		if (f->kind == MSG_FK_PTR) {
			memcpy(&ptr, p, sizeof(ptr));
			if (!ptr)
				return MSG_E_INVALID;
		}
		return 0;
	}
	case MSG_FK_TEXT: {
		size_t len = strnlen((const char *)p, f->cap + 1);

		if (len > f->cap)
			return MSG_E_LENGTH;
		return text_ok(p, len) ? 0 : MSG_E_RANGE;
	}
	case MSG_FK_ACTIONS: {
		const struct msg_action_list *l = (const void *)p;

		if (l->n > MSG_MAX_ACTIONS)
			return MSG_E_LENGTH;
		for (unsigned i = 0; i < l->n; i++)
			if (l->a[i].type == 0)
				return MSG_E_RANGE;
		return 0;
	}
	default:
		return 0;
	}
}

/*
 * Placement rules for segment index i of type stype in a message of type
 * mtype, shared by both directions. seen is the set of types placed so far.
 * Returns 0, 1 for "skip it" (decode only), or an error code.
 */
static int place(unsigned mtype, unsigned stype, bool required, unsigned i,
		 const bool *seen)
{
	if (!msg_desc(stype) || msg_placement(mtype, stype) == MSG_PLACE_NO)
		return required ? MSG_E_SEG_UNKNOWN : 1;
	if (seen[stype])
		return MSG_E_SEG_DUP;
	if (stype == MSG_S_SECURITY && i != 0)
		return MSG_E_SEC_PLACE;
	return 0;
}

static int check_mandatory(unsigned mtype, const bool *seen, struct msg_err *err)
{
	for (unsigned t = 0; t < MSG_SEG_TABLE_SIZE; t++) {
		if (msg_placement(mtype, t) == MSG_PLACE_MAND && !seen[t]) {
			err->seg_type = (int)t;
			return fail(err, MSG_E_SEG_MISSING);
		}
	}
	return 0;
}

/* ---- Encoder --------------------------------------------------------------- */

/*
 * The writer: msgpack in its shortest forms straight into the caller's
 * buffer. msgpack-c's packer called a write function for every token (a
 * map key was a call, a memcpy of one byte and a bounds check): a third of
 * what the manager spent on a decision. The bytes are the same (the
 * fixtures pin them, and the tests read our output back with msgpack-c).
 */
struct wbuf {
	uint8_t *buf;
	size_t cap;
	size_t len;
	bool full;
};

static inline uint8_t *wb_room(struct wbuf *w, size_t n)
{
	if (w->full || w->cap - w->len < n) {
		w->full = true;
		return NULL;
	}
	uint8_t *p = w->buf + w->len;
	w->len += n;
	return p;
}

static inline void wb_be(uint8_t *p, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

/* A tag byte and an n-byte big-endian number after it. */
static inline void wb_tag(struct wbuf *w, uint8_t tag, uint64_t v, unsigned n)
{
	uint8_t *p = wb_room(w, 1 + n);

	if (p) {
		p[0] = tag;
		wb_be(p + 1, v, n);
	}
}

static void wb_uint(struct wbuf *w, uint64_t v)
{
	if (v < 128)
		wb_tag(w, (uint8_t)v, 0, 0);
	else if (v <= UINT8_MAX)
		wb_tag(w, 0xcc, v, 1);
	else if (v <= UINT16_MAX)
		wb_tag(w, 0xcd, v, 2);
	else if (v <= UINT32_MAX)
		wb_tag(w, 0xce, v, 4);
	else
		wb_tag(w, 0xcf, v, 8);
}

static void wb_bool(struct wbuf *w, bool v)
{
	wb_tag(w, v ? 0xc3 : 0xc2, 0, 0);
}

/* Array (fix 0x90, 0xdc, 0xdd) or map (fix 0x80, 0xde, 0xdf) header. */
static void wb_container(struct wbuf *w, bool map, size_t n)
{
	if (n < 16)
		wb_tag(w, (uint8_t)((map ? 0x80 : 0x90) | n), 0, 0);
	else if (n <= UINT16_MAX)
		wb_tag(w, map ? 0xde : 0xdc, n, 2);
	else
		wb_tag(w, map ? 0xdf : 0xdd, n, 4);
}

static void wb_body(struct wbuf *w, const void *p, size_t n)
{
	uint8_t *d = wb_room(w, n);

	if (d && n)
		memcpy(d, p, n);
}

static void pack_bin(struct wbuf *w, const void *p, size_t n)
{
	if (n <= UINT8_MAX)
		wb_tag(w, 0xc4, n, 1);
	else if (n <= UINT16_MAX)
		wb_tag(w, 0xc5, n, 2);
	else
		wb_tag(w, 0xc6, n, 4);
	wb_body(w, p, n);
}

static void pack_str(struct wbuf *w, const void *p, size_t n)
{
	if (n < 32)
		wb_tag(w, (uint8_t)(0xa0 | n), 0, 0);
	else if (n <= UINT8_MAX)
		wb_tag(w, 0xd9, n, 1);
	else if (n <= UINT16_MAX)
		wb_tag(w, 0xda, n, 2);
	else
		wb_tag(w, 0xdb, n, 4);
	wb_body(w, p, n);
}

static void encode_field(struct wbuf *pk, const struct msg_field *f, const void *body)
{
	const uint8_t *p = (const uint8_t *)body + f->off;

	wb_uint(pk, f->key);
	switch (f->kind) {
	case MSG_FK_BOOL:
		wb_bool(pk, *(const bool *)p);
		break;
	case MSG_FK_UINT:
		wb_uint(pk, loom_load_uint(p, f->size));
		break;
	case MSG_FK_PORT:
		wb_uint(pk, ntohs((uint16_t)loom_load_uint(p, 2)));
		break;
	case MSG_FK_ADDR:
		pack_bin(pk, p, 16);
		break;
	case MSG_FK_BYTES:
		pack_bin(pk, p, loom_load_uint((const uint8_t *)body + f->len_off, f->size));
		break;
	case MSG_FK_PTR: {
		const uint8_t *ptr;

		memcpy(&ptr, p, sizeof(ptr));
		pack_bin(pk, ptr, loom_load_uint((const uint8_t *)body + f->len_off, f->size));
		break;
	}
	case MSG_FK_TEXT: {
		size_t len = strlen((const char *)p);

		pack_str(pk, p, len);
		break;
	}
	case MSG_FK_ACTIONS: {
		const struct msg_action_list *l = (const void *)p;

		wb_container(pk, false, l->n);
		for (unsigned i = 0; i < l->n; i++) {
			wb_container(pk, false, 2);
			wb_uint(pk, l->a[i].type);
			wb_uint(pk, l->a[i].required ? MSG_SEG_F_REQUIRED : 0);
		}
		break;
	}
	}
}

static int encode_seg(struct wbuf *pk, const struct msg_seg *s, struct msg_err *err)
{
	const struct msg_seg_desc *d = msg_desc(s->type);
	unsigned nmap = 0;
	uint32_t present;
	int key;

	if (!d)
		return fail(err, MSG_E_SEG_UNKNOWN);
	present = presence(d, &s->u);

	for (unsigned j = 0; j < d->nfields; j++) {
		const struct msg_field *f = &d->fields[j];
		int rc;

		if (!field_present(f, present))
			continue;
		rc = check_field(f, &s->u);
		if (rc) {
			err->field = f->key;
			return fail(err, rc);
		}
		nmap++;
	}
	if (d->check && !d->check(&s->u, &key)) {
		err->field = key;
		return fail(err, MSG_E_INVALID);
	}

	wb_container(pk, false, 3);
	wb_uint(pk, s->type);
	wb_uint(pk, s->required ? MSG_SEG_F_REQUIRED : 0);
	wb_container(pk, true, nmap);
	for (unsigned j = 0; j < d->nfields; j++)
		if (field_present(&d->fields[j], present))
			encode_field(pk, &d->fields[j], &s->u);
	return 0;
}

int msg_encode(const struct msg *m, uint8_t *buf, size_t cap, size_t *len,
	       struct msg_err *errp)
{
	struct msg_err scratch;
	struct msg_err *err = errp ? errp : &scratch;
	struct wbuf w = { .buf = buf, .cap = cap };
	bool seen[MSG_SEG_TABLE_SIZE] = { 0 };
	int rc;

	err_reset(err);
	err->msg_type = m->type;
	if (m->version < MSG_VERSION_MIN || m->version > MSG_VERSION_MAX)
		return fail(err, MSG_E_VERSION);
	if (!msg_type_known(m->type))
		return fail(err, MSG_E_MSG_TYPE);
	if (m->nsegs > MSG_MAX_SEGS)
		return fail(err, MSG_E_SEG_COUNT);

	wb_container(&w, false, 3);
	wb_uint(&w, m->version);
	wb_uint(&w, m->type);
	wb_container(&w, false, m->nsegs);
	for (unsigned i = 0; i < m->nsegs; i++) {
		const struct msg_seg *s = &m->segs[i];

		err->seg_index = (int)i;
		err->seg_type = s->type;
		rc = place(m->type, s->type, true, i, seen);
		if (rc)
			return fail(err, rc == 1 ? MSG_E_SEG_UNKNOWN : rc);
		seen[s->type] = true;
		rc = encode_seg(&w, s, err);
		if (rc)
			return rc;
	}
	err->seg_index = -1;
	err->seg_type = -1;
	rc = check_mandatory(m->type, seen, err);
	if (rc)
		return rc;
	if (w.full)
		return fail(err, MSG_E_NOSPACE);
	if (w.len > MSG_MAX_SIZE)
		return fail(err, MSG_E_TOO_BIG);
	*len = w.len;
	err->msg_type = -1;
	return 0;
}

/* ---- Decoder --------------------------------------------------------------- */

static int decode_actions(struct msg_rd *r, struct msg_action_list *l)
{
	uint32_t n, two;
	uint64_t type, flags;
	int rc;

	rc = msg_rd_array(r, &n);
	if (rc)
		return rc;
	if (n > MSG_MAX_ACTIONS)
		return -MSG_E_LENGTH;
	for (uint32_t i = 0; i < n; i++) {
		rc = msg_rd_array(r, &two);
		if (rc)
			return rc;
		if (two != 2)
			return -MSG_E_LENGTH;
		if ((rc = msg_rd_uint(r, &type)) || (rc = msg_rd_uint(r, &flags)))
			return rc;
		if (type == 0 || type > UINT8_MAX || flags > MSG_SEG_F_REQUIRED)
			return -MSG_E_RANGE;
		l->a[i].type = (uint8_t)type;
		l->a[i].required = flags & MSG_SEG_F_REQUIRED;
	}
	l->n = (uint8_t)n;
	return 0;
}

static int decode_field(struct msg_rd *r, const struct msg_field *f, void *body)
{
	uint8_t *p = (uint8_t *)body + f->off;
	const uint8_t *data;
	uint32_t len;
	uint64_t v;
	bool b;
	int rc;

	switch (f->kind) {
	case MSG_FK_BOOL:
		rc = msg_rd_bool(r, &b);
		if (!rc)
			*(bool *)p = b;
		return rc;
	case MSG_FK_UINT:
		rc = msg_rd_uint(r, &v);
		if (rc)
			return rc;
		if (!msg_uint_ok(f, v))
			return -MSG_E_RANGE;
		loom_store_uint(p, f->size, v);
		return 0;
	case MSG_FK_PORT:
		rc = msg_rd_uint(r, &v);
		if (rc)
			return rc;
		if (v > UINT16_MAX)
			return -MSG_E_RANGE;
		loom_store_uint(p, 2, htons((uint16_t)v));
		return 0;
	case MSG_FK_ADDR:
	case MSG_FK_BYTES:
	case MSG_FK_PTR:
		rc = msg_rd_bin(r, &data, &len);
		if (rc)
			return rc;
		if (len < f->min || len > f->cap)
			return -MSG_E_LENGTH;
		if (f->kind == MSG_FK_PTR) {
			memcpy(p, &data, sizeof(data));
		} else {
			memcpy(p, data, len);
		}
		if (f->kind != MSG_FK_ADDR)
			loom_store_uint((uint8_t *)body + f->len_off, f->size, len);
		return 0;
	case MSG_FK_TEXT:
		rc = msg_rd_str(r, &data, &len);
		if (rc)
			return rc;
		if (len < f->min || len > f->cap)
			return -MSG_E_LENGTH;
		if (!text_ok(data, len))
			return -MSG_E_RANGE;
		memcpy(p, data, len);
		p[len] = '\0';
		return 0;
	case MSG_FK_ACTIONS:
		return decode_actions(r, (struct msg_action_list *)(void *)p);
	}
	return -MSG_E_INVALID;
}

static const struct msg_field *find_field(const struct msg_seg_desc *d, uint64_t key)
{
	for (unsigned j = 0; j < d->nfields; j++)
		if (d->fields[j].key == key)
			return &d->fields[j];
	return NULL;
}

static int decode_body(struct msg_rd *r, const struct msg_seg_desc *d, void *body,
		       struct msg_err *err)
{
	uint64_t seen = 0, key;
	uint32_t n, present = 0;
	int rc, bad;

	rc = msg_rd_map(r, &n);
	if (rc)
		return fail(err, -rc);
	for (uint32_t i = 0; i < n; i++) {
		const struct msg_field *f;

		rc = msg_rd_uint(r, &key);
		if (rc)
			return fail(err, rc == -MSG_E_RANGE ? MSG_E_TYPE : -rc);
		f = find_field(d, key);
		if (!f) {
			/* A field from a later revision: skip it whole. */
			rc = msg_rd_skip(r);
			if (rc)
				return fail(err, -rc);
			continue;
		}
		err->field = f->key;
		if (seen & (UINT64_C(1) << f->key))
			return fail(err, MSG_E_DUP_KEY);
		seen |= UINT64_C(1) << f->key;
		rc = decode_field(r, f, body);
		if (rc)
			return fail(err, -rc);
		if (f->pbit >= 0)
			present |= 1u << f->pbit;
		err->field = -1;
	}
	for (unsigned j = 0; j < d->nfields; j++) {
		const struct msg_field *f = &d->fields[j];

		if (f->pbit < 0 && !(seen & (UINT64_C(1) << f->key))) {
			err->field = f->key;
			return fail(err, MSG_E_FIELD_MISSING);
		}
	}
	if (d->present_off >= 0)
		memcpy((uint8_t *)body + d->present_off, &present, sizeof(present));
	if (d->check && !d->check(body, &bad)) {
		err->field = bad;
		return fail(err, MSG_E_INVALID);
	}
	return 0;
}

static int decode_header(struct msg_rd *r, struct msg *m, uint32_t *nsegs, struct msg_err *err)
{
	uint64_t version, type;
	uint32_t n;
	int rc;

	rc = msg_rd_array(r, &n);
	if (rc)
		return fail(err, -rc);
	if (n != 3)
		return fail(err, MSG_E_LENGTH);
	rc = msg_rd_uint(r, &version);
	if (rc)
		return fail(err, -rc);
	/* Read the type even for a version we refuse, for the error reply. */
	rc = msg_rd_uint(r, &type);
	if (!rc && type <= UINT8_MAX) {
		m->type = (uint8_t)type;
		err->msg_type = (int)type;
	}
	if (version < MSG_VERSION_MIN || version > MSG_VERSION_MAX)
		return fail(err, MSG_E_VERSION);
	m->version = (uint8_t)version;
	if (rc)
		return fail(err, -rc);
	if (type > UINT8_MAX || !msg_type_known((unsigned)type))
		return fail(err, MSG_E_MSG_TYPE);
	rc = msg_rd_array(r, nsegs);
	if (rc)
		return fail(err, -rc);
	if (*nsegs > MSG_MAX_SEGS)
		return fail(err, MSG_E_SEG_COUNT);
	return 0;
}

int msg_decode(const uint8_t *buf, size_t len, struct msg *m, struct msg_err *errp)
{
	struct msg_err scratch;
	struct msg_err *err = errp ? errp : &scratch;
	struct msg_rd r = { .start = buf, .p = buf, .end = buf + len };
	bool seen[MSG_SEG_TABLE_SIZE] = { 0 };
	uint32_t nsegs;
	int rc;

	memset(m, 0, sizeof(*m));
	err_reset(err);
	if (len > MSG_MAX_SIZE)
		return fail(err, MSG_E_TOO_BIG);
	rc = decode_header(&r, m, &nsegs, err);
	if (rc)
		return rc;

	for (uint32_t i = 0; i < nsegs; i++) {
		uint64_t stype, flags;
		uint32_t three;
		struct msg_seg *s;
		bool required;

		err->seg_index = (int)i;
		rc = msg_rd_array(&r, &three);
		if (rc)
			return fail(err, -rc);
		if (three != 3)
			return fail(err, MSG_E_LENGTH);
		rc = msg_rd_uint(&r, &stype);
		if (rc)
			return fail(err, -rc);
		if (stype == 0 || stype > UINT8_MAX)
			return fail(err, MSG_E_RANGE);
		err->seg_type = (int)stype;
		rc = msg_rd_uint(&r, &flags);
		if (rc)
			return fail(err, -rc);
		if (flags & ~(uint64_t)MSG_SEG_F_REQUIRED)
			return fail(err, MSG_E_RANGE);
		required = flags & MSG_SEG_F_REQUIRED;

		rc = place(m->type, (unsigned)stype, required, i, seen);
		if (rc == 1) {
			rc = msg_rd_skip(&r);
			if (rc)
				return fail(err, -rc);
			m->skipped++;
			continue;
		}
		if (rc)
			return fail(err, rc);
		seen[stype] = true;
		s = &m->segs[m->nsegs++];
		s->type = (uint8_t)stype;
		s->required = required;
		rc = decode_body(&r, msg_desc((unsigned)stype), &s->u, err);
		if (rc)
			return rc;
	}
	err->seg_index = -1;
	err->seg_type = -1;
	rc = check_mandatory(m->type, seen, err);
	if (rc)
		return rc;
	if (r.p != r.end)
		return fail(err, MSG_E_TRAILING);
	return 0;
}

int msg_decode_verified(const uint8_t *buf, size_t len, const uint8_t *key, size_t keylen,
			struct msg *m, struct msg_err *errp)
{
	struct msg_err scratch;
	struct msg_err *err = errp ? errp : &scratch;
	struct msg_rd r = { .start = buf, .p = buf, .end = buf + len };
	uint32_t nsegs;
	int rc = msg_verify(buf, len, key, keylen);

	if (!rc)
		return msg_decode(buf, len, m, err);
	/* Of a message that failed, read only the header's type, so the
	 * caller can answer it with msg_build_error() as after msg_decode(). */
	memset(m, 0, sizeof(*m));
	err_reset(err);
	if (len <= MSG_MAX_SIZE)
		decode_header(&r, m, &nsegs, err);
	memset(m, 0, sizeof(*m));
	return fail(err, -rc);
}

/* ---- Replication transaction lists ------------------------------------------ */

/*
 * A repl-batch carries its transactions as one bin field holding a msgpack
 * array of maps, so a batch of hundreds of entries stays one segment and
 * struct msg keeps its fixed size (the entries are read in place, never
 * copied into the union). The list follows the segment rules: keyed fields,
 * every value checked, and one encoding only (decode re-encodes each entry
 * and compares), so a batch's bytes are as canonical as the message's.
 */

#define TXW_HDR 3u /* room kept for the array header: 0xdc + 2 bytes */

/* Which fields each op takes: M mandatory, O optional, 0 not allowed. */
static const struct { uint8_t key, value, gen; } txn_rules[] = {
	[MSG_REPL_OP_ADD] = { 'M', 'M', 0 },
	[MSG_REPL_OP_UPDATE] = { 'M', 'M', 0 },
	[MSG_REPL_OP_DELETE] = { 'M', 0, 0 },
	[MSG_REPL_OP_DELETE_OWNER] = { 0, 0, 0 },
	[MSG_REPL_OP_ERROR] = { 'M', 'O', 0 },
	[MSG_REPL_OP_AUTH] = { 0, 0, 'M' },
};

static int txn_rule(uint8_t rule, bool present)
{
	if (rule == 'M' && !present)
		return MSG_E_FIELD_MISSING;
	if (!rule && present)
		return MSG_E_INVALID;
	return 0;
}

/* 0 or the MSG_E_* code the decoder would refuse t with. */
static int txn_check(const struct msg_repl_txn *t)
{
	int rc;

	if (t->op < MSG_REPL_OP_ADD || t->op > MSG_REPL_OP_AUTH)
		return MSG_E_RANGE;
	if (t->owner == 0 && t->op != MSG_REPL_OP_DELETE_OWNER)
		return MSG_E_RANGE;
	if (t->key_len > MSG_MAX_REPL_KEY || t->value_len > MSG_MAX_REPL_VALUE)
		return MSG_E_LENGTH;
	if ((rc = txn_rule(txn_rules[t->op].key, t->present & MSG_RTXN_KEY)) ||
	    (rc = txn_rule(txn_rules[t->op].value, t->present & MSG_RTXN_VALUE)) ||
	    (rc = txn_rule(txn_rules[t->op].gen, t->present & MSG_RTXN_GEN)))
		return rc;
	return 0;
}

static void txn_encode(struct wbuf *w, const struct msg_repl_txn *t)
{
	wb_container(w, true, 2u + !!(t->present & MSG_RTXN_KEY) +
			      !!(t->present & MSG_RTXN_VALUE) + !!(t->present & MSG_RTXN_GEN));
	wb_uint(w, 1);
	wb_uint(w, t->op);
	wb_uint(w, 2);
	wb_uint(w, t->owner);
	if (t->present & MSG_RTXN_KEY) {
		wb_uint(w, 3);
		pack_bin(w, t->key, t->key_len);
	}
	if (t->present & MSG_RTXN_VALUE) {
		wb_uint(w, 4);
		pack_bin(w, t->value, t->value_len);
	}
	if (t->present & MSG_RTXN_GEN) {
		wb_uint(w, 5);
		wb_uint(w, t->generation);
	}
}

void msg_repl_txw_init(struct msg_repl_txw *w, uint8_t *buf, size_t cap)
{
	*w = (struct msg_repl_txw){ .buf = buf, .cap = cap, .len = TXW_HDR };
	/* the finished list, its header included, is what the decoder bounds
	 * by MSG_MAX_REPL_TXNS; it is never longer than len */
	if (cap > MSG_MAX_REPL_TXNS)
		w->cap = MSG_MAX_REPL_TXNS;
}

int msg_repl_txw_add(struct msg_repl_txw *w, const struct msg_repl_txn *t)
{
	struct wbuf wb = { .buf = w->buf, .cap = w->cap, .len = w->len };
	int rc = txn_check(t);

	if (rc)
		return -rc;
	if (w->n >= UINT16_MAX)
		return -MSG_E_NOSPACE;
	txn_encode(&wb, t);
	if (wb.full)
		return -MSG_E_NOSPACE;
	w->len = wb.len;
	w->n++;
	return 0;
}

const uint8_t *msg_repl_txw_finish(struct msg_repl_txw *w, uint32_t *len)
{
	size_t hl = w->n < 16 ? 1 : 3;
	uint8_t *p = w->buf + TXW_HDR - hl;

	if (hl == 1) {
		p[0] = (uint8_t)(0x90 | w->n);
	} else {
		p[0] = 0xdc;
		wb_be(p + 1, w->n, 2);
	}
	*len = (uint32_t)(w->len - (TXW_HDR - hl));
	return p;
}

int msg_repl_txr_init(struct msg_repl_txr *r, const uint8_t *txns, size_t len)
{
	struct msg_rd rd = { .start = txns, .p = txns, .end = txns + len };
	uint32_t n;
	int rc = msg_rd_array(&rd, &n);

	if (rc)
		return rc;
	/* A list that could not hold n entries is refused before any is read. */
	if (n > (size_t)(rd.end - rd.p) / 5)
		return -MSG_E_LENGTH;
	*r = (struct msg_repl_txr){ .p = rd.p, .end = rd.end, .left = n };
	return (int)n;
}

static int txn_bin(struct msg_rd *rd, const uint8_t **data, uint16_t *len, uint32_t cap)
{
	uint32_t l;
	int rc = msg_rd_bin(rd, data, &l);

	if (rc)
		return rc;
	if (l > cap)
		return -MSG_E_LENGTH;
	*len = (uint16_t)l;
	return 0;
}

int msg_repl_txr_next(struct msg_repl_txr *r, struct msg_repl_txn *t)
{
	struct msg_rd rd = { .start = r->p, .p = r->p, .end = r->end };
	uint8_t again[1 + 5 + 1 + 9 + 2 + MSG_MAX_REPL_KEY + 3 + MSG_MAX_REPL_VALUE + 9];
	struct wbuf w = { .buf = again, .cap = sizeof(again) };
	uint64_t key, v, last = 0, seen = 0;
	uint32_t n;
	int rc;

	if (!r->left)
		return r->p == r->end ? 0 : -MSG_E_TRAILING;
	memset(t, 0, sizeof(*t));
	if ((rc = msg_rd_map(&rd, &n)))
		return rc;
	if (n > 5)
		return -MSG_E_LENGTH;
	for (uint32_t i = 0; i < n; i++) {
		if ((rc = msg_rd_uint(&rd, &key)))
			return rc;
		if (key <= last || key > 5)
			return -MSG_E_INVALID; /* unknown, repeated or out of order */
		last = key;
		seen |= UINT64_C(1) << key;
		switch (key) {
		case 1:
		case 2:
		case 5:
			if ((rc = msg_rd_uint(&rd, &v)))
				return rc;
			if (key == 1 && (v < MSG_REPL_OP_ADD || v > MSG_REPL_OP_AUTH))
				return -MSG_E_RANGE;
			if (key == 1)
				t->op = (uint8_t)v;
			else if (key == 2)
				t->owner = v;
			else
				t->generation = v, t->present |= MSG_RTXN_GEN;
			break;
		case 3:
			if ((rc = txn_bin(&rd, &t->key, &t->key_len, MSG_MAX_REPL_KEY)))
				return rc;
			t->present |= MSG_RTXN_KEY;
			break;
		case 4:
			if ((rc = txn_bin(&rd, &t->value, &t->value_len, MSG_MAX_REPL_VALUE)))
				return rc;
			t->present |= MSG_RTXN_VALUE;
			break;
		}
	}
	if ((seen & 0x6) != 0x6) /* op and owner */
		return -MSG_E_FIELD_MISSING;
	if ((rc = txn_check(t)))
		return -rc;
	txn_encode(&w, t);
	if (w.full || w.len != (size_t)(rd.p - r->p) || memcmp(again, r->p, w.len))
		return -MSG_E_INVALID; /* not the encoder's form */
	r->p = rd.p;
	r->left--;
	return 1;
}

bool msg_repl_batch_check(const void *body, int *key)
{
	const struct msg_repl_batch *b = body;
	struct msg_repl_txr r;
	struct msg_repl_txn t;
	int rc;

	*key = 3;
	if (msg_repl_txr_init(&r, b->txns, b->txns_len) < 0)
		return false;
	while ((rc = msg_repl_txr_next(&r, &t)) > 0)
		;
	return rc == 0;
}
