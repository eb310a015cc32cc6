/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The service message codec (msg_): the only code that knows how Loom's
 * messages look on the wire. Daemons build a struct msg, encode it into a
 * buffer and hand the bytes to ZeroMQ; on receipt they decode the bytes into
 * a struct msg and act on plain C fields. The wire itself (type numbers,
 * field keys, ranges, which segments a message carries) is documented in
 * common/msg_wire.h and docs/protocol.md.
 *
 * Design:
 * - A message is a header (version, type) plus up to MSG_MAX_SEGS ordered
 *   segments. A segment is a tagged union: its type selects the body.
 *   Everything has a fixed size, so decoding never allocates; a decoded IP
 *   packet points into the input buffer instead of being copied.
 * - Encoder and decoder are driven by one field table per segment type
 *   (msg_codec.c), so they cannot drift apart: every field is written and read
 *   by the same row, and the round-trip and fixture tests pin the result.
 * - The decoder is a small validating msgpack reader over the bytes, not
 *   msgpack_unpack(): msgpack-c's unpacker allocates an object array as large
 *   as an array header claims (a 5-byte input can ask for 4 G entries), and
 *   builds a whole tree before we could check a single type. The reader
 *   checks every length against the bytes left, reads known fields straight
 *   into the struct, and skips unknown values iteratively (no recursion).
 *   Encoding writes msgpack's shortest forms straight into the caller's
 *   buffer (msgpack-c's packer made a callback per token).
 * - Every function here is reentrant and touches only its arguments; none
 *   logs or allocates.
 */
#ifndef LOOM_COMMON_MSG_H
#define LOOM_COMMON_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/key.h"
#include "common/msg_wire.h"

#define MSG_XENUM(name, num, str) name = num,

enum msg_type { MSG_TYPE_LIST(MSG_XENUM) };
enum msg_seg_type { MSG_SEG_LIST(MSG_XENUM) };
enum msg_errc { MSG_ERR_LIST(MSG_XENUM) };

/* ---- Segment bodies (fields: see msg_wire.h) ---------------------------- */

struct msg_security {
	uint8_t type;                 /* MSG_SEC_* */
	uint8_t len;                  /* 0 or MSG_HMAC_LEN */
	uint8_t data[MSG_HMAC_LEN];
};

/* Keys in flow_key are in network byte order, as everywhere in Loom. */
struct msg_wildcard {
	bool dispatch;
	bool info;
	struct flow_key key;
	uint8_t smask[16];
	uint8_t dmask[16];
	uint8_t forward[16];
	uint32_t ttl;                 /* seconds, 0..MSG_MAX_TTL */
};

struct msg_fixed {
	bool dispatch;
	bool info;
	struct flow_key key;
	uint8_t forward[16];
	uint32_t ttl;
};

#define MSG_AID_SMASK (1u << 0)
#define MSG_AID_DMASK (1u << 1)
struct msg_affinity_id {
	uint32_t present;             /* MSG_AID_*: masks of a wildcard */
	bool dispatch;
	bool info;
	struct flow_key key;
	uint8_t smask[16];
	uint8_t dmask[16];
	uint16_t reasons;             /* MSG_INT_* */
};

struct msg_service_prec {
	uint8_t order;                /* MSG_ORDER_* */
	uint32_t value;
};

struct msg_backup_prec {
	uint32_t value;
};

struct msg_interest_data {
	uint16_t len;
	uint8_t data[MSG_MAX_INTEREST];
};

struct msg_identity {
	uint8_t addr[16];
	char host[MSG_MAX_HOSTNAME + 1]; /* NUL-terminated */
};

struct msg_action_ref {
	uint8_t type;                 /* segment type of the action */
	bool required;
};

struct msg_action_list {
	uint8_t n;
	struct msg_action_ref a[MSG_MAX_ACTIONS];
};

/* After decode, data points into the buffer given to msg_decode(): it is
 * valid only as long as that buffer is. */
struct msg_ip_packet {
	const uint8_t *data;
	uint32_t len;                 /* 1..MSG_MAX_PACKET */
};

#define MSG_NAT_SADDR (1u << 0)
#define MSG_NAT_SPORT (1u << 1)
#define MSG_NAT_DADDR (1u << 2)
#define MSG_NAT_DPORT (1u << 3)
struct msg_nat {
	uint32_t present;             /* MSG_NAT_*, at least one */
	uint8_t saddr[16];
	uint16_t sport;               /* network byte order */
	uint8_t daddr[16];
	uint16_t dport;               /* network byte order */
};

#define MSG_ADV_MASK (1u << 0)
struct msg_advertise {
	uint32_t present;             /* MSG_ADV_MASK */
	uint8_t addr[16];
	uint8_t mask[16];
};

struct msg_seq_adjust {
	uint32_t seq_delta;
	uint32_t seq_init;
	uint32_t ack_delta;
	uint32_t ack_init;
};

#define MSG_INTEREST_BYTES (1u << 0) /* bytes present */

struct msg_interest {
	uint32_t present;             /* MSG_INTEREST_BYTES */
	uint8_t addr[16];
	uint16_t port;                /* network byte order */
	uint16_t mask;                /* MSG_INT_* in all four */
	uint16_t data;
	uint16_t copy;
	uint16_t hold;
	uint32_t bytes;               /* one MSG_INT_BYTES match once the affinity carried this many */
};

struct msg_hello {
	uint8_t role;                 /* MSG_ROLE_* */
	uint64_t caps;                /* bit n: segment type n */
	uint64_t instance;
	uint64_t generation;
	uint8_t vmin;
	uint8_t vmax;
};

struct msg_heartbeat {
	uint64_t seq;
	uint64_t mono_ms;
};

#define MSG_ERRSEG_INDEX (1u << 0)
#define MSG_ERRSEG_TYPE  (1u << 1)
#define MSG_ERRSEG_FIELD (1u << 2)
#define MSG_ERRSEG_TEXT  (1u << 3)
struct msg_error {
	uint32_t present;             /* MSG_ERRSEG_* */
	uint16_t code;                /* enum msg_errc */
	uint8_t msg_type;
	uint8_t seg_index;
	uint8_t seg_type;
	uint8_t field;
	char text[MSG_MAX_TEXT + 1];  /* NUL-terminated */
};

/* Replication (repl.h uses these; fields: msg_wire.h). */
#define MSG_RMEMBER_NEXT (1u << 0)
struct msg_repl_member {
	uint32_t present;             /* MSG_RMEMBER_NEXT: an answer */
	uint32_t group;
	uint8_t mode;                 /* MSG_REPL_MODE_* */
	uint8_t role;                 /* MSG_REPL_ROLE_* */
	bool ready;
	uint64_t next;
};

/* txns is a transaction list written by msg_repl_txw_*() and read with
 * msg_repl_txr_*(); after decode it points into the decoded buffer. */
struct msg_repl_batch {
	uint64_t seq;
	uint8_t kind;                 /* MSG_REPL_KIND_* */
	const uint8_t *txns;
	uint32_t txns_len;
};

struct msg_repl_ack {
	uint64_t next;
	bool resend;
	bool dump;
};

/* Provisioning (provchan.h uses these; fields: msg_wire.h). */
struct msg_prov_doc {
	uint64_t version;
	uint8_t target;               /* MSG_PROV_TARGET_* */
	uint32_t size;                /* of the document frame that follows */
	uint8_t digest_len;           /* MSG_PROV_DIGEST_LEN once decoded */
	uint8_t digest[MSG_PROV_DIGEST_LEN];
};

#define MSG_PACK_TEXT (1u << 0)
struct msg_prov_ack {
	uint32_t present;             /* MSG_PACK_TEXT */
	uint64_t version;
	bool ok;
	uint64_t applied;
	char text[MSG_MAX_TEXT + 1];  /* NUL-terminated */
};

struct msg_prov_query {
	uint8_t target;               /* MSG_PROV_TARGET_* */
	uint64_t latest;
};

struct msg_prov_trial {
	uint64_t id;
	char service[MSG_MAX_NAME + 1]; /* NUL-terminated, not empty */
	uint16_t port;
};

struct msg_prov_result {
	uint64_t id;
	bool ok;
	uint32_t size;                /* of the report frame that follows */
	uint8_t digest_len;           /* MSG_PROV_DIGEST_LEN once decoded */
	uint8_t digest[MSG_PROV_DIGEST_LEN];
};

struct msg_seg {
	uint8_t type;                 /* enum msg_seg_type */
	bool required;                /* the segment header's Required flag */
	union {
		struct msg_security security;
		struct msg_wildcard wildcard;
		struct msg_fixed fixed;
		struct msg_affinity_id affinity_id;
		struct msg_service_prec service_prec;
		struct msg_backup_prec backup_prec;
		struct msg_interest_data mgr_interest;
		struct msg_interest_data agent_interest;
		struct msg_identity identity;
		struct msg_action_list action_list;
		struct msg_ip_packet ip_packet;
		struct msg_nat nat;
		struct msg_advertise advertise;
		struct msg_seq_adjust seq_adjust;
		struct msg_interest interest;
		struct msg_hello hello;
		struct msg_heartbeat heartbeat;
		struct msg_error error;
		struct msg_repl_member repl_member;
		struct msg_repl_batch repl_batch;
		struct msg_repl_ack repl_ack;
		struct msg_prov_doc prov_doc;
		struct msg_prov_ack prov_ack;
		struct msg_prov_query prov_query;
		struct msg_prov_trial prov_trial;
		struct msg_prov_result prov_result;
	} u;
};

struct msg {
	uint8_t version;              /* MSG_VERSION when built here */
	uint8_t type;                 /* enum msg_type */
	uint8_t nsegs;
	uint8_t skipped;              /* decode: optional segments skipped */
	struct msg_seg segs[MSG_MAX_SEGS];
};

/* Where decoding failed. seg_index, seg_type and field are -1 when the
 * failure is not inside a segment / a field (field is the map key). */
struct msg_err {
	int code;                     /* enum msg_errc, positive */
	int msg_type;                 /* -1 until the header was read */
	int seg_index;
	int seg_type;
	int field;
};

/* ---- Encode and decode --------------------------------------------------- */

/*
 * Encode m into buf[0..cap). On success returns 0 and sets *len. Fails with
 * -MSG_E_NOSPACE if cap is too small, -MSG_E_TOO_BIG past MSG_MAX_SIZE, and
 * with the decoder's error for a message the decoder would refuse (a value
 * out of range, a segment a message may not carry, ...): what we send is
 * always what we accept. err may be NULL.
 */
int msg_encode(const struct msg *m, uint8_t *buf, size_t cap, size_t *len,
	       struct msg_err *err);

/*
 * Decode buf[0..len) into m. Returns 0 or -MSG_E_*; on failure *err (may be
 * NULL) says where (err->msg_type is set as soon as the header's type could
 * be read, even for a version we refuse: pass err to msg_build_error() to
 * answer), and m holds a partial decode that must not be used.
 * IP packet segments point into buf. Unknown or misplaced optional segments
 * are skipped and counted in m->skipped.
 */
int msg_decode(const uint8_t *buf, size_t len, struct msg *m, struct msg_err *err);

/* "message type 3 segment 1 (action-list) field 1: value out of range" */
#define MSG_ERR_STR_LEN 160
char *msg_err_str(const struct msg_err *err, char *buf, size_t len);

const char *msg_errc_name(int code);        /* "?" if unknown */
const char *msg_type_name(unsigned type);   /* NULL if unknown */
const char *msg_seg_type_name(unsigned type);
const char *msg_field_name(unsigned seg_type, unsigned key); /* NULL if unknown */

/* True if the codec knows this message / segment type. */
bool msg_type_known(unsigned type);
bool msg_seg_known(unsigned type);

/* Semantic equality: every field that is on the wire, packets by content. */
bool msg_equal(const struct msg *a, const struct msg *b);

/* ---- Building messages --------------------------------------------------- */

/* Start an empty message of this type at MSG_VERSION. */
void msg_init(struct msg *m, enum msg_type type);

/*
 * Append a zeroed segment of this type; returns it for the caller to fill,
 * or NULL if the message already holds MSG_MAX_SEGS segments.
 */
struct msg_seg *msg_add(struct msg *m, enum msg_seg_type type, bool required);

/* First segment of this type, or NULL. */
const struct msg_seg *msg_find(const struct msg *m, enum msg_seg_type type);

/*
 * Fill out as the error message answering a refused message: the code and
 * location from err, the refused message's type, and text (may be NULL).
 * The text is made valid for the wire: cut to at most MSG_MAX_TEXT bytes on
 * a character boundary, with '?' for each control byte and each byte that
 * is not part of well-formed UTF-8. If identity is not NULL it is added too.
 * With secure, segment 0 is an hmac-sha256 security segment, so the encoded
 * reply can be passed to msg_sign().
 */
void msg_build_error(struct msg *out, const struct msg_err *err, const char *text,
		     const struct msg_identity *identity, bool secure);

/* ---- Capabilities and update-deny ---------------------------------------- */

/* Capability set of a receiver: bit n set = it can process segment type n. */
#define MSG_CAP(type) (UINT64_C(1) << (type))

/*
 * Which of m's required actions a receiver with capability set caps cannot
 * process: action segments flagged Required, and action-list entries flagged
 * Required, whose type is not in caps. Fills *unsupported (deduplicated, in
 * order of first appearance) and returns how many (0: all supported).
 */
int msg_check_supported(const struct msg *m, uint64_t caps,
			struct msg_action_list *unsupported);

/*
 * Build the affinity update-deny answering update m: an action list of
 * unsupported, plus m's affinity, identity and interest data segments when
 * present. With secure, segment 0 is an hmac-sha256 security segment for
 * msg_sign() (m's own security segment is never copied). Returns 0, or
 * -MSG_E_INVALID if m is not an affinity update.
 */
int msg_build_deny(const struct msg *m, const struct msg_action_list *unsupported,
		   struct msg *out, bool secure);

/* ---- Replication transaction lists ---------------------------------------- */

/* One transaction; key and value point into the list (read) or into the
 * caller's memory (write). present says which optional fields are there. */
#define MSG_RTXN_KEY   (1u << 0)
#define MSG_RTXN_VALUE (1u << 1)
#define MSG_RTXN_GEN   (1u << 2)
struct msg_repl_txn {
	uint32_t present;             /* MSG_RTXN_* */
	uint8_t op;                   /* MSG_REPL_OP_* */
	uint64_t owner;
	uint64_t generation;          /* authenticate only */
	const uint8_t *key;
	uint16_t key_len;             /* 0..MSG_MAX_REPL_KEY */
	const uint8_t *value;
	uint16_t value_len;           /* 0..MSG_MAX_REPL_VALUE */
};

/*
 * Writer: builds a list in buf[0..cap), of which it uses at most
 * MSG_MAX_REPL_TXNS bytes: the finished list, array header included, is
 * never longer than the decoder takes. add refuses, with nothing written, a
 * transaction the decoder would refuse (-MSG_E_RANGE, -MSG_E_LENGTH,
 * -MSG_E_FIELD_MISSING, -MSG_E_INVALID for a field its op does not allow)
 * and one that does not fit (-MSG_E_NOSPACE).
 */
struct msg_repl_txw {
	uint8_t *buf;
	size_t cap;
	size_t len;                   /* bytes used, the three kept included */
	uint32_t n;                   /* transactions written */
};

void msg_repl_txw_init(struct msg_repl_txw *w, uint8_t *buf, size_t cap);
int msg_repl_txw_add(struct msg_repl_txw *w, const struct msg_repl_txn *t);
/* Finish the list: sets *len and returns where it starts inside buf (ready
 * for struct msg_repl_batch). The writer may be added to afterwards and
 * finished again. */
const uint8_t *msg_repl_txw_finish(struct msg_repl_txw *w, uint32_t *len);

/* Reader over a list the decoder accepted (it validated every entry; a
 * list that was not decoded is checked again here all the same). */
struct msg_repl_txr {
	const uint8_t *p;
	const uint8_t *end;
	uint32_t left;
};

/* Returns the number of transactions, or -MSG_E_*. */
int msg_repl_txr_init(struct msg_repl_txr *r, const uint8_t *txns, size_t len);
/* 1 and *t filled, 0 at the end, or -MSG_E_*. */
int msg_repl_txr_next(struct msg_repl_txr *r, struct msg_repl_txn *t);

/* ---- Security (hmac-sha256 over the whole message) ----------------------- */

/*
 * msg_sign(), msg_verify() and msg_decode_verified() initialise libsodium
 * themselves, once per process (thread-safe); callers need not. If
 * libsodium cannot be initialised they fail with -MSG_E_AUTH.
 */

/*
 * Sign an encoded message in place. The message must have been built with a
 * security segment of type MSG_SEC_HMAC_SHA256 as segment 0 (its data may be
 * anything; it is overwritten). The authenticator is HMAC-SHA256 with key
 * over buf[0..len) with the 32 data bytes taken as zero. Returns 0,
 * -MSG_E_NOAUTH if there is no such segment, or a decode error.
 */
int msg_sign(uint8_t *buf, size_t len, const uint8_t *key, size_t keylen);

/*
 * Verify a received message's authenticator in constant time. Returns 0,
 * -MSG_E_NOAUTH if segment 0 is not an hmac-sha256 security segment,
 * -MSG_E_AUTH if the authenticator is wrong, or a decode error. Call it on
 * the raw bytes before (or after) msg_decode(); the decoder does not check
 * authenticators because only the receiver knows whether it expects them.
 */
int msg_verify(const uint8_t *buf, size_t len, const uint8_t *key, size_t keylen);

/*
 * msg_verify(), then msg_decode() only if the authenticator is right, so no
 * field of an unauthenticated message is ever looked at. The envelope layer
 * must receive through this, not msg_decode(), on every peer that has a
 * key configured. Returns 0 or -MSG_E_*: msg_verify()'s error (err->code
 * set, err->msg_type the header's type when it could be read, m zeroed), or
 * msg_decode()'s. key must not be NULL. err may be NULL.
 */
int msg_decode_verified(const uint8_t *buf, size_t len, const uint8_t *key, size_t keylen,
			struct msg *m, struct msg_err *err);

/* ---- Introspection (tests, loomctl) ---------------------------------------- */

enum msg_field_kind {
	MSG_FK_BOOL,
	MSG_FK_UINT,    /* size 1, 2, 4 or 8; max, bits */
	MSG_FK_PORT,    /* uint16_t in network order, plain uint on the wire */
	MSG_FK_ADDR,    /* 16 bytes */
	MSG_FK_BYTES,   /* inline array, uint8_t or uint16_t length at len_off */
	MSG_FK_PTR,     /* const uint8_t * + uint32_t length at len_off */
	MSG_FK_TEXT,    /* char[cap + 1], NUL-terminated */
	MSG_FK_ACTIONS, /* struct msg_action_list at off */
};

struct msg_field {
	uint8_t key;
	uint8_t kind;         /* enum msg_field_kind */
	uint8_t size;         /* MSG_FK_UINT / BYTES length: width in bytes */
	int8_t pbit;          /* presence bit; -1 for a mandatory field */
	const char *name;
	uint16_t off;         /* in the segment body */
	uint16_t len_off;     /* BYTES, PTR: where the length lives */
	uint32_t min;         /* UINT: lowest value; BYTES/PTR/TEXT: min length */
	uint32_t cap;         /* BYTES/PTR/TEXT: max length */
	uint64_t max;         /* UINT: highest value */
	uint64_t bits;        /* UINT: allowed bits, 0 = any within max */
};

/* The field table of a known segment type, in key order; NULL if unknown. */
const struct msg_field *msg_seg_fields(unsigned seg_type, size_t *n);

/* Offset of the presence word in a segment body, or -1 if it has none. */
int msg_seg_present_off(unsigned seg_type);

#endif
