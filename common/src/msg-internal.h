/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Private to the msg_ codec (common/src/msg_*.c): the segment tables and the
 * bounded msgpack reader shared by the decoder and the authenticator.
 */
#ifndef LOOM_COMMON_MSG_INTERNAL_H
#define LOOM_COMMON_MSG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/compiler.h"
#include "common/msg.h"

/* Segment types the codec knows are below this (a capability bit each). */
#define MSG_SEG_TABLE_SIZE 64u
#define MSG_TYPE_TABLE_SIZE 64u /* through the provisioning range, 48..63 */

struct msg_seg_desc {
	const struct msg_field *fields;
	uint8_t nfields;
	int16_t present_off;          /* -1: no optional fields */
	/* Cross-field rule the table cannot say; returns true when the body
	 * is consistent, else false with *key the field to blame (-1: the
	 * segment as a whole). NULL when there is none. */
	bool (*check)(const void *body, int *key);
};

/* Indexed by segment type; fields == NULL for an unknown type. */
extern const struct msg_seg_desc msg_seg_descs[MSG_SEG_TABLE_SIZE];

/* Which segments a message type carries (msg_wire.h's table). */
enum { MSG_PLACE_NO = 0, MSG_PLACE_OPT, MSG_PLACE_MAND };
extern const uint8_t msg_place[MSG_TYPE_TABLE_SIZE][MSG_SEG_TABLE_SIZE];

static inline const struct msg_seg_desc *msg_desc(unsigned seg_type)
{
	if (seg_type >= MSG_SEG_TABLE_SIZE || !msg_seg_descs[seg_type].fields)
		return NULL;
	return &msg_seg_descs[seg_type];
}

static inline unsigned msg_placement(unsigned type, unsigned seg_type)
{
	if (type >= MSG_TYPE_TABLE_SIZE || seg_type >= MSG_SEG_TABLE_SIZE)
		return MSG_PLACE_NO;
	return msg_place[type][seg_type];
}

/* Validate one unsigned value against its row (shared by both directions). */
static inline bool msg_uint_ok(const struct msg_field *f, uint64_t v)
{
	if (v < f->min || v > f->max)
		return false;
	return !f->bits || !(v & ~f->bits);
}

/*
 * Length of the character at s (avail bytes readable) when it is one that
 * text fields allow: well-formed UTF-8 (shortest form, no surrogates, at most
 * U+10FFFF) and not a control byte (0x00-0x1f, 0x7f). 0 otherwise.
 */
static inline size_t msg_text_char(const uint8_t *s, size_t avail)
{
	uint32_t c;
	size_t n;

	if (avail == 0)
		return 0;
	if (s[0] < 0x80)
		return s[0] >= 0x20 && s[0] != 0x7f;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2, c = s[0] & 0x1fu;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3, c = s[0] & 0x0fu;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4, c = s[0] & 0x07u;
	else
		return 0; /* a continuation byte, or a lead byte of an overlong or too big form */
	if (avail < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3fu);
	}
	if ((n == 3 && c < 0x800) || (n == 4 && (c < 0x10000 || c > 0x10ffff)) ||
	    (c >= 0xd800 && c <= 0xdfff))
		return 0;
	return n;
}

/* repl-batch's cross-field rule: its transaction list is well formed and in
 * the encoder's form (msg_codec.c). */
bool msg_repl_batch_check(const void *body, int *key);

/* ---- Bounded msgpack reader ---------------------------------------------- */

/*
 * Reads msgpack values from [p, end). Every function checks the bytes left
 * before it reads, advances p only on success, and returns 0 or -MSG_E_*:
 * TRUNCATED when the value runs past end, TYPE when it is not the kind asked
 * for, SYNTAX for the byte msgpack never uses (0xc1).
 */
struct msg_rd {
	const uint8_t *start;
	const uint8_t *p;
	const uint8_t *end;
};

int msg_rd_uint(struct msg_rd *r, uint64_t *v);
int msg_rd_bool(struct msg_rd *r, bool *v);
int msg_rd_array(struct msg_rd *r, uint32_t *n);
int msg_rd_map(struct msg_rd *r, uint32_t *n);
int msg_rd_bin(struct msg_rd *r, const uint8_t **data, uint32_t *len);
int msg_rd_str(struct msg_rd *r, const uint8_t **data, uint32_t *len);
/* Skip one complete value of any type, iteratively (no recursion). */
int msg_rd_skip(struct msg_rd *r);

#endif
