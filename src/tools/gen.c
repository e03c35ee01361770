/* gen.c -- trades-gen: deterministic synthetic trade streams for tests and
 * benchmarks.
 *
 * Options, the three transports (file/stdout, TCP, UDP), --rate pacing, the
 * totals file and the summary line live here; the trade model is
 * gen_jsonl.c.  `--format itch|moldudp64` hands the whole command line to
 * gen_itch.c before anything here parses it.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "trades/addr.h"
#include "trades/timefmt.h"

#include "gen.h"
#include "gen_reliable.h"

#define PROG       "trades-gen"
#define EXIT_USAGE 2

#define FILE_BUF_BYTES  (1u << 20)   /* one write() per MiB to a file or pipe */
#define TCP_CHUNK_BYTES (256u << 10) /* the receiver's fast path wants big writes */
#define UDP_MTU_DEFAULT 1400u
#define UDP_MTU_MAX     65507u  /* largest IPv4 UDP payload */
#define UDP_BATCH       64u     /* datagrams per sendmmsg */
#define SEND_RETRIES    10000u  /* EINTR/ENOBUFS retries without progress */
#define SEND_RETRY_NS   100000L /* 100 us between ENOBUFS retries */
#define RATE_MAX        1000000000ull
#define PACE_CHUNK_MAX  4096u /* trades between two clock reads */

_Static_assert(GEN_STREAMS_MAX <= REL_CONNS_MAX, "every --connections can be reliable");
_Static_assert(GEN_LINE_MAX <= 4096, "a line fits rel_line");
_Static_assert(UDP_MTU_DEFAULT >= GEN_LINE_LIMIT, "a line fits the default datagram");
_Static_assert(FILE_BUF_BYTES > GEN_LINE_MAX && TCP_CHUNK_BYTES > GEN_LINE_MAX, "buffers");

enum out_kind { OUT_FILE, OUT_TCP, OUT_UDP, OUT_REL };

struct opts {
	uint64_t count;
	uint32_t instruments;
	uint64_t seed;
	const char *out, *tcp, *udp, *totals;
	uint64_t rate;
	uint32_t connections;
	uint32_t mtu;
	uint64_t dup_every, malformed_every;
	int seq;       /* -1: default (on with one stream) */
	bool reliable; /* --reliable: keep, resend, wait for acks (gen_reliable.c) */
};

/* One output stream: the file, or one TCP connection. */
struct conn {
	int fd;
	size_t len; /* bytes buffered */
	char *buf;
};

struct out {
	enum out_kind kind;
	const char *target; /* path or HOST:PORT, for messages */
	unsigned nconn;
	struct conn conn[GEN_STREAMS_MAX];
	size_t cap, flush_at; /* per-connection buffer size and write threshold */
	/* UDP: up to UDP_BATCH datagrams of at most mtu bytes, then sendmmsg */
	int ufd;
	uint32_t mtu;
	char *dgram;
	unsigned ndgram; /* complete datagrams waiting */
	size_t cur;      /* bytes in the datagram being filled */
	struct mmsghdr msgs[UDP_BATCH];
	struct iovec iov[UDP_BATCH];
	uint64_t bytes, datagrams;
	struct rel *rel;             /* OUT_REL */
	uint64_t reconnects, stalls; /* OUT_REL, for the summary */
};

/* The help text is laid out as it prints. */
/* clang-format off */
static void usage(FILE *f)
{
	fprintf(f,
"Usage: " PROG " --count N (--out FILE | --tcp HOST:PORT | --udp HOST:PORT) [options]\n"
"       " PROG " --format itch|moldudp64 ...   (see " PROG " --format itch --help)\n"
"\n"
"Writes N synthetic trades as JSON lines, byte-identical for the same arguments.\n"
"\n"
"  --count N            trades to generate, 1..10000000000 (required)\n"
"  --instruments K      pairs, 1..1048576 (default 16); popularity is Zipf-like\n"
"  --seed S             random seed, 0..2^64-1 (default 1)\n"
"  --out FILE           write to FILE ('-' = stdout)\n"
"  --tcp HOST:PORT      stream over TCP (writes of >= 256 KiB)\n"
"  --udp HOST:PORT      send UDP datagrams of whole lines\n"
"  --reliable         TCP: keep each line until the receiver acks it (a trades serve\n"
"                     --tcp HOST:PORT,ack listener), reconnect with backoff after a\n"
"                     drop, resend everything after the last ack, exit 0 only after\n"
"                     the final ack of every connection\n"
"  --connections C      TCP: C connections, 1..256 (default 1); pair i always uses\n"
"                       connection i %% C so each pair stays in order\n"
"  --mtu BYTES          UDP: datagram payload limit, %u..%u (default %u)\n"
"  --rate N             trades per second, 0 = as fast as possible (default 0)\n"
"  --dup-every N        after every N-th trade re-send an earlier line of the same pair\n"
"  --malformed-every N  after every N-th trade add a line with one defect (cycles\n"
"                       through the malformed reasons)\n"
"  --seq, --no-seq      add \"seq\" 1..n per stream (default: on with one stream)\n"
"  --totals FILE        write the expected totals as JSON: count, sent_lines,\n"
"                       duplicates, malformed, malformed_by, and instruments in the\n"
"                       format of `trades stat --json`\n"
"  --format jsonl       output format (default; itch/moldudp64: see above)\n"
"  -h, --help           this text\n"
"\n"
"A summary goes to stderr.  Exit status: 0 ok, 1 runtime error, 2 usage error.\n",
		GEN_LINE_LIMIT, UDP_MTU_MAX, UDP_MTU_DEFAULT);
}
/* clang-format on */

/* ---- option parsing ---- */

/* Digits only (no sign, blanks or suffix), min..max.  0, or -1 after
 * printing which option and value were wrong. */
int gen_parse_u64(const char *opt, const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	size_t i = 0;

	for (; s[i] >= '0' && s[i] <= '9' && i < 32; i++) {
		unsigned d = (unsigned)(s[i] - '0');

		if (v > (UINT64_MAX - d) / 10)
			goto bad;
		v = v * 10 + d;
	}
	if (i == 0 || s[i] != '\0' || v < min || v > max)
		goto bad;
	*out = v;
	return 0;
bad:
	fprintf(stderr, PROG ": --%s: invalid value '%s' (expected an integer %llu..%llu)\n", opt,
	        s, (unsigned long long)min, (unsigned long long)max);
	return -1;
}

static int parse_u32(const char *opt, const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
	uint64_t v;

	if (gen_parse_u64(opt, s, min, max, &v) < 0)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

enum opt_id {
	O_COUNT = 256,
	O_INSTRUMENTS,
	O_SEED,
	O_OUT,
	O_TCP,
	O_UDP,
	O_RATE,
	O_CONNECTIONS,
	O_MTU,
	O_TOTALS,
	O_DUP_EVERY,
	O_MALFORMED_EVERY,
	O_SEQ,
	O_NO_SEQ,
	O_FORMAT,
	O_RELIABLE,
};

static const struct option long_opts[] = {
        {"count", required_argument, NULL, O_COUNT},
        {"instruments", required_argument, NULL, O_INSTRUMENTS},
        {"seed", required_argument, NULL, O_SEED},
        {"out", required_argument, NULL, O_OUT},
        {"tcp", required_argument, NULL, O_TCP},
        {"udp", required_argument, NULL, O_UDP},
        {"rate", required_argument, NULL, O_RATE},
        {"connections", required_argument, NULL, O_CONNECTIONS},
        {"mtu", required_argument, NULL, O_MTU},
        {"totals", required_argument, NULL, O_TOTALS},
        {"dup-every", required_argument, NULL, O_DUP_EVERY},
        {"malformed-every", required_argument, NULL, O_MALFORMED_EVERY},
        {"seq", no_argument, NULL, O_SEQ},
        {"no-seq", no_argument, NULL, O_NO_SEQ},
        {"format", required_argument, NULL, O_FORMAT},
        {"reliable", no_argument, NULL, O_RELIABLE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
};

/* One option.  0, or -1 after a message. */
static int parse_one(int c, const char *arg, struct opts *o)
{
	switch (c) {
	case O_COUNT:
		return gen_parse_u64("count", arg, 1, GEN_COUNT_MAX, &o->count);
	case O_INSTRUMENTS:
		return parse_u32("instruments", arg, 1, GEN_INSTRUMENTS_MAX, &o->instruments);
	case O_SEED:
		return gen_parse_u64("seed", arg, 0, UINT64_MAX, &o->seed);
	case O_OUT:
		o->out = arg;
		return 0;
	case O_TCP:
		o->tcp = arg;
		return 0;
	case O_UDP:
		o->udp = arg;
		return 0;
	case O_RATE:
		return gen_parse_u64("rate", arg, 0, RATE_MAX, &o->rate);
	case O_CONNECTIONS:
		return parse_u32("connections", arg, 1, GEN_STREAMS_MAX, &o->connections);
	case O_MTU:
		return parse_u32("mtu", arg, GEN_LINE_LIMIT, UDP_MTU_MAX, &o->mtu);
	case O_TOTALS:
		o->totals = arg;
		return 0;
	case O_DUP_EVERY:
		return gen_parse_u64("dup-every", arg, 0, GEN_COUNT_MAX, &o->dup_every);
	case O_MALFORMED_EVERY:
		return gen_parse_u64("malformed-every", arg, 0, GEN_COUNT_MAX, &o->malformed_every);
	case O_RELIABLE:
		o->reliable = true;
		return 0;
	case O_SEQ:
	case O_NO_SEQ:
		o->seq = c == O_SEQ;
		return 0;
	case O_FORMAT:
		if (strcmp(arg, "jsonl") == 0)
			return 0;
		fprintf(stderr, PROG ": --format: unknown format '%s' (jsonl, itch, moldudp64)\n",
		        arg);
		return -1;
	default:
		return -1; /* getopt has printed the reason */
	}
}

/* HOST:PORT by the one grammar (addr.h; port 1..65535, no name lookups)
 * into ss.  0, or -1 after a message. */
static int parse_addr(const char *opt, const char *spec, struct sockaddr_storage *ss,
                      socklen_t *len)
{
	char err[192];

	if (addr_parse(spec, strlen(spec), false, ss, len, err, sizeof(err)) == 0)
		return 0;
	fprintf(stderr, PROG ": --%s %s\n", opt, err);
	return -1;
}

static int check_addr(const char *opt, const char *spec)
{
	struct sockaddr_storage ss;
	socklen_t len;

	return parse_addr(opt, spec, &ss, &len);
}

/* Checks between options.  0, or -1 after a message. */
static int check_opts(const struct opts *o, bool have_conn, bool have_mtu)
{
	int targets = !!o->out + !!o->tcp + !!o->udp;

	if (o->count == 0) {
		fprintf(stderr, PROG ": --count N is required\n");
		return -1;
	}
	if (targets != 1) {
		fprintf(stderr, PROG ": give exactly one of --out, --tcp, --udp (got %d)\n",
		        targets);
		return -1;
	}
	if ((o->tcp && check_addr("tcp", o->tcp) < 0) || (o->udp && check_addr("udp", o->udp) < 0))
		return -1;
	if (have_conn && !o->tcp) {
		fprintf(stderr, PROG ": --connections applies to --tcp only\n");
		return -1;
	}
	if (o->reliable && !o->tcp) {
		fprintf(stderr, PROG ": --reliable applies to --tcp only\n");
		return -1;
	}
	if (have_mtu && !o->udp) {
		fprintf(stderr, PROG ": --mtu applies to --udp only\n");
		return -1;
	}
	return 0;
}

/* 0: parsed; 1: --help printed; -1: usage error (message printed). */
static int parse_opts(int argc, char **argv, struct opts *o)
{
	bool have_conn = false, have_mtu = false;
	int c;

	memset(o, 0, sizeof(*o));
	o->instruments = 16;
	o->seed = 1;
	o->connections = 1;
	o->mtu = UDP_MTU_DEFAULT;
	o->seq = -1;
	while ((c = getopt_long(argc, argv, "h", long_opts, NULL)) != -1) {
		if (c == 'h') {
			usage(stdout);
			return 1;
		}
		have_conn |= c == O_CONNECTIONS;
		have_mtu |= c == O_MTU;
		if (parse_one(c, optarg, o) < 0)
			return -1;
	}
	if (optind < argc) {
		fprintf(stderr, PROG ": unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	return check_opts(o, have_conn, have_mtu);
}

/* The value of --format (or an abbreviation getopt_long would accept), or
 * NULL.  Scanned before getopt so the ITCH generator can have its own
 * options. */
static const char *find_format(int argc, char **argv)
{
	static const char name[] = "--format";

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *eq = strchr(a, '=');
		size_t n = eq ? (size_t)(eq - a) : strlen(a);

		if (strcmp(a, "--") == 0)
			break;
		if (n < 3 || n > sizeof(name) - 1 || strncmp(a, name, n) != 0)
			continue;
		if (eq)
			return eq + 1;
		return i + 1 < argc ? argv[i + 1] : NULL;
	}
	return NULL;
}

/* ---- transports ---- */

/* Writes all of buf, retrying short writes and EINTR.  0, or -1 after a
 * message naming the target. */
static int write_all(int fd, const char *buf, size_t len, const char *target)
{
	size_t off = 0;
	unsigned retries = 0;

	while (off < len) {
		ssize_t n = write(fd, buf + off, len - off);

		if (n > 0) {
			off += (size_t)n;
			retries = 0;
			continue;
		}
		if (n < 0 && errno == EINTR && ++retries < SEND_RETRIES)
			continue;
		fprintf(stderr, PROG ": %s: write: %s\n", target,
		        n < 0 ? strerror(errno) : "wrote 0 bytes");
		return -1;
	}
	return 0;
}

static int conn_flush(struct out *o, struct conn *c)
{
	int rc = 0;

	if (c->len)
		rc = write_all(c->fd, c->buf, c->len, o->target);
	o->bytes += c->len;
	c->len = 0;
	return rc;
}

/* A socket connected to spec, or -1 after a message. */
static int connect_to(const char *spec, int socktype)
{
	const char *kind = socktype == SOCK_STREAM ? "tcp" : "udp";
	struct sockaddr_storage ss;
	socklen_t len;
	int fd;

	if (parse_addr(kind, spec, &ss, &len) < 0)
		return -1;
	fd = socket(ss.ss_family, socktype | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&ss, len) == 0)
		return fd;
	fprintf(stderr, PROG ": %s %s: %s: %s\n", kind, spec, fd < 0 ? "socket" : "connect",
	        strerror(errno));
	if (fd >= 0)
		close(fd);
	return -1;
}

static int conns_alloc(struct out *o, unsigned n, size_t cap, size_t flush_at)
{
	o->nconn = n;
	o->cap = cap;
	o->flush_at = flush_at;
	/* every slot closable before anything can fail: out_close walks all n */
	for (unsigned i = 0; i < n; i++) {
		o->conn[i].fd = -1;
		o->conn[i].buf = NULL;
	}
	for (unsigned i = 0; i < n; i++) {
		o->conn[i].buf = malloc(cap);
		if (!o->conn[i].buf) {
			fprintf(stderr, PROG ": %s: buffer of %zu bytes: %s\n", o->target, cap,
			        strerror(errno));
			return -1;
		}
	}
	return 0;
}

static int out_open_file(struct out *o, const char *path)
{
	o->kind = OUT_FILE;
	o->target = strcmp(path, "-") == 0 ? "stdout" : path;
	if (conns_alloc(o, 1, FILE_BUF_BYTES, FILE_BUF_BYTES - GEN_LINE_MAX) < 0)
		return -1;
	if (strcmp(path, "-") == 0) {
		o->conn[0].fd = STDOUT_FILENO;
		return 0;
	}
	o->conn[0].fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (o->conn[0].fd < 0) {
		fprintf(stderr, PROG ": %s: open: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

static int out_open_tcp(struct out *o, const char *spec, unsigned nconn)
{
	o->kind = OUT_TCP;
	o->target = spec;
	/* a write goes out once TCP_CHUNK_BYTES are buffered: never smaller,
	 * except the last one and the ones --rate flushes before sleeping */
	if (conns_alloc(o, nconn, TCP_CHUNK_BYTES + GEN_LINE_MAX, TCP_CHUNK_BYTES) < 0)
		return -1;
	for (unsigned i = 0; i < nconn; i++) {
		o->conn[i].fd = connect_to(spec, SOCK_STREAM);
		if (o->conn[i].fd < 0)
			return -1;
	}
	return 0;
}

static int out_open_udp(struct out *o, const char *spec, uint32_t mtu)
{
	o->kind = OUT_UDP;
	o->target = spec;
	o->mtu = mtu;
	o->dgram = malloc((size_t)UDP_BATCH * mtu);
	if (!o->dgram) {
		fprintf(stderr, PROG ": udp %s: %u x %u byte batch: %s\n", spec, UDP_BATCH, mtu,
		        strerror(errno));
		return -1;
	}
	for (unsigned i = 0; i < UDP_BATCH; i++) {
		o->iov[i].iov_base = o->dgram + (size_t)i * mtu;
		o->msgs[i].msg_hdr.msg_iov = &o->iov[i];
		o->msgs[i].msg_hdr.msg_iovlen = 1;
	}
	/* connected: no address per message, and a missing receiver shows up
	 * as ECONNREFUSED instead of silence */
	o->ufd = connect_to(spec, SOCK_DGRAM);
	return o->ufd < 0 ? -1 : 0;
}

/* Sends the complete datagrams.  0, or -1 after a message. */
static int udp_send(struct out *o)
{
	unsigned done = 0, retries = 0;

	while (done < o->ndgram) {
		int n = sendmmsg(o->ufd, o->msgs + done, o->ndgram - done, 0);

		if (n > 0) {
			for (unsigned i = done; i < done + (unsigned)n; i++)
				o->bytes += o->iov[i].iov_len;
			done += (unsigned)n;
			retries = 0;
			continue;
		}
		if (n < 0 && (errno == EINTR || errno == ENOBUFS || errno == EAGAIN) &&
		    ++retries < SEND_RETRIES) {
			/* the local queue is full: give the kernel a moment */
			struct timespec ts = {0, SEND_RETRY_NS};

			if (errno != EINTR)
				nanosleep(&ts, NULL);
			continue;
		}
		fprintf(stderr, PROG ": udp %s: sendmmsg: %s%s\n", o->target,
		        n < 0 ? strerror(errno) : "sent nothing",
		        n < 0 && errno == ECONNREFUSED ? " (no receiver?)" : "");
		return -1;
	}
	o->datagrams += o->ndgram;
	o->ndgram = 0;
	return 0;
}

/* Closes the datagram being filled, sending the batch when it is full. */
static int udp_close_dgram(struct out *o)
{
	if (o->cur == 0)
		return 0;
	o->iov[o->ndgram].iov_len = o->cur;
	o->ndgram++;
	o->cur = 0;
	return o->ndgram == UDP_BATCH ? udp_send(o) : 0;
}

/* Queues one line.  0, or -1 after a message. */
static int out_line(struct out *o, const struct gen_line *l)
{
	struct conn *c;

	if (o->kind == OUT_REL)
		return rel_line(o->rel, l->stream, l->text, l->len);
	if (o->kind == OUT_UDP) {
		/* whole lines only: a line that does not fit starts a datagram */
		if (o->cur + l->len > o->mtu && udp_close_dgram(o) < 0)
			return -1;
		memcpy(o->dgram + (size_t)o->ndgram * o->mtu + o->cur, l->text, l->len);
		o->cur += l->len;
		return 0;
	}
	c = &o->conn[o->kind == OUT_TCP ? l->stream % o->nconn : 0];
	memcpy(c->buf + c->len, l->text, l->len);
	c->len += l->len;
	return c->len >= o->flush_at ? conn_flush(o, c) : 0;
}

/* Pushes out everything buffered.  0, or -1 after a message. */
static int out_flush(struct out *o)
{
	if (o->kind == OUT_UDP)
		return udp_close_dgram(o) < 0 || udp_send(o) < 0 ? -1 : 0;
	if (o->kind == OUT_REL)
		return rel_flush(o->rel);
	for (unsigned i = 0; i < o->nconn; i++)
		if (conn_flush(o, &o->conn[i]) < 0)
			return -1;
	return 0;
}

/* Flushes (when ok), then closes: TCP with shutdown(SHUT_WR) first so the
 * receiver reads a clean end of stream.  0, or -1 after a message. */
static int out_close(struct out *o, bool ok)
{
	int rc = ok ? out_flush(o) : 0;

	if (o->kind == OUT_REL) {
		if (rc == 0 && ok)
			rc = rel_finish(o->rel);
		o->bytes = rel_stats(o->rel)->bytes;
		o->reconnects = rel_stats(o->rel)->reconnects;
		o->stalls = rel_stats(o->rel)->stalls;
		rel_close(o->rel);
		return rc;
	}
	for (unsigned i = 0; i < o->nconn; i++) {
		struct conn *c = &o->conn[i];

		if (c->fd >= 0 && o->kind == OUT_TCP && shutdown(c->fd, SHUT_WR) < 0 && ok) {
			fprintf(stderr, PROG ": %s: shutdown: %s\n", o->target, strerror(errno));
			rc = -1;
		}
		if (c->fd >= 0 && c->fd != STDOUT_FILENO && close(c->fd) < 0 && ok) {
			fprintf(stderr, PROG ": %s: close: %s\n", o->target, strerror(errno));
			rc = -1;
		}
		free(c->buf);
	}
	if (o->kind == OUT_UDP && o->ufd >= 0)
		close(o->ufd);
	free(o->dgram);
	return rc;
}

/* ---- pacing, the run, the summary ---- */

struct pace {
	uint64_t rate;  /* trades per second, 0 = unpaced */
	uint64_t chunk; /* trades between two clock reads (~1 ms worth) */
	uint64_t next;  /* trade index of the next check */
	int64_t start_ns;
};

/* Before trade i: if ahead of rate, flush (so the receiver sees what was
 * made) and sleep until trade i is due.  0, or -1 after a message. */
static int pace_wait(struct pace *p, struct out *o, uint64_t i)
{
	int64_t due = p->start_ns + (int64_t)((unsigned __int128)i * 1000000000u / p->rate);
	struct timespec ts = {due / 1000000000, due % 1000000000};

	p->next = i + p->chunk;
	if (timefmt_mono_ns() >= due)
		return 0;
	if (out_flush(o) < 0)
		return -1;
	/* EINTR just ends the nap early: the next check sleeps again */
	clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
	return 0;
}

static int generate(const struct opts *op, struct gen_model *m, struct out *o)
{
	struct gen_line lines[GEN_STEP_LINES_MAX];
	struct pace p = {op->rate, 1, 0, timefmt_mono_ns()};

	if (p.rate) {
		p.chunk = p.rate / 1000;
		p.chunk = p.chunk < 1 ? 1 : p.chunk > PACE_CHUNK_MAX ? PACE_CHUNK_MAX : p.chunk;
	}
	for (uint64_t i = 0; i < op->count; i++) {
		unsigned n;

		if (p.rate && i == p.next && pace_wait(&p, o, i) < 0)
			return -1;
		n = gen_model_step(m, lines);
		for (unsigned j = 0; j < n; j++)
			if (out_line(o, &lines[j]) < 0)
				return -1;
	}
	return 0;
}

static int write_totals(const struct gen_model *m, const char *path)
{
	FILE *f = fopen(path, "w");
	int err;

	if (!f) {
		fprintf(stderr, PROG ": %s: open: %s\n", path, strerror(errno));
		return -1;
	}
	err = gen_model_write_totals(m, f) < 0 ? errno : 0;
	if (fclose(f) != 0 && !err)
		err = errno;
	if (err) {
		fprintf(stderr, PROG ": %s: write: %s\n", path, strerror(err));
		return -1;
	}
	return 0;
}

static void summary(const struct gen_model *m, const struct out *o, int64_t ns)
{
	struct gen_counts c;
	double s = (double)ns / 1e9;

	gen_model_counts(m, &c);
	fprintf(stderr,
	        PROG ": %llu trades, %llu lines (%llu duplicates, %llu malformed), %llu bytes",
	        (unsigned long long)c.trades, (unsigned long long)c.lines,
	        (unsigned long long)c.duplicates, (unsigned long long)c.malformed,
	        (unsigned long long)o->bytes);
	if (o->kind == OUT_UDP)
		fprintf(stderr, ", %llu datagrams", (unsigned long long)o->datagrams);
	if (o->kind == OUT_REL)
		fprintf(stderr, ", all acked, %llu reconnects (%llu after no ack for %d ms)",
		        (unsigned long long)o->reconnects, (unsigned long long)o->stalls,
		        REL_STALL_MS);
	fprintf(stderr, " in %.3f s: %.0f trades/s, %.1f MB/s\n", s,
	        s > 0 ? (double)c.trades / s : 0.0, s > 0 ? (double)o->bytes / s / 1e6 : 0.0);
}

static int run(const struct opts *op)
{
	struct gen_model_config mc = {
	        .count = op->count,
	        .instruments = op->instruments,
	        .seed = op->seed,
	        .streams = op->tcp ? op->connections : 1,
	        .dup_every = op->dup_every,
	        .malformed_every = op->malformed_every,
	};
	static struct out o; /* large: keep it off the stack */
	struct gen_model *m;
	char err[256];
	int64_t t0 = timefmt_mono_ns();
	int rc;

	mc.seq = op->seq < 0 ? mc.streams == 1 : op->seq;
	m = gen_model_new(&mc, err, sizeof(err));
	if (!m) {
		fprintf(stderr, PROG ": %s\n", err);
		return EXIT_FAILURE;
	}
	o.ufd = -1;
	if (op->out)
		rc = out_open_file(&o, op->out);
	else if (op->tcp && op->reliable) {
		o.kind = OUT_REL;
		o.target = op->tcp;
		o.rel = rel_open(op->tcp, op->connections);
		rc = o.rel ? 0 : -1;
	} else if (op->tcp)
		rc = out_open_tcp(&o, op->tcp, op->connections);
	else
		rc = out_open_udp(&o, op->udp, op->mtu);
	if (rc == 0)
		rc = generate(op, m, &o);
	if (out_close(&o, rc == 0) < 0)
		rc = -1;
	if (rc == 0 && op->totals)
		rc = write_totals(m, op->totals);
	if (rc == 0)
		summary(m, &o, timefmt_mono_ns() - t0);
	gen_model_free(m);
	return rc == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

int main(int argc, char **argv)
{
	const char *fmt = find_format(argc, argv);
	struct opts o;
	int rc;

	if (fmt && (strcmp(fmt, "itch") == 0 || strcmp(fmt, "moldudp64") == 0))
		return gen_itch_main(argc, argv);
	rc = parse_opts(argc, argv, &o);
	if (rc != 0)
		return rc > 0 ? EXIT_SUCCESS : EXIT_USAGE;
	/* a closed socket or pipe is an error to report, not a silent death */
	signal(SIGPIPE, SIG_IGN);
	return run(&o);
}
