/* probe.c -- the USDT semaphores and sampling counters of probe.h. */
#include "trades/probe.h"

#include <errno.h>
#include <stdlib.h>

uint32_t trades_probe_sample_every = TRADES_PROBE_SAMPLE_DEFAULT;
uint32_t trades_probe_sample_left = TRADES_PROBE_SAMPLE_DEFAULT;
int64_t trades_probe_rx_oldest_ns;

_Static_assert(TRADES_PROBE_SAMPLE_DEFAULT >= 1 &&
                       TRADES_PROBE_SAMPLE_DEFAULT <= TRADES_PROBE_SAMPLE_MAX,
               "default sample rate within the option's bounds");

#if HAVE_SDT
/* A tracer raises these (uprobe ref_ctr_offset); <sys/sdt.h> wants them in .probes. */
#define TRADES_PROBE_SEMAPHORE_DEF(name)                                                           \
	unsigned short trades_##name##_semaphore __attribute__((section(".probes")))
TRADES_PROBE_SEMAPHORE_DEF(batch_received);
TRADES_PROBE_SEMAPHORE_DEF(batch_decoded);
TRADES_PROBE_SEMAPHORE_DEF(batch_committed);
TRADES_PROBE_SEMAPHORE_DEF(journal_synced);
TRADES_PROBE_SEMAPHORE_DEF(commit);
TRADES_PROBE_SEMAPHORE_DEF(gap);
TRADES_PROBE_SEMAPHORE_DEF(drop);
TRADES_PROBE_SEMAPHORE_DEF(trade);
#endif

int trades_probe_sample_parse(const char *s)
{
	char *end;
	unsigned long long v;

	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end != '\0' || v < 1 || v > TRADES_PROBE_SAMPLE_MAX)
		return -1;
	trades_probe_sample_every = (uint32_t)v;
	trades_probe_sample_left = (uint32_t)v;
	return 0;
}
