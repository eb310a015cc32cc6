/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * loom-pkt-engine's data plane: worker threads that steer packets through
 * service chains by the published sequence snapshot (common/sequence.h).
 *
 * Per burst, inside one shm read-side section: take the current snapshot
 * (validated once per generation), then per packet: parse; look the step up
 * as forward (destination = a service address) then as reply (source);
 * refuse a known key from an unexpected sender; check the device and the
 * ACL; record a packet of a running trial (its answer, at the router step,
 * is taken, not sent); queue the copies (shed first when the copy room is used up);
 * rewrite (NAT, port translation, DSCP) and send to the next hop's MAC.
 * Anything that is not a service packet is dropped and counted: the engine
 * owns its interfaces and routes nothing else (docs/pkt-engine.md).
 *
 * Counters, not logs: one X-macro list, per-worker cache lines, summed by
 * the control thread.
 */
#ifndef LOOM_PE_DP_H
#define LOOM_PE_DP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/pktio.h"
#include "common/sequence.h"
#include "pe_config.h"
#include "shm/snap.h"

#define PE_CTR_LIST(X)                                                          \
	X(PE_C_RX,          "rx")              /* frames received */             \
	X(PE_C_TX,          "tx")              /* frames handed to the back end */ \
	X(PE_C_FORWARD,     "forward")         /* steered towards a server */     \
	X(PE_C_REPLY,       "reply")           /* steered towards a client */     \
	X(PE_C_COPIES,      "copies")          /* copies queued for receivers */  \
	X(PE_C_NOT_IP,      "not_ip")          /* left to the kernel (ARP...) */  \
	X(PE_C_MALFORMED,   "malformed")       /* parse failed: dropped */        \
	X(PE_C_FRAGMENT,    "fragment")        /* a later fragment: no ports: dropped */ \
	X(PE_C_NO_TABLE,    "no_table")        /* no valid snapshot yet: dropped */ \
	X(PE_C_NO_SERVICE,  "no_service")      /* no step for it: dropped */      \
	X(PE_C_SRC_MAC,     "src_mac_refused") /* known step, wrong sender: dropped */ \
	X(PE_C_ACL_DENY,    "acl_deny")        /* the service's ACL said no */    \
	X(PE_C_DEVICE_DOWN, "device_down")     /* the next device is marked failed */ \
	X(PE_C_REWRITE,     "rewrite_failed")  /* NAT/port rewrite refused it */  \
	X(PE_C_COPY_SHED,   "copy_shed")       /* copy room used up: copy dropped */ \
	X(PE_C_TX_SHED,     "tx_shed")         /* back end queue full: dropped */ \
	X(PE_C_BAD_TABLE,   "bad_table")       /* a published snapshot failed validation */ \
	X(PE_C_STANDBY,     "standby")         /* a secondary not yet active: dropped */ \
	X(PE_C_TRIAL,       "trial")           /* a trial's answer, taken by the engine */

enum pe_ctr { PE_CTR_LIST(LOOM_XENUM) PE_C__COUNT };
const char *pe_ctr_str(unsigned c);

static_assert(PE_C__COUNT <= SEQ_STATS_CTRS, "a lane holds every counter");
static_assert(PE_MAX_STATS <= SEQ_STATS_SLOTS, "a lane holds every statistics slot");
static_assert(PE_MAX_DEVICES <= SEQ_STATS_DEVICES, "a lane holds every device");

/*
 * A trial (pe_trial.h) in flight: the control thread fills the client side
 * and sets active; a worker that steers a packet of that flow records the
 * step. Forward packets are matched by source, replies by destination:
 * only the client side, as NAT and port translation change the other.
 * Every field is atomic: the control thread resets the slot between
 * trials while a worker may still finish a burst that saw it active.
 */
#define PE_TRIAL_EVENTS 32

struct pe_trial_event {
	_Atomic uint64_t ns;       /* CLOCK_MONOTONIC; 0 until the event is written (release) */
	_Atomic uint32_t device;   /* the step's device (SEQ_NONE: none) */
	_Atomic uint8_t dir;       /* enum seq_dir */
	_Atomic uint8_t route;     /* a reply to the client side's router: the end */
	_Atomic uint8_t tcp_flags;
	_Atomic uint64_t mac;      /* the sender's MAC, first byte in the low bits */
};

struct pe_trial_slot {
	atomic_bool active;        /* workers: one relaxed load per burst */
	_Atomic uint32_t addr;     /* the client's IPv4 address, network order */
	_Atomic uint16_t port;     /* its port, network order */
	_Atomic uint32_t n;        /* events claimed (may pass PE_TRIAL_EVENTS: not kept) */
	_Atomic uint8_t done_flags;/* TCP flags of the answer that ended it */
	_Atomic uint64_t done_ns;  /* when the answer reached the router step; 0: not yet */
	struct pe_trial_event ev[PE_TRIAL_EVENTS];
};

/* What the workers share, set up by the control thread before they start. */
struct pe_dp {
	struct pktio *io;          /* NULL in unit tests (pe_worker_process only) */
	struct shm_snap *snap;
	unsigned nports;
	uint8_t port_mac[SEQ_MAX_PORTS][6]; /* source MAC of what leaves each port */
	uint32_t copy_room;        /* bytes of copies per burst and worker */
	struct seq_lane *lanes;    /* one per worker in the stats segment; NULL: private */
	atomic_bool standby;       /* a secondary engine before takeover: steer nothing */
	atomic_bool stop;
	struct pe_trial_slot trial;
};

#define PE_BURST 64

struct pe_worker {
	struct pe_dp *dp;
	unsigned id;
	struct shm_rcu_reader rd;
	bool rd_registered;
	uint64_t gen;              /* generation of the block last validated */
	const void *block;         /* that block (compared, never followed) */
	struct seq_view view;
	uint8_t *copy_buf;         /* copy_room bytes */
	uint32_t copy_used;
	/* counters, statistics slots and devices: written by this worker only
	 * (relaxed), read by the control thread and loomctl */
	struct seq_lane *lane;
	bool own_lane;             /* allocated here: no stats segment */
};

/* Control thread, before the worker starts: 0 or -errno. The worker's lane
 * is dp->lanes[id], or its own when dp->lanes is NULL. */
int pe_worker_init(struct pe_worker *w, struct pe_dp *dp, unsigned id);
/*
 * A worker that is no data-path thread (the control thread's trials): its
 * own lane always, so its counters never mix with a data-path lane, and a
 * reader registration of its own. Not for pe_worker_run_once.
 */
int pe_worker_init_private(struct pe_worker *w, struct pe_dp *dp);
void pe_worker_fini(struct pe_worker *w);

/*
 * Steer n received packets by view v (NULL: no table) into out (room for
 * n * (1 + SEQ copies per entry) descriptors: pass PE_OUT_MAX(n)). Packets
 * are rewritten in place; copies live in the worker's copy room until the
 * next call. Returns how many descriptors were written. The worker's
 * thread only; v must stay valid during the call.
 */
#define PE_OUT_MAX(n) ((n) * (1 + PE_MAX_COPIES))
unsigned pe_worker_process(struct pe_worker *w, const struct seq_view *v,
			   struct pktio_pkt *pkts, unsigned n, struct pktio_pkt *out);

/*
 * pe_worker_process() by the snapshot in force, inside the worker's own
 * read-side section (the outputs point into pkts and the copy room, not
 * into the snapshot). The worker's thread only.
 */
unsigned pe_worker_steer(struct pe_worker *w, struct pktio_pkt *pkts, unsigned n,
			 struct pktio_pkt *out);

/* One burst from the back end: receive, steer, transmit. Returns frames received. */
int pe_worker_run_once(struct pe_worker *w);

/* The worker thread (pthread start routine, arg: struct pe_worker). */
void *pe_worker_main(void *arg);

/* A counter's value (any thread; may lag by a burst). */
uint64_t pe_worker_ctr(const struct pe_worker *w, unsigned c);

#endif
