/* gen.h -- trades-gen: what the CLI (gen.c) and the trade models share.
 *
 * gen.c parses options, owns the transports (file, TCP, UDP), paces and
 * prints the summary; gen_jsonl.c is the deterministic JSON-lines model that
 * turns (arguments, seed) into lines and keeps the totals the service must
 * end up with; gen_itch.c is the ITCH/MoldUDP64 generator, a separate CLI.
 */
#ifndef TRADES_GEN_H
#define TRADES_GEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define GEN_LINE_LIMIT      300            /* every line, '\n' included, is shorter */
#define GEN_LINE_MAX        320            /* line buffer: the limit plus slack */
#define GEN_STEP_LINES_MAX  3              /* per trade: itself, a duplicate, a malformed line */
#define GEN_COUNT_MAX       10000000000ull /* --count upper bound (1e10) */
#define GEN_INSTRUMENTS_MAX (1u << 20)
#define GEN_STREAMS_MAX     256u /* --connections upper bound */

_Static_assert(GEN_LINE_LIMIT < GEN_LINE_MAX, "line buffer holds the longest line");

struct gen_model_config {
	uint64_t count;       /* trades to generate, 1..GEN_COUNT_MAX */
	uint32_t instruments; /* 1..GEN_INSTRUMENTS_MAX */
	uint64_t seed;
	uint32_t streams;         /* instrument i goes to stream i % streams */
	bool seq;                 /* "seq" 1..n per stream on trade lines */
	uint64_t dup_every;       /* 0 = never */
	uint64_t malformed_every; /* 0 = never */
};

enum gen_line_kind {
	GEN_LINE_TRADE,     /* a new trade: counts towards --count and --rate */
	GEN_LINE_DUP,       /* byte-identical copy of an earlier trade line */
	GEN_LINE_MALFORMED, /* one defect the service must refuse */
};

struct gen_line {
	uint32_t stream; /* connection index for TCP; 0 otherwise */
	uint8_t kind;    /* enum gen_line_kind */
	uint16_t len;    /* bytes in text, final '\n' included */
	char text[GEN_LINE_MAX];
};

struct gen_counts {
	uint64_t trades, lines, duplicates, malformed;
};

struct gen_model;

/* Allocates the instrument table (and the duplicate store when dup_every is
 * set).  NULL with err filled on allocation failure. */
struct gen_model *gen_model_new(const struct gen_model_config *cfg, char *err, size_t errlen);
void gen_model_free(struct gen_model *m);

/* Generates the next trade and what follows it.  Fills out[0..n) and returns
 * n (1..GEN_STEP_LINES_MAX); out[0] is always the trade.  Call at most
 * cfg->count times. */
unsigned gen_model_step(struct gen_model *m, struct gen_line out[GEN_STEP_LINES_MAX]);

void gen_model_counts(const struct gen_model *m, struct gen_counts *c);

/* Writes the expected totals as one JSON object (see gen.c --help).
 * 0, or -1 with errno from the stream. */
int gen_model_write_totals(const struct gen_model *m, FILE *f);

/* `trades-gen --format itch|moldudp64 ...`: gets the whole command line. */
int gen_itch_main(int argc, char **argv);
/* Digits only (no sign, blanks or suffix), min..max.  0, or -1 after
 * printing which option (--OPT) and value were wrong. */
int gen_parse_u64(const char *opt, const char *s, uint64_t min, uint64_t max, uint64_t *out);

#endif
