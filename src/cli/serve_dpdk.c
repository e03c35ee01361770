/* serve_dpdk.c -- `trades serve --dpdk "EAL ARGS" --dpdk-mold ... `.
 *
 * The DPDK source (source_dpdk.h) behind the same handler the socket
 * backends use: each --dpdk-mold / --dpdk-jsonl filter is one channel with
 * its own decoder, exactly as a UDP listener's; MoldUDP64 filters of one
 * feed share its decoder_itch (A and B lines), and with --mold-rerequest the
 * feed gets a kernel UDP socket its re-requests go out on and whose answers
 * the rx lcore reads (line MOLD_LINE_REREQUEST).  Port statistics and the
 * drop counters are published into the state under the feed "dpdk:portN"
 * (decoder counters port_*, so `trades stat` shows them), and logged at stop;
 * that feed's source figures (/metrics, `stat`) are the port's: payload
 * bytes and datagrams delivered, and as kernel_drops the frames the NIC
 * dropped (imissed + rx_nombuf), there being no kernel on this path.
 *
 * Order: options -> pipeline_open -> feeds, decoders, sockets -> EAL and
 * port -> "listening dpdk ..." and "ready" -> rx loop -> on the signal:
 * drain, batch_end, rte_eth_dev_stop, rte_eal_cleanup -> pipeline_close.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "candles_cli.h"
#include "cli.h"
#include "config.h"
#include "privdrop.h"
#include "serve_dpdk.h"
#include "serve_http.h"
#include "serve_kafka.h"
#include "trades/addr.h"
#include "trades/log.h"
#include "trades/sink.h"
#include "trades/source.h"
#include "trades/source_dpdk.h"

bool serve_dpdk_requested(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (strcmp(argv[i], "--dpdk") == 0 || strncmp(argv[i], "--dpdk=", 7) == 0)
			return true;
	return false;
}

#if !HAVE_DPDK

int cmd_serve_dpdk(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "trades serve: --dpdk: this trades was built without DPDK (meson "
	                "-Ddpdk=enabled with libdpdk-dev 22.11 installed); `trades version` "
	                "lists the compiled-in features\n");
	return CLI_USAGE;
}

#else

#define SD_FEED_MAX     64
#define SD_RCVBUF_BYTES (4 << 20) /* re-request answer socket */

static volatile sig_atomic_t sd_stop;

static void sd_on_signal(int sig)
{
	(void)sig;
	sd_stop = 1;
}

struct sd_filter {
	bool mold;
	uint16_t udp_port;
	char group[INET_ADDRSTRLEN];
	char feed_name[SD_FEED_MAX];
};

struct sd_opts {
	struct cli_common co;
	struct cli_store st;
	struct source_dpdk_config dc;
	const char *eal_args;
	struct sd_filter f[SOURCE_DPDK_CHANS_MAX];
	unsigned nf;
	const char *rerequest;
	bool print;
	struct cli_itch itch;
	struct cli_candles candles;
	struct cli_kafka kafka;
	struct cli_http http;
};

/* Port statistics into the state: enum state_ext order from PORT_IPACKETS. */
#define SD_PUBLISHED    5
/* Capabilities kept after --user: none.  Measured with net_pcap, net_af_packet
 * and --no-huge / hugepages (tests/integration/test_privdrop.sh): once the EAL
 * and the port are up, the receive loop needs no capability. */
#define SD_KEEP_CAPS    0

struct sd {
	struct pipeline *pipe;
	struct source_dpdk *src;
	struct decoder dec[SOURCE_DPDK_CHANS_MAX]; /* by channel */
	struct decoder_mold_feeds mold;            /* the Mold feeds (decoder_mold_setup) */
	int rr_fd[SOURCE_DPDK_CHANS_MAX];          /* re-request sockets, closed at exit */
	unsigned nrr;                              /* of rr_fd in use */
	uint16_t port_feed;                        /* "dpdk:portN" */
	uint64_t published[SD_PUBLISHED];
	int64_t next_publish_ns;
	struct cli_ops ops;            /* the port's figures as the source's (serve_http.h) */
	const struct cli_kafka *kafka; /* its sinks' figures */
};

static void sd_usage(FILE *f)
{
	fprintf(f,
	        "usage: trades serve --dpdk \"EAL ARGS\" --dpdk-mold "
	        "UDP_PORT[,group=ADDR][,feed=NAME]"
	        "...\n"
	        "                    [--dpdk-jsonl UDP_PORT[,feed=NAME]]... [--dpdk-port N]\n"
	        "                    [--dpdk-rxd N] [--dpdk-mbufs N] [--dpdk-csum] [--dpdk-idle-us "
	        "US]\n"
	        "                    [--state-dir DIR] [--sync MODE] [--segment-size N] "
	        "[--instruments N]\n"
	        "                    [--mold-rerequest HOST:PORT] [ITCH options] [--print] "
	        "[--log-level L]\n\n"
	        "Takes MoldUDP64 (ITCH 5.0) and JSON-lines UDP feeds off a DPDK port, without\n"
	        "the kernel.  Frames are filtered by UDP destination port (and IPv4 group);\n"
	        "the rest (ARP, other ports, fragments, runts, bad checksums) are counted.\n\n"
	        "  --dpdk ARGS        EAL arguments, e.g. \"-l 0-1 -a 0000:03:00.0\" or\n"
	        "                     \"--no-huge -m 512 --no-pci --vdev=net_pcap0,rx_pcap=F\";\n"
	        "                     a unique --file-prefix (trades-PID) unless given\n"
	        "  --dpdk-mold SPEC   MoldUDP64 filter; two with one feed=NAME are its A and B "
	        "lines\n"
	        "  --dpdk-jsonl SPEC  JSON lines filter (one or more lines per datagram)\n"
	        "  --dpdk-port N      ethdev port id (0)\n"
	        "  --dpdk-rxd N       rx descriptors (%u)\n"
	        "  --dpdk-mbufs N     mempool size (default from --dpdk-rxd, at least %u)\n"
	        "  --dpdk-csum        check IPv4 header checksums in software when the NIC does "
	        "not\n"
	        "  --dpdk-idle-us US  nap after %u empty polls (%u; 0 = spin, for isolated "
	        "cores)\n"
	        "  --mold-rerequest HOST:PORT  gap re-requests, sent through a kernel UDP "
	        "socket\n" CLI_ITCH_HELP CLI_CANDLE_HELP CLI_KAFKA_HELP CLI_HTTP_HELP
	        "  --state-dir, --sync, --segment-size, --instruments, "
	        "--print, --log-level, --user: as without --dpdk\n\n"
	        "exit codes: 0 stopped cleanly, 1 runtime error, 2 usage, 3 state/journal "
	        "refused\n",
	        SOURCE_DPDK_RXD_DEFAULT, SOURCE_DPDK_MBUFS_MIN_POOL, SOURCE_DPDK_IDLE_POLLS,
	        SOURCE_DPDK_IDLE_US_DEFAULT);
}

/* "UDP_PORT[,group=ADDR][,feed=NAME]" (group only for MoldUDP64). */
static int sd_filter_parse(const char *spec, bool mold, struct sd_filter *f)
{
	const char *opt = mold ? "--dpdk-mold" : "--dpdk-jsonl";
	char buf[256], *save = NULL, *tok, *end;
	unsigned long port;

	memset(f, 0, sizeof(*f));
	f->mold = mold;
	if (snprintf(buf, sizeof(buf), "%s", spec) >= (int)sizeof(buf))
		goto bad;
	tok = strtok_r(buf, ",", &save);
	errno = 0;
	port = tok ? strtoul(tok, &end, 10) : 0;
	if (!tok || errno || *end || tok[0] < '0' || tok[0] > '9' || port == 0 || port > 65535)
		goto bad;
	f->udp_port = (uint16_t)port;
	while ((tok = strtok_r(NULL, ",", &save))) {
		if (mold && strncmp(tok, "group=", 6) == 0 &&
		    snprintf(f->group, sizeof(f->group), "%s", tok + 6) < (int)sizeof(f->group))
			continue;
		if (strncmp(tok, "feed=", 5) == 0 && tok[5] &&
		    snprintf(f->feed_name, sizeof(f->feed_name), "%s", tok + 5) <
		            (int)sizeof(f->feed_name))
			continue;
		goto bad;
	}
	if (!f->feed_name[0]) {
		char name[SD_FEED_MAX];

		snprintf(name, sizeof(name), "dpdk:%s%s%u", f->group, f->group[0] ? ":" : "",
		         f->udp_port);
		memcpy(f->feed_name, name, sizeof(name));
	}
	return 0;
bad:
	fprintf(stderr, "trades serve: %s '%s': use UDP_PORT%s[,feed=NAME]\n", opt, spec,
	        mold ? "[,group=ADDR]" : "");
	return -1;
}

static int sd_parse_opt(int c, const char *arg, struct sd_opts *o)
{
	uint64_t v;

	switch (c) {
	case 'E':
		o->eal_args = arg;
		return 0;
	case 'M':
	case 'J':
		if (o->nf >= SOURCE_DPDK_CHANS_MAX / 2) {
			fprintf(stderr, "trades serve: more than %d DPDK filters\n",
			        SOURCE_DPDK_CHANS_MAX / 2);
			return -1;
		}
		return sd_filter_parse(arg, c == 'M', &o->f[o->nf++]);
	case 'P':
		if (cli_u64("serve", "--dpdk-port", arg, 0, 1023, false, &v) < 0)
			return -1;
		o->dc.port = (uint16_t)v;
		return 0;
	case 'D':
		if (cli_u64("serve", "--dpdk-rxd", arg, 64, SOURCE_DPDK_RXD_MAX, true, &v) < 0)
			return -1;
		o->dc.rxd = (uint16_t)v;
		return 0;
	case 'B':
		if (cli_u64("serve", "--dpdk-mbufs", arg, 1024, SOURCE_DPDK_MBUFS_MAX, true, &v) <
		    0)
			return -1;
		o->dc.mbufs = (uint32_t)v;
		return 0;
	case 'I':
		if (cli_u64("serve", "--dpdk-idle-us", arg, 0, SOURCE_DPDK_IDLE_US_MAX, false, &v) <
		    0)
			return -1;
		o->dc.idle_us = (uint32_t)v;
		return 0;
	case 'C':
		o->dc.check_ipv4_csum = true;
		return 0;
	}
	return 1;
}

static int sd_parse_common(int c, const char *arg, struct sd_opts *o)
{
	switch (c) {
	case 's':
		o->st.sync = arg;
		return 0;
	case 'g':
		return cli_u64("serve", "--segment-size", arg, JOURNAL_SEGMENT_MIN,
		               JOURNAL_SEGMENT_MAX, true, &o->st.segment_bytes);
	case 'n':
		return cli_u64("serve", "--instruments", arg, 1, STATE_INST_CAP_MAX, true,
		               &o->st.instruments);
	case 'R':
		o->rerequest = arg;
		return 0;
	case 'p':
		o->print = true;
		return 0;
	case PRIVDROP_OPT_USER:
		return privdrop_opt(c, arg) > 0 ? 0 : -1;
	case 'X':
		fprintf(stderr, "trades serve: --tcp, --udp, --mold and --io do not combine with "
		                "--dpdk: use --dpdk-mold / --dpdk-jsonl\n");
		return -1;
	}
	return 1;
}

static int sd_parse(int argc, char **argv, struct sd_opts *o)
{
	static const struct option opts[] = {
	        {"dpdk", required_argument, 0, 'E'},
	        {"dpdk-mold", required_argument, 0, 'M'},
	        {"dpdk-jsonl", required_argument, 0, 'J'},
	        {"dpdk-port", required_argument, 0, 'P'},
	        {"dpdk-rxd", required_argument, 0, 'D'},
	        {"dpdk-mbufs", required_argument, 0, 'B'},
	        {"dpdk-idle-us", required_argument, 0, 'I'},
	        {"dpdk-csum", no_argument, 0, 'C'},
	        {"sync", required_argument, 0, 's'},
	        {"segment-size", required_argument, 0, 'g'},
	        {"instruments", required_argument, 0, 'n'},
	        {"mold-rerequest", required_argument, 0, 'R'},
	        {"print", no_argument, 0, 'p'},
	        {"tcp", required_argument, 0, 'X'},
	        {"udp", required_argument, 0, 'X'},
	        {"mold", required_argument, 0, 'X'},
	        {"io", required_argument, 0, 'X'},
	        PRIVDROP_OPTION,
	        CLI_ITCH_OPTIONS,
	        CLI_CANDLE_OPTIONS,
	        CLI_KAFKA_OPTIONS,
	        CLI_HTTP_OPTIONS,
	        CLI_COMMON_OPTIONS,
	        {0, 0, 0, 0},
	};
	int c, r;

	memset(o, 0, sizeof(*o));
	o->dc.idle_us = SOURCE_DPDK_IDLE_US_DEFAULT;
	cli_itch_defaults(&o->itch);
	cli_candles_defaults(&o->candles);
	if (cli_common_init("serve", &o->co) < 0 || cli_store_env("serve", &o->st) < 0 ||
	    cli_kafka_env(&o->kafka) < 0 || cli_http_env(&o->http) < 0)
		return -1;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		r = cli_common_opt("serve", c, optarg, &o->co);
		if (o->co.help) {
			sd_usage(stdout);
			exit(CLI_OK);
		}
		if (r == 0)
			r = cli_itch_opt("serve", c, optarg, &o->itch);
		if (r == 0)
			r = cli_candles_opt("serve", c, optarg, &o->candles);
		if (r == 0)
			r = cli_kafka_opt(c, optarg, &o->kafka);
		if (r == 0)
			r = cli_http_opt(c, optarg, &o->http);
		if (r == 0) {
			r = sd_parse_opt(c, optarg, o);
			if (r > 0)
				r = sd_parse_common(c, optarg, o);
		} else {
			r = r > 0 ? 0 : -1;
		}
		if (r != 0 || c == '?') {
			if (r > 0 || c == '?')
				sd_usage(stderr);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "trades serve: unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	o->st.state_dir = o->co.state_dir;
	if (o->nf == 0) {
		fprintf(stderr,
		        "trades serve: --dpdk needs a --dpdk-mold or --dpdk-jsonl filter\n");
		return -1;
	}
	return 0;
}

/* ---- the handler: datagrams to the channel's decoder, commit per burst ---- */

static void sd_datagram(void *ctx, const struct source_chan *ch, const void *buf, size_t len,
                        int64_t rx_ns, bool rx_kernel)
{
	struct sd *s = ctx;

	ENSURE(ch->listen < SOURCE_DPDK_CHANS_MAX);
	decoder_input(&s->dec[ch->listen], buf, len, rx_ns, rx_kernel, ch->peer);
}

static void sd_batch_end(void *ctx, const struct source_batch *b)
{
	struct sd *s = ctx;

	(void)b;
	pipeline_commit(s->pipe);
}

/* Adds what a counter grew by since the last publish (the state's counters
 * outlive the process), as decoder_itch publishes its own. */
static void sd_publish(struct sd *s, unsigned i, uint64_t now)
{
	pipeline_ext_add(s->pipe, s->port_feed, (enum state_ext)(STATE_EXT_PORT_IPACKETS + i),
	                 now - s->published[i]);
	s->published[i] = now;
}

static void sd_publish_source(struct sd *s, const struct source_dpdk_stats *st)
{
	struct state_source src = {.bytes = st->bytes,
	                           .packets = st->datagrams,
	                           .kernel_drops = st->imissed + st->rx_nombuf};

	cli_ops_publish_feed(&s->ops, s->pipe, s->port_feed, &src, s->kafka);
}

/* Ticker: port statistics and the drop total into the state, every
 * SOURCE_DPDK_STATS_MS (the backend refreshes them as often). */
static void sd_tick(void *ctx, int64_t now_mono_ns)
{
	struct sd *s = ctx;
	struct source_dpdk_stats st;

	if (!s->src || now_mono_ns < s->next_publish_ns || pipeline_decode_only(s->pipe))
		return;
	s->next_publish_ns = now_mono_ns + SOURCE_DPDK_STATS_MS * 1000000LL;
	source_dpdk_stats(s->src, &st);
	sd_publish(s, 0, st.ipackets);
	sd_publish(s, 1, st.imissed);
	sd_publish(s, 2, st.ierrors);
	sd_publish(s, 3, st.rx_nombuf);
	sd_publish(s, 4, st.dropped);
	sd_publish_source(s, &st);
}
_Static_assert(STATE_EXT_PORT_IPACKETS + SD_PUBLISHED == STATE_EXT_PORT_UNMATCHED + 1,
               "the DPDK counters are five in a row of enum state_ext, in this order");

/* ---- set-up ---- */

/* The kernel UDP socket a Mold feed's re-requests go out on and its answers
 * come back to.  fd, or -1 (logged). */
static int sd_rerequest_socket(const char *feed)
{
	struct sockaddr_in any = {.sin_family = AF_INET};
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0),
	    rb = SD_RCVBUF_BYTES;

	if (fd < 0) {
		log_error("feed %s: re-request socket: socket: %s", feed, strerror(errno));
		return -1;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rb, sizeof(rb)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rb, sizeof(rb));
	if (bind(fd, (struct sockaddr *)&any, sizeof(any)) < 0) {
		log_error("feed %s: re-request socket: bind 0.0.0.0:0: %s", feed, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* The re-request answer channel of Mold feed `feed` (--mold-rerequest):
 * a kernel UDP socket polled as one more DPDK channel, its decoder, and
 * its entry in chans.  CLI_OK or an exit code. */
static int sd_answer_chan(struct sd *s, struct sd_opts *o, uint16_t feed, const char *name,
                          struct decoder_mold_chan *c)
{
	char err[256];
	int fd = sd_rerequest_socket(name), ch;

	if (fd < 0)
		return CLI_FAIL;
	s->rr_fd[s->nrr++] = fd;
	ch = source_dpdk_add_socket(&o->dc, fd, err, sizeof(err));
	if (ch < 0) {
		fprintf(stderr, "trades serve: %s\n", err);
		return CLI_USAGE;
	}
	decoder_init(&s->dec[ch], s->pipe, DECODER_MOLD, true, feed, "rerequest");
	*c = (struct decoder_mold_chan){
	        .dec = &s->dec[ch], .feed = feed, .feed_name = name, .answer = true, .fd = fd};
	return CLI_OK;
}

/* The Mold channels grouped into feeds by the decoder's own set-up (the
 * one `serve --mold` uses): lines A/B, re-request answers, tickers.
 * CLI_OK or an exit code. */
static int sd_mold_feeds(struct sd *s, struct sd_opts *o, struct decoder_mold_chan *chans,
                         unsigned n)
{
	struct decoder_itch_config cfg;
	struct sockaddr_storage rr;
	socklen_t rrlen = 0;
	char err[512];
	int rc;

	cli_itch_config(&o->itch, true, &cfg);
	if (o->rerequest && addr_parse(o->rerequest, strlen(o->rerequest), false, &rr, &rrlen, err,
	                               sizeof(err)) < 0) {
		fprintf(stderr, "trades serve: --mold-rerequest: %s\n", err);
		return CLI_USAGE;
	}
	rc = decoder_mold_setup(&s->mold, s->pipe, chans, n, &cfg, o->rerequest ? &rr : NULL, rrlen,
	                        err, sizeof(err));
	if (rc == -2)
		fprintf(stderr, "trades serve: %s\n", err);
	else if (rc < 0)
		log_error("%s", err);
	return rc == 0 ? CLI_OK : rc == -2 ? CLI_USAGE : CLI_FAIL;
}

/* Filters, their feeds and decoders.  CLI_OK or an exit code. */
static int sd_channels(struct sd *s, struct sd_opts *o)
{
	struct decoder_mold_chan chans[DECODER_MOLD_CHANS_MAX];
	char err[256], peer[DECODER_PEER_MAX];
	unsigned i, j, n = 0, nmold = 0;
	int feed, ch, rc;

	for (i = 0; i < o->nf; i++) {
		struct sd_filter *f = &o->f[i];

		ch = source_dpdk_add_filter(&o->dc, f->udp_port, f->group[0] ? f->group : NULL, err,
		                            sizeof(err));
		if (ch < 0) {
			fprintf(stderr, "trades serve: %s '%s': %s\n",
			        f->mold ? "--dpdk-mold" : "--dpdk-jsonl", f->feed_name, err);
			return CLI_USAGE;
		}
		feed = pipeline_feed(s->pipe, f->feed_name);
		if (feed < 0)
			return CLI_FAIL;
		snprintf(peer, sizeof(peer), "dpdk:%u", f->udp_port);
		decoder_init(&s->dec[ch], s->pipe, f->mold ? DECODER_MOLD : DECODER_JSONL, true,
		             (uint16_t)feed, peer);
		if (!f->mold)
			continue;
		ENSURE(n < DECODER_MOLD_CHANS_MAX);
		chans[n++] = (struct decoder_mold_chan){.dec = &s->dec[ch],
		                                        .feed = (uint16_t)feed,
		                                        .feed_name = f->feed_name,
		                                        .fd = -1};
	}
	nmold = n;
	for (i = 0; o->rerequest && i < nmold; i++) { /* one answer channel per feed */
		for (j = 0; j < i && chans[j].feed != chans[i].feed; j++)
			;
		if (j < i)
			continue;
		if (n == DECODER_MOLD_CHANS_MAX) {
			fprintf(stderr,
			        "trades serve: more than %d Mold channels with re-requests\n",
			        DECODER_MOLD_CHANS_MAX);
			return CLI_USAGE;
		}
		rc = sd_answer_chan(s, o, chans[i].feed, chans[i].feed_name, &chans[n]);
		if (rc != CLI_OK)
			return rc;
		n++;
	}
	return n ? sd_mold_feeds(s, o, chans, n) : CLI_OK;
}

static void sd_announce(const struct sd_opts *o)
{
	unsigned i;

	for (i = 0; i < o->nf; i++)
		printf("listening dpdk %s%s%u feed=%s %s\n", o->f[i].group,
		       o->f[i].group[0] ? ":" : "*:", o->f[i].udp_port, o->f[i].feed_name,
		       o->f[i].mold ? "mold" : "jsonl");
	printf("ready\n");
	fflush(stdout);
}

static void sd_log_stats(const struct sd *s)
{
	struct source_dpdk_stats st;
	char kinds[512];
	size_t off = 0;
	unsigned k;

	source_dpdk_stats(s->src, &st);
	kinds[0] = '\0';
	for (k = 0; k < SOURCE_DPDK_DROP_COUNT && off < sizeof(kinds); k++)
		off += (size_t)snprintf(kinds + off, sizeof(kinds) - off, "%s%s %llu",
		                        k ? ", " : "",
		                        source_dpdk_drop_name((enum source_dpdk_drop)k),
		                        (unsigned long long)st.drops[k]);
	log_info("dpdk: port %s: ipackets %llu, imissed %llu, ierrors %llu, rx_nombuf %llu",
	         source_dpdk_port_name(s->src), (unsigned long long)st.ipackets,
	         (unsigned long long)st.imissed, (unsigned long long)st.ierrors,
	         (unsigned long long)st.rx_nombuf);
	log_info("dpdk: %llu frames in %llu bursts over %lld ns (first to last), %llu datagrams "
	         "(%llu bytes) delivered, %llu re-request answers; %llu dropped (%s)",
	         (unsigned long long)st.frames, (unsigned long long)st.bursts,
	         (long long)(st.last_rx_ns - st.first_rx_ns), (unsigned long long)st.datagrams,
	         (unsigned long long)st.bytes, (unsigned long long)st.sock_datagrams,
	         (unsigned long long)st.dropped, kinds);
}

/* After the privilege drop, as serve without --dpdk: the candle, Kafka and
 * HTTP outputs.  CLI_OK or an exit code (logged). */
static int sd_outputs(struct sd *s, struct sd_opts *o)
{
	int rc = CLI_OK;

	if (cli_candles_start("serve", &o->candles, s->pipe) < 0)
		rc = CLI_FAIL;
	if (rc == CLI_OK)
		rc = cli_kafka_start(&o->kafka, s->pipe, o->st.state_dir);
	if (rc == CLI_OK)
		rc = cli_http_start(&o->http, o->st.state_dir);
	return rc;
}

static int sd_run(struct sd *s, struct sd_opts *o)
{
	struct source_handler h = {.ctx = s, .datagram = sd_datagram, .batch_end = sd_batch_end};
	char name[32], err[512];
	int rc, feed;

	snprintf(name, sizeof(name), "dpdk:port%u", o->dc.port);
	feed = pipeline_feed(s->pipe, name);
	if (feed < 0)
		return CLI_FAIL;
	s->port_feed = (uint16_t)feed;
	rc = sd_channels(s, o);
	if (rc != CLI_OK)
		return rc;
	o->dc.eal_args = o->eal_args;
	o->dc.stop = &sd_stop;
	s->src = source_dpdk_open(&o->dc, &h, err, sizeof(err));
	if (!s->src) {
		log_error("%s", err);
		return CLI_FAIL;
	}
	rc = privdrop_apply("serve", o->st.state_dir, SD_KEEP_CAPS); /* after EAL init */
	if (rc == CLI_OK)
		rc = sd_outputs(s, o);
	if (rc == CLI_OK && pipeline_add_ticker(s->pipe, sd_tick, s) < 0) {
		log_error("dpdk: pipeline_add_ticker: more than %d tickers", PIPELINE_TICKERS_MAX);
		rc = CLI_FAIL;
	}
	if (rc != CLI_OK) {
		source_dpdk_close(s->src);
		s->src = NULL;
		return rc;
	}
	sd_announce(o);
	rc = source_dpdk_run(s->src);
	s->next_publish_ns = 0;
	s->ops.next_ns = 0;
	sd_tick(s, 0); /* the last port statistics */
	pipeline_commit(s->pipe);
	sd_log_stats(s);
	source_dpdk_close(s->src);
	s->src = NULL;
	return rc < 0 ? CLI_FAIL : CLI_OK;
}

static void sd_free(struct sd *s)
{
	unsigned i;

	decoder_mold_free(&s->mold);
	for (i = 0; i < s->nrr; i++)
		close(s->rr_fd[i]);
}

int cmd_serve_dpdk(int argc, char **argv)
{
	struct pipeline *pipe;
	struct pipeline_stats ps;
	static struct sd s;
	static struct sd_opts o;
	struct pipeline_config pc;
	bool refused = false; /* set by a failed pipeline_open */
	char err[512];
	unsigned i;
	int rc;

	if (sd_parse(argc, argv, &o) < 0 || cli_store_config("serve", &o.st, &pc) < 0)
		return CLI_USAGE;
	cli_candles_config(&o.candles, &pc);
	for (i = 0; o.rerequest && i < o.nf && !o.f[i].mold; i++)
		;
	if (o.rerequest && i == o.nf) {
		fprintf(stderr, "trades serve: --mold-rerequest needs a --dpdk-mold filter\n");
		return CLI_USAGE;
	}
	cli_stop_signals(sd_on_signal);
	pc.refused = &refused;
	pipe = pipeline_open(&pc, err, sizeof(err));
	if (!pipe) {
		log_error("%s", err);
		return refused ? CLI_REFUSED : CLI_FAIL;
	}
	memset(&s, 0, sizeof(s));
	s.pipe = pipe;
	s.kafka = &o.kafka;
	rc = o.print && cli_print_sink("serve", pipe) < 0 ? CLI_FAIL : sd_run(&s, &o);
	sd_free(&s);
	ps = *pipeline_stats(pipe);
	pipeline_close(pipe, rc == CLI_OK);
	cli_http_stop(&o.http); /* after the state's writer: see serve_http.h */
	cli_log_stopped(&ps);
	return rc;
}

#endif /* HAVE_DPDK */
