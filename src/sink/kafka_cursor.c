/* kafka_cursor.c -- the Kafka sink's parts that need no librdkafka: its
 * cursor file (written by the sink, read by `trades stat`), the key rename
 * of --kafka-keys and the jseq header grammar.  Built in every build, so
 * `stat` shows a sink's last status even from a build without Kafka.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "trades/log.h"
#include "trades/sink_kafka.h"

#define CURSOR_PATH_MAX  4200
#define CURSOR_LINES_MAX 64 /* a cursor file has 14 lines; more is not ours */

static const char *const phase_names[] = {"starting", "resuming", "streaming", "stopped", "failed"};

const char *sink_kafka_phase_name(uint32_t phase)
{
	return phase < sizeof(phase_names) / sizeof(phase_names[0]) ? phase_names[phase] : "?";
}

static int cursor_path(const char *dir, const char *suffix, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/%s%s", dir, SINK_KAFKA_CURSOR, suffix);

	return n > 0 && (size_t)n < len ? 0 : -1;
}

static int cursor_format(const struct sink_kafka_status *st, char *buf, size_t len)
{
	return snprintf(buf, len,
	                "version 1\ntopic %s\ncluster %s\ndelivered %" PRIu64 "\nread %" PRIu64
	                "\nsent %" PRIu64 "\nacked %" PRIu64 "\nerrors %" PRIu64
	                "\nresumes %" PRIu64 "\nskipped %" PRIu64 "\ninflight %" PRIu64
	                "\npartitions %" PRIu64 "\nphase %s\npid %d\nupdated_ns %" PRId64 "\n",
	                st->topic, st->cluster[0] ? st->cluster : "-", st->delivered, st->read_jseq,
	                st->sent, st->acked, st->errors, st->resumes, st->skipped, st->inflight,
	                st->partitions, sink_kafka_phase_name(st->phase), st->pid, st->updated_ns);
}

int sink_kafka_status_write(const char *state_dir, const struct sink_kafka_status *st, char *err,
                            size_t errlen)
{
	char path[CURSOR_PATH_MAX], tmp[CURSOR_PATH_MAX], buf[1024];
	int n = cursor_format(st, buf, sizeof(buf)), fd;
	ssize_t w;

	if (n < 0 || (size_t)n >= sizeof(buf) || cursor_path(state_dir, "", path, sizeof(path)) ||
	    cursor_path(state_dir, ".tmp", tmp, sizeof(tmp)))
		return errfmt(err, errlen, "kafka cursor in %s: path or content too long",
		              state_dir);
	*strrchr(tmp, '/') = '\0'; /* STATE_DIR/sinks */
	if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
		return errfmt(err, errlen, "kafka cursor %s: mkdir: %s", tmp, strerror(errno));
	tmp[strlen(tmp)] = '/';
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return errfmt(err, errlen, "kafka cursor %s: open: %s", tmp, strerror(errno));
	w = write(fd, buf, (size_t)n);
	if (w != n) {
		int e = w < 0 ? errno : ENOSPC;

		close(fd);
		unlink(tmp);
		return errfmt(err, errlen, "kafka cursor %s: write: %s", tmp, strerror(e));
	}
	close(fd);
	if (rename(tmp, path) != 0)
		return errfmt(err, errlen, "kafka cursor %s: rename: %s", path, strerror(errno));
	return 0;
}

static int cursor_u64(const char *v, uint64_t *out)
{
	char *end;

	if (*v < '0' || *v > '9')
		return -1;
	errno = 0;
	*out = strtoull(v, &end, 10);
	return errno || *end ? -1 : 0;
}

/* One "key value" line into st.  0, or -1 if the value is bad. */
static int cursor_line(char *line, struct sink_kafka_status *st)
{
	static const struct {
		const char *key;
		size_t off;
	} nums[] = {
	        {"delivered", offsetof(struct sink_kafka_status, delivered)},
	        {"read", offsetof(struct sink_kafka_status, read_jseq)},
	        {"sent", offsetof(struct sink_kafka_status, sent)},
	        {"acked", offsetof(struct sink_kafka_status, acked)},
	        {"errors", offsetof(struct sink_kafka_status, errors)},
	        {"resumes", offsetof(struct sink_kafka_status, resumes)},
	        {"skipped", offsetof(struct sink_kafka_status, skipped)},
	        {"inflight", offsetof(struct sink_kafka_status, inflight)},
	        {"partitions", offsetof(struct sink_kafka_status, partitions)},
	};
	char *v = strchr(line, ' ');
	uint64_t u;
	size_t i;

	if (!v)
		return -1;
	*v++ = '\0';
	for (i = 0; i < sizeof(nums) / sizeof(nums[0]); i++)
		if (strcmp(line, nums[i].key) == 0)
			return cursor_u64(v, (uint64_t *)((char *)st + nums[i].off));
	if (strcmp(line, "topic") == 0 || strcmp(line, "cluster") == 0) {
		char *dst = line[0] == 't' ? st->topic : st->cluster;
		size_t cap = line[0] == 't' ? sizeof(st->topic) : sizeof(st->cluster);

		if (strlen(v) >= cap)
			return -1;
		strcpy(dst, strcmp(v, "-") ? v : "");
		return 0;
	}
	if (strcmp(line, "phase") == 0) {
		for (i = 0; i < sizeof(phase_names) / sizeof(phase_names[0]); i++)
			if (strcmp(v, phase_names[i]) == 0)
				st->phase = (uint32_t)i;
		return 0;
	}
	if (strcmp(line, "pid") == 0 && cursor_u64(v, &u) == 0 && u <= INT32_MAX) {
		st->pid = (int32_t)u;
		return 0;
	}
	if (strcmp(line, "updated_ns") == 0 && cursor_u64(v, &u) == 0 && u <= INT64_MAX) {
		st->updated_ns = (int64_t)u;
		return 0;
	}
	return strcmp(line, "version") == 0 && strcmp(v, "1") == 0 ? 0 : -1;
}

int sink_kafka_status_read(const char *state_dir, struct sink_kafka_status *st, char *err,
                           size_t errlen)
{
	char path[CURSOR_PATH_MAX], line[512];
	unsigned n = 0;
	FILE *f;

	memset(st, 0, sizeof(*st));
	if (cursor_path(state_dir, "", path, sizeof(path)))
		return errfmt(err, errlen, "kafka cursor in %s: path too long", state_dir);
	f = fopen(path, "re");
	if (!f)
		return errno == ENOENT ? 0
		                       : errfmt(err, errlen, "kafka cursor %s: open: %s", path,
		                                strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		size_t len = strlen(line);

		if (++n > CURSOR_LINES_MAX || len == 0 || line[len - 1] != '\n')
			break;
		line[len - 1] = '\0';
		if (cursor_line(line, st) < 0) {
			fclose(f);
			return errfmt(err, errlen, "kafka cursor %s: line %u: bad value", path, n);
		}
	}
	if (!feof(f)) {
		fclose(f);
		return errfmt(err, errlen, "kafka cursor %s: line %u: too long or too many", path,
		              n);
	}
	fclose(f);
	return 1;
}

int sink_kafka_stat_print(const char *state_dir, uint64_t applied_jseq, bool json, FILE *f)
{
	struct sink_kafka_status st;
	char err[512];
	int rc = sink_kafka_status_read(state_dir, &st, err, sizeof(err));
	uint64_t lag = applied_jseq > st.delivered ? applied_jseq - st.delivered : 0;

	if (rc < 0) {
		fprintf(stderr, "trades stat: %s\n", err);
		return -1;
	}
	if (rc == 0)
		return 0;
	if (json) {
		fprintf(f,
		        ",\"kafka\":{\"topic\":\"%s\",\"phase\":\"%s\",\"delivered_jseq\":%" PRIu64
		        ",\"lag\":%" PRIu64 ",\"read_jseq\":%" PRIu64 ",\"sent\":%" PRIu64
		        ",\"acked\":%" PRIu64 ",\"errors\":%" PRIu64 ",\"resumes\":%" PRIu64
		        ",\"skipped\":%" PRIu64 ",\"inflight\":%" PRIu64 ",\"partitions\":%" PRIu64
		        ",\"pid\":%d,\"updated_ns\":%" PRId64 "}",
		        st.topic, sink_kafka_phase_name(st.phase), st.delivered, lag, st.read_jseq,
		        st.sent, st.acked, st.errors, st.resumes, st.skipped, st.inflight,
		        st.partitions, st.pid, st.updated_ns);
		return 0;
	}
	fprintf(f,
	        "\nkafka sink: topic %s, %s, delivered through journal entry %" PRIu64
	        ", lag %" PRIu64 "\n  sent %" PRIu64 ", acked %" PRIu64 ", errors %" PRIu64
	        ", in flight %" PRIu64 ", resumes %" PRIu64 ", skipped at resume %" PRIu64 "\n",
	        st.topic, sink_kafka_phase_name(st.phase), st.delivered, lag, st.sent, st.acked,
	        st.errors, st.inflight, st.resumes, st.skipped);
	return 0;
}

bool sink_kafka_key_ok(const char *k)
{
	size_t i;

	for (i = 0; k[i]; i++)
		if (i >= SINK_KAFKA_KEY_MAX ||
		    !((k[i] >= 'a' && k[i] <= 'z') || (k[i] >= 'A' && k[i] <= 'Z') ||
		      (k[i] >= '0' && k[i] <= '9') || k[i] == '_'))
			return false;
	return i > 0;
}

/* Copies line with key `"from":` (its first occurrence at or after *pos)
 * renamed; the pair string is escaped, so `"volume":` cannot appear in it. */
static void rename_one(const char *line, size_t len, size_t *pos, const char *from, const char *to,
                       char *out, size_t *olen)
{
	char pat[SINK_KAFKA_KEY_MAX + 4];
	const char *hit;
	size_t plen = (size_t)snprintf(pat, sizeof(pat), "\"%s\":", from), head, tl;

	hit = memmem(line + *pos, len - *pos, pat, plen);
	ENSURE(hit != NULL); /* the contract always has both keys */
	head = (size_t)(hit - line) - *pos;
	memcpy(out + *olen, line + *pos, head);
	*olen += head;
	tl = strlen(to);
	out[(*olen)++] = '"';
	memcpy(out + *olen, to, tl);
	*olen += tl;
	memcpy(out + *olen, "\":", 2);
	*olen += 2;
	*pos += head + plen;
}

size_t sink_kafka_rename(const char *line, size_t len, const char *pair_key, const char *volume_key,
                         char *out, size_t cap)
{
	size_t pos = 0, olen = 0;

	ENSURE(cap >= len + 2 * SINK_KAFKA_KEY_MAX);
	if (pair_key)
		rename_one(line, len, &pos, "pair", pair_key, out, &olen);
	if (volume_key)
		rename_one(line, len, &pos, "volume", volume_key, out, &olen);
	memcpy(out + olen, line + pos, len - pos);
	return olen + len - pos;
}

int sink_kafka_jseq_parse(const void *v, size_t len, uint64_t *out)
{
	const char *s = v;
	uint64_t x = 0;
	size_t i;

	if (!v || len == 0 || len > 20)
		return -1;
	for (i = 0; i < len; i++) {
		unsigned d = (unsigned)(s[i] - '0');

		if (d > 9 || x > (UINT64_MAX - d) / 10)
			return -1;
		x = x * 10 + d;
	}
	*out = x;
	return 0;
}
