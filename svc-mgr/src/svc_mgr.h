/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * loom-svc-mgr's state and the interfaces between its parts.
 *
 *   svc_model.c   services and backends: built from the configuration (one
 *                 internal model; the provisioner will feed the same one),
 *                 health checkers, schedulers, NAT pools, reload by diff
 *   svc_core.c    the decisions: wildcards for every service, the first
 *                 packet, answers from the flow table, interest matches,
 *                 update-deny, the expiry sweep, restart recovery
 *   svc_agents.c  the agents: ROUTER sockets, hello/heartbeat, envelope
 *                 checks, CurveZMQ admission (ZAP), sending
 *   svc_daemon.c  set-up, privileges, signals, the loop
 *
 * The core never touches a socket: it hands every message to mgr->send, so
 * the benchmark and the tests can run it without ZeroMQ.
 */
#ifndef LOOM_SVC_MGR_H
#define LOOM_SVC_MGR_H

#include <stdbool.h>
#include <stdint.h>

#include "common/compiler.h"
#include "common/ev.h"
#include "common/flow.h"
#include "common/msg.h"
#include "svc_config.h"
#include "svc_flow.h"
#include "svc_health.h"
#include "svc_lb.h"
#include "svc_natpool.h"

#define SVC_MAX_AGENTS 64

/* Manager interest data on every affinity we send: service id, direction. */
#define SVC_MGRDATA_LEN 6
#define SVC_MGRDATA_MAGIC 0x4c /* 'L' */

/* Counters of the whole manager (X-macro: enum + names). */
#define SVC_CTR_LIST(X)                                                          \
	X(SVC_C_PUNTS, "punts")                 /* first packets and re-asks received */ \
	X(SVC_C_DECIDED, "decided")             /* new flows decided here */             \
	X(SVC_C_ANSWERED, "answered")           /* punts answered from the flow table */ \
	X(SVC_C_OBSERVED, "observed")           /* cascaded: seen and passed on */       \
	X(SVC_C_PASSED, "passed")               /* returned unchanged (no flow) */       \
	X(SVC_C_NO_BACKEND, "no-backend")       /* dropped: nothing up */                \
	X(SVC_C_NOT_SYN, "not-syn")             /* dropped: TCP without SYN, no flow */  \
	X(SVC_C_TABLE_FULL, "table-full")       /* dropped: flow table full */           \
	X(SVC_C_COLLISION, "collision")         /* dropped: a key of the new flow is taken */ \
	X(SVC_C_EVICTED, "evicted")             /* half-open flows dropped for room */   \
	X(SVC_C_POOL_FULL, "pool-full")         /* dropped: NAT pool exhausted */        \
	X(SVC_C_NO_MAPPING, "no-mapping")       /* dropped: inbound to no NAT mapping */ \
	X(SVC_C_BAD_PUNT, "bad-punt")           /* unparsable packet or interest data */ \
	X(SVC_C_UNKNOWN_SVC, "unknown-service") /* interest data names no service */     \
	X(SVC_C_INTEREST, "interest")           /* interest matches on fixed affinities */ \
	X(SVC_C_INTEREST_NOFLOW, "interest-no-flow")                                     \
	X(SVC_C_REOPENED, "reopened")           /* a SYN on a closing flow: port reused */ \
	X(SVC_C_DENIED, "denied")               /* update-deny received */               \
	X(SVC_C_RETRIED, "retried")             /* updates re-sent without an action */  \
	X(SVC_C_EXPIRED, "expired")             /* flows timed out */                    \
	X(SVC_C_CLOSED, "closed")               /* flows ended by FIN/RST + sticky */    \
	X(SVC_C_WITHDRAWN, "withdrawn")         /* TTL 0 sent for fixed affinities */    \
	X(SVC_C_WILDCARDS_SENT, "wildcards-sent")                                        \
	X(SVC_C_FIXED_SENT, "fixed-sent")                                                \
	X(SVC_C_TX_FAIL, "tx-fail")                                                      \
	X(SVC_C_RX_BAD, "rx-bad")               /* refused by the codec or auth */       \
	X(SVC_C_RX_UNEXPECTED, "rx-unexpected") /* a message type agents do not send */  \
	X(SVC_C_HELLOS, "hellos")                                                        \
	X(SVC_C_AGENTS_LOST, "agents-lost")                                              \
	X(SVC_C_ERRORS_RX, "errors-received")                                            \
	X(SVC_C_DIRECT_HANDED, "direct-handed") /* reply translations given to host agents */ \
	X(SVC_C_DIRECT_TAKEN, "direct-taken")   /* ... taken back (service changed) */     \
	X(SVC_C_DIRECT_FALLBACK, "direct-fallback") /* ... lost with their host agent */ \
	X(SVC_C_STANDBY_DROPPED, "standby-dropped") /* new flows a standby did not decide */ \
	X(SVC_C_TAKEOVERS, "takeovers")         /* standby became active */

enum svc_ctr { SVC_CTR_LIST(LOOM_XENUM) SVC_C__COUNT };
const char *svc_ctr_str(enum svc_ctr c);

struct svc_service;

struct svc_backend {
	uint32_t id;             /* hash of address and port: stable across restarts */
	uint8_t addr[16];
	uint16_t port;           /* host order; the service's port when configured 0 */
	uint32_t weight;         /* 0: drained */
	uint64_t host_agent;     /* instance hash of the agent on its host, 0: none */
	bool up;                 /* health verdict (true without checks) */
	bool removed;            /* gone from the configuration: drained until its last flow ends */
	struct svc_hc *hc;
	struct hc_ref *hc_ref;   /* the checker's callback argument */
	struct svc_service *svc;
	uint64_t decided;        /* new flows sent here */
};

/* A wildcard as sent, to withdraw exactly what went out. */
struct svc_wc {
	struct msg_wildcard w;
	uint8_t dir;             /* enum flow_dir */
	uint8_t prec_lower;      /* the precedence it was sent with */
	uint32_t prec, backup;
};
#define SVC_MAX_WC (SVC_MAX_PREFIXES * (SVC_MAX_BACKENDS + 1))

struct svc_service {
	uint32_t id;             /* hash of name, type, protocol, address, port */
	struct svc_mgr *mgr;
	struct svc_service_cfg cfg;
	uint8_t proto;           /* 0: any */
	bool v4;
	bool active;             /* still configured (false: being withdrawn) */
	struct svc_backend backends[SVC_MAX_BACKENDS];
	unsigned nb;
	struct svc_lb *lb;
	struct svc_lb_persist *persist;
	struct svc_natpool *pool;
	struct svc_wc *wc;       /* the wildcards last sent */
	unsigned nwc;
	bool withdrawn;          /* inactive and its wildcards withdrawn */
	uint64_t decided, answered, dropped, active_flows;
};

struct svc_agent {
	bool live;
	bool stale;              /* forgotten for silence; its next message revives it */
	uint64_t id;             /* instance and identity hashed: what flows remember */
	uint8_t rid[64];         /* ROUTER routing id */
	uint8_t rid_len;
	uint8_t sock;            /* which listening socket */
	uint64_t instance, generation;
	uint64_t caps;           /* from hello */
	uint64_t no_caps;        /* actions it denied since */
	struct msg_identity identity;
	uint64_t last_heard_ms;
	uint64_t rx, tx, punts;
};

struct svc_mgr;
typedef int svc_send_fn(struct svc_mgr *m, struct svc_agent *a, struct msg *msg);

struct svc_mgr {
	const struct svc_config *cfg;
	struct ev_loop *loop;    /* NULL in the benchmark: no health checks, no timers */
	uint64_t instance;       /* hash of the instance name: owner of our flows */
	uint64_t generation;
	struct svc_flows *flows;
	struct svc_service *svcs[SVC_MAX_SERVICES * 2]; /* active, then being withdrawn */
	unsigned nsvcs;
	struct svc_agent agents[SVC_MAX_AGENTS];
	svc_send_fn *send;
	void *send_arg;
	uint32_t sweep_pos;
	uint32_t evict_pos;      /* where the next eviction sample starts */
	uint64_t ctr[SVC_C__COUNT];
	struct msg out;          /* big: kept here, not on the stack */

	/* hot standby (svc_ha.c): with replication configured, a standby
	 * decides nothing, expires nothing and announces its wildcards at a
	 * worse backup precedence; every takeover raises the epoch, and the
	 * new active's wildcards win over those its predecessor left */
	bool ha;                 /* replication configured */
	bool standby;
	uint32_t epoch;
};

/* ---- svc_model.c ---- */

/* Build the services of cfg (health checks start if m->loop). */
int svc_model_load(struct svc_mgr *m, const struct svc_config *cfg);
/* Apply a new configuration's services: add, change in place, withdraw. */
int svc_model_reload(struct svc_mgr *m, const struct svc_config *cfg);
void svc_model_free(struct svc_mgr *m);
/* Free withdrawn services that have no flow left. */
void svc_model_gc(struct svc_mgr *m);
/* Recovery: a flow's backend that left the configuration drains again. */
int svc_model_restore_backend(struct svc_service *s, uint32_t id, const uint8_t addr[16],
			      uint16_t port);
/* Drop removed backends without connections; true if any went. */
bool svc_model_prune(struct svc_mgr *m);
struct svc_service *svc_model_find(struct svc_mgr *m, uint32_t id);
struct svc_backend *svc_model_backend(struct svc_service *s, uint32_t id);
uint32_t svc_backend_id(const uint8_t addr[16], uint16_t port);

/* ---- svc_core.c ---- */

int svc_core_init(struct svc_mgr *m);
/* Rebuild connection counts, NAT mappings and persistence from the table. */
void svc_core_recover(struct svc_mgr *m);
/* A message an agent sent (already decoded and authenticated). */
void svc_core_on_msg(struct svc_mgr *m, struct svc_agent *a, const struct msg *in);
/* Send every wildcard (all services) to one agent, or to all if a is NULL. */
void svc_core_wildcards(struct svc_mgr *m, struct svc_agent *a);
/* Withdraw the wildcards of services no longer configured, then drop them. */
void svc_core_withdraw(struct svc_mgr *m);

/*
 * Direct return (seed 002): bring every flow's reply translation in line
 * with its service's direct-return setting and its host agent's presence:
 * hand it to a live host agent that should have it, take it back from one
 * that should not, and forget it where the host agent is gone (its replies
 * then take the normal way, through the ingress agent). Walks the whole
 * flow table: call it after a reload and when a host agent comes or goes.
 */
void svc_core_direct_refresh(struct svc_mgr *m);

/* The agent went silent (svc_agents.c): a host agent's flows fall back. */
void svc_core_agent_lost(struct svc_mgr *m, struct svc_agent *a);

/*
 * A standby became active (m->standby already false): count the flows it
 * holds (connections, NAT mappings, persistence), restart their timers from
 * now, and announce its wildcards at the active's precedence.
 */
void svc_core_takeover(struct svc_mgr *m);

/* The backup precedence service s announces now (its configured one, moved
 * by the manager's hot-standby role and epoch). */
uint32_t svc_core_backup(const struct svc_service *s);
/* One slice of the expiry sweep. */
void svc_core_sweep(struct svc_mgr *m, uint64_t now_ms);
/* A backend changed state (health, weight): schedulers follow. */
void svc_core_backend_changed(struct svc_mgr *m, struct svc_backend *b);

/* ---- svc_publish.c ---- */

struct shm_snap;
struct shm_perm;
/* Create or take over loom.<instance>.services (common/services.h). */
int svc_publish_open(struct svc_mgr *m, const struct shm_perm *perm, struct shm_snap **out);
/* Publish the model as it is now. */
int svc_publish(struct svc_mgr *m, struct shm_snap *snap);

/* ---- svc_agents.c ---- */

struct svc_agents;
int svc_agents_open(struct svc_mgr *m, void *zctx, struct svc_agents **out);
/* The context's ZAP handler if the agents' channel opened one (agent-keys),
 * for the other CurveZMQ sockets of the context; NULL otherwise. */
struct zap *svc_agents_zap(const struct svc_agents *ag);
void svc_agents_close(struct svc_agents *ag);
/* Heartbeats out, silent agents forgotten. */
void svc_agents_tick(struct svc_agents *ag, uint64_t now_ms);
unsigned svc_agents_live(const struct svc_mgr *m);

#endif
