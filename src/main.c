/* main.c -- `trades SUBCOMMAND ...`: dispatch only; each subcommand lives in
 * src/cli/ and owns its options, help text and exit codes (cli.h). */
#include <stdio.h>
#include <string.h>

#include "cli/candles_cli.h"
#include "cli/cli.h"
#include "cli/kraken_cli.h"
#include "trades/log.h"

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *what;
} commands[] = {
        {"serve", cmd_serve, "receive trades from TCP/UDP listeners into state and journal"},
        {"replay", cmd_replay, "feed files (or stdin) through the same pipeline, then exit"},
        {"backfill", cmd_backfill, "Kraken REST trades from --since into state and journal"},
        {"stat", cmd_stat, "per-instrument and per-feed state (table or --json); live-safe"},
        {"candles", cmd_candles, "recent OHLCV candles of one pair from the state; --json"},
        {"check", cmd_check, "verify state and journal offline, read-only (exit 1 on damage)"},
        {"tail", cmd_tail, "journal records as JSON lines (the output contract); --follow"},
        {"health", cmd_health, "exit 0 if a live writer holds the state with a fresh heartbeat"},
        {"version", cmd_version, "version, allocator, features"},
};

static void usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: trades COMMAND [OPTIONS]   (trades COMMAND --help for details)\n\n");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].what);
	fprintf(f, "\nexit codes: 0 ok, 1 runtime error, 2 usage error, 3 state/journal refused\n");
}

int main(int argc, char **argv)
{
	size_t i;

	if (argc < 2) {
		usage(stderr);
		return CLI_USAGE;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return CLI_OK;
	}
	if (!strcmp(argv[1], "--version"))
		return cmd_version(argc - 1, argv + 1);
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(argv[1], commands[i].name) == 0) {
			log_set_name("trades");
			return commands[i].fn(argc - 1, argv + 1);
		}
	}
	fprintf(stderr, "trades: unknown command '%s'\n\n", argv[1]);
	usage(stderr);
	return CLI_USAGE;
}
