// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * What the decoder refuses, and that it says where. Bodies are packed by hand
 * with msgpack-c from the codec's own field tables, so every field of every
 * segment gets a wrong type, an out-of-range value and a missing variant.
 */
#include <criterion/criterion.h>
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include "msg-internal.h"
#include "msg_samples.h"

static struct msg m;
static uint8_t buf[MSG_MAX_SIZE + 64];

/* ---- A hand packer ------------------------------------------------------------ */

enum variant { V_GOOD, V_NIL, V_WRONG_TYPE, V_TOO_BIG, V_TOO_SMALL, V_BAD_BITS,
	       V_NEGATIVE, V_BAD_CHAR, V_ACT_ZERO, V_ACT_FLAGS, V_ACT_SHAPE, V_OMIT };

struct packer {
	msgpack_sbuffer sb;
	msgpack_packer pk;
};

static void pk_init(struct packer *p)
{
	msgpack_sbuffer_init(&p->sb);
	msgpack_packer_init(&p->pk, &p->sb, msgpack_sbuffer_write);
}

static void pk_bytes(msgpack_packer *pk, size_t n, bool as_str)
{
	static const uint8_t junk[MSG_MAX_PACKET + 2];

	if (as_str) {
		msgpack_pack_str(pk, n);
		msgpack_pack_str_body(pk, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", n);
	} else {
		msgpack_pack_bin(pk, n);
		msgpack_pack_bin_body(pk, junk, n);
	}
}

static void pk_text(msgpack_packer *pk, size_t n, bool bad)
{
	char s[MSG_MAX_HOSTNAME + 2];

	memset(s, 'h', n);
	if (bad && n)
		s[n - 1] = '\n';
	msgpack_pack_str(pk, n);
	msgpack_pack_str_body(pk, s, n);
}

static size_t good_len(const struct msg_field *f)
{
	if (f->cap <= 32)
		return f->cap;
	return f->min ? f->min : 1;
}

/* Pack one field's value, good or spoiled as v asks. Returns false if the
 * variant does not apply to this field. */
static bool pk_value(msgpack_packer *pk, const struct msg_field *f, enum variant v)
{
	if (v == V_NIL) {
		msgpack_pack_nil(pk);
		return true;
	}
	switch (f->kind) {
	case MSG_FK_BOOL:
		if (v == V_WRONG_TYPE)
			msgpack_pack_uint8(pk, 1);
		else if (v == V_GOOD)
			msgpack_pack_true(pk);
		else
			return false;
		return true;
	case MSG_FK_UINT:
	case MSG_FK_PORT: {
		uint64_t max = f->kind == MSG_FK_PORT ? 65535 : f->max;
		uint64_t good = f->min ? f->min : 1;

		switch (v) {
		case V_GOOD: msgpack_pack_uint64(pk, good); return true;
		case V_WRONG_TYPE: msgpack_pack_str(pk, 1); msgpack_pack_str_body(pk, "1", 1); return true;
		case V_NEGATIVE: msgpack_pack_int8(pk, -1); return true;
		case V_TOO_BIG:
			if (max == UINT64_MAX)
				return false;
			msgpack_pack_uint64(pk, max + 1);
			return true;
		case V_TOO_SMALL:
			if (!f->min)
				return false;
			msgpack_pack_uint64(pk, f->min - 1);
			return true;
		case V_BAD_BITS:
			if (!f->bits)
				return false;
			for (unsigned b = 0; b < 64; b++) {
				if (!(f->bits & (UINT64_C(1) << b))) {
					msgpack_pack_uint64(pk, UINT64_C(1) << b);
					return true;
				}
			}
			return false;
		default:
			return false;
		}
	}
	case MSG_FK_ADDR:
	case MSG_FK_BYTES:
	case MSG_FK_PTR:
		if (v == V_GOOD && f->kind == MSG_FK_PTR && f->cap == MSG_MAX_REPL_TXNS) {
			/* repl-batch's list must parse: the empty one */
			msgpack_pack_bin(pk, 1);
			msgpack_pack_bin_body(pk, "\x90", 1);
			return true;
		}
		switch (v) {
		case V_GOOD: pk_bytes(pk, good_len(f), false); return true;
		case V_WRONG_TYPE: pk_bytes(pk, good_len(f) > 32 ? 32 : good_len(f), true); return true;
		case V_TOO_BIG: pk_bytes(pk, f->cap + 1, false); return true;
		case V_TOO_SMALL:
			if (!f->min)
				return false;
			pk_bytes(pk, f->min - 1, false);
			return true;
		default:
			return false;
		}
	case MSG_FK_TEXT:
		switch (v) {
		case V_GOOD: pk_text(pk, 5, false); return true;
		case V_WRONG_TYPE: pk_bytes(pk, 5, false); return true;
		case V_TOO_BIG: pk_text(pk, f->cap + 1, false); return true;
		case V_BAD_CHAR: pk_text(pk, 5, true); return true;
		default: return false;
		}
	case MSG_FK_ACTIONS:
		switch (v) {
		case V_GOOD:
		case V_ACT_ZERO:
		case V_ACT_FLAGS:
			msgpack_pack_array(pk, 1);
			msgpack_pack_array(pk, 2);
			msgpack_pack_uint8(pk, v == V_ACT_ZERO ? 0 : MSG_S_ACT_NAT);
			msgpack_pack_uint8(pk, v == V_ACT_FLAGS ? 2 : 1);
			return true;
		case V_ACT_SHAPE:
			msgpack_pack_array(pk, 1);
			msgpack_pack_array(pk, 1);
			msgpack_pack_uint8(pk, MSG_S_ACT_NAT);
			return true;
		case V_WRONG_TYPE:
			msgpack_pack_map(pk, 0);
			return true;
		case V_TOO_BIG:
			msgpack_pack_array(pk, MSG_MAX_ACTIONS + 1);
			for (unsigned i = 0; i <= MSG_MAX_ACTIONS; i++) {
				msgpack_pack_array(pk, 2);
				msgpack_pack_uint8(pk, MSG_S_ACT_NAT);
				msgpack_pack_uint8(pk, 0);
			}
			return true;
		default:
			return false;
		}
	}
	return false;
}

/* Pack segment stype with every field good, except field `key` as v asks. */
static bool pk_segment(msgpack_packer *pk, unsigned stype, unsigned flags, int key,
		       enum variant v)
{
	size_t n;
	const struct msg_field *f = msg_seg_fields(stype, &n);
	unsigned count = 0;
	bool applied = key < 0;

	cr_assert_not_null(f);
	for (size_t i = 0; i < n; i++)
		count += !(f[i].key == key && v == V_OMIT);
	msgpack_pack_array(pk, 3);
	msgpack_pack_uint8(pk, (uint8_t)stype);
	msgpack_pack_uint8(pk, (uint8_t)flags);
	msgpack_pack_map(pk, count);
	for (size_t i = 0; i < n; i++) {
		bool target = f[i].key == key;

		if (target && v == V_OMIT) {
			applied = true;
			continue;
		}
		msgpack_pack_uint8(pk, f[i].key);
		if (target && pk_value(pk, &f[i], v)) {
			applied = true;
		} else {
			/* pk_value packs nothing when a variant does not apply. */
			pk_value(pk, &f[i], V_GOOD);
		}
	}
	return applied;
}

/* A message type that may carry stype (preferring one that needs it). */
static unsigned host_type(unsigned stype)
{
	for (unsigned t = 1; t < MSG_TYPE_TABLE_SIZE; t++)
		if (msg_placement(t, stype) == MSG_PLACE_MAND)
			return t;
	for (unsigned t = 1; t < MSG_TYPE_TABLE_SIZE; t++)
		if (msg_placement(t, stype) != MSG_PLACE_NO)
			return t;
	cr_assert_fail("segment %u fits no message", stype);
	return 0;
}

/* [1, mtype, [stype (spoiled), every other mandatory segment (good)]] */
static bool pk_message(struct packer *p, unsigned stype, int key, enum variant v)
{
	unsigned mtype = host_type(stype), nseg = 1;
	bool applied;

	for (unsigned t = 0; t < MSG_SEG_TABLE_SIZE; t++)
		nseg += t != stype && msg_placement(mtype, t) == MSG_PLACE_MAND;
	pk_init(p);
	msgpack_pack_array(&p->pk, 3);
	msgpack_pack_uint8(&p->pk, MSG_VERSION);
	msgpack_pack_uint8(&p->pk, (uint8_t)mtype);
	msgpack_pack_array(&p->pk, nseg);
	applied = pk_segment(&p->pk, stype, 1, key, v);
	for (unsigned t = 0; t < MSG_SEG_TABLE_SIZE; t++)
		if (t != stype && msg_placement(mtype, t) == MSG_PLACE_MAND)
			pk_segment(&p->pk, t, 1, -1, V_GOOD);
	return applied;
}

static int decode_sb(struct packer *p, struct msg_err *err)
{
	/* Decode from an exact-size heap copy so ASan sees any overread. */
	uint8_t *copy = malloc(p->sb.size ? p->sb.size : 1);
	int rc;

	memcpy(copy, p->sb.data, p->sb.size);
	rc = msg_decode(copy, p->sb.size, &m, err);
	free(copy);
	return rc;
}

/* ---- Every field of every segment ------------------------------------------------ */

/* code for integer fields, code_len for bytes, text and lists. */
static void expect_field2(enum variant v, int code, int code_len)
{
	for (unsigned t = 1; t < MSG_SEG_TABLE_SIZE; t++) {
		const struct msg_field *f;
		size_t n;

		if (!(f = msg_seg_fields(t, &n)))
			continue;
		for (size_t i = 0; i < n; i++) {
			struct packer p;
			struct msg_err err;
			int rc;

			if (v == V_OMIT && f[i].pbit >= 0)
				continue;
			if (!pk_message(&p, t, f[i].key, v)) {
				msgpack_sbuffer_destroy(&p.sb);
				continue;
			}
			bool integer = f[i].kind == MSG_FK_UINT || f[i].kind == MSG_FK_PORT;

			rc = decode_sb(&p, &err);
			msgpack_sbuffer_destroy(&p.sb);
			cr_assert_eq(rc, -(integer ? code : code_len), "%s.%s variant %d: got %s",
				     msg_seg_type_name(t), f[i].name, v, msg_errc_name(-rc));
			cr_assert_eq(err.seg_index, 0);
			cr_assert_eq(err.seg_type, (int)t);
			cr_assert_eq(err.field, f[i].key, "%s.%s", msg_seg_type_name(t), f[i].name);
		}
	}
}

static void expect_field(enum variant v, int code)
{
	expect_field2(v, code, code);
}

Test(msg_reject, all_good_bodies_decode)
{
	for (unsigned t = 1; t < MSG_SEG_TABLE_SIZE; t++) {
		struct packer p;
		struct msg_err err;
		char s[MSG_ERR_STR_LEN];

		if (!msg_seg_known(t))
			continue;
		pk_message(&p, t, -1, V_GOOD);
		cr_assert_eq(decode_sb(&p, &err), 0, "%s", msg_err_str(&err, s, sizeof(s)));
		msgpack_sbuffer_destroy(&p.sb);
		cr_assert_eq(m.segs[0].type, t);
	}
}

Test(msg_reject, wrong_msgpack_type) { expect_field(V_WRONG_TYPE, MSG_E_TYPE); }
Test(msg_reject, nil_value) { expect_field(V_NIL, MSG_E_TYPE); }
Test(msg_reject, negative_integer) { expect_field(V_NEGATIVE, MSG_E_RANGE); }
Test(msg_reject, bad_bits) { expect_field(V_BAD_BITS, MSG_E_RANGE); }
Test(msg_reject, control_char_in_text) { expect_field(V_BAD_CHAR, MSG_E_RANGE); }
Test(msg_reject, action_type_zero) { expect_field(V_ACT_ZERO, MSG_E_RANGE); }
Test(msg_reject, action_flags) { expect_field(V_ACT_FLAGS, MSG_E_RANGE); }
Test(msg_reject, action_shape) { expect_field(V_ACT_SHAPE, MSG_E_LENGTH); }
Test(msg_reject, missing_mandatory_field) { expect_field(V_OMIT, MSG_E_FIELD_MISSING); }

/* Above the max: RANGE for integers, LENGTH for bytes, text and lists. */
Test(msg_reject, too_big_value)
{
	expect_field2(V_TOO_BIG, MSG_E_RANGE, MSG_E_LENGTH);
}

Test(msg_reject, too_small_value)
{
	expect_field2(V_TOO_SMALL, MSG_E_RANGE, MSG_E_LENGTH);
}

/* A test that a variant did reach every kind it is meant for. */
Test(msg_reject, variants_reach_their_fields)
{
	struct packer p;

	cr_assert(pk_message(&p, MSG_S_WILDCARD, 11, V_TOO_BIG));   /* ttl 86401 */
	msgpack_sbuffer_destroy(&p.sb);
	cr_assert(pk_message(&p, MSG_S_HELLO, 5, V_TOO_SMALL));     /* vmin 0 */
	msgpack_sbuffer_destroy(&p.sb);
	cr_assert(!pk_message(&p, MSG_S_HELLO, 2, V_TOO_BIG));      /* caps: any u64 */
	msgpack_sbuffer_destroy(&p.sb);
}

/* ---- Hand-picked shapes ------------------------------------------------------------ */

static int decode_bytes(const void *b, size_t len, struct msg_err *err)
{
	uint8_t *copy = malloc(len ? len : 1);
	int rc;

	memcpy(copy, b, len);
	rc = msg_decode(copy, len, &m, err);
	free(copy);
	return rc;
}

Test(msg_reject, every_truncation)
{
	for (size_t i = 0; i < msg_nsamples; i++) {
		struct msg tmp;
		size_t len = sample_encode(&msg_samples[i], &tmp, buf, sizeof(buf));

		for (size_t cut = 0; cut < len; cut++) {
			struct msg_err err;
			int rc = decode_bytes(buf, cut, &err);

			cr_assert_lt(rc, 0, "%s cut at %zu decoded", msg_samples[i].name, cut);
			cr_assert_eq(rc, -err.code);
		}
		/* One byte too many is refused as well. */
		buf[len] = 0xc0;
		cr_assert_eq(decode_bytes(buf, len + 1, NULL), -MSG_E_TRAILING);
	}
}

Test(msg_reject, oversized_input)
{
	struct msg_err err;

	memset(buf, 0, sizeof(buf));
	cr_assert_eq(msg_decode(buf, MSG_MAX_SIZE + 1, &m, &err), -MSG_E_TOO_BIG);
	cr_assert_eq(err.code, MSG_E_TOO_BIG);
}

Test(msg_reject, lengths_that_lie)
{
	/* An array header claiming 4 G elements, a bin claiming 4 GB, a map
	 * claiming 65535 pairs: refused without allocating or reading on. */
	static const uint8_t arr[] = { 0xdd, 0xff, 0xff, 0xff, 0xff, 0x01 };
	static const uint8_t bin[] = { 0x93, 0x01, 0x06, 0x91, 0x93, 0x0b, 0x01, 0x81,
				       0x01, 0xc6, 0xff, 0xff, 0xff, 0xff, 0x00 };
	static const uint8_t map[] = { 0x93, 0x01, 0x08, 0x91, 0x93, 0x21, 0x01,
				       0xde, 0xff, 0xff, 0x01, 0x01 };
	struct msg_err err;

	cr_assert_eq(decode_bytes(arr, sizeof(arr), &err), -MSG_E_TRUNCATED);
	cr_assert_eq(decode_bytes(bin, sizeof(bin), &err), -MSG_E_TRUNCATED);
	cr_assert_eq(err.seg_type, MSG_S_IP_PACKET);
	cr_assert_eq(err.field, 1);
	cr_assert_eq(decode_bytes(map, sizeof(map), &err), -MSG_E_TRUNCATED);
	cr_assert_eq(err.seg_type, MSG_S_HEARTBEAT);
}

static void pk_header(struct packer *p, unsigned version, unsigned type, unsigned nseg)
{
	pk_init(p);
	msgpack_pack_array(&p->pk, 3);
	msgpack_pack_uint64(&p->pk, version);
	msgpack_pack_uint64(&p->pk, type);
	msgpack_pack_array(&p->pk, nseg);
}

static void pk_heartbeat(struct packer *p)
{
	pk_segment(&p->pk, MSG_S_HEARTBEAT, 1, -1, V_GOOD);
}

Test(msg_reject, wrong_version_gets_an_error_reply)
{
	struct packer p;
	struct msg_err err;
	struct msg reply, back;
	size_t len;

	for (unsigned v = 0; v < 300; v += 1 + (v > 10) * 50) {
		if (v >= MSG_VERSION_MIN && v <= MSG_VERSION_MAX)
			continue;
		pk_header(&p, v, MSG_T_HEARTBEAT, 1);
		pk_heartbeat(&p);
		cr_assert_eq(decode_sb(&p, &err), -MSG_E_VERSION, "version %u", v);
		msgpack_sbuffer_destroy(&p.sb);
		cr_assert_eq(err.msg_type, MSG_T_HEARTBEAT);

		msg_build_error(&reply, &err, "speak version 1", NULL, false);
		cr_assert_eq(msg_encode(&reply, buf, sizeof(buf), &len, NULL), 0);
		cr_assert_eq(msg_decode(buf, len, &back, NULL), 0);
		cr_assert_eq(back.segs[0].u.error.code, MSG_E_VERSION);
		cr_assert_eq(back.segs[0].u.error.msg_type, MSG_T_HEARTBEAT);
		cr_assert_eq(back.segs[0].u.error.present, MSG_ERRSEG_TEXT);
	}
}

Test(msg_reject, unknown_message_type)
{
	static const unsigned types[] = { 0, 10, 35, 47, 63, 255, 256 };
	struct packer p;
	struct msg_err err;

	for (unsigned i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		pk_header(&p, MSG_VERSION, types[i], 1);
		pk_heartbeat(&p);
		cr_assert_eq(decode_sb(&p, &err), -MSG_E_MSG_TYPE, "type %u", types[i]);
		msgpack_sbuffer_destroy(&p.sb);
	}
	/* A 64-bit type whose low 32 bits name a known type (found by fuzzing). */
	static const uint8_t wide[] = { 0x93, 0x01, 0xd3, 0x04, 0x00, 0x03, 0x0a,
					0x00, 0x00, 0x00, 0x01, 0x90 };
	cr_assert_eq(decode_bytes(wide, sizeof(wide), &err), -MSG_E_MSG_TYPE);
}

Test(msg_reject, too_many_segments)
{
	struct packer p;
	struct msg_err err;

	pk_header(&p, MSG_VERSION, MSG_T_HEARTBEAT, MSG_MAX_SEGS + 1);
	pk_heartbeat(&p);
	for (unsigned i = 0; i < MSG_MAX_SEGS; i++) {
		msgpack_pack_array(&p.pk, 3);
		msgpack_pack_uint8(&p.pk, 200);
		msgpack_pack_uint8(&p.pk, 0);
		msgpack_pack_nil(&p.pk);
	}
	cr_assert_eq(decode_sb(&p, &err), -MSG_E_SEG_COUNT);
	msgpack_sbuffer_destroy(&p.sb);

	/* The encoder cannot be asked for more either. */
	msg_init(&m, MSG_T_HEARTBEAT);
	for (unsigned i = 0; i < MSG_MAX_SEGS; i++)
		cr_assert_not_null(msg_add(&m, MSG_S_HEARTBEAT, true));
	cr_assert_null(msg_add(&m, MSG_S_HEARTBEAT, true));
}

/* An unknown segment whose body nests deeper than any stack would take. */
static void pk_unknown_seg(struct packer *p, unsigned type, unsigned flags, unsigned depth)
{
	msgpack_pack_array(&p->pk, 3);
	msgpack_pack_uint8(&p->pk, (uint8_t)type);
	msgpack_pack_uint8(&p->pk, (uint8_t)flags);
	for (unsigned i = 0; i < depth; i++)
		msgpack_pack_array(&p->pk, 1);
	msgpack_pack_map(&p->pk, 1);
	msgpack_pack_str(&p->pk, 1);
	msgpack_pack_str_body(&p->pk, "x", 1);
	msgpack_pack_double(&p->pk, 1.5);
}

Test(msg_reject, unknown_optional_segment_is_skipped)
{
	struct packer p;
	struct msg_err err;

	pk_header(&p, MSG_VERSION, MSG_T_HEARTBEAT, 4);
	pk_unknown_seg(&p, 60, 0, 50000);
	pk_heartbeat(&p);
	pk_unknown_seg(&p, 255, 0, 0);
	pk_segment(&p.pk, MSG_S_FIXED, 0, -1, V_GOOD); /* known, not allowed here */
	cr_assert_eq(decode_sb(&p, &err), 0, "%s", msg_errc_name(err.code));
	msgpack_sbuffer_destroy(&p.sb);
	cr_assert_eq(m.nsegs, 1);
	cr_assert_eq(m.skipped, 3);
	cr_assert_eq(m.segs[0].type, MSG_S_HEARTBEAT);
}

Test(msg_reject, unknown_required_segment_is_named)
{
	struct packer p;
	struct msg_err err;
	char s[MSG_ERR_STR_LEN];

	pk_header(&p, MSG_VERSION, MSG_T_HEARTBEAT, 3);
	pk_heartbeat(&p);
	pk_unknown_seg(&p, 61, 0, 3);
	pk_unknown_seg(&p, 62, 1, 3);
	cr_assert_eq(decode_sb(&p, &err), -MSG_E_SEG_UNKNOWN);
	msgpack_sbuffer_destroy(&p.sb);
	cr_assert_eq(err.seg_index, 2);
	cr_assert_eq(err.seg_type, 62);
	cr_assert_eq(err.msg_type, MSG_T_HEARTBEAT);
	cr_assert_str_eq(msg_err_str(&err, s, sizeof(s)),
			 "heartbeat segment 2 (type 62): required segment not understood");

	/* A known segment the message type does not carry, Required. */
	pk_header(&p, MSG_VERSION, MSG_T_HEARTBEAT, 2);
	pk_heartbeat(&p);
	pk_segment(&p.pk, MSG_S_ACT_NAT, 1, -1, V_GOOD);
	cr_assert_eq(decode_sb(&p, &err), -MSG_E_SEG_UNKNOWN);
	msgpack_sbuffer_destroy(&p.sb);
	cr_assert_eq(err.seg_type, MSG_S_ACT_NAT);
	cr_assert_eq(err.seg_index, 1);
}

Test(msg_reject, missing_mandatory_segment)
{
	struct packer p;
	struct msg_err err;

	pk_header(&p, MSG_VERSION, MSG_T_HELLO, 1);
	pk_segment(&p.pk, MSG_S_HELLO, 1, -1, V_GOOD);
	cr_assert_eq(decode_sb(&p, &err), -MSG_E_SEG_MISSING);
	msgpack_sbuffer_destroy(&p.sb);
	cr_assert_eq(err.seg_type, MSG_S_IDENTITY);

	msg_init(&m, MSG_T_UPDATE_DENY);
	size_t len;
	cr_assert_eq(msg_encode(&m, buf, sizeof(buf), &len, &err), -MSG_E_SEG_MISSING);
	cr_assert_eq(err.seg_type, MSG_S_ACTION_LIST);
}

Test(msg_reject, repeated_segment_and_misplaced_security)
{
	struct packer p;
	struct msg_err err;

	pk_header(&p, MSG_VERSION, MSG_T_HEARTBEAT, 2);
	pk_heartbeat(&p);
	pk_heartbeat(&p);
	cr_assert_eq(decode_sb(&p, &err), -MSG_E_SEG_DUP);
	cr_assert_eq(err.seg_index, 1);
	msgpack_sbuffer_destroy(&p.sb);

	pk_header(&p, MSG_VERSION, MSG_T_HEARTBEAT, 2);
	pk_heartbeat(&p);
	pk_segment(&p.pk, MSG_S_SECURITY, 0, -1, V_GOOD);
	cr_assert_eq(decode_sb(&p, &err), -MSG_E_SEC_PLACE);
	cr_assert_eq(err.seg_index, 1);
	msgpack_sbuffer_destroy(&p.sb);
}

Test(msg_reject, segment_header_shape)
{
	static const uint8_t flags2[] = { 0x93, 0x01, 0x08, 0x91, 0x93, 0x21, 0x02, 0x80 };
	static const uint8_t two[] = { 0x93, 0x01, 0x08, 0x91, 0x92, 0x21, 0x01 };
	static const uint8_t type0[] = { 0x93, 0x01, 0x08, 0x91, 0x93, 0x00, 0x00, 0xc0 };
	static const uint8_t type256[] = { 0x93, 0x01, 0x08, 0x91, 0x93, 0xcd, 0x01, 0x00,
					   0x00, 0xc0 };
	static const uint8_t body_not_map[] = { 0x93, 0x01, 0x08, 0x91, 0x93, 0x21, 0x01, 0x90 };
	static const uint8_t hdr4[] = { 0x94, 0x01, 0x08, 0x90, 0xc0 };
	static const uint8_t c1[] = { 0x93, 0x01, 0x08, 0x91, 0x93, 0x3c, 0x00, 0xc1 };
	struct msg_err err;

	cr_assert_eq(decode_bytes(flags2, sizeof(flags2), &err), -MSG_E_RANGE);
	cr_assert_eq(err.seg_type, MSG_S_HEARTBEAT);
	cr_assert_eq(decode_bytes(two, sizeof(two), &err), -MSG_E_LENGTH);
	cr_assert_eq(decode_bytes(type0, sizeof(type0), &err), -MSG_E_RANGE);
	cr_assert_eq(decode_bytes(type256, sizeof(type256), &err), -MSG_E_RANGE);
	cr_assert_eq(decode_bytes(body_not_map, sizeof(body_not_map), &err), -MSG_E_TYPE);
	cr_assert_eq(decode_bytes(hdr4, sizeof(hdr4), &err), -MSG_E_LENGTH);
	cr_assert_eq(decode_bytes(c1, sizeof(c1), &err), -MSG_E_SYNTAX);
}

Test(msg_reject, duplicate_key_and_cross_field_rules)
{
	/* heartbeat {1: 1, 1: 2} */
	static const uint8_t dup[] = { 0x93, 0x01, 0x08, 0x91, 0x93, 0x21, 0x01,
				       0x83, 0x01, 0x01, 0x02, 0x05, 0x01, 0x02 };
	/* hello with vmin 2 > vmax 1 */
	static const uint8_t hello[] = { 0x93, 0x01, 0x07, 0x92,
		0x93, 0x09, 0x01, 0x82, 0x01, 0xc4, 0x10, 0, 0, 0, 0, 0, 0, 0, 0,
		0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0xa0,
		0x93, 0x20, 0x01, 0x86, 0x01, 0x01, 0x02, 0x00, 0x03, 0x00, 0x04, 0x00,
		0x05, 0x02, 0x06, 0x01 };
	struct msg_err err;

	cr_assert_eq(decode_bytes(dup, sizeof(dup), &err), -MSG_E_DUP_KEY);
	cr_assert_eq(err.field, 1);
	cr_assert_eq(decode_bytes(hello, sizeof(hello), &err), -MSG_E_INVALID);
	cr_assert_eq(err.seg_type, MSG_S_HELLO);
	cr_assert_eq(err.field, 6);

	/* The same rules hold when encoding. */
	msg_init(&m, MSG_T_UPDATE_FIXED);
	msg_add(&m, MSG_S_FIXED, true);
	msg_add(&m, MSG_S_ACT_NAT, true); /* no field present */
	size_t len;
	cr_assert_eq(msg_encode(&m, buf, sizeof(buf), &len, &err), -MSG_E_INVALID);
	cr_assert_eq(err.seg_index, 1);
	m.segs[1].u.nat.present = MSG_NAT_DPORT;
	cr_assert_eq(msg_encode(&m, buf, sizeof(buf), &len, &err), 0);
	m.segs[0].u.fixed.ttl = MSG_MAX_TTL + 1;
	cr_assert_eq(msg_encode(&m, buf, sizeof(buf), &len, &err), -MSG_E_RANGE);
	cr_assert_eq(err.field, 11);
	m.segs[0].u.fixed.ttl = 1;
	msg_add(&m, MSG_S_SECURITY, false)->u.security.type = MSG_SEC_HMAC_SHA256;
	cr_assert_eq(msg_encode(&m, buf, sizeof(buf), &len, &err), -MSG_E_SEC_PLACE);
}

Test(msg_reject, lenient_where_it_is_safe)
{
	/* heartbeat {1: uint16 7, 2: int8 5, 9: "future field"} */
	static const uint8_t b[] = { 0x93, 0x01, 0x08, 0x91, 0x93, 0x21, 0x01,
				     0x83, 0x01, 0xcd, 0x00, 0x07, 0x02, 0xd0, 0x05,
				     0x09, 0xa3, 'f', 'o', 'o' };
	struct msg_err err;

	cr_assert_eq(decode_bytes(b, sizeof(b), &err), 0, "%s", msg_errc_name(err.code));
	cr_assert_eq(m.segs[0].u.heartbeat.seq, 7);
	cr_assert_eq(m.segs[0].u.heartbeat.mono_ms, 5);
}

Test(msg_reject, small_output_buffer)
{
	for (size_t i = 0; i < msg_nsamples; i++) {
		struct msg tmp;
		size_t len = sample_encode(&msg_samples[i], &tmp, buf, sizeof(buf)), l2;
		uint8_t *small = malloc(len);

		for (size_t cap = 0; cap < len; cap++)
			cr_assert_eq(msg_encode(&tmp, small, cap, &l2, NULL), -MSG_E_NOSPACE);
		cr_assert_eq(msg_encode(&tmp, small, len, &l2, NULL), 0);
		cr_assert_eq(l2, len);
		free(small);
	}
}
