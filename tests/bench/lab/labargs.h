/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Numeric arguments of the lab's small load tools (httpc, tcprr, udpgen):
 * a number outside its range is a usage error, so the tool says which
 * argument and its range, prefixed by LAB_TOOL (defined by the includer
 * before this header), and exits with status 2.
 */
#ifndef LOOM_LAB_ARGS_H
#define LOOM_LAB_ARGS_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#ifndef LAB_TOOL
#error "define LAB_TOOL, the tool's name for its messages, before including labargs.h"
#endif

/* s as a decimal number in [lo, hi], or exit(2) naming it `what`. */
static inline long lab_num(const char *s, long lo, long hi, const char *what)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi) {
		fprintf(stderr, LAB_TOOL ": %s must be %ld..%ld: %s\n", what, lo, hi, s);
		exit(2);
	}
	return v;
}

/* A TCP or UDP port, in host order. */
static inline uint16_t lab_port(const char *s)
{
	return (uint16_t)lab_num(s, 1, 65535, "port");
}

/* A run's length: every tool is bounded to an hour. */
static inline long lab_seconds(const char *s)
{
	return lab_num(s, 1, 3600, "seconds");
}

#endif
