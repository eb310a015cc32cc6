/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* loom-provisioner's configuration (docs/provisioner.md lists every key). */
#ifndef LOOM_PROV_CONFIG_H
#define LOOM_PROV_CONFIG_H

#include <stdint.h>

#include "common/cfg.h"

#define PROV_MAX_TARGETS 64
#define PROV_MAX_STATS 16

/* A daemon on this host whose shared-memory tables GET /statistics reads. */
struct prov_stats_cfg {
	unsigned kind;                 /* enum prov_target */
	char instance[32];             /* its instance: loom.<instance>.* */
};

/* A daemon the definitions are pushed to (its `provisioning:` block). */
struct prov_target_cfg {
	char name[64];                 /* unique; keys its acknowledged version */
	unsigned kind;                 /* enum prov_target */
	char endpoint[128];            /* its provisioning.listen */
	char public_key[CFG_Z85_LEN + 1]; /* tcp: its CurveZMQ public key */
};

struct prov_config {
	unsigned log_level;            /* enum log_level */
	char user[32];                 /* to switch to after binding; "" stays */
	uint8_t listen_address[16];    /* IPv4-mapped or IPv6 */
	uint16_t port;
	char database[256];
	uint32_t request_limit;        /* bytes of a request body; more is 413 */
	uint64_t token_lifetime_ms;
	uint32_t max_connections;
	char admin_user[64];           /* made provider-admin on first start */
	char admin_password_file[256]; /* its password; "" makes no admin */
	char public_key[CFG_Z85_LEN + 1]; /* CurveZMQ key pair for tcp:// targets */
	char secret_key_file[256];
	uint64_t push_retry_ms;        /* resend and query period */
	struct prov_target_cfg targets[PROV_MAX_TARGETS];
	unsigned n_targets;
	struct prov_stats_cfg statistics[PROV_MAX_STATS];
	unsigned n_statistics;
};

extern const struct cfg_schema prov_config_schema;

#endif
