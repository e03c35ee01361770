/* gen_reliable.c -- trades-gen --reliable: keep, resend, wait for the acks
 * (gen_reliable.h).  One poll() loop over the connections: writes from each
 * ring what is not yet on the current connection, reads "ack N" lines and
 * frees what they cover, reconnects what dropped. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "trades/addr.h"
#include "trades/timefmt.h"

#include "gen_reliable.h"

#define PROG           "trades-gen"
#define REL_ACK_MAX    32 /* "ack " + 20 digits + "\n", rounded up */
#define REL_POLL_MS    10 /* longest sleep of one pump */
#define REL_LINE_LIMIT 4096

struct rconn {
	int fd;              /* -1: not connected */
	char *ring;          /* REL_RING_BYTES */
	uint64_t *ends;      /* REL_RING_LINES: byte position after line k+1, at k % size */
	uint64_t head;       /* bytes queued (absolute stream position) */
	uint64_t sent;       /* bytes written on this connection (absolute) */
	uint64_t tail;       /* bytes acknowledged (absolute) */
	uint64_t lines;      /* lines queued */
	uint64_t acked;      /* lines acknowledged */
	uint64_t base;       /* acked when this connection was made: its acks count from here */
	uint64_t last_n;     /* last ack count on this connection */
	int64_t retry_ns;    /* monotonic: next connect attempt */
	int64_t progress_ns; /* monotonic: connect or last ack */
	unsigned fails;      /* attempts in a row without an ack */
	size_t alen;         /* bytes in abuf */
	char abuf[REL_ACK_MAX];
};

struct rel {
	struct sockaddr_storage addr;
	socklen_t addrlen;
	char spec[ADDR_STR_MAX];
	unsigned n;
	struct rel_stats st;
	struct rconn c[];
};

static int rel_connect(struct rel *r, struct rconn *c, bool first)
{
	int fd = socket(r->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int64_t now = timefmt_mono_ns();

	if (fd >= 0 && connect(fd, (struct sockaddr *)&r->addr, r->addrlen) == 0 &&
	    fcntl(fd, F_SETFL, O_NONBLOCK) == 0) {
		c->fd = fd;
		c->base = c->acked;
		c->last_n = 0;
		c->alen = 0;
		r->st.resent += c->sent > c->tail ? c->sent - c->tail : 0;
		c->sent = c->tail; /* everything after the last ack goes again */
		c->progress_ns = now;
		r->st.reconnects += !first;
		return 0;
	}
	if (first || ++c->fails > REL_RETRIES) {
		fprintf(stderr, PROG ": --tcp %s: %s: %s%s\n", r->spec,
		        fd < 0 ? "socket" : "connect", strerror(errno),
		        first ? "" : " (reconnect retries exhausted)");
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (fd >= 0)
		close(fd);
	unsigned shift = c->fails < 8 ? c->fails : 8;
	int64_t ms = (int64_t)REL_BACKOFF_MIN_MS << shift;
	c->retry_ns = now + (ms > REL_BACKOFF_MAX_MS ? REL_BACKOFF_MAX_MS : ms) * 1000000LL;
	return 0;
}

static void rel_drop(struct rconn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->retry_ns = 0; /* reconnect at once; backoff after a failed attempt */
}

/* One "ack N" line: N counts lines of this connection. 0, or -1. */
static int rel_ack(struct rel *r, struct rconn *c, const char *line)
{
	char *end;
	unsigned long long n;

	if (strncmp(line, "ack ", 4) != 0 || line[4] < '0' || line[4] > '9')
		goto bad;
	errno = 0;
	n = strtoull(line + 4, &end, 10);
	if (errno || *end != '\0' || n < c->last_n || c->base + n > c->lines)
		goto bad;
	c->last_n = n;
	if (c->base + n > c->acked) {
		c->acked = c->base + n;
		c->tail = c->ends[(c->acked - 1) & (REL_RING_LINES - 1)];
		c->fails = 0;
	}
	c->progress_ns = timefmt_mono_ns();
	return 0;
bad:
	fprintf(stderr, PROG ": --tcp %s: bad ack line '%.24s' (%llu of %llu lines acked)\n",
	        r->spec, line, (unsigned long long)c->acked, (unsigned long long)c->lines);
	return -1;
}

/* Reads acks until the socket is empty.  0, 1 when the connection ended, -1. */
static int rel_read(struct rel *r, struct rconn *c)
{
	char buf[4096];

	for (;;) { /* bounded by the socket: each pass consumes bytes or returns */
		ssize_t got = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR))
			return 1;
		if (got < 0)
			return 0;
		for (ssize_t i = 0; i < got; i++) {
			if (buf[i] != '\n') {
				if (c->alen + 1 >= sizeof(c->abuf))
					return rel_ack(r, c, "(too long)");
				c->abuf[c->alen++] = buf[i];
				continue;
			}
			c->abuf[c->alen] = '\0';
			c->alen = 0;
			if (rel_ack(r, c, c->abuf) < 0)
				return -1;
		}
	}
}

/* Writes what the socket takes.  0, or 1 when the connection ended. */
static int rel_write(struct rel *r, struct rconn *c)
{
	while (c->sent < c->head) { /* bounded: each pass writes or returns */
		size_t at = (size_t)(c->sent & (REL_RING_BYTES - 1));
		size_t len = REL_RING_BYTES - at;
		ssize_t w;

		if (len > c->head - c->sent)
			len = (size_t)(c->head - c->sent);
		w = send(c->fd, c->ring + at, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w > 0) {
			c->sent += (uint64_t)w;
			r->st.bytes += (uint64_t)w;
			continue;
		}
		return w < 0 && (errno == EAGAIN || errno == EINTR) ? 0 : 1;
	}
	return 0;
}

/* One connection after poll: acks, writes, stalls, reconnects.  0 or -1. */
static int rel_service(struct rel *r, struct rconn *c, short revents)
{
	int64_t now = timefmt_mono_ns();
	int rc = 0;

	if (c->fd < 0)
		return now >= c->retry_ns ? rel_connect(r, c, false) : 0;
	if (revents & (POLLIN | POLLHUP | POLLERR))
		rc = rel_read(r, c);
	if (rc == 0)
		rc = rel_write(r, c);
	if (rc < 0)
		return -1;
	if (rc == 0 && c->acked < c->lines && now - c->progress_ns > REL_STALL_MS * 1000000LL) {
		r->st.stalls++;
		if (++c->fails > REL_RETRIES) {
			fprintf(stderr, PROG ": --tcp %s: no ack for %d ms, %d times\n", r->spec,
			        REL_STALL_MS, REL_RETRIES);
			return -1;
		}
		rc = 1;
	}
	if (rc == 1)
		rel_drop(c);
	return 0;
}

/* One poll over the connections (at most timeout_ms), then each serviced. */
static int rel_pump(struct rel *r, int timeout_ms)
{
	struct pollfd pfd[REL_CONNS_MAX];
	unsigned i;

	for (i = 0; i < r->n; i++) {
		struct rconn *c = &r->c[i];

		pfd[i] = (struct pollfd){.fd = c->fd, .events = POLLIN};
		if (c->sent < c->head)
			pfd[i].events |= POLLOUT;
		if (c->fd < 0)
			timeout_ms = timeout_ms > REL_POLL_MS ? REL_POLL_MS : timeout_ms;
	}
	if (poll(pfd, r->n, timeout_ms) < 0 && errno != EINTR) {
		fprintf(stderr, PROG ": --tcp %s: poll: %s\n", r->spec, strerror(errno));
		return -1;
	}
	for (i = 0; i < r->n; i++)
		if (rel_service(r, &r->c[i], pfd[i].fd >= 0 ? pfd[i].revents : 0) < 0)
			return -1;
	return 0;
}

struct rel *rel_open(const char *spec, unsigned nconn)
{
	struct rel *r;
	char err[192];

	if (nconn < 1 || nconn > REL_CONNS_MAX) {
		fprintf(stderr, PROG ": --reliable: %u connections (1..%d)\n", nconn,
		        REL_CONNS_MAX);
		return NULL;
	}
	r = calloc(1, sizeof(*r) + nconn * sizeof(r->c[0]));
	if (!r) {
		fprintf(stderr, PROG ": --reliable: %s\n", strerror(errno));
		return NULL;
	}
	r->n = nconn;
	snprintf(r->spec, sizeof(r->spec), "%s", spec);
	for (unsigned i = 0; i < nconn; i++)
		r->c[i].fd = -1;
	if (addr_parse(spec, strlen(spec), false, &r->addr, &r->addrlen, err, sizeof(err)) != 0) {
		fprintf(stderr, PROG ": --tcp %s\n", err);
		rel_close(r);
		return NULL;
	}
	for (unsigned i = 0; i < nconn; i++) {
		struct rconn *c = &r->c[i];

		c->ring = malloc(REL_RING_BYTES);
		c->ends = malloc(REL_RING_LINES * sizeof(*c->ends));
		if (!c->ring || !c->ends) {
			fprintf(stderr, PROG ": --reliable: ring of %u bytes: %s\n", REL_RING_BYTES,
			        strerror(errno));
			rel_close(r);
			return NULL;
		}
		if (rel_connect(r, c, true) < 0) {
			rel_close(r);
			return NULL;
		}
	}
	return r;
}

int rel_line(struct rel *r, unsigned stream, const char *text, size_t len)
{
	struct rconn *c = &r->c[stream % r->n];
	size_t at, first;

	if (len == 0 || len > REL_LINE_LIMIT || text[len - 1] != '\n') {
		fprintf(stderr, PROG ": --reliable: a line of %zu bytes without its newline\n",
		        len);
		return -1;
	}
	/* room: waits on acks, so it ends when the receiver acks or retries run out */
	while (c->head + len - c->tail > REL_RING_BYTES || c->lines - c->acked >= REL_RING_LINES)
		if (rel_pump(r, REL_POLL_MS) < 0)
			return -1;
	at = (size_t)(c->head & (REL_RING_BYTES - 1));
	first = len < REL_RING_BYTES - at ? len : REL_RING_BYTES - at;
	memcpy(c->ring + at, text, first);
	memcpy(c->ring, text + first, len - first);
	c->head += len;
	c->ends[c->lines & (REL_RING_LINES - 1)] = c->head;
	c->lines++;
	r->st.lines++;
	/* write in big pieces: every 64 KiB queued, one pump without sleeping */
	if (((c->head - len) ^ c->head) >> 16)
		return rel_pump(r, 0);
	return 0;
}

int rel_flush(struct rel *r)
{
	return rel_pump(r, 0);
}

int rel_finish(struct rel *r)
{
	for (;;) { /* ends: every line acked, or rel_pump fails when retries run out */
		bool done = true;

		for (unsigned i = 0; i < r->n; i++)
			done &= r->c[i].acked == r->c[i].lines;
		if (done)
			return 0;
		if (rel_pump(r, REL_POLL_MS) < 0)
			return -1;
	}
}

const struct rel_stats *rel_stats(const struct rel *r)
{
	return &r->st;
}

void rel_close(struct rel *r)
{
	if (!r)
		return;
	for (unsigned i = 0; i < r->n; i++) {
		if (r->c[i].fd >= 0)
			close(r->c[i].fd);
		free(r->c[i].ring);
		free(r->c[i].ends);
	}
	free(r);
}
