/* serve.c -- `trades serve`: listeners -> pipeline until SIGINT/SIGTERM.
 *
 * Order of events: options -> pipeline_open (recovers the state from the
 * journal) -> sockets bound -> "listening ..." lines and "ready" on stdout
 * -> source_run -> on the signal: drain sockets, commit, sync, mark clean. */
#include <arpa/inet.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "serve_dpdk.h"
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
	        "usage: trades serve [--tcp HOST:PORT[,feed=NAME]]... [--udp "
	        "HOST:PORT[,feed=NAME]]...\n"
	        "                    [--state-dir DIR] [--io auto|uring|epoll] [--sync MODE]\n"
	        "                    [--segment-size BYTES] [--instruments N] [--max-conns N]\n"
	        "                    [--rcvbuf BYTES] [--print] [--log-level LEVEL]\n"
	        "                    [--mold HOST:PORT[,feed=NAME][,iface=IP]]... "
	        "[--mold-rerequest HOST:PORT]\n"
	        "                    [ITCH options]\n\n"
	        "Receives JSON-lines trades on TCP (many clients, lines may span reads) and UDP\n"
	        "(one or more lines per datagram), appends each new trade to the journal and\n"
	        "applies it to the memory-mapped state.  Runs until SIGINT/SIGTERM, then drains\n"
	        "the sockets, syncs and marks the state clean.  Port 0 picks a free port; the\n"
	        "bound ports are printed as 'listening tcp IP:PORT feed=NAME', then 'ready'.\n\n"
	        "  --tcp SPEC         TCP listener (repeatable)      env TRADES_TCP "
	        "(space-separated)\n"
	        "  --udp SPEC         UDP listener (repeatable)      env TRADES_UDP\n"
	        "                     default without any: --tcp 127.0.0.1:7001 --udp "
	        "127.0.0.1:7002\n"
	        "  --state-dir DIR    state file and journal/        env TRADES_STATE_DIR "
	        "(./state)\n"
	        "  --io MODE          auto (io_uring, else epoll), uring, epoll   env TRADES_IO "
	        "(auto)\n"
	        "  --sync MODE        journal msync: none, always (every receive batch),\n"
	        "                     interval:MS                    env TRADES_SYNC (none)\n"
	        "  --segment-size N   journal segment bytes (64Mi)   env TRADES_SEGMENT_SIZE\n"
	        "  --instruments N    instrument slots of a new state file (65536) env "
	        "TRADES_INSTRUMENTS\n"
	        "  --max-conns N      concurrent TCP clients (1024)  env TRADES_MAX_CONNS\n"
	        "  --rcvbuf BYTES     UDP receive buffer (64Mi, SO_RCVBUFFORCE as root)\n"
	        "  --mold SPEC        MoldUDP64 (ITCH 5.0) UDP listener; a multicast group is "
	        "joined\n"
	        "                     (iface=IP picks the interface).  Two --mold with the same\n"
	        "                     feed=NAME are the A and B lines of one session: the first "
	        "copy\n"
	        "                     of each message wins; a gap counts only if both miss it\n"
	        "                                                    env TRADES_MOLD\n"
	        "  --mold-rerequest HOST:PORT  MoldUDP64 re-request server: missing ranges are "
	        "asked\n"
	        "                     for, later packets buffered and applied in "
	        "order\n" CLI_ITCH_HELP
	        "  --dpdk \"EAL ARGS\"  kernel-bypass UDP ingest instead of sockets (--dpdk-mold,\n"
	        "                     --dpdk-jsonl): trades serve --dpdk '' --help\n"
	        "  --print            also write accepted trades to stdout as contract JSON lines\n"
	        "  --log-level LEVEL  debug, info, warn, error       env TRADES_LOG_LEVEL "
	        "(info)\n\n"
	        "exit codes: 0 stopped cleanly, 1 runtime error, 2 usage, 3 state/journal "
	        "refused\n");
}

struct serve_opts {
	struct cli_store st;
	const char *io;
	uint64_t max_conns;
	uint64_t rcvbuf;
	bool print;
	int ntcp, nudp, nmold;
	const char *tcp[SOURCE_LISTEN_MAX], *udp[SOURCE_LISTEN_MAX], *mold[SOURCE_LISTEN_MAX];
	const char *rerequest;
	struct cli_itch itch;
	char envbuf[3][1024];
};

/* Splits a whitespace-separated environment list into specs. */
static int serve_env_list(struct serve_opts *o, const char *name, int which)
{
	const char *v = cli_env(name, NULL);
	char *save = NULL, *tok;
	int *n = which == 2 ? &o->nmold : which ? &o->nudp : &o->ntcp;
	const char **list = which == 2 ? o->mold : which ? o->udp : o->tcp;

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
	        {"tcp", required_argument, 0, 't'},
	        {"udp", required_argument, 0, 'u'},
	        {"state-dir", required_argument, 0, 'd'},
	        {"io", required_argument, 0, 'i'},
	        {"sync", required_argument, 0, 's'},
	        {"segment-size", required_argument, 0, 'g'},
	        {"instruments", required_argument, 0, 'n'},
	        {"max-conns", required_argument, 0, 'c'},
	        {"rcvbuf", required_argument, 0, 'r'},
	        {"print", no_argument, 0, 'p'},
	        {"log-level", required_argument, 0, 'l'},
	        {"help", no_argument, 0, 'h'},
	        {"mold", required_argument, 0, 'm'},
	        {"mold-rerequest", required_argument, 0, 'R'},
	        CLI_ITCH_OPTIONS,
	        {0, 0, 0, 0},
	};
	bool cli_tcp = false, cli_udp = false, cli_mold = false;
	int c;

	memset(o, 0, sizeof(*o));
	o->io = cli_env("TRADES_IO", "auto");
	o->max_conns = SOURCE_CONNS_DEFAULT;
	o->rcvbuf = SOURCE_RCVBUF_DEFAULT;
	cli_itch_defaults(&o->itch);
	if (cli_store_env("serve", &o->st) < 0 || serve_env_list(o, "TRADES_TCP", 0) < 0 ||
	    serve_env_list(o, "TRADES_UDP", 1) < 0 || serve_env_list(o, "TRADES_MOLD", 2) < 0)
		return -1;
	if (cli_env("TRADES_MAX_CONNS", NULL) &&
	    cli_u64("serve", "TRADES_MAX_CONNS", getenv("TRADES_MAX_CONNS"), 1, SOURCE_CONNS_MAX,
	            false, &o->max_conns) < 0)
		return -1;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		int *n = c == 't' ? &o->ntcp : &o->nudp;
		const char **list = c == 't' ? o->tcp : o->udp;
		int r = cli_itch_opt("serve", c, optarg, &o->itch);

		if (r < 0)
			return -1;
		if (r > 0)
			continue;
		switch (c) {
		case 'm':
			if (!cli_mold) {
				cli_mold = true;
				o->nmold = 0;
			}
			if (o->nmold >= SOURCE_LISTEN_MAX) {
				fprintf(stderr, "trades serve: more than %d --mold listeners\n",
				        SOURCE_LISTEN_MAX);
				return -1;
			}
			o->mold[o->nmold++] = optarg;
			break;
		case 'R':
			o->rerequest = optarg;
			break;
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
		case 'd':
			o->st.state_dir = optarg;
			break;
		case 'i':
			o->io = optarg;
			break;
		case 's':
			o->st.sync = optarg;
			break;
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
			if (cli_u64("serve", "--rcvbuf", optarg, 4096, 1u << 30, true, &o->rcvbuf) <
			    0)
				return -1;
			break;
		case 'p':
			o->print = true;
			break;
		case 'l':
			if (cli_log_level(optarg) < 0) {
				fprintf(stderr,
				        "trades serve: --log-level '%s': use debug, info, warn or "
				        "error\n",
				        optarg);
				return -1;
			}
			break;
		case 'h':
			serve_usage(stdout);
			exit(CLI_OK);
		default:
			serve_usage(stderr);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "trades serve: unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	if (o->rerequest && o->nmold == 0) {
		fprintf(stderr, "trades serve: --mold-rerequest needs a --mold listener\n");
		return -1;
	}
	if (o->ntcp == 0 && o->nudp == 0 && o->nmold == 0) {
		o->tcp[o->ntcp++] = "127.0.0.1:7001";
		o->udp[o->nudp++] = "127.0.0.1:7002";
	}
	return 0;
}

/* With --mold-rerequest every MoldUDP64 feed gets one more UDP socket, on
 * an ephemeral port: its requests go out on it and the server's answers
 * come back to it (line 2 of the feed's session). */
static unsigned serve_first_answer = SOURCE_LISTEN_MAX; /* answer sockets from here on */

static int serve_mold_answers(struct source *src, const struct serve_opts *o)
{
	unsigned i, j, n = src->nlisten;
	char spec[128], err[256];

	serve_first_answer = n;
	for (i = 0; o->rerequest && i < n; i++) {
		const struct source_listen *l = &src->listen[i];

		if (l->format != DECODER_MOLD)
			continue;
		for (j = 0; j < i; j++)
			if (src->listen[j].format == DECODER_MOLD &&
			    strcmp(src->listen[j].feed_name, l->feed_name) == 0)
				break;
		if (j < i)
			continue; /* the feed's B line: one answer socket per feed */
		snprintf(spec, sizeof(spec), "%s:0,feed=%s",
		         l->addr.ss_family == AF_INET6 ? "[::]" : "0.0.0.0", l->feed_name);
		if (source_add(src, SOURCE_UDP, DECODER_MOLD, spec, err, sizeof(err)) < 0) {
			fprintf(stderr, "trades serve: re-request socket: %s\n", err);
			return -1;
		}
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
	for (i = 0; i < o->nmold; i++)
		if (source_add(src, SOURCE_UDP, DECODER_MOLD, o->mold[i], err, sizeof(err)) < 0)
			goto bad;
	return serve_mold_answers(src, o);
bad:
	fprintf(stderr, "trades serve: %s\n", err);
	return -1;
}

/* "HOST:PORT" of the re-request server, IPv4 or [IPv6]. */
static int serve_parse_hostport(const char *spec, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon = strrchr(spec, ':');
	uint64_t port;
	size_t hl;

	if (!colon || colon == spec || (hl = (size_t)(colon - spec)) >= sizeof(host) ||
	    cli_u64("serve", "--mold-rerequest port", colon + 1, 1, 65535, false, &port) < 0)
		return -1;
	memcpy(host, spec, hl);
	host[hl] = '\0';
	memset(ss, 0, sizeof(*ss));
	if (host[0] == '[' && host[hl - 1] == ']') {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

		host[hl - 1] = '\0';
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*in6);
		return inet_pton(AF_INET6, host + 1, &in6->sin6_addr) == 1 ? 0 : -1;
	}
	struct sockaddr_in *in = (struct sockaddr_in *)ss;

	in->sin_family = AF_INET;
	in->sin_port = htons((uint16_t)port);
	*len = sizeof(*in);
	return inet_pton(AF_INET, strcmp(host, "localhost") ? host : "127.0.0.1", &in->sin_addr) ==
	                       1
	               ? 0
	               : -1;
}

/* The fd of feed's re-request answer socket, and how many lines it has. */
static int serve_mold_lines(const struct source *src, uint16_t feed, unsigned *lines)
{
	unsigned i;
	int fd = -1;

	*lines = 0;
	for (i = 0; i < src->nlisten; i++) {
		const struct source_listen *l = &src->listen[i];

		if (l->format != DECODER_MOLD || l->feed != feed)
			continue;
		if (i >= serve_first_answer)
			fd = l->fd;
		else
			(*lines)++;
	}
	return fd;
}

/* One decoder_itch per MoldUDP64 feed: its first two sockets are the A and
 * B lines, the answer socket (if any) line 2.  CLI_OK, or an exit code. */
static int serve_mold_setup(struct source *src, struct pipeline *pipe, const struct serve_opts *o)
{
	static struct decoder_itch feeds[SOURCE_LISTEN_MAX];
	struct decoder_itch_config cfg;
	unsigned i, j, nfeeds = 0, next_line[SOURCE_LISTEN_MAX] = {0}, lines;
	char err[512];

	for (i = 0; i < src->nlisten; i++) {
		struct source_listen *l = &src->listen[i];

		if (l->format != DECODER_MOLD)
			continue;
		for (j = 0; j < nfeeds && feeds[j].feed != l->feed; j++)
			;
		if (j == nfeeds) {
			cli_itch_config(&o->itch, true, &cfg);
			cfg.request_fd = serve_mold_lines(src, l->feed, &lines);
			if (lines > 2) {
				fprintf(stderr,
				        "trades serve: feed %s: %u --mold lines; at most two (A, "
				        "B)\n",
				        l->feed_name, lines);
				return CLI_USAGE;
			}
			cfg.mold_cfg.lines = lines;
			if (cfg.request_fd >= 0 &&
			    serve_parse_hostport(o->rerequest, &cfg.request_addr,
			                         &cfg.request_addrlen) < 0) {
				fprintf(stderr,
				        "trades serve: --mold-rerequest '%s': use HOST:PORT\n",
				        o->rerequest);
				return CLI_USAGE;
			}
			if (decoder_itch_init(&feeds[j], pipe, l->feed, &cfg, err, sizeof(err)) <
			    0) {
				log_error("feed %s: %s", l->feed_name, err);
				return CLI_FAIL;
			}
			pipeline_add_ticker(pipe, decoder_itch_tick, &feeds[j]);
			nfeeds++;
		}
		decoder_itch_attach(l->dec, &feeds[j],
		                    i >= serve_first_answer ? MOLD_LINE_REREQUEST : next_line[j]++);
	}
	return CLI_OK;
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
	rc = serve_mold_setup(src, pipe, o);
	if (rc != CLI_OK) {
		source_close(src);
		return rc;
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

	if (serve_dpdk_requested(argc, argv))
		return cmd_serve_dpdk(argc, argv);
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
	         (unsigned long long)pipe.stats.duplicates,
	         (unsigned long long)pipe.stats.malformed);
	return rc;
}
