// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * loom-fwd-agent's control thread: set-up in the order privileges allow,
 * then one event loop for the managers, the punt queues, routing updates,
 * expiry and signals, while the workers move packets.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <urcu-qsbr.h>
#include <zmq.h>

#include "common/ev.h"
#include "common/daemon.h"
#include "common/log.h"
#include "common/nft_filter.h"
#include "common/metrics.h"
#include "common/priv.h"
#include "common/str.h"
#include "fwd_daemon.h"
#include "fwd_repl.h"

struct fwd_daemon {
	const struct fwd_config *cfg;
	struct ev_loop *loop;
	void *zctx;
	struct fwd_aff *aff;
	struct fwd_mgrs *mgrs;
	struct fwd_repl *repl;
	/* the workers' own handles on the tables, as readers: they serve
	 * packets the same way before an upgrade's new process is the writer */
	struct shm_table *rd_fixed, *rd_fwdstats;
	struct shm_snap *rd_snap;
	struct rt_table *rt;
	struct fwd_dp dp;
	unsigned nworkers;
	unsigned workers_ready;  /* initialised, so to be finalised */
	struct fwd_worker *workers;
	pthread_t *threads;
	bool threads_started;
	struct ev_handle *sig[3], *notify, *sweep, *rt_h, *eof_h;
	uint64_t last_answer_ms;
	uint64_t open_since_ms;  /* when held punts were last seen going from none to some */
	uint64_t eof_quiet_since;
	struct pktio_stats io_stats;  /* every queue's, taken when the I/O closes */
	struct metrics *metrics;
	int exit_code;
};

static bool takeover;

void fwd_daemon_set_takeover(bool on)
{
	takeover = on;
}

/* ---- control thread callbacks ------------------------------------------------ */

static void wake_control(void *arg)
{
	ev_notify(arg);
}

/* One held punt less to wait for (never below zero: the sweep may have
 * given up on them already). */
static void punt_closed(struct fwd_daemon *d)
{
	uint32_t o = atomic_load(&d->dp.open_punts);

	while (o && !atomic_compare_exchange_weak(&d->dp.open_punts, &o, o - 1))
		;
}

/* A worker queued interest matches: send them (rate limited per manager). */
static void on_notify(struct ev_loop *loop, void *arg, int what)
{
	struct fwd_daemon *d = arg;
	uint64_t now = ev_now_ms();

	(void)loop;
	(void)what;
	if (d->rt) { /* workers may have asked for neighbour resolution */
		rcu_thread_online();
		rt_process(d->rt);
		rcu_thread_offline();
	}
	for (unsigned i = 0; i < d->nworkers; i++) {
		struct fwd_slot *s;
		while ((s = fwd_ring_consume_begin(&d->workers[i].punts)) != NULL) {
			struct fwd_punt p = {
				.owner = s->owner, .fixed = s->fixed, .key = s->key,
				.dispatch = s->dispatch, .info = s->info, .reasons = s->reasons,
				.mgr_len = s->mgr_len,
				.packet = s->len ? s->data : NULL, .packet_len = s->len,
			};
			memcpy(p.smask, s->smask, 16);
			memcpy(p.dmask, s->dmask, 16);
			memcpy(p.mgr_data, s->mgr_data, s->mgr_len);
			if (!d->mgrs) {
				punt_closed(d); /* not connected yet */
			} else if (fwd_mgr_punt(d->mgrs, &p, now) < 0 && s->len) {
				/* refused (rate, queue): a held packet is gone, the sender
				 * retransmits; do not wait for an answer that won't come */
				punt_closed(d);
			}
			fwd_ring_consume_end(&d->workers[i].punts);
		}
	}
}

/* A fixed affinity carried the bytes its manager wanted to hear of. */
static int report_bytes(void *arg, const struct flow_key *key, const struct aff_fixed *v)
{
	struct fwd_daemon *d = arg;
	struct fwd_punt p = {
		.owner = v->owner, .fixed = true, .key = *key,
		.dispatch = (v->flags & AFF_F_DISPATCH) != 0, .info = (v->flags & AFF_F_INFO) != 0,
		.reasons = MSG_INT_BYTES,
		/* shared memory is input too: never trust its length */
		.mgr_len = v->mgr_len < AFF_FIXED_MGR_DATA ? v->mgr_len : AFF_FIXED_MGR_DATA,
	};

	if (!d->mgrs)
		return -ENOTCONN;
	memcpy(p.mgr_data, v->mgr_data, p.mgr_len);
	return fwd_mgr_punt(d->mgrs, &p, ev_now_ms());
}

/* A manager changed a fixed affinity: the peers hear of it. */
static void aff_changed(void *arg, const struct flow_key *key, const struct aff_fixed *v,
			uint64_t now_ms)
{
	struct fwd_daemon *d = arg;

	if (d->repl)
		fwd_repl_changed(d->repl, key, v, now_ms);
}

/* A manager handed a packet back: the worker of its flow sends it on. */
static void deliver(void *arg, uint16_t owner, const uint8_t *ip, uint32_t len, int64_t rank)
{
	struct fwd_daemon *d = arg;

	/* any worker will do: its pipeline is the same; 0 keeps order per run */
	if (fwd_worker_inject(&d->workers[0], owner, ip, len, rank) < 0)
		log_debug("returned packet dropped: worker queue full");
	/* only now: under pcap-sync a zero count lets the next input packet
	 * in, and it must not overtake the packet being returned */
	punt_closed(d);
	d->last_answer_ms = ev_now_ms();
}

static void on_sweep(struct ev_loop *loop, void *arg, int what)
{
	struct fwd_daemon *d = arg;
	uint64_t now = ev_now_ms();

	(void)loop;
	(void)what;
	fwd_aff_expire(d->aff, now, d->cfg->sweep_buckets);
	fwd_aff_reclaim(d->aff);
	/* held packets whose manager never answered: stop waiting for them,
	 * counting from the later of the first open punt and the last answer */
	if (!atomic_load(&d->dp.open_punts)) {
		d->open_since_ms = 0;
	} else {
		if (!d->open_since_ms)
			d->open_since_ms = now;
		uint64_t from = d->open_since_ms > d->last_answer_ms ? d->open_since_ms
								     : d->last_answer_ms;
		if (now - from > d->cfg->hold_ms) {
			atomic_store(&d->dp.open_punts, 0);
			d->open_since_ms = 0;
		}
	}
	on_notify(loop, d, 0); /* punts queued while the notify was coalesced */
}

static void on_rt(struct ev_loop *loop, void *arg, int what)
{
	struct fwd_daemon *d = arg;

	(void)loop;
	(void)what;
	rcu_thread_online();
	if (rt_process(d->rt) < 0)
		log_warn("routing table mirror: netlink socket failed");
	rcu_thread_offline();
}

static void on_signal(struct ev_loop *loop, void *arg, int what)
{
	(void)arg;
	(void)what;
	ev_stop(loop);
}

/* pcap: when the input is done and nothing is in flight, the run is over. */
static void on_eof_check(struct ev_loop *loop, void *arg, int what)
{
	struct fwd_daemon *d = arg;
	uint64_t now = ev_now_ms();

	(void)what;
	if (!pktio_eof(d->dp.io) || atomic_load(&d->dp.open_punts)) {
		d->eof_quiet_since = 0;
		return;
	}
	if (!d->eof_quiet_since)
		d->eof_quiet_since = now;
	else if (now - d->eof_quiet_since > 300)
		ev_stop(loop);
}

/* pcap-sync: the next input packet waits until every held one was answered */
static bool gate_open(void *arg)
{
	struct fwd_daemon *d = arg;

	return d->mgrs && fwd_mgrs_ready(d->mgrs) && atomic_load(&d->dp.open_punts) == 0;
}

/* ---- set-up --------------------------------------------------------------------- */

static unsigned cores(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 && n <= FWD_MAX_WORKERS ? (unsigned)n : 1;
}

static int open_io(struct fwd_daemon *d)
{
	const struct fwd_config *c = d->cfg;
	struct pktio_cfg pc;

	pktio_cfg_init(&pc, c->backend == FWD_IO_PCAP ? "pcap" :
			    c->backend == FWD_IO_AFXDP ? "afxdp" : "afpacket");
	pc.n_queues = d->nworkers;
	pc.n_ports = c->n_interfaces;
	pc.rx_frames = c->ring_frames;
	pc.tx_frames = c->ring_frames;
	pc.fanout_id = c->fanout_id;
	pc.vnet_hdr = true;
	pc.pace = c->pcap_pace == FWD_PACE_REAL ? PKTIO_PACE_REAL : PKTIO_PACE_FAST;
	pc.loop = c->pcap_loop;
	if (c->pcap_sync) {
		pc.gate = gate_open;
		pc.gate_arg = d;
	}
	for (unsigned i = 0; i < c->n_interfaces; i++) {
		const struct fwd_iface_cfg *f = &c->interfaces[i];
		pc.ports[i].ifname = f->name;
		pc.ports[i].pcap_in = f->pcap_in[0] ? f->pcap_in : NULL;
		pc.ports[i].pcap_out = f->pcap_out[0] ? f->pcap_out : NULL;
		pc.ports[i].flags = f->csum_partial ? PKTIO_PORT_CSUM_PARTIAL : 0;
	}
	int r = pktio_open(&pc, &d->dp.io);
	if (r < 0)
		return log_errno(r, "opening the %s packet back end", pc.backend);
	return 0;
}

static int open_routes(struct fwd_daemon *d)
{
	const struct fwd_config *c = d->cfg;
	struct fwd_dp *dp = &d->dp;

	dp->nports = c->n_interfaces;
	if (c->backend == FWD_IO_PCAP) {
		for (unsigned i = 0; i < c->n_interfaces; i++) {
			memcpy(dp->ports[i].mac, c->interfaces[i].mac, 6);
			memcpy(dp->ports[i].addr, c->interfaces[i].address, 16);
			memcpy(dp->ports[i].addr6, c->interfaces[i].address6, 16);
			dp->ports[i].mtu = c->interfaces[i].mtu;
		}
		for (unsigned i = 0; i < c->n_routes; i++) {
			struct fwd_static_route *r = &dp->routes[dp->nroutes++];
			memcpy(r->addr, c->routes[i].prefix.addr, 16);
			memcpy(r->mask, c->routes[i].prefix.mask, 16);
			memcpy(r->dmac, c->routes[i].mac, 6);
			r->len = c->routes[i].prefix.len + (c->routes[i].prefix.v4 ? 96 : 0);
			for (unsigned p = 0; p < c->n_interfaces; p++)
				if (!strcmp(c->routes[i].interface, c->interfaces[p].name))
					r->port = (uint16_t)p;
		}
		return 0;
	}

	struct rt_cfg rc = { .notify = wake_control, .notify_arg = d->loop };
	rcu_thread_online();
	int r = rt_open(&d->rt, &rc);
	if (r == 0) {
		for (unsigned i = 0; i < c->n_interfaces && r == 0; i++) {
			struct rt_link l;
			r = rt_link_by_name(d->rt, c->interfaces[i].name, &l);
			if (r < 0) {
				log_err("interface %s: not found", c->interfaces[i].name);
				break;
			}
			dp->ports[i].ifindex = l.ifindex;
			memcpy(dp->ports[i].mac, l.mac, 6);
		}
	}
	rcu_thread_offline();
	if (r < 0)
		return log_errno(r, "mirroring the routing table");
	dp->rt = d->rt;
	return ev_reader_add(d->loop, rt_fd(d->rt), on_rt, d, &d->rt_h);
}

/* The managers, and the replication peers (both need this agent's key pair). */
static int open_managers(struct fwd_daemon *d, uint64_t generation)
{
	const struct fwd_config *c = d->cfg;
	struct fwd_mgrs_cfg mc;
	int r;

	memset(&mc, 0, sizeof(mc));
	mc.n = c->n_managers;
	mc.instance = loom_str_hash64(c->instance);
	mc.generation = generation;
	mc.heartbeat_ms = (uint32_t)c->heartbeat_ms;
	memcpy(mc.identity.addr, c->address, 16);
	snprintf(mc.identity.host, sizeof(mc.identity.host), "%s", c->host_name);
	memcpy(mc.public_key, c->public_key, sizeof(mc.public_key));
	if (c->secret_key_file[0] && (r = cfg_read_z85_file(c->secret_key_file, mc.secret_key)) < 0)
		return log_errno(r, "reading the secret key from %s", c->secret_key_file);
	for (unsigned i = 0; i < c->n_managers; i++) {
		const struct fwd_manager_cfg *m = &c->managers[i];
		snprintf(mc.mgr[i].endpoint, sizeof(mc.mgr[i].endpoint), "%s", m->endpoint);
		memcpy(mc.mgr[i].server_key, m->server_key, sizeof(mc.mgr[i].server_key));
		memcpy(mc.mgr[i].auth_key, m->auth.key, sizeof(m->auth.key));
		mc.mgr[i].auth_key_len = m->auth.len;
		mc.mgr[i].punt_rate = m->punt_rate;
		mc.mgr[i].punt_burst = m->punt_burst;
	}
	r = fwd_mgrs_open(d->loop, d->zctx, &mc, d->aff, fwd_config_caps(c), deliver, d,
			  &d->mgrs);
	if (r < 0)
		log_errno(r, "connecting to the managers");
	else
		r = fwd_repl_open(d->loop, d->zctx, c, mc.secret_key, generation, d->aff, &d->repl);
	memset(mc.secret_key, 0, sizeof(mc.secret_key));
	return r;
}

struct fwd_stats_ctx {
	struct shm_table *t;
	FILE *f;
};

/* "forward ADDRESS PACKETS BYTES": the information flag's statistics */
static int write_forward(const struct shm_entry *e, uint32_t idx, void *arg)
{
	struct fwd_stats_ctx *x = arg;
	char addr[INET6_ADDRSTRLEN];
	uint64_t p, b;

	shm_table_counters(x->t, idx, &p, &b, NULL);
	if (key_addr_is_v4(e->key.daddr))
		inet_ntop(AF_INET, e->key.daddr + 12, addr, sizeof(addr));
	else
		inet_ntop(AF_INET6, e->key.daddr, addr, sizeof(addr));
	fprintf(x->f, "forward %s %" PRIu64 " %" PRIu64 "\n", addr, p, b);
	return 0;
}

/* Data-path counter c, summed over the workers (each writes its own, relaxed). */
static uint64_t dp_sum(const struct fwd_daemon *d, unsigned c)
{
	uint64_t sum = 0;

	for (unsigned w = 0; d->workers && w < d->workers_ready; w++)
		sum += fwd_worker_ctr(&d->workers[w], c);
	return sum;
}

static void write_stats(struct fwd_daemon *d)
{
	const char *path = d->cfg->stats_file;
	struct fwd_aff_stats as;

	if (!path[0])
		return;
	FILE *f = fopen(path, "w");
	if (!f) {
		log_errno(-errno, "writing %s", path);
		return;
	}
	for (unsigned c = 0; c < FWD_C__COUNT; c++)
		fprintf(f, "dp.%u %" PRIu64 " # %s\n", c, dp_sum(d, c), fwd_ctr_str(c));
	for (unsigned i = 0; i < PKTIO__ST_MAX; i++)
		fprintf(f, "io.%s %" PRIu64 "\n", pktio_stat_name(i), d->io_stats.v[i]);
	memset(&as, 0, sizeof(as));
	if (d->aff)
		fwd_aff_get_stats(d->aff, &as);
	for (unsigned u = 0; u < FWD_UPD__COUNT; u++)
		fprintf(f, "update.%u %" PRIu64 " # %s\n", u, as.upd[u], fwd_upd_str(u));
	fprintf(f, "fixed %" PRIu64 "\nwildcards %u\nexpired %" PRIu64 "\nevicted %" PRIu64
		"\nreported %" PRIu64 "\n", as.nfixed, as.nwild, as.expired, as.evicted, as.reported);
	struct fwd_stats_ctx x = { .t = d->dp.fwdstats, .f = f };
	struct shm_rcu_reader rd;
	if (x.t && shm_table_reader_register(x.t, &rd) == 0) {
		shm_rcu_read_lock(&rd);
		shm_table_walk(x.t, 0, UINT32_MAX, write_forward, &x);
		shm_rcu_read_unlock(&rd);
		shm_table_reader_unregister(&rd);
	}
	for (unsigned c = 0; c < FWD_COPY__COUNT; c++)
		fprintf(f, "copy.%u %" PRIu64 " # %s\n", c, as.copy[c], fwd_copy_str(c));
	if (d->repl) {
		struct repl_counters rc;
		fwd_repl_counters(d->repl, &rc);
		for (unsigned c = 0; c < REPL_C_COUNT; c++)
			fprintf(f, "repl.%s %" PRIu64 "\n", repl_counter_name(c), rc.c[c]);
	}
	for (unsigned m = 0; d->mgrs && m < d->cfg->n_managers; m++)
		for (unsigned c = 0; c < FWD_MGR__COUNT; c++)
			fprintf(f, "mgr%u.%u %" PRIu64 " # %s\n", m, c,
				fwd_mgr_counter(d->mgrs, m, c), fwd_mgr_ctr_str(c));
	fclose(f);
}

/* ---- metrics (docs/fwd-agent.md "Metrics"): the same counters as the stats file ---- */

/* Label values from the enum names: FWD_C_FIXED_HIT -> "fixed_hit". */
#define ENUM_NAME(name, str) #name,
static const char *const dp_names[] = { FWD_CTR_LIST(ENUM_NAME) };
static const char *const upd_names[] = { FWD_UPD_LIST(ENUM_NAME) };
static const char *const mgr_names[] = { FWD_MGR_CTR_LIST(ENUM_NAME) };
#undef ENUM_NAME

static const char *label(const char *enum_name, size_t prefix, char *buf, size_t len)
{
	size_t i;

	for (i = 0; enum_name[prefix + i] && i + 1 < len; i++)
		buf[i] = (char)tolower((unsigned char)enum_name[prefix + i]);
	buf[i] = '\0';
	return buf;
}

static void fill_metrics(void *arg, struct metrics_out *o)
{
	struct fwd_daemon *d = arg;
	struct fwd_aff_stats as;
	char idx[12], name[48];

	metrics_family(o, "loom_fwd_packets_total", METRICS_COUNTER,
		       "The data path's counters (received, hits, punts, drops...), all workers.");
	for (unsigned c = 0; c < FWD_C__COUNT; c++)
		metrics_sample(o, "loom_fwd_packets_total", "event",
			       label(dp_names[c], strlen("FWD_C_"), name, sizeof(name)), NULL, NULL,
			       NULL, NULL, dp_sum(d, c));
	memset(&as, 0, sizeof(as));
	fwd_aff_get_stats(d->aff, &as);
	metrics_family(o, "loom_fwd_updates_total", METRICS_COUNTER,
		       "Affinity updates from managers, by outcome.");
	for (unsigned u = 0; u < FWD_UPD__COUNT; u++)
		metrics_sample(o, "loom_fwd_updates_total", "result",
			       label(upd_names[u], strlen("FWD_UPD_"), name, sizeof(name)), NULL, NULL,
			       NULL, NULL, as.upd[u]);
	metrics_family(o, "loom_fwd_fixed_affinities", METRICS_GAUGE, "Fixed affinities held.");
	metrics_sample(o, "loom_fwd_fixed_affinities", NULL, NULL, NULL, NULL, NULL, NULL,
		       as.nfixed);
	metrics_family(o, "loom_fwd_wildcard_affinities", METRICS_GAUGE, "Wildcards held.");
	metrics_sample(o, "loom_fwd_wildcard_affinities", NULL, NULL, NULL, NULL, NULL, NULL,
		       as.nwild);
	metrics_family(o, "loom_fwd_affinity_events_total", METRICS_COUNTER,
		       "Fixed affinities expired, evicted for room, byte thresholds reported.");
	metrics_sample(o, "loom_fwd_affinity_events_total", "event", "expired", NULL, NULL, NULL,
		       NULL, as.expired);
	metrics_sample(o, "loom_fwd_affinity_events_total", "event", "evicted", NULL, NULL, NULL,
		       NULL, as.evicted);
	metrics_sample(o, "loom_fwd_affinity_events_total", "event", "reported", NULL, NULL, NULL,
		       NULL, as.reported);
	metrics_family(o, "loom_fwd_manager_messages_total", METRICS_COUNTER,
		       "Per configured manager: messages, punts, denies, returned packets.");
	for (unsigned m = 0; d->mgrs && m < d->cfg->n_managers; m++) {
		snprintf(idx, sizeof(idx), "%u", m);
		for (unsigned c = 0; c < FWD_MGR__COUNT; c++)
			metrics_sample(o, "loom_fwd_manager_messages_total", "manager", idx, "event",
				       label(mgr_names[c], strlen("FWD_MGR_"), name, sizeof(name)),
				       NULL, NULL, fwd_mgr_counter(d->mgrs, m, c));
	}
	metrics_family(o, "loom_fwd_manager_connected", METRICS_GAUGE,
		       "1 while the channel to the manager is up.");
	for (unsigned m = 0; d->mgrs && m < d->cfg->n_managers; m++) {
		snprintf(idx, sizeof(idx), "%u", m);
		metrics_sample(o, "loom_fwd_manager_connected", "manager", idx, NULL, NULL, NULL,
			       NULL, fwd_mgr_connected(d->mgrs, m));
	}
	if (d->repl) {
		struct repl_counters rc;
		fwd_repl_counters(d->repl, &rc);
		metrics_family(o, "loom_fwd_replication_total", METRICS_COUNTER,
			       "Peer mode: replication of fixed affinities (common/repl counters).");
		for (unsigned c = 0; c < REPL_C_COUNT; c++)
			metrics_sample(o, "loom_fwd_replication_total", "event", repl_counter_name(c),
				       NULL, NULL, NULL, NULL, rc.c[c]);
	}
}

static void teardown(struct fwd_daemon *d)
{
	metrics_close(d->metrics);
	atomic_store(&d->dp.stop, true);
	/* a worker asleep in pktio_wait() would see the stop only at its
	 * timeout, while its rings fill up: wake them all now */
	for (unsigned i = 0; d->threads_started && i < d->nworkers; i++)
		eventfd_write(d->workers[i].wake_fd, 1);
	if (d->threads_started)
		for (unsigned i = 0; i < d->nworkers; i++)
			pthread_join(d->threads[i], NULL);
	/*
	 * Leave the fanout group at once: a successor taking over (upgrade
	 * restart) gets every packet from here on. What reached our rings
	 * since the workers stopped is forwarded first; only a packet landing
	 * between the last empty look and close() is lost.
	 */
	if (d->threads_started) {
		rcu_thread_online();
		for (unsigned i = 0; i < d->nworkers; i++)
			while (fwd_worker_run_once(&d->workers[i]) > 0)
				;
		rcu_thread_offline();
	}
	if (d->dp.io)
		pktio_stats(d->dp.io, -1u, &d->io_stats);
	pktio_close(d->dp.io);
	d->dp.io = NULL;
	nft_filter_release(); /* host mode: the kernel forwards again from here on */
	if (d->workers)
		write_stats(d);
	for (unsigned i = 0; d->workers && i < d->workers_ready; i++)
		fwd_worker_fini(&d->workers[i]);
	fwd_repl_close(d->repl);
	fwd_mgrs_close(d->mgrs);
	for (unsigned i = 0; i < 3; i++)
		ev_cancel(&d->sig[i]);
	ev_cancel(&d->notify);
	ev_cancel(&d->sweep);
	ev_cancel(&d->rt_h);
	ev_cancel(&d->eof_h);
	if (d->rt) {
		rcu_thread_online();
		rt_close(d->rt);
		rcu_thread_offline();
	}
	shm_table_close(d->rd_fixed);
	shm_table_close(d->rd_fwdstats);
	shm_snap_close(d->rd_snap);
	fwd_aff_close(d->aff);
	if (d->zctx)
		zmq_ctx_term(d->zctx);
	ev_loop_free(d->loop);
	free(d->workers);
	free(d->threads);
}


/* ---- tables and the upgrade handover ---------------------------------------------- */

static int open_writer(struct fwd_daemon *d, const struct fwd_aff_cfg *ac,
		       struct shm_table_repair *rep)
{
	int r = fwd_aff_open(ac, &d->aff, rep);

	if (r == -EBUSY)
		return log_errno(r, "instance %s: another agent is the tables' writer (an upgrade "
				 "starts with --takeover)", d->cfg->instance);
	if (r < 0)
		return log_errno(r, "opening the affinity tables of instance %s", d->cfg->instance);
	uint64_t huge = shm_seg_huge_bytes(shm_table_seg(fwd_aff_table(d->aff)));
	if (huge)
		log_info("affinity table: %" PRIu64 " MB on 2 MB pages", huge >> 20);
	if (rep->entries || rep->rolled_back || rep->bad_slots)
		log_notice("took over the affinity table: %" PRIu64 " fixed affinities kept, %" PRIu64
			   " slots repaired%s", rep->entries, rep->bad_slots + rep->duplicates,
			   rep->rolled_back ? ", an interrupted update rolled back" : "");
	return 0;
}

/* The workers read the tables through handles of their own. */
static int open_readers(struct fwd_daemon *d)
{
	const char *i = d->cfg->instance;
	struct shm_table_geom g;
	int r;

	if ((r = shm_table_open_reader(i, "affinity", AFF_FIXED_KIND, AFF_FIXED_VERSION,
				       &d->rd_fixed, &g)) < 0 ||
	    (r = shm_snap_open_reader(i, "wildcard", AFF_SNAP_KIND, AFF_SNAP_VERSION,
				      &d->rd_snap)) < 0 ||
	    (r = shm_table_open_reader(i, "fwdstats", AFF_FWDSTATS_KIND, AFF_FWDSTATS_VERSION,
				       &d->rd_fwdstats, NULL)) < 0)
		return log_errno(r, "instance %s: attaching to the affinity tables%s", i,
				 takeover ? " to take over (is an agent running it?)" : "");
	if (g.lanes < d->nworkers)
		return log_errno(-ERANGE, "instance %s: its table counts for %u workers, not %u",
				 i, g.lanes, d->nworkers);
	d->dp.fixed = d->rd_fixed;
	d->dp.snap = d->rd_snap;
	d->dp.fwdstats = d->rd_fwdstats;
	return 0;
}

static int init_workers(struct fwd_daemon *d)
{
	int r;

	d->dp.wake_control = wake_control;
	d->dp.busy_poll_ns = (uint64_t)d->cfg->busy_poll_us * 1000u;
	d->dp.wake_arg = d->loop;
	d->workers = calloc(d->nworkers, sizeof(*d->workers));
	d->threads = calloc(d->nworkers, sizeof(*d->threads));
	if (!d->workers || !d->threads)
		return -ENOMEM;
	for (unsigned i = 0; i < d->nworkers; i++)
		if ((r = fwd_worker_init(&d->workers[i], &d->dp, i)) < 0) {
			d->workers_ready = i + 1; /* its partial state too */
			return log_errno(r, "worker %u", i);
		}
	d->workers_ready = d->nworkers;
	return 0;
}

static int start_workers(struct fwd_daemon *d)
{
	int r;

	for (unsigned i = 0; i < d->nworkers; i++) {
		if ((r = -pthread_create(&d->threads[i], NULL, fwd_worker_main, &d->workers[i])) < 0) {
			atomic_store(&d->dp.stop, true);
			for (unsigned j = 0; j < i; j++)
				pthread_join(d->threads[j], NULL);
			return log_errno(r, "starting worker %u", i);
		}
	}
	d->threads_started = true;
	return 0;
}

/* Is pid a loom-fwd-agent? (The segment names its writer by pid only.) */
static bool is_agent(pid_t pid)
{
	char path[64], comm[32] = "";
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return false;
	bool ok = fgets(comm, sizeof(comm), f) && !strcmp(comm, "loom-fwd-agent\n");
	fclose(f);
	return ok;
}

/*
 * The upgrade handover, with our workers already in the fanout group and
 * serving from the running agent's tables: ask that agent to leave
 * (SIGTERM: it forwards what its rings hold and leaves the group before it
 * lets go of the tables), then become the tables' writer the moment its
 * lock is released. Bounded: FWD_TAKEOVER_MS.
 */
#define FWD_TAKEOVER_MS 10000

static int take_over(struct fwd_daemon *d, const struct fwd_aff_cfg *ac,
		     struct shm_table_repair *rep)
{
	pid_t old = shm_seg_writer_pid(shm_table_seg(d->rd_fixed));
	uint64_t t0 = ev_now_ms();
	int r;

	if (old > 0 && old != getpid() && shm_proc_start_time(old)) {
		if (!is_agent(old))
			return log_errno(-EPERM, "instance %s: its writer, pid %d, is not a "
					 "loom-fwd-agent: not taking over", d->cfg->instance, (int)old);
		log_notice("taking over instance %s from pid %d", d->cfg->instance, (int)old);
		if (kill(old, SIGTERM) < 0 && errno != ESRCH)
			return log_errno(-errno, "signalling pid %d", (int)old);
	}
	for (;;) {
		r = fwd_aff_open(ac, &d->aff, rep);
		if (r != -EBUSY)
			break;
		if (ev_now_ms() - t0 > FWD_TAKEOVER_MS)
			return log_errno(r, "instance %s: pid %d did not leave within %d ms",
					 d->cfg->instance, (int)old, FWD_TAKEOVER_MS);
		nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
	}
	if (r < 0)
		return log_errno(r, "taking over the affinity tables of instance %s",
				 d->cfg->instance);
	log_notice("took over instance %s in %" PRIu64 " ms: %" PRIu64 " fixed affinities kept",
		   d->cfg->instance, ev_now_ms() - t0, rep->entries);
	return 0;
}

/* The capabilities kept after set-up, each with its reason. */
static const cap_value_t keep_caps[] = {
	CAP_NET_RAW,   /* transmit on the AF_PACKET sockets opened before the drop */
	CAP_NET_ADMIN, /* ask the kernel to resolve neighbours (RTM_NEWNEIGH, NTF_USE) */
};

int fwd_daemon_run(const struct fwd_config *cfg)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP };
	struct fwd_daemon d = { .cfg = cfg };
	struct shm_table_repair rep;
	int r;

	/* before any thread exists (liburcu's, ZeroMQ's, ours): they inherit it */
	if ((r = ev_block_signals(sigs, 3)) < 0)
		return log_errno(r, "blocking signals");
	rcu_register_thread();
	rcu_thread_offline();
	d.loop = ev_loop_new();
	d.zctx = zmq_ctx_new();
	if (!d.loop || !d.zctx) {
		r = -ENOMEM;
		goto out;
	}
	for (unsigned i = 0; i < 3 && r >= 0; i++)
		r = ev_signal_add(d.loop, sigs[i], on_signal, &d, &d.sig[i]);
	d.nworkers = cfg->backend == FWD_IO_PCAP ? 1 : (cfg->workers ? cfg->workers : cores());
	if (r < 0 || (r = open_routes(&d)) < 0)
		goto out;

	struct fwd_aff_cfg ac = {
		.instance = cfg->instance, .capacity = cfg->fixed_affinities,
		.lanes = d.nworkers, .rcu_slots = cfg->reader_slots, .caps = fwd_config_caps(cfg),
		.perm = { .mode = 0600, .gid = (gid_t)-1, .huge_pages = cfg->huge_pages },
		.direct_via = cfg->mode == FWD_MODE_HOST ? cfg->direct_via : NULL,
		.report = report_bytes, .report_arg = &d,
		.changed = aff_changed, .changed_arg = &d,
	};
	if (cfg->shm_group[0]) {
		struct group *g = getgrnam(cfg->shm_group);
		if (!g) {
			log_err("shm-group %s: no such group", cfg->shm_group);
			r = -ENOENT;
			goto out;
		}
		ac.perm.mode = 0660;
		ac.perm.gid = g->gr_gid;
	}
	/* an upgrade serves from the running agent's tables first and becomes
	 * their writer once that agent has left */
	/* joining the fanout group comes last: from then on packets wait in
	 * our rings, and an upgrade's workers start right after */
	if ((!takeover && (r = open_writer(&d, &ac, &rep)) < 0) || (r = open_readers(&d)) < 0 ||
	    (r = open_io(&d)) < 0 || (r = init_workers(&d)) < 0)
		goto out;
	if (takeover && ((r = start_workers(&d)) < 0 || (r = take_over(&d, &ac, &rep)) < 0))
		goto out;

	if (cfg->backend == FWD_IO_AFPACKET && cfg->ingress_filter) {
		const char *names[FWD_MAX_INTERFACES];
		for (unsigned i = 0; i < cfg->n_interfaces; i++)
			names[i] = cfg->interfaces[i].name;
		if ((r = nft_filter_install(cfg->instance, names, cfg->n_interfaces,
					    cfg->mode == FWD_MODE_HOST)) < 0)
			goto out;
	}

	if ((r = priv_drop(cfg->user, keep_caps, LOOM_ARRAY_SIZE(keep_caps))) < 0) {
		log_errno(r, "dropping privileges");
		goto out;
	}

	if ((r = open_managers(&d, shm_seg_generation(shm_table_seg(fwd_aff_table(d.aff))))) < 0 ||
	    (r = ev_notify_add(d.loop, on_notify, &d, &d.notify)) < 0 ||
	    (r = ev_timer_periodic_add(d.loop, cfg->sweep_ms, on_sweep, &d, &d.sweep)) < 0)
		goto out;
	if (cfg->backend == FWD_IO_PCAP && cfg->exit_on_eof &&
	    (r = ev_timer_periodic_add(d.loop, 50, on_eof_check, &d, &d.eof_h)) < 0)
		goto out;
	if (!d.threads_started && (r = start_workers(&d)) < 0)
		goto out;
	log_notice("running: instance %s, %u worker%s on %u interface%s, %u manager%s%s",
		   cfg->instance, d.nworkers, d.nworkers == 1 ? "" : "s", cfg->n_interfaces,
		   cfg->n_interfaces == 1 ? "" : "s", cfg->n_managers,
		   cfg->n_managers == 1 ? "" : "s", d.repl ? ", peer mode" : "");
	if (cfg->metrics[0] &&
	    (r = metrics_open(d.loop, cfg->metrics, fill_metrics, &d, &d.metrics)) < 0) {
		log_errno(r, "serving metrics on %s", cfg->metrics);
		goto out;
	}
	loom_daemon_ready(); /* a supervisor waiting for READY=1 may go on */
	r = ev_run(d.loop);
	log_notice("stopping");
out:
	teardown(&d);
	rcu_unregister_thread();
	return r;
}
