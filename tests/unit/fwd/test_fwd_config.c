// SPDX-License-Identifier: LGPL-2.1-or-later
/* The agent's configuration: the shipped example loads, mistakes are named. */
#include <criterion/criterion.h>
#include <string.h>

#include "common/msg.h"
#include "common/str.h"
#include "fwd_config.h"

static struct fwd_config c;
static struct cfg_diag diag;

static int load(const char *text)
{
	memset(&c, 0, sizeof(c));
	memset(&diag, 0, sizeof(diag));
	return cfg_load_buffer("t.yaml", text, strlen(text), &fwd_config_schema, &c, &diag);
}

static bool said(const char *what)
{
	for (unsigned i = 0; i < diag.n; i++)
		if (strstr(diag.msg[i], what))
			return true;
	return false;
}

Test(fwd_config, the_shipped_example_loads)
{
	memset(&diag, 0, sizeof(diag));
	int r = cfg_load_file(SOURCE_ROOT "/deploy/fwd-agent.yaml", &fwd_config_schema, &c, &diag);
	if (r)
		cfg_diag_print(&diag, stderr);
	cr_assert_eq(r, 0);
	cr_assert_str_eq(c.instance, "lab");
	cr_assert_eq(c.n_interfaces, 2);
	cr_assert_str_eq(c.interfaces[1].name, "lbr0");
	cr_assert_eq(c.n_managers, 1);
	cr_assert_eq(c.managers[0].punt_rate, 10000);
	cr_assert_eq(c.fixed_affinities, 65536);
	cr_assert_eq(c.heartbeat_ms, 1000);
	uint64_t caps = fwd_config_caps(&c);
	cr_assert(caps & MSG_CAP(MSG_S_ACT_NAT));
	cr_assert(caps & MSG_CAP(MSG_S_ACT_SEQ_ADJUST));
}

Test(fwd_config, defaults_and_caps)
{
	cr_assert_eq(load("instance: a\ninterfaces: [{name: eth0}]\nseq-adjust: false\n"), 0);
	cr_assert_eq(c.backend, FWD_IO_AFPACKET);
	cr_assert_eq(c.workers, 0);
	cr_assert_eq(c.sweep_ms, 100);
	cr_assert_eq(fwd_config_caps(&c) & MSG_CAP(MSG_S_ACT_SEQ_ADJUST), 0);
}

Test(fwd_config, mistakes_are_named_with_their_place)
{
	cr_assert_neq(load("instance: a\ninterfaces: [{name: eth0}]\n"
			   "managers:\n  - endpoint: tcp://10.0.0.1:7400\n"), 0);
	cr_assert(said("t.yaml:4:"), "line of the manager");
	cr_assert(said("server-key"));
	cr_assert(said("public-key and secret-key-file"));

	cr_assert_neq(load("instance: a\nbackend: pcap\ninterfaces: [{name: eth0}]\n"), 0);
	cr_assert(said("pcap-in or pcap-out"));

	cr_assert_neq(load("instance: a/b\ninterfaces: [{name: eth0}, {name: eth0}]\n"), 0);
	cr_assert(said("instance"));
	cr_assert(said("same name as interfaces[0]"));

	cr_assert_neq(load("instance: a\ninterfaces: [{name: eth0}]\nmanagers:\n"
			   "  - endpoint: ipc:///x\n    auth-key: 00zz\n"), 0);
	cr_assert(said("auth-key"));

	cr_assert_neq(load("instance: a\ninterfaces: [{name: eth0}]\nworkers: 65\n"), 0);
	cr_assert(said("workers"));

	cr_assert_neq(load("instance: a\ninterfaces: [{name: eth0}]\ndirect-return-via: 10.4.1.1\n"),
		      0);
	cr_assert(said("direct-return-via: is for host mode"));
	cr_assert_neq(load("instance: a\ninterfaces: [{name: eth0}]\nmode: host\nbackend: afxdp\n"),
		      0);
	cr_assert(said("host mode needs the afpacket or pcap back end"));
	cr_assert_neq(load("instance: a\ninterfaces: [{name: eth0}]\nmode: server\n"), 0);
	cr_assert(said("mode"));
}

Test(fwd_config, host_mode)
{
	cr_assert_eq(load("instance: a\ninterfaces: [{name: eth0}]\nmode: host\n"
			  "direct-return-via: 10.4.1.1\n"), 0);
	cr_assert_eq(c.mode, FWD_MODE_HOST);
	cr_assert_eq(c.direct_via[15], 1);
	cr_assert_eq(c.direct_via[10], 0xff, "IPv4-mapped");
}

Test(fwd_config, auth_key_round_trip)
{
	cr_assert_eq(load("instance: a\ninterfaces: [{name: eth0}]\nmanagers:\n"
			  "  - endpoint: ipc:///x\n"
			  "    auth-key: 000102030405060708090a0b0c0d0e0f\n"), 0);
	cr_assert_eq(c.managers[0].auth.len, 16);
	cr_assert_eq(c.managers[0].auth.key[15], 0x0f);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	cr_assert_eq(cfg_dump(&fwd_config_schema, &c, f), 0);
	fclose(f);
	cr_assert(strstr(buf, "auth-key: \"000102030405060708090a0b0c0d0e0f\""), "%s", buf);
	/* and the dump loads back to the same configuration */
	struct fwd_config again;
	memset(&again, 0, sizeof(again));
	cr_assert_eq(cfg_load_buffer("dump", buf, len, &fwd_config_schema, &again, &diag), 0);
	cr_assert_eq(again.managers[0].auth.len, 16);
	cr_assert_arr_eq(again.managers[0].auth.key, c.managers[0].auth.key, 16);
	cr_assert_str_eq(again.managers[0].server_key, "");
	free(buf);
}

#define PEER_BASE "instance: a\ninterfaces: [{name: eth0}]\n" \
		  "managers:\n  - endpoint: ipc:///run/m1.sock\n  - endpoint: ipc:///run/m2.sock\n" \
		  "    peer-id: mgr2\n"

Test(fwd_config, peer_mode)
{
	int r = load(PEER_BASE "replication:\n  listen: ipc:///run/a.repl\n  grace: 5s\n"
			       "  peers:\n    - { instance: b, endpoint: ipc:///run/b.repl }\n");
	if (r)
		cfg_diag_print(&diag, stderr);
	cr_assert_eq(r, 0);
	cr_assert_str_eq(c.repl.listen, "ipc:///run/a.repl");
	cr_assert_eq(c.repl.n_peers, 1);
	cr_assert_str_eq(c.repl.peers[0].instance, "b");
	cr_assert_eq(c.repl.grace_ms, 5000);
	cr_assert_eq(c.repl.heartbeat_ms, 200, "default heartbeat");
	cr_assert_eq(c.repl.dead_ms, 1000, "default dead time");
	/* a manager is named by its peer-id, else by its endpoint: the same
	 * identity on every agent that lists it */
	cr_assert_eq(fwd_config_manager_id(&c, 1), loom_str_hash64("mgr2"));
	cr_assert_eq(fwd_config_manager_id(&c, 0), loom_str_hash64("ipc:///run/m1.sock"));

	cr_assert_eq(load("instance: a\ninterfaces: [{name: eth0}]\n"), 0);
	cr_assert_str_eq(c.repl.listen, "", "peer mode is off without a replication block");
}

Test(fwd_config, peer_mode_mistakes_are_named)
{
	cr_assert_neq(load(PEER_BASE "replication:\n  listen: tcp://10.0.0.1:7400\n"
				     "  peers:\n    - { instance: a, endpoint: tcp://10.0.0.1:7400 }\n"
				     "    - { instance: c, endpoint: ipc:///x }\n"), 0);
	cr_assert(said("replication.peers[0].public-key: a tcp:// peer needs its CurveZMQ"));
	cr_assert(said("replication.listen: tcp:// replication needs public-key and "
		       "secret-key-file"));
	cr_assert(said("replication.peers[0].instance: is this agent's own instance"));
	cr_assert(said("replication.peers[0].endpoint: is this agent's own listen endpoint"));
	cr_assert(said("replication.peers[1].endpoint: tcp:// and ipc:// peers cannot be mixed"));

	cr_assert_neq(load(PEER_BASE "replication:\n  listen: ipc:///a\n  heartbeat: 1s\n"
				     "  dead-time: 1s\n"), 0);
	cr_assert(said("replication.peers: peer mode needs at least one peer"));
	cr_assert(said("replication.dead-time: must be at least two heartbeats"));

	cr_assert_neq(load("instance: a\ninterfaces: [{name: eth0}]\nmanagers:\n"
			   "  - { endpoint: ipc:///m1, peer-id: m }\n"
			   "  - { endpoint: ipc:///m2, peer-id: m }\n"
			   "replication:\n  listen: ipc:///a\n"
			   "  peers: [{ instance: b, endpoint: ipc:///b }]\n"), 0);
	cr_assert(said("managers[1].peer-id: names the same manager as managers[0]"));
}
