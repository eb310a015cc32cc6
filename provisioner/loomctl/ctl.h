/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * loomctl: read-only views of the tables a daemon keeps in shared memory
 * (like `ipvsadm -L` or `conntrack -L`).
 *
 * The segments are written by another process, so everything read from them
 * is hostile until checked. The work is split so that no formatting ever
 * looks at shared memory:
 *
 *   ctl_read.c   attaches as a reader and copies out: the wildcard snapshot
 *                and a manager's services snapshot whole (one short
 *                read-side section, a memcpy of at most ~1.3 MB), the fixed
 *                table in pieces of CTL_PIECE entries
 *                (one section per piece, dropped before the piece is shown,
 *                so a listing of a million flows never holds up the
 *                writer's grace periods for long). Copies are validated
 *                before anyone sees them.
 *   ctl_fmt.c    text: addresses, prefixes, action summaries, durations,
 *                and an aligned column printer.
 *   ctl_json.c   a streaming JSON writer on top of jansson: each value is
 *                encoded (and escaped) by jansson, the enclosing document is
 *                written as it goes, so --json stays in bounded memory.
 *   ctl_aff.c    the `affinity` commands, table and JSON output side by side.
 *   ctl_svc.c    the `service` and `backend` commands: the service manager's
 *                published services snapshot (copied whole by ctl_read.c).
 *   ctl_flow.c   the `flow` commands: the service manager's flow table,
 *                walked in pieces like the fixed affinities.
 *   main.c       options and the command table.
 *
 * A listing is not an atomic snapshot of the fixed table (neither is
 * conntrack's): an entry inserted or deleted during the walk may or may not
 * appear. Each entry shown is itself consistent (read under its version).
 */
#ifndef LOOM_CTL_H
#define LOOM_CTL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/affinity.h"
#include "common/compiler.h"
#include "common/flow.h"
#include "common/key.h"
#include "common/services.h"
#include "shm/rcu.h"
#include "shm/table.h"

/* Exit codes (documented in docs/loomctl.md). */
enum ctl_exit {
	CTL_EXIT_OK = 0,
	CTL_EXIT_NOT_FOUND = 1, /* no such instance, no such entry */
	CTL_EXIT_USAGE = 2,
	CTL_EXIT_FAIL = 3,      /* the table exists but cannot be read */
};

/* Fixed entries copied per read-side section. */
#define CTL_PIECE 256u
/* A bucket holds 7 slots and a table walk only stops between buckets, so a
 * piece asked for CTL_PIECE entries may deliver up to 6 more. */
#define CTL_PIECE_ROOM (CTL_PIECE + 8u)

/* Options shared by the commands. */
struct ctl_opts {
	const char *instance;
	bool json;
	uint64_t limit;          /* rows per section; UINT64_MAX = all */
	bool only_wild;
	bool only_fixed;
	const char *service;     /* flow list --service: a name (or an id) */
	int state;               /* flow list --state: enum flow_state, -1 any */
};

/* ---- reading (ctl_read.c) ------------------------------------------------ */

/* Anomalies this process met while reading (the segment is hostile). */
struct ctl_rerr {
	uint64_t bad_snapshot;   /* published snapshot failed validation */
	uint64_t busy;           /* an entry kept changing under us: skipped */
	uint64_t clamped;        /* a length field out of range, clamped for display */
	uint64_t overflow;       /* more entries than the table can hold: walk cut */
};

/* One fixed affinity, copied out consistently. */
struct ctl_fixed {
	struct flow_key key;
	struct aff_fixed v;
	uint32_t idx;
	uint64_t packets;
	uint64_t bytes;
	uint64_t last_seen_ns;   /* 0: no packet yet */
};

/* A private copy of the published wildcard snapshot. */
struct ctl_snap {
	bool present;            /* false: nothing published (or invalid: see rerr) */
	uint64_t generation;
	uint64_t built_ms;
	const struct aff_wild *wild;
	uint32_t nwild;
	const struct aff_adv *adv;
	uint32_t nadv;
	struct aff_snap_view view; /* over the copy, for aff_snap_find() */
	void *buf;
};

/* Figures of one segment (both the table and the snapshot have one). */
struct ctl_seg_stats {
	pid_t writer_pid;
	bool writer_alive;
	uint32_t generation;
	struct shm_rcu_stats rcu;
};

struct ctl_aff;

/*
 * Attach to loom.<instance>.affinity and loom.<instance>.wildcard as a
 * reader and register this thread in both RCU registries. On failure the
 * negative errno and, in *failed, the name of the segment that failed.
 * -EINVAL: the instance name is not a valid segment name.
 */
int ctl_aff_open(const char *instance, struct ctl_aff **out, const char **failed);
void ctl_aff_close(struct ctl_aff *c);

const struct shm_table_geom *ctl_aff_geom(const struct ctl_aff *c);

/* Copy and validate the published snapshot. Always succeeds; s->present
 * says whether there was a valid one. Free with ctl_snap_free(). */
void ctl_aff_snapshot(struct ctl_aff *c, struct ctl_snap *s);
void ctl_snap_free(struct ctl_snap *s);

/*
 * Walk the fixed table in pieces. cb gets each piece's rows outside any
 * read-side section; a non-zero return stops the walk. At most limit rows
 * in all. Returns the number of rows delivered.
 */
uint64_t ctl_aff_walk(struct ctl_aff *c, uint64_t limit,
		      int (*cb)(const struct ctl_fixed *rows, size_t n, void *arg), void *arg);

/* The fixed affinity for exactly key: 0, -ENOENT, or -EAGAIN (kept changing). */
int ctl_aff_lookup(struct ctl_aff *c, const struct flow_key *key, struct ctl_fixed *out);

/* Entries the writer says it holds (its meta copy: a hint, not trusted). */
uint64_t ctl_aff_count_hint(const struct ctl_aff *c);

void ctl_aff_seg_stats(const struct ctl_aff *c, bool wildcard, struct ctl_seg_stats *st);
/* The same figures for any segment attached as a reader. */
void ctl_seg_stats(const struct shm_seg *seg, struct ctl_seg_stats *st);
void ctl_aff_reader_errors(const struct ctl_aff *c, struct shm_table_rstats *tab,
			   struct ctl_rerr *own);

/* CLOCK_MONOTONIC in ms, the clock the agent stamps expiries with. */
uint64_t ctl_now_ms(void);

/* A private, validated copy of a service manager's services snapshot. */
struct ctl_svcs {
	uint64_t generation;
	struct svcs_view v;      /* over buf: counts and indexes checked */
	void *buf;
	uint64_t fixed;          /* strings that needed a terminator or had
				  * unprintable bytes (replaced by '?') */
};

/*
 * Attach to loom.<instance>.services as a reader, copy the published
 * snapshot in one read-side section, detach, and validate the copy
 * (svcs_view), so nothing shown can change after it was checked. Names and
 * errors in the copy are terminated and made printable.
 * -ENOENT no segment, -ENODATA nothing published yet, -EBADMSG the
 * published snapshot is invalid, -EPROTO a layout this loomctl does not
 * understand, other negative errnos from attaching.
 */
int ctl_svcs_read(const char *instance, struct ctl_svcs *s);

/*
 * Copy the published snapshot `name` of instance (of that kind and layout
 * version, at most max bytes) into *buf (malloc'd, 64-byte aligned; the
 * caller validates and frees it). -ENODATA: nothing published yet,
 * -EBADMSG: larger than max, else what opening the segment says.
 */
int ctl_snap_copy(const char *instance, const char *name, uint32_t kind, uint32_t version,
		  size_t max, void **buf, size_t *len, uint64_t *generation);
void ctl_svcs_free(struct ctl_svcs *s);
/* Lookups in a copy; NULL if absent (or s is NULL). */
const struct svcs_service *ctl_svcs_by_id(const struct ctl_svcs *s, uint32_t id);
const struct svcs_service *ctl_svcs_by_name(const struct ctl_svcs *s, const char *name);

/* ---- text (ctl_fmt.c) ---------------------------------------------------- */

#define CTL_ADDR_LEN 48   /* an address, IPv4-mapped shown as IPv4 */
#define CTL_PREFIX_LEN 96 /* address/len, or address/mask */
#define CTL_ACT_LEN 512

void ctl_addr(const uint8_t a[16], char *buf, size_t len);
/* "10.0.0.1:80", "[2001:db8::1]:80"; port in network byte order. */
void ctl_addr_port(const uint8_t a[16], uint16_t port_be, char *buf, size_t len);
/* Prefix length of a mask in the address's own family, -1 if not contiguous. */
int ctl_mask_len(const uint8_t addr[16], const uint8_t mask[16]);
/* "10.9.0.0/24", "any" for an all-zero mask, "10.0.0.0/255.0.255.0" otherwise. */
void ctl_prefix(const uint8_t addr[16], const uint8_t mask[16], char *buf, size_t len);
const char *ctl_proto_name(uint8_t proto, char *buf, size_t len);
/* MSG_INT_* bits as "fin,rst"; unknown bits in hex; "-" for none. */
void ctl_int_bits(uint16_t bits, char *buf, size_t len);
/* One-line summary: "nat d=10.2.0.11:8080 interest fin,rst data=fin". */
void ctl_actions(const struct aff_actions *a, const uint8_t *adv_addr, const uint8_t *adv_mask,
		 char *buf, size_t len);
/* "45s", "3m05s", "2h03m", "4d01h". */
void ctl_duration(uint64_t ms, char *buf, size_t len);
/* Milliseconds left before expires_ms; false if it never expires. */
bool ctl_ttl_left(uint64_t expires_ms, uint64_t now_ms, uint64_t *left_ms);
/* Time left as text: a duration, "expired", or "never" (expires_ms 0). */
void ctl_ttl_text(uint64_t expires_ms, uint64_t now_ms, char *buf, size_t len);
/* Milliseconds from then_ms to now_ms; a time in the future (another
 * process's value) is 0. */
uint64_t ctl_age_ms(uint64_t then_ms, uint64_t now_ms);
/* Milliseconds since the last packet, or since the entry was installed. */
uint64_t ctl_idle_ms(const struct ctl_fixed *f, uint64_t now_ms);
/* Parse "tcp"/"udp"/"icmp"/"icmpv6"/a number; "any" is 0. */
int ctl_parse_proto(const char *s, uint8_t *proto);
/* Parse "10.0.0.1", "10.0.0.1:80", "2001:db8::1", "[2001:db8::1]:80". */
int ctl_parse_endpoint(const char *s, uint8_t addr[16], uint16_t *port_be);

/*
 * Explain on stderr why a segment of instance could not be attached (r, a
 * negative errno from the open call) and return the exit code. daemon is
 * the writer to blame ("loom-fwd-agent"), layout and version what this
 * loomctl reads ("flow-table", FLOW_VERSION).
 */
int ctl_open_error(const char *instance, const char *seg, const char *daemon,
		   const char *layout, unsigned version, int r);

/*
 * Column printer: rows are buffered and printed by ctl_tbl_flush() with each
 * column as wide as its widest cell so far (widths only grow, so a table
 * flushed in pieces stays aligned unless a later piece has a wider cell).
 */
#define CTL_TBL_MAXCOL 16

struct ctl_tbl_col {
	const char *name;
	bool right;              /* numbers: aligned right */
};

struct ctl_tbl {
	FILE *f;
	const struct ctl_tbl_col *cols;
	unsigned ncols;
	size_t width[CTL_TBL_MAXCOL];
	char **cells;            /* nrows * ncols */
	size_t nrows, cap;
	bool header_done;
};

void ctl_tbl_init(struct ctl_tbl *t, FILE *f, const struct ctl_tbl_col *cols, unsigned ncols);
/* ncols strings, copied. -ENOMEM. */
int ctl_tbl_row(struct ctl_tbl *t, const char *const *cells);
void ctl_tbl_flush(struct ctl_tbl *t);
void ctl_tbl_free(struct ctl_tbl *t);

/* The segment figures of `stats` (writer, grace periods, readers): the
 * columns, and one row per segment. */
extern const struct ctl_tbl_col ctl_seg_cols[11];
void ctl_seg_row(struct ctl_tbl *t, const char *name, const struct ctl_seg_stats *g);

/* ---- JSON (ctl_json.c) --------------------------------------------------- */

/*
 * Streaming writer of one JSON document. Containers are opened and closed
 * explicitly; values are jansson values, encoded (and escaped) by jansson.
 */
#define CTL_JSON_DEPTH 8

struct ctl_json {
	FILE *f;
	unsigned depth;
	bool first[CTL_JSON_DEPTH];
	char closer[CTL_JSON_DEPTH];
	bool want_value;         /* a key was written: next item is its value */
	int err;                 /* first error; output is unusable after one */
};

void ctl_json_init(struct ctl_json *w, FILE *f);
void ctl_json_obj(struct ctl_json *w);   /* { */
void ctl_json_arr(struct ctl_json *w);   /* [ */
void ctl_json_end(struct ctl_json *w);   /* } or ] */
void ctl_json_key(struct ctl_json *w, const char *key);
/* Write v (reference stolen; NULL counts as an out-of-memory error). */
void ctl_json_val(struct ctl_json *w, json_t *v);
/* Finish the document (newline); 0 or the first error. */
int ctl_json_done(struct ctl_json *w);

/* Numbers as JSON numbers: values beyond INT64_MAX are clamped. */
json_t *ctl_json_u64(uint64_t v);
/* Build objects with stable field names (reference to v stolen). */
void ctl_json_set(json_t *obj, const char *key, json_t *v);
/* An address as ctl_addr() writes it. */
json_t *ctl_json_addr(const uint8_t a[16]);
/* An instance id (a 64-bit hash, beyond JSON's safe integers) as 16 hex
 * digits in a string. */
json_t *ctl_json_id(uint64_t id);
/* A segment's figures, as `stats` shows them. */
json_t *ctl_json_seg(const struct ctl_seg_stats *g);

/*
 * End a command's output: finish the JSON document (jw may be NULL for text)
 * and flush stdout. err is the command's own first error. Returns
 * CTL_EXIT_OK, or CTL_EXIT_FAIL after saying why on stderr.
 */
int ctl_finish(struct ctl_json *jw, int err);

/* ---- commands (ctl_aff.c) ------------------------------------------------ */

int ctl_cmd_aff_list(const struct ctl_opts *o);
int ctl_cmd_aff_show(const struct ctl_opts *o, const struct flow_key *key);
int ctl_cmd_aff_stats(const struct ctl_opts *o);
/* Packets and bytes per forward address (the information flag). */
int ctl_cmd_aff_forward(const struct ctl_opts *o);

/* ---- commands (ctl_svc.c, ctl_flow.c) ------------------------------------ */

int ctl_cmd_svc_list(const struct ctl_opts *o);
int ctl_cmd_svc_show(const struct ctl_opts *o, const char *name);
/* service NULL: the backends of every service. */
int ctl_cmd_backend_list(const struct ctl_opts *o, const char *service);
/* Filters in o->service, o->state; at most o->limit rows. */
int ctl_cmd_flow_list(const struct ctl_opts *o);
int ctl_cmd_flow_stats(const struct ctl_opts *o);

/* ---- commands (ctl_seq.c): a loom-pkt-engine's tables ---------------------- */

int ctl_cmd_chain_list(const struct ctl_opts *o);
int ctl_cmd_chain_show(const struct ctl_opts *o, const char *service);
int ctl_cmd_device_list(const struct ctl_opts *o);
int ctl_cmd_engine_stats(const struct ctl_opts *o);

/* ---- documents for other programs (the provisioner's statistics) ----------- */

/*
 * A loom-pkt-engine's tables as one JSON document, the objects of `chain
 * list --json` and `device list --json`: {"instance", "definitions-version",
 * "generation", "statistics" (false: no loom.<i>.stats, no packet counts),
 * "chains": [...], "devices": [...]}. Each call attaches, copies, validates
 * and detaches (the thread is registered as a reader only meanwhile); it
 * does not print. 0 and *out a new reference, or a negative errno: those
 * of ctl_snap_copy(), -EBADMSG an invalid snapshot, -ENOMEM.
 */
int ctl_engine_doc(const char *instance, json_t **out);
/*
 * A loom-svc-mgr's services snapshot the same way: {"instance",
 * "generation", "agents", "flows", "services": [...]}, each service as
 * `service show --json` shows it, with its backends. Errors as
 * ctl_svcs_read().
 */
int ctl_svcmgr_doc(const char *instance, json_t **out);

/* Names shared by the service and flow views ("lb", "established", ...);
 * a number in buf for a value this loomctl does not know. */
const char *ctl_svc_type_name(uint8_t type, char *buf, size_t len);
const char *ctl_flow_type_name(uint8_t type, char *buf, size_t len);
const char *ctl_flow_state_name(uint8_t state, char *buf, size_t len);
/* enum flow_state of a name, or -EINVAL. */
int ctl_parse_flow_state(const char *s);

#endif
