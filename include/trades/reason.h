/* reason.h -- why a message was refused: the record-level list of reasons.
 *
 * Part of the record module (with trade.h): every decoder reports a refused
 * message under one of these, the pipeline counts it, the state file keeps
 * one counter per reason per feed (state_feed.malformed_by), and stat and
 * the generator print them by name.  It sits below every stage, so none of
 * them has to include a decoder's header to name a reason.
 */
#ifndef TRADES_REASON_H
#define TRADES_REASON_H

#include "trades/trade.h"

#define REASON_LINE_MAX 4096 /* longest JSON line; longer is line_too_long */

/* Why a message was refused.  Every reason has its own counter per feed in
 * the state file; keep the order stable (it is part of the state layout)
 * and only append.  MALFORMED_MAX bounds the table.  Slot 21 once held
 * "itch", a reason nothing ever counted (always 0 in existing files):
 * price_nonpositive reuses it. */
enum malformed {
	MALFORMED_NONE = 0,
	MALFORMED_SYNTAX,          /* not a JSON object / bad JSON */
	MALFORMED_LINE_TOO_LONG,   /* over REASON_LINE_MAX bytes */
	MALFORMED_MISSING_PAIR,    /* no "pair" */
	MALFORMED_BAD_PAIR,        /* empty, too long, not a string, bad bytes */
	MALFORMED_MISSING_PRICE,   /* no "price" */
	MALFORMED_BAD_PRICE,       /* not a decimal */
	MALFORMED_PRICE_PRECISION, /* more than 8 fractional digits */
	MALFORMED_PRICE_RANGE,     /* does not fit */
	MALFORMED_MISSING_VOLUME,  /* no "volume" */
	MALFORMED_BAD_VOLUME,      /* not a decimal */
	MALFORMED_VOLUME_PRECISION,
	MALFORMED_VOLUME_RANGE,  /* does not fit, zero or negative */
	MALFORMED_MISSING_TIME,  /* neither timestamp nor timestamp_ms */
	MALFORMED_BAD_TIMESTAMP, /* timestamp is not RFC 3339 */
	MALFORMED_BAD_TIMESTAMP_MS,
	MALFORMED_BAD_SIDE,
	MALFORMED_BAD_TRADE_ID,
	MALFORMED_BAD_SEQ,
	MALFORMED_DUPLICATE_KEY,     /* a known key given twice */
	MALFORMED_TABLE_FULL,        /* instrument table full: pair not interned */
	MALFORMED_PRICE_NONPOSITIVE, /* price 0 or below on a feed that does not allow
	                                it (--allow-negative-prices FEED); ITCH price 0 */
	MALFORMED_COUNT,             /* number of reasons in use */
	MALFORMED_MAX = 32           /* slots reserved in the state file */
};
_Static_assert(MALFORMED_COUNT <= MALFORMED_MAX, "state file reserves 32 reasons");

/* Short snake_case name of a reason ("bad_price"), for logs and JSON;
 * "unknown" for a value outside [0, MALFORMED_COUNT).  Never NULL. */
const char *malformed_name(enum malformed m);

#endif
