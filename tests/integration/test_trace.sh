#!/usr/bin/env bash
# test_trace.sh -- trades-trace against a live `trades serve` (root, kernel BTF):
#  1. every trade the service accepts inside the window is in the histograms,
#     the percentiles are ordered and plausible, refused lines appear as drops
#     by reason, the interval lines add up to the final line;
#  2. kernel_drops counts the traced process's socket only: another service's
#     overflowing socket leaves it at 0, overflowing the traced one raises it
#     (never above the kernel's own RcvbufErrors count);
#  3. the sampled per-trade probe fires for 1 trade in --trace-sample N;
#  4. detaching leaves the service running and its totals exact;
#  5. without privileges: exit 1 and one line naming the capability.
source "$(dirname "$0")/lib.sh"
: "${TRADES_TRACE:?TRADES_TRACE must point at the trades-trace binary}"
[ "$(id -u)" -eq 0 ] || fail "needs root (CAP_BPF, CAP_PERFMON, CAP_SYS_PTRACE) to load BPF"
[ -r /sys/kernel/btf/vmlinux ] || fail "needs kernel BTF (/sys/kernel/btf/vmlinux)"
command -v setpriv >/dev/null || fail "needs setpriv (Debian package util-linux)"

B_PID= TRACE_PID=
trace_cleanup() {
	for p in $TRACE_PID $B_PID; do kill -KILL "$p" 2>/dev/null || true; done
	cleanup
}
trap trace_cleanup EXIT

# rcvbuf_errors: the kernel's UDP RcvbufErrors counter (all sockets).
rcvbuf_errors() {
	awk '$1=="Udp:" && !h {for (i=1;i<=NF;i++) c[$i]=i; h=1; next} $1=="Udp:" {print $c["RcvbufErrors"]}' /proc/net/snmp
}

# start_trace NAME PID ARGS...: trades-trace in the background, until it says it is tracing.
start_trace() {
	local name=$1 pid=$2 i
	shift 2
	"$TRADES_TRACE" -p "$pid" "$@" >"$T/$name.out" 2>"$T/$name.err" &
	TRACE_PID=$!
	for i in $(seq 1 100); do # 10 s
		grep -q '^trades-trace: tracing pid' "$T/$name.err" && return 0
		kill -0 "$TRACE_PID" 2>/dev/null || fail "trades-trace exited: $(cat "$T/$name.err")"
		sleep 0.1
	done
	fail "trades-trace did not attach in 10 s: $(cat "$T/$name.err")"
}

# stop_trace ERRFILE: SIGINT (the operator's Ctrl-C) ends the window; the final line follows.
stop_trace() {
	kill -INT "$TRACE_PID"
	wait_trace "$1"
}

wait_trace() {
	local rc=0
	wait "$TRACE_PID" || rc=$?
	TRACE_PID=
	[ "$rc" -eq 0 ] || fail "trades-trace exited $rc: $(cat "$1")"
}

accepted() {
	"$TRADES" stat --state-dir "$1" --json | "$PY" -c \
		'import json,sys; print(sum(f["accepted"] for f in json.load(sys.stdin)["feeds"]))'
}

# Service A: traced.  --sync always, so every committed batch is synced.
start_serve a --udp 127.0.0.1:0 --tcp 127.0.0.1:0 --state-dir "$T/a" --sync always \
	--trace-sample 100
A_PID=$SERVE_PID A_UDP=$UDP_PORT A_TCP=$TCP_PORT
# Service B: not traced, a receive buffer small enough to overflow.
"$TRADES" serve --udp 127.0.0.1:0 --state-dir "$T/b" --rcvbuf 4096 >"$T/b.out" 2>"$T/b.err" &
B_PID=$!
for i in $(seq 1 100); do grep -q '^ready$' "$T/b.out" && break; sleep 0.1; done
B_UDP=$(awk '$1=="listening" && $2=="udp" {n=split($3,a,":"); print a[n]; exit}' "$T/b.out")
[ -n "$B_UDP" ] || fail "service B did not start: $(cat "$T/b.err")"

# ---- 1 and 2: one window, everything sent inside it ----
before=$(accepted "$T/a")
start_trace t1 "$A_PID" -d 120 -i 1 --json
snmp0=$(rcvbuf_errors)
"$TRADES_GEN" --count 60000 --seed 5 --udp "127.0.0.1:$B_UDP" 2>"$T/genb.err" || fail "gen B"
"$TRADES_GEN" --count 40000 --seed 6 --udp "127.0.0.1:$A_UDP" --rate 100000 \
	--totals "$T/udp.json" 2>"$T/gen1.err" || fail "gen udp: $(cat "$T/gen1.err")"
wait_received "$T/a" 40000 30
"$TRADES_GEN" --count 30000 --seed 7 --tcp "127.0.0.1:$A_TCP" --malformed-every 1000 \
	--totals "$T/tcp.json" 2>"$T/gen2.err" || fail "gen tcp: $(cat "$T/gen2.err")"
wait_received "$T/a" 70030 30
snmp1=$(rcvbuf_errors)
stop_trace "$T/t1.err"
after=$(accepted "$T/a")
[ "$snmp1" -gt "$snmp0" ] || fail "service B's socket did not overflow (RcvbufErrors $snmp0 -> $snmp1)"
kill -0 "$A_PID" || fail "service A died while traced"

"$PY" - "$T/t1.out" "$((after - before))" "$T/tcp.json" "$A_PID" <<'PY' || fail "trace window 1 wrong"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
want, tcp, pid = int(sys.argv[2]), json.load(open(sys.argv[3])), int(sys.argv[4])
final, inter = lines[-1], lines[:-1]
errs = []
def check(cond, msg):
    if not cond: errs.append(msg)
check(final.get("final") is True and all("final" not in l for l in inter), "final flag")
keys = ["pid", "interval_s", "batches", "trades", "stages", "gaps", "drops", "kernel_drops"]
for l in lines:
    check(list(l)[:8] == keys, f"keys {list(l)}")
    check(l["pid"] == pid, "pid")
check(want == 70000, f"service accepted {want}, want 70000")
check(final["trades"] == want, f"final trades {final['trades']} != accepted {want}")
check(sum(l["trades"] for l in inter) == final["trades"], "intervals do not add up")
st = final["stages"]
for s in ("user_to_decoded", "decoded_to_committed", "committed_to_synced"):
    check(st[s]["count"] == want, f"{s} counted {st[s]['count']} trades, want {want}")
check(st["kernel_to_user"]["count"] == 40000,
      f"kernel_to_user counted {st['kernel_to_user']['count']}, want the 40000 UDP trades")
for name, h in st.items():
    check(sum(h["log2_ns"]) == h["count"], f"{name}: log2_ns sums to {sum(h['log2_ns'])}")
    check(h["p50_ns"] <= h["p99_ns"] <= h["p999_ns"] <= h["max_ns"], f"{name}: percentiles {h}")
    check(0 < h["max_ns"] < 30e9, f"{name}: max {h['max_ns']} ns not plausible")
    check(len(h["log2_ns"]) <= 64, f"{name}: too many slots")
    # p50 lies in the log2 slot where half the trades are reached
    seen, slot = 0, 0
    for i, c in enumerate(h["log2_ns"]):
        seen += c
        if 2 * seen >= h["count"]:
            slot = i
            break
    check((1 << slot) - 1 <= h["p50_ns"] < (2 << slot), f"{name}: p50 {h['p50_ns']} not in slot {slot}")
check(st["kernel_to_user"]["p50_ns"] > 0, "kernel_to_user p50 is 0")
# end to end: the same UDP trades, each at least as late as its kernel_to_user part
k2c, k2u = st["kernel_to_committed"], st["kernel_to_user"]
check(k2c["count"] == 40000, f"kernel_to_committed counted {k2c['count']}, want the 40000 UDP trades")
for q in ("p50_ns", "p99_ns", "p999_ns"):
    check(k2c[q] >= k2u[q], f"kernel_to_committed {q} {k2c[q]} < kernel_to_user's {k2u[q]}")
check(list(st)[-1] == "kernel_to_committed", f"stage order {list(st)}")
check(final["batches"] > 0 and final["batches"] <= 70030, f"batches {final['batches']}")
check(final["drops"] == tcp["malformed_by"], f"drops {final['drops']} != {tcp['malformed_by']}")
check(final["gaps"] == 0, "gaps")
check(final["kernel_drops"] == 0, f"kernel_drops {final['kernel_drops']}: B's drops counted for A")
if errs:
    print("\n".join(errs)); sys.exit(1)
print(f"window 1: {want} trades, k2u p50 {k2u['p50_ns']} ns, k2c p50 {k2c['p50_ns']} ns")
PY

# ---- 2: the traced socket overflows ----
kill -TERM "$B_PID"
wait "$B_PID" || fail "service B exited $? after SIGTERM"
B_PID=
"$TRADES" serve --udp 127.0.0.1:0 --state-dir "$T/c" --rcvbuf 4096 >"$T/c.out" 2>"$T/c.err" &
B_PID=$!
for i in $(seq 1 100); do grep -q '^ready$' "$T/c.out" && break; sleep 0.1; done
C_UDP=$(awk '$1=="listening" && $2=="udp" {n=split($3,a,":"); print a[n]; exit}' "$T/c.out")
[ -n "$C_UDP" ] || fail "service C did not start: $(cat "$T/c.err")"
start_trace t2 "$B_PID" -d 4 --json
snmp0=$(rcvbuf_errors)
"$TRADES_GEN" --count 60000 --seed 8 --udp "127.0.0.1:$C_UDP" 2>"$T/genc.err" || fail "gen C"
sleep 1
snmp1=$(rcvbuf_errors)
wait_trace "$T/t2.err"
kd=$("$PY" -c 'import json,sys; print(json.loads(open(sys.argv[1]).readlines()[-1])["kernel_drops"])' "$T/t2.out")
[ "$kd" -gt 0 ] || fail "kernel_drops stayed 0 while the traced socket overflowed ($((snmp1 - snmp0)) RcvbufErrors)"
[ "$kd" -le $((snmp1 - snmp0)) ] || fail "kernel_drops $kd > the kernel's RcvbufErrors $((snmp1 - snmp0))"
echo "kernel drops: $kd of $((snmp1 - snmp0)) system-wide RcvbufErrors"
kill -TERM "$B_PID"
wait "$B_PID" || fail "service C exited $? after SIGTERM"
B_PID=

# ---- 3: the sampled per-trade probe (text output) ----
# (this seed repeats trade ids of earlier ones: the duplicates are refused, not traced)
before=$(accepted "$T/a")
start_trace t3 "$A_PID" -d 120 -i 60
"$TRADES_GEN" --count 10000 --seed 9 --tcp "127.0.0.1:$A_TCP" 2>"$T/gen3.err" || fail "gen 3"
wait_received "$T/a" 80030 30
stop_trace "$T/t3.err"
n=$(($(accepted "$T/a") - before))
[ "$n" -gt 1000 ] || fail "only $n new trades accepted in window 3"
grep -q "^user_to_decoded: $n trades  p50 " "$T/t3.out" ||
	fail "text: no 'user_to_decoded: $n trades' line: $(head -20 "$T/t3.out")"
grep -q '^ *[0-9]* -> [0-9]* *: [0-9]* *|\** *|$' "$T/t3.out" || fail "text: no log2 histogram rows"
# TCP reads carry no kernel stamp: the end-to-end stage prints, with no trades
grep -q '^kernel_to_committed: no trades$' "$T/t3.out" ||
	fail "text: no 'kernel_to_committed: no trades' line for TCP: $(grep kernel_ "$T/t3.out")"
samples=$(awk '/TOTAL/ {t=1} t && $1=="feed" {s+=$3} END {print s+0}' "$T/t3.out")
[ "$samples" -ge $((n / 100)) ] && [ "$samples" -le $((n / 100 + 1)) ] ||
	fail "sampled $samples trades of $n at 1 in 100"

# ---- 4: detached, the service runs on and counts exactly ----
kill -0 "$A_PID" || fail "service A died after detach"
"$TRADES_GEN" --count 5000 --seed 10 --tcp "127.0.0.1:$A_TCP" 2>"$T/gen4.err" || fail "gen 4"
wait_received "$T/a" 85030 30
stop_serve
stat_json "$T/a" "$T/a.json"
"$TRADES" tail --state-dir "$T/a" >"$T/a.tail" || fail "tail failed"
"$PY" - "$T/a.json" "$(wc -l <"$T/a.tail")" <<'PY' || fail "service A's totals after detaching"
import json, sys
d, journal = json.load(open(sys.argv[1])), int(sys.argv[2])
rx = sum(f["received"] for f in d["feeds"])
acc = sum(f["accepted"] for f in d["feeds"])
ok = rx == 85030 and journal == acc and d["clean"] and all(
    f["received"] == f["accepted"] + f["duplicates"] + f["malformed"] for f in d["feeds"])
print(f"received {rx} (sent 85030), accepted {acc}, journal {journal}, clean {d['clean']}")
sys.exit(0 if ok else 1)
PY

# ---- 5: unprivileged ----
"$TRADES" serve --udp 127.0.0.1:0 --state-dir "$T/d" >"$T/d.out" 2>"$T/d.err" &
SERVE_PID=$!
for i in $(seq 1 100); do grep -q '^ready$' "$T/d.out" && break; sleep 0.1; done
rc=0
setpriv --reuid=nobody --regid=nogroup --clear-groups --inh-caps=-all \
	"$TRADES_TRACE" -p "$SERVE_PID" -d 1 >"$T/np.out" 2>"$T/np.err" || rc=$?
[ "$rc" -eq 1 ] || fail "unprivileged trades-trace exited $rc, want 1: $(cat "$T/np.err")"
[ "$(wc -l <"$T/np.err")" -eq 1 ] || fail "unprivileged: not one line: $(cat "$T/np.err")"
grep -q '^trades-trace: missing capability CAP_BPF' "$T/np.err" || fail "unprivileged: $(cat "$T/np.err")"
[ ! -s "$T/np.out" ] || fail "unprivileged: wrote to stdout"
stop_serve
# a process that is not trades, and a usage error: one line each, exit 1 and 2
rc=0
"$TRADES_TRACE" -p $$ -d 1 >"$T/nt.out" 2>"$T/nt.err" || rc=$?
[ "$rc" -eq 1 ] && [ "$(wc -l <"$T/nt.err")" -eq 1 ] && grep -q 'has no USDT probe trades:' "$T/nt.err" ||
	fail "not-trades pid: exit $rc: $(cat "$T/nt.err")"
rc=0
"$TRADES_TRACE" -d 1 2>"$T/us.err" || rc=$?
[ "$rc" -eq 2 ] || fail "no -p/-b: exit $rc, want 2"
echo "PASS trace: $(cat "$T/np.err")"
