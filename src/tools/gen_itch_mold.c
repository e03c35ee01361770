/* gen_itch_mold.c -- ITCH messages into MoldUDP64 packets, out to a pcap
 * file and to UDP lines A and B, with fault injection and a re-request
 * server.
 *
 * Packets are filled up to the MTU (payload <= mtu - 28, the IPv4 and UDP
 * headers) and numbered from seq 1.  Data packet i (0-based) then goes
 * through each line's faults, in this order:
 *   drop     line A: (i + 1) % drop_every == 0; line B: the same with its own
 *            period and half a period later, so A and B miss different
 *            packets (with different periods they sometimes miss the same);
 *            line A also at random, loss_ppm per million (splitmix64 from
 *            the seed: the same packets for the same arguments)
 *   reorder  (i + 1) % reorder_every == 0: held and sent after packet i + 1
 *   dup      (i + 1) % dup_every == 0: sent twice in a row
 * The pcap file records line A exactly as sent (it is deterministic: its
 * times come from the ITCH timestamps).  After the last data packet every
 * line gets an end-of-session packet (count 0xFFFF, the next seq), then the
 * re-request server keeps answering for linger_ms, repeating end of session
 * every GM_EOS_EVERY_MS on the UDP lines.
 *
 * The re-request server keeps every data packet's message blocks (up to
 * store_bytes, then it stops keeping and says so) and answers a request
 * (session, seq, count) with the messages [seq, seq + count) it holds, in
 * packets up to the MTU, at most GM_ANSWER_PACKETS per request.
 */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "gen_itch.h"
#include "trades/addr.h"

#define GM_HDR            20 /* MoldUDP64 downstream header */
#define GM_IP_UDP         28 /* IPv4 + UDP headers */
#define GM_ETH            14
#define GM_PAYLOAD_MAX    65507u    /* largest IPv4 UDP payload */
#define GM_BATCH          64u       /* datagrams per sendmmsg */
#define GM_ANSWER_PACKETS 64u       /* packets per answered request */
#define GM_REQ_BURST      64u       /* requests read per poll */
#define GM_REQ_RCVBUF     (4 << 20) /* request socket buffer, bytes */
#define GM_EOS_EVERY_MS   100
#define GM_SEND_RETRIES   10000u        /* ENOBUFS/EINTR retries without progress */
#define GM_DAY_EPOCH      1735776000ull /* 2025-01-02T00:00:00Z: pcap times */
#define GM_PCAP_DST       "233.54.12.111"
#define GM_PCAP_PORT      26477

_Static_assert(GM_PAYLOAD_MAX + GM_IP_UDP <= 65535, "an IPv4 packet");

struct gm_line {
	const char *name; /* "A" or "B" */
	int fd;           /* -1: no UDP (line A may be pcap only) */
	struct sockaddr_storage addr;
	socklen_t alen;
	uint64_t drop_every, phase;
	uint64_t loss_ppm, rng; /* random loss (line A), splitmix64 state */
	uint8_t *bufs;          /* GM_BATCH datagrams of slot bytes */
	size_t slot;            /* payload_max */
	size_t lens[GM_BATCH];
	unsigned n;
	uint8_t *hold; /* a packet held back (reorder) */
	size_t hold_len;
	bool held;
	uint64_t sent, dropped, dups, reordered, send_errors;
};

struct gm_stored {
	uint64_t first; /* seq of its first message */
	uint64_t off;   /* message blocks at store + off */
	uint32_t len;
	uint16_t count;
};

struct gi_mold {
	struct gi_mold_config cfg;
	size_t payload_max;
	uint8_t *pkt; /* packet being filled */
	uint8_t *ans; /* re-request answer being filled */
	size_t len;
	uint16_t count;
	uint64_t next_seq; /* seq of the next message */
	uint64_t npackets; /* data packets made */
	uint64_t messages;
	uint64_t last_ts; /* ITCH ts of the last message */
	struct gm_line a, b;
	bool have_b;
	FILE *pcap;
	uint32_t pcap_dst_ip; /* network order */
	uint16_t pcap_dst_port;
	uint64_t pcap_packets;
	int64_t t0; /* pacing origin */
	/* re-request server */
	int rfd;
	uint8_t *store;
	uint64_t store_len;
	struct gm_stored *idx;
	uint64_t nidx, idx_cap;
	bool store_full;
	uint64_t requests, bad_requests, unanswerable, answer_packets, answer_messages;
	uint64_t answer_errors;
};

static int64_t gm_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void gm_sleep_until(int64_t t)
{
	struct timespec ts = {(time_t)(t / 1000000000LL), (long)(t % 1000000000LL)};

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static void gm_put(uint8_t *p, uint64_t v, unsigned bytes)
{
	for (unsigned i = 0; i < bytes; i++)
		p[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
}

static uint64_t gm_get(const uint8_t *p, unsigned bytes)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < bytes; i++)
		v = v << 8 | p[i];
	return v;
}

/* HOST:PORT by the one grammar (addr.h; port 1..65535, no name lookups).
 * 0, or -1 after a message. */
static int gm_resolve(const char *opt, const char *spec, struct sockaddr_storage *ss,
                      socklen_t *len)
{
	char err[192];

	if (addr_parse(spec, strlen(spec), false, ss, len, err, sizeof(err)) == 0)
		return 0;
	fprintf(stderr, GI_PROG ": --%s %s\n", opt, err);
	return -1;
}

static int gm_line_open(struct gi_mold *g, struct gm_line *l, const char *name, const char *spec,
                        uint64_t drop_every, uint64_t phase)
{
	l->name = name;
	l->fd = -1;
	l->drop_every = drop_every;
	l->phase = phase;
	l->slot = g->payload_max;
	l->bufs = malloc(GM_BATCH * g->payload_max);
	l->hold = malloc(g->payload_max);
	if (!l->bufs || !l->hold) {
		fprintf(stderr, GI_PROG ": line %s: %s\n", name, strerror(ENOMEM));
		return -1;
	}
	if (!spec)
		return 0;
	if (gm_resolve(name[0] == 'A' ? "udp" : "udp-b", spec, &l->addr, &l->alen) < 0)
		return -1;
	l->fd = socket(l->addr.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (l->fd < 0) {
		fprintf(stderr, GI_PROG ": line %s %s: socket: %s\n", name, spec, strerror(errno));
		return -1;
	}
	return 0;
}

/* sendmmsg the batch; ENOBUFS/EINTR are retried a bounded number of times,
 * other errors are counted and the rest of the batch is dropped. */
static void gm_line_flush(struct gm_line *l)
{
	struct mmsghdr msgs[GM_BATCH];
	struct iovec iov[GM_BATCH];
	unsigned done = 0, tries = 0;

	if (l->fd < 0 || l->n == 0) {
		l->n = 0;
		return;
	}
	memset(msgs, 0, sizeof(msgs));
	for (unsigned i = 0; i < l->n; i++) {
		iov[i].iov_base = l->bufs + i * l->slot;
		iov[i].iov_len = l->lens[i];
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
		msgs[i].msg_hdr.msg_name = &l->addr;
		msgs[i].msg_hdr.msg_namelen = l->alen;
	}
	while (done < l->n && tries < GM_SEND_RETRIES) {
		int rc = sendmmsg(l->fd, msgs + done, l->n - done, 0);

		if (rc > 0) {
			done += (unsigned)rc;
			l->sent += (unsigned)rc;
			tries = 0;
		} else if (errno == ENOBUFS || errno == EAGAIN || errno == EINTR) {
			tries++;
			gm_sleep_until(gm_now() + 100000);
		} else {
			l->send_errors += l->n - done;
			break;
		}
	}
	l->n = 0;
}

/* ---- pcap: classic format, microseconds, Ethernet ---- */

static void gm_le(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static int gm_pcap_open(struct gi_mold *g, const char *path)
{
	uint8_t h[24] = {0};

	g->pcap = fopen(path, "wb");
	if (!g->pcap) {
		fprintf(stderr, GI_PROG ": --pcap %s: open: %s\n", path, strerror(errno));
		return -1;
	}
	gm_le(h, 0xa1b2c3d4); /* magic: microsecond times */
	h[4] = 2;             /* version 2.4 */
	h[6] = 4;
	gm_le(h + 16, 65535); /* snaplen */
	gm_le(h + 20, 1);     /* LINKTYPE_ETHERNET */
	fwrite(h, 1, sizeof(h), g->pcap);
	return 0;
}

static uint16_t gm_ip_csum(const uint8_t *p, size_t len)
{
	uint32_t sum = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* One datagram as Ethernet/IPv4/UDP (UDP checksum 0: optional in IPv4). */
static void gm_pcap_write(struct gi_mold *g, const uint8_t *pl, size_t len, uint64_t ts_ns)
{
	uint8_t f[GM_ETH + GM_IP_UDP + 16], rec[16];
	uint8_t *ip = f + GM_ETH, *udp = ip + 20;
	uint32_t dst = ntohl(g->pcap_dst_ip);
	uint64_t t = GM_DAY_EPOCH * 1000000ull + ts_ns / 1000;

	memset(f, 0, sizeof(f));
	if ((dst >> 28) == 14) { /* 224/4: the multicast MAC of the group */
		uint8_t mc[6] = {
		        0x01,        0x00, 0x5e, (uint8_t)(dst >> 16 & 0x7f), (uint8_t)(dst >> 8),
		        (uint8_t)dst};
		memcpy(f, mc, 6);
	} else {
		memcpy(f, "\x02\x00\x00\x00\x00\x02", 6);
	}
	memcpy(f + 6, "\x02\x00\x00\x00\x00\x01", 6);
	f[12] = 0x08; /* IPv4 */
	ip[0] = 0x45;
	gm_put(ip + 2, 20 + 8 + len, 2);
	gm_put(ip + 4, g->pcap_packets & 0xffff, 2); /* id */
	ip[6] = 0x40;                                /* don't fragment */
	ip[8] = 64;                                  /* ttl */
	ip[9] = 17;                                  /* UDP */
	gm_put(ip + 12, 0x0a000001, 4);              /* 10.0.0.1 */
	memcpy(ip + 16, &g->pcap_dst_ip, 4);
	gm_put(ip + 10, gm_ip_csum(ip, 20), 2);
	gm_put(udp, 26400, 2);
	gm_put(udp + 2, g->pcap_dst_port, 2);
	gm_put(udp + 4, 8 + len, 2);
	gm_le(rec, (uint32_t)(t / 1000000));
	gm_le(rec + 4, (uint32_t)(t % 1000000));
	gm_le(rec + 8, (uint32_t)(GM_ETH + GM_IP_UDP + len));
	gm_le(rec + 12, (uint32_t)(GM_ETH + GM_IP_UDP + len));
	fwrite(rec, 1, sizeof(rec), g->pcap);
	fwrite(f, 1, GM_ETH + GM_IP_UDP, g->pcap);
	fwrite(pl, 1, len, g->pcap);
	g->pcap_packets++;
}

/* ---- lines and faults ---- */

static void gm_udp(struct gm_line *l, const uint8_t *pkt, size_t len)
{
	assert(len <= l->slot);
	if (l->fd < 0) {
		l->sent++; /* line A without --udp: the pcap file is the line */
		return;
	}
	memcpy(l->bufs + l->n * l->slot, pkt, len);
	l->lens[l->n++] = len;
	if (l->n == GM_BATCH)
		gm_line_flush(l);
}

static void gm_out(struct gi_mold *g, struct gm_line *l, const uint8_t *pkt, size_t len)
{
	if (l == &g->a && g->pcap)
		gm_pcap_write(g, pkt, len, g->last_ts);
	gm_udp(l, pkt, len);
}

static void gm_release_hold(struct gi_mold *g, struct gm_line *l)
{
	if (l->held) {
		gm_out(g, l, l->hold, l->hold_len);
		l->held = false;
	}
}

static uint64_t gm_splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Data packet i on one line, through that line's faults. */
static void gm_line_packet(struct gi_mold *g, struct gm_line *l, const uint8_t *pkt, size_t len,
                           uint64_t i)
{
	uint64_t n = i + 1;
	bool lost = l->loss_ppm && gm_splitmix64(&l->rng) % 1000000 < l->loss_ppm;

	if (lost || (l->drop_every && (n + l->phase) % l->drop_every == 0)) {
		l->dropped++;
		gm_release_hold(g, l);
		return;
	}
	if (g->cfg.reorder_every && n % g->cfg.reorder_every == 0 && !l->held) {
		memcpy(l->hold, pkt, len);
		l->hold_len = len;
		l->held = true;
		l->reordered++;
		return;
	}
	gm_out(g, l, pkt, len);
	if (g->cfg.dup_every && n % g->cfg.dup_every == 0) {
		gm_out(g, l, pkt, len);
		l->dups++;
	}
	gm_release_hold(g, l);
}

/* ---- the re-request store and server ---- */

static void gm_store(struct gi_mold *g, const uint8_t *pkt, size_t len, uint64_t first,
                     uint16_t count)
{
	size_t blocks = len - GM_HDR;

	if (g->rfd < 0 || g->store_full)
		return;
	if (g->store_len + blocks > g->cfg.store_bytes || g->nidx == g->idx_cap) {
		g->store_full = true;
		fprintf(stderr,
		        GI_PROG ": re-request store full at seq %llu: later messages "
		                "cannot be re-sent\n",
		        (unsigned long long)first);
		return;
	}
	memcpy(g->store + g->store_len, pkt + GM_HDR, blocks);
	g->idx[g->nidx++] = (struct gm_stored){first, g->store_len, (uint32_t)blocks, count};
	g->store_len += blocks;
}

/* Index of the stored packet holding seq, or -1. */
static int64_t gm_find(const struct gi_mold *g, uint64_t seq)
{
	uint64_t lo = 0, hi = g->nidx;

	while (lo < hi) { /* first packet with first > seq */
		uint64_t mid = lo + (hi - lo) / 2;

		if (g->idx[mid].first <= seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0 || seq >= g->idx[lo - 1].first + g->idx[lo - 1].count)
		return -1;
	return (int64_t)(lo - 1);
}

/* Sends messages [seq, seq + count) back to the requester, packed.  The
 * store holds consecutive seqs, so once seq is found the rest follows. */
static void gm_answer(struct gi_mold *g, uint64_t seq, uint64_t count, const struct sockaddr *to,
                      socklen_t tolen)
{
	int64_t k = gm_find(g, seq);
	uint64_t s, end = seq + count;
	size_t off;

	if (k < 0) {
		g->unanswerable++;
		return;
	}
	s = g->idx[k].first;
	off = g->idx[k].off;
	for (; s < seq; s++) /* walk to seq inside its packet */
		off += 2 + gm_get(g->store + off, 2);
	for (unsigned npk = 0; s < end && off < g->store_len && npk < GM_ANSWER_PACKETS; npk++) {
		size_t len = GM_HDR;
		uint16_t n = 0;
		uint64_t first = s;

		while (s < end && off < g->store_len) {
			size_t blk = 2 + gm_get(g->store + off, 2);

			if (len + blk > g->payload_max)
				break;
			memcpy(g->ans + len, g->store + off, blk);
			len += blk;
			off += blk;
			s++;
			n++;
		}
		assert(n > 0);
		memcpy(g->ans, g->cfg.session, GI_SESSION_LEN);
		gm_put(g->ans + 10, first, 8);
		gm_put(g->ans + 18, n, 2);
		if (sendto(g->rfd, g->ans, len, 0, to, tolen) < 0)
			g->answer_errors++;
		g->answer_packets++;
		g->answer_messages += n;
	}
}

/* Reads and answers up to GM_REQ_BURST requests (non-blocking socket). */
static void gm_serve(struct gi_mold *g)
{
	for (unsigned i = 0; g->rfd >= 0 && i < GM_REQ_BURST; i++) {
		uint8_t req[64];
		struct sockaddr_storage from;
		socklen_t flen = sizeof(from);
		ssize_t n = recvfrom(g->rfd, req, sizeof(req), 0, (struct sockaddr *)&from, &flen);
		uint64_t seq, count;

		if (n < 0)
			return; /* EAGAIN: nothing more now */
		g->requests++;
		seq = gm_get(req + 10, 8);
		count = gm_get(req + 18, 2);
		if (n != GM_HDR || memcmp(req, g->cfg.session, GI_SESSION_LEN) != 0 || seq == 0 ||
		    count == 0 || count == 0xffff) {
			g->bad_requests++;
			continue;
		}
		gm_answer(g, seq, count, (struct sockaddr *)&from, flen);
	}
}

/* Waits until monotonic time t, answering requests meanwhile.  The wait has
 * nanosecond resolution (ppoll; the timer slack is 1 ns under --rate, see
 * gi_mold_open): a millisecond poll() timeout would send a paced stream as
 * one burst per millisecond, which a latency measurement then reads as queueing. */
static void gm_wait(struct gi_mold *g, int64_t t)
{
	for (int64_t now = gm_now(); now < t; now = gm_now()) {
		struct pollfd p = {g->rfd, POLLIN, 0};
		struct timespec left = {(time_t)((t - now) / 1000000000LL),
		                        (long)((t - now) % 1000000000LL)};

		if (g->rfd < 0) {
			gm_sleep_until(t);
			return;
		}
		if (ppoll(&p, 1, &left, NULL) > 0)
			gm_serve(g);
	}
}

/* ---- packets ---- */

/* --rate: packet-wise, a packet leaves when its last message is due. */
static void gm_pace(struct gi_mold *g)
{
	int64_t due;

	if (!g->cfg.rate)
		return;
	due = g->t0 + (int64_t)((unsigned __int128)g->messages * 1000000000u / g->cfg.rate);
	if (gm_now() >= due)
		return;
	gm_line_flush(&g->a);
	gm_line_flush(&g->b);
	gm_wait(g, due);
}

static void gm_packet_done(struct gi_mold *g)
{
	uint64_t first = g->next_seq - g->count, i;

	if (g->count == 0)
		return;
	memcpy(g->pkt, g->cfg.session, GI_SESSION_LEN);
	gm_put(g->pkt + 10, first, 8);
	gm_put(g->pkt + 18, g->count, 2);
	gm_store(g, g->pkt, g->len, first, g->count);
	gm_pace(g);
	i = g->npackets++;
	gm_line_packet(g, &g->a, g->pkt, g->len, i);
	if (g->have_b)
		gm_line_packet(g, &g->b, g->pkt, g->len, i);
	if (i % GM_BATCH == 0)
		gm_serve(g);
	g->len = GM_HDR;
	g->count = 0;
}

int gi_mold_emit(void *ctx, const uint8_t *msg, unsigned len, uint64_t ts_ns)
{
	struct gi_mold *g = ctx;

	assert(len <= GI_MSG_MAX && GM_HDR + 2 + GI_MSG_MAX <= g->payload_max);
	if (g->len + 2 + len > g->payload_max)
		gm_packet_done(g);
	gm_put(g->pkt + g->len, len, 2);
	memcpy(g->pkt + g->len + 2, msg, len);
	g->len += 2 + len;
	g->count++;
	g->next_seq++;
	g->messages++;
	g->last_ts = ts_ns;
	assert(g->count < 0xffff);
	return 0;
}

/* End of session: count 0xFFFF and the next seq, on every UDP line (and
 * once in the pcap file). */
static void gm_eos(struct gi_mold *g, bool to_pcap)
{
	uint8_t pkt[GM_HDR];

	memcpy(pkt, g->cfg.session, GI_SESSION_LEN);
	gm_put(pkt + 10, g->next_seq, 8);
	gm_put(pkt + 18, 0xffff, 2);
	if (to_pcap && g->pcap)
		gm_pcap_write(g, pkt, sizeof(pkt), g->last_ts);
	if (g->a.fd >= 0)
		gm_udp(&g->a, pkt, sizeof(pkt));
	if (g->have_b)
		gm_udp(&g->b, pkt, sizeof(pkt));
	gm_line_flush(&g->a);
	gm_line_flush(&g->b);
}

int gi_mold_finish(struct gi_mold *g)
{
	int64_t end;

	gm_packet_done(g);
	gm_release_hold(g, &g->a);
	gm_release_hold(g, &g->b);
	gm_eos(g, true);
	if (g->rfd < 0 && g->a.fd < 0 && !g->have_b)
		return 0;
	end = gm_now() + (int64_t)g->cfg.linger_ms * 1000000;
	/* at most linger_ms / GM_EOS_EVERY_MS + 1 rounds */
	for (int64_t t = gm_now(); t < end; t = gm_now()) {
		int64_t next = t + GM_EOS_EVERY_MS * 1000000LL;

		gm_wait(g, next < end ? next : end);
		gm_eos(g, false);
	}
	gm_serve(g);
	return 0;
}

void gi_mold_summary(const struct gi_mold *g, FILE *f)
{
	const struct gm_line *lines[2] = {&g->a, &g->b};

	fprintf(f, GI_PROG ": moldudp64: %llu packets, %llu messages (seq 1..%llu)",
	        (unsigned long long)g->npackets, (unsigned long long)g->messages,
	        (unsigned long long)g->messages);
	if (g->pcap)
		fprintf(f, ", pcap %llu packets", (unsigned long long)g->pcap_packets);
	fputc('\n', f);
	for (int i = 0; i < 1 + g->have_b; i++) {
		const struct gm_line *l = lines[i];

		fprintf(f,
		        GI_PROG ": line %s: %llu datagrams sent, %llu packets dropped, %llu "
		                "duplicated, %llu reordered, %llu send errors\n",
		        l->name, (unsigned long long)l->sent, (unsigned long long)l->dropped,
		        (unsigned long long)l->dups, (unsigned long long)l->reordered,
		        (unsigned long long)l->send_errors);
	}
	if (g->rfd >= 0)
		fprintf(f,
		        GI_PROG ": re-request: %llu requests (%llu bad, %llu unanswerable), "
		                "answered with %llu packets, %llu messages, %llu send errors\n",
		        (unsigned long long)g->requests, (unsigned long long)g->bad_requests,
		        (unsigned long long)g->unanswerable, (unsigned long long)g->answer_packets,
		        (unsigned long long)g->answer_messages,
		        (unsigned long long)g->answer_errors);
}

/* ---- open and close ---- */

static int gm_rerequest_open(struct gi_mold *g, const char *spec)
{
	struct sockaddr_storage ss;
	socklen_t len;
	/* every packet but the last is fuller than this */
	size_t min_fill = g->payload_max - GM_HDR - (GI_MSG_MAX + 2);

	if (gm_resolve("rerequest", spec, &ss, &len) < 0)
		return -1;
	g->rfd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (g->rfd < 0 || bind(g->rfd, (struct sockaddr *)&ss, len) < 0) {
		fprintf(stderr, GI_PROG ": --rerequest %s: %s: %s\n", spec,
		        g->rfd < 0 ? "socket" : "bind", strerror(errno));
		return -1;
	}
	/* requests arrive in bursts while we are busy sending */
	if (setsockopt(g->rfd, SOL_SOCKET, SO_RCVBUF, &(int){GM_REQ_RCVBUF}, sizeof(int)) < 0)
		fprintf(stderr, GI_PROG ": --rerequest %s: SO_RCVBUF: %s (continuing)\n", spec,
		        strerror(errno));
	g->idx_cap = g->cfg.store_bytes / min_fill + 2;
	g->store = malloc(g->cfg.store_bytes);
	g->idx = calloc(g->idx_cap, sizeof(*g->idx));
	if (!g->store || !g->idx) {
		fprintf(stderr, GI_PROG ": re-request store of %llu bytes: %s\n",
		        (unsigned long long)g->cfg.store_bytes, strerror(ENOMEM));
		return -1;
	}
	return 0;
}

/* The pcap's destination: line A's address if IPv4, else a multicast group. */
static void gm_pcap_dst(struct gi_mold *g)
{
	if (g->a.fd >= 0 && g->a.addr.ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)&g->a.addr;

		g->pcap_dst_ip = in->sin_addr.s_addr;
		g->pcap_dst_port = ntohs(in->sin_port);
		return;
	}
	inet_pton(AF_INET, GM_PCAP_DST, &g->pcap_dst_ip);
	g->pcap_dst_port = GM_PCAP_PORT;
}

struct gi_mold *gi_mold_open(const struct gi_mold_config *cfg)
{
	struct gi_mold *g = calloc(1, sizeof(*g));

	assert(cfg->mtu >= GM_IP_UDP + GM_HDR + 2 + GI_MSG_MAX &&
	       cfg->mtu - GM_IP_UDP <= GM_PAYLOAD_MAX);
	if (!g) {
		fprintf(stderr, GI_PROG ": %s\n", strerror(ENOMEM));
		return NULL;
	}
	g->cfg = *cfg;
	g->payload_max = cfg->mtu - GM_IP_UDP;
	g->len = GM_HDR;
	g->next_seq = 1;
	g->rfd = g->a.fd = g->b.fd = -1;
	g->pkt = malloc(g->payload_max);
	g->ans = malloc(g->payload_max);
	if (!g->pkt || !g->ans || gm_line_open(g, &g->a, "A", cfg->udp_a, cfg->drop_every, 0) < 0)
		goto fail;
	g->a.loss_ppm = cfg->loss_ppm;
	g->a.rng = cfg->loss_seed;
	g->have_b = cfg->udp_b != NULL;
	if (g->have_b &&
	    gm_line_open(g, &g->b, "B", cfg->udp_b, cfg->drop_b_every, cfg->drop_b_every / 2) < 0)
		goto fail;
	gm_pcap_dst(g);
	if (cfg->pcap && gm_pcap_open(g, cfg->pcap) < 0)
		goto fail;
	if (cfg->rerequest && gm_rerequest_open(g, cfg->rerequest) < 0)
		goto fail;
	/* the kernel may otherwise defer each paced wake-up by up to 50 us */
	if (cfg->rate && prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL) != 0)
		fprintf(stderr, "trades-gen: prctl(PR_SET_TIMERSLACK, 1): %s (pacing is coarser)\n",
		        strerror(errno));
	g->t0 = gm_now();
	return g;
fail:
	gi_mold_close(g);
	return NULL;
}

int gi_mold_close(struct gi_mold *g)
{
	int rc = 0;

	if (!g)
		return 0;
	if (g->pcap && (ferror(g->pcap) | fclose(g->pcap)) != 0) {
		fprintf(stderr, GI_PROG ": --pcap %s: write: %s\n", g->cfg.pcap, strerror(errno));
		rc = -1;
	}
	if (g->a.fd >= 0)
		close(g->a.fd);
	if (g->b.fd >= 0)
		close(g->b.fd);
	if (g->rfd >= 0)
		close(g->rfd);
	free(g->a.bufs);
	free(g->a.hold);
	free(g->b.bufs);
	free(g->b.hold);
	free(g->store);
	free(g->idx);
	free(g->pkt);
	free(g->ans);
	free(g);
	return rc;
}
