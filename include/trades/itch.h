/* itch.h -- the Nasdaq TotalView-ITCH 5.0 decoder: messages to trade records.
 *
 * Input is one ITCH message at a time (itch_decode_msg: MoldUDP64 hands them
 * over one by one with their sequence numbers) or the Nasdaq binary file
 * framing, a 2-byte big-endian length before each message, fed in chunks of
 * any size (itch_stream_feed).  All integers are big-endian; prices are
 * Price(4), 4 implied decimals; timestamps are 6-byte ns since midnight.
 *
 * Trades come from five message types:
 *   'E' Order Executed             price and stock from the resting order (book)
 *   'C' Order Executed With Price  price from the message; a trade only when
 *                                  Printable is 'Y' ('N' shares are printed
 *                                  later in a cross: counting them would
 *                                  count them twice); the order is reduced
 *                                  either way
 *   'P' Trade (Non-Cross)          non-displayed orders; no book effect
 *   'Q' Cross Trade                TRADE_F_CROSS; 0 shares (no cross took
 *                                  place) emits nothing and is counted
 *   'B' Broken Trade               the trade this decoder emitted for that
 *                                  match number, again, with
 *                                  TRADE_F_CORRECTION so aggregates subtract it
 * and the book of live orders (book.h) follows 'A'/'F' (add), 'E'/'C'/'X'
 * (reduce; removed at 0), 'D' (delete) and 'U' (replace).
 *
 * The trade record:
 *   price       Price(4) * 10^4 (record scale 1e8), price_dp 4
 *   qty         shares * TRADE_SCALE, qty_dp 0
 *   ts_exch_ns  midnight_ns + the message's timestamp, ts_digits 9, TRADE_F_HAS_TS
 *   ts_rx_ns    rx_ns as given; TRADE_F_KERNEL_RX when rx_kernel
 *   trade_id    the match number; TRADE_F_HAS_ID when non-zero
 *   seq         the seq given (Mold sequence number); TRADE_F_HAS_SEQ when non-zero
 *   instrument  the id the intern callback gave the stock's symbol ('R')
 *   feed        0: the trade callback copies the record and sets its feed
 *   side        the AGGRESSOR's side (trade.h).  'E'/'C' execute a resting
 *               displayed order whose side the book holds: a resting buy
 *               ('B') was hit by a seller -> TRADE_SIDE_SELL, a resting sell
 *               ('S') was lifted by a buyer -> TRADE_SIDE_BUY.  'P': the spec
 *               defines Buy/Sell as the side of the resting non-display
 *               order, but "effective 07/14/2014, this field will always be
 *               'B' regardless of the resting side": it carries no
 *               information, so P trades are TRADE_SIDE_UNKNOWN (mapping
 *               'B' would call every hidden-order trade a sell).  'Q': a
 *               cross has no aggressor, TRADE_SIDE_UNKNOWN.  'B': the side of
 *               the trade it breaks.
 *
 * Nothing here is fatal.  Every oddity is counted in itch.stats and the
 * message skipped: unknown types, short messages, orders the book does not
 * hold (a feed joined mid-day), locates no 'R' named, a full book.  What the
 * spec makes trade-less (0 shares, 'C' not printable, 'Q' with 0 shares) is
 * no oddity and not counted.  Every counter is published into the feed's
 * state counters (itch_feed.c, `trades stat`).
 *
 * Allocation: itch_init maps the book, the locate table and the match table;
 * nothing is allocated per message.  Not thread-safe: one decoder per feed.
 */
#ifndef TRADES_ITCH_H
#define TRADES_ITCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "trades/book.h"
#include "trades/trade.h"

#define ITCH_MSG_MAX      50    /* longest ITCH 5.0 message ('I', NOII) */
#define ITCH_LOCATES      65536 /* stock locate is 16 bits */
#define ITCH_SYMBOL_LEN   8     /* Stock field: 8 bytes, space padded */
#define ITCH_FRAME_PREFIX 2     /* file framing: big-endian length */
#define ITCH_MATCHES_MAX  (1ull << 32)

/* Caller hooks.  intern: a symbol (trailing spaces and NULs stripped, 1..8
 * bytes, not NUL-terminated) -> instrument id 0..INT32_MAX, or -1 when it cannot be
 * interned (table full, bad symbol): the decoder counts it (intern_failed)
 * and the locate stays unknown.  trade: one trade record; t is valid only
 * during the call.  Both are called from inside itch_decode_msg /
 * itch_stream_feed and must not re-enter the decoder.  feed and flags are
 * written into every record (the caller's feed id, and flags of its own
 * such as TRADE_F_SEQ_SPARSE), so that the hook can pass t on as it is. */
struct itch_handler {
	void *ctx;
	int64_t (*intern)(void *ctx, const char *sym, size_t len);
	void (*trade)(void *ctx, const struct trade *t);
	uint16_t feed;
	uint8_t flags;
};

/* What a locate code stands for, from its 'R' Stock Directory message. */
struct itch_locate {
	uint32_t inst1;            /* instrument id + 1; 0 = no 'R' seen (or intern failed),
	                              so the zeroed table needs no initialisation */
	uint8_t sym_len;           /* 0..8 */
	char sym[ITCH_SYMBOL_LEN]; /* stripped symbol, not NUL-terminated */
	uint8_t pad[3];
};

/* A trade this decoder emitted, kept so that a Broken Trade can reverse it. */
struct itch_match {
	uint64_t match; /* match number; 0 = empty slot */
	int64_t price;  /* as emitted (1e8 scale) */
	int64_t qty;    /* as emitted (1e8 scale) */
	uint32_t instrument;
	uint8_t side;  /* enum trade_side */
	uint8_t flags; /* TRADE_F_CROSS kept for the correction */
	uint8_t pad[2];
};

struct itch_stats {
	uint64_t msgs[256];       /* messages seen, by type byte (unknown types too) */
	uint64_t trades;          /* trade records emitted (corrections included) */
	uint64_t corrections;     /* of which TRADE_F_CORRECTION ('B' matched) */
	uint64_t unknown_type;    /* type byte not in ITCH 5.0: skipped */
	uint64_t truncated;       /* shorter than the type's length (or cut by end of stream) */
	uint64_t length_mismatch; /* non-zero length (prefix or len) != the type's length */
	uint64_t unknown_locate;  /* 'A'/'F'/'P'/'Q' for a locate no 'R' named: skipped */
	uint64_t intern_failed;   /* 'R' whose symbol intern refused (or was all spaces) */
	uint64_t missing_e;       /* 'E' for an order not in the book: no trade */
	uint64_t missing_c;       /* 'C' for an order not in the book: no trade */
	uint64_t missing_x;       /* 'X' for an order not in the book */
	uint64_t missing_d;       /* 'D' for an order not in the book */
	uint64_t missing_u;       /* 'U' whose original order is not in the book */
	uint64_t book_full;       /* adds (A/F/U) refused: book at max_orders */
	uint64_t book_exists;     /* adds (A/F/U) of a reference number already live */
	uint64_t qty_overflow;    /* 'Q' shares too large for the record's qty */
	uint64_t broken_unknown;  /* 'B' for a match not (or no longer) in the match table */
	uint64_t stream_unsync;   /* framing lost: resynchronising scans that skipped bytes */
	uint64_t stream_dropped;  /* bytes those scans skipped */
	uint64_t stream_skipped;  /* bytes of unknown types skipped by their prefix */
};

struct itch {
	struct book book;
	struct itch_locate *locates; /* [ITCH_LOCATES] */
	struct itch_match *matches;  /* [match_cap], direct-mapped by match number */
	uint64_t match_cap;          /* power of two */
	size_t locates_bytes, matches_bytes;
	int64_t midnight_ns; /* ns since the epoch of the feed day's midnight (its
	                        time zone: Nasdaq stamps are US/Eastern) */
	struct itch_handler h;
	struct itch_stats stats;
};

/* Spec length of a message of type `type` (type byte included): S 12, R 39,
 * H 25, Y 20, L 26, V 35, W 12, K 28, J 35, h 21, A 36, F 40, E 31, C 36,
 * X 23, D 19, U 35, P 44, Q 40, B 19, I 50, N 20, O 48.  0 if unknown. */
size_t itch_msg_len(uint8_t type);

/* Sets up a decoder: book for max_orders live orders (book_init), a match
 * table of the power of two >= max_matches slots (1..ITCH_MATCHES_MAX).
 * The match table is direct-mapped: slot = match number mod size.  Nasdaq
 * assigns match numbers in increasing order through the day, so the table
 * holds the trades of the most recent `size` match numbers and a newer trade
 * overwrites the oldest one in its slot; a 'B' for
 * an overwritten match is counted as unknown.  h->intern and h->trade are
 * required.  0, or -1 with errno (EINVAL, or the mmap failure); nothing is
 * left allocated on failure. */
int itch_init(struct itch *it, uint64_t max_orders, uint64_t max_matches, int64_t midnight_ns,
              const struct itch_handler *h);
void itch_free(struct itch *it);

/* Decodes one message [msg, msg+len), type byte first.  len shorter than the
 * type's spec length: counted (truncated), skipped.  Longer: counted
 * (length_mismatch), the spec length is decoded and the rest ignored.
 * seq: the message's feed sequence number (0: none).  rx_ns/rx_kernel: its
 * receive stamp, copied into any trade it produces. */
void itch_decode_msg(struct itch *it, const uint8_t *msg, size_t len, uint64_t seq, int64_t rx_ns,
                     bool rx_kernel);

/* The file framing below prefetches the book slot of the order a message
 * names ITCH_PREFETCH_FRAMES messages ahead of the one it decodes, so the
 * cache misses of consecutive lookups overlap instead of queueing. */
#define ITCH_PREFETCH_FRAMES 16

/* File framing across chunks: a 2-byte big-endian length, then the message.
 * Holds at most one partial frame (the bytes of a message cut by the chunk
 * boundary), so a chunk boundary may fall anywhere, inside the length prefix
 * included, and the result never depends on where the chunks were cut.
 *
 * The rule for the length prefix.  The type byte gives a known message's
 * length; the prefix is checked against it, never silently trusted:
 *   - prefix == the type's length: the message, decoded.
 *   - prefix 0, known type: some files zero their prefixes (the real BX
 *     sample does); the type's length is used, and nothing is counted.
 *   - prefix != 0 and != the type's length: counted (length_mismatch), and
 *     the framing is in doubt (below) with this frame a candidate at the
 *     type's length: decoded if the frame after it is plausible, else it is
 *     dropped with the bytes the scan skips.
 *   - unknown type (counted: unknown_type), prefix 1..ITCH_MSG_MAX: the
 *     framing is in doubt with this frame a candidate at its prefix: if the
 *     frame after it is plausible it is skipped by its prefix (the way the
 *     format lets a reader pass over types it does not know; its bytes
 *     counted in stream_skipped), else dropped with the bytes the scan skips.
 *   - unknown type, prefix 0 or > ITCH_MSG_MAX (longer than any message of
 *     the protocol): nothing tells where the next message starts: the
 *     framing is in doubt.
 *   - a known type whose timestamp is not inside a day (>= 86400 s): the
 *     framing is in doubt (bytes that only look like a header).
 * In doubt, the decoder resynchronises: it scans forward a byte at a time
 * for a boundary where a plausible frame (known type, prefix 0 or the
 * type's length, timestamp inside the day) is followed by another plausible
 * frame (or by the end of the stream), and frames from there.  Each scan
 * that skips anything counts stream_unsync once and stream_dropped per byte
 * skipped.  The scan holds at most ITCH_SYNC_WINDOW bytes and looks at each
 * byte once per position: bounded by the input.  itch_skipped_bytes() is
 * what was not decoded as messages (dropped + skipped). */
#define ITCH_SYNC_WINDOW (2 * (ITCH_FRAME_PREFIX + ITCH_MSG_MAX)) /* two frames decide */
struct itch_stream {
	uint32_t len;   /* bytes held in buf */
	uint32_t skip;  /* bytes of an unknown message still to skip */
	uint32_t wlen;  /* bytes held in win while the framing is in doubt */
	bool lost;      /* framing in doubt: bytes go to win until a boundary is found */
	bool first;     /* win[0] starts a frame whose prefix is in doubt: a candidate */
	bool trusted;   /* the next frame was confirmed by the one after: decode it */
	bool dropping;  /* this scan already dropped a byte (stream_unsync counted) */
	bool rx_kernel; /* receive stamp of the bytes being fed */
	int64_t rx_ns;
	uint8_t buf[ITCH_FRAME_PREFIX + ITCH_MSG_MAX];
	uint8_t win[ITCH_SYNC_WINDOW];
};

void itch_stream_init(struct itch_stream *s);
/* Decodes every complete message in the carried bytes plus [buf, buf+len),
 * keeps an incomplete tail.  Trades carry seq 0 (files have no sequence
 * numbers) and the given receive stamp. */
void itch_stream_feed(struct itch *it, struct itch_stream *s, const uint8_t *buf, size_t len,
                      int64_t rx_ns, bool rx_kernel);
/* End of stream: a scan in progress is finished (the last frame needs no
 * successor), a partial final message (or an unknown one cut short) is
 * counted as truncated; s is reset for a new stream. */
void itch_stream_end(struct itch *it, struct itch_stream *s);

/* Bytes of the stream(s) fed to it that were not decoded as messages:
 * stream_dropped + stream_skipped.  Non-zero means input was skipped (a
 * replay reports it and exits 1). */
uint64_t itch_skipped_bytes(const struct itch *it);

#endif
