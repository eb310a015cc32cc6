// SPDX-License-Identifier: LGPL-2.1-or-later
#include <stdio.h>
#include <string.h>

#include "prov_config.h"
#include "shm/seg.h"

static const char *const log_levels[] = { "err", "warn", "notice", "info", "debug", NULL };

static const char *const kinds[] = { "pkt-engine", "svc-mgr", NULL }; /* enum prov_target */

static void verify_target(struct cfg_verify *v, const void *obj)
{
	const struct prov_target_cfg *t = obj;

	if (!strncmp(t->endpoint, "tcp://", 6) && !t->public_key[0])
		cfg_verify_error(v, "public-key", "a tcp:// target needs the daemon's public key");
}

static const struct cfg_field target_rows[] = {
	{ .key = "name", .type = CFG_STRING, CFG_AT(struct prov_target_cfg, name),
	  .required = true, .min = 1 },
	{ .key = "kind", .type = CFG_ENUM, CFG_AT(struct prov_target_cfg, kind), .names = kinds,
	  .required = true },
	{ .key = "endpoint", .type = CFG_ENDPOINT, CFG_AT(struct prov_target_cfg, endpoint),
	  .required = true },
	{ .key = "public-key", .type = CFG_CUSTOM, CFG_AT(struct prov_target_cfg, public_key),
	  .parse = cfg_parse_z85key, .dump = cfg_dump_z85key },
};
static const struct cfg_schema target_schema =
	CFG_SCHEMA("target", struct prov_target_cfg, target_rows, verify_target);

static void verify_stats(struct cfg_verify *v, const void *obj)
{
	const struct prov_stats_cfg *st = obj;
	char path[80];

	/* the daemons' own rule for segment names */
	if (shm_seg_path(st->instance, "stats", path, sizeof(path)) < 0)
		cfg_verify_error(v, "instance", "1-%d of [A-Za-z0-9_-]", SHM_NAME_MAX);
}

static const struct cfg_field stats_rows[] = {
	{ .key = "kind", .type = CFG_ENUM, CFG_AT(struct prov_stats_cfg, kind), .names = kinds,
	  .required = true },
	{ .key = "instance", .type = CFG_STRING, CFG_AT(struct prov_stats_cfg, instance),
	  .required = true, .min = 1 },
};
static const struct cfg_schema stats_schema =
	CFG_SCHEMA("statistics", struct prov_stats_cfg, stats_rows, verify_stats);

static void verify(struct cfg_verify *v, const void *obj)
{
	const struct prov_config *c = obj;
	bool tcp = false;

	for (unsigned i = 0; i < c->n_targets; i++) {
		tcp |= !strncmp(c->targets[i].endpoint, "tcp://", 6);
		for (unsigned j = 0; j < i; j++)
			if (!strcmp(c->targets[i].name, c->targets[j].name)) {
				char where[40];
				snprintf(where, sizeof(where), "targets[%u].name", i);
				cfg_verify_error(v, where, "same name as targets[%u]", j);
			}
	}
	for (unsigned i = 0; i < c->n_statistics; i++)
		for (unsigned j = 0; j < i; j++)
			if (c->statistics[i].kind == c->statistics[j].kind &&
			    !strcmp(c->statistics[i].instance, c->statistics[j].instance)) {
				char where[40];
				snprintf(where, sizeof(where), "statistics[%u]", i);
				cfg_verify_error(v, where, "same as statistics[%u]", j);
			}
	if (tcp && (!c->public_key[0] || !c->secret_key_file[0]))
		cfg_verify_error(v, "secret-key-file", "tcp:// targets need public-key and "
				 "secret-key-file (CurveZMQ)");

	if (c->database[0] != '/' && c->database[0] != ':')
		cfg_verify_error(v, "database", "an absolute path (or :memory: for tests)");
	if (c->admin_password_file[0] && c->admin_password_file[0] != '/')
		cfg_verify_error(v, "admin-password-file", "an absolute path");
}

static const struct cfg_field rows[] = {
	{ .key = "log-level", .type = CFG_ENUM, CFG_AT(struct prov_config, log_level),
	  .names = log_levels, .def = "notice" },
	{ .key = "user", .type = CFG_STRING, CFG_AT(struct prov_config, user), .def = "" },
	{ .key = "listen-address", .type = CFG_ADDR, CFG_AT(struct prov_config, listen_address),
	  .def = "127.0.0.1" },
	{ .key = "port", .type = CFG_UINT, CFG_AT(struct prov_config, port), .def = "8080",
	  .min = 1, .max = 65535 },
	{ .key = "database", .type = CFG_STRING, CFG_AT(struct prov_config, database),
	  .required = true, .min = 1 },
	{ .key = "request-limit", .type = CFG_SIZE, CFG_AT(struct prov_config, request_limit),
	  .def = "1M", .min = 1024, .max = 64u << 20 },
	{ .key = "token-lifetime", .type = CFG_DURATION,
	  CFG_AT(struct prov_config, token_lifetime_ms), .def = "1h", .min = 60000,
	  .max = 7ull * 24 * 3600 * 1000 },
	{ .key = "max-connections", .type = CFG_UINT, CFG_AT(struct prov_config, max_connections),
	  .def = "64", .min = 1, .max = 4096 },
	{ .key = "admin-user", .type = CFG_STRING, CFG_AT(struct prov_config, admin_user),
	  .def = "admin", .min = 1 },
	{ .key = "admin-password-file", .type = CFG_STRING,
	  CFG_AT(struct prov_config, admin_password_file), .def = "" },
	{ .key = "public-key", .type = CFG_CUSTOM, CFG_AT(struct prov_config, public_key),
	  .parse = cfg_parse_z85key, .dump = cfg_dump_z85key },
	{ .key = "secret-key-file", .type = CFG_STRING, CFG_AT(struct prov_config, secret_key_file),
	  .def = "" },
	{ .key = "push-retry", .type = CFG_DURATION, CFG_AT(struct prov_config, push_retry_ms),
	  .def = "1s", .min = 50, .max = 600000 },
	{ .key = "targets", .type = CFG_LIST_MAP, CFG_AT(struct prov_config, targets),
	  CFG_COUNT(struct prov_config, n_targets), .sub = &target_schema },
	{ .key = "statistics", .type = CFG_LIST_MAP, CFG_AT(struct prov_config, statistics),
	  CFG_COUNT(struct prov_config, n_statistics), .sub = &stats_schema },
};

const struct cfg_schema prov_config_schema =
	CFG_SCHEMA("provisioner", struct prov_config, rows, verify);
