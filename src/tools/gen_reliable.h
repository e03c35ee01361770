/* gen_reliable.h -- trades-gen --reliable: a TCP sender that keeps every
 * line until the receiver acknowledges it ("ack N\n" lines from a
 * `trades serve --tcp HOST:PORT,ack` listener; README "Acknowledged TCP
 * ingest").
 *
 * Each of the C connections has its own ring of unacknowledged bytes
 * (REL_RING_BYTES) and line ends (REL_RING_LINES); a line waits for room
 * when the ring is full, so memory is bounded whatever the receiver does.
 * When a connection drops (EOF, reset) or no ack arrives for REL_STALL_MS
 * while lines wait, it reconnects (backoff from REL_BACKOFF_MIN_MS doubling
 * to REL_BACKOFF_MAX_MS, at most REL_RETRIES attempts in a row without an
 * ack) and resends everything after its last ack: the counts of a new
 * connection start again at 0.  rel_finish waits for the final ack.
 */
#ifndef TRADES_GEN_RELIABLE_H
#define TRADES_GEN_RELIABLE_H

#include <stddef.h>
#include <stdint.h>

#define REL_RING_BYTES     (4u << 20) /* unacknowledged bytes per connection */
#define REL_RING_LINES     (1u << 15) /* unacknowledged lines per connection */
#define REL_STALL_MS       2000       /* no ack this long while lines wait: reconnect */
#define REL_BACKOFF_MIN_MS 10
#define REL_BACKOFF_MAX_MS 1000
#define REL_RETRIES        120 /* reconnects in a row without any ack: give up */
#define REL_CONNS_MAX      256 /* as GEN_STREAMS_MAX */

_Static_assert((REL_RING_BYTES & (REL_RING_BYTES - 1)) == 0, "byte ring is a power of two");
_Static_assert((REL_RING_LINES & (REL_RING_LINES - 1)) == 0, "line ring is a power of two");

struct rel;

struct rel_stats {
	uint64_t bytes;      /* bytes written, resends included */
	uint64_t lines;      /* lines queued */
	uint64_t reconnects; /* successful connects after the first */
	uint64_t resent;     /* bytes written again after a reconnect */
	uint64_t stalls;     /* reconnects because no ack came for REL_STALL_MS */
};

/* Connects nconn (1..REL_CONNS_MAX) connections to spec (HOST:PORT).  NULL
 * after a message naming the call and errno. */
struct rel *rel_open(const char *spec, unsigned nconn);
/* Queues one whole line (ending in '\n', len <= 4096) on connection
 * stream % nconn, sending and reading acks while it waits for room.  0, or
 * -1 after a message (retries exhausted, protocol error). */
int rel_line(struct rel *r, unsigned stream, const char *text, size_t len);
/* Sends what can be sent without waiting.  0 or -1 as rel_line. */
int rel_flush(struct rel *r);
/* Sends everything and waits until every line is acknowledged.  0 or -1. */
int rel_finish(struct rel *r);
const struct rel_stats *rel_stats(const struct rel *r);
/* Closes the sockets and frees r (NULL is fine). */
void rel_close(struct rel *r);

#endif
