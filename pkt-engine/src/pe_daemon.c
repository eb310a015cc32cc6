// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * loom-pkt-engine's control thread: it owns the sequence segment (the one
 * writer), builds and publishes snapshots from the definitions, and runs
 * the event loop while the workers move packets.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <net/if.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/ev.h"
#include "common/key.h"
#include "common/metrics.h"
#include "common/daemon.h"
#include "common/log.h"
#include "common/nft_filter.h"
#include "common/priv.h"
#include "common/workers.h"
#include "shm/seg.h"
#include "pe_daemon.h"
#include "pe_dp.h"
#include "pe_ha.h"
#include "pe_prov.h"
#include "pe_trialctl.h"
#include "pe_watch.h"

#define PE_MAX_WORKERS 64
#define RECLAIM_TIMEOUT_NS (50 * 1000 * 1000ull)

struct pe_daemon {
	struct pe_config *cfg;       /* a private copy: reloads replace defs */
	const char *path;
	struct ev_loop *loop;
	struct pe_dp dp;
	unsigned nworkers, workers_ready;
	struct pe_worker *workers;
	pthread_t *threads;
	bool threads_started;
	void *published;             /* the snapshot in force, for naming statistics */
	size_t published_len;
	struct ev_handle *sig[3], *reclaim, *eof_h;
	uint64_t eof_quiet_since;
	struct pe_watch *watch;      /* probes and the control socket */
	struct pe_ha *ha;            /* heartbeats, or standing by to take over */
	struct pe_prov *prov;        /* the provisioner's pushes, if configured */
	struct pe_trials *trials;    /* the provisioner's trials, with prov */
	struct shm_seg *stats_seg;   /* loom.<instance>.stats */
	struct seq_stats_hdr *stats; /* its header */
	struct ev_handle *stats_h;
	struct metrics *metrics;
};

static void log_build_err(void *arg, const char *where, const char *msg)
{
	(void)arg;
	log_err("definitions: %s: %s", where, msg);
}

/* The devices' states for loomctl, as the snapshot being published has them. */
static void stats_states(struct pe_daemon *d, const struct pe_defs *eff)
{
	if (!d->stats)
		return;
	for (unsigned i = 0; i < PE_MAX_DEVICES; i++) {
		uint32_t f = 0;
		if (i < eff->n_devices) {
			f |= pe_watch_health(d->watch, i) ? SEQ_H_PROBED : 0;
			f |= eff->devices[i].down ? SEQ_H_DOWN : 0;
			f |= pe_defs_in_place(eff, i) != (int)i ? SEQ_H_STANDIN : 0;
		}
		atomic_store_explicit(&d->stats->health[i].flags, f, memory_order_relaxed);
	}
}

/* The probes' figures into the stats header (the flags follow publish()). */
static void on_stats(struct ev_loop *loop, void *arg, int what)
{
	struct pe_daemon *d = arg;

	(void)loop;
	(void)what;
	for (unsigned i = 0; i < d->cfg->defs.n_devices; i++) {
		const struct pe_health *h = pe_watch_health(d->watch, i);
		struct seq_health *o = &d->stats->health[i];
		if (!h)
			continue;
		atomic_store_explicit(&o->sent, h->sent, memory_order_relaxed);
		atomic_store_explicit(&o->answered, h->answered, memory_order_relaxed);
		atomic_store_explicit(&o->changes, h->changes, memory_order_relaxed);
		atomic_store_explicit(&o->rtt_ns, h->rtt_ns, memory_order_relaxed);
		atomic_store_explicit(&o->last_ok_ms, h->last_ok_ms, memory_order_relaxed);
	}
	atomic_store_explicit(&d->stats->updated_ms, pe_real_ms(), memory_order_relaxed);
}

/* the kind is registered with the others in shm/seg.h */
static_assert(SEQ_STATS_KIND == SHM_KIND_SEQ_STATS, "shm kinds are registered once");

/*
 * loom.<instance>.stats: the workers' lanes and the devices' health, live
 * for loomctl. A previous run's counters are cleared: they counted slots of
 * another snapshot.
 */
static int open_stats(struct pe_daemon *d)
{
	struct shm_layout l = { .kind = SEQ_STATS_KIND, .kind_version = SEQ_STATS_VERSION,
				.rcu_slots = 8, .nregions = 1 };
	struct shm_perm perm = { .mode = 0600, .gid = (gid_t)-1 };
	bool created;
	size_t size;
	int r;

	l.region_size[0] = seq_stats_size(SEQ_STATS_LANES);
	l.geometry[0] = SEQ_STATS_LANES;
	if ((r = shm_seg_open_writer(d->cfg->instance, "stats", &l, &perm, &d->stats_seg,
				     &created)) < 0)
		return log_errno(r, "opening loom.%s.stats", d->cfg->instance);
	void *region = shm_seg_region(d->stats_seg, 0, &size);
	if (!region || size < seq_stats_size(d->nworkers))
		return log_errno(-EPROTO, "loom.%s.stats: region too small", d->cfg->instance);
	memset(region, 0, seq_stats_size(d->nworkers));
	d->stats = region;
	d->stats->magic = SEQ_STATS_MAGIC;
	d->stats->nlanes = d->nworkers;
	d->stats->nctr = PE_C__COUNT;
	for (unsigned c = 0; c < PE_C__COUNT; c++)
		snprintf(d->stats->ctr_name[c], SEQ_CTR_NAME_LEN, "%s", pe_ctr_str(c));
	d->dp.lanes = seq_stats_lane(region, 0);
	return ev_timer_periodic_add(d->loop, 250, on_stats, d, &d->stats_h);
}

/* Build the snapshot of the definitions in force, with the devices'
 * health applied (alternates in place of failed devices), and publish it. */
static int publish(struct pe_daemon *d)
{
	int rc;
	struct pe_defs *defs = malloc(sizeof(*defs));

	if (!defs)
		return log_errno(-ENOMEM, "building the sequence table");
	memcpy(defs, &d->cfg->defs, sizeof(*defs));
	if (d->watch)
		pe_watch_apply(d->watch, defs);
	struct seq_builder *b = pe_defs_build(defs, log_build_err, NULL, &rc);
	if (b)
		stats_states(d, defs);
	free(defs);
	if (!b)
		return log_errno(rc, "building the sequence table");
	size_t len = seq_builder_size(b);
	void *p = shm_snap_alloc(d->dp.snap, len);
	if (!p) {
		seq_builder_free(b);
		return log_errno(-ENOSPC, "no room for a %zu-byte sequence snapshot", len);
	}
	rc = seq_builder_write(b, p, len, d->cfg->defs.version, pe_real_ms());
	seq_builder_free(b);
	if (rc == 0)
		rc = shm_snap_publish(d->dp.snap, p, len);
	if (rc < 0) {
		shm_snap_abort(d->dp.snap, p);
		return log_errno(rc, "publishing the sequence table");
	}
	d->published = p;
	d->published_len = len;
	log_notice("definitions version %" PRIu64 " in force: %u services, %u devices, %zu bytes",
		   d->cfg->defs.version, d->cfg->defs.n_services, d->cfg->defs.n_devices, len);
	return 0;
}

static int on_health_change(void *arg)
{
	return publish(arg);
}

/* ---- control thread callbacks ------------------------------------------------ */

/*
 * Put verified definitions in force: what a SIGHUP reload and a
 * provisioner's push both do. 0, or a negative errno with the reason in
 * why, the definitions in force unchanged.
 */
static int replace_defs(struct pe_daemon *d, const struct pe_defs *n, char *why, size_t whylen)
{
	struct pe_defs *old;
	int r;

	if (!pe_defs_same_interfaces(n, &d->cfg->defs)) {
		snprintf(why, whylen, "interfaces changed (restart to change them)");
		return -EINVAL;
	}
	if (!(old = malloc(sizeof(*old)))) {
		snprintf(why, whylen, "out of memory");
		return -ENOMEM;
	}
	/* the watch reads the definitions in force: swap them in, back on failure */
	memcpy(old, &d->cfg->defs, sizeof(*old));
	d->cfg->defs = *n;
	pe_watch_defs_changed(d->watch);
	if ((r = publish(d)) < 0) {
		d->cfg->defs = *old;
		pe_watch_defs_changed(d->watch);
		snprintf(why, whylen, "publishing the snapshot: %s", strerror(-r));
	}
	free(old);
	return r;
}

static int on_push(void *arg, const struct pe_defs *defs, char *why, size_t whylen)
{
	return replace_defs(arg, defs, why, whylen);
}

static void reload(struct pe_daemon *d)
{
	struct pe_config *n = calloc(1, sizeof(*n));
	struct cfg_diag diag;
	char why[CFG_DIAG_LEN];

	if (!n) {
		log_err("reload: out of memory");
		return;
	}
	if (cfg_load_file(d->path, &pe_config_schema, n, &diag) < 0) {
		for (unsigned i = 0; i < diag.n; i++)
			log_err("reload: %s", diag.msg[i]);
		log_err("reload of %s refused: the definitions in force stay", d->path);
	} else {
		pe_prov_keep(d->prov, &n->defs);
		if (replace_defs(d, &n->defs, why, sizeof(why)) < 0)
			log_err("reload of %s refused: %s", d->path, why);
	}
	free(n);
}

static void on_signal(struct ev_loop *loop, void *arg, int what)
{
	struct pe_daemon *d = arg;

	if (what == SIGHUP)
		reload(d);
	else
		ev_stop(loop);
}

static void on_reclaim(struct ev_loop *loop, void *arg, int what)
{
	struct pe_daemon *d = arg;

	(void)loop;
	(void)what;
	shm_snap_reclaim(d->dp.snap, RECLAIM_TIMEOUT_NS);
}

/* pcap: once the input is done and the workers are quiet, the run is over. */
static void on_eof_check(struct ev_loop *loop, void *arg, int what)
{
	struct pe_daemon *d = arg;
	uint64_t now = ev_now_ms();

	(void)what;
	if (!pktio_eof(d->dp.io)) {
		d->eof_quiet_since = 0;
		return;
	}
	if (!d->eof_quiet_since)
		d->eof_quiet_since = now;
	else if (now - d->eof_quiet_since > 200)
		ev_stop(loop);
}

/* ---- set-up --------------------------------------------------------------------- */

static int kernel_mac(const char *ifname, uint8_t mac[6])
{
	struct ifreq ifr;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int r = 0;

	if (fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0)
		r = -errno;
	else
		memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
	close(fd);
	return r;
}

static int open_io(struct pe_daemon *d)
{
	const struct pe_config *c = d->cfg;
	const struct pe_defs *defs = &c->defs;
	struct pktio_cfg pc;
	int r;

	pktio_cfg_init(&pc, c->backend == PE_IO_PCAP ? "pcap" : "afpacket");
	d->nworkers = c->backend == PE_IO_PCAP ? 1 :
		      c->workers ? c->workers : loom_workers_default(PE_MAX_WORKERS);
	pc.n_queues = d->nworkers;
	pc.n_ports = defs->n_interfaces;
	pc.rx_frames = c->ring_frames;
	pc.tx_frames = c->ring_frames;
	pc.fanout_id = c->fanout_id;
	pc.vnet_hdr = true;
	pc.pace = c->pcap_real_time ? PKTIO_PACE_REAL : PKTIO_PACE_FAST;
	for (unsigned i = 0; i < defs->n_interfaces; i++) {
		const struct pe_iface_cfg *f = &defs->interfaces[i];
		pc.ports[i].ifname = f->name;
		pc.ports[i].pcap_in = f->pcap_in[0] ? f->pcap_in : NULL;
		pc.ports[i].pcap_out = f->pcap_out[0] ? f->pcap_out : NULL;
		pc.ports[i].flags = f->csum_partial ? PKTIO_PORT_CSUM_PARTIAL : 0;
		if (c->backend == PE_IO_PCAP)
			memcpy(d->dp.port_mac[i], f->mac, 6);
		else if ((r = kernel_mac(f->name, d->dp.port_mac[i])) < 0)
			return log_errno(r, "interface %s: reading its MAC", f->name);
	}
	d->dp.nports = defs->n_interfaces;
	d->dp.copy_room = c->copy_room;
	r = pktio_open(&pc, &d->dp.io);
	if (r < 0)
		return log_errno(r, "opening the %s packet back end", pc.backend);
	if (c->backend == PE_IO_AFPACKET && c->ingress_filter) {
		/* the kernel would route (or reject) every service packet the
		 * engine steers: a second, wasted trip through its stack */
		const char *names[PE_MAX_INTERFACES];
		for (unsigned i = 0; i < defs->n_interfaces; i++)
			names[i] = defs->interfaces[i].name;
		if ((r = nft_filter_install(c->instance, names, defs->n_interfaces, false)) < 0)
			return r;
	}
	return 0;
}

static int open_table(struct pe_daemon *d)
{
	struct shm_snap_geom g = {
		.area_size = PE_SNAP_AREA, .value_kind = SEQ_SNAP_KIND,
		.value_version = SEQ_SNAP_VERSION, .rcu_slots = d->cfg->reader_slots,
	};
	struct shm_perm perm = { .mode = 0600, .gid = (gid_t)-1 };
	int r = shm_snap_open_writer(d->cfg->instance, "sequence", &g, &perm, &d->dp.snap);

	if (r < 0)
		return log_errno(r, "opening loom.%s.sequence", d->cfg->instance);
	return publish(d);
}

/* ---- statistics ------------------------------------------------------------------ */

typedef const struct seq_counter *pick_fn(const struct seq_lane *l, uint32_t i);

static void sum(const struct pe_daemon *d, pick_fn *pick, uint32_t i, uint64_t *pk, uint64_t *by)
{
	*pk = *by = 0;
	for (unsigned w = 0; w < d->nworkers; w++) {
		const struct seq_counter *c = pick(d->workers[w].lane, i);
		*pk += atomic_load_explicit(&c->packets, memory_order_relaxed);
		*by += atomic_load_explicit(&c->bytes, memory_order_relaxed);
	}
}

static const struct seq_counter *pick_stat(const struct seq_lane *l, uint32_t i)
{
	return &l->slot[i];
}

static const struct seq_counter *pick_device(const struct seq_lane *l, uint32_t i)
{
	return &l->device[i];
}

/* Counter c, summed over the workers. */
static uint64_t ctr_sum(const struct pe_daemon *d, unsigned c)
{
	uint64_t n = 0;

	for (unsigned w = 0; w < d->nworkers; w++)
		n += pe_worker_ctr(&d->workers[w], c);
	return n;
}

/*
 * The counters, one per line: "counter NAME N", "service NAME ADDR PROTO
 * PORT[-HI] PACKETS BYTES", "device NAME PACKETS BYTES", "pktio NAME N".
 * Written at exit (docs/pkt-engine.md); the workers have stopped.
 */
static void write_stats(struct pe_daemon *d)
{
	const char *path = d->cfg->stats_file;
	struct seq_view v;
	struct pktio_stats ps;
	uint64_t pk, by;
	char addr[INET6_ADDRSTRLEN];

	if (!path[0])
		return;
	FILE *f = fopen(path, "w");
	if (!f) {
		log_errno(-errno, "writing %s", path);
		return;
	}
	for (unsigned c = 0; c < PE_C__COUNT; c++)
		fprintf(f, "counter %s %" PRIu64 "\n", pe_ctr_str(c), ctr_sum(d, c));
	if (d->published && seq_view_init(&v, d->published, d->published_len) == 0) {
		for (uint32_t i = 0; i < v.n_stats && i < PE_MAX_STATS; i++) {
			const struct seq_stat *s = &v.stats[i];
			key_addr_format(s->addr, addr, sizeof(addr));
			sum(d, pick_stat, i, &pk, &by);
			char ports[16];
			if (s->port == s->port_hi)
				snprintf(ports, sizeof(ports), "%u", s->port);
			else
				snprintf(ports, sizeof(ports), "%u-%u", s->port, s->port_hi);
			fprintf(f, "service %.*s %s %u %s %" PRIu64 " %" PRIu64 "\n", SEQ_NAME_LEN,
				s->service, addr, s->proto, ports, pk, by);
		}
		for (uint32_t i = 0; i < v.n_devices && i < PE_MAX_DEVICES; i++) {
			sum(d, pick_device, i, &pk, &by);
			fprintf(f, "device %.*s %" PRIu64 " %" PRIu64 "\n", SEQ_NAME_LEN,
				v.devices[i].name, pk, by);
		}
	}
	if (d->dp.io) {
		pktio_stats(d->dp.io, -1u, &ps);
		for (unsigned s = 0; s < PKTIO__ST_MAX; s++)
			fprintf(f, "pktio %s %" PRIu64 "\n", pktio_stat_name(s), ps.v[s]);
	}
	fclose(f);
}

/* ---- metrics (docs/pkt-engine.md "Metrics"): the stats segment, summed ---- */

static void fill_metrics(void *arg, struct metrics_out *o)
{
	const struct pe_daemon *d = arg;
	char name[SEQ_NAME_LEN + 1], port[8];
	struct seq_view v;
	uint64_t pk, by;

	metrics_family(o, "loom_engine_events_total", METRICS_COUNTER,
		       "The data plane's counters, summed over the workers.");
	for (unsigned c = 0; c < PE_C__COUNT; c++)
		metrics_sample(o, "loom_engine_events_total", "event", pe_ctr_str(c), NULL, NULL,
			       NULL, NULL, ctr_sum(d, c));
	if (!d->stats || !d->published ||
	    seq_view_init(&v, d->published, d->published_len) < 0)
		return;
	metrics_family(o, "loom_engine_device_up", METRICS_GAUGE,
		       "0 while the device is down (failed probes, or configured so).");
	for (uint32_t i = 0; i < v.n_devices && i < PE_MAX_DEVICES; i++) {
		snprintf(name, sizeof(name), "%.*s", SEQ_NAME_LEN, v.devices[i].name);
		metrics_sample(o, "loom_engine_device_up", "device", name, NULL, NULL, NULL, NULL,
			       !(atomic_load(&d->stats->health[i].flags) & SEQ_H_DOWN));
	}
	metrics_family(o, "loom_engine_device_packets_total", METRICS_COUNTER,
		       "Packets sent to or received from the device.");
	for (uint32_t i = 0; i < v.n_devices && i < PE_MAX_DEVICES; i++) {
		snprintf(name, sizeof(name), "%.*s", SEQ_NAME_LEN, v.devices[i].name);
		sum(d, pick_device, i, &pk, &by);
		metrics_sample(o, "loom_engine_device_packets_total", "device", name, NULL, NULL,
			       NULL, NULL, pk);
	}
	metrics_family(o, "loom_engine_service_packets_total", METRICS_COUNTER,
		       "Packets of a service port, both directions.");
	for (uint32_t i = 0; i < v.n_stats && i < PE_MAX_STATS; i++) {
		snprintf(name, sizeof(name), "%.*s", SEQ_NAME_LEN, v.stats[i].service);
		snprintf(port, sizeof(port), "%u", v.stats[i].port);
		sum(d, pick_stat, i, &pk, &by);
		metrics_sample(o, "loom_engine_service_packets_total", "service", name, "port", port,
			       NULL, NULL, pk);
	}
}

static void teardown(struct pe_daemon *d)
{
	if (d->threads_started)
		loom_workers_join(d->threads, d->nworkers, &d->dp.stop);
	if (d->workers)
		write_stats(d);
	for (unsigned i = 0; d->workers && i < d->workers_ready; i++)
		pe_worker_fini(&d->workers[i]);
	for (unsigned i = 0; i < 3; i++)
		ev_cancel(&d->sig[i]);
	ev_cancel(&d->reclaim);
	ev_cancel(&d->eof_h);
	ev_cancel(&d->stats_h);
	metrics_close(d->metrics);
	pe_trials_close(d->trials);
	pe_prov_close(d->prov);
	pe_ha_close(d->ha);
	pe_watch_close(d->watch);
	shm_seg_close(d->stats_seg);
	pktio_close(d->dp.io);
	shm_snap_close(d->dp.snap);
	ev_loop_free(d->loop);
	free(d->workers);
	free(d->threads);
	free(d->cfg);
}

/* The capabilities kept after set-up, each with its reason. */
static const cap_value_t keep_caps[] = {
	CAP_NET_RAW,   /* transmit on the AF_PACKET sockets opened before the drop */
	CAP_NET_ADMIN, /* gratuitous ARP when a secondary takes the address over */
};

static int start_workers(struct pe_daemon *d)
{
	int r;

	d->workers = calloc(d->nworkers, sizeof(*d->workers));
	d->threads = calloc(d->nworkers, sizeof(*d->threads));
	if (!d->workers || !d->threads)
		return -ENOMEM;
	for (unsigned i = 0; i < d->nworkers; i++) {
		d->workers_ready = i + 1; /* a failed init's partial state too */
		if ((r = pe_worker_init(&d->workers[i], &d->dp, i)) < 0)
			return log_errno(r, "worker %u", i);
	}
	return 0;
}

int pe_daemon_run(const struct pe_config *cfg, const char *path)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP };
	struct pe_daemon d = { .path = path };
	int r;

	/* before any thread exists: they inherit the block */
	if ((r = ev_block_signals(sigs, 3)) < 0)
		return log_errno(r, "blocking signals");
	d.cfg = malloc(sizeof(*d.cfg));
	d.loop = ev_loop_new();
	if (!d.cfg || !d.loop) {
		r = log_errno(-ENOMEM, "starting");
		goto out;
	}
	memcpy(d.cfg, cfg, sizeof(*cfg));
	for (unsigned i = 0; i < 3 && r >= 0; i++)
		r = ev_signal_add(d.loop, sigs[i], on_signal, &d, &d.sig[i]);
	if (r < 0 || (r = open_io(&d)) < 0 ||
	    (r = pe_watch_open(&d.watch, d.loop, d.cfg, d.dp.port_mac[0], on_health_change,
				&d)) < 0 ||
	    (r = pe_ha_open(&d.ha, d.loop, d.cfg, d.dp.port_mac[0], &d.dp, d.watch)) < 0 ||
	    (r = open_stats(&d)) < 0 || (r = open_table(&d)) < 0 ||
	    (r = start_workers(&d)) < 0)
		goto out;
	if ((r = priv_drop(cfg->user, keep_caps, LOOM_ARRAY_SIZE(keep_caps))) < 0) {
		log_errno(r, "dropping privileges");
		goto out;
	}
	if ((r = ev_timer_periodic_add(d.loop, 1000, on_reclaim, &d, &d.reclaim)) < 0)
		goto out;
	if (cfg->prov.listen[0] &&
	    (r = pe_prov_open(d.loop, &cfg->prov, &d.cfg->defs, on_push, &d, &d.prov)) < 0) {
		log_errno(r, "provisioning endpoint %s", cfg->prov.listen);
		goto out;
	}
	if (d.prov) {
		if ((r = pe_trials_open(&d.trials, d.loop, d.cfg, &d.dp, d.watch, d.prov)) < 0) {
			log_errno(r, "trials");
			goto out;
		}
		pe_prov_on_trial(d.prov, pe_trials_request, d.trials);
	}
	if (cfg->backend == PE_IO_PCAP && cfg->exit_on_eof &&
	    (r = ev_timer_periodic_add(d.loop, 50, on_eof_check, &d, &d.eof_h)) < 0)
		goto out;
	if ((r = loom_workers_start(d.threads, d.nworkers, pe_worker_main, d.workers,
				    sizeof(*d.workers), &d.dp.stop)) < 0) {
		log_errno(r, "starting the workers");
		goto out;
	}
	d.threads_started = true;
	if (cfg->metrics[0] &&
	    (r = metrics_open(d.loop, cfg->metrics, fill_metrics, &d, &d.metrics)) < 0) {
		log_errno(r, "serving metrics on %s", cfg->metrics);
		goto out;
	}
	log_notice("running: instance %s, %u worker%s on %u interface%s", cfg->instance,
		   d.nworkers, d.nworkers == 1 ? "" : "s", cfg->defs.n_interfaces,
		   cfg->defs.n_interfaces == 1 ? "" : "s");
	loom_daemon_ready(); /* a supervisor waiting for READY=1 may go on */
	r = ev_run(d.loop);
	log_notice("stopping");
out:
	teardown(&d);
	return r;
}
