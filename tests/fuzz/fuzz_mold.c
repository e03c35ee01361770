/* fuzz_mold.c -- libFuzzer target: MoldUDP64 framing and the sequencer.
 *
 * The input is a list of datagrams, each as [line:1][clock step:1][len:2 BE]
 * [bytes], handed to mold_packet on line 0, 1 or 2 (re-request answers;
 * the first byte also picks the lines and how many holes are re-requested
 * ahead, 0..MOLD_AHEAD_MAX) with a monotonic clock that
 * advances by the step (ms), and mold_tick run at every step, so holes, the
 * two-line wait, re-requests and give-ups all happen.  Delivered messages go
 * through the ITCH decoder as the live feed does.  Checked: messages arrive
 * in strictly increasing sequence order, each once; once settled, every
 * missing message is recovered or given up, and no ahead hole is left. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "trades/itch.h"
#include "trades/mold.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct ctx {
	struct itch *it;
	uint64_t last_seq;
	bool any;
};

static void fz_message(void *c, const uint8_t *msg, size_t len, uint64_t seq, int64_t rx_ns,
                       bool rx_kernel)
{
	struct ctx *x = c;

	if (x->any && seq <= x->last_seq)
		abort(); /* mold.h: in seq order, exactly once */
	x->any = true;
	x->last_seq = seq;
	itch_decode_msg(x->it, msg, len, seq, rx_ns, rx_kernel);
}

static int fz_request(void *c, const uint8_t *pkt, size_t len)
{
	(void)c;
	if (len != MOLD_REQUEST_LEN || !pkt)
		abort();
	return 0;
}

static void fz_log(void *c, const char *msg)
{
	(void)c;
	(void)msg;
}

static int64_t fz_intern(void *c, const char *sym, size_t len)
{
	(void)c;
	(void)sym;
	return (int64_t)(len % 4);
}

static void fz_trade(void *c, const struct trade *t)
{
	(void)c;
	(void)t;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct mold_session m; /* about 0.8 MiB: never on the stack */
	static struct itch it;
	static const struct itch_handler ih = {NULL, fz_intern, fz_trade, 0, 0};
	struct ctx x = {&it, 0, false};
	const struct mold_handler h = {&x, fz_message, NULL, fz_request, fz_log};
	struct mold_config cfg;
	int64_t now = 1000000000;
	size_t off = 0;

	mold_config_default(&cfg);
	if (size > 0 && (data[0] & 1))
		cfg.lines = 2;
	if (size > 0)
		cfg.ahead_max = (unsigned)(data[0] >> 1) % (MOLD_AHEAD_MAX + 1);
	if (itch_init(&it, 64, 64, 0, &ih) != 0)
		abort();
	mold_init(&m, &cfg, &h);
	while (size - off >= 4) {
		unsigned line = data[off] % MOLD_LINES;
		size_t len = (size_t)data[off + 2] << 8 | data[off + 3];

		now += (int64_t)data[off + 1] * 1000000;
		off += 4;
		if (len > size - off)
			len = size - off;
		(void)mold_packet(&m, line, data + off, len, now, false, now);
		off += len;
		mold_tick(&m, now);
	}
	/* let every deadline pass: the session must settle in bounded ticks */
	for (int i = 0; i < 64 && mold_deadline(&m) != INT64_MAX; i++) {
		now = mold_deadline(&m) > now ? mold_deadline(&m) : now + 1;
		mold_tick(&m, now);
	}
	if (mold_deadline(&m) == INT64_MAX &&
	    (m.nahead != 0 ||
	     m.stats.gap_messages != m.stats.recovered_messages + m.stats.unrecoverable_messages))
		abort(); /* settled: the counts are whole */
	itch_free(&it);
	return 0;
}
