// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * loom-prov-trial: ask an engine for one trial over the provisioning
 * channel (common/provchan.h), as loom-provisioner does, and print the
 * report (JSON) on stdout. For the engine's namespace tests.
 *
 * Usage: loom-prov-trial [-p PORT] [-t TIMEOUT_MS] ENDPOINT SERVICE
 * (ipc:// endpoints only: no CurveZMQ keys). Exit status: 0 the trial
 * succeeded, 1 it failed (the report says why), 2 no answer in time.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "common/ev.h"
#include "common/provchan.h"

#define TRIAL_ID 1

struct run {
	struct provchan_client *c;
	unsigned idx;
	const char *service;
	uint16_t port;
	bool asked;
	int status;                 /* 2 until the answer */
};

static void on_result(void *arg, unsigned idx, uint64_t id, bool ok, const char *report,
		      size_t len)
{
	struct run *r = arg;

	(void)idx;
	if (id != TRIAL_ID)
		return;
	printf("%.*s\n", (int)len, report);
	r->status = ok ? 0 : 1;
}

static void on_ack(void *arg, unsigned idx, uint64_t version, bool ok, uint64_t applied,
		   const char *text)
{
	(void)arg;
	(void)idx;
	(void)version;
	(void)ok;
	(void)applied;
	(void)text;
}

static int no_render(void *arg, unsigned idx, uint64_t version, char **doc, size_t *len)
{
	(void)arg;
	(void)idx;
	(void)version;
	(void)doc;
	(void)len;
	return -ENOENT; /* this client pushes nothing */
}

/* Ask as soon as the channel is up (a DEALER refuses until it connects). */
static void on_tick(struct ev_loop *loop, void *arg, int what)
{
	struct run *r = arg;
	int rc;

	(void)what;
	if (r->status != 2) {
		ev_stop(loop);
		return;
	}
	if (r->asked)
		return;
	rc = provchan_client_trial(r->c, r->idx, TRIAL_ID, r->service, r->port);
	if (rc == 0)
		r->asked = true;
	else if (rc != -ENOTCONN) {
		fprintf(stderr, "loom-prov-trial: %s\n", strerror(-rc));
		r->status = 1;
	}
}

static void on_timeout(struct ev_loop *loop, void *arg, int what)
{
	(void)arg;
	(void)what;
	ev_stop(loop);
}

int main(int argc, char **argv)
{
	struct run r = { .status = 2 };
	unsigned long timeout_ms = 5000;
	struct provchan_target tg = { .name = "engine", .kind = MSG_PROV_TARGET_PKT_ENGINE };
	struct ev_handle *tick = NULL, *limit = NULL;
	int opt;

	while ((opt = getopt(argc, argv, "p:t:")) != -1) {
		if (opt == 'p')
			r.port = (uint16_t)strtoul(optarg, NULL, 10);
		else if (opt == 't')
			timeout_ms = strtoul(optarg, NULL, 10);
		else
			goto usage;
	}
	if (argc - optind != 2 || strlen(argv[optind]) >= sizeof(tg.endpoint))
		goto usage;
	snprintf(tg.endpoint, sizeof(tg.endpoint), "%s", argv[optind]);
	r.service = argv[optind + 1];

	struct ev_loop *loop = ev_loop_new();
	void *zctx = zmq_ctx_new();
	struct provchan_client_cfg cfg = { .zctx = zctx, .retry_ms = 1000, .render = no_render,
					   .ack = on_ack, .result = on_result, .arg = &r };
	int rc = -ENOMEM;

	if (!loop || !zctx || (rc = provchan_client_open(loop, &cfg, &r.c)) < 0 ||
	    (rc = provchan_client_add(r.c, &tg, 0, &r.idx)) < 0 ||
	    (rc = ev_timer_periodic_add(loop, 20, on_tick, &r, &tick)) < 0 ||
	    (rc = ev_timer_add(loop, timeout_ms, on_timeout, &r, &limit)) < 0) {
		fprintf(stderr, "loom-prov-trial: %s\n", strerror(-rc));
		r.status = 2;
	} else {
		ev_run(loop);
		if (r.status == 2)
			fprintf(stderr, "loom-prov-trial: no answer within %lu ms\n", timeout_ms);
	}
	ev_cancel(&tick);
	ev_cancel(&limit);
	provchan_client_close(r.c);
	if (zctx)
		zmq_ctx_term(zctx);
	if (loop)
		ev_loop_free(loop);
	return r.status;
usage:
	fprintf(stderr, "usage: loom-prov-trial [-p PORT] [-t TIMEOUT_MS] ENDPOINT SERVICE\n");
	return 2;
}
