/* trades_trace.h -- what trades_trace.bpf.c and trades_trace.c share: sizes,
 * stage and counter indices, the layout of the histograms in .bss. */
#ifndef TRADES_TRACE_H
#define TRADES_TRACE_H

#define TT_LOG2_SLOTS  64 /* log2 buckets of a duration in ns: [2^i, 2^(i+1)), 0 in slot 0 */
#define TT_SUB_BITS    3  /* each log2 bucket split in 2^3 linear parts, for percentiles */
#define TT_SUB_SLOTS   (1 << TT_SUB_BITS)
#define TT_FINE_SLOTS  (TT_LOG2_SLOTS * TT_SUB_SLOTS)
#define TT_PENDING_MAX 32   /* committed batches waiting for a journal sync, per process */
#define TT_PROCS_MAX   64   /* traced processes (binary mode: every instance) */
#define TT_SOCKS_MAX   4096 /* socket inodes of the traced processes */
#define TT_FEEDS_MAX   256  /* = TRADE_FEED_MAX: feed ids of the sampled trades */
#define TT_REASON_LEN  24   /* drop reason names, NUL included */
#define TT_REASONS_MAX 64   /* distinct drop reasons */

_Static_assert((TT_FINE_SLOTS & (TT_FINE_SLOTS - 1)) == 0, "fine slots index with a mask");
_Static_assert((TT_FEEDS_MAX & (TT_FEEDS_MAX - 1)) == 0, "feeds index with a mask");

enum tt_stage {
	TT_KERNEL_TO_USER,       /* oldest kernel rx stamp -> backend took the batch */
	TT_USER_TO_DECODED,      /* backend took the batch -> every message decoded+submitted */
	TT_DECODED_TO_COMMITTED, /* -> tickers, sinks flushed: ready to sync */
	TT_COMMITTED_TO_SYNCED,  /* -> msync of the journal returned */
	TT_KERNEL_TO_COMMITTED,  /* oldest kernel rx stamp -> committed: end to end, UDP only */
	TT_STAGES,
};

/* One histogram, weighted by trades: a batch of n trades adds n to the slot
 * of its stage latency.  fine[log2 * TT_SUB_SLOTS + sub]. */
struct tt_hist {
	unsigned long long fine[TT_FINE_SLOTS];
	unsigned long long max_ns; /* largest latency since the tracer last reset it */
};

enum tt_counter {
	TT_BATCHES,        /* batch_received hits */
	TT_EVENTS,         /* datagrams + stream reads in those batches */
	TT_TRADES,         /* trades accepted (differences of batch_committed's counter) */
	TT_UNBATCHED,      /* of those, committed outside a seen receive batch (no latency) */
	TT_GAPS,           /* trades:gap hits */
	TT_GAP_MISSING,    /* messages in those gaps */
	TT_DROPS,          /* trades:drop hits */
	TT_KDROPS,         /* kernel drops on the traced sockets, all reasons below */
	TT_KDROP_RCVBUF,   /* SKB_DROP_REASON_SOCKET_RCVBUFF */
	TT_KDROP_CSUM,     /* SKB_DROP_REASON_UDP_CSUM */
	TT_KDROP_PROTOMEM, /* SKB_DROP_REASON_PROTO_MEM (udp_mem exhausted) */
	TT_SYNCS,          /* journal_synced hits */
	TT_PENDING_MERGED, /* batches merged because TT_PENDING_MAX were unsynced */
	TT_SAMPLES,        /* trades:trade hits */
	TT_COUNTERS,
};

/* Per feed, from the sampled trades:trade probe. */
struct tt_feed {
	unsigned long long samples;
	unsigned long long rx_to_accepted_sum_ns; /* receive stamp -> journaled and applied */
	unsigned long long rx_to_accepted_max_ns;
	long long exch_to_rx_sum_ns; /* exchange time -> receive: how far behind the feed is */
	long long exch_to_rx_last_ns;
};

#endif
