// simdjson_baseline.cpp -- the JSON-lines decode baseline of bench/run's
// replay-jsonl scenario (issue 13, goal 1): simdjson On-Demand iterate_many
// over the same in-memory JSON-lines file `trades replay --decode-only` reads,
// extracting the same five fields (pair, price, volume, timestamp or
// timestamp_ms, trade_id) and converting them as trades does: price and
// volume to fixed-point integers, the RFC 3339 timestamp to nanoseconds,
// timestamp_ms and trade_id to integers.  Not linked with the core.
//   bench_simdjson [--threads] FILE
// Without --threads the parser runs on one thread (parser.threaded = false),
// as trades decodes on one; --threads is simdjson's default, stage 1 of the
// next batch on a second thread.
// prints "lines N bytes B seconds S lines_per_s R mb_per_s M bad K sum X
// cpu_s C" on stdout (seconds: wall, from the parse's start; cpu_s: CPU time
// of the process over the same span, all threads); exit 1 with a message on
// a read or parse error.  The load ends by reading one byte of every page, not
// timed, as bench_jsonl_mem's does (on this VM the first user-mode access to a
// page the kernel's read() filled costs about 4.5 us: see jsonl_mem.c).
#include <simdjson.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string_view>
#include <utility>

using namespace simdjson;

static double mono_s()
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

// A decimal token ("189.98" or 96999.8, quotes and trailing blanks stripped)
// to units of 10^-places; false on anything else.  Bounded by the token's length.
static bool fixed(std::string_view t, int places, int64_t *out)
{
	int64_t v = 0;
	int frac = -1;
	size_t i = 0;

	while (!t.empty() && (t.back() == ' ' || t.back() == '\t'))
		t.remove_suffix(1);
	if (!t.empty() && t.front() == '"')
		t = t.substr(1, t.size() >= 2 ? t.size() - 2 : 0);
	if (t.empty() || t.size() > 24)
		return false;
	for (; i < t.size(); i++) {
		char c = t[i];
		if (c == '.' && frac < 0) {
			frac = 0;
			continue;
		}
		if (c < '0' || c > '9' || frac >= places)
			return false;
		v = v * 10 + (c - '0');
		if (frac >= 0)
			frac++;
	}
	for (frac = frac < 0 ? 0 : frac; frac < places; frac++)
		v *= 10;
	*out = v;
	return true;
}

static double cpu_s()
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

// Exactly n digits at s into *v.
static bool digits(const char *s, int n, int64_t *v)
{
	int64_t x = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		x = x * 10 + (s[i] - '0');
	}
	*v = x;
	return true;
}

// "YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z" to ns since the epoch, the calendar and
// clock fields range-checked (trades' own parser also takes +HH:MM zones;
// the generated file only has Z).  Days from the civil date: Howard
// Hinnant's public-domain algorithm.
static bool rfc3339(std::string_view t, int64_t *ns)
{
	static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int64_t y, mo, d, h, mi, sec, frac = 0, nfrac = 0;
	const char *s = t.data();
	size_t i = 19;

	if (t.size() < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
	    s[16] != ':' || !digits(s, 4, &y) || !digits(s + 5, 2, &mo) || !digits(s + 8, 2, &d) ||
	    !digits(s + 11, 2, &h) || !digits(s + 14, 2, &mi) || !digits(s + 17, 2, &sec))
		return false;
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 ||
	    sec > 59)
		return false;
	if (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
		return false;
	if (s[i] == '.') {
		for (i++; i < t.size() && s[i] >= '0' && s[i] <= '9' && nfrac < 10; i++, nfrac++)
			frac = frac * 10 + (s[i] - '0');
		if (nfrac == 0 || nfrac > 9)
			return false;
	}
	if (i + 1 != t.size() || s[i] != 'Z')
		return false;
	for (; nfrac < 9; nfrac++)
		frac *= 10;
	y -= mo <= 2;
	int64_t era = y / 400, yoe = y - era * 400;
	int64_t doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t days = era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
	*ns = ((days * 86400 + h * 3600 + mi * 60 + sec) * 1000000000LL) + frac;
	return true;
}

// The five fields of one line; false if one is missing or of the wrong type.
static bool one(ondemand::document_reference doc, uint64_t *sum)
{
	std::string_view pair, raw;
	ondemand::value v;
	int64_t price, volume, ts = 0, id;

	if (doc["pair"].get_string().get(pair) || doc["price"].get(v) ||
	    !fixed(v.raw_json_token(), 8, &price) || doc["volume"].get(v) ||
	    !fixed(v.raw_json_token(), 8, &volume))
		return false;
	if (!doc["timestamp"].get_string().get(raw)) {
		if (!rfc3339(raw, &ts))
			return false;
	} else if (doc["timestamp_ms"].get(v) || !fixed(v.raw_json_token(), 0, &ts))
		return false; // a number or a string of digits, as trades accepts
	if (doc["trade_id"].get(v) || !fixed(v.raw_json_token(), 0, &id))
		return false; // a number or a string of digits, as trades accepts
	*sum += pair.size() + (uint64_t)price + (uint64_t)volume + (uint64_t)ts + id;
	return true;
}

int main(int argc, char **argv)
{
	padded_string json;
	ondemand::parser parser;
	ondemand::document_stream stream;
	uint64_t lines = 0, bad = 0, sum = 0;

	bool threads = argc == 3 && strcmp(argv[1], "--threads") == 0;
	const char *path = argv[argc - 1];

	if (argc != 2 && !threads) {
		fprintf(stderr, "usage: bench_simdjson [--threads] FILE\n");
		return 2;
	}
	if (auto err = padded_string::load(path).get(json)) {
		fprintf(stderr, "bench_simdjson: %s: %s\n", path, error_message(err));
		return 1;
	}
#ifdef SIMDJSON_THREADS_ENABLED
	parser.threaded = threads;
#else
	if (threads) {
		fprintf(stderr, "bench_simdjson: --threads: simdjson built without threads\n");
		return 2;
	}
#endif
	volatile char touched = 0;
	for (size_t i = 0; i < json.size(); i += 4096) // bounded by the size
		touched ^= json.data()[i];
	(void)touched;
	double t0 = mono_s(), c0 = cpu_s();
	if (auto err = parser.iterate_many(json).get(stream)) {
		fprintf(stderr, "bench_simdjson: iterate_many: %s\n", error_message(err));
		return 1;
	}
	for (auto doc : stream) {
		ondemand::document_reference d;
		if (std::move(doc).get(d) || !one(d, &sum))
			bad++;
		lines++;
	}
	double s = mono_s() - t0, c = cpu_s() - c0;
	if (s <= 0)
		s = 1e-9;
	printf("lines %llu bytes %zu seconds %.6f lines_per_s %.0f mb_per_s %.1f bad %llu sum %llu "
	       "cpu_s %.6f\n",
	       (unsigned long long)lines, json.size(), s, lines / s, json.size() / 1e6 / s,
	       (unsigned long long)bad, (unsigned long long)(sum & 0xffff), c);
	return 0;
}
