/* test_source.c -- the socket sources (both backends) on 127.0.0.1.
 *
 * The decoder and the pipeline are fakes defined here: they record what the
 * source handed them (bytes per connection, whole datagrams, ends, commits)
 * so the checks compare that with what the clients sent.  The source runs in
 * its own thread; the test talks to it through real sockets and stops it
 * with the stop flag.  No timing is asserted; every wait is bounded.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "trades/decoder.h"
#include "trades/log.h"
#include "trades/pipeline.h"
#include "trades/source.h"

#define FAKE_STREAMS    64
#define FAKE_STREAM_CAP (4u << 20) /* bytes kept per TCP connection */
#define FAKE_FEEDS      32
#define UDP_COUNT       10000u
#define UDP_BURST       100u
#define UDP_HDR         12u /* seq, len, fnv1a(body) */
#define TCP_CLIENTS     8
#define TCP_BYTES       (2u << 20)
#define WAIT_STEP_US    1000
#define WAIT_MAX_STEPS  60000 /* 60 s at most for any one wait */

/* ------------------------------------------------------------------ fakes */

struct fake_stream {
	char peer[DECODER_PEER_MAX];
	uint16_t feed;
	bool datagram;
	uint8_t *buf; /* TCP: every byte in order */
	size_t len;
	bool overflow;
	int ended;     /* decoder_end calls */
	int after_end; /* inputs after an end */
	int bad_rx;    /* TCP: rx_kernel set or rx_ns implausible */
};

static struct {
	struct fake_stream streams[FAKE_STREAMS];
	_Atomic unsigned nstreams;
	_Atomic unsigned tcp_inits, tcp_ended;
	_Atomic uint64_t commits;
	/* a test holds the source thread inside pipeline_commit with these */
	_Atomic unsigned gate_armed, gate_held;
	char feeds[FAKE_FEEDS][64];
	unsigned nfeeds;
	/* datagrams: checked as they arrive */
	_Atomic unsigned dg_ok;
	unsigned dg_bad, dg_dup, dg_not_kernel, dg_bad_stamp, dg_bad_from;
	uint16_t dg_from_port;
	uint8_t seen[UDP_COUNT];
} fake;

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static bool plausible(int64_t ns)
{
	int64_t d = now_ns() - ns;

	return d > -60000000000LL && d < 60000000000LL;
}

static void fake_reset(void)
{
	unsigned i;

	for (i = 0; i < FAKE_STREAMS; i++)
		free(fake.streams[i].buf);
	memset(&fake, 0, sizeof(fake));
}

void decoder_init(struct decoder *d, struct pipeline *p, enum decoder_format fmt, bool datagram,
                  uint16_t feed, const char *peer)
{
	unsigned n = atomic_load(&fake.nstreams);
	struct fake_stream *st;

	if (n >= FAKE_STREAMS) {
		fprintf(stderr, "fake: more than %d decoders\n", FAKE_STREAMS);
		abort();
	}
	st = &fake.streams[n];
	memset(d, 0, sizeof(*d));
	d->pipe = p;
	d->feed = feed;
	d->format = (uint8_t)fmt;
	d->datagram = datagram;
	snprintf(d->peer, sizeof(d->peer), "%s", peer);
	d->itch = (void *)st; /* the fake keeps its stream where ITCH state would be */
	snprintf(st->peer, sizeof(st->peer), "%s", peer);
	st->feed = feed;
	st->datagram = datagram;
	if (!datagram) {
		st->buf = malloc(FAKE_STREAM_CAP);
		if (!st->buf)
			abort();
		atomic_fetch_add(&fake.tcp_inits, 1);
	}
	atomic_store(&fake.nstreams, n + 1);
}

static uint32_t fnv1a(const uint8_t *p, size_t n)
{
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

static uint8_t body_byte(uint32_t seq, size_t i)
{
	return (uint8_t)(seq * 31u + i * 7u + (i >> 8));
}

static void fake_datagram(const uint8_t *b, size_t len, int64_t rx_ns, bool kernel,
                          const struct sockaddr *from)
{
	uint32_t seq, dlen, sum;
	size_t i;

	if (len < UDP_HDR) {
		fake.dg_bad++;
		return;
	}
	memcpy(&seq, b, 4);
	memcpy(&dlen, b + 4, 4);
	memcpy(&sum, b + 8, 4);
	if (seq >= UDP_COUNT || dlen != len || sum != fnv1a(b + UDP_HDR, len - UDP_HDR)) {
		fake.dg_bad++;
		return;
	}
	for (i = UDP_HDR; i < len; i++) {
		if (b[i] != body_byte(seq, i)) {
			fake.dg_bad++;
			return;
		}
	}
	fake.dg_not_kernel += !kernel;
	fake.dg_bad_stamp += !plausible(rx_ns);
	fake.dg_bad_from +=
	        !from || from->sa_family != AF_INET ||
	        ntohs(((const struct sockaddr_in *)from)->sin_port) != fake.dg_from_port;
	if (fake.seen[seq]++) {
		fake.dg_dup++;
		return;
	}
	atomic_fetch_add(&fake.dg_ok, 1);
}

void decoder_input(struct decoder *d, const void *buf, size_t len, int64_t rx_ns, bool rx_kernel,
                   const struct sockaddr *from)
{
	struct fake_stream *st = (void *)d->itch;

	st->after_end += st->ended > 0;
	if (d->datagram) {
		fake_datagram(buf, len, rx_ns, rx_kernel, from);
		return;
	}
	st->bad_rx += rx_kernel || !plausible(rx_ns) || from != NULL;
	if (st->len + len > FAKE_STREAM_CAP) {
		st->overflow = true;
		return;
	}
	memcpy(st->buf + st->len, buf, len);
	st->len += len;
}

void decoder_end(struct decoder *d)
{
	struct fake_stream *st = (void *)d->itch;

	st->ended++;
	if (!d->datagram)
		atomic_fetch_add(&fake.tcp_ended, 1);
}

void decoder_addr_str(const struct sockaddr *sa, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
		snprintf(buf, len, "%s:%u", ip, ntohs(in->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

		inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
		snprintf(buf, len, "[%s]:%u", ip, ntohs(in6->sin6_port));
	} else {
		snprintf(buf, len, "?");
	}
}

int pipeline_feed(struct pipeline *p, const char *name)
{
	(void)p;
	if (fake.nfeeds >= FAKE_FEEDS)
		return -1;
	snprintf(fake.feeds[fake.nfeeds], sizeof(fake.feeds[0]), "%s", name);
	return (int)fake.nfeeds++;
}

/* While the gate is armed the source thread waits here, at the end of a
 * batch: whatever arrives meanwhile is still in the socket buffers. */
void pipeline_commit(struct pipeline *p)
{
	unsigned i;

	(void)p;
	atomic_fetch_add(&fake.commits, 1);
	if (!atomic_load(&fake.gate_armed))
		return;
	atomic_store(&fake.gate_held, 1);
	for (i = 0; i < WAIT_MAX_STEPS && atomic_load(&fake.gate_armed); i++)
		usleep(WAIT_STEP_US);
	atomic_store(&fake.gate_held, 0);
}

static struct fake_stream *stream_by_peer(const char *peer)
{
	unsigned i, n = atomic_load(&fake.nstreams);

	for (i = 0; i < n; i++) {
		if (strcmp(fake.streams[i].peer, peer) == 0)
			return &fake.streams[i];
	}
	return NULL;
}

/* ---------------------------------------------------------------- harness */

static volatile sig_atomic_t stop_flag;
struct pipeline { /* opaque outside pipeline.c: the fake defines its own */
	int unused;
};
static struct pipeline fake_pipe; /* only its address is used */

struct runner {
	struct source *s;
	pthread_t th;
	int rc;
};

static void *runner_main(void *arg)
{
	struct runner *r = arg;

	r->rc = source_run(r->s);
	return NULL;
}

static int open_source(struct source *s, enum source_io io, unsigned max_conns)
{
	struct source_config cfg = {.io = io, .max_conns = max_conns, .stop = &stop_flag};
	char err[256];

	if (source_open(s, &fake_pipe, &cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "source_open: %s\n", err);
		return -1;
	}
	return 0;
}

static void start(struct runner *r, struct source *s)
{
	stop_flag = 0;
	r->s = s;
	r->rc = -2;
	if (pthread_create(&r->th, NULL, runner_main, r) != 0)
		abort();
}

static void finish(struct runner *r)
{
	stop_flag = 1;
	pthread_join(r->th, NULL);
	CHECK_EQ_INT(r->rc, 0);
}

/* Waits until *counter >= want; false after WAIT_MAX_STEPS. */
static bool wait_for(_Atomic unsigned *counter, unsigned want)
{
	unsigned i;

	for (i = 0; i < WAIT_MAX_STEPS; i++) {
		if (atomic_load(counter) >= want)
			return true;
		usleep(WAIT_STEP_US);
	}
	fprintf(stderr, "wait: %u of %u after %d ms\n", atomic_load(counter), want,
	        WAIT_MAX_STEPS * WAIT_STEP_US / 1000);
	return false;
}

static int add_listener(struct source *s, enum source_kind kind, const char *spec)
{
	char err[256];

	if (source_add(s, kind, DECODER_JSONL, spec, err, sizeof(err)) != 0) {
		fprintf(stderr, "source_add: %s\n", err);
		return -1;
	}
	return 0;
}

static uint16_t port_of(const struct source *s, enum source_kind kind)
{
	unsigned i;

	for (i = 0; i < s->nlisten; i++) {
		if (s->listen[i].kind == kind)
			return s->listen[i].port;
	}
	return 0;
}

/* Connected socket to 127.0.0.1:port; peer gets the client's "ip:port". */
static int client(int type, uint16_t port, char *peer, size_t peerlen)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	struct sockaddr_in me;
	socklen_t len = sizeof(me);
	int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    getsockname(fd, (struct sockaddr *)&me, &len) != 0) {
		fprintf(stderr, "client connect :%u: %s\n", port, strerror(errno));
		abort();
	}
	if (peer)
		snprintf(peer, peerlen, "127.0.0.1:%u", ntohs(me.sin_port));
	return fd;
}

static bool write_all(int fd, const uint8_t *p, size_t n)
{
	unsigned guard;

	for (guard = 0; n && guard < (1u << 24); guard++) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		p += w;
		n -= (size_t)w;
	}
	return n == 0;
}

/* Numbered lines, client c, at least `bytes`; the last one unterminated if
 * `open_end`. */
static size_t make_lines(uint8_t *buf, size_t cap, unsigned c, size_t bytes, bool open_end)
{
	size_t len = 0;
	unsigned line;

	for (line = 0; len < bytes && len + 128 < cap; line++)
		len += (size_t)snprintf(
		        (char *)buf + len, cap - len,
		        "{\"client\":%u,\"line\":%08u,\"pad\":\"abcdefghijklmnop\"}\n", c, line);
	if (open_end && len > 0)
		len--; /* drop the last '\n' */
	return len;
}

/* A stream received exactly buf[0, len) and was ended once. */
static void check_stream(const char *peer, const uint8_t *buf, size_t len)
{
	struct fake_stream *st = stream_by_peer(peer);

	CHECK(st != NULL);
	if (!st)
		return;
	CHECK(!st->overflow);
	CHECK_EQ_INT(st->len, len);
	CHECK(st->len == len && memcmp(st->buf, buf, len) == 0);
	CHECK_EQ_INT(st->ended, 1);
	CHECK_EQ_INT(st->after_end, 0);
	CHECK_EQ_INT(st->bad_rx, 0);
	CHECK(!st->datagram);
}

/* ------------------------------------------------- (a) concurrent TCP */

struct tcp_client {
	pthread_t th;
	unsigned id;
	uint16_t port;
	char peer[64];
	uint8_t *buf;
	size_t len;
	bool ok;
};

/* Writes its lines in random-sized pieces (1 byte to 64 KiB), then closes. */
static void *tcp_client_main(void *arg)
{
	struct tcp_client *c = arg;
	unsigned seed = c->id * 7919u + 1;
	size_t off = 0;
	unsigned guard;
	int fd = client(SOCK_STREAM, c->port, c->peer, sizeof(c->peer));

	c->ok = true;
	for (guard = 0; off < c->len && guard < (1u << 24); guard++) {
		size_t n = 1 + (size_t)rand_r(&seed) % (rand_r(&seed) % 4 == 0 ? 64 : 65536);

		if (n > c->len - off)
			n = c->len - off;
		if (!write_all(fd, c->buf + off, n)) {
			c->ok = false;
			break;
		}
		off += n;
	}
	close(fd);
	return NULL;
}

static void test_tcp_many(enum source_io io)
{
	struct tcp_client cl[TCP_CLIENTS];
	struct source s = {0};
	struct runner r;
	uint64_t total = 0;
	unsigned i;

	fake_reset();
	if (add_listener(&s, SOURCE_TCP, "127.0.0.1:0") != 0 || open_source(&s, io, 0) != 0) {
		CHECK(!"tcp source opens");
		return;
	}
	CHECK_EQ_INT(s.active, io);
	CHECK_EQ_INT(s.cfg.max_conns, SOURCE_CONNS_DEFAULT);
	CHECK_EQ_STR(fake.feeds[0], "tcp:127.0.0.1:0");
	CHECK(s.listen[0].port != 0);
	start(&r, &s);
	for (i = 0; i < TCP_CLIENTS; i++) {
		cl[i] = (struct tcp_client){.id = i, .port = s.listen[0].port};
		cl[i].buf = malloc(TCP_BYTES + 256);
		cl[i].len = make_lines(cl[i].buf, TCP_BYTES + 256, i, TCP_BYTES, false);
		total += cl[i].len;
		pthread_create(&cl[i].th, NULL, tcp_client_main, &cl[i]);
	}
	for (i = 0; i < TCP_CLIENTS; i++)
		pthread_join(cl[i].th, NULL);
	CHECK(wait_for(&fake.tcp_ended, TCP_CLIENTS));
	finish(&r);
	for (i = 0; i < TCP_CLIENTS; i++) {
		CHECK(cl[i].ok);
		check_stream(cl[i].peer, cl[i].buf, cl[i].len);
		free(cl[i].buf);
	}
	CHECK_EQ_INT(fake.tcp_inits, TCP_CLIENTS);
	CHECK_EQ_INT(s.stats.conns_accepted, TCP_CLIENTS);
	CHECK_EQ_INT(s.stats.conns_closed, TCP_CLIENTS);
	CHECK_EQ_INT(s.stats.conns_rejected, 0);
	CHECK_EQ_INT(s.stats.bytes, total);
	CHECK_EQ_INT(s.stats.errors, 0);
	CHECK(s.stats.reads > 0 && s.stats.batches > 0);
	CHECK(fake.commits >= s.stats.batches);
	printf("  %s tcp: %llu bytes in %llu reads, %llu batches, %llu nobufs\n",
	       source_io_name(io), (unsigned long long)s.stats.bytes,
	       (unsigned long long)s.stats.reads, (unsigned long long)s.stats.batches,
	       (unsigned long long)s.stats.nobufs);
	source_close(&s);
}

/* ------------------------------------------------------------ (b) UDP */

static size_t udp_size(uint32_t seq)
{
	if (seq % 1000 == 999)
		return 60000; /* near the largest datagram */
	if (seq % 97 == 0)
		return UDP_HDR + (seq * 7919u) % 9000;
	return UDP_HDR + ((seq * 2654435761u) >> 7) % 1400;
}

static void udp_send(int fd, uint32_t seq, uint8_t *buf)
{
	uint32_t len = (uint32_t)udp_size(seq), sum;
	size_t i;

	for (i = UDP_HDR; i < len; i++)
		buf[i] = body_byte(seq, i);
	sum = fnv1a(buf + UDP_HDR, len - UDP_HDR);
	memcpy(buf, &seq, 4);
	memcpy(buf + 4, &len, 4);
	memcpy(buf + 8, &sum, 4);
	if (send(fd, buf, len, 0) != (ssize_t)len)
		fprintf(stderr, "udp send %u: %s\n", seq, strerror(errno));
}

/* Sends [first, last) in bursts of UDP_BURST, each waited for, so the
 * receive buffer never overflows whatever the receiver's pace. */
static bool udp_send_paced(int fd, uint32_t first, uint32_t last, uint8_t *buf)
{
	uint32_t seq;

	for (seq = first; seq < last; seq++) {
		udp_send(fd, seq, buf);
		if ((seq + 1 - first) % UDP_BURST == 0 && !wait_for(&fake.dg_ok, seq + 1))
			return false;
	}
	return wait_for(&fake.dg_ok, last);
}

static void test_udp(enum source_io io)
{
	static uint8_t buf[65536];
	struct source s = {0};
	struct runner r;
	char peer[64];
	int fd;

	fake_reset();
	if (add_listener(&s, SOURCE_UDP, "127.0.0.1:0,feed=udp-test") != 0 ||
	    open_source(&s, io, 0) != 0) {
		CHECK(!"udp source opens");
		return;
	}
	CHECK_EQ_STR(fake.feeds[0], "udp-test");
	CHECK_EQ_STR(fake.streams[0].peer, "udp:127.0.0.1:0");
	CHECK(fake.streams[0].datagram);
	start(&r, &s);
	fd = client(SOCK_DGRAM, s.listen[0].port, peer, sizeof(peer));
	fake.dg_from_port = (uint16_t)atoi(strrchr(peer, ':') + 1);
	CHECK(udp_send_paced(fd, 0, UDP_COUNT, buf));
	finish(&r);
	close(fd);
	CHECK_EQ_INT(fake.dg_ok, UDP_COUNT);
	CHECK_EQ_INT(fake.dg_bad, 0);
	CHECK_EQ_INT(fake.dg_dup, 0);
	CHECK_EQ_INT(fake.dg_not_kernel, 0);
	CHECK_EQ_INT(fake.dg_bad_stamp, 0);
	CHECK_EQ_INT(fake.dg_bad_from, 0);
	CHECK_EQ_INT(s.stats.datagrams, UDP_COUNT);
	CHECK_EQ_INT(s.stats.truncated, 0);
	CHECK_EQ_INT(s.stats.errors, 0);
	CHECK_EQ_INT(fake.streams[0].ended, 0); /* a UDP decoder never ends */
	printf("  %s udp: %llu datagrams, %llu batches, %llu nobufs\n", source_io_name(io),
	       (unsigned long long)s.stats.datagrams, (unsigned long long)s.stats.batches,
	       (unsigned long long)s.stats.nobufs);
	source_close(&s);
}

/* ------------------------------------------------ (c) table full */

static void test_table_full(enum source_io io)
{
	static uint8_t data[2][100000];
	char peer[2][64];
	size_t len[2];
	struct source s = {0};
	struct runner r;
	int fd[4], i;

	fake_reset();
	if (add_listener(&s, SOURCE_TCP, "localhost:0") != 0 || open_source(&s, io, 2) != 0) {
		CHECK(!"tcp source opens");
		return;
	}
	start(&r, &s);
	for (i = 0; i < 2; i++) {
		fd[i] = client(SOCK_STREAM, s.listen[0].port, peer[i], sizeof(peer[i]));
		len[i] = make_lines(data[i], sizeof(data[i]), (unsigned)i, sizeof(data[i]) - 200,
		                    false);
	}
	CHECK(wait_for(&fake.tcp_inits, 2));
	/* the table is full: these two are closed as soon as they are accepted */
	for (i = 2; i < 4; i++) {
		struct timeval tv = {.tv_sec = 30};
		char b;
		ssize_t n;

		fd[i] = client(SOCK_STREAM, s.listen[0].port, NULL, 0);
		setsockopt(fd[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		n = recv(fd[i], &b, 1, 0);
		CHECK(n == 0 || (n < 0 && errno == ECONNRESET));
		close(fd[i]);
	}
	for (i = 0; i < 2; i++) {
		CHECK(write_all(fd[i], data[i], len[i]));
		close(fd[i]);
	}
	CHECK(wait_for(&fake.tcp_ended, 2));
	finish(&r);
	for (i = 0; i < 2; i++)
		check_stream(peer[i], data[i], len[i]);
	CHECK_EQ_INT(fake.tcp_inits, 2); /* rejected sockets get no decoder */
	CHECK_EQ_INT(s.stats.conns_rejected, 2);
	CHECK_EQ_INT(s.stats.conns_accepted, 2);
	CHECK_EQ_INT(s.stats.conns_closed, 2);
	source_close(&s);
}

/* ------------------------------------------- (d) stop with data queued */

static void test_stop_drains(enum source_io io)
{
	static uint8_t data[3][32768], dg[65536];
	static const size_t want[3] = {32000, 20000, 8000};
	char peer[3][64];
	size_t len[3];
	struct source s = {0};
	struct runner r;
	int fd[3], ufd, i;
	uint32_t seq;

	fake_reset();
	if (add_listener(&s, SOURCE_TCP, "127.0.0.1:0") != 0 ||
	    add_listener(&s, SOURCE_UDP, "127.0.0.1:0") != 0 || open_source(&s, io, 0) != 0) {
		CHECK(!"tcp+udp source opens");
		return;
	}
	start(&r, &s);
	for (i = 0; i < 3; i++)
		len[i] = make_lines(data[i], sizeof(data[i]), (unsigned)i, want[i], i == 1);
	/* A and B are accepted before the data */
	for (i = 0; i < 2; i++)
		fd[i] = client(SOCK_STREAM, port_of(&s, SOURCE_TCP), peer[i], sizeof(peer[i]));
	CHECK(wait_for(&fake.tcp_inits, 2));
	/* hold the loop at its next commit: what follows stays queued in the
	 * kernel (C in the accept backlog) until the stop */
	atomic_store(&fake.gate_armed, 1);
	CHECK(wait_for(&fake.gate_held, 1));
	fd[2] = client(SOCK_STREAM, port_of(&s, SOURCE_TCP), peer[2], sizeof(peer[2]));
	ufd = client(SOCK_DGRAM, port_of(&s, SOURCE_UDP), NULL, 0);
	for (i = 0; i < 3; i++)
		CHECK(write_all(fd[i], data[i], len[i]));
	for (seq = 0; seq < 200; seq++)
		udp_send(ufd, seq, dg);
	stop_flag = 1;
	atomic_store(&fake.gate_armed, 0);
	finish(&r);
	CHECK_EQ_INT(fake.tcp_inits, 3);
	for (i = 0; i < 3; i++) {
		check_stream(peer[i], data[i], len[i]);
		close(fd[i]);
	}
	close(ufd);
	CHECK_EQ_INT(fake.dg_ok, 200);
	CHECK_EQ_INT(fake.dg_bad + fake.dg_dup, 0);
	CHECK_EQ_INT(s.stats.conns_closed, 3);
	CHECK_EQ_INT(s.stats.datagrams, 200);
	source_close(&s);
}

/* --------------------------------------- (e) io_uring blocked: epoll */

static int block_io_uring(void)
{
	struct sock_filter f[] = {
	        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
	        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
	        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA)),
	        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {.len = sizeof(f) / sizeof(f[0]), .filter = f};

	/* only one syscall table exists on the architectures this runs on, so
	 * the filter looks at nr alone */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		return -1;
	return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
}

static void fallback_child(void)
{
	static uint8_t data[50000];
	struct source s = {0};
	struct runner r;
	char why[160], err[256], peer[64];
	struct source_config cfg = {.io = SOURCE_IO_URING, .stop = &stop_flag};
	size_t len;
	int fd;

	CHECK_EQ_INT(block_io_uring(), 0);
	CHECK(!source_uring_available(why, sizeof(why)));
	CHECK(strstr(why, "Function not implemented") != NULL);
	/* --io uring refuses to start */
	fake_reset();
	CHECK(add_listener(&s, SOURCE_TCP, "127.0.0.1:0") == 0);
	CHECK_EQ_INT(source_open(&s, &fake_pipe, &cfg, err, sizeof(err)), -1);
	CHECK(strstr(err, "Function not implemented") != NULL);
	source_close(&s);
	/* --io auto falls back to epoll and serves */
	memset(&s, 0, sizeof(s));
	fake_reset();
	if (add_listener(&s, SOURCE_TCP, "127.0.0.1:0") != 0 ||
	    open_source(&s, SOURCE_IO_AUTO, 0) != 0) {
		CHECK(!"auto source opens");
		return;
	}
	CHECK_EQ_INT(s.active, SOURCE_IO_EPOLL);
	CHECK(strstr(s.fallback_why, "Function not implemented") != NULL);
	start(&r, &s);
	len = make_lines(data, sizeof(data), 9, sizeof(data) - 200, true);
	fd = client(SOCK_STREAM, s.listen[0].port, peer, sizeof(peer));
	CHECK(write_all(fd, data, len));
	close(fd);
	CHECK(wait_for(&fake.tcp_ended, 1));
	finish(&r);
	check_stream(peer, data, len);
	source_close(&s);
}

static void test_fallback(void)
{
	int p[2], status = 0, res[2] = {0, 1};
	pid_t pid;

	if (pipe(p) != 0)
		abort();
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		close(p[0]);
		check_run = 0;
		check_failed = 0;
		fallback_child();
		res[0] = check_run;
		res[1] = check_failed;
		if (write(p[1], res, sizeof(res)) != sizeof(res))
			_exit(2);
		fflush(NULL);
		_exit(0);
	}
	close(p[1]);
	CHECK(pid > 0);
	if (read(p[0], res, sizeof(res)) != sizeof(res))
		res[1] = 1;
	close(p[0]);
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* the child's checks count here */
	check_run += res[0];
	check_failed += res[1];
}

/* ----------------------------------------------------- specs and stamps */

static void check_add_err(enum source_kind kind, const char *spec, const char *want)
{
	struct source s = {0};
	char err[256] = "";

	CHECK_EQ_INT(source_add(&s, kind, DECODER_JSONL, spec, err, sizeof(err)), -1);
	CHECK_EQ_STR(err, want);
	CHECK_EQ_INT(s.nlisten, 0);
}

static void test_specs(void)
{
	struct source s = {0};
	const struct sockaddr_in *in4 = (const struct sockaddr_in *)&s.listen[0].addr;
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&s.listen[1].addr;
	char err[256], spec[32];
	enum source_io io;
	int i;

	check_add_err(SOURCE_TCP, "127.0.0.1:99999",
	              "bad --tcp '127.0.0.1:99999': port out of range");
	check_add_err(SOURCE_UDP, "127.0.0.1:", "bad --udp '127.0.0.1:': port is not a number");
	check_add_err(SOURCE_TCP, "127.0.0.1:80x",
	              "bad --tcp '127.0.0.1:80x': port is not a number");
	check_add_err(SOURCE_TCP, "127.0.0.1:-1", "bad --tcp '127.0.0.1:-1': port is not a number");
	check_add_err(SOURCE_TCP, "127.0.0.1: 8", "bad --tcp '127.0.0.1: 8': port is not a number");
	check_add_err(SOURCE_TCP, "127.0.0.1:99999999999999999999999",
	              "bad --tcp '127.0.0.1:99999999999999999999999': port out of range");
	check_add_err(SOURCE_TCP, "8080", "bad --tcp '8080': expected HOST:PORT");
	check_add_err(
	        SOURCE_TCP, "1.2.3:80",
	        "bad --tcp '1.2.3:80': bad IPv4 address (no name lookups: use dotted digits)");
	check_add_err(SOURCE_TCP, "::1:80",
	              "bad --tcp '::1:80': an IPv6 address needs brackets: [::1]:PORT");
	check_add_err(SOURCE_TCP, "[::1]80", "bad --tcp '[::1]80': expected [IPV6]:PORT");
	check_add_err(SOURCE_TCP, "[::g]:80", "bad --tcp '[::g]:80': bad IPv6 address");
	check_add_err(SOURCE_TCP, "127.0.0.1:1,bogus=1",
	              "bad --tcp '127.0.0.1:1,bogus=1': unknown option (feed=NAME, iface=IPV4)");
	check_add_err(SOURCE_UDP, "239.1.2.3:5000,iface=eth0",
	              "bad --udp '239.1.2.3:5000,iface=eth0': iface= takes the IPv4 address of a "
	              "local interface");
	check_add_err(SOURCE_TCP,
	              "127.0.0.1:1,feed=", "bad --tcp '127.0.0.1:1,feed=': empty feed name");

	CHECK_EQ_INT(source_add(&s, SOURCE_TCP, DECODER_JSONL, "localhost:65535", err, sizeof(err)),
	             0);
	CHECK_EQ_INT(in4->sin_family, AF_INET);
	CHECK_EQ_INT(ntohl(in4->sin_addr.s_addr), INADDR_LOOPBACK);
	CHECK_EQ_INT(ntohs(in4->sin_port), 65535);
	CHECK_EQ_STR(s.listen[0].feed_name, "tcp:localhost:65535");
	CHECK_EQ_INT(s.listen[0].fd, -1);
	CHECK_EQ_INT(source_add(&s, SOURCE_UDP, DECODER_MOLD, "[::1]:7000,feed=mold-a", err,
	                        sizeof(err)),
	             0);
	CHECK_EQ_INT(in6->sin6_family, AF_INET6);
	CHECK_EQ_INT(ntohs(in6->sin6_port), 7000);
	CHECK_EQ_STR(s.listen[1].feed_name, "mold-a");
	CHECK_EQ_STR(s.listen[1].spec, "[::1]:7000");
	CHECK_EQ_INT(s.listen[1].format, DECODER_MOLD);
	CHECK_EQ_INT(source_add(&s, SOURCE_UDP, DECODER_JSONL, "*:0", err, sizeof(err)), 0);
	CHECK_EQ_STR(s.listen[2].feed_name, "udp:*:0");
	CHECK_EQ_INT(((struct sockaddr_in *)&s.listen[2].addr)->sin_addr.s_addr, htonl(INADDR_ANY));
	CHECK_EQ_INT(source_add(&s, SOURCE_TCP, DECODER_JSONL, "0.0.0.0:1", err, sizeof(err)), 0);
	for (i = 4; i < SOURCE_LISTEN_MAX; i++) {
		snprintf(spec, sizeof(spec), "127.0.0.1:%d", 1000 + i);
		CHECK_EQ_INT(source_add(&s, SOURCE_TCP, DECODER_JSONL, spec, err, sizeof(err)), 0);
	}
	CHECK_EQ_INT(source_add(&s, SOURCE_TCP, DECODER_JSONL, "127.0.0.1:1", err, sizeof(err)),
	             -1);
	CHECK_EQ_STR(err, "bad --tcp '127.0.0.1:1': too many listeners (at most 16)");
	CHECK_EQ_INT(s.nlisten, SOURCE_LISTEN_MAX);
	source_close(&s); /* never opened: nothing to close, must not crash */

	CHECK(source_io_parse("auto", &io) == 0 && io == SOURCE_IO_AUTO);
	CHECK(source_io_parse("uring", &io) == 0 && io == SOURCE_IO_URING);
	CHECK(source_io_parse("epoll", &io) == 0 && io == SOURCE_IO_EPOLL);
	CHECK_EQ_INT(source_io_parse("poll", &io), -1);
	CHECK_EQ_STR(source_io_name(SOURCE_IO_URING), "uring");
}

static void test_open_errors(void)
{
	struct source s = {0}, t = {0};
	struct source_config cfg = {.io = SOURCE_IO_EPOLL, .stop = &stop_flag};
	char err[256], spec[64];

	fake_reset();
	cfg.max_conns = SOURCE_CONNS_MAX + 1;
	CHECK(add_listener(&s, SOURCE_TCP, "127.0.0.1:0") == 0);
	CHECK_EQ_INT(source_open(&s, &fake_pipe, &cfg, err, sizeof(err)), -1);
	CHECK(strstr(err, "max connections") != NULL);
	source_close(&s);
	/* a port in use: the error names the spec, the step and errno */
	memset(&s, 0, sizeof(s));
	cfg.max_conns = 4;
	CHECK(add_listener(&s, SOURCE_TCP, "127.0.0.1:0") == 0);
	CHECK_EQ_INT(source_open(&s, &fake_pipe, &cfg, err, sizeof(err)), 0);
	snprintf(spec, sizeof(spec), "127.0.0.1:%u", s.listen[0].port);
	CHECK(add_listener(&t, SOURCE_TCP, spec) == 0);
	CHECK_EQ_INT(source_open(&t, &fake_pipe, &cfg, err, sizeof(err)), -1);
	CHECK(strstr(err, spec) && strstr(err, "bind: Address already in use"));
	CHECK_EQ_INT(t.listen[0].fd, -1);
	source_close(&t);
	source_close(&s);
}

static void test_rx_stamp(void)
{
	union {
		struct cmsghdr align;
		char buf[SOURCE_CMSG_SPACE];
	} ctl;
	struct msghdr msg = {.msg_control = ctl.buf,
	                     .msg_controllen = CMSG_SPACE(sizeof(struct timespec))};
	struct timespec ts = {.tv_sec = 1735787045, .tv_nsec = 123456789};
	struct cmsghdr *cm;
	bool kernel = true;

	memset(&ctl, 0, sizeof(ctl));
	cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_TIMESTAMPNS;
	cm->cmsg_len = CMSG_LEN(sizeof(ts));
	memcpy(CMSG_DATA(cm), &ts, sizeof(ts));
	CHECK_EQ_INT(source_rx_stamp(&msg, &kernel), 1735787045123456789LL);
	CHECK(kernel);
	msg.msg_controllen = 0;
	CHECK_EQ_INT(source_rx_stamp(&msg, &kernel), 0);
	CHECK(!kernel);
	CHECK(plausible(source_now_ns()));
}

int main(void)
{
	static const enum source_io ios[] = {SOURCE_IO_URING, SOURCE_IO_EPOLL};
	char why[160];
	bool uring = source_uring_available(why, sizeof(why));
	unsigned i;

	log_set_level(LOG_WARN);
	test_specs();
	test_rx_stamp();
	test_open_errors();
	if (!uring)
		printf("io_uring unavailable here (%s): uring scenarios skipped\n", why);
	for (i = 0; i < sizeof(ios) / sizeof(ios[0]); i++) {
		if (ios[i] == SOURCE_IO_URING && !uring)
			continue;
		printf("backend %s\n", source_io_name(ios[i]));
		test_tcp_many(ios[i]);
		test_udp(ios[i]);
		test_table_full(ios[i]);
		test_stop_drains(ios[i]);
	}
	test_fallback();
	fake_reset();
	CHECK_DONE();
}
