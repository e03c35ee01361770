/* json.c -- the public output contract: one JSON line per trade.
 *
 * Every number is printed from fixed point (no floating point), and every
 * field has a known maximum width, so a line always fits SINK_JSON_MAX: the
 * two free-form strings (pair and feed) get fixed output budgets that real
 * names never reach, and the whole is checked at compile time.
 */
#include "trades/sink.h"

#include <assert.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "trades/decimal.h"
#include "trades/timefmt.h"

/* Escaped bytes allowed for each string: a 31-byte pair needs at most 62
 * even if every byte needs a backslash; feed names are <= 63 bytes. */
#define SINK_PAIR_OUT_MAX 64
#define SINK_FEED_OUT_MAX 128
#define SINK_INT_MAX      20 /* "-9223372036854775808", "18446744073709551615" */
#define SINK_DEC_MAX      22 /* int64 digits, '-' and '.' */

/* Every byte of the line outside the two strings, at its widest. */
#define SINK_FIXED_MAX                                                                             \
	(sizeof("{\"pair\":\"\",\"price\":") - 1 + SINK_DEC_MAX + sizeof(",\"volume\":") - 1 +     \
	 SINK_DEC_MAX + sizeof(",\"timestamp\":\"\"") - 1 + TIMEFMT_MAX +                          \
	 sizeof(",\"timestamp_ms\":") - 1 + SINK_INT_MAX + sizeof(",\"side\":\"unknown\"") - 1 +   \
	 sizeof(",\"trade_id\":") - 1 + SINK_INT_MAX + sizeof(",\"feed\":\"\"") - 1 +              \
	 sizeof(",\"seq\":") - 1 + SINK_INT_MAX + sizeof(",\"rx_ns\":") - 1 + SINK_INT_MAX +       \
	 sizeof(",\"cross\":true,\"correction\":true}\n"))
_Static_assert(SINK_FIXED_MAX + SINK_PAIR_OUT_MAX + SINK_FEED_OUT_MAX <= SINK_JSON_MAX,
               "a formatted trade must always fit SINK_JSON_MAX");
_Static_assert(2 * TRADE_SYMBOL_MAX <= SINK_PAIR_OUT_MAX, "pairs are never cut");

struct sink_out {
	char *buf;
	size_t len;
	size_t cap;
};

static void sink_put(struct sink_out *o, const char *s, size_t n)
{
	assert(o->len + n < o->cap);
	memcpy(o->buf + o->len, s, n);
	o->len += n;
}

#define sink_put_lit(o, lit) sink_put((o), (lit), sizeof(lit) - 1)

static void sink_put_u64(struct sink_out *o, uint64_t v)
{
	char tmp[SINK_INT_MAX];
	size_t n = sizeof(tmp);

	do {
		tmp[--n] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0 && n > 0);
	sink_put(o, tmp + n, sizeof(tmp) - n);
}

static void sink_put_i64(struct sink_out *o, int64_t v)
{
	if (v < 0)
		sink_put_lit(o, "-");
	/* Unsigned negation so INT64_MIN needs no special case. */
	sink_put_u64(o, v < 0 ? 0 - (uint64_t)v : (uint64_t)v);
}

/* Writes s as the inside of a JSON string, at most max bytes of output.  A
 * string cut by the budget is never cut inside a UTF-8 sequence. */
static void sink_put_str(struct sink_out *o, const char *s, size_t max)
{
	static const char hex[] = "0123456789abcdef";
	size_t start = o->len, i;

	for (i = 0; s[i] != '\0'; i++) {
		unsigned char c = (unsigned char)s[i];
		size_t need = c == '"' || c == '\\' ? 2 : c < 0x20 ? 6 : 1;

		char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};

		if (o->len - start + need > max)
			break;
		if (need == 2)
			esc[1] = (char)c;
		else if (need == 1)
			esc[0] = (char)c;
		sink_put(o, esc, need);
	}
	if (s[i] != '\0' && ((unsigned char)s[i] & 0xc0) == 0x80) {
		/* Cut in a multi-byte character: drop its lead and continuation bytes. */
		while (o->len > start && ((unsigned char)o->buf[o->len - 1] & 0xc0) == 0x80)
			o->len--;
		if (o->len > start && (unsigned char)o->buf[o->len - 1] >= 0xc0)
			o->len--;
	}
}

static void sink_put_dec(struct sink_out *o, int64_t v, uint8_t dp)
{
	char tmp[DEC_FMT_MAX];
	unsigned min_dp = dp > TRADE_SCALE_DIGITS ? TRADE_SCALE_DIGITS : dp;

	sink_put(o, tmp, dec_format(v, TRADE_SCALE_DIGITS, min_dp, tmp));
}

size_t sink_format_json(const struct trade *t, const char *pair, const char *feed, char *buf,
                        size_t cap)
{
	struct sink_out o = {buf, 0, cap};
	char ts[TIMEFMT_MAX];

	assert(t != NULL && pair != NULL && feed != NULL && buf != NULL);
	assert(cap >= SINK_JSON_MAX);
	sink_put_lit(&o, "{\"pair\":\"");
	sink_put_str(&o, pair, SINK_PAIR_OUT_MAX);
	sink_put_lit(&o, "\",\"price\":");
	sink_put_dec(&o, t->price, t->price_dp);
	sink_put_lit(&o, ",\"volume\":");
	sink_put_dec(&o, t->qty, t->qty_dp);
	sink_put_lit(&o, ",\"timestamp\":\"");
	sink_put(&o, ts, timefmt_format(t->ts_exch_ns, t->ts_digits > 9 ? 9 : t->ts_digits, ts));
	sink_put_lit(&o, "\",\"timestamp_ms\":");
	sink_put_i64(&o, t->ts_exch_ns / 1000000);
	sink_put_lit(&o, ",\"side\":\"");
	sink_put(&o, trade_side_name(t->side), strlen(trade_side_name(t->side)));
	sink_put_lit(&o, "\",\"trade_id\":");
	if (t->flags & TRADE_F_HAS_ID)
		sink_put_u64(&o, t->trade_id);
	else
		sink_put_lit(&o, "null");
	sink_put_lit(&o, ",\"feed\":\"");
	sink_put_str(&o, feed, SINK_FEED_OUT_MAX);
	sink_put_lit(&o, "\",\"seq\":");
	if (t->flags & TRADE_F_HAS_SEQ)
		sink_put_u64(&o, t->seq);
	else
		sink_put_lit(&o, "null");
	sink_put_lit(&o, ",\"rx_ns\":");
	sink_put_i64(&o, t->ts_rx_ns);
	if (t->flags & TRADE_F_CROSS)
		sink_put_lit(&o, ",\"cross\":true");
	if (t->flags & TRADE_F_CORRECTION)
		sink_put_lit(&o, ",\"correction\":true");
	sink_put_lit(&o, "}\n");
	o.buf[o.len] = '\0'; /* sink_put keeps len < cap */
	return o.len;
}

/* ---- a sink writing contract lines to a FILE* ---- */

struct sink_jsonl {
	struct sink sink;
	FILE *f;
	char line[SINK_JSON_MAX];
};

static int sink_jsonl_write(struct sink *s, const struct trade *t, const char *pair,
                            const char *feed)
{
	struct sink_jsonl *j = s->ctx;
	size_t n = sink_format_json(t, pair, feed, j->line, sizeof(j->line));

	/* The pipeline counts written/errors from the return value. */
	return fwrite(j->line, 1, n, j->f) == n ? 0 : -1;
}

static void sink_jsonl_flush(struct sink *s)
{
	struct sink_jsonl *j = s->ctx;

	/* flush returns nothing: a broken stream (EPIPE, ENOSPC) also fails the
	 * writes that follow, and the pipeline counts those. */
	fflush(j->f);
}

/* Flushes and frees the sink; the FILE stays the caller's (often stdout). */
static void sink_jsonl_close(struct sink *s)
{
	struct sink_jsonl *j = s->ctx;

	fflush(j->f);
	free(j);
}

struct sink *sink_jsonl_open(FILE *f)
{
	struct sink_jsonl *j;

	assert(f != NULL);
	j = calloc(1, sizeof(*j));
	if (!j)
		return NULL;
	j->f = f;
	j->sink.name = "jsonl";
	j->sink.write = sink_jsonl_write;
	j->sink.flush = sink_jsonl_flush;
	j->sink.close = sink_jsonl_close;
	j->sink.ctx = j;
	return &j->sink;
}

/* ---- closed candles (issue 14) ---- */

size_t sink_format_candle(const struct sink_candle *c, char *buf, size_t cap)
{
	char o[DEC_FMT_MAX], h[DEC_FMT_MAX], l[DEC_FMT_MAX], cl[DEC_FMT_MAX], v[DEC_FMT_MAX],
	        w[DEC_FMT_MAX];
	int n;

	dec_format(c->open, TRADE_SCALE_DIGITS, c->price_dp, o);
	dec_format(c->high, TRADE_SCALE_DIGITS, c->price_dp, h);
	dec_format(c->low, TRADE_SCALE_DIGITS, c->price_dp, l);
	dec_format(c->close, TRADE_SCALE_DIGITS, c->price_dp, cl);
	dec128_format(c->volume, TRADE_SCALE_DIGITS, c->qty_dp, v);
	dec128_format(c->vwap, TRADE_SCALE_DIGITS, c->price_dp, w);
	/* pair: interned symbols are printable, no quote or backslash */
	n = snprintf(buf, cap,
	             "{\"type\":\"candle\",\"pair\":\"%.31s\",\"open\":\"%s\",\"high\":\"%s\","
	             "\"low\":\"%s\",\"close\":\"%s\",\"volume\":\"%s\",\"window_start_ms\":%lld,"
	             "\"window_end_ms\":%lld,\"candle_seconds\":%lld,\"trades\":%llu,"
	             "\"vwap\":\"%s\"}\n",
	             c->pair, o, h, l, cl, v, (long long)(c->start_ns / 1000000),
	             (long long)((c->start_ns + c->interval_ns) / 1000000),
	             (long long)(c->interval_ns / 1000000000), (unsigned long long)c->trades, w);
	return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

static int sink_jsonl_no_trades(struct sink *s, const struct trade *t, const char *pair,
                                const char *feed)
{
	(void)s, (void)t, (void)pair, (void)feed;
	return 0;
}

static int sink_jsonl_candle(struct sink *s, const struct sink_candle *c)
{
	struct sink_jsonl *j = s->ctx;
	size_t n = sink_format_candle(c, j->line, sizeof(j->line));

	return n > 0 && fwrite(j->line, 1, n, j->f) == n ? 0 : -1;
}

struct sink *sink_jsonl_candles_open(FILE *f)
{
	struct sink *s = sink_jsonl_open(f);

	if (!s)
		return NULL;
	s->name = "jsonl-candles";
	s->write = sink_jsonl_no_trades;
	s->candle = sink_jsonl_candle;
	return s;
}
