/* decoder.h -- one decoder per input channel: wire bytes to trade records.
 *
 * A channel is a TCP connection, a UDP socket or a file.  Sources hand it
 * bytes as they arrive (decoder_input); the decoder frames them (lines for
 * JSON over streams, one datagram at a time for UDP, length prefixes for
 * ITCH), parses, interns the symbol, and passes each trade to the pipeline.
 * Bad bytes are counted and logged by the pipeline; nothing here can stop
 * the service.
 */
#ifndef TRADES_DECODER_H
#define TRADES_DECODER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "trades/itch.h"
#include "trades/jsonl.h"
#include "trades/mold.h"
#include "trades/state.h"

struct pipeline;
struct decoder_itch;

enum decoder_format {
	DECODER_JSONL = 0, /* JSON lines (text) */
	DECODER_ITCH,      /* Nasdaq ITCH 5.0 file: 2-byte length + message */
	DECODER_MOLD,      /* MoldUDP64 datagrams carrying ITCH 5.0 */
};

#define DECODER_PEER_MAX  64
#define DECODER_SYM_BITS  6 /* the symbol cache has 2^6 entries */
#define DECODER_SYM_CACHE (1u << DECODER_SYM_BITS)

/* One interned symbol: its length, first and last 4 bytes (len <= 8: all
 * of them), the bytes, and its instrument id.  len 0: empty. */
struct decoder_sym {
	uint32_t head, tail, id;
	uint8_t len;
	char sym[TRADE_SYMBOL_MAX];
};

struct decoder {
	struct pipeline *pipe;
	uint16_t feed;
	uint8_t format;              /* enum decoder_format */
	bool datagram;               /* each input is a whole datagram (UDP) */
	bool allow_nonpositive;      /* JSON prices <= 0 accepted (spreads); false
	                                = refused as price_nonpositive.  Set after
	                                decoder_init: --allow-negative-prices FEED */
	char peer[DECODER_PEER_MAX]; /* "127.0.0.1:40000", "file:x.jsonl" */
	int64_t rx_ns;               /* receive stamp of the bytes being decoded */
	bool rx_kernel;              /* rx_ns came from the kernel */
	const struct sockaddr *from; /* sender of the current datagram or NULL */
	/* symbols interned, direct-mapped by their first and last 4 bytes (see
	 * decoder_intern): a feed cycles among few pairs */
	struct decoder_sym cache[DECODER_SYM_CACHE];
	struct decoder_itch *itch; /* ITCH/MoldUDP64: the feed's shared state */
	uint8_t line;              /* MoldUDP64 line: 0 = A, 1 = B, 2 = re-request answers */
	struct jsonl_stream stream;
};

void decoder_init(struct decoder *d, struct pipeline *p, enum decoder_format fmt, bool datagram,
                  uint16_t feed, const char *peer);
/* Decodes len bytes received at rx_ns (from: datagram sender or NULL). */
void decoder_input(struct decoder *d, const void *buf, size_t len, int64_t rx_ns, bool rx_kernel,
                   const struct sockaddr *from);
/* End of stream: decodes a final unterminated line. */
void decoder_end(struct decoder *d);

/* One ITCH feed: the ITCH decoder (order book, locate and match tables) and,
 * for MoldUDP64, the session sequencer -- shared by every channel of the
 * feed: the A and B lines and the socket re-request answers come back on.
 * Its counters are published into the feed's state ext[] (enum state_ext)
 * by decoder_itch_tick, registered as a pipeline ticker. */
struct decoder_itch_config {
	uint64_t max_orders;  /* live orders the book holds */
	uint64_t max_matches; /* trades remembered to reverse broken trades */
	int64_t midnight_ns;  /* the feed day's midnight: ITCH stamps count from it */
	bool mold;            /* MoldUDP64 datagrams; else the binary file framing */
	struct mold_config mold_cfg;
	int request_fd; /* socket re-requests go out on; -1 = no recovery */
	struct sockaddr_storage request_addr;
	socklen_t request_addrlen;
};

#define DECODER_ITCH_ORDERS_DEFAULT  (1ull << 22) /* 4 Mi live orders (--book-orders) */
#define DECODER_ITCH_MATCHES_DEFAULT (1ull << 20) /* 1 Mi recent trades, for breaks */

struct decoder_itch {
	struct pipeline *pipe;
	uint16_t feed;
	int request_fd;
	struct sockaddr_storage request_addr;
	socklen_t request_addrlen;
	struct itch itch;
	struct itch_stream stream;           /* file framing carry-over */
	struct mold_session *session;        /* allocated once when mold */
	uint64_t published[STATE_EXT_COUNT]; /* values already added to the state */
	uint64_t published_gaps, published_gap_missing;
};

/* 0, or -1 with err (allocation, bad sizes). */
int decoder_itch_init(struct decoder_itch *x, struct pipeline *p, uint16_t feed,
                      const struct decoder_itch_config *cfg, char *err, size_t errlen);
void decoder_itch_free(struct decoder_itch *x);
/* Makes d (already decoder_init'ed with DECODER_ITCH or DECODER_MOLD) one
 * channel of x; line is its MoldUDP64 line. */
void decoder_itch_attach(struct decoder *d, struct decoder_itch *x, unsigned line);
/* decoder_input/decoder_end of an ITCH or MoldUDP64 channel. */
void decoder_itch_input(struct decoder *d, const void *buf, size_t len);
void decoder_itch_end(struct decoder *d);
/* Deadlines (re-requests, giving up) and counters into the state. */
void decoder_itch_tick(void *x, int64_t now_mono_ns);

/* ---- MoldUDP64 feeds from their channels (the set-up `trades serve` needs) ----
 *
 * serve hands over the UDP channels of its --mold listeners: each one's
 * decoder, the feed it counts under and whether it is the feed's re-request
 * answer socket.  decoder_mold_setup groups them by feed into one
 * decoder_itch each: the feed's first channel is line A, its second line B,
 * its answer socket line MOLD_LINE_REREQUEST (requests leave from that
 * socket for the re-request server).  Every feed gets a pipeline ticker. */
#define DECODER_MOLD_CHANS_MAX                                                                     \
	16 /* channels (and so feeds) of one set-up; serve asserts                                 \
	      it holds SOURCE_LISTEN_MAX */

struct decoder_mold_chan {
	struct decoder *dec;   /* decoder_init'ed with DECODER_MOLD, datagram, feed */
	uint16_t feed;         /* pipeline feed id (equal ids: lines of one feed) */
	const char *feed_name; /* for messages */
	bool answer;           /* the feed's re-request answer socket */
	int fd;                /* answer: the socket re-requests are sent from */
};

struct decoder_mold_feeds {
	struct decoder_itch itch[DECODER_MOLD_CHANS_MAX]; /* one per feed */
	unsigned n;                                       /* feeds set up */
};

/* Sets up f from n <= DECODER_MOLD_CHANS_MAX channels; cfg gives sizes,
 * times and the session (its request fields are ignored); rerequest (NULL:
 * none) is the server answer sockets ask.  0; -2 for a configuration the
 * user must change (more than two lines on a feed), -1 for an init failure
 * (decoder allocation, pipeline_add_ticker); both with err naming the feed.
 * The feeds' tickers point into f: keep f until the pipeline is closed, then
 * decoder_mold_free it (also after a failure: f holds what was set up). */
int decoder_mold_setup(struct decoder_mold_feeds *f, struct pipeline *p,
                       const struct decoder_mold_chan *chans, unsigned n,
                       const struct decoder_itch_config *cfg,
                       const struct sockaddr_storage *rerequest, socklen_t rerequest_len, char *err,
                       size_t errlen);
/* Frees every feed's decoder_itch; f may be zeroed and never set up. */
void decoder_mold_free(struct decoder_mold_feeds *f);

/* "jsonl", "itch", "mold" -> *f; 0, or -1 for an unknown name. */
int decoder_format_parse(const char *s, enum decoder_format *f);

#endif
