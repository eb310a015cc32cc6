// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "common/ev.h"
#include "common/log.h"
#include "common/provchan.h"
#include "common/zap.h"
#include "pe_prov.h"

struct pe_prov {
	void *zctx;
	struct zap *zap;
	struct provchan_server *srv;
	const struct pe_defs *running;
	pe_prov_apply_fn *apply;
	void *arg;
	struct pe_defs *next;         /* the push being loaded */
	struct pe_defs *pushed;       /* the last applied one */
	bool have;
};

/* The first of the rules' mistakes, for the ack; each one to the log. */
struct first_err {
	const char *name;
	char *why;
	size_t whylen;
	unsigned n;
};

static void first_err(void *arg, const char *where, const char *msg)
{
	struct first_err *f = arg;

	if (!f->n++)
		snprintf(f->why, f->whylen, "%s: %s: %s", f->name, where, msg);
	log_debug("%s: %s: %s", f->name, where, msg);
}

int pe_prov_load(const struct pe_defs *running, uint64_t version, const char *doc, size_t len,
		 struct pe_defs *out, char *why, size_t whylen)
{
	static struct cfg_diag diag; /* 6 KiB: the loop's thread only */
	char name[32];
	int r;

	snprintf(name, sizeof(name), "version %" PRIu64, version);
	if ((r = cfg_load_buffer(name, doc, len, &pe_push_schema, out, &diag)) < 0) {
		snprintf(why, whylen, "%s%s", diag.n ? diag.msg[0] : strerror(-r),
			 diag.n + diag.dropped > 1 ? " (and more)" : "");
		return r;
	}
	if (!out->n_interfaces) {
		memcpy(out->interfaces, running->interfaces, sizeof(out->interfaces));
		out->n_interfaces = running->n_interfaces;
	} else if (!pe_defs_same_interfaces(out, running)) {
		snprintf(why, whylen, "%s: interfaces: not the running ones (restart to change "
			 "them)", name);
		return -EINVAL;
	}
	out->version = version;

	struct first_err f = { .name = name, .why = why, .whylen = whylen };
	if ((r = pe_defs_verify(out, first_err, &f)) < 0 && f.n > 1) {
		size_t l = strlen(why);
		snprintf(why + l, whylen - l, " (and more)");
	}
	return r;
}

static int on_document(void *arg, uint64_t version, const char *doc, size_t len, char *why,
		       size_t whylen)
{
	struct pe_prov *p = arg;
	int r;

	if ((r = pe_prov_load(p->running, version, doc, len, p->next, why, whylen)) < 0 ||
	    (r = p->apply(p->arg, p->next, why, whylen)) < 0) {
		log_warn("provisioner's version %" PRIu64 " refused, the running definitions "
			 "stay: %s", version, why);
		return r;
	}
	struct pe_defs *t = p->pushed;
	p->pushed = p->next;
	p->next = t;
	p->have = true;
	log_notice("applied the provisioner's version %" PRIu64 ": %u service%s, %u device%s",
		   version, p->pushed->n_services, p->pushed->n_services == 1 ? "" : "s",
		   p->pushed->n_devices, p->pushed->n_devices == 1 ? "" : "s");
	return 0;
}

int pe_prov_open(struct ev_loop *loop, const struct provchan_cfg *cfg,
		 const struct pe_defs *running, pe_prov_apply_fn *apply, void *arg,
		 struct pe_prov **out)
{
	struct pe_prov *p = calloc(1, sizeof(*p));
	int r;

	*out = NULL;
	if (!p || !(p->next = calloc(1, sizeof(*p->next))) ||
	    !(p->pushed = calloc(1, sizeof(*p->pushed))) || !(p->zctx = zmq_ctx_new())) {
		pe_prov_close(p);
		return -ENOMEM;
	}
	p->running = running;
	p->apply = apply;
	p->arg = arg;
	if ((r = zap_open(loop, p->zctx, &p->zap)) < 0 ||
	    (r = provchan_server_open(loop, p->zctx, p->zap, cfg, MSG_PROV_TARGET_PKT_ENGINE,
				      on_document, p, &p->srv)) < 0) {
		pe_prov_close(p);
		return r;
	}
	*out = p;
	return 0;
}

void pe_prov_close(struct pe_prov *p)
{
	if (!p)
		return;
	provchan_server_close(p->srv);
	zap_close(p->zap);
	if (p->zctx)
		zmq_ctx_term(p->zctx);
	free(p->next);
	free(p->pushed);
	free(p);
}

void pe_prov_keep(const struct pe_prov *p, struct pe_defs *defs)
{
	if (!p || !p->have)
		return;
	defs->version = p->pushed->version;
	memcpy(defs->devices, p->pushed->devices, sizeof(defs->devices));
	defs->n_devices = p->pushed->n_devices;
	memcpy(defs->services, p->pushed->services, sizeof(defs->services));
	defs->n_services = p->pushed->n_services;
}

void pe_prov_on_trial(struct pe_prov *p, provchan_trial_fn *fn, void *arg)
{
	provchan_server_on_trial(p->srv, fn, arg);
}

int pe_prov_trial_done(struct pe_prov *p, const struct provchan_trial *t, bool ok,
		       const char *report)
{
	return provchan_server_trial_done(p->srv, t, ok, report);
}
