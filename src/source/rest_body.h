/* rest_body.h -- the REST client's response body, gathered from libcurl's
 * write callbacks (internal to src/source/: source_rest.c, and the libFuzzer
 * target tests/fuzz/fuzz_rest_body.c).
 *
 * One buffer of cap + 1 bytes, allocated once; each transfer starts with
 * rest_body_reset, appends the pieces curl hands over (any sizes, in order),
 * and ends with rest_body_finish, which NUL-terminates it for the parsers.
 * A body longer than cap is refused whole: the piece that would pass cap is
 * not copied, overflow is set, and every later piece is refused too.
 */
#ifndef TRADES_REST_BODY_H
#define TRADES_REST_BODY_H

#include <stdbool.h>
#include <stddef.h>

struct rest_body {
	char *buf;     /* cap + 1 bytes (room for the NUL) */
	size_t len;    /* bytes gathered, <= cap */
	size_t cap;    /* the largest body taken */
	bool overflow; /* a piece was refused: the body is incomplete */
};

/* Allocates the buffer (cap >= 1).  0, or -1 (errno ENOMEM or EINVAL). */
int rest_body_init(struct rest_body *b, size_t cap);
/* Empties the body for the next transfer. */
void rest_body_reset(struct rest_body *b);
/* Appends size * n bytes of data (curl's write callback arguments).
 * Returns size * n when taken, or 0 when the body would pass cap (or the
 * product overflows): overflow is then set and the body keeps its length. */
size_t rest_body_add(struct rest_body *b, const char *data, size_t size, size_t n);
/* NUL-terminates the body; returns it with *len, or NULL after overflow. */
const char *rest_body_finish(struct rest_body *b, size_t *len);
/* Frees the buffer; safe on a zeroed b. */
void rest_body_free(struct rest_body *b);

#endif
