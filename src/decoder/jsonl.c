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
 *
 * jsonl_parse tries jsonl_parse_fast first (below, "the fast path"): it
 * takes only lines it can convert exactly as the two steps above would,
 * and hands every other line to them unchanged.
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
#define JSCAN_ONES  0x0101010101010101ULL
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

enum malformed jsonl_parse_general(const char *line, size_t len, struct jsonl_trade *out)
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

/* ---- the fast path ----
 *
 * jsonl_parse_fast takes the lines a feed really sends: no control byte
 * anywhere, no backslash in a key or a known key's string value (escapes in
 * skipped values are fine), at most JF_LINE_MAX bytes, the known keys at most
 * once each (any order), plain values (a decimal without sign or exponent,
 * unsigned digits, a plain string), blanks only as spaces between tokens,
 * and unknown keys with scalar values.  One vector pass over the line finds
 * every quote; with no backslash in the line each quote is a string's
 * delimiter, so a string ends at the next quote bit.  With one, a key or a
 * known value whose span holds a backslash is handed over (an escape, or
 * a quote bit that was an escaped quote), and an unknown key's value is
 * walked by the general scanner's jscan_value, escapes and all, so the
 * quote bits inside it are never used.  Any other line, and
 * any line it would refuse, goes back to the general scanner: the fast path
 * never decides a refusal, so reasons stay those of jsonl_parse_general. */

#define JF_LINE_MAX 512 /* longer lines go to the general scanner */
#define JF_WORDS    (JF_LINE_MAX / 64)
#define JF_INT_MAX  10 /* integer digits of a decimal: 10^(10+8) < INT64_MAX */
#define JF_U64_MAX  19 /* digits of an id: 10^19 - 1 < UINT64_MAX */

_Static_assert(JF_LINE_MAX % 64 == 0 && JF_LINE_MAX <= JSONL_LINE_MAX, "whole mask words");
_Static_assert(JF_INT_MAX + TRADE_SCALE_DIGITS <= 18, "a fast decimal cannot overflow int64");
_Static_assert(K_COUNT <= 8, "seen keys fit a byte");

/* Bit i of q[i / 64] set when line[i] is '"' (zero past the line), for
 * the words < wend (those the line touches: no others are read).  bs:
 * the line has a backslash, so a quote bit may be an escaped quote inside
 * a string.  line[len] is readable and is '\n' or '\r' (the sentinel): no
 * token byte, so a check of line[i] for one needs no i < len. */
struct jf_line {
	const char *line;
	uint32_t len, wend;
	bool bs;
	uint64_t q[JF_WORDS];
};

/* One 64-byte block's bit masks: its quotes, its newlines, and its bytes that
 * keep a line off the fast path unless checked (a backslash, a byte below
 * 0x20: a newline is one too). */
struct jf_masks {
	uint64_t q, nl, bad;
};

/* The masks of one 64-byte block (a short block padded with spaces by the
 * caller). */
typedef void (*jf_block_fn)(const char *b, struct jf_masks *m);

static void jf_block_scalar(const char *b, struct jf_masks *m)
{
	uint64_t q = 0, nl = 0, bad = 0;

	for (unsigned i = 0; i < 64; i++) {
		unsigned char c = (unsigned char)b[i];

		q |= (uint64_t)(c == '"') << i;
		nl |= (uint64_t)(c == '\n') << i;
		bad |= (uint64_t)(c == '\\' || c < 0x20) << i;
	}
	m->q = q;
	m->nl = nl;
	m->bad = bad;
}

#if defined(__x86_64__)
#include <immintrin.h>

__attribute__((target("sse4.2"))) static void jf_block_sse42(const char *b, struct jf_masks *m)
{
	const __m128i quote = _mm_set1_epi8('"'), bs = _mm_set1_epi8('\\');
	const __m128i nl = _mm_set1_epi8('\n'), ctl = _mm_set1_epi8(0x1f);
	uint64_t q = 0, n = 0, bad = 0;

	for (unsigned i = 0; i < 4; i++) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(b + 16 * i));
		__m128i x = _mm_or_si128(_mm_cmpeq_epi8(v, bs),
		                         _mm_cmpeq_epi8(_mm_min_epu8(v, ctl), v));

		q |= (uint64_t)(uint16_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v, quote)) << (16 * i);
		n |= (uint64_t)(uint16_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v, nl)) << (16 * i);
		bad |= (uint64_t)(uint16_t)_mm_movemask_epi8(x) << (16 * i);
	}
	m->q = q;
	m->nl = n;
	m->bad = bad;
}

/* The mask of the 32 bytes of v that equal c. */
__attribute__((target("avx2"))) static inline uint64_t jf_eq32(__m256i v, char c)
{
	return (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(v, _mm256_set1_epi8(c)));
}

/* The mask of the 32 bytes of v that are a backslash or below 0x20. */
__attribute__((target("avx2"))) static inline uint64_t jf_bad32(__m256i v)
{
	__m256i ctl = _mm256_cmpeq_epi8(_mm256_min_epu8(v, _mm256_set1_epi8(0x1f)), v);

	return (uint32_t)_mm256_movemask_epi8(
	        _mm256_or_si256(ctl, _mm256_cmpeq_epi8(v, _mm256_set1_epi8('\\'))));
}

__attribute__((target("avx2"))) static void jf_block_avx2(const char *b, struct jf_masks *m)
{
	__m256i lo = _mm256_loadu_si256((const __m256i *)(const void *)b);
	__m256i hi = _mm256_loadu_si256((const __m256i *)(const void *)(b + 32));

	m->q = jf_eq32(lo, '"') | jf_eq32(hi, '"') << 32;
	m->nl = jf_eq32(lo, '\n') | jf_eq32(hi, '\n') << 32;
	m->bad = jf_bad32(lo) | jf_bad32(hi) << 32;
}

/* One 64-byte load, the tests straight into mask registers. */
__attribute__((target("avx512f,avx512bw"))) static void jf_block_avx512(const char *b,
                                                                        struct jf_masks *m)
{
	__m512i v = _mm512_loadu_si512((const void *)b);

	m->q = _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8('"'));
	m->nl = _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8('\n'));
	m->bad = _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8('\\')) |
	         _mm512_cmple_epu8_mask(v, _mm512_set1_epi8(0x1f));
}
#endif

static jf_block_fn jf_block = jf_block_scalar;

bool jsonl_fast_isa(enum jsonl_isa isa)
{
	switch (isa) {
	case JSONL_ISA_SCALAR:
		jf_block = jf_block_scalar;
		return true;
#if defined(__x86_64__)
	case JSONL_ISA_SSE42:
		__builtin_cpu_init();
		if (!__builtin_cpu_supports("sse4.2"))
			return false;
		jf_block = jf_block_sse42;
		return true;
	case JSONL_ISA_AVX2:
		__builtin_cpu_init();
		if (!__builtin_cpu_supports("avx2"))
			return false;
		jf_block = jf_block_avx2;
		return true;
	case JSONL_ISA_AVX512:
		__builtin_cpu_init();
		if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512bw"))
			return false;
		jf_block = jf_block_avx512;
		return true;
#else
	case JSONL_ISA_SSE42:
	case JSONL_ISA_AVX2:
	case JSONL_ISA_AVX512:
		return false;
#endif
	}
	return false;
}

/* Runtime dispatch, once at load time (before any thread can parse): the
 * widest kernel the CPU has. */
__attribute__((constructor)) static void jf_dispatch(void)
{
	if (!jsonl_fast_isa(JSONL_ISA_AVX512) && !jsonl_fast_isa(JSONL_ISA_AVX2) &&
	    !jsonl_fast_isa(JSONL_ISA_SSE42))
		jsonl_fast_isa(JSONL_ISA_SCALAR);
}

/* The masks of [buf, buf + len), block by block, into q, nl and bad (a
 * word each per 64 bytes); a short last block is padded with spaces
 * (neither quote, newline nor control). */
static void jf_run(const char *buf, uint32_t len, uint64_t *q, uint64_t *nl, uint64_t *bad)
{
	uint32_t full = len / 64, rest = len % 64;
	struct jf_masks m;
	char tail[64];

	for (uint32_t w = 0; w < full; w++) {
		jf_block(buf + 64 * w, &m);
		q[w] = m.q;
		nl[w] = m.nl;
		bad[w] = m.bad;
	}
	if (rest) {
		memset(tail, ' ', sizeof(tail));
		memcpy(tail, buf + 64 * full, rest);
		jf_block(tail, &m);
		q[full] = m.q;
		nl[full] = m.nl;
		bad[full] = m.bad;
	}
}

/* Fills f->q (len <= JF_LINE_MAX); false if the line has a backslash or a
 * control byte. */
static bool jf_classify(struct jf_line *f)
{
	uint64_t nl[JF_WORDS], bad[JF_WORDS], any = 0;
	uint32_t words = (f->len + 63) / 64;

	jf_run(f->line, f->len, f->q, nl, bad);
	for (uint32_t w = 0; w < words; w++)
		any |= bad[w];
	f->wend = words;
	return any == 0;
}

/* Fills f->q from the framer's marks: the line's bits shifted down to bit 0,
 * the bits past its end cleared.  The marks' words reach one past the line's
 * last (jsonl_seg keeps a zero word after its piece). */
static void jf_marked(struct jf_line *f, const struct jsonl_marks *mk)
{
	const uint64_t *src = mk->quote + mk->bit0 / 64;
	unsigned sh = mk->bit0 % 64, words = (f->len + 63) / 64;

	for (unsigned w = 0; w < words; w++) /* words <= JF_WORDS */
		f->q[w] = sh ? src[w] >> sh | src[w + 1] << (64 - sh) : src[w];
	if (f->len % 64)
		f->q[words - 1] &= ~0ULL >> (64 - f->len % 64);
	f->wend = words;
}

/* Whether line has a byte below 0x20 (once jf_classify said it has a
 * backslash or one: the rarer case, so a plain loop). */
static bool jf_has_control(const char *line, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)line[i] < 0x20)
			return true;
	return false;
}

/* Offset of the first quote at or after off, or len when there is none. */
static inline uint32_t jf_quote(const struct jf_line *f, uint32_t off)
{
	uint32_t w = off / 64;
	uint64_t m;

	if (off >= f->len)
		return f->len;
	m = f->q[w] & (~0ULL << (off % 64));
	while (m == 0) { /* bounded by wend <= JF_WORDS */
		if (++w >= f->wend)
			return f->len;
		m = f->q[w];
	}
	return w * 64 + (uint32_t)__builtin_ctzll(m);
}

#define JF_ZEROS 0x3030303030303030ULL /* '0' in every byte */

/* The high bit of each byte of x (8 ASCII bytes minus '0' in each) that
 * was not a digit: a digit is 0..9 after the subtraction.  Borrows and
 * carries only move upward, so the flags below the lowest one are exact. */
static inline uint64_t jf_nondigits(uint64_t x)
{
	return ((x + 0x7676767676767676ULL) | x) & 0x8080808080808080ULL;
}

/* Up to 8 leading ASCII digits of [p, end): their count, value in *v.
 * Fewer than 8 bytes left are read as the 8 that end at end: the line has
 * 8 bytes at least (jsonl_parse_fast), and end is its end. */
static inline unsigned jf_digits8(const char *p, const char *end, uint64_t *v)
{
	uint64_t w, x, nd;
	unsigned n, left = (unsigned)(end - p);

	if (left < 8) {
		if (left == 0) {
			*v = 0;
			return 0;
		}
		memcpy(&w, end - 8, sizeof(w));
		w = w >> (8 * (8 - left)) | ~0ULL << (8 * left); /* 0xff, no digit, past end */
	} else {
		memcpy(&w, p, sizeof(w)); /* little-endian: p[0] is the low byte */
	}
	x = w - JF_ZEROS;
	nd = jf_nondigits(x);
	n = nd ? (unsigned)__builtin_ctzll(nd) / 8 : 8;
	if (n == 0) {
		*v = 0;
		return 0;
	}
	x <<= 8 * (8 - n); /* the n digits to the top, zeros below: leading zeros */
	x = (x * 10 + (x >> 8)) & 0x00ff00ff00ff00ffULL;
	x = (x * 100 + (x >> 16)) & 0x0000ffff0000ffffULL;
	x = (x * 10000 + (x >> 32)) & 0xffffffffULL;
	*v = x;
	return n;
}

/* A run of digits at *pp into *v: its length, or 0 if there is none or it is
 * longer than max (max <= JF_U64_MAX, so *v cannot overflow). */
static inline unsigned jf_uint(const char **pp, const char *end, unsigned max, uint64_t *v)
{
	static const uint64_t pow10[9] = {1,      10,      100,      1000,     10000,
	                                  100000, 1000000, 10000000, 100000000};
	const char *p = *pp;
	uint64_t acc = 0, chunk;
	unsigned n = 0, k;

	for (unsigned i = 0; i < 3; i++) { /* 3 x 8 > JF_U64_MAX */
		k = jf_digits8(p, end, &chunk);
		acc = acc * pow10[k] + chunk;
		n += k;
		p += k;
		if (k < 8 || n > max)
			break;
	}
	if (n == 0 || n > max)
		return 0;
	*pp = p;
	*v = acc;
	return n;
}

/* A plain decimal (digits, optionally '.' and digits) at *pp; false on
 * anything else or more digits than the fast path takes.  Same value and dp
 * as dec_parse for the texts it accepts. */
static inline bool jf_decimal(const char **pp, const char *end, int64_t *val, uint8_t *dp)
{
	static const int64_t scale[TRADE_SCALE_DIGITS + 1] = {
	        100000000, 10000000, 1000000, 100000, 10000, 1000, 100, 10, 1};
	uint64_t ip, fp = 0;
	unsigned nf = 0;
	const char *p = *pp;

	if (!jf_uint(&p, end, JF_INT_MAX, &ip))
		return false;
	if (p < end && *p == '.') {
		p++;
		nf = jf_uint(&p, end, TRADE_SCALE_DIGITS, &fp);
		if (nf == 0)
			return false;
	}
	*val = (int64_t)ip * TRADE_SCALE + (int64_t)fp * scale[nf];
	*dp = (uint8_t)nf;
	*pp = p;
	return true;
}

/* The value of 8 digit values (0..9, one a byte, the first in the low byte),
 * combined in pairs, then fours, then eights (SWAR). */
static inline uint64_t jf_swar8(uint64_t x)
{
	x = (x * 10 + (x >> 8)) & 0x00ff00ff00ff00ffULL;
	x = (x * 100 + (x >> 16)) & 0x0000ffff0000ffffULL;
	return (x * 10000 + (x >> 32)) & 0xffffffffULL;
}

/* The minute of the last timestamp timefmt_parse took ("YYYY-MM-DDTHH:MM",
 * zone Z) and its nanoseconds since the epoch: trades arrive in time order,
 * so the next timestamp is most likely in the same minute.  Per thread. */
static __thread struct {
	uint64_t a, b; /* the 16 bytes; a == 0 when empty (no timestamp starts with NULs) */
	int64_t ns;
} jf_minute;

/* The seconds of timestamp s (n >= 20 bytes, its minute the cached one):
 * ":SS[.f{1,9}]Z" into *ns; false to leave it to timefmt_parse.  Reads only
 * [s, s + n): up to 7 fraction digits are the 8 bytes that end at the 'Z',
 * 8 or 9 are the 8 bytes after the '.' (and the ninth digit). */
static inline bool jf_seconds(const char *s, uint32_t n, int64_t *ns, uint8_t *digits)
{
	const char *t = s + 16;
	uint32_t m = n - 16, nf = m > 4 ? m - 5 : 0;
	unsigned d1 = (unsigned)(t[1] - '0'), d2 = (unsigned)(t[2] - '0'), d9 = 0;
	uint64_t w, x, mk = ~0ULL, frac = 0;

	if (t[0] != ':' || t[m - 1] != 'Z' || d1 > 5 || d2 > 9)
		return false;
	if (m > 4) {
		if (t[3] != '.' || nf == 0 || nf > 9)
			return false;
		if (nf <= 7) {
			memcpy(&w, s + n - 8, sizeof(w));
			w >>= 8 * (7 - nf); /* the nf digits to the low bytes */
			mk = ~0ULL >> (64 - 8 * nf);
		} else {
			memcpy(&w, t + 4, sizeof(w));
			d9 = nf == 9 ? (unsigned)(t[12] - '0') : 0;
		}
		x = ((w & mk) | (JF_ZEROS & ~mk)) - JF_ZEROS; /* '0's after the digits */
		if ((jf_nondigits(x) & mk) != 0 || d9 > 9)
			return false;
		frac = jf_swar8(x) * 10 + d9; /* 8 digits are units of 10 ns */
	}
	*ns = jf_minute.ns + (int64_t)(d1 * 10 + d2) * 1000000000LL + (int64_t)frac;
	*digits = (uint8_t)nf;
	return true;
}

/* An RFC 3339 timestamp, as timefmt_parse reads it; reads only [s, s + n). */
static inline bool jf_time(const char *s, uint32_t n, int64_t *ns, uint8_t *digits)
{
	uint64_t a, b;

	if (n < 20)
		return false;
	memcpy(&a, s, 8);
	memcpy(&b, s + 8, 8);
	if (a == jf_minute.a && b == jf_minute.b && jf_seconds(s, n, ns, digits))
		return true;
	if (timefmt_parse(s, n, ns, digits) != 0)
		return false;
	/* Cache a Z minute whose every second fits (timefmt_parse checked the digits). */
	if (s[n - 1] == 'Z' && *ns <= INT64_MAX - 60 * 1000000000LL) {
		jf_minute.a = a;
		jf_minute.b = b;
		jf_minute.ns = *ns - *ns % 1000000000LL -
		               (int64_t)((s[17] - '0') * 10 + (s[18] - '0')) * 1000000000LL;
	}
	return true;
}

/* The fields as the fast path found them. */
struct jf_state {
	const char *p, *end;
	uint8_t seen;   /* bit per enum jkey: key met (dup -> general) */
	uint8_t valued; /* bit per enum jkey: key met with a non-null value */
	uint64_t ms;    /* timestamp_ms when valued */
};

/* st->p <= st->end throughout, and *st->end is the sentinel (struct
 * jf_line): a byte compare at st->p needs no bound. */
static inline void jf_blanks(struct jf_state *st)
{
	while (*st->p == ' ') /* bounded by the sentinel */
		st->p++;
}

/* A string value at st->p: its content span; false if not a string, or
 * if the span has a backslash (an escape, or a quote bit that was an
 * escaped quote: the general scanner decodes those). */
static inline bool jf_string(struct jf_state *st, const struct jf_line *f, const char **s,
                             uint32_t *n)
{
	uint32_t open = (uint32_t)(st->p - f->line), close;

	if (*st->p != '"')
		return false;
	close = jf_quote(f, open + 1);
	if (close >= f->len)
		return false;
	if (f->bs && memchr(st->p + 1, '\\', close - open - 1) != NULL)
		return false;
	*s = st->p + 1;
	*n = close - open - 1;
	st->p = f->line + close + 1;
	return true;
}

/* jf_decimal, the common case SWAR: at most 7 integer digits, and at least
 * 17 bytes to read from *pp (digits and the byte after them); anything else
 * goes to jf_decimal.  The same texts, value, dp and end as jf_decimal; the
 * integer and fraction digits are converted independently of each other. */
static inline bool jf_decimal_swar(const char **pp, const char *end, int64_t *val, uint8_t *dp)
{
	const char *p = *pp;
	uint64_t w, x, nd, ip, fp = 0;
	unsigned ni, nf = 0;

	if (end - p < 17)
		return jf_decimal(pp, end, val, dp);
	memcpy(&w, p, sizeof(w));
	x = w - JF_ZEROS;
	nd = jf_nondigits(x);
	if (nd == 0) /* 8 or more integer digits */
		return jf_decimal(pp, end, val, dp);
	ni = (unsigned)__builtin_ctzll(nd) / 8;
	if (ni == 0)
		return false;
	ip = jf_swar8(x << (8 * (8 - ni))); /* the digits to the top: leading zeros */
	if (p[ni] == '.') {
		memcpy(&w, p + ni + 1, sizeof(w));
		x = w - JF_ZEROS;
		nd = jf_nondigits(x);
		nf = nd ? (unsigned)__builtin_ctzll(nd) / 8 : 8;
		if (nf == 0 || (nf == 8 && (unsigned)(p[ni + 9] - '0') <= 9))
			return false; /* "1." or more than 8 fraction digits */
		fp = jf_swar8(x & (~0ULL >> (64 - 8 * nf))); /* trailing zeros: the scale */
		p += ni + 1 + nf;
	} else {
		p += ni;
	}
	*val = (int64_t)ip * TRADE_SCALE + (int64_t)fp;
	*dp = (uint8_t)nf;
	*pp = p;
	return true;
}

/* 1 if p (p <= st->end: the sentinel is no c) holds byte c, else 0, read
 * without a branch (a feed sends a value as a number on one line and a
 * string on the next). */
static inline unsigned jf_is(const struct jf_state *st, const char *p, char c)
{
	(void)st;
	assert(p <= st->end && c != '\n' && c != '\r');
	return (unsigned)(*p == c);
}

/* A decimal given as a number or a string holding one: a string's digits
 * must reach its closing quote (a backslash, or any other byte, stops them
 * first, and the line goes to the general scanner). */
static inline bool jf_dec_value(struct jf_state *st, int64_t *v, uint8_t *dp)
{
	unsigned q = jf_is(st, st->p, '"');
	const char *p = st->p + q;

	if (!jf_decimal_swar(&p, st->end, v, dp) || (q & ~jf_is(st, p, '"')))
		return false;
	st->p = p + q;
	return true;
}

/* Unsigned digits given as a number or a string of digits, as jf_dec_value. */
static inline bool jf_u64_value(struct jf_state *st, uint64_t *v)
{
	unsigned q = jf_is(st, st->p, '"');
	const char *p = st->p + q;

	if (jf_uint(&p, st->end, JF_U64_MAX, v) == 0 || (q & ~jf_is(st, p, '"')))
		return false;
	st->p = p + q;
	return true;
}

static inline bool jf_pair(struct jf_state *st, const struct jf_line *f, struct jsonl_trade *out)
{
	const char *s;
	uint32_t n;

	if (!jf_string(st, f, &s, &n) || n == 0 || n > TRADE_SYMBOL_MAX)
		return false;
	for (uint32_t i = 0; i < n; i++) { /* no control byte: see jf_classify */
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
			return false;
	}
	out->pair = s;
	out->pair_len = n;
	return true;
}

static inline bool jf_side(struct jf_state *st, const struct jf_line *f, uint8_t *side)
{
	const char *s;
	uint32_t n, w = 0;

	*side = TRADE_SIDE_UNKNOWN;
	if (!jf_string(st, f, &s, &n) || n > 4) /* "unknown": the general scanner */
		return false;
	if (n == 0)
		return true;
	for (uint32_t i = 0; i < n; i++) /* among letters, |0x20 folds only A-Z onto a-z */
		w |= (uint32_t)((unsigned char)s[i] | 0x20) << (8 * i);
	if (w == ('b' | 'u' << 8 | 'y' << 16) || w == 'b')
		*side = TRADE_SIDE_BUY;
	else if (w == ('s' | 'e' << 8 | 'l' << 16 | (uint32_t)'l' << 24) || w == 's')
		*side = TRADE_SIDE_SELL;
	return *side != TRADE_SIDE_UNKNOWN;
}

/* A key's index among the known ones, K_COUNT for any other.  Fixed-size
 * compares (no call): keys are met on every line. */
static inline int jf_key(const char *s, uint32_t n)
{
	switch (n) {
	case 3:
		return memcmp(s, "seq", 3) == 0 ? K_SEQ : K_COUNT;
	case 4:
		if (memcmp(s, "pair", 4) == 0)
			return K_PAIR;
		return memcmp(s, "side", 4) == 0 ? K_SIDE : K_COUNT;
	case 5:
		return memcmp(s, "price", 5) == 0 ? K_PRICE : K_COUNT;
	case 6:
		return memcmp(s, "volume", 6) == 0 ? K_VOLUME : K_COUNT;
	case 8:
		return memcmp(s, "trade_id", 8) == 0 ? K_TRADE_ID : K_COUNT;
	case 9:
		return memcmp(s, "timestamp", 9) == 0 ? K_TIMESTAMP : K_COUNT;
	case 12:
		return memcmp(s, "timestamp_ms", 12) == 0 ? K_TIMESTAMP_MS : K_COUNT;
	}
	return K_COUNT;
}

/* jf_key without a branch on the key: the known keys by length and the low
 * bit of their first byte, then one compare of 16 masked bytes.  s must
 * have 16 readable bytes (the caller checks); keys come in any order, and a
 * switch on their lengths is mispredicted about once a key. */
static inline int jf_key_words(const char *s, uint32_t n)
{
	static const uint8_t cand[26] = {
	        /* 1 + enum jkey; 0: no known key of that length and first-byte parity */
	        [3 * 2 + 1] = 1 + K_SEQ,   [4 * 2] = 1 + K_PAIR,          [4 * 2 + 1] = 1 + K_SIDE,
	        [5 * 2] = 1 + K_PRICE,     [6 * 2] = 1 + K_VOLUME,        [8 * 2] = 1 + K_TRADE_ID,
	        [9 * 2] = 1 + K_TIMESTAMP, [12 * 2] = 1 + K_TIMESTAMP_MS,
	};
	static const uint64_t lo[1 + K_COUNT] = {
	        /* 1 + enum jkey: each key's first 8 bytes, little-endian, zero-padded */
	        [1 + K_PAIR] = 0x72696170,
	        [1 + K_PRICE] = 0x6563697270,
	        [1 + K_VOLUME] = 0x656d756c6f76,
	        [1 + K_TIMESTAMP] = 0x6d617473656d6974,
	        [1 + K_TIMESTAMP_MS] = 0x6d617473656d6974,
	        [1 + K_SIDE] = 0x65646973,
	        [1 + K_TRADE_ID] = 0x64695f6564617274,
	        [1 + K_SEQ] = 0x716573,
	};
	static const uint64_t hi[1 + K_COUNT] = {[1 + K_TIMESTAMP] = 0x70,
	                                         [1 + K_TIMESTAMP_MS] = 0x736d5f70};
	static const uint64_t mlo[13] = {0,          0xff,         0xffff,         0xffffff,
	                                 0xffffffff, 0xffffffffff, 0xffffffffffff, 0xffffffffffffff,
	                                 ~0ULL,      ~0ULL,        ~0ULL,          ~0ULL,
	                                 ~0ULL};
	static const uint64_t mhi[13] = {0, 0, 0,    0,      0,        0,         0,
	                                 0, 0, 0xff, 0xffff, 0xffffff, 0xffffffff};
	uint64_t a, b;
	unsigned x;

	if (n > 12)
		return K_COUNT;
	x = cand[n * 2 + ((unsigned char)s[0] & 1)];
	memcpy(&a, s, sizeof(a));
	memcpy(&b, s + 8, sizeof(b));
	/* x == 0 (no candidate) compares against entry 0 of lo/hi below, shifted
	 * by one: the tables are indexed by 1 + enum jkey */
	return (((a & mlo[n]) == lo[x]) & ((b & mhi[n]) == hi[x]) & (x != 0)) ? (int)x - 1
	                                                                      : K_COUNT;
}

/* The value of known key k at st->p into out; false to hand the line over.
 * Price and volume share one reader, and timestamp_ms, trade_id and seq
 * another (the destination picked without a branch): the branch on a
 * shuffled key order has five targets, not eight. */
static inline bool jf_known(struct jf_state *st, const struct jf_line *f, int k,
                            struct jsonl_trade *out)
{
	struct trade *t = &out->t;
	const char *s;
	uint32_t n;

	switch (k) {
	case K_PAIR:
		return jf_pair(st, f, out);
	case K_PRICE:
	case K_VOLUME: {
		int64_t *v = k == K_PRICE ? &t->price : &t->qty;
		uint8_t *dp = k == K_PRICE ? &t->price_dp : &t->qty_dp;

		return jf_dec_value(st, v, dp) && (k == K_PRICE || *v > 0);
	}
	case K_TIMESTAMP:
		return jf_string(st, f, &s, &n) && jf_time(s, n, &t->ts_exch_ns, &t->ts_digits);
	case K_SIDE:
		return jf_side(st, f, &t->side);
	case K_TIMESTAMP_MS:
	case K_TRADE_ID:
	case K_SEQ: {
		uint64_t *v = k == K_SEQ ? &t->seq : k == K_TRADE_ID ? &t->trade_id : &st->ms;
		uint8_t flag = k == K_SEQ ? TRADE_F_HAS_SEQ : k == K_TRADE_ID ? TRADE_F_HAS_ID : 0;

		if (!jf_u64_value(st, v))
			return false;
		t->flags |= *v ? flag : 0;
		return true;
	}
	}
	return false;
}

/* Keys whose null value means "absent" rather than a refusal. */
#define JF_NULLABLE                                                                                \
	(1u << K_TIMESTAMP | 1u << K_TIMESTAMP_MS | 1u << K_SIDE | 1u << K_TRADE_ID | 1u << K_SEQ)

/* One "key": value member at st->p. */
static bool jf_member(struct jf_state *st, const struct jf_line *f, struct jsonl_trade *out)
{
	struct jscan sc;
	struct jv skipped;
	const char *s;
	uint32_t n;
	int k;

	if (!jf_string(st, f, &s, &n))
		return false;
	k = st->end - s >= 16 ? jf_key_words(s, n) : jf_key(s, n);
	jf_blanks(st);
	if (*st->p != ':')
		return false;
	st->p++;
	jf_blanks(st);
	sc.p = st->p;
	sc.end = st->end;
	if (k == K_COUNT) { /* skipped exactly as the general scanner skips it */
		if (!jscan_value(&sc, &skipped))
			return false;
		st->p = sc.p;
		return true;
	}
	if (st->seen & (1u << k))
		return false; /* a duplicate key: the general scanner's refusal */
	st->seen |= (uint8_t)(1u << k);
	if (*st->p == 'n') {
		if (!(JF_NULLABLE & (1u << k)) || !jscan_literal(&sc, "null", 4))
			return false;
		st->p = sc.p;
		return true;
	}
	st->valued |= (uint8_t)(1u << k);
	return jf_known(st, f, k, out);
}

/* After the closing brace: the required fields present and the time set. */
static bool jf_finish(const struct jf_state *st, struct jsonl_trade *out)
{
	const unsigned need = 1u << K_PAIR | 1u << K_PRICE | 1u << K_VOLUME;

	if ((st->valued & need) != need)
		return false;
	if (!(st->valued & (1u << K_TIMESTAMP))) {
		if (!(st->valued & (1u << K_TIMESTAMP_MS)) ||
		    st->ms > (uint64_t)(INT64_MAX / NS_PER_MS))
			return false;
		out->t.ts_exch_ns = (int64_t)st->ms * NS_PER_MS;
		out->t.ts_digits = 3;
	}
	out->t.flags |= TRADE_F_HAS_TS;
	return true;
}

/* The object of the line f holds, from its '{' to its '}'. */
static bool jf_object(const struct jf_line *f, struct jsonl_trade *out)
{
	struct jf_state st = {f->line, f->line + f->len, 0, 0, 0};

	jf_blanks(&st);
	if (*st.p != '{')
		return false;
	st.p++;
	/* Each member takes at least 4 bytes ("k":0). */
	for (unsigned i = 0; i < JF_LINE_MAX / 4; i++) {
		int c;

		jf_blanks(&st);
		if (!jf_member(&st, f, out))
			return false;
		jf_blanks(&st);
		c = *st.p++; /* the sentinel at worst: neither '}' nor ',' */
		if (c == '}') {
			jf_blanks(&st);
			return st.p == st.end && jf_finish(&st, out);
		}
		if (c != ',')
			return false;
	}
	return false;
}

bool jsonl_parse_fast(const char *line, size_t len, const struct jsonl_marks *marks,
                      struct jsonl_trade *out)
{
	struct jf_line f;
	char copy[JF_LINE_MAX + 1];
	bool plain;

	assert(line != NULL || len == 0);
	assert(out != NULL);
	memset(out, 0, sizeof(*out));
	/* 8 bytes at least: jf_digits8 reads the 8 that end at the line's end */
	if (len < 8 || len > JF_LINE_MAX)
		return false;
	f.line = line;
	f.len = (uint32_t)len;
	f.bs = false;
	if (marks != NULL && (line[len] == '\n' || line[len] == '\r')) {
		jf_marked(&f, marks);
		plain = !marks->unusual;
	} else { /* nothing known past the line: a copy, with a sentinel */
		memcpy(copy, line, len);
		copy[len] = '\n';
		f.line = copy;
		plain = jf_classify(&f);
	}
	if (!plain) {
		/* A backslash, or a control byte: only the first is taken (in
		 * values the general scanner skips, jscan_value, such as a
		 * "note" with escapes: 1 line in 64 of the generated feed) */
		if (jf_has_control(f.line, len))
			return false;
		f.bs = true;
	}
	if (!jf_object(&f, out)) {
		memset(out, 0, sizeof(*out));
		return false;
	}
	out->pair = line + (out->pair - f.line); /* into the caller's line, not the copy */
	return true;
}

enum malformed jsonl_parse_marked(const char *line, size_t len, const struct jsonl_marks *marks,
                                  struct jsonl_trade *out)
{
	if (jsonl_parse_fast(line, len, marks, out))
		return MALFORMED_NONE;
	return jsonl_parse_general(line, len, out);
}

enum malformed jsonl_parse(const char *line, size_t len, struct jsonl_trade *out)
{
	return jsonl_parse_marked(line, len, NULL, out);
}

/* ---- line framing ---- */

#define JSONL_SEG 16384 /* bytes a vector pass frames at a time */

_Static_assert(JSONL_SEG % 64 == 0 && JSONL_SEG > JSONL_LINE_MAX, "a whole line fits a segment");

/* Hands one complete line to fn; a "\r\n" ending loses its '\r' here so
 * every consumer sees the same bytes for CRLF and LF input.  marks: the
 * line's quote bits, or NULL. */
static void jsonl_deliver(const char *line, size_t len, int too_long,
                          const struct jsonl_marks *marks, jsonl_line_fn fn, void *ctx)
{
	if (!too_long && len > 0 && line[len - 1] == '\r')
		len--;
	fn(ctx, line, len, too_long, marks);
}

/* One step of the framer at buf (len > 0 bytes): a carried or skipped line's
 * end, or a line, or the rest of buf into the carry.  Bytes consumed (> 0). */
static size_t jsonl_step(struct jsonl_stream *s, const char *buf, size_t len, jsonl_line_fn fn,
                         void *ctx)
{
	const char *nl = memchr(buf, '\n', len);
	size_t seg = nl ? (size_t)(nl - buf) : len;
	size_t room = JSONL_LINE_MAX - s->len;

	if (s->skipping) {
		s->skipping = nl == NULL;
	} else if (nl && s->len == 0 && seg <= JSONL_LINE_MAX) {
		jsonl_deliver(buf, seg, 0, NULL, fn, ctx); /* no copy needed */
	} else if (seg <= room) {
		memcpy(s->buf + s->len, buf, seg);
		s->len += (uint32_t)seg;
		if (nl) {
			jsonl_deliver(s->buf, s->len, 0, NULL, fn, ctx);
			s->len = 0;
		}
	} else {
		memcpy(s->buf + s->len, buf, room);
		jsonl_deliver(s->buf, JSONL_LINE_MAX, 1, NULL, fn, ctx);
		s->len = 0;
		s->skipping = nl == NULL;
	}
	return seg + (nl != NULL);
}

/* Whether any of bits [from, from + n) of m is set: the first and the last
 * word masked, the words between (none for most lines) whole. */
static bool jsonl_bits_any(const uint64_t *m, uint32_t from, uint32_t n)
{
	uint32_t w0 = from / 64, w1 = (from + n - 1) / 64;
	uint64_t head = ~0ULL << (from % 64), tail = ~0ULL >> (63 - (from + n - 1) % 64), x;

	if (n == 0)
		return false;
	if (w0 == w1)
		return (m[w0] & head & tail) != 0;
	x = (m[w0] & head) | (m[w1] & tail);
	for (uint32_t w = w0 + 1; w < w1; w++) /* bounded by n / 64 */
		x |= m[w];
	return x != 0;
}

/* The whole lines among the first JSONL_SEG bytes of buf (len > 0), framed
 * from one vector pass that also gives the parser their quote bits.  Bytes
 * consumed: up to the last newline, 0 if there is none (jsonl_step then
 * takes the bytes: a line too long, or the rest of the stream's read). */
static size_t jsonl_seg(const char *buf, size_t len, jsonl_line_fn fn, void *ctx)
{
	uint64_t q[JSONL_SEG / 64 + 1], nl[JSONL_SEG / 64], bad[JSONL_SEG / 64];
	uint32_t n = len < JSONL_SEG ? (uint32_t)len : JSONL_SEG, start = 0;
	struct jsonl_marks marks = {.quote = q};

	jf_run(buf, n, q, nl, bad);
	q[(n + 63) / 64] = 0;                          /* the word past the piece, for jf_marked */
	for (uint32_t w = 0; w < (n + 63) / 64; w++) { /* bounded by n */
		uint64_t m = nl[w];

		while (m) { /* one pass per newline in the word */
			uint32_t at = w * 64 + (uint32_t)__builtin_ctzll(m);
			uint32_t ll = at - start;
			/* the bytes jsonl_deliver hands over: without a '\r' before the '\n' */
			uint32_t given = ll - (ll > 0 && buf[at - 1] == '\r');

			m &= m - 1;
			if (ll > JSONL_LINE_MAX) {
				jsonl_deliver(buf + start, JSONL_LINE_MAX, 1, NULL, fn, ctx);
			} else {
				marks.bit0 = start;
				marks.unusual = jsonl_bits_any(bad, start, given);
				jsonl_deliver(buf + start, ll, 0, &marks, fn, ctx);
			}
			start = at + 1;
		}
	}
	return start;
}

void jsonl_stream_feed(struct jsonl_stream *s, const char *buf, size_t len, jsonl_line_fn fn,
                       void *ctx)
{
	size_t pos = 0;
	bool rest_seen = false;

	assert(s != NULL && fn != NULL && (buf != NULL || len == 0));
	assert(s->len <= JSONL_LINE_MAX);
	/* Each pass consumes at least one byte (lines, a line, its '\n', or the rest). */
	for (size_t n = 0; pos < len && n < len; n++) {
		size_t took = 0;

		/* once a segment has seen every byte left, what it left has no '\n' */
		if (s->len == 0 && !s->skipping && !rest_seen) {
			rest_seen = len - pos <= JSONL_SEG;
			took = jsonl_seg(buf + pos, len - pos, fn, ctx);
		}
		if (took == 0)
			took = jsonl_step(s, buf + pos, len - pos, fn, ctx);
		pos += took;
	}
	assert(pos == len);
}

void jsonl_stream_end(struct jsonl_stream *s, jsonl_line_fn fn, void *ctx)
{
	assert(s != NULL && fn != NULL);
	if (!s->skipping && s->len > 0)
		jsonl_deliver(s->buf, s->len, 0, NULL, fn, ctx);
	s->len = 0;
	s->skipping = 0;
}
