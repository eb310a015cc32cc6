// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The manager's model of its services. The configuration file (and later
 * the provisioner) describes services; this file turns a description into
 * running parts (a scheduler, health checkers, a NAT pool) and applies a new
 * description to a running model by difference, so a reload never disturbs
 * what did not change: a backend keeps its connection count and its health
 * verdict when only another backend's weight changed.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/str.h"
#include "svc_mgr.h"

/* An id of 32 bits, never 0 (0 means "none" in a flow record). */
static uint32_t id32(uint64_t h)
{
	uint32_t id = (uint32_t)(h ^ (h >> 32));
	return id ? id : 1;
}

uint32_t svc_backend_id(const uint8_t addr[16], uint16_t port)
{
	const uint8_t be[2] = { (uint8_t)(port >> 8), (uint8_t)port };

	return id32(loom_hash64(loom_hash64(LOOM_HASH64_INIT, addr, 16), be, 2));
}

/* A service's id names what its flows mean: the name and everything that
 * gives a flow record its sense (type, protocol, address, port; a NAT
 * pool and its port range). The same configuration gives the same ids
 * after a restart; a change of any of them gives a new id, so old flows
 * never take the new meaning. */
static uint32_t service_id(const struct svc_service_cfg *c)
{
	uint64_t h = loom_str_hash64(c->name);

	h = loom_hash64(h, &c->type, sizeof(c->type));
	h = loom_hash64(h, &c->proto, sizeof(c->proto));
	h = loom_hash64(h, c->address, 16);
	h = loom_hash64(h, &c->port, sizeof(c->port));
	if (c->type == SVC_TYPE_NAT) { /* a flow's mapping belongs to its pool */
		h = loom_hash64(h, c->pool, c->n_pool * sizeof(c->pool[0]));
		h = loom_hash64(h, &c->port_min, sizeof(c->port_min));
		h = loom_hash64(h, &c->port_max, sizeof(c->port_max));
	}
	return id32(h);
}

/* The active service of that id, else one that is draining. */
struct svc_service *svc_model_find(struct svc_mgr *m, uint32_t id)
{
	struct svc_service *draining = NULL;

	for (unsigned i = 0; i < m->nsvcs; i++)
		if (m->svcs[i]->id == id) {
			if (m->svcs[i]->active)
				return m->svcs[i];
			draining = m->svcs[i];
		}
	return draining;
}

struct svc_backend *svc_model_backend(struct svc_service *s, uint32_t id)
{
	for (unsigned i = 0; i < s->nb; i++)
		if (s->backends[i].id == id)
			return &s->backends[i];
	return NULL;
}

/* A checker's callback names its backend by service and id: the backend
 * array is rebuilt on reload, the service and the id stay. */
struct hc_ref {
	struct svc_service *svc;
	uint32_t id;
};

static void on_health(void *arg, bool up)
{
	struct hc_ref *ref = arg;
	struct svc_service *s = ref->svc;
	struct svc_backend *b = svc_model_backend(s, ref->id);
	char a[KEY_FMT_LEN];

	if (!b)
		return;
	b->up = up;
	log_notice("service %s: backend %s port %u is %s", s->cfg.name,
		   key_addr_format(b->addr, a, sizeof(a)), b->port, up ? "up" : "down");
	svc_core_backend_changed(s->mgr, b);
}

static int start_health(struct svc_mgr *m, struct svc_service *s, struct svc_backend *b)
{
	const struct svc_health_cfg *h = &s->cfg.health;
	struct svc_hc_cfg hc = {
		.type = (enum svc_hc_type)h->type,
		.interval_ms = (uint32_t)h->interval_ms,
		.timeout_ms = (uint32_t)h->timeout_ms,
		.rise = h->rise,
		.fall = h->fall,
		.expect_status = h->expect,
		.init_up = h->init_up,
	};

	b->up = true;
	if (h->type == SVC_HC_NONE || !m->loop)
		return 0;
	memcpy(hc.path, h->path, sizeof(hc.path));
	memcpy(hc.host, h->host, sizeof(hc.host));
	b->up = h->init_up;
	if (!(b->hc_ref = malloc(sizeof(*b->hc_ref))))
		return -ENOMEM;
	*b->hc_ref = (struct hc_ref){ .svc = s, .id = b->id };
	int r = svc_hc_new(m->loop, &hc, b->addr, b->port, on_health, b->hc_ref, &b->hc);
	if (r < 0) {
		free(b->hc_ref);
		b->hc_ref = NULL;
	}
	return r;
}

/* The scheduler's view of the backends. */
static int push_backends(struct svc_service *s)
{
	struct svc_lb_backend lb[SVC_MAX_BACKENDS];

	for (unsigned i = 0; i < s->nb; i++) {
		const struct svc_backend *b = &s->backends[i];
		lb[i] = (struct svc_lb_backend){ .id = b->id, .port = b->port,
						 .weight = b->weight, .up = b->up };
		memcpy(lb[i].addr, b->addr, 16);
	}
	return svc_lb_set_backends(s->lb, lb, s->nb);
}

static void backends_from_cfg(struct svc_service *s, const struct svc_service_cfg *c)
{
	s->nb = c->n_backends;
	for (unsigned i = 0; i < c->n_backends; i++) {
		struct svc_backend *b = &s->backends[i];
		memset(b, 0, sizeof(*b));
		memcpy(b->addr, c->backends[i].address, 16);
		b->port = c->backends[i].port ? c->backends[i].port : c->port;
		b->weight = c->backends[i].weight;
		if (c->backends[i].host_agent[0])
			b->host_agent = loom_str_hash64(c->backends[i].host_agent);
		b->id = svc_backend_id(b->addr, b->port);
		b->svc = s;
		b->up = true;
	}
}

static int add_pool(struct svc_service *s)
{
	const struct svc_service_cfg *c = &s->cfg;
	int r = svc_natpool_new(c->port_min, c->port_max, &s->pool);

	for (unsigned i = 0; r == 0 && i < c->n_pool; i++) {
		uint8_t last[16];
		for (unsigned k = 0; k < 16; k++)
			last[k] = c->pool[i].addr[k] | (uint8_t)~c->pool[i].mask[k];
		r = svc_natpool_add_range(s->pool, c->pool[i].addr, last);
	}
	return r;
}

static void backend_stop(struct svc_backend *b)
{
	svc_hc_free(b->hc);
	free(b->hc_ref);
	b->hc = NULL;
	b->hc_ref = NULL;
}

static void service_free(struct svc_service *s)
{
	for (unsigned i = 0; i < s->nb; i++)
		backend_stop(&s->backends[i]);
	svc_lb_free(s->lb);
	svc_lb_persist_free(s->persist);
	svc_natpool_free(s->pool);
	free(s->wc);
	free(s);
}

static int service_new(struct svc_mgr *m, const struct svc_service_cfg *c,
		       struct svc_service **out)
{
	struct svc_service *s = calloc(1, sizeof(*s));
	int r = 0;

	if (!s)
		return -ENOMEM;
	s->mgr = m;
	s->cfg = *c;
	s->id = service_id(c);
	s->v4 = c->type == SVC_TYPE_NAT ? c->clients[0].v4 : key_addr_is_v4(c->address);
	s->proto = svc_proto_number(c->proto, !s->v4);
	s->active = true;
	if (c->type == SVC_TYPE_LB) {
		backends_from_cfg(s, c);
		r = svc_lb_new((enum svc_lb_alg)c->algorithm, (enum svc_lb_hash)c->maglev_hash, 0,
			       m->cfg->hash_seed, &s->lb);
		for (unsigned i = 0; r == 0 && i < s->nb; i++)
			r = start_health(m, s, &s->backends[i]);
		if (r == 0)
			r = push_backends(s);
		if (r == 0 && c->persistence_ms)
			r = svc_lb_persist_new(65536, &s->persist);
	} else if (c->type == SVC_TYPE_NAT) {
		r = add_pool(s);
	}
	if (r < 0) {
		service_free(s);
		return log_errno(r, "service %s", c->name);
	}
	*out = s;
	return 0;
}

int svc_model_load(struct svc_mgr *m, const struct svc_config *cfg)
{
	for (unsigned i = 0; i < cfg->n_services; i++) {
		int r = service_new(m, &cfg->services[i], &m->svcs[m->nsvcs]);
		if (r < 0)
			return r;
		m->nsvcs++;
	}
	return 0;
}

void svc_model_free(struct svc_mgr *m)
{
	for (unsigned i = 0; i < m->nsvcs; i++)
		service_free(m->svcs[i]);
	m->nsvcs = 0;
}

/* What makes a new service (a new id, the old one withdrawn and its flows
 * left to run out): anything that changes what existing flows mean. The
 * rest changes in place: weights, backends, health settings, algorithm,
 * clients, precedences (the core re-sends the wildcards and withdraws the
 * ones that went away). */
static bool same_identity(const struct svc_service_cfg *a, const struct svc_service_cfg *b)
{
	return a->type == b->type && a->proto == b->proto &&
	       !memcmp(a->address, b->address, 16) && a->port == b->port &&
	       a->n_pool == b->n_pool && !memcmp(a->pool, b->pool, sizeof(a->pool)) &&
	       a->port_min == b->port_min && a->port_max == b->port_max;
}

static uint32_t conns_of(const struct svc_service *s, uint32_t id)
{
	int i = s->lb ? svc_lb_find(s->lb, id) : -1;

	return i < 0 ? 0 : svc_lb_conns(s->lb, (unsigned)i);
}

/*
 * A backend that leaves the configuration while connections use it stays,
 * drained (weight 0, no new flows) and marked removed, with its reply
 * wildcards, until its last connection ends (svc_model_prune): the agents
 * must keep translating its replies, and they accept a fixed affinity only
 * while a wildcard of ours covers it.
 */
static int update_in_place(struct svc_mgr *m, struct svc_service *s,
			   const struct svc_service_cfg *c)
{
	struct svc_backend old[SVC_MAX_BACKENDS];
	uint32_t old_conns[SVC_MAX_BACKENDS];
	unsigned nold = s->nb;
	bool health_same = !memcmp(&s->cfg.health, &c->health, sizeof(c->health));
	int r;

	memcpy(old, s->backends, sizeof(old));
	for (unsigned j = 0; j < nold; j++)
		old_conns[j] = conns_of(s, old[j].id);
	backends_from_cfg(s, c);
	for (unsigned j = 0; j < nold; j++) {
		struct svc_backend *b = svc_model_backend(s, old[j].id);
		if (!b && old_conns[j] && s->nb < SVC_MAX_BACKENDS) {
			b = &s->backends[s->nb++];
			*b = old[j];
			b->weight = 0;
			b->removed = true;
			old[j].hc = NULL;
			old[j].hc_ref = NULL;
			continue;
		}
		if (!b)
			continue;
		b->decided = old[j].decided;
		if (health_same) { /* keep the checker and its verdict */
			b->hc = old[j].hc;
			b->hc_ref = old[j].hc_ref;
			b->up = old[j].up;
			old[j].hc = NULL;
			old[j].hc_ref = NULL;
		}
	}
	for (unsigned j = 0; j < nold; j++)
		backend_stop(&old[j]);
	if (s->lb && (s->cfg.algorithm != c->algorithm || s->cfg.maglev_hash != c->maglev_hash)) {
		struct svc_lb *lb;
		if ((r = svc_lb_new((enum svc_lb_alg)c->algorithm, (enum svc_lb_hash)c->maglev_hash,
				    0, m->cfg->hash_seed, &lb)) < 0)
			return r;
		svc_lb_free(s->lb);
		s->lb = lb;
	}
	s->cfg = *c;
	for (unsigned i = 0; i < s->nb; i++)
		if (!s->backends[i].hc && !s->backends[i].removed &&
		    (r = start_health(m, s, &s->backends[i])) < 0)
			return r;
	if (!c->persistence_ms) {
		svc_lb_persist_free(s->persist);
		s->persist = NULL;
	} else if (!s->persist && (r = svc_lb_persist_new(65536, &s->persist)) < 0) {
		return r;
	}
	if (!s->lb)
		return 0;
	if ((r = push_backends(s)) < 0)
		return r;
	/* a new scheduler starts from zero: give it the connections in use */
	for (unsigned j = 0; j < nold; j++) {
		int i = svc_lb_find(s->lb, old[j].id);
		uint32_t have = i < 0 ? 0 : svc_lb_conns(s->lb, (unsigned)i);
		if (i >= 0 && have < old_conns[j])
			svc_lb_conn(s->lb, (unsigned)i, (int)(old_conns[j] - have));
	}
	return 0;
}

/*
 * Recovery met a flow of a backend the configuration no longer has (it was
 * draining when the manager stopped): it drains again, as a removed backend
 * with its reply wildcard, until its last flow ends.
 */
int svc_model_restore_backend(struct svc_service *s, uint32_t id, const uint8_t addr[16],
			      uint16_t port)
{
	if (svc_model_backend(s, id))
		return 0;
	if (!s->lb || s->nb == SVC_MAX_BACKENDS)
		return -ENOSPC;
	struct svc_backend *b = &s->backends[s->nb++];
	memset(b, 0, sizeof(*b));
	memcpy(b->addr, addr, 16);
	b->port = port;
	b->id = id;
	b->svc = s;
	b->up = true;
	b->removed = true;
	return push_backends(s);
}

/* Removed backends whose last connection ended go (true if any did). */
bool svc_model_prune(struct svc_mgr *m)
{
	bool pruned = false;

	for (unsigned i = 0; i < m->nsvcs; i++) {
		struct svc_service *s = m->svcs[i];
		unsigned k = 0;
		for (unsigned b = 0; b < s->nb; b++) {
			if (s->backends[b].removed && conns_of(s, s->backends[b].id) == 0) {
				backend_stop(&s->backends[b]);
				pruned = true;
				continue;
			}
			if (k != b)
				s->backends[k] = s->backends[b];
			k++;
		}
		if (k != s->nb) {
			s->nb = k;
			if (s->lb)
				push_backends(s);
		}
	}
	return pruned;
}

int svc_model_reload(struct svc_mgr *m, const struct svc_config *cfg)
{
	bool keep[SVC_MAX_SERVICES * 2] = { false };
	unsigned n = m->nsvcs;

	for (unsigned i = 0; i < cfg->n_services; i++) {
		const struct svc_service_cfg *c = &cfg->services[i];
		struct svc_service *s = NULL;
		unsigned j;
		int r;

		for (j = 0; j < n; j++)
			if (m->svcs[j]->active && !strcmp(m->svcs[j]->cfg.name, c->name)) {
				s = m->svcs[j];
				break;
			}
		if (!s) /* put back while its flows still drain: the same service again */
			for (j = 0; j < n; j++)
				if (!m->svcs[j]->active && m->svcs[j]->id == service_id(c)) {
					s = m->svcs[j];
					s->active = true;
					s->withdrawn = false;
					log_notice("service %s: back while its flows drained", c->name);
					break;
				}
		if (s && same_identity(&s->cfg, c)) {
			keep[j] = true;
			if ((r = update_in_place(m, s, c)) < 0)
				return log_errno(r, "service %s", c->name);
			continue;
		}
		if (m->nsvcs == LOOM_ARRAY_SIZE(m->svcs))
			return log_errno(-ENOSPC, "service %s: too many services being withdrawn",
					 c->name);
		if ((r = service_new(m, c, &m->svcs[m->nsvcs])) < 0)
			return r;
		if (s)
			log_notice("service %s: changed; its existing flows run out", c->name);
		keep[m->nsvcs++] = true;
	}
	for (unsigned j = 0; j < n; j++)
		if (!keep[j] && m->svcs[j]->active) {
			m->svcs[j]->active = false;
			log_notice("service %s: removed; no new flows, its wildcards go when "
				   "its last flow ends", m->svcs[j]->cfg.name);
		}
	return 0;
}

/* Drop services that are withdrawn and have no flow left (called by the sweep). */
void svc_model_gc(struct svc_mgr *m)
{
	unsigned k = 0;

	for (unsigned i = 0; i < m->nsvcs; i++) {
		struct svc_service *s = m->svcs[i];
		if (!s->active && s->active_flows == 0 && s->withdrawn)
			service_free(s);
		else
			m->svcs[k++] = s;
	}
	m->nsvcs = k;
}
