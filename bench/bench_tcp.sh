#!/usr/bin/env bash
# bench_tcp.sh BUILD_DIR [N] -- TCP ingest of `trades serve` against a
# read()-only receiver on the same machine, in the same run.
#
# For each receiver -- bench_tcp_read (read() and count newlines: the floor),
# `trades serve --io uring`, `trades serve --io epoll` -- starts it on
# 127.0.0.1:0, streams N trades (default 2,000,000) over one connection with
# `trades-gen --tcp` as fast as it goes, and measures wall time from the start
# of the send until the receiver has everything: the baseline has exited,
# serve's `trades stat --json` shows accepted == N (polled every 5 ms once the
# sender is done; the poll's own cost is a few ms).  Prints trades/s and the
# ratio to the baseline.  The generator alone (to /dev/null) is measured
# first: a baseline close to it means the sender, not the receiver, is the
# limit.  BENCH_SYNC picks serve's journal sync policy (default none).
#
# Exit status: 0 ok, 1 a step failed or timed out, 2 usage.
set -euo pipefail

usage() {
	echo "usage: $0 BUILD_DIR [N]   (N trades, default 2000000)" >&2
	exit 2
}
if [ $# -lt 1 ] || [ $# -gt 2 ]; then usage; fi
BUILD=$1
N=${2:-2000000}
[[ $N =~ ^[1-9][0-9]{0,10}$ ]] || { echo "$0: N must be a positive integer, got '$N'" >&2; exit 2; }
TRADES=$BUILD/trades
GEN=$BUILD/trades-gen
BASE=$BUILD/bench/bench_tcp_read
SYNC=${BENCH_SYNC:-none}
PY=${PYTHON:-python3}
WAIT_S=120 # longest wait for a receiver to get everything
START_WAIT_S=10 # longest wait for a receiver to start

T=$(mktemp -d "${TMPDIR:-/tmp}/bench-tcp.XXXXXX")
source "$(dirname "$0")/lib.sh"
need_bins "$TRADES" "$GEN" "$BASE"

send() {
	"$GEN" --count "$N" --seed 1 --tcp "127.0.0.1:$1" 2>"$T/gen.err" || fail "trades-gen failed"
}

# The ceiling: what the generator makes per second with nowhere to send.
bench_gen() {
	local t0 ns
	t0=$(now_ns)
	"$GEN" --count "$N" --seed 1 --out /dev/null 2>"$T/gen.err" || fail "trades-gen failed"
	ns=$(($(now_ns) - t0))
	printf "%-22s %8s s  %10d trades/s  (to /dev/null: the ceiling)\n" "generator alone" \
		"$(secs "$ns")" "$(rate "$N" "$ns")"
}

bench_baseline() {
	local port t0 lines
	"$BASE" --connections 1 >"$T/base.out" 2>"$T/base.err" &
	RECV_PID=$!
	wait_for "$T/base.out" '^listening [0-9]+$'
	port=$(awk '$1 == "listening" { print $2; exit }' "$T/base.out")
	t0=$(now_ns)
	send "$port"
	for _ in $(seq 1 $((WAIT_S * 200))); do # 5 ms steps
		kill -0 "$RECV_PID" 2>/dev/null || break
		sleep 0.005
	done
	BASE_NS=$(($(now_ns) - t0))
	kill -0 "$RECV_PID" 2>/dev/null && fail "baseline still reading after $WAIT_S s"
	wait "$RECV_PID" || fail "baseline receiver failed"
	RECV_PID=
	lines=$(awk '$1 == "bytes" { print $4 }' "$T/base.out")
	[ "$lines" = "$N" ] || fail "baseline counted '$lines' lines, want $N"
	printf "%-22s %8s s  %10d trades/s  1.00\n" "read()-only baseline" "$(secs "$BASE_NS")" \
		"$(rate "$N" "$BASE_NS")"
}

# Started before the send; once FLAG exists, polls `trades stat --json` until
# accepted reaches N and prints the wall clock (ns) of that moment.
POLLER='
import json, os, subprocess, sys, time
trades, state, flag, want, wait_s = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
end = time.monotonic() + wait_s
while not os.path.exists(flag) and time.monotonic() < end:
    time.sleep(0.002)
got = -1
while time.monotonic() < end:
    out = subprocess.run([trades, "stat", "--state-dir", state, "--json"], capture_output=True)
    if out.returncode == 0:
        got = sum(f["accepted"] for f in json.loads(out.stdout)["feeds"])
        if got >= want:
            print(time.time_ns(), got)
            sys.exit(0)
    time.sleep(0.005)
print("timeout", got)
sys.exit(1)
'

bench_serve() {
	local io=$1 port t0 t1 got poller ns
	rm -rf "$T/state" "$T/flag"
	"$TRADES" serve --tcp 127.0.0.1:0 --io "$io" --sync "$SYNC" --state-dir "$T/state" \
		>"$T/serve.out" 2>"$T/serve.err" &
	RECV_PID=$!
	wait_for "$T/serve.out" '^ready$'
	grep -q "io: $io" "$T/serve.err" || fail "serve does not report 'io: $io'"
	port=$(awk '$1 == "listening" && $2 == "tcp" { n = split($3, a, ":"); print a[n]; exit }' \
		"$T/serve.out")
	"$PY" -c "$POLLER" "$TRADES" "$T/state" "$T/flag" "$N" "$WAIT_S" >"$T/poll.out" &
	poller=$!
	t0=$(now_ns)
	send "$port"
	touch "$T/flag"
	wait "$poller" || fail "serve --io $io: $(cat "$T/poll.out") of $N accepted after $WAIT_S s"
	read -r t1 got <"$T/poll.out"
	[ "$got" = "$N" ] || fail "serve --io $io accepted $got, want $N"
	stop_serve
	ns=$((t1 - t0))
	printf "%-22s %8s s  %10d trades/s  %.2f\n" "serve --io $io" "$(secs "$ns")" \
		"$(rate "$N" "$ns")" "$(awk -v b="$BASE_NS" -v s="$ns" 'BEGIN { print b / s }')"
}

echo "bench_tcp: $N trades over 1 TCP connection, serve --sync $SYNC, $(nproc) CPUs"
printf "%-22s %10s  %10s  %s\n" "receiver" "wall" "rate" "vs baseline"
bench_gen
bench_baseline
bench_serve uring
bench_serve epoll
