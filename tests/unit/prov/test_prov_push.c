// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * What the provisioner pushes, read by the daemon that gets it: the
 * svc-mgr's document, rendered from the model, loads with the manager's
 * own push schema (the rows of its configuration's `services:`) into the
 * values the API was given; what the manager's schema refuses comes back
 * as a reason. And the push state the provisioner keeps per target.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/key.h"
#include "prov_model.h"
#include "prov_post.h"
#include "prov_push.h"
#include "prov_version.h"
#include "svc_config.h"

static struct prov_model m;

static int load_current(struct svc_config *c, struct cfg_diag *diag)
{
	struct prov_error e;
	int64_t v;
	char *doc;
	size_t len;

	cr_assert_eq(prov_version_current(&m, &v, &e), 0);
	cr_assert_eq(prov_render_document(&m, v, PROV_TARGET_SVC_MGR, &doc, &len, &e), 0);
	int r = cfg_load_buffer("push", doc, len, &svc_push_schema, c, diag);
	free(doc);
	return r;
}

static void setup(void)
{
	char why[256];

	cr_assert_eq(prov_model_open(&m, ":memory:", why, sizeof(why)), 0, "%s", why);
}

static void teardown(void)
{
	prov_model_close(&m);
}

TestSuite(prov_push, .init = setup, .fini = teardown);

Test(prov_push, the_svc_mgr_reads_its_document_with_its_own_schema)
{
	struct svc_config *c = calloc(1, sizeof(*c));
	struct cfg_diag diag;
	char a[KEY_FMT_LEN];

	cr_assert_eq(cfg_schema_check(&svc_push_schema, NULL, 0), 0);
	prov_post(&m, "virtual-services", "{\"name\": \"www\", \"address\": \"10.0.0.100\", "
	     "\"protocol\": \"tcp\", \"port\": 80, \"algorithm\": \"maglev\", "
	     "\"persistence_s\": 30, \"health\": \"http\", \"health_path\": \"/ok\", "
	     "\"health_interval_ms\": 500, \"health_timeout_ms\": 200, "
	     "\"client_domains\": [\"10.1.0.0/16\"], \"backends\": ["
	     "{\"address\": \"10.2.0.1\", \"port\": 8080, \"weight\": 3}, "
	     "{\"address\": \"10.2.0.2\", \"port\": 8080, \"weight\": 0}]}");
	prov_post(&m, "nat-pools", "{\"name\": \"out\", \"prefix\": \"198.51.100.0/28\", "
	     "\"port_min\": 2000, \"port_max\": 3000, \"inside\": [\"10.9.0.0/16\"]}");
	cr_assert_eq(load_current(c, &diag), 0, "%s", diag.msg[0]);
	cr_assert_eq(c->n_services, 2);
	const struct svc_service_cfg *s = &c->services[0], *n = &c->services[1];
	cr_assert_str_eq(s->name, "www");
	cr_assert_eq(s->type, SVC_TYPE_LB);
	cr_assert_str_eq(key_addr_format(s->address, a, sizeof(a)), "10.0.0.100");
	cr_assert_eq(s->port, 80);
	cr_assert_eq(s->persistence_ms, 30000);
	cr_assert_eq(s->n_clients, 1);
	cr_assert_eq(s->clients[0].len, 16);
	cr_assert_str_eq(s->health.path, "/ok");
	cr_assert_eq(s->health.interval_ms, 500);
	cr_assert_eq(s->health.timeout_ms, 200);
	cr_assert_eq(s->n_backends, 2);
	cr_assert_eq(s->backends[0].weight, 3);
	cr_assert_eq(s->backends[1].weight, 0, "a drained backend stays drained");
	cr_assert_eq(s->backends[1].port, 8080);
	cr_assert_eq(n->type, SVC_TYPE_NAT);
	cr_assert_eq(n->proto, SVC_P_ANY);
	cr_assert_eq(n->n_pool, 1);
	cr_assert_eq(n->pool[0].len, 28);
	cr_assert_eq(n->port_min, 2000);
	cr_assert_eq(n->port_max, 3000);
	cr_assert_str_eq(key_addr_format(n->clients[0].addr, a, sizeof(a)), "10.9.0.0");
	free(c);
}

Test(prov_push, what_the_managers_schema_refuses_comes_back_with_a_reason)
{
	struct svc_config *c = calloc(1, sizeof(*c));
	struct cfg_diag diag;

	/* a valid virtual service and NAT pool of the same name: two services
	 * of one name in the manager */
	prov_post(&m, "virtual-services", "{\"name\": \"edge\", \"address\": \"10.0.0.100\", "
	     "\"protocol\": \"tcp\", \"port\": 80, \"backends\": [{\"address\": \"10.2.0.1\", "
	     "\"port\": 80}]}");
	prov_post(&m, "nat-pools", "{\"name\": \"edge\", \"prefix\": \"198.51.100.0/28\"}");
	cr_assert_eq(load_current(c, &diag), -EINVAL);
	cr_assert(strstr(diag.msg[0], "services[1].name: same name as services[0]"), "%s",
		  diag.msg[0]);
	free(c);
}

Test(prov_push, the_state_remembers_refusals_until_a_newer_version_runs)
{
	struct prov_error e;
	int64_t acked;
	json_t *l;

	cr_assert_eq(prov_push_acked(&m, "mgr1", &acked, &e), 0);
	cr_assert_eq(acked, 0, "nothing recorded yet");
	cr_assert_eq(prov_push_record(&m, "mgr1", "svc-mgr", "ipc:///x", 1, 0, "", &e), 0);
	cr_assert_eq(prov_push_record(&m, "mgr1", "svc-mgr", "ipc:///x", 1, 3, "bad port", &e), 0);
	/* a query's answer (nothing refused) keeps the refusal of a newer version */
	cr_assert_eq(prov_push_record(&m, "mgr1", "svc-mgr", "ipc:///x", 1, 0, "", &e), 0);
	cr_assert_eq(prov_push_list(&m, &l, &e), 0);
	json_t *t = json_array_get(l, 0);
	cr_assert_eq(json_integer_value(json_object_get(t, "refused")), 3);
	cr_assert_str_eq(json_string_value(json_object_get(t, "message")), "bad port");
	cr_assert(json_is_true(json_object_get(t, "in_step")), "version 1 is current");
	json_decref(l);
	cr_assert_eq(prov_push_record(&m, "mgr1", "svc-mgr", "ipc:///x", 4, 0, "", &e), 0);
	cr_assert_eq(prov_push_acked(&m, "mgr1", &acked, &e), 0);
	cr_assert_eq(acked, 4);
	cr_assert_eq(prov_push_list(&m, &l, &e), 0);
	cr_assert(json_is_null(json_object_get(json_array_get(l, 0), "refused")));
	json_decref(l);
}
