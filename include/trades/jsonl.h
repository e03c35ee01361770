/* jsonl.h -- the JSON-lines trade decoder (the input side of the contract).
 *
 * One line is one flat JSON object in the output contract's schema:
 *   {"pair":"BTC/USD","price":105944.1,"volume":"0.5",
 *    "timestamp":"2025-01-02T03:04:05.123Z","timestamp_ms":1735787045123,
 *    "side":"buy","trade_id":42,"seq":7}
 * price/volume: JSON number or string holding a decimal.  timestamp (RFC 3339)
 * or timestamp_ms (integer, number or string): one of them is enough; when
 * both are given, timestamp wins.  side: "buy"/"sell"/"b"/"s" (any case),
 * absent/null/"" means unknown.  trade_id and seq: unsigned integers (number
 * or digit string), optional.  Unknown keys are skipped whatever their value
 * (nested objects and arrays included).  "feed" and "rx_ns" keys are ignored:
 * the feed is the source the line arrived on and rx_ns is stamped locally.
 *
 * The parser allocates nothing and never reads outside [line, line+len).
 * Plain lines (what feeds send) take a fast path: one SIMD pass for the
 * quotes (AVX-512, AVX2 or SSE4.2, picked at run time), then the known keys in any
 * order (a timestamp in the minute of the one before it costs only its
 * seconds); every other line, and every line that may be refused, goes through
 * the strict general scanner, which alone decides refusals and reasons.
 */
#ifndef TRADES_JSONL_H
#define TRADES_JSONL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "trades/reason.h"
#include "trades/trade.h"

#define JSONL_LINE_MAX REASON_LINE_MAX /* longer lines are malformed (line_too_long) */

/* A parsed line.  pair points into the caller's line buffer. */
struct jsonl_trade {
	struct trade t;   /* price, qty, ts, side, trade_id, seq, flags, dps set;
	                     instrument/feed/ts_rx left 0 for the caller */
	const char *pair; /* not NUL-terminated */
	uint32_t pair_len;
};

/* Parses one line (without its '\n'; a trailing '\r' and surrounding blanks
 * are tolerated).  Returns MALFORMED_NONE and fills *out, or the reason. */
enum malformed jsonl_parse(const char *line, size_t len, struct jsonl_trade *out);

/* A line's quote bits as the framer found them (one vector pass over the
 * piece the line is in, so the parser need not read the line twice): bit
 * (bit0 + i) of quote[] is set when line[i] is '"'; unusual: the line holds
 * a backslash or a byte below 0x20.  quote[] covers the words the line
 * touches and one word after them (read when bit0 is not a multiple of 64).
 * line[len] is the framer's '\n' (or the '\r' before it) and is read too: the
 * fast path's sentinel.  Valid only during the line callback. */
struct jsonl_marks {
	const uint64_t *quote;
	uint32_t bit0;
	bool unusual;
};

/* jsonl_parse, given the line's marks (NULL: the parser finds them). */
enum malformed jsonl_parse_marked(const char *line, size_t len, const struct jsonl_marks *marks,
                                  struct jsonl_trade *out);

/* The two halves of jsonl_parse, public for the differential test.
 * jsonl_parse_general: the strict scanner, any valid line, every refusal;
 * same contract as jsonl_parse.  jsonl_parse_fast: the lines feeds really
 * send (no backslash or control byte, at most 512 bytes, plain values, see
 * jsonl.c); returns true with *out exactly as the general scanner fills it,
 * or false with *out zeroed when it does not take the line (never a
 * refusal: the general scanner decides).  jsonl_parse = fast, else general.
 * marks as jsonl_parse_marked's.  Neither reads outside [line, line+len)
 * (and marks->quote, and with marks line[len]). */
enum malformed jsonl_parse_general(const char *line, size_t len, struct jsonl_trade *out);
bool jsonl_parse_fast(const char *line, size_t len, const struct jsonl_marks *marks,
                      struct jsonl_trade *out);

/* Kernels of the fast path's quote pass. */
enum jsonl_isa {
	JSONL_ISA_SCALAR, /* portable, byte at a time */
	JSONL_ISA_SSE42,  /* 16 bytes a step */
	JSONL_ISA_AVX2,   /* 32 bytes a step */
	JSONL_ISA_AVX512, /* 64 bytes a step (AVX-512 F and BW); the default where the CPU has it */
};

/* Makes the fast path use kernel isa (the default, picked at load time, is
 * the widest the CPU has).  Returns false, nothing changed, when the CPU
 * lacks it.  Not thread-safe: for tests and benchmarks, before parsing. */
bool jsonl_fast_isa(enum jsonl_isa isa);

/* Line framing for byte streams (TCP, files): carries a partial line across
 * reads.  Bounded: a line longer than JSONL_LINE_MAX is reported once as
 * too long and skipped up to its newline. */
struct jsonl_stream {
	uint32_t len;     /* bytes held in buf */
	uint8_t skipping; /* inside an over-long line: drop up to '\n' */
	char buf[JSONL_LINE_MAX];
};

/* Called once per complete line (no '\n'); too_long is set for a line that
 * was cut (line then holds its first JSONL_LINE_MAX bytes).  marks: the
 * line's quote bits for jsonl_parse_marked, or NULL (a line carried across
 * reads, or cut). */
typedef void (*jsonl_line_fn)(void *ctx, const char *line, size_t len, int too_long,
                              const struct jsonl_marks *marks);

/* Splits buf into lines, calling fn for each complete one; keeps the tail. */
void jsonl_stream_feed(struct jsonl_stream *s, const char *buf, size_t len, jsonl_line_fn fn,
                       void *ctx);
/* End of stream: a final line without '\n' is delivered, then s is reset. */
void jsonl_stream_end(struct jsonl_stream *s, jsonl_line_fn fn, void *ctx);

#endif
