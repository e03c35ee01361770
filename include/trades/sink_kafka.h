/* sink_kafka.h -- the Kafka sink: the journal, tailed from the sink's own
 * cursor, produced to a Kafka topic with librdkafka.
 *
 * The journal is the truth.  The sink never sits between the engine and the
 * journal: it runs on its own thread, reads the journal with a
 * journal_reader and produces each trade with
 *   key    the pair (instrument symbol)
 *   value  the output contract's JSON line (sink_format_json) without its
 *          final '\n'; --kafka-keys may rename "pair" and "volume"
 *   header "jseq": the trade's journal sequence, decimal ASCII digits
 *          (e.g. "12345"), so any consumer can read it
 * to the partition the configured partitioner picks for the key (every pair
 * stays on one partition, so per-pair order is journal order).  The
 * producer is idempotent with acks=all and never gives a message up
 * (message.timeout.ms=0).
 *
 * Delivered cursor: the highest jseq D such that every trade at or below D
 * has a successful delivery report.  Reports advance it in journal order;
 * at most SINK_KAFKA_INFLIGHT messages are unacknowledged at once, so when
 * the broker is down the sink stops reading the journal and memory stays
 * bounded; the journal keeps everything.
 *
 * Exactly once.  On start, and after any failure that can leave the topic
 * in doubt (a lost connection with messages in flight, a failed delivery,
 * a fatal idempotence error), the sink drops its producer, reads back the
 * last SINK_KAFKA_TAIL_READ messages of every partition, takes the last
 * jseq found in each (L[p]) and resumes: a trade with jseq j bound for
 * partition p is produced only if j > L[p].  Reading starts at
 * max(min over p of L[p], D from the cursor file of the same topic and
 * cluster) + 1.  So a kill -9, a broker outage or an injected error gives
 * neither duplicates nor holes, also on brokers that do not de-duplicate
 * retries themselves (librdkafka's mock cluster).  The topic must be written
 * by this sink only, and its partition count must not change while the
 * journal still has undelivered trades for it.
 *
 * Cursor file: STATE_DIR/sinks/kafka.cursor, text "key value" lines,
 * replaced atomically (write + rename) at most every SINK_KAFKA_PERSIST_MS
 * while something changed, and at stop.  `trades stat` reads it.
 */
#ifndef TRADES_SINK_KAFKA_H
#define TRADES_SINK_KAFKA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "trades/trade.h"

#define SINK_KAFKA_INFLIGHT   32768u /* unacknowledged messages at most (power of 2) */
#define SINK_KAFKA_TAIL_READ  16     /* messages read back per partition to resume */
#define SINK_KAFKA_OPTS_MAX   32     /* --kafka-opt KEY=VALUE at most */
#define SINK_KAFKA_KEY_MAX    32     /* a renamed JSON key: [A-Za-z0-9_], 1..32 bytes */
#define SINK_KAFKA_TOPIC_MAX  249    /* Kafka's own limit on topic names */
#define SINK_KAFKA_PERSIST_MS 200    /* cursor file refresh while busy */
#define SINK_KAFKA_STOP_MS    5000   /* at stop: how long to wait for the broker */
#define SINK_KAFKA_CURSOR     "sinks/kafka.cursor"
_Static_assert((SINK_KAFKA_INFLIGHT & (SINK_KAFKA_INFLIGHT - 1)) == 0, "ring is a power of 2");

struct sink_kafka_config {
	const char *state_dir;  /* journal and cursor file live here */
	const char *brokers;    /* bootstrap.servers */
	const char *topic;      /* 1..SINK_KAFKA_TOPIC_MAX bytes */
	const char *pair_key;   /* JSON key for "pair" (NULL or "pair": unchanged) */
	const char *volume_key; /* JSON key for "volume" (NULL: unchanged) */
	unsigned nopts;         /* extra librdkafka properties, applied last */
	const char *opt_key[SINK_KAFKA_OPTS_MAX];
	const char *opt_val[SINK_KAFKA_OPTS_MAX];
	uint32_t inst_cap; /* instrument ids are < inst_cap (the state's) */
	uint32_t stop_ms;  /* 0: SINK_KAFKA_STOP_MS */
};

/* What the sink is doing, as the cursor file and `stat` show it. */
enum sink_kafka_phase {
	SINK_KAFKA_STARTING = 0, /* thread not yet connected */
	SINK_KAFKA_RESUMING = 1, /* reading the partitions' tails (waits for the broker) */
	SINK_KAFKA_STREAMING = 2,
	SINK_KAFKA_STOPPED = 3, /* clean stop */
	SINK_KAFKA_FAILED = 4,  /* gave up: the topic is ahead of this journal (logged) */
};

/* The cursor file's content: the sink's delivered cursor and counters. */
struct sink_kafka_status {
	char topic[SINK_KAFKA_TOPIC_MAX + 1];
	char cluster[128];   /* broker cluster id ("" before the first connect) */
	uint64_t delivered;  /* delivered cursor D (journal entries) */
	uint64_t read_jseq;  /* highest journal entry the sink has read */
	uint64_t sent;       /* messages handed to librdkafka (this process) */
	uint64_t acked;      /* successful delivery reports (this process) */
	uint64_t errors;     /* failed reports, produce calls and fatal errors */
	uint64_t resumes;    /* tail reads done (1 at start, +1 per recovery) */
	uint64_t skipped;    /* trades found already in the topic at a resume */
	uint64_t inflight;   /* unacknowledged messages now */
	uint32_t phase;      /* enum sink_kafka_phase */
	int32_t pid;         /* the serving process */
	int64_t updated_ns;  /* wall clock of the write */
	uint64_t partitions; /* of the topic, at the last resume */
};

/* Name of a phase ("streaming", ...); "?" when out of range. */
const char *sink_kafka_phase_name(uint32_t phase);

/* Writes st to STATE_DIR/SINK_KAFKA_CURSOR atomically (tmp file + rename),
 * creating STATE_DIR/sinks if needed.  0, or -1 with err (path, cause). */
int sink_kafka_status_write(const char *state_dir, const struct sink_kafka_status *st, char *err,
                            size_t errlen);
/* Reads the cursor file.  1 read, 0 no file (no Kafka sink ever ran), -1
 * unreadable or malformed, with err. */
int sink_kafka_status_read(const char *state_dir, struct sink_kafka_status *st, char *err,
                           size_t errlen);

/* For `trades stat`: prints the Kafka sink block if the cursor file exists
 * (nothing otherwise).  lag = applied_jseq - delivered.  json: prints
 * ',"kafka":{...}' to append to stat's object; else a table block.
 * 0, or -1 when the file is unreadable (message on stderr). */
int sink_kafka_stat_print(const char *state_dir, uint64_t applied_jseq, bool json, FILE *f);

/* Rewrites the contract line line[0..len) (as sink_format_json made it)
 * with "pair" renamed to pair_key and "volume" to volume_key (either may be
 * NULL: unchanged), into out (cap >= len + 2 * SINK_KAFKA_KEY_MAX).
 * Returns the new length. */
size_t sink_kafka_rename(const char *line, size_t len, const char *pair_key, const char *volume_key,
                         char *out, size_t cap);

/* true if k is a valid renamed key: 1..SINK_KAFKA_KEY_MAX of [A-Za-z0-9_]. */
bool sink_kafka_key_ok(const char *k);

/* Strict parse of a jseq header value: 1..20 decimal digits, no sign, no
 * overflow.  0, or -1. */
int sink_kafka_jseq_parse(const void *v, size_t len, uint64_t *out);

/* ---- the sink itself (builds with librdkafka only: HAVE_KAFKA) ---- */

struct sink;
struct sink_kafka;

/* Checks the configuration (every librdkafka property is tried on a
 * throw-away conf) and allocates everything the sink thread needs: name
 * tables, the in-flight ring.  Does not connect.  NULL with err filled. */
struct sink_kafka *sink_kafka_new(const struct sink_kafka_config *cfg, char *err, size_t errlen);

/* Names known before the thread starts (ids defined before the sink's
 * resume point are not in the journal it reads).  kind: 'i' instrument,
 * 'f' feed.  Ignored when id is out of range.  Call before start. */
void sink_kafka_define(struct sink_kafka *k, char kind, uint32_t id, const char *name);

/* Starts the thread and returns the struct sink to register with the
 * pipeline (its write is a no-op: the sink reads the journal; its close
 * stops the thread after up to stop_ms of draining, persists the cursor and
 * frees everything).  NULL with err filled if the thread cannot start (k is
 * freed). */
struct sink *sink_kafka_start(struct sink_kafka *k, char *err, size_t errlen);

/* Frees a sink that was never started. */
void sink_kafka_free(struct sink_kafka *k);

/* A copy of the live counters (taken under the sink's lock). */
void sink_kafka_status_get(struct sink_kafka *k, struct sink_kafka_status *st);

/* ---- closed candles to a topic of their own (--kafka-candles-topic) ----
 *
 * The engine hands each candle that closes (candles.h: watermark >= end +
 * grace) to a bounded queue (sink.candle: a copy, no allocation; a full
 * queue is counted); a thread of its own produces them, and also maps the
 * state file read-only and every 100 ms looks at the rings whose watermark
 * moved for closed candles newer than the ring's mark (what a restart, a
 * resume or a full queue left), oldest first per ring, as
 *   key    the pair
 *   value  sink_format_candle's line without its '\n': the downstream's
 *          schema {pair, open, high, low, close, volume, window_start_ms,
 *          window_end_ms, candle_seconds} plus "type":"candle", trades and
 *          vwap; the decimals are exact strings from fixed point
 *   header "candle": "INTERVAL_NS:START_NS" (decimal ASCII)
 *   timestamp  window_end_ms
 * with the trades topic's producer settings (idempotent, acks=all, never
 * times out).  Candles are a pure function of the journal (a rebuilt state
 * has the same rings at the same indexes), so nothing is produced from the
 * ingest path and a restart re-derives what it must send.
 *
 * Guarantee: every closed candle once, per (pair, interval) in window
 * order, across kill -9, broker outages and delivery failures, as long as
 * the sink is less than CANDLE_RING_LEN candles behind on a ring (a ring
 * keeps the 32 newest; older ones that left unsent are counted as
 * `overruns` and logged).  How: per ring the start of the newest
 * acknowledged candle is persisted in STATE_DIR/sinks/kafka-candles.marks
 * (with the topic and cluster id; another topic or cluster ignores it), and
 * at most SINK_KAFKA_CANDLES_WINDOW candles are ever produced beyond what
 * that file holds; at a resume the sink reads back the last WINDOW messages
 * of every partition (header "candle") and takes, per ring, the newer of
 * the file's mark and the tail's.  The topic must be written by this sink
 * only. */
#define SINK_KAFKA_CANDLES_WINDOW 512u /* candles beyond the marks file, at most */

struct sink_kafka_candles_config {
	const char *state_dir; /* the state file is read here, the marks file kept */
	const char *brokers;
	const char *topic;
	unsigned nopts; /* --kafka-opt, as for the trades topic */
	const char *opt_key[SINK_KAFKA_OPTS_MAX];
	const char *opt_val[SINK_KAFKA_OPTS_MAX];
	uint32_t stop_ms; /* 0: SINK_KAFKA_STOP_MS */
};

struct sink_kafka_candles_status {
	uint64_t sent;          /* candles handed to librdkafka (this process) */
	uint64_t acked;         /* successful delivery reports */
	uint64_t errors;        /* failed reports and produce calls */
	uint64_t resumes;       /* tail reads (1 at start, +1 per recovery) */
	uint64_t overruns;      /* rings found more than CANDLE_RING_LEN candles behind */
	uint64_t inflight;      /* unacknowledged now */
	uint64_t queue_dropped; /* engine hand-overs the full queue refused (the scan's) */
};

/* Opens the state read-only, checks the configuration and starts the thread;
 * the struct sink to register (write is a no-op; close stops the thread
 * after up to stop_ms of delivering, persists the marks, frees).  NULL with
 * err filled ("kafka candles: ..."). */
struct sink *sink_kafka_candles_start(const struct sink_kafka_candles_config *cfg, char *err,
                                      size_t errlen);
/* A copy of the live counters of a sink sink_kafka_candles_start returned. */
void sink_kafka_candles_status_get(struct sink *s, struct sink_kafka_candles_status *st);

#endif
