/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The agent's affinity state, owned by the control thread.
 *
 * Fixed affinities live in the shared hash table loom.<instance>.affinity
 * (value: struct aff_fixed); wildcards and advertised addresses in a
 * private list that is published as a sorted snapshot in
 * loom.<instance>.wildcard whenever it changes (common/affinity.h).
 * Workers only read both.
 *
 * Every function here is for the control thread (the single writer).
 */
#ifndef LOOM_FWD_AFF_H
#define LOOM_FWD_AFF_H

#include <stdbool.h>
#include <stdint.h>

#include "common/affinity.h"
#include "common/msg.h"
#include "shm/seg.h"
#include "shm/snap.h"
#include "shm/table.h"

/* Why an update was not applied (counted per reason). */
#define FWD_UPD_LIST(X)                                                              \
	X(FWD_UPD_APPLIED, "applied")                                                \
	X(FWD_UPD_DELETED, "deleted (ttl 0)")                                        \
	X(FWD_UPD_DENIED, "denied: an action is not supported")                     \
	X(FWD_UPD_NO_WILDCARD, "ignored: no wildcard of the same manager behind it") \
	X(FWD_UPD_NOT_FOUND, "ttl 0 for an affinity we do not hold")                 \
	X(FWD_UPD_TABLE_FULL, "dropped: table full, nothing idle to evict")          \
	X(FWD_UPD_TOO_MANY, "dropped: too many wildcards or advertised addresses")   \
	X(FWD_UPD_BAD, "dropped: malformed for its type")                            \
	X(FWD_UPD__COUNT, "")

enum fwd_upd { FWD_UPD_LIST(LOOM_XENUM) };
const char *fwd_upd_str(enum fwd_upd u);

/*
 * A fixed affinity reached the byte threshold its manager asked for (the
 * interest criteria's bytes): send the manager an interest match with reason
 * MSG_INT_BYTES. Returns 0 when sent, negative to be asked again at the next
 * sweep. Control thread.
 */
typedef int fwd_aff_report_fn(void *arg, const struct flow_key *key, const struct aff_fixed *v);

/*
 * A manager changed a fixed affinity here (applied, refreshed, or deleted
 * with TTL 0: v NULL), to be replicated to the peers. Copies a peer sent
 * are never reported: what a peer applies is not replicated again.
 */
typedef void fwd_aff_changed_fn(void *arg, const struct flow_key *key, const struct aff_fixed *v,
				uint64_t now_ms);

/* What became of a copy a replication peer sent (counted per outcome). */
#define FWD_COPY_LIST(X)                                                          \
	X(FWD_COPY_APPLIED, "copies applied")                                     \
	X(FWD_COPY_DELETED, "copies deleted")                                     \
	X(FWD_COPY_PURGED, "copies purged (peer lost or resynchronized)")         \
	X(FWD_COPY_BAD, "copies refused: malformed")                              \
	X(FWD_COPY_NO_MANAGER, "copies refused: their manager is not ours")       \
	X(FWD_COPY_NO_WILDCARD, "copies ignored: no wildcard of the same manager") \
	X(FWD_COPY_EXPIRED, "copies ignored: expired on the way")                 \
	X(FWD_COPY_TABLE_FULL, "copies dropped: table full")                      \
	X(FWD_COPY__COUNT, "")

enum fwd_copy { FWD_COPY_LIST(LOOM_XENUM) };
const char *fwd_copy_str(enum fwd_copy c);

struct fwd_aff_cfg {
	const char *instance;
	uint32_t capacity;       /* fixed affinities */
	uint32_t lanes;          /* data-path workers counting */
	uint32_t rcu_slots;      /* reader threads across all processes */
	uint64_t caps;           /* MSG_CAP() set of the actions this agent performs */
	struct shm_perm perm;
	/* Host mode (seed 002): a fixed affinity that rewrites the source (a
	 * reply translated here instead of at the ingress agent) and names no
	 * forward address is dispatched to this next hop, the direct return
	 * path. NULL, or all zero: routed by its destination as usual. */
	const uint8_t *direct_via;
	fwd_aff_report_fn *report;
	void *report_arg;
	fwd_aff_changed_fn *changed;     /* NULL: no replication */
	void *changed_arg;
};

struct fwd_aff_stats {
	uint64_t upd[FWD_UPD__COUNT];
	uint64_t expired;        /* fixed affinities removed by the sweep */
	uint64_t evicted;        /* idle fixed affinities evicted for room */
	uint64_t reported;       /* byte thresholds reported */
	uint64_t published;      /* wildcard snapshots published */
	uint64_t copy[FWD_COPY__COUNT];
	uint32_t nwild;
	uint32_t nadv;
	uint64_t nfixed;
};

struct fwd_aff;

int fwd_aff_open(const struct fwd_aff_cfg *cfg, struct fwd_aff **out,
		 struct shm_table_repair *rep);
void fwd_aff_close(struct fwd_aff *a);

/* Remove an instance's segments (tests, and `deploy/lab.sh down`'s job). */
void fwd_aff_unlink(const char *instance);

/*
 * Apply an affinity update (update-wildcard or update-fixed) from the
 * manager with index owner. On FWD_UPD_DENIED *deny holds the actions to
 * name in the update-deny reply. now_ms is CLOCK_MONOTONIC milliseconds.
 */
enum fwd_upd fwd_aff_apply(struct fwd_aff *a, uint16_t owner, const struct msg *m,
			   uint64_t now_ms, struct msg_action_list *deny);

/*
 * Remove expired wildcards, and expired fixed affinities from the next
 * `budget` buckets of the table (a sweep in slices keeps the loop
 * responsive; the data path already treats expired entries as misses).
 * Publishes a new snapshot if the wildcards changed.
 */
void fwd_aff_expire(struct fwd_aff *a, uint64_t now_ms, uint32_t budget);

/* Publish the wildcard snapshot if it changed since the last publish. */
int fwd_aff_publish(struct fwd_aff *a, uint64_t now_ms);

/* Free deleted entries whose grace period has passed (call now and then). */
void fwd_aff_reclaim(struct fwd_aff *a);

/*
 * Replication (fwd_repl.c). A copy v (owner already mapped to this agent's
 * manager index, expires_ms to this host's clock, origin = peer index + 1)
 * is stored as it is if a live wildcard of the same manager covers key;
 * never reported to `changed`.
 */
enum fwd_copy fwd_aff_put_copy(struct fwd_aff *a, const struct flow_key *key,
			       const struct aff_fixed *v, uint64_t now_ms);
/* Delete key if it is a copy from origin (TTL 0 at its owner): an entry of
 * our own manager, or another peer's copy, stays. */
void fwd_aff_delete_copy(struct fwd_aff *a, const struct flow_key *key, uint16_t origin);
/* Delete every copy from origin; 0: every copy. Returns how many. */
uint64_t fwd_aff_purge_copies(struct fwd_aff *a, uint16_t origin);
/* Count a copy refused before it reached the table. */
void fwd_aff_count_copy(struct fwd_aff *a, enum fwd_copy c);

/*
 * Read the fixed affinities of whole buckets from bucket position *pos:
 * at most FWD_AFF_GROUP entries into out, *pos moved past them
 * (UINT32_MAX: the table is done). Returns how many.
 */
#define FWD_AFF_GROUP 64u
struct fwd_aff_item {
	struct flow_key key;
	struct aff_fixed v;
};
unsigned fwd_aff_read_group(struct fwd_aff *a, uint32_t *pos, struct fwd_aff_item *out);

void fwd_aff_get_stats(const struct fwd_aff *a, struct fwd_aff_stats *st);

struct shm_table *fwd_aff_table(struct fwd_aff *a);
struct shm_snap *fwd_aff_snap(struct fwd_aff *a);
struct shm_table *fwd_aff_fwdstats(struct fwd_aff *a);

#endif
