/* state.c -- the memory-mapped state file: layout, open/validate/create,
 * writer lock, undo record, instrument seqlocks, symbol and feed tables.
 *
 * Memory ordering: the writer and the readers are different processes sharing
 * a MAP_SHARED mapping, so the C11 fences below are what orders them.  The
 * seqlock follows the usual pattern (writer: seq odd, release fence, data,
 * seq even with release; reader: seq with acquire, data, acquire fence, seq
 * again).  On x86-64 the fences only stop the compiler; on weaker CPUs they
 * become the barriers the pattern needs.  The data itself is copied with
 * plain loads and stores, as every seqlock in C does.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "src/state/dedup.h"
#include "trades/candles.h"
#include "trades/crc32c.h"
#include "trades/log.h"
#include "trades/state.h"
#include "trades/timefmt.h"

#define STATE_ALIGN      4096u /* every table starts on its own page */
#define STATE_TMP_SUFFIX ".tmp"
/* Bytes of the mapping a writer faults in at open (state_prefault): the
 * default file (65,536 slots) is 36 MB. */
#define STATE_PREFAULT_MAX (1ull << 30)
/* The undo record keeps only the part of a feed that state_apply_trade
 * writes: the name and counters, not the decoders' ext[] and malformed_by[]
 * tables, which are 70% of the struct and never change inside an apply. */
#define STATE_UNDO_FEED_BYTES offsetof(struct state_feed, ext)

/* Layout of version 2.  If one of these fails, the on-disk format changed:
 * bump STATE_VERSION. */
_Static_assert(sizeof(struct state_instrument) == 192, "instrument slot is 3 cache lines");
_Static_assert(offsetof(struct state_instrument, crc) + sizeof(uint32_t) <=
                       sizeof(struct state_instrument),
               "the crc is the slot's last field");
_Static_assert(sizeof(struct state_feed) == 832, "feed slot is 13 cache lines");
_Static_assert(offsetof(struct state_feed, store_failed) ==
                       offsetof(struct state_feed, malformed_by) + MALFORMED_MAX * 8,
               "store_failed sits in the old padding after malformed_by");
_Static_assert(sizeof(struct state_dedup) == 144, "dedup entry size");
_Static_assert(offsetof(struct state_header, layout_crc) == 72, "immutable header bytes");
_Static_assert(STATE_HEADER_SIZE % STATE_ALIGN == 0, "header is whole pages");
_Static_assert(offsetof(struct state_feed, accepted) < STATE_UNDO_FEED_BYTES &&
                       offsetof(struct state_feed, dedup_overflow) < STATE_UNDO_FEED_BYTES,
               "undo keeps every feed counter an apply touches");
_Static_assert(STATE_INST_CAP_MAX <= (1u << 30), "2 * cap rounded up fits uint32_t");
_Static_assert(STATE_INST_CAP_DEFAULT <= STATE_INST_CAP_MAX, "default within max");
_Static_assert(offsetof(struct state_undo, kind) == 18, "kind took the first pad word");

void (*state_crash_hook)(enum state_point where);

static inline void state_point(enum state_point where)
{
	if (__builtin_expect(state_crash_hook != NULL, 0))
		state_crash_hook(where);
}

struct state_layout {
	uint32_t inst_cap, index_cap, dedup_cap;
	uint64_t off_index, off_inst, off_feeds, off_dedup, off_candles, candles_size, file_size;
};

static uint64_t state_align(uint64_t v)
{
	return (v + STATE_ALIGN - 1) & ~(uint64_t)(STATE_ALIGN - 1);
}

static uint32_t state_pow2_at_least(uint32_t v)
{
	uint32_t p = 1;

	/* at most 32 doublings; v <= 2 * STATE_INST_CAP_MAX */
	while (p < v)
		p <<= 1;
	return p;
}

/* The whole layout follows from inst_cap: a file is valid only if its header
 * says exactly what this function computes. */
static void state_layout_compute(uint32_t inst_cap, struct state_layout *l)
{
	ENSURE(inst_cap > 0 && inst_cap <= STATE_INST_CAP_MAX);
	l->inst_cap = inst_cap;
	l->index_cap = state_pow2_at_least(2 * inst_cap);
	l->dedup_cap = l->index_cap;
	l->off_index = STATE_HEADER_SIZE;
	l->off_inst = state_align(l->off_index + (uint64_t)l->index_cap * sizeof(uint32_t));
	l->off_feeds =
	        state_align(l->off_inst + (uint64_t)inst_cap * sizeof(struct state_instrument));
	l->off_dedup =
	        state_align(l->off_feeds + (uint64_t)TRADE_FEED_MAX * sizeof(struct state_feed));
	l->off_candles =
	        state_align(l->off_dedup + (uint64_t)l->dedup_cap * sizeof(struct state_dedup));
	l->candles_size = state_candles_size(inst_cap);
	l->file_size = l->off_candles + l->candles_size;
	ENSURE(l->index_cap >= 2 * inst_cap && (l->index_cap & (l->index_cap - 1)) == 0);
}

static uint32_t state_layout_crc(const struct state_header *h)
{
	return crc32c(0, h, offsetof(struct state_header, layout_crc));
}

/* ---- validation: reads only, so a refused file keeps every byte ---- */

/* Compares one layout field; fills err naming it on a mismatch. */
static int state_check_field(const char *path, const char *name, uint64_t got, uint64_t want,
                             char *err, size_t errlen)
{
	if (got == want)
		return 0;
	return errfmt(err, errlen,
	              "state %s: inconsistent layout: %s is %llu, expected %llu for its "
	              "instrument capacity; refusing to touch it",
	              path, name, (unsigned long long)got, (unsigned long long)want);
}

static int state_check_layout(const char *path, const struct state_header *h, char *err,
                              size_t errlen)
{
	struct state_layout l;

	if (h->inst_cap == 0 || h->inst_cap > STATE_INST_CAP_MAX)
		return errfmt(err, errlen,
		              "state %s: instrument capacity %u out of range 1..%u; refusing "
		              "to touch it",
		              path, h->inst_cap, STATE_INST_CAP_MAX);
	state_layout_compute(h->inst_cap, &l);
	if (state_check_field(path, "index_cap", h->index_cap, l.index_cap, err, errlen) ||
	    state_check_field(path, "feed_cap", h->feed_cap, TRADE_FEED_MAX, err, errlen) ||
	    state_check_field(path, "dedup_cap", h->dedup_cap, l.dedup_cap, err, errlen) ||
	    state_check_field(path, "off_index", h->off_index, l.off_index, err, errlen) ||
	    state_check_field(path, "off_inst", h->off_inst, l.off_inst, err, errlen) ||
	    state_check_field(path, "off_feeds", h->off_feeds, l.off_feeds, err, errlen) ||
	    state_check_field(path, "off_dedup", h->off_dedup, l.off_dedup, err, errlen) ||
	    state_check_field(path, "off_candles", h->off_candles, l.off_candles, err, errlen) ||
	    state_check_field(path, "candles_size", h->candles_size, l.candles_size, err, errlen) ||
	    state_check_field(path, "file_size", h->file_size, l.file_size, err, errlen))
		return -1;
	return 0;
}

/* An armed undo record is about to be written back: check it points inside
 * the tables before trusting it. */
static int state_check_undo(const char *path, const struct state_header *h, char *err,
                            size_t errlen)
{
	const struct state_undo *u = &h->undo;
	uint64_t jseq = atomic_load_explicit(&u->jseq, memory_order_acquire);
	uint32_t count = atomic_load_explicit(&h->inst_count, memory_order_relaxed);

	if (jseq == 0)
		return 0;
	if (jseq != u->applied_jseq + 1 || u->feed_id >= TRADE_FEED_MAX ||
	    (u->kind == STATE_UNDO_TRADE &&
	     (u->inst_id >= count ||
	      (u->dedup_slot != STATE_DEDUP_NONE && u->dedup_slot >= h->dedup_cap))) ||
	    (u->kind != STATE_UNDO_TRADE && u->kind != STATE_UNDO_GAP))
		return errfmt(err, errlen,
		              "state %s: undo record is inconsistent (kind %u, jseq %llu after "
		              "%llu, instrument %u of %u, feed %u, dedup slot %u); refusing "
		              "to touch it",
		              path, u->kind, (unsigned long long)jseq,
		              (unsigned long long)u->applied_jseq, u->inst_id, count, u->feed_id,
		              u->dedup_slot);
	return 0;
}

static int state_check_header(const char *path, const struct state_header *h, uint64_t st_size,
                              bool *damaged, char *err, size_t errlen)
{
	uint32_t crc;

	if (memcmp(h->magic, STATE_MAGIC, sizeof(h->magic)) != 0)
		return errfmt(err, errlen,
		              "state %s: bad magic (not a trades state file); refusing to "
		              "touch it",
		              path);
	if (h->version != STATE_VERSION)
		return errfmt(err, errlen,
		              "state %s: version %u, this build reads version %u; refusing "
		              "to touch it",
		              path, h->version, STATE_VERSION);
	if (h->header_size != STATE_HEADER_SIZE)
		return errfmt(err, errlen,
		              "state %s: header size %u, expected %u; refusing to touch it", path,
		              h->header_size, STATE_HEADER_SIZE);
	crc = state_layout_crc(h);
	*damaged = crc != h->layout_crc; /* ours (magic, version) but damaged */
	if (*damaged)
		return errfmt(err, errlen,
		              "state %s: bad layout crc 0x%08x, the header hashes to 0x%08x "
		              "(corrupt header)",
		              path, h->layout_crc, crc);
	if (state_check_layout(path, h, err, errlen))
		return -1;
	if (h->file_size != st_size)
		return errfmt(err, errlen,
		              "state %s: header says %llu bytes but the file has %llu "
		              "(truncated or extended); refusing to touch it",
		              path, (unsigned long long)h->file_size, (unsigned long long)st_size);
	if (atomic_load_explicit(&h->inst_count, memory_order_relaxed) > h->inst_cap)
		return errfmt(err, errlen,
		              "state %s: %u instruments in use but capacity %u; refusing to "
		              "touch it",
		              path, atomic_load(&h->inst_count), h->inst_cap);
	return 0;
}

static void state_set_tables(struct state *s, uint8_t *map, size_t size)
{
	s->map = map;
	s->size = size;
	s->hdr = (struct state_header *)map;
	s->index = (uint32_t *)(map + s->hdr->off_index);
	s->inst = (struct state_instrument *)(map + s->hdr->off_inst);
	s->feeds = (struct state_feed *)(map + s->hdr->off_feeds);
	s->dedup = (struct state_dedup *)(map + s->hdr->off_dedup);
}

/* Every defined instrument slot against its crc, except the one an armed
 * undo record is about to restore (a writer killed inside the apply). */
static int state_check_slots(const struct state *s, char *err, size_t errlen)
{
	const struct state_undo *u = &s->hdr->undo;
	uint32_t n = atomic_load_explicit(&s->hdr->inst_count, memory_order_relaxed);
	bool armed = atomic_load_explicit(&u->jseq, memory_order_relaxed) != 0 &&
	             u->kind == STATE_UNDO_TRADE;

	for (uint32_t i = 0; i < n; i++) {
		const struct state_instrument *in = &s->inst[i];

		if ((armed && i == u->inst_id) || in->crc == state_inst_crc(in))
			continue;
		return errfmt(err, errlen,
		              "state %s: instrument slot %u (%.*s) fails its checksum (crc 0x%08x, "
		              "contents hash to 0x%08x)",
		              s->path, i,
		              (int)(in->symbol_len <= TRADE_SYMBOL_MAX ? in->symbol_len : 0),
		              in->symbol, in->crc, state_inst_crc(in));
	}
	return 0;
}

/* Maps s->fd and validates it; on failure nothing was written and nothing
 * stays mapped. */
static int state_map_existing(struct state *s, char *err, size_t errlen)
{
	int prot = s->readonly ? PROT_READ : PROT_READ | PROT_WRITE;
	struct stat st;
	void *map;

	if (fstat(s->fd, &st) != 0)
		return errfmt(err, errlen, "state %s: fstat: %s", s->path, strerror(errno));
	if ((uint64_t)st.st_size < STATE_HEADER_SIZE && (s->refused = true))
		return errfmt(err, errlen,
		              "state %s: file is %lld bytes, smaller than its %u-byte header "
		              "(truncated?); refusing to touch it",
		              s->path, (long long)st.st_size, STATE_HEADER_SIZE);
	map = mmap(NULL, (size_t)st.st_size, prot, MAP_SHARED, s->fd, 0);
	if (map == MAP_FAILED)
		return errfmt(err, errlen, "state %s: mmap %lld bytes: %s", s->path,
		              (long long)st.st_size, strerror(errno));
	if (state_check_header(s->path, map, (uint64_t)st.st_size, &s->damaged, err, errlen) ||
	    (!s->readonly && state_check_undo(s->path, map, err, errlen))) {
		munmap(map, (size_t)st.st_size);
		s->refused = true;
		return -1;
	}
	state_set_tables(s, map, (size_t)st.st_size);
	if (!s->readonly && state_check_slots(s, err, errlen)) {
		s->refused = s->damaged = true;
		munmap(map, (size_t)st.st_size);
		s->map = NULL;
		return -1;
	}
	if (state_candles_check(s, err, errlen)) {
		s->refused = true;
		munmap(map, (size_t)st.st_size);
		s->map = NULL;
		return -1;
	}
	return 0;
}

/* ---- file checks ---- */

/* Refuses a file owned by another user (err set, -1): a writer must not
 * trust, nor write through, a file someone else can swap or has made. */
static int state_check_owner(int fd, const char *path, bool *refused, char *err, size_t errlen)
{
	char dir[PATH_MAX];
	struct stat st;
	char *slash;

	if (fstat(fd, &st) != 0)
		return errfmt(err, errlen, "state %s: fstat: %s", path, strerror(errno));
	*refused = true;
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	if (!owner_trusted(st.st_uid, slash ? dir : "."))
		return errfmt(err, errlen,
		              "state %s: refused: owned by uid %u, not by this user (uid %u)", path,
		              (unsigned)st.st_uid, (unsigned)geteuid());
	if (!S_ISREG(st.st_mode))
		return errfmt(err, errlen, "state %s: refused: not a regular file", path);
	*refused = false;
	return 0;
}

/* ---- writer lock ---- */

/* The writer's exclusion is an open-file-description (OFD) write lock on
 * DIR/trades.lock, a 0600 file readers never open for writing.  Locking the
 * state file itself (as before) let any user who could read it take a read
 * lock and stop the service from starting.  OFD locks are not dropped when
 * the process closes another fd of the file, and they report no pid, so the
 * writer writes its pid into the lock file for the refusal message. */
static int state_lock_path(char *buf, size_t len, const char *dir)
{
	return (size_t)snprintf(buf, len, "%s/%s", dir, STATE_LOCK_NAME) >= len ? -1 : 0;
}

static pid_t state_lock_file_pid(int fd)
{
	char buf[24] = {0};

	if (pread(fd, buf, sizeof(buf) - 1, 0) <= 0)
		return 0;
	return (pid_t)strtol(buf, NULL, 10);
}

static int state_lock(struct state *s, const char *dir, char *err, size_t errlen)
{
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
	char path[sizeof(s->path)], pid[24];
	int fd, n;

	if (state_lock_path(path, sizeof(path), dir) != 0)
		return errfmt(err, errlen, "state dir %.64s...: path too long", dir);
	fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return errfmt(err, errlen, "state lock %s: open: %s", path, strerror(errno));
	if (state_check_owner(fd, path, &s->refused, err, errlen) ||
	    (fchmod(fd, 0600) != 0 &&
	     errfmt(err, errlen, "state lock %s: fchmod: %s", path, strerror(errno)))) {
		close(fd);
		return -1;
	}
	if (fcntl(fd, F_OFD_SETLK, &fl) != 0) {
		int e = errno;
		pid_t holder = state_lock_file_pid(fd);

		close(fd);
		if (e != EACCES && e != EAGAIN)
			return errfmt(err, errlen, "state lock %s: fcntl(F_OFD_SETLK): %s", path,
			              strerror(e));
		s->refused = true;
		return errfmt(err, errlen,
		              "state %s: locked by pid %d (another writer is running); refusing "
		              "to open it",
		              s->path, (int)holder);
	}
	n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n) {
		errfmt(err, errlen, "state lock %s: write pid: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	s->lock_fd = fd;
	return 0;
}

/* ---- creation ---- */

static void state_fill_header(struct state_header *h, const struct state_layout *l)
{
	memcpy(h->magic, STATE_MAGIC, sizeof(h->magic));
	h->version = STATE_VERSION;
	h->header_size = STATE_HEADER_SIZE;
	h->file_size = l->file_size;
	h->inst_cap = l->inst_cap;
	h->index_cap = l->index_cap;
	h->feed_cap = TRADE_FEED_MAX;
	h->dedup_cap = l->dedup_cap;
	h->off_index = l->off_index;
	h->off_inst = l->off_inst;
	h->off_feeds = l->off_feeds;
	h->off_dedup = l->off_dedup;
	h->layout_crc = state_layout_crc(h);
	h->off_candles = l->off_candles;
	h->candles_size = l->candles_size;
	h->created_ns = (uint64_t)timefmt_now_ns();
	atomic_store_explicit(&h->clean, 1, memory_order_relaxed);
}

static int state_fsync_dir(const char *dir, char *err, size_t errlen)
{
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = 0;

	if (dfd < 0)
		return errfmt(err, errlen, "state dir %s: open: %s", dir, strerror(errno));
	if (fsync(dfd) != 0)
		rc = errfmt(err, errlen, "state dir %s: fsync: %s", dir, strerror(errno));
	close(dfd);
	return rc;
}

/* Moves tmp to path unless path exists: two writers racing to create must
 * not replace each other's file. */
static int state_publish(const char *tmp, const char *path, char *err, size_t errlen)
{
	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) == 0)
		return 0;
	if ((errno == EINVAL || errno == ENOSYS) && link(tmp, path) == 0) {
		/* filesystem without NOREPLACE; link() refuses to replace too.
		 * A tmp left behind is removed by the next create. */
		unlink(tmp);
		return 0;
	}
	if (errno == EEXIST)
		return errfmt(err, errlen,
		              "state %s: created by another process meanwhile; refusing to "
		              "replace it",
		              path);
	return errfmt(err, errlen, "state %s: rename from %s: %s", path, tmp, strerror(errno));
}

/* Builds the file as path.tmp (locked, full size, header written and synced)
 * and renames it into place, so a crash never leaves a half-made state file
 * under the real name.  Leaves s mapped and locked. */
static int state_create(struct state *s, const char *dir, uint32_t inst_cap, char *err,
                        size_t errlen)
{
	char tmp[sizeof(s->path) + sizeof(STATE_TMP_SUFFIX)];
	struct state_layout l;
	void *map;
	int rc;

	state_layout_compute(inst_cap, &l);
	snprintf(tmp, sizeof(tmp), "%s%s", s->path, STATE_TMP_SUFFIX);
	if (unlink(tmp) != 0 && errno != ENOENT)
		return errfmt(err, errlen, "state %s: unlink stale: %s", tmp, strerror(errno));
	s->fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (s->fd < 0)
		return errfmt(err, errlen, "state %s: create: %s", tmp, strerror(errno));
	if (fchmod(s->fd, 0600) != 0) { /* whatever the umask */
		errfmt(err, errlen, "state %s: fchmod: %s", tmp, strerror(errno));
		goto fail;
	}
	/* Every block allocated now (zeroed, like ftruncate's holes), so a
	 * full disk fails here, named, instead of SIGBUS at a later first touch
	 * of a page -- in the writer or, on tmpfs, even in a reader. */
	rc = posix_fallocate(s->fd, 0, (off_t)l.file_size);
	if (rc != 0) {
		errfmt(err, errlen, "state %s: posix_fallocate %llu bytes: %s", tmp,
		       (unsigned long long)l.file_size, strerror(rc));
		goto fail;
	}
	map = mmap(NULL, l.file_size, PROT_READ | PROT_WRITE, MAP_SHARED, s->fd, 0);
	if (map == MAP_FAILED) {
		errfmt(err, errlen, "state %s: mmap %llu bytes: %s", tmp,
		       (unsigned long long)l.file_size, strerror(errno));
		goto fail;
	}
	state_fill_header(map, &l);
	state_set_tables(s, map, l.file_size);
	state_candles_init(s);
	if (msync(map, STATE_HEADER_SIZE, MS_SYNC) != 0 || fsync(s->fd) != 0) {
		errfmt(err, errlen, "state %s: sync: %s", tmp, strerror(errno));
		goto fail;
	}
	if (state_publish(tmp, s->path, err, errlen) || state_fsync_dir(dir, err, errlen))
		goto fail;
	log_info("state %s: created, %u instrument slots, %llu bytes", s->path, inst_cap,
	         (unsigned long long)l.file_size);
	return 0;
fail:
	if (s->map)
		munmap(s->map, s->size);
	s->map = NULL;
	close(s->fd);
	s->fd = -1;
	unlink(tmp);
	return -1;
}

/* ---- open ---- */

/* Writes back the copies an interrupted state_apply_trade saved.  Idempotent
 * (the record stays armed until the end), so a crash in here is harmless. */
static void state_rollback_inst(struct state_instrument *in, const struct state_instrument *saved)
{
	uint32_t seq;

	/* Restore under the seqlock, to a sequence number never used before:
	 * going back to the saved (older) one would let a reader that started
	 * before the crash accept a torn copy. */
	seq = atomic_load_explicit(&in->seqlock, memory_order_relaxed) | 1;
	atomic_store_explicit(&in->seqlock, seq, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	memcpy((uint8_t *)in + offsetof(struct state_instrument, id),
	       (const uint8_t *)saved + offsetof(struct state_instrument, id),
	       sizeof(*in) - offsetof(struct state_instrument, id));
	atomic_store_explicit(&in->seqlock, seq + 1, memory_order_release);
}

static void state_rollback(struct state *s)
{
	struct state_header *h = s->hdr;
	struct state_undo *u = &h->undo;
	uint64_t jseq = atomic_load_explicit(&u->jseq, memory_order_acquire);
	bool gap = u->kind == STATE_UNDO_GAP;

	if (jseq == 0)
		return;
	if (gap) {
		memcpy(&s->feeds[u->feed_id], &u->feed, sizeof(u->feed));
	} else {
		state_rollback_inst(&s->inst[u->inst_id], &u->inst);
		if (u->dedup_slot != STATE_DEDUP_NONE)
			memcpy(&s->dedup[u->dedup_slot], &u->dedup, sizeof(u->dedup));
		memcpy(&s->feeds[u->feed_id], &u->feed, STATE_UNDO_FEED_BYTES);
	}
	atomic_store_explicit(&h->applied_jseq, u->applied_jseq, memory_order_release);
	atomic_store_explicit(&u->jseq, 0, memory_order_release);
	h->recoveries++;
	if (gap)
		log_warn("state %s: rolled back a half-applied gap (journal seq %llu, feed %u); it "
		         "is replayed from the journal; recoveries so far %llu",
		         s->path, (unsigned long long)jseq, u->feed_id,
		         (unsigned long long)h->recoveries);
	else
		log_warn("state %s: rolled back a half-applied trade (journal seq %llu, instrument "
		         "%u, feed %u); it is replayed from the journal; recoveries so far %llu",
		         s->path, (unsigned long long)jseq, u->inst_id, u->feed_id,
		         (unsigned long long)h->recoveries);
}

/* Allocates the blocks of a file an older build made sparse (ftruncate), so
 * the first touch of a page cannot fault on a full disk.  A no-op on a file
 * already allocated; a filesystem without fallocate keeps the old way. */
static int state_allocate(struct state *s, char *err, size_t errlen)
{
	if (fallocate(s->fd, 0, 0, (off_t)s->size) == 0 || errno == EOPNOTSUPP)
		return 0;
	return errfmt(err, errlen, "state %s: fallocate %zu bytes: %s", s->path, s->size,
	              strerror(errno));
}

static int state_begin_write(struct state *s, char *err, size_t errlen)
{
	struct state_header *h = s->hdr;
	int64_t now = timefmt_now_ns();

	state_rollback(s);
	state_candles_recover(s);
	atomic_store_explicit(&h->clean, 0, memory_order_release);
	h->writer_pid = (uint32_t)getpid();
	h->opened_ns = (uint64_t)now;
	h->open_count++;
	atomic_store_explicit(&h->heartbeat_ns, now, memory_order_relaxed);
	if (msync(s->map, STATE_HEADER_SIZE, MS_SYNC) != 0)
		return errfmt(err, errlen, "state %s: msync header: %s", s->path, strerror(errno));
	return 0;
}

/* mkdir DIR 0700 (chmod'ed, whatever the umask) if missing.  An existing
 * directory keeps its mode: the operator chose it. */
int state_mkdir(const char *dir, char *err, size_t errlen)
{
	if (mkdir(dir, 0700) == 0) {
		if (chmod(dir, 0700) != 0)
			return errfmt(err, errlen, "state dir %s: chmod: %s", dir, strerror(errno));
		return 0;
	}
	if (errno != EEXIST)
		return errfmt(err, errlen, "state dir %s: mkdir: %s", dir, strerror(errno));
	return 0;
}

static int state_open_existing_fd(struct state *s, int flags, char *err, size_t errlen)
{
	s->fd = open(s->path, flags | O_NOFOLLOW | O_CLOEXEC);
	if (s->fd < 0 && errno == ELOOP && (s->refused = true))
		return errfmt(err, errlen,
		              "state %s: refused: is a symbolic link (move it away to rebuild the "
		              "state from the journal)",
		              s->path);
	return 0;
}

/* A damaged state file of ours (s->damaged, the reason in err): renamed to
 * trades.state.damaged.<ns> (kept for inspection, never erased) and created
 * anew; the pipeline then rebuilds it from the journal.  One line says so. */
static int state_set_aside(struct state *s, const char *dir, uint32_t inst_cap, char *err,
                           size_t errlen)
{
	char aside[sizeof(s->path) + 48], why[512];

	snprintf(why, sizeof(why), "%s", err);
	snprintf(aside, sizeof(aside), "%s.damaged.%lld", s->path, (long long)timefmt_now_ns());
	close(s->fd);
	s->fd = -1;
	if (rename(s->path, aside) != 0)
		return errfmt(err, errlen, "state %s: rename to %s: %s", s->path, aside,
		              strerror(errno));
	log_warn("%s; moved to %s, rebuilding it from the journal", why, aside);
	s->refused = false; /* damaged stays set: the log line is said */
	return state_create(s, dir, inst_cap, err, errlen); /* fsyncs dir: both renames */
}

/* Reads the writer's whole mapping into the page cache and its page tables
 * (at most STATE_PREFAULT_MAX bytes), so that the first trade of an
 * instrument does not fault on its slot, its dedup entry or its candle
 * ring.  A new file's pages are not in the page cache: each first touch was
 * a major fault in the writer (seen: 2 of them in 200,000 trades, under
 * the latency benchmark, with p99 at several ms).  Read, not write: a
 * write-populate would dirty the whole file, and the next msync would
 * write it all out.  Best effort: without MADV_POPULATE_READ (Linux 5.14)
 * the pages fault in on first touch, as before. */
static void state_prefault(struct state *s)
{
	size_t n = s->size < STATE_PREFAULT_MAX ? s->size : STATE_PREFAULT_MAX;

	if (madvise(s->map, n, MADV_POPULATE_READ) != 0)
		log_debug("state %s: madvise MADV_POPULATE_READ %zu bytes: %s", s->path, n,
		          strerror(errno));
}

static int state_open_write(struct state *s, const char *dir, uint32_t inst_cap, char *err,
                            size_t errlen)
{
	if (state_mkdir(dir, err, errlen) || state_lock(s, dir, err, errlen))
		return -1;
	if (state_open_existing_fd(s, O_RDWR, err, errlen))
		goto fail;
	if (s->fd < 0 && errno == ENOENT) {
		if (state_create(s, dir, inst_cap, err, errlen))
			goto fail;
	} else if (s->fd < 0) {
		errfmt(err, errlen, "state %s: open: %s", s->path, strerror(errno));
		goto fail;
	} else if (state_check_owner(s->fd, s->path, &s->refused, err, errlen) ||
	           state_map_existing(s, err, errlen)) {
		if (!s->damaged || state_set_aside(s, dir, inst_cap, err, errlen))
			goto fail;
	} else if (state_allocate(s, err, errlen)) {
		goto fail;
	}
	if (state_begin_write(s, err, errlen))
		goto fail;
	state_prefault(s);
	return 0;
fail:
	if (s->map)
		munmap(s->map, s->size);
	s->map = NULL;
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	close(s->lock_fd); /* drops the lock */
	s->lock_fd = -1;
	return -1;
}

int state_open(struct state *s, const char *dir, enum state_open_mode mode, uint32_t inst_cap,
               char *err, size_t errlen)
{
	ENSURE(s && dir && err && errlen > 0);
	ENSURE(mode == STATE_OPEN_WRITE || mode == STATE_OPEN_READ);
	memset(s, 0, sizeof(*s));
	s->fd = -1;
	s->lock_fd = -1;
	s->readonly = mode == STATE_OPEN_READ;
	if (inst_cap == 0)
		inst_cap = STATE_INST_CAP_DEFAULT;
	if (inst_cap > STATE_INST_CAP_MAX)
		return errfmt(err, errlen,
		              "state %s: instrument capacity %u exceeds the maximum %u", dir,
		              inst_cap, STATE_INST_CAP_MAX);
	if ((size_t)snprintf(s->path, sizeof(s->path), "%s/%s", dir, STATE_FILE_NAME) >=
	    sizeof(s->path))
		return errfmt(err, errlen, "state dir %.64s...: path too long", dir);
	if (!s->readonly)
		return state_open_write(s, dir, inst_cap, err, errlen);
	if (state_open_existing_fd(s, O_RDONLY, err, errlen))
		return -1;
	if (s->fd < 0)
		return errfmt(err, errlen, "state %s: open: %s", s->path, strerror(errno));
	if (state_map_existing(s, err, errlen)) {
		close(s->fd);
		s->fd = -1;
		return -1;
	}
	return 0;
}

int state_sync(struct state *s)
{
	ENSURE(s->map);
	return msync(s->map, s->size, MS_SYNC);
}

void state_close(struct state *s, bool clean)
{
	struct state_header *h = s->hdr;

	ENSURE(s->map && s->fd >= 0);
	if (!s->readonly && clean) {
		ENSURE(atomic_load(&h->undo.jseq) == 0);
		/* the data must be on disk before the flag that vouches for it */
		if (state_sync(s) == 0) {
			atomic_store_explicit(&h->clean, 1, memory_order_release);
			if (msync(s->map, STATE_HEADER_SIZE, MS_SYNC) != 0)
				log_error("state %s: msync header: %s", s->path, strerror(errno));
		} else {
			log_error("state %s: msync: %s; left marked not clean", s->path,
			          strerror(errno));
		}
	}
	munmap(s->map, s->size);
	close(s->fd);
	if (s->lock_fd >= 0)
		close(s->lock_fd); /* drops the writer lock */
	s->lock_fd = -1;
	s->map = NULL;
	s->hdr = NULL;
	s->fd = -1;
}

void state_heartbeat(struct state *s, int64_t now_ns)
{
	ENSURE(!s->readonly);
	atomic_store_explicit(&s->hdr->heartbeat_ns, now_ns, memory_order_relaxed);
}

int state_writer_pid(const struct state *s)
{
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
	char path[sizeof(s->path) + sizeof(STATE_LOCK_NAME)];
	const char *slash;
	pid_t pid = 0;
	int fd;

	ENSURE(s->fd >= 0);
	if (!s->readonly)
		return (int)getpid();
	slash = strrchr(s->path, '/');
	snprintf(path, sizeof(path), "%.*s/%s", slash ? (int)(slash - s->path) : 1,
	         slash ? s->path : ".", STATE_LOCK_NAME);
	/* Read-only and only for F_OFD_GETLK: a reader never takes a lock. */
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		/* not ours to read (0600): trust the header if that pid lives */
		pid = (pid_t)s->hdr->writer_pid;
		if (errno == ENOENT || atomic_load(&s->hdr->clean) || pid <= 0 ||
		    (kill(pid, 0) != 0 && errno != EPERM))
			return 0;
		return (int)pid;
	}
	if (fcntl(fd, F_OFD_GETLK, &fl) == 0 && fl.l_type != F_UNLCK)
		pid = state_lock_file_pid(fd);
	close(fd);
	return (int)pid;
}

/* ---- instruments ---- */

static uint32_t state_sym_hash(const char *sym, size_t len)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (size_t i = 0; i < len; i++) {
		h ^= (uint8_t)sym[i];
		h *= 16777619u;
	}
	return h;
}

/* Index entries with a value past inst_count are left by a state_define that
 * crashed before publishing: skipped by lookups, reused by the next insert
 * that meets them. */
int64_t state_lookup(const struct state *s, const char *sym, size_t len)
{
	uint32_t count = atomic_load_explicit(&s->hdr->inst_count, memory_order_acquire);
	uint32_t mask = s->hdr->index_cap - 1;
	uint32_t slot;

	if (len == 0 || len > TRADE_SYMBOL_MAX)
		return -1;
	slot = state_sym_hash(sym, len) & mask;
	for (uint32_t i = 0; i <= mask; i++, slot = (slot + 1) & mask) {
		uint32_t v = __atomic_load_n(&s->index[slot], __ATOMIC_ACQUIRE);
		const struct state_instrument *in;

		if (v == 0)
			return -1;
		if (v > count)
			continue;
		in = &s->inst[v - 1];
		if (in->symbol_len == len && memcmp(in->symbol, sym, len) == 0)
			return v - 1;
	}
	return -1;
}

/* First empty or stale index slot on sym's probe chain; UINT32_MAX if none
 * (cannot happen while index_cap >= 2 * inst_cap, but the loop is bounded). */
static uint32_t state_index_free_slot(const struct state *s, const char *sym, size_t len,
                                      uint32_t count)
{
	uint32_t mask = s->hdr->index_cap - 1;
	uint32_t slot = state_sym_hash(sym, len) & mask;

	for (uint32_t i = 0; i <= mask; i++, slot = (slot + 1) & mask) {
		uint32_t v = s->index[slot];

		if (v == 0 || v > count)
			return slot;
	}
	return UINT32_MAX;
}

int state_define(struct state *s, uint32_t id, const char *sym, size_t len)
{
	struct state_header *h = s->hdr;
	uint32_t count = atomic_load_explicit(&h->inst_count, memory_order_relaxed);
	struct state_instrument *in;
	int64_t found;
	uint32_t slot;

	ENSURE(!s->readonly && sym);
	if (len == 0 || len > TRADE_SYMBOL_MAX)
		return -1;
	found = state_lookup(s, sym, len);
	if (id < count)
		return found == (int64_t)id ? 0 : -1;
	/* the journal replays defines in order: the only new id is the next */
	if (id != count || id >= h->inst_cap || found >= 0)
		return -1;
	slot = state_index_free_slot(s, sym, len, count);
	if (slot == UINT32_MAX)
		return -1;
	in = &s->inst[id];
	memset(in, 0, sizeof(*in));
	in->id = id;
	in->symbol_len = (uint8_t)len;
	memcpy(in->symbol, sym, len);
	in->crc = state_inst_crc(in);
	__atomic_store_n(&s->index[slot], id + 1, __ATOMIC_RELEASE);
	/* published last: a reader that sees the count sees the slot */
	atomic_store_explicit(&h->inst_count, id + 1, memory_order_release);
	return 0;
}

int64_t state_next_id(const struct state *s)
{
	uint32_t count = atomic_load_explicit(&s->hdr->inst_count, memory_order_acquire);

	return count < s->hdr->inst_cap ? (int64_t)count : -1;
}

/* ---- feeds ---- */

static char state_feed_first(const struct state_feed *f)
{
	return __atomic_load_n(&f->name[0], __ATOMIC_ACQUIRE);
}

int64_t state_feed_lookup(const struct state *s, const char *name)
{
	size_t len = strnlen(name, STATE_FEED_NAME_MAX + 1);

	if (len == 0 || len > STATE_FEED_NAME_MAX)
		return -1;
	for (uint32_t i = 0; i < TRADE_FEED_MAX; i++) {
		const struct state_feed *f = &s->feeds[i];

		if (state_feed_first(f) == 0)
			return -1; /* ids are handed out in order: no more after a gap */
		if (memcmp(f->name, name, len + 1) == 0)
			return i;
	}
	return -1;
}

int64_t state_feed_next_id(const struct state *s)
{
	for (uint32_t i = 0; i < TRADE_FEED_MAX; i++) {
		if (state_feed_first(&s->feeds[i]) == 0)
			return i;
	}
	return -1;
}

int state_feed_define(struct state *s, uint16_t id, const char *name)
{
	size_t len = strnlen(name, STATE_FEED_NAME_MAX + 1);
	struct state_feed *f;
	int64_t found;

	ENSURE(!s->readonly);
	if (len == 0 || len > STATE_FEED_NAME_MAX || id >= TRADE_FEED_MAX)
		return -1;
	f = &s->feeds[id];
	found = state_feed_lookup(s, name);
	if (state_feed_first(f) != 0)
		return found == id ? 0 : -1;
	if (found >= 0 || state_feed_next_id(s) != id)
		return -1;
	/* a crash in here leaves name[0] == 0: still unused, redone on replay */
	memset(f, 0, sizeof(*f));
	memcpy(f->name + 1, name + 1, len - 1);
	__atomic_store_n(&f->name[0], name[0], __ATOMIC_RELEASE);
	return 0;
}

/* ---- trades ---- */

bool state_is_duplicate(const struct state *s, uint32_t inst, uint16_t feed, uint64_t trade_id)
{
	uint32_t slot;

	if (trade_id == 0)
		return false;
	slot = state_dedup_find(s, inst, feed);
	return slot != STATE_DEDUP_NONE && state_dedup_seen(&s->dedup[slot], trade_id);
}

static uint32_t state_inst_write_begin(struct state_instrument *in)
{
	uint32_t seq = atomic_load_explicit(&in->seqlock, memory_order_relaxed);

	ENSURE((seq & 1) == 0);
	atomic_store_explicit(&in->seqlock, seq + 1, memory_order_relaxed);
	/* the odd value must be visible before any of the data stores */
	atomic_thread_fence(memory_order_release);
	return seq + 1;
}

static void state_inst_write_end(struct state_instrument *in, uint32_t odd)
{
	ENSURE(odd & 1);
	atomic_store_explicit(&in->seqlock, odd + 1, memory_order_release);
}

/* Saves what the apply will touch, then arms the record (release: the copies
 * are complete before jseq says they are valid). */
static void state_undo_arm(struct state *s, const struct trade *t, uint32_t slot, uint64_t jseq)
{
	struct state_undo *u = &s->hdr->undo;

	ENSURE(atomic_load_explicit(&u->jseq, memory_order_relaxed) == 0);
	u->kind = STATE_UNDO_TRADE;
	u->inst_id = t->instrument;
	u->dedup_slot = slot;
	u->feed_id = t->feed;
	u->applied_jseq = jseq - 1;
	memcpy(&u->inst, &s->inst[t->instrument], sizeof(u->inst));
	if (slot != STATE_DEDUP_NONE)
		memcpy(&u->dedup, &s->dedup[slot], sizeof(u->dedup));
	memcpy(&u->feed, &s->feeds[t->feed], STATE_UNDO_FEED_BYTES);
	atomic_store_explicit(&u->jseq, jseq, memory_order_release);
}

/* A correction reverses a trade: the sums and the count go back, the price
 * extremes and "last" stay (they describe what the market printed).  One on
 * an instrument with no trades cannot reverse anything counted here, so only
 * the correction itself is counted. */
static void state_inst_apply(struct state_instrument *in, const struct trade *t, uint64_t jseq)
{
	uint32_t odd = state_inst_write_begin(in);
	__int128 qty = t->qty;
	__int128 notional = (__int128)t->price * t->qty;

	if (t->flags & TRADE_F_CORRECTION) {
		in->corrections++;
		if (in->trades > 0) {
			in->trades--;
			in->volume -= qty;
			in->notional -= notional;
		}
	} else {
		if (in->trades == 0) {
			in->first = in->high = in->low = t->price;
		} else {
			in->high = t->price > in->high ? t->price : in->high;
			in->low = t->price < in->low ? t->price : in->low;
		}
		in->trades++;
		in->volume += qty;
		in->notional += notional;
		in->last = t->price;
		/* Stored only when they grow (rarely): a byte store here would make
		 * the crc's word load below wait on store forwarding. */
		if (t->price_dp > in->price_dp)
			in->price_dp = t->price_dp;
		if (t->qty_dp > in->qty_dp)
			in->qty_dp = t->qty_dp;
		in->last_trade_id = t->trade_id;
		in->last_ts_exch_ns = t->ts_exch_ns;
		in->last_ts_rx_ns = t->ts_rx_ns;
	}
	in->applied_jseq = jseq;
	in->crc = state_inst_crc(in);
	state_inst_write_end(in, odd);
}

/* Corrections count as accepted: they are messages the feed sent and the
 * journal holds, which keeps received == accepted + duplicates + malformed. */
static void state_feed_apply(struct state_feed *f, const struct trade *t, bool deduped,
                             uint32_t slot)
{
	f->received++; /* under the undo record: a kill -9 never counts it twice or not at all */
	f->accepted++;
	/* A message-level sequence (MoldUDP64) skips the numbers of messages
	 * that are not trades: the decoder's sequencer counts its gaps. */
	if ((t->flags & (TRADE_F_HAS_SEQ | TRADE_F_SEQ_SPARSE)) == TRADE_F_HAS_SEQ)
		state_seq_observe(f, t->seq);
	if (t->trade_id == 0)
		f->no_trade_id++;
	else if (deduped && slot == STATE_DEDUP_NONE)
		f->dedup_overflow++;
}

/* The checks every applier makes before it writes (cheap, always on). */
static void state_apply_check(const struct state *s, uint16_t feed, uint64_t jseq)
{
	const struct state_header *h = s->hdr;

	ENSURE(!s->readonly);
	ENSURE(atomic_load_explicit(&h->undo.jseq, memory_order_relaxed) == 0);
	ENSURE(jseq == atomic_load_explicit(&h->applied_jseq, memory_order_relaxed) + 1);
	ENSURE(feed < TRADE_FEED_MAX && s->feeds[feed].name[0] != 0);
}

/* applied_jseq = jseq, then disarm: everything before is complete when the
 * record drops. */
static void state_apply_finish(struct state *s, uint64_t jseq)
{
	state_point(STATE_POINT_WRITTEN);
	atomic_store_explicit(&s->hdr->applied_jseq, jseq, memory_order_release);
	state_point(STATE_POINT_ADVANCED);
	atomic_store_explicit(&s->hdr->undo.jseq, 0, memory_order_release);
}

/* An outlier id (dedup.h): counted, logged at most 5 per 10 s. */
static void state_id_jump(struct state *s, const struct trade *t, uint32_t slot)
{
	static struct ratelimit rl = RATELIMIT_INIT(10, 5);
	uint64_t suppressed = 0;

	s->feeds[t->feed].id_jumps++;
	if (ratelimit_allow(&rl, timefmt_mono_ns(), &suppressed))
		log_warn("feed %s: trade id %llu is more than %llu above the high-water mark %llu: "
		         "accepted without deduplication, the mark not moved (%llu similar "
		         "suppressed)",
		         s->feeds[t->feed].name, (unsigned long long)t->trade_id,
		         (unsigned long long)STATE_DEDUP_JUMP_MAX,
		         (unsigned long long)s->dedup[slot].hwm, (unsigned long long)suppressed);
}

void state_apply_trade(struct state *s, const struct trade *t, uint64_t jseq)
{
	/* a correction carries the id of the trade it reverses, so it is
	 * filtered under its own key (state_dedup_key): a replayed correction
	 * is a duplicate, the original trade's id is not */
	bool dedup = t->trade_id != 0;
	uint32_t slot = STATE_DEDUP_NONE;

	state_apply_check(s, t->feed, jseq);
	ENSURE(t->instrument < atomic_load_explicit(&s->hdr->inst_count, memory_order_relaxed));
	ENSURE(t->qty > 0);
	if (dedup)
		slot = state_dedup_insert(s, t->instrument, state_dedup_key(t));
	state_undo_arm(s, t, slot, jseq);
	state_point(STATE_POINT_ARMED);
	state_inst_apply(&s->inst[t->instrument], t, jseq);
	if (slot != STATE_DEDUP_NONE && state_dedup_mark(&s->dedup[slot], t->trade_id))
		state_id_jump(s, t, slot);
	state_feed_apply(&s->feeds[t->feed], t, dedup, slot);
	state_candles_apply(s, t, jseq);
	state_apply_finish(s, jseq);
	state_candles_disarm(s);
}

void state_apply_gap(struct state *s, uint16_t feed, uint64_t first, uint64_t last, uint64_t jseq)
{
	struct state_undo *u = &s->hdr->undo;
	struct state_feed *f;

	state_apply_check(s, feed, jseq);
	ENSURE(first <= last);
	f = &s->feeds[feed];
	u->kind = STATE_UNDO_GAP;
	u->inst_id = 0;
	u->dedup_slot = STATE_DEDUP_NONE;
	u->feed_id = feed;
	u->applied_jseq = jseq - 1;
	memcpy(&u->feed, f, sizeof(u->feed)); /* ext[] too: rare, copy it all */
	atomic_store_explicit(&u->jseq, jseq, memory_order_release);
	state_point(STATE_POINT_ARMED);
	f->ext[STATE_EXT_GAPS_UNRECOVERED]++;
	f->ext[STATE_EXT_MISSING_UNRECOVERED] += last - first + 1;
	state_apply_finish(s, jseq);
}

void state_apply_other(struct state *s, uint64_t jseq)
{
	struct state_header *h = s->hdr;

	ENSURE(!s->readonly);
	ENSURE(atomic_load_explicit(&h->undo.jseq, memory_order_relaxed) == 0);
	ENSURE(jseq == atomic_load_explicit(&h->applied_jseq, memory_order_relaxed) + 1);
	state_point(STATE_POINT_WRITTEN);
	atomic_store_explicit(&h->applied_jseq, jseq, memory_order_release);
}

/* ---- counters outside the journal ---- */

static struct state_feed *state_feed_w(struct state *s, uint16_t feed)
{
	ENSURE(!s->readonly && feed < TRADE_FEED_MAX);
	return &s->feeds[feed];
}

void state_feed_count(struct state *s, uint16_t feed, enum state_count c, uint64_t n)
{
	struct state_feed *f = state_feed_w(s, feed);

	switch (c) {
	case STATE_CNT_RECEIVED:
		f->received += n;
		return;
	case STATE_CNT_DUPLICATES:
		f->duplicates += n;
		return;
	case STATE_CNT_STORE_FAILED:
		f->store_failed += n;
		return;
	}
	ENSURE(!"unknown state_count");
}

void state_feed_malformed(struct state *s, uint16_t feed, enum malformed why)
{
	struct state_feed *f = state_feed_w(s, feed);

	ENSURE(why > MALFORMED_NONE && why < MALFORMED_COUNT);
	f->malformed++;
	f->malformed_by[why]++;
}

void state_feed_ext_add(struct state *s, uint16_t feed, enum state_ext e, uint64_t n)
{
	struct state_feed *f = state_feed_w(s, feed);

	ENSURE((unsigned)e < STATE_EXT_COUNT);
	f->ext[e] += n;
}

void state_feed_source_set(struct state *s, uint16_t feed, const struct state_source *src)
{
	struct state_feed *f = state_feed_w(s, feed);

	f->src = *src;
}

void state_ops_journal(struct state *s, uint64_t entries, uint64_t bytes, uint64_t segments,
                       int64_t last_sync_ns)
{
	struct state_ops *o = &s->hdr->ops;

	ENSURE(!s->readonly);
	o->journal_entries = entries;
	o->journal_bytes = bytes;
	o->journal_segments = segments;
	o->journal_last_sync_ns = last_sync_ns;
}

void state_ops_journal_spare(struct state *s, uint64_t hits, uint64_t misses, uint64_t failures)
{
	struct state_ops *o = &s->hdr->ops;

	ENSURE(!s->readonly);
	o->journal_spare_hits = hits;
	o->journal_spare_misses = misses;
	o->journal_spare_failures = failures;
}

void state_ops_sink(struct state *s, unsigned i, const char *name, const struct state_sink_ops *v)
{
	struct state_sink_ops *o;

	ENSURE(!s->readonly && i < STATE_SINKS_MAX);
	o = &s->hdr->ops.sink[i];
	if (strncmp(o->name, name, sizeof(o->name) - 1) != 0)
		snprintf(o->name, sizeof(o->name), "%s", name);
	o->sent = v->sent;
	o->acked = v->acked;
	o->errors = v->errors;
	o->lag = v->lag;
}

void state_ops_published(struct state *s, int64_t now_ns)
{
	ENSURE(!s->readonly);
	s->hdr->ops.published_ns = now_ns;
}

unsigned state_hist_bucket(int64_t ns)
{
	uint64_t v = ns > 0 ? (uint64_t)ns >> STATE_HIST_SHIFT : 0;
	unsigned b = v ? 64u - (unsigned)__builtin_clzll(v) : 0;

	return b < STATE_HIST_BUCKETS ? b : STATE_HIST_BUCKETS - 1;
}

int64_t state_hist_le_ns(unsigned i)
{
	return i + 1 >= STATE_HIST_BUCKETS ? INT64_MAX : (int64_t)1 << (i + STATE_HIST_SHIFT);
}

void state_hist_add(struct state *s, enum state_stage stage, int64_t ns)
{
	struct state_hist *h;

	ENSURE(!s->readonly && (unsigned)stage < STATE_STAGE_COUNT);
	h = &s->hdr->ops.hist[stage];
	h->count++;
	h->sum_ns += ns > 0 ? (uint64_t)ns : 0;
	h->bucket[state_hist_bucket(ns)]++;
}

void state_feed_gaps_add(struct state *s, uint16_t feed, uint64_t gaps, uint64_t missing)
{
	struct state_feed *f = state_feed_w(s, feed);

	f->gaps += gaps;
	f->gap_missing += missing;
}

uint32_t state_inst_crc(const struct state_instrument *in)
{
	return crc32c(0, (const uint8_t *)in + offsetof(struct state_instrument, id),
	              offsetof(struct state_instrument, crc) -
	                      offsetof(struct state_instrument, id));
}

static inline void state_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

bool state_read_retry(uint32_t *tries, int64_t *deadline_ns)
{
	uint32_t n = ++*tries;

	if (n < STATE_READ_SPINS) {
		state_cpu_relax();
		return true;
	}
	if (n == STATE_READ_SPINS)
		*deadline_ns = timefmt_mono_ns() + (int64_t)STATE_READ_WAIT_MS * 1000000;
	else if (n >= STATE_READ_RETRIES || timefmt_mono_ns() > *deadline_ns)
		return false;
	sched_yield();
	return true;
}

int state_read_instrument(const struct state *s, uint32_t id, struct state_instrument *out)
{
	const struct state_instrument *in;
	uint32_t tries = 0;
	int64_t deadline = 0;

	ENSURE(s->map && out);
	if (id >= atomic_load_explicit(&s->hdr->inst_count, memory_order_acquire))
		return -1;
	in = &s->inst[id];
	do {
		uint32_t before = atomic_load_explicit(&in->seqlock, memory_order_acquire);
		uint32_t after;

		if ((before & 1) == 0) {
			memcpy(out, (const void *)in, sizeof(*out));
			/* the copy's loads complete before the re-check */
			atomic_thread_fence(memory_order_acquire);
			after = atomic_load_explicit(&in->seqlock, memory_order_relaxed);
			if (after == before) {
				atomic_store_explicit(&out->seqlock, before, memory_order_relaxed);
				return out->crc == state_inst_crc(out) ? 0 : STATE_READ_DAMAGED;
			}
		}
	} while (state_read_retry(&tries, &deadline));
	return -1;
}

static const char *const state_ext_names[STATE_EXT_COUNT] = {
        [STATE_EXT_GAPS_UNRECOVERED] = "gaps_unrecovered",
        [STATE_EXT_MISSING_UNRECOVERED] = "missing_unrecovered",
        [STATE_EXT_RECOVERED] = "recovered",
        [STATE_EXT_HOLES_FILLED] = "holes_filled",
        [STATE_EXT_DUP_MESSAGES] = "dup_messages",
        [STATE_EXT_BAD_PACKETS] = "bad_packets",
        [STATE_EXT_REQUESTS] = "requests",
        [STATE_EXT_MESSAGES] = "messages",
        [STATE_EXT_UNKNOWN_ORDER_E] = "unknown_order_e",
        [STATE_EXT_UNKNOWN_ORDER_C] = "unknown_order_c",
        [STATE_EXT_UNKNOWN_ORDER_X] = "unknown_order_x",
        [STATE_EXT_UNKNOWN_ORDER_D] = "unknown_order_d",
        [STATE_EXT_UNKNOWN_ORDER_U] = "unknown_order_u",
        [STATE_EXT_UNKNOWN_LOCATE] = "unknown_locate",
        [STATE_EXT_BROKEN_UNKNOWN] = "broken_unknown",
        [STATE_EXT_LENGTH_MISMATCH] = "length_mismatch",
        [STATE_EXT_UNKNOWN_TYPE] = "unknown_type",
        [STATE_EXT_TRUNCATED] = "truncated",
        [STATE_EXT_BOOK_FULL] = "book_full",
        [STATE_EXT_STREAM_UNSYNC] = "stream_unsync",
        [STATE_EXT_STREAM_DROPPED] = "stream_dropped",
        [STATE_EXT_STREAM_SKIPPED] = "stream_skipped",
        [STATE_EXT_INTERN_FAILED] = "intern_failed",
        [STATE_EXT_REFUSED] = "refused",
        [STATE_EXT_SUB_ERRORS] = "subscribe_errors",
        [STATE_EXT_RECONNECTS] = "reconnects",
        [STATE_EXT_PORT_IPACKETS] = "port_ipackets",
        [STATE_EXT_PORT_IMISSED] = "port_imissed",
        [STATE_EXT_PORT_IERRORS] = "port_ierrors",
        [STATE_EXT_PORT_RX_NOMBUF] = "port_rx_nombuf",
        [STATE_EXT_PORT_UNMATCHED] = "port_unmatched",
        [STATE_EXT_WRONG_SESSION] = "wrong_session",
        [STATE_EXT_CONNS_REFUSED] = "conns_refused",
        [STATE_EXT_CONNS_IDLE_CLOSED] = "conns_idle_closed",
        [STATE_EXT_BUFFER_OVERFLOW] = "buffer_overflow",
};

const char *state_ext_name(enum state_ext e)
{
	return (unsigned)e < STATE_EXT_COUNT ? state_ext_names[e] : "?";
}
