/* gen_itch_day.c -- a deterministic Nasdaq TotalView-ITCH 5.0 trading day.
 *
 * The messages are encoded here from the specification's layouts (all
 * integers big-endian, prices unsigned 4-byte with 4 implied decimals,
 * timestamps 6-byte ns since midnight), not with the service's decoder, so
 * the two check each other.  The day:
 *
 *   03:00  S 'O' start of messages, R stock directory + H 'T' per symbol
 *   04:00  S 'S' start of system hours
 *   09:30  S 'Q' start of market hours, then the continuous session: adds
 *          (A, some F), executions (E), executions with price (C, printable
 *          Y or N), cancels (X), deletes (D), replaces (U), non-cross trades
 *          (P) and now and then a broken trade (B) of a recent match
 *   16:00  closing cross Q per symbol (up to count/4 of them), S 'M'
 *   20:00  S 'E' end of system hours, S 'C' end of messages
 *
 * The book model tracks every live order (bounded: GI_ORDERS_MAX), so
 * executions, cancels and replaces name real orders.  --join-late M leaves
 * the first M adds out of the output but keeps trading those orders: the
 * service sees E/C/X/D/U on orders it never saw.  A U of such an order makes
 * the replacement unknown too (the service cannot know its side).
 *
 * Totals (what the service must end with): a trade is an E or a printable C
 * on a known order, a P or a Q.  E/C on unknown orders and C printable N are
 * not trades.  A B subtracts its trade from trades, volume and notional;
 * first/last/high/low stay.  count = E + C + P + Q messages, all of them.
 */
#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen_itch.h"

#define GI_ORDERS_MAX      8192u /* live orders in the model */
#define GI_ORDERS_MIN      32u   /* below this the next event is an add */
#define GI_RECENT          64u   /* breaks pick among the last trades */
#define GI_BREAK_ONE_IN    400u  /* chance of a break after a trade */
#define GI_STEPS_PER_TRADE 64u   /* loop bound: events per trade message */
#define GI_NS_HOUR         3600000000000ull
#define GI_NS_MIN          60000000000ull
#define GI_OPEN_NS         (9 * GI_NS_HOUR + 30 * GI_NS_MIN)
#define GI_CLOSE_NS        (16 * GI_NS_HOUR)
#define GI_PRICE_MAX       20000000u /* $2000.0000: keeps walks far from 2^32 */
#define GI_FMT_MAX         48

enum gi_unknown { GU_E, GU_C, GU_X, GU_D, GU_U, GU_N };

struct gi_inst {
	char sym[9];  /* 8 bytes, space padded, NUL */
	char name[9]; /* without the padding */
	uint16_t locate;
	uint32_t price; /* model price, 1e-4 $ */
	uint32_t tick;
	uint64_t trades, volume;
	unsigned __int128 notional; /* sum price * shares, 1e-4 $ */
	uint32_t first, last, high, low;
};

struct gi_order {
	uint64_t ref;
	uint32_t inst;
	uint32_t shares;
	uint32_t price;
	char side;
	bool known; /* its add (or replace) was in the output */
};

struct gi_trade {
	uint64_t match;
	uint32_t inst, price, shares;
	bool broken;
};

struct gi_day {
	struct gi_day_config cfg;
	uint64_t rng;
	uint64_t ts, ts_step;
	uint64_t next_ref, next_match;
	uint64_t adds;       /* adds made, output or not */
	uint64_t trade_msgs; /* E, C, P, Q in the output */
	uint64_t messages;
	uint64_t by_type[128];
	uint64_t unknown[GU_N];
	uint64_t broken, cross, trades;
	struct gi_inst *inst;
	struct gi_order *orders;
	uint32_t norders;
	struct gi_trade recent[GI_RECENT];
	unsigned nrecent, recent_pos;
	gi_emit_fn emit;
	void *ctx;
};

/* Real symbols first (price in 1e-4 $), then synthesized ones. */
static const struct {
	const char *sym;
	uint32_t price;
} gi_known[] = {
        {"AAPL", 1902500},  {"MSFT", 4151000}, {"AMZN", 1785000}, {"NVDA", 1203300},
        {"GOOGL", 1652100}, {"META", 4987500}, {"TSLA", 2456000}, {"AVGO", 1398000},
        {"COST", 7801200},  {"NFLX", 6320000}, {"AMD", 1604500},  {"PEP", 1705000},
        {"ADBE", 5012000},  {"CSCO", 492500},  {"INTC", 305100},  {"QCOM", 1683000},
        {"TXN", 1950400},   {"AMAT", 2103000}, {"INTU", 6250000}, {"ISRG", 3890000},
        {"BKNG", 18005000}, {"SBUX", 920300},  {"MDLZ", 712500},  {"GILD", 780000},
        {"ADP", 2489000},   {"VRTX", 4512000}, {"REGN", 9950000}, {"PYPL", 651000},
        {"MU", 1102000},    {"SIRI", 3215}, /* sub-dollar: 4-decimal prices */
};
#define GI_KNOWN (sizeof(gi_known) / sizeof(gi_known[0]))

static const char gi_mpids[][5] = {"GSCO", "MSCO", "UBSS", "NITE", "CDRG"};

/* splitmix64: small, fast, and the same sequence everywhere. */
static uint64_t gi_rand(struct gi_day *d)
{
	uint64_t z = (d->rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint32_t gi_below(struct gi_day *d, uint32_t n)
{
	assert(n > 0);
	return (uint32_t)(gi_rand(d) % n);
}

static uint8_t *gi_put(uint8_t *p, uint64_t v, unsigned bytes)
{
	for (unsigned i = 0; i < bytes; i++)
		p[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
	return p + bytes;
}

static uint8_t *gi_put_sym(uint8_t *p, const struct gi_inst *in)
{
	memcpy(p, in->sym, 8);
	return p + 8;
}

/* type, stock locate, tracking number (0), timestamp */
static uint8_t *gi_header(struct gi_day *d, uint8_t *p, char type, uint16_t locate)
{
	*p++ = (uint8_t)type;
	p = gi_put(p, locate, 2);
	p = gi_put(p, 0, 2);
	return gi_put(p, d->ts, 6);
}

/* Every ITCH 5.0 message type has one fixed length (spec section 4). */
static const uint8_t gi_lens[128] = {
        ['S'] = 12, ['R'] = 39, ['H'] = 25, ['A'] = 36, ['F'] = 40, ['E'] = 31, ['C'] = 36,
        ['X'] = 23, ['D'] = 19, ['U'] = 35, ['P'] = 44, ['Q'] = 40, ['B'] = 19,
};

static int gi_send(struct gi_day *d, const uint8_t *msg, const uint8_t *end)
{
	/* the spec's length, checked against what the encoder wrote */
	unsigned len = gi_lens[msg[0] & 127];

	assert(msg[0] < 128 && len > 0 && len <= GI_MSG_MAX);
	assert(end - msg == (ptrdiff_t)len);
	(void)end;
	d->messages++;
	d->by_type[msg[0] & 127]++;
	return d->emit(d->ctx, msg, len, d->ts);
}

/* The continuous session's clock: small random steps, never past 16:00. */
static void gi_tick(struct gi_day *d)
{
	d->ts += 1 + gi_rand(d) % (2 * d->ts_step);
	if (d->ts >= GI_CLOSE_NS - GI_NS_MIN)
		d->ts = GI_CLOSE_NS - GI_NS_MIN;
}

static int gi_system_event(struct gi_day *d, char code, uint64_t ts)
{
	uint8_t m[GI_MSG_MAX], *p;

	if (ts > d->ts)
		d->ts = ts;
	p = gi_header(d, m, 'S', 0);
	*p++ = (uint8_t)code;
	return gi_send(d, m, p);
}

static int gi_directory(struct gi_day *d, const struct gi_inst *in)
{
	uint8_t m[GI_MSG_MAX], *p = gi_header(d, m, 'R', in->locate);

	p = gi_put_sym(p, in);
	*p++ = 'Q';            /* market category: Global Select */
	*p++ = 'N';            /* financial status: normal */
	p = gi_put(p, 100, 4); /* round lot size */
	*p++ = 'N';            /* round lots only */
	*p++ = 'C';            /* issue classification: common stock */
	memcpy(p, "Z ", 2);    /* issue sub-type: not applicable */
	p += 2;
	*p++ = 'P';          /* authenticity: live/production */
	*p++ = 'N';          /* short sale threshold */
	*p++ = 'N';          /* IPO flag */
	*p++ = '1';          /* LULD reference price tier */
	*p++ = 'N';          /* ETP flag */
	p = gi_put(p, 0, 4); /* ETP leverage factor */
	*p++ = 'N';          /* inverse indicator */
	if (gi_send(d, m, p) < 0)
		return -1;
	p = gi_header(d, m, 'H', in->locate);
	p = gi_put_sym(p, in);
	*p++ = 'T';           /* trading */
	*p++ = ' ';           /* reserved */
	memcpy(p, "    ", 4); /* reason */
	return gi_send(d, m, p + 4);
}

static void gi_inst_init(struct gi_day *d, uint32_t i)
{
	struct gi_inst *in = &d->inst[i];
	char name[9];

	if (i < GI_KNOWN) {
		snprintf(name, sizeof(name), "%s", gi_known[i].sym);
		in->price = gi_known[i].price;
	} else {
		uint32_t k = i - (uint32_t)GI_KNOWN;

		/* "X" + four letters: no real symbol of the list starts so */
		snprintf(name, sizeof(name), "X%c%c%c%c", 'A' + k / 17576 % 26, 'A' + k / 676 % 26,
		         'A' + k / 26 % 26, 'A' + k % 26);
		in->price = 5000 + gi_below(d, 3000000); /* $0.50 .. $300.50 */
		if (in->price >= 10000)
			in->price -= in->price % 100; /* whole cents from $1 up */
	}
	memcpy(in->name, name, sizeof(name));
	memset(in->sym, ' ', 8);
	memcpy(in->sym, name, strlen(name));
	in->sym[8] = '\0';
	in->locate = (uint16_t)(i + 1);
	in->tick = in->price < 10000 ? 1 : 100; /* sub-dollar: $0.0001 */
}

struct gi_day *gi_day_new(const struct gi_day_config *cfg)
{
	struct gi_day *d = calloc(1, sizeof(*d));

	assert(cfg->count >= 1 && cfg->count <= GI_COUNT_MAX);
	assert(cfg->instruments >= 1 && cfg->instruments <= GI_INSTRUMENTS_MAX);
	if (d) {
		d->inst = calloc(cfg->instruments, sizeof(*d->inst));
		d->orders = calloc(GI_ORDERS_MAX, sizeof(*d->orders));
	}
	if (!d || !d->inst || !d->orders) {
		fprintf(stderr, GI_PROG ": day model: %s\n", strerror(ENOMEM));
		gi_day_free(d);
		return NULL;
	}
	d->cfg = *cfg;
	d->rng = cfg->seed;
	d->next_ref = 1000;
	d->next_match = 1;
	for (uint32_t i = 0; i < cfg->instruments; i++)
		gi_inst_init(d, i);
	return d;
}

void gi_day_free(struct gi_day *d)
{
	if (!d)
		return;
	free(d->inst);
	free(d->orders);
	free(d);
}

/* ---- the book ---- */

/* Zipf-like popularity: low indexes (the real symbols) trade most. */
static uint32_t gi_pick_inst(struct gi_day *d)
{
	uint32_t i = gi_below(d, d->cfg.instruments);

	return gi_below(d, i + 1);
}

static uint32_t gi_lot(struct gi_day *d)
{
	uint32_t r = gi_below(d, 10);

	return r == 0 ? 1 + gi_below(d, 99) : 100 * (1 + gi_below(d, r)); /* odd lots too */
}

/* The instrument's price walks a tick at a time, bounded both ways. */
static uint32_t gi_walk(struct gi_day *d, struct gi_inst *in)
{
	uint32_t r = gi_below(d, 3);

	if (r == 0 && in->price > 20 * in->tick)
		in->price -= in->tick;
	else if (r == 2 && in->price < GI_PRICE_MAX)
		in->price += in->tick;
	return in->price;
}

static void gi_count_trade(struct gi_day *d, uint32_t i, uint32_t price, uint32_t shares,
                           uint64_t match)
{
	struct gi_inst *in = &d->inst[i];
	struct gi_trade *t = &d->recent[d->recent_pos];

	if (in->trades == 0 && in->volume == 0)
		in->first = in->high = in->low = price;
	in->last = price;
	if (price > in->high)
		in->high = price;
	if (price < in->low)
		in->low = price;
	in->trades++;
	in->volume += shares;
	in->notional += (unsigned __int128)price * shares;
	d->trades++;
	*t = (struct gi_trade){match, i, price, shares, false};
	d->recent_pos = (d->recent_pos + 1) % GI_RECENT;
	if (d->nrecent < GI_RECENT)
		d->nrecent++;
}

/* An add: F (with an MPID) when mpid, else A. */
static int gi_add_as(struct gi_day *d, bool mpid)
{
	uint32_t i = gi_pick_inst(d);
	struct gi_inst *in = &d->inst[i];
	struct gi_order *o = &d->orders[d->norders];
	uint8_t m[GI_MSG_MAX], *p;

	assert(d->norders < GI_ORDERS_MAX);
	o->ref = d->next_ref++;
	o->inst = i;
	o->side = gi_below(d, 2) ? 'B' : 'S';
	o->shares = gi_lot(d);
	o->price = gi_walk(d, in) + (o->side == 'B' ? 0 : in->tick) * gi_below(d, 3);
	o->known = d->adds++ >= d->cfg.join_late;
	d->norders++;
	if (!o->known)
		return 0; /* joined late: the service never sees this add */
	p = gi_header(d, m, mpid ? 'F' : 'A', in->locate);
	p = gi_put(p, o->ref, 8);
	*p++ = (uint8_t)o->side;
	p = gi_put(p, o->shares, 4);
	p = gi_put_sym(p, in);
	p = gi_put(p, o->price, 4);
	if (mpid) {
		memcpy(p, gi_mpids[gi_below(d, 5)], 4);
		p += 4;
	}
	return gi_send(d, m, p);
}

static void gi_remove(struct gi_day *d, uint32_t k)
{
	assert(k < d->norders);
	d->orders[k] = d->orders[--d->norders];
}

/* E, or C (printable Y mostly, sometimes N) at a price near the order's. */
static int gi_execute(struct gi_day *d, bool with_price)
{
	uint32_t k = gi_below(d, d->norders);
	struct gi_order *o = &d->orders[k];
	struct gi_inst *in = &d->inst[o->inst];
	uint32_t shares = gi_lot(d), price = o->price;
	uint64_t match = d->next_match++;
	bool printable = !with_price || gi_below(d, 5) != 0;
	uint8_t m[GI_MSG_MAX], *p = gi_header(d, m, with_price ? 'C' : 'E', in->locate);

	if (shares > o->shares)
		shares = o->shares;
	if (with_price && price > 20 * in->tick)
		price = price - in->tick + in->tick * gi_below(d, 3);
	p = gi_put(p, o->ref, 8);
	p = gi_put(p, shares, 4);
	p = gi_put(p, match, 8);
	if (with_price) {
		*p++ = printable ? 'Y' : 'N';
		p = gi_put(p, price, 4);
	}
	d->trade_msgs++;
	if (!o->known)
		d->unknown[with_price ? GU_C : GU_E]++;
	else if (printable)
		gi_count_trade(d, o->inst, price, shares, match);
	o->shares -= shares;
	if (o->shares == 0)
		gi_remove(d, k); /* fully executed: no delete follows */
	return gi_send(d, m, p);
}

/* X (part of the order) or D (all of it). */
static int gi_cancel(struct gi_day *d, bool delete)
{
	uint32_t k = gi_below(d, d->norders);
	struct gi_order *o = &d->orders[k];
	uint32_t shares = o->shares > 1 ? 1 + gi_below(d, o->shares - 1) : 0;
	uint8_t m[GI_MSG_MAX], *p;

	if (shares == 0)
		delete = true; /* a 1-share order can only go whole */
	p = gi_header(d, m, delete ? 'D' : 'X', d->inst[o->inst].locate);
	p = gi_put(p, o->ref, 8);
	if (!delete)
		p = gi_put(p, shares, 4);
	if (!o->known)
		d->unknown[delete ? GU_D : GU_X]++;
	if (delete)
		gi_remove(d, k);
	else
		o->shares -= shares;
	return gi_send(d, m, p);
}

/* U: the order gets a new reference, size and price. */
static int gi_replace(struct gi_day *d)
{
	struct gi_order *o = &d->orders[gi_below(d, d->norders)];
	struct gi_inst *in = &d->inst[o->inst];
	uint8_t m[GI_MSG_MAX], *p = gi_header(d, m, 'U', in->locate);
	uint64_t new_ref = d->next_ref++;

	p = gi_put(p, o->ref, 8);
	p = gi_put(p, new_ref, 8);
	o->ref = new_ref;
	o->shares = gi_lot(d);
	o->price = gi_walk(d, in);
	p = gi_put(p, o->shares, 4);
	p = gi_put(p, o->price, 4);
	if (!o->known)
		d->unknown[GU_U]++; /* and the replacement stays unknown */
	return gi_send(d, m, p);
}

/* P: a match against a non-displayed order. */
static int gi_hidden_trade(struct gi_day *d)
{
	uint32_t i = gi_pick_inst(d);
	struct gi_inst *in = &d->inst[i];
	uint32_t shares = gi_lot(d), price = gi_walk(d, in);
	uint64_t match = d->next_match++;
	uint8_t m[GI_MSG_MAX], *p = gi_header(d, m, 'P', in->locate);

	p = gi_put(p, 0, 8); /* order reference: none for hidden orders */
	*p++ = 'B';
	p = gi_put(p, shares, 4);
	p = gi_put_sym(p, in);
	p = gi_put(p, price, 4);
	p = gi_put(p, match, 8);
	d->trade_msgs++;
	gi_count_trade(d, i, price, shares, match);
	return gi_send(d, m, p);
}

/* B of one of the last trades; never an instrument's only trade, so every
 * instrument that traded keeps trades > 0 in the totals. */
static int gi_break(struct gi_day *d)
{
	struct gi_trade *t;
	struct gi_inst *in;
	uint8_t m[GI_MSG_MAX], *p;

	if (d->nrecent == 0)
		return 0;
	t = &d->recent[gi_below(d, d->nrecent)];
	in = &d->inst[t->inst];
	if (t->broken || in->trades < 2)
		return 0;
	t->broken = true;
	in->trades--;
	in->volume -= t->shares;
	in->notional -= (unsigned __int128)t->price * t->shares;
	d->trades--;
	d->broken++;
	p = gi_header(d, m, 'B', in->locate);
	p = gi_put(p, t->match, 8);
	return gi_send(d, m, p);
}

/* One event of the continuous session. */
static int gi_add(struct gi_day *d)
{
	return gi_add_as(d, gi_below(d, 8) == 0);
}

/* A real day's mix, by message count (Nasdaq TotalView on a typical day):
 * 45% A, 38% D, 8% U, 3% E, 2% X, 2% F, 1% P, 1% C.  About 4-5% of the
 * messages carry a trade. */
static int gi_event_nasdaq(struct gi_day *d)
{
	uint32_t r = gi_below(d, 100);

	if (d->norders < GI_ORDERS_MIN || (r < 47 && d->norders < GI_ORDERS_MAX))
		return r >= 45 ? gi_add_as(d, true) : gi_add_as(d, false);
	if (r < 85)
		return gi_cancel(d, true);
	if (r < 93)
		return gi_replace(d);
	if (r < 96)
		return gi_execute(d, false);
	if (r < 98)
		return gi_cancel(d, false);
	if (r < 99)
		return gi_hidden_trade(d);
	return gi_execute(d, true);
}

static int gi_event(struct gi_day *d)
{
	uint32_t r = gi_below(d, 100);
	uint64_t before = d->trades;
	int rc;

	gi_tick(d);
	if (d->cfg.mix_nasdaq) {
		rc = gi_event_nasdaq(d);
		goto done;
	}
	if (d->norders < GI_ORDERS_MIN || (r < 34 && d->norders < GI_ORDERS_MAX))
		return gi_add(d);
	if (r < 52)
		rc = gi_execute(d, false);
	else if (r < 58)
		rc = gi_execute(d, true);
	else if (r < 66)
		rc = gi_hidden_trade(d);
	else if (r < 74)
		rc = gi_cancel(d, false);
	else if (r < 88)
		rc = gi_cancel(d, true);
	else
		rc = gi_replace(d);
done:
	if (rc == 0 && d->trades > before && gi_below(d, GI_BREAK_ONE_IN) == 0) {
		gi_tick(d);
		rc = gi_break(d);
	}
	return rc;
}

/* Q: the closing cross of instrument i at its last model price. */
static int gi_cross(struct gi_day *d, uint32_t i)
{
	struct gi_inst *in = &d->inst[i];
	uint32_t shares = 100 * (1 + gi_below(d, 500));
	uint64_t match = d->next_match++;
	uint8_t m[GI_MSG_MAX], *p = gi_header(d, m, 'Q', in->locate);

	p = gi_put(p, shares, 8);
	p = gi_put_sym(p, in);
	p = gi_put(p, in->price, 4);
	p = gi_put(p, match, 8);
	*p++ = 'C';
	d->trade_msgs++;
	d->cross++;
	gi_count_trade(d, i, in->price, shares, match);
	return gi_send(d, m, p);
}

static int gi_opening(struct gi_day *d)
{
	d->ts = 3 * GI_NS_HOUR;
	if (gi_system_event(d, 'O', d->ts) < 0)
		return -1;
	for (uint32_t i = 0; i < d->cfg.instruments; i++) {
		d->ts += 1000;
		if (gi_directory(d, &d->inst[i]) < 0)
			return -1;
	}
	if (gi_system_event(d, 'S', 4 * GI_NS_HOUR) < 0)
		return -1;
	return gi_system_event(d, 'Q', GI_OPEN_NS);
}

int gi_day_run(struct gi_day *d, gi_emit_fn emit, void *ctx)
{
	uint64_t ncross = d->cfg.count / 4, ncont;
	uint64_t bound;

	if (ncross > d->cfg.instruments)
		ncross = d->cfg.instruments;
	ncont = d->cfg.count - ncross;
	/* about 2.5 messages per trade (the nasdaq mix: about 21): spread them
	 * over the session */
	d->ts_step = (GI_CLOSE_NS - GI_OPEN_NS - 2 * GI_NS_MIN) /
	                     ((d->cfg.mix_nasdaq ? 22 : 3) * ncont + 1) +
	             1;
	d->emit = emit;
	d->ctx = ctx;
	if (gi_opening(d) < 0)
		return -1;
	bound = ncont * GI_STEPS_PER_TRADE + GI_ORDERS_MAX;
	for (uint64_t n = 0; d->trade_msgs < ncont; n++) {
		assert(n < bound); /* a trade is at least 1 in 4 events */
		if (gi_event(d) < 0)
			return -1;
	}
	d->ts = GI_CLOSE_NS;
	for (uint32_t i = 0; i < ncross; i++)
		if (gi_cross(d, i) < 0)
			return -1;
	(void)bound;
	if (gi_system_event(d, 'M', GI_CLOSE_NS + 500000000ull) < 0 ||
	    gi_system_event(d, 'E', 20 * GI_NS_HOUR) < 0 ||
	    gi_system_event(d, 'C', 20 * GI_NS_HOUR + 5 * GI_NS_MIN) < 0)
		return -1;
	assert(d->trade_msgs == d->cfg.count);
	return 0;
}

/* ---- totals ---- */

/* v scaled by 10^scale, with at least min_dp fractional digits and no
 * trailing zeros beyond them: the rule of the core's dec128_format,
 * written again here so the totals do not trust the code they test. */
static void gi_fmt(unsigned __int128 v, unsigned scale, unsigned min_dp, char *out)
{
	char digits[GI_FMT_MAX];
	unsigned n = 0, dp = scale, o = 0;

	assert(scale <= 18 && min_dp <= scale);
	do {
		digits[n++] = (char)('0' + (unsigned)(v % 10));
		v /= 10;
	} while (v != 0 || n <= scale);
	/* digits[] holds the number least significant first, at least scale + 1 */
	while (dp > min_dp && digits[scale - dp] == '0')
		dp--;
	for (unsigned i = n; i > scale; i--)
		out[o++] = digits[i - 1];
	if (dp > 0) {
		out[o++] = '.';
		for (unsigned i = 0; i < dp; i++)
			out[o++] = digits[scale - 1 - i];
	}
	out[o] = '\0';
}

/* num / den rounded half to even (den > 0). */
static unsigned __int128 gi_div_round(unsigned __int128 num, unsigned __int128 den)
{
	unsigned __int128 q = num / den, r = num % den;

	assert(den > 0);
	if (2 * r > den || (2 * r == den && (q & 1)))
		q++;
	return q;
}

static int gi_inst_cmp(const void *a, const void *b)
{
	const struct gi_inst *x = *(const struct gi_inst *const *)a;
	const struct gi_inst *y = *(const struct gi_inst *const *)b;

	return strcmp(x->name, y->name);
}

/* price_dp 4, qty_dp 0: the keys and formats of `trades stat --json`. */
static void gi_totals_inst(const struct gi_inst *in, FILE *f)
{
	char vol[GI_FMT_MAX], notl[GI_FMT_MAX], vwap[GI_FMT_MAX];
	char first[GI_FMT_MAX], last[GI_FMT_MAX], high[GI_FMT_MAX], low[GI_FMT_MAX];

	assert(in->trades > 0 && in->volume > 0);
	gi_fmt(in->volume, 0, 0, vol);
	gi_fmt(in->notional, 4, 4, notl);
	/* notional*1e12 / (volume*1e8) at scale 1e8 = notional*1e4 / volume */
	gi_fmt(gi_div_round(in->notional * 10000, in->volume), 8, 4, vwap);
	gi_fmt(in->first, 4, 4, first);
	gi_fmt(in->last, 4, 4, last);
	gi_fmt(in->high, 4, 4, high);
	gi_fmt(in->low, 4, 4, low);
	fprintf(f,
	        "{\"pair\":\"%s\",\"trades\":%llu,\"volume\":\"%s\",\"notional\":\"%s\","
	        "\"vwap\":\"%s\",\"first\":\"%s\",\"last\":\"%s\",\"high\":\"%s\",\"low\":\"%s\"}",
	        in->name, (unsigned long long)in->trades, vol, notl, vwap, first, last, high, low);
}

int gi_day_write_totals(const struct gi_day *d, FILE *f)
{
	const struct gi_inst **v = calloc(d->cfg.instruments, sizeof(*v));
	uint32_t n = 0;

	if (!v)
		return -1;
	for (uint32_t i = 0; i < d->cfg.instruments; i++)
		if (d->inst[i].trades)
			v[n++] = &d->inst[i];
	qsort(v, n, sizeof(*v), gi_inst_cmp);
	fprintf(f, "{\"count\":%llu,\"messages\":%llu,\"trades\":%llu,\"instruments\":[",
	        (unsigned long long)d->trade_msgs, (unsigned long long)d->messages,
	        (unsigned long long)d->trades);
	for (uint32_t i = 0; i < n; i++) {
		if (i)
			fputc(',', f);
		gi_totals_inst(v[i], f);
	}
	fprintf(f, "],\"unknown_order\":{\"E\":%llu,\"C\":%llu,\"X\":%llu,\"D\":%llu,\"U\":%llu},",
	        (unsigned long long)d->unknown[GU_E], (unsigned long long)d->unknown[GU_C],
	        (unsigned long long)d->unknown[GU_X], (unsigned long long)d->unknown[GU_D],
	        (unsigned long long)d->unknown[GU_U]);
	fprintf(f, "\"broken\":%llu,\"cross\":%llu}\n", (unsigned long long)d->broken,
	        (unsigned long long)d->cross);
	free(v);
	return ferror(f) ? -1 : 0;
}

void gi_day_summary(const struct gi_day *d, FILE *f)
{
	static const char types[] = "SRHAFECXDUPQB";

	fprintf(f, GI_PROG ": itch: %llu messages (", (unsigned long long)d->messages);
	for (unsigned i = 0; types[i]; i++)
		fprintf(f, "%s%c %llu", i ? ", " : "", types[i],
		        (unsigned long long)d->by_type[(unsigned char)types[i]]);
	fprintf(f, "), %llu trades (%llu broken), %llu adds left out\n",
	        (unsigned long long)d->trades, (unsigned long long)d->broken,
	        (unsigned long long)(d->adds < d->cfg.join_late ? d->adds : d->cfg.join_late));
}
