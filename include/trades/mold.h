/* mold.h -- the MoldUDP64 session sequencer: datagrams in, messages out in
 * sequence order, exactly once.
 *
 * MoldUDP64 (Nasdaq, v1.00), all integers big-endian:
 *
 *   downstream packet  session[10] seq[8] count[2] then count times
 *                      { len[2] payload[len] }; seq numbers the first message
 *                      count 0      = heartbeat: seq is the next message's seq
 *                      count 0xFFFF = end of session: likewise, no messages
 *   request packet     session[10] seq[8] count[2]: "send me count messages
 *                      from seq"; the answer is ordinary downstream packets,
 *                      unicast back to the requesting socket
 *
 * One mold_session follows one session fed by up to three lines: line 0 and
 * line 1 are the A and B copies of the same stream (A/B arbitration: the
 * first copy of each sequence number wins, the other is a duplicate), line 2
 * is the re-request server's answers.
 *
 * A hole (a packet, heartbeat or end-of-session showing a seq above the next
 * expected one) is not yet a gap: the packets after it wait in a bounded
 * buffer while the other line (or a late, reordered packet) gets `wait` to
 * fill it.  With two lines the wait ends early once both lines have shown
 * seqs past the hole: both missed it (a line that reorders may then fill it
 * late, which counts as recovered).  Only if every line missed it is it a
 * gap: counted, logged,
 * re-requested when a request callback is configured (timeout_ns per round,
 * `retries` rounds without progress), and finally either recovered or given
 * up -- then the buffered packets after it are delivered and the missing
 * range goes to the gap callback with recovered=false (the caller journals
 * it).  Without a request callback and with one line the default wait is 0:
 * nothing can fill the hole, so waiting would only delay the messages after
 * it (set single_wait_ns to tolerate reordering on one line).
 *
 * Holes are recovered in parallel: while the lowest gap's re-request is
 * outstanding, each later hole between buffered packets that every line
 * missed (one line: at once, as the first; two: once both lines passed it
 * or its wait ran out) is declared and re-requested at once, up to
 * MOLD_AHEAD_MAX of them ("ahead" holes).  An ahead hole filled before the
 * delivery reaches it is settled there as recovered; one still missing then
 * becomes the declared gap with its request already out (its deadline runs
 * from that request), and retries and give-up go on as for any gap.  New
 * holes only ever appear next to a newly buffered packet, so a packet costs
 * O(MOLD_AHEAD_MAX) more; mold_tick looks over the whole buffer for holes
 * whose wait ran out since.
 *
 * Everything is bounded: the buffer holds MOLD_BUFFER_PACKETS packets of up
 * to MOLD_PACKET_MAX bytes; when a new out-of-order packet finds it full, the
 * oldest gap is given up early (buffer_overflow).  A request round sends at
 * most MOLD_REQUEST_BURST packets of at most request_max messages each.
 * struct mold_session holds the buffer inline (about 6 MiB): allocate it
 * once at init, never on the stack.  Callbacks run inside mold_packet and
 * mold_tick and must not call back into them (checked, always on).
 */
#ifndef TRADES_MOLD_H
#define TRADES_MOLD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "trades/log.h"

#define MOLD_SESSION_LEN    10
#define MOLD_HEADER_LEN     20      /* session + seq + count */
#define MOLD_REQUEST_LEN    20      /* session + seq + count */
#define MOLD_COUNT_EOS      0xFFFFu /* end of session */
#define MOLD_LINES          3       /* 0 = A, 1 = B, 2 = re-request answers */
#define MOLD_LINE_REREQUEST 2
#define MOLD_PACKET_MAX     1472 /* UDP payload of a 1500-byte IPv4 MTU */
/* More than SOURCE_BURST: a whole receive batch of one line can arrive
 * before the other line's copy of a packet it lacks. */
/* Packets held behind a gap.  An answer to a re-request is read only after
 * the receive batch it was asked from (the io_uring backend takes up to
 * 2048 datagrams in one), so the buffer holds more than a batch plus the
 * round trip: at 512, 1% random loss at 5.6 M msgs/s gave up 184-4971 of
 * 39,855 missing messages (buffer full); at 4096, none. */
#define MOLD_BUFFER_PACKETS      4096
#define MOLD_REQUEST_BURST       16 /* request packets per round */
#define MOLD_AHEAD_MAX           8  /* later holes re-requested while the first is */
#define MOLD_TIMEOUT_DEFAULT_NS  (200 * 1000000LL)
#define MOLD_RETRIES_DEFAULT     3
#define MOLD_REQUEST_MAX_DEFAULT 256
#define MOLD_WAIT_MAX_NS         (60 * 1000000000LL)
/* A packet whose first seq is more than this above the next seq expected is
 * a sequence jump: counted (seq_jumps), logged rate-limited and dropped, not
 * followed -- one spoofed heartbeat at 2^64-2 would else give up an
 * 18-quintillion-message gap and make every real packet a duplicate.  The
 * jump is followed only when a data packet continues it exactly (its first
 * seq is one past the previous jumped packet's last): a late join onto a
 * session already far along costs one packet more, which the gap declared
 * then covers (and a re-request can recover). */
/* 2^32 messages: more than ten days of the full Nasdaq TotalView feed
 * (about 400 M messages a day) in one step. */
#define MOLD_JUMP_MAX (1ull << 32)

_Static_assert(2 * MOLD_BUFFER_PACKETS <= UINT16_MAX, "buffer and order indexes are 16 bits");
_Static_assert(MOLD_PACKET_MAX >= MOLD_HEADER_LEN + 2, "a slot holds a one-message packet");

struct mold_config {
	uint8_t session[MOLD_SESSION_LEN]; /* expected session, if session_set */
	bool session_set;                  /* false: adopt the first packet's (logged) */
	uint64_t first_seq;                /* seq expected first; 0 = adopt the first
	                                      packet's (join mid-session, logged) */
	unsigned lines;                    /* live lines configured (1 or 2); a packet on
	                                      line 1 also makes it 2 */
	int64_t wait_ns;                   /* with 2 lines: how long a hole waits for the
	                                      other line before it is a gap */
	int64_t single_wait_ns;            /* with 1 line: the same (0 = gap at once) */
	int64_t timeout_ns;                /* answer deadline of a request round */
	unsigned retries;                  /* rounds without progress after the first */
	uint16_t request_max;              /* messages per request packet, >= 1 */
	unsigned ahead_max;                /* later holes re-requested in parallel with the
	                                      lowest, 0..MOLD_AHEAD_MAX (0: one at a time) */
};

struct mold_handler {
	void *ctx;
	/* One message, in seq order, exactly once.  rx_ns/rx_kernel are the
	 * receive stamp of the datagram that carried it. */
	void (*message)(void *ctx, const uint8_t *msg, size_t len, uint64_t seq, int64_t rx_ns,
	                bool rx_kernel);
	/* [first, last] was missed by every line; recovered: filled by a
	 * re-request (or a late copy) after being declared; false: given up,
	 * the stream continues after last.  NULL: not told. */
	void (*gap)(void *ctx, uint64_t first, uint64_t last, bool recovered);
	/* Sends a request packet to the re-request server; 0 or -1 (counted).
	 * NULL = no recovery configured. */
	int (*request)(void *ctx, const uint8_t *pkt, size_t len);
	/* Rare events (session adopted, gap declared/given up, end of session). */
	void (*log)(void *ctx, const char *msg);
};

struct mold_stats {
	uint64_t packets; /* datagrams handed in */
	uint64_t line_packets[MOLD_LINES];
	uint64_t malformed;     /* bad header/lengths: dropped whole */
	uint64_t wrong_session; /* another session's packets, dropped (logged) */
	uint64_t seq_jumps;     /* packets > MOLD_JUMP_MAX ahead, dropped (logged) */
	uint64_t heartbeats;
	uint64_t end_of_session;
	uint64_t messages_delivered;
	uint64_t dup_messages;           /* messages of packets already had whole */
	uint64_t overlap_messages;       /* already-had messages of a partly new packet */
	uint64_t holes;                  /* holes waited on (any line missed something) */
	uint64_t holes_filled;           /* filled by another line in time: not gaps */
	uint64_t gaps;                   /* holes every line missed */
	uint64_t gap_messages;           /* messages missing in those gaps */
	uint64_t recovered_messages;     /* of gap_messages: filled after all */
	uint64_t unrecoverable_messages; /* of gap_messages: given up */
	uint64_t buffer_overflow;        /* gaps given up early: buffer full */
	uint64_t oversize;               /* out-of-order packets too big to buffer */
	uint64_t buffered;               /* packets that went through the buffer */
	uint64_t requests_sent;          /* request packets */
	uint64_t ahead_holes;            /* gaps re-requested ahead of the lowest one */
	uint64_t request_errors;         /* request callback failures */
};

enum mold_state {
	MOLD_IDLE,       /* no hole */
	MOLD_WAITING,    /* hole seen, waiting for the other line */
	MOLD_REQUESTING, /* gap declared, re-request rounds running */
};

struct mold_slot {
	uint64_t first; /* seq of the packet's first message */
	uint16_t count;
	uint16_t len; /* bytes in data */
	bool rx_kernel;
	int64_t rx_ns;
	int64_t seen_ns; /* monotonic arrival: when the hole before it showed */
	uint8_t data[MOLD_PACKET_MAX];
};

/* A later hole declared and re-requested while the lowest gap is out. */
struct mold_ahead {
	uint64_t first, last;
	uint64_t req_last; /* last seq its request asked for */
	int64_t sent_ns;   /* monotonic: when its request went out */
};

struct mold_session {
	struct mold_config cfg;
	struct mold_handler h;
	uint8_t session[MOLD_SESSION_LEN];
	bool have_session;
	bool busy;               /* inside a call: callbacks must not re-enter */
	uint8_t lines_seen;      /* bit per line 0/1 */
	uint64_t line_end[2];    /* per line 0/1: one past the highest seq it showed */
	uint64_t next;           /* seq of the next message to deliver; 0 = adopt */
	uint64_t horizon;        /* one past the highest seq known to exist */
	int64_t horizon_seen_ns; /* when horizon last grew */
	enum mold_state state;
	/* the declared gap (MOLD_REQUESTING) */
	uint64_t gap_first, gap_last;
	uint64_t gap_unrecovered; /* messages of it given up so far */
	uint64_t req_last;        /* last seq asked for in the current round */
	uint64_t req_next;        /* next at the start of the current round */
	int64_t req_deadline_ns;
	unsigned req_retries; /* rounds without progress so far */
	/* buffer: order[ohead..ohead+nbuf) are slot indexes sorted by first
	 * seq (delivery takes from the front in O(1); the window moves back to
	 * 0 when it reaches the end); free_slots[0..nfree) the unused ones */
	uint16_t nbuf, nfree, ohead;
	uint64_t buf_end; /* >= one past every buffered packet's last seq; 0 when empty */
	uint16_t order[2 * MOLD_BUFFER_PACKETS];
	uint16_t free_slots[MOLD_BUFFER_PACKETS];
	uint8_t nahead;       /* of ahead[], ascending, all above gap_last */
	int64_t ahead_due_ns; /* when a hole not yet missed by every line will be */
	struct mold_ahead ahead[MOLD_AHEAD_MAX];
	uint64_t jump_next;           /* one past the last jumped packet; 0 = none */
	struct ratelimit hostile_rl;  /* logs of seq jumps and wrong sessions */
	struct ratelimit gap_rl;      /* gap log lines */
	struct ratelimit overflow_rl; /* buffer-full log lines (gap lines do not hide them) */
	int64_t now;                  /* now_mono_ns of the current call */
	uint64_t eos_seq;             /* the end-of-session packet's seq; 0 = none yet */
	bool complete;                /* delivered up to eos_seq, every gap settled (logged) */
	struct mold_stats stats;
	struct mold_slot slots[MOLD_BUFFER_PACKETS];
};

/* Defaults: no session (adopt), first_seq 1, 1 line, wait = timeout =
 * MOLD_TIMEOUT_DEFAULT_NS, single_wait 0, MOLD_RETRIES_DEFAULT retries,
 * MOLD_REQUEST_MAX_DEFAULT messages per request, MOLD_AHEAD_MAX ahead. */
void mold_config_default(struct mold_config *cfg);

/* cfg and h are copied; h->message is required, the rest may be NULL. */
void mold_init(struct mold_session *m, const struct mold_config *cfg, const struct mold_handler *h);

/* Handles one datagram received on line (< MOLD_LINES) at rx_ns (wall
 * clock, passed through to the message callback); now_mono_ns drives the
 * deadlines.  Returns the number of messages delivered by this call (this
 * packet's and the buffered ones it released), MOLD_MALFORMED (counted,
 * dropped whole), MOLD_WRONG_SESSION (counted, logged, dropped) or
 * MOLD_SEQ_JUMP (MOLD_JUMP_MAX; counted, logged, dropped). */
#define MOLD_MALFORMED     (-1)
#define MOLD_WRONG_SESSION (-2)
#define MOLD_SEQ_JUMP      (-3)
int mold_packet(struct mold_session *m, unsigned line, const uint8_t *pkt, size_t len,
                int64_t rx_ns, bool rx_kernel, int64_t now_mono_ns);

/* Runs the deadlines: declares holes that waited long enough, re-requests,
 * gives up (delivering what was buffered after the gap).  Call it at least
 * every few ms while mold_deadline() is not INT64_MAX. */
void mold_tick(struct mold_session *m, int64_t now_mono_ns);

/* Monotonic time of the next deadline, or INT64_MAX when nothing waits. */
int64_t mold_deadline(const struct mold_session *m);

/* Writes a request packet for count (>= 1) messages from seq.  Returns
 * MOLD_REQUEST_LEN. */
int mold_request_encode(uint8_t out[MOLD_REQUEST_LEN], const uint8_t session[MOLD_SESSION_LEN],
                        uint64_t seq, uint16_t count);

#endif
