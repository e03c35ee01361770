/* candles.c -- `trades candles`: the candle ring of one pair and interval,
 * read from the state file like `trades stat` (live-safe), and the candle
 * options of serve and replay (candles_cli.h). */
#include <errno.h>
#include <getopt.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "candles_cli.h"
#include "cli.h"
#include "trades/candles.h"
#include "trades/decimal.h"
#include "trades/log.h"
#include "trades/sink.h"
#include "trades/state.h"
#include "trades/timefmt.h"

void cli_candles_defaults(struct cli_candles *o)
{
	memset(o, 0, sizeof(*o));
	o->n = 1;
	o->ns[0] = 60LL * 1000000000LL;
	o->grace_ns = CANDLE_GRACE_DEFAULT_NS;
}

int cli_candles_opt(const char *cmd, int c, const char *arg, struct cli_candles *o)
{
	char err[256];
	int n;

	if (c == CLI_OPT_CANDLES) {
		n = candle_parse_intervals(arg, o->ns, err, sizeof(err));
		if (n < 0) {
			fprintf(stderr, "trades %s: %s\n", cmd, err);
			return -1;
		}
		o->n = (uint32_t)n;
		o->set = true;
		return 1;
	}
	if (c == CLI_OPT_PRINT_CANDLES) {
		o->print = true;
		return 1;
	}
	if (c == CLI_OPT_CANDLE_GRACE) {
		if (candle_parse_duration(arg, &o->grace_ns, err, sizeof(err)) < 0) {
			fprintf(stderr, "trades %s: --candle-grace: %s\n", cmd, err);
			return -1;
		}
		o->set = true;
		return 1;
	}
	return 0;
}

void cli_candles_config(const struct cli_candles *o, struct pipeline_config *pc)
{
	pc->candles_set = o->set;
	pc->n_candles = o->n;
	memcpy(pc->candle_ns, o->ns, sizeof(o->ns));
	pc->candle_grace_ns = o->grace_ns;
}

int cli_candles_start(const char *cmd, const struct cli_candles *o, struct pipeline *p)
{
	struct sink *s;

	if (!o->print)
		return 0;
	s = sink_jsonl_candles_open(stdout);
	if (!s) {
		log_error("%s: sink_jsonl_candles_open: %s", cmd, strerror(ENOMEM));
		return -1;
	}
	if (pipeline_add_sink(p, s) < 0) {
		log_error("%s: pipeline_add_sink: sink table full", cmd);
		s->close(s);
		return -1;
	}
	return 0;
}

static void candles_usage(FILE *f)
{
	fprintf(f,
	        "usage: trades candles --pair PAIR [--interval 1m] [--json] [--state-dir DIR]\n\n"
	        "Prints the recent OHLCV candles (oldest first) the state keeps for PAIR at\n"
	        "one of its intervals, bucketed by exchange time.  A candle is closed once\n"
	        "a trade at or past its end + grace was applied; 'late' counts trades that\n"
	        "came for a closed candle (not applied).  Safe while a writer runs.\n\n"
	        "  --pair PAIR        instrument symbol, as in trades stat\n"
	        "  --interval I       one of the state's intervals (default: the first)\n"
	        "  --json             one JSON object per candle, one per line\n" CLI_COMMON_HELP
	        "\nexit codes: 0 ok, 1 unknown pair or interval, 2 usage, 3 state refused\n");
}

struct candles_row {
	char open[DEC_FMT_MAX], high[DEC_FMT_MAX], low[DEC_FMT_MAX], close[DEC_FMT_MAX];
	char volume[DEC_FMT_MAX], vwap[DEC_FMT_MAX], start[40];
};

static void candles_format(const struct candle *c, const struct state_instrument *in,
                           struct candles_row *r)
{
	dec_format(c->open, TRADE_SCALE_DIGITS, in->price_dp, r->open);
	dec_format(c->high, TRADE_SCALE_DIGITS, in->price_dp, r->high);
	dec_format(c->low, TRADE_SCALE_DIGITS, in->price_dp, r->low);
	dec_format(c->close, TRADE_SCALE_DIGITS, in->price_dp, r->close);
	dec128_format(c->volume, TRADE_SCALE_DIGITS, in->qty_dp, r->volume);
	dec128_format(candle_vwap(c), TRADE_SCALE_DIGITS, in->price_dp, r->vwap);
	timefmt_format(c->start_ns, 0, r->start);
}

/* Prints the candles; returns CLI_OK. */
static int candles_print(const struct state *s, const struct state_instrument *in, uint32_t k,
                         const struct candle *c, int n, const struct candle_ring_hdr *h, bool json)
{
	char name[16];
	struct candles_row r;

	candle_interval_name(state_candles_interval_ns(s, k), name, sizeof(name));
	if (!json)
		printf("%s %s: %d candles, %llu late, %llu corrections\n"
		       "%-20s %14s %14s %14s %14s %16s %8s %14s %s\n",
		       in->symbol, name, n, (unsigned long long)h->late,
		       (unsigned long long)h->corrections, "start", "open", "high", "low", "close",
		       "volume", "trades", "vwap", "state");
	for (int i = 0; i < n; i++) {
		bool closed = state_candle_closed(s, k, &c[i], h->watermark_ns);

		candles_format(&c[i], in, &r);
		if (json)
			printf("{\"pair\":\"%s\",\"interval\":\"%s\",\"start_ns\":%lld,\"open\":\"%"
			       "s\","
			       "\"high\":\"%s\",\"low\":\"%s\",\"close\":\"%s\",\"volume\":\"%s\","
			       "\"trades\":%llu,\"vwap\":\"%s\",\"closed\":%s,\"late\":%llu}\n",
			       in->symbol, name, (long long)c[i].start_ns, r.open, r.high, r.low,
			       r.close, r.volume, (unsigned long long)c[i].trades, r.vwap,
			       closed ? "true" : "false", (unsigned long long)h->late);
		else
			printf("%-20s %14s %14s %14s %14s %16s %8llu %14s %s\n", r.start, r.open,
			       r.high, r.low, r.close, r.volume, (unsigned long long)c[i].trades,
			       r.vwap, closed ? "closed" : "open");
	}
	return CLI_OK;
}

struct candles_args {
	struct cli_common co;
	const char *pair;
	const char *interval;
	bool json;
};

/* 1 to go on, 0 after --help, -1 usage error (printed). */
static int candles_parse(int argc, char **argv, struct candles_args *a)
{
	static const struct option opts[] = {
	        {"pair", required_argument, 0, 'P'},
	        {"interval", required_argument, 0, 'I'},
	        {"json", no_argument, 0, 'j'},
	        CLI_COMMON_OPTIONS,
	        {0, 0, 0, 0},
	};
	int c, r;

	memset(a, 0, sizeof(*a));
	if (cli_common_init("candles", &a->co) < 0)
		return -1;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		r = cli_common_opt("candles", c, optarg, &a->co);
		if (r < 0)
			return -1;
		if (a->co.help) {
			candles_usage(stdout);
			return 0;
		}
		if (r > 0)
			continue;
		if (c == 'P')
			a->pair = optarg;
		else if (c == 'I')
			a->interval = optarg;
		else if (c == 'j')
			a->json = true;
		else {
			candles_usage(stderr);
			return -1;
		}
	}
	if (optind < argc || !a->pair) {
		fprintf(stderr,
		        optind < argc ? "trades candles: unexpected argument '%s'\n"
		                      : "trades candles: --pair PAIR is required%s\n",
		        optind < argc ? argv[optind] : "");
		return -1;
	}
	return 1;
}

/* Interval index for --interval (default the first); -1 after printing why. */
static int candles_interval(const struct state *s, const char *text)
{
	int64_t ns[CANDLE_INTERVALS_MAX];
	char err[256];
	int k;

	if (state_candles_intervals(s) == 0) {
		fprintf(stderr, "trades candles: state %s keeps no candles (--candles off)\n",
		        s->path);
		return -1;
	}
	if (!text)
		return 0;
	if (candle_parse_intervals(text, ns, err, sizeof(err)) != 1) {
		fprintf(stderr, "trades candles: --interval '%s': not one interval 1s..1d\n", text);
		return -1;
	}
	k = state_candles_interval(s, ns[0]);
	if (k < 0)
		fprintf(stderr, "trades candles: --interval '%s': state %s does not keep it\n",
		        text, s->path);
	return k;
}

int cmd_candles(int argc, char **argv)
{
	struct candle c[CANDLE_RING_LEN];
	struct candle_ring_hdr h;
	struct state_instrument in;
	struct candles_args a;
	struct state s;
	char err[512];
	int64_t id;
	int k, n, rc = CLI_FAIL;

	n = candles_parse(argc, argv, &a);
	if (n <= 0)
		return n == 0 ? CLI_OK : CLI_USAGE;
	if (state_open(&s, a.co.state_dir, STATE_OPEN_READ, 0, err, sizeof(err)) < 0) {
		fprintf(stderr, "trades candles: %s\n", err);
		return CLI_REFUSED;
	}
	id = state_lookup(&s, a.pair, strlen(a.pair));
	k = candles_interval(&s, a.interval);
	if (id < 0)
		fprintf(stderr, "trades candles: pair '%s': not in state %s\n", a.pair, s.path);
	else if (k >= 0 && state_read_instrument(&s, (uint32_t)id, &in) < 0)
		fprintf(stderr, "trades candles: pair '%s': writer holds it too long\n", a.pair);
	else if (k >= 0 && (n = state_candles_read(&s, (uint32_t)id, (uint32_t)k, c,
	                                           CANDLE_RING_LEN, &h)) < 0)
		fprintf(stderr, "trades candles: pair '%s': writer holds its candles too long\n",
		        a.pair);
	else if (k >= 0)
		rc = candles_print(&s, &in, (uint32_t)k, c, n, &h, a.json);
	state_close(&s, false);
	return rc;
}
