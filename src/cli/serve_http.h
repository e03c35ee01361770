/* serve_http.h -- `trades serve` options of the HTTP endpoint (trades/http.h)
 * and starting/stopping it around the ingest loop.  Private to src/cli/.
 *
 *   --http HOST:PORT        env TRADES_HTTP; port 0 picks a free one, printed
 *                           as "listening http IP:PORT" before "ready"
 *   --http-instruments N    per-instrument series in /metrics (0 = none)
 * In a build without libmicrohttpd (-Dhttp=disabled) --http is a usage
 * error that says so. */
#ifndef TRADES_CLI_SERVE_HTTP_H
#define TRADES_CLI_SERVE_HTTP_H

#include <stdint.h>

#include "serve_kafka.h"
#include "trades/source.h"
#include "trades/state.h"

struct http;

struct cli_http {
	const char *spec;     /* HOST:PORT, NULL = no endpoint */
	uint64_t instruments; /* --http-instruments */
	struct http *h;       /* running daemon, NULL when none */
};

/* getopt ids: 145x, clear of the candle options' 140x (candles_cli.h) */
enum { CLI_OPT_HTTP = 1451, CLI_OPT_HTTP_INSTRUMENTS = 1452 };

#define CLI_HTTP_OPTIONS                                                                           \
	{"http", required_argument, 0, CLI_OPT_HTTP},                                              \
	{                                                                                          \
		"http-instruments", required_argument, 0, CLI_OPT_HTTP_INSTRUMENTS                 \
	}
#define CLI_HTTP_HELP                                                                              \
	"  --http HOST:PORT   /metrics, /stat, /healthz and a status page at /   env "             \
	"TRADES_HTTP\n"                                                                            \
	"  --http-instruments N  per-instrument series in /metrics, at most N (0)\n"

/* Defaults from the environment.  0, or -1 (printed) for a usage error. */
int cli_http_env(struct cli_http *o);
/* One of CLI_HTTP_OPTIONS: 1 handled, 0 not one of them, -1 bad value. */
int cli_http_opt(int c, const char *arg, struct cli_http *o);
/* Starts the endpoint when --http was given and prints its address.
 * CLI_OK, CLI_USAGE (bad address, not compiled in) or CLI_FAIL (logged). */
int cli_http_start(struct cli_http *o, const char *state_dir);
/* Stops it (no-op when not started).  After pipeline_close: the endpoint
 * holds an fd of the state file, and closing it earlier would drop the
 * writer's lock (a POSIX record lock goes with any close in the process). */
void cli_http_stop(struct cli_http *o);

/* ---- operations figures into the state file (version 6) ----
 * What /metrics and `stat` show of the sources and sinks: the serving loop
 * counts per listener (cli_ops_listener), and at its batch ends calls
 * cli_ops_publish, which at most every STATE_PUBLISH_MS sums the listeners
 * of each feed into the feed's state_source and copies the Kafka sinks'
 * counters into the operations block.  Kernel drops of UDP sockets come from
 * /proc/net/udp and /proc/net/udp6 ("drops", matched by socket inode), read
 * at most once a second.  No allocation. */
struct cli_ops {
	int64_t next_ns;                          /* monotonic: next publish */
	int64_t drops_next_ns;                    /* monotonic: next /proc/net/udp read */
	struct state_source l[SOURCE_LISTEN_MAX]; /* by listener, kernel_drops included */
	uint64_t ino[SOURCE_LISTEN_MAX];          /* UDP listener's socket inode, 0 unknown */
	bool ino_done;
};

/* Hot path: one delivery (bytes, one read or datagram) on listener i. */
static inline void cli_ops_listener(struct cli_ops *o, unsigned i, uint64_t bytes)
{
	if (i < SOURCE_LISTEN_MAX) {
		o->l[i].bytes += bytes;
		o->l[i].packets++;
	}
}
/* One ack result on listener i (source_ack: 1 written, -1 dropped). */
static inline void cli_ops_ack(struct cli_ops *o, unsigned i, int rc)
{
	if (i < SOURCE_LISTEN_MAX && rc != 0)
		*(rc > 0 ? &o->l[i].acks_sent : &o->l[i].acks_dropped) += 1;
}
/* At a batch end: publishes when due.  feed[i] is listener i's feed id;
 * kafka may be NULL. */
void cli_ops_publish(struct cli_ops *o, struct pipeline *p, const struct source *src,
                     const uint16_t *feed, const struct cli_kafka *kafka);
/* The same for a serve path whose source is one feed's and has no listener
 * table (the Kraken WebSocket, a DPDK port): *src, the source's running
 * totals, become feed's figures.  Set o->next_ns = 0 first to publish now. */
void cli_ops_publish_feed(struct cli_ops *o, struct pipeline *p, uint16_t feed,
                          const struct state_source *src, const struct cli_kafka *kafka);

#endif
