/* candles.h -- OHLCV candles per instrument and interval, in the state file.
 *
 * Part of the state module (only src/state/ writes the mapping).  The
 * candles live in a region of their own after the state file's other tables
 * (state_header.off_candles / candles_size), so the instrument slots are not
 * touched:
 *
 *   [off_candles, +4096)   struct candle_region (config, counters, undo)
 *   ring_of                uint32_t[inst_cap * CANDLE_INTERVALS_MAX]
 *                          ring index + 1 for (instrument, interval), 0 = none
 *   rings                  struct candle_ring[ring_cap], allocated on demand
 *
 * Bound: ring_cap = min(inst_cap * CANDLE_INTERVALS_MAX, CANDLE_RINGS_MAX)
 * rings of CANDLE_RING_LEN candles, handed out to the (instrument, interval)
 * pairs that trade first: 1024 rings * 2624 bytes = 2.56 MiB plus a ring_of
 * table of 16 bytes a slot (1 MiB for 65536 slots).  A trade of an instrument that finds the pool
 * full is counted (candle_region.pool_full) and gets no candle.
 *
 * Buckets come from the exchange timestamp (ts_exch_ns, or ts_rx_ns when the
 * feed gave none): bucket = floor(ts / interval).  Each ring keeps a
 * watermark, the highest timestamp applied.  A candle is closed once
 * watermark >= its end + grace; a trade for a closed bucket is late: counted
 * (candle_ring.late) and not applied.  Everything is a function of the
 * journal's trade order and the configuration stored in the region, so a
 * rebuild from the journal gives the same rings.  Corrections
 * (TRADE_F_CORRECTION) are counted (candle_ring.corrections), not applied.
 *
 * Crash safety: state_apply_trade calls state_candles_apply under its undo
 * record; the region has its own undo record (armed after the state's and
 * disarmed after applied_jseq advanced), rolled back at the next write open
 * when its jseq was not applied.  Readers use a seqlock per ring.
 */
#ifndef TRADES_CANDLES_H
#define TRADES_CANDLES_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "trades/state.h"
#include "trades/trade.h"

#define CANDLE_MAGIC            "TRDCNDL1"               /* 8 bytes, no NUL */
#define CANDLE_INTERVALS_MAX    4u                       /* intervals per file (--candles) */
#define CANDLE_RING_LEN         32u                      /* recent candles kept per ring */
#define CANDLE_RINGS_MAX        1024u                    /* rings in the pool, at most */
#define CANDLE_REGION_HDR       4096u                    /* region header, one page */
#define CANDLE_GRACE_DEFAULT_NS 2000000000LL             /* --candle-grace default 2s */
#define CANDLE_INTERVAL_MAX_NS  (86400LL * 1000000000LL) /* 1 day */

/* One candle: bucket [start_ns, start_ns + interval). */
struct candle {
	int64_t start_ns;               /* bucket start, ns since the epoch */
	int64_t open, high, low, close; /* prices, scaled TRADE_SCALE */
	uint64_t trades;                /* trades applied */
	__int128 volume;                /* sum qty, scaled 1e8 */
	__int128 notional;              /* sum price*qty, scaled 1e16 (VWAP numerator) */
};

/* A ring's header: 64 bytes, saved whole by the undo record. */
struct candle_ring_hdr {
	_Atomic uint32_t seqlock; /* odd while the writer is inside */
	uint32_t inst;            /* instrument id */
	uint32_t interval;        /* index into candle_region.interval_ns */
	uint32_t crc;             /* CRC32C of inst, interval (ring identity) */
	uint32_t head;            /* slot the next new candle takes */
	uint32_t count;           /* valid candles, <= CANDLE_RING_LEN */
	int64_t watermark_ns;     /* highest bucketed timestamp applied */
	uint64_t late;            /* trades for a closed candle: not applied */
	uint64_t corrections;     /* corrections seen: not applied */
	uint8_t pad[16];
};

struct candle_ring {
	struct candle_ring_hdr h;
	struct candle c[CANDLE_RING_LEN]; /* by creation order; sort by start_ns */
};

/* What one apply may change in one ring: saved before, restored on rollback. */
struct candle_undo_entry {
	uint32_t ring;    /* ring index */
	uint32_t slot;    /* candle slot the apply wrote */
	uint32_t created; /* 1 = the apply allocated this ring */
	uint32_t pad;
	struct candle_ring_hdr hdr; /* ring header before */
	struct candle c;
};

struct candle_undo {
	_Atomic uint64_t jseq; /* 0 = disarmed; else the trade's journal seq */
	uint32_t n;            /* entries in use */
	uint32_t rings_used;   /* candle_region.rings_used before */
	uint64_t pool_full;    /* candle_region.pool_full before */
	struct candle_undo_entry e[CANDLE_INTERVALS_MAX];
};

struct candle_region {
	char magic[8];
	uint32_t ring_cap;   /* rings in the pool */
	uint32_t ring_len;   /* CANDLE_RING_LEN */
	uint32_t inst_cap;   /* ring_of has inst_cap * CANDLE_INTERVALS_MAX entries */
	uint32_t layout_crc; /* CRC32C of the bytes above */
	/* ---- configuration: written once, by state_candles_configure ---- */
	uint32_t n_intervals; /* 0 = candles off */
	uint32_t pad0;
	int64_t interval_ns[CANDLE_INTERVALS_MAX]; /* ascending */
	int64_t grace_ns;
	/* ---- mutable ---- */
	_Atomic uint32_t rings_used; /* rings handed out: 0..rings_used-1 */
	uint32_t pad1;
	uint64_t pool_full; /* trades that found no free ring */
	struct candle_undo undo __attribute__((aligned(64)));
};
_Static_assert(sizeof(struct candle_region) <= CANDLE_REGION_HDR, "region header fits its page");
_Static_assert(sizeof(struct candle) == 80, "candle size is part of the layout");
_Static_assert(sizeof(struct candle_ring_hdr) == 64, "ring header is one cache line");
_Static_assert(sizeof(struct candle_ring) == 64 + CANDLE_RING_LEN * 80, "ring layout");

/* Bytes of the candle region of a file with inst_cap slots (page multiple). */
uint64_t state_candles_size(uint32_t inst_cap);
/* Writes the region header of a new file (state_create). */
void state_candles_init(struct state *s);
/* Validates the region header: 0, or -1 naming the cause in err. */
int state_candles_check(const struct state *s, char *err, size_t errlen);
/* Rolls back an armed candle undo whose trade was not applied (write open,
 * after the state's own rollback); disarms one whose trade was applied. */
void state_candles_recover(struct state *s);

/* Sets the intervals (ascending, 1s..1d, at most CANDLE_INTERVALS_MAX, n may
 * be 0 = off) and grace of a writable state.  A new file starts with 1m and
 * CANDLE_GRACE_DEFAULT_NS (what a writer that never calls this keeps).  A
 * file with no journal entry applied takes any setting; one configured the
 * same way is accepted; anything else is refused (the rings would differ from a
 * rebuild): -1 with a message in err naming the file and both settings. */
int state_candles_configure(struct state *s, const int64_t *interval_ns, uint32_t n,
                            int64_t grace_ns, char *err, size_t errlen);

/* Called by state_apply_trade under its undo record (arms the region's). */
void state_candles_apply(struct state *s, const struct trade *t, uint64_t jseq);
/* Called by state_apply_trade after applied_jseq advanced. */
void state_candles_disarm(struct state *s);

/* ---- readers (any process; state opened READ or WRITE) ---- */

/* Intervals the file keeps (0 = candles off), and interval k's length in ns
 * (0 when k >= that count); the grace in ns. */
uint32_t state_candles_intervals(const struct state *s);
int64_t state_candles_interval_ns(const struct state *s, uint32_t k);
int64_t state_candles_grace_ns(const struct state *s);
/* Index of interval_ns in the file's configuration, or -1. */
int state_candles_interval(const struct state *s, int64_t interval_ns);

/* Copies the candles of (instrument, interval index) into out[0..max),
 * oldest first (sorted by start_ns), under the ring's seqlock.  Returns the
 * number copied (0 if the instrument has no ring yet), or -1 if the
 * instrument or interval is out of range or the writer held the ring for
 * as long as state_read_retry waits.  If hdr is non-NULL it gets the ring's header
 * (late, corrections, watermark_ns; zeroed when there is no ring). */
int state_candles_read(const struct state *s, uint32_t inst, uint32_t interval, struct candle *out,
                       uint32_t max, struct candle_ring_hdr *hdr);

/* The same by ring index (0 .. state_candles_rings_used - 1): the ring's
 * instrument and interval are in hdr (required here).  Rings are handed out
 * in trade order, so a rebuild from the journal gives every ring the same
 * index.  Returns the count, or -1 if ring is not in use or was held. */
int state_candles_ring_read(const struct state *s, uint32_t ring, struct candle *out, uint32_t max,
                            struct candle_ring_hdr *hdr);
/* Rings in use (<= ring_cap). */
uint32_t state_candles_rings_used(const struct state *s);
/* Index of the ring of (inst, interval k), or -1 when it has none. */
int state_candles_ring_index(const struct state *s, uint32_t inst, uint32_t k);
/* Late trades (for a candle already closed: counted, not applied) summed
 * over the rings of interval k; each ring's count is one word read on its
 * own.  Trades that found the ring pool full (no candle at all). */
uint64_t state_candles_late(const struct state *s, uint32_t k);
uint64_t state_candles_pool_full(const struct state *s);
/* A ring's watermark without copying it (a cheap "did it move" check);
 * INT64_MIN for a ring not in use. */
int64_t state_candles_ring_watermark(const struct state *s, uint32_t ring);

/* True if a candle of the ring with this watermark is closed
 * (watermark >= start + interval + grace). */
bool state_candle_closed(const struct state *s, uint32_t interval, const struct candle *c,
                         int64_t watermark_ns);

/* Writer side, for sinks: the ring's watermark (INT64_MIN when the instrument
 * has no ring for interval k), and the candles that closed when it moved
 * from `before` to now (end + grace in (before, now]), oldest first, into
 * out[0..max).  Each candle closes exactly once: the watermark only grows.
 * Returns the count (0 when none or no ring). */
int64_t state_candles_watermark(const struct state *s, uint32_t inst, uint32_t k);
int state_candles_closed_since(const struct state *s, uint32_t inst, uint32_t k, int64_t before,
                               struct candle *out, uint32_t max);

/* VWAP = notional / volume scaled TRADE_SCALE, rounded half to even
 * (dec128_div_round); 0 when volume is 0. */
__int128 candle_vwap(const struct candle *c);

/* Parses "1s,1m,5m,1h" (units s, m, h, d; each 1s..1d, ascending, no
 * repeats, at most CANDLE_INTERVALS_MAX; "off" = none) into ns.  Returns the
 * count, or -1 with a message naming the text in err. */
int candle_parse_intervals(const char *text, int64_t *out, char *err, size_t errlen);
/* Formats an interval as "1s", "5m", "1h", "1d" (largest exact unit). */
const char *candle_interval_name(int64_t ns, char *buf, size_t len);
/* Parses a duration "2s", "500ms", "0" (units ns, us, ms, s, m, h) into ns
 * in [0, CANDLE_INTERVAL_MAX_NS].  0, or -1 with a message in err. */
int candle_parse_duration(const char *text, int64_t *out, char *err, size_t errlen);

#endif
