/* kafka_candles.c -- closed candles to a Kafka topic (--kafka-candles-topic),
 * see sink_kafka.h for the guarantee.
 *
 * Two sources, both in closing order per ring: the rings' closed candles as
 * the state held them when the sink started (what a previous run may not
 * have delivered; the engine is not running yet), then the candles the
 * engine hands over as they close (sink.candle into a bounded queue).  A
 * candle is a pure function of the journal (a rebuilt state has the same
 * rings at the same indexes), and per ring (pair, interval) candles close in
 * window order, so one mark per ring decides what the topic holds:
 *   acked[r]  start of the newest candle of ring r with a delivery report,
 *             persisted in STATE_DIR/sinks/kafka-candles.marks;
 *   sent[r]   start of the newest candle produced (>= acked).
 * At a resume sent[r] = acked[r] = the newer of the file's mark and the
 * newest start found for the ring in the last KC_WINDOW messages of every
 * partition, persisted at once; at most KC_WINDOW candles are ever produced
 * beyond what the file holds, so any candle in the topic but not in the file
 * is inside those tails: a kill -9 gives neither a duplicate nor a hole.
 * Queue entries stay until acknowledged; a reset re-walks them from the
 * oldest unacknowledged.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>

#include "trades/candles.h"
#include "trades/crc32c.h"
#include "trades/log.h"
#include "trades/sink.h"
#include "trades/sink_kafka.h"
#include "trades/state.h"
#include "trades/timefmt.h"

#define KC_WINDOW     SINK_KAFKA_CANDLES_WINDOW
#define KC_SCAN_MS    100  /* rings looked at this often */
#define KC_QUEUE      8192 /* closed candles handed over by the engine, queued */
#define KC_OP_MS      2000
#define KC_TAIL_MS    10000
#define KC_RETRY_MS   1000
#define KC_PARTS_MAX  4096
#define KC_MAGIC      "TRDKCM01"
#define KC_MARKS_FILE "sinks/kafka-candles.marks"
_Static_assert((KC_WINDOW & (KC_WINDOW - 1)) == 0, "in-flight slots by mask");
_Static_assert((KC_QUEUE & (KC_QUEUE - 1)) == 0, "queue slots by mask");

struct kc_mark {
	uint32_t inst, interval; /* ring identity when written */
	int64_t start_ns;        /* newest acknowledged candle, INT64_MIN none */
};

struct kc_file { /* the marks file, written whole (tmp + rename) */
	char magic[8];
	char topic[SINK_KAFKA_TOPIC_MAX + 1];
	char cluster[128];
	uint32_t n; /* CANDLE_RINGS_MAX */
	struct kc_mark m[CANDLE_RINGS_MAX];
	struct sink_kafka_candles_status st;
	uint32_t crc; /* CRC32C of the bytes above */
};

/* A closed candle the engine handed over (sink.candle), with its pair. */
struct kc_item {
	struct sink_candle c;
	char pair[TRADE_SYMBOL_MAX + 1];
	int32_t ring;         /* resolved by the thread at its first look, -1 none */
	_Atomic uint8_t done; /* delivered, or found in the topic already */
};

/* A ring as it was when the sink started: its closed candles, oldest first. */
struct kc_snap {
	struct candle_ring_hdr h;
	uint32_t n;
	struct candle c[CANDLE_RING_LEN];
};

#define KC_SNAP_TAG (1ull << 63) /* opaque of a snapshot candle: tag | ring << 8 | i */

struct kc {
	struct sink sink;
	struct kc_item *q;               /* KC_QUEUE slots: engine -> thread */
	_Atomic uint64_t q_head, q_tail; /* [head, tail) queued */
	_Atomic uint64_t q_dropped;      /* queue full: left to the ring scan */
	struct sink_kafka_candles_config cfg;
	char *strs[3 + 2 * SINK_KAFKA_OPTS_MAX];
	unsigned nstrs;
	struct state st; /* read-only mapping */
	rd_kafka_t *rk;
	rd_kafka_topic_t *rkt;
	int32_t parts;
	char cluster[128];
	bool reset, resetting;
	struct kc_file file;                 /* acked marks, as last persisted */
	int64_t acked[CANDLE_RINGS_MAX];     /* live */
	int64_t sent[CANDLE_RINGS_MAX];      /* produced */
	struct kc_snap *snap;                /* [nsnap] rings at start */
	bool snap_done;                      /* every snapshot candle sent */
	bool overrun_seen[CANDLE_RINGS_MAX]; /* counted once per ring */
	bool ident[CANDLE_RINGS_MAX];        /* file.m[r].inst/interval known */
	uint32_t nsnap;
	uint64_t q_next;             /* next queue entry to produce */
	uint64_t unreflected, dirty; /* candles the file does not cover */
	int64_t persist_ns;
	pthread_t thread;
	atomic_bool stop;
	pthread_mutex_t lock; /* guards pub */
	struct sink_kafka_candles_status stv, pub;
	struct ratelimit rl;
	char value[SINK_JSON_MAX];
};

static void kc_warn(struct kc *k, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void kc_warn(struct kc *k, const char *fmt, ...)
{
	uint64_t suppressed;
	char msg[512];
	va_list ap;

	if (!ratelimit_allow(&k->rl, timefmt_mono_ns(), &suppressed))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_warn("kafka candles: %s (%" PRIu64 " similar suppressed)", msg, suppressed);
}

/* ---- marks file ---- */

static void kc_path(const struct kc *k, char *buf, size_t len, const char *suffix)
{
	snprintf(buf, len, "%s/%s%s", k->cfg.state_dir, KC_MARKS_FILE, suffix);
}

static int kc_persist(struct kc *k)
{
	char tmp[4096], path[4096], dir[4096];
	struct kc_file *f = &k->file;
	int fd;
	bool ok;

	memcpy(f->magic, KC_MAGIC, sizeof(f->magic));
	snprintf(f->topic, sizeof(f->topic), "%s", k->cfg.topic);
	memcpy(f->cluster, k->cluster, sizeof(f->cluster));
	f->n = CANDLE_RINGS_MAX;
	for (uint32_t r = 0; r < CANDLE_RINGS_MAX; r++) {
		struct candle_ring_hdr h;

		if (!k->ident[r] && r < state_candles_rings_used(&k->st) &&
		    state_candles_ring_read(&k->st, r, NULL, 0, &h) >= 0) {
			f->m[r].inst = h.inst; /* a ring's identity never changes */
			f->m[r].interval = h.interval;
			k->ident[r] = true;
		}
		f->m[r].start_ns = k->ident[r] ? k->acked[r] : INT64_MIN;
	}
	f->st = k->stv;
	f->crc = crc32c(0, f, offsetof(struct kc_file, crc));
	snprintf(dir, sizeof(dir), "%s/sinks", k->cfg.state_dir);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -1;
	kc_path(k, tmp, sizeof(tmp), ".tmp");
	kc_path(k, path, sizeof(path), "");
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	ok = write(fd, f, sizeof(*f)) == (ssize_t)sizeof(*f) && fsync(fd) == 0;
	ok = close(fd) == 0 && ok;
	if (!ok || rename(tmp, path) < 0) {
		unlink(tmp);
		return -1;
	}
	return 0;
}

/* Loads the acked marks a previous run left for this topic on this cluster,
 * ring by ring where the ring still has the same identity. */
static void kc_load(struct kc *k)
{
	char path[4096];
	struct kc_file *f = &k->file;
	int fd;
	bool ok;

	kc_path(k, path, sizeof(path), "");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	ok = read(fd, f, sizeof(*f)) == (ssize_t)sizeof(*f);
	close(fd);
	if (!ok || memcmp(f->magic, KC_MAGIC, 8) != 0 || f->n != CANDLE_RINGS_MAX ||
	    f->crc != crc32c(0, f, offsetof(struct kc_file, crc))) {
		kc_warn(k, "%s: not a marks file of this version (ignored: the tails decide)",
		        path);
		memset(f, 0, sizeof(*f));
		return;
	}
	if (strcmp(f->topic, k->cfg.topic) != 0 || strcmp(f->cluster, k->cluster) != 0 ||
	    !k->cluster[0])
		return; /* marks of another topic or cluster say nothing here */
	for (uint32_t r = 0; r < state_candles_rings_used(&k->st); r++) {
		struct candle_ring_hdr h;

		if (state_candles_ring_read(&k->st, r, NULL, 0, &h) >= 0 &&
		    h.inst == f->m[r].inst && h.interval == f->m[r].interval &&
		    f->m[r].start_ns > k->acked[r])
			k->acked[r] = f->m[r].start_ns;
	}
}

/* ---- producer ---- */

static void kc_on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct kc *k = opaque;
	uint64_t tag = (uint64_t)(uintptr_t)m->_private;
	uint32_t ring;
	int64_t start;

	(void)rk;
	if (k->resetting)
		return;
	if (m->err) {
		k->stv.errors++;
		k->reset = true;
		kc_warn(k, "delivery failed: %s; resuming", rd_kafka_err2str(m->err));
		return;
	}
	if (tag & KC_SNAP_TAG) {
		ring = (uint32_t)(tag >> 8) & 0xffffff;
		ENSURE(ring < k->nsnap && (tag & 0xff) < CANDLE_RING_LEN);
		start = k->snap[ring].c[tag & 0xff].start_ns;
	} else {
		struct kc_item *it = &k->q[tag & (KC_QUEUE - 1)];

		ENSURE(tag >= atomic_load(&k->q_head) && it->ring >= 0);
		ring = (uint32_t)it->ring;
		start = it->c.start_ns;
		atomic_store_explicit(&it->done, 1, memory_order_relaxed);
	}
	k->stv.acked++;
	if (ring < CANDLE_RINGS_MAX && start > k->acked[ring]) {
		k->acked[ring] = start;
		k->dirty++;
	}
}

static void kc_on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	struct kc *k = opaque;

	(void)rk;
	if (k->resetting)
		return;
	if (err == RD_KAFKA_RESP_ERR__FATAL ||
	    ((err == RD_KAFKA_RESP_ERR__TRANSPORT || err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) &&
	     k->rk && rd_kafka_outq_len(k->rk) > 0))
		k->reset = true;
	kc_warn(k, "%s: %s", rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

static rd_kafka_conf_t *kc_conf(struct kc *k, bool producer, char *err, size_t errlen)
{
	static const char *const prod[][2] = {
	        {"enable.idempotence", "true"},
	        {"acks", "all"},
	        {"message.timeout.ms", "0"},
	        {"enable.gapless.guarantee", "true"},
	        {"max.in.flight.requests.per.connection", "1"},
	        {"retry.backoff.ms", "1000"},
	};
	static const char *const cons[][2] = {
	        {"enable.partition.eof", "true"},
	        {"enable.auto.commit", "false"},
	        {"group.id", "trades-kafka-candles-resume"}, /* assign() needs one */
	};
	rd_kafka_conf_t *c = rd_kafka_conf_new();
	char why[512];
	bool ok = rd_kafka_conf_set(c, "bootstrap.servers", k->cfg.brokers, why, sizeof(why)) ==
	          RD_KAFKA_CONF_OK;

	for (unsigned i = 0; ok && producer && i < sizeof(prod) / sizeof(prod[0]); i++)
		ok = rd_kafka_conf_set(c, prod[i][0], prod[i][1], why, sizeof(why)) ==
		     RD_KAFKA_CONF_OK;
	for (unsigned i = 0; ok && !producer && i < sizeof(cons) / sizeof(cons[0]); i++)
		ok = rd_kafka_conf_set(c, cons[i][0], cons[i][1], why, sizeof(why)) ==
		     RD_KAFKA_CONF_OK;
	for (unsigned i = 0; ok && i < k->cfg.nopts; i++)
		ok = rd_kafka_conf_set(c, k->cfg.opt_key[i], k->cfg.opt_val[i], why, sizeof(why)) ==
		     RD_KAFKA_CONF_OK;
	if (!ok) {
		rd_kafka_conf_destroy(c);
		errfmt(err, errlen, "kafka candles: %s", why);
		return NULL;
	}
	rd_kafka_conf_set_opaque(c, k);
	rd_kafka_conf_set_error_cb(c, kc_on_error);
	if (producer)
		rd_kafka_conf_set_dr_msg_cb(c, kc_on_delivery);
	return c;
}

static void kc_drop(struct kc *k)
{
	k->resetting = true;
	if (k->rk) {
		rd_kafka_purge(k->rk, RD_KAFKA_PURGE_F_QUEUE);
		rd_kafka_flush(k->rk, KC_OP_MS);
		rd_kafka_purge(k->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
		for (unsigned i = 0; i < 100 && rd_kafka_outq_len(k->rk) > 0; i++)
			rd_kafka_poll(k->rk, 10);
		if (k->rkt)
			rd_kafka_topic_destroy(k->rkt);
		rd_kafka_destroy(k->rk);
	}
	k->rk = NULL;
	k->rkt = NULL;
	k->resetting = false;
}

/* ---- resume: partitions, cluster, tails ---- */

static int kc_metadata(struct kc *k)
{
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_resp_err_t e = rd_kafka_metadata(k->rk, 0, k->rkt, &md, KC_OP_MS);
	char *id;

	if (e == RD_KAFKA_RESP_ERR_NO_ERROR && md->topic_cnt == 1)
		e = md->topics[0].err;
	if (e != RD_KAFKA_RESP_ERR_NO_ERROR || md->topics[0].partition_cnt <= 0 ||
	    md->topics[0].partition_cnt > KC_PARTS_MAX) {
		kc_warn(k, "topic %s at %s: metadata: %s; retrying", k->cfg.topic, k->cfg.brokers,
		        rd_kafka_err2str(e));
		if (md)
			rd_kafka_metadata_destroy(md);
		return -1;
	}
	k->parts = md->topics[0].partition_cnt;
	rd_kafka_metadata_destroy(md);
	id = rd_kafka_clusterid(k->rk, KC_OP_MS);
	snprintf(k->cluster, sizeof(k->cluster), "%s", id ? id : "");
	if (id)
		rd_kafka_mem_free(k->rk, id);
	return 0;
}

/* One tail message: key = pair, header "candle" = "INTERVAL_NS:START_NS". */
static void kc_tail_message(struct kc *k, const rd_kafka_message_t *m)
{
	rd_kafka_headers_t *h = NULL;
	const void *v;
	size_t sz;
	char buf[64];
	long long iv, start;
	int64_t inst;
	int kk, ring;

	if (rd_kafka_message_headers(m, &h) != RD_KAFKA_RESP_ERR_NO_ERROR ||
	    rd_kafka_header_get_last(h, "candle", &v, &sz) != RD_KAFKA_RESP_ERR_NO_ERROR ||
	    sz >= sizeof(buf) || !m->key || m->key_len > TRADE_SYMBOL_MAX) {
		kc_warn(k, "topic %s [%d] offset %" PRId64 ": no candle header (another producer?)",
		        k->cfg.topic, m->partition, m->offset);
		return;
	}
	memcpy(buf, v, sz);
	buf[sz] = '\0';
	if (sscanf(buf, "%lld:%lld", &iv, &start) != 2)
		return;
	inst = state_lookup(&k->st, m->key, m->key_len);
	kk = inst < 0 ? -1 : state_candles_interval(&k->st, iv);
	ring = kk < 0 ? -1 : state_candles_ring_index(&k->st, (uint32_t)inst, (uint32_t)kk);
	if (ring >= 0 && start > k->sent[ring])
		k->sent[ring] = start;
}

static int kc_tails(struct kc *k)
{
	char err[512];
	rd_kafka_conf_t *conf = kc_conf(k, false, err, sizeof(err));
	rd_kafka_t *c = conf ? rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err)) : NULL;
	rd_kafka_topic_partition_list_t *l;
	int64_t deadline = timefmt_mono_ns() + KC_TAIL_MS * 1000000LL, lo, hi;
	int left = 0, rc = 0;

	if (!c) {
		if (conf)
			rd_kafka_conf_destroy(conf);
		kc_warn(k, "tail reader: %s", err);
		return -1;
	}
	l = rd_kafka_topic_partition_list_new(k->parts);
	for (int32_t p = 0; p < k->parts && rc == 0; p++) {
		if (rd_kafka_query_watermark_offsets(c, k->cfg.topic, p, &lo, &hi, KC_OP_MS))
			rc = -1;
		else if (hi > lo)
			rd_kafka_topic_partition_list_add(l, k->cfg.topic, p)->offset =
			        hi - lo > KC_WINDOW ? hi - KC_WINDOW : lo,
			                                                   left++;
	}
	if (rc == 0 && left > 0 && rd_kafka_assign(c, l) != RD_KAFKA_RESP_ERR_NO_ERROR)
		rc = -1;
	rd_kafka_topic_partition_list_destroy(l);
	while (rc == 0 && left > 0 && !atomic_load(&k->stop)) { /* bounded by the deadline */
		rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);

		if (m && m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
			left--;
		else if (m && m->err)
			rc = -1;
		else if (m)
			kc_tail_message(k, m);
		if (m)
			rd_kafka_message_destroy(m);
		if (timefmt_mono_ns() > deadline)
			rc = -1;
	}
	rd_kafka_assign(c, NULL);
	rd_kafka_consumer_close(c);
	rd_kafka_destroy(c);
	if (rc < 0 || left > 0)
		kc_warn(k, "topic %s: reading the partitions' tails failed; retrying",
		        k->cfg.topic);
	return rc < 0 || left > 0 ? -1 : 0;
}

static int kc_resume(struct kc *k)
{
	char err[512];
	rd_kafka_conf_t *c = kc_conf(k, true, err, sizeof(err));

	k->reset = false;
	k->rk = c ? rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof(err)) : NULL;
	if (!k->rk) {
		if (c)
			rd_kafka_conf_destroy(c);
		kc_warn(k, "producer: %s", err);
		return -1;
	}
	k->rkt = rd_kafka_topic_new(k->rk, k->cfg.topic, NULL);
	for (uint32_t r = 0; r < CANDLE_RINGS_MAX; r++)
		k->sent[r] = k->acked[r] = INT64_MIN;
	if (!k->rkt || kc_metadata(k) < 0 || (kc_load(k), kc_tails(k) < 0)) {
		kc_drop(k);
		return -1;
	}
	/* what the tails hold is delivered: into the file at once, so at most
	 * KC_WINDOW candles are ever beyond it */
	for (uint32_t r = 0; r < CANDLE_RINGS_MAX; r++)
		k->sent[r] = k->acked[r] = k->acked[r] > k->sent[r] ? k->acked[r] : k->sent[r];
	if (kc_persist(k) < 0) {
		kc_warn(k, "%s/%s: write: %s; retrying", k->cfg.state_dir, KC_MARKS_FILE,
		        strerror(errno));
		kc_drop(k);
		return -1;
	}
	k->unreflected = 0;
	k->stv.resumes++;
	log_info("kafka candles: topic %s: %d partitions, resuming (cluster %s)", k->cfg.topic,
	         k->parts, k->cluster);
	return 0;
}

/* ---- producing ---- */

/* Produces one candle of ring `ring` (sc->pair its key; tag the opaque the
 * delivery report gets back). */
static int kc_send(struct kc *k, uint32_t ring, const struct sink_candle *sc, uint64_t tag)
{
	char hdr[48];
	size_t n = sink_format_candle(sc, k->value, sizeof(k->value));
	int hl = snprintf(hdr, sizeof(hdr), "%lld:%lld", (long long)sc->interval_ns,
	                  (long long)sc->start_ns);
	rd_kafka_resp_err_t e;

	ENSURE(n > 0 && k->value[n - 1] == '\n');
	e = rd_kafka_producev(
	        k->rk, RD_KAFKA_V_RKT(k->rkt), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
	        RD_KAFKA_V_KEY(sc->pair, strlen(sc->pair)), RD_KAFKA_V_VALUE(k->value, n - 1),
	        RD_KAFKA_V_TIMESTAMP((sc->start_ns + sc->interval_ns) / 1000000),
	        RD_KAFKA_V_HEADER("candle", hdr, hl), RD_KAFKA_V_OPAQUE((void *)(uintptr_t)tag),
	        RD_KAFKA_V_END);
	if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
		k->stv.errors++;
		k->reset = true;
		kc_warn(k, "produce: %s; resuming", rd_kafka_err2str(e));
		return -1;
	}
	k->unreflected++;
	k->sent[ring] = sc->start_ns;
	k->stv.sent++;
	return 0;
}

/* Takes every ring's closed candles (engine not running yet). */
static int kc_snapshot(struct kc *k)
{
	uint32_t used = state_candles_rings_used(&k->st);

	k->snap = calloc(used ? used : 1, sizeof(*k->snap));
	if (!k->snap)
		return -1;
	for (uint32_t r = 0; r < used; r++) {
		struct kc_snap *sn = &k->snap[r];
		struct candle c[CANDLE_RING_LEN];
		int n = state_candles_ring_read(&k->st, r, c, CANDLE_RING_LEN, &sn->h);

		for (int i = 0; i < n; i++)
			if (state_candle_closed(&k->st, sn->h.interval, &c[i], sn->h.watermark_ns))
				sn->c[sn->n++] = c[i];
	}
	k->nsnap = used;
	return 0;
}

/* Produces the snapshot's candles newer than their ring's mark; true when
 * none is left (the queue's come after them). */
static bool kc_snap_send(struct kc *k)
{
	bool left = false;

	for (uint32_t r = 0; r < k->nsnap && !k->reset; r++) {
		const struct kc_snap *sn = &k->snap[r];
		struct state_instrument in;

		if (sn->n == 0 || sn->c[sn->n - 1].start_ns <= k->sent[r])
			continue;
		if (sn->n == CANDLE_RING_LEN && k->sent[r] != INT64_MIN &&
		    sn->c[0].start_ns > k->sent[r] && !k->overrun_seen[r]) {
			k->overrun_seen[r] = true;
			k->stv.overruns++; /* older candles left the ring before they were sent */
			kc_warn(k, "ring %u: more than %u candles behind; older ones were not sent",
			        r, CANDLE_RING_LEN);
		}
		if (state_read_instrument(&k->st, sn->h.inst, &in) != 0) {
			kc_warn(k, "instrument %u: unreadable; its candles are not sent",
			        sn->h.inst);
			continue;
		}
		for (uint32_t i = 0; i < sn->n && !k->reset && k->unreflected < KC_WINDOW; i++) {
			const struct candle *c = &sn->c[i];
			struct sink_candle sc = sink_candle_of(
			        c, in.symbol, state_candles_interval_ns(&k->st, sn->h.interval),
			        in.price_dp, in.qty_dp);

			if (c->start_ns > k->sent[r])
				kc_send(k, r, &sc, KC_SNAP_TAG | (uint64_t)r << 8 | i);
		}
		left = left || sn->c[sn->n - 1].start_ns > k->sent[r];
	}
	return !left && !k->reset;
}

/* The queue entry's ring (resolved once, in the thread's own mapping). */
static int32_t kc_item_ring(struct kc *k, struct kc_item *it)
{
	int64_t inst;
	int kk;

	if (it->ring != INT32_MIN)
		return it->ring;
	inst = state_lookup(&k->st, it->pair, strlen(it->pair));
	kk = inst < 0 ? -1 : state_candles_interval(&k->st, it->c.interval_ns);
	it->ring = kk < 0 ? -1 : state_candles_ring_index(&k->st, (uint32_t)inst, (uint32_t)kk);
	return it->ring;
}

/* Produces queue entries from q_next while the window has room, and frees
 * the acknowledged ones at the head. */
static void kc_drain(struct kc *k)
{
	uint64_t tail = atomic_load_explicit(&k->q_tail, memory_order_acquire);
	uint64_t head = atomic_load_explicit(&k->q_head, memory_order_relaxed);

	for (; k->q_next < tail && !k->reset && k->unreflected < KC_WINDOW; k->q_next++) {
		struct kc_item *it = &k->q[k->q_next & (KC_QUEUE - 1)];
		int32_t r = kc_item_ring(k, it);

		if (atomic_load_explicit(&it->done, memory_order_relaxed))
			continue;
		if (r < 0 || it->c.start_ns <= k->sent[r]) {
			atomic_store_explicit(&it->done, 1, memory_order_relaxed);
			continue; /* in the topic already (or no ring: cannot happen) */
		}
		if (kc_send(k, (uint32_t)r, &it->c, k->q_next) < 0)
			break; /* reset: re-walked from the head after the resume */
	}
	while (head < k->q_next &&
	       atomic_load_explicit(&k->q[head & (KC_QUEUE - 1)].done, memory_order_relaxed))
		head++;
	atomic_store_explicit(&k->q_head, head, memory_order_release);
}

/* Engine side (sink.candle): queue a copy, no allocation; a full queue (the
 * broker down for long) is counted and logged at stop, the candle not sent. */
static int kc_candle(struct sink *s, const struct sink_candle *c)
{
	struct kc *k = s->ctx;
	uint64_t tail = atomic_load_explicit(&k->q_tail, memory_order_relaxed);
	struct kc_item *it;

	if (tail - atomic_load_explicit(&k->q_head, memory_order_acquire) >= KC_QUEUE) {
		atomic_fetch_add_explicit(&k->q_dropped, 1, memory_order_relaxed);
		return -1;
	}
	it = &k->q[tail & (KC_QUEUE - 1)];
	it->c = *c;
	snprintf(it->pair, sizeof(it->pair), "%s", c->pair);
	it->c.pair = it->pair;
	it->ring = INT32_MIN;
	atomic_store_explicit(&it->done, 0, memory_order_relaxed);
	atomic_store_explicit(&k->q_tail, tail + 1, memory_order_release);
	return 0;
}

static void kc_publish(struct kc *k, bool force)
{
	int64_t now = timefmt_mono_ns();
	uint64_t inflight = k->rk ? (uint64_t)rd_kafka_outq_len(k->rk) : 0;

	if (!force && now - k->persist_ns < SINK_KAFKA_PERSIST_MS * 1000000LL &&
	    k->unreflected < KC_WINDOW / 2)
		return;
	k->persist_ns = now;
	k->stv.inflight = inflight;
	pthread_mutex_lock(&k->lock);
	k->pub = k->stv;
	pthread_mutex_unlock(&k->lock);
	if (!k->dirty && !force)
		return;
	if (kc_persist(k) < 0) {
		kc_warn(k, "%s/%s: write: %s", k->cfg.state_dir, KC_MARKS_FILE, strerror(errno));
		return;
	}
	k->dirty = 0;
	k->unreflected = inflight; /* what may be in the topic beyond the file */
}

static void *kc_thread(void *arg)
{
	struct kc *k = arg;

	while (!atomic_load(&k->stop)) { /* ends at stop */
		if (!k->rk) {
			struct timespec ts = {0, KC_RETRY_MS * 1000000L};

			if (kc_resume(k) < 0) {
				nanosleep(&ts, NULL);
				continue;
			}
			k->q_next = atomic_load(&k->q_head); /* re-walk what is not acked */
			k->snap_done = false;
		}
		rd_kafka_poll(k->rk, 10);
		if (!k->reset && !k->snap_done)
			k->snap_done = kc_snap_send(k);
		if (!k->reset && k->snap_done)
			kc_drain(k);
		kc_publish(k, false);
		if (k->reset)
			kc_drop(k);
	}
	if (k->rk && !k->reset && k->snap_done) {
		kc_drain(k); /* what closed before the stop */
		rd_kafka_flush(k->rk, (int)k->cfg.stop_ms);
	}
	kc_publish(k, true);
	kc_drop(k);
	return NULL;
}

/* ---- lifecycle ---- */

static char *kc_keep(struct kc *k, const char *s)
{
	char *c = s ? strdup(s) : NULL;

	ENSURE(k->nstrs < sizeof(k->strs) / sizeof(k->strs[0]));
	if (c)
		k->strs[k->nstrs++] = c;
	return c;
}

static void kc_free(struct kc *k)
{
	if (!k)
		return;
	if (k->st.map)
		state_close(&k->st, false);
	for (unsigned i = 0; i < k->nstrs; i++)
		free(k->strs[i]);
	free(k->q);
	free(k->snap);
	free(k);
}

static int kc_write(struct sink *s, const struct trade *t, const char *pair, const char *feed)
{
	(void)s, (void)t, (void)pair, (void)feed; /* the thread reads the state itself */
	return 0;
}

static void kc_close(struct sink *s)
{
	struct kc *k = s->ctx;

	atomic_store(&k->stop, true);
	pthread_join(k->thread, NULL);
	log_info("kafka candles: stopped: %" PRIu64 " sent, %" PRIu64 " acked, %" PRIu64
	         " errors, %" PRIu64 " resumes, %" PRIu64 " overruns, %" PRIu64 " queue drops",
	         k->stv.sent, k->stv.acked, k->stv.errors, k->stv.resumes, k->stv.overruns,
	         (uint64_t)atomic_load(&k->q_dropped));
	pthread_mutex_destroy(&k->lock);
	kc_free(k);
}

static int kc_copy(struct kc *k, const struct sink_kafka_candles_config *cfg)
{
	bool ok;

	k->cfg = *cfg;
	k->cfg.state_dir = kc_keep(k, cfg->state_dir);
	k->cfg.brokers = kc_keep(k, cfg->brokers);
	k->cfg.topic = kc_keep(k, cfg->topic);
	ok = k->cfg.state_dir && k->cfg.brokers && k->cfg.topic &&
	     cfg->nopts <= SINK_KAFKA_OPTS_MAX;
	for (unsigned i = 0; ok && i < cfg->nopts; i++) {
		k->cfg.opt_key[i] = kc_keep(k, cfg->opt_key[i]);
		k->cfg.opt_val[i] = kc_keep(k, cfg->opt_val[i]);
		ok = k->cfg.opt_key[i] && k->cfg.opt_val[i];
	}
	if (k->cfg.stop_ms == 0)
		k->cfg.stop_ms = SINK_KAFKA_STOP_MS;
	return ok ? 0 : -1;
}

struct sink *sink_kafka_candles_start(const struct sink_kafka_candles_config *cfg, char *err,
                                      size_t errlen)
{
	struct kc *k = calloc(1, sizeof(*k));
	rd_kafka_conf_t *c;
	int e;

	if (!k || kc_copy(k, cfg) < 0 || !(k->q = calloc(KC_QUEUE, sizeof(*k->q)))) {
		kc_free(k);
		errfmt(err, errlen, "kafka candles: calloc: %s", strerror(ENOMEM));
		return NULL;
	}
	k->rl = (struct ratelimit)RATELIMIT_INIT(10, 10);
	if (!(c = kc_conf(k, true, err, errlen)) ||
	    state_open(&k->st, k->cfg.state_dir, STATE_OPEN_READ, 0, err, errlen) < 0) {
		kc_free(k);
		return NULL;
	}
	if (kc_snapshot(k) < 0) {
		rd_kafka_conf_destroy(c);
		kc_free(k);
		errfmt(err, errlen, "kafka candles: calloc: %s", strerror(ENOMEM));
		return NULL;
	}
	rd_kafka_conf_destroy(c);
	pthread_mutex_init(&k->lock, NULL);
	atomic_init(&k->stop, false);
	k->sink.name = "kafka-candles";
	k->sink.write = kc_write;
	k->sink.candle = kc_candle;
	k->sink.close = kc_close;
	k->sink.ctx = k;
	e = pthread_create(&k->thread, NULL, kc_thread, k);
	if (e != 0) {
		errfmt(err, errlen, "kafka candles: pthread_create: %s", strerror(e));
		pthread_mutex_destroy(&k->lock);
		kc_free(k);
		return NULL;
	}
	return &k->sink;
}

void sink_kafka_candles_status_get(struct sink *s, struct sink_kafka_candles_status *st)
{
	struct kc *k = s->ctx;

	pthread_mutex_lock(&k->lock);
	*st = k->pub;
	pthread_mutex_unlock(&k->lock);
	st->queue_dropped = atomic_load_explicit(&k->q_dropped, memory_order_relaxed);
}
