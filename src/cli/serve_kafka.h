/* serve_kafka.h -- `trades serve` options of the Kafka sink, and starting
 * it once the pipeline is open.  Private to src/cli/.
 *
 *   --kafka BROKERS        bootstrap servers; env KAFKA_BROKER_ADDRESS
 *   --kafka-topic T        env KAFKA_TOPIC, then KAFKA_TOPIC_NAME (trades)
 *   --kafka-opt KEY=VALUE  any librdkafka property (repeatable)
 *   --kafka-keys P,V       JSON keys for "pair" and "volume" (e.g.
 *                          product_id,quantity)
 *   --kafka-candles-topic T  closed candles to topic T too (needs --kafka)
 * In a build without librdkafka each of them (and KAFKA_BROKER_ADDRESS)
 * is a usage error that says so. */
#ifndef TRADES_CLI_SERVE_KAFKA_H
#define TRADES_CLI_SERVE_KAFKA_H

#include <getopt.h>
#include <stdbool.h>

#include "trades/pipeline.h"
#include "trades/sink_kafka.h"

#define CLI_KAFKA_OPT_BYTES 512 /* one --kafka-opt KEY=VALUE, with its NUL */

struct cli_kafka {
	const char *brokers; /* NULL: no Kafka sink */
	const char *topic;
	const char *candles_topic;             /* NULL: no candle topic */
	char pair_key[SINK_KAFKA_KEY_MAX + 1]; /* "" unchanged */
	char volume_key[SINK_KAFKA_KEY_MAX + 1];
	unsigned nopts;
	char opt[SINK_KAFKA_OPTS_MAX][CLI_KAFKA_OPT_BYTES]; /* "KEY\0VALUE" */
	/* Set by cli_kafka_start, for the operations figures (cli_ops_publish);
	 * valid until pipeline_close. */
	struct sink_kafka *trades_sink;
	struct sink *candles_sink;
};

#define CLI_KAFKA_OPTIONS                                                                          \
	{"kafka", required_argument, 0, 1101}, {"kafka-topic", required_argument, 0, 1102},        \
	        {"kafka-opt", required_argument, 0, 1103},                                         \
	        {"kafka-keys", required_argument, 0, 1104},                                        \
	{                                                                                          \
		"kafka-candles-topic", required_argument, 0, 1105                                  \
	}
#define CLI_KAFKA_HELP                                                                             \
	"  --kafka BROKERS    also produce every journal trade to Kafka (key: pair, value:\n"      \
	"                     the JSON line, header jseq); exactly once across restarts\n"         \
	"                                                    env KAFKA_BROKER_ADDRESS\n"           \
	"  --kafka-topic T    topic (trades)       env KAFKA_TOPIC, KAFKA_TOPIC_NAME\n"            \
	"  --kafka-opt K=V    librdkafka property (repeatable), e.g. security.protocol=ssl\n"      \
	"  --kafka-keys P,V   rename the keys pair and volume, e.g. product_id,quantity\n"         \
	"  --kafka-candles-topic T  closed candles to topic T (key pair, exact decimals);\n"       \
	"                     each once across restarts\n"

/* Defaults from the environment.  0, or -1 (printed) for a usage error. */
int cli_kafka_env(struct cli_kafka *o);
/* One of CLI_KAFKA_OPTIONS: 1 handled, 0 not one of them, -1 bad value
 * (printed). */
int cli_kafka_opt(int c, const char *arg, struct cli_kafka *o);
/* After pipeline_open: starts the sink if --kafka was given and registers
 * it with the pipeline (pipeline_close stops it).  CLI_OK, or an exit code
 * (message logged). */
int cli_kafka_start(struct cli_kafka *o, struct pipeline *p, const char *state_dir);

#endif
