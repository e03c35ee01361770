/* trades_trace.c -- trades-trace: where the time of a running `trades` goes.
 *
 *   trades-trace -p PID [-d SECONDS] [-i SECONDS] [--json]
 *   trades-trace -b /path/to/trades ...      (every instance of that binary)
 *
 * Attaches the programs of trades_trace.bpf.c to the USDT probes of
 * include/trades/probe.h (by PID, or on the binary for every process running
 * it) and to the kfree_skb tracepoint, then prints, every interval and once
 * more at the end: per-stage latency histograms weighted by trades, rates,
 * gaps, refused input by reason and the kernel's drops on the traced sockets.
 * Detaching (exit, signal) removes the uprobes; the service never notices.
 *
 * Order (as bcc's libbpf-tools): options -> privilege and kernel checks ->
 * open -> load -> attach -> bounded report loop -> one cleanup.
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "trades_trace.h"
#include "trades_trace.skel.h"

#define TICK_MS          100                /* the loop's sleep; also how fast a signal is seen */
#define SOCKS_REFRESH_MS 1000               /* rescan of the traced processes' sockets */
#define SECONDS_MAX      864000             /* -d / -i upper bound: ten days */
#define PROC_SCAN_MAX    65536              /* /proc entries looked at per scan */
#define FD_SCAN_MAX      (4 * TT_SOCKS_MAX) /* fds looked at per process */
#define HIST_BAR_WIDTH   40
#define EXIT_RUNTIME     1
#define EXIT_USAGE       2

static const char *const stage_names[TT_STAGES] = {
        [TT_KERNEL_TO_USER] = "kernel_to_user",
        [TT_USER_TO_DECODED] = "user_to_decoded",
        [TT_DECODED_TO_COMMITTED] = "decoded_to_committed",
        [TT_COMMITTED_TO_SYNCED] = "committed_to_synced",
        [TT_KERNEL_TO_COMMITTED] = "kernel_to_committed",
};

/* USDT probe -> program, in the order they are attached. */
#define PROBES 7

struct env {
	pid_t pid;          /* -p; 0 with -b */
	const char *binary; /* -b, or /proc/PID/exe */
	char exe[64];
	unsigned duration_s; /* -d; 0 = until SIGINT/SIGTERM */
	unsigned interval_s; /* -i */
	bool json;
	bool verbose;
};

/* What the reader keeps between two reports. */
struct snap {
	struct tt_hist hists[TT_STAGES];
	unsigned long long counters[TT_COUNTERS];
	struct tt_feed feeds[TT_FEEDS_MAX];
};

struct reason_count {
	char name[TT_REASON_LEN];
	unsigned long long total, prev;
};

struct report {
	struct snap now, prev, first;
	unsigned long long max_ns[TT_STAGES];       /* this interval */
	unsigned long long total_max_ns[TT_STAGES]; /* since attach */
	struct reason_count reasons[TT_REASONS_MAX];
	unsigned nreasons;
};

static volatile sig_atomic_t exiting;
static char libbpf_last[256]; /* last libbpf message, for one-line errors */
static bool libbpf_verbose;

static void on_signal(int sig)
{
	(void)sig;
	exiting = 1;
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (libbpf_verbose)
		return vfprintf(stderr, fmt, ap);
	if (level != LIBBPF_DEBUG) {
		vsnprintf(libbpf_last, sizeof(libbpf_last), fmt, ap);
		libbpf_last[strcspn(libbpf_last, "\n")] = '\0';
	}
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
	        "Usage: trades-trace (-p PID | -b BINARY) [-d SECONDS] [-i SECONDS] [--json] "
	        "[-v]\n\n"
	        "Per-stage latency of a running `trades` from its USDT probes, and the kernel's\n"
	        "drops on its sockets.  Needs root (CAP_BPF + CAP_PERFMON, or CAP_SYS_ADMIN;\n"
	        "CAP_SYS_PTRACE for another user's process) and a kernel with BTF.\n\n"
	        "  -p, --pid PID        trace this process\n"
	        "  -b, --binary PATH    trace every process running this binary\n"
	        "  -d, --duration SECS  stop after SECS (default: at SIGINT/SIGTERM)\n"
	        "  -i, --interval SECS  report every SECS (default 1)\n"
	        "      --json           one JSON object per line per interval, then one with\n"
	        "                       \"final\":true for the whole run\n"
	        "  -v, --verbose        libbpf's own messages\n\n"
	        "exit codes: 0 ok, 1 runtime error (privileges, kernel, target), 2 usage\n");
}

static int parse_secs(const char *opt, const char *s, unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end != '\0' || *s == '-' || v < 1 || v > SECONDS_MAX) {
		fprintf(stderr, "trades-trace: %s '%s': use 1..%u seconds\n", opt, s, SECONDS_MAX);
		return -1;
	}
	*out = (unsigned)v;
	return 0;
}

static int parse_pid(const char *s, pid_t *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end != '\0' || v <= 0 || v > INT_MAX) {
		fprintf(stderr, "trades-trace: invalid PID: %s\n", s);
		return -1;
	}
	*out = (pid_t)v;
	return 0;
}

/* 0, -1 on a usage error (printed). */
static int parse_args(int argc, char **argv, struct env *env)
{
	static const struct option opts[] = {
	        {"pid", required_argument, 0, 'p'},      {"binary", required_argument, 0, 'b'},
	        {"duration", required_argument, 0, 'd'}, {"interval", required_argument, 0, 'i'},
	        {"json", no_argument, 0, 'j'},           {"verbose", no_argument, 0, 'v'},
	        {"help", no_argument, 0, 'h'},           {0, 0, 0, 0},
	};
	int c;

	env->interval_s = 1;
	while ((c = getopt_long(argc, argv, "p:b:d:i:vh", opts, NULL)) != -1) {
		if ((c == 'p' && parse_pid(optarg, &env->pid) < 0) ||
		    (c == 'd' && parse_secs("-d", optarg, &env->duration_s) < 0) ||
		    (c == 'i' && parse_secs("-i", optarg, &env->interval_s) < 0))
			return -1;
		if (c == 'b')
			env->binary = optarg;
		else if (c == 'j')
			env->json = true;
		else if (c == 'v')
			env->verbose = true;
		else if (c == 'h')
			usage(stdout), exit(0);
		else if (c == '?')
			return -1;
	}
	if (optind < argc || (env->pid == 0) == (env->binary == NULL)) {
		fprintf(stderr, "trades-trace: give exactly one of -p PID or -b BINARY\n");
		return -1;
	}
	if (env->duration_s && env->interval_s > env->duration_s)
		env->interval_s = env->duration_s;
	return 0;
}

static bool has_cap(const struct __user_cap_data_struct d[2], unsigned cap)
{
	return (d[cap / 32].effective >> (cap % 32)) & 1u;
}

/* The one line naming what is missing, or 0. */
static int check_privileges(const struct env *env)
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	struct __user_cap_data_struct d[2] = {{0}};
	bool admin, bpf_perfmon;

	if (syscall(SYS_capget, &h, d) != 0) {
		fprintf(stderr, "trades-trace: capget: %s\n", strerror(errno));
		return -1;
	}
	admin = has_cap(d, CAP_SYS_ADMIN);
	bpf_perfmon = has_cap(d, CAP_BPF) && has_cap(d, CAP_PERFMON);
	if (!admin && !bpf_perfmon) {
		fprintf(stderr, "trades-trace: missing capability CAP_BPF and CAP_PERFMON (or "
		                "CAP_SYS_ADMIN): run as root\n");
		return -1;
	}
	if (env->pid && !has_cap(d, CAP_SYS_PTRACE) && !has_cap(d, CAP_SYS_ADMIN)) {
		struct stat st;
		char path[64];

		snprintf(path, sizeof(path), "/proc/%d", (int)env->pid);
		if (stat(path, &st) == 0 && st.st_uid != geteuid()) {
			fprintf(stderr,
			        "trades-trace: missing capability CAP_SYS_PTRACE to trace "
			        "pid %d of another user\n",
			        (int)env->pid);
			return -1;
		}
	}
	return 0;
}

/* Kernel features the tool needs, named when missing. */
static int check_kernel(void)
{
	if (access("/sys/kernel/btf/vmlinux", R_OK) != 0) {
		fprintf(stderr,
		        "trades-trace: missing kernel feature BTF (/sys/kernel/btf/vmlinux: "
		        "%s; CONFIG_DEBUG_INFO_BTF)\n",
		        strerror(errno));
		return -1;
	}
	if (access("/sys/bus/event_source/devices/uprobe/type", R_OK) != 0) {
		fprintf(stderr,
		        "trades-trace: missing kernel feature uprobes (/sys/bus/event_source/"
		        "devices/uprobe: %s; CONFIG_UPROBE_EVENTS)\n",
		        strerror(errno));
		return -1;
	}
	return 0;
}

static int check_target(struct env *env)
{
	if (env->pid) {
		snprintf(env->exe, sizeof(env->exe), "/proc/%d/exe", (int)env->pid);
		env->binary = env->exe; /* the process's own file, also across a container */
		if (kill(env->pid, 0) != 0 && errno == ESRCH) {
			fprintf(stderr, "trades-trace: pid %d: no such process\n", (int)env->pid);
			return -1;
		}
	}
	if (access(env->binary, R_OK) != 0) {
		fprintf(stderr, "trades-trace: %s: %s\n", env->binary, strerror(errno));
		return -1;
	}
	return 0;
}

/* ---- the traced processes' sockets ---- */

struct inodes {
	uint64_t ino[TT_SOCKS_MAX];
	unsigned n;
	bool full; /* more sockets than TT_SOCKS_MAX: the rest are not watched */
};

/* Adds the socket inodes among /proc/PID/fd. */
static void scan_fds(pid_t pid, struct inodes *set)
{
	char path[64], link[64];
	struct dirent *de;
	unsigned seen = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	d = opendir(path);
	if (!d)
		return; /* exited meanwhile */
	while ((de = readdir(d)) && seen++ < FD_SCAN_MAX) {
		unsigned long long ino;
		ssize_t len;

		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		len = readlinkat(dirfd(d), de->d_name, link, sizeof(link) - 1);
		if (len <= 0)
			continue;
		link[len] = '\0';
		if (sscanf(link, "socket:[%llu]", &ino) != 1)
			continue;
		if (set->n == TT_SOCKS_MAX) {
			set->full = true;
			break;
		}
		set->ino[set->n++] = ino;
	}
	closedir(d);
}

/* Processes whose /proc/N/exe is the file bin names. */
static void scan_binary(const struct stat *bin, struct inodes *set)
{
	struct dirent *de;
	unsigned seen = 0;
	DIR *d = opendir("/proc");

	if (!d)
		return;
	while ((de = readdir(d)) && seen++ < PROC_SCAN_MAX) {
		char exe[sizeof(de->d_name) + 16];
		struct stat st;

		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(exe, sizeof(exe), "/proc/%s/exe", de->d_name);
		if (stat(exe, &st) == 0 && st.st_dev == bin->st_dev && st.st_ino == bin->st_ino)
			scan_fds((pid_t)atoi(de->d_name), set);
	}
	closedir(d);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Makes the socks map the current set: adds new inodes, deletes closed ones. */
static void socks_refresh(const struct env *env, int map_fd, struct inodes *set)
{
	uint64_t key, next, stale[256];
	unsigned i, nstale = 0;
	uint8_t one = 1;
	struct stat bin;

	set->n = 0;
	if (env->pid)
		scan_fds(env->pid, set);
	else if (stat(env->binary, &bin) == 0)
		scan_binary(&bin, set);
	qsort(set->ino, set->n, sizeof(set->ino[0]), cmp_u64);
	for (i = 0; i < set->n; i++)
		bpf_map_update_elem(map_fd, &set->ino[i], &one, BPF_ANY);
	/* bounded: at most TT_SOCKS_MAX keys, deleted 256 per refresh */
	for (i = 0; i < TT_SOCKS_MAX && nstale < 256; i++) {
		if (bpf_map_get_next_key(map_fd, i ? &key : NULL, &next) != 0)
			break;
		if (!bsearch(&next, set->ino, set->n, sizeof(set->ino[0]), cmp_u64))
			stale[nstale++] = next;
		key = next;
	}
	for (i = 0; i < nstale; i++)
		bpf_map_delete_elem(map_fd, &stale[i]);
}

/* ---- attach ---- */

static int attach_usdt(struct trades_trace_bpf *obj, const struct env *env)
{
	struct {
		struct bpf_program *prog;
		struct bpf_link **link;
		const char *name;
	} probes[PROBES] = {
	        {obj->progs.batch_received, &obj->links.batch_received, "batch_received"},
	        {obj->progs.batch_decoded, &obj->links.batch_decoded, "batch_decoded"},
	        {obj->progs.batch_committed, &obj->links.batch_committed, "batch_committed"},
	        {obj->progs.journal_synced, &obj->links.journal_synced, "journal_synced"},
	        {obj->progs.gap, &obj->links.gap, "gap"},
	        {obj->progs.drop, &obj->links.drop, "drop"},
	        {obj->progs.trade, &obj->links.trade, "trade"},
	};
	unsigned i;

	for (i = 0; i < PROBES; i++) {
		/* by pid: the kernel filters, and the semaphore rises in that process only */
		*probes[i].link =
		        bpf_program__attach_usdt(probes[i].prog, env->pid ? env->pid : -1,
		                                 env->binary, "trades", probes[i].name, NULL);
		if (!*probes[i].link) {
			int err = errno;

			if (err == ENOENT)
				fprintf(stderr,
				        "trades-trace: %s has no USDT probe trades:%s (a "
				        "build without <sys/sdt.h>, or not trades)\n",
				        env->binary, probes[i].name);
			else
				fprintf(stderr, "trades-trace: attach trades:%s to %s: %s\n",
				        probes[i].name, env->binary, strerror(err));
			return -1;
		}
	}
	obj->links.kfree_skb = bpf_program__attach(obj->progs.kfree_skb);
	if (!obj->links.kfree_skb) {
		fprintf(stderr,
		        "trades-trace: missing kernel feature BTF tracepoint skb:kfree_skb "
		        "with rx_sk (Linux 6.11+): %s\n",
		        strerror(errno));
		return -1;
	}
	return 0;
}

static int open_load(struct trades_trace_bpf **objp)
{
	struct trades_trace_bpf *obj = trades_trace_bpf__open();
	int err;

	if (!obj) {
		fprintf(stderr, "trades-trace: open BPF object: %s\n", strerror(errno));
		return -1;
	}
	*objp = obj;
	err = trades_trace_bpf__load(obj);
	if (err) {
		if (err == -EPERM)
			fprintf(stderr,
			        "trades-trace: loading BPF programs: %s (missing "
			        "capability CAP_BPF/CAP_SYS_ADMIN, or kernel lockdown)\n",
			        strerror(-err));
		else if (err == -EACCES)
			fprintf(stderr, "trades-trace: the kernel's BPF verifier refused a program "
			                "(run with -v for its log)\n");
		else
			fprintf(stderr, "trades-trace: loading BPF programs: %s%s%s\n",
			        strerror(-err), libbpf_last[0] ? ": " : "", libbpf_last);
		return -1;
	}
	return 0;
}

/* ---- reading and reporting ---- */

/* One stage over a report's span. */
struct view {
	unsigned long long fine[TT_FINE_SLOTS];
	unsigned long long log2[TT_LOG2_SLOTS];
	unsigned long long count, max_ns, p50_ns, p99_ns, p999_ns;
	unsigned nlog2; /* log2 slots up to the last non-empty one */
};

/* Upper end of a fine slot (see hist_add in trades_trace.bpf.c). */
static unsigned long long fine_hi(unsigned idx)
{
	unsigned k = idx / TT_SUB_SLOTS, sub = idx % TT_SUB_SLOTS;

	if (k < TT_SUB_BITS)
		return k == 0 ? 1 : ((unsigned long long)(TT_SUB_SLOTS + sub) << k) >> TT_SUB_BITS;
	if (k >= 60)
		return ULLONG_MAX;
	return ((unsigned long long)(TT_SUB_SLOTS + sub + 1) << (k - TT_SUB_BITS)) - 1;
}

/* The value at rank ceil(count * num / den), never above the exact max. */
static unsigned long long percentile(const struct view *v, unsigned long long num,
                                     unsigned long long den)
{
	unsigned long long rank = (v->count * num + den - 1) / den, seen = 0;
	unsigned i;

	if (v->count == 0)
		return 0;
	for (i = 0; i < TT_FINE_SLOTS; i++) {
		seen += v->fine[i];
		if (seen >= rank)
			return fine_hi(i) < v->max_ns ? fine_hi(i) : v->max_ns;
	}
	return v->max_ns;
}

static void view_make(struct view *v, const struct tt_hist *now, const struct tt_hist *prev,
                      unsigned long long max_ns)
{
	unsigned i;

	memset(v, 0, sizeof(*v));
	for (i = 0; i < TT_FINE_SLOTS; i++) {
		v->fine[i] = now->fine[i] - (prev ? prev->fine[i] : 0);
		v->log2[i / TT_SUB_SLOTS] += v->fine[i];
		v->count += v->fine[i];
	}
	for (i = 0; i < TT_LOG2_SLOTS; i++)
		if (v->log2[i])
			v->nlog2 = i + 1;
	v->max_ns = max_ns;
	if (v->count && v->max_ns == 0) /* every hit was 0 ns, or the max raced the read */
		v->max_ns = fine_hi(0);
	v->p50_ns = percentile(v, 1, 2);
	v->p99_ns = percentile(v, 99, 100);
	v->p999_ns = percentile(v, 999, 1000);
}

static void read_reasons(int map_fd, struct report *rep)
{
	struct tt_reason_key {
		char name[TT_REASON_LEN];
	} key, next;
	unsigned i, n;

	for (n = 0; n < TT_REASONS_MAX; n++) {
		unsigned long long v = 0;

		if (bpf_map_get_next_key(map_fd, n ? &key : NULL, &next) != 0)
			break;
		key = next;
		if (bpf_map_lookup_elem(map_fd, &key, &v) != 0)
			continue;
		for (i = 0; i < rep->nreasons; i++)
			if (strncmp(rep->reasons[i].name, key.name, TT_REASON_LEN) == 0)
				break;
		if (i == rep->nreasons) {
			if (rep->nreasons == TT_REASONS_MAX)
				continue;
			memcpy(rep->reasons[i].name, key.name, TT_REASON_LEN);
			rep->reasons[i].name[TT_REASON_LEN - 1] = '\0';
			rep->nreasons++;
		}
		rep->reasons[i].total = v;
	}
}

/* Copies the counters; the interval's max is taken and reset. */
static void snapshot(struct trades_trace_bpf *obj, struct report *rep)
{
	unsigned s;

	rep->prev = rep->now;
	memcpy(rep->now.hists, obj->bss->hists, sizeof(rep->now.hists));
	memcpy(rep->now.counters, obj->bss->counters, sizeof(rep->now.counters));
	memcpy(rep->now.feeds, obj->bss->feeds, sizeof(rep->now.feeds));
	for (s = 0; s < TT_STAGES; s++) {
		rep->max_ns[s] =
		        __atomic_exchange_n(&obj->bss->hists[s].max_ns, 0, __ATOMIC_RELAXED);
		if (rep->max_ns[s] > rep->total_max_ns[s])
			rep->total_max_ns[s] = rep->max_ns[s];
	}
	read_reasons(bpf_map__fd(obj->maps.reasons), rep);
}

/* Reason names come from the traced process: only [A-Za-z0-9_-] are printed. */
static void print_name(const char *s)
{
	unsigned i;

	for (i = 0; i < TT_REASON_LEN && s[i]; i++) {
		char c = s[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		          (c >= '0' && c <= '9') || c == '_' || c == '-';

		putchar(ok ? c : '?');
	}
}

static void json_view(const char *name, const struct view *v, bool comma)
{
	unsigned i;

	printf("\"%s\":{\"count\":%llu,\"p50_ns\":%llu,\"p99_ns\":%llu,\"p999_ns\":%llu,"
	       "\"max_ns\":%llu,\"log2_ns\":[",
	       name, v->count, v->p50_ns, v->p99_ns, v->p999_ns, v->max_ns);
	for (i = 0; i < v->nlog2; i++)
		printf("%s%llu", i ? "," : "", v->log2[i]);
	printf("]}%s", comma ? "," : "");
}

/* counters[] are the span's differences; final: since attach. */
static void print_json(const struct env *env, const struct report *rep,
                       const struct view views[TT_STAGES], const unsigned long long *c,
                       double span_s, bool final)
{
	unsigned i, n = 0;

	printf("{\"pid\":%d,\"interval_s\":%.3f,\"batches\":%llu,\"trades\":%llu,\"stages\":{",
	       (int)env->pid, span_s, c[TT_BATCHES], c[TT_TRADES]);
	for (i = 0; i < TT_STAGES; i++)
		json_view(stage_names[i], &views[i], i + 1 < TT_STAGES);
	printf("},\"gaps\":%llu,\"drops\":{", c[TT_GAPS]);
	for (i = 0; i < rep->nreasons; i++) {
		const struct reason_count *r = &rep->reasons[i];
		unsigned long long d = final ? r->total : r->total - r->prev;

		if (d == 0)
			continue;
		printf("%s\"", n++ ? "," : "");
		print_name(r->name);
		printf("\":%llu", d);
	}
	printf("},\"kernel_drops\":%llu%s}\n", c[TT_KDROPS], final ? ",\"final\":true" : "");
}

static const char *fmt_ns(double ns, char *buf, size_t len)
{
	if (ns < 1e3)
		snprintf(buf, len, "%.0fns", ns);
	else if (ns < 1e6)
		snprintf(buf, len, "%.1fus", ns / 1e3);
	else if (ns < 1e9)
		snprintf(buf, len, "%.2fms", ns / 1e6);
	else
		snprintf(buf, len, "%.2fs", ns / 1e9);
	return buf;
}

/* The libbpf-tools print_log2_hist look: one row per power of two, in ns. */
static void print_log2(const struct view *v)
{
	unsigned long long top = 0;
	unsigned i, first = 0, width = v->nlog2 <= 32 ? 10 : 20;

	for (i = 0; i < v->nlog2; i++) {
		if (v->log2[i] > top)
			top = v->log2[i];
		if (!first && v->log2[i] == 0)
			continue;
		first = first ? first : i + 1;
	}
	printf("%*s%-*s : count    distribution\n", width - 5, "", width + 9, "nsecs");
	for (i = first ? first - 1 : 0; i < v->nlog2; i++) {
		unsigned long long lo = i ? 1ull << i : 0, hi = (2ull << i) - 1;
		unsigned stars = top ? (unsigned)(v->log2[i] * HIST_BAR_WIDTH / top) : 0;

		printf("%*llu -> %-*llu : %-8llu |%.*s%*s|\n", width, lo, width, hi, v->log2[i],
		       stars, "****************************************", HIST_BAR_WIDTH - stars,
		       "");
	}
}

static void text_stage(const char *name, const struct view *v)
{
	char a[32], b[32], c[32], d[32];

	if (v->count == 0) {
		printf("%s: no trades\n", name);
		return;
	}
	printf("%s: %llu trades  p50 %s  p99 %s  p99.9 %s  max %s\n", name, v->count,
	       fmt_ns((double)v->p50_ns, a, sizeof(a)), fmt_ns((double)v->p99_ns, b, sizeof(b)),
	       fmt_ns((double)v->p999_ns, c, sizeof(c)), fmt_ns((double)v->max_ns, d, sizeof(d)));
	print_log2(v);
}

/* Per feed, from the sampled trades:trade probe: which one is behind. */
static void text_feeds(const struct report *rep, bool final)
{
	double worst = -1;
	int worst_feed = -1;
	unsigned i;

	for (i = 0; i < TT_FEEDS_MAX; i++) {
		const struct tt_feed *f = &rep->now.feeds[i], *p = &rep->prev.feeds[i];
		unsigned long long n = f->samples - (final ? 0 : p->samples);
		double rx, ex;
		char a[32], b[32], c[32];

		if (n == 0)
			continue;
		rx = (double)(f->rx_to_accepted_sum_ns - (final ? 0 : p->rx_to_accepted_sum_ns)) /
		     n;
		ex = (double)(f->exch_to_rx_sum_ns - (final ? 0 : p->exch_to_rx_sum_ns)) / n;
		printf("feed %u: %llu sampled  rx->accepted avg %s (max %s)  exchange->rx avg %s\n",
		       i, n, fmt_ns(rx, a, sizeof(a)),
		       fmt_ns((double)f->rx_to_accepted_max_ns, b, sizeof(b)),
		       fmt_ns(ex, c, sizeof(c)));
		if (ex > worst) {
			worst = ex;
			worst_feed = (int)i;
		}
	}
	if (worst_feed >= 0)
		printf("most behind: feed %d (see `trades stat` for its name)\n", worst_feed);
}

static void print_text(const struct env *env, const struct report *rep,
                       const struct view views[TT_STAGES], const unsigned long long *c,
                       double span_s, bool final)
{
	char when[32];
	time_t t = time(NULL);
	unsigned i;

	strftime(when, sizeof(when), "%H:%M:%S", localtime(&t));
	printf("%s %spid %d over %.3f s\n", when, final ? "TOTAL " : "", (int)env->pid, span_s);
	printf("batches %llu (%.1f/s)  events %llu  trades %llu (%.1f/s)  syncs %llu\n",
	       c[TT_BATCHES], c[TT_BATCHES] / span_s, c[TT_EVENTS], c[TT_TRADES],
	       c[TT_TRADES] / span_s, c[TT_SYNCS]);
	printf("gaps %llu (%llu messages)  drops %llu  kernel_drops %llu (rcvbuf %llu, udp_csum "
	       "%llu, proto_mem %llu)\n",
	       c[TT_GAPS], c[TT_GAP_MISSING], c[TT_DROPS], c[TT_KDROPS], c[TT_KDROP_RCVBUF],
	       c[TT_KDROP_CSUM], c[TT_KDROP_PROTOMEM]);
	for (i = 0; i < rep->nreasons; i++) {
		unsigned long long d = rep->reasons[i].total - (final ? 0 : rep->reasons[i].prev);

		if (d == 0)
			continue;
		printf("  drop ");
		print_name(rep->reasons[i].name);
		printf(": %llu\n", d);
	}
	if (c[TT_UNBATCHED])
		printf("  %llu trades committed outside a traced receive batch (no latency)\n",
		       c[TT_UNBATCHED]);
	for (i = 0; i < TT_STAGES; i++)
		text_stage(stage_names[i], &views[i]);
	text_feeds(rep, final);
	printf("\n");
}

/* One report: the interval since the last (final: everything since attach). */
static void report(const struct env *env, struct report *rep, double span_s, bool final)
{
	static struct view views[TT_STAGES];
	unsigned long long c[TT_COUNTERS];
	unsigned i;

	for (i = 0; i < TT_COUNTERS; i++)
		c[i] = rep->now.counters[i] - (final ? 0 : rep->prev.counters[i]);
	for (i = 0; i < TT_STAGES; i++)
		view_make(&views[i], &rep->now.hists[i], final ? NULL : &rep->prev.hists[i],
		          final ? rep->total_max_ns[i] : rep->max_ns[i]);
	if (span_s <= 0)
		span_s = 1e-3;
	if (env->json)
		print_json(env, rep, views, c, span_s, final);
	else
		print_text(env, rep, views, c, span_s, final);
	for (i = 0; i < rep->nreasons; i++)
		rep->reasons[i].prev = rep->reasons[i].total;
	fflush(stdout);
}

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Reports every interval until -d or a signal.  Without -d this is the one
 * loop bounded only by the operator (SIGINT/SIGTERM), as bcc's tools do. */
static void run(const struct env *env, struct trades_trace_bpf *obj, struct report *rep,
                struct inodes *socks)
{
	const struct timespec tick = {.tv_sec = 0, .tv_nsec = TICK_MS * 1000000L};
	double start = mono_s(), last = start, last_socks = start, now;
	int socks_fd = bpf_map__fd(obj->maps.socks);

	for (;;) {
		nanosleep(&tick, NULL);
		now = mono_s();
		if (now - last_socks >= SOCKS_REFRESH_MS / 1000.0) {
			socks_refresh(env, socks_fd, socks);
			last_socks = now;
		}
		if (exiting || (env->duration_s && now - start >= env->duration_s))
			break;
		if (now - last >= env->interval_s) {
			snapshot(obj, rep);
			report(env, rep, now - last, false);
			last = now;
		}
	}
	snapshot(obj, rep);
	if (now - last > TICK_MS / 1000.0 / 2)
		report(env, rep, now - last, false); /* the tail of the last interval */
	report(env, rep, now - start, true);
}

int main(int argc, char **argv)
{
	static struct report rep;
	static struct inodes socks;
	struct trades_trace_bpf *obj = NULL;
	struct env env = {0};
	int rc = EXIT_RUNTIME;

	if (parse_args(argc, argv, &env) < 0)
		return EXIT_USAGE;
	libbpf_verbose = env.verbose;
	libbpf_set_print(libbpf_print);
	if (check_privileges(&env) < 0 || check_kernel() < 0 || check_target(&env) < 0)
		return EXIT_RUNTIME;
	if (open_load(&obj) < 0 || attach_usdt(obj, &env) < 0)
		goto cleanup;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	socks_refresh(&env, bpf_map__fd(obj->maps.socks), &socks);
	if (env.pid)
		fprintf(stderr, "trades-trace: tracing pid %d", (int)env.pid);
	else
		fprintf(stderr, "trades-trace: tracing every process of %s", env.binary);
	fprintf(stderr, " (%u probes + skb:kfree_skb, %u sockets)%s\n", PROBES, socks.n,
	        socks.full ? ", socket table full" : "");
	run(&env, obj, &rep, &socks);
	rc = 0;
cleanup:
	trades_trace_bpf__destroy(obj);
	return rc;
}
