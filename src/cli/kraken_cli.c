/* kraken_cli.c -- Kraken trades into the pipeline (kraken_cli.h). */
#include "kraken_cli.h"

#include <stdio.h>
#include <string.h>

#include "trades/log.h"

int kraken_feeds_init(struct kraken_feeds *kf, struct pipeline *p, const char *prefix)
{
	int feed;

	memset(kf, 0, sizeof(*kf));
	kf->pipe = p;
	if (strlen(prefix) == 0 || strlen(prefix) > KRAKEN_PREFIX_MAX) {
		log_error("kraken feed prefix '%s': must be 1..%d bytes", prefix,
		          KRAKEN_PREFIX_MAX);
		return -1;
	}
	snprintf(kf->prefix, sizeof(kf->prefix), "%s", prefix);
	feed = pipeline_feed(p, prefix);
	if (feed < 0)
		return -1;
	kf->ctl_feed = (uint16_t)feed;
	return 0;
}

int kraken_feeds_pair(struct kraken_feeds *kf, const char *symbol, bool v1)
{
	struct kraken_pair_feed *pf;
	char name[STATE_FEED_NAME_MAX + 1];
	int64_t inst;
	int feed;
	unsigned i;

	for (i = 0; i < kf->n; i++)
		if (kf->pair[i].v1 == v1 && strcmp(kf->pair[i].symbol, symbol) == 0)
			return (int)i;
	if (kf->n == KRAKEN_FEEDS_MAX)
		return -1;
	snprintf(name, sizeof(name), "%s%s:%s", kf->prefix, v1 ? "-v1" : "", symbol);
	feed = pipeline_feed(kf->pipe, name);
	inst = pipeline_intern(kf->pipe, symbol, strlen(symbol));
	if (feed < 0 || inst < 0)
		return -1;
	pf = &kf->pair[kf->n];
	memset(pf, 0, sizeof(*pf));
	snprintf(pf->symbol, sizeof(pf->symbol), "%s", symbol);
	pf->v1 = v1;
	pf->feed = (uint16_t)feed;
	pf->inst = (uint32_t)inst;
	if (!pipeline_decode_only(kf->pipe))
		pf->last_ts_ns = pipeline_state(kf->pipe)->inst[inst].last_ts_exch_ns;
	return (int)kf->n++;
}

void kraken_feeds_refused(struct kraken_feeds *kf, enum malformed why, const char *bytes,
                          size_t len)
{
	pipeline_received(kf->pipe, kf->ctl_feed, 1);
	pipeline_malformed(kf->pipe, kf->ctl_feed, why, kf->peer, bytes, len);
}

void kraken_feeds_count(struct kraken_feeds *kf, unsigned ext, uint64_t n)
{
	ENSURE(ext < STATE_EXT_COUNT);
	if (!pipeline_decode_only(kf->pipe))
		pipeline_ext_add(kf->pipe, kf->ctl_feed, (enum state_ext)ext, n);
}

/* A jump past the feed's last seq: queue [last+1, seq-1] for a REST fill. */
static void kraken_feeds_gap(struct kraken_feeds *kf, unsigned idx, const struct trade *t)
{
	const struct kraken_pair_feed *pf = &kf->pair[idx];
	uint64_t last = pipeline_state(kf->pipe)->feeds[pf->feed].last_seq;

	if (last == 0 || t->seq <= last + 1)
		return;
	if (kf->ngaps == KRAKEN_GAPS_MAX) {
		kf->gaps_overflow++;
		pipeline_gap(kf->pipe, pf->feed, last + 1, t->seq - 1);
		return;
	}
	kf->gaps[kf->ngaps++] = (struct kraken_gap){.pair = (uint16_t)idx,
	                                            .first = last + 1,
	                                            .last = t->seq - 1,
	                                            .since_ns = pf->last_ts_ns};
}

void kraken_feeds_trade(void *ctx, const struct kraken_trade *kt, enum malformed why,
                        const char *bytes, size_t len)
{
	struct kraken_feeds *kf = ctx;
	struct trade t = kt->t;
	int idx = kt->symbol[0] ? kraken_feeds_pair(kf, kt->symbol, kt->v1) : -1;
	uint16_t feed = idx >= 0 ? kf->pair[idx].feed : kf->ctl_feed;

	if (kf->fill && (why != MALFORMED_NONE || idx < 0 || t.trade_id < kf->fill_first ||
	                 t.trade_id > kf->fill_last))
		return; /* a fill takes only the missing ids; the rest is not consumed */
	pipeline_received(kf->pipe, feed, 1);
	if (why == MALFORMED_NONE && idx < 0) {
		kf->table_full++;
		why = MALFORMED_TABLE_FULL;
	}
	if (why != MALFORMED_NONE) {
		pipeline_malformed(kf->pipe, feed, why, kf->peer, bytes, len);
		return;
	}
	t.feed = feed;
	t.instrument = kf->pair[idx].inst;
	t.ts_rx_ns = kf->rx_ns;
	if (kf->fill)
		t.flags &= (uint8_t)~TRADE_F_HAS_SEQ;
	else if (kf->track_gaps && (t.flags & TRADE_F_HAS_SEQ) && !pipeline_decode_only(kf->pipe))
		kraken_feeds_gap(kf, (unsigned)idx, &t);
	if (pipeline_submit(kf->pipe, &t) == PIPELINE_ACCEPTED) {
		kf->pair[idx].last_ts_ns = t.ts_exch_ns;
		if (kf->fill) {
			kf->filled++;
			if (!pipeline_decode_only(kf->pipe))
				pipeline_ext_add(kf->pipe, feed, STATE_EXT_RECOVERED, 1);
		}
	}
}

/* One name of a list: trimmed of blanks and JSON quotes, normalized. */
static int kraken_list_add(struct kraken_list *l, const char *cmd, const char *what, const char *s,
                           size_t n)
{
	char norm[TRADE_SYMBOL_MAX + 1];
	unsigned i;

	while (n && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '"'))
		s++, n--;
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '"'))
		n--;
	if (kraken_symbol_norm(s, n, norm) < 0) {
		fprintf(stderr, "trades %s: %s '%.*s': not a pair name such as BTC/USD\n", cmd,
		        what, (int)n, s);
		return -1;
	}
	for (i = 0; i < l->n; i++)
		if (!strcmp(l->sym[i], norm))
			return 0;
	if (l->n == KRAKEN_FEEDS_MAX) {
		fprintf(stderr, "trades %s: %s: more than %d pairs\n", cmd, what, KRAKEN_FEEDS_MAX);
		return -1;
	}
	memcpy(l->sym[l->n++], norm, sizeof(norm));
	return 0;
}

int kraken_list_parse(struct kraken_list *l, const char *cmd, const char *what, const char *text)
{
	const char *p = text, *end = text + strlen(text), *comma;

	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n'))
		p++;
	if (p < end && *p == '[') { /* JSON list of strings: ["BTC/USD","ETH/EUR"] */
		while (end > p && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\n'))
			end--;
		if (end == p || end[-1] != ']') {
			fprintf(stderr, "trades %s: %s '%s': unclosed JSON list\n", cmd, what,
			        text);
			return -1;
		}
		p++, end--;
	}
	while (p < end) { /* one name per pass */
		comma = memchr(p, ',', (size_t)(end - p));
		comma = comma ? comma : end;
		if (kraken_list_add(l, cmd, what, p, (size_t)(comma - p)) < 0)
			return -1;
		p = comma + 1;
	}
	if (l->n == 0) {
		fprintf(stderr, "trades %s: %s: no pair given\n", cmd, what);
		return -1;
	}
	return 0;
}
