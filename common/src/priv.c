// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdbool.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "common/log.h"
#include "common/priv.h"

static const char *user_override;

void priv_set_user(const char *user)
{
	user_override = user && *user ? user : NULL;
}

static bool kept(cap_value_t c, const cap_value_t *keep, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (keep[i] == c)
			return true;
	return false;
}

/*
 * Empty the bounding set but for keep, so not even an exec of a file with
 * capabilities could bring one back. Only a process with CAP_SETPCAP may:
 * one started without it (systemd's User=) has the bounding set its
 * supervisor gave it, and that is the supervisor's to trim.
 */
static int trim_bounding_set(const cap_value_t *keep, size_t n)
{
	if (priv_has(CAP_SETPCAP) != 1)
		return 0;
	/* up to the kernel's last capability, which libcap may not know */
	for (cap_value_t c = 0; prctl(PR_CAPBSET_READ, c, 0, 0, 0) >= 0; c++)
		if (!kept(c, keep, n) && cap_drop_bound(c) < 0)
			return -errno;
	return 0;
}

static int switch_user(const char *user)
{
	struct passwd *pw;

	errno = 0;
	pw = getpwnam(user);
	if (!pw)
		return errno ? -errno : -ENOENT;
	if (getuid() == pw->pw_uid && geteuid() == pw->pw_uid && getgid() == pw->pw_gid)
		return 0; /* started as the user already */
	/* Keep the permitted set across setuid (trimmed by the caller after),
	 * and take the user's groups: the shared `loom` group among them. */
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0 || initgroups(user, pw->pw_gid) < 0 ||
	    setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) < 0 ||
	    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) < 0)
		return -errno;
	prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
	return 0;
}

static int set_caps(const cap_value_t *keep, size_t n)
{
	cap_t caps = cap_init(); /* all clear */
	int r = 0;

	if (!caps)
		return -errno;
	if (n && (cap_set_flag(caps, CAP_PERMITTED, (int)n, keep, CAP_SET) < 0 ||
		  cap_set_flag(caps, CAP_EFFECTIVE, (int)n, keep, CAP_SET) < 0))
		r = -errno;
	if (r == 0 && cap_set_proc(caps) < 0)
		r = -errno;
	cap_free(caps);
	return r;
}

int priv_drop(const char *user, const cap_value_t *keep, size_t n)
{
	int r;

	if (user_override)
		user = user_override;
	if ((r = trim_bounding_set(keep, n)) < 0)
		return log_debug_errno(r, "trimming the capability bounding set");
	if (user && *user && (r = switch_user(user)) < 0)
		return log_debug_errno(r, "switching to user '%s'", user);
	if ((r = set_caps(keep, n)) < 0)
		return log_debug_errno(r, "setting capabilities");
	/* ambient capabilities would survive execve: there must be none */
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
		return -errno;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	return 0;
}

int priv_has(cap_value_t cap)
{
	cap_t caps = cap_get_proc();
	cap_flag_value_t v = CAP_CLEAR;

	if (!caps)
		return -errno;
	cap_get_flag(caps, cap, CAP_EFFECTIVE, &v);
	cap_free(caps);
	return v == CAP_SET;
}
