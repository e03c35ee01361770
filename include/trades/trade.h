/* trade.h -- the one normalized trade record every stage passes along.
 *
 * Every source and decoder turns its wire format into a struct trade; the
 * sequencer, the state file, the journal and every sink only ever see this.
 * It is exactly 64 bytes (one cache line) so that a burst of them is a flat
 * array and a journal entry is a fixed-size copy.
 *
 * Money is fixed point: price and quantity are signed 64-bit integers scaled
 * by 10^TRADE_SCALE_DIGITS (1e8).  No floating point anywhere in the engine.
 */
#ifndef TRADES_TRADE_H
#define TRADES_TRADE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define TRADE_SCALE_DIGITS 8           /* fractional digits kept exactly */
#define TRADE_SCALE        100000000LL /* 10^TRADE_SCALE_DIGITS */
#define TRADE_SYMBOL_MAX   31          /* longest pair/symbol, bytes, no NUL */
#define TRADE_FEED_MAX     256         /* feed ids are 0..TRADE_FEED_MAX-1 */

enum trade_side {
	TRADE_SIDE_UNKNOWN = 0,
	TRADE_SIDE_BUY = 1,  /* aggressor bought (lifted the offer) */
	TRADE_SIDE_SELL = 2, /* aggressor sold (hit the bid) */
};

enum trade_flag {
	TRADE_F_CROSS = 1 << 0,      /* ITCH 'Q': opening/closing cross */
	TRADE_F_CORRECTION = 1 << 1, /* reverses an earlier trade (ITCH 'B') */
	TRADE_F_HAS_TS = 1 << 2,     /* ts_exch_ns came from the feed */
	TRADE_F_KERNEL_RX = 1 << 3,  /* ts_rx_ns is the kernel's receive stamp */
	TRADE_F_HAS_SEQ = 1 << 4,    /* seq came from the feed */
	TRADE_F_HAS_ID = 1 << 5,     /* trade_id came from the feed */
	TRADE_F_SEQ_SPARSE = 1 << 6, /* seq numbers messages, not trades (MoldUDP64):
	                                gaps between trades are not feed gaps */
};

struct trade {
	int64_t price;       /* scaled by TRADE_SCALE; may be negative (spreads) */
	int64_t qty;         /* scaled by TRADE_SCALE; always > 0 */
	int64_t ts_exch_ns;  /* exchange time, ns since the Unix epoch (UTC) */
	int64_t ts_rx_ns;    /* local receive time, ns since the Unix epoch */
	uint64_t trade_id;   /* exchange trade/match id; 0 when none */
	uint64_t seq;        /* feed sequence number; 0 when none */
	uint32_t instrument; /* interned id: slot in the state file */
	uint16_t feed;       /* feed id: slot in the state file's feed table */
	uint8_t side;        /* enum trade_side */
	uint8_t flags;       /* enum trade_flag bits */
	uint8_t price_dp;    /* decimals the feed gave the price (0..8) */
	uint8_t qty_dp;      /* decimals the feed gave the quantity (0..8) */
	uint8_t ts_digits;   /* fractional-second digits of ts_exch (0..9) */
	uint8_t reserved[5]; /* zero; keeps the record at 64 bytes */
};

_Static_assert(sizeof(struct trade) == 64, "trade record must be one cache line");
_Static_assert(offsetof(struct trade, instrument) == 48 && offsetof(struct trade, price_dp) == 56,
               "the record's tail is two words");

/* Writes the record's last 16 bytes (instrument .. reserved, reserved zero)
 * as two 8-byte stores.  A record written field by field and then copied
 * whole (the journal append) stalls on store forwarding: a wide load cannot
 * take its bytes from several narrower stores still in the store buffer. */
static inline void trade_set_tail(struct trade *t, uint32_t instrument, uint16_t feed, uint8_t side,
                                  uint8_t flags, uint8_t price_dp, uint8_t qty_dp,
                                  uint8_t ts_digits)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	uint64_t w0 =
	        instrument | (uint64_t)feed << 32 | (uint64_t)side << 48 | (uint64_t)flags << 56;
	uint64_t w1 = price_dp | (uint64_t)qty_dp << 8 | (uint64_t)ts_digits << 16;

	memcpy(&t->instrument, &w0, sizeof(w0));
	memcpy(&t->price_dp, &w1, sizeof(w1));
#else
	t->instrument = instrument;
	t->feed = feed;
	t->side = side;
	t->flags = flags;
	t->price_dp = price_dp;
	t->qty_dp = qty_dp;
	t->ts_digits = ts_digits;
	memset(t->reserved, 0, sizeof(t->reserved));
#endif
}
_Static_assert(TRADE_FEED_MAX <= 65536, "feed id is 16 bits");

/* "buy", "sell" or "unknown". */
const char *trade_side_name(uint8_t side);

#endif
