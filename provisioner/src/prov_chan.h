/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The push to the daemons: one common/provchan client with a target per
 * configured daemon, fed with the newest version after every change and at
 * start, rendering each target's document from the stored version and
 * recording each answer in the database (prov_push.h). A target starts from
 * the version it last acknowledged, so whatever a restart interrupted is
 * pushed again. Loop thread only.
 */
#ifndef LOOM_PROV_CHAN_H
#define LOOM_PROV_CHAN_H

#include "prov_config.h"
#include "prov_model.h"

struct ev_loop;
struct prov_chan;

/* 0 or a negative errno it logged. No targets: *out stays NULL, nothing runs. */
int prov_chan_open(struct ev_loop *loop, const struct prov_config *cfg, struct prov_model *m,
		   struct prov_chan **out);
/* A change may have committed: push the newest version. NULL is a no-op. */
void prov_chan_changed(struct prov_chan *c);
void prov_chan_close(struct prov_chan *c);

/*
 * Trials (prov_trial.h): struct prov_trial_runner's start, arg the chan.
 * Every engine target is asked once it runs `version` (the trial's
 * definitions) and has no other trial of ours running (an engine runs one
 * at a time), at most PROV_TRIAL_WAIT_MS after the start; the trial
 * passes when an engine's handshake came back through every device and no
 * other engine failed it (a standby engine does not count). The answers
 * are recorded with prov_trial_finish.
 */
#define PROV_TRIAL_WAIT_MS 10000u
#define PROV_TRIALS_AT_ONCE 8u
int prov_chan_trial(void *chan, int64_t id, const char *name, uint16_t port, int64_t version,
		    char *why, size_t whylen);

#endif
