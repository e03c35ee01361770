/* timefmt.h -- RFC 3339 timestamps to and from ns since the Unix epoch.
 *
 * Exchanges send times with 0 to 9 fractional digits; the record keeps how
 * many (trade.ts_digits) so the output prints them back with the same
 * precision.
 */
#ifndef TRADES_TIMEFMT_H
#define TRADES_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>

#define TIMEFMT_MAX 40 /* longest formatted timestamp, with NUL */

/* Parses "YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)" ('t', 'z' and a space
 * for 'T' are accepted).  Years 1970..2262.  Returns 0 and stores ns and the
 * number of fractional digits (0..9) given, or -1 on any error (including
 * more than 9 fractional digits or an invalid calendar date). */
int timefmt_parse(const char *s, size_t len, int64_t *ns, uint8_t *digits);

/* Formats ns as "YYYY-MM-DDTHH:MM:SS[.frac]Z" with exactly `digits`
 * fractional digits (0..9; 0 prints no '.').  Returns the length. */
size_t timefmt_format(int64_t ns, unsigned digits, char *buf);

/* The midnight, in US Eastern time (America/New_York, where Nasdaq's ITCH
 * clock starts), of the day it is there at now_ns, as ns since the epoch:
 * 05:00 UTC in standard time, 04:00 UTC in daylight saving time.  Computed
 * from the US rules in code, so it needs no time zone database: since 2007
 * DST runs from the second Sunday of March, 02:00 local, to the first Sunday
 * of November, 02:00 local (1987-2006: first Sunday of April to the last
 * Sunday of October; before: last Sunday of April).  now_ns >= 0. */
int64_t timefmt_eastern_midnight_ns(int64_t now_ns);

/* Wall clock now, ns since the epoch (CLOCK_REALTIME). */
int64_t timefmt_now_ns(void);
/* Monotonic clock, ns (CLOCK_MONOTONIC), for intervals. */
int64_t timefmt_mono_ns(void);

#endif
