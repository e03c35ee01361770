/* test_book.c -- the live-order hash table: basics, capacity, full table,
 * clusters that wrap around the end, and a million random operations checked
 * against a plain array model (backward-shift deletion must never lose an
 * order or resurrect one). */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "trades/book.h"

#define CHURN_ORDERS       4096u
#define CHURN_KEYS         12288u /* key space 3x the table: adds often find it full or taken */
#define CHURN_OPS          1000000u
#define CHURN_VERIFY_EVERY 50000u

static uint64_t rng_state = 0x243F6A8885A308D3ull;

/* splitmix64: deterministic, so a failure replays. */
static uint64_t rng(void)
{
	uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static struct book_order order(uint64_t ref, uint32_t shares, uint32_t price, uint16_t locate,
                               uint8_t side)
{
	struct book_order o;

	memset(&o, 0, sizeof(o));
	o.ref = ref;
	o.shares = shares;
	o.price = price;
	o.locate = locate;
	o.side = side;
	return o;
}

static void test_capacity(void)
{
	static const struct {
		uint64_t max_orders, capacity;
	} cases[] = {
	        {1, 16},
	        {8, 16},
	        {9, 32},
	        {1000, 2048},
	        {1024, 2048},
	        {1025, 4096},
	        {1000000, 1u << 21}, /* init populates the table: keep the test at 48 MB */
	};
	struct book b;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CHECK_EQ_INT(book_init(&b, cases[i].max_orders), 0);
		CHECK_EQ_INT(b.capacity, cases[i].capacity);
		CHECK_EQ_INT(b.max_orders, cases[i].max_orders);
		CHECK(book_find(&b, 42) == NULL);
		book_free(&b);
		CHECK(b.slots == NULL);
	}
	errno = 0;
	CHECK_EQ_INT(book_init(&b, 0), -1);
	CHECK_EQ_INT(errno, EINVAL);
	errno = 0;
	CHECK_EQ_INT(book_init(&b, BOOK_MAX_ORDERS + 1), -1);
	CHECK_EQ_INT(errno, EINVAL);
	book_free(&b); /* harmless on a failed/zeroed book */
}

static void test_basics(void)
{
	struct book b;
	struct book_order o, old, *p;

	CHECK_EQ_INT(book_init(&b, 100), 0);
	o = order(7, 100, 1234500, 3, 'B');
	CHECK_EQ_INT(book_add(&b, &o), BOOK_OK);
	o = order(0, 5, 1, 9, 'S'); /* reference 0 is an ordinary key */
	CHECK_EQ_INT(book_add(&b, &o), BOOK_OK);
	p = book_find(&b, 7);
	CHECK(p != NULL && p->shares == 100 && p->price == 1234500 && p->locate == 3 &&
	      p->side == 'B');
	CHECK(book_find(&b, 0) != NULL && book_find(&b, 0)->locate == 9);
	CHECK(book_find(&b, 8) == NULL);

	o = order(7, 1, 1, 1, 'S');
	CHECK_EQ_INT(book_add(&b, &o), BOOK_EXISTS);
	CHECK_EQ_INT(book_find(&b, 7)->shares, 100); /* unchanged */
	o = order(8, 0, 1, 1, 'S');
	CHECK_EQ_INT(book_add(&b, &o), BOOK_ZERO);
	CHECK(book_find(&b, 8) == NULL);

	CHECK_EQ_INT(book_reduce(&b, book_find(&b, 7), 30), 70);
	CHECK_EQ_INT(book_find(&b, 7)->shares, 70);
	CHECK_EQ_INT(book_reduce(&b, book_find(&b, 7), 70), 0);
	CHECK(book_find(&b, 7) == NULL);
	CHECK_EQ_INT(b.stats.over_reduce, 0);
	CHECK_EQ_INT(book_reduce(&b, book_find(&b, 0), 6), 0); /* more than it has */
	CHECK_EQ_INT(b.stats.over_reduce, 1);
	CHECK_EQ_INT(b.stats.live, 0);

	o = order(10, 200, 500000, 4, 'S');
	CHECK_EQ_INT(book_add(&b, &o), BOOK_OK);
	CHECK_EQ_INT(book_replace(&b, 10, 11, 150, 510000, &old), BOOK_OK);
	CHECK(old.ref == 10 && old.shares == 200 && old.price == 500000);
	CHECK(book_find(&b, 10) == NULL);
	p = book_find(&b, 11);
	CHECK(p != NULL && p->shares == 150 && p->price == 510000 && p->side == 'S' &&
	      p->locate == 4);
	CHECK_EQ_INT(book_replace(&b, 10, 12, 1, 1, NULL), BOOK_MISSING);
	CHECK_EQ_INT(book_replace(&b, 11, 11, 90, 1, NULL), BOOK_OK); /* same ref */
	CHECK_EQ_INT(book_find(&b, 11)->shares, 90);
	o = order(13, 1, 1, 1, 'B');
	CHECK_EQ_INT(book_add(&b, &o), BOOK_OK);
	CHECK_EQ_INT(book_replace(&b, 11, 13, 5, 5, NULL), BOOK_EXISTS); /* 11 gone, 13 kept */
	CHECK(book_find(&b, 11) == NULL && book_find(&b, 13)->shares == 1);
	CHECK_EQ_INT(book_replace(&b, 13, 14, 0, 5, NULL), BOOK_ZERO); /* replaced by nothing */
	CHECK(book_find(&b, 13) == NULL && book_find(&b, 14) == NULL);

	CHECK_EQ_INT(book_delete(&b, 14), BOOK_MISSING);
	o = order(15, 3, 3, 3, 'B');
	book_add(&b, &o);
	CHECK_EQ_INT(book_delete(&b, 15), BOOK_OK);
	CHECK_EQ_INT(b.stats.live, 0);
	CHECK_EQ_INT(b.stats.max_live, 2);
	CHECK_EQ_STR(book_status_name(BOOK_FULL), "full");
	book_free(&b);
}

static void test_full(void)
{
	struct book b;
	struct book_order o;
	uint64_t i;

	CHECK_EQ_INT(book_init(&b, 10), 0);
	for (i = 0; i < 10; i++) {
		o = order(1000 + i, 1, 1, 1, 'B');
		CHECK_EQ_INT(book_add(&b, &o), BOOK_OK);
	}
	o = order(5000, 1, 1, 1, 'B');
	CHECK_EQ_INT(book_add(&b, &o), BOOK_FULL);
	CHECK_EQ_INT(book_add(&b, &o), BOOK_FULL);
	CHECK_EQ_INT(b.stats.full, 2);
	CHECK(book_find(&b, 5000) == NULL);
	/* A replace frees its old slot first, so it succeeds on a full book. */
	CHECK_EQ_INT(book_replace(&b, 1000, 5000, 2, 2, NULL), BOOK_OK);
	CHECK_EQ_INT(book_delete(&b, 1001), BOOK_OK);
	o = order(5001, 1, 1, 1, 'B');
	CHECK_EQ_INT(book_add(&b, &o), BOOK_OK);
	CHECK_EQ_INT(b.stats.live, 10);
	CHECK_EQ_INT(b.stats.inserts, 12);
	book_free(&b);
}

/* A key whose home slot in a table of 2^bits is `home` (book.c homes a
 * reference number at itself modulo the capacity); r picks which lap. */
static uint64_t key_with_home(unsigned bits, uint64_t home, uint64_t r)
{
	return ((r >> bits) << bits) | home;
}

/* Eight keys sharing home slot 14 of 16 (the cluster wraps past the end),
 * plus keys homed in the slots the cluster covers, removed in random orders. */
static void test_cluster_wrap(void)
{
	struct book b;
	uint64_t keys[8];
	unsigned round, i;

	for (round = 0; round < 2000; round++) {
		bool gone[8] = {false};
		unsigned left = 8;

		CHECK_EQ_INT(book_init(&b, 8), 0);
		CHECK_EQ_INT(b.capacity, 16);
		for (i = 0; i < 8; i++) {
			/* 5 share home 14; 3 are homed at 15, 0, 1: inside the cluster */
			uint64_t home = i < 5 ? 14 : (14 + i - 4) & 15;
			struct book_order o;

			keys[i] = key_with_home(4, home, rng());
			o = order(keys[i], i + 1, i, (uint16_t)i, 'B');
			CHECK_EQ_INT(book_add(&b, &o), BOOK_OK);
		}
		while (left > 0) {
			unsigned k = (unsigned)(rng() % 8);

			if (gone[k])
				continue;
			CHECK_EQ_INT(book_delete(&b, keys[k]), BOOK_OK);
			gone[k] = true;
			left--;
			for (i = 0; i < 8; i++) {
				struct book_order *p = book_find(&b, keys[i]);

				CHECK(gone[i] ? p == NULL : p != NULL && p->shares == i + 1);
			}
		}
		CHECK_EQ_INT(b.stats.live, 0);
		book_free(&b);
	}
}

/* book_insert's one walk must find a live ref that sits past its home
 * (displaced by a lap-older order) and refuse it, and book_prefetch is a
 * hint on any ref, the hostile ones too: the book is unchanged by it. */
static void test_insert_displaced(void)
{
	struct book b;
	struct book_order *p;
	uint64_t refs[] = {0, 1, 15, 16, 17, UINT64_MAX, UINT64_MAX - 15};
	unsigned i;

	CHECK_EQ_INT(book_init(&b, 8), 0);
	CHECK_EQ_INT(book_insert(&b, 3, 10, 100, 1, 'B'), BOOK_OK);
	CHECK_EQ_INT(book_insert(&b, 4, 20, 200, 2, 'S'), BOOK_OK);
	CHECK_EQ_INT(book_insert(&b, 3 + 16, 30, 300, 3, 'B'), BOOK_OK); /* home 3: displaced */
	CHECK_EQ_INT(b.stats.probe_max, 2); /* 19 takes slot 4, 4 moves on to 5 */
	CHECK_EQ_INT(book_insert(&b, 3 + 16, 99, 9, 9, 'S'), BOOK_EXISTS);
	CHECK_EQ_INT(book_insert(&b, 4, 99, 9, 9, 'S'), BOOK_EXISTS);
	CHECK_EQ_INT(book_insert(&b, 3 + 32, 0, 9, 9, 'S'), BOOK_ZERO);
	for (i = 0; i < sizeof(refs) / sizeof(refs[0]); i++)
		book_prefetch(&b, refs[i]);
	CHECK_EQ_INT(b.stats.live, 3);
	CHECK_EQ_INT(b.stats.exists, 2);
	p = book_find(&b, 3 + 16);
	CHECK(p != NULL && p->shares == 30 && p->price == 300 && p->locate == 3 && p->side == 'B');
	CHECK(p != NULL && p->pad[0] == 0 && p->pad[4] == 0);
	p = book_find(&b, 4);
	CHECK(p != NULL && p->shares == 20 && p->price == 200 && p->locate == 2 && p->side == 'S');
	CHECK_EQ_INT(book_delete(&b, 3), BOOK_OK); /* 4 and 19 shift back */
	p = book_find(&b, 3 + 16);
	CHECK(p != NULL && p == &b.slots[3] && p->shares == 30);
	CHECK(book_find(&b, 4) == &b.slots[4]);
	book_free(&b);
}

struct model {
	bool live;
	uint32_t shares, price;
	uint16_t locate;
	uint8_t side;
};

static struct model churn_model[CHURN_KEYS];
static unsigned churn_live;

/* Every model order is in the book with the same fields, and no other. */
static void churn_verify(const struct book *b)
{
	uint64_t k, in_table = 0;
	unsigned bad = 0;

	for (k = 0; k < CHURN_KEYS; k++) {
		const struct model *m = &churn_model[k];
		const struct book_order *p = book_find(b, k);

		if (m->live != (p != NULL) ||
		    (p != NULL && (p->shares != m->shares || p->price != m->price ||
		                   p->locate != m->locate || p->side != m->side)))
			bad++;
	}
	for (k = 0; k < b->capacity; k++) {
		uint64_t j = (k + 1) & b->mask;

		in_table += b->slots[k].shares != 0;
		/* Robin Hood order: a neighbour is at most one slot further from
		 * its home than this entry, or lookups would stop too early. */
		if (b->slots[k].shares != 0 && b->slots[j].shares != 0 &&
		    ((j - (b->slots[j].ref & b->mask)) & b->mask) >
		            ((k - (b->slots[k].ref & b->mask)) & b->mask) + 1)
			bad++;
	}
	CHECK_EQ_INT(bad, 0);
	CHECK_EQ_INT(in_table, churn_live);
	CHECK_EQ_INT(b->stats.live, churn_live);
}

static void churn_op(struct book *b, uint64_t r)
{
	uint64_t k = (r >> 8) % CHURN_KEYS;
	uint64_t k2 = (r >> 24) % CHURN_KEYS;
	uint32_t n = (uint32_t)(r >> 40) % 200; /* 0 now and then */
	struct model *m = &churn_model[k];
	struct book_order o, *p;
	enum book_status st, want;

	switch (r % 5) {
	case 0: /* add (twice as likely as each removal, so the table fills) */
	case 1:
		o = order(k, n, (uint32_t)r, (uint16_t)(r >> 16), (r & 32) ? 'B' : 'S');
		want = n == 0                       ? BOOK_ZERO
		       : m->live                    ? BOOK_EXISTS
		       : churn_live >= CHURN_ORDERS ? BOOK_FULL
		                                    : BOOK_OK;
		st = book_add(b, &o);
		CHECK_EQ_INT(st, want);
		if (st == BOOK_OK) {
			*m = (struct model){true, o.shares, o.price, o.locate, o.side};
			churn_live++;
		}
		break;
	case 2: /* reduce */
		p = book_find(b, k);
		CHECK((p != NULL) == m->live);
		if (p == NULL)
			break;
		CHECK_EQ_INT(book_reduce(b, p, n), n >= m->shares ? 0 : m->shares - n);
		m->shares = n >= m->shares ? 0 : m->shares - n;
		if (m->shares == 0) {
			m->live = false;
			churn_live--;
		}
		break;
	case 3: /* delete */
		CHECK_EQ_INT(book_delete(b, k), m->live ? BOOK_OK : BOOK_MISSING);
		if (m->live) {
			m->live = false;
			churn_live--;
		}
		break;
	default: /* replace k by k2 */
		want = !m->live                            ? BOOK_MISSING
		       : n == 0                            ? BOOK_ZERO
		       : (churn_model[k2].live && k2 != k) ? BOOK_EXISTS
		                                           : BOOK_OK;
		st = book_replace(b, k, k2, n, (uint32_t)r, NULL);
		CHECK_EQ_INT(st, want);
		if (st == BOOK_MISSING)
			break;
		o = order(k2, n, (uint32_t)r, m->locate, m->side);
		m->live = false;
		churn_live--;
		if (st == BOOK_OK) {
			churn_model[k2] = (struct model){true, n, o.price, o.locate, o.side};
			churn_live++;
		}
		break;
	}
}

static void test_churn(void)
{
	struct book b;
	unsigned i;
	int failed_before = check_failed;

	CHECK_EQ_INT(book_init(&b, CHURN_ORDERS), 0);
	/* Stops at the first failure: one bad op is enough to read. */
	for (i = 0; i < CHURN_OPS && check_failed == failed_before; i++) {
		churn_op(&b, rng());
		if (i % CHURN_VERIFY_EVERY == 0)
			churn_verify(&b);
	}
	churn_verify(&b);
	CHECK_EQ_INT(i, CHURN_OPS);
	CHECK(b.stats.full > 0); /* the table really filled up */
	CHECK(b.stats.max_live == CHURN_ORDERS);
	printf("churn: %u ops, max_live %llu, full %llu, probe_max %llu\n", i,
	       (unsigned long long)b.stats.max_live, (unsigned long long)b.stats.full,
	       (unsigned long long)b.stats.probe_max);
	book_free(&b);
}

int main(void)
{
	test_capacity();
	test_basics();
	test_full();
	test_cluster_wrap();
	test_insert_displaced();
	test_churn();
	CHECK_DONE();
}
