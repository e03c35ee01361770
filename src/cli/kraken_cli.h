/* kraken_cli.h -- Kraken trades into the pipeline: what replay, serve and
 * backfill share.
 *
 * Feeds: every pair is its own feed, "PREFIX:SYMBOL" ("kraken:BTC/USD"),
 * because Kraken's trade_id numbers one book's trades: as the feed seq it
 * makes the sequencer count a gap exactly when a book skips ids.  The feed
 * PREFIX alone ("kraken") counts what belongs to no pair: frames refused
 * whole, subscription errors, reconnects.  WebSocket, REST and replayed v2
 * captures share the prefix, so each deduplicates against what the others
 * stored.  v1 frames carry hashed ids (kraken.h), which must not mix with
 * v2 ids in one duplicate window: they go to "PREFIX-v1:SYMBOL".
 *
 * Counting: each trade entry of a frame or REST page is one received
 * message (received = accepted + duplicates + malformed holds per feed); a
 * frame refused whole is one received, malformed message on the PREFIX feed.
 */
#ifndef TRADES_CLI_KRAKEN_H
#define TRADES_CLI_KRAKEN_H

#include <stdbool.h>
#include <stdint.h>

#include "trades/kraken.h"
#include "trades/pipeline.h"

#define KRAKEN_FEEDS_MAX    64 /* pairs one process follows (feed table: 256) */
#define KRAKEN_GAPS_MAX     64 /* live gaps waiting for a REST fill */
#define KRAKEN_PREFIX_MAX   23 /* feed prefix bytes */
#define KRAKEN_DEFAULT_FEED "kraken"

_Static_assert(KRAKEN_FEEDS_MAX * 2 + 1 < TRADE_FEED_MAX, "pair feeds fit the feed table");

struct kraken_pair_feed {
	char symbol[TRADE_SYMBOL_MAX + 1];
	bool v1;
	uint16_t feed;
	uint32_t inst;
	int64_t last_ts_ns; /* exchange time of the last trade accepted */
};

/* A jump in one pair's trade ids: ids [first, last] never arrived. */
struct kraken_gap {
	uint16_t pair; /* index in kraken_feeds.pair */
	uint64_t first, last;
	int64_t since_ns; /* exchange time of the trade before the gap */
};

struct kraken_feeds {
	struct pipeline *pipe;
	char prefix[KRAKEN_PREFIX_MAX + 1];
	uint16_t ctl_feed; /* the PREFIX feed */
	unsigned n;
	struct kraken_pair_feed pair[KRAKEN_FEEDS_MAX];
	const char *peer; /* for malformed logs: "wss://...", "file:x" */
	int64_t rx_ns;    /* receive stamp given to the trades */
	bool track_gaps;  /* record gaps for a REST fill (serve --kraken-backfill) */
	bool fill;        /* submitting a gap fill: ids inside [fill_first, fill_last] only,
	                     without TRADE_F_HAS_SEQ (the gap is already counted) */
	uint64_t fill_first, fill_last;
	unsigned ngaps;
	struct kraken_gap gaps[KRAKEN_GAPS_MAX];
	uint64_t gaps_overflow; /* gaps not queued: table full (journaled unrecovered) */
	uint64_t filled;        /* trades a fill stored */
	uint64_t table_full;    /* entries refused: more than KRAKEN_FEEDS_MAX pairs */
};

/* Registers the PREFIX feed.  0, or -1 (logged) if the name is bad or the
 * feed table is full. */
int kraken_feeds_init(struct kraken_feeds *kf, struct pipeline *p, const char *prefix);
/* The pair's slot, registering its feed and instrument on first use; -1 when
 * KRAKEN_FEEDS_MAX pairs are in use or the pipeline refuses the names. */
int kraken_feeds_pair(struct kraken_feeds *kf, const char *symbol, bool v1);
/* kraken_trade_fn: counts, refuses or submits one entry (ctx: kraken_feeds). */
void kraken_feeds_trade(void *ctx, const struct kraken_trade *kt, enum malformed why,
                        const char *bytes, size_t len);
/* A frame refused whole: one received, malformed message on the PREFIX feed. */
void kraken_feeds_refused(struct kraken_feeds *kf, enum malformed why, const char *bytes,
                          size_t len);
/* Adds n to one of the PREFIX feed's decoder counters (enum state_ext). */
void kraken_feeds_count(struct kraken_feeds *kf, unsigned ext, uint64_t n);

/* Subcommand entry points (cli.h's table reaches them through tiny hooks):
 * replay --format kraken-ws or kraken-rest, serve --kraken, backfill. */
bool replay_kraken_wanted(int argc, char **argv);
int cmd_replay_kraken(int argc, char **argv);
bool serve_kraken_wanted(int argc, char **argv);
int cmd_serve_kraken(int argc, char **argv);
int cmd_backfill(int argc, char **argv);

/* Reads a whole file into a malloc'ed, NUL-terminated buffer of at most max
 * bytes.  0 and *buf, *len, or -1 with err naming the path. */
int kraken_read_file(const char *path, size_t max, char **buf, size_t *len, char *err,
                     size_t errlen);

#endif
