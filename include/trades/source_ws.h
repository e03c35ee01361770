/* source_ws.h -- a WebSocket-over-TLS client as a source (RFC 6455).
 *
 * One outgoing connection to a wss:// URL: TCP, TLS with OpenSSL (SNI,
 * certificate chain and host name verification always on; the system's CA
 * store or --tls-ca FILE), the HTTP/1.1 upgrade (Sec-WebSocket-Accept
 * checked), then libwslay for the framing: client masking, ping -> pong,
 * close handshake, fragmented and continuation frames reassembled.
 *
 * Every whole text message goes to the handler's datagram() callback (ch
 * ->conn 0, ch->gen the session number); opened() runs once per session
 * right after the upgrade (the place to subscribe with source_ws_send),
 * closed() once when the session ends; batch_end() after every loop turn,
 * at least every SOURCE_WAIT_MS, also while waiting to reconnect.
 *
 * A session ends on EOF, a TLS or protocol error, a close frame, or silence
 * longer than dead_ms; the source then reconnects after a jittered
 * exponential backoff: attempt k waits a uniform random time in
 * [d/2, d], d = min(backoff_max_ms, backoff_min_ms * 2^k); k restarts at 0
 * after a session that delivered a message.  It stops when *stop is set
 * (sending a close frame) or after max_sessions sessions.
 */
#ifndef TRADES_SOURCE_WS_H
#define TRADES_SOURCE_WS_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "trades/source.h"

#define SOURCE_WS_HOST_MAX       255
#define SOURCE_WS_PATH_MAX       512
#define SOURCE_WS_MSG_MAX        (16u << 20) /* longest message; longer closes with 1009 */
#define SOURCE_WS_HEADER_MAX     8192        /* the server's upgrade response */
#define SOURCE_WS_CONNECT_MS     10000       /* TCP connect + TLS + upgrade, each step */
#define SOURCE_WS_DEAD_MS        30000       /* silence that ends a session (default) */
#define SOURCE_WS_BACKOFF_MIN_MS 250
#define SOURCE_WS_BACKOFF_MAX_MS 30000
#define SOURCE_WS_SEND_MAX       65536 /* longest text source_ws_send queues */

struct source_ws_config {
	const char *url;             /* wss://HOST[:PORT][/PATH] */
	const char *ca_file;         /* PEM CA bundle; NULL = system store */
	uint32_t dead_ms;            /* 0 = SOURCE_WS_DEAD_MS */
	uint32_t backoff_min_ms;     /* 0 = SOURCE_WS_BACKOFF_MIN_MS */
	uint32_t backoff_max_ms;     /* 0 = SOURCE_WS_BACKOFF_MAX_MS */
	uint64_t max_sessions;       /* 0 = no limit; else stop after this many */
	volatile sig_atomic_t *stop; /* set by the signal handler */
	struct source_handler h;
};

struct source_ws_stats {
	uint64_t sessions;     /* upgrades completed */
	uint64_t connects;     /* connection attempts */
	uint64_t failures;     /* attempts that failed before the upgrade completed */
	uint64_t messages;     /* text messages delivered */
	uint64_t bytes;        /* their payload bytes */
	uint64_t binary;       /* binary messages (ignored, counted) */
	uint64_t dead;         /* sessions ended by silence */
	uint64_t errors;       /* sessions ended by a TLS, socket or protocol error */
	uint64_t closes;       /* sessions ended by the server's close frame or EOF */
	uint64_t send_dropped; /* source_ws_send calls refused (no session, queue error) */
};

struct source_ws; /* opaque: TLS context, socket, wslay context */

/* Parses the URL, creates the TLS context and loads the CA.  *out is
 * allocated here, once.  0, or -1 with err naming the URL or the CA file. */
int source_ws_open(struct source_ws **out, const struct source_ws_config *cfg, char *err,
                   size_t errlen);
/* Connects, runs sessions and reconnects until *stop or max_sessions.
 * Returns 0 (stopped), or -1 if no session ever opened and max_sessions
 * was reached (the last error logged). */
int source_ws_run(struct source_ws *ws);
/* Queues one text message on the current session (sent within the loop
 * turn).  0, or -1 when there is no session or the queue refused it
 * (counted in send_dropped).  len <= SOURCE_WS_SEND_MAX. */
int source_ws_send(struct source_ws *ws, const char *text, size_t len);
/* Ends the current session now (the loop reconnects after the backoff). */
void source_ws_drop(struct source_ws *ws);
const struct source_ws_stats *source_ws_stats(const struct source_ws *ws);
/* "host:port" of the URL, for logs. */
const char *source_ws_peer(const struct source_ws *ws);
void source_ws_close(struct source_ws *ws);

#endif
