/* fuzz_pcap.c -- libFuzzer target: the pcap capture reader (source_pcap_run).
 *
 * source_pcap_run takes a path, so each input is written to one temp file
 * (created once per process, rewritten per input) and read back through
 * libpcap and our link/IP/UDP header walk.  Every datagram delivered must
 * lie inside the capture's bytes (the length is checked against the input
 * size; ASan checks the pointer). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "trades/source.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t g_size;
static volatile uint8_t g_sum; /* keeps the byte reads below */

static void fz_datagram(void *ctx, const struct source_chan *ch, const void *buf, size_t len,
                        int64_t rx_ns, bool rx_kernel)
{
	(void)ctx;
	(void)ch;
	(void)rx_ns;
	(void)rx_kernel;
	if (len > g_size)
		abort();
	for (size_t i = 0; i < len; i++) /* touch every byte: ASan checks the bounds */
		g_sum ^= ((const uint8_t *)buf)[i];
}

static void fz_batch_end(void *ctx, const struct source_batch *b)
{
	(void)ctx;
	(void)b;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char path[] = "/tmp/trades-fuzz-pcap-XXXXXX";
	static int fd = -1;
	const struct source_handler h = {.datagram = fz_datagram, .batch_end = fz_batch_end};
	struct source_pcap_stats st;
	char err[256];

	if (fd < 0) {
		fd = mkstemp(path);
		if (fd < 0)
			abort();
		unlink(path); /* read through /proc/self/fd: nothing left behind */
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	}
	if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
		abort();
	g_size = size;
	(void)source_pcap_run(path, &h, 0, &st, err, sizeof(err));
	return 0;
}
