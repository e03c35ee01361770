/* ws_frame.h -- the WebSocket source's byte handling, apart from TLS and
 * sockets (internal to src/source/: source_ws.c, and the libFuzzer target
 * tests/fuzz/fuzz_ws_frame.c).
 *
 * What the server sends on one session, in order:
 *  1. the HTTP/1.1 upgrade response head.  struct ws_head gathers reads in a
 *     bounded buffer (SOURCE_WS_HEADER_MAX) until the blank line; bytes read
 *     past it are the first frames and stay in the buffer.  ws_upgrade_check
 *     then wants status 101 and the Sec-WebSocket-Accept for our key.
 *  2. frames.  struct ws_frame runs a libwslay client context over a byte
 *     stream given as read/write functions (ws_frame_ops): first the bytes
 *     left over from the head, then ops.read.  Masking, ping -> pong, the
 *     close handshake and reassembly of fragments are libwslay's; a message
 *     longer than SOURCE_WS_MSG_MAX ends the session (close 1009).
 * Nothing here allocates after ws_frame_open, blocks, or keeps a pointer to
 * the caller's bytes beyond what the prototypes say.
 */
#ifndef TRADES_WS_FRAME_H
#define TRADES_WS_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <wslay/wslay.h>

#include "trades/source_ws.h"

#define WS_KEY_LEN    24 /* Sec-WebSocket-Key: base64 of a 16-byte nonce */
#define WS_ACCEPT_LEN 28 /* Sec-WebSocket-Accept: base64 of a SHA-1 digest */

/* The upgrade response as it arrives. */
struct ws_head {
	uint8_t buf[SOURCE_WS_HEADER_MAX]; /* bytes read so far (head, then frames) */
	size_t have;                       /* bytes in buf, at most SOURCE_WS_HEADER_MAX - 1 */
	size_t head_len;                   /* head with its blank line; 0 until complete */
	char text[SOURCE_WS_HEADER_MAX];   /* the head as a NUL-terminated string */
	bool nul;                          /* the head holds a NUL byte (refused) */
};

/* Empties h for a new session. */
void ws_head_init(struct ws_head *h);
/* Where the next read goes: returns buf + have and sets *room (>= 1), or
 * NULL when the buffer is full or the head is complete. */
uint8_t *ws_head_space(struct ws_head *h, size_t *room);
/* Accounts got bytes read into ws_head_space (got <= *room, ENSUREd).
 * Returns 1 when the head is complete (text and head_len set; the bytes
 * after it are buf[head_len, have)), 0 when more is needed, -1 when the
 * buffer is full without a blank line. */
int ws_head_add(struct ws_head *h, size_t got);
/* A complete head is an accepted upgrade for key (WS_KEY_LEN chars): status
 * line "HTTP/1.1 101", Sec-WebSocket-Accept = ws_accept_for(key), no NUL.
 * 0, or -1 with why (the status line, escaped) set. */
int ws_upgrade_check(const struct ws_head *h, const char *key, char *why, size_t whylen);
/* Value of header name (case-insensitive) in a NUL-terminated head, blanks
 * trimmed: a pointer into head with *vlen, or NULL if absent. */
const char *ws_header(const char *head, const char *name, size_t *vlen);
/* base64(SHA-1(key GUID)), NUL-terminated: what the server must answer. */
void ws_accept_for(const char *key, char out[WS_ACCEPT_LEN + 1]);

/* The stream under the frames, and where whole messages go. */
struct ws_frame_ops {
	/* Reads up to len bytes into buf: > 0 bytes read, 0 nothing now (would
	 * block), -1 the stream ended (EOF or an error the owner counted). */
	ssize_t (*read)(void *ctx, uint8_t *buf, size_t len);
	/* Writes up to len bytes: > 0 written, 0 would block, -1 failed. */
	ssize_t (*write)(void *ctx, const uint8_t *buf, size_t len);
	/* One whole message: opcode WSLAY_TEXT_FRAME, WSLAY_BINARY_FRAME,
	 * WSLAY_CONNECTION_CLOSE (status its code, 0 if none), WSLAY_PING or
	 * WSLAY_PONG.  msg is valid during the call; len <= SOURCE_WS_MSG_MAX. */
	void (*message)(void *ctx, uint8_t opcode, const uint8_t *msg, size_t len, uint16_t status);
	void *ctx; /* passed to each */
};

/* One session's framing. */
struct ws_frame {
	wslay_event_context_ptr wc; /* NULL when closed */
	struct ws_frame_ops ops;    /* copied at open */
	const uint8_t *pre;         /* bytes read with the head (the owner keeps them) */
	size_t pre_len, pre_off;    /* their length, and how many were handed over */
};

/* Starts a client context over ops; pre/pre_len: bytes already read past
 * the head (may be 0; must outlive the session).  0, or -1 (no memory). */
int ws_frame_open(struct ws_frame *f, const struct ws_frame_ops *ops, const uint8_t *pre,
                  size_t pre_len);
/* Reads and handles what the stream has now.  0 go on, -1 the session
 * ended (the stream ended, or a protocol error). */
int ws_frame_recv(struct ws_frame *f);
/* Writes what is queued (pongs, close, queued text).  0, or -1 failed. */
int ws_frame_send(struct ws_frame *f);
bool ws_frame_want_read(const struct ws_frame *f);
bool ws_frame_want_write(const struct ws_frame *f);
/* Bytes read with the head are still waiting (do not wait on the socket). */
bool ws_frame_buffered(const struct ws_frame *f);
/* Queues one text message (copied).  0, or -1 (closing, no memory). */
int ws_frame_queue_text(struct ws_frame *f, const char *text, size_t len);
/* Queues a close frame with code.  0, or -1. */
int ws_frame_queue_close(struct ws_frame *f, uint16_t code);
/* Frees the context; safe on a closed or zeroed f. */
void ws_frame_close(struct ws_frame *f);

#endif
