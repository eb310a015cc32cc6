// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The provisioning channel: a daemon's server and the provisioner's client
 * on one loop. A document is applied and acknowledged; a refused one keeps
 * what runs, says why and is not pushed again; a daemon that restarts, or
 * comes up after the provisioner, gets the newest version again; a client
 * seeded with what its daemon acknowledged pushes only what is missing;
 * CurveZMQ admits only the provisioner's key.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "common/ev.h"
#include "common/provchan.h"
#include "common/zap.h"

static struct ev_loop *loop;
static void *zctx;
static struct zap *zap;
static char endpoint[128];

/* what the "daemon" runs */
static uint64_t applied_version;
static char applied_doc[256];
static unsigned applies;

/* what the "provisioner" heard */
static unsigned acks, renders;
static bool last_ok;
static uint64_t last_applied;
static char last_text[256];

static int apply(void *arg, uint64_t version, const char *doc, size_t len, char *why,
		 size_t whylen)
{
	(void)arg;
	if (memmem(doc, len, "bad", 3)) {
		snprintf(why, whylen, "services[0].port: ICMP has no ports");
		return -EINVAL;
	}
	applies++;
	applied_version = version;
	snprintf(applied_doc, sizeof(applied_doc), "%.*s", (int)len, doc);
	return 0;
}

/* version v's document: "doc v" (versions 13 and up are bad) */
static int render(void *arg, unsigned idx, uint64_t version, char **doc, size_t *len)
{
	(void)arg;
	(void)idx;
	renders++;
	*len = (size_t)asprintf(doc, "{\"doc\": %llu%s}", (unsigned long long)version,
				version >= 13 ? ", \"bad\": 1" : "");
	return 0;
}

static void on_ack(void *arg, unsigned idx, uint64_t version, bool ok, uint64_t applied,
		   const char *text)
{
	(void)arg;
	(void)idx;
	(void)version;
	acks++;
	last_ok = ok;
	last_applied = applied;
	snprintf(last_text, sizeof(last_text), "%s", text);
}

/* trials: what the "engine" was asked and the "provisioner" heard back */
static struct provchan_trial asked;
static unsigned trials_asked, results;
static uint64_t result_id;
static bool result_ok;
static char result_report[256];

static void on_trial(void *arg, const struct provchan_trial *t)
{
	(void)arg;
	asked = *t;
	trials_asked++;
}

static void on_result(void *arg, unsigned idx, uint64_t id, bool ok, const char *report,
		      size_t len)
{
	(void)arg;
	(void)idx;
	results++;
	result_id = id;
	result_ok = ok;
	snprintf(result_report, sizeof(result_report), "%.*s", (int)len, report);
}

static void setup(void)
{
	static unsigned n;

	loop = ev_loop_new();
	zctx = zmq_ctx_new();
	cr_assert(loop && zctx);
	cr_assert_eq(zap_open(loop, zctx, &zap), 0);
	snprintf(endpoint, sizeof(endpoint), "ipc:///tmp/prov2-provchan-%d-%u", getpid(), n++);
	applied_version = applies = acks = renders = trials_asked = results = 0;
	last_applied = 0;
}

static void teardown(void)
{
	zap_close(zap);
	zmq_ctx_term(zctx);
	ev_loop_free(loop);
	unlink(endpoint + 6);
}

TestSuite(provchan, .init = setup, .fini = teardown, .timeout = 30);

/* Run the loop until cond holds, at most ms. */
#define RUN_UNTIL(cond, ms)                                                   \
	do {                                                                  \
		uint64_t end_ = ev_now_ms() + (ms);                           \
		while (!(cond) && ev_now_ms() < end_)                         \
			ev_run_once(loop, 10);                                \
	} while (0)

static void run_for(uint64_t ms)
{
	uint64_t end = ev_now_ms() + ms;

	while (ev_now_ms() < end)
		ev_run_once(loop, 10);
}

static struct provchan_server *server(const struct provchan_cfg *cfg, unsigned kind)
{
	struct provchan_server *s;

	cr_assert_eq(provchan_server_open(loop, zctx, zap, cfg, kind, apply, NULL, &s), 0);
	return s;
}

static struct provchan_client *client(const struct provchan_target *t, uint64_t acked,
				      const char *pub, const char *sec)
{
	struct provchan_client_cfg cc = { .zctx = zctx, .retry_ms = 100, .render = render,
					  .ack = on_ack, .result = on_result };
	struct provchan_client *c;
	unsigned idx;

	if (pub) {
		memcpy(cc.public_key, pub, CFG_Z85_LEN);
		memcpy(cc.secret_key, sec, CFG_Z85_LEN);
	}
	cr_assert_eq(provchan_client_open(loop, &cc, &c), 0);
	cr_assert_eq(provchan_client_add(c, t, acked, &idx), 0);
	cr_assert_eq(idx, 0);
	return c;
}

/* A daemon of this kind on the test's ipc endpoint, and a provisioner
 * pushing documents of kind to it, seeded with acked. */
static struct provchan_server *ipc_server(unsigned kind)
{
	struct provchan_cfg cfg = { 0 };

	snprintf(cfg.listen, sizeof(cfg.listen), "%s", endpoint);
	return server(&cfg, kind);
}

static struct provchan_client *ipc_client(unsigned kind, uint64_t acked)
{
	struct provchan_target t = { .name = "mgr1", .kind = kind };

	snprintf(t.endpoint, sizeof(t.endpoint), "%s", endpoint);
	return client(&t, acked, NULL, NULL);
}

Test(provchan, a_pushed_version_is_applied_and_acknowledged)
{
	struct provchan_status st;
	struct provchan_server *s = ipc_server(MSG_PROV_TARGET_SVC_MGR);
	struct provchan_client *c = ipc_client(MSG_PROV_TARGET_SVC_MGR, 0);

	provchan_client_latest(c, 7);
	RUN_UNTIL(last_applied == 7, 3000);
	cr_assert_eq(applied_version, 7);
	cr_assert_str_eq(applied_doc, "{\"doc\": 7}");
	cr_assert(last_ok);
	cr_assert_eq(provchan_server_applied(s), 7);
	provchan_client_status(c, 0, &st);
	cr_assert_eq(st.applied, 7);
	/* in step: ticks only ask, nothing is applied again */
	run_for(400);
	cr_assert_eq(applies, 1);
	cr_assert_gt(acks, 2, "queries are answered");
	/* the next version follows */
	provchan_client_latest(c, 8);
	RUN_UNTIL(last_applied == 8, 3000);
	cr_assert_str_eq(applied_doc, "{\"doc\": 8}");
	provchan_client_close(c);
	provchan_server_close(s);
}

Test(provchan, a_refused_version_keeps_what_runs_and_says_why)
{
	struct provchan_status st;
	struct provchan_server *s = ipc_server(MSG_PROV_TARGET_SVC_MGR);
	struct provchan_client *c = ipc_client(MSG_PROV_TARGET_SVC_MGR, 0);

	provchan_client_latest(c, 12);
	RUN_UNTIL(last_applied == 12, 3000);
	provchan_client_latest(c, 13);
	RUN_UNTIL(!last_ok, 3000);
	cr_assert_str_eq(last_text, "services[0].port: ICMP has no ports");
	cr_assert_eq(last_applied, 12, "the running version stays");
	cr_assert_eq(provchan_server_applied(s), 12);
	provchan_client_status(c, 0, &st);
	cr_assert_eq(st.refused, 13);
	cr_assert_str_eq(st.why, "services[0].port: ICMP has no ports");
	unsigned pushes = (unsigned)st.pushes;
	run_for(400);
	provchan_client_status(c, 0, &st);
	cr_assert_eq(st.pushes, pushes, "a refused version is not pushed again");
	provchan_client_close(c);
	provchan_server_close(s);
}

Test(provchan, a_restarted_daemon_gets_the_newest_version_again)
{
	/* the provisioner starts first: nobody listens yet */
	struct provchan_client *c = ipc_client(MSG_PROV_TARGET_SVC_MGR, 0);
	provchan_client_latest(c, 3);
	run_for(250);
	struct provchan_server *s = ipc_server(MSG_PROV_TARGET_SVC_MGR);
	RUN_UNTIL(applied_version == 3, 3000);
	cr_assert_eq(applied_version, 3, "pushed once the daemon is there");
	/* the daemon restarts and runs nothing */
	provchan_server_close(s);
	applied_version = 0;
	s = ipc_server(MSG_PROV_TARGET_SVC_MGR);
	RUN_UNTIL(applied_version == 3, 3000);
	cr_assert_eq(applied_version, 3, "pushed again after the restart");
	provchan_client_close(c);
	provchan_server_close(s);
}

Test(provchan, a_client_seeded_with_the_acknowledged_version_pushes_only_what_is_missing)
{
	struct provchan_server *s = ipc_server(MSG_PROV_TARGET_SVC_MGR);
	/* the first provisioner pushed 5 and died before 6 was acknowledged */
	struct provchan_client *c = ipc_client(MSG_PROV_TARGET_SVC_MGR, 0);
	provchan_client_latest(c, 5);
	RUN_UNTIL(applied_version == 5, 3000);
	provchan_client_close(c);
	/* restarted, it knows 5 was acknowledged and 6 is the newest */
	renders = 0;
	c = ipc_client(MSG_PROV_TARGET_SVC_MGR, 5);
	provchan_client_latest(c, 6);
	RUN_UNTIL(applied_version == 6, 3000);
	cr_assert_eq(applied_version, 6);
	provchan_client_close(c);
	/* and one that finds everything acknowledged renders nothing */
	renders = 0;
	c = ipc_client(MSG_PROV_TARGET_SVC_MGR, 6);
	provchan_client_latest(c, 6);
	run_for(300);
	cr_assert_eq(renders, 0);
	cr_assert_eq(applies, 2);
	provchan_client_close(c);
	provchan_server_close(s);
}

Test(provchan, a_document_for_another_kind_of_daemon_is_refused)
{
	struct provchan_server *s = ipc_server(MSG_PROV_TARGET_PKT_ENGINE);
	struct provchan_client *c = ipc_client(MSG_PROV_TARGET_SVC_MGR, 0);

	provchan_client_latest(c, 2);
	RUN_UNTIL(acks > 0 && !last_ok, 3000);
	cr_assert(!last_ok);
	cr_assert_str_eq(last_text, "a document for another kind of daemon");
	cr_assert_eq(applies, 0);
	provchan_client_close(c);
	provchan_server_close(s);
}

Test(provchan, curve_admits_only_the_provisioners_key)
{
	char spub[41], ssec[41], ppub[41], psec[41], opub[41], osec[41];
	char keyfile[] = "/tmp/prov2-provchan-key-XXXXXX";
	struct provchan_cfg cfg = { 0 };
	int fd;

	cr_assert_eq(zmq_curve_keypair(spub, ssec), 0);
	cr_assert_eq(zmq_curve_keypair(ppub, psec), 0);
	cr_assert_eq(zmq_curve_keypair(opub, osec), 0);
	cr_assert_geq(fd = mkstemp(keyfile), 0);
	cr_assert_eq(write(fd, ssec, 40), 40);
	close(fd);
	snprintf(cfg.listen, sizeof(cfg.listen), "tcp://127.0.0.1:%d", 20000 + getpid() % 20000);
	snprintf(cfg.secret_key_file, sizeof(cfg.secret_key_file), "%s", keyfile);
	memcpy(cfg.provisioner_key, ppub, 41);
	struct provchan_server *s = server(&cfg, MSG_PROV_TARGET_SVC_MGR);
	struct provchan_target t = { .name = "mgr1", .kind = MSG_PROV_TARGET_SVC_MGR };
	snprintf(t.endpoint, sizeof(t.endpoint), "%s", cfg.listen);
	memcpy(t.server_key, spub, 41);

	/* another key pair: the handshake fails, nothing arrives */
	struct provchan_client *c = client(&t, 0, opub, osec);
	provchan_client_latest(c, 4);
	run_for(500);
	cr_assert_eq(acks, 0);
	cr_assert_eq(applies, 0);
	provchan_client_close(c);
	/* the provisioner's key */
	c = client(&t, 0, ppub, psec);
	provchan_client_latest(c, 4);
	RUN_UNTIL(applied_version == 4, 3000);
	cr_assert_eq(applied_version, 4);
	provchan_client_close(c);
	provchan_server_close(s);
	unlink(keyfile);
}

Test(provchan, configuration_block)
{
	struct provchan_cfg cfg;
	struct cfg_diag diag;
	static const char bad[] = "listen: tcp://127.0.0.1:7000\n";
	static const char ipc[] = "listen: ipc:///run/loom/prov.sock\n";

	cr_assert_eq(cfg_schema_check(&provchan_cfg_schema, NULL, 0), 0);
	cr_assert_eq(cfg_load_buffer("t", ipc, strlen(ipc), &provchan_cfg_schema, &cfg, &diag), 0);
	cr_assert_str_eq(cfg.listen, "ipc:///run/loom/prov.sock");
	cr_assert_eq(cfg_load_buffer("t", bad, strlen(bad), &provchan_cfg_schema, &cfg, &diag),
		     -EINVAL);
	cr_assert_eq(diag.n, 2, "tcp needs the secret key and the provisioner's key");
}

Test(provchan, a_trial_is_asked_for_and_answered_with_its_report)
{
	struct provchan_server *s = ipc_server(MSG_PROV_TARGET_PKT_ENGINE);
	struct provchan_client *c = ipc_client(MSG_PROV_TARGET_PKT_ENGINE, 0);
	char big[MSG_MAX_NAME + 2]; /* one byte too many */

	/* a daemon that runs no trials says so at once */
	provchan_client_latest(c, 1);
	RUN_UNTIL(last_applied == 1, 3000);
	cr_assert_eq(provchan_client_trial(c, 0, 5, "shop", 80), 0);
	RUN_UNTIL(results == 1, 3000);
	cr_assert_eq(result_id, 5);
	cr_assert_not(result_ok);
	cr_assert(strstr(result_report, "runs no trials"), "%s", result_report);
	/* one that does gets the request whole, and answers when it likes */
	provchan_server_on_trial(s, on_trial, NULL);
	cr_assert_eq(provchan_client_trial(c, 0, 6, "shop-v2", 8080), 0);
	RUN_UNTIL(trials_asked == 1, 3000);
	cr_assert_eq(asked.id, 6);
	cr_assert_str_eq(asked.service, "shop-v2");
	cr_assert_eq(asked.port, 8080);
	run_for(100);
	cr_assert_eq(results, 1, "no answer before the daemon gives one");
	cr_assert_eq(provchan_server_trial_done(s, &asked, true, "{\"ok\": true}"), 0);
	RUN_UNTIL(results == 2, 3000);
	cr_assert_eq(result_id, 6);
	cr_assert(result_ok);
	cr_assert_str_eq(result_report, "{\"ok\": true}");
	/* what the codec cannot carry is refused before it is sent */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	cr_assert_eq(provchan_client_trial(c, 0, 7, big, 80), -EINVAL);
	cr_assert_eq(provchan_client_trial(c, 0, 0, "shop", 80), -EINVAL);
	cr_assert_eq(provchan_client_trial(c, 0, 7, "", 80), -EINVAL);
	cr_assert_eq(provchan_client_trial(c, 1, 7, "shop", 80), -EINVAL);
	provchan_client_close(c);
	/* the asker is gone: the answer goes nowhere, and nothing breaks */
	provchan_server_trial_done(s, &asked, false, "{}");
	provchan_server_close(s);
}
