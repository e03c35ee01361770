/* test_mold.c -- the MoldUDP64 sequencer: ordering, duplicates, A/B
 * arbitration, holes, re-requests, give-up, heartbeats, malformed packets
 * and the bounded buffer.  Time is a fake clock: nothing sleeps. */
#include <assert.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "trades/mold.h"

#define T0       1000000000LL
#define MS       1000000LL
#define REC_MAX  (2 * MOLD_BUFFER_PACKETS + 64)
#define GAPS_MAX 16
#define REQS_MAX 64

static const uint8_t SESSION[MOLD_SESSION_LEN] = "SESSION001";

/* What the callbacks saw. */
struct rec {
	uint64_t seq[REC_MAX];
	unsigned n;
	bool bad_payload;
	struct {
		uint64_t first, last;
		bool recovered;
	} gap[GAPS_MAX];
	unsigned ngap;
	struct {
		uint64_t seq;
		uint16_t count;
	} req[REQS_MAX];
	unsigned nreq;
	unsigned nlog;
};

static struct rec rec;
static struct mold_session sess; /* ~0.8 MiB: never on the stack */

static uint64_t get_be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static void put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (56 - 8 * i));
}

/* Message seq's payload: its seq, then seq % 5 filler bytes, so lengths
 * vary and every payload is checkable. */
static size_t msg_len(uint64_t seq)
{
	return 8 + seq % 5;
}

static void on_message(void *ctx, const uint8_t *msg, size_t len, uint64_t seq, int64_t rx_ns,
                       bool rx_kernel)
{
	struct rec *r = ctx;

	(void)rx_ns;
	(void)rx_kernel;
	if (len != msg_len(seq) || get_be64(msg) != seq)
		r->bad_payload = true;
	if (r->n < REC_MAX)
		r->seq[r->n++] = seq;
}

static void on_gap(void *ctx, uint64_t first, uint64_t last, bool recovered)
{
	struct rec *r = ctx;

	if (r->ngap < GAPS_MAX) {
		r->gap[r->ngap].first = first;
		r->gap[r->ngap].last = last;
		r->gap[r->ngap].recovered = recovered;
	}
	r->ngap++;
}

static int on_request(void *ctx, const uint8_t *pkt, size_t len)
{
	struct rec *r = ctx;

	CHECK(len == MOLD_REQUEST_LEN);
	if (memcmp(pkt, SESSION, MOLD_SESSION_LEN) != 0 || r->nreq >= REQS_MAX)
		return -1;
	r->req[r->nreq].seq = get_be64(pkt + 10);
	r->req[r->nreq].count = (uint16_t)(pkt[18] << 8 | pkt[19]);
	r->nreq++;
	return 0;
}

static void on_log(void *ctx, const char *msg)
{
	struct rec *r = ctx;

	(void)msg;
	r->nlog++;
}

/* Builds a packet of count messages from first (count 0: heartbeat). */
static size_t build(uint8_t *out, const uint8_t *session, uint64_t first, uint16_t count)
{
	size_t off = MOLD_HEADER_LEN;

	memcpy(out, session, MOLD_SESSION_LEN);
	put_be64(out + 10, first);
	out[18] = (uint8_t)(count >> 8);
	out[19] = (uint8_t)count;
	for (uint64_t s = first; count != MOLD_COUNT_EOS && s < first + count; s++) {
		size_t len = msg_len(s);

		out[off] = 0;
		out[off + 1] = (uint8_t)len;
		memset(out + off + 2, 0xab, len);
		put_be64(out + off + 2, s);
		off += 2 + len;
	}
	return off;
}

static int feed(unsigned line, uint64_t first, uint16_t count, int64_t now)
{
	uint8_t pkt[MOLD_PACKET_MAX];

	assert(count == MOLD_COUNT_EOS || (size_t)count * 14 + MOLD_HEADER_LEN <= sizeof(pkt));
	return mold_packet(&sess, line, pkt, build(pkt, SESSION, first, count), 7, false, now);
}

static void setup(struct mold_config *c, bool with_request)
{
	struct mold_handler h = {
	        .ctx = &rec,
	        .message = on_message,
	        .gap = on_gap,
	        .request = with_request ? on_request : NULL,
	        .log = on_log,
	};

	memset(&rec, 0, sizeof(rec));
	mold_init(&sess, c, &h);
}

static void setup_default(bool with_request)
{
	struct mold_config c;

	mold_config_default(&c);
	memcpy(c.session, SESSION, MOLD_SESSION_LEN);
	c.session_set = true;
	setup(&c, with_request);
}

/* Delivered exactly first..last, in order, with intact payloads, except
 * the seqs in [skip_first, skip_last]. */
static bool delivered_run(uint64_t first, uint64_t last, uint64_t skip_first, uint64_t skip_last)
{
	unsigned i = 0;

	for (uint64_t s = first; s <= last; s++) {
		if (s >= skip_first && s <= skip_last)
			continue;
		if (i >= rec.n || rec.seq[i] != s)
			return false;
		i++;
	}
	return i == rec.n && !rec.bad_payload;
}

/* The answer a re-request server would give: the requested messages. */
static void answer_requests(unsigned from, int64_t now)
{
	for (unsigned i = from; i < rec.nreq; i++)
		feed(MOLD_LINE_REREQUEST, rec.req[i].seq, rec.req[i].count, now);
}

static void test_in_order(void)
{
	setup_default(false);
	CHECK_EQ_INT(feed(0, 1, 3, T0), 3);
	CHECK_EQ_INT(feed(0, 4, 3, T0), 3);
	CHECK_EQ_INT(feed(0, 7, 3, T0), 3);
	CHECK(delivered_run(1, 9, 0, 0));
	CHECK_EQ_INT(sess.stats.messages_delivered, 9);
	CHECK_EQ_INT(sess.stats.packets, 3);
	CHECK_EQ_INT(sess.stats.line_packets[0], 3);
	CHECK_EQ_INT(sess.stats.holes, 0);
	CHECK_EQ_INT(mold_deadline(&sess), INT64_MAX);
}

static void test_duplicates_and_overlap(void)
{
	setup_default(false);
	feed(0, 1, 3, T0);
	CHECK_EQ_INT(feed(0, 1, 3, T0), 0); /* whole duplicate */
	CHECK_EQ_INT(feed(0, 2, 4, T0), 2); /* 2,3 had; 4,5 new */
	CHECK_EQ_INT(feed(0, 4, 2, T0), 0);
	CHECK_EQ_INT(feed(0, 5, 1, T0), 0);
	CHECK(delivered_run(1, 5, 0, 0));
	CHECK_EQ_INT(sess.stats.dup_messages, 3 + 2 + 1);
	CHECK_EQ_INT(sess.stats.overlap_messages, 2);
	CHECK_EQ_INT(sess.stats.messages_delivered, 5);
}

static void test_reorder(void)
{
	struct mold_config c;

	mold_config_default(&c);
	c.single_wait_ns = 10 * MS; /* tolerate reordering on one line */
	setup(&c, false);
	CHECK_EQ_INT(feed(0, 1, 3, T0), 3);
	CHECK_EQ_INT(feed(0, 10, 3, T0), 0); /* two holes: 4-6 and 7-9 */
	CHECK_EQ_INT(feed(0, 7, 3, T0), 0);
	CHECK_EQ_INT(mold_deadline(&sess), T0 + 10 * MS);
	CHECK_EQ_INT(feed(0, 4, 3, T0 + MS), 9);
	CHECK(delivered_run(1, 12, 0, 0));
	CHECK_EQ_INT(sess.stats.holes, 1);
	CHECK_EQ_INT(sess.stats.holes_filled, 1);
	CHECK_EQ_INT(sess.stats.gaps, 0);
	CHECK_EQ_INT(sess.stats.buffered, 2);
	CHECK_EQ_INT(rec.ngap, 0);
	CHECK_EQ_INT(mold_deadline(&sess), INT64_MAX);
	CHECK(rec.nlog == 1); /* the adopted session only */
}

static void test_gap_no_recovery(void)
{
	setup_default(false);
	feed(0, 1, 3, T0);
	/* one line, no recovery: the hole is final at once */
	CHECK_EQ_INT(feed(0, 7, 3, T0), 3);
	CHECK_EQ_INT(rec.ngap, 1);
	CHECK_EQ_INT(rec.gap[0].first, 4);
	CHECK_EQ_INT(rec.gap[0].last, 6);
	CHECK(!rec.gap[0].recovered);
	CHECK_EQ_INT(sess.stats.gaps, 1);
	CHECK_EQ_INT(sess.stats.gap_messages, 3);
	CHECK_EQ_INT(sess.stats.unrecoverable_messages, 3);
	CHECK_EQ_INT(sess.stats.recovered_messages, 0);
	CHECK_EQ_INT(feed(0, 4, 3, T0), 0); /* too late: the stream went on */
	CHECK_EQ_INT(sess.stats.dup_messages, 3);
	CHECK_EQ_INT(feed(0, 10, 2, T0), 2);
	CHECK(delivered_run(1, 11, 4, 6));
	CHECK_EQ_INT(mold_deadline(&sess), INT64_MAX);
}

static void test_gap_recovered(void)
{
	struct mold_config c;

	mold_config_default(&c);
	memcpy(c.session, SESSION, MOLD_SESSION_LEN);
	c.session_set = true;
	c.request_max = 2;
	setup(&c, true);
	feed(0, 1, 3, T0);
	CHECK_EQ_INT(feed(0, 8, 3, T0), 0);
	/* one line with recovery: requested at once, split by request_max */
	CHECK_EQ_INT(rec.nreq, 2);
	CHECK_EQ_INT(rec.req[0].seq, 4);
	CHECK_EQ_INT(rec.req[0].count, 2);
	CHECK_EQ_INT(rec.req[1].seq, 6);
	CHECK_EQ_INT(rec.req[1].count, 2);
	CHECK_EQ_INT(sess.stats.requests_sent, 2);
	CHECK_EQ_INT(mold_deadline(&sess), T0 + MOLD_TIMEOUT_DEFAULT_NS);
	answer_requests(0, T0 + 5 * MS);
	CHECK(delivered_run(1, 10, 0, 0));
	CHECK_EQ_INT(sess.stats.line_packets[MOLD_LINE_REREQUEST], 2);
	CHECK_EQ_INT(sess.stats.gaps, 1);
	CHECK_EQ_INT(sess.stats.gap_messages, 4);
	CHECK_EQ_INT(sess.stats.recovered_messages, 4);
	CHECK_EQ_INT(sess.stats.unrecoverable_messages, 0);
	CHECK_EQ_INT(rec.ngap, 1);
	CHECK(rec.gap[0].first == 4 && rec.gap[0].last == 7 && rec.gap[0].recovered);
	CHECK_EQ_INT(mold_deadline(&sess), INT64_MAX);
	mold_tick(&sess, T0 + 1000 * MS); /* nothing left to do */
	CHECK_EQ_INT(rec.nreq, 2);
}

static void test_gap_request_unanswered(void)
{
	struct mold_config c;

	mold_config_default(&c);
	c.retries = 2;
	setup(&c, true);
	feed(0, 1, 3, T0);
	feed(0, 7, 3, T0);
	CHECK_EQ_INT(rec.nreq, 1);
	mold_tick(&sess, T0 + 199 * MS);
	CHECK_EQ_INT(rec.nreq, 1);
	mold_tick(&sess, T0 + 200 * MS);
	CHECK_EQ_INT(rec.nreq, 2); /* retry 1 */
	mold_tick(&sess, T0 + 400 * MS);
	CHECK_EQ_INT(rec.nreq, 3); /* retry 2 */
	CHECK_EQ_INT(rec.req[2].seq, 4);
	CHECK_EQ_INT(rec.req[2].count, 3);
	CHECK_EQ_INT(rec.n, 3);
	mold_tick(&sess, T0 + 599 * MS);
	CHECK_EQ_INT(rec.ngap, 0);
	mold_tick(&sess, T0 + 600 * MS); /* given up */
	CHECK_EQ_INT(rec.nreq, 3);
	CHECK_EQ_INT(rec.ngap, 1);
	CHECK(rec.gap[0].first == 4 && rec.gap[0].last == 6 && !rec.gap[0].recovered);
	CHECK(delivered_run(1, 9, 4, 6));
	CHECK_EQ_INT(sess.stats.requests_sent, 3);
	CHECK_EQ_INT(sess.stats.unrecoverable_messages, 3);
	CHECK_EQ_INT(sess.stats.recovered_messages, 0);
	CHECK_EQ_INT(mold_deadline(&sess), INT64_MAX);
}

static void test_gap_partly_recovered(void)
{
	struct mold_config c;

	mold_config_default(&c);
	c.retries = 0;
	setup(&c, true);
	feed(0, 1, 1, T0);
	feed(0, 8, 1, T0); /* gap 2-7 */
	CHECK_EQ_INT(rec.nreq, 1);
	feed(MOLD_LINE_REREQUEST, 2, 2, T0 + MS); /* answer cut short: 2-3 */
	CHECK_EQ_INT(rec.nreq, 1);
	feed(MOLD_LINE_REREQUEST, 6, 1, T0 + MS); /* a stray 6 */
	mold_tick(&sess, T0 + 200 * MS);          /* progress: round 2, not a retry */
	CHECK_EQ_INT(rec.nreq, 2);
	CHECK(rec.req[1].seq == 4 && rec.req[1].count == 2);
	mold_tick(&sess, T0 + 400 * MS); /* no answer, no retries: give up 4-5 and 7 */
	CHECK_EQ_INT(rec.ngap, 2);
	CHECK(rec.gap[0].first == 4 && rec.gap[0].last == 5 && !rec.gap[0].recovered);
	CHECK(rec.gap[1].first == 7 && rec.gap[1].last == 7 && !rec.gap[1].recovered);
	CHECK_EQ_INT(sess.stats.gap_messages, 6);
	CHECK_EQ_INT(sess.stats.unrecoverable_messages, 3);
	CHECK_EQ_INT(sess.stats.recovered_messages, 3);
	CHECK_EQ_INT(rec.n, 5); /* 1, 2, 3, 6, 8 */
	CHECK(rec.seq[3] == 6 && rec.seq[4] == 8);
}

/* Two lines, npkt packets of 3 messages; line A misses packets with
 * i % 5 == a_miss, line B those with i % 5 == b_miss; B sends lag packets
 * behind A. */
static void ab_run(int a_miss, int b_miss, unsigned npkt, unsigned lag)
{
	struct mold_config c;

	mold_config_default(&c);
	c.lines = 2;
	setup(&c, false);
	for (unsigned i = 0; i < npkt + lag; i++) {
		if (i < npkt && (int)(i % 5) != a_miss)
			feed(0, 1 + 3 * i, 3, T0);
		if (i >= lag && (int)((i - lag) % 5) != b_miss)
			feed(1, 1 + 3 * (i - lag), 3, T0);
	}
}

static void test_ab(void)
{
	/* B one packet behind A */
	ab_run(1, 3, 20, 1);
	CHECK(delivered_run(1, 60, 0, 0));
	CHECK_EQ_INT(sess.stats.gaps, 0);
	CHECK_EQ_INT(sess.stats.holes, 4); /* A misses 1, 6, 11, 16; B has them */
	CHECK_EQ_INT(sess.stats.holes_filled, 4);
	CHECK_EQ_INT(sess.stats.dup_messages, 3 * (20 - 4 - 4));
	CHECK_EQ_INT(sess.stats.messages_delivered, 60);
	CHECK_EQ_INT(mold_deadline(&sess), INT64_MAX);

	/* B 7 packets behind: A's packets after a loss wait in the buffer */
	ab_run(1, 3, 20, 7);
	CHECK(delivered_run(1, 60, 0, 0));
	CHECK_EQ_INT(sess.stats.gaps, 0);
	CHECK_EQ_INT(sess.stats.holes, sess.stats.holes_filled);
	CHECK_EQ_INT(sess.stats.messages_delivered + sess.stats.dup_messages +
	                     sess.stats.overlap_messages,
	             3 * (16 + 16));

	/* both lines miss every packet i % 5 == 2: four gaps, each declared as
	 * soon as both lines have shown later packets, without waiting */
	ab_run(2, 2, 20, 0);
	CHECK_EQ_INT(sess.stats.gaps, 4);
	CHECK_EQ_INT(sess.stats.gap_messages, 12);
	CHECK_EQ_INT(sess.stats.unrecoverable_messages, 12);
	CHECK_EQ_INT(sess.stats.holes_filled, 0);
	CHECK_EQ_INT(rec.ngap, 4);
	CHECK(rec.gap[1].first == 22 && rec.gap[1].last == 24 && !rec.gap[1].recovered);
	CHECK_EQ_INT(rec.n, 48);
	CHECK_EQ_INT(sess.stats.buffered, 4); /* A's packet after each loss, briefly */
	CHECK_EQ_INT(mold_deadline(&sess), INT64_MAX);
}

static void test_ab_one_gap(void)
{
	struct mold_config c;

	mold_config_default(&c);
	c.lines = 2;
	setup(&c, false);
	for (unsigned i = 0; i < 10; i++) {
		if (i != 4 && i != 6)
			feed(0, 1 + 2 * i, 2, T0 + i);
		if (i != 4 && i != 2)
			feed(1, 1 + 2 * i, 2, T0 + i);
	}
	CHECK_EQ_INT(sess.stats.gaps, 1);
	CHECK_EQ_INT(sess.stats.gap_messages, 2);
	CHECK_EQ_INT(rec.ngap, 1);
	CHECK(rec.gap[0].first == 9 && rec.gap[0].last == 10 && !rec.gap[0].recovered);
	CHECK(delivered_run(1, 20, 9, 10));
	/* side by side, each line's own losses never even made a hole */
	CHECK_EQ_INT(sess.stats.holes, 1);
	CHECK_EQ_INT(sess.stats.holes_filled, 0);

	/* line B silent: a hole waits the whole wait for it */
	setup(&c, true);
	feed(0, 1, 2, T0);
	feed(0, 5, 2, T0);
	CHECK_EQ_INT(rec.n, 2);
	CHECK_EQ_INT(rec.nreq, 0);
	CHECK_EQ_INT(mold_deadline(&sess), T0 + MOLD_TIMEOUT_DEFAULT_NS);
	mold_tick(&sess, T0 + MOLD_TIMEOUT_DEFAULT_NS - 1);
	CHECK_EQ_INT(rec.nreq, 0);
	mold_tick(&sess, T0 + MOLD_TIMEOUT_DEFAULT_NS);
	CHECK_EQ_INT(rec.nreq, 1);
	CHECK(rec.req[0].seq == 3 && rec.req[0].count == 2);
	CHECK_EQ_INT(sess.stats.gaps, 1);
	answer_requests(0, T0 + MOLD_TIMEOUT_DEFAULT_NS + MS);
	CHECK(delivered_run(1, 6, 0, 0));
	CHECK_EQ_INT(sess.stats.recovered_messages, 2);

	/* both lines past the hole: re-requested at once */
	setup(&c, true);
	feed(0, 1, 2, T0);
	feed(0, 5, 2, T0);
	feed(1, 1, 2, T0);
	CHECK_EQ_INT(rec.nreq, 0);
	feed(1, 7, 2, T0); /* B too went from 2 to 7 */
	CHECK_EQ_INT(rec.nreq, 1);
	answer_requests(0, T0 + MS);
	CHECK(delivered_run(1, 8, 0, 0));
	CHECK_EQ_INT(sess.stats.gaps, 1);
	CHECK_EQ_INT(sess.stats.recovered_messages, 2);
}

static void test_heartbeat_tail_gap(void)
{
	/* one line, no recovery */
	setup_default(false);
	feed(0, 1, 3, T0);
	CHECK_EQ_INT(feed(0, 4, 0, T0), 0); /* heartbeat: nothing missing */
	CHECK_EQ_INT(rec.ngap, 0);
	CHECK_EQ_INT(feed(0, 7, 0, T0), 0); /* 4-6 were sent and lost */
	CHECK_EQ_INT(rec.ngap, 1);
	CHECK(rec.gap[0].first == 4 && rec.gap[0].last == 6 && !rec.gap[0].recovered);
	CHECK_EQ_INT(feed(0, 7, 2, T0), 2);
	CHECK_EQ_INT(sess.stats.heartbeats, 2);
	CHECK(delivered_run(1, 8, 4, 6));

	/* A loses its last packet, B's copy fills it; end of session */
	struct mold_config c;

	mold_config_default(&c);
	c.lines = 2;
	setup(&c, false);
	feed(0, 1, 3, T0);
	feed(0, 4, MOLD_COUNT_EOS, T0);
	feed(0, 4, 0, T0); /* stale heartbeat */
	CHECK_EQ_INT(sess.stats.end_of_session, 1);
	CHECK_EQ_INT(sess.stats.holes, 0);
	feed(1, 1, 3, T0);
	feed(0, 7, MOLD_COUNT_EOS, T0 + MS); /* A lost 4-6 */
	CHECK_EQ_INT(sess.stats.holes, 1);
	CHECK_EQ_INT(mold_deadline(&sess), T0 + MS + MOLD_TIMEOUT_DEFAULT_NS);
	CHECK_EQ_INT(feed(1, 4, 3, T0 + 2 * MS), 3);
	CHECK_EQ_INT(sess.stats.holes_filled, 1);
	CHECK_EQ_INT(sess.stats.gaps, 0);
	CHECK(delivered_run(1, 6, 0, 0));

	/* with recovery, the heartbeat triggers the request */
	setup_default(true);
	feed(0, 1, 3, T0);
	feed(0, 9, 0, T0);
	CHECK_EQ_INT(rec.nreq, 1);
	CHECK(rec.req[0].seq == 4 && rec.req[0].count == 5);
	answer_requests(0, T0 + MS);
	CHECK(delivered_run(1, 8, 0, 0));
	CHECK_EQ_INT(sess.stats.recovered_messages, 5);
}

static void test_session(void)
{
	uint8_t pkt[MOLD_PACKET_MAX];
	static const uint8_t other[MOLD_SESSION_LEN] = "OTHER00000";
	size_t len;

	setup_default(false);
	len = build(pkt, other, 1, 3);
	CHECK_EQ_INT(mold_packet(&sess, 0, pkt, len, 0, false, T0), MOLD_WRONG_SESSION);
	CHECK_EQ_INT(sess.stats.wrong_session, 1);
	CHECK_EQ_INT(feed(0, 1, 3, T0), 3);
	len = build(pkt, other, 4, 0);
	CHECK_EQ_INT(mold_packet(&sess, 0, pkt, len, 0, false, T0), MOLD_WRONG_SESSION);
	CHECK_EQ_INT(sess.stats.holes, 0);

	/* not configured: the first packet's session is adopted and logged */
	struct mold_config c;

	mold_config_default(&c);
	setup(&c, false);
	len = build(pkt, other, 1, 2);
	CHECK_EQ_INT(mold_packet(&sess, 0, pkt, len, 0, false, T0), 2);
	CHECK_EQ_INT(rec.nlog, 1);
	CHECK_EQ_INT(feed(0, 3, 1, T0), MOLD_WRONG_SESSION);
	CHECK_EQ_INT(sess.stats.wrong_session, 1);

	/* first_seq 0: join mid-session where the stream is */
	c.first_seq = 0;
	setup(&c, false);
	CHECK_EQ_INT(feed(0, 1000, 2, T0), 2);
	CHECK_EQ_INT(feed(0, 1002, 1, T0), 1);
	CHECK_EQ_INT(sess.stats.holes, 0);
}

static void test_malformed(void)
{
	uint8_t pkt[MOLD_PACKET_MAX];
	size_t len;

	setup_default(false);
	len = build(pkt, SESSION, 1, 3);
	pkt[19] = 4; /* count says more messages than the bytes hold */
	CHECK_EQ_INT(mold_packet(&sess, 0, pkt, len, 0, false, T0), MOLD_MALFORMED);
	len = build(pkt, SESSION, 1, 3);
	pkt[MOLD_HEADER_LEN + 1] += 100; /* first length runs past the end */
	CHECK_EQ_INT(mold_packet(&sess, 0, pkt, len, 0, false, T0), MOLD_MALFORMED);
	len = build(pkt, SESSION, 1, 3);
	CHECK_EQ_INT(mold_packet(&sess, 0, pkt, len - 1, 0, false, T0), MOLD_MALFORMED);
	CHECK_EQ_INT(mold_packet(&sess, 0, pkt, len + 1, 0, false, T0), MOLD_MALFORMED);
	CHECK_EQ_INT(mold_packet(&sess, 0, pkt, 19, 0, false, T0), MOLD_MALFORMED);
	CHECK_EQ_INT(mold_packet(&sess, 0, pkt, MOLD_HEADER_LEN + 1, 0, false, T0), MOLD_MALFORMED);
	len = build(pkt, SESSION, 4, 0);
	CHECK_EQ_INT(mold_packet(&sess, 0, pkt, len + 2, 0, false, T0), MOLD_MALFORMED);
	len = build(pkt, SESSION, 0, 1); /* seq 0 does not exist */
	CHECK_EQ_INT(mold_packet(&sess, 0, pkt, len, 0, false, T0), MOLD_MALFORMED);
	len = build(pkt, SESSION, UINT64_MAX - 1, 3); /* seq wraps */
	CHECK_EQ_INT(mold_packet(&sess, 0, pkt, len, 0, false, T0), MOLD_MALFORMED);
	CHECK_EQ_INT(sess.stats.malformed, 9);
	CHECK_EQ_INT(sess.stats.packets, 9);
	CHECK_EQ_INT(rec.n, 0);
	CHECK_EQ_INT(sess.stats.holes, 0);
	CHECK_EQ_INT(feed(0, 1, 3, T0), 3); /* nothing of them was taken */
}

static void test_buffer_overflow(void)
{
	struct mold_config c;
	unsigned n = MOLD_BUFFER_PACKETS;

	mold_config_default(&c);
	c.single_wait_ns = 1000 * MS;
	setup(&c, false);
	feed(0, 1, 1, T0);
	for (unsigned i = 0; i < n; i++) /* seq 3 .. n+2 wait behind hole 2 */
		CHECK_EQ_INT(feed(0, 3 + i, 1, T0), 0);
	CHECK_EQ_INT(sess.nbuf, n);
	CHECK_EQ_INT(sess.stats.buffer_overflow, 0);
	/* full: hole 2 is given up, the n buffered packets delivered */
	CHECK_EQ_INT(feed(0, n + 4, 1, T0), (int)n);
	CHECK_EQ_INT(sess.stats.buffer_overflow, 1);
	CHECK_EQ_INT(rec.ngap, 1);
	CHECK(rec.gap[0].first == 2 && rec.gap[0].last == 2 && !rec.gap[0].recovered);
	CHECK_EQ_INT(rec.n, n + 1); /* 1 and 3 .. n+2 */
	CHECK_EQ_INT(sess.nbuf, 1); /* n+4 waits behind the new hole n+3 */
	CHECK_EQ_INT(mold_deadline(&sess), T0 + 1000 * MS);
	mold_tick(&sess, T0 + 1000 * MS);
	CHECK_EQ_INT(rec.ngap, 2);
	CHECK(rec.gap[1].first == n + 3 && rec.gap[1].last == n + 3);
	CHECK_EQ_INT(rec.n, n + 2);
	CHECK_EQ_INT(rec.seq[n + 1], n + 4);
	CHECK_EQ_INT(sess.stats.gaps, 2);
	CHECK_EQ_INT(sess.stats.unrecoverable_messages, 2);
	CHECK_EQ_INT(sess.nbuf, 0);
	CHECK_EQ_INT(sess.nfree, MOLD_BUFFER_PACKETS);
}

/* One line, no recovery: a hole waits a second before it is given up. */
static void setup_waiting(void)
{
	struct mold_config c;

	mold_config_default(&c);
	c.single_wait_ns = 1000 * MS;
	setup(&c, false);
}

/* A buffer that never empties: one packet far ahead stays while others are
 * buffered and delivered in front of it, so the order window walks the
 * whole of its 2 * MOLD_BUFFER_PACKETS entries and moves back to 0 (more
 * than once); every packet still comes out once, in order. */
static void test_buffer_window(void)
{
	unsigned cycles = 5 * MOLD_BUFFER_PACKETS;
	uint64_t far = 4 * (uint64_t)cycles;
	unsigned bad = 0;

	setup_waiting();
	CHECK_EQ_INT(feed(0, 1, 1, T0), 1);
	CHECK_EQ_INT(feed(0, far, 1, T0), 0);
	for (unsigned k = 1; k <= cycles; k++) {
		/* 2k+1 waits behind the hole 2k, in front of far; 2k frees both */
		bad += feed(0, 2 * k + 1, 1, T0) != 0;
		bad += feed(0, 2 * k, 1, T0) != 2;
		bad += sess.nbuf != 1;
	}
	CHECK_EQ_INT(bad, 0);
	CHECK(sess.ohead + sess.nbuf <= 2 * MOLD_BUFFER_PACKETS);
	CHECK(delivered_run(1, REC_MAX, 0, 0));
	CHECK_EQ_INT(sess.stats.messages_delivered, 2 * cycles + 1);
	CHECK_EQ_INT(sess.stats.dup_messages, 0);
	CHECK(!rec.bad_payload);
}

/* The shortcut for a packet past everything buffered must not hide a
 * packet that an earlier, longer one already holds. */
static void test_buffered_cover(void)
{
	setup_waiting();
	CHECK_EQ_INT(feed(0, 1, 1, T0), 1);
	CHECK_EQ_INT(feed(0, 10, 20, T0), 0); /* 10..29 behind the hole 2..9 */
	CHECK_EQ_INT(feed(0, 5, 2, T0), 0);   /* 5..6 */
	CHECK_EQ_INT(feed(0, 12, 3, T0), 0);  /* held inside 10..29: a duplicate */
	CHECK_EQ_INT(sess.stats.dup_messages, 3);
	CHECK_EQ_INT(feed(0, 25, 10, T0), 0); /* 25..34: partly new, buffered */
	CHECK_EQ_INT(sess.nbuf, 3);
	CHECK_EQ_INT(feed(0, 30, 2, T0), 0); /* held by 25..34 */
	CHECK_EQ_INT(sess.stats.dup_messages, 5);
	CHECK_EQ_INT(feed(0, 2, 3, T0), 5);  /* 2..4, 5..6 */
	CHECK_EQ_INT(feed(0, 7, 3, T0), 28); /* 7..9, 10..29, 30..34 */
	CHECK_EQ_INT(sess.nbuf, 0);
	CHECK_EQ_INT(sess.buf_end, 0);
	CHECK(delivered_run(1, 34, 0, 0));
	CHECK_EQ_INT(rec.n, 34);
	CHECK_EQ_INT(feed(0, 20, 5, T0), 0); /* behind next now: a duplicate */
	CHECK_EQ_INT(sess.stats.dup_messages, 10);
}

/* A full buffer of packets each behind its own hole: one tick settles all. */
static void test_many_holes(void)
{
	struct mold_config c;
	unsigned n = MOLD_BUFFER_PACKETS;

	mold_config_default(&c);
	c.single_wait_ns = 1000 * MS;
	setup(&c, false);
	feed(0, 1, 1, T0);
	for (unsigned i = 1; i <= n; i++)
		feed(0, 1 + 2 * i, 1, T0 + i);
	CHECK_EQ_INT(sess.nbuf, n);
	CHECK_EQ_INT(rec.n, 1);
	mold_tick(&sess, T0 + 1000 * MS + n);
	CHECK_EQ_INT(rec.n, n + 1);
	CHECK_EQ_INT(sess.stats.gaps, n);
	CHECK_EQ_INT(rec.ngap, n);
	CHECK(rec.gap[GAPS_MAX - 1].first == 2 * GAPS_MAX &&
	      rec.gap[GAPS_MAX - 1].last == 2 * GAPS_MAX);
	CHECK_EQ_INT(sess.stats.gap_messages, n);
	CHECK_EQ_INT(sess.stats.unrecoverable_messages, n);
	CHECK_EQ_INT(sess.stats.buffer_overflow, 0);
	CHECK_EQ_INT(sess.nbuf, 0);
	CHECK_EQ_INT(mold_deadline(&sess), INT64_MAX);
}

static void test_request_encode(void)
{
	uint8_t out[MOLD_REQUEST_LEN];
	static const uint8_t want[MOLD_REQUEST_LEN] = {'S',  'E',  'S',  'S',  'I',  'O',  'N',
	                                               '0',  '0',  '1',  0x01, 0x02, 0x03, 0x04,
	                                               0x05, 0x06, 0x07, 0x08, 0x12, 0x34};

	CHECK_EQ_INT(mold_request_encode(out, SESSION, 0x0102030405060708ull, 0x1234),
	             MOLD_REQUEST_LEN);
	CHECK(memcmp(out, want, sizeof(out)) == 0);
}

/* issue 10: a spoofed heartbeat at 2^64-2 must not be followed (it gave up
 * an 18-quintillion-message gap and made every real packet a duplicate). */
static void test_seq_jump(void)
{
	setup_default(false);
	CHECK_EQ_INT(feed(0, 1, 3, T0), 3);
	CHECK_EQ_INT(feed(0, UINT64_MAX - 1, 0, T0), MOLD_SEQ_JUMP);
	CHECK_EQ_INT(feed(0, UINT64_MAX - 1, 0, T0 + 1000), MOLD_SEQ_JUMP);
	CHECK_EQ_INT(sess.stats.seq_jumps, 2);
	mold_tick(&sess, T0 + 10 * MOLD_WAIT_MAX_NS);
	CHECK_EQ_INT(rec.ngap, 0);
	CHECK_EQ_INT(feed(0, 4, 2, T0 + 2000), 2); /* real packets still delivered */
	CHECK_EQ_INT(sess.stats.dup_messages, 0);
	CHECK_EQ_INT(rec.n, 5);
	/* a single data packet far ahead is not followed either... */
	CHECK_EQ_INT(feed(0, 6 + MOLD_JUMP_MAX + 1, 2, T0 + 3000), MOLD_SEQ_JUMP);
	CHECK_EQ_INT(feed(0, 6, 1, T0 + 3000), 1);
	/* ...but one continued exactly by the next is (a late join): the gap
	 * between is declared as usual */
	CHECK_EQ_INT(feed(0, 1ull << 63, 2, T0 + 4000), MOLD_SEQ_JUMP);
	CHECK(feed(0, (1ull << 63) + 2, 2, T0 + 4000) >= 0);
	CHECK_EQ_INT(sess.stats.seq_jumps, 4);
	mold_tick(&sess, T0 + 10 * MOLD_WAIT_MAX_NS);
	CHECK_EQ_INT(rec.ngap, 1);
	CHECK_EQ_INT(rec.seq[rec.n - 1], (1ull << 63) + 3);
	/* near 2^64: a count past the end is malformed */
	CHECK_EQ_INT(feed(0, UINT64_MAX, 2, T0 + 5000), MOLD_MALFORMED);
}

/* Counter identity of every gap test: what was missing is recovered,
 * given up or still outstanding (0 here: each test ends settled). */
static void check_gap_identity(void)
{
	CHECK_EQ_INT(sess.stats.gap_messages,
	             sess.stats.recovered_messages + sess.stats.unrecoverable_messages);
}

/* Holes behind the lowest gap are re-requested at once, not one by one:
 * three holes, three requests before any answer; answers out of order. */
static void test_ahead_parallel(void)
{
	setup_default(true);
	feed(0, 1, 1, T0);
	feed(0, 3, 1, T0); /* gap 2: requested */
	feed(0, 5, 1, T0); /* hole 4: requested ahead */
	feed(0, 7, 2, T0); /* hole 6: requested ahead */
	CHECK_EQ_INT(rec.nreq, 3);
	CHECK(rec.req[0].seq == 2 && rec.req[1].seq == 4 && rec.req[2].seq == 6);
	CHECK(rec.req[1].count == 1 && rec.req[2].count == 1);
	CHECK_EQ_INT(sess.stats.ahead_holes, 2);
	CHECK_EQ_INT(sess.stats.gaps, 3);
	CHECK_EQ_INT(sess.nahead, 2);
	feed(MOLD_LINE_REREQUEST, 6, 1, T0 + MS); /* the last answer first */
	feed(MOLD_LINE_REREQUEST, 4, 1, T0 + MS);
	CHECK_EQ_INT(rec.n, 1);
	CHECK_EQ_INT(feed(MOLD_LINE_REREQUEST, 2, 1, T0 + MS), 7);
	CHECK(delivered_run(1, 8, 0, 0));
	CHECK_EQ_INT(rec.ngap, 3);
	for (unsigned i = 0; i < 3; i++)
		CHECK(rec.gap[i].first == 2 + 2 * i && rec.gap[i].last == 2 + 2 * i &&
		      rec.gap[i].recovered);
	CHECK_EQ_INT(sess.stats.recovered_messages, 3);
	CHECK_EQ_INT(sess.stats.holes, 3);
	check_gap_identity();
	CHECK_EQ_INT(sess.nahead, 0);
	CHECK_EQ_INT(mold_deadline(&sess), INT64_MAX);
	mold_tick(&sess, T0 + 1000 * MS);
	CHECK_EQ_INT(rec.nreq, 3); /* nothing asked twice */
}

/* An ahead hole whose answer is lost becomes the gap when delivery gets
 * there; its deadline runs from its own request, then retry, give-up. */
static void test_ahead_unanswered(void)
{
	struct mold_config c;

	mold_config_default(&c);
	c.retries = 1;
	setup(&c, true);
	feed(0, 1, 1, T0);
	feed(0, 3, 1, T0);      /* gap 2 */
	feed(0, 5, 1, T0 + MS); /* hole 4, ahead, asked at T0 + 1 ms */
	CHECK_EQ_INT(rec.nreq, 2);
	feed(MOLD_LINE_REREQUEST, 2, 1, T0 + 2 * MS); /* 4's answer never comes */
	CHECK_EQ_INT(rec.n, 3);
	CHECK_EQ_INT(mold_deadline(&sess), T0 + MS + MOLD_TIMEOUT_DEFAULT_NS);
	mold_tick(&sess, T0 + 100 * MS);
	CHECK_EQ_INT(rec.nreq, 2); /* not yet */
	mold_tick(&sess, T0 + MS + MOLD_TIMEOUT_DEFAULT_NS);
	CHECK_EQ_INT(rec.nreq, 3); /* the retry */
	CHECK(rec.req[2].seq == 4 && rec.req[2].count == 1);
	mold_tick(&sess, T0 + MS + 2 * MOLD_TIMEOUT_DEFAULT_NS);
	CHECK(delivered_run(1, 5, 4, 4));
	CHECK_EQ_INT(rec.ngap, 2);
	CHECK(rec.gap[0].first == 2 && rec.gap[0].recovered);
	CHECK(rec.gap[1].first == 4 && rec.gap[1].last == 4 && !rec.gap[1].recovered);
	CHECK_EQ_INT(sess.stats.gaps, 2);
	CHECK_EQ_INT(sess.stats.holes, 2);
	CHECK_EQ_INT(sess.stats.unrecoverable_messages, 1);
	check_gap_identity();
}

/* At most MOLD_AHEAD_MAX ahead; the rest are asked once the first settle.
 * Every hole recovered, each asked exactly once. */
static void test_ahead_bound(void)
{
	unsigned holes = 2 * MOLD_AHEAD_MAX + 3, answered = 0;

	setup_default(true);
	feed(0, 1, 1, T0);
	for (unsigned i = 1; i <= holes; i++)
		feed(0, 1 + 2 * i, 1, T0); /* holes 2, 4, ..., 2 * holes */
	CHECK_EQ_INT(rec.nreq, 1 + MOLD_AHEAD_MAX);
	CHECK_EQ_INT(sess.nahead, MOLD_AHEAD_MAX);
	mold_tick(&sess, T0 + MS);
	CHECK_EQ_INT(rec.nreq, 1 + MOLD_AHEAD_MAX); /* full: no more */
	for (unsigned round = 0; round < holes && answered < rec.nreq; round++) {
		unsigned to = rec.nreq;

		answer_requests(answered, T0 + 2 * MS);
		answered = to;
	}
	CHECK_EQ_INT(rec.nreq, holes);
	CHECK(delivered_run(1, 1 + 2 * holes, 0, 0));
	CHECK_EQ_INT(sess.stats.gaps, holes);
	CHECK_EQ_INT(sess.stats.recovered_messages, holes);
	CHECK_EQ_INT(sess.stats.ahead_holes,
	             holes - 1); /* all but gap 2: each place freed is taken */
	check_gap_identity();
	CHECK_EQ_INT(sess.nbuf, 0);
}

/* Two lines: a later hole is asked for ahead once both lines passed it
 * (found by the tick), not while the other line may still bring it. */
static void test_ahead_two_lines(void)
{
	struct mold_config c;

	mold_config_default(&c);
	c.lines = 2;
	setup(&c, true);
	feed(0, 1, 1, T0);
	feed(1, 1, 1, T0);
	feed(0, 3, 1, T0); /* A misses 2 */
	feed(1, 3, 1, T0); /* B too: gap 2, requested */
	CHECK_EQ_INT(rec.nreq, 1);
	feed(0, 5, 1, T0); /* A misses 4: B may have it */
	CHECK_EQ_INT(rec.nreq, 1);
	feed(1, 5, 1, T0); /* B missed it too (its 5 is a duplicate) */
	mold_tick(&sess, T0 + MS);
	CHECK_EQ_INT(rec.nreq, 2);
	CHECK(rec.req[1].seq == 4);
	answer_requests(0, T0 + 2 * MS);
	CHECK(delivered_run(1, 5, 0, 0));
	CHECK_EQ_INT(sess.stats.gaps, 2);
	CHECK_EQ_INT(sess.stats.recovered_messages, 2);
	check_gap_identity();
}

/* A full buffer gives up the lowest gap while ahead holes are out: those
 * filled are settled recovered, the counts stay whole. */
static void test_ahead_overflow(void)
{
	unsigned n = MOLD_BUFFER_PACKETS;
	uint64_t seq = 6;

	setup_default(true);
	feed(0, 1, 1, T0);
	feed(0, 3, 1, T0);                        /* gap 2 */
	feed(0, 5, 1, T0);                        /* hole 4, ahead */
	feed(MOLD_LINE_REREQUEST, 4, 1, T0 + MS); /* its answer; 2's never comes */

	while (sess.nfree > 0 && seq < 6 + n)
		feed(0, seq++, 1, T0 + MS);
	CHECK_EQ_INT(sess.nbuf, n);
	feed(0, seq, 1, T0 + MS); /* full: gap 2 given up, the rest flows */
	CHECK_EQ_INT(sess.stats.buffer_overflow, 1);
	CHECK(delivered_run(1, seq, 2, 2));
	CHECK_EQ_INT(rec.ngap, 2);
	CHECK(rec.gap[0].first == 2 && !rec.gap[0].recovered);
	CHECK(rec.gap[1].first == 4 && rec.gap[1].recovered);
	CHECK_EQ_INT(sess.stats.unrecoverable_messages, 1);
	CHECK_EQ_INT(sess.stats.recovered_messages, 1);
	check_gap_identity();
	CHECK_EQ_INT(sess.nahead, 0);
}

/* One line that waits for reordering: an ahead hole is asked for once its
 * own wait ran out, at the deadline mold_deadline gives for it. */
static void test_ahead_single_wait(void)
{
	struct mold_config c;

	mold_config_default(&c);
	c.single_wait_ns = 10 * MS;
	setup(&c, true);
	feed(0, 1, 1, T0);
	feed(0, 3, 1, T0); /* hole 2 waits 10 ms */
	CHECK_EQ_INT(mold_deadline(&sess), T0 + 10 * MS);
	mold_tick(&sess, T0 + 10 * MS);
	CHECK_EQ_INT(rec.nreq, 1);
	feed(0, 5, 1, T0 + 11 * MS); /* hole 4: its wait runs to 21 ms */
	CHECK_EQ_INT(rec.nreq, 1);
	CHECK_EQ_INT(mold_deadline(&sess), T0 + 21 * MS);
	mold_tick(&sess, T0 + 21 * MS);
	CHECK_EQ_INT(rec.nreq, 2);
	CHECK(rec.req[1].seq == 4 && rec.req[1].count == 1);
	CHECK_EQ_INT(mold_deadline(&sess), T0 + 10 * MS + MOLD_TIMEOUT_DEFAULT_NS);
	answer_requests(0, T0 + 22 * MS);
	CHECK(delivered_run(1, 5, 0, 0));
	check_gap_identity();
}

/* ahead_max 0: one hole at a time, as before parallel recovery. */
static void test_ahead_off(void)
{
	struct mold_config c;

	mold_config_default(&c);
	c.ahead_max = 0;
	setup(&c, true);
	feed(0, 1, 1, T0);
	feed(0, 3, 1, T0);
	feed(0, 5, 1, T0);
	CHECK_EQ_INT(rec.nreq, 1);
	answer_requests(0, T0 + MS);
	CHECK_EQ_INT(rec.nreq, 2); /* 4, once 2 settled */
	answer_requests(1, T0 + MS);
	CHECK(delivered_run(1, 5, 0, 0));
	CHECK_EQ_INT(sess.stats.ahead_holes, 0);
	check_gap_identity();
}

int main(void)
{
	test_in_order();
	test_duplicates_and_overlap();
	test_reorder();
	test_gap_no_recovery();
	test_gap_recovered();
	test_gap_request_unanswered();
	test_gap_partly_recovered();
	test_ab();
	test_ab_one_gap();
	test_heartbeat_tail_gap();
	test_session();
	test_seq_jump();
	test_malformed();
	test_buffer_overflow();
	test_buffer_window();
	test_buffered_cover();
	test_many_holes();
	test_request_encode();
	test_ahead_parallel();
	test_ahead_unanswered();
	test_ahead_bound();
	test_ahead_two_lines();
	test_ahead_overflow();
	test_ahead_single_wait();
	test_ahead_off();
	CHECK_DONE();
}
