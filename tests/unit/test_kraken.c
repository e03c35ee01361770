/* test_kraken.c -- Kraken v2/v1 frames, REST Trades pages and AssetPairs,
 * from hand-written frames: exact decimals, times, sides, ids, the v1 hash,
 * and every way a frame or an entry can be refused. */
#include <stdlib.h>

#include "trades/kraken.h"

#include "check.h"

#define E8   100000000LL
#define MAXT 16

struct got {
	unsigned n, bad;
	struct kraken_trade t[MAXT];
	enum malformed why[MAXT];
};

static void got_fn(void *ctx, const struct kraken_trade *kt, enum malformed why, const char *bytes,
                   size_t len)
{
	struct got *g = ctx;

	(void)bytes;
	CHECK(len > 0);
	if (g->n < MAXT) {
		g->t[g->n] = *kt;
		g->why[g->n] = why;
	}
	g->n++;
	g->bad += why != MALFORMED_NONE;
}

/* Parses from an exactly sized heap copy (ASan sees any overread). */
static enum malformed ws(const char *s, struct kraken_msg *m, struct got *g)
{
	size_t len = strlen(s);
	char *copy = malloc(len ? len : 1);
	enum malformed r;

	memcpy(copy, s, len);
	memset(g, 0, sizeof(*g));
	r = kraken_ws_parse(copy, len, m, got_fn, g);
	free(copy);
	return r;
}

static void test_v2_trade(void)
{
	struct kraken_msg m;
	struct got g;

	CHECK_EQ_INT(ws("{\"channel\":\"trade\",\"type\":\"update\",\"data\":[{\"symbol\":\"MATIC/"
	                "USD\",\"side\":\"sell\",\"price\":0.5117,\"qty\":40.0,\"ord_type\":"
	                "\"market\",\"trade_id\":4665906,\"timestamp\":\"2023-09-25T07:49:37."
	                "708706Z\"},{\"timestamp\":\"2023-09-25T07:49:37.708706Z\",\"trade_id\":"
	                "4665907,\"qty\":1e-8,\"price\":27000,\"side\":\"buy\",\"symbol\":\"BTC/"
	                "USD\"}]}",
	                &m, &g),
	             MALFORMED_NONE);
	CHECK_EQ_INT(m.kind, KRAKEN_MSG_TRADE);
	CHECK(!m.snapshot && !m.v1);
	CHECK_EQ_INT(m.trades, 2);
	CHECK_EQ_INT(g.n, 2);
	CHECK_EQ_INT(g.bad, 0);
	CHECK_EQ_STR(g.t[0].symbol, "MATIC/USD");
	CHECK_EQ_INT(g.t[0].t.price, 51170000);
	CHECK_EQ_INT(g.t[0].t.price_dp, 4);
	CHECK_EQ_INT(g.t[0].t.qty, 40 * E8);
	CHECK_EQ_INT(g.t[0].t.qty_dp, 1);
	CHECK_EQ_INT(g.t[0].t.side, TRADE_SIDE_SELL);
	CHECK_EQ_INT(g.t[0].t.trade_id, 4665906);
	CHECK_EQ_INT(g.t[0].t.seq, 4665906);
	CHECK_EQ_INT(g.t[0].t.flags, TRADE_F_HAS_TS | TRADE_F_HAS_ID | TRADE_F_HAS_SEQ);
	CHECK_EQ_INT(g.t[0].t.ts_exch_ns, 1695628177708706000LL);
	CHECK_EQ_INT(g.t[0].t.ts_digits, 6);
	CHECK_EQ_INT(g.t[1].t.qty, 1);
	CHECK_EQ_INT(g.t[1].t.price, 27000 * E8);
	CHECK_EQ_INT(g.t[1].t.side, TRADE_SIDE_BUY);

	CHECK_EQ_INT(ws("{\"data\":[],\"type\":\"snapshot\",\"channel\":\"trade\"}", &m, &g),
	             MALFORMED_NONE);
	CHECK(m.snapshot);
	CHECK_EQ_INT(m.trades, 0);
	/* Precision beyond 1e-8 is refused, never rounded; a double would not notice. */
	ws("{\"channel\":\"trade\",\"type\":\"update\",\"data\":[{\"symbol\":\"A/B\",\"side\":"
	   "\"buy\",\"price\":0.123456789,\"qty\":1,\"trade_id\":1,\"timestamp\":\"2024-01-01T00:"
	   "00:"
	   "00Z\"}]}",
	   &m, &g);
	CHECK_EQ_INT(g.why[0], MALFORMED_PRICE_PRECISION);
	/* Large exact values survive where a double would round. */
	ws("{\"channel\":\"trade\",\"type\":\"update\",\"data\":[{\"symbol\":\"A/B\",\"side\":"
	   "\"buy\",\"price\":90071992547.40993,\"qty\":0.00000001,\"trade_id\":1,\"timestamp\":"
	   "\"2024-01-01T00:00:00Z\"}]}",
	   &m, &g);
	CHECK_EQ_INT(g.why[0], MALFORMED_NONE);
	CHECK_EQ_INT(g.t[0].t.price, 9007199254740993000LL);
}

static void test_v2_bad_entries(void)
{
	static const struct {
		const char *entry;
		enum malformed why;
	} cases[] = {
	        {"{\"side\":\"buy\",\"price\":1,\"qty\":1,\"timestamp\":\"2024-01-01T00:00:00Z\"}",
	         MALFORMED_MISSING_PAIR},
	        {"{\"symbol\":1,\"side\":\"buy\",\"price\":1,\"qty\":1,\"timestamp\":\"2024-01-"
	         "01T00:"
	         "00:00Z\"}",
	         MALFORMED_BAD_PAIR},
	        {"{\"symbol\":\"A/B\",\"side\":\"buy\",\"qty\":1,\"timestamp\":\"2024-01-01T00:00:"
	         "00Z\"}",
	         MALFORMED_MISSING_PRICE},
	        {"{\"symbol\":\"A/"
	         "B\",\"side\":\"buy\",\"price\":true,\"qty\":1,\"timestamp\":\"2024-"
	         "01-01T00:00:00Z\"}",
	         MALFORMED_BAD_PRICE},
	        {"{\"symbol\":\"A/"
	         "B\",\"side\":\"buy\",\"price\":1,\"qty\":0,\"timestamp\":\"2024-01-"
	         "01T00:00:00Z\"}",
	         MALFORMED_VOLUME_RANGE},
	        {"{\"symbol\":\"A/"
	         "B\",\"side\":\"buy\",\"price\":1,\"timestamp\":\"2024-01-01T00:00:"
	         "00Z\"}",
	         MALFORMED_MISSING_VOLUME},
	        {"{\"symbol\":\"A/"
	         "B\",\"side\":\"up\",\"price\":1,\"qty\":1,\"timestamp\":\"2024-01-"
	         "01T00:00:00Z\"}",
	         MALFORMED_BAD_SIDE},
	        {"{\"symbol\":\"A/B\",\"side\":\"buy\",\"price\":1,\"qty\":1}",
	         MALFORMED_MISSING_TIME},
	        {"{\"symbol\":\"A/"
	         "B\",\"side\":\"buy\",\"price\":1,\"qty\":1,\"timestamp\":\"yesterday\"}",
	         MALFORMED_BAD_TIMESTAMP},
	        {"{\"symbol\":\"A/B\",\"side\":\"buy\",\"price\":1,\"qty\":1,\"trade_id\":-3,"
	         "\"timestamp\":\"2024-01-01T00:00:00Z\"}",
	         MALFORMED_BAD_TRADE_ID},
	        {"{\"symbol\":\"A/B\",\"symbol\":\"A/B\",\"side\":\"buy\",\"price\":1,\"qty\":1,"
	         "\"timestamp\":\"2024-01-01T00:00:00Z\"}",
	         MALFORMED_DUPLICATE_KEY},
	        {"[1,2]", MALFORMED_SYNTAX},
	};
	char frame[512];
	struct kraken_msg m;
	struct got g;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(frame, sizeof(frame),
		         "{\"channel\":\"trade\",\"type\":\"update\",\"data\":[%s]}",
		         cases[i].entry);
		CHECK_EQ_INT(ws(frame, &m, &g), MALFORMED_NONE);
		CHECK_EQ_INT(g.n, 1);
		if (g.why[0] != cases[i].why)
			fprintf(stderr, "case %zu: %s\n", i, malformed_name(g.why[0]));
		CHECK_EQ_INT(g.why[0], cases[i].why);
	}
}

static void test_frames_refused(void)
{
	static const char *const bad[] = {
	        "",
	        "{",
	        "{\"channel\":\"trade\",\"data\":[{]}",
	        "{\"channel\":\"trade\",\"data\":{}}",
	        "{\"channel\":\"trade\",\"data\":[]} x",
	        "{\"no\":\"shape\"}",
	        "\"just a string\"",
	        "[1,[],\"trade\"]",
	        "{\"a\":01}",
	        "{\"a\":\"\\x\"}",
	        "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
	};
	struct kraken_msg m;
	struct got g;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_EQ_INT(ws(bad[i], &m, &g), MALFORMED_SYNTAX);
		CHECK_EQ_INT(g.n, 0);
	}
}

static void test_v2_control(void)
{
	struct kraken_msg m;
	struct got g;

	CHECK_EQ_INT(ws("{\"channel\":\"heartbeat\"}", &m, &g), MALFORMED_NONE);
	CHECK_EQ_INT(m.kind, KRAKEN_MSG_HEARTBEAT);
	CHECK_EQ_INT(
	        ws("{\"channel\":\"status\",\"data\":[{\"api_version\":\"v2\",\"connection_"
	           "id\":123,\"system\":\"online\",\"version\":\"2.0.0\"}],\"type\":\"update\"}",
	           &m, &g),
	        MALFORMED_NONE);
	CHECK_EQ_INT(m.kind, KRAKEN_MSG_STATUS);
	CHECK_EQ_STR(m.status, "online");
	CHECK_EQ_INT(
	        ws("{\"method\":\"subscribe\",\"result\":{\"channel\":\"trade\",\"snapshot\":"
	           "true,\"symbol\":\"XBT/USD\"},\"success\":true,\"time_in\":\"x\",\"req_id\":7}",
	           &m, &g),
	        MALFORMED_NONE);
	CHECK_EQ_INT(m.kind, KRAKEN_MSG_SUB_OK);
	CHECK_EQ_STR(m.symbol, "BTC/USD");
	CHECK_EQ_INT(m.req_id, 7);
	CHECK_EQ_INT(ws("{\"error\":\"Currency pair not supported NOPE/USD\",\"method\":"
	                "\"subscribe\",\"req_id\":8,\"success\":false,\"symbol\":\"NOPE/USD\"}",
	                &m, &g),
	             MALFORMED_NONE);
	CHECK_EQ_INT(m.kind, KRAKEN_MSG_SUB_ERROR);
	CHECK_EQ_STR(m.symbol, "NOPE/USD");
	CHECK_EQ_STR(m.error, "Currency pair not supported NOPE/USD");
	CHECK_EQ_INT(ws("{\"method\":\"pong\",\"req_id\":9}", &m, &g), MALFORMED_NONE);
	CHECK_EQ_INT(m.kind, KRAKEN_MSG_PONG);
	CHECK_EQ_INT(m.req_id, 9);
	CHECK_EQ_INT(ws("{\"channel\":\"book\",\"data\":[]}", &m, &g), MALFORMED_NONE);
	CHECK_EQ_INT(m.kind, KRAKEN_MSG_OTHER);
}

static void test_v1(void)
{
	struct kraken_msg m;
	struct got g;
	uint64_t id0;

	CHECK_EQ_INT(ws("[1921,[[\"0.042960\",\"5000.00000000\",\"1618678157.946108\",\"s\",\"m\","
	                "\"\"],[\"0.043040\",\"20000.00000000\",\"1618678158.135041\",\"b\",\"l\","
	                "\"\"]],\"trade\",\"SC/EUR\"]",
	                &m, &g),
	             MALFORMED_NONE);
	CHECK(m.v1);
	CHECK_EQ_INT(m.kind, KRAKEN_MSG_TRADE);
	CHECK_EQ_INT(g.n, 2);
	CHECK_EQ_INT(g.bad, 0);
	CHECK_EQ_STR(g.t[0].symbol, "SC/EUR");
	CHECK_EQ_INT(g.t[0].t.price, 4296000);
	CHECK_EQ_INT(g.t[0].t.price_dp, 6);
	CHECK_EQ_INT(g.t[0].t.qty, 5000 * E8);
	CHECK_EQ_INT(g.t[0].t.side, TRADE_SIDE_SELL);
	CHECK_EQ_INT(g.t[0].t.ts_exch_ns, 1618678157946108000LL);
	CHECK_EQ_INT(g.t[0].t.ts_digits, 6);
	CHECK(!(g.t[0].t.flags & (TRADE_F_HAS_SEQ | TRADE_F_HAS_ID)));
	id0 = g.t[0].t.trade_id;
	CHECK_EQ_INT(id0 / KRAKEN_V1_HASH_MOD, 1618678157946108LL);
	CHECK_EQ_INT(id0, kraken_v1_id(&g.t[0].t, 'm'));
	CHECK(id0 != kraken_v1_id(&g.t[0].t, 'l')); /* FNV-1a separates these two */
	CHECK(g.t[1].t.trade_id > id0);
	CHECK_EQ_INT(
	        ws("[1,[[\"1\",\"1\",\"1.5\",\"b\",\"l\",\"\"]],\"trade\",\"XBT/CHF\"]", &m, &g),
	        MALFORMED_NONE);
	CHECK_EQ_STR(g.t[0].symbol, "BTC/CHF");
	CHECK_EQ_INT(ws("[1,{\"a\":[]},\"book-10\",\"XBT/CHF\"]", &m, &g), MALFORMED_NONE);
	CHECK_EQ_INT(m.kind, KRAKEN_MSG_OTHER);
	CHECK_EQ_INT(ws("{\"event\":\"heartbeat\"}", &m, &g), MALFORMED_NONE);
	CHECK_EQ_INT(m.kind, KRAKEN_MSG_HEARTBEAT);
	CHECK_EQ_INT(
	        ws("{\"connectionID\":18239578009413566319,\"event\":\"systemStatus\",\"status\":"
	           "\"online\",\"version\":\"1.8.3\"}",
	           &m, &g),
	        MALFORMED_NONE);
	CHECK_EQ_INT(m.kind, KRAKEN_MSG_STATUS);
	CHECK_EQ_STR(m.status, "online");
	CHECK_EQ_INT(ws("{\"errorMessage\":\"Currency pair not in ISO 4217-A3 format FOO\","
	                "\"event\":\"subscriptionStatus\",\"pair\":\"FOO\",\"status\":\"error\"}",
	                &m, &g),
	             MALFORMED_NONE);
	CHECK_EQ_INT(m.kind, KRAKEN_MSG_SUB_ERROR);
	CHECK_EQ_STR(m.symbol, "FOO");
}

static void test_rest(void)
{
	static const char body[] =
	        "{\"error\":[],\"result\":{\"XBTUSDT\":[[\"105433.60000\",\"0.00027625\","
	        "1762795433.9717445,\"b\",\"l\",\"\",10218208],[\"105410.10000\",\"0.00005000\","
	        "1762795457.8467374,\"s\",\"m\",\"\",10218209],[\"1\",\"0\",1,\"b\",\"m\",\"\",3]],"
	        "\"last\":\"1762795457846737400\"}}";
	struct kraken_rest_page pg;
	struct got g;

	memset(&g, 0, sizeof(g));
	CHECK_EQ_INT(kraken_rest_parse(body, strlen(body), "XBT/USDT", &pg, got_fn, &g),
	             MALFORMED_NONE);
	CHECK_EQ_STR(pg.key, "XBTUSDT");
	CHECK_EQ_INT(pg.last, 1762795457846737400LL);
	CHECK_EQ_INT(pg.rows, 3);
	CHECK_EQ_INT(pg.max_trade_id, 10218209);
	CHECK_EQ_INT(g.bad, 1);
	CHECK_EQ_INT(g.why[2], MALFORMED_VOLUME_RANGE);
	CHECK_EQ_STR(g.t[0].symbol, "BTC/USDT");
	CHECK_EQ_INT(g.t[0].t.price, 10543360000000LL);
	CHECK_EQ_INT(g.t[0].t.price_dp, 5);
	CHECK_EQ_INT(g.t[0].t.qty, 27625);
	CHECK_EQ_INT(g.t[0].t.ts_exch_ns, 1762795433971744500LL);
	CHECK_EQ_INT(g.t[0].t.ts_digits, 7);
	CHECK_EQ_INT(g.t[0].t.trade_id, 10218208);
	CHECK_EQ_INT(g.t[1].t.side, TRADE_SIDE_SELL);

	static const char err[] = "{\"error\":[\"EGeneral:Too many requests\"]}";
	memset(&g, 0, sizeof(g));
	CHECK_EQ_INT(kraken_rest_parse(err, strlen(err), "X/Y", &pg, got_fn, &g), MALFORMED_NONE);
	CHECK_EQ_STR(pg.error, "EGeneral:Too many requests");
	CHECK_EQ_INT(pg.rows, 0);
	CHECK_EQ_INT(kraken_rest_parse("{\"result\":1}", 12, "X/Y", &pg, got_fn, &g),
	             MALFORMED_SYNTAX);
}

static void test_pairs_and_names(void)
{
	static const char body[] =
	        "{\"error\":[],\"result\":{\"XXBTZUSD\":{\"altname\":\"XBTUSD\",\"wsname\":\"XBT/"
	        "USD\",\"fees\":[[0,0.26]]},\"XBTUSD.d\":{\"altname\":\"XBTUSD.d\"},\"XDGEUR\":{"
	        "\"altname\":\"XDGEUR\",\"wsname\":\"XDG/EUR\"}}}";
	struct kraken_pairs *ps = malloc(sizeof(*ps));
	char err[128], out[TRADE_SYMBOL_MAX + 1];
	int64_t ns;
	uint8_t dg;

	CHECK_EQ_INT(kraken_pairs_parse(body, strlen(body), ps, err, sizeof(err)), 0);
	CHECK_EQ_INT(ps->n, 2);
	CHECK(kraken_pairs_find(ps, "BTC/USD") == &ps->p[0]);
	CHECK(kraken_pairs_find(ps, "XBT/USD") == &ps->p[0]);
	CHECK(kraken_pairs_find(ps, "XBTUSD") == &ps->p[0]);
	CHECK(kraken_pairs_find(ps, "XXBTZUSD") == &ps->p[0]);
	CHECK_EQ_STR(ps->p[1].symbol, "DOGE/EUR");
	CHECK(kraken_pairs_find(ps, "ETH/USD") == NULL);
	static const char perr[] = "{\"error\":[\"EQuery:Unknown asset pair\"]}";
	CHECK_EQ_INT(kraken_pairs_parse(perr, strlen(perr), ps, err, sizeof(err)), -1);
	CHECK(strstr(err, "Unknown asset pair") != NULL);
	free(ps);
	CHECK_EQ_INT(kraken_symbol_norm("XBTX/XBT", 8, out), 8);
	CHECK_EQ_STR(out, "XBTX/BTC");
	CHECK_EQ_INT(kraken_symbol_norm("A B", 3, out), -1);
	CHECK_EQ_INT(kraken_time_parse("1616663618.3884", 15, &ns, &dg), 0);
	CHECK_EQ_INT(ns, 1616663618388400000LL);
	CHECK_EQ_INT(dg, 4);
	CHECK_EQ_INT(kraken_time_parse("1616663618", 10, &ns, &dg), 0);
	CHECK_EQ_INT(dg, 0);
	CHECK_EQ_INT(kraken_time_parse("1.1234567891", 12, &ns, &dg), -1);
	CHECK_EQ_INT(kraken_time_parse("-1.5", 4, &ns, &dg), -1);
	CHECK_EQ_INT(kraken_time_parse("1.", 2, &ns, &dg), -1);
	CHECK_EQ_INT(kraken_time_parse("1e9", 3, &ns, &dg), -1);
}

int main(void)
{
	test_v2_trade();
	test_v2_bad_entries();
	test_frames_refused();
	test_v2_control();
	test_v1();
	test_rest();
	test_pairs_and_names();
	CHECK_DONE();
}
