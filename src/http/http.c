/* http.c -- libmicrohttpd daemon for /metrics, /stat, /healthz and /.
 * The daemon's own thread answers; each request maps the state read-only
 * (no lock, seqlock reads) and unmaps it, as `trades stat` does. */
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <netinet/in.h>

#include <microhttpd.h>

#include "config.h"
#include "trades/addr.h"
#include "trades/candles.h"
#include "trades/decimal.h"
#include "trades/http.h"
#include "trades/log.h"
#include "trades/reason.h"
#include "trades/state.h"
#include "trades/timefmt.h"

#define HTTP_BUCKETS 8 /* request-duration histogram buckets (+Inf apart) */

struct http {
	struct http_config cfg;
	struct state st; /* read-only, open from http_start to http_stop */
	struct MHD_Daemon *d;
	struct sockaddr_storage bound;
	_Atomic uint64_t requests;                 /* answered */
	_Atomic uint64_t bucket[HTTP_BUCKETS + 1]; /* request seconds <= le; last = +Inf */
	_Atomic uint64_t dur_us;                   /* sum of request durations */
	_Atomic uint64_t mhd_errors;               /* libmicrohttpd's error messages */
	struct ratelimit rl;                       /* of their log lines (daemon thread only) */
};

static const double http_le[HTTP_BUCKETS] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1.0};

extern const char http_page[]; /* page.c: the status page */

void http_label_write(FILE *f, const char *s, size_t max)
{
	size_t i;

	fputc('"', f);
	for (i = 0; i < max && s[i]; i++) { /* bounded by max */
		if (s[i] == '\\' || s[i] == '"')
			fprintf(f, "\\%c", s[i]);
		else if (s[i] == '\n')
			fputs("\\n", f);
		else
			fputc(s[i], f);
	}
	fputc('"', f);
}

static void http_help(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One unlabelled sample with its HELP and TYPE. */
static void http_u64(FILE *f, const char *name, const char *type, const char *help, uint64_t v)
{
	http_help(f, name, type, help);
	fprintf(f, "%s %llu\n", name, (unsigned long long)v);
}

/* One counter family over the feeds: off is the field's offset. */
static void http_feed_family(FILE *f, const struct state *s, const char *name, const char *help,
                             size_t off)
{
	unsigned i;

	http_help(f, name, "counter", help);
	for (i = 0; i < TRADE_FEED_MAX; i++) {
		const struct state_feed *fd = &s->feeds[i];

		if (!fd->name[0])
			continue;
		fprintf(f, "%s{feed=", name);
		http_label_write(f, fd->name, sizeof(fd->name));
		fprintf(f, "} %llu\n",
		        (unsigned long long)*(const uint64_t *)((const char *)fd + off));
	}
}

static void http_feed_reasons(FILE *f, const struct state *s)
{
	unsigned i, m;

	http_help(f, "trades_feed_malformed_by_reason_total", "counter",
	          "Malformed messages by reason.");
	for (i = 0; i < TRADE_FEED_MAX; i++)
		for (m = 1; s->feeds[i].name[0] && m < MALFORMED_COUNT; m++) {
			fputs("trades_feed_malformed_by_reason_total{feed=", f);
			http_label_write(f, s->feeds[i].name, sizeof(s->feeds[i].name));
			fprintf(f, ",reason=\"%s\"} %llu\n", malformed_name((enum malformed)m),
			        (unsigned long long)s->feeds[i].malformed_by[m]);
		}
	http_help(f, "trades_feed_decoder_total", "counter",
	          "Decoder and source counters (recovered, truncated, port drops, ...).");
	for (i = 0; i < TRADE_FEED_MAX; i++)
		for (m = 0; s->feeds[i].name[0] && m < STATE_EXT_COUNT; m++) {
			if (!s->feeds[i].ext[m])
				continue;
			fputs("trades_feed_decoder_total{feed=", f);
			http_label_write(f, s->feeds[i].name, sizeof(s->feeds[i].name));
			fprintf(f, ",counter=\"%s\"} %llu\n", state_ext_name((enum state_ext)m),
			        (unsigned long long)s->feeds[i].ext[m]);
		}
}

static void http_feeds(FILE *f, const struct state *s)
{
#define FEED(n, fld, h) http_feed_family(f, s, n, h, offsetof(struct state_feed, fld))
	FEED("trades_feed_received_total", received, "Messages received.");
	FEED("trades_feed_accepted_total", accepted, "Trades accepted (journaled and applied).");
	FEED("trades_feed_duplicates_total", duplicates, "Trades dropped as duplicates.");
	FEED("trades_feed_malformed_total", malformed, "Messages dropped as malformed.");
	FEED("trades_feed_store_failed_total", store_failed, "Trades the journal could not store.");
	FEED("trades_feed_gaps_total", gaps, "Sequence gap events.");
	FEED("trades_feed_gap_missing_total", gap_missing, "Sequence numbers missing in gaps.");
	FEED("trades_feed_out_of_order_total", out_of_order, "Sequence numbers seen out of order.");
	FEED("trades_source_bytes_total", src.bytes, "Payload bytes the source delivered.");
	FEED("trades_source_packets_total", src.packets,
	     "Datagrams, or TCP reads that returned data, the source delivered.");
	FEED("trades_source_kernel_drops_total", src.kernel_drops,
	     "Datagrams the kernel dropped on the feed's UDP sockets (0 where not known).");
	FEED("trades_source_acks_sent_total", src.acks_sent, "Ack lines written to ,ack clients.");
	FEED("trades_source_acks_dropped_total", src.acks_dropped,
	     "Acks not written: the client did not read.");
#undef FEED
	http_feed_reasons(f, s);
}

static void http_sink_family(FILE *f, const struct state *s, const char *name, const char *type,
                             const char *help, size_t off)
{
	http_help(f, name, type, help);
	for (unsigned i = 0; i < STATE_SINKS_MAX; i++) {
		const struct state_sink_ops *k = &s->hdr->ops.sink[i];

		if (!k->name[0])
			continue;
		fprintf(f, "%s{sink=", name);
		http_label_write(f, k->name, sizeof(k->name));
		fprintf(f, "} %llu\n",
		        (unsigned long long)*(const uint64_t *)((const char *)k + off));
	}
}

static void http_journal(FILE *f, const struct state *s)
{
	const struct state_ops *o = &s->hdr->ops;
	int64_t age = o->journal_last_sync_ns ? timefmt_mono_ns() - o->journal_last_sync_ns : 0;

	http_u64(f, "trades_journal_entries_total", "counter", "Journal entries written.",
	         o->journal_entries);
	http_u64(f, "trades_journal_bytes", "gauge",
	         "Journal bytes: older segments whole plus the current one's append offset.",
	         o->journal_bytes);
	http_u64(f, "trades_journal_segments", "gauge", "Journal segment files.",
	         o->journal_segments);
	http_u64(f, "trades_journal_spare_hits_total", "counter",
	         "Segment rolls that took the spare prepared off the writer's thread.",
	         o->journal_spare_hits);
	http_u64(f, "trades_journal_spare_misses_total", "counter",
	         "Segment rolls that found no spare ready and built their segment themselves.",
	         o->journal_spare_misses);
	http_u64(f, "trades_journal_spare_failures_total", "counter",
	         "Spare segment preparations that failed (the next roll builds its own).",
	         o->journal_spare_failures);
	http_help(f, "trades_journal_last_sync_age_seconds", "gauge",
	          "Time since the journal's last msync (or its open).");
	fprintf(f, "trades_journal_last_sync_age_seconds %.3f\n", (double)age / 1e9);
#define SINK(n, t, fld, h) http_sink_family(f, s, n, t, h, offsetof(struct state_sink_ops, fld))
	SINK("trades_sink_sent_total", "counter", sent, "Messages a sink handed on.");
	SINK("trades_sink_acked_total", "counter", acked, "Messages a sink had acknowledged.");
	SINK("trades_sink_errors_total", "counter", errors, "Failed writes or deliveries.");
	SINK("trades_sink_lag", "gauge", lag,
	     "Journal entries (kafka) or candles (kafka-candles) not yet acknowledged.");
#undef SINK
}

static void http_candle_counts(FILE *f, const struct state *s)
{
	char name[16];

	http_help(f, "trades_candles_late_total", "counter",
	          "Trades for a candle already closed (after the grace): counted, not applied.");
	for (uint32_t k = 0; k < state_candles_intervals(s); k++)
		fprintf(f, "trades_candles_late_total{interval=\"%s\"} %llu\n",
		        candle_interval_name(state_candles_interval_ns(s, k), name, sizeof(name)),
		        (unsigned long long)state_candles_late(s, k));
	http_u64(f, "trades_candles_pool_full_total", "counter",
	         "Trades that found the candle ring pool full (no candle).",
	         state_candles_pool_full(s));
}

/* Per-stage latency, one sample per committed batch, from the writer's
 * log2 histograms in the state file (cumulative here, as Prometheus wants). */
static void http_latency(FILE *f, const struct state *s)
{
	static const char *const stage[STATE_STAGE_COUNT] = {"rx_to_decoded",
	                                                     "decoded_to_committed"};

	http_help(f, "trades_stage_latency_seconds", "histogram",
	          "Pipeline stage latency per committed batch (its oldest trade).");
	for (unsigned st = 0; st < STATE_STAGE_COUNT; st++) {
		const struct state_hist *h = &s->hdr->ops.hist[st];
		uint64_t cum = 0, count = h->count;

		for (unsigned i = 0; i + 1 < STATE_HIST_BUCKETS; i++) {
			cum += h->bucket[i];
			fprintf(f,
			        "trades_stage_latency_seconds_bucket{stage=\"%s\",le=\"%.9g\"} "
			        "%llu\n",
			        stage[st], (double)state_hist_le_ns(i) / 1e9,
			        (unsigned long long)cum);
		}
		cum += h->bucket[STATE_HIST_BUCKETS - 1];
		/* count and buckets are read one by one while the writer adds: the
		 * +Inf bucket must equal _count, so both take the larger */
		count = cum > count ? cum : count;
		fprintf(f, "trades_stage_latency_seconds_bucket{stage=\"%s\",le=\"+Inf\"} %llu\n",
		        stage[st], (unsigned long long)count);
		fprintf(f, "trades_stage_latency_seconds_sum{stage=\"%s\"} %.9f\n", stage[st],
		        (double)h->sum_ns / 1e9);
		fprintf(f, "trades_stage_latency_seconds_count{stage=\"%s\"} %llu\n", stage[st],
		        (unsigned long long)count);
	}
}

/* Resident set size from /proc/self/statm (bytes), 0 if unreadable. */
static uint64_t http_rss(void)
{
	unsigned long long pages = 0, rss = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (!f)
		return 0;
	if (fscanf(f, "%llu %llu", &pages, &rss) != 2)
		rss = 0;
	fclose(f);
	return (uint64_t)rss * (uint64_t)sysconf(_SC_PAGESIZE);
}

static void http_instruments(FILE *f, const struct state *s, uint32_t cap)
{
	uint32_t n = atomic_load(&s->hdr->inst_count), i;
	struct state_instrument in;

	if (cap == 0)
		return;
	http_help(f, "trades_instrument_trades_total", "counter",
	          "Trades per instrument (first --http-instruments instruments).");
	for (i = 0; i < n && i < cap; i++) {
		if (state_read_instrument(s, i, &in) < 0)
			continue;
		fputs("trades_instrument_trades_total{pair=", f);
		http_label_write(f, in.symbol, sizeof(in.symbol));
		fprintf(f, "} %llu\n", (unsigned long long)in.trades);
	}
}

void http_metrics_write(const struct state *s, uint32_t cap, FILE *f)
{
	int64_t age = timefmt_now_ns() - atomic_load(&s->hdr->heartbeat_ns);

	http_help(f, "trades_build_info", "gauge", "Build information.");
	fprintf(f, "trades_build_info{version=\"%s\"} 1\n", TRADES_VERSION);
	http_u64(f, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
	         http_rss());
	http_feeds(f, s);
	http_u64(f, "trades_journal_entries_applied_total", "counter",
	         "Journal entries applied to the state.", atomic_load(&s->hdr->applied_jseq));
	http_help(f, "trades_instruments", "gauge", "Instruments in the state file.");
	fprintf(f, "trades_instruments %u\n", (unsigned)atomic_load(&s->hdr->inst_count));
	http_help(f, "trades_heartbeat_age_seconds", "gauge", "Age of the writer's heartbeat.");
	fprintf(f, "trades_heartbeat_age_seconds %.3f\n", (double)age / 1e9);
	http_journal(f, s);
	http_candle_counts(f, s);
	http_latency(f, s);
	http_instruments(f, s, cap);
}

static void http_self(FILE *f, struct http *h)
{
	uint64_t cum = 0;
	unsigned i;

	http_help(f, "trades_http_request_duration_seconds", "histogram",
	          "Time to answer an HTTP request.");
	for (i = 0; i < HTTP_BUCKETS; i++) {
		cum += atomic_load(&h->bucket[i]);
		fprintf(f, "trades_http_request_duration_seconds_bucket{le=\"%g\"} %llu\n",
		        http_le[i], (unsigned long long)cum);
	}
	cum += atomic_load(&h->bucket[HTTP_BUCKETS]);
	fprintf(f, "trades_http_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
	        (unsigned long long)cum);
	fprintf(f, "trades_http_request_duration_seconds_sum %.6f\n",
	        (double)atomic_load(&h->dur_us) / 1e6);
	fprintf(f, "trades_http_request_duration_seconds_count %llu\n", (unsigned long long)cum);
	http_u64(f, "trades_http_errors_total", "counter",
	         "Connection errors the HTTP server reported (bad, slow or closed clients).",
	         atomic_load(&h->mhd_errors));
}

static void http_observe(struct http *h, int64_t t0)
{
	double sec = (double)(timefmt_mono_ns() - t0) / 1e9;
	unsigned i;

	for (i = 0; i < HTTP_BUCKETS && sec > http_le[i]; i++)
		;
	atomic_fetch_add(&h->bucket[i], 1);
	atomic_fetch_add(&h->dur_us, (uint64_t)(sec * 1e6));
	atomic_fetch_add(&h->requests, 1);
}

/* libmicrohttpd's error messages (clients that closed mid-request, refused
 * oversized headers, ...): counted, logged at most 5 per 10 s. */
static void http_mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct http *h = cls;
	uint64_t dropped = 0;
	char msg[256];
	size_t n;

	atomic_fetch_add(&h->mhd_errors, 1);
	if (!ratelimit_allow(&h->rl, timefmt_mono_ns(), &dropped))
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n > 0 && msg[n - 1] == '\n') /* bounded by n */
		msg[--n] = '\0';
	log_warn("http: %s (%llu more suppressed)", msg, (unsigned long long)dropped);
}

static enum MHD_Result http_send(struct MHD_Connection *c, unsigned status, const char *type,
                                 char *body, size_t len)
{
	struct MHD_Response *r;
	enum MHD_Result ok;

	r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", type);
	MHD_add_response_header(r, "Cache-Control", "no-store");
	ok = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ok;
}

/* One candle as a JSON object, decimals exact at the instrument's scale. */
static void http_candle_json(FILE *f, const struct candle *c, const struct state_instrument *in,
                             bool closed)
{
	char o[DEC_FMT_MAX], hi[DEC_FMT_MAX], lo[DEC_FMT_MAX], cl[DEC_FMT_MAX], v[DEC_FMT_MAX];

	dec_format(c->open, TRADE_SCALE_DIGITS, in->price_dp, o);
	dec_format(c->high, TRADE_SCALE_DIGITS, in->price_dp, hi);
	dec_format(c->low, TRADE_SCALE_DIGITS, in->price_dp, lo);
	dec_format(c->close, TRADE_SCALE_DIGITS, in->price_dp, cl);
	dec128_format(c->volume, TRADE_SCALE_DIGITS, in->qty_dp, v);
	fprintf(f,
	        "{\"start_ms\":%lld,\"open\":\"%s\",\"high\":\"%s\",\"low\":\"%s\","
	        "\"close\":\"%s\",\"volume\":\"%s\",\"trades\":%llu,\"closed\":%s}",
	        (long long)(c->start_ns / 1000000), o, hi, lo, cl, v, (unsigned long long)c->trades,
	        closed ? "true" : "false");
}

/* /candles?pair=P: the engine's candles of P at its first interval, oldest
 * first, read from the state like `trades candles --json` (the status page's
 * chart).  200 with [] when P has none yet; 404 for a pair not in the state. */
static int http_candles(struct http *h, struct MHD_Connection *conn, FILE *f)
{
	const char *pair = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "pair");
	struct candle c[CANDLE_RING_LEN];
	struct candle_ring_hdr hdr;
	struct state_instrument in;
	int64_t id;
	int n = 0;

	if (!pair || !pair[0] || strlen(pair) >= sizeof(in.symbol)) {
		fputs("{\"error\":\"?pair=P required\"}\n", f);
		return MHD_HTTP_BAD_REQUEST;
	}
	id = state_lookup(&h->st, pair, strlen(pair));
	if (id < 0) {
		fputs("{\"error\":\"pair not in the state\"}\n", f);
		return MHD_HTTP_NOT_FOUND;
	}
	if (state_read_instrument(&h->st, (uint32_t)id, &in) < 0)
		return MHD_HTTP_SERVICE_UNAVAILABLE;
	if (state_candles_intervals(&h->st) > 0)
		n = state_candles_read(&h->st, (uint32_t)id, 0, c, CANDLE_RING_LEN, &hdr);
	if (n < 0)
		return MHD_HTTP_SERVICE_UNAVAILABLE;
	fprintf(f, "{\"interval_s\":%lld,\"candles\":[",
	        n > 0 ? (long long)(state_candles_interval_ns(&h->st, 0) / 1000000000) : 0LL);
	for (int i = 0; i < n; i++) {
		if (i)
			fputc(',', f);
		http_candle_json(f, &c[i], &in,
		                 state_candle_closed(&h->st, 0, &c[i], hdr.watermark_ns));
	}
	fputs("]}\n", f);
	return MHD_HTTP_OK;
}

/* The body of url into a memory stream: its status and content type. */
static int http_body(struct http *h, struct MHD_Connection *conn, const char *url, FILE *f,
                     const char **type)
{
	*type = "text/plain; charset=utf-8";
	if (strcmp(url, "/metrics") == 0) {
		*type = "text/plain; version=0.0.4; charset=utf-8";
		http_metrics_write(&h->st, h->cfg.instruments, f);
		http_self(f, h);
		return MHD_HTTP_OK;
	}
	if (strcmp(url, "/stat") == 0) {
		*type = "application/json";
		return h->cfg.stat_json(&h->st, h->cfg.state_dir, f) < 0
		               ? MHD_HTTP_SERVICE_UNAVAILABLE
		               : MHD_HTTP_OK;
	}
	if (strcmp(url, "/candles") == 0) {
		*type = "application/json";
		return http_candles(h, conn, f);
	}
	if (strcmp(url, "/healthz") == 0)
		return h->cfg.health(&h->st, h->cfg.state_dir, f) < 0 ? MHD_HTTP_SERVICE_UNAVAILABLE
		                                                      : MHD_HTTP_OK;
	if (strcmp(url, "/") == 0) {
		*type = "text/html; charset=utf-8";
		fputs(http_page, f);
		return MHD_HTTP_OK;
	}
	fputs("not found\n", f);
	return MHD_HTTP_NOT_FOUND;
}

static enum MHD_Result http_answer(void *cls, struct MHD_Connection *c, const char *url,
                                   const char *method, const char *version, const char *upload,
                                   size_t *upload_size, void **con_cls)
{
	struct http *h = cls;
	int64_t t0 = timefmt_mono_ns();
	const char *type;
	char *body = NULL;
	size_t len = 0;
	FILE *f;
	int status;

	(void)version;
	(void)upload;
	if (*con_cls == NULL) { /* headers only so far: answer on the next call */
		*con_cls = h;
		return MHD_YES;
	}
	if (*upload_size) { /* a body we do not want: discard it */
		*upload_size = 0;
		return MHD_YES;
	}
	f = open_memstream(&body, &len);
	if (!f)
		return MHD_NO;
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		fputs("method not allowed\n", f);
		status = MHD_HTTP_METHOD_NOT_ALLOWED;
		type = "text/plain";
	} else {
		status = http_body(h, c, url, f, &type);
	}
	if (fclose(f) != 0) {
		free(body);
		return MHD_NO;
	}
	http_observe(h, t0);
	return http_send(c, (unsigned)status, type, body, len);
}

struct http *http_start(const struct http_config *cfg, char *err, size_t errlen)
{
	struct http *h = calloc(1, sizeof(*h));
	char where[ADDR_STR_MAX];
	const union MHD_DaemonInfo *di;

	addr_str((const struct sockaddr *)&cfg->addr, where, sizeof(where));
	if (!h) {
		errfmt(err, errlen, "http %s: calloc: %s", where, strerror(ENOMEM));
		return NULL;
	}
	h->cfg = *cfg;
	h->rl = (struct ratelimit)RATELIMIT_INIT(10, 5);
	if (state_open(&h->st, cfg->state_dir, STATE_OPEN_READ, 0, err, errlen) < 0) {
		free(h);
		return NULL;
	}
	h->d = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG |
	                                (cfg->addr.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0),
	                        0, NULL, NULL, http_answer, h, MHD_OPTION_EXTERNAL_LOGGER,
	                        http_mhd_log, h, MHD_OPTION_SOCK_ADDR,
	                        (struct sockaddr *)&h->cfg.addr, MHD_OPTION_CONNECTION_LIMIT,
	                        (unsigned)HTTP_CONN_LIMIT, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
	                        (unsigned)HTTP_PER_IP_LIMIT, MHD_OPTION_CONNECTION_TIMEOUT,
	                        (unsigned)HTTP_TIMEOUT_S, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
	                        (size_t)HTTP_CONN_MEMORY, MHD_OPTION_END);
	if (!h->d) {
		errfmt(err, errlen, "http %s: MHD_start_daemon: %s", where, strerror(errno));
		state_close(&h->st, false);
		free(h);
		return NULL;
	}
	h->bound = h->cfg.addr;
	di = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
	if (di && di->port) {
		if (h->bound.ss_family == AF_INET6)
			((struct sockaddr_in6 *)&h->bound)->sin6_port = htons(di->port);
		else
			((struct sockaddr_in *)&h->bound)->sin_port = htons(di->port);
	}
	return h;
}

const struct sockaddr *http_addr(const struct http *h)
{
	return (const struct sockaddr *)&h->bound;
}

void http_stop(struct http *h)
{
	if (!h)
		return;
	MHD_stop_daemon(h->d);
	state_close(&h->st, false);
	free(h);
}
