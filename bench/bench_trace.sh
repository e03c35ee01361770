#!/usr/bin/env bash
# bench_trace.sh BUILD_DIR [N] [ROUNDS] -- what `trades-trace` attached costs `trades serve`.
#
# Rounds alternate (off, on, off, on, ...; ROUNDS of each, default 2) so that drift in a
# shared machine's load hits both sides alike.  Each run starts a fresh `trades serve --tcp
# 127.0.0.1:0 --io uring` (empty state dir), attaches `trades-trace -p PID --json` at its
# default settings (1 s interval, serve's default --trace-sample 1024) when "on", streams N
# trades (default 200,000) over one connection (generated once, sent with cat), and measures
# until serve, sent SIGTERM once the send is done, has read the rest and exited: wall time,
# and the CPU time the service used (wait4), which other load disturbs far less.  `trades
# stat` must then show all N accepted, and the tracer must have counted all N.
# Prints each run, the medians, the ratios on/off and the overhead in service CPU per trade;
# with BENCH_STRICT=1 exits 1 when that is 5% or more.  BENCH_SYNC: serve's --sync (none).
#
# Needs root (the tracer).  Exit status: 0 ok, 1 a step failed or timed out, 2 usage.
set -euo pipefail

usage() {
	echo "usage: $0 BUILD_DIR [N] [ROUNDS]   (N trades per run, default 200000; ROUNDS 2)" >&2
	exit 2
}
if [ $# -lt 1 ] || [ $# -gt 3 ]; then usage; fi
BUILD=$1
N=${2:-200000}
ROUNDS=${3:-2}
[[ $N =~ ^[1-9][0-9]{0,9}$ ]] || { echo "$0: N must be a positive integer, got '$N'" >&2; exit 2; }
[[ $ROUNDS =~ ^[1-9]$ ]] || { echo "$0: ROUNDS must be 1..9, got '$ROUNDS'" >&2; exit 2; }
TRADES=$BUILD/trades
GEN=$BUILD/trades-gen
TRACE=$BUILD/bpf/trades-trace
SYNC=${BENCH_SYNC:-none}
PY=${PYTHON:-python3}
START_WAIT_S=10 # longest wait for serve or the tracer to start

T=$(mktemp -d "${TMPDIR:-/tmp}/bench-trace.XXXXXX")
source "$(dirname "$0")/lib.sh"
need_bins "$TRADES" "$GEN" "$TRACE"
[ "$(id -u)" -eq 0 ] || { echo "$0: needs root for trades-trace" >&2; exit 2; }

TRACE_PID=
trace_bench_cleanup() {
	[ -z "$TRACE_PID" ] || kill -KILL "$TRACE_PID" 2>/dev/null || true
	bench_cleanup
}
trap trace_bench_cleanup EXIT

accepted() {
	"$TRADES" stat --state-dir "$1" --json 2>/dev/null | "$PY" -c \
		'import json,sys; print(sum(f["accepted"] for f in json.load(sys.stdin)["feeds"]))' ||
		echo 0
}

# Runs serve as its child: forwards SIGTERM, writes serve's PID to $1.pid and, once it has
# exited, the CPU seconds it used (user + system, from wait4) to $1.cpu; exits as serve did.
RUSAGE='
import os, signal, subprocess, sys
out = sys.argv[1]
p = subprocess.Popen(sys.argv[2:], stdout=open(out + ".out", "w"), stderr=open(out + ".err", "w"))
open(out + ".pid", "w").write(f"{p.pid}\n")
signal.signal(signal.SIGTERM, lambda *a: p.send_signal(signal.SIGTERM))
while True:
    try:
        _, status, ru = os.wait4(p.pid, 0)
        break
    except InterruptedError:
        continue
open(out + ".cpu", "w").write(f"{ru.ru_utime + ru.ru_stime:.6f}\n")
sys.exit(os.waitstatus_to_exitcode(status))
'

# run_one MODE ROUND: one fresh service, traced or not.
run_one() {
	local mode=$1 r=$2 dir="$T/s-$1-$2" port t0 ns pid cpu
	rm -f "$T/serve.pid" "$T/serve.out" "$T/serve.cpu"
	"$PY" -c "$RUSAGE" "$T/serve" "$TRADES" serve --tcp 127.0.0.1:0 --io uring \
		--state-dir "$dir" --sync "$SYNC" &
	RECV_PID=$!
	wait_for "$T/serve.out" '^ready$'
	pid=$(cat "$T/serve.pid")
	port=$(awk '$1=="listening" && $2=="tcp" {n=split($3,a,":"); print a[n]; exit}' "$T/serve.out")
	if [ "$mode" = on ]; then
		"$TRACE" -p "$pid" --json >"$T/trace-$r.json" 2>"$T/trace.err" &
		TRACE_PID=$!
		wait_for "$T/trace.err" '^trades-trace: tracing pid'
	fi
	t0=$(now_ns)
	cat "$T/data.jsonl" >"/dev/tcp/127.0.0.1/$port" || fail "sending to port $port failed"
	stop_serve # SIGTERM once sent: serve reads what the socket still holds, commits, exits 0
	ns=$(($(now_ns) - t0))
	cpu=$(cat "$T/serve.cpu")
	[ "$(accepted "$dir")" -eq "$N" ] || fail "$mode run $r: accepted $(accepted "$dir") of $N"
	if [ "$mode" = on ]; then
		kill -INT "$TRACE_PID"
		wait "$TRACE_PID" || fail "trades-trace exited $?"
		TRACE_PID=
		tail -n 1 "$T/trace-$r.json" | "$PY" -c 'import json,sys; d=json.load(sys.stdin)
n, b, t = int(sys.argv[1]), d["batches"], d["trades"]
assert d["final"] and t == n, (t, n)
print("  traced: %d batches, %d trades, %.0f trades per batch" % (b, t, t / max(b, 1)))' "$N" ||
			fail "tracer did not count all $N trades of the run"
	fi
	rm -rf "$dir"
	printf "%-4s round %d %8s s  %10d trades/s  %8s CPU s\n" "$mode" "$r" "$(secs "$ns")" \
		"$(rate "$N" "$ns")" "$cpu"
	echo "$mode $ns $cpu" >>"$T/runs"
}

# Generated once, sent by cat: the sender costs the same in every run.
"$GEN" --count "$N" --seed 1 --out "$T/data.jsonl" 2>"$T/gen.err" || fail "trades-gen failed"
echo "trades serve --tcp --io uring --sync $SYNC, $N trades per run, $ROUNDS rounds each"
for r in $(seq 1 "$ROUNDS"); do
	run_one off "$r"
	run_one on "$r"
done
"$PY" - "$T/runs" "$N" "${BENCH_STRICT:-0}" <<'PY'
import statistics, sys
runs = [l.split() for l in open(sys.argv[1])]
n, strict = int(sys.argv[2]), sys.argv[3] == "1"
def med(mode, col):
    return statistics.median(float(r[col]) for r in runs if r[0] == mode)
wall = {m: n / med(m, 1) * 1e9 for m in ("off", "on")}
cpu = {m: n / max(med(m, 2), 1e-6) for m in ("off", "on")}
for what, d in (("wall clock", wall), ("per CPU second", cpu)):
    print(f"{what:15s} median off {d['off']:10.0f} trades/s  on {d['on']:10.0f} trades/s  "
          f"ratio on/off {d['on'] / d['off']:.3f}  overhead {(1 - d['on'] / d['off']) * 100:+.1f}%")
over = (1 - cpu["on"] / cpu["off"]) * 100
print(f"overhead (service CPU per trade) {over:+.1f}% (limit 5%)")
sys.exit(1 if strict and over >= 5 else 0)
PY
