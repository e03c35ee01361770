/* replay_kraken.c -- `trades replay --format kraken-ws|kraken-rest FILE...`.
 *
 * kraken-ws: one WebSocket frame per line, v2 or v1, optionally prefixed by
 * the receive time in decimal seconds and ": " as cryptofeed records them
 * ("1618678158.165955: [1921,[...],\"trade\",\"SC/EUR\"]").  cryptofeed's
 * connection lines ("wss://host <-> ...", "wss://host <- ...: {our own
 * subscribe}") are capture metadata, not feed messages: they are skipped and
 * counted as such.  kraken-rest: each FILE is one /0/public/Trades response;
 * its result key is mapped to a symbol with --asset-pairs or named --pair. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "kraken_cli.h"
#include "trades/log.h"
#include "trades/sink.h"
#include "trades/timefmt.h"

#define REPLAY_KRAKEN_FRAME_MAX (4u << 20)   /* longest line (frame) accepted */
#define REPLAY_KRAKEN_FILE_MAX  (256u << 20) /* largest REST response file */

struct replay_kraken {
	struct pipeline *pipe;
	struct kraken_feeds kf;
	struct kraken_pairs pairs;
	bool have_pairs;
	const char *pair; /* --pair */
	uint64_t frames, skipped;
};

static void replay_kraken_usage(FILE *f)
{
	fprintf(f, "usage: trades replay --format kraken-ws|kraken-rest [--feed PREFIX]\n"
	           "                     [--asset-pairs FILE] [--pair SYMBOL] [--decode-only]\n"
	           "                     [--state-dir DIR] [--sync MODE] [--print] FILE...\n\n"
	           "  kraken-ws    one WebSocket frame per line (v2 or v1), optionally prefixed\n"
	           "               by a receive time and ': ' (cryptofeed captures)\n"
	           "  kraken-rest  each FILE is one /0/public/Trades response\n"
	           "  --feed PREFIX      feeds are PREFIX:SYMBOL (default kraken; v1: "
	           "PREFIX-v1:SYMBOL)\n"
	           "  --asset-pairs FILE /0/public/AssetPairs response mapping REST keys to "
	           "symbols\n"
	           "  --pair SYMBOL      symbol of a REST file's trades (overrides the mapping)\n");
}

bool replay_kraken_wanted(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--format") && i + 1 < argc)
			a = argv[++i];
		else if (!strncmp(a, "--format=", 9))
			a += 9;
		else
			continue;
		if (!strncmp(a, "kraken-", 7))
			return true;
	}
	return false;
}

int kraken_read_file(const char *path, size_t max, char **buf, size_t *len, char *err,
                     size_t errlen)
{
	FILE *f = fopen(path, "rb");
	size_t n = 0, got;
	char *b;

	if (!f)
		return errfmt(err, errlen, "%s: open: %s", path, strerror(errno));
	b = malloc(max + 1);
	if (!b) {
		fclose(f);
		return errfmt(err, errlen, "%s: malloc: %s", path, strerror(ENOMEM));
	}
	while (n < max && (got = fread(b + n, 1, max - n, f)) > 0) /* ends at EOF or max */
		n += got;
	if (ferror(f) || (n == max && fgetc(f) != EOF)) {
		int e = ferror(f) ? errno : EFBIG;

		fclose(f);
		free(b);
		return errfmt(err, errlen, "%s: read: %s", path, strerror(e));
	}
	fclose(f);
	b[n] = '\0';
	*buf = b;
	*len = n;
	return 0;
}

/* "SECONDS: " at the start of a line: the receive time; returns the bytes
 * it takes (0 if the line has no such prefix). */
static size_t replay_kraken_stamp(const char *line, size_t len, int64_t *rx_ns)
{
	const char *colon = memchr(line, ':', len < 32 ? len : 32);
	uint8_t digits;

	if (!colon || colon + 1 >= line + len || colon[1] != ' ' ||
	    kraken_time_parse(line, (size_t)(colon - line), rx_ns, &digits) < 0)
		return 0;
	return (size_t)(colon - line) + 2;
}

static void replay_kraken_line(struct replay_kraken *r, char *line, size_t len)
{
	struct kraken_msg m;
	enum malformed why;
	int64_t rx = timefmt_now_ns();
	size_t skip;

	while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	if (len == 0)
		return;
	if (len > 6 && !memcmp(line, "wss://", 6)) {
		r->skipped++;
		return;
	}
	skip = replay_kraken_stamp(line, len, &rx);
	r->frames++;
	r->kf.rx_ns = rx;
	why = kraken_ws_parse(line + skip, len - skip, &m, kraken_feeds_trade, &r->kf);
	if (why != MALFORMED_NONE)
		kraken_feeds_refused(&r->kf, why, line + skip, len - skip);
	else if (m.kind == KRAKEN_MSG_SUB_ERROR)
		kraken_feeds_count(&r->kf, STATE_EXT_SUB_ERRORS, 1);
}

static int replay_kraken_ws(struct replay_kraken *r, const char *path)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	unsigned batch = 0;

	if (!f) {
		log_error("replay %s: open: %s", path, strerror(errno));
		return -1;
	}
	while ((n = getline(&line, &cap, f)) >= 0) { /* ends at EOF */
		if ((size_t)n > REPLAY_KRAKEN_FRAME_MAX) {
			r->frames++;
			kraken_feeds_refused(&r->kf, MALFORMED_LINE_TOO_LONG, line, 64);
		} else {
			replay_kraken_line(r, line, (size_t)n);
		}
		if (++batch % 256 == 0)
			pipeline_commit(r->pipe);
	}
	free(line);
	pipeline_commit(r->pipe);
	if (ferror(f))
		log_error("replay %s: read: %s", path, strerror(errno));
	if (f != stdin)
		fclose(f);
	return 0;
}

static void replay_kraken_ignore(void *ctx, const struct kraken_trade *kt, enum malformed why,
                                 const char *bytes, size_t len)
{
	(void)ctx, (void)kt, (void)why, (void)bytes, (void)len;
}

static int replay_kraken_rest(struct replay_kraken *r, const char *path)
{
	struct kraken_rest_page pg;
	const struct kraken_pair *kp;
	const char *sym;
	char err[512], *buf;
	size_t len;
	enum malformed why;

	if (kraken_read_file(path, REPLAY_KRAKEN_FILE_MAX, &buf, &len, err, sizeof(err)) < 0) {
		log_error("replay %s", err);
		return -1;
	}
	r->frames++;
	r->kf.rx_ns = timefmt_now_ns();
	/* First pass finds the result key, the second stores under its symbol. */
	why = kraken_rest_parse(buf, len, "?", &pg, replay_kraken_ignore, NULL);
	kp = r->have_pairs ? kraken_pairs_find(&r->pairs, pg.key) : NULL;
	sym = r->pair ? r->pair : kp ? kp->symbol : pg.key;
	if (why == MALFORMED_NONE)
		why = kraken_rest_parse(buf, len, sym, &pg, kraken_feeds_trade, &r->kf);
	if (why != MALFORMED_NONE)
		kraken_feeds_refused(&r->kf, why, buf, len);
	else if (pg.error[0])
		log_warn("replay %s: Kraken error: %s", path, pg.error);
	else
		log_info("replay %s: %s as %s, %u rows, last %llu", path, pg.key, sym, pg.rows,
		         (unsigned long long)pg.last);
	free(buf);
	pipeline_commit(r->pipe);
	return 0;
}

static int replay_kraken_pairs(struct replay_kraken *r, const char *path)
{
	char err[512], *buf;
	size_t len;
	int rc;

	if (kraken_read_file(path, REPLAY_KRAKEN_FILE_MAX, &buf, &len, err, sizeof(err)) < 0) {
		fprintf(stderr, "trades replay: --asset-pairs %s\n", err);
		return -1;
	}
	/* A cryptofeed capture is "URL -> TIME: JSON" lines: take the first
	 * line's JSON. */
	const char *json = memchr(buf, '{', len), *nl;

	json = json ? json : buf;
	nl = memchr(json, '\n', len - (size_t)(json - buf));
	rc = kraken_pairs_parse(json, nl ? (size_t)(nl - json) : len - (size_t)(json - buf),
	                        &r->pairs, err, sizeof(err));
	free(buf);
	if (rc < 0)
		fprintf(stderr, "trades replay: --asset-pairs %s: %s\n", path, err);
	r->have_pairs = rc == 0;
	return rc;
}

struct replay_kraken_opts {
	bool rest, print, decode_only;
	const char *prefix;
	struct cli_common co;
	struct cli_store st;
};

static int replay_kraken_parse(int argc, char **argv, struct replay_kraken *r,
                               struct replay_kraken_opts *o)
{
	static const struct option opts[] = {
	        {"format", required_argument, 0, 'f'},
	        {"feed", required_argument, 0, 'F'},
	        {"decode-only", no_argument, 0, 'D'},
	        {"sync", required_argument, 0, 's'},
	        {"print", no_argument, 0, 'p'},
	        {"asset-pairs", required_argument, 0, 'a'},
	        {"pair", required_argument, 0, 'P'},
	        CLI_COMMON_OPTIONS,
	        {0, 0, 0, 0},
	};
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if ((rc = cli_common_opt("replay", c, optarg, &o->co)) != 0) {
			if (rc < 0)
				return -1;
			if (o->co.help) {
				replay_kraken_usage(stdout);
				exit(CLI_OK);
			}
			continue;
		}
		switch (c) {
		case 'f':
			if (strcmp(optarg, "kraken-ws") && strcmp(optarg, "kraken-rest")) {
				fprintf(stderr,
				        "trades replay: --format '%s': use kraken-ws or "
				        "kraken-rest here\n",
				        optarg);
				return -1;
			}
			o->rest = !strcmp(optarg, "kraken-rest");
			break;
		case 'F':
			o->prefix = optarg;
			break;
		case 'D':
			o->decode_only = true;
			break;
		case 's':
			o->st.sync = optarg;
			break;
		case 'p':
			o->print = true;
			break;
		case 'P':
			r->pair = optarg;
			break;
		case 'a':
			if (replay_kraken_pairs(r, optarg) < 0)
				return -1;
			break;
		default:
			replay_kraken_usage(stderr);
			return -1;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "trades replay: no FILE given ('-' reads stdin)\n");
		return -1;
	}
	return 0;
}

int cmd_replay_kraken(int argc, char **argv)
{
	static struct replay_kraken r;
	struct replay_kraken_opts o = {.prefix = KRAKEN_DEFAULT_FEED};
	struct pipeline_config pc;
	bool refused = false; /* set by a failed pipeline_open */
	const struct pipeline_stats *s;
	char err[512];
	int i, rc = CLI_OK;

	memset(&r, 0, sizeof(r));
	if (cli_common_init("replay", &o.co) < 0 || cli_store_env("replay", &o.st) < 0 ||
	    replay_kraken_parse(argc, argv, &r, &o) < 0)
		return CLI_USAGE;
	o.st.state_dir = o.co.state_dir;
	if (cli_store_config("replay", &o.st, &pc) < 0)
		return CLI_USAGE;
	pc.decode_only = o.decode_only;
	pc.refused = &refused;
	if ((r.pipe = pipeline_open(&pc, err, sizeof(err))) == NULL) {
		log_error("%s", err);
		return refused ? CLI_REFUSED : CLI_FAIL;
	}
	if (kraken_feeds_init(&r.kf, r.pipe, o.prefix) < 0) {
		pipeline_close(r.pipe, true);
		return CLI_USAGE;
	}
	if (o.print && cli_print_sink("replay", r.pipe) < 0) {
		pipeline_close(r.pipe, true);
		return CLI_FAIL;
	}
	for (i = optind; i < argc; i++) {
		char peer[DECODER_PEER_MAX];

		snprintf(peer, sizeof(peer), "file:%s", argv[i]);
		r.kf.peer = peer;
		if ((o.rest ? replay_kraken_rest(&r, argv[i]) : replay_kraken_ws(&r, argv[i])) < 0)
			rc = CLI_FAIL;
	}
	r.kf.peer = NULL;
	s = pipeline_stats(r.pipe);
	if (s->store_failed) {
		log_error("replay: %llu trades could not be stored",
		          (unsigned long long)s->store_failed);
		rc = CLI_FAIL;
	}
	fprintf(stderr,
	        "replay: %d file(s), %llu frames, %llu skipped lines, %llu messages, %llu "
	        "accepted, %llu duplicates, %llu malformed\n",
	        argc - optind, (unsigned long long)r.frames, (unsigned long long)r.skipped,
	        (unsigned long long)s->received, (unsigned long long)s->accepted,
	        (unsigned long long)s->duplicates, (unsigned long long)s->malformed);
	pipeline_close(r.pipe, true);
	return rc;
}
