// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Unit tests of shm/: segments, cross-process RCU, the hash table and
 * snapshots. Processes are real (fork), segments are real POSIX shm objects
 * with names unique to the test process, removed at the end of each test.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shm/rcu.h"
#include "shm/seg.h"
#include "shm/snap.h"
#include "shm/table.h"

#define VKIND 0x7e57
#define VSIZE 32

static char inst[32];

static void setup(void)
{
	snprintf(inst, sizeof(inst), "ut%d", (int)getpid());
}

static void teardown(void)
{
	shm_seg_unlink(inst, "t");
	shm_seg_unlink(inst, "s");
}

TestSuite(shm, .init = setup, .fini = teardown, .timeout = 60);

static struct shm_table_geom geom(uint32_t cap)
{
	return (struct shm_table_geom){ .capacity = cap, .value_size = VSIZE, .value_kind = VKIND,
					.value_version = 1, .lanes = 2, .rcu_slots = 16 };
}

static void mk_key(struct flow_key *k, uint32_t i)
{
	key_init(k);
	key_addr_from_v4(k->saddr, htonl(0x0a000000u + i));
	key_addr_from_v4(k->daddr, htonl(0xc0a80001u));
	k->sport = htons((uint16_t)(1024 + i % 50000));
	k->dport = htons(80);
	k->proto = 6;
}

/* a value derived from the key index and a generation: torn reads show */
static void mk_val(uint64_t v[VSIZE / 8], uint32_t i, uint64_t gen)
{
	for (unsigned w = 0; w < VSIZE / 8; w++)
		v[w] = (uint64_t)i * 0x9e3779b97f4a7c15ULL ^ gen * 0xbf58476d1ce4e5b9ULL ^ w;
}

static struct shm_table *open_w(uint32_t cap, struct shm_table_repair *rep)
{
	struct shm_table_geom g = geom(cap);
	struct shm_table *t = NULL;
	int r = shm_table_open_writer(inst, "t", &g, NULL, &t, rep);

	cr_assert_eq(r, 0, "open writer: %s", strerror(-r));
	return t;
}

/* ---- segments ---------------------------------------------------------- */

Test(shm, names_are_checked)
{
	char buf[80];

	cr_assert_eq(shm_seg_path("lab", "affinity", buf, sizeof(buf)), 0);
	cr_assert_str_eq(buf, "/loom.lab.affinity");
	cr_assert_eq(shm_seg_path("", "x", buf, sizeof(buf)), -EINVAL);
	cr_assert_eq(shm_seg_path("a/b", "x", buf, sizeof(buf)), -EINVAL);
	cr_assert_eq(shm_seg_path("a", "../x", buf, sizeof(buf)), -EINVAL);
	cr_assert_eq(shm_seg_path("0123456789012345678901234567890123", "x", buf, sizeof(buf)),
		     -EINVAL);
}

Test(shm, segment_mode_owner_and_single_writer)
{
	struct shm_table *t = open_w(64, NULL), *t2 = NULL, *r = NULL;
	struct shm_table_geom g = geom(64);
	struct stat st;
	char path[96];

	snprintf(path, sizeof(path), "/dev/shm/loom.%s.t", inst);
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0600, "mode %o", st.st_mode & 0777);
	cr_assert_eq(shm_seg_writer_pid(shm_table_seg(t)), getpid());

	/* a second writer is refused while the first lives (flock is per open file) */
	cr_assert_eq(shm_table_open_writer(inst, "t", &g, NULL, &t2, NULL), -EBUSY);
	/* a reader with the wrong value layout is refused */
	cr_assert_eq(shm_table_open_reader(inst, "t", VKIND + 1, 1, &r, NULL), -EPROTO);
	cr_assert_eq(shm_table_open_reader(inst, "t", VKIND, 2, &r, NULL), -EPROTO);
	cr_assert_eq(shm_table_open_reader(inst, "nope", VKIND, 1, &r, NULL), -ENOENT);
	/* a snapshot reader on a table segment: unknown layout */
	struct shm_snap *s = NULL;
	cr_assert_eq(shm_snap_open_reader(inst, "t", VKIND, 1, &s), -EPROTO);
	shm_table_close(t);

	/* other geometry: refused with -EEXIST, the old table is untouched */
	g.capacity = 128;
	cr_assert_eq(shm_table_open_writer(inst, "t", &g, NULL, &t2, NULL), -EEXIST);
	g.capacity = 64;
	cr_assert_eq(shm_table_open_writer(inst, "t", &g, NULL, &t2, NULL), 0);
	cr_assert_eq(shm_seg_generation(shm_table_seg(t2)), 2);
	shm_table_close(t2);
}

Test(shm, group_mode)
{
	struct shm_table_geom g = geom(64);
	struct shm_perm perm = { .mode = 0660, .gid = getgid() };
	struct shm_table *t = NULL;
	struct stat st;
	char path[96];

	cr_assert_eq(shm_table_open_writer(inst, "t", &g, &perm, &t, NULL), 0);
	snprintf(path, sizeof(path), "/dev/shm/loom.%s.t", inst);
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0660);
	cr_assert_eq(st.st_gid, getgid());
	shm_table_close(t);
	perm.mode = 0666; /* world access is never granted */
	cr_assert_eq(shm_table_open_writer(inst, "t", &g, &perm, &t, NULL), -EINVAL);
}

static void segv_exit(int sig)
{
	(void)sig;
	_exit(42);
}

Test(shm, reader_cannot_write_table)
{
	struct shm_table *t = open_w(64, NULL);
	struct flow_key k;
	uint64_t v[VSIZE / 8];

	mk_key(&k, 1);
	mk_val(v, 1, 1);
	cr_assert_eq(shm_table_upsert(t, &k, v), 0);

	pid_t pid = fork();
	if (pid == 0) {
		struct shm_table *r = NULL;
		if (shm_table_open_reader(inst, "t", VKIND, 1, &r, NULL) != 0)
			_exit(2);
		struct shm_rcu_reader rd;
		shm_table_reader_register(r, &rd);
		shm_rcu_read_lock(&rd);
		const struct shm_entry *e = shm_table_lookup(r, &k);
		if (!e)
			_exit(3);
		if (shm_table_upsert(r, &k, v) != -EPERM)
			_exit(4);
		/* the mapping itself is read-only: this store must fault (our
		 * handler, so a sanitizer's own SEGV report does not get in the way) */
		struct sigaction sa = { .sa_handler = segv_exit };
		sigaction(SIGSEGV, &sa, NULL);
		((struct shm_entry *)(uintptr_t)e)->pad = 1;
		_exit(0);
	}
	int st;
	waitpid(pid, &st, 0);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 42, "child status %#x (42: the store faulted)",
		  st);
	shm_table_close(t);
}

Test(shm, garbage_segments_are_refused)
{
	uint8_t page[16384];
	struct shm_table *t = NULL;

	for (int trial = 0; trial < 4; trial++) {
		int fd = memfd_create("garbage", MFD_CLOEXEC);
		memset(page, trial == 0 ? 0 : 0xa5, sizeof(page));
		if (trial == 2) {
			uint64_t magic = SHM_MAGIC; /* right magic, nonsense elsewhere */
			memcpy(page, &magic, sizeof(magic));
		}
		cr_assert_eq(write(fd, page, trial == 3 ? 100 : sizeof(page)),
			     trial == 3 ? 100 : (ssize_t)sizeof(page));
		int r = shm_table_attach_fd(fd, VKIND, 1, false, &t, NULL);
		cr_assert(r == -EPROTO || r == -EAGAIN, "trial %d: %d", trial, r);
	}
}

/* ---- RCU --------------------------------------------------------------- */

struct holder {
	struct shm_table *t;
	volatile int phase;
};

static void *hold_section(void *arg)
{
	struct holder *h = arg;
	struct shm_rcu_reader rd;

	cr_assert_eq(shm_table_reader_register(h->t, &rd), 0);
	shm_rcu_read_lock(&rd);
	shm_rcu_read_lock(&rd); /* nested */
	shm_rcu_read_unlock(&rd);
	h->phase = 1;
	while (h->phase == 1)
		usleep(1000);
	shm_rcu_read_unlock(&rd);
	h->phase = 3;
	while (h->phase == 3)
		usleep(1000);
	shm_table_reader_unregister(&rd);
	return NULL;
}

Test(shm, grace_period_waits_for_live_reader_and_is_bounded)
{
	struct shm_table *t = open_w(64, NULL);
	struct shm_rcu_area *a = shm_seg_rcu(shm_table_seg(t));
	uint32_t n = shm_seg_rcu_slots(shm_table_seg(t)), stalled = 0;
	struct holder h = { t, 0 };
	pthread_t th;

	cr_assert_eq(shm_rcu_synchronize(a, n, 1000000000ULL, NULL), 0);
	pthread_create(&th, NULL, hold_section, &h);
	while (h.phase != 1)
		usleep(1000);

	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	cr_assert_eq(shm_rcu_synchronize(a, n, 30000000ULL, &stalled), -ETIMEDOUT);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	cr_assert_eq(stalled, (uint32_t)getpid());
	cr_assert(ms >= 30 && ms < 500, "bounded wait took %.1f ms", ms);

	h.phase = 2;
	while (h.phase != 3)
		usleep(1000);
	cr_assert_eq(shm_rcu_synchronize(a, n, 1000000000ULL, NULL), 0);

	struct shm_rcu_stats st;
	shm_rcu_get_stats(a, n, &st);
	cr_assert_eq(st.gp_timeouts, 1);
	cr_assert_eq(st.gp_count, 2);
	cr_assert_eq(st.slots_used, 1);
	cr_assert_eq(st.readers_in_section, 0);
	h.phase = 4;
	pthread_join(th, NULL);
	shm_rcu_get_stats(a, n, &st);
	cr_assert_eq(st.slots_used, 0);
	shm_table_close(t);
}

Test(shm, dead_reader_is_reaped)
{
	struct shm_table *t = open_w(64, NULL);
	struct shm_rcu_area *a = shm_seg_rcu(shm_table_seg(t));
	uint32_t n = shm_seg_rcu_slots(shm_table_seg(t));
	int pfd[2];

	cr_assert_eq(pipe(pfd), 0);
	pid_t pid = fork();
	if (pid == 0) {
		struct shm_table *r = NULL;
		struct shm_rcu_reader rd;
		if (shm_table_open_reader(inst, "t", VKIND, 1, &r, NULL) ||
		    shm_table_reader_register(r, &rd))
			_exit(2);
		shm_rcu_read_lock(&rd);
		(void)!write(pfd[1], "x", 1);
		for (;;)
			pause(); /* dies inside its section */
	}
	char c;
	cr_assert_eq(read(pfd[0], &c, 1), 1);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);

	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	cr_assert_eq(shm_rcu_synchronize(a, n, 2000000000ULL, NULL), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	cr_assert(ms < 100, "reaping a dead reader took %.1f ms", ms);
	struct shm_rcu_stats st;
	shm_rcu_get_stats(a, n, &st);
	cr_assert_eq(st.reaped, 1);
	cr_assert_eq(st.slots_used, 0);
	shm_table_close(t);
}

Test(shm, slots_run_out_cleanly)
{
	struct shm_table *t = open_w(64, NULL);
	struct shm_rcu_reader rd[17];

	for (int i = 0; i < 16; i++)
		cr_assert_eq(shm_table_reader_register(t, &rd[i]), 0);
	cr_assert_eq(shm_table_reader_register(t, &rd[16]), -ENOSPC);
	shm_table_reader_unregister(&rd[3]);
	cr_assert_eq(shm_table_reader_register(t, &rd[16]), 0);
	for (int i = 0; i < 17; i++)
		if (i != 3)
			shm_table_reader_unregister(&rd[i]);
	shm_table_close(t);
}

/* ---- hash table -------------------------------------------------------- */

static void expect_value(struct shm_table *t, uint32_t i, uint64_t gen)
{
	struct flow_key k, got;
	uint64_t v[VSIZE / 8], want[VSIZE / 8];
	struct shm_rcu_reader rd;

	mk_key(&k, i);
	mk_val(want, i, gen);
	cr_assert_eq(shm_table_reader_register(t, &rd), 0);
	shm_rcu_read_lock(&rd);
	const struct shm_entry *e = shm_table_lookup(t, &k);
	cr_assert_not_null(e, "key %u missing", i);
	cr_assert_eq(shm_entry_read(t, e, &got, v), 0);
	shm_rcu_read_unlock(&rd);
	shm_table_reader_unregister(&rd);
	cr_assert(key_equal(&got, &k));
	cr_assert_arr_eq(v, want, sizeof(v), "key %u has a wrong value", i);
}

Test(shm, insert_update_delete_lookup)
{
	struct shm_table *t = open_w(1000, NULL);
	struct flow_key k;
	uint64_t v[VSIZE / 8];

	for (uint32_t i = 0; i < 1000; i++) {
		mk_key(&k, i);
		mk_val(v, i, 0);
		cr_assert_eq(shm_table_upsert(t, &k, v), 0, "insert %u", i);
	}
	cr_assert_eq(shm_table_count_entries(t), 1000);
	mk_key(&k, 5000);
	cr_assert_eq(shm_table_upsert(t, &k, v), -ENOSPC, "capacity is a hard limit");

	for (uint32_t i = 0; i < 1000; i += 3) {
		mk_key(&k, i);
		mk_val(v, i, 7);
		cr_assert_eq(shm_table_upsert(t, &k, v), 1, "update %u in place", i);
	}
	for (uint32_t i = 1; i < 1000; i += 3) {
		mk_key(&k, i);
		cr_assert_eq(shm_table_delete(t, &k), 0);
		cr_assert_eq(shm_table_delete(t, &k), -ENOENT);
	}
	for (uint32_t i = 0; i < 1000; i++) {
		if (i % 3 == 1) {
			struct shm_rcu_reader rd;
			mk_key(&k, i);
			shm_table_reader_register(t, &rd);
			shm_rcu_read_lock(&rd);
			cr_assert_null(shm_table_lookup(t, &k));
			shm_rcu_read_unlock(&rd);
			shm_table_reader_unregister(&rd);
		} else {
			expect_value(t, i, i % 3 == 0 ? 7 : 0);
		}
	}
	/* deleted entries come back after a grace period: refill to capacity */
	for (uint32_t i = 1; i < 1000; i += 3) {
		mk_key(&k, i + 2000);
		mk_val(v, i + 2000, 1);
		cr_assert_eq(shm_table_upsert(t, &k, v), 0, "reuse for %u", i);
	}
	cr_assert_eq(shm_table_count_entries(t), 1000);
	struct shm_table_repair rep;
	cr_assert_eq(shm_table_verify(t, &rep), 0);
	cr_assert_eq(rep.entries, 1000);
	shm_table_close(t);
}

Test(shm, batch_lookup_matches_single_lookup)
{
	struct shm_table *t = open_w(4096, NULL);
	struct flow_key keys[3000];
	const struct flow_key *kp[3000];
	const struct shm_entry *out[3000];
	uint64_t v[VSIZE / 8];
	struct shm_rcu_reader rd;

	for (uint32_t i = 0; i < 3000; i++) {
		mk_key(&keys[i], i);
		kp[i] = &keys[i];
		if (i % 2 == 0) {
			mk_val(v, i, 0);
			cr_assert_eq(shm_table_upsert(t, &keys[i], v), 0);
		}
	}
	shm_table_reader_register(t, &rd);
	shm_rcu_read_lock(&rd);
	for (unsigned n = 1; n <= 3000; n = n * 3 + 1) {
		shm_table_lookup_batch(t, kp, n, out);
		for (unsigned i = 0; i < n; i++) {
			cr_assert_eq(out[i], shm_table_lookup(t, kp[i]), "key %u of %u", i, n);
			cr_assert_eq(out[i] != NULL, i % 2 == 0);
		}
	}
	shm_rcu_read_unlock(&rd);
	shm_table_reader_unregister(&rd);
	shm_table_close(t);
}

Test(shm, overflow_chains)
{
	/* 40 entries in a table of 8 buckets x 7 slots: chains must overflow */
	struct shm_table *t = open_w(40, NULL);
	struct flow_key k;
	uint64_t v[VSIZE / 8];

	for (uint32_t i = 0; i < 40; i++) {
		mk_key(&k, i);
		mk_val(v, i, 3);
		int r = shm_table_upsert(t, &k, v);
		cr_assert(r == 0 || r == -ENOSPC);
	}
	uint64_t n = shm_table_count_entries(t);
	cr_assert_geq(n, 38, "only %lu fitted", (unsigned long)n);
	for (uint32_t i = 0; i < 40; i++) {
		struct shm_rcu_reader rd;
		mk_key(&k, i);
		shm_table_reader_register(t, &rd);
		shm_rcu_read_lock(&rd);
		bool found = shm_table_lookup(t, &k) != NULL;
		shm_rcu_read_unlock(&rd);
		shm_table_reader_unregister(&rd);
		if (found)
			expect_value(t, i, 3);
	}
	cr_assert_eq(shm_table_verify(t, NULL), 0);
	shm_table_close(t);
}

static int count_cb(const struct shm_entry *e, uint32_t idx, void *arg)
{
	(void)e;
	(void)idx;
	(*(unsigned *)arg)++;
	return 0;
}

Test(shm, walk_and_counters_from_another_process)
{
	struct shm_table *t = open_w(256, NULL);
	struct flow_key k;
	uint64_t v[VSIZE / 8];

	for (uint32_t i = 0; i < 100; i++) {
		mk_key(&k, i);
		mk_val(v, i, 0);
		shm_table_upsert(t, &k, v);
	}
	pid_t pid = fork();
	if (pid == 0) {
		struct shm_table *r = NULL;
		struct shm_rcu_reader rd;
		struct shm_table_geom g;
		unsigned n = 0;
		if (shm_table_open_reader(inst, "t", VKIND, 1, &r, &g) || g.capacity != 256)
			_exit(2);
		shm_table_reader_register(r, &rd);
		shm_rcu_read_lock(&rd);
		if (shm_table_walk(r, 0, UINT32_MAX, count_cb, &n) != UINT32_MAX || n != 100)
			_exit(3);
		mk_key(&k, 42);
		const struct shm_entry *e = shm_table_lookup(r, &k);
		if (!e)
			_exit(4);
		/* workers in lanes 0 and 1 count packets on entry 42 */
		shm_table_count(r, 0, shm_entry_index(r, e), 100, 5);
		shm_table_count(r, 1, shm_entry_index(r, e), 60, 9);
		shm_table_count(r, 1, shm_entry_index(r, e), 40, 7);
		shm_rcu_read_unlock(&rd);
		_exit(shm_table_count_entries(r) == 100 ? 0 : 5);
	}
	int st;
	waitpid(pid, &st, 0);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %#x", st);

	struct shm_rcu_reader rd;
	shm_table_reader_register(t, &rd);
	shm_rcu_read_lock(&rd);
	mk_key(&k, 42);
	uint64_t p, b, l;
	shm_table_counters(t, shm_entry_index(t, shm_table_lookup(t, &k)), &p, &b, &l);
	shm_rcu_read_unlock(&rd);
	shm_table_reader_unregister(&rd);
	cr_assert_eq(p, 3);
	cr_assert_eq(b, 200);
	cr_assert_eq(l, 7); /* lane 1 last wrote 7, lane 0 wrote 5 */
	shm_table_close(t);
}

/*
 * Kill the writer after every possible number of shared-memory stores in an
 * update, an insert and a delete; the next writer repairs, and the table is
 * consistent with the touched key holding its old or its new value.
 */
Test(shm, writer_killed_at_every_step_is_repaired)
{
	struct flow_key k;
	uint64_t v[VSIZE / 8];

	for (int op = 0; op < 3; op++) {
		for (uint32_t steps = 1; steps <= 12; steps++) {
			struct shm_table *t = open_w(64, NULL);
			for (uint32_t i = 0; i < 20; i++) {
				mk_key(&k, i);
				mk_val(v, i, 0);
				shm_table_upsert(t, &k, v);
			}
			shm_table_close(t);

			pid_t pid = fork();
			if (pid == 0) {
				struct shm_table *w = open_w(64, NULL);
				shm_table_debug_crash_after(w, steps);
				if (op == 0) {
					mk_key(&k, 5);
					mk_val(v, 5, 1);
					shm_table_upsert(w, &k, v);
				} else if (op == 1) {
					mk_key(&k, 30);
					mk_val(v, 30, 1);
					shm_table_upsert(w, &k, v);
				} else {
					mk_key(&k, 6);
					shm_table_delete(w, &k);
				}
				_exit(0); /* finished before the crash point */
			}
			int st;
			waitpid(pid, &st, 0);

			struct shm_table_repair rep;
			t = open_w(64, &rep);
			cr_assert_eq(shm_table_verify(t, NULL), 0, "op %d step %u", op, steps);
			uint64_t n = shm_table_count_entries(t);
			struct shm_rcu_reader rd;
			shm_table_reader_register(t, &rd);
			shm_rcu_read_lock(&rd);
			for (uint32_t i = 0; i < 31; i++) {
				uint64_t want0[VSIZE / 8], want1[VSIZE / 8];
				mk_key(&k, i);
				const struct shm_entry *e = shm_table_lookup(t, &k);
				if (i >= 20 && !(op == 1 && i == 30)) {
					cr_assert_null(e);
					continue;
				}
				if (!e) {
					cr_assert((op == 1 && i == 30) || (op == 2 && i == 6),
						  "op %d step %u: key %u lost", op, steps, i);
					continue;
				}
				cr_assert_eq(shm_entry_read(t, e, NULL, v), 0);
				mk_val(want0, i, 0);
				mk_val(want1, i, 1);
				bool old = memcmp(v, want0, sizeof(v)) == 0;
				bool new = memcmp(v, want1, sizeof(v)) == 0;
				cr_assert(old || (new && (i == 5 || i == 30)),
					  "op %d step %u: key %u torn", op, steps, i);
			}
			shm_rcu_read_unlock(&rd);
			shm_table_reader_unregister(&rd);
			cr_assert(n == 19 || n == 20 || n == 21, "count %lu", (unsigned long)n);
			/* the repaired table is fully usable: fill it to capacity */
			uint32_t added = 0;
			for (uint32_t i = 100; i < 200; i++) {
				mk_key(&k, i);
				mk_val(v, i, 2);
				if (shm_table_upsert(t, &k, v) == 0)
					added++;
			}
			cr_assert_eq(n + added, 64, "op %d step %u: %lu + %u", op, steps,
				     (unsigned long)n, added);
			shm_table_close(t);
			shm_seg_unlink(inst, "t");
		}
	}
}

/* Hostile bytes inside the table: readers count and carry on, repair fixes. */
Test(shm, corrupt_slots_are_survived_and_repaired)
{
	struct shm_table *t = open_w(64, NULL);
	struct flow_key k;
	uint64_t v[VSIZE / 8];

	for (uint32_t i = 0; i < 30; i++) {
		mk_key(&k, i);
		mk_val(v, i, 0);
		shm_table_upsert(t, &k, v);
	}
	shm_table_close(t);

	/* scribble over the bucket region as another process could */
	char path[96];
	snprintf(path, sizeof(path), "/loom.%s.t", inst);
	int fd = shm_open(path, O_RDWR, 0);
	struct stat st;
	fstat(fd, &st);
	uint8_t *m = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	cr_assert_neq(m, MAP_FAILED);
	uint64_t boff = *(uint64_t *)(m + 144 + 24); /* header: region[1].off */
	uint64_t *bk = (uint64_t *)(m + boff);
	bk[0] = 0xffffffff12345678ULL; /* slot -> entry far out of range */
	bk[7] = 0x00000005ffffffffULL; /* next -> out of the overflow pool */
	bk[8 + 1] = bk[8 * 3 + 2] ? bk[8 * 3 + 2] : 0x0000000100000001ULL; /* wrong chain */
	munmap(m, (size_t)st.st_size);
	close(fd);

	struct shm_table *r = NULL;
	cr_assert_eq(shm_table_open_reader(inst, "t", VKIND, 1, &r, NULL), 0);
	struct shm_rcu_reader rd;
	shm_table_reader_register(r, &rd);
	shm_rcu_read_lock(&rd);
	for (uint32_t i = 0; i < 200; i++) {
		mk_key(&k, i);
		(void)shm_table_lookup(r, &k);
	}
	unsigned n = 0;
	shm_table_walk(r, 0, UINT32_MAX, count_cb, &n);
	shm_rcu_read_unlock(&rd);
	shm_table_reader_unregister(&rd);
	cr_assert_eq(shm_table_verify(r, NULL), -EUCLEAN);
	shm_table_close(r);

	struct shm_table_repair rep;
	t = open_w(64, &rep);
	cr_assert_geq(rep.bad_slots + rep.cut_chains, 2);
	cr_assert_eq(shm_table_verify(t, NULL), 0);
	shm_table_close(t);
}

/* ---- snapshots ----------------------------------------------------------- */

static struct shm_snap *snap_w(void)
{
	struct shm_snap_geom g = { .area_size = 64 * 1024, .value_kind = VKIND, .value_version = 1,
				   .rcu_slots = 8 };
	struct shm_snap *s = NULL;

	cr_assert_eq(shm_snap_open_writer(inst, "s", &g, NULL, &s), 0);
	return s;
}

static void publish_pattern(struct shm_snap *s, size_t len, uint8_t seed)
{
	uint8_t *p = shm_snap_alloc(s, len);

	cr_assert_not_null(p, "alloc %zu (free %lu)", len, (unsigned long)shm_snap_free_bytes(s));
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(seed + i);
	cr_assert_eq(shm_snap_publish(s, p, len), 0);
}

static void expect_pattern(struct shm_snap *s, size_t len, uint8_t seed)
{
	struct shm_rcu_reader rd;
	size_t got;

	cr_assert_eq(shm_snap_reader_register(s, &rd), 0);
	shm_rcu_read_lock(&rd);
	const uint8_t *p = shm_snap_current(s, &got, NULL);
	cr_assert_not_null(p);
	cr_assert_eq(got, len);
	for (size_t i = 0; i < len; i++)
		cr_assert_eq(p[i], (uint8_t)(seed + i));
	shm_rcu_read_unlock(&rd);
	shm_rcu_unregister(&rd);
}

Test(shm, snapshot_publish_reclaim_and_crash)
{
	struct shm_snap *s = snap_w();
	size_t len;
	uint64_t gen;
	struct shm_rcu_reader rd;

	shm_snap_reader_register(s, &rd);
	shm_rcu_read_lock(&rd);
	cr_assert_null(shm_snap_current(s, &len, &gen));
	shm_rcu_read_unlock(&rd);
	shm_rcu_unregister(&rd);

	/* many publishes through a small area: old snapshots must be reclaimed */
	for (int i = 0; i < 200; i++)
		publish_pattern(s, 20000, (uint8_t)i);
	expect_pattern(s, 20000, 199);

	/* a reader holding the current snapshot keeps it alive */
	cr_assert_geq(shm_snap_reclaim(s, 1000000000ULL), 0);
	cr_assert_eq(shm_snap_free_bytes(s), 64 * 1024 - 20032);
	shm_snap_reader_register(s, &rd);
	shm_rcu_read_lock(&rd);
	const uint8_t *held = shm_snap_current(s, &len, NULL);
	publish_pattern(s, 20000, 1);
	publish_pattern(s, 20000, 2);
	cr_assert_null(shm_snap_alloc(s, 20000), "no room while the reader holds its block");
	for (size_t i = 0; i < 20000; i++)
		cr_assert_eq(held[i], (uint8_t)(199 + i), "held snapshot changed at %zu", i);
	shm_rcu_read_unlock(&rd);
	shm_rcu_unregister(&rd);
	void *p = shm_snap_alloc(s, 20000);
	cr_assert_not_null(p, "room again once the reader let go");
	shm_snap_abort(s, p);
	shm_snap_close(s);

	/* a writer killed while building leaves the published snapshot intact */
	pid_t pid = fork();
	if (pid == 0) {
		struct shm_snap *w = snap_w();
		uint8_t *q = shm_snap_alloc(w, 10000);
		memset(q, 0xee, 10000);
		raise(SIGKILL);
	}
	waitpid(pid, NULL, 0);
	s = snap_w();
	expect_pattern(s, 20000, 2);
	cr_assert_eq(shm_snap_free_bytes(s), 64 * 1024 - 20032);
	shm_snap_close(s);
}

/* ---- 2 MB pages ---------------------------------------------------------- */

/* kB of shared memory this process maps with 2 MB pages (smaps_rollup) */
static long pmd_mapped_kb(void)
{
	FILE *f = fopen("/proc/self/smaps_rollup", "r");
	char line[256];
	long kb = -1;

	cr_assert_not_null(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "ShmemPmdMapped: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/* MADV_COLLAPSE of shared memory: Linux 6.1 with THP, shmem's not denied */
static bool kernel_can_collapse(void)
{
	struct utsname u;
	unsigned maj = 0, min = 0;
	char mode[128] = "";
	FILE *f;

	if (uname(&u) < 0 || sscanf(u.release, "%u.%u", &maj, &min) != 2 ||
	    maj * 1000 + min < 6001)
		return false;
	f = fopen("/sys/kernel/mm/transparent_hugepage/shmem_enabled", "r");
	if (!f)
		return false;
	if (!fgets(mode, sizeof(mode), f))
		mode[0] = '\0';
	fclose(f);
	return strstr(mode, "[deny]") == NULL;
}

static struct shm_table *open_huge(uint32_t cap, bool huge, struct shm_table_repair *rep)
{
	struct shm_table_geom g = geom(cap);
	struct shm_perm perm = { .mode = 0600, .gid = (gid_t)-1, .huge_pages = huge };
	struct shm_table *t = NULL;
	int r = shm_table_open_writer(inst, "t", &g, &perm, &t, rep);

	cr_assert_eq(r, 0, "open writer: %s", strerror(-r));
	return t;
}

Test(shm, huge_pages_hold_the_table_and_survive_a_new_writer)
{
	/* 200 000 entries: 26 MB of entries, 9 MB of buckets, 13 MB of counters */
	struct shm_table *t = open_huge(200000, true, NULL);
	struct shm_seg *seg = shm_table_seg(t);
	uint64_t huge = shm_seg_huge_bytes(seg);
	struct flow_key k;
	uint64_t v[VSIZE / 8];

	if (!kernel_can_collapse())
		cr_skip_test("this kernel cannot collapse shared memory (Linux 6.1, THP)");
	cr_assert_eq(shm_seg_collapse_errno(seg), 0, "%s", strerror(shm_seg_collapse_errno(seg)));
	cr_assert_geq(huge, 32u << 20, "only %lu MB on 2 MB pages", (unsigned long)(huge >> 20));
	/* what a user sees: the mappings are huge, not just the page cache */
	cr_assert_geq(pmd_mapped_kb(), (long)(huge >> 10), "ShmemPmdMapped %ld kB", pmd_mapped_kb());

	for (uint32_t i = 0; i < 5000; i++) {
		mk_key(&k, i);
		mk_val(v, i, 1);
		cr_assert_eq(shm_table_upsert(t, &k, v), 0);
	}
	shm_table_close(t);
	cr_assert_eq(pmd_mapped_kb(), 0);

	/* a restarted writer collapses again: what the table held is kept */
	struct shm_table_repair rep;
	t = open_huge(200000, true, &rep);
	cr_assert_eq(rep.entries, 5000);
	cr_assert_geq(shm_seg_huge_bytes(shm_table_seg(t)), huge);
	for (uint32_t i = 0; i < 5000; i += 7)
		expect_value(t, i, 1);

	/* a reader maps the same big pages whole: its entries are PMD-mapped */
	long before = pmd_mapped_kb();
	struct shm_table *r = NULL;
	struct shm_table_geom g;
	cr_assert_eq(shm_table_open_reader(inst, "t", VKIND, 1, &r, &g), 0);
	for (uint32_t i = 0; i < 5000; i += 7)
		expect_value(r, i, 1);
	cr_assert_geq(pmd_mapped_kb(), before + 2048, "the reader's lookups used 4 KB pages");
	shm_table_close(r);
	shm_table_close(t);
}

Test(shm, huge_pages_only_when_asked)
{
	struct shm_table *t = open_huge(200000, false, NULL);

	cr_assert_eq(shm_seg_huge_bytes(shm_table_seg(t)), 0);
	cr_assert_eq(pmd_mapped_kb(), 0);
	shm_table_close(t);
}
