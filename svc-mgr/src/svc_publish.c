// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * loom.<instance>.services (common/services.h): the model as loomctl shows
 * it, rebuilt aside and published whole.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/services.h"
#include "shm/snap.h"
#include "svc_mgr.h"

#define PUBLISH_RCU_TIMEOUT_NS (20u * 1000u * 1000u)

int svc_publish_open(struct svc_mgr *m, const struct shm_perm *perm, struct shm_snap **out)
{
	struct shm_snap_geom g = {
		.area_size = 3 * ((svcs_size(SVCS_MAX_SERVICES, SVCS_MAX_BACKENDS) + 4095) &
				  ~(size_t)4095),
		.value_kind = SVCS_KIND, .value_version = SVCS_VERSION,
		.rcu_slots = m->cfg->reader_slots,
	};

	return shm_snap_open_writer(m->cfg->instance, "services", &g, perm, out);
}

static void fill_backend(struct svcs_backend *o, const struct svc_service *s,
			 const struct svc_backend *b, uint64_t now)
{
	memset(o, 0, sizeof(*o));
	o->svc_id = s->id;
	o->id = b->id;
	memcpy(o->addr, b->addr, 16);
	o->port = b->port;
	o->up = b->up;
	o->weight = b->weight;
	o->decided = b->decided;
	o->last_check_ms_ago = UINT32_MAX;
	if (s->lb) {
		int i = svc_lb_find(s->lb, b->id);
		if (i >= 0)
			o->conns = svc_lb_conns(s->lb, (unsigned)i);
	}
	if (b->hc) {
		struct svc_hc_stats st;
		svc_hc_stats(b->hc, &st);
		o->checked = 1;
		o->checks = st.checks;
		o->checks_failed = st.failed;
		if (st.checks && now >= st.last_check_ms)
			o->last_check_ms_ago = (uint32_t)(now - st.last_check_ms);
		snprintf(o->last_error, sizeof(o->last_error), "%s", st.last_error);
	}
}

int svc_publish(struct svc_mgr *m, struct shm_snap *snap)
{
	uint32_t nb = 0, ns = m->nsvcs < SVCS_MAX_SERVICES ? m->nsvcs : SVCS_MAX_SERVICES;
	uint64_t now = ev_now_ms();

	for (unsigned i = 0; i < ns; i++)
		nb += m->svcs[i]->nb;
	size_t len = svcs_size(ns, nb);
	struct svcs_hdr *h = shm_snap_alloc(snap, len);
	if (!h)
		return -ENOSPC;
	memset(h, 0, len);
	struct svcs_service *so = (struct svcs_service *)(h + 1);
	struct svcs_backend *bo = (struct svcs_backend *)(so + ns);
	h->magic = SVCS_MAGIC;
	h->nsvc = ns;
	h->nbackend = nb;
	h->agents = svc_agents_live(m);
	h->built_ms = now;
	h->flows = svc_flows_count(m->flows);
	h->flow_capacity = svc_flows_capacity(m->flows);
	h->owner = m->instance;
	nb = 0;
	for (unsigned i = 0; i < ns; i++) {
		const struct svc_service *s = m->svcs[i];
		struct svcs_service *o = &so[i];
		snprintf(o->name, sizeof(o->name), "%s", s->cfg.name);
		o->id = s->id;
		o->type = (uint8_t)s->cfg.type;
		o->proto = s->proto;
		o->algorithm = (uint8_t)s->cfg.algorithm;
		o->active = s->active;
		memcpy(o->addr, s->cfg.address, 16);
		o->port = s->cfg.port;
		o->nb = (uint16_t)s->nb;
		o->first = nb;
		o->precedence = s->cfg.precedence;
		o->backup_precedence = s->cfg.backup_precedence;
		o->precedence_lower = (uint8_t)s->cfg.precedence_order;
		o->persistence_ms = s->cfg.persistence_ms;
		o->decided = s->decided;
		o->answered = s->answered;
		o->dropped = s->dropped;
		o->active_flows = s->active_flows;
		if (s->pool) {
			struct svc_natpool_stats st;
			svc_natpool_stats(s->pool, &st);
			o->pool_addresses = st.addresses;
			o->pool_mappings = st.mappings;
			o->pool_fail = st.alloc_fail;
		}
		for (unsigned b = 0; b < s->nb; b++)
			fill_backend(&bo[nb++], s, &s->backends[b], now);
	}
	int r = shm_snap_publish(snap, h, len);
	if (r < 0)
		shm_snap_abort(snap, h); /* give the space back, or publishing stops for good */
	shm_snap_reclaim(snap, PUBLISH_RCU_TIMEOUT_NS);
	return r;
}
