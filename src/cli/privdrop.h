/* privdrop.h -- `trades serve --user NAME`: least privilege after start-up.
 * Private to src/cli/.
 *
 *   --user NAME    env TRADES_USER: when started as root, switch to NAME
 *                  once sockets, state, journal (and the DPDK EAL) are open
 *
 * With a user: the state directory is made NAME's (chown of the directory
 * and what is in it, mode 0700) unless another non-root user owns it
 * (refused); then supplementary groups, gid and uid become NAME's, only the
 * capabilities the caller keeps stay permitted and effective, the bounding
 * and ambient sets lose everything else, and no_new_privs is set.
 * Without a user, as root: the bounding and ambient sets are cleared down
 * to the kept capabilities and no_new_privs is set (uid 0 stays).
 * One log line says which user and which capabilities remain. */
#ifndef TRADES_CLI_PRIVDROP_H
#define TRADES_CLI_PRIVDROP_H

#include <getopt.h>
#include <stdint.h>

#define PRIVDROP_OPT_USER 1201 /* getopt value of --user */
#define PRIVDROP_OPTION                                                                            \
	{                                                                                          \
		"user", required_argument, 0, PRIVDROP_OPT_USER                                    \
	}
#define PRIVDROP_HELP                                                                              \
	"  --user NAME        as root: run as NAME after start-up, with only the\n"                \
	"                     capabilities the source needs  env TRADES_USER\n"

/* One capability as a bit of the keep mask (CAP_NET_RAW ...). */
#define PRIVDROP_CAP(c) (UINT64_C(1) << (c))

/* Handles PRIVDROP_OPTION: 1 handled (NAME recorded), 0 not it. */
int privdrop_opt(int c, const char *arg);

/* Drops privileges as described above, keeping the capabilities in keep
 * (a mask of PRIVDROP_CAP bits; 0 for none).  Call once, after every
 * privileged open and before threads are started where possible.
 * Returns 0 (CLI_OK), or an exit code after logging why: CLI_USAGE for an
 * unknown user or --user without root, CLI_REFUSED for a state directory
 * another user owns, CLI_FAIL for a failed system call (named, errno). */
int privdrop_apply(const char *cmd, const char *state_dir, uint64_t keep);

#endif
