// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The engine's configuration schema (one table per struct, rows in the
 * order the canonical dump lists them), its cross-field rules, and the
 * translation of the definitions into sequence steps (pe_defs_build).
 */
#include <errno.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cfg_mac.h"
#include "common/key.h"
#include "common/provchan.h"
#include "pe_config.h"

static const char *const log_levels[] = { "err", "warn", "notice", "info", "debug", NULL };
static const char *const backends[] = { "afpacket", "pcap", NULL };
static const char *const ha_roles[] = { "primary", "secondary", NULL };
static const char *const roles[] = { "client", "device", NULL };
/* enum seq_mode order; route is the engine's own last step, never a device's */
static const char *const modes[] = { "loopback", "alias", "nat", NULL };
static const char *const actions[] = { "permit", "deny", NULL };
static const char *const protocols[] = { "any", "tcp", "udp", NULL };
static const char *const svc_protocols[] = { "tcp", "udp", NULL };

uint8_t pe_proto_number(unsigned idx)
{
	static const uint8_t n[] = { 0, IPPROTO_TCP, IPPROTO_UDP };

	return idx < LOOM_ARRAY_SIZE(n) ? n[idx] : 0;
}

/* A port range: "80", "1025-1125", "any", "none". */
static int parse_range(const struct cfg_field *f, const char *s, size_t len, void *field,
		       char *why, size_t whylen)
{
	struct pe_range *r = field;
	unsigned lo, hi;
	int n = 0;

	(void)f;
	(void)len;
	if (!strcmp(s, "any")) {
		*r = (struct pe_range){ 0, 65535 };
		return 0;
	}
	if (!strcmp(s, "none")) {
		*r = (struct pe_range){ 0, 0 };
		return 0;
	}
	if (sscanf(s, "%5u%n", &lo, &n) == 1 && (size_t)n == len) {
		hi = lo;
	} else if (sscanf(s, "%5u-%5u%n", &lo, &hi, &n) != 2 || (size_t)n != len) {
		snprintf(why, whylen, "expected a port, a range like 1025-1125, any or none");
		return -EINVAL;
	}
	if (lo < 1 || hi > 65535 || lo > hi) {
		snprintf(why, whylen, "expected ports 1-65535, the first not above the last");
		return -EINVAL;
	}
	*r = (struct pe_range){ (uint16_t)lo, (uint16_t)hi };
	return 0;
}

static void dump_range(const struct cfg_field *f, const void *field, char *buf, size_t len)
{
	const struct pe_range *r = field;

	(void)f;
	if (r->lo == 0 && r->hi == 65535)
		snprintf(buf, len, "any");
	else if (r->lo == 0 && r->hi == 0)
		snprintf(buf, len, "none");
	else if (r->lo == r->hi)
		snprintf(buf, len, "%u", r->lo);
	else
		snprintf(buf, len, "%u-%u", r->lo, r->hi);
}

/* ---- rows ------------------------------------------------------------------- */

static const struct cfg_field iface_rows[] = {
	{ .key = "name", .type = CFG_STRING, CFG_AT(struct pe_iface_cfg, name), .required = true,
	  .min = 1 },
	{ .key = "role", .type = CFG_ENUM, CFG_AT(struct pe_iface_cfg, role), .names = roles,
	  .required = true },
	{ .key = "segment", .type = CFG_STRING, CFG_AT(struct pe_iface_cfg, segment), .def = "" },
	{ .key = "address", .type = CFG_ADDR, CFG_AT(struct pe_iface_cfg, address),
	  .def = "0.0.0.0" },
	{ .key = "mac", .type = CFG_CUSTOM, CFG_AT(struct pe_iface_cfg, mac),
	  .def = "00:00:00:00:00:00", .parse = cfg_parse_mac, .dump = cfg_dump_mac },
	{ .key = "gateway-mac", .type = CFG_CUSTOM, CFG_AT(struct pe_iface_cfg, gateway_mac),
	  .def = "00:00:00:00:00:00", .parse = cfg_parse_mac, .dump = cfg_dump_mac },
	{ .key = "pcap-in", .type = CFG_STRING, CFG_AT(struct pe_iface_cfg, pcap_in), .def = "" },
	{ .key = "pcap-out", .type = CFG_STRING, CFG_AT(struct pe_iface_cfg, pcap_out),
	  .def = "" },
	{ .key = "csum-partial", .type = CFG_BOOL, CFG_AT(struct pe_iface_cfg, csum_partial),
	  .def = "false" },
	{ .key = "prefix", .type = CFG_UINT, CFG_AT(struct pe_iface_cfg, prefix), .def = "32",
	  .max = 128 },
};
static const struct cfg_schema iface_schema =
	CFG_SCHEMA("interface", struct pe_iface_cfg, iface_rows, NULL);

static const struct cfg_field device_rows[] = {
	{ .key = "name", .type = CFG_STRING, CFG_AT(struct pe_device_cfg, name), .required = true,
	  .min = 1 },
	{ .key = "function", .type = CFG_STRING, CFG_AT(struct pe_device_cfg, function),
	  .def = "" },
	{ .key = "mac", .type = CFG_CUSTOM, CFG_AT(struct pe_device_cfg, mac), .required = true,
	  .parse = cfg_parse_mac, .dump = cfg_dump_mac },
	{ .key = "address", .type = CFG_ADDR, CFG_AT(struct pe_device_cfg, address),
	  .def = "0.0.0.0" },
	{ .key = "mode", .type = CFG_ENUM, CFG_AT(struct pe_device_cfg, mode), .names = modes,
	  .def = "alias" },
	{ .key = "interface", .type = CFG_STRING, CFG_AT(struct pe_device_cfg, interface),
	  .required = true, .min = 1 },
	{ .key = "out-interface", .type = CFG_STRING, CFG_AT(struct pe_device_cfg, out_interface),
	  .def = "" },
	{ .key = "out-mac", .type = CFG_CUSTOM, CFG_AT(struct pe_device_cfg, out_mac),
	  .def = "00:00:00:00:00:00", .parse = cfg_parse_mac, .dump = cfg_dump_mac },
	{ .key = "alternate", .type = CFG_STRING, CFG_AT(struct pe_device_cfg, alternate),
	  .def = "" },
	{ .key = "down", .type = CFG_BOOL, CFG_AT(struct pe_device_cfg, down), .def = "false" },
	{ .key = "probe", .type = CFG_BOOL, CFG_AT(struct pe_device_cfg, probe), .def = "true" },
};
static const struct cfg_schema device_schema =
	CFG_SCHEMA("device", struct pe_device_cfg, device_rows, NULL);

static const struct cfg_field port_rows[] = {
	{ .key = "port", .type = CFG_UINT, CFG_AT(struct pe_port_cfg, port), .required = true,
	  .min = 1, .max = 65535 },
	{ .key = "translate-to", .type = CFG_UINT, CFG_AT(struct pe_port_cfg, translate),
	  .def = "0", .max = 65535 },
	{ .key = "dynamic", .type = CFG_CUSTOM, CFG_AT(struct pe_port_cfg, dynamic),
	  .def = "none", .parse = parse_range, .dump = dump_range },
};
static const struct cfg_schema port_schema =
	CFG_SCHEMA("port", struct pe_port_cfg, port_rows, NULL);

static const struct cfg_field copy_rows[] = {
	{ .key = "receiver", .type = CFG_STRING, CFG_AT(struct pe_copy_cfg, receiver),
	  .required = true, .min = 1 },
	{ .key = "at", .type = CFG_STRING, CFG_AT(struct pe_copy_cfg, at), .required = true,
	  .min = 1 },
};
static const struct cfg_schema copy_schema =
	CFG_SCHEMA("copy", struct pe_copy_cfg, copy_rows, NULL);

static const struct cfg_field acl_rows[] = {
	{ .key = "action", .type = CFG_ENUM, CFG_AT(struct pe_acl_cfg, action), .names = actions,
	  .required = true },
	{ .key = "client", .type = CFG_PREFIX, CFG_AT(struct pe_acl_cfg, client), .def = "::/0" },
	{ .key = "protocol", .type = CFG_ENUM, CFG_AT(struct pe_acl_cfg, protocol),
	  .names = protocols, .def = "any" },
	{ .key = "ports", .type = CFG_CUSTOM, CFG_AT(struct pe_acl_cfg, ports), .def = "any",
	  .parse = parse_range, .dump = dump_range },
};
static const struct cfg_schema acl_schema =
	CFG_SCHEMA("acl rule", struct pe_acl_cfg, acl_rows, NULL);

static const struct cfg_field chain_elem = {
	.key = "device", .type = CFG_STRING, .size = PE_NAME_LEN, .min = 1,
};

static const struct cfg_field service_rows[] = {
	{ .key = "name", .type = CFG_STRING, CFG_AT(struct pe_service_cfg, name),
	  .required = true, .min = 1 },
	{ .key = "address", .type = CFG_ADDR, CFG_AT(struct pe_service_cfg, address),
	  .required = true },
	{ .key = "protocol", .type = CFG_ENUM, CFG_AT(struct pe_service_cfg, protocol),
	  .names = svc_protocols, .def = "tcp" },
	{ .key = "interface", .type = CFG_STRING, CFG_AT(struct pe_service_cfg, interface),
	  .required = true, .min = 1 },
	{ .key = "ports", .type = CFG_LIST_MAP, CFG_AT(struct pe_service_cfg, ports),
	  CFG_COUNT(struct pe_service_cfg, n_ports), .sub = &port_schema, .required = true },
	{ .key = "chain", .type = CFG_LIST, CFG_AT(struct pe_service_cfg, chain),
	  CFG_COUNT(struct pe_service_cfg, n_chain), .elem = &chain_elem, .required = true },
	{ .key = "copies", .type = CFG_LIST_MAP, CFG_AT(struct pe_service_cfg, copies),
	  CFG_COUNT(struct pe_service_cfg, n_copies), .sub = &copy_schema },
	{ .key = "acl-default", .type = CFG_ENUM, CFG_AT(struct pe_service_cfg, acl_default),
	  .names = actions, .def = "permit" },
	{ .key = "acl", .type = CFG_LIST_MAP, CFG_AT(struct pe_service_cfg, acl),
	  CFG_COUNT(struct pe_service_cfg, n_acl), .sub = &acl_schema },
	{ .key = "dscp", .type = CFG_INT, CFG_AT(struct pe_service_cfg, dscp), .def = "-1",
	  .smin = -1, .smax = 63 },
};
static const struct cfg_schema service_schema =
	CFG_SCHEMA("service", struct pe_service_cfg, service_rows, NULL);

/* ---- verify ----------------------------------------------------------------- */

int pe_defs_iface(const struct pe_defs *d, const char *name)
{
	for (unsigned i = 0; i < d->n_interfaces; i++)
		if (!strcmp(d->interfaces[i].name, name))
			return (int)i;
	return -1;
}

bool pe_defs_same_interfaces(const struct pe_defs *a, const struct pe_defs *b)
{
	/* both loaded into zeroed structs: padding and unused entries compare */
	return a->n_interfaces == b->n_interfaces &&
	       !memcmp(a->interfaces, b->interfaces, sizeof(a->interfaces));
}

static int device_index(const struct pe_defs *d, const char *name)
{
	for (unsigned i = 0; i < d->n_devices; i++)
		if (!strcmp(d->devices[i].name, name))
			return (int)i;
	return -1;
}

static bool addr_zero(const uint8_t a[16])
{
	static const uint8_t z[16];

	return !memcmp(a, z, 16) || (key_addr_is_v4(a) && !memcmp(a + 12, z, 4));
}

#define WHERE(buf, ...) (snprintf(buf, sizeof(buf), __VA_ARGS__), buf)

/*
 * The rules of the definitions report through this, so that the file's
 * loader (cfg_verify_error) and a provisioner's push (pe_defs_verify's
 * caller) check them with the same code.
 */
struct pe_report {
	pe_build_err_fn *fn;
	void *arg;
};

static void LOOM_PRINTF(3, 4) say(const struct pe_report *v, const char *where,
				  const char *fmt, ...)
{
	char msg[CFG_DIAG_LEN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	v->fn(v->arg, where, msg);
}

static void verify_devices(const struct pe_report *v, const struct pe_defs *d)
{
	char w[96];

	for (unsigned i = 0; i < d->n_devices; i++) {
		const struct pe_device_cfg *dev = &d->devices[i];

		if (pe_defs_iface(d, dev->interface) < 0)
			say(v, WHERE(w, "devices[%u].interface", i),
			    "no interface named '%s'", dev->interface);
		if (dev->out_interface[0] && pe_defs_iface(d, dev->out_interface) < 0)
			say(v, WHERE(w, "devices[%u].out-interface", i),
			    "no interface named '%s'", dev->out_interface);
		if (dev->mode == SEQ_MODE_NAT && addr_zero(dev->address))
			say(v, WHERE(w, "devices[%u].address", i),
			    "a nat device needs its own address");
		if (dev->alternate[0] && device_index(d, dev->alternate) < 0)
			say(v, WHERE(w, "devices[%u].alternate", i),
			    "no device named '%s'", dev->alternate);
		for (unsigned j = 0; j < i; j++)
			if (!strcmp(dev->name, d->devices[j].name))
				say(v, WHERE(w, "devices[%u].name", i),
				    "same name as devices[%u]", j);
	}
}

static bool ranges_overlap(unsigned alo, unsigned ahi, unsigned blo, unsigned bhi)
{
	return alo <= bhi && blo <= ahi;
}

/* Would packets of ports a and b (each a port and maybe a dynamic range)
 * be told apart? */
static bool ports_clash(const struct pe_port_cfg *a, const struct pe_port_cfg *b)
{
	const struct pe_range *ad = &a->dynamic, *bd = &b->dynamic;

	return a->port == b->port ||
	       (bd->hi && ranges_overlap(a->port, a->port, bd->lo, bd->hi)) ||
	       (ad->hi && ranges_overlap(b->port, b->port, ad->lo, ad->hi)) ||
	       (ad->hi && bd->hi && ranges_overlap(ad->lo, ad->hi, bd->lo, bd->hi));
}

static void verify_ports(const struct pe_report *v, unsigned si, const struct pe_service_cfg *s)
{
	char w[96];

	for (unsigned p = 0; p < s->n_ports; p++) {
		const struct pe_port_cfg *a = &s->ports[p];

		if (a->dynamic.hi && a->translate)
			say(v, WHERE(w, "services[%u].ports[%u]", si, p),
			    "translate-to and a dynamic range do not mix: the "
			    "negotiated ports go to the server as they are");
		if (a->dynamic.hi && ranges_overlap(a->port, a->port, a->dynamic.lo, a->dynamic.hi))
			say(v, WHERE(w, "services[%u].ports[%u].dynamic", si, p),
			    "holds the service port itself");
		for (unsigned q = 0; q < p; q++)
			if (ports_clash(a, &s->ports[q]))
				say(v, WHERE(w, "services[%u].ports[%u]", si, p),
				    "overlaps ports[%u] (each port and dynamic range "
				    "belongs to one service port)", q);
	}
}

static void verify_service(const struct pe_report *v, const struct pe_defs *d, unsigned si)
{
	const struct pe_service_cfg *s = &d->services[si];
	char w[96];
	int ci = pe_defs_iface(d, s->interface);

	if (ci < 0)
		say(v, WHERE(w, "services[%u].interface", si),
		    "no interface named '%s'", s->interface);
	else if (d->interfaces[ci].role != PE_ROLE_CLIENT)
		say(v, WHERE(w, "services[%u].interface", si),
		    "'%s' is not a client interface", s->interface);
	if (!s->n_chain)
		say(v, WHERE(w, "services[%u].chain", si),
		    "needs at least the server");
	for (unsigned c = 0; c < s->n_chain; c++) {
		int di = device_index(d, s->chain[c]);

		if (di < 0) {
			say(v, WHERE(w, "services[%u].chain[%u]", si, c),
			    "no device named '%s'", s->chain[c]);
			continue;
		}
		if (d->devices[di].mode == SEQ_MODE_NAT && c + 1 != s->n_chain)
			say(v, WHERE(w, "services[%u].chain[%u]", si, c),
			    "'%s' is a nat device: only the server (the last) may "
			    "be", s->chain[c]);
		if (d->devices[di].mode == SEQ_MODE_NAT &&
		    key_addr_is_v4(d->devices[di].address) != key_addr_is_v4(s->address))
			say(v, WHERE(w, "services[%u].chain[%u]", si, c),
			    "'%s' has an address of another family than the "
			    "service", s->chain[c]);
		for (unsigned e = 0; e < c; e++)
			if (!strcmp(s->chain[e], s->chain[c]))
				say(v, WHERE(w, "services[%u].chain[%u]", si, c),
				    "'%s' is in the chain twice", s->chain[c]);
	}
	for (unsigned c = 0; c < s->n_copies; c++) {
		const struct pe_copy_cfg *cp = &s->copies[c];
		bool in_chain = false;

		if (device_index(d, cp->receiver) < 0)
			say(v, WHERE(w, "services[%u].copies[%u].receiver", si, c),
			    "no device named '%s'", cp->receiver);
		for (unsigned e = 0; e < s->n_chain; e++)
			in_chain |= !strcmp(s->chain[e], cp->at);
		if (!in_chain)
			say(v, WHERE(w, "services[%u].copies[%u].at", si, c),
			    "'%s' is not in the chain", cp->at);
	}
	for (unsigned a = 0; a < s->n_acl; a++)
		if (s->acl[a].client.v4 != key_addr_is_v4(s->address) && s->acl[a].client.len)
			say(v, WHERE(w, "services[%u].acl[%u].client", si, a),
			    "not of the service address's family");
	verify_ports(v, si, s);
	for (unsigned j = 0; j < si; j++)
		if (!strcmp(s->name, d->services[j].name))
			say(v, WHERE(w, "services[%u].name", si),
			    "same name as services[%u]", j);
}

/* The rules that span devices and services, then the steps themselves. */
static void verify_defs(const struct pe_report *r, const struct pe_defs *d)
{
	int rc;

	verify_devices(r, d);
	for (unsigned i = 0; i < d->n_services; i++)
		verify_service(r, d, i);
	/* ambiguous steps only show once the steps are built: build them now,
	 * so `-n` and a push find every mistake a reload would */
	seq_builder_free(pe_defs_build(d, r->fn, r->arg, &rc));
	if (rc && rc != -EINVAL)
		say(r, "services", "building the steps: %s", strerror(-rc));
}

static void report_cfg(void *arg, const char *where, const char *msg)
{
	cfg_verify_error(arg, where, "%s", msg);
}

struct counted {
	struct pe_report to;
	unsigned n;
};

static void count_err(void *arg, const char *where, const char *msg)
{
	struct counted *c = arg;

	c->n++;
	if (c->to.fn)
		c->to.fn(c->to.arg, where, msg);
}

int pe_defs_verify(const struct pe_defs *d, pe_build_err_fn *err, void *arg)
{
	struct counted c = { { err, arg }, 0 };

	verify_defs(&(struct pe_report){ count_err, &c }, d);
	return c.n ? -EINVAL : 0;
}

static void verify_config(struct cfg_verify *v, const void *obj)
{
	const struct pe_config *c = obj;
	const struct pe_defs *d = &c->defs;
	char w[96];

	if (c->instance[strspn(c->instance, "abcdefghijklmnopqrstuvwxyz"
				  "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")])
		cfg_verify_error(v, "instance", "letters, digits, '_' and '-' only");
	for (unsigned i = 0; i < d->n_interfaces; i++) {
		const struct pe_iface_cfg *f = &d->interfaces[i];

		if (c->backend == PE_IO_PCAP && !f->pcap_in[0] && !f->pcap_out[0])
			cfg_verify_error(v, WHERE(w, "interfaces[%u]", i),
					 "the pcap back end needs pcap-in or pcap-out");
		if (c->backend != PE_IO_PCAP && (f->pcap_in[0] || f->pcap_out[0]))
			cfg_verify_error(v, WHERE(w, "interfaces[%u]", i),
					 "pcap-in/pcap-out are for the pcap back end");
		if (f->role == PE_ROLE_CLIENT && pe_mac_zero(f->gateway_mac))
			cfg_verify_error(v, WHERE(w, "interfaces[%u].gateway-mac", i),
					 "a client interface needs the MAC of the router replies "
					 "go to");
		for (unsigned j = 0; j < i; j++)
			if (!strcmp(f->name, d->interfaces[j].name))
				cfg_verify_error(v, WHERE(w, "interfaces[%u].name", i),
						 "same name as interfaces[%u]", j);
	}
	if (c->role == PE_HA_SECONDARY && !c->primary_control[0])
		cfg_verify_error(v, "primary-control", "a secondary needs the primary's control "
				 "socket to hear its heartbeats");
	if (c->role == PE_HA_SECONDARY && c->takeover_ms <= c->heartbeat_ms)
		cfg_verify_error(v, "takeover-after", "must be longer than the heartbeat");
	verify_defs(&(struct pe_report){ report_cfg, v }, d);
}

static const struct cfg_field config_rows[] = {
	{ .key = "instance", .type = CFG_STRING, CFG_AT(struct pe_config, instance),
	  .required = true, .min = 1 },
	{ .key = "log-level", .type = CFG_ENUM, CFG_AT(struct pe_config, log_level),
	  .names = log_levels, .def = "notice" },
	{ .key = "backend", .type = CFG_ENUM, CFG_AT(struct pe_config, backend), .names = backends,
	  .def = "afpacket" },
	{ .key = "workers", .type = CFG_UINT, CFG_AT(struct pe_config, workers), .def = "0",
	  .max = 64 },
	{ .key = "ring-frames", .type = CFG_UINT, CFG_AT(struct pe_config, ring_frames),
	  .def = "256", .min = 16, .max = 65536 },
	{ .key = "fanout-id", .type = CFG_UINT, CFG_AT(struct pe_config, fanout_id),
	  .def = "4343", .max = 65000 },
	{ .key = "reader-slots", .type = CFG_UINT, CFG_AT(struct pe_config, reader_slots),
	  .def = "64", .min = 8, .max = 4096 },
	{ .key = "copy-room", .type = CFG_SIZE, CFG_AT(struct pe_config, copy_room),
	  .def = "256K", .min = 2048, .max = 64u << 20 },
	{ .key = "pcap-real-time", .type = CFG_BOOL, CFG_AT(struct pe_config, pcap_real_time),
	  .def = "false" },
	{ .key = "user", .type = CFG_STRING, CFG_AT(struct pe_config, user), .def = "" },
	{ .key = "metrics", .type = CFG_STRING, CFG_AT(struct pe_config, metrics), .def = "" },
	{ .key = "ingress-filter", .type = CFG_BOOL, CFG_AT(struct pe_config, ingress_filter),
	  .def = "true" },
	{ .key = "stats-file", .type = CFG_STRING, CFG_AT(struct pe_config, stats_file),
	  .def = "" },
	{ .key = "exit-on-eof", .type = CFG_BOOL, CFG_AT(struct pe_config, exit_on_eof),
	  .def = "false" },
	{ .key = "probe-interval", .type = CFG_DURATION,
	  CFG_AT(struct pe_config, probe_interval_ms), .def = "200ms", .max = 60000 },
	{ .key = "probe-fail", .type = CFG_UINT, CFG_AT(struct pe_config, probe_fail),
	  .def = "3", .min = 1, .max = 1000 },
	{ .key = "probe-recover", .type = CFG_UINT, CFG_AT(struct pe_config, probe_recover),
	  .def = "5", .min = 1, .max = 1000 },
	{ .key = "control", .type = CFG_STRING, CFG_AT(struct pe_config, control), .def = "" },
	{ .key = "provisioning", .type = CFG_MAP, CFG_AT(struct pe_config, prov),
	  .sub = &provchan_cfg_schema },
	{ .key = "trial-timeout-ms", .type = CFG_UINT,
	  CFG_AT(struct pe_config, trial_timeout_ms), .def = "1000", .min = 100, .max = 60000 },
	{ .key = "role", .type = CFG_ENUM, CFG_AT(struct pe_config, role), .names = ha_roles,
	  .def = "primary" },
	{ .key = "primary-control", .type = CFG_STRING, CFG_AT(struct pe_config, primary_control),
	  .def = "" },
	{ .key = "heartbeat", .type = CFG_DURATION, CFG_AT(struct pe_config, heartbeat_ms),
	  .def = "100ms", .max = 60000 },
	{ .key = "takeover-after", .type = CFG_DURATION, CFG_AT(struct pe_config, takeover_ms),
	  .def = "500ms", .min = 1, .max = 600000 },
	{ .key = "definitions-version", .type = CFG_UINT, CFG_AT(struct pe_config, defs.version),
	  .def = "1" },
	{ .key = "interfaces", .type = CFG_LIST_MAP, CFG_AT(struct pe_config, defs.interfaces),
	  CFG_COUNT(struct pe_config, defs.n_interfaces), .sub = &iface_schema,
	  .required = true },
	{ .key = "devices", .type = CFG_LIST_MAP, CFG_AT(struct pe_config, defs.devices),
	  CFG_COUNT(struct pe_config, defs.n_devices), .sub = &device_schema },
	{ .key = "services", .type = CFG_LIST_MAP, CFG_AT(struct pe_config, defs.services),
	  CFG_COUNT(struct pe_config, defs.n_services), .sub = &service_schema },
};

const struct cfg_schema pe_config_schema =
	CFG_SCHEMA("pkt-engine", struct pe_config, config_rows, verify_config);

/*
 * A provisioner's document: the definitions without the daemon's settings.
 * interfaces are the engine's own (its sockets): a document leaves them
 * out, and one that names them must name the running ones (pe_prov.c).
 * The rules that need the interfaces run after they are filled in
 * (pe_defs_verify), so this table checks only the shape.
 */
static const struct cfg_field push_rows[] = {
	{ .key = "interfaces", .type = CFG_LIST_MAP, CFG_AT(struct pe_defs, interfaces),
	  CFG_COUNT(struct pe_defs, n_interfaces), .sub = &iface_schema },
	{ .key = "devices", .type = CFG_LIST_MAP, CFG_AT(struct pe_defs, devices),
	  CFG_COUNT(struct pe_defs, n_devices), .sub = &device_schema },
	{ .key = "services", .type = CFG_LIST_MAP, CFG_AT(struct pe_defs, services),
	  CFG_COUNT(struct pe_defs, n_services), .sub = &service_schema },
};

const struct cfg_schema pe_push_schema =
	CFG_SCHEMA("pkt-engine push", struct pe_defs, push_rows, NULL);

/* ---- definitions -> sequence steps -------------------------------------------- */

int pe_defs_in_place(const struct pe_defs *d, unsigned di)
{
	unsigned cur = di;

	/* alternates may chain (fw -> fw2 -> fw3) and even loop: bounded walk */
	for (unsigned hops = 0; hops < d->n_devices && cur < d->n_devices; hops++) {
		if (!d->devices[cur].down)
			return (int)cur;
		int alt = d->devices[cur].alternate[0] ? device_index(d, d->devices[cur].alternate)
						       : -1;
		if (alt < 0)
			break;
		cur = (unsigned)alt;
	}
	return (int)di; /* nothing up to stand in: its steps drop as device_down */
}

struct build {
	const struct pe_defs *d;
	struct seq_builder *b;
	pe_build_err_fn *err;
	void *arg;
	int rc;
	int dev_idx[PE_MAX_DEVICES]; /* config index -> snapshot device index */
};

static void fail(struct build *x, int rc, const char *where, const char *msg)
{
	if (!x->rc || x->rc == -EINVAL)
		x->rc = rc;
	if (x->err)
		x->err(x->arg, where, msg);
}

/* Where a device's arms are: in (towards the client side) and out. */
struct arms {
	uint8_t in_if, out_if;
	const uint8_t *in_mac, *out_mac;
};

static struct arms arms_of(const struct pe_defs *d, const struct pe_device_cfg *dev)
{
	struct arms a;
	int in = pe_defs_iface(d, dev->interface);
	int out = dev->out_interface[0] ? pe_defs_iface(d, dev->out_interface) : in;

	a.in_if = (uint8_t)(in < 0 ? 0 : in);
	a.out_if = (uint8_t)(out < 0 ? a.in_if : out);
	a.in_mac = dev->mac;
	a.out_mac = pe_mac_zero(dev->out_mac) ? dev->mac : dev->out_mac;
	return a;
}

static void add(struct build *x, const struct seq_entry *e, const struct seq_copy *cp,
		uint32_t ncp, const char *where)
{
	uint32_t clash;
	int r = seq_add_entry(x->b, e, cp, ncp, &clash);
	char msg[160];

	if (r == -EEXIST) {
		const struct seq_entry *o = seq_builder_entry(x->b, clash);
		snprintf(msg, sizeof(msg), "its %s step on interface %s takes the same packets "
			 "as another service's (ports %u-%u)",
			 e->dir == SEQ_DIR_FWD ? "forward" : "reply",
			 x->d->interfaces[e->ingress].name, o ? o->port_lo : 0, o ? o->port_hi : 0);
		fail(x, -EINVAL, where, msg);
	} else if (r < 0) {
		fail(x, r, where, "cannot add a step");
	}
}

/* The copies a service sends of what goes to / comes from chain device `at`. */
static uint32_t copies_at(struct build *x, const struct pe_service_cfg *s, const char *at,
			  struct seq_copy *out)
{
	uint32_t n = 0;

	for (unsigned c = 0; c < s->n_copies; c++) {
		int di = device_index(x->d, s->copies[c].receiver);
		if (strcmp(s->copies[c].at, at) || di < 0)
			continue;
		struct arms a = arms_of(x->d, &x->d->devices[di]);
		memset(&out[n], 0, sizeof(out[n]));
		memcpy(out[n].dst_mac, a.in_mac, 6);
		out[n].egress = a.in_if;
		out[n].device = (uint32_t)x->dev_idx[di];
		n++;
	}
	return n;
}

/*
 * The steps of one service port range through chain d[0..k] (k: the
 * server), forward then reply. xlat: the server's own port (0: none).
 */
static void add_range(struct build *x, unsigned si, unsigned pi, uint16_t lo, uint16_t hi,
		      uint16_t xlat, uint32_t stat, uint32_t acl)
{
	const struct pe_defs *d = x->d;
	const struct pe_service_cfg *s = &d->services[si];
	int ci = pe_defs_iface(d, s->interface);
	unsigned k = s->n_chain - 1;
	const struct pe_device_cfg *dev[PE_MAX_CHAIN];
	int di[PE_MAX_CHAIN];
	struct arms a[PE_MAX_CHAIN];
	struct seq_copy cp[PE_MAX_COPIES];
	char where[64];

	snprintf(where, sizeof(where), "services[%u].ports[%u]", si, pi);
	for (unsigned i = 0; i <= k; i++) {
		di[i] = pe_defs_in_place(d, (unsigned)device_index(d, s->chain[i]));
		dev[i] = &d->devices[di[i]];
		a[i] = arms_of(d, dev[i]);
	}
	bool nat = dev[k]->mode == SEQ_MODE_NAT;
	struct seq_entry base = { .proto = pe_proto_number(s->protocol + 1), .stat = stat,
				  .acl = SEQ_NONE };

	if (s->dscp >= 0) {
		base.flags |= SEQ_F_DSCP;
		base.dscp = (uint8_t)s->dscp;
	}
	for (unsigned i = 0; i <= k; i++) {
		struct seq_entry e = base;

		memcpy(e.addr, s->address, 16);
		e.port_lo = lo;
		e.port_hi = hi;
		e.dir = SEQ_DIR_FWD;
		e.ingress = (uint8_t)(i ? a[i - 1].out_if : ci);
		if (i) {
			e.flags |= SEQ_F_SRC_MAC;
			memcpy(e.src_mac, a[i - 1].out_mac, 6);
		} else {
			e.acl = acl;
		}
		e.egress = a[i].in_if;
		memcpy(e.dst_mac, a[i].in_mac, 6);
		e.mode = (uint8_t)dev[i]->mode;
		e.device = (uint32_t)x->dev_idx[di[i]];
		if (i == k && nat) {
			e.flags |= SEQ_F_NAT;
			memcpy(e.addr2, dev[k]->address, 16);
		}
		if (i == k && xlat) {
			e.flags |= SEQ_F_XLAT;
			e.xlat_from = lo;
			e.xlat_to = xlat;
		}
		add(x, &e, cp, copies_at(x, s, s->chain[i], cp), where);
	}
	for (unsigned i = k + 1; i-- > 0;) {
		struct seq_entry e = base;

		e.dir = SEQ_DIR_REPLY;
		memcpy(e.addr, i == k && nat ? dev[k]->address : s->address, 16);
		e.port_lo = i == k && xlat ? xlat : lo;
		e.port_hi = i == k && xlat ? xlat : hi;
		e.ingress = a[i].in_if;
		e.flags |= SEQ_F_SRC_MAC;
		memcpy(e.src_mac, a[i].in_mac, 6);
		if (i) {
			e.egress = a[i - 1].out_if;
			memcpy(e.dst_mac, a[i - 1].out_mac, 6);
			e.mode = (uint8_t)dev[i - 1]->mode;
		} else {
			e.egress = (uint8_t)ci;
			memcpy(e.dst_mac, d->interfaces[ci].gateway_mac, 6);
			e.mode = SEQ_MODE_ROUTE;
		}
		e.device = (uint32_t)x->dev_idx[di[i]];
		if (i == k && nat) {
			e.flags |= SEQ_F_NAT;
			memcpy(e.addr2, s->address, 16);
		}
		if (i == k && xlat) {
			e.flags |= SEQ_F_XLAT;
			e.xlat_from = xlat;
			e.xlat_to = lo;
		}
		add(x, &e, cp, copies_at(x, s, s->chain[i], cp), where);
	}
}

static void build_service(struct build *x, unsigned si)
{
	const struct pe_service_cfg *s = &x->d->services[si];
	struct seq_acl_rule rules[PE_MAX_ACL];
	uint32_t acl = SEQ_NONE;
	int r;

	/* the schema verified the references; a stale one is a bug, not a crash */
	if (pe_defs_iface(x->d, s->interface) < 0 || !s->n_chain)
		return;
	for (unsigned c = 0; c < s->n_chain; c++)
		if (device_index(x->d, s->chain[c]) < 0)
			return;
	if (s->n_acl || s->acl_default != SEQ_ACL_PERMIT) {
		for (unsigned i = 0; i < s->n_acl; i++) {
			const struct pe_acl_cfg *a = &s->acl[i];
			memset(&rules[i], 0, sizeof(rules[i]));
			memcpy(rules[i].addr, a->client.addr, 16);
			memcpy(rules[i].mask, a->client.mask, 16);
			rules[i].port_lo = a->ports.lo;
			rules[i].port_hi = a->ports.hi;
			rules[i].proto = pe_proto_number(a->protocol);
			rules[i].action = (uint8_t)a->action;
		}
		if ((r = seq_add_acl_set(x->b, s->acl_default, rules, s->n_acl)) < 0) {
			fail(x, r, "", "cannot add an ACL set");
			return;
		}
		acl = (uint32_t)r;
	}
	for (unsigned p = 0; p < s->n_ports; p++) {
		const struct pe_port_cfg *pc = &s->ports[p];
		struct seq_stat st = { .port = pc->port, .port_hi = pc->port,
				       .proto = pe_proto_number(s->protocol + 1) };

		memcpy(st.addr, s->address, 16);
		snprintf(st.service, sizeof(st.service), "%s", s->name);
		if ((r = seq_add_stat(x->b, &st)) < 0) {
			fail(x, r, "", "cannot add a statistics slot");
			return;
		}
		add_range(x, si, p, pc->port, pc->port, pc->translate, (uint32_t)r, acl);
		if (!pc->dynamic.hi)
			continue;
		st.port = pc->dynamic.lo;
		st.port_hi = pc->dynamic.hi;
		if ((r = seq_add_stat(x->b, &st)) < 0) {
			fail(x, r, "", "cannot add a statistics slot");
			return;
		}
		add_range(x, si, p, pc->dynamic.lo, pc->dynamic.hi, 0, (uint32_t)r, acl);
	}
}

struct seq_builder *pe_defs_build(const struct pe_defs *defs, pe_build_err_fn *err, void *arg,
				  int *rc)
{
	struct build x = { .d = defs, .err = err, .arg = arg };

	x.b = seq_builder_new();
	if (!x.b) {
		*rc = -ENOMEM;
		return NULL;
	}
	for (unsigned i = 0; i < defs->n_devices && i < PE_MAX_DEVICES; i++) {
		const struct pe_device_cfg *dc = &defs->devices[i];
		struct seq_device sd = { .mode = (uint8_t)dc->mode,
					 .state = dc->down ? SEQ_DEV_DOWN : SEQ_DEV_UP,
					 .alternate = SEQ_NONE };
		int alt = dc->alternate[0] ? device_index(defs, dc->alternate) : -1;

		snprintf(sd.name, sizeof(sd.name), "%s", dc->name);
		memcpy(sd.mac, dc->mac, 6);
		memcpy(sd.addr, dc->address, 16);
		if (alt >= 0)
			sd.alternate = (uint32_t)alt; /* config order == snapshot order */
		int r = seq_add_device(x.b, &sd);
		if (r < 0) {
			fail(&x, r, "", "cannot add a device");
			break;
		}
		x.dev_idx[i] = r;
	}
	/* after an ambiguity, go on: every one of them is reported */
	for (unsigned i = 0; (!x.rc || x.rc == -EINVAL) && i < defs->n_services; i++)
		build_service(&x, i);
	*rc = x.rc;
	if (x.rc) {
		seq_builder_free(x.b);
		return NULL;
	}
	return x.b;
}
