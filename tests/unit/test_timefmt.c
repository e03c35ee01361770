/* test_timefmt.c -- RFC 3339 parse/format against the calendar and libc. */
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "trades/timefmt.h"

#include "check.h"

#define NS 1000000000LL

/* Parses s from an exactly sized heap copy, so ASan catches any overread. */
static int parse(const char *s, int64_t *ns, uint8_t *digits)
{
	size_t len = strlen(s);
	char *copy = malloc(len ? len : 1);
	int rc;

	memcpy(copy, s, len);
	rc = timefmt_parse(copy, len, ns, digits);
	free(copy);
	return rc;
}

struct ok_case {
	const char *in;
	int64_t ns;
	int digits;
};

static const struct ok_case ok_cases[] = {
        {"2025-01-02T03:04:05.123Z", 1735787045123000000LL, 3},
        {"2025-01-02T03:04:05Z", 1735787045000000000LL, 0},
        {"2025-01-02t03:04:05.123z", 1735787045123000000LL, 3},
        {"2025-01-02 03:04:05.123Z", 1735787045123000000LL, 3},
        {"2025-01-02T04:04:05.123+01:00", 1735787045123000000LL, 3},
        {"2025-01-01T21:34:05.123-05:30", 1735787045123000000LL, 3},
        {"2025-01-02T03:04:05.1Z", 1735787045100000000LL, 1},
        {"2025-01-02T03:04:05.000000001Z", 1735787045000000001LL, 9},
        {"2025-01-02T03:04:05.120Z", 1735787045120000000LL, 3},
        {"1970-01-01T00:00:00Z", 0, 0},
        {"1970-01-01T01:00:00+01:00", 0, 0},
        {"1970-01-01T00:00:00.000000000Z", 0, 9},
        {"2000-02-29T12:00:00Z", 951825600LL * NS, 0},
        {"2024-02-29T00:00:00Z", 1709164800LL * NS, 0},
        {"2024-12-31T23:59:59.999999999Z", 1735689599LL * NS + 999999999, 9},
        {"2262-04-11T23:47:16.854775807Z", INT64_MAX, 9},
        {"2262-04-12T00:47:16.854775807+01:00", INT64_MAX, 9},
};

static const char *const bad_cases[] = {
        "",
        "2025-01-02T03:04:05",             /* no zone */
        "2025-01-02T03:04:05.Z",           /* '.' without digits */
        "2025-01-02T03:04:05.1234567890Z", /* 10 digits */
        "2025-01-02T03:04:05.123",
        "2025-01-02X03:04:05Z",
        "2025-1-02T03:04:05Z",
        "2025-01-02T3:04:05Z",
        "2025/01/02T03:04:05Z",
        "2025-01-02T03:04:05+0100",
        "2025-01-02T03:04:05+01:00x",
        "2025-01-02T03:04:05Zx",
        "2025-01-02T03:04:05+24:00",
        "2025-01-02T03:04:05+01:60",
        "2025-01-02T03:04:05 Z",
        " 2025-01-02T03:04:05Z",
        "2023-02-29T00:00:00Z",
        "2100-02-29T00:00:00Z",
        "2025-04-31T00:00:00Z",
        "2025-13-01T00:00:00Z",
        "2025-00-10T00:00:00Z",
        "2025-01-00T00:00:00Z",
        "2025-01-32T00:00:00Z",
        "2025-01-02T24:00:00Z",
        "2025-01-02T23:60:00Z",
        "2025-01-02T23:59:60Z",
        "1969-12-31T23:59:59Z",
        "1970-01-01T00:00:00+00:01", /* before the epoch */
        "2263-01-01T00:00:00Z",
        "2262-04-11T23:47:16.854775808Z", /* one past INT64_MAX */
        "2262-12-31T00:00:00Z",
        "+025-01-02T03:04:05Z",
        "2025-01-02T03:04:05.12a4Z",
        "2025-01-02T03:04:05,123Z",
};

static void test_parse_cases(void)
{
	for (size_t i = 0; i < sizeof(ok_cases) / sizeof(ok_cases[0]); i++) {
		int64_t ns = -1;
		uint8_t d = 99;

		CHECK_EQ_INT(parse(ok_cases[i].in, &ns, &d), 0);
		CHECK_EQ_INT(ns, ok_cases[i].ns);
		CHECK_EQ_INT(d, ok_cases[i].digits);
	}
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		int64_t ns = 0;
		uint8_t d = 0;
		int rc = parse(bad_cases[i], &ns, &d);

		CHECK_EQ_INT(rc, -1);
		if (rc != -1)
			fprintf(stderr, "  accepted \"%s\"\n", bad_cases[i]);
	}
	/* Only [s, s+len) is read: a valid prefix of a longer buffer. */
	{
		int64_t ns = 0;
		uint8_t d = 0;

		CHECK_EQ_INT(timefmt_parse("2025-01-02T03:04:05Z trailing", 20, &ns, &d), 0);
		CHECK_EQ_INT(ns, 1735787045LL * NS);
	}
}

static void test_format_cases(void)
{
	char buf[TIMEFMT_MAX];

	CHECK_EQ_INT(timefmt_format(1735787045123000000LL, 3, buf), 24);
	CHECK_EQ_STR(buf, "2025-01-02T03:04:05.123Z");
	timefmt_format(1735787045123000000LL, 0, buf);
	CHECK_EQ_STR(buf, "2025-01-02T03:04:05Z");
	timefmt_format(1735787045123000000LL, 9, buf);
	CHECK_EQ_STR(buf, "2025-01-02T03:04:05.123000000Z");
	/* Truncated, never rounded up into the next second. */
	timefmt_format(1735787045999999999LL, 3, buf);
	CHECK_EQ_STR(buf, "2025-01-02T03:04:05.999Z");
	timefmt_format(0, 1, buf);
	CHECK_EQ_STR(buf, "1970-01-01T00:00:00.0Z");
	CHECK_EQ_INT(timefmt_format(INT64_MAX, 9, buf), 30);
	CHECK_EQ_STR(buf, "2262-04-11T23:47:16.854775807Z");
	/* Before the epoch (not produced by parse, but must still print sanely). */
	timefmt_format(-1, 9, buf);
	CHECK_EQ_STR(buf, "1969-12-31T23:59:59.999999999Z");
	timefmt_format(INT64_MIN, 9, buf);
	CHECK_EQ_STR(buf, "1677-09-21T00:12:43.145224192Z");
}

static int days_in_month(int y, int m)
{
	static const int len[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : len[m - 1];
}

/* Walks every day from 1970-01-01 to 2262-04-11 with a naive calendar and
 * checks both directions at each midnight. */
static void test_every_day(void)
{
	int y = 1970, m = 1, d = 1, bad = 0;
	char want[64], buf[TIMEFMT_MAX];

	for (int64_t day = 0; day <= 106751; day++) {
		int64_t ns = -1;
		uint8_t digits = 99;

		snprintf(want, sizeof(want), "%04d-%02d-%02dT00:00:00Z", y, m, d);
		timefmt_format(day * 86400 * NS, 0, buf);
		if (strcmp(buf, want) != 0 ||
		    timefmt_parse(want, strlen(want), &ns, &digits) != 0 ||
		    ns != day * 86400 * NS || digits != 0) {
			if (bad++ < 5)
				fprintf(stderr, "  day %lld: %s vs %s\n", (long long)day, buf,
				        want);
		}
		if (++d > days_in_month(y, m)) {
			d = 1;
			if (++m > 12) {
				m = 1;
				y++;
			}
		}
	}
	CHECK_EQ_INT(bad, 0);
	CHECK_EQ_INT(y, 2262);
	CHECK_EQ_INT(m, 4);
	CHECK_EQ_INT(d, 12);
}

static uint64_t rng_state = 0x243f6a8885a308d3ull;

static uint64_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

/* Random instants: format agrees with libc's gmtime_r, and parse inverts
 * format at every precision (to the precision printed). */
static void test_random_roundtrip(void)
{
	static const int64_t pow10[10] = {NS,          NS / 10, NS / 100, NS / 1000, NS / 10000,
	                                  NS / 100000, 1000,    100,      10,        1};
	int bad_libc = 0, bad_rt = 0;

	for (int i = 0; i < 200000; i++) {
		int64_t ns = (int64_t)(rng() >> 1), back = -1;
		unsigned digits = (unsigned)(rng() % 10);
		char buf[TIMEFMT_MAX], want[TIMEFMT_MAX];
		time_t secs = (time_t)(ns / NS);
		struct tm tm;
		uint8_t d = 99;
		size_t n;

		gmtime_r(&secs, &tm);
		strftime(want, sizeof(want), "%Y-%m-%dT%H:%M:%S", &tm);
		n = timefmt_format(ns, digits, buf);
		if (strncmp(buf, want, 19) != 0)
			bad_libc++;
		if (timefmt_parse(buf, n, &back, &d) != 0 || d != digits ||
		    back != ns - ns % pow10[digits])
			bad_rt++;
	}
	CHECK_EQ_INT(bad_libc, 0);
	CHECK_EQ_INT(bad_rt, 0);
}

/* Mutated valid timestamps: never crash, never read past the end, and
 * anything accepted prints back to a timestamp that parses to the same ns. */
static void test_mutations(void)
{
	static const char base[] = "2024-02-29T23:59:59.123456789+05:45";
	static const char bytes[] = "0123456789-:T.Z+ tz\x00\xff";
	int bad = 0, accepted = 0;

	for (int i = 0; i < 100000; i++) {
		size_t len = sizeof(base) - 1 - rng() % 8;
		char *s = malloc(len);
		int64_t ns, back;
		uint8_t d, d2;

		memcpy(s, base, len);
		for (int k = (int)(rng() % 3); k >= 0; k--)
			s[rng() % len] = bytes[rng() % (sizeof(bytes) - 1)];
		if (timefmt_parse(s, len, &ns, &d) == 0) {
			char buf[TIMEFMT_MAX];
			size_t n = timefmt_format(ns, d, buf);

			accepted++;
			if (timefmt_parse(buf, n, &back, &d2) != 0 || back != ns || d2 != d)
				bad++;
		}
		free(s);
	}
	CHECK(accepted > 100);
	CHECK_EQ_INT(bad, 0);
}

static void test_clocks(void)
{
	int64_t a = timefmt_mono_ns(), b = timefmt_mono_ns();

	/* 2020-01-01 < now < 2262: the realtime clock is in ns since the epoch. */
	CHECK(timefmt_now_ns() > 1577836800LL * NS);
	CHECK(b >= a);
	CHECK(a > 0);
}

/* ---- US Eastern midnight without a time zone database ---- */

static int64_t at(const char *rfc3339)
{
	int64_t ns = -1;
	uint8_t digits;

	CHECK_EQ_INT(timefmt_parse(rfc3339, strlen(rfc3339), &ns, &digits), 0);
	return ns;
}

static const struct {
	const char *now, *midnight;
} eastern_cases[] = {
        /* 00:00-05:00 UTC is still the previous day in New York */
        {"2025-12-02T02:00:00Z", "2025-12-01T05:00:00Z"},
        {"2025-12-02T04:59:59Z", "2025-12-01T05:00:00Z"},
        {"2025-12-02T05:00:00Z", "2025-12-02T05:00:00Z"},
        {"2025-12-02T00:00:00Z", "2025-12-01T05:00:00Z"},
        {"2025-07-15T03:30:00Z", "2025-07-14T04:00:00Z"},
        {"2025-07-15T04:00:00Z", "2025-07-15T04:00:00Z"},
        {"2025-01-01T03:00:00Z", "2024-12-31T05:00:00Z"}, /* across a year */
        /* DST starts 2025-03-09 02:00 EST (07:00 UTC) */
        {"2025-03-09T04:59:59Z", "2025-03-08T05:00:00Z"},
        {"2025-03-09T05:00:00Z", "2025-03-09T05:00:00Z"},
        {"2025-03-09T06:59:59Z", "2025-03-09T05:00:00Z"},
        {"2025-03-09T07:00:00Z", "2025-03-09T05:00:00Z"},
        {"2025-03-10T03:59:59Z", "2025-03-09T05:00:00Z"},
        {"2025-03-10T04:00:00Z", "2025-03-10T04:00:00Z"},
        /* DST ends 2025-11-02 02:00 EDT (06:00 UTC) */
        {"2025-11-02T03:59:59Z", "2025-11-01T04:00:00Z"},
        {"2025-11-02T04:00:00Z", "2025-11-02T04:00:00Z"},
        {"2025-11-02T05:30:00Z", "2025-11-02T04:00:00Z"},
        {"2025-11-02T06:30:00Z", "2025-11-02T04:00:00Z"},
        {"2025-11-03T04:59:59Z", "2025-11-02T04:00:00Z"},
        {"2025-11-03T05:00:00Z", "2025-11-03T05:00:00Z"},
        /* the 1987-2006 rule: 2006-04-02 and 2006-10-29 */
        {"2006-04-02T06:59:59Z", "2006-04-02T05:00:00Z"},
        {"2006-04-03T03:00:00Z", "2006-04-02T05:00:00Z"},
        {"2006-03-12T12:00:00Z", "2006-03-12T05:00:00Z"}, /* not yet DST in 2006 */
        {"2006-10-29T05:00:00Z", "2006-10-29T04:00:00Z"},
        {"2006-10-30T04:30:00Z", "2006-10-29T04:00:00Z"},
};

/* Every 20 minutes of 2005..2031 against libc with the real tz database. */
static void eastern_vs_tzdata(void)
{
	const int64_t step = 20 * 60, from = at("2005-01-01T00:00:00Z") / 1000000000;
	const int64_t to = at("2031-01-01T00:00:00Z") / 1000000000;
	int64_t t, bad = 0;

	setenv("TZ", "America/New_York", 1);
	tzset();
	for (t = from; t < to; t += step) {
		time_t now = (time_t)t, mid;
		struct tm tm;

		localtime_r(&now, &tm);
		tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
		tm.tm_isdst = -1;
		mid = mktime(&tm);
		if ((int64_t)mid * 1000000000 != timefmt_eastern_midnight_ns(t * 1000000000) &&
		    bad++ < 5)
			fprintf(stderr, "eastern midnight at %lld: libc %lld, ours %lld\n",
			        (long long)t, (long long)mid,
			        (long long)(timefmt_eastern_midnight_ns(t * 1000000000) /
			                    1000000000));
	}
	CHECK_EQ_INT(bad, 0);
	unsetenv("TZ");
	tzset();
}

static void test_eastern_midnight(void)
{
	char empty[] = "/tmp/test_timefmt.XXXXXX";
	unsigned i;

	/* No tz database at all: TZDIR at an empty directory, TZ set anyway. */
	CHECK(mkdtemp(empty) != NULL);
	setenv("TZDIR", empty, 1);
	setenv("TZ", "America/New_York", 1);
	tzset();
	for (i = 0; i < sizeof(eastern_cases) / sizeof(eastern_cases[0]); i++) {
		int64_t got = timefmt_eastern_midnight_ns(at(eastern_cases[i].now));
		char buf[TIMEFMT_MAX];

		timefmt_format(got, 0, buf);
		if (strcmp(buf, eastern_cases[i].midnight) != 0)
			fprintf(stderr, "eastern midnight at %s: %s, want %s\n",
			        eastern_cases[i].now, buf, eastern_cases[i].midnight);
		CHECK_EQ_STR(buf, eastern_cases[i].midnight);
	}
	unsetenv("TZDIR");
	unsetenv("TZ");
	tzset();
	CHECK(rmdir(empty) == 0);
	if (access("/usr/share/zoneinfo/America/New_York", R_OK) == 0)
		eastern_vs_tzdata();
	else
		printf("note: no /usr/share/zoneinfo/America/New_York (Debian package tzdata): "
		       "the comparison with libc is not run\n");
}

int main(void)
{
	test_parse_cases();
	test_format_cases();
	test_every_day();
	test_random_roundtrip();
	test_mutations();
	test_clocks();
	test_eastern_midnight();
	CHECK_DONE();
}
