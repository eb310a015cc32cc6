// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * What each daemon is sent, from a version's document. The pkt-engine gets
 * each service as its resolved chain: the steps in the order the traffic
 * takes them (the package's, or the service's override), each with its
 * device's MAC, address and mode and its alternate, and the service's ACLs
 * in rule order. The svc-mgr gets the virtual services and NAT pools as the
 * `services:` of its own configuration. Beside the definitions, each
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

static json_t *device(const json_t *doc, json_int_t id)
{
	const json_t *d = by_id(doc, "devices", id);

	if (!d)
		return json_null();
	return json_pack("{s:O, s:O, s:O, s:O, s:O, s:O}", "id", json_object_get(d, "id"),
			 "name", json_object_get(d, "name"), "mac", json_object_get(d, "mac"),
			 "address", json_object_get(d, "address"), "mode", json_object_get(d, "mode"),
			 "segment", json_object_get(d, "segment"));
}

static json_t *chain(const json_t *doc, const json_t *svc)
{
	const json_t *pkg = by_id(doc, "packages", json_integer_value(json_object_get(svc, "package")));
	const json_t *fns = json_object_get(pkg, "functions");
	const json_t *devs = json_object_get(svc, "devices");
	const json_t *order = json_object_get(svc, "order");
	json_t *steps = json_array();

	for (size_t k = 0; k < json_array_size(devs); k++) {
		size_t s = json_array_size(order) ? (size_t)json_integer_value(json_array_get(order, k)) : k;
		json_int_t dev = json_integer_value(json_array_get(devs, s));
		const json_t *d = by_id(doc, "devices", dev);
		const json_t *alt = json_object_get(d, "alternate");
		json_array_append_new(steps, json_pack("{s:I, s:O, s:o, s:o}", "step", (json_int_t)s,
						       "function", json_array_get(fns, s),
						       "device", device(doc, dev),
						       "alternate", json_is_integer(alt) ?
						       device(doc, json_integer_value(alt)) :
						       json_null()));
	}
	return steps;
}

static int by_position(const void *a, const void *b)
{
	json_int_t x = json_integer_value(json_object_get(*(const json_t *const *)a, "position"));
	json_int_t y = json_integer_value(json_object_get(*(const json_t *const *)b, "position"));

	return (x > y) - (x < y);
}

static json_t *acls_of(const json_t *doc, json_int_t service)
{
	const json_t *arr = json_object_get(json_object_get(doc, "resources"), "acls"), *a;
	const json_t **sel = calloc(json_array_size(arr) + 1, sizeof(*sel));
	json_t *out = json_array();
	size_t i, n = 0;

	if (!sel)
		return out;
	json_array_foreach(arr, i, a)
		if (json_integer_value(json_object_get(a, "service")) == service)
			sel[n++] = a;
	qsort(sel, n, sizeof(sel[0]), by_position);
	for (i = 0; i < n; i++) {
		json_t *c = json_deep_copy(sel[i]);
		json_object_del(c, "service");
		json_array_append_new(out, c);
	}
	free(sel);
	return out;
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
		const json_t *svcs = json_object_get(res, "services"), *s;
		json_t *rendered = json_array();
		size_t i;

		json_object_set(o, "interfaces", json_object_get(res, "interfaces"));
		json_object_set(o, "segments", json_object_get(res, "segments"));
		json_array_foreach(svcs, i, s) {
			json_int_t id = json_integer_value(json_object_get(s, "id"));
			json_array_append_new(rendered, json_pack(
				"{s:O, s:O, s:O, s:O, s:O, s:o, s:o}", "id", json_object_get(s, "id"),
				"name", json_object_get(s, "name"),
				"customer", json_object_get(s, "customer"),
				"address", json_object_get(s, "address"),
				"ports", json_object_get(s, "ports"),
				"steps", chain(doc, s), "acls", acls_of(doc, id)));
		}
		json_object_set_new(o, "services", rendered);
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
