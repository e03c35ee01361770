/* source.h -- sockets (or a capture file) in, bytes out through a handler.
 *
 * A source owns the listening/receiving sockets of `trades serve` and a
 * preallocated table of TCP connection slots.  It knows nothing of decoders
 * or the pipeline: whatever it receives goes to the callbacks of a
 * struct source_handler, and the wiring (src/cli/serve.c) connects those to
 * the decoders and the pipeline.  Backends behind the one handler:
 *
 *   uring  multishot accept, multishot recv (TCP) and recvmsg (UDP, with
 *          SO_TIMESTAMPNS) on provided buffer rings; source_uring.c
 *   epoll  epoll_wait + read (TCP) and recvmmsg (UDP); source_epoll.c
 *   pcap   the UDP payloads of a capture file as datagrams; source_pcap.c
 *   dpdk   a NIC port polled in user space; source_dpdk.c
 *
 * --io auto tries io_uring and falls back to epoll when the kernel or a
 * seccomp profile refuses it (e.g. ENOSYS in a default container), logging
 * one line that says which and why.  Every backend ends each batch of
 * completions with batch_end, and the socket backends drain what the sockets
 * still hold after the stop flag is raised.  Internals (the source struct,
 * connection slots, backend entry points) are in src/source/source_internal.h.
 */
#ifndef TRADES_SOURCE_H
#define TRADES_SOURCE_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define SOURCE_LISTEN_MAX      16          /* listeners of one source (the root of feed sizes) */
#define SOURCE_CONNS_DEFAULT   1024        /* connection slots when max_conns is 0 */
#define SOURCE_CONNS_MAX       65536       /* largest connection table */
#define SOURCE_RCVBUF_DEFAULT  (64u << 20) /* asked with SO_RCVBUFFORCE */
#define SOURCE_BURST           256         /* completions/messages per batch */
#define SOURCE_BUF_SIZE        65536       /* one receive buffer (UDP: max datagram) */
#define SOURCE_WAIT_MS         50          /* longest sleep before checking stop */
#define SOURCE_BUSY_IDLE_US    1000        /* busy_poll: an idle batch_end this often */
#define SOURCE_SPEC_MAX        128         /* longest listener spec, with its NUL */
#define SOURCE_FEED_NAME_MAX   64          /* longest feed name, with its NUL */
#define SOURCE_ACK_LINE_MAX    32          /* "ack N\n": 4 + 20 digits + 1, rounded up */
#define SOURCE_IDLE_DEFAULT_NS (60LL * 1000000000LL) /* serve --idle-timeout default */
#define SOURCE_IDLE_SWEEP_NS   (100LL * 1000000LL)   /* longest time between idle sweeps */
#define SOURCE_IDLE_SWEEP_MAX  8192                  /* slots one sweep looks at */

_Static_assert(SOURCE_CONNS_DEFAULT <= SOURCE_CONNS_MAX, "default table fits the maximum");
_Static_assert(SOURCE_LISTEN_MAX <= UINT16_MAX, "listener index is 16 bits");
_Static_assert(SOURCE_ACK_LINE_MAX >= 4 + 20 + 1, "an ack line with any 64-bit count fits");
_Static_assert(SOURCE_ACK_LINE_MAX <= UINT8_MAX, "ack buffer offsets are 8 bits");

/* ---- The handler: how every source backend delivers what it receives ----
 *
 * A source knows nothing of decoders or the pipeline (as redis's ae loop
 * knows nothing of its clients): it calls these callbacks with ctx.  serve.c
 * wires them to the decoders and the pipeline.  Backends: io_uring, epoll,
 * pcap files, DPDK (source_dpdk.c), and the WebSocket source to come.
 *
 * A channel names where bytes came from: ch->listen is the index of the
 * listener (or DPDK filter) as added, ch->conn the connection slot for a
 * stream (SOURCE_CONN_NONE for datagrams).  Slots are < max_conns and are
 * reused after closed(); ch->gen differs between two uses of one slot.
 * Every callback runs on the source's thread; none may block.  Pointers in
 * ch and buf are valid only during the call.  A NULL callback is skipped
 * (a NULL opened() keeps every connection). */
#define SOURCE_CONN_NONE UINT32_MAX

struct source_chan {
	uint16_t listen;             /* listener index, < SOURCE_LISTEN_MAX */
	uint32_t conn;               /* stream: connection slot; else SOURCE_CONN_NONE */
	uint32_t gen;                /* stream: use count of the slot */
	const struct sockaddr *peer; /* opened(): the peer; datagram(): the sender; may be NULL */
	socklen_t peerlen;           /* bytes at peer; 0 when peer is NULL */
};

/* What one receive batch held (one loop turn: a CQ batch, one epoll_wait's
 * events, one rx burst).  events = 0 is an idle wake-up, delivered at least
 * every SOURCE_WAIT_MS so that deadlines (re-requests, acks) run. */
struct source_batch {
	unsigned events;      /* datagrams + stream reads handled */
	uint64_t bytes;       /* payload bytes handed to the callbacks */
	int64_t oldest_rx_ns; /* earliest receive stamp in the batch, CLOCK_REALTIME; 0 if none */
	bool oldest_kernel;   /* oldest_rx_ns came from the kernel (SO_TIMESTAMPNS) or the NIC */
	uint8_t backend;      /* enum source_io of the backend that delivered it */
};

struct source_handler {
	void *ctx;
	/* A stream connection was accepted into ch->conn.  0 keeps it; -1
	 * closes it at once (counted in conns_rejected, closed() not called). */
	int (*opened)(void *ctx, const struct source_chan *ch);
	/* The connection opened in ch->conn ended (EOF, error, stop): exactly
	 * once per successful opened(), after its last stream() call. */
	void (*closed)(void *ctx, const struct source_chan *ch);
	/* len > 0 bytes read from the connection, received at rx_ns (batch clock). */
	void (*stream)(void *ctx, const struct source_chan *ch, const void *buf, size_t len,
	               int64_t rx_ns);
	/* One whole datagram (truncated ones are counted by the source and never
	 * delivered), with its receive stamp: the kernel's or NIC's when
	 * rx_kernel, else the batch clock. */
	void (*datagram)(void *ctx, const struct source_chan *ch, const void *buf, size_t len,
	                 int64_t rx_ns, bool rx_kernel);
	/* End of a batch: where commits, syncs, flushes and deadlines run. */
	void (*batch_end)(void *ctx, const struct source_batch *b);
};

/* Backends, as source_batch.backend names them.  AUTO is a request only: a
 * running source reports the one it picked.  PCAP is the capture-file
 * reader (source_pcap_run), DPDK the NIC poller (source_dpdk.h); neither is
 * a source_config.io. */
enum source_io { SOURCE_IO_AUTO, SOURCE_IO_URING, SOURCE_IO_EPOLL, SOURCE_IO_PCAP, SOURCE_IO_DPDK };
enum source_kind { SOURCE_TCP, SOURCE_UDP };

struct source_stats {
	uint64_t conns_accepted;    /* connections that got a slot and were kept by opened() */
	uint64_t conns_rejected;    /* table full, or refused by opened(): closed at once */
	uint64_t conns_closed;      /* closed() calls */
	uint64_t bytes;             /* payload bytes delivered (streams and datagrams) */
	uint64_t datagrams;         /* datagram() calls */
	uint64_t reads;             /* TCP receive calls/completions that returned data */
	uint64_t truncated;         /* datagrams larger than a buffer: dropped */
	uint64_t nobufs;            /* buffer ring ran dry (back-pressure) */
	uint64_t errors;            /* socket errors, counted */
	uint64_t batches;           /* loop turns that handled at least one event */
	uint64_t acks_sent;         /* "ack N" lines written whole (,ack listeners) */
	uint64_t acks_dropped;      /* acks not written: the client does not read (socket full) */
	uint64_t conns_idle_closed; /* shut down: no bytes for idle_timeout_ns (then closed()) */
};

/* Connection counters of one TCP listener (source_listen_conns). */
struct source_listen_conns {
	uint64_t refused;     /* its share of conns_rejected: table full or opened() said no */
	uint64_t idle_closed; /* its share of conns_idle_closed */
};

struct source_config {
	enum source_io io;             /* AUTO, URING or EPOLL */
	unsigned max_conns;            /* 0: SOURCE_CONNS_DEFAULT; <= SOURCE_CONNS_MAX */
	uint32_t rcvbuf_bytes;         /* UDP receive buffer; 0: SOURCE_RCVBUF_DEFAULT */
	volatile sig_atomic_t *stop;   /* set by the signal handler; required */
	struct source_handler handler; /* where everything received goes */
	unsigned wait_ms; /* longest sleep between batch_end calls; 0: SOURCE_WAIT_MS */
	/* Never sleep: the loop polls (io_uring: submit and run the task work;
	 * epoll: a zero timeout) and takes a datagram the moment it is there,
	 * at the cost of one core kept at 100%.  An idle turn still ends a
	 * batch (deadlines, tickers) every SOURCE_BUSY_IDLE_US, not per poll. */
	bool busy_poll;
	/* A TCP connection that delivered no bytes for this long is shut down;
	 * the backend then sees the end of the stream and closes it as usual
	 * (closed() runs).  Checked by a sweep at most every
	 * min(SOURCE_IDLE_SWEEP_NS, idle_timeout_ns / 10).  0: never. */
	int64_t idle_timeout_ns;
};

struct source;

/* A new, empty source (no sockets yet).  NULL when out of memory. */
struct source *source_new(void);
/* Parses "HOST:PORT[,feed=NAME][,iface=IPV4][,ack]" (addr.h grammar; port 0
 * lets the kernel pick) and adds a listener of kind.  feed= names the feed
 * the wiring counts it under (default "tcp:HOST:PORT" / "udp:HOST:PORT");
 * iface= is the local interface a multicast group is joined on; ack (TCP
 * only) marks a listener whose connections get "ack N" lines written back
 * (source_ack; README "Acknowledged TCP ingest").  Returns
 * the listener index (0, 1, ... in the order added, < SOURCE_LISTEN_MAX),
 * or -1 with err naming the flag and the spec. */
int source_add(struct source *s, enum source_kind kind, const char *spec, char *err, size_t errlen);
/* Binds every listener, allocates the connection table, picks the backend.
 * No allocation happens after this.  0, or -1 with err naming the
 * listener, the step and errno. */
int source_open(struct source *s, const struct source_config *cfg, char *err, size_t errlen);
/* Runs until *cfg.stop, then drains the sockets and closes the connections
 * (closed() for each).  0, or -1 on a fatal backend error (logged).  Call it
 * from the thread that will drive the handler: the io_uring ring is created
 * here (SINGLE_ISSUER). */
int source_run(struct source *s);
/* Closes every socket and frees s; safe after a failed open, and on NULL. */
void source_close(struct source *s);

/* Accessors for the wiring; i < source_listeners(s). */
unsigned source_listeners(const struct source *s);
enum source_kind source_listen_kind(const struct source *s, unsigned i);
const char *source_listen_spec(const struct source *s, unsigned i); /* address part as given */
const char *source_listen_feed(const struct source *s, unsigned i); /* feed= or the default */
/* The address: as given before source_open, the bound one (port 0
 * resolved) after. */
const struct sockaddr *source_listen_addr(const struct source *s, unsigned i, socklen_t *len);
uint16_t source_listen_port(const struct source *s, unsigned i); /* bound port; 0 before open */
/* The socket, -1 before open: a UDP listener's fd is what MoldUDP64
 * re-requests are sent on (the answers come back to it). */
int source_listen_fd(const struct source *s, unsigned i);
/* The backend in use after source_open, and why io_uring is not ("" if it is). */
enum source_io source_backend(const struct source *s);
const char *source_fallback_why(const struct source *s);
const struct source_stats *source_stats(const struct source *s);
/* Listener i's connection counters (zeros for UDP listeners). */
const struct source_listen_conns *source_listen_conns(const struct source *s, unsigned i);

/* ---- Acknowledged ingest (,ack listeners; source_ack.c) ----
 *
 * The source only writes what the wiring tells it: it knows nothing of
 * durability.  Each connection has one bounded line buffer
 * (SOURCE_ACK_LINE_MAX bytes); acks are cumulative, so an ack that cannot be
 * written because the client does not read (its socket buffer is full) is
 * dropped, counted in acks_dropped and logged rate-limited: a later ack
 * carries a larger count.  A partly written line is finished before the
 * next one starts, so the client never sees a torn line.  Nothing blocks. */

/* Whether listener i was given with ,ack. */
bool source_listen_ack(const struct source *s, unsigned i);
/* Writes "ack n\n" to connection conn if it is still the use gen of the
 * slot (as in struct source_chan) and n is above the last count written.
 * 1 written (or its tail queued), 0 nothing to do (stale slot, not an ack
 * listener, n not above the last), -1 dropped (client not reading; counted). */
int source_ack(struct source *s, uint32_t conn, uint32_t gen, uint64_t n);
/* Shuts connection conn (use gen) down for reading and writing; the backend
 * then sees the end of the stream and closes it as usual (closed() runs).
 * The wiring uses it to make a reliable client reconnect and resend after a
 * storage failure.  true if it was open. */
bool source_conn_shutdown(struct source *s, uint32_t conn, uint32_t gen);

/* Whether backend io can run here (io_uring: the kernel and any seccomp
 * profile allow the opcodes the backend needs); why says why not, or
 * confirms.  AUTO and EPOLL are always available. */
bool source_io_available(enum source_io io, char *why, size_t len);
/* "auto" | "uring" ("io_uring") | "epoll" -> *io: 0, or -1 if unknown. */
int source_io_parse(const char *s, enum source_io *io);
/* "auto", "uring", "epoll", "pcap", "dpdk"; "?" otherwise. */
const char *source_io_name(enum source_io io);

/* A capture file as a source (source_pcap.c): every IPv4/IPv6 UDP packet's
 * payload is a datagram() on channel {listen, SOURCE_CONN_NONE} stamped with
 * its capture time (rx_kernel false), peer NULL; batch_end follows every
 * SOURCE_BURST datagrams and the end of the file.  Ethernet (with up to two
 * VLAN tags), Linux cooked and raw IP links; other packets, fragments and
 * packets cut by the snap length are counted and skipped.  0, or -1 with
 * err (open failed, read error, no libpcap in this build). */
struct source_pcap_stats {
	uint64_t packets;   /* records read */
	uint64_t udp;       /* delivered as datagrams */
	uint64_t skipped;   /* not delivered: not IP/UDP, fragment, cut */
	uint64_t fragments; /* IPv4 fragments among skipped */
	uint64_t truncated; /* UDP length beyond the captured bytes, among skipped */
};
int source_pcap_run(const char *path, const struct source_handler *h, uint16_t listen,
                    struct source_pcap_stats *st, char *err, size_t errlen);

#endif
