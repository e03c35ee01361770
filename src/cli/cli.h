/* cli.h -- what the subcommands of `trades` share: exit codes, environment
 * defaults, strict number parsing, the common state/journal options. */
#ifndef TRADES_CLI_H
#define TRADES_CLI_H

#include <stdbool.h>
#include <stdint.h>

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

/* Common pipeline options from the environment, overridable by flags. */
struct cli_store {
	const char *state_dir;
	const char *sync;
	uint64_t segment_bytes;
	uint64_t instruments;
};
int cli_store_env(const char *cmd, struct cli_store *st);
int cli_store_config(const char *cmd, const struct cli_store *st, struct pipeline_config *pc);

/* Subcommands: each parses its own argv (argv[0] is the subcommand). */
int cmd_serve(int argc, char **argv);
int cmd_replay(int argc, char **argv);
int cmd_stat(int argc, char **argv);
int cmd_tail(int argc, char **argv);
int cmd_health(int argc, char **argv);
int cmd_version(int argc, char **argv);

#endif
