/* fuzz_rest_body.c -- libFuzzer target: the REST client's body handling
 * (src/source/rest_body.c) and what parses the body after it: pieces of any
 * size in libcurl's (size, nmemb) form gathered under a limit, then, as
 * backfill does with a 200 body, kraken_pairs_parse and kraken_rest_parse
 * on the NUL-terminated result.
 *
 * Input: byte 0 = the limit: bit 7 the real one (SOURCE_REST_BODY_MAX),
 * else 1 + 32 * (bits 0-6); byte 1 = piece sizes (a seed for the split);
 * then the body.  Checks: a piece is taken whole or refused (return value
 * size * nmemb or 0), overflow exactly when the body passes the limit, the
 * gathered body equals the input byte for byte with a NUL after it, and an
 * overflowing size * nmemb product is refused without reading the data. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "src/source/rest_body.h"
#include "trades/kraken.h"
#include "trades/source_rest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct rest_body body_real; /* 32 MiB, allocated once as source_rest does */

static void fz_trade(void *ctx, const struct kraken_trade *kt, enum malformed why,
                     const char *bytes, size_t len)
{
	(void)ctx, (void)bytes, (void)len;
	if (why == MALFORMED_NONE && kt->t.qty <= 0)
		abort();
}

/* Feeds data in pieces; returns whether any piece was refused. */
static bool fz_feed(struct rest_body *b, const char *p, size_t len, uint32_t rng)
{
	size_t off = 0;
	bool refused = false;

	while (off < len) { /* each pass takes at least one byte */
		size_t n, got;

		rng = rng * 1103515245u + 12345u;
		n = 1 + (rng >> 16) % 700;
		n = n < len - off ? n : len - off;
		/* curl passes size 1; (n, 1) and (0-length) pieces are legal too */
		got = (rng & 1) ? rest_body_add(b, p + off, n, 1) : rest_body_add(b, p + off, 1, n);
		if (got != n && got != 0)
			abort();
		if (got == 0)
			refused = true;
		if (rest_body_add(b, p + off, 1, 0) != 0)
			abort();
		off += n;
	}
	return refused;
}

/* Checks the gathered body against the input, then parses it. */
static void fz_check(struct rest_body *b, const char *p, size_t len, size_t cap, bool refused)
{
	static struct kraken_pairs ps; /* large: not on the stack */
	struct kraken_rest_page pg;
	const char *out;
	size_t olen = 0;
	char err[256];

	if (refused != (len > cap) || b->overflow != refused || b->len > cap)
		abort();
	out = rest_body_finish(b, &olen);
	if (refused) {
		if (out)
			abort();
		return;
	}
	if (!out || olen != len || memcmp(out, p, len) != 0 || out[len] != '\0')
		abort();
	if (kraken_pairs_parse(out, olen, &ps, err, sizeof(err)) == 0 && ps.n > KRAKEN_PAIRS_MAX)
		abort();
	(void)kraken_rest_parse(out, olen, "XBT/USD", &pg, fz_trade, NULL);
	if (rest_body_add(b, NULL, SIZE_MAX / 2, 3) != 0 || !b->overflow) /* product overflows */
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rest_body small, *b = &body_real;
	const char *p = (const char *)data + 2;
	size_t len = size >= 2 ? size - 2 : 0, cap;

	if (size < 2)
		return 0;
	if (!body_real.buf && rest_body_init(&body_real, SOURCE_REST_BODY_MAX) < 0)
		abort();
	cap = (data[0] & 128) ? SOURCE_REST_BODY_MAX : 1 + 32 * (size_t)(data[0] & 127);
	if (!(data[0] & 128)) {
		if (rest_body_init(&small, cap) < 0)
			abort();
		b = &small;
	}
	rest_body_reset(b);
	fz_check(b, p, len, cap, fz_feed(b, p, len, data[1]));
	if (b == &small)
		rest_body_free(&small);
	return 0;
}
