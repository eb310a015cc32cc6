// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * loomctl affinity forward: packets and bytes per forward address (the
 * information flag), from loom.<instance>.fwdstats. Read like every shared
 * table here: as a reader, walked in pieces, lengths not trusted.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

struct fwd_row {
	uint8_t addr[16];
	uint64_t packets, bytes;
};

struct fwd_ctx {
	struct shm_table *t;
	struct fwd_row *rows;
	size_t n, cap;
};

static int collect(const struct shm_entry *e, uint32_t idx, void *arg)
{
	struct fwd_ctx *x = arg;
	struct flow_key k;
	struct aff_fwdstat v;

	if (x->n == x->cap) {
		size_t cap = x->cap ? 2 * x->cap : 64;
		struct fwd_row *r = realloc(x->rows, cap * sizeof(*r));
		if (!r)
			return 1;
		x->rows = r;
		x->cap = cap;
	}
	if (shm_entry_read(x->t, e, &k, &v) < 0)
		return 0; /* changing under us: skipped */
	struct fwd_row *row = &x->rows[x->n++];
	memcpy(row->addr, k.daddr, 16);
	shm_table_counters(x->t, idx, &row->packets, &row->bytes, NULL);
	return 0;
}

int ctl_cmd_aff_forward(const struct ctl_opts *o)
{
	struct fwd_ctx x = { 0 };
	struct shm_rcu_reader rd;
	int r = shm_table_open_reader(o->instance, "fwdstats", AFF_FWDSTATS_KIND,
				      AFF_FWDSTATS_VERSION, &x.t, NULL);

	if (r == -ENOENT) {
		fprintf(stderr, "loomctl: no forward statistics for instance '%s' (is "
				"loom-fwd-agent running?)\n", o->instance);
		return CTL_EXIT_NOT_FOUND;
	}
	if (r < 0 || shm_table_reader_register(x.t, &rd) < 0) {
		fprintf(stderr, "loomctl: cannot read the forward statistics of '%s': %s\n",
			o->instance, strerror(r < 0 ? -r : ENOSPC));
		shm_table_close(x.t);
		return CTL_EXIT_FAIL;
	}
	/* in pieces: a long walk would hold up the writer's grace periods */
	uint32_t pos = 0;
	for (unsigned guard = 0; pos != UINT32_MAX && guard < 1u << 20; guard++) {
		shm_rcu_read_lock(&rd);
		pos = shm_table_walk(x.t, pos, CTL_PIECE, collect, &x);
		shm_rcu_read_unlock(&rd);
	}
	shm_table_reader_unregister(&rd);
	shm_table_close(x.t);

	if (o->json) {
		json_t *arr = json_array();
		for (size_t i = 0; i < x.n; i++) {
			char a[CTL_ADDR_LEN];
			json_t *row = json_object();
			ctl_addr(x.rows[i].addr, a, sizeof(a));
			ctl_json_set(row, "address", json_string(a));
			ctl_json_set(row, "packets", ctl_json_u64(x.rows[i].packets));
			ctl_json_set(row, "bytes", ctl_json_u64(x.rows[i].bytes));
			json_array_append_new(arr, row);
		}
		r = json_dumpf(arr, stdout, JSON_INDENT(2)) == 0 && fputc('\n', stdout) != EOF;
		json_decref(arr);
		free(x.rows);
		return r ? CTL_EXIT_OK : CTL_EXIT_FAIL;
	}
	static const struct ctl_tbl_col cols[] = {
		{ "FORWARD", false }, { "PACKETS", true }, { "BYTES", true },
	};
	struct ctl_tbl t;
	printf("Forward addresses: %zu\n", x.n);
	ctl_tbl_init(&t, stdout, cols, 3);
	for (size_t i = 0; i < x.n; i++) {
		char a[CTL_ADDR_LEN], p[24], b[24];
		ctl_addr(x.rows[i].addr, a, sizeof(a));
		snprintf(p, sizeof(p), "%llu", (unsigned long long)x.rows[i].packets);
		snprintf(b, sizeof(b), "%llu", (unsigned long long)x.rows[i].bytes);
		const char *cells[3] = { a, p, b };
		ctl_tbl_row(&t, cells);
	}
	ctl_tbl_flush(&t);
	ctl_tbl_free(&t);
	free(x.rows);
	return CTL_EXIT_OK;
}
