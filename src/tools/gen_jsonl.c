/* gen_jsonl.c -- the deterministic trade model behind `trades-gen --format jsonl`.
 *
 * One xoshiro256** generator seeded from --seed drives every choice, and all
 * arithmetic is on integers, so the same arguments give the same bytes on
 * every machine.  Numbers and times are printed by the core's dec_format and
 * timefmt_format: the text is exactly the fixed-point value the totals add up.
 *
 * The totals are kept from the values as generated (own __int128 sums), never
 * by parsing the lines back, so they check the service's decoder rather than
 * repeat it.
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trades/decimal.h"
#include "trades/jsonl.h"
#include "trades/timefmt.h"
#include "trades/trade.h"

#include "gen.h"

#define GEN_T0_NS          (1735776000LL * 1000000000LL) /* 2025-01-02T00:00:00Z */
#define ZIPF_UNIT          (1ull << 40)                  /* weight of the most popular instrument */
#define DUP_SLOTS          2 /* last two trade lines kept per instrument */
#define QTY_INT_DIGITS_MAX 8 /* quantities stay below 1e8 units */

_Static_assert(ZIPF_UNIT < (1ull << 63) / GEN_INSTRUMENTS_MAX, "zipf sums fit in 64 bits");

/* ---- random numbers ---- */

struct rng {
	uint64_t s[4];
};

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void rng_seed(struct rng *r, uint64_t seed)
{
	uint64_t x = seed;

	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&x);
}

static inline uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static inline uint64_t rng_next(struct rng *r)
{
	uint64_t *s = r->s;
	uint64_t out = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return out;
}

/* Uniform in [0, n): multiply-shift, no division; the bias (< n / 2^64) is
 * irrelevant here and the result is the same everywhere. */
static inline uint64_t rng_below(struct rng *r, uint64_t n)
{
	return (uint64_t)(((unsigned __int128)rng_next(r) * n) >> 64);
}

/* ---- instruments ---- */

struct known_inst {
	const char *name;
	int64_t ticks; /* base price in ticks of 10^-dp */
	uint8_t dp;
	uint8_t qty_dp;
};

/* Popular first: the Zipf weights follow this order. */
static const struct known_inst known[] = {
        {"BTC/USD", 970000, 1, 8},   {"ETH/USD", 340000, 2, 8},  {"SOL/USD", 19000, 2, 4},
        {"XRP/USD", 22000, 4, 2},    {"DOGE/USD", 32000, 5, 0},  {"BTC/USDT", 9700000, 2, 6},
        {"ETH/USDT", 3400000, 3, 5}, {"ADA/USD", 9000, 4, 1},    {"AAPL/USD", 25000, 2, 0},
        {"NVDA/USD", 13500, 2, 0},   {"BTC/EUR", 940000, 1, 8},  {"AVAX/USD", 3800, 2, 4},
        {"LINK/USD", 22000, 3, 3},   {"EUR/USD", 103500, 5, 0},  {"SHIB/USD", 2200, 8, 0},
        {"BTC/JPY", 15000000, 0, 8}, {"TSLA/USD", 41000, 2, 0},  {"DOT/USD", 7000, 3, 3},
        {"LTC/USD", 10500, 2, 8},    {"PEPE/USD", 1900, 8, 0},   {"MSFT/USD", 43000, 2, 0},
        {"ETH/BTC", 3500, 5, 8},     {"BCH/USD", 45000, 2, 5},   {"MATIC/USD", 5000, 4, 2},
        {"XAU/USD", 265000, 2, 3},   {"UNI/USD", 13000, 3, 4},   {"SPY/USD", 59000, 2, 0},
        {"ATOM/USD", 6500, 3, 3},    {"GBP/USD", 125000, 5, 0},  {"XLM/USD", 42000, 5, 1},
        {"AMZN/USD", 22000, 2, 0},   {"TRX/USD", 250000, 6, 0},  {"ETH/EUR", 330000, 2, 8},
        {"NEAR/USD", 52000, 4, 2},   {"USD/JPY", 157000, 3, 0},  {"BONK/USD", 3000, 8, 0},
        {"GOOG/USD", 19000, 2, 0},   {"ETC/USD", 2700, 2, 3},    {"AAVE/USD", 33000, 2, 4},
        {"META/USD", 60000, 2, 0},   {"FIL/USD", 5000, 3, 2},    {"APT/USD", 9000, 3, 2},
        {"USDT/USD", 10000, 4, 2},   {"QQQ/USD", 52000, 2, 0},   {"ARB/USD", 8000, 4, 1},
        {"OP/USD", 19000, 4, 2},     {"MKR/USD", 15000, 1, 6},   {"SOL/ETH", 56000, 6, 4},
        {"XMR/USD", 20000, 2, 5},    {"BRK.B/USD", 47000, 2, 0}, {"ALGO/USD", 38000, 5, 0},
        {"USDC/USDT", 100000, 5, 0}, {"LUNC/USD", 10000, 8, 0},
};
#define KNOWN_COUNT (sizeof(known) / sizeof(known[0]))

struct inst {
	char name[TRADE_SYMBOL_MAX + 1];
	uint8_t name_len;
	uint8_t dp;         /* price decimals: one tick is 10^-dp */
	uint8_t qty_dp;     /* quantity decimals: one lot is 10^-qty_dp */
	uint8_t qty_digits; /* a quantity has 1..qty_digits digits in lots */
	int64_t tick;       /* one tick, scaled by TRADE_SCALE */
	int64_t lot;        /* one lot, scaled by TRADE_SCALE */
	int64_t base_ticks; /* the walk reverts towards [base/2, 2*base] */
	int64_t ticks;      /* current price in ticks, >= 1 */
	uint64_t next_id;   /* trade_id of the next trade */
	/* totals of the trades emitted (duplicates and malformed excluded) */
	uint64_t trades;
	__int128 volume;   /* sum qty, scaled 1e8 */
	__int128 notional; /* sum price * qty, scaled 1e16 */
	int64_t first, last, high, low;
	uint8_t price_dp_max, qty_dp_max; /* most decimals any text carried */
	/* duplicate store: ring of the last DUP_SLOTS lines */
	uint8_t saved_n, saved_next;
	uint16_t saved_len[DUP_SLOTS];
};

/* "YYYY-MM-DDTHH:MM:SS" of the second being generated: timefmt_format runs
 * once per second of trade time, the fraction is appended here. */
struct ts_cache {
	int64_t sec;
	uint8_t len;
	char text[TIMEFMT_MAX];
};

struct gen_model {
	struct gen_model_config cfg;
	struct rng rng;
	int64_t ts_ns;
	struct ts_cache ts; /* text of ts_ns's second */
	uint64_t trades, lines, duplicates, malformed;
	uint64_t malformed_by[MALFORMED_COUNT];
	bool dup_pending;   /* a duplicate is due, waiting for a pair with history */
	uint64_t *zipf_cum; /* cumulative weights, [instruments] */
	uint64_t zipf_total;
	uint64_t *stream_seq; /* last seq per stream, [streams] */
	struct inst *inst;    /* [instruments] */
	char *saved;          /* [instruments][DUP_SLOTS][GEN_LINE_MAX] or NULL */
};

/* clang-format off */
static const int64_t pow10_tab[19] = {
	1LL, 10LL, 100LL, 1000LL, 10000LL, 100000LL, 1000000LL, 10000000LL, 100000000LL,
	1000000000LL, 10000000000LL, 100000000000LL, 1000000000000LL, 10000000000000LL,
	100000000000000LL, 1000000000000000LL, 10000000000000000LL, 100000000000000000LL,
	1000000000000000000LL,
};
/* clang-format on */

static int digits_of(int64_t v)
{
	int n = 1;

	assert(v > 0);
	while (n < 19 && v >= pow10_tab[n])
		n++;
	return n;
}

static int clamp_int(int v, int lo, int hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/* Fills in what follows from name, base price and decimals.  Quantities are
 * sized so that a trade is worth up to roughly 1e5..1e6 in the quote
 * currency: 5 - (price magnitude) integer digits, 0..8. */
static void inst_setup(struct inst *in, struct rng *r)
{
	int magnitude = digits_of(in->base_ticks) - 1 - in->dp;
	int qty_int = clamp_int(5 - magnitude, 0, QTY_INT_DIGITS_MAX);

	assert(in->dp <= TRADE_SCALE_DIGITS && in->qty_dp <= TRADE_SCALE_DIGITS);
	in->name_len = (uint8_t)strlen(in->name);
	in->tick = pow10_tab[TRADE_SCALE_DIGITS - in->dp];
	in->lot = pow10_tab[TRADE_SCALE_DIGITS - in->qty_dp];
	/* lots * lot < 10^(qty_int + 8) <= 1e16: fits int64 with room */
	in->qty_digits = (uint8_t)clamp_int(qty_int + in->qty_dp, 1, 16);
	in->ticks = in->base_ticks;
	/* trade ids of different pairs live in unrelated ranges, as on a real
	 * venue; 1..1e9 leaves room for 1e10 trades below 2^64 */
	in->next_id = 1 + rng_below(r, 1000000000ull);
}

/* Instrument i >= KNOWN_COUNT: "SYM<i>/USD" priced 10^e with e in -4..4 and a
 * tick four digits below the price, so prices carry 0..8 decimals. */
static void inst_synth(struct inst *in, uint32_t i, struct rng *r)
{
	int e = (int)rng_below(r, 9) - 4;

	snprintf(in->name, sizeof(in->name), "SYM%u/USD", i);
	in->dp = (uint8_t)(4 - e);
	in->base_ticks = 10 * (1000 + (int64_t)rng_below(r, 9000));
	in->qty_dp = (uint8_t)rng_below(r, TRADE_SCALE_DIGITS + 1);
}

static void zipf_setup(struct gen_model *m)
{
	uint64_t sum = 0;

	/* weight(i) = UNIT / (i + 1): Zipf with s = 1 in integers */
	for (uint32_t i = 0; i < m->cfg.instruments; i++) {
		sum += ZIPF_UNIT / (i + 1);
		m->zipf_cum[i] = sum;
	}
	m->zipf_total = sum;
}

static uint32_t zipf_pick(struct gen_model *m)
{
	uint64_t x = rng_below(&m->rng, m->zipf_total);
	uint32_t lo = 0, hi = m->cfg.instruments - 1;

	/* first i with cum[i] > x; at most 17 rounds for 65536 instruments */
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (m->zipf_cum[mid] > x)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

struct gen_model *gen_model_new(const struct gen_model_config *cfg, char *err, size_t errlen)
{
	struct gen_model *m = calloc(1, sizeof(*m));
	uint32_t k = cfg->instruments;

	assert(k >= 1 && k <= GEN_INSTRUMENTS_MAX);
	assert(cfg->streams >= 1 && cfg->streams <= GEN_STREAMS_MAX);
	if (!m)
		goto nomem;
	m->cfg = *cfg;
	m->inst = calloc(k, sizeof(*m->inst));
	m->zipf_cum = calloc(k, sizeof(*m->zipf_cum));
	m->stream_seq = calloc(cfg->streams, sizeof(*m->stream_seq));
	if (!m->inst || !m->zipf_cum || !m->stream_seq)
		goto nomem;
	if (cfg->dup_every) {
		m->saved = calloc((size_t)k * DUP_SLOTS, GEN_LINE_MAX);
		if (!m->saved)
			goto nomem;
	}
	rng_seed(&m->rng, cfg->seed);
	m->ts_ns = GEN_T0_NS;
	for (uint32_t i = 0; i < k; i++) {
		struct inst *in = &m->inst[i];

		if (i < KNOWN_COUNT) {
			snprintf(in->name, sizeof(in->name), "%s", known[i].name);
			in->base_ticks = known[i].ticks;
			in->dp = known[i].dp;
			in->qty_dp = known[i].qty_dp;
		} else {
			inst_synth(in, i, &m->rng);
		}
		inst_setup(in, &m->rng);
	}
	zipf_setup(m);
	return m;
nomem:
	snprintf(err, errlen, "model for %u instruments: %s", k, strerror(errno));
	gen_model_free(m);
	return NULL;
}

void gen_model_free(struct gen_model *m)
{
	if (!m)
		return;
	free(m->inst);
	free(m->zipf_cum);
	free(m->stream_seq);
	free(m->saved);
	free(m);
}

/* ---- one trade ---- */

struct tick {
	int64_t price, qty; /* scaled by TRADE_SCALE */
	int64_t ts_ns;
	uint64_t id, seq; /* seq 0: none */
	uint8_t buy;
};

/* Random walk of -2..+2 ticks that reverts into [base/2, 2*base] and never
 * reaches zero, so prices stay positive and bounded for any --count. */
static void walk(struct gen_model *m, struct inst *in, struct tick *t)
{
	uint64_t r = rng_next(&m->rng);
	int64_t step = (int64_t)(r % 5) - 2;
	/* log-uniform size: 1..qty_digits digits of lots */
	int64_t d = (int64_t)((r >> 8) % in->qty_digits);
	int64_t lots;

	if (in->ticks > 2 * in->base_ticks && step > 0)
		step = -step;
	if (in->ticks < in->base_ticks / 2 && step < 0)
		step = -step;
	in->ticks += step;
	if (in->ticks < 1)
		in->ticks = 1;
	t->price = in->ticks * in->tick;
	t->buy = (r >> 16) & 1;
	/* ids move by 1, now and then by 2..4 (trades of other markets) */
	in->next_id += ((r >> 17) & 7) == 0 ? 2 + ((r >> 20) & 1) + ((r >> 21) & 1) : 1;
	t->id = in->next_id;
	lots = pow10_tab[d] + (int64_t)rng_below(&m->rng, (uint64_t)(9 * pow10_tab[d]));
	t->qty = lots * in->lot;
	assert(t->price > 0 && t->qty > 0);
}

static void account(struct inst *in, const struct tick *t, unsigned price_dp, unsigned qty_dp)
{
	if (in->trades == 0) {
		in->first = t->price;
		in->high = t->price;
		in->low = t->price;
	}
	in->trades++;
	in->last = t->price;
	if (t->price > in->high)
		in->high = t->price;
	if (t->price < in->low)
		in->low = t->price;
	in->volume += t->qty;
	in->notional += (__int128)t->price * t->qty;
	if (price_dp > in->price_dp_max)
		in->price_dp_max = (uint8_t)price_dp;
	if (qty_dp > in->qty_dp_max)
		in->qty_dp_max = (uint8_t)qty_dp;
}

/* ---- text ---- */

static inline char *put(char *p, const char *s, size_t n)
{
	memcpy(p, s, n);
	return p + n;
}
#define PUTS(p, lit) put((p), (lit), sizeof(lit) - 1)

static const char digit_pairs[201] =
        "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
        "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
        "8081828384858687888990919293949596979899";

/* Decimal digits of v, two at a time (ids and times are on every line). */
static char *put_u64(char *p, uint64_t v)
{
	char tmp[20];
	int n = 20;

	while (v >= 100) {
		unsigned d = (unsigned)(v % 100) * 2;

		v /= 100;
		tmp[--n] = digit_pairs[d + 1];
		tmp[--n] = digit_pairs[d];
	}
	if (v >= 10) {
		tmp[--n] = digit_pairs[v * 2 + 1];
		tmp[--n] = digit_pairs[v * 2];
	} else {
		tmp[--n] = (char)('0' + v);
	}
	return put(p, tmp + n, (size_t)(20 - n));
}

static char *put_dec(char *p, int64_t v, unsigned min_dp, bool quoted)
{
	char buf[DEC_FMT_MAX];
	size_t n = dec_format(v, TRADE_SCALE_DIGITS, min_dp, buf);

	if (quoted)
		*p++ = '"';
	p = put(p, buf, n);
	if (quoted)
		*p++ = '"';
	return p;
}

/* Keys the service must skip: flat, nested, null, escapes, and the two
 * contract keys ("feed", "rx_ns") it ignores on input. */
static const char *const extras[] = {
        "\"exchange\":\"X\"",
        "\"meta\":{\"v\":\"gen\",\"t\":[\"a\",1,{\"x\":null}],\"ok\":true}",
        "\"fee\":null",
        "\"flags\":[1,2.5e-3,-4]",
        "\"note\":\"q\\\" b\\\\ \\u00e9}\"",
        "\"feed\":\"elsewhere\"",
        "\"rx_ns\":1735776000000000000",
        "\"conditions\":[]",
};
#define EXTRA_COUNT (sizeof(extras) / sizeof(extras[0]))

enum field { F_PAIR, F_PRICE, F_VOLUME, F_TIME, F_SIDE, F_ID, F_SEQ, F_EXTRA, F_COUNT };

/* Key orders: the contract's order most of the time, three others now and then. */
static const uint8_t orders[4][F_COUNT] = {
        {F_PAIR, F_PRICE, F_VOLUME, F_TIME, F_SIDE, F_ID, F_SEQ, F_EXTRA},
        {F_ID, F_PAIR, F_SIDE, F_PRICE, F_VOLUME, F_TIME, F_EXTRA, F_SEQ},
        {F_TIME, F_EXTRA, F_SEQ, F_PAIR, F_VOLUME, F_PRICE, F_ID, F_SIDE},
        {F_SEQ, F_PAIR, F_TIME, F_PRICE, F_VOLUME, F_SIDE, F_ID, F_EXTRA},
};

/* Layout choices for one line, all taken from one 64-bit draw. */
struct layout {
	uint64_t v;
	const struct ts_cache *ts; /* the second of the trade's time */
	const uint8_t *order;
	bool spaces;
	unsigned price_dp, qty_dp; /* decimals printed (trailing zeros included) */
};

static void layout_pick(struct gen_model *m, const struct inst *in, struct layout *l)
{
	uint64_t v = rng_next(&m->rng);
	unsigned o = v & 7;

	l->v = v;
	l->order = orders[o < 5 ? 0 : o - 4];
	l->spaces = ((v >> 24) & 15) == 0;
	/* 1 line in 64 pads a trailing zero: trailing zeros count as decimals */
	l->price_dp = in->dp + (in->dp < TRADE_SCALE_DIGITS && ((v >> 34) & 63) == 0);
	l->qty_dp = in->qty_dp + (in->qty_dp < TRADE_SCALE_DIGITS && ((v >> 40) & 63) == 0);
}

static void ts_cache_update(struct ts_cache *c, int64_t ts_ns)
{
	int64_t sec = ts_ns / 1000000000;

	if (sec == c->sec && c->len)
		return;
	c->sec = sec;
	c->len = (uint8_t)timefmt_format(sec * 1000000000, 0, c->text);
	assert(c->len > 1 && c->text[c->len - 1] == 'Z');
	c->len--; /* the 'Z' goes after the fraction */
}

static char *put_rfc3339(char *p, const struct ts_cache *c, int64_t ts_ns, unsigned digits)
{
	uint32_t frac = (uint32_t)(ts_ns % 1000000000);
	char tmp[9];

	assert(ts_ns / 1000000000 == c->sec && digits <= 9);
	p = put(p, c->text, c->len);
	for (int i = 8; i >= 0; i--) {
		tmp[i] = (char)('0' + frac % 10);
		frac /= 10;
	}
	if (digits) {
		*p++ = '.';
		p = put(p, tmp, digits);
	}
	*p++ = 'Z';
	return p;
}

static char *put_time(char *p, const struct layout *l, int64_t ts_ns, const char *colon,
                      size_t clen)
{
	static const uint8_t ts_digits[8] = {3, 3, 3, 6, 9, 0, 0, 6};
	unsigned variant = (l->v >> 5) & 7;
	bool with_ts = variant <= 4 || variant == 7;
	bool with_ms = variant <= 1 || variant >= 5;

	/* 0,1: timestamp (ms) + timestamp_ms as in the contract; 2/3/4: only
	 * timestamp with 3/6/9 digits; 5: only timestamp_ms; 6: only
	 * timestamp_ms as a string; 7: both, timestamp with 6 digits */
	if (with_ts) {
		p = PUTS(p, "\"timestamp\"");
		p = put(p, colon, clen);
		*p++ = '"';
		p = put_rfc3339(p, l->ts, ts_ns, ts_digits[variant]);
		*p++ = '"';
	}
	if (with_ts && with_ms)
		*p++ = ',';
	if (with_ms) {
		p = PUTS(p, "\"timestamp_ms\"");
		p = put(p, colon, clen);
		if (variant == 6)
			*p++ = '"';
		p = put_u64(p, (uint64_t)(ts_ns / 1000000));
		if (variant == 6)
			*p++ = '"';
	}
	return p;
}

static char *put_side(char *p, const struct layout *l, bool buy)
{
	static const char *const names[4][2] = {
	        {"\"s\"", "\"b\""},
	        {"\"SELL\"", "\"BUY\""},
	        {"\"Sell\"", "\"Buy\""},
	        {"\"sell\"", "\"buy\""},
	};
	unsigned style = (l->v >> 16) & 31;
	const char *s = names[style < 3 ? style : 3][buy];

	return put(p, s, strlen(s));
}

/* Whether field f is written at all on this line. */
static bool field_present(const struct gen_model *m, const struct layout *l, enum field f)
{
	switch (f) {
	case F_SIDE:
		return ((l->v >> 16) & 31) != 31; /* 1 in 32: side absent (unknown) */
	case F_SEQ:
		return m->cfg.seq;
	case F_EXTRA:
		return ((l->v >> 8) & 7) == 0;
	default:
		return true;
	}
}

static char *put_key(char *p, const char *key, size_t klen, const struct layout *l)
{
	p = put(p, key, klen);
	if (l->spaces)
		return PUTS(p, ": ");
	*p++ = ':';
	return p;
}
#define PUTKEY(p, lit, l) put_key((p), (lit), sizeof(lit) - 1, (l))

static char *put_field(char *p, const struct inst *in, const struct tick *t, const struct layout *l,
                       enum field f)
{
	switch (f) {
	case F_PAIR:
		p = PUTKEY(p, "\"pair\"", l);
		*p++ = '"';
		p = put(p, in->name, in->name_len);
		*p++ = '"';
		return p;
	case F_PRICE: /* a JSON number or a string, half and half */
		p = PUTKEY(p, "\"price\"", l);
		return put_dec(p, t->price, l->price_dp, (l->v >> 3) & 1);
	case F_VOLUME:
		p = PUTKEY(p, "\"volume\"", l);
		return put_dec(p, t->qty, l->qty_dp, (l->v >> 4) & 1);
	case F_TIME:
		return put_time(p, l, t->ts_ns, l->spaces ? ": " : ":", l->spaces ? 2 : 1);
	case F_SIDE:
		p = PUTKEY(p, "\"side\"", l);
		return put_side(p, l, t->buy);
	case F_ID: { /* 1 in 8 as a digit string */
		bool quoted = ((l->v >> 21) & 7) == 0;

		p = PUTKEY(p, "\"trade_id\"", l);
		if (quoted)
			*p++ = '"';
		p = put_u64(p, t->id);
		if (quoted)
			*p++ = '"';
		return p;
	}
	case F_SEQ:
		p = PUTKEY(p, "\"seq\"", l);
		return put_u64(p, t->seq);
	case F_EXTRA: {
		const char *x = extras[(l->v >> 11) % EXTRA_COUNT];

		return put(p, x, strlen(x));
	}
	case F_COUNT:
		break;
	}
	assert(!"unknown field");
	return p;
}

static uint16_t format_trade(const struct gen_model *m, const struct inst *in, const struct tick *t,
                             const struct layout *l, char *out)
{
	char *p = out;
	bool first = true;

	*p++ = '{';
	for (int i = 0; i < F_COUNT; i++) {
		enum field f = l->order[i];

		if (!field_present(m, l, f))
			continue;
		if (!first)
			p = l->spaces ? PUTS(p, ", ") : PUTS(p, ",");
		first = false;
		p = put_field(p, in, t, l, f);
	}
	*p++ = '}';
	if (((l->v >> 28) & 63) == 0) /* 1 in 64 ends in CRLF */
		*p++ = '\r';
	*p++ = '\n';
	assert(p - out < GEN_LINE_LIMIT);
	return (uint16_t)(p - out);
}

/* ---- malformed lines ---- */

/* A malformed line is a well-formed trade with exactly one defect, so the
 * service has a single right reason to report.  It carries no seq (it must
 * not open a gap) and no trade_id (nothing for dedup to remember). */
enum bad_field {
	BF_PAIR,
	BF_PRICE,
	BF_VOLUME,
	BF_TIME,
	BF_SIDE,
	BF_COUNT,
	BF_APPEND = BF_COUNT, /* text is added after the base fields */
	BF_WHOLE,             /* text is the whole line */
};

struct bad_kind {
	uint8_t reason;   /* enum malformed the service must count */
	uint8_t field;    /* enum bad_field */
	const char *text; /* replacement for the field ("" drops it) */
};

static const struct bad_kind bad_kinds[] = {
        {MALFORMED_SYNTAX, BF_WHOLE, "{\"pair\":\"BTC/USD\",\"price\":\"1.5\",\"volume\":"},
        {MALFORMED_MISSING_PAIR, BF_PAIR, ""},
        {MALFORMED_BAD_PRICE, BF_PRICE, "\"price\":\"12.3x\""},
        {MALFORMED_MISSING_VOLUME, BF_VOLUME, ""},
        {MALFORMED_BAD_TIMESTAMP, BF_TIME, "\"timestamp\":\"2025-02-30T00:00:00Z\""},
        {MALFORMED_BAD_SIDE, BF_SIDE, "\"side\":\"hold\""},
        {MALFORMED_PRICE_PRECISION, BF_PRICE, "\"price\":\"1.123456789\""},
        {MALFORMED_VOLUME_RANGE, BF_VOLUME, "\"volume\":\"0\""},
        {MALFORMED_BAD_TRADE_ID, BF_APPEND, ",\"trade_id\":-7"},
        {MALFORMED_MISSING_TIME, BF_TIME, ""},
        {MALFORMED_BAD_PAIR, BF_PAIR, "\"pair\":\"\""},
        {MALFORMED_MISSING_PRICE, BF_PRICE, ""},
        {MALFORMED_BAD_VOLUME, BF_VOLUME, "\"volume\":\"1..5\""},
        {MALFORMED_DUPLICATE_KEY, BF_APPEND, ",\"price\":\"1.6\""},
        {MALFORMED_BAD_TIMESTAMP_MS, BF_TIME, "\"timestamp_ms\":\"1735776000x\""},
        {MALFORMED_PRICE_RANGE, BF_PRICE, "\"price\":123456789012345678901"},
        {MALFORMED_VOLUME_PRECISION, BF_VOLUME, "\"volume\":0.000000001"},
        {MALFORMED_BAD_SEQ, BF_APPEND, ",\"seq\":\"seven\""},
        {MALFORMED_SYNTAX, BF_WHOLE, "[\"BTC/USD\",1.5,2]"},
};
#define BAD_KIND_COUNT (sizeof(bad_kinds) / sizeof(bad_kinds[0]))

static char *put_base_field(char *p, const struct inst *in, const struct ts_cache *ts,
                            int64_t ts_ns, enum bad_field f)
{
	switch (f) {
	case BF_PAIR:
		p = PUTS(p, "\"pair\":\"");
		p = put(p, in->name, in->name_len);
		return PUTS(p, "\"");
	case BF_PRICE:
		return PUTS(p, "\"price\":\"1.5\"");
	case BF_VOLUME:
		return PUTS(p, "\"volume\":\"2\"");
	case BF_TIME:
		p = PUTS(p, "\"timestamp\":\"");
		p = put_rfc3339(p, ts, ts_ns, 3);
		return PUTS(p, "\"");
	case BF_SIDE:
		return PUTS(p, "\"side\":\"buy\"");
	default:
		assert(!"not a base field");
		return p;
	}
}

static uint16_t format_malformed(const struct inst *in, const struct ts_cache *ts, int64_t ts_ns,
                                 const struct bad_kind *k, char *out)
{
	char *p = out;
	bool first = true;

	if (k->field == BF_WHOLE) {
		p = put(p, k->text, strlen(k->text));
		*p++ = '\n';
		return (uint16_t)(p - out);
	}
	*p++ = '{';
	for (int f = 0; f < BF_COUNT; f++) {
		bool replaced = k->field == f;

		if (replaced && k->text[0] == '\0')
			continue;
		if (!first)
			*p++ = ',';
		first = false;
		if (replaced)
			p = put(p, k->text, strlen(k->text));
		else
			p = put_base_field(p, in, ts, ts_ns, (enum bad_field)f);
	}
	if (k->field == BF_APPEND)
		p = put(p, k->text, strlen(k->text));
	*p++ = '}';
	*p++ = '\n';
	assert(p - out < GEN_LINE_LIMIT);
	return (uint16_t)(p - out);
}

static void emit_malformed(struct gen_model *m, const struct inst *in, uint32_t stream,
                           struct gen_line *out)
{
	const struct bad_kind *k = &bad_kinds[m->malformed % BAD_KIND_COUNT];

	assert(k->reason > MALFORMED_NONE && k->reason < MALFORMED_COUNT);
	out->kind = GEN_LINE_MALFORMED;
	out->stream = stream;
	out->len = format_malformed(in, &m->ts, m->ts_ns, k, out->text);
	m->malformed++;
	m->malformed_by[k->reason]++;
}

/* ---- duplicates ---- */

static char *saved_slot(const struct gen_model *m, uint32_t i, unsigned slot)
{
	return m->saved + ((size_t)i * DUP_SLOTS + slot) * GEN_LINE_MAX;
}

static void dup_save(struct gen_model *m, uint32_t i, const struct gen_line *line)
{
	struct inst *in = &m->inst[i];
	unsigned slot = in->saved_next;

	memcpy(saved_slot(m, i, slot), line->text, line->len);
	in->saved_len[slot] = line->len;
	in->saved_next = (uint8_t)((slot + 1) % DUP_SLOTS);
	if (in->saved_n < DUP_SLOTS)
		in->saved_n++;
}

/* Re-sends the oldest line kept for the pair -- never the trade just sent,
 * so a duplicate's seq (when on) is strictly below the stream's latest.  A
 * pair with one trade only defers the duplicate to a later trade. */
static bool dup_emit(struct gen_model *m, uint32_t i, uint32_t stream, struct gen_line *out)
{
	struct inst *in = &m->inst[i];
	unsigned slot = in->saved_next; /* the oldest once the ring is full */

	if (in->saved_n < DUP_SLOTS)
		return false;
	memcpy(out->text, saved_slot(m, i, slot), in->saved_len[slot]);
	out->len = in->saved_len[slot];
	out->kind = GEN_LINE_DUP;
	out->stream = stream;
	m->duplicates++;
	return true;
}

/* ---- the step ---- */

unsigned gen_model_step(struct gen_model *m, struct gen_line out[GEN_STEP_LINES_MAX])
{
	uint32_t i = zipf_pick(m);
	struct inst *in = &m->inst[i];
	uint32_t stream = i % m->cfg.streams;
	uint64_t r = rng_next(&m->rng);
	struct layout l;
	struct tick t;
	unsigned n = 1;

	assert(m->trades < m->cfg.count);
	/* 1..1000 microseconds later, plus 0..999 ns so 9-digit times vary */
	m->ts_ns += (int64_t)(1 + r % 1000) * 1000 + (int64_t)((r >> 20) % 1000);
	walk(m, in, &t);
	t.ts_ns = m->ts_ns;
	t.seq = m->cfg.seq ? ++m->stream_seq[stream] : 0;
	layout_pick(m, in, &l);
	ts_cache_update(&m->ts, m->ts_ns);
	l.ts = &m->ts;
	out[0].kind = GEN_LINE_TRADE;
	out[0].stream = stream;
	out[0].len = format_trade(m, in, &t, &l, out[0].text);
	account(in, &t, l.price_dp, l.qty_dp);
	m->trades++;
	if (m->saved)
		dup_save(m, i, &out[0]);
	if (m->cfg.dup_every && m->trades % m->cfg.dup_every == 0)
		m->dup_pending = true;
	if (m->dup_pending && dup_emit(m, i, stream, &out[n])) {
		m->dup_pending = false;
		n++;
	}
	if (m->cfg.malformed_every && m->trades % m->cfg.malformed_every == 0)
		emit_malformed(m, in, stream, &out[n++]);
	assert(n <= GEN_STEP_LINES_MAX);
	m->lines += n;
	return n;
}

void gen_model_counts(const struct gen_model *m, struct gen_counts *c)
{
	c->trades = m->trades;
	c->lines = m->lines;
	c->duplicates = m->duplicates;
	c->malformed = m->malformed;
}

/* ---- totals ---- */

static int inst_cmp(const void *a, const void *b)
{
	const struct inst *x = *(const struct inst *const *)a;
	const struct inst *y = *(const struct inst *const *)b;

	return strcmp(x->name, y->name);
}

/* Same keys and number formatting as `trades stat --json` instruments. */
static void totals_inst(const struct inst *in, FILE *f)
{
	char vol[DEC_FMT_MAX], notl[DEC_FMT_MAX], vwap[DEC_FMT_MAX];
	char first[DEC_FMT_MAX], last[DEC_FMT_MAX], high[DEC_FMT_MAX], low[DEC_FMT_MAX];
	unsigned pdp = in->price_dp_max, qdp = in->qty_dp_max;

	assert(in->trades > 0 && in->volume > 0);
	dec128_format(in->volume, TRADE_SCALE_DIGITS, qdp, vol);
	dec128_format(in->notional, 2 * TRADE_SCALE_DIGITS, pdp + qdp, notl);
	dec128_format(dec128_div_round(in->notional, in->volume), TRADE_SCALE_DIGITS, pdp, vwap);
	dec_format(in->first, TRADE_SCALE_DIGITS, pdp, first);
	dec_format(in->last, TRADE_SCALE_DIGITS, pdp, last);
	dec_format(in->high, TRADE_SCALE_DIGITS, pdp, high);
	dec_format(in->low, TRADE_SCALE_DIGITS, pdp, low);
	fprintf(f,
	        "{\"pair\":\"%s\",\"trades\":%llu,\"volume\":\"%s\",\"notional\":\"%s\","
	        "\"vwap\":\"%s\",\"first\":\"%s\",\"last\":\"%s\",\"high\":\"%s\",\"low\":\"%s\"}",
	        in->name, (unsigned long long)in->trades, vol, notl, vwap, first, last, high, low);
}

int gen_model_write_totals(const struct gen_model *m, FILE *f)
{
	const struct inst **v = calloc(m->cfg.instruments, sizeof(*v));
	uint32_t n = 0;
	bool first = true;

	if (!v)
		return -1;
	for (uint32_t i = 0; i < m->cfg.instruments; i++)
		if (m->inst[i].trades)
			v[n++] = &m->inst[i];
	qsort(v, n, sizeof(*v), inst_cmp);
	fprintf(f, "{\"count\":%llu,\"sent_lines\":%llu,\"duplicates\":%llu,\"malformed\":%llu,",
	        (unsigned long long)m->trades, (unsigned long long)m->lines,
	        (unsigned long long)m->duplicates, (unsigned long long)m->malformed);
	fprintf(f, "\"streams\":%u,\"seq\":%s,\"malformed_by\":{", m->cfg.streams,
	        m->cfg.seq ? "true" : "false");
	for (int r = MALFORMED_NONE + 1; r < MALFORMED_COUNT; r++) {
		if (!m->malformed_by[r])
			continue;
		fprintf(f, "%s\"%s\":%llu", first ? "" : ",", malformed_name((enum malformed)r),
		        (unsigned long long)m->malformed_by[r]);
		first = false;
	}
	fputs("},\"instruments\":[", f);
	for (uint32_t i = 0; i < n; i++) {
		if (i)
			fputc(',', f);
		totals_inst(v[i], f);
	}
	fputs("]}\n", f);
	free(v);
	return ferror(f) ? -1 : 0;
}
