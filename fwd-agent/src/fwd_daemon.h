/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef LOOM_FWD_DAEMON_H
#define LOOM_FWD_DAEMON_H

#include "fwd_aff.h"
#include "fwd_config.h"
#include "fwd_dp.h"
#include "fwd_mgr.h"

/*
 * Run the agent with a loaded, verified configuration until SIGTERM, SIGINT
 * or SIGHUP (or, with pcap and exit-on-eof, the end of the input). Must be
 * called from the main thread before any other thread exists. Returns 0 or
 * -errno (already logged).
 */
int fwd_daemon_run(const struct fwd_config *cfg);

/*
 * Upgrade restart (docs/fwd-agent.md "Upgrade restart"): the next
 * fwd_daemon_run() takes over from the agent running on the same instance
 * instead of refusing its tables. main() only, before fwd_daemon_run().
 */
void fwd_daemon_set_takeover(bool on);

#endif
