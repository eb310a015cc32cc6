/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * loom-svc-mgr's configuration file (YAML, docs/svc-mgr.md, example
 * deploy/svc-mgr.yaml which the tests load).
 *
 * The services in it are turned into the manager's one internal model
 * (svc_model.h) by svc_model_from_config(); the provisioner will build the
 * same model from what it pushes.
 */
#ifndef LOOM_SVC_CONFIG_H
#define LOOM_SVC_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "common/cfg.h"
#include "common/provchan.h"

#define SVC_MAX_SERVICES 64
#define SVC_MAX_BACKENDS 64
#define SVC_MAX_PREFIXES 16
#define SVC_MAX_LISTEN 4
#define SVC_MAX_AGENT_KEYS 64
#define SVC_PATH_MAX 256

enum svc_type { SVC_TYPE_LB, SVC_TYPE_NAT, SVC_TYPE_OBSERVE };
enum svc_proto_cfg { SVC_P_TCP, SVC_P_UDP, SVC_P_ICMP, SVC_P_ANY };

/* When a backend's host agent translates the replies itself (seed 002). */
enum svc_direct {
	SVC_DIRECT_NEVER,        /* replies always through the ingress agent */
	SVC_DIRECT_ALWAYS,       /* from the first packet on */
	SVC_DIRECT_ESTABLISHED,  /* once the server has answered the handshake */
	SVC_DIRECT_BYTES,        /* once the replies carried direct-return-bytes */
};

struct svc_backend_cfg {
	uint8_t address[16];
	uint16_t port;               /* 0: the service's port */
	uint32_t weight;             /* 0: drained */
	char host_agent[32];         /* instance of the agent on its host ("": none) */
};

struct svc_health_cfg {
	unsigned type;               /* enum svc_hc_type: none, tcp, http */
	uint64_t interval_ms;
	uint64_t timeout_ms;
	uint8_t rise, fall;
	char path[128];
	char host[128];
	uint16_t expect;
	bool init_up;
};

struct svc_service_cfg {
	char name[32];
	unsigned type;               /* enum svc_type */
	unsigned proto;              /* enum svc_proto_cfg */
	uint8_t address[16];         /* lb, observe: the virtual address */
	uint16_t port;               /* 0: every port */
	unsigned algorithm;          /* enum svc_lb_alg */
	unsigned maglev_hash;        /* enum svc_lb_hash */
	uint64_t persistence_ms;     /* 0: none */
	struct cfg_prefix clients[SVC_MAX_PREFIXES]; /* client domain (nat: the inside) */
	unsigned n_clients;
	uint32_t precedence;
	unsigned precedence_order;   /* 0 higher is better, 1 lower */
	uint32_t backup_precedence;
	bool track;                  /* ask agents for FIN/RST interest matches */
	struct svc_health_cfg health;
	struct svc_backend_cfg backends[SVC_MAX_BACKENDS];
	unsigned n_backends;
	struct cfg_prefix pool[SVC_MAX_PREFIXES]; /* nat: outside addresses */
	unsigned n_pool;
	uint16_t port_min, port_max; /* nat: outside ports */
	unsigned direct_return;      /* enum svc_direct */
	uint64_t direct_bytes;       /* SVC_DIRECT_BYTES: the threshold */
};

/* Hot standby (ARCHITECTURE.md section 5): the other managers of the group. */
#define SVC_MAX_PEERS 4

enum svc_ha_role { SVC_HA_ACTIVE, SVC_HA_STANDBY };

struct svc_peer_cfg {
	char instance[32];           /* its `instance` */
	char endpoint[128];          /* its replication endpoint */
	char public_key[CFG_Z85_LEN + 1]; /* its CurveZMQ key (tcp://) */
};

struct svc_repl_cfg {
	char group[32];              /* "" : no replication */
	unsigned role;               /* enum svc_ha_role: preferred at start */
	char listen[128];
	struct svc_peer_cfg peers[SVC_MAX_PEERS];
	unsigned n_peers;
	uint64_t heartbeat_ms;
	uint64_t dead_ms;
};

struct svc_agent_key_cfg {
	char key[CFG_Z85_LEN + 1];
};

struct svc_config {
	char instance[32];
	unsigned log_level;          /* enum log_level */
	char host_name[64];
	uint8_t address[16];
	char listen[SVC_MAX_LISTEN][256];
	unsigned n_listen;
	char public_key[CFG_Z85_LEN + 1];   /* CurveZMQ server key pair (tcp) */
	char secret_key_file[SVC_PATH_MAX];
	char agent_keys[SVC_MAX_AGENT_KEYS][CFG_Z85_LEN + 1]; /* admitted agents (tcp) */
	unsigned n_agent_keys;
	struct cfg_hexkey auth;      /* HMAC security segment on every message */

	uint32_t flows;              /* flow table capacity, in flows */
	uint16_t reader_slots;
	char shm_group[32];
	uint64_t wildcard_ttl_ms;
	uint64_t fixed_ttl_ms;
	uint64_t sticky_ms;
	uint64_t tcp_timeout_ms, tcp_new_timeout_ms, udp_timeout_ms, icmp_timeout_ms;
	uint64_t heartbeat_ms;
	uint64_t agent_timeout_ms;
	uint64_t sweep_ms;
	uint32_t sweep_buckets;
	uint64_t hash_seed;
	char user[32];
	char stats_file[SVC_PATH_MAX];
	char metrics[64];            /* Prometheus endpoint, "host:port" ("": none) */

	struct svc_service_cfg services[SVC_MAX_SERVICES];
	unsigned n_services;

	struct svc_repl_cfg repl;
	struct provchan_cfg prov;    /* `provisioning:`, see svc_prov.c */
};

extern const struct cfg_schema svc_config_schema;
/* A provisioner's push: only `services:`, loaded into a struct svc_config. */
extern const struct cfg_schema svc_push_schema;

/* The protocol number of a service (0 = any). */
uint8_t svc_proto_number(unsigned proto_cfg, bool v6);

#endif
