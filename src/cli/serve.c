/* serve.c -- `trades serve`: listeners -> pipeline until SIGINT/SIGTERM.
 *
 * Order of events: options -> pipeline_open (recovers the state from the
 * journal) -> sockets bound -> "listening ..." lines and "ready" on stdout
 * -> source_run -> on the signal: drain sockets, commit, sync, mark clean. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "trades/log.h"
#include "trades/sink.h"
#include "trades/source.h"

static volatile sig_atomic_t serve_stop;

static void serve_on_signal(int sig)
{
	(void)sig;
	serve_stop = 1;
}

static void serve_usage(FILE *f)
{
	fprintf(f,
		"usage: trades serve [--tcp HOST:PORT[,feed=NAME]]... [--udp HOST:PORT[,feed=NAME]]...\n"
		"                    [--state-dir DIR] [--io auto|uring|epoll] [--sync MODE]\n"
		"                    [--segment-size BYTES] [--instruments N] [--max-conns N]\n"
		"                    [--rcvbuf BYTES] [--print] [--log-level LEVEL]\n\n"
		"Receives JSON-lines trades on TCP (many clients, lines may span reads) and UDP\n"
		"(one or more lines per datagram), appends each new trade to the journal and\n"
		"applies it to the memory-mapped state.  Runs until SIGINT/SIGTERM, then drains\n"
		"the sockets, syncs and marks the state clean.  Port 0 picks a free port; the\n"
		"bound ports are printed as 'listening tcp IP:PORT feed=NAME', then 'ready'.\n\n"
		"  --tcp SPEC         TCP listener (repeatable)      env TRADES_TCP (space-separated)\n"
		"  --udp SPEC         UDP listener (repeatable)      env TRADES_UDP\n"
		"                     default without any: --tcp 127.0.0.1:7001 --udp 127.0.0.1:7002\n"
		"  --state-dir DIR    state file and journal/        env TRADES_STATE_DIR (./state)\n"
		"  --io MODE          auto (io_uring, else epoll), uring, epoll   env TRADES_IO (auto)\n"
		"  --sync MODE        journal msync: none, always (every receive batch),\n"
		"                     interval:MS                    env TRADES_SYNC (none)\n"
		"  --segment-size N   journal segment bytes (64Mi)   env TRADES_SEGMENT_SIZE\n"
		"  --instruments N    instrument slots of a new state file (65536) env TRADES_INSTRUMENTS\n"
		"  --max-conns N      concurrent TCP clients (1024)  env TRADES_MAX_CONNS\n"
		"  --rcvbuf BYTES     UDP receive buffer (64Mi, SO_RCVBUFFORCE as root)\n"
		"  --print            also write accepted trades to stdout as contract JSON lines\n"
		"  --log-level LEVEL  debug, info, warn, error       env TRADES_LOG_LEVEL (info)\n\n"
		"exit codes: 0 stopped cleanly, 1 runtime error, 2 usage, 3 state/journal refused\n");
}

struct serve_opts {
	struct cli_store st;
	const char *io;
	uint64_t max_conns;
	uint64_t rcvbuf;
	bool print;
	int ntcp, nudp;
	const char *tcp[SOURCE_LISTEN_MAX], *udp[SOURCE_LISTEN_MAX];
	char envbuf[2][1024];
};

/* Splits a whitespace-separated environment list into specs. */
static int serve_env_list(struct serve_opts *o, const char *name, int which)
{
	const char *v = cli_env(name, NULL);
	char *save = NULL, *tok;
	int *n = which ? &o->nudp : &o->ntcp;
	const char **list = which ? o->udp : o->tcp;

	if (!v)
		return 0;
	snprintf(o->envbuf[which], sizeof(o->envbuf[which]), "%s", v);
	for (tok = strtok_r(o->envbuf[which], " \t\n", &save); tok;
	     tok = strtok_r(NULL, " \t\n", &save)) {
		if (*n >= SOURCE_LISTEN_MAX) {
			fprintf(stderr, "trades serve: %s: more than %d listeners\n", name,
				SOURCE_LISTEN_MAX);
			return -1;
		}
		list[(*n)++] = tok;
	}
	return 0;
}

static int serve_parse(int argc, char **argv, struct serve_opts *o)
{
	static const struct option opts[] = {
		{"tcp", required_argument, 0, 't'},       {"udp", required_argument, 0, 'u'},
		{"state-dir", required_argument, 0, 'd'}, {"io", required_argument, 0, 'i'},
		{"sync", required_argument, 0, 's'},      {"segment-size", required_argument, 0, 'g'},
		{"instruments", required_argument, 0, 'n'}, {"max-conns", required_argument, 0, 'c'},
		{"rcvbuf", required_argument, 0, 'r'},    {"print", no_argument, 0, 'p'},
		{"log-level", required_argument, 0, 'l'}, {"help", no_argument, 0, 'h'},
		{0, 0, 0, 0},
	};
	bool cli_tcp = false, cli_udp = false;
	int c;

	memset(o, 0, sizeof(*o));
	o->io = cli_env("TRADES_IO", "auto");
	o->max_conns = SOURCE_CONNS_DEFAULT;
	o->rcvbuf = SOURCE_RCVBUF_DEFAULT;
	if (cli_store_env("serve", &o->st) < 0 || serve_env_list(o, "TRADES_TCP", 0) < 0 ||
	    serve_env_list(o, "TRADES_UDP", 1) < 0)
		return -1;
	if (cli_env("TRADES_MAX_CONNS", NULL) &&
	    cli_u64("serve", "TRADES_MAX_CONNS", getenv("TRADES_MAX_CONNS"), 1, SOURCE_CONNS_MAX,
		    false, &o->max_conns) < 0)
		return -1;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		int *n = c == 't' ? &o->ntcp : &o->nudp;
		const char **list = c == 't' ? o->tcp : o->udp;

		switch (c) {
		case 't':
		case 'u':
			/* Flags replace the environment's list rather than add to it. */
			if (c == 't' && !cli_tcp) {
				cli_tcp = true;
				o->ntcp = 0;
			}
			if (c == 'u' && !cli_udp) {
				cli_udp = true;
				o->nudp = 0;
			}
			if (*n >= SOURCE_LISTEN_MAX) {
				fprintf(stderr, "trades serve: more than %d --%s listeners\n",
					SOURCE_LISTEN_MAX, c == 't' ? "tcp" : "udp");
				return -1;
			}
			list[(*n)++] = optarg;
			break;
		case 'd': o->st.state_dir = optarg; break;
		case 'i': o->io = optarg; break;
		case 's': o->st.sync = optarg; break;
		case 'g':
			if (cli_u64("serve", "--segment-size", optarg, JOURNAL_SEGMENT_MIN,
				    JOURNAL_SEGMENT_MAX, true, &o->st.segment_bytes) < 0)
				return -1;
			break;
		case 'n':
			if (cli_u64("serve", "--instruments", optarg, 1, STATE_INST_CAP_MAX, true,
				    &o->st.instruments) < 0)
				return -1;
			break;
		case 'c':
			if (cli_u64("serve", "--max-conns", optarg, 1, SOURCE_CONNS_MAX, false,
				    &o->max_conns) < 0)
				return -1;
			break;
		case 'r':
			if (cli_u64("serve", "--rcvbuf", optarg, 4096, 1u << 30, true, &o->rcvbuf) < 0)
				return -1;
			break;
		case 'p': o->print = true; break;
		case 'l':
			if (cli_log_level(optarg) < 0) {
				fprintf(stderr, "trades serve: --log-level '%s': use debug, info, warn or error\n",
					optarg);
				return -1;
			}
			break;
		case 'h': serve_usage(stdout); exit(CLI_OK);
		default: serve_usage(stderr); return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "trades serve: unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	if (o->ntcp == 0 && o->nudp == 0) {
		o->tcp[o->ntcp++] = "127.0.0.1:7001";
		o->udp[o->nudp++] = "127.0.0.1:7002";
	}
	return 0;
}

/* Adds the listeners; errors name the spec.  -1 is a usage error. */
static int serve_listeners(struct source *src, const struct serve_opts *o)
{
	char err[256];
	int i;

	for (i = 0; i < o->ntcp; i++)
		if (source_add(src, SOURCE_TCP, DECODER_JSONL, o->tcp[i], err, sizeof(err)) < 0)
			goto bad;
	for (i = 0; i < o->nudp; i++)
		if (source_add(src, SOURCE_UDP, DECODER_JSONL, o->udp[i], err, sizeof(err)) < 0)
			goto bad;
	return 0;
bad:
	fprintf(stderr, "trades serve: %s\n", err);
	return -1;
}

static void serve_announce(const struct source *src)
{
	char addr[DECODER_PEER_MAX];
	unsigned i;

	for (i = 0; i < src->nlisten; i++) {
		const struct source_listen *l = &src->listen[i];

		decoder_addr_str((const struct sockaddr *)&l->addr, addr, sizeof(addr));
		/* addr holds the requested port; print the bound one. */
		*strrchr(addr, ':') = '\0';
		printf("listening %s %s:%u feed=%s\n", l->kind == SOURCE_TCP ? "tcp" : "udp", addr,
		       l->port, l->feed_name);
	}
	printf("ready\n");
	fflush(stdout);
}

static int serve_run(struct serve_opts *o, struct pipeline *pipe, struct source *src)
{
	struct source_config sc = {.max_conns = (unsigned)o->max_conns,
				   .rcvbuf_bytes = (uint32_t)o->rcvbuf,
				   .stop = &serve_stop};
	char err[512];
	int rc;

	if (source_io_parse(o->io, &sc.io) < 0) {
		fprintf(stderr, "trades serve: --io '%s': use auto, uring or epoll\n", o->io);
		return CLI_USAGE;
	}
	if (source_open(src, pipe, &sc, err, sizeof(err)) < 0) {
		log_error("%s", err);
		return CLI_FAIL;
	}
	log_info("io: %s%s%s", source_io_name(src->active), src->fallback_why[0] ? " -- " : "",
		 src->fallback_why);
	serve_announce(src);
	rc = source_run(src);
	log_info("stopping: %llu connections, %llu datagrams, %llu bytes received",
		 (unsigned long long)src->stats.conns_accepted,
		 (unsigned long long)src->stats.datagrams, (unsigned long long)src->stats.bytes);
	source_close(src);
	return rc < 0 ? CLI_FAIL : CLI_OK;
}

int cmd_serve(int argc, char **argv)
{
	static struct source src; /* large: keep it off the stack */
	static struct pipeline pipe;
	struct sigaction sa = {.sa_handler = serve_on_signal};
	struct pipeline_config pc;
	struct serve_opts o;
	char err[512];
	int rc;

	if (serve_parse(argc, argv, &o) < 0 || cli_store_config("serve", &o.st, &pc) < 0)
		return CLI_USAGE;
	memset(&src, 0, sizeof(src));
	if (serve_listeners(&src, &o) < 0)
		return CLI_USAGE;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (pipeline_open(&pipe, &pc, err, sizeof(err)) < 0) {
		log_error("%s", err);
		return CLI_REFUSED;
	}
	if (o.print)
		pipeline_add_sink(&pipe, sink_jsonl_open(stdout));
	log_info("state %s: %u instruments, journal at entry %llu (%llu replayed at start)",
		 o.st.state_dir, (unsigned)atomic_load(&pipe.state.hdr->inst_count),
		 (unsigned long long)pipe.journal.next_jseq - 1,
		 (unsigned long long)pipe.stats.replayed);
	rc = serve_run(&o, &pipe, &src);
	pipeline_close(&pipe, rc == CLI_OK);
	log_info("stopped: %llu received, %llu accepted, %llu duplicates, %llu malformed",
		 (unsigned long long)pipe.stats.received, (unsigned long long)pipe.stats.accepted,
		 (unsigned long long)pipe.stats.duplicates, (unsigned long long)pipe.stats.malformed);
	return rc;
}
