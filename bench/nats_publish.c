/* nats_publish.c -- the NATS JetStream peer of the benchmark harness.
 *
 *   bench_nats_publish URL FILE
 *
 * Connects to a nats-server started with -js, (re)creates the stream TRADES
 * (subject "trades", file storage), then publishes every line of FILE (the
 * same JSON-lines trades `trades` gets) with js_PublishAsync, at most
 * NP_PENDING in flight, and waits until the server has acknowledged every
 * one (js_PublishAsyncComplete).  Prints
 *   published N acked A errors E seconds S
 * S from the first publish to the last ack.  Exit 0 only if A == N.
 */
#include <fcntl.h>
#include <nats/nats.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define NP_PROG      "bench_nats_publish"
#define NP_PENDING   65536 /* async publishes in flight */
#define NP_WAIT_MS   60000 /* longest wait for the last acks */
#define NP_LINES_MAX 100000000ull

static uint64_t np_errors;

static void np_on_error(jsCtx *js, jsPubAckErr *pae, void *closure)
{
	(void)js;
	(void)pae;
	(void)closure;
	np_errors++;
}

static int64_t np_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int np_die(const char *what, natsStatus s)
{
	fprintf(stderr, NP_PROG ": %s: %s\n", what, natsStatus_GetText(s));
	return 1;
}

static int np_stream(jsCtx *js)
{
	jsStreamConfig sc;
	jsErrCode jerr = 0;
	const char *subjects[] = {"trades"};
	natsStatus s;

	js_DeleteStream(js, "TRADES", NULL, &jerr);
	jsStreamConfig_Init(&sc);
	sc.Name = "TRADES";
	sc.Subjects = subjects;
	sc.SubjectsLen = 1;
	sc.Storage = js_FileStorage;
	s = js_AddStream(NULL, js, &sc, NULL, &jerr);
	return s == NATS_OK ? 0 : np_die("js_AddStream", s);
}

static int np_publish(jsCtx *js, const char *data, size_t len)
{
	const char *p = data, *end = data + len, *nl;
	jsPubOptions po;
	uint64_t n = 0;
	int64_t t0 = np_now_ns();
	natsStatus s;

	while (p < end && n < NP_LINES_MAX) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			nl = end;
		s = js_PublishAsync(js, "trades", p, (int)(nl - p), NULL);
		if (s != NATS_OK)
			return np_die("js_PublishAsync", s);
		n++;
		p = nl + 1;
	}
	jsPubOptions_Init(&po);
	po.MaxWait = NP_WAIT_MS;
	s = js_PublishAsyncComplete(js, &po);
	if (s != NATS_OK)
		return np_die("js_PublishAsyncComplete", s);
	printf("published %llu acked %llu errors %llu seconds %.6f\n", (unsigned long long)n,
	       (unsigned long long)(n - np_errors), (unsigned long long)np_errors,
	       (double)(np_now_ns() - t0) / 1e9);
	return np_errors ? 1 : 0;
}

int main(int argc, char **argv)
{
	natsConnection *nc = NULL;
	jsCtx *js = NULL;
	jsOptions jo;
	struct stat st;
	void *map;
	int fd, rc;
	natsStatus s;

	if (argc != 3) {
		fprintf(stderr, "usage: " NP_PROG " NATS_URL FILE\n");
		return 2;
	}
	fd = open(argv[2], O_RDONLY);
	if (fd < 0 || fstat(fd, &st) < 0 || st.st_size == 0) {
		fprintf(stderr, NP_PROG ": %s: cannot read\n", argv[2]);
		return 1;
	}
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
	if (map == MAP_FAILED)
		return 1;
	s = natsConnection_ConnectTo(&nc, argv[1]);
	if (s != NATS_OK)
		return np_die(argv[1], s);
	jsOptions_Init(&jo);
	jo.PublishAsync.MaxPending = NP_PENDING;
	/* On a loaded machine the server's acks lag: a publish that finds
	 * NP_PENDING in flight waits for room, and an ack may take longer than
	 * the 5 s default, rather than failing the run (it did, once, in CI). */
	jo.PublishAsync.StallWait = NP_WAIT_MS;
	jo.Wait = NP_WAIT_MS;
	jo.PublishAsync.ErrHandler = np_on_error;
	s = natsConnection_JetStream(&js, nc, &jo);
	if (s != NATS_OK)
		return np_die("natsConnection_JetStream", s);
	rc = np_stream(js);
	if (rc == 0)
		rc = np_publish(js, map, (size_t)st.st_size);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
	return rc;
}
