// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "common/log.h"
#include "common/provchan.h"
#include "prov_chan.h"
#include "prov_push.h"
#include "prov_version.h"

struct prov_chan {
	struct prov_model *m;
	const struct prov_config *cfg;
	void *zctx;
	struct provchan_client *client;
	int64_t applied[PROV_MAX_TARGETS]; /* each target's, as last recorded */
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
					  .ack = on_ack };
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
	provchan_client_close(c->client);
	zmq_ctx_term(c->zctx);
	free(c);
}
