// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/provchan.h"
#include "svc_prov.h"

struct svc_prov {
	struct provchan_server *srv;
	svc_prov_apply_fn *apply;
	void *arg;
	struct svc_config *next;      /* the push being parsed */
	struct svc_config *pushed;    /* the last applied one */
	bool have;
};

static int on_document(void *arg, uint64_t version, const char *doc, size_t len, char *why,
		       size_t whylen)
{
	struct svc_prov *p = arg;
	static struct cfg_diag diag;
	char name[32];
	int r;

	snprintf(name, sizeof(name), "version %" PRIu64, version);
	if ((r = cfg_load_buffer(name, doc, len, &svc_push_schema, p->next, &diag)) < 0) {
		snprintf(why, whylen, "%s%s", diag.n ? diag.msg[0] : strerror(-r),
			 diag.n + diag.dropped > 1 ? " (and more)" : "");
		log_warn("provisioner's %s refused, the running services stay:", name);
		for (unsigned i = 0; i < diag.n; i++)
			log_warn("  %s", diag.msg[i]);
		return r;
	}
	if ((r = p->apply(p->arg, p->next)) < 0) {
		snprintf(why, whylen, "applying the services: %s", strerror(-r));
		return r;
	}
	struct svc_config *t = p->pushed;
	p->pushed = p->next;
	p->next = t;
	p->have = true;
	log_notice("applied the provisioner's %s: %u service%s", name, p->pushed->n_services,
		   p->pushed->n_services == 1 ? "" : "s");
	return 0;
}

int svc_prov_open(struct ev_loop *loop, void *zctx, struct zap *zap,
		  const struct provchan_cfg *cfg, svc_prov_apply_fn *apply, void *arg,
		  struct svc_prov **out)
{
	struct svc_prov *p = calloc(1, sizeof(*p));
	int r;

	*out = NULL;
	if (!p || !(p->next = calloc(1, sizeof(*p->next))) ||
	    !(p->pushed = calloc(1, sizeof(*p->pushed)))) {
		svc_prov_close(p);
		return -ENOMEM;
	}
	p->apply = apply;
	p->arg = arg;
	if ((r = provchan_server_open(loop, zctx, zap, cfg, MSG_PROV_TARGET_SVC_MGR, on_document,
				      p, &p->srv)) < 0) {
		svc_prov_close(p);
		return r;
	}
	*out = p;
	return 0;
}

void svc_prov_close(struct svc_prov *p)
{
	if (!p)
		return;
	provchan_server_close(p->srv);
	free(p->next);
	free(p->pushed);
	free(p);
}

void svc_prov_keep(const struct svc_prov *p, struct svc_config *cfg)
{
	if (!p || !p->have)
		return;
	memcpy(cfg->services, p->pushed->services, sizeof(cfg->services));
	cfg->n_services = p->pushed->n_services;
}
