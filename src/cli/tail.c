/* tail.c -- `trades tail`: journal records as contract JSON lines, from any
 * journal position, optionally following the live writer. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "trades/journal.h"
#include "trades/sink.h"
#include "trades/state.h"

#define TAIL_POLL_NS 20000000L /* 20 ms between looks at a quiet journal */

static volatile sig_atomic_t tail_stop;

static void tail_on_signal(int sig)
{
	(void)sig;
	tail_stop = 1;
}

static void tail_usage(FILE *f)
{
	fprintf(f,
	        "usage: trades tail [--state-dir DIR] [--from N] [--count N] [--follow]\n\n"
	        "Prints journal trade records as JSON lines (pair, price, volume, timestamp,\n"
	        "timestamp_ms, side, trade_id, feed, seq, rx_ns), starting at journal entry N\n"
	        "(1 = the beginning).  --follow keeps printing as `trades serve` appends,\n"
	        "until SIGINT/SIGTERM.  env TRADES_STATE_DIR (./state)\n\n"
	        "exit codes: 0 ok, 1 journal corrupt in the middle, 2 usage, 3 no state/journal\n");
}

static const char *tail_symbol(const struct state *s, uint32_t id)
{
	return id < atomic_load(&s->hdr->inst_count) ? s->inst[id].symbol : "?";
}

/* Prints entries until the end (or count); 1 at the end, 0 count reached,
 * -1 corruption. */
static int tail_drain(struct journal_reader *r, const struct state *s, uint64_t *left)
{
	const struct journal_frame *f;
	const void *payload;
	char line[SINK_JSON_MAX];
	struct trade t;
	int rc;

	while (*left > 0 && !tail_stop) { /* bounded by *left and the journal's end */
		rc = journal_reader_next(r, &f, &payload);
		if (rc <= 0)
			return rc < 0 ? -1 : 1;
		if (f->type != JOURNAL_TRADE || f->len != sizeof(t))
			continue;
		memcpy(&t, payload, sizeof(t));
		fwrite(line, 1,
		       sink_format_json(&t, tail_symbol(s, t.instrument),
		                        t.feed < TRADE_FEED_MAX ? s->feeds[t.feed].name : "?", line,
		                        sizeof(line)),
		       stdout);
		(*left)--;
	}
	return 0;
}

int cmd_tail(int argc, char **argv)
{
	static const struct option opts[] = {
	        {"from", required_argument, 0, 'f'},
	        {"count", required_argument, 0, 'n'},
	        {"follow", no_argument, 0, 'F'},
	        CLI_COMMON_OPTIONS,
	        {0, 0, 0, 0},
	};
	struct cli_common co;
	const char *dir;
	struct timespec poll = {0, TAIL_POLL_NS};
	struct sigaction sa = {.sa_handler = tail_on_signal};
	uint64_t from = 1, left = UINT64_MAX, limit, printed;
	struct journal_reader r;
	bool follow = false;
	struct state s;
	char err[512];
	int c, rc;

	if (cli_common_init("tail", &co) < 0)
		return CLI_USAGE;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			if (cli_u64("tail", "--from", optarg, 1, UINT64_MAX - 1, false, &from) < 0)
				return CLI_USAGE;
			break;
		case 'n':
			if (cli_u64("tail", "--count", optarg, 1, UINT64_MAX - 1, false, &left) < 0)
				return CLI_USAGE;
			break;
		case 'F':
			follow = true;
			break;
		default:
			if (cli_common_opt("tail", c, optarg, &co) > 0)
				break;
			tail_usage(stderr);
			return CLI_USAGE;
		}
	}
	if (co.help) {
		tail_usage(stdout);
		return CLI_OK;
	}
	dir = co.state_dir;
	if (optind < argc) {
		fprintf(stderr, "trades tail: unexpected argument '%s'\n", argv[optind]);
		return CLI_USAGE;
	}
	if (state_open(&s, dir, STATE_OPEN_READ, 0, err, sizeof(err)) < 0 ||
	    journal_reader_open(&r, dir, from, err, sizeof(err)) < 0) {
		fprintf(stderr, "trades tail: %s\n", err);
		return CLI_REFUSED;
	}
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	limit = left;
	/* Following is the one loop here without a bound: it ends on a signal. */
	while ((rc = tail_drain(&r, &s, &left)) == 1 && follow && !tail_stop) {
		fflush(stdout);
		nanosleep(&poll, NULL);
	}
	fflush(stdout);
	printed = limit - left;
	journal_reader_close(&r);
	state_close(&s, false);
	if (rc < 0) {
		fprintf(stderr,
		        "trades tail: stopped at journal entry %llu after %llu trades: the journal "
		        "in %s is corrupt there (segment and offset above)\n",
		        (unsigned long long)r.next_jseq, (unsigned long long)printed, dir);
		return CLI_FAIL;
	}
	return CLI_OK;
}
