/* dedup.c -- the (instrument, feed) duplicate filter and feed seq tracking.
 *
 * See dedup.h for the rules.  The table lives in the state file, so it
 * survives restarts: a trade re-sent after a reconnect is caught even if the
 * process restarted in between.
 */
#include <assert.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "src/state/dedup.h"
#include "trades/log.h"
#include "trades/state.h"

#define DEDUP_WORDS (STATE_DEDUP_WINDOW / 64)

_Static_assert(STATE_DEDUP_WINDOW % 64 == 0, "window is whole bitmap words");
_Static_assert(STATE_DEDUP_PROBES > 0, "a probe visits at least one slot");

/* splitmix64's finalizer: (inst, feed) keys are small dense integers, and
 * masking them directly would put every feed of an instrument in a row and
 * make probe chains collide; this spreads them over the whole table. */
static uint64_t dedup_hash(uint32_t inst, uint16_t feed)
{
	uint64_t x = ((uint64_t)inst << 16) | feed;

	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x;
}

static uint32_t dedup_probe_bound(const struct state *s)
{
	uint32_t cap = s->hdr->dedup_cap;

	return cap < STATE_DEDUP_PROBES ? cap : STATE_DEDUP_PROBES;
}

/* Walks the probe chain of (inst, feed): returns the slot holding it, or the
 * first empty slot in *empty (STATE_DEDUP_NONE if none within bound). */
static uint32_t dedup_walk(const struct state *s, uint32_t inst, uint16_t feed, uint32_t *empty)
{
	uint32_t mask = s->hdr->dedup_cap - 1;
	uint32_t slot = (uint32_t)dedup_hash(inst, feed) & mask;
	uint32_t bound = dedup_probe_bound(s);

	ENSURE(inst < STATE_INST_CAP_MAX);
	ENSURE((s->hdr->dedup_cap & mask) == 0);
	*empty = STATE_DEDUP_NONE;
	for (uint32_t i = 0; i < bound; i++, slot = (slot + 1) & mask) {
		const struct state_dedup *d = &s->dedup[slot];

		if (d->inst_plus1 == 0) {
			*empty = slot;
			return STATE_DEDUP_NONE;
		}
		if (d->inst_plus1 == inst + 1 && d->feed == feed)
			return slot;
	}
	return STATE_DEDUP_NONE;
}

uint32_t state_dedup_find(const struct state *s, uint32_t inst, uint16_t feed)
{
	uint32_t empty;

	return dedup_walk(s, inst, feed, &empty);
}

uint32_t state_dedup_insert(struct state *s, uint32_t inst, uint16_t feed)
{
	uint32_t empty;
	uint32_t slot = dedup_walk(s, inst, feed, &empty);
	struct state_dedup *d;

	ENSURE(!s->readonly);
	if (slot != STATE_DEDUP_NONE || empty == STATE_DEDUP_NONE)
		return slot;
	d = &s->dedup[empty];
	/* inst_plus1 is the occupancy mark: write it last, so that a crash in
	 * between leaves an empty slot, never a half-made entry. */
	memset(d, 0, sizeof(*d));
	d->feed = feed;
	__atomic_store_n(&d->inst_plus1, inst + 1, __ATOMIC_RELEASE);
	return empty;
}

bool state_dedup_seen(const struct state_dedup *d, uint64_t trade_id)
{
	uint64_t bit = trade_id % STATE_DEDUP_WINDOW;

	if (trade_id == 0 || trade_id > d->hwm)
		return false;
	if (d->hwm >= STATE_DEDUP_WINDOW && trade_id <= d->hwm - STATE_DEDUP_WINDOW)
		return true;
	return (d->bits[bit / 64] >> (bit % 64)) & 1;
}

/* Clears n < WINDOW bits from bit a on, wrapping at the window's end, a
 * word at a time: ITCH match numbers are day-wide, so one instrument's next
 * trade is often hundreds of ids above its last. */
static void dedup_clear(struct state_dedup *d, uint64_t a, uint64_t n)
{
	unsigned r;

	assert(a < STATE_DEDUP_WINDOW && n < STATE_DEDUP_WINDOW);
	/* Each round clears up to the end of a word: at most DEDUP_WORDS + 1. */
	for (r = 0; n > 0 && r <= DEDUP_WORDS + 1; r++) {
		uint64_t off = a % 64, k = 64 - off < n ? 64 - off : n;
		uint64_t mask = (k == 64 ? ~0ull : (1ull << k) - 1) << off;

		d->bits[a / 64] &= ~mask;
		n -= k;
		a = (a + k) % STATE_DEDUP_WINDOW;
	}
	ENSURE(n == 0);
}

/* Clears the bits of the ids in (hwm, id): they enter the window unseen, and
 * their residues still hold the ids they push out of it. */
static void dedup_advance(struct state_dedup *d, uint64_t id)
{
	uint64_t jump = id - d->hwm;

	ENSURE(id > d->hwm);
	if (jump >= STATE_DEDUP_WINDOW)
		memset(d->bits, 0, sizeof(d->bits));
	else if (jump > 1) /* a jump of 1 (the usual case on one-pair feeds) clears nothing */
		dedup_clear(d, (d->hwm + 1) % STATE_DEDUP_WINDOW, jump - 1);
	d->hwm = id;
}

bool state_dedup_outlier(const struct state_dedup *d, uint64_t trade_id)
{
	return d->hwm != 0 && trade_id > d->hwm && trade_id - d->hwm > STATE_DEDUP_JUMP_MAX;
}

bool state_dedup_mark(struct state_dedup *d, uint64_t trade_id)
{
	uint64_t bit = trade_id % STATE_DEDUP_WINDOW;

	ENSURE(d->inst_plus1 != 0);
	if (trade_id == 0)
		return false;
	/* An id far above the mark (a garbage or bit-flipped id) would push
	 * every real id out of the window and make it a duplicate: keep it out
	 * of the window instead, and let the caller count it. */
	if (state_dedup_outlier(d, trade_id))
		return true;
	if (trade_id > d->hwm)
		dedup_advance(d, trade_id);
	else if (d->hwm >= STATE_DEDUP_WINDOW && trade_id <= d->hwm - STATE_DEDUP_WINDOW)
		return false; /* too old: already counts as seen, no bit to set */
	d->bits[bit / 64] |= 1ull << (bit % 64);
	assert(state_dedup_seen(d, trade_id));
	return false;
}

void state_seq_observe(struct state_feed *f, uint64_t seq)
{
	if (seq == 0)
		return;
	if (seq <= f->last_seq) {
		f->out_of_order++;
		return;
	}
	if (f->last_seq > 0 && seq > f->last_seq + 1) {
		f->gaps++;
		f->gap_missing += seq - f->last_seq - 1;
	}
	f->last_seq = seq;
}
