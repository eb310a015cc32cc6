// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Fuzz the provisioner's validation: a JSON request body (or a whole
 * definitions document) -> a change to the model.
 *
 * One model lives for the whole run, in memory, holding a small provider
 * (interfaces, a segment, pools, three devices, a package, two customers,
 * a service with an ACL, a virtual service, a NAT pool) at version 2.
 * Byte 0 of the input picks what the rest (a JSON text) is:
 *   0-10   the body of a POST to resource byte0 (users excluded: hashing a
 *          password costs 64 MiB and tens of milliseconds)
 *   11-21  the body of a PATCH of object 1 of resource byte0 - 11
 *   22-32  the body of a PUT of object 1 of resource byte0 - 22
 *   33     the body of a replica of service 1 (a new version)
 *   34     the body of a cut-over of service 1 (a new version)
 *   35     the body of a trial of service 1 (no engine: recorded, failed;
 *          no version)
 *   other  a definitions document, imported as a rollback would
 * Oracles besides "never crash, never leak": a refusal always says why (a
 * reason, a message) and stores nothing (the version does not move); what
 * is accepted leaves a model whose own export imports again cleanly and
 * renders for both daemons. After each accepted change the model is rolled
 * back to version 2, and the versions made since are forgotten, so every
 * input meets the same state.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prov_db.h"
#include "prov_trial.h"
#include "prov_version.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char base[] =
	"{\"resources\": {"
	"\"interfaces\": [{\"id\": 1, \"name\": \"eth0\"}, {\"id\": 2, \"name\": \"eth1\"}],"
	"\"segments\": [{\"id\": 1, \"name\": \"dev\", \"interface\": 2, \"prefix\": \"10.1.0.0/24\"}],"
	"\"ip_pools\": [{\"id\": 1, \"name\": \"pub\", \"prefix\": \"198.51.100.0/24\"}],"
	"\"device_pools\": [{\"id\": 1, \"name\": \"fw\", \"function\": \"firewall\", \"brand\": \"a\"},"
	" {\"id\": 2, \"name\": \"ids\", \"function\": \"ids\", \"brand\": \"b\"}],"
	"\"devices\": [{\"id\": 1, \"name\": \"fw1\", \"pool\": 1, \"segment\": 1,"
	" \"mac\": \"02:00:00:00:00:01\","
	" \"address\": \"10.1.0.11\", \"mode\": \"nat\", \"alternate\": 2},"
	" {\"id\": 2, \"name\": \"fw2\", \"pool\": 1, \"mac\": \"02:00:00:00:00:02\","
	" \"address\": \"10.1.0.12\", \"mode\": \"alias\"},"
	" {\"id\": 3, \"name\": \"ids1\", \"pool\": 2, \"mac\": \"02:00:00:00:00:03\","
	" \"address\": \"10.1.0.13\", \"mode\": \"loopback\"}],"
	"\"packages\": [{\"id\": 1, \"name\": \"secure\", \"functions\": [\"firewall\", \"ids\"]}],"
	"\"customers\": [{\"id\": 1, \"name\": \"acme\"}, {\"id\": 2, \"name\": \"globex\"}],"
	"\"services\": [{\"id\": 1, \"name\": \"web\", \"customer\": 1, \"package\": 1, \"pool\": 1,"
	" \"address\": \"198.51.100.10\", \"devices\": [1, 3], \"order\": [1, 0],"
	" \"ports\": [{\"protocol\": \"tcp\", \"port\": 80, \"port_end\": 90}]}],"
	"\"acls\": [{\"id\": 1, \"service\": 1, \"position\": 1, \"action\": \"deny\","
	" \"source\": \"192.0.2.0/24\"}],"
	"\"virtual_services\": [{\"id\": 1, \"name\": \"www\", \"customer\": 2,"
	" \"address\": \"203.0.113.1\", \"protocol\": \"tcp\", \"port\": 443,"
	" \"client_domains\": [\"10.0.0.0/8\"], \"backends\": [{\"address\": \"10.2.0.1\","
	" \"port\": 443, \"weight\": 2}]}],"
	"\"nat_pools\": [{\"id\": 1, \"name\": \"out\", \"prefix\": \"203.0.113.128/25\","
	" \"inside\": [\"10.0.0.0/8\"]}]}}";

static struct prov_model m;
static int64_t base_version;

static int64_t version(void)
{
	int64_t v;

	if (prov_version_current(&m, &v, NULL))
		abort();
	return v;
}

static void setup(void)
{
	struct prov_error e;
	char why[256];
	json_t *doc = json_loads(base, 0, NULL);

	if (!doc || prov_model_open(&m, ":memory:", why, sizeof(why)) ||
	    prov_db_begin(m.db, &e) || prov_model_import(&m, doc, &e) ||
	    prov_version_commit(&m, NULL, "base", &base_version, &e) || prov_db_commit(m.db, &e)) {
		fprintf(stderr, "fuzz_prov setup: %s: %s\n", e.field, e.message);
		abort();
	}
	json_decref(doc);
}

/* What is stored must always be a valid set: it imports again and renders. */
static void check_model(void)
{
	struct prov_error e;
	json_t *doc, *out;

	if (prov_model_export(&m, &doc, &e) || prov_db_begin(m.db, &e))
		abort();
	if (prov_model_import(&m, doc, &e)) {
		fprintf(stderr, "stored model does not validate: %s: %s\n", e.field, e.message);
		abort();
	}
	prov_db_rollback(m.db);
	for (int t = PROV_TARGET_PKT_ENGINE; t <= PROV_TARGET_SVC_MGR; t++) {
		if (prov_render(doc, 1, (enum prov_target)t, &out, &e))
			abort();
		json_decref(out);
	}
	json_decref(doc);
}

static void restore(void)
{
	struct prov_error e;
	json_t *rec;

	if (prov_version_rollback(&m, NULL, base_version, &rec, &e)) {
		fprintf(stderr, "rollback to base: %s: %s\n", e.field, e.message);
		abort();
	}
	json_decref(rec);
	char sql[64];
	snprintf(sql, sizeof(sql), "DELETE FROM versions WHERE version > %lld",
		 (long long)base_version);
	if (sqlite3_exec(m.db, sql, NULL, NULL, NULL))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct prov_error e = { .reason = PROV_OK };
	json_t *body, *out = NULL;
	int r;

	if (!m.db)
		setup();
	if (size < 1)
		return 0;
	body = json_loadb((const char *)data + 1, size - 1, JSON_REJECT_DUPLICATES, NULL);
	if (!body)
		return 0;
	int64_t before = version();
	unsigned pick = data[0];
	size_t n = prov_n_resources - 1; /* the last is users */
	bool versioned = true;
	if (pick >= 3 * n && pick < 3 * n + 3) {
		if (pick == 3 * n)
			r = prov_service_replicate(&m, NULL, 1, body, &out, &e);
		else if (pick == 3 * n + 1)
			r = prov_service_cutover(&m, NULL, 1, body, &out, &e);
		else
			r = prov_trial_start(&m, NULL, 1, body, NULL, &out, &e);
		versioned = pick != 3 * n + 2;
		json_decref(out);
	} else if (pick < 3 * n) {
		const struct prov_resource *res = prov_resources[pick % n];
		if (pick < n)
			r = prov_obj_create(&m, res, NULL, body, &out, &e);
		else
			r = prov_obj_replace(&m, res, NULL, 1, body, pick < 2 * n, &out, &e);
		json_decref(out);
	} else {
		if (prov_db_begin(m.db, &e))
			abort();
		r = prov_model_import(&m, body, &e);
		if (!r)
			r = prov_version_commit(&m, NULL, "fuzz", NULL, &e);
		if (r)
			prov_db_rollback(m.db);
		else if (prov_db_commit(m.db, &e))
			abort();
	}
	json_decref(body);
	if (r) {
		/* refused: why, and nothing stored */
		if (r != -(int)e.reason || e.reason == PROV_OK || !e.message[0] ||
		    e.reason == PROV_E_INTERNAL) {
			fprintf(stderr, "refusal %d without a reason: %s: %s\n", r, e.field, e.message);
			abort();
		}
		if (version() != before)
			abort();
		return 0;
	}
	if (version() != before + versioned)
		abort();
	if (!versioned) {
		/* the next input meets no trial either */
		if (sqlite3_exec(m.db, "DELETE FROM trials", NULL, NULL, NULL))
			abort();
		return 0;
	}
	check_model();
	restore();
	return 0;
}
