/* fuzz_jsonl.c -- libFuzzer target: JSON-lines framing and the trade parser.
 *
 * The input is a byte stream: it is fed to jsonl_stream_feed in chunks whose
 * sizes come from the first byte (so line splits across reads are covered),
 * and every line the framer delivers goes through jsonl_parse; a line the
 * fast path takes must give the general scanner's record byte for byte, and
 * on the framer's quote marks the fast path must do what it does without. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "trades/jsonl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void on_line(void *ctx, const char *line, size_t len, int too_long,
                    const struct jsonl_marks *marks)
{
	struct jsonl_trade t, m;
	char *copy;
	bool took;

	(void)too_long;
	*(unsigned *)ctx += 1;
	/* an exactly sized heap copy: ASan sees any read past the line */
	copy = malloc(len ? len : 1);
	if (!copy)
		return;
	memcpy(copy, line, len);
	/* the fast path must match the general scanner byte for byte, or not take the line */
	took = jsonl_parse_fast(copy, len, NULL, &t);
	if (took) {
		struct jsonl_trade g;

		if (jsonl_parse_general(copy, len, &g) != MALFORMED_NONE ||
		    memcmp(&g, &t, sizeof(g)) != 0)
			abort();
	}
	/* on the framer's marks (in place, in the read) it must do the same */
	if (marks) {
		if (jsonl_parse_fast(line, len, marks, &m) != took)
			abort();
		if (took && (memcmp(&m.t, &t.t, sizeof(t.t)) != 0 || m.pair_len != t.pair_len ||
		             memcmp(m.pair, t.pair, t.pair_len) != 0))
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
	/* reads of 1-64 bytes (lines split across them), or of 64 to 8 KiB (whole
	 * lines framed in place, with marks) */
	chunk = data[0] < 128 ? (size_t)data[0] % 64 + 1 : ((size_t)data[0] - 127) * 64;
	data++;
	size--;
	memset(&s, 0, sizeof(s));
	while (off < size) {
		size_t n = size - off < chunk ? size - off : chunk;
		/* each read in an exactly sized heap copy: ASan sees a read past it */
		char *piece = malloc(n);

		if (!piece)
			return 0;
		memcpy(piece, data + off, n);
		jsonl_stream_feed(&s, piece, n, on_line, &lines);
		free(piece);
		off += n;
	}
	jsonl_stream_end(&s, on_line, &lines);
	return 0;
}
