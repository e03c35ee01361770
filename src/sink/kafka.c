/* kafka.c -- the Kafka sink's thread: journal -> librdkafka, delivery
 * reports -> delivered cursor.  See sink_kafka.h for the contract and
 * kafka_resume.c for how the resume point is found.
 *
 * One thread owns everything here (the producer, the reader, the ring); the
 * engine only registers the struct sink and, at stop, joins the thread.
 * librdkafka's callbacks (delivery reports, errors) run inside
 * rd_kafka_poll/flush on this same thread.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kafka_int.h"
#include "trades/timefmt.h"

void kafka_warn(struct sink_kafka *k, const char *fmt, ...)
{
	uint64_t suppressed;
	char msg[512];
	va_list ap;

	if (!ratelimit_allow(&k->rl, timefmt_mono_ns(), &suppressed))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (suppressed)
		log_warn("kafka: %s (%" PRIu64 " similar suppressed)", msg, suppressed);
	else
		log_warn("kafka: %s", msg);
}

/* ---- delivered cursor ---- */

static uint64_t kafka_inflight(const struct sink_kafka *k)
{
	return k->tail - k->head;
}

/* Pops acknowledged messages in journal order; the cursor moves to just
 * before the oldest unacknowledged one (or to what was read, if none). */
static void kafka_advance(struct sink_kafka *k)
{
	unsigned n;

	for (n = 0; n < SINK_KAFKA_INFLIGHT && k->head < k->tail; n++) {
		struct kafka_slot *s = &k->ring[k->head & (SINK_KAFKA_INFLIGHT - 1)];

		if (!s->done)
			break;
		k->head++;
	}
	if (k->head == k->tail)
		k->st.delivered = k->st.read_jseq;
	else
		k->st.delivered = k->ring[k->head & (SINK_KAFKA_INFLIGHT - 1)].jseq - 1;
	k->st.inflight = kafka_inflight(k);
}

static void kafka_on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct sink_kafka *k = opaque;
	uint64_t pn = (uint64_t)(uintptr_t)m->_private;

	(void)rk;
	if (k->resetting || pn < k->head)
		return; /* a message of a producer being dropped */
	ENSURE(pn < k->tail);
	if (m->err) {
		k->st.errors++;
		k->reset = true;
		kafka_warn(k, "delivery of journal entry %" PRIu64 " failed: %s; resuming",
		           k->ring[pn & (SINK_KAFKA_INFLIGHT - 1)].jseq, rd_kafka_err2str(m->err));
		return;
	}
	k->ring[pn & (SINK_KAFKA_INFLIGHT - 1)].done = 1;
	k->st.acked++;
	if (pn == k->head)
		kafka_advance(k);
}

/* A lost connection with messages in flight leaves them in doubt: the
 * broker may have appended a batch whose answer never came, and a retry
 * would duplicate it where the broker does not de-duplicate.  So the
 * producer is dropped before librdkafka's retry (retry.backoff.ms) and the
 * topic's tails decide. */
static void kafka_on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	struct sink_kafka *k = opaque;

	(void)rk;
	if (k->resetting)
		return;
	if (err == RD_KAFKA_RESP_ERR__FATAL) {
		k->st.errors++;
		k->reset = true;
	} else if ((err == RD_KAFKA_RESP_ERR__TRANSPORT ||
	            err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) &&
	           kafka_inflight(k) > 0) {
		k->reset = true;
	}
	kafka_warn(k, "%s: %s%s", rd_kafka_err2name((rd_kafka_resp_err_t)err), reason,
	           k->reset ? " (resuming from the topic's tails)" : "");
}

/* ---- configuration ---- */

static int kafka_set(rd_kafka_conf_t *c, const char *key, const char *val, char *err, size_t errlen)
{
	char why[512];

	if (rd_kafka_conf_set(c, key, val, why, sizeof(why)) != RD_KAFKA_CONF_OK)
		return errfmt(err, errlen, "kafka property %s=%s: %s", key, val, why);
	return 0;
}

rd_kafka_conf_t *kafka_conf(struct sink_kafka *k, bool producer, char *err, size_t errlen)
{
	static const char *const prod[][2] = {
	        {"enable.idempotence", "true"},
	        {"acks", "all"},
	        {"message.timeout.ms", "0"}, /* never give a message up: the sink resumes */
	        {"retry.backoff.ms", "1000"},
	        /* A batch that fails for good stops the producer (fatal) before
	         * a later one can land after the hole; one request in flight per
	         * broker keeps a later batch from being on the wire already. */
	        {"enable.gapless.guarantee", "true"},
	        {"max.in.flight.requests.per.connection", "1"},
	        {"queue.buffering.max.kbytes", "65536"},
	};
	static const char *const cons[][2] = {
	        {"enable.partition.eof", "true"},
	        {"enable.auto.commit", "false"},
	        {"auto.offset.reset", "earliest"},
	        {"group.id", "trades-kafka-sink-resume"}, /* assign() needs one; never joined */
	};
	rd_kafka_conf_t *c = rd_kafka_conf_new();
	char qmax[32];
	unsigned i;
	int rc = kafka_set(c, "bootstrap.servers", k->cfg.brokers, err, errlen);

	rc |= kafka_set(c, "client.id", "trades", err, errlen);
	snprintf(qmax, sizeof(qmax), "%u", SINK_KAFKA_INFLIGHT + KAFKA_BATCH);
	for (i = 0; producer && i < sizeof(prod) / sizeof(prod[0]); i++)
		rc |= kafka_set(c, prod[i][0], prod[i][1], err, errlen);
	if (producer)
		rc |= kafka_set(c, "queue.buffering.max.messages", qmax, err, errlen);
	for (i = 0; !producer && i < sizeof(cons) / sizeof(cons[0]); i++)
		rc |= kafka_set(c, cons[i][0], cons[i][1], err, errlen);
	for (i = 0; i < k->cfg.nopts && rc == 0; i++)
		rc = kafka_set(c, k->cfg.opt_key[i], k->cfg.opt_val[i], err, errlen);
	if (rc != 0) {
		rd_kafka_conf_destroy(c);
		return NULL;
	}
	rd_kafka_conf_set_opaque(c, k);
	rd_kafka_conf_set_error_cb(c, kafka_on_error);
	if (producer)
		rd_kafka_conf_set_dr_msg_cb(c, kafka_on_delivery);
	return c;
}

static const struct {
	const char *name;
	kafka_partitioner fn;
} kafka_partitioners[] = {
        {"consistent_random", rd_kafka_msg_partitioner_consistent_random},
        {"consistent", rd_kafka_msg_partitioner_consistent},
        {"murmur2_random", rd_kafka_msg_partitioner_murmur2_random},
        {"murmur2", rd_kafka_msg_partitioner_murmur2},
        {"fnv1a_random", rd_kafka_msg_partitioner_fnv1a_random},
        {"fnv1a", rd_kafka_msg_partitioner_fnv1a},
};

/* The sink places every message itself (so a resume knows each trade's
 * partition): the partitioner property picks the hash, librdkafka's
 * default when absent.  Keys are never empty, so "_random" never is. */
static int kafka_pick_partitioner(struct sink_kafka *k, char *err, size_t errlen)
{
	const char *name = "consistent_random";
	unsigned i;

	for (i = 0; i < k->cfg.nopts; i++) {
		const char *key = k->cfg.opt_key[i];

		if (strcmp(key, "partitioner") == 0)
			name = k->cfg.opt_val[i];
		if (strcmp(key, "enable.idempotence") == 0 || strcmp(key, "acks") == 0 ||
		    strcmp(key, "message.timeout.ms") == 0 ||
		    strcmp(key, "enable.gapless.guarantee") == 0)
			return errfmt(err, errlen,
			              "--kafka-opt %s: fixed by the sink (idempotent, acks=all, "
			              "never times out)",
			              key);
		if (strncmp(key, "test.mock.", 10) == 0)
			return errfmt(
			        err, errlen,
			        "--kafka-opt %s: every producer and tail reader of the sink "
			        "would get a mock cluster of its own; run trades-kafka-mock and "
			        "give --kafka its bootstrap address",
			        key);
	}
	for (i = 0; i < sizeof(kafka_partitioners) / sizeof(kafka_partitioners[0]); i++)
		if (strcmp(name, kafka_partitioners[i].name) == 0) {
			k->partitioner = kafka_partitioners[i].fn;
			return 0;
		}
	return errfmt(err, errlen,
	              "--kafka-opt partitioner=%s: use consistent_random (default), consistent, "
	              "murmur2_random, murmur2, fnv1a_random or fnv1a (a pair must keep one "
	              "partition)",
	              name);
}

/* ---- producing ---- */

static int32_t kafka_partition(struct sink_kafka *k, uint32_t inst, const char *pair)
{
	uint32_t tag = inst < k->cfg.inst_cap ? k->inst_part[inst] : 0;
	int32_t p;

	if (tag >> 13 == k->gen && (tag & 8191) != 0)
		return (int32_t)(tag & 8191) - 1;
	p = k->partitioner(k->rkt, pair, strlen(pair), k->parts, NULL, NULL);
	ENSURE(p >= 0 && p < k->parts);
	if (inst < k->cfg.inst_cap)
		k->inst_part[inst] = k->gen << 13 | (uint32_t)(p + 1);
	return p;
}

static size_t kafka_value(struct sink_kafka *k, const struct trade *t, const char *pair)
{
	const char *feed = t->feed < TRADE_FEED_MAX ? k->feed[t->feed] : "";
	size_t n = sink_format_json(t, pair, feed, k->line, sizeof(k->line));

	ENSURE(n > 0 && k->line[n - 1] == '\n');
	n--; /* a message is the line without its '\n' */
	if (!k->cfg.pair_key && !k->cfg.volume_key) {
		memcpy(k->value, k->line, n);
		return n;
	}
	return sink_kafka_rename(k->line, n, k->cfg.pair_key, k->cfg.volume_key, k->value,
	                         sizeof(k->value));
}

/* Produces trade jseq unless its partition already holds it.  0, or -1
 * when librdkafka refused it (counted; the sink resumes). */
static int kafka_produce(struct sink_kafka *k, uint64_t jseq, const struct trade *t)
{
	const char *pair = t->instrument < k->cfg.inst_cap ? k->inst[t->instrument] : "";
	int32_t p = kafka_partition(k, t->instrument, pair);
	size_t n = kafka_value(k, t, pair);
	char hdr[24];
	int hl = snprintf(hdr, sizeof(hdr), "%" PRIu64, jseq);
	rd_kafka_resp_err_t e;
	unsigned tries;

	if (jseq <= k->last[p]) {
		k->st.skipped++;
		return 0;
	}
	ENSURE(kafka_inflight(k) < SINK_KAFKA_INFLIGHT);
	for (tries = 0; tries < 100; tries++) { /* queue full: never with our bound */
		e = rd_kafka_producev(
		        k->rk, RD_KAFKA_V_RKT(k->rkt), RD_KAFKA_V_PARTITION(p),
		        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
		        RD_KAFKA_V_KEY(pair, strlen(pair)), RD_KAFKA_V_VALUE(k->value, n),
		        RD_KAFKA_V_HEADER("jseq", hdr, hl),
		        RD_KAFKA_V_OPAQUE((void *)(uintptr_t)k->tail), RD_KAFKA_V_END);
		if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
			break;
		rd_kafka_poll(k->rk, 10);
	}
	if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
		k->st.errors++;
		k->reset = true;
		kafka_warn(k, "produce journal entry %" PRIu64 ": %s; resuming", jseq,
		           rd_kafka_err2str(e));
		return -1;
	}
	k->ring[k->tail & (SINK_KAFKA_INFLIGHT - 1)] = (struct kafka_slot){jseq, 0};
	k->tail++;
	k->st.sent++;
	return 0;
}

static void kafka_name(struct sink_kafka *k, uint16_t type, const struct journal_name *n)
{
	if (n->len == 0 || n->len >= sizeof(n->name))
		return;
	if (type == JOURNAL_INSTRUMENT && n->id < k->cfg.inst_cap && n->len <= TRADE_SYMBOL_MAX)
		memcpy(k->inst[n->id], n->name, n->len), k->inst[n->id][n->len] = '\0';
	else if (type == JOURNAL_FEED && n->id < TRADE_FEED_MAX && n->len < KAFKA_FEED_NAME_MAX)
		memcpy(k->feed[n->id], n->name, n->len), k->feed[n->id][n->len] = '\0';
}

/* Reads up to KAFKA_BATCH journal entries while the window has room.
 * Returns how many were read; -1 on journal corruption (logged). */
static int kafka_read_batch(struct sink_kafka *k)
{
	const struct journal_frame *f;
	const void *payload;
	struct trade t;
	int n, rc;

	for (n = 0; n < KAFKA_BATCH && !k->reset && kafka_inflight(k) < SINK_KAFKA_INFLIGHT; n++) {
		rc = journal_reader_next(&k->rd, &f, &payload);
		if (rc <= 0)
			return rc < 0 ? -1 : n;
		k->st.read_jseq = f->jseq;
		if (f->type == JOURNAL_TRADE && f->len == sizeof(t)) {
			memcpy(&t, payload, sizeof(t));
			if (kafka_produce(k, f->jseq, &t) < 0)
				return n;
		} else if ((f->type == JOURNAL_INSTRUMENT || f->type == JOURNAL_FEED) &&
		           f->len == sizeof(struct journal_name)) {
			kafka_name(k, f->type, payload);
		}
		if (kafka_inflight(k) == 0)
			k->st.delivered = f->jseq;
	}
	return n;
}

/* ---- status ---- */

static void kafka_publish(struct sink_kafka *k, bool force)
{
	int64_t now = timefmt_mono_ns();
	char err[512];

	if (!force && now - k->persist_ns < SINK_KAFKA_PERSIST_MS * 1000000LL)
		return;
	k->persist_ns = now;
	k->st.updated_ns = timefmt_now_ns();
	k->st.inflight = kafka_inflight(k);
	pthread_mutex_lock(&k->lock);
	k->pub = k->st;
	pthread_mutex_unlock(&k->lock);
	if (sink_kafka_status_write(k->cfg.state_dir, &k->st, err, sizeof(err)) < 0)
		kafka_warn(k, "%s", err);
}

void sink_kafka_status_get(struct sink_kafka *k, struct sink_kafka_status *st)
{
	pthread_mutex_lock(&k->lock);
	*st = k->pub;
	pthread_mutex_unlock(&k->lock);
}

/* ---- the thread ---- */

/* Streams until stop or a reset. */
static void kafka_stream(struct sink_kafka *k)
{
	char why[512];
	int n = 0;

	while (!atomic_load(&k->stop) && !k->reset) { /* the sink's main loop */
		rd_kafka_poll(k->rk, n == 0 ? KAFKA_IDLE_MS : 0);
		if (rd_kafka_fatal_error(k->rk, why, sizeof(why)) != RD_KAFKA_RESP_ERR_NO_ERROR) {
			k->st.errors++;
			k->reset = true;
			kafka_warn(k, "fatal: %s; resuming", why);
		}
		if (k->reset)
			break;
		n = kafka_read_batch(k);
		if (n < 0) {
			k->st.errors++;
			k->reset = true; /* re-open the reader at the cursor */
		}
		kafka_publish(k, false);
	}
}

/* At stop: what the journal holds is sent, waiting at most stop_ms. */
static void kafka_finish(struct sink_kafka *k)
{
	int64_t deadline = timefmt_mono_ns() + (int64_t)k->cfg.stop_ms * 1000000LL;
	int n = 1;

	while (k->rk && !k->reset && timefmt_mono_ns() < deadline && (n > 0 || k->head < k->tail)) {
		rd_kafka_poll(k->rk, n > 0 ? 0 : KAFKA_IDLE_MS);
		n = kafka_read_batch(k);
	}
	if (k->head < k->tail)
		log_warn("kafka: stopping with %" PRIu64 " messages unacknowledged (the journal "
		         "keeps them; the next start resumes)",
		         kafka_inflight(k));
	kafka_drop(k);
}

static void kafka_sleep_ms(struct sink_kafka *k, unsigned ms)
{
	struct timespec ts = {0, 10 * 1000000L};
	unsigned i;

	for (i = 0; i < ms / 10 && !atomic_load(&k->stop); i++)
		nanosleep(&ts, NULL);
}

static void *kafka_thread(void *arg)
{
	struct sink_kafka *k = arg;
	int rc;

	while (!atomic_load(&k->stop)) { /* ends at stop */
		if (k->st.phase == SINK_KAFKA_FAILED) {
			kafka_publish(k, false);
			kafka_sleep_ms(k, 100);
			continue;
		}
		rc = kafka_resume(k);
		if (rc < 0) {
			if (rc == -2)
				k->st.phase = SINK_KAFKA_FAILED;
			kafka_publish(k, true);
			kafka_sleep_ms(k, KAFKA_RETRY_MS);
			continue;
		}
		kafka_stream(k);
		if (k->reset)
			kafka_drop(k);
	}
	kafka_finish(k);
	if (k->st.phase != SINK_KAFKA_FAILED)
		k->st.phase = SINK_KAFKA_STOPPED;
	kafka_publish(k, true);
	return NULL;
}

/* ---- lifecycle ---- */

static char *kafka_keep(struct sink_kafka *k, const char *s)
{
	char *c;

	if (!s)
		return NULL;
	ENSURE(k->nstrs < sizeof(k->strs) / sizeof(k->strs[0]));
	c = strdup(s);
	if (c)
		k->strs[k->nstrs++] = c;
	return c;
}

static int kafka_copy_config(struct sink_kafka *k, const struct sink_kafka_config *cfg)
{
	unsigned i;
	bool ok;

	k->cfg = *cfg;
	k->cfg.state_dir = kafka_keep(k, cfg->state_dir);
	k->cfg.brokers = kafka_keep(k, cfg->brokers);
	k->cfg.topic = kafka_keep(k, cfg->topic);
	ok = k->cfg.state_dir && k->cfg.brokers && k->cfg.topic;
	if (cfg->pair_key && strcmp(cfg->pair_key, "pair") != 0)
		ok = ok && (k->cfg.pair_key = kafka_keep(k, cfg->pair_key));
	else
		k->cfg.pair_key = NULL;
	if (cfg->volume_key && strcmp(cfg->volume_key, "volume") != 0)
		ok = ok && (k->cfg.volume_key = kafka_keep(k, cfg->volume_key));
	else
		k->cfg.volume_key = NULL;
	for (i = 0; i < cfg->nopts && ok; i++) {
		k->cfg.opt_key[i] = kafka_keep(k, cfg->opt_key[i]);
		k->cfg.opt_val[i] = kafka_keep(k, cfg->opt_val[i]);
		ok = k->cfg.opt_key[i] && k->cfg.opt_val[i];
	}
	if (k->cfg.stop_ms == 0)
		k->cfg.stop_ms = SINK_KAFKA_STOP_MS;
	return ok ? 0 : -1;
}

static int kafka_check(const struct sink_kafka_config *cfg, char *err, size_t errlen)
{
	size_t tl = cfg->topic ? strlen(cfg->topic) : 0;

	if (!cfg->brokers || !cfg->brokers[0])
		return errfmt(err, errlen, "kafka: no brokers given");
	if (tl == 0 || tl > SINK_KAFKA_TOPIC_MAX ||
	    strspn(cfg->topic, "abcdefghijklmnopqrstuvwxyz"
	                       "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	                       "0123456789._-") != tl)
		return errfmt(err, errlen,
		              "kafka topic '%s': 1..%d of [A-Za-z0-9._-] (Kafka's own rule)",
		              cfg->topic ? cfg->topic : "", SINK_KAFKA_TOPIC_MAX);
	if ((cfg->pair_key && !sink_kafka_key_ok(cfg->pair_key)) ||
	    (cfg->volume_key && !sink_kafka_key_ok(cfg->volume_key)))
		return errfmt(err, errlen, "kafka keys: 1..%d of [A-Za-z0-9_] each",
		              SINK_KAFKA_KEY_MAX);
	if (cfg->nopts > SINK_KAFKA_OPTS_MAX || cfg->inst_cap == 0)
		return errfmt(err, errlen, "kafka: %u options (at most %d), %u instruments",
		              cfg->nopts, SINK_KAFKA_OPTS_MAX, cfg->inst_cap);
	return 0;
}

struct sink_kafka *sink_kafka_new(const struct sink_kafka_config *cfg, char *err, size_t errlen)
{
	struct sink_kafka *k;
	rd_kafka_conf_t *c;
	if (kafka_check(cfg, err, errlen) < 0)
		return NULL;
	k = calloc(1, sizeof(*k));
	if (!k || kafka_copy_config(k, cfg) < 0 ||
	    !(k->inst = calloc(cfg->inst_cap, sizeof(*k->inst))) ||
	    !(k->inst_part = calloc(cfg->inst_cap, sizeof(*k->inst_part))) ||
	    !(k->ring = calloc(SINK_KAFKA_INFLIGHT, sizeof(*k->ring)))) {
		sink_kafka_free(k);
		errfmt(err, errlen, "kafka: calloc: %s", strerror(ENOMEM));
		return NULL;
	}
	k->rl = (struct ratelimit)RATELIMIT_INIT(10, 10);
	if (kafka_pick_partitioner(k, err, errlen) < 0 || !(c = kafka_conf(k, true, err, errlen))) {
		sink_kafka_free(k);
		return NULL;
	}
	rd_kafka_conf_destroy(c);
	pthread_mutex_init(&k->lock, NULL);
	snprintf(k->st.topic, sizeof(k->st.topic), "%s", k->cfg.topic);
	k->st.pid = (int32_t)getpid();
	k->pub = k->st;
	return k;
}

void sink_kafka_define(struct sink_kafka *k, char kind, uint32_t id, const char *name)
{
	size_t len = strlen(name);

	if (kind == 'i' && id < k->cfg.inst_cap && len <= TRADE_SYMBOL_MAX)
		memcpy(k->inst[id], name, len + 1);
	else if (kind == 'f' && id < TRADE_FEED_MAX && len < KAFKA_FEED_NAME_MAX)
		memcpy(k->feed[id], name, len + 1);
}

void sink_kafka_free(struct sink_kafka *k)
{
	unsigned i;

	if (!k)
		return;
	for (i = 0; i < k->nstrs; i++)
		free(k->strs[i]);
	free(k->inst);
	free(k->inst_part);
	free(k->ring);
	free(k);
}

static int kafka_sink_write(struct sink *s, const struct trade *t, const char *pair,
                            const char *feed)
{
	/* Nothing to do: the sink's thread reads the journal itself. */
	(void)s, (void)t, (void)pair, (void)feed;
	return 0;
}

static void kafka_sink_close(struct sink *s)
{
	struct sink_kafka *k = s->ctx;

	atomic_store(&k->stop, true);
	pthread_join(k->thread, NULL);
	log_info("kafka: stopped at journal entry %" PRIu64 " delivered: %" PRIu64 " sent, %" PRIu64
	         " acked, %" PRIu64 " errors, %" PRIu64 " resumes",
	         k->st.delivered, k->st.sent, k->st.acked, k->st.errors, k->st.resumes);
	pthread_mutex_destroy(&k->lock);
	sink_kafka_free(k);
}

struct sink *sink_kafka_start(struct sink_kafka *k, char *err, size_t errlen)
{
	int e;

	k->sink.name = "kafka";
	k->sink.write = kafka_sink_write;
	k->sink.close = kafka_sink_close;
	k->sink.ctx = k;
	atomic_init(&k->stop, false);
	e = pthread_create(&k->thread, NULL, kafka_thread, k);
	if (e != 0) {
		errfmt(err, errlen, "kafka: pthread_create: %s", strerror(e));
		pthread_mutex_destroy(&k->lock);
		sink_kafka_free(k);
		return NULL;
	}
	return &k->sink;
}
