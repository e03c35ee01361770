/* mold_recvmmsg_baseline.c -- the floor for the MoldUDP64 benchmark: a
 * receiver that only recvmmsg()s and reads the 20-byte MoldUDP64 header.
 *
 * Binds UDP 127.0.0.1:0, prints "listening PORT", asks for a 64 MiB receive
 * buffer (SO_RCVBUFFORCE, else SO_RCVBUF with a warning), and reads batches
 * of 256 datagrams.  Of each datagram it reads the header only -- session[10],
 * seq[8] and count[2], big-endian -- and counts packets and messages; the
 * message blocks are not looked at.  Loss: the next expected seq starts at 1
 * and moves to seq + count of each data packet; a packet (data, heartbeat
 * count 0 or end of session count 0xFFFF) whose seq is beyond it adds the
 * difference to "missing"; one below it is counted "late" (loopback does not
 * reorder, so late means duplicated).  When the socket is empty it sleeps
 * --nap-us (default 1 ms) instead of blocking in recvmmsg: a sleeping
 * reader is not woken per datagram, which on loopback the sender pays for
 * (--nap-us 0 blocks: MSG_WAITFORONE).  It exits at end of session, or when
 * nothing arrived for --idle-timeout seconds after the first packet, and
 * prints
 *   packets P messages M missing X seconds S late L heartbeats H eos yes|no cpu C
 * S from the first to the last data packet received, C the CPU seconds
 * (user + system) of the whole process.  Whatever `trades serve` does on top
 * of this is its cost.
 *
 * --sink binds and never reads (smallest receive buffer, datagrams dropped
 * by the kernel): a destination for measuring the sender alone.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* recvmmsg, SO_RCVBUFFORCE */
#endif
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define PROG            "bench_mold_recvmmsg"
#define BATCH           256u        /* datagrams per recvmmsg */
#define SLOT_BYTES      65536u      /* largest UDP payload fits: any --mtu */
#define RCVBUF_DEFAULT  (64u << 20) /* as `trades serve --rcvbuf` */
#define WAIT_MS         100         /* SO_RCVTIMEO: one bounded wait */
#define IDLE_S_DEFAULT  2u          /* quiet seconds after the first packet */
#define START_S_DEFAULT 60u         /* seconds to wait for the first packet */
#define NAP_US_DEFAULT  1000u       /* sleep when the socket is empty */
#define MOLD_HDR        20u
#define MOLD_EOS        0xffffu
#define SESSION_LEN     10u

struct counts {
	uint64_t packets, messages, missing, late, heartbeats, short_packets, other_session;
	uint64_t next; /* next expected seq */
	int64_t first_ns, last_ns;
	bool eos, have_session;
	uint8_t session[SESSION_LEN];
};

static uint8_t bufs[BATCH][SLOT_BYTES];
static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint64_t get_be(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

static void usage(FILE *f)
{
	fprintf(f,
	        "Usage: " PROG " [--rcvbuf BYTES] [--nap-us US] [--idle-timeout S] [--wait S]\n"
	        "                           [--sink]\n"
	        "\n"
	        "Binds UDP 127.0.0.1:0 and prints \"listening PORT\"; recvmmsg()s MoldUDP64\n"
	        "datagrams, counting packets, messages and missing seqs from the headers, until\n"
	        "end of session; then prints \"packets P messages M missing X seconds S late L\n"
	        "heartbeats H eos yes|no cpu C\".\n"
	        "\n"
	        "  --rcvbuf BYTES     receive buffer (default %u, SO_RCVBUFFORCE as root)\n"
	        "  --nap-us US        sleep US microseconds when the socket is empty (default\n"
	        "                     %u; 0: block in recvmmsg, woken per datagram)\n"
	        "  --idle-timeout S   stop S seconds after the last packet (default %u)\n"
	        "  --wait S           fail if no packet came within S seconds (default %u);\n"
	        "                     with --sink: exit after S seconds\n"
	        "  --sink             never read (datagrams are dropped): to time a sender\n"
	        "                     alone; exits on SIGTERM/SIGINT or after --wait\n"
	        "\n"
	        "Exit status: 0 ok, 1 runtime error or no traffic, 2 usage error.\n",
	        RCVBUF_DEFAULT, NAP_US_DEFAULT, IDLE_S_DEFAULT, START_S_DEFAULT);
}

static int parse_uint(const char *opt, const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (s[0] < '0' || s[0] > '9' || *end || errno || v < 1 || v > max) {
		fprintf(stderr, PROG ": %s: invalid value '%s' (expected 1..%lu)\n", opt, s, max);
		return -1;
	}
	*out = v;
	return 0;
}

static int bind_any(unsigned rcvbuf, bool sink, uint16_t *port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct timeval tv = {.tv_sec = 0, .tv_usec = WAIT_MS * 1000};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int want = sink ? 1 : (int)rcvbuf, got = 0;
	socklen_t glen = sizeof(got);

	if (fd < 0) {
		fprintf(stderr, PROG ": socket: %s\n", strerror(errno));
		return -1;
	}
	/* a sink asks for the smallest buffer: the kernel rounds 1 up to its minimum */
	if (sink || setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &want, sizeof(want)) < 0) {
		if (!sink)
			fprintf(stderr,
			        PROG ": warning: SO_RCVBUFFORCE %d: %s; SO_RCVBUF is capped by "
			             "net.core.rmem_max (expect loss)\n",
			        want, strerror(errno));
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &want, sizeof(want));
	}
	(void)getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &got, &glen);
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
		fprintf(stderr, PROG ": bind 127.0.0.1:0: %s\n", strerror(errno));
		close(fd);
		return -1;
	}
	fprintf(stderr, PROG ": receive buffer %d bytes\n", got);
	*port = ntohs(sa.sin_port);
	return fd;
}

/* One datagram's header. */
static void on_packet(struct counts *c, const uint8_t *p, size_t len, int64_t now)
{
	uint64_t seq, count;

	c->packets++;
	if (len < MOLD_HDR) {
		c->short_packets++;
		return;
	}
	if (!c->have_session) {
		memcpy(c->session, p, SESSION_LEN);
		c->have_session = true;
	} else if (memcmp(c->session, p, SESSION_LEN) != 0) {
		c->other_session++;
		return;
	}
	seq = get_be(p + 10, 8);
	count = get_be(p + 18, 2);
	if (seq > c->next) {
		c->missing += seq - c->next;
		c->next = seq;
	}
	if (count == MOLD_EOS) {
		c->eos = true;
		return;
	}
	if (count == 0) {
		c->heartbeats++;
		return;
	}
	if (seq < c->next) {
		c->late++;
		return;
	}
	if (c->messages == 0)
		c->first_ns = now;
	c->last_ns = now;
	c->messages += count;
	c->next = seq + count;
}

static int run(int fd, unsigned nap_us, unsigned idle_s, unsigned start_s, struct counts *c)
{
	static struct mmsghdr msgs[BATCH];
	static struct iovec iov[BATCH];
	int64_t start = mono_ns(), last_rx = 0;

	for (unsigned i = 0; i < BATCH; i++) {
		iov[i].iov_base = bufs[i];
		iov[i].iov_len = SLOT_BYTES;
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	/* each round blocks at most WAIT_MS (SO_RCVTIMEO) or naps nap_us; the
	 * clock bounds the loop */
	while (!c->eos && !stop) {
		int n = recvmmsg(fd, msgs, BATCH, nap_us ? MSG_DONTWAIT : MSG_WAITFORONE, NULL);
		int64_t now = mono_ns();

		if (n < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
				fprintf(stderr, PROG ": recvmmsg: %s\n", strerror(errno));
				return -1;
			}
			if (nap_us) {
				struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)nap_us * 1000};

				nanosleep(&ts, NULL);
			}
			if (last_rx == 0 && now - start >= (int64_t)start_s * 1000000000) {
				fprintf(stderr, PROG ": no packet within %u s\n", start_s);
				return -1;
			}
			if (last_rx != 0 && now - last_rx >= (int64_t)idle_s * 1000000000)
				return 0; /* idle: the end of session was lost, or never sent */
			continue;
		}
		last_rx = now;
		for (int i = 0; i < n; i++)
			on_packet(c, bufs[i], msgs[i].msg_len, now);
	}
	return 0;
}

/* --sink: hold the port, read nothing, until a signal or the deadline. */
static void sink(unsigned wait_s)
{
	int64_t end = mono_ns() + (int64_t)wait_s * 1000000000;

	while (!stop && mono_ns() < end) {
		struct timespec ts = {.tv_sec = 0, .tv_nsec = WAIT_MS * 1000000L};

		nanosleep(&ts, NULL);
	}
}

int main(int argc, char **argv)
{
	unsigned long rcvbuf = RCVBUF_DEFAULT, nap_us = NAP_US_DEFAULT, idle_s = IDLE_S_DEFAULT,
	              start_s = START_S_DEFAULT;
	bool sink_mode = false;
	struct counts c = {.next = 1};
	struct sigaction sa = {.sa_handler = on_signal};
	struct rusage ru;
	uint16_t port;
	int fd;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		}
		if (strcmp(argv[i], "--sink") == 0) {
			sink_mode = true;
		} else if (i + 1 < argc && strcmp(argv[i], "--rcvbuf") == 0) {
			if (parse_uint("--rcvbuf", argv[++i], 1u << 30, &rcvbuf) < 0)
				return 2;
		} else if (i + 1 < argc && strcmp(argv[i], "--nap-us") == 0) {
			/* 0 is allowed here: block */
			if (strcmp(argv[i + 1], "0") == 0) {
				nap_us = 0;
				i++;
			} else if (parse_uint("--nap-us", argv[++i], 999999, &nap_us) < 0) {
				return 2;
			}
		} else if (i + 1 < argc && strcmp(argv[i], "--idle-timeout") == 0) {
			if (parse_uint("--idle-timeout", argv[++i], 3600, &idle_s) < 0)
				return 2;
		} else if (i + 1 < argc && strcmp(argv[i], "--wait") == 0) {
			if (parse_uint("--wait", argv[++i], 3600, &start_s) < 0)
				return 2;
		} else {
			fprintf(stderr, PROG ": unknown argument '%s' (see --help)\n", argv[i]);
			return 2;
		}
	}
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	fd = bind_any((unsigned)rcvbuf, sink_mode, &port);
	if (fd < 0)
		return 1;
	printf("listening %u\n", port);
	fflush(stdout);
	if (sink_mode) {
		sink((unsigned)start_s);
		return 0;
	}
	if (run(fd, (unsigned)nap_us, (unsigned)idle_s, (unsigned)start_s, &c) < 0)
		return 1;
	getrusage(RUSAGE_SELF, &ru);
	if (c.short_packets || c.other_session)
		fprintf(stderr,
		        PROG ": %llu packets shorter than a header, %llu of another session\n",
		        (unsigned long long)c.short_packets, (unsigned long long)c.other_session);
	printf("packets %llu messages %llu missing %llu seconds %.6f late %llu heartbeats %llu eos "
	       "%s cpu %.6f\n",
	       (unsigned long long)c.packets, (unsigned long long)c.messages,
	       (unsigned long long)c.missing, (double)(c.last_ns - c.first_ns) / 1e9,
	       (unsigned long long)c.late, (unsigned long long)c.heartbeats, c.eos ? "yes" : "no",
	       (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	               (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
	return 0;
}
