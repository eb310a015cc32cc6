// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The provisioner's model: addresses, migrations, every kind of validation
 * error (as a table: the body, the reason, the field, and that nothing was
 * stored), the rules that span objects, versions and rollback, rendering,
 * and what a customer admin may see.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "prov_addr.h"
#include "prov_auth.h"
#include "prov_check.h"
#include "prov_config.h"
#include "prov_db.h"
#include "prov_version.h"

static struct prov_model m;

static void open_model(void)
{
	char why[256] = "";

	cr_assert_eq(prov_model_open(&m, ":memory:", why, sizeof(why)), 0, "%s", why);
}

static void close_model(void)
{
	prov_model_close(&m);
}

static const struct prov_resource *res(const char *url)
{
	const struct prov_resource *r = prov_resource_by_url(url);
	cr_assert_not_null(r, "%s", url);
	return r;
}

/* Create from JSON text as the daemon itself; the new id, or -reason with e. */
static int64_t try_post(const char *url, const char *text, struct prov_error *e)
{
	json_error_t jerr;
	json_t *body = json_loads(text, 0, &jerr), *out = NULL;
	int r;

	cr_assert_not_null(body, "test JSON: %s: %s", text, jerr.text);
	r = prov_obj_create(&m, res(url), NULL, body, &out, e);
	json_decref(body);
	if (r)
		return r;
	int64_t id = json_integer_value(json_object_get(out, "id"));
	json_decref(out);
	return id;
}

static int64_t post(const char *url, const char *text)
{
	struct prov_error e;
	int64_t id = try_post(url, text, &e);

	cr_assert_gt(id, 0, "POST %s %s: %s: %s", url, text, e.field, e.message);
	return id;
}

static int64_t version(void)
{
	int64_t v;

	cr_assert_eq(prov_version_current(&m, &v, NULL), 0);
	return v;
}

static size_t count(const char *url)
{
	json_t *arr;

	cr_assert_eq(prov_obj_list(&m, res(url), NULL, &arr, NULL), 0);
	size_t n = json_array_size(arr);
	json_decref(arr);
	return n;
}

/*
 * A small provider: two interfaces, a segment, a firewall pool with two
 * devices and an IDS pool with one, a package firewall -> ids, two
 * customers and a service IP pool. Ids are 1, 2, ... in creation order.
 */
static void base(void)
{
	open_model();
	post("interfaces", "{\"name\": \"eth0\"}");
	post("interfaces", "{\"name\": \"eth1\", \"description\": \"appliances\"}");
	post("segments", "{\"name\": \"dev\", \"interface\": 2, \"prefix\": \"10.1.0.0/24\"}");
	post("device-pools", "{\"name\": \"fw\", \"function\": \"firewall\", \"brand\": \"acme\"}");
	post("device-pools", "{\"name\": \"ids\", \"function\": \"ids\", \"brand\": \"snort\"}");
	post("devices", "{\"name\": \"fw1\", \"pool\": 1, \"segment\": 1, \"mac\": "
	     "\"02:00:00:00:00:01\", \"address\": \"10.1.0.11\", \"mode\": \"nat\"}");
	post("devices", "{\"name\": \"fw2\", \"pool\": 1, \"mac\": \"02:00:00:00:00:02\", "
	     "\"address\": \"10.1.0.12\", \"mode\": \"alias\", \"alternate\": 1}");
	post("devices", "{\"name\": \"ids1\", \"pool\": 2, \"mac\": \"02:00:00:00:00:03\", "
	     "\"address\": \"10.1.0.13\", \"mode\": \"loopback\"}");
	post("packages", "{\"name\": \"secure\", \"functions\": [\"firewall\", \"ids\"]}");
	post("customers", "{\"name\": \"acme\"}");
	post("customers", "{\"name\": \"globex\"}");
	post("ip-pools", "{\"name\": \"pub\", \"prefix\": \"198.51.100.0/24\", \"interface\": 1}");
}

static const char service1[] =
	"{\"name\": \"web\", \"customer\": 1, \"package\": 1, \"pool\": 1, "
	"\"address\": \"198.51.100.10\", \"devices\": [1, 3], "
	"\"ports\": [{\"protocol\": \"tcp\", \"port\": 80}, "
	"{\"protocol\": \"udp\", \"port\": 5000, \"port_end\": 5100}]}";

/* ---- addresses ---------------------------------------------------------- */

Test(prov_addr, parses_and_prints_canonically)
{
	struct prov_prefix p, q;
	char buf[PROV_ADDR_TEXT], mac[18];

	cr_assert_eq(prov_prefix_parse("2001:DB8:0::/32", &p), 0);
	prov_prefix_format(&p, true, buf, sizeof(buf));
	cr_assert_str_eq(buf, "2001:db8::/32");
	cr_assert_eq(prov_prefix_parse("10.0.0.1/8", &p), -EDOM, "host bits set");
	cr_assert_eq(prov_prefix_parse("10.0.0.0/33", &p), -EINVAL);
	cr_assert_eq(prov_prefix_parse("10.0.0.0/", &p), -EINVAL);
	cr_assert_eq(prov_prefix_parse("10.0.0.0", &p), -EINVAL);
	cr_assert_eq(prov_addr_parse("10.0.0.256", &p), -EINVAL);
	cr_assert_eq(prov_prefix_parse("10.0.0.0/8", &p), 0);
	cr_assert_eq(prov_addr_parse("10.200.0.1", &q), 0);
	cr_assert(prov_prefix_contains(&p, &q));
	cr_assert_eq(prov_addr_parse("::ffff:11.0.0.1", &q), 0);
	cr_assert_not(prov_prefix_contains(&p, &q), "IPv6 is another family even when mapped");
	cr_assert_eq(prov_prefix_parse("10.128.0.0/9", &q), 0);
	cr_assert(prov_prefix_overlap(&p, &q) && prov_prefix_overlap(&q, &p));
	cr_assert_eq(prov_mac_parse("02-AB-00-00-00-01", mac), 0);
	cr_assert_str_eq(mac, "02:ab:00:00:00:01");
	cr_assert_eq(prov_mac_parse("01:00:5e:00:00:01", mac), -EDOM, "multicast");
	cr_assert_eq(prov_mac_parse("00:00:00:00:00:00", mac), -EDOM);
	cr_assert_eq(prov_mac_parse("02:00:00:00:00", mac), -EINVAL);
	cr_assert_eq(prov_mac_parse("02:00:00:00:00:0g", mac), -EINVAL);
}

/* ---- database ------------------------------------------------------------- */

Test(prov_db, migrates_once_and_refuses_a_newer_schema)
{
	char path[] = "/tmp/prov-test-XXXXXX", db[64], why[256];
	sqlite3 *h;
	int64_t v = 0;

	cr_assert_not_null(mkdtemp(path));
	snprintf(db, sizeof(db), "%s/p.db", path);
	cr_assert_eq(prov_db_open(db, &h, why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(prov_db_int(h, "SELECT max(version) FROM schema_version", 0, 0, &v, NULL), 1);
	cr_assert_eq(v, prov_db_schema_version());
	cr_assert_eq(prov_db_int(h, "PRAGMA foreign_keys", 0, 0, &v, NULL), 1);
	cr_assert_eq(v, 1);
	/* a database one migration behind gets just that one */
	cr_assert_eq(sqlite3_exec(h, "DROP TABLE trials; DELETE FROM "
				  "schema_version WHERE version = 5", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(h);
	cr_assert_eq(prov_db_open(db, &h, why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(prov_db_int(h, "SELECT count(*) FROM sqlite_master WHERE type = 'table' "
				 "AND name = 'trials'", 0, 0, &v, NULL), 1);
	cr_assert_eq(v, 1);
	cr_assert_eq(prov_db_int(h, "SELECT count(*) FROM schema_version", 0, 0, &v, NULL), 1);
	cr_assert_eq(v, prov_db_schema_version());
	sqlite3_exec(h, "INSERT INTO schema_version VALUES(999, 0)", NULL, NULL, NULL);
	sqlite3_close(h);
	cr_assert_eq(prov_db_open(db, &h, why, sizeof(why)), -EPROTO);
	cr_assert(strstr(why, "newer"), "%s", why);
	static const char *const files[] = { "", "-wal", "-shm" };
	for (size_t i = 0; i < LOOM_ARRAY_SIZE(files); i++) {
		char f[80];
		snprintf(f, sizeof(f), "%s%s", db, files[i]);
		unlink(f);
	}
	cr_assert_eq(rmdir(path), 0);
}

Test(prov_config, schema_is_sound)
{
	char why[256] = "";

	cr_assert_eq(cfg_schema_check(&prov_config_schema, why, sizeof(why)), 0, "%s", why);
}

Test(prov_config, loads_with_defaults_and_round_trips)
{
	static const char text[] = "database: /var/lib/loom/p.db\nport: 8443\n"
				   "listen-address: \"::1\"\ntoken-lifetime: 8h\n";
	static struct prov_config a, b;
	struct cfg_diag d;
	char *buf = NULL;
	size_t len = 0;

	cr_assert_eq(cfg_load_buffer("t", text, sizeof(text) - 1, &prov_config_schema, &a, &d), 0,
		     "%s", d.msg[0]);
	cr_assert_eq(a.port, 8443);
	cr_assert_eq(a.token_lifetime_ms, 8ull * 3600 * 1000);
	cr_assert_eq(a.request_limit, 1u << 20, "default 1M");
	cr_assert_str_eq(a.admin_user, "admin");
	cr_assert_eq(a.listen_address[15], 1);
	FILE *f = open_memstream(&buf, &len);
	cr_assert_eq(cfg_dump(&prov_config_schema, &a, f), 0);
	fclose(f);
	cr_assert_eq(cfg_load_buffer("dump", buf, len, &prov_config_schema, &b, &d), 0, "%s",
		     d.msg[0]);
	cr_assert_eq(memcmp(&a, &b, sizeof(a)), 0, "dump -> load is the identity");
	free(buf);
	static const char bad[] = "database: relative.db\nadmin-password-file: pw\n";
	cr_assert_eq(cfg_load_buffer("bad", bad, sizeof(bad) - 1, &prov_config_schema, &a, &d),
		     -EINVAL);
	cr_assert_eq(d.n, 2, "both paths named");
	cr_assert(strstr(d.msg[0], "database"), "%s", d.msg[0]);
	static const char none[] = "port: 80\n";
	cr_assert_eq(cfg_load_buffer("none", none, sizeof(none) - 1, &prov_config_schema, &a, &d),
		     -EINVAL, "the database is required");
}

/* ---- validation: a table of refused changes ---------------------------------- */

struct refusal {
	const char *what;
	const char *url;
	const char *body;
	enum prov_reason reason;
	const char *field;
};

static const struct refusal refusals[] = {
	{ "not an object", "interfaces", "[1]", PROV_E_TYPE, "" },
	{ "unknown field", "interfaces", "{\"name\": \"x\", \"colour\": 1}", PROV_E_UNKNOWN_FIELD,
	  "colour" },
	{ "id chosen by the client", "interfaces", "{\"id\": 9, \"name\": \"x\"}",
	  PROV_E_UNKNOWN_FIELD, "id" },
	{ "missing name", "interfaces", "{\"description\": \"x\"}", PROV_E_MISSING, "name" },
	{ "bad name", "interfaces", "{\"name\": \"eth 0\"}", PROV_E_INVALID, "name" },
	{ "duplicate name", "interfaces", "{\"name\": \"eth0\"}", PROV_E_CONFLICT, "name" },
	{ "name of the wrong type", "interfaces", "{\"name\": 5}", PROV_E_TYPE, "name" },
	{ "segment of a missing interface", "segments",
	  "{\"name\": \"s\", \"interface\": 99, \"prefix\": \"10.2.0.0/24\"}", PROV_E_REFERENCE,
	  "interface" },
	{ "prefix with host bits", "segments",
	  "{\"name\": \"s\", \"interface\": 1, \"prefix\": \"10.2.0.1/24\"}", PROV_E_INVALID,
	  "prefix" },
	{ "overlapping segment", "segments",
	  "{\"name\": \"s\", \"interface\": 1, \"prefix\": \"10.1.0.128/25\"}", PROV_E_CONFLICT,
	  "prefix" },
	{ "vlan out of range", "segments",
	  "{\"name\": \"s\", \"interface\": 1, \"prefix\": \"10.2.0.0/24\", \"vlan\": 4095}",
	  PROV_E_INVALID, "vlan" },
	{ "overlapping service IP pool", "ip-pools",
	  "{\"name\": \"p2\", \"prefix\": \"198.51.0.0/16\"}", PROV_E_CONFLICT, "prefix" },
	{ "bad MAC", "devices", "{\"name\": \"d\", \"pool\": 1, \"mac\": \"02:00:00:00:00\", "
	  "\"address\": \"10.1.0.20\", \"mode\": \"nat\"}", PROV_E_INVALID, "mac" },
	{ "multicast MAC", "devices",
	  "{\"name\": \"d\", \"pool\": 1, \"mac\": \"01:00:00:00:00:09\", "
	  "\"address\": \"10.1.0.20\", \"mode\": \"nat\"}", PROV_E_INVALID, "mac" },
	{ "duplicate MAC", "devices",
	  "{\"name\": \"d\", \"pool\": 1, \"mac\": \"02:00:00:00:00:01\", "
	  "\"address\": \"10.1.0.20\", \"mode\": \"nat\"}", PROV_E_CONFLICT, "mac" },
	{ "bad address", "devices",
	  "{\"name\": \"d\", \"pool\": 1, \"mac\": \"02:00:00:00:00:09\", "
	  "\"address\": \"10.1.0.300\", \"mode\": \"nat\"}", PROV_E_INVALID, "address" },
	{ "bad mode", "devices", "{\"name\": \"d\", \"pool\": 1, \"mac\": \"02:00:00:00:00:09\", "
	  "\"address\": \"10.1.0.20\", \"mode\": \"bridge\"}", PROV_E_INVALID, "mode" },
	{ "address outside its segment", "devices",
	  "{\"name\": \"d\", \"pool\": 1, \"segment\": 1, "
	  "\"mac\": \"02:00:00:00:00:09\", \"address\": \"10.9.0.20\", \"mode\": \"nat\"}",
	  PROV_E_INVALID, "address" },
	{ "alternate of another pool", "devices", "{\"name\": \"d\", \"pool\": 1, "
	  "\"mac\": \"02:00:00:00:00:09\", \"address\": \"10.1.0.20\", \"mode\": \"nat\", "
	  "\"alternate\": 3}",
	  PROV_E_INVALID, "alternate" },
	{ "missing alternate", "devices", "{\"name\": \"d\", \"pool\": 1, "
	  "\"mac\": \"02:00:00:00:00:09\", \"address\": \"10.1.0.20\", \"mode\": \"nat\", "
	  "\"alternate\": 42}",
	  PROV_E_REFERENCE, "alternate" },
	{ "package without functions", "packages", "{\"name\": \"p\", \"functions\": []}",
	  PROV_E_INVALID, "functions" },
	{ "package function of the wrong type", "packages",
	  "{\"name\": \"p\", \"functions\": [\"fw\", 3]}",
	  PROV_E_TYPE, "functions[1]" },
	{ "chain with a missing device", "services",
	  "{\"name\": \"s\", \"customer\": 1, \"package\": 1, "
	  "\"pool\": 1, \"address\": \"198.51.100.20\", \"devices\": [1, 77], "
	  "\"ports\": [{\"protocol\": \"tcp\", \"port\": 80}]}", PROV_E_REFERENCE, "devices[1]" },
	{ "device of the wrong function", "services",
	  "{\"name\": \"s\", \"customer\": 1, \"package\": 1, "
	  "\"pool\": 1, \"address\": \"198.51.100.20\", \"devices\": [3, 1], "
	  "\"ports\": [{\"protocol\": \"tcp\", \"port\": 80}]}", PROV_E_INVALID, "devices[0]" },
	{ "too few devices for the package", "services",
	  "{\"name\": \"s\", \"customer\": 1, \"package\": 1, "
	  "\"pool\": 1, \"address\": \"198.51.100.20\", \"devices\": [1], "
	  "\"ports\": [{\"protocol\": \"tcp\", \"port\": 80}]}", PROV_E_INVALID, "devices" },
	{ "service IP outside its pool", "services",
	  "{\"name\": \"s\", \"customer\": 1, \"package\": 1, "
	  "\"pool\": 1, \"address\": \"203.0.113.1\", \"devices\": [1, 3], "
	  "\"ports\": [{\"protocol\": \"tcp\", \"port\": 80}]}", PROV_E_INVALID, "address" },
	{ "duplicate service IP and port", "services",
	  "{\"name\": \"s\", \"customer\": 2, \"package\": 1, "
	  "\"pool\": 1, \"address\": \"198.51.100.10\", \"devices\": [1, 3], "
	  "\"ports\": [{\"protocol\": \"udp\", \"port\": 5050}]}", PROV_E_CONFLICT, "ports[0]" },
	{ "port zero", "services", "{\"name\": \"s\", \"customer\": 1, \"package\": 1, "
	  "\"pool\": 1, \"address\": \"198.51.100.20\", \"devices\": [1, 3], "
	  "\"ports\": [{\"protocol\": \"tcp\", \"port\": 0}]}", PROV_E_INVALID, "ports[0].port" },
	{ "range backwards", "services", "{\"name\": \"s\", \"customer\": 1, \"package\": 1, "
	  "\"pool\": 1, \"address\": \"198.51.100.20\", \"devices\": [1, 3], "
	  "\"ports\": [{\"protocol\": \"tcp\", \"port\": 90, \"port_end\": 80}]}", PROV_E_INVALID,
	  "ports[0].port_end" },
	{ "order not a permutation", "services",
	  "{\"name\": \"s\", \"customer\": 1, \"package\": 1, "
	  "\"pool\": 1, \"address\": \"198.51.100.20\", \"devices\": [1, 3], \"order\": [1, 1], "
	  "\"ports\": [{\"protocol\": \"tcp\", \"port\": 80}]}", PROV_E_INVALID, "order[1]" },
	{ "ACL port without a protocol that has ports", "acls",
	  "{\"service\": 1, \"position\": 1, \"action\": \"deny\", \"protocol\": \"icmp\", \"port\": 22}",
	  PROV_E_INVALID, "port" },
	{ "ACL of a missing service", "acls",
	  "{\"service\": 9, \"position\": 1, \"action\": \"deny\"}",
	  PROV_E_REFERENCE, "service" },
	{ "backend weight out of range", "virtual-services",
	  "{\"name\": \"v\", \"address\": \"192.0.2.1\", "
	  "\"protocol\": \"tcp\", \"port\": 80, \"backends\": [{\"address\": \"10.0.0.1\", \"port\": 80, "
	  "\"weight\": 5000}]}", PROV_E_INVALID, "backends[0].weight" },
	{ "backend of the wrong family", "virtual-services",
	  "{\"name\": \"v\", \"address\": \"192.0.2.1\", "
	  "\"protocol\": \"tcp\", \"port\": 80, "
	  "\"backends\": [{\"address\": \"2001:db8::1\", \"port\": 80}]}",
	  PROV_E_INVALID, "backends[0].address" },
	{ "overlapping client domains", "virtual-services",
	  "{\"name\": \"v\", \"address\": \"192.0.2.1\", "
	  "\"protocol\": \"tcp\", \"port\": 443, \"client_domains\": [\"10.0.0.0/8\"], "
	  "\"backends\": [{\"address\": \"10.0.0.1\", \"port\": 80}]}", PROV_E_CONFLICT,
	  "client_domains[0]" },
	{ "http check without a path", "virtual-services",
	  "{\"name\": \"v\", \"address\": \"192.0.2.2\", "
	  "\"protocol\": \"tcp\", \"port\": 80, \"health\": \"http\", "
	  "\"backends\": [{\"address\": \"10.0.0.1\", \"port\": 80}]}", PROV_E_INVALID,
	  "health_path" },
	{ "NAT pool ports backwards", "nat-pools",
	  "{\"name\": \"n\", \"prefix\": \"203.0.113.0/24\", "
	  "\"port_min\": 9000, \"port_max\": 8000}", PROV_E_INVALID, "port_max" },
	{ "overlapping NAT pool", "nat-pools", "{\"name\": \"n\", \"prefix\": \"203.0.113.0/25\"}",
	  PROV_E_CONFLICT, "prefix" },
};

Test(prov_validate, every_refusal_names_its_field_and_stores_nothing)
{
	base();
	post("services", service1);
	post("acls", "{\"service\": 1, \"position\": 1, \"action\": \"allow\"}");
	post("virtual-services",
	  "{\"name\": \"v0\", \"address\": \"192.0.2.1\", \"protocol\": \"tcp\", "
	     "\"port\": 443, \"client_domains\": [\"10.1.0.0/16\"], "
	     "\"backends\": [{\"address\": \"10.0.0.1\", \"port\": 443}]}");
	post("nat-pools", "{\"name\": \"n0\", \"prefix\": \"203.0.113.0/24\"}");
	for (size_t i = 0; i < LOOM_ARRAY_SIZE(refusals); i++) {
		const struct refusal *t = &refusals[i];
		struct prov_error e = { .reason = PROV_OK };
		int64_t v = version();
		size_t n = count(t->url);

		cr_assert_eq(try_post(t->url, t->body, &e), -(int)t->reason, "%s: got %s (%s: %s)",
			     t->what, prov_reason_code(e.reason), e.field, e.message);
		cr_assert_str_eq(e.field, t->field, "%s: field %s (%s)", t->what, e.field,
		  e.message);
		cr_assert_neq(e.message[0], '\0', "%s: a message says why", t->what);
		cr_assert_eq(version(), v, "%s: no new version", t->what);
		cr_assert_eq(count(t->url), n, "%s: nothing stored", t->what);
	}
	close_model();
}

Test(prov_validate, status_of_each_reason)
{
	cr_assert_eq(prov_reason_status(PROV_E_MALFORMED), 400);
	cr_assert_eq(prov_reason_status(PROV_E_INVALID), 422);
	cr_assert_eq(prov_reason_status(PROV_E_CONFLICT), 409);
	cr_assert_eq(prov_reason_status(PROV_E_NOT_FOUND), 404);
	cr_assert_str_eq(prov_reason_code(PROV_E_TOO_LARGE), "too-large");
}

/* ---- changes that would break others --------------------------------------- */

Test(prov_rules, a_change_that_breaks_a_service_is_refused)
{
	struct prov_error e;
	json_t *body, *out = NULL;

	base();
	post("services", service1);
	int64_t v = version();
	/* the package loses its ids step: the service names two devices */
	body = json_pack("{s:[s]}", "functions", "firewall");
	cr_assert_eq(prov_obj_replace(&m, res("packages"), NULL, 1, body, true, &out, &e),
		     -PROV_E_CONFLICT, "%s", e.message);
	cr_assert(strstr(e.message, "service 1"), "%s", e.message);
	json_decref(body);
	/* the firewall pool's function changes */
	body = json_pack("{s:s}", "function", "proxy");
	cr_assert_eq(prov_obj_replace(&m, res("device-pools"), NULL, 1, body, true, &out, &e),
		     -PROV_E_CONFLICT);
	json_decref(body);
	/* a used device cannot go; an unused one can */
	cr_assert_eq(prov_obj_delete(&m, res("devices"), NULL, 3, &e), -PROV_E_IN_USE);
	cr_assert(strstr(e.message, "service 1"), "%s", e.message);
	cr_assert_eq(prov_obj_delete(&m, res("customers"), NULL, 1, &e), -PROV_E_IN_USE);
	cr_assert_eq(version(), v);
	cr_assert_eq(prov_obj_delete(&m, res("customers"), NULL, 2, &e), 0, "%s", e.message);
	cr_assert_eq(version(), v + 1);
	close_model();
}

Test(prov_rules, replace_and_patch_keep_the_id)
{
	struct prov_error e;
	json_t *body, *out = NULL;

	base();
	post("services", service1);
	body = json_pack("{s:[i,i], s:[{s:s,s:i}]}", "order", 1, 0, "ports", "protocol", "tcp",
			 "port", 8080);
	cr_assert_eq(prov_obj_replace(&m, res("services"), NULL, 1, body, true, &out, &e), 0,
		     "%s: %s", e.field, e.message);
	cr_assert_eq(json_integer_value(json_object_get(out, "id")), 1);
	cr_assert_eq(json_integer_value(json_object_get(json_array_get(
		json_object_get(out, "ports"), 0), "port")), 8080);
	cr_assert_str_eq(json_string_value(json_object_get(out, "name")), "web", "PATCH kept it");
	json_decref(out);
	json_decref(body);
	/* PUT replaces: a missing required field is an error */
	body = json_pack("{s:s}", "name", "web2");
	cr_assert_eq(prov_obj_replace(&m, res("services"), NULL, 1, body, false, &out, &e),
		     -PROV_E_MISSING);
	json_decref(body);
	cr_assert_eq(prov_obj_replace(&m, res("services"), NULL, 9, NULL, false, &out, &e),
		     -PROV_E_NOT_FOUND);
	close_model();
}

/* ---- versions ------------------------------------------------------------- */

Test(prov_version, rollback_restores_an_earlier_set_and_keeps_ids)
{
	struct prov_error e;
	json_t *then, *now, *rec;

	base();
	int64_t v = version();
	cr_assert_eq(prov_version_get(&m, v, &then, &e), 0);
	post("services", service1);
	post("acls",
	  "{\"service\": 1, \"position\": 5, \"action\": \"deny\", \"protocol\": \"tcp\", "
	     "\"port\": 22}");
	cr_assert_eq(count("services"), 1);
	cr_assert_eq(prov_version_rollback(&m, NULL, v, &rec, &e), 0, "%s: %s", e.field, e.message);
	cr_assert_eq(json_integer_value(json_object_get(rec, "version")), v + 3);
	json_decref(rec);
	cr_assert_eq(count("services"), 0);
	cr_assert_eq(count("acls"), 0);
	cr_assert_eq(prov_version_get(&m, v + 3, &now, &e), 0);
	cr_assert(json_equal(json_object_get(then, "document"), json_object_get(now, "document")));
	json_decref(now);
	/* forward again: back to the version with the service, same ids */
	cr_assert_eq(prov_version_rollback(&m, NULL, v + 2, &rec, &e), 0, "%s", e.message);
	json_decref(rec);
	json_t *svc;
	cr_assert_eq(prov_obj_get(&m, res("services"), NULL, 1, &svc, &e), 0);
	cr_assert_str_eq(json_string_value(json_object_get(svc, "name")), "web");
	json_decref(svc);
	cr_assert_eq(count("acls"), 1);
	/* an id never comes back for something else */
	cr_assert_gt(post("customers", "{\"name\": \"initech\"}"), 2);
	json_decref(then);
	cr_assert_eq(prov_version_rollback(&m, NULL, 999, &rec, &e), -PROV_E_NOT_FOUND);
	close_model();
}

Test(prov_version, a_bad_document_changes_nothing)
{
	static const char *const docs[] = {
		"[]",
		"{\"resources\": {\"users\": []}}",
		"{\"resources\": {\"devices\": [{\"name\": \"x\"}]}}",
		"{\"resources\": {\"interfaces\": [{\"id\": 1, \"name\": \"a\"}, {\"id\": 1, \"name\": \"b\"}]}}",
		"{\"resources\": {\"segments\": [{\"id\": 1, \"name\": \"s\", \"interface\": 4, "
		"\"prefix\": \"10.0.0.0/8\"}]}}",
		"{\"resources\": {}, \"extra\": 1}",
	};
	struct prov_error e;

	base();
	post("services", service1);
	for (size_t i = 0; i < LOOM_ARRAY_SIZE(docs); i++) {
		json_t *doc = json_loads(docs[i], 0, NULL);
		cr_assert_not_null(doc);
		cr_assert_eq(prov_db_begin(m.db, &e), 0);
		cr_assert_lt(prov_model_import(&m, doc, &e), 0, "%s", docs[i]);
		prov_db_rollback(m.db);
		json_decref(doc);
		cr_assert_eq(count("services"), 1, "%s", docs[i]);
		cr_assert_eq(count("devices"), 3);
	}
	close_model();
}

Test(prov_version, a_customer_with_users_cannot_be_rolled_away)
{
	struct prov_error e;
	json_t *rec;

	cr_assert_eq(prov_auth_init(), 0);
	open_model();
	int64_t v = version();
	post("customers", "{\"name\": \"acme\"}");
	cr_assert_eq(try_post("users", "{\"name\": \"bob\", \"password\": \"bobs-password\", "
			      "\"role\": \"customer-admin\", \"customer\": 1}", &e),
		     -PROV_E_CONFLICT, "the first user must be able to make the others");
	post("users", "{\"name\": \"root\", \"password\": \"roots-password\", "
	     "\"role\": \"provider-admin\"}");
	post("users", "{\"name\": \"bob\", \"password\": \"bobs-password\", \"role\": "
	     "\"customer-admin\", \"customer\": 1}");
	cr_assert_eq(version(), v + 1, "users are not definitions");
	cr_assert_eq(prov_version_rollback(&m, NULL, v, &rec, &e), -PROV_E_IN_USE);
	cr_assert_eq(count("customers"), 1);
	cr_assert_eq(version(), v + 1);
	close_model();
}

/* ---- rendering ------------------------------------------------------------ */

Test(prov_render, pkt_engine_gets_the_chain_in_traffic_order)
{
	struct prov_error e;
	json_t *out;

	base();
	post("services", "{\"name\": \"web\", \"customer\": 1, \"package\": 1, \"pool\": 1, "
	     "\"address\": \"198.51.100.10\", \"devices\": [2, 3], \"order\": [1, 0], "
	     "\"ports\": [{\"protocol\": \"tcp\", \"port\": 80}]}");
	post("acls", "{\"service\": 1, \"position\": 9, \"action\": \"allow\"}");
	post("acls",
	  "{\"service\": 1, \"position\": 2, \"action\": \"deny\", \"protocol\": \"udp\"}");
	cr_assert_eq(prov_render_version(&m, version(), PROV_TARGET_PKT_ENGINE, &out, &e), 0);
	/* the engine's own definitions (pe_config.c): the chain by device name */
	json_t *svc = json_array_get(json_object_get(out, "services"), 0);
	json_t *chain = json_object_get(svc, "chain");
	cr_assert_eq(json_array_size(chain), 2);
	cr_assert_str_eq(json_string_value(json_array_get(chain, 0)), "ids1");
	cr_assert_str_eq(json_string_value(json_array_get(chain, 1)), "fw2");
	json_t *devs = json_object_get(out, "devices");
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(devs, 1), "alternate")),
			 "fw1");
	json_t *acl = json_object_get(svc, "acl");
	cr_assert_eq(json_array_size(acl), 1, "the udp rule does not go to a tcp service");
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(acl, 0), "action")),
			 "permit");
	json_decref(out);
	cr_assert_eq(prov_render_version(&m, 1, PROV_TARGET_SVC_MGR, &out, &e), 0);
	cr_assert_eq(json_array_size(json_object_get(out, "services")), 0,
	  "version 1 is empty");
	cr_assert_eq(json_integer_value(json_object_get(out, "version")), 1);
	json_decref(out);
	close_model();
}

/* The svc-mgr's document is its configuration's `services:` list. */
Test(prov_render, svc_mgr_gets_its_own_services_schema)
{
	struct prov_error e;
	char *text;
	size_t len;

	open_model();
	post("customers", "{\"name\": \"acme\"}");
	post("virtual-services", "{\"name\": \"www\", \"customer\": 1, "
	     "\"address\": \"203.0.113.10\", \"protocol\": \"tcp\", \"port\": 80, "
	     "\"algorithm\": \"wrr\", \"persistence_s\": 30, \"health\": \"http\", "
	     "\"health_path\": \"/health\", \"client_domains\": [\"192.0.2.0/24\"], "
	     "\"backends\": [{\"address\": \"10.2.0.1\", \"port\": 8080, \"weight\": 3}]}");
	post("nat-pools", "{\"name\": \"outside\", \"prefix\": \"203.0.113.128/25\"}");
	cr_assert_eq(prov_render_document(&m, version(), PROV_TARGET_SVC_MGR, &text, &len, &e), 0,
		     "%s", e.message);
	cr_assert_str_eq(text,
	  "{\"services\":[{\"name\":\"www\",\"type\":\"lb\",\"protocol\":\"tcp\","
	  "\"address\":\"203.0.113.10\",\"port\":80,\"algorithm\":\"wrr\","
	  "\"persistence\":\"30s\",\"clients\":[\"192.0.2.0/24\"],"
	  "\"health\":{\"type\":\"http\",\"interval\":\"2000ms\",\"timeout\":\"1000ms\","
	  "\"path\":\"/health\"},"
	  "\"backends\":[{\"address\":\"10.2.0.1\",\"port\":8080,\"weight\":3}]},"
	  "{\"name\":\"outside\",\"type\":\"nat\",\"protocol\":\"any\","
	  "\"clients\":[\"0.0.0.0/0\"],\"pool\":[\"203.0.113.128/25\"],"
	  "\"port-min\":1024,\"port-max\":65535}]}");
	cr_assert_eq(len, strlen(text));
	free(text);
	close_model();
}

/* ---- roles ---------------------------------------------------------------- */

Test(prov_roles, a_customer_admin_sees_and_changes_only_its_own)
{
	const struct prov_actor acme = { .user = 5, .role = PROV_ROLE_CUSTOMER, .customer = 1,
					 .name = "acme-admin" };
	struct prov_error e;
	json_t *out, *body;

	base();
	post("services", service1);
	post("services", "{\"name\": \"mail\", \"customer\": 2, \"package\": 1, \"pool\": 1, "
	     "\"address\": \"198.51.100.11\", \"devices\": [1, 3], "
	     "\"ports\": [{\"protocol\": \"tcp\", \"port\": 25}]}");
	post("acls", "{\"service\": 2, \"position\": 1, \"action\": \"deny\"}");
	cr_assert_eq(prov_obj_list(&m, res("services"), &acme, &out, &e), 0);
	cr_assert_eq(json_array_size(out), 1);
	json_decref(out);
	cr_assert_eq(prov_obj_get(&m, res("services"), &acme, 2, &out, &e), -PROV_E_FORBIDDEN);
	cr_assert_eq(prov_obj_get(&m, res("acls"), &acme, 1, &out, &e), -PROV_E_FORBIDDEN);
	cr_assert_eq(prov_obj_get(&m, res("devices"), &acme, 1, &out, &e), -PROV_E_FORBIDDEN);
	cr_assert_eq(prov_obj_delete(&m, res("services"), &acme, 2, &e), -PROV_E_FORBIDDEN);
	/* its own ACL on another's service is still another's */
	body = json_pack("{s:i, s:i, s:s}", "service", 2, "position", 3, "action", "allow");
	cr_assert_eq(prov_obj_create(&m, res("acls"), &acme, body, &out, &e), -PROV_E_FORBIDDEN);
	json_decref(body);
	body = json_pack("{s:i, s:i, s:s}", "service", 1, "position", 3, "action", "allow");
	cr_assert_eq(prov_obj_create(&m, res("acls"), &acme, body, &out, &e), 0, "%s", e.message);
	json_decref(out);
	json_decref(body);
	/* and cannot hand its service to another customer */
	body = json_pack("{s:i}", "customer", 2);
	cr_assert_eq(prov_obj_replace(&m, res("services"), &acme, 1, body, true, &out, &e),
		     -PROV_E_FORBIDDEN);
	json_decref(body);
	close_model();
}
