/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The manager's flow table (common/flow.h) as its writer uses it: a record
 * is stored under both of its keys and changed as a pair. Control thread
 * only; the shm table's own rules (shm/table.h) make every store atomic for
 * readers in other processes and repairable after a crash.
 */
#ifndef LOOM_SVC_FLOW_H
#define LOOM_SVC_FLOW_H

#include <stdbool.h>
#include <stdint.h>

#include "common/flow.h"
#include "shm/table.h"

struct svc_flows;

/*
 * Create or take over loom.<instance>.flow for `flows` flows (two entries
 * each). A table left by a previous run is repaired and kept (rep says what
 * repair found). -EBUSY: another manager of this instance is running.
 */
int svc_flows_open(const char *instance, uint32_t flows, uint16_t rcu_slots,
		   const struct shm_perm *perm, struct svc_flows **out,
		   struct shm_table_repair *rep);
void svc_flows_close(struct svc_flows *f);

/* Entries whose pair a killed writer left half stored, repaired at open
 * (an original's reply written again, a lone reply removed). */
unsigned svc_flows_pairs_repaired(const struct svc_flows *f);

/* The record stored under k (either direction). 0 or -ENOENT. */
int svc_flows_get(struct svc_flows *f, const struct flow_key *k, struct flow_rec *out);

/*
 * Store r under both its keys (r->dir is set per entry): the update of a
 * flow that is there. -ENOSPC if the table has no room for an entry that
 * went missing.
 */
int svc_flows_put(struct svc_flows *f, const struct flow_rec *r);

/*
 * A new flow: both keys must be free. -EEXIST if either is taken (another
 * flow already uses that 5-tuple: a client port reused towards two virtual
 * addresses with the same backend is one tuple at the backend, which the
 * backend itself could not tell apart), -ENOSPC if the table is full. All
 * or nothing.
 */
int svc_flows_insert(struct svc_flows *f, const struct flow_rec *r);

/* Remove both entries of r. 0, or -ENOENT if neither was there. */
int svc_flows_del(struct svc_flows *f, const struct flow_rec *r);

/*
 * Visit the original-direction record of every flow, from bucket position
 * *pos (0 to start) until `max` entries of either direction were seen; *pos
 * is where to go on next time, 0 again after the end. cb gets a copy and may
 * not change the table; when it returns non-zero the walk stops and the
 * rest of that bucket is left for the next round. Returns the records
 * visited.
 */
unsigned svc_flows_walk(struct svc_flows *f, uint32_t *pos, uint32_t max,
			int (*cb)(const struct flow_key *orig, const struct flow_rec *r, void *arg),
			void *arg);

/*
 * Told of every change after it is in the table (a hot standby replicates
 * them): gone = false, the flow's record as stored (dir ORIG) under its
 * original key; gone = true, the flow was removed. One observer; NULL stops.
 */
typedef void svc_flows_observer(void *arg, bool gone, const struct flow_key *orig,
				const struct flow_rec *r);
void svc_flows_observe(struct svc_flows *f, svc_flows_observer *fn, void *arg);

/*
 * Call fn on a copy of every flow's record that pick accepts (NULL: every
 * one), outside the walk, so fn may change or remove the flow. The whole
 * table, in batches; a flow added or changed meanwhile may or may not be
 * visited. -ENOMEM if no batch could be allocated, else 0.
 */
int svc_flows_each(struct svc_flows *f, bool (*pick)(const struct flow_rec *r, void *arg),
		   void (*fn)(struct flow_rec *r, void *arg), void *arg);

/* Reuse deleted entries once readers are done with them (call now and then). */
void svc_flows_reclaim(struct svc_flows *f);

/* The segment (its generation counts the manager's starts). */
struct shm_seg *svc_flows_seg(const struct svc_flows *f);

uint64_t svc_flows_count(const struct svc_flows *f); /* flows (entry pairs) */
uint32_t svc_flows_capacity(const struct svc_flows *f);

#endif
