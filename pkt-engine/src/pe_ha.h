/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Primary and secondary engines (docs/pkt-engine.md, "Primary and
 * secondary"). Both load the same definitions. The primary sends a
 * heartbeat event on its control socket every `heartbeat`. The secondary
 * subscribes to it (`primary-control`), publishes its sequence table but
 * steers nothing (its workers count `standby`) and runs no probes; when no
 * heartbeat has come for `takeover-after`, it takes over: it adds the
 * engine's addresses (each interface's `address`/`prefix`) to its own
 * interfaces, announces each with gratuitous ARP, starts steering and
 * probing, and from then on sends heartbeats itself. A primary that comes
 * back must come back as the secondary (no preemption: two active engines
 * would duplicate every packet).
 *
 * Control thread only; needs CAP_NET_RAW (ARP) and CAP_NET_ADMIN (addresses).
 */
#ifndef LOOM_PE_HA_H
#define LOOM_PE_HA_H

#include "common/ev.h"
#include "pe_config.h"
#include "pe_dp.h"
#include "pe_watch.h"

struct pe_ha;

/* Start the role cfg names. dp->standby is set for a secondary. port_macs:
 * 6 bytes per engine port. Everything passed must outlive the handle. */
int pe_ha_open(struct pe_ha **out, struct ev_loop *loop, const struct pe_config *cfg,
	       const uint8_t *port_macs, struct pe_dp *dp, struct pe_watch *watch);
void pe_ha_close(struct pe_ha *ha);

#endif
