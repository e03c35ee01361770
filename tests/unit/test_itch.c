/* test_itch.c -- the ITCH 5.0 decoder against byte vectors built here from the
 * spec's message tables (TotalView-ITCH 5.0, section 1), independently of
 * itch.c: every field is put at the offset the spec gives, big-endian. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "trades/itch.h"

#define MIDNIGHT_NS     1735707600000000000LL /* 2025-01-01T05:00:00Z = midnight US/Eastern */
#define TS_0930         34200123456789ULL     /* 09:30:00.123456789 after midnight */
#define TRACKING        0x7777                /* tracking number: must be ignored */
#define MAX_TRADES      512
#define MAX_SYMS        64
#define FILE_MAX        4096
#define FUZZ_ITERATIONS 20000

/* ---- capture: what the decoder hands its callbacks ---- */

struct capture {
	struct trade t[MAX_TRADES];
	unsigned n;
	unsigned total; /* trades seen, beyond MAX_TRADES too */
	char syms[MAX_SYMS][9];
	unsigned nsyms;
	bool refuse_intern;   /* make intern fail */
	unsigned bad_records; /* fuzz: records breaking the contract */
};

static int64_t cap_intern(void *ctx, const char *sym, size_t len)
{
	struct capture *c = ctx;
	unsigned i;

	if (c->refuse_intern || len == 0 || len > 8)
		return -1;
	for (i = 0; i < c->nsyms; i++)
		if (strlen(c->syms[i]) == len && memcmp(c->syms[i], sym, len) == 0)
			return 100 + i; /* ids offset so a stray 0 is caught */
	if (c->nsyms == MAX_SYMS)
		return -1;
	memcpy(c->syms[c->nsyms], sym, len);
	c->syms[c->nsyms][len] = '\0';
	return 100 + c->nsyms++;
}

static void cap_trade(void *ctx, const struct trade *t)
{
	struct capture *c = ctx;
	static const uint8_t zero[5];

	if (t->qty <= 0 || t->price < 0 || t->price_dp != 4 || t->qty_dp != 0 ||
	    t->ts_digits != 9 || t->side > TRADE_SIDE_SELL || t->feed != 0 ||
	    memcmp(t->reserved, zero, sizeof(zero)) != 0 || !(t->flags & TRADE_F_HAS_TS))
		c->bad_records++;
	c->total++;
	if (c->n < MAX_TRADES)
		c->t[c->n++] = *t;
}

static struct capture cap;
static const struct itch_handler handler = {&cap, cap_intern, cap_trade, 0, 0};

static void init(struct itch *it, uint64_t max_orders, uint64_t max_matches)
{
	memset(&cap, 0, sizeof(cap));
	CHECK_EQ_INT(itch_init(it, max_orders, max_matches, MIDNIGHT_NS, &handler), 0);
}

/* ---- big-endian writers and message builders, offsets from the spec ---- */

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

static void put48(uint8_t *p, uint64_t v)
{
	put16(p, (uint16_t)(v >> 32));
	put32(p + 2, (uint32_t)v);
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)(v >> 32));
	put32(p + 4, (uint32_t)v);
}

/* Alpha: left justified, padded on the right with spaces. */
static void put_alpha(uint8_t *p, const char *s, size_t width)
{
	size_t n = strlen(s);

	memset(p, ' ', width);
	memcpy(p, s, n < width ? n : width);
}

/* Common header: Message Type 0/1, Stock Locate 1/2, Tracking 3/2, Timestamp 5/6. */
static size_t hdr(uint8_t *m, char type, uint16_t locate, uint64_t ts, size_t len)
{
	memset(m, 0, len);
	m[0] = (uint8_t)type;
	put16(m + 1, locate);
	put16(m + 3, TRACKING);
	put48(m + 5, ts);
	return len;
}

static size_t msg_S(uint8_t *m, char code)
{
	hdr(m, 'S', 0, TS_0930, 12);
	m[11] = (uint8_t)code;
	return 12;
}

static size_t msg_R(uint8_t *m, uint16_t locate, const char *stock)
{
	hdr(m, 'R', locate, 1000, 39);
	put_alpha(m + 11, stock, 8);
	m[19] = 'Q';               /* Market Category */
	m[20] = 'N';               /* Financial Status */
	put32(m + 21, 100);        /* Round Lot Size */
	m[25] = 'N';               /* Round Lots Only */
	m[26] = 'C';               /* Issue Classification */
	put_alpha(m + 27, "Z", 2); /* Issue Sub-Type */
	m[29] = 'P';               /* Authenticity */
	m[30] = 'N';               /* Short Sale Threshold */
	m[31] = 'N';               /* IPO Flag */
	m[32] = '1';               /* LULD Tier */
	m[33] = 'N';               /* ETP Flag */
	put32(m + 34, 0);          /* ETP Leverage Factor */
	m[38] = 'N';               /* Inverse Indicator */
	return 39;
}

static size_t msg_A(uint8_t *m, uint16_t locate, uint64_t ref, char side, uint32_t shares,
                    const char *stock, uint32_t price)
{
	hdr(m, 'A', locate, TS_0930, 36);
	put64(m + 11, ref);
	m[19] = (uint8_t)side;
	put32(m + 20, shares);
	put_alpha(m + 24, stock, 8);
	put32(m + 32, price);
	return 36;
}

static size_t msg_F(uint8_t *m, uint16_t locate, uint64_t ref, char side, uint32_t shares,
                    const char *stock, uint32_t price, const char *mpid)
{
	hdr(m, 'F', locate, TS_0930, 40);
	put64(m + 11, ref);
	m[19] = (uint8_t)side;
	put32(m + 20, shares);
	put_alpha(m + 24, stock, 8);
	put32(m + 32, price);
	put_alpha(m + 36, mpid, 4);
	return 40;
}

static size_t msg_E(uint8_t *m, uint16_t locate, uint64_t ts, uint64_t ref, uint32_t shares,
                    uint64_t match)
{
	hdr(m, 'E', locate, ts, 31);
	put64(m + 11, ref);
	put32(m + 19, shares);
	put64(m + 23, match);
	return 31;
}

static size_t msg_C(uint8_t *m, uint16_t locate, uint64_t ref, uint32_t shares, uint64_t match,
                    char printable, uint32_t price)
{
	hdr(m, 'C', locate, TS_0930 + 1, 36);
	put64(m + 11, ref);
	put32(m + 19, shares);
	put64(m + 23, match);
	m[31] = (uint8_t)printable;
	put32(m + 32, price);
	return 36;
}

static size_t msg_X(uint8_t *m, uint16_t locate, uint64_t ref, uint32_t shares)
{
	hdr(m, 'X', locate, TS_0930, 23);
	put64(m + 11, ref);
	put32(m + 19, shares);
	return 23;
}

static size_t msg_D(uint8_t *m, uint16_t locate, uint64_t ref)
{
	hdr(m, 'D', locate, TS_0930, 19);
	put64(m + 11, ref);
	return 19;
}

static size_t msg_U(uint8_t *m, uint16_t locate, uint64_t old_ref, uint64_t new_ref,
                    uint32_t shares, uint32_t price)
{
	hdr(m, 'U', locate, TS_0930, 35);
	put64(m + 11, old_ref);
	put64(m + 19, new_ref);
	put32(m + 27, shares);
	put32(m + 31, price);
	return 35;
}

static size_t msg_P(uint8_t *m, uint16_t locate, char side, uint32_t shares, const char *stock,
                    uint32_t price, uint64_t match)
{
	hdr(m, 'P', locate, TS_0930 + 2, 44);
	put64(m + 11, 0); /* Order Reference Number: zero since 2010 */
	m[19] = (uint8_t)side;
	put32(m + 20, shares);
	put_alpha(m + 24, stock, 8);
	put32(m + 32, price);
	put64(m + 36, match);
	return 44;
}

static size_t msg_Q(uint8_t *m, uint16_t locate, uint64_t shares, const char *stock, uint32_t price,
                    uint64_t match)
{
	hdr(m, 'Q', locate, TS_0930 + 3, 40);
	put64(m + 11, shares);
	put_alpha(m + 19, stock, 8);
	put32(m + 27, price);
	put64(m + 31, match);
	m[39] = 'O'; /* Cross Type: opening */
	return 40;
}

static size_t msg_B(uint8_t *m, uint16_t locate, uint64_t match)
{
	hdr(m, 'B', locate, TS_0930 + 4, 19);
	put64(m + 11, match);
	return 19;
}

/* Decode one message as MoldUDP64 would hand it over. */
static void feed_msg(struct itch *it, const uint8_t *m, size_t len, uint64_t seq)
{
	itch_decode_msg(it, m, len, seq, 5555, false);
}

/* ---- message lengths ---- */

static void test_msg_len(void)
{
	static const struct {
		char type;
		size_t len;
	} spec[] = {
	        {'S', 12}, {'R', 39}, {'H', 25}, {'Y', 20}, {'L', 26}, {'V', 35},
	        {'W', 12}, {'K', 28}, {'J', 35}, {'h', 21}, {'A', 36}, {'F', 40},
	        {'E', 31}, {'C', 36}, {'X', 23}, {'D', 19}, {'U', 35}, {'P', 44},
	        {'Q', 40}, {'B', 19}, {'I', 50}, {'N', 20}, {'O', 48},
	};
	unsigned i, known = 0;

	for (i = 0; i < sizeof(spec) / sizeof(spec[0]); i++) {
		CHECK_EQ_INT(itch_msg_len((uint8_t)spec[i].type), spec[i].len);
		CHECK(spec[i].len <= ITCH_MSG_MAX);
	}
	for (i = 0; i < 256; i++)
		known += itch_msg_len((uint8_t)i) != 0;
	CHECK_EQ_INT(known, 23);
	CHECK_EQ_INT(itch_msg_len('T'), 0); /* ITCH 4 seconds message: gone in 5.0 */
	CHECK_EQ_INT(itch_msg_len('Z'), 0);
	CHECK_EQ_INT(itch_msg_len(0), 0);
	CHECK_EQ_INT(itch_msg_len(0xFF), 0);
}

/* ---- directory ---- */

static void test_directory(void)
{
	struct itch it;
	uint8_t m[64];

	init(&it, 64, 64);
	feed_msg(&it, m, msg_R(m, 5, "AAPL"), 1);
	CHECK_EQ_INT(cap.nsyms, 1);
	CHECK_EQ_STR(cap.syms[0], "AAPL"); /* padding stripped */
	CHECK_EQ_INT(it.locates[5].inst1, 101);
	CHECK_EQ_INT(it.locates[5].sym_len, 4);
	CHECK(memcmp(it.locates[5].sym, "AAPL", 4) == 0);
	feed_msg(&it, m, msg_R(m, 65535, "ABCDEFGH"), 2); /* full width, top locate */
	CHECK_EQ_STR(cap.syms[1], "ABCDEFGH");
	CHECK_EQ_INT(it.locates[65535].inst1, 102);
	feed_msg(&it, m, msg_R(m, 7, "BRK A"), 3); /* inner space kept */
	CHECK_EQ_STR(cap.syms[2], "BRK A");
	feed_msg(&it, m, msg_R(m, 8, ""), 4); /* all spaces */
	CHECK_EQ_INT(it.stats.intern_failed, 1);
	CHECK_EQ_INT(it.locates[8].inst1, 0);
	cap.refuse_intern = true;
	feed_msg(&it, m, msg_R(m, 9, "MSFT"), 5);
	CHECK_EQ_INT(it.stats.intern_failed, 2);
	CHECK_EQ_INT(it.locates[9].inst1, 0);
	feed_msg(&it, m, msg_R(m, 5, "AAPL"), 6); /* a refused repeat keeps the locate */
	CHECK_EQ_INT(it.locates[5].inst1, 101);
	CHECK_EQ_INT(it.locates[0].inst1, 0);
	CHECK_EQ_INT(it.stats.msgs['R'], 6);
	CHECK_EQ_INT(cap.n, 0);
	itch_free(&it);
}

/* Every field of one emitted record. */
static void check_trade(const struct trade *t, int64_t price, int64_t qty, int64_t ts_exch,
                        uint64_t id, uint64_t seq, uint32_t inst, uint8_t side, uint8_t flags)
{
	static const uint8_t zero[5];

	CHECK_EQ_INT(t->price, price);
	CHECK_EQ_INT(t->qty, qty);
	CHECK_EQ_INT(t->ts_exch_ns, ts_exch);
	CHECK_EQ_INT(t->trade_id, id);
	CHECK_EQ_INT(t->seq, seq);
	CHECK_EQ_INT(t->instrument, inst);
	CHECK_EQ_INT(t->side, side);
	CHECK_EQ_INT(t->flags, flags);
	CHECK_EQ_INT(t->feed, 0);
	CHECK_EQ_INT(t->price_dp, 4);
	CHECK_EQ_INT(t->qty_dp, 0);
	CHECK_EQ_INT(t->ts_digits, 9);
	CHECK(memcmp(t->reserved, zero, sizeof(zero)) == 0);
}

#define F_TS  TRADE_F_HAS_TS
#define F_ID  TRADE_F_HAS_ID
#define F_SEQ TRADE_F_HAS_SEQ

/* ---- trade-bearing messages ---- */

static void test_executed(void)
{
	struct itch it;
	uint8_t m[64];
	struct book_order *o;

	init(&it, 64, 64);
	feed_msg(&it, m, msg_R(m, 5, "AAPL"), 1);
	feed_msg(&it, m, msg_A(m, 5, 1001, 'B', 300, "AAPL", 1234500), 2); /* 123.4500 */
	CHECK_EQ_INT(it.book.stats.live, 1);
	/* 'E' with a kernel receive stamp: every flag set */
	msg_E(m, 5, TS_0930, 1001, 100, 555);
	itch_decode_msg(&it, m, 31, 77, 999, true);
	CHECK_EQ_INT(cap.n, 1);
	check_trade(&cap.t[0], 12345000000LL, 100 * TRADE_SCALE, MIDNIGHT_NS + (int64_t)TS_0930,
	            555, 77, 100, TRADE_SIDE_SELL, F_TS | F_ID | F_SEQ | TRADE_F_KERNEL_RX);
	CHECK_EQ_INT(cap.t[0].ts_rx_ns, 999);
	o = book_find(&it.book, 1001);
	CHECK(o != NULL && o->shares == 200);
	/* the rest: order gone; seq 0 gives no HAS_SEQ; match 0 gives no HAS_ID */
	feed_msg(&it, m, msg_E(m, 5, TS_0930 + 9, 1001, 200, 0), 0);
	CHECK_EQ_INT(cap.n, 2);
	check_trade(&cap.t[1], 12345000000LL, 200 * TRADE_SCALE, MIDNIGHT_NS + (int64_t)TS_0930 + 9,
	            0, 0, 100, TRADE_SIDE_SELL, F_TS);
	CHECK(book_find(&it.book, 1001) == NULL);
	CHECK_EQ_INT(it.book.stats.live, 0);

	/* a resting sell was lifted: the aggressor bought */
	feed_msg(&it, m, msg_F(m, 5, 1002, 'S', 50, "AAPL", 99, "GSCO"), 3); /* 0.0099 */
	feed_msg(&it, m, msg_E(m, 5, TS_0930, 1002, 50, 556), 4);
	CHECK_EQ_INT(cap.n, 3);
	check_trade(&cap.t[2], 990000, 50 * TRADE_SCALE, MIDNIGHT_NS + (int64_t)TS_0930, 556, 4,
	            100, TRADE_SIDE_BUY, F_TS | F_ID | F_SEQ);
	/* the largest Price(4) the spec allows, 200,000.0000 */
	feed_msg(&it, m, msg_A(m, 5, 1003, 'B', 1, "AAPL", 0x77359400), 5);
	feed_msg(&it, m, msg_E(m, 5, TS_0930, 1003, 1, 557), 6);
	CHECK_EQ_INT(cap.t[3].price, 200000 * TRADE_SCALE);
	CHECK_EQ_INT(it.stats.trades, 4);
	CHECK_EQ_INT(cap.bad_records, 0);
	itch_free(&it);
}

static void test_executed_with_price(void)
{
	struct itch it;
	uint8_t m[64];

	init(&it, 64, 64);
	feed_msg(&it, m, msg_R(m, 5, "AAPL"), 1);
	feed_msg(&it, m, msg_A(m, 5, 2001, 'S', 500, "AAPL", 500000), 2); /* 50.0000 */
	feed_msg(&it, m, msg_C(m, 5, 2001, 100, 600, 'Y', 500100), 3);    /* at 50.0100 */
	CHECK_EQ_INT(cap.n, 1);
	check_trade(&cap.t[0], 5001000000LL, 100 * TRADE_SCALE, MIDNIGHT_NS + (int64_t)TS_0930 + 1,
	            600, 3, 100, TRADE_SIDE_BUY, F_TS | F_ID | F_SEQ);
	CHECK_EQ_INT(book_find(&it.book, 2001)->shares, 400);
	/* non-printable: the order shrinks, no trade */
	feed_msg(&it, m, msg_C(m, 5, 2001, 150, 601, 'N', 500200), 4);
	CHECK_EQ_INT(cap.n, 1);
	CHECK_EQ_INT(book_find(&it.book, 2001)->shares, 250);
	/* the book's price is untouched by C: a later E trades at 50.0000 */
	feed_msg(&it, m, msg_E(m, 5, TS_0930, 2001, 250, 602), 5);
	CHECK_EQ_INT(cap.n, 2);
	CHECK_EQ_INT(cap.t[1].price, 5000000000LL);
	CHECK(book_find(&it.book, 2001) == NULL);
	itch_free(&it);
}

static void test_non_cross_trade(void)
{
	struct itch it;
	uint8_t m[64];

	init(&it, 64, 64);
	feed_msg(&it, m, msg_R(m, 6, "MSFT"), 1);
	feed_msg(&it, m, msg_P(m, 6, 'B', 250, "MSFT", 4100000, 700), 0); /* 410.0000 */
	CHECK_EQ_INT(cap.n, 1);
	/* "always B regardless of the resting side" (2014): side unknown */
	check_trade(&cap.t[0], 41000000000LL, 250 * TRADE_SCALE, MIDNIGHT_NS + (int64_t)TS_0930 + 2,
	            700, 0, 100, TRADE_SIDE_UNKNOWN, F_TS | F_ID);
	CHECK_EQ_INT(cap.t[0].ts_rx_ns, 5555);
	feed_msg(&it, m, msg_P(m, 6, 'S', 1, "MSFT", 1, 701), 9);
	CHECK_EQ_INT(cap.t[1].side, TRADE_SIDE_UNKNOWN);
	CHECK_EQ_INT(cap.t[1].price, 10000);
	CHECK_EQ_INT(it.book.stats.live, 0); /* no book effect */
	feed_msg(&it, m, msg_P(m, 6, 'B', 0, "MSFT", 1, 702), 10);
	CHECK_EQ_INT(cap.n, 2);
	itch_free(&it);
}

static void test_cross_trade(void)
{
	struct itch it;
	uint8_t m[64];

	init(&it, 64, 64);
	feed_msg(&it, m, msg_R(m, 6, "MSFT"), 1);
	/* 5e9 shares: needs the 8-byte field */
	feed_msg(&it, m, msg_Q(m, 6, 5000000000ULL, "MSFT", 4105000, 800), 2);
	CHECK_EQ_INT(cap.n, 1);
	check_trade(&cap.t[0], 41050000000LL, 5000000000LL * TRADE_SCALE,
	            MIDNIGHT_NS + (int64_t)TS_0930 + 3, 800, 2, 100, TRADE_SIDE_UNKNOWN,
	            TRADE_F_CROSS | F_TS | F_ID | F_SEQ);
	feed_msg(&it, m, msg_Q(m, 6, 0, "MSFT", 4105000, 801), 3); /* no cross took place */
	CHECK_EQ_INT(cap.n, 1);
	feed_msg(&it, m, msg_Q(m, 6, (uint64_t)(INT64_MAX / TRADE_SCALE) + 1, "MSFT", 1, 802), 4);
	CHECK_EQ_INT(cap.n, 1);
	CHECK_EQ_INT(it.stats.qty_overflow, 1);
	CHECK_EQ_INT(it.stats.msgs['Q'], 3);
	itch_free(&it);
}

static void test_broken(void)
{
	struct itch it;
	uint8_t m[64];

	init(&it, 64, 64);
	feed_msg(&it, m, msg_R(m, 5, "AAPL"), 1);
	feed_msg(&it, m, msg_R(m, 6, "MSFT"), 2);
	feed_msg(&it, m, msg_A(m, 5, 1, 'B', 300, "AAPL", 1234500), 3);
	feed_msg(&it, m, msg_E(m, 5, TS_0930, 1, 100, 555), 4);
	feed_msg(&it, m, msg_Q(m, 6, 1000, "MSFT", 4105000, 800), 5);
	feed_msg(&it, m, msg_C(m, 5, 1, 10, 556, 'N', 1), 6); /* not emitted: nothing to break */
	CHECK_EQ_INT(cap.n, 2);

	feed_msg(&it, m, msg_B(m, 5, 555), 7);
	CHECK_EQ_INT(cap.n, 3);
	/* the original's instrument, price, qty and side; the break's time and seq */
	check_trade(&cap.t[2], 12345000000LL, 100 * TRADE_SCALE, MIDNIGHT_NS + (int64_t)TS_0930 + 4,
	            555, 7, 100, TRADE_SIDE_SELL, TRADE_F_CORRECTION | F_TS | F_ID | F_SEQ);
	feed_msg(&it, m, msg_B(m, 6, 800), 8); /* a cross keeps its flag */
	CHECK_EQ_INT(cap.n, 4);
	check_trade(&cap.t[3], 41050000000LL, 1000 * TRADE_SCALE,
	            MIDNIGHT_NS + (int64_t)TS_0930 + 4, 800, 8, 101, TRADE_SIDE_UNKNOWN,
	            TRADE_F_CORRECTION | TRADE_F_CROSS | F_TS | F_ID | F_SEQ);
	CHECK_EQ_INT(it.stats.corrections, 2);
	feed_msg(&it, m, msg_B(m, 5, 555), 9);   /* a break is final: not twice */
	feed_msg(&it, m, msg_B(m, 5, 9999), 10); /* never seen */
	feed_msg(&it, m, msg_B(m, 5, 556), 11);  /* non-printable, never emitted */
	feed_msg(&it, m, msg_B(m, 5, 0), 12);
	CHECK_EQ_INT(cap.n, 4);
	CHECK_EQ_INT(it.stats.broken_unknown, 4);
	CHECK_EQ_INT(it.book.stats.live, 1); /* no book effect */
	itch_free(&it);
}

/* The match table keeps the most recent matches; older ones are overwritten. */
static void test_match_eviction(void)
{
	struct itch it;
	uint8_t m[64];
	uint64_t k;

	init(&it, 64, 3); /* rounds up to 4 slots */
	CHECK_EQ_INT(it.match_cap, 4);
	feed_msg(&it, m, msg_R(m, 6, "MSFT"), 1);
	for (k = 10; k < 16; k++)
		feed_msg(&it, m, msg_P(m, 6, 'B', 1, "MSFT", 1, k), k);
	feed_msg(&it, m, msg_B(m, 6, 11), 20); /* overwritten by 15 */
	CHECK_EQ_INT(it.stats.broken_unknown, 1);
	feed_msg(&it, m, msg_B(m, 6, 12), 21); /* still there */
	CHECK_EQ_INT(it.stats.corrections, 1);
	CHECK_EQ_INT(cap.t[cap.n - 1].trade_id, 12);
	itch_free(&it);
}

/* ---- book maintenance ---- */

static void test_book_effects(void)
{
	struct itch it;
	uint8_t m[64];
	struct book_order *o;

	init(&it, 64, 64);
	feed_msg(&it, m, msg_R(m, 5, "AAPL"), 1);
	feed_msg(&it, m, msg_A(m, 5, 3001, 'B', 1000, "AAPL", 100000), 2); /* 10.0000 */
	feed_msg(&it, m, msg_E(m, 5, TS_0930, 3001, 100, 1), 3);
	feed_msg(&it, m, msg_E(m, 5, TS_0930, 3001, 200, 2), 4);
	CHECK_EQ_INT(book_find(&it.book, 3001)->shares, 700);
	feed_msg(&it, m, msg_X(m, 5, 3001, 100), 5); /* partial cancel */
	CHECK_EQ_INT(book_find(&it.book, 3001)->shares, 600);
	/* replace: new ref, shares and price; side and locate kept */
	feed_msg(&it, m, msg_U(m, 5, 3001, 3002, 550, 105000), 6);
	CHECK(book_find(&it.book, 3001) == NULL);
	o = book_find(&it.book, 3002);
	CHECK(o != NULL && o->shares == 550 && o->price == 105000 && o->side == 'B' &&
	      o->locate == 5);
	feed_msg(&it, m, msg_E(m, 5, TS_0930, 3002, 50, 3), 7);
	CHECK_EQ_INT(cap.n, 3);
	CHECK_EQ_INT(cap.t[2].price, 1050000000LL); /* 10.5000 */
	CHECK_EQ_INT(cap.t[2].side, TRADE_SIDE_SELL);
	CHECK_EQ_INT(cap.t[2].qty, 50 * TRADE_SCALE);
	feed_msg(&it, m, msg_E(m, 5, TS_0930, 3001, 1, 4), 8); /* the old ref is gone */
	CHECK_EQ_INT(it.stats.missing_e, 1);
	CHECK_EQ_INT(cap.n, 3);
	feed_msg(&it, m, msg_X(m, 5, 3002, 500), 9); /* cancel to zero removes */
	CHECK(book_find(&it.book, 3002) == NULL);
	feed_msg(&it, m, msg_A(m, 5, 3003, 'S', 10, "AAPL", 1), 10);
	feed_msg(&it, m, msg_D(m, 5, 3003), 11);
	CHECK(book_find(&it.book, 3003) == NULL);
	feed_msg(&it, m, msg_A(m, 5, 3004, 'S', 10, "AAPL", 1), 12);
	feed_msg(&it, m, msg_A(m, 5, 3004, 'S', 10, "AAPL", 1), 13); /* duplicate ref */
	feed_msg(&it, m, msg_A(m, 5, 3005, 'S', 0, "AAPL", 1), 14);  /* 0 shares */
	CHECK_EQ_INT(it.stats.book_exists, 1);
	CHECK_EQ_INT(it.book.stats.live, 1);
	CHECK_EQ_INT(it.stats.msgs['A'], 5);
	CHECK_EQ_INT(it.stats.msgs['U'], 1);
	itch_free(&it);
}

static void test_book_full(void)
{
	struct itch it;
	uint8_t m[64];
	uint64_t k;

	init(&it, 4, 64);
	feed_msg(&it, m, msg_R(m, 5, "AAPL"), 1);
	for (k = 1; k <= 6; k++)
		feed_msg(&it, m, msg_A(m, 5, k, 'B', 10, "AAPL", 1), k);
	CHECK_EQ_INT(it.stats.book_full, 2);
	CHECK_EQ_INT(it.book.stats.live, 4);
	feed_msg(&it, m, msg_E(m, 5, TS_0930, 6, 1, 1), 7); /* was refused: unknown order */
	CHECK_EQ_INT(it.stats.missing_e, 1);
	CHECK_EQ_INT(cap.n, 0);
	itch_free(&it);
}

/* References to orders the book never saw (a feed joined mid-day). */
static void test_unknown_orders(void)
{
	struct itch it;
	uint8_t m[64];

	init(&it, 64, 64);
	feed_msg(&it, m, msg_R(m, 5, "AAPL"), 1);
	feed_msg(&it, m, msg_E(m, 5, TS_0930, 42, 1, 1), 2);
	feed_msg(&it, m, msg_C(m, 5, 42, 1, 2, 'Y', 1), 3);
	feed_msg(&it, m, msg_C(m, 5, 42, 1, 3, 'Y', 1), 4);
	feed_msg(&it, m, msg_X(m, 5, 42, 1), 5);
	feed_msg(&it, m, msg_D(m, 5, 42), 6);
	feed_msg(&it, m, msg_D(m, 5, 43), 7);
	feed_msg(&it, m, msg_U(m, 5, 42, 44, 1, 1), 8);
	CHECK_EQ_INT(it.stats.missing_e, 1);
	CHECK_EQ_INT(it.stats.missing_c, 2);
	CHECK_EQ_INT(it.stats.missing_x, 1);
	CHECK_EQ_INT(it.stats.missing_d, 2);
	CHECK_EQ_INT(it.stats.missing_u, 1);
	CHECK(book_find(&it.book, 44) == NULL); /* U did not add the new ref */
	CHECK_EQ_INT(cap.n, 0);
	CHECK_EQ_INT(it.stats.trades, 0);
	itch_free(&it);
}

static void test_unknown_locate(void)
{
	struct itch it;
	uint8_t m[64];

	init(&it, 64, 64);
	feed_msg(&it, m, msg_A(m, 99, 1, 'B', 10, "ZZZZ", 1), 1);
	CHECK_EQ_INT(it.book.stats.live, 0); /* skipped */
	feed_msg(&it, m, msg_P(m, 99, 'B', 10, "ZZZZ", 1, 1), 2);
	feed_msg(&it, m, msg_Q(m, 99, 10, "ZZZZ", 1, 2), 3);
	CHECK_EQ_INT(it.stats.unknown_locate, 3);
	CHECK_EQ_INT(cap.n, 0);
	itch_free(&it);
}

/* itch_decode_msg checks len itself (MoldUDP64 hands it raw slices). */
static void test_msg_lengths(void)
{
	struct itch it;
	uint8_t m[64];

	init(&it, 64, 64);
	feed_msg(&it, m, msg_R(m, 6, "MSFT"), 1);
	msg_P(m, 6, 'B', 10, "MSFT", 1, 1);
	feed_msg(&it, m, 43, 2); /* one short */
	CHECK_EQ_INT(it.stats.truncated, 1);
	CHECK_EQ_INT(cap.n, 0);
	feed_msg(&it, m, 50, 3); /* longer: decoded, counted */
	CHECK_EQ_INT(it.stats.length_mismatch, 1);
	CHECK_EQ_INT(cap.n, 1);
	feed_msg(&it, m, 0, 4);
	CHECK_EQ_INT(it.stats.truncated, 2);
	m[0] = 'Z';
	feed_msg(&it, m, 44, 5);
	m[0] = 'T';
	feed_msg(&it, m, 1, 6);
	CHECK_EQ_INT(it.stats.unknown_type, 2);
	CHECK_EQ_INT(it.stats.msgs['Z'], 1);
	CHECK_EQ_INT(it.stats.msgs['T'], 1);
	CHECK_EQ_INT(it.stats.msgs['P'], 2); /* len 0 has no type byte */
	feed_msg(&it, m, msg_S(m, 'O'), 7);  /* administrative: counted only */
	CHECK_EQ_INT(it.stats.msgs['S'], 1);
	CHECK_EQ_INT(cap.n, 1);
	itch_free(&it);
}

/* ---- file framing ---- */

struct file {
	uint8_t b[FILE_MAX];
	size_t len;
};

/* Appends a frame: 2-byte big-endian prefix (the true length unless forced). */
static void frame(struct file *f, const uint8_t *m, size_t len, int prefix)
{
	CHECK(f->len + 2 + len <= FILE_MAX);
	put16(f->b + f->len, (uint16_t)(prefix >= 0 ? (size_t)prefix : len));
	memcpy(f->b + f->len + 2, m, len);
	f->len += 2 + len;
}

#define TRUE_LEN (-1)

/* A small day: every trade type, every book message.  Emits 7 trades. */
static void build_file(struct file *f, int prefix_a, int prefix_e)
{
	uint8_t m[64];

	f->len = 0;
	frame(f, m, msg_S(m, 'O'), TRUE_LEN);
	frame(f, m, msg_R(m, 5, "AAPL"), TRUE_LEN);
	frame(f, m, msg_R(m, 6, "MSFT"), TRUE_LEN);
	frame(f, m, msg_A(m, 5, 1, 'B', 300, "AAPL", 1234500), prefix_a);
	frame(f, m, msg_F(m, 6, 2, 'S', 100, "MSFT", 4100000, "GSCO"), TRUE_LEN);
	frame(f, m, msg_E(m, 5, TS_0930, 1, 100, 10), prefix_e);
	frame(f, m, msg_C(m, 6, 2, 40, 11, 'Y', 4100100), TRUE_LEN);
	frame(f, m, msg_P(m, 5, 'B', 7, "AAPL", 1234600, 12), TRUE_LEN);
	frame(f, m, msg_Q(m, 6, 5000, "MSFT", 4100000, 13), TRUE_LEN);
	frame(f, m, msg_X(m, 5, 1, 50), TRUE_LEN);
	frame(f, m, msg_U(m, 5, 1, 3, 120, 1234700), TRUE_LEN);
	frame(f, m, msg_E(m, 5, TS_0930, 3, 20, 14), TRUE_LEN);
	frame(f, m, msg_D(m, 6, 2), TRUE_LEN);
	frame(f, m, msg_B(m, 5, 12), TRUE_LEN);
	frame(f, m, msg_C(m, 5, 3, 100, 15, 'Y', 1234800), TRUE_LEN);
	frame(f, m, msg_S(m, 'C'), TRUE_LEN);
}

struct result {
	struct trade t[64];
	unsigned n;
	struct itch_stats stats;
	uint64_t live;
	uint64_t skipped; /* itch_skipped_bytes */
};

/* Decodes f cut at the given points (sorted, within [0, len]). */
static void run_split(const struct file *f, const size_t *cuts, unsigned ncuts, struct result *r)
{
	struct itch it;
	struct itch_stream s;
	size_t from = 0;
	unsigned i;

	init(&it, 64, 64);
	itch_stream_init(&s);
	for (i = 0; i <= ncuts; i++) {
		size_t to = i < ncuts ? cuts[i] : f->len;

		itch_stream_feed(&it, &s, f->b + from, to - from, 4242, false);
		from = to;
	}
	itch_stream_end(&it, &s);
	r->n = cap.n < 64 ? cap.n : 64;
	memcpy(r->t, cap.t, r->n * sizeof(r->t[0]));
	r->stats = it.stats;
	r->live = it.book.stats.live;
	r->skipped = itch_skipped_bytes(&it);
	itch_free(&it);
}

static bool same_result(const struct result *a, const struct result *b)
{
	return a->n == b->n && memcmp(a->t, b->t, a->n * sizeof(a->t[0])) == 0 &&
	       memcmp(&a->stats, &b->stats, sizeof(a->stats)) == 0 && a->live == b->live;
}

/* Every single cut point, byte-at-a-time, and random multi-cuts agree with
 * the whole file decoded at once.  Returns the whole-file result. */
static void check_splits(const struct file *f, struct result *whole)
{
	static struct result r;
	size_t cuts[FILE_MAX];
	unsigned bad = 0, i, k;

	run_split(f, NULL, 0, whole);
	for (i = 0; i <= f->len; i++) {
		cuts[0] = i;
		run_split(f, cuts, 1, &r);
		bad += !same_result(whole, &r);
	}
	for (i = 0; i < f->len; i++)
		cuts[i] = i + 1;
	run_split(f, cuts, (unsigned)f->len - 1, &r); /* one byte at a time */
	bad += !same_result(whole, &r);
	for (i = 0; i < 200; i++) {
		unsigned n = 1 + (unsigned)(rand() % 6);

		for (k = 0; k < n; k++)
			cuts[k] = (size_t)rand() % (f->len + 1);
		for (k = 1; k < n; k++) { /* insertion sort: n <= 6 */
			size_t v = cuts[k];
			unsigned j = k;

			for (; j > 0 && cuts[j - 1] > v; j--)
				cuts[j] = cuts[j - 1];
			cuts[j] = v;
		}
		run_split(f, cuts, n, &r);
		bad += !same_result(whole, &r);
	}
	CHECK_EQ_INT(bad, 0);
}

/* Zeroes the length prefix of every frame of a well-formed file. */
static void zero_prefixes(struct file *f)
{
	size_t off = 0, n;

	for (n = 0; off + 3 <= f->len && n < FILE_MAX; n++) {
		size_t len = itch_msg_len(f->b[off + 2]);

		CHECK(len != 0);
		if (len == 0)
			return;
		f->b[off] = f->b[off + 1] = 0;
		off += 2 + len;
	}
}

/* f with the bytes [junk, junk+n) inserted at offset at, into g. */
static void insert_bytes(struct file *g, const struct file *f, size_t at, const uint8_t *junk,
                         size_t n)
{
	CHECK(f->len + n <= FILE_MAX && at <= f->len);
	memcpy(g->b, f->b, at);
	memcpy(g->b + at, junk, n);
	memcpy(g->b + at + n, f->b + at, f->len - at);
	g->len = f->len + n;
}

static void test_file(void)
{
	static struct file f;
	static struct result whole, mis;

	build_file(&f, TRUE_LEN, TRUE_LEN);
	check_splits(&f, &whole);
	CHECK_EQ_INT(whole.n, 7);
	CHECK_EQ_INT(whole.stats.length_mismatch, 0);
	CHECK_EQ_INT(whole.stats.truncated, 0);
	CHECK_EQ_INT(whole.stats.corrections, 1);
	CHECK_EQ_INT(whole.live, 0); /* 1: E, X, U -> 3: E, C to 0; 2: C, D */
	/* E 100 of A 1 (SELL), C 40 of F 2 (BUY), P, Q, E 20 of U 3, B of P, C 100 of 3 */
	CHECK(whole.n == 7 && whole.t[0].trade_id == 10 && whole.t[0].side == TRADE_SIDE_SELL &&
	      whole.t[1].trade_id == 11 && whole.t[1].side == TRADE_SIDE_BUY &&
	      whole.t[2].trade_id == 12 && whole.t[3].trade_id == 13 &&
	      (whole.t[3].flags & TRADE_F_CROSS) && whole.t[4].trade_id == 14 &&
	      whole.t[4].price == 1234700LL * 10000 && whole.t[5].trade_id == 12 &&
	      (whole.t[5].flags & TRADE_F_CORRECTION) && whole.t[6].trade_id == 15);
	CHECK(whole.n == 7 && whole.t[0].seq == 0 && !(whole.t[0].flags & TRADE_F_HAS_SEQ) &&
	      whole.t[0].ts_rx_ns == 4242);
	CHECK_EQ_INT(whole.stats.msgs['S'], 2);
	CHECK_EQ_INT(whole.stats.msgs['E'], 2);

	/* prefix 0 on the A (the zeroed framing some files have: not counted),
	 * a wrong prefix on the E (counted; decoded at the type's length since
	 * the frame after it is plausible) */
	build_file(&f, 0, 99);
	check_splits(&f, &mis);
	CHECK_EQ_INT(mis.stats.length_mismatch, 1);
	mis.stats.length_mismatch = 0;
	CHECK(same_result(&whole, &mis));
	CHECK_EQ_INT(mis.stats.stream_dropped, 0);

	/* every prefix zeroed, as in the real BX sample: the same result */
	build_file(&f, TRUE_LEN, TRUE_LEN);
	zero_prefixes(&f);
	check_splits(&f, &mis);
	CHECK(same_result(&whole, &mis));
}

/* Framing lost, then found again: an unknown type with a zero prefix at the
 * start (the `00 00 7f` of the issue), junk between two messages of a file
 * with zeroed prefixes, a prefix that claims more bytes than the type has
 * and is right.  Every message outside the damage decodes, the bytes
 * skipped are counted exactly, whatever the chunking. */
static void test_file_resync(void)
{
	static struct file f, z, g;
	static struct result whole, r;
	static const uint8_t lost[3] = {0, 0, 0x7f};
	uint8_t junk[40];
	const size_t head = (2 + 12) + (2 + 39); /* the S and the first R frames */

	build_file(&f, TRUE_LEN, TRUE_LEN);
	run_split(&f, NULL, 0, &whole);
	CHECK_EQ_INT(whole.n, 7);
	z = f;
	zero_prefixes(&z);

	/* 00 00 7f first: 3 bytes dropped, then all of it */
	insert_bytes(&g, &z, 0, lost, sizeof(lost));
	check_splits(&g, &r);
	CHECK_EQ_INT(r.n, 7);
	CHECK_EQ_INT(r.stats.stream_unsync, 1);
	CHECK_EQ_INT(r.stats.stream_dropped, 3);
	CHECK_EQ_INT(r.stats.unknown_type, 1);
	CHECK(memcmp(r.t, whole.t, 7 * sizeof(r.t[0])) == 0);

	/* 40 junk bytes (no known type among them) after the first R */
	memset(junk, 0xff, sizeof(junk));
	junk[7] = 0x00;
	insert_bytes(&g, &z, head, junk, sizeof(junk));
	check_splits(&g, &r);
	CHECK_EQ_INT(r.n, 7);
	CHECK_EQ_INT(r.stats.stream_unsync, 1);
	CHECK_EQ_INT(r.stats.stream_dropped, sizeof(junk));
	CHECK(memcmp(r.t, whole.t, 7 * sizeof(r.t[0])) == 0);

	/* a known type whose frame is followed by junk: its prefix of 0 is
	 * not confirmed by the next frame, so the frame goes with the junk */
	junk[0] = 'S'; /* looks like a type: the scan must not stop on it */
	insert_bytes(&g, &z, head, junk, sizeof(junk));
	check_splits(&g, &r);
	CHECK_EQ_INT(r.n, 7);
	CHECK_EQ_INT(r.stats.stream_dropped, sizeof(junk));
	CHECK(memcmp(r.t, whole.t, 7 * sizeof(r.t[0])) == 0);

	/* the S at the start says 17 bytes and has 5 extra: the type's length
	 * leads into the extra bytes, not to a message, so the S is dropped
	 * (12 + 2 + 5 bytes) and the rest decodes */
	memset(junk, 0xee, 5);
	insert_bytes(&g, &f, 14, junk, 5);
	g.b[0] = 0;
	g.b[1] = 17;
	check_splits(&g, &r);
	CHECK_EQ_INT(r.n, 7);
	CHECK_EQ_INT(r.stats.length_mismatch, 1);
	CHECK_EQ_INT(r.stats.stream_unsync, 1);
	CHECK_EQ_INT(r.stats.stream_dropped, 14 + 5);
	CHECK_EQ_INT(r.stats.msgs['S'], 1);
	CHECK(memcmp(r.t, whole.t, 7 * sizeof(r.t[0])) == 0);

	/* a timestamp past the day: bytes that only look like a message */
	g = z;
	memset(g.b + head + 2 + 5, 0xff, 6); /* the second R's timestamp (offset 5) */
	check_splits(&g, &r);
	CHECK_EQ_INT(r.stats.msgs['R'], 1);
	CHECK_EQ_INT(r.stats.stream_dropped, 2 + 39);
	CHECK(r.n < 7); /* MSFT is unknown now: its trades are lost, counted */
	CHECK_EQ_INT(r.skipped, 2 + 39);
}

static void test_file_unknown_type(void)
{
	static struct file f, g;
	static struct result whole, r;
	uint8_t z[5] = {'Z', 1, 2, 3, 4};
	const size_t head = (2 + 12) + (2 + 39); /* the S and the first R frames */

	/* an unknown type with a prefix is skipped by it */
	build_file(&f, TRUE_LEN, TRUE_LEN);
	memcpy(g.b, f.b, head);
	g.len = head;
	frame(&g, z, sizeof(z), TRUE_LEN);
	memcpy(g.b + g.len, f.b + head, f.len - head);
	g.len += f.len - head;
	check_splits(&g, &r);
	run_split(&f, NULL, 0, &whole);
	CHECK_EQ_INT(r.stats.unknown_type, 1);
	CHECK_EQ_INT(r.stats.stream_skipped, 7);
	CHECK_EQ_INT(r.stats.msgs['Z'], 1);
	CHECK_EQ_INT(r.n, 7);
	r.stats.unknown_type = 0;
	r.stats.stream_skipped = 0;
	r.stats.msgs['Z'] = 0;
	CHECK(same_result(&whole, &r));

	/* with prefix 0 the framing is lost: the scan drops its 7 bytes and
	 * finds the next message, counted */
	g.len = head;
	frame(&g, z, sizeof(z), 0);
	memcpy(g.b + g.len, f.b + head, f.len - head);
	g.len += f.len - head;
	check_splits(&g, &r);
	CHECK_EQ_INT(r.stats.stream_unsync, 1);
	CHECK_EQ_INT(r.stats.stream_dropped, 7);
	CHECK_EQ_INT(r.n, 7);
	CHECK_EQ_INT(r.stats.msgs['R'], 2);
	r.stats.unknown_type = r.stats.stream_unsync = r.stats.stream_dropped = 0;
	r.stats.msgs['Z'] = 0;
	CHECK(same_result(&whole, &r));
}

static void test_file_truncated(void)
{
	static struct file f;
	static struct result whole, r;
	size_t cut;

	build_file(&f, TRUE_LEN, TRUE_LEN);
	run_split(&f, NULL, 0, &whole);
	/* cut inside the final S (14 bytes): everything before it decodes */
	for (cut = 1; cut < 14; cut++) {
		f.len -= cut;
		run_split(&f, NULL, 0, &r);
		f.len += cut;
		CHECK_EQ_INT(r.stats.truncated, 1);
		CHECK_EQ_INT(r.n, 7);
		CHECK_EQ_INT(r.stats.msgs['S'], 1);
	}
	/* cut inside the last C: its trade is lost, the rest is not */
	f.len -= 14 + 3;
	check_splits(&f, &r);
	f.len += 14 + 3;
	CHECK_EQ_INT(r.stats.truncated, 1);
	CHECK_EQ_INT(r.n, 6);
	CHECK(memcmp(r.t, whole.t, 6 * sizeof(r.t[0])) == 0);
}

/* ---- fuzz: random mutations of a valid stream, under ASan/UBSan ---- */

static uint64_t fuzz_state = 0x9E3779B97F4A7C15ull;

static uint64_t fuzz_rng(void)
{
	/* xorshift64*: deterministic, so a crash replays */
	fuzz_state ^= fuzz_state >> 12;
	fuzz_state ^= fuzz_state << 25;
	fuzz_state ^= fuzz_state >> 27;
	return fuzz_state * 0x2545F4914F6CDD1Dull;
}

static void fuzz_mutate(struct file *g, const struct file *f)
{
	unsigned n = 1 + (unsigned)(fuzz_rng() % 8), i;

	*g = *f;
	for (i = 0; i < n; i++) {
		uint64_t r = fuzz_rng();
		size_t at = (size_t)(r >> 8) % g->len;

		switch (r % 4) {
		case 0: /* random byte */
			g->b[at] = (uint8_t)(r >> 40);
			break;
		case 1: /* bit flip */
			g->b[at] ^= (uint8_t)(1u << ((r >> 40) % 8));
			break;
		case 2: /* a plausible type byte anywhere */
			g->b[at] = (uint8_t) "SRAFECXDUPQBZ\0"[(r >> 40) % 14];
			break;
		default: /* truncate */
			g->len = at + 1;
			break;
		}
	}
}

static void test_fuzz(void)
{
	static struct file f, g;
	struct itch it;
	struct itch_stream s;
	unsigned i;

	build_file(&f, TRUE_LEN, TRUE_LEN);
	init(&it, 16, 8); /* small: the book fills, the match table wraps */
	itch_stream_init(&s);
	for (i = 0; i < FUZZ_ITERATIONS; i++) {
		size_t off = 0;

		fuzz_mutate(&g, &f);
		while (off < g.len) { /* random chunks; ends: each takes >= 1 byte */
			size_t n = 1 + (size_t)(fuzz_rng() % 64);

			if (n > g.len - off)
				n = g.len - off;
			itch_stream_feed(&it, &s, g.b + off, n, 1, false);
			off += n;
		}
		itch_stream_end(&it, &s);
		/* and the same bytes as raw Mold messages of random lengths */
		for (off = 0; off < g.len;) {
			size_t n = (size_t)(fuzz_rng() % 60);

			if (n > g.len - off)
				n = g.len - off;
			itch_decode_msg(&it, g.b + off, n, off, 1, true);
			off += n ? n : 1;
		}
		CHECK(it.book.stats.live <= 16);
	}
	CHECK_EQ_INT(cap.bad_records, 0);
	CHECK(cap.total > 0);
	printf("fuzz: %u iterations, %u trades, %llu unknown types, %llu truncated, "
	       "%llu unsync\n",
	       i, cap.total, (unsigned long long)it.stats.unknown_type,
	       (unsigned long long)it.stats.truncated, (unsigned long long)it.stats.stream_unsync);
	itch_free(&it);
}

static void test_init_errors(void)
{
	struct itch it;
	struct itch_handler h = handler;

	errno = 0;
	CHECK_EQ_INT(itch_init(&it, 64, 0, 0, &handler), -1);
	CHECK_EQ_INT(errno, EINVAL);
	CHECK_EQ_INT(itch_init(&it, 0, 64, 0, &handler), -1);
	CHECK_EQ_INT(itch_init(&it, 64, ITCH_MATCHES_MAX + 1, 0, &handler), -1);
	h.trade = NULL;
	CHECK_EQ_INT(itch_init(&it, 64, 64, 0, &h), -1);
	CHECK_EQ_INT(itch_init(&it, 64, 64, 0, NULL), -1);
	CHECK(it.locates == NULL && it.book.slots == NULL);
	itch_free(&it); /* harmless after a failed init */
}

int main(void)
{
	srand(12345);
	test_msg_len();
	test_directory();
	test_executed();
	test_executed_with_price();
	test_non_cross_trade();
	test_cross_trade();
	test_broken();
	test_match_eviction();
	test_book_effects();
	test_book_full();
	test_unknown_orders();
	test_unknown_locate();
	test_msg_lengths();
	test_file();
	test_file_unknown_type();
	test_file_resync();
	test_file_truncated();
	test_fuzz();
	test_init_errors();
	CHECK_DONE();
}
