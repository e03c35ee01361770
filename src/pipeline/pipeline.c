/* pipeline.c -- the one path every trade takes: dedup, journal, state, sinks.
 *
 * The journal is appended before the state is touched, and both the live path
 * and the recovery replay go through pipeline_apply(), so a trade is applied
 * by exactly the same code whether it arrived on a socket a microsecond ago
 * or is being replayed after a kill -9.
 */
#include "trades/pipeline.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "trades/candles.h"
#include "trades/log.h"
#include "trades/probe.h"
#include "trades/sink.h"
#include "trades/timefmt.h"

#define MALFORMED_LOG_PER_MIN 5   /* malformed messages logged per feed per minute */
#define MALFORMED_LOG_BYTES   120 /* offending bytes shown, then "..." */
#define REPLAY_LOG_EVERY      1000000u
#define NS_PER_MS             1000000LL

/* Something that needs the clock while no input arrives (MoldUDP64
 * deadlines, counters published into the state): run by pipeline_commit,
 * which every source calls at least every SOURCE_WAIT_MS. */
struct pipeline_ticker {
	void (*fn)(void *ctx, int64_t now_mono_ns);
	void *ctx;
};

struct pipeline {
	struct state state;
	struct journal journal;
	bool decode_only;
	bool open_refused; /* why pipeline_open_store failed: a refusal, not I/O */
	struct pipeline_stats stats;
	struct sink *sinks[PIPELINE_SINKS_MAX];
	unsigned nsinks;
	struct pipeline_ticker tickers[PIPELINE_TICKERS_MAX];
	unsigned ntickers;
	bool in_tick;               /* a ticker's own commits do not re-tick */
	bool store_down;            /* the last journal append failed */
	int store_errno;            /* its cause */
	int64_t store_retry_ns;     /* monotonic: no append is tried before this */
	uint64_t store_down_failed; /* store_failed since the journal went down */
	/* received, not yet in the state: a message reaches the state's
	 * received counter together with its outcome (accepted: inside the
	 * journaled apply), so a kill -9 mid-message over-counts nothing */
	uint64_t rx_pending[TRADE_FEED_MAX];
	uint64_t durable_jseq; /* journal entries <= this are durable under --sync */
	struct ratelimit malformed_rl[TRADE_FEED_MAX]; /* logs per feed */
	struct ratelimit store_rl[TRADE_FEED_MAX];
	unsigned candle_sinks;                   /* sinks with a candle() */
	int64_t candle_wm[CANDLE_INTERVALS_MAX]; /* watermarks before an apply */
	int64_t batch_rx_min; /* oldest ts_rx_ns accepted since the last commit, 0 none */
};

_Static_assert(sizeof(((struct pipeline_config *)0)->candle_ns) ==
                       CANDLE_INTERVALS_MAX * sizeof(int64_t),
               "pipeline_config holds every candle interval");

/* The three kinds of journal entry, applied to the state.  Each checks its
 * payload's length first: a recovered entry's bytes are from a file. */
static int pipeline_apply_trade(struct pipeline *p, const struct journal_frame *f,
                                const void *payload)
{
	struct state *s = &p->state;
	struct trade t;

	if (f->len != sizeof(t))
		return -1;
	memcpy(&t, payload, sizeof(t));
	if (t.instrument >= atomic_load(&s->hdr->inst_count) || t.feed >= TRADE_FEED_MAX ||
	    s->feeds[t.feed].name[0] == 0 || t.qty <= 0)
		return -1;
	state_apply_trade(s, &t, f->jseq);
	return 0;
}

static int pipeline_apply_name(struct pipeline *p, const struct journal_frame *f,
                               const struct journal_name *n)
{
	struct state *s = &p->state;
	int rc;

	if (f->len != sizeof(*n) || n->len == 0 || n->len >= sizeof(n->name))
		return -1;
	if (f->type == JOURNAL_INSTRUMENT)
		rc = state_define(s, n->id, n->name, n->len);
	else
		rc = n->id < TRADE_FEED_MAX ? state_feed_define(s, (uint16_t)n->id, n->name) : -1;
	if (rc < 0)
		return -1;
	state_apply_other(s, f->jseq);
	return 0;
}

static int pipeline_apply_gap(struct pipeline *p, const struct journal_frame *f,
                              const struct journal_gap *g)
{
	struct state *s = &p->state;

	if (f->len != sizeof(*g) || g->feed >= TRADE_FEED_MAX || s->feeds[g->feed].name[0] == 0 ||
	    g->last_missing < g->first_missing)
		return -1;
	state_apply_gap(s, g->feed, g->first_missing, g->last_missing, f->jseq);
	return 0;
}

/* Applies one journal entry to the state.  Used live, right after the append,
 * and at open for entries the state has not applied yet. */
static int pipeline_apply(struct pipeline *p, const struct journal_frame *f, const void *payload)
{
	switch (f->type) {
	case JOURNAL_TRADE:
		return pipeline_apply_trade(p, f, payload);
	case JOURNAL_INSTRUMENT:
	case JOURNAL_FEED:
		return pipeline_apply_name(p, f, payload);
	case JOURNAL_GAP:
		return pipeline_apply_gap(p, f, payload);
	default:
		return -1;
	}
}

/* Brings the state up to the journal's end.  The state may only be behind. */
static int pipeline_recover(struct pipeline *p, char *err, size_t errlen)
{
	uint64_t applied = atomic_load(&p->state.hdr->applied_jseq);
	uint64_t last = p->journal.next_jseq - 1;
	struct journal_reader r;
	const struct journal_frame *f;
	const void *payload;
	int rc;

	if (applied > last)
		return errfmt(err, errlen,
		              "state %s has applied journal entry %llu but the journal in %s ends "
		              "at %llu (journal lost or replaced?); move the state file away to "
		              "rebuild it from the journal",
		              p->state.path, (unsigned long long)applied, p->journal.dir,
		              (unsigned long long)last);
	if (applied == last)
		return 0;
	if (applied == 0 && !p->state.damaged) /* damaged: state_open said it */
		log_warn("state %s: missing or new, the journal holds %llu entries: rebuilding it "
		         "from the journal",
		         p->state.path, (unsigned long long)last);
	if (journal_reader_open(&r, p->journal.cfg.dir, applied + 1, err, errlen) < 0)
		return -1;
	log_info("recovery: applying journal entries %llu..%llu to the state",
	         (unsigned long long)applied + 1, (unsigned long long)last);
	/* Bounded by the journal's length, known before the loop starts. */
	while (applied < last) {
		rc = journal_reader_next(&r, &f, &payload);
		if (rc <= 0 || f->jseq != applied + 1 || pipeline_apply(p, f, payload) < 0) {
			journal_reader_close(&r);
			return errfmt(err, errlen,
			              "recovery: journal entry %llu unreadable or inconsistent",
			              (unsigned long long)applied + 1);
		}
		applied++;
		p->stats.replayed++;
		if (p->stats.replayed % REPLAY_LOG_EVERY == 0)
			log_info("recovery: %llu entries applied",
			         (unsigned long long)p->stats.replayed);
	}
	journal_reader_close(&r);
	log_info("recovery: %llu journal entries applied", (unsigned long long)p->stats.replayed);
	return 0;
}

static int pipeline_open_store(struct pipeline *p, const struct pipeline_config *cfg, char *err,
                               size_t errlen)
{
	struct journal_config jc = {
	        .dir = cfg->state_dir,
	        .segment_bytes = cfg->segment_bytes ? cfg->segment_bytes : JOURNAL_SEGMENT_DEFAULT,
	        .sync = cfg->sync,
	        .sync_interval_ms = cfg->sync_interval_ms,
	};

	/* The journal first: a journal refused leaves the state file untouched
	 * (opening the state for writing marks it in use). */
	if (journal_open(&p->journal, &jc, err, errlen) < 0) {
		p->open_refused = p->journal.refused;
		return -1;
	}
	if (state_open(&p->state, cfg->state_dir, STATE_OPEN_WRITE, cfg->inst_cap, err, errlen) <
	    0) {
		p->open_refused = p->state.refused;
		journal_close(&p->journal);
		return -1;
	}
	if (cfg->candles_set && state_candles_configure(&p->state, cfg->candle_ns, cfg->n_candles,
	                                                cfg->candle_grace_ns, err, errlen) < 0) {
		p->open_refused = true; /* kept with other settings, like a version mismatch */
		journal_close(&p->journal);
		state_close(&p->state, false);
		return -1;
	}
	if (pipeline_recover(p, err, errlen) < 0) {
		p->open_refused = true; /* journal lost, or an entry the state cannot take */
		journal_close(&p->journal);
		state_close(&p->state, false);
		return -1;
	}
	return 0;
}

struct pipeline *pipeline_open(const struct pipeline_config *cfg, char *err, size_t errlen)
{
	struct pipeline *p = calloc(1, sizeof(*p));
	unsigned i;

	if (!p) {
		errfmt(err, errlen, "pipeline: calloc %zu bytes: %s", sizeof(*p), strerror(errno));
		return NULL;
	}
	for (i = 0; i < TRADE_FEED_MAX; i++) {
		p->malformed_rl[i] = (struct ratelimit)RATELIMIT_INIT(60, MALFORMED_LOG_PER_MIN);
		p->store_rl[i] = (struct ratelimit)RATELIMIT_INIT(60, PIPELINE_STORE_LOG_PER_MIN);
	}
	p->decode_only = cfg->decode_only;
	if (!p->decode_only && pipeline_open_store(p, cfg, err, errlen) < 0) {
		if (cfg->refused)
			*cfg->refused = p->open_refused;
		free(p);
		return NULL;
	}
	return p;
}

void pipeline_close(struct pipeline *p, bool clean)
{
	unsigned i;

	pipeline_commit(p);
	for (i = 0; i < p->nsinks; i++)
		if (p->sinks[i]->close)
			p->sinks[i]->close(p->sinks[i]);
	p->nsinks = 0;
	if (!p->decode_only) {
		journal_close(&p->journal);
		state_close(&p->state, clean);
	}
	free(p);
}

int pipeline_add_sink(struct pipeline *p, struct sink *s)
{
	if (p->nsinks >= PIPELINE_SINKS_MAX)
		return -1;
	p->sinks[p->nsinks++] = s;
	p->candle_sinks += s->candle != NULL;
	return 0;
}

int pipeline_add_ticker(struct pipeline *p, void (*fn)(void *ctx, int64_t now_mono_ns), void *ctx)
{
	if (p->ntickers >= PIPELINE_TICKERS_MAX)
		return -1;
	p->tickers[p->ntickers++] = (struct pipeline_ticker){fn, ctx};
	return 0;
}

/* journal_append behind the retry gate: after a failure the journal is left
 * alone until store_retry_ns, so a full disk is not hit with a segment
 * creation per message.  The jseq, or 0 (failed now or still backing off). */
static uint64_t pipeline_append(struct pipeline *p, uint16_t type, const void *payload,
                                uint16_t len)
{
	int64_t now = 0;
	uint64_t jseq;

	if (p->store_down) {
		now = timefmt_mono_ns();
		if (now < p->store_retry_ns)
			return 0;
		p->stats.store_retries++;
	}
	errno = 0;
	jseq = journal_append(&p->journal, type, payload, len);
	if (jseq != 0) {
		if (p->store_down)
			log_info("journal %s: appending again; %llu messages were not stored",
			         p->journal.dir, (unsigned long long)p->store_down_failed);
		p->store_down = false;
		p->store_down_failed = 0;
		return jseq;
	}
	p->stats.journal_errors++;
	p->store_errno = errno ? errno : EIO;
	p->store_down = true;
	p->store_retry_ns = (now ? now : timefmt_mono_ns()) + PIPELINE_STORE_RETRY_MS * NS_PER_MS;
	return 0;
}

/* Appends a name entry (instrument or feed) and applies it. */
static int pipeline_define(struct pipeline *p, uint16_t type, uint32_t id, const char *name,
                           size_t len)
{
	struct journal_name n;
	struct journal_frame f = {.type = type, .len = sizeof(n)};

	memset(&n, 0, sizeof(n));
	n.id = id;
	n.len = (uint16_t)len;
	memcpy(n.name, name, len);
	f.jseq = pipeline_append(p, type, &n, sizeof(n));
	if (f.jseq == 0)
		return -1;
	return pipeline_apply_name(p, &f, &n);
}

int pipeline_feed(struct pipeline *p, const char *name)
{
	size_t len = strlen(name);
	int64_t id;

	if (p->decode_only)
		return 0;
	if (len == 0 || len > STATE_FEED_NAME_MAX) {
		log_error("feed name '%s': must be 1..%d bytes", name, STATE_FEED_NAME_MAX);
		return -1;
	}
	id = state_feed_lookup(&p->state, name);
	if (id >= 0)
		return (int)id;
	id = state_feed_next_id(&p->state);
	if (id < 0) {
		log_error("feed '%s': feed table full (%d feeds)", name, TRADE_FEED_MAX);
		return -1;
	}
	if (pipeline_define(p, JOURNAL_FEED, (uint32_t)id, name, len) < 0) {
		log_error("feed '%s': journal %s: %s", name, p->journal.dir,
		          strerror(p->store_errno));
		return -1;
	}
	return (int)id;
}

int64_t pipeline_intern(struct pipeline *p, const char *sym, size_t len)
{
	int64_t id;

	if (p->decode_only)
		return 0;
	if (len == 0 || len > TRADE_SYMBOL_MAX)
		return -1;
	id = state_lookup(&p->state, sym, len);
	if (id >= 0)
		return id;
	id = state_next_id(&p->state);
	if (id < 0)
		return -1;
	if (pipeline_define(p, JOURNAL_INSTRUMENT, (uint32_t)id, sym, len) < 0)
		return PIPELINE_INTERN_STORE_FAILED;
	return id;
}

void pipeline_received(struct pipeline *p, uint16_t feed, uint64_t n)
{
	ENSURE(feed < TRADE_FEED_MAX);
	p->stats.received += n;
	if (!p->decode_only)
		p->rx_pending[feed] += n;
}

/* One received message of feed got its outcome (duplicate, malformed,
 * store_failed): it enters the state's received counter now, next to the
 * outcome's.  Accepted ones are counted by state_apply_trade. */
static void pipeline_rx_settle(struct pipeline *p, uint16_t feed)
{
	if (p->decode_only || p->rx_pending[feed] == 0)
		return;
	p->rx_pending[feed]--;
	state_feed_count(&p->state, feed, STATE_CNT_RECEIVED, 1);
}

/* Messages with no outcome of their own (control messages) at batch end. */
static void pipeline_rx_flush(struct pipeline *p)
{
	for (unsigned i = 0; i < TRADE_FEED_MAX; i++)
		if (p->rx_pending[i]) {
			state_feed_count(&p->state, (uint16_t)i, STATE_CNT_RECEIVED,
			                 p->rx_pending[i]);
			p->rx_pending[i] = 0;
		}
}

void pipeline_malformed(struct pipeline *p, uint16_t feed, enum malformed why, const char *peer,
                        const void *bytes, size_t len)
{
	char shown[MALFORMED_LOG_BYTES * 4 + 8];
	uint64_t suppressed = 0;

	ENSURE(why > MALFORMED_NONE && why < MALFORMED_COUNT && feed < TRADE_FEED_MAX);
	p->stats.malformed++;
	TRADES_PROBE_DROP(feed, malformed_name(why));
	if (!p->decode_only)
		state_feed_malformed(&p->state, feed, why);
	pipeline_rx_settle(p, feed);
	if (!ratelimit_allow(&p->malformed_rl[feed], timefmt_mono_ns(), &suppressed))
		return;
	log_warn("feed %s: malformed (%s) from %s: %s%s", pipeline_feed_name(p, feed),
	         malformed_name(why), peer ? peer : "?",
	         log_escape(bytes, len, MALFORMED_LOG_BYTES, shown, sizeof(shown)),
	         suppressed ? " (more suppressed)" : "");
}

void pipeline_store_failed(struct pipeline *p, uint16_t feed)
{
	uint64_t suppressed = 0;

	ENSURE(feed < TRADE_FEED_MAX && !p->decode_only);
	p->stats.store_failed++;
	p->store_down_failed++;
	state_feed_count(&p->state, feed, STATE_CNT_STORE_FAILED, 1);
	pipeline_rx_settle(p, feed);
	if (!ratelimit_allow(&p->store_rl[feed], timefmt_mono_ns(), &suppressed))
		return;
	log_error("feed %s: trade not stored: journal %s: %s; retrying every %d ms (%llu not "
	          "stored on this feed, %llu similar suppressed)",
	          pipeline_feed_name(p, feed), p->journal.dir, strerror(p->store_errno),
	          PIPELINE_STORE_RETRY_MS, (unsigned long long)p->state.feeds[feed].store_failed,
	          (unsigned long long)suppressed);
}

/* Closed candles to the sinks that take them (issue 14): the watermarks
 * before the apply, then every candle the apply closed. */
static void pipeline_candles_before(struct pipeline *p, const struct trade *t)
{
	for (uint32_t k = 0; k < CANDLE_INTERVALS_MAX; k++)
		p->candle_wm[k] = state_candles_watermark(&p->state, t->instrument, k);
}

static void pipeline_candle_out(struct pipeline *p, const struct trade *t, uint32_t k,
                                const struct candle *c)
{
	struct state_instrument *in = &p->state.inst[t->instrument];
	struct sink_candle sc =
	        sink_candle_of(c, pipeline_symbol(p, t->instrument),
	                       state_candles_interval_ns(&p->state, k), in->price_dp, in->qty_dp);

	for (unsigned i = 0; i < p->nsinks; i++) {
		struct sink *s = p->sinks[i];

		if (s->candle && s->candle(s, &sc) < 0)
			s->errors++;
	}
}

static void pipeline_candles_closed(struct pipeline *p, const struct trade *t)
{
	struct candle c[CANDLE_RING_LEN];

	for (uint32_t k = 0; k < state_candles_intervals(&p->state); k++) {
		int n = state_candles_closed_since(&p->state, t->instrument, k, p->candle_wm[k], c,
		                                   CANDLE_RING_LEN);

		for (int i = 0; i < n; i++)
			pipeline_candle_out(p, t, k, &c[i]);
	}
}

static void pipeline_to_sinks(struct pipeline *p, const struct trade *t)
{
	unsigned i;

	for (i = 0; i < p->nsinks; i++) {
		struct sink *s = p->sinks[i];

		if (s->write(s, t, pipeline_symbol(p, t->instrument),
		             pipeline_feed_name(p, t->feed)) < 0)
			s->errors++;
		else
			s->written++;
	}
}

enum pipeline_verdict pipeline_submit(struct pipeline *p, const struct trade *t)
{
	struct journal_frame f = {.type = JOURNAL_TRADE, .len = sizeof(*t)};

	if (p->decode_only) {
		p->stats.accepted++;
		return PIPELINE_ACCEPTED;
	}
	ENSURE(t->instrument < p->state.hdr->inst_cap && t->feed < TRADE_FEED_MAX);
	if (state_is_duplicate(&p->state, t->instrument, state_dedup_key(t), t->trade_id)) {
		state_feed_count(&p->state, t->feed, STATE_CNT_DUPLICATES, 1);
		pipeline_rx_settle(p, t->feed);
		p->stats.duplicates++;
		return PIPELINE_DUPLICATE;
	}
	f.jseq = pipeline_append(p, JOURNAL_TRADE, t, sizeof(*t));
	if (f.jseq == 0) {
		pipeline_store_failed(p, t->feed);
		return PIPELINE_FAILED;
	}
	if (p->candle_sinks)
		pipeline_candles_before(p, t);
	state_apply_trade(&p->state, t, f.jseq); /* counts it received too */
	if (p->rx_pending[t->feed])
		p->rx_pending[t->feed]--;
	if (p->candle_sinks)
		pipeline_candles_closed(p, t);
	p->stats.accepted++;
	if (t->ts_rx_ns > 0 && (p->batch_rx_min == 0 || t->ts_rx_ns < p->batch_rx_min))
		p->batch_rx_min = t->ts_rx_ns; /* latency histograms (state_hist_add) */
	TRADES_PROBE_TRADE(t);
	pipeline_to_sinks(p, t);
	return PIPELINE_ACCEPTED;
}

int pipeline_gap(struct pipeline *p, uint16_t feed, uint64_t first, uint64_t last)
{
	struct journal_gap g = {.first_missing = first, .last_missing = last, .feed = feed};
	struct journal_frame f = {.type = JOURNAL_GAP, .len = sizeof(g)};
	uint64_t suppressed = 0;

	ENSURE(feed < TRADE_FEED_MAX && first <= last);
	TRADES_PROBE_GAP(feed, first, last);
	if (p->decode_only)
		return 0;
	f.jseq = pipeline_append(p, JOURNAL_GAP, &g, sizeof(g));
	if (f.jseq != 0)
		return pipeline_apply_gap(p, &f, &g);
	if (ratelimit_allow(&p->store_rl[feed], timefmt_mono_ns(), &suppressed))
		log_error("feed %s: gap %llu..%llu not journaled: journal %s: %s",
		          pipeline_feed_name(p, feed), (unsigned long long)first,
		          (unsigned long long)last, p->journal.dir, strerror(p->store_errno));
	return -1;
}

void pipeline_ext_add(struct pipeline *p, uint16_t feed, enum state_ext e, uint64_t n)
{
	if (!p->decode_only && n)
		state_feed_ext_add(&p->state, feed, e, n);
}

void pipeline_feed_gaps(struct pipeline *p, uint16_t feed, uint64_t gaps, uint64_t missing)
{
	if (!p->decode_only && (gaps || missing))
		state_feed_gaps_add(&p->state, feed, gaps, missing);
}

void pipeline_commit(struct pipeline *p)
{
	struct journal_spare_counts spare;
	int64_t decoded_ns, wall_ns;
	unsigned i;

	TRADES_PROBE_COMMIT(p->stats.received, p->stats.accepted);
	TRADES_PROBE_DECODED(p->stats.received);
	if (p->ntickers && !p->in_tick) {
		int64_t now = timefmt_mono_ns();

		p->in_tick = true;
		for (i = 0; i < p->ntickers; i++)
			p->tickers[i].fn(p->tickers[i].ctx, now);
		p->in_tick = false;
	}
	for (i = 0; i < p->nsinks; i++)
		if (p->sinks[i]->flush)
			p->sinks[i]->flush(p->sinks[i]);
	TRADES_PROBE_COMMITTED(p->stats.accepted);
	if (p->decode_only)
		return;
	pipeline_rx_flush(p);
	decoded_ns = p->batch_rx_min ? timefmt_now_ns() : 0;
	journal_commit(&p->journal);
	/* a roll msyncs the old segment (unless none), so a synced current
	 * segment means everything written is durable */
	if (p->journal.cfg.sync == JOURNAL_SYNC_NONE || p->journal.synced_off >= p->journal.off)
		p->durable_jseq = p->journal.next_jseq - 1;
	wall_ns = timefmt_now_ns();
	if (decoded_ns) { /* one sample per batch: its oldest trade */
		state_hist_add(&p->state, STATE_STAGE_RX_DECODED, decoded_ns - p->batch_rx_min);
		state_hist_add(&p->state, STATE_STAGE_DECODED_COMMITTED, wall_ns - decoded_ns);
		p->batch_rx_min = 0;
	}
	state_ops_journal(&p->state, p->journal.next_jseq - 1,
	                  (p->journal.segments ? p->journal.segments - 1 : 0) *
	                                  p->journal.cfg.segment_bytes +
	                          p->journal.off,
	                  p->journal.segments, p->journal.last_sync_ns);
	journal_spare_counts(&p->journal, &spare);
	state_ops_journal_spare(&p->state, spare.hits, spare.misses, spare.failures);
	state_heartbeat(&p->state, wall_ns);
}

const char *pipeline_symbol(const struct pipeline *p, uint32_t inst)
{
	if (p->decode_only || inst >= atomic_load(&p->state.hdr->inst_count))
		return "";
	return p->state.inst[inst].symbol;
}

const char *pipeline_feed_name(const struct pipeline *p, uint16_t feed)
{
	if (p->decode_only)
		return "decode-only";
	return feed < TRADE_FEED_MAX ? p->state.feeds[feed].name : "";
}

const struct pipeline_stats *pipeline_stats(const struct pipeline *p)
{
	return &p->stats;
}

bool pipeline_store_ready(struct pipeline *p)
{
	int64_t now;

	if (!p->store_down)
		return true;
	now = timefmt_mono_ns();
	if (now < p->store_retry_ns)
		return false;
	p->stats.store_retries++;
	if (journal_retry(&p->journal) != 0) {
		p->store_retry_ns = now + PIPELINE_STORE_RETRY_MS * NS_PER_MS;
		return false;
	}
	log_info("journal %s: stores again; %llu messages were not stored", p->journal.dir,
	         (unsigned long long)p->store_down_failed);
	p->store_down = false;
	p->store_down_failed = 0;
	return true;
}

bool pipeline_decode_only(const struct pipeline *p)
{
	return p->decode_only;
}

struct state *pipeline_state_w(struct pipeline *p)
{
	return p->decode_only ? NULL : &p->state;
}

const struct state *pipeline_state(const struct pipeline *p)
{
	return p->decode_only ? NULL : &p->state;
}

uint64_t pipeline_journal_last(const struct pipeline *p)
{
	return p->decode_only ? 0 : p->journal.next_jseq - 1;
}

uint64_t pipeline_journal_durable(const struct pipeline *p)
{
	return p->decode_only ? 0 : p->durable_jseq;
}
