/* gen_itch.h -- the ITCH 5.0 / MoldUDP64 generator's shared pieces.
 *
 *   gen_itch.c       options, the run, the totals file and the summary
 *   gen_itch_day.c   the trading day: an order book model encoding ITCH 5.0
 *                    messages itself (independent of src/decoder)
 *   gen_itch_mold.c  MoldUDP64 packets, fault injection, pcap, UDP lines A
 *                    and B, and the re-request server
 */
#ifndef TRADES_GEN_ITCH_H
#define TRADES_GEN_ITCH_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define GI_PROG            "trades-gen"
#define GI_COUNT_MAX       1000000000ull /* --count: trade-bearing messages */
#define GI_INSTRUMENTS_MAX 10000u        /* stock locate codes 1..K */
#define GI_MSG_MAX         64            /* longest ITCH message we encode (50) */
#define GI_SESSION_LEN     10

/* ---- the day (gen_itch_day.c) ---- */

struct gi_day_config {
	uint64_t count; /* E + C + P + Q messages in the output */
	uint32_t instruments;
	uint64_t seed;
	uint64_t join_late; /* adds (A/F) left out of the output */
	bool mix_nasdaq;    /* a real day's message mix (about 4% trades), else the test mix */
};

/* Each encoded message, in stream order; ts_ns is its ITCH timestamp
 * (ns since midnight).  Returns 0, or -1 to stop (error already printed). */
typedef int (*gi_emit_fn)(void *ctx, const uint8_t *msg, unsigned len, uint64_t ts_ns);

struct gi_day;

/* NULL after printing why (allocation). */
struct gi_day *gi_day_new(const struct gi_day_config *cfg);
/* Generates the whole day; 0 or the emit function's -1. */
int gi_day_run(struct gi_day *d, gi_emit_fn emit, void *ctx);
/* The expected totals as one JSON object and '\n'.  0 or -1 (errno). */
int gi_day_write_totals(const struct gi_day *d, FILE *f);
/* A one-line breakdown of the messages emitted, for the summary. */
void gi_day_summary(const struct gi_day *d, FILE *f);
void gi_day_free(struct gi_day *d);

/* ---- MoldUDP64 transport (gen_itch_mold.c) ---- */

struct gi_mold_config {
	uint8_t session[GI_SESSION_LEN];
	unsigned mtu;                          /* IPv4 MTU: MoldUDP64 payload <= mtu - 28 */
	const char *pcap;                      /* file or NULL */
	const char *udp_a, *udp_b, *rerequest; /* HOST:PORT or NULL */
	uint64_t rate;                         /* messages/s, 0 = as fast as possible */
	uint64_t drop_every, drop_b_every, dup_every, reorder_every;
	uint64_t loss_ppm;  /* line A (and the pcap): random loss, per million packets */
	uint64_t loss_seed; /* its generator's seed (--seed) */
	uint32_t linger_ms;
	uint64_t store_bytes; /* re-request store cap */
};

struct gi_mold;

struct gi_mold *gi_mold_open(const struct gi_mold_config *cfg);
/* gi_emit_fn for gi_day_run: ctx is the struct gi_mold. */
int gi_mold_emit(void *ctx, const uint8_t *msg, unsigned len, uint64_t ts_ns);
/* Flushes the last packet, sends end of session, serves re-requests for
 * linger_ms.  0 or -1. */
int gi_mold_finish(struct gi_mold *g);
void gi_mold_summary(const struct gi_mold *g, FILE *f);
/* Closes everything; 0 or -1 if the pcap file failed to close. */
int gi_mold_close(struct gi_mold *g);

#endif
