/* check.c -- `trades check`: verifies a state directory offline, read-only.
 *
 * 1. permissions: the directory, journal/, trades.state and every segment
 *    are this user's, not symbolic links, and not writable by group/other;
 *    files not readable by them either (they are created 0600 in 0700).
 * 2. journal: every frame's CRC32C and jseq, read with the journal reader
 *    from jseq 1 to the end; damage in the middle is a problem, and so is a
 *    torn tail (non-zero bytes after the last valid frame, what kill -9
 *    during an append leaves), which the service truncates at the next start.
 * 3. state header: magic, version, sizes, layout crc (state_open READ).
 * 4. rebuild: the journal segments are copied to a temporary directory and
 *    opened there by the real pipeline (which rebuilds a state from them);
 *    every instrument's aggregates and the feed counters the journal
 *    determines (accepted, unrecovered gaps) are compared with the file.
 *    Skipped, with a note, while a writer is live or when the state is
 *    behind the journal (after kill -9: the next start replays the rest).
 * Never writes into DIR and takes no lock, so it neither blocks nor is
 * blocked by a running service.  One line per problem on stdout.
 * Exit: 0 clean (notes allowed), 1 damage, 2 usage. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "trades/journal.h"
#include "trades/log.h"
#include "trades/pipeline.h"
#include "trades/state.h"

#define CHECK_PATH_MAX 4352
#define CHECK_COPY_BUF 65536

struct check {
	const char *dir;
	unsigned problems;
	uint64_t journal_last; /* last valid jseq */
};

static void problem(struct check *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(struct check *c, const char *fmt, ...)
{
	va_list ap;

	printf("problem: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	c->problems++;
}

/* lstat path: a problem if a symlink, not ours, or too open. */
static void check_perm(struct check *c, const char *path, bool is_dir)
{
	struct stat st;
	char why[96];

	if (lstat(path, &st) != 0) {
		if (errno != ENOENT)
			problem(c, "%s: lstat: %s", path, strerror(errno));
		return;
	}
	if (S_ISLNK(st.st_mode)) {
		problem(c, "%s: %s", path, "is a symbolic link (the service refuses it)");
		return;
	}
	if (st.st_uid != geteuid()) {
		snprintf(why, sizeof(why), "owned by uid %u, not by this user (uid %u)",
		         (unsigned)st.st_uid, (unsigned)geteuid());
		problem(c, "%s: %s", path, why);
	}
	if ((st.st_mode & (is_dir ? 022 : 077)) != 0) {
		snprintf(why, sizeof(why), "mode %04o, want %s", (unsigned)(st.st_mode & 07777),
		         is_dir ? "0700" : "0600");
		problem(c, "%s: %s", path, why);
	}
}

static void check_perms(struct check *c)
{
	char p[CHECK_PATH_MAX];
	struct dirent *de;
	DIR *d;
	unsigned n = 0;

	check_perm(c, c->dir, true);
	snprintf(p, sizeof(p), "%s/%s", c->dir, STATE_FILE_NAME);
	check_perm(c, p, false);
	snprintf(p, sizeof(p), "%s/%s", c->dir, JOURNAL_DIR_NAME);
	check_perm(c, p, true);
	d = opendir(p);
	if (!d)
		return;
	while ((de = readdir(d)) != NULL && n++ < JOURNAL_DIR_ENTRIES_MAX) {
		char sp[3 * CHECK_PATH_MAX];
		uint64_t first;

		if (!journal_seg_name_parse(de->d_name, &first))
			continue;
		snprintf(sp, sizeof(sp), "%s/%s/%s", c->dir, JOURNAL_DIR_NAME, de->d_name);
		check_perm(c, sp, false);
	}
	closedir(d);
}

/* Any non-zero byte after the reader's end offset in its last segment. */
static bool check_torn(const struct journal_reader *r)
{
	for (uint64_t o = r->off; r->map && o < r->map_size; o++)
		if (r->map[o] != 0)
			return true;
	return false;
}

static void check_journal(struct check *c)
{
	struct journal_reader r;
	const struct journal_frame *f;
	const void *payload;
	char err[CHECK_PATH_MAX + 160], where[64];
	int rc;

	if (journal_reader_open(&r, c->dir, 1, err, sizeof(err)) < 0) {
		problem(c, "%s%s", "journal: ", err);
		return;
	}
	while ((rc = journal_reader_next(&r, &f, &payload)) == 1)
		c->journal_last = f->jseq;
	if (rc < 0) {
		snprintf(where, sizeof(where), "%llu (offset %llu)",
		         (unsigned long long)r.seg_first, (unsigned long long)r.off);
		problem(c, "journal %s: damaged frame after jseq %s", r.dir, where);
		/* keep journal_last: the rebuild is skipped below */
		c->journal_last = UINT64_MAX;
	} else if (check_torn(&r)) {
		problem(c,
		        "journal %s/%020llu.seg: torn tail at offset %llu (the service truncates "
		        "it at the next start)",
		        r.dir, (unsigned long long)r.seg_first, (unsigned long long)r.off);
	}
	journal_reader_close(&r);
}

static int copy_file(const char *from, const char *to)
{
	static char buf[CHECK_COPY_BUF];
	int in = open(from, O_RDONLY | O_NOFOLLOW | O_CLOEXEC), out;
	ssize_t n = 0;

	if (in < 0)
		return -1;
	out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0) {
		close(in);
		return -1;
	}
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n) {
			n = -1;
			break;
		}
	close(in);
	if (close(out) != 0)
		n = -1;
	return n < 0 ? -1 : 0;
}

/* tmp/journal/ = copies of the segments of DIR/journal/.  0 or -1 (message printed). */
static int copy_journal(struct check *c, const char *tmp)
{
	char src[CHECK_PATH_MAX], dst[CHECK_PATH_MAX];
	struct dirent *de;
	unsigned n = 0;
	DIR *d;
	int rc = 0;

	snprintf(src, sizeof(src), "%s/%s", c->dir, JOURNAL_DIR_NAME);
	snprintf(dst, sizeof(dst), "%s/%s", tmp, JOURNAL_DIR_NAME);
	if (mkdir(dst, 0700) != 0 || !(d = opendir(src))) {
		fprintf(stderr, "trades check: %s: %s\n", dst, strerror(errno));
		return -1;
	}
	while (rc == 0 && (de = readdir(d)) != NULL && n++ < JOURNAL_DIR_ENTRIES_MAX) {
		char a[2 * CHECK_PATH_MAX], b[2 * CHECK_PATH_MAX];
		uint64_t first;

		if (!journal_seg_name_parse(de->d_name, &first))
			continue;
		snprintf(a, sizeof(a), "%s/%s", src, de->d_name);
		snprintf(b, sizeof(b), "%s/%s", dst, de->d_name);
		if (copy_file(a, b) != 0) {
			fprintf(stderr, "trades check: copy %s: %s\n", a, strerror(errno));
			rc = -1;
		}
	}
	closedir(d);
	return rc;
}

static void remove_tmp(const char *tmp)
{
	char p[CHECK_PATH_MAX + 64];
	struct dirent *de;
	unsigned n = 0;
	DIR *d;

	snprintf(p, sizeof(p), "%s/%s", tmp, JOURNAL_DIR_NAME);
	if ((d = opendir(p)) != NULL) {
		while ((de = readdir(d)) != NULL && n++ < JOURNAL_DIR_ENTRIES_MAX) {
			char f[3 * CHECK_PATH_MAX];

			snprintf(f, sizeof(f), "%s/%s", p, de->d_name);
			if (de->d_name[0] != '.')
				unlink(f);
		}
		closedir(d);
	}
	rmdir(p);
	snprintf(p, sizeof(p), "%s/%s", tmp, STATE_FILE_NAME);
	unlink(p);
	snprintf(p, sizeof(p), "%s/%s", tmp, STATE_LOCK_NAME);
	unlink(p);
	snprintf(p, sizeof(p), "%s/%s", tmp, JOURNAL_LOCK_NAME);
	unlink(p);
	rmdir(tmp);
}

static bool inst_equal(const struct state_instrument *a, const struct state_instrument *b)
{
	return a->symbol_len == b->symbol_len && !memcmp(a->symbol, b->symbol, a->symbol_len) &&
	       a->trades == b->trades && a->corrections == b->corrections &&
	       (a->trades == 0 || (a->first == b->first && a->last == b->last &&
	                           a->high == b->high && a->low == b->low)) &&
	       a->volume == b->volume && a->notional == b->notional &&
	       a->last_trade_id == b->last_trade_id && a->applied_jseq == b->applied_jseq &&
	       a->price_dp == b->price_dp && a->qty_dp == b->qty_dp;
}

static void compare_feeds(struct check *c, const struct state *s, const struct state *t)
{
	for (unsigned f = 0; f < TRADE_FEED_MAX; f++) {
		const struct state_feed *a = &s->feeds[f], *b = &t->feeds[f];
		char name[STATE_FEED_NAME_MAX + 1];

		if (!a->name[0] && !b->name[0])
			continue;
		snprintf(name, sizeof(name), "%s", a->name[0] ? a->name : b->name);
		if (strcmp(a->name, b->name) != 0 || a->accepted != b->accepted ||
		    a->ext[STATE_EXT_GAPS_UNRECOVERED] != b->ext[STATE_EXT_GAPS_UNRECOVERED] ||
		    a->ext[STATE_EXT_MISSING_UNRECOVERED] != b->ext[STATE_EXT_MISSING_UNRECOVERED])
			problem(c, "state %s: feed '%s': counters differ from the journal's",
			        s->path, name);
	}
}

static void compare_states(struct check *c, const struct state *s, const struct state *t)
{
	uint32_t n = atomic_load(&s->hdr->inst_count), m = atomic_load(&t->hdr->inst_count);
	char what[160];

	if (n != m) {
		snprintf(what, sizeof(what), "%u instruments, the journal defines %u", n, m);
		problem(c, "state %s: %s", s->path, what);
	}
	for (uint32_t i = 0; i < n && i < m; i++) {
		struct state_instrument a, b;

		if (state_read_instrument(s, i, &a) != 0 || state_read_instrument(t, i, &b) != 0 ||
		    !inst_equal(&a, &b)) {
			snprintf(what, sizeof(what),
			         "instrument %u (%.*s): aggregates differ from "
			         "the journal's",
			         i, (int)t->inst[i].symbol_len, t->inst[i].symbol);
			problem(c, "state %s: %s", s->path, what);
		}
	}
	compare_feeds(c, s, t);
}

/* Rebuilds a state from a copy of the journal and compares. */
static void check_rebuild(struct check *c, const struct state *s)
{
	char tmp[] = "/tmp/trades-check.XXXXXX", err[CHECK_PATH_MAX + 256];
	struct pipeline_config pc = {
	        .state_dir = tmp, .inst_cap = s->hdr->inst_cap, .sync = JOURNAL_SYNC_NONE};
	struct pipeline *p;

	if (!mkdtemp(tmp)) {
		fprintf(stderr, "trades check: mkdtemp %s: %s\n", tmp, strerror(errno));
		c->problems++;
		return;
	}
	if (copy_journal(c, tmp) == 0) {
		log_set_level(LOG_WARN);
		p = pipeline_open(&pc, err, sizeof(err));
		log_set_level(LOG_INFO);
		if (!p) {
			problem(c, "journal: rebuild failed: %s%s", err, "");
		} else {
			compare_states(c, s, pipeline_state(p));
			pipeline_close(p, false);
		}
	} else {
		c->problems++;
	}
	remove_tmp(tmp);
}

/* Every defined instrument slot against its crc (state_read_instrument). */
static void check_slots(struct check *c, const struct state *s)
{
	uint32_t n = atomic_load(&s->hdr->inst_count);
	struct state_instrument in;

	for (uint32_t i = 0; i < n; i++)
		if (state_read_instrument(s, i, &in) == STATE_READ_DAMAGED)
			problem(c,
			        "state %s: instrument %u: slot fails its checksum (damaged; the "
			        "service rebuilds the state from the journal)",
			        s->path, i);
}

static void check_state(struct check *c)
{
	char err[CHECK_PATH_MAX + 160], note[64];
	struct state s;
	uint64_t applied;
	int pid;

	if (state_open(&s, c->dir, STATE_OPEN_READ, 0, err, sizeof(err)) < 0) {
		problem(c, "%s%s", err, " (the service rebuilds it from the journal)");
		return;
	}
	check_slots(c, &s);
	applied = atomic_load(&s.hdr->applied_jseq);
	pid = state_writer_pid(&s);
	if (c->journal_last == UINT64_MAX) {
		/* journal damaged: reported; nothing sound to rebuild from */
	} else if (applied > c->journal_last) {
		snprintf(note, sizeof(note), "%llu, the journal ends at %llu",
		         (unsigned long long)applied, (unsigned long long)c->journal_last);
		problem(c, "state %s: applied journal entry %s", s.path, note);
	} else if (pid != 0) {
		printf("note: writer pid %d is live: aggregates not compared\n", pid);
	} else if (applied < c->journal_last || atomic_load(&s.hdr->undo.jseq) != 0) {
		printf("note: state %s is behind the journal (%llu of %llu applied; the next "
		       "start replays the rest): aggregates not compared\n",
		       s.path, (unsigned long long)applied, (unsigned long long)c->journal_last);
	} else {
		check_rebuild(c, &s);
	}
	state_close(&s, false);
}

static void check_usage(FILE *f)
{
	fprintf(f,
	        "usage: trades check [--state-dir DIR]\n"
	        "Verifies DIR offline and read-only (no lock: safe next to a running service):\n"
	        "permissions (owner, 0600 files in a 0700 directory, no symbolic links), every\n"
	        "journal frame's checksum and sequence, the state header, and the state rebuilt\n"
	        "from the journal against the state file (each instrument's aggregates, the\n"
	        "feed counters the journal determines).  One line per problem on stdout;\n"
	        "a torn journal tail after a crash is damage the service repairs at start;\n"
	        "'note:' lines (a state behind the journal, a live writer) are not damage:\n"
	        "the service catches up at start.\n\n" CLI_COMMON_HELP
	        "\nexit codes: 0 clean, 1 damage found, 2 usage error\n");
}

int cmd_check(int argc, char **argv)
{
	static const struct option opts[] = {CLI_COMMON_OPTIONS, {0, 0, 0, 0}};
	struct cli_common co;
	struct check c = {0};
	int ch, r;

	if (cli_common_init("check", &co) < 0)
		return CLI_USAGE;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		r = cli_common_opt("check", ch, optarg, &co);
		if (r < 0 || r == 0) {
			check_usage(stderr);
			return CLI_USAGE;
		}
	}
	if (co.help) {
		check_usage(stdout);
		return CLI_OK;
	}
	if (optind != argc) {
		fprintf(stderr, "trades check: unexpected argument '%s'\n", argv[optind]);
		return CLI_USAGE;
	}
	c.dir = co.state_dir;
	if (access(c.dir, F_OK) != 0) {
		fprintf(stderr, "trades check: state dir %s: %s\n", c.dir, strerror(errno));
		return CLI_USAGE;
	}
	check_perms(&c);
	check_journal(&c);
	check_state(&c);
	if (c.problems == 0)
		printf("ok: %s: journal entries 1..%llu, state consistent\n", c.dir,
		       (unsigned long long)c.journal_last);
	return c.problems ? CLI_FAIL : CLI_OK;
}
