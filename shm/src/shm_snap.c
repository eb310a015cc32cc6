// SPDX-License-Identifier: LGPL-2.1-or-later
/* placeholder: being written */
typedef int loom_shm_snap_placeholder;
