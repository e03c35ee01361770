/* fuzz_kraken_rest.c -- libFuzzer target: the Kraken REST decoders, the
 * Trades page (kraken_rest_parse) and AssetPairs (kraken_pairs_parse), both
 * on every input, from an exactly sized heap copy as libcurl's body buffer
 * is handed over.  A parsed pair table must hold at most KRAKEN_PAIRS_MAX
 * entries with NUL-terminated names. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "trades/kraken.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fz_trade(void *ctx, const struct kraken_trade *kt, enum malformed why,
                     const char *bytes, size_t len)
{
	(void)ctx;
	(void)bytes;
	(void)len;
	if (why == MALFORMED_NONE && kt->t.qty <= 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct kraken_pairs ps; /* large: not on the stack */
	char *copy = malloc(size ? size : 1);
	struct kraken_rest_page pg;
	char err[256];

	if (!copy)
		return 0;
	memcpy(copy, data, size);
	(void)kraken_rest_parse(copy, size, "XBT/USD", &pg, fz_trade, NULL);
	if (kraken_pairs_parse(copy, size, &ps, err, sizeof(err)) == 0) {
		if (ps.n > KRAKEN_PAIRS_MAX)
			abort();
		for (unsigned i = 0; i < ps.n; i++)
			(void)kraken_pairs_find(&ps, ps.p[i].symbol);
	}
	free(copy);
	return 0;
}
