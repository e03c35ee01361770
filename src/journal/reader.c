/* reader.c -- sequential journal reader, also for following a live journal.
 *
 * The reader maps one segment at a time read-only and MAP_SHARED, so it sees
 * what a writer in another process appends to the same file as soon as the
 * writer stores it.  It never writes.  At the end of the data of a segment it
 * looks for the segment named by the next jseq: the writer creates it only
 * after the last entry of this one is complete, so its existence tells "the
 * writer moved on" apart from "the writer has not written yet".
 */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "trades/journal.h"
#include "trades/log.h"

#define READER_PATH_MAX (sizeof(((struct journal_reader *)0)->dir) + 32)
/* A call switches segments at most once in a well-formed journal (an empty
 * segment holds the largest entry); the bound only stops a damaged one. */
#define READER_HOPS_MAX 4
#define FRAME_BYTES     ((uint64_t)sizeof(struct journal_frame))

static void reader_seg_path(const struct journal_reader *r, uint64_t first_jseq, char *buf,
                            size_t len)
{
	int n = snprintf(buf, len, "%s/%020llu.seg", r->dir, (unsigned long long)first_jseq);

	assert(n > 0 && (size_t)n < len);
	(void)n;
}

static void reader_unmap(struct journal_reader *r)
{
	if (r->map)
		munmap(r->map, r->map_size);
	if (r->fd >= 0)
		close(r->fd);
	r->map = NULL;
	r->fd = -1;
	r->map_size = 0;
}

/* Opens, maps and checks segment first_jseq, replacing the current one.
 * 1 mapped; 0 no such file (yet); -1 unusable, why in err. */
static int reader_seg_map(struct journal_reader *r, uint64_t first_jseq, char *err, size_t errlen)
{
	char path[READER_PATH_MAX], why[128];
	struct stat st;
	void *map;
	int fd;

	reader_seg_path(r, first_jseq, path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		errfmt(err, errlen, "journal %s: open: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0) {
		errfmt(err, errlen, "journal %s: fstat: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	if (st.st_size < (off_t)JOURNAL_SEG_HEADER) {
		errfmt(err, errlen, "journal %s: bad header: file too short", path);
		close(fd);
		return -1;
	}
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		errfmt(err, errlen, "journal %s: mmap: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	if (journal_seg_check(map, first_jseq, (uint64_t)st.st_size, why, sizeof(why)) != 0) {
		errfmt(err, errlen, "journal %s: bad header: %s", path, why);
		munmap(map, (size_t)st.st_size);
		close(fd);
		return -1;
	}
	reader_unmap(r);
	r->fd = fd;
	r->map = map;
	r->map_size = (uint64_t)st.st_size;
	r->off = JOURNAL_SEG_HEADER;
	r->seg_first = first_jseq;
	return 1;
}

static int reader_later_fn(void *ctx, const char *name, char *err, size_t errlen)
{
	const struct journal_reader *r = ctx;
	uint64_t v;

	(void)err;
	(void)errlen;
	return journal_seg_name_parse(name, &v) && v > r->seg_first;
}

/* Whether any segment after the mapped one exists.  The one named next_jseq
 * is the usual case and costs one access(); otherwise the directory is
 * listed, which only happens at a bad frame, never on the clean path.  A
 * listing that fails counts as "no later segment". */
static bool reader_later_exists(const struct journal_reader *r)
{
	char path[READER_PATH_MAX];
	bool found;
	DIR *d;

	reader_seg_path(r, r->next_jseq, path, sizeof(path));
	if (access(path, F_OK) == 0)
		return true;
	d = opendir(r->dir);
	if (!d)
		return false;
	found = journal_dir_each(d, r->dir, reader_later_fn, (void *)r, NULL, 0) > 0;
	closedir(d);
	return found;
}

static int reader_take(struct journal_reader *r, const struct journal_frame **frame,
                       const void **payload)
{
	const struct journal_frame *f = (const void *)(r->map + r->off);

	assert(f->jseq == r->next_jseq && f->len % 8 == 0);
	*frame = f;
	*payload = f + 1;
	r->off += FRAME_BYTES + f->len;
	r->next_jseq++;
	return 1;
}

static int reader_corrupt(const struct journal_reader *r, const char *what)
{
	log_error("journal %s/%020llu.seg: offset %llu: %s (expected jseq %llu)", r->dir,
	          (unsigned long long)r->seg_first, (unsigned long long)r->off, what,
	          (unsigned long long)r->next_jseq);
	return -1;
}

/* The end of the mapped segment's data: moves to the next segment if the
 * writer created it.  1 moved, 0 not there yet, -1 bad (logged). */
static int reader_advance(struct journal_reader *r)
{
	char err[READER_PATH_MAX + 160];
	int rc = reader_seg_map(r, r->next_jseq, err, sizeof(err));

	if (rc < 0)
		log_error("%s", err);
	return rc;
}

/* No entry at r->off (a zero or bad frame) and no later segment: the end of
 * the data for now, unless a valid entry follows close behind, which an
 * append in progress never leaves.  0 end for now, 1 look again (the frame
 * was completed meanwhile), -1 corrupt (logged). */
static int reader_stuck(struct journal_reader *r)
{
	enum journal_frame_state st;
	uint64_t jseq, at;
	char what[128];

	at = journal_frame_find(r->map, r->map_size, r->off, r->off + JOURNAL_READER_LOOKAHEAD,
	                        &jseq);
	if (at == 0)
		return 0;
	/* Seen after that entry's crc (acquire): a frame finished by a live
	 * writer is now visible as valid. */
	st = journal_frame_check(r->map, r->map_size, r->off, r->next_jseq);
	if (st == JOURNAL_FRAME_VALID)
		return 1;
	snprintf(what, sizeof(what),
	         "%s frame with a valid entry (jseq %llu) at offset %llu after it",
	         st == JOURNAL_FRAME_END ? "zero" : "bad", (unsigned long long)jseq,
	         (unsigned long long)at);
	return reader_corrupt(r, what);
}

int journal_reader_next(struct journal_reader *r, const struct journal_frame **frame,
                        const void **payload)
{
	enum journal_frame_state st;
	int i, rc;

	assert(r && frame && payload);
	for (i = 0; i < READER_HOPS_MAX; i++) {
		if (!r->map) { /* empty journal: wait for its first segment */
			rc = reader_advance(r);
			if (rc <= 0)
				return rc;
		}
		st = journal_frame_check(r->map, r->map_size, r->off, r->next_jseq);
		if (st == JOURNAL_FRAME_TORN) {
			/* At the live tail this is a frame being written: not yet.
			 * Once a later segment exists the writer has finished with
			 * this one, so look again: still bad is damage. */
			if (!reader_later_exists(r)) {
				rc = reader_stuck(r);
				if (rc == 1)
					continue;
				return rc;
			}
			st = journal_frame_check(r->map, r->map_size, r->off, r->next_jseq);
			if (st == JOURNAL_FRAME_TORN)
				return reader_corrupt(
				        r, "bad crc or length while a later segment exists");
		}
		if (st == JOURNAL_FRAME_VALID)
			return reader_take(r, frame, payload);
		if (st == JOURNAL_FRAME_CORRUPT)
			return reader_corrupt(r, "good crc but wrong jseq or type");
		assert(st == JOURNAL_FRAME_END);
		rc = reader_advance(r);
		if (rc == 0)
			rc = reader_stuck(r) < 0 ? -1 : 0;
		if (rc <= 0)
			return rc;
	}
	return 0;
}

struct reader_find_ctx {
	uint64_t from, best, lowest;
};

static int reader_find_fn(void *ctx, const char *name, char *err, size_t errlen)
{
	struct reader_find_ctx *fc = ctx;
	uint64_t v;

	(void)err;
	(void)errlen;
	if (!journal_seg_name_parse(name, &v))
		return 0;
	if (v <= fc->from && v > fc->best)
		fc->best = v;
	if (v < fc->lowest)
		fc->lowest = v;
	return 0;
}

/* The first jseq of the segment to start from: the highest <= from, or the
 * lowest if all are above from.  0 when there is no segment (or no dir). */
static int reader_find(struct journal_reader *r, uint64_t from, uint64_t *first, char *err,
                       size_t errlen)
{
	struct reader_find_ctx fc = {.from = from, .best = 0, .lowest = UINT64_MAX};
	DIR *d = opendir(r->dir);
	int rc;

	*first = 0;
	if (!d) {
		if (errno == ENOENT)
			return 0;
		errfmt(err, errlen, "journal %s: opendir: %s", r->dir, strerror(errno));
		return -1;
	}
	rc = journal_dir_each(d, r->dir, reader_find_fn, &fc, err, errlen);
	closedir(d);
	if (rc == 0)
		*first = fc.best ? fc.best : (fc.lowest != UINT64_MAX ? fc.lowest : 0);
	return rc;
}

/* Skips entries below from.  Within one segment, so bounded by its size. */
static int reader_skip(struct journal_reader *r, uint64_t from, char *err, size_t errlen)
{
	const struct journal_frame *f;
	const void *p;
	uint64_t n, max = r->map_size / FRAME_BYTES + 1;
	int rc = 1;

	for (n = 0; n < max && r->next_jseq < from; n++) {
		rc = journal_reader_next(r, &f, &p);
		if (rc != 1)
			break;
	}
	if (r->next_jseq == from)
		return 0;
	if (rc < 0)
		errfmt(err, errlen, "journal %s: corrupt before jseq %llu (see log)", r->dir,
		       (unsigned long long)from);
	else
		errfmt(err, errlen, "journal %s: jseq %llu is past the end (next is %llu)", r->dir,
		       (unsigned long long)from, (unsigned long long)r->next_jseq);
	return -1;
}

int journal_reader_open(struct journal_reader *r, const char *state_dir, uint64_t from_jseq,
                        char *err, size_t errlen)
{
	uint64_t first;
	int n, rc;

	assert(r && state_dir);
	memset(r, 0, sizeof(*r));
	r->fd = -1;
	n = snprintf(r->dir, sizeof(r->dir), "%s/%s", state_dir, JOURNAL_DIR_NAME);
	if (n < 0 || (size_t)n >= sizeof(r->dir)) {
		errfmt(err, errlen, "journal %s: path too long", state_dir);
		return -1;
	}
	if (from_jseq == 0)
		from_jseq = 1;
	if (reader_find(r, from_jseq, &first, err, errlen) != 0)
		return -1;
	r->next_jseq = first ? first : 1;
	if (first == 0) { /* nothing yet: next() maps segment 1 once it exists */
		if (from_jseq == 1)
			return 0;
		errfmt(err, errlen, "journal %s: empty, jseq %llu is past the end", r->dir,
		       (unsigned long long)from_jseq);
		return -1;
	}
	rc = reader_seg_map(r, first, err, errlen);
	if (rc == 0) /* listed a moment ago, gone now: not a journal to trust */
		errfmt(err, errlen, "journal %s/%020llu.seg: vanished while opening", r->dir,
		       (unsigned long long)first);
	if (rc <= 0 || (from_jseq > first && reader_skip(r, from_jseq, err, errlen) != 0)) {
		journal_reader_close(r);
		return -1;
	}
	assert(r->next_jseq >= from_jseq);
	return 0;
}

void journal_reader_close(struct journal_reader *r)
{
	assert(r);
	reader_unmap(r);
}
