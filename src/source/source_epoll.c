/* source_epoll.c -- the fallback backend: level-triggered epoll, accept4,
 * read (TCP) and recvmmsg (UDP).
 *
 * Used where io_uring is refused (a default container seccomp profile) or
 * asked for with --io epoll.  Each event gets a bounded amount of work
 * (SOURCE_ACCEPT_BURST accepts, SOURCE_READS_PER_EVENT reads or recvmmsg
 * calls) so a busy socket cannot starve the others; level triggering brings
 * it back in the next batch.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "source_internal.h"
#include "trades/log.h"

/* epoll_event.data: kind in the top byte, slot index, slot generation */
enum ep_kind { EP_LISTEN = 1, EP_CONN };

union ep_cmsg {
	struct cmsghdr align;
	char buf[SOURCE_CMSG_SPACE];
};

struct ep {
	int epfd;
	struct epoll_event ev[SOURCE_BURST];
	/* UDP only: SOURCE_BURST datagrams per recvmmsg */
	uint8_t *bufs;
	struct mmsghdr *mm;
	struct iovec *iov;
	struct sockaddr_storage *names;
	union ep_cmsg *ctl;
};

static uint64_t ep_data(enum ep_kind kind, uint32_t idx, uint32_t gen)
{
	ENSURE(idx < (1u << 24));
	return (uint64_t)kind << 56 | (uint64_t)idx << 32 | gen;
}

static int ep_add(struct ep *e, int fd, uint64_t data)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = data};

	return epoll_ctl(e->epfd, EPOLL_CTL_ADD, fd, &ev);
}

static void ep_free(struct ep *e)
{
	if (e->epfd >= 0)
		close(e->epfd);
	free(e->bufs);
	free(e->mm);
	free(e->iov);
	free(e->names);
	free(e->ctl);
	free(e);
}

static int ep_setup(struct source *s, struct ep *e)
{
	bool udp = false;
	unsigned i;

	e->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (e->epfd < 0) {
		log_error("epoll_create1: %s", strerror(errno));
		return -1;
	}
	for (i = 0; i < s->nlisten; i++) {
		udp |= s->listen[i].kind == SOURCE_UDP;
		if (ep_add(e, s->listen[i].fd, ep_data(EP_LISTEN, i, 0)) != 0) {
			log_error("epoll_ctl add '%s': %s", s->listen[i].spec, strerror(errno));
			return -1;
		}
	}
	if (!udp)
		return 0;
	e->bufs = malloc((size_t)SOURCE_BURST * SOURCE_BUF_SIZE);
	e->mm = calloc(SOURCE_BURST, sizeof(*e->mm));
	e->iov = calloc(SOURCE_BURST, sizeof(*e->iov));
	e->names = calloc(SOURCE_BURST, sizeof(*e->names));
	e->ctl = calloc(SOURCE_BURST, sizeof(*e->ctl));
	if (!e->bufs || !e->mm || !e->iov || !e->names || !e->ctl) {
		log_error("epoll backend: %d UDP buffers of %d bytes: %s", SOURCE_BURST,
		          SOURCE_BUF_SIZE, strerror(ENOMEM));
		return -1;
	}
	for (i = 0; i < SOURCE_BURST; i++) {
		e->iov[i].iov_base = e->bufs + (size_t)i * SOURCE_BUF_SIZE;
		e->iov[i].iov_len = SOURCE_BUF_SIZE;
		e->mm[i].msg_hdr.msg_iov = &e->iov[i];
		e->mm[i].msg_hdr.msg_iovlen = 1;
		e->mm[i].msg_hdr.msg_name = &e->names[i];
		e->mm[i].msg_hdr.msg_control = e->ctl[i].buf;
	}
	return 0;
}

static void ep_accept(struct source *s, struct ep *e, unsigned i)
{
	struct source_listen *l = &s->listen[i];
	unsigned n;

	for (n = 0; n < SOURCE_ACCEPT_BURST; n++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		struct source_conn *c;
		int fd = accept4(l->fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN) { /* EMFILE: level triggering retries */
				s->stats.errors++;
				source_warn(s, "accept on", l->spec, errno);
			}
			return;
		}
		c = source_conn_new(s, fd, (uint16_t)i, (struct sockaddr *)&ss);
		if (c && ep_add(e, fd, ep_data(EP_CONN, (uint32_t)(c - s->conns), c->gen)) != 0) {
			s->stats.errors++;
			source_warn(s, "epoll_ctl add", c->peer, errno);
			source_conn_close(s, c);
		}
	}
}

/* Short read: the socket is (nearly) empty; level triggering reports the
 * rest, and EOF, in a later batch. */
static void ep_read(struct source *s, struct source_conn *c)
{
	unsigned n;

	for (n = 0; n < SOURCE_READS_PER_EVENT; n++) {
		ssize_t r = read(c->fd, s->rxbuf, SOURCE_BUF_SIZE);

		if (r > 0) {
			source_tcp_input(s, c, s->rxbuf, (size_t)r);
			if (r < SOURCE_BUF_SIZE)
				return;
			continue;
		}
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (r < 0) {
			s->stats.errors++;
			source_warn(s, "read from", c->peer, errno);
		}
		source_conn_close(s, c); /* closing removes it from the epoll set */
		return;
	}
}

static void ep_recv(struct source *s, struct ep *e, unsigned li)
{
	const struct source_listen *l = &s->listen[li];
	unsigned round;
	int i, n;

	for (round = 0; round < SOURCE_READS_PER_EVENT; round++) {
		/* recvmmsg overwrote the lengths: reset them all */
		for (i = 0; i < SOURCE_BURST; i++) {
			e->mm[i].msg_hdr.msg_namelen = sizeof(e->names[i]);
			e->mm[i].msg_hdr.msg_controllen = sizeof(e->ctl[i].buf);
			e->mm[i].msg_hdr.msg_flags = 0;
		}
		n = recvmmsg(l->fd, e->mm, SOURCE_BURST, MSG_DONTWAIT, NULL);
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR) {
				s->stats.errors++;
				source_warn(s, "recvmmsg on", l->spec, errno);
			}
			return;
		}
		for (i = 0; i < n; i++)
			source_udp_input(s, li, e->iov[i].iov_base, e->mm[i].msg_len,
			                 &e->mm[i].msg_hdr);
		if (n < SOURCE_BURST)
			return;
	}
}

static void ep_event(struct source *s, struct ep *e, uint64_t data)
{
	uint32_t idx = (uint32_t)(data >> 32) & 0xffffff;
	struct source_conn *c;

	if (data >> 56 == EP_LISTEN) {
		ENSURE(idx < s->nlisten);
		if (s->listen[idx].kind == SOURCE_TCP)
			ep_accept(s, e, idx);
		else
			ep_recv(s, e, idx);
		return;
	}
	ENSURE(data >> 56 == EP_CONN && idx < s->cfg.max_conns);
	c = &s->conns[idx];
	if (c->fd >= 0 && c->gen == (uint32_t)data)
		ep_read(s, c);
}

int source_epoll_run(struct source *s)
{
	struct ep *e;
	int i, n, rc = 0;

	ENSURE(s->conns && !s->backend);
	e = calloc(1, sizeof(*e));
	if (!e) {
		log_error("epoll backend: %zu bytes: %s", sizeof(*e), strerror(ENOMEM));
		return -1;
	}
	e->epfd = -1;
	if (ep_setup(s, e) != 0) {
		ep_free(e);
		return -1;
	}
	s->backend = e;
	for (;;) { /* the service's main loop: unbounded by design, ends when *stop is set */
		if (*s->cfg.stop)
			break;
		n = epoll_wait(e->epfd, e->ev, SOURCE_BURST,
		               s->cfg.busy_poll ? 0 : (int)s->cfg.wait_ms);
		if (n < 0 && errno != EINTR) {
			log_error("epoll_wait: %s", strerror(errno));
			rc = -1;
			break;
		}
		if (n > 0) {
			source_batch_begin(s);
			for (i = 0; i < n; i++)
				ep_event(s, e, e->ev[i].data.u64);
		}
		/* also when idle: deadlines and a journal interval policy run there */
		source_batch_end(s);
		source_idle_sweep(s);
	}
	s->backend = NULL;
	ep_free(e);
	source_drain(s);
	return rc;
}
