/* serve_dpdk.h -- `trades serve --dpdk ...`: the DPDK source wired to the
 * decoders and the pipeline (serve_dpdk.c).  serve.c hands the whole
 * command over when it sees --dpdk. */
#ifndef TRADES_CLI_SERVE_DPDK_H
#define TRADES_CLI_SERVE_DPDK_H

#include <stdbool.h>

/* true when argv holds "--dpdk" or "--dpdk=..." (before a "--"). */
bool serve_dpdk_requested(int argc, char **argv);
/* The whole `trades serve` for the DPDK source; returns an exit code
 * (enum cli_exit).  A binary built without DPDK prints why and returns
 * CLI_USAGE. */
int cmd_serve_dpdk(int argc, char **argv);

#endif
