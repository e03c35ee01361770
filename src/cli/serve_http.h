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

#endif
