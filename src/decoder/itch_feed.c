/* itch_feed.c -- ITCH 5.0 and MoldUDP64 wired to the pipeline.
 *
 *   file bytes ──▶ itch_stream_feed ───────────────────────────┐
 *   A line ──┐                                                  ▼
 *   B line ──┼─▶ mold_packet (sequencer: order, dups, gaps) ─▶ itch_decode_msg
 *   answers ─┘        │ requests ─▶ re-request server            │ trades
 *                     └ gaps given up ─▶ pipeline_gap (journal)  ▼
 *                                                          pipeline_submit
 *
 * The ITCH decoder and the Mold session know nothing of feeds or state;
 * this file counts, interns and journals for them. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "trades/decoder.h"
#include "trades/log.h"
#include "trades/pipeline.h"
#include "trades/timefmt.h"

static int64_t itch_feed_intern(void *ctx, const char *sym, size_t len)
{
	struct decoder_itch *x = ctx;

	return pipeline_intern(x->pipe, sym, len);
}

/* t carries the feed id and TRADE_F_SEQ_SPARSE already (ih below). */
static void itch_feed_trade(void *ctx, const struct trade *t)
{
	struct decoder_itch *x = ctx;

	pipeline_received(x->pipe, x->feed, 1);
	/* ITCH prices are unsigned: 0 is no price at all (a corrupted message) */
	if (t->price <= 0) {
		char what[64];
		int n = snprintf(what, sizeof(what), "match %llu price 0",
		                 (unsigned long long)t->trade_id);

		pipeline_malformed(x->pipe, x->feed, MALFORMED_PRICE_NONPOSITIVE, "itch", what,
		                   (size_t)n);
		return;
	}
	pipeline_submit(x->pipe, t);
}

static void itch_feed_message(void *ctx, const uint8_t *msg, size_t len, uint64_t seq,
                              int64_t rx_ns, bool rx_kernel)
{
	struct decoder_itch *x = ctx;

	itch_decode_msg(&x->itch, msg, len, seq, rx_ns, rx_kernel);
}

static void itch_feed_gap(void *ctx, uint64_t first, uint64_t last, bool recovered)
{
	struct decoder_itch *x = ctx;

	if (!recovered)
		pipeline_gap(x->pipe, x->feed, first, last);
}

static int itch_feed_request(void *ctx, const uint8_t *pkt, size_t len)
{
	struct decoder_itch *x = ctx;
	ssize_t n = sendto(x->request_fd, pkt, len, MSG_DONTWAIT,
	                   (const struct sockaddr *)&x->request_addr, x->request_addrlen);

	return n == (ssize_t)len ? 0 : -1;
}

static void itch_feed_log(void *ctx, const char *msg)
{
	struct decoder_itch *x = ctx;

	log_warn("feed %s: %s", pipeline_feed_name(x->pipe, x->feed), msg);
}

int decoder_itch_init(struct decoder_itch *x, struct pipeline *p, uint16_t feed,
                      const struct decoder_itch_config *cfg, char *err, size_t errlen)
{
	struct itch_handler ih = {.ctx = x,
	                          .intern = itch_feed_intern,
	                          .trade = itch_feed_trade,
	                          .feed = feed,
	                          .flags = cfg->mold ? TRADE_F_SEQ_SPARSE : 0};
	struct mold_handler mh = {
	        .ctx = x, .message = itch_feed_message, .gap = itch_feed_gap, .log = itch_feed_log};

	memset(x, 0, sizeof(*x));
	x->pipe = p;
	x->feed = feed;
	x->request_fd = cfg->request_fd;
	x->request_addr = cfg->request_addr;
	x->request_addrlen = cfg->request_addrlen;
	if (itch_init(&x->itch, cfg->max_orders, cfg->max_matches, cfg->midnight_ns, &ih) < 0) {
		snprintf(err, errlen, "ITCH decoder for %llu orders, %llu matches: %s",
		         (unsigned long long)cfg->max_orders, (unsigned long long)cfg->max_matches,
		         strerror(errno));
		return -1;
	}
	itch_stream_init(&x->stream);
	if (!cfg->mold)
		return 0;
	/* Large (its packet buffer is inline): allocated once, here. */
	x->session = malloc(sizeof(*x->session));
	if (!x->session) {
		itch_free(&x->itch);
		snprintf(err, errlen, "MoldUDP64 session: out of memory");
		return -1;
	}
	if (cfg->request_fd >= 0)
		mh.request = itch_feed_request;
	mold_init(x->session, &cfg->mold_cfg, &mh);
	return 0;
}

void decoder_itch_free(struct decoder_itch *x)
{
	itch_free(&x->itch);
	free(x->session);
	x->session = NULL;
}

void decoder_itch_attach(struct decoder *d, struct decoder_itch *x, unsigned line)
{
	d->itch = x;
	d->line = (uint8_t)line;
}

/* Adds what a counter grew by since the last publish: the state's counters
 * outlive this process, the decoder's start from zero at every start. */
static void itch_feed_publish(struct decoder_itch *x, enum state_ext e, uint64_t now)
{
	pipeline_ext_add(x->pipe, x->feed, e, now - x->published[e]);
	x->published[e] = now;
}

static void itch_feed_publish_all(struct decoder_itch *x)
{
	const struct itch_stats *is = &x->itch.stats;
	uint64_t msgs = 0;
	unsigned i;

	if (pipeline_decode_only(x->pipe))
		return;
	for (i = 0; i < 256; i++)
		msgs += is->msgs[i];
	itch_feed_publish(x, STATE_EXT_MESSAGES, msgs);
	itch_feed_publish(x, STATE_EXT_UNKNOWN_ORDER_E, is->missing_e);
	itch_feed_publish(x, STATE_EXT_UNKNOWN_ORDER_C, is->missing_c);
	itch_feed_publish(x, STATE_EXT_UNKNOWN_ORDER_X, is->missing_x);
	itch_feed_publish(x, STATE_EXT_UNKNOWN_ORDER_D, is->missing_d);
	itch_feed_publish(x, STATE_EXT_UNKNOWN_ORDER_U, is->missing_u);
	itch_feed_publish(x, STATE_EXT_UNKNOWN_LOCATE, is->unknown_locate);
	itch_feed_publish(x, STATE_EXT_BROKEN_UNKNOWN, is->broken_unknown);
	itch_feed_publish(x, STATE_EXT_LENGTH_MISMATCH, is->length_mismatch);
	itch_feed_publish(x, STATE_EXT_UNKNOWN_TYPE, is->unknown_type);
	itch_feed_publish(x, STATE_EXT_TRUNCATED, is->truncated);
	itch_feed_publish(x, STATE_EXT_BOOK_FULL, is->book_full);
	itch_feed_publish(x, STATE_EXT_STREAM_UNSYNC, is->stream_unsync);
	itch_feed_publish(x, STATE_EXT_STREAM_DROPPED, is->stream_dropped);
	itch_feed_publish(x, STATE_EXT_STREAM_SKIPPED, is->stream_skipped);
	itch_feed_publish(x, STATE_EXT_INTERN_FAILED, is->intern_failed);
	itch_feed_publish(x, STATE_EXT_REFUSED, is->book_exists + is->qty_overflow);
	if (!x->session)
		return;
	const struct mold_stats *ms = &x->session->stats;

	itch_feed_publish(x, STATE_EXT_RECOVERED, ms->recovered_messages);
	itch_feed_publish(x, STATE_EXT_HOLES_FILLED, ms->holes_filled);
	itch_feed_publish(x, STATE_EXT_DUP_MESSAGES, ms->dup_messages + ms->overlap_messages);
	itch_feed_publish(x, STATE_EXT_BAD_PACKETS, ms->malformed + ms->seq_jumps);
	itch_feed_publish(x, STATE_EXT_WRONG_SESSION, ms->wrong_session);
	itch_feed_publish(x, STATE_EXT_REQUESTS, ms->requests_sent);
	itch_feed_publish(x, STATE_EXT_BUFFER_OVERFLOW, ms->buffer_overflow);
	/* Feed gaps of a Mold feed are the sequencer's: holes every line missed. */
	pipeline_feed_gaps(x->pipe, x->feed, ms->gaps - x->published_gaps,
	                   ms->gap_messages - x->published_gap_missing);
	x->published_gaps = ms->gaps;
	x->published_gap_missing = ms->gap_messages;
}

void decoder_itch_tick(void *ctx, int64_t now_mono_ns)
{
	struct decoder_itch *x = ctx;

	if (x->session && mold_deadline(x->session) <= now_mono_ns)
		mold_tick(x->session, now_mono_ns);
	itch_feed_publish_all(x);
}

void decoder_itch_input(struct decoder *d, const void *buf, size_t len)
{
	struct decoder_itch *x = d->itch;

	if (d->format == DECODER_ITCH)
		itch_stream_feed(&x->itch, &x->stream, buf, len, d->rx_ns, d->rx_kernel);
	else
		mold_packet(x->session, d->line, buf, len, d->rx_ns, d->rx_kernel,
		            timefmt_mono_ns());
}

void decoder_itch_end(struct decoder *d)
{
	if (d->format == DECODER_ITCH)
		itch_stream_end(&d->itch->itch, &d->itch->stream);
	itch_feed_publish_all(d->itch);
}
