/* itch.c -- Nasdaq TotalView-ITCH 5.0: book maintenance, trades, file framing.
 * See itch.h for the conventions (side, scaling, what is counted). */
#include "trades/itch.h"

#include <assert.h>
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

_Static_assert(sizeof(struct itch_locate) == 16, "locate entry is 16 bytes");
_Static_assert(sizeof(struct itch_match) == 32, "match entry is 32 bytes");
_Static_assert(TRADE_SCALE / 10000 == 10000, "Price(4) scales to the record by 10^4");

#define ITCH_PRICE4_TO_RECORD (TRADE_SCALE / 10000)
#define ITCH_FRAME_HDR        (ITCH_FRAME_PREFIX + 1)    /* prefix + type: enough to size a frame */
#define ITCH_DAY_NS           (86400ull * 1000000000ull) /* timestamps are ns since midnight */

/* Field offsets from the spec's message tables (offset 0 is the type byte). */
enum {
	OFF_LOCATE = 1,   /* every message: Stock Locate, 2 */
	OFF_TS = 5,       /* every message: Timestamp, 6 */
	R_STOCK = 11,     /* Stock Directory: Stock, 8 */
	A_REF = 11,       /* Add Order (A, F): Order Reference Number, 8 */
	A_SIDE = 19,      /*   Buy/Sell Indicator, 1 */
	A_SHARES = 20,    /*   Shares, 4 */
	A_PRICE = 32,     /*   Price, 4 */
	E_REF = 11,       /* Order Executed (E, C): Order Reference Number, 8 */
	E_SHARES = 19,    /*   Executed Shares, 4 */
	E_MATCH = 23,     /*   Match Number, 8 */
	C_PRINTABLE = 31, /* Order Executed With Price: Printable, 1 */
	C_PRICE = 32,     /*   Execution Price, 4 */
	X_REF = 11,       /* Order Cancel: Order Reference Number, 8 */
	X_SHARES = 19,    /*   Cancelled Shares, 4 */
	D_REF = 11,       /* Order Delete: Order Reference Number, 8 */
	U_OLD = 11,       /* Order Replace: Original Order Reference Number, 8 */
	U_NEW = 19,       /*   New Order Reference Number, 8 */
	U_SHARES = 27,    /*   Shares, 4 */
	U_PRICE = 31,     /*   Price, 4 */
	P_SHARES = 20,    /* Trade (Non-Cross): Shares, 4 */
	P_PRICE = 32,     /*   Price, 4 */
	P_MATCH = 36,     /*   Match Number, 8 */
	Q_SHARES = 11,    /* Cross Trade: Shares, 8 */
	Q_PRICE = 27,     /*   Cross Price, 4 */
	Q_MATCH = 31,     /*   Match Number, 8 */
	B_MATCH = 11,     /* Broken Trade: Match Number, 8 */
};

/* Spec lengths (type byte included): last field's offset + its length. */
static const uint8_t itch_len_table[256] = {
        ['S'] = 12, ['R'] = 39, ['H'] = 25, ['Y'] = 20, ['L'] = 26, ['V'] = 35,
        ['W'] = 12, ['K'] = 28, ['J'] = 35, ['h'] = 21, ['A'] = 36, ['F'] = 40,
        ['E'] = 31, ['C'] = 36, ['X'] = 23, ['D'] = 19, ['U'] = 35, ['P'] = 44,
        ['Q'] = 40, ['B'] = 19, ['I'] = 50, ['N'] = 20, ['O'] = 48,
};

/* Types whose order reference (at A_REF) the book looks up or adds. */
static const uint8_t itch_has_ref[256] = {
        ['A'] = 1, ['F'] = 1, ['E'] = 1, ['C'] = 1, ['X'] = 1, ['D'] = 1, ['U'] = 1,
};

/* What one message's trades inherit. */
struct itch_ctx {
	uint64_t seq;
	int64_t rx_ns;
	int64_t ts_ns; /* midnight_ns + the message's timestamp */
	bool rx_kernel;
};

static inline uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static inline uint32_t rd32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static inline uint64_t rd48(const uint8_t *p)
{
	return ((uint64_t)rd16(p) << 32) | rd32(p + 2);
}

static inline uint64_t rd64(const uint8_t *p)
{
	return ((uint64_t)rd32(p) << 32) | rd32(p + 4);
}

size_t itch_msg_len(uint8_t type)
{
	return itch_len_table[type];
}

/* ---- trades ---- */

/* A resting order's side to the aggressor's (itch.h): a resting buy was hit. */
static uint8_t aggressor_side(uint8_t resting)
{
	if (resting == 'B')
		return TRADE_SIDE_SELL;
	if (resting == 'S')
		return TRADE_SIDE_BUY;
	return TRADE_SIDE_UNKNOWN;
}

static void itch_emit(struct itch *it, const struct itch_ctx *c, const struct itch_match *m,
                      uint8_t flags)
{
	struct trade t;

	assert(m->qty > 0);
	/* Whole words only (trade_set_tail): the journal copies t right away. */
	t.price = m->price;
	t.qty = m->qty;
	t.ts_exch_ns = c->ts_ns;
	t.ts_rx_ns = c->rx_ns;
	t.trade_id = m->match;
	t.seq = c->seq;
	flags |= m->flags | it->h.flags | TRADE_F_HAS_TS;
	if (m->match != 0)
		flags |= TRADE_F_HAS_ID;
	if (c->seq != 0)
		flags |= TRADE_F_HAS_SEQ;
	if (c->rx_kernel)
		flags |= TRADE_F_KERNEL_RX;
	trade_set_tail(&t, m->instrument, it->h.feed, m->side, flags, 4, 0, 9);
	it->stats.trades++;
	it->h.trade(it->h.ctx, &t);
}

/* Emits a trade and remembers it for a later Broken Trade. */
static void itch_trade(struct itch *it, const struct itch_ctx *c, uint32_t inst, uint32_t price4,
                       uint64_t shares, uint8_t side, uint64_t match, uint8_t flags)
{
	struct itch_match m = {
	        .match = match,
	        .price = (int64_t)price4 * ITCH_PRICE4_TO_RECORD,
	        .qty = (int64_t)shares * TRADE_SCALE,
	        .instrument = inst,
	        .side = side,
	        .flags = flags,
	};

	assert(shares > 0 && shares <= (uint64_t)(INT64_MAX / TRADE_SCALE));
	if (match != 0) {
		struct itch_match *slot = &it->matches[match & (it->match_cap - 1)];

		/* An older match here is forgotten: a 'B' for it is broken_unknown.
		 * Field by field: a copy of m, just written, would wait on store
		 * forwarding. */
		slot->match = match;
		slot->price = m.price;
		slot->qty = m.qty;
		slot->instrument = inst;
		slot->side = side;
		slot->flags = flags;
	}
	itch_emit(it, c, &m, 0);
}

/* Instrument of the message's locate, or -1 (counted). */
static int64_t itch_instrument(struct itch *it, const uint8_t *msg)
{
	uint32_t inst1 = it->locates[rd16(msg + OFF_LOCATE)].inst1;

	if (inst1 == 0)
		it->stats.unknown_locate++;
	return (int64_t)inst1 - 1;
}

/* ---- message handlers: msg holds at least the type's spec length ---- */

static void on_stock_directory(struct itch *it, const uint8_t *msg)
{
	struct itch_locate *l = &it->locates[rd16(msg + OFF_LOCATE)];
	const char *sym = (const char *)msg + R_STOCK;
	size_t n = ITCH_SYMBOL_LEN;
	int64_t id;

	/* Alpha fields are right-padded with spaces; NULs are tolerated too. */
	while (n > 0 && (sym[n - 1] == ' ' || sym[n - 1] == '\0'))
		n--;
	if (n == 0) {
		it->stats.intern_failed++;
		return;
	}
	id = it->h.intern(it->h.ctx, sym, n);
	if (id < 0 || id > INT32_MAX) {
		/* A locate already named keeps its instrument: locates do not
		 * change intraday, so a repeated 'R' names the same stock. */
		it->stats.intern_failed++;
		return;
	}
	l->inst1 = (uint32_t)id + 1;
	l->sym_len = (uint8_t)n;
	memcpy(l->sym, sym, n);
}

static void book_result(struct itch *it, enum book_status st)
{
	if (st == BOOK_FULL)
		it->stats.book_full++;
	else if (st == BOOK_EXISTS)
		it->stats.book_exists++;
	/* BOOK_ZERO: an add of 0 shares, nothing to keep (the spec allows none) */
}

static void on_add(struct itch *it, const uint8_t *msg)
{
	if (itch_instrument(it, msg) < 0)
		return;
	book_result(it, book_insert(&it->book, rd64(msg + A_REF), rd32(msg + A_SHARES),
	                            rd32(msg + A_PRICE), rd16(msg + OFF_LOCATE), msg[A_SIDE]));
}

/* 'E' and 'C': reduce the resting order; trade at its price ('E') or the
 * message's ('C', printable only). */
static void on_executed(struct itch *it, const struct itch_ctx *c, const uint8_t *msg,
                        bool with_price)
{
	struct book_order *o = book_find(&it->book, rd64(msg + E_REF));
	uint32_t shares = rd32(msg + E_SHARES);
	struct book_order rest;
	uint32_t inst1;

	if (o == NULL) {
		if (with_price)
			it->stats.missing_c++;
		else
			it->stats.missing_e++;
		return;
	}
	if (shares == 0) /* nothing executed, nothing to record */
		return;
	rest = *o; /* o may move or vanish in book_reduce */
	book_reduce(&it->book, o, shares);
	if (with_price && msg[C_PRINTABLE] != 'Y')
		return; /* printed later in a cross (itch.h) */
	/* The add checked the locate, and a named locate is never unnamed. */
	inst1 = it->locates[rest.locate].inst1;
	assert(inst1 != 0);
	itch_trade(it, c, inst1 - 1, with_price ? rd32(msg + C_PRICE) : rest.price, shares,
	           aggressor_side(rest.side), rd64(msg + E_MATCH), 0);
}

static void on_cancel(struct itch *it, const uint8_t *msg)
{
	struct book_order *o = book_find(&it->book, rd64(msg + X_REF));

	if (o == NULL) {
		it->stats.missing_x++;
		return;
	}
	book_reduce(&it->book, o, rd32(msg + X_SHARES));
}

static void on_delete(struct itch *it, const uint8_t *msg)
{
	if (book_delete(&it->book, rd64(msg + D_REF)) == BOOK_MISSING)
		it->stats.missing_d++;
}

static void on_replace(struct itch *it, const uint8_t *msg)
{
	enum book_status st = book_replace(&it->book, rd64(msg + U_OLD), rd64(msg + U_NEW),
	                                   rd32(msg + U_SHARES), rd32(msg + U_PRICE), NULL);

	if (st == BOOK_MISSING)
		it->stats.missing_u++;
	else
		book_result(it, st);
}

static void on_trade(struct itch *it, const struct itch_ctx *c, const uint8_t *msg)
{
	int64_t inst = itch_instrument(it, msg);
	uint32_t shares = rd32(msg + P_SHARES);

	if (inst < 0)
		return;
	if (shares == 0)
		return;
	/* Buy/Sell is always 'B' since 2014 (itch.h): the side is unknown. */
	itch_trade(it, c, (uint32_t)inst, rd32(msg + P_PRICE), shares, TRADE_SIDE_UNKNOWN,
	           rd64(msg + P_MATCH), 0);
}

static void on_cross(struct itch *it, const struct itch_ctx *c, const uint8_t *msg)
{
	int64_t inst = itch_instrument(it, msg);
	uint64_t shares = rd64(msg + Q_SHARES);

	if (inst < 0)
		return;
	if (shares == 0) /* no cross took place */
		return;
	if (shares > (uint64_t)(INT64_MAX / TRADE_SCALE)) {
		it->stats.qty_overflow++;
		return;
	}
	itch_trade(it, c, (uint32_t)inst, rd32(msg + Q_PRICE), shares, TRADE_SIDE_UNKNOWN,
	           rd64(msg + Q_MATCH), TRADE_F_CROSS);
}

static void on_broken(struct itch *it, const struct itch_ctx *c, const uint8_t *msg)
{
	uint64_t match = rd64(msg + B_MATCH);
	struct itch_match *slot = &it->matches[match & (it->match_cap - 1)];
	struct itch_match m;

	if (match == 0 || slot->match != match) {
		it->stats.broken_unknown++;
		return;
	}
	m = *slot;
	/* A break is final: a repeated 'B' must not reverse the trade twice. */
	memset(slot, 0, sizeof(*slot));
	it->stats.corrections++;
	itch_emit(it, c, &m, TRADE_F_CORRECTION);
}

static void itch_dispatch(struct itch *it, const struct itch_ctx *c, const uint8_t *msg)
{
	switch (msg[0]) {
	case 'R':
		on_stock_directory(it, msg);
		break;
	case 'A':
	case 'F':
		on_add(it, msg);
		break;
	case 'E':
		on_executed(it, c, msg, false);
		break;
	case 'C':
		on_executed(it, c, msg, true);
		break;
	case 'X':
		on_cancel(it, msg);
		break;
	case 'D':
		on_delete(it, msg);
		break;
	case 'U':
		on_replace(it, msg);
		break;
	case 'P':
		on_trade(it, c, msg);
		break;
	case 'Q':
		on_cross(it, c, msg);
		break;
	case 'B':
		on_broken(it, c, msg);
		break;
	default:
		break; /* administrative, imbalance, etc.: counted only */
	}
}

/* A message the caller has counted (stats.msgs) and whose length it has
 * checked against its known type (spec != 0, len >= spec): dispatched. */
static inline void itch_decode_known(struct itch *it, const uint8_t *msg, uint64_t seq,
                                     int64_t rx_ns, bool rx_kernel)
{
	struct itch_ctx c;

	c.seq = seq;
	c.rx_ns = rx_ns;
	c.rx_kernel = rx_kernel;
	c.ts_ns = it->midnight_ns + (int64_t)rd48(msg + OFF_TS);
	itch_dispatch(it, &c, msg);
}

void itch_decode_msg(struct itch *it, const uint8_t *msg, size_t len, uint64_t seq, int64_t rx_ns,
                     bool rx_kernel)
{
	size_t spec;

	assert(it != NULL && it->locates != NULL && it->matches != NULL);
	assert(msg != NULL || len == 0);
	if (len == 0) {
		it->stats.truncated++;
		return;
	}
	it->stats.msgs[msg[0]]++;
	spec = itch_msg_len(msg[0]);
	if (spec == 0) {
		it->stats.unknown_type++;
		return;
	}
	if (len < spec) {
		it->stats.truncated++;
		return;
	}
	if (len > spec)
		it->stats.length_mismatch++;
	itch_decode_known(it, msg, seq, rx_ns, rx_kernel);
}

/* ---- init ---- */

static void *itch_map(size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	/* Faulted in now, not on the feed's first busy seconds (book.c). */
	(void)madvise(p, bytes, MADV_POPULATE_WRITE);
	return p;
}

int itch_init(struct itch *it, uint64_t max_orders, uint64_t max_matches, int64_t midnight_ns,
              const struct itch_handler *h)
{
	uint64_t cap = 1;
	int err;

	assert(it != NULL);
	memset(it, 0, sizeof(*it));
	if (h == NULL || h->intern == NULL || h->trade == NULL || max_matches == 0 ||
	    max_matches > ITCH_MATCHES_MAX) {
		errno = EINVAL;
		return -1;
	}
	if (book_init(&it->book, max_orders) < 0)
		return -1;
	while (cap < max_matches) /* bounded: at most 32 doublings */
		cap <<= 1;
	it->match_cap = cap;
	it->locates_bytes = ITCH_LOCATES * sizeof(struct itch_locate);
	it->matches_bytes = cap * sizeof(struct itch_match);
	/* Zeroed: every locate unknown, every match slot empty. */
	it->locates = itch_map(it->locates_bytes);
	it->matches = itch_map(it->matches_bytes);
	if (it->locates == NULL || it->matches == NULL) {
		err = errno;
		itch_free(it);
		errno = err;
		return -1;
	}
	it->midnight_ns = midnight_ns;
	it->h = *h;
	return 0;
}

void itch_free(struct itch *it)
{
	assert(it != NULL);
	book_free(&it->book);
	if (it->locates != NULL)
		munmap(it->locates, it->locates_bytes);
	if (it->matches != NULL)
		munmap(it->matches, it->matches_bytes);
	memset(it, 0, sizeof(*it));
}

/* ---- file framing ---- */

void itch_stream_init(struct itch_stream *s)
{
	memset(s, 0, sizeof(*s));
}

/* Size of the frame whose first ITCH_FRAME_HDR bytes are at p: prefix + spec
 * length for a known type (*known), prefix + the prefix's value for an
 * unknown one; 0 for an unknown type with prefix 0 (unframeable). */
static uint32_t frame_size(const uint8_t *p, bool *known)
{
	size_t spec = itch_msg_len(p[ITCH_FRAME_PREFIX]);
	uint16_t prefix = rd16(p);

	*known = spec != 0;
	if (*known)
		return (uint32_t)(ITCH_FRAME_PREFIX + spec);
	return prefix == 0 ? 0 : ITCH_FRAME_PREFIX + (uint32_t)prefix;
}

/* Whether the frame at p (have bytes there) can start a message: a known
 * type, a prefix of 0 or the type's length, and a timestamp inside the day.
 * any_prefix (the frame whose prefix put the framing in doubt): a known
 * type with any prefix, or an unknown one by a prefix of 1..ITCH_MSG_MAX.
 * Its size, 0 if not, -1 if more bytes are needed to tell. */
static int frame_plausible(const uint8_t *p, size_t have, bool any_prefix)
{
	size_t spec;
	uint16_t prefix;

	if (have < ITCH_FRAME_HDR)
		return -1;
	spec = itch_msg_len(p[ITCH_FRAME_PREFIX]);
	prefix = rd16(p);
	if (spec == 0) { /* an unknown type has only its prefix to go by */
		if (!any_prefix || prefix == 0 || prefix > ITCH_MSG_MAX)
			return 0;
		return have < ITCH_FRAME_PREFIX + (size_t)prefix ? -1 : ITCH_FRAME_PREFIX + prefix;
	}
	if (!any_prefix && prefix != 0 && prefix != spec)
		return 0;
	if (have < ITCH_FRAME_PREFIX + spec)
		return -1;
	if (rd48(p + ITCH_FRAME_PREFIX + OFF_TS) >= ITCH_DAY_NS)
		return 0;
	return (int)(ITCH_FRAME_PREFIX + spec);
}

/* Framing is in doubt at hdr: the `have` bytes of it held in s->buf (0 when
 * they are still in the input) move to the sync window.  first: the frame
 * there is a candidate itself (a known type whose prefix disagreed). */
static void stream_doubt(struct itch_stream *s, const uint8_t *held, uint32_t have, bool first)
{
	assert(!s->lost && s->wlen == 0 && have <= sizeof(s->win));
	memcpy(s->win, held, have);
	s->wlen = have;
	s->lost = true;
	s->first = first;
	s->len = 0;
}

/* A whole frame of a known type at p: decoded with its spec length when its
 * framing holds (see itch.h), else the framing is put in doubt and false
 * returned with nothing decoded. */
static bool stream_frame(struct itch *it, struct itch_stream *s, const uint8_t *p, uint32_t held)
{
	size_t spec = itch_msg_len(p[ITCH_FRAME_PREFIX]);
	uint16_t prefix = rd16(p);
	bool trusted = s->trusted;

	assert(spec != 0);
	s->trusted = false;
	if (!trusted && prefix != 0 && prefix != spec) {
		it->stats.length_mismatch++;
		stream_doubt(s, p, held, true);
		return false;
	}
	if (rd48(p + ITCH_FRAME_PREFIX + OFF_TS) >= ITCH_DAY_NS) {
		stream_doubt(s, p, held, false);
		return false;
	}
	itch_decode_msg(it, p + ITCH_FRAME_PREFIX, spec, 0, s->rx_ns, s->rx_kernel);
	return true;
}

/* An unknown type whose header is at hdr, `have` bytes of it held in buf:
 * counted, and skipped by its prefix once the frame after it confirmed it
 * (trusted), else the framing is in doubt with it as the candidate. */
static void stream_unknown(struct itch *it, struct itch_stream *s, const uint8_t *hdr,
                           uint32_t size, uint32_t have)
{
	bool trusted = s->trusted;

	s->trusted = false;
	if (!trusted) {
		it->stats.msgs[hdr[ITCH_FRAME_PREFIX]]++;
		it->stats.unknown_type++;
		stream_doubt(s, hdr, have,
		             size > ITCH_FRAME_PREFIX && size <= ITCH_FRAME_PREFIX + ITCH_MSG_MAX);
		return;
	}
	assert(size >= have && size > ITCH_FRAME_PREFIX);
	it->stats.stream_skipped += have;
	s->len = 0;
	s->skip = size - have;
}

/* Grows the carried partial frame from p; decodes it once whole.  Returns
 * the bytes of p used (> 0 when avail > 0). */
static size_t stream_carry(struct itch *it, struct itch_stream *s, const uint8_t *p, size_t avail)
{
	size_t used = 0, n;
	uint32_t size;
	bool known;

	if (s->len < ITCH_FRAME_HDR) {
		n = ITCH_FRAME_HDR - s->len < avail ? ITCH_FRAME_HDR - s->len : avail;
		memcpy(s->buf + s->len, p, n);
		s->len += (uint32_t)n;
		used = n;
		if (s->len < ITCH_FRAME_HDR)
			return used;
	}
	size = frame_size(s->buf, &known);
	if (!known) {
		stream_unknown(it, s, s->buf, size, s->len);
		return used;
	}
	assert(size <= sizeof(s->buf) && size > s->len);
	n = size - s->len < avail - used ? size - s->len : avail - used;
	memcpy(s->buf + s->len, p + used, n);
	s->len += (uint32_t)n;
	used += n;
	if (s->len == size) {
		s->len = 0;
		stream_frame(it, s, s->buf, size);
	}
	return used;
}

/* A frame starting at p with nothing carried (avail >= ITCH_FRAME_HDR):
 * decoded in place when whole, else carried.  Returns the bytes used (0 when
 * an unknown type only set up skip, or the framing went in doubt). */
static size_t stream_inplace(struct itch *it, struct itch_stream *s, const uint8_t *p, size_t avail)
{
	bool known;
	uint32_t size = frame_size(p, &known);

	assert(s->len == 0 && avail >= ITCH_FRAME_HDR);
	if (!known) {
		stream_unknown(it, s, p, size, 0);
		return 0;
	}
	if (avail < size)
		return stream_carry(it, s, p, avail);
	return stream_frame(it, s, p, 0) ? size : 0; /* no copy */
}

/* The lookahead of stream_framed: from the frame at ahead, if it is whole
 * in [buf, buf+len) and of a known type, prefetches its book slots and
 * returns the offset of the frame after it; else returns ahead (it waits for
 * the decoding to pass it).  A hint only: a wrong frame costs a fetch. */
static size_t stream_ahead(const struct itch *it, const uint8_t *buf, size_t len, size_t ahead)
{
	const uint8_t *msg;
	uint64_t keep;
	size_t spec;

	_Static_assert(A_REF == E_REF && E_REF == X_REF && X_REF == D_REF && D_REF == U_OLD,
	               "the order reference is at one offset");
	if (len - ahead < ITCH_FRAME_HDR)
		return ahead;
	msg = buf + ahead + ITCH_FRAME_PREFIX;
	spec = itch_msg_len(msg[0]);
	if (spec == 0 || len - ahead - ITCH_FRAME_PREFIX < spec)
		return ahead;
	/* No branch on the type (the mix is random, a branch would mispredict):
	 * a message without a reference prefetches slot 0, which stays cached.
	 * Only 'S' and 'W' are too short to hold the field.  A 'U' prefetches
	 * its old order; the new reference is a fresh one, next to the last adds. */
	keep = 0 - (uint64_t)itch_has_ref[msg[0]];
	if (spec >= A_REF + 8)
		book_prefetch(&it->book, rd64(msg + A_REF) & keep);
	return ahead + ITCH_FRAME_PREFIX + spec;
}

/* The common case of stream_framed, with nothing carried or to skip:
 * whole frames of known types whose prefix is their spec length and whose
 * timestamp is inside the day (stream_frame's checks), decoded back to back,
 * the book slots of the frame *ahead prefetched.  Stops at the first frame
 * that is not such, for the general path to decide.  Returns the new off. */
static size_t stream_run(struct itch *it, struct itch_stream *s, const uint8_t *buf, size_t len,
                         size_t off, size_t *ahead)
{
	size_t start = off;

	assert(s->len == 0 && s->skip == 0 && !s->lost);
	/* Bounded: each round consumes a frame, or ends the loop. */
	while (len - off >= ITCH_FRAME_HDR) {
		const uint8_t *p = buf + off;
		uint32_t spec = itch_len_table[p[ITCH_FRAME_PREFIX]];

		if (spec == 0 || rd16(p) != spec || len - off - ITCH_FRAME_PREFIX < spec ||
		    rd48(p + ITCH_FRAME_PREFIX + OFF_TS) >= ITCH_DAY_NS)
			break;
		*ahead = stream_ahead(it, buf, len, *ahead < off ? off : *ahead);
		it->stats.msgs[p[ITCH_FRAME_PREFIX]]++;
		itch_decode_known(it, p + ITCH_FRAME_PREFIX, 0, s->rx_ns, s->rx_kernel);
		off += ITCH_FRAME_PREFIX + spec;
	}
	if (off != start)
		s->trusted = false; /* as stream_frame: it covers the next frame only */
	return off;
}

/* Frames [buf, buf+len) until the end or until the framing is in doubt,
 * prefetching the book slots of the frame ITCH_PREFETCH_FRAMES ahead.
 * Returns the bytes consumed. */
static size_t stream_framed(struct itch *it, struct itch_stream *s, const uint8_t *buf, size_t len)
{
	size_t off = 0, pass, ahead = 0;
	unsigned k;

	for (k = 0; k < ITCH_PREFETCH_FRAMES; k++)
		ahead = stream_ahead(it, buf, len, ahead);

	/* Each pass consumes at least one byte, sets skip for the next pass to
	 * consume, or ends the loop (lost): at most 2 * len + 1 passes. */
	for (pass = 0; off < len && !s->lost && pass <= 2 * len; pass++) {
		size_t avail;

		if (s->skip == 0 && s->len == 0) {
			off = stream_run(it, s, buf, len, off, &ahead);
			if (off == len)
				break;
		}
		avail = len - off;
		ahead = stream_ahead(it, buf, len, ahead < off ? off : ahead);
		if (s->skip > 0) {
			size_t n = s->skip < avail ? s->skip : avail;

			s->skip -= (uint32_t)n;
			it->stats.stream_skipped += n;
			off += n;
		} else if (s->len > 0 || avail < ITCH_FRAME_HDR) {
			off += stream_carry(it, s, buf + off, avail);
		} else {
			off += stream_inplace(it, s, buf + off, avail);
		}
	}
	assert(off == len || s->lost);
	return off;
}

/* Whether a message boundary is at the start of the window: the frame there
 * is plausible and so is the one after it (or the stream ends).  1 yes, 0
 * no, -1 more bytes needed. */
static int sync_check(const struct itch_stream *s, bool at_end)
{
	int a = frame_plausible(s->win, s->wlen, s->first), b;

	if (a <= 0)
		return a < 0 && !at_end ? -1 : 0;
	b = frame_plausible(s->win + a, s->wlen - (uint32_t)a, false);
	if (b < 0)
		return at_end ? 1 : -1;
	return b > 0;
}

/* Scans the window for a boundary, dropping (and counting) a byte per
 * failed position; at a boundary, frames the window's bytes again, which
 * may put the framing in doubt once more.  At most sizeof(win) + 1 rounds:
 * each drops a byte or frames at least one message out of the window. */
static void sync_resolve(struct itch *it, struct itch_stream *s, bool at_end)
{
	uint8_t tmp[sizeof(s->win)];
	unsigned round;

	for (round = 0; round <= sizeof(s->win) && s->lost && s->wlen > 0; round++) {
		int rc = sync_check(s, at_end);
		uint32_t tlen = s->wlen, used;

		if (rc < 0)
			return;
		if (rc == 0) {
			if (!s->dropping)
				it->stats.stream_unsync++;
			s->dropping = true;
			s->first = false;
			it->stats.stream_dropped++;
			memmove(s->win, s->win + 1, --s->wlen);
			continue;
		}
		s->trusted = s->first; /* a disagreeing prefix the next frame confirms */
		s->lost = s->first = s->dropping = false;
		memcpy(tmp, s->win, tlen);
		s->wlen = 0;
		used = (uint32_t)stream_framed(it, s, tmp, tlen);
		assert(used <= tlen && s->wlen + (tlen - used) <= sizeof(s->win));
		memcpy(s->win + s->wlen, tmp + used, tlen - used);
		s->wlen += tlen - used;
	}
}

void itch_stream_feed(struct itch *it, struct itch_stream *s, const uint8_t *buf, size_t len,
                      int64_t rx_ns, bool rx_kernel)
{
	size_t off = 0, pass;

	assert(it != NULL && s != NULL && (buf != NULL || len == 0));
	s->rx_ns = rx_ns;
	s->rx_kernel = rx_kernel;
	/* Framed runs stop only when the framing goes in doubt; a doubt round
	 * takes at least one byte into the window (which is never left full: a
	 * full window always decides).  At most 2 * len + 1 passes. */
	for (pass = 0; off < len && pass <= 2 * len; pass++) {
		if (!s->lost) {
			off += stream_framed(it, s, buf + off, len - off);
		} else {
			size_t n = sizeof(s->win) - s->wlen;

			if (n > len - off)
				n = len - off;
			assert(n > 0);
			memcpy(s->win + s->wlen, buf + off, n);
			s->wlen += (uint32_t)n;
			off += n;
			sync_resolve(it, s, false);
		}
	}
	assert(off == len);
}

void itch_stream_end(struct itch *it, struct itch_stream *s)
{
	assert(it != NULL && s != NULL);
	/* Bounded: each round drops a byte or frames a message (sync_resolve). */
	for (unsigned i = 0; i <= sizeof(s->win) && s->lost; i++)
		sync_resolve(it, s, true);
	it->stats.stream_dropped += s->wlen; /* only if the bound was hit */
	if (s->len > 0 || s->skip > 0)
		it->stats.truncated++;
	itch_stream_init(s);
}

uint64_t itch_skipped_bytes(const struct itch *it)
{
	assert(it != NULL);
	return it->stats.stream_dropped + it->stats.stream_skipped;
}
