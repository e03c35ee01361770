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

#include "cli.h"
#include "trades/decoder.h"
#include "trades/log.h"
#include "trades/sink.h"
#include "trades/timefmt.h"

#define REPLAY_CHUNK (1u << 20) /* bytes per read(); a pipeline batch */

static void replay_usage(FILE *f)
{
	fprintf(f,
		"usage: trades replay [--format jsonl] [--feed NAME] [--decode-only]\n"
		"                     [--state-dir DIR] [--sync MODE] [--print] FILE...\n\n"
		"Feeds each FILE ('-' = stdin) through the same pipeline as `trades serve`:\n"
		"decoder, duplicate filter, journal, state.  Prints a summary to stderr.\n\n"
		"  --format FMT      jsonl (JSON lines, default)\n"
		"  --feed NAME       feed the trades are counted under (default: replay);\n"
		"                    duplicates are per pair and feed\n"
		"  --decode-only     parse and count, store nothing (benchmark baseline)\n"
		"  --state-dir DIR   env TRADES_STATE_DIR (./state)\n"
		"  --sync MODE       none, always, interval:MS  env TRADES_SYNC (none)\n"
		"  --print           write accepted trades to stdout as contract JSON lines\n\n"
		"exit codes: 0 done (malformed lines are counted, not fatal), 1 a file could not\n"
		"be read, 2 usage, 3 state/journal refused\n");
}

/* Reads one file through the decoder in REPLAY_CHUNK pieces.  0 or -1. */
static int replay_file(struct pipeline *pipe, struct decoder *d, const char *path, char *buf)
{
	int fd = strcmp(path, "-") == 0 ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
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
		pipeline_commit(pipe);
	}
	if (n < 0)
		log_error("replay %s: read: %s", path, strerror(errno));
	decoder_end(d);
	pipeline_commit(pipe);
	if (fd != STDIN_FILENO)
		close(fd);
	return n < 0 ? -1 : 0;
}

static void replay_summary(const struct pipeline *pipe, int files, int64_t ns)
{
	const struct pipeline_stats *s = &pipe->stats;
	uint64_t us = (uint64_t)(ns > 0 ? ns : 1) / 1000 + 1;

	fprintf(stderr,
		"replay: %d file(s), %llu messages, %llu accepted, %llu duplicates, %llu malformed, "
		"%llu.%03llu s, %llu messages/s\n",
		files, (unsigned long long)s->received, (unsigned long long)s->accepted,
		(unsigned long long)s->duplicates, (unsigned long long)s->malformed,
		(unsigned long long)(ns / 1000000000), (unsigned long long)(ns / 1000000 % 1000),
		(unsigned long long)(s->received * 1000000 / us));
}

int cmd_replay(int argc, char **argv)
{
	static const struct option opts[] = {
		{"format", required_argument, 0, 'f'},  {"feed", required_argument, 0, 'F'},
		{"decode-only", no_argument, 0, 'D'},   {"state-dir", required_argument, 0, 'd'},
		{"sync", required_argument, 0, 's'},    {"print", no_argument, 0, 'p'},
		{"help", no_argument, 0, 'h'},          {0, 0, 0, 0},
	};
	static struct pipeline pipe;
	static struct decoder dec;
	enum decoder_format fmt = DECODER_JSONL;
	const char *feed_name = "replay";
	struct pipeline_config pc;
	struct cli_store st;
	bool decode_only = false, print = false;
	char err[512], *buf;
	int c, i, feed, rc = CLI_OK;
	int64_t t0;

	if (cli_store_env("replay", &st) < 0)
		return CLI_USAGE;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			if (decoder_format_parse(optarg, &fmt) < 0 || fmt != DECODER_JSONL) {
				fprintf(stderr, "trades replay: --format '%s': supported: jsonl\n", optarg);
				return CLI_USAGE;
			}
			break;
		case 'F': feed_name = optarg; break;
		case 'D': decode_only = true; break;
		case 'd': st.state_dir = optarg; break;
		case 's': st.sync = optarg; break;
		case 'p': print = true; break;
		case 'h': replay_usage(stdout); return CLI_OK;
		default: replay_usage(stderr); return CLI_USAGE;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "trades replay: no FILE given ('-' reads stdin)\n");
		return CLI_USAGE;
	}
	if (cli_store_config("replay", &st, &pc) < 0)
		return CLI_USAGE;
	pc.decode_only = decode_only;
	if (pipeline_open(&pipe, &pc, err, sizeof(err)) < 0) {
		log_error("%s", err);
		return CLI_REFUSED;
	}
	feed = pipeline_feed(&pipe, feed_name);
	buf = malloc(REPLAY_CHUNK);
	if (feed < 0 || !buf) {
		pipeline_close(&pipe, true);
		free(buf);
		return feed < 0 ? CLI_USAGE : CLI_FAIL;
	}
	if (print)
		pipeline_add_sink(&pipe, sink_jsonl_open(stdout));
	t0 = timefmt_mono_ns();
	for (i = optind; i < argc && rc == CLI_OK; i++) {
		char peer[DECODER_PEER_MAX];

		snprintf(peer, sizeof(peer), "file:%s", argv[i]);
		decoder_init(&dec, &pipe, fmt, false, (uint16_t)feed, peer);
		if (replay_file(&pipe, &dec, argv[i], buf) < 0)
			rc = CLI_FAIL;
	}
	replay_summary(&pipe, i - optind, timefmt_mono_ns() - t0);
	free(buf);
	pipeline_close(&pipe, true);
	return rc;
}
