// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Replication figures, active -> standby over tcp:// on loopback with
 * CurveZMQ, each member its own process (the standby is forked):
 *
 *  1. dump: the active holds N entries (default 1M: 16-byte keys, 32-byte
 *     values); the standby starts and joins; time from its start to ready.
 *  2. stream: the active updates M entries (default N/2) as fast as it can
 *     submit them; time until the standby has applied the last one; entries
 *     per second.
 *
 * The peer a user would compare with is conntrackd's FTFW sync:
 * tests/bench/lab/bench_repl_conntrackd.py runs this program and conntrackd
 * in the same run and prints both. Usage: bench_repl [entries] [updates]
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "common/ev.h"
#include "common/repl.h"
#include "repl_table.h"

static char pub[2][41], sec[2][41];
static int port;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void config(struct repl_config *c, int me, void *zctx, struct rtable *t)
{
	memset(c, 0, sizeof(*c));
	c->zctx = zctx;
	c->group = 1;
	c->mode = REPL_MODE_ACTIVE_STANDBY;
	c->role = me ? REPL_ROLE_STANDBY : REPL_ROLE_ACTIVE;
	c->instance = (uint64_t)me + 1;
	c->generation = (uint64_t)time(NULL) * 2 + (uint64_t)me;
	c->heartbeat_ms = 200;
	c->dead_ms = 2000;
	c->window = 256;
	c->max_queue = 1u << 20;
	snprintf(c->endpoint, sizeof(c->endpoint), "tcp://127.0.0.1:%d", port + me);
	strcpy(c->public_key, pub[me]);
	strcpy(c->secret_key, sec[me]);
	c->n_members = 1;
	c->members[0].instance = (uint64_t)!me + 1;
	snprintf(c->members[0].endpoint, sizeof(c->members[0].endpoint), "tcp://127.0.0.1:%d",
		 port + !me);
	strcpy(c->members[0].public_key, pub[!me]);
	c->ops = (struct repl_ops){ .apply = rt_apply, .dump = rt_dump };
	c->arg = t;
}

static void shut(struct repl *r, struct ev_loop *loop, void *zctx, struct rtable *t)
{
	repl_free(r);
	ev_loop_free(loop);
	zmq_ctx_destroy(zctx);
	rt_free(t);
}

static void make_kv(unsigned i, unsigned v, char key[17], char val[33])
{
	snprintf(key, 17, "k%015u", i);
	snprintf(val, 33, "v%015u.%015u", i, v);
}

/* The standby: tell the parent when it is ready, then when it applied
 * `updates` more transactions. */
static int standby(int fd, size_t entries, size_t updates)
{
	struct ev_loop *loop = ev_loop_new();
	void *zctx = zmq_ctx_new();
	struct repl_config c;
	struct repl_counters k;
	struct rtable t;
	struct repl *r;
	uint64_t base = 0;
	bool ready = false;

	rt_init(&t, entries * 2 + 16, 2);
	config(&c, 1, zctx, &t);
	if (repl_new(loop, &c, &r) < 0)
		return 1;
	for (;;) {
		ev_run_once(loop, 5);
		repl_counters(r, &k);
		if (!ready && repl_ready(r)) {
			ready = true;
			base = k.c[REPL_C_APPLIED];
			if (write(fd, "R", 1) != 1 || t.n != entries)
				return 2;
		}
		if (ready && k.c[REPL_C_APPLIED] >= base + updates) {
			if (write(fd, "U", 1) != 1)
				return 3;
			break;
		}
	}
	for (int i = 0; i < 50; i++) /* let the last acks out */
		ev_run_once(loop, 2);
	shut(r, loop, zctx, &t);
	return 0;
}

/* Turn the loop until the child wrote `what`. */
static void wait_for(struct ev_loop *loop, int fd, char what)
{
	char c = 0;

	while (c != what) {
		ev_run_once(loop, 1);
		if (read(fd, &c, 1) < 0 && errno != EAGAIN)
			exit(1);
	}
}

int main(int argc, char **argv)
{
	size_t entries = argc > 1 ? strtoul(argv[1], NULL, 0) : 1000000;
	size_t updates = argc > 2 ? strtoul(argv[2], NULL, 0) : entries / 2;
	struct ev_loop *loop = ev_loop_new();
	void *zctx = zmq_ctx_new();
	struct repl_config c;
	struct repl_counters k;
	struct rtable t;
	struct repl *r;
	char key[17], val[33];
	int fds[2], status;
	double t0, t_dump, t_stream;
	pid_t pid;

	if (!entries || updates > entries)
		return 2;
	port = 30000 + getpid() % 20000;
	for (int i = 0; i < 2; i++)
		zmq_curve_keypair(pub[i], sec[i]);
	rt_init(&t, entries * 2 + 16, 1);
	for (unsigned i = 0; i < entries; i++) {
		make_kv(i, 0, key, val);
		rt_put(&t, 1, key, 16, val, 32);
	}
	config(&c, 0, zctx, &t);
	if (repl_new(loop, &c, &r) < 0 || pipe(fds) < 0)
		return 1;
	t.r = r;
	t0 = now_s();
	if ((pid = fork()) == 0) {
		close(fds[0]);
		_exit(standby(fds[1], entries, updates));
	}
	close(fds[1]);
	fcntl(fds[0], F_SETFL, O_NONBLOCK);
	wait_for(loop, fds[0], 'R');
	t_dump = now_s() - t0;

	t0 = now_s();
	for (unsigned i = 0; i < updates; i++) {
		make_kv(i, 1, key, val);
		rt_put(&t, 1, key, 16, val, 32);
		if (i % 512 == 511)
			ev_run_once(loop, 0);
	}
	repl_flush(r);
	wait_for(loop, fds[0], 'U');
	t_stream = now_s() - t0;
	repl_counters(r, &k);
	waitpid(pid, &status, 0);

	printf("bench_repl: active -> standby, tcp:// loopback, CurveZMQ, 16 B keys, 32 B values\n");
	printf("  dump of %zu entries until the standby is ready: %.2f s (%.0f entries/s)\n",
	       entries, t_dump, entries / t_dump);
	printf("  stream of %zu updates until applied: %.2f s (%.0f entries/s), %llu batches, "
	       "%llu resent, max lag %llu batches\n",
	       updates, t_stream, updates / t_stream, (unsigned long long)k.c[REPL_C_SENT],
	       (unsigned long long)k.c[REPL_C_RESENT], (unsigned long long)k.lag_max);
	shut(r, loop, zctx, &t);
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
