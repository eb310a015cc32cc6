// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The engine's end of a provisioner's push (pkt-engine/src/pe_prov.c):
 * the engine's document, rendered from the provisioner's model, loads with
 * the engine's push schema into the definitions the API was given (devices
 * with their interfaces and alternates, chains in traffic order, ports,
 * ACLs in rule order) and builds its steps; what the engine refuses comes
 * back as one line naming the version and the key; the running interfaces
 * stay the engine's.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "common/key.h"
#include "pe_config.h"
#include "pe_prov.h"
#include "prov_model.h"
#include "../prov/prov_post.h"
#include "prov_version.h"

static const char running_yaml[] =
	"instance: t1\n"
	"backend: pcap\n"
	"provisioning: {listen: \"ipc:///run/loom/t1.prov\"}\n"
	"interfaces:\n"
	"  - {name: e0, role: client, gateway-mac: \"02:00:00:00:00:fe\", pcap-out: /dev/null}\n"
	"  - {name: e1, role: device, pcap-out: /dev/null}\n";

static struct prov_model m;
static struct pe_config *running;
static struct pe_defs *got;
static char why[CFG_DIAG_LEN];
static uint64_t pushed;

/* The model's current version, rendered for the engine, loaded by the engine. */
static int push_current(void)
{
	struct prov_error e;
	int64_t v;
	char *doc;
	size_t len;

	cr_assert_eq(prov_version_current(&m, &v, &e), 0);
	pushed = (uint64_t)v;
	cr_assert_eq(prov_render_document(&m, v, PROV_TARGET_PKT_ENGINE, &doc, &len, &e), 0);
	int r = pe_prov_load(&running->defs, (uint64_t)v, doc, len, got, why, sizeof(why));
	free(doc);
	return r;
}

static int push_text(const char *doc)
{
	return pe_prov_load(&running->defs, 9, doc, strlen(doc), got, why, sizeof(why));
}

static void setup(void)
{
	struct cfg_diag diag;
	char w[256];

	cr_assert_eq(prov_model_open(&m, ":memory:", w, sizeof(w)), 0, "%s", w);
	running = calloc(1, sizeof(*running));
	got = calloc(1, sizeof(*got));
	cr_assert_eq(cfg_load_buffer("engine.yaml", running_yaml, strlen(running_yaml),
				     &pe_config_schema, running, &diag), 0, "%s", diag.msg[0]);
}

static void teardown(void)
{
	prov_model_close(&m);
	free(running);
	free(got);
}

TestSuite(pe_prov, .init = setup, .fini = teardown);

/* Two firewalls (fw2 stands in for fw1), two servers, a service whose
 * package order is overridden, on the engine's interfaces e0 and e1. */
static void model(void)
{
	prov_post(&m, "interfaces", "{\"name\": \"e0\"}");
	prov_post(&m, "interfaces", "{\"name\": \"e1\"}");
	prov_post(&m, "segments", "{\"name\": \"apps\", \"interface\": 2, \"prefix\": \"10.4.0.0/24\"}");
	prov_post(&m, "ip-pools", "{\"name\": \"public\", \"interface\": 1, \"prefix\": \"10.9.0.0/24\"}");
	prov_post(&m, "device-pools", "{\"name\": \"fws\", \"function\": \"firewall\", \"brand\": \"nft\"}");
	prov_post(&m, "device-pools", "{\"name\": \"srvs\", \"function\": \"server\", \"brand\": \"nginx\"}");
	prov_post(&m, "devices", "{\"name\": \"fw2\", \"pool\": 1, \"segment\": 1, "
	     "\"mac\": \"02:00:00:00:0f:02\", \"address\": \"10.4.0.3\", \"mode\": \"alias\"}");
	prov_post(&m, "devices", "{\"name\": \"fw1\", \"pool\": 1, \"segment\": 1, \"alternate\": 1, "
	     "\"mac\": \"02:00:00:00:0f:01\", \"address\": \"10.4.0.2\", \"mode\": \"alias\"}");
	prov_post(&m, "devices", "{\"name\": \"web1\", \"pool\": 2, \"segment\": 1, "
	     "\"mac\": \"02:00:00:00:0a:01\", \"address\": \"10.4.0.11\", \"mode\": \"nat\"}");
	prov_post(&m, "packages", "{\"name\": \"srv-first\", \"functions\": [\"server\", \"firewall\"]}");
	prov_post(&m, "customers", "{\"name\": \"acme\"}");
	prov_post(&m, "services", "{\"name\": \"shop\", \"customer\": 1, \"package\": 1, \"pool\": 1, "
	     "\"address\": \"10.9.0.1\", \"devices\": [3, 2], \"order\": [1, 0], "
	     "\"ports\": [{\"protocol\": \"tcp\", \"port\": 80}, "
	     "{\"protocol\": \"tcp\", \"port\": 21, \"port_end\": 25}, "
	     "{\"protocol\": \"udp\", \"port\": 53}]}");
}

Test(pe_prov, schemas_are_sound)
{
	char w[256];

	cr_assert_eq(cfg_schema_check(&pe_push_schema, w, sizeof(w)), 0, "%s", w);
	cr_assert_eq(cfg_schema_check(&pe_config_schema, w, sizeof(w)), 0, "%s", w);
	cr_assert_str_eq(running->prov.listen, "ipc:///run/loom/t1.prov");
}

Test(pe_prov, the_rendering_loads_with_the_engine_schema)
{
	char a[KEY_FMT_LEN];

	model();
	prov_post(&m, "acls", "{\"service\": 1, \"position\": 20, \"action\": \"allow\", "
	     "\"protocol\": \"tcp\", \"source\": \"10.1.0.0/24\", \"port\": 80}");
	prov_post(&m, "acls", "{\"service\": 1, \"position\": 10, \"action\": \"deny\", "
	     "\"protocol\": \"tcp\", \"source\": \"10.1.0.128/25\", \"port\": 20, "
	     "\"port_end\": 30}");
	prov_post(&m, "acls", "{\"service\": 1, \"position\": 30, \"action\": \"deny\", "
	     "\"source\": \"192.0.2.0/24\"}");
	prov_post(&m, "acls", "{\"service\": 1, \"position\": 5, \"action\": \"deny\", \"protocol\": \"icmp\"}");
	prov_post(&m, "acls", "{\"service\": 1, \"position\": 6, \"action\": \"deny\", \"interface\": 2}");
	cr_assert_eq(push_current(), 0, "%s", why);

	cr_assert_eq(got->n_interfaces, 2, "the running interfaces");
	cr_assert_str_eq(got->interfaces[0].name, "e0");
	cr_assert_eq(got->n_devices, 3);
	const struct pe_device_cfg *fw1 = &got->devices[1];
	cr_assert_str_eq(fw1->name, "fw1");
	cr_assert_str_eq(fw1->function, "firewall");
	cr_assert_str_eq(fw1->interface, "e1", "the interface of its segment");
	cr_assert_str_eq(fw1->alternate, "fw2");
	cr_assert_eq(fw1->mac[5], 0x01);
	cr_assert_eq(got->devices[2].mode, SEQ_MODE_NAT);
	key_addr_format(got->devices[2].address, a, sizeof(a));
	cr_assert_str_eq(a, "10.4.0.11");

	cr_assert_eq(got->n_services, 2, "tcp and udp ports: two engine services");
	const struct pe_service_cfg *tcp = &got->services[0], *udp = &got->services[1];
	cr_assert_str_eq(tcp->name, "shop");
	cr_assert_str_eq(udp->name, "shop/udp");
	cr_assert_eq(pe_proto_number(udp->protocol + 1), 17);
	cr_assert_str_eq(tcp->interface, "e0", "the interface of its IP pool");
	cr_assert_eq(tcp->n_chain, 2);
	cr_assert_str_eq(tcp->chain[0], "fw1", "the order override: traffic order");
	cr_assert_str_eq(tcp->chain[1], "web1");
	cr_assert_eq(tcp->n_ports, 2);
	cr_assert_eq(tcp->ports[0].port, 80);
	cr_assert_eq(tcp->ports[1].port, 21);
	cr_assert_eq(tcp->ports[1].dynamic.lo, 22, "21-25: 21 and the rest as its range");
	cr_assert_eq(tcp->ports[1].dynamic.hi, 25);
	/* rule order; icmp and another ingress interface never match here */
	cr_assert_eq(tcp->n_acl, 3);
	cr_assert_eq(tcp->acl[0].action, SEQ_ACL_DENY);
	cr_assert_eq(tcp->acl[0].ports.lo, 20);
	cr_assert_eq(tcp->acl[0].ports.hi, 30);
	cr_assert_eq(tcp->acl[0].client.len, 25);
	cr_assert_eq(tcp->acl[1].action, SEQ_ACL_PERMIT);
	cr_assert_eq(tcp->acl[2].ports.hi, 65535, "no port: any");
	cr_assert_eq(udp->n_acl, 1, "the tcp rules are not the udp service's");
	cr_assert_eq(udp->acl[0].client.len, 24);
	cr_assert_eq(got->version, pushed, "the definitions' version is the push's");

	int rc;
	struct seq_builder *b = pe_defs_build(got, NULL, NULL, &rc);
	cr_assert_not_null(b, "the pushed definitions build: %d", rc);
	seq_builder_free(b);
}

Test(pe_prov, a_document_the_engine_cannot_steer_is_refused_with_its_reason)
{
	model();
	/* a device without a segment has no engine interface to reach it on */
	prov_post(&m, "devices", "{\"name\": \"fw3\", \"pool\": 1, \"mac\": \"02:00:00:00:0f:03\", "
	     "\"address\": \"10.4.0.4\", \"mode\": \"alias\"}");
	cr_assert_lt(push_current(), 0);
	cr_assert(strstr(why, "devices[3]") && strstr(why, "interface"), "%s", why);
	cr_assert(!strncmp(why, "version ", 8), "%s", why);
}

Test(pe_prov, refusals_name_the_version_and_the_key)
{
	static const struct {
		const char *doc, *want;
	} cases[] = {
		{ "{\"devices\": [{\"name\": \"a\", \"mac\": \"02:00:00:00:00:0a\", "
		  "\"interface\": \"e7\"}]}",
		  "version 9: devices[0].interface: no interface named 'e7'" },
		{ "{\"devices\": [{\"name\": \"a\", \"mac\": \"02:00:00:00:00:0a\", "
		  "\"interface\": \"e1\"}], \"services\": [{\"name\": \"s\", \"address\": "
		  "\"10.9.0.1\", \"interface\": \"e1\", \"ports\": [{\"port\": 80}], "
		  "\"chain\": [\"a\"]}]}",
		  "services[0].interface: 'e1' is not a client interface" },
		{ "{\"devices\": [{\"name\": \"a\", \"mac\": \"02:00:00:00:00:0a\", "
		  "\"interface\": \"e1\"}], \"services\": ["
		  "{\"name\": \"s\", \"address\": \"10.9.0.1\", \"interface\": \"e0\", "
		  "\"ports\": [{\"port\": 80}], \"chain\": [\"a\"]}, "
		  "{\"name\": \"t\", \"address\": \"10.9.0.1\", \"interface\": \"e0\", "
		  "\"ports\": [{\"port\": 80}], \"chain\": [\"a\"]}]}",
		  "takes the same packets as another service's" },
		{ "{\"services\": 3}", "version 9:1:" },
		{ "{\"steps\": []}", "steps" },
		{ "{\"interfaces\": [{\"name\": \"e0\", \"role\": \"client\", "
		  "\"gateway-mac\": \"02:00:00:00:00:fe\"}]}",
		  "version 9: interfaces: not the running ones (restart to change them)" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		why[0] = 0;
		cr_assert_lt(push_text(cases[i].doc), 0, "case %zu loaded", i);
		cr_assert(strstr(why, cases[i].want), "case %zu: '%s' does not say '%s'", i, why,
			  cases[i].want);
	}
}

Test(pe_prov, the_running_interfaces_may_be_named_and_nothing_kept_before_a_push)
{
	char doc[1024];
	struct pe_defs *d = calloc(1, sizeof(*d));

	snprintf(doc, sizeof(doc), "{\"interfaces\": [{\"name\": \"e0\", \"role\": \"client\", "
		 "\"gateway-mac\": \"02:00:00:00:00:fe\", \"pcap-out\": \"/dev/null\"}, "
		 "{\"name\": \"e1\", \"role\": \"device\", \"pcap-out\": \"/dev/null\"}], "
		 "\"devices\": [], \"services\": []}");
	cr_assert_eq(push_text(doc), 0, "%s", why);
	cr_assert_eq(got->version, 9);
	cr_assert_eq(got->n_services, 0);
	d->n_services = 5;
	pe_prov_keep(NULL, d);
	cr_assert_eq(d->n_services, 5);
	free(d);
}
