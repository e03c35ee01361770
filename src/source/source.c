/* source.c -- listener specs, sockets, the connection table, the drain at
 * stop and the choice of backend (source_uring.c, source_epoll.c).
 *
 * Everything that both backends do the same way lives here, so that the two
 * loops differ only in how they learn that a socket has bytes.
 */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "trades/decoder.h"
#include "trades/log.h"
#include "trades/pipeline.h"
#include "trades/probe.h"
#include "trades/source.h"

#define SOURCE_BACKLOG  1024
#define SOURCE_OPTS_MAX 8 /* ",opt" parts in one spec */

_Static_assert(SOURCE_CONNS_DEFAULT <= SOURCE_CONNS_MAX, "default table fits the maximum");
_Static_assert(SOURCE_LISTEN_MAX <= UINT16_MAX, "listener index is 16 bits");

static const char *kind_flag(enum source_kind kind)
{
	return kind == SOURCE_TCP ? "--tcp" : "--udp";
}

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int64_t source_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Digits only: strtoul alone would take " 80", "+80" and "-1". */
static const char *parse_port(const char *s, uint16_t *port)
{
	unsigned long v;
	char *end;

	if (s[0] < '0' || s[0] > '9')
		return "port is not a number";
	errno = 0;
	v = strtoul(s, &end, 10);
	if (*end != '\0')
		return "port is not a number";
	if (errno == ERANGE || v > 65535)
		return "port out of range";
	*port = (uint16_t)v;
	return NULL;
}

/* "HOST:PORT" into addr; no name lookups ("localhost" is the one name). */
static const char *parse_addr(char *a, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	const char *why;
	char *host = a, *colon;
	uint16_t port;

	memset(ss, 0, sizeof(*ss));
	if (a[0] == '[') {
		char *close = strchr(a, ']');

		if (!close || close[1] != ':')
			return "expected [IPV6]:PORT";
		*close = '\0';
		host = a + 1;
		colon = close + 1;
		if (inet_pton(AF_INET6, host, &in6->sin6_addr) != 1)
			return "bad IPv6 address";
		why = parse_port(colon + 1, &port);
		if (why)
			return why;
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		*len = sizeof(*in6);
		return NULL;
	}
	colon = strrchr(a, ':');
	if (!colon)
		return "expected HOST:PORT";
	*colon = '\0';
	if (strchr(host, ':'))
		return "an IPv6 address needs brackets: [::1]:PORT";
	why = parse_port(colon + 1, &port);
	if (why)
		return why;
	if (host[0] == '\0' || strcmp(host, "*") == 0)
		in4->sin_addr.s_addr = htonl(INADDR_ANY);
	else if (strcmp(host, "localhost") == 0)
		in4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	else if (inet_pton(AF_INET, host, &in4->sin_addr) != 1)
		return "bad IPv4 address (no name lookups: use dotted digits)";
	in4->sin_family = AF_INET;
	in4->sin_port = htons(port);
	*len = sizeof(*in4);
	return NULL;
}

/* The ",opt" parts after the address: feed=NAME, and iface=IPV4 (the local
 * interface address a multicast group is joined on). */
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
		if (strncmp(opts, "feed=", 5) != 0)
			return "unknown option (feed=NAME, iface=IPV4)";
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

int source_add(struct source *s, enum source_kind kind, enum decoder_format fmt, const char *spec,
               char *err, size_t errlen)
{
	struct source_listen *l;
	char buf[sizeof(l->spec)];
	const char *why = NULL;
	char *opts;

	assert(s && spec && err);
	assert(kind == SOURCE_TCP || kind == SOURCE_UDP);
	if (s->nlisten >= SOURCE_LISTEN_MAX) {
		snprintf(err, errlen, "bad %s '%s': too many listeners (at most %d)",
		         kind_flag(kind), spec, SOURCE_LISTEN_MAX);
		return -1;
	}
	l = &s->listen[s->nlisten];
	memset(l, 0, sizeof(*l));
	if (strlen(spec) >= sizeof(buf))
		why = "too long";
	else
		strcpy(buf, spec);
	opts = why ? NULL : strchr(buf, ',');
	if (opts)
		*opts++ = '\0';
	if (!why)
		why = parse_opts(opts, l);
	/* the default feed names the address part, before parse_addr cuts it */
	if (!why && l->feed_name[0] == '\0' &&
	    snprintf(l->feed_name, sizeof(l->feed_name), "%s:%s",
	             kind == SOURCE_TCP ? "tcp" : "udp", buf) >= (int)sizeof(l->feed_name))
		why = "address too long for a feed name (give feed=NAME)";
	if (!why) {
		strcpy(l->spec, buf);
		why = parse_addr(buf, &l->addr, &l->addrlen);
	}
	if (why) {
		snprintf(err, errlen, "bad %s '%s': %s", kind_flag(kind), spec, why);
		return -1;
	}
	l->kind = kind;
	l->format = fmt;
	l->fd = -1;
	s->nlisten++;
	return 0;
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

/* Socket, options, bind, listen, bound port.  Errors name spec, step, errno. */
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
	return 0;
fail:
	snprintf(err, errlen, "%s '%s': %s: %s", kind_flag(l->kind), l->spec, step,
	         strerror(errno));
	return -1;
}

static int open_listeners(struct source *s, char *err, size_t errlen)
{
	unsigned i, nudp = 0;

	for (i = 0; i < s->nlisten; i++) {
		struct source_listen *l = &s->listen[i];
		char peer[DECODER_PEER_MAX];
		int feed;

		if (open_socket(s, l, err, errlen) != 0)
			return -1;
		feed = pipeline_feed(s->pipe, l->feed_name);
		if (feed < 0) {
			snprintf(err, errlen, "%s '%s': feed '%s' not registered (table full?)",
			         kind_flag(l->kind), l->spec, l->feed_name);
			return -1;
		}
		l->feed = (uint16_t)feed;
		if (l->kind != SOURCE_UDP)
			continue;
		l->dec = &s->udp_dec[nudp++];
		/* a long spec is cut: the peer is a label for logs */
		snprintf(peer, sizeof(peer), "udp:%.*s", (int)sizeof(peer) - 5, l->spec);
		decoder_init(l->dec, s->pipe, l->format, true, l->feed, peer);
	}
	return 0;
}

static int alloc_tables(struct source *s, char *err, size_t errlen)
{
	unsigned i;

	s->conns = calloc(s->cfg.max_conns, sizeof(*s->conns));
	s->conn_free = calloc(s->cfg.max_conns, sizeof(*s->conn_free));
	s->udp_dec = calloc(s->nlisten ? s->nlisten : 1, sizeof(*s->udp_dec));
	s->rxbuf = malloc(SOURCE_BUF_SIZE);
	if (!s->conns || !s->conn_free || !s->udp_dec || !s->rxbuf) {
		snprintf(err, errlen, "source: %u connection slots: %s", s->cfg.max_conns,
		         strerror(ENOMEM));
		return -1;
	}
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
	if (s->cfg.io == SOURCE_IO_URING) {
		snprintf(err, errlen, "--io uring: io_uring unavailable (%s)", why);
		return -1;
	}
	s->active = SOURCE_IO_EPOLL;
	snprintf(s->fallback_why, sizeof(s->fallback_why), "%s", why);
	log_info("io_uring unavailable (%s): using epoll", why);
	return 0;
}

int source_open(struct source *s, struct pipeline *p, const struct source_config *cfg, char *err,
                size_t errlen)
{
	assert(s && p && cfg && err);
	assert(cfg->stop);
	assert(!s->conns && !s->backend);
	s->pipe = p;
	s->cfg = *cfg;
	if (s->cfg.max_conns == 0)
		s->cfg.max_conns = SOURCE_CONNS_DEFAULT;
	if (s->cfg.rcvbuf_bytes == 0)
		s->cfg.rcvbuf_bytes = SOURCE_RCVBUF_DEFAULT;
	if (s->cfg.max_conns > SOURCE_CONNS_MAX) {
		snprintf(err, errlen, "max connections %u: more than %d", s->cfg.max_conns,
		         SOURCE_CONNS_MAX);
		return -1;
	}
	s->reject_rl = (struct ratelimit)RATELIMIT_INIT(10, 5);
	s->error_rl = (struct ratelimit)RATELIMIT_INIT(10, 10);
	memset(&s->stats, 0, sizeof(s->stats));
	if (alloc_tables(s, err, errlen) != 0 || open_listeners(s, err, errlen) != 0 ||
	    pick_backend(s, err, errlen) != 0) {
		source_close(s);
		return -1;
	}
	return 0;
}

int source_run(struct source *s)
{
	int rc;

	assert(s->conns);
	if (s->active == SOURCE_IO_EPOLL)
		return source_epoll_run(s);
	assert(s->active == SOURCE_IO_URING);
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

	assert(s);
	assert(!s->backend); /* the backends tear down at the end of their run */
	for (i = 0; s->conns && i < s->cfg.max_conns; i++) {
		if (s->conns[i].fd >= 0)
			close(s->conns[i].fd);
		s->conns[i].fd = -1;
	}
	for (i = 0; i < s->nlisten; i++) {
		if (s->listen[i].fd >= 0)
			close(s->listen[i].fd);
		s->listen[i].fd = -1;
		s->listen[i].dec = NULL;
	}
	free(s->conns);
	free(s->conn_free);
	free(s->udp_dec);
	free(s->rxbuf);
	s->conns = NULL;
	s->conn_free = NULL;
	s->udp_dec = NULL;
	s->rxbuf = NULL;
	s->nfree = 0;
}

static void warn_limited(struct ratelimit *rl, const char *what, const char *who, const char *why)
{
	uint64_t suppressed = 0;

	if (!ratelimit_allow(rl, mono_ns(), &suppressed))
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

struct source_conn *source_conn_new(struct source *s, int fd, uint16_t listen,
                                    const struct sockaddr *peer)
{
	const struct source_listen *l = &s->listen[listen];
	struct sockaddr_storage ss;
	char name[DECODER_PEER_MAX];
	struct source_conn *c;

	assert(fd >= 0);
	assert(listen < s->nlisten && l->kind == SOURCE_TCP);
	if (s->nfree == 0) {
		close(fd);
		s->stats.conns_rejected++;
		warn_limited(&s->reject_rl, "--tcp", l->spec,
		             "connection table full: closed a new connection (raise the limit)");
		return NULL;
	}
	c = &s->conns[s->conn_free[--s->nfree]];
	assert(c->fd == -1);
	if (!peer) {
		socklen_t len = sizeof(ss);

		memset(&ss, 0, sizeof(ss));
		if (getpeername(fd, (struct sockaddr *)&ss, &len) == 0)
			peer = (const struct sockaddr *)&ss;
	}
	if (peer)
		decoder_addr_str(peer, name, sizeof(name));
	else
		snprintf(name, sizeof(name), "unknown peer on %.*s", (int)sizeof(name) - 17,
		         l->spec);
	c->fd = fd;
	c->gen++;
	c->listen = listen;
	decoder_init(&c->dec, s->pipe, l->format, false, l->feed, name);
	s->stats.conns_accepted++;
	return c;
}

void source_conn_close(struct source *s, struct source_conn *c)
{
	uint32_t idx = (uint32_t)(c - s->conns);

	assert(idx < s->cfg.max_conns);
	assert(c->fd >= 0);
	assert(s->nfree < s->cfg.max_conns);
	decoder_end(&c->dec);
	close(c->fd);
	c->fd = -1;
	s->conn_free[s->nfree++] = idx;
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

void source_tcp_input(struct source *s, struct source_conn *c, const void *buf, size_t len,
                      int64_t batch_ns)
{
	assert(c->fd >= 0);
	assert(len > 0 && len <= SOURCE_BUF_SIZE);
	decoder_input(&c->dec, buf, len, batch_ns, false, NULL);
	s->stats.bytes += len;
	s->stats.reads++;
}

void source_udp_input(struct source *s, struct source_listen *l, const void *buf, size_t len,
                      struct msghdr *msg, int64_t batch_ns)
{
	bool kernel;
	int64_t ns;

	assert(l->kind == SOURCE_UDP && l->dec);
	if (msg->msg_flags & MSG_TRUNC) {
		/* half a datagram would decode as garbage or, worse, as a valid prefix */
		s->stats.truncated++;
		TRADES_PROBE_DROP(l->feed, "truncated");
		return;
	}
	ns = source_rx_stamp(msg, &kernel);
	if (!kernel)
		ns = batch_ns;
	TRADES_PROBE_RX_STAMP(ns, kernel);
	decoder_input(l->dec, buf, len, ns, kernel,
	              msg->msg_namelen ? (const struct sockaddr *)msg->msg_name : NULL);
	s->stats.datagrams++;
	s->stats.bytes += len;
}

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

static void drain_udp(struct source *s, struct source_listen *l, int64_t now_ns)
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
		ssize_t r = recvmsg(l->fd, &msg, MSG_DONTWAIT);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN) {
				s->stats.errors++;
				source_warn(s, "recvmsg at stop on", l->spec, errno);
			}
			return;
		}
		source_udp_input(s, l, s->rxbuf, (size_t)r, &msg, now_ns);
	}
}

static void drain_conn(struct source *s, struct source_conn *c, int64_t now_ns)
{
	unsigned n;

	for (n = 0; n < SOURCE_DRAIN_READS; n++) {
		ssize_t r = read(c->fd, s->rxbuf, SOURCE_BUF_SIZE);

		if (r > 0) {
			source_tcp_input(s, c, s->rxbuf, (size_t)r, now_ns);
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno != EAGAIN) {
			s->stats.errors++;
			source_warn(s, "read at stop from", c->dec.peer, errno);
		}
		return;
	}
}

void source_drain(struct source *s)
{
	int64_t now_ns = source_now_ns();
	unsigned i;

	assert(s->conns && s->rxbuf);
	for (i = 0; i < s->nlisten; i++) {
		if (s->listen[i].kind == SOURCE_TCP)
			drain_accept(s, (uint16_t)i);
		else
			drain_udp(s, &s->listen[i], now_ns);
	}
	pipeline_commit(s->pipe);
	for (i = 0; i < s->cfg.max_conns; i++) {
		struct source_conn *c = &s->conns[i];

		if (c->fd < 0)
			continue;
		drain_conn(s, c, now_ns);
		source_conn_close(s, c);
		/* one commit per connection keeps a drain batch as small as a loop batch */
		pipeline_commit(s->pipe);
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
	}
	return "?";
}
