/* log.c -- one-line logs to stderr, and a rate limiter for noisy ones.
 *
 * Each line is built in a stack buffer and written with a single write(2),
 * so lines from several threads or processes sharing stderr never interleave
 * mid-line.  errno is preserved: callers log and then still test errno.
 */
#include "trades/log.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sys/stat.h>

#include "trades/timefmt.h"

#define LOG_LINE_MAX    2048 /* longer messages are cut and end in "..." */
#define LOG_NAME_MAX    32
#define LOG_WRITE_TRIES 4 /* EINTR / short writes before giving up */

static enum log_level log_level = LOG_INFO;
static char log_name[LOG_NAME_MAX] = "trades";

void log_set_level(enum log_level lvl)
{
	assert(lvl >= LOG_DEBUG && lvl <= LOG_ERROR);
	log_level = lvl;
}

void log_set_name(const char *name)
{
	assert(name != NULL);
	snprintf(log_name, sizeof(log_name), "%s", name);
}

static const char *log_level_name(enum log_level lvl)
{
	switch (lvl) {
	case LOG_DEBUG:
		return "DEBUG";
	case LOG_INFO:
		return "INFO";
	case LOG_WARN:
		return "WARN";
	case LOG_ERROR:
		return "ERROR";
	}
	return "?";
}

static void log_write_all(const char *buf, size_t len)
{
	for (int tries = 0; len > 0 && tries < LOG_WRITE_TRIES; tries++) {
		ssize_t n = write(STDERR_FILENO, buf, len);

		if (n < 0 && errno != EINTR)
			return; /* nowhere left to report a failing stderr */
		if (n > 0) {
			buf += n;
			len -= (size_t)n;
		}
	}
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	char line[LOG_LINE_MAX], ts[TIMEFMT_MAX];
	int saved_errno = errno, n;
	size_t o, room;
	va_list ap;

	if (lvl < log_level)
		return;
	timefmt_format(timefmt_now_ns(), 3, ts);
	n = snprintf(line, sizeof(line), "%s %s[%d] %s ", ts, log_name, (int)getpid(),
	             log_level_name(lvl));
	assert(n > 0 && (size_t)n < sizeof(line) / 2);
	o = (size_t)n;
	room = sizeof(line) - o - 1; /* keep one byte for the '\n' */
	va_start(ap, fmt);
	n = vsnprintf(line + o, room + 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n > room) {
		o += room;
		memcpy(line + o - 3, "...", 3);
	} else {
		o += (size_t)n;
	}
	/* One line per call: drop a newline the caller put at the end. */
	while (o > 0 && line[o - 1] == '\n')
		o--;
	line[o++] = '\n';
	log_write_all(line, o);
	errno = saved_errno;
}

int ratelimit_allow(struct ratelimit *rl, int64_t now_ns, uint64_t *suppressed_out)
{
	assert(rl != NULL);
	assert(rl->window_ns > 0 && rl->burst > 0);
	/* A clock that went backwards also opens a new window. */
	if (now_ns < rl->window_start_ns ||
	    (uint64_t)now_ns - (uint64_t)rl->window_start_ns >= (uint64_t)rl->window_ns) {
		rl->window_start_ns = now_ns;
		rl->used = 0;
	}
	if (rl->used >= rl->burst) {
		rl->suppressed++;
		return 0;
	}
	rl->used++;
	if (suppressed_out)
		*suppressed_out = rl->suppressed;
	rl->suppressed = 0;
	return 1;
}

char *log_escape(const void *data, size_t len, size_t max, char *out, size_t outlen)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = data;
	size_t o = 0, i;

	assert(out != NULL && outlen >= 4);
	assert(data != NULL || len == 0);
	/* Leave room for "..." and the NUL in case the input gets cut. */
	for (i = 0; i < len && i < max; i++) {
		unsigned char c = p[i];
		size_t need = (c >= 0x20 && c < 0x7f && c != '\\') ? 1 : c == '\\' ? 2 : 4;

		if (o + need > outlen - 4)
			break;
		if (need == 1) {
			out[o++] = (char)c;
		} else if (need == 2) {
			out[o++] = '\\';
			out[o++] = '\\';
		} else {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	if (i < len) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
	return out;
}

int errfmt(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

void ensure_failed(const char *file, int line, const char *expr)
{
	log_error("ensure failed at %s:%d: %s", file, line, expr);
	abort();
}

int owner_trusted(unsigned uid, const char *dir)
{
	struct stat st;

	if (uid == (unsigned)geteuid())
		return 1;
	return geteuid() == 0 && stat(dir, &st) == 0 && st.st_uid == uid;
}
