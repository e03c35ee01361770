/* jsonl.c -- the JSON-lines trade decoder and the line framer for streams.
 *
 * jsonl_parse works in two steps over one line:
 *  1. a strict JSON scan of the whole object that records, for each known
 *     key, the type and byte span of its value and skips everything else;
 *  2. the known values are checked and converted in a fixed order.
 * So a line that is not JSON is always MALFORMED_SYNTAX, whatever else is
 * wrong with it, and the reason given for a bad line does not depend on the
 * order of its keys.  Nothing is copied or allocated: spans point into the
 * caller's line, and every read is checked against its end.
 */
#include "trades/jsonl.h"

#include <assert.h>
#include <stdbool.h>
#include <string.h>

#include "trades/decimal.h"
#include "trades/timefmt.h"

/* Arrays/objects a skipped value may nest; deeper is refused as SYNTAX so a
 * hostile line cannot make the scanner's state unbounded. */
#define JSONL_DEPTH_MAX 32
#define NS_PER_MS       1000000LL

_Static_assert(JSONL_LINE_MAX <= UINT32_MAX, "spans are 32-bit");

/* ---- step 1: scanning ---- */

enum jv_type {
	JV_ABSENT = 0, /* key not in the line */
	JV_NULL,
	JV_STRING, /* s/len: the bytes between the quotes */
	JV_NUMBER, /* s/len: the number token */
	JV_OTHER,  /* true, false, object, array */
};

struct jv {
	uint8_t type; /* enum jv_type */
	bool esc;     /* string contains backslash escapes */
	uint32_t len;
	const char *s;
};

enum jkey {
	K_PAIR,
	K_PRICE,
	K_VOLUME,
	K_TIMESTAMP,
	K_TIMESTAMP_MS,
	K_SIDE,
	K_TRADE_ID,
	K_SEQ,
	K_COUNT
};

static const struct {
	const char *name;
	uint32_t len;
} jsonl_keys[K_COUNT] = {
        [K_PAIR] = {"pair", 4},
        [K_PRICE] = {"price", 5},
        [K_VOLUME] = {"volume", 6},
        [K_TIMESTAMP] = {"timestamp", 9},
        [K_TIMESTAMP_MS] = {"timestamp_ms", 12},
        [K_SIDE] = {"side", 4},
        [K_TRADE_ID] = {"trade_id", 8},
        [K_SEQ] = {"seq", 3},
};

struct jscan {
	const char *p;
	const char *end;
};

/* Next byte, or -1 at the end of the line. */
static int jscan_peek(const struct jscan *sc)
{
	return sc->p < sc->end ? (unsigned char)*sc->p : -1;
}

static void jscan_ws(struct jscan *sc)
{
	while (sc->p < sc->end &&
	       (*sc->p == ' ' || *sc->p == '\t' || *sc->p == '\n' || *sc->p == '\r'))
		sc->p++;
}

static bool jscan_is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* At '"': scans a string; v (if non-NULL) gets its content span. */
/* Word-at-a-time tests (no byte of a word is examined twice): does w hold a
 * byte equal to b, or a byte below n (n <= 128)? */
#define JSCAN_ONES 0x0101010101010101ULL
#define JSCAN_HIGHS 0x8080808080808080ULL
static inline uint64_t jscan_has_byte(uint64_t w, unsigned char b)
{
	uint64_t x = w ^ (JSCAN_ONES * b);

	return (x - JSCAN_ONES) & ~x & JSCAN_HIGHS;
}

static inline uint64_t jscan_has_below(uint64_t w, unsigned char n)
{
	return (w - JSCAN_ONES * n) & ~w & JSCAN_HIGHS;
}

/* Skips 8 bytes at a time while none can end or escape the string: most
 * strings in a trade line (timestamps, prices) are plain. */
static inline void jscan_plain_run(struct jscan *sc)
{
	uint64_t w;

	while (sc->end - sc->p >= 8) {
		memcpy(&w, sc->p, sizeof(w));
		if (jscan_has_byte(w, '"') | jscan_has_byte(w, '\\') | jscan_has_below(w, 0x20))
			return;
		sc->p += 8;
	}
}

static bool jscan_string(struct jscan *sc, struct jv *v)
{
	const char *start = ++sc->p;
	bool esc = false;

	jscan_plain_run(sc);
	while (sc->p < sc->end) {
		unsigned char c = (unsigned char)*sc->p;

		if (c == '"') {
			if (v) {
				v->type = JV_STRING;
				v->esc = esc;
				v->s = start;
				v->len = (uint32_t)(sc->p - start);
			}
			sc->p++;
			return true;
		}
		if (c < 0x20)
			return false;
		if (c != '\\') {
			sc->p++;
			continue;
		}
		esc = true;
		if (sc->end - sc->p < 2)
			return false;
		if (sc->p[1] == 'u') {
			if (sc->end - sc->p < 6 || !jscan_is_hex(sc->p[2]) ||
			    !jscan_is_hex(sc->p[3]) || !jscan_is_hex(sc->p[4]) ||
			    !jscan_is_hex(sc->p[5]))
				return false;
			sc->p += 6;
		} else if (strchr("\"\\/bfnrt", sc->p[1]) != NULL && sc->p[1] != '\0') {
			sc->p += 2;
		} else {
			return false;
		}
	}
	return false;
}

/* Skips a run of digits; false if there is none. */
static bool jscan_digits(struct jscan *sc)
{
	const char *start = sc->p;

	while (sc->p < sc->end && *sc->p >= '0' && *sc->p <= '9')
		sc->p++;
	return sc->p > start;
}

/* A JSON number, leading zeros tolerated (dec_parse accepts them too). */
static bool jscan_number(struct jscan *sc, struct jv *v)
{
	const char *start = sc->p;

	if (jscan_peek(sc) == '-')
		sc->p++;
	if (!jscan_digits(sc))
		return false;
	if (jscan_peek(sc) == '.') {
		sc->p++;
		if (!jscan_digits(sc))
			return false;
	}
	if (jscan_peek(sc) == 'e' || jscan_peek(sc) == 'E') {
		sc->p++;
		if (jscan_peek(sc) == '+' || jscan_peek(sc) == '-')
			sc->p++;
		if (!jscan_digits(sc))
			return false;
	}
	if (v) {
		v->type = JV_NUMBER;
		v->s = start;
		v->len = (uint32_t)(sc->p - start);
	}
	return true;
}

static bool jscan_literal(struct jscan *sc, const char *word, size_t n)
{
	if ((size_t)(sc->end - sc->p) < n || memcmp(sc->p, word, n) != 0)
		return false;
	sc->p += n;
	return true;
}

/* A value that is not an array or object. */
static bool jscan_scalar(struct jscan *sc, struct jv *v)
{
	struct jv tmp;

	if (!v)
		v = &tmp;
	switch (jscan_peek(sc)) {
	case '"':
		return jscan_string(sc, v);
	case 't':
		v->type = JV_OTHER;
		return jscan_literal(sc, "true", 4);
	case 'f':
		v->type = JV_OTHER;
		return jscan_literal(sc, "false", 5);
	case 'n':
		v->type = JV_NULL;
		return jscan_literal(sc, "null", 4);
	default:
		return jscan_number(sc, v);
	}
}

/* "key" ws ':' ws, inside an object; k (if non-NULL) gets the key span. */
static bool jscan_key(struct jscan *sc, struct jv *k)
{
	if (jscan_peek(sc) != '"' || !jscan_string(sc, k))
		return false;
	jscan_ws(sc);
	if (jscan_peek(sc) != ':')
		return false;
	sc->p++;
	jscan_ws(sc);
	return true;
}

/* At '{' or '[': skips the whole (nested) value without recursion. */
static bool jscan_container(struct jscan *sc)
{
	char close[JSONL_DEPTH_MAX];
	unsigned depth = 0;
	bool want_value = true;
	/* Every pass but the last consumes at least one byte. */
	size_t bound = (size_t)(sc->end - sc->p) + 1;

	for (size_t n = 0; n < bound; n++) {
		int c = jscan_peek(sc);

		if (want_value && (c == '{' || c == '[')) {
			if (depth == JSONL_DEPTH_MAX)
				return false;
			close[depth++] = c == '{' ? '}' : ']';
			sc->p++;
			jscan_ws(sc);
			if (jscan_peek(sc) == close[depth - 1]) {
				sc->p++;
				depth--;
				want_value = false;
			} else if (c == '{' && !jscan_key(sc, NULL)) {
				return false;
			}
			continue;
		}
		if (want_value) {
			if (!jscan_scalar(sc, NULL))
				return false;
			want_value = false;
		}
		if (depth == 0)
			return true;
		jscan_ws(sc);
		c = jscan_peek(sc);
		if (c == close[depth - 1]) {
			sc->p++;
			depth--;
			continue;
		}
		if (c != ',')
			return false;
		sc->p++;
		jscan_ws(sc);
		if (close[depth - 1] == '}' && !jscan_key(sc, NULL))
			return false;
		want_value = true;
	}
	return false;
}

static bool jscan_value(struct jscan *sc, struct jv *v)
{
	int c = jscan_peek(sc);

	if (c == '{' || c == '[') {
		v->type = JV_OTHER;
		return jscan_container(sc);
	}
	return jscan_scalar(sc, v);
}

static int jsonl_key_index(const struct jv *k)
{
	if (k->esc)
		return K_COUNT; /* an escaped key never names a known field */
	for (int i = 0; i < K_COUNT; i++) {
		if (k->len == jsonl_keys[i].len && memcmp(k->s, jsonl_keys[i].name, k->len) == 0)
			return i;
	}
	return K_COUNT;
}

/* Scans the top-level object, filling vals[] for known keys.  Returns
 * MALFORMED_NONE, MALFORMED_SYNTAX or MALFORMED_DUPLICATE_KEY. */
static enum malformed jscan_object(const char *line, size_t len, struct jv vals[K_COUNT])
{
	struct jscan sc = {line, line + len};
	bool dup = false, closed = false;
	struct jv key, skipped;

	jscan_ws(&sc);
	if (jscan_peek(&sc) != '{')
		return MALFORMED_SYNTAX;
	sc.p++;
	jscan_ws(&sc);
	if (jscan_peek(&sc) == '}') {
		sc.p++;
		closed = true;
	} else {
		/* Each member consumes at least one byte. */
		for (size_t n = 0; n < len && !closed; n++) {
			struct jv *v;
			int k, c;

			if (!jscan_key(&sc, &key))
				return MALFORMED_SYNTAX;
			k = jsonl_key_index(&key);
			v = k < K_COUNT && vals[k].type == JV_ABSENT ? &vals[k] : &skipped;
			dup |= k < K_COUNT && v == &skipped;
			if (!jscan_value(&sc, v))
				return MALFORMED_SYNTAX;
			jscan_ws(&sc);
			c = jscan_peek(&sc);
			sc.p += c >= 0;
			closed = c == '}';
			if (!closed && c != ',')
				return MALFORMED_SYNTAX;
			jscan_ws(&sc);
		}
	}
	jscan_ws(&sc);
	if (!closed || sc.p != sc.end)
		return MALFORMED_SYNTAX;
	return dup ? MALFORMED_DUPLICATE_KEY : MALFORMED_NONE;
}

/* ---- step 2: the fields ---- */

/* Unsigned decimal integer: digits only, no sign, fraction or exponent. */
static bool jsonl_u64(const struct jv *v, uint64_t *out)
{
	uint64_t x = 0;

	if ((v->type != JV_NUMBER && v->type != JV_STRING) || v->len == 0)
		return false;
	for (uint32_t i = 0; i < v->len; i++) {
		unsigned d = (unsigned)(unsigned char)v->s[i] - '0';

		if (d > 9 || x > (UINT64_MAX - d) / 10)
			return false;
		x = x * 10 + d;
	}
	*out = x;
	return true;
}

static enum malformed jsonl_pair(const struct jv *v, struct jsonl_trade *out)
{
	if (v->type == JV_ABSENT || v->type == JV_NULL)
		return MALFORMED_MISSING_PAIR;
	if (v->type != JV_STRING || v->esc || v->len == 0 || v->len > TRADE_SYMBOL_MAX)
		return MALFORMED_BAD_PAIR;
	for (uint32_t i = 0; i < v->len; i++) {
		unsigned char c = (unsigned char)v->s[i];

		if (c < 0x21 || c > 0x7e)
			return MALFORMED_BAD_PAIR;
	}
	out->pair = v->s;
	out->pair_len = v->len;
	return MALFORMED_NONE;
}

/* The reasons one decimal field reports, in enum dec_err order. */
struct jsonl_dec_reasons {
	enum malformed missing, bad, precision, range;
};

static enum malformed jsonl_decimal(const struct jv *v, const struct jsonl_dec_reasons *r,
                                    int64_t *val, uint8_t *dp)
{
	if (v->type == JV_ABSENT || v->type == JV_NULL)
		return r->missing;
	if (v->type != JV_NUMBER && v->type != JV_STRING)
		return r->bad;
	switch (dec_parse(v->s, v->len, val, dp)) {
	case DEC_OK:
		return MALFORMED_NONE;
	case DEC_PRECISION:
		return r->precision;
	case DEC_RANGE:
		return r->range;
	case DEC_SYNTAX:
		break;
	}
	return r->bad;
}

static enum malformed jsonl_time(const struct jv *ts, const struct jv *ms, struct trade *t)
{
	uint64_t v;

	if (ts->type != JV_ABSENT && ts->type != JV_NULL) {
		if (ts->type != JV_STRING ||
		    timefmt_parse(ts->s, ts->len, &t->ts_exch_ns, &t->ts_digits) != 0)
			return MALFORMED_BAD_TIMESTAMP;
		return MALFORMED_NONE;
	}
	if (ms->type == JV_ABSENT || ms->type == JV_NULL)
		return MALFORMED_MISSING_TIME;
	if (!jsonl_u64(ms, &v) || v > (uint64_t)(INT64_MAX / NS_PER_MS))
		return MALFORMED_BAD_TIMESTAMP_MS;
	t->ts_exch_ns = (int64_t)v * NS_PER_MS;
	t->ts_digits = 3;
	return MALFORMED_NONE;
}

/* ASCII case-insensitive equality of a span with a lower-case word. */
static bool jsonl_word_eq(const struct jv *v, const char *word)
{
	size_t n = strlen(word);

	if (v->len != n)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = v->s[i];

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != word[i])
			return false;
	}
	return true;
}

static enum malformed jsonl_side(const struct jv *v, uint8_t *side)
{
	*side = TRADE_SIDE_UNKNOWN;
	if (v->type == JV_ABSENT || v->type == JV_NULL)
		return MALFORMED_NONE;
	if (v->type != JV_STRING || v->esc)
		return MALFORMED_BAD_SIDE;
	if (jsonl_word_eq(v, "buy") || jsonl_word_eq(v, "b"))
		*side = TRADE_SIDE_BUY;
	else if (jsonl_word_eq(v, "sell") || jsonl_word_eq(v, "s"))
		*side = TRADE_SIDE_SELL;
	else if (v->len != 0 && !jsonl_word_eq(v, "unknown"))
		return MALFORMED_BAD_SIDE;
	return MALFORMED_NONE;
}

/* An optional id: absent, null and 0 all mean "none" (flag not set). */
static bool jsonl_opt_id(const struct jv *v, uint64_t *id, uint8_t *flags, uint8_t flag)
{
	if (v->type == JV_ABSENT || v->type == JV_NULL)
		return true;
	if (!jsonl_u64(v, id))
		return false;
	if (*id != 0)
		*flags |= flag;
	return true;
}

static enum malformed jsonl_fields(const struct jv vals[K_COUNT], struct jsonl_trade *out)
{
	static const struct jsonl_dec_reasons price_r = {
	        MALFORMED_MISSING_PRICE, MALFORMED_BAD_PRICE, MALFORMED_PRICE_PRECISION,
	        MALFORMED_PRICE_RANGE};
	static const struct jsonl_dec_reasons volume_r = {
	        MALFORMED_MISSING_VOLUME, MALFORMED_BAD_VOLUME, MALFORMED_VOLUME_PRECISION,
	        MALFORMED_VOLUME_RANGE};
	struct trade *t = &out->t;
	enum malformed m;

	m = jsonl_pair(&vals[K_PAIR], out);
	if (m == MALFORMED_NONE)
		m = jsonl_decimal(&vals[K_PRICE], &price_r, &t->price, &t->price_dp);
	if (m == MALFORMED_NONE)
		m = jsonl_decimal(&vals[K_VOLUME], &volume_r, &t->qty, &t->qty_dp);
	if (m == MALFORMED_NONE && t->qty <= 0)
		m = MALFORMED_VOLUME_RANGE;
	if (m == MALFORMED_NONE)
		m = jsonl_time(&vals[K_TIMESTAMP], &vals[K_TIMESTAMP_MS], t);
	if (m == MALFORMED_NONE)
		m = jsonl_side(&vals[K_SIDE], &t->side);
	if (m == MALFORMED_NONE &&
	    !jsonl_opt_id(&vals[K_TRADE_ID], &t->trade_id, &t->flags, TRADE_F_HAS_ID))
		m = MALFORMED_BAD_TRADE_ID;
	if (m == MALFORMED_NONE && !jsonl_opt_id(&vals[K_SEQ], &t->seq, &t->flags, TRADE_F_HAS_SEQ))
		m = MALFORMED_BAD_SEQ;
	if (m == MALFORMED_NONE)
		t->flags |= TRADE_F_HAS_TS;
	return m;
}

enum malformed jsonl_parse(const char *line, size_t len, struct jsonl_trade *out)
{
	struct jv vals[K_COUNT];
	enum malformed m;

	assert(line != NULL || len == 0);
	assert(out != NULL);
	memset(out, 0, sizeof(*out));
	/* Datagrams reach here unframed, so the line limit is enforced here too. */
	if (len > JSONL_LINE_MAX)
		return MALFORMED_LINE_TOO_LONG;
	memset(vals, 0, sizeof(vals));
	m = jscan_object(line, len, vals);
	if (m != MALFORMED_NONE)
		return m;
	m = jsonl_fields(vals, out);
	if (m != MALFORMED_NONE)
		memset(out, 0, sizeof(*out)); /* no half-filled record escapes */
	return m;
}

/* ---- line framing ---- */

/* Hands one complete line to fn; a "\r\n" ending loses its '\r' here so
 * every consumer sees the same bytes for CRLF and LF input. */
static void jsonl_deliver(const char *line, size_t len, int too_long, jsonl_line_fn fn, void *ctx)
{
	if (!too_long && len > 0 && line[len - 1] == '\r')
		len--;
	fn(ctx, line, len, too_long);
}

void jsonl_stream_feed(struct jsonl_stream *s, const char *buf, size_t len, jsonl_line_fn fn,
                       void *ctx)
{
	size_t pos = 0;

	assert(s != NULL && fn != NULL && (buf != NULL || len == 0));
	assert(s->len <= JSONL_LINE_MAX);
	/* Each pass consumes at least one byte (a line, its '\n', or the rest). */
	for (size_t n = 0; pos < len && n < len; n++) {
		const char *nl = memchr(buf + pos, '\n', len - pos);
		size_t seg = nl ? (size_t)(nl - (buf + pos)) : len - pos;
		size_t room = JSONL_LINE_MAX - s->len;

		if (s->skipping) {
			s->skipping = nl == NULL;
		} else if (nl && s->len == 0 && seg <= JSONL_LINE_MAX) {
			jsonl_deliver(buf + pos, seg, 0, fn, ctx); /* no copy needed */
		} else if (seg <= room) {
			memcpy(s->buf + s->len, buf + pos, seg);
			s->len += (uint32_t)seg;
			if (nl) {
				jsonl_deliver(s->buf, s->len, 0, fn, ctx);
				s->len = 0;
			}
		} else {
			memcpy(s->buf + s->len, buf + pos, room);
			jsonl_deliver(s->buf, JSONL_LINE_MAX, 1, fn, ctx);
			s->len = 0;
			s->skipping = nl == NULL;
		}
		pos += seg + (nl != NULL);
	}
	assert(pos == len);
}

void jsonl_stream_end(struct jsonl_stream *s, jsonl_line_fn fn, void *ctx)
{
	assert(s != NULL && fn != NULL);
	if (!s->skipping && s->len > 0)
		jsonl_deliver(s->buf, s->len, 0, fn, ctx);
	s->len = 0;
	s->skipping = 0;
}
