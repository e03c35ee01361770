/* kafka_int.h -- what kafka.c (thread, producer, delivery reports) and
 * kafka_resume.c (reading the partitions' tails) share.  Private to
 * src/sink/. */
#ifndef TRADES_SINK_KAFKA_INT_H
#define TRADES_SINK_KAFKA_INT_H

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>

#include "trades/journal.h"
#include "trades/log.h"
#include "trades/sink.h"
#include "trades/sink_kafka.h"

#define KAFKA_PARTITIONS_MAX 4096  /* a topic with more is refused at resume */
#define KAFKA_BATCH          1024  /* journal entries read between two polls */
#define KAFKA_IDLE_MS        5     /* poll wait when the journal has nothing new */
#define KAFKA_RETRY_MS       1000  /* between two resume attempts */
#define KAFKA_OP_MS          2000  /* a metadata or watermark request */
#define KAFKA_TAIL_MS        10000 /* reading the tails of every partition */
#define KAFKA_FEED_NAME_MAX  64
#define KAFKA_VALUE_MAX      (SINK_JSON_MAX + 2 * SINK_KAFKA_KEY_MAX)
_Static_assert(SINK_KAFKA_INFLIGHT >= KAFKA_BATCH, "a batch fits the in-flight window");
_Static_assert(KAFKA_PARTITIONS_MAX < (1 << 13), "partition + 1 fits an inst_part tag's 13 bits");

typedef int32_t (*kafka_partitioner)(const rd_kafka_topic_t *rkt, const void *key, size_t keylen,
                                     int32_t partition_cnt, void *rkt_opaque, void *msg_opaque);

struct kafka_slot {
	uint64_t jseq; /* journal entry of the message */
	uint8_t done;  /* delivery report received, success */
};

struct sink_kafka {
	struct sink sink;
	struct sink_kafka_config cfg; /* strings below are owned copies */
	char *strs[4 + 2 * SINK_KAFKA_OPTS_MAX];
	unsigned nstrs;
	kafka_partitioner partitioner;

	char (*inst)[TRADE_SYMBOL_MAX + 1]; /* id -> symbol, cfg.inst_cap slots */
	uint32_t *inst_part; /* id -> (resume generation << 13) | (partition + 1); lazily valid */
	uint32_t gen;        /* resume generation: older inst_part tags are stale */
	char feed[TRADE_FEED_MAX][KAFKA_FEED_NAME_MAX];

	struct kafka_slot *ring; /* SINK_KAFKA_INFLIGHT slots */
	uint64_t head, tail;     /* produce numbers: [head, tail) unacknowledged */

	rd_kafka_t *rk; /* NULL while resuming */
	rd_kafka_topic_t *rkt;
	int32_t parts;
	uint64_t last[KAFKA_PARTITIONS_MAX];     /* L[p]: last jseq the topic holds */
	uint64_t skip_max;                       /* max L[p]: the skip check ends there */
	int64_t tail_want[KAFKA_PARTITIONS_MAX]; /* offset of p's last message, -1 empty */
	uint8_t tail_done[KAFKA_PARTITIONS_MAX]; /* p's tail read to its end */
	struct journal_reader rd;
	bool rd_open;
	bool reset;     /* the topic may be in doubt: drop the producer, resume */
	bool resetting; /* reports seen while dropping are ignored */
	bool cursor_loaded;

	pthread_t thread;
	atomic_bool stop;
	pthread_mutex_t lock;         /* guards pub */
	struct sink_kafka_status st;  /* the thread's own */
	struct sink_kafka_status pub; /* the last copy published */
	int64_t persist_ns;           /* monotonic time of the last file write */
	struct ratelimit rl;          /* sink's own warnings */
	char line[SINK_JSON_MAX];
	char value[KAFKA_VALUE_MAX];
};

/* librdkafka configuration for the producer (producer true) or the tail
 * reader, with every --kafka-opt applied.  NULL with err filled. */
rd_kafka_conf_t *kafka_conf(struct sink_kafka *k, bool producer, char *err, size_t errlen);

/* The resume: producer, metadata, tails, reader positioned.  0 streaming,
 * -1 try again later (logged), -2 give up (the topic is ahead of the
 * journal: logged, phase FAILED). */
int kafka_resume(struct sink_kafka *k);

/* Drops the producer and the reader after a failure or at stop. */
void kafka_drop(struct sink_kafka *k);

/* Rate-limited warning of the sink. */
void kafka_warn(struct sink_kafka *k, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
