/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Trials on the control thread (docs/pkt-engine.md, "Trials"; the frames,
 * the trace and the report are pe_trial.h's). A request from the
 * provisioning channel starts one: the SYN is steered by a private worker
 * and sent by the watch's packet sockets, resent every PE_TRIAL_RESEND_MS,
 * the slot is polled every PE_TRIAL_POLL_MS until the answer or the
 * timeout; then a RST, the answer, a `trial` event and one log line.
 * One trial at a time. Control thread only.
 */
#ifndef LOOM_PE_TRIALCTL_H
#define LOOM_PE_TRIALCTL_H

#include "common/ev.h"
#include "common/provchan.h"
#include "pe_config.h"
#include "pe_dp.h"
#include "pe_prov.h"
#include "pe_watch.h"

#define PE_TRIAL_RESEND_MS 300u
#define PE_TRIAL_POLL_MS   10u

struct pe_trials;

/*
 * Everything named stays the owner's and must outlive the trials: cfg (its
 * definitions in force are read when a trial starts), dp (its trial slot
 * and snapshot), watch (addresses, sockets, events), prov (the answers).
 * 0 or -ENOMEM.
 */
int pe_trials_open(struct pe_trials **out, struct ev_loop *loop, const struct pe_config *cfg,
		   struct pe_dp *dp, struct pe_watch *watch, struct pe_prov *prov);
/* A trial in flight is abandoned unanswered (the daemon is stopping). NULL: no-op. */
void pe_trials_close(struct pe_trials *t);

/* provchan_trial_fn (arg: struct pe_trials): start a trial, or answer at once. */
void pe_trials_request(void *arg, const struct provchan_trial *req);

#endif
