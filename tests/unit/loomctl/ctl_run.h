/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Running the real loomctl binary (LOOMCTL, set by meson.build) from a
 * Criterion test and reading its output as a user would: the exit status,
 * stdout and stderr, the JSON document, a line and a column of a table.
 * Shared by test_loomctl.c and test_loomctl_svc.c. Each helper fails the
 * test on a mistake of its own (no JSON, no such line) rather than
 * returning one.
 */
#ifndef LOOM_TEST_CTL_RUN_H
#define LOOM_TEST_CTL_RUN_H

#include <jansson.h>

struct run {
	int status; /* exit code, or -1 if it did not exit normally */
	char out[65536];
	char err[8192];
};

/*
 * Run loomctl with args (NULL-terminated, at most 30); env_instance sets
 * LOOM_INSTANCE (NULL unsets it). The result is a static buffer, valid
 * until the next call.
 */
struct run *run_env(const char *env_instance, const char *const *args);

#define RUN(...) run_env(NULL, (const char *const[]){ __VA_ARGS__, NULL })

/* stdout as JSON (json_decref() it), or fail. */
json_t *parse(const struct run *r);

#define JSTR(o, k) json_string_value(json_object_get((o), (k)))
#define JINT(o, k) json_integer_value(json_object_get((o), (k)))

/* The line of out that contains needle (copied to a static buffer), or
 * fail. A needle starting with '\n' is anchored at the start of its line. */
const char *line_with(const char *out, const char *needle);

/* Column of word in line (the header's column must be the row's column). */
long col(const char *line, const char *word);

/* How many times needle occurs in out. */
unsigned lines_with(const char *out, const char *needle);

#endif
