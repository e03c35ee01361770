/* fuzz_itch.c -- libFuzzer target: the ITCH 5.0 decoder and its order book.
 *
 * The input is the Nasdaq binary file framing (2-byte length before each
 * message), fed to itch_stream_feed in chunks sized by the first byte, so
 * the resync scan, every message type and the book (add, execute, cancel,
 * delete, replace on small tables that fill up) are reached.  Each trade
 * record must carry a positive share count and a symbol id from intern. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "trades/itch.h"
#include "trades/trade.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct ctx {
	unsigned syms;
	uint64_t trades;
};

static int64_t fz_intern(void *c, const char *sym, size_t len)
{
	struct ctx *x = c;

	if (len == 0 || len > 8 || !sym)
		abort(); /* the header promises 1..8 bytes */
	if (x->syms >= 16)
		return -1; /* a full table, as the real one can be */
	return x->syms++;
}

static void fz_trade(void *c, const struct trade *t)
{
	((struct ctx *)c)->trades++;
	if (t->qty <= 0 || t->instrument >= 16)
		abort(); /* trade.h: qty always > 0; ids only from fz_intern */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct itch it;
	static struct itch_stream s;
	struct ctx x = {0};
	const struct itch_handler h = {&x, fz_intern, fz_trade, 0, 0};
	size_t chunk, off = 0;

	if (size == 0)
		return 0;
	chunk = (size_t)data[0] * 4 + 1;
	data++;
	size--;
	if (itch_init(&it, 64, 64, 0, &h) != 0)
		abort();
	itch_stream_init(&s);
	while (off < size) {
		size_t n = size - off < chunk ? size - off : chunk;
		itch_stream_feed(&it, &s, data + off, n, 1, false);
		off += n;
	}
	itch_stream_end(&it, &s);
	(void)itch_skipped_bytes(&it);
	itch_free(&it);
	return 0;
}
