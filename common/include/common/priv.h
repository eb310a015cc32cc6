/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Dropping privileges (libcap). A daemon opens what needs privileges
 * (packet sockets, netlink, shared memory), then calls priv_drop() once,
 * keeping only the capabilities it names, each with a reason beside it in
 * the daemon's code. After it the process runs as its own user and holds
 * exactly those capabilities, permitted and effective; none inheritable or
 * ambient, none left in the bounding set beyond them when it could trim
 * that set, and no setuid-root path back (no_new_privs).
 *
 * Two ways to start a daemon (docs/deploy.md):
 *   - as root (runit, the lab): priv_drop() switches to the user, keeping
 *     the listed capabilities across setuid, and trims the bounding set;
 *   - as the user already, the listed capabilities ambient (systemd User=
 *     with AmbientCapabilities=): priv_drop() sees it is that user, keeps
 *     the list and clears the rest; the unit's CapabilityBoundingSet= is
 *     the bounding set, as the process may not change it.
 */
#ifndef LOOM_COMMON_PRIV_H
#define LOOM_COMMON_PRIV_H

#include <stddef.h>
#include <sys/capability.h>

/*
 * The user every later priv_drop() of this process switches to, whatever
 * its caller passes: the daemon skeleton's -u option (daemon.h), so a
 * supervisor names a daemon's user the same way for every daemon. NULL or
 * "" removes the override. The string must outlive the process's
 * priv_drop() (argv does). Call it from the main thread before any other
 * thread exists.
 */
void priv_set_user(const char *user);

/*
 * Run as user (unless priv_set_user() named another; NULL or "": stay who
 * we are) and keep exactly the n capabilities in keep (keep may be NULL
 * when n is 0).
 *
 * The user is looked up by name; the process takes its primary group and
 * its supplementary groups from the group database (initgroups), so
 * membership in a shared group such as `loom` is how it reaches the tables
 * and ipc:// sockets of the others. A process already running as that user
 * (uid and gid) does not switch; one running as another non-root user
 * cannot, and gets -EPERM.
 *
 * Call once, from the main thread, before any other thread exists (set-id
 * calls and capabilities are per thread in the kernel; glibc broadcasts the
 * set-id ones, not libcap's capset). Returns 0 or -errno; on failure the
 * process keeps whatever it had, so the caller must treat an error as fatal.
 */
int priv_drop(const char *user, const cap_value_t *keep, size_t n);

/* Whether the calling thread has cap in its effective set (1, 0 or -errno). */
int priv_has(cap_value_t cap);

#endif
