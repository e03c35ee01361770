/* version.c -- `trades version` and `trades health`. */
#include <dlfcn.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "config.h"
#include "trades/source.h"
#include "trades/source_dpdk.h"
#include "trades/state.h"
#include "trades/timefmt.h"

/* Which allocator serves malloc: the shared object the symbol resolves to,
 * and jemalloc's own version when its mallctl is there.  Resolving at run
 * time (not a compile-time flag) is the point: it proves what is in use. */
static void version_allocator(void)
{
	int (*mallctl)(const char *, void *, size_t *, void *, size_t) =
	        (int (*)(const char *, void *, size_t *, void *, size_t))dlsym(RTLD_DEFAULT,
	                                                                       "mallctl");
	const char *ver = NULL;
	size_t len = sizeof(ver);
	void *probe = malloc(64);
	Dl_info info = {0};

	dladdr((void *)(uintptr_t)&malloc, &info);
	if (mallctl && mallctl("version", &ver, &len, NULL, 0) == 0)
		printf("allocator: jemalloc %s (malloc from %s)\n", ver,
		       info.dli_fname ? info.dli_fname : "?");
	else
		printf("allocator: system (malloc from %s)\n",
		       info.dli_fname ? info.dli_fname : "?");
	free(probe);
}

int cmd_version(int argc, char **argv)
{
	char why[160] = "";

	(void)argc;
	(void)argv;
	printf("trades %s\n", TRADES_VERSION);
	version_allocator();
	if (source_io_available(SOURCE_IO_URING, why, sizeof(why)))
		printf("io_uring: available\n");
	else
		printf("io_uring: unavailable -- %s\n", why);
	printf("features: sdt=%s pcap=%s dpdk=%s bpf=%s\n", HAVE_SDT ? "yes" : "no",
	       HAVE_PCAP ? "yes" : "no", HAVE_DPDK ? "yes" : "no", HAVE_BPF ? "yes" : "no");
#if HAVE_DPDK
	printf("dpdk: %s (serve --dpdk)\n", source_dpdk_version());
#else
	printf("dpdk: not compiled in (build with -Ddpdk=enabled and libdpdk-dev)\n");
#endif
	return CLI_OK;
}

int cli_health_state(const struct state *s, const char *dir, uint64_t max_age_s, FILE *f)
{
	int pid = cli_writer_pid(s);
	int64_t age_ms = (timefmt_now_ns() - atomic_load(&s->hdr->heartbeat_ns)) / 1000000;

	if (pid <= 0) {
		fprintf(f, "unhealthy: no process is serving %s\n", dir);
		return CLI_FAIL;
	}
	if (age_ms > (int64_t)max_age_s * 1000) {
		fprintf(f, "unhealthy: writer pid %d heartbeat %lld ms old\n", pid,
		        (long long)age_ms);
		return CLI_FAIL;
	}
	fprintf(f, "healthy: writer pid %d, heartbeat %lld ms ago\n", pid, (long long)age_ms);
	return CLI_OK;
}

static int health_verdict(const char *dir, uint64_t max_age_s, FILE *f)
{
	struct state s;
	char err[512];
	int rc;

	if (state_open(&s, dir, STATE_OPEN_READ, 0, err, sizeof(err)) < 0) {
		fprintf(f, "unhealthy: %s\n", err);
		return CLI_FAIL;
	}
	rc = cli_health_state(&s, dir, max_age_s, f);
	state_close(&s, false);
	return rc;
}

int cmd_health(int argc, char **argv)
{
	static const struct option opts[] = {
	        {"max-age", required_argument, 0, 'a'},
	        CLI_COMMON_OPTIONS,
	        {0, 0, 0, 0},
	};
	struct cli_common co;
	uint64_t max_age_s = 10;
	int c, r;

	if (cli_common_init("health", &co) < 0)
		return CLI_USAGE;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		r = cli_common_opt("health", c, optarg, &co);
		if (r < 0 || (r == 0 && c != 'a'))
			return CLI_USAGE;
		if (c == 'a' &&
		    cli_u64("health", "--max-age", optarg, 1, 86400, false, &max_age_s) < 0)
			return CLI_USAGE;
		if (co.help) {
			printf("usage: trades health [--state-dir DIR] [--max-age SECONDS]\n\n"
			       "Exit 0 when a running `trades serve` holds the state and refreshed "
			       "its\n"
			       "heartbeat within --max-age seconds (10); else 1 with the "
			       "reason.\n\n" CLI_COMMON_HELP);
			return CLI_OK;
		}
	}
	return health_verdict(co.state_dir, max_age_s, stdout);
}
