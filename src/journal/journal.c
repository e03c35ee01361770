/* journal.c -- the journal writer: segment files, torn-tail recovery on open,
 * appends into a shared file mapping, and the msync policy.
 *
 * The one invariant everything here protects: a file with a segment name
 * always has a valid header, and every frame before the first all-zero frame
 * of a segment validates (crc, length, jseq).  A new segment is therefore
 * built under a .tmp name and renamed; an append writes the crc last; and
 * open zeroes whatever follows the last valid frame of the last segment.
 */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "trades/crc32c.h"
#include "trades/journal.h"
#include "trades/log.h"
#include "trades/probe.h"
#include "trades/timefmt.h"

#define SEG_NAME_DIGITS      20
#define SEG_NAME_LEN         (SEG_NAME_DIGITS + 4) /* "%020llu.seg" */
#define SEG_TMP_SUFFIX       ".tmp"
#define SEG_TMP_LEN          (SEG_NAME_LEN + 4) /* "%020llu.seg.tmp" */
#define SYNC_INTERVAL_MS_MAX 3600000u
#define NS_PER_MS            1000000LL
#define NS_PER_S             1000000000LL
#define FRAME_BYTES          ((uint64_t)sizeof(struct journal_frame))
#define CRC_SKIP             4u /* the crc covers the frame after its own field */
/* A torn tail is one entry cut short: its bytes lie within the largest entry. */
#define JOURNAL_TORN_MAX (FRAME_BYTES + JOURNAL_PAYLOAD_MAX)
#define RETRY_FIRST_MS   100u  /* first wait after a failed roll */
#define RETRY_MAX_MS     1000u /* the wait doubles up to this */
/* Bytes of a segment faulted in ahead of the writer (journal_prefault): a
 * segment may be up to 1 TiB, the page cache it pins is bounded here. */
#define PREFAULT_MAX (256ull << 20)

_Static_assert(JOURNAL_SEG_HEADER % 8 == 0, "entries start 8-aligned");
_Static_assert(JOURNAL_PAYLOAD_MAX % 8 == 0, "the largest payload keeps alignment");
_Static_assert(JOURNAL_PAYLOAD_MAX <= UINT16_MAX, "len is a 16-bit field");
_Static_assert(JOURNAL_SEGMENT_MIN >=
                       JOURNAL_SEG_HEADER + sizeof(struct journal_frame) + JOURNAL_PAYLOAD_MAX,
               "an empty segment holds the largest entry, so a roll always makes progress");
_Static_assert(JOURNAL_SEGMENT_MIN <= JOURNAL_SEGMENT_DEFAULT, "default within bounds");
_Static_assert(JOURNAL_SEGMENT_DEFAULT <= JOURNAL_SEGMENT_MAX, "default within bounds");
_Static_assert(sizeof(JOURNAL_MAGIC) - 1 == sizeof(((struct journal_seg_header *)0)->magic),
               "magic fills its field, no NUL stored");

/* msync and commit failures can repeat at batch rate: log a few, count the rest. */
static struct ratelimit journal_err_rl = RATELIMIT_INIT(10, 5);

static uint64_t journal_page_bytes(void)
{
	long pg = sysconf(_SC_PAGESIZE);

	assert(pg > 0 && (pg & (pg - 1)) == 0);
	return (uint64_t)pg;
}

static void journal_seg_name(char *buf, size_t len, uint64_t first_jseq)
{
	int n = snprintf(buf, len, "%020llu.seg", (unsigned long long)first_jseq);

	assert(n == SEG_NAME_LEN && (size_t)n < len);
	(void)n;
}

bool journal_seg_name_parse(const char *name, uint64_t *first_jseq)
{
	uint64_t v = 0;
	int i;

	/* A short name stops at its NUL, which is not a digit. */
	for (i = 0; i < SEG_NAME_DIGITS; i++) {
		unsigned d = (unsigned char)name[i] - '0';

		if (d > 9 || v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	if (strcmp(name + SEG_NAME_DIGITS, ".seg") != 0 || v == 0)
		return false;
	*first_jseq = v;
	return true;
}

/* "%020llu.seg.tmp": a segment that was being created when a writer died;
 * JOURNAL_SPARE_NAME: the next one, prepared ahead, left by a dead writer. */
static bool journal_seg_tmp_name(const char *name)
{
	char seg[SEG_NAME_LEN + 1];
	uint64_t first;

	if (strcmp(name, JOURNAL_SPARE_NAME) == 0)
		return true;
	if (strlen(name) != SEG_TMP_LEN || strcmp(name + SEG_NAME_LEN, SEG_TMP_SUFFIX) != 0)
		return false;
	memcpy(seg, name, SEG_NAME_LEN);
	seg[SEG_NAME_LEN] = '\0';
	return journal_seg_name_parse(seg, &first);
}

int journal_seg_check(const struct journal_seg_header *h, uint64_t first_jseq, uint64_t file_bytes,
                      char *why, size_t whylen)
{
	if (memcmp(h->magic, JOURNAL_MAGIC, sizeof(h->magic)) != 0)
		errfmt(why, whylen, "bad magic (not a journal segment)");
	else if (h->version != JOURNAL_VERSION)
		errfmt(why, whylen, "version %u, this build reads %u", h->version, JOURNAL_VERSION);
	else if (h->header_size != JOURNAL_SEG_HEADER)
		errfmt(why, whylen, "header size %u, expected %u", h->header_size,
		       JOURNAL_SEG_HEADER);
	else if (h->first_jseq != first_jseq)
		errfmt(why, whylen, "first jseq %llu does not match the file name",
		       (unsigned long long)h->first_jseq);
	else if (h->segment_bytes < JOURNAL_SEGMENT_MIN || h->segment_bytes > JOURNAL_SEGMENT_MAX)
		errfmt(why, whylen, "segment size %llu out of range",
		       (unsigned long long)h->segment_bytes);
	else if (h->segment_bytes != file_bytes)
		errfmt(why, whylen, "segment size %llu but the file has %llu bytes",
		       (unsigned long long)h->segment_bytes, (unsigned long long)file_bytes);
	else
		return 0;
	return -1;
}

static bool journal_type_known(uint16_t type)
{
	return type >= JOURNAL_TRADE && type <= JOURNAL_GAP;
}

enum journal_frame_state journal_frame_check(const uint8_t *seg, uint64_t seg_bytes, uint64_t off,
                                             uint64_t jseq)
{
	const struct journal_frame *f;
	uint32_t crc;
	uint16_t len;

	assert(seg && off % 8 == 0 && off >= JOURNAL_SEG_HEADER);
	if (off > seg_bytes || seg_bytes - off < FRAME_BYTES)
		return JOURNAL_FRAME_END;
	f = (const struct journal_frame *)(seg + off);
	/* The writer stores the crc last (release): once it is seen, the rest is
	 * final.  len is read once, as the writer may be filling it in. */
	crc = __atomic_load_n(&f->crc, __ATOMIC_ACQUIRE);
	len = f->len;
	if (crc == 0 && len == 0 && f->type == 0 && f->jseq == 0)
		return JOURNAL_FRAME_END;
	if (len % 8 != 0 || len > JOURNAL_PAYLOAD_MAX || seg_bytes - off - FRAME_BYTES < len)
		return JOURNAL_FRAME_TORN;
	if (crc32c(0, seg + off + CRC_SKIP, FRAME_BYTES - CRC_SKIP + len) != crc)
		return JOURNAL_FRAME_TORN;
	if (f->jseq != jseq || !journal_type_known(f->type))
		return JOURNAL_FRAME_CORRUPT;
	return JOURNAL_FRAME_VALID;
}

int journal_sync_parse(const char *s, enum journal_sync *mode, uint32_t *interval_ms)
{
	static const char prefix[] = "interval:";
	const char *p;
	uint32_t v = 0;
	int i;

	assert(s && mode && interval_ms);
	if (strcmp(s, "none") == 0 || strcmp(s, "always") == 0) {
		*mode = s[0] == 'n' ? JOURNAL_SYNC_NONE : JOURNAL_SYNC_ALWAYS;
		*interval_ms = 0;
		return 0;
	}
	if (strncmp(s, prefix, sizeof(prefix) - 1) != 0)
		return -1;
	p = s + sizeof(prefix) - 1;
	/* Digits only (no sign, no blanks), stopping as soon as the value is
	 * over the bound so it can never overflow. */
	for (i = 0; p[i] != '\0'; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (uint32_t)(p[i] - '0');
		if (v > SYNC_INTERVAL_MS_MAX)
			return -1;
	}
	if (i == 0 || v == 0)
		return -1;
	*mode = JOURNAL_SYNC_INTERVAL;
	*interval_ms = v;
	return 0;
}

/* msync(MS_SYNC) of [synced_off, off), from the page synced_off is in. */
static int journal_sync_written(struct journal *j)
{
	uint64_t start;

	if (!j->map || j->off <= j->synced_off)
		return 0;
	assert(j->off <= j->map_size);
	start = j->synced_off & ~(journal_page_bytes() - 1);
	if (msync(j->map + start, j->off - start, MS_SYNC) != 0) {
		uint64_t suppressed = 0;
		int e = errno;

		j->sync_failures++;
		if (ratelimit_allow(&journal_err_rl, timefmt_mono_ns(), &suppressed))
			log_error("journal %s/%020llu.seg: msync: %s (%llu similar suppressed)",
			          j->dir, (unsigned long long)j->first_jseq, strerror(e),
			          (unsigned long long)suppressed);
		errno = e;
		return -1;
	}
	j->synced_off = j->off;
	j->syncs++;
	TRADES_PROBE_SYNCED(j->off);
	return 0;
}

static void journal_seg_unmap(struct journal *j)
{
	if (j->map)
		munmap(j->map, j->map_size);
	if (j->fd >= 0)
		close(j->fd);
	j->map = NULL;
	j->fd = -1;
	j->map_size = 0;
}

/* Writes and syncs the header of a fresh mapping. */
static int journal_seg_init(uint8_t *map, uint64_t first_jseq, uint64_t size)
{
	struct journal_seg_header h;

	memset(&h, 0, sizeof(h));
	memcpy(h.magic, JOURNAL_MAGIC, sizeof(h.magic));
	h.version = JOURNAL_VERSION;
	h.header_size = JOURNAL_SEG_HEADER;
	h.first_jseq = first_jseq;
	h.segment_bytes = size;
	h.created_ns = (uint64_t)timefmt_now_ns();
	memcpy(map, &h, sizeof(h));
	return msync(map, sizeof(h), MS_SYNC);
}

/* Faults in the pages of a segment mapping from off on (at most PREFAULT_MAX
 * bytes), for writing: appends there then take no page fault.  A first
 * store into a page of a shared file mapping costs a fault, the file
 * system's block mapping and the zeroing of a new page-cache folio; on a
 * virtual machine whose memory the host backs lazily, also a host fault:
 * measured, about one such fault in a thousand held the writer for 10-20
 * ms.  Best effort: where MADV_POPULATE_WRITE (Linux 5.14) fails the pages
 * fault in on first touch, as before. */
static void journal_prefault(uint8_t *map, uint64_t size, uint64_t off)
{
	uint64_t start = off & ~(journal_page_bytes() - 1);
	uint64_t end = size - start > PREFAULT_MAX ? start + PREFAULT_MAX : size;

	if (start < end)
		(void)madvise(map + start, end - start, MADV_POPULATE_WRITE);
}

/* Sizes, allocates and maps a new segment file; NULL with errno and the
 * failing step in *step. */
static uint8_t *journal_seg_alloc(int fd, uint64_t size, const char **step)
{
	void *map;

	*step = "ftruncate";
	if (ftruncate(fd, (off_t)size) != 0)
		return NULL;
	/* Reserve the blocks now: a full disk then fails here, cleanly, and not
	 * as a SIGBUS on a store into a hole of the mapping mid-append. */
	*step = "fallocate";
	if (fallocate(fd, 0, 0, (off_t)size) != 0 && errno != EOPNOTSUPP)
		return NULL;
	*step = "mmap";
	map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	return map == MAP_FAILED ? NULL : map;
}

/* Sizes and maps the .tmp file with a synced header; NULL with errno and
 * the failing step in *step. */
static uint8_t *journal_seg_build(int fd, uint64_t first_jseq, uint64_t size, const char **step)
{
	uint8_t *map = journal_seg_alloc(fd, size, step);

	if (!map)
		return NULL;
	*step = "msync header";
	if (journal_seg_init(map, first_jseq, size) != 0) {
		int e = errno;

		munmap(map, size);
		errno = e;
		return NULL;
	}
	return map;
}

/* Renames a built segment whose header is synced from `from` to its name,
 * syncs the directory and makes it the current segment; -1 with errno and
 * the failing step in *step. */
static int journal_seg_install(struct journal *j, int fd, uint8_t *map, const char *from,
                               uint64_t first_jseq, const char **step)
{
	char name[SEG_NAME_LEN + 1];

	journal_seg_name(name, sizeof(name), first_jseq);
	*step = "rename";
	if (renameat(j->dirfd, from, j->dirfd, name) != 0)
		return -1;
	/* With sync none nothing is synced for power loss, so a roll's rename
	 * need not be either (0.1-2.8 ms on the writer here): the segment is
	 * whole in the page cache, its header synced, and after a power loss
	 * either name is a valid journal.  The directory is synced at close. */
	if (j->cfg.sync == JOURNAL_SYNC_NONE && j->segments > 0) {
		j->dir_unsynced = true;
	} else {
		*step = "fsync directory";
		if (fsync(j->dirfd) != 0)
			return -1;
		j->dir_syncs++;
	}
	j->fd = fd;
	j->map = map;
	j->map_size = j->cfg.segment_bytes;
	j->off = JOURNAL_SEG_HEADER;
	j->synced_off = JOURNAL_SEG_HEADER; /* the header was synced */
	j->first_jseq = first_jseq;
	j->segments++;
	return 0;
}

/* ---- the spare segment, prepared by a thread of its own ----
 *
 * A roll used to build its segment on the writer's thread (file, fallocate,
 * mmap), and every first store into each page of it then faulted.  Now a
 * thread builds the next segment while the writer fills the current one:
 * JOURNAL_SPARE_NAME, sized, allocated, mapped and faulted in (no header).
 * A roll that finds it ready writes and syncs its header, renames it into
 * place and syncs the directory: the same steps and crash guarantees as a
 * segment built in place (a stale spare is a .tmp the next open removes).
 * A roll that finds none (still being built, or its build failed) builds
 * its segment itself, as before.  The thread creates the spare's name only
 * while the writer holds no spare (want is cleared when the writer takes
 * one, and set again only after the rename), and touches its fd and map
 * only until it hands them over under spare.mu. */

static void journal_spare_close(int fd, uint8_t *map, uint64_t size)
{
	if (map)
		munmap(map, size);
	if (fd >= 0)
		close(fd);
}

/* Builds a spare: 0, or -1 with errno (nothing left open). */
static int journal_spare_build(struct journal *j, int *fdp, uint8_t **mapp)
{
	const char *step;
	uint8_t *map = NULL;
	int fd, e;

	/* O_EXCL: a spare name that exists here is a broken hand-over, refused
	 * (counted, and the roll builds its own) rather than replaced */
	fd = openat(j->dirfd, JOURNAL_SPARE_NAME,
	            O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	if (fchmod(fd, 0600) != 0 || !(map = journal_seg_alloc(fd, j->cfg.segment_bytes, &step))) {
		e = errno;
		close(fd);
		unlinkat(j->dirfd, JOURNAL_SPARE_NAME, 0);
		errno = e;
		return -1;
	}
	journal_prefault(map, j->cfg.segment_bytes, 0);
	*fdp = fd;
	*mapp = map;
	return 0;
}

/* Before each job: keeps this thread off the CPUs the writer is pinned to
 * (serve --busy-poll on an isolated core, the bench's pinned receiver).  A
 * build zeroes a whole segment, about 200 ms of CPU for 64 MiB, and the
 * thread inherited the writer's mask: on the writer's CPU it would share
 * the poller's time slices.  A writer allowed everywhere this thread may
 * run (the usual case), or everywhere but nowhere else, leaves it where it
 * started. */
static void journal_spare_place(int writer_tid, const cpu_set_t *base)
{
	cpu_set_t w, mine;

	if (sched_getaffinity(writer_tid, sizeof(w), &w) != 0)
		return; /* the writer is gone or hidden: nothing to keep off */
	CPU_AND(&w, &w, base);
	CPU_XOR(&mine, base, &w); /* base without the writer's CPUs */
	if (CPU_COUNT(&mine) == 0)
		mine = *base;
	(void)sched_setaffinity(0, sizeof(mine), &mine);
}

/* Unmaps and closes the segment a roll handed over (called with mu held,
 * which it drops meanwhile).  The munmap of a written 64 MiB mapping took
 * 3-4 ms: on the writer's thread that was half of a roll's stall. */
static void journal_spare_retire(struct journal_spare *sp)
{
	int fd = sp->old_fd;
	uint8_t *map = sp->old_map;
	uint64_t size = sp->old_size;

	sp->old_fd = -1;
	sp->old_map = NULL;
	pthread_mutex_unlock(&sp->mu);
	journal_spare_close(fd, map, size);
	pthread_mutex_lock(&sp->mu);
}

/* The spare thread: unmaps the segments rolls left, and builds a spare
 * whenever the writer wants one and none is ready; ends when quit is set
 * (journal_close), after the last hand-over. */
static void *journal_spare_main(void *arg)
{
	struct journal *j = arg;
	struct journal_spare *sp = &j->spare;
	cpu_set_t base;
	bool placed = sched_getaffinity(0, sizeof(base), &base) == 0;

	pthread_mutex_lock(&sp->mu);
	for (;;) { /* a service thread: unbounded by design, ends at quit */
		uint8_t *map = NULL;
		int fd = -1, rc, e;

		while (!sp->quit && sp->old_fd < 0 && !(sp->want && sp->fd < 0))
			pthread_cond_wait(&sp->cv, &sp->mu);
		if (sp->quit && sp->old_fd < 0)
			break;
		pthread_mutex_unlock(&sp->mu);
		if (placed) /* where the writer is now: it may have been pinned since */
			journal_spare_place(sp->writer_tid, &base);
		pthread_mutex_lock(&sp->mu);
		if (sp->old_fd >= 0) {
			journal_spare_retire(sp);
			continue;
		}
		if (sp->quit || !sp->want || sp->fd >= 0)
			continue;
		pthread_mutex_unlock(&sp->mu);
		rc = journal_spare_build(j, &fd, &map);
		e = errno;
		pthread_mutex_lock(&sp->mu);
		sp->want = false;
		if (rc == 0) {
			sp->fd = fd;
			sp->map = map;
		} else {
			sp->err = e;
			sp->failures++;
		}
	}
	pthread_mutex_unlock(&sp->mu);
	return NULL;
}

/* Starts the spare thread with every signal blocked (they stay the main
 * thread's) and asks for the first spare.  Without a thread (a failed
 * pthread_create, logged) each roll builds its own segment. */
static void journal_spare_start(struct journal *j)
{
	struct journal_spare *sp = &j->spare;
	sigset_t all, old;
	int rc;

	sp->fd = -1;
	sp->old_fd = -1;
	sp->want = true;
	sp->writer_tid = (int)gettid();
	pthread_mutex_init(&sp->mu, NULL);
	pthread_cond_init(&sp->cv, NULL);
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = pthread_create(&sp->thread, NULL, journal_spare_main, j);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	sp->running = rc == 0;
	if (rc != 0)
		log_warn("journal %s: pthread_create (the spare segment thread): %s; each roll "
		         "builds its own segment",
		         j->dir, strerror(rc));
}

/* Stops the thread and removes an unused spare. */
static void journal_spare_stop(struct journal *j)
{
	struct journal_spare *sp = &j->spare;

	if (!sp->running)
		return;
	pthread_mutex_lock(&sp->mu);
	sp->quit = true;
	pthread_cond_signal(&sp->cv);
	pthread_mutex_unlock(&sp->mu);
	pthread_join(sp->thread, NULL);
	sp->running = false;
	if (sp->fd >= 0) {
		journal_spare_close(sp->fd, sp->map, j->cfg.segment_bytes);
		unlinkat(j->dirfd, JOURNAL_SPARE_NAME, 0);
		sp->fd = -1;
		sp->map = NULL;
	}
	pthread_cond_destroy(&sp->cv);
	pthread_mutex_destroy(&sp->mu);
}

/* Takes the ready spare (fd, map), or returns false: none is ready.  A
 * failed build is logged here, on the writer's thread. */
static bool journal_spare_take(struct journal *j, int *fd, uint8_t **map)
{
	struct journal_spare *sp = &j->spare;
	uint64_t suppressed = 0;
	int e;

	if (!sp->running)
		return false;
	pthread_mutex_lock(&sp->mu);
	*fd = sp->fd;
	*map = sp->map;
	sp->fd = -1;
	sp->map = NULL;
	e = sp->err;
	sp->err = 0;
	/* no new build until journal_spare_ask, after the rename: the thread
	 * creates the spare's name and must not while this one still has it */
	sp->want = false;
	if (*fd >= 0)
		sp->hits++;
	else
		sp->misses++;
	pthread_mutex_unlock(&sp->mu);
	if (e && ratelimit_allow(&journal_err_rl, timefmt_mono_ns(), &suppressed))
		log_warn("journal %s/%s: preparing the next segment: %s; this roll builds its own "
		         "(%llu similar suppressed)",
		         j->dir, JOURNAL_SPARE_NAME, strerror(e), (unsigned long long)suppressed);
	return *fd >= 0;
}

void journal_spare_counts(struct journal *j, struct journal_spare_counts *out)
{
	struct journal_spare *sp = &j->spare;

	*out = (struct journal_spare_counts){0};
	if (!sp->running)
		return;
	pthread_mutex_lock(&sp->mu);
	out->hits = sp->hits;
	out->misses = sp->misses;
	out->failures = sp->failures;
	pthread_mutex_unlock(&sp->mu);
}

/* A roll's old segment: to the thread, or unmapped here when there is no
 * thread or it has not finished with the previous one yet. */
static void journal_seg_retire(struct journal *j)
{
	struct journal_spare *sp = &j->spare;
	bool handed = false;

	if (sp->running && j->map) {
		pthread_mutex_lock(&sp->mu);
		if (sp->old_fd < 0 && j->fd >= 0) {
			sp->old_fd = j->fd;
			sp->old_map = j->map;
			sp->old_size = j->map_size;
			handed = true;
			pthread_cond_signal(&sp->cv);
		}
		pthread_mutex_unlock(&sp->mu);
	}
	if (!handed) {
		journal_seg_unmap(j);
		return;
	}
	j->map = NULL;
	j->fd = -1;
	j->map_size = 0;
}

/* After a roll: the thread builds the next spare. */
static void journal_spare_ask(struct journal *j)
{
	struct journal_spare *sp = &j->spare;

	if (!sp->running)
		return;
	pthread_mutex_lock(&sp->mu);
	sp->want = true;
	pthread_cond_signal(&sp->cv);
	pthread_mutex_unlock(&sp->mu);
}

/* Makes the ready spare segment first_jseq: header, rename, directory
 * fsync.  1 when there is no ready spare, 0 done, -1 failed (err set, the
 * spare removed). */
static int journal_seg_from_spare(struct journal *j, uint64_t first_jseq, char *err, size_t errlen)
{
	char name[SEG_NAME_LEN + 1];
	uint64_t size = j->cfg.segment_bytes;
	const char *step = "msync header";
	uint8_t *map;
	int fd, e;

	if (!journal_spare_take(j, &fd, &map))
		return 1;
	journal_seg_name(name, sizeof(name), first_jseq);
	if (journal_seg_init(map, first_jseq, size) == 0 &&
	    journal_seg_install(j, fd, map, JOURNAL_SPARE_NAME, first_jseq, &step) == 0)
		return 0;
	e = errno;
	errfmt(err, errlen, "journal %s/%s (to be %s): %s: %s", j->dir, JOURNAL_SPARE_NAME, name,
	       step, strerror(e));
	journal_spare_close(fd, map, size);
	unlinkat(j->dirfd, JOURNAL_SPARE_NAME, 0);
	errno = e;
	return -1;
}

/* Creates segment first_jseq under a .tmp name, fully sized and with a synced
 * header, then renames it into place and syncs the directory, so a crash at
 * any point leaves either no segment or a valid empty one (and maybe a stale
 * .tmp that the next open removes).  Maps it as the current segment. */
static int journal_seg_create(struct journal *j, uint64_t first_jseq, char *err, size_t errlen)
{
	char name[SEG_NAME_LEN + 1], tmp[SEG_TMP_LEN + 1];
	uint64_t size = j->cfg.segment_bytes;
	const char *step = "unlink stale";
	uint8_t *map = NULL;
	int fd = -1, e;

	assert(!j->map && j->fd < 0 && first_jseq >= 1);
	journal_seg_name(name, sizeof(name), first_jseq);
	snprintf(tmp, sizeof(tmp), "%s%s", name, SEG_TMP_SUFFIX);
	if (unlinkat(j->dirfd, tmp, 0) != 0 && errno != ENOENT)
		goto fail;
	step = "create";
	fd = openat(j->dirfd, tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		goto fail;
	step = "fchmod"; /* 0600 whatever the umask */
	if (fchmod(fd, 0600) != 0)
		goto fail;
	map = journal_seg_build(fd, first_jseq, size, &step);
	if (map && journal_seg_install(j, fd, map, tmp, first_jseq, &step) == 0)
		return 0;
fail:
	e = errno;
	errfmt(err, errlen, "journal %s/%s: %s: %s", j->dir, tmp, step, strerror(e));
	if (map)
		munmap(map, size);
	if (fd >= 0) {
		close(fd);
		unlinkat(j->dirfd, tmp, 0);
	}
	errno = e;
	return -1;
}

/* mkdir path 0700, chmod'ed whatever the umask; an existing one is kept. */
static int journal_mkdir(const char *path, char *err, size_t errlen)
{
	if (mkdir(path, 0700) == 0 && chmod(path, 0700) == 0)
		return 0;
	if (errno == EEXIST)
		return 0;
	errfmt(err, errlen, "journal %s: mkdir: %s", path, strerror(errno));
	return -1;
}

/* The writers' exclusion: flock(LOCK_EX) on STATE_DIR/journal.lock (0600,
 * never opened by readers), not on the journal directory, which any user
 * who can list it could flock(LOCK_SH) to keep the writer from starting.
 * Two writers appending to one journal would interleave jseqs. */
static int journal_lock(struct journal *j, char *err, size_t errlen)
{
	char path[sizeof(j->dir)], pidbuf[24];
	struct stat st;
	int n;

	n = snprintf(path, sizeof(path), "%s/%s", j->cfg.dir, JOURNAL_LOCK_NAME);
	if (n < 0 || (size_t)n >= sizeof(path))
		return errfmt(err, errlen, "journal %s: path too long", j->cfg.dir);
	j->lockfd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (j->lockfd < 0)
		return errfmt(err, errlen, "journal %s: open: %s", path, strerror(errno));
	if (fstat(j->lockfd, &st) != 0 || fchmod(j->lockfd, 0600) != 0)
		return errfmt(err, errlen, "journal %s: fstat/fchmod: %s", path, strerror(errno));
	j->refused = !owner_trusted(st.st_uid, j->cfg.dir);
	if (j->refused)
		return errfmt(err, errlen, "journal %s: refused: owned by uid %u, not this user",
		              path, (unsigned)st.st_uid);
	if (flock(j->lockfd, LOCK_EX | LOCK_NB) != 0) {
		char pid[24] = {0};

		j->refused = errno == EWOULDBLOCK;
		if (!j->refused)
			return errfmt(err, errlen, "journal %s: lock: %s", path, strerror(errno));
		if (pread(j->lockfd, pid, sizeof(pid) - 1, 0) <= 0)
			pid[0] = '?';
		pid[strcspn(pid, "\n")] = 0;
		return errfmt(err, errlen,
		              "journal %s: locked by pid %s (another writer is running); refusing "
		              "to open it",
		              path, pid);
	}
	/* the holder's pid, for the message a second writer gets */
	n = snprintf(pidbuf, sizeof(pidbuf), "%d\n", (int)getpid());
	if (ftruncate(j->lockfd, 0) != 0 || pwrite(j->lockfd, pidbuf, (size_t)n, 0) != n)
		return errfmt(err, errlen, "journal %s: write pid: %s", path, strerror(errno));
	return 0;
}

/* Creates STATE_DIR and STATE_DIR/journal as needed (0700), takes the lock,
 * opens the journal directory. */
static int journal_dir_open(struct journal *j, char *err, size_t errlen)
{
	int n;

	if (journal_mkdir(j->cfg.dir, err, errlen) != 0 || journal_lock(j, err, errlen) != 0)
		return -1;
	n = snprintf(j->dir, sizeof(j->dir), "%s/%s", j->cfg.dir, JOURNAL_DIR_NAME);
	if (n < 0 || (size_t)n >= sizeof(j->dir)) {
		errfmt(err, errlen, "journal %s: path too long", j->cfg.dir);
		return -1;
	}
	if (journal_mkdir(j->dir, err, errlen) != 0)
		return -1;
	j->dirfd = open(j->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (j->dirfd < 0) {
		errfmt(err, errlen, "journal %s: open: %s", j->dir, strerror(errno));
		return -1;
	}
	return 0;
}

/* Reads and checks the header of one segment file, without mapping it. */
static int journal_seg_check_file(struct journal *j, const char *name, uint64_t first_jseq,
                                  char *err, size_t errlen)
{
	struct journal_seg_header h;
	char why[128];
	struct stat st;
	ssize_t got;
	int fd;

	fd = openat(j->dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		j->refused = errno == ELOOP;
		errfmt(err, errlen, "journal %s/%s: %s: %s", j->dir, name,
		       errno == ELOOP ? "refused: is a symbolic link" : "open", strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0) {
		errfmt(err, errlen, "journal %s/%s: fstat: %s", j->dir, name, strerror(errno));
		close(fd);
		return -1;
	}
	if (!owner_trusted(st.st_uid, j->dir) || !S_ISREG(st.st_mode)) {
		j->refused = true;
		errfmt(err, errlen,
		       "journal %s/%s: refused: owned by uid %u (this user is %u) or not a "
		       "regular file",
		       j->dir, name, (unsigned)st.st_uid, (unsigned)geteuid());
		close(fd);
		return -1;
	}
	got = pread(fd, &h, sizeof(h), 0);
	close(fd);
	if (got != (ssize_t)sizeof(h)) {
		j->refused = got >= 0;
		errfmt(err, errlen, "journal %s/%s: bad header: %s", j->dir, name,
		       got < 0 ? strerror(errno) : "file shorter than a header");
		return -1;
	}
	if (journal_seg_check(&h, first_jseq, (uint64_t)st.st_size, why, sizeof(why)) != 0) {
		j->refused = true;
		errfmt(err, errlen, "journal %s/%s: bad header: %s", j->dir, name, why);
		return -1;
	}
	return 0;
}

/* Handles one directory entry of the scan: checks a segment (and keeps the
 * highest first jseq in *last), removes a stale .tmp, ignores anything else. */
static int journal_scan_entry(struct journal *j, const char *name, uint64_t *last, char *err,
                              size_t errlen)
{
	uint64_t first;

	if (journal_seg_tmp_name(name)) {
		if (unlinkat(j->dirfd, name, 0) != 0 && errno != ENOENT) {
			errfmt(err, errlen, "journal %s/%s: unlink stale: %s", j->dir, name,
			       strerror(errno));
			return -1;
		}
		log_info("journal %s/%s: removed a segment left half-created", j->dir, name);
		return 0;
	}
	if (!journal_seg_name_parse(name, &first))
		return 0;
	if (j->segments >= JOURNAL_SEGMENTS_MAX) {
		errfmt(err, errlen, "journal %s: more than %u segments", j->dir,
		       JOURNAL_SEGMENTS_MAX);
		return -1;
	}
	if (journal_seg_check_file(j, name, first, err, errlen) != 0)
		return -1;
	j->segments++;
	if (first > *last)
		*last = first;
	return 0;
}

int journal_dir_each(DIR *d, const char *dir, journal_dir_fn fn, void *ctx, char *err,
                     size_t errlen)
{
	struct dirent *de;
	uint64_t n;
	int rc;

	for (n = 0; n < JOURNAL_DIR_ENTRIES_MAX; n++) {
		errno = 0;
		de = readdir(d);
		if (!de) {
			if (errno == 0)
				return 0;
			errfmt(err, errlen, "journal %s: readdir: %s", dir, strerror(errno));
			return -1;
		}
		rc = fn(ctx, de->d_name, err, errlen);
		if (rc != 0)
			return rc;
	}
	errfmt(err, errlen, "journal %s: more than %llu directory entries", dir,
	       (unsigned long long)JOURNAL_DIR_ENTRIES_MAX);
	return -1;
}

struct journal_scan_ctx {
	struct journal *j;
	uint64_t last;
};

static int journal_scan_fn(void *ctx, const char *name, char *err, size_t errlen)
{
	struct journal_scan_ctx *sc = ctx;

	return journal_scan_entry(sc->j, name, &sc->last, err, errlen);
}

/* Lists the directory; *last = highest first jseq of a segment, 0 if none.
 * Names are unique and each header's first jseq must equal its name, so
 * first jseqs strictly increase in name order without a separate check. */
static int journal_scan(struct journal *j, uint64_t *last, char *err, size_t errlen)
{
	struct journal_scan_ctx sc = {.j = j, .last = 0};
	int fd, rc;
	DIR *d;

	*last = 0;
	fd = dup(j->dirfd);
	d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		errfmt(err, errlen, "journal %s: opendir: %s", j->dir, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	rewinddir(d);
	rc = journal_dir_each(d, j->dir, journal_scan_fn, &sc, err, errlen);
	closedir(d);
	*last = sc.last;
	return rc;
}

/* Offset just past the last non-zero byte in [from, end), or from if none. */
static uint64_t journal_last_nonzero_end(const uint8_t *map, uint64_t from, uint64_t end)
{
	uint64_t w;

	/* Bytes up to an 8-aligned end, then words, then the last word's bytes;
	 * each loop is bounded by end - from. */
	while (end > from && end % 8 != 0 && map[end - 1] == 0)
		end--;
	if (end > from && end % 8 != 0)
		return end;
	while (end - from >= 8) {
		memcpy(&w, map + end - 8, 8);
		if (w != 0)
			break;
		end -= 8;
	}
	while (end > from && map[end - 1] == 0)
		end--;
	return end;
}

/* Zeroes the torn tail [j->off, end) and makes that durable, so the bytes
 * can never be mistaken for data again. */
static int journal_drop_tail(struct journal *j, uint64_t end, char *err, size_t errlen)
{
	uint64_t start = j->off & ~(journal_page_bytes() - 1);

	assert(end > j->off && end - j->off <= JOURNAL_TORN_MAX);
	memset(j->map + j->off, 0, end - j->off);
	if (msync(j->map + start, end - start, MS_SYNC) != 0) {
		errfmt(err, errlen, "journal %s/%020llu.seg: msync: %s", j->dir,
		       (unsigned long long)j->first_jseq, strerror(errno));
		return -1;
	}
	j->torn_bytes = end - j->off;
	log_warn("journal %s/%020llu.seg: torn tail at offset %llu: dropped %llu bytes (entries "
	         "from jseq %llu on)",
	         j->dir, (unsigned long long)j->first_jseq, (unsigned long long)j->off,
	         (unsigned long long)j->torn_bytes, (unsigned long long)j->next_jseq);
	return 0;
}

uint64_t journal_frame_find(const uint8_t *seg, uint64_t seg_bytes, uint64_t from, uint64_t end,
                            uint64_t *jseq)
{
	uint64_t o;

	assert(seg && from % 8 == 0 && from >= JOURNAL_SEG_HEADER);
	for (o = from + 8; o < end && o < seg_bytes && seg_bytes - o >= FRAME_BYTES; o += 8) {
		const struct journal_frame *f = (const void *)(seg + o);

		if (f->jseq == 0 || f->crc == 0 || !journal_type_known(f->type))
			continue;
		if (journal_frame_check(seg, seg_bytes, o, f->jseq) == JOURNAL_FRAME_VALID) {
			*jseq = f->jseq;
			return o;
		}
	}
	return 0;
}

/* What follows the last valid entry of the last segment, at j->off (state
 * st), decides: nothing -> the end; bytes of at most one entry with no valid
 * entry among or after them -> a torn tail, dropped; anything else is damage
 * in the middle and the open is refused with nothing written. */
static int journal_tail_check(struct journal *j, enum journal_frame_state st, char *err,
                              size_t errlen)
{
	uint64_t end = journal_last_nonzero_end(j->map, j->off, j->map_size);
	uint64_t at, at_jseq = 0;
	char why[160];

	if (end == j->off)
		return 0;
	at = journal_frame_find(j->map, j->map_size, j->off, j->map_size, &at_jseq);
	if (st == JOURNAL_FRAME_CORRUPT)
		snprintf(why, sizeof(why), "good crc but wrong jseq or type");
	else if (at)
		snprintf(why, sizeof(why), "a valid entry (jseq %llu) follows at offset %llu",
		         (unsigned long long)at_jseq, (unsigned long long)at);
	else if (end - j->off > JOURNAL_TORN_MAX)
		snprintf(why, sizeof(why), "%llu damaged bytes, more than one entry can hold",
		         (unsigned long long)(end - j->off));
	else
		return journal_drop_tail(j, end, err, errlen);
	j->refused = true;
	errfmt(err, errlen,
	       "journal %s/%020llu.seg: corrupt at offset %llu (jseq %llu): %s; not a torn "
	       "tail, refused with nothing changed (inspect it with trades tail)",
	       j->dir, (unsigned long long)j->first_jseq, (unsigned long long)j->off,
	       (unsigned long long)j->next_jseq, why);
	return -1;
}

/* Walks the frames of the mapped last segment to its end and checks what
 * follows them (journal_tail_check); sets off and next_jseq. */
static int journal_recover(struct journal *j, char *err, size_t errlen)
{
	enum journal_frame_state st = JOURNAL_FRAME_END;
	uint64_t n, max = j->map_size / FRAME_BYTES;

	j->off = JOURNAL_SEG_HEADER;
	j->next_jseq = j->first_jseq;
	for (n = 0; n < max; n++) {
		const struct journal_frame *f = (const void *)(j->map + j->off);

		st = journal_frame_check(j->map, j->map_size, j->off, j->next_jseq);
		if (st != JOURNAL_FRAME_VALID)
			break;
		j->off += FRAME_BYTES + f->len;
		j->next_jseq++;
	}
	assert(st != JOURNAL_FRAME_VALID);
	/* Data left by a killed writer may still be only in the page cache:
	 * the first sync covers the whole segment. */
	j->synced_off = 0;
	return journal_tail_check(j, st, err, errlen);
}

/* Maps the existing segment first_jseq read-write as the current one. */
static int journal_seg_open_last(struct journal *j, uint64_t first_jseq, char *err, size_t errlen)
{
	char name[SEG_NAME_LEN + 1];
	struct stat st;
	void *map;

	journal_seg_name(name, sizeof(name), first_jseq);
	j->fd = openat(j->dirfd, name, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	if (j->fd < 0 || fstat(j->fd, &st) != 0) {
		errfmt(err, errlen, "journal %s/%s: open: %s", j->dir, name, strerror(errno));
		return -1;
	}
	/* The header was checked by the scan, st_size == segment_bytes. */
	map = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, j->fd, 0);
	if (map == MAP_FAILED) {
		errfmt(err, errlen, "journal %s/%s: mmap: %s", j->dir, name, strerror(errno));
		return -1;
	}
	j->map = map;
	j->map_size = (uint64_t)st.st_size;
	j->first_jseq = first_jseq;
	assert(((const struct journal_seg_header *)map)->first_jseq == first_jseq);
	return journal_recover(j, err, errlen);
}

static int journal_config_check(const struct journal_config *cfg, char *err, size_t errlen)
{
	uint64_t pg = journal_page_bytes();

	if (cfg->segment_bytes < JOURNAL_SEGMENT_MIN || cfg->segment_bytes > JOURNAL_SEGMENT_MAX ||
	    cfg->segment_bytes % pg != 0) {
		errfmt(err, errlen,
		       "journal %s: segment size %llu: not a multiple of %llu in [%llu, %llu]",
		       cfg->dir, (unsigned long long)cfg->segment_bytes, (unsigned long long)pg,
		       JOURNAL_SEGMENT_MIN, JOURNAL_SEGMENT_MAX);
		return -1;
	}
	if (cfg->sync > JOURNAL_SYNC_ALWAYS ||
	    (cfg->sync == JOURNAL_SYNC_INTERVAL &&
	     (cfg->sync_interval_ms == 0 || cfg->sync_interval_ms > SYNC_INTERVAL_MS_MAX))) {
		errfmt(err, errlen, "journal %s: bad sync policy %d (interval %u ms)", cfg->dir,
		       (int)cfg->sync, cfg->sync_interval_ms);
		return -1;
	}
	return 0;
}

/* segment_bytes 0 means JOURNAL_SEGMENT_DEFAULT.  The first segment is
 * created here, at init, so a directory that cannot hold one fails early. */
int journal_open(struct journal *j, const struct journal_config *cfg, char *err, size_t errlen)
{
	uint64_t last;
	int rc;

	assert(j && cfg && cfg->dir);
	memset(j, 0, sizeof(*j));
	j->dirfd = -1;
	j->lockfd = -1;
	j->fd = -1;
	j->cfg = *cfg;
	if (j->cfg.segment_bytes == 0)
		j->cfg.segment_bytes = JOURNAL_SEGMENT_DEFAULT;
	if (journal_config_check(&j->cfg, err, errlen) != 0)
		return -1;
	if (journal_dir_open(j, err, errlen) != 0 || journal_scan(j, &last, err, errlen) != 0)
		goto fail;
	if (last == 0) {
		j->next_jseq = 1;
		rc = journal_seg_create(j, 1, err, errlen);
	} else {
		rc = journal_seg_open_last(j, last, err, errlen);
	}
	if (rc != 0)
		goto fail;
	assert(j->map && j->next_jseq >= j->first_jseq && j->off >= JOURNAL_SEG_HEADER);
	j->last_sync_ns = timefmt_mono_ns();
	journal_prefault(j->map, j->map_size, j->off); /* at init: the current segment */
	journal_spare_start(j);
	return 0;
fail:
	journal_seg_unmap(j);
	if (j->dirfd >= 0)
		close(j->dirfd);
	j->dirfd = -1;
	if (j->lockfd >= 0)
		close(j->lockfd); /* drops the lock */
	j->lockfd = -1;
	return -1;
}

/* A roll failed with errno e: appends fail without a syscall until the
 * retry deadline, which backs off from RETRY_FIRST_MS to RETRY_MAX_MS. */
static void journal_roll_failed(struct journal *j, int e, const char *what)
{
	uint64_t suppressed = 0;
	int64_t now = timefmt_mono_ns();

	j->backoff_ms = j->backoff_ms ? j->backoff_ms * 2 : RETRY_FIRST_MS;
	if (j->backoff_ms > RETRY_MAX_MS)
		j->backoff_ms = RETRY_MAX_MS;
	j->failed_errno = e ? e : EIO;
	j->retry_ns = now + (int64_t)j->backoff_ms * NS_PER_MS;
	j->roll_failures++;
	if (ratelimit_allow(&journal_err_rl, now, &suppressed))
		log_error("%s; appends fail for %u ms, then the roll is retried (%llu similar "
		          "suppressed)",
		          what, j->backoff_ms, (unsigned long long)suppressed);
}

/* Moves to a new segment named next_jseq.  The old one is synced first (unless
 * the policy is none) so that after a power loss no later segment can exist
 * while entries before it are missing: when that msync fails the old segment
 * stays mapped and the roll fails, to be retried whole. */
static int journal_roll(struct journal *j)
{
	char err[4096 + 128];
	int rc;

	if (j->map) {
		if (j->cfg.sync != JOURNAL_SYNC_NONE && journal_sync_written(j) != 0) {
			int e = errno;

			snprintf(err, sizeof(err), "journal %s/%020llu.seg: msync before roll: %s",
			         j->dir, (unsigned long long)j->first_jseq, strerror(e));
			journal_roll_failed(j, e, err);
			return -1;
		}
		journal_seg_retire(j);
	}
	rc = journal_seg_from_spare(j, j->next_jseq, err, sizeof(err));
	if (rc > 0)
		rc = journal_seg_create(j, j->next_jseq, err, sizeof(err));
	journal_spare_ask(j);
	if (rc != 0) {
		journal_roll_failed(j, errno, err);
		return -1;
	}
	if (j->failed_errno)
		log_info("journal %s: segment %020llu.seg created, appending again after %llu "
		         "refused appends",
		         j->dir, (unsigned long long)j->first_jseq,
		         (unsigned long long)j->append_failed);
	j->failed_errno = 0;
	j->backoff_ms = 0;
	return 0;
}

bool journal_failed(const struct journal *j, int *err)
{
	assert(j);
	if (err)
		*err = j->failed_errno;
	return j->failed_errno != 0;
}

int journal_retry(struct journal *j)
{
	assert(j);
	if (!j->failed_errno)
		return 0;
	if (timefmt_mono_ns() < j->retry_ns)
		return -1;
	return journal_roll(j);
}

uint64_t journal_append(struct journal *j, uint16_t type, const void *payload, uint16_t len)
{
	uint64_t need = FRAME_BYTES + len, jseq;
	struct journal_frame *f;
	uint32_t crc;

	assert(j && journal_type_known(type));
	assert(len % 8 == 0 && len <= JOURNAL_PAYLOAD_MAX);
	assert(payload || len == 0);
	if (!j->map || j->map_size - j->off < need) {
		/* Failed state: the clock (vDSO) is the only cost until the deadline. */
		if ((j->failed_errno && timefmt_mono_ns() < j->retry_ns) || journal_roll(j) != 0) {
			j->append_failed++;
			return 0;
		}
	}
	assert(j->off % 8 == 0 && j->map_size - j->off >= need);
	f = (struct journal_frame *)(j->map + j->off);
	assert(f->crc == 0 && f->jseq == 0); /* appends only ever go into zeroes */
	jseq = j->next_jseq;
	assert(jseq >= 1);
	f->type = type;
	f->len = len;
	f->jseq = jseq;
	/* The payload is copied and summed in one pass from the caller's buffer
	 * (a record just built: a wide copy of it would stall, crc32c.h).  The
	 * crc goes last, with release order: a reader in another process that
	 * sees it sees a complete entry. */
	crc = crc32c(0, (const uint8_t *)f + CRC_SKIP, FRAME_BYTES - CRC_SKIP);
	crc = crc32c_copy(crc, f + 1, payload, len);
	__atomic_store_n(&f->crc, crc, __ATOMIC_RELEASE);
	j->off += need;
	j->next_jseq = jseq + 1;
	return jseq;
}

void journal_commit(struct journal *j)
{
	int64_t now;

	assert(j);
	switch (j->cfg.sync) {
	case JOURNAL_SYNC_NONE:
		return;
	case JOURNAL_SYNC_INTERVAL:
		now = timefmt_mono_ns();
		if (now - j->last_sync_ns < (int64_t)j->cfg.sync_interval_ms * NS_PER_MS)
			return;
		j->last_sync_ns = now;
		break;
	case JOURNAL_SYNC_ALWAYS:
		break;
	}
	/* A failure is logged (rate-limited); synced_off stays, so the range is
	 * retried at the next commit. */
	journal_sync_written(j);
}

int journal_sync(struct journal *j)
{
	assert(j);
	return journal_sync_written(j);
}

/* Syncs everything written whatever the policy, then unmaps and unlocks.
 * Safe on a journal whose open failed. */
void journal_close(struct journal *j)
{
	assert(j);
	journal_spare_stop(j);
	journal_sync_written(j);
	if (j->dir_unsynced && j->dirfd >= 0) {
		if (fsync(j->dirfd) == 0)
			j->dir_syncs++;
		else
			log_error("journal %s: fsync directory: %s", j->dir, strerror(errno));
		j->dir_unsynced = false;
	}
	journal_seg_unmap(j);
	if (j->dirfd >= 0)
		close(j->dirfd);
	j->dirfd = -1;
	if (j->lockfd >= 0)
		close(j->lockfd); /* drops the lock */
	j->lockfd = -1;
}
