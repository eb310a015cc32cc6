/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Dropping privileges (libcap). A daemon opens what needs privileges
 * (packet sockets, netlink, shared memory), then calls priv_drop() once,
 * keeping only the capabilities it names, each with a reason beside it in
 * the daemon's main.c. After it: no setuid-root path back (no_new_privs),
 * and the capabilities are permitted and effective but not inheritable.
 */
#ifndef LOOM_COMMON_PRIV_H
#define LOOM_COMMON_PRIV_H

#include <stddef.h>
#include <sys/capability.h>

/*
 * Switch to user (if not NULL or empty: by name, with its primary group and
 * no supplementary groups) and keep exactly the capabilities in keep.
 * Returns 0 or -errno; on failure the process keeps running with whatever
 * it had, so the caller must treat an error as fatal.
 */
int priv_drop(const char *user, const cap_value_t *keep, size_t n);

/* Whether the calling thread has cap in its effective set. */
int priv_has(cap_value_t cap);

#endif
