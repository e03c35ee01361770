/* gen_itch.c -- trades-gen --format itch|moldudp64: a deterministic Nasdaq
 * TotalView-ITCH 5.0 day as a binary file, a pcap of MoldUDP64 packets,
 * and/or MoldUDP64 over UDP on lines A and B with fault injection and a
 * re-request server; plus the totals the service must end with.
 *
 * gen.c hands over the whole command line; everything is parsed here.  The
 * day model is gen_itch_day.c, the packets and sockets gen_itch_mold.c.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gen.h"
#include "gen_itch.h"

#define EXIT_USAGE           2
#define GI_MTU_DEFAULT       1500u
#define GI_MTU_MIN           128u   /* header + the longest message, with room */
#define GI_MTU_MAX           65535u /* largest IPv4 packet */
#define GI_RATE_MAX          1000000000ull
#define GI_LINGER_DEFAULT_MS 1000u
#define GI_LINGER_MAX_MS     600000u
#define GI_STORE_DEFAULT_MB  256u
#define GI_STORE_MAX_MB      4096u
#define GI_OUT_BUF           (1u << 20)

struct gi_opts {
	struct gi_day_config day;
	struct gi_mold_config mold;
	const char *out, *totals;
	bool linger_set;
};

struct gi_sink {
	FILE *out;
	struct gi_mold *mold;
	uint64_t out_bytes;
};

/* clang-format off */
static void gi_usage(FILE *f)
{
	fprintf(f,
"Usage: " GI_PROG " --format itch|moldudp64 --count N (--out FILE | --pcap FILE |\n"
"                  --udp HOST:PORT) [options]\n"
"\n"
"Writes a Nasdaq TotalView-ITCH 5.0 day, byte-identical for the same arguments.\n"
"\n"
"  --count N            trade-bearing messages (E, C, P, Q), 1..%llu (required);\n"
"                       the closing cross adds one Q per instrument, up to N/4\n"
"  --instruments K      symbols, 1..%u (default 30): real tickers, then XAAAA...\n"
"  --seed S             random seed (default 1)\n"
"  --join-late M        leave the first M adds out: E/C/X/D/U on unknown orders\n"
"  --mix test|nasdaq    message mix: test (default; about 35%% trade messages) or\n"
"                       nasdaq (a real day's: 45%% A, 38%% D, 8%% U, 3%% E, 2%% X,\n"
"                       1%% P, 2%% F, 1%% C)\n"
"  --out FILE           Nasdaq binary file: 2-byte length + message ('-' = stdout)\n"
"  --pcap FILE          MoldUDP64 in UDP/IPv4/Ethernet, as line A sends it\n"
"  --udp HOST:PORT      MoldUDP64 line A\n"
"  --udp-b HOST:PORT    MoldUDP64 line B: the same packets\n"
"  --session NAME       MoldUDP64 session, 1..10 characters (default TRADES0001)\n"
"  --mtu BYTES          IPv4 MTU, %u..%u (default %u): payload <= MTU - 28\n"
"  --rate N             messages per second, 0 = as fast as possible (default 0)\n"
"  --drop-every N       line A (and the pcap) drops every N-th packet\n"
"  --drop-b-every N     line B drops every N-th packet, half a period after A\n"
"  --loss-ppm N         line A (and the pcap) drops packets at random, N per\n"
"                       million (10000 = 1%%), the same ones for the same --seed\n"
"  --dup-every N        every N-th packet is sent twice (every line)\n"
"  --reorder-every N    every N-th packet is sent after the next one (every line)\n"
"  --rerequest HOST:PORT  answer MoldUDP64 re-requests on this UDP address\n"
"  --linger-ms MS       keep answering after the last packet, 0..%u\n"
"                       (default %u with --rerequest, else 0)\n"
"  --store-mb MB        messages kept for re-requests, 1..%u (default %u)\n"
"  --totals FILE        expected totals as JSON: count, messages, trades,\n"
"                       instruments (as `trades stat --json`), unknown_order,\n"
"                       broken, cross\n"
"  -h, --help           this text\n"
"\n"
"A summary goes to stderr.  Exit status: 0 ok, 1 runtime error, 2 usage error.\n",
		(unsigned long long)GI_COUNT_MAX, GI_INSTRUMENTS_MAX, GI_MTU_MIN, GI_MTU_MAX,
		GI_MTU_DEFAULT, GI_LINGER_MAX_MS, GI_LINGER_DEFAULT_MS, GI_STORE_MAX_MB,
		GI_STORE_DEFAULT_MB);
}
/* clang-format on */

static int gi_parse_session(const char *s, uint8_t out[GI_SESSION_LEN])
{
	size_t n = strlen(s);

	if (n == 0 || n > GI_SESSION_LEN) {
		fprintf(stderr, GI_PROG ": --session: '%s' must be 1..10 characters\n", s);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (s[i] < 0x20 || s[i] > 0x7e) {
			fprintf(stderr, GI_PROG ": --session: '%s' must be printable ASCII\n", s);
			return -1;
		}
	}
	memset(out, ' ', GI_SESSION_LEN);
	memcpy(out, s, n);
	return 0;
}

enum gi_opt_id {
	GO_FORMAT = 256,
	GO_COUNT,
	GO_INSTRUMENTS,
	GO_SEED,
	GO_JOIN_LATE,
	GO_OUT,
	GO_PCAP,
	GO_UDP,
	GO_UDP_B,
	GO_SESSION,
	GO_MTU,
	GO_RATE,
	GO_DROP,
	GO_DROP_B,
	GO_DUP,
	GO_REORDER,
	GO_LOSS,
	GO_REREQUEST,
	GO_LINGER,
	GO_STORE,
	GO_TOTALS,
	GO_MIX,
};

static const struct option gi_long_opts[] = {
        {"format", required_argument, NULL, GO_FORMAT},
        {"count", required_argument, NULL, GO_COUNT},
        {"instruments", required_argument, NULL, GO_INSTRUMENTS},
        {"seed", required_argument, NULL, GO_SEED},
        {"join-late", required_argument, NULL, GO_JOIN_LATE},
        {"out", required_argument, NULL, GO_OUT},
        {"pcap", required_argument, NULL, GO_PCAP},
        {"udp", required_argument, NULL, GO_UDP},
        {"udp-b", required_argument, NULL, GO_UDP_B},
        {"session", required_argument, NULL, GO_SESSION},
        {"mtu", required_argument, NULL, GO_MTU},
        {"rate", required_argument, NULL, GO_RATE},
        {"drop-every", required_argument, NULL, GO_DROP},
        {"drop-b-every", required_argument, NULL, GO_DROP_B},
        {"dup-every", required_argument, NULL, GO_DUP},
        {"reorder-every", required_argument, NULL, GO_REORDER},
        {"loss-ppm", required_argument, NULL, GO_LOSS},
        {"rerequest", required_argument, NULL, GO_REREQUEST},
        {"linger-ms", required_argument, NULL, GO_LINGER},
        {"store-mb", required_argument, NULL, GO_STORE},
        {"totals", required_argument, NULL, GO_TOTALS},
        {"mix", required_argument, NULL, GO_MIX},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
};

/* Options that take a number.  0, or -1 after a message. */
static int gi_parse_num(int c, const char *arg, struct gi_opts *o)
{
	struct gi_mold_config *m = &o->mold;
	uint64_t v;
	int rc;

	switch (c) {
	case GO_COUNT:
		return gen_parse_u64("count", arg, 1, GI_COUNT_MAX, &o->day.count);
	case GO_INSTRUMENTS:
		rc = gen_parse_u64("instruments", arg, 1, GI_INSTRUMENTS_MAX, &v);
		o->day.instruments = (uint32_t)v;
		return rc;
	case GO_SEED:
		return gen_parse_u64("seed", arg, 0, UINT64_MAX, &o->day.seed);
	case GO_JOIN_LATE:
		return gen_parse_u64("join-late", arg, 0, UINT64_MAX, &o->day.join_late);
	case GO_MTU:
		rc = gen_parse_u64("mtu", arg, GI_MTU_MIN, GI_MTU_MAX, &v);
		m->mtu = (unsigned)v;
		return rc;
	case GO_RATE:
		return gen_parse_u64("rate", arg, 0, GI_RATE_MAX, &m->rate);
	case GO_DROP:
		return gen_parse_u64("drop-every", arg, 0, UINT64_MAX, &m->drop_every);
	case GO_DROP_B:
		return gen_parse_u64("drop-b-every", arg, 0, UINT64_MAX, &m->drop_b_every);
	case GO_DUP:
		return gen_parse_u64("dup-every", arg, 0, UINT64_MAX, &m->dup_every);
	case GO_REORDER:
		return gen_parse_u64("reorder-every", arg, 0, UINT64_MAX, &m->reorder_every);
	case GO_LOSS:
		return gen_parse_u64("loss-ppm", arg, 0, 1000000, &m->loss_ppm);
	case GO_LINGER:
		o->linger_set = true;
		rc = gen_parse_u64("linger-ms", arg, 0, GI_LINGER_MAX_MS, &v);
		m->linger_ms = (uint32_t)v;
		return rc;
	case GO_STORE:
		rc = gen_parse_u64("store-mb", arg, 1, GI_STORE_MAX_MB, &v);
		m->store_bytes = v << 20;
		return rc;
	}
	return -1; /* getopt has printed the reason */
}

/* One option.  0, or -1 after a message. */
static int gi_parse_one(int c, const char *arg, struct gi_opts *o)
{
	switch (c) {
	case GO_FORMAT:
		if (strcmp(arg, "itch") == 0 || strcmp(arg, "moldudp64") == 0)
			return 0;
		fprintf(stderr, GI_PROG ": --format: '%s' is not itch or moldudp64\n", arg);
		return -1;
	case GO_OUT:
		o->out = arg;
		return 0;
	case GO_PCAP:
		o->mold.pcap = arg;
		return 0;
	case GO_UDP:
		o->mold.udp_a = arg;
		return 0;
	case GO_UDP_B:
		o->mold.udp_b = arg;
		return 0;
	case GO_REREQUEST:
		o->mold.rerequest = arg;
		return 0;
	case GO_TOTALS:
		o->totals = arg;
		return 0;
	case GO_SESSION:
		return gi_parse_session(arg, o->mold.session);
	case GO_MIX:
		if (strcmp(arg, "test") == 0 || strcmp(arg, "nasdaq") == 0) {
			o->day.mix_nasdaq = arg[0] == 'n';
			return 0;
		}
		fprintf(stderr, GI_PROG ": --mix: '%s' is not test or nasdaq\n", arg);
		return -1;
	}
	return gi_parse_num(c, arg, o);
}

static bool gi_mold_wanted(const struct gi_opts *o)
{
	return o->mold.pcap || o->mold.udp_a || o->mold.udp_b;
}

/* Checks between options.  0, or -1 after a message. */
static int gi_check(struct gi_opts *o)
{
	const struct gi_mold_config *m = &o->mold;
	const char *why = NULL;

	if (o->day.count == 0)
		why = "--count N is required";
	else if (!o->out && !gi_mold_wanted(o))
		why = "give at least one of --out, --pcap, --udp";
	else if (m->udp_b && !m->udp_a)
		why = "--udp-b needs --udp (line A)";
	else if (m->drop_b_every && !m->udp_b)
		why = "--drop-b-every applies to --udp-b";
	else if (!gi_mold_wanted(o) && (m->rerequest || m->drop_every || m->dup_every ||
	                                m->reorder_every || m->rate || m->loss_ppm))
		why = "--rerequest, --rate and the faults need MoldUDP64 output (--pcap or --udp)";
	if (why) {
		fprintf(stderr, GI_PROG ": %s\n", why);
		return -1;
	}
	if (!o->linger_set && m->rerequest)
		o->mold.linger_ms = GI_LINGER_DEFAULT_MS;
	o->mold.loss_seed = o->day.seed;
	if (m->mtu > GI_MTU_DEFAULT)
		fprintf(stderr,
		        GI_PROG ": note: --mtu %u: a receiver buffering out-of-order "
		                "packets may hold only 1472-byte datagrams\n",
		        m->mtu);
	return 0;
}

/* 0: parsed; 1: --help printed; -1: usage error (message printed). */
static int gi_parse(int argc, char **argv, struct gi_opts *o)
{
	int c;

	memset(o, 0, sizeof(*o));
	o->day.instruments = 30;
	o->day.seed = 1;
	o->mold.mtu = GI_MTU_DEFAULT;
	o->mold.store_bytes = (uint64_t)GI_STORE_DEFAULT_MB << 20;
	gi_parse_session("TRADES0001", o->mold.session);
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", gi_long_opts, NULL)) != -1) {
		if (c == 'h') {
			gi_usage(stdout);
			return 1;
		}
		if (gi_parse_one(c, optarg, o) < 0)
			return -1;
	}
	if (optind < argc) {
		fprintf(stderr, GI_PROG ": unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	return gi_check(o);
}

/* ---- the run ---- */

static int gi_emit(void *ctx, const uint8_t *msg, unsigned len, uint64_t ts_ns)
{
	struct gi_sink *s = ctx;

	if (s->out) {
		uint8_t hdr[2] = {(uint8_t)(len >> 8), (uint8_t)len};

		if (fwrite(hdr, 1, 2, s->out) != 2 || fwrite(msg, 1, len, s->out) != len) {
			fprintf(stderr, GI_PROG ": --out: write: %s\n", strerror(errno));
			return -1;
		}
		s->out_bytes += 2 + len;
	}
	return s->mold ? gi_mold_emit(s->mold, msg, len, ts_ns) : 0;
}

static FILE *gi_open_out(const char *path)
{
	FILE *f = strcmp(path, "-") == 0 ? stdout : fopen(path, "wb");

	if (!f)
		fprintf(stderr, GI_PROG ": --out %s: open: %s\n", path, strerror(errno));
	else
		setvbuf(f, NULL, _IOFBF, GI_OUT_BUF);
	return f;
}

static int gi_close_out(FILE *f, const char *path)
{
	int err = ferror(f) ? EIO : 0;

	if ((f == stdout ? fflush(f) : fclose(f)) != 0 && !err)
		err = errno;
	if (err)
		fprintf(stderr, GI_PROG ": --out %s: write: %s\n", path, strerror(err));
	return err ? -1 : 0;
}

static int gi_write_totals(const struct gi_day *d, const char *path)
{
	FILE *f = fopen(path, "w");
	int err;

	if (!f) {
		fprintf(stderr, GI_PROG ": --totals %s: open: %s\n", path, strerror(errno));
		return -1;
	}
	err = gi_day_write_totals(d, f) < 0 ? errno : 0;
	if (fclose(f) != 0 && !err)
		err = errno;
	if (err)
		fprintf(stderr, GI_PROG ": --totals %s: write: %s\n", path, strerror(err));
	return err ? -1 : 0;
}

static int gi_run(const struct gi_opts *o)
{
	struct gi_sink s = {0};
	struct gi_day *d = gi_day_new(&o->day);
	struct timespec t0, t1;
	int rc = -1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (!d)
		return EXIT_FAILURE;
	if (gi_mold_wanted(o) && !(s.mold = gi_mold_open(&o->mold)))
		goto out;
	if (o->out && !(s.out = gi_open_out(o->out)))
		goto out;
	rc = gi_day_run(d, gi_emit, &s);
	if (rc == 0 && s.mold)
		rc = gi_mold_finish(s.mold);
out:
	if (s.out && gi_close_out(s.out, o->out) < 0)
		rc = -1;
	if (s.mold && rc == 0)
		gi_mold_summary(s.mold, stderr);
	if (gi_mold_close(s.mold) < 0)
		rc = -1;
	if (rc == 0 && o->totals)
		rc = gi_write_totals(d, o->totals);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (rc == 0) {
		gi_day_summary(d, stderr);
		fprintf(stderr, GI_PROG ": %llu bytes to --out, %.3f s\n",
		        (unsigned long long)s.out_bytes,
		        (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	}
	gi_day_free(d);
	return rc == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

int gen_itch_main(int argc, char **argv)
{
	struct gi_opts o;
	int rc = gi_parse(argc, argv, &o);

	if (rc != 0)
		return rc > 0 ? EXIT_SUCCESS : EXIT_USAGE;
	signal(SIGPIPE, SIG_IGN);
	return gi_run(&o);
}
