/* kraken.c -- Kraken WebSocket v2/v1 frames, REST Trades and AssetPairs.
 *
 * A small JSON cursor (kj_*) over [p, end): it never reads past end, never
 * allocates, and nests at most KRAKEN_JSON_DEPTH deep.  Every parser first
 * validates the whole text (kj_valid), then collects the value spans of the
 * keys it knows (order free: Kraken's key order is not promised) and only
 * then interprets them.  Numbers stay text until dec_parse or the time
 * parsers read them.
 */
#include "trades/kraken.h"

#include <string.h>

#include "trades/decimal.h"
#include "trades/log.h"
#include "trades/timefmt.h"

struct kj {
	const char *p, *end;
};

/* A value's text: [s, s+n).  For a string, the bytes between the quotes. */
struct kspan {
	const char *s;
	size_t n;
	char type; /* '"', '0' (number), '{', '[', 't', 'f', 'n'; 0 = absent */
	bool esc;  /* string holds a backslash escape */
};

static void kj_ws(struct kj *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

static bool kj_eat(struct kj *j, char c)
{
	kj_ws(j);
	if (j->p < j->end && *j->p == c) {
		j->p++;
		return true;
	}
	return false;
}

static bool kj_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* A string at p (after blanks): its contents in *sp.  -1 on bad syntax. */
static int kj_str(struct kj *j, struct kspan *sp)
{
	kj_ws(j);
	if (j->p >= j->end || *j->p != '"')
		return -1;
	sp->s = ++j->p;
	sp->type = '"';
	sp->esc = false;
	while (j->p < j->end && *j->p != '"') {
		unsigned char c = (unsigned char)*j->p;

		if (c < 0x20)
			return -1;
		if (c == '\\') {
			sp->esc = true;
			if (++j->p >= j->end)
				return -1;
			if (*j->p == 'u') {
				if (j->end - j->p < 5 || !kj_hex(j->p[1]) || !kj_hex(j->p[2]) ||
				    !kj_hex(j->p[3]) || !kj_hex(j->p[4]))
					return -1;
				j->p += 4;
			} else if (!strchr("\"\\/bfnrt", *j->p)) {
				return -1;
			}
		}
		j->p++;
	}
	if (j->p >= j->end)
		return -1;
	sp->n = (size_t)(j->p - sp->s);
	j->p++;
	return 0;
}

static const char *kj_digits(const char *p, const char *end)
{
	while (p < end && *p >= '0' && *p <= '9')
		p++;
	return p;
}

/* A number, literal or string at p (after blanks). -1 on bad syntax. */
static int kj_scalar(struct kj *j, struct kspan *sp)
{
	const char *p, *q;

	kj_ws(j);
	if (j->p >= j->end)
		return -1;
	if (*j->p == '"')
		return kj_str(j, sp);
	sp->s = p = j->p;
	sp->esc = false;
	if (*p == 't' || *p == 'f' || *p == 'n') {
		const char *lit = *p == 't' ? "true" : *p == 'f' ? "false" : "null";
		size_t n = strlen(lit);

		if ((size_t)(j->end - p) < n || memcmp(p, lit, n) != 0)
			return -1;
		sp->type = *p;
		sp->n = n;
		j->p += n;
		return 0;
	}
	if (*p == '-')
		p++;
	q = kj_digits(p, j->end);
	if (q == p || (*p == '0' && q - p > 1))
		return -1;
	if (q < j->end && *q == '.') {
		p = q + 1;
		q = kj_digits(p, j->end);
		if (q == p)
			return -1;
	}
	if (q < j->end && (*q == 'e' || *q == 'E')) {
		p = q + 1;
		if (p < j->end && (*p == '+' || *p == '-'))
			p++;
		q = kj_digits(p, j->end);
		if (q == p)
			return -1;
	}
	sp->type = '0';
	sp->n = (size_t)(q - sp->s);
	j->p = q;
	return 0;
}

/* After an opening bracket: an object's first key and ':' (or its end). */
static int kj_open_key(struct kj *j, bool obj)
{
	struct kspan k;

	if (!obj)
		return 0;
	if (kj_str(j, &k) < 0 || !kj_eat(j, ':'))
		return -1;
	return 0;
}

/* Skips one value of any kind, checking its syntax; *sp gets its span and
 * type.  Iterative: a bit stack of object/array, at most KRAKEN_JSON_DEPTH.
 * Each pass of the loop consumes input, so it ends within end - p passes. */
static int kj_skip(struct kj *j, struct kspan *sp)
{
	uint64_t objs = 0;
	unsigned depth = 0;

	_Static_assert(KRAKEN_JSON_DEPTH <= 64, "nesting is a 64-bit stack");
	kj_ws(j);
	sp->s = j->p;
	sp->type = j->p < j->end ? *j->p : 0;
	for (;;) {
		kj_ws(j);
		if (j->p >= j->end)
			return -1;
		if (*j->p == '{' || *j->p == '[') {
			bool obj = *j->p++ == '{';

			if (depth == KRAKEN_JSON_DEPTH)
				return -1;
			objs = objs << 1 | obj;
			depth++;
			if (kj_eat(j, obj ? '}' : ']')) {
				objs >>= 1;
				depth--;
			} else {
				if (kj_open_key(j, obj) < 0)
					return -1;
				continue;
			}
		} else {
			struct kspan v;

			if (kj_scalar(j, &v) < 0)
				return -1;
			if (depth == 0) {
				*sp = v;
				return 0;
			}
		}
		/* A value ended: close what ends here, then expect ',' or stop. */
		for (;;) { /* at most depth passes */
			if (depth == 0) {
				sp->n = (size_t)(j->p - sp->s);
				return 0;
			}
			if (kj_eat(j, ',')) {
				if (kj_open_key(j, objs & 1) < 0)
					return -1;
				break;
			}
			if (!kj_eat(j, (objs & 1) ? '}' : ']'))
				return -1;
			objs >>= 1;
			depth--;
		}
	}
}

/* The whole text is one JSON value with only blanks around it. */
static bool kj_valid(const char *buf, size_t len)
{
	struct kj j = {buf, buf + len};
	struct kspan sp;

	if (kj_skip(&j, &sp) < 0)
		return false;
	kj_ws(&j);
	return j.p == j.end;
}

/* Iterates an object's members: *key and *val for each; 1 while there is
 * one, 0 at the end.  Call on text kj_valid accepted (errors end it). */
static int kj_member(struct kj *j, bool *first, struct kspan *key, struct kspan *val)
{
	if (*first) {
		*first = false;
		if (!kj_eat(j, '{') || kj_eat(j, '}'))
			return 0;
	} else if (!kj_eat(j, ',')) {
		return 0;
	}
	if (kj_str(j, key) < 0 || !kj_eat(j, ':') || kj_skip(j, val) < 0)
		return 0;
	return 1;
}

/* Iterates an array's elements like kj_member. */
static int kj_elem(struct kj *j, bool *first, struct kspan *val)
{
	if (*first) {
		*first = false;
		if (!kj_eat(j, '[') || kj_eat(j, ']'))
			return 0;
	} else if (!kj_eat(j, ',')) {
		return 0;
	}
	return kj_skip(j, val) < 0 ? 0 : 1;
}

/* A cursor over a container value's span (the brackets included).  An absent
 * key's span is {NULL, 0}: an empty cursor, without NULL + 0 (UB; fuzz_kraken_*). */
static struct kj kj_of(const struct kspan *sp)
{
	return (struct kj){sp->s, sp->n ? sp->s + sp->n : sp->s};
}

static bool ks_is(const struct kspan *sp, const char *lit)
{
	size_t n = strlen(lit);

	return sp->type == '"' && !sp->esc && sp->n == n && memcmp(sp->s, lit, n) == 0;
}

/* Copies a string value into out (cap bytes with the NUL), cut at cap;
 * escapes are decoded (\uXXXX only below 0x80, else '?').  Non-strings
 * copy as "". */
static void ks_copy(const struct kspan *sp, char *out, size_t cap)
{
	size_t i, o = 0;

	for (i = 0; sp->type == '"' && i < sp->n && o + 1 < cap; i++) {
		char c = sp->s[i];

		if (c == '\\' && i + 1 < sp->n) {
			c = sp->s[++i];
			if (c == 'u' && i + 4 < sp->n) {
				unsigned v = 0, k;

				for (k = 1; k <= 4; k++) {
					char h = sp->s[i + k];

					v = v * 16 +
					    (unsigned)(h <= '9' ? h - '0' : (h | 0x20) - 'a' + 10);
				}
				c = v < 0x80 ? (char)v : '?';
				i += 4;
			} else {
				c = c == 'n'   ? '\n'
				    : c == 't' ? '\t'
				    : c == 'r' ? '\r'
				    : c == 'b' ? '\b'
				    : c == 'f' ? '\f'
				               : c;
			}
		}
		out[o++] = c;
	}
	out[o] = '\0';
}

/* An unsigned integer: a number without fraction/exponent or a digit
 * string.  0, or -1. */
static int ks_u64(const struct kspan *sp, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if ((sp->type != '0' && sp->type != '"') || sp->n == 0 || sp->n > 20)
		return -1;
	for (i = 0; i < sp->n; i++) {
		unsigned d = (unsigned)(sp->s[i] - '0');

		if (d > 9 || v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

/* ---------------------------------------------------------------- names */

int kraken_symbol_norm(const char *name, size_t len, char *out)
{
	static const struct {
		const char *from, *to;
	} codes[] = {{"XBT", "BTC"}, {"XDG", "DOGE"}};
	size_t i, o = 0, start = 0, k;

	if (len == 0 || len > TRADE_SYMBOL_MAX)
		return -1;
	for (i = 0; i <= len; i++) { /* one asset code per '/'-separated part */
		if (i < len && name[i] != '/') {
			if ((unsigned char)name[i] <= ' ' || (unsigned char)name[i] > '~')
				return -1;
			continue;
		}
		const char *part = name + start;
		size_t plen = i - start;

		for (k = 0; k < sizeof(codes) / sizeof(codes[0]); k++)
			if (plen == 3 && memcmp(part, codes[k].from, 3) == 0)
				break;
		if (k < sizeof(codes) / sizeof(codes[0])) {
			part = codes[k].to;
			plen = strlen(part);
		}
		if (o + plen + (i < len) > TRADE_SYMBOL_MAX)
			return -1;
		memcpy(out + o, part, plen);
		o += plen;
		if (i < len)
			out[o++] = '/';
		start = i + 1;
	}
	out[o] = '\0';
	return (int)o;
}

int kraken_time_parse(const char *s, size_t len, int64_t *ns, uint8_t *digits)
{
	const char *end = s + len, *q = kj_digits(s, end);
	int64_t sec = 0, frac = 0;
	unsigned nd = 0;
	const char *p;

	if (q == s || q - s > 11)
		return -1;
	for (p = s; p < q; p++)
		sec = sec * 10 + (*p - '0');
	if (q < end) {
		if (*q != '.' || q + 1 == end)
			return -1;
		for (p = q + 1; p < end; p++) {
			if (*p < '0' || *p > '9' || ++nd > 9)
				return -1;
			frac = frac * 10 + (*p - '0');
		}
	}
	if (sec > INT64_MAX / 1000000000 - 1)
		return -1;
	for (unsigned i = nd; i < 9; i++)
		frac *= 10;
	*ns = sec * 1000000000 + frac;
	*digits = (uint8_t)nd;
	return 0;
}

uint64_t kraken_v1_id(const struct trade *t, uint8_t ordtype)
{
	uint8_t bytes[18];
	uint64_t h = 14695981039346656037ull; /* FNV-1a 64 offset basis */
	unsigned i;

	for (i = 0; i < 8; i++) {
		bytes[i] = (uint8_t)((uint64_t)t->price >> (8 * i));
		bytes[8 + i] = (uint8_t)((uint64_t)t->qty >> (8 * i));
	}
	bytes[16] = t->side;
	bytes[17] = ordtype;
	for (i = 0; i < sizeof(bytes); i++)
		h = (h ^ bytes[i]) * 1099511628211ull; /* FNV 64 prime */
	return (uint64_t)(t->ts_exch_ns / 1000) * KRAKEN_V1_HASH_MOD + h % KRAKEN_V1_HASH_MOD;
}

/* ---------------------------------------------------------------- fields */

static enum malformed k_decimal(const struct kspan *sp, int64_t *v, uint8_t *dp, bool price)
{
	enum dec_err e;

	if (sp->type != '0' && sp->type != '"')
		return price ? MALFORMED_BAD_PRICE : MALFORMED_BAD_VOLUME;
	e = dec_parse(sp->s, sp->n, v, dp);
	if (e == DEC_PRECISION)
		return price ? MALFORMED_PRICE_PRECISION : MALFORMED_VOLUME_PRECISION;
	if (e == DEC_RANGE || (!price && e == DEC_OK && *v <= 0))
		return price ? MALFORMED_PRICE_RANGE : MALFORMED_VOLUME_RANGE;
	if (e != DEC_OK)
		return price ? MALFORMED_BAD_PRICE : MALFORMED_BAD_VOLUME;
	return MALFORMED_NONE;
}

/* "buy"/"sell" (v2) or "b"/"s" (v1, REST). */
static enum malformed k_side(const struct kspan *sp, uint8_t *side)
{
	if (ks_is(sp, "buy") || ks_is(sp, "b"))
		*side = TRADE_SIDE_BUY;
	else if (ks_is(sp, "sell") || ks_is(sp, "s"))
		*side = TRADE_SIDE_SELL;
	else
		return MALFORMED_BAD_SIDE;
	return MALFORMED_NONE;
}

static enum malformed k_symbol(const struct kspan *sp, struct kraken_trade *kt)
{
	int n;

	if (sp->type == 0)
		return MALFORMED_MISSING_PAIR;
	char raw[TRADE_SYMBOL_MAX + 2];

	if (sp->type != '"' || sp->n > 6 * (TRADE_SYMBOL_MAX + 1))
		return MALFORMED_BAD_PAIR;
	ks_copy(sp, raw, sizeof(raw));
	if ((n = kraken_symbol_norm(raw, strlen(raw), kt->symbol)) < 0)
		return MALFORMED_BAD_PAIR;
	kt->symbol_len = (uint8_t)n;
	return MALFORMED_NONE;
}

/* Price, qty and side from their spans, with the missing-field reasons. */
static enum malformed k_money(const struct kspan *price, const struct kspan *qty,
                              const struct kspan *side, struct trade *t)
{
	enum malformed why;

	if (price->type == 0)
		return MALFORMED_MISSING_PRICE;
	if ((why = k_decimal(price, &t->price, &t->price_dp, true)) != MALFORMED_NONE)
		return why;
	if (qty->type == 0)
		return MALFORMED_MISSING_VOLUME;
	if ((why = k_decimal(qty, &t->qty, &t->qty_dp, false)) != MALFORMED_NONE)
		return why;
	return side->type == 0 ? MALFORMED_BAD_SIDE : k_side(side, &t->side);
}

/* ---------------------------------------------------------------- v2 */

enum { V2_SYMBOL, V2_SIDE, V2_PRICE, V2_QTY, V2_ORD, V2_ID, V2_TS, V2_FIELDS };

static enum malformed v2_trade_fields(struct kspan *f, struct kraken_trade *kt)
{
	struct trade *t = &kt->t;
	enum malformed why;

	if ((why = k_symbol(&f[V2_SYMBOL], kt)) != MALFORMED_NONE ||
	    (why = k_money(&f[V2_PRICE], &f[V2_QTY], &f[V2_SIDE], t)) != MALFORMED_NONE)
		return why;
	if (f[V2_TS].type == 0)
		return MALFORMED_MISSING_TIME;
	if (f[V2_TS].type != '"' || f[V2_TS].esc ||
	    timefmt_parse(f[V2_TS].s, f[V2_TS].n, &t->ts_exch_ns, &t->ts_digits) < 0)
		return MALFORMED_BAD_TIMESTAMP;
	t->flags |= TRADE_F_HAS_TS;
	if (f[V2_ID].type != 0) {
		if (ks_u64(&f[V2_ID], &t->trade_id) < 0 || f[V2_ID].type != '0')
			return MALFORMED_BAD_TRADE_ID;
		/* Kraken's trade_id numbers the book's trades: it is the seq too. */
		t->seq = t->trade_id;
		if (t->trade_id)
			t->flags |= TRADE_F_HAS_ID | TRADE_F_HAS_SEQ;
	}
	return MALFORMED_NONE;
}

/* One element of a v2 "data" array. */
static enum malformed v2_trade(const struct kspan *el, struct kraken_trade *kt)
{
	static const char *const names[V2_FIELDS] = {"symbol",   "side",     "price",    "qty",
	                                             "ord_type", "trade_id", "timestamp"};
	struct kspan f[V2_FIELDS], key, val;
	struct kj j = kj_of(el);
	bool first = true;
	unsigned i;

	memset(kt, 0, sizeof(*kt));
	memset(f, 0, sizeof(f));
	if (el->type != '{')
		return MALFORMED_SYNTAX;
	while (kj_member(&j, &first, &key, &val)) { /* bounded by the span */
		for (i = 0; i < V2_FIELDS && !ks_is(&key, names[i]); i++)
			;
		if (i == V2_FIELDS)
			continue;
		if (f[i].type != 0)
			return MALFORMED_DUPLICATE_KEY;
		f[i] = val;
	}
	return v2_trade_fields(f, kt);
}

/* Calls fn for each element of a trade array; returns how many. */
static unsigned k_each_trade(const struct kspan *arr,
                             enum malformed (*one)(const struct kspan *el, struct kraken_trade *kt,
                                                   const void *arg),
                             const void *arg, kraken_trade_fn fn, void *ctx)
{
	struct kj j = kj_of(arr);
	struct kraken_trade kt;
	struct kspan el;
	bool first = true;
	unsigned n = 0;

	while (kj_elem(&j, &first, &el)) { /* bounded by the span */
		enum malformed why = one(&el, &kt, arg);

		fn(ctx, &kt, why, el.s, el.n);
		n++;
	}
	return n;
}

static enum malformed v2_trade_cb(const struct kspan *el, struct kraken_trade *kt, const void *arg)
{
	(void)arg;
	return v2_trade(el, kt);
}

/* Top-level keys of a v2 or v1 object frame. */
enum {
	TOP_CHANNEL,
	TOP_TYPE,
	TOP_DATA,
	TOP_METHOD,
	TOP_SUCCESS,
	TOP_RESULT,
	TOP_ERROR,
	TOP_SYMBOL,
	TOP_REQ_ID,
	TOP_EVENT,
	TOP_STATUS,
	TOP_ERRMSG,
	TOP_PAIR,
	TOP_KEYS
};

static void k_collect(const struct kspan *obj, const char *const *names, unsigned nnames,
                      struct kspan *out)
{
	struct kj j = kj_of(obj);
	struct kspan key, val;
	bool first = true;
	unsigned i;

	memset(out, 0, nnames * sizeof(*out));
	while (kj_member(&j, &first, &key, &val)) /* bounded by the span */
		for (i = 0; i < nnames; i++)
			if (ks_is(&key, names[i]) && out[i].type == 0)
				out[i] = val;
}

/* The acked pair: top-level "symbol" or result.symbol (v2), "pair" (v1). */
static void k_ack_symbol(const struct kspan *top, struct kraken_msg *m)
{
	static const char *const names[] = {"symbol"};
	struct kspan sym = top[TOP_SYMBOL].type ? top[TOP_SYMBOL] : top[TOP_PAIR];

	if (sym.type == 0 && top[TOP_RESULT].type == '{')
		k_collect(&top[TOP_RESULT], names, 1, &sym);
	char raw[TRADE_SYMBOL_MAX + 2];

	ks_copy(&sym, raw, sizeof(raw));
	if (kraken_symbol_norm(raw, strlen(raw), m->symbol) < 0)
		ks_copy(&sym, m->symbol, sizeof(m->symbol));
}

static enum malformed v2_method(const struct kspan *top, struct kraken_msg *m)
{
	if (top[TOP_REQ_ID].type && ks_u64(&top[TOP_REQ_ID], &m->req_id) < 0)
		m->req_id = 0;
	if (ks_is(&top[TOP_METHOD], "pong")) {
		m->kind = KRAKEN_MSG_PONG;
	} else if (ks_is(&top[TOP_METHOD], "subscribe")) {
		m->kind = top[TOP_SUCCESS].type == 't' ? KRAKEN_MSG_SUB_OK : KRAKEN_MSG_SUB_ERROR;
		ks_copy(&top[TOP_ERROR], m->error, sizeof(m->error));
		k_ack_symbol(top, m);
	} else {
		m->kind = KRAKEN_MSG_OTHER;
	}
	return MALFORMED_NONE;
}

static enum malformed v2_channel(const struct kspan *top, struct kraken_msg *m, kraken_trade_fn fn,
                                 void *ctx)
{
	static const char *const sysname[] = {"system"};
	struct kspan el, sys;
	struct kj j;
	bool first = true;

	if (ks_is(&top[TOP_CHANNEL], "heartbeat")) {
		m->kind = KRAKEN_MSG_HEARTBEAT;
	} else if (ks_is(&top[TOP_CHANNEL], "status")) {
		m->kind = KRAKEN_MSG_STATUS;
		j = kj_of(&top[TOP_DATA]);
		if (top[TOP_DATA].type == '[' && kj_elem(&j, &first, &el) && el.type == '{') {
			k_collect(&el, sysname, 1, &sys);
			ks_copy(&sys, m->status, sizeof(m->status));
		}
	} else if (ks_is(&top[TOP_CHANNEL], "trade")) {
		if (top[TOP_DATA].type != '[')
			return MALFORMED_SYNTAX;
		m->kind = KRAKEN_MSG_TRADE;
		m->snapshot = ks_is(&top[TOP_TYPE], "snapshot");
		m->trades = k_each_trade(&top[TOP_DATA], v2_trade_cb, NULL, fn, ctx);
	} else {
		m->kind = KRAKEN_MSG_OTHER;
	}
	return MALFORMED_NONE;
}

/* ---------------------------------------------------------------- v1 */

static enum malformed v1_event(const struct kspan *top, struct kraken_msg *m)
{
	m->v1 = true;
	if (top[TOP_REQ_ID].type && ks_u64(&top[TOP_REQ_ID], &m->req_id) < 0)
		m->req_id = 0;
	if (ks_is(&top[TOP_EVENT], "heartbeat")) {
		m->kind = KRAKEN_MSG_HEARTBEAT;
	} else if (ks_is(&top[TOP_EVENT], "systemStatus")) {
		m->kind = KRAKEN_MSG_STATUS;
		ks_copy(&top[TOP_STATUS], m->status, sizeof(m->status));
	} else if (ks_is(&top[TOP_EVENT], "subscriptionStatus")) {
		m->kind =
		        ks_is(&top[TOP_STATUS], "error") ? KRAKEN_MSG_SUB_ERROR : KRAKEN_MSG_SUB_OK;
		ks_copy(&top[TOP_ERRMSG], m->error, sizeof(m->error));
		k_ack_symbol(top, m);
	} else if (ks_is(&top[TOP_EVENT], "pong")) {
		m->kind = KRAKEN_MSG_PONG;
	} else {
		m->kind = KRAKEN_MSG_OTHER;
	}
	return MALFORMED_NONE;
}

/* [price, volume, time, side, ordertype, misc] strings; pair from the frame. */
static enum malformed v1_trade(const struct kspan *el, struct kraken_trade *kt, const void *arg)
{
	const struct kspan *pair = arg;
	struct kspan f[6] = {{0}}, v;
	struct kj j = kj_of(el);
	bool first = true;
	unsigned n = 0;
	enum malformed why;
	uint8_t ord = 0;

	memset(kt, 0, sizeof(*kt));
	kt->v1 = true;
	if (el->type != '[')
		return MALFORMED_SYNTAX;
	while (kj_elem(&j, &first, &v)) /* bounded by the span */
		if (n < 6)
			f[n++] = v;
	if ((why = k_symbol(pair, kt)) != MALFORMED_NONE ||
	    (why = k_money(&f[0], &f[1], &f[3], &kt->t)) != MALFORMED_NONE)
		return why;
	if (f[2].type == 0)
		return MALFORMED_MISSING_TIME;
	if ((f[2].type != '"' && f[2].type != '0') ||
	    kraken_time_parse(f[2].s, f[2].n, &kt->t.ts_exch_ns, &kt->t.ts_digits) < 0)
		return MALFORMED_BAD_TIMESTAMP;
	kt->t.flags |= TRADE_F_HAS_TS;
	if (ks_is(&f[4], "m") || ks_is(&f[4], "l"))
		ord = (uint8_t)f[4].s[0];
	kt->t.trade_id = kraken_v1_id(&kt->t, ord);
	return MALFORMED_NONE;
}

/* [channelID, [[...],...], "trade", PAIR]; other v1 channels are OTHER. */
static enum malformed v1_array(const struct kspan *frame, struct kraken_msg *m, kraken_trade_fn fn,
                               void *ctx)
{
	struct kspan el[4] = {{0}}, v;
	struct kj j = kj_of(frame);
	bool first = true;
	unsigned n = 0;

	m->v1 = true;
	while (kj_elem(&j, &first, &v)) /* bounded by the span */
		if (n < 4)
			el[n++] = v;
	if (n < 4 || el[0].type != '0')
		return MALFORMED_SYNTAX;
	if (!ks_is(&el[2], "trade")) {
		m->kind = KRAKEN_MSG_OTHER;
		return MALFORMED_NONE;
	}
	if (el[1].type != '[')
		return MALFORMED_SYNTAX;
	m->kind = KRAKEN_MSG_TRADE;
	m->trades = k_each_trade(&el[1], v1_trade, &el[3], fn, ctx);
	return MALFORMED_NONE;
}

enum malformed kraken_ws_parse(const char *buf, size_t len, struct kraken_msg *m,
                               kraken_trade_fn fn, void *ctx)
{
	static const char *const names[TOP_KEYS] = {
	        "channel", "type",   "data",  "method", "success",      "result", "error",
	        "symbol",  "req_id", "event", "status", "errorMessage", "pair"};
	struct kspan frame, top[TOP_KEYS];
	struct kj j = {buf, buf + len};

	memset(m, 0, sizeof(*m));
	if (!kj_valid(buf, len) || kj_skip(&j, &frame) < 0)
		return MALFORMED_SYNTAX;
	if (frame.type == '[')
		return v1_array(&frame, m, fn, ctx);
	if (frame.type != '{')
		return MALFORMED_SYNTAX;
	k_collect(&frame, names, TOP_KEYS, top);
	if (top[TOP_CHANNEL].type == '"')
		return v2_channel(top, m, fn, ctx);
	if (top[TOP_METHOD].type == '"')
		return v2_method(top, m);
	if (top[TOP_EVENT].type == '"')
		return v1_event(top, m);
	return MALFORMED_SYNTAX;
}

/* ---------------------------------------------------------------- REST */

struct rest_arg {
	const char *symbol;
};

static enum malformed rest_row(const struct kspan *el, struct kraken_trade *kt, const void *arg)
{
	const struct rest_arg *ra = arg;
	struct kspan f[7] = {{0}}, v;
	struct kj j = kj_of(el);
	bool first = true;
	unsigned n = 0;
	enum malformed why;
	int sl;

	memset(kt, 0, sizeof(*kt));
	if (el->type != '[')
		return MALFORMED_SYNTAX;
	while (kj_elem(&j, &first, &v)) /* bounded by the span */
		if (n < 7)
			f[n++] = v;
	sl = kraken_symbol_norm(ra->symbol, strlen(ra->symbol), kt->symbol);
	if (sl < 0)
		return MALFORMED_BAD_PAIR;
	kt->symbol_len = (uint8_t)sl;
	if ((why = k_money(&f[0], &f[1], &f[3], &kt->t)) != MALFORMED_NONE)
		return why;
	if (f[2].type == 0)
		return MALFORMED_MISSING_TIME;
	if ((f[2].type != '"' && f[2].type != '0') ||
	    kraken_time_parse(f[2].s, f[2].n, &kt->t.ts_exch_ns, &kt->t.ts_digits) < 0)
		return MALFORMED_BAD_TIMESTAMP;
	kt->t.flags |= TRADE_F_HAS_TS;
	if (f[6].type != '0' || ks_u64(&f[6], &kt->t.trade_id) < 0 || kt->t.trade_id == 0)
		return MALFORMED_BAD_TRADE_ID;
	kt->t.seq = kt->t.trade_id;
	kt->t.flags |= TRADE_F_HAS_ID | TRADE_F_HAS_SEQ;
	return MALFORMED_NONE;
}

struct rest_count {
	struct kraken_rest_page *pg;
	kraken_trade_fn fn;
	void *ctx;
};

static void rest_count_cb(void *ctx, const struct kraken_trade *kt, enum malformed why,
                          const char *bytes, size_t len)
{
	struct rest_count *rc = ctx;

	if (why == MALFORMED_NONE && kt->t.trade_id > rc->pg->max_trade_id)
		rc->pg->max_trade_id = kt->t.trade_id;
	rc->fn(rc->ctx, kt, why, bytes, len);
}

/* The `error` array's first string, if any. */
static void k_error_text(const struct kspan *errs, char *out, size_t cap)
{
	struct kj j = kj_of(errs);
	struct kspan el = {0};
	bool first = true;

	out[0] = '\0';
	if (errs->type == '[' && kj_elem(&j, &first, &el))
		ks_copy(&el, out, cap);
}

enum malformed kraken_rest_parse(const char *buf, size_t len, const char *symbol,
                                 struct kraken_rest_page *pg, kraken_trade_fn fn, void *ctx)
{
	static const char *const names[] = {"error", "result"};
	struct kspan top[2], key, val, rows = {0}, frame;
	struct kj j = {buf, buf + len};
	struct rest_arg ra = {symbol};
	struct rest_count rc = {pg, fn, ctx};
	bool first = true;

	memset(pg, 0, sizeof(*pg));
	if (!kj_valid(buf, len) || kj_skip(&j, &frame) < 0 || frame.type != '{')
		return MALFORMED_SYNTAX;
	k_collect(&frame, names, 2, top);
	k_error_text(&top[0], pg->error, sizeof(pg->error));
	if (top[1].type != '{')
		return pg->error[0] ? MALFORMED_NONE : MALFORMED_SYNTAX;
	j = kj_of(&top[1]);
	while (kj_member(&j, &first, &key, &val)) { /* bounded by the span */
		if (ks_is(&key, "last")) {
			if (ks_u64(&val, &pg->last) < 0)
				return MALFORMED_SYNTAX;
		} else if (val.type == '[' && rows.type == 0) {
			rows = val;
			ks_copy(&key, pg->key, sizeof(pg->key));
		}
	}
	if (rows.type == 0)
		return MALFORMED_SYNTAX;
	pg->rows = k_each_trade(&rows, rest_row, &ra, rest_count_cb, &rc);
	return MALFORMED_NONE;
}

/* ---------------------------------------------------------------- AssetPairs */

static int pairs_add(struct kraken_pairs *out, const struct kspan *key, const struct kspan *val,
                     char *err, size_t errlen)
{
	static const char *const names[] = {"altname", "wsname"};
	struct kspan f[2];
	struct kraken_pair *p;

	if (val->type != '{')
		return 0;
	k_collect(val, names, 2, f);
	char ws[TRADE_SYMBOL_MAX + 2];

	if (f[1].type != '"')
		return 0; /* dark pools (".d") have no wsname */
	if (out->n == KRAKEN_PAIRS_MAX)
		return errfmt(err, errlen, "AssetPairs: more than %d pairs", KRAKEN_PAIRS_MAX);
	p = &out->p[out->n];
	ks_copy(key, p->key, sizeof(p->key));
	ks_copy(&f[0], p->altname, sizeof(p->altname));
	ks_copy(&f[1], ws, sizeof(ws));
	if (kraken_symbol_norm(ws, strlen(ws), p->symbol) < 0)
		return 0;
	out->n++;
	return 0;
}

int kraken_pairs_parse(const char *buf, size_t len, struct kraken_pairs *out, char *err,
                       size_t errlen)
{
	static const char *const names[] = {"error", "result"};
	struct kspan top[2], key, val, frame;
	struct kj j = {buf, buf + len};
	char etext[KRAKEN_ERROR_MAX + 1];
	bool first = true;

	out->n = 0;
	if (!kj_valid(buf, len) || kj_skip(&j, &frame) < 0 || frame.type != '{')
		return errfmt(err, errlen, "AssetPairs: not a JSON object");
	k_collect(&frame, names, 2, top);
	k_error_text(&top[0], etext, sizeof(etext));
	if (etext[0])
		return errfmt(err, errlen, "AssetPairs: %s", etext);
	if (top[1].type != '{')
		return errfmt(err, errlen, "AssetPairs: no result object");
	j = kj_of(&top[1]);
	while (kj_member(&j, &first, &key, &val)) /* bounded by the span */
		if (pairs_add(out, &key, &val, err, errlen) < 0)
			return -1;
	return 0;
}

const struct kraken_pair *kraken_pairs_find(const struct kraken_pairs *ps, const char *name)
{
	char norm[TRADE_SYMBOL_MAX + 1];
	unsigned i;

	if (kraken_symbol_norm(name, strlen(name), norm) < 0)
		norm[0] = '\0';
	for (i = 0; i < ps->n; i++) {
		const struct kraken_pair *p = &ps->p[i];

		if (!strcmp(p->key, name) || !strcmp(p->altname, name) || !strcmp(p->symbol, norm))
			return p;
	}
	return NULL;
}
