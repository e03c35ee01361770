/* fuzz_decimal.c -- libFuzzer target: the fixed-point decimal parser.
 *
 * Any accepted text must format back and re-parse to the same value (the
 * round trip is checked, a mismatch aborts). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "trades/decimal.h"
#include "trades/trade.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy = malloc(size ? size : 1);
	char buf[DEC_FMT_MAX];
	int64_t v, v2;
	uint8_t dp, dp2;
	size_t n;

	if (!copy)
		return 0;
	memcpy(copy, data, size);
	if (dec_parse(copy, size, &v, &dp) == DEC_OK) {
		n = dec_format(v, TRADE_SCALE_DIGITS,
		               dp > TRADE_SCALE_DIGITS ? TRADE_SCALE_DIGITS : dp, buf);
		if (n >= sizeof(buf) || dec_parse(buf, n, &v2, &dp2) != DEC_OK || v2 != v)
			abort();
	}
	(void)dec_err_name(dec_parse(copy, size, &v, &dp));
	free(copy);
	return 0;
}
