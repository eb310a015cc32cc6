/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Peer mode: the agents that may take over each other's traffic share
 * their fixed affinities through common/repl.h (REPL_MODE_PEER), so a flow
 * whose packets move to another agent finds its affinity there and is not
 * punted again (docs/fwd-agent.md "Peer mode").
 *
 * Each agent owns (in the library's sense) the fixed affinities its own
 * managers gave it, and replicates every change a manager makes: applied,
 * refreshed, deleted with TTL 0. A copy keeps its owner; it names its
 * manager by an identity every agent agrees on (fwd_config_manager_id()),
 * since a manager's index differs from one agent's configuration to the
 * next, and its expiry as the time left, since the agents' monotonic clocks
 * differ. A copy is stored with origin = peer index + 1: it expires like the
 * original, is never replicated again, is deleted when its owner deletes
 * the original, and is purged when its owner is lost for the grace period.
 *
 * The value on the wire is struct fwd_repl_copy (host byte order: the peers
 * of one group run on one architecture; the version refuses other layouts).
 *
 * Control thread only, like everything the event loop runs.
 */
#ifndef LOOM_FWD_REPL_H
#define LOOM_FWD_REPL_H

#include <stdint.h>

#include "common/affinity.h"
#include "common/repl.h"
#include "fwd_aff.h"
#include "fwd_config.h"

#define FWD_REPL_VERSION (0x46520000u | AFF_FIXED_VERSION) /* "FR" + the value layout */

struct fwd_repl_copy {
	uint32_t version;        /* FWD_REPL_VERSION */
	uint32_t left_ms;        /* of the affinity's lifetime when it was sent */
	uint64_t manager;        /* fwd_config_manager_id() of its manager */
	struct aff_fixed v;      /* owner, origin and expires_ms are the sender's */
};
static_assert(sizeof(struct fwd_repl_copy) == 16 + AFF_FIXED_VALUE_SIZE, "a wire layout");
static_assert(sizeof(struct fwd_repl_copy) <= REPL_MAX_VALUE, "fits a transaction");

/* The manager identities of this agent's configuration, by index. */
struct fwd_repl_mgrs {
	uint64_t id[FWD_MAX_MANAGERS];
	unsigned n;
};

/* A local affinity as it travels: manager index to identity, expiry to time left. */
void fwd_repl_encode(const struct aff_fixed *v, const struct fwd_repl_mgrs *mgrs,
		     uint64_t now_ms, struct fwd_repl_copy *out);

/*
 * A received value back into an entry for this agent's table (hostile
 * input: every field checked). 0, or the reason it is refused: FWD_COPY_BAD
 * (length, version, a length field out of range), FWD_COPY_NO_MANAGER (no
 * manager of ours has that identity).
 */
int fwd_repl_decode(const void *val, size_t len, const struct fwd_repl_mgrs *mgrs,
		    uint16_t origin, uint64_t now_ms, struct aff_fixed *out);

struct fwd_repl;

/*
 * Start peer mode (cfg->repl.listen set) over the agent's table aff.
 * secret_key is this agent's CurveZMQ secret key (tcp://). generation must
 * be new on every start. Returns 0 (*out NULL when peer mode is off) or
 * -errno.
 */
int fwd_repl_open(struct ev_loop *loop, void *zctx, const struct fwd_config *cfg,
		  const char *secret_key, uint64_t generation, struct fwd_aff *aff,
		  struct fwd_repl **out);
void fwd_repl_close(struct fwd_repl *p);

/* fwd_aff_cfg.changed: a manager changed a fixed affinity here. */
fwd_aff_changed_fn fwd_repl_changed;

/* The library's counters (for the stats file). */
void fwd_repl_counters(const struct fwd_repl *p, struct repl_counters *out);

#endif
