/* state.h -- per-instrument and per-feed state in one memory-mapped file.
 *
 * Layout of STATE_DIR/trades.state (all offsets fixed at creation, the file is
 * created at full size with posix_fallocate -- every block allocated, so a
 * full disk fails the creation instead of a later page fault (SIGBUS) in the
 * writer or a reader -- and mapped once; nothing grows):
 *
 *   [0, 4096)            struct state_header (magic, version, sizes, crc,
 *                        applied journal position, clean flag, undo record)
 *   index                uint32_t[index_cap]  open-addressing symbol hash,
 *                        value = instrument id + 1, 0 = empty
 *   instruments          struct state_instrument[inst_cap]
 *   feeds                struct state_feed[TRADE_FEED_MAX]
 *   dedup                struct state_dedup[dedup_cap]  (inst, feed) -> ids
 *   candles              candle region (candles.h): rings of recent OHLCV
 *
 * Concurrency: one writer process (an OFD write lock, F_OFD_SETLK, on
 * STATE_DIR/trades.lock, a 0600 file holding the writer's pid; readers never
 * lock anything, so no reader can keep the writer from starting), any number
 * of readers in other processes.  Files are created 0600 in a 0700
 * directory whatever the umask; the writer refuses a state file that is a
 * symbolic link or is owned by another user.  Each instrument has a
 * seqlock: the writer makes it odd, writes, makes it even; readers copy and
 * retry while it is odd or changed (state_read_instrument).  Feed counters are single 64-bit words,
 * read individually.
 *
 * Only this module writes the mapping: the pipeline and the decoders count
 * through the state_feed_* functions below.
 *
 * Crash safety (kill -9 at any instruction): state_apply_trade and
 * state_apply_gap arm an undo record in the header (copies of the
 * instrument, dedup entry and feed they are about to touch, plus the journal
 * sequence), apply, then disarm it.
 * state_open finds an armed undo record, restores the copies, and the caller
 * replays the journal from applied_jseq + 1.  The journal is the truth; the
 * state file is its exactly-once materialization.
 */
#ifndef TRADES_STATE_H
#define TRADES_STATE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "trades/reason.h"
#include "trades/trade.h"

#define STATE_MAGIC "TRDSTAT1" /* 8 bytes, no NUL stored */
#define STATE_VERSION                                                                              \
	6u /* bump on any layout change (2: 32 decoder counters,                                   \
	      3: candle region, 4: per-instrument crc, 5: 40 decoder counters,                     \
	      6: source counters per feed, operations block: journal, sinks,                       \
	      latency histograms) */
#define STATE_FILE_NAME        "trades.state"
#define STATE_LOCK_NAME        "trades.lock" /* writer exclusion, 0600, holds the pid */
#define STATE_HEADER_SIZE      4096u
#define STATE_INST_CAP_DEFAULT 65536u
#define STATE_INST_CAP_MAX     (1u << 24)
#define STATE_DEDUP_WINDOW     1024u /* ids below the high-water mark tracked */
#define STATE_FEED_NAME_MAX    63
/* A seqlock reader (state_read_retry) spins STATE_READ_SPINS tries, then
 * yields the CPU between tries (a writer preempted mid-update gets it back)
 * and gives up once STATE_READ_WAIT_MS have passed: the writer was killed
 * mid-apply, or is stopped.  STATE_READ_RETRIES bounds the tries whatever
 * the clock says. */
#define STATE_READ_SPINS   4096u
#define STATE_READ_WAIT_MS 200u
#define STATE_READ_RETRIES (1u << 24)

_Static_assert((STATE_DEDUP_WINDOW & (STATE_DEDUP_WINDOW - 1)) == 0, "window is a power of two");

struct state_instrument {
	_Atomic uint32_t seqlock; /* odd while the writer is inside */
	uint32_t id;              /* own slot, for asserts */
	uint8_t symbol_len;
	uint8_t price_dp; /* max decimals seen in prices */
	uint8_t qty_dp;   /* max decimals seen in quantities */
	uint8_t pad0;
	char symbol[TRADE_SYMBOL_MAX + 1]; /* NUL-padded */
	uint64_t trades;                   /* accepted trades (corrections subtract) */
	uint64_t corrections;              /* broken/corrected trades reversed */
	int64_t first, last, high, low;    /* prices, scaled; valid if trades>0 */
	uint64_t last_trade_id;
	int64_t last_ts_exch_ns;
	int64_t last_ts_rx_ns;
	uint64_t applied_jseq; /* journal seq of the last trade applied */
	__int128 volume;       /* sum qty, scaled 1e8 */
	__int128 notional;     /* sum price*qty, scaled 1e16 (VWAP numerator) */
	/* CRC32C of the bytes from id up to this field (state_inst_crc), set
	 * by the writer inside the seqlock and saved with the slot in the undo
	 * record; a slot whose crc does not match is damaged, never served. */
	uint32_t crc;
} __attribute__((aligned(64)));

/* Decoder counters per feed (state_feed.ext): what ITCH/MoldUDP64 feeds see
 * beyond trades.  For those feeds `received` counts trade messages, so these
 * are not part of received = accepted + duplicates + malformed.  Append only:
 * the order is part of the file layout. */
enum state_ext {
	STATE_EXT_GAPS_UNRECOVERED,    /* gaps given up (journaled as JOURNAL_GAP) */
	STATE_EXT_MISSING_UNRECOVERED, /* messages lost in them */
	STATE_EXT_RECOVERED,           /* gap messages recovered by re-request */
	STATE_EXT_HOLES_FILLED,        /* holes on one line the other line filled (A/B) */
	STATE_EXT_DUP_MESSAGES,        /* MoldUDP64 messages already delivered, dropped */
	STATE_EXT_BAD_PACKETS,         /* MoldUDP64 packets dropped whole: framing, seq jumps */
	STATE_EXT_REQUESTS,            /* re-request packets sent */
	STATE_EXT_MESSAGES,            /* ITCH messages decoded (all types) */
	STATE_EXT_UNKNOWN_ORDER_E,     /* executions/cancels of orders never seen */
	STATE_EXT_UNKNOWN_ORDER_C,
	STATE_EXT_UNKNOWN_ORDER_X,
	STATE_EXT_UNKNOWN_ORDER_D,
	STATE_EXT_UNKNOWN_ORDER_U,
	STATE_EXT_UNKNOWN_LOCATE,  /* stock locate with no directory ('R') message */
	STATE_EXT_BROKEN_UNKNOWN,  /* 'B' for a match not remembered */
	STATE_EXT_LENGTH_MISMATCH, /* length prefix disagreed with the type */
	STATE_EXT_UNKNOWN_TYPE,
	STATE_EXT_TRUNCATED,
	STATE_EXT_BOOK_FULL,
	STATE_EXT_STREAM_UNSYNC,  /* ITCH file framing lost: resync scans that skipped bytes */
	STATE_EXT_STREAM_DROPPED, /* bytes those scans skipped */
	STATE_EXT_STREAM_SKIPPED, /* bytes of unknown ITCH types skipped by their length */
	STATE_EXT_INTERN_FAILED,  /* ITCH 'R' whose symbol could not be interned */
	STATE_EXT_REFUSED,        /* ITCH adds of a live reference, crosses over the qty range */
	STATE_EXT_SUB_ERRORS,     /* Kraken: subscriptions the exchange refused */
	STATE_EXT_RECONNECTS,     /* Kraken: WebSocket sessions re-opened */
	/* DPDK source (serve --dpdk), on its feed "dpdk:portN": rte_eth_stats of
	 * the port, and the frames no filter took (ARP, other ports, fragments,
	 * runts, bad checksums; by kind in the log at stop). */
	STATE_EXT_PORT_IPACKETS,  /* packets the port received */
	STATE_EXT_PORT_IMISSED,   /* dropped by the NIC: rx queue full */
	STATE_EXT_PORT_IERRORS,   /* erroneous packets */
	STATE_EXT_PORT_RX_NOMBUF, /* mbuf allocation failures */
	STATE_EXT_PORT_UNMATCHED, /* frames received but not delivered */
	STATE_EXT_WRONG_SESSION,  /* MoldUDP64 packets of another session, dropped */
	/* TCP listeners (serve --tcp), on the listener's feed; not messages. */
	STATE_EXT_CONNS_REFUSED,     /* connections closed at accept: table full (--max-conns) */
	STATE_EXT_CONNS_IDLE_CLOSED, /* connections closed: no bytes for --idle-timeout */
	STATE_EXT_BUFFER_OVERFLOW, /* MoldUDP64 gaps given up early: the reorder buffer was full */
	STATE_EXT_COUNT,
	STATE_EXT_MAX = 40 /* slots reserved in the file */
};
_Static_assert(STATE_EXT_COUNT <= STATE_EXT_MAX, "state file reserves 40 decoder counters");

/* snake_case name of a decoder counter ("unknown_order_e"). */
const char *state_ext_name(enum state_ext e);

/* Source counters of one feed (its listeners summed), since the writer
 * started.  Published by the serving loop, at most every
 * STATE_PUBLISH_MS. */
struct state_source {
	uint64_t bytes;        /* payload bytes delivered (streams and datagrams) */
	uint64_t packets;      /* datagrams, or TCP reads that returned data */
	uint64_t kernel_drops; /* datagrams the kernel dropped on the feed's UDP sockets
	                          (/proc/net/udp "drops"); 0 where not known (TCP) */
	uint64_t acks_sent;    /* "ack N" lines written or queued (,ack listeners) */
	uint64_t acks_dropped; /* acks not written: the client does not read */
};

/* Per-feed counters.  received = messages seen (lines, ITCH trade messages);
 * received == accepted + duplicates + malformed + store_failed for JSON
 * feeds. */
struct state_feed {
	char name[STATE_FEED_NAME_MAX + 1]; /* "" = slot unused */
	uint64_t received;
	uint64_t accepted;
	uint64_t duplicates;
	uint64_t malformed;
	uint64_t gaps;               /* gap events (a jump in seq) */
	uint64_t gap_missing;        /* sequence numbers missing in those gaps */
	uint64_t out_of_order;       /* seq lower than one already seen */
	uint64_t last_seq;           /* highest feed seq seen (TRADE_F_HAS_SEQ) */
	uint64_t no_trade_id;        /* accepted without an id: not deduplicated */
	uint64_t dedup_overflow;     /* dedup table full: accepted undeduplicated */
	uint64_t ext[STATE_EXT_MAX]; /* decoder counters, enum state_ext */
	uint64_t malformed_by[MALFORMED_MAX];
	/* Appended in what was padding, so files made before it read 0 (and
	 * the undo record's trade copy, which stops at ext, never holds it). */
	uint64_t store_failed; /* refused: the journal could not store them */
	uint64_t id_jumps;     /* trade ids > STATE_DEDUP_JUMP_MAX above the dedup mark:
	                          accepted undeduplicated, the mark not moved (padding too) */
	/* Version 6: what the source delivered for this feed's listeners since
	 * the writer started (set, not added, by state_feed_source_set at a
	 * bounded cadence; not journaled, not part of any identity). */
	struct state_source src;
} __attribute__((aligned(64)));

/* Duplicate filter for one (instrument, feed): ids <= hwm - WINDOW are taken
 * as duplicates (exchanges re-send old trades after reconnects); ids inside
 * the window are looked up in the bitmap; ids above hwm advance it. */
struct state_dedup {
	uint32_t inst_plus1; /* 0 = empty slot */
	uint16_t feed;
	uint16_t pad;
	uint64_t hwm;                           /* highest trade id accepted */
	uint64_t bits[STATE_DEDUP_WINDOW / 64]; /* bit (id % WINDOW) = seen */
};

/* What an armed undo record saved (state_undo.kind).  0 is a trade, so a
 * file armed by a build before kinds existed reads as one. */
enum state_undo_kind {
	STATE_UNDO_TRADE = 0, /* inst, dedup (if slot), feed up to ext[] */
	STATE_UNDO_GAP = 1,   /* the whole feed; no instrument, no dedup */
};

struct state_undo {
	_Atomic uint64_t jseq; /* 0 = disarmed */
	uint32_t inst_id;
	uint32_t dedup_slot; /* UINT32_MAX = none */
	uint16_t feed_id;
	uint16_t kind; /* enum state_undo_kind */
	uint16_t pad[2];
	uint64_t applied_jseq; /* header value before */
	struct state_instrument inst;
	struct state_dedup dedup;
	struct state_feed feed;
};

/* ---- operations block (version 6): what /metrics and stat show beyond the
 * feeds, written by the writer only, each field a single word read on its
 * own (no seqlock: a reader may see one publish's journal figures with the
 * next one's sink figures, never a torn word). ---- */
#define STATE_PUBLISH_MS 100u /* source and sink figures refreshed this often */
#define STATE_SINKS_MAX  4u   /* sinks shown */
#define STATE_SINK_NAME  32u
#define STATE_HIST_BUCKETS                                                                         \
	32u                  /* bucket i: latencies < 2^(i+10) ns (1 us .. 18 min); last: +Inf     \
	                      */
#define STATE_HIST_SHIFT 10u /* bucket 0 ends at 2^10 ns */

/* Latency stages, one sample per committed batch (the batch's oldest
 * trade): receive (ts_rx_ns) -> decoded (the batch handed to the journal),
 * and decoded -> committed (journal_commit and its sync done). */
enum state_stage { STATE_STAGE_RX_DECODED, STATE_STAGE_DECODED_COMMITTED, STATE_STAGE_COUNT };

struct state_hist {
	uint64_t count;                      /* samples */
	uint64_t sum_ns;                     /* their sum */
	uint64_t bucket[STATE_HIST_BUCKETS]; /* not cumulative; Prometheus sums them */
};

struct state_sink_ops {
	char name[STATE_SINK_NAME]; /* "" = unused slot */
	uint64_t sent;              /* messages handed on (written, or to librdkafka) */
	uint64_t acked;             /* acknowledged (Kafka delivery reports; = sent for files) */
	uint64_t errors;            /* failed writes or deliveries */
	uint64_t lag;               /* journal entries (trades sink) or candles not yet acked */
};

struct state_ops {
	uint64_t journal_entries;     /* entries written (last jseq) */
	uint64_t journal_bytes;       /* older segments whole + the current one's append offset */
	uint64_t journal_segments;    /* segment files */
	int64_t journal_last_sync_ns; /* CLOCK_MONOTONIC of the last msync (or the open) */
	int64_t published_ns;         /* wall clock of the last source/sink publish */
	struct state_sink_ops sink[STATE_SINKS_MAX];
	struct state_hist hist[STATE_STAGE_COUNT];
	/* The journal's spare segment (journal.h): rolls that took a ready one,
	 * rolls that built their own, preparations that failed.  Appended in
	 * the header page's zeroed tail: an older version-6 file reads 0. */
	uint64_t journal_spare_hits;
	uint64_t journal_spare_misses;
	uint64_t journal_spare_failures;
};

struct state_header {
	char magic[8];
	uint32_t version;
	uint32_t header_size;
	uint64_t file_size;
	uint32_t inst_cap;
	uint32_t index_cap; /* power of two >= 2 * inst_cap */
	uint32_t feed_cap;  /* TRADE_FEED_MAX */
	uint32_t dedup_cap; /* power of two >= 2 * inst_cap */
	uint64_t off_index, off_inst, off_feeds, off_dedup;
	uint32_t layout_crc; /* CRC32C of the bytes above */
	uint32_t pad0;
	/* ---- mutable ---- */
	_Atomic uint32_t inst_count;   /* instruments in use: ids 0..count-1 */
	_Atomic uint32_t clean;        /* 1 = closed cleanly, 0 while open */
	_Atomic uint64_t applied_jseq; /* last journal seq applied */
	uint64_t created_ns;
	uint64_t opened_ns;
	uint32_t writer_pid;
	uint32_t open_count;
	uint64_t recoveries;          /* times an armed undo was rolled back */
	_Atomic int64_t heartbeat_ns; /* writer's wall clock, refreshed >= 1/s */
	struct state_undo undo __attribute__((aligned(64)));
	/* Candle region (candles.h), appended after the undo record so the
	 * fields above keep their offsets: immutable, checked against the
	 * layout like the offsets above (not under layout_crc: the region
	 * header carries its own). */
	uint64_t off_candles;                              /* region start, after the dedup table */
	uint64_t candles_size;                             /* region bytes (state_candles_size) */
	struct state_ops ops __attribute__((aligned(64))); /* version 6 */
};
_Static_assert(sizeof(struct state_header) <= STATE_HEADER_SIZE, "header fits its page");

/* An open state file.  The table pointers are for reading; only
 * src/state/ writes through them. */
struct state {
	int fd;                        /* the file */
	int lock_fd;                   /* trades.lock, OFD-locked (writer), else -1 */
	bool readonly;                 /* opened STATE_OPEN_READ */
	size_t size;                   /* bytes mapped (= hdr->file_size) */
	uint8_t *map;                  /* the whole file, MAP_SHARED */
	struct state_header *hdr;      /* at map */
	uint32_t *index;               /* [index_cap] symbol hash */
	struct state_instrument *inst; /* [inst_cap] */
	struct state_feed *feeds;      /* [TRADE_FEED_MAX] */
	struct state_dedup *dedup;     /* [dedup_cap] */
	char path[4096];               /* dir/trades.state, for messages */
	/* Set by a failed state_open when the file was refused (damaged,
	 * incompatible, symlink, other owner, locked by another writer): the
	 * cli exits 3.  False when the open failed on an I/O error (exit 1). */
	bool refused;
	/* Set by a failed open when the file is ours (magic, version) but fails
	 * a checksum; a WRITE open then moves it aside (logging why) and
	 * creates it anew, and this stays set on the new, empty file. */
	bool damaged;
};

enum state_open_mode {
	STATE_OPEN_WRITE, /* create if missing, lock exclusively */
	STATE_OPEN_READ,  /* must exist; read-only map; no lock */
};

/* Opens (and for WRITE creates with inst_cap slots) dir/trades.state.
 * Refuses -- never rewrites -- a file with the wrong magic, version, size or
 * layout crc, and a file another writer holds.  A WRITE open rolls back an
 * armed undo record and marks the file not clean until state_close.
 * Returns 0, or -1 with a message naming the path and cause in err and
 * s->refused telling a refusal from an I/O failure. */
int state_open(struct state *s, const char *dir, enum state_open_mode mode, uint32_t inst_cap,
               char *err, size_t errlen);
/* Creates dir mode 0700 (whatever the umask) if it does not exist; an
 * existing directory is left as it is.  0, or -1 with err set. */
int state_mkdir(const char *dir, char *err, size_t errlen);
/* Syncs the map when clean, sets the clean flag (only once the sync
 * succeeded), unlocks, unmaps. */
void state_close(struct state *s, bool clean);
int state_sync(struct state *s); /* msync(MS_SYNC) the whole map */
/* Writer: refresh hdr->heartbeat_ns (cheap; call per batch). */
void state_heartbeat(struct state *s, int64_t now_ns);
/* Reader: pid of the process holding the writer lock, 0 if none.  On the
 * writer's own state it returns getpid() (F_GETLK never reports one's own). */
int state_writer_pid(const struct state *s);

/* Symbol -> id.  state_lookup returns the id or -1.  state_define puts a
 * symbol at an explicit id (journal replay; idempotent if it is already
 * there, -1 if id or symbol conflict).  state_next_id is the id the next new
 * symbol gets, or -1 when the table is full. */
int64_t state_lookup(const struct state *s, const char *sym, size_t len);
int state_define(struct state *s, uint32_t id, const char *sym, size_t len);
int64_t state_next_id(const struct state *s);

/* Feed name -> id; state_feed_define is idempotent, -1 if id is taken by
 * another name.  state_feed_lookup returns id or -1; state_feed_next_id the
 * next free id or -1. */
int64_t state_feed_lookup(const struct state *s, const char *name);
int state_feed_define(struct state *s, uint16_t id, const char *name);
int64_t state_feed_next_id(const struct state *s);

/* The dedup table's feed key for a trade: its feed, or for a correction
 * (which reuses the id of the trade it reverses) the feed + TRADE_FEED_MAX,
 * so corrections are deduplicated among themselves. */
static inline uint16_t state_dedup_key(const struct trade *t)
{
	return (uint16_t)(t->feed + ((t->flags & TRADE_F_CORRECTION) ? TRADE_FEED_MAX : 0));
}

/* Duplicate check, read-only: true if (inst, feed, trade_id) was accepted
 * before (or is older than the window).  trade_id 0 is never a duplicate. */
bool state_is_duplicate(const struct state *s, uint32_t inst, uint16_t feed, uint64_t trade_id);

/* Applies one journaled trade: instrument aggregates, dedup mark, feed
 * accepted/seq counters, applied_jseq = jseq, all under the undo record.
 * jseq must be applied_jseq + 1 (asserted).  A TRADE_F_CORRECTION trade
 * subtracts its qty and notional and counts a correction (first/last/high/low
 * stay; on an instrument with no trades only the correction is counted); it
 * counts as accepted on its feed and bypasses the duplicate filter (it carries
 * the id of the trade it reverses), so callers should not run
 * state_is_duplicate on corrections either. */
void state_apply_trade(struct state *s, const struct trade *t, uint64_t jseq);
/* Applies one journaled unrecoverable gap [first, last] on feed: counts
 * ext[GAPS_UNRECOVERED] once and ext[MISSING_UNRECOVERED] by last-first+1,
 * applied_jseq = jseq, all under the undo record (a kill anywhere in here
 * leaves the gap counted once after the replay).  jseq must be
 * applied_jseq + 1, feed defined, first <= last (checked, always on). */
void state_apply_gap(struct state *s, uint16_t feed, uint64_t first, uint64_t last, uint64_t jseq);
/* Advances applied_jseq over a journal entry that changes nothing else
 * (instrument and feed names are written by state_define/_feed_define). */
void state_apply_other(struct state *s, uint64_t jseq);

/* ---- feed counters that are not journaled (writer only) ----
 * Plain counters of what arrived and what was refused; no undo: a kill
 * between one and the next loses at most what the process was counting.
 * feed < TRADE_FEED_MAX and a writable state are checked (always on). */
enum state_count {
	STATE_CNT_RECEIVED,     /* messages seen */
	STATE_CNT_DUPLICATES,   /* dropped by the duplicate filter */
	STATE_CNT_STORE_FAILED, /* refused because the journal failed */
};
void state_feed_count(struct state *s, uint16_t feed, enum state_count c, uint64_t n);
/* One refused message: malformed and malformed_by[why] (why in
 * (MALFORMED_NONE, MALFORMED_COUNT), checked). */
void state_feed_malformed(struct state *s, uint16_t feed, enum malformed why);
/* Decoder counters: ext[e] += n (e < STATE_EXT_COUNT, checked). */
void state_feed_ext_add(struct state *s, uint16_t feed, enum state_ext e, uint64_t n);
/* Feed gaps a decoder's own sequencer found (MoldUDP64: holes every line
 * missed): gaps += gaps, gap_missing += missing. */
void state_feed_gaps_add(struct state *s, uint16_t feed, uint64_t gaps, uint64_t missing);

/* ---- operations figures (writer only; version 6) ----
 * Set (not added) from the writer's own counters; no undo: after a kill
 * the next publish rewrites them.  feed < TRADE_FEED_MAX, sink <
 * STATE_SINKS_MAX, stage < STATE_STAGE_COUNT and a writable state are
 * checked (always on). */
void state_feed_source_set(struct state *s, uint16_t feed, const struct state_source *src);
void state_ops_journal_spare(struct state *s, uint64_t hits, uint64_t misses, uint64_t failures);
void state_ops_journal(struct state *s, uint64_t entries, uint64_t bytes, uint64_t segments,
                       int64_t last_sync_ns);
/* Sink slot i: name (cut to STATE_SINK_NAME - 1 bytes) and counters. */
void state_ops_sink(struct state *s, unsigned i, const char *name, const struct state_sink_ops *v);
/* Stamps ops.published_ns. */
void state_ops_published(struct state *s, int64_t now_ns);
/* One latency sample (ns < 0 counts as 0) into a stage's histogram. */
void state_hist_add(struct state *s, enum state_stage stage, int64_t ns);
/* Bucket of a latency: 0 .. STATE_HIST_BUCKETS - 1. */
unsigned state_hist_bucket(int64_t ns);
/* Upper bound of bucket i in ns (INT64_MAX for the last). */
int64_t state_hist_le_ns(unsigned i);

/* Crash-test seam: when non-NULL, the appliers call it at each point where a
 * kill must leave the file recoverable (tests set it to raise SIGKILL at a
 * chosen point).  NULL outside tests; costs one predicted branch. */
enum state_point {
	STATE_POINT_ARMED,    /* undo armed, nothing applied yet */
	STATE_POINT_WRITTEN,  /* data and counters written, applied_jseq not */
	STATE_POINT_ADVANCED, /* applied_jseq advanced, undo still armed */
};
extern void (*state_crash_hook)(enum state_point where);

/* The wait between two tries of a seqlock read: *tries counts them (start
 * it at 0), *deadline_ns is set at the first yield.  false: give up (the
 * writer has held the lock for STATE_READ_WAIT_MS, or STATE_READ_RETRIES
 * tries were made). */
bool state_read_retry(uint32_t *tries, int64_t *deadline_ns);

/* Consistent copy of one instrument (seqlock).  0, or -1 if id is not
 * defined (>= inst_count) or the writer held it for as long as
 * state_read_retry waits (a writer killed mid-apply leaves it held until the
 * next WRITE open), or
 * STATE_READ_DAMAGED (-2) when the copy fails its crc: the slot is damaged
 * and must be reported, not served. */
#define STATE_READ_DAMAGED (-2)
int state_read_instrument(const struct state *s, uint32_t id, struct state_instrument *out);
/* CRC32C an instrument slot must carry in its crc field. */
uint32_t state_inst_crc(const struct state_instrument *in);

#endif
