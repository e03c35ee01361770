/* mold.c -- MoldUDP64 sequencing: A/B arbitration, hole buffering, re-request
 * rounds and give-up.  See mold.h for the protocol and the rules.
 *
 * The state machine follows one hole at a time: the lowest missing range
 * [next, hole_last].  Later holes wait in the buffer behind it; each remembers
 * when it showed (the arrival of the packet after it), so when the first is
 * settled the next one's wait has already been running and deadlines never
 * stack up.  While the lowest is a gap being re-requested, later holes every
 * line missed are declared and re-requested at once (the "ahead" holes, at
 * most MOLD_AHEAD_MAX), so their answers travel together with its own.
 */
#include "trades/mold.h"

#include <assert.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "trades/log.h"

#define MOLD_LOG_MAX 192

static uint16_t mold_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint64_t mold_be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static void mold_log(struct mold_session *m, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

static void mold_log(struct mold_session *m, const char *fmt, ...)
{
	char buf[MOLD_LOG_MAX];
	va_list ap;

	if (!m->h.log)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	m->h.log(m->h.ctx, buf);
}

/* A gap's log line: at most 20 a second (1% loss at full rate would be
 * thousands), the number held back said with the next one let through.
 * Every gap is counted in the stats whether logged or not. */
static void mold_gap_log(struct mold_session *m, const char *what, uint64_t first, uint64_t last,
                         const char *tail)
{
	uint64_t suppressed = 0;

	if (!ratelimit_allow(&m->gap_rl, m->now, &suppressed))
		return;
	if (suppressed)
		mold_log(m, "mold: %s %llu-%llu (%llu messages)%s; %llu gap lines held back", what,
		         (unsigned long long)first, (unsigned long long)last,
		         (unsigned long long)(last - first + 1), tail,
		         (unsigned long long)suppressed);
	else
		mold_log(m, "mold: %s %llu-%llu (%llu messages)%s", what, (unsigned long long)first,
		         (unsigned long long)last, (unsigned long long)(last - first + 1), tail);
}

/* A session name for a log line: non-printable bytes as '?'. */
static void mold_session_str(const uint8_t *pkt, char shown[MOLD_SESSION_LEN + 1])
{
	for (int i = 0; i < MOLD_SESSION_LEN; i++)
		shown[i] = (pkt[i] >= 0x20 && pkt[i] < 0x7f) ? (char)pkt[i] : '?';
	shown[MOLD_SESSION_LEN] = '\0';
}

void mold_config_default(struct mold_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->first_seq = 1; /* every MoldUDP64 session numbers from 1 */
	cfg->lines = 1;
	cfg->wait_ns = MOLD_TIMEOUT_DEFAULT_NS;
	cfg->single_wait_ns = 0;
	cfg->timeout_ns = MOLD_TIMEOUT_DEFAULT_NS;
	cfg->retries = MOLD_RETRIES_DEFAULT;
	cfg->request_max = MOLD_REQUEST_MAX_DEFAULT;
	cfg->ahead_max = MOLD_AHEAD_MAX;
}

void mold_init(struct mold_session *m, const struct mold_config *cfg, const struct mold_handler *h)
{
	ENSURE(h->message != NULL);
	ENSURE(cfg->request_max >= 1);
	ENSURE(cfg->lines >= 1 && cfg->lines <= 2);
	ENSURE(cfg->ahead_max <= MOLD_AHEAD_MAX);
	ENSURE(cfg->wait_ns >= 0 && cfg->wait_ns <= MOLD_WAIT_MAX_NS);
	ENSURE(cfg->single_wait_ns >= 0 && cfg->single_wait_ns <= MOLD_WAIT_MAX_NS);
	ENSURE(cfg->timeout_ns >= 0 && cfg->timeout_ns <= MOLD_WAIT_MAX_NS);
	memset(m, 0, offsetof(struct mold_session, slots));
	m->cfg = *cfg;
	m->h = *h;
	if (cfg->session_set) {
		memcpy(m->session, cfg->session, MOLD_SESSION_LEN);
		m->have_session = true;
	}
	m->hostile_rl = (struct ratelimit)RATELIMIT_INIT(10, 5);
	m->gap_rl = (struct ratelimit)RATELIMIT_INIT(1, 20);
	m->overflow_rl = (struct ratelimit)RATELIMIT_INIT(10, 5);
	m->next = cfg->first_seq;
	m->horizon = cfg->first_seq;
	m->state = MOLD_IDLE;
	m->ahead_due_ns = INT64_MAX;
	m->nfree = MOLD_BUFFER_PACKETS;
	for (unsigned i = 0; i < MOLD_BUFFER_PACKETS; i++)
		m->free_slots[i] = (uint16_t)(MOLD_BUFFER_PACKETS - 1 - i);
}

int mold_request_encode(uint8_t out[MOLD_REQUEST_LEN], const uint8_t session[MOLD_SESSION_LEN],
                        uint64_t seq, uint16_t count)
{
	ENSURE(count >= 1 && count != MOLD_COUNT_EOS);
	memcpy(out, session, MOLD_SESSION_LEN);
	for (int i = 0; i < 8; i++)
		out[MOLD_SESSION_LEN + i] = (uint8_t)(seq >> (56 - 8 * i));
	out[18] = (uint8_t)(count >> 8);
	out[19] = (uint8_t)count;
	return MOLD_REQUEST_LEN;
}

/* Header and every message block must exactly fill the datagram: a packet
 * that lies about its lengths cannot be trusted for any of its messages. */
static bool mold_valid(const uint8_t *pkt, size_t len, uint64_t *first, uint16_t *count)
{
	size_t off = MOLD_HEADER_LEN;

	if (len < MOLD_HEADER_LEN)
		return false;
	*first = mold_be64(pkt + MOLD_SESSION_LEN);
	*count = mold_be16(pkt + 18);
	if (*first == 0) /* sequence numbers start at 1 */
		return false;
	if (*count == 0 || *count == MOLD_COUNT_EOS)
		return len == MOLD_HEADER_LEN;
	if (*first > UINT64_MAX - *count)
		return false;
	for (unsigned i = 0; i < *count; i++) {
		size_t mlen;

		if (len - off < 2)
			return false;
		mlen = mold_be16(pkt + off);
		if (len - off - 2 < mlen)
			return false;
		off += 2 + mlen;
	}
	return off == len;
}

/* Delivers the messages of a validated packet from seq m->next on; the ones
 * below it were had already (overlap).  Requires first <= next. */
static void mold_deliver(struct mold_session *m, const uint8_t *pkt, size_t len, uint64_t first,
                         uint16_t count, int64_t rx_ns, bool rx_kernel)
{
	size_t off = MOLD_HEADER_LEN;

	ENSURE(first <= m->next && m->next < first + count);
	for (unsigned i = 0; i < count; i++) {
		size_t mlen = mold_be16(pkt + off);
		uint64_t seq = first + i;

		ENSURE(off + 2 + mlen <= len);
		if (seq < m->next) {
			m->stats.overlap_messages++;
		} else {
			m->h.message(m->h.ctx, pkt + off + 2, mlen, seq, rx_ns, rx_kernel);
			m->stats.messages_delivered++;
			m->next = seq + 1;
		}
		off += 2 + mlen;
	}
	ENSURE(off == len);
}

/* The i-th buffered packet in seq order. */
static const struct mold_slot *mold_at(const struct mold_session *m, unsigned i)
{
	assert(i < m->nbuf);
	return &m->slots[m->order[m->ohead + i]];
}

/* Delivers buffered packets that are now in sequence; drops the ones the
 * stream has passed. */
static void mold_drain(struct mold_session *m)
{
	while (m->nbuf > 0) {
		uint16_t idx = m->order[m->ohead];
		struct mold_slot *s = &m->slots[idx];

		if (s->first > m->next)
			break;
		if (s->first + s->count <= m->next)
			m->stats.dup_messages += s->count;
		else
			mold_deliver(m, s->data, s->len, s->first, s->count, s->rx_ns,
			             s->rx_kernel);
		m->nbuf--;
		m->ohead++;
		m->free_slots[m->nfree++] = idx;
	}
	if (m->nbuf == 0) {
		m->buf_end = 0;
		m->ohead = 0;
	}
}

static bool mold_hole(const struct mold_session *m)
{
	return m->nbuf > 0 || m->horizon > m->next;
}

/* Last seq of the hole starting at next: up to the first buffered packet,
 * else up to the highest seq known to exist. */
static uint64_t mold_hole_last(const struct mold_session *m)
{
	ENSURE(mold_hole(m));
	if (m->nbuf > 0)
		return mold_at(m, 0)->first - 1;
	return m->horizon - 1;
}

static int64_t mold_hole_seen(const struct mold_session *m)
{
	return m->nbuf > 0 ? mold_at(m, 0)->seen_ns : m->horizon_seen_ns;
}

static bool mold_two_lines(const struct mold_session *m)
{
	return m->cfg.lines >= 2 || (m->lines_seen & 3) == 3;
}

static int64_t mold_wait_ns(const struct mold_session *m)
{
	return mold_two_lines(m) ? m->cfg.wait_ns : m->cfg.single_wait_ns;
}

/* Both lines have shown a seq past the hole without filling it: both missed
 * it, and waiting longer would only fill the buffer. */
static bool mold_both_passed(const struct mold_session *m)
{
	uint64_t last = mold_hole_last(m);

	return mold_two_lines(m) && m->line_end[0] > last && m->line_end[1] > last;
}

/* true if every seq of [first, last] is in a buffered packet already.
 * A packet past everything buffered (the common case while a gap is out:
 * the line goes on in order) is answered without a walk of the buffer. */
static bool mold_buffered(const struct mold_session *m, uint64_t first, uint64_t last)
{
	uint64_t pos = first;

	if (first >= m->buf_end)
		return false;
	for (unsigned i = 0; i < m->nbuf; i++) {
		const struct mold_slot *s = mold_at(m, i);

		if (s->first > pos)
			return false;
		if (s->first + s->count > pos)
			pos = s->first + s->count;
		if (pos > last)
			return true;
	}
	return false;
}

/* Keeps a packet that arrived after a hole.  Requires a free slot.
 * Returns its position in order[]. */
static uint16_t mold_buffer_put(struct mold_session *m, const uint8_t *pkt, size_t len,
                                uint64_t first, uint16_t count, int64_t rx_ns, bool rx_kernel,
                                int64_t now)
{
	uint16_t idx, pos, *o;
	struct mold_slot *s;

	ENSURE(m->nfree > 0 && len <= MOLD_PACKET_MAX);
	ENSURE(m->nbuf + m->nfree == MOLD_BUFFER_PACKETS);
	idx = m->free_slots[--m->nfree];
	s = &m->slots[idx];
	s->first = first;
	s->count = count;
	s->len = (uint16_t)len;
	s->rx_ns = rx_ns;
	s->rx_kernel = rx_kernel;
	s->seen_ns = now;
	memcpy(s->data, pkt, len);
	if (first + count > m->buf_end)
		m->buf_end = first + count;
	/* Packets mostly arrive in order: search for the place from the end. */
	ENSURE(m->ohead + m->nbuf <= 2 * MOLD_BUFFER_PACKETS);
	if (m->ohead + m->nbuf == 2 * MOLD_BUFFER_PACKETS) {
		/* the window reached the end: back to 0, once per buffer's worth */
		memmove(&m->order[0], &m->order[m->ohead], m->nbuf * sizeof(m->order[0]));
		m->ohead = 0;
	}
	pos = m->nbuf;
	while (pos > 0 && mold_at(m, pos - 1)->first > first)
		pos--;
	o = &m->order[m->ohead];
	memmove(&o[pos + 1], &o[pos], (m->nbuf - pos) * sizeof(o[0]));
	o[pos] = idx;
	m->nbuf++;
	m->stats.buffered++;
	return pos;
}

static void mold_ahead_take(struct mold_session *m);
static bool mold_ahead_front(const struct mold_session *m);
static void mold_ahead_settle(struct mold_session *m);

static void mold_gap_declare(struct mold_session *m)
{
	if (mold_ahead_front(m)) {
		mold_ahead_take(m); /* counted when it was requested */
		return;
	}
	m->gap_first = m->next;
	m->gap_last = mold_hole_last(m);
	m->gap_unrecovered = 0;
	m->req_retries = 0;
	m->req_last = 0;
	m->req_next = 0;
	m->state = MOLD_REQUESTING;
	m->stats.gaps++;
	m->stats.gap_messages += m->gap_last - m->gap_first + 1;
	mold_gap_log(m, "gap", m->gap_first, m->gap_last,
	             m->h.request ? " missed by every line, re-requesting"
	                          : " missed by every line, no recovery configured");
}

/* Settles the declared gap once next has passed it. */
static void mold_gap_settle(struct mold_session *m)
{
	uint64_t total = m->gap_last - m->gap_first + 1;

	ENSURE(m->state == MOLD_REQUESTING && m->next > m->gap_last);
	ENSURE(m->gap_unrecovered <= total);
	m->stats.recovered_messages += total - m->gap_unrecovered;
	if (m->gap_unrecovered == 0) {
		if (m->h.gap)
			m->h.gap(m->h.ctx, m->gap_first, m->gap_last, true);
		mold_gap_log(m, "gap", m->gap_first, m->gap_last, " recovered");
	}
	m->state = MOLD_IDLE;
}

/* Gives up what is still missing of the declared gap (declaring it first if
 * it was only a hole): every missing piece goes to the gap callback, the
 * buffered packets between and after the pieces are delivered. */
static void mold_give_up(struct mold_session *m)
{
	if (m->state != MOLD_REQUESTING)
		mold_ahead_settle(m); /* an earlier give-up may have passed some */
	if (m->state == MOLD_IDLE && !mold_ahead_front(m))
		m->stats.holes++;
	if (m->state != MOLD_REQUESTING)
		mold_gap_declare(m);
	/* Each round skips one missing piece and drains at least one buffered
	 * packet or reaches the gap's end: at most nbuf + 1 rounds. */
	for (unsigned i = 0; i <= MOLD_BUFFER_PACKETS && m->next <= m->gap_last; i++) {
		uint64_t last = mold_hole_last(m);

		if (last > m->gap_last)
			last = m->gap_last;
		m->stats.unrecoverable_messages += last - m->next + 1;
		m->gap_unrecovered += last - m->next + 1;
		if (m->h.gap)
			m->h.gap(m->h.ctx, m->next, last, false);
		mold_gap_log(m, "gave up", m->next, last, " unrecoverable");
		m->next = last + 1;
		mold_drain(m);
	}
	ENSURE(m->next > m->gap_last);
	mold_gap_settle(m);
}

/* Asks for [from, last] in at most MOLD_REQUEST_BURST packets of at most
 * request_max messages.  Returns the last seq asked for. */
static uint64_t mold_request_range(struct mold_session *m, uint64_t from, uint64_t last)
{
	uint8_t pkt[MOLD_REQUEST_LEN];

	ENSURE(m->h.request != NULL && from <= last);
	for (unsigned i = 0; i < MOLD_REQUEST_BURST && from <= last; i++) {
		uint64_t n = last - from + 1;

		if (n > m->cfg.request_max)
			n = m->cfg.request_max;
		mold_request_encode(pkt, m->session, from, (uint16_t)n);
		if (m->h.request(m->h.ctx, pkt, sizeof(pkt)) < 0)
			m->stats.request_errors++;
		else
			m->stats.requests_sent++;
		from += n;
	}
	return from - 1;
}

/* One re-request round for what is missing of the gap, from next on. */
static void mold_request_round(struct mold_session *m, int64_t now)
{
	uint64_t last = mold_hole_last(m);

	if (last > m->gap_last)
		last = m->gap_last;
	m->req_last = mold_request_range(m, m->next, last);
	m->req_next = m->next;
	m->req_deadline_ns = now + m->cfg.timeout_ns;
}

/* ---- ahead holes: later holes re-requested while the lowest gap is out ---- */

static bool mold_ahead_overlaps(const struct mold_session *m, uint64_t first, uint64_t last)
{
	for (unsigned i = 0; i < m->nahead; i++)
		if (first <= m->ahead[i].last && last >= m->ahead[i].first)
			return true;
	return false;
}

/* Every line missed the hole ending at last that showed at seen_ns. */
static bool mold_missed(const struct mold_session *m, uint64_t last, int64_t seen_ns, int64_t now)
{
	if (mold_two_lines(m) && m->line_end[0] > last && m->line_end[1] > last)
		return true;
	return now - seen_ns >= mold_wait_ns(m);
}

/* [first, last], a hole between buffered packets that showed at seen_ns:
 * declared and re-requested now if it lies above the lowest gap, every
 * line missed it and an ahead slot is free. */
static void mold_ahead_hole(struct mold_session *m, uint64_t first, uint64_t last, int64_t seen_ns,
                            int64_t now)
{
	unsigned pos = m->nahead;

	if (first > last || first <= m->gap_last || m->nahead >= m->cfg.ahead_max ||
	    mold_ahead_overlaps(m, first, last))
		return;
	if (!mold_missed(m, last, seen_ns, now)) {
		if (seen_ns + mold_wait_ns(m) < m->ahead_due_ns)
			m->ahead_due_ns = seen_ns + mold_wait_ns(m); /* a tick then */
		return;
	}
	while (pos > 0 && m->ahead[pos - 1].first > first)
		pos--;
	memmove(&m->ahead[pos + 1], &m->ahead[pos], (m->nahead - pos) * sizeof(m->ahead[0]));
	m->ahead[pos] = (struct mold_ahead){.first = first, .last = last, .sent_ns = now};
	m->ahead[pos].req_last = mold_request_range(m, first, last);
	m->nahead++;
	m->stats.holes++;
	m->stats.gaps++;
	m->stats.ahead_holes++;
	m->stats.gap_messages += last - first + 1;
	mold_gap_log(m, "gap", first, last, " missed by every line, re-requested ahead");
}

/* Whether ahead holes may be declared now: the lowest gap is out. */
static bool mold_ahead_open(const struct mold_session *m)
{
	return m->state == MOLD_REQUESTING && m->h.request && m->nahead < m->cfg.ahead_max;
}

/* After a packet was buffered at order position pos: the holes either side
 * of it, the only places a new hole can show.  The neighbours say cheaply
 * whether there is one; only then is the exact start found (a packet
 * further back may overlap it), O(pos) once per new hole. */
static void mold_ahead_new(struct mold_session *m, unsigned pos, int64_t now)
{
	const struct mold_slot *s = mold_at(m, pos), *p, *n;
	bool before, after;
	uint64_t end = m->next;

	if (!mold_ahead_open(m))
		return;
	p = pos > 0 ? mold_at(m, pos - 1) : NULL;
	n = pos + 1 < m->nbuf ? mold_at(m, pos + 1) : NULL;
	before = p && p->first + p->count < s->first && s->first - 1 > m->gap_last;
	after = n && s->first + s->count < n->first && n->first - 1 > m->gap_last;
	if (!before && !after)
		return;
	for (unsigned i = 0; i < pos; i++) {
		const struct mold_slot *b = mold_at(m, i);

		if (b->first + b->count > end)
			end = b->first + b->count;
	}
	if (before)
		mold_ahead_hole(m, end, s->first - 1, s->seen_ns, now);
	if (s->first + s->count > end)
		end = s->first + s->count;
	if (after)
		mold_ahead_hole(m, end, n->first - 1, n->seen_ns, now);
}

/* Every hole of the buffer (when a gap is declared, and at ticks: a wait
 * that ran out since).  O(nbuf). */
static void mold_ahead_scan(struct mold_session *m, int64_t now)
{
	uint64_t end = m->next;

	m->ahead_due_ns = INT64_MAX; /* set again by the holes still waiting */
	for (unsigned i = 0; i < m->nbuf && mold_ahead_open(m); i++) {
		const struct mold_slot *s = mold_at(m, i);

		if (end < s->first)
			mold_ahead_hole(m, end, s->first - 1, s->seen_ns, now);
		if (s->first + s->count > end)
			end = s->first + s->count;
	}
}

/* Ahead holes the delivery has passed: filled before it got there. */
static void mold_ahead_settle(struct mold_session *m)
{
	while (m->nahead > 0 && m->next > m->ahead[0].last) {
		struct mold_ahead a = m->ahead[0];

		m->nahead--;
		memmove(&m->ahead[0], &m->ahead[1], m->nahead * sizeof(m->ahead[0]));
		m->stats.recovered_messages += a.last - a.first + 1;
		if (m->h.gap)
			m->h.gap(m->h.ctx, a.first, a.last, true);
		mold_gap_log(m, "gap", a.first, a.last, " recovered");
	}
}

/* The lowest hole is an ahead hole, counted and requested already. */
static bool mold_ahead_front(const struct mold_session *m)
{
	return m->nahead > 0 && m->next >= m->ahead[0].first;
}

/* It becomes the declared gap, its request's deadline running from when
 * it went out. */
static void mold_ahead_take(struct mold_session *m)
{
	struct mold_ahead a = m->ahead[0];

	ENSURE(mold_ahead_front(m) && m->next <= a.last);
	m->nahead--;
	memmove(&m->ahead[0], &m->ahead[1], m->nahead * sizeof(m->ahead[0]));
	m->gap_first = a.first;
	m->gap_last = a.last;
	m->gap_unrecovered = 0;
	m->req_retries = 0;
	m->req_last = a.req_last;
	m->req_next = a.first;
	m->req_deadline_ns = a.sent_ns + m->cfg.timeout_ns;
	m->state = MOLD_REQUESTING;
	mold_ahead_scan(m, m->now); /* its place ahead is free: the holes behind it */
}

/* A declared gap: settled, next round, retry, or give up.  Returns true if
 * the state changed so that the caller should look again. */
static bool mold_step_requesting(struct mold_session *m, int64_t now)
{
	if (m->next > m->gap_last) {
		mold_gap_settle(m);
		return true;
	}
	if (!m->h.request) {
		mold_give_up(m);
		return true;
	}
	if (m->req_next == 0 || m->next > m->req_last) {
		/* first round, or all asked for came: ask for the rest now */
		bool first = m->req_next == 0;

		mold_request_round(m, now);
		if (first)
			mold_ahead_scan(m, now); /* the holes already behind it */
		return false;
	}
	if (now < m->req_deadline_ns)
		return false;
	if (m->next > m->req_next) {
		mold_request_round(m, now); /* progress: not a retry */
		return false;
	}
	if (m->req_retries < m->cfg.retries) {
		m->req_retries++;
		mold_request_round(m, now);
		return false;
	}
	mold_give_up(m);
	return true;
}

/* Runs the hole state machine until it has to wait for time or packets.
 * A hole takes at most MOLD_PASSES_PER_HOLE passes (opened, declared,
 * settled) and settling it drains at least one buffered packet or closes
 * the tail hole: bounded by the buffer size. */
#define MOLD_PASSES_PER_HOLE 4
static void mold_advance(struct mold_session *m, int64_t now)
{
	for (unsigned i = 0; i < MOLD_PASSES_PER_HOLE * (MOLD_BUFFER_PACKETS + 2); i++) {
		mold_drain(m);
		if (m->state != MOLD_REQUESTING)
			mold_ahead_settle(m);
		switch (m->state) {
		case MOLD_IDLE:
			if (!mold_hole(m))
				return;
			if (mold_ahead_front(m)) {
				mold_gap_declare(m);
				break;
			}
			m->state = MOLD_WAITING;
			m->gap_last = mold_hole_last(m); /* the hole's end, for "filled" */
			m->stats.holes++;
			break;
		case MOLD_WAITING:
			if (m->next > m->gap_last) {
				m->stats.holes_filled++; /* another line had it */
				m->state = MOLD_IDLE;
				break;
			}
			if (!mold_both_passed(m) && now - mold_hole_seen(m) < mold_wait_ns(m))
				return;
			mold_gap_declare(m);
			break;
		case MOLD_REQUESTING:
			if (!mold_step_requesting(m, now))
				return;
			break;
		}
	}
	ENSURE(!"mold_advance: unbounded");
}

/* The buffer is full and a packet must wait: the oldest gap is given up now
 * rather than dropping data we hold. */
static void mold_overflow(struct mold_session *m)
{
	uint64_t suppressed = 0;

	ENSURE(m->nfree == 0 && m->nbuf > 0);
	m->stats.buffer_overflow++;
	if (ratelimit_allow(&m->overflow_rl, m->now, &suppressed))
		mold_log(m,
		         "mold: reorder buffer full (%u packets), giving up the oldest gap (%llu "
		         "similar suppressed)",
		         MOLD_BUFFER_PACKETS, (unsigned long long)suppressed);
	/* The declared gap may end before the first buffered packet (a tail
	 * hole shown by a heartbeat); then the hole before that packet is
	 * given up too, which frees its slot. */
	for (int i = 0; i < 2 && m->nfree == 0; i++)
		mold_give_up(m);
	ENSURE(m->nfree > 0);
}

/* A data packet of the session: deliver, drop as duplicate, or buffer. */
static void mold_data(struct mold_session *m, const uint8_t *pkt, size_t len, uint64_t first,
                      uint16_t count, int64_t rx_ns, bool rx_kernel, int64_t now)
{
	uint64_t last = first + count - 1;

	if (last < m->next) {
		m->stats.dup_messages += count;
		return;
	}
	if (first <= m->next) {
		mold_deliver(m, pkt, len, first, count, rx_ns, rx_kernel);
		return;
	}
	if (mold_buffered(m, first, last)) {
		m->stats.dup_messages += count;
		return;
	}
	if (len > MOLD_PACKET_MAX) {
		m->stats.oversize++;
		return;
	}
	if (m->nfree == 0) {
		mold_overflow(m);
		mold_data(m, pkt, len, first, count, rx_ns, rx_kernel, now); /* once: room now */
		return;
	}
	mold_ahead_new(m, mold_buffer_put(m, pkt, len, first, count, rx_ns, rx_kernel, now), now);
}

static void mold_raise_horizon(struct mold_session *m, uint64_t seq_end, int64_t now)
{
	if (seq_end > m->horizon) {
		m->horizon = seq_end;
		m->horizon_seen_ns = now;
	}
}

/* Session filter; adopts the first session seen when none is configured. */
static bool mold_session_ok(struct mold_session *m, const uint8_t *pkt)
{
	char shown[MOLD_SESSION_LEN + 1];

	if (m->have_session)
		return memcmp(m->session, pkt, MOLD_SESSION_LEN) == 0;
	memcpy(m->session, pkt, MOLD_SESSION_LEN);
	m->have_session = true;
	mold_session_str(pkt, shown);
	mold_log(m, "mold: adopted session '%s'", shown);
	return true;
}

/* A packet of another session: counted, logged at most 5 per 10 s. */
static int mold_wrong_session(struct mold_session *m, const uint8_t *pkt, int64_t now)
{
	char got[MOLD_SESSION_LEN + 1], want[MOLD_SESSION_LEN + 1];
	uint64_t suppressed = 0;

	m->stats.wrong_session++;
	if (ratelimit_allow(&m->hostile_rl, now, &suppressed)) {
		mold_session_str(pkt, got);
		mold_session_str(m->session, want);
		mold_log(m,
		         "mold: packet of session '%s' on session '%s' dropped (%llu similar "
		         "suppressed)",
		         got, want, (unsigned long long)suppressed);
	}
	return MOLD_WRONG_SESSION;
}

/* true if the packet jumps too far ahead (MOLD_JUMP_MAX) to be followed:
 * counted and logged.  A data packet that continues the previous jumped
 * packet exactly is followed. */
static bool mold_jumped(struct mold_session *m, uint64_t first, uint16_t count, int64_t now)
{
	uint64_t suppressed = 0, end = first + (count == MOLD_COUNT_EOS ? 0 : count);

	if (m->next == 0 || first <= m->next || first - m->next <= MOLD_JUMP_MAX)
		return false;
	if (count != 0 && count != MOLD_COUNT_EOS && m->jump_next != 0 && first == m->jump_next) {
		mold_log(m, "mold: following a jump from seq %llu to %llu: two packets agree",
		         (unsigned long long)m->next, (unsigned long long)first);
		m->jump_next = 0;
		return false;
	}
	m->jump_next = count != 0 && count != MOLD_COUNT_EOS ? end : 0;
	m->stats.seq_jumps++;
	if (ratelimit_allow(&m->hostile_rl, now, &suppressed))
		mold_log(
		        m,
		        "mold: packet at seq %llu is %llu past the next seq %llu (more than %llu): "
		        "dropped, not followed (%llu similar suppressed)",
		        (unsigned long long)first, (unsigned long long)(first - m->next),
		        (unsigned long long)m->next, (unsigned long long)MOLD_JUMP_MAX,
		        (unsigned long long)suppressed);
	return true;
}

/* Once the end of session is known and everything before it delivered or
 * given up: one line saying so (the moment recovery ended). */
static void mold_complete(struct mold_session *m)
{
	if (m->complete || m->eos_seq == 0 || m->next < m->eos_seq || m->state != MOLD_IDLE ||
	    m->nbuf > 0)
		return;
	m->complete = true;
	mold_log(m,
	         "mold: session complete at seq %llu: %llu gaps, %llu messages recovered, "
	         "%llu given up",
	         (unsigned long long)m->eos_seq, (unsigned long long)m->stats.gaps,
	         (unsigned long long)m->stats.recovered_messages,
	         (unsigned long long)m->stats.unrecoverable_messages);
}

int mold_packet(struct mold_session *m, unsigned line, const uint8_t *pkt, size_t len,
                int64_t rx_ns, bool rx_kernel, int64_t now_mono_ns)
{
	uint64_t first, before = m->stats.messages_delivered;
	uint16_t count;

	ENSURE(line < MOLD_LINES);
	ENSURE(!m->busy);
	m->now = now_mono_ns;
	m->stats.packets++;
	m->stats.line_packets[line]++;
	if (!mold_valid(pkt, len, &first, &count)) {
		m->stats.malformed++;
		return MOLD_MALFORMED;
	}
	if (!mold_session_ok(m, pkt))
		return mold_wrong_session(m, pkt, now_mono_ns);
	if (mold_jumped(m, first, count, now_mono_ns))
		return MOLD_SEQ_JUMP;
	m->busy = true;
	if (line < MOLD_LINE_REREQUEST) {
		uint64_t end = first + (count == MOLD_COUNT_EOS ? 0 : count);

		m->lines_seen |= (uint8_t)(1u << line);
		if (end > m->line_end[line])
			m->line_end[line] = end;
	}
	if (m->next == 0) {
		m->next = m->horizon = first;
		mold_log(m, "mold: joined the session at seq %llu", (unsigned long long)first);
	}
	if (count == 0) {
		m->stats.heartbeats++;
		mold_raise_horizon(m, first, now_mono_ns);
	} else if (count == MOLD_COUNT_EOS) {
		m->stats.end_of_session++;
		mold_raise_horizon(m, first, now_mono_ns);
		if (first > m->eos_seq)
			m->eos_seq = first;
		if (m->stats.end_of_session == 1)
			mold_log(m, "mold: end of session, next seq %llu",
			         (unsigned long long)first);
	} else {
		mold_raise_horizon(m, first + count, now_mono_ns);
		mold_data(m, pkt, len, first, count, rx_ns, rx_kernel, now_mono_ns);
	}
	mold_advance(m, now_mono_ns);
	mold_complete(m);
	m->busy = false;
	return (int)(m->stats.messages_delivered - before);
}

void mold_tick(struct mold_session *m, int64_t now_mono_ns)
{
	ENSURE(!m->busy);
	m->now = now_mono_ns;
	if (m->state == MOLD_IDLE && !mold_hole(m))
		return;
	m->busy = true;
	mold_advance(m, now_mono_ns);
	mold_ahead_scan(m, now_mono_ns); /* holes whose wait ran out since */
	mold_complete(m);
	m->busy = false;
}

int64_t mold_deadline(const struct mold_session *m)
{
	switch (m->state) {
	case MOLD_WAITING:
		return mold_hole_seen(m) + mold_wait_ns(m);
	case MOLD_REQUESTING:
		return m->req_deadline_ns < m->ahead_due_ns ? m->req_deadline_ns : m->ahead_due_ns;
	case MOLD_IDLE:
		break;
	}
	return INT64_MAX;
}
