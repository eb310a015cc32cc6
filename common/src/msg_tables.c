// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The wire tables: one row per field of every segment, and which segments
 * each message type carries. The encoder, the decoder, msg_equal() and the
 * tests all walk these rows, so a field exists in exactly one place here and
 * in its documentation in msg_wire.h.
 */
#include <stddef.h>

#include "common/compiler.h"
#include "msg-internal.h"

#define MEMBER_SIZE(T, m) ((uint8_t)sizeof(((T *)0)->m))

#define F_BOOL(k, nm, T, m) \
	{ .key = k, .kind = MSG_FK_BOOL, .pbit = -1, .name = nm, .off = offsetof(T, m) }
#define F_UINT(k, nm, T, m, mn, mx, bt, pb)                                  \
	{ .key = k, .kind = MSG_FK_UINT, .size = MEMBER_SIZE(T, m), .pbit = pb, \
	  .name = nm, .off = offsetof(T, m), .min = mn, .max = mx, .bits = bt }
#define F_PORT(k, nm, T, m, pb) \
	{ .key = k, .kind = MSG_FK_PORT, .size = 2, .pbit = pb, .name = nm, \
	  .off = offsetof(T, m), .max = 65535 }
#define F_ADDR(k, nm, T, m, pb) \
	{ .key = k, .kind = MSG_FK_ADDR, .pbit = pb, .name = nm, .off = offsetof(T, m), \
	  .min = 16, .cap = 16 }
#define F_BYTES(k, nm, T, m, lenm, mn, cp)                                 \
	{ .key = k, .kind = MSG_FK_BYTES, .size = MEMBER_SIZE(T, lenm), .pbit = -1, \
	  .name = nm, .off = offsetof(T, m), .len_off = offsetof(T, lenm),  \
	  .min = mn, .cap = cp }
#define F_PTR(k, nm, T, m, lenm, mn, cp)                                   \
	{ .key = k, .kind = MSG_FK_PTR, .size = MEMBER_SIZE(T, lenm), .pbit = -1, \
	  .name = nm, .off = offsetof(T, m), .len_off = offsetof(T, lenm),  \
	  .min = mn, .cap = cp }
#define F_TEXT(k, nm, T, m, cp, pb) \
	{ .key = k, .kind = MSG_FK_TEXT, .pbit = pb, .name = nm, .off = offsetof(T, m), \
	  .cap = cp }
#define F_ACTIONS(k, nm, T, m) \
	{ .key = k, .kind = MSG_FK_ACTIONS, .pbit = -1, .name = nm, .off = offsetof(T, m), \
	  .cap = MSG_MAX_ACTIONS }

#define U8  UINT8_MAX
#define U16 UINT16_MAX
#define U32 UINT32_MAX
#define U64 UINT64_MAX
#define MAND (-1)

static const struct msg_field f_security[] = {
	F_UINT(1, "type", struct msg_security, type, 0, MSG_SEC_HMAC_SHA256, 0, MAND),
	F_BYTES(2, "data", struct msg_security, data, len, 0, MSG_HMAC_LEN),
};

static const struct msg_field f_wildcard[] = {
	F_BOOL(1, "dispatch", struct msg_wildcard, dispatch),
	F_BOOL(2, "info", struct msg_wildcard, info),
	F_UINT(3, "proto", struct msg_wildcard, key.proto, 0, U8, 0, MAND),
	F_ADDR(4, "saddr", struct msg_wildcard, key.saddr, MAND),
	F_ADDR(5, "smask", struct msg_wildcard, smask, MAND),
	F_ADDR(6, "daddr", struct msg_wildcard, key.daddr, MAND),
	F_ADDR(7, "dmask", struct msg_wildcard, dmask, MAND),
	F_PORT(8, "sport", struct msg_wildcard, key.sport, MAND),
	F_PORT(9, "dport", struct msg_wildcard, key.dport, MAND),
	F_ADDR(10, "forward", struct msg_wildcard, forward, MAND),
	F_UINT(11, "ttl", struct msg_wildcard, ttl, 0, MSG_MAX_TTL, 0, MAND),
};

static const struct msg_field f_fixed[] = {
	F_BOOL(1, "dispatch", struct msg_fixed, dispatch),
	F_BOOL(2, "info", struct msg_fixed, info),
	F_UINT(3, "proto", struct msg_fixed, key.proto, 0, U8, 0, MAND),
	F_ADDR(4, "saddr", struct msg_fixed, key.saddr, MAND),
	F_ADDR(6, "daddr", struct msg_fixed, key.daddr, MAND),
	F_PORT(8, "sport", struct msg_fixed, key.sport, MAND),
	F_PORT(9, "dport", struct msg_fixed, key.dport, MAND),
	F_ADDR(10, "forward", struct msg_fixed, forward, MAND),
	F_UINT(11, "ttl", struct msg_fixed, ttl, 0, MSG_MAX_TTL, 0, MAND),
};

static const struct msg_field f_affinity_id[] = {
	F_BOOL(1, "dispatch", struct msg_affinity_id, dispatch),
	F_BOOL(2, "info", struct msg_affinity_id, info),
	F_UINT(3, "proto", struct msg_affinity_id, key.proto, 0, U8, 0, MAND),
	F_ADDR(4, "saddr", struct msg_affinity_id, key.saddr, MAND),
	F_ADDR(5, "smask", struct msg_affinity_id, smask, 0),
	F_ADDR(6, "daddr", struct msg_affinity_id, key.daddr, MAND),
	F_ADDR(7, "dmask", struct msg_affinity_id, dmask, 1),
	F_PORT(8, "sport", struct msg_affinity_id, key.sport, MAND),
	F_PORT(9, "dport", struct msg_affinity_id, key.dport, MAND),
	F_UINT(12, "reasons", struct msg_affinity_id, reasons, 0, U16, MSG_INT_VALID, MAND),
};

static const struct msg_field f_service_prec[] = {
	F_UINT(1, "order", struct msg_service_prec, order, 0, MSG_ORDER_LOWER_BETTER, 0, MAND),
	F_UINT(2, "value", struct msg_service_prec, value, 0, U32, 0, MAND),
};

static const struct msg_field f_backup_prec[] = {
	F_UINT(1, "value", struct msg_backup_prec, value, 0, U32, 0, MAND),
};

static const struct msg_field f_interest_data[] = {
	F_BYTES(1, "data", struct msg_interest_data, data, len, 0, MSG_MAX_INTEREST),
};

static const struct msg_field f_identity[] = {
	F_ADDR(1, "addr", struct msg_identity, addr, MAND),
	F_TEXT(2, "host", struct msg_identity, host, MSG_MAX_HOSTNAME, MAND),
};

static const struct msg_field f_action_list[] = {
	F_ACTIONS(1, "actions", struct msg_action_list, n),
};

static const struct msg_field f_ip_packet[] = {
	F_PTR(1, "packet", struct msg_ip_packet, data, len, 1, MSG_MAX_PACKET),
};

static const struct msg_field f_nat[] = {
	F_ADDR(1, "saddr", struct msg_nat, saddr, 0),
	F_PORT(2, "sport", struct msg_nat, sport, 1),
	F_ADDR(3, "daddr", struct msg_nat, daddr, 2),
	F_PORT(4, "dport", struct msg_nat, dport, 3),
};

static const struct msg_field f_advertise[] = {
	F_ADDR(1, "addr", struct msg_advertise, addr, MAND),
	F_ADDR(2, "mask", struct msg_advertise, mask, 0),
};

static const struct msg_field f_seq_adjust[] = {
	F_UINT(1, "seq_delta", struct msg_seq_adjust, seq_delta, 0, U32, 0, MAND),
	F_UINT(2, "seq_init", struct msg_seq_adjust, seq_init, 0, U32, 0, MAND),
	F_UINT(3, "ack_delta", struct msg_seq_adjust, ack_delta, 0, U32, 0, MAND),
	F_UINT(4, "ack_init", struct msg_seq_adjust, ack_init, 0, U32, 0, MAND),
};

static const struct msg_field f_interest[] = {
	F_ADDR(1, "addr", struct msg_interest, addr, MAND),
	F_PORT(2, "port", struct msg_interest, port, MAND),
	F_UINT(3, "mask", struct msg_interest, mask, 0, U16, MSG_INT_VALID, MAND),
	F_UINT(4, "data", struct msg_interest, data, 0, U16, MSG_INT_VALID, MAND),
	F_UINT(5, "copy", struct msg_interest, copy, 0, U16, MSG_INT_VALID, MAND),
	F_UINT(6, "hold", struct msg_interest, hold, 0, U16, MSG_INT_VALID, MAND),
	F_UINT(7, "bytes", struct msg_interest, bytes, 1, U32, 0, 0),
};

static const struct msg_field f_hello[] = {
	F_UINT(1, "role", struct msg_hello, role, MSG_ROLE_FWD_AGENT, MSG_ROLE_TOOL, 0, MAND),
	F_UINT(2, "caps", struct msg_hello, caps, 0, U64, 0, MAND),
	F_UINT(3, "instance", struct msg_hello, instance, 0, U64, 0, MAND),
	F_UINT(4, "generation", struct msg_hello, generation, 0, U64, 0, MAND),
	F_UINT(5, "vmin", struct msg_hello, vmin, 1, U8, 0, MAND),
	F_UINT(6, "vmax", struct msg_hello, vmax, 1, U8, 0, MAND),
};

static const struct msg_field f_heartbeat[] = {
	F_UINT(1, "seq", struct msg_heartbeat, seq, 0, U64, 0, MAND),
	F_UINT(2, "mono_ms", struct msg_heartbeat, mono_ms, 0, U64, 0, MAND),
};

static const struct msg_field f_error[] = {
	F_UINT(1, "code", struct msg_error, code, 1, U16, 0, MAND),
	F_UINT(2, "msg_type", struct msg_error, msg_type, 0, U8, 0, MAND),
	F_UINT(3, "seg_index", struct msg_error, seg_index, 0, MSG_MAX_SEGS - 1, 0, 0),
	F_UINT(4, "seg_type", struct msg_error, seg_type, 0, U8, 0, 1),
	F_UINT(5, "field", struct msg_error, field, 0, U8, 0, 2),
	F_TEXT(6, "text", struct msg_error, text, MSG_MAX_TEXT, 3),
};

static const struct msg_field f_repl_member[] = {
	F_UINT(1, "group", struct msg_repl_member, group, 0, U32, 0, MAND),
	F_UINT(2, "mode", struct msg_repl_member, mode, MSG_REPL_MODE_PRIMARY_BACKUP,
	       MSG_REPL_MODE_PEER, 0, MAND),
	F_UINT(3, "role", struct msg_repl_member, role, MSG_REPL_ROLE_ACTIVE, MSG_REPL_ROLE_PEER,
	       0, MAND),
	F_BOOL(4, "ready", struct msg_repl_member, ready),
	F_UINT(5, "next", struct msg_repl_member, next, 0, U64, 0, 0),
};

static const struct msg_field f_repl_batch[] = {
	F_UINT(1, "seq", struct msg_repl_batch, seq, 1, U64, 0, MAND),
	F_UINT(2, "kind", struct msg_repl_batch, kind, 0, MSG_REPL_KIND_DUMP_END, 0, MAND),
	F_PTR(3, "txns", struct msg_repl_batch, txns, txns_len, 1, MSG_MAX_REPL_TXNS),
};

static const struct msg_field f_repl_ack[] = {
	F_UINT(1, "next", struct msg_repl_ack, next, 0, U64, 0, MAND),
	F_BOOL(2, "resend", struct msg_repl_ack, resend),
	F_BOOL(3, "dump", struct msg_repl_ack, dump),
};

#define I63 ((uint64_t)INT64_MAX)

static const struct msg_field f_prov_doc[] = {
	F_UINT(1, "version", struct msg_prov_doc, version, 1, I63, 0, MAND),
	F_UINT(2, "target", struct msg_prov_doc, target, MSG_PROV_TARGET_SVC_MGR,
	       MSG_PROV_TARGET_PKT_ENGINE, 0, MAND),
	F_UINT(3, "size", struct msg_prov_doc, size, 0, MSG_MAX_PROV_DOC, 0, MAND),
	F_BYTES(4, "digest", struct msg_prov_doc, digest, digest_len, MSG_PROV_DIGEST_LEN,
		MSG_PROV_DIGEST_LEN),
};

static const struct msg_field f_prov_ack[] = {
	F_UINT(1, "version", struct msg_prov_ack, version, 0, I63, 0, MAND),
	F_BOOL(2, "ok", struct msg_prov_ack, ok),
	F_UINT(3, "applied", struct msg_prov_ack, applied, 0, I63, 0, MAND),
	F_TEXT(4, "text", struct msg_prov_ack, text, MSG_MAX_TEXT, 0),
};

static const struct msg_field f_prov_trial[] = {
	F_UINT(1, "id", struct msg_prov_trial, id, 1, I63, 0, MAND),
	F_TEXT(2, "service", struct msg_prov_trial, service, MSG_MAX_NAME, MAND),
	F_UINT(3, "port", struct msg_prov_trial, port, 0, U16, 0, MAND),
};

static const struct msg_field f_prov_result[] = {
	F_UINT(1, "id", struct msg_prov_result, id, 1, I63, 0, MAND),
	F_BOOL(2, "ok", struct msg_prov_result, ok),
	F_UINT(3, "size", struct msg_prov_result, size, 0, MSG_MAX_PROV_DOC, 0, MAND),
	F_BYTES(4, "digest", struct msg_prov_result, digest, digest_len, MSG_PROV_DIGEST_LEN,
		MSG_PROV_DIGEST_LEN),
};

static const struct msg_field f_prov_query[] = {
	F_UINT(1, "target", struct msg_prov_query, target, MSG_PROV_TARGET_SVC_MGR,
	       MSG_PROV_TARGET_PKT_ENGINE, 0, MAND),
	F_UINT(2, "latest", struct msg_prov_query, latest, 0, I63, 0, MAND),
};

static bool check_security(const void *body, int *key)
{
	const struct msg_security *s = body;

	*key = 2;
	return s->len == (s->type == MSG_SEC_HMAC_SHA256 ? MSG_HMAC_LEN : 0);
}

static bool check_nat(const void *body, int *key)
{
	const struct msg_nat *n = body;

	*key = -1; /* an empty NAT action would be a silent no-op */
	return n->present != 0;
}

static bool check_hello(const void *body, int *key)
{
	const struct msg_hello *h = body;

	*key = 6;
	return h->vmin <= h->vmax;
}

static bool check_prov_trial(const void *body, int *key)
{
	const struct msg_prov_trial *t = body;

	*key = 2; /* a trial names a service */
	return t->service[0] != '\0';
}

#define SEG(t, tbl, pres, chk)                                             \
	[t] = { .fields = tbl, .nfields = LOOM_ARRAY_SIZE(tbl), \
		.present_off = pres, .check = chk }
#define PRESENT(T) ((int16_t)offsetof(T, present))

const struct msg_seg_desc msg_seg_descs[MSG_SEG_TABLE_SIZE] = {
	SEG(MSG_S_SECURITY, f_security, -1, check_security),
	SEG(MSG_S_WILDCARD, f_wildcard, -1, NULL),
	SEG(MSG_S_FIXED, f_fixed, -1, NULL),
	SEG(MSG_S_AFFINITY_ID, f_affinity_id, PRESENT(struct msg_affinity_id), NULL),
	SEG(MSG_S_SERVICE_PREC, f_service_prec, -1, NULL),
	SEG(MSG_S_BACKUP_PREC, f_backup_prec, -1, NULL),
	SEG(MSG_S_MGR_INTEREST, f_interest_data, -1, NULL),
	SEG(MSG_S_AGENT_INTEREST, f_interest_data, -1, NULL),
	SEG(MSG_S_IDENTITY, f_identity, -1, NULL),
	SEG(MSG_S_ACTION_LIST, f_action_list, -1, NULL),
	SEG(MSG_S_IP_PACKET, f_ip_packet, -1, NULL),
	SEG(MSG_S_ACT_NAT, f_nat, PRESENT(struct msg_nat), check_nat),
	SEG(MSG_S_ACT_ADVERTISE, f_advertise, PRESENT(struct msg_advertise), NULL),
	SEG(MSG_S_ACT_SEQ_ADJUST, f_seq_adjust, -1, NULL),
	SEG(MSG_S_ACT_INTEREST, f_interest, PRESENT(struct msg_interest), NULL),
	SEG(MSG_S_HELLO, f_hello, -1, check_hello),
	SEG(MSG_S_HEARTBEAT, f_heartbeat, -1, NULL),
	SEG(MSG_S_ERROR, f_error, PRESENT(struct msg_error), NULL),
	SEG(MSG_S_REPL_MEMBER, f_repl_member, PRESENT(struct msg_repl_member), NULL),
	SEG(MSG_S_REPL_BATCH, f_repl_batch, -1, msg_repl_batch_check),
	SEG(MSG_S_REPL_ACK, f_repl_ack, -1, NULL),
	SEG(MSG_S_PROV_DOC, f_prov_doc, -1, NULL),
	SEG(MSG_S_PROV_ACK, f_prov_ack, PRESENT(struct msg_prov_ack), NULL),
	SEG(MSG_S_PROV_QUERY, f_prov_query, -1, NULL),
	SEG(MSG_S_PROV_TRIAL, f_prov_trial, -1, check_prov_trial),
	SEG(MSG_S_PROV_RESULT, f_prov_result, -1, NULL),
};

#define O MSG_PLACE_OPT
#define M MSG_PLACE_MAND

const uint8_t msg_place[MSG_TYPE_TABLE_SIZE][MSG_SEG_TABLE_SIZE] = {
	[MSG_T_UPDATE_WILDCARD] = {
		[MSG_S_SECURITY] = O, [MSG_S_WILDCARD] = M, [MSG_S_SERVICE_PREC] = O,
		[MSG_S_BACKUP_PREC] = O, [MSG_S_MGR_INTEREST] = O, [MSG_S_IDENTITY] = O,
		[MSG_S_ACTION_LIST] = O, [MSG_S_ACT_NAT] = O, [MSG_S_ACT_ADVERTISE] = O,
		[MSG_S_ACT_SEQ_ADJUST] = O, [MSG_S_ACT_INTEREST] = O,
	},
	[MSG_T_UPDATE_FIXED] = {
		[MSG_S_SECURITY] = O, [MSG_S_FIXED] = M, [MSG_S_SERVICE_PREC] = O,
		[MSG_S_BACKUP_PREC] = O, [MSG_S_MGR_INTEREST] = O,
		[MSG_S_AGENT_INTEREST] = O, [MSG_S_IDENTITY] = O, [MSG_S_ACTION_LIST] = O,
		[MSG_S_IP_PACKET] = O, [MSG_S_ACT_NAT] = O, [MSG_S_ACT_SEQ_ADJUST] = O,
		[MSG_S_ACT_INTEREST] = O,
	},
	[MSG_T_UPDATE_DENY] = {
		[MSG_S_SECURITY] = O, [MSG_S_WILDCARD] = O, [MSG_S_FIXED] = O,
		[MSG_S_MGR_INTEREST] = O, [MSG_S_AGENT_INTEREST] = O, [MSG_S_IDENTITY] = O,
		[MSG_S_ACTION_LIST] = M,
	},
	[MSG_T_MATCH_WILDCARD] = {
		[MSG_S_SECURITY] = O, [MSG_S_AFFINITY_ID] = M, [MSG_S_MGR_INTEREST] = O,
		[MSG_S_AGENT_INTEREST] = O, [MSG_S_IDENTITY] = O, [MSG_S_IP_PACKET] = O,
	},
	[MSG_T_MATCH_FIXED] = {
		[MSG_S_SECURITY] = O, [MSG_S_AFFINITY_ID] = M, [MSG_S_MGR_INTEREST] = O,
		[MSG_S_AGENT_INTEREST] = O, [MSG_S_IDENTITY] = O, [MSG_S_IP_PACKET] = O,
	},
	[MSG_T_IP_PACKET] = {
		[MSG_S_SECURITY] = O, [MSG_S_IP_PACKET] = M,
	},
	[MSG_T_HELLO] = {
		[MSG_S_SECURITY] = O, [MSG_S_IDENTITY] = M, [MSG_S_HELLO] = M,
	},
	[MSG_T_HEARTBEAT] = {
		[MSG_S_SECURITY] = O, [MSG_S_IDENTITY] = O, [MSG_S_HEARTBEAT] = M,
	},
	[MSG_T_ERROR] = {
		[MSG_S_SECURITY] = O, [MSG_S_IDENTITY] = O, [MSG_S_ERROR] = M,
	},
	[MSG_T_REPL_HELLO] = {
		[MSG_S_SECURITY] = O, [MSG_S_IDENTITY] = O, [MSG_S_HELLO] = M,
		[MSG_S_REPL_MEMBER] = M,
	},
	[MSG_T_REPL_BATCH] = {
		[MSG_S_SECURITY] = O, [MSG_S_REPL_BATCH] = M,
	},
	[MSG_T_REPL_ACK] = {
		[MSG_S_SECURITY] = O, [MSG_S_REPL_ACK] = M,
	},
	[MSG_T_PROV_PUSH] = {
		[MSG_S_SECURITY] = O, [MSG_S_IDENTITY] = O, [MSG_S_PROV_DOC] = M,
	},
	[MSG_T_PROV_ACK] = {
		[MSG_S_SECURITY] = O, [MSG_S_IDENTITY] = O, [MSG_S_PROV_ACK] = M,
	},
	[MSG_T_PROV_QUERY] = {
		[MSG_S_SECURITY] = O, [MSG_S_IDENTITY] = O, [MSG_S_PROV_QUERY] = M,
	},
	[MSG_T_PROV_TRIAL] = {
		[MSG_S_SECURITY] = O, [MSG_S_IDENTITY] = O, [MSG_S_PROV_TRIAL] = M,
	},
	[MSG_T_PROV_RESULT] = {
		[MSG_S_SECURITY] = O, [MSG_S_IDENTITY] = O, [MSG_S_PROV_RESULT] = M,
	},
};

const struct msg_field *msg_seg_fields(unsigned seg_type, size_t *n)
{
	const struct msg_seg_desc *d = msg_desc(seg_type);

	if (!d)
		return NULL;
	*n = d->nfields;
	return d->fields;
}

int msg_seg_present_off(unsigned seg_type)
{
	const struct msg_seg_desc *d = msg_desc(seg_type);

	return d ? d->present_off : -1;
}

bool msg_seg_known(unsigned type)
{
	return msg_desc(type) != NULL;
}

bool msg_type_known(unsigned type)
{
	return msg_type_name(type) != NULL;
}

#define XSTR3(name, num, str) [name] = str,

static const char *const seg_names[MSG_SEG_TABLE_SIZE] = { MSG_SEG_LIST(XSTR3) };

const char *msg_seg_type_name(unsigned type)
{
	return type < MSG_SEG_TABLE_SIZE ? seg_names[type] : NULL;
}

static const char *const type_names[MSG_TYPE_TABLE_SIZE] = { MSG_TYPE_LIST(XSTR3) };

const char *msg_type_name(unsigned type)
{
	return type < MSG_TYPE_TABLE_SIZE ? type_names[type] : NULL;
}

static const char *const err_names[] = { MSG_ERR_LIST(XSTR3) };

const char *msg_errc_name(int code)
{
	if (code < 0 || (size_t)code >= LOOM_ARRAY_SIZE(err_names) || !err_names[code])
		return "?";
	return err_names[code];
}

const char *msg_field_name(unsigned seg_type, unsigned key)
{
	const struct msg_seg_desc *d = msg_desc(seg_type);

	for (size_t i = 0; d && i < d->nfields; i++)
		if (d->fields[i].key == key)
			return d->fields[i].name;
	return NULL;
}
