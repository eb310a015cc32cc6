/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Logging for every Loom daemon and tool.
 *
 * Levels, written down once (docs/hacking.md repeats this):
 *   LOG_LVL_ERR    the daemon cannot do what it was asked: a configuration it
 *                  refuses, a socket it cannot open, a table it cannot attach.
 *   LOG_LVL_WARN   something outside is wrong and the daemon copes: a peer
 *                  that sent a malformed message, a backend that went down.
 *   LOG_LVL_NOTICE a normal but significant change of state: started, peer
 *                  connected, takeover, configuration applied.
 *   LOG_LVL_INFO   routine events an operator may want: affinities pushed.
 *   LOG_LVL_DEBUG  for developers. Library code (common/, shm/) never logs
 *                  above this level: it returns -errno and lets the caller
 *                  decide.
 * The data path never logs: it counts (see the X-macro counter lists).
 *
 * Every line names its daemon ("loom-fwd-agent[123]: ..."). Output goes to
 * stderr, syslog, or both. log_* functions are thread-safe (one write(2) per
 * line on stderr; syslog(3) is thread-safe).
 */
#ifndef LOOM_COMMON_LOG_H
#define LOOM_COMMON_LOG_H

#include <stdarg.h>
#include <stdbool.h>

#include "common/compiler.h"

enum log_level {
	LOG_LVL_ERR = 0,
	LOG_LVL_WARN,
	LOG_LVL_NOTICE,
	LOG_LVL_INFO,
	LOG_LVL_DEBUG,
};

enum log_sink {
	LOG_TO_STDERR = 1u << 0,
	LOG_TO_SYSLOG = 1u << 1,
};

/* Call once at start-up; before it, messages go to stderr as "loom". */
void log_init(const char *ident, enum log_level level, unsigned sinks);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);

/* Parse "err", "warn", "notice", "info", "debug"; -EINVAL otherwise. */
int log_level_parse(const char *s, enum log_level *out);
const char *log_level_name(enum log_level level);

void log_msg(enum log_level level, const char *fmt, ...) LOOM_PRINTF(2, 3);
void log_vmsg(enum log_level level, const char *fmt, va_list ap) LOOM_PRINTF(2, 0);

static inline bool log_enabled(enum log_level level)
{
	return level <= log_get_level();
}

#define log_err(...)    log_msg(LOG_LVL_ERR, __VA_ARGS__)
#define log_warn(...)   log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_LVL_NOTICE, __VA_ARGS__)
#define log_info(...)   log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...)                                                   \
	do {                                                             \
		if (log_enabled(LOG_LVL_DEBUG))                          \
			log_msg(LOG_LVL_DEBUG, __VA_ARGS__);             \
	} while (0)

/*
 * Log and return in one statement: `return log_errno(-ENOENT, "no %s", x);`
 * Logs at ERR and appends strerror(-err); returns err unchanged.
 */
int log_errno(int err, const char *fmt, ...) LOOM_PRINTF(2, 3);
/* The same at DEBUG level, for library code. */
int log_debug_errno(int err, const char *fmt, ...) LOOM_PRINTF(2, 3);

#endif
