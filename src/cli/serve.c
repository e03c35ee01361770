/* serve.c -- `trades serve`: options, then the stages wired together, then
 * run until SIGINT/SIGTERM.
 *
 * The wiring: the source's handler callbacks go to the decoders (one per
 * TCP connection slot, preallocated here, and one per UDP listener), the end
 * of each receive batch to pipeline_commit.  MoldUDP64 feeds are set up on
 * the decoder side (decoder_mold_setup).
 *
 * Order of events: options -> pipeline_open (recovers the state from the
 * journal) -> feeds registered -> sockets bound -> "listening ..." lines and
 * "ready" on stdout -> source_run -> on the signal: drain sockets, commit,
 * sync, mark clean. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "candles_cli.h"
#include "cli.h"
#include "kraken_cli.h"
#include "privdrop.h"
#include "serve_dpdk.h"
#include "serve_http.h"
#include "serve_kafka.h"
#include "trades/addr.h"
#include "trades/candles.h"
#include "trades/decoder.h"
#include "trades/log.h"
#include "trades/probe.h"
#include "trades/source.h"
#include "trades/timefmt.h"

_Static_assert(DECODER_MOLD_CHANS_MAX >= SOURCE_LISTEN_MAX, "every listener can be a Mold line");
_Static_assert(PIPELINE_TICKERS_MAX >= SOURCE_LISTEN_MAX,
               "a ticker for every feed the listeners can carry");
_Static_assert(DECODER_PEER_MAX >= ADDR_STR_MAX, "a peer address fits a decoder's label");

#define SERVE_ACK_INTERVAL_DEFAULT 10    /* ms: --ack-interval */
#define SERVE_OPT_IDLE_TIMEOUT     1061  /* getopt id of --idle-timeout (10xx: issue 10) */
#define SERVE_OPT_BUSY_POLL        1301  /* getopt id of --busy-poll (13xx: issue 13) */
#define SERVE_ACK_INTERVAL_MAX     60000 /* ms */

static volatile sig_atomic_t serve_stop;

static void serve_on_signal(int sig)
{
	(void)sig;
	serve_stop = 1;
}

static void serve_usage(FILE *f)
{
	fprintf(f,
	        "usage: trades serve [--tcp HOST:PORT[,feed=NAME][,ack]]... [--udp "
	        "HOST:PORT[,feed=NAME]]...\n"
	        "                    [--state-dir DIR] [--io auto|uring|epoll] [--sync MODE]\n"
	        "                    [--segment-size BYTES] [--instruments N] [--max-conns N] "
	        "[--idle-timeout D]\n"
	        "                    [--rcvbuf BYTES] [--busy-poll] [--print] [--log-level LEVEL]\n"
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
	        "                     ,ack: write 'ack N' lines back once N lines of the\n"
	        "                     connection are durable (README: Acknowledged TCP ingest)\n"
	        "  --ack-interval MS  acks at least this often while some are due (10)\n"
	        "  --udp SPEC         UDP listener (repeatable)      env TRADES_UDP\n"
	        "                     default without any: --tcp 127.0.0.1:7001 --udp "
	        "127.0.0.1:7002\n"
	        "  --io MODE          auto (io_uring, else epoll), uring, epoll   env TRADES_IO "
	        "(auto)\n"
	        "  --sync MODE        journal msync: none, always (every receive batch),\n"
	        "                     interval:MS                    env TRADES_SYNC (none)\n"
	        "  --segment-size N   journal segment bytes (64Mi)   env TRADES_SEGMENT_SIZE\n"
	        "  --instruments N    instrument slots of a new state file (65536) env "
	        "TRADES_INSTRUMENTS\n"
	        "  --max-conns N      concurrent TCP clients (1024)  env TRADES_MAX_CONNS\n"
	        "                     more are refused: logged, counted as conns_refused\n"
	        "  --idle-timeout D   close a TCP client that sent nothing for D (60s; 0 off),\n"
	        "                     counted as conns_idle_closed   env TRADES_IDLE_TIMEOUT\n"
	        "  --rcvbuf BYTES     UDP receive buffer (64Mi, SO_RCVBUFFORCE as root)\n"
	        "  --busy-poll        never sleep between receives: poll the sockets, one core\n"
	        "                     kept at 100%%, for the lowest latency   env "
	        "TRADES_BUSY_POLL=1\n"
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
	        "order\n" CLI_ITCH_HELP CLI_KAFKA_HELP CLI_CANDLE_HELP CLI_HTTP_HELP PRIVDROP_HELP
	        "  --print            also write accepted trades to stdout as contract JSON "
	        "lines\n"
	        "  --dpdk \"EAL ARGS\"  kernel-bypass UDP ingest instead of sockets (--dpdk-mold,\n"
	        "                     --dpdk-jsonl): trades serve --dpdk '' --help\n"
	        "  --kraken PAIRS     Kraken WebSocket v2 instead of sockets: trades serve "
	        "--kraken X "
	        "--help\n"
	        "  --trace-sample N   USDT probe trades:trade fires for 1 trade in N "
	        "(1024)\n"
	        "  --allow-negative-prices FEED  JSON feed FEED (its feed=NAME) accepts prices of\n"
	        "                     0 and below (spreads); by default they are refused,\n"
	        "                     counted as price_nonpositive (repeatable)\n" CLI_COMMON_HELP
	        "\n"
	        "exit codes: 0 stopped cleanly, 1 runtime error, 2 usage, 3 state/journal "
	        "refused\n");
}

/* ------------------------------------------------------------- options */

enum serve_list_id { SERVE_TCP, SERVE_UDP, SERVE_MOLD, SERVE_LISTS };

struct serve_list {
	const char *spec[SOURCE_LISTEN_MAX];
	int n;
	bool from_flag; /* flags replace the environment's list rather than add to it */
	char envbuf[1024];
};

struct serve_opts {
	struct cli_common co;
	struct cli_store st;
	const char *io;
	uint64_t max_conns;
	uint64_t rcvbuf;
	bool busy_poll;           /* --busy-poll, TRADES_BUSY_POLL=1 */
	uint64_t ack_interval_ms; /* --ack-interval */
	int64_t idle_timeout_ns;  /* --idle-timeout; 0 = off */
	bool print;
	struct serve_list list[SERVE_LISTS];
	bool rerequest;
	struct sockaddr_storage rr_addr; /* --mold-rerequest */
	socklen_t rr_len;
	struct cli_itch itch;
	struct cli_kafka kafka;
	struct cli_candles candles; /* --candles, --candle-grace */
	struct cli_http http;
	const char *nonpos[SOURCE_LISTEN_MAX]; /* --allow-negative-prices FEED */
	int n_nonpos;
};

static const char *const serve_list_flag[SERVE_LISTS] = {"--tcp", "--udp", "--mold"};

static int serve_list_add(struct serve_list *l, const char *what, const char *spec)
{
	if (l->n >= SOURCE_LISTEN_MAX) {
		fprintf(stderr, "trades serve: %s: more than %d listeners\n", what,
		        SOURCE_LISTEN_MAX);
		return -1;
	}
	l->spec[l->n++] = spec;
	return 0;
}

/* Splits a whitespace-separated environment list into specs. */
static int serve_env_list(struct serve_list *l, const char *name)
{
	const char *v = cli_env(name, NULL);
	char *save = NULL, *tok;

	if (!v)
		return 0;
	snprintf(l->envbuf, sizeof(l->envbuf), "%s", v);
	for (tok = strtok_r(l->envbuf, " \t\n", &save); tok; tok = strtok_r(NULL, " \t\n", &save))
		if (serve_list_add(l, name, tok) < 0)
			return -1;
	return 0;
}

static int serve_flag_list(struct serve_opts *o, enum serve_list_id id, const char *arg)
{
	struct serve_list *l = &o->list[id];

	if (!l->from_flag) {
		l->from_flag = true;
		l->n = 0;
	}
	return serve_list_add(l, serve_list_flag[id], arg);
}

static int serve_opt_tcp(struct serve_opts *o, const char *arg)
{
	return serve_flag_list(o, SERVE_TCP, arg);
}

static int serve_opt_udp(struct serve_opts *o, const char *arg)
{
	return serve_flag_list(o, SERVE_UDP, arg);
}

static int serve_opt_mold(struct serve_opts *o, const char *arg)
{
	return serve_flag_list(o, SERVE_MOLD, arg);
}

static int serve_opt_rerequest(struct serve_opts *o, const char *arg)
{
	char err[256];

	if (addr_parse(arg, strlen(arg), false, &o->rr_addr, &o->rr_len, err, sizeof(err)) < 0) {
		fprintf(stderr, "trades serve: --mold-rerequest %s\n", err);
		return -1;
	}
	o->rerequest = true;
	return 0;
}

static int serve_opt_io(struct serve_opts *o, const char *arg)
{
	o->io = arg;
	return 0;
}

static int serve_opt_sync(struct serve_opts *o, const char *arg)
{
	o->st.sync = arg;
	return 0;
}

static int serve_opt_segment(struct serve_opts *o, const char *arg)
{
	return cli_u64("serve", "--segment-size", arg, JOURNAL_SEGMENT_MIN, JOURNAL_SEGMENT_MAX,
	               true, &o->st.segment_bytes);
}

static int serve_opt_instruments(struct serve_opts *o, const char *arg)
{
	return cli_u64("serve", "--instruments", arg, 1, STATE_INST_CAP_MAX, true,
	               &o->st.instruments);
}

static int serve_opt_conns(struct serve_opts *o, const char *arg)
{
	return cli_u64("serve", "--max-conns", arg, 1, SOURCE_CONNS_MAX, false, &o->max_conns);
}

static int serve_opt_rcvbuf(struct serve_opts *o, const char *arg)
{
	return cli_u64("serve", "--rcvbuf", arg, 4096, 1u << 30, true, &o->rcvbuf);
}

static int serve_opt_ack_interval(struct serve_opts *o, const char *arg)
{
	return cli_u64("serve", "--ack-interval", arg, 1, SERVE_ACK_INTERVAL_MAX, false,
	               &o->ack_interval_ms);
}

/* A duration as --candle-grace takes it ("2s", "500ms", "0" = off). */
static int serve_idle_parse(struct serve_opts *o, const char *what, const char *arg)
{
	char err[160];

	if (candle_parse_duration(arg, &o->idle_timeout_ns, err, sizeof(err)) == 0)
		return 0;
	fprintf(stderr, "trades serve: %s: %s\n", what, err);
	return -1;
}

static int serve_opt_idle(struct serve_opts *o, const char *arg)
{
	return serve_idle_parse(o, "--idle-timeout", arg);
}

static int serve_opt_print(struct serve_opts *o, const char *arg)
{
	(void)arg;
	o->print = true;
	return 0;
}

static int serve_opt_busy_poll(struct serve_opts *o, const char *arg)
{
	(void)arg;
	o->busy_poll = true;
	return 0;
}

/* A JSON feed whose prices may be 0 or below (spreads): by default such a
 * price is refused as price_nonpositive. */
static int serve_opt_nonpos(struct serve_opts *o, const char *arg)
{
	if (o->n_nonpos >= SOURCE_LISTEN_MAX) {
		fprintf(stderr, "trades serve: --allow-negative-prices: more than %d feeds\n",
		        SOURCE_LISTEN_MAX);
		return -1;
	}
	o->nonpos[o->n_nonpos++] = arg;
	return 0;
}

/* USDT trades:trade fires for 1 accepted trade in N (probe.h). */
static int serve_opt_trace_sample(struct serve_opts *o, const char *arg)
{
	(void)o;
	if (trades_probe_sample_parse(arg) == 0)
		return 0;
	fprintf(stderr, "trades serve: --trace-sample '%s': use 1..%u\n", arg,
	        TRADES_PROBE_SAMPLE_MAX);
	return -1;
}

/* serve's own options: the getopt entry and what it does (0, or -1 after
 * printing why: a usage error). */
static const struct serve_flag {
	struct option opt;
	int (*fn)(struct serve_opts *o, const char *arg);
} serve_flags[] = {
        {{"tcp", required_argument, 0, 't'}, serve_opt_tcp},
        {{"udp", required_argument, 0, 'u'}, serve_opt_udp},
        {{"mold", required_argument, 0, 'm'}, serve_opt_mold},
        {{"mold-rerequest", required_argument, 0, 'R'}, serve_opt_rerequest},
        {{"io", required_argument, 0, 'i'}, serve_opt_io},
        {{"sync", required_argument, 0, 's'}, serve_opt_sync},
        {{"segment-size", required_argument, 0, 'g'}, serve_opt_segment},
        {{"instruments", required_argument, 0, 'n'}, serve_opt_instruments},
        {{"max-conns", required_argument, 0, 'c'}, serve_opt_conns},
        {{"rcvbuf", required_argument, 0, 'r'}, serve_opt_rcvbuf},
        {{"print", no_argument, 0, 'p'}, serve_opt_print},
        {{"busy-poll", no_argument, 0, SERVE_OPT_BUSY_POLL}, serve_opt_busy_poll},
        {{"ack-interval", required_argument, 0, 'A'}, serve_opt_ack_interval},
        {{"trace-sample", required_argument, 0, 'T'}, serve_opt_trace_sample},
        {{"allow-negative-prices", required_argument, 0, 'N'}, serve_opt_nonpos},
        {{"idle-timeout", required_argument, 0, SERVE_OPT_IDLE_TIMEOUT}, serve_opt_idle},
};
#define SERVE_NFLAGS (sizeof(serve_flags) / sizeof(serve_flags[0]))

static const struct option serve_shared[] = {CLI_COMMON_OPTIONS, CLI_ITCH_OPTIONS,
                                             CLI_KAFKA_OPTIONS,  CLI_CANDLE_OPTIONS,
                                             CLI_HTTP_OPTIONS,   PRIVDROP_OPTION};
#define SERVE_NSHARED (sizeof(serve_shared) / sizeof(serve_shared[0]))

/* Defaults, then the environment. */
static int serve_defaults(struct serve_opts *o)
{
	const char *busy;

	memset(o, 0, sizeof(*o));
	o->io = cli_env("TRADES_IO", "auto");
	o->max_conns = SOURCE_CONNS_DEFAULT;
	o->rcvbuf = SOURCE_RCVBUF_DEFAULT;
	o->ack_interval_ms = SERVE_ACK_INTERVAL_DEFAULT;
	o->idle_timeout_ns = SOURCE_IDLE_DEFAULT_NS;
	cli_itch_defaults(&o->itch);
	cli_candles_defaults(&o->candles);
	if (cli_common_init("serve", &o->co) < 0 || cli_store_env("serve", &o->st) < 0 ||
	    cli_kafka_env(&o->kafka) < 0 || cli_http_env(&o->http) < 0 ||
	    serve_env_list(&o->list[SERVE_TCP], "TRADES_TCP") < 0 ||
	    serve_env_list(&o->list[SERVE_UDP], "TRADES_UDP") < 0 ||
	    serve_env_list(&o->list[SERVE_MOLD], "TRADES_MOLD") < 0)
		return -1;
	if (cli_env("TRADES_MAX_CONNS", NULL) &&
	    cli_u64("serve", "TRADES_MAX_CONNS", getenv("TRADES_MAX_CONNS"), 1, SOURCE_CONNS_MAX,
	            false, &o->max_conns) < 0)
		return -1;
	busy = cli_env("TRADES_BUSY_POLL", NULL);
	if (busy) {
		if (strcmp(busy, "1") != 0 && strcmp(busy, "0") != 0) {
			fprintf(stderr, "trades serve: TRADES_BUSY_POLL '%s': use 1 or 0\n", busy);
			return -1;
		}
		o->busy_poll = busy[0] == '1';
	}
	if (cli_env("TRADES_IDLE_TIMEOUT", NULL) &&
	    serve_idle_parse(o, "TRADES_IDLE_TIMEOUT", getenv("TRADES_IDLE_TIMEOUT")) < 0)
		return -1;
	return 0;
}

/* One option from getopt: the shared tables first, then serve's own.
 * 0, or -1 (usage error, message printed). */
static int serve_option(struct serve_opts *o, int c, const char *arg)
{
	size_t i;
	int r = cli_common_opt("serve", c, arg, &o->co);

	if (r == 0)
		r = cli_itch_opt("serve", c, arg, &o->itch);
	if (r == 0)
		r = cli_kafka_opt(c, arg, &o->kafka);
	if (r == 0)
		r = cli_candles_opt("serve", c, arg, &o->candles);
	if (r == 0)
		r = cli_http_opt(c, arg, &o->http);
	if (r == 0)
		r = privdrop_opt(c, arg);
	if (r != 0)
		return r < 0 ? -1 : 0;
	for (i = 0; i < SERVE_NFLAGS; i++)
		if (serve_flags[i].opt.val == c)
			return serve_flags[i].fn(o, arg);
	serve_usage(stderr);
	return -1;
}

/* What the options say together.  0, or -1 (usage error). */
static int serve_check(struct serve_opts *o)
{
	struct serve_list *l = o->list;

	if (o->rerequest && l[SERVE_MOLD].n == 0) {
		fprintf(stderr, "trades serve: --mold-rerequest needs a --mold listener\n");
		return -1;
	}
	if (l[SERVE_TCP].n == 0 && l[SERVE_UDP].n == 0 && l[SERVE_MOLD].n == 0) {
		l[SERVE_TCP].spec[l[SERVE_TCP].n++] = "127.0.0.1:7001";
		l[SERVE_UDP].spec[l[SERVE_UDP].n++] = "127.0.0.1:7002";
	}
	o->st.state_dir = o->co.state_dir;
	return 0;
}

/* 0, 1 when --help was printed, -1 on a usage error (message printed). */
static int serve_parse(int argc, char **argv, struct serve_opts *o)
{
	struct option opts[SERVE_NFLAGS + SERVE_NSHARED + 1];
	size_t i;
	int c;

	if (serve_defaults(o) < 0)
		return -1;
	for (i = 0; i < SERVE_NFLAGS; i++)
		opts[i] = serve_flags[i].opt;
	for (i = 0; i < SERVE_NSHARED; i++)
		opts[SERVE_NFLAGS + i] = serve_shared[i];
	memset(&opts[SERVE_NFLAGS + SERVE_NSHARED], 0, sizeof(opts[0]));
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (serve_option(o, c, optarg) < 0)
			return -1;
		if (o->co.help) {
			serve_usage(stdout);
			return 1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "trades serve: unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	return serve_check(o);
}

/* -------------------------------------------------------------- wiring */

/* One ,ack connection's count (by slot): what was handled, what is durable
 * once the journal is durable up to jseq, what was acked. */
struct serve_ack {
	bool on;            /* an ,ack connection is in the slot */
	bool pending;       /* in serve_wiring.ack_pending */
	bool failed;        /* a line could not be stored: acks stop at ackable */
	bool shut;          /* shut down after the store came back */
	uint64_t held;      /* bytes not read after the failure: the client resends them */
	uint32_t gen;       /* source_chan.gen of the connection */
	uint16_t listen;    /* listener index (operations figures) */
	uint64_t lines;     /* lines handled (received) on the connection */
	uint64_t ackable;   /* lines handled before any store failure */
	uint64_t jseq;      /* journal_last after the ackable-th line */
	uint64_t fail_jseq; /* journal_last when the store failed */
	uint64_t acked;     /* the count last acknowledged */
};

struct serve_wiring {
	struct pipeline *pipe;
	struct source *src;
	struct decoder *conn_dec; /* one per connection slot, by ch->conn; allocated at init */
	unsigned nconns;
	struct decoder udp_dec[SOURCE_LISTEN_MAX]; /* by listener index (UDP ones) */
	uint8_t format[SOURCE_LISTEN_MAX];         /* enum decoder_format, by listener */
	bool answer[SOURCE_LISTEN_MAX];            /* a Mold feed's re-request answer socket */
	uint16_t feed[SOURCE_LISTEN_MAX];          /* pipeline feed id, by listener */
	bool nonpos[SOURCE_LISTEN_MAX];            /* --allow-negative-prices, by listener */
	struct decoder_mold_feeds mold;            /* its tickers live as long as the pipeline */
	struct serve_ack *acks;                    /* nconns, by slot */
	uint32_t *ack_pending;                     /* slots with acks due, each at most once */
	unsigned npending;
	int64_t ack_interval_ns; /* --ack-interval */
	int64_t ack_next_ns;     /* monotonic: next ack round */
	/* TCP listeners' connection counters already added to their feeds */
	struct source_listen_conns conns_pub[SOURCE_LISTEN_MAX];
	struct cli_ops ops;            /* source counters per listener (serve_http.h) */
	const struct cli_kafka *kafka; /* its sinks' counters, published with them */
};

static struct decoder *serve_conn_dec(struct serve_wiring *w, const struct source_chan *ch)
{
	ENSURE(ch->conn < w->nconns && ch->listen < SOURCE_LISTEN_MAX);
	return &w->conn_dec[ch->conn];
}

static int serve_opened(void *ctx, const struct source_chan *ch)
{
	struct serve_wiring *w = ctx;
	char peer[ADDR_STR_MAX];

	addr_str(ch->peer, peer, sizeof(peer));
	decoder_init(serve_conn_dec(w, ch), w->pipe, (enum decoder_format)w->format[ch->listen],
	             false, w->feed[ch->listen], peer);
	w->acks[ch->conn] = (struct serve_ack){.listen = (uint16_t)ch->listen,
	                                       .on = source_listen_ack(w->src, ch->listen),
	                                       .gen = ch->gen,
	                                       .pending = w->acks[ch->conn].pending};
	serve_conn_dec(w, ch)->allow_nonpositive = w->nonpos[ch->listen];
	return 0;
}

static void serve_closed(void *ctx, const struct source_chan *ch)
{
	struct serve_wiring *w = ctx;

	/* ,ack: a line counts only with its newline; an unterminated tail is
	 * dropped (never acked: the reliable client sends it again) */
	if (!w->acks[ch->conn].on)
		decoder_end(serve_conn_dec(w, ch));
	w->acks[ch->conn].on = false;
}

/* Counts what one read of an ,ack connection handled. */
static void serve_ack_count(struct serve_wiring *w, uint32_t conn, uint64_t received,
                            uint64_t failed)
{
	const struct pipeline_stats *ps = pipeline_stats(w->pipe);
	struct serve_ack *a = &w->acks[conn];

	a->lines += ps->received - received;
	if (ps->store_failed != failed && !a->failed) {
		a->failed = true;
		a->fail_jseq = pipeline_journal_last(w->pipe);
	}
	if (!a->failed) {
		a->ackable = a->lines;
		a->jseq = pipeline_journal_last(w->pipe);
	}
	if (!a->pending && (a->ackable > a->acked || a->failed)) {
		ENSURE(w->npending < w->nconns);
		a->pending = true;
		w->ack_pending[w->npending++] = conn;
	}
}

static void serve_stream(void *ctx, const struct source_chan *ch, const void *buf, size_t len,
                         int64_t rx_ns)
{
	struct serve_wiring *w = ctx;
	const struct pipeline_stats *ps = pipeline_stats(w->pipe);
	uint64_t received = ps->received, failed = ps->store_failed;

	/* After a store failure on an ,ack connection nothing more of it is
	 * decoded: its later lines would be stored ahead of the failed ones, move
	 * the dedup mark on, and the failed ones, resent after the reconnect,
	 * could fall below the dedup window as duplicates (lost).  The client
	 * resends everything after its last ack, in order. */
	cli_ops_listener(&w->ops, ch->listen, len);
	if (w->acks[ch->conn].on && w->acks[ch->conn].failed) {
		w->acks[ch->conn].held += len;
		return;
	}
	decoder_input(serve_conn_dec(w, ch), buf, len, rx_ns, false, NULL);
	if (w->acks[ch->conn].on)
		serve_ack_count(w, ch->conn, received, failed);
}

/* One slot's acks: true while it stays pending.  After a store failure the
 * count stops at the last line before it; once the journal stores again
 * the connection is shut down, so the client reconnects and resends. */
static bool serve_ack_one(struct serve_wiring *w, uint32_t conn, uint64_t durable)
{
	struct serve_ack *a = &w->acks[conn];

	if (!a->on)
		return false;
	if (a->ackable > a->acked && a->jseq <= durable) {
		int rc = source_ack(w->src, conn, a->gen, a->ackable);

		cli_ops_ack(&w->ops, a->listen, rc);
		if (rc >= 0)
			a->acked = a->ackable;
	}
	if (a->shut)
		return false;
	if (a->failed && pipeline_store_ready(w->pipe)) {
		/* the store is back: end the connection so the client resends */
		log_info("ack connection %u: the store takes entries again; closing it so the "
		         "client resends from ack %llu (%llu bytes held back)",
		         conn, (unsigned long long)a->acked, (unsigned long long)a->held);
		a->shut = true;
		source_conn_shutdown(w->src, conn, a->gen);
		return false;
	}
	return a->failed || a->acked < a->ackable;
}

/* At most once per --ack-interval: every connection with acks due. */
static void serve_ack_round(struct serve_wiring *w)
{
	uint64_t durable = pipeline_journal_durable(w->pipe);
	int64_t now = timefmt_mono_ns();
	unsigned i, kept = 0;

	if (w->npending == 0 || now < w->ack_next_ns)
		return;
	w->ack_next_ns = now + w->ack_interval_ns;
	for (i = 0; i < w->npending; i++) {
		uint32_t conn = w->ack_pending[i];

		if (serve_ack_one(w, conn, durable))
			w->ack_pending[kept++] = conn;
		else
			w->acks[conn].pending = false;
	}
	w->npending = kept;
}

static void serve_datagram(void *ctx, const struct source_chan *ch, const void *buf, size_t len,
                           int64_t rx_ns, bool rx_kernel)
{
	struct serve_wiring *w = ctx;

	ENSURE(ch->listen < SOURCE_LISTEN_MAX);
	cli_ops_listener(&w->ops, ch->listen, len);
	decoder_input(&w->udp_dec[ch->listen], buf, len, rx_ns, rx_kernel, ch->peer);
}

/* Refused and idle-closed connections into the listener's feed ext
 * counters (stat shows them): connections, not messages, so the feed's
 * received = accepted + ... identity is untouched. */
static void serve_conns_publish(struct serve_wiring *w)
{
	unsigned i;

	for (i = 0; i < source_listeners(w->src); i++) {
		const struct source_listen_conns *c = source_listen_conns(w->src, i);
		struct source_listen_conns *pub = &w->conns_pub[i];

		if (c->refused != pub->refused)
			pipeline_ext_add(w->pipe, w->feed[i], STATE_EXT_CONNS_REFUSED,
			                 c->refused - pub->refused);
		if (c->idle_closed != pub->idle_closed)
			pipeline_ext_add(w->pipe, w->feed[i], STATE_EXT_CONNS_IDLE_CLOSED,
			                 c->idle_closed - pub->idle_closed);
		*pub = *c;
	}
}

static void serve_batch_end(void *ctx, const struct source_batch *b)
{
	struct serve_wiring *w = ctx;

	(void)b;
	serve_conns_publish(w);
	/* also when idle: tickers (Mold deadlines, counters) and the sync policy */
	pipeline_commit(w->pipe);
	serve_ack_round(w); /* after the commit: its sync decides what is durable */
	cli_ops_publish(&w->ops, w->pipe, w->src, w->feed, w->kafka);
}

/* Adds one listener; -1 after printing the error (usage). */
static int serve_add(struct serve_wiring *w, enum source_kind kind, enum decoder_format fmt,
                     const char *spec)
{
	char err[256];
	int i = source_add(w->src, kind, spec, err, sizeof(err));

	if (i < 0) {
		fprintf(stderr, "trades serve: %s\n", err);
		return -1;
	}
	w->format[i] = (uint8_t)fmt;
	return 0;
}

/* With --mold-rerequest every MoldUDP64 feed gets one more UDP socket, on
 * an ephemeral port: its requests go out on it and the server's answers
 * come back to it (line 2 of the feed's session). */
static int serve_answers(struct serve_wiring *w, const struct serve_opts *o)
{
	unsigned i, j, n = source_listeners(w->src);
	char spec[SOURCE_SPEC_MAX];
	socklen_t len;

	for (i = 0; o->rerequest && i < n; i++) {
		const char *feed = source_listen_feed(w->src, i);

		if (w->format[i] != DECODER_MOLD)
			continue;
		for (j = 0; j < i; j++)
			if (w->format[j] == DECODER_MOLD &&
			    strcmp(source_listen_feed(w->src, j), feed) == 0)
				break;
		if (j < i)
			continue; /* the feed's B line: one answer socket per feed */
		snprintf(spec, sizeof(spec), "%s:0,feed=%s",
		         source_listen_addr(w->src, i, &len)->sa_family == AF_INET6 ? "[::]"
		                                                                    : "0.0.0.0",
		         feed);
		if (serve_add(w, SOURCE_UDP, DECODER_MOLD, spec) < 0)
			return -1;
		w->answer[source_listeners(w->src) - 1] = true;
	}
	return 0;
}

/* Marks the JSON listeners of each --allow-negative-prices FEED; a name no
 * JSON listener has is a usage error (-1, printed). */
static int serve_nonpos(struct serve_wiring *w, const struct serve_opts *o)
{
	unsigned n = source_listeners(w->src);

	for (int k = 0; k < o->n_nonpos; k++) {
		bool found = false;

		for (unsigned i = 0; i < n; i++) {
			if (w->format[i] != DECODER_JSONL ||
			    strcmp(source_listen_feed(w->src, i), o->nonpos[k]) != 0)
				continue;
			w->nonpos[i] = true;
			found = true;
		}
		if (!found) {
			fprintf(stderr,
			        "trades serve: --allow-negative-prices %s: no JSON listener has "
			        "feed=%s\n",
			        o->nonpos[k], o->nonpos[k]);
			return -1;
		}
	}
	return 0;
}

/* Adds every listener; errors name the spec.  -1 is a usage error. */
static int serve_listeners(struct serve_wiring *w, const struct serve_opts *o)
{
	static const enum source_kind kind[SERVE_LISTS] = {SOURCE_TCP, SOURCE_UDP, SOURCE_UDP};
	static const enum decoder_format fmt[SERVE_LISTS] = {DECODER_JSONL, DECODER_JSONL,
	                                                     DECODER_MOLD};
	int l, i;

	for (l = 0; l < SERVE_LISTS; l++)
		for (i = 0; i < o->list[l].n; i++)
			if (serve_add(w, kind[l], fmt[l], o->list[l].spec[i]) < 0)
				return -1;
	return serve_nonpos(w, o) < 0 ? -1 : serve_answers(w, o);
}

/* Feeds registered, decoders allocated and started: everything the
 * handler needs before the first byte.  0, or -1 (logged: init failure). */
static int serve_decoders(struct serve_wiring *w, unsigned max_conns)
{
	unsigned i, n = source_listeners(w->src);
	char peer[DECODER_PEER_MAX];

	for (i = 0; i < n; i++) {
		int feed = pipeline_feed(w->pipe, source_listen_feed(w->src, i));

		if (feed < 0) {
			log_error("serve: pipeline_feed '%s': feed table full or bad name",
			          source_listen_feed(w->src, i));
			return -1;
		}
		w->feed[i] = (uint16_t)feed;
		if (source_listen_kind(w->src, i) != SOURCE_UDP)
			continue;
		/* a long spec is cut: the peer is a label for logs */
		snprintf(peer, sizeof(peer), "udp:%.*s", (int)sizeof(peer) - 5,
		         source_listen_spec(w->src, i));
		decoder_init(&w->udp_dec[i], w->pipe, (enum decoder_format)w->format[i], true,
		             w->feed[i], peer);
		w->udp_dec[i].allow_nonpositive = w->nonpos[i];
	}
	w->nconns = max_conns;
	w->conn_dec = calloc(max_conns, sizeof(*w->conn_dec));
	w->acks = calloc(max_conns, sizeof(*w->acks));
	w->ack_pending = calloc(max_conns, sizeof(*w->ack_pending));
	if (!w->conn_dec || !w->acks || !w->ack_pending) {
		log_error("serve: %u connection decoders: %s", max_conns, strerror(ENOMEM));
		return -1;
	}
	return 0;
}

/* The MoldUDP64 listeners handed to the decoder side.  CLI_OK or an exit code. */
static int serve_mold(struct serve_wiring *w, const struct serve_opts *o)
{
	struct decoder_mold_chan chans[SOURCE_LISTEN_MAX];
	struct decoder_itch_config cfg;
	unsigned i, n = 0;
	char err[512];
	int rc;

	for (i = 0; i < source_listeners(w->src); i++) {
		if (w->format[i] != DECODER_MOLD)
			continue;
		chans[n++] = (struct decoder_mold_chan){
		        .dec = &w->udp_dec[i],
		        .feed = w->feed[i],
		        .feed_name = source_listen_feed(w->src, i),
		        .answer = w->answer[i],
		        .fd = source_listen_fd(w->src, i),
		};
	}
	if (n == 0)
		return CLI_OK;
	cli_itch_config(&o->itch, true, &cfg);
	rc = decoder_mold_setup(&w->mold, w->pipe, chans, n, &cfg,
	                        o->rerequest ? &o->rr_addr : NULL, o->rr_len, err, sizeof(err));
	if (rc == 0)
		return CLI_OK;
	if (rc == -2) {
		fprintf(stderr, "trades serve: %s\n", err);
		return CLI_USAGE;
	}
	log_error("serve: %s", err);
	return CLI_FAIL;
}

static void serve_announce(const struct source *src)
{
	char addr[ADDR_STR_MAX];
	unsigned i;

	log_info("io: %s%s%s", source_io_name(source_backend(src)),
	         source_fallback_why(src)[0] ? " -- " : "", source_fallback_why(src));
	for (i = 0; i < source_listeners(src); i++) {
		/* after source_open the address carries the bound port */
		addr_str(source_listen_addr(src, i, NULL), addr, sizeof(addr));
		printf("listening %s %s feed=%s\n",
		       source_listen_kind(src, i) == SOURCE_TCP ? "tcp" : "udp", addr,
		       source_listen_feed(src, i));
	}
	printf("ready\n");
	fflush(stdout);
}

/* Sockets bound, Mold feeds set up, the loop run.  An exit code. */
static int serve_run(const struct serve_opts *o, struct serve_wiring *w)
{
	struct source_config sc = {
	        .max_conns = (unsigned)o->max_conns,
	        .idle_timeout_ns = o->idle_timeout_ns,
	        .rcvbuf_bytes = (uint32_t)o->rcvbuf,
	        .busy_poll = o->busy_poll,
	        .stop = &serve_stop,
	        .handler = {.ctx = w,
	                    .opened = serve_opened,
	                    .closed = serve_closed,
	                    .stream = serve_stream,
	                    .datagram = serve_datagram,
	                    .batch_end = serve_batch_end},
	};
	const struct source_stats *st;
	char err[512];
	unsigned i;
	int rc;

	w->ack_interval_ns = (int64_t)o->ack_interval_ms * 1000000LL;
	for (i = 0; i < source_listeners(w->src); i++)
		if (source_listen_kind(w->src, i) == SOURCE_TCP && source_listen_ack(w->src, i))
			sc.wait_ms = (unsigned)o->ack_interval_ms; /* the source caps it */
	if (source_io_parse(o->io, &sc.io) < 0) {
		fprintf(stderr, "trades serve: --io '%s': use auto, uring or epoll\n", o->io);
		return CLI_USAGE;
	}
	if (serve_decoders(w, (unsigned)o->max_conns) < 0)
		return CLI_FAIL;
	if (source_open(w->src, &sc, err, sizeof(err)) < 0) {
		log_error("%s", err);
		return CLI_FAIL;
	}
	rc = serve_mold(w, o);
	if (rc != CLI_OK)
		return rc;
	serve_announce(w->src);
	rc = source_run(w->src);
	/* A last publish of the operations figures, not held to the 100 ms
	 * cadence, so that stat after a stop shows the exit summary's counts. */
	w->ops.next_ns = 0;
	cli_ops_publish(&w->ops, w->pipe, w->src, w->feed, w->kafka);
	st = source_stats(w->src);
	log_info("stopping: %llu connections, %llu datagrams, %llu bytes received, %llu acks sent, "
	         "%llu acks dropped",
	         (unsigned long long)st->conns_accepted, (unsigned long long)st->datagrams,
	         (unsigned long long)st->bytes, (unsigned long long)st->acks_sent,
	         (unsigned long long)st->acks_dropped);
	return rc < 0 ? CLI_FAIL : CLI_OK;
}

static void serve_log_state(const struct serve_opts *o, const struct pipeline *p)
{
	log_info("state %s: %u instruments, journal at entry %llu (%llu replayed at start)",
	         o->st.state_dir, (unsigned)atomic_load(&pipeline_state(p)->hdr->inst_count),
	         (unsigned long long)pipeline_journal_last(p),
	         (unsigned long long)pipeline_stats(p)->replayed);
}

int cmd_serve(int argc, char **argv)
{
	struct pipeline *pipe;
	struct pipeline_stats ps;
	static struct serve_wiring w; /* large: keep it off the stack */
	struct pipeline_config pc;
	bool refused = false; /* set by a failed pipeline_open */
	struct serve_opts o;
	char err[512];
	int rc;

	if (serve_kraken_wanted(argc, argv)) /* --kraken, PRODUCT_IDS: serve_kraken.c */
		return cmd_serve_kraken(argc, argv);
	if (serve_dpdk_requested(argc, argv)) /* --dpdk: serve_dpdk.c */
		return cmd_serve_dpdk(argc, argv);

	rc = serve_parse(argc, argv, &o);
	if (rc != 0)
		return rc > 0 ? CLI_OK : CLI_USAGE;
	if (cli_store_config("serve", &o.st, &pc) < 0)
		return CLI_USAGE;
	cli_candles_config(&o.candles, &pc);
	memset(&w, 0, sizeof(w));
	w.src = source_new();
	if (!w.src) {
		log_error("serve: source_new: %s", strerror(ENOMEM));
		return CLI_FAIL;
	}
	if (serve_listeners(&w, &o) < 0) {
		source_close(w.src);
		return CLI_USAGE;
	}
	cli_stop_signals(serve_on_signal);
	pc.refused = &refused;
	pipe = pipeline_open(&pc, err, sizeof(err));
	if (!pipe) {
		log_error("%s", err);
		source_close(w.src);
		return refused ? CLI_REFUSED : CLI_FAIL;
	}
	w.pipe = pipe;
	w.kafka = &o.kafka;
	serve_log_state(&o, pipe);
	rc = privdrop_apply("serve", o.st.state_dir, 0); /* sockets are bound: no capability */
	if (rc == CLI_OK && o.print && cli_print_sink("serve", pipe) < 0)
		rc = CLI_FAIL;
	if (rc == CLI_OK && cli_candles_start("serve", &o.candles, pipe) < 0)
		rc = CLI_FAIL;
	if (rc == CLI_OK)
		rc = cli_kafka_start(&o.kafka, pipe, o.st.state_dir);
	if (rc == CLI_OK)
		rc = cli_http_start(&o.http, o.st.state_dir);
	if (rc == CLI_OK)
		rc = serve_run(&o, &w);
	source_close(w.src);
	ps = *pipeline_stats(pipe);
	pipeline_close(pipe, rc == CLI_OK);
	cli_http_stop(&o.http);     /* after the state's writer: see serve_http.h */
	decoder_mold_free(&w.mold); /* after the pipeline: its tickers point here */
	free(w.conn_dec);
	free(w.acks);
	free(w.ack_pending);
	cli_log_stopped(&ps);
	return rc;
}
