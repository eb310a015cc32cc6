// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdbool.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "common/log.h"
#include "common/priv.h"

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

	if (user && *user) {
		struct passwd *pw = getpwnam(user);
		if (!pw)
			return log_debug_errno(-ENOENT, "no user '%s'", user);
		/* keep the permitted set across setuid, then trim it below */
		if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0 || setgroups(0, NULL) < 0 ||
		    setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) < 0 ||
		    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) < 0)
			return log_debug_errno(-errno, "switching to user '%s'", user);
		prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
	}
	r = set_caps(keep, n);
	if (r < 0)
		return log_debug_errno(r, "setting capabilities");
	/* ambient capabilities would survive execve: there must be none */
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
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
