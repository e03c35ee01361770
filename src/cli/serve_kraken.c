/* serve_kraken.c -- `trades serve --kraken PAIR[,PAIR...]`: Kraken's
 * WebSocket v2 trade channel into the pipeline until SIGINT/SIGTERM.
 *
 * Per session: subscribe {"method":"subscribe","params":{"channel":"trade",
 * "symbol":[...],"snapshot":true},"req_id":N}; per-symbol acks are logged,
 * refusals ("success":false) logged and counted (subscribe_errors on the
 * PREFIX feed, shown by `stat`); an application-level {"method":"ping"} goes
 * out when the line has been quiet for --ping-ms.  After a reconnect the
 * snapshot re-delivers trades already stored: the duplicate filter drops
 * them by trade_id.  A jump in a pair's trade_id is a gap (the sequencer
 * counts it); with --kraken-backfill it is filled from REST, and the
 * downtime since the journal's last trade of each pair is backfilled before
 * the first subscription.
 *
 * Drop-in for the Python service: PRODUCT_IDS (JSON list or A,B) stands for
 * --kraken; LIVE_OR_HISTORICAL=historical runs `trades backfill` for the
 * last LAST_N_DAYS days instead and exits. */
#include <getopt.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "candles_cli.h"
#include "cli.h"
#include "config.h"
#include "kraken_cli.h"
#include "privdrop.h"
#include "serve_http.h"
#include "serve_kafka.h"
#include "trades/log.h"
#include "trades/sink.h"
#include "trades/timefmt.h"

#define SERVE_KRAKEN_PING_MS 5000u /* quiet time before an application ping */

struct serve_kraken_opts {
	struct cli_common co;
	struct cli_kafka kafka; /* --kafka: the trades topic, as the Python service fed it */
	struct cli_store st;
	struct cli_candles candles; /* --candles, --candle-grace, --print-candles */
	struct cli_http http;       /* --http */
	struct kraken_list pairs;
	const char *url, *rest_url, *ca_file, *prefix;
	bool backfill, print;
	uint64_t ping_ms, dead_ms, backoff_min_ms, backoff_max_ms, max_sessions, interval_ms;
};

bool serve_kraken_wanted(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--kraken") || !strncmp(argv[i], "--kraken=", 9))
			return true;
	return cli_env("PRODUCT_IDS", NULL) != NULL;
}

static void serve_kraken_usage(FILE *f)
{
	fprintf(f,
	        "usage: trades serve --kraken PAIR[,PAIR...] [--kraken-url URL] [--tls-ca FILE]\n"
	        "                    [--kraken-backfill] [--rest-url URL] [--feed PREFIX]\n"
	        "                    [--ping-ms MS] [--dead-ms MS] [--backoff-min-ms MS]\n"
	        "                    [--backoff-max-ms MS] [--max-sessions N]\n"
	        "                    [--state-dir DIR] [--sync MODE] [--print] [--log-level L]\n"
	        "                    [--candles LIST] [--kafka BROKERS] [--http HOST:PORT]\n\n"
	        "Streams Kraken's WebSocket v2 trade channel (TLS, certificate and host name\n"
	        "verified) into the journal and state; one feed per pair, PREFIX:PAIR.\n\n"
	        "  --kraken-url URL    wss://ws.kraken.com/v2; env TRADES_KRAKEN_URL\n"
	        "  --tls-ca FILE       PEM CA bundle for WebSocket and REST (tests, private CAs);\n"
	        "                      env TRADES_TLS_CA\n"
	        "  --kraken-backfill   fill the downtime before the live start and live gaps\n"
	        "                      from REST (--rest-url, https://api.kraken.com;\n"
	        "                      env TRADES_REST_URL)\n"
	        "  --ping-ms MS        application ping after MS quiet (5000)\n"
	        "  --dead-ms MS        reconnect after MS without a byte (30000)\n"
	        "  --backoff-min-ms / --backoff-max-ms  reconnect backoff bounds (250 / 30000)\n"
	        "  --max-sessions N    stop after N sessions (0: never)\n" CLI_CANDLE_HELP
	                CLI_KAFKA_HELP CLI_HTTP_HELP PRIVDROP_HELP
	        "Drop-in environment: PRODUCT_IDS for --kraken; "
	        "LIVE_OR_HISTORICAL=live|historical\n"
	        "(historical: `trades backfill` of the last LAST_N_DAYS days, then exit).\n\n"
	        "exit codes: 0 stopped, 1 runtime error, 2 usage, 3 state/journal refused\n");
}

/* The numeric options: 0 handled, -1 bad value, 1 not one of them. */
static int serve_kraken_num(int c, const char *arg, struct serve_kraken_opts *o)
{
	static const struct {
		int c;
		const char *name;
		uint64_t min, max;
		size_t off;
	} nums[] = {
	        {'P', "--ping-ms", 0, 3600000, offsetof(struct serve_kraken_opts, ping_ms)},
	        {'D', "--dead-ms", 100, 3600000, offsetof(struct serve_kraken_opts, dead_ms)},
	        {'b', "--backoff-min-ms", 1, 600000,
	         offsetof(struct serve_kraken_opts, backoff_min_ms)},
	        {'B', "--backoff-max-ms", 1, 3600000,
	         offsetof(struct serve_kraken_opts, backoff_max_ms)},
	        {'M', "--max-sessions", 0, UINT32_MAX,
	         offsetof(struct serve_kraken_opts, max_sessions)},
	        {'i', "--rest-interval-ms", 0, 600000,
	         offsetof(struct serve_kraken_opts, interval_ms)},
	};
	size_t i;

	for (i = 0; i < sizeof(nums) / sizeof(nums[0]); i++)
		if (nums[i].c == c)
			return cli_u64("serve", nums[i].name, arg, nums[i].min, nums[i].max, false,
			               (uint64_t *)((char *)o + nums[i].off)) < 0
			               ? -1
			               : 0;
	return 1;
}

/* --kraken, else PRODUCT_IDS: at least one pair.  0 or -1. */
static int serve_kraken_pairs(struct serve_kraken_opts *o, const char *ids)
{
	if (o->pairs.n == 0 && ids && kraken_list_parse(&o->pairs, "serve", "PRODUCT_IDS", ids) < 0)
		return -1;
	if (o->pairs.n == 0) {
		fprintf(stderr, "trades serve: --kraken needs at least one pair\n");
		return -1;
	}
	return 0;
}

static const struct option serve_kraken_options[] = {
        {"kraken", required_argument, 0, 'k'},
        {"kraken-url", required_argument, 0, 'u'},
        {"tls-ca", required_argument, 0, 'c'},
        {"kraken-backfill", no_argument, 0, 'K'},
        {"rest-url", required_argument, 0, 'r'},
        {"feed", required_argument, 0, 'F'},
        {"ping-ms", required_argument, 0, 'P'},
        {"dead-ms", required_argument, 0, 'D'},
        {"backoff-min-ms", required_argument, 0, 'b'},
        {"backoff-max-ms", required_argument, 0, 'B'},
        {"max-sessions", required_argument, 0, 'M'},
        {"rest-interval-ms", required_argument, 0, 'i'},
        {"sync", required_argument, 0, 's'},
        {"print", no_argument, 0, 'p'},
        CLI_KAFKA_OPTIONS,
        CLI_CANDLE_OPTIONS,
        CLI_HTTP_OPTIONS,
        PRIVDROP_OPTION,
        CLI_COMMON_OPTIONS,
        {0, 0, 0, 0},
};

static int serve_kraken_parse(int argc, char **argv, struct serve_kraken_opts *o)
{
	const char *ids = cli_env("PRODUCT_IDS", NULL);
	int c, r;

	memset(o, 0, sizeof(*o));
	/* The drop-in image sets no flag: these point it at another endpoint or CA. */
	o->url = cli_env("TRADES_KRAKEN_URL", KRAKEN_WS_URL_DEFAULT);
	o->rest_url = cli_env("TRADES_REST_URL", KRAKEN_REST_URL_DEFAULT);
	o->ca_file = cli_env("TRADES_TLS_CA", NULL);
	o->prefix = KRAKEN_DEFAULT_FEED;
	o->ping_ms = SERVE_KRAKEN_PING_MS;
	o->interval_ms = KRAKEN_REST_INTERVAL_MS;
	if (cli_common_init("serve", &o->co) < 0 || cli_store_env("serve", &o->st) < 0 ||
	    cli_kafka_env(&o->kafka) < 0 || cli_http_env(&o->http) < 0)
		return -1;
	cli_candles_defaults(&o->candles);
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", serve_kraken_options, NULL)) != -1) {
		r = cli_common_opt("serve", c, optarg, &o->co);
		if (r == 0)
			r = cli_kafka_opt(c, optarg, &o->kafka);
		if (r == 0)
			r = cli_candles_opt("serve", c, optarg, &o->candles);
		if (r == 0)
			r = cli_http_opt(c, optarg, &o->http);
		if (r == 0)
			r = privdrop_opt(c, optarg);
		if (r != 0) {
			if (r < 0)
				return -1;
			if (o->co.help) {
				serve_kraken_usage(stdout);
				exit(CLI_OK);
			}
			continue;
		}
		if ((r = serve_kraken_num(c, optarg, o)) <= 0) {
			if (r < 0)
				return -1;
			continue;
		}
		switch (c) {
		case 'k':
			if (kraken_list_parse(&o->pairs, "serve", "--kraken", optarg) < 0)
				return -1;
			break;
		case 'u':
			o->url = optarg;
			break;
		case 'c':
			o->ca_file = optarg;
			break;
		case 'K':
			o->backfill = true;
			break;
		case 'r':
			o->rest_url = optarg;
			break;
		case 'F':
			o->prefix = optarg;
			break;
		case 's':
			o->st.sync = optarg;
			break;
		case 'p':
			o->print = true;
			break;
		default:
			serve_kraken_usage(stderr);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "trades serve: unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	o->st.state_dir = o->co.state_dir;
	return serve_kraken_pairs(o, ids);
}

/* LIVE_OR_HISTORICAL: 0 live (or unset), 1 historical, -1 bad value. */
static int serve_kraken_mode(void)
{
	const char *m = cli_env("LIVE_OR_HISTORICAL", NULL);

	if (!m || !strcmp(m, "live"))
		return 0;
	if (!strcmp(m, "historical"))
		return 1;
	fprintf(stderr, "trades serve: LIVE_OR_HISTORICAL '%s': use live or historical\n", m);
	return -1;
}

#if HAVE_KRAKEN
#include "trades/source_ws.h"

static volatile sig_atomic_t serve_kraken_stop;

static void serve_kraken_on_signal(int sig)
{
	(void)sig;
	serve_kraken_stop = 1;
}

struct serve_kraken {
	struct serve_kraken_opts *o;
	struct pipeline *pipe;
	struct kraken_feeds kf;
	struct kraken_rest kr;
	bool rest;
	struct source_ws *ws;
	uint64_t req_id;
	int64_t last_msg_mono, last_ping_mono;
	uint64_t acks, sub_errors, pings, pongs, heartbeats, status;
	struct cli_ops ops; /* the WebSocket's figures into the state (serve_http.h) */
};

/* The WebSocket's bytes and messages as the PREFIX feed's source figures. */
static void serve_kraken_publish(struct serve_kraken *sk)
{
	const struct source_ws_stats *ws = source_ws_stats(sk->ws);
	struct state_source src = {.bytes = ws->bytes, .packets = ws->messages};

	cli_ops_publish_feed(&sk->ops, sk->pipe, sk->kf.ctl_feed, &src, &sk->o->kafka);
}

/* {"method":"subscribe","params":{"channel":"trade","symbol":[..],"snapshot":true},"req_id":N} */
static int serve_kraken_opened(void *ctx, const struct source_chan *ch)
{
	struct serve_kraken *sk = ctx;
	static char msg[256 + KRAKEN_FEEDS_MAX * (TRADE_SYMBOL_MAX + 3)];
	size_t n;
	unsigned i;

	_Static_assert(sizeof(msg) <= SOURCE_WS_SEND_MAX, "a subscribe fits one message");
	if (ch->gen > 1)
		kraken_feeds_count(&sk->kf, STATE_EXT_RECONNECTS, 1);
	n = (size_t)snprintf(msg, sizeof(msg),
	                     "{\"method\":\"subscribe\",\"params\":{\"channel\":\"trade\","
	                     "\"symbol\":[");
	for (i = 0; i < sk->o->pairs.n; i++)
		n += (size_t)snprintf(msg + n, sizeof(msg) - n, "%s\"%s\"", i ? "," : "",
		                      sk->o->pairs.sym[i]);
	n += (size_t)snprintf(msg + n, sizeof(msg) - n, "],\"snapshot\":true},\"req_id\":%llu}",
	                      (unsigned long long)++sk->req_id);
	ENSURE(n < sizeof(msg));
	sk->last_msg_mono = sk->last_ping_mono = timefmt_mono_ns();
	return source_ws_send(sk->ws, msg, n);
}

static void serve_kraken_control(struct serve_kraken *sk, const struct kraken_msg *m)
{
	switch (m->kind) {
	case KRAKEN_MSG_SUB_OK:
		sk->acks++;
		log_info("kraken: subscribed %s (req_id %llu)", m->symbol,
		         (unsigned long long)m->req_id);
		break;
	case KRAKEN_MSG_SUB_ERROR:
		sk->sub_errors++;
		kraken_feeds_count(&sk->kf, STATE_EXT_SUB_ERRORS, 1);
		log_warn("kraken: subscription %s refused: %s", m->symbol[0] ? m->symbol : "?",
		         m->error[0] ? m->error : "(no error text)");
		break;
	case KRAKEN_MSG_STATUS:
		sk->status++;
		log_info("kraken: system status %s", m->status[0] ? m->status : "?");
		break;
	case KRAKEN_MSG_HEARTBEAT:
		sk->heartbeats++;
		break;
	case KRAKEN_MSG_PONG:
		sk->pongs++;
		break;
	default:
		break;
	}
}

static void serve_kraken_message(void *ctx, const struct source_chan *ch, const void *buf,
                                 size_t len, int64_t rx_ns, bool rx_kernel)
{
	struct serve_kraken *sk = ctx;
	struct kraken_msg m;
	enum malformed why;

	(void)ch, (void)rx_kernel;
	sk->last_msg_mono = timefmt_mono_ns();
	sk->kf.rx_ns = rx_ns;
	why = kraken_ws_parse(buf, len, &m, kraken_feeds_trade, &sk->kf);
	if (why != MALFORMED_NONE)
		kraken_feeds_refused(&sk->kf, why, buf, len);
	else
		serve_kraken_control(sk, &m);
}

static void serve_kraken_batch_end(void *ctx, const struct source_batch *b)
{
	struct serve_kraken *sk = ctx;
	int64_t now = timefmt_mono_ns(), quiet = (int64_t)sk->o->ping_ms * 1000000;
	char ping[64];
	int n;

	(void)b;
	if (sk->rest && sk->kf.ngaps)
		kraken_rest_fill_gaps(&sk->kr, &sk->kf);
	if (quiet && now - sk->last_msg_mono > quiet && now - sk->last_ping_mono > quiet) {
		n = snprintf(ping, sizeof(ping), "{\"method\":\"ping\",\"req_id\":%llu}",
		             (unsigned long long)++sk->req_id);
		if (source_ws_send(sk->ws, ping, (size_t)n) == 0)
			sk->pings++;
		sk->last_ping_mono = now;
	}
	pipeline_commit(sk->pipe);
	serve_kraken_publish(sk);
}

/* The downtime: from each known pair's last stored trade up to now. */
static void serve_kraken_downtime(struct serve_kraken *sk)
{
	int64_t now = timefmt_now_ns();
	unsigned i;

	for (i = 0; i < sk->o->pairs.n && !serve_kraken_stop; i++) {
		const struct kraken_pair *kp =
		        kraken_pairs_find(&sk->kr.pairs, sk->o->pairs.sym[i]);
		int idx = kraken_feeds_pair(&sk->kf, sk->o->pairs.sym[i], false);
		uint64_t before = pipeline_stats(sk->pipe)->accepted;

		if (!kp || idx < 0) {
			log_warn("kraken: %s: no REST backfill (%s)", sk->o->pairs.sym[i],
			         kp ? "feed table full" : "not in AssetPairs");
			continue;
		}
		if (sk->kf.pair[idx].last_ts_ns <= 0)
			continue; /* nothing stored yet: no downtime to fill */
		/* From just before the last stored trade: ones of the same instant after
		 * it are not skipped, and it comes back as a duplicate. */
		kraken_rest_pages(&sk->kr, &sk->kf, kp, (uint64_t)sk->kf.pair[idx].last_ts_ns - 1,
		                  now, 0, KRAKEN_REST_PAGES_MAX);
		log_info("kraken: %s: %llu trades of the downtime backfilled", kp->symbol,
		         (unsigned long long)(pipeline_stats(sk->pipe)->accepted - before));
	}
}

/* Opens what the run needs.  CLI_OK or an exit code. */
static int serve_kraken_setup(struct serve_kraken *sk, struct serve_kraken_opts *o)
{
	struct source_ws_config wc = {
	        .url = o->url,
	        .ca_file = o->ca_file,
	        .dead_ms = (uint32_t)o->dead_ms,
	        .backoff_min_ms = (uint32_t)o->backoff_min_ms,
	        .backoff_max_ms = (uint32_t)o->backoff_max_ms,
	        .max_sessions = o->max_sessions,
	        .stop = &serve_kraken_stop,
	        .h = {.ctx = sk,
	              .opened = serve_kraken_opened,
	              .datagram = serve_kraken_message,
	              .batch_end = serve_kraken_batch_end},
	};
	char err[512];
	unsigned i;

	if (source_ws_open(&sk->ws, &wc, err, sizeof(err)) < 0) {
		fprintf(stderr, "trades serve: %s\n", err);
		return CLI_USAGE;
	}
	if (kraken_feeds_init(&sk->kf, sk->pipe, o->prefix) < 0)
		return CLI_USAGE;
	sk->kf.peer = o->url;
	for (i = 0; i < o->pairs.n; i++)
		if (kraken_feeds_pair(&sk->kf, o->pairs.sym[i], false) < 0)
			return CLI_FAIL;
	if (!o->backfill)
		return CLI_OK;
	if (kraken_rest_open(&sk->kr, o->rest_url, o->ca_file, (uint32_t)o->interval_ms,
	                     &serve_kraken_stop, err, sizeof(err)) < 0) {
		log_error("serve: --kraken-backfill: %s", err);
		return CLI_FAIL;
	}
	sk->rest = true;
	serve_kraken_downtime(sk);
	sk->kf.track_gaps = true;
	return CLI_OK;
}

static void serve_kraken_report(struct serve_kraken *sk)
{
	const struct source_ws_stats *ws = source_ws_stats(sk->ws);
	const struct pipeline_stats *s = pipeline_stats(sk->pipe);

	log_info("kraken: %llu sessions, %llu messages, %llu acks, %llu subscription errors, "
	         "%llu heartbeats, %llu pings / %llu pongs, %llu gaps filled trades",
	         (unsigned long long)ws->sessions, (unsigned long long)ws->messages,
	         (unsigned long long)sk->acks, (unsigned long long)sk->sub_errors,
	         (unsigned long long)sk->heartbeats, (unsigned long long)sk->pings,
	         (unsigned long long)sk->pongs, (unsigned long long)sk->kf.filled);
	cli_log_stopped(s);
}

int cmd_serve_kraken(int argc, char **argv)
{
	static struct serve_kraken sk;
	static struct serve_kraken_opts o;
	struct pipeline_config pc;
	bool refused = false; /* set by a failed pipeline_open */
	char err[512];
	int rc, mode = serve_kraken_mode();

	if (mode < 0)
		return CLI_USAGE;
	if (mode == 1)
		return cmd_backfill(argc, argv);
	if (serve_kraken_parse(argc, argv, &o) < 0 || cli_store_config("serve", &o.st, &pc) < 0)
		return CLI_USAGE;
	cli_candles_config(&o.candles, &pc);
	memset(&sk, 0, sizeof(sk));
	sk.o = &o;
	cli_stop_signals(serve_kraken_on_signal);
	pc.refused = &refused;
	if ((sk.pipe = pipeline_open(&pc, err, sizeof(err))) == NULL) {
		log_error("%s", err);
		return refused ? CLI_REFUSED : CLI_FAIL;
	}
	rc = privdrop_apply("serve", o.st.state_dir, 0); /* TLS client sockets: no capability */
	if (rc == CLI_OK && o.print && cli_print_sink("serve", sk.pipe) < 0)
		rc = CLI_FAIL;
	if (rc == CLI_OK && cli_candles_start("serve", &o.candles, sk.pipe) < 0)
		rc = CLI_FAIL;
	if (rc == CLI_OK)
		rc = cli_kafka_start(&o.kafka, sk.pipe, o.st.state_dir);
	if (rc == CLI_OK) /* before the set-up: a downtime backfill can take minutes */
		rc = cli_http_start(&o.http, o.st.state_dir);
	if (rc == CLI_OK)
		rc = serve_kraken_setup(&sk, &o);
	if (rc == CLI_OK) {
		printf("kraken %s pairs=%u feed=%s\nready\n", o.url, o.pairs.n, o.prefix);
		fflush(stdout);
		rc = source_ws_run(sk.ws) < 0 ? CLI_FAIL : CLI_OK;
		pipeline_commit(sk.pipe);
		sk.ops.next_ns = 0; /* the last figures, as the exit summary's */
		serve_kraken_publish(&sk);
		serve_kraken_report(&sk);
	}
	if (sk.rest)
		kraken_rest_close(&sk.kr);
	source_ws_close(sk.ws);
	pipeline_close(sk.pipe, rc == CLI_OK);
	cli_http_stop(&o.http); /* after the state's writer: see serve_http.h */
	return rc;
}
#else
int cmd_serve_kraken(int argc, char **argv)
{
	struct serve_kraken_opts o;

	if (serve_kraken_mode() < 0 || serve_kraken_parse(argc, argv, &o) < 0)
		return CLI_USAGE;
	fprintf(stderr, "trades serve: --kraken needs a build with OpenSSL, libcurl and libwslay "
	                "(meson setup -Dkraken=enabled)\n");
	return CLI_USAGE;
}
#endif
