/* jsonl_mem.c -- trades' JSON-lines decoder over a file already in memory,
 * the like-for-like peer of bench_simdjson (issue 13, goal 1).
 *
 *   bench_jsonl_mem FILE
 *
 * bench_simdjson loads its file before the clock starts; `trades replay
 * --decode-only` read()s its file inside its time (the kernel's copy was
 * 6-16% of it in perf).  This loads FILE the same way (not timed), then
 * runs exactly what replay --decode-only runs on each read: the decoder in
 * 64 KiB pieces (REPLAY_CHUNK), a pipeline commit per 1 MiB, every line
 * framed, parsed and converted to a trade record (fixed-point price and
 * volume, ns timestamp, interned pair) and counted by a decode-only
 * pipeline.  Prints
 *   lines N bytes B seconds S lines_per_s R mb_per_s M accepted A malformed K cpu_s C
 * (seconds: wall from the first piece to the last commit; cpu_s: the
 * process's CPU over the same span).  Exit 1 on a read or set-up error.
 *
 * The load ends by reading one byte of every page (jm_pretouch), as
 * bench_simdjson's does: on this VM (a PVM guest) the first user-mode access
 * to a page the kernel's read() filled costs about 4.5 us, 170 ms for a
 * 154 MB file, the same in both tools and nothing a parser does; a replay
 * reuses one 64 KiB buffer and never meets it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "trades/decoder.h"
#include "trades/pipeline.h"
#include "trades/timefmt.h"

#define JM_PROG  "bench_jsonl_mem"
#define JM_CHUNK (1u << 16) /* replay's REPLAY_CHUNK */
#define JM_BATCH (1u << 20) /* replay's REPLAY_BATCH */

static double jm_clock(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The whole file in a buffer of its size; NULL on error (printed). */
static uint8_t *jm_load(const char *path, size_t *len)
{
	struct stat st;
	uint8_t *buf;
	size_t got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st) != 0 || st.st_size <= 0) {
		fprintf(stderr, JM_PROG ": %s: %s\n", path, fd < 0 ? strerror(errno) : "empty");
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	buf = malloc((size_t)st.st_size);
	while (buf && got < (size_t)st.st_size) { /* each pass reads > 0 bytes or ends */
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	if (!buf || got != (size_t)st.st_size) {
		fprintf(stderr, JM_PROG ": %s: read %zu of %lld bytes\n", path, got,
		        (long long)st.st_size);
		free(buf);
		return NULL;
	}
	*len = got;
	return buf;
}

/* One byte of each page read (not timed): see the header. */
static void jm_pretouch(const uint8_t *buf, size_t len)
{
	volatile uint8_t sink = 0;

	for (size_t i = 0; i < len; i += 4096) /* bounded by len */
		sink ^= buf[i];
	(void)sink;
}

int main(int argc, char **argv)
{
	struct pipeline_config pc = {.decode_only = true};
	const struct pipeline_stats *s;
	struct pipeline *pipe;
	struct decoder dec;
	char err[512];
	size_t len = 0, off, batch = 0;
	uint8_t *buf;
	double t0, c0, secs, cpu;
	int feed;

	if (argc != 2) {
		fprintf(stderr, "usage: " JM_PROG " FILE\n");
		return 2;
	}
	buf = jm_load(argv[1], &len);
	if (!buf)
		return 1;
	jm_pretouch(buf, len);
	pipe = pipeline_open(&pc, err, sizeof(err));
	feed = pipe ? pipeline_feed(pipe, "default") : -1;
	if (feed < 0) {
		fprintf(stderr, JM_PROG ": pipeline_open: %s\n", pipe ? "feed" : err);
		return 1;
	}
	decoder_init(&dec, pipe, DECODER_JSONL, false, (uint16_t)feed, "file:memory");
	t0 = jm_clock(CLOCK_MONOTONIC);
	c0 = jm_clock(CLOCK_PROCESS_CPUTIME_ID);
	for (off = 0; off < len; off += JM_CHUNK) { /* bounded by len */
		size_t n = len - off < JM_CHUNK ? len - off : JM_CHUNK;

		decoder_input(&dec, buf + off, n, timefmt_now_ns(), false, NULL);
		batch += n;
		if (batch >= JM_BATCH) {
			pipeline_commit(pipe);
			batch = 0;
		}
	}
	decoder_end(&dec);
	pipeline_commit(pipe);
	secs = jm_clock(CLOCK_MONOTONIC) - t0;
	cpu = jm_clock(CLOCK_PROCESS_CPUTIME_ID) - c0;
	if (secs <= 0)
		secs = 1e-9;
	s = pipeline_stats(pipe);
	printf("lines %llu bytes %zu seconds %.6f lines_per_s %.0f mb_per_s %.1f accepted %llu "
	       "malformed %llu cpu_s %.6f\n",
	       (unsigned long long)s->received, len, secs, s->received / secs, len / 1e6 / secs,
	       (unsigned long long)s->accepted, (unsigned long long)s->malformed, cpu);
	pipeline_close(pipe, true);
	free(buf);
	return 0;
}
