#!/usr/bin/env bash
# test_trace_bpftrace.sh -- every bpftrace one-liner in bpf/README.md runs against a live
# `trades serve` under traffic and prints the map its "# expect:" line names, non-zero.
# The service overflows its small receive buffer on purpose (the kfree_skb one-liner) and
# gets malformed lines (the drop one-liner).  tracefs, when not mounted, is mounted in a
# private mount namespace of the one-liner's own, never on the host.
source "$(dirname "$0")/lib.sh"
: "${SRCDIR:?SRCDIR must point at the source tree}"
[ "$(id -u)" -eq 0 ] || fail "needs root to run bpftrace"
command -v bpftrace >/dev/null || fail "needs bpftrace (Debian package bpftrace)"
command -v unshare >/dev/null || fail "needs unshare (Debian package util-linux)"

BT_PID=
bt_cleanup() {
	[ -z "$BT_PID" ] || kill -KILL "$BT_PID" 2>/dev/null || true
	cleanup
}
trap bt_cleanup EXIT

# "expect<TAB>command" for every one-liner of the README
awk '/^# expect: / {e=$3; next} /^bpftrace / && e != "" {print e "\t" $0; e=""}' \
	"$SRCDIR/bpf/README.md" >"$T/liners.tsv"
n=$(wc -l <"$T/liners.tsv")
[ "$n" -ge 8 ] || fail "found only $n one-liners in bpf/README.md"

i=0
while IFS=$'\t' read -r expect cmd; do
	i=$((i + 1))
	out="$T/bt$i.out"
	# a fresh service and state per one-liner: the generator's trade ids of one seed can sit
	# below another seed's high-water mark, and trades:trade fires only for accepted trades
	start_serve s$i --udp 127.0.0.1:0 --state-dir "$T/s$i" --sync always --rcvbuf 4096 \
		--trace-sample 10
	PID=$SERVE_PID
	cmd=${cmd//\$PID/$PID}
	# exec: SIGINT reaches bpftrace itself, which prints its maps and exits 0
	unshare -m bash -c 'mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing
		eval "exec $1"' bash "$cmd" >"$out" 2>&1 &
	BT_PID=$!
	for j in $(seq 1 600); do # 60 s
		grep -q '^Attaching' "$out" && break
		kill -0 "$BT_PID" 2>/dev/null || fail "one-liner $i exited: $cmd: $(cat "$out")"
		sleep 0.1
	done
	grep -q '^Attaching' "$out" || fail "one-liner $i did not attach in 60 s: $cmd"
	sleep 3 # "Attaching" comes before the probes are in place
	"$TRADES_GEN" --count 20000 --seed "$i" --udp "127.0.0.1:$UDP_PORT" --malformed-every 500 \
		2>"$T/gen.err" || fail "gen: $(cat "$T/gen.err")"
	sleep 1.5
	# SIGINT: bpftrace prints its maps and exits 0.  Under load it has been seen to miss one
	# that came while it was still attaching: repeat every 5 s, for 60 s at most.
	rc=0
	for j in $(seq 0 599); do
		[ $((j % 50)) -eq 0 ] && kill -INT "$BT_PID" 2>/dev/null
		sleep 0.1
		kill -0 "$BT_PID" 2>/dev/null || break
	done
	kill -0 "$BT_PID" 2>/dev/null && fail "one-liner $i still running 60 s after SIGINT: $cmd: $(tail -5 "$out")"
	wait "$BT_PID" || rc=$?
	BT_PID=
	[ "$rc" -eq 0 ] || fail "one-liner $i exited $rc: $cmd: $(tail -5 "$out")"
	errs=$(grep '^ERROR' "$out" | grep -v RLIMIT_MEMLOCK || true)
	[ -z "$errs" ] || fail "one-liner $i: $errs"
	if [ "$expect" != nothing ]; then
		# a count ("@x: 12", "@x[k]: 3") or a histogram ("@x:" then "[4, 8)  12 |@@@|")
		grep -Eq "^$expect(\[.*\])?: [1-9]" "$out" ||
			{ grep -Eq "^$expect(\[.*\])?: ?\$" "$out" &&
				grep -Eq '^\[[0-9][^]]*[])] +[1-9][0-9]* +\|' "$out"; } ||
			fail "one-liner $i printed no $expect: $cmd: $(tail -8 "$out")"
	fi
	kill -0 "$PID" || fail "service died under bpftrace (one-liner $i)"
	stop_serve
	echo "ok $i: $expect"
done <"$T/liners.tsv"
echo "PASS bpftrace one-liners: $i"
