/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * loom-fwd-agent's configuration file (YAML, see docs/fwd-agent.md and the
 * example deploy/fwd-agent.yaml, which the tests load).
 */
#ifndef LOOM_FWD_CONFIG_H
#define LOOM_FWD_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "common/cfg.h"
#include "fwd_mgr.h"

#define FWD_MAX_INTERFACES 16
#define FWD_PATH_MAX 256

enum fwd_backend { FWD_IO_AFPACKET, FWD_IO_PCAP, FWD_IO_AFXDP };
enum fwd_pace { FWD_PACE_FAST, FWD_PACE_REAL };
enum fwd_mode { FWD_MODE_ROUTER, FWD_MODE_HOST };

struct fwd_iface_cfg {
	char name[16];
	uint8_t mac[6];              /* pcap: the port's own MAC (afpacket: read from the kernel) */
	char pcap_in[FWD_PATH_MAX];
	char pcap_out[FWD_PATH_MAX];
	bool csum_partial;           /* pcap: present input as checksum-partial */
	/* pcap: the port's own addresses, the source of the ICMP errors it
	 * sends (0.0.0.0 / ::: none), and its MTU (0: not checked); afpacket
	 * and af_xdp take them from the kernel */
	uint8_t address[16];
	uint8_t address6[16];
	uint32_t mtu;
};

/* pcap back end: the routes the kernel would give (afpacket mirrors them). */
struct fwd_route_cfg {
	struct cfg_prefix prefix;
	char interface[16];
	uint8_t mac[6];              /* the next hop's MAC */
};

#define FWD_MAX_ROUTES 64

struct fwd_manager_cfg {
	char endpoint[256];
	/* how replication peers name this manager: the same on every agent
	 * ("" : its server-key, else its endpoint; fwd_config_manager_id()) */
	char peer_id[64];
	char server_key[FWD_KEY_Z85_LEN + 1];
	struct cfg_hexkey auth;      /* HMAC key of the security segment */
	uint32_t punt_rate;
	uint32_t punt_burst;
};

/* Peer mode (docs/fwd-agent.md "Peer mode"): the agents that may take over
 * each other's traffic share their fixed affinities (common/repl.h). */
#define FWD_MAX_PEERS 16

struct fwd_peer_cfg {
	char instance[32];           /* the peer's `instance` */
	char endpoint[128];          /* its replication.listen */
	char public_key[FWD_KEY_Z85_LEN + 1]; /* its CurveZMQ public key (tcp) */
};

struct fwd_repl_cfg {
	char listen[128];            /* "" : peer mode off */
	uint32_t group;
	struct fwd_peer_cfg peers[FWD_MAX_PEERS];
	unsigned n_peers;
	struct cfg_hexkey auth;      /* optional shared HMAC key */
	uint64_t heartbeat_ms;
	uint64_t dead_ms;
	uint64_t grace_ms;           /* keep a lost peer's copies this long (0: purge at once) */
	uint64_t batch_ms;
};

struct fwd_config {
	char instance[32];
	unsigned log_level;          /* enum log_level */
	char host_name[64];
	uint8_t address[16];         /* identity address sent to managers */

	unsigned backend;            /* enum fwd_backend */
	uint16_t workers;            /* 0: one per core */
	uint32_t ring_frames;
	uint16_t fanout_id;
	unsigned pcap_pace;          /* enum fwd_pace */
	uint32_t pcap_loop;
	bool pcap_sync;              /* deliver the next input packet only when no punt is open */

	struct fwd_iface_cfg interfaces[FWD_MAX_INTERFACES];
	unsigned n_interfaces;

	struct fwd_manager_cfg managers[FWD_MAX_MANAGERS];
	unsigned n_managers;
	char public_key[FWD_KEY_Z85_LEN + 1];
	char secret_key_file[FWD_PATH_MAX];

	struct fwd_route_cfg routes[FWD_MAX_ROUTES];
	unsigned n_routes;
	char user[32];               /* drop to this user after set-up ("" : stay) */
	char stats_file[FWD_PATH_MAX]; /* counters written here at exit ("" : none) */
	char metrics[64];            /* Prometheus endpoint, "host:port" ("": none) */
	bool exit_on_eof;            /* pcap: stop once the input is done and quiet */
	bool ingress_filter;         /* afpacket: keep the kernel off transit packets */

	uint32_t fixed_affinities;
	bool huge_pages;             /* the tables on 2 MB pages (shm_seg_collapse) */
	uint16_t reader_slots;
	char shm_group[32];          /* "" : owner only (0600) */

	uint64_t heartbeat_ms;
	uint64_t sweep_ms;
	uint32_t sweep_buckets;
	uint64_t hold_ms;            /* how long a held first packet waits */
	uint32_t busy_poll_us;       /* workers poll this long before sleeping */

	bool act_nat, act_seq, act_interest, act_advertise;

	unsigned mode;               /* enum fwd_mode */
	uint8_t direct_via[16];      /* host mode: next hop of translated replies ("::": routed) */

	struct fwd_repl_cfg repl;
};

extern const struct cfg_schema fwd_config_schema;

/* The capability set (MSG_CAP bits) this configuration lets the agent announce. */
uint64_t fwd_config_caps(const struct fwd_config *c);

/* The identity of manager i that replication carries (nonzero): a hash of
 * its peer-id, else of its server-key, else of its endpoint. */
uint64_t fwd_config_manager_id(const struct fwd_config *c, unsigned i);

#endif
