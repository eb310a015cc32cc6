// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * What a supervisor relies on when it starts a daemon (docs/deploy.md):
 * priv_drop() leaves the process as its user with exactly the listed
 * capabilities, both when it starts as root (runit) and when it starts as
 * the user with the capabilities ambient (systemd User=); the skeleton's -u
 * names that user; readiness reaches $NOTIFY_SOCKET. Each test runs in its
 * own process (Criterion forks), so a drop never outlives its test. Root
 * is needed to switch users: without it the tests are skipped.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/daemon.h"
#include "common/priv.h"

#define BIT(c) (UINT64_C(1) << (c))

/* A field of /proc/self/status as a hexadecimal capability mask. */
static uint64_t status_caps(const char *field)
{
	char line[256];
	size_t n = strlen(field);
	uint64_t v = UINT64_MAX;
	FILE *f = fopen("/proc/self/status", "r");

	cr_assert_not_null(f);
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, field, n) == 0 && line[n] == ':')
			v = strtoull(line + n + 1, NULL, 16);
	fclose(f);
	cr_assert_neq(v, UINT64_MAX, "no %s in /proc/self/status", field);
	return v;
}

static struct passwd nobody;

static void need_root(void)
{
	struct passwd *pw;

	if (geteuid() != 0)
		cr_skip_test("switching users needs root");
	pw = getpwnam("nobody");
	cr_assert_not_null(pw, "no user nobody");
	nobody = *pw;
}

/* The user's groups as the group database has them, sorted like getgroups'. */
static void assert_groups_of(const char *user, gid_t gid)
{
	gid_t want[64], have[64];
	int nwant = 64, nhave = getgroups(64, have);

	cr_assert_geq(getgrouplist(user, gid, want, &nwant), 0);
	cr_assert_eq(nhave, nwant, "%d supplementary groups, the database says %d", nhave, nwant);
	for (int i = 0; i < nwant; i++) {
		int found = 0;
		for (int j = 0; j < nhave; j++)
			found |= have[j] == want[i];
		cr_assert(found, "group %u missing", (unsigned)want[i]);
	}
}

Test(priv, root_drops_to_the_user_with_only_its_capabilities, .init = need_root)
{
	static const cap_value_t keep[] = { CAP_NET_RAW, CAP_NET_ADMIN };
	uint64_t want = BIT(CAP_NET_RAW) | BIT(CAP_NET_ADMIN);

	cr_assert_eq(priv_drop("nobody", keep, 2), 0);
	cr_assert_eq(getuid(), nobody.pw_uid);
	cr_assert_eq(geteuid(), nobody.pw_uid);
	cr_assert_eq(getgid(), nobody.pw_gid);
	assert_groups_of("nobody", nobody.pw_gid);
	cr_assert_eq(status_caps("CapEff"), want);
	cr_assert_eq(status_caps("CapPrm"), want);
	cr_assert_eq(status_caps("CapBnd"), want, "bounding set %#" PRIx64, status_caps("CapBnd"));
	cr_assert_eq(status_caps("CapInh"), 0);
	cr_assert_eq(status_caps("CapAmb"), 0);
	cr_assert_eq(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0), 1);
	cr_assert_eq(priv_has(CAP_NET_RAW), 1);
	cr_assert_eq(priv_has(CAP_SYS_ADMIN), 0);
	/* and no way back */
	cr_assert_lt(setuid(0), 0);
}

Test(priv, nothing_kept_means_no_capability, .init = need_root)
{
	cr_assert_eq(priv_drop("nobody", NULL, 0), 0);
	cr_assert_eq(getuid(), nobody.pw_uid);
	cr_assert_eq(status_caps("CapEff"), 0);
	cr_assert_eq(status_caps("CapPrm"), 0);
	cr_assert_eq(status_caps("CapBnd"), 0);
}

/* What systemd does with User= and AmbientCapabilities=CAP_NET_RAW. */
static void start_like_systemd(void)
{
	cap_value_t raw = CAP_NET_RAW;
	cap_t caps = cap_init();

	cr_assert_eq(prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0), 0);
	cr_assert_eq(setgroups(0, NULL), 0);
	cr_assert_eq(setresgid(nobody.pw_gid, nobody.pw_gid, nobody.pw_gid), 0);
	cr_assert_eq(setresuid(nobody.pw_uid, nobody.pw_uid, nobody.pw_uid), 0);
	cr_assert_eq(cap_set_flag(caps, CAP_PERMITTED, 1, &raw, CAP_SET), 0);
	cr_assert_eq(cap_set_flag(caps, CAP_EFFECTIVE, 1, &raw, CAP_SET), 0);
	cr_assert_eq(cap_set_flag(caps, CAP_INHERITABLE, 1, &raw, CAP_SET), 0);
	cr_assert_eq(cap_set_proc(caps), 0);
	cap_free(caps);
	cr_assert_eq(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_RAW, 0, 0), 0);
}

Test(priv, started_as_the_user_keeps_its_ambient_capabilities, .init = need_root)
{
	static const cap_value_t keep[] = { CAP_NET_RAW };

	start_like_systemd();
	cr_assert_eq(priv_drop("nobody", keep, 1), 0);
	cr_assert_eq(getuid(), nobody.pw_uid);
	cr_assert_eq(status_caps("CapEff"), BIT(CAP_NET_RAW));
	cr_assert_eq(status_caps("CapPrm"), BIT(CAP_NET_RAW));
	cr_assert_eq(status_caps("CapAmb"), 0, "ambient capabilities survive execve");
	cr_assert_eq(status_caps("CapInh"), 0);
	cr_assert_eq(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0), 1);
}

Test(priv, another_user_cannot_switch, .init = need_root)
{
	start_like_systemd();
	cr_assert_eq(priv_drop("root", NULL, 0), -EPERM);
	cr_assert_eq(getuid(), nobody.pw_uid);
}

Test(priv, unknown_user_is_refused_and_nothing_changes, .init = need_root)
{
	cr_assert_eq(priv_drop("loom-no-such-user", NULL, 0), -ENOENT);
	cr_assert_eq(getuid(), 0);
}

Test(priv, set_user_wins_over_the_callers, .init = need_root)
{
	priv_set_user("nobody");
	cr_assert_eq(priv_drop("root", NULL, 0), 0);
	cr_assert_eq(getuid(), nobody.pw_uid);
	priv_set_user("");
}

/* The skeleton on a one-key schema: run() drops as a daemon's would. */
struct tcfg {
	unsigned log_level;
};

static const char *const levels[] = { "err", "warn", "notice", "info", "debug", NULL };
static const struct cfg_field rows[] = {
	{ .key = "log-level", .type = CFG_ENUM, CFG_AT(struct tcfg, log_level), .names = levels,
	  .def = "notice" },
};
static const struct cfg_schema schema = CFG_SCHEMA("test", struct tcfg, rows, NULL);

static void write_config(char *path, size_t len)
{
	snprintf(path, len, "/tmp/loom-deploy-XXXXXX");
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, "log-level: info\n", 16), 16);
	close(fd);
}

static int run_and_drop(const void *cfg, const char *path)
{
	(void)cfg;
	unlink(path); /* loaded; nobody could not remove root's file */
	if (priv_drop("", NULL, 0) < 0)
		return -EPERM;
	return getuid() == nobody.pw_uid ? 0 : -EINVAL;
}

Test(priv, daemon_option_u_names_the_user, .init = need_root)
{
	static const struct loom_daemon_desc desc = {
		.name = "loom-test", .schema = &schema,
		.log_level_offset = offsetof(struct tcfg, log_level), .run = run_and_drop,
	};
	static struct tcfg cfg;
	char path[64];

	write_config(path, sizeof(path));
	char a0[] = "loom-test", a1[] = "-c", a3[] = "-u", a4[] = "nobody";
	char *argv[] = { a0, a1, path, a3, a4, NULL };
	cr_assert_eq(loom_daemon_main(5, argv, &desc, &cfg), 0, "run() did not run as nobody");
}

/* A socket like systemd's notify socket, bound at name ('@': abstract). */
static int notify_listener(const char *name)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t len = strlen(name);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	cr_assert_geq(fd, 0);
	memcpy(sa.sun_path, name, len);
	if (name[0] == '@')
		sa.sun_path[0] = '\0';
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa,
			  (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)), 0);
	cr_assert_eq(setenv("NOTIFY_SOCKET", name, 1), 0);
	return fd;
}

static void assert_received(int fd, const char *want)
{
	char buf[128];
	ssize_t n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);

	cr_assert_gt(n, 0, "nothing reached the notify socket");
	buf[n] = '\0';
	cr_assert_str_eq(buf, want);
}

Test(notify, ready_reaches_a_path_socket)
{
	char dir[] = "/tmp/loom-notify-XXXXXX", name[64];

	cr_assert_not_null(mkdtemp(dir));
	snprintf(name, sizeof(name), "%s/notify", dir);
	int fd = notify_listener(name);
	cr_assert_eq(loom_daemon_ready(), 1);
	assert_received(fd, "READY=1");
	cr_assert_eq(loom_notify("STATUS=serving\nWATCHDOG=1"), 1);
	assert_received(fd, "STATUS=serving\nWATCHDOG=1");
	close(fd);
	unlink(name);
	rmdir(dir);
}

Test(notify, ready_reaches_an_abstract_socket)
{
	char name[64];

	snprintf(name, sizeof(name), "@loom-deploy-notify-%d", (int)getpid());
	int fd = notify_listener(name);
	cr_assert_eq(loom_daemon_ready(), 1);
	assert_received(fd, "READY=1");
	close(fd);
}

Test(notify, without_a_supervisor_nothing_is_sent)
{
	unsetenv("NOTIFY_SOCKET");
	cr_assert_eq(loom_daemon_ready(), 0);
	setenv("NOTIFY_SOCKET", "", 1);
	cr_assert_eq(loom_daemon_ready(), 0);
}

Test(notify, bad_names_are_refused)
{
	setenv("NOTIFY_SOCKET", "relative/notify", 1);
	cr_assert_eq(loom_daemon_ready(), -EINVAL);
	setenv("NOTIFY_SOCKET", "/tmp/loom-deploy-no-such-dir/notify", 1);
	cr_assert_eq(loom_daemon_ready(), -ENOENT);
}

static int run_ready(const void *cfg, const char *path)
{
	(void)cfg;
	(void)path;
	return loom_daemon_ready() == 1 ? 0 : -EIO;
}

Test(notify, the_skeleton_says_stopping_when_run_returns)
{
	static const struct loom_daemon_desc desc = {
		.name = "loom-test", .schema = &schema,
		.log_level_offset = offsetof(struct tcfg, log_level), .run = run_ready,
	};
	static struct tcfg cfg;
	char name[64], path[64];

	snprintf(name, sizeof(name), "@loom-deploy-stop-%d", (int)getpid());
	int fd = notify_listener(name);
	write_config(path, sizeof(path));
	char a0[] = "loom-test", a1[] = "-c";
	char *argv[] = { a0, a1, path, NULL };
	int rc = loom_daemon_main(3, argv, &desc, &cfg);
	unlink(path);
	cr_assert_eq(rc, 0);
	assert_received(fd, "READY=1");
	assert_received(fd, "STOPPING=1");
	close(fd);
}
