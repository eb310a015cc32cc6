// SPDX-License-Identifier: LGPL-2.1-or-later
#include "common/log.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>
#include <syslog.h>
#include <unistd.h>

static char log_ident[64] = "loom";
static _Atomic int log_level = LOG_LVL_NOTICE;
static unsigned log_sinks = LOG_TO_STDERR;

static const char *const level_names[] = {
	[LOG_LVL_ERR] = "err",
	[LOG_LVL_WARN] = "warn",
	[LOG_LVL_NOTICE] = "notice",
	[LOG_LVL_INFO] = "info",
	[LOG_LVL_DEBUG] = "debug",
};

static const int level_syslog[] = {
	[LOG_LVL_ERR] = LOG_ERR,
	[LOG_LVL_WARN] = LOG_WARNING,
	[LOG_LVL_NOTICE] = LOG_NOTICE,
	[LOG_LVL_INFO] = LOG_INFO,
	[LOG_LVL_DEBUG] = LOG_DEBUG,
};

void log_init(const char *ident, enum log_level level, unsigned sinks)
{
	snprintf(log_ident, sizeof(log_ident), "%s", ident ? ident : "loom");
	atomic_store(&log_level, (int)level);
	log_sinks = sinks;
	if (sinks & LOG_TO_SYSLOG)
		openlog(log_ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void log_set_level(enum log_level level)
{
	atomic_store(&log_level, (int)level);
}

enum log_level log_get_level(void)
{
	return (enum log_level)atomic_load_explicit(&log_level, memory_order_relaxed);
}

int log_level_parse(const char *s, enum log_level *out)
{
	for (size_t i = 0; i < LOOM_ARRAY_SIZE(level_names); i++) {
		if (s && strcmp(s, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *log_level_name(enum log_level level)
{
	if ((unsigned)level >= LOOM_ARRAY_SIZE(level_names))
		return "?";
	return level_names[level];
}

void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	char line[1024];
	int n;

	if (!log_enabled(level))
		return;
	if ((unsigned)level >= LOOM_ARRAY_SIZE(level_names))
		level = LOG_LVL_ERR;

	n = vsnprintf(line, sizeof(line), fmt, ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line))
		n = sizeof(line) - 1;

	if (log_sinks & LOG_TO_SYSLOG)
		syslog(level_syslog[level], "%s", line);
	if (log_sinks & LOG_TO_STDERR) {
		char head[96];
		int h = snprintf(head, sizeof(head), "%s[%d]: %s: ", log_ident,
				 (int)getpid(), level_names[level]);
		struct iovec iov[3] = {
			{ head, (size_t)(h < 0 ? 0 : h) },
			{ line, (size_t)n },
			{ (void *)(uintptr_t)"\n", 1 },
		};
		/* One writev per line so lines of concurrent threads never mix. */
		ssize_t w = writev(STDERR_FILENO, iov, 3);
		(void)w;
	}
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}

LOOM_PRINTF(3, 0)
static int log_errno_v(enum log_level level, int err, const char *fmt, va_list ap)
{
	char buf[768];

	if (!log_enabled(level))
		return err;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	log_msg(level, "%s: %s", buf, strerror(err < 0 ? -err : err));
	return err;
}

int log_errno(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_errno_v(LOG_LVL_ERR, err, fmt, ap);
	va_end(ap);
	return err;
}

int log_debug_errno(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_errno_v(LOG_LVL_DEBUG, err, fmt, ap);
	va_end(ap);
	return err;
}
