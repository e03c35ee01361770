/* test_jsonl.c -- the JSON-lines decoder and the stream line framer. */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "trades/jsonl.h"
#include "trades/log.h"

#include "check.h"

#define NS 1000000000LL
#define E8 100000000LL

/* Parses s from an exactly sized heap copy so ASan reports any read outside
 * [line, line+len).  *copy_out keeps the copy alive for pair checks. */
static enum malformed parse_n(const char *s, size_t len, struct jsonl_trade *out, char **copy_out)
{
	char *copy = malloc(len ? len : 1);
	enum malformed m;

	memcpy(copy, s, len);
	m = jsonl_parse(copy, len, out);
	if (copy_out) {
		*copy_out = copy;
	} else {
		free(copy);
	}
	return m;
}

static enum malformed parse(const char *s, struct jsonl_trade *out)
{
	return parse_n(s, strlen(s), out, NULL);
}

static void test_full_line(void)
{
	static const char line[] =
	        "{\"pair\":\"BTC/USD\",\"price\":105944.1,\"volume\":\"0.5\","
	        "\"timestamp\":\"2025-01-02T03:04:05.123Z\",\"timestamp_ms\":1735787045123,"
	        "\"side\":\"buy\",\"trade_id\":42,\"seq\":7}";
	struct jsonl_trade jt;
	char *copy;

	CHECK_EQ_INT(parse_n(line, sizeof(line) - 1, &jt, &copy), MALFORMED_NONE);
	CHECK_EQ_INT(jt.pair_len, 7);
	CHECK(jt.pair == copy + 9); /* points into the line, not a copy */
	CHECK(memcmp(jt.pair, "BTC/USD", 7) == 0);
	CHECK_EQ_INT(jt.t.price, 10594410000000LL);
	CHECK_EQ_INT(jt.t.price_dp, 1);
	CHECK_EQ_INT(jt.t.qty, 50000000);
	CHECK_EQ_INT(jt.t.qty_dp, 1);
	CHECK_EQ_INT(jt.t.ts_exch_ns, 1735787045123000000LL);
	CHECK_EQ_INT(jt.t.ts_digits, 3);
	CHECK_EQ_INT(jt.t.side, TRADE_SIDE_BUY);
	CHECK_EQ_INT(jt.t.trade_id, 42);
	CHECK_EQ_INT(jt.t.seq, 7);
	CHECK_EQ_INT(jt.t.flags, TRADE_F_HAS_TS | TRADE_F_HAS_ID | TRADE_F_HAS_SEQ);
	CHECK_EQ_INT(jt.t.instrument, 0);
	CHECK_EQ_INT(jt.t.feed, 0);
	CHECK_EQ_INT(jt.t.ts_rx_ns, 0);
	free(copy);
}

static void test_minimal_and_optional(void)
{
	struct jsonl_trade jt;

	/* timestamp_ms alone, as a number and as a string. */
	CHECK_EQ_INT(
	        parse("{\"pair\":\"X\",\"price\":\"1\",\"volume\":2,\"timestamp_ms\":1500}", &jt),
	        MALFORMED_NONE);
	CHECK_EQ_INT(jt.t.ts_exch_ns, 1500000000LL);
	CHECK_EQ_INT(jt.t.ts_digits, 3);
	CHECK_EQ_INT(jt.t.side, TRADE_SIDE_UNKNOWN);
	CHECK_EQ_INT(jt.t.flags, TRADE_F_HAS_TS);
	CHECK_EQ_INT(jt.t.price, E8);
	CHECK_EQ_INT(jt.t.price_dp, 0);
	CHECK_EQ_INT(parse("{\"pair\":\"X\",\"price\":1,\"volume\":2,\"timestamp_ms\":\"0\"}", &jt),
	             MALFORMED_NONE);
	CHECK_EQ_INT(jt.t.ts_exch_ns, 0);
	/* Both: timestamp wins, with its own precision. */
	CHECK_EQ_INT(parse("{\"timestamp_ms\":1,\"pair\":\"X\",\"price\":1,\"volume\":2,"
	                   "\"timestamp\":\"2025-01-02T03:04:05.123456Z\"}",
	                   &jt),
	             MALFORMED_NONE);
	CHECK_EQ_INT(jt.t.ts_exch_ns, 1735787045123456000LL);
	CHECK_EQ_INT(jt.t.ts_digits, 6);
	/* Largest timestamp_ms whose ns fits int64. */
	CHECK_EQ_INT(
	        parse("{\"pair\":\"X\",\"price\":1,\"volume\":2,\"timestamp_ms\":9223372036854}",
	              &jt),
	        MALFORMED_NONE);
	CHECK_EQ_INT(jt.t.ts_exch_ns, 9223372036854000000LL);
	/* Optional keys as null; ids as digit strings; zero ids mean none. */
	CHECK_EQ_INT(parse("{\"pair\":\"X\",\"price\":-1.5,\"volume\":2,\"timestamp_ms\":1,"
	                   "\"side\":null,\"trade_id\":null,\"seq\":null,\"timestamp\":null}",
	                   &jt),
	             MALFORMED_NONE);
	CHECK_EQ_INT(jt.t.flags, TRADE_F_HAS_TS);
	CHECK_EQ_INT(jt.t.price, -150000000);
	CHECK_EQ_INT(parse("{\"pair\":\"X\",\"price\":1,\"volume\":2,\"timestamp_ms\":1,"
	                   "\"trade_id\":\"18446744073709551615\",\"seq\":\"0\"}",
	                   &jt),
	             MALFORMED_NONE);
	CHECK(jt.t.trade_id == UINT64_MAX);
	CHECK_EQ_INT(jt.t.flags, TRADE_F_HAS_TS | TRADE_F_HAS_ID);
	CHECK_EQ_INT(parse("{\"pair\":\"X\",\"price\":1,\"volume\":2,\"timestamp_ms\":1,"
	                   "\"trade_id\":0,\"seq\":007}",
	                   &jt),
	             MALFORMED_NONE);
	CHECK_EQ_INT(jt.t.flags, TRADE_F_HAS_TS | TRADE_F_HAS_SEQ);
	CHECK_EQ_INT(jt.t.seq, 7);
	/* Longest pair; printable ASCII edges. */
	CHECK_EQ_INT(parse("{\"pair\":\"!23456789012345678901234567890~\",\"price\":1,"
	                   "\"volume\":2,\"timestamp_ms\":1}",
	                   &jt),
	             MALFORMED_NONE);
	CHECK_EQ_INT(jt.pair_len, TRADE_SYMBOL_MAX);
}

static void test_sides(void)
{
	static const struct {
		const char *side;
		enum malformed m;
		int want;
	} cases[] = {
	        {"\"buy\"", MALFORMED_NONE, TRADE_SIDE_BUY},
	        {"\"BUY\"", MALFORMED_NONE, TRADE_SIDE_BUY},
	        {"\"b\"", MALFORMED_NONE, TRADE_SIDE_BUY},
	        {"\"B\"", MALFORMED_NONE, TRADE_SIDE_BUY},
	        {"\"sell\"", MALFORMED_NONE, TRADE_SIDE_SELL},
	        {"\"SeLl\"", MALFORMED_NONE, TRADE_SIDE_SELL},
	        {"\"s\"", MALFORMED_NONE, TRADE_SIDE_SELL},
	        {"\"S\"", MALFORMED_NONE, TRADE_SIDE_SELL},
	        {"\"\"", MALFORMED_NONE, TRADE_SIDE_UNKNOWN},
	        {"\"unknown\"", MALFORMED_NONE, TRADE_SIDE_UNKNOWN},
	        {"null", MALFORMED_NONE, TRADE_SIDE_UNKNOWN},
	        {"\"bid\"", MALFORMED_BAD_SIDE, 0},
	        {"\"buy \"", MALFORMED_BAD_SIDE, 0},
	        {"\"bu\"", MALFORMED_BAD_SIDE, 0},
	        {"\"b\\u0075y\"", MALFORMED_BAD_SIDE, 0},
	        {"1", MALFORMED_BAD_SIDE, 0},
	        {"true", MALFORMED_BAD_SIDE, 0},
	        {"[\"buy\"]", MALFORMED_BAD_SIDE, 0},
	};
	char line[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct jsonl_trade jt;
		enum malformed m;

		snprintf(line, sizeof(line),
		         "{\"pair\":\"X\",\"price\":1,\"volume\":1,\"timestamp_ms\":1,\"side\":%s}",
		         cases[i].side);
		m = parse(line, &jt);
		CHECK_EQ_INT(m, cases[i].m);
		if (m == MALFORMED_NONE)
			CHECK_EQ_INT(jt.t.side, cases[i].want);
	}
}

struct bad_case {
	const char *line;
	enum malformed m;
};

/* A line with every field valid: the cases below break one thing at a time. */
#define OK_TAIL ",\"timestamp_ms\":1}"
static const struct bad_case bad_cases[] = {
        /* syntax */
        {"", MALFORMED_SYNTAX},
        {"   \t ", MALFORMED_SYNTAX},
        {"\r", MALFORMED_SYNTAX},
        {"{", MALFORMED_SYNTAX},
        {"}", MALFORMED_SYNTAX},
        {"[]", MALFORMED_SYNTAX},
        {"null", MALFORMED_SYNTAX},
        {"\"pair\"", MALFORMED_SYNTAX},
        {"{}x", MALFORMED_SYNTAX},
        {"{} {}", MALFORMED_SYNTAX},
        {"{\"pair\":\"X\"", MALFORMED_SYNTAX},
        {"{\"pair\":\"X\",}", MALFORMED_SYNTAX},
        {"{\"pair\" \"X\"}", MALFORMED_SYNTAX},
        {"{\"pair\":}", MALFORMED_SYNTAX},
        {"{,\"pair\":\"X\"}", MALFORMED_SYNTAX},
        {"{'pair':'X'}", MALFORMED_SYNTAX},
        {"{pair:\"X\"}", MALFORMED_SYNTAX},
        {"{\"pair\":\"X\" \"price\":1}", MALFORMED_SYNTAX},
        {"{\"pair\":\"X\nY\",\"price\":1,\"volume\":1" OK_TAIL, MALFORMED_SYNTAX},
        {"{\"pair\":\"X\tY\",\"price\":1,\"volume\":1" OK_TAIL, MALFORMED_SYNTAX},
        {"{\"pair\":\"X\",\"price\":1,\"volume\":1,\"x\":\"\\q\"" OK_TAIL, MALFORMED_SYNTAX},
        {"{\"pair\":\"X\",\"price\":1,\"volume\":1,\"x\":\"\\u12\"" OK_TAIL, MALFORMED_SYNTAX},
        {"{\"pair\":\"X\",\"price\":1,\"volume\":1,\"x\":\"\\u12g4\"" OK_TAIL, MALFORMED_SYNTAX},
        {"{\"pair\":\"X\",\"price\":1,\"volume\":1,\"x\":\"abc\\\"}", MALFORMED_SYNTAX},
        {"{\"pair\":\"X\",\"price\":1.,\"volume\":1" OK_TAIL, MALFORMED_SYNTAX},
        {"{\"pair\":\"X\",\"price\":.5,\"volume\":1" OK_TAIL, MALFORMED_SYNTAX},
        {"{\"pair\":\"X\",\"price\":+1,\"volume\":1" OK_TAIL, MALFORMED_SYNTAX},
        {"{\"pair\":\"X\",\"price\":-,\"volume\":1" OK_TAIL, MALFORMED_SYNTAX},
        {"{\"pair\":\"X\",\"price\":1e,\"volume\":1" OK_TAIL, MALFORMED_SYNTAX},
        {"{\"pair\":\"X\",\"price\":1x,\"volume\":1" OK_TAIL, MALFORMED_SYNTAX},
        {"{\"pair\":\"X\",\"price\":NaN,\"volume\":1" OK_TAIL, MALFORMED_SYNTAX},
        {"{\"pair\":\"X\",\"price\":0x10,\"volume\":1" OK_TAIL, MALFORMED_SYNTAX},
        {"{\"pair\":\"X\",\"price\":1,\"volume\":1,\"x\":tru" OK_TAIL, MALFORMED_SYNTAX},
        {"{\"pair\":\"X\",\"price\":1,\"volume\":1,\"x\":nul" OK_TAIL, MALFORMED_SYNTAX},
        {"{\"pair\":\"X\",\"price\":1,\"volume\":1,\"x\":[1,]" OK_TAIL, MALFORMED_SYNTAX},
        {"{\"pair\":\"X\",\"price\":1,\"volume\":1,\"x\":[1 2]" OK_TAIL, MALFORMED_SYNTAX},
        {"{\"pair\":\"X\",\"price\":1,\"volume\":1,\"x\":{\"a\"}" OK_TAIL, MALFORMED_SYNTAX},
        {"{\"pair\":\"X\",\"price\":1,\"volume\":1,\"x\":{1:2}" OK_TAIL, MALFORMED_SYNTAX},
        {"{\"pair\":\"X\",\"price\":1,\"volume\":1,\"x\":[}" OK_TAIL, MALFORMED_SYNTAX},
        {"{\"pair\":\"X\",\"price\":1,\"volume\":1,\"x\":{]" OK_TAIL, MALFORMED_SYNTAX},
        {"{\"pair\":\"X\",\"price\":1,\"volume\":1,\"x\":[[]" OK_TAIL, MALFORMED_SYNTAX},
        /* syntax wins over every other problem */
        {"{\"pair\":1,\"pair\":2,", MALFORMED_SYNTAX},
        /* duplicates, even when equal or null */
        {"{\"pair\":\"X\",\"pair\":\"X\",\"price\":1,\"volume\":1" OK_TAIL,
         MALFORMED_DUPLICATE_KEY},
        {"{\"pair\":\"X\",\"price\":1,\"volume\":1,\"side\":null,\"side\":\"b\"" OK_TAIL,
         MALFORMED_DUPLICATE_KEY},
        {"{\"pair\":\"X\",\"price\":1,\"volume\":1,\"timestamp_ms\":2" OK_TAIL,
         MALFORMED_DUPLICATE_KEY},
        {"{\"price\":\"bad\",\"price\":1,\"volume\":1" OK_TAIL, MALFORMED_DUPLICATE_KEY},
        /* pair */
        {"{\"price\":1,\"volume\":1" OK_TAIL, MALFORMED_MISSING_PAIR},
        {"{\"pair\":null,\"price\":1,\"volume\":1" OK_TAIL, MALFORMED_MISSING_PAIR},
        {"{\"p\\u0061ir\":\"X\",\"price\":1,\"volume\":1" OK_TAIL, MALFORMED_MISSING_PAIR},
        {"{\"pair\":\"\",\"price\":1,\"volume\":1" OK_TAIL, MALFORMED_BAD_PAIR},
        {"{\"pair\":\"A B\",\"price\":1,\"volume\":1" OK_TAIL, MALFORMED_BAD_PAIR},
        {"{\"pair\":\"A\\/B\",\"price\":1,\"volume\":1" OK_TAIL, MALFORMED_BAD_PAIR},
        {"{\"pair\":\"A\xc3\xa9\",\"price\":1,\"volume\":1" OK_TAIL, MALFORMED_BAD_PAIR},
        {"{\"pair\":\"A\x7f\",\"price\":1,\"volume\":1" OK_TAIL, MALFORMED_BAD_PAIR},
        {"{\"pair\":\"12345678901234567890123456789012\",\"price\":1,\"volume\":1" OK_TAIL,
         MALFORMED_BAD_PAIR},
        {"{\"pair\":7,\"price\":1,\"volume\":1" OK_TAIL, MALFORMED_BAD_PAIR},
        {"{\"pair\":[\"X\"],\"price\":1,\"volume\":1" OK_TAIL, MALFORMED_BAD_PAIR},
        /* price */
        {"{\"pair\":\"X\",\"volume\":1" OK_TAIL, MALFORMED_MISSING_PRICE},
        {"{\"pair\":\"X\",\"price\":null,\"volume\":1" OK_TAIL, MALFORMED_MISSING_PRICE},
        {"{\"pair\":\"X\",\"price\":\"\",\"volume\":1" OK_TAIL, MALFORMED_BAD_PRICE},
        {"{\"pair\":\"X\",\"price\":\"1.\",\"volume\":1" OK_TAIL, MALFORMED_BAD_PRICE},
        {"{\"pair\":\"X\",\"price\":\" 1\",\"volume\":1" OK_TAIL, MALFORMED_BAD_PRICE},
        {"{\"pair\":\"X\",\"price\":\"abc\",\"volume\":1" OK_TAIL, MALFORMED_BAD_PRICE},
        {"{\"pair\":\"X\",\"price\":true,\"volume\":1" OK_TAIL, MALFORMED_BAD_PRICE},
        {"{\"pair\":\"X\",\"price\":{},\"volume\":1" OK_TAIL, MALFORMED_BAD_PRICE},
        {"{\"pair\":\"X\",\"price\":0.123456789,\"volume\":1" OK_TAIL, MALFORMED_PRICE_PRECISION},
        {"{\"pair\":\"X\",\"price\":\"1e-9\",\"volume\":1" OK_TAIL, MALFORMED_PRICE_PRECISION},
        {"{\"pair\":\"X\",\"price\":1e400,\"volume\":1" OK_TAIL, MALFORMED_PRICE_RANGE},
        {"{\"pair\":\"X\",\"price\":92233720368.54775808,\"volume\":1" OK_TAIL,
         MALFORMED_PRICE_RANGE},
        /* volume */
        {"{\"pair\":\"X\",\"price\":1" OK_TAIL, MALFORMED_MISSING_VOLUME},
        {"{\"pair\":\"X\",\"price\":1,\"volume\":null" OK_TAIL, MALFORMED_MISSING_VOLUME},
        {"{\"pair\":\"X\",\"price\":1,\"volume\":\"x\"" OK_TAIL, MALFORMED_BAD_VOLUME},
        {"{\"pair\":\"X\",\"price\":1,\"volume\":false" OK_TAIL, MALFORMED_BAD_VOLUME},
        {"{\"pair\":\"X\",\"price\":1,\"volume\":1.000000001" OK_TAIL, MALFORMED_VOLUME_PRECISION},
        {"{\"pair\":\"X\",\"price\":1,\"volume\":1e12" OK_TAIL, MALFORMED_VOLUME_RANGE},
        {"{\"pair\":\"X\",\"price\":1,\"volume\":0" OK_TAIL, MALFORMED_VOLUME_RANGE},
        {"{\"pair\":\"X\",\"price\":1,\"volume\":\"-0.0\"" OK_TAIL, MALFORMED_VOLUME_RANGE},
        {"{\"pair\":\"X\",\"price\":1,\"volume\":-1" OK_TAIL, MALFORMED_VOLUME_RANGE},
        /* time */
        {"{\"pair\":\"X\",\"price\":1,\"volume\":1}", MALFORMED_MISSING_TIME},
        {"{\"pair\":\"X\",\"price\":1,\"volume\":1,\"timestamp\":null,\"timestamp_ms\":null}",
         MALFORMED_MISSING_TIME},
        {"{\"pair\":\"X\",\"price\":1,\"volume\":1,\"timestamp\":\"2025-01-02\"" OK_TAIL,
         MALFORMED_BAD_TIMESTAMP},
        {"{\"pair\":\"X\",\"price\":1,\"volume\":1,\"timestamp\":1735787045123" OK_TAIL,
         MALFORMED_BAD_TIMESTAMP},
        {"{\"pair\":\"X\",\"price\":1,\"volume\":1,\"timestamp\":\"1969-12-31T23:59:59Z\"}",
         MALFORMED_BAD_TIMESTAMP},
        {"{\"pair\":\"X\",\"price\":1,\"volume\":1,\"timestamp_ms\":-1}",
         MALFORMED_BAD_TIMESTAMP_MS},
        {"{\"pair\":\"X\",\"price\":1,\"volume\":1,\"timestamp_ms\":1.5}",
         MALFORMED_BAD_TIMESTAMP_MS},
        {"{\"pair\":\"X\",\"price\":1,\"volume\":1,\"timestamp_ms\":1e3}",
         MALFORMED_BAD_TIMESTAMP_MS},
        {"{\"pair\":\"X\",\"price\":1,\"volume\":1,\"timestamp_ms\":\"\"}",
         MALFORMED_BAD_TIMESTAMP_MS},
        {"{\"pair\":\"X\",\"price\":1,\"volume\":1,\"timestamp_ms\":\" 1\"}",
         MALFORMED_BAD_TIMESTAMP_MS},
        {"{\"pair\":\"X\",\"price\":1,\"volume\":1,\"timestamp_ms\":true}",
         MALFORMED_BAD_TIMESTAMP_MS},
        {"{\"pair\":\"X\",\"price\":1,\"volume\":1,\"timestamp_ms\":9223372036855}",
         MALFORMED_BAD_TIMESTAMP_MS},
        {"{\"pair\":\"X\",\"price\":1,\"volume\":1,\"timestamp_ms\":99999999999999999999999}",
         MALFORMED_BAD_TIMESTAMP_MS},
        /* ids */
        {"{\"pair\":\"X\",\"price\":1,\"volume\":1,\"trade_id\":-1" OK_TAIL,
         MALFORMED_BAD_TRADE_ID},
        {"{\"pair\":\"X\",\"price\":1,\"volume\":1,\"trade_id\":1.0" OK_TAIL,
         MALFORMED_BAD_TRADE_ID},
        {"{\"pair\":\"X\",\"price\":1,\"volume\":1,\"trade_id\":1e2" OK_TAIL,
         MALFORMED_BAD_TRADE_ID},
        {"{\"pair\":\"X\",\"price\":1,\"volume\":1,\"trade_id\":\"+1\"" OK_TAIL,
         MALFORMED_BAD_TRADE_ID},
        {"{\"pair\":\"X\",\"price\":1,\"volume\":1,\"trade_id\":\"abc\"" OK_TAIL,
         MALFORMED_BAD_TRADE_ID},
        {"{\"pair\":\"X\",\"price\":1,\"volume\":1,\"trade_id\":18446744073709551616" OK_TAIL,
         MALFORMED_BAD_TRADE_ID},
        {"{\"pair\":\"X\",\"price\":1,\"volume\":1,\"trade_id\":{}" OK_TAIL,
         MALFORMED_BAD_TRADE_ID},
        {"{\"pair\":\"X\",\"price\":1,\"volume\":1,\"seq\":\"\"" OK_TAIL, MALFORMED_BAD_SEQ},
        {"{\"pair\":\"X\",\"price\":1,\"volume\":1,\"seq\":-0" OK_TAIL, MALFORMED_BAD_SEQ},
        {"{\"pair\":\"X\",\"price\":1,\"volume\":1,\"seq\":false" OK_TAIL, MALFORMED_BAD_SEQ},
        {"{\"pair\":\"X\",\"price\":1,\"volume\":1,\"seq\":\"99999999999999999999\"" OK_TAIL,
         MALFORMED_BAD_SEQ},
        /* the first problem in field order is reported, whatever the key order */
        {"{\"seq\":-1,\"volume\":0,\"price\":\"x\",\"pair\":\"\"" OK_TAIL, MALFORMED_BAD_PAIR},
        {"{\"seq\":-1,\"volume\":0,\"price\":\"x\",\"pair\":\"X\"" OK_TAIL, MALFORMED_BAD_PRICE},
        {"{\"seq\":-1,\"side\":1,\"price\":1,\"volume\":1,\"pair\":\"X\"" OK_TAIL,
         MALFORMED_BAD_SIDE},
        /* a bad timestamp is not rescued by a good timestamp_ms */
        {"{\"pair\":\"X\",\"price\":1,\"volume\":1,\"timestamp\":\"x\"" OK_TAIL,
         MALFORMED_BAD_TIMESTAMP},
};

static void test_bad_lines(void)
{
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		struct jsonl_trade jt;
		enum malformed m = parse(bad_cases[i].line, &jt);

		CHECK_EQ_INT(m, bad_cases[i].m);
		if (m != bad_cases[i].m)
			fprintf(stderr, "  line %zu: %s (got %s)\n", i, bad_cases[i].line,
			        malformed_name(m));
		if (m != MALFORMED_NONE)
			CHECK_EQ_INT(jt.t.flags, 0); /* nothing half-filled */
	}
}

static void test_skipping_and_whitespace(void)
{
	struct jsonl_trade jt;
	char line[512];
	size_t n;

	/* Unknown keys of every shape, escapes, feed and rx_ns. */
	CHECK_EQ_INT(
	        parse("{\"feed\":\"tcp:x\",\"rx_ns\":123,\"extra\":{\"a\":[1,{\"b\":null},"
	              "\"s\\\"}]\\\\\\/\\b\\f\\n\\r\\t\\u00e9\"],\"c\":{}},\"e\":[],\"t\":true,"
	              "\"f\":false,\"n\":null,\"num\":-1.5e+7,\"pa\\u0069r\":5,"
	              "\"pair\":\"ETH-USD\",\"price\":\"3000.25\",\"volume\":1,\"timestamp_ms\":1}",
	              &jt),
	        MALFORMED_NONE);
	CHECK_EQ_INT(jt.pair_len, 7);
	CHECK_EQ_INT(jt.t.price, 300025000000LL);
	CHECK_EQ_INT(jt.t.price_dp, 2);
	/* JSON whitespace between every token, blanks and '\r' around. */
	n = (size_t)snprintf(line, sizeof(line), "%s",
	                     " \t{ \"pair\" :\t\"X\" ,\r\n\"price\" : 1 , \"volume\" : 2 ,"
	                     " \"timestamp_ms\" : 5 , \"x\" : [ 1 , { \"a\" : [ ] } ] } \t\r");
	CHECK_EQ_INT(parse_n(line, n, &jt, NULL), MALFORMED_NONE);
	CHECK_EQ_INT(jt.t.qty, 2 * E8);
	CHECK_EQ_INT(parse("{}", &jt), MALFORMED_MISSING_PAIR);
	CHECK_EQ_INT(parse("{ }", &jt), MALFORMED_MISSING_PAIR);
}

/* Skipped values may nest 32 arrays/objects; deeper is refused without any
 * recursion, however deep. */
static void test_nesting(void)
{
	static char line[40000];
	struct jsonl_trade jt;
	size_t n;

	for (int depth = 31; depth <= 33; depth++) {
		n = (size_t)snprintf(line, sizeof(line), "{\"pair\":\"X\",\"x\":");
		for (int i = 0; i < depth; i++)
			n += (size_t)snprintf(line + n, sizeof(line) - n, i % 2 ? "{\"k\":" : "[");
		line[n++] = '0';
		for (int i = depth - 1; i >= 0; i--)
			line[n++] = i % 2 ? '}' : ']';
		n += (size_t)snprintf(line + n, sizeof(line) - n, ",\"price\":1,\"volume\":1%s",
		                      OK_TAIL);
		CHECK_EQ_INT(parse_n(line, n, &jt, NULL),
		             depth <= 32 ? MALFORMED_NONE : MALFORMED_SYNTAX);
	}
	/* 20000 open brackets: over JSONL_LINE_MAX, and over the depth bound
	 * when the length check is not what stops it. */
	n = (size_t)snprintf(line, sizeof(line), "{\"x\":");
	memset(line + n, '[', 20000);
	n += 20000;
	CHECK_EQ_INT(parse_n(line, n, &jt, NULL), MALFORMED_LINE_TOO_LONG);
	CHECK_EQ_INT(parse_n(line, JSONL_LINE_MAX, &jt, NULL), MALFORMED_SYNTAX);
}

static void test_line_max(void)
{
	static char line[JSONL_LINE_MAX + 2];
	struct jsonl_trade jt;
	size_t n;

	/* A valid line padded with blanks to exactly the limit, then one over. */
	n = (size_t)snprintf(line, sizeof(line), "{\"pair\":\"X\",\"price\":1,\"volume\":1%s",
	                     OK_TAIL);
	memset(line + n, ' ', sizeof(line) - n);
	CHECK_EQ_INT(parse_n(line, JSONL_LINE_MAX, &jt, NULL), MALFORMED_NONE);
	CHECK_EQ_INT(parse_n(line, JSONL_LINE_MAX + 1, &jt, NULL), MALFORMED_LINE_TOO_LONG);
}

static void test_names(void)
{
	CHECK_EQ_STR(malformed_name(MALFORMED_NONE), "none");
	CHECK_EQ_STR(malformed_name(MALFORMED_SYNTAX), "syntax");
	CHECK_EQ_STR(malformed_name(MALFORMED_BAD_PRICE), "bad_price");
	CHECK_EQ_STR(malformed_name(MALFORMED_DUPLICATE_KEY), "duplicate_key");
	CHECK_EQ_STR(malformed_name(MALFORMED_COUNT), "unknown");
	CHECK_EQ_STR(malformed_name((enum malformed)200), "unknown");
	/* Every reason has its own name. */
	for (int a = 0; a < MALFORMED_COUNT; a++) {
		CHECK(strcmp(malformed_name((enum malformed)a), "unknown") != 0);
		for (int b = a + 1; b < MALFORMED_COUNT; b++)
			CHECK(strcmp(malformed_name((enum malformed)a),
			             malformed_name((enum malformed)b)) != 0);
	}
}

static uint64_t rng_state = 0xda3e39cb94b95bdbull;

static uint64_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

/* Thousands of mutated valid lines (replace, insert, delete, truncate), each
 * in an exactly sized buffer: no crash, no read outside the line, and an
 * accepted line always yields a sane record. */
static void test_mutations(void)
{
	static const char *const seeds[] = {
	        "{\"pair\":\"BTC/USD\",\"price\":105944.1,\"volume\":\"0.5\",\"timestamp\":"
	        "\"2025-01-02T03:04:05.123Z\",\"timestamp_ms\":1735787045123,\"side\":\"buy\","
	        "\"trade_id\":42,\"feed\":\"tcp:127.0.0.1:7001\",\"seq\":7,\"rx_ns\":1}",
	        "{\"pair\":\"X\",\"price\":\"-1.5e-3\",\"volume\":2,\"timestamp_ms\":\"1500\","
	        "\"x\":[1,{\"a\":\"\\u00e9\\n\"},[]],\"side\":null}",
	        " { \"pair\" : \"ETH\" , \"price\" : 1 , \"volume\" : 1e2 , \"timestamp\" : "
	        "\"2024-02-29 10:00:00+01:00\" } \r",
	};
	static const char alphabet[] = "{}[]\",:\\ 0123456789eE.-+tfnulbsxz\x01\x7f\xff\r\n";
	char buf[600];
	int accepted = 0, insane = 0;

	for (int i = 0; i < 60000; i++) {
		const char *seed = seeds[i % 3];
		size_t len = strlen(seed);
		struct jsonl_trade jt;
		char *copy;

		memcpy(buf, seed, len);
		for (int k = (int)(rng() % 4); k >= 0; k--) {
			size_t at = len ? rng() % len : 0;
			char c = alphabet[rng() % (sizeof(alphabet) - 1)];

			switch (rng() % 4) {
			case 0:
				if (len)
					buf[at] = c;
				break;
			case 1:
				if (len + 1 < sizeof(buf)) {
					memmove(buf + at + 1, buf + at, len - at);
					buf[at] = c;
					len++;
				}
				break;
			case 2:
				if (len) {
					memmove(buf + at, buf + at + 1, len - at - 1);
					len--;
				}
				break;
			default:
				len = at;
				break;
			}
		}
		if (parse_n(buf, len, &jt, &copy) == MALFORMED_NONE) {
			accepted++;
			if (jt.pair < copy || jt.pair + jt.pair_len > copy + len ||
			    jt.pair_len == 0 || jt.pair_len > TRADE_SYMBOL_MAX || jt.t.qty <= 0 ||
			    !(jt.t.flags & TRADE_F_HAS_TS) || jt.t.ts_exch_ns < 0 ||
			    jt.t.ts_digits > 9 || jt.t.price_dp > 8 || jt.t.qty_dp > 8)
				insane++;
		}
		free(copy);
	}
	CHECK(accepted > 1000);
	CHECK_EQ_INT(insane, 0);
}

/* ---- stream framing ---- */

struct collect {
	char out[32768];
	size_t len;
	int lines, too_long, marked;
};

/* marks, where the framer gave them, must be exactly the line's quotes and
 * whether it has a backslash or a control byte (never for a cut line). */
static void check_marks(const char *line, size_t len, int too_long, const struct jsonl_marks *m)
{
	bool unusual = false;

	if (!m)
		return;
	CHECK(!too_long);
	for (size_t i = 0; i < len; i++) {
		uint32_t b = m->bit0 + (uint32_t)i;

		CHECK_EQ_INT((int)(m->quote[b / 64] >> (b % 64) & 1), line[i] == '"');
		unusual |= line[i] == '\\' || (unsigned char)line[i] < 0x20;
	}
	CHECK_EQ_INT(m->unusual, unusual);
}

static void collect_line(void *ctx, const char *line, size_t len, int too_long,
                         const struct jsonl_marks *marks)
{
	struct collect *c = ctx;
	int n = snprintf(c->out + c->len, sizeof(c->out) - c->len, "[%zu%s]", len,
	                 too_long ? "!" : "");

	check_marks(line, len, too_long, marks);
	c->marked += marks != NULL;

	c->len += (size_t)n;
	/* Long lines are recorded by length and edges only. */
	if (len > 64) {
		memcpy(c->out + c->len, line, 8);
		memcpy(c->out + c->len + 8, line + len - 8, 8);
		c->len += 16;
	} else {
		memcpy(c->out + c->len, line, len);
		c->len += len;
	}
	c->out[c->len++] = '\n';
	c->lines++;
	c->too_long += too_long;
}

/* The input: short lines, CRLF, an empty line, a line of exactly
 * JSONL_LINE_MAX bytes, one a byte over, a much longer one, and a final line
 * without '\n'. */
static size_t stream_input(char *in, size_t cap)
{
	size_t n = 0;

	n += (size_t)snprintf(in + n, cap - n, "one\r\ntwo\n\nthree\r\r\n");
	memset(in + n, 'a', JSONL_LINE_MAX);
	n += JSONL_LINE_MAX;
	in[n++] = '\n';
	memset(in + n, 'b', JSONL_LINE_MAX + 1);
	n += JSONL_LINE_MAX + 1;
	in[n++] = '\n';
	memset(in + n, 'c', 3 * JSONL_LINE_MAX);
	n += 3 * JSONL_LINE_MAX;
	n += (size_t)snprintf(in + n, cap - n, "\nafter\nlast");
	return n;
}

static void test_stream_whole(void)
{
	static char in[6 * JSONL_LINE_MAX];
	static struct jsonl_stream s;
	static struct collect c;
	size_t n = stream_input(in, sizeof(in));
	char want[512];

	jsonl_stream_feed(&s, in, n, collect_line, &c);
	CHECK_EQ_INT(c.lines, 8); /* "last" is still held */
	jsonl_stream_end(&s, collect_line, &c);
	CHECK_EQ_INT(c.lines, 9);
	CHECK_EQ_INT(c.too_long, 2);
	snprintf(want, sizeof(want),
	         "[3]one\n[3]two\n[0]\n[6]three\r\n[%d]aaaaaaaaaaaaaaaa\n"
	         "[%d!]bbbbbbbbbbbbbbbb\n[%d!]cccccccccccccccc\n[5]after\n[4]last\n",
	         JSONL_LINE_MAX, JSONL_LINE_MAX, JSONL_LINE_MAX);
	c.out[c.len] = '\0';
	CHECK_EQ_STR(c.out, want);
	CHECK_EQ_INT(s.len, 0);
	/* end on an empty stream delivers nothing */
	jsonl_stream_end(&s, collect_line, &c);
	CHECK_EQ_INT(c.lines, 9);
}

/* Every split point into two reads, and one byte per read, give exactly the
 * lines of a single read. */
static void test_stream_splits(void)
{
	static char in[6 * JSONL_LINE_MAX];
	static struct jsonl_stream s;
	static struct collect whole, part;
	size_t n = stream_input(in, sizeof(in));
	int mismatches = 0;

	memset(&s, 0, sizeof(s));
	jsonl_stream_feed(&s, in, n, collect_line, &whole);
	jsonl_stream_end(&s, collect_line, &whole);
	for (size_t k = 0; k <= n; k++) {
		memset(&s, 0, sizeof(s));
		part.len = 0;
		jsonl_stream_feed(&s, in, k, collect_line, &part);
		jsonl_stream_feed(&s, in + k, n - k, collect_line, &part);
		jsonl_stream_end(&s, collect_line, &part);
		if (part.len != whole.len || memcmp(part.out, whole.out, whole.len) != 0)
			mismatches++;
	}
	CHECK_EQ_INT(mismatches, 0);
	memset(&s, 0, sizeof(s));
	part.len = 0;
	for (size_t k = 0; k < n; k++) {
		char *one = malloc(1); /* ASan: the framer reads only what it is given */

		*one = in[k];
		jsonl_stream_feed(&s, one, 1, collect_line, &part);
		free(one);
	}
	jsonl_stream_end(&s, collect_line, &part);
	CHECK_EQ_INT(part.len, whole.len);
	CHECK(memcmp(part.out, whole.out, whole.len) == 0);
	/* Three-way random splits. */
	for (int i = 0; i < 2000; i++) {
		size_t a = rng() % (n + 1), b = rng() % (n + 1), t;

		if (a > b) {
			t = a;
			a = b;
			b = t;
		}
		memset(&s, 0, sizeof(s));
		part.len = 0;
		jsonl_stream_feed(&s, in, a, collect_line, &part);
		jsonl_stream_feed(&s, in + a, b - a, collect_line, &part);
		jsonl_stream_feed(&s, in + b, n - b, collect_line, &part);
		jsonl_stream_end(&s, collect_line, &part);
		if (part.len != whole.len || memcmp(part.out, whole.out, whole.len) != 0)
			mismatches++;
	}
	CHECK_EQ_INT(mismatches, 0);
}

/* Over 40 KiB of JSON-ish lines (quotes, a backslash, a tab, CRLF, 0 to 300
 * bytes): the framer's vector pass covers more than two of its segments and
 * restarts at a line it cut.  In one read every line gets marks, each checked
 * byte for byte by collect_line; split reads give the same lines. */
static void test_stream_marks(void)
{
	static char in[48 * 1024];
	static struct jsonl_stream s;
	static struct collect whole, part;
	int lines = 0;
	size_t n = 0;

	while (n + 320 < sizeof(in)) { /* bounded by the buffer */
		size_t len = rng() % 300;

		for (size_t i = 0; i < len; i++) {
			static const char pick[] = "\"\"\"ab{}:,\\\t 09";

			in[n + i] = pick[rng() % (sizeof(pick) - 1)];
		}
		n += len;
		if (rng() % 8 == 0)
			in[n++] = '\r';
		in[n++] = '\n';
		lines++;
	}
	memset(&s, 0, sizeof(s));
	jsonl_stream_feed(&s, in, n, collect_line, &whole);
	jsonl_stream_end(&s, collect_line, &whole);
	CHECK_EQ_INT(whole.lines, lines);
	CHECK_EQ_INT(whole.marked, lines);
	for (int i = 0; i < 200; i++) {
		size_t a = rng() % (n + 1);

		memset(&s, 0, sizeof(s));
		part.len = 0;
		jsonl_stream_feed(&s, in, a, collect_line, &part);
		jsonl_stream_feed(&s, in + a, n - a, collect_line, &part);
		jsonl_stream_end(&s, collect_line, &part);
		CHECK(part.len == whole.len && memcmp(part.out, whole.out, whole.len) == 0);
	}
	CHECK(part.marked >= 200 * (lines - 1));
}

/* A too-long line ending right at the end of the stream is reported once. */
static void test_stream_long_tail(void)
{
	static char in[2 * JSONL_LINE_MAX];
	static struct jsonl_stream s;
	static struct collect c;

	memset(in, 'z', sizeof(in));
	jsonl_stream_feed(&s, in, sizeof(in), collect_line, &c);
	CHECK_EQ_INT(c.too_long, 1);
	jsonl_stream_feed(&s, "zz", 2, collect_line, &c);
	jsonl_stream_end(&s, collect_line, &c);
	CHECK_EQ_INT(c.lines, 1);
	CHECK_EQ_INT(c.too_long, 1);
	jsonl_stream_feed(&s, "next\n", 5, collect_line, &c);
	CHECK_EQ_INT(c.lines, 2);
	CHECK_EQ_INT(c.too_long, 1);
}

/* ---- log helpers the pipeline uses to report refused lines ---- */

static void test_log_escape(void)
{
	char out[32];

	CHECK_EQ_STR(log_escape("ab\"c", 4, 100, out, sizeof(out)), "ab\"c");
	CHECK_EQ_STR(log_escape("a\nb\\\x00\xff", 6, 100, out, sizeof(out)),
	             "a\\x0ab\\\\\\x00\\xff");
	/* cut by max, then by the output size; "..." marks the cut */
	CHECK_EQ_STR(log_escape("abcdef", 6, 3, out, sizeof(out)), "abc...");
	CHECK_EQ_STR(log_escape("abcdefghij", 10, 100, out, 8), "abcd...");
	CHECK_EQ_STR(log_escape("\x01\x02\x03", 3, 100, out, 12), "\\x01\\x02...");
	CHECK_EQ_STR(log_escape("", 0, 100, out, sizeof(out)), "");
	CHECK_EQ_STR(log_escape(NULL, 0, 100, out, sizeof(out)), "");
}

static void test_ratelimit(void)
{
	struct ratelimit rl = RATELIMIT_INIT(60, 3);
	int64_t t0 = 1000LL * 1000000000LL;
	uint64_t sup = 99;
	int allowed = 0;

	CHECK_EQ_INT(rl.window_ns, 60000000000LL);
	for (int i = 0; i < 10; i++)
		allowed += ratelimit_allow(&rl, t0 + i, &sup);
	CHECK_EQ_INT(allowed, 3);
	CHECK_EQ_INT(sup, 0);
	CHECK_EQ_INT(rl.suppressed, 7);
	/* Still inside the window: refused, counted. */
	CHECK_EQ_INT(ratelimit_allow(&rl, t0 + 59999999999LL, &sup), 0);
	CHECK_EQ_INT(rl.suppressed, 8);
	/* Next window: allowed, and told how many were dropped. */
	CHECK_EQ_INT(ratelimit_allow(&rl, t0 + 60000000000LL, &sup), 1);
	CHECK_EQ_INT(sup, 8);
	CHECK_EQ_INT(rl.suppressed, 0);
	CHECK_EQ_INT(ratelimit_allow(&rl, t0 + 60000000001LL, NULL), 1);
	/* A clock stepping back starts a fresh window rather than stalling. */
	CHECK_EQ_INT(ratelimit_allow(&rl, t0, &sup), 1);
	CHECK_EQ_INT(sup, 0);
}

/* Runs log calls with stderr redirected to a temporary file; returns what
 * they wrote. */
static size_t capture_logs(char *out, size_t cap)
{
	FILE *tmp = tmpfile();
	int saved = dup(STDERR_FILENO);
	size_t n = 0;

	if (!tmp || saved < 0)
		return 0;
	fflush(stderr);
	dup2(fileno(tmp), STDERR_FILENO);
	log_set_name("unit");
	log_set_level(LOG_INFO);
	log_debug("hidden %d", 1);
	log_info("hello %s", "world");
	errno = EAGAIN;
	log_warn("trailing newline dropped\n");
	CHECK_EQ_INT(errno, EAGAIN); /* logging keeps errno for the caller */
	log_set_level(LOG_ERROR);
	log_warn("hidden too");
	log_error("%0*d", 3000, 7); /* longer than a log line: cut */
	log_set_level(LOG_INFO);
	log_set_name("trades");
	dup2(saved, STDERR_FILENO);
	close(saved);
	rewind(tmp);
	n = fread(out, 1, cap - 1, tmp);
	out[n] = '\0';
	fclose(tmp);
	return n;
}

static void test_log_lines(void)
{
	static char out[8192];
	char prefix[64], *l2, *l3;
	size_t n = capture_logs(out, sizeof(out));

	CHECK(n > 0);
	/* "2025-01-02T03:04:05.123Z unit[pid] INFO hello world" */
	snprintf(prefix, sizeof(prefix), " unit[%d] INFO hello world\n", (int)getpid());
	CHECK(n > 24 && out[4] == '-' && out[10] == 'T' && out[19] == '.' && out[23] == 'Z');
	CHECK(strncmp(out + 24, prefix, strlen(prefix)) == 0);
	CHECK(strstr(out, "hidden") == NULL);
	l2 = strchr(out, '\n');
	l2 = l2 ? l2 + 1 : out;
	CHECK(strstr(l2, " WARN trailing newline dropped\n") != NULL);
	l3 = strchr(l2, '\n');
	l3 = l3 ? l3 + 1 : out;
	CHECK(strstr(l3, " ERROR 0000") != NULL);
	CHECK(strlen(l3) < 2100 && strlen(l3) > 1000);
	CHECK(strstr(l3, "...\n") != NULL);
	CHECK(strchr(l3, '\n') == l3 + strlen(l3) - 1); /* exactly one line */
}

int main(void)
{
	test_full_line();
	test_minimal_and_optional();
	test_sides();
	test_bad_lines();
	test_skipping_and_whitespace();
	test_nesting();
	test_line_max();
	test_names();
	test_mutations();
	test_stream_whole();
	test_stream_splits();
	test_stream_long_tail();
	test_stream_marks();
	test_log_escape();
	test_ratelimit();
	test_log_lines();
	CHECK_DONE();
}
