/* book.h -- the live orders of an ITCH feed, keyed by order reference number.
 *
 * ITCH executions (E) carry neither price nor stock: both come from the
 * order's Add.  So the decoder keeps every live order in one open-addressing
 * hash table, allocated once at init: anonymous mmap, huge pages asked for
 * (random probes), and every page faulted in at init (MADV_POPULATE_WRITE,
 * Linux >= 5.14) so no page fault stalls a busy feed.  The memory is thus
 * committed up front: 2 * 24 bytes per order of max_orders, rounded up to a
 * power of two (4 Mi orders: 192 MiB).  The layout:
 *
 *   capacity   power of two >= 2 * max_orders (load factor <= 1/2), >= 16
 *   home       the reference number itself, modulo the capacity.  ITCH refs
 *              are dense and increasing across the day: consecutive adds
 *              take consecutive slots (sequential memory, prefetched by the
 *              CPU), and the recent orders, the ones executed and cancelled
 *              most, stay in cache.  A random hash cost a cache miss per
 *              message on a table of hundreds of MiB
 *   probing    linear, Robin Hood: an entry never sits closer to its home
 *              than one it passed, so a lookup stops at the first empty slot
 *              or at an entry closer to its home than the ref would be, and
 *              an order that lives longer than a lap of the table (ref and
 *              ref + capacity both live) displaces its neighbours by one
 *   deletion   backward shift: the entries after the hole that are not at
 *              their home move back one slot, up to an empty slot or an
 *              entry at its home; no tombstones, so a whole day of adds and
 *              deletes never lengthens the probe chains
 *
 * An empty slot is one with shares == 0: a live order always has shares > 0
 * (an order reduced to 0 is removed), and reference number 0 stays usable.
 * Every probe loop is bounded by the capacity; since at most max_orders
 * (half the slots) are ever live, a probe always meets an empty slot first.
 *
 * Not thread-safe: one decoder thread owns its book.
 */
#ifndef TRADES_BOOK_H
#define TRADES_BOOK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>

/* Faults a mapping in at init (Linux >= 5.14); older headers lack the name. */
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define BOOK_MIN_CAPACITY 16ull
#define BOOK_MAX_ORDERS   (1ull << 36) /* 2^37 slots * 24 bytes = 3 TiB of address space */

/* One live order (24 bytes). */
struct book_order {
	uint64_t ref;    /* order reference number (ITCH: day-unique) */
	uint32_t shares; /* displayed shares still live; > 0 (0 marks an empty slot) */
	uint32_t price;  /* limit price, 4 implied decimals (ITCH Price(4)) */
	uint16_t locate; /* ITCH stock locate code of the order's instrument */
	uint8_t side;    /* 'B' or 'S' as the Add gave it (stored, not checked) */
	uint8_t pad[5];  /* zero */
};
_Static_assert(sizeof(struct book_order) == 24, "an order is 24 bytes");

struct book_stats {
	uint64_t live;        /* orders in the table now */
	uint64_t max_live;    /* high-water mark of live */
	uint64_t inserts;     /* orders added (book_add, and the new half of book_replace) */
	uint64_t removes;     /* orders removed (delete, reduce to 0, old half of replace) */
	uint64_t full;        /* adds refused: max_orders live already */
	uint64_t exists;      /* adds refused: the reference number is already live */
	uint64_t zero;        /* adds refused: 0 shares (an order that is already dead) */
	uint64_t over_reduce; /* reductions larger than the order's shares (clamped) */
	uint64_t probe_max;   /* longest probe sequence seen, in slots (1 = home slot) */
};

struct book {
	struct book_order *slots; /* capacity slots, mmap'ed */
	uint64_t capacity;        /* power of two */
	uint64_t mask;            /* capacity - 1 */
	uint64_t max_orders;      /* live orders allowed (the load limit) */
	unsigned shift;           /* 64 - log2(capacity), for the hash */
	size_t map_bytes;         /* length of the mapping */
	struct book_stats stats;
};

enum book_status {
	BOOK_OK = 0,
	BOOK_MISSING, /* no live order has that reference number */
	BOOK_EXISTS,  /* add: the reference number is already live (nothing changed) */
	BOOK_FULL,    /* add: max_orders are live (nothing changed) */
	BOOK_ZERO,    /* add: shares == 0 (nothing stored) */
};

/* Maps a table for max_orders live orders (1..BOOK_MAX_ORDERS): capacity is
 * the power of two >= 2 * max_orders.  0, or -1 with errno (EINVAL for a bad
 * size, ENOMEM/mmap's errno when the mapping fails); *b is then unusable. */
int book_init(struct book *b, uint64_t max_orders);
/* Unmaps; *b is zeroed.  Safe on a zeroed or already freed book. */
void book_free(struct book *b);

/* Adds o (o->shares > 0 to be stored).  BOOK_OK, BOOK_EXISTS, BOOK_FULL or
 * BOOK_ZERO; each refusal is counted in stats. */
enum book_status book_add(struct book *b, const struct book_order *o);
/* book_add of the order with these fields (the decoder's path: no order is
 * built on the stack and read back whole). */
enum book_status book_insert(struct book *b, uint64_t ref, uint32_t shares, uint32_t price,
                             uint16_t locate, uint8_t side);

/* The live order with reference ref, or NULL.  The pointer is into the table:
 * valid until the next call that adds or removes an order. */
struct book_order *book_find(const struct book *b, uint64_t ref);

/* Takes shares off the order o (from book_find): executions and partial
 * cancels.  More than it has is clamped to what it has and counted
 * (over_reduce).  At 0 the order is removed and o is no longer valid.
 * Returns the shares left (0 = removed). */
uint32_t book_reduce(struct book *b, struct book_order *o, uint32_t shares);

/* Asks the CPU to fetch ref's home slot into cache (a hint: nothing is read
 * or changed).  A decoder that sees the next messages calls it a burst ahead
 * of the lookups, so their cache misses overlap instead of queueing. */
static inline void book_prefetch(const struct book *b, uint64_t ref)
{
	const struct book_order *o = &b->slots[ref & b->mask];

	/* An asm statement, not __builtin_prefetch: GCC takes a function that
	 * only prefetches for a const one and drops calls whose result is
	 * unused, which is all of them. */
#if defined(__x86_64__) || defined(__i386__)
	__asm__ volatile("prefetcht0 %0" : : "m"(*(const volatile char *)o));
#else
	__builtin_prefetch(o, 1, 3);
#endif
}

/* Removes the order o (from book_find); o is no longer valid. */
void book_remove(struct book *b, struct book_order *o);

/* Removes the order with reference ref.  BOOK_OK or BOOK_MISSING. */
enum book_status book_delete(struct book *b, uint64_t ref);

/* Cancel-replace (ITCH 'U'): removes old_ref and adds new_ref with the old
 * order's side and locate and the new shares and price.  BOOK_MISSING: old_ref
 * is not live, nothing changed.  Otherwise old_ref is gone and the result of
 * adding new_ref is returned (BOOK_OK; BOOK_EXISTS if new_ref was already
 * live, which is kept as it was; BOOK_ZERO for 0 new shares).  The old
 * order's fields are copied to *old if old is non-NULL and it existed. */
enum book_status book_replace(struct book *b, uint64_t old_ref, uint64_t new_ref, uint32_t shares,
                              uint32_t price, struct book_order *old);

/* "ok", "missing", "exists", "full", "zero". */
const char *book_status_name(enum book_status s);

#endif
