// SPDX-License-Identifier: LGPL-2.1-or-later
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "prov_addr.h"
#include "prov_check.h"
#include "prov_db.h"

/* The normalised object has every field, of the type its table says. */
static const char *str(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static int64_t num(const json_t *o, const char *k)
{
	return json_integer_value(json_object_get(o, k));
}

static struct prov_prefix pfx(const char *s)
{
	struct prov_prefix p;

	if (!s || (strchr(s, '/') ? prov_prefix_parse(s, &p) : prov_addr_parse(s, &p)) < 0)
		memset(&p, 0, sizeof(p));
	return p;
}

/*
 * Rows of sql (?1 bound to text a if not NULL, then ?2 to id) for each; each
 * calls fn with the statement on its row, which returns 0 to go on.
 */
typedef int row_fn(sqlite3_stmt *st, void *arg);

static int each_row(struct prov_model *m, const char *sql, const char *a, int64_t id,
		    row_fn *fn, void *arg, struct prov_error *e)
{
	sqlite3_stmt *st;
	int r = 0, s;

	if (sqlite3_prepare_v2(m->db, sql, -1, &st, NULL) != SQLITE_OK)
		return prov_db_fail(m->db, e, "prepare");
	int n = 1;
	if (a)
		sqlite3_bind_text(st, n++, a, -1, SQLITE_TRANSIENT);
	if (sqlite3_bind_parameter_count(st) >= n)
		sqlite3_bind_int64(st, n, id);
	while ((s = sqlite3_step(st)) == SQLITE_ROW)
		if ((r = fn(st, arg)) != 0)
			break;
	if (r == 0 && s != SQLITE_DONE)
		r = prov_db_fail(m->db, e, "query");
	sqlite3_finalize(st);
	return r;
}

static const char *col(sqlite3_stmt *st, int i)
{
	const char *s = (const char *)sqlite3_column_text(st, i);
	return s ? s : "";
}

/* ---- prefixes that must not overlap another object's ---------------------- */

struct overlap {
	struct prov_prefix mine;
	const char *field, *what;
	struct prov_error *e;
};

static int overlap_row(sqlite3_stmt *st, void *arg)
{
	struct overlap *o = arg;
	struct prov_prefix other = pfx(col(st, 1));

	if (!prov_prefix_overlap(&o->mine, &other))
		return 0;
	return prov_fail(o->e, PROV_E_CONFLICT, o->field, "overlaps %s '%s' (%s)", o->what,
			 col(st, 0), col(st, 1));
}

static int no_overlap(struct prov_model *m, const char *table, const char *what, int64_t id,
		      const json_t *obj, struct prov_error *e)
{
	char sql[128];
	struct overlap o = { pfx(str(obj, "prefix")), "prefix", what, e };

	snprintf(sql, sizeof(sql), "SELECT name, prefix FROM %s WHERE id != ?1", table);
	return each_row(m, sql, NULL, id, overlap_row, &o, e);
}

int prov_check_segment(struct prov_model *m, int64_t id, const json_t *obj, struct prov_error *e)
{
	return no_overlap(m, "segments", "segment", id, obj, e);
}

int prov_check_ip_pool(struct prov_model *m, int64_t id, const json_t *obj, struct prov_error *e)
{
	return no_overlap(m, "ip_pools", "service IP pool", id, obj, e);
}

int prov_check_nat_pool(struct prov_model *m, int64_t id, const json_t *obj, struct prov_error *e)
{
	struct prov_prefix p = pfx(str(obj, "prefix"));
	const json_t *inside = json_object_get(obj, "inside");
	size_t i;
	const json_t *v;

	if (num(obj, "port_min") > num(obj, "port_max"))
		return prov_fail(e, PROV_E_INVALID, "port_max", "below port_min");
	/* the port allocator keeps a bitmap per address: bound the addresses */
	if (p.len < (p.v4 ? 16u : 112u))
		return prov_fail(e, PROV_E_INVALID, "prefix", "more than 65536 addresses");
	json_array_foreach(inside, i, v) {
		struct prov_prefix in = pfx(json_string_value(v));
		if (in.v4 != p.v4) {
			char f[32];
			snprintf(f, sizeof(f), "inside[%zu]", i);
			return prov_fail(e, PROV_E_INVALID, f, "not of the pool's address family");
		}
	}
	/* two allocators on one address would hand out the same endpoints */
	return no_overlap(m, "nat_pools", "NAT pool", id, obj, e);
}

/* obj's address lies in the prefix of object id of table (a segment, a pool). */
static int inside(struct prov_model *m, const char *table, const char *what, int64_t id,
		  const json_t *obj, struct prov_error *e)
{
	char sql[96];
	sqlite3_stmt *st;
	int r = 0;

	snprintf(sql, sizeof(sql), "SELECT name, prefix FROM %s WHERE id = ?1", table);
	if (sqlite3_prepare_v2(m->db, sql, -1, &st, NULL) != SQLITE_OK)
		return prov_db_fail(m->db, e, "prepare");
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) == SQLITE_ROW) {
		struct prov_prefix p = pfx(col(st, 1)), a = pfx(str(obj, "address"));
		if (!prov_prefix_contains(&p, &a))
			r = prov_fail(e, PROV_E_INVALID, "address", "outside %s '%s' (%s)", what,
				      col(st, 0), col(st, 1));
	}
	sqlite3_finalize(st);
	return r;
}

/* ---- devices ------------------------------------------------------------ */

int prov_check_device(struct prov_model *m, int64_t id, const json_t *obj, struct prov_error *e)
{
	int64_t alt = num(obj, "alternate"), pool = num(obj, "pool"), seg = num(obj, "segment");
	int64_t alt_pool = 0;
	int r;

	if (alt && alt == id)
		return prov_fail(e, PROV_E_INVALID, "alternate", "a device cannot be its own "
				 "alternate");
	if (alt) {
		r = prov_db_int(m->db, "SELECT pool FROM devices WHERE id = ?1", alt, 0, &alt_pool, e);
		if (r < 0)
			return r;
		/* an alternate takes over the same step: same function, same pool */
		if (r && alt_pool != pool)
			return prov_fail(e, PROV_E_INVALID, "alternate", "device %" PRId64 " is in "
					 "pool %" PRId64 ", not in this device's pool %" PRId64,
					 alt, alt_pool, pool);
	}
	/* devices that name this one as their alternate must stay in its pool */
	if (id && (r = prov_db_int(m->db, "SELECT id FROM devices WHERE alternate = ?1 AND "
				   "pool != ?2", id, pool, &alt, e)) != 0)
		return r < 0 ? r : prov_fail(e, PROV_E_CONFLICT, "pool", "device %" PRId64
					     " has this device as its alternate and is in "
					     "another pool", alt);
	/* the engine tells its devices apart by the MAC that hands a packet back */
	const char *mac = json_string_value(json_object_get(obj, "mac"));
	const char *omac = json_string_value(json_object_get(obj, "out_mac"));
	if (omac && mac && !strcmp(omac, mac))
		return prov_fail(e, PROV_E_INVALID, "out_mac", "the same as mac: leave it out "
				 "for one MAC on both arms");
	if (omac && (r = prov_db_int_text(m->db, "SELECT id FROM devices WHERE (mac = ?1 OR "
					  "out_mac = ?1) AND id != ?2", omac, id, &alt, e)) != 0)
		return r < 0 ? r : prov_fail(e, PROV_E_CONFLICT, "out_mac", "device %" PRId64
					     " has this MAC already", alt);
	if (mac && (r = prov_db_int_text(m->db, "SELECT id FROM devices WHERE out_mac = ?1 "
					 "AND id != ?2", mac, id, &alt, e)) != 0)
		return r < 0 ? r : prov_fail(e, PROV_E_CONFLICT, "mac", "device %" PRId64
					     " has this MAC on its second arm", alt);
	return seg ? inside(m, "segments", "segment", seg, obj, e) : 0;
}

/* ---- services ----------------------------------------------------------- */

struct steps {
	char fn[16][64];
	size_t n;
};

static int step_row(sqlite3_stmt *st, void *arg)
{
	struct steps *s = arg;

	if (s->n < LOOM_ARRAY_SIZE(s->fn))
		snprintf(s->fn[s->n++], sizeof(s->fn[0]), "%s", col(st, 0));
	return 0;
}

struct ports_clash {
	const char *proto;
	int64_t lo, hi;
	const char *field;
	const char *addr;
	struct prov_error *e;
};

static int64_t port_hi(const json_t *p)
{
	const json_t *end = json_object_get(p, "port_end");
	return json_is_integer(end) ? json_integer_value(end) : num(p, "port");
}

static int ports_row(sqlite3_stmt *st, void *arg)
{
	struct ports_clash *c = arg;
	int64_t lo = sqlite3_column_int64(st, 2);
	int64_t hi = sqlite3_column_type(st, 3) == SQLITE_NULL ? lo : sqlite3_column_int64(st, 3);

	if (strcmp(col(st, 1), c->proto) || hi < c->lo || lo > c->hi)
		return 0;
	if (hi == lo)
		return prov_fail(c->e, PROV_E_CONFLICT, c->field, "%s %s port %" PRId64 " is "
				 "already used by service '%s'", c->addr, c->proto, lo, col(st, 0));
	return prov_fail(c->e, PROV_E_CONFLICT, c->field, "%s %s ports %" PRId64 "-%" PRId64
			 " are already used by service '%s'", c->addr, c->proto, lo, hi, col(st, 0));
}

static int check_ports(struct prov_model *m, int64_t id, const json_t *obj, struct prov_error *e)
{
	const json_t *ports = json_object_get(obj, "ports"), *p, *q;
	size_t i, j;
	char f[48];

	json_array_foreach(ports, i, p) {
		int64_t lo = num(p, "port"), hi = port_hi(p);
		if (hi < lo) {
			snprintf(f, sizeof(f), "ports[%zu].port_end", i);
			return prov_fail(e, PROV_E_INVALID, f, "below port");
		}
		snprintf(f, sizeof(f), "ports[%zu]", i);
		json_array_foreach(ports, j, q) {
			if (j >= i)
				break;
			if (!strcmp(str(p, "protocol"), str(q, "protocol")) &&
			    lo <= port_hi(q) && hi >= num(q, "port"))
				return prov_fail(e, PROV_E_INVALID, f, "overlaps ports[%zu]", j);
		}
		struct ports_clash c = { str(p, "protocol"), lo, hi, f, str(obj, "address"), e };
		int r = each_row(m, "SELECT s.name, p.protocol, p.port, p.port_end FROM services s "
				 "JOIN service_ports p ON p.parent_id = s.id "
				 "WHERE s.address = ?1 AND s.id != ?2", str(obj, "address"), id,
				 ports_row, &c, e);
		if (r)
			return r;
	}
	return 0;
}

int prov_check_service(struct prov_model *m, int64_t id, const json_t *obj, struct prov_error *e)
{
	const json_t *devs = json_object_get(obj, "devices"), *order = json_object_get(obj, "order");
	const json_t *v;
	struct steps steps = { .n = 0 };
	size_t i;
	char f[32];
	int r;

	if ((r = each_row(m, "SELECT value FROM package_functions WHERE parent_id = ?1 "
			  "ORDER BY position", NULL, num(obj, "package"), step_row, &steps, e)))
		return r;
	if (json_array_size(devs) != steps.n)
		return prov_fail(e, PROV_E_INVALID, "devices", "package %" PRId64 " has %zu "
				 "steps, the service names %zu devices", num(obj, "package"),
				 steps.n, json_array_size(devs));
	json_array_foreach(devs, i, v) {
		sqlite3_stmt *st;
		snprintf(f, sizeof(f), "devices[%zu]", i);
		if (sqlite3_prepare_v2(m->db, "SELECT p.function FROM devices d JOIN device_pools p "
				       "ON p.id = d.pool WHERE d.id = ?1", -1, &st, NULL) != SQLITE_OK)
			return prov_db_fail(m->db, e, "prepare");
		sqlite3_bind_int64(st, 1, json_integer_value(v));
		if (sqlite3_step(st) == SQLITE_ROW && strcmp(col(st, 0), steps.fn[i]))
			r = prov_fail(e, PROV_E_INVALID, f, "device %" PRId64 " is a %s, step %zu of "
				      "the package is a %s", (int64_t)json_integer_value(v), col(st, 0), i,
				      steps.fn[i]);
		sqlite3_finalize(st);
		if (r)
			return r;
	}
	if (json_array_size(order)) {
		/* an order override is a permutation of the package's steps */
		bool seen[16] = { false };
		if (json_array_size(order) != steps.n)
			return prov_fail(e, PROV_E_INVALID, "order", "names %zu steps, the package "
					 "has %zu", json_array_size(order), steps.n);
		json_array_foreach(order, i, v) {
			int64_t s = json_integer_value(v);
			snprintf(f, sizeof(f), "order[%zu]", i);
			if (s < 0 || (size_t)s >= steps.n || seen[s])
				return prov_fail(e, PROV_E_INVALID, f, "step %" PRId64 " is not in "
						 "the package or named twice", s);
			seen[s] = true;
		}
	}
	if ((r = inside(m, "ip_pools", "service IP pool", num(obj, "pool"), obj, e)))
		return r;
	return check_ports(m, id, obj, e);
}

int prov_check_acl(struct prov_model *m, int64_t id, const json_t *obj, struct prov_error *e)
{
	const json_t *end = json_object_get(obj, "port_end");
	const char *proto = str(obj, "protocol");

	(void)m;
	(void)id;
	if (num(obj, "port") && strcmp(proto, "tcp") && strcmp(proto, "udp"))
		return prov_fail(e, PROV_E_INVALID, "port", "only tcp and udp have ports");
	if (json_is_integer(end) && !num(obj, "port"))
		return prov_fail(e, PROV_E_INVALID, "port_end", "a range needs its first port");
	if (json_is_integer(end) && json_integer_value(end) < num(obj, "port"))
		return prov_fail(e, PROV_E_INVALID, "port_end", "below port");
	return 0;
}

/* ---- virtual services ----------------------------------------------------- */

struct domains_clash {
	const json_t *mine; /* my client domains */
	const char *other_name;
	struct prov_error *e;
};

static int domain_row(sqlite3_stmt *st, void *arg)
{
	struct domains_clash *c = arg;
	struct prov_prefix theirs = pfx(col(st, 0));
	const json_t *v;
	size_t i;

	json_array_foreach(c->mine, i, v) {
		struct prov_prefix p = pfx(json_string_value(v));
		if (prov_prefix_overlap(&p, &theirs)) {
			char f[40];
			snprintf(f, sizeof(f), "client_domains[%zu]", i);
			return prov_fail(c->e, PROV_E_CONFLICT, f, "overlaps %s of virtual service "
					 "'%s' on the same address, protocol and port",
					 col(st, 0), c->other_name);
		}
	}
	return 0;
}

struct same_vip {
	struct prov_model *m;
	const json_t *obj;
	struct prov_error *e;
};

static int same_vip_row(sqlite3_stmt *st, void *arg)
{
	struct same_vip *s = arg;
	int64_t other = sqlite3_column_int64(st, 0);
	int64_t n_theirs = 0;
	const json_t *mine = json_object_get(s->obj, "client_domains");
	char name[64];

	snprintf(name, sizeof(name), "%s", col(st, 1));
	if (prov_db_int(s->m->db, "SELECT count(*) FROM virtual_service_domains "
			"WHERE parent_id = ?1", other, 0, &n_theirs, s->e) < 0)
		return -PROV_E_INTERNAL;
	/* no client domains: every client, which overlaps everything */
	if (!n_theirs || !json_array_size(mine))
		return prov_fail(s->e, PROV_E_CONFLICT, "client_domains", "virtual service '%s' "
				 "has the same address, protocol and port and the client domains "
				 "are not disjoint (no domains means every client)", name);
	struct domains_clash c = { mine, name, s->e };
	return each_row(s->m, "SELECT value FROM virtual_service_domains WHERE parent_id = ?1",
			NULL, other, domain_row, &c, s->e);
}

int prov_check_virtual_service(struct prov_model *m, int64_t id, const json_t *obj,
			       struct prov_error *e)
{
	struct prov_prefix vip = pfx(str(obj, "address"));
	const json_t *backends = json_object_get(obj, "backends");
	const json_t *domains = json_object_get(obj, "client_domains");
	const json_t *b, *c;
	const char *path = str(obj, "health_path");
	bool weighted = false;
	size_t i, j;
	char f[48];

	if (num(obj, "health_timeout_ms") > num(obj, "health_interval_ms"))
		return prov_fail(e, PROV_E_INVALID, "health_timeout_ms", "longer than "
				 "health_interval_ms (checks would overlap)");
	if (!strcmp(str(obj, "health"), "http") && (!path || path[0] != '/'))
		return prov_fail(e, PROV_E_INVALID, "health_path", "an http check needs a path "
				 "starting with '/'");
	if (strcmp(str(obj, "health"), "http") && path)
		return prov_fail(e, PROV_E_INVALID, "health_path", "only an http check has a path");
	json_array_foreach(backends, i, b) {
		struct prov_prefix a = pfx(str(b, "address"));
		snprintf(f, sizeof(f), "backends[%zu].address", i);
		if (a.v4 != vip.v4)
			return prov_fail(e, PROV_E_INVALID, f, "not of the virtual address's family");
		json_array_foreach(backends, j, c) {
			if (j >= i)
				break;
			if (!strcmp(str(b, "address"), str(c, "address")) &&
			    num(b, "port") == num(c, "port"))
				return prov_fail(e, PROV_E_INVALID, f, "same address and port as "
						 "backends[%zu]", j);
		}
		weighted |= num(b, "weight") > 0;
	}
	if (!weighted)
		return prov_fail(e, PROV_E_INVALID, "backends", "every backend has weight 0");
	json_array_foreach(domains, i, b) {
		struct prov_prefix d = pfx(json_string_value(b));
		snprintf(f, sizeof(f), "client_domains[%zu]", i);
		if (d.v4 != vip.v4)
			return prov_fail(e, PROV_E_INVALID, f, "not of the virtual address's family");
		json_array_foreach(domains, j, c) {
			struct prov_prefix o = pfx(json_string_value(c));
			if (j >= i)
				break;
			if (prov_prefix_overlap(&d, &o))
				return prov_fail(e, PROV_E_INVALID, f, "overlaps client_domains[%zu]",
						 j);
		}
	}
	/* two virtual services on one address, protocol and port split the
	 * clients between them by domain: a client must find exactly one */
	struct same_vip s = { m, obj, e };
	char sql[160];
	snprintf(sql, sizeof(sql), "SELECT id, name FROM virtual_services WHERE address = ?1 "
		 "AND protocol = '%s' AND port = %" PRId64 " AND id != ?2",
		 strcmp(str(obj, "protocol"), "udp") ? "tcp" : "udp", num(obj, "port"));
	return each_row(m, sql, str(obj, "address"), id, same_vip_row, &s, e);
}

int prov_check_user(struct prov_model *m, int64_t id, const json_t *obj, struct prov_error *e)
{
	bool customer_admin = !strcmp(str(obj, "role"), prov_role_names[PROV_ROLE_CUSTOMER]);

	(void)m;
	(void)id;
	if (customer_admin && !num(obj, "customer"))
		return prov_fail(e, PROV_E_INVALID, "customer", "a customer-admin administers one "
				 "customer: name it");
	if (!customer_admin && num(obj, "customer"))
		return prov_fail(e, PROV_E_INVALID, "customer", "a provider-admin belongs to no "
				 "customer");
	return 0;
}
