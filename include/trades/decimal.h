/* decimal.h -- exact fixed-point decimal parsing and printing.
 *
 * Values are integers scaled by 10^TRADE_SCALE_DIGITS.  Parsing is exact: text
 * that cannot be represented without rounding is rejected, never rounded.
 * Printing is exact: what was parsed prints back digit for digit.
 */
#ifndef TRADES_DECIMAL_H
#define TRADES_DECIMAL_H

#include <stddef.h>
#include <stdint.h>

enum dec_err {
	DEC_OK = 0,
	DEC_SYNTAX,    /* not a decimal number (empty, stray bytes, "1.", "-") */
	DEC_PRECISION, /* more significant fractional digits than the scale */
	DEC_RANGE,     /* magnitude does not fit in int64 at the scale */
};

/* Longest text dec_format/dec128_format can produce, with the NUL. */
#define DEC_FMT_MAX 48

/* Parses [s, s+len): optional '-', digits, optional '.' and digits, optional
 * exponent (e/E, sign, digits) as JSON numbers allow.  Leading '+' is
 * rejected.  Trailing zeros beyond the scale are accepted ("1.000000000").
 * On DEC_OK stores the scaled value in *out and, if dp is non-NULL, the
 * number of fractional digits the text carried after the exponent is applied,
 * trailing zeros included, capped at TRADE_SCALE_DIGITS. */
enum dec_err dec_parse(const char *s, size_t len, int64_t *out, uint8_t *dp);

/* Prints v (scaled by 10^scale_digits, scale_digits <= 18) with at least
 * min_dp fractional digits and no trailing zeros beyond that; "-" for
 * negatives; "0" for zero with min_dp 0.  Returns the length written (excl.
 * NUL); buf must hold DEC_FMT_MAX bytes. */
size_t dec_format(int64_t v, unsigned scale_digits, unsigned min_dp, char *buf);
size_t dec128_format(__int128 v, unsigned scale_digits, unsigned min_dp, char *buf);

/* Divides num by den (den > 0) rounding half to even; used for VWAP =
 * notional / volume.  Returns the quotient. */
__int128 dec128_div_round(__int128 num, __int128 den);

/* Name of an error, for logs: "syntax", "precision", "range". */
const char *dec_err_name(enum dec_err e);

#endif
