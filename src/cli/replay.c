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
#include "kraken_cli.h"
#include "trades/decoder.h"
#include "trades/log.h"
#include "trades/sink.h"
#include "trades/source.h"
#include "trades/timefmt.h"

#define REPLAY_CHUNK (1u << 20) /* bytes per read(); a pipeline batch */

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
	        "  --state-dir DIR   env TRADES_STATE_DIR (./state)\n"
	        "  --sync MODE       none, always, interval:MS  env TRADES_SYNC (none)\n"
	        "  --print           write accepted trades to stdout as contract JSON "
	        "lines\n" CLI_ITCH_HELP "\n"
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

struct replay_pcap_ctx {
	struct decoder *d;
	uint64_t packets;
};

static void replay_pcap_packet(void *ctx, const uint8_t *payload, size_t len, int64_t ts_ns)
{
	struct replay_pcap_ctx *rp = ctx;

	decoder_input(rp->d, payload, len, ts_ns, false, NULL);
	/* A batch per SOURCE_BURST datagrams, as the socket path has. */
	if (++rp->packets % SOURCE_BURST == 0)
		pipeline_commit(rp->d->pipe);
}

/* A capture through the MoldUDP64 sequencer (line A) and the ITCH decoder;
 * holes are final at the end of the file: nothing else can fill them. */
static int replay_pcap(struct pipeline *pipe, struct decoder *d, const char *path)
{
	struct replay_pcap_ctx rp = {.d = d};
	struct source_pcap_stats st;
	char err[512];
	int rc;

	rc = source_pcap_replay(path, replay_pcap_packet, &rp, &st, err, sizeof(err));
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
	const struct pipeline_stats *s = &pipe->stats;
	uint64_t us = (uint64_t)(ns > 0 ? ns : 1) / 1000 + 1;

	fprintf(stderr,
	        "replay: %d file(s), %llu messages, %llu accepted, %llu duplicates, %llu "
	        "malformed, "
	        "%llu.%03llu s, %llu messages/s\n",
	        files, (unsigned long long)s->received, (unsigned long long)s->accepted,
	        (unsigned long long)s->duplicates, (unsigned long long)s->malformed,
	        (unsigned long long)(ns / 1000000000), (unsigned long long)(ns / 1000000 % 1000),
	        (unsigned long long)(s->received * 1000000 / us));
}

int cmd_replay(int argc, char **argv)
{
	static const struct option opts[] = {
	        {"format", required_argument, 0, 'f'},
	        {"feed", required_argument, 0, 'F'},
	        {"decode-only", no_argument, 0, 'D'},
	        {"state-dir", required_argument, 0, 'd'},
	        {"sync", required_argument, 0, 's'},
	        {"print", no_argument, 0, 'p'},
	        {"help", no_argument, 0, 'h'},
	        CLI_ITCH_OPTIONS,
	        {0, 0, 0, 0},
	};
	static struct pipeline pipe;
	static struct decoder dec;
	static struct decoder_itch itch;
	struct decoder_itch_config icfg;
	struct cli_itch io;
	bool pcap = false;
	enum decoder_format fmt = DECODER_JSONL;
	const char *feed_name = "replay";
	struct pipeline_config pc;
	struct cli_store st;
	bool decode_only = false, print = false;
	char err[512], *buf;
	int c, i, feed, rc = CLI_OK;
	int64_t t0;

	if (replay_kraken_wanted(argc, argv)) /* Kraken formats: replay_kraken.c */
		return cmd_replay_kraken(argc, argv);
	if (cli_store_env("replay", &st) < 0)
		return CLI_USAGE;
	cli_itch_defaults(&io);
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		int r = cli_itch_opt("replay", c, optarg, &io);

		if (r < 0)
			return CLI_USAGE;
		if (r > 0)
			continue;
		switch (c) {
		case 'f':
			pcap = strcmp(optarg, "pcap") == 0;
			fmt = pcap ? DECODER_MOLD : DECODER_JSONL;
			if (!pcap &&
			    (decoder_format_parse(optarg, &fmt) < 0 || fmt == DECODER_MOLD)) {
				fprintf(stderr,
				        "trades replay: --format '%s': use jsonl, itch or pcap\n",
				        optarg);
				return CLI_USAGE;
			}
			break;
		case 'F':
			feed_name = optarg;
			break;
		case 'D':
			decode_only = true;
			break;
		case 'd':
			st.state_dir = optarg;
			break;
		case 's':
			st.sync = optarg;
			break;
		case 'p':
			print = true;
			break;
		case 'h':
			replay_usage(stdout);
			return CLI_OK;
		default:
			replay_usage(stderr);
			return CLI_USAGE;
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
	if (fmt != DECODER_JSONL) {
		cli_itch_config(&io, pcap, &icfg);
		if (decoder_itch_init(&itch, &pipe, (uint16_t)feed, &icfg, err, sizeof(err)) < 0) {
			log_error("%s", err);
			pipeline_close(&pipe, true);
			free(buf);
			return CLI_FAIL;
		}
	}
	t0 = timefmt_mono_ns();
	for (i = optind; i < argc && rc == CLI_OK; i++) {
		char peer[DECODER_PEER_MAX];

		snprintf(peer, sizeof(peer), "file:%s", argv[i]);
		decoder_init(&dec, &pipe, fmt, pcap, (uint16_t)feed, peer);
		if (fmt != DECODER_JSONL)
			decoder_itch_attach(&dec, &itch, 0);
		if ((pcap ? replay_pcap(&pipe, &dec, argv[i])
		          : replay_file(&pipe, &dec, argv[i], buf)) < 0)
			rc = CLI_FAIL;
	}
	if (fmt != DECODER_JSONL)
		decoder_itch_free(&itch);
	replay_summary(&pipe, i - optind, timefmt_mono_ns() - t0);
	free(buf);
	pipeline_close(&pipe, true);
	return rc;
}
