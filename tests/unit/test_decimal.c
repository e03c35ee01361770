/* test_decimal.c -- exact parse/format of fixed-point decimals. */
#include <stdlib.h>

#include "trades/decimal.h"
#include "trades/trade.h"

#include "check.h"

struct parse_case {
	const char *in;
	enum dec_err err;
	int64_t v;
	int dp;
};

static const struct parse_case parse_cases[] = {
        {"105944.1", DEC_OK, 10594410000000LL, 1},
        {"100.50", DEC_OK, 10050000000LL, 2},
        {"1.5e-3", DEC_OK, 150000, 4},
        {"1E2", DEC_OK, 10000000000LL, 0},
        {"1.50e1", DEC_OK, 1500000000LL, 1},
        {"1e+2", DEC_OK, 10000000000LL, 0},
        {"0", DEC_OK, 0, 0},
        {"-0", DEC_OK, 0, 0},
        {"-0.5", DEC_OK, -50000000, 1},
        {"007", DEC_OK, 700000000, 0},
        {"0.00000001", DEC_OK, 1, 8},
        {"0.123456780", DEC_OK, 12345678, 8},
        {"1.000000000", DEC_OK, 100000000, 8},
        {"0.12345678000", DEC_OK, 12345678, 8},
        {"1e-8", DEC_OK, 1, 8},
        {"100000000e-16", DEC_OK, 1, 8},
        {"12345678e-16", DEC_PRECISION, 0, 0},
        {"1.5e8", DEC_OK, 15000000000000000LL, 0},
        /* Nine significant fractional digits cannot be exact at scale 8. */
        {"0.123456789", DEC_PRECISION, 0, 0},
        {"0.1234567890", DEC_PRECISION, 0, 0},
        {"1e-9", DEC_PRECISION, 0, 0},
        {"1.5e-400", DEC_PRECISION, 0, 0},
        /* Zero is exact at any exponent. */
        {"0e400", DEC_OK, 0, 0},
        {"0.000e-400", DEC_OK, 0, 8},
        {"-0e-99999999999999999999999", DEC_OK, 0, 8},
        /* int64 edges at scale 8. */
        {"92233720368.54775807", DEC_OK, INT64_MAX, 8},
        {"92233720368.54775808", DEC_RANGE, 0, 0},
        {"-92233720368.54775808", DEC_OK, INT64_MIN, 8},
        {"-92233720368.54775809", DEC_RANGE, 0, 0},
        {"9223372036854775807e-8", DEC_OK, INT64_MAX, 8},
        {"9223372036854775808e-8", DEC_RANGE, 0, 0},
        {"-9223372036854775808e-8", DEC_OK, INT64_MIN, 8},
        {"1e10", DEC_OK, 1000000000000000000LL, 0},
        {"1e11", DEC_RANGE, 0, 0},
        {"1e400", DEC_RANGE, 0, 0},
        {"-1e400", DEC_RANGE, 0, 0},
        {"1e99999999999999999999999999", DEC_RANGE, 0, 0},
        {"99999999999999999999999999999999", DEC_RANGE, 0, 0},
        /* Syntax. */
        {"", DEC_SYNTAX, 0, 0},
        {"-", DEC_SYNTAX, 0, 0},
        {"+1", DEC_SYNTAX, 0, 0},
        {"1.", DEC_SYNTAX, 0, 0},
        {".5", DEC_SYNTAX, 0, 0},
        {"-.5", DEC_SYNTAX, 0, 0},
        {"1e", DEC_SYNTAX, 0, 0},
        {"1e+", DEC_SYNTAX, 0, 0},
        {"1e-", DEC_SYNTAX, 0, 0},
        {" 1", DEC_SYNTAX, 0, 0},
        {"1 ", DEC_SYNTAX, 0, 0},
        {"0x10", DEC_SYNTAX, 0, 0},
        {"1,5", DEC_SYNTAX, 0, 0},
        {"nan", DEC_SYNTAX, 0, 0},
        {"inf", DEC_SYNTAX, 0, 0},
        {"--1", DEC_SYNTAX, 0, 0},
        {"1.2.3", DEC_SYNTAX, 0, 0},
        {"1e2e3", DEC_SYNTAX, 0, 0},
        {"1\\", DEC_SYNTAX, 0, 0},
};

static void test_parse_table(void)
{
	for (size_t i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
		const struct parse_case *c = &parse_cases[i];
		int64_t v = 12345;
		uint8_t dp = 99;
		enum dec_err e = dec_parse(c->in, strlen(c->in), &v, &dp);

		CHECK_EQ_INT(e, c->err);
		if (e != c->err)
			fprintf(stderr, "  input \"%s\"\n", c->in);
		if (c->err == DEC_OK && e == DEC_OK) {
			CHECK_EQ_INT(v, c->v);
			CHECK_EQ_INT(dp, c->dp);
		}
	}
}

/* Parsing reads only [s, s+len): digits right after the span are ignored. */
static void test_parse_span(void)
{
	int64_t v = 0;

	CHECK_EQ_INT(dec_parse("12345", 2, &v, NULL), DEC_OK);
	CHECK_EQ_INT(v, 1200000000);
	CHECK_EQ_INT(dec_parse("1.5xyz", 3, &v, NULL), DEC_OK);
	CHECK_EQ_INT(v, 150000000);
	CHECK_EQ_INT(dec_parse(NULL, 0, &v, NULL), DEC_SYNTAX);
}

struct fmt_case {
	int64_t v;
	unsigned scale, min_dp;
	/* An array, not a pointer: gcc with -fsanitize=null otherwise warns
	 * that CHECK_EQ_STR might print a NULL. */
	char out[DEC_FMT_MAX];
};

static const struct fmt_case fmt_cases[] = {
        {10594410000000LL, 8, 1, "105944.1"},
        {10594410000000LL, 8, 0, "105944.1"},
        {10594410000000LL, 8, 3, "105944.100"},
        {10050000000LL, 8, 2, "100.50"},
        {0, 8, 0, "0"},
        {0, 8, 2, "0.00"},
        {0, 0, 0, "0"},
        {1, 8, 0, "0.00000001"},
        {-1, 8, 0, "-0.00000001"},
        {-50000000, 8, 1, "-0.5"},
        {100000000, 8, 0, "1"},
        {100000000, 8, 8, "1.00000000"},
        {INT64_MAX, 8, 0, "92233720368.54775807"},
        {INT64_MIN, 8, 0, "-92233720368.54775808"},
        {INT64_MIN, 0, 0, "-9223372036854775808"},
        {INT64_MIN, 18, 0, "-9.223372036854775808"},
        {INT64_MAX, 18, 0, "9.223372036854775807"},
        {5, 18, 0, "0.000000000000000005"},
        {123, 2, 0, "1.23"},
        {120, 2, 0, "1.2"},
        {120, 2, 2, "1.20"},
};

static void test_format_table(void)
{
	char buf[DEC_FMT_MAX];

	for (size_t i = 0; i < sizeof(fmt_cases) / sizeof(fmt_cases[0]); i++) {
		const struct fmt_case *c = &fmt_cases[i];
		size_t n = dec_format(c->v, c->scale, c->min_dp, buf);

		CHECK_EQ_STR(buf, c->out);
		CHECK_EQ_INT(n, strlen(c->out));
	}
}

static void test_format128(void)
{
	char buf[DEC_FMT_MAX];
	__int128 max = (__int128)(((unsigned __int128)1 << 127) - 1);
	__int128 min = -max - 1;
	size_t n;

	/* notional = price * qty at scale 16: 105944.1 * 0.5 */
	dec128_format((__int128)10594410000000LL * 50000000, 16, 0, buf);
	CHECK_EQ_STR(buf, "52972.05");
	dec128_format((__int128)10594410000000LL * 50000000, 16, 4, buf);
	CHECK_EQ_STR(buf, "52972.0500");
	dec128_format(0, 16, 0, buf);
	CHECK_EQ_STR(buf, "0");
	dec128_format(-1, 16, 0, buf);
	CHECK_EQ_STR(buf, "-0.0000000000000001");
	n = dec128_format(max, 0, 0, buf);
	CHECK_EQ_STR(buf, "170141183460469231731687303715884105727");
	CHECK_EQ_INT(n, 39);
	n = dec128_format(min, 18, 18, buf);
	CHECK_EQ_STR(buf, "-170141183460469231731.687303715884105728");
	CHECK(n < DEC_FMT_MAX);
	/* Same digits as the 64-bit version wherever both apply. */
	for (size_t i = 0; i < sizeof(fmt_cases) / sizeof(fmt_cases[0]); i++) {
		const struct fmt_case *c = &fmt_cases[i];

		dec128_format(c->v, c->scale, c->min_dp, buf);
		CHECK_EQ_STR(buf, c->out);
	}
}

static void test_div_round(void)
{
	static const struct {
		long long num, den, q;
	} cases[] = {
	        {5, 2, 2},   {7, 2, 4},   {-5, 2, -2}, {-7, 2, -4}, {1, 3, 0},    {2, 3, 1},
	        {-2, 3, -1}, {-1, 3, 0},  {10, 4, 2},  {14, 4, 4},  {-10, 4, -2}, {-14, 4, -4},
	        {9, 3, 3},   {-9, 3, -3}, {0, 7, 0},   {11, 4, 3},  {-11, 4, -3}, {1, 1, 1},
	};
	__int128 max = (__int128)(((unsigned __int128)1 << 127) - 1);

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		CHECK_EQ_INT((long long)dec128_div_round(cases[i].num, cases[i].den), cases[i].q);
	/* No overflow near the top of the range: 2*r would not fit. */
	CHECK(dec128_div_round(max, max) == 1);
	CHECK(dec128_div_round(max - 1, max) == 1);
	CHECK(dec128_div_round(-max - 1, 1) == -max - 1);
	CHECK(dec128_div_round(-max - 1, max) == -1);
	/* (max/2) / max is just under a half: rounds to 0. */
	CHECK(dec128_div_round(max / 2, max) == 0);
	CHECK(dec128_div_round(max / 2 + 1, max) == 1);
}

static void test_err_names(void)
{
	CHECK_EQ_STR(dec_err_name(DEC_OK), "ok");
	CHECK_EQ_STR(dec_err_name(DEC_SYNTAX), "syntax");
	CHECK_EQ_STR(dec_err_name(DEC_PRECISION), "precision");
	CHECK_EQ_STR(dec_err_name(DEC_RANGE), "range");
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
	/* xorshift64*: deterministic, so a failure reproduces. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

/* Any value printed with its dp parses back to itself with that dp. */
static void test_roundtrip_random(void)
{
	char buf[DEC_FMT_MAX];
	int bad = 0;

	for (int i = 0; i < 200000; i++) {
		int64_t v = (int64_t)rng(), back = 0;
		uint8_t dp = (uint8_t)(rng() % 9), dp_back = 0;
		size_t n;

		if (i % 3 == 0)
			v %= 100000000000LL; /* small values too */
		n = dec_format(v, TRADE_SCALE_DIGITS, dp, buf);
		if (dec_parse(buf, n, &back, &dp_back) != DEC_OK || back != v || dp_back < dp)
			bad++;
	}
	CHECK_EQ_INT(bad, 0);
}

/* Random byte strings, biased towards number-like ones: no crash, no UB, and
 * every accepted one is consistent with its printed form. */
static void test_fuzz(void)
{
	static const char alphabet[] = "0123456789012345678900000.-+eE x9";
	char in[48], buf[DEC_FMT_MAX];
	int ok = 0, bad = 0;

	for (int i = 0; i < 300000; i++) {
		size_t len = rng() % sizeof(in);
		int64_t v = 0, back = 0;
		uint8_t dp = 0, dp2 = 0;
		char *heap;

		for (size_t k = 0; k < len; k++)
			in[k] = i % 4 == 0 ? (char)rng() : alphabet[rng() % (sizeof(alphabet) - 1)];
		/* Exactly sized copy so ASan sees any read past the end. */
		heap = malloc(len ? len : 1);
		memcpy(heap, in, len);
		if (dec_parse(heap, len, &v, &dp) == DEC_OK) {
			size_t n = dec_format(v, TRADE_SCALE_DIGITS, dp, buf);

			ok++;
			if (dec_parse(buf, n, &back, &dp2) != DEC_OK || back != v || dp2 != dp)
				bad++;
		}
		free(heap);
	}
	CHECK(ok > 1000); /* the generator does produce valid numbers */
	CHECK_EQ_INT(bad, 0);
}

int main(void)
{
	test_parse_table();
	test_parse_span();
	test_format_table();
	test_format128();
	test_div_round();
	test_err_names();
	test_roundtrip_random();
	test_fuzz();
	CHECK_DONE();
}
