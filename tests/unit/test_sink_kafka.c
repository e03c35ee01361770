/* test_sink_kafka.c -- the Kafka sink against librdkafka's mock cluster in
 * this process: the resume rule (per-partition tails), following a live
 * journal, restart without re-sending, refusing a topic ahead of the
 * journal; and the pieces without librdkafka (cursor file, key rename,
 * jseq header grammar). */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "trades/journal.h"
#include "trades/sink.h"
#include "trades/sink_kafka.h"

#include "check.h"

#define PAIRS   8
#define PARTS   3
#define WAIT_MS 60000 /* every wait below is bounded by this */

static char dir[64];
static const char *topic = "t";

static void test_pure(void)
{
	char out[SINK_JSON_MAX + 2 * SINK_KAFKA_KEY_MAX];
	const char *l = "{\"pair\":\"A\\\",\\\"volume\\\":\",\"price\":1,\"volume\":2,\"x\":3}";
	size_t n = sink_kafka_rename(l, strlen(l), "product_id", "quantity", out, sizeof(out));
	uint64_t v = 0;

	out[n] = '\0';
	CHECK_EQ_STR(out, "{\"product_id\":\"A\\\",\\\"volume\\\":\",\"price\":1,\"quantity\":2,"
	                  "\"x\":3}");
	CHECK(sink_kafka_key_ok("product_id") && !sink_kafka_key_ok("") &&
	      !sink_kafka_key_ok("a\"b") &&
	      !sink_kafka_key_ok("012345678901234567890123456789012"));
	CHECK(sink_kafka_jseq_parse("18446744073709551615", 20, &v) == 0 && v == UINT64_MAX);
	CHECK(sink_kafka_jseq_parse("18446744073709551616", 20, &v) < 0);
	CHECK(sink_kafka_jseq_parse("12a", 3, &v) < 0 && sink_kafka_jseq_parse("", 0, &v) < 0);
	CHECK(sink_kafka_jseq_parse("-1", 2, &v) < 0);
}

static void test_cursor_file(void)
{
	struct sink_kafka_status st = {.delivered = 42,
	                               .sent = 7,
	                               .phase = SINK_KAFKA_STREAMING,
	                               .pid = 99,
	                               .updated_ns = 123};
	struct sink_kafka_status back;
	char err[256], path[128];
	FILE *f;

	strcpy(st.topic, "trades");
	strcpy(st.cluster, "c1");
	CHECK(sink_kafka_status_read(dir, &back, err, sizeof(err)) == 0); /* none yet */
	CHECK(sink_kafka_status_write(dir, &st, err, sizeof(err)) == 0);
	CHECK(sink_kafka_status_read(dir, &back, err, sizeof(err)) == 1);
	CHECK(memcmp(&st, &back, sizeof(st)) == 0);
	snprintf(path, sizeof(path), "%s/%s", dir, SINK_KAFKA_CURSOR);
	f = fopen(path, "a");
	fputs("delivered x\n", f);
	fclose(f);
	CHECK(sink_kafka_status_read(dir, &back, err, sizeof(err)) < 0 && strstr(err, "line"));
	unlink(path);
}

static void trade_at(uint64_t i, struct trade *t)
{
	memset(t, 0, sizeof(*t));
	t->price = (int64_t)(100 + i % 50) * 100000000LL;
	t->qty = (int64_t)(1 + i % 7) * 1000000;
	t->qty_dp = 2;
	t->ts_exch_ns = 1735787045000000000LL + (int64_t)i * 1000000;
	t->ts_digits = 3;
	t->trade_id = i + 1;
	t->instrument = (uint32_t)(i % PAIRS);
	t->flags = TRADE_F_HAS_TS | TRADE_F_HAS_ID;
}

static void pair_name(uint32_t i, char *buf)
{
	sprintf(buf, "P%u/USD", i);
}

/* Appends names (first time) and n trades; records each trade's jseq. */
static uint64_t journal_add(uint64_t *jseq_of, uint64_t from, uint64_t n)
{
	struct journal_config cfg = {.dir = dir, .segment_bytes = JOURNAL_SEGMENT_MIN};
	struct journal j;
	struct trade t;
	char err[256];
	uint64_t i, last = 0;

	CHECK(journal_open(&j, &cfg, err, sizeof(err)) == 0);
	for (i = 0; from == 0 && i <= PAIRS; i++) {
		struct journal_name nm = {.id = i < PAIRS ? i : 0};

		if (i < PAIRS)
			pair_name((uint32_t)i, nm.name);
		else
			strcpy(nm.name, "feedA");
		nm.len = (uint16_t)strlen(nm.name);
		journal_append(&j, i < PAIRS ? JOURNAL_INSTRUMENT : JOURNAL_FEED, &nm, sizeof(nm));
	}
	for (i = from; i < from + n; i++) {
		trade_at(i, &t);
		jseq_of[i] = last = journal_append(&j, JOURNAL_TRADE, &t, sizeof(t));
		if (i % 97 == 0) {
			struct journal_gap g = {.first_missing = i, .last_missing = i, .feed = 0};

			journal_append(&j, JOURNAL_GAP, &g, sizeof(g));
		}
	}
	journal_close(&j);
	return last;
}

static size_t value_of(uint64_t i, char *buf)
{
	char pair[16];
	struct trade t;
	size_t n;

	trade_at(i, &t);
	pair_name(t.instrument, pair);
	n = sink_format_json(&t, pair, "feedA", buf, SINK_JSON_MAX);
	return n - 1;
}

/* A sink that died earlier: partition 0 got trades up to jseq lim0, 1 up
 * to lim1, 2 nothing. */
static void prefill(const char *bs, const uint64_t *jseq_of, uint64_t n, uint64_t lim0,
                    uint64_t lim1)
{
	rd_kafka_conf_t *c = rd_kafka_conf_new();
	rd_kafka_t *rk;
	rd_kafka_topic_t *rkt;
	char err[256], val[SINK_JSON_MAX], hdr[24], pair[16];
	uint64_t i;

	rd_kafka_conf_set(c, "bootstrap.servers", bs, err, sizeof(err));
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof(err));
	rkt = rd_kafka_topic_new(rk, topic, NULL);
	for (i = 0; i < n; i++) {
		int32_t p;
		size_t vl = value_of(i, val);

		pair_name((uint32_t)(i % PAIRS), pair);
		p = rd_kafka_msg_partitioner_consistent_random(rkt, pair, strlen(pair), PARTS, NULL,
		                                               NULL);
		if (!((p == 0 && jseq_of[i] <= lim0) || (p == 1 && jseq_of[i] <= lim1)))
			continue;
		snprintf(hdr, sizeof(hdr), "%llu", (unsigned long long)jseq_of[i]);
		CHECK(rd_kafka_producev(rk, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_PARTITION(p),
		                        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
		                        RD_KAFKA_V_KEY(pair, strlen(pair)),
		                        RD_KAFKA_V_VALUE(val, vl),
		                        RD_KAFKA_V_HEADER("jseq", hdr, (ssize_t)strlen(hdr)),
		                        RD_KAFKA_V_END) == 0);
	}
	CHECK(rd_kafka_flush(rk, WAIT_MS) == 0);
	rd_kafka_topic_destroy(rkt);
	rd_kafka_destroy(rk);
}

/* Reads the whole topic; checks every trade [0, n) exactly once, in jseq
 * order per partition, value equal to the contract line. */
static void check_topic(const char *bs, const uint64_t *jseq_of, uint64_t n)
{
	rd_kafka_conf_t *c = rd_kafka_conf_new();
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(PARTS);
	uint8_t *seen = calloc(n, 1);
	uint64_t last[PARTS] = {0}, got = 0, bad = 0, i;
	int eof = 0, p, tries;
	char err[256], val[SINK_JSON_MAX];
	rd_kafka_t *rk;

	rd_kafka_conf_set(c, "bootstrap.servers", bs, err, sizeof(err));
	rd_kafka_conf_set(c, "group.id", "check", err, sizeof(err));
	rd_kafka_conf_set(c, "enable.partition.eof", "true", err, sizeof(err));
	rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof(err));
	for (p = 0; p < PARTS; p++)
		rd_kafka_topic_partition_list_add(l, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
	rd_kafka_assign(rk, l);
	rd_kafka_topic_partition_list_destroy(l);
	for (tries = 0; eof < PARTS && tries < WAIT_MS / 100;) { /* bounded: idle polls */
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
		rd_kafka_headers_t *h;
		const void *hv;
		size_t hs;
		uint64_t j;

		if (!m) {
			tries++;
			continue;
		}
		if (got + bad > 10 * n) {
			rd_kafka_message_destroy(m);
			break; /* far more than written: stop counting */
		}
		if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
			eof++;
		else if (m->err || rd_kafka_message_headers(m, &h) ||
		         rd_kafka_header_get_last(h, "jseq", &hv, &hs) ||
		         sink_kafka_jseq_parse(hv, hs, &j) || j <= last[m->partition])
			bad++;
		else {
			last[m->partition] = j;
			for (i = 0; i < n && jseq_of[i] != j; i++)
				;
			if (i == n || seen[i]++ || m->len != value_of(i, val) ||
			    memcmp(m->payload, val, m->len) != 0)
				bad++;
			got++;
		}
		rd_kafka_message_destroy(m);
	}
	CHECK_EQ_INT(eof, PARTS);
	CHECK_EQ_INT(bad, 0);
	CHECK_EQ_INT(got, n);
	rd_kafka_assign(rk, NULL);
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
	free(seen);
}

static struct sink *start(const char *bs, bool seed, struct sink_kafka **kp)
{
	struct sink_kafka_config cfg = {
	        .state_dir = dir, .brokers = bs, .topic = topic, .inst_cap = 64, .stop_ms = 3000};
	char err[256], pair[16];
	struct sink_kafka *k = sink_kafka_new(&cfg, err, sizeof(err));
	uint32_t i;

	CHECK(k != NULL);
	for (i = 0; seed && i < PAIRS; i++) {
		pair_name(i, pair);
		sink_kafka_define(k, 'i', i, pair);
	}
	if (seed)
		sink_kafka_define(k, 'f', 0, "feedA");
	*kp = k;
	return sink_kafka_start(k, err, sizeof(err));
}

/* Waits until the sink delivered `upto` (or reached phase); returns the status. */
static struct sink_kafka_status wait_for(struct sink_kafka *k, uint64_t upto, uint32_t phase)
{
	struct sink_kafka_status st;
	struct timespec ts = {0, 10000000};
	int i;

	for (i = 0; i < WAIT_MS / 10; i++) {
		sink_kafka_status_get(k, &st);
		if ((upto && st.delivered >= upto) || (!upto && st.phase == phase))
			break;
		nanosleep(&ts, NULL);
	}
	return st;
}

int main(void)
{
	static uint64_t jseq_of[3000];
	rd_kafka_t *mrk = rd_kafka_new(RD_KAFKA_PRODUCER, rd_kafka_conf_new(), NULL, 0);
	rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(mrk, 1);
	const char *bs = rd_kafka_mock_cluster_bootstraps(mc);
	struct sink_kafka_status st, file;
	struct sink_kafka *k;
	struct sink *s;
	char err[256], cmd[2 * sizeof(dir) + 32];
	uint64_t end;

	strcpy(dir, "/tmp/test-sink-kafka.XXXXXX");
	CHECK(mkdtemp(dir) != NULL);
	test_pure();
	test_cursor_file();
	CHECK(rd_kafka_mock_topic_create(mc, topic, PARTS, 1) == 0);

	/* Resume: partitions at different points, no cursor file. */
	end = journal_add(jseq_of, 0, 2000);
	prefill(bs, jseq_of, 2000, 1500, 700);
	s = start(bs, false, &k); /* names come from the journal */
	st = wait_for(k, end, 0);
	CHECK_EQ_INT(st.delivered, end);
	CHECK(st.skipped > 0 && st.sent + st.skipped == 2000);
	check_topic(bs, jseq_of, 2000);

	/* Following the live journal. */
	end = journal_add(jseq_of, 2000, 1000);
	st = wait_for(k, end, 0);
	CHECK_EQ_INT(st.delivered, end);
	s->close(s);
	check_topic(bs, jseq_of, 3000);
	CHECK(sink_kafka_status_read(dir, &file, err, sizeof(err)) == 1);
	CHECK_EQ_INT(file.delivered, end);
	CHECK_EQ_INT(file.phase, SINK_KAFKA_STOPPED);

	/* Restart with names seeded: nothing is sent again. */
	s = start(bs, true, &k);
	st = wait_for(k, 0, SINK_KAFKA_STREAMING);
	CHECK_EQ_INT(st.delivered, end);
	CHECK_EQ_INT(st.sent, 0);
	s->close(s);
	check_topic(bs, jseq_of, 3000);

	/* A topic ahead of the journal (another journal wrote it): refused. */
	snprintf(cmd, sizeof(cmd), "rm -rf %s/journal %s/sinks", dir, dir);
	CHECK(system(cmd) == 0);
	journal_add(jseq_of, 0, 10);
	s = start(bs, true, &k);
	st = wait_for(k, 0, SINK_KAFKA_FAILED);
	CHECK_EQ_INT(st.phase, SINK_KAFKA_FAILED);
	CHECK_EQ_INT(st.sent, 0);
	s->close(s);

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK(system(cmd) == 0);
	rd_kafka_mock_cluster_destroy(mc);
	rd_kafka_destroy(mrk);
	CHECK_DONE();
}
