/* test_journal.c -- the journal writer and reader on real files in a temporary
 * directory: framing, segment rolls, torn tails, corruption, following a live
 * journal, kill -9 of a writer, sync policies and refused headers.
 *
 * Payloads are derived from their jseq (make_payload), so any entry read back
 * can be checked byte for byte without keeping a copy.
 */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "trades/crc32c.h"
#include "trades/journal.h"
#include "trades/trade.h"

#define SEG_SMALL   JOURNAL_SEGMENT_MIN
#define TRADE_ENTRY (sizeof(struct journal_frame) + sizeof(struct trade)) /* 80 bytes */
/* Trade entries per 64 KiB segment: the rest (32 bytes) cannot hold one. */
#define PER_SEG          ((SEG_SMALL - JOURNAL_SEG_HEADER) / TRADE_ENTRY)
#define KILL_ROUNDS      6
#define KILL_APPENDS_MAX 5000000ull
#define KILL_SEGMENT     (1ull << 20)
#define DIR_LEN          128
#define PATH_LEN         256

_Static_assert(PER_SEG == 818, "the expectations below assume 818 trades per 64 KiB segment");

static char root[64];

/* Fault injection: the test binary's own msync and fstat come before libc's
 * for the library code linked into it, so a failure can be made on demand. */
static int fail_msync; /* msync fails with EIO while set */
static int fail_fstat; /* fstat fails with EIO (leaving a junk size) while set */

int msync(void *addr, size_t len, int flags)
{
	if (fail_msync) {
		errno = EIO;
		return -1;
	}
	return (int)syscall(SYS_msync, addr, len, flags);
}

int fstat(int fd, struct stat *st)
{
	if (fail_fstat) {
		st->st_size = 0; /* what a caller must not read after a failure */
		errno = EIO;
		return -1;
	}
	return fstatat(fd, "", st, AT_EMPTY_PATH);
}

/* ---- helpers ---- */

static void make_trade(uint64_t jseq, struct trade *t)
{
	memset(t, 0, sizeof(*t));
	t->price = (int64_t)(jseq * 7919) - 1000;
	t->qty = (int64_t)(jseq * 104729 + 1);
	t->ts_exch_ns = (int64_t)(jseq * 1000003);
	t->ts_rx_ns = (int64_t)(jseq * 1000033);
	t->trade_id = jseq;
	t->seq = jseq * 3;
	t->instrument = (uint32_t)(jseq % 1009);
	t->feed = (uint16_t)(jseq % 7);
	t->side = (uint8_t)(1 + jseq % 2);
	t->flags = (uint8_t)(jseq & 0x3f);
	t->price_dp = (uint8_t)(jseq % 9);
	t->qty_dp = (uint8_t)((jseq / 9) % 9);
	t->ts_digits = (uint8_t)(jseq % 10);
}

/* Entry jseq of the mixed journal of test 1: all four types, three sizes. */
static uint16_t make_payload(uint64_t jseq, uint8_t *buf, uint16_t *type)
{
	struct journal_name n;
	struct journal_gap g;

	switch (jseq % 4) {
	case 0:
	case 1:
		*type = JOURNAL_TRADE;
		make_trade(jseq, (struct trade *)(void *)buf);
		return sizeof(struct trade);
	case 2:
		memset(&n, 0, sizeof(n));
		n.id = (uint32_t)jseq;
		n.len = (uint16_t)snprintf(n.name, sizeof(n.name), "SYM%llu/USD",
		                           (unsigned long long)jseq);
		*type = jseq % 8 == 2 ? JOURNAL_INSTRUMENT : JOURNAL_FEED;
		memcpy(buf, &n, sizeof(n));
		return sizeof(n);
	default:
		memset(&g, 0, sizeof(g));
		g.first_missing = jseq * 10;
		g.last_missing = jseq * 10 + jseq % 5;
		g.feed = (uint16_t)jseq;
		*type = JOURNAL_GAP;
		memcpy(buf, &g, sizeof(g));
		return sizeof(g);
	}
}

static void sub_dir(char *buf, const char *name)
{
	snprintf(buf, DIR_LEN, "%s/%s", root, name);
}

static void seg_path(char *buf, const char *state_dir, uint64_t first)
{
	snprintf(buf, PATH_LEN, "%s/journal/%020llu.seg", state_dir, (unsigned long long)first);
}

static int open_writer(struct journal *j, const char *dir, uint64_t seg, enum journal_sync sync)
{
	struct journal_config cfg = {
	        .dir = dir, .segment_bytes = seg, .sync = sync, .sync_interval_ms = 5};
	char err[256] = "";
	int rc = journal_open(j, &cfg, err, sizeof(err));

	if (rc != 0)
		fprintf(stderr, "journal_open %s: %s\n", dir, err);
	return rc;
}

static uint64_t append_trade(struct journal *j)
{
	struct trade t;

	make_trade(j->next_jseq, &t);
	return journal_append(j, JOURNAL_TRADE, &t, sizeof(t));
}

/* Appends n trades, checking each gets the next jseq.  Returns failures. */
static int append_trades(struct journal *j, uint64_t n)
{
	uint64_t i, want;
	int bad = 0;

	for (i = 0; i < n; i++) {
		want = j->next_jseq;
		bad += append_trade(j) != want;
	}
	return bad;
}

/* Reads trades from r until next() is not 1 (at most max); checks jseq order
 * from `from` and every payload.  Returns the last rc; *count = entries. */
static int read_trades(struct journal_reader *r, uint64_t from, uint64_t max, uint64_t *count,
                       int *bad)
{
	const struct journal_frame *f;
	const void *p;
	struct trade want;
	uint64_t n;
	int rc = 0;

	for (n = 0; n < max; n++) {
		rc = journal_reader_next(r, &f, &p);
		if (rc != 1)
			break;
		make_trade(from + n, &want);
		*bad += f->jseq != from + n || f->type != JOURNAL_TRADE || f->len != sizeof(want) ||
		        memcmp(p, &want, sizeof(want)) != 0;
	}
	*count = n;
	return rc;
}

static int patch_file(const char *path, uint64_t off, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = pwrite(fd, buf, len, (off_t)off);
	close(fd);
	return n == (ssize_t)len ? 0 : -1;
}

static ssize_t load_file(const char *path, uint64_t off, void *buf, size_t len)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = pread(fd, buf, len, (off_t)off);
	close(fd);
	return n;
}

static void flip_byte(const char *path, uint64_t off)
{
	uint8_t b = 0;

	CHECK(load_file(path, off, &b, 1) == 1);
	b ^= 0x40;
	CHECK(patch_file(path, off, &b, 1) == 0);
}

static bool exists(const char *path)
{
	return access(path, F_OK) == 0;
}

/* stderr into a file while the code under test logs, then back. */
static int capture_begin(const char *path)
{
	int saved = dup(STDERR_FILENO);
	int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0644);

	assert(saved >= 0 && fd >= 0);
	dup2(fd, STDERR_FILENO);
	close(fd);
	return saved;
}

static void capture_end(int saved, const char *path, char *buf, size_t len)
{
	ssize_t n;

	dup2(saved, STDERR_FILENO);
	close(saved);
	n = load_file(path, 0, buf, len - 1);
	buf[n > 0 ? n : 0] = '\0';
	fputs(buf, stderr); /* keep it visible in the test log */
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* ---- 1. framing ---- */

static void test_framing(void)
{
	enum { N = 2000 };
	uint8_t buf[JOURNAL_PAYLOAD_MAX];
	char dir[DIR_LEN], err[256];
	const struct journal_frame *f;
	struct journal_reader r;
	struct journal j;
	const void *p;
	uint16_t type, len;
	uint64_t i;
	int bad = 0, rc = 0;

	sub_dir(dir, "t1");
	if (open_writer(&j, dir, 0, JOURNAL_SYNC_NONE) != 0) {
		CHECK(!"open");
		return;
	}
	CHECK_EQ_INT(j.next_jseq, 1);
	CHECK_EQ_INT(j.map_size, JOURNAL_SEGMENT_DEFAULT);
	for (i = 1; i <= N; i++) {
		len = make_payload(i, buf, &type);
		bad += journal_append(&j, type, buf, len) != i;
	}
	CHECK_EQ_INT(bad, 0);
	journal_close(&j);

	CHECK_EQ_INT(journal_reader_open(&r, dir, 1, err, sizeof(err)), 0);
	for (i = 1; i <= N; i++) {
		rc = journal_reader_next(&r, &f, &p);
		if (rc != 1)
			break;
		len = make_payload(i, buf, &type);
		bad += f->jseq != i || f->type != type || f->len != len;
		bad += p != (const void *)(f + 1) || memcmp(p, buf, len) != 0;
		bad += (uintptr_t)f % 8 != 0;
		/* the crc is CRC32C over the frame after it and the payload */
		bad += f->crc != crc32c(0, (const uint8_t *)f + 4, 12 + (size_t)len);
	}
	CHECK_EQ_INT(rc, 1);
	CHECK_EQ_INT(i, N + 1);
	CHECK_EQ_INT(bad, 0);
	CHECK_EQ_INT(journal_reader_next(&r, &f, &p), 0);
	journal_reader_close(&r);
}

/* ---- 2. segment roll ---- */

static void test_roll(void)
{
	const uint64_t n = 5 * PER_SEG + 300, more = 1000, mid = 1 + 2 * PER_SEG + 400;
	char dir[DIR_LEN], path[PATH_LEN], junk[PATH_LEN], tmp[PATH_LEN], err[256];
	const struct journal_frame *f;
	struct journal_reader r;
	struct journal j;
	const void *p;
	uint64_t k, count;
	int bad = 0;

	sub_dir(dir, "t2");
	if (open_writer(&j, dir, SEG_SMALL, JOURNAL_SYNC_ALWAYS) != 0) {
		CHECK(!"open");
		return;
	}
	CHECK_EQ_INT(append_trades(&j, n), 0);
	CHECK_EQ_INT(j.segments, 6);
	journal_close(&j);
	/* segment k starts at entry 1 + k * PER_SEG and is named by it */
	for (k = 0; k < 6; k++) {
		seg_path(path, dir, 1 + k * PER_SEG);
		CHECK(exists(path));
		seg_path(path, dir, 2 + k * PER_SEG);
		CHECK(!exists(path));
	}

	CHECK_EQ_INT(journal_reader_open(&r, dir, 1, err, sizeof(err)), 0);
	CHECK_EQ_INT(read_trades(&r, 1, n + 1, &count, &bad), 0);
	CHECK_EQ_INT(count, n);
	CHECK_EQ_INT(bad, 0);
	CHECK_EQ_INT(r.seg_first, 1 + 5 * PER_SEG);
	journal_reader_close(&r);

	/* from in the middle of the third segment starts exactly there */
	CHECK_EQ_INT(journal_reader_open(&r, dir, mid, err, sizeof(err)), 0);
	CHECK_EQ_INT(r.seg_first, 1 + 2 * PER_SEG);
	CHECK_EQ_INT(journal_reader_next(&r, &f, &p), 1);
	CHECK_EQ_INT(f->jseq, mid);
	journal_reader_close(&r);

	/* reopen: a stale .tmp goes, foreign files stay, jseqs continue */
	snprintf(tmp, sizeof(tmp), "%s/journal/%020llu.seg.tmp", dir, (unsigned long long)n + 1);
	snprintf(junk, sizeof(junk), "%s/journal/README.txt", dir);
	CHECK(close(open(tmp, O_CREAT | O_WRONLY, 0644)) == 0);
	CHECK(patch_file(tmp, 0, "half-made", 9) == 0);
	CHECK(close(open(junk, O_CREAT | O_WRONLY, 0644)) == 0);
	if (open_writer(&j, dir, SEG_SMALL, JOURNAL_SYNC_NONE) != 0) {
		CHECK(!"reopen");
		return;
	}
	CHECK(!exists(tmp));
	CHECK(exists(junk));
	CHECK_EQ_INT(j.next_jseq, n + 1);
	CHECK_EQ_INT(j.torn_bytes, 0);
	CHECK_EQ_INT(j.segments, 6);
	CHECK_EQ_INT(append_trades(&j, more), 0);
	CHECK_EQ_INT(j.next_jseq, n + more + 1);
	journal_close(&j);

	CHECK_EQ_INT(journal_reader_open(&r, dir, 1, err, sizeof(err)), 0);
	CHECK_EQ_INT(read_trades(&r, 1, n + more + 1, &count, &bad), 0);
	CHECK_EQ_INT(count, n + more);
	CHECK_EQ_INT(bad, 0);
	journal_reader_close(&r);
}

/* ---- 3. torn tail ---- */

/* Reopens dir, expecting `torn` bytes dropped at offset off from entry jseq on,
 * and the log line that says so. */
static void reopen_torn(struct journal *j, const char *dir, uint64_t off, uint64_t torn,
                        uint64_t jseq)
{
	char log_path[PATH_LEN], log[8192], want[512];
	int saved, rc;

	snprintf(log_path, sizeof(log_path), "%s/stderr.log", root);
	saved = capture_begin(log_path);
	rc = open_writer(j, dir, SEG_SMALL, JOURNAL_SYNC_ALWAYS);
	capture_end(saved, log_path, log, sizeof(log));
	CHECK_EQ_INT(rc, 0);
	CHECK_EQ_INT(j->torn_bytes, torn);
	CHECK_EQ_INT(j->next_jseq, jseq);
	CHECK_EQ_INT(j->off, off);
	snprintf(want, sizeof(want),
	         "journal %s/journal/00000000000000000001.seg: torn tail at offset %llu: dropped "
	         "%llu bytes (entries from jseq %llu on)",
	         dir, (unsigned long long)off, (unsigned long long)torn, (unsigned long long)jseq);
	CHECK(strstr(log, want) != NULL);
}

static bool zero_from(const char *path, uint64_t off)
{
	static uint8_t buf[SEG_SMALL];
	ssize_t n = load_file(path, 0, buf, sizeof(buf));
	uint64_t i;

	if (n != (ssize_t)sizeof(buf))
		return false;
	for (i = off; i < sizeof(buf); i++)
		if (buf[i] != 0)
			return false;
	return true;
}

static void test_torn_tail(void)
{
	const uint64_t last_off = JOURNAL_SEG_HEADER + 99 * TRADE_ENTRY; /* entry 100 */
	const uint64_t garbage_off = last_off + TRADE_ENTRY + 200;
	char dir[DIR_LEN], path[PATH_LEN], err[256];
	struct journal_frame fr = {.crc = 0, .type = JOURNAL_TRADE, .len = 64, .jseq = 110};
	uint8_t garbage[37], part[40];
	const struct journal_frame *f;
	struct journal_reader r;
	struct journal j;
	const void *p;
	uint64_t count, end;
	int bad = 0;

	sub_dir(dir, "t3");
	seg_path(path, dir, 1);
	if (open_writer(&j, dir, SEG_SMALL, JOURNAL_SYNC_ALWAYS) != 0) {
		CHECK(!"open");
		return;
	}
	CHECK_EQ_INT(append_trades(&j, 100), 0);
	journal_close(&j);

	/* entry 100 damaged, and garbage further on: everything from entry 100
	 * to the last garbage byte is dropped */
	flip_byte(path, last_off + sizeof(struct journal_frame) + 5);
	memset(garbage, 0x5a, sizeof(garbage));
	CHECK(patch_file(path, garbage_off, garbage, sizeof(garbage)) == 0);
	reopen_torn(&j, dir, last_off, garbage_off + sizeof(garbage) - last_off, 100);
	CHECK(zero_from(path, last_off));
	CHECK_EQ_INT(append_trades(&j, 10), 0);
	CHECK_EQ_INT(j.next_jseq, 110);
	end = j.off;
	journal_close(&j);
	CHECK_EQ_INT(journal_reader_open(&r, dir, 1, err, sizeof(err)), 0);
	CHECK_EQ_INT(read_trades(&r, 1, 200, &count, &bad), 0);
	CHECK_EQ_INT(count, 109);
	CHECK_EQ_INT(bad, 0);

	/* a frame half written when its writer died: fields set, crc still 0, 40
	 * of its 64 payload bytes there.  A reader at the live tail takes it for
	 * one being written (0, not -1); the next writer drops it. */
	memset(part, 0xc3, sizeof(part));
	CHECK(patch_file(path, end, &fr, sizeof(fr)) == 0);
	CHECK(patch_file(path, end + sizeof(fr), part, sizeof(part)) == 0);
	CHECK_EQ_INT(journal_reader_next(&r, &f, &p), 0);
	reopen_torn(&j, dir, end, sizeof(fr) + sizeof(part), 110);
	CHECK(zero_from(path, end));
	CHECK_EQ_INT(append_trades(&j, 5), 0);
	journal_close(&j);
	/* the same reader now sees the rewritten 110 onwards */
	CHECK_EQ_INT(read_trades(&r, 110, 200, &count, &bad), 0);
	CHECK_EQ_INT(count, 5);
	CHECK_EQ_INT(bad, 0);
	journal_reader_close(&r);
}

/* ---- 4. corruption in the middle ---- */

static void test_corrupt_middle(void)
{
	const uint64_t n = 2 * PER_SEG + 100, victim = 500, seg3 = 1 + 2 * PER_SEG;
	char dir[DIR_LEN], path[PATH_LEN], err[256];
	struct journal_reader r;
	struct journal j;
	struct journal_frame fr;
	uint64_t count, off;
	int bad = 0;

	sub_dir(dir, "t4");
	if (open_writer(&j, dir, SEG_SMALL, JOURNAL_SYNC_NONE) != 0) {
		CHECK(!"open");
		return;
	}
	CHECK_EQ_INT(append_trades(&j, n), 0);
	journal_close(&j);

	/* a bad crc in segment 1 while segments 2 and 3 exist */
	seg_path(path, dir, 1);
	flip_byte(path, JOURNAL_SEG_HEADER + (victim - 1) * TRADE_ENTRY + 16 + 3);
	CHECK_EQ_INT(journal_reader_open(&r, dir, 1, err, sizeof(err)), 0);
	CHECK_EQ_INT(read_trades(&r, 1, n, &count, &bad), -1);
	CHECK_EQ_INT(count, victim - 1);
	CHECK_EQ_INT(bad, 0);
	journal_reader_close(&r);
	/* starting past the damage in segment 1 has to walk through it */
	CHECK_EQ_INT(journal_reader_open(&r, dir, victim + 10, err, sizeof(err)), -1);
	/* starting in segment 2 never touches it */
	CHECK_EQ_INT(journal_reader_open(&r, dir, 1 + PER_SEG, err, sizeof(err)), 0);
	CHECK_EQ_INT(read_trades(&r, 1 + PER_SEG, n, &count, &bad), 0);
	CHECK_EQ_INT(count, n - PER_SEG);
	journal_reader_close(&r);

	/* The writer only walks the last segment at open: damage in an earlier
	 * one is not its business (the reader reports it), so it opens fine. */
	if (open_writer(&j, dir, SEG_SMALL, JOURNAL_SYNC_NONE) != 0) {
		CHECK(!"reopen");
		return;
	}
	CHECK_EQ_INT(j.torn_bytes, 0);
	CHECK_EQ_INT(j.next_jseq, n + 1);
	journal_close(&j);

	/* a jseq discontinuity with a good crc in the last segment: never a torn
	 * write, so -1 even at the live tail */
	seg_path(path, dir, seg3);
	off = JOURNAL_SEG_HEADER + 50 * TRADE_ENTRY;
	CHECK(load_file(path, off, &fr, sizeof(fr)) == sizeof(fr));
	CHECK_EQ_INT(fr.jseq, seg3 + 50);
	fr.jseq += 7;
	CHECK(patch_file(path, off, &fr, sizeof(fr)) == 0);
	{
		uint8_t e[TRADE_ENTRY];

		CHECK(load_file(path, off, e, sizeof(e)) == sizeof(e));
		fr.crc = crc32c(0, e + 4, sizeof(e) - 4);
		CHECK(patch_file(path, off, &fr, sizeof(fr)) == 0);
	}
	CHECK_EQ_INT(journal_reader_open(&r, dir, seg3, err, sizeof(err)), 0);
	CHECK_EQ_INT(read_trades(&r, seg3, n, &count, &bad), -1);
	CHECK_EQ_INT(count, 50);
	journal_reader_close(&r);
}

/* ---- 5. follow ---- */

static void test_follow(void)
{
	char dir[DIR_LEN], err[256];
	const struct journal_frame *f;
	struct journal_reader r, r2;
	struct journal j;
	const void *p;
	uint64_t count;
	int bad = 0;

	/* a reader before the writer ever ran: no directory yet */
	sub_dir(dir, "t5");
	CHECK_EQ_INT(journal_reader_open(&r, dir, 1, err, sizeof(err)), 0);
	CHECK_EQ_INT(journal_reader_next(&r, &f, &p), 0);
	CHECK_EQ_INT(journal_reader_open(&r2, dir, 2, err, sizeof(err)), -1);
	if (open_writer(&j, dir, SEG_SMALL, JOURNAL_SYNC_NONE) != 0) {
		CHECK(!"open");
		return;
	}
	CHECK_EQ_INT(journal_reader_next(&r, &f, &p), 0);
	CHECK_EQ_INT(append_trades(&j, 10), 0);
	CHECK_EQ_INT(read_trades(&r, 1, 100, &count, &bad), 0);
	CHECK_EQ_INT(count, 10);

	/* a second reader opened at the end */
	CHECK_EQ_INT(journal_reader_open(&r2, dir, 11, err, sizeof(err)), 0);
	CHECK_EQ_INT(journal_reader_next(&r2, &f, &p), 0);
	journal_reader_close(&r2);
	CHECK_EQ_INT(journal_reader_open(&r2, dir, 12, err, sizeof(err)), -1); /* past the end */
	CHECK(strstr(err, "past the end") != NULL);
	CHECK_EQ_INT(journal_reader_open(&r2, dir, 11, err, sizeof(err)), 0);
	CHECK_EQ_INT(append_trades(&j, 5), 0);
	CHECK_EQ_INT(read_trades(&r2, 11, 100, &count, &bad), 0);
	CHECK_EQ_INT(count, 5);

	/* across two rolls, in small steps as a follower would see them */
	{
		uint64_t total = 0, step;

		for (step = 0; step < 2 * PER_SEG / 100 + 1; step++) {
			CHECK_EQ_INT(append_trades(&j, 100), 0);
			CHECK_EQ_INT(read_trades(&r2, 16 + total, 1000, &count, &bad), 0);
			total += count;
		}
		CHECK_EQ_INT(total, 100 * step);
	}
	CHECK_EQ_INT(j.segments, 3);
	CHECK_EQ_INT(r2.seg_first, 1 + 2 * PER_SEG);
	CHECK_EQ_INT(r2.next_jseq, j.next_jseq);
	CHECK_EQ_INT(read_trades(&r, 11, 10000, &count, &bad), 0);
	CHECK_EQ_INT(count, j.next_jseq - 11);
	CHECK_EQ_INT(bad, 0);
	journal_close(&j);
	journal_reader_close(&r);
	journal_reader_close(&r2);
}

/* ---- 6. kill -9 ---- */

/* *done is the last jseq journal_append returned to the child: shared memory
 * the parent reads after the kill, to check that nothing appended was lost. */
static void kill_child(const char *dir, int ready_fd, enum journal_sync sync, uint64_t *done)
{
	struct journal j;
	uint64_t i, jseq;
	char c = 'r';

	if (open_writer(&j, dir, KILL_SEGMENT, sync) != 0)
		_exit(3);
	/* one entry before "ready": every round provably appends something */
	jseq = append_trade(&j);
	__atomic_store_n(done, jseq, __ATOMIC_RELEASE);
	if (jseq == 0 || write(ready_fd, &c, 1) != 1)
		_exit(4);
	for (i = 0; i < KILL_APPENDS_MAX; i++) {
		jseq = append_trade(&j);
		if (jseq == 0)
			_exit(5);
		__atomic_store_n(done, jseq, __ATOMIC_RELEASE);
		if (i % 512 == 0)
			journal_commit(&j);
	}
	journal_close(&j);
	_exit(0);
}

/* Forks a writer, kills it after delay_us (it may also finish), returns the
 * last jseq it saw appended, or 0 on a failure (checked). */
static uint64_t kill_round(const char *dir, unsigned delay_us, enum journal_sync sync,
                           uint64_t *done)
{
	int pfd[2], status = 0;
	pid_t pid;
	char c;

	*done = 0;
	if (pipe(pfd) != 0 || (pid = fork()) < 0) {
		CHECK(!"pipe/fork");
		return 0;
	}
	if (pid == 0) {
		close(pfd[0]);
		kill_child(dir, pfd[1], sync, done);
	}
	close(pfd[1]);
	CHECK(read(pfd[0], &c, 1) == 1);
	close(pfd[0]);
	usleep(delay_us);
	kill(pid, SIGKILL);
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK((WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) ||
	      (WIFEXITED(status) && WEXITSTATUS(status) == 0));
	return __atomic_load_n(done, __ATOMIC_ACQUIRE);
}

/* kill -9 loses nothing journal_append returned: the stores are in the page
 * cache.  It can interrupt an append between its first store and its crc,
 * though, and that one entry is a torn tail the next open drops: torn_bytes
 * is 0 or a part of one entry, never more. */
static void test_kill9(void)
{
	static const unsigned delay_us[KILL_ROUNDS] = {0, 1000, 5000, 20000, 50000, 120000};
	static const enum journal_sync policy[3] = {JOURNAL_SYNC_NONE, JOURNAL_SYNC_INTERVAL,
	                                            JOURNAL_SYNC_ALWAYS};
	char dir[DIR_LEN], err[256];
	struct journal_reader r;
	struct journal j;
	uint64_t prev = 1, count, done, *shared;
	int round, bad = 0;

	shared = mmap(NULL, sizeof(*shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1,
	              0);
	if (shared == MAP_FAILED) {
		CHECK(!"mmap");
		return;
	}
	sub_dir(dir, "t6");
	for (round = 0; round < KILL_ROUNDS; round++) {
		done = kill_round(dir, delay_us[round], policy[round % 3], shared);
		CHECK(done >= prev);
		if (open_writer(&j, dir, KILL_SEGMENT, JOURNAL_SYNC_NONE) != 0) {
			CHECK(!"reopen after kill");
			break;
		}
		/* every append that returned is there; the one in flight may be */
		CHECK(j.next_jseq - 1 == done || j.next_jseq - 1 == done + 1);
		CHECK(j.torn_bytes < TRADE_ENTRY);
		CHECK(j.torn_bytes == 0 || j.next_jseq - 1 == done);
		if (j.torn_bytes)
			printf("kill -9 round %d: in-flight append torn (%llu bytes)\n", round,
			       (unsigned long long)j.torn_bytes);
		prev = j.next_jseq;
		journal_close(&j);
	}
	munmap(shared, sizeof(*shared));
	CHECK_EQ_INT(journal_reader_open(&r, dir, 1, err, sizeof(err)), 0);
	CHECK_EQ_INT(read_trades(&r, 1, prev, &count, &bad), 0);
	CHECK_EQ_INT(count, prev - 1);
	CHECK_EQ_INT(bad, 0);
	journal_reader_close(&r);
	printf("kill -9: %d rounds, %llu entries intact\n", KILL_ROUNDS, (unsigned long long)count);
}

/* ---- 7. sync policy, refused headers ---- */

static void test_sync_parse(void)
{
	static const char *const bad_in[] = {
	        "interval:",
	        "interval:0",
	        "interval:12x",
	        "sometimes",
	        "interval:3600001",
	        "interval:-5",
	        "interval:+5",
	        "interval: 5",
	        "",
	        "None",
	        "always ",
	        "interval",
	        "interval:99999999999999999999999",
	};
	enum journal_sync mode = JOURNAL_SYNC_INTERVAL;
	uint32_t ms = 99;
	size_t i;

	CHECK_EQ_INT(journal_sync_parse("none", &mode, &ms), 0);
	CHECK_EQ_INT(mode, JOURNAL_SYNC_NONE);
	CHECK_EQ_INT(journal_sync_parse("always", &mode, &ms), 0);
	CHECK_EQ_INT(mode, JOURNAL_SYNC_ALWAYS);
	CHECK_EQ_INT(journal_sync_parse("interval:250", &mode, &ms), 0);
	CHECK_EQ_INT(mode, JOURNAL_SYNC_INTERVAL);
	CHECK_EQ_INT(ms, 250);
	CHECK_EQ_INT(journal_sync_parse("interval:1", &mode, &ms), 0);
	CHECK_EQ_INT(ms, 1);
	CHECK_EQ_INT(journal_sync_parse("interval:3600000", &mode, &ms), 0);
	CHECK_EQ_INT(ms, 3600000);
	for (i = 0; i < sizeof(bad_in) / sizeof(bad_in[0]); i++) {
		int rc = journal_sync_parse(bad_in[i], &mode, &ms);

		if (rc != -1)
			fprintf(stderr, "accepted \"%s\"\n", bad_in[i]);
		CHECK_EQ_INT(rc, -1);
	}
}

static void test_sync_count(void)
{
	struct journal_config cfg = {.segment_bytes = SEG_SMALL};
	char dir[DIR_LEN], err[256];
	struct journal j;
	uint64_t s;

	sub_dir(dir, "t7s");
	cfg.dir = dir;
	if (open_writer(&j, dir, SEG_SMALL, JOURNAL_SYNC_ALWAYS) != 0) {
		CHECK(!"open");
		return;
	}
	s = j.syncs;
	append_trade(&j);
	journal_commit(&j);
	CHECK_EQ_INT(j.syncs, s + 1);
	journal_commit(&j); /* nothing new written: nothing to sync */
	CHECK_EQ_INT(j.syncs, s + 1);
	append_trade(&j);
	append_trade(&j);
	journal_commit(&j);
	CHECK_EQ_INT(j.syncs, s + 2);
	/* a second writer is refused while this one holds the journal */
	cfg.sync = JOURNAL_SYNC_NONE;
	{
		struct journal j2;

		CHECK_EQ_INT(journal_open(&j2, &cfg, err, sizeof(err)), -1);
		CHECK(strstr(err, "another writer") != NULL);
	}
	journal_close(&j);

	/* none: commit never syncs; journal_sync always does */
	if (open_writer(&j, dir, SEG_SMALL, JOURNAL_SYNC_NONE) != 0) {
		CHECK(!"reopen");
		return;
	}
	s = j.syncs;
	append_trade(&j);
	journal_commit(&j);
	CHECK_EQ_INT(j.syncs, s);
	CHECK_EQ_INT(journal_sync(&j), 0);
	CHECK_EQ_INT(j.syncs, s + 1);
	journal_close(&j);

	/* interval of an hour: a commit right after open does not sync */
	cfg.sync = JOURNAL_SYNC_INTERVAL;
	cfg.sync_interval_ms = 3600000;
	CHECK_EQ_INT(journal_open(&j, &cfg, err, sizeof(err)), 0);
	s = j.syncs;
	append_trade(&j);
	journal_commit(&j);
	CHECK_EQ_INT(j.syncs, s);
	journal_close(&j);

	/* sizes that are not page multiples in range are refused */
	cfg.segment_bytes = SEG_SMALL + 8;
	CHECK_EQ_INT(journal_open(&j, &cfg, err, sizeof(err)), -1);
	cfg.segment_bytes = JOURNAL_SEGMENT_MIN / 2;
	CHECK_EQ_INT(journal_open(&j, &cfg, err, sizeof(err)), -1);
}

static void test_bad_header(void)
{
	static uint8_t before[SEG_SMALL], after[SEG_SMALL];
	char dir[DIR_LEN], path[PATH_LEN], path2[PATH_LEN], err[512];
	struct journal_reader r;
	struct journal j;

	sub_dir(dir, "t7h");
	if (open_writer(&j, dir, SEG_SMALL, JOURNAL_SYNC_NONE) != 0) {
		CHECK(!"open");
		return;
	}
	CHECK_EQ_INT(append_trades(&j, PER_SEG + 10), 0);
	journal_close(&j);

	seg_path(path, dir, 1);
	flip_byte(path, 0); /* magic */
	CHECK(load_file(path, 0, before, sizeof(before)) == sizeof(before));
	CHECK_EQ_INT(journal_open(&j,
	                          &(struct journal_config){.dir = dir, .segment_bytes = SEG_SMALL},
	                          err, sizeof(err)),
	             -1);
	CHECK(strstr(err, "/journal/00000000000000000001.seg") != NULL);
	CHECK(strstr(err, "magic") != NULL);
	CHECK(load_file(path, 0, after, sizeof(after)) == sizeof(after));
	CHECK(memcmp(before, after, sizeof(before)) == 0);
	CHECK_EQ_INT(journal_reader_open(&r, dir, 1, err, sizeof(err)), -1);
	CHECK(strstr(err, "00000000000000000001.seg: bad header") != NULL);
	flip_byte(path, 0);

	/* a size that does not match the header: also refused, not repaired */
	seg_path(path2, dir, 1 + PER_SEG);
	CHECK(truncate(path2, SEG_SMALL - 4096) == 0);
	CHECK_EQ_INT(journal_open(&j,
	                          &(struct journal_config){.dir = dir, .segment_bytes = SEG_SMALL},
	                          err, sizeof(err)),
	             -1);
	CHECK(strstr(err, "00000000000000000819.seg: bad header: segment size") != NULL);
	CHECK(truncate(path2, SEG_SMALL) == 0);

	/* a first jseq that does not match the name */
	flip_byte(path2, 16);
	CHECK_EQ_INT(journal_open(&j,
	                          &(struct journal_config){.dir = dir, .segment_bytes = SEG_SMALL},
	                          err, sizeof(err)),
	             -1);
	CHECK(strstr(err, "does not match the file name") != NULL);
	flip_byte(path2, 16);

	/* repaired by hand: opens again where it was */
	if (open_writer(&j, dir, SEG_SMALL, JOURNAL_SYNC_NONE) != 0) {
		CHECK(!"open after repair");
		return;
	}
	CHECK_EQ_INT(j.next_jseq, PER_SEG + 11);
	journal_close(&j);
}

/* ---- 10. corruption in the last segment is refused, byte for byte ---- */

/* CRC32C of every file's name and bytes under dir/journal, in name order
 * (at most 64 files of SEG_SMALL): equal before and after = nothing changed. */
static uint32_t journal_dir_hash(const char *dir)
{
	static uint8_t buf[SEG_SMALL];
	char jdir[PATH_LEN], path[2 * PATH_LEN + 8];
	struct dirent **names;
	uint32_t h = 0;
	int n, i;

	snprintf(jdir, sizeof(jdir), "%s/journal", dir);
	n = scandir(jdir, &names, NULL, alphasort);
	CHECK(n > 2);
	for (i = 0; i < n && i < 64; i++) {
		ssize_t got;

		snprintf(path, sizeof(path), "%s/%s", jdir, names[i]->d_name);
		h = crc32c(h, (const uint8_t *)names[i]->d_name, strlen(names[i]->d_name));
		got = names[i]->d_type == DT_REG ? load_file(path, 0, buf, sizeof(buf)) : 0;
		if (got > 0)
			h = crc32c(h, buf, (size_t)got);
	}
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return h;
}

/* journal_open must fail with an error naming the segment, offset and jseq,
 * and leave every byte of the journal as it was. */
static void expect_refused(const char *dir, uint64_t off, uint64_t jseq, const char *why)
{
	char err[1024] = "", want[256];
	uint32_t before = journal_dir_hash(dir);
	struct journal j;

	CHECK_EQ_INT(journal_open(&j,
	                          &(struct journal_config){.dir = dir, .segment_bytes = SEG_SMALL},
	                          err, sizeof(err)),
	             -1);
	snprintf(want, sizeof(want),
	         "/journal/00000000000000000001.seg: corrupt at offset %llu "
	         "(jseq %llu): ",
	         (unsigned long long)off, (unsigned long long)jseq);
	if (!strstr(err, want) || !strstr(err, why))
		fprintf(stderr, "got '%s', wanted '%s' and '%s'\n", err, want, why);
	CHECK(strstr(err, want) != NULL);
	CHECK(strstr(err, why) != NULL);
	CHECK_EQ_INT(journal_dir_hash(dir), before);
}

/* A reader from jseq 1 gets `good` entries, then -1. */
static void expect_reader_stops(const char *dir, uint64_t good)
{
	struct journal_reader r;
	char err[256];
	uint64_t count = 0;
	int bad = 0;

	CHECK_EQ_INT(journal_reader_open(&r, dir, 1, err, sizeof(err)), 0);
	CHECK_EQ_INT(read_trades(&r, 1, 1000, &count, &bad), -1);
	CHECK_EQ_INT(count, good);
	CHECK_EQ_INT(bad, 0);
	journal_reader_close(&r);
}

static void test_corrupt_last_refused(void)
{
	const uint64_t victim = 50, off = JOURNAL_SEG_HEADER + (victim - 1) * TRADE_ENTRY;
	char dir[DIR_LEN], path[PATH_LEN], valid_after[64];
	uint8_t saved[TRADE_ENTRY], zero[sizeof(struct journal_frame)] = {0};
	struct journal_frame fr;
	struct journal j;

	sub_dir(dir, "t10");
	seg_path(path, dir, 1);
	if (open_writer(&j, dir, SEG_SMALL, JOURNAL_SYNC_ALWAYS) != 0) {
		CHECK(!"open");
		return;
	}
	CHECK_EQ_INT(append_trades(&j, 100), 0);
	journal_close(&j);
	CHECK(load_file(path, off, saved, sizeof(saved)) == sizeof(saved));
	snprintf(valid_after, sizeof(valid_after),
	         "a valid entry (jseq %llu) follows at offset %llu", (unsigned long long)victim + 1,
	         (unsigned long long)off + TRADE_ENTRY);

	/* a bad crc with 50 valid entries behind it; a reader stops there with
	 * -1, not 0 (which would read as the end of the data) */
	flip_byte(path, off + sizeof(struct journal_frame) + 9);
	expect_refused(dir, off, victim, valid_after);
	expect_reader_stops(dir, victim - 1);
	CHECK(patch_file(path, off, saved, sizeof(saved)) == 0);

	/* a zeroed frame header (the end marker) with valid entries behind it */
	CHECK(patch_file(path, off, zero, sizeof(zero)) == 0);
	expect_refused(dir, off, victim, valid_after);
	expect_reader_stops(dir, victim - 1);
	CHECK(patch_file(path, off, saved, sizeof(saved)) == 0);

	/* the last entry with a good crc but a wrong jseq: never a torn write */
	memcpy(&fr, saved, sizeof(fr));
	CHECK(load_file(path, off + 50 * TRADE_ENTRY, saved, sizeof(saved)) == sizeof(saved));
	memcpy(&fr, saved, sizeof(fr));
	fr.jseq += 3;
	memcpy(saved, &fr, sizeof(fr));
	fr.crc = crc32c(0, saved + 4, sizeof(saved) - 4);
	CHECK(patch_file(path, off + 50 * TRADE_ENTRY, &fr, sizeof(fr)) == 0);
	expect_refused(dir, off + 50 * TRADE_ENTRY, 100, "good crc but wrong jseq or type");
	fr.jseq -= 3;
	memcpy(saved, &fr, sizeof(fr));
	fr.crc = crc32c(0, saved + 4, sizeof(saved) - 4);
	CHECK(patch_file(path, off + 50 * TRADE_ENTRY, &fr, sizeof(fr)) == 0);

	/* a bad last entry and junk far beyond one entry's reach */
	flip_byte(path, off + 50 * TRADE_ENTRY + 20);
	CHECK(patch_file(path, SEG_SMALL - 8, "junkjunk", 8) == 0);
	expect_refused(dir, off + 50 * TRADE_ENTRY, 100, "more than one entry can hold");
	CHECK(patch_file(path, SEG_SMALL - 8, zero, 8) == 0);

	/* what is left is a real torn tail, the last entry: dropped, opens */
	if (open_writer(&j, dir, SEG_SMALL, JOURNAL_SYNC_ALWAYS) != 0) {
		CHECK(!"open after repair");
		return;
	}
	CHECK_EQ_INT(j.next_jseq, 100);
	CHECK(j.torn_bytes > 0 && j.torn_bytes <= TRADE_ENTRY); /* to its last non-zero byte */
	journal_close(&j);
}

/* ---- 11. a failed msync of the old segment fails the roll ---- */

static void test_roll_msync_failed(void)
{
	char dir[DIR_LEN], path2[PATH_LEN];
	struct journal j;
	int e = 0;

	sub_dir(dir, "t11");
	seg_path(path2, dir, 1 + PER_SEG);
	if (open_writer(&j, dir, SEG_SMALL, JOURNAL_SYNC_INTERVAL) != 0) {
		CHECK(!"open");
		return;
	}
	CHECK_EQ_INT(append_trades(&j, PER_SEG), 0);
	CHECK(!journal_failed(&j, &e));
	CHECK_EQ_INT(e, 0);
	fail_msync = 1;
	CHECK_EQ_INT(append_trade(&j), 0); /* needs the roll, whose msync fails */
	CHECK(!exists(path2));             /* no later segment before the old is durable */
	CHECK(journal_failed(&j, &e));
	CHECK_EQ_INT(e, EIO);
	fail_msync = 0;
	CHECK_EQ_INT(append_trade(&j), 0); /* within the back-off: not even tried */
	CHECK_EQ_INT(j.roll_failures, 1);
	nanosleep(&(struct timespec){0, 150 * 1000000L}, NULL);
	CHECK_EQ_INT(append_trade(&j), PER_SEG + 1);
	CHECK(exists(path2));
	CHECK(!journal_failed(&j, &e));
	CHECK_EQ_INT(j.append_failed, 2);
	journal_close(&j);
}

/* ---- 12. the reader after a failed fstat ---- */

static void test_reader_fstat_failed(void)
{
	char dir[DIR_LEN], err[512] = "";
	struct journal_reader r;
	struct journal j;

	sub_dir(dir, "t12");
	if (open_writer(&j, dir, SEG_SMALL, JOURNAL_SYNC_NONE) != 0) {
		CHECK(!"open");
		return;
	}
	CHECK_EQ_INT(append_trades(&j, 3), 0);
	journal_close(&j);
	fail_fstat = 1;
	CHECK_EQ_INT(journal_reader_open(&r, dir, 1, err, sizeof(err)), -1);
	fail_fstat = 0;
	CHECK(strstr(err, "00000000000000000001.seg: fstat: Input/output error") != NULL);
	if (!strstr(err, "fstat"))
		fprintf(stderr, "reader error: %s\n", err);
}

/* ---- 13. a full disk: appends fail fast, resume when space is freed ---- */

/* Waits (at most 5 s) until pred holds for the spare thread's state, read
 * under its lock. */
static bool spare_until(struct journal *j, bool (*pred)(const struct journal_spare *))
{
	for (int i = 0; i < 500; i++) {
		bool ok;

		pthread_mutex_lock(&j->spare.mu);
		ok = pred(&j->spare);
		pthread_mutex_unlock(&j->spare.mu);
		if (ok)
			return true;
		nanosleep(&(struct timespec){0, 10 * 1000000L}, NULL);
	}
	return false;
}

/* A segment is ready. */
static bool spare_is_ready(const struct journal_spare *sp)
{
	return sp->fd >= 0;
}

/* Idle: its last build done or failed, no old segment left to unmap. */
static bool spare_is_settled(const struct journal_spare *sp)
{
	return !sp->want && sp->old_fd < 0;
}

/* No old segment left to unmap. */
static bool spare_is_retired(const struct journal_spare *sp)
{
	return sp->old_fd < 0;
}

static void test_disk_full(void)
{
	char mnt[DIR_LEN], dir[PATH_LEN], filler[PATH_LEN], err[256];
	static uint8_t block[SEG_SMALL];
	const uint64_t tries = 200000;
	struct journal_reader r;
	struct journal j;
	uint64_t i, got = 0, count, last;
	int64_t t0, t1;
	int bad = 0, e = 0, fd;

	sub_dir(mnt, "t13");
	CHECK(mkdir(mnt, 0755) == 0);
	/* 5 segments of 64 KiB: the filler and 4 segments fill it */
	if (mount("tmpfs", mnt, "tmpfs", 0, "size=320k") != 0) {
		printf("SKIP test_disk_full: mount tmpfs on %s: %s (needs root or "
		       "CAP_SYS_ADMIN)\n",
		       mnt, strerror(errno));
		return;
	}
	snprintf(dir, sizeof(dir), "%s/state", mnt);
	snprintf(filler, sizeof(filler), "%s/filler", mnt);
	fd = open(filler, O_CREAT | O_WRONLY, 0644);
	CHECK(fd >= 0 && write(fd, block, sizeof(block)) == (ssize_t)sizeof(block));
	close(fd);
	if (open_writer(&j, dir, SEG_SMALL, JOURNAL_SYNC_NONE) != 0) {
		CHECK(!"open");
		goto out;
	}
	/* Before each roll the spare thread has finished its build (or failed):
	 * a roll racing a build in progress found the space taken by the half-
	 * made spare and failed a segment early (8 runs in 20). */
	for (i = 0; i < 10 * PER_SEG; i++) {
		if (i % PER_SEG == 0)
			CHECK(spare_until(&j, spare_is_settled));
		if (append_trade(&j) == 0)
			break;
		got++;
	}
	CHECK(got >= 3 * PER_SEG && got < 5 * PER_SEG);
	CHECK(journal_failed(&j, &e));
	CHECK_EQ_INT(e, ENOSPC);
	/* failed state: no retry (no syscall) inside the back-off window */
	last = j.roll_failures;
	t0 = (int64_t)time(NULL);
	for (i = 0; i < tries; i++)
		bad += append_trade(&j) != 0;
	t1 = (int64_t)time(NULL);
	CHECK_EQ_INT(bad, 0);
	CHECK(j.roll_failures <= last + 1); /* at most the one retry at the deadline */
	CHECK(t1 - t0 < 3);
	/* space freed: the next retry succeeds, no restart */
	CHECK(unlink(filler) == 0);
	nanosleep(&(struct timespec){1, 100 * 1000000L}, NULL);
	CHECK_EQ_INT(append_trade(&j), got + 1);
	CHECK(!journal_failed(&j, &e));
	CHECK_EQ_INT(e, 0);
	CHECK_EQ_INT(append_trades(&j, 10), 0);
	journal_close(&j);
	CHECK_EQ_INT(journal_reader_open(&r, dir, 1, err, sizeof(err)), 0);
	CHECK_EQ_INT(read_trades(&r, 1, got + 100, &count, &bad), 0);
	CHECK_EQ_INT(count, got + 11);
	CHECK_EQ_INT(bad, 0);
	journal_reader_close(&r);
out:
	CHECK(umount(mnt) == 0);
}

/* ---- 14. the spare segment ---- */

/* Rolls into prepared spares: each is renamed into place with its header,
 * the entries read back whole, and an unused spare is gone at close; a
 * spare a dead writer left is removed at open. */
static void test_spare(void)
{
	char dir[DIR_LEN], path[PATH_LEN], spare[PATH_LEN], log_path[PATH_LEN], log[8192], err[256];
	struct journal_reader r;
	struct journal j;
	uint64_t k, count;
	int bad = 0, saved, rc;

	sub_dir(dir, "t14");
	snprintf(spare, sizeof(spare), "%s/journal/%s", dir, JOURNAL_SPARE_NAME);
	if (open_writer(&j, dir, SEG_SMALL, JOURNAL_SYNC_NONE) != 0) {
		CHECK(!"open");
		return;
	}
	CHECK(j.spare.running);
	for (k = 0; k < 3; k++) { /* fills segment k + 1: rolls at k = 1, 2 take a spare */
		CHECK(spare_until(&j, spare_is_ready));
		CHECK(exists(spare));
		CHECK_EQ_INT(append_trades(&j, PER_SEG), 0);
	}
	CHECK_EQ_INT(j.segments, 3);
	CHECK_EQ_INT(j.spare.hits, 2);
	CHECK_EQ_INT(j.spare.misses, 0);
	CHECK_EQ_INT(j.spare.failures, 0);
	/* rolls faster than the thread: every roll is a hit or a miss */
	CHECK_EQ_INT(append_trades(&j, 20 * PER_SEG), 0);
	CHECK_EQ_INT(j.segments, 23);
	CHECK_EQ_INT(j.spare.hits + j.spare.misses, 22);
	CHECK(spare_until(&j, spare_is_ready));
	journal_close(&j);
	CHECK(!exists(spare));
	for (k = 0; k < 23; k++) {
		seg_path(path, dir, 1 + k * PER_SEG);
		CHECK(exists(path));
	}
	CHECK_EQ_INT(journal_reader_open(&r, dir, 1, err, sizeof(err)), 0);
	CHECK_EQ_INT(read_trades(&r, 1, 23 * PER_SEG + 1, &count, &bad), 0);
	CHECK_EQ_INT(count, 23 * PER_SEG);
	CHECK_EQ_INT(bad, 0);
	journal_reader_close(&r);

	/* a spare left by a killed writer (any content) is removed at open */
	CHECK(close(open(spare, O_CREAT | O_WRONLY, 0644)) == 0);
	CHECK(patch_file(spare, 0, "half-made", 9) == 0);
	snprintf(log_path, sizeof(log_path), "%s/stderr.log", root);
	saved = capture_begin(log_path);
	rc = open_writer(&j, dir, SEG_SMALL, JOURNAL_SYNC_NONE);
	capture_end(saved, log_path, log, sizeof(log));
	CHECK_EQ_INT(rc, 0);
	snprintf(path, sizeof(path), "journal %s/journal/%s: removed", dir, JOURNAL_SPARE_NAME);
	CHECK(strstr(log, path) != NULL);
	CHECK_EQ_INT(j.next_jseq, 23 * PER_SEG + 1);
	CHECK(spare_until(&j, spare_is_ready));
	CHECK_EQ_INT(append_trades(&j, PER_SEG), 0);
	CHECK_EQ_INT(j.spare.hits, 1);
	journal_close(&j);
	CHECK_EQ_INT(journal_reader_open(&r, dir, 1, err, sizeof(err)), 0);
	CHECK_EQ_INT(read_trades(&r, 1, 24 * PER_SEG + 1, &count, &bad), 0);
	CHECK_EQ_INT(count, 24 * PER_SEG);
	CHECK_EQ_INT(bad, 0);
	journal_reader_close(&r);
}

/* Mappings of this process that name a file under dir (from /proc/self/maps). */
static int maps_under(const char *dir)
{
	char line[8192];
	int n = 0;
	FILE *f = fopen("/proc/self/maps", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		n += strstr(line, dir) != NULL;
	fclose(f);
	return n;
}

/* ---- 15. the roll's old segment, and where the spare thread runs ----
 * A roll hands its old segment to the spare thread, which unmaps and
 * closes it (a 64 MiB munmap held the writer 3-4 ms): after rolls only the
 * current segment and the spare stay mapped, and nothing is lost.  The
 * thread keeps off the CPUs the writer is pinned to. */
static void test_spare_retire(void)
{
	char dir[DIR_LEN], err[256];
	struct journal_reader r;
	struct journal j;
	cpu_set_t all, one, got;
	uint64_t count;
	int bad = 0, mapped = 0, cpu = -1;
	bool pinned;

	CHECK(sched_getaffinity(0, sizeof(all), &all) == 0);
	for (int c = 0; c < CPU_SETSIZE && cpu < 0; c++)
		if (CPU_ISSET(c, &all))
			cpu = c;
	pinned = CPU_COUNT(&all) >= 2;
	if (!pinned)
		fprintf(stderr, "test_spare_retire: one CPU: the placement part is not checked\n");
	sub_dir(dir, "t15");
	if (open_writer(&j, dir, SEG_SMALL, JOURNAL_SYNC_NONE) != 0) {
		CHECK(!"open");
		return;
	}
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	if (pinned) /* the writer pinned after open, as the bench and taskset do */
		CHECK(sched_setaffinity(0, sizeof(one), &one) == 0);
	for (int k = 0; k < 8; k++) {
		CHECK(spare_until(&j, spare_is_ready));
		CHECK_EQ_INT(append_trades(&j, PER_SEG), 0);
		CHECK(spare_until(&j, spare_is_retired));
		/* the current segment and the spare, nothing older */
		mapped = maps_under(dir);
		CHECK(mapped >= 1 && mapped <= 2);
	}
	CHECK_EQ_INT(j.segments, 8);
	/* sync none: the first segment's rename was synced, the rolls' are
	 * synced once, at close */
	CHECK_EQ_INT(j.dir_syncs, 1);
	CHECK(j.dir_unsynced);
	CHECK(spare_until(&j, spare_is_ready));
	if (pinned) { /* the other thread of this process is the spare thread */
		DIR *d = opendir("/proc/self/task");
		struct dirent *de;
		int others = 0;

		while (d && (de = readdir(d))) {
			int tid = atoi(de->d_name);

			if (tid <= 0 || tid == (int)syscall(SYS_gettid))
				continue;
			others++;
			CHECK(sched_getaffinity(tid, sizeof(got), &got) == 0);
			CHECK(!CPU_ISSET(cpu, &got));
			CHECK(CPU_COUNT(&got) >= 1);
		}
		if (d)
			closedir(d);
		CHECK_EQ_INT(others, 1);
		CHECK(sched_setaffinity(0, sizeof(all), &all) == 0);
	}
	journal_close(&j);
	CHECK_EQ_INT(j.dir_syncs, 2);
	CHECK(!j.dir_unsynced);
	CHECK_EQ_INT(maps_under(dir), 0);
	CHECK_EQ_INT(journal_reader_open(&r, dir, 1, err, sizeof(err)), 0);
	CHECK_EQ_INT(read_trades(&r, 1, 8 * PER_SEG + 1, &count, &bad), 0);
	CHECK_EQ_INT(count, 8 * PER_SEG);
	CHECK_EQ_INT(bad, 0);
	journal_reader_close(&r);
	/* a policy that syncs: every roll's rename is synced before it returns */
	sub_dir(dir, "t15i");
	if (open_writer(&j, dir, SEG_SMALL, JOURNAL_SYNC_INTERVAL) != 0) {
		CHECK(!"open interval");
		return;
	}
	CHECK_EQ_INT(append_trades(&j, 3 * PER_SEG), 0);
	CHECK_EQ_INT(j.segments, 3);
	CHECK_EQ_INT(j.dir_syncs, 3);
	CHECK(!j.dir_unsynced);
	journal_close(&j);
	CHECK_EQ_INT(j.dir_syncs, 3);
}

int main(void)
{
	snprintf(root, sizeof(root), "/tmp/test_journal.XXXXXX");
	if (!mkdtemp(root)) {
		perror("mkdtemp");
		return 1;
	}
	test_framing();
	test_roll();
	test_torn_tail();
	test_corrupt_middle();
	test_follow();
	test_kill9();
	test_sync_parse();
	test_sync_count();
	test_bad_header();
	test_corrupt_last_refused();
	test_roll_msync_failed();
	test_reader_fstat_failed();
	test_disk_full();
	test_spare();
	test_spare_retire();
	CHECK(nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS) == 0);
	CHECK(!exists(root));
	CHECK_DONE();
}
