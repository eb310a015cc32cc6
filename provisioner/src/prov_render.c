// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * What each daemon is sent, from a version's document, in the daemon's own
 * configuration schema, so it reads a push with the rows it reads its file
 * with. The pkt-engine gets `devices:` and `services:` of its definitions
 * (pkt-engine/src/pe_config.c): every device with its pool's function, the
 * interface of its segment and its alternate; every service as its chain in
 * the order traffic takes it (the package's, or the service's override), its
 * ports, the interface of its IP pool (where its clients arrive) and its
 * ACLs in rule order. The svc-mgr gets the virtual services and NAT pools as
 * the `services:` of its own configuration. Beside the definitions, each
 * rendering names its target and version; prov_render_document() is what
 * is pushed: the definitions alone.
 */
#include <stdlib.h>
#include <string.h>

#include "prov_version.h"

static const json_t *by_id(const json_t *doc, const char *table, json_int_t id)
{
	const json_t *arr = json_object_get(json_object_get(doc, "resources"), table), *o;
	size_t i;

	json_array_foreach(arr, i, o)
		if (json_integer_value(json_object_get(o, "id")) == id)
			return o;
	return NULL;
}

static json_int_t ref(const json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

/* The name of what o's key refers to in table, or NULL (none, or null). */
static json_t *name_of(const json_t *doc, const char *table, const json_t *o,
		       const char *key)
{
	return json_object_get(by_id(doc, table, ref(o, key)), "name");
}

/*
 * A device as the engine's `devices:` has it: the engine reaches it on the
 * interface of its segment (and its second arm, if it has one, on its
 * out_segment's). A device without a segment gets no interface, which the
 * engine refuses by name if a push carries it.
 */
static json_t *engine_device(const json_t *doc, const json_t *d)
{
	const json_t *seg = by_id(doc, "segments", ref(d, "segment"));
	json_t *ifc = name_of(doc, "interfaces", seg, "interface");
	json_t *alt = name_of(doc, "devices", d, "alternate");
	const json_t *fn = json_object_get(by_id(doc, "device_pools", ref(d, "pool")), "function");
	json_t *o = json_pack("{s:O, s:O, s:O, s:O, s:O}", "name", json_object_get(d, "name"),
			      "function", fn, "mac", json_object_get(d, "mac"),
			      "address", json_object_get(d, "address"),
			      "mode", json_object_get(d, "mode"));

	const json_t *oseg = by_id(doc, "segments", ref(d, "out_segment"));
	json_t *oifc = name_of(doc, "interfaces", oseg, "interface");
	json_t *omac = json_object_get(d, "out_mac");

	if (ifc)
		json_object_set(o, "interface", ifc);
	if (alt)
		json_object_set(o, "alternate", alt);
	/* two arms: the engine sends to mac and gets it back from out-mac on
	 * out-interface (either alone: the same as the first arm's) */
	if (oifc)
		json_object_set(o, "out-interface", oifc);
	if (json_is_string(omac))
		json_object_set(o, "out-mac", omac);
	return o;
}

/* The device names in the order traffic crosses them: the package's, or the
 * service's override (order[k]: the step taken k-th). */
static json_t *engine_chain(const json_t *doc, const json_t *svc)
{
	const json_t *devs = json_object_get(svc, "devices");
	const json_t *order = json_object_get(svc, "order");
	json_t *chain = json_array();

	for (size_t k = 0; k < json_array_size(devs); k++) {
		size_t s = json_array_size(order) ? (size_t)json_integer_value(json_array_get(order, k))
						  : k;
		const json_t *d = by_id(doc, "devices", json_integer_value(json_array_get(devs, s)));
		json_array_append(chain, json_object_get(d, "name"));
	}
	return chain;
}

static int by_position(const void *a, const void *b)
{
	json_int_t x = ref(*(const json_t *const *)a, "position");
	json_int_t y = ref(*(const json_t *const *)b, "position");

	return (x > y) - (x < y);
}

/* The service's ACLs in rule order (ascending position). */
static json_t *acls_of(const json_t *doc, json_int_t service)
{
	json_t *arr = json_object_get(json_object_get(doc, "resources"), "acls"), *a;
	json_t **sel = calloc(json_array_size(arr) + 1, sizeof(*sel));
	json_t *out = json_array();
	size_t i, n = 0;

	if (!sel)
		return out;
	json_array_foreach(arr, i, a)
		if (ref(a, "service") == service)
			sel[n++] = a;
	qsort(sel, n, sizeof(sel[0]), by_position);
	for (i = 0; i < n; i++)
		json_array_append(out, sel[i]);
	free(sel);
	return out;
}

/* A model port {port, port_end} is every port of port..port_end on the same
 * chain: the engine's port with the rest as its dynamic range. */
static json_t *engine_port(const json_t *p)
{
	json_int_t lo = ref(p, "port"), hi = ref(p, "port_end");

	if (hi <= lo)
		return json_pack("{s:I}", "port", lo);
	return json_pack("{s:I, s:o}", "port", lo, "dynamic",
			 json_sprintf("%" JSON_INTEGER_FORMAT "-%" JSON_INTEGER_FORMAT, lo + 1,
				      hi));
}

/*
 * The service's ACLs for its `proto` ports arriving on interface ifc, in
 * rule order. The engine checks a service's rules where its clients
 * arrive, on packets of the service's protocol: a rule for another
 * ingress interface, or for ICMP, never matches there and is left out.
 */
static json_t *engine_acl(const json_t *acls, json_int_t ifc, const char *proto)
{
	const json_t *a;
	json_t *out = json_array();
	size_t i;

	json_array_foreach(acls, i, a) {
		const char *p = json_string_value(json_object_get(a, "protocol"));
		json_t *src = json_object_get(a, "source");
		json_int_t lo = ref(a, "port"), hi = ref(a, "port_end");
		json_t *rule;

		if ((json_is_integer(json_object_get(a, "interface")) && ref(a, "interface") != ifc) ||
		    (strcmp(p, "any") && strcmp(p, proto)))
			continue;
		rule = json_pack("{s:s, s:s}", "action",
				 !strcmp(json_string_value(json_object_get(a, "action")), "allow") ?
				 "permit" : "deny", "protocol", p);
		if (json_is_string(src))
			json_object_set(rule, "client", src);
		if (lo)
			json_object_set_new(rule, "ports", hi > lo ?
				json_sprintf("%" JSON_INTEGER_FORMAT "-%" JSON_INTEGER_FORMAT, lo, hi) :
				json_sprintf("%" JSON_INTEGER_FORMAT, lo));
		json_array_append_new(out, rule);
	}
	return out;
}

/*
 * The engine serves one protocol per service: a model service with tcp and
 * udp ports is two, the udp one named NAME/udp (a model name has no '/').
 */
static void engine_service(const json_t *doc, const json_t *svc, json_t *out)
{
	static const char *const protos[] = { "tcp", "udp" };
	const json_t *pool = by_id(doc, "ip_pools", ref(svc, "pool"));
	json_t *ifc = name_of(doc, "interfaces", pool, "interface");
	json_t *acls = acls_of(doc, ref(svc, "id"));
	bool named = false;

	for (size_t k = 0; k < LOOM_ARRAY_SIZE(protos); k++) {
		json_t *ports = json_array(), *o;
		const json_t *p;
		size_t i;

		json_array_foreach(json_object_get(svc, "ports"), i, p)
			if (!strcmp(json_string_value(json_object_get(p, "protocol")), protos[k]))
				json_array_append_new(ports, engine_port(p));
		if (!json_array_size(ports)) {
			json_decref(ports);
			continue;
		}
		o = json_pack("{s:o, s:O, s:s, s:o, s:o, s:o}", "name", named ?
			      json_sprintf("%s/%s", json_string_value(json_object_get(svc, "name")),
					   protos[k]) : json_deep_copy(json_object_get(svc, "name")),
			      "address", json_object_get(svc, "address"), "protocol", protos[k],
			      "ports", ports, "chain", engine_chain(doc, svc),
			      "acl", engine_acl(acls, ref(pool, "interface"), protos[k]));
		if (ifc)
			json_object_set(o, "interface", ifc);
		json_array_append_new(out, o);
		named = true;
	}
	json_decref(acls);
}

/* 30000 -> "30000ms": durations as the daemons' schemas write them */
static json_t *duration_ms(const json_t *ms)
{
	return json_sprintf("%" JSON_INTEGER_FORMAT "ms", json_integer_value(ms));
}

static json_t *health(const json_t *vs)
{
	const char *type = json_string_value(json_object_get(vs, "health"));
	json_t *h = json_pack("{s:s, s:o, s:o}", "type", type,
			      "interval", duration_ms(json_object_get(vs, "health_interval_ms")),
			      "timeout", duration_ms(json_object_get(vs, "health_timeout_ms")));

	if (!strcmp(type, "http"))
		json_object_set(h, "path", json_object_get(vs, "health_path"));
	return h;
}

static json_t *lb_service(const json_t *vs)
{
	const json_t *b;
	json_t *backends = json_array();
	size_t i;

	json_array_foreach(json_object_get(vs, "backends"), i, b)
		json_array_append_new(backends, json_pack("{s:O, s:O, s:O}",
			"address", json_object_get(b, "address"), "port", json_object_get(b, "port"),
			"weight", json_object_get(b, "weight")));
	return json_pack("{s:O, s:s, s:O, s:O, s:O, s:O, s:o, s:O, s:o, s:o}",
			 "name", json_object_get(vs, "name"), "type", "lb",
			 "protocol", json_object_get(vs, "protocol"),
			 "address", json_object_get(vs, "address"),
			 "port", json_object_get(vs, "port"),
			 "algorithm", json_object_get(vs, "algorithm"),
			 "persistence", json_sprintf("%" JSON_INTEGER_FORMAT "s",
				json_integer_value(json_object_get(vs, "persistence_s"))),
			 "clients", json_object_get(vs, "client_domains"),
			 "health", health(vs), "backends", backends);
}

/* A NAT pool with no inside networks translates every client of its family. */
static json_t *nat_service(const json_t *np)
{
	const json_t *inside = json_object_get(np, "inside");
	const char *prefix = json_string_value(json_object_get(np, "prefix"));
	json_t *clients = json_array_size(inside) ? json_deep_copy(inside) :
			  json_pack("[s]", strchr(prefix, ':') ? "::/0" : "0.0.0.0/0");

	return json_pack("{s:O, s:s, s:s, s:o, s:[O], s:O, s:O}",
			 "name", json_object_get(np, "name"), "type", "nat", "protocol", "any",
			 "clients", clients, "pool", json_object_get(np, "prefix"),
			 "port-min", json_object_get(np, "port_min"),
			 "port-max", json_object_get(np, "port_max"));
}

/*
 * The svc-mgr's document is its configuration's `services:` list, key for
 * key (svc-mgr/src/svc_config.c): it parses a push with the schema it
 * already has. Virtual services are load-balancing services, NAT pools NAT
 * services; what the manager's schema adds (precedence, tracking, direct
 * return) keeps its defaults.
 */
static json_t *svc_mgr_services(const json_t *res)
{
	const json_t *o;
	json_t *out = json_array();
	size_t i;

	json_array_foreach(json_object_get(res, "virtual_services"), i, o)
		json_array_append_new(out, lb_service(o));
	json_array_foreach(json_object_get(res, "nat_pools"), i, o)
		json_array_append_new(out, nat_service(o));
	return out;
}

int prov_render(const json_t *doc, int64_t version, enum prov_target t, json_t **out,
		struct prov_error *e)
{
	const json_t *res = json_object_get(doc, "resources");
	json_t *o;

	if (!json_is_object(res))
		return prov_fail(e, PROV_E_INTERNAL, NULL, "not a definitions document");
	o = json_pack("{s:s, s:I}", "target", prov_target_name(t), "version", (json_int_t)version);
	if (t == PROV_TARGET_SVC_MGR) {
		json_object_set_new(o, "services", svc_mgr_services(res));
	} else {
		json_t *devices = json_array(), *services = json_array();
		const json_t *x;
		size_t i;

		json_array_foreach(json_object_get(res, "devices"), i, x)
			json_array_append_new(devices, engine_device(doc, x));
		json_array_foreach(json_object_get(res, "services"), i, x)
			engine_service(doc, x, services);
		json_object_set_new(o, "devices", devices);
		json_object_set_new(o, "services", services);
	}
	*out = o;
	return 0;
}

int prov_render_document(struct prov_model *m, int64_t version, enum prov_target t,
			 char **text, size_t *len, struct prov_error *e)
{
	json_t *o;
	int r;

	*text = NULL;
	if ((r = prov_render_version(m, version, t, &o, e)))
		return r;
	json_object_del(o, "target");
	json_object_del(o, "version");
	*text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (!*text)
		return prov_fail(e, PROV_E_INTERNAL, NULL, "out of memory");
	*len = strlen(*text);
	return 0;
}
