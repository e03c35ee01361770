/* test_candles.c -- the candle region of the state file: OHLCV, late trades,
 * kill -9 at every crash point of an apply (recovered candles equal a run
 * that never crashed), the pool bound, the reader, the parsers. */
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "trades/candles.h"
#include "trades/state.h"

#define SEC   1000000000LL
#define NTR   40
#define NINST 3

static char root[] = "/tmp/test_candles.XXXXXX";
static const int64_t ivs[2] = {1 * SEC, 60 * SEC};
static struct trade trades[NTR + 1]; /* trades[j] is journal seq j */

/* Trade j: instrument j % NINST (instrument 2 from j = 7 on: a ring is
 * created mid-run), 300 ms apart, every 9th one 4 s in the past (late for
 * 1s with a 2 s grace), every 11th one 1.5 s (inside the grace). */
static void make_trades(void)
{
	for (int j = 1; j <= NTR; j++) {
		struct trade *t = &trades[j];

		memset(t, 0, sizeof(*t));
		t->instrument = (uint32_t)(j < 7 ? j % 2 : j % NINST);
		t->price = (100 + (j * 37) % 23) * 1000000LL;
		t->qty = (1 + j % 5) * 10000000LL;
		t->ts_exch_ns = (1735776000LL + 10) * SEC + j * 300000000LL;
		if (j % 9 == 0)
			t->ts_exch_ns -= 4 * SEC;
		else if (j % 11 == 0)
			t->ts_exch_ns -= 3 * SEC / 2;
		t->flags = TRADE_F_HAS_TS | TRADE_F_HAS_ID;
		t->trade_id = (uint64_t)j;
		t->price_dp = 2;
		t->qty_dp = 1;
	}
}

static int open_state(struct state *s, const char *dir)
{
	char err[512];
	static const char *syms[NINST] = {"AAA", "BBB", "CCC"};

	if (state_open(s, dir, STATE_OPEN_WRITE, 16, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	for (uint32_t i = 0; i < NINST; i++)
		if (state_define(s, i, syms[i], 3) < 0)
			return -1;
	if (state_feed_define(s, 0, "f") < 0 ||
	    state_candles_configure(s, ivs, 2, 2 * SEC, err, sizeof(err)) < 0) {
		fprintf(stderr, "configure: %s\n", err);
		return -1;
	}
	return 0;
}

static void apply_from(struct state *s, int to)
{
	for (uint64_t j = atomic_load(&s->hdr->applied_jseq) + 1; j <= (uint64_t)to; j++)
		state_apply_trade(s, &trades[j], j);
}

static unsigned kill_at, kill_calls;
static void kill_hook(enum state_point where)
{
	(void)where;
	if (++kill_calls == kill_at)
		raise(SIGKILL);
}

/* Ring contents of every (instrument, interval) into buf (compared with memcmp). */
struct snap {
	struct candle c[NINST][2][CANDLE_RING_LEN];
	int n[NINST][2];
	uint64_t late[NINST][2];
};

static void snapshot(const struct state *s, struct snap *o)
{
	memset(o, 0, sizeof(*o));
	for (uint32_t i = 0; i < NINST; i++)
		for (uint32_t k = 0; k < 2; k++) {
			struct candle_ring_hdr h;

			o->n[i][k] = state_candles_read(s, i, k, o->c[i][k], CANDLE_RING_LEN, &h);
			o->late[i][k] = h.late;
		}
}

/* Kills the apply of trade `at_trade` at its p-th crash point; recovery
 * then the rest must give the reference candles. */
static void kill_one(const struct snap *ref, int at_trade, unsigned p)
{
	char dir[128];
	struct state s;
	struct snap got;
	int status;
	pid_t pid;

	snprintf(dir, sizeof(dir), "%s/k%d_%u", root, at_trade, p);
	pid = fork();
	if (pid == 0) {
		if (open_state(&s, dir) < 0)
			_exit(2);
		apply_from(&s, at_trade - 1);
		kill_at = p;
		kill_calls = 0;
		state_crash_hook = kill_hook;
		apply_from(&s, at_trade);
		_exit(0);
	}
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	CHECK_EQ_INT(open_state(&s, dir), 0);
	CHECK(atomic_load(&s.hdr->applied_jseq) <= (uint64_t)at_trade);
	apply_from(&s, NTR);
	snapshot(&s, &got);
	CHECK(memcmp(&got, ref, sizeof(got)) == 0);
	state_close(&s, true);
}

static void test_values(const struct snap *r)
{
	int64_t vol = 0, n = 0, open = 0;

	CHECK(r->n[0][0] > 3 && r->n[0][1] == 1);
	CHECK(r->late[0][0] + r->late[1][0] + r->late[2][0] > 0);       /* 1s: some late */
	CHECK_EQ_INT(r->late[0][1] + r->late[1][1] + r->late[2][1], 0); /* 1m: none */
	/* the 1m candle of instrument 0 holds every one of its trades */
	for (int j = 1; j <= NTR; j++)
		if (trades[j].instrument == 0) {
			open = n == 0 ? trades[j].price : open;
			vol += trades[j].qty;
			n++;
		}
	CHECK(r->c[0][1][0].volume == vol);
	CHECK_EQ_INT(r->c[0][1][0].trades, n);
	CHECK_EQ_INT(r->c[0][1][0].open, open);
	for (int i = 1; i < r->n[0][0]; i++)
		CHECK(r->c[0][0][i].start_ns > r->c[0][0][i - 1].start_ns);
}

static void test_parse(void)
{
	int64_t v[CANDLE_INTERVALS_MAX];
	char err[256], b[16];

	CHECK_EQ_INT(candle_parse_intervals("1s,1m,5m,1h", v, err, sizeof(err)), 4);
	CHECK_EQ_INT(v[3], 3600 * SEC);
	CHECK_EQ_INT(candle_parse_intervals("off", v, err, sizeof(err)), 0);
	CHECK_EQ_INT(candle_parse_intervals("1m,1s", v, err, sizeof(err)), -1);
	CHECK_EQ_INT(candle_parse_intervals("1s,2s,3s,4s,5s", v, err, sizeof(err)), -1);
	CHECK_EQ_INT(candle_parse_intervals("500ms", v, err, sizeof(err)), -1);
	CHECK_EQ_INT(candle_parse_intervals("2d", v, err, sizeof(err)), -1);
	CHECK_EQ_INT(candle_parse_intervals("", v, err, sizeof(err)), -1);
	CHECK_EQ_INT(candle_parse_duration("1500ms", &v[0], err, sizeof(err)), 0);
	CHECK_EQ_INT(v[0], 3 * SEC / 2);
	CHECK_EQ_INT(candle_parse_duration("2", &v[0], err, sizeof(err)), -1);
	CHECK(strcmp(candle_interval_name(300 * SEC, b, sizeof(b)), "5m") == 0);
}

int main(void)
{
	struct state s;
	struct snap ref;
	char dir[128];
	static const int at[] = {1, 7, 9, 11, 12, 30};

	if (!mkdtemp(root))
		return 1;
	make_trades();
	snprintf(dir, sizeof(dir), "%s/ref", root);
	CHECK_EQ_INT(open_state(&s, dir), 0);
	apply_from(&s, NTR);
	snapshot(&s, &ref);
	state_close(&s, true);
	test_values(&ref);
	for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++)
		for (unsigned p = 1; p <= 3; p++)
			kill_one(&ref, at[i], p);
	test_parse();
	{
		char cmd[160];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
		CHECK_EQ_INT(system(cmd), 0);
	}
	printf("%d checks, %d failed\n", check_run, check_failed);
	return check_failed != 0;
}
