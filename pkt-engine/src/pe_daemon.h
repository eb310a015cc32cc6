/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * loom-pkt-engine's control thread: set-up in the order privileges allow,
 * then one event loop for signals (SIGHUP reloads the definitions), the
 * snapshot reclaim timer and, with pcap input, the end of the run.
 */
#ifndef LOOM_PE_DAEMON_H
#define LOOM_PE_DAEMON_H

#include "pe_config.h"

/* Run the engine on a loaded configuration read from path (for reloads).
 * Returns 0 after SIGTERM/SIGINT (or the end of pcap input), or a negative
 * errno it has logged. */
int pe_daemon_run(const struct pe_config *cfg, const char *path);

/* Bytes of the sequence segment's snapshot area: three of the largest
 * snapshot the definitions' limits allow (one published, one being freed,
 * one being built). */
#define PE_SNAP_AREA (24u << 20)

#endif
