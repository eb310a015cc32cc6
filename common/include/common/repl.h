/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Replication of a daemon's table between the members of a group
 * (ARCHITECTURE.md section 5, after seed 004). docs/replication.md has the
 * model, the protocol with its sequence diagram, and the figures.
 *
 * The model. An entry is an opaque record: a key (0..REPL_MAX_KEY bytes), a
 * value (0..REPL_MAX_VALUE bytes) and an owner, the instance id of the
 * member that created it. Copies keep the owner. The library does not keep
 * the table: the daemon does, and gives two callbacks, one that applies a
 * received transaction to its table, one that walks its table in chunks for
 * a dump. Changes the daemon makes are submitted as transactions (add,
 * update, delete, delete-all-of-owner, error), batched, numbered and sent to
 * every member that holds copies; the receiver applies in order and
 * acknowledges; what was not acknowledged is resent, duplicates are dropped
 * by sequence number.
 *
 * Who may write. Primary/backup and active/standby: the active (primary)
 * writes every entry, including those a previous active created (it took
 * them over); standbys only receive. Peer: every member writes the entries
 * it owns and receives the others'. The receiver enforces it: a transaction
 * from a member that may not write it is dropped and counted.
 *
 * Joining. A member that holds nothing of a writer's stream (it started,
 * restarted, became standby, or purged a lost peer) asks that writer for a
 * dump and is not ready until the dump has ended. The dump travels in the
 * same numbered stream as live batches, and each chunk is read from the
 * table when it is sent, after every change submitted before it: so a change
 * that races the dump is either in a chunk or in a live batch after it, and
 * is never lost nor applied out of order. Hence the one duty of the apply
 * callback: be idempotent (add of an existing key replaces it, update of a
 * missing key adds it, delete of a missing key does nothing).
 *
 * Transport. Each member binds one ROUTER (its endpoint) and connects one
 * DEALER to every other member: a member's outgoing stream travels on its
 * DEALER, answers (hello answers, acks) come back on it, so the ROUTER side
 * only ever answers the peer it heard from. CurveZMQ on tcp:// with the ZAP
 * handler (zap.h) admitting only the configured members' keys; the optional
 * shared key signs every message (msg_sign()).
 *
 * Threads: everything here must be called from the loop's thread; the
 * callbacks are called from it too, never re-entered; apply and event may
 * call repl_submit() and repl_set_role(), dump may call only
 * repl_dump_add(), and none may call repl_free().
 */
#ifndef LOOM_COMMON_REPL_H
#define LOOM_COMMON_REPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/compiler.h"
#include "common/msg_wire.h"

struct ev_loop;
struct zap;
struct repl;
struct repl_dump;

#define REPL_MAX_KEY      MSG_MAX_REPL_KEY
#define REPL_MAX_VALUE    MSG_MAX_REPL_VALUE
#define REPL_MAX_MEMBERS  16u  /* other members of a group */
#define REPL_MAX_ENDPOINT 127u
#define REPL_ZAP_DOMAIN   "loom-repl"
#define REPL_OWNER_ALL    0u   /* delete-all-of-owner: every entry */

enum repl_mode {
	REPL_MODE_PRIMARY_BACKUP = MSG_REPL_MODE_PRIMARY_BACKUP,
	REPL_MODE_ACTIVE_STANDBY = MSG_REPL_MODE_ACTIVE_STANDBY,
	REPL_MODE_PEER = MSG_REPL_MODE_PEER,
};

enum repl_role {
	REPL_ROLE_ACTIVE = MSG_REPL_ROLE_ACTIVE,   /* primary too */
	REPL_ROLE_STANDBY = MSG_REPL_ROLE_STANDBY, /* backup too */
	REPL_ROLE_PEER = MSG_REPL_ROLE_PEER,
};

enum repl_op {
	REPL_OP_ADD = MSG_REPL_OP_ADD,
	REPL_OP_UPDATE = MSG_REPL_OP_UPDATE,
	REPL_OP_DELETE = MSG_REPL_OP_DELETE,
	REPL_OP_DELETE_OWNER = MSG_REPL_OP_DELETE_OWNER, /* key unused */
	REPL_OP_ERROR = MSG_REPL_OP_ERROR, /* value: optional detail */
};

/* One transaction. Submitted: key and value are copied before the call
 * returns. Applied: they point into the received message, valid during the
 * callback only. */
struct repl_txn {
	enum repl_op op;
	uint64_t owner;
	const void *key;
	size_t key_len;
	const void *value;
	size_t value_len;
};

struct repl_member_config {
	uint64_t instance;                      /* nonzero, unique in the group */
	char endpoint[REPL_MAX_ENDPOINT + 1];   /* where its ROUTER is bound */
	char public_key[41];                    /* Z85; tcp:// only */
};

enum repl_event_type {
	REPL_EV_READY,        /* this member holds a complete table */
	REPL_EV_MEMBER_UP,    /* a member said hello (first, or after it was lost) */
	REPL_EV_MEMBER_LOST,  /* no word from it for dead_ms */
	REPL_EV_MEMBER_ROLE,  /* a member announced another role (takeover) */
	REPL_EV_PURGED,       /* a lost peer's entries were deleted (peer mode) */
};

struct repl_event {
	enum repl_event_type type;
	uint64_t instance;     /* the member; this member's own for READY */
	uint64_t generation;
	enum repl_role role;
};

struct repl_ops {
	/*
	 * Apply t, received from member `from`, to the table; must be
	 * idempotent (see above). owner REPL_OWNER_ALL with DELETE_OWNER means
	 * every entry. A negative return is counted (REPL_C_APPLY_FAILED) and
	 * the stream goes on.
	 */
	int (*apply)(void *arg, uint64_t from, const struct repl_txn *t);
	/*
	 * Walk the table from *cursor (0 on the first call of a dump) and
	 * repl_dump_add() each entry until it returns -ENOSPC (the chunk is
	 * full: leave *cursor at that entry, it is offered again next call) or
	 * the table ends. Return 1 when the walk is done, 0 when more remains,
	 * negative errno to abandon the dump (retried a heartbeat later).
	 * Every entry that exists for the whole dump must be visited once;
	 * entries added or removed meanwhile may or may not be (the live stream
	 * carries them).
	 */
	int (*dump)(void *arg, struct repl_dump *d, uint64_t *cursor);
	/* Optional: membership and readiness news. */
	void (*event)(void *arg, const struct repl_event *ev);
};

struct repl_config {
	void *zctx;                             /* the daemon's ZeroMQ context */
	struct zap *zap;       /* the context's ZAP handler; NULL: opened here */
	uint32_t group;
	enum repl_mode mode;
	enum repl_role role;                    /* at start */
	uint64_t instance;                      /* nonzero */
	uint64_t generation;                    /* new on every start */
	uint8_t daemon_role;                    /* MSG_ROLE_*, for the hello */
	char endpoint[REPL_MAX_ENDPOINT + 1];   /* to bind */
	char public_key[41], secret_key[41];    /* Z85; required on tcp:// */
	struct repl_member_config members[REPL_MAX_MEMBERS];
	unsigned n_members;
	const uint8_t *auth_key;                /* optional shared HMAC key */
	size_t auth_key_len;
	uint32_t heartbeat_ms;                  /* default 100 */
	uint32_t dead_ms;                       /* default 3 heartbeats */
	uint32_t grace_ms;      /* peer mode: keep a lost peer's entries; 0 = purge */
	uint32_t join_ms;       /* wait this long for members at start; default dead_ms */
	uint32_t batch_ms;      /* hold a batch at most this long; 0 = next loop turn */
	uint32_t window;        /* batches in flight per member; default 64 */
	uint32_t max_queue;     /* batches queued per member, then a resync; default 4096 */
	struct repl_ops ops;
	void *arg;
};

/* Counters (REPL_C_*), read with repl_counters(). */
#define REPL_COUNTER_LIST(X)                                               \
	X(REPL_C_SUBMITTED, "submitted")     /* transactions submitted */  \
	X(REPL_C_SENT, "sent")               /* batches sent, resends too */ \
	X(REPL_C_ACKED, "acked")             /* batches acknowledged */    \
	X(REPL_C_RESENT, "resent")           /* batches sent again */      \
	X(REPL_C_APPLIED, "applied")         /* transactions applied */    \
	X(REPL_C_APPLY_FAILED, "apply_failed")                             \
	X(REPL_C_DUPLICATES, "duplicates")   /* batches seen before */     \
	X(REPL_C_DROPPED, "dropped")         /* messages refused, all reasons */ \
	X(REPL_C_DROPPED_MALFORMED, "dropped_malformed")                   \
	X(REPL_C_DROPPED_AUTH, "dropped_auth")                             \
	X(REPL_C_DROPPED_UNKNOWN, "dropped_unknown")  /* not a member, wrong group */ \
	X(REPL_C_DROPPED_NOT_WRITER, "dropped_not_writer")                 \
	X(REPL_C_DROPPED_AWAITING, "dropped_awaiting") /* before a dump began */ \
	X(REPL_C_REFUSED_TXNS, "refused_txns") /* owner may not write it */ \
	X(REPL_C_DUMPS_SENT, "dumps_sent")                                 \
	X(REPL_C_DUMPS_RECEIVED, "dumps_received")                         \
	X(REPL_C_DUMP_ENTRIES, "dump_entries") /* entries sent in dumps */ \
	X(REPL_C_OVERFLOWS, "overflows")     /* queue dropped for a resync */ \
	X(REPL_C_MEMBERS_LOST, "members_lost")                             \
	X(REPL_C_PURGES, "purges")

enum repl_counter { REPL_COUNTER_LIST(LOOM_XENUM) REPL_C_COUNT };

struct repl_counters {
	uint64_t c[REPL_C_COUNT];
	uint64_t lag;          /* now: most batches unacknowledged by one member */
	uint64_t lag_max;      /* highest lag seen */
};

const char *repl_counter_name(enum repl_counter c);

/* Check cfg, bind, connect, start heartbeats. -EINVAL for a configuration
 * it refuses, -errno from ZeroMQ. */
int repl_new(struct ev_loop *loop, const struct repl_config *cfg, struct repl **out);
/* Close the sockets, cancel every event. Not from inside a callback. */
void repl_free(struct repl *r);

/*
 * Queue a change the daemon made to its table (apply it to the table
 * first: a dump running now reads the table). -EPERM if this member may not
 * write it (a standby; a peer for an owner other than itself), -EINVAL for a
 * malformed transaction. Sent within batch_ms, or at once when a batch fills.
 */
int repl_submit(struct repl *r, const struct repl_txn *t);
/* Send what is queued now rather than within batch_ms. */
void repl_flush(struct repl *r);

/* Called from ops.dump: add one entry to the chunk. 0, -ENOSPC when the
 * chunk is full (offer the entry again next call), -EINVAL if malformed.
 * In peer mode an entry another member owns is skipped (returns 0). */
int repl_dump_add(struct repl_dump *d, uint64_t owner, const void *key, size_t key_len,
		  const void *value, size_t value_len);

/*
 * Takeover and hand-back (active/standby, primary/backup): the daemon
 * decides (it saw the active lost, or an operator asked) and calls this.
 * Becoming active: start writing and announce it; standbys that did not
 * follow this member ask it for a dump. Becoming standby: stop writing and
 * ask the active for a dump (not ready until it ends). -EINVAL in peer mode.
 */
int repl_set_role(struct repl *r, enum repl_role role);
enum repl_role repl_role(const struct repl *r);

/* True once this member holds a complete table (see REPL_EV_READY). */
bool repl_ready(const struct repl *r);

void repl_counters(const struct repl *r, struct repl_counters *out);

/* A member as this member sees it, for status pages and tests. */
struct repl_member_info {
	bool alive;            /* heard from within dead_ms */
	bool synced;           /* its stream to us is complete (dump ended) */
	enum repl_role role;
	uint64_t generation;
	uint64_t lag;          /* our batches it has not acknowledged */
};
int repl_member_info(const struct repl *r, uint64_t instance, struct repl_member_info *out);

#endif
