// SPDX-License-Identifier: (MIT OR GPL-2.0)
/* trades_trace.bpf.c -- the kernel half of trades-trace.
 *
 * USDT programs follow each receive batch of a traced `trades` through the
 * stage probes of include/trades/probe.h and add its stage latencies to
 * trade-weighted histograms; a BTF tracepoint on kfree_skb counts what the
 * kernel dropped for the traced process's sockets.  Every time comes from
 * the probes' arguments (CLOCK_REALTIME, read by the service), so each
 * difference is taken within one clock.  Everything the user side reads is
 * in .bss (mmapped by the skeleton) or in the maps below; nothing is reset
 * here, the reader takes differences of cumulative counts.
 */
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/usdt.bpf.h>

#include "trades_trace.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

struct tt_hist hists[TT_STAGES];
unsigned long long counters[TT_COUNTERS];
struct tt_feed feeds[TT_FEEDS_MAX];

/* One receive batch of one process, as far as it has got. */
struct tt_pending {
	long long commit_ns;
	unsigned long long trades;
};

struct tt_proc {
	long long rx_ns;             /* batch_received: backend took the batch */
	long long oldest_kernel_ns;  /* its oldest kernel stamp, 0 if none */
	long long decoded_ns;        /* batch_decoded */
	unsigned long long accepted; /* last batch_committed counter */
	unsigned int npending;       /* committed batches not yet synced */
	unsigned char have_rx, have_decoded, have_accepted;
	struct tt_pending pending[TT_PENDING_MAX];
};

static const struct tt_proc zero_proc;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TT_PROCS_MAX);
	__type(key, __u32);
	__type(value, struct tt_proc);
} procs SEC(".maps");

/* Socket inodes of the traced processes, filled by the user side from /proc. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TT_SOCKS_MAX);
	__type(key, __u64);
	__type(value, __u8);
} socks SEC(".maps");

struct tt_reason {
	char name[TT_REASON_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TT_REASONS_MAX);
	__type(key, struct tt_reason);
	__type(value, __u64);
} reasons SEC(".maps");

static __always_inline __u32 log2_32(__u32 v)
{
	__u32 r = 0, shift;

	shift = (v > 0xffff) << 4;
	v >>= shift;
	r |= shift;
	shift = (v > 0xff) << 3;
	v >>= shift;
	r |= shift;
	shift = (v > 0xf) << 2;
	v >>= shift;
	r |= shift;
	shift = (v > 0x3) << 1;
	v >>= shift;
	r |= shift;
	return r | (v >> 1);
}

static __always_inline __u32 log2_64(__u64 v)
{
	__u32 hi = v >> 32;

	return hi ? log2_32(hi) + 32 : log2_32((__u32)v);
}

/* Adds n trades that spent d ns in stage. */
static __always_inline void hist_add(__u32 stage, long long d, __u64 n)
{
	struct tt_hist *h;
	__u64 v = d > 0 ? (__u64)d : 0;
	__u32 k = log2_64(v), sub, idx;

	if (stage >= TT_STAGES || n == 0)
		return;
	sub = k >= TT_SUB_BITS ? (__u32)(v >> (k - TT_SUB_BITS)) : (__u32)(v << (TT_SUB_BITS - k));
	idx = (k * TT_SUB_SLOTS + (sub & (TT_SUB_SLOTS - 1))) & (TT_FINE_SLOTS - 1);
	h = &hists[stage];
	__sync_fetch_and_add(&h->fine[idx], n);
	if (v > h->max_ns)
		h->max_ns = v; /* one writer per process; a lost race only misses a max */
}

static __always_inline void count(enum tt_counter c, __u64 n)
{
	__sync_fetch_and_add(&counters[c], n);
}

static __always_inline struct tt_proc *proc_get(void)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct tt_proc *p = bpf_map_lookup_elem(&procs, &tgid);

	if (p)
		return p;
	bpf_map_update_elem(&procs, &tgid, &zero_proc, BPF_NOEXIST);
	return bpf_map_lookup_elem(&procs, &tgid);
}

SEC("usdt")
int BPF_USDT(batch_received, __u8 backend, __u32 events, long long oldest_kernel_ns,
             long long rx_ns)
{
	struct tt_proc *p = proc_get();

	count(TT_BATCHES, 1);
	count(TT_EVENTS, events);
	if (!p)
		return 0;
	p->rx_ns = rx_ns;
	p->oldest_kernel_ns = oldest_kernel_ns;
	p->have_rx = 1;
	p->have_decoded = 0;
	return 0;
}

SEC("usdt")
int BPF_USDT(batch_decoded, long long now_ns, __u64 received)
{
	struct tt_proc *p = proc_get();

	if (!p || !p->have_rx)
		return 0;
	p->decoded_ns = now_ns;
	p->have_decoded = 1;
	return 0;
}

static __always_inline void pending_push(struct tt_proc *p, long long now_ns, __u64 n)
{
	__u32 i = p->npending;

	if (i >= TT_PENDING_MAX) {
		/* merged into the newest: its trades count from a later commit */
		p->pending[TT_PENDING_MAX - 1].trades += n;
		count(TT_PENDING_MERGED, 1);
		return;
	}
	p->pending[i].commit_ns = now_ns;
	p->pending[i].trades = n;
	p->npending = i + 1;
}

SEC("usdt")
int BPF_USDT(batch_committed, long long now_ns, __u64 accepted)
{
	struct tt_proc *p = proc_get();
	__u64 n;

	if (!p)
		return 0;
	if (!p->have_accepted) { /* first hit: the baseline, trades before it are not ours */
		p->have_accepted = 1;
		p->accepted = accepted;
		p->have_rx = 0;
		return 0;
	}
	n = accepted - p->accepted;
	p->accepted = accepted;
	count(TT_TRADES, n);
	if (n == 0) {
		p->have_rx = 0;
		return 0;
	}
	if (!p->have_rx || !p->have_decoded) {
		count(TT_UNBATCHED, n);
		return 0;
	}
	if (p->oldest_kernel_ns) {
		hist_add(TT_KERNEL_TO_USER, p->rx_ns - p->oldest_kernel_ns, n);
		hist_add(TT_KERNEL_TO_COMMITTED, now_ns - p->oldest_kernel_ns, n);
	}
	hist_add(TT_USER_TO_DECODED, p->decoded_ns - p->rx_ns, n);
	hist_add(TT_DECODED_TO_COMMITTED, now_ns - p->decoded_ns, n);
	pending_push(p, now_ns, n);
	p->have_rx = 0;
	return 0;
}

SEC("usdt")
int BPF_USDT(journal_synced, long long now_ns, __u64 offset)
{
	struct tt_proc *p = proc_get();
	__u32 i;

	count(TT_SYNCS, 1);
	if (!p)
		return 0;
	for (i = 0; i < TT_PENDING_MAX; i++) {
		if (i >= p->npending)
			break;
		hist_add(TT_COMMITTED_TO_SYNCED, now_ns - p->pending[i].commit_ns,
		         p->pending[i].trades);
	}
	p->npending = 0;
	return 0;
}

SEC("usdt")
int BPF_USDT(gap, __u16 feed, __u64 first, __u64 last)
{
	count(TT_GAPS, 1);
	count(TT_GAP_MISSING, last >= first ? last - first + 1 : 0);
	return 0;
}

SEC("usdt")
int BPF_USDT(drop, __u16 feed, const char *reason)
{
	struct tt_reason key = {};
	__u64 one = 1, *v;

	count(TT_DROPS, 1);
	if (bpf_probe_read_user_str(key.name, sizeof(key.name), reason) <= 0)
		__builtin_memcpy(key.name, "unknown", 8);
	v = bpf_map_lookup_elem(&reasons, &key);
	if (v) {
		__sync_fetch_and_add(v, 1);
		return 0;
	}
	if (bpf_map_update_elem(&reasons, &key, &one, BPF_NOEXIST) != 0) {
		v = bpf_map_lookup_elem(&reasons, &key); /* another CPU inserted it first */
		if (v)
			__sync_fetch_and_add(v, 1);
	}
	return 0;
}

SEC("usdt")
int BPF_USDT(trade, __u16 feed, __u32 instrument, long long ts_exch_ns, long long ts_rx_ns,
             long long now_ns)
{
	struct tt_feed *f;
	__u64 d = now_ns > ts_rx_ns ? (__u64)(now_ns - ts_rx_ns) : 0;
	__u32 idx = feed;

	count(TT_SAMPLES, 1);
	barrier_var(idx); /* compare the register the verifier then sees indexing */
	if (idx >= TT_FEEDS_MAX)
		return 0;
	f = &feeds[idx];
	__sync_fetch_and_add(&f->samples, 1);
	__sync_fetch_and_add(&f->rx_to_accepted_sum_ns, d);
	if (d > f->rx_to_accepted_max_ns)
		f->rx_to_accepted_max_ns = d;
	if (ts_exch_ns > 0) {
		__sync_fetch_and_add(&f->exch_to_rx_sum_ns, ts_rx_ns - ts_exch_ns);
		f->exch_to_rx_last_ns = ts_rx_ns - ts_exch_ns;
	}
	return 0;
}

/* Drops with the socket they were meant for (rx_sk, 6.11+): receive buffer
 * full, UDP checksum, udp_mem exhausted; only the traced sockets count. */
SEC("tp_btf/kfree_skb")
int BPF_PROG(kfree_skb, struct sk_buff *skb, void *location, enum skb_drop_reason reason,
             struct sock *rx_sk)
{
	enum tt_counter c;
	__u64 ino;

	if (!rx_sk)
		return 0;
	if (reason == bpf_core_enum_value(enum skb_drop_reason, SKB_DROP_REASON_SOCKET_RCVBUFF))
		c = TT_KDROP_RCVBUF;
	else if (reason == bpf_core_enum_value(enum skb_drop_reason, SKB_DROP_REASON_UDP_CSUM))
		c = TT_KDROP_CSUM;
	else if (reason == bpf_core_enum_value(enum skb_drop_reason, SKB_DROP_REASON_PROTO_MEM))
		c = TT_KDROP_PROTOMEM;
	else
		return 0;
	ino = BPF_CORE_READ(rx_sk, sk_socket, file, f_inode, i_ino);
	if (!ino || !bpf_map_lookup_elem(&socks, &ino))
		return 0;
	count(TT_KDROPS, 1);
	count(c, 1);
	return 0;
}
