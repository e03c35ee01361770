/* reason.c -- names of the refusal reasons (reason.h). */
#include "trades/reason.h"

#include <stddef.h>

const char *malformed_name(enum malformed m)
{
	static const char *const names[MALFORMED_COUNT] = {
	        [MALFORMED_NONE] = "none",
	        [MALFORMED_SYNTAX] = "syntax",
	        [MALFORMED_LINE_TOO_LONG] = "line_too_long",
	        [MALFORMED_MISSING_PAIR] = "missing_pair",
	        [MALFORMED_BAD_PAIR] = "bad_pair",
	        [MALFORMED_MISSING_PRICE] = "missing_price",
	        [MALFORMED_BAD_PRICE] = "bad_price",
	        [MALFORMED_PRICE_PRECISION] = "price_precision",
	        [MALFORMED_PRICE_RANGE] = "price_range",
	        [MALFORMED_MISSING_VOLUME] = "missing_volume",
	        [MALFORMED_BAD_VOLUME] = "bad_volume",
	        [MALFORMED_VOLUME_PRECISION] = "volume_precision",
	        [MALFORMED_VOLUME_RANGE] = "volume_range",
	        [MALFORMED_MISSING_TIME] = "missing_time",
	        [MALFORMED_BAD_TIMESTAMP] = "bad_timestamp",
	        [MALFORMED_BAD_TIMESTAMP_MS] = "bad_timestamp_ms",
	        [MALFORMED_BAD_SIDE] = "bad_side",
	        [MALFORMED_BAD_TRADE_ID] = "bad_trade_id",
	        [MALFORMED_BAD_SEQ] = "bad_seq",
	        [MALFORMED_DUPLICATE_KEY] = "duplicate_key",
	        [MALFORMED_TABLE_FULL] = "table_full",
	        [MALFORMED_PRICE_NONPOSITIVE] = "price_nonpositive",
	};
	_Static_assert(MALFORMED_PRICE_NONPOSITIVE + 1 == MALFORMED_COUNT, "name every reason");

	if ((unsigned)m >= MALFORMED_COUNT || names[m] == NULL)
		return "unknown";
	return names[m];
}
