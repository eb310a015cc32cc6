// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Trials on the control thread (see pe_trialctl.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "common/key.h"
#include "common/log.h"
#include "common/str.h"
#include "pe_trial.h"
#include "pe_trialctl.h"

#define NS_PER_MS 1000000ull

struct pe_trials {
	struct ev_loop *loop;
	const struct pe_config *cfg;
	struct pe_dp *dp;
	struct pe_watch *watch;
	struct pe_prov *prov;
	bool running;
	struct provchan_trial req;          /* the request in flight */
	char service[MSG_MAX_NAME + 1];
	struct pe_trial_info info;
	struct pe_trial_chain chain;
	struct pe_trial_seg syn;
	unsigned client_if;
	struct pe_worker w;                 /* private: its own lane and reader slot */
	bool w_ready;
	uint64_t last_send_ns, prev_send_ns, next_send_ns, deadline_ns;
	struct ev_handle *timer;
};

/* "fw > web1" */
static const char *chain_text(const struct pe_trial_chain *c, char *buf, size_t len)
{
	size_t at = 0;

	buf[0] = 0;
	for (unsigned i = 0; i < c->n; i++)
		loom_appendf(buf, len, &at, "%s%s", i ? " > " : "", c->name[i]);
	return buf;
}

/* The report as the answer, an event and a log line. */
static void answer(struct pe_trials *t, const struct provchan_trial *req,
		   const struct pe_trial_info *info, const struct pe_trial_chain *chain,
		   const struct pe_trial_step *steps, unsigned n)
{
	json_t *rep = pe_trial_report(info, chain, steps, n), *ev = json_object();
	char *text = rep ? json_dumps(rep, JSON_COMPACT) : NULL, *evtext;
	char path[PE_MAX_CHAIN * (PE_NAME_LEN + 3)];

	if (!text) {
		/* the asker is still owed an answer */
		pe_prov_trial_done(t->prov, req, false, "{\"ok\":false,\"reason\":\"out of memory\"}");
		goto out;
	}
	if (pe_prov_trial_done(t->prov, req, info->ok, text) < 0)
		log_debug("trial of %s: the asker is gone", req->service);
	if (ev) {
		json_object_set_new(ev, "event", json_string("trial"));
		json_object_set_new(ev, "instance", json_string(t->cfg->instance));
		json_object_update(ev, rep);
		if ((evtext = json_dumps(ev, JSON_COMPACT))) {
			pe_watch_event(t->watch, evtext);
			free(evtext);
		}
	}
	if (info->ok)
		log_notice("trial of %s port %u: answered in %" PRId64 " us through %s",
			   req->service, info->port, info->rtt_us, chain_text(chain, path,
									 sizeof(path)));
	else
		log_notice("trial of %s port %u failed: %s", req->service, info->port,
			   info->reason);
	free(text);
out:
	json_decref(ev);
	json_decref(rep);
}

static void refuse(struct pe_trials *t, const struct provchan_trial *req, const char *why)
{
	struct pe_trial_info info = { .service = req->service, .port = req->port, .rtt_us = -1,
				      .reason = why };
	struct pe_trial_chain none = { .n = 0 };

	answer(t, req, &info, &none, NULL, 0);
}

/* Steer seg as if it had arrived on the client interface, and send what
 * comes out. How many frames went out (0: the first step refused it). */
static unsigned inject(struct pe_trials *t, const struct pe_trial_seg *seg)
{
	uint8_t buf[128];
	struct pktio_pkt p = { .data = buf, .port = (uint16_t)t->client_if, .room = sizeof(buf) };
	struct pktio_pkt out[PE_OUT_MAX(1)];
	unsigned sent = 0;

	p.len = (uint32_t)pe_trial_frame(buf, seg);
	unsigned nout = pe_worker_steer(&t->w, &p, 1, out);
	for (unsigned i = 0; i < nout; i++) {
		int r = pe_watch_send(t->watch, out[i].port, out[i].data, out[i].len);
		if (r < 0)
			log_debug("trial: sending on port %u: %s", out[i].port, strerror(-r));
		else
			sent++;
	}
	return nout ? sent : 0;
}

/* The first counter of the private lane that moved besides rx: why it was refused. */
static const char *refused_by(const struct pe_trials *t)
{
	for (unsigned c = 0; c < PE_C__COUNT; c++)
		if (c != PE_C_RX && c != PE_C_TX && pe_worker_ctr(&t->w, c))
			return pe_ctr_str(c);
	return "nothing was sent";
}

static void end(struct pe_trials *t, bool ok, const char *why)
{
	struct pe_trial_step steps[PE_TRIAL_EVENTS];
	char silent[192];
	unsigned n;

	ev_cancel(&t->timer);
	atomic_store_explicit(&t->dp->trial.active, false, memory_order_release);
	n = pe_trial_read(&t->dp->trial, steps, PE_TRIAL_EVENTS);
	if (t->last_send_ns) {
		/* the server forgets the half-open connection (the slot is off:
		 * nothing of it is traced) */
		struct pe_trial_seg rst = t->syn;
		rst.rst = true;
		rst.seq = t->syn.seq + 1;
		inject(t, &rst);
	}
	if (!ok && !why) {
		pe_trial_why_silent(&t->chain, steps, n, t->cfg->trial_timeout_ms, silent,
				    sizeof(silent));
		why = silent;
	}
	t->info.ok = ok;
	t->info.reason = why;
	answer(t, &t->req, &t->info, &t->chain, steps, n);
	pe_worker_fini(&t->w);
	t->w_ready = false;
	t->running = false;
}

static void on_poll(struct ev_loop *loop, void *arg, int what)
{
	struct pe_trials *t = arg;
	uint64_t now = pe_mono_ns();
	uint64_t done = atomic_load_explicit(&t->dp->trial.done_ns, memory_order_acquire);
	char why[128];

	(void)loop;
	(void)what;
	if (done) {
		uint8_t f = atomic_load_explicit(&t->dp->trial.done_flags, memory_order_relaxed);
		uint64_t sent = t->last_send_ns <= done ? t->last_send_ns : t->prev_send_ns;
		t->info.rtt_us = (int64_t)((done - sent) / 1000);
		if ((f & 0x12) == 0x12) {
			end(t, true, NULL);
			return;
		}
		t->info.rtt_us = -1;
		snprintf(why, sizeof(why), "%s answered with a reset: nothing listens on port %u",
			 t->chain.n ? t->chain.name[t->chain.n - 1] : "the server", t->info.port);
		end(t, false, why);
	} else if (now >= t->deadline_ns) {
		end(t, false, NULL);
	} else if (now >= t->next_send_ns) {
		inject(t, &t->syn);
		t->prev_send_ns = t->last_send_ns;
		t->last_send_ns = now;
		t->next_send_ns = now + PE_TRIAL_RESEND_MS * NS_PER_MS;
	}
}

static const struct pe_service_cfg *find_service(const struct pe_defs *d, const char *name)
{
	for (unsigned i = 0; i < d->n_services; i++)
		if (!strcmp(d->services[i].name, name))
			return &d->services[i];
	return NULL;
}

static bool has_port(const struct pe_service_cfg *s, uint16_t port)
{
	for (unsigned i = 0; i < s->n_ports; i++)
		if (s->ports[i].port == port ||
		    (s->ports[i].dynamic.hi && port >= s->ports[i].dynamic.lo &&
		     port <= s->ports[i].dynamic.hi))
			return true;
	return false;
}

/* The chain in effect: each device, or the alternate standing in for it. */
static int chain_in_effect(struct pe_trials *t, const struct pe_service_cfg *s)
{
	struct pe_defs *eff = malloc(sizeof(*eff));

	if (!eff)
		return -ENOMEM;
	memcpy(eff, &t->cfg->defs, sizeof(*eff));
	pe_watch_apply(t->watch, eff);
	t->chain.n = 0;
	for (unsigned c = 0; c < s->n_chain && c < PE_MAX_CHAIN; c++) {
		unsigned di = 0;
		while (di < eff->n_devices && strcmp(eff->devices[di].name, s->chain[c]))
			di++;
		if (di == eff->n_devices)
			continue; /* verified at load: not reached */
		int in = pe_defs_in_place(eff, di);
		snprintf(t->chain.name[t->chain.n], PE_NAME_LEN, "%s", eff->devices[in].name);
		t->chain.device[t->chain.n++] = (uint32_t)in; /* config order == snapshot order */
	}
	free(eff);
	return 0;
}

/* Resolve the request into t (the client side, the chain, the SYN); NULL
 * or why not. */
static const char *prepare(struct pe_trials *t, const struct provchan_trial *req, char *why,
			   size_t whylen)
{
	const struct pe_defs *d = &t->cfg->defs;
	const struct pe_service_cfg *s = find_service(d, req->service);
	uint32_t rnd[2];

	if (!s) {
		snprintf(why, whylen, "no service named %s", req->service);
		return why;
	}
	t->info.port = req->port ? req->port : s->ports[0].port;
	memcpy(t->info.addr, s->address, 16);
	if (pe_proto_number(s->protocol + 1) != IPPROTO_TCP)
		return "trials are for TCP services only";
	if (!key_addr_is_v4(s->address))
		return "trials are for IPv4 services only";
	if (!has_port(s, t->info.port)) {
		snprintf(why, whylen, "service %s has no port %u", s->name, t->info.port);
		return why;
	}
	int ci = pe_defs_iface(d, s->interface);
	if (ci < 0 || !(t->info.client = pe_watch_ifaddr(t->watch, (unsigned)ci))) {
		snprintf(why, whylen, "the engine has no IPv4 address on %s", s->interface);
		return why;
	}
	if (chain_in_effect(t, s) < 0)
		return "out of memory";
	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd)) {
		rnd[0] = (uint32_t)pe_mono_ns();
		rnd[1] = (uint32_t)(pe_mono_ns() >> 13) * 2654435761u;
	}
	t->client_if = (unsigned)ci;
	t->info.client_port =
		(uint16_t)(PE_TRIAL_PORT_LO + rnd[0] % (PE_TRIAL_PORT_HI - PE_TRIAL_PORT_LO + 1));
	t->syn = (struct pe_trial_seg){ .saddr = t->info.client, .sport = t->info.client_port,
					.dport = t->info.port, .seq = rnd[1] };
	memcpy(&t->syn.daddr, s->address + 12, 4);
	/* as a router on the client side would deliver it */
	memcpy(t->syn.dst_mac, t->dp->port_mac[ci], 6);
	memcpy(t->syn.src_mac, d->interfaces[ci].gateway_mac, 6);
	return NULL;
}

/* Arm the slot for the trial's flow: written before active (release). */
static void arm(struct pe_trials *t)
{
	struct pe_trial_slot *s = &t->dp->trial;

	atomic_store_explicit(&s->n, 0, memory_order_relaxed);
	atomic_store_explicit(&s->done_ns, 0, memory_order_relaxed);
	atomic_store_explicit(&s->done_flags, 0, memory_order_relaxed);
	for (unsigned i = 0; i < PE_TRIAL_EVENTS; i++)
		atomic_store_explicit(&s->ev[i].ns, 0, memory_order_relaxed);
	atomic_store_explicit(&s->addr, t->info.client, memory_order_relaxed);
	atomic_store_explicit(&s->port, htons(t->info.client_port), memory_order_relaxed);
	atomic_store_explicit(&s->active, true, memory_order_release);
}

/* Why a trial cannot start now (NULL: it can). */
static const char *cannot_start(const struct pe_trials *t)
{
	if (t->running)
		return "busy";
	if (atomic_load_explicit(&t->dp->standby, memory_order_relaxed))
		return "standby";
	if (t->cfg->backend != PE_IO_AFPACKET)
		return "trials need the afpacket back end";
	return NULL;
}

void pe_trials_request(void *arg, const struct provchan_trial *req)
{
	struct pe_trials *t = arg;
	char why[160];
	const char *no = cannot_start(t);
	int r;

	if (no) {
		refuse(t, req, no);
		return;
	}
	t->req = *req;
	snprintf(t->service, sizeof(t->service), "%s", req->service);
	t->info = (struct pe_trial_info){ .service = t->service, .port = req->port,
					  .rtt_us = -1 };
	t->chain.n = 0;
	t->last_send_ns = t->prev_send_ns = 0;
	if (!(no = prepare(t, req, why, sizeof(why))) &&
	    (r = pe_worker_init_private(&t->w, t->dp)) < 0) {
		pe_worker_fini(&t->w);
		snprintf(why, sizeof(why), "no private worker: %s (reader-slots?)", strerror(-r));
		no = why;
	}
	if (no) {
		t->info.reason = no;
		answer(t, req, &t->info, &t->chain, NULL, 0);
		return;
	}
	t->w_ready = true;
	t->running = true;
	arm(t);
	t->info.start_ns = pe_mono_ns();
	if (!inject(t, &t->syn)) {
		snprintf(why, sizeof(why), "refused at the first step: %s", refused_by(t));
		end(t, false, why);
		return;
	}
	t->last_send_ns = t->info.start_ns;
	t->next_send_ns = t->info.start_ns + PE_TRIAL_RESEND_MS * NS_PER_MS;
	t->deadline_ns = t->info.start_ns + t->cfg->trial_timeout_ms * NS_PER_MS;
	if ((r = ev_timer_periodic_add(t->loop, PE_TRIAL_POLL_MS, on_poll, t, &t->timer)) < 0) {
		snprintf(why, sizeof(why), "no timer: %s", strerror(-r));
		end(t, false, why);
	}
}

int pe_trials_open(struct pe_trials **out, struct ev_loop *loop, const struct pe_config *cfg,
		   struct pe_dp *dp, struct pe_watch *watch, struct pe_prov *prov)
{
	struct pe_trials *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	*t = (struct pe_trials){ .loop = loop, .cfg = cfg, .dp = dp, .watch = watch,
				 .prov = prov };
	*out = t;
	return 0;
}

void pe_trials_close(struct pe_trials *t)
{
	if (!t)
		return;
	ev_cancel(&t->timer);
	if (t->running)
		atomic_store_explicit(&t->dp->trial.active, false, memory_order_release);
	if (t->w_ready)
		pe_worker_fini(&t->w);
	free(t);
}
