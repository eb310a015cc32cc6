// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Multi-process stress of the shared hash table and snapshots.
 *
 * One writer process makes random inserts, in-place updates and deletes and
 * publishes snapshots; N reader processes look entries up (one at a time
 * and batched), walk the table and read the snapshot, checking that every
 * entry they see is consistent: each value is derived from its key and a
 * generation by a known function, so a torn or misplaced entry shows.
 *
 * Meanwhile the orchestrator:
 *  - kills the writer with SIGKILL at random moments, and the writer kills
 *    itself at random points inside updates (shm_table_debug_crash_after);
 *    each new writer must repair the table to a verified state and go on;
 *  - starts a reader that enters a read-side section and is SIGKILLed there:
 *    the writer's grace periods must not stall on it (it is reaped);
 *  - SIGSTOPs a live reader for a while: grace periods time out (bounded)
 *    and the writer keeps working, then the reader resumes.
 * Readers must never crash and never see an inconsistent entry.
 *
 * Exit status 0 only if all of that held. Usage: shm_stress [seconds] [readers]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shm/snap.h"
#include "shm/table.h"

#define CAPACITY 4096
#define KEYS 6000
#define VWORDS 8
#define VKIND 0x5157
#define MAX_READERS 16
#define RECLAIM_NS 50000000ULL

struct reader_res {
	_Atomic uint64_t lookups, found, walked, snaps, torn, bad_snap, retries;
};

struct shared {
	_Atomic int stop;
	_Atomic int writer_ready;
	_Atomic int victim_in_section;
	_Atomic uint64_t writer_ops;
	_Atomic uint64_t writer_starts;
	_Atomic uint64_t hook_crashes_armed;
	_Atomic uint64_t repair_rollbacks, repair_orphans, repair_completed;
	_Atomic uint64_t verify_failures, bad_after_repair, snapshots;
	_Atomic uint64_t reclaim_timeouts;
	struct reader_res r[MAX_READERS];
};

static struct shared *sh;
static char inst[32];

static uint64_t mix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static void mk_key(struct flow_key *k, uint32_t i)
{
	key_init(k);
	if (i % 3 == 0) { /* some IPv6 keys */
		k->saddr[0] = 0x20;
		k->saddr[1] = 0x01;
		memcpy(k->saddr + 12, &i, 4);
		k->daddr[0] = 0xfd;
		k->daddr[15] = 1;
	} else {
		key_addr_from_v4(k->saddr, htonl(0x0a000000u + i));
		key_addr_from_v4(k->daddr, htonl(0xc0a80001u));
	}
	k->sport = htons((uint16_t)(i % 60000 + 1));
	k->dport = htons(443);
	k->proto = i % 2 ? 6 : 17;
}

static uint32_t key_index(const struct flow_key *k)
{
	uint32_t i;

	if (key_addr_is_v4(k->saddr)) {
		memcpy(&i, k->saddr + 12, 4);
		return ntohl(i) - 0x0a000000u;
	}
	memcpy(&i, k->saddr + 12, 4);
	return i;
}

/* the known function: value words from key index and generation */
static void mk_val(uint64_t v[VWORDS], uint32_t i, uint64_t gen)
{
	v[0] = gen;
	v[1] = i;
	for (unsigned w = 2; w < VWORDS; w++)
		v[w] = mix(gen * 0x9e3779b97f4a7c15ULL + i * 131 + w);
}

static bool val_ok(const uint64_t v[VWORDS], uint32_t i)
{
	uint64_t want[VWORDS];

	mk_val(want, i, v[0]);
	return v[1] == i && memcmp(v, want, sizeof(want)) == 0;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static const struct shm_table_geom geom = {
	.capacity = CAPACITY, .value_size = VWORDS * 8, .value_kind = VKIND, .value_version = 1,
	.lanes = 1, .rcu_slots = 64,
};
static const struct shm_snap_geom sgeom = {
	.area_size = 256 * 1024, .value_kind = VKIND, .value_version = 1, .rcu_slots = 64,
};

static void snap_fill(uint8_t *p, size_t len, uint64_t gen)
{
	memcpy(p, &gen, 8);
	memcpy(p + 8, &len, 8);
	for (size_t i = 16; i < len; i++)
		p[i] = (uint8_t)(gen * 131 + i * 7);
}

static bool snap_ok(const uint8_t *p, size_t len)
{
	uint64_t gen, l;

	if (len < 16)
		return false;
	memcpy(&gen, p, 8);
	memcpy(&l, p + 8, 8);
	if (l != len)
		return false;
	for (size_t i = 16; i < len; i++)
		if (p[i] != (uint8_t)(gen * 131 + i * 7))
			return false;
	return true;
}

/* ---- writer ------------------------------------------------------------ */

static int check_all(struct shm_table *t)
{
	struct shm_rcu_reader rd;
	int bad = 0;

	if (shm_table_reader_register(t, &rd) < 0)
		return 1;
	shm_rcu_read_lock(&rd);
	for (uint32_t i = 0; i < KEYS; i++) {
		struct flow_key k;
		uint64_t v[VWORDS];
		mk_key(&k, i);
		const struct shm_entry *e = shm_table_lookup(t, &k);
		if (e && (shm_entry_read(t, e, NULL, v) < 0 || !val_ok(v, i)))
			bad++;
	}
	shm_rcu_read_unlock(&rd);
	shm_table_reader_unregister(&rd);
	return bad;
}

static _Noreturn void writer_main(unsigned seed)
{
	struct shm_table *t = NULL;
	struct shm_snap *s = NULL;
	struct shm_table_repair rep;
	int r;

	srand(seed);
	for (int tries = 0; (r = shm_table_open_writer(inst, "t", &geom, NULL, &t, &rep)) == -EBUSY &&
			    tries < 1000; tries++)
		usleep(1000);
	if (r < 0) {
		fprintf(stderr, "writer: open table: %s\n", strerror(-r));
		_exit(2);
	}
	r = shm_snap_open_writer(inst, "s", &sgeom, NULL, &s);
	if (r < 0) {
		fprintf(stderr, "writer: open snap: %s\n", strerror(-r));
		_exit(2);
	}
	atomic_fetch_add(&sh->writer_starts, 1);
	atomic_fetch_add(&sh->repair_rollbacks, rep.rolled_back);
	atomic_fetch_add(&sh->repair_completed, rep.completed_update);
	atomic_fetch_add(&sh->repair_orphans, rep.orphans);
	if (shm_table_verify(t, NULL) != 0)
		atomic_fetch_add(&sh->verify_failures, 1);
	atomic_fetch_add(&sh->bad_after_repair, (uint64_t)check_all(t));

	/* a generation unique across writers: start above anything seen */
	uint64_t gen = (uint64_t)atomic_load(&sh->writer_starts) << 40;
	atomic_store(&sh->writer_ready, 1);

	for (uint64_t n = 0; !atomic_load(&sh->stop); n++) {
		struct flow_key k;
		uint64_t v[VWORDS];
		uint32_t i = (uint32_t)rand() % KEYS;

		if (rand() % 20000 == 0) {
			shm_table_debug_crash_after(t, 1 + (uint32_t)rand() % 10);
			atomic_fetch_add(&sh->hook_crashes_armed, 1);
		}
		mk_key(&k, i);
		if (rand() % 10 < 6) {
			mk_val(v, i, ++gen);
			shm_table_upsert(t, &k, v);
		} else {
			shm_table_delete(t, &k);
		}
		if (n % 64 == 0) {
			size_t len = 256 + (size_t)(gen * 37 % 8000);
			uint8_t *p = shm_snap_alloc(s, len);
			if (p) {
				snap_fill(p, len, gen);
				if (rand() % 2000 == 0)
					raise(SIGKILL); /* killed while building a snapshot */
				shm_snap_publish(s, p, len);
				atomic_fetch_add(&sh->snapshots, 1);
			}
		}
		if (n % 128 == 0 && shm_table_reclaim(t, RECLAIM_NS) == -ETIMEDOUT)
			atomic_fetch_add(&sh->reclaim_timeouts, 1);
		atomic_fetch_add_explicit(&sh->writer_ops, 1, memory_order_relaxed);
	}
	shm_snap_close(s);
	shm_table_close(t);
	_exit(0);
}

/* ---- readers ------------------------------------------------------------ */

struct walk_ctx {
	struct shm_table *t;
	struct reader_res *res;
};

static int walk_cb(const struct shm_entry *e, uint32_t idx, void *arg)
{
	struct walk_ctx *c = arg;
	struct flow_key k;
	uint64_t v[VWORDS];

	(void)idx;
	if (shm_entry_read(c->t, e, &k, v) < 0) {
		atomic_fetch_add(&c->res->retries, 1);
		return 0;
	}
	/* a walked entry may be deleted and reused while we look: then its
	 * key and value are both the new ones, still consistent */
	if (!val_ok(v, key_index(&k)))
		atomic_fetch_add(&c->res->torn, 1);
	atomic_fetch_add_explicit(&c->res->walked, 1, memory_order_relaxed);
	return 0;
}

static _Noreturn void reader_main(int id)
{
	struct reader_res *res = &sh->r[id];
	struct shm_table *t = NULL;
	struct shm_snap *s = NULL;
	struct shm_rcu_reader rt, rs;
	struct flow_key keys[64];
	const struct flow_key *kp[64];
	const struct shm_entry *out[64];
	uint32_t idx[64];
	uint32_t pos = 0;

	srand((unsigned)getpid());
	if (shm_table_open_reader(inst, "t", VKIND, 1, &t, NULL) < 0 ||
	    shm_snap_open_reader(inst, "s", VKIND, 1, &s) < 0 ||
	    shm_table_reader_register(t, &rt) < 0 || shm_snap_reader_register(s, &rs) < 0)
		_exit(3);
	for (uint64_t it = 0; !atomic_load(&sh->stop); it++) {
		for (int j = 0; j < 64; j++) {
			idx[j] = (uint32_t)rand() % KEYS;
			mk_key(&keys[j], idx[j]);
			kp[j] = &keys[j];
		}
		shm_rcu_read_lock(&rt);
		if (it % 2)
			shm_table_lookup_batch(t, kp, 64, out);
		else
			for (int j = 0; j < 64; j++)
				out[j] = shm_table_lookup(t, kp[j]);
		for (int j = 0; j < 64; j++) {
			uint64_t v[VWORDS];
			struct flow_key got;
			if (!out[j])
				continue;
			atomic_fetch_add_explicit(&res->found, 1, memory_order_relaxed);
			if (shm_entry_read(t, out[j], &got, v) < 0) {
				atomic_fetch_add(&res->retries, 1);
				continue;
			}
			if (!key_equal(&got, &keys[j]) || !val_ok(v, idx[j]))
				atomic_fetch_add(&res->torn, 1);
		}
		if (it % 50 == 0) {
			struct walk_ctx c = { t, res };
			pos = shm_table_walk(t, pos, 200, walk_cb, &c);
			if (pos == UINT32_MAX)
				pos = 0;
		}
		shm_rcu_read_unlock(&rt);
		atomic_fetch_add_explicit(&res->lookups, 64, memory_order_relaxed);

		shm_rcu_read_lock(&rs);
		size_t len;
		const uint8_t *p = shm_snap_current(s, &len, NULL);
		if (p) {
			atomic_fetch_add_explicit(&res->snaps, 1, memory_order_relaxed);
			if (!snap_ok(p, len))
				atomic_fetch_add(&res->bad_snap, 1);
		}
		shm_rcu_read_unlock(&rs);
	}
	shm_table_close(t);
	shm_snap_close(s);
	_exit(0);
}

/* Enters a read-side section and stays there until SIGKILLed. */
static _Noreturn void victim_main(void)
{
	struct shm_table *t = NULL;
	struct shm_rcu_reader rd;

	if (shm_table_open_reader(inst, "t", VKIND, 1, &t, NULL) < 0 ||
	    shm_table_reader_register(t, &rd) < 0)
		_exit(3);
	shm_rcu_read_lock(&rd);
	atomic_store(&sh->victim_in_section, 1);
	for (;;)
		pause();
}

/* ---- orchestration ------------------------------------------------------ */

static pid_t spawn_writer(unsigned seed)
{
	atomic_store(&sh->writer_ready, 0);
	pid_t p = fork();
	if (p == 0)
		writer_main(seed);
	for (int i = 0; i < 5000 && !atomic_load(&sh->writer_ready); i++) {
		int st;
		if (waitpid(p, &st, WNOHANG) == p)
			return -1; /* died while starting (crash hook): caller respawns */
		usleep(1000);
	}
	return p;
}

static struct shm_rcu_stats table_gp_stats(void)
{
	struct shm_table *t = NULL;
	struct shm_rcu_stats st;

	memset(&st, 0, sizeof(st));
	if (shm_table_open_reader(inst, "t", VKIND, 1, &t, NULL) == 0) {
		struct shm_seg *seg = shm_table_seg(t);
		shm_rcu_get_stats(shm_seg_rcu(seg), shm_seg_rcu_slots(seg), &st);
		shm_table_close(t);
	}
	return st;
}

int main(int argc, char **argv)
{
	int seconds = argc > 1 ? atoi(argv[1]) : 10;
	int nreaders = argc > 2 ? atoi(argv[2]) : 3;
	pid_t readers[MAX_READERS], writer, victim, stopped = 0;
	int kills = 0, writer_deaths = 0, failures = 0;

	if (seconds < 1 || nreaders < 1 || nreaders > MAX_READERS) {
		fprintf(stderr, "usage: shm_stress [seconds >= 1] [readers 1..%d]\n", MAX_READERS);
		return 2;
	}
	snprintf(inst, sizeof(inst), "stress%d", (int)getpid());
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		return 2;
	memset(sh, 0, sizeof(*sh));
	srand((unsigned)getpid());

	while ((writer = spawn_writer((unsigned)rand())) < 0)
		writer_deaths++;
	for (int i = 0; i < nreaders; i++) {
		readers[i] = fork();
		if (readers[i] == 0)
			reader_main(i);
	}
	victim = fork();
	if (victim == 0)
		victim_main();

	uint64_t start = now_ns(), end = start + (uint64_t)seconds * 1000000000ULL;
	uint64_t next_kill = start + 300000000ULL + (uint64_t)(rand() % 700) * 1000000ULL;
	uint64_t victim_at = start + 1000000000ULL;
	uint64_t stop_at = start + (uint64_t)seconds * 1000000000ULL / 2, cont_at = 0;
	uint64_t ops_before_stop = 0, ops_during_stop = 0;
	struct shm_rcu_stats gp_after_victim = { 0 };
	bool victim_killed = false;

	while (now_ns() < end) {
		int st;
		uint64_t t = now_ns();

		usleep(5000);
		if (waitpid(writer, &st, WNOHANG) == writer) {
			writer_deaths++; /* its crash hook fired, or a snapshot-build kill */
			while ((writer = spawn_writer((unsigned)rand())) < 0)
				writer_deaths++;
		}
		if (t > next_kill) {
			kill(writer, SIGKILL);
			waitpid(writer, NULL, 0);
			kills++;
			while ((writer = spawn_writer((unsigned)rand())) < 0)
				writer_deaths++;
			next_kill = now_ns() + 300000000ULL + (uint64_t)(rand() % 900) * 1000000ULL;
		}
		if (!victim_killed && t > victim_at && atomic_load(&sh->victim_in_section)) {
			kill(victim, SIGKILL);
			waitpid(victim, NULL, 0);
			victim_killed = true;
		}
		if (victim_killed && gp_after_victim.gp_count == 0 && t > victim_at + 500000000ULL)
			gp_after_victim = table_gp_stats();
		if (!stopped && t > stop_at) {
			stopped = readers[0];
			ops_before_stop = atomic_load(&sh->writer_ops);
			kill(stopped, SIGSTOP);
			cont_at = t + 400000000ULL;
		}
		if (stopped && cont_at && t > cont_at) {
			ops_during_stop = atomic_load(&sh->writer_ops) - ops_before_stop;
			kill(stopped, SIGCONT);
			cont_at = 0;
		}
	}
	atomic_store(&sh->stop, 1);
	kill(writer, SIGKILL);
	waitpid(writer, NULL, 0);
	if (!victim_killed) {
		kill(victim, SIGKILL);
		waitpid(victim, NULL, 0);
	}

	int crashed = 0;
	for (int i = 0; i < nreaders; i++) {
		int st;
		waitpid(readers[i], &st, 0);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			fprintf(stderr, "reader %d ended badly (status %#x)\n", i, st);
			crashed++;
		}
	}

	/* a last writer: repair what the final kill left, and verify */
	struct shm_table *t = NULL;
	struct shm_table_repair rep;
	int r = shm_table_open_writer(inst, "t", &geom, NULL, &t, &rep);
	int final_verify = r == 0 ? shm_table_verify(t, NULL) : r;
	int final_bad = r == 0 ? check_all(t) : -1;
	struct shm_rcu_stats gp;
	memset(&gp, 0, sizeof(gp));
	if (r == 0)
		shm_rcu_get_stats(shm_seg_rcu(shm_table_seg(t)), shm_seg_rcu_slots(shm_table_seg(t)),
				  &gp);
	shm_table_close(t);
	shm_seg_unlink(inst, "t");
	shm_seg_unlink(inst, "s");

	uint64_t lookups = 0, found = 0, walked = 0, snaps = 0, torn = 0, bad_snap = 0, retries = 0;
	for (int i = 0; i < nreaders; i++) {
		lookups += sh->r[i].lookups;
		found += sh->r[i].found;
		walked += sh->r[i].walked;
		snaps += sh->r[i].snaps;
		torn += sh->r[i].torn;
		bad_snap += sh->r[i].bad_snap;
		retries += sh->r[i].retries;
	}

	printf("shm_stress: %d s, 1 writer, %d readers\n", seconds, nreaders);
	printf("  writer: %lu ops, %lu snapshots, %lu writers started, %d SIGKILLs from outside, "
	       "%d deaths from inside (crash hook armed %lu times)\n",
	       (unsigned long)sh->writer_ops, (unsigned long)sh->snapshots,
	       (unsigned long)sh->writer_starts, kills, writer_deaths,
	       (unsigned long)sh->hook_crashes_armed);
	printf("  repairs: %lu updates rolled back, %lu completed updates kept, %lu orphans freed, "
	       "%lu verify failures, %lu bad entries after repair\n",
	       (unsigned long)sh->repair_rollbacks, (unsigned long)sh->repair_completed,
	       (unsigned long)sh->repair_orphans, (unsigned long)sh->verify_failures,
	       (unsigned long)sh->bad_after_repair);
	printf("  readers: %lu lookups, %lu hits read, %lu walked, %lu snapshots read, "
	       "%lu torn entries, %lu bad snapshots, %lu seqlock retries exhausted\n",
	       (unsigned long)lookups, (unsigned long)found, (unsigned long)walked,
	       (unsigned long)snaps, (unsigned long)torn, (unsigned long)bad_snap,
	       (unsigned long)retries);
	printf("  grace periods: %lu, mean %.1f us, max %.1f ms, %lu timed out (a reader was "
	       "SIGSTOPped %s), %lu dead readers reaped\n",
	       (unsigned long)gp.gp_count,
	       gp.gp_count ? (double)gp.gp_total_ns / (double)gp.gp_count / 1e3 : 0.0,
	       (double)gp.gp_max_ns / 1e6, (unsigned long)gp.gp_timeouts,
	       stopped ? "for 400 ms" : "never", (unsigned long)gp.reaped);
	printf("  writer ops while a reader was stopped: %lu\n", (unsigned long)ops_during_stop);
	printf("  victim killed in its section: %s; grace periods completed 0.5 s later: %lu\n",
	       victim_killed ? "yes" : "no", (unsigned long)gp_after_victim.gp_count);

#define CHECK(cond, what)                                                      \
	do {                                                                   \
		if (!(cond)) {                                                 \
			printf("FAIL: %s\n", what);                            \
			failures++;                                            \
		}                                                              \
	} while (0)
	CHECK(crashed == 0, "a reader crashed");
	CHECK(torn == 0, "a reader saw an inconsistent entry");
	CHECK(bad_snap == 0, "a reader saw an inconsistent snapshot");
	CHECK(sh->verify_failures == 0 && sh->bad_after_repair == 0,
	      "a new writer found the table inconsistent after repair");
	CHECK(final_verify == 0 && final_bad == 0, "the final repair left an inconsistent table");
	CHECK(kills + writer_deaths >= 3, "too few writer deaths to prove anything");
	CHECK(sh->writer_starts >= 4, "too few writers");
	CHECK(victim_killed, "the victim reader was not killed in its section");
	CHECK(gp.reaped >= 1, "the dead reader was not reaped");
	CHECK(ops_during_stop > 0, "the writer stalled behind a stopped reader");
	CHECK(lookups > 0 && found > 0 && walked > 0 && snaps > 0, "readers did no work");
	printf("%d passed, %d failed\n", 11 - failures, failures);
	return failures ? 1 : 0;
}
