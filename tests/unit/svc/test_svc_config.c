// SPDX-License-Identifier: LGPL-2.1-or-later
/* The manager's configuration: the shipped example loads and round-trips,
 * mistakes are named with their place. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "svc_config.h"
#include "svc_lb.h"
#include "svc_health.h"

static struct svc_config c, again;
static struct cfg_diag diag;

static int load(const char *text)
{
	memset(&c, 0, sizeof(c));
	memset(&diag, 0, sizeof(diag));
	return cfg_load_buffer("t.yaml", text, strlen(text), &svc_config_schema, &c, &diag);
}

static bool said(const char *what)
{
	for (unsigned i = 0; i < diag.n; i++)
		if (strstr(diag.msg[i], what))
			return true;
	cfg_diag_print(&diag, stderr);
	return false;
}

#define BASE "instance: m\nlisten: [ \"ipc:///tmp/m.sock\" ]\n"

Test(svc_config, schema_is_sound)
{
	char why[256] = "";
	cr_assert_eq(cfg_schema_check(&svc_config_schema, why, sizeof(why)), 0, "%s", why);
}

Test(svc_config, the_shipped_example_loads_and_round_trips)
{
	int r = cfg_load_file(SOURCE_ROOT "/deploy/svc-mgr.yaml", &svc_config_schema, &c, &diag);
	if (r)
		cfg_diag_print(&diag, stderr);
	cr_assert_eq(r, 0);
	cr_assert_str_eq(c.instance, "mgr1");
	cr_assert_eq(c.n_services, 4);
	cr_assert_str_eq(c.services[0].name, "web");
	cr_assert_eq(c.services[0].n_backends, 3);
	cr_assert_eq(c.services[0].backends[2].weight, 1);
	cr_assert_eq(c.services[0].health.rise, 2);
	cr_assert_eq(c.services[1].algorithm, SVC_LB_MAGLEV);
	cr_assert_eq(c.services[2].direct_return, SVC_DIRECT_ESTABLISHED);
	cr_assert_str_eq(c.services[2].backends[1].host_agent, "host-s2");
	cr_assert_eq(c.services[3].type, SVC_TYPE_NAT);
	cr_assert_eq(c.services[3].pool[0].len, 30);
	cr_assert_eq(c.fixed_ttl_ms, 60000);

	/* dump -> load gives the same struct */
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	cr_assert_eq(cfg_dump(&svc_config_schema, &c, f), 0);
	fclose(f);
	memset(&again, 0, sizeof(again));
	r = cfg_load_buffer("dump", text, len, &svc_config_schema, &again, &diag);
	free(text);
	cr_assert_eq(r, 0);
	cr_assert_eq(memcmp(&c, &again, sizeof(c)), 0);
}

Test(svc_config, names_of_enums_follow_the_libraries)
{
	/* the config's enum names index the libraries' enums directly */
	cr_assert_eq(load(BASE "services:\n  - { name: a, address: 10.9.0.1, algorithm: wlc,"
			  " health: { type: http }, backends: [ { address: 10.2.0.1 } ] }\n"), 0);
	cr_assert_eq(c.services[0].algorithm, SVC_LB_WLC);
	cr_assert_str_eq(svc_lb_alg_name((enum svc_lb_alg)c.services[0].algorithm), "wlc");
	cr_assert_eq(c.services[0].health.type, SVC_HC_HTTP);
	cr_assert_eq(c.services[0].backends[0].weight, 1, "default weight");
}

Test(svc_config, mistakes_are_named_with_their_place)
{
	cr_assert_neq(load(BASE "services:\n  - name: a\n    address: 10.9.0.1\n"), 0);
	cr_assert(said("t.yaml:4:5:") && said("services[0].backends: a load-balancing service "
					    "needs backends"));

	cr_assert_neq(load(BASE "services:\n  - { name: a, address: 10.9.0.1,"
			   " backends: [ { address: \"fd00::1\" } ] }\n"), 0);
	cr_assert(said("backends[0].address: not of the virtual address's family"));

	cr_assert_neq(load(BASE "services:\n  - { name: a, backends: [ { address: 10.2.0.1 } ] }\n"),
		      0);
	cr_assert(said("needs its virtual address"));

	cr_assert_neq(load(BASE "services:\n  - { name: n, type: nat, clients: [ 10.0.0.0/8 ] }\n"),
		      0);
	cr_assert(said("pool: a NAT service needs outside addresses"));

	cr_assert_neq(load(BASE "services:\n  - { name: n, type: nat, clients: [ 10.0.0.0/8 ],"
			   " pool: [ 198.50.0.0/15 ] }\n"), 0);
	cr_assert(said("at most 65536 addresses"));

	cr_assert_neq(load(BASE "services:\n  - { name: a, address: 10.9.0.1, backends: "
			   "[ { address: 10.2.0.1 }, { address: 10.2.0.1 } ] }\n"), 0);
	cr_assert(said("same address and port as backends[0]"));

	cr_assert_neq(load(BASE "services:\n  - { name: a, address: 10.9.0.1, backends: "
			   "[ { address: 10.2.0.1, weight: 70000 } ] }\n"), 0);
	cr_assert(said("weight"));

	cr_assert_neq(load(BASE "services:\n  - { name: a, address: 10.9.0.1, health: "
			   "{ type: tcp, interval: 1s, timeout: 2s }, backends: "
			   "[ { address: 10.2.0.1 } ] }\n"), 0);
	cr_assert(said("longer than the interval"));

	cr_assert_neq(load("instance: m\nlisten: [ \"tcp://0.0.0.0:7400\" ]\n"), 0);
	cr_assert(said("needs public-key and secret-key-file"));
	cr_assert(said("agent-keys"));

	cr_assert_neq(load("instance: m\n"), 0);
	cr_assert(said("the manager needs an endpoint"));

	cr_assert_neq(load(BASE "fixed-ttl: 1s\n"), 0);
	cr_assert(said("2 s tolerance"));

	cr_assert_neq(load(BASE "services:\n  - { name: n1, type: nat, clients: [ 10.0.0.0/8 ], "
			   "pool: [ 203.0.113.0/29 ] }\n  - { name: n2, type: nat, clients: "
			   "[ 172.16.0.0/12 ], pool: [ 203.0.113.4/30 ] }\n"), 0);
	cr_assert(said("services[1].pool[0]: overlaps services[0].pool[0]"));
	cr_assert_neq(load(BASE "services:\n  - { name: n1, type: nat, clients: [ 10.0.0.0/8 ], "
			   "pool: [ 203.0.113.0/29, 203.0.113.7/32 ] }\n"), 0);
	cr_assert(said("services[0].pool[1]: overlaps services[0].pool[0]"));
	cr_assert_eq(load(BASE "services:\n  - { name: n1, type: nat, clients: [ 10.0.0.0/8 ], "
			  "pool: [ 203.0.113.0/30 ] }\n  - { name: n2, type: nat, clients: "
			  "[ 172.16.0.0/12 ], pool: [ 203.0.113.4/30 ] }\n"), 0, "adjacent pools are fine");

	cr_assert_neq(load(BASE "services:\n  - { name: a, address: 10.9.0.1, direct-return: always,"
			   " backends: [ { address: 10.2.0.1 } ] }\n"), 0);
	cr_assert(said("services[0].direct-return: no backend names its host-agent"));
	cr_assert_neq(load(BASE "services:\n  - { name: a, address: 10.9.0.1, direct-return: bytes,"
			   " backends: [ { address: 10.2.0.1, host-agent: h1 } ] }\n"), 0);
	cr_assert(said("direct-return-bytes: direct-return: bytes needs the threshold"));
	cr_assert_neq(load(BASE "services:\n  - { name: a, address: 10.9.0.1, direct-return-bytes: 9,"
			   " backends: [ { address: 10.2.0.1, host-agent: h1 } ] }\n"), 0);
	cr_assert(said("only with direct-return: bytes"));
	cr_assert_eq(load(BASE "services:\n  - { name: a, address: 10.9.0.1, direct-return: bytes,"
			  " direct-return-bytes: 65536, backends: [ { address: 10.2.0.1, host-agent: h1 },"
			  " { address: 10.2.0.2 } ] }\n"), 0, "a backend without a host agent is fine");

	cr_assert_neq(load(BASE "replication: { listen: \"ipc:///r\", peers: [ { instance: b, "
			   "endpoint: \"ipc:///b\" } ] }\n"), 0);
	cr_assert(said("replication.group: replication needs its group's name"));
	cr_assert_neq(load(BASE "replication: { group: g, listen: \"ipc:///r\" }\n"), 0);
	cr_assert(said("replication.peers: replication needs the other managers"));
	cr_assert_neq(load(BASE "replication: { group: g, listen: \"tcp://10.0.0.1:7500\", peers: "
			   "[ { instance: b, endpoint: \"tcp://10.0.0.2:7500\" } ] }\n"), 0);
	cr_assert(said("peers[0].public-key: a tcp:// group admits only its members' keys"));
	cr_assert(said("replication.listen: a tcp:// endpoint needs public-key"));
	cr_assert_neq(load(BASE "replication: { group: g, listen: \"udp://x\", heartbeat: 100ms, "
			   "dead-time: 150ms, peers: [ { instance: m, endpoint: \"ipc:///b\" } ] }\n"),
		      0);
	cr_assert(said("expected an endpoint"));
	cr_assert(said("dead-time: at least two heartbeats"));
	cr_assert(said("lists this manager itself"));
	cr_assert_eq(load(BASE "replication: { group: g, role: active, listen: \"ipc:///r\", "
			  "peers: [ { instance: b, endpoint: \"ipc:///b\" } ] }\n"), 0);
	cr_assert_eq(c.repl.role, SVC_HA_ACTIVE);
	cr_assert_eq(c.repl.dead_ms, 300);

	cr_assert_neq(load(BASE "icmp-timeout: 2s\n"), 0);
	cr_assert(said("idle timeouts under 5 s"));

	cr_assert_neq(load(BASE "services:\n  - { name: a, address: 10.9.0.1, port: 80, backends: "
			   "[ { address: 10.2.0.1 } ] }\n  - { name: o, type: observe, "
			   "address: 10.9.0.1 }\n"), 0);
	cr_assert(said("services[1]: observes what services[0] decides"));
	cr_assert_eq(load(BASE "services:\n  - { name: a, address: 10.9.0.1, port: 80, backends: "
			  "[ { address: 10.2.0.1 } ] }\n  - { name: o, type: observe, "
			  "address: 10.9.0.1, port: 443 }\n"), 0, "another port is fine");

	cr_assert_neq(load(BASE "services:\n  - { name: a, address: 10.9.0.1, backends: "
			   "[ { address: 10.2.0.1 } ] }\n  - { name: a, address: 10.9.0.2, "
			   "backends: [ { address: 10.2.0.1 } ] }\n"), 0);
	cr_assert(said("services[1].name: same name as services[0]"));
}
