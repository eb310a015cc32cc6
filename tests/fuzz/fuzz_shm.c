// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Shared memory written by another process is hostile input. This target
 * builds a valid table and a valid snapshot segment once, then for each
 * input patches a copy of them with the input's bytes and
 *   - attaches as a reader and looks up, walks, reads entries and the
 *     snapshot: nothing may crash or read out of bounds;
 *   - attaches as a writer, which repairs, after which the table must verify
 *     clean and stay usable (insert, delete).
 * Input: records of [offset lo, offset hi, length, bytes...]; the offset
 * is taken modulo the segment size. The RCU registry is left alone: garbage
 * there only delays grace periods (bounded, tested elsewhere) and would make
 * every input take the writer's full timeout.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "shm/snap.h"
#include "shm/table.h"

#define VKIND 0xf022
#define CAP 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t *table_img, *snap_img;
static size_t table_len, snap_len;

static void mk_key(struct flow_key *k, uint32_t i)
{
	key_init(k);
	key_addr_from_v4(k->saddr, htonl(0x0a000000u + i));
	key_addr_from_v4(k->daddr, htonl(0x0a000001u));
	k->sport = htons((uint16_t)i);
	k->dport = htons(80);
	k->proto = 6;
}

static uint8_t *slurp(const char *inst, const char *name, size_t *len)
{
	char path[96];
	snprintf(path, sizeof(path), "/dev/shm/loom.%s.%s", inst, name);
	FILE *f = fopen(path, "rb");
	if (!f)
		abort();
	fseek(f, 0, SEEK_END);
	*len = (size_t)ftell(f);
	fseek(f, 0, SEEK_SET);
	uint8_t *b = malloc(*len);
	if (!b || fread(b, 1, *len, f) != *len)
		abort();
	fclose(f);
	return b;
}

static void init_images(void)
{
	struct shm_table_geom g = { .capacity = CAP, .value_size = 16, .value_kind = VKIND,
				    .value_version = 1, .lanes = 2, .rcu_slots = 4 };
	struct shm_snap_geom sg = { .area_size = 8192, .value_kind = VKIND, .value_version = 1,
				    .rcu_slots = 4 };
	struct shm_table *t;
	struct shm_snap *s;
	char inst[32];

	snprintf(inst, sizeof(inst), "fz%d", (int)getpid());
	if (shm_table_open_writer(inst, "t", &g, NULL, &t, NULL) < 0 ||
	    shm_snap_open_writer(inst, "s", &sg, NULL, &s) < 0)
		abort();
	for (uint32_t i = 0; i < 50; i++) {
		struct flow_key k;
		uint64_t v[2] = { i, ~(uint64_t)i };
		mk_key(&k, i);
		shm_table_upsert(t, &k, v);
	}
	uint8_t *p = shm_snap_alloc(s, 1000);
	memset(p, 0x5a, 1000);
	shm_snap_publish(s, p, 1000);
	shm_table_close(t);
	shm_snap_close(s);
	table_img = slurp(inst, "t", &table_len);
	snap_img = slurp(inst, "s", &snap_len);
	shm_seg_unlink(inst, "t");
	shm_seg_unlink(inst, "s");
}

/* header page 0 and everything after the RCU registry may be patched */
static int patched_fd(const uint8_t *img, size_t len, const uint8_t *data, size_t size)
{
	int fd = memfd_create("fuzz", MFD_CLOEXEC);
	uint8_t *m;
	uint64_t rcu_end;

	if (fd < 0 || ftruncate(fd, (off_t)len) < 0)
		abort();
	m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		abort();
	memcpy(m, img, len);
	memcpy(&rcu_end, img + 128, 8); /* header: rcu_size; rcu_off is the second page */
	rcu_end += 4096;
	while (size >= 3) {
		size_t off = ((size_t)data[0] | (size_t)data[1] << 8 | (size_t)(data[2] & 0xf0) << 12);
		size_t n = data[2] & 0x0f;
		data += 3;
		size -= 3;
		if (n > size)
			n = size;
		off %= len;
		if (off >= 4096 && off < rcu_end)
			off = rcu_end + off % (len - rcu_end);
		if (off + n > len)
			n = len - off;
		memcpy(m + off, data, n);
		data += n;
		size -= n;
	}
	munmap(m, len);
	return fd;
}

static int count_cb(const struct shm_entry *e, uint32_t idx, void *arg)
{
	(void)idx;
	*(uint64_t *)arg += e->key.proto;
	return 0;
}

static void fuzz_table(const uint8_t *data, size_t size)
{
	struct shm_table *t = NULL;
	struct shm_rcu_reader rd;
	int fd = patched_fd(table_img, table_len, data, size);
	int dup_fd = dup(fd);

	if (shm_table_attach_fd(fd, VKIND, 1, false, &t, NULL) == 0) {
		if (shm_table_reader_register(t, &rd) == 0) {
			struct flow_key keys[CAP + 8];
			const struct flow_key *kp[CAP + 8];
			const struct shm_entry *out[CAP + 8];
			uint64_t sum = 0, v[2];
			shm_rcu_read_lock(&rd);
			for (uint32_t i = 0; i < CAP + 8; i++) {
				mk_key(&keys[i], i);
				kp[i] = &keys[i];
				const struct shm_entry *e = shm_table_lookup(t, &keys[i]);
				if (e && shm_entry_read(t, e, NULL, v) == 0)
					sum += v[0];
				if (e)
					shm_table_count(t, 1, shm_entry_index(t, e), 64, 1);
			}
			shm_table_lookup_batch(t, kp, CAP + 8, out);
			shm_table_walk(t, 0, UINT32_MAX, count_cb, &sum);
			shm_rcu_read_unlock(&rd);
			shm_table_reader_unregister(&rd);
			(void)sum;
		}
		shm_table_verify(t, NULL);
		shm_table_close(t);
	}

	/* the next writer repairs whatever it finds */
	struct shm_table_repair rep;
	if (shm_table_attach_fd(dup_fd, VKIND, 1, true, &t, &rep) == 0) {
		if (shm_table_verify(t, NULL) != 0)
			__builtin_trap();
		struct flow_key k;
		uint64_t v[2] = { 1, 2 };
		mk_key(&k, 1000);
		int r = shm_table_upsert(t, &k, v);
		if (r != 0 && r != -ENOSPC)
			__builtin_trap();
		if (r == 0 && shm_table_delete(t, &k) != 0)
			__builtin_trap();
		if (shm_table_verify(t, NULL) != 0)
			__builtin_trap();
		shm_table_close(t);
	}
}

static void fuzz_snap(const uint8_t *data, size_t size)
{
	struct shm_snap *s = NULL;
	struct shm_rcu_reader rd;
	int fd = patched_fd(snap_img, snap_len, data, size);
	int dup_fd = dup(fd);

	if (shm_snap_attach_fd(fd, VKIND, 1, false, &s) == 0) {
		if (shm_snap_reader_register(s, &rd) == 0) {
			size_t len;
			shm_rcu_read_lock(&rd);
			const uint8_t *p = shm_snap_current(s, &len, NULL);
			uint8_t x = 0;
			for (size_t i = 0; p && i < len; i++)
				x ^= p[i];
			__asm__ volatile("" : : "r"(x)); /* keep the reads */
			shm_rcu_read_unlock(&rd);
			shm_rcu_unregister(&rd);
		}
		shm_snap_close(s);
	}
	if (shm_snap_attach_fd(dup_fd, VKIND, 1, true, &s) == 0) {
		uint8_t *p = shm_snap_alloc(s, 500);
		if (p) {
			memset(p, 1, 500);
			if (shm_snap_publish(s, p, 500) != 0)
				__builtin_trap();
		}
		shm_snap_close(s);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!table_img)
		init_images();
	if (size == 0)
		return 0;
	if (data[0] & 1)
		fuzz_snap(data + 1, size - 1);
	else
		fuzz_table(data + 1, size - 1);
	return 0;
}
