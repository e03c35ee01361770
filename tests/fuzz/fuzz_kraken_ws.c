/* fuzz_kraken_ws.c -- libFuzzer target: the Kraken WebSocket v2/v1 message
 * decoder (kraken_ws_parse) and its pieces: the time parser and symbol
 * normalizer.  Parses from an exactly sized heap copy (no NUL after it), as
 * the WebSocket source hands over a message.  Each good trade must carry a
 * positive quantity and a NUL-terminated symbol of the stated length. */
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
	if (why != MALFORMED_NONE)
		return;
	if (kt->t.qty <= 0 || strlen(kt->symbol) != kt->symbol_len)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy = malloc(size ? size : 1);
	char sym[TRADE_SYMBOL_MAX + 1];
	struct kraken_msg m;
	int64_t ns;
	uint8_t digits;

	if (!copy)
		return 0;
	memcpy(copy, data, size);
	(void)kraken_ws_parse(copy, size, &m, fz_trade, NULL);
	if (size <= 64) {
		(void)kraken_time_parse(copy, size, &ns, &digits);
		(void)kraken_symbol_norm(copy, size, sym);
	}
	free(copy);
	return 0;
}
