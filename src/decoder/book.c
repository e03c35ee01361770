/* book.c -- live ITCH orders: open addressing, Robin Hood linear probing
 * on the reference number itself, backward-shift deletion.  See book.h for
 * the layout and its invariants. */
#include "trades/book.h"
#include "trades/log.h"

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>

static inline uint64_t book_home(const struct book *b, uint64_t ref)
{
	/* Identity: ITCH references are dense and increasing, so consecutive
	 * adds land in consecutive slots (sequential memory, not one cache miss
	 * per message) and the recent orders, the ones executed and cancelled,
	 * stay in cache.  Robin Hood ordering keeps the cost of collisions with
	 * long-lived orders one table-length back to short displacements. */
	return ref & b->mask;
}

/* How far the entry in slot j sits from its home slot. */
static inline uint64_t book_dist(const struct book *b, uint64_t j)
{
	return (j - book_home(b, b->slots[j].ref)) & b->mask;
}

static inline int slot_empty(const struct book_order *o)
{
	return o->shares == 0;
}

int book_init(struct book *b, uint64_t max_orders)
{
	uint64_t cap = BOOK_MIN_CAPACITY;
	unsigned bits = 4;
	void *map;

	assert(b != NULL);
	memset(b, 0, sizeof(*b));
	if (max_orders == 0 || max_orders > BOOK_MAX_ORDERS) {
		errno = EINVAL;
		return -1;
	}
	/* Bounded: BOOK_MAX_ORDERS * 2 is 2^37, at most 33 doublings from 16. */
	while (cap < max_orders * 2) {
		cap <<= 1;
		bits++;
	}
	assert((cap & (cap - 1)) == 0 && cap >= max_orders * 2);
	map = mmap(NULL, cap * sizeof(struct book_order), PROT_READ | PROT_WRITE,
	           MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (map == MAP_FAILED)
		return -1;
	/* Large tables: huge pages save TLB misses (lookups of older orders reach
	 * far back in the table).  Best
	 * effort, a refusal changes nothing but speed. */
	(void)madvise(map, cap * sizeof(struct book_order), MADV_HUGEPAGE);
	/* Fault every page in now: first touches at run time zero a (huge)
	 * page each, and on the first busy seconds of a feed those stalls add
	 * up to lost datagrams.  Best effort (Linux >= 5.14). */
	(void)madvise(map, cap * sizeof(struct book_order), MADV_POPULATE_WRITE);
	b->slots = map; /* anonymous memory is zero: every slot is empty */
	b->capacity = cap;
	b->mask = cap - 1;
	b->max_orders = max_orders;
	b->shift = 64 - bits;
	b->map_bytes = cap * sizeof(struct book_order);
	return 0;
}

void book_free(struct book *b)
{
	assert(b != NULL);
	if (b->slots != NULL)
		munmap(b->slots, b->map_bytes);
	memset(b, 0, sizeof(*b));
}

/* The one walk of a lookup and of an add: from ref's home to the slot where
 * ref sits or would sit (*at, *dist from home).  True if ref is live there.
 * Robin Hood order: the entries of a cluster sit in order of their homes, so
 * the walk ends at ref, an empty slot or an entry closer to its home than ref
 * would be.  Bounded by the capacity; the load limit guarantees an empty slot. */
static bool book_seek(const struct book *b, uint64_t ref, uint64_t *at, uint64_t *dist)
{
	uint64_t i = book_home(b, ref), d;
	bool live = false;

	for (d = 0; d < b->capacity; d++) {
		const struct book_order *e = &b->slots[i];

		if (slot_empty(e) || book_dist(b, i) < d)
			break;
		if (e->ref == ref) {
			live = true;
			break;
		}
		i = (i + 1) & b->mask;
	}
	ENSURE(d < b->capacity && "a book with no empty slot");
	*at = i;
	*dist = d;
	return live;
}

/* Index of ref's slot, or ~0 when it is not live. */
static uint64_t book_probe(const struct book *b, uint64_t ref)
{
	uint64_t i, d;

	return book_seek(b, ref, &i, &d) ? i : ~0ull;
}

struct book_order *book_find(const struct book *b, uint64_t ref)
{
	uint64_t i;

	assert(b->slots != NULL);
	i = book_probe(b, ref);
	return i == ~0ull ? NULL : &b->slots[i];
}

/* Stores carry (not live, the book not full) in slot i, d slots from its
 * home, where the walk from its home stopped: an empty slot, or an entry
 * closer to its own home than carry would be.  From there, an entry closer
 * to its home than the carried one gives up its slot to it and is carried
 * on (Robin Hood).  Returns the longest displacement, in slots + 1. */
static uint64_t book_place(struct book *b, uint64_t i, uint64_t d, struct book_order carry)
{
	uint64_t dmax = d, n;

	/* Bounded by the capacity: at most half the slots are live. */
	for (n = 0; n < b->capacity; n++) {
		struct book_order *e = &b->slots[i];
		uint64_t ed;

		if (d > dmax)
			dmax = d;
		if (slot_empty(e)) {
			*e = carry;
			return dmax + 1;
		}
		ed = book_dist(b, i);
		if (ed < d) {
			struct book_order t = *e;

			*e = carry;
			carry = t;
			d = ed;
		}
		i = (i + 1) & b->mask;
		d++;
	}
	ENSURE(0 && "a book with no empty slot");
	return dmax + 1;
}

static inline void order_set(struct book_order *o, uint64_t ref, uint32_t shares, uint32_t price,
                             uint16_t locate, uint8_t side)
{
	o->ref = ref;
	o->shares = shares;
	o->price = price;
	o->locate = locate;
	o->side = side;
	memset(o->pad, 0, sizeof(o->pad));
}

enum book_status book_insert(struct book *b, uint64_t ref, uint32_t shares, uint32_t price,
                             uint16_t locate, uint8_t side)
{
	struct book_order *e, n;
	uint64_t i, d, probes = 1;

	assert(b->slots != NULL);
	if (shares == 0) {
		b->stats.zero++;
		return BOOK_ZERO;
	}
	if (book_seek(b, ref, &i, &d)) {
		b->stats.exists++;
		return BOOK_EXISTS;
	}
	if (b->stats.live >= b->max_orders) {
		b->stats.full++;
		return BOOK_FULL;
	}
	e = &b->slots[i];
	if (slot_empty(e)) { /* the common case: written in place, field by field */
		order_set(e, ref, shares, price, locate, side);
		probes = d + 1;
	} else {
		order_set(&n, ref, shares, price, locate, side);
		probes = book_place(b, i, d, n);
	}
	b->stats.live++;
	b->stats.inserts++;
	if (b->stats.live > b->stats.max_live)
		b->stats.max_live = b->stats.live;
	if (probes > b->stats.probe_max)
		b->stats.probe_max = probes;
	return BOOK_OK;
}

enum book_status book_add(struct book *b, const struct book_order *o)
{
	assert(o != NULL);
	return book_insert(b, o->ref, o->shares, o->price, o->locate, o->side);
}

void book_remove(struct book *b, struct book_order *o)
{
	uint64_t hole, j, n;

	assert(o >= b->slots && o < b->slots + b->capacity && !slot_empty(o));
	assert(b->stats.live > 0);
	hole = (uint64_t)(o - b->slots);
	/* Backward shift: the entries after the hole that are not at their home
	 * move back one slot each.  Ends at an empty slot or at an entry at its
	 * home (Robin Hood order: nothing after it belongs before it).  Bounded
	 * by the capacity. */
	for (n = 1; n < b->capacity; n++) {
		j = (hole + 1) & b->mask;
		if (slot_empty(&b->slots[j]) || book_dist(b, j) == 0)
			break;
		b->slots[hole] = b->slots[j];
		hole = j;
	}
	assert(n < b->capacity);
	memset(&b->slots[hole], 0, sizeof(b->slots[hole]));
	b->stats.live--;
	b->stats.removes++;
}

uint32_t book_reduce(struct book *b, struct book_order *o, uint32_t shares)
{
	assert(o != NULL && !slot_empty(o));
	if (shares >= o->shares) {
		if (shares > o->shares)
			b->stats.over_reduce++;
		book_remove(b, o);
		return 0;
	}
	o->shares -= shares;
	return o->shares;
}

enum book_status book_delete(struct book *b, uint64_t ref)
{
	struct book_order *o = book_find(b, ref);

	if (o == NULL)
		return BOOK_MISSING;
	book_remove(b, o);
	return BOOK_OK;
}

enum book_status book_replace(struct book *b, uint64_t old_ref, uint64_t new_ref, uint32_t shares,
                              uint32_t price, struct book_order *old)
{
	struct book_order *o = book_find(b, old_ref);
	uint16_t locate;
	uint8_t side;

	if (o == NULL)
		return BOOK_MISSING;
	if (old != NULL)
		*old = *o;
	locate = o->locate;
	side = o->side;
	book_remove(b, o);
	/* The old order just left, so the new one can never find the book full. */
	return book_insert(b, new_ref, shares, price, locate, side);
}

const char *book_status_name(enum book_status s)
{
	switch (s) {
	case BOOK_OK:
		return "ok";
	case BOOK_MISSING:
		return "missing";
	case BOOK_EXISTS:
		return "exists";
	case BOOK_FULL:
		return "full";
	case BOOK_ZERO:
		return "zero";
	}
	return "?";
}
