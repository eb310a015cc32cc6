// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * loom-svc-mgr's set-up and event loop: the flow table, the services, the
 * agents' sockets, then timers for heartbeats, wildcard refresh and the
 * expiry sweep. SIGHUP re-reads the configuration file and applies its
 * services by difference (svc_model_reload); the rest of a new file takes
 * effect at the next start.
 */
#include <errno.h>
#include <grp.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "common/daemon.h"
#include "common/log.h"
#include "common/priv.h"
#include "common/str.h"
#include "shm/seg.h"
#include "shm/snap.h"
#include "common/metrics.h"
#include "common/repl.h"
#include "svc_daemon.h"
#include "svc_ha.h"
#include "svc_mgr.h"
#include "svc_prov.h"

struct svc_daemon {
	struct svc_mgr m;
	const char *path;
	struct svc_config *cfg;        /* the one in use (reloads swap it) */
	struct svc_config *spare;
	struct ev_loop *loop;
	void *zctx;
	struct svc_agents *agents;
	struct svc_ha *ha;             /* hot standby, if configured */
	struct svc_prov *prov;         /* the provisioner's pushes, if configured */
	struct metrics *metrics;
	struct shm_snap *snap;         /* loom.<instance>.services */
	struct ev_handle *sig[3], *hb, *refresh, *sweep, *pub;
};

static void publish(struct svc_daemon *d)
{
	int r = svc_publish(&d->m, d->snap);

	if (r < 0)
		log_debug_errno(r, "publishing the services");
}

static void on_publish(struct ev_loop *loop, void *arg, int what)
{
	(void)loop;
	(void)what;
	publish(arg);
}

static void on_heartbeat(struct ev_loop *loop, void *arg, int what)
{
	struct svc_daemon *d = arg;
	(void)loop;
	(void)what;
	svc_agents_tick(d->agents, ev_now_ms());
}

static void on_refresh(struct ev_loop *loop, void *arg, int what)
{
	struct svc_daemon *d = arg;
	(void)loop;
	(void)what;
	svc_core_wildcards(&d->m, NULL);
}

static void on_sweep(struct ev_loop *loop, void *arg, int what)
{
	struct svc_daemon *d = arg;
	(void)loop;
	(void)what;
	svc_core_sweep(&d->m, ev_now_ms());
}

/* d->spare becomes the running configuration; its services take effect. */
static int apply(struct svc_daemon *d)
{
	int r;
	struct svc_config *old = d->cfg;
	d->cfg = d->spare;
	d->spare = old;
	/* keep what only a restart changes: tables, sockets, keys, identity */
	d->cfg->flows = old->flows;
	memcpy(d->cfg->instance, old->instance, sizeof(old->instance));
	d->m.cfg = d->cfg;
	if ((r = svc_model_reload(&d->m, d->cfg)) < 0)
		log_errno(r, "reloading the services (partly applied)");
	svc_core_withdraw(&d->m);
	svc_core_wildcards(&d->m, NULL);
	svc_core_direct_refresh(&d->m); /* direct-return or host agents changed */
	publish(d);
	return r;
}

static void reload(struct svc_daemon *d)
{
	static struct cfg_diag diag;
	int r = cfg_load_file(d->path, &svc_config_schema, d->spare, &diag);

	if (r < 0) {
		log_err("reload of %s refused, the running services stay:", d->path);
		for (unsigned i = 0; i < diag.n; i++)
			log_err("  %s", diag.msg[i]);
		return;
	}
	svc_prov_keep(d->prov, d->spare);
	apply(d);
	log_notice("reloaded %s: %u services", d->path, d->cfg->n_services);
}

/* A push: the running configuration with the provisioner's services. */
static int on_push(void *arg, const struct svc_config *pushed)
{
	struct svc_daemon *d = arg;

	*d->spare = *d->cfg;
	memcpy(d->spare->services, pushed->services, sizeof(pushed->services));
	d->spare->n_services = pushed->n_services;
	return apply(d);
}

static void on_signal(struct ev_loop *loop, void *arg, int signo)
{
	struct svc_daemon *d = arg;

	if (signo == SIGHUP) {
		reload(d);
		return;
	}
	log_notice("signal %d: stopping", signo);
	ev_stop(loop);
}

static void write_stats(const struct svc_daemon *d)
{
	const struct svc_mgr *m = &d->m;
	FILE *f;

	if (!d->cfg->stats_file[0] || !(f = fopen(d->cfg->stats_file, "we")))
		return;
	for (unsigned i = 0; i < SVC_C__COUNT; i++)
		fprintf(f, "%s %" PRIu64 "\n", svc_ctr_str(i), m->ctr[i]);
	if (d->ha) {
		struct repl_counters rc;
		svc_ha_counters(d->ha, &rc);
		for (unsigned i = 0; i < REPL_C_COUNT; i++)
			fprintf(f, "repl.%s %" PRIu64 "\n", repl_counter_name(i), rc.c[i]);
		fprintf(f, "repl.lag_max %" PRIu64 "\nha.epoch %u\nha.standby %d\n", rc.lag_max,
			m->epoch, m->standby);
	}
	for (unsigned i = 0; i < m->nsvcs; i++) {
		const struct svc_service *s = m->svcs[i];
		fprintf(f, "service %s decided %" PRIu64 " answered %" PRIu64 " dropped %" PRIu64
			" active %" PRIu64 "\n", s->cfg.name, s->decided, s->answered, s->dropped,
			s->active_flows);
		for (unsigned b = 0; b < s->nb; b++) {
			char a[KEY_FMT_LEN];
			fprintf(f, "backend %s %s %u decided %" PRIu64 " %s\n", s->cfg.name,
				key_addr_format(s->backends[b].addr, a, sizeof(a)),
				s->backends[b].port, s->backends[b].decided,
				s->backends[b].up ? "up" : "down");
		}
	}
	fclose(f);
}

/* ---- metrics (docs/svc-mgr.md "Metrics") ---------------------------------------- */

/* One sample per backend of every service: its health, or its decisions. */
static void backend_samples(struct metrics_out *o, const struct svc_mgr *m, const char *name,
			    bool decided)
{
	for (unsigned i = 0; i < m->nsvcs; i++)
		for (unsigned b = 0; b < m->svcs[i]->nb; b++) {
			const struct svc_backend *be = &m->svcs[i]->backends[b];
			char a[KEY_FMT_LEN + 8], port[8];
			key_addr_format(be->addr, a, sizeof(a));
			snprintf(port, sizeof(port), "%u", be->port);
			metrics_sample(o, name, "service", m->svcs[i]->cfg.name, "backend", a, "port",
				       port, decided ? be->decided : be->up);
		}
}

static void fill_metrics(void *arg, struct metrics_out *o)
{
	const struct svc_daemon *d = arg;
	const struct svc_mgr *m = &d->m;

	metrics_family(o, "loom_svc_events_total", METRICS_COUNTER,
		       "The manager's counters (decisions, answers, drops, messages).");
	for (unsigned i = 0; i < SVC_C__COUNT; i++)
		metrics_sample(o, "loom_svc_events_total", "event", svc_ctr_str(i), NULL, NULL,
			       NULL, NULL, m->ctr[i]);
	metrics_family(o, "loom_svc_flows", METRICS_GAUGE, "Flows in the flow table.");
	metrics_sample(o, "loom_svc_flows", NULL, NULL, NULL, NULL, NULL, NULL,
		       svc_flows_count(m->flows));
	metrics_family(o, "loom_svc_flow_capacity", METRICS_GAUGE, "Flows the table can hold.");
	metrics_sample(o, "loom_svc_flow_capacity", NULL, NULL, NULL, NULL, NULL, NULL,
		       svc_flows_capacity(m->flows));
	metrics_family(o, "loom_svc_agents", METRICS_GAUGE, "Agents heard from lately.");
	metrics_sample(o, "loom_svc_agents", NULL, NULL, NULL, NULL, NULL, NULL,
		       svc_agents_live(m));

	static const struct { const char *name, *help; } per_svc[] = {
		{ "loom_svc_service_decided_total", "New flows decided, per service." },
		{ "loom_svc_service_answered_total", "Punts answered from the table, per service." },
		{ "loom_svc_service_dropped_total", "First packets dropped (no backend, pool full)." },
		{ "loom_svc_service_active_flows", "Flows of the service in the table." },
	};
	for (unsigned k = 0; k < LOOM_ARRAY_SIZE(per_svc); k++) {
		metrics_family(o, per_svc[k].name, k == 3 ? METRICS_GAUGE : METRICS_COUNTER,
			       per_svc[k].help);
		for (unsigned i = 0; i < m->nsvcs; i++) {
			const struct svc_service *s = m->svcs[i];
			uint64_t val = k == 0 ? s->decided : k == 1 ? s->answered :
				       k == 2 ? s->dropped : s->active_flows;
			metrics_sample(o, per_svc[k].name, "service", s->cfg.name, NULL, NULL, NULL,
				       NULL, val);
		}
	}
	metrics_family(o, "loom_svc_backend_up", METRICS_GAUGE,
		       "1 if the backend's health checks pass (always 1 without checks).");
	backend_samples(o, m, "loom_svc_backend_up", false);
	metrics_family(o, "loom_svc_backend_decided_total", METRICS_COUNTER,
		       "New flows sent to the backend.");
	backend_samples(o, m, "loom_svc_backend_decided_total", true);
	if (d->ha) {
		struct repl_counters rc;
		svc_ha_counters(d->ha, &rc);
		metrics_family(o, "loom_svc_replication_total", METRICS_COUNTER,
			       "Replication of the flow table (common/repl counters).");
		for (unsigned i = 0; i < REPL_C_COUNT; i++)
			metrics_sample(o, "loom_svc_replication_total", "event",
				       repl_counter_name(i), NULL, NULL, NULL, NULL, rc.c[i]);
		metrics_family(o, "loom_svc_replication_lag", METRICS_GAUGE,
			       "Batches a standby has not acknowledged yet (most of any).");
		metrics_sample(o, "loom_svc_replication_lag", NULL, NULL, NULL, NULL, NULL, NULL,
			       rc.lag);
		metrics_family(o, "loom_svc_standby", METRICS_GAUGE, "1 while this manager is a standby.");
		metrics_sample(o, "loom_svc_standby", NULL, NULL, NULL, NULL, NULL, NULL, m->standby);
		metrics_family(o, "loom_svc_epoch", METRICS_GAUGE, "Takeovers the group has seen.");
		metrics_sample(o, "loom_svc_epoch", NULL, NULL, NULL, NULL, NULL, NULL, m->epoch);
	}
}

static int shm_perm_of(const struct svc_config *c, struct shm_perm *p)
{
	*p = (struct shm_perm){ .mode = 0600, .gid = (gid_t)-1 }; /* 4 KB pages: not a per-packet table */
	if (!c->shm_group[0])
		return 0;
	struct group *g = getgrnam(c->shm_group);
	if (!g)
		return log_errno(-ENOENT, "shm-group %s: no such group", c->shm_group);
	p->mode = 0660;
	p->gid = g->gr_gid;
	return 0;
}

static int open_flows(struct svc_daemon *d)
{
	struct shm_table_repair rep;
	struct shm_perm perm;
	int r;

	if ((r = shm_perm_of(d->cfg, &perm)) < 0)
		return r;
	r = svc_flows_open(d->cfg->instance, d->cfg->flows, d->cfg->reader_slots, &perm,
			   &d->m.flows, &rep);
	if (r == -EBUSY)
		return log_errno(r, "another loom-svc-mgr of instance %s is running",
				 d->cfg->instance);
	if (r == -EEXIST)
		return log_errno(r, "loom.%s.flow exists with another size (flows changed?): "
				 "stop everything that uses it and remove it to start afresh",
				 d->cfg->instance);
	if (r < 0)
		return log_errno(r, "opening the flow table of instance %s", d->cfg->instance);
	if (rep.entries || rep.rolled_back || rep.bad_slots)
		log_notice("took over the flow table: %" PRIu64 " entries kept, %" PRIu64
			   " slots repaired%s, %u half-stored flows completed or removed",
			   rep.entries, rep.bad_slots + rep.duplicates,
			   rep.rolled_back ? ", an interrupted update rolled back" : "",
			   svc_flows_pairs_repaired(d->m.flows));
	d->m.generation = shm_seg_generation(svc_flows_seg(d->m.flows));
	if ((r = svc_publish_open(&d->m, &perm, &d->snap)) < 0)
		return log_errno(r, "opening loom.%s.services", d->cfg->instance);
	return 0;
}

static int open_ha(struct svc_daemon *d)
{
	char secret[CFG_Z85_LEN + 1] = "";
	int r = 0;

	if (d->cfg->secret_key_file[0] &&
	    (r = cfg_read_z85_file(d->cfg->secret_key_file, secret)) < 0)
		return log_errno(r, "reading the secret key from %s", d->cfg->secret_key_file);
	r = svc_ha_open(&d->m, d->loop, d->zctx, svc_agents_zap(d->agents), secret, &d->ha);
	memset(secret, 0, sizeof(secret));
	if (r < 0)
		return log_errno(r, "joining replication group %s on %s", d->cfg->repl.group,
				 d->cfg->repl.listen);
	log_notice("replication group %s: standby until the active is known",
		   d->cfg->repl.group);
	return 0;
}

int svc_daemon_run(const struct svc_config *cfg, const char *path)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP };
	static struct svc_daemon d;
	int r;

	d.path = path;
	d.cfg = calloc(1, sizeof(*d.cfg));
	d.spare = calloc(1, sizeof(*d.spare));
	if (!d.cfg || !d.spare)
		return log_errno(-ENOMEM, "starting");
	*d.cfg = *cfg;
	d.m.cfg = d.cfg;
	/* the flows' owner: the group in a hot-standby pair, whose members
	 * answer for the same flows */
	d.m.instance = loom_str_hash64(cfg->repl.group[0] ? cfg->repl.group : cfg->instance);
	if ((r = ev_block_signals(sigs, 3)) < 0)
		return log_errno(r, "blocking signals");
	d.loop = ev_loop_new();
	d.zctx = zmq_ctx_new();
	if (!d.loop || !d.zctx) {
		r = log_errno(-ENOMEM, "starting");
		goto out;
	}
	d.m.loop = d.loop;
	for (unsigned i = 0; i < 3; i++)
		if ((r = ev_signal_add(d.loop, sigs[i], on_signal, &d, &d.sig[i])) < 0)
			goto out;
	if ((r = open_flows(&d)) < 0)
		goto out;

	/* Nothing is kept: the manager speaks ZeroMQ, connects to backends
	 * for health checks and maps shared memory it has already opened. */
	if ((r = priv_drop(cfg->user, NULL, 0)) < 0) {
		log_errno(r, "dropping privileges");
		goto out;
	}
	if ((r = svc_model_load(&d.m, d.cfg)) < 0 || (r = svc_core_init(&d.m)) < 0)
		goto out;
	/* a group member counts its flows when it becomes active: as a
	 * standby its table is the active's, after the dump */
	if (!cfg->repl.group[0])
		svc_core_recover(&d.m);
	if ((r = svc_agents_open(&d.m, d.zctx, &d.agents)) < 0)
		goto out;
	if (cfg->repl.group[0] && (r = open_ha(&d)) < 0)
		goto out;
	if (cfg->prov.listen[0] &&
	    (r = svc_prov_open(d.loop, d.zctx, svc_agents_zap(d.agents), &cfg->prov, on_push, &d,
			       &d.prov)) < 0) {
		log_errno(r, "provisioning endpoint %s", cfg->prov.listen);
		goto out;
	}
	if (cfg->metrics[0] &&
	    (r = metrics_open(d.loop, cfg->metrics, fill_metrics, &d, &d.metrics)) < 0) {
		log_errno(r, "serving metrics on %s", cfg->metrics);
		goto out;
	}
	uint64_t refresh = d.cfg->wildcard_ttl_ms / 3;
	if ((r = ev_timer_periodic_add(d.loop, d.cfg->heartbeat_ms, on_heartbeat, &d, &d.hb)) < 0 ||
	    (r = ev_timer_periodic_add(d.loop, refresh, on_refresh, &d, &d.refresh)) < 0 ||
	    (r = ev_timer_periodic_add(d.loop, d.cfg->sweep_ms, on_sweep, &d, &d.sweep)) < 0 ||
	    (r = ev_timer_periodic_add(d.loop, 1000, on_publish, &d, &d.pub)) < 0)
		goto out;
	publish(&d);
	log_notice("running: instance %s, %u service%s, %" PRIu64 " flows in the table",
		   cfg->instance, d.m.nsvcs, d.m.nsvcs == 1 ? "" : "s",
		   svc_flows_count(d.m.flows));
	loom_daemon_ready(); /* a supervisor waiting for READY=1 may go on */
	r = ev_run(d.loop);
	write_stats(&d);
out:
	for (unsigned i = 0; i < 3; i++)
		ev_cancel(&d.sig[i]);
	ev_cancel(&d.hb);
	ev_cancel(&d.refresh);
	ev_cancel(&d.sweep);
	ev_cancel(&d.pub);
	metrics_close(d.metrics);
	svc_prov_close(d.prov);
	svc_ha_close(d.ha);
	svc_agents_close(d.agents);
	svc_model_free(&d.m);
	svc_flows_close(d.m.flows);
	shm_snap_close(d.snap);
	if (d.zctx)
		zmq_ctx_term(d.zctx);
	if (d.loop)
		ev_loop_free(d.loop);
	free(d.cfg);
	free(d.spare);
	return r;
}
