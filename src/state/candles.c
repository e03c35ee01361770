/* candles.c -- the candle region of the state file (see candles.h).
 *
 * The writer is state_apply_trade's caller; readers copy a ring under its
 * seqlock exactly as state_read_instrument does for an instrument.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trades/candles.h"
#include "trades/crc32c.h"
#include "trades/decimal.h"
#include "trades/log.h"
#include "trades/state.h"

#define CANDLE_ALIGN 4096u

_Static_assert(CANDLE_REGION_HDR % CANDLE_ALIGN == 0, "region header is whole pages");
_Static_assert(CANDLE_RINGS_MAX <= (1u << 24), "ring index fits");

static uint64_t candle_align(uint64_t v)
{
	return (v + CANDLE_ALIGN - 1) & ~(uint64_t)(CANDLE_ALIGN - 1);
}

static uint32_t candle_ring_cap(uint32_t inst_cap)
{
	uint64_t n = (uint64_t)inst_cap * CANDLE_INTERVALS_MAX;

	return n < CANDLE_RINGS_MAX ? (uint32_t)n : CANDLE_RINGS_MAX;
}

static uint64_t candle_off_rings(uint32_t inst_cap)
{
	return candle_align(CANDLE_REGION_HDR +
	                    (uint64_t)inst_cap * CANDLE_INTERVALS_MAX * sizeof(uint32_t));
}

uint64_t state_candles_size(uint32_t inst_cap)
{
	return candle_align(candle_off_rings(inst_cap) +
	                    (uint64_t)candle_ring_cap(inst_cap) * sizeof(struct candle_ring));
}

static struct candle_region *candle_region(const struct state *s)
{
	return (struct candle_region *)(s->map + s->hdr->off_candles);
}

static uint32_t *candle_ring_of(const struct state *s)
{
	return (uint32_t *)(s->map + s->hdr->off_candles + CANDLE_REGION_HDR);
}

static struct candle_ring *candle_rings(const struct state *s)
{
	return (struct candle_ring *)(s->map + s->hdr->off_candles +
	                              candle_off_rings(s->hdr->inst_cap));
}

static uint32_t candle_region_crc(const struct candle_region *r)
{
	return crc32c(0, r, offsetof(struct candle_region, layout_crc));
}

static uint32_t candle_ring_crc(uint32_t inst, uint32_t interval)
{
	uint32_t id[2] = {inst, interval};

	return crc32c(0, id, sizeof(id));
}

void state_candles_init(struct state *s)
{
	struct candle_region *r = candle_region(s);

	memcpy(r->magic, CANDLE_MAGIC, sizeof(r->magic));
	r->ring_cap = candle_ring_cap(s->hdr->inst_cap);
	r->ring_len = CANDLE_RING_LEN;
	r->inst_cap = s->hdr->inst_cap;
	r->layout_crc = candle_region_crc(r);
	/* the default a writer that never configures keeps (serve's default) */
	r->n_intervals = 1;
	r->interval_ns[0] = 60LL * 1000000000LL;
	r->grace_ns = CANDLE_GRACE_DEFAULT_NS;
}

int state_candles_check(const struct state *s, char *err, size_t errlen)
{
	const struct candle_region *r = candle_region(s);
	uint32_t used = atomic_load_explicit(&r->rings_used, memory_order_relaxed);

	if (memcmp(r->magic, CANDLE_MAGIC, sizeof(r->magic)) != 0 ||
	    r->layout_crc != candle_region_crc(r))
		return errfmt(err, errlen,
		              "state %s: candle region at %llu: bad magic or layout crc; refusing "
		              "to touch it",
		              s->path, (unsigned long long)s->hdr->off_candles);
	if (r->ring_cap != candle_ring_cap(s->hdr->inst_cap) || r->ring_len != CANDLE_RING_LEN ||
	    r->inst_cap != s->hdr->inst_cap || used > r->ring_cap ||
	    r->n_intervals > CANDLE_INTERVALS_MAX)
		return errfmt(err, errlen,
		              "state %s: candle region inconsistent (%u rings of %u, %u used, %u "
		              "intervals); refusing to touch it",
		              s->path, r->ring_cap, r->ring_len, used, r->n_intervals);
	return 0;
}

/* ---- writer ---- */

static uint32_t candle_write_begin(struct candle_ring_hdr *h)
{
	uint32_t seq = atomic_load_explicit(&h->seqlock, memory_order_relaxed) | 1;

	atomic_store_explicit(&h->seqlock, seq, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	return seq;
}

static void candle_write_end(struct candle_ring_hdr *h, uint32_t odd)
{
	atomic_store_explicit(&h->seqlock, odd + 1, memory_order_release);
}

void state_candles_recover(struct state *s)
{
	struct candle_region *r = candle_region(s);
	struct candle_undo *u = &r->undo;
	uint64_t jseq = atomic_load_explicit(&u->jseq, memory_order_acquire);

	if (jseq == 0)
		return;
	ENSURE(u->n <= CANDLE_INTERVALS_MAX);
	if (jseq > atomic_load_explicit(&s->hdr->applied_jseq, memory_order_acquire)) {
		for (uint32_t i = 0; i < u->n; i++) {
			struct candle_undo_entry *e = &u->e[i];
			struct candle_ring *ring;
			uint32_t odd;

			ENSURE(e->ring < r->ring_cap && e->slot < CANDLE_RING_LEN);
			ring = &candle_rings(s)[e->ring];
			if (e->created) {
				candle_ring_of(s)[(uint64_t)e->hdr.inst * CANDLE_INTERVALS_MAX +
				                  e->hdr.interval] = 0;
				continue;
			}
			odd = candle_write_begin(&ring->h);
			memcpy((uint8_t *)&ring->h + sizeof(ring->h.seqlock),
			       (const uint8_t *)&e->hdr + sizeof(e->hdr.seqlock),
			       sizeof(ring->h) - sizeof(ring->h.seqlock));
			ring->c[e->slot] = e->c;
			candle_write_end(&ring->h, odd);
		}
		atomic_store_explicit(&r->rings_used, u->rings_used, memory_order_release);
		r->pool_full = u->pool_full;
		log_warn("state %s: rolled back half-applied candles (journal seq %llu)", s->path,
		         (unsigned long long)jseq);
	}
	atomic_store_explicit(&u->jseq, 0, memory_order_release);
}

int state_candles_configure(struct state *s, const int64_t *interval_ns, uint32_t n,
                            int64_t grace_ns, char *err, size_t errlen)
{
	struct candle_region *r = candle_region(s);
	bool same = r->n_intervals == n && r->grace_ns == grace_ns;

	ENSURE(!s->readonly && n <= CANDLE_INTERVALS_MAX);
	for (uint32_t i = 0; same && i < n; i++)
		same = r->interval_ns[i] == interval_ns[i];
	if (same)
		return 0;
	if (atomic_load(&s->hdr->applied_jseq) != 0)
		return errfmt(err, errlen,
		              "state %s: candles were kept with %u intervals (first %llds) and "
		              "grace %lldms; --candles/--candle-grace ask for %u intervals and "
		              "grace %lldms; use the same settings, or move the state file away "
		              "to rebuild it from the journal",
		              s->path, r->n_intervals, (long long)(r->interval_ns[0] / 1000000000),
		              (long long)(r->grace_ns / 1000000), n,
		              (long long)(grace_ns / 1000000));
	for (uint32_t i = 0; i < n; i++)
		r->interval_ns[i] = interval_ns[i];
	r->grace_ns = grace_ns;
	r->n_intervals = n;
	return 0;
}

static int64_t candle_floor(int64_t ts, int64_t iv)
{
	int64_t q = ts / iv;

	if (ts % iv != 0 && ts < 0)
		q--;
	return q * iv;
}

/* Finds the ring of (inst, interval k) into e->ring; e->created = 1 when a
 * new one must be taken from the pool.  -1 when the pool is full.  Writes
 * nothing in the mapping. */
static int candle_ring_find(const struct state *s, uint32_t inst, uint32_t k,
                            struct candle_undo_entry *e)
{
	const struct candle_region *r = candle_region(s);
	uint32_t of = candle_ring_of(s)[(uint64_t)inst * CANDLE_INTERVALS_MAX + k];
	uint32_t used = atomic_load_explicit(&r->rings_used, memory_order_relaxed);

	e->created = 0;
	if (of != 0) {
		ENSURE(of <= used);
		e->ring = of - 1;
		return 0;
	}
	if (used >= r->ring_cap)
		return -1;
	e->ring = used;
	e->created = 1;
	return 0;
}

/* Takes ring e->ring from the pool for (inst, k). */
static void candle_ring_create(struct state *s, uint32_t inst, uint32_t k,
                               const struct candle_undo_entry *e)
{
	struct candle_region *r = candle_region(s);
	struct candle_ring *ring = &candle_rings(s)[e->ring];
	uint32_t seq = atomic_load_explicit(&ring->h.seqlock, memory_order_relaxed);

	memset((uint8_t *)&ring->h + sizeof(ring->h.seqlock), 0,
	       sizeof(ring->h) - sizeof(ring->h.seqlock));
	atomic_store_explicit(&ring->h.seqlock, (seq | 1) + 1, memory_order_relaxed);
	ring->h.inst = inst;
	ring->h.interval = k;
	ring->h.crc = candle_ring_crc(inst, k);
	ring->h.watermark_ns = INT64_MIN;
	atomic_store_explicit(&r->rings_used, e->ring + 1, memory_order_release);
	__atomic_store_n(&candle_ring_of(s)[(uint64_t)inst * CANDLE_INTERVALS_MAX + k], e->ring + 1,
	                 __ATOMIC_RELEASE);
}

/* Slot of the candle starting at start (*found), else head (a new one).
 * Every candle in the ring holds a trade at or below the watermark, so none
 * starts after it: a trade whose candle starts past the watermark opens a
 * new one without a scan of the ring (the common case in time order, where
 * the scan read all CANDLE_RING_LEN candles to find nothing).  start is a
 * multiple of the interval, so start > watermark is start > the watermark's
 * candle, without a division. */
static uint32_t candle_slot(const struct candle_ring *ring, int64_t start, bool *found)
{
	*found = false;
	if (ring->h.count == 0 || start > ring->h.watermark_ns)
		return ring->h.head;
	for (uint32_t i = 0; i < ring->h.count; i++) {
		uint32_t slot = (ring->h.head + CANDLE_RING_LEN - 1 - i) % CANDLE_RING_LEN;

		if (ring->c[slot].start_ns == start) {
			*found = true;
			return slot;
		}
	}
	return ring->h.head;
}

static void candle_add(struct candle *c, const struct trade *t, bool fresh, int64_t start)
{
	if (fresh) {
		memset(c, 0, sizeof(*c));
		c->start_ns = start;
		c->open = c->high = c->low = t->price;
	}
	c->high = t->price > c->high ? t->price : c->high;
	c->low = t->price < c->low ? t->price : c->low;
	c->close = t->price;
	c->trades++;
	c->volume += t->qty;
	c->notional += (__int128)t->price * t->qty;
}

static bool candle_late(const struct candle_region *r, const struct candle_ring_hdr *h,
                        int64_t start, int64_t iv)
{
	if (h->watermark_ns == INT64_MIN || start > INT64_MAX - iv - r->grace_ns)
		return false;
	return h->watermark_ns >= start + iv + r->grace_ns;
}

/* The trade at ts into slot of ring; start is ts's candle (candle_floor). */
static void candle_apply_one(struct state *s, struct candle_ring *ring, uint32_t k,
                             const struct trade *t, int64_t ts, int64_t start, uint32_t slot,
                             bool found)
{
	const struct candle_region *r = candle_region(s);
	int64_t iv = r->interval_ns[k];
	uint32_t odd = candle_write_begin(&ring->h);

	if (t->flags & TRADE_F_CORRECTION) {
		ring->h.corrections++;
	} else if (candle_late(r, &ring->h, start, iv)) {
		ring->h.late++;
	} else {
		candle_add(&ring->c[slot], t, !found, start);
		if (!found) {
			ring->h.head = (ring->h.head + 1) % CANDLE_RING_LEN;
			if (ring->h.count < CANDLE_RING_LEN)
				ring->h.count++;
		}
		if (ts > ring->h.watermark_ns)
			ring->h.watermark_ns = ts;
	}
	candle_write_end(&ring->h, odd);
}

/* Saves into e what applying to ring e->ring will change; returns the slot. */
static uint32_t candle_save(const struct state *s, struct candle_undo_entry *e, uint32_t inst,
                            uint32_t k, int64_t start, bool *found)
{
	const struct candle_ring *ring = &candle_rings(s)[e->ring];

	if (e->created) {
		memset(&e->hdr, 0, sizeof(e->hdr));
		e->hdr.inst = inst;
		e->hdr.interval = k;
		e->slot = 0;
		*found = false;
		return 0;
	}
	e->hdr = ring->h;
	e->slot = candle_slot(ring, start, found);
	e->c = ring->c[e->slot];
	return e->slot;
}

void state_candles_apply(struct state *s, const struct trade *t, uint64_t jseq)
{
	struct candle_region *r = candle_region(s);
	struct candle_undo *u = &r->undo;
	int64_t ts = (t->flags & TRADE_F_HAS_TS) ? t->ts_exch_ns : t->ts_rx_ns;
	uint32_t n = r->n_intervals;

	if (n == 0)
		return;
	ENSURE(n <= CANDLE_INTERVALS_MAX && t->instrument < r->inst_cap);
	ENSURE(atomic_load_explicit(&u->jseq, memory_order_relaxed) == 0);
	u->n = 0;
	u->rings_used = atomic_load_explicit(&r->rings_used, memory_order_relaxed);
	u->pool_full = r->pool_full;
	atomic_store_explicit(&u->jseq, jseq, memory_order_release);
	for (uint32_t k = 0; k < n; k++) {
		struct candle_undo_entry *e = &u->e[u->n];
		int64_t start = candle_floor(ts, r->interval_ns[k]);
		uint32_t slot;
		bool found;

		if (candle_ring_find(s, t->instrument, k, e) < 0) {
			r->pool_full++;
			continue;
		}
		slot = candle_save(s, e, t->instrument, k, start, &found);
		/* the entry is complete before it counts, and counts before the
		 * ring changes: a rollback covers every write below */
		atomic_thread_fence(memory_order_release);
		u->n++;
		atomic_thread_fence(memory_order_release);
		if (e->created)
			candle_ring_create(s, t->instrument, k, e);
		candle_apply_one(s, &candle_rings(s)[e->ring], k, t, ts, start, slot, found);
	}
}

void state_candles_disarm(struct state *s)
{
	atomic_store_explicit(&candle_region(s)->undo.jseq, 0, memory_order_release);
}
/* ---- readers ---- */

uint32_t state_candles_intervals(const struct state *s)
{
	uint32_t n = candle_region(s)->n_intervals;

	return n <= CANDLE_INTERVALS_MAX ? n : 0;
}

int64_t state_candles_interval_ns(const struct state *s, uint32_t k)
{
	return k < state_candles_intervals(s) ? candle_region(s)->interval_ns[k] : 0;
}

int64_t state_candles_grace_ns(const struct state *s)
{
	return candle_region(s)->grace_ns;
}

int state_candles_interval(const struct state *s, int64_t interval_ns)
{
	const struct candle_region *r = candle_region(s);

	for (uint32_t i = 0; i < r->n_intervals && i < CANDLE_INTERVALS_MAX; i++)
		if (r->interval_ns[i] == interval_ns)
			return (int)i;
	return -1;
}

bool state_candle_closed(const struct state *s, uint32_t interval, const struct candle *c,
                         int64_t watermark_ns)
{
	const struct candle_region *r = candle_region(s);
	struct candle_ring_hdr h = {.watermark_ns = watermark_ns};

	ENSURE(interval < CANDLE_INTERVALS_MAX);
	return candle_late(r, &h, c->start_ns, r->interval_ns[interval]);
}

static int candle_cmp(const void *a, const void *b)
{
	const struct candle *x = a, *y = b;

	return (x->start_ns > y->start_ns) - (x->start_ns < y->start_ns);
}

int state_candles_read(const struct state *s, uint32_t inst, uint32_t interval, struct candle *out,
                       uint32_t max, struct candle_ring_hdr *hdr)
{
	const struct candle_region *r = candle_region(s);
	uint32_t of;

	ENSURE(s->map && (out || max == 0));
	if (inst >= r->inst_cap || interval >= r->n_intervals || interval >= CANDLE_INTERVALS_MAX)
		return -1;
	if (hdr)
		memset(hdr, 0, sizeof(*hdr));
	of = __atomic_load_n(&candle_ring_of(s)[(uint64_t)inst * CANDLE_INTERVALS_MAX + interval],
	                     __ATOMIC_ACQUIRE);
	if (of == 0 || of > r->ring_cap)
		return 0;
	return state_candles_ring_read(s, of - 1, out, max, hdr);
}

uint32_t state_candles_rings_used(const struct state *s)
{
	const struct candle_region *r = candle_region(s);
	uint32_t used = atomic_load_explicit(&r->rings_used, memory_order_acquire);

	return used <= r->ring_cap ? used : r->ring_cap;
}

int state_candles_ring_index(const struct state *s, uint32_t inst, uint32_t k)
{
	const struct candle_region *r = candle_region(s);
	uint32_t of;

	if (inst >= r->inst_cap || k >= state_candles_intervals(s))
		return -1;
	of = __atomic_load_n(&candle_ring_of(s)[(uint64_t)inst * CANDLE_INTERVALS_MAX + k],
	                     __ATOMIC_ACQUIRE);
	return of == 0 || of > r->ring_cap ? -1 : (int)(of - 1);
}

uint64_t state_candles_late(const struct state *s, uint32_t k)
{
	uint32_t used = state_candles_rings_used(s);
	uint64_t n = 0;

	for (uint32_t r = 0; r < used; r++) { /* bounded by ring_cap */
		const struct candle_ring_hdr *h = &candle_rings(s)[r].h;

		if (__atomic_load_n(&h->interval, __ATOMIC_RELAXED) == k)
			n += __atomic_load_n(&h->late, __ATOMIC_RELAXED);
	}
	return n;
}

uint64_t state_candles_pool_full(const struct state *s)
{
	return __atomic_load_n(&candle_region(s)->pool_full, __ATOMIC_RELAXED);
}

int64_t state_candles_ring_watermark(const struct state *s, uint32_t ring)
{
	if (ring >= state_candles_rings_used(s))
		return INT64_MIN;
	return __atomic_load_n(&candle_rings(s)[ring].h.watermark_ns, __ATOMIC_ACQUIRE);
}

int state_candles_ring_read(const struct state *s, uint32_t ring_ix, struct candle *out,
                            uint32_t max, struct candle_ring_hdr *hdr)
{
	uint32_t n, tries = 0;
	int64_t deadline = 0;
	const struct candle_ring *ring;
	struct candle_ring copy;

	ENSURE(s->map && (out || max == 0));
	if (hdr)
		memset(hdr, 0, sizeof(*hdr));
	if (ring_ix >= state_candles_rings_used(s))
		return -1;
	ring = &candle_rings(s)[ring_ix];
	do {
		uint32_t before = atomic_load_explicit(&ring->h.seqlock, memory_order_acquire);

		if ((before & 1) == 0) {
			memcpy(&copy, (const void *)ring, sizeof(copy));
			atomic_thread_fence(memory_order_acquire);
			if (atomic_load_explicit(&ring->h.seqlock, memory_order_relaxed) == before)
				goto got;
		}
	} while (state_read_retry(&tries, &deadline));
	return -1;
got:
	n = copy.h.count <= CANDLE_RING_LEN ? copy.h.count : CANDLE_RING_LEN;
	n = n < max ? n : max;
	/* the newest n, from slots head-n .. head-1 */
	for (uint32_t i = 0; i < n; i++)
		out[i] = copy.c[(copy.h.head + CANDLE_RING_LEN * 2 - n + i) % CANDLE_RING_LEN];
	if (n > 1) /* out may be NULL with max 0: a header-only read (qsort wants a base) */
		qsort(out, n, sizeof(out[0]), candle_cmp);
	if (hdr) {
		*hdr = copy.h;
		atomic_store_explicit(&hdr->seqlock, 0, memory_order_relaxed);
	}
	return (int)n;
}

int64_t state_candles_watermark(const struct state *s, uint32_t inst, uint32_t k)
{
	const struct candle_region *r = candle_region(s);
	uint32_t of;

	if (inst >= r->inst_cap || k >= state_candles_intervals(s))
		return INT64_MIN;
	of = candle_ring_of(s)[(uint64_t)inst * CANDLE_INTERVALS_MAX + k];
	return of == 0 || of > r->ring_cap ? INT64_MIN : candle_rings(s)[of - 1].h.watermark_ns;
}

int state_candles_closed_since(const struct state *s, uint32_t inst, uint32_t k, int64_t before,
                               struct candle *out, uint32_t max)
{
	struct candle all[CANDLE_RING_LEN];
	struct candle_ring_hdr h;
	int n = state_candles_read(s, inst, k, all, CANDLE_RING_LEN, &h);
	uint32_t got = 0;

	for (int i = 0; i < n && got < max; i++) {
		struct candle_ring_hdr b = {.watermark_ns = before};

		if (state_candle_closed(s, k, &all[i], h.watermark_ns) &&
		    (before == INT64_MIN || !state_candle_closed(s, k, &all[i], b.watermark_ns)))
			out[got++] = all[i];
	}
	return (int)got;
}

__int128 candle_vwap(const struct candle *c)
{
	if (c->volume <= 0)
		return 0;
	return dec128_div_round(c->notional, c->volume);
}

/* ---- parsing ---- */

static const struct {
	const char *unit;
	int64_t ns;
} candle_units[] = {
        {"ns", 1},
        {"us", 1000LL},
        {"ms", 1000000LL},
        {"s", 1000000000LL},
        {"m", 60000000000LL},
        {"h", 3600000000000LL},
        {"d", 86400000000000LL},
};

/* "N<unit>" of exactly len bytes -> ns; -1 if not one. */
static int candle_parse_one(const char *t, size_t len, int64_t *out)
{
	uint64_t v = 0;
	size_t i = 0;

	while (i < len && t[i] >= '0' && t[i] <= '9' && v <= 1000000000ULL)
		v = v * 10 + (uint64_t)(t[i++] - '0');
	if (i == 0 || i == len) {
		if (i == len && v == 0) {
			*out = 0;
			return 0;
		}
		return -1;
	}
	for (size_t u = 0; u < sizeof(candle_units) / sizeof(candle_units[0]); u++) {
		if (strlen(candle_units[u].unit) == len - i &&
		    memcmp(candle_units[u].unit, t + i, len - i) == 0) {
			if (v > (uint64_t)(CANDLE_INTERVAL_MAX_NS / candle_units[u].ns))
				return -1;
			*out = (int64_t)v * candle_units[u].ns;
			return 0;
		}
	}
	return -1;
}

int candle_parse_duration(const char *text, int64_t *out, char *err, size_t errlen)
{
	if (candle_parse_one(text, strlen(text), out) < 0)
		return errfmt(err, errlen,
		              "duration '%s': expected a number and a unit ns, us, ms, s, m, h "
		              "(at most 1d)",
		              text);
	return 0;
}

int candle_parse_intervals(const char *text, int64_t *out, char *err, size_t errlen)
{
	uint32_t n = 0;
	const char *p = text;

	if (strcmp(text, "off") == 0)
		return 0;
	for (;;) {
		size_t len = strcspn(p, ",");
		int64_t v;

		if (n == CANDLE_INTERVALS_MAX)
			return errfmt(err, errlen, "--candles '%s': at most %u intervals", text,
			              CANDLE_INTERVALS_MAX);
		if (candle_parse_one(p, len, &v) < 0 || v < 1000000000LL || v % 1000000000LL)
			return errfmt(err, errlen,
			              "--candles '%s': '%.*s' is not an interval of whole seconds "
			              "1s..1d (units s, m, h, d)",
			              text, (int)len, p);
		if (n > 0 && v <= out[n - 1])
			return errfmt(err, errlen, "--candles '%s': intervals must be ascending",
			              text);
		out[n++] = v;
		if (p[len] == 0)
			return (int)n;
		p += len + 1;
	}
}

const char *candle_interval_name(int64_t ns, char *buf, size_t len)
{
	static const struct {
		char unit;
		int64_t ns;
	} u[] = {{'d', 86400000000000LL},
	         {'h', 3600000000000LL},
	         {'m', 60000000000LL},
	         {'s', 1000000000LL}};

	for (size_t i = 0; i < sizeof(u) / sizeof(u[0]); i++)
		if (ns % u[i].ns == 0) {
			snprintf(buf, len, "%lld%c", (long long)(ns / u[i].ns), u[i].unit);
			return buf;
		}
	snprintf(buf, len, "%lldns", (long long)ns);
	return buf;
}
