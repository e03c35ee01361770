#!/usr/bin/env bash
# bench_replay.sh BUILD_DIR [N] -- what storing costs on top of decoding.
#
# Generates N trades (default 10,000,000) to a file, then times
#   trades replay --decode-only   (parse and count: the baseline)
#   trades replay                 (parse, dedup, journal, state: the real thing)
# each into a fresh state dir, best of 3 runs (1 run when N > 20,000,000;
# BENCH_RUNS overrides), and prints trades/s of each and the ratio full /
# decode-only.  Wall-clock times, process start and file reads included.
# BENCH_SYNC picks the journal sync policy of the full run (default none).
#
# Exit status: 0 ok, 1 a step failed, 2 usage.
set -euo pipefail

usage() {
	echo "usage: $0 BUILD_DIR [N]   (N trades, default 10000000)" >&2
	exit 2
}
if [ $# -lt 1 ] || [ $# -gt 2 ]; then usage; fi
BUILD=$1
N=${2:-10000000}
[[ $N =~ ^[1-9][0-9]{0,10}$ ]] || { echo "$0: N must be a positive integer, got '$N'" >&2; exit 2; }
TRADES=$BUILD/trades
GEN=$BUILD/trades-gen
SYNC=${BENCH_SYNC:-none}
RUNS=${BENCH_RUNS:-$([ "$N" -gt 20000000 ] && echo 1 || echo 3)}
[[ $RUNS =~ ^[1-9]$ ]] || { echo "$0: BENCH_RUNS must be 1..9, got '$RUNS'" >&2; exit 2; }

T=$(mktemp -d "${TMPDIR:-/tmp}/bench-replay.XXXXXX")
source "$(dirname "$0")/lib.sh"
need_bins "$TRADES" "$GEN"

echo "bench_replay: $N trades, $RUNS run(s) each, sync=$SYNC, $(nproc) CPUs"
t0=$(now_ns)
"$GEN" --count "$N" --seed 1 --out "$T/feed.jsonl" 2>"$T/gen.err" ||
	{ echo "$0: trades-gen failed: $(cat "$T/gen.err")" >&2; exit 1; }
gen_ns=$(($(now_ns) - t0))
printf "generate      %8s s  %10d trades/s  (%d MB file)\n" "$(secs "$gen_ns")" "$(rate "$N" "$gen_ns")" \
	$(($(stat -c %s "$T/feed.jsonl") / 1000000))

# best_of LABEL ARGS...: runs `trades replay ARGS... FILE` RUNS times, each
# into a fresh state dir; checks the summary; sets BEST_NS.
best_of() {
	local label=$1 i t ns
	shift
	BEST_NS=0
	for i in $(seq 1 "$RUNS"); do
		rm -rf "$T/state"
		t=$(now_ns)
		"$TRADES" replay "$@" --state-dir "$T/state" "$T/feed.jsonl" 2>"$T/replay.err" ||
			{ echo "$0: $label run $i failed: $(tail -n 3 "$T/replay.err")" >&2; exit 1; }
		ns=$(($(now_ns) - t))
		grep -q " $N accepted" "$T/replay.err" ||
			{ echo "$0: $label run $i: unexpected summary: $(tail -n 1 "$T/replay.err")" >&2; exit 1; }
		if [ "$BEST_NS" -eq 0 ] || [ "$ns" -lt "$BEST_NS" ]; then BEST_NS=$ns; fi
	done
	printf "%-13s %8s s  %10d trades/s\n" "$label" "$(secs "$BEST_NS")" "$(rate "$N" "$BEST_NS")"
}

best_of decode-only --decode-only
decode_ns=$BEST_NS
best_of full --sync "$SYNC"
full_ns=$BEST_NS
# ratio of rates full / decode-only = decode time / full time
awk -v d="$decode_ns" -v f="$full_ns" 'BEGIN {
	printf "ratio full/decode-only: %.2f  (storing keeps %.0f%% of the decode rate)\n", d / f, 100 * d / f
}'
