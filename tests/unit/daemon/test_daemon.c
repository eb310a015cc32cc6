// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The daemon skeleton as a user meets it: loom_daemon_main() runs in a
 * forked child, as a daemon's main() would, on a two-key schema; the test
 * checks its exit code, what it printed and what run() was given.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/daemon.h"
#include "common/log.h"

struct tcfg {
	unsigned log_level;
	char greeting[32];
	bool fail; /* run() fails */
};

static const char *const levels[] = { "err", "warn", "notice", "info", "debug", NULL };

static const struct cfg_field rows[] = {
	{ .key = "log-level", .type = CFG_ENUM, CFG_AT(struct tcfg, log_level), .names = levels,
	  .def = "notice" },
	{ .key = "greeting", .type = CFG_STRING, CFG_AT(struct tcfg, greeting), .required = true },
	{ .key = "fail", .type = CFG_BOOL, CFG_AT(struct tcfg, fail), .def = "false" },
};

static const struct cfg_schema schema = CFG_SCHEMA("test", struct tcfg, rows, NULL);

/* Says what it was given on stdout, so the parent can check it. */
static int run(const void *cfg, const char *path)
{
	const struct tcfg *c = cfg;

	printf("run: %s level %s path %s\n", c->greeting, log_level_name(log_get_level()), path);
	return c->fail ? -EIO : 0;
}

static char dir[] = "/tmp/loom-daemon-XXXXXX";
static char good[64], bad[64], failing[64];

static void write_file(char *path, size_t len, const char *name, const char *text)
{
	snprintf(path, len, "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	cr_assert_eq(fputs(text, f) >= 0 && fclose(f) == 0, true);
}

static void setup(void)
{
	cr_assert_not_null(mkdtemp(dir));
	/* out of schema order and without fail: -n prints it normalised */
	write_file(good, sizeof(good), "good.yaml", "greeting: hello\nlog-level: info\n");
	write_file(bad, sizeof(bad), "bad.yaml", "greeting: hello\nlog-level: loud\nport: 1\n");
	write_file(failing, sizeof(failing), "fail.yaml", "greeting: bye\nfail: true\n");
}

static void teardown(void)
{
	char path[64];

	/* left behind when an assertion stopped a test between fork and read */
	snprintf(path, sizeof(path), "%s/stdout", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/stderr", dir);
	unlink(path);
	unlink(good);
	unlink(bad);
	unlink(failing);
	rmdir(dir);
}

TestSuite(daemon, .init = setup, .fini = teardown, .timeout = 30);

struct result {
	int status; /* exit code, or -1 if the child did not exit normally */
	char out[4096];
	char err[4096];
};

/* The whole of a small file the child wrote, as a string. */
static void read_back(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");

	cr_assert_not_null(f, "%s", path);
	buf[fread(buf, 1, len - 1, f)] = '\0';
	fclose(f);
	unlink(path);
}

/* loom_daemon_main(argv = "loom-test" args...) in a child, default config
 * def (the good file when NULL). */
static struct result *daemon_main(const char *def, const char *const *args)
{
	static struct result r;
	const struct loom_daemon_desc desc = {
		.name = "loom-test",
		.default_config = def ? def : good,
		.schema = &schema,
		.log_level_offset = offsetof(struct tcfg, log_level),
		.run = run,
	};
	char *argv[16] = { (char *)(uintptr_t)"loom-test" };
	char out[64], err[64];
	int argc = 1, st;

	snprintf(out, sizeof(out), "%s/stdout", dir);
	snprintf(err, sizeof(err), "%s/stderr", dir);
	while (args[argc - 1] && argc < 15) {
		argv[argc] = (char *)(uintptr_t)args[argc - 1];
		argc++;
	}
	argv[argc] = NULL;
	fflush(NULL);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		static struct tcfg cfg;

		if (!freopen(out, "w", stdout) || !freopen(err, "w", stderr))
			_exit(99);
		int code = loom_daemon_main(argc, argv, &desc, &cfg);
		fflush(NULL);
		_exit(code);
	}
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	read_back(out, r.out, sizeof(r.out));
	read_back(err, r.err, sizeof(r.err));
	return &r;
}

#define MAIN(...) daemon_main(NULL, (const char *const[]){ __VA_ARGS__, NULL })

static const char usage[] =
	"usage: loom-test [-c config.yaml] [-n] [-l err|warn|notice|info|debug] [-s] [-u user]\n";

Test(daemon, check_prints_the_config_normalised_and_does_not_run)
{
	struct result *r = MAIN("-c", good, "-n");

	cr_assert_eq(r->status, 0, "%s", r->err);
	cr_assert_str_eq(r->out, "log-level: info\ngreeting: \"hello\"\nfail: false\n");
	cr_assert_str_eq(r->err, "");
}

Test(daemon, runs_with_the_config_level_and_path)
{
	struct result *r = MAIN("-c", good);
	char expect[128];

	cr_assert_eq(r->status, 0, "%s", r->err);
	snprintf(expect, sizeof(expect), "run: hello level info path %s\n", good);
	cr_assert_str_eq(r->out, expect);
}

Test(daemon, without_c_the_default_config_is_read)
{
	struct result *r = daemon_main(failing, (const char *const[]){ NULL });
	char expect[128];

	snprintf(expect, sizeof(expect), "run: bye level notice path %s\n", failing);
	cr_assert_str_eq(r->out, expect);
	cr_assert_eq(r->status, 1, "run() failed: exit 1");
}

Test(daemon, l_overrides_the_config_level)
{
	struct result *r = MAIN("-l", "debug", "-c", good);
	char expect[128];

	cr_assert_eq(r->status, 0, "%s", r->err);
	snprintf(expect, sizeof(expect), "run: hello level debug path %s\n", good);
	cr_assert_str_eq(r->out, expect);

	r = MAIN("-c", good, "-l", "err");
	snprintf(expect, sizeof(expect), "run: hello level err path %s\n", good);
	cr_assert_str_eq(r->out, expect);
}

Test(daemon, usage_mistakes_exit_2_before_run)
{
	static const char *const cases[][4] = {
		{ "-h" },
		{ "-x" },
		{ "-c", NULL },     /* -c without its argument */
		{ "extra" },
		{ "-n", "extra" },
		{ "-l", "loud" },   /* an unknown level: found after the config loads */
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct result *r = daemon_main(NULL, cases[i]);
		cr_assert_eq(r->status, 2, "case %zu: exit %d", i, r->status);
		cr_assert_not_null(strstr(r->err, usage), "case %zu: %s", i, r->err);
		cr_assert_str_eq(r->out, "", "case %zu: run() ran", i);
	}
}

Test(daemon, check_ignores_l)
{
	/* -n checks the file only: a bad -l does not matter, as before */
	struct result *r = MAIN("-n", "-l", "loud", "-c", good);

	cr_assert_eq(r->status, 0, "%s", r->err);
	cr_assert_str_eq(r->out, "log-level: info\ngreeting: \"hello\"\nfail: false\n");
}

Test(daemon, a_bad_config_exits_1_naming_each_mistake_by_line)
{
	for (int check = 0; check < 2; check++) {
		struct result *r = check ? MAIN("-n", "-c", bad) : MAIN("-c", bad);
		char line[160];

		cr_assert_eq(r->status, 1);
		cr_assert_str_eq(r->out, "");
		snprintf(line, sizeof(line), "%s:2:12: log-level: ", bad);
		cr_assert_not_null(strstr(r->err, line), "%s", r->err);
		snprintf(line, sizeof(line), "%s:3:1: unknown key 'port'", bad);
		cr_assert_not_null(strstr(r->err, line), "%s", r->err);
	}
}

Test(daemon, a_missing_config_exits_1)
{
	struct result *r = MAIN("-c", "/nonexistent/loom.yaml");

	cr_assert_eq(r->status, 1);
	cr_assert_str_eq(r->out, "");
	cr_assert_not_null(strstr(r->err, "/nonexistent/loom.yaml"), "%s", r->err);
}
