/* decoder.c -- per-channel framing and the hand-off from parsers to the
 * pipeline.  Format parsers (jsonl.c, itch.c) know nothing of feeds, symbols
 * tables or counters; this file is the glue that does. */
#include "trades/decoder.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "trades/addr.h"
#include "trades/pipeline.h"

void decoder_init(struct decoder *d, struct pipeline *p, enum decoder_format fmt, bool datagram,
                  uint16_t feed, const char *peer)
{
	memset(d, 0, sizeof(*d));
	d->pipe = p;
	d->format = (uint8_t)fmt;
	d->datagram = datagram;
	d->feed = feed;
	snprintf(d->peer, sizeof(d->peer), "%s", peer ? peer : "?");
}

/* The first and last 4 bytes of sym (len 1..TRADE_SYMBOL_MAX): with the
 * length they are the whole symbol up to 8 bytes.  Below 4 bytes, head
 * holds them all. */
static void decoder_sym_words(const char *sym, size_t len, uint32_t *head, uint32_t *tail)
{
	if (len >= 4) {
		memcpy(head, sym, 4);
		memcpy(tail, sym + len - 4, 4);
		return;
	}
	*head = (uint32_t)(unsigned char)sym[0] | (uint32_t)(unsigned char)sym[len / 2] << 8 |
	        (uint32_t)(unsigned char)sym[len - 1] << 16;
	*tail = 0;
}

/* Symbol -> instrument id, through a direct-mapped cache: a hit costs a
 * multiply and a compare of two words (and of the middle bytes above 8),
 * where a miss asks the pipeline (the state's hash index).  An id, once
 * given, names its symbol for the life of the pipeline. */
static int64_t decoder_intern(struct decoder *d, const char *sym, size_t len)
{
	struct decoder_sym *e;
	uint32_t head, tail;
	int64_t id;

	if (len == 0 || len > TRADE_SYMBOL_MAX)
		return pipeline_intern(d->pipe, sym, len); /* its refusal */
	decoder_sym_words(sym, len, &head, &tail);
	e = &d->cache[((head ^ tail * 31u ^ (uint32_t)len) * 0x9e3779b1u) >>
	              (32 - DECODER_SYM_BITS)];
	if (e->len == len && e->head == head && e->tail == tail &&
	    (len <= 8 || memcmp(e->sym + 4, sym + 4, len - 8) == 0))
		return e->id;
	id = pipeline_intern(d->pipe, sym, len);
	if (id >= 0) {
		e->head = head;
		e->tail = tail;
		e->id = (uint32_t)id;
		e->len = (uint8_t)len;
		memcpy(e->sym, sym, len);
	}
	return id;
}

static bool decoder_blank(const char *line, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (line[i] != ' ' && line[i] != '\t' && line[i] != '\r')
			return false;
	return true;
}

static void decoder_malformed(struct decoder *d, enum malformed why, const char *bytes, size_t len)
{
	char from[DECODER_PEER_MAX];

	if (d->from) {
		addr_str(d->from, from, sizeof(from));
		pipeline_malformed(d->pipe, d->feed, why, from, bytes, len);
	} else {
		pipeline_malformed(d->pipe, d->feed, why, d->peer, bytes, len);
	}
}

/* One JSON line: count it, parse it, intern its pair, submit it. */
static void decoder_line(void *ctx, const char *line, size_t len, int too_long,
                         const struct jsonl_marks *marks)
{
	struct decoder *d = ctx;
	struct jsonl_trade jt;
	enum malformed why;
	int64_t id;

	if (!too_long && decoder_blank(line, len))
		return; /* blank lines separate nothing and are not messages */
	pipeline_received(d->pipe, d->feed, 1);
	if (too_long) {
		decoder_malformed(d, MALFORMED_LINE_TOO_LONG, line, len);
		return;
	}
	why = jsonl_parse_marked(line, len, marks, &jt);
	if (why == MALFORMED_NONE && jt.t.price <= 0 && !d->allow_nonpositive)
		why = MALFORMED_PRICE_NONPOSITIVE;
	if (why != MALFORMED_NONE) {
		decoder_malformed(d, why, line, len);
		return;
	}
	id = decoder_intern(d, jt.pair, jt.pair_len);
	if (id == PIPELINE_INTERN_STORE_FAILED) {
		pipeline_store_failed(d->pipe, d->feed);
		return;
	}
	if (id < 0) {
		decoder_malformed(d, MALFORMED_TABLE_FULL, line, len);
		return;
	}
	jt.t.instrument = (uint32_t)id;
	jt.t.feed = d->feed;
	jt.t.ts_rx_ns = d->rx_ns;
	if (d->rx_kernel)
		jt.t.flags |= TRADE_F_KERNEL_RX;
	pipeline_submit(d->pipe, &jt.t);
}

/* A datagram holds whole lines: no carry-over between datagrams, so a line
 * cut by the sender's MTU is malformed rather than glued to the next one. */
static void decoder_datagram_lines(struct decoder *d, const char *buf, size_t len)
{
	const char *end = buf + len;

	while (buf < end) {
		const char *nl = memchr(buf, '\n', (size_t)(end - buf));
		size_t n = nl ? (size_t)(nl - buf) : (size_t)(end - buf);

		if (n > JSONL_LINE_MAX)
			decoder_line(d, buf, JSONL_LINE_MAX, 1, NULL);
		else
			decoder_line(d, buf, n, 0, NULL);
		buf += n + (nl ? 1 : 0);
	}
}

void decoder_input(struct decoder *d, const void *buf, size_t len, int64_t rx_ns, bool rx_kernel,
                   const struct sockaddr *from)
{
	d->rx_ns = rx_ns;
	d->rx_kernel = rx_kernel;
	d->from = from;
	switch (d->format) {
	case DECODER_JSONL:
		if (d->datagram)
			decoder_datagram_lines(d, buf, len);
		else
			jsonl_stream_feed(&d->stream, buf, len, decoder_line, d);
		break;
	case DECODER_ITCH:
	case DECODER_MOLD:
		assert(d->itch);
		decoder_itch_input(d, buf, len);
		break;
	default:
		assert(!"unknown decoder format");
	}
	d->from = NULL;
}

void decoder_end(struct decoder *d)
{
	if (d->format == DECODER_JSONL && !d->datagram)
		jsonl_stream_end(&d->stream, decoder_line, d);
	else if (d->itch)
		decoder_itch_end(d);
}

static const char *const decoder_names[] = {
        [DECODER_JSONL] = "jsonl",
        [DECODER_ITCH] = "itch",
        [DECODER_MOLD] = "mold",
};

int decoder_format_parse(const char *s, enum decoder_format *f)
{
	unsigned i;

	for (i = 0; i < sizeof(decoder_names) / sizeof(decoder_names[0]); i++) {
		if (strcmp(s, decoder_names[i]) == 0) {
			*f = (enum decoder_format)i;
			return 0;
		}
	}
	return -1;
}
