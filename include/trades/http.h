/* http.h -- the operator's HTTP endpoint of `trades serve --http HOST:PORT`.
 *
 * A libmicrohttpd daemon on a thread of its own.  It opens the state file
 * read-only once (STATE_OPEN_READ, like `trades stat`: its own mapping, no
 * lock) and reads it under the per-instrument seqlocks, so the ingest loop
 * is never blocked or waited on.  Opened once and closed only by http_stop,
 * because closing any fd of the state file drops the writer's POSIX lock in
 * this process: call http_stop after the writer closed the state.
 * Endpoints:
 *   /metrics  Prometheus text exposition 0.0.4
 *   /stat     the JSON of `trades stat --json` (cfg.stat_json)
 *   /healthz  the verdict of `trades health` (cfg.health): 200 or 503
 *   /         a self-contained HTML status page polling /stat
 * Anything else is 404; methods other than GET/HEAD are 405. */
#ifndef TRADES_HTTP_H
#define TRADES_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "trades/state.h"

#define HTTP_CONN_LIMIT      64          /* concurrent connections the daemon accepts */
#define HTTP_PER_IP_LIMIT    32          /* of them from one address */
#define HTTP_TIMEOUT_S       5           /* idle/slow connection closed after this */
#define HTTP_CONN_MEMORY     (32 * 1024) /* per-connection buffer: request line + headers */
#define HTTP_INSTRUMENTS_MAX 65536       /* --http-instruments cap */
_Static_assert(HTTP_PER_IP_LIMIT <= HTTP_CONN_LIMIT, "per-address limit within the total");

/* Writes a body to f for one request from the open state s of directory
 * dir; returns 0 (ok/healthy) or -1 (the answer is 503 with what was
 * written). */
typedef int (*http_writer)(const struct state *s, const char *dir, FILE *f);

struct http_config {
	struct sockaddr_storage addr; /* where to listen (addr_parse; port 0 = any free) */
	const char *state_dir;        /* the state directory served */
	uint32_t instruments;  /* per-instrument metric series: at most this many (0 = none) */
	http_writer stat_json; /* /stat body: trades stat --json */
	http_writer health;    /* /healthz body: trades health */
};

struct http;

/* Opens the state read-only and starts the daemon.  Returns it, or NULL
 * with err set ("http 127.0.0.1:80: MHD_start_daemon: ...").  cfg is copied;
 * state_dir must outlive the daemon. */
struct http *http_start(const struct http_config *cfg, char *err, size_t errlen);
/* The bound address (the port filled in when 0 was asked for). */
const struct sockaddr *http_addr(const struct http *h);
/* Stops the thread, closes connections and the state, frees h (NULL is a
 * no-op). */
void http_stop(struct http *h);

/* Writes the Prometheus exposition of the open state s to f (at most cap
 * per-instrument series). */
void http_metrics_write(const struct state *s, uint32_t cap, FILE *f);
/* Writes s (at most max bytes, stops at NUL) as a Prometheus label value,
 * quotes included: backslash, double quote and newline escaped. */
void http_label_write(FILE *f, const char *s, size_t max);

#endif
