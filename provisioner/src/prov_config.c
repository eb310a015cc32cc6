// SPDX-License-Identifier: LGPL-2.1-or-later
#include <stddef.h>

#include "prov_config.h"

static const char *const log_levels[] = { "err", "warn", "notice", "info", "debug", NULL };

static void verify(struct cfg_verify *v, const void *obj)
{
	const struct prov_config *c = obj;

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
};

const struct cfg_schema prov_config_schema =
	CFG_SCHEMA("provisioner", struct prov_config, rows, verify);
