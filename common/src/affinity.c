// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>

#include "common/affinity.h"

int aff_snap_view(const void *p, size_t len, struct aff_snap_view *v)
{
	struct aff_snap_hdr h;

	if (!p || len < sizeof(h))
		return -EPROTO;
	memcpy(&h, p, sizeof(h));
	/* the counts come from another process: bound them before multiplying */
	if (h.magic != AFF_SNAP_MAGIC || h.nwild > AFF_MAX_WILDCARDS || h.nadv > h.nwild ||
	    aff_snap_size(h.nwild, h.nadv) != len)
		return -EPROTO;
	v->wild = (const struct aff_wild *)((const uint8_t *)p + sizeof(h));
	v->nwild = h.nwild;
	v->adv = (const struct aff_adv *)((const uint8_t *)p + sizeof(h) +
					  (size_t)h.nwild * sizeof(struct aff_wild));
	v->nadv = h.nadv;
	v->built_ms = h.built_ms;
	return 0;
}
