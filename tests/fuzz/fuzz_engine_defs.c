// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * loom-pkt-engine's definitions loader on hostile YAML: the schema, its
 * verify pass (which builds the sequence steps to find ambiguous ones) and,
 * for what loads, the snapshot written and validated again. Nothing may
 * crash, leak or read outside a buffer; a loaded definition must build, and
 * the snapshot built must pass the readers' validation.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/sequence.h"
#include "pe_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct pe_config cfg;
	struct seq_view v;
	int rc;

	if (cfg_load_buffer("fuzz.yaml", data, size, &pe_config_schema, &cfg, NULL) < 0)
		return 0;
	struct seq_builder *b = pe_defs_build(&cfg.defs, NULL, NULL, &rc);
	if (!b)
		abort(); /* verify built the same definitions without an error */
	size_t len = seq_builder_size(b);
	void *block = aligned_alloc(64, (len + 63) & ~(size_t)63);
	if (!block || seq_builder_write(b, block, len, 1, 0) < 0 ||
	    seq_view_init(&v, block, len) < 0)
		abort();
	free(block);
	seq_builder_free(b);
	return 0;
}
