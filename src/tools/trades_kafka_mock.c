/* trades-kafka-mock -- librdkafka's mock Kafka cluster as a process of its
 * own, for the Kafka sink's tests and benchmark (not a broker: it keeps
 * about 5 MiB per partition and de-duplicates only transactional
 * producers).
 *
 *   trades-kafka-mock [--brokers N] [--topic T] [--partitions P]
 *
 * Listens on 127.0.0.1 ephemeral ports, creates topic T (default "trades",
 * 4 partitions), prints "bootstrap HOST:PORT,..." and "ready", then reads
 * commands on stdin, one per line, answering "ok" or "error: WHY":
 *   down [ID]          broker ID (1..N; all when omitted) closes its
 *                      connections and refuses new ones
 *   up [ID]            the reverse
 *   errors N [CODE]    the next N Produce requests fail with CODE (a name
 *                      such as NOT_LEADER_FOR_PARTITION, or a number;
 *                      default NOT_LEADER_FOR_PARTITION)
 *   rtt MS [ID]        delay every answer by MS
 *   topic NAME P       create another topic
 *   quit (or EOF)      destroy the cluster and exit 0
 * Exit codes: 0 ok, 1 the cluster could not start, 2 usage.
 */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MOCK_BROKERS_MAX 16
#define MOCK_LINE_MAX    256
#define MOCK_API_PRODUCE 0 /* Kafka protocol ApiKey of Produce */

static int mock_num(const char *s, long min, long max, long *out)
{
	char *end;

	if (!s || !*s)
		return -1;
	*out = strtol(s, &end, 10);
	return *end || *out < min || *out > max ? -1 : 0;
}

/* An error code by name (with or without "ERR_") or number; -1 if unknown. */
static long mock_err_code(const char *s)
{
	const struct rd_kafka_err_desc *d;
	size_t n, i;
	long v;

	if (mock_num(s, -200, 200, &v) == 0)
		return v;
	if (strncmp(s, "ERR_", 4) == 0)
		s += 4;
	rd_kafka_get_err_descs(&d, &n);
	for (i = 0; i < n; i++)
		if (d[i].name && strcmp(d[i].name, s) == 0)
			return d[i].code;
	return -1;
}

/* down/up/rtt on broker ID or all of them. */
static const char *mock_brokers(rd_kafka_mock_cluster_t *mc, int nbrokers, const char *verb,
                                const char *arg, long rtt)
{
	long id, lo = 1, hi = nbrokers;
	rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;

	if (arg) {
		if (mock_num(arg, 1, nbrokers, &id) < 0)
			return "no such broker";
		lo = hi = id;
	}
	for (id = lo; id <= hi && !e; id++) {
		if (strcmp(verb, "down") == 0)
			e = rd_kafka_mock_broker_set_down(mc, (int32_t)id);
		else if (strcmp(verb, "up") == 0)
			e = rd_kafka_mock_broker_set_up(mc, (int32_t)id);
		else
			e = rd_kafka_mock_broker_set_rtt(mc, (int32_t)id, (int)rtt);
	}
	return e ? rd_kafka_err2str(e) : NULL;
}

static const char *mock_command(rd_kafka_mock_cluster_t *mc, int nbrokers, char *line)
{
	char *save = NULL, *verb = strtok_r(line, " \t\r\n", &save);
	char *a1 = verb ? strtok_r(NULL, " \t\r\n", &save) : NULL;
	char *a2 = a1 ? strtok_r(NULL, " \t\r\n", &save) : NULL;
	long n, code, i;

	if (!verb)
		return "empty command";
	if (strcmp(verb, "down") == 0 || strcmp(verb, "up") == 0)
		return mock_brokers(mc, nbrokers, verb, a1, 0);
	if (strcmp(verb, "rtt") == 0)
		return mock_num(a1, 0, 600000, &n) < 0 ? "rtt MS [ID]"
		                                       : mock_brokers(mc, nbrokers, verb, a2, n);
	if (strcmp(verb, "errors") == 0) {
		code = a2 ? mock_err_code(a2) : RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION;
		if (mock_num(a1, 1, 100000, &n) < 0 || code < 0)
			return "errors N [CODE]";
		for (i = 0; i < n; i++)
			rd_kafka_mock_push_request_errors(mc, MOCK_API_PRODUCE, 1,
			                                  (rd_kafka_resp_err_t)code);
		return NULL;
	}
	if (strcmp(verb, "topic") == 0) {
		if (!a1 || mock_num(a2, 1, 10000, &n) < 0)
			return "topic NAME PARTITIONS";
		code = rd_kafka_mock_topic_create(mc, a1, (int)n, 1);
		return code ? rd_kafka_err2str((rd_kafka_resp_err_t)code) : NULL;
	}
	return "unknown command (down, up, errors, rtt, topic, quit)";
}

static void mock_usage(void)
{
	fprintf(stderr, "usage: trades-kafka-mock [--brokers N] [--topic T] [--partitions P]\n"
	                "commands on stdin: down [ID], up [ID], errors N [CODE], rtt MS [ID],\n"
	                "topic NAME P, quit\n");
}

static int mock_args(int argc, char **argv, long *nb, const char **topic, long *parts)
{
	int i;

	for (i = 1; i < argc; i++) {
		if (i + 1 < argc && strcmp(argv[i], "--brokers") == 0 &&
		    mock_num(argv[i + 1], 1, MOCK_BROKERS_MAX, nb) == 0)
			i++;
		else if (i + 1 < argc && strcmp(argv[i], "--partitions") == 0 &&
		         mock_num(argv[i + 1], 1, 10000, parts) == 0)
			i++;
		else if (i + 1 < argc && strcmp(argv[i], "--topic") == 0 && argv[i + 1][0])
			*topic = argv[++i];
		else
			return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	long nb = 1, parts = 4;
	const char *topic = "trades", *why;
	char line[MOCK_LINE_MAX], err[512];
	rd_kafka_mock_cluster_t *mc;
	rd_kafka_resp_err_t e;
	rd_kafka_t *rk;

	if (mock_args(argc, argv, &nb, &topic, &parts) < 0) {
		mock_usage();
		return 2;
	}
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, rd_kafka_conf_new(), err, sizeof(err));
	if (!rk) {
		fprintf(stderr, "trades-kafka-mock: rd_kafka_new: %s\n", err);
		return 1;
	}
	mc = rd_kafka_mock_cluster_new(rk, (int)nb);
	if (!mc) {
		fprintf(stderr, "trades-kafka-mock: rd_kafka_mock_cluster_new failed\n");
		rd_kafka_destroy(rk);
		return 1;
	}
	e = rd_kafka_mock_topic_create(mc, topic, (int)parts, 1);
	if (e) {
		fprintf(stderr, "trades-kafka-mock: topic %s: %s\n", topic, rd_kafka_err2str(e));
		return 1;
	}
	printf("bootstrap %s\nready\n", rd_kafka_mock_cluster_bootstraps(mc));
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin)) { /* until EOF or quit */
		if (strncmp(line, "quit", 4) == 0)
			break;
		why = mock_command(mc, (int)nb, line);
		if (why)
			printf("error: %s\n", why);
		else
			printf("ok\n");
		fflush(stdout);
	}
	rd_kafka_mock_cluster_destroy(mc);
	rd_kafka_destroy(rk);
	return 0;
}
