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

#include "trades/jsonl.h"

struct pipeline;

enum decoder_format {
	DECODER_JSONL = 0, /* JSON lines (text) */
	DECODER_ITCH,      /* Nasdaq ITCH 5.0 file: 2-byte length + message */
	DECODER_MOLD,      /* MoldUDP64 datagrams carrying ITCH 5.0 */
};

#define DECODER_PEER_MAX 64

struct decoder {
	struct pipeline *pipe;
	uint16_t feed;
	uint8_t format;      /* enum decoder_format */
	bool datagram;       /* each input is a whole datagram (UDP) */
	char peer[DECODER_PEER_MAX]; /* "127.0.0.1:40000", "file:x.jsonl" */
	int64_t rx_ns;       /* receive stamp of the bytes being decoded */
	bool rx_kernel;      /* rx_ns came from the kernel */
	const struct sockaddr *from; /* sender of the current datagram or NULL */
	/* last symbol interned: consecutive trades mostly repeat the pair */
	uint32_t cache_id;
	uint8_t cache_len;
	char cache_sym[TRADE_SYMBOL_MAX + 1];
	void *ext;           /* format state (ITCH book, Mold session) */
	struct jsonl_stream stream;
};

void decoder_init(struct decoder *d, struct pipeline *p, enum decoder_format fmt, bool datagram,
		  uint16_t feed, const char *peer);
/* Decodes len bytes received at rx_ns (from: datagram sender or NULL). */
void decoder_input(struct decoder *d, const void *buf, size_t len, int64_t rx_ns, bool rx_kernel,
		   const struct sockaddr *from);
/* End of stream: decodes a final unterminated line. */
void decoder_end(struct decoder *d);

/* Formats a socket address as "ip:port" ("[ip6]:port"). */
void decoder_addr_str(const struct sockaddr *sa, char *buf, size_t len);

/* "jsonl", "itch", "mold"; parse returns -1 for an unknown name. */
const char *decoder_format_name(enum decoder_format f);
int decoder_format_parse(const char *s, enum decoder_format *f);

#endif
