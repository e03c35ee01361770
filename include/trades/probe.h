/* probe.h -- the USDT probe points of `trades` (provider "trades"), one line per call site.
 *
 * Every probe has a USDT semaphore (trades_<name>_semaphore, in the ELF
 * .probes section): a tracer that attaches raises it, so the service reads a
 * clock or counts a sample only while somebody is watching.  Unattached, a
 * probe site is one load and a not-taken branch; an attached hit costs about
 * 1-2 us on this VM, so probes fire per receive batch, never per trade at
 * full rate (trades:trade is sampled).
 *
 * Clock: every time argument (*_ns) is CLOCK_REALTIME in ns since the epoch,
 * read by the service with timefmt_now_ns() -- the clock the kernel stamps
 * datagrams with (SO_TIMESTAMPNS), so kernel and user times subtract.  The
 * BPF side never reads a clock of its own.  Counters are cumulative since the
 * process started (a tracer takes differences), so a tracer that attaches
 * late or misses a hit still counts exactly.
 *
 *   trades:batch_received(u8 backend, u32 events, s64 oldest_kernel_rx_ns, s64 rx_ns)
 *       A receive batch was taken from the kernel (one io_uring CQ batch or
 *       one epoll_wait).  backend: enum source_io; events: datagrams + stream
 *       reads; oldest_kernel_rx_ns: earliest SO_TIMESTAMPNS stamp in the
 *       batch, 0 when none (TCP); rx_ns: when the backend took the batch.
 *       Fires at the end of the batch's receive loop, where both are known.
 *   trades:batch_decoded(s64 now_ns, u64 received)
 *       Every message of the batch has been decoded and submitted (the start
 *       of pipeline_commit).  received: messages received so far.
 *   trades:batch_committed(s64 now_ns, u64 accepted)
 *       The batch is in the journal and the state, tickers ran, sinks are
 *       flushed; the journal sync policy runs next.  accepted: trades so far.
 *   trades:journal_synced(s64 now_ns, u64 offset)
 *       msync(MS_SYNC) of the journal returned 0; offset: bytes of the
 *       current segment now durable.  Never fires with --sync none.
 *   trades:commit(u64 received, u64 accepted)
 *       The original probe (start of pipeline_commit), kept for scripts.
 *   trades:gap(u16 feed, u64 first, u64 last)
 *       An unrecoverable gap [first, last] was journaled on feed.
 *   trades:drop(u16 feed, const char *reason)
 *       A message was refused (malformed_name(), or "truncated" for a
 *       datagram larger than a buffer).  Error path only.
 *   trades:trade(u16 feed, u32 instrument, s64 ts_exch_ns, s64 ts_rx_ns, s64 now_ns)
 *       Every Nth accepted trade (N = trades_probe_sample_every, serve
 *       --trace-sample N, default TRADES_PROBE_SAMPLE_DEFAULT), now_ns taken
 *       right after the journal append and state update.
 *
 * List them with `readelf -n trades | grep -A4 stapsdt`; bpf/README.md has
 * bpftrace one-liners and `trades-trace` (bpf/trades_trace.c) reads them all.
 *
 * The counters below belong to the one thread that drives the pipeline.
 */
#ifndef TRADES_PROBE_H
#define TRADES_PROBE_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "trades/timefmt.h"

#define TRADES_PROBE_SAMPLE_DEFAULT 1024u       /* trades:trade fires for 1 trade in N */
#define TRADES_PROBE_SAMPLE_MAX     1000000000u /* --trace-sample upper bound */

/* trades:trade fires for one accepted trade in trades_probe_sample_every
 * (>= 1); trades_probe_sample_left counts down to the next. */
extern uint32_t trades_probe_sample_every;
extern uint32_t trades_probe_sample_left;
/* Earliest kernel receive stamp seen since the last batch_received, 0 if none. */
extern int64_t trades_probe_rx_oldest_ns;

/* Parses --trace-sample N (1..TRADES_PROBE_SAMPLE_MAX) and sets
 * trades_probe_sample_every.  0, or -1 when s is not such a number. */
int trades_probe_sample_parse(const char *s);

#if HAVE_SDT
#define _SDT_HAS_SEMAPHORES 1
#include <sys/sdt.h>

#define TRADES_PROBE_SEMAPHORE(name) extern unsigned short trades_##name##_semaphore
TRADES_PROBE_SEMAPHORE(batch_received);
TRADES_PROBE_SEMAPHORE(batch_decoded);
TRADES_PROBE_SEMAPHORE(batch_committed);
TRADES_PROBE_SEMAPHORE(journal_synced);
TRADES_PROBE_SEMAPHORE(commit);
TRADES_PROBE_SEMAPHORE(gap);
TRADES_PROBE_SEMAPHORE(drop);
TRADES_PROBE_SEMAPHORE(trade);

/* True while a tracer is attached to trades:<name>. */
#define TRADES_PROBE_ON(name) __builtin_expect(trades_##name##_semaphore != 0, 0)

/* A kernel receive stamp of one datagram (call per datagram: one load and a
 * branch unless batch_received is traced). */
#define TRADES_PROBE_RX_STAMP(ns, kernel)                                                          \
	do {                                                                                       \
		if (TRADES_PROBE_ON(batch_received) && (kernel) &&                                 \
		    (trades_probe_rx_oldest_ns == 0 || (ns) < trades_probe_rx_oldest_ns))          \
			trades_probe_rx_oldest_ns = (ns);                                          \
	} while (0)
/* End of a receive batch of `events` taken at rx_ns by `backend`, whose
 * earliest kernel stamp is oldest_kernel_ns (0: none).  For a source that
 * knows it (struct source_batch's oldest_rx_ns when oldest_kernel). */
#define TRADES_PROBE_RECEIVED_STAMPED(backend, events, oldest_kernel_ns, rx_ns)                    \
	do {                                                                                       \
		if (TRADES_PROBE_ON(batch_received))                                               \
			DTRACE_PROBE4(trades, batch_received, (uint8_t)(backend),                  \
			              (uint32_t)(events), (int64_t)(oldest_kernel_ns),             \
			              (int64_t)(rx_ns));                                           \
	} while (0)
/* The same with the oldest stamp TRADES_PROBE_RX_STAMP kept, which is
 * cleared whether traced or not: a tracer that detached in mid-batch leaves
 * no stale stamp for the next one. */
#define TRADES_PROBE_RECEIVED(backend, events, rx_ns)                                              \
	do {                                                                                       \
		TRADES_PROBE_RECEIVED_STAMPED(backend, events, trades_probe_rx_oldest_ns, rx_ns);  \
		trades_probe_rx_oldest_ns = 0;                                                     \
	} while (0)
#define TRADES_PROBE_DECODED(received)                                                             \
	do {                                                                                       \
		if (TRADES_PROBE_ON(batch_decoded))                                                \
			DTRACE_PROBE2(trades, batch_decoded, timefmt_now_ns(),                     \
			              (uint64_t)(received));                                       \
	} while (0)
#define TRADES_PROBE_COMMITTED(accepted)                                                           \
	do {                                                                                       \
		if (TRADES_PROBE_ON(batch_committed))                                              \
			DTRACE_PROBE2(trades, batch_committed, timefmt_now_ns(),                   \
			              (uint64_t)(accepted));                                       \
	} while (0)
#define TRADES_PROBE_SYNCED(offset)                                                                \
	do {                                                                                       \
		if (TRADES_PROBE_ON(journal_synced))                                               \
			DTRACE_PROBE2(trades, journal_synced, timefmt_now_ns(),                    \
			              (uint64_t)(offset));                                         \
	} while (0)
#define TRADES_PROBE_COMMIT(received, accepted)                                                    \
	do {                                                                                       \
		if (TRADES_PROBE_ON(commit))                                                       \
			DTRACE_PROBE2(trades, commit, (uint64_t)(received), (uint64_t)(accepted)); \
	} while (0)
#define TRADES_PROBE_GAP(feed, first, last)                                                        \
	do {                                                                                       \
		if (TRADES_PROBE_ON(gap))                                                          \
			DTRACE_PROBE3(trades, gap, (uint16_t)(feed), (uint64_t)(first),            \
			              (uint64_t)(last));                                           \
	} while (0)
#define TRADES_PROBE_DROP(feed, reason)                                                            \
	do {                                                                                       \
		if (TRADES_PROBE_ON(drop))                                                         \
			DTRACE_PROBE2(trades, drop, (uint16_t)(feed), (const char *)(reason));     \
	} while (0)
/* t: const struct trade * just accepted. */
#define TRADES_PROBE_TRADE(t)                                                                      \
	do {                                                                                       \
		if (TRADES_PROBE_ON(trade) && --trades_probe_sample_left == 0) {                   \
			trades_probe_sample_left = trades_probe_sample_every;                      \
			DTRACE_PROBE5(trades, trade, (t)->feed, (t)->instrument, (t)->ts_exch_ns,  \
			              (t)->ts_rx_ns, timefmt_now_ns());                            \
		}                                                                                  \
	} while (0)

#else /* no <sys/sdt.h>: the arguments are still evaluated for their types, nothing fires */
#define TRADES_PROBE_ON(name)             0
#define TRADES_PROBE_RX_STAMP(ns, kernel) ((void)(ns), (void)(kernel))
#define TRADES_PROBE_RECEIVED(backend, events, rx_ns)                                              \
	((void)(backend), (void)(events), (void)(rx_ns))
#define TRADES_PROBE_RECEIVED_STAMPED(backend, events, oldest_kernel_ns, rx_ns)                    \
	((void)(backend), (void)(events), (void)(oldest_kernel_ns), (void)(rx_ns))
#define TRADES_PROBE_DECODED(received)          ((void)(received))
#define TRADES_PROBE_COMMITTED(accepted)        ((void)(accepted))
#define TRADES_PROBE_SYNCED(offset)             ((void)(offset))
#define TRADES_PROBE_COMMIT(received, accepted) ((void)(received), (void)(accepted))
#define TRADES_PROBE_GAP(feed, first, last)     ((void)(feed), (void)(first), (void)(last))
#define TRADES_PROBE_DROP(feed, reason)         ((void)(feed), (void)(reason))
#define TRADES_PROBE_TRADE(t)                   ((void)(t))
#endif

#endif
