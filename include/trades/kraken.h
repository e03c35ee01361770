/* kraken.h -- Kraken's wire formats to trade records: WebSocket v2 and v1
 * frames, REST Trades pages and AssetPairs tables.
 *
 * Pure parsing: nothing here touches the pipeline, allocates or logs.  Every
 * parser reads only [buf, buf+len), validates the whole text as JSON first
 * (one bounded pass, nesting <= KRAKEN_JSON_DEPTH) and then walks it, so a
 * frame is either refused whole (MALFORMED_SYNTAX) or every trade in it is
 * reported, good or bad, through a kraken_trade_fn.
 *
 * Numbers are exact: price, qty/volume are read from the JSON number (or
 * string) text by dec_parse, never through a double; REST's `time` (decimal
 * seconds such as 1616663618.3884) and v1's time string are read digit by
 * digit into ns.
 *
 * Symbols are kept in Kraken's v2 spelling ("BTC/USD"): v1 and AssetPairs
 * wsnames ("XBT/USD", "XDG/EUR") are normalized with kraken_symbol_norm, so a
 * pair has one instrument whichever API delivered it.
 */
#ifndef TRADES_KRAKEN_H
#define TRADES_KRAKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "trades/jsonl.h"
#include "trades/trade.h"

#define KRAKEN_JSON_DEPTH  32  /* deepest nesting accepted in a frame */
#define KRAKEN_PAIRS_MAX   512 /* AssetPairs entries kept (the 2021 table has 304) */
#define KRAKEN_ERROR_MAX   127 /* bytes of an error text kept */
#define KRAKEN_REST_NAME   23  /* longest REST pair key / altname kept */
#define KRAKEN_V1_HASH_MOD 1024u

_Static_assert(KRAKEN_V1_HASH_MOD <= 1024u, "v1 ids of one microsecond stay in the dedup window");

/* One trade as a parser saw it.  t has price, qty, side, ts_exch_ns,
 * trade_id, seq, flags and the dps set; instrument, feed and ts_rx_ns are
 * left 0 for the caller. */
struct kraken_trade {
	struct trade t;
	char symbol[TRADE_SYMBOL_MAX + 1]; /* normalized, NUL-terminated; "" if unknown */
	uint8_t symbol_len;
	bool v1; /* a v1 frame: trade_id is the documented hash (kraken_v1_id) */
};

/* Called for each trade entry of a frame or page, in order.  why is
 * MALFORMED_NONE for a good trade, else the reason the entry was refused
 * (kt->symbol is set when the entry's symbol was readable); bytes/len is the
 * entry's text, for the log. */
typedef void (*kraken_trade_fn)(void *ctx, const struct kraken_trade *kt, enum malformed why,
                                const char *bytes, size_t len);

/* What a WebSocket frame was. */
enum kraken_kind {
	KRAKEN_MSG_TRADE,     /* trade channel snapshot/update (v2) or a v1 trade array */
	KRAKEN_MSG_HEARTBEAT, /* v2 channel heartbeat, v1 event heartbeat */
	KRAKEN_MSG_STATUS,    /* v2 channel status, v1 systemStatus: status[] holds it */
	KRAKEN_MSG_SUB_OK,    /* subscribe ack, success true (v1: status subscribed) */
	KRAKEN_MSG_SUB_ERROR, /* subscribe ack, success false (v1: status error) */
	KRAKEN_MSG_PONG,      /* answer to our application-level ping */
	KRAKEN_MSG_OTHER,     /* valid JSON we do not use (other methods/channels) */
};

struct kraken_msg {
	enum kraken_kind kind;
	bool snapshot;                     /* TRADE: type "snapshot" */
	bool v1;                           /* the frame used the v1 API */
	uint64_t req_id;                   /* SUB_*, PONG: req_id (0 if absent) */
	char symbol[TRADE_SYMBOL_MAX + 1]; /* SUB_*: the pair acked, normalized */
	char status[16];                   /* STATUS: "online", "maintenance", ... */
	char error[KRAKEN_ERROR_MAX + 1];  /* SUB_ERROR: Kraken's error text */
	unsigned trades;                   /* TRADE: entries reported (good or bad) */
};

/* Parses one WebSocket text message (v2 or v1).  Returns MALFORMED_NONE and
 * fills *m (calling fn for each trade entry of a TRADE message), or the
 * reason the whole frame was refused (fn not called): MALFORMED_SYNTAX for
 * bad JSON or a frame of neither API's shape. */
enum malformed kraken_ws_parse(const char *buf, size_t len, struct kraken_msg *m,
                               kraken_trade_fn fn, void *ctx);

/* One REST /0/public/Trades response page. */
struct kraken_rest_page {
	char key[KRAKEN_REST_NAME + 1];   /* result's pair key ("XBTUSDT") */
	uint64_t last;                    /* `last`: the ns cursor of the next call */
	unsigned rows;                    /* trade rows reported (good or bad) */
	uint64_t max_trade_id;            /* highest trade id of a good row, 0 if none */
	char error[KRAKEN_ERROR_MAX + 1]; /* the `error` array's first text; "" if empty */
};

/* Parses a Trades response.  Rows are [price, volume, time, "b"|"s",
 * "m"|"l", misc, trade_id]; symbol is the instrument name to give them
 * (the caller maps the REST key, kraken_pairs_find).  MALFORMED_NONE and
 * fills *pg (an `error` answer leaves rows 0 and error set), or
 * MALFORMED_SYNTAX for a body of another shape. */
enum malformed kraken_rest_parse(const char *buf, size_t len, const char *symbol,
                                 struct kraken_rest_page *pg, kraken_trade_fn fn, void *ctx);

/* AssetPairs: REST names to v2 symbols. */
struct kraken_pair {
	char key[KRAKEN_REST_NAME + 1];     /* result key, "XXBTZUSD" */
	char altname[KRAKEN_REST_NAME + 1]; /* "XBTUSD" */
	char symbol[TRADE_SYMBOL_MAX + 1];  /* normalized wsname, "BTC/USD" */
};
struct kraken_pairs {
	unsigned n;
	struct kraken_pair p[KRAKEN_PAIRS_MAX];
};

/* Parses an AssetPairs response into *out (entries without a wsname are
 * skipped; more than KRAKEN_PAIRS_MAX is an error).  0, or -1 with err. */
int kraken_pairs_parse(const char *buf, size_t len, struct kraken_pairs *out, char *err,
                       size_t errlen);
/* The entry whose key, altname or symbol equals name, or NULL. */
const struct kraken_pair *kraken_pairs_find(const struct kraken_pairs *ps, const char *name);

/* Normalizes a Kraken pair name into out (TRADE_SYMBOL_MAX + 1 bytes): the
 * v1/wsname asset codes XBT and XDG become BTC and DOGE, as v2 spells them.
 * Returns the length, or -1 if name is empty, too long or has bytes outside
 * printable ASCII. */
int kraken_symbol_norm(const char *name, size_t len, char *out);

/* v1 trades carry no id.  Their dedup id is
 *   (ts_exch_ns / 1000) * KRAKEN_V1_HASH_MOD + (h % KRAKEN_V1_HASH_MOD)
 * where h is 64-bit FNV-1a over price and qty (int64, scaled 1e8, little
 * endian), then the side byte (enum trade_side) and the ordertype byte
 * ('m' or 'l', 0 if absent).  The microsecond keeps the ids rising with
 * time, as the duplicate window needs; the hash separates trades of one
 * microsecond. */
uint64_t kraken_v1_id(const struct trade *t, uint8_t ordtype);

/* Decimal seconds ("1616663618.3884", at most 9 fractional digits, no sign
 * or exponent) to ns since the epoch.  0 and *digits, or -1. */
int kraken_time_parse(const char *s, size_t len, int64_t *ns, uint8_t *digits);

#endif
