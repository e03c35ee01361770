/* test_jsonl_fast.c -- differential test of the JSON-lines fast path.
 *
 * jsonl_parse_fast must give, for every line it takes, the very bytes
 * jsonl_parse_general gives, and must never take a line the general scanner
 * refuses; jsonl_parse must equal jsonl_parse_general on every line.  The
 * corpus: hand-written edge cases, a trades-gen file (argv[1], made by the
 * build), and seeded mutations of both (byte replaced, inserted, deleted,
 * the line cut, a span repeated), each parsed from an exactly sized heap
 * copy so ASan sees any read outside the line, and again as the framer
 * delivers it with its quote marks (jsonl_parse_fast must do the same).
 *   test_jsonl_fast [GEN_FILE]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "trades/jsonl.h"

#include "check.h"

#define MUTATIONS     24     /* per corpus line */
#define GEN_LINES_MAX 200000 /* of the generated file */

static unsigned long n_lines, n_fast, n_marked;

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* What the fast path did with a line alone, for on_marked. */
struct marked {
	size_t len;
	bool took;
	unsigned seen;
	struct jsonl_trade f;
};

/* The line as the framer delivers it, with its marks: the fast path must do
 * exactly what it did on the line alone (pair compared by its bytes: it
 * points into a different buffer). */
static void on_marked(void *ctx, const char *line, size_t len, int too_long,
                      const struct jsonl_marks *marks)
{
	struct marked *c = ctx;
	struct jsonl_trade t;
	bool took;

	if (len == 0)
		return; /* the empty lines in front of it */
	c->seen++;
	CHECK(!too_long && marks != NULL && len == c->len);
	took = jsonl_parse_fast(line, len, marks, &t);
	CHECK_EQ_INT(took, c->took);
	if (!took || !c->took)
		return;
	CHECK(memcmp(&t.t, &c->f.t, sizeof(t.t)) == 0);
	CHECK(t.pair_len == c->f.pair_len && memcmp(t.pair, c->f.pair, t.pair_len) == 0);
}

/* The line framed from one read behind k empty lines (so its quote bits
 * start at bit k of the framer's marks), in an exactly sized heap buffer. */
static void diff_marked(const char *s, size_t len, const struct jsonl_trade *f, bool took)
{
	static struct jsonl_stream st;
	struct marked c = {.len = len, .took = took, .f = *f};
	size_t k = rng() % 130;
	char *buf;

	if (len == 0 || len > JSONL_LINE_MAX || memchr(s, '\n', len) || s[len - 1] == '\r')
		return; /* not delivered as these bytes */
	buf = malloc(k + len + 1);
	CHECK(buf != NULL);
	memset(buf, '\n', k);
	memcpy(buf + k, s, len);
	buf[k + len] = '\n';
	memset(&st, 0, sizeof(st));
	jsonl_stream_feed(&st, buf, k + len + 1, on_marked, &c);
	CHECK_EQ_INT(c.seen, 1);
	free(buf);
	n_marked++;
}

/* One line through all three entry points; returns whether fast took it. */
static bool diff_one(const char *s, size_t len)
{
	char *copy = malloc(len ? len : 1);
	struct jsonl_trade g, f, j, zero;
	enum malformed mg, mj;
	bool took;

	CHECK(copy != NULL);
	memcpy(copy, s, len);
	memset(&zero, 0, sizeof(zero));
	mg = jsonl_parse_general(copy, len, &g);
	took = jsonl_parse_fast(copy, len, NULL, &f);
	mj = jsonl_parse(copy, len, &j);
	CHECK(mj == mg);
	CHECK(memcmp(&j, &g, sizeof(g)) == 0);
	if (took) {
		CHECK(mg == MALFORMED_NONE);
		CHECK(memcmp(&f, &g, sizeof(g)) == 0);
	} else {
		CHECK(memcmp(&f, &zero, sizeof(f)) == 0);
	}
	if (took && (mg != MALFORMED_NONE || memcmp(&f, &g, sizeof(g)) != 0))
		fprintf(stderr, "fast/general differ (general %d) on: %.*s\n", (int)mg, (int)len,
		        s);
	else if (mj != mg)
		fprintf(stderr, "jsonl_parse %d, general %d on: %.*s\n", (int)mj, (int)mg, (int)len,
		        s);
	diff_marked(copy, len, &f, took);
	free(copy);
	n_lines++;
	n_fast += took;
	return took;
}

static const char mut_bytes[] =
        "0123456789.-+eE\"\\,:{}[] nulltruefalse\x01\x1f\x7f\x80\xff\tazAZ/";

/* One seeded mutation of s into buf (JSONL_LINE_MAX + 64 bytes); its length. */
static size_t mutate(const char *s, size_t len, char *buf)
{
	size_t pos = len ? (size_t)(rng() % len) : 0, n = len, span;
	char c = mut_bytes[rng() % (sizeof(mut_bytes) - 1)];

	memcpy(buf, s, len);
	switch (rng() % 5) {
	case 0: /* replace */
		if (len)
			buf[pos] = c;
		break;
	case 1: /* insert */
		memmove(buf + pos + 1, buf + pos, len - pos);
		buf[pos] = c;
		n++;
		break;
	case 2: /* delete */
		if (len) {
			memmove(buf + pos, buf + pos + 1, len - pos - 1);
			n--;
		}
		break;
	case 3: /* cut */
		n = pos;
		break;
	default: /* repeat a span (a duplicate key, a longer number) */
		span = 1 + rng() % 16;
		if (pos + span > len)
			span = len - pos;
		if (n + span <= JSONL_LINE_MAX) {
			memmove(buf + pos + span, buf + pos, len - pos);
			n += span;
		}
		break;
	}
	return n;
}

static void diff_mutations(const char *s, size_t len)
{
	static char buf[JSONL_LINE_MAX + 64];

	diff_one(s, len);
	for (unsigned i = 0; i < MUTATIONS && len <= JSONL_LINE_MAX; i++)
		diff_one(buf, mutate(s, len, buf));
}

/* Lines the fast path must take (and the general scanner accept alike). */
static const char *const taken[] = {
        "{\"pair\":\"BTC/USD\",\"price\":105944.1,\"volume\":\"0.5\","
        "\"timestamp\":\"2025-01-02T03:04:05.123Z\",\"timestamp_ms\":1735787045123,"
        "\"side\":\"buy\",\"trade_id\":42,\"seq\":7}",
        "{\"seq\":3,\"side\":\"SELL\",\"trade_id\":\"0\",\"volume\":1,\"price\":\"0\","
        "\"timestamp_ms\":\"1735776000003\",\"pair\":\"E\"}",
        " { \"pair\" : \"A/B\" , \"price\" : 9999999999.99999999 , \"volume\" : 0.00000001 ,"
        " \"timestamp_ms\" : 9223372036854 , \"side\" : \"\" } ",
        "{\"pair\":\"A/B\",\"price\":1,\"volume\":00012.50,\"timestamp\":\"2025-01-02 03:04:05Z\","
        "\"timestamp_ms\":null,\"side\":null,\"trade_id\":null,\"seq\":null}",
        "{\"pair\":\"A/B\",\"price\":1,\"volume\":2,\"timestamp\":null,\"timestamp_ms\":5,"
        "\"side\":\"b\",\"trade_id\":9999999999999999999,\"seq\":\"1234567890123456789\"}",
        "{\"fee\":null,\"ok\":true,\"no\":false,\"x\":-1.5e-3,\"note\":\"a b\",\"meta\":{\"v\":"
        "[1,{\"x\":null}]},\"pair\":\"A/B\",\"price\":1,\"volume\":2,\"timestamp_ms\":5,"
        "\"side\":\"S\",\"feed\":\"k\",\"rx_ns\":1}",
        /* decimals far from the line's end: the SWAR reader, at its limits */
        "{\"price\":1234567.12345678,\"volume\":\"0.5\",\"pair\":\"A/B\",\"timestamp_ms\":5,"
        "\"seq\":1}",
        "{\"price\":\"12345678.1\",\"volume\":00000001.00000001,\"pair\":\"A/B\","
        "\"timestamp_ms\":5}",
        "{\"price\":\"7\",\"volume\":0.1,\"pair\":\"A/B\",\"timestamp_ms\":5}",
        "{\"pair\":\"ABCDEFGHIJKLMNOPQRSTUVWXYZ01234\",\"price\":1,\"volume\":2,"
        "\"timestamp\":\"2025-01-02T03:04:05.123456789+01:00\"}",
        /* escapes in values the fast path skips (the generated feed's "note") */
        "{\"timestamp\":\"2025-01-02T00:00:00.004065Z\",\"note\":\"q\\\" b\\\\ \\u00e9}\","
        "\"pair\":\"BTC/USD\",\"volume\":\"7.7\",\"price\":96999.6,\"trade_id\":70}",
        "{\"pair\":\"A/B\",\"price\":1,\"volume\":2,\"timestamp_ms\":5,"
        "\"note\":\"\\\"\\\"\\\"\\\\\\\\\\/\\b\\f\\n\\r\\t\\uABCD\"}",
        "{\"x\":[\"a\\\"\",{\"y\\\"\":\"\\\\\"}],\"pair\":\"A/B\",\"price\":1,\"volume\":2,"
        "\"timestamp_ms\":5}",
        /* numbers as strings up to the line's end (the quote is read without a branch) */
        "{\"pair\":\"A/B\",\"volume\":2,\"timestamp_ms\":5,\"price\":\"1.5\"}",
        "{\"pair\":\"A/B\",\"price\":1,\"volume\":2,\"timestamp_ms\":\"5\"}",
};

/* Lines the fast path must hand over (the general scanner decides). */
static const char *const handed[] = {
        "{\"pair\":\"A/B\",\"price\":-1,\"volume\":2,\"timestamp_ms\":5}",          /* sign */
        "{\"pair\":\"A/B\",\"price\":1e2,\"volume\":2,\"timestamp_ms\":5}",         /* exponent */
        "{\"pair\":\"A/B\",\"price\":1,\"volume\":0,\"timestamp_ms\":5}",           /* range */
        "{\"pair\":\"A/B\",\"price\":1.123456789,\"volume\":2,\"timestamp_ms\":5}", /* 9 dp */
        "{\"pair\":\"A/B\",\"price\":12345678901,\"volume\":2,\"timestamp_ms\":5}", /* 11 int */
        "{\"pair\":\"A/B\",\"price\":1,\"volume\":2,\"timestamp_ms\":9223372036855}",
        "{\"pair\":\"A/B\",\"price\":1,\"volume\":2,\"timestamp_ms\":5,\"trade_id\":"
        "18446744073709551615}", /* 20 digits */
        "{\"pair\":\"A/B\",\"price\":1,\"volume\":2,\"timestamp_ms\":5,\"side\":\"unknown\"}",
        "{\"pair\":\"A/B\",\"price\":1,\"volume\":2,\"timestamp_ms\":5,\"side\":\"bu\"}",
        "{\"pair\":\"A\\/B\",\"price\":1,\"volume\":2,\"timestamp_ms\":5}", /* escape */
        /* escapes where the fast path reads: keys and known values */
        "{\"pa\\u0069r\":\"A/B\",\"price\":1,\"volume\":2,\"timestamp_ms\":5}",
        "{\"pair\":\"A\\\"B\",\"price\":1,\"volume\":2,\"timestamp_ms\":5}",
        "{\"pair\":\"A/B\",\"price\":\"1\\u002e5\",\"volume\":2,\"timestamp_ms\":5}",
        "{\"pair\":\"A/B\",\"price\":1,\"volume\":2,\"side\":\"b\\u0075y\",\"timestamp_ms\":5}",
        "{\"pair\":\"A/B\",\"price\":1,\"volume\":2,\"timestamp\":\"2025-01-02T03:04:05\\u005a\"}",
        "{\"no\\\"te\":1,\"pair\":\"A/B\",\"price\":1,\"volume\":2,\"timestamp_ms\":5}",
        /* a bad escape, a backslash outside a string, a control byte: refused there */
        "{\"note\":\"\\x\",\"pair\":\"A/B\",\"price\":1,\"volume\":2,\"timestamp_ms\":5}",
        "{\"note\":\"\\u12\",\"pair\":\"A/B\",\"price\":1,\"volume\":2,\"timestamp_ms\":5}",
        "{\"pair\":\"A/B\",\\\"price\":1,\"volume\":2,\"timestamp_ms\":5}",
        "{\"note\":\"\\\"\",\"pair\":\"A/B\",\"price\":1,\"volume\":2,\"timestamp_ms\":5}\t",
        "{\"pair\":\"A/B\",\"pair\":\"A/B\",\"price\":1,\"volume\":2,\"timestamp_ms\":5}",
        "{\"pair\":\"A/B\",\"price\":1,\"volume\":2,\"timestamp\":\"2025-13-02T03:04:05Z\"}",
        "{\"pair\":\"A/B\",\"price\":1,\"volume\":2}", /* no time */
        "{\"pair\":null,\"price\":1,\"volume\":2,\"timestamp_ms\":5}",
        "{\"pair\":\"A/B\",\"price\":1,\"volume\":2,\"timestamp_ms\":5}x",
        "{\"pair\":\"A/B\",\"price\":1,\"volume\":2,\"timestamp_ms\":5,}",
        "{\"pair\":\"A/B\",\"price\":1.,\"volume\":2,\"timestamp_ms\":5}",
        "{\"pair\":\"A/B\",\"price\":\"1 \",\"volume\":2,\"timestamp_ms\":5}",
        "{\"pair\":\"A/B\",\"price\":1,\"volume\":2,\"timestamp_ms\":5}\r",
        "{\"pair\":\"A/B\",\"price\":1,\"volume\":2,\"timestamp_ms\":5,\"x\":[[[[",
        "{\"price\":\"1.5x\",\"volume\":2,\"pair\":\"A/B\",\"timestamp_ms\":5}",
        "{\"price\":1.5.5,\"volume\":2,\"pair\":\"A/B\",\"timestamp_ms\":5}",
        "{\"price\":.5,\"volume\":2,\"pair\":\"A/B\",\"timestamp_ms\":5}",
        "{\"price\":1.123456789,\"volume\":2,\"pair\":\"A/B\",\"timestamp_ms\":5}",
        "{\"pair\":\"A/B\",\"price\":1,\"volume\":2,\"timestamp_ms\":\"\"}",
        "{\"pair\":\"A/B\",\"price\":\"\",\"volume\":2,\"timestamp_ms\":5,\"seq\":1}",
        /* an opened quote the digits do not close, a quote after a number */
        "{\"pair\":\"A/B\",\"volume\":2,\"timestamp_ms\":5,\"price\":\"1.5}",
        "{\"pair\":\"A/B\",\"volume\":2,\"price\":1,\"timestamp_ms\":\"5",
        "{\"pair\":\"A/B\",\"price\":1\",\"volume\":2,\"timestamp_ms\":5}",
        "{\"pair\":\"A/B\",\"price\":1,\"volume\":2,\"timestamp_ms\":5,\"seq\":\"12\"3}",
        "{\"pair\":\"A/B\",\"price\":1,\"volume\":2,\"timestamp_ms\":5,\"seq\":\"0x1\"}",
        "{\"pair\":\"A/B\",\"price\":\"1.5\\\"\",\"volume\":2,\"timestamp_ms\":5}",
        "{}",
        "",
};

static void test_edges(void)
{
	for (size_t i = 0; i < sizeof(taken) / sizeof(taken[0]); i++) {
		CHECK(diff_one(taken[i], strlen(taken[i])));
		diff_mutations(taken[i], strlen(taken[i]));
	}
	for (size_t i = 0; i < sizeof(handed) / sizeof(handed[0]); i++) {
		CHECK(!diff_one(handed[i], strlen(handed[i])));
		diff_mutations(handed[i], strlen(handed[i]));
	}
}

/* The fast path's minute cache: a line is taken (or handed over) exactly as
 * without it, whatever minute the line before it left cached.  Each entry
 * is a timestamp, whether the fast path takes it, and its value in ns (0:
 * not checked); the lines run in order, so each sees the one before. */
static void test_minute_cache(void)
{
	static const struct {
		const char *ts;
		bool took;
		int64_t ns;
	} seq[] = {
	        {"2025-01-02T03:04:05.123Z", true, 1735787045123000000LL}, /* fills the cache */
	        {"2025-01-02T03:04:59Z", true, 1735787099000000000LL},
	        {"2025-01-02T03:04:00.1Z", true, 1735787040100000000LL},
	        {"2025-01-02T03:04:07.1234567Z", true, 1735787047123456700LL},
	        {"2025-01-02T03:04:07.12345678Z", true, 1735787047123456780LL},
	        {"2025-01-02T03:04:07.123456789Z", true, 1735787047123456789LL},
	        {"2025-01-02T03:04:07.1234567890Z", false, 0}, /* 10 fraction digits */
	        {"2025-01-02T03:04:07.12345678xZ", false, 0},
	        {"2025-01-02T03:04:07.1234567x9Z", false, 0},
	        {"2025-01-02T03:04:07.x23456789Z", false, 0},
	        {"2025-01-02T03:04:07.000000001Z", true, 1735787047000000001LL},
	        {"2025-01-02T03:04:60Z", false, 0},
	        {"2025-01-02T03:04:6Z", false, 0},
	        {"2025-01-02T03:04:07.Z", false, 0},
	        {"2025-01-02T03:04:07.1a3Z", false, 0},
	        {"2025-01-02T03:04:07,123Z", false, 0},
	        {"2025-01-02T03:04:07.123", false, 0},
	        {"2025-01-02T03:04:07.123z", true, 1735787047123000000LL},
	        {"2025-01-02T03:04:07.123+01:00", true, 1735783447123000000LL},
	        {"2025-01-02t03:04:07Z", true, 1735787047000000000LL}, /* another 16 bytes */
	        {"2025-01-02T03:04:07Z", true, 1735787047000000000LL},
	        {"2262-04-11T23:46:00Z", true, 0}, /* cached: all its seconds fit */
	        {"2262-04-11T23:46:59.999Z", true, 0},
	        {"2262-04-11T23:47:16Z", true, 0}, /* not cached: some seconds overflow */
	        {"2262-04-11T23:47:17Z", false, 0},
	        {"2262-04-11T23:47:16.854775808Z", false, 0},
	};
	char line[256];

	for (size_t i = 0; i < sizeof(seq) / sizeof(seq[0]); i++) {
		struct jsonl_trade t;
		int n = snprintf(line, sizeof(line),
		                 "{\"pair\":\"A/B\",\"price\":1,\"volume\":2,\"timestamp\":\"%s\"}",
		                 seq[i].ts);

		CHECK(n > 0 && (size_t)n < sizeof(line));
		CHECK(diff_one(line, (size_t)n) == seq[i].took);
		if (seq[i].ns != 0) {
			CHECK(jsonl_parse_fast(line, (size_t)n, NULL, &t));
			CHECK(t.t.ts_exch_ns == seq[i].ns);
		}
	}
}

/* Every length around the 64-byte blocks and the fast path's 512-byte limit,
 * a quote on each side of every block edge. */
static void test_lengths(void)
{
	static char line[JSONL_LINE_MAX];
	const char *head = "{\"pair\":\"A/B\",\"price\":1,\"volume\":2,\"timestamp_ms\":5,\"n\":\"";

	for (size_t pad = 0; pad < 600; pad++) {
		size_t n = strlen(head);
		bool took;

		memcpy(line, head, n);
		memset(line + n, 'x', pad);
		n += pad;
		memcpy(line + n, "\"}", 2);
		n += 2;
		took = diff_one(line, n);
		CHECK(took == (n <= 512));
	}
}

/* The generator's own lines (key orders, number/string forms, blanks,
 * unknown keys, escapes) and their mutations. */
static void test_gen_file(const char *path)
{
	static char line[JSONL_LINE_MAX + 2];
	unsigned long lines = 0, fast0 = n_fast, base0 = 0;
	FILE *f = fopen(path, "r");

	if (!f) {
		fprintf(stderr, "test_jsonl_fast: %s: fopen: %s\n", path, strerror(errno));
		CHECK(f != NULL);
		return;
	}
	while (lines < GEN_LINES_MAX && fgets(line, sizeof(line), f)) {
		size_t n = strlen(line);

		if (n && line[n - 1] == '\n')
			n--;
		base0 += diff_one(line, n);
		if (lines % 8 == 0)
			diff_mutations(line, n);
		lines++;
	}
	fclose(f);
	printf("generated file: %lu lines, %lu taken by the fast path (%lu with mutations)\n",
	       lines, base0, n_fast - fast0);
	CHECK(lines >= 1000);
	/* The fast path is the common case: most generated lines are plain. */
	CHECK(base0 * 10 >= lines * 8);
}

int main(int argc, char **argv)
{
	static const char *const names[] = {"scalar", "sse4.2", "avx2", "avx512"};
	const enum jsonl_isa isas[] = {JSONL_ISA_SCALAR, JSONL_ISA_SSE42, JSONL_ISA_AVX2,
	                               JSONL_ISA_AVX512};
	unsigned ran = 0;

	/* Every quote-pass kernel the CPU has, the dispatched default last. */
	for (unsigned i = 0; i < sizeof(isas) / sizeof(isas[0]); i++) {
		if (!jsonl_fast_isa(isas[i])) {
			printf("kernel %s: not on this CPU, skipped\n", names[i]);
			continue;
		}
		ran++;
		n_lines = n_fast = n_marked = 0;
		rng_state = 0x9e3779b97f4a7c15ULL;
		test_edges();
		test_minute_cache();
		test_lengths();
		if (argc > 1)
			test_gen_file(argv[1]);
		printf("kernel %s: %lu lines compared, %lu taken by the fast path, %lu framed with "
		       "marks\n",
		       names[i], n_lines, n_fast, n_marked);
		CHECK(n_marked * 10 >= n_lines * 9);
	}
	CHECK(ran >= 1);
	CHECK_DONE();
}
