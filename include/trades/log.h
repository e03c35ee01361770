/* log.h -- one-line logs to stderr, and a rate limiter for noisy ones.
 *
 * Format: "2025-01-02T03:04:05.123Z trades[pid] LEVEL message".  Logging is
 * for init, shutdown and rate-limited events; the hot path only counts.
 */
#ifndef TRADES_LOG_H
#define TRADES_LOG_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

void log_set_level(enum log_level lvl);
void log_set_name(const char *name); /* program name in the prefix */
void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

/* At most `burst` events per window; the rest are counted as suppressed and
 * reported with the next allowed one. */
struct ratelimit {
	int64_t window_ns;
	uint32_t burst;
	uint32_t used;
	int64_t window_start_ns;
	uint64_t suppressed;
};
#define RATELIMIT_INIT(window_s, burst_n)                                                          \
	{                                                                                          \
		(int64_t)(window_s) * 1000000000LL, (burst_n), 0, 0, 0                             \
	}

/* true if this event may be logged; *suppressed_out (if non-NULL) gets the
 * number suppressed since the last allowed one. */
int ratelimit_allow(struct ratelimit *rl, int64_t now_ns, uint64_t *suppressed_out);

/* Escapes up to max bytes of data for a log line (non-printables as \xNN,
 * "..." appended when cut).  Returns out. */
char *log_escape(const void *data, size_t len, size_t max, char *out, size_t outlen);

/* The one error formatter: writes the message into err (if err and errlen
 * are non-zero) and returns -1, so an init function ends with
 *   return errfmt(err, errlen, "journal %s: open: %s", path, strerror(errno)); */
int errfmt(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Whether a writer may use a file owned by uid in directory dir: it is this
 * user's own, or this process is root and uid owns dir too (the state
 * directory of `serve --user NAME`, which root opens before it drops to NAME).
 * A file someone else owns is refused: they could swap or rewrite it. */
int owner_trusted(unsigned uid, const char *dir);

/* Always-on boundary check (bounds, sizes, sequence order): stays in release
 * builds, where assert() is compiled out.  A failed check is a programmer
 * error: it logs file, line and the expression, then aborts.  Keep it to
 * cheap checks at module boundaries; use assert() for the expensive ones. */
#define ENSURE(cond)                                                                               \
	do {                                                                                       \
		if (__builtin_expect(!(cond), 0))                                                  \
			ensure_failed(__FILE__, __LINE__, #cond);                                  \
	} while (0)
__attribute__((noreturn, cold)) void ensure_failed(const char *file, int line, const char *expr);

#endif
