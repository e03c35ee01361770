/* cli.h -- what the subcommands of `trades` share: exit codes, environment
 * defaults, strict number parsing, the common state/journal options. */
#ifndef TRADES_CLI_H
#define TRADES_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "trades/decoder.h"
#include "trades/journal.h"
#include "trades/pipeline.h"

/* Exit codes.  Scripts and supervisors branch on these. */
enum cli_exit {
	CLI_OK = 0,
	CLI_FAIL = 1,    /* runtime error: I/O, sockets, resources */
	CLI_USAGE = 2,   /* bad command line or environment value */
	CLI_REFUSED = 3, /* state or journal refused: wrong magic/version, locked, corrupt */
};

#define CLI_STATE_DIR_DEFAULT "./state"

/* getenv with a default ("" counts as unset). */
const char *cli_env(const char *name, const char *dflt);

/* Parses an unsigned decimal in [min, max] (k/M/G/Ki/Mi/Gi suffixes when
 * sizes is set).  On error prints "trades CMD: OPT 'TEXT': why" and returns
 * -1; the caller exits CLI_USAGE. */
int cli_u64(const char *cmd, const char *opt, const char *text, uint64_t min, uint64_t max,
            bool sizes, uint64_t *out);

/* Sets the log level from a name (debug|info|warn|error); -1 if unknown. */
int cli_log_level(const char *name);

/* ---- The options every subcommand shares: one table, one handler ----
 *   --state-dir DIR     env TRADES_STATE_DIR (./state)
 *   --log-level LEVEL   env TRADES_LOG_LEVEL (info)
 *   --help, -h
 * A subcommand puts CLI_COMMON_OPTIONS in its getopt table, calls
 * cli_common_init before parsing and cli_common_opt for every option. */
enum { CLI_OPT_STATE_DIR = 900, CLI_OPT_LOG_LEVEL = 901, CLI_OPT_HELP = 'h' };
#define CLI_COMMON_OPTIONS                                                                         \
	{"state-dir", required_argument, 0, CLI_OPT_STATE_DIR},                                    \
	        {"log-level", required_argument, 0, CLI_OPT_LOG_LEVEL},                            \
	{                                                                                          \
		"help", no_argument, 0, CLI_OPT_HELP                                               \
	}
#define CLI_COMMON_HELP                                                                            \
	"  --state-dir DIR    state file and journal/        env TRADES_STATE_DIR (./state)\n"     \
	"  --log-level LEVEL  debug, info, warn, error       env TRADES_LOG_LEVEL (info)\n"        \
	"  --help             this text\n"
struct cli_common {
	const char *state_dir; /* TRADES_STATE_DIR, else CLI_STATE_DIR_DEFAULT; --state-dir */
	bool help;             /* --help given: print usage to stdout, exit CLI_OK */
};
/* Defaults from the environment (and sets the log level from
 * TRADES_LOG_LEVEL).  0, or -1 after printing "trades CMD: ..." (usage). */
int cli_common_init(const char *cmd, struct cli_common *co);
/* Handles one of CLI_COMMON_OPTIONS: 1 handled, 0 not one of them, -1 bad
 * value (message printed: usage error). */
int cli_common_opt(const char *cmd, int c, const char *arg, struct cli_common *co);

/* Common pipeline options from the environment, overridable by flags. */
struct cli_store {
	const char *state_dir;
	const char *sync;
	uint64_t segment_bytes;
	uint64_t instruments;
};
int cli_store_env(const char *cmd, struct cli_store *st);
int cli_store_config(const char *cmd, const struct cli_store *st, struct pipeline_config *pc);

/* ITCH/MoldUDP64 options shared by serve and replay:
 *   --itch-midnight RFC3339   the feed day's midnight (default: today, US/Eastern)
 *   --book-orders N           live orders the book holds
 *   --mold-session NAME       expected MoldUDP64 session (default: adopt the first)
 *   --mold-timeout MS         hole wait and re-request deadline
 *   --mold-ahead N            later holes re-requested in parallel (mold.h) */
struct cli_itch {
	int64_t midnight_ns;
	uint64_t book_orders;
	uint64_t timeout_ms;
	uint64_t reorder_ms;
	uint64_t ahead;
	const char *session;
};
#define CLI_MOLD_REORDER_MS 10 /* a single line's hole waits this long for a late datagram */
#define CLI_ITCH_OPTIONS                                                                           \
	{"itch-midnight", required_argument, 0, 1001},                                             \
	        {"book-orders", required_argument, 0, 1002},                                       \
	        {"mold-session", required_argument, 0, 1003},                                      \
	        {"mold-timeout", required_argument, 0, 1004},                                      \
	        {"mold-ahead", required_argument, 0, 1006},                                        \
	{                                                                                          \
		"mold-reorder", required_argument, 0, 1005                                         \
	}
#define CLI_ITCH_HELP                                                                              \
	"  --itch-midnight T  the feed day's midnight, RFC 3339 (ITCH times count from it;\n"      \
	"                     default today 00:00 US/Eastern)\n"                                   \
	"  --book-orders N    live orders the ITCH order book holds (4Mi; tens of millions fit)\n" \
	"  --mold-session S   MoldUDP64 session expected (default: the first packet's)\n"          \
	"  --mold-timeout MS  how long a hole waits for the other line / a re-request (200)\n"     \
	"  --mold-reorder MS  how long a hole on a single line waits for a late datagram (10)\n"   \
	"  --mold-ahead N     holes behind the lowest re-requested in parallel, 0..8 (8;\n"        \
	"                     0: one hole at a time)\n"
void cli_itch_defaults(struct cli_itch *o);
/* Handles one of CLI_ITCH_OPTIONS: 1 handled, 0 not one of them, -1 bad value. */
int cli_itch_opt(const char *cmd, int c, const char *arg, struct cli_itch *o);
/* The decoder configuration from the options. */
void cli_itch_config(const struct cli_itch *o, bool mold, struct decoder_itch_config *cfg);

/* The stdout sink of --print, registered in p.  0, or -1 after logging
 * which call failed (an init failure: exit CLI_FAIL). */
int cli_print_sink(const char *cmd, struct pipeline *p);

/* The serve variants (sockets, DPDK, Kraken): SIGINT and SIGTERM call
 * on_signal (which raises the variant's stop flag), SIGPIPE is ignored (a
 * peer that went away is a counted write error, not a death). */
void cli_stop_signals(void (*on_signal)(int));
/* The one "stopped: ..." line a serve variant logs at exit, from the
 * pipeline's totals copied before pipeline_close. */
void cli_log_stopped(const struct pipeline_stats *s);

struct state;
/* The JSON of `trades stat --json` for the open state s of directory
 * state_dir, written to f (also /stat of serve --http).  0, or -1 when an
 * instrument could not be read consistently (the rest is written). */
int cli_stat_json(const struct state *s, const char *state_dir, FILE *f);
/* The verdict of `trades health` for the open state s, one line to f.
 * CLI_OK when a live writer refreshed its heartbeat within max_age_s, else
 * CLI_FAIL. */
int cli_health_state(const struct state *s, const char *dir, uint64_t max_age_s, FILE *f);
/* The pid of the process holding the state's writer lock, also when that is
 * the caller itself (state_writer_pid cannot see its own lock); 0 = none. */
int cli_writer_pid(const struct state *s);

/* Subcommands: each parses its own argv (argv[0] is the subcommand). */
int cmd_serve(int argc, char **argv);
int cmd_replay(int argc, char **argv);
int cmd_stat(int argc, char **argv);
int cmd_check(int argc, char **argv); /* check.c: offline verification */
int cmd_tail(int argc, char **argv);
int cmd_health(int argc, char **argv);
int cmd_version(int argc, char **argv);

#endif
