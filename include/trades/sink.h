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

#include "trades/trade.h"

#define SINK_JSON_MAX 512 /* a formatted trade always fits, with '\n' */

struct sink {
	const char *name;
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

#endif
