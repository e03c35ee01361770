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

#include <signal.h>
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

/* ---- REST (backfill.c; needs HAVE_KRAKEN) ---- */
struct source_rest;
#define KRAKEN_REST_URL_DEFAULT "https://api.kraken.com"
#define KRAKEN_WS_URL_DEFAULT   "wss://ws.kraken.com/v2"
#define KRAKEN_REST_PAGES_MAX   100000u /* pages one backfill of one pair reads, at most */
#define KRAKEN_FILL_PAGES_MAX   16u     /* pages one live gap fill reads, at most */
#define KRAKEN_REST_RETRIES     6u      /* rate-limit answers retried per page */
#define KRAKEN_REST_INTERVAL_MS 1000u   /* default least time between requests */

struct kraken_rest {
	struct source_rest *http;
	struct kraken_pairs pairs; /* AssetPairs, fetched at open */
	uint64_t pages, rate_limited;
};

/* Opens the HTTP client and fetches AssetPairs.  0, or -1 with err. */
int kraken_rest_open(struct kraken_rest *kr, const char *base_url, const char *ca_file,
                     uint32_t interval_ms, volatile sig_atomic_t *stop, char *err, size_t errlen);
/* Pages /0/public/Trades for pair kp from since_ns, submitting each row
 * through kf, until a page is empty, the cursor reaches until_ns (if > 0),
 * a row reaches until_id (if > 0), or max_pages.  0, or -1 (logged) when a
 * request failed for good. */
int kraken_rest_pages(struct kraken_rest *kr, struct kraken_feeds *kf, const struct kraken_pair *kp,
                      uint64_t since_ns, int64_t until_ns, uint64_t until_id, unsigned max_pages);
/* Fills the gaps kf queued (kf->gaps) from REST; a gap it cannot fill is
 * journaled unrecovered (pipeline_gap).  Empties the queue. */
void kraken_rest_fill_gaps(struct kraken_rest *kr, struct kraken_feeds *kf);
void kraken_rest_close(struct kraken_rest *kr);

/* Pairs named on the command line or in PRODUCT_IDS. */
struct kraken_list {
	unsigned n;
	char sym[KRAKEN_FEEDS_MAX][TRADE_SYMBOL_MAX + 1]; /* normalized, distinct */
};
/* Appends "A,B" or a JSON list ["A","B"] (blanks ignored) to l.  0, or -1
 * with "trades CMD: WHAT '...': why" on stderr. */
int kraken_list_parse(struct kraken_list *l, const char *cmd, const char *what, const char *text);

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
