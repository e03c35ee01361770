/* source_internal.h -- what the source backends share (source.c,
 * source_uring.c, source_epoll.c, source_pcap.c; source_dpdk.c).  Private
 * to src/source/ and its unit test; the wiring sees only source.h. */
#ifndef TRADES_SOURCE_INTERNAL_H
#define TRADES_SOURCE_INTERNAL_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "trades/addr.h"
#include "trades/log.h"
#include "trades/source.h"

#define SOURCE_BUF_COUNT       1024  /* buffers in a ring, power of two */
#define SOURCE_TCP_BUF_SIZE    16384 /* one TCP receive buffer in the uring ring */
#define SOURCE_ACCEPT_BURST    64    /* accept4 calls per listener event (epoll) */
#define SOURCE_READS_PER_EVENT 4     /* reads per connection event, so none starves */
#define SOURCE_DRAIN_READS     4096  /* reads per socket when draining at stop */
#define SOURCE_STOP_ROUNDS     100   /* waits of SOURCE_WAIT_MS for cancels at stop */
#define SOURCE_CMSG_SPACE      64    /* control bytes per datagram: SCM_TIMESTAMPNS is 32 */

_Static_assert((SOURCE_BUF_COUNT & (SOURCE_BUF_COUNT - 1)) == 0,
               "buffer ring size is a power of two");
_Static_assert(SOURCE_BUF_COUNT <= 32768, "kernel limit for a buffer ring");
_Static_assert(SOURCE_TCP_BUF_SIZE <= SOURCE_BUF_SIZE, "the drain buffer holds any TCP read");
_Static_assert(SOURCE_BURST <= SOURCE_BUF_COUNT, "a batch never needs more buffers than a ring");

struct source_listen {
	enum source_kind kind;
	char spec[SOURCE_SPEC_MAX];           /* address part as given: "127.0.0.1:0" */
	char feed_name[SOURCE_FEED_NAME_MAX]; /* "tcp:127.0.0.1:0" unless feed= given */
	struct sockaddr_storage addr;         /* requested; the bound address after open */
	socklen_t addrlen;
	int fd;                           /* -1 before open */
	uint16_t port;                    /* bound port (resolves port 0) */
	struct in_addr mcast_iface;       /* iface=: interface to join a multicast group on */
	bool ack;                         /* ,ack: connections get "ack N" lines (source_ack.c) */
	struct source_listen_conns conns; /* refused and idle-closed connections */
};

/* A connection's ack writer (source_ack.c): the one line being written. */
struct source_conn_ack {
	uint64_t sent;                  /* highest count put on the wire (or queued) */
	uint8_t len;                    /* bytes of line in use */
	uint8_t off;                    /* bytes of line already written */
	char line[SOURCE_ACK_LINE_MAX]; /* "ack N\n" */
};

struct source_conn {
	int fd;                     /* -1 = free slot */
	uint32_t gen;               /* bumps on reuse (stale completions) */
	uint16_t listen;            /* index of the listener it came from */
	char peer[ADDR_STR_MAX];    /* "ip:port" for logs */
	struct source_conn_ack ack; /* reset when the slot is taken */
	int64_t last_ns;            /* monotonic: accepted, or its last bytes delivered */
	bool idle_shut; /* shut down by the idle sweep: closes when the backend sees EOF */
};

struct source {
	struct source_config cfg;
	struct source_listen listen[SOURCE_LISTEN_MAX];
	unsigned nlisten;
	struct source_conn *conns; /* cfg.max_conns slots, allocated at open */
	uint32_t *conn_free;       /* stack of free slot indices */
	unsigned nfree;
	uint8_t *rxbuf;             /* SOURCE_BUF_SIZE bytes: epoll reads and the drain */
	struct ratelimit reject_rl; /* "connection table full" warnings */
	struct ratelimit error_rl;  /* socket error warnings */
	struct ratelimit ack_rl;    /* "client does not read its acks" warnings */
	struct ratelimit idle_rl;   /* "idle connection closed" notices */
	int64_t idle_every_ns;      /* sweep period: min(SOURCE_IDLE_SWEEP_NS, timeout / 10) */
	int64_t idle_next_ns;       /* monotonic: next sweep due */
	int64_t busy_idle_next_ns;  /* monotonic: busy_poll's next idle batch_end */
	uint32_t idle_cursor;       /* next slot the sweep looks at */
	enum source_io active;      /* backend in use after open */
	char fallback_why[160];     /* why io_uring was not used */
	struct source_stats stats;
	struct source_batch batch; /* the batch being delivered */
	int64_t batch_ns;          /* its clock: CLOCK_REALTIME at its start */
	int64_t batch_mono_ns;     /* CLOCK_MONOTONIC at its start (idle times) */
	void *backend;
};

/* Starts a batch: its clock is now. */
void source_batch_begin(struct source *s);
/* Ends the batch (events may be 0: an idle wake-up): counts it when it held
 * events, calls batch_end, resets. */
void source_batch_end(struct source *s);
/* Takes a slot for an accepted socket (peer may be NULL: getpeername is
 * asked) and calls opened().  When the table is full or opened() refuses,
 * the socket is closed at once, counted in conns_rejected, and NULL
 * returned. */
struct source_conn *source_conn_new(struct source *s, int fd, uint16_t listen,
                                    const struct sockaddr *peer);
/* The idle sweep (cfg.idle_timeout_ns): when due, looks at up to
 * SOURCE_IDLE_SWEEP_MAX slots from where the last sweep stopped and shuts
 * down those idle for the timeout (counted, logged rate-limited); the
 * backend closes them when it sees the end of the stream.  Both loops call
 * it once a turn; it never closes a descriptor itself. */
void source_idle_sweep(struct source *s);
/* closed(), close, free the slot. */
void source_conn_close(struct source *s, struct source_conn *c);
/* Accepts what waits in the backlogs, then reads every socket with plain
 * non-blocking calls until empty (bounded), closes the connections; a batch
 * ends after the datagrams and after each connection. */
void source_drain(struct source *s);
/* The kernel's SO_TIMESTAMPNS stamp in msg (*kernel = true), or 0 with
 * *kernel = false: the caller uses its batch clock. */
int64_t source_rx_stamp(struct msghdr *msg, bool *kernel);
/* len bytes read from connection c: stream(), counted in the batch. */
void source_tcp_input(struct source *s, struct source_conn *c, const void *buf, size_t len);
/* One datagram on UDP listener i as recvmsg left it in msg (name, control,
 * msg_flags): a truncated one is counted and dropped, else it is stamped and
 * handed whole to datagram(). */
void source_udp_input(struct source *s, unsigned i, const void *buf, size_t len,
                      struct msghdr *msg);
/* Rate-limited warning for a runtime socket error (the caller counts it):
 * "<what> '<who>': <strerror(err)>". */
void source_warn(struct source *s, const char *what, const char *who, int err);

/* Backends: _available says why not in why; _run is the loop and the drain.
 * source_uring_run returns 1 when its setup failed before any socket was
 * touched (the caller may fall back to epoll), else 0 or -1 as source_run. */
bool source_uring_available(char *why, size_t len);
int source_uring_run(struct source *s);
int source_epoll_run(struct source *s);

#endif
