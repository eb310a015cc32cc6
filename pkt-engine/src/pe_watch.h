/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The engine's watch over its devices and its control socket (control
 * thread only; docs/pkt-engine.md, "Device probes and alternates").
 *
 * Every probe interval each probed device (two-armed, `probe: true`) gets a
 * probe through it (pe_probe.h); answers arrive on the interface facing its
 * other arm. When a device's health changes, the owner's change callback
 * rebuilds the sequence snapshot with the device's effective state (an
 * alternate takes its place in every chain that used it), and on success an
 * event is published on the control socket (ZeroMQ PUB, one JSON text frame
 * per event, documented in docs/pkt-engine.md) so a provisioner or any
 * subscriber learns of it.
 */
#ifndef LOOM_PE_WATCH_H
#define LOOM_PE_WATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/ev.h"
#include "pe_config.h"
#include "pe_probe.h"

struct pe_watch;

/* Called when a device's health changed; publish definitions in which
 * pe_watch_apply() has set the states. 0, or a negative errno (logged). */
typedef int pe_watch_change_fn(void *arg);

/*
 * Open the probe sockets (AF_PACKET, CAP_NET_RAW: before privileges are
 * dropped; with the afpacket back end, probes or not: trials send by them),
 * the control socket and the probe timer on loop. cfg (its
 * definitions may be replaced later: see pe_watch_defs_changed) and
 * port_macs (6 bytes per engine port, its source MAC) stay the owner's and
 * must outlive the watch. Probes are off for the pcap back end and with a
 * zero interval. 0 or a negative errno.
 */
int pe_watch_open(struct pe_watch **out, struct ev_loop *loop, const struct pe_config *cfg,
		  const uint8_t *port_macs, pe_watch_change_fn *change, void *arg);
void pe_watch_close(struct pe_watch *w);

/* Set every device's `down` in defs (a copy of the configured definitions):
 * configured down, or found down by probes. */
void pe_watch_apply(const struct pe_watch *w, struct pe_defs *defs);

/* The definitions were replaced (a reload): health is carried over by
 * device name, new devices start up. */
void pe_watch_defs_changed(struct pe_watch *w);

/* Health of device i of the definitions in force (NULL if not probed). */
const struct pe_health *pe_watch_health(const struct pe_watch *w, unsigned i);

/* Probes run only while active (a secondary's start inactive: the
 * addresses they come from are the primary's until takeover). */
void pe_watch_set_active(struct pe_watch *w, bool active);

/* The engine's IPv4 address on interface port (network order): the
 * configured one, else the kernel's at start; 0 when none is known (or with
 * the pcap back end). */
uint32_t pe_watch_ifaddr(const struct pe_watch *w, unsigned port);

/*
 * Send a whole Ethernet frame (len bytes, to the MAC it starts with) out
 * of interface port by the watch's AF_PACKET socket there (open with the
 * afpacket back end, probes or not). 0, or -ENODEV (no socket) / -errno.
 */
int pe_watch_send(struct pe_watch *w, unsigned port, const uint8_t *frame, size_t len);

/* Publish one JSON event on the control socket (no-op without one). The
 * text is copied; it must be one JSON object. */
void pe_watch_event(struct pe_watch *w, const char *json);

#endif
