/* serve_kafka.c -- the Kafka sink's options for `trades serve` (see
 * serve_kafka.h) and its start after pipeline_open. */
#include "serve_kafka.h"

#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "config.h"
#include "trades/log.h"
#include "trades/sink.h"

static int cli_kafka_missing(const char *what)
{
	fprintf(stderr,
	        "trades serve: %s: this build has no Kafka sink (librdkafka was not found at "
	        "build time: install librdkafka-dev and configure with -Dkafka=enabled)\n",
	        what);
	return -1;
}

int cli_kafka_env(struct cli_kafka *o)
{
	memset(o, 0, sizeof(*o));
	o->brokers = cli_env("KAFKA_BROKER_ADDRESS", NULL);
	o->topic = cli_env("KAFKA_TOPIC", cli_env("KAFKA_TOPIC_NAME", "trades"));
	if (!HAVE_KAFKA && o->brokers)
		return cli_kafka_missing("KAFKA_BROKER_ADDRESS is set");
	return 0;
}

/* "P,V": the two renamed keys. */
static int cli_kafka_keys(const char *arg, struct cli_kafka *o)
{
	const char *comma = strchr(arg, ',');
	size_t pl = comma ? (size_t)(comma - arg) : 0;

	if (!comma || pl > SINK_KAFKA_KEY_MAX || strlen(comma + 1) > SINK_KAFKA_KEY_MAX)
		goto bad;
	memcpy(o->pair_key, arg, pl);
	o->pair_key[pl] = '\0';
	strcpy(o->volume_key, comma + 1);
	if (sink_kafka_key_ok(o->pair_key) && sink_kafka_key_ok(o->volume_key))
		return 0;
bad:
	fprintf(stderr,
	        "trades serve: --kafka-keys '%s': use PAIR_KEY,VOLUME_KEY (e.g. "
	        "product_id,quantity), each 1..%d of [A-Za-z0-9_]\n",
	        arg, SINK_KAFKA_KEY_MAX);
	return -1;
}

static int cli_kafka_kv(const char *arg, struct cli_kafka *o)
{
	const char *eq = strchr(arg, '=');
	char *slot;

	if (o->nopts >= SINK_KAFKA_OPTS_MAX) {
		fprintf(stderr, "trades serve: more than %d --kafka-opt\n", SINK_KAFKA_OPTS_MAX);
		return -1;
	}
	if (!eq || eq == arg || strlen(arg) >= CLI_KAFKA_OPT_BYTES) {
		fprintf(stderr, "trades serve: --kafka-opt '%s': use KEY=VALUE (< %d bytes)\n", arg,
		        CLI_KAFKA_OPT_BYTES);
		return -1;
	}
	slot = o->opt[o->nopts++];
	strcpy(slot, arg);
	slot[eq - arg] = '\0';
	return 0;
}

int cli_kafka_opt(int c, const char *arg, struct cli_kafka *o)
{
	if (c < 1101 || c > 1105)
		return 0;
	if (!HAVE_KAFKA)
		return cli_kafka_missing(c == 1101   ? "--kafka"
		                         : c == 1102 ? "--kafka-topic"
		                         : c == 1103 ? "--kafka-opt"
		                         : c == 1104 ? "--kafka-keys"
		                                     : "--kafka-candles-topic");
	switch (c) {
	case 1101:
		o->brokers = arg[0] ? arg : NULL;
		return 1;
	case 1102:
		o->topic = arg;
		return 1;
	case 1103:
		return cli_kafka_kv(arg, o) < 0 ? -1 : 1;
	case 1105:
		o->candles_topic = arg;
		return 1;
	default:
		return cli_kafka_keys(arg, o) < 0 ? -1 : 1;
	}
}

#if HAVE_KAFKA
static void cli_kafka_config(const struct cli_kafka *o, const struct pipeline *p,
                             const char *state_dir, struct sink_kafka_config *cfg)
{
	unsigned i;

	memset(cfg, 0, sizeof(*cfg));
	cfg->state_dir = state_dir;
	cfg->brokers = o->brokers;
	cfg->topic = o->topic;
	cfg->pair_key = o->pair_key[0] ? o->pair_key : NULL;
	cfg->volume_key = o->volume_key[0] ? o->volume_key : NULL;
	cfg->nopts = o->nopts;
	for (i = 0; i < o->nopts; i++) {
		cfg->opt_key[i] = o->opt[i];
		cfg->opt_val[i] = o->opt[i] + strlen(o->opt[i]) + 1;
	}
	cfg->inst_cap = pipeline_state(p)->hdr->inst_cap;
}
#endif

#if HAVE_KAFKA
/* A started sink (NULL: failed, err says why) joins the pipeline; closed on
 * failure.  CLI_OK or CLI_FAIL (logged). */
static int cli_kafka_add(struct pipeline *p, struct sink *s, const char *err)
{
	if (!s) {
		log_error("%s", err);
		return CLI_FAIL;
	}
	if (pipeline_add_sink(p, s) < 0) {
		log_error("kafka: more than %d sinks", PIPELINE_SINKS_MAX);
		s->close(s);
		return CLI_FAIL;
	}
	return CLI_OK;
}

/* The closed-candles topic (--kafka-candles-topic), after the trades one. */
static int cli_kafka_candles(struct cli_kafka *o, struct pipeline *p, const char *state_dir)
{
	struct sink_kafka_candles_config cfg = {
	        .state_dir = state_dir, .brokers = o->brokers, .topic = o->candles_topic};
	struct sink *s;
	char err[512];

	if (!o->candles_topic)
		return CLI_OK;
	if (strcmp(o->candles_topic, o->topic) == 0) {
		log_error("kafka: --kafka-candles-topic %s is the trades topic", o->candles_topic);
		return CLI_USAGE;
	}
	cfg.nopts = o->nopts;
	for (unsigned i = 0; i < o->nopts; i++) {
		cfg.opt_key[i] = o->opt[i];
		cfg.opt_val[i] = o->opt[i] + strlen(o->opt[i]) + 1;
	}
	s = sink_kafka_candles_start(&cfg, err, sizeof(err));
	if (cli_kafka_add(p, s, err) != CLI_OK)
		return CLI_FAIL;
	o->candles_sink = s;
	log_info("kafka: producing closed candles to topic %s", o->candles_topic);
	return CLI_OK;
}
#endif

int cli_kafka_start(struct cli_kafka *o, struct pipeline *p, const char *state_dir)
{
#if HAVE_KAFKA
	struct sink_kafka_config cfg;
	struct sink_kafka *k;
	struct sink *s;
	char err[512];
	uint32_t i, n;

	if (!o->brokers) {
		if (!o->candles_topic)
			return CLI_OK;
		log_error("kafka: --kafka-candles-topic %s needs --kafka BROKERS",
		          o->candles_topic);
		return CLI_USAGE;
	}
	cli_kafka_config(o, p, state_dir, &cfg);
	k = sink_kafka_new(&cfg, err, sizeof(err));
	if (!k) {
		log_error("%s", err);
		return CLI_USAGE;
	}
	/* Names defined before the sink's resume point are not in what it
	 * reads: hand it the ones known now (this thread owns the state). */
	n = atomic_load(&pipeline_state(p)->hdr->inst_count);
	for (i = 0; i < n; i++)
		sink_kafka_define(k, 'i', i, pipeline_symbol(p, i));
	for (i = 0; i < TRADE_FEED_MAX; i++)
		sink_kafka_define(k, 'f', i, pipeline_feed_name(p, (uint16_t)i));
	s = sink_kafka_start(k, err, sizeof(err));
	if (cli_kafka_add(p, s, err) != CLI_OK)
		return CLI_FAIL;
	o->trades_sink = k;
	log_info("kafka: producing topic %s at %s from its own thread", o->topic, o->brokers);
	return cli_kafka_candles(o, p, state_dir);
#else
	(void)p;
	(void)state_dir;
	return o->brokers ? CLI_USAGE : CLI_OK;
#endif
}
