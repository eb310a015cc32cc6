/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * An agent-like configuration: the example schema the cfg tests and the
 * fuzzer load, and the model docs/config.md points to for daemon schemas.
 */
#ifndef LOOM_TESTS_CFG_EXAMPLE_SCHEMA_H
#define LOOM_TESTS_CFG_EXAMPLE_SCHEMA_H

#include <stdbool.h>
#include <stdint.h>

#include "common/cfg.h"

#define EX_MAX_INTERFACES 8
#define EX_MAX_ADVERTISE 4
#define EX_MAX_MANAGERS 4

struct ex_manager {
	char endpoint[128];
	char public_key[41]; /* CurveZMQ Z85, 40 characters */
	uint16_t weight;
};

struct ex_tables {
	uint32_t affinity_entries;
	uint64_t shm_size; /* bytes */
};

struct ex_limits {
	uint32_t punt_rate;  /* packets per second per manager */
	uint32_t punt_burst;
	uint64_t idle_timeout_ms;
};

struct ex_config {
	char instance[32];
	unsigned log_level; /* index into ex_log_levels */
	bool host_mode;
	uint8_t workers;
	int32_t nice;
	uint8_t router_id[16];
	char interfaces[EX_MAX_INTERFACES][16];
	unsigned n_interfaces;
	struct cfg_prefix advertise[EX_MAX_ADVERTISE];
	unsigned n_advertise;
	struct ex_manager managers[EX_MAX_MANAGERS];
	unsigned n_managers;
	char control[108]; /* endpoint */
	struct ex_tables tables;
	struct ex_limits limits;
	uint64_t heartbeat_ms;
	char description[1024]; /* free text, longer than any formatting buffer */
};

extern const struct cfg_schema ex_config_schema;
extern const char *const ex_log_levels[];

#endif
