/* candles_cli.h -- the candle options serve and replay share, and
 * `trades candles` (src/cli/candles.c).
 *
 *   --candles LIST        intervals, e.g. 1s,1m,5m,1h ("off" = none)
 *   --candle-grace DUR    how long a candle stays open for late trades
 *
 * Given on a command line they configure the state (refused, exit 3, if
 * the state already holds trades kept with other settings); not given, the
 * state keeps what it has (a new state file: 1m, grace 2s). */
#ifndef TRADES_CLI_CANDLES_H
#define TRADES_CLI_CANDLES_H

#include <stdbool.h>
#include <stdint.h>

#include "trades/candles.h"
#include "trades/pipeline.h"

struct cli_candles {
	bool set;                         /* --candles or --candle-grace given */
	bool print;                       /* --print-candles */
	uint32_t n;                       /* intervals in ns[] */
	int64_t ns[CANDLE_INTERVALS_MAX]; /* ascending */
	int64_t grace_ns;                 /* CANDLE_GRACE_DEFAULT_NS unless given */
};

enum {
	CLI_OPT_CANDLES = 1401, /* 14xx: issue 14 */
	CLI_OPT_CANDLE_GRACE = 1402,
	CLI_OPT_PRINT_CANDLES = 1403,
};
#define CLI_CANDLE_OPTIONS                                                                         \
	{"candles", required_argument, 0, CLI_OPT_CANDLES},                                        \
	        {"print-candles", no_argument, 0, CLI_OPT_PRINT_CANDLES},                          \
	{                                                                                          \
		"candle-grace", required_argument, 0, CLI_OPT_CANDLE_GRACE                         \
	}
#define CLI_CANDLE_HELP                                                                            \
	"  --candles LIST     OHLCV candle intervals kept in the state, by exchange time\n"        \
	"                     (1s..1d, at most 4, e.g. 1s,1m,5m,1h; off; new state: 1m)\n"         \
	"  --candle-grace D   a candle closes D after its end, later trades are counted\n"         \
	"                     as late, not applied (2s; units ms, s, m)\n"                         \
	"  --print-candles    write each candle as it closes to stdout, one JSON line\n"

/* 1m, grace 2s, not set. */
void cli_candles_defaults(struct cli_candles *o);
/* One of CLI_CANDLE_OPTIONS: 1 handled, 0 not one of them, -1 bad value
 * (message naming cmd, the option and the text printed: a usage error). */
int cli_candles_opt(const char *cmd, int c, const char *arg, struct cli_candles *o);
/* Copies the settings into pc (pc->candles_set only when given). */
void cli_candles_config(const struct cli_candles *o, struct pipeline_config *pc);

/* With --print-candles: registers the stdout candle sink in p.  0, or -1
 * after logging (an init failure: exit CLI_FAIL). */
int cli_candles_start(const char *cmd, const struct cli_candles *o, struct pipeline *p);

int cmd_candles(int argc, char **argv);

#endif
