/* sink.h -- where accepted trades go after the journal, and the public
 * output contract.
 *
 * The contract (inherited from the Python service's Kafka topic "trades"):
 * one JSON object per trade with pair, price, volume, timestamp (RFC 3339 UTC
 * at the exchange's precision), timestamp_ms, plus side, trade_id, feed, seq
 * and rx_ns.  Numbers are printed exactly from fixed point.  Every sink
 * (stdout today, Kafka later) formats with sink_format_json.
 */
#ifndef TRADES_SINK_H
#define TRADES_SINK_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "trades/candles.h"
#include "trades/trade.h"

#define SINK_JSON_MAX 512 /* a formatted trade always fits, with '\n' */

/* A closed candle, as the pipeline hands it to a sink's candle() (issue 14):
 * fixed point like struct trade; printed with the instrument's decimals. */
struct sink_candle {
	const char *pair;
	int64_t start_ns, interval_ns;  /* window [start, start + interval) */
	int64_t open, high, low, close; /* scaled 1e8 */
	__int128 volume;                /* scaled 1e8 */
	__int128 vwap;                  /* scaled 1e8, rounded half to even */
	uint64_t trades;
	uint8_t price_dp, qty_dp; /* decimals to print (the instrument's) */
};

/* The sink's view of candle c of pair (the one conversion, used by the
 * pipeline as candles close and by the Kafka candle sink's start-up scan). */
static inline struct sink_candle sink_candle_of(const struct candle *c, const char *pair,
                                                int64_t interval_ns, uint8_t price_dp,
                                                uint8_t qty_dp)
{
	return (struct sink_candle){.pair = pair,
	                            .start_ns = c->start_ns,
	                            .interval_ns = interval_ns,
	                            .open = c->open,
	                            .high = c->high,
	                            .low = c->low,
	                            .close = c->close,
	                            .volume = c->volume,
	                            .vwap = candle_vwap(c),
	                            .trades = c->trades,
	                            .price_dp = price_dp,
	                            .qty_dp = qty_dp};
}

struct sink {
	const char *name;
	/* Closed candles (NULL: the sink takes none).  0, or -1 counts an error. */
	int (*candle)(struct sink *s, const struct sink_candle *c);
	/* 0 on success; -1 counts an error (never stops the pipeline). */
	int (*write)(struct sink *s, const struct trade *t, const char *pair, const char *feed);
	void (*flush)(struct sink *s); /* end of a receive batch */
	void (*close)(struct sink *s);
	void *ctx;
	uint64_t written;
	uint64_t errors;
};

/* Formats t as one JSON line ending in '\n'.  Returns its length. */
size_t sink_format_json(const struct trade *t, const char *pair, const char *feed, char *buf,
                        size_t cap);

/* A sink writing contract lines to f (buffered; flushed per batch). */
struct sink *sink_jsonl_open(FILE *f);
/* A sink writing only closed candles to f, one JSON object a line in the
 * downstream's schema {pair, open, high, low, close, volume, window_start_ms,
 * window_end_ms, candle_seconds} plus "type":"candle", trades and vwap.
 * NULL on allocation failure. */
struct sink *sink_jsonl_candles_open(FILE *f);
/* Formats c as that line (with '\n'); returns its length (< cap). */
size_t sink_format_candle(const struct sink_candle *c, char *buf, size_t cap);

#endif
