/* serve_http.c -- the HTTP endpoint's options and life around serve. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "config.h"
#include "serve_http.h"
#include "trades/addr.h"
#include "trades/log.h"
#include "trades/pipeline.h"
#include "trades/timefmt.h"
#if HAVE_HTTP
#include "trades/http.h"
#endif

/* ---- operations figures ---- */

#define CLI_OPS_DROPS_MS   1000u  /* /proc/net/udp at most this often */
#define CLI_OPS_PROC_LINES 100000 /* lines read from one /proc file, at most */

static void cli_ops_inodes(struct cli_ops *o, const struct source *src)
{
	struct stat sb;

	for (unsigned i = 0; i < source_listeners(src) && i < SOURCE_LISTEN_MAX; i++) {
		int fd = source_listen_kind(src, i) == SOURCE_UDP ? source_listen_fd(src, i) : -1;

		o->ino[i] = fd >= 0 && fstat(fd, &sb) == 0 ? (uint64_t)sb.st_ino : 0;
	}
	o->ino_done = true;
}

/* "drops" (the last column) of the sockets whose inode is a UDP listener's. */
static void cli_ops_proc(struct cli_ops *o, unsigned n, const char *path)
{
	FILE *f = fopen(path, "re");
	char line[512];

	if (!f)
		return; /* no IPv6, or no procfs: drops stay unknown (0) */
	for (int k = 0; k < CLI_OPS_PROC_LINES && fgets(line, sizeof(line), f); k++) {
		unsigned long long ino = 0, drops = 0;

		/* sl local rem st tx:rx tr:when retr uid timeout inode ref ptr drops */
		if (sscanf(line, "%*s %*s %*s %*s %*s %*s %*s %*s %*s %llu %*s %*s %llu", &ino,
		           &drops) != 2)
			continue;
		for (unsigned i = 0; i < n; i++)
			if (o->ino[i] != 0 && o->ino[i] == ino)
				o->l[i].kernel_drops = drops;
	}
	fclose(f);
}

static void cli_ops_sinks(struct state *st, const struct cli_kafka *kafka)
{
#if HAVE_KAFKA
	struct state_sink_ops v;

	if (kafka && kafka->trades_sink) {
		struct sink_kafka_status ks;
		uint64_t applied = atomic_load(&st->hdr->applied_jseq);

		sink_kafka_status_get(kafka->trades_sink, &ks);
		v = (struct state_sink_ops){.sent = ks.sent,
		                            .acked = ks.acked,
		                            .errors = ks.errors,
		                            .lag = applied > ks.delivered ? applied - ks.delivered
		                                                          : 0};
		state_ops_sink(st, 0, "kafka", &v);
	}
	if (kafka && kafka->candles_sink) {
		struct sink_kafka_candles_status cs;

		sink_kafka_candles_status_get(kafka->candles_sink, &cs);
		v = (struct state_sink_ops){.sent = cs.sent,
		                            .acked = cs.acked,
		                            .errors = cs.errors + cs.queue_dropped,
		                            .lag = cs.sent > cs.acked ? cs.sent - cs.acked : 0};
		state_ops_sink(st, 1, "kafka-candles", &v);
	}
#else
	(void)st, (void)kafka;
#endif
}

/* The state's writer when a publish is due (and the next one set), else NULL. */
static struct state *cli_ops_due(struct cli_ops *o, struct pipeline *p, int64_t now)
{
	struct state *st = pipeline_state_w(p);

	if (!st || now < o->next_ns)
		return NULL;
	o->next_ns = now + (int64_t)STATE_PUBLISH_MS * 1000000LL;
	return st;
}

void cli_ops_publish_feed(struct cli_ops *o, struct pipeline *p, uint16_t feed,
                          const struct state_source *src, const struct cli_kafka *kafka)
{
	struct state *st = cli_ops_due(o, p, timefmt_mono_ns());

	if (!st)
		return;
	state_feed_source_set(st, feed, src);
	cli_ops_sinks(st, kafka);
	state_ops_published(st, timefmt_now_ns());
}

void cli_ops_publish(struct cli_ops *o, struct pipeline *p, const struct source *src,
                     const uint16_t *feed, const struct cli_kafka *kafka)
{
	unsigned n = source_listeners(src);
	int64_t now = timefmt_mono_ns();
	struct state *st = cli_ops_due(o, p, now);

	if (!st)
		return;
	n = n < SOURCE_LISTEN_MAX ? n : SOURCE_LISTEN_MAX;
	if (now >= o->drops_next_ns) {
		o->drops_next_ns = now + (int64_t)CLI_OPS_DROPS_MS * 1000000LL;
		if (!o->ino_done)
			cli_ops_inodes(o, src);
		cli_ops_proc(o, n, "/proc/net/udp");
		cli_ops_proc(o, n, "/proc/net/udp6");
	}
	for (unsigned i = 0; i < n; i++) { /* each feed: the sum of its listeners */
		struct state_source sum = {0};
		bool first = true;

		for (unsigned j = 0; j < n && first; j++)
			first = j >= i || feed[j] != feed[i];
		if (!first)
			continue; /* summed with an earlier listener of the same feed */
		for (unsigned j = i; j < n; j++) {
			if (feed[j] != feed[i])
				continue;
			sum.bytes += o->l[j].bytes;
			sum.packets += o->l[j].packets;
			sum.kernel_drops += o->l[j].kernel_drops;
			sum.acks_sent += o->l[j].acks_sent;
			sum.acks_dropped += o->l[j].acks_dropped;
		}
		state_feed_source_set(st, feed[i], &sum);
	}
	cli_ops_sinks(st, kafka);
	state_ops_published(st, timefmt_now_ns());
}

int cli_http_env(struct cli_http *o)
{
	memset(o, 0, sizeof(*o));
	o->spec = cli_env("TRADES_HTTP", NULL);
	return 0;
}

int cli_http_opt(int c, const char *arg, struct cli_http *o)
{
	if (c == CLI_OPT_HTTP) {
		o->spec = arg;
		return 1;
	}
	if (c == CLI_OPT_HTTP_INSTRUMENTS)
		return cli_u64("serve", "--http-instruments", arg, 0, 65536, false,
		               &o->instruments) < 0
		               ? -1
		               : 1;
	return 0;
}

#if HAVE_HTTP
static int cli_http_health(const struct state *s, const char *dir, FILE *f)
{
	return cli_health_state(s, dir, 10, f) == CLI_OK ? 0 : -1;
}

int cli_http_start(struct cli_http *o, const char *state_dir)
{
	struct http_config hc = {.state_dir = state_dir,
	                         .instruments = (uint32_t)o->instruments,
	                         .stat_json = cli_stat_json,
	                         .health = cli_http_health};
	char err[512], addr[ADDR_STR_MAX];
	socklen_t len;

	if (!o->spec)
		return CLI_OK;
	if (addr_parse(o->spec, strlen(o->spec), true, &hc.addr, &len, err, sizeof(err)) < 0) {
		fprintf(stderr, "trades serve: --http %s\n", err);
		return CLI_USAGE;
	}
	o->h = http_start(&hc, err, sizeof(err));
	if (!o->h) {
		log_error("%s", err);
		return CLI_FAIL;
	}
	addr_str(http_addr(o->h), addr, sizeof(addr));
	printf("listening http %s\n", addr);
	fflush(stdout);
	return CLI_OK;
}

void cli_http_stop(struct cli_http *o)
{
	http_stop(o->h);
	o->h = NULL;
}
#else
int cli_http_start(struct cli_http *o, const char *state_dir)
{
	(void)state_dir;
	if (!o->spec)
		return CLI_OK;
	fprintf(stderr, "trades serve: --http: built without libmicrohttpd (install "
	                "libmicrohttpd-dev, build with -Dhttp=enabled)\n");
	return CLI_USAGE;
}

void cli_http_stop(struct cli_http *o)
{
	(void)o;
}
#endif
