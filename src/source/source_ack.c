/* source_ack.c -- "ack N" lines written back on ,ack TCP connections.
 *
 * The wiring decides what is durable and calls source_ack with a
 * connection's cumulative count; this file only puts the line on the wire,
 * with a plain non-blocking send(2) from the source's thread (both the
 * io_uring and the epoll backend: the receive side is theirs, the few ack
 * bytes are sent here).  One line per connection is in flight at most
 * (SOURCE_ACK_LINE_MAX bytes, in the slot): a client that does not read
 * fills its socket buffer, and from then on its acks are dropped (counted,
 * logged rate-limited) until it reads again.  Ingest and the other
 * connections never wait on it, and no memory grows.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "source_internal.h"
#include "trades/log.h"
#include "trades/timefmt.h"

bool source_listen_ack(const struct source *s, unsigned i)
{
	ENSURE(i < s->nlisten);
	return s->listen[i].ack;
}

/* The connection in slot conn if it is still use gen of an ,ack listener. */
static struct source_conn *ack_conn(struct source *s, uint32_t conn, uint32_t gen)
{
	struct source_conn *c;

	if (!s->conns || conn >= s->cfg.max_conns)
		return NULL;
	c = &s->conns[conn];
	if (c->fd < 0 || c->gen != gen)
		return NULL;
	return c;
}

/* Writes what is left of the line: true when all of it is out. */
static bool ack_flush(struct source *s, struct source_conn *c)
{
	struct source_conn_ack *a = &c->ack;

	while (a->off < a->len) { /* bounded: each pass writes >= 1 byte or returns */
		ssize_t w =
		        send(c->fd, a->line + a->off, a->len - a->off, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (w > 0) {
			a->off = (uint8_t)(a->off + (size_t)w);
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
			/* the peer is gone: the receive side sees it and closes */
			s->stats.errors++;
			source_warn(s, "send ack to", c->peer, errno);
		}
		return false;
	}
	if (a->len) {
		s->stats.acks_sent++;
		a->len = a->off = 0;
	}
	return true;
}

static int ack_dropped(struct source *s, struct source_conn *c)
{
	uint64_t suppressed = 0;

	s->stats.acks_dropped++;
	if (ratelimit_allow(&s->ack_rl, timefmt_mono_ns(), &suppressed))
		log_warn("--tcp '%s': client %s does not read its acks: ack dropped "
		         "(%llu dropped in all, %llu similar suppressed)",
		         s->listen[c->listen].spec, c->peer,
		         (unsigned long long)s->stats.acks_dropped, (unsigned long long)suppressed);
	return -1;
}

int source_ack(struct source *s, uint32_t conn, uint32_t gen, uint64_t n)
{
	struct source_conn *c = ack_conn(s, conn, gen);
	struct source_conn_ack *a;
	int len;

	if (!c || !s->listen[c->listen].ack || n <= c->ack.sent)
		return 0;
	a = &c->ack;
	if (!ack_flush(s, c))
		return ack_dropped(s, c); /* the previous line is still going out */
	len = snprintf(a->line, sizeof(a->line), "ack %llu\n", (unsigned long long)n);
	ENSURE(len > 0 && len < (int)sizeof(a->line));
	a->len = (uint8_t)len;
	a->off = 0;
	ack_flush(s, c);
	if (a->off == 0 && a->len) { /* nothing went out: drop it whole, a later one supersedes */
		a->len = 0;
		return ack_dropped(s, c);
	}
	a->sent = n; /* on the wire, or its tail queued in the slot */
	return 1;
}

bool source_conn_shutdown(struct source *s, uint32_t conn, uint32_t gen)
{
	struct source_conn *c = ack_conn(s, conn, gen);

	if (!c)
		return false;
	if (shutdown(c->fd, SHUT_RDWR) != 0 && errno != ENOTCONN) {
		s->stats.errors++;
		source_warn(s, "shutdown", c->peer, errno);
	}
	return true;
}
