/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Definitions the engine's unit tests and fuzz targets share: a client
 * port (cli) and a device port (dev) with a firewall, an IDS, a loopback
 * server and a NAT server on it; services web (W1 80 and 21 with a dynamic range, fw then app,
 * copies to ids) and nat (W2 80 translated to 8080, an ACL, DSCP 46).
 */
#ifndef LOOM_TEST_ENGINE_DEFS_H
#define LOOM_TEST_ENGINE_DEFS_H

#include "common/compiler.h"

#define CLI_MAC "02:00:00:00:00:01"
#define GW_MAC  "02:00:00:00:00:fe"
#define DEV_MAC "02:00:00:00:00:02"

static const char base_yaml[] LOOM_UNUSED =
	"instance: t1\n"
	"backend: pcap\n"
	"interfaces:\n"
	"  - {name: cli, role: client, mac: \"" CLI_MAC "\", gateway-mac: \"" GW_MAC "\", "
	"pcap-out: /dev/null}\n"
	"  - {name: dev, role: device, mac: \"" DEV_MAC "\", pcap-out: /dev/null}\n"
	"devices:\n"
	"  - {name: fw, function: firewall, mac: \"02:00:00:00:0f:01\", interface: dev}\n"
	"  - {name: ids, function: ids, mac: \"02:00:00:00:0d:01\", interface: dev}\n"
	"  - {name: app, function: server, mac: \"02:00:00:00:0a:01\", interface: dev, "
	"mode: loopback}\n"
	"  - {name: natsrv, function: server, mac: \"02:00:00:00:0a:02\", interface: dev, "
	"mode: nat, address: 10.2.0.20}\n"
	"services:\n"
	"  - name: web\n"
	"    address: 10.9.0.1\n"
	"    interface: cli\n"
	"    ports: [{port: 80}, {port: 21, dynamic: 1025-1125}]\n"
	"    chain: [fw, app]\n"
	"    copies: [{receiver: ids, at: app}]\n"
	"  - name: nat\n"
	"    address: 10.9.0.2\n"
	"    interface: cli\n"
	"    ports: [{port: 80, translate-to: 8080}]\n"
	"    chain: [natsrv]\n"
	"    acl: [{action: deny, client: 10.1.0.66/32}]\n"
	"    dscp: 46\n";

#endif
