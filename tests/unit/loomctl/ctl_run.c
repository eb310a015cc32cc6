// SPDX-License-Identifier: LGPL-2.1-or-later
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctl_run.h"

static void slurp(int fd, char *buf, size_t len)
{
	ssize_t n;

	lseek(fd, 0, SEEK_SET);
	n = read(fd, buf, len - 1);
	buf[n > 0 ? n : 0] = '\0';
	close(fd);
}

struct run *run_env(const char *env_instance, const char *const *args)
{
	static struct run r;
	const char *argv[32] = { LOOMCTL };
	int out = memfd_create("out", 0), err = memfd_create("err", 0), st;
	unsigned n = 1;

	cr_assert(out >= 0 && err >= 0);
	while (args[n - 1] && n < 31) {
		argv[n] = args[n - 1];
		n++;
	}
	argv[n] = NULL;
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		dup2(out, 1);
		dup2(err, 2);
		if (env_instance)
			setenv("LOOM_INSTANCE", env_instance, 1);
		else
			unsetenv("LOOM_INSTANCE");
		execv(LOOMCTL, (char *const *)(uintptr_t)argv);
		_exit(127);
	}
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	slurp(out, r.out, sizeof(r.out));
	slurp(err, r.err, sizeof(r.err));
	return &r;
}

json_t *parse(const struct run *r)
{
	json_error_t e;
	json_t *j = json_loads(r->out, 0, &e);

	cr_assert_not_null(j, "not JSON (%s at %d): %s", e.text, e.position, r->out);
	return j;
}

const char *line_with(const char *out, const char *needle)
{
	static char line[1024];
	const char *p = strstr(out, needle);

	cr_assert_not_null(p, "no line with '%s' in:\n%s", needle, out);
	if (*p == '\n') /* a needle anchored at the start of its line */
		p++;
	const char *b = p, *e = strchr(p, '\n');
	while (b > out && b[-1] != '\n')
		b--;
	size_t n = e ? (size_t)(e - b) : strlen(b);
	cr_assert_lt(n, sizeof(line));
	memcpy(line, b, n);
	line[n] = '\0';
	return line;
}

long col(const char *line, const char *word)
{
	const char *p = strstr(line, word);

	cr_assert_not_null(p, "'%s' not in '%s'", word, line);
	return p - line;
}

unsigned lines_with(const char *out, const char *needle)
{
	unsigned n = 0;

	for (const char *p = out; (p = strstr(p, needle)); p++)
		n++;
	return n;
}
