/* kafka_resume.c -- where the Kafka sink starts again: the topic decides.
 *
 * A resume makes a fresh idempotent producer, asks for the topic's
 * partitions, reads back the last SINK_KAFKA_TAIL_READ messages of each
 * with a short-lived consumer (assign/unassign only: pause/resume hangs
 * librdkafka 2.0.2 at destroy), takes the last "jseq" header of each
 * partition as L[p] and positions the journal reader at
 *   max(min over p of L[p], delivered cursor of the same topic and cluster) + 1
 * from where kafka.c produces a trade only if its jseq is above its
 * partition's L[p].  Every call is bounded by a timeout.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka_int.h"
#include "trades/timefmt.h"

void kafka_drop(struct sink_kafka *k)
{
	unsigned i;

	k->resetting = true;
	if (k->rk) {
		/* Unsent messages go at once; those on the wire get a bounded
		 * chance to be answered (an answered one is not in doubt). */
		rd_kafka_purge(k->rk, RD_KAFKA_PURGE_F_QUEUE);
		rd_kafka_flush(k->rk, KAFKA_OP_MS);
		rd_kafka_purge(k->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
		for (i = 0; i < 100 && rd_kafka_outq_len(k->rk) > 0; i++)
			rd_kafka_poll(k->rk, 10);
		if (k->rkt)
			rd_kafka_topic_destroy(k->rkt);
		rd_kafka_destroy(k->rk);
	}
	k->rk = NULL;
	k->rkt = NULL;
	if (k->rd_open)
		journal_reader_close(&k->rd);
	k->rd_open = false;
	k->head = k->tail; /* the next resume re-derives what was in flight */
	k->st.inflight = 0;
	k->resetting = false;
}

static int kafka_producer(struct sink_kafka *k)
{
	char err[512];
	rd_kafka_conf_t *c = kafka_conf(k, true, err, sizeof(err));

	if (!c) {
		kafka_warn(k, "%s", err);
		return -1;
	}
	k->rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof(err));
	if (!k->rk) {
		rd_kafka_conf_destroy(c);
		kafka_warn(k, "rd_kafka_new: %s", err);
		return -1;
	}
	k->rkt = rd_kafka_topic_new(k->rk, k->cfg.topic, NULL);
	if (!k->rkt) {
		kafka_warn(k, "topic %s: %s", k->cfg.topic,
		           rd_kafka_err2str(rd_kafka_last_error()));
		return -1;
	}
	return 0;
}

/* The topic's partition count and the cluster's id.  0, or -1 (logged). */
static int kafka_metadata(struct sink_kafka *k)
{
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_resp_err_t e = rd_kafka_metadata(k->rk, 0, k->rkt, &md, KAFKA_OP_MS);
	char *id;

	if (e == RD_KAFKA_RESP_ERR_NO_ERROR && md->topic_cnt == 1)
		e = md->topics[0].err;
	if (e != RD_KAFKA_RESP_ERR_NO_ERROR || md->topics[0].partition_cnt <= 0) {
		kafka_warn(k, "topic %s at %s: metadata: %s; retrying", k->cfg.topic,
		           k->cfg.brokers, rd_kafka_err2str(e));
		if (md)
			rd_kafka_metadata_destroy(md);
		return -1;
	}
	k->parts = md->topics[0].partition_cnt;
	rd_kafka_metadata_destroy(md);
	if (k->parts > KAFKA_PARTITIONS_MAX) {
		kafka_warn(k, "topic %s: %d partitions, at most %d", k->cfg.topic, k->parts,
		           KAFKA_PARTITIONS_MAX);
		return -1;
	}
	id = rd_kafka_clusterid(k->rk, KAFKA_OP_MS);
	snprintf(k->st.cluster, sizeof(k->st.cluster), "%s", id ? id : "");
	if (id)
		rd_kafka_mem_free(k->rk, id);
	return 0;
}

/* Assigns every non-empty partition at its last TAIL_READ messages; want[p]
 * is the offset of its last message, -1 for an empty one.  Returns how many
 * partitions were assigned, -1 on error (logged). */
static int kafka_tail_assign(struct sink_kafka *k, rd_kafka_t *c, int64_t *want)
{
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(k->parts);
	int64_t lo, hi;
	int32_t p;
	int n = 0;
	rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;

	for (p = 0; p < k->parts && !e; p++) {
		want[p] = -1;
		e = rd_kafka_query_watermark_offsets(c, k->cfg.topic, p, &lo, &hi, KAFKA_OP_MS);
		if (e || hi <= lo)
			continue;
		want[p] = hi - 1;
		rd_kafka_topic_partition_list_add(l, k->cfg.topic, p)->offset =
		        hi - lo > SINK_KAFKA_TAIL_READ ? hi - SINK_KAFKA_TAIL_READ : lo;
		n++;
	}
	if (!e && n > 0)
		e = rd_kafka_assign(c, l);
	rd_kafka_topic_partition_list_destroy(l);
	if (e) {
		kafka_warn(k, "topic %s: reading the partitions' tails: %s; retrying", k->cfg.topic,
		           rd_kafka_err2str(e));
		return -1;
	}
	return n;
}

/* One message of a tail: L[p] from its jseq header.  1 when it was the
 * partition's last, 0 otherwise, -1 on a consume error. */
static int kafka_tail_message(struct sink_kafka *k, const rd_kafka_message_t *m,
                              const int64_t *want)
{
	rd_kafka_headers_t *h = NULL;
	const void *v;
	size_t sz;
	uint64_t j;

	if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
		return m->partition >= 0 && m->partition < k->parts ? 1 : 0;
	if (m->err) {
		kafka_warn(k, "topic %s: reading a tail: %s; retrying", k->cfg.topic,
		           rd_kafka_message_errstr(m));
		return -1;
	}
	if (m->partition < 0 || m->partition >= k->parts)
		return 0;
	if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR &&
	    rd_kafka_header_get_last(h, "jseq", &v, &sz) == RD_KAFKA_RESP_ERR_NO_ERROR &&
	    sink_kafka_jseq_parse(v, sz, &j) == 0) {
		if (j > k->last[m->partition])
			k->last[m->partition] = j;
	} else {
		kafka_warn(k,
		           "topic %s [%d] offset %" PRId64 ": no jseq header (another "
		           "producer writes this topic?)",
		           k->cfg.topic, m->partition, m->offset);
	}
	return m->offset >= want[m->partition] ? 1 : 0;
}

/* Fills k->last[] from the tails.  0, or -1 (logged). */
static int kafka_tails(struct sink_kafka *k)
{
	int64_t *want = k->tail_want;
	uint8_t *done = k->tail_done;
	char err[512];
	rd_kafka_conf_t *conf = kafka_conf(k, false, err, sizeof(err));
	rd_kafka_t *c = conf ? rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err)) : NULL;
	int64_t deadline = timefmt_mono_ns() + KAFKA_TAIL_MS * 1000000LL;
	int left, rc = 0;

	if (!c) {
		if (conf)
			rd_kafka_conf_destroy(conf);
		kafka_warn(k, "tail reader: %s", err);
		return -1;
	}
	memset(k->last, 0, sizeof(k->last));
	memset(k->tail_done, 0, sizeof(k->tail_done));
	left = kafka_tail_assign(k, c, want);
	rc = left < 0 ? -1 : 0;
	while (left > 0 && rc == 0 && !atomic_load(&k->stop)) { /* bounded by the deadline */
		rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
		int r = m ? kafka_tail_message(k, m, want) : 0;

		if (r > 0 && !done[m->partition]++)
			left--;
		if (m)
			rd_kafka_message_destroy(m);
		if (r < 0 || timefmt_mono_ns() > deadline)
			rc = -1;
	}
	if (left > 0 && rc == 0)
		rc = -1; /* stopped */
	rd_kafka_assign(c, NULL);
	rd_kafka_consumer_close(c);
	rd_kafka_destroy(c);
	return rc;
}

/* A topic holding a jseq this journal does not have was written from
 * another journal: resuming would skip trades.  0 fine, -1 not. */
static int kafka_check_ahead(struct sink_kafka *k)
{
	const struct journal_frame *f;
	const void *pl;
	struct journal_reader r;
	char err[512];
	int rc;

	if (k->skip_max == 0)
		return 0;
	if (journal_reader_open(&r, k->cfg.state_dir, k->skip_max, err, sizeof(err)) < 0) {
		log_error("kafka: topic %s holds journal entry %" PRIu64 " but %s: it was "
		          "written from another journal; not producing",
		          k->cfg.topic, k->skip_max, err);
		return -1;
	}
	rc = journal_reader_next(&r, &f, &pl);
	journal_reader_close(&r);
	if (rc == 1)
		return 0;
	log_error("kafka: topic %s holds journal entry %" PRIu64 ", past this journal's end: "
	          "it was written from another journal; not producing",
	          k->cfg.topic, k->skip_max);
	return -1;
}

/* The delivered cursor a previous run left, if it was for this topic on
 * this cluster (a cursor is a lower bound only where it was made). */
static void kafka_load_cursor(struct sink_kafka *k)
{
	struct sink_kafka_status old;
	char err[512];
	int rc = sink_kafka_status_read(k->cfg.state_dir, &old, err, sizeof(err));

	if (rc < 0)
		kafka_warn(k, "%s (ignored: the topic's tails decide)", err);
	k->cursor_loaded = true;
	if (rc == 1 && strcmp(old.topic, k->cfg.topic) == 0 && old.cluster[0] &&
	    strcmp(old.cluster, k->st.cluster) == 0 && old.delivered > k->st.delivered)
		k->st.delivered = old.delivered;
}

/* Start point from L[] and the cursor; sets skip_max. */
static uint64_t kafka_start_point(struct sink_kafka *k)
{
	uint64_t lo = UINT64_MAX;
	int32_t p;

	k->skip_max = 0;
	for (p = 0; p < k->parts; p++) {
		if (k->last[p] < lo)
			lo = k->last[p];
		if (k->last[p] > k->skip_max)
			k->skip_max = k->last[p];
	}
	return (lo > k->st.delivered ? lo : k->st.delivered) + 1;
}

int kafka_resume(struct sink_kafka *k)
{
	char err[512];
	uint64_t start;

	k->st.phase = SINK_KAFKA_RESUMING;
	if (kafka_producer(k) < 0 || kafka_metadata(k) < 0 || kafka_tails(k) < 0) {
		kafka_drop(k);
		return -1;
	}
	if (!k->cursor_loaded)
		kafka_load_cursor(k);
	start = kafka_start_point(k);
	if (kafka_check_ahead(k) < 0) {
		kafka_drop(k);
		return -2;
	}
	if (journal_reader_open(&k->rd, k->cfg.state_dir, start, err, sizeof(err)) < 0) {
		log_error("kafka: resuming at journal entry %" PRIu64 ": %s", start, err);
		kafka_drop(k);
		return -2;
	}
	k->rd_open = true;
	k->gen = (k->gen + 1) & ((1u << 19) - 1); /* partitions may have changed: new tags */
	if (k->gen == 0) { /* wrapped (every 2^19 resumes): no old tag may match */
		memset(k->inst_part, 0, k->cfg.inst_cap * sizeof(*k->inst_part));
		k->gen = 1;
	}
	k->st.read_jseq = start - 1;
	k->st.delivered = start - 1;
	k->st.partitions = (uint64_t)k->parts;
	k->st.resumes++;
	k->reset = false;
	k->st.phase = SINK_KAFKA_STREAMING;
	log_info("kafka: topic %s: %d partitions, last journal entry in the topic %" PRIu64
	         ", resuming at %" PRIu64 " (cluster %s)",
	         k->cfg.topic, k->parts, k->skip_max, start, k->st.cluster);
	return 0;
}
