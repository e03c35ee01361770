/* decimal.c -- exact fixed-point decimal parsing and printing.
 *
 * A decimal text is read as a digit string D (integer and fraction digits
 * together) and a power of ten: value = D * 10^(exp - nfrac).  Scaled by
 * 10^TRADE_SCALE_DIGITS that is D * 10^k with k = exp - nfrac + 8.  For k < 0
 * the last -k digits of D must be zeros (else the text needs rounding:
 * DEC_PRECISION); the rest is accumulated with an overflow check against the
 * magnitude int64 can hold (DEC_RANGE).  Nothing is ever rounded.
 */
#include "trades/decimal.h"

#include <assert.h>
#include <stdbool.h>
#include <string.h>

#include "trades/trade.h"

/* Exponents are saturated here while being read: any |exp| beyond it already
 * means a nonzero value cannot fit (or cannot be exact), and keeping it small
 * keeps every later sum far from int64 overflow. */
#define DEC_EXP_SAT (1LL << 40)

_Static_assert(TRADE_SCALE_DIGITS <= 18, "scale must fit in int64 powers of ten");

/* The syntactic pieces of a decimal text. */
struct dec_text {
	bool neg;
	const char *int_digits; /* at least one digit */
	size_t nint;
	const char *frac_digits; /* may be empty */
	size_t nfrac;
	int64_t exp; /* saturated at +-DEC_EXP_SAT */
};

static bool dec_is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Counts the digits at [s, end). */
static size_t dec_span_digits(const char *s, const char *end)
{
	const char *p = s;

	while (p < end && dec_is_digit(*p))
		p++;
	return (size_t)(p - s);
}

/* Splits s into sign, digits, fraction and exponent following the JSON number
 * grammar (leading zeros tolerated).  Returns false on a syntax error. */
static bool dec_split(const char *s, size_t len, struct dec_text *t)
{
	const char *p = s, *end = s + len;

	memset(t, 0, sizeof(*t));
	if (p < end && *p == '-') {
		t->neg = true;
		p++;
	}
	t->int_digits = p;
	t->nint = dec_span_digits(p, end);
	if (t->nint == 0)
		return false;
	p += t->nint;
	t->frac_digits = p;
	if (p < end && *p == '.') {
		t->frac_digits = ++p;
		t->nfrac = dec_span_digits(p, end);
		if (t->nfrac == 0)
			return false;
		p += t->nfrac;
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		bool eneg = false;
		size_t nexp;

		p++;
		if (p < end && (*p == '+' || *p == '-'))
			eneg = *p++ == '-';
		nexp = dec_span_digits(p, end);
		if (nexp == 0)
			return false;
		for (size_t i = 0; i < nexp; i++, p++) {
			if (t->exp < DEC_EXP_SAT)
				t->exp = t->exp * 10 + (*p - '0');
		}
		if (t->exp > DEC_EXP_SAT)
			t->exp = DEC_EXP_SAT;
		if (eneg)
			t->exp = -t->exp;
	}
	return p == end;
}

/* Digit i (0-based) of D, the integer digits followed by the fraction. */
static unsigned dec_digit(const struct dec_text *t, size_t i)
{
	char c = i < t->nint ? t->int_digits[i] : t->frac_digits[i - t->nint];

	return (unsigned)(c - '0');
}

enum dec_err dec_parse(const char *s, size_t len, int64_t *out, uint8_t *dp)
{
	struct dec_text t;
	uint64_t acc = 0, limit;
	size_t n, keep;
	int64_t k, fd;

	assert(s != NULL || len == 0);
	assert(out != NULL);
	if (!dec_split(s, len, &t))
		return DEC_SYNTAX;
	/* Real buffers are far below 2^62 bytes, so nfrac fits int64. */
	k = t.exp + TRADE_SCALE_DIGITS - (int64_t)t.nfrac;
	n = t.nint + t.nfrac;
	keep = n;
	if (k < 0) {
		/* The last -k digits fall below the scale: they must be zero. */
		uint64_t drop = (uint64_t)-k;

		keep = drop >= n ? 0 : n - (size_t)drop;
		for (size_t i = keep; i < n; i++) {
			if (dec_digit(&t, i) != 0)
				return DEC_PRECISION;
		}
		k = 0;
	}
	limit = t.neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (size_t i = 0; i < keep; i++) {
		unsigned d = dec_digit(&t, i);

		if (acc > (limit - d) / 10)
			return DEC_RANGE;
		acc = acc * 10 + d;
	}
	/* Zero stays zero whatever the exponent; otherwise at most 19 steps
	 * before the limit is passed. */
	for (int64_t i = 0; acc != 0 && i < k; i++) {
		if (acc > limit / 10)
			return DEC_RANGE;
		acc *= 10;
	}
	if (t.neg)
		*out = acc == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)acc;
	else
		*out = (int64_t)acc;
	if (dp) {
		fd = (int64_t)t.nfrac - t.exp;
		*dp = (uint8_t)(fd < 0 ? 0 : fd > TRADE_SCALE_DIGITS ? TRADE_SCALE_DIGITS : fd);
	}
	return DEC_OK;
}

/* Writes neg, the decimal digits of a magnitude (most significant first, nd
 * of them, no leading zeros; nd 0 for zero) and the scale as text. */
static size_t dec_emit(bool neg, const char *digits, size_t nd, unsigned scale_digits,
                       unsigned min_dp, char *buf)
{
	size_t o = 0, nint, nfrac = scale_digits;
	char frac[18];

	assert(scale_digits <= 18 && min_dp <= scale_digits);
	if (neg)
		buf[o++] = '-';
	nint = nd > scale_digits ? nd - scale_digits : 0;
	if (nint == 0)
		buf[o++] = '0';
	memcpy(buf + o, digits, nint);
	o += nint;
	/* Fraction: the last scale_digits digits, zero-padded on the left. */
	for (size_t i = 0; i < scale_digits; i++) {
		size_t from_end = scale_digits - i; /* 1-based position from the right */

		frac[i] = from_end <= nd ? digits[nd - from_end] : '0';
	}
	while (nfrac > min_dp && frac[nfrac - 1] == '0')
		nfrac--;
	if (nfrac > 0) {
		buf[o++] = '.';
		memcpy(buf + o, frac, nfrac);
		o += nfrac;
	}
	buf[o] = '\0';
	assert(o < DEC_FMT_MAX);
	return o;
}

size_t dec_format(int64_t v, unsigned scale_digits, unsigned min_dp, char *buf)
{
	/* Magnitude as unsigned so INT64_MIN needs no special case. */
	uint64_t m = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
	char tmp[20], digits[20];
	size_t nd = 0;

	assert(buf != NULL);
	for (; m != 0 && nd < sizeof(tmp); m /= 10)
		tmp[nd++] = (char)('0' + m % 10);
	for (size_t i = 0; i < nd; i++)
		digits[i] = tmp[nd - 1 - i];
	return dec_emit(v < 0, digits, nd, scale_digits, min_dp, buf);
}

size_t dec128_format(__int128 v, unsigned scale_digits, unsigned min_dp, char *buf)
{
	unsigned __int128 m = v < 0 ? 0 - (unsigned __int128)v : (unsigned __int128)v;
	char tmp[39], digits[39];
	size_t nd = 0;

	assert(buf != NULL);
	for (; m != 0 && nd < sizeof(tmp); m /= 10)
		tmp[nd++] = (char)('0' + (unsigned)(m % 10));
	for (size_t i = 0; i < nd; i++)
		digits[i] = tmp[nd - 1 - i];
	return dec_emit(v < 0, digits, nd, scale_digits, min_dp, buf);
}

__int128 dec128_div_round(__int128 num, __int128 den)
{
	__int128 q, r;

	assert(den > 0);
	q = num / den; /* truncates toward zero */
	r = num % den; /* same sign as num, |r| < den */
	if (r < 0)
		r = -r;
	/* Compare r with den - r rather than 2r with den: 2r may overflow. */
	if (r > den - r || (r == den - r && (q & 1) != 0))
		q += num < 0 ? -1 : 1;
	return q;
}

const char *dec_err_name(enum dec_err e)
{
	switch (e) {
	case DEC_OK:
		return "ok";
	case DEC_SYNTAX:
		return "syntax";
	case DEC_PRECISION:
		return "precision";
	case DEC_RANGE:
		return "range";
	}
	return "unknown";
}
