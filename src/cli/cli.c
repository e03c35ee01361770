/* cli.c -- helpers shared by the subcommands. */
#include "cli.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "trades/log.h"
#include "trades/sink.h"
#include "trades/timefmt.h"

const char *cli_env(const char *name, const char *dflt)
{
	const char *v = getenv(name);

	return v && *v ? v : dflt;
}

static int cli_suffix(const char *end, uint64_t *mult)
{
	static const struct {
		const char *s;
		uint64_t m;
	} tab[] = {
	        {"", 1},
	        {"k", 1000ull},
	        {"K", 1000ull},
	        {"M", 1000000ull},
	        {"G", 1000000000ull},
	        {"Ki", 1ull << 10},
	        {"Mi", 1ull << 20},
	        {"Gi", 1ull << 30},
	};
	size_t i;

	for (i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
		if (strcmp(end, tab[i].s) == 0) {
			*mult = tab[i].m;
			return 0;
		}
	}
	return -1;
}

int cli_u64(const char *cmd, const char *opt, const char *text, uint64_t min, uint64_t max,
            bool sizes, uint64_t *out)
{
	unsigned long long v;
	uint64_t mult = 1;
	char *end;

	errno = 0;
	if (!text || !*text || *text == '-' || *text == '+' || *text == ' ') {
		fprintf(stderr, "trades %s: %s '%s': not a number\n", cmd, opt, text ? text : "");
		return -1;
	}
	v = strtoull(text, &end, 10);
	if (end == text || errno == ERANGE || (sizes ? cli_suffix(end, &mult) < 0 : *end != '\0')) {
		fprintf(stderr, "trades %s: %s '%s': not a number%s\n", cmd, opt, text,
		        sizes ? " (suffixes: k M G Ki Mi Gi)" : "");
		return -1;
	}
	if (v > max / mult || v * mult < min || v * mult > max) {
		fprintf(stderr, "trades %s: %s '%s': out of range %llu..%llu\n", cmd, opt, text,
		        (unsigned long long)min, (unsigned long long)max);
		return -1;
	}
	*out = v * mult;
	return 0;
}

int cli_log_level(const char *name)
{
	static const char *const names[] = {"debug", "info", "warn", "error"};
	int i;

	for (i = 0; i < 4; i++) {
		if (strcmp(name, names[i]) == 0) {
			log_set_level((enum log_level)i);
			return 0;
		}
	}
	return -1;
}

static int cli_bad_level(const char *cmd, const char *what, const char *v)
{
	fprintf(stderr, "trades %s: %s '%s': use debug, info, warn or error\n", cmd, what, v);
	return -1;
}

int cli_common_init(const char *cmd, struct cli_common *co)
{
	const char *v = cli_env("TRADES_LOG_LEVEL", NULL);

	co->state_dir = cli_env("TRADES_STATE_DIR", CLI_STATE_DIR_DEFAULT);
	co->help = false;
	if (v && cli_log_level(v) < 0)
		return cli_bad_level(cmd, "TRADES_LOG_LEVEL", v);
	return 0;
}

int cli_common_opt(const char *cmd, int c, const char *arg, struct cli_common *co)
{
	switch (c) {
	case CLI_OPT_STATE_DIR:
		co->state_dir = arg;
		return 1;
	case CLI_OPT_LOG_LEVEL:
		return cli_log_level(arg) < 0 ? cli_bad_level(cmd, "--log-level", arg) : 1;
	case CLI_OPT_HELP:
		co->help = true;
		return 1;
	default:
		return 0;
	}
}

int cli_print_sink(const char *cmd, struct pipeline *p)
{
	struct sink *s = sink_jsonl_open(stdout);

	if (!s) {
		log_error("%s: sink_jsonl_open(stdout): %s", cmd, strerror(ENOMEM));
		return -1;
	}
	if (pipeline_add_sink(p, s) < 0) {
		s->close(s);
		log_error("%s: pipeline_add_sink(jsonl): sink table full (%d)", cmd,
		          PIPELINE_SINKS_MAX);
		return -1;
	}
	return 0;
}

int cli_store_env(const char *cmd, struct cli_store *st)
{
	const char *v;

	st->state_dir = CLI_STATE_DIR_DEFAULT; /* the caller sets the --state-dir one */
	st->sync = cli_env("TRADES_SYNC", "none");
	st->segment_bytes = JOURNAL_SEGMENT_DEFAULT;
	st->instruments = STATE_INST_CAP_DEFAULT;
	v = cli_env("TRADES_SEGMENT_SIZE", NULL);
	if (v && cli_u64(cmd, "TRADES_SEGMENT_SIZE", v, JOURNAL_SEGMENT_MIN, JOURNAL_SEGMENT_MAX,
	                 true, &st->segment_bytes) < 0)
		return -1;
	v = cli_env("TRADES_INSTRUMENTS", NULL);
	if (v && cli_u64(cmd, "TRADES_INSTRUMENTS", v, 1, STATE_INST_CAP_MAX, true,
	                 &st->instruments) < 0)
		return -1;
	return 0;
}

int cli_store_config(const char *cmd, const struct cli_store *st, struct pipeline_config *pc)
{
	memset(pc, 0, sizeof(*pc));
	pc->state_dir = st->state_dir;
	pc->inst_cap = (uint32_t)st->instruments;
	pc->segment_bytes = st->segment_bytes;
	if (journal_sync_parse(st->sync, &pc->sync, &pc->sync_interval_ms) < 0) {
		fprintf(stderr,
		        "trades %s: --sync '%s': use none, always or interval:MS (1..3600000)\n",
		        cmd, st->sync);
		return -1;
	}
	return 0;
}

/* Today's midnight in US/Eastern, where Nasdaq's ITCH clock starts (the US
 * DST rules in code: no time zone database needed). */
static int64_t cli_itch_midnight_today(void)
{
	return timefmt_eastern_midnight_ns(timefmt_now_ns());
}

void cli_itch_defaults(struct cli_itch *o)
{
	o->midnight_ns = -1; /* resolved in cli_itch_config, only when ITCH is used */
	o->book_orders = DECODER_ITCH_ORDERS_DEFAULT;
	o->timeout_ms = MOLD_TIMEOUT_DEFAULT_NS / 1000000;
	o->reorder_ms = CLI_MOLD_REORDER_MS;
	o->ahead = MOLD_AHEAD_MAX;
	o->session = NULL;
}

int cli_itch_opt(const char *cmd, int c, const char *arg, struct cli_itch *o)
{
	uint8_t digits;

	switch (c) {
	case 1001:
		if (timefmt_parse(arg, strlen(arg), &o->midnight_ns, &digits) < 0) {
			fprintf(stderr,
			        "trades %s: --itch-midnight '%s': not an RFC 3339 time "
			        "(e.g. 2025-01-02T00:00:00-05:00)\n",
			        cmd, arg);
			return -1;
		}
		return 1;
	case 1002:
		return cli_u64(cmd, "--book-orders", arg, 1024, 1ull << 31, true, &o->book_orders) <
		                       0
		               ? -1
		               : 1;
	case 1003:
		if (strlen(arg) > MOLD_SESSION_LEN) {
			fprintf(stderr, "trades %s: --mold-session '%s': at most %d characters\n",
			        cmd, arg, MOLD_SESSION_LEN);
			return -1;
		}
		o->session = arg;
		return 1;
	case 1004:
		return cli_u64(cmd, "--mold-timeout", arg, 1, 60000, false, &o->timeout_ms) < 0 ? -1
		                                                                                : 1;
	case 1005:
		return cli_u64(cmd, "--mold-reorder", arg, 0, 60000, false, &o->reorder_ms) < 0 ? -1
		                                                                                : 1;
	case 1006:
		return cli_u64(cmd, "--mold-ahead", arg, 0, MOLD_AHEAD_MAX, false, &o->ahead) < 0
		               ? -1
		               : 1;
	default:
		return 0;
	}
}

void cli_itch_config(const struct cli_itch *o, bool mold, struct decoder_itch_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->max_orders = o->book_orders;
	cfg->max_matches = DECODER_ITCH_MATCHES_DEFAULT;
	cfg->midnight_ns = o->midnight_ns >= 0 ? o->midnight_ns : cli_itch_midnight_today();
	cfg->mold = mold;
	cfg->request_fd = -1;
	mold_config_default(&cfg->mold_cfg);
	/* On one line a hole first waits a little for a reordered datagram (the
	 * sequencer's own default is not to wait at all), briefly: packets pile
	 * up behind it in the bounded buffer meanwhile. */
	cfg->mold_cfg.wait_ns = (int64_t)o->timeout_ms * 1000000;
	cfg->mold_cfg.single_wait_ns = (int64_t)o->reorder_ms * 1000000;
	cfg->mold_cfg.timeout_ns = (int64_t)o->timeout_ms * 1000000;
	cfg->mold_cfg.ahead_max = (unsigned)o->ahead;
	if (o->session) {
		/* Sessions are space-padded on the wire, like ITCH symbols. */
		memset(cfg->mold_cfg.session, ' ', MOLD_SESSION_LEN);
		memcpy(cfg->mold_cfg.session, o->session, strlen(o->session));
		cfg->mold_cfg.session_set = true;
	}
}

void cli_stop_signals(void (*on_signal)(int))
{
	struct sigaction sa = {.sa_handler = on_signal};

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

void cli_log_stopped(const struct pipeline_stats *s)
{
	log_info("stopped: %llu received, %llu accepted, %llu duplicates, %llu malformed, "
	         "%llu store_failed",
	         (unsigned long long)s->received, (unsigned long long)s->accepted,
	         (unsigned long long)s->duplicates, (unsigned long long)s->malformed,
	         (unsigned long long)s->store_failed);
}
