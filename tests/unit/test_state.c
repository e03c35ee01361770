/* test_state.c -- the state file and the duplicate filter.
 *
 * Every test works in its own directory under a mkdtemp() root in /tmp,
 * removed at the end.  Locks are per process, so whatever needs a second
 * writer or a reader in another process forks; a child reports through its
 * exit status (0 = all its checks held) or a pipe, and the parent CHECKs that.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "src/state/dedup.h"
#include "trades/crc32c.h"
#include "trades/state.h"
#include "trades/timefmt.h"

#define FILE_MAX  (1u << 20) /* the small test files are ~135 KiB */
#define PX(units) ((int64_t)(units)*TRADE_SCALE)

static char root[64];
static uint8_t before_buf[FILE_MAX], after_buf[FILE_MAX], orig_buf[FILE_MAX];

/* ---- helpers ---- */

static void test_dir(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", root, name);
}

static void state_path(char *buf, size_t len, const char *dir)
{
	snprintf(buf, len, "%s/%s", dir, STATE_FILE_NAME);
}

static void remove_dir(const char *dir)
{
	char p[256];

	state_path(p, sizeof(p), dir);
	unlink(p);
	strncat(p, ".tmp", sizeof(p) - strlen(p) - 1);
	unlink(p);
	snprintf(p, sizeof(p), "%s/%s", dir, STATE_LOCK_NAME);
	unlink(p);
	rmdir(dir);
}

static int open_state(struct state *s, const char *dir, enum state_open_mode mode, uint32_t cap)
{
	char err[512];
	int rc = state_open(s, dir, mode, cap, err, sizeof(err));

	if (rc != 0)
		fprintf(stderr, "state_open %s: %s\n", dir, err);
	return rc;
}

static struct trade mk_trade(uint32_t inst, uint16_t feed, int64_t price, int64_t qty, uint64_t id,
                             uint64_t seq)
{
	struct trade t;

	memset(&t, 0, sizeof(t));
	t.instrument = inst;
	t.feed = feed;
	t.price = price;
	t.qty = qty;
	t.trade_id = id;
	t.seq = seq;
	t.flags = (uint8_t)((id ? TRADE_F_HAS_ID : 0) | (seq ? TRADE_F_HAS_SEQ : 0));
	return t;
}

static uint64_t applied(const struct state *s)
{
	return atomic_load(&s->hdr->applied_jseq);
}

static void apply(struct state *s, const struct trade *t)
{
	state_apply_trade(s, t, applied(s) + 1);
}

static size_t slurp(const char *path, uint8_t *buf)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return 0;
	n = read(fd, buf, FILE_MAX);
	close(fd);
	return n < 0 ? 0 : (size_t)n;
}

static void spit(const char *path, const uint8_t *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	CHECK(fd >= 0);
	CHECK_EQ_INT(write(fd, buf, len), len);
	close(fd);
}

static bool contains(const char *hay, const char *needle)
{
	return strstr(hay, needle) != NULL;
}

/* ---- 0. the file is allocated, not sparse ---- */

static bool fully_allocated(const char *path)
{
	struct stat st;

	CHECK_EQ_INT(stat(path, &st), 0);
	return (uint64_t)st.st_blocks * 512 >= (uint64_t)st.st_size;
}

/* A sparse state file faults (SIGBUS) at the first touch of a hole once the
 * disk is full -- in a reader too, on tmpfs.  Every block must exist. */
static void test_allocated(void)
{
	struct state s;
	char dir[128], path[256];
	uint64_t off, len;
	int fd;

	test_dir(dir, sizeof(dir), "alloc");
	if (open_state(&s, dir, STATE_OPEN_WRITE, 64) != 0) {
		CHECK(0);
		return;
	}
	off = s.hdr->off_dedup;
	len = s.hdr->off_candles - off; /* the candle region after it is not all zero */
	state_close(&s, true);
	state_path(path, sizeof(path), dir);
	CHECK(fully_allocated(path));
	/* a file an older build left sparse (ftruncate) is allocated at the
	 * next write open: punch the (all-zero) dedup table out, reopen */
	fd = open(path, O_RDWR);
	CHECK(fd >= 0);
	CHECK_EQ_INT(
	        fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len),
	        0);
	close(fd);
	CHECK(!fully_allocated(path));
	if (open_state(&s, dir, STATE_OPEN_WRITE, 64) == 0)
		state_close(&s, true);
	CHECK(fully_allocated(path));
	remove_dir(dir);
}

/* ---- 0b. counters outside the journal, and their boundary checks ---- */

/* Runs fn in a child: true if the child died of SIGABRT (an ENSURE). */
static bool aborts(void (*fn)(struct state *), struct state *s)
{
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		fclose(stderr); /* the ENSURE message is expected */
		fn(s);
		_exit(0);
	}
	CHECK(pid > 0);
	CHECK_EQ_INT(waitpid(pid, &status, 0), pid);
	return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
}

static void bad_ext(struct state *s)
{
	state_feed_ext_add(s, 0, STATE_EXT_COUNT, 1);
}

static void bad_feed(struct state *s)
{
	state_feed_count(s, TRADE_FEED_MAX, STATE_CNT_RECEIVED, 1);
}

static void bad_reason(struct state *s)
{
	state_feed_malformed(s, 0, MALFORMED_COUNT);
}

static void bad_gap_jseq(struct state *s)
{
	state_apply_gap(s, 0, 1, 2, applied(s) + 2);
}

static void test_feed_counters(void)
{
	struct state s;
	const struct state_feed *f;
	char dir[128];

	test_dir(dir, sizeof(dir), "counters");
	if (open_state(&s, dir, STATE_OPEN_WRITE, 16) != 0) {
		CHECK(0);
		return;
	}
	CHECK_EQ_INT(state_feed_define(&s, 0, "c"), 0);
	f = &s.feeds[0];
	state_feed_count(&s, 0, STATE_CNT_RECEIVED, 7);
	state_feed_count(&s, 0, STATE_CNT_DUPLICATES, 2);
	state_feed_count(&s, 0, STATE_CNT_STORE_FAILED, 3);
	state_feed_malformed(&s, 0, MALFORMED_BAD_PRICE);
	state_feed_malformed(&s, 0, MALFORMED_BAD_PRICE);
	state_feed_ext_add(&s, 0, STATE_EXT_REQUESTS, 5);
	state_feed_gaps_add(&s, 0, 2, 9);
	state_apply_gap(&s, 0, 10, 19, applied(&s) + 1);
	CHECK_EQ_INT(f->received, 7);
	CHECK_EQ_INT(f->duplicates, 2);
	CHECK_EQ_INT(f->store_failed, 3);
	CHECK_EQ_INT(f->malformed, 2);
	CHECK_EQ_INT(f->malformed_by[MALFORMED_BAD_PRICE], 2);
	CHECK_EQ_INT(f->ext[STATE_EXT_REQUESTS], 5);
	CHECK_EQ_INT(f->gaps, 2);
	CHECK_EQ_INT(f->gap_missing, 9);
	CHECK_EQ_INT(f->ext[STATE_EXT_GAPS_UNRECOVERED], 1);
	CHECK_EQ_INT(f->ext[STATE_EXT_MISSING_UNRECOVERED], 10);
	CHECK_EQ_INT(applied(&s), 1); /* the define did not advance it */
	CHECK_EQ_INT(atomic_load(&s.hdr->undo.jseq), 0);
	/* the boundary checks hold in every build type */
	CHECK(aborts(bad_ext, &s));
	CHECK(aborts(bad_feed, &s));
	CHECK(aborts(bad_reason, &s));
	CHECK(aborts(bad_gap_jseq, &s));
	state_close(&s, true);
	remove_dir(dir);
}

/* ---- 1. aggregates, names, clean flag ---- */

struct expect {
	uint64_t trades;
	__int128 volume, notional;
};

static void add(struct expect *e, const struct trade *t, int sign)
{
	e->trades += (uint64_t)sign;
	e->volume += sign * (__int128)t->qty;
	e->notional += sign * (__int128)t->price * t->qty;
}

static void define_names(struct state *s)
{
	char long_sym[TRADE_SYMBOL_MAX + 2];
	char long_feed[STATE_FEED_NAME_MAX + 2];

	CHECK_EQ_INT(state_next_id(s), 0);
	CHECK_EQ_INT(state_define(s, 0, "BTC/USD", 7), 0);
	CHECK_EQ_INT(state_define(s, 0, "BTC/USD", 7), 0);  /* idempotent */
	CHECK_EQ_INT(state_define(s, 0, "ETH/USD", 7), -1); /* id taken */
	CHECK_EQ_INT(state_define(s, 2, "ETH/USD", 7), -1); /* not the next id */
	CHECK_EQ_INT(state_define(s, 1, "BTC/USD", 7), -1); /* symbol elsewhere */
	CHECK_EQ_INT(state_define(s, 1, "ETH/USD", 7), 0);
	CHECK_EQ_INT(state_define(s, 2, "", 0), -1);
	memset(long_sym, 'A', sizeof(long_sym));
	CHECK_EQ_INT(state_define(s, 2, long_sym, TRADE_SYMBOL_MAX + 1), -1);
	CHECK_EQ_INT(state_define(s, 2, long_sym, TRADE_SYMBOL_MAX), 0);
	CHECK_EQ_INT(state_lookup(s, "BTC/USD", 7), 0);
	CHECK_EQ_INT(state_lookup(s, "ETH/USD", 7), 1);
	CHECK_EQ_INT(state_lookup(s, long_sym, TRADE_SYMBOL_MAX), 2);
	CHECK_EQ_INT(state_lookup(s, "BTC", 3), -1);
	CHECK_EQ_INT(state_lookup(s, "XRP/USD", 7), -1);
	CHECK_EQ_INT(state_next_id(s), 3);

	CHECK_EQ_INT(state_feed_next_id(s), 0);
	CHECK_EQ_INT(state_feed_define(s, 0, "kraken"), 0);
	CHECK_EQ_INT(state_feed_define(s, 0, "kraken"), 0);
	CHECK_EQ_INT(state_feed_define(s, 0, "other"), -1);
	CHECK_EQ_INT(state_feed_define(s, 2, "other"), -1);
	CHECK_EQ_INT(state_feed_define(s, 1, "kraken"), -1);
	CHECK_EQ_INT(state_feed_define(s, 1, ""), -1);
	memset(long_feed, 'f', sizeof(long_feed) - 1);
	long_feed[sizeof(long_feed) - 1] = 0;
	CHECK_EQ_INT(state_feed_define(s, 1, long_feed), -1);
	CHECK_EQ_INT(state_feed_define(s, 1, "binance"), 0);
	CHECK_EQ_INT(state_feed_lookup(s, "kraken"), 0);
	CHECK_EQ_INT(state_feed_lookup(s, "binance"), 1);
	CHECK_EQ_INT(state_feed_lookup(s, "kra"), -1);
	CHECK_EQ_INT(state_feed_next_id(s), 2);
}

static void check_inst(const struct state_instrument *in, const struct expect *e)
{
	CHECK_EQ_INT(in->trades, e->trades);
	CHECK(in->volume == e->volume);
	CHECK(in->notional == e->notional);
	CHECK((in->seqlock & 1) == 0);
}

/* BTC/USD: four trades and a correction; the sums cross 64 bits. */
static void agg_trades(struct trade t[5])
{
	/* 1e6 * 1e4 needs more than 64 bits once scaled twice (1e26) */
	t[0] = mk_trade(0, 0, PX(1000000), PX(10000), 1, 0);
	t[1] = mk_trade(0, 0, PX(1000000) + 50000000, 250000000, 2, 0); /* 1000000.5 x 2.5 */
	t[1].price_dp = 1;
	t[1].qty_dp = 1;
	t[2] = mk_trade(0, 0, PX(1000000) - 1, 1, 3, 0); /* 999999.99999999 x 0.00000001 */
	t[2].price_dp = 8;
	t[2].qty_dp = 8;
	t[3] = mk_trade(0, 0, PX(1000001), PX(3), 4, 0);
	t[3].price_dp = 2;
	t[3].ts_exch_ns = 1735787045123000000LL;
	t[3].ts_rx_ns = 1735787045124000000LL;
	t[4] = t[1]; /* reverses trade 2 */
	t[4].flags |= TRADE_F_CORRECTION;
}

static void agg_check_read(const char *dir, const struct trade *t, const struct expect *e)
{
	struct state_instrument in;
	struct state s;

	if (open_state(&s, dir, STATE_OPEN_READ, 0) != 0) {
		CHECK(0);
		return;
	}
	CHECK_EQ_INT(atomic_load(&s.hdr->clean), 1);
	CHECK_EQ_INT(state_writer_pid(&s), 0);
	CHECK_EQ_INT(applied(&s), 7);
	CHECK_EQ_INT(state_read_instrument(&s, 0, &in), 0);
	check_inst(&in, e);
	/* by hand: 1e14 * 1e12 + 99999999999999 * 1 + 100000100000000 * 3e8 */
	CHECK(in.notional == (__int128)1000300000300LL * 100000000000000LL + 99999999999999LL);
	CHECK(in.volume == 1000300000001LL);
	CHECK_EQ_INT(in.trades, 3);
	CHECK_EQ_INT(in.corrections, 1);
	CHECK_EQ_INT(in.first, t[0].price);
	CHECK_EQ_INT(in.last, t[3].price);
	CHECK_EQ_INT(in.high, t[3].price);
	CHECK_EQ_INT(in.low, t[2].price);
	CHECK_EQ_INT(in.price_dp, 8);
	CHECK_EQ_INT(in.qty_dp, 8);
	CHECK_EQ_INT(in.last_trade_id, 4);
	CHECK_EQ_INT(in.last_ts_exch_ns, t[3].ts_exch_ns);
	CHECK_EQ_INT(in.last_ts_rx_ns, t[3].ts_rx_ns);
	CHECK_EQ_INT(in.applied_jseq, 5);
	CHECK_EQ_STR(in.symbol, "BTC/USD");
	CHECK_EQ_INT(state_read_instrument(&s, 1, &in), 0);
	CHECK_EQ_INT(in.trades, 1);
	CHECK(in.notional == (__int128)PX(3000) * PX(1));
	CHECK_EQ_INT(state_read_instrument(&s, 3, &in), -1); /* not defined */
	CHECK_EQ_INT(state_lookup(&s, "ETH/USD", 7), 1);
	CHECK_EQ_INT(state_feed_lookup(&s, "binance"), 1);
	CHECK_EQ_INT(s.feeds[0].accepted, 5); /* the correction is accepted too */
	CHECK_EQ_INT(s.feeds[1].accepted, 1);
	CHECK_EQ_INT(s.feeds[1].no_trade_id, 1);
	state_close(&s, false);
}

static void test_aggregates(void)
{
	struct state s;
	struct expect e = {0};
	struct trade t[5];
	char dir[128];

	test_dir(dir, sizeof(dir), "agg");
	if (open_state(&s, dir, STATE_OPEN_WRITE, 16) != 0) {
		CHECK(0);
		return;
	}
	CHECK_EQ_INT(s.hdr->inst_cap, 16);
	CHECK_EQ_INT(s.hdr->index_cap, 32);
	CHECK_EQ_INT(s.hdr->dedup_cap, 32);
	CHECK_EQ_INT(s.hdr->off_index % 4096, 0);
	CHECK_EQ_INT(s.hdr->off_dedup % 4096, 0);
	CHECK_EQ_INT(s.hdr->open_count, 1);
	CHECK_EQ_INT(atomic_load(&s.hdr->clean), 0);
	CHECK_EQ_INT(s.hdr->writer_pid, getpid());
	define_names(&s);
	agg_trades(t);
	for (int i = 0; i < 5; i++) {
		apply(&s, &t[i]);
		add(&e, &t[i], i == 4 ? -1 : 1);
	}
	CHECK(e.notional > (__int128)INT64_MAX);
	apply(&s, &(struct trade){.instrument = 1, .feed = 1, .price = PX(3000), .qty = PX(1)});
	state_apply_other(&s, applied(&s) + 1);
	CHECK_EQ_INT(applied(&s), 7);
	state_heartbeat(&s, 42);
	CHECK_EQ_INT(atomic_load(&s.hdr->heartbeat_ns), 42);
	state_close(&s, true);
	agg_check_read(dir, t, &e);

	/* an existing file keeps its capacity; not-clean close is visible */
	if (open_state(&s, dir, STATE_OPEN_WRITE, 1000) == 0) {
		CHECK_EQ_INT(s.hdr->inst_cap, 16);
		CHECK_EQ_INT(s.hdr->open_count, 2);
		CHECK_EQ_INT(atomic_load(&s.hdr->clean), 0);
		state_close(&s, false);
	}
	if (open_state(&s, dir, STATE_OPEN_READ, 0) == 0) {
		CHECK_EQ_INT(atomic_load(&s.hdr->clean), 0);
		state_close(&s, false);
	}
	remove_dir(dir);
}

/* Table full, capacity limits, a READ open of nothing, a stale tmp file. */
static void test_limits(void)
{
	struct state s;
	char dir[128], p[256], err[512];

	test_dir(dir, sizeof(dir), "limits");
	CHECK_EQ_INT(state_open(&s, dir, STATE_OPEN_READ, 0, err, sizeof(err)), -1);
	CHECK(contains(err, dir) && contains(err, "No such file"));
	CHECK_EQ_INT(
	        state_open(&s, dir, STATE_OPEN_WRITE, STATE_INST_CAP_MAX + 1, err, sizeof(err)),
	        -1);
	CHECK(contains(err, "exceeds the maximum"));
	mkdir(dir, 0755);
	state_path(p, sizeof(p), dir);
	strncat(p, ".tmp", sizeof(p) - strlen(p) - 1);
	spit(p, (const uint8_t *)"junk", 4); /* a crashed create */
	if (open_state(&s, dir, STATE_OPEN_WRITE, 2) != 0) {
		CHECK(0);
		return;
	}
	CHECK(access(p, F_OK) != 0);
	CHECK_EQ_INT(s.hdr->index_cap, 4);
	CHECK_EQ_INT(state_define(&s, 0, "A", 1), 0);
	CHECK_EQ_INT(state_define(&s, 1, "B", 1), 0);
	CHECK_EQ_INT(state_next_id(&s), -1);
	CHECK_EQ_INT(state_define(&s, 2, "C", 1), -1);
	CHECK_EQ_INT(state_lookup(&s, "B", 1), 1);
	for (uint16_t i = 0; i < TRADE_FEED_MAX; i++) {
		char name[16];

		snprintf(name, sizeof(name), "f%u", i);
		CHECK_EQ_INT(state_feed_define(&s, i, name), 0);
	}
	CHECK_EQ_INT(state_feed_next_id(&s), -1);
	CHECK_EQ_INT(state_feed_lookup(&s, "f255"), 255);
	state_close(&s, true);
	remove_dir(dir);
}

/* A define that crashed after writing its index entry but before publishing
 * inst_count, and a feed define that crashed before its first byte. */
static void test_crashed_define(void)
{
	struct state s;
	char dir[128];

	test_dir(dir, sizeof(dir), "define");
	if (open_state(&s, dir, STATE_OPEN_WRITE, 8) != 0) {
		CHECK(0);
		return;
	}
	CHECK_EQ_INT(state_define(&s, 0, "AAA", 3), 0);
	CHECK_EQ_INT(state_define(&s, 1, "ZZZ", 3), 0);
	atomic_store(&s.hdr->inst_count, 1); /* as if killed before the publish */
	CHECK_EQ_INT(state_lookup(&s, "ZZZ", 3), -1);
	CHECK_EQ_INT(state_next_id(&s), 1);
	CHECK_EQ_INT(state_define(&s, 1, "YYY", 3), 0);
	CHECK_EQ_INT(state_lookup(&s, "YYY", 3), 1);
	CHECK_EQ_INT(state_lookup(&s, "ZZZ", 3), -1);
	CHECK_EQ_INT(state_define(&s, 2, "ZZZ", 3), 0);
	CHECK_EQ_INT(state_lookup(&s, "ZZZ", 3), 2);
	CHECK_EQ_INT(state_lookup(&s, "AAA", 3), 0);

	memcpy(s.feeds[0].name + 1, "eed", 4); /* name[0] still 0: unused */
	CHECK_EQ_INT(state_feed_next_id(&s), 0);
	CHECK_EQ_INT(state_feed_lookup(&s, "feed"), -1);
	CHECK_EQ_INT(state_feed_define(&s, 0, "x"), 0);
	CHECK_EQ_STR(s.feeds[0].name, "x");
	state_close(&s, true);
	remove_dir(dir);
}

/* ---- 2. refusals ---- */

/* Corrupts a copy of a good file with fn, then both open modes must refuse
 * with msg in the error and leave every byte as it was. */
static void refuse_case(const char *dir, const char *path, size_t len, const char *what,
                        void (*fn)(const char *path, size_t len), const char *msg)
{
	struct state s;
	char err[512];
	size_t n, m;

	spit(path, orig_buf, len);
	fn(path, len);
	n = slurp(path, before_buf);
	for (int mode = 0; mode < 2; mode++) {
		err[0] = 0;
		CHECK_EQ_INT(state_open(&s, dir, mode ? STATE_OPEN_READ : STATE_OPEN_WRITE, 0, err,
		                        sizeof(err)),
		             -1);
		if (!contains(err, msg) || !contains(err, path))
			fprintf(stderr, "%s: got \"%s\", wanted \"%s\"\n", what, err, msg);
		CHECK(contains(err, msg));
		CHECK(contains(err, path));
		m = slurp(path, after_buf);
		CHECK_EQ_INT(m, n);
		CHECK(memcmp(before_buf, after_buf, n) == 0);
	}
}

static void poke(const char *path, off_t off, const void *bytes, size_t len)
{
	int fd = open(path, O_WRONLY);

	CHECK(fd >= 0);
	CHECK_EQ_INT(pwrite(fd, bytes, len, off), len);
	close(fd);
}

/* A file of ours that fails a checksum: a reader refuses it (or, for a
 * slot, reads STATE_READ_DAMAGED), a writer moves it aside byte for byte
 * to trades.state.damaged.<ns> and starts an empty state. */
static void damaged_case(const char *dir, const char *path, size_t len, const char *what,
                         void (*fn)(const char *path, size_t len), const char *msg)
{
	char err[512], aside[512];
	struct state_instrument in;
	struct state s;
	size_t n;
	FILE *ls;

	spit(path, orig_buf, len);
	fn(path, len);
	n = slurp(path, before_buf);
	err[0] = 0;
	if (state_open(&s, dir, STATE_OPEN_READ, 0, err, sizeof(err)) == 0) {
		CHECK_EQ_INT(state_read_instrument(&s, 0, &in), STATE_READ_DAMAGED);
		state_close(&s, false);
	} else if (!contains(err, msg)) {
		fprintf(stderr, "%s: got \"%s\", wanted \"%s\"\n", what, err, msg);
		CHECK(0);
	}
	CHECK_EQ_INT(open_state(&s, dir, STATE_OPEN_WRITE, 16), 0);
	CHECK_EQ_INT(atomic_load(&s.hdr->inst_count), 0);
	CHECK(s.damaged);
	state_close(&s, true);
	snprintf(aside, sizeof(aside), "ls -d %s.damaged.* 2>/dev/null", path);
	ls = popen(aside, "r");
	CHECK(ls && fgets(aside, sizeof(aside), ls));
	if (ls)
		pclose(ls);
	aside[strcspn(aside, "\n")] = 0;
	CHECK_EQ_INT(slurp(aside, after_buf), n);
	CHECK(memcmp(before_buf, after_buf, n) == 0);
	CHECK_EQ_INT(unlink(aside), 0);
}

/* A flipped bit in instrument 0's trade count. */
static void bad_slot(const char *path, size_t len)
{
	const struct state_header *h = (const void *)orig_buf;
	uint8_t b = orig_buf[h->off_inst + offsetof(struct state_instrument, trades) + 7] ^ 0x40;

	(void)len;
	poke(path, (off_t)(h->off_inst + offsetof(struct state_instrument, trades) + 7), &b, 1);
}

static void bad_magic(const char *path, size_t len)
{
	(void)len;
	poke(path, 0, "XXXXXXXX", 8);
}

static void bad_version(const char *path, size_t len)
{
	uint32_t v = STATE_VERSION + 1;

	(void)len;
	poke(path, offsetof(struct state_header, version), &v, sizeof(v));
}

static void bad_crc(const char *path, size_t len)
{
	uint32_t cap = 17; /* a changed immutable field, crc not updated */

	(void)len;
	poke(path, offsetof(struct state_header, inst_cap), &cap, sizeof(cap));
}

/* A layout that passes the crc but does not add up. */
static void bad_layout(const char *path, size_t len)
{
	struct state_header h;

	(void)len;
	memcpy(&h, orig_buf, offsetof(struct state_header, layout_crc));
	h.off_dedup += 4096;
	h.layout_crc = crc32c(0, &h, offsetof(struct state_header, layout_crc));
	poke(path, 0, &h, offsetof(struct state_header, pad0));
}

static void cut_tail(const char *path, size_t len)
{
	CHECK_EQ_INT(truncate(path, (off_t)len - 4096), 0);
}

static void cut_header(const char *path, size_t len)
{
	(void)len;
	CHECK_EQ_INT(truncate(path, 100), 0);
}

static void grow(const char *path, size_t len)
{
	CHECK_EQ_INT(truncate(path, (off_t)len + 4096), 0);
}

static void bad_undo(const char *path, size_t len)
{
	uint64_t jseq = 1;
	uint32_t inst = 999;

	(void)len;
	poke(path, offsetof(struct state_header, undo.inst_id), &inst, sizeof(inst));
	poke(path, offsetof(struct state_header, undo.jseq), &jseq, sizeof(jseq));
}

static void refuse_write_only(const char *dir, const char *path, size_t len)
{
	struct state s;
	char err[512];
	size_t n;

	spit(path, orig_buf, len);
	bad_undo(path, len);
	n = slurp(path, before_buf);
	CHECK_EQ_INT(state_open(&s, dir, STATE_OPEN_WRITE, 0, err, sizeof(err)), -1);
	CHECK(contains(err, "undo record is inconsistent"));
	CHECK(slurp(path, after_buf) == n && memcmp(before_buf, after_buf, n) == 0);
	/* a reader never writes, so an armed record is just a writer at work */
	if (open_state(&s, dir, STATE_OPEN_READ, 0) == 0)
		state_close(&s, false);
	CHECK(slurp(path, after_buf) == n && memcmp(before_buf, after_buf, n) == 0);
}

/* Forked while the parent holds the writer lock: a second writer must be
 * refused naming the parent; a reader must see the parent as the writer. */
static int lock_child(const char *dir)
{
	struct state s;
	char err[512], want[64];
	int bad = 0;

	snprintf(want, sizeof(want), "locked by pid %d", (int)getppid());
	if (state_open(&s, dir, STATE_OPEN_WRITE, 0, err, sizeof(err)) != -1)
		bad |= 1;
	else if (!contains(err, want))
		bad |= 2;
	if (open_state(&s, dir, STATE_OPEN_READ, 0) != 0)
		return bad | 4;
	if (state_writer_pid(&s) != getppid())
		bad |= 8;
	if (s.hdr->writer_pid != (uint32_t)getppid())
		bad |= 16;
	state_close(&s, false);
	if (bad)
		fprintf(stderr, "lock child: %d (%s)\n", bad, err);
	return bad;
}

static void test_lock(const char *dir)
{
	struct state s;
	int status = -1;
	pid_t pid;

	if (open_state(&s, dir, STATE_OPEN_WRITE, 0) != 0) {
		CHECK(0);
		return;
	}
	CHECK_EQ_INT(state_writer_pid(&s), getpid());
	pid = fork();
	if (pid == 0)
		_exit(lock_child(dir));
	CHECK(pid > 0);
	CHECK_EQ_INT(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status));
	CHECK_EQ_INT(WEXITSTATUS(status), 0);
	state_close(&s, true);
	if (open_state(&s, dir, STATE_OPEN_READ, 0) == 0) {
		CHECK_EQ_INT(state_writer_pid(&s), 0);
		state_close(&s, false);
	}
}

static void test_refusals(void)
{
	struct state s;
	char dir[128], path[256];
	size_t len;

	test_dir(dir, sizeof(dir), "refuse");
	state_path(path, sizeof(path), dir);
	if (open_state(&s, dir, STATE_OPEN_WRITE, 16) != 0) {
		CHECK(0);
		return;
	}
	CHECK_EQ_INT(state_define(&s, 0, "BTC/USD", 7), 0);
	state_close(&s, true);
	len = slurp(path, orig_buf);
	CHECK(len > STATE_HEADER_SIZE && len < FILE_MAX);

	refuse_case(dir, path, len, "magic", bad_magic, "bad magic (not a trades state file)");
	char want_version[64];

	snprintf(want_version, sizeof(want_version), "version %u, this build reads version %u",
	         STATE_VERSION + 1, STATE_VERSION);
	refuse_case(dir, path, len, "version", bad_version, want_version);
	damaged_case(dir, path, len, "crc", bad_crc, "bad layout crc");
	damaged_case(dir, path, len, "slot", bad_slot,
	             "instrument slot 0 (BTC/USD) fails its checksum");
	refuse_case(dir, path, len, "layout", bad_layout, "inconsistent layout: off_dedup");
	refuse_case(dir, path, len, "cut", cut_tail, "(truncated or extended)");
	refuse_case(dir, path, len, "header", cut_header, "smaller than its 4096-byte header");
	refuse_case(dir, path, len, "grown", grow, "(truncated or extended)");
	refuse_write_only(dir, path, len);

	spit(path, orig_buf, len);
	test_lock(dir);
	remove_dir(dir);
}

/* ---- 3. duplicate filter ---- */

/* The window against a model that remembers every id ever marked. */
#define MODEL_IDS (1u << 16)
static bool model_marked[MODEL_IDS];

static bool model_seen(uint64_t hwm, uint64_t id)
{
	if (id == 0 || id > hwm)
		return false;
	if (id + STATE_DEDUP_WINDOW <= hwm)
		return true;
	return model_marked[id];
}

static void test_window_model(void)
{
	struct state_dedup d = {.inst_plus1 = 1};
	uint64_t hwm = 0, rng = 88172645463325252ull;
	int mismatches = 0;

	for (uint32_t i = 0; i < 200000 && hwm < MODEL_IDS - 4096; i++) {
		uint64_t id;

		rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17; /* xorshift64 */
		/* mostly near the top, some jumps, some stale re-sends */
		id = hwm + (rng % 3000) - 1500 + ((rng >> 40) % 64 == 0 ? rng % 2048 : 0);
		if ((int64_t)id < 0 || id >= MODEL_IDS)
			continue;
		if (state_dedup_seen(&d, id) != model_seen(hwm, id))
			mismatches++;
		if (!model_seen(hwm, id) && id != 0) {
			state_dedup_mark(&d, id);
			model_marked[id] = true;
			hwm = id > hwm ? id : hwm;
		}
	}
	CHECK_EQ_INT(mismatches, 0);
	CHECK(hwm > 10 * STATE_DEDUP_WINDOW);
	CHECK_EQ_INT(d.hwm, hwm);
}

static int count_seen(const struct state_dedup *d, uint64_t lo, uint64_t hi)
{
	int n = 0;

	for (uint64_t id = lo; id <= hi; id++)
		n += state_dedup_seen(d, id);
	return n;
}

/* issue 10: one garbage id (2^64-1) or a flipped high bit must not move the
 * mark, or every later real id is a duplicate. */
static void test_window_outlier(void)
{
	struct state_dedup d = {.inst_plus1 = 1};

	CHECK(!state_dedup_mark(&d, UINT64_MAX - 5)); /* the first id is never one */
	d = (struct state_dedup){.inst_plus1 = 1};
	for (uint64_t id = 1; id <= 100; id++)
		CHECK(!state_dedup_mark(&d, id));
	CHECK(state_dedup_outlier(&d, UINT64_MAX));
	CHECK(!state_dedup_seen(&d, UINT64_MAX));
	CHECK(state_dedup_mark(&d, UINT64_MAX));
	CHECK(state_dedup_mark(&d, 101 | (1ull << 40))); /* bit 40 flipped */
	CHECK_EQ_INT(d.hwm, 100);
	CHECK(!state_dedup_seen(&d, 101));
	CHECK(state_dedup_seen(&d, 100));
	/* the bound itself still moves the window, one more does not */
	CHECK(!state_dedup_outlier(&d, 100 + STATE_DEDUP_JUMP_MAX));
	CHECK(state_dedup_outlier(&d, 101 + STATE_DEDUP_JUMP_MAX));
	CHECK(!state_dedup_mark(&d, 100 + STATE_DEDUP_JUMP_MAX));
	CHECK_EQ_INT(d.hwm, 100 + STATE_DEDUP_JUMP_MAX);
}

static void test_window(void)
{
	struct state_dedup d = {.inst_plus1 = 1};
	const uint64_t W = STATE_DEDUP_WINDOW;

	CHECK(!state_dedup_seen(&d, 0));
	state_dedup_mark(&d, 0);
	CHECK(!state_dedup_seen(&d, 0));
	CHECK_EQ_INT(d.hwm, 0);
	for (uint64_t id = 1; id <= W; id++) /* in order: a full window */
		state_dedup_mark(&d, id);
	CHECK_EQ_INT(count_seen(&d, 1, W), W);
	CHECK(!state_dedup_seen(&d, W + 1));

	/* a jump of 476: ids W+1..1499 reuse the bits of 1..475 and start unseen */
	state_dedup_mark(&d, 1500);
	CHECK_EQ_INT(count_seen(&d, W + 1, 1499), 0);
	CHECK(state_dedup_seen(&d, 1500 - W));     /* just out: too old */
	CHECK(state_dedup_seen(&d, 1500 - W + 1)); /* oldest in window, marked */
	CHECK(state_dedup_seen(&d, 1500));
	CHECK(!state_dedup_seen(&d, 1501));

	/* out of order inside the window */
	CHECK(!state_dedup_seen(&d, 1200));
	state_dedup_mark(&d, 1200);
	CHECK(state_dedup_seen(&d, 1200));
	CHECK(!state_dedup_seen(&d, 1199));
	CHECK(!state_dedup_seen(&d, 1201));
	CHECK_EQ_INT(d.hwm, 1500);

	/* far below: stale, whatever the bits say */
	CHECK(state_dedup_seen(&d, 1));
	CHECK(state_dedup_seen(&d, 3));

	/* a jump of exactly W: everything older is out, the window is empty */
	state_dedup_mark(&d, 1500 + W);
	CHECK(state_dedup_seen(&d, 1500));
	CHECK_EQ_INT(count_seen(&d, 1501, 1500 + W - 1), 0);
	CHECK(state_dedup_seen(&d, 1500 + W));

	/* a huge jump */
	state_dedup_mark(&d, 1ull << 31);
	CHECK_EQ_INT(count_seen(&d, (1ull << 31) - W + 1, (1ull << 31) - 1), 0);
	CHECK(state_dedup_seen(&d, (1ull << 31) - W));
	CHECK(state_dedup_seen(&d, 1500 + W));
	CHECK(state_dedup_seen(&d, 1ull << 31));

	/* a jump of W - 1 over a full window keeps exactly the old top id */
	for (uint64_t id = (1ull << 31) + 1; id < (1ull << 31) + W; id++)
		state_dedup_mark(&d, id);
	state_dedup_mark(&d, (1ull << 31) + 2 * W - 2);
	CHECK_EQ_INT(count_seen(&d, (1ull << 31) + W, (1ull << 31) + 2 * W - 3), 0);
	CHECK(state_dedup_seen(&d, (1ull << 31) + W - 1));
	CHECK(state_dedup_seen(&d, (1ull << 31) + W - 2)); /* too old now */

	/* marking a seen or stale id changes nothing */
	{
		struct state_dedup copy = d;

		state_dedup_mark(&d, (1ull << 40) + W - 1);
		state_dedup_mark(&d, 5);
		CHECK(memcmp(&copy, &d, sizeof(d)) == 0);
	}
	test_window_model();
	test_window_outlier();
}

static void test_seq_gaps(void)
{
	struct state_feed f;
	const uint64_t seqs[] = {100, 101, 102, 106, 104, 107, 107, 0, 110};

	memset(&f, 0, sizeof(f));
	for (size_t i = 0; i < sizeof(seqs) / sizeof(seqs[0]); i++)
		state_seq_observe(&f, seqs[i]);
	CHECK_EQ_INT(f.gaps, 2); /* 103..105, 108..109; none before 100 */
	CHECK_EQ_INT(f.gap_missing, 5);
	CHECK_EQ_INT(f.out_of_order, 2); /* 104, the second 107 */
	CHECK_EQ_INT(f.last_seq, 110);
}

static void dedup_setup(struct state *s)
{
	const char *syms[] = {"I0", "I1", "I2", "I3"};

	for (uint32_t i = 0; i < 4; i++)
		CHECK_EQ_INT(state_define(s, i, syms[i], 2), 0);
	CHECK_EQ_INT(state_feed_define(s, 0, "f0"), 0);
	CHECK_EQ_INT(state_feed_define(s, 1, "f1"), 0);
	CHECK_EQ_INT(state_feed_define(s, 2, "f2"), 0);
}

static uint64_t overflow_total(const struct state *s)
{
	return s->feeds[0].dedup_overflow + s->feeds[1].dedup_overflow + s->feeds[2].dedup_overflow;
}

/* inst_cap 4 gives a dedup table of 8 entries: 12 (inst, feed) pairs fill it. */
static void test_dedup_state(void)
{
	struct state s;
	struct trade t;
	char dir[128];
	int dup = 0;

	test_dir(dir, sizeof(dir), "dedup");
	if (open_state(&s, dir, STATE_OPEN_WRITE, 4) != 0) {
		CHECK(0);
		return;
	}
	CHECK_EQ_INT(s.hdr->dedup_cap, 8);
	dedup_setup(&s);
	t = mk_trade(0, 0, PX(1), PX(1), 5, 0);
	CHECK(!state_is_duplicate(&s, 0, 0, 5));
	apply(&s, &t);
	CHECK(state_is_duplicate(&s, 0, 0, 5));
	CHECK(!state_is_duplicate(&s, 1, 0, 5)); /* other instrument */
	CHECK(!state_is_duplicate(&s, 0, 1, 5)); /* other feed */
	CHECK(!state_is_duplicate(&s, 0, 0, 0));
	t = mk_trade(1, 0, PX(1), PX(1), 5, 0);
	apply(&s, &t);
	CHECK(state_is_duplicate(&s, 1, 0, 5));
	t = mk_trade(0, 0, PX(1), PX(1), 0, 0); /* no id, twice: both counted */
	apply(&s, &t);
	apply(&s, &t);
	CHECK_EQ_INT(s.feeds[0].no_trade_id, 2);
	CHECK_EQ_INT(s.feeds[0].accepted, 4);
	state_close(&s, true);

	if (open_state(&s, dir, STATE_OPEN_WRITE, 4) != 0) {
		CHECK(0);
		return;
	}
	CHECK(state_is_duplicate(&s, 0, 0, 5)); /* persisted */
	CHECK(state_is_duplicate(&s, 1, 0, 5));
	CHECK(!state_is_duplicate(&s, 0, 1, 5));
	for (uint32_t i = 0; i < 4; i++) {
		for (uint16_t f = 0; f < 3; f++) {
			t = mk_trade(i, f, PX(1), PX(1), 100, 0);
			apply(&s, &t);
			dup += state_is_duplicate(&s, i, f, 100);
		}
	}
	CHECK_EQ_INT(dup, 8);
	CHECK_EQ_INT(overflow_total(&s), 4);
	/* an overflowed pair stays undeduplicated: accepted and counted again */
	for (uint32_t i = 0; i < 4; i++) {
		for (uint16_t f = 0; f < 3; f++) {
			if (!state_is_duplicate(&s, i, f, 100)) {
				t = mk_trade(i, f, PX(1), PX(1), 100, 0);
				apply(&s, &t);
			}
		}
	}
	CHECK_EQ_INT(overflow_total(&s), 8);
	state_close(&s, true);
	remove_dir(dir);
}

/* A writer's open leaves every page of the file in the page cache
 * (state_prefault): no first trade of an instrument takes a major fault on
 * its slot.  Without the prefault only the header, the candle region and
 * what the open wrote are resident on a new file. */
static void test_prefault(void)
{
	static unsigned char vec[(64u << 20) / 4096];
	struct state s;
	char dir[128];
	size_t pages, resident = 0;

	test_dir(dir, sizeof(dir), "prefault");
	if (open_state(&s, dir, STATE_OPEN_WRITE, 16384) != 0) {
		CHECK(0);
		return;
	}
	pages = (s.size + 4095) / 4096;
	CHECK(pages <= sizeof(vec));
	if (pages <= sizeof(vec) && mincore(s.map, s.size, vec) == 0)
		for (size_t i = 0; i < pages; i++)
			resident += vec[i] & 1;
	if (resident != pages)
		fprintf(stderr, "prefault: %zu of %zu pages resident\n", resident, pages);
	CHECK_EQ_INT(resident, pages);
	state_close(&s, true);
	remove_dir(dir);
}

/* ---- 4. seqlock against a reader in another process ---- */

#define SL_TRADES 2000000u
#define SL_INST   2u
#define SL_PRICE  1234567890123LL /* 12345.67890123 */
#define SL_QTY    123456789LL     /* 1.23456789 */

struct sl_report {
	uint64_t reads, violations, gave_up, mid;
};

/* Everything a torn copy would break: the sums, the id, the time and the
 * journal position all follow from the trade count. */
static bool sl_consistent(const struct state_instrument *in, uint32_t id)
{
	__int128 n = in->trades;

	if (in->volume != n * SL_QTY || in->notional != n * SL_QTY * SL_PRICE)
		return false;
	if (in->last_trade_id != in->trades || in->last_ts_exch_ns != (int64_t)in->trades)
		return false;
	if (in->trades == 0)
		return in->applied_jseq == 0;
	if (in->first != SL_PRICE || in->high != SL_PRICE || in->low != SL_PRICE)
		return false;
	return in->applied_jseq == (in->trades - 1) * SL_INST + id + 1 && in->id == id;
}

static void sl_reader(const char *dir, int ready_fd, int out_fd)
{
	struct sl_report r = {0};
	struct state_instrument in;
	struct state s;
	pid_t parent = getppid();
	bool done = false;

	if (open_state(&s, dir, STATE_OPEN_READ, 0) != 0)
		_exit(2);
	if (write(ready_fd, "r", 1) != 1)
		_exit(3);
	/* bounded by the count; the loop ends when the writer is done (a last
	 * pass over every instrument) or gone */
	for (uint64_t i = 0; i < (1ull << 34) && !done; i++) {
		uint32_t id = (uint32_t)(i % SL_INST);

		if (id == 0)
			done = applied(&s) == SL_TRADES;
		if (state_read_instrument(&s, id, &in) != 0) {
			r.gave_up++;
			continue;
		}
		r.reads++;
		r.violations += !sl_consistent(&in, id);
		r.mid += in.trades > 0 && in.trades < SL_TRADES / SL_INST;
		if ((i & 0xffff) == 0 && getppid() != parent)
			break;
	}
	state_close(&s, false);
	_exit(write(out_fd, &r, sizeof(r)) == sizeof(r) ? 0 : 4);
}

static void sl_write(struct state *s)
{
	struct trade t = mk_trade(0, 0, SL_PRICE, SL_QTY, 0, 0);

	for (uint32_t j = 1; j <= SL_TRADES; j++) {
		uint32_t id = (j - 1) % SL_INST;

		t.instrument = id;
		t.trade_id = (j - 1) / SL_INST + 1;
		t.ts_exch_ns = (int64_t)t.trade_id;
		state_apply_trade(s, &t, j);
	}
}

static void test_seqlock(void)
{
	struct sl_report r = {0};
	struct state s;
	int ready[2], out[2], status = -1;
	char dir[128], c;
	pid_t pid;

	test_dir(dir, sizeof(dir), "seqlock");
	if (open_state(&s, dir, STATE_OPEN_WRITE, 16) != 0 || pipe(ready) || pipe(out)) {
		CHECK(0);
		return;
	}
	CHECK_EQ_INT(state_define(&s, 0, "A", 1), 0);
	CHECK_EQ_INT(state_define(&s, 1, "B", 1), 0);
	CHECK_EQ_INT(state_feed_define(&s, 0, "f"), 0);
	pid = fork();
	if (pid == 0)
		sl_reader(dir, ready[1], out[1]);
	CHECK(pid > 0);
	CHECK_EQ_INT(read(ready[0], &c, 1), 1); /* the reader has its own map */
	sl_write(&s);
	CHECK_EQ_INT(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK_EQ_INT(read(out[0], &r, sizeof(r)), sizeof(r));
	printf("seqlock: %llu reads (%llu mid-run), %llu violations, %llu gave up\n",
	       (unsigned long long)r.reads, (unsigned long long)r.mid,
	       (unsigned long long)r.violations, (unsigned long long)r.gave_up);
	CHECK(r.reads > 0);
	CHECK_EQ_INT(r.violations, 0);
	CHECK_EQ_INT(r.gave_up, 0);
	state_close(&s, true);
	close(ready[0]);
	close(ready[1]);
	close(out[0]);
	close(out[1]);
	remove_dir(dir);
}

/* ---- 5. kill -9 ---- */

#define K_INST     4u
#define K_PRICE    4242424242LL
#define K_QTY      50000000LL
#define K_ROUNDS   20
#define K_LOOP_MAX 50000000u

/* Opens (creating on the first round), defines, says so on ready_fd (if not
 * -1), and applies until killed or until limit trades are done; then exits
 * without closing. */
static void k_child(const char *dir, uint32_t limit, int ready_fd)
{
	struct state s;
	struct trade t = mk_trade(0, 0, K_PRICE, K_QTY, 0, 0);

	if (open_state(&s, dir, STATE_OPEN_WRITE, 16) != 0)
		_exit(2);
	for (uint32_t i = 0; i < K_INST; i++) {
		char sym[8];

		snprintf(sym, sizeof(sym), "K%u", i);
		if (state_define(&s, i, sym, strlen(sym)) != 0)
			_exit(3);
	}
	if (state_feed_define(&s, 0, "kill") != 0)
		_exit(4);
	if (ready_fd >= 0 && write(ready_fd, "r", 1) != 1)
		_exit(5);
	for (uint32_t n = 0; n < limit; n++) {
		uint64_t jseq = applied(&s) + 1;

		t.instrument = (uint32_t)(jseq % K_INST);
		t.trade_id = s.inst[t.instrument].trades + 1;
		t.seq = jseq;
		t.flags |= TRADE_F_HAS_SEQ;
		state_apply_trade(&s, &t, jseq);
	}
	_exit(0);
}

/* Every instrument whole, every trade counted exactly once. */
static void k_verify(struct state *s)
{
	uint32_t count = atomic_load(&s->hdr->inst_count);
	uint64_t sum = 0;

	CHECK_EQ_INT(atomic_load(&s->hdr->undo.jseq), 0);
	for (uint32_t i = 0; i < count; i++) {
		const struct state_instrument *in = &s->inst[i];
		uint32_t slot = state_dedup_find(s, i, 0);

		CHECK((in->seqlock & 1) == 0);
		CHECK(in->volume == (__int128)in->trades * K_QTY);
		CHECK(in->notional == (__int128)in->trades * K_QTY * K_PRICE);
		CHECK_EQ_INT(in->last_trade_id, in->trades);
		if (in->trades > 0) {
			CHECK(slot != STATE_DEDUP_NONE);
			CHECK(slot != STATE_DEDUP_NONE && s->dedup[slot].hwm == in->trades);
		}
		sum += in->trades;
	}
	CHECK_EQ_INT(sum, applied(s));
	if (count > 0) {
		CHECK_EQ_INT(s->feeds[0].accepted, sum);
		CHECK_EQ_INT(s->feeds[0].last_seq, sum);
		CHECK_EQ_INT(s->feeds[0].gaps, 0);
		CHECK_EQ_INT(s->feeds[0].out_of_order, 0);
	}
}

static void test_kill9(void)
{
	struct state s;
	char dir[128];
	uint64_t before;
	int status;
	pid_t pid;

	test_dir(dir, sizeof(dir), "kill9");
	for (int round = 0; round < K_ROUNDS; round++) {
		/* 0.2 .. 30 ms, spread unevenly so kills land all over; odd
		 * rounds count from the child's start (kills land in open,
		 * create, rollback, define), even rounds from its first apply */
		useconds_t delay = 200 + (useconds_t)((round * 7919u * 7919u) % 30000u);
		int ready[2];
		char c;

		CHECK_EQ_INT(pipe(ready), 0);
		pid = fork();
		if (pid == 0)
			k_child(dir, K_LOOP_MAX, round % 2 == 0 ? ready[1] : -1);
		CHECK(pid > 0);
		close(ready[1]);
		if (round % 2 == 0) /* 0 bytes: the child failed, waitpid shows it */
			CHECK(read(ready[0], &c, 1) >= 0);
		close(ready[0]);
		usleep(delay);
		kill(pid, SIGKILL);
		CHECK_EQ_INT(waitpid(pid, &status, 0), pid);
		CHECK(WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) == 0));
		if (open_state(&s, dir, STATE_OPEN_WRITE, 16) != 0) {
			CHECK(0);
			return;
		}
		k_verify(&s);
		state_close(&s, false);
	}
	/* one bounded run that ends by itself: progress is exact */
	if (open_state(&s, dir, STATE_OPEN_READ, 0) != 0) {
		CHECK(0);
		return;
	}
	before = applied(&s);
	state_close(&s, false);
	pid = fork();
	if (pid == 0)
		k_child(dir, 1000, -1);
	CHECK_EQ_INT(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	if (open_state(&s, dir, STATE_OPEN_WRITE, 16) == 0) {
		CHECK_EQ_INT(applied(&s), before + 1000);
		k_verify(&s);
		printf("kill9: %llu trades applied over %d kills, %llu rollbacks\n",
		       (unsigned long long)applied(&s), K_ROUNDS,
		       (unsigned long long)s.hdr->recoveries);
		state_close(&s, true);
	}
	remove_dir(dir);
}

/* ---- the rollback itself, armed by hand ---- */

/* Does what state_apply_trade does up to a kill in the middle: arms the
 * undo record, then scribbles over what it saved. */
static void arm_and_scribble(struct state *s, uint32_t slot)
{
	struct state_header *h = s->hdr;
	struct state_undo *u = &h->undo;
	uint64_t jseq = applied(s) + 1;

	u->inst_id = 0;
	u->dedup_slot = slot;
	u->feed_id = 0;
	u->applied_jseq = jseq - 1;
	memcpy(&u->inst, &s->inst[0], sizeof(u->inst));
	if (slot != STATE_DEDUP_NONE)
		memcpy(&u->dedup, &s->dedup[slot], sizeof(u->dedup));
	memcpy(&u->feed, &s->feeds[0], sizeof(u->feed));
	atomic_store(&u->jseq, jseq);

	atomic_fetch_add(&s->inst[0].seqlock, 1); /* killed inside the seqlock */
	s->inst[0].trades += 5;
	s->inst[0].volume = 12345;
	s->inst[0].last = -1;
	if (slot != STATE_DEDUP_NONE) {
		s->dedup[slot].hwm = 5000;
		s->dedup[slot].bits[0] = ~0ull;
	}
	s->feeds[0].accepted += 7;
	s->feeds[0].last_seq = 99;
	atomic_store(&h->applied_jseq, jseq);
}

static void rollback_round(const char *dir, bool with_dedup, uint64_t recoveries)
{
	struct state_instrument inst, rd;
	struct state_dedup dd;
	struct state_feed feed;
	struct state s;
	uint64_t jseq;
	uint32_t slot;
	struct trade t;

	if (open_state(&s, dir, STATE_OPEN_WRITE, 8) != 0) {
		CHECK(0);
		return;
	}
	slot = with_dedup ? state_dedup_find(&s, 0, 0) : STATE_DEDUP_NONE;
	CHECK(!with_dedup || slot != STATE_DEDUP_NONE);
	memcpy(&inst, &s.inst[0], sizeof(inst));
	if (with_dedup)
		memcpy(&dd, &s.dedup[slot], sizeof(dd));
	memcpy(&feed, &s.feeds[0], sizeof(feed));
	jseq = applied(&s);
	arm_and_scribble(&s, slot);
	state_close(&s, false);

	/* a reader changes nothing and gives up on the odd seqlock, after
	 * waiting STATE_READ_WAIT_MS for a writer that might only be preempted */
	if (open_state(&s, dir, STATE_OPEN_READ, 0) == 0) {
		int64_t t0 = timefmt_mono_ns(), waited;

		CHECK_EQ_INT(atomic_load(&s.hdr->undo.jseq), jseq + 1);
		CHECK_EQ_INT(state_read_instrument(&s, 0, &rd), -1);
		waited = timefmt_mono_ns() - t0;
		CHECK(waited >= (int64_t)STATE_READ_WAIT_MS * 1000000);
		CHECK(waited < 10ll * 1000000000);
		state_close(&s, false);
	}
	if (open_state(&s, dir, STATE_OPEN_WRITE, 8) != 0) {
		CHECK(0);
		return;
	}
	CHECK_EQ_INT(s.hdr->recoveries, recoveries);
	CHECK_EQ_INT(atomic_load(&s.hdr->undo.jseq), 0);
	CHECK_EQ_INT(applied(&s), jseq);
	CHECK(memcmp((uint8_t *)&s.inst[0] + 4, (uint8_t *)&inst + 4, sizeof(inst) - 4) == 0);
	CHECK((s.inst[0].seqlock & 1) == 0 && s.inst[0].seqlock > inst.seqlock);
	CHECK(!with_dedup || memcmp(&s.dedup[slot], &dd, sizeof(dd)) == 0);
	CHECK(memcmp(&s.feeds[0], &feed, sizeof(feed)) == 0);
	CHECK_EQ_INT(state_read_instrument(&s, 0, &rd), 0);
	CHECK_EQ_INT(rd.trades, inst.trades);
	CHECK(state_is_duplicate(&s, 0, 0, 3));
	CHECK(!state_is_duplicate(&s, 0, 0, 4));
	t = mk_trade(0, 0, PX(10), PX(2), 0, 0); /* the replay goes on from there */
	apply(&s, &t);
	CHECK_EQ_INT(applied(&s), jseq + 1);
	state_close(&s, true);
}

static void test_rollback(void)
{
	struct state s;
	char dir[128];

	test_dir(dir, sizeof(dir), "rollback");
	if (open_state(&s, dir, STATE_OPEN_WRITE, 8) != 0) {
		CHECK(0);
		return;
	}
	CHECK_EQ_INT(state_define(&s, 0, "AAA", 3), 0);
	CHECK_EQ_INT(state_feed_define(&s, 0, "f"), 0);
	for (uint64_t id = 1; id <= 3; id++) {
		struct trade t = mk_trade(0, 0, PX(100) + (int64_t)id, PX(1), id, id);

		apply(&s, &t);
	}
	state_close(&s, true);
	rollback_round(dir, true, 1);
	rollback_round(dir, false, 2);
	remove_dir(dir);
}

/* Version 6 operations figures: log2 buckets at their edges, set-not-add
 * source counters, sink slots, and all of it surviving a reopen. */
static void test_ops(void)
{
	struct state s;
	struct state_source src = {.bytes = 100, .packets = 3, .acks_sent = 2, .acks_dropped = 1};
	struct state_sink_ops k = {.sent = 5, .acked = 4, .errors = 1, .lag = 1};
	const struct state_hist *h;
	char dir[128];

	CHECK_EQ_INT(state_hist_bucket(-5), 0);
	CHECK_EQ_INT(state_hist_bucket(1023), 0);
	CHECK_EQ_INT(state_hist_bucket(1024), 1);
	CHECK_EQ_INT(state_hist_bucket(2047), 1);
	CHECK_EQ_INT(state_hist_bucket(2048), 2);
	CHECK_EQ_INT(state_hist_bucket(INT64_MAX), STATE_HIST_BUCKETS - 1);
	for (unsigned i = 0; i + 1 < STATE_HIST_BUCKETS; i++) { /* le(i) is bucket i's bound */
		CHECK_EQ_INT(state_hist_bucket(state_hist_le_ns(i) - 1), i);
		CHECK_EQ_INT(state_hist_bucket(state_hist_le_ns(i)),
		             i + 1 < STATE_HIST_BUCKETS - 1 ? i + 1 : STATE_HIST_BUCKETS - 1);
	}
	test_dir(dir, sizeof(dir), "ops");
	if (open_state(&s, dir, STATE_OPEN_WRITE, 16) != 0) {
		CHECK(0);
		return;
	}
	CHECK_EQ_INT(state_feed_define(&s, 0, "o"), 0);
	state_feed_source_set(&s, 0, &src);
	src.bytes = 150; /* set, not added */
	state_feed_source_set(&s, 0, &src);
	state_ops_sink(&s, 1, "kafka-candles", &k);
	state_ops_journal(&s, 9, 4096, 1, 77);
	state_hist_add(&s, STATE_STAGE_RX_DECODED, 1500);
	state_hist_add(&s, STATE_STAGE_RX_DECODED, -1);
	state_close(&s, true);
	if (open_state(&s, dir, STATE_OPEN_READ, 0) != 0) {
		CHECK(0);
		return;
	}
	CHECK_EQ_INT(s.feeds[0].src.bytes, 150);
	CHECK_EQ_INT(s.feeds[0].src.acks_dropped, 1);
	CHECK(strcmp(s.hdr->ops.sink[1].name, "kafka-candles") == 0);
	CHECK_EQ_INT(s.hdr->ops.sink[1].acked, 4);
	CHECK_EQ_INT(s.hdr->ops.journal_entries, 9);
	h = &s.hdr->ops.hist[STATE_STAGE_RX_DECODED];
	CHECK_EQ_INT(h->count, 2);
	CHECK_EQ_INT(h->sum_ns, 1500);
	CHECK_EQ_INT(h->bucket[0], 1);
	CHECK_EQ_INT(h->bucket[1], 1);
	state_close(&s, false);
	remove_dir(dir);
}

int main(void)
{
	snprintf(root, sizeof(root), "/tmp/test_state.XXXXXX");
	if (!mkdtemp(root)) {
		perror("mkdtemp");
		return 1;
	}
	test_allocated();
	test_feed_counters();
	test_aggregates();
	test_limits();
	test_crashed_define();
	test_refusals();
	test_window();
	test_seq_gaps();
	test_dedup_state();
	test_prefault();
	test_rollback();
	test_seqlock();
	test_kill9();
	test_ops();
	CHECK_EQ_INT(rmdir(root), 0);
	CHECK_DONE();
}
