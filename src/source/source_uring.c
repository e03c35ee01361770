/* source_uring.c -- the io_uring backend: multishot accept, multishot recv
 * (TCP) and multishot recvmsg (UDP) on provided buffer rings.
 *
 * One request per socket stays armed for as long as the socket lives; the
 * kernel picks a buffer from a ring per completion and we hand it back once
 * the handler has copied what it keeps.
 *
 * Waking: a wake-up per datagram costs both sides (on loopback the sender
 * pays for waking us), so a loop turn drains: it takes every completion
 * that is ready, SOURCE_BURST at a time (buffers handed back and the CQ
 * advanced once per burst), asks the kernel once more for what arrived
 * meanwhile (deferred task work), and ends the batch -- one journal commit
 * -- only when nothing is left or URING_DRAIN_MAX completions were taken.
 * Then it waits.  While traffic is light the wait returns at the first
 * completion (latency).  Once a turn drained at least URING_BUSY_EVENTS
 * completions, the next wait naps URING_NAP_US instead (see uring_wait):
 * datagrams queue meanwhile without a wake-up each, and come as one batch.
 *
 * At stop every armed request is cancelled and its completions are reaped
 * (they may still carry data) before the ring goes away; then source_drain
 * reads what the sockets still hold with plain calls.
 */
#include <errno.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "source_internal.h"
#include "trades/log.h"
#include "trades/timefmt.h"

/* user_data: kind in the top byte, slot index, then the slot's generation */
enum uring_kind { UD_ACCEPT = 1, UD_RECV, UD_RECVMSG, UD_CANCEL };

#define URING_SQ_ENTRIES (SOURCE_BURST * 2) /* rearms of one batch + new conns */
#define URING_CQ_ENTRIES (SOURCE_BUF_COUNT * 8)
#define URING_TCP_BGID   0
#define URING_UDP_BGID   1
/* recvmsg puts io_uring_recvmsg_out, the name and the control bytes ahead of
 * the payload: the buffer is that much longer than the largest datagram */
#define URING_UDP_HDR_ROOM 256
#define URING_UDP_BUF_SIZE (SOURCE_BUF_SIZE + URING_UDP_HDR_ROOM)
/* UDP buffers: every buffer is a 64 KiB slot however small the datagram, and
 * the ring hands them out in turn, so the count is the cache and TLB
 * footprint of the receive path (1024 slots measured 8x the kernel copy
 * cost of epoll's 256).  Two bursts: the kernel can run one burst ahead of
 * the one being processed; beyond that it ends the request with -ENOBUFS
 * (counted, re-armed; the datagrams wait in the socket). */
#define URING_UDP_BUFS    (SOURCE_BURST * 2)
#define URING_RETRY_NS    (SOURCE_WAIT_MS * 1000000LL) /* accept rearm after an error */
#define URING_DRAIN_MAX   (SOURCE_BURST * 8)           /* completions in one batch at most */
#define URING_BUSY_EVENTS 16 /* a turn that drained this many: coalesce the next wait */
#define URING_NAP_US      20 /* the wait after a busy turn */

_Static_assert(URING_DRAIN_MAX <= URING_CQ_ENTRIES, "a drain never needs more than the CQ");
_Static_assert(URING_BUSY_EVENTS <= SOURCE_BURST, "busy is reachable in one burst");

_Static_assert(SOURCE_CONNS_MAX < (1 << 24), "slot index fits 24 bits of user_data");
_Static_assert(sizeof(struct io_uring_recvmsg_out) + sizeof(struct sockaddr_storage) +
                               SOURCE_CMSG_SPACE <=
                       URING_UDP_HDR_ROOM,
               "recvmsg header room");
_Static_assert(URING_UDP_BUFS <= SOURCE_BUF_COUNT, "UDP buffers fit the ring");
_Static_assert((SOURCE_BUF_COUNT * sizeof(struct io_uring_buf)) % 4096 == 0,
               "buffers start page-aligned after the ring");

struct uring_pool {
	struct io_uring_buf_ring *br;
	uint8_t *bufs;
	size_t map_len;
	uint32_t buf_size;
	unsigned count; /* buffers, <= SOURCE_BUF_COUNT (the ring's entries) */
	uint16_t bgid;
	uint16_t nret; /* buffers handed back since the last advance */
};

struct uring {
	struct io_uring ring;
	bool ring_ok;
	bool stopping;         /* no rearms: the requests are being cancelled */
	bool cancel_pending;   /* the cancel-all request has not completed yet */
	unsigned last_drained; /* completions the previous loop turn took */
	unsigned armed;        /* multishot requests not yet terminated */
	struct uring_pool tcp, udp;
	struct msghdr msg;                       /* recvmsg layout: name and control sizes */
	int64_t accept_at_ns[SOURCE_LISTEN_MAX]; /* 0: armed; else rearm at (mono) */
	struct io_uring_cqe *cqes[SOURCE_BURST];
};

static uint64_t ud_make(enum uring_kind kind, uint32_t idx, uint32_t gen)
{
	ENSURE(idx < (1u << 24));
	return (uint64_t)kind << 56 | (uint64_t)idx << 32 | gen;
}

bool source_uring_available(char *why, size_t len)
{
	static const struct {
		int op;
		const char *name;
	} need[] = {
	        {IORING_OP_ACCEPT, "ACCEPT"},
	        {IORING_OP_RECV, "RECV"},
	        {IORING_OP_RECVMSG, "RECVMSG"},
	        {IORING_OP_ASYNC_CANCEL, "ASYNC_CANCEL"},
	};
	struct io_uring_probe *probe;
	struct io_uring ring;
	unsigned i;
	int ret;

	ret = io_uring_queue_init(8, &ring, 0);
	if (ret < 0) {
		/* ENOSYS/EPERM: the syscall exists since 5.1, so a filter said no */
		snprintf(why, len, "io_uring_queue_init: %s%s", strerror(-ret),
		         ret == -ENOSYS || ret == -EPERM
		                 ? " \xe2\x80\x94 a container seccomp profile may block it; see "
		                   "deploy/seccomp-trades.json"
		                 : "");
		return false;
	}
	probe = io_uring_get_probe_ring(&ring);
	io_uring_queue_exit(&ring);
	if (!probe) {
		snprintf(why, len, "io_uring_get_probe_ring failed (kernel older than 5.6)");
		return false;
	}
	for (i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
		if (!io_uring_opcode_supported(probe, need[i].op)) {
			snprintf(why, len, "io_uring lacks IORING_OP_%s", need[i].name);
			io_uring_free_probe(probe);
			return false;
		}
	}
	io_uring_free_probe(probe);
	snprintf(why, len, "io_uring available");
	return true;
}

/* Backs the pool with huge pages where the kernel allows (madvise; a hint)
 * and faults it in now: a first touch per buffer on the receive path costs
 * a page fault in the kernel's copy, and 4 KiB pages over tens of MiB miss
 * the TLB on every datagram. */
static void pool_prefault(struct uring_pool *pool)
{
	size_t off;

	(void)madvise(pool->br, pool->map_len, MADV_HUGEPAGE);
	if (madvise(pool->br, pool->map_len, MADV_POPULATE_WRITE) == 0)
		return;
	for (off = 0; off < pool->map_len; off += 4096) /* before 5.14: by hand */
		((volatile uint8_t *)pool->br)[off] = 0;
}

/* liburing 2.3 has no io_uring_setup_buf_ring: one mapping holds the ring
 * (SOURCE_BUF_COUNT entries, page-aligned as the kernel wants) followed by
 * count buffers; count <= the entries, so the ring never overflows. */
static int pool_setup(struct uring *u, struct uring_pool *pool, uint16_t bgid, uint32_t buf_size,
                      unsigned count)
{
	size_t ring_len = SOURCE_BUF_COUNT * sizeof(struct io_uring_buf);
	struct io_uring_buf_reg reg;
	void *map;
	int ret, mask = io_uring_buf_ring_mask(SOURCE_BUF_COUNT);
	unsigned i;

	ENSURE(count > 0 && count <= SOURCE_BUF_COUNT);
	pool->map_len = ring_len + (size_t)count * buf_size;
	map = mmap(NULL, pool->map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (map == MAP_FAILED) {
		log_error("io_uring buffer ring %u: mmap %zu bytes: %s", bgid, pool->map_len,
		          strerror(errno));
		pool->map_len = 0;
		return -1;
	}
	pool->br = map;
	pool->bufs = (uint8_t *)map + ring_len;
	pool->buf_size = buf_size;
	pool->count = count;
	pool->bgid = bgid;
	pool_prefault(pool);
	io_uring_buf_ring_init(pool->br);
	memset(&reg, 0, sizeof(reg)); /* reg.pad is the later "flags": zero */
	reg.ring_addr = (uint64_t)(uintptr_t)pool->br;
	reg.ring_entries = SOURCE_BUF_COUNT;
	reg.bgid = bgid;
	ret = io_uring_register_buf_ring(&u->ring, &reg, 0);
	if (ret < 0) {
		log_error("io_uring_register_buf_ring %u (%u x %u bytes): %s", bgid, count,
		          buf_size, strerror(-ret));
		return -1;
	}
	for (i = 0; i < count; i++)
		io_uring_buf_ring_add(pool->br, pool->bufs + (size_t)i * buf_size, buf_size,
		                      (unsigned short)i, mask, (int)i);
	io_uring_buf_ring_advance(pool->br, (int)count);
	return 0;
}

static uint8_t *pool_buf(struct uring_pool *pool, unsigned bid)
{
	ENSURE(bid < pool->count);
	return pool->bufs + (size_t)bid * pool->buf_size;
}

/* Hands a buffer back; the kernel sees it at pool_flush (one store per batch). */
static void pool_return(struct uring_pool *pool, unsigned bid)
{
	ENSURE(pool->nret < pool->count);
	io_uring_buf_ring_add(pool->br, pool_buf(pool, bid), pool->buf_size, (unsigned short)bid,
	                      io_uring_buf_ring_mask(SOURCE_BUF_COUNT), pool->nret);
	pool->nret++;
}

static void pool_flush(struct uring_pool *pool)
{
	if (!pool->nret)
		return;
	io_uring_buf_ring_advance(pool->br, pool->nret);
	pool->nret = 0;
}

static int uring_setup(struct source *s, struct uring *u)
{
	struct io_uring_params prm;
	bool tcp = false, udp = false;
	unsigned i;
	int ret;

	memset(&prm, 0, sizeof(prm));
	prm.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
	prm.cq_entries = URING_CQ_ENTRIES;
	ret = io_uring_queue_init_params(URING_SQ_ENTRIES, &u->ring, &prm);
	if (ret == -EINVAL) { /* kernel before 6.1: plain task work */
		memset(&prm, 0, sizeof(prm));
		prm.flags = IORING_SETUP_CQSIZE;
		prm.cq_entries = URING_CQ_ENTRIES;
		ret = io_uring_queue_init_params(URING_SQ_ENTRIES, &u->ring, &prm);
	}
	if (ret < 0) {
		log_error("io_uring_queue_init_params(%d, cq %d): %s", URING_SQ_ENTRIES,
		          URING_CQ_ENTRIES, strerror(-ret));
		return -1;
	}
	u->ring_ok = true;
	for (i = 0; i < s->nlisten; i++) {
		tcp |= s->listen[i].kind == SOURCE_TCP;
		udp |= s->listen[i].kind == SOURCE_UDP;
	}
	/* memory only for the kinds in use */
	if (tcp &&
	    pool_setup(u, &u->tcp, URING_TCP_BGID, SOURCE_TCP_BUF_SIZE, SOURCE_BUF_COUNT) != 0)
		return -1;
	if (udp && pool_setup(u, &u->udp, URING_UDP_BGID, URING_UDP_BUF_SIZE, URING_UDP_BUFS) != 0)
		return -1;
	memset(&u->msg, 0, sizeof(u->msg));
	u->msg.msg_namelen = sizeof(struct sockaddr_storage);
	u->msg.msg_controllen = SOURCE_CMSG_SPACE;
	return 0;
}

static void uring_teardown(struct uring *u)
{
	/* the ring first: the kernel lets go of the buffer rings with it */
	if (u->ring_ok)
		io_uring_queue_exit(&u->ring);
	u->ring_ok = false;
	if (u->tcp.map_len)
		munmap(u->tcp.br, u->tcp.map_len);
	if (u->udp.map_len)
		munmap(u->udp.br, u->udp.map_len);
	u->tcp.map_len = 0;
	u->udp.map_len = 0;
}

/* An SQE, submitting what is queued when the SQ is full.  NULL is fatal:
 * the SQ is sized for a whole batch of rearms. */
static struct io_uring_sqe *uring_sqe(struct uring *u)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);

	if (!sqe) {
		io_uring_submit(&u->ring);
		sqe = io_uring_get_sqe(&u->ring);
	}
	if (!sqe)
		log_error("io_uring: no free SQE after a submit");
	return sqe;
}

static int arm_accept(struct source *s, struct uring *u, unsigned i)
{
	struct io_uring_sqe *sqe = uring_sqe(u);

	if (!sqe)
		return -1;
	/* no address: one buffer would be shared by every completion; the
	 * peer is asked with getpeername when the slot is set up */
	io_uring_prep_multishot_accept(sqe, s->listen[i].fd, NULL, NULL,
	                               SOCK_NONBLOCK | SOCK_CLOEXEC);
	io_uring_sqe_set_data64(sqe, ud_make(UD_ACCEPT, i, 0));
	u->accept_at_ns[i] = 0;
	u->armed++;
	return 0;
}

static int arm_recv(struct source *s, struct uring *u, struct source_conn *c)
{
	struct io_uring_sqe *sqe = uring_sqe(u);

	if (!sqe)
		return -1;
	io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = URING_TCP_BGID;
	io_uring_sqe_set_data64(sqe, ud_make(UD_RECV, (uint32_t)(c - s->conns), c->gen));
	u->armed++;
	return 0;
}

static int arm_recvmsg(struct source *s, struct uring *u, unsigned i)
{
	struct io_uring_sqe *sqe = uring_sqe(u);

	if (!sqe)
		return -1;
	/* MSG_TRUNC: payloadlen reports the datagram's real length */
	io_uring_prep_recvmsg_multishot(sqe, s->listen[i].fd, &u->msg, MSG_TRUNC);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = URING_UDP_BGID;
	io_uring_sqe_set_data64(sqe, ud_make(UD_RECVMSG, i, 0));
	u->armed++;
	return 0;
}

/* Accept requests that ended wait here until their retry time (EMFILE would
 * otherwise complete, rearm and complete again in a tight loop). */
static int arm_accepts_due(struct source *s, struct uring *u)
{
	int64_t now = 0;
	unsigned i;

	for (i = 0; i < s->nlisten; i++) {
		if (!u->accept_at_ns[i])
			continue;
		if (!now)
			now = timefmt_mono_ns();
		if (now >= u->accept_at_ns[i] && arm_accept(s, u, i) != 0)
			return -1;
	}
	return 0;
}

static int accept_cqe(struct source *s, struct uring *u, const struct io_uring_cqe *cqe, unsigned i)
{
	struct source_conn *c;

	ENSURE(i < s->nlisten && s->listen[i].kind == SOURCE_TCP);
	if (cqe->res >= 0) {
		c = source_conn_new(s, cqe->res, (uint16_t)i, NULL);
		/* when stopping, source_drain reads the new connection */
		if (c && !u->stopping && arm_recv(s, u, c) != 0)
			return -1;
	} else if (cqe->res != -ECANCELED) {
		s->stats.errors++;
		source_warn(s, "accept on", s->listen[i].spec, -cqe->res);
	}
	if (cqe->flags & IORING_CQE_F_MORE)
		return 0;
	ENSURE(u->armed > 0);
	u->armed--;
	if (!u->stopping)
		u->accept_at_ns[i] = timefmt_mono_ns() + (cqe->res < 0 ? URING_RETRY_NS : 0) + 1;
	return 0;
}

static int recv_cqe(struct source *s, struct uring *u, const struct io_uring_cqe *cqe, uint32_t idx,
                    uint32_t gen)
{
	struct source_conn *c;
	bool stale;
	int res = cqe->res;

	ENSURE(idx < s->cfg.max_conns);
	c = &s->conns[idx];
	stale = c->fd < 0 || c->gen != gen;
	if (cqe->flags & IORING_CQE_F_BUFFER) {
		unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;

		if (res > 0 && !stale)
			source_tcp_input(s, c, pool_buf(&u->tcp, bid), (size_t)res);
		pool_return(&u->tcp, bid);
	}
	if (cqe->flags & IORING_CQE_F_MORE)
		return 0;
	ENSURE(u->armed > 0);
	u->armed--;
	if (stale || res == -ECANCELED)
		return 0; /* cancelled at stop: the drain reads the rest */
	if (res == 0) {   /* EOF */
		source_conn_close(s, c);
		return 0;
	}
	if (res < 0 && res != -ENOBUFS) {
		s->stats.errors++;
		source_warn(s, "recv from", c->peer, -res);
		source_conn_close(s, c);
		return 0;
	}
	/* -ENOBUFS (the ring ran dry: back-pressure) or the kernel ended the
	 * multishot for its own reasons: rearm; buffers return this batch */
	if (res == -ENOBUFS)
		s->stats.nobufs++;
	return u->stopping ? 0 : arm_recv(s, u, c);
}

static void datagram(struct source *s, struct uring *u, unsigned i, uint8_t *buf, int res)
{
	struct io_uring_recvmsg_out *o = io_uring_recvmsg_validate(buf, res, &u->msg);
	struct msghdr m;

	if (!o) {
		s->stats.errors++;
		return;
	}
	memset(&m, 0, sizeof(m));
	m.msg_name = io_uring_recvmsg_name(o);
	m.msg_namelen = o->namelen <= u->msg.msg_namelen ? o->namelen : 0;
	m.msg_control = (uint8_t *)io_uring_recvmsg_name(o) + u->msg.msg_namelen;
	m.msg_controllen = o->controllen;
	m.msg_flags = (int)o->flags;
	source_udp_input(s, i, io_uring_recvmsg_payload(o, &u->msg),
	                 io_uring_recvmsg_payload_length(o, res, &u->msg), &m);
}

static int recvmsg_cqe(struct source *s, struct uring *u, const struct io_uring_cqe *cqe,
                       unsigned i)
{
	struct source_listen *l = &s->listen[i];

	ENSURE(i < s->nlisten && l->kind == SOURCE_UDP);
	if (cqe->flags & IORING_CQE_F_BUFFER) {
		unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;

		if (cqe->res > 0)
			datagram(s, u, i, pool_buf(&u->udp, bid), cqe->res);
		pool_return(&u->udp, bid);
	}
	if (cqe->flags & IORING_CQE_F_MORE)
		return 0;
	ENSURE(u->armed > 0);
	u->armed--;
	if (cqe->res == -ENOBUFS) {
		s->stats.nobufs++;
	} else if (cqe->res < 0 && cqe->res != -ECANCELED) {
		s->stats.errors++;
		source_warn(s, "recvmsg on", l->spec, -cqe->res);
	}
	return u->stopping ? 0 : arm_recvmsg(s, u, i);
}

static int uring_cqe(struct source *s, struct uring *u, const struct io_uring_cqe *cqe)
{
	uint64_t ud = cqe->user_data;
	uint32_t idx = (uint32_t)(ud >> 32) & 0xffffff;

	switch (ud >> 56) {
	case UD_ACCEPT:
		return accept_cqe(s, u, cqe, idx);
	case UD_RECV:
		return recv_cqe(s, u, cqe, idx, (uint32_t)ud);
	case UD_RECVMSG:
		return recvmsg_cqe(s, u, cqe, idx);
	case UD_CANCEL:
		u->cancel_pending = false;
		return 0;
	}
	/* liburing's internal timeout (kernels without EXT_ARG): nothing to do */
	return 0;
}

/* Submits what is queued and waits up to wait_ms (source_config.wait_ms,
 * <= SOURCE_WAIT_MS) for the first completion when the last turn was light.
 * After a busy turn it naps instead: it asks for a whole burst with a
 * URING_NAP_US timeout, which with DEFER_TASKRUN and one multishot request
 * per socket does not wake per datagram but runs the task work once the
 * timeout hits, posting everything that arrived meanwhile.  A nap that
 * brought nothing makes the next wait a plain one.  Under busy_poll it
 * never sleeps: it submits, runs the task work (which posts what arrived)
 * and returns.  -1 only on an error that makes the ring unusable. */
static int uring_wait(struct uring *u, unsigned wait_ms, bool busy_poll)
{
	struct __kernel_timespec ts = {.tv_sec = 0, .tv_nsec = wait_ms * 1000000LL};
	struct __kernel_timespec nap = {.tv_sec = 0, .tv_nsec = URING_NAP_US * 1000LL};
	struct io_uring_cqe *cqe;
	int ret;

	if (io_uring_cq_ready(&u->ring))
		return 0;              /* a drain stopped at its bound: go on at once */
	if (busy_poll && !u->stopping) /* no sleep: run the task work, post what is there */
		ret = io_uring_submit_and_get_events(&u->ring);
	else if (u->last_drained >= URING_BUSY_EVENTS && !u->stopping)
		ret = io_uring_submit_and_wait_timeout(&u->ring, &cqe, SOURCE_BURST, &nap, NULL);
	else
		ret = io_uring_submit_and_wait_timeout(&u->ring, &cqe, 1, &ts, NULL);
	if (ret >= 0 || ret == -ETIME || ret == -EINTR || ret == -EAGAIN || ret == -EBUSY)
		return 0;
	log_error("io_uring_submit_and_wait_timeout: %s", strerror(-ret));
	return -1;
}

/* Takes up to SOURCE_BURST completions, processes them, returns the buffers
 * and advances the CQ once.  The count taken, or -1 on a fatal error. */
static int uring_burst(struct source *s, struct uring *u)
{
	unsigned n = io_uring_peek_batch_cqe(&u->ring, u->cqes, SOURCE_BURST);
	unsigned i;
	int rc = 0;

	ENSURE(n <= SOURCE_BURST);
	for (i = 0; i < n && rc == 0; i++)
		rc = uring_cqe(s, u, u->cqes[i]);
	pool_flush(&u->tcp);
	pool_flush(&u->udp);
	io_uring_cq_advance(&u->ring, n);
	return rc ? -1 : (int)n;
}

/* One batch: drains what is ready, bursts at a time, asking the kernel for
 * more (its deferred task work) while bursts come back non-empty, up to
 * URING_DRAIN_MAX; then ends the batch once (one commit).  -1 on a fatal
 * error. */
static int uring_batch(struct source *s, struct uring *u)
{
	unsigned total = 0;
	int n = 0;

	if (io_uring_cq_ready(&u->ring))
		source_batch_begin(s);
	while (io_uring_cq_ready(&u->ring) && total < URING_DRAIN_MAX) {
		n = uring_burst(s, u);
		if (n < 0)
			break;
		total += (unsigned)n;
		/* busy: one more look (it posts what came meanwhile); a light
		 * turn commits at once instead */
		if (!io_uring_cq_ready(&u->ring) && total >= URING_BUSY_EVENTS &&
		    total < URING_DRAIN_MAX && !u->stopping)
			io_uring_get_events(&u->ring);
	}
	u->last_drained = total;
	/* also when idle: deadlines and a journal interval policy run there */
	source_batch_end(s);
	return n < 0 ? -1 : 0;
}

static int uring_loop(struct source *s, struct uring *u)
{
	for (;;) { /* the service's main loop: unbounded by design, ends when *stop is set */
		if (*s->cfg.stop)
			return 0;
		if (arm_accepts_due(s, u) != 0 ||
		    uring_wait(u, s->cfg.wait_ms, s->cfg.busy_poll) != 0 || uring_batch(s, u) != 0)
			return -1;
		source_idle_sweep(s);
	}
}

/* Cancels every armed request and reaps until each has posted its last
 * completion, so no received buffer is lost when the ring goes away. */
static void uring_stop(struct source *s, struct uring *u)
{
	struct io_uring_sqe *sqe;
	unsigned round;

	u->stopping = true;
	sqe = uring_sqe(u);
	if (!sqe)
		return;
	io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
	io_uring_sqe_set_data64(sqe, ud_make(UD_CANCEL, 0, 0));
	u->cancel_pending = true;
	for (round = 0; round < SOURCE_STOP_ROUNDS && (u->armed || u->cancel_pending); round++) {
		if (uring_wait(u, s->cfg.wait_ms, s->cfg.busy_poll) != 0 || uring_batch(s, u) != 0)
			break;
	}
	if (u->armed || u->cancel_pending)
		log_warn("io_uring: %u requests still armed after %d ms at stop: draining anyway",
		         u->armed, SOURCE_STOP_ROUNDS * SOURCE_WAIT_MS);
}

int source_uring_run(struct source *s)
{
	struct uring *u;
	unsigned i;
	int rc = 0;

	ENSURE(s->conns && !s->backend);
	u = calloc(1, sizeof(*u));
	if (!u) {
		log_error("io_uring backend: %zu bytes: %s", sizeof(*u), strerror(ENOMEM));
		return 1;
	}
	if (uring_setup(s, u) != 0) {
		uring_teardown(u);
		free(u);
		return 1;
	}
	s->backend = u;
	for (i = 0; i < s->nlisten && rc == 0; i++) {
		if (s->listen[i].kind == SOURCE_TCP)
			u->accept_at_ns[i] = 1; /* due at once */
		else
			rc = arm_recvmsg(s, u, i);
	}
	if (rc == 0)
		rc = uring_loop(s, u);
	if (rc == 0)
		uring_stop(s, u);
	uring_teardown(u);
	free(u);
	s->backend = NULL;
	source_drain(s);
	return rc;
}
