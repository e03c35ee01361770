/* rest_body.c -- the REST response body (rest_body.h). */
#include "rest_body.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "trades/log.h"

int rest_body_init(struct rest_body *b, size_t cap)
{
	*b = (struct rest_body){.cap = cap};
	if (cap == 0 || cap == SIZE_MAX) {
		errno = EINVAL;
		return -1;
	}
	b->buf = malloc(cap + 1);
	if (!b->buf) {
		errno = ENOMEM;
		return -1;
	}
	b->buf[0] = '\0';
	return 0;
}

void rest_body_reset(struct rest_body *b)
{
	b->len = 0;
	b->overflow = false;
	b->buf[0] = '\0';
}

size_t rest_body_add(struct rest_body *b, const char *data, size_t size, size_t n)
{
	size_t len;

	ENSURE(b->len <= b->cap);
	if (b->overflow || (n && size > SIZE_MAX / n)) {
		b->overflow = true;
		return 0;
	}
	len = size * n;
	if (len > b->cap - b->len) {
		b->overflow = true;
		return 0; /* curl fails the transfer: CURLE_WRITE_ERROR */
	}
	if (len)
		memcpy(b->buf + b->len, data, len);
	b->len += len;
	return len;
}

const char *rest_body_finish(struct rest_body *b, size_t *len)
{
	if (b->overflow)
		return NULL;
	b->buf[b->len] = '\0';
	*len = b->len;
	return b->buf;
}

void rest_body_free(struct rest_body *b)
{
	free(b->buf);
	b->buf = NULL;
	b->len = 0;
}
