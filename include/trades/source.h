/* source.h -- sockets in, bytes out to decoders: io_uring or epoll.
 *
 * A source owns the listening/receiving sockets of `trades serve` and a
 * preallocated table of TCP connections (each with its decoder).  Two
 * backends implement the same loop:
 *
 *   uring  multishot accept, multishot recv (TCP) and recvmsg (UDP, with
 *          SO_TIMESTAMPNS) on provided buffer rings, completions taken in
 *          batches; source_uring.c
 *   epoll  epoll_wait + read (TCP) and recvmmsg (UDP); source_epoll.c
 *
 * --io auto tries io_uring and falls back to epoll when the kernel or a
 * seccomp profile refuses it (e.g. ENOSYS in a default container), logging
 * one line that says which and why.  Both call pipeline_commit once per batch
 * of completions, and both drain what the sockets still hold after the stop
 * flag is raised.
 */
#ifndef TRADES_SOURCE_H
#define TRADES_SOURCE_H

#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "trades/decoder.h"
#include "trades/log.h"

#define SOURCE_LISTEN_MAX      16
#define SOURCE_CONNS_DEFAULT   1024
#define SOURCE_CONNS_MAX       65536
#define SOURCE_RCVBUF_DEFAULT  (64u << 20) /* asked with SO_RCVBUFFORCE */
#define SOURCE_BURST           256         /* completions/messages per batch */
#define SOURCE_BUF_SIZE        65536       /* one receive buffer (UDP: max datagram) */
#define SOURCE_BUF_COUNT       1024        /* buffers in a ring, power of two */
#define SOURCE_WAIT_MS         50          /* longest sleep before checking stop */
#define SOURCE_TCP_BUF_SIZE    16384       /* one TCP receive buffer in the uring ring */
#define SOURCE_ACCEPT_BURST    64          /* accept4 calls per listener event (epoll) */
#define SOURCE_READS_PER_EVENT 4           /* reads per connection event, so none starves */
#define SOURCE_DRAIN_READS     4096        /* reads per socket when draining at stop */
#define SOURCE_STOP_ROUNDS     100         /* waits of SOURCE_WAIT_MS for cancels at stop */
#define SOURCE_CMSG_SPACE      64          /* control bytes per datagram: SCM_TIMESTAMPNS is 32 */

_Static_assert((SOURCE_BUF_COUNT & (SOURCE_BUF_COUNT - 1)) == 0,
               "buffer ring size is a power of two");
_Static_assert(SOURCE_BUF_COUNT <= 32768, "kernel limit for a buffer ring");
_Static_assert(SOURCE_TCP_BUF_SIZE <= SOURCE_BUF_SIZE, "the drain buffer holds any TCP read");
_Static_assert(SOURCE_BURST <= SOURCE_BUF_COUNT, "a batch never needs more buffers than a ring");

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
 * ch and buf are valid only during the call. */
#define SOURCE_CONN_NONE UINT32_MAX

struct source_chan {
	uint16_t listen;             /* listener index, < SOURCE_LISTEN_MAX */
	uint32_t conn;               /* stream: connection slot; else SOURCE_CONN_NONE */
	uint32_t gen;                /* stream: use count of the slot */
	const struct sockaddr *peer; /* opened(): the peer; datagram(): the sender; may be NULL */
	socklen_t peerlen;
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

enum source_io { SOURCE_IO_AUTO, SOURCE_IO_URING, SOURCE_IO_EPOLL };
enum source_kind { SOURCE_TCP, SOURCE_UDP };

struct source_listen {
	enum source_kind kind;
	enum decoder_format format;
	char spec[128];     /* as given: "127.0.0.1:0" */
	char feed_name[64]; /* "tcp:127.0.0.1:0" unless feed= given */
	struct sockaddr_storage addr;
	socklen_t addrlen;
	int fd;
	uint16_t feed;
	uint16_t port;              /* bound port (resolves port 0) */
	struct in_addr mcast_iface; /* iface=: interface to join a multicast group on */
	struct decoder *dec;        /* UDP: the socket's decoder */
};

struct source_conn {
	int fd;          /* -1 = free slot */
	uint32_t gen;    /* bumps on reuse (stale completions) */
	uint16_t listen; /* index of the listener it came from */
	struct decoder dec;
};

struct source_stats {
	uint64_t conns_accepted, conns_rejected, conns_closed;
	uint64_t bytes, datagrams;
	uint64_t reads;     /* TCP receive calls/completions that returned data */
	uint64_t truncated; /* datagrams larger than a buffer */
	uint64_t nobufs;    /* buffer ring ran dry (back-pressure) */
	uint64_t errors;    /* socket errors, counted */
	uint64_t batches;   /* loop turns that handled at least one event */
};

struct source_config {
	enum source_io io;
	unsigned max_conns;          /* 0: SOURCE_CONNS_DEFAULT; <= SOURCE_CONNS_MAX */
	uint32_t rcvbuf_bytes;       /* UDP receive buffer; 0: SOURCE_RCVBUF_DEFAULT */
	volatile sig_atomic_t *stop; /* set by the signal handler */
};

struct source {
	struct source_config cfg;
	struct pipeline *pipe;
	struct source_listen listen[SOURCE_LISTEN_MAX];
	unsigned nlisten;
	struct source_conn *conns; /* cfg.max_conns slots, allocated at open */
	uint32_t *conn_free;       /* stack of free slot indices */
	unsigned nfree;
	struct decoder *udp_dec;    /* one per UDP listener */
	uint8_t *rxbuf;             /* SOURCE_BUF_SIZE bytes: epoll reads and the drain */
	struct ratelimit reject_rl; /* "connection table full" warnings */
	struct ratelimit error_rl;  /* socket error warnings */
	enum source_io active;      /* backend in use after open */
	char fallback_why[160];     /* why io_uring was not used */
	struct source_stats stats;
	void *backend;
};

/* Parses "HOST:PORT[,feed=NAME]" ("[::1]:PORT" for IPv6) and adds a listener.
 * HOST is dotted IPv4, "localhost", "*" (any) or a bracketed IPv6 address;
 * no name lookups.  s must be zeroed before the first call.
 * 0, or -1 with err naming the spec. */
int source_add(struct source *s, enum source_kind kind, enum decoder_format fmt, const char *spec,
               char *err, size_t errlen);
/* Binds every listener, registers feeds, allocates the connection table,
 * picks the backend.  0, or -1 with err. */
int source_open(struct source *s, struct pipeline *p, const struct source_config *cfg, char *err,
                size_t errlen);
/* Runs until *cfg.stop, then drains the sockets.  0, or -1 on a fatal
 * backend error (logged).  Call it from the thread that will drive the
 * pipeline: the io_uring ring is created here (SINGLE_ISSUER). */
int source_run(struct source *s);
/* Closes every socket and frees the tables; safe after a failed open. */
void source_close(struct source *s);

int source_io_parse(const char *s, enum source_io *io);
const char *source_io_name(enum source_io io);

/* Shared by the backends (source.c). */
/* Takes a slot for an accepted socket and starts its decoder (peer may be
 * NULL: getpeername is asked).  When the table is full the socket is closed
 * at once, counted in conns_rejected, and NULL returned. */
struct source_conn *source_conn_new(struct source *s, int fd, uint16_t listen,
                                    const struct sockaddr *peer);
/* decoder_end (a final unterminated line counts), close, free the slot. */
void source_conn_close(struct source *s, struct source_conn *c);
/* Accepts what waits in the backlogs, then reads every socket with plain
 * non-blocking calls until empty (bounded), closes the connections and
 * commits. */
void source_drain(struct source *s);
/* The kernel's SO_TIMESTAMPNS stamp in msg (*kernel = true), or 0 with
 * *kernel = false: the caller uses its batch clock. */
int64_t source_rx_stamp(struct msghdr *msg, bool *kernel);
/* Bytes read from connection c at batch_ns: decoder_input, counted. */
void source_tcp_input(struct source *s, struct source_conn *c, const void *buf, size_t len,
                      int64_t batch_ns);
/* One datagram on UDP listener l as recvmsg left it in msg (name, control,
 * msg_flags): a truncated one is counted and dropped, else it is stamped and
 * decoded whole. */
void source_udp_input(struct source *s, struct source_listen *l, const void *buf, size_t len,
                      struct msghdr *msg, int64_t batch_ns);
/* Rate-limited warning for a runtime socket error (the caller counts it):
 * "<what> '<who>': <strerror(err)>". */
void source_warn(struct source *s, const char *what, const char *who, int err);
/* CLOCK_REALTIME now, ns: the stamp of a batch without a kernel stamp. */
int64_t source_now_ns(void);

/* A capture file as a source (source_pcap.c): fn gets the UDP payload of
 * every IPv4/IPv6 UDP packet (Ethernet with VLAN tags, Linux cooked or raw
 * IP links) and its capture time, ns.  Other packets, fragments and packets
 * cut by the snap length are counted and skipped.  0, or -1 with err. */
typedef void (*source_pcap_fn)(void *ctx, const uint8_t *payload, size_t len, int64_t ts_ns);
struct source_pcap_stats {
	uint64_t packets, udp, skipped, fragments, truncated;
};
int source_pcap_replay(const char *path, source_pcap_fn fn, void *ctx, struct source_pcap_stats *st,
                       char *err, size_t errlen);

/* Backends: _available says why not in why; _run is the loop and the drain.
 * source_uring_run returns 1 when its setup failed before any socket was
 * touched (the caller may fall back to epoll), else 0 or -1 as source_run. */
bool source_uring_available(char *why, size_t len);
int source_uring_run(struct source *s);
int source_epoll_run(struct source *s);

#endif
