/* fuzz_ws_frame.c -- libFuzzer target: the WebSocket source's byte handling
 * (src/source/ws_frame.c) as the server's side of one session: the upgrade
 * response head gathered read by read into its bounded buffer and checked
 * (status 101, Sec-WebSocket-Accept for a fixed key), then the bytes after
 * it and the rest of the input as frames through the libwslay client
 * context, with reads of varying sizes, "would block" turns, partial writes
 * of the pongs/close replies and one queued text message.
 *
 * Input: byte 0 = mode: bits 0-5 the read size (1 + bits), bit 6 reads
 * alternate with "would block", bit 7 no head (frames from byte 1).  Then
 * the stream.  Checks: a complete head ends with its blank line inside what
 * was read, every message is at most SOURCE_WS_MSG_MAX and every byte of it
 * readable (ASan), opcodes are the ones libwslay hands over, writes stay in
 * bounds, and the session ends within a bounded number of turns. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "src/source/ws_frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_KEY "dGhlIHNhbXBsZSBub25jZQ==" /* RFC 6455 1.3's example key */

struct fz {
	const uint8_t *p;
	size_t len, off;
	size_t chunk;
	bool block, blocked;
	uint64_t sum;
};

static ssize_t fz_read(void *ctx, uint8_t *buf, size_t len)
{
	struct fz *z = ctx;
	size_t n = z->len - z->off;

	if (n == 0)
		return -1; /* EOF */
	if (z->block && !z->blocked) {
		z->blocked = true;
		return 0;
	}
	z->blocked = false;
	n = n < z->chunk ? n : z->chunk;
	n = n < len ? n : len;
	memcpy(buf, z->p + z->off, n);
	z->off += n;
	return (ssize_t)n;
}

static ssize_t fz_write(void *ctx, const uint8_t *buf, size_t len)
{
	struct fz *z = ctx;
	size_t n = len < z->chunk ? len : z->chunk; /* partial writes */

	if (len == 0)
		abort();
	z->sum += buf[0] + buf[n - 1];
	return (ssize_t)n;
}

static void fz_message(void *ctx, uint8_t opcode, const uint8_t *msg, size_t len, uint16_t status)
{
	struct fz *z = ctx;

	(void)status;
	if (len > SOURCE_WS_MSG_MAX)
		abort();
	if (opcode != WSLAY_TEXT_FRAME && opcode != WSLAY_BINARY_FRAME &&
	    opcode != WSLAY_CONNECTION_CLOSE && opcode != WSLAY_PING && opcode != WSLAY_PONG)
		abort();
	for (size_t i = 0; i < len; i++)
		z->sum += msg[i];
}

/* The head, read by read.  1 accepted (pre/pre_len set), 0 not. */
static int fz_head(struct fz *z, struct ws_head *h)
{
	char why[128];

	ws_head_init(h);
	for (;;) { /* each pass consumes at least one byte, or ends */
		size_t room = 0, n = z->len - z->off;
		uint8_t *at = ws_head_space(h, &room);
		int rc;

		if (!at || n == 0)
			return 0;
		n = n < z->chunk ? n : z->chunk;
		n = n < room ? n : room;
		memcpy(at, z->p + z->off, n);
		z->off += n;
		rc = ws_head_add(h, n);
		if (rc < 0)
			return 0;
		if (rc > 0)
			break;
	}
	if (h->head_len < 4 || h->head_len > h->have ||
	    memcmp(h->text + h->head_len - 4, "\r\n\r\n", 4))
		abort();
	return ws_upgrade_check(h, FZ_KEY, why, sizeof(why)) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ws_head h; /* 16 KiB: off the stack */
	const struct ws_frame_ops ops = {
	        .read = fz_read, .write = fz_write, .message = fz_message, .ctx = NULL};
	struct fz z = {.p = data + 1, .len = size ? size - 1 : 0};
	struct ws_frame f;
	struct ws_frame_ops o = ops;
	size_t turns;

	if (size == 0)
		return 0;
	z.chunk = 1 + (data[0] & 63);
	z.block = data[0] & 64;
	o.ctx = &z;
	ws_head_init(&h);
	if (!(data[0] & 128) && !fz_head(&z, &h))
		return 0;
	if (ws_frame_open(&f, &o, h.buf + h.head_len, h.have - h.head_len) < 0)
		return 0;
	(void)ws_frame_queue_text(&f, "{\"method\":\"ping\"}", 17);
	for (turns = 0; turns < 2 * size + 8;
	     turns++) { /* each turn reads >= 1 byte or blocks once */
		if (ws_frame_recv(&f) < 0)
			break;
		if (ws_frame_want_write(&f) && ws_frame_send(&f) < 0)
			break;
		if (!ws_frame_want_read(&f) && !ws_frame_want_write(&f))
			break;
	}
	if (turns == 2 * size + 8)
		abort(); /* the session did not end on a finite stream */
	ws_frame_close(&f);
	return 0;
}
