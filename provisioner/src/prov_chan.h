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

#endif
