// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Compiled at configure time (tests/unit/cfg/meson.build) with -DROWS=64 and
 * -DROWS=65: CFG_SCHEMA must accept CFG_MAX_FIELDS rows and refuse one more,
 * since the loader keeps per-row state in arrays of CFG_MAX_FIELDS.
 */
#include "common/cfg.h"

struct wide {
	bool b;
};

#define ROW { .key = "b", .type = CFG_BOOL, CFG_AT(struct wide, b) },
#define ROWS8 ROW ROW ROW ROW ROW ROW ROW ROW

static const struct cfg_field rows[] = {
	ROWS8 ROWS8 ROWS8 ROWS8 ROWS8 ROWS8 ROWS8 ROWS8
#if ROWS > 64
	ROW
#endif
};

const struct cfg_schema wide_schema;
const struct cfg_schema wide_schema = CFG_SCHEMA("wide", struct wide, rows, NULL);
