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

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "trades/decoder.h"

#define SOURCE_LISTEN_MAX 16
#define SOURCE_CONNS_DEFAULT 1024
#define SOURCE_CONNS_MAX 65536
#define SOURCE_RCVBUF_DEFAULT (64u << 20) /* asked with SO_RCVBUFFORCE */
#define SOURCE_BURST 256                  /* completions/messages per batch */
#define SOURCE_BUF_SIZE 65536             /* one receive buffer (UDP: max datagram) */
#define SOURCE_BUF_COUNT 1024             /* buffers in a ring, power of two */
#define SOURCE_WAIT_MS 50                 /* longest sleep before checking stop */

_Static_assert((SOURCE_BUF_COUNT & (SOURCE_BUF_COUNT - 1)) == 0, "buffer ring size is a power of two");
_Static_assert(SOURCE_BUF_COUNT <= 32768, "kernel limit for a buffer ring");

enum source_io { SOURCE_IO_AUTO, SOURCE_IO_URING, SOURCE_IO_EPOLL };
enum source_kind { SOURCE_TCP, SOURCE_UDP };

struct source_listen {
	enum source_kind kind;
	enum decoder_format format;
	char spec[128];                 /* as given: "127.0.0.1:0" */
	char feed_name[64];             /* "tcp:127.0.0.1:0" unless feed= given */
	struct sockaddr_storage addr;
	socklen_t addrlen;
	int fd;
	uint16_t feed;
	uint16_t port;                  /* bound port (resolves port 0) */
	struct decoder *dec;            /* UDP: the socket's decoder */
};

struct source_conn {
	int fd;                         /* -1 = free slot */
	uint32_t gen;                   /* bumps on reuse (stale completions) */
	uint16_t listen;                /* index of the listener it came from */
	struct decoder dec;
};

struct source_stats {
	uint64_t conns_accepted, conns_rejected, conns_closed;
	uint64_t bytes, datagrams, reads;
	uint64_t truncated;             /* datagrams larger than a buffer */
	uint64_t nobufs;                /* buffer ring ran dry (back-pressure) */
	uint64_t errors;                /* socket errors, counted */
	uint64_t batches;
};

struct source_config {
	enum source_io io;
	unsigned max_conns;
	uint32_t rcvbuf_bytes;
	volatile sig_atomic_t *stop;    /* set by the signal handler */
};

struct source {
	struct source_config cfg;
	struct pipeline *pipe;
	struct source_listen listen[SOURCE_LISTEN_MAX];
	unsigned nlisten;
	struct source_conn *conns;      /* cfg.max_conns slots, allocated at open */
	struct decoder *udp_dec;        /* one per UDP listener */
	enum source_io active;          /* backend in use after open */
	char fallback_why[160];         /* why io_uring was not used */
	struct source_stats stats;
	void *backend;
};

/* Parses "HOST:PORT[,feed=NAME]" ("[::1]:PORT" for IPv6) and adds a listener.
 * 0, or -1 with err naming the spec. */
int source_add(struct source *s, enum source_kind kind, enum decoder_format fmt, const char *spec,
	       char *err, size_t errlen);
/* Binds every listener, registers feeds, allocates the connection table,
 * picks the backend.  0, or -1 with err. */
int source_open(struct source *s, struct pipeline *p, const struct source_config *cfg, char *err,
		size_t errlen);
/* Runs until *cfg.stop, then drains the sockets.  0, or -1 on a fatal
 * backend error (logged). */
int source_run(struct source *s);
void source_close(struct source *s);

int source_io_parse(const char *s, enum source_io *io);
const char *source_io_name(enum source_io io);

/* Shared by the backends (source.c). */
struct source_conn *source_conn_new(struct source *s, int fd, uint16_t listen,
				    const struct sockaddr *peer);
void source_conn_close(struct source *s, struct source_conn *c);
/* Reads every socket with plain non-blocking calls until empty (bounded). */
void source_drain(struct source *s);
int64_t source_rx_stamp(struct msghdr *msg, bool *kernel);

/* Backends: _available says why not in why; _run is the loop. */
bool source_uring_available(char *why, size_t len);
int source_uring_run(struct source *s);
int source_epoll_run(struct source *s);

#endif
