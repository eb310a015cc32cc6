// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The service message codec: round trips, pinned fixtures, authentication,
 * and the helpers daemons answer with (error, update-deny), UTF-8 text.
 *
 * Fixtures: tests/fixtures/msg/<sample>.bin. To regenerate them after an
 * intended wire change:
 *   LOOM_MSG_REGEN=1 build/tests/unit/msg/test_msg --filter msg_fixture/pinned
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <msgpack.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/compiler.h"
#include "msg_samples.h"

static struct msg m1, m2;
static uint8_t buf[MSG_MAX_SIZE + 64], buf2[MSG_MAX_SIZE + 64];

static const char *why(const struct msg_err *err)
{
	static char s[MSG_ERR_STR_LEN];

	return msg_err_str(err, s, sizeof(s));
}

Test(msg_roundtrip, every_message_type)
{
	for (size_t i = 0; i < msg_nsamples; i++) {
		const struct msg_sample *s = &msg_samples[i];
		struct msg_err err;
		size_t len, len2;

		memset(&m1, 0, sizeof(m1));
		s->build(&m1);
		cr_assert_eq(msg_encode(&m1, buf, sizeof(buf), &len, &err), 0, "%s: %s",
			     s->name, why(&err));
		cr_assert_eq(msg_decode(buf, len, &m2, &err), 0, "%s: %s", s->name, why(&err));
		cr_assert(msg_equal(&m1, &m2), "%s: decode(encode(m)) != m", s->name);
		cr_assert_eq(m2.skipped, 0);
		cr_assert_eq(msg_encode(&m2, buf2, sizeof(buf2), &len2, &err), 0);
		cr_assert_eq(len2, len, "%s", s->name);
		cr_assert_arr_eq(buf2, buf, len, "%s: encode(decode(b)) != b", s->name);
	}
}

/* Any msgpack implementation must read what we write: msgpack-c agrees on
 * the shape [version, type, [[type, flags, {key: value}]...]]. */
Test(msg_roundtrip, output_is_plain_msgpack)
{
	for (size_t i = 0; i < msg_nsamples; i++) {
		size_t len = sample_encode(&msg_samples[i], &m1, buf, sizeof(buf));
		msgpack_unpacked u;
		size_t off = 0;

		msgpack_unpacked_init(&u);
		cr_assert_eq(msgpack_unpack_next(&u, (const char *)buf, len, &off),
			     MSGPACK_UNPACK_SUCCESS);
		cr_assert_eq(off, len);
		msgpack_object o = u.data;
		cr_assert_eq(o.type, MSGPACK_OBJECT_ARRAY);
		cr_assert_eq(o.via.array.size, 3);
		cr_assert_eq(o.via.array.ptr[0].via.u64, MSG_VERSION);
		cr_assert_eq(o.via.array.ptr[1].via.u64, msg_samples[i].type);
		msgpack_object segs = o.via.array.ptr[2];
		cr_assert_eq(segs.type, MSGPACK_OBJECT_ARRAY);
		cr_assert_eq(segs.via.array.size, m1.nsegs);
		for (uint32_t j = 0; j < segs.via.array.size; j++) {
			msgpack_object sg = segs.via.array.ptr[j];
			cr_assert_eq(sg.via.array.size, 3);
			cr_assert_eq(sg.via.array.ptr[0].via.u64, m1.segs[j].type);
			cr_assert_eq(sg.via.array.ptr[1].via.u64, m1.segs[j].required);
			cr_assert_eq(sg.via.array.ptr[2].type, MSGPACK_OBJECT_MAP);
		}
		msgpack_unpacked_destroy(&u);
	}
}

Test(msg_roundtrip, samples_cover_every_segment_type)
{
#define SEEN(name, num, str) cr_assert(seen[num], "no sample carries %s", str);
	bool seen[256] = { 0 };

	for (size_t i = 0; i < msg_nsamples; i++) {
		memset(&m1, 0, sizeof(m1));
		msg_samples[i].build(&m1);
		for (unsigned j = 0; j < m1.nsegs; j++)
			seen[m1.segs[j].type] = true;
	}
	MSG_SEG_LIST(SEEN)
#undef SEEN
	for (unsigned t = 1; t < 16; t++) {
		bool found = false;

		for (size_t i = 0; i < msg_nsamples; i++)
			found |= msg_samples[i].type == t;
		cr_assert_eq(found, msg_type_known(t), "type %u", t);
	}
}

Test(msg_roundtrip, largest_packet_fits)
{
	static uint8_t pkt[MSG_MAX_PACKET];
	struct msg_seg *s;
	size_t len;

	for (size_t i = 0; i < sizeof(pkt); i++)
		pkt[i] = (uint8_t)(i * 7);
	msg_init(&m1, MSG_T_UPDATE_FIXED);
	memset(&m1.segs, 0, sizeof(m1.segs));
	msg_add(&m1, MSG_S_FIXED, true)->u.fixed.ttl = 5;
	for (unsigned t = MSG_S_MGR_INTEREST; t <= MSG_S_AGENT_INTEREST; t++)
		msg_add(&m1, t, false)->u.mgr_interest.len = MSG_MAX_INTEREST;
	s = msg_add(&m1, MSG_S_IP_PACKET, true);
	s->u.ip_packet.data = pkt;
	s->u.ip_packet.len = sizeof(pkt);
	cr_assert_eq(msg_encode(&m1, buf, sizeof(buf), &len, NULL), 0);
	cr_assert_leq(len, MSG_MAX_SIZE);
	cr_assert_eq(msg_decode(buf, len, &m2, NULL), 0);
	cr_assert(msg_equal(&m1, &m2));
	/* The packet is not copied: it points into the input buffer. */
	cr_assert_geq(msg_find(&m2, MSG_S_IP_PACKET)->u.ip_packet.data, buf);
	cr_assert_lt(msg_find(&m2, MSG_S_IP_PACKET)->u.ip_packet.data, buf + len);
}

Test(msg_roundtrip, field_values_survive)
{
	const struct msg_seg *s;
	size_t len;

	len = sample_encode(&msg_samples[0], &m1, buf, sizeof(buf));
	cr_assert_eq(msg_decode(buf, len, &m2, NULL), 0);
	s = msg_find(&m2, MSG_S_WILDCARD);
	cr_assert_not_null(s);
	cr_assert(s->required);
	cr_assert_eq(s->u.wildcard.key.dport, htons(80));
	cr_assert_eq(s->u.wildcard.key.proto, 6);
	cr_assert_eq(s->u.wildcard.ttl, 30);
	s = msg_find(&m2, MSG_S_ACT_SEQ_ADJUST);
	cr_assert_eq(s->u.seq_adjust.seq_delta, 0xfffffff0u);
	s = msg_find(&m2, MSG_S_IDENTITY);
	cr_assert_str_eq(s->u.identity.host, "mgr1.example.net");
	cr_assert(!s->required);
	/* Ports are plain integers on the wire: 8080 is cd 1f 90. */
	cr_assert_not_null(memmem(buf, len, "\x04\xcd\x1f\x90", 4));
}

/* ---- Fixtures ---------------------------------------------------------------- */

Test(msg_fixture, pinned)
{
	bool regen = getenv("LOOM_MSG_REGEN") != NULL;

	for (size_t i = 0; i < msg_nsamples; i++) {
		const struct msg_sample *s = &msg_samples[i];
		char path[512];
		size_t len = sample_encode(s, &m1, buf, sizeof(buf)), flen;
		FILE *f;

		snprintf(path, sizeof(path), "%s/msg/%s.bin", FIXTURES_DIR, s->name);
		if (regen) {
			f = fopen(path, "wb");
			cr_assert_not_null(f, "cannot write %s", path);
			cr_assert_eq(fwrite(buf, 1, len, f), len);
			fclose(f);
			continue;
		}
		f = fopen(path, "rb");
		cr_assert_not_null(f, "missing fixture %s (LOOM_MSG_REGEN=1 makes it)", path);
		flen = fread(buf2, 1, sizeof(buf2), f);
		fclose(f);
		cr_assert_eq(flen, len, "%s: wire changed (length %zu, fixture %zu)", s->name,
			     len, flen);
		cr_assert_arr_eq(buf, buf2, len, "%s: wire changed", s->name);

		/* And the fixture decodes back to the same message, and re-encodes
		 * to itself (security data included). */
		struct msg_err err;
		cr_assert_eq(msg_decode(buf2, flen, &m2, &err), 0, "%s: %s", s->name, why(&err));
		cr_assert_eq(msg_encode(&m2, buf, sizeof(buf), &len, NULL), 0);
		cr_assert_arr_eq(buf, buf2, len);
		if (s->signed_)
			cr_assert_eq(msg_verify(buf2, flen, sample_key, sample_keylen), 0);
	}
}

/* ---- Security ------------------------------------------------------------------ */

Test(msg_auth, sign_and_verify)
{
	const struct msg_sample *s = &msg_samples[0];
	size_t len = sample_encode(s, &m1, buf, sizeof(buf));

	cr_assert(s->signed_);
	cr_assert_eq(msg_verify(buf, len, sample_key, sample_keylen), 0);
	cr_assert_eq(msg_verify(buf, len, (const uint8_t *)"other", 5), -MSG_E_AUTH);
	/* Signing again with the authenticator in place gives the same bytes. */
	memcpy(buf2, buf, len);
	cr_assert_eq(msg_sign(buf2, len, sample_key, sample_keylen), 0);
	cr_assert_arr_eq(buf, buf2, len);
}

Test(msg_auth, any_changed_byte_fails)
{
	size_t len = sample_encode(&msg_samples[0], &m1, buf, sizeof(buf));

	for (size_t i = 0; i < len; i++) {
		buf[i] ^= 0x01;
		cr_assert_neq(msg_verify(buf, len, sample_key, sample_keylen), 0, "byte %zu", i);
		buf[i] ^= 0x01;
	}
	cr_assert_eq(msg_verify(buf, len, sample_key, sample_keylen), 0);
	cr_assert_neq(msg_verify(buf, len - 1, sample_key, sample_keylen), 0);
}

Test(msg_auth, no_security_segment)
{
	size_t len = sample_encode(&msg_samples[1], &m1, buf, sizeof(buf));

	cr_assert_eq(msg_verify(buf, len, sample_key, sample_keylen), -MSG_E_NOAUTH);
	cr_assert_eq(msg_sign(buf, len, sample_key, sample_keylen), -MSG_E_NOAUTH);

	/* A security segment of type none does not authenticate anything. */
	msg_init(&m1, MSG_T_HEARTBEAT);
	msg_add(&m1, MSG_S_SECURITY, false)->u.security.type = MSG_SEC_NONE;
	msg_add(&m1, MSG_S_HEARTBEAT, true);
	cr_assert_eq(msg_encode(&m1, buf, sizeof(buf), &len, NULL), 0);
	cr_assert_eq(msg_verify(buf, len, sample_key, sample_keylen), -MSG_E_NOAUTH);
	cr_assert_eq(msg_decode(buf, len, &m2, NULL), 0);
}

/* ---- Helpers daemons answer with ---------------------------------------------- */

Test(msg_helpers, unsupported_actions_make_a_deny)
{
	struct msg_action_list un;
	const struct msg_seg *s;
	struct msg deny;
	size_t len;

	memset(&m1, 0, sizeof(m1));
	msg_samples[0].build(&m1); /* requires NAT, advertise; lists interest */
	uint64_t caps = MSG_CAP(MSG_S_ACT_SEQ_ADJUST) | MSG_CAP(MSG_S_ACT_INTEREST);

	cr_assert_eq(msg_check_supported(&m1, caps, &un), 2);
	cr_assert_eq(un.a[0].type, MSG_S_ACT_NAT);
	cr_assert_eq(un.a[1].type, MSG_S_ACT_ADVERTISE);
	cr_assert(un.a[0].required && un.a[1].required);
	cr_assert_eq(msg_check_supported(&m1, caps | MSG_CAP(MSG_S_ACT_NAT) |
					 MSG_CAP(MSG_S_ACT_ADVERTISE), &un), 0);
	/* Not required (interest criteria in the list and its segment): fine. */
	cr_assert_eq(msg_check_supported(&m1, MSG_CAP(MSG_S_ACT_NAT) |
					 MSG_CAP(MSG_S_ACT_ADVERTISE), &un), 0);

	cr_assert_eq(msg_check_supported(&m1, caps, &un), 2);
	cr_assert_eq(msg_build_deny(&m1, &un, &deny, false), 0);
	cr_assert_eq(msg_encode(&deny, buf, sizeof(buf), &len, NULL), 0);
	cr_assert_eq(msg_decode(buf, len, &m2, NULL), 0);
	cr_assert_eq(m2.type, MSG_T_UPDATE_DENY);
	s = msg_find(&m2, MSG_S_ACTION_LIST);
	cr_assert_eq(s->u.action_list.n, 2);
	cr_assert_eq(s->u.action_list.a[1].type, MSG_S_ACT_ADVERTISE);
	cr_assert_not_null(msg_find(&m2, MSG_S_WILDCARD));
	cr_assert_not_null(msg_find(&m2, MSG_S_IDENTITY));
	cr_assert_not_null(msg_find(&m2, MSG_S_MGR_INTEREST));
	cr_assert_eq(msg_build_deny(&m2, &un, &deny, false), -MSG_E_INVALID);
}

Test(msg_helpers, error_reply_names_the_segment)
{
	struct msg_err err = { .code = MSG_E_SEG_UNKNOWN, .msg_type = 2, .seg_index = 3,
			       .seg_type = 99, .field = -1 };
	const struct msg_error *e;
	size_t len;

	msg_build_error(&m1, &err, "bad\nthing", NULL, false);
	cr_assert_eq(msg_encode(&m1, buf, sizeof(buf), &len, NULL), 0);
	cr_assert_eq(msg_decode(buf, len, &m2, NULL), 0);
	e = &msg_find(&m2, MSG_S_ERROR)->u.error;
	cr_assert_eq(e->code, MSG_E_SEG_UNKNOWN);
	cr_assert_eq(e->msg_type, 2);
	cr_assert_eq(e->seg_index, 3);
	cr_assert_eq(e->seg_type, 99);
	cr_assert_eq(e->present, MSG_ERRSEG_INDEX | MSG_ERRSEG_TYPE | MSG_ERRSEG_TEXT);
	cr_assert_str_eq(e->text, "bad?thing");
}

Test(msg_helpers, names_and_err_str)
{
	struct msg_err err = { .code = MSG_E_RANGE, .msg_type = MSG_T_UPDATE_WILDCARD,
			       .seg_index = 1, .seg_type = MSG_S_WILDCARD, .field = 11 };
	char s[MSG_ERR_STR_LEN];

	cr_assert_str_eq(msg_err_str(&err, s, sizeof(s)),
			 "affinity-update-wildcard segment 1 (wildcard-affinity) field 11 (ttl): "
			 "value out of range");
	err = (struct msg_err){ .code = MSG_E_SEG_UNKNOWN, .msg_type = 200, .seg_index = 0,
				.seg_type = 99, .field = -1 };
	cr_assert_str_eq(msg_err_str(&err, s, sizeof(s)),
			 "message type 200 segment 0 (type 99): required segment not understood");
	err = (struct msg_err){ .code = MSG_E_TRUNCATED, .msg_type = -1, .seg_index = -1,
				.seg_type = -1, .field = -1 };
	cr_assert_str_eq(msg_err_str(&err, s, sizeof(s)), "message truncated");
	cr_assert_str_eq(msg_err_str(&err, s, 8), "message");
	cr_assert_str_eq(msg_type_name(MSG_T_IP_PACKET), "ip-packet-only");
	cr_assert_str_eq(msg_seg_type_name(MSG_S_ACT_INTEREST), "action-interest-criteria");
	cr_assert_null(msg_type_name(10));
	cr_assert_null(msg_seg_type_name(12));
	cr_assert_str_eq(msg_errc_name(999), "?");
}

/* ---- Text is UTF-8 (msg_wire.h), in both directions ----------------------------- */

/* An error message whose text holds "<@@@>": the three '@' are replaced by
 * the bytes under test, so the str header stays right. */
static size_t error_with_text(const char *three)
{
	struct msg_err err = { .code = MSG_E_RANGE, .msg_type = 1, .seg_index = -1,
			       .seg_type = -1, .field = -1 };
	uint8_t *at;
	size_t len;

	msg_build_error(&m1, &err, "<@@@>", NULL, false);
	cr_assert_eq(msg_encode(&m1, buf, sizeof(buf), &len, NULL), 0);
	at = memmem(buf, len, "@@@", 3);
	cr_assert_not_null(at);
	memcpy(at, three, 3);
	return len;
}

Test(msg_text, decoder_refuses_what_is_not_utf8)
{
	static const char *const bad[] = {
		"\xff" "ab",          /* never in UTF-8 */
		"\x80" "ab",          /* continuation without a lead */
		"\xc3" "ab",          /* lead without its continuation */
		"\xe2\x82" "a",       /* three-byte form cut short */
		"\xc0\xaf" "a",       /* overlong '/' */
		"\xe0\x80\xaf",       /* overlong, three bytes */
		"\xed\xa0\x80",       /* UTF-16 surrogate */
		"\xf4\x90\x80",       /* past U+10FFFF (and cut short) */
		"\xf5\x80\x80",       /* lead byte past U+10FFFF */
	};
	static const char *const good[] = { "abc", "\xc3\xa9" "a", "\xe2\x82\xac" };
	struct msg_err err;

	for (size_t i = 0; i < LOOM_ARRAY_SIZE(bad); i++) {
		size_t len = error_with_text(bad[i]);

		cr_expect_eq(msg_decode(buf, len, &m2, &err), -MSG_E_RANGE, "bad[%zu]", i);
		cr_expect_eq(err.seg_type, MSG_S_ERROR, "bad[%zu]", i);
		cr_expect_eq(err.field, 6, "bad[%zu]: the text field", i);
	}
	for (size_t i = 0; i < LOOM_ARRAY_SIZE(good); i++) {
		size_t len = error_with_text(good[i]);

		cr_expect_eq(msg_decode(buf, len, &m2, &err), 0, "good[%zu]: %s", i, why(&err));
		cr_expect_eq(memcmp(msg_find(&m2, MSG_S_ERROR)->u.error.text + 1, good[i], 3), 0);
	}
}

Test(msg_text, encoder_refuses_what_is_not_utf8)
{
	struct msg_err err;
	struct msg_error *e;
	size_t len;

	msg_init(&m1, MSG_T_ERROR);
	e = &msg_add(&m1, MSG_S_ERROR, true)->u.error;
	e->code = MSG_E_RANGE;
	e->present = MSG_ERRSEG_TEXT;
	strcpy(e->text, "caf\xc3"); /* half of an e-acute */
	cr_assert_eq(msg_encode(&m1, buf, sizeof(buf), &len, &err), -MSG_E_RANGE);
	cr_assert_eq(err.field, 6);
	strcpy(e->text, "caf\xc3\xa9");
	cr_assert_eq(msg_encode(&m1, buf, sizeof(buf), &len, &err), 0, "%s", why(&err));
}

Test(msg_helpers, error_text_is_cut_on_a_character_boundary)
{
	struct msg_err err = { .code = MSG_E_RANGE, .msg_type = 1, .seg_index = -1,
			       .seg_type = -1, .field = -1 };
	char text[MSG_MAX_TEXT + 8], want[MSG_MAX_TEXT + 1];
	size_t len;

	/* 126 bytes, then a two-byte character that would end at byte 128. */
	memset(text, 'a', MSG_MAX_TEXT - 1);
	strcpy(text + MSG_MAX_TEXT - 1, "\xc3\xa9z");
	memset(want, 'a', MSG_MAX_TEXT - 1);
	want[MSG_MAX_TEXT - 1] = '\0';
	msg_build_error(&m1, &err, text, NULL, false);
	cr_assert_str_eq(msg_find(&m1, MSG_S_ERROR)->u.error.text, want);
	cr_assert_eq(msg_encode(&m1, buf, sizeof(buf), &len, NULL), 0);
	cr_assert_eq(msg_decode(buf, len, &m2, NULL), 0);

	/* A character that fits is kept whole; bytes that are not UTF-8 become '?'. */
	msg_build_error(&m1, &err, "caf\xc3\xa9 \xff\xc3 \xe2\x82\xac", NULL, false);
	cr_assert_str_eq(msg_find(&m1, MSG_S_ERROR)->u.error.text, "caf\xc3\xa9 ?? \xe2\x82\xac");
	cr_assert_eq(msg_encode(&m1, buf, sizeof(buf), &len, NULL), 0);
	cr_assert_eq(msg_decode(buf, len, &m2, NULL), 0);
}

/* ---- Signed replies and verified decoding ---------------------------------------- */

static void assert_signs(const struct msg *m)
{
	size_t len;

	cr_assert_eq(m->segs[0].type, MSG_S_SECURITY, "segment 0 is reserved");
	cr_assert_eq(msg_encode(m, buf, sizeof(buf), &len, NULL), 0);
	cr_assert_eq(msg_sign(buf, len, sample_key, sample_keylen), 0);
	cr_assert_eq(msg_decode_verified(buf, len, sample_key, sample_keylen, &m2, NULL), 0);
	cr_assert_eq(m2.type, m->type);
	cr_assert_eq(m2.nsegs, m->nsegs);
}

Test(msg_helpers, error_and_deny_replies_can_be_signed)
{
	struct msg_err err = { .code = MSG_E_AUTH, .msg_type = 2, .seg_index = -1,
			       .seg_type = -1, .field = -1 };
	struct msg_identity id = { .host = "agent-1" };
	struct msg_action_list un;
	struct msg deny;

	msg_build_error(&m1, &err, "bad key", &id, true);
	cr_assert_eq(m1.nsegs, 3);
	assert_signs(&m1);
	cr_assert_eq(msg_find(&m2, MSG_S_ERROR)->u.error.code, MSG_E_AUTH);

	memset(&m1, 0, sizeof(m1));
	msg_samples[0].build(&m1); /* signed itself: its security segment is not copied */
	cr_assert_eq(msg_check_supported(&m1, 0, &un), 2);
	cr_assert_eq(msg_build_deny(&m1, &un, &deny, true), 0);
	assert_signs(&deny);
	cr_assert_eq(msg_find(&m2, MSG_S_ACTION_LIST)->u.action_list.n, 2);
}

Test(msg_auth, codec_initialises_libsodium)
{
	size_t len = sample_encode(&msg_samples[1], &m1, buf, sizeof(buf));

	/* Each test runs in a fresh process: nothing initialised libsodium yet. */
	cr_assert_eq(msg_verify(buf, len, sample_key, sample_keylen), -MSG_E_NOAUTH);
	cr_assert_eq(sodium_init(), 1, "msg_verify() ran before sodium_init()");
}

Test(msg_auth, decode_verified_checks_first)
{
	const struct msg_sample *s = &msg_samples[0];
	size_t len = sample_encode(s, &m1, buf, sizeof(buf));
	struct msg_err err;
	struct msg plain;

	cr_assert(s->signed_);
	cr_assert_eq(msg_decode(buf, len, &plain, NULL), 0);
	cr_assert_eq(msg_decode_verified(buf, len, sample_key, sample_keylen, &m2, &err), 0,
		     "%s", why(&err));
	cr_assert(msg_equal(&plain, &m2));

	cr_assert_eq(msg_decode_verified(buf, len, (const uint8_t *)"other", 5, &m2, &err),
		     -MSG_E_AUTH);
	cr_assert_eq(err.code, MSG_E_AUTH);
	cr_assert_eq(err.msg_type, (int)s->type, "the type, for the error reply");
	cr_assert_eq(m2.nsegs, 0, "nothing of the message is handed out");

	buf[len - 1] ^= 1;
	cr_assert_eq(msg_decode_verified(buf, len, sample_key, sample_keylen, &m2, &err),
		     -MSG_E_AUTH);

	len = sample_encode(&msg_samples[1], &m1, buf, sizeof(buf));
	cr_assert_eq(msg_decode_verified(buf, len, sample_key, sample_keylen, &m2, &err),
		     -MSG_E_NOAUTH, "an unsigned message is refused");
	cr_assert_eq(err.code, MSG_E_NOAUTH);
}

/* A replication batch filled to the last byte its writer takes still
 * encodes and decodes: the writer counts the list's header in the limit the
 * decoder applies (a list 1 to 3 bytes over it failed to encode, and the
 * replication library took that for a full queue and restarted its dump). */
Test(msg_repl, a_batch_filled_to_the_brim_encodes)
{
	static uint8_t txns[MSG_MAX_REPL_TXNS + 64], value[MSG_MAX_REPL_VALUE];
	struct msg_repl_txw w;
	struct msg_seg *s;
	uint32_t len;
	size_t elen;
	uint64_t key = 0;

	memset(value, 0x5a, sizeof(value));
	msg_repl_txw_init(&w, txns, sizeof(txns));
	/* big entries while they fit, then ever smaller ones into what is left */
	for (uint16_t vlen = MSG_MAX_REPL_VALUE;;) {
		struct msg_repl_txn t = { .op = MSG_REPL_OP_ADD, .owner = 1,
					  .present = MSG_RTXN_KEY | MSG_RTXN_VALUE,
					  .key = (const uint8_t *)&key, .key_len = sizeof(key),
					  .value = value, .value_len = vlen };
		int rc = msg_repl_txw_add(&w, &t);

		if (rc == 0) {
			key++;
			continue;
		}
		cr_assert_eq(rc, -MSG_E_NOSPACE);
		if (vlen == 0)
			break;
		vlen = vlen > 64 ? vlen / 2 : (uint16_t)(vlen - 1);
	}
	msg_init(&m1, MSG_T_REPL_BATCH);
	s = msg_add(&m1, MSG_S_REPL_BATCH, true);
	s->u.repl_batch.seq = 1;
	s->u.repl_batch.kind = MSG_REPL_KIND_DUMP;
	s->u.repl_batch.txns = msg_repl_txw_finish(&w, &len);
	s->u.repl_batch.txns_len = len;
	cr_assert_leq(len, MSG_MAX_REPL_TXNS, "a list of %u bytes", len);
	cr_assert_geq(len, MSG_MAX_REPL_TXNS - 16, "the writer stopped early: %u bytes", len);
	cr_assert_eq(msg_encode(&m1, buf, sizeof(buf), &elen, NULL), 0, "%u entries, %u bytes",
		     (unsigned)key, len);
	cr_assert_eq(msg_decode(buf, elen, &m2, NULL), 0);
	cr_assert(msg_equal(&m1, &m2));
}
