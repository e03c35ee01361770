/* trade.c -- names for the trade record's enums. */
#include "trades/trade.h"

const char *trade_side_name(uint8_t side)
{
	switch (side) {
	case TRADE_SIDE_BUY:
		return "buy";
	case TRADE_SIDE_SELL:
		return "sell";
	default:
		/* A corrupt side byte prints as unknown rather than aborting a
		 * reader of the journal. */
		return "unknown";
	}
}
