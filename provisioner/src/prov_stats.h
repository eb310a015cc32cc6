/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * GET /api/v1/statistics: the live figures of the daemons on this host that
 * the configuration's `statistics:` list names, read from their shared-memory
 * tables with loomctl's readers (provisioner/loomctl/ctl.h): per
 * loom-pkt-engine its service ports (packets, bytes, the chain in place) and
 * devices (state, alternate in place, probes, packets, bytes); per
 * loom-svc-mgr its services with their backends. Each table is copied in one
 * short read-side section, validated, and only the copy is formatted; a table
 * that cannot be read is reported in its place, never as a failure of the
 * whole request.
 *
 * A customer admin sees only what the model lets it see: its own services'
 * ports (by name, without the chain: devices are the provider's) and its own
 * virtual services; no devices.
 *
 * Contract: the control thread, like prov_model.h; it attaches to and detaches
 * from each segment per call (registering the thread as a reader meanwhile)
 * and may block for as long as copying the tables takes (milliseconds).
 */
#ifndef LOOM_PROV_STATS_H
#define LOOM_PROV_STATS_H

#include <jansson.h>

#include "prov_config.h"
#include "prov_model.h"

/*
 * {"engines": [...], "managers": [...]}, each entry the daemon's document
 * (ctl_engine_doc(), ctl_svcmgr_doc()) or {"instance", "error"}, in the
 * order of src. 0 and *out a new reference, or -reason with e filled (the
 * model could not say what who may see).
 */
int prov_stats_get(struct prov_model *m, const struct prov_actor *who,
		   const struct prov_stats_cfg *src, unsigned n, json_t **out,
		   struct prov_error *e);

#endif
