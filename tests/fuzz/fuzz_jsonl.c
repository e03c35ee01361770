/* fuzz_jsonl.c -- libFuzzer target: JSON-lines framing and the trade parser.
 *
 * The input is a byte stream: it is fed to jsonl_stream_feed in chunks whose
 * sizes come from the first byte (so line splits across reads are covered),
 * and every line the framer delivers goes through jsonl_parse; a line the
 * fast path takes must give the general scanner's record byte for byte. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "trades/jsonl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void on_line(void *ctx, const char *line, size_t len, int too_long)
{
	struct jsonl_trade t;
	char *copy;

	(void)too_long;
	*(unsigned *)ctx += 1;
	/* an exactly sized heap copy: ASan sees any read past the line */
	copy = malloc(len ? len : 1);
	if (!copy)
		return;
	memcpy(copy, line, len);
	/* the fast path must match the general scanner byte for byte, or not take the line */
	if (jsonl_parse_fast(copy, len, &t)) {
		struct jsonl_trade g;

		if (jsonl_parse_general(copy, len, &g) != MALFORMED_NONE ||
		    memcmp(&g, &t, sizeof(g)) != 0)
			abort();
	}
	(void)jsonl_parse(copy, len, &t);
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct jsonl_stream s;
	unsigned lines = 0;
	size_t chunk, off = 0;

	if (size == 0)
		return 0;
	chunk = (size_t)data[0] % 64 + 1;
	data++;
	size--;
	memset(&s, 0, sizeof(s));
	while (off < size) {
		size_t n = size - off < chunk ? size - off : chunk;
		jsonl_stream_feed(&s, (const char *)data + off, n, on_line, &lines);
		off += n;
	}
	jsonl_stream_end(&s, on_line, &lines);
	return 0;
}
