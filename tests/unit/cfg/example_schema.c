// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The example schema. A daemon's schema reads like this: one table per
 * struct, rows in the order the canonical dump should list them, defaults
 * written the way a user would write them, cross-field rules in verify.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "example_schema.h"

const char *const ex_log_levels[] = { "err", "warn", "notice", "info", "debug", NULL };

static const char z85_alphabet[] =
	"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

/* A custom scalar: a CurveZMQ public key in Z85 (40 characters). */
static int parse_curve_key(const struct cfg_field *f, const char *s, size_t len, void *field,
			   char *why, size_t whylen)
{
	(void)f;
	if (len != 40 || strspn(s, z85_alphabet) != 40) {
		snprintf(why, whylen, "expected a CurveZMQ public key (40 Z85 characters), got %zu "
			 "characters%s", len, len == 40 ? " with some outside Z85" : "");
		return -EINVAL;
	}
	memcpy(field, s, 40);
	((char *)field)[40] = '\0';
	return 0;
}

static void dump_curve_key(const struct cfg_field *f, const void *field, char *buf, size_t len)
{
	(void)f;
	snprintf(buf, len, "%.40s", (const char *)field);
}

static void verify_limits(struct cfg_verify *v, const void *obj)
{
	const struct ex_limits *l = obj;

	if (l->punt_burst < l->punt_rate)
		cfg_verify_error(v, "punt-burst", "must be at least punt-rate (%u)", l->punt_rate);
}

/* A rule on the map as a whole: NULL (or "") puts the error at the map. */
static void verify_tables(struct cfg_verify *v, const void *obj)
{
	const struct ex_tables *t = obj;

	if (t->shm_size < t->affinity_entries)
		cfg_verify_error(v, NULL, "shm-size must be at least one byte per affinity entry (%u)",
				 t->affinity_entries);
}

static void verify_config(struct cfg_verify *v, const void *obj)
{
	const struct ex_config *c = obj;

	if (c->host_mode && c->n_interfaces == 0)
		cfg_verify_error(v, "", "host-mode needs at least one interface");

	for (unsigned i = 0; i < c->n_managers; i++) {
		for (unsigned j = 0; j < i; j++) {
			if (strcmp(c->managers[i].endpoint, c->managers[j].endpoint))
				continue;
			char where[48];
			snprintf(where, sizeof(where), "managers[%u].endpoint", i);
			cfg_verify_error(v, where, "same endpoint as managers[%u]", j);
		}
	}
}

static const struct cfg_field manager_rows[] = {
	{ .key = "endpoint", .type = CFG_ENDPOINT, CFG_AT(struct ex_manager, endpoint),
	  .required = true },
	{ .key = "public-key", .type = CFG_CUSTOM, CFG_AT(struct ex_manager, public_key),
	  .required = true, .parse = parse_curve_key, .dump = dump_curve_key },
	{ .key = "weight", .type = CFG_UINT, CFG_AT(struct ex_manager, weight), .def = "100",
	  .min = 1, .max = 1000 },
};
static const struct cfg_schema manager_schema =
	CFG_SCHEMA("manager", struct ex_manager, manager_rows, NULL);

static const struct cfg_field tables_rows[] = {
	{ .key = "affinity-entries", .type = CFG_UINT,
	  CFG_AT(struct ex_tables, affinity_entries), .def = "65536", .min = 1024,
	  .max = 16777216 },
	{ .key = "shm-size", .type = CFG_SIZE, CFG_AT(struct ex_tables, shm_size), .def = "64M",
	  .min = 1 << 20, .max = 1ull << 36 },
};
static const struct cfg_schema tables_schema =
	CFG_SCHEMA("tables", struct ex_tables, tables_rows, verify_tables);

static const struct cfg_field limits_rows[] = {
	{ .key = "punt-rate", .type = CFG_UINT, CFG_AT(struct ex_limits, punt_rate),
	  .def = "1000", .min = 1 },
	{ .key = "punt-burst", .type = CFG_UINT, CFG_AT(struct ex_limits, punt_burst),
	  .def = "2000", .min = 1 },
	{ .key = "idle-timeout", .type = CFG_DURATION,
	  CFG_AT(struct ex_limits, idle_timeout_ms), .def = "5m", .min = 1000,
	  .max = 86400000 },
};
static const struct cfg_schema limits_schema =
	CFG_SCHEMA("limits", struct ex_limits, limits_rows, verify_limits);

/* List elements: the offset is ignored, the size is one element's. */
static const struct cfg_field interface_elem = {
	.key = "interface", .type = CFG_STRING, .size = 16, .min = 1,
};
static const struct cfg_field advertise_elem = {
	.key = "prefix", .type = CFG_PREFIX, .size = sizeof(struct cfg_prefix),
};

static const struct cfg_field config_rows[] = {
	{ .key = "instance", .type = CFG_STRING, CFG_AT(struct ex_config, instance),
	  .required = true, .min = 1 },
	{ .key = "log-level", .type = CFG_ENUM, CFG_AT(struct ex_config, log_level),
	  .names = ex_log_levels, .def = "notice" },
	{ .key = "host-mode", .type = CFG_BOOL, CFG_AT(struct ex_config, host_mode),
	  .def = "false" },
	{ .key = "workers", .type = CFG_UINT, CFG_AT(struct ex_config, workers), .def = "2",
	  .min = 1, .max = 64 },
	{ .key = "nice", .type = CFG_INT, CFG_AT(struct ex_config, nice), .def = "0",
	  .smin = -20, .smax = 19 },
	{ .key = "router-id", .type = CFG_ADDR, CFG_AT(struct ex_config, router_id),
	  .def = "0.0.0.0" },
	{ .key = "interfaces", .type = CFG_LIST, CFG_AT(struct ex_config, interfaces),
	  CFG_COUNT(struct ex_config, n_interfaces), .elem = &interface_elem },
	{ .key = "advertise", .type = CFG_LIST, CFG_AT(struct ex_config, advertise),
	  CFG_COUNT(struct ex_config, n_advertise), .elem = &advertise_elem },
	{ .key = "managers", .type = CFG_LIST_MAP, CFG_AT(struct ex_config, managers),
	  CFG_COUNT(struct ex_config, n_managers), .sub = &manager_schema, .required = true },
	{ .key = "control", .type = CFG_ENDPOINT, CFG_AT(struct ex_config, control),
	  .def = "ipc:///run/loom/agent.sock" },
	{ .key = "tables", .type = CFG_MAP, CFG_AT(struct ex_config, tables),
	  .sub = &tables_schema },
	{ .key = "limits", .type = CFG_MAP, CFG_AT(struct ex_config, limits),
	  .sub = &limits_schema },
	{ .key = "heartbeat", .type = CFG_DURATION, CFG_AT(struct ex_config, heartbeat_ms),
	  .def = "1s", .min = 100, .max = 60000 },
	{ .key = "description", .type = CFG_STRING, CFG_AT(struct ex_config, description),
	  .def = "" },
};

const struct cfg_schema ex_config_schema =
	CFG_SCHEMA("agent", struct ex_config, config_rows, verify_config);
