#!/usr/bin/env bash
# bench_kafka.sh BUILD_DIR [N] -- SMOKE figure: the Kafka sink's throughput
# into librdkafka's mock cluster against the journal's own append rate, in
# the same run.  The mock cluster is not a real broker (one process, no
# disk, no replication, ~5 MiB kept per partition), so the sink figure says
# "the sink is not the bottleneck up to X", nothing about a real cluster.
#
#   1. trades-gen writes N trades (default 200,000) to a file
#   2. trades replay stores them: decode + dedup + journal append + state
#      (the rate the journal grows at)
#   3. trades serve --kafka on that state dir, no input: the sink catches
#      up the whole journal into a fresh topic; its rate is measured between
#      the first and the last cursor-file updates (every 200 ms), so the
#      resume at start is not counted
#
# Exit status: 0 ok, 1 a step failed, 2 usage.
set -euo pipefail

usage() {
	echo "usage: $0 BUILD_DIR [N]   (N trades, default 200000)" >&2
	exit 2
}
if [ $# -lt 1 ] || [ $# -gt 2 ]; then usage; fi
BUILD=$1
N=${2:-200000}
[[ $N =~ ^[1-9][0-9]{0,8}$ ]] || { echo "$0: N must be a positive integer, got '$N'" >&2; exit 2; }
TRADES=$BUILD/trades
GEN=$BUILD/trades-gen
MOCK=$BUILD/trades-kafka-mock
START_WAIT_S=10

T=$(mktemp -d "${TMPDIR:-/tmp}/bench-kafka.XXXXXX")
source "$(dirname "$0")/lib.sh"
need_bins "$TRADES" "$GEN" "$MOCK"
MOCK_PID=
kafka_bench_cleanup() {
	exec 7>&- 2>/dev/null || true
	[ -z "$MOCK_PID" ] || kill -KILL "$MOCK_PID" 2>/dev/null || true
	bench_cleanup
}
trap kafka_bench_cleanup EXIT

echo "bench_kafka: $N trades, $(nproc) CPUs -- SMOKE: librdkafka's mock cluster is not a real broker"
"$GEN" --count "$N" --instruments 64 --seed 1 --out "$T/feed.jsonl" 2>"$T/gen.err" ||
	fail "trades-gen failed"

t0=$(now_ns)
"$TRADES" replay --state-dir "$T/state" "$T/feed.jsonl" 2>"$T/replay.err" || fail "replay failed"
replay_ns=$(($(now_ns) - t0))
grep -q " $N accepted" "$T/replay.err" || fail "replay: $(tail -n 1 "$T/replay.err")"
printf "journal  (replay: decode+dedup+append+state) %8s s  %10d trades/s\n" \
	"$(secs "$replay_ns")" "$(rate "$N" "$replay_ns")"

mkfifo "$T/mock.in"
"$MOCK" --partitions 8 <"$T/mock.in" >"$T/mock.out" 2>"$T/mock.err" &
MOCK_PID=$!
exec 7>"$T/mock.in"
RECV_PID=$MOCK_PID
wait_for "$T/mock.out" '^ready$'
BROKERS=$(awk '$1=="bootstrap" {print $2}' "$T/mock.out")

"$TRADES" serve --tcp 127.0.0.1:0 --udp 127.0.0.1:0 --state-dir "$T/state" --kafka "$BROKERS" \
	>"$T/serve.out" 2>"$T/serve.err" &
RECV_PID=$!
wait_for "$T/serve.out" '^ready$'
CUR=$T/state/sinks/kafka.cursor
END=$("$TRADES" stat --state-dir "$T/state" --json | grep -o '"applied_jseq":[0-9]*' | cut -d: -f2)
first_d= first_ns= d=0 ns=0
for _ in $(seq 1 6000); do # 10 ms steps, 60 s at most
	if [ -f "$CUR" ]; then
		read -r d ns < <(awk '$1=="delivered" {d=$2} $1=="updated_ns" {u=$2} END {print (d == "" ? 0 : d), (u == "" ? 0 : u)}' "$CUR")
		if [ -z "$first_d" ] && [ "$d" -gt 0 ]; then first_d=$d first_ns=$ns; fi
		[ "$d" -ge "$END" ] && break
	fi
	sleep 0.01
done
[ "$d" -ge "$END" ] || fail "the sink delivered $d of $END journal entries in 60 s"
stop_serve
span=$((ns - first_ns))
if [ "$span" -le 0 ]; then
	echo "kafka sink: caught up within one cursor period (200 ms): run with a larger N"
	exit 0
fi
krate=$(((d - first_d) * 1000000000 / span))
printf "kafka sink (catch-up into the mock cluster)  %8s s  %10d entries/s  (%d of %d entries timed)\n" \
	"$(secs "$span")" "$krate" $((d - first_d)) "$END"
awk -v k="$krate" -v j="$(rate "$N" "$replay_ns")" \
	'BEGIN { printf "ratio kafka sink / journal append: %.2f  (SMOKE, mock cluster)\n", k / j }'
