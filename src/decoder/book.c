/* book.c -- live ITCH orders: open addressing, linear probing, backward-shift
 * deletion.  See book.h for the layout and its invariants. */
#include "trades/book.h"

#include <assert.h>
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#define BOOK_HASH_MUL 0x9E3779B97F4A7C15ull /* 2^64 / golden ratio */

static inline uint64_t book_home(const struct book *b, uint64_t ref)
{
	/* The high bits of the product are the well-mixed ones. */
	return (ref * BOOK_HASH_MUL) >> b->shift;
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
	/* Large tables are probed at random: huge pages save TLB misses.  Best
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

/* Index of ref's slot, or of the empty slot ending its probe sequence. */
static uint64_t book_probe(const struct book *b, uint64_t ref, uint64_t *probes)
{
	uint64_t i = book_home(b, ref);
	uint64_t n;

	/* Bounded by the capacity; the load limit guarantees an empty slot. */
	for (n = 1; n <= b->capacity; n++) {
		const struct book_order *o = &b->slots[i];

		if (slot_empty(o) || o->ref == ref)
			break;
		i = (i + 1) & b->mask;
	}
	assert(n <= b->capacity);
	*probes = n;
	return i;
}

struct book_order *book_find(const struct book *b, uint64_t ref)
{
	uint64_t probes;
	uint64_t i;

	assert(b->slots != NULL);
	i = book_probe(b, ref, &probes);
	return slot_empty(&b->slots[i]) ? NULL : &b->slots[i];
}

enum book_status book_add(struct book *b, const struct book_order *o)
{
	uint64_t probes;
	uint64_t i;

	assert(b->slots != NULL && o != NULL);
	if (o->shares == 0) {
		b->stats.zero++;
		return BOOK_ZERO;
	}
	i = book_probe(b, o->ref, &probes);
	if (!slot_empty(&b->slots[i])) {
		b->stats.exists++;
		return BOOK_EXISTS;
	}
	if (b->stats.live >= b->max_orders) {
		b->stats.full++;
		return BOOK_FULL;
	}
	b->slots[i] = *o;
	memset(b->slots[i].pad, 0, sizeof(b->slots[i].pad));
	b->stats.live++;
	b->stats.inserts++;
	if (b->stats.live > b->stats.max_live)
		b->stats.max_live = b->stats.live;
	if (probes > b->stats.probe_max)
		b->stats.probe_max = probes;
	return BOOK_OK;
}

void book_remove(struct book *b, struct book_order *o)
{
	uint64_t hole, j, n;

	assert(o >= b->slots && o < b->slots + b->capacity && !slot_empty(o));
	assert(b->stats.live > 0);
	hole = (uint64_t)(o - b->slots);
	j = hole;
	/* Backward shift: walk the cluster after the hole; an entry whose home
	 * is not cyclically inside (hole, j] would be unreachable past the hole,
	 * so it moves into the hole, which moves to where it was.  Ends at the
	 * first empty slot: bounded by the capacity. */
	for (n = 1; n < b->capacity; n++) {
		struct book_order *e;
		uint64_t home;

		j = (j + 1) & b->mask;
		e = &b->slots[j];
		if (slot_empty(e))
			break;
		home = book_home(b, e->ref);
		if (((j - home) & b->mask) >= ((j - hole) & b->mask)) {
			b->slots[hole] = *e;
			hole = j;
		}
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
	struct book_order n;

	if (o == NULL)
		return BOOK_MISSING;
	n = *o;
	if (old != NULL)
		*old = n;
	book_remove(b, o);
	n.ref = new_ref;
	n.shares = shares;
	n.price = price;
	/* The old order just left, so the new one can never find the book full. */
	return book_add(b, &n);
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
