/* source.c -- listener specs, sockets, the connection table, the drain at
 * stop, the batch and the choice of backend (source_uring.c, source_epoll.c).
 *
 * Everything that both backends do the same way lives here, so that the two
 * loops differ only in how they learn that a socket has bytes.  What they
 * receive goes to the handler (source.h); nothing here knows what a decoder
 * or the pipeline is.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "source_internal.h"
#include "trades/addr.h"
#include "trades/log.h"
#include "trades/probe.h"
#include "trades/timefmt.h"

#define SOURCE_BACKLOG  1024
#define SOURCE_OPTS_MAX 8 /* ",opt" parts in one spec */

static const char *kind_flag(enum source_kind kind)
{
	return kind == SOURCE_TCP ? "--tcp" : "--udp";
}

/* The ",opt" parts after the address: feed=NAME, iface=IPV4 (the local
 * interface address a multicast group is joined on) and ack (TCP: write
 * "ack N" lines back, source_ack.c). */
static const char *parse_opts(char *opts, struct source_listen *l)
{
	unsigned i;

	for (i = 0; opts && i < SOURCE_OPTS_MAX; i++) {
		char *next = strchr(opts, ',');

		if (next)
			*next++ = '\0';
		if (strncmp(opts, "iface=", 6) == 0) {
			if (inet_pton(AF_INET, opts + 6, &l->mcast_iface) != 1)
				return "iface= takes the IPv4 address of a local interface";
			opts = next;
			continue;
		}
		if (strcmp(opts, "ack") == 0) {
			l->ack = true;
			opts = next;
			continue;
		}
		if (strncmp(opts, "feed=", 5) != 0)
			return "unknown option (feed=NAME, iface=IPV4, ack)";
		if (opts[5] == '\0')
			return "empty feed name";
		if (strlen(opts + 5) >= sizeof(l->feed_name))
			return "feed name too long";
		strcpy(l->feed_name, opts + 5);
		opts = next;
	}
	return opts ? "too many options" : NULL;
}

/* A UDP listener on an IPv4 multicast group joins it (IP_ADD_MEMBERSHIP) on
 * the iface= interface, or the kernel's choice; binding to the group address
 * keeps other groups' datagrams on the same port out. */
static int join_multicast(struct source_listen *l)
{
	const struct sockaddr_in *in = (const struct sockaddr_in *)&l->addr;
	struct ip_mreq mreq;

	if (l->kind != SOURCE_UDP || l->addr.ss_family != AF_INET ||
	    !IN_MULTICAST(ntohl(in->sin_addr.s_addr)))
		return 0;
	mreq.imr_multiaddr = in->sin_addr;
	mreq.imr_interface = l->mcast_iface;
	return setsockopt(l->fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mreq, sizeof(mreq));
}

struct source *source_new(void)
{
	struct source *s = calloc(1, sizeof(*s));
	unsigned i;

	for (i = 0; s && i < SOURCE_LISTEN_MAX; i++)
		s->listen[i].fd = -1;
	return s;
}

int source_add(struct source *s, enum source_kind kind, const char *spec, char *err, size_t errlen)
{
	struct source_listen *l;
	char buf[SOURCE_SPEC_MAX], aerr[192];
	const char *why = NULL;
	char *opts;

	ENSURE(s && spec && !s->conns);
	ENSURE(kind == SOURCE_TCP || kind == SOURCE_UDP);
	if (s->nlisten >= SOURCE_LISTEN_MAX)
		return errfmt(err, errlen, "bad %s '%s': too many listeners (at most %d)",
		              kind_flag(kind), spec, SOURCE_LISTEN_MAX);
	l = &s->listen[s->nlisten];
	memset(l, 0, sizeof(*l));
	l->fd = -1;
	if (strlen(spec) >= sizeof(buf))
		return errfmt(err, errlen, "bad %s '%.40s...': too long", kind_flag(kind), spec);
	strcpy(buf, spec);
	opts = strchr(buf, ',');
	if (opts)
		*opts++ = '\0';
	why = parse_opts(opts, l);
	/* the default feed names the address part */
	if (!why && l->feed_name[0] == '\0' &&
	    snprintf(l->feed_name, sizeof(l->feed_name), "%s:%s",
	             kind == SOURCE_TCP ? "tcp" : "udp", buf) >= (int)sizeof(l->feed_name))
		why = "address too long for a feed name (give feed=NAME)";
	if (!why && l->ack && kind != SOURCE_TCP)
		why = "ack is for TCP listeners only";
	if (why)
		return errfmt(err, errlen, "bad %s '%s': %s", kind_flag(kind), spec, why);
	if (addr_parse(buf, strlen(buf), true, &l->addr, &l->addrlen, aerr, sizeof(aerr)) != 0)
		return errfmt(err, errlen, "bad %s %s", kind_flag(kind), aerr);
	strcpy(l->spec, buf);
	l->kind = kind;
	return (int)s->nlisten++;
}

/* A large buffer is what keeps UDP loss-free on bursts (platform notes):
 * SO_RCVBUFFORCE passes net.core.rmem_max but needs CAP_NET_ADMIN. */
static void udp_rcvbuf(const struct source_listen *l, int fd, uint32_t bytes)
{
	int want = bytes > INT_MAX / 2 ? INT_MAX / 2 : (int)bytes;
	int got = 0;
	socklen_t len = sizeof(got);
	int force_errno;

	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &want, sizeof(want)) == 0)
		return;
	force_errno = errno;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &want, sizeof(want)) != 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &got, &len) != 0)
		got = -1;
	log_warn("--udp '%s': SO_RCVBUFFORCE %d bytes: %s; SO_RCVBUF granted %d bytes "
	         "(capped by net.core.rmem_max: raise it or run with CAP_NET_ADMIN)",
	         l->spec, want, strerror(force_errno), got);
}

static int set_int_opt(int fd, int level, int name, int v)
{
	return setsockopt(fd, level, name, &v, sizeof(v));
}

/* Socket, options, bind, listen, bound address.  Errors name spec, step, errno. */
static int open_socket(struct source *s, struct source_listen *l, char *err, size_t errlen)
{
	int type = l->kind == SOURCE_TCP ? SOCK_STREAM : SOCK_DGRAM;
	struct sockaddr_storage bound;
	socklen_t blen = sizeof(bound);
	const char *step;

	l->fd = socket(l->addr.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	step = "socket";
	if (l->fd < 0)
		goto fail;
	step = "SO_REUSEADDR";
	if (l->kind == SOURCE_TCP && set_int_opt(l->fd, SOL_SOCKET, SO_REUSEADDR, 1) != 0)
		goto fail;
	if (l->kind == SOURCE_UDP) {
		udp_rcvbuf(l, l->fd, s->cfg.rcvbuf_bytes);
		step = "SO_TIMESTAMPNS";
		if (set_int_opt(l->fd, SOL_SOCKET, SO_TIMESTAMPNS, 1) != 0)
			goto fail;
	}
	step = "bind";
	if (bind(l->fd, (struct sockaddr *)&l->addr, l->addrlen) != 0)
		goto fail;
	step = "listen";
	if (l->kind == SOURCE_TCP && listen(l->fd, SOURCE_BACKLOG) != 0)
		goto fail;
	step = "IP_ADD_MEMBERSHIP";
	if (join_multicast(l) != 0)
		goto fail;
	step = "getsockname";
	if (getsockname(l->fd, (struct sockaddr *)&bound, &blen) != 0)
		goto fail;
	/* sin_port and sin6_port sit at the same offset */
	l->port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
	((struct sockaddr_in *)&l->addr)->sin_port = htons(l->port);
	return 0;
fail:
	errfmt(err, errlen, "%s '%s': %s: %s", kind_flag(l->kind), l->spec, step, strerror(errno));
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
	return -1;
}

static int alloc_tables(struct source *s, char *err, size_t errlen)
{
	unsigned i;

	s->conns = calloc(s->cfg.max_conns, sizeof(*s->conns));
	s->conn_free = calloc(s->cfg.max_conns, sizeof(*s->conn_free));
	s->rxbuf = malloc(SOURCE_BUF_SIZE);
	if (!s->conns || !s->conn_free || !s->rxbuf)
		return errfmt(err, errlen, "source: %u connection slots: %s", s->cfg.max_conns,
		              strerror(ENOMEM));
	/* popped from the top: slot 0 is handed out first */
	for (i = 0; i < s->cfg.max_conns; i++) {
		s->conns[i].fd = -1;
		s->conn_free[i] = s->cfg.max_conns - 1 - i;
	}
	s->nfree = s->cfg.max_conns;
	return 0;
}

static int pick_backend(struct source *s, char *err, size_t errlen)
{
	char why[sizeof(s->fallback_why)];

	s->fallback_why[0] = '\0';
	if (s->cfg.io == SOURCE_IO_EPOLL) {
		s->active = SOURCE_IO_EPOLL;
		snprintf(s->fallback_why, sizeof(s->fallback_why), "requested with --io epoll");
		return 0;
	}
	if (source_uring_available(why, sizeof(why))) {
		s->active = SOURCE_IO_URING;
		return 0;
	}
	if (s->cfg.io == SOURCE_IO_URING)
		return errfmt(err, errlen, "--io uring: io_uring unavailable (%s)", why);
	s->active = SOURCE_IO_EPOLL;
	snprintf(s->fallback_why, sizeof(s->fallback_why), "%s", why);
	log_info("io_uring unavailable (%s): using epoll", why);
	return 0;
}

int source_open(struct source *s, const struct source_config *cfg, char *err, size_t errlen)
{
	unsigned i;

	ENSURE(s && cfg && cfg->stop);
	ENSURE(!s->conns && !s->backend);
	ENSURE(cfg->io == SOURCE_IO_AUTO || cfg->io == SOURCE_IO_URING ||
	       cfg->io == SOURCE_IO_EPOLL);
	s->cfg = *cfg;
	if (s->cfg.max_conns == 0)
		s->cfg.max_conns = SOURCE_CONNS_DEFAULT;
	if (s->cfg.rcvbuf_bytes == 0)
		s->cfg.rcvbuf_bytes = SOURCE_RCVBUF_DEFAULT;
	if (s->cfg.wait_ms == 0 || s->cfg.wait_ms > SOURCE_WAIT_MS)
		s->cfg.wait_ms = SOURCE_WAIT_MS;
	if (s->cfg.max_conns > SOURCE_CONNS_MAX)
		return errfmt(err, errlen, "max connections %u: more than %d", s->cfg.max_conns,
		              SOURCE_CONNS_MAX);
	s->reject_rl = (struct ratelimit)RATELIMIT_INIT(10, 5);
	s->error_rl = (struct ratelimit)RATELIMIT_INIT(10, 10);
	s->ack_rl = (struct ratelimit)RATELIMIT_INIT(10, 5);
	s->idle_rl = (struct ratelimit)RATELIMIT_INIT(10, 5);
	if (s->cfg.idle_timeout_ns < 0)
		return errfmt(err, errlen, "idle timeout %lld ns: negative",
		              (long long)s->cfg.idle_timeout_ns);
	s->idle_every_ns = s->cfg.idle_timeout_ns / 10;
	if (s->idle_every_ns > SOURCE_IDLE_SWEEP_NS || s->idle_every_ns <= 0)
		s->idle_every_ns = SOURCE_IDLE_SWEEP_NS;
	s->idle_next_ns = 0;
	s->idle_cursor = 0;
	memset(&s->stats, 0, sizeof(s->stats));
	memset(&s->batch, 0, sizeof(s->batch));
	if (alloc_tables(s, err, errlen) != 0)
		return -1;
	for (i = 0; i < s->nlisten; i++)
		if (open_socket(s, &s->listen[i], err, errlen) != 0)
			return -1;
	return pick_backend(s, err, errlen);
}

int source_run(struct source *s)
{
	int rc;

	ENSURE(s->conns);
	if (s->active == SOURCE_IO_EPOLL)
		return source_epoll_run(s);
	ENSURE(s->active == SOURCE_IO_URING);
	rc = source_uring_run(s);
	if (rc != 1)
		return rc;
	/* setup failed before any socket was touched: epoll can take over */
	if (s->cfg.io != SOURCE_IO_AUTO)
		return -1;
	s->active = SOURCE_IO_EPOLL;
	snprintf(s->fallback_why, sizeof(s->fallback_why), "io_uring setup failed (see log)");
	log_info("io_uring setup failed (logged above): using epoll");
	return source_epoll_run(s);
}

void source_close(struct source *s)
{
	unsigned i;

	if (!s)
		return;
	ENSURE(!s->backend); /* the backends tear down at the end of their run */
	for (i = 0; s->conns && i < s->cfg.max_conns; i++) {
		if (s->conns[i].fd >= 0)
			close(s->conns[i].fd);
	}
	for (i = 0; i < s->nlisten; i++) {
		if (s->listen[i].fd >= 0)
			close(s->listen[i].fd);
	}
	free(s->conns);
	free(s->conn_free);
	free(s->rxbuf);
	free(s);
}

/* ---- accessors ---- */

static const struct source_listen *listener(const struct source *s, unsigned i)
{
	ENSURE(s && i < s->nlisten);
	return &s->listen[i];
}

unsigned source_listeners(const struct source *s)
{
	return s->nlisten;
}

enum source_kind source_listen_kind(const struct source *s, unsigned i)
{
	return listener(s, i)->kind;
}

const char *source_listen_spec(const struct source *s, unsigned i)
{
	return listener(s, i)->spec;
}

const char *source_listen_feed(const struct source *s, unsigned i)
{
	return listener(s, i)->feed_name;
}

const struct sockaddr *source_listen_addr(const struct source *s, unsigned i, socklen_t *len)
{
	const struct source_listen *l = listener(s, i);

	if (len)
		*len = l->addrlen;
	return (const struct sockaddr *)&l->addr;
}

uint16_t source_listen_port(const struct source *s, unsigned i)
{
	return listener(s, i)->port;
}

int source_listen_fd(const struct source *s, unsigned i)
{
	return listener(s, i)->fd;
}

enum source_io source_backend(const struct source *s)
{
	return s->active;
}

const char *source_fallback_why(const struct source *s)
{
	return s->fallback_why;
}

const struct source_stats *source_stats(const struct source *s)
{
	return &s->stats;
}

const struct source_listen_conns *source_listen_conns(const struct source *s, unsigned i)
{
	return &listener(s, i)->conns;
}

/* ---- what the backends share: warnings, slots, input, batches ---- */

static void warn_limited(struct ratelimit *rl, const char *what, const char *who, const char *why)
{
	uint64_t suppressed = 0;

	if (!ratelimit_allow(rl, timefmt_mono_ns(), &suppressed))
		return;
	if (suppressed)
		log_warn("%s '%s': %s (%llu similar suppressed)", what, who, why,
		         (unsigned long long)suppressed);
	else
		log_warn("%s '%s': %s", what, who, why);
}

void source_warn(struct source *s, const char *what, const char *who, int err)
{
	warn_limited(&s->error_rl, what, who, strerror(err));
}

static struct source_chan conn_chan(const struct source *s, const struct source_conn *c)
{
	return (struct source_chan){
	        .listen = c->listen, .conn = (uint32_t)(c - s->conns), .gen = c->gen};
}

/* One rate-limited line naming the listener, the limit and the count. */
static void conn_refused_log(struct source *s, uint16_t listen)
{
	const struct source_listen *l = &s->listen[listen];
	uint64_t suppressed = 0;

	if (!ratelimit_allow(&s->reject_rl, timefmt_mono_ns(), &suppressed))
		return;
	log_warn("--tcp '%s' (feed %s): connection refused: table full at --max-conns %u "
	         "(%llu refused on this listener, %llu similar suppressed)",
	         l->spec, l->feed_name, s->cfg.max_conns, (unsigned long long)l->conns.refused,
	         (unsigned long long)suppressed);
}

/* The slot back on the free stack. */
static void conn_release(struct source *s, struct source_conn *c)
{
	ENSURE(s->nfree < s->cfg.max_conns);
	close(c->fd);
	c->fd = -1;
	s->conn_free[s->nfree++] = (uint32_t)(c - s->conns);
}

struct source_conn *source_conn_new(struct source *s, int fd, uint16_t listen,
                                    const struct sockaddr *peer)
{
	const struct source_listen *l = &s->listen[listen];
	const struct source_handler *h = &s->cfg.handler;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	struct source_chan ch;
	struct source_conn *c;

	ENSURE(fd >= 0);
	ENSURE(listen < s->nlisten && l->kind == SOURCE_TCP);
	if (s->nfree == 0) {
		close(fd);
		s->stats.conns_rejected++;
		s->listen[listen].conns.refused++;
		conn_refused_log(s, listen);
		return NULL;
	}
	c = &s->conns[s->conn_free[--s->nfree]];
	ENSURE(c->fd == -1);
	memset(&ss, 0, sizeof(ss));
	if (!peer && getpeername(fd, (struct sockaddr *)&ss, &len) == 0)
		peer = (const struct sockaddr *)&ss;
	if (peer)
		addr_str(peer, c->peer, sizeof(c->peer));
	else
		snprintf(c->peer, sizeof(c->peer), "unknown peer on %.*s",
		         (int)sizeof(c->peer) - 17, l->spec);
	c->fd = fd;
	c->gen++;
	c->listen = listen;
	memset(&c->ack, 0, sizeof(c->ack));
	ch = conn_chan(s, c);
	ch.peer = peer;
	ch.peerlen = peer ? (peer->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
	                                                 : sizeof(struct sockaddr_in))
	                  : 0;
	c->last_ns = timefmt_mono_ns();
	c->idle_shut = false;
	if (h->opened && h->opened(h->ctx, &ch) != 0) {
		conn_release(s, c);
		s->stats.conns_rejected++;
		s->listen[listen].conns.refused++;
		return NULL;
	}
	s->stats.conns_accepted++;
	return c;
}

void source_conn_close(struct source *s, struct source_conn *c)
{
	const struct source_handler *h = &s->cfg.handler;
	struct source_chan ch = conn_chan(s, c);

	ENSURE(ch.conn < s->cfg.max_conns && c->fd >= 0);
	if (h->closed)
		h->closed(h->ctx, &ch);
	conn_release(s, c);
	s->stats.conns_closed++;
}

int64_t source_rx_stamp(struct msghdr *msg, bool *kernel)
{
	struct cmsghdr *cm;
	unsigned i = 0;

	/* a handful of cmsgs fit in SOURCE_CMSG_SPACE; the bound is belt and braces */
	for (cm = CMSG_FIRSTHDR(msg); cm && i < SOURCE_CMSG_SPACE; cm = CMSG_NXTHDR(msg, cm), i++) {
		struct timespec ts;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_TIMESTAMPNS ||
		    cm->cmsg_len < CMSG_LEN(sizeof(ts)))
			continue;
		memcpy(&ts, CMSG_DATA(cm), sizeof(ts));
		*kernel = true;
		return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
	}
	*kernel = false;
	return 0;
}

static void batch_count(struct source *s, size_t len, int64_t rx_ns, bool kernel)
{
	struct source_batch *b = &s->batch;

	b->events++;
	b->bytes += len;
	if (b->oldest_rx_ns == 0 || rx_ns < b->oldest_rx_ns) {
		b->oldest_rx_ns = rx_ns;
		b->oldest_kernel = kernel;
	}
	s->stats.bytes += len;
}

void source_tcp_input(struct source *s, struct source_conn *c, const void *buf, size_t len)
{
	const struct source_handler *h = &s->cfg.handler;
	struct source_chan ch = conn_chan(s, c);

	ENSURE(c->fd >= 0);
	ENSURE(len > 0 && len <= SOURCE_BUF_SIZE);
	c->last_ns = s->batch_mono_ns;
	if (h->stream)
		h->stream(h->ctx, &ch, buf, len, s->batch_ns);
	batch_count(s, len, s->batch_ns, false);
	s->stats.reads++;
}

void source_udp_input(struct source *s, unsigned i, const void *buf, size_t len, struct msghdr *msg)
{
	const struct source_handler *h = &s->cfg.handler;
	struct source_chan ch = {.listen = (uint16_t)i, .conn = SOURCE_CONN_NONE};
	bool kernel;
	int64_t ns;

	ENSURE(i < s->nlisten && s->listen[i].kind == SOURCE_UDP);
	if (msg->msg_flags & MSG_TRUNC) {
		/* half a datagram would decode as garbage or, worse, as a valid prefix */
		s->stats.truncated++;
		return;
	}
	ns = source_rx_stamp(msg, &kernel);
	if (!kernel)
		ns = s->batch_ns;
	if (msg->msg_namelen) {
		ch.peer = (const struct sockaddr *)msg->msg_name;
		ch.peerlen = msg->msg_namelen;
	}
	if (h->datagram)
		h->datagram(h->ctx, &ch, buf, len, ns, kernel);
	batch_count(s, len, ns, kernel);
	s->stats.datagrams++;
}

void source_batch_begin(struct source *s)
{
	s->batch_ns = timefmt_now_ns();
	s->batch_mono_ns = timefmt_mono_ns();
}

/* ---- the idle sweep ---- */

static void idle_shut(struct source *s, struct source_conn *c, int64_t idle_ns)
{
	struct source_listen *l = &s->listen[c->listen];
	uint64_t suppressed = 0;

	c->idle_shut = true;
	s->stats.conns_idle_closed++;
	l->conns.idle_closed++;
	/* the backend sees the end of the stream and closes it as usual */
	if (shutdown(c->fd, SHUT_RDWR) != 0 && errno != ENOTCONN) {
		s->stats.errors++;
		source_warn(s, "shutdown of idle", c->peer, errno);
	}
	if (!ratelimit_allow(&s->idle_rl, timefmt_mono_ns(), &suppressed))
		return;
	log_warn("--tcp '%s': closing idle connection from %s: no bytes for %lld ms "
	         "(--idle-timeout %lld ms; %llu idle-closed on this listener, %llu similar "
	         "suppressed)",
	         l->spec, c->peer, (long long)(idle_ns / 1000000),
	         (long long)(s->cfg.idle_timeout_ns / 1000000),
	         (unsigned long long)l->conns.idle_closed, (unsigned long long)suppressed);
}

void source_idle_sweep(struct source *s)
{
	int64_t now;
	unsigned n, max = s->cfg.max_conns;

	if (s->cfg.idle_timeout_ns <= 0 || s->nfree == max)
		return;
	now = timefmt_mono_ns();
	if (now < s->idle_next_ns)
		return;
	s->idle_next_ns = now + s->idle_every_ns;
	for (n = 0; n < max && n < SOURCE_IDLE_SWEEP_MAX; n++) {
		struct source_conn *c = &s->conns[s->idle_cursor];

		s->idle_cursor = s->idle_cursor + 1 < max ? s->idle_cursor + 1 : 0;
		if (c->fd >= 0 && !c->idle_shut && now - c->last_ns >= s->cfg.idle_timeout_ns)
			idle_shut(s, c, now - c->last_ns);
	}
}

void source_batch_end(struct source *s)
{
	const struct source_handler *h = &s->cfg.handler;

	if (s->cfg.busy_poll && s->batch.events == 0) { /* a poll that found nothing */
		int64_t now = timefmt_mono_ns();

		if (now < s->busy_idle_next_ns)
			return;
		s->busy_idle_next_ns = now + SOURCE_BUSY_IDLE_US * 1000LL;
	}
	s->batch.backend = (uint8_t)s->active;
	if (s->batch.events) {
		s->stats.batches++;
		TRADES_PROBE_RECEIVED_STAMPED(s->active, s->batch.events,
		                              s->batch.oldest_kernel ? s->batch.oldest_rx_ns : 0,
		                              s->batch_ns);
	}
	if (h->batch_end)
		h->batch_end(h->ctx, &s->batch);
	memset(&s->batch, 0, sizeof(s->batch));
}

/* ---- the drain at stop ---- */

/* Connections the kernel completed but nobody accepted yet hold data too. */
static void drain_accept(struct source *s, uint16_t i)
{
	unsigned n;

	for (n = 0; n < s->cfg.max_conns + SOURCE_ACCEPT_BURST; n++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int fd = accept4(s->listen[i].fd, (struct sockaddr *)&ss, &len,
		                 SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN)
				source_warn(s, "accept at stop on", s->listen[i].spec, errno);
			return;
		}
		source_conn_new(s, fd, i, (struct sockaddr *)&ss);
	}
}

static void drain_udp(struct source *s, unsigned i)
{
	union {
		struct cmsghdr align;
		char buf[SOURCE_CMSG_SPACE];
	} ctl;
	unsigned n;

	for (n = 0; n < SOURCE_DRAIN_READS * SOURCE_BURST; n++) {
		struct sockaddr_storage from;
		struct iovec iov = {.iov_base = s->rxbuf, .iov_len = SOURCE_BUF_SIZE};
		struct msghdr msg = {
		        .msg_name = &from,
		        .msg_namelen = sizeof(from),
		        .msg_iov = &iov,
		        .msg_iovlen = 1,
		        .msg_control = ctl.buf,
		        .msg_controllen = sizeof(ctl.buf),
		};
		ssize_t r = recvmsg(s->listen[i].fd, &msg, MSG_DONTWAIT);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN) {
				s->stats.errors++;
				source_warn(s, "recvmsg at stop on", s->listen[i].spec, errno);
			}
			return;
		}
		source_udp_input(s, i, s->rxbuf, (size_t)r, &msg);
	}
}

static void drain_conn(struct source *s, struct source_conn *c)
{
	unsigned n;

	for (n = 0; n < SOURCE_DRAIN_READS; n++) {
		ssize_t r = read(c->fd, s->rxbuf, SOURCE_BUF_SIZE);

		if (r > 0) {
			source_tcp_input(s, c, s->rxbuf, (size_t)r);
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno != EAGAIN) {
			s->stats.errors++;
			source_warn(s, "read at stop from", c->peer, errno);
		}
		return;
	}
}

void source_drain(struct source *s)
{
	unsigned i;

	ENSURE(s->conns && s->rxbuf);
	source_batch_begin(s);
	for (i = 0; i < s->nlisten; i++) {
		if (s->listen[i].kind == SOURCE_TCP)
			drain_accept(s, (uint16_t)i);
		else
			drain_udp(s, i);
	}
	source_batch_end(s);
	for (i = 0; i < s->cfg.max_conns; i++) {
		struct source_conn *c = &s->conns[i];

		if (c->fd < 0)
			continue;
		/* one batch per connection keeps a drain batch as small as a loop batch */
		source_batch_begin(s);
		drain_conn(s, c);
		source_conn_close(s, c);
		source_batch_end(s);
	}
}

bool source_io_available(enum source_io io, char *why, size_t len)
{
	switch (io) {
	case SOURCE_IO_URING:
		return source_uring_available(why, len);
	case SOURCE_IO_PCAP:
	case SOURCE_IO_DPDK:
		snprintf(why, len, "%s is not a socket loop (see source.h)", source_io_name(io));
		return false;
	default:
		snprintf(why, len, "%s available", source_io_name(io));
		return true;
	}
}

int source_io_parse(const char *str, enum source_io *io)
{
	if (strcmp(str, "auto") == 0)
		*io = SOURCE_IO_AUTO;
	else if (strcmp(str, "uring") == 0 || strcmp(str, "io_uring") == 0)
		*io = SOURCE_IO_URING;
	else if (strcmp(str, "epoll") == 0)
		*io = SOURCE_IO_EPOLL;
	else
		return -1;
	return 0;
}

const char *source_io_name(enum source_io io)
{
	switch (io) {
	case SOURCE_IO_AUTO:
		return "auto";
	case SOURCE_IO_URING:
		return "uring";
	case SOURCE_IO_EPOLL:
		return "epoll";
	case SOURCE_IO_PCAP:
		return "pcap";
	case SOURCE_IO_DPDK:
		return "dpdk";
	}
	return "?";
}
