/* tcp_read_baseline.c -- the floor for the TCP benchmark: a receiver that
 * only read()s.
 *
 * Listens on 127.0.0.1:0, prints "listening PORT", accepts connections with
 * poll, reads each into a 256 KiB buffer counting bytes and '\n's, and exits
 * once every connection it accepted has closed (and none waits in the
 * backlog), printing "bytes B lines L seconds S" -- S from the first accept
 * to the last close.  Whatever `trades serve` does on top of this is its cost.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* accept4 */
#endif
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PROG            "bench_tcp_read"
#define READ_BUF_BYTES  (256u << 10) /* as large as the generator's writes */
#define CONNS_MAX       256u         /* trades-gen --connections upper bound */
#define POLL_MS         100          /* one poll round; idle time is counted */
#define IDLE_S_DEFAULT  60u          /* give up after this long without traffic */
#define READS_PER_ROUND 64u          /* reads of one connection per poll round */

struct counts {
	uint64_t bytes, lines;
	int64_t first_ns, last_ns;
};

static char buf[READ_BUF_BYTES];

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void usage(FILE *f)
{
	fprintf(f,
	        "Usage: " PROG " [--connections N] [--idle-timeout S]\n"
	        "\n"
	        "Listens on 127.0.0.1:0 and prints \"listening PORT\"; read()s every connection\n"
	        "and exits when all have closed, printing \"bytes B lines L seconds S\".\n"
	        "\n"
	        "  --connections N    wait for N connections (1..%u) before exiting; default:\n"
	        "                     exit when the ones accepted have closed\n"
	        "  --idle-timeout S   fail after S seconds without traffic (default %u)\n"
	        "\n"
	        "Exit status: 0 ok, 1 runtime error or timeout, 2 usage error.\n",
	        CONNS_MAX, IDLE_S_DEFAULT);
}

static int parse_uint(const char *opt, const char *s, unsigned max, unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (s[0] < '0' || s[0] > '9' || *end || errno || v < 1 || v > max) {
		fprintf(stderr, PROG ": %s: invalid value '%s' (expected 1..%u)\n", opt, s, max);
		return -1;
	}
	*out = (unsigned)v;
	return 0;
}

static int listen_any(uint16_t *port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fd, (int)CONNS_MAX) < 0 || getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
		fprintf(stderr, PROG ": listen 127.0.0.1:0: %s\n", strerror(errno));
		return -1;
	}
	*port = ntohs(sa.sin_port);
	return fd;
}

/* Reads what fd holds now (bounded rounds).  1: still open, 0: closed, -1: error. */
static int drain(int fd, struct counts *c)
{
	for (unsigned r = 0; r < READS_PER_ROUND; r++) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n == 0)
			return 0;
		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 1 : -1;
		c->bytes += (uint64_t)n;
		/* memchr is the fast way to count newlines without a parser */
		for (const char *p = buf, *end = buf + n; (p = memchr(p, '\n', (size_t)(end - p)));
		     p++)
			c->lines++;
	}
	return 1;
}

/* Accepts what waits in the backlog into pfd[1..].  Returns the new count. */
static unsigned accept_all(int lfd, struct pollfd *pfd, unsigned n, unsigned *accepted,
                           struct counts *c)
{
	while (n < CONNS_MAX + 1) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0)
			break;
		if (*accepted == 0)
			c->first_ns = mono_ns();
		(*accepted)++;
		pfd[n].fd = fd;
		pfd[n].events = POLLIN;
		n++;
	}
	return n;
}

static int run(int lfd, unsigned want, unsigned idle_s, struct counts *c)
{
	struct pollfd pfd[CONNS_MAX + 1] = {{.fd = lfd, .events = POLLIN}};
	unsigned n = 1, accepted = 0, idle_rounds = 0;
	unsigned idle_max = idle_s * (1000 / POLL_MS);

	/* the loop ends when every connection is done, or after idle_max quiet rounds */
	while (idle_rounds < idle_max) {
		int ready = poll(pfd, n, POLL_MS);

		if (ready < 0 && errno != EINTR) {
			fprintf(stderr, PROG ": poll: %s\n", strerror(errno));
			return -1;
		}
		idle_rounds = ready > 0 ? 0 : idle_rounds + 1;
		n = accept_all(lfd, pfd, n, &accepted, c);
		for (unsigned i = 1; i < n; i++) {
			int rc = pfd[i].revents ? drain(pfd[i].fd, c) : 1;

			if (rc < 0) {
				fprintf(stderr, PROG ": read: %s\n", strerror(errno));
				return -1;
			}
			if (rc == 0) {
				close(pfd[i].fd);
				pfd[i--] = pfd[--n];
				c->last_ns = mono_ns();
			}
		}
		n = accept_all(lfd, pfd, n, &accepted, c);
		if (n == 1 && accepted > 0 && (want == 0 || accepted >= want))
			return 0;
	}
	fprintf(stderr, PROG ": no traffic for %u s (%u connections accepted)\n", idle_s, accepted);
	return -1;
}

int main(int argc, char **argv)
{
	unsigned want = 0, idle_s = IDLE_S_DEFAULT;
	struct counts c = {0};
	uint16_t port;
	int lfd;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		}
		if (i + 1 < argc && strcmp(argv[i], "--connections") == 0) {
			if (parse_uint("--connections", argv[++i], CONNS_MAX, &want) < 0)
				return 2;
		} else if (i + 1 < argc && strcmp(argv[i], "--idle-timeout") == 0) {
			if (parse_uint("--idle-timeout", argv[++i], 3600, &idle_s) < 0)
				return 2;
		} else {
			fprintf(stderr, PROG ": unknown argument '%s' (see --help)\n", argv[i]);
			return 2;
		}
	}
	lfd = listen_any(&port);
	if (lfd < 0)
		return 1;
	printf("listening %u\n", port);
	fflush(stdout);
	if (run(lfd, want, idle_s, &c) < 0)
		return 1;
	printf("bytes %llu lines %llu seconds %.6f\n", (unsigned long long)c.bytes,
	       (unsigned long long)c.lines, (double)(c.last_ns - c.first_ns) / 1e9);
	return 0;
}
