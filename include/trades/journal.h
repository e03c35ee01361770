/* journal.h -- the append-only, memory-mapped, checksummed trade journal.
 *
 * STATE_DIR/journal/ holds segment files named by the journal sequence of
 * their first entry, "%020llu.seg", so they sort by name and a reader finds
 * the segment holding jseq N by binary search.  Each segment is created at its
 * full size (ftruncate: zero-filled) and mapped once:
 *
 *   [0, 64)    struct journal_seg_header  (magic, version, first_jseq, size)
 *   [64, ...)  entries: struct journal_frame + payload (len bytes, 8-aligned)
 *              a frame whose crc and len are 0 marks the end of the data
 *
 * Entry i of the whole journal has jseq i (1-based, no holes).  crc is CRC32C
 * over the frame after the crc field and the payload, so a torn or partly
 * written entry never validates.  On open the writer walks the last segment;
 * at the first frame that does not validate it zeroes the rest of the segment
 * (the torn tail), logs how many bytes it dropped, and appends from there.
 *
 * Durability: every append is a memcpy into a shared file mapping, so a
 * process crash (kill -9) loses nothing already appended (an append cut off
 * half-way by the kill is a torn tail: the next open drops that one entry).  For power loss,
 * --sync decides when msync(MS_SYNC) runs: never (none), every N ms
 * (interval:N), or at every journal_commit (always) -- the pipeline commits
 * at the end of every receive batch, before it reads more input.
 */
#ifndef TRADES_JOURNAL_H
#define TRADES_JOURNAL_H

#include <dirent.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JOURNAL_MAGIC           "TRDJRNL1"
#define JOURNAL_VERSION         1u
#define JOURNAL_DIR_NAME        "journal"
#define JOURNAL_LOCK_NAME       "journal.lock" /* in STATE_DIR: writer exclusion, 0600 */
#define JOURNAL_SEG_HEADER      64u
#define JOURNAL_SEGMENT_DEFAULT (64ull << 20) /* 64 MiB */
#define JOURNAL_SEGMENT_MIN     (64ull << 10) /* 64 KiB */
#define JOURNAL_SEGMENT_MAX     (1ull << 40)
#define JOURNAL_PAYLOAD_MAX     1024u

enum journal_type {
	JOURNAL_TRADE = 1,      /* payload: struct trade (64 bytes) */
	JOURNAL_INSTRUMENT = 2, /* payload: struct journal_name (instrument id) */
	JOURNAL_FEED = 3,       /* payload: struct journal_name (feed id) */
	JOURNAL_GAP = 4,        /* payload: struct journal_gap */
};

struct journal_frame {
	uint32_t crc;  /* CRC32C of bytes [4, sizeof frame + len) */
	uint16_t type; /* enum journal_type */
	uint16_t len;  /* payload bytes, multiple of 8, <= JOURNAL_PAYLOAD_MAX */
	uint64_t jseq; /* 1-based, consecutive across segments */
};
_Static_assert(sizeof(struct journal_frame) == 16, "frame header is 16 bytes");

struct journal_name {
	uint32_t id;
	uint16_t len;
	uint16_t pad;
	char name[64]; /* NUL-padded */
};

struct journal_gap { /* an unrecoverable feed gap, recorded for audit */
	uint64_t first_missing;
	uint64_t last_missing;
	uint16_t feed;
	uint16_t pad[3];
};

struct journal_seg_header {
	char magic[8];
	uint32_t version;
	uint32_t header_size;
	uint64_t first_jseq;
	uint64_t segment_bytes;
	uint64_t created_ns;
	uint8_t pad[24];
};
_Static_assert(sizeof(struct journal_seg_header) == JOURNAL_SEG_HEADER, "segment header");

enum journal_sync {
	JOURNAL_SYNC_NONE,
	JOURNAL_SYNC_INTERVAL,
	JOURNAL_SYNC_ALWAYS,
};

struct journal_config {
	const char *dir;        /* STATE_DIR; segments live in dir/journal */
	uint64_t segment_bytes; /* size of a new segment */
	enum journal_sync sync;
	uint32_t sync_interval_ms;
};

/* The next segment, prepared off the writer's thread (see journal.c): a
 * file JOURNAL_SPARE_NAME in the journal directory, sized, allocated, mapped
 * and with every page faulted in, so a roll is a header, a rename and a
 * directory fsync, and appends into it take no page faults.  mu guards every
 * field below it; the writer takes a ready spare at a roll and asks for the
 * next one. */
#define JOURNAL_SPARE_NAME "spare.seg.tmp"

struct journal_spare {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t thread;
	bool running; /* the thread was started (joined at close) */
	bool want;    /* the writer asks for a spare */
	bool quit;
	int writer_tid; /* the thread that opened the journal (the writer) */
	/* the segment a roll left: unmapped and closed by the thread (old_fd
	 * >= 0 while one waits) */
	int old_fd;
	uint8_t *old_map;
	uint64_t old_size;
	int fd; /* the ready spare: fd >= 0 and map != NULL; else -1 */
	uint8_t *map;
	int err;           /* errno of the last failed preparation, 0 none */
	uint64_t hits;     /* rolls that took a ready spare */
	uint64_t misses;   /* rolls that created their segment themselves */
	uint64_t failures; /* preparations that failed (the roll then creates) */
};

struct journal {
	struct journal_config cfg;
	char dir[4096];
	int dirfd;
	int lockfd; /* STATE_DIR/journal.lock, flock(LOCK_EX) while open */
	int fd;     /* current segment */
	uint8_t *map;
	uint64_t map_size;
	uint64_t off;        /* append offset in the current segment */
	uint64_t synced_off; /* bytes of the current segment known synced */
	uint64_t first_jseq; /* of the current segment */
	uint64_t next_jseq;  /* jseq the next append gets */
	int64_t last_sync_ns;
	uint64_t torn_bytes;    /* dropped at open (for tests and logs) */
	uint64_t segments;      /* segment files present */
	uint64_t syncs;         /* msync calls made */
	uint64_t sync_failures; /* msync calls that failed (logged, rate-limited) */
	uint64_t dir_syncs;     /* fsync calls on the directory */
	bool dir_unsynced;      /* a roll renamed without one (sync none): due at close */
	/* Failed state (journal_failed): set when a roll fails, cleared when a
	 * roll succeeds.  Until retry_ns every append that needs a roll fails
	 * at once; the wait doubles from 100 ms up to 1 s per failed retry. */
	int failed_errno;       /* 0, or the errno of the last failed roll */
	uint32_t backoff_ms;    /* current wait between retries, 0 when not failed */
	int64_t retry_ns;       /* timefmt_mono_ns() deadline of the next retry */
	uint64_t roll_failures; /* rolls that failed (segment creation or msync) */
	uint64_t append_failed; /* appends that returned 0 */
	/* Set by a failed journal_open when a file was refused (damaged in the
	 * middle, bad header, symlink, other owner, locked by another writer):
	 * the cli exits 3.  False when it failed on an I/O error (exit 1). */
	bool refused;
	struct journal_spare spare;
};

/* Parses "none", "always" or "interval:MS" (1..3600000).  0 or -1. */
int journal_sync_parse(const char *s, enum journal_sync *mode, uint32_t *interval_ms);

/* Opens or creates dir/journal, finds the end, truncates a torn tail.
 * Creates the first segment of an empty journal.  Takes an exclusive flock
 * on the journal directory (a second writer is refused).  segment_bytes 0
 * means JOURNAL_SEGMENT_DEFAULT; others must be page multiples in
 * [MIN, MAX].  Only the last segment's frames are walked: damage in an
 * earlier segment is the reader's to find.
 * 0, or -1 with err filled (path and cause). */
int journal_open(struct journal *j, const struct journal_config *cfg, char *err, size_t errlen);

/* Appends one entry; returns its jseq (>= 1), or 0 when it was not stored
 * (the caller counts it: store_failed).  Rolls to a new segment when the
 * entry does not fit.  A roll that fails (the new segment cannot be created:
 * ENOSPC, EIO, ...; or, unless --sync none, the old one cannot be msynced)
 * is logged (rate-limited) and puts the journal in the failed state
 * (journal_failed): from then on an append that needs a roll returns 0
 * without any system call until a retry deadline, 100 ms after the first
 * failure and doubling up to 1 s; the first append after the deadline
 * retries the roll, and a roll that succeeds clears the state, so appends
 * resume by themselves once space is freed.  Nothing is lost from the
 * journal either way: the jseq a failed append would have had is given to
 * the next entry stored. */
uint64_t journal_append(struct journal *j, uint16_t type, const void *payload, uint16_t len);

/* true while the journal is in the failed state (the last roll failed and
 * none has succeeded since), with *err (if not NULL) set to that roll's
 * errno; false and *err = 0 otherwise.  No system call: callers may ask per
 * append, e.g. to tell a store_failed from a dedup or a shutdown. */
bool journal_failed(const struct journal *j, int *err);

/* In the failed state and past the retry deadline: retries the roll with no
 * entry to append, so a caller that holds its data back can learn that the
 * journal stores again.  0 when not failed or the roll succeeded, -1 when
 * still failed (before the deadline: no system call). */
int journal_retry(struct journal *j);

/* End of a batch: msync per the sync policy. */
void journal_commit(struct journal *j);
/* msync(MS_SYNC) everything written whatever the policy.  0 or -1 (logged). */
int journal_sync(struct journal *j);
/* Syncs everything written, unmaps, unlocks.  Also safe after a failed open. */
void journal_close(struct journal *j);

/* The spare's counters (hits, misses, failures), read under its lock. */
struct journal_spare_counts {
	uint64_t hits, misses, failures;
};
void journal_spare_counts(struct journal *j, struct journal_spare_counts *out);

/* ---- Shared by the writer, the reader and tools that inspect a journal ---- */

#define JOURNAL_SEGMENTS_MAX 1000000u /* journal_open refuses a directory with more */

/* What journal_frame_check found at an offset of a mapped segment. */
enum journal_frame_state {
	JOURNAL_FRAME_VALID,   /* a complete entry carrying the expected jseq */
	JOURNAL_FRAME_END,     /* all-zero frame, or no room for one: end of data */
	JOURNAL_FRAME_TORN,    /* bad length or crc: torn, being written, or damaged */
	JOURNAL_FRAME_CORRUPT, /* crc good but jseq or type wrong: damage, never a torn write */
};

/* Checks the frame at off (8-aligned, >= JOURNAL_SEG_HEADER) of a segment
 * mapping of seg_bytes bytes against the jseq it must carry.  Reads the crc
 * first (acquire), so it is safe on a segment another process appends to. */
enum journal_frame_state journal_frame_check(const uint8_t *seg, uint64_t seg_bytes, uint64_t off,
                                             uint64_t jseq);

/* The first offset o in (from, end), 8-aligned, where a complete entry
 * validates on its own (crc, length, known type; any jseq), with *jseq set
 * to its jseq; 0 if there is none.  At most (end - from) / 8 steps, a crc
 * only where the header is plausible.  A writer stores entries in order,
 * each crc last, so a valid entry after a bad one is damage, never an
 * append in progress. */
uint64_t journal_frame_find(const uint8_t *seg, uint64_t seg_bytes, uint64_t from, uint64_t end,
                            uint64_t *jseq);

/* 0 if h is a valid header for the segment named first_jseq whose file is
 * file_bytes long; -1 and what is wrong in why otherwise. */
int journal_seg_check(const struct journal_seg_header *h, uint64_t first_jseq, uint64_t file_bytes,
                      char *why, size_t whylen);

/* true, and *first_jseq, if name is a segment name: 20 digits + ".seg", >= 1. */
bool journal_seg_name_parse(const char *name, uint64_t *first_jseq);

/* Every listing of a journal directory, writer's and readers', goes through
 * journal_dir_each: fn(ctx, name, err, errlen) per entry, in readdir order,
 * at most JOURNAL_DIR_ENTRIES_MAX of them.  fn returns 0 to go on, > 0 to
 * stop (found), < 0 for an error it wrote to err.  Returns fn's non-zero
 * value, 0 when every entry was seen, or -1 with err (naming dir) when
 * readdir fails or there are too many entries. */
#define JOURNAL_DIR_ENTRIES_MAX (2ull * JOURNAL_SEGMENTS_MAX + 1024)
typedef int (*journal_dir_fn)(void *ctx, const char *name, char *err, size_t errlen);
int journal_dir_each(DIR *d, const char *dir, journal_dir_fn fn, void *ctx, char *err,
                     size_t errlen);

/* Sequential reader; works on a journal another process is appending to. */
struct journal_reader {
	char dir[4096];
	int fd;
	uint8_t *map;
	uint64_t map_size;
	uint64_t off;
	uint64_t next_jseq; /* jseq of the entry next() returns */
	uint64_t seg_first; /* first jseq of the mapped segment */
};

/* Positions at the first entry with jseq >= from (1 = start; 0 is taken as
 * 1).  A journal with no segment (or no directory) opens at jseq 1 and
 * next() returns 0 until the writer creates one.  0, or -1 with err filled
 * (a bad segment header, or from more than one past the last entry). */
int journal_reader_open(struct journal_reader *r, const char *state_dir, uint64_t from_jseq,
                        char *err, size_t errlen);
/* 1: *frame and *payload point at the next entry (valid until the next call);
 * 0: no further entry yet (end of data; call again later to follow);
 * -1: corruption in the middle of the journal (logged: segment, offset,
 * jseq): a bad frame once a later segment exists, a frame with a good crc
 * but the wrong jseq or type, or a bad or zero frame with a valid entry
 * within JOURNAL_READER_LOOKAHEAD bytes after it (an append in progress
 * never has one).  The lookahead is bounded so that the live tail costs
 * little; longer damage with data behind it is what journal_open refuses. */
#define JOURNAL_READER_LOOKAHEAD (2u * (16u + JOURNAL_PAYLOAD_MAX))
int journal_reader_next(struct journal_reader *r, const struct journal_frame **frame,
                        const void **payload);
void journal_reader_close(struct journal_reader *r);

#endif
