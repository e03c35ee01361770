/* stat.c -- `trades stat`: the state file read-only, safe while serve runs.
 * Every instrument is copied under its seqlock, so each line is a consistent
 * snapshot of that instrument even mid-stream. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "trades/candles.h"
#include "trades/decimal.h"
#include "trades/log.h"
#include "trades/sink_kafka.h"
#include "trades/state.h"
#include "trades/timefmt.h"

struct stat_row {
	struct state_instrument in;
	char volume[DEC_FMT_MAX], notional[DEC_FMT_MAX], vwap[DEC_FMT_MAX];
	char first[DEC_FMT_MAX], last[DEC_FMT_MAX], high[DEC_FMT_MAX], low[DEC_FMT_MAX];
};

static void stat_usage(FILE *f)
{
	fprintf(f, "usage: trades stat [--state-dir DIR] [--json]\n\n"
	           "Per-instrument totals (trades, volume, notional, VWAP, first/last/high/low)\n"
	           "and per-feed counters, read from the state file without locking it.\n"
	           "Decimals are exact strings.  env TRADES_STATE_DIR (./state)\n\n"
	           "exit codes: 0 ok, 1 read error, 2 usage, 3 no state or state refused\n");
}

/* Decimal strings by the rules in README "State file". */
static void stat_format(struct stat_row *r)
{
	const struct state_instrument *in = &r->in;
	unsigned pdp = in->price_dp, qdp = in->qty_dp;

	dec128_format(in->volume, TRADE_SCALE_DIGITS, qdp, r->volume);
	dec128_format(in->notional, 2 * TRADE_SCALE_DIGITS, pdp + qdp, r->notional);
	if (in->volume > 0)
		dec128_format(dec128_div_round(in->notional, in->volume), TRADE_SCALE_DIGITS, pdp,
		              r->vwap);
	else
		strcpy(r->vwap, "0");
	dec_format(in->first, TRADE_SCALE_DIGITS, pdp, r->first);
	dec_format(in->last, TRADE_SCALE_DIGITS, pdp, r->last);
	dec_format(in->high, TRADE_SCALE_DIGITS, pdp, r->high);
	dec_format(in->low, TRADE_SCALE_DIGITS, pdp, r->low);
}

/* Length of the valid UTF-8 sequence at s (1..4; never past a NUL), or 0
 * when the bytes there are not one (stray continuation, overlong form,
 * surrogate, above U+10FFFF, cut short). */
static size_t stat_utf8_len(const unsigned char *s)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;
	size_t n, i;

	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4;
	else
		return 0;
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

/* Prints s (NUL-terminated, at most max bytes read) as a JSON string with
 * its quotes.  Names and symbols come from the input, so anything may be in
 * them: '"' and '\\' are escaped, control bytes and DEL become \u00XX, valid
 * UTF-8 is copied, and a byte that is not part of valid UTF-8 is printed as
 * \u00XX (the code point of the same value), so the output is always valid
 * JSON and the bytes can be told apart. */
static void stat_json_str(FILE *f, const char *s, size_t max)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, n;

	fputc('"', f);
	while (i < max && p[i] != '\0') { /* bounded by max */
		unsigned char c = p[i];

		if (c == '"' || c == '\\') {
			fprintf(f, "\\%c", c);
			i++;
		} else if (c < 0x20 || c == 0x7f) {
			fprintf(f, "\\u%04x", c);
			i++;
		} else if (c < 0x80) {
			fputc(c, f);
			i++;
		} else if ((n = stat_utf8_len(p + i)) > 0 && i + n <= max) {
			fwrite(p + i, 1, n, f);
			i += n;
		} else {
			fprintf(f, "\\u%04x", c);
			i++;
		}
	}
	fputc('"', f);
}

static int stat_cmp(const void *a, const void *b)
{
	return strcmp(((const struct stat_row *)a)->in.symbol,
	              ((const struct stat_row *)b)->in.symbol);
}

static void stat_json_feeds(FILE *f, const struct state *s)
{
	const char *sep = "";
	unsigned fi, m;

	fprintf(f, "\"feeds\":[");
	for (fi = 0; fi < TRADE_FEED_MAX; fi++) {
		const struct state_feed *fd = &s->feeds[fi];

		if (!fd->name[0])
			continue;
		fprintf(f, "%s{\"feed\":", sep);
		stat_json_str(f, fd->name, sizeof(fd->name));
		fprintf(f,
		        ",\"received\":%llu,\"accepted\":%llu,\"duplicates\":%llu,"
		        "\"malformed\":%llu,\"store_failed\":%llu,\"gaps\":%llu,"
		        "\"gap_missing\":%llu,\"out_of_order\":%llu,"
		        "\"no_trade_id\":%llu,\"dedup_overflow\":%llu,\"id_jumps\":%llu,"
		        "\"malformed_by\":{",
		        (unsigned long long)fd->received, (unsigned long long)fd->accepted,
		        (unsigned long long)fd->duplicates, (unsigned long long)fd->malformed,
		        (unsigned long long)fd->store_failed, (unsigned long long)fd->gaps,
		        (unsigned long long)fd->gap_missing, (unsigned long long)fd->out_of_order,
		        (unsigned long long)fd->no_trade_id, (unsigned long long)fd->dedup_overflow,
		        (unsigned long long)fd->id_jumps);
		const char *msep = "";
		for (m = 1; m < MALFORMED_COUNT; m++) {
			if (!fd->malformed_by[m])
				continue;
			fprintf(f, "%s\"%s\":%llu", msep, malformed_name((enum malformed)m),
			        (unsigned long long)fd->malformed_by[m]);
			msep = ",";
		}
		fprintf(f, "},\"decoder\":{");
		msep = "";
		for (m = 0; m < STATE_EXT_COUNT; m++) {
			if (!fd->ext[m])
				continue;
			fprintf(f, "%s\"%s\":%llu", msep, state_ext_name((enum state_ext)m),
			        (unsigned long long)fd->ext[m]);
			msep = ",";
		}
		fprintf(f,
		        "},\"source\":{\"bytes\":%llu,\"packets\":%llu,\"kernel_drops\":%llu,"
		        "\"acks_sent\":%llu,\"acks_dropped\":%llu}}",
		        (unsigned long long)fd->src.bytes, (unsigned long long)fd->src.packets,
		        (unsigned long long)fd->src.kernel_drops,
		        (unsigned long long)fd->src.acks_sent,
		        (unsigned long long)fd->src.acks_dropped);
		sep = ",";
	}
	fprintf(f, "]");
}

/* Journal, sinks, late candles and latency summaries (state version 6). */
static void stat_json_ops(FILE *f, const struct state *s)
{
	const struct state_ops *o = &s->hdr->ops;
	const char *sep = "";
	char name[16];

	fprintf(f,
	        ",\"journal\":{\"entries\":%llu,\"bytes\":%llu,\"segments\":%llu,"
	        "\"spare\":{\"hits\":%llu,\"misses\":%llu,\"failures\":%llu},"
	        "\"last_sync_age_ms\":%lld},\"sinks\":[",
	        (unsigned long long)o->journal_entries, (unsigned long long)o->journal_bytes,
	        (unsigned long long)o->journal_segments, (unsigned long long)o->journal_spare_hits,
	        (unsigned long long)o->journal_spare_misses,
	        (unsigned long long)o->journal_spare_failures,
	        (long long)(o->journal_last_sync_ns
	                            ? (timefmt_mono_ns() - o->journal_last_sync_ns) / 1000000
	                            : -1));
	for (unsigned i = 0; i < STATE_SINKS_MAX; i++) {
		const struct state_sink_ops *k = &o->sink[i];

		if (!k->name[0])
			continue;
		fprintf(f, "%s{\"name\":", sep);
		stat_json_str(f, k->name, sizeof(k->name));
		fprintf(f, ",\"sent\":%llu,\"acked\":%llu,\"errors\":%llu,\"lag\":%llu}",
		        (unsigned long long)k->sent, (unsigned long long)k->acked,
		        (unsigned long long)k->errors, (unsigned long long)k->lag);
		sep = ",";
	}
	fprintf(f, "],\"candles\":{\"pool_full\":%llu,\"late\":{",
	        (unsigned long long)state_candles_pool_full(s));
	for (uint32_t k = 0; k < state_candles_intervals(s); k++)
		fprintf(f, "%s\"%s\":%llu", k ? "," : "",
		        candle_interval_name(state_candles_interval_ns(s, k), name, sizeof(name)),
		        (unsigned long long)state_candles_late(s, k));
	fprintf(f, "}},\"latency\":{");
	for (unsigned st = 0; st < STATE_STAGE_COUNT; st++)
		fprintf(f, "%s\"%s\":{\"count\":%llu,\"sum_ns\":%llu}", st ? "," : "",
		        st == STATE_STAGE_RX_DECODED ? "rx_to_decoded" : "decoded_to_committed",
		        (unsigned long long)o->hist[st].count,
		        (unsigned long long)o->hist[st].sum_ns);
	fprintf(f, "}");
}

static void stat_json(FILE *f, const struct state *s, struct stat_row *rows, uint32_t n,
                      const char *dir)
{
	uint32_t i;

	fprintf(f, "{\"applied_jseq\":%llu,\"clean\":%s,\"writer_pid\":%d,\"instruments\":[",
	        (unsigned long long)atomic_load(&s->hdr->applied_jseq),
	        atomic_load(&s->hdr->clean) ? "true" : "false", cli_writer_pid(s));
	for (i = 0; i < n; i++) {
		const struct stat_row *r = &rows[i];

		fprintf(f, "%s{\"pair\":", i ? "," : "");
		stat_json_str(f, r->in.symbol, sizeof(r->in.symbol));
		fprintf(f,
		        ",\"trades\":%llu,\"volume\":\"%s\",\"notional\":\"%s\","
		        "\"vwap\":\"%s\",\"first\":\"%s\",\"last\":\"%s\",\"high\":\"%s\",\"low\":"
		        "\"%s\","
		        "\"corrections\":%llu,\"last_trade_id\":%llu,\"last_ts_ns\":%lld}",
		        (unsigned long long)r->in.trades, r->volume, r->notional, r->vwap, r->first,
		        r->last, r->high, r->low, (unsigned long long)r->in.corrections,
		        (unsigned long long)r->in.last_trade_id, (long long)r->in.last_ts_exch_ns);
	}
	fprintf(f, "],");
	stat_json_feeds(f, s);
	stat_json_ops(f, s);
	sink_kafka_stat_print(dir, atomic_load(&s->hdr->applied_jseq), true, f); /* Kafka sink */
	fprintf(f, "}\n");
}

/* DPDK port statistics (serve --dpdk), on the feeds that have them. */
static void stat_table_port(const struct state_feed *fd)
{
	unsigned m;

	for (m = STATE_EXT_PORT_IPACKETS; m <= STATE_EXT_PORT_UNMATCHED && !fd->ext[m]; m++)
		;
	if (!fd->name[0] || m > STATE_EXT_PORT_UNMATCHED)
		return;
	printf("%-28s", fd->name);
	for (m = STATE_EXT_PORT_IPACKETS; m <= STATE_EXT_PORT_UNMATCHED; m++)
		printf(" %s=%llu", state_ext_name((enum state_ext)m),
		       (unsigned long long)fd->ext[m]);
	printf("\n");
}

/* Hostile input seen on a feed (issue 10): outlier trade ids, MoldUDP64
 * packets of another session; only on the feeds that had any. */
static void stat_table_hostile(const struct state_feed *fd)
{
	if (!fd->name[0] || (!fd->id_jumps && !fd->ext[STATE_EXT_WRONG_SESSION]))
		return;
	printf("%-28s id_jumps=%llu wrong_session=%llu\n", fd->name,
	       (unsigned long long)fd->id_jumps,
	       (unsigned long long)fd->ext[STATE_EXT_WRONG_SESSION]);
}

/* TCP connections refused (--max-conns) and closed idle (--idle-timeout),
 * on the feeds that had any. */
static void stat_table_conns(const struct state_feed *fd)
{
	if (!fd->name[0] ||
	    (!fd->ext[STATE_EXT_CONNS_REFUSED] && !fd->ext[STATE_EXT_CONNS_IDLE_CLOSED]))
		return;
	printf("%-28s conns_refused=%llu conns_idle_closed=%llu\n", fd->name,
	       (unsigned long long)fd->ext[STATE_EXT_CONNS_REFUSED],
	       (unsigned long long)fd->ext[STATE_EXT_CONNS_IDLE_CLOSED]);
}

/* What the source delivered to a feed, on the feeds it delivered to. */
static void stat_table_source(const struct state_feed *fd)
{
	if (!fd->name[0] || (!fd->src.bytes && !fd->src.acks_sent && !fd->src.acks_dropped))
		return;
	printf("%-28s source bytes=%llu packets=%llu kernel_drops=%llu acks_sent=%llu "
	       "acks_dropped=%llu\n",
	       fd->name, (unsigned long long)fd->src.bytes, (unsigned long long)fd->src.packets,
	       (unsigned long long)fd->src.kernel_drops, (unsigned long long)fd->src.acks_sent,
	       (unsigned long long)fd->src.acks_dropped);
}

static void stat_table_ops(const struct state *s)
{
	const struct state_ops *o = &s->hdr->ops;
	char name[16];

	printf("\njournal: %llu entries, %llu bytes, %llu segments; spare segment: %llu hits, "
	       "%llu misses, %llu failures\n",
	       (unsigned long long)o->journal_entries, (unsigned long long)o->journal_bytes,
	       (unsigned long long)o->journal_segments, (unsigned long long)o->journal_spare_hits,
	       (unsigned long long)o->journal_spare_misses,
	       (unsigned long long)o->journal_spare_failures);
	for (unsigned i = 0; i < STATE_SINKS_MAX; i++)
		if (o->sink[i].name[0])
			printf("sink %s: sent=%llu acked=%llu errors=%llu lag=%llu\n",
			       o->sink[i].name, (unsigned long long)o->sink[i].sent,
			       (unsigned long long)o->sink[i].acked,
			       (unsigned long long)o->sink[i].errors,
			       (unsigned long long)o->sink[i].lag);
	if (state_candles_intervals(s) == 0)
		return;
	printf("candles: late");
	for (uint32_t k = 0; k < state_candles_intervals(s); k++)
		printf(" %s=%llu",
		       candle_interval_name(state_candles_interval_ns(s, k), name, sizeof(name)),
		       (unsigned long long)state_candles_late(s, k));
	printf(", pool_full=%llu\n", (unsigned long long)state_candles_pool_full(s));
}

static void stat_table(const struct state *s, struct stat_row *rows, uint32_t n)
{
	uint32_t i, f;

	printf("%-16s %10s %22s %18s %18s %18s %18s\n", "PAIR", "TRADES", "VOLUME", "VWAP", "LAST",
	       "HIGH", "LOW");
	for (i = 0; i < n; i++)
		printf("%-16s %10llu %22s %18s %18s %18s %18s\n", rows[i].in.symbol,
		       (unsigned long long)rows[i].in.trades, rows[i].volume, rows[i].vwap,
		       rows[i].last, rows[i].high, rows[i].low);
	printf("\n%-28s %12s %12s %10s %10s %12s %8s %10s\n", "FEED", "RECEIVED", "ACCEPTED",
	       "DUPS", "MALFORMED", "STORE_FAILED", "GAPS", "MISSING");
	for (f = 0; f < TRADE_FEED_MAX; f++) {
		const struct state_feed *fd = &s->feeds[f];

		if (fd->name[0])
			printf("%-28s %12llu %12llu %10llu %10llu %12llu %8llu %10llu\n", fd->name,
			       (unsigned long long)fd->received, (unsigned long long)fd->accepted,
			       (unsigned long long)fd->duplicates,
			       (unsigned long long)fd->malformed,
			       (unsigned long long)fd->store_failed, (unsigned long long)fd->gaps,
			       (unsigned long long)fd->gap_missing);
	}
	for (f = 0; f < TRADE_FEED_MAX; f++)
		stat_table_port(&s->feeds[f]);
	for (f = 0; f < TRADE_FEED_MAX; f++)
		stat_table_hostile(&s->feeds[f]);
	for (f = 0; f < TRADE_FEED_MAX; f++)
		stat_table_conns(&s->feeds[f]);
	for (f = 0; f < TRADE_FEED_MAX; f++)
		stat_table_source(&s->feeds[f]);
	stat_table_ops(s);
	printf("\njournal entries applied: %llu, clean: %s, writer pid: %d\n",
	       (unsigned long long)atomic_load(&s->hdr->applied_jseq),
	       atomic_load(&s->hdr->clean) ? "yes" : "no", state_writer_pid(s));
}

/* Reads every instrument of the open state s (of directory dir) and writes
 * the table or the JSON to f; who prefixes errors on stderr (NULL: none).
 * A CLI exit code. */
static int stat_write(const struct state *s, const char *dir, bool json, FILE *f, const char *who)
{
	struct stat_row *rows;
	uint32_t n, i, got = 0;

	n = atomic_load(&s->hdr->inst_count);
	rows = calloc(n ? n : 1, sizeof(*rows));
	if (!rows)
		return CLI_FAIL;
	for (i = 0; i < n; i++) {
		int rr = state_read_instrument(s, i, &rows[got].in);

		if (rr < 0) {
			if (who)
				fprintf(stderr, "%s: instrument %u: %s\n", who, i,
				        rr == STATE_READ_DAMAGED ? "slot fails its checksum "
				                                   "(damaged), not shown; the "
				                                   "service rebuilds it at start"
				                                 : "writer holds it too long");
			continue;
		}
		stat_format(&rows[got++]);
	}
	qsort(rows, got, sizeof(*rows), stat_cmp);
	if (json)
		stat_json(f, s, rows, got, dir);
	else
		stat_table(s, rows, got);
	if (!json) /* Kafka sink block, when one ever ran on this state dir */
		sink_kafka_stat_print(dir, atomic_load(&s->hdr->applied_jseq), false, f);
	free(rows);
	return got == n ? CLI_OK : CLI_FAIL;
}

int cli_stat_json(const struct state *s, const char *state_dir, FILE *f)
{
	return stat_write(s, state_dir, true, f, NULL) == CLI_OK ? 0 : -1;
}

int cli_writer_pid(const struct state *s)
{
	int pid = state_writer_pid(s);

	/* F_GETLK never reports the caller's own lock: serve --http reads its
	 * own state, and the header names the process that opened it */
	if (pid <= 0 && s->hdr->writer_pid == (uint32_t)getpid() && !atomic_load(&s->hdr->clean))
		pid = (int)getpid();
	return pid;
}

int cmd_stat(int argc, char **argv)
{
	static const struct option opts[] = {
	        {"json", no_argument, 0, 'j'},
	        CLI_COMMON_OPTIONS,
	        {0, 0, 0, 0},
	};
	struct cli_common co;
	const char *dir;
	struct state s;
	bool json = false;
	char err[512];
	int c, r;

	if (cli_common_init("stat", &co) < 0)
		return CLI_USAGE;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		r = cli_common_opt("stat", c, optarg, &co);
		if (r < 0)
			return CLI_USAGE;
		if (r == 0 && c != 'j') {
			stat_usage(stderr);
			return CLI_USAGE;
		}
		json |= c == 'j';
		if (co.help) {
			stat_usage(stdout);
			return CLI_OK;
		}
	}
	dir = co.state_dir;
	if (optind < argc) {
		fprintf(stderr, "trades stat: unexpected argument '%s'\n", argv[optind]);
		return CLI_USAGE;
	}
	if (state_open(&s, dir, STATE_OPEN_READ, 0, err, sizeof(err)) < 0) {
		fprintf(stderr, "trades stat: %s\n", err);
		return CLI_REFUSED;
	}
	c = stat_write(&s, dir, json, stdout, "trades stat");
	state_close(&s, false);
	return c;
}
