/* pipeline.h -- decoder output to sequencer, journal, state and sinks.
 *
 *   source -> decoder -> pipeline_submit -> duplicate check (sequencer)
 *                                        -> journal_append  (the truth)
 *                                        -> state_apply_trade (materialized)
 *                                        -> sinks
 *
 * One pipeline per process, driven by one thread: the single writer of the
 * state file and the journal.  Sources call pipeline_commit at the end of
 * every receive batch; that is where the journal's sync policy and the
 * sinks' flushes run, never per trade.
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
#include "trades/jsonl.h"
#include "trades/log.h"
#include "trades/state.h"
#include "trades/trade.h"

#define PIPELINE_SINKS_MAX   8
#define PIPELINE_TICKERS_MAX TRADE_FEED_MAX /* a ticker per feed at most (MoldUDP64 feeds) */
_Static_assert(PIPELINE_TICKERS_MAX >= TRADE_FEED_MAX, "every feed can have its ticker");

/* Something that needs the clock while no input arrives (MoldUDP64
 * deadlines, counters published into the state): run by pipeline_commit,
 * which every source calls at least every SOURCE_WAIT_MS. */
struct pipeline_ticker {
	void (*fn)(void *ctx, int64_t now_mono_ns);
	void *ctx;
};

struct sink;

struct pipeline_config {
	const char *state_dir;
	uint32_t inst_cap;      /* instrument slots when the state is created */
	uint64_t segment_bytes; /* journal segment size */
	enum journal_sync sync;
	uint32_t sync_interval_ms;
	bool decode_only; /* benchmark baseline: count, store nothing */
};

/* Process-local totals (the state file holds the persistent ones). */
struct pipeline_stats {
	uint64_t received, accepted, duplicates, malformed;
	uint64_t replayed;       /* journal entries applied at open */
	uint64_t journal_errors; /* appends that failed (trade not stored) */
};

enum pipeline_verdict {
	PIPELINE_ACCEPTED,
	PIPELINE_DUPLICATE,
	PIPELINE_FAILED, /* journal append failed: counted, logged */
};

struct pipeline {
	struct state state;
	struct journal journal;
	bool decode_only;
	struct pipeline_stats stats;
	struct sink *sinks[PIPELINE_SINKS_MAX];
	unsigned nsinks;
	struct pipeline_ticker tickers[PIPELINE_TICKERS_MAX];
	unsigned ntickers;
	bool in_tick;                                  /* a ticker's own commits do not re-tick */
	struct ratelimit malformed_rl[TRADE_FEED_MAX]; /* logs per feed */
};

/* Opens state and journal under cfg->state_dir (created if missing) and
 * recovers.  0, or -1 with err naming path and cause. */
int pipeline_open(struct pipeline *p, const struct pipeline_config *cfg, char *err, size_t errlen);
/* Commits, flushes and closes sinks, syncs; clean marks the state clean. */
void pipeline_close(struct pipeline *p, bool clean);
int pipeline_add_sink(struct pipeline *p, struct sink *s);
/* 0, or -1 when PIPELINE_TICKERS_MAX are registered. */
int pipeline_add_ticker(struct pipeline *p, void (*fn)(void *ctx, int64_t now_mono_ns), void *ctx);

/* Feed name -> id, registering (and journaling) a new feed.  -1 if the
 * feed table is full or the name is empty/too long (logged). */
int pipeline_feed(struct pipeline *p, const char *name);

/* Symbol -> instrument id, interning (and journaling) a new one.  -1 if the
 * table is full or the symbol is empty/too long: the caller counts the trade
 * as malformed (MALFORMED_TABLE_FULL / MALFORMED_BAD_PAIR). */
int64_t pipeline_intern(struct pipeline *p, const char *sym, size_t len);

/* Counts n messages received on feed. */
void pipeline_received(struct pipeline *p, uint16_t feed, uint64_t n);

/* Counts a refused message under its reason and logs the first few per
 * minute per feed with the peer and the offending bytes (truncated). */
void pipeline_malformed(struct pipeline *p, uint16_t feed, enum malformed why, const char *peer,
                        const void *bytes, size_t len);

/* t->instrument and t->feed must be set.  Drops duplicates (counted),
 * journals and applies the rest, hands them to the sinks. */
enum pipeline_verdict pipeline_submit(struct pipeline *p, const struct trade *t);

/* Journals an unrecoverable gap [first, last] on feed, counts it. */
void pipeline_gap(struct pipeline *p, uint16_t feed, uint64_t first, uint64_t last);

/* End of a receive batch: journal sync policy, sink flush. */
void pipeline_commit(struct pipeline *p);

/* Name lookups for sinks and tools ("" when unknown). */
const char *pipeline_symbol(const struct pipeline *p, uint32_t inst);
const char *pipeline_feed_name(const struct pipeline *p, uint16_t feed);

#endif
