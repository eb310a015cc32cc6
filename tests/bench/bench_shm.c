// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Benchmarks of shm/ against what a user would otherwise pick, in one run:
 *
 *  1. lookups per second on one core, 1M entries, random keys, all hits:
 *     our table (one at a time and batched) against liburcu's lock-free hash
 *     table (cds_lfht, urcu-qsbr flavour) holding the same keys with the same
 *     hash function. Each lookup finds the record and reads one word of it.
 *  2. read-side lock+unlock: ours against urcu-qsbr's (inlined, _LGPL_SOURCE),
 *     and urcu-qsbr's quiescent-state announcement, which is where QSBR pays.
 *  3. grace-period latency with 1, 2 and 8 reader processes spinning in short
 *     read-side sections, against synchronize_rcu() of urcu-qsbr with as many
 *     reader threads announcing quiescent states in the same loop.
 *
 * Usage: bench_shm [entries (default 1000000)] [seconds per figure (default 2)]
 * Figures vary from run to run (the machine has two cores shared by
 * everything): compare only figures printed by the same run.
 */
#define _LGPL_SOURCE
#include <urcu-qsbr.h>
#include <urcu/rculfhash.h>

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shm/table.h"

#define VSIZE 64
#define VKIND 0xbe4c

static double seconds = 2.0;
static char inst[32];

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t rnd(uint64_t *s)
{
	uint64_t x = *s += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (cpu < 0 || c == cpu)
			CPU_SET(c, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

static void random_key(struct flow_key *k, uint64_t *s)
{
	uint64_t a = rnd(s), b = rnd(s);

	key_init(k);
	key_addr_from_v4(k->saddr, (uint32_t)a);
	key_addr_from_v4(k->daddr, (uint32_t)(a >> 32));
	k->sport = (uint16_t)b;
	k->dport = (uint16_t)(b >> 16);
	k->proto = (b >> 32) & 1 ? 6 : 17;
}

/* ---- 1. lookups ---------------------------------------------------------- */

struct lfht_node {
	struct cds_lfht_node node;
	struct flow_key key;
	uint64_t value[VSIZE / 8];
};

static int lfht_match(struct cds_lfht_node *node, const void *key)
{
	const struct lfht_node *n = caa_container_of(node, struct lfht_node, node);
	return key_equal(&n->key, key);
}

static void bench_lookups(uint32_t n)
{
	struct shm_table_geom g = { .capacity = n, .value_size = VSIZE, .value_kind = VKIND,
				    .value_version = 1, .lanes = 1, .rcu_slots = 16 };
	struct shm_table *t = NULL;
	uint64_t seed = 42, sink = 0;
	int r;

	shm_seg_unlink(inst, "bench");
	r = shm_table_open_writer(inst, "bench", &g, NULL, &t, NULL);
	if (r < 0) {
		fprintf(stderr, "open: %s\n", strerror(-r));
		exit(1);
	}
	struct flow_key *keys = malloc(sizeof(*keys) * n);
	for (uint32_t i = 0; i < n; i++) {
		uint64_t v[VSIZE / 8] = { i };
		random_key(&keys[i], &seed);
		if (shm_table_upsert(t, &keys[i], v) < 0) {
			fprintf(stderr, "insert %u failed\n", i);
			exit(1);
		}
	}

	/* the lookup stream: the same keys in random order, laid out
	 * sequentially so fetching the key is not part of what we measure */
	const uint32_t stream = 1u << 20;
	struct flow_key *q = malloc(sizeof(*q) * stream);
	const struct flow_key **qp = malloc(sizeof(*qp) * stream);
	for (uint32_t i = 0; i < stream; i++) {
		q[i] = keys[rnd(&seed) % n];
		qp[i] = &q[i];
	}

	/*
	 * One table at a time in memory: this VM's memory slows down as the
	 * process grows (DAMON pages out cold regions), which would penalise
	 * whichever structure is measured alongside the other.
	 */
	struct shm_rcu_reader rd;
	shm_table_reader_register(t, &rd);
	double ours1 = 0, oursb = 0, theirs = 0;
	for (int pass = 0; pass < 2; pass++) {
		uint64_t done = 0, start = now_ns(), end = start + (uint64_t)(seconds * 1e9);
		uint64_t now = start;
		while (now < end) {
			for (uint32_t i = 0; i < stream; i += 64) {
				const struct shm_entry *out[64];
				shm_rcu_read_lock(&rd);
				if (pass == 0)
					for (uint32_t j = 0; j < 64; j++)
						out[j] = shm_table_lookup(t, qp[i + j]);
				else
					shm_table_lookup_batch(t, qp + i, 64, out);
				for (uint32_t j = 0; j < 64; j++)
					sink += *(const uint64_t *)shm_entry_value(out[j]);
				shm_rcu_read_unlock(&rd);
				done += 64;
			}
			now = now_ns();
		}
		*(pass == 0 ? &ours1 : &oursb) = (double)done / ((double)(now - start) / 1e9);
	}
	shm_table_reader_unregister(&rd);

	/* the same keys in cds_lfht, hashed by the same function */
	uint64_t *hashes = malloc(sizeof(*hashes) * n);
	for (uint32_t i = 0; i < n; i++)
		hashes[i] = shm_table_key_hash(t, &keys[i]);
	uint64_t *qh = malloc(sizeof(*qh) * stream);
	for (uint32_t i = 0; i < stream; i++)
		qh[i] = shm_table_key_hash(t, qp[i]);
	shm_table_close(t);
	shm_seg_unlink(inst, "bench");

	struct cds_lfht *ht = cds_lfht_new(1u << 20, 1u << 20, 0, CDS_LFHT_AUTO_RESIZE, NULL);
	struct lfht_node *nodes = calloc(n, sizeof(*nodes));
	rcu_register_thread();
	for (uint32_t i = 0; i < n; i++) {
		nodes[i].key = keys[i];
		nodes[i].value[0] = i;
		cds_lfht_node_init(&nodes[i].node);
		rcu_read_lock();
		cds_lfht_add(ht, hashes[i], &nodes[i].node);
		rcu_read_unlock();
	}
	rcu_quiescent_state();
	rcu_barrier();
	{
		uint64_t done = 0, start = now_ns(), end = start + (uint64_t)(seconds * 1e9);
		uint64_t now = start;
		while (now < end) {
			for (uint32_t i = 0; i < stream; i += 64) {
				rcu_read_lock();
				for (uint32_t j = i; j < i + 64; j++) {
					struct cds_lfht_iter it;
					/* same hash function, but precomputed: an
					 * advantage given to the peer */
					cds_lfht_lookup(ht, qh[j], lfht_match, qp[j], &it);
					struct cds_lfht_node *nd = cds_lfht_iter_get_node(&it);
					sink += caa_container_of(nd, struct lfht_node, node)->value[0];
				}
				rcu_read_unlock();
				rcu_quiescent_state();
				done += 64;
			}
			now = now_ns();
		}
		theirs = (double)done / ((double)(now - start) / 1e9);
	}
	printf("lookups, %u entries, random keys, one core:\n", n);
	printf("  loom shm table, one at a time : %7.2f M/s (%.1f ns)\n", ours1 / 1e6, 1e9 / ours1);
	printf("  loom shm table, batched       : %7.2f M/s (%.1f ns)\n", oursb / 1e6, 1e9 / oursb);
	printf("  liburcu cds_lfht              : %7.2f M/s (%.1f ns)\n", theirs / 1e6, 1e9 / theirs);
	printf("  ratio batched / cds_lfht      : %7.2f x\n", oursb / theirs);
	printf("  ratio one-at-a-time / cds_lfht: %7.2f x   (checksum %lu)\n", ours1 / theirs,
	       (unsigned long)(sink & 0xff));

	rcu_unregister_thread();
	cds_lfht_destroy(ht, NULL);
	free(nodes);
	free(keys);
	free(q);
	free(qp);
	free(qh);
	free(hashes);
}

/* ---- 2. lock + unlock ------------------------------------------------------ */

static void bench_lock(void)
{
	struct shm_table_geom g = { .capacity = 64, .value_size = 8, .value_kind = VKIND,
				    .value_version = 1, .lanes = 1, .rcu_slots = 16 };
	struct shm_table *t = NULL;
	struct shm_rcu_reader rd;
	const uint64_t iters = 200000000ULL;
	volatile uint64_t sink = 0;

	shm_seg_unlink(inst, "lock");
	shm_table_open_writer(inst, "lock", &g, NULL, &t, NULL);
	shm_table_reader_register(t, &rd);

	uint64_t s0 = now_ns();
	for (uint64_t i = 0; i < iters; i++) {
		shm_rcu_read_lock(&rd);
		sink += i;
		shm_rcu_read_unlock(&rd);
	}
	uint64_t s1 = now_ns();
	rcu_register_thread();
	for (uint64_t i = 0; i < iters; i++) {
		rcu_read_lock();
		sink += i;
		rcu_read_unlock();
	}
	uint64_t s2 = now_ns();
	for (uint64_t i = 0; i < iters / 10; i++) {
		rcu_read_lock();
		sink += i;
		rcu_read_unlock();
		rcu_quiescent_state();
	}
	uint64_t s3 = now_ns();
	rcu_unregister_thread();

	double ours = (double)(s1 - s0) / (double)iters, qsbr = (double)(s2 - s1) / (double)iters;
	double qs = (double)(s3 - s2) / (double)(iters / 10);
	printf("read-side lock+unlock (with a one-add section):\n");
	printf("  loom shm rcu                 : %6.2f ns\n", ours);
	printf("  urcu-qsbr (inlined)          : %6.2f ns\n", qsbr);
	printf("  urcu-qsbr + quiescent_state  : %6.2f ns\n", qs);
	printf("  ratio ours / urcu-qsbr lock+unlock+quiescent_state: %.2f x\n", ours / qs);
	shm_table_reader_unregister(&rd);
	shm_table_close(t);
	shm_seg_unlink(inst, "lock");
	(void)sink;
}

/* ---- 3. grace periods ------------------------------------------------------ */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void report(const char *who, int nreaders, uint64_t *lat, unsigned n)
{
	qsort(lat, n, sizeof(*lat), cmp_u64);
	printf("  %-10s %d readers: p50 %8.1f us  p99 %8.1f us  max %8.1f us  (%u grace periods)\n",
	       who, nreaders, (double)lat[n / 2] / 1e3, (double)lat[n * 99 / 100] / 1e3,
	       (double)lat[n - 1] / 1e3, n);
}

static volatile int qsbr_stop;

static void *qsbr_reader(void *arg)
{
	volatile uint64_t x = 0;

	(void)arg;
	rcu_register_thread();
	while (!qsbr_stop) {
		for (int i = 0; i < 64; i++) {
			rcu_read_lock();
			x += (uint64_t)i;
			rcu_read_unlock();
		}
		rcu_quiescent_state();
	}
	rcu_unregister_thread();
	return NULL;
}

static double gp_run(int nreaders, uint64_t *lat, unsigned max, unsigned *got, bool ours)
{
	uint64_t start = now_ns(), end = start + (uint64_t)(seconds * 1e9);
	unsigned n = 0;

	if (ours) {
		struct shm_table_geom g = { .capacity = 64, .value_size = 8, .value_kind = VKIND,
					    .value_version = 1, .lanes = 1, .rcu_slots = 16 };
		struct shm_table *t = NULL;
		pid_t kids[8];

		shm_seg_unlink(inst, "gp");
		shm_table_open_writer(inst, "gp", &g, NULL, &t, NULL);
		for (int i = 0; i < nreaders; i++) {
			kids[i] = fork();
			if (kids[i] == 0) {
				struct shm_table *r = NULL;
				struct shm_rcu_reader rd;
				volatile uint64_t x = 0;
				if (shm_table_open_reader(inst, "gp", VKIND, 1, &r, NULL) ||
				    shm_table_reader_register(r, &rd))
					_exit(1);
				for (;;) {
					shm_rcu_read_lock(&rd);
					x += 1;
					shm_rcu_read_unlock(&rd);
				}
			}
		}
		usleep(100000);
		struct shm_seg *seg = shm_table_seg(t);
		while (now_ns() < end && n < max) {
			uint64_t t0 = now_ns();
			shm_rcu_synchronize(shm_seg_rcu(seg), shm_seg_rcu_slots(seg), 1000000000ULL, NULL);
			lat[n++] = now_ns() - t0;
		}
		for (int i = 0; i < nreaders; i++) {
			kill(kids[i], SIGKILL);
			waitpid(kids[i], NULL, 0);
		}
		shm_table_close(t);
		shm_seg_unlink(inst, "gp");
	} else {
		pthread_t th[8];
		qsbr_stop = 0;
		for (int i = 0; i < nreaders; i++)
			pthread_create(&th[i], NULL, qsbr_reader, NULL);
		usleep(100000);
		while (now_ns() < end && n < max) {
			uint64_t t0 = now_ns();
			synchronize_rcu();
			lat[n++] = now_ns() - t0;
		}
		qsbr_stop = 1;
		for (int i = 0; i < nreaders; i++)
			pthread_join(th[i], NULL);
	}
	*got = n;
	return 0;
}

static void bench_gp(void)
{
	static uint64_t lat[200000];
	static const int counts[] = { 1, 2, 8 };
	unsigned n;

	printf("grace-period latency, readers spinning in short sections (2 cores shared):\n");
	for (unsigned i = 0; i < 3; i++) {
		gp_run(counts[i], lat, 200000, &n, true);
		report("loom shm", counts[i], lat, n);
		gp_run(counts[i], lat, 200000, &n, false);
		report("urcu-qsbr", counts[i], lat, n);
	}
}

int main(int argc, char **argv)
{
	uint32_t n = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 10) : 1000000;

	if (argc > 2)
		seconds = strtod(argv[2], NULL);
	if (n < 1000 || seconds <= 0) {
		fprintf(stderr, "usage: bench_shm [entries >= 1000] [seconds per figure]\n");
		return 2;
	}
	snprintf(inst, sizeof(inst), "bench%d", (int)getpid());
	pin(0);
	bench_lookups(n);
	bench_lock();
	pin(-1); /* readers and writer spread over the cores */
	bench_gp();
	return 0;
}
