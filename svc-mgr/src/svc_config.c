// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The manager's configuration schema: one table per struct, rows in the
 * order the canonical dump lists them, cross-field rules in the verify
 * functions.
 */
#include <stdio.h>
#include <string.h>

#include "common/key.h"
#include "svc_config.h"

static const char *const log_levels[] = { "err", "warn", "notice", "info", "debug", NULL };
static const char *const types[] = { "lb", "nat", "observe", NULL };
static const char *const protos[] = { "tcp", "udp", "icmp", "any", NULL };
static const char *const algorithms[] = { "rr", "wrr", "wlc", "maglev", NULL };
static const char *const hashes[] = { "source", "flow", NULL };
static const char *const orders[] = { "higher", "lower", NULL };
static const char *const checks[] = { "none", "tcp", "http", NULL };
static const char *const directs[] = { "never", "always", "established", "bytes", NULL };

uint8_t svc_proto_number(unsigned proto_cfg, bool v6)
{
	switch (proto_cfg) {
	case SVC_P_TCP: return 6;
	case SVC_P_UDP: return 17;
	case SVC_P_ICMP: return v6 ? 58 : 1;
	default: return 0;
	}
}

static void verify_health(struct cfg_verify *v, const void *obj)
{
	const struct svc_health_cfg *h = obj;

	if (h->timeout_ms > h->interval_ms)
		cfg_verify_error(v, "timeout", "longer than the interval (checks never overlap)");
}

static void verify_service(struct cfg_verify *v, const void *obj)
{
	const struct svc_service_cfg *s = obj;
	bool v4 = key_addr_is_v4(s->address);
	static const uint8_t zero[16];

	for (const char *p = s->name; *p; p++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.", *p)) {
			cfg_verify_error(v, "name", "letters, digits, '_', '-' and '.' only");
			break;
		}
	if (s->type != SVC_TYPE_NAT) {
		if (!memcmp(s->address, zero, 16))
			cfg_verify_error(v, "address", "a %s service needs its virtual address",
					 types[s->type]);
		for (unsigned i = 0; i < s->n_clients; i++)
			if (s->clients[i].v4 != v4) {
				char where[32];
				snprintf(where, sizeof(where), "clients[%u]", i);
				cfg_verify_error(v, where, "not of the virtual address's family");
			}
	}
	if (s->type == SVC_TYPE_LB) {
		if (!s->n_backends)
			cfg_verify_error(v, "backends", "a load-balancing service needs backends");
		for (unsigned i = 0; i < s->n_backends; i++) {
			char where[48];
			snprintf(where, sizeof(where), "backends[%u].address", i);
			if (key_addr_is_v4(s->backends[i].address) != v4)
				cfg_verify_error(v, where, "not of the virtual address's family");
			for (unsigned j = 0; j < i; j++)
				if (!memcmp(s->backends[i].address, s->backends[j].address, 16) &&
				    s->backends[i].port == s->backends[j].port)
					cfg_verify_error(v, where, "same address and port as "
							 "backends[%u]", j);
		}
		if (s->proto == SVC_P_ICMP && s->port)
			cfg_verify_error(v, "port", "ICMP has no ports");
	} else if (s->n_backends) {
		cfg_verify_error(v, "backends", "only a load-balancing service has backends");
	}
	if (s->type == SVC_TYPE_NAT) {
		if (!s->n_clients)
			cfg_verify_error(v, "clients", "a NAT service needs its inside networks");
		if (!s->n_pool)
			cfg_verify_error(v, "pool", "a NAT service needs outside addresses");
		for (unsigned i = 0; i < s->n_pool; i++) {
			char where[32];
			snprintf(where, sizeof(where), "pool[%u]", i);
			if (s->n_clients && s->pool[i].v4 != s->clients[0].v4)
				cfg_verify_error(v, where, "not of the inside networks' family");
			if ((s->pool[i].v4 && s->pool[i].len < 16) ||
			    (!s->pool[i].v4 && s->pool[i].len < 112))
				cfg_verify_error(v, where, "at most 65536 addresses");
		}
		if (s->port_min > s->port_max)
			cfg_verify_error(v, "port-min", "above port-max");
		if (s->port)
			cfg_verify_error(v, "port", "a NAT service takes every port");
	} else if (s->n_pool) {
		cfg_verify_error(v, "pool", "only a NAT service has a pool");
	}
	if (s->persistence_ms && s->type != SVC_TYPE_LB)
		cfg_verify_error(v, "persistence", "only a load-balancing service has it");
	if (s->direct_return != SVC_DIRECT_NEVER) {
		bool hosted = false;
		for (unsigned i = 0; i < s->n_backends; i++)
			hosted |= s->backends[i].host_agent[0] != 0;
		if (s->type != SVC_TYPE_LB)
			cfg_verify_error(v, "direct-return", "only a load-balancing service has it");
		else if (!hosted)
			cfg_verify_error(v, "direct-return", "no backend names its host-agent");
	}
	if (s->direct_return == SVC_DIRECT_BYTES && !s->direct_bytes)
		cfg_verify_error(v, "direct-return-bytes", "direct-return: bytes needs the "
				 "threshold (bytes of replies, 1 or more)");
	if (s->direct_return != SVC_DIRECT_BYTES && s->direct_bytes)
		cfg_verify_error(v, "direct-return-bytes", "only with direct-return: bytes");
}

/* The rules that span services: a file's and a push's alike. */
static void verify_services(struct cfg_verify *v, const struct svc_config *c)
{
	for (unsigned i = 0; i < c->n_services; i++)
		for (unsigned j = 0; j < i; j++)
			if (!strcmp(c->services[i].name, c->services[j].name)) {
				char where[48];
				snprintf(where, sizeof(where), "services[%u].name", i);
				cfg_verify_error(v, where, "same name as services[%u]", j);
			}
	/* Pool addresses belong to one NAT service: two allocating from one
	 * address would hand out the same outside endpoints. */
	for (unsigned i = 0; i < c->n_services; i++)
		for (unsigned a = 0; a < c->services[i].n_pool; a++)
			for (unsigned j = i; j < c->n_services; j++)
				for (unsigned b = (j == i ? a + 1 : 0); b < c->services[j].n_pool; b++) {
					const struct cfg_prefix *x = &c->services[i].pool[a];
					const struct cfg_prefix *y = &c->services[j].pool[b];
					const struct cfg_prefix *wide = x->len <= y->len ? x : y;
					const struct cfg_prefix *narrow = wide == x ? y : x;
					bool overlap = x->v4 == y->v4;
					for (unsigned k = 0; overlap && k < 16; k++)
						overlap = (narrow->addr[k] & wide->mask[k]) == wide->addr[k];
					if (!overlap)
						continue;
					char where[48];
					snprintf(where, sizeof(where), "services[%u].pool[%u]", j, b);
					cfg_verify_error(v, where, "overlaps services[%u].pool[%u]", i, a);
				}
	/* An observed flow and a decided one of the same key cannot share one
	 * manager's flow table: observing belongs to another manager, whose
	 * wildcards come first by precedence (cascaded services). */
	for (unsigned i = 0; i < c->n_services; i++) {
		const struct svc_service_cfg *o = &c->services[i];
		if (o->type != SVC_TYPE_OBSERVE)
			continue;
		for (unsigned j = 0; j < c->n_services; j++) {
			const struct svc_service_cfg *d = &c->services[j];
			if (j == i || d->type != SVC_TYPE_LB || memcmp(o->address, d->address, 16) ||
			    (o->port && d->port && o->port != d->port) ||
			    (o->proto != SVC_P_ANY && d->proto != SVC_P_ANY && o->proto != d->proto))
				continue;
			char where[48];
			snprintf(where, sizeof(where), "services[%u]", i);
			cfg_verify_error(v, where, "observes what services[%u] decides: an observing "
					 "service belongs to another manager", j);
		}
	}
}

static void verify_config(struct cfg_verify *v, const void *obj)
{
	const struct svc_config *c = obj;
	bool tcp = false;

	for (unsigned i = 0; i < c->n_listen; i++)
		tcp |= !strncmp(c->listen[i], "tcp://", 6);
	if (!strncmp(c->repl.listen, "tcp://", 6) && (!c->public_key[0] || !c->secret_key_file[0]))
		cfg_verify_error(v, "replication.listen", "a tcp:// endpoint needs public-key and "
				 "secret-key-file (CurveZMQ)");
	for (unsigned i = 0; i < c->repl.n_peers; i++)
		if (!strcmp(c->repl.peers[i].instance, c->instance))
			cfg_verify_error(v, "replication.peers", "lists this manager itself");
	if (tcp && (!c->public_key[0] || !c->secret_key_file[0]))
		cfg_verify_error(v, "listen", "a tcp:// endpoint needs public-key and "
				 "secret-key-file (CurveZMQ)");
	if (tcp && !c->n_agent_keys)
		cfg_verify_error(v, "agent-keys", "a tcp:// endpoint admits only the agents "
				 "listed here");
	if (!c->n_listen)
		cfg_verify_error(v, "listen", "the manager needs an endpoint for its agents");
	if (c->fixed_ttl_ms < 5000 || c->wildcard_ttl_ms < 6000)
		cfg_verify_error(v, "fixed-ttl", "affinity TTLs must well exceed the agents' 2 s "
				 "tolerance (fixed-ttl >= 5s, wildcard-ttl >= 6s)");
	/* an affinity's TTL is at most its protocol's idle timeout */
	if (c->icmp_timeout_ms < 5000 || c->udp_timeout_ms < 5000 || c->tcp_new_timeout_ms < 5000)
		cfg_verify_error(v, "icmp-timeout", "idle timeouts under 5 s give affinities the "
				 "agents may expire at once (their tolerance is 2 s)");
	verify_services(v, c);
	for (const char *p = c->instance; *p; p++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-", *p)) {
			cfg_verify_error(v, "instance", "letters, digits, '_' and '-' only");
			break;
		}
}

static const struct cfg_field backend_rows[] = {
	{ .key = "address", .type = CFG_ADDR, CFG_AT(struct svc_backend_cfg, address),
	  .required = true },
	{ .key = "port", .type = CFG_UINT, CFG_AT(struct svc_backend_cfg, port), .def = "0" },
	{ .key = "weight", .type = CFG_UINT, CFG_AT(struct svc_backend_cfg, weight), .def = "1",
	  .max = 65535 },
	{ .key = "host-agent", .type = CFG_STRING, CFG_AT(struct svc_backend_cfg, host_agent),
	  .def = "" },
};
static const struct cfg_schema backend_schema =
	CFG_SCHEMA("backend", struct svc_backend_cfg, backend_rows, NULL);

static const struct cfg_field health_rows[] = {
	{ .key = "type", .type = CFG_ENUM, CFG_AT(struct svc_health_cfg, type), .names = checks,
	  .def = "none" },
	{ .key = "interval", .type = CFG_DURATION, CFG_AT(struct svc_health_cfg, interval_ms),
	  .def = "2s", .min = 10, .max = 3600000 },
	{ .key = "timeout", .type = CFG_DURATION, CFG_AT(struct svc_health_cfg, timeout_ms),
	  .def = "1s", .min = 10, .max = 3600000 },
	{ .key = "rise", .type = CFG_UINT, CFG_AT(struct svc_health_cfg, rise), .def = "2",
	  .min = 1, .max = 100 },
	{ .key = "fall", .type = CFG_UINT, CFG_AT(struct svc_health_cfg, fall), .def = "3",
	  .min = 1, .max = 100 },
	{ .key = "path", .type = CFG_STRING, CFG_AT(struct svc_health_cfg, path), .def = "/",
	  .min = 1 },
	{ .key = "host", .type = CFG_STRING, CFG_AT(struct svc_health_cfg, host), .def = "" },
	{ .key = "expect", .type = CFG_UINT, CFG_AT(struct svc_health_cfg, expect), .def = "200",
	  .min = 100, .max = 599 },
	{ .key = "init-up", .type = CFG_BOOL, CFG_AT(struct svc_health_cfg, init_up),
	  .def = "true" },
};
static const struct cfg_schema health_schema =
	CFG_SCHEMA("health", struct svc_health_cfg, health_rows, verify_health);

static const struct cfg_field prefix_elem = { .type = CFG_PREFIX,
					      .size = sizeof(struct cfg_prefix) };

static const struct cfg_field service_rows[] = {
	{ .key = "name", .type = CFG_STRING, CFG_AT(struct svc_service_cfg, name),
	  .required = true, .min = 1 },
	{ .key = "type", .type = CFG_ENUM, CFG_AT(struct svc_service_cfg, type), .names = types,
	  .def = "lb" },
	{ .key = "protocol", .type = CFG_ENUM, CFG_AT(struct svc_service_cfg, proto),
	  .names = protos, .def = "tcp" },
	{ .key = "address", .type = CFG_ADDR, CFG_AT(struct svc_service_cfg, address),
	  .def = "::" },
	{ .key = "port", .type = CFG_UINT, CFG_AT(struct svc_service_cfg, port), .def = "0" },
	{ .key = "algorithm", .type = CFG_ENUM, CFG_AT(struct svc_service_cfg, algorithm),
	  .names = algorithms, .def = "wrr" },
	{ .key = "maglev-hash", .type = CFG_ENUM, CFG_AT(struct svc_service_cfg, maglev_hash),
	  .names = hashes, .def = "source" },
	{ .key = "persistence", .type = CFG_DURATION,
	  CFG_AT(struct svc_service_cfg, persistence_ms), .def = "0s", .max = 86400000 },
	{ .key = "clients", .type = CFG_LIST, CFG_AT(struct svc_service_cfg, clients),
	  CFG_COUNT(struct svc_service_cfg, n_clients), .elem = &prefix_elem },
	{ .key = "precedence", .type = CFG_UINT, CFG_AT(struct svc_service_cfg, precedence),
	  .def = "100" },
	{ .key = "precedence-order", .type = CFG_ENUM,
	  CFG_AT(struct svc_service_cfg, precedence_order), .names = orders, .def = "higher" },
	{ .key = "backup-precedence", .type = CFG_UINT,
	  CFG_AT(struct svc_service_cfg, backup_precedence), .def = "0" },
	{ .key = "track", .type = CFG_BOOL, CFG_AT(struct svc_service_cfg, track), .def = "true" },
	{ .key = "health", .type = CFG_MAP, CFG_AT(struct svc_service_cfg, health),
	  .sub = &health_schema },
	{ .key = "backends", .type = CFG_LIST_MAP, CFG_AT(struct svc_service_cfg, backends),
	  CFG_COUNT(struct svc_service_cfg, n_backends), .sub = &backend_schema },
	{ .key = "pool", .type = CFG_LIST, CFG_AT(struct svc_service_cfg, pool),
	  CFG_COUNT(struct svc_service_cfg, n_pool), .elem = &prefix_elem },
	{ .key = "port-min", .type = CFG_UINT, CFG_AT(struct svc_service_cfg, port_min),
	  .def = "1024", .min = 1 },
	{ .key = "port-max", .type = CFG_UINT, CFG_AT(struct svc_service_cfg, port_max),
	  .def = "65535", .min = 1 },
	{ .key = "direct-return", .type = CFG_ENUM, CFG_AT(struct svc_service_cfg, direct_return),
	  .names = directs, .def = "never" },
	{ .key = "direct-return-bytes", .type = CFG_UINT,
	  CFG_AT(struct svc_service_cfg, direct_bytes), .def = "0", .max = UINT32_MAX },
};
static const struct cfg_schema service_schema =
	CFG_SCHEMA("service", struct svc_service_cfg, service_rows, verify_service);

static const struct cfg_field endpoint_elem = { .type = CFG_ENDPOINT, .size = 256 };

static const char *const ha_roles[] = { "active", "standby", NULL };

static const struct cfg_field peer_rows[] = {
	{ .key = "instance", .type = CFG_STRING, CFG_AT(struct svc_peer_cfg, instance),
	  .required = true, .min = 1 },
	{ .key = "endpoint", .type = CFG_ENDPOINT, CFG_AT(struct svc_peer_cfg, endpoint),
	  .required = true },
	{ .key = "public-key", .type = CFG_CUSTOM, CFG_AT(struct svc_peer_cfg, public_key),
	  .parse = cfg_parse_z85key, .dump = cfg_dump_z85key },
};
static const struct cfg_schema peer_schema =
	CFG_SCHEMA("peer", struct svc_peer_cfg, peer_rows, NULL);

static void verify_repl(struct cfg_verify *v, const void *obj)
{
	const struct svc_repl_cfg *r = obj;
	bool tcp = !strncmp(r->listen, "tcp://", 6);

	if (!r->group[0] && (r->n_peers || r->listen[0]))
		cfg_verify_error(v, "group", "replication needs its group's name");
	if (r->group[0] && !r->listen[0])
		cfg_verify_error(v, "listen", "replication needs an endpoint to bind");
	if (r->listen[0] && strncmp(r->listen, "tcp://", 6) && strncmp(r->listen, "ipc://", 6))
		cfg_verify_error(v, "listen", "expected an endpoint like tcp://host:port or "
				 "ipc:///path");
	if (r->group[0] && !r->n_peers)
		cfg_verify_error(v, "peers", "replication needs the other managers of the group");
	for (unsigned i = 0; i < r->n_peers; i++) {
		char where[48];
		snprintf(where, sizeof(where), "peers[%u].public-key", i);
		if ((tcp || !strncmp(r->peers[i].endpoint, "tcp://", 6)) && !r->peers[i].public_key[0])
			cfg_verify_error(v, where, "a tcp:// group admits only its members' keys");
	}
	if (r->dead_ms < 2 * r->heartbeat_ms)
		cfg_verify_error(v, "dead-time", "at least two heartbeats");
}

static const struct cfg_field repl_rows[] = {
	{ .key = "group", .type = CFG_STRING, CFG_AT(struct svc_repl_cfg, group), .def = "" },
	{ .key = "role", .type = CFG_ENUM, CFG_AT(struct svc_repl_cfg, role), .names = ha_roles,
	  .def = "standby" },
	{ .key = "listen", .type = CFG_STRING, CFG_AT(struct svc_repl_cfg, listen), .def = "" },
	{ .key = "peers", .type = CFG_LIST_MAP, CFG_AT(struct svc_repl_cfg, peers),
	  CFG_COUNT(struct svc_repl_cfg, n_peers), .sub = &peer_schema },
	{ .key = "heartbeat", .type = CFG_DURATION, CFG_AT(struct svc_repl_cfg, heartbeat_ms),
	  .def = "100ms", .min = 10, .max = 10000 },
	{ .key = "dead-time", .type = CFG_DURATION, CFG_AT(struct svc_repl_cfg, dead_ms),
	  .def = "300ms", .min = 20, .max = 60000 },
};
static const struct cfg_schema repl_schema =
	CFG_SCHEMA("replication", struct svc_repl_cfg, repl_rows, verify_repl);

static const struct cfg_field agent_key_elem = { .type = CFG_CUSTOM, .size = CFG_Z85_LEN + 1,
						 .parse = cfg_parse_z85key,
						 .dump = cfg_dump_z85key };

static const struct cfg_field config_rows[] = {
	{ .key = "instance", .type = CFG_STRING, CFG_AT(struct svc_config, instance),
	  .required = true, .min = 1 },
	{ .key = "log-level", .type = CFG_ENUM, CFG_AT(struct svc_config, log_level),
	  .names = log_levels, .def = "notice" },
	{ .key = "host-name", .type = CFG_STRING, CFG_AT(struct svc_config, host_name), .def = "" },
	{ .key = "address", .type = CFG_ADDR, CFG_AT(struct svc_config, address), .def = "::" },
	{ .key = "listen", .type = CFG_LIST, CFG_AT(struct svc_config, listen),
	  CFG_COUNT(struct svc_config, n_listen), .elem = &endpoint_elem },
	{ .key = "public-key", .type = CFG_CUSTOM, CFG_AT(struct svc_config, public_key),
	  .parse = cfg_parse_z85key, .dump = cfg_dump_z85key },
	{ .key = "secret-key-file", .type = CFG_STRING,
	  CFG_AT(struct svc_config, secret_key_file), .def = "" },
	{ .key = "agent-keys", .type = CFG_LIST, CFG_AT(struct svc_config, agent_keys),
	  CFG_COUNT(struct svc_config, n_agent_keys), .elem = &agent_key_elem },
	{ .key = "auth-key", .type = CFG_CUSTOM, CFG_AT(struct svc_config, auth),
	  .parse = cfg_parse_hexkey, .dump = cfg_dump_hexkey },
	{ .key = "flows", .type = CFG_UINT, CFG_AT(struct svc_config, flows), .def = "262144",
	  .min = 64, .max = 1u << 25 },
	{ .key = "reader-slots", .type = CFG_UINT, CFG_AT(struct svc_config, reader_slots),
	  .def = "64", .min = 8, .max = 4096 },
	{ .key = "shm-group", .type = CFG_STRING, CFG_AT(struct svc_config, shm_group), .def = "" },
	{ .key = "wildcard-ttl", .type = CFG_DURATION, CFG_AT(struct svc_config, wildcard_ttl_ms),
	  .def = "30s", .min = 1000, .max = 86400000 },
	{ .key = "fixed-ttl", .type = CFG_DURATION, CFG_AT(struct svc_config, fixed_ttl_ms),
	  .def = "60s", .min = 1000, .max = 86400000 },
	{ .key = "sticky", .type = CFG_DURATION, CFG_AT(struct svc_config, sticky_ms),
	  .def = "4s", .max = 600000 },
	{ .key = "tcp-timeout", .type = CFG_DURATION, CFG_AT(struct svc_config, tcp_timeout_ms),
	  .def = "15m", .min = 1000, .max = 86400000 },
	{ .key = "tcp-new-timeout", .type = CFG_DURATION,
	  CFG_AT(struct svc_config, tcp_new_timeout_ms), .def = "60s", .min = 1000,
	  .max = 86400000 },
	{ .key = "udp-timeout", .type = CFG_DURATION, CFG_AT(struct svc_config, udp_timeout_ms),
	  .def = "2m", .min = 1000, .max = 86400000 },
	{ .key = "icmp-timeout", .type = CFG_DURATION, CFG_AT(struct svc_config, icmp_timeout_ms),
	  .def = "30s", .min = 1000, .max = 86400000 },
	{ .key = "heartbeat", .type = CFG_DURATION, CFG_AT(struct svc_config, heartbeat_ms),
	  .def = "1s", .min = 100, .max = 60000 },
	{ .key = "agent-timeout", .type = CFG_DURATION,
	  CFG_AT(struct svc_config, agent_timeout_ms), .def = "5s", .min = 300, .max = 600000 },
	{ .key = "expiry-sweep", .type = CFG_DURATION, CFG_AT(struct svc_config, sweep_ms),
	  .def = "100ms", .min = 10, .max = 1000 },
	{ .key = "sweep-buckets", .type = CFG_UINT, CFG_AT(struct svc_config, sweep_buckets),
	  .def = "16384", .min = 64, .max = 1u << 24 },
	{ .key = "hash-seed", .type = CFG_UINT, CFG_AT(struct svc_config, hash_seed), .def = "0" },
	{ .key = "user", .type = CFG_STRING, CFG_AT(struct svc_config, user), .def = "" },
	{ .key = "metrics", .type = CFG_STRING, CFG_AT(struct svc_config, metrics), .def = "" },
	{ .key = "stats-file", .type = CFG_STRING, CFG_AT(struct svc_config, stats_file),
	  .def = "" },
	{ .key = "services", .type = CFG_LIST_MAP, CFG_AT(struct svc_config, services),
	  CFG_COUNT(struct svc_config, n_services), .sub = &service_schema },
	{ .key = "replication", .type = CFG_MAP, CFG_AT(struct svc_config, repl),
	  .sub = &repl_schema },
	{ .key = "provisioning", .type = CFG_MAP, CFG_AT(struct svc_config, prov),
	  .sub = &provchan_cfg_schema },
};

const struct cfg_schema svc_config_schema =
	CFG_SCHEMA("svc-mgr", struct svc_config, config_rows, verify_config);

static void verify_push(struct cfg_verify *v, const void *obj)
{
	verify_services(v, obj);
}

static const struct cfg_field push_rows[] = {
	{ .key = "services", .type = CFG_LIST_MAP, CFG_AT(struct svc_config, services),
	  CFG_COUNT(struct svc_config, n_services), .sub = &service_schema },
};

const struct cfg_schema svc_push_schema =
	CFG_SCHEMA("svc-mgr push", struct svc_config, push_rows, verify_push);
