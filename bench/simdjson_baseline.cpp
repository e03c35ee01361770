// simdjson_baseline.cpp -- the JSON-lines decode baseline of bench/run's
// replay-jsonl scenario (issue 13, goal 1): simdjson On-Demand iterate_many
// over the same in-memory JSON-lines file `trades replay --decode-only` reads,
// extracting the same five fields (pair, price, volume, timestamp or
// timestamp_ms, trade_id), price and volume to fixed-point integers as trades
// does.  Not linked with the core.
//   bench_simdjson FILE
// prints "lines N bytes B seconds S lines_per_s R mb_per_s M" on stdout;
// exit 1 with a message on a read or parse error.
#include <simdjson.h>

#include <cstdint>
#include <cstdio>
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
	if (!doc["timestamp"].get_string().get(raw))
		ts = (int64_t)raw.size(); // trades parses RFC 3339; here: found and read
	else if (doc["timestamp_ms"].get(v) || !fixed(v.raw_json_token(), 0, &ts))
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

	if (argc != 2) {
		fprintf(stderr, "usage: bench_simdjson FILE\n");
		return 2;
	}
	if (auto err = padded_string::load(argv[1]).get(json)) {
		fprintf(stderr, "bench_simdjson: %s: %s\n", argv[1], error_message(err));
		return 1;
	}
	double t0 = mono_s();
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
	double s = mono_s() - t0;
	if (s <= 0)
		s = 1e-9;
	printf("lines %llu bytes %zu seconds %.6f lines_per_s %.0f mb_per_s %.1f bad %llu sum %llu\n",
	       (unsigned long long)lines, json.size(), s, lines / s, json.size() / 1e6 / s,
	       (unsigned long long)bad, (unsigned long long)(sum & 0xffff));
	return 0;
}
