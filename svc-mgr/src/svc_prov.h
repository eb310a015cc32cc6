/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The manager's end of the provisioning channel (common/provchan.h): with
 * a `provisioning:` block it binds its endpoint and takes the documents
 * loom-provisioner pushes. A document is the `services:` list of this
 * daemon's own configuration (svc_push_schema), parsed and verified by the
 * same rows as the file; the daemon applies it the way a SIGHUP reload
 * applies the file's services. From the first applied push on, the
 * services are the provisioner's: a SIGHUP still re-reads the rest of the
 * file but keeps the pushed services (svc_prov_keep). Loop thread only.
 */
#ifndef LOOM_SVC_PROV_H
#define LOOM_SVC_PROV_H

#include "svc_config.h"

struct ev_loop;
struct zap;
struct svc_prov;

/*
 * Apply pushed->services (n_services of them) as the running services.
 * 0, or a negative errno when they could not be applied.
 */
typedef int svc_prov_apply_fn(void *arg, const struct svc_config *pushed);

/* Bind cfg->listen (not empty). 0 or a negative errno; logs nothing. */
int svc_prov_open(struct ev_loop *loop, void *zctx, struct zap *zap,
		  const struct provchan_cfg *cfg, svc_prov_apply_fn *apply, void *arg,
		  struct svc_prov **out);
void svc_prov_close(struct svc_prov *p);

/* Put the last applied push's services into cfg; nothing before the first. */
void svc_prov_keep(const struct svc_prov *p, struct svc_config *cfg);

#endif
