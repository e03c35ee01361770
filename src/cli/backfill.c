/* backfill.c -- `trades backfill --kraken PAIRS --since T`: Kraken's REST
 * Trades pages into the journal and state, and the REST half of `serve
 * --kraken --kraken-backfill` (downtime before a live start, live gaps).
 *
 * Rows go through the same per-pair feeds as the WebSocket ("kraken:PAIR",
 * kraken_cli.h), so the duplicate filter drops what the journal already
 * holds: a backfill over a range already stored stores nothing new. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "config.h"
#include "kraken_cli.h"
#include "serve_kafka.h"
#include "trades/log.h"
#include "trades/sink.h"
#include "trades/sink_kafka.h"
#include "trades/timefmt.h"

#define BACKFILL_KAFKA_WAIT_MS 60000 /* default bound on the wait for delivery */
#define BACKFILL_KAFKA_POLL_MS 100   /* cursor file polls while waiting */

#if HAVE_KRAKEN
#include "trades/source_rest.h"

int kraken_rest_open(struct kraken_rest *kr, const char *base_url, const char *ca_file,
                     uint32_t interval_ms, volatile sig_atomic_t *stop, char *err, size_t errlen)
{
	struct source_rest_config rc = {
	        .base_url = base_url, .ca_file = ca_file, .interval_ms = interval_ms, .stop = stop};
	const char *body;
	size_t len;

	memset(kr, 0, sizeof(*kr));
	if (source_rest_open(&kr->http, &rc, err, errlen) < 0)
		return -1;
	if (source_rest_get(kr->http, "/0/public/AssetPairs", &body, &len, err, errlen) < 0 ||
	    kraken_pairs_parse(body, len, &kr->pairs, err, errlen) < 0) {
		kraken_rest_close(kr);
		return -1;
	}
	log_info("rest %s: %u asset pairs", base_url, kr->pairs.n);
	return 0;
}

void kraken_rest_close(struct kraken_rest *kr)
{
	source_rest_close(kr->http);
	kr->http = NULL;
}

static bool kraken_rest_limited(const char *e)
{
	return strstr(e, "Too many requests") || strstr(e, "Rate limit");
}

/* One page: GET, rate-limit retries, rows through kf.  0 and *pg, or -1. */
static int kraken_rest_page(struct kraken_rest *kr, struct kraken_feeds *kf,
                            const struct kraken_pair *kp, uint64_t since,
                            struct kraken_rest_page *pg)
{
	char path[256], err[512];
	const char *body;
	size_t len;
	unsigned attempt;
	enum malformed why;

	snprintf(path, sizeof(path), "/0/public/Trades?pair=%s&since=%llu", kp->altname,
	         (unsigned long long)since);
	for (attempt = 0; attempt <= KRAKEN_REST_RETRIES; attempt++) {
		if (source_rest_get(kr->http, path, &body, &len, err, sizeof(err)) < 0) {
			log_error("rest: %s", err);
			return -1;
		}
		kr->pages++;
		kf->rx_ns = timefmt_now_ns();
		why = kraken_rest_parse(body, len, kp->symbol, pg, kraken_feeds_trade, kf);
		if (why != MALFORMED_NONE) {
			kraken_feeds_refused(kf, why, body, len);
			return -1;
		}
		if (!pg->error[0])
			return 0;
		if (!kraken_rest_limited(pg->error) || attempt == KRAKEN_REST_RETRIES)
			break;
		kr->rate_limited++;
		log_warn("rest %s: %s; backing off", kp->altname, pg->error);
		source_rest_backoff(kr->http, attempt);
	}
	log_error("rest %s: Kraken error: %s", kp->altname, pg->error);
	return -1;
}

int kraken_rest_pages(struct kraken_rest *kr, struct kraken_feeds *kf, const struct kraken_pair *kp,
                      uint64_t since_ns, int64_t until_ns, uint64_t until_id, unsigned max_pages)
{
	struct kraken_rest_page pg;
	uint64_t cursor = since_ns;
	unsigned i;

	for (i = 0; i < max_pages; i++) {
		if (kraken_rest_page(kr, kf, kp, cursor, &pg) < 0)
			return -1;
		pipeline_commit(kf->pipe);
		if (pg.rows == 0 || pg.last <= cursor)
			return 0; /* caught up */
		cursor = pg.last;
		if ((until_ns > 0 && cursor >= (uint64_t)until_ns) ||
		    (until_id && pg.max_trade_id >= until_id))
			return 0;
	}
	log_warn("rest %s: stopped after %u pages", kp->altname, max_pages);
	return 0;
}

/* One gap: the ids [g->first, g->last] of one pair, from the trade before. */
static void kraken_rest_fill_one(struct kraken_rest *kr, struct kraken_feeds *kf,
                                 const struct kraken_gap *g)
{
	const struct kraken_pair_feed *pf = &kf->pair[g->pair];
	const struct kraken_pair *kp = kraken_pairs_find(&kr->pairs, pf->symbol);
	uint64_t hwm = pipeline_state(kf->pipe)->feeds[pf->feed].last_seq, before = kf->filled;
	uint64_t want = g->last - g->first + 1;

	if (!kp || hwm - g->first >= STATE_DEDUP_WINDOW) {
		log_warn("feed %s:%s: gap %llu..%llu not filled: %s", kf->prefix, pf->symbol,
		         (unsigned long long)g->first, (unsigned long long)g->last,
		         kp ? "older than the duplicate window" : "pair unknown to AssetPairs");
		pipeline_gap(kf->pipe, pf->feed, g->first, g->last);
		return;
	}
	kf->fill = true;
	kf->fill_first = g->first;
	kf->fill_last = g->last;
	kraken_rest_pages(kr, kf, kp, g->since_ns > 0 ? (uint64_t)g->since_ns - 1 : 0, 0, g->last,
	                  KRAKEN_FILL_PAGES_MAX);
	kf->fill = false;
	log_info("feed %s:%s: gap %llu..%llu: %llu of %llu trades filled from REST", kf->prefix,
	         pf->symbol, (unsigned long long)g->first, (unsigned long long)g->last,
	         (unsigned long long)(kf->filled - before), (unsigned long long)want);
	if (kf->filled - before < want)
		pipeline_gap(kf->pipe, pf->feed, g->first, g->last);
}

void kraken_rest_fill_gaps(struct kraken_rest *kr, struct kraken_feeds *kf)
{
	unsigned i;

	for (i = 0; i < kf->ngaps; i++)
		kraken_rest_fill_one(kr, kf, &kf->gaps[i]);
	kf->ngaps = 0;
	pipeline_commit(kf->pipe);
}
#endif /* HAVE_KRAKEN */

struct backfill_opts {
	struct cli_common co;
	struct cli_store st;
	struct kraken_list pairs;
	const char *rest_url, *ca_file, *prefix;
	int64_t since_ns; /* -1 = not given */
	uint64_t interval_ms;
	bool print;
	struct cli_kafka kafka; /* --kafka: produce what the journal holds, then exit */
	uint64_t kafka_wait_ms; /* --kafka-wait-ms: bound on the wait for delivery */
};

static void backfill_usage(FILE *f)
{
	fprintf(f, "usage: trades backfill --kraken PAIR[,PAIR...] --since RFC3339|NS --state-dir "
	           "DIR\n"
	           "                       [--rest-url URL] [--tls-ca FILE] [--feed PREFIX]\n"
	           "                       [--rest-interval-ms MS] [--sync MODE] [--print]\n\n"
	           "Pages Kraken's GET /0/public/Trades from --since up to now for each pair and\n"
	           "stores the trades not already in the journal (feeds PREFIX:PAIR, default\n"
	           "kraken, shared with serve --kraken).  Pair names are mapped with\n"
	           "/0/public/AssetPairs (BTC/USD, XBT/USD, XBTUSD and XXBTZUSD are one pair).\n\n"
	           "  --rest-url URL        https://api.kraken.com; env TRADES_REST_URL\n"
	           "  --tls-ca FILE         PEM CA bundle instead of the system store;\n"
	           "                        env TRADES_TLS_CA\n"
	           "  --rest-interval-ms MS least time between requests (1000)\n"
	           "  --kafka-wait-ms MS    with --kafka: wait at most MS for every journal\n"
	           "                        trade to be delivered, else exit 1 "
	           "(60000)\n" CLI_KAFKA_HELP
	           "Drop-in environment: PRODUCT_IDS (JSON list or A,B) stands for --kraken,\n"
	           "LAST_N_DAYS=N for --since now-N days.\n\n"
	           "exit codes: 0 done, 1 REST failed, 2 usage, 3 state/journal refused\n");
}

/* --since: RFC 3339, or ns since the epoch (Kraken's cursor). */
static int backfill_since(const char *arg, int64_t *ns)
{
	uint64_t v;
	uint8_t digits;

	if (arg[0] >= '0' && arg[0] <= '9' && strspn(arg, "0123456789") == strlen(arg))
		return cli_u64("backfill", "--since", arg, 0, INT64_MAX, false, &v) < 0
		               ? -1
		               : (*ns = (int64_t)v, 0);
	if (timefmt_parse(arg, strlen(arg), ns, &digits) == 0)
		return 0;
	fprintf(stderr, "trades backfill: --since '%s': RFC 3339 time or ns since the epoch\n",
	        arg);
	return -1;
}

/* PRODUCT_IDS and LAST_N_DAYS stand in for --kraken and --since; both are
 * required in the end.  0 or -1. */
static int backfill_env(struct backfill_opts *o)
{
	const char *ids = cli_env("PRODUCT_IDS", NULL), *days = cli_env("LAST_N_DAYS", NULL);
	uint64_t n;

	if (o->pairs.n == 0 && ids &&
	    kraken_list_parse(&o->pairs, "backfill", "PRODUCT_IDS", ids) < 0)
		return -1;
	if (o->since_ns < 0 && days) {
		if (cli_u64("backfill", "LAST_N_DAYS", days, 1, 3650, false, &n) < 0)
			return -1;
		o->since_ns = timefmt_now_ns() - (int64_t)n * 86400 * 1000000000LL;
	}
	if (o->pairs.n == 0 || o->since_ns < 0) {
		fprintf(stderr, "trades backfill: --kraken PAIRS and --since T are required "
		                "(or PRODUCT_IDS and LAST_N_DAYS)\n");
		return -1;
	}
	return 0;
}

static const struct option backfill_options[] = {
        {"kraken", required_argument, 0, 'k'},
        {"since", required_argument, 0, 'S'},
        {"rest-url", required_argument, 0, 'u'},
        {"tls-ca", required_argument, 0, 'c'},
        {"feed", required_argument, 0, 'F'},
        {"sync", required_argument, 0, 's'},
        {"print", no_argument, 0, 'p'},
        {"rest-interval-ms", required_argument, 0, 'i'},
        {"kafka-wait-ms", required_argument, 0, 'W'},
        CLI_KAFKA_OPTIONS,
        CLI_COMMON_OPTIONS,
        {0, 0, 0, 0},
};

static int backfill_parse(int argc, char **argv, struct backfill_opts *o)
{
	int c;

	memset(o, 0, sizeof(*o));
	/* As serve --kraken: the drop-in image's way to another endpoint or CA. */
	o->rest_url = cli_env("TRADES_REST_URL", KRAKEN_REST_URL_DEFAULT);
	o->ca_file = cli_env("TRADES_TLS_CA", NULL);
	o->prefix = KRAKEN_DEFAULT_FEED;
	o->since_ns = -1;
	o->interval_ms = KRAKEN_REST_INTERVAL_MS;
	o->kafka_wait_ms = BACKFILL_KAFKA_WAIT_MS;
	if (cli_common_init("backfill", &o->co) < 0 || cli_store_env("backfill", &o->st) < 0 ||
	    cli_kafka_env(&o->kafka) < 0)
		return -1;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", backfill_options, NULL)) != -1) {
		int r = cli_common_opt("backfill", c, optarg, &o->co);

		if (r == 0)
			r = cli_kafka_opt(c, optarg, &o->kafka);
		if (r < 0)
			return -1;
		if (o->co.help) {
			backfill_usage(stdout);
			exit(CLI_OK);
		}
		if (r > 0)
			continue;
		switch (c) {
		case 'k':
			if (kraken_list_parse(&o->pairs, "backfill", "--kraken", optarg) < 0)
				return -1;
			break;
		case 'S':
			if (backfill_since(optarg, &o->since_ns) < 0)
				return -1;
			break;
		case 'u':
			o->rest_url = optarg;
			break;
		case 'c':
			o->ca_file = optarg;
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
		case 'W':
			if (cli_u64("backfill", "--kafka-wait-ms", optarg, 1, 3600000, false,
			            &o->kafka_wait_ms) < 0)
				return -1;
			break;
		case 'i':
			if (cli_u64("backfill", "--rest-interval-ms", optarg, 0, 600000, false,
			            &o->interval_ms) < 0)
				return -1;
			break;
		default:
			backfill_usage(stderr);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "trades backfill: unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	o->st.state_dir = o->co.state_dir;
	return backfill_env(o);
}

#if HAVE_KRAKEN
/* Every pair from since to now.  CLI_OK or CLI_FAIL. */
static int backfill_run(struct backfill_opts *o, struct kraken_feeds *kf, struct kraken_rest *kr)
{
	int64_t now = timefmt_now_ns();
	unsigned i;
	int rc = CLI_OK;

	for (i = 0; i < o->pairs.n; i++) {
		const struct kraken_pair *kp = kraken_pairs_find(&kr->pairs, o->pairs.sym[i]);
		uint64_t before = pipeline_stats(kf->pipe)->accepted;

		if (!kp) {
			log_error("backfill %s: not a Kraken pair (AssetPairs)", o->pairs.sym[i]);
			rc = CLI_FAIL;
			continue;
		}
		if (kraken_feeds_pair(kf, kp->symbol, false) < 0 ||
		    kraken_rest_pages(kr, kf, kp, (uint64_t)o->since_ns, now, 0,
		                      KRAKEN_REST_PAGES_MAX) < 0)
			rc = CLI_FAIL;
		log_info("backfill %s (%s): %llu trades stored", kp->symbol, kp->altname,
		         (unsigned long long)(pipeline_stats(kf->pipe)->accepted - before));
	}
	return rc;
}

/* With --kafka: until the sink's cursor file says every journal entry is
 * delivered, at most o->kafka_wait_ms.  CLI_OK, or CLI_FAIL (logged). */
static int backfill_kafka_wait(const struct backfill_opts *o, const struct pipeline *p)
{
	const struct timespec nap = {0, BACKFILL_KAFKA_POLL_MS * 1000000L};
	int64_t deadline = timefmt_mono_ns() + (int64_t)o->kafka_wait_ms * 1000000LL;
	uint64_t last = pipeline_journal_last(p);
	struct sink_kafka_status st;
	char err[512];
	int r;

	memset(&st, 0, sizeof(st));
	for (;;) { /* bounded by the deadline */
		r = sink_kafka_status_read(o->st.state_dir, &st, err, sizeof(err));
		if (r < 0)
			log_warn("backfill: %s", err);
		if (r > 0 && st.delivered >= last) {
			log_info("backfill: kafka: all %llu journal entries delivered to %s",
			         (unsigned long long)last, st.topic);
			return CLI_OK;
		}
		if (timefmt_mono_ns() >= deadline)
			break;
		nanosleep(&nap, NULL);
	}
	log_error("backfill: kafka: %llu of %llu journal entries delivered to %s within %llu ms "
	          "(--kafka-wait-ms); the rest stays in the journal for the next run",
	          (unsigned long long)st.delivered, (unsigned long long)last, o->kafka.brokers,
	          (unsigned long long)o->kafka_wait_ms);
	return CLI_FAIL;
}

int cmd_backfill(int argc, char **argv)
{
	struct pipeline *pipe;
	static struct kraken_feeds kf;
	static struct kraken_rest kr;
	struct backfill_opts o;
	struct pipeline_config pc;
	bool refused = false; /* set by a failed pipeline_open */
	const struct pipeline_stats *s;
	char err[512];
	int rc;

	if (backfill_parse(argc, argv, &o) < 0 || cli_store_config("backfill", &o.st, &pc) < 0)
		return CLI_USAGE;
	pc.refused = &refused;
	if ((pipe = pipeline_open(&pc, err, sizeof(err))) == NULL) {
		log_error("%s", err);
		return refused ? CLI_REFUSED : CLI_FAIL;
	}
	if (kraken_feeds_init(&kf, pipe, o.prefix) < 0) {
		pipeline_close(pipe, true);
		return CLI_USAGE;
	}
	kf.peer = o.rest_url;
	rc = o.print && cli_print_sink("backfill", pipe) < 0 ? CLI_FAIL : CLI_OK;
	if (rc == CLI_OK)
		rc = cli_kafka_start(&o.kafka, pipe, o.st.state_dir);
	if (rc != CLI_OK) {
		pipeline_close(pipe, true);
		return rc;
	}
	if (kraken_rest_open(&kr, o.rest_url, o.ca_file, (uint32_t)o.interval_ms, NULL, err,
	                     sizeof(err)) < 0) {
		log_error("backfill: %s", err);
		pipeline_close(pipe, true);
		return CLI_FAIL;
	}
	rc = backfill_run(&o, &kf, &kr);
	s = pipeline_stats(pipe);
	fprintf(stderr,
	        "backfill: %u pair(s), %llu pages, %llu messages, %llu accepted, %llu "
	        "duplicates, %llu malformed\n",
	        o.pairs.n, (unsigned long long)kr.pages, (unsigned long long)s->received,
	        (unsigned long long)s->accepted, (unsigned long long)s->duplicates,
	        (unsigned long long)s->malformed);
	kraken_rest_close(&kr);
	if (rc == CLI_OK && o.kafka.brokers)
		rc = backfill_kafka_wait(&o, pipe);
	pipeline_close(pipe, true);
	return rc;
}
#else
int cmd_backfill(int argc, char **argv)
{
	struct backfill_opts o;

	if (backfill_parse(argc, argv, &o) < 0)
		return CLI_USAGE;
	fprintf(stderr, "trades backfill: this build has no Kraken REST client (needs libcurl, "
	                "OpenSSL and libwslay: meson setup -Dkraken=enabled)\n");
	return CLI_USAGE;
}
#endif
