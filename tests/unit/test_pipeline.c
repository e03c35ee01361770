/* test_pipeline.c -- the pipeline against a real state file and journal:
 * a gap killed half-applied is counted once after recovery, and a journal
 * that cannot store drops trades counted (store_failed), logged, and without
 * being retried before its deadline.
 *
 * Every test works in its own directory under a mkdtemp() root in /tmp,
 * removed at the end.  A kill -9 happens in a forked child at a crash point
 * of the state (state_crash_hook); the parent reopens and checks.
 */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "trades/decoder.h"
#include "trades/journal.h"
#include "trades/log.h"
#include "trades/pipeline.h"
#include "trades/source.h"
#include "trades/state.h"

_Static_assert(PIPELINE_TICKERS_MAX >= SOURCE_LISTEN_MAX + 4,
               "a ticker for every listener that may be a MoldUDP64 feed, and the process's own");

#define GAP_FIRST   1000u
#define GAP_LAST    1004u
#define KILL_POINTS 16 /* crash points tried per gap; a gap passes far fewer */

static char root[64];

static void rm_tree(const char *dir)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	CHECK_EQ_INT(system(cmd), 0);
}

static struct pipeline *open_pipe(const char *dir)
{
	struct pipeline_config cfg = {
	        .state_dir = dir,
	        .inst_cap = 16,
	        .segment_bytes = JOURNAL_SEGMENT_MIN,
	        .sync = JOURNAL_SYNC_NONE,
	};
	char err[512];
	struct pipeline *p = pipeline_open(&cfg, err, sizeof(err));

	if (!p)
		fprintf(stderr, "pipeline_open %s: %s\n", dir, err);
	return p;
}

/* ---- defect 1: a gap killed between its counters and the undo disarm ---- */

static unsigned kill_at;    /* crash point (1-based call of the hook) to die at */
static unsigned kill_calls; /* hook calls so far */

static void kill_hook(enum state_point where)
{
	(void)where;
	if (++kill_calls == kill_at)
		raise(SIGKILL);
}

/* Child: journals one gap and dies at the kill_at-th crash point of its
 * apply; exits 0 if the apply has fewer points than that. */
static void gap_child(const char *dir, unsigned at)
{
	struct pipeline *p = open_pipe(dir);
	int feed;

	if (!p)
		_exit(2);
	feed = pipeline_feed(p, "gapfeed");
	if (feed < 0)
		_exit(3);
	kill_at = at;
	kill_calls = 0;
	state_crash_hook = kill_hook; /* armed only around the gap */
	if (pipeline_gap(p, (uint16_t)feed, GAP_FIRST, GAP_LAST) != 0)
		_exit(4);
	_exit(0); /* no close: as if killed right after */
}

static void gap_verify(const char *dir, uint64_t gaps)
{
	struct pipeline *p = open_pipe(dir);
	const struct state *s;
	const struct state_feed *f;

	if (!p) {
		CHECK(0);
		return;
	}
	s = pipeline_state(p);
	f = &s->feeds[state_feed_lookup(s, "gapfeed")];
	CHECK_EQ_INT(atomic_load(&s->hdr->undo.jseq), 0);
	CHECK_EQ_INT(f->ext[STATE_EXT_GAPS_UNRECOVERED], gaps);
	CHECK_EQ_INT(f->ext[STATE_EXT_MISSING_UNRECOVERED], gaps * (GAP_LAST - GAP_FIRST + 1));
	/* every journal entry applied exactly once: 1 feed define + the gaps */
	CHECK_EQ_INT(atomic_load(&s->hdr->applied_jseq), 1 + gaps);
	CHECK_EQ_INT(pipeline_journal_last(p), 1 + gaps);
	pipeline_close(p, false);
}

/* Kills the gap's apply at each of its crash points in turn (the 1st, the
 * 2nd, ... until a child gets through); after each, recovery must count
 * every journaled gap once. */
static void test_gap_kill9(void)
{
	char dir[128];
	uint64_t gaps = 0;
	unsigned at, killed = 0;

	snprintf(dir, sizeof(dir), "%s/gap", root);
	for (at = 1; at <= KILL_POINTS; at++) {
		int status;
		pid_t pid = fork();

		if (pid == 0)
			gap_child(dir, at);
		CHECK(pid > 0);
		CHECK_EQ_INT(waitpid(pid, &status, 0), pid);
		gaps++; /* journaled before any crash point: it is the truth */
		gap_verify(dir, gaps);
		if (WIFEXITED(status)) {
			CHECK_EQ_INT(WEXITSTATUS(status), 0);
			break;
		}
		CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
		killed++;
	}
	CHECK(at <= KILL_POINTS);
	CHECK(killed >= 3); /* armed, written, advanced */
	printf("gap kill9: killed at %u crash points, then one run through\n", killed);
	rm_tree(dir);
}

/* ---- defects 3 and 12: storage failure ---- */

static struct trade mk_trade(uint32_t inst, uint16_t feed, uint64_t id)
{
	struct trade t;

	memset(&t, 0, sizeof(t));
	t.instrument = inst;
	t.feed = feed;
	t.price = 100 * TRADE_SCALE;
	t.qty = TRADE_SCALE;
	t.trade_id = id;
	t.flags = TRADE_F_HAS_ID;
	return t;
}

/* A decoder's part: count the message, then submit it. */
static enum pipeline_verdict receive(struct pipeline *p, uint16_t feed, uint64_t id)
{
	struct trade t = mk_trade(0, feed, id);

	pipeline_received(p, feed, 1);
	return pipeline_submit(p, &t);
}

static void check_identity(const struct pipeline *p, uint16_t feed)
{
	const struct state_feed *f = &pipeline_state(p)->feeds[feed];
	const struct pipeline_stats *ps = pipeline_stats(p);

	CHECK_EQ_INT(f->received, f->accepted + f->duplicates + f->malformed + f->store_failed);
	CHECK_EQ_INT(ps->received,
	             ps->accepted + ps->duplicates + ps->malformed + ps->store_failed);
}

/* With RLIMIT_FSIZE below a segment's size the journal cannot roll: the
 * first segment fills, then every append fails (EFBIG). */
static void test_store_failed(void)
{
	struct rlimit old, small = {.rlim_cur = JOURNAL_SEGMENT_MIN / 2};
	enum pipeline_verdict v = PIPELINE_ACCEPTED;
	struct pipeline *p;
	char dir[128];
	uint64_t id = 0, accepted;
	int feed;

	snprintf(dir, sizeof(dir), "%s/store", root);
	p = open_pipe(dir);
	if (!p) {
		CHECK(0);
		return;
	}
	feed = pipeline_feed(p, "storefeed");
	CHECK_EQ_INT(feed, 0);
	CHECK_EQ_INT(pipeline_intern(p, "AAA", 3), 0);
	CHECK_EQ_INT(getrlimit(RLIMIT_FSIZE, &old), 0);
	small.rlim_max = old.rlim_max;
	signal(SIGXFSZ, SIG_IGN);
	CHECK_EQ_INT(setrlimit(RLIMIT_FSIZE, &small), 0);
	/* a 64 KiB segment holds < 1000 trade entries: bounded */
	while (v == PIPELINE_ACCEPTED && id < 2000)
		v = receive(p, 0, ++id);
	CHECK_EQ_INT(v, PIPELINE_FAILED);
	accepted = pipeline_stats(p)->accepted;
	CHECK(accepted > 100 && accepted == id - 1);
	CHECK_EQ_INT(pipeline_stats(p)->store_failed, 1);
	CHECK_EQ_INT(pipeline_state(p)->feeds[0].store_failed, 1);
	CHECK_EQ_INT(pipeline_stats(p)->journal_errors, 1);
	check_identity(p, 0);

	/* inside the retry deadline the journal is not touched again */
	for (int i = 0; i < 1000; i++)
		CHECK_EQ_INT(receive(p, 0, ++id), PIPELINE_FAILED);
	CHECK_EQ_INT(pipeline_stats(p)->store_failed, 1001);
	CHECK_EQ_INT(pipeline_state(p)->feeds[0].store_failed, 1001);
	CHECK_EQ_INT(pipeline_stats(p)->journal_errors, 1);
	CHECK_EQ_INT(pipeline_stats(p)->store_retries, 0);
	/* a duplicate is still a duplicate, and a new symbol is not malformed */
	CHECK_EQ_INT(receive(p, 0, 1), PIPELINE_DUPLICATE);
	CHECK_EQ_INT(pipeline_intern(p, "BBB", 3), PIPELINE_INTERN_STORE_FAILED);
	CHECK_EQ_INT(pipeline_state(p)->feeds[0].malformed, 0);
	check_identity(p, 0);

	/* space again: after the deadline the next append retries and works */
	CHECK_EQ_INT(setrlimit(RLIMIT_FSIZE, &old), 0);
	usleep((PIPELINE_STORE_RETRY_MS + 100) * 1000);
	CHECK_EQ_INT(receive(p, 0, ++id), PIPELINE_ACCEPTED);
	CHECK_EQ_INT(pipeline_stats(p)->store_retries, 1);
	CHECK_EQ_INT(pipeline_stats(p)->accepted, accepted + 1);
	CHECK_EQ_INT(pipeline_intern(p, "BBB", 3), 1);
	check_identity(p, 0);
	pipeline_close(p, true);
	signal(SIGXFSZ, SIG_DFL);

	/* the counts persist */
	p = open_pipe(dir);
	if (p) {
		CHECK_EQ_INT(pipeline_state(p)->feeds[0].store_failed, 1001);
		CHECK_EQ_INT(pipeline_state(p)->feeds[0].accepted, accepted + 1);
		pipeline_close(p, true);
	}
	rm_tree(dir);
}

/* ---- the decoder's symbol cache ---- */

/* Pair k of test_symbol_cache: 1 or 2 bytes, 7 bytes, or 11 bytes whose
 * first and last 4 are the same for all; the 7-byte ones share their first 4. */
static void cache_sym(int k, char *sym, size_t cap)
{
	if (k % 3 == 0 && k / 3 < 26)
		snprintf(sym, cap, "%c", 'A' + k / 3);
	else if (k % 3 == 0)
		snprintf(sym, cap, "%c%c", 'a' + k / 3 % 26, 'a' + k / 3 / 26);
	else if (k % 3 == 1)
		snprintf(sym, cap, "USD/%03d", k);
	else
		snprintf(sym, cap, "HEAD%03dTAIL", k);
}

/* 150 pairs (more than the cache's entries, so they collide; short ones,
 * and long ones alike in their first and last 4 bytes), 3000 JSON lines in
 * a scrambled order through one decoder: every pair's trades must land on
 * its own instrument (count and last price), whatever the cache held. */
static void test_symbol_cache(void)
{
	struct pipeline_config cfg = {
	        .inst_cap = 256,
	        .segment_bytes = JOURNAL_SEGMENT_MIN,
	        .sync = JOURNAL_SYNC_NONE,
	};
	enum { PAIRS = 150, LINES = 3000 };
	static uint64_t count[PAIRS];
	static int64_t last[PAIRS];
	char dir[128], err[512], sym[40], line[160];
	const struct state *s;
	struct decoder d;
	struct pipeline *p;
	uint64_t r = 12345;

	snprintf(dir, sizeof(dir), "%s/cache", root);
	CHECK_EQ_INT(mkdir(dir, 0700), 0);
	cfg.state_dir = dir;
	p = pipeline_open(&cfg, err, sizeof(err));
	CHECK(p != NULL);
	if (!p)
		return;
	decoder_init(&d, p, DECODER_JSONL, false, (uint16_t)pipeline_feed(p, "f"), "test");
	for (int i = 0; i < LINES; i++) {
		int k = (int)((r = r * 6364136223846793005ULL + 1442695040888963407ULL) >> 33) %
		        PAIRS;
		int n;

		cache_sym(k, sym, sizeof(sym));
		n = snprintf(line, sizeof(line),
		             "{\"pair\":\"%s\",\"price\":%d,\"volume\":1,"
		             "\"timestamp_ms\":%d}\n",
		             sym, 1000 + i, 1 + i);
		decoder_input(&d, line, (size_t)n, 1, false, NULL);
		count[k]++;
		last[k] = (int64_t)(1000 + i) * TRADE_SCALE;
	}
	decoder_end(&d);
	pipeline_commit(p);
	s = pipeline_state(p);
	CHECK_EQ_INT(s->feeds[0].accepted + s->feeds[1].accepted, LINES);
	for (int k = 0; k < PAIRS; k++) {
		int64_t id;

		cache_sym(k, sym, sizeof(sym));
		id = state_lookup(s, sym, strlen(sym));
		CHECK(id >= 0 || count[k] == 0);
		if (id < 0)
			continue;
		CHECK_EQ_INT(s->inst[id].trades, count[k]);
		CHECK_EQ_INT(s->inst[id].last, last[k]);
	}
	pipeline_close(p, false);
}

int main(void)
{
	snprintf(root, sizeof(root), "/tmp/test_pipeline.XXXXXX");
	if (!mkdtemp(root)) {
		perror("mkdtemp");
		return 1;
	}
	log_set_level(LOG_WARN);
	test_gap_kill9();
	test_store_failed();
	test_symbol_cache();
	rm_tree(root);
	CHECK_DONE();
}
