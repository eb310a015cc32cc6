/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* loom-provisioner's configuration (docs/provisioner.md lists every key). */
#ifndef LOOM_PROV_CONFIG_H
#define LOOM_PROV_CONFIG_H

#include <stdint.h>

#include "common/cfg.h"

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
};

extern const struct cfg_schema prov_config_schema;

#endif
