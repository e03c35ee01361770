/* pipeline.h -- decoder output to the duplicate filter, journal, state, sinks.
 *
 *   source -> decoder -> pipeline_submit -> state_is_duplicate (the window
 *                                           the state file stores)
 *                                        -> journal_append  (the truth)
 *                                        -> state_apply_trade (materialized)
 *                                        -> sinks
 *
 * (A MoldUDP64 feed's sequencer -- order, A/B lines, gaps -- runs in the
 * decoder, before the ITCH parser: mold.h.)  The pipeline writes nothing
 * into the state mapping itself; it calls the state_* functions.
 *
 * One pipeline per process, driven by one thread: the single writer of the
 * state file and the journal.  Sources call pipeline_commit at the end of
 * every receive batch; that is where the journal's sync policy and the
 * sinks' flushes run, never per trade.
 *
 * A storage failure (the journal cannot append: disk full, I/O error) drops
 * the trade, counted per feed as store_failed (state and pipeline_stats),
 * logged at a limited rate with the feed and the cause.  The pipeline then
 * leaves the journal alone until a retry deadline (PIPELINE_STORE_RETRY_MS
 * on the monotonic clock) passes, so a full disk costs one clock read per
 * message, not one failed segment creation.
 *
 * struct pipeline is opaque: pipeline_open allocates it (once, at init) and
 * pipeline_close frees it; readers use the accessors at the end.
 *
 * Opening a pipeline recovers: the state rolls back a half-applied trade
 * (state.h), then every journal entry after the state's applied_jseq is
 * applied again.  If the state claims more than the journal holds (power
 * loss with --sync none), opening fails and names both positions.
 */
#ifndef TRADES_PIPELINE_H
#define TRADES_PIPELINE_H

#include <stdbool.h>
#include <stdint.h>

#include "trades/journal.h"
#include "trades/reason.h"
#include "trades/state.h"
#include "trades/trade.h"

#define PIPELINE_SINKS_MAX 8
/* At most one ticker per feed (serve registers one per MoldUDP64 feed, and
 * every listener, SOURCE_LISTEN_MAX in source.h, may be one). */
#define PIPELINE_TICKERS_MAX       TRADE_FEED_MAX
#define PIPELINE_STORE_RETRY_MS    1000 /* journal left alone this long after a failure */
#define PIPELINE_STORE_LOG_PER_MIN 5    /* storage failures logged per feed per minute */

struct pipeline;
struct sink;

struct pipeline_config {
	const char *state_dir;
	uint32_t inst_cap;      /* instrument slots when the state is created */
	uint64_t segment_bytes; /* journal segment size */
	enum journal_sync sync;
	uint32_t sync_interval_ms;
	bool decode_only; /* benchmark baseline: count, store nothing */
	/* Candles (candles.h): when candles_set, the state is configured with
	 * these before recovery (refused if it was kept otherwise). */
	bool candles_set;
	uint32_t n_candles;      /* intervals in candle_ns, 0 = off */
	int64_t candle_ns[4];    /* CANDLE_INTERVALS_MAX, ascending */
	int64_t candle_grace_ns; /* --candle-grace */
	/* When not NULL, a failed pipeline_open sets *refused: true when the
	 * state or journal was refused (damaged, incompatible, symlink, other
	 * owner, locked: the cli exits 3), false on an I/O failure (exit 1). */
	bool *refused;
};

/* Process-local totals (the state file holds the persistent ones).
 * received == accepted + duplicates + malformed + store_failed for JSON
 * feeds (ITCH feeds count trade messages in received). */
struct pipeline_stats {
	uint64_t received, accepted, duplicates, malformed;
	uint64_t store_failed;   /* trades refused because the journal failed */
	uint64_t replayed;       /* journal entries applied at open */
	uint64_t journal_errors; /* journal appends that failed (any entry type) */
	uint64_t store_retries;  /* appends tried again after a retry deadline */
};

enum pipeline_verdict {
	PIPELINE_ACCEPTED,
	PIPELINE_DUPLICATE,
	PIPELINE_FAILED, /* not stored (journal failed or backing off): counted
	                    store_failed on the feed, logged (rate-limited) */
};

/* pipeline_intern's result when the symbol is new and the journal could not
 * store its definition: the caller counts the message with
 * pipeline_store_failed, not as malformed. */
#define PIPELINE_INTERN_STORE_FAILED (-2)

/* Allocates the pipeline, opens state and journal under cfg->state_dir
 * (created if missing) and recovers.  The pipeline, or NULL with err naming
 * path and cause (nothing left open or allocated). */
struct pipeline *pipeline_open(const struct pipeline_config *cfg, char *err, size_t errlen);
/* Commits, flushes and closes sinks, syncs; clean marks the state clean.
 * Frees p. */
void pipeline_close(struct pipeline *p, bool clean);
/* 0, or -1 when PIPELINE_SINKS_MAX are registered. */
int pipeline_add_sink(struct pipeline *p, struct sink *s);
/* 0, or -1 when PIPELINE_TICKERS_MAX are registered. */
int pipeline_add_ticker(struct pipeline *p, void (*fn)(void *ctx, int64_t now_mono_ns), void *ctx);

/* Feed name -> id, registering (and journaling) a new feed.  -1 if the
 * feed table is full, the name is empty/too long or the journal failed
 * (logged). */
int pipeline_feed(struct pipeline *p, const char *name);

/* Symbol -> instrument id, interning (and journaling) a new one.  -1 if the
 * table is full or the symbol is empty/too long: the caller counts the trade
 * as malformed (MALFORMED_TABLE_FULL / MALFORMED_BAD_PAIR);
 * PIPELINE_INTERN_STORE_FAILED if the journal failed. */
int64_t pipeline_intern(struct pipeline *p, const char *sym, size_t len);

/* Counts n messages received on feed (feed < TRADE_FEED_MAX, checked). */
void pipeline_received(struct pipeline *p, uint16_t feed, uint64_t n);

/* Counts a refused message under its reason and logs the first few per
 * minute per feed with the peer and the offending bytes (truncated). */
void pipeline_malformed(struct pipeline *p, uint16_t feed, enum malformed why, const char *peer,
                        const void *bytes, size_t len);

/* Counts one message of feed that could not be stored (store_failed) and
 * logs it, rate-limited per feed. */
void pipeline_store_failed(struct pipeline *p, uint16_t feed);

/* t->instrument and t->feed must be set (in range: checked).  Drops
 * duplicates (counted), journals and applies the rest, hands them to the
 * sinks.  PIPELINE_FAILED is already counted and logged. */
enum pipeline_verdict pipeline_submit(struct pipeline *p, const struct trade *t);

/* Journals an unrecoverable gap [first, last] on feed and counts it (in one
 * state apply, under the undo record).  0, or -1 if the journal failed
 * (counted in journal_errors, logged). */
int pipeline_gap(struct pipeline *p, uint16_t feed, uint64_t first, uint64_t last);

/* Decoder counters published into the feed's state (no-ops decode-only). */
void pipeline_ext_add(struct pipeline *p, uint16_t feed, enum state_ext e, uint64_t n);
void pipeline_feed_gaps(struct pipeline *p, uint16_t feed, uint64_t gaps, uint64_t missing);

/* End of a batch: run the tickers, journal sync policy, sink flush. */
void pipeline_commit(struct pipeline *p);

/* ---- read-only accessors ---- */

/* Name lookups for sinks and tools ("" when unknown). */
const char *pipeline_symbol(const struct pipeline *p, uint32_t inst);
const char *pipeline_feed_name(const struct pipeline *p, uint16_t feed);
const struct pipeline_stats *pipeline_stats(const struct pipeline *p);
bool pipeline_decode_only(const struct pipeline *p);
/* Whether the store takes entries again: true when it never failed or a
 * retry (behind the same gate as appends, PIPELINE_STORE_RETRY_MS) succeeds
 * now.  For a producer that holds its lines back after a store failure (an
 * ,ack connection): it sends them again only once this is true, in order. */
bool pipeline_store_ready(struct pipeline *p);
/* The state, for reading (NULL when decode-only). */
const struct state *pipeline_state(const struct pipeline *p);
/* The writable state, for the operations figures the serving loop
 * publishes (state_feed_source_set, state_ops_sink); NULL in decode-only. */
struct state *pipeline_state_w(struct pipeline *p);
/* jseq of the last journal entry (0: empty journal or decode-only). */
uint64_t pipeline_journal_last(const struct pipeline *p);
/* jseq up to which the journal is durable under the --sync policy, as of
 * the last pipeline_commit: written (none), or written and msynced
 * (always, interval:MS).  <= pipeline_journal_last; 0 when decode-only. */
uint64_t pipeline_journal_durable(const struct pipeline *p);

#endif
