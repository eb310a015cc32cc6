/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The agent's channels to its service managers (control thread only).
 *
 * One ZeroMQ DEALER per configured manager (the manager binds a ROUTER).
 * TCP endpoints use CurveZMQ: the agent knows the manager's public key and
 * has its own key pair; ipc:// endpoints rely on file permissions.
 *
 * On every (re)connection the agent says hello (its role, capabilities,
 * instance and generation) so the manager re-sends its wildcards. Affinity
 * updates go to fwd_aff; an update-deny goes back when an action is
 * missing; a packet returned with a fixed affinity, or in an IP-packet-only
 * message, is handed to the data path through the `deliver` callback.
 * Interest matches (punts and notifications) go out through fwd_mgr_punt(),
 * rate limited per manager with a token bucket; what the bucket refuses is
 * counted, never queued without bound.
 */
#ifndef LOOM_FWD_MGR_H
#define LOOM_FWD_MGR_H

#include <stdbool.h>
#include <stdint.h>

#include "common/ev.h"
#include "common/key.h"
#include "common/msg.h"
#include "fwd_aff.h"

#define FWD_MAX_MANAGERS 16
#define FWD_KEY_Z85_LEN 40

struct fwd_mgr_cfg {
	char endpoint[256];
	char server_key[FWD_KEY_Z85_LEN + 1]; /* manager's CurveZMQ public key (tcp) */
	uint32_t punt_rate;                   /* interest matches per second */
	uint32_t punt_burst;
	uint8_t auth_key[32];                 /* HMAC key of the security segment */
	uint8_t auth_key_len;                 /* 0: no message authentication */
};

struct fwd_mgrs_cfg {
	unsigned n;
	struct fwd_mgr_cfg mgr[FWD_MAX_MANAGERS];
	char public_key[FWD_KEY_Z85_LEN + 1]; /* the agent's CurveZMQ key pair (tcp) */
	char secret_key[FWD_KEY_Z85_LEN + 1];
	uint64_t instance;                    /* sent in hello */
	uint64_t generation;
	struct msg_identity identity;         /* address and name; host name by default */
	uint32_t heartbeat_ms;
};

/* Counters per manager. */
#define FWD_MGR_CTR_LIST(X)                                           \
	X(FWD_MGR_RX, "messages received")                            \
	X(FWD_MGR_RX_BAD, "messages refused (decode, version, auth)") \
	X(FWD_MGR_TX, "messages sent")                                \
	X(FWD_MGR_TX_FAIL, "messages not sent (queue full)")          \
	X(FWD_MGR_PUNTS, "interest matches sent")                     \
	X(FWD_MGR_PUNTS_LIMITED, "interest matches over the rate limit") \
	X(FWD_MGR_DENIES, "update-deny sent")                         \
	X(FWD_MGR_RETURNED, "packets returned by the manager")        \
	X(FWD_MGR_HELLOS, "hellos sent")                              \
	X(FWD_MGR__COUNT, "")

enum fwd_mgr_ctr { FWD_MGR_CTR_LIST(LOOM_XENUM) };
const char *fwd_mgr_ctr_str(enum fwd_mgr_ctr c);

/* A packet the manager handed back, to be sent after the affinity's actions. */
typedef void fwd_deliver_fn(void *arg, uint16_t owner, const uint8_t *ip, uint32_t len,
			    int64_t rank_done);

struct fwd_mgrs;

int fwd_mgrs_open(struct ev_loop *loop, void *zctx, const struct fwd_mgrs_cfg *cfg,
		  struct fwd_aff *aff, uint64_t caps, fwd_deliver_fn *deliver, void *arg,
		  struct fwd_mgrs **out);
void fwd_mgrs_close(struct fwd_mgrs *m);

/* An interest match for manager `owner` (control thread). */
struct fwd_punt {
	uint16_t owner;
	bool fixed;                /* matched a fixed affinity (else a wildcard) */
	struct flow_key key;       /* of the affinity that matched */
	uint8_t smask[16], dmask[16]; /* a wildcard's masks */
	bool dispatch, info;
	uint16_t reasons;          /* MSG_INT_* bits that caused the match */
	uint8_t mgr_len;
	uint8_t mgr_data[AFF_MAX_MGR_DATA];
	const uint8_t *packet;     /* IP packet, NULL for a notification without data */
	uint32_t packet_len;
};

/* Returns 0, -EAGAIN if the rate limit refused it, -errno otherwise. */
int fwd_mgr_punt(struct fwd_mgrs *m, const struct fwd_punt *p, uint64_t now_ms);

uint64_t fwd_mgr_counter(const struct fwd_mgrs *m, unsigned mgr, enum fwd_mgr_ctr c);
bool fwd_mgr_connected(const struct fwd_mgrs *m, unsigned mgr);

/*
 * True once every manager has sent at least one heartbeat (any thread).
 * Messages are handled in order, so everything a manager sent before its
 * first heartbeat has been applied and published by then; pcap-sync runs
 * wait for it before reading their input.
 */
bool fwd_mgrs_ready(struct fwd_mgrs *m);

#endif
