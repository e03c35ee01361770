/* test_sink.c -- the output contract line and the FILE* sink. */
#include <stdlib.h>

#include "trades/jsonl.h"
#include "trades/sink.h"

#include "check.h"

#define E8 100000000LL

static struct trade example_trade(void)
{
	struct trade t;

	memset(&t, 0, sizeof(t));
	t.price = 10594410000000LL;
	t.price_dp = 1;
	t.qty = 50000000;
	t.qty_dp = 1;
	t.ts_exch_ns = 1735787045123000000LL;
	t.ts_digits = 3;
	t.ts_rx_ns = 1735787045123456789LL;
	t.side = TRADE_SIDE_BUY;
	t.trade_id = 42;
	t.seq = 7;
	t.flags = TRADE_F_HAS_TS | TRADE_F_HAS_ID | TRADE_F_HAS_SEQ;
	return t;
}

/* Formats into an exactly SINK_JSON_MAX-byte heap buffer (ASan bounds). */
static size_t format(const struct trade *t, const char *pair, const char *feed, char *out)
{
	char *buf = malloc(SINK_JSON_MAX);
	size_t n = sink_format_json(t, pair, feed, buf, SINK_JSON_MAX);

	memcpy(out, buf, n + 1);
	free(buf);
	return n;
}

static void test_contract_line(void)
{
	struct trade t = example_trade();
	char out[SINK_JSON_MAX];
	size_t n = format(&t, "BTC/USD", "tcp:127.0.0.1:7001", out);

	CHECK_EQ_STR(out,
	             "{\"pair\":\"BTC/USD\",\"price\":105944.1,\"volume\":0.5,"
	             "\"timestamp\":\"2025-01-02T03:04:05.123Z\",\"timestamp_ms\":1735787045123,"
	             "\"side\":\"buy\",\"trade_id\":42,\"feed\":\"tcp:127.0.0.1:7001\",\"seq\":7,"
	             "\"rx_ns\":1735787045123456789}\n");
	CHECK_EQ_INT(n, strlen(out));

	/* No ids, unknown side, flags, more decimals than needed, no fraction. */
	t.flags = TRADE_F_HAS_TS | TRADE_F_CROSS | TRADE_F_CORRECTION;
	t.side = TRADE_SIDE_UNKNOWN;
	t.price_dp = 3;
	t.qty_dp = 8;
	t.ts_digits = 0;
	format(&t, "X", "", out);
	CHECK_EQ_STR(out, "{\"pair\":\"X\",\"price\":105944.100,\"volume\":0.50000000,"
	                  "\"timestamp\":\"2025-01-02T03:04:05Z\",\"timestamp_ms\":1735787045123,"
	                  "\"side\":\"unknown\",\"trade_id\":null,\"feed\":\"\",\"seq\":null,"
	                  "\"rx_ns\":1735787045123456789,\"cross\":true,\"correction\":true}\n");

	/* Negative price (spreads), a price_dp of 0 never hides digits, sell. */
	t = example_trade();
	t.price = -123456789;
	t.price_dp = 0;
	t.side = TRADE_SIDE_SELL;
	t.flags = TRADE_F_HAS_TS | TRADE_F_CORRECTION | TRADE_F_HAS_SEQ;
	t.seq = 18446744073709551615ull;
	format(&t, "S", "f", out);
	CHECK(strstr(out, "\"price\":-1.23456789,") != NULL);
	CHECK(strstr(out, "\"side\":\"sell\"") != NULL);
	CHECK(strstr(out, "\"seq\":18446744073709551615,") != NULL);
	CHECK(strstr(out, "\"trade_id\":null,") != NULL);
	CHECK(strstr(out, "\"cross\"") == NULL);
	CHECK(strstr(out, ",\"correction\":true}\n") != NULL);
}

static void test_escaping(void)
{
	struct trade t = example_trade();
	char out[SINK_JSON_MAX];

	format(&t, "A\"B\\C", "a\x01\n\x1f\x7f\xc3\xa9z", out);
	CHECK(strstr(out, "\"pair\":\"A\\\"B\\\\C\",") != NULL);
	CHECK(strstr(out, "\"feed\":\"a\\u0001\\u000a\\u001f\x7f\xc3\xa9z\",") != NULL);
}

/* The widest possible line still fits, and over-long strings are cut at a
 * character boundary without breaking the JSON. */
static void test_worst_case(void)
{
	struct trade t;
	char pair[64], feed[1024], out[SINK_JSON_MAX];
	struct jsonl_trade jt;
	size_t n;
	char *f;

	memset(&t, 0, sizeof(t));
	t.price = INT64_MIN;
	t.qty = INT64_MIN;
	t.price_dp = 200; /* corrupt: clamped, not trusted */
	t.qty_dp = 8;
	t.ts_exch_ns = INT64_MIN;
	t.ts_digits = 9;
	t.ts_rx_ns = INT64_MIN;
	t.trade_id = UINT64_MAX;
	t.seq = UINT64_MAX;
	t.side = 77;
	t.flags = 0xff;
	memset(pair, '"', sizeof(pair) - 1);
	pair[sizeof(pair) - 1] = '\0';
	memset(feed, '\x01', sizeof(feed) - 1);
	feed[sizeof(feed) - 1] = '\0';
	n = format(&t, pair, feed, out);
	CHECK(n < SINK_JSON_MAX);
	CHECK_EQ_INT(n, strlen(out));
	CHECK(n >= 2 && out[n - 2] == '}' && out[n - 1] == '\n');
	CHECK(strstr(out, "\"price\":-92233720368.54775808,") != NULL);
	CHECK(strstr(out, "\"timestamp\":\"1677-09-21T00:12:43.145224192Z\"") != NULL);
	CHECK(strstr(out, "\"side\":\"unknown\"") != NULL);
	/* Still JSON: the parser scans it (the bad pair is then refused). */
	CHECK_EQ_INT(jsonl_parse(out, n, &jt), MALFORMED_BAD_PAIR);

	/* A feed of two-byte characters is never cut between their bytes. */
	for (size_t i = 0; i + 2 < sizeof(feed); i += 2) {
		feed[i] = '\xc3';
		feed[i + 1] = '\xa9';
	}
	feed[sizeof(feed) - 2] = '\0';
	n = format(&t, "X", feed, out);
	f = strstr(out, "\"feed\":\"");
	CHECK(f != NULL);
	if (f) {
		size_t k = 0;

		f += 8;
		while (f[k] != '"' && k < n)
			k++;
		CHECK(k > 0 && k % 2 == 0);
		CHECK((unsigned char)f[k - 1] == 0xa9);
	}
}

static uint64_t rng_state = 0x6a09e667f3bcc909ull;

static uint64_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

static const int64_t pow10_tab[10] = {1,      10,      100,      1000,      10000,
                                      100000, 1000000, 10000000, 100000000, 1000000000};

/* A random trade whose values carry no more digits than their dp say, so the
 * printed line must parse back to exactly the same fields. */
static struct trade random_trade(void)
{
	struct trade t;

	memset(&t, 0, sizeof(t));
	t.price_dp = (uint8_t)(rng() % 9);
	t.qty_dp = (uint8_t)(rng() % 9);
	t.ts_digits = (uint8_t)(rng() % 10);
	t.price = (int64_t)rng() / pow10_tab[8 - t.price_dp] * pow10_tab[8 - t.price_dp];
	if (rng() % 2)
		t.price %= 1000000 * E8; /* realistic magnitudes too */
	t.qty = (int64_t)(rng() >> 1) / pow10_tab[8 - t.qty_dp] * pow10_tab[8 - t.qty_dp];
	if (t.qty == 0)
		t.qty = pow10_tab[8 - t.qty_dp];
	t.ts_exch_ns = (int64_t)(rng() >> 1);
	t.ts_exch_ns -= t.ts_exch_ns % pow10_tab[9 - t.ts_digits];
	t.ts_rx_ns = (int64_t)rng();
	t.side = (uint8_t)(rng() % 3);
	t.flags = TRADE_F_HAS_TS;
	if (rng() % 4) {
		t.trade_id = rng() | 1;
		t.flags |= TRADE_F_HAS_ID;
	}
	if (rng() % 4) {
		t.seq = rng() | 1;
		t.flags |= TRADE_F_HAS_SEQ;
	}
	return t;
}

static void test_roundtrip(void)
{
	int bad = 0;

	for (int i = 0; i < 100000; i++) {
		struct trade t = random_trade(), *b;
		char out[SINK_JSON_MAX];
		struct jsonl_trade jt;
		size_t n = format(&t, "BTC/USD", "udp:[::1]:9000", out);

		/* The line without its '\n' is what the framer hands the parser. */
		if (jsonl_parse(out, n - 1, &jt) != MALFORMED_NONE) {
			if (bad++ < 3)
				fprintf(stderr, "  refused: %s", out);
			continue;
		}
		b = &jt.t;
		if (b->price != t.price || b->qty != t.qty || b->ts_exch_ns != t.ts_exch_ns ||
		    b->ts_digits != t.ts_digits || b->side != t.side || b->trade_id != t.trade_id ||
		    b->seq != t.seq || b->price_dp != t.price_dp || b->qty_dp != t.qty_dp ||
		    b->flags != t.flags || jt.pair_len != 7 || memcmp(jt.pair, "BTC/USD", 7) != 0) {
			if (bad++ < 3)
				fprintf(stderr, "  differs: %s", out);
		}
	}
	CHECK_EQ_INT(bad, 0);
}

static void test_file_sink(void)
{
	struct trade t = example_trade();
	char *mem = NULL, line[SINK_JSON_MAX];
	size_t memlen = 0, n;
	struct sink *s;
	FILE *f = open_memstream(&mem, &memlen);

	CHECK(f != NULL);
	if (!f)
		return;
	s = sink_jsonl_open(f);
	CHECK(s != NULL);
	if (!s)
		return;
	CHECK_EQ_STR(s->name, "jsonl");
	CHECK_EQ_INT(s->write(s, &t, "BTC/USD", "tcp:127.0.0.1:7001"), 0);
	t.trade_id = 43;
	CHECK_EQ_INT(s->write(s, &t, "BTC/USD", "tcp:127.0.0.1:7001"), 0);
	s->flush(s);
	n = sink_format_json(&t, "BTC/USD", "tcp:127.0.0.1:7001", line, sizeof(line));
	CHECK_EQ_INT(memlen, 2 * n);
	CHECK(memlen == 2 * n && memcmp(mem + n, line, n) == 0);
	CHECK(strstr(mem, "\"trade_id\":42,") != NULL);
	s->close(s);
	fclose(f);
	free(mem);

	/* A stream that cannot be written reports -1 (the pipeline counts it). */
	f = fopen("/dev/null", "r");
	CHECK(f != NULL);
	if (!f)
		return;
	setvbuf(f, NULL, _IONBF, 0);
	s = sink_jsonl_open(f);
	CHECK_EQ_INT(s->write(s, &t, "BTC/USD", "x"), -1);
	s->close(s);
	fclose(f);
}

int main(void)
{
	test_contract_line();
	test_escaping();
	test_worst_case();
	test_roundtrip();
	test_file_sink();
	CHECK_DONE();
}
