/* replay.c -- `trades replay`: files through the same decoder and pipeline
 * as the sockets, then exit.  Replaying a file twice into the same state
 * stores nothing new: the trades are duplicates of the same feed. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "candles_cli.h"
#include "cli.h"
#include "kraken_cli.h"
#include "trades/decoder.h"
#include "trades/log.h"
#include "trades/sink.h"
#include "trades/source.h"
#include "trades/timefmt.h"

/* Bytes per read(), small enough that the buffer the kernel copies into and
 * the decoder reads back stays in L2 beside the order book's hot slots: on
 * the harness's ITCH day (bench/run replay-itch) 64 KiB reads decode at
 * about 1.27x the rate of 1 MiB reads (issue 13).  A pipeline batch (a
 * commit, an fsync under --sync always) stays REPLAY_BATCH bytes. */
#define REPLAY_CHUNK (1u << 16)
#define REPLAY_BATCH (1u << 20)

static void replay_usage(FILE *f)
{
	fprintf(f,
	        "usage: trades replay [--format jsonl|itch|pcap] [--feed NAME] [--decode-only]\n"
	        "                     [--state-dir DIR] [--sync MODE] [--print] [ITCH options] "
	        "FILE...\n\n"
	        "Feeds each FILE ('-' = stdin) through the same pipeline as `trades serve`:\n"
	        "decoder, duplicate filter, journal, state.  Prints a summary to stderr.\n\n"
	        "  --format FMT      jsonl: JSON lines (default)\n"
	        "                    itch: Nasdaq TotalView-ITCH 5.0 binary file (2-byte length + "
	        "message)\n"
	        "                    pcap: capture of MoldUDP64 datagrams carrying ITCH 5.0 "
	        "(libpcap)\n"
	        "  --feed NAME       feed the trades are counted under (default: replay);\n"
	        "                    duplicates are per pair and feed\n"
	        "  --decode-only     parse and count, store nothing (benchmark baseline)\n"
	        "  --sync MODE       none, always, interval:MS  env TRADES_SYNC (none)\n"
	        "  --print           write accepted trades to stdout as contract JSON "
	        "lines\n" CLI_ITCH_HELP CLI_CANDLE_HELP CLI_COMMON_HELP "\n"
	        "exit codes: 0 done (malformed lines are counted, not fatal), 1 a file could not\n"
	        "be read, a trade could not be stored or ITCH bytes were dropped, 2 usage,\n"
	        "3 state/journal refused\n");
}

/* Reads one file through the decoder in REPLAY_CHUNK pieces, a commit per
 * REPLAY_BATCH bytes.  0 or -1. */
static int replay_file(struct pipeline *pipe, struct decoder *d, const char *path, char *buf)
{
	int fd = strcmp(path, "-") == 0 ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
	size_t batch = 0;
	ssize_t n;

	if (fd < 0) {
		log_error("replay %s: open: %s", path, strerror(errno));
		return -1;
	}
	for (;;) { /* ends at EOF or error; each pass consumes input */
		n = read(fd, buf, REPLAY_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		decoder_input(d, buf, (size_t)n, timefmt_now_ns(), false, NULL);
		batch += (size_t)n;
		if (batch >= REPLAY_BATCH) {
			pipeline_commit(pipe);
			batch = 0;
		}
	}
	if (n < 0)
		log_error("replay %s: read: %s", path, strerror(errno));
	decoder_end(d);
	pipeline_commit(pipe);
	if (fd != STDIN_FILENO)
		close(fd);
	return n < 0 ? -1 : 0;
}

/* A capture through the pcap source: each UDP payload a datagram for the
 * MoldUDP64 sequencer (line A), a commit per batch. */
static void replay_datagram(void *ctx, const struct source_chan *ch, const void *buf, size_t len,
                            int64_t rx_ns, bool rx_kernel)
{
	(void)ch;
	decoder_input(ctx, buf, len, rx_ns, rx_kernel, NULL);
}

static void replay_batch_end(void *ctx, const struct source_batch *b)
{
	struct decoder *d = ctx;

	(void)b;
	pipeline_commit(d->pipe);
}

/* Holes are final at the end of the file: nothing else can fill them. */
static int replay_pcap(struct pipeline *pipe, struct decoder *d, const char *path)
{
	const struct source_handler h = {
	        .ctx = d, .datagram = replay_datagram, .batch_end = replay_batch_end};
	struct source_pcap_stats st;
	char err[512];
	int rc;

	rc = source_pcap_run(path, &h, 0, &st, err, sizeof(err));
	if (rc < 0)
		log_error("replay %s", err);
	decoder_itch_tick(d->itch, INT64_MAX / 2);
	decoder_end(d);
	pipeline_commit(pipe);
	log_info("replay %s: %llu packets, %llu UDP, %llu skipped (%llu fragments, %llu truncated)",
	         path, (unsigned long long)st.packets, (unsigned long long)st.udp,
	         (unsigned long long)st.skipped, (unsigned long long)st.fragments,
	         (unsigned long long)st.truncated);
	return rc;
}

static void replay_summary(const struct pipeline *pipe, int files, int64_t ns)
{
	const struct pipeline_stats *s = pipeline_stats(pipe);
	uint64_t us = (uint64_t)(ns > 0 ? ns : 1) / 1000 + 1;

	fprintf(stderr,
	        "replay: %d file(s), %llu messages, %llu accepted, %llu duplicates, %llu "
	        "malformed, %llu store_failed, %llu.%03llu s, %llu messages/s\n",
	        files, (unsigned long long)s->received, (unsigned long long)s->accepted,
	        (unsigned long long)s->duplicates, (unsigned long long)s->malformed,
	        (unsigned long long)s->store_failed, (unsigned long long)(ns / 1000000000),
	        (unsigned long long)(ns / 1000000 % 1000),
	        (unsigned long long)(s->received * 1000000 / us));
}

struct replay_opts {
	struct cli_common co;
	struct cli_store st;
	struct cli_itch itch;
	struct cli_candles candles; /* --candles, --candle-grace */
	enum decoder_format fmt;
	bool pcap;
	const char *feed_name;
	bool decode_only, print;
};

static int replay_format(struct replay_opts *o, const char *arg)
{
	o->pcap = strcmp(arg, "pcap") == 0;
	o->fmt = o->pcap ? DECODER_MOLD : DECODER_JSONL;
	if (!o->pcap && (decoder_format_parse(arg, &o->fmt) < 0 || o->fmt == DECODER_MOLD)) {
		fprintf(stderr, "trades replay: --format '%s': use jsonl, itch or pcap\n", arg);
		return -1;
	}
	return 0;
}

/* One option: the shared tables, then replay's own.  0 or -1 (usage). */
static int replay_option(struct replay_opts *o, int c, const char *arg)
{
	int r = cli_common_opt("replay", c, arg, &o->co);

	if (r == 0)
		r = cli_itch_opt("replay", c, arg, &o->itch);
	if (r == 0)
		r = cli_candles_opt("replay", c, arg, &o->candles);
	if (r != 0)
		return r < 0 ? -1 : 0;
	switch (c) {
	case 'f':
		return replay_format(o, arg);
	case 'F':
		o->feed_name = arg;
		return 0;
	case 'D':
		o->decode_only = true;
		return 0;
	case 's':
		o->st.sync = arg;
		return 0;
	case 'p':
		o->print = true;
		return 0;
	default:
		replay_usage(stderr);
		return -1;
	}
}

/* The index of the first FILE; 0 when --help was printed; -1 usage error. */
static int replay_parse(int argc, char **argv, struct replay_opts *o)
{
	static const struct option opts[] = {
	        {"format", required_argument, 0, 'f'},
	        {"feed", required_argument, 0, 'F'},
	        {"decode-only", no_argument, 0, 'D'},
	        {"sync", required_argument, 0, 's'},
	        {"print", no_argument, 0, 'p'},
	        CLI_COMMON_OPTIONS,
	        CLI_ITCH_OPTIONS,
	        CLI_CANDLE_OPTIONS,
	        {0, 0, 0, 0},
	};
	int c;

	memset(o, 0, sizeof(*o));
	o->fmt = DECODER_JSONL;
	o->feed_name = "replay";
	if (cli_common_init("replay", &o->co) < 0 || cli_store_env("replay", &o->st) < 0)
		return -1;
	cli_itch_defaults(&o->itch);
	cli_candles_defaults(&o->candles);
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (replay_option(o, c, optarg) < 0)
			return -1;
		if (o->co.help) {
			replay_usage(stdout);
			return 0;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "trades replay: no FILE given ('-' reads stdin)\n");
		return -1;
	}
	o->st.state_dir = o->co.state_dir;
	return optind;
}

struct replay_run {
	struct pipeline *pipe;
	struct decoder dec;
	struct decoder_itch itch;
	bool pipe_ok; /* pipeline open: close it */
	bool itch_ok; /* itch set up: free it */
	char *buf;
	uint16_t feed;
};

/* Pipeline open, feed registered, sink and ITCH decoder set up.  CLI_OK or
 * an exit code (everything opened is closed again by replay_done). */
static int replay_setup(struct replay_run *r, const struct replay_opts *o)
{
	struct decoder_itch_config icfg;
	struct pipeline_config pc;
	bool refused = false; /* set by a failed pipeline_open */
	char err[512];
	int feed;

	if (cli_store_config("replay", &o->st, &pc) < 0)
		return CLI_USAGE;
	pc.decode_only = o->decode_only;
	cli_candles_config(&o->candles, &pc);
	pc.refused = &refused;
	r->pipe = pipeline_open(&pc, err, sizeof(err));
	if (!r->pipe) {
		log_error("%s", err);
		return refused ? CLI_REFUSED : CLI_FAIL;
	}
	r->pipe_ok = true;
	feed = pipeline_feed(r->pipe, o->feed_name);
	if (feed < 0) {
		log_error("replay: pipeline_feed '%s': feed table full or bad name", o->feed_name);
		return CLI_USAGE;
	}
	r->feed = (uint16_t)feed;
	r->buf = malloc(REPLAY_CHUNK);
	if (!r->buf) {
		log_error("replay: %u-byte read buffer: %s", REPLAY_CHUNK, strerror(ENOMEM));
		return CLI_FAIL;
	}
	if (o->print && cli_print_sink("replay", r->pipe) < 0)
		return CLI_FAIL;
	if (cli_candles_start("replay", &o->candles, r->pipe) < 0)
		return CLI_FAIL;
	if (o->fmt == DECODER_JSONL)
		return CLI_OK;
	cli_itch_config(&o->itch, o->pcap, &icfg);
	if (decoder_itch_init(&r->itch, r->pipe, r->feed, &icfg, err, sizeof(err)) < 0) {
		log_error("replay: decoder_itch_init: %s", err);
		return CLI_FAIL;
	}
	r->itch_ok = true;
	return CLI_OK;
}

/* Bytes the ITCH decoder could not decode and skipped (framing lost, or
 * unknown messages stepped over); a replay that lost input must not exit 0. */
static uint64_t replay_itch_bytes_dropped(const struct replay_run *r)
{
	return r->itch_ok ? itch_skipped_bytes(&r->itch.itch) : 0;
}

/* CLI_FAIL when something given was not stored: a trade the journal refused
 * or ITCH bytes dropped.  Logged. */
static int replay_verdict(const struct replay_run *r)
{
	uint64_t failed = pipeline_stats(r->pipe)->store_failed;
	uint64_t dropped = replay_itch_bytes_dropped(r);

	if (failed)
		log_error("replay: %llu trades could not be stored", (unsigned long long)failed);
	if (dropped)
		log_error("replay: the ITCH decoder skipped %llu bytes it could not decode",
		          (unsigned long long)dropped);
	return failed || dropped ? CLI_FAIL : CLI_OK;
}

static int replay_files(struct replay_run *r, const struct replay_opts *o, int argc, char **argv,
                        int first)
{
	int64_t t0 = timefmt_mono_ns();
	int i, rc = CLI_OK;

	for (i = first; i < argc && rc == CLI_OK; i++) {
		char peer[DECODER_PEER_MAX];

		snprintf(peer, sizeof(peer), "file:%s", argv[i]);
		decoder_init(&r->dec, r->pipe, o->fmt, o->pcap, r->feed, peer);
		if (o->fmt != DECODER_JSONL)
			decoder_itch_attach(&r->dec, &r->itch, 0);
		if ((o->pcap ? replay_pcap(r->pipe, &r->dec, argv[i])
		             : replay_file(r->pipe, &r->dec, argv[i], r->buf)) < 0)
			rc = CLI_FAIL;
	}
	replay_summary(r->pipe, i - first, timefmt_mono_ns() - t0);
	return rc == CLI_OK ? replay_verdict(r) : rc;
}

int cmd_replay(int argc, char **argv)
{
	static struct replay_run r;
	struct replay_opts o;
	int first, rc;

	if (replay_kraken_wanted(argc, argv)) /* Kraken formats: replay_kraken.c */
		return cmd_replay_kraken(argc, argv);

	first = replay_parse(argc, argv, &o);
	if (first <= 0)
		return first == 0 ? CLI_OK : CLI_USAGE;
	memset(&r, 0, sizeof(r));
	rc = replay_setup(&r, &o);
	if (rc == CLI_OK)
		rc = replay_files(&r, &o, argc, argv, first);
	if (r.pipe_ok)
		pipeline_close(r.pipe, true);
	if (r.itch_ok)
		decoder_itch_free(&r.itch);
	free(r.buf);
	return rc;
}
