/* feeds.c -- MoldUDP64 feeds built from the channels `trades serve` opened:
 * A and B lines and the re-request answer socket grouped per feed into one
 * decoder_itch, each with its pipeline ticker (deadlines, counters). */
#include <stdio.h>
#include <string.h>

#include "trades/decoder.h"
#include "trades/log.h"
#include "trades/pipeline.h"

/* The feed's line count (its non-answer channels) and answer socket fd. */
static int mold_feed_lines(const struct decoder_mold_chan *chans, unsigned n, uint16_t feed,
                           unsigned *lines)
{
	unsigned i;
	int fd = -1;

	*lines = 0;
	for (i = 0; i < n; i++) {
		if (chans[i].feed != feed)
			continue;
		if (chans[i].answer)
			fd = chans[i].fd;
		else
			(*lines)++;
	}
	return fd;
}

/* A new feed for chans[i]: its decoder_itch and ticker.  0, -1 or -2. */
static int mold_feed_new(struct decoder_mold_feeds *f, struct pipeline *p,
                         const struct decoder_mold_chan *chans, unsigned n, unsigned i,
                         const struct decoder_itch_config *base, const struct sockaddr_storage *rr,
                         socklen_t rrlen, char *err, size_t errlen)
{
	const struct decoder_mold_chan *c = &chans[i];
	struct decoder_itch_config cfg = *base;
	struct decoder_itch *x = &f->itch[f->n];
	char why[256];
	unsigned lines;

	cfg.mold = true;
	cfg.request_fd = mold_feed_lines(chans, n, c->feed, &lines);
	if (lines > 2) {
		errfmt(err, errlen, "feed %s: %u --mold lines; at most two (A, B)", c->feed_name,
		       lines);
		return -2;
	}
	cfg.mold_cfg.lines = lines;
	if (cfg.request_fd >= 0 && !rr)
		cfg.request_fd = -1;
	if (cfg.request_fd >= 0) {
		ENSURE(rrlen <= sizeof(cfg.request_addr));
		memcpy(&cfg.request_addr, rr, rrlen);
		cfg.request_addrlen = rrlen;
	}
	if (decoder_itch_init(x, p, c->feed, &cfg, why, sizeof(why)) < 0)
		return errfmt(err, errlen, "feed %s: decoder_itch_init: %s", c->feed_name, why);
	f->n++;
	if (pipeline_add_ticker(p, decoder_itch_tick, x) < 0)
		return errfmt(err, errlen, "feed %s: pipeline_add_ticker: ticker table full (%d)",
		              c->feed_name, PIPELINE_TICKERS_MAX);
	return 0;
}

int decoder_mold_setup(struct decoder_mold_feeds *f, struct pipeline *p,
                       const struct decoder_mold_chan *chans, unsigned n,
                       const struct decoder_itch_config *cfg,
                       const struct sockaddr_storage *rerequest, socklen_t rerequest_len, char *err,
                       size_t errlen)
{
	unsigned i, j, next_line[DECODER_MOLD_CHANS_MAX] = {0};
	int rc;

	ENSURE(f && p && cfg && n <= DECODER_MOLD_CHANS_MAX);
	memset(f, 0, sizeof(*f));
	for (i = 0; i < n; i++) {
		const struct decoder_mold_chan *c = &chans[i];

		ENSURE(c->dec && c->dec->format == DECODER_MOLD && c->dec->feed == c->feed);
		for (j = 0; j < f->n && f->itch[j].feed != c->feed; j++)
			;
		if (j == f->n) {
			rc = mold_feed_new(f, p, chans, n, i, cfg, rerequest, rerequest_len, err,
			                   errlen);
			if (rc < 0)
				return rc;
		}
		decoder_itch_attach(c->dec, &f->itch[j],
		                    c->answer ? MOLD_LINE_REREQUEST : next_line[j]++);
	}
	return 0;
}

void decoder_mold_free(struct decoder_mold_feeds *f)
{
	unsigned i;

	for (i = 0; i < f->n; i++)
		decoder_itch_free(&f->itch[i]);
	f->n = 0;
}
