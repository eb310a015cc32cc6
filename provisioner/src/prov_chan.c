// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "common/ev.h"
#include "common/log.h"
#include "common/provchan.h"
#include "prov_chan.h"
#include "prov_push.h"
#include "prov_trial.h"
#include "prov_version.h"

enum trial_step {
	TS_NONE,    /* not an engine, or answered */
	TS_WAIT,    /* behind the trial's version, or not connected */
	TS_SENT,    /* asked */
};

struct trial_run {
	int64_t id;                        /* 0: a free slot */
	int64_t version;
	char name[MSG_MAX_NAME + 1];
	uint16_t port;
	uint64_t deadline;                 /* ev_now_ms() */
	uint8_t step[PROV_MAX_TARGETS];    /* enum trial_step */
	json_t *reports;                   /* {target name: the engine's report} */
};

struct prov_chan {
	struct prov_model *m;
	const struct prov_config *cfg;
	void *zctx;
	struct provchan_client *client;
	int64_t applied[PROV_MAX_TARGETS]; /* each target's, as last recorded */
	struct ev_handle *trial_tick;
	struct trial_run runs[PROV_TRIALS_AT_ONCE];
};

static unsigned wire_kind(unsigned kind)
{
	return kind == PROV_TARGET_SVC_MGR ? MSG_PROV_TARGET_SVC_MGR : MSG_PROV_TARGET_PKT_ENGINE;
}

static int render(void *arg, unsigned idx, uint64_t version, char **doc, size_t *len)
{
	struct prov_chan *c = arg;
	struct prov_error e;

	if (prov_render_document(c->m, (int64_t)version, c->cfg->targets[idx].kind, doc, len,
				 &e) < 0)
		return log_errno(-EIO, "rendering version %" PRIu64 " for %s: %s", version,
				 c->cfg->targets[idx].name, e.message);
	return 0;
}

static void on_ack(void *arg, unsigned idx, uint64_t version, bool ok, uint64_t applied,
		   const char *text)
{
	struct prov_chan *c = arg;
	const struct prov_target_cfg *t = &c->cfg->targets[idx];
	int64_t refused = version && !ok ? (int64_t)version : 0;
	struct prov_error e;

	if (refused)
		log_warn("%s %s refused version %" PRIu64 " (it runs %" PRIu64 "): %s",
			 prov_target_name(t->kind), t->name, version, applied, text);
	else if (version)
		log_info("%s %s runs version %" PRIu64, prov_target_name(t->kind), t->name, applied);
	/* queries answer every tick: write only what changed */
	if (c->applied[idx] == (int64_t)applied && !refused)
		return;
	if (prov_push_record(c->m, t->name, prov_target_name(t->kind), t->endpoint,
			     (int64_t)applied, refused, text, &e) < 0)
		log_err("recording what %s acknowledged: %s", t->name, e.message);
	c->applied[idx] = (int64_t)applied;
}

/* ---- trials ------------------------------------------------------------------ */

static void trial_end(struct prov_chan *c, struct trial_run *t)
{
	bool any = false, all = true;
	const char *name;
	json_t *rep, *doc;
	struct prov_error e;

	json_object_foreach(t->reports, name, rep) {
		bool ok = json_is_true(json_object_get(rep, "ok"));
		const char *why = json_string_value(json_object_get(rep, "reason"));
		any |= ok;
		all &= ok || (why && !strcmp(why, "standby"));
	}
	doc = json_pack("{s:O}", "engines", t->reports);
	log_notice("trial %" PRId64 " of %s port %u: %s", t->id, t->name, t->port,
		   any && all ? "passed" : "failed");
	if (!doc || prov_trial_finish(c->m, t->id, any && all, doc, &e) < 0)
		log_err("recording trial %" PRId64 ": %s", t->id, doc ? e.message : "no memory");
	json_decref(doc);
	json_decref(t->reports);
	*t = (struct trial_run){ .id = 0 };
}

/* An engine runs one trial at a time (a second is answered "busy"). */
static bool engine_busy(const struct prov_chan *c, unsigned i)
{
	for (unsigned k = 0; k < PROV_TRIALS_AT_ONCE; k++)
		if (c->runs[k].id && c->runs[k].step[i] == TS_SENT)
			return true;
	return false;
}

/* Ask each engine that runs the trial's version, is free and was not asked yet. */
static void trial_pump(struct prov_chan *c, struct trial_run *t)
{
	bool open = false;

	for (unsigned i = 0; i < c->cfg->n_targets; i++) {
		if (t->step[i] == TS_WAIT && c->applied[i] >= t->version && !engine_busy(c, i) &&
		    provchan_client_trial(c->client, i, (uint64_t)t->id, t->name, t->port) == 0)
			t->step[i] = TS_SENT;
		open |= t->step[i] != TS_NONE;
	}
	if (!open)
		trial_end(c, t);
}

static void on_trial_tick(struct ev_loop *loop, void *arg, int what)
{
	struct prov_chan *c = arg;
	uint64_t now = ev_now_ms();
	(void)loop;
	(void)what;

	for (unsigned k = 0; k < PROV_TRIALS_AT_ONCE; k++) {
		struct trial_run *t = &c->runs[k];
		if (!t->id)
			continue;
		if (now < t->deadline) {
			trial_pump(c, t);
			continue;
		}
		for (unsigned i = 0; i < c->cfg->n_targets; i++)
			if (t->step[i] != TS_NONE)
				json_object_set_new(t->reports, c->cfg->targets[i].name, json_pack(
					"{s:b, s:s}", "ok", 0, "reason", t->step[i] == TS_SENT ?
					"no answer from the engine in time" : "the engine did not "
					"run the trial's definitions (or was not connected) in time"));
		trial_end(c, t);
	}
}

static void on_result(void *arg, unsigned idx, uint64_t id, bool ok, const char *report,
		      size_t len)
{
	struct prov_chan *c = arg;
	json_t *doc = json_loadb(report, len, 0, NULL);

	for (unsigned k = 0; k < PROV_TRIALS_AT_ONCE; k++) {
		struct trial_run *t = &c->runs[k];
		if (!t->id || (uint64_t)t->id != id || idx >= c->cfg->n_targets ||
		    t->step[idx] != TS_SENT)
			continue;
		if (!json_is_object(doc)) {
			json_decref(doc);
			doc = json_pack("{s:b, s:s}", "ok", 0, "reason", "an unreadable report");
		}
		/* the result's flag is the engine's word, whatever the text says */
		json_object_set_new(doc, "ok", json_boolean(ok));
		json_object_set_new(t->reports, c->cfg->targets[idx].name, doc);
		doc = NULL;
		t->step[idx] = TS_NONE;
		trial_pump(c, t);
		break;
	}
	json_decref(doc);
}

int prov_chan_trial(void *chan, int64_t id, const char *name, uint16_t port, int64_t version,
		    char *why, size_t whylen)
{
	struct prov_chan *c = chan;
	struct trial_run *t = NULL;
	bool engines = false;

	for (unsigned k = 0; k < PROV_TRIALS_AT_ONCE && !t; k++)
		if (!c->runs[k].id)
			t = &c->runs[k];
	if (!t) {
		snprintf(why, whylen, "%u trials are running already", PROV_TRIALS_AT_ONCE);
		return -EBUSY;
	}
	*t = (struct trial_run){ .id = id, .version = version, .port = port,
				 .deadline = ev_now_ms() + PROV_TRIAL_WAIT_MS,
				 .reports = json_object() };
	snprintf(t->name, sizeof(t->name), "%s", name);
	for (unsigned i = 0; i < c->cfg->n_targets; i++)
		if (c->cfg->targets[i].kind == PROV_TARGET_PKT_ENGINE) {
			t->step[i] = TS_WAIT;
			engines = true;
		}
	if (!engines || !t->reports) {
		json_decref(t->reports);
		*t = (struct trial_run){ .id = 0 };
		snprintf(why, whylen, "no engine is provisioned to run trials");
		return -ENODEV;
	}
	trial_pump(c, t);
	return 0;
}

void prov_chan_changed(struct prov_chan *c)
{
	struct prov_error e;
	int64_t v;

	if (c && prov_version_current(c->m, &v, &e) == 0)
		provchan_client_latest(c->client, (uint64_t)v);
}

int prov_chan_open(struct ev_loop *loop, const struct prov_config *cfg, struct prov_model *m,
		   struct prov_chan **out)
{
	struct provchan_client_cfg cc = { .retry_ms = cfg->push_retry_ms, .render = render,
					  .ack = on_ack, .result = on_result };
	struct prov_chan *c;
	struct prov_error e;
	int r;

	*out = NULL;
	if (!cfg->n_targets)
		return 0;
	if (!(c = calloc(1, sizeof(*c))) || !(c->zctx = zmq_ctx_new())) {
		free(c);
		return log_errno(-ENOMEM, "starting the push");
	}
	c->m = m;
	c->cfg = cfg;
	cc.zctx = c->zctx;
	cc.arg = c;
	memcpy(cc.public_key, cfg->public_key, sizeof(cc.public_key));
	if (cfg->secret_key_file[0] && (r = cfg_read_z85_file(cfg->secret_key_file,
							      cc.secret_key)) < 0) {
		log_errno(r, "reading the secret key from %s", cfg->secret_key_file);
		goto fail;
	}
	r = provchan_client_open(loop, &cc, &c->client);
	memset(cc.secret_key, 0, sizeof(cc.secret_key));
	if (r < 0) {
		log_errno(r, "starting the push");
		goto fail;
	}
	for (unsigned i = 0; i < cfg->n_targets; i++) {
		const struct prov_target_cfg *t = &cfg->targets[i];
		struct provchan_target pt = { .kind = wire_kind(t->kind) };
		int64_t acked = 0;
		unsigned idx;

		memcpy(pt.name, t->name, sizeof(pt.name));
		memcpy(pt.endpoint, t->endpoint, sizeof(pt.endpoint));
		memcpy(pt.server_key, t->public_key, sizeof(pt.server_key));
		if (prov_push_acked(m, t->name, &acked, &e) < 0) {
			r = log_errno(-EIO, "reading what %s acknowledged: %s", t->name, e.message);
			goto fail;
		}
		if ((r = provchan_client_add(c->client, &pt, (uint64_t)acked, &idx)) < 0) {
			log_errno(r, "connecting to %s at %s", t->name, t->endpoint);
			goto fail;
		}
		c->applied[idx] = acked;
		log_info("pushing to %s %s at %s (acknowledged version %" PRId64 ")",
			 prov_target_name(t->kind), t->name, t->endpoint, acked);
	}
	if ((r = ev_timer_periodic_add(loop, 100, on_trial_tick, c, &c->trial_tick)) < 0)
		goto fail;
	prov_chan_changed(c);
	*out = c;
	return 0;
fail:
	prov_chan_close(c);
	return r;
}

void prov_chan_close(struct prov_chan *c)
{
	if (!c)
		return;
	ev_cancel(&c->trial_tick);
	for (unsigned k = 0; k < PROV_TRIALS_AT_ONCE; k++)
		json_decref(c->runs[k].reports);
	provchan_client_close(c->client);
	zmq_ctx_term(c->zctx);
	free(c);
}
