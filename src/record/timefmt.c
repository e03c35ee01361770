/* timefmt.c -- RFC 3339 timestamps to and from ns since the Unix epoch.
 *
 * Calendar arithmetic is done with integers on the proleptic Gregorian
 * calendar, counting years from March so that the leap day is the last day
 * of a "year" and month lengths follow a fixed 153-days-per-5-months pattern
 * (the method H. Hinnant describes for days_from_civil).  No libc time zone
 * code is involved: the input carries its own offset and output is UTC.
 */
#include "trades/timefmt.h"

#include <assert.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#define NS_PER_SEC               1000000000LL
#define SEC_PER_DAY              86400LL
#define DAYS_PER_ERA             146097LL /* 400 Gregorian years */
#define DAYS_0000_03_01_TO_EPOCH 719468LL

#define TIMEFMT_YEAR_MIN 1970
#define TIMEFMT_YEAR_MAX 2262 /* int64 ns run out in April 2262 */

/* Days from 1970-01-01 to y-m-d (m 1..12, d 1..31). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;                                   /* 0..399 */
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1; /* 0..365 */
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;           /* 0..146096 */
	return era * DAYS_PER_ERA + doe - DAYS_0000_03_01_TO_EPOCH;
}

/* Inverse of days_from_civil. */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	int64_t era, doe, yoe, doy, mp;

	z += DAYS_0000_03_01_TO_EPOCH;
	era = (z >= 0 ? z : z - (DAYS_PER_ERA - 1)) / DAYS_PER_ERA;
	doe = z - era * DAYS_PER_ERA;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
	*m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

static bool is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned month_days(int64_t y, unsigned m)
{
	static const unsigned char len[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	assert(m >= 1 && m <= 12);
	return m == 2 && is_leap(y) ? 29 : len[m - 1];
}

/* Reads exactly n digits at s into *v; false if any is not a digit. */
static bool read_digits(const char *s, unsigned n, unsigned *v)
{
	unsigned x = 0;

	for (unsigned i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		x = x * 10 + (unsigned)(s[i] - '0');
	}
	*v = x;
	return true;
}

/* Parses the zone at [p, end): Z, z, +HH:MM or -HH:MM; *off_s is seconds
 * east of UTC. */
static bool parse_zone(const char *p, const char *end, int64_t *off_s)
{
	unsigned hh, mm;

	if (end - p == 1 && (*p == 'Z' || *p == 'z')) {
		*off_s = 0;
		return true;
	}
	if (end - p != 6 || (*p != '+' && *p != '-') || p[3] != ':')
		return false;
	if (!read_digits(p + 1, 2, &hh) || !read_digits(p + 4, 2, &mm) || hh > 23 || mm > 59)
		return false;
	*off_s = (int64_t)(hh * 3600 + mm * 60) * (*p == '-' ? -1 : 1);
	return true;
}

int timefmt_parse(const char *s, size_t len, int64_t *ns, uint8_t *digits)
{
	unsigned y, mo, d, h, mi, sec, frac = 0, nfrac = 0;
	const char *p, *end = s + len;
	int64_t off_s, secs;

	assert(s != NULL || len == 0);
	assert(ns != NULL && digits != NULL);
	/* "YYYY-MM-DDTHH:MM:SS" is 19 fixed bytes, then fraction and zone. */
	if (len < 20 || s[4] != '-' || s[7] != '-' || s[13] != ':' || s[16] != ':')
		return -1;
	if (s[10] != 'T' && s[10] != 't' && s[10] != ' ')
		return -1;
	if (!read_digits(s, 4, &y) || !read_digits(s + 5, 2, &mo) || !read_digits(s + 8, 2, &d) ||
	    !read_digits(s + 11, 2, &h) || !read_digits(s + 14, 2, &mi) ||
	    !read_digits(s + 17, 2, &sec))
		return -1;
	if (y < TIMEFMT_YEAR_MIN || y > TIMEFMT_YEAR_MAX || mo < 1 || mo > 12 || d < 1 ||
	    d > month_days(y, mo) || h > 23 || mi > 59 || sec > 59)
		return -1;
	p = s + 19;
	if (*p == '.') {
		for (p++; p < end && *p >= '0' && *p <= '9'; p++) {
			if (++nfrac > 9)
				return -1;
			frac = frac * 10 + (unsigned)(*p - '0');
		}
		if (nfrac == 0)
			return -1;
	}
	if (!parse_zone(p, end, &off_s))
		return -1;
	for (unsigned i = nfrac; i < 9; i++)
		frac *= 10;
	secs = days_from_civil(y, mo, d) * SEC_PER_DAY + h * 3600 + mi * 60 + sec - off_s;
	if (secs < 0 || secs > (INT64_MAX - (int64_t)frac) / NS_PER_SEC)
		return -1;
	*ns = secs * NS_PER_SEC + frac;
	*digits = (uint8_t)nfrac;
	return 0;
}

size_t timefmt_format(int64_t ns, unsigned digits, char *buf)
{
	int64_t secs, sub, days, sod, y;
	unsigned m, d;
	char frac[10];
	size_t o;

	assert(digits <= 9 && buf != NULL);
	/* Floor division so times before the epoch still get a sub-second part
	 * in [0, 1s) and a correct date. */
	secs = ns / NS_PER_SEC;
	sub = ns % NS_PER_SEC;
	if (sub < 0) {
		sub += NS_PER_SEC;
		secs--;
	}
	days = secs / SEC_PER_DAY;
	sod = secs % SEC_PER_DAY;
	if (sod < 0) {
		sod += SEC_PER_DAY;
		days--;
	}
	civil_from_days(days, &y, &m, &d);
	/* int64 ns span years 1677..2262: always four digits. */
	assert(y >= 1000 && y <= 9999);
	buf[0] = (char)('0' + y / 1000);
	buf[1] = (char)('0' + y / 100 % 10);
	buf[2] = (char)('0' + y / 10 % 10);
	buf[3] = (char)('0' + y % 10);
	buf[4] = '-';
	buf[5] = (char)('0' + m / 10);
	buf[6] = (char)('0' + m % 10);
	buf[7] = '-';
	buf[8] = (char)('0' + d / 10);
	buf[9] = (char)('0' + d % 10);
	buf[10] = 'T';
	buf[11] = (char)('0' + sod / 36000);
	buf[12] = (char)('0' + sod / 3600 % 10);
	buf[13] = ':';
	buf[14] = (char)('0' + sod % 3600 / 600);
	buf[15] = (char)('0' + sod % 3600 / 60 % 10);
	buf[16] = ':';
	buf[17] = (char)('0' + sod % 60 / 10);
	buf[18] = (char)('0' + sod % 10);
	o = 19;
	if (digits > 0) {
		for (int i = 8; i >= 0; i--, sub /= 10)
			frac[i] = (char)('0' + sub % 10);
		buf[o++] = '.';
		memcpy(buf + o, frac, digits);
		o += digits;
	}
	buf[o++] = 'Z';
	buf[o] = '\0';
	assert(o < TIMEFMT_MAX);
	return o;
}

/* ---- US Eastern time (America/New_York), without a time zone database ---- */

#define EST_OFFSET_S (5 * 3600) /* UTC - EST */
#define EDT_OFFSET_S (4 * 3600) /* UTC - EDT */

/* Day of the week of a day count from the epoch, 0 = Sunday (1970-01-01
 * was a Thursday). */
static unsigned weekday(int64_t days)
{
	int64_t w = (days + 4) % 7;

	return (unsigned)(w < 0 ? w + 7 : w);
}

/* The n-th Sunday (1-based) of y-m, or the last one for n == 0, in days. */
static int64_t sunday_of(int64_t y, unsigned m, unsigned n)
{
	int64_t d;

	if (n == 0) {
		d = days_from_civil(y, m, month_days(y, m));
		return d - weekday(d);
	}
	d = days_from_civil(y, m, 1);
	return d + (7 - weekday(d)) % 7 + 7 * (n - 1);
}

/* Whether daylight saving time is in force in US Eastern at utc_s.  The
 * Energy Policy Act rule since 2007: from the second Sunday of March, 02:00
 * EST, to the first Sunday of November, 02:00 EDT; 1987-2006: first Sunday
 * of April to the last Sunday of October; before that the last Sunday of
 * April (the 1974-75 emergency dates are not modelled). */
static bool eastern_dst(int64_t utc_s)
{
	int64_t y, start, end;
	unsigned m, d;

	/* The local year: no transition is near a year boundary, so EST will do. */
	civil_from_days((utc_s - EST_OFFSET_S) / SEC_PER_DAY, &y, &m, &d);
	if (y >= 2007) {
		start = sunday_of(y, 3, 2);
		end = sunday_of(y, 11, 1);
	} else {
		start = sunday_of(y, 4, y >= 1987 ? 1 : 0);
		end = sunday_of(y, 10, 0);
	}
	/* 02:00 EST = 07:00 UTC; 02:00 EDT = 06:00 UTC. */
	return utc_s >= start * SEC_PER_DAY + 2 * 3600 + EST_OFFSET_S &&
	       utc_s < end * SEC_PER_DAY + 2 * 3600 + EDT_OFFSET_S;
}

int64_t timefmt_eastern_midnight_ns(int64_t now_ns)
{
	int64_t utc_s = now_ns / NS_PER_SEC, local_s, day_s, mid_s;

	assert(now_ns >= 0);
	local_s = utc_s - (eastern_dst(utc_s) ? EDT_OFFSET_S : EST_OFFSET_S);
	day_s = local_s - (local_s % SEC_PER_DAY + SEC_PER_DAY) % SEC_PER_DAY; /* floor */
	/* Midnight is never inside a transition (they happen at 02:00), but its
	 * offset may differ from now's: the day a change happens on. */
	mid_s = day_s + EST_OFFSET_S;
	if (eastern_dst(mid_s))
		mid_s = day_s + EDT_OFFSET_S;
	return mid_s * NS_PER_SEC;
}

static int64_t clock_ns(clockid_t id)
{
	struct timespec ts;
	int rc;

	/* Cannot fail for these clocks with a valid pointer. */
	rc = clock_gettime(id, &ts);
	assert(rc == 0);
	(void)rc;
	return (int64_t)ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
}

int64_t timefmt_now_ns(void)
{
	return clock_ns(CLOCK_REALTIME);
}

int64_t timefmt_mono_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}
