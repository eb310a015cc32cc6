// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The agent's configuration schema: one table per struct, rows in the order
 * the canonical dump lists them, cross-field rules in the verify functions.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "common/key.h"
#include "common/msg.h"
#include "common/str.h"
#include "fwd_config.h"

static const char *const log_levels[] = { "err", "warn", "notice", "info", "debug", NULL };
static const char *const backends[] = { "afpacket", "pcap", "afxdp", NULL };
static const char *const paces[] = { "fast", "real", NULL };
static const char *const modes[] = { "router", "host", NULL };

/* A MAC address, 02:00:00:00:00:01. */
static int parse_mac(const struct cfg_field *f, const char *s, size_t len, void *field,
		     char *why, size_t whylen)
{
	unsigned b[6];
	char tail;

	(void)f;
	if (len != 17 || sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4],
				&b[5], &tail) != 6) {
		snprintf(why, whylen, "expected a MAC address like 02:00:00:00:00:01");
		return -EINVAL;
	}
	for (unsigned i = 0; i < 6; i++)
		((uint8_t *)field)[i] = (uint8_t)b[i];
	return 0;
}

static void dump_mac(const struct cfg_field *f, const void *field, char *buf, size_t len)
{
	const uint8_t *m = field;

	(void)f;
	snprintf(buf, len, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
}

static void verify_manager(struct cfg_verify *v, const void *obj)
{
	const struct fwd_manager_cfg *m = obj;

	if (strncmp(m->endpoint, "tcp://", 6) == 0 && !m->server_key[0])
		cfg_verify_error(v, "server-key", "a tcp:// manager needs its CurveZMQ public key");
	if (m->punt_burst < 1)
		cfg_verify_error(v, "punt-burst", "must be at least 1");
}

/* 0.0.0.0 or ::, the defaults of an interface's address keys */
static bool addr_unset(const uint8_t a[16])
{
	static const uint8_t z[16];

	return !memcmp(a, z, 16) || (key_addr_is_v4(a) && !memcmp(a + 12, z, 4));
}

static bool is_tcp(const char *endpoint)
{
	return strncmp(endpoint, "tcp://", 6) == 0;
}

static void verify_peer(struct cfg_verify *v, const void *obj)
{
	const struct fwd_peer_cfg *p = obj;

	if (is_tcp(p->endpoint) && !p->public_key[0])
		cfg_verify_error(v, "public-key", "a tcp:// peer needs its CurveZMQ public key");
}

/* Peer mode: who we are to the peers, who they are, and how to reach them. */
static void verify_repl(struct cfg_verify *v, const struct fwd_config *c)
{
	const struct fwd_repl_cfg *r = &c->repl;
	char where[64];

	if (!r->listen[0]) {
		if (r->n_peers)
			cfg_verify_error(v, "replication.listen", "peers need a listen endpoint");
		return;
	}
	if (strncmp(r->listen, "tcp://", 6) && strncmp(r->listen, "ipc://", 6))
		cfg_verify_error(v, "replication.listen", "tcp:// or ipc:// only");
	if (!r->n_peers)
		cfg_verify_error(v, "replication.peers", "peer mode needs at least one peer");
	if (is_tcp(r->listen) && (!c->public_key[0] || !c->secret_key_file[0]))
		cfg_verify_error(v, "replication.listen", "tcp:// replication needs public-key and "
				 "secret-key-file (this agent's CurveZMQ key pair)");
	if (r->dead_ms < 2 * r->heartbeat_ms)
		cfg_verify_error(v, "replication.dead-time", "must be at least two heartbeats");
	for (unsigned i = 0; i < r->n_peers; i++) {
		const struct fwd_peer_cfg *p = &r->peers[i];
		snprintf(where, sizeof(where), "replication.peers[%u].instance", i);
		if (!strcmp(p->instance, c->instance))
			cfg_verify_error(v, where, "is this agent's own instance");
		for (unsigned j = 0; j < i; j++)
			if (!strcmp(p->instance, r->peers[j].instance))
				cfg_verify_error(v, where, "same instance as peers[%u]", j);
		snprintf(where, sizeof(where), "replication.peers[%u].endpoint", i);
		if (!strcmp(p->endpoint, r->listen))
			cfg_verify_error(v, where, "is this agent's own listen endpoint");
		if (is_tcp(p->endpoint) != is_tcp(r->listen))
			cfg_verify_error(v, where, "tcp:// and ipc:// peers cannot be mixed");
	}
	for (unsigned i = 0; i < c->n_managers; i++)
		for (unsigned j = 0; j < i; j++)
			if (fwd_config_manager_id(c, i) == fwd_config_manager_id(c, j)) {
				snprintf(where, sizeof(where), "managers[%u].peer-id", i);
				cfg_verify_error(v, where, "names the same manager as managers[%u]", j);
			}
}

static void verify_config(struct cfg_verify *v, const void *obj)
{
	const struct fwd_config *c = obj;
	bool tcp = false;

	verify_repl(v, c);

	for (unsigned i = 0; i < c->n_managers; i++) {
		tcp |= strncmp(c->managers[i].endpoint, "tcp://", 6) == 0;
		for (unsigned j = 0; j < i; j++)
			if (!strcmp(c->managers[i].endpoint, c->managers[j].endpoint)) {
				char where[48];
				snprintf(where, sizeof(where), "managers[%u].endpoint", i);
				cfg_verify_error(v, where, "same endpoint as managers[%u]", j);
			}
	}
	if (tcp && (!c->public_key[0] || !c->secret_key_file[0]))
		cfg_verify_error(v, "", "tcp:// managers need public-key and secret-key-file "
				 "(this agent's CurveZMQ key pair)");
	for (unsigned i = 0; i < c->n_interfaces; i++) {
		const struct fwd_iface_cfg *f = &c->interfaces[i];
		char where[48];
		snprintf(where, sizeof(where), "interfaces[%u]", i);
		if (c->backend == FWD_IO_PCAP && !f->pcap_in[0] && !f->pcap_out[0])
			cfg_verify_error(v, where, "the pcap back end needs pcap-in or pcap-out");
		if (c->backend != FWD_IO_PCAP && (f->pcap_in[0] || f->pcap_out[0]))
			cfg_verify_error(v, where, "pcap-in/pcap-out are for the pcap back end");
		if (!key_addr_is_v4(f->address))
			cfg_verify_error(v, where, "address must be an IPv4 address");
		if (key_addr_is_v4(f->address6))
			cfg_verify_error(v, where, "address6 must be an IPv6 address");
		if (c->backend != FWD_IO_PCAP && (f->mtu || !addr_unset(f->address) ||
						  !addr_unset(f->address6)))
			cfg_verify_error(v, where, "address, address6 and mtu are for the pcap back "
				       "end (the kernel has them otherwise)");
		for (unsigned j = 0; j < i; j++)
			if (!strcmp(f->name, c->interfaces[j].name))
				cfg_verify_error(v, where, "same name as interfaces[%u]", j);
	}
	if (c->mode != FWD_MODE_HOST && !addr_unset(c->direct_via))
		cfg_verify_error(v, "direct-return-via", "is for host mode (mode: host)");
	if (c->mode == FWD_MODE_HOST && c->backend == FWD_IO_AFXDP)
		cfg_verify_error(v, "mode", "host mode needs the afpacket or pcap back end "
				 "(its fallback is the kernel's own forwarding)");
	for (unsigned i = 0; i < c->n_routes; i++) {
		unsigned j;
		for (j = 0; j < c->n_interfaces; j++)
			if (!strcmp(c->routes[i].interface, c->interfaces[j].name))
				break;
		if (j == c->n_interfaces) {
			char where[48];
			snprintf(where, sizeof(where), "static-routes[%u].interface", i);
			cfg_verify_error(v, where, "no interface named '%s'", c->routes[i].interface);
		}
	}
	if (c->n_routes && c->backend != FWD_IO_PCAP)
		cfg_verify_error(v, "static-routes", "only with the pcap back end (afpacket "
				 "follows the kernel's routes)");
	for (const char *p = c->instance; *p; p++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-", *p)) {
			cfg_verify_error(v, "instance", "letters, digits, '_' and '-' only");
			break;
		}
}

static const struct cfg_field iface_rows[] = {
	{ .key = "name", .type = CFG_STRING, CFG_AT(struct fwd_iface_cfg, name), .required = true,
	  .min = 1 },
	{ .key = "pcap-in", .type = CFG_STRING, CFG_AT(struct fwd_iface_cfg, pcap_in), .def = "" },
	{ .key = "pcap-out", .type = CFG_STRING, CFG_AT(struct fwd_iface_cfg, pcap_out),
	  .def = "" },
	{ .key = "csum-partial", .type = CFG_BOOL, CFG_AT(struct fwd_iface_cfg, csum_partial),
	  .def = "false" },
	{ .key = "mac", .type = CFG_CUSTOM, CFG_AT(struct fwd_iface_cfg, mac),
	  .def = "02:00:00:00:00:00", .parse = parse_mac, .dump = dump_mac },
	{ .key = "address", .type = CFG_ADDR, CFG_AT(struct fwd_iface_cfg, address),
	  .def = "0.0.0.0" },
	{ .key = "address6", .type = CFG_ADDR, CFG_AT(struct fwd_iface_cfg, address6),
	  .def = "::" },
	{ .key = "mtu", .type = CFG_UINT, CFG_AT(struct fwd_iface_cfg, mtu), .def = "0",
	  .max = 65535 },
};
static const struct cfg_schema iface_schema =
	CFG_SCHEMA("interface", struct fwd_iface_cfg, iface_rows, NULL);

static const struct cfg_field route_rows[] = {
	{ .key = "prefix", .type = CFG_PREFIX, CFG_AT(struct fwd_route_cfg, prefix),
	  .required = true },
	{ .key = "interface", .type = CFG_STRING, CFG_AT(struct fwd_route_cfg, interface),
	  .required = true, .min = 1 },
	{ .key = "mac", .type = CFG_CUSTOM, CFG_AT(struct fwd_route_cfg, mac), .required = true,
	  .parse = parse_mac, .dump = dump_mac },
};
static const struct cfg_schema route_schema =
	CFG_SCHEMA("route", struct fwd_route_cfg, route_rows, NULL);

static const struct cfg_field manager_rows[] = {
	{ .key = "endpoint", .type = CFG_ENDPOINT, CFG_AT(struct fwd_manager_cfg, endpoint),
	  .required = true },
	{ .key = "peer-id", .type = CFG_STRING, CFG_AT(struct fwd_manager_cfg, peer_id),
	  .def = "" },
	{ .key = "server-key", .type = CFG_CUSTOM, CFG_AT(struct fwd_manager_cfg, server_key),
	  .parse = cfg_parse_z85key, .dump = cfg_dump_z85key },
	{ .key = "auth-key", .type = CFG_CUSTOM, CFG_AT(struct fwd_manager_cfg, auth),
	  .parse = cfg_parse_hexkey, .dump = cfg_dump_hexkey },
	{ .key = "punt-rate", .type = CFG_UINT, CFG_AT(struct fwd_manager_cfg, punt_rate),
	  .def = "10000", .max = 10000000 },
	{ .key = "punt-burst", .type = CFG_UINT, CFG_AT(struct fwd_manager_cfg, punt_burst),
	  .def = "1000", .min = 1, .max = 10000000 },
};
static const struct cfg_schema manager_schema =
	CFG_SCHEMA("manager", struct fwd_manager_cfg, manager_rows, verify_manager);

static const struct cfg_field peer_rows[] = {
	{ .key = "instance", .type = CFG_STRING, CFG_AT(struct fwd_peer_cfg, instance),
	  .required = true, .min = 1 },
	{ .key = "endpoint", .type = CFG_ENDPOINT, CFG_AT(struct fwd_peer_cfg, endpoint),
	  .required = true },
	{ .key = "public-key", .type = CFG_CUSTOM, CFG_AT(struct fwd_peer_cfg, public_key),
	  .parse = cfg_parse_z85key, .dump = cfg_dump_z85key },
};
static const struct cfg_schema peer_schema =
	CFG_SCHEMA("peer", struct fwd_peer_cfg, peer_rows, verify_peer);

static const struct cfg_field repl_rows[] = {
	{ .key = "listen", .type = CFG_STRING, CFG_AT(struct fwd_repl_cfg, listen), .def = "" },
	{ .key = "group", .type = CFG_UINT, CFG_AT(struct fwd_repl_cfg, group), .def = "1",
	  .min = 1 },
	{ .key = "peers", .type = CFG_LIST_MAP, CFG_AT(struct fwd_repl_cfg, peers),
	  CFG_COUNT(struct fwd_repl_cfg, n_peers), .sub = &peer_schema },
	{ .key = "auth-key", .type = CFG_CUSTOM, CFG_AT(struct fwd_repl_cfg, auth),
	  .parse = cfg_parse_hexkey, .dump = cfg_dump_hexkey },
	{ .key = "heartbeat", .type = CFG_DURATION, CFG_AT(struct fwd_repl_cfg, heartbeat_ms),
	  .def = "200ms", .min = 10, .max = 10000 },
	{ .key = "dead-time", .type = CFG_DURATION, CFG_AT(struct fwd_repl_cfg, dead_ms),
	  .def = "1s", .min = 20, .max = 60000 },
	{ .key = "grace", .type = CFG_DURATION, CFG_AT(struct fwd_repl_cfg, grace_ms),
	  .def = "30s", .max = 3600000 },
	{ .key = "batch", .type = CFG_DURATION, CFG_AT(struct fwd_repl_cfg, batch_ms),
	  .def = "5ms", .max = 1000 },
};
static const struct cfg_schema repl_schema =
	CFG_SCHEMA("replication", struct fwd_repl_cfg, repl_rows, NULL);

static const struct cfg_field config_rows[] = {
	{ .key = "instance", .type = CFG_STRING, CFG_AT(struct fwd_config, instance),
	  .required = true, .min = 1 },
	{ .key = "log-level", .type = CFG_ENUM, CFG_AT(struct fwd_config, log_level),
	  .names = log_levels, .def = "notice" },
	{ .key = "host-name", .type = CFG_STRING, CFG_AT(struct fwd_config, host_name), .def = "" },
	{ .key = "address", .type = CFG_ADDR, CFG_AT(struct fwd_config, address), .def = "::" },
	{ .key = "backend", .type = CFG_ENUM, CFG_AT(struct fwd_config, backend), .names = backends,
	  .def = "afpacket" },
	{ .key = "workers", .type = CFG_UINT, CFG_AT(struct fwd_config, workers), .def = "0",
	  .max = 64 },
	{ .key = "ring-frames", .type = CFG_UINT, CFG_AT(struct fwd_config, ring_frames),
	  .def = "256", .min = 16, .max = 65536 },
	{ .key = "fanout-id", .type = CFG_UINT, CFG_AT(struct fwd_config, fanout_id),
	  .def = "4242", .max = 65000 },
	{ .key = "pcap-pace", .type = CFG_ENUM, CFG_AT(struct fwd_config, pcap_pace),
	  .names = paces, .def = "fast" },
	{ .key = "pcap-loop", .type = CFG_UINT, CFG_AT(struct fwd_config, pcap_loop), .def = "0",
	  .max = 1000000 },
	{ .key = "pcap-sync", .type = CFG_BOOL, CFG_AT(struct fwd_config, pcap_sync),
	  .def = "false" },
	{ .key = "interfaces", .type = CFG_LIST_MAP, CFG_AT(struct fwd_config, interfaces),
	  CFG_COUNT(struct fwd_config, n_interfaces), .sub = &iface_schema, .required = true },
	{ .key = "managers", .type = CFG_LIST_MAP, CFG_AT(struct fwd_config, managers),
	  CFG_COUNT(struct fwd_config, n_managers), .sub = &manager_schema },
	{ .key = "public-key", .type = CFG_CUSTOM, CFG_AT(struct fwd_config, public_key),
	  .parse = cfg_parse_z85key, .dump = cfg_dump_z85key },
	{ .key = "secret-key-file", .type = CFG_STRING,
	  CFG_AT(struct fwd_config, secret_key_file), .def = "" },
	{ .key = "static-routes", .type = CFG_LIST_MAP, CFG_AT(struct fwd_config, routes),
	  CFG_COUNT(struct fwd_config, n_routes), .sub = &route_schema },
	{ .key = "user", .type = CFG_STRING, CFG_AT(struct fwd_config, user), .def = "" },
	{ .key = "metrics", .type = CFG_STRING, CFG_AT(struct fwd_config, metrics), .def = "" },
	{ .key = "stats-file", .type = CFG_STRING, CFG_AT(struct fwd_config, stats_file),
	  .def = "" },
	{ .key = "exit-on-eof", .type = CFG_BOOL, CFG_AT(struct fwd_config, exit_on_eof),
	  .def = "false" },
	{ .key = "ingress-filter", .type = CFG_BOOL, CFG_AT(struct fwd_config, ingress_filter),
	  .def = "true" },
	{ .key = "fixed-affinities", .type = CFG_UINT, CFG_AT(struct fwd_config, fixed_affinities),
	  .def = "65536", .min = 64, .max = 1u << 26 },
	{ .key = "huge-pages", .type = CFG_BOOL, CFG_AT(struct fwd_config, huge_pages),
	  .def = "true" },
	{ .key = "reader-slots", .type = CFG_UINT, CFG_AT(struct fwd_config, reader_slots),
	  .def = "64", .min = 8, .max = 4096 },
	{ .key = "shm-group", .type = CFG_STRING, CFG_AT(struct fwd_config, shm_group),
	  .def = "" },
	{ .key = "heartbeat", .type = CFG_DURATION, CFG_AT(struct fwd_config, heartbeat_ms),
	  .def = "1s", .min = 100, .max = 60000 },
	{ .key = "expiry-sweep", .type = CFG_DURATION, CFG_AT(struct fwd_config, sweep_ms),
	  .def = "100ms", .min = 10, .max = 1000 },
	{ .key = "sweep-buckets", .type = CFG_UINT, CFG_AT(struct fwd_config, sweep_buckets),
	  .def = "65536", .min = 64, .max = 1u << 24 },
	{ .key = "hold-time", .type = CFG_DURATION, CFG_AT(struct fwd_config, hold_ms),
	  .def = "50ms", .max = 1000 },
	{ .key = "busy-poll-us", .type = CFG_UINT, CFG_AT(struct fwd_config, busy_poll_us),
	  .def = "0", .max = 100000 },
	{ .key = "nat", .type = CFG_BOOL, CFG_AT(struct fwd_config, act_nat), .def = "true" },
	{ .key = "seq-adjust", .type = CFG_BOOL, CFG_AT(struct fwd_config, act_seq),
	  .def = "true" },
	{ .key = "interest", .type = CFG_BOOL, CFG_AT(struct fwd_config, act_interest),
	  .def = "true" },
	{ .key = "advertise", .type = CFG_BOOL, CFG_AT(struct fwd_config, act_advertise),
	  .def = "true" },
	{ .key = "mode", .type = CFG_ENUM, CFG_AT(struct fwd_config, mode), .names = modes,
	  .def = "router" },
	{ .key = "direct-return-via", .type = CFG_ADDR, CFG_AT(struct fwd_config, direct_via),
	  .def = "::" },
	{ .key = "replication", .type = CFG_MAP, CFG_AT(struct fwd_config, repl),
	  .sub = &repl_schema },
};

const struct cfg_schema fwd_config_schema =
	CFG_SCHEMA("fwd-agent", struct fwd_config, config_rows, verify_config);

uint64_t fwd_config_caps(const struct fwd_config *c)
{
	/* everything but the optional actions is part of being an agent */
	uint64_t caps = MSG_CAP(MSG_S_SECURITY) | MSG_CAP(MSG_S_WILDCARD) | MSG_CAP(MSG_S_FIXED) |
			MSG_CAP(MSG_S_AFFINITY_ID) | MSG_CAP(MSG_S_SERVICE_PREC) |
			MSG_CAP(MSG_S_BACKUP_PREC) | MSG_CAP(MSG_S_MGR_INTEREST) |
			MSG_CAP(MSG_S_AGENT_INTEREST) | MSG_CAP(MSG_S_IDENTITY) |
			MSG_CAP(MSG_S_ACTION_LIST) | MSG_CAP(MSG_S_IP_PACKET);

	if (c->act_nat)
		caps |= MSG_CAP(MSG_S_ACT_NAT);
	if (c->act_seq)
		caps |= MSG_CAP(MSG_S_ACT_SEQ_ADJUST);
	if (c->act_interest)
		caps |= MSG_CAP(MSG_S_ACT_INTEREST);
	if (c->act_advertise)
		caps |= MSG_CAP(MSG_S_ACT_ADVERTISE);
	return caps;
}

uint64_t fwd_config_manager_id(const struct fwd_config *c, unsigned i)
{
	const struct fwd_manager_cfg *m = &c->managers[i];
	const char *name = m->peer_id[0] ? m->peer_id : m->server_key[0] ? m->server_key
									  : m->endpoint;
	uint64_t id = loom_str_hash64(name);

	return id ? id : 1;
}
