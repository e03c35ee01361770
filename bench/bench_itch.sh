#!/usr/bin/env bash
# bench_itch.sh BUILD_DIR [N] -- Nasdaq ITCH 5.0: file replay, and MoldUDP64
# ingest over loopback, each against a baseline measured in the same run.
#
# One ITCH day of N trade-bearing messages (default 2,000,000; about 2.9
# ITCH messages per trade-bearing one) is generated with `trades-gen --seed 1`.
#
# 1. Replay: times (wall clock, best of 3; 1 when N > 20,000,000; BENCH_RUNS
#    overrides)
#      trades replay --format itch --decode-only   (decoder + order book: the baseline)
#      trades replay --format itch                 (+ dedup, journal, state)
#    into a fresh state dir each, and prints trades/s (the replay summary's
#    accepted count), ITCH messages/s and the ratio full / decode-only.
#
# 2. MoldUDP64 over loopback, at zero loss.  The receivers --
#      bench_mold_recvmmsg          recvmmsg() + header count, 1 ms nap when empty: the floor
#      trades serve --io uring --mold 127.0.0.1:0
#      trades serve --io epoll --mold 127.0.0.1:0
#    -- each get the same stream from `trades-gen --format moldudp64 --udp
#    --rate R`, for R in BENCH_RATES (messages/s, descending; 0 = as fast as
#    the sender goes; default "0 4000000 3000000 2000000 1000000 500000") until one
#    is received without loss: the baseline reports missing == 0 and every
#    message; serve's feed shows gaps == 0 and decoder messages == all of
#    them (`trades stat --json`, polled every 20 ms once the sender is done).
#    Time is from the first to the last message received: the baseline's
#    own clock; serve's log lines "mold: adopted session" (first packet) and
#    "mold: end of session" (after the last data packet), 1 ms resolution.
#    CPU is the receiver's user + system time over the send (serve's start-up,
#    which pre-faults the order book, is left out).  Printed per receiver:
#    messages/s, trades/s, packets/s, CPU, and the ratios to the baseline at
#    the same offered rate (rate: baseline time / serve time; CPU: serve /
#    baseline) -- the baseline is run again at a serve's rate when that is
#    not the baseline's own.  First the sender alone is timed, to a socket
#    that never reads (bench_mold_recvmmsg --sink): loopback UDP is bound by
#    the sender, and a receiver close to it is sender-limited.
# BENCH_SYNC picks the journal sync policy of replay and serve (default none).
#
# Exit status: 0 ok, 1 a step failed or timed out, or a receiver lost
# messages at every rate tried; 2 usage.
set -euo pipefail

usage() {
	echo "usage: $0 BUILD_DIR [N]   (N trade-bearing ITCH messages, default 2000000)" >&2
	exit 2
}
if [ $# -lt 1 ] || [ $# -gt 2 ]; then usage; fi
BUILD=$1
N=${2:-2000000}
if ! [[ $N =~ ^[1-9][0-9]{0,9}$ ]] || [ "$N" -gt 1000000000 ]; then
	echo "$0: N must be 1..1000000000, got '$N'" >&2
	exit 2
fi
TRADES=$BUILD/trades
GEN=$BUILD/trades-gen
BASE=$BUILD/bench/bench_mold_recvmmsg
SYNC=${BENCH_SYNC:-none}
RUNS=${BENCH_RUNS:-$([ "$N" -gt 20000000 ] && echo 1 || echo 3)}
[[ $RUNS =~ ^[1-9]$ ]] || { echo "$0: BENCH_RUNS must be 1..9, got '$RUNS'" >&2; exit 2; }
RATES=${BENCH_RATES:-0 4000000 3000000 2000000 1000000 500000}
for r in $RATES; do
	[[ $r =~ ^(0|[1-9][0-9]{0,9})$ ]] ||
		{ echo "$0: BENCH_RATES: '$r' is not a rate (messages/s, 0 = unpaced)" >&2; exit 2; }
done
[ -n "${RATES// /}" ] || { echo "$0: BENCH_RATES is empty" >&2; exit 2; }
PY=${PYTHON:-python3}
MIDNIGHT=2025-01-02T00:00:00-05:00 # any fixed day: the same for every run
WAIT_S=60  # longest wait for a receiver to start, or to get what was sent
START_WAIT_S=$WAIT_S
STALL_S=3  # serve: no new message for this long after the send = the rest is lost
IDLE_S=2   # baseline: stops this long after the last packet (end of session lost)
HZ=$(getconf CLK_TCK)

T=$(mktemp -d "${TMPDIR:-/tmp}/bench-itch.XXXXXX")
source "$(dirname "$0")/lib.sh"
need_bins "$TRADES" "$GEN" "$BASE"
rate_label() { if [ "$1" = 0 ]; then echo max; else echo "$1"; fi; }

# wait_exit: until the receiver has exited, WAIT_S at most; its status in RC.
wait_exit() {
	for _ in $(seq 1 $((WAIT_S * 100))); do
		kill -0 "$RECV_PID" 2>/dev/null || break
		sleep 0.01
	done
	kill -0 "$RECV_PID" 2>/dev/null && fail "receiver still running after $WAIT_S s"
	RC=0
	wait "$RECV_PID" || RC=$?
	RECV_PID=
}

# cpu_ticks PID: user + system clock ticks so far (fields 14 and 15 of stat).
cpu_ticks() { awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }

# ---- the ITCH day ------------------------------------------------------------

echo "bench_itch: N=$N trade-bearing messages, seed 1, sync=$SYNC, $(nproc) CPUs"
t0=$(now_ns)
"$GEN" --format itch --count "$N" --seed 1 --out "$T/day.itch" 2>"$T/gen.err" ||
	fail "trades-gen --format itch failed"
gen_ns=$(($(now_ns) - t0))
# "trades-gen: itch: M messages (S 6, ..., A a, F f, ...), T trades (...)"
read -r MSGS ADDS GEN_TRADES < <(awk '$2 == "itch:" {
	m = $3; gsub(/[(),]/, " "); for (i = 1; i < NF; i++) if ($i == "A" || $i == "F") adds += $(i + 1)
	for (i = 1; i < NF; i++) if ($(i + 1) == "trades") t = $i
	print m, adds, t; exit }' "$T/gen.err")
[[ ${MSGS:-} =~ ^[0-9]+$ && ${ADDS:-} =~ ^[0-9]+$ && ${GEN_TRADES:-} =~ ^[0-9]+$ ]] ||
	fail "cannot read the generator's summary: $(tail -n 2 "$T/gen.err")"
# every add could still be live at the end: a book that holds them all never fills
BOOK=$((ADDS > 1024 ? ADDS : 1024))
ITCH=(--itch-midnight "$MIDNIGHT" --book-orders "$BOOK")
printf "generate      %8s s  %d ITCH messages, %d trades (generator), %d MB, --book-orders %d\n" \
	"$(secs "$gen_ns")" "$MSGS" "$GEN_TRADES" $(($(stat -c %s "$T/day.itch") / 1000000)) "$BOOK"

# ---- 1. replay ---------------------------------------------------------------

# best_of LABEL ARGS...: `trades replay --format itch ARGS... FILE` RUNS times,
# each into a fresh state dir; the accepted count must be the same every run
# (ACCEPTED, set by the first); sets BEST_NS.
ACCEPTED=
best_of() {
	local label=$1 i t ns got
	shift
	BEST_NS=0
	for i in $(seq 1 "$RUNS"); do
		rm -rf "$T/state"
		t=$(now_ns)
		"$TRADES" replay --format itch "${ITCH[@]}" "$@" --state-dir "$T/state" "$T/day.itch" \
			2>"$T/replay.err" || fail "$label run $i failed"
		ns=$(($(now_ns) - t))
		# "replay: 1 file(s), X messages, Y accepted, ..."
		got=$(awk '$1 == "replay:" { for (i = 2; i < NF; i++) if ($(i + 1) ~ /^accepted/) print $i }' \
			"$T/replay.err")
		[[ $got =~ ^[0-9]+$ ]] || fail "$label run $i: no summary"
		[ -z "$ACCEPTED" ] && ACCEPTED=$got
		[ "$got" = "$ACCEPTED" ] || fail "$label run $i accepted $got, another run $ACCEPTED"
		grep -q " 0 malformed" "$T/replay.err" || fail "$label run $i: $(grep replay: "$T/replay.err")"
		if [ "$BEST_NS" -eq 0 ] || [ "$ns" -lt "$BEST_NS" ]; then BEST_NS=$ns; fi
	done
	printf "%-13s %8s s  %10d trades/s  %10d messages/s\n" "$label" "$(secs "$BEST_NS")" \
		"$(rate "$ACCEPTED" "$BEST_NS")" "$(rate "$MSGS" "$BEST_NS")"
}

echo
echo "replay: ITCH file, best of $RUNS, wall clock" \
	"(process start, book pre-fault, file read included)"
best_of decode-only --decode-only
decode_ns=$BEST_NS
best_of full --sync "$SYNC"
full_ns=$BEST_NS
echo "trades/s counts the $ACCEPTED records replay accepted" \
	"(trade prints and broken-trade corrections; the generator counts $GEN_TRADES net trades)"
awk -v d="$decode_ns" -v f="$full_ns" 'BEGIN {
	printf "ratio full/decode-only: %.2f  (storing keeps %.0f%% of the decode rate)\n",
		d / f, 100 * d / f
}'

# ---- 2. MoldUDP64 over loopback ------------------------------------------------

# send PORT RATE: the stream, bounded: twice its paced duration plus WAIT_S.
# Sets PACKETS (data packets) and SEND_NS (the generator's own clock: socket
# open to the end of session sent; process start-up left out).
send() {
	local bound
	bound=$((WAIT_S + ($2 > 0 ? 2 * MSGS / $2 : 0)))
	timeout "$bound" "$GEN" --format moldudp64 --count "$N" --seed 1 --rate "$2" \
		--udp "127.0.0.1:$1" 2>"$T/gen.err" ||
		fail "trades-gen --format moldudp64 failed or ran over $bound s"
	# "trades-gen: 0 bytes to --out, S s"
	SEND_NS=$(awk '/ bytes to --out, / { printf "%.0f", $(NF - 1) * 1e9; exit }' "$T/gen.err")
	[[ $SEND_NS =~ ^[0-9]+$ ]] || fail "cannot read the generator's time"
	PACKETS=$(awk '$2 == "moldudp64:" { print $3; exit }' "$T/gen.err")
	[[ $PACKETS =~ ^[0-9]+$ ]] || fail "cannot read the generator's packet count"
	grep -q " 0 send errors" "$T/gen.err" || fail "sender: $(grep 'line A' "$T/gen.err")"
}

# A result: R_NS (first to last message), R_MSGS, R_MISSING, R_CPU (seconds).
# row LABEL RATE [BASE_NS BASE_CPU]: one line of the table, with the
# sender's own rate in that run (sent/s) and what bounds the receiver's:
# "receiver" when it took over 10% longer than the sender, else "offered"
# (paced, and the sender kept within 10% of --rate) or "sender".
row() {
	local label=$1 r=$2
	awk -v l="$label" -v r="$(rate_label "$r")" -v ns="$R_NS" -v m="$MSGS" -v t="$ACCEPTED" \
		-v p="$PACKETS" -v cpu="$R_CPU" -v bns="${3:-}" -v bcpu="${4:-}" -v sns="$SEND_NS" \
		-v rr="$r" 'BEGIN {
		s = ns / 1e9
		line = sprintf("%-24s %9s %8.3f %10.0f %10.0f %9.0f %10.0f", l, r, s, m / s, t / s, p / s,
			m / (sns / 1e9))
		if (cpu == "")
			line = line sprintf(" %6s %8s", "-", "-")
		else
			line = line sprintf(" %5.0f%% %8.0f", 100 * cpu / s, cpu * 1e9 / m)
		if (bns != "")
			line = line sprintf("  %5.2f %5.2f", bns / ns, bcpu > 0 ? cpu / bcpu : 0)
		else
			line = line sprintf("  %5s %5s", "", "")
		if (cpu != "")
			line = line sprintf("  %s", ns > 1.1 * sns ? "receiver" : \
				rr > 0 && sns <= 1.1e9 * m / rr ? "offered" : "sender")
		print line
	}'
}

# The sender alone, unpaced, into a socket that never reads.
bench_sender() {
	"$BASE" --sink --wait $((WAIT_S * 2)) >"$T/sink.out" 2>"$T/sink.err" &
	RECV_PID=$!
	wait_for "$T/sink.out" '^listening [0-9]+$'
	send "$(awk '{ print $2; exit }' "$T/sink.out")" 0
	kill -TERM "$RECV_PID"
	wait_exit
	R_NS=$SEND_NS R_CPU=
	row "sender alone (no reader)" 0
}

# baseline RATE: one run of the recvmmsg receiver; sets LOSSLESS (0/1) and R_*.
baseline() {
	local port line eos
	"$BASE" --idle-timeout "$IDLE_S" --wait "$WAIT_S" >"$T/base.out" 2>"$T/base.err" &
	RECV_PID=$!
	wait_for "$T/base.out" '^listening [0-9]+$'
	port=$(awk '{ print $2; exit }' "$T/base.out")
	send "$port" "$1"
	wait_exit
	[ "$RC" -eq 0 ] || fail "baseline receiver exited with $RC"
	line=$(grep '^packets ' "$T/base.out") || fail "baseline printed no counts"
	read -r _ _ _ R_MSGS _ R_MISSING _ R_SECS _ _ _ _ _ eos _ R_CPU <<<"$line"
	R_NS=$(awk -v s="$R_SECS" 'BEGIN { printf "%.0f", s * 1e9 }')
	LOSSLESS=0
	if [ "$R_MSGS" = "$MSGS" ] && [ "$R_MISSING" = 0 ] && [ "$eos" = yes ]; then LOSSLESS=1; fi
	[ "$LOSSLESS" = 1 ] || R_MISSING=$((MSGS - R_MSGS))
}

# After the send: polls `trades stat --json` every 20 ms until the feed's
# decoder has every message, or nothing moved for STALL_S, or WAIT_S passed.
# Prints "messages accepted gaps gap_missing".
POLLER='
import json, subprocess, sys, time
trades, state, want = sys.argv[1], sys.argv[2], int(sys.argv[3])
wait_s, stall_s = float(sys.argv[4]), float(sys.argv[5])
end = time.monotonic() + wait_s
last, moved, f = -1, time.monotonic(), {}
while time.monotonic() < end:
    out = subprocess.run([trades, "stat", "--state-dir", state, "--json"], capture_output=True)
    if out.returncode == 0:
        feeds = [x for x in json.loads(out.stdout)["feeds"] if x["feed"] == "mold"]
        if feeds:
            f = feeds[0]
    got = f.get("decoder", {}).get("messages", 0)
    if got >= want:
        break
    if got != last:
        last, moved = got, time.monotonic()
    elif time.monotonic() - moved >= stall_s:
        break
    time.sleep(0.02)
print(f.get("decoder", {}).get("messages", 0), f.get("accepted", 0), f.get("gaps", 0),
      f.get("gap_missing", 0))
'

# log_ms REGEX: the time of serve's first log line matching, ms of the day.
log_ms() {
	awk -v re="$1" '$0 ~ re {
		split(substr($1, 12, 12), a, ":") # 2025-01-02T03:04:05.678Z
		printf "%.0f\n", ((a[1] * 60 + a[2]) * 60 + a[3]) * 1000
		exit
	}' "$T/serve.err"
}

# serve IO RATE: one run of `trades serve --mold`; sets LOSSLESS and R_*.
serve() {
	local io=$1 port c0 c1 acc gaps gmiss t_first t_last
	rm -rf "$T/state"
	"$TRADES" serve --mold 127.0.0.1:0,feed=mold --io "$io" --sync "$SYNC" "${ITCH[@]}" \
		--state-dir "$T/state" >"$T/serve.out" 2>"$T/serve.err" &
	RECV_PID=$!
	wait_for "$T/serve.out" '^ready$'
	grep -q "io: $io" "$T/serve.err" || fail "serve does not report 'io: $io'"
	port=$(awk '$1 == "listening" && $2 == "udp" { n = split($3, a, ":"); print a[n]; exit }' \
		"$T/serve.out")
	[[ $port =~ ^[0-9]+$ ]] || fail "serve printed no udp listener"
	c0=$(cpu_ticks "$RECV_PID")
	send "$port" "$2"
	"$PY" -c "$POLLER" "$TRADES" "$T/state" "$MSGS" "$WAIT_S" "$STALL_S" >"$T/poll.out" ||
		fail "stat poller failed"
	c1=$(cpu_ticks "$RECV_PID")
	stop_serve
	read -r R_MSGS acc gaps gmiss <"$T/poll.out"
	R_CPU=$(awk -v a="$c0" -v b="$c1" -v hz="$HZ" 'BEGIN { printf "%.3f", (b - a) / hz }')
	LOSSLESS=0
	if [ "$R_MSGS" = "$MSGS" ] && [ "$gaps" = 0 ]; then
		LOSSLESS=1
		[ "$acc" = "$ACCEPTED" ] || fail "serve --io $io accepted $acc trades, replay $ACCEPTED"
		t_first=$(log_ms 'mold: adopted session')
		t_last=$(log_ms 'mold: end of session')
		[ -n "$t_first" ] && [ -n "$t_last" ] ||
			fail "serve --io $io: no 'adopted session' / 'end of session' log line to time with"
		[ "$t_last" -ge "$t_first" ] || t_last=$((t_last + 86400000)) # past midnight UTC
		R_NS=$(((t_last - t_first) * 1000000))
	fi
	R_MISSING=$((MSGS - R_MSGS > gmiss ? MSGS - R_MSGS : gmiss))
}

# search KIND: each rate of RATES, highest first, until one is lossless.
# Sets FOUND_RATE (empty: none) and the R_* of that run; each run's
# result is kept in RES_NS/RES_CPU[KIND:RATE].
declare -A RES_NS RES_CPU
search() {
	local kind=$1 label=$2 r
	FOUND_RATE=
	for r in $RATES; do
		if [ "$kind" = base ]; then baseline "$r"; else serve "$kind" "$r"; fi
		if [ "$LOSSLESS" = 1 ]; then
			FOUND_RATE=$r
			RES_NS[$kind:$r]=$R_NS
			RES_CPU[$kind:$r]=$R_CPU
			return 0
		fi
		printf "%-24s %9s   loss: %d of %d messages missing, next rate down\n" "$label" \
			"$(rate_label "$r")" "$R_MISSING" "$MSGS"
	done
	printf "%-24s   loss at every rate of BENCH_RATES (%s)\n" "$label" "$RATES"
}

echo
echo "MoldUDP64 over loopback: the stream of $MSGS ITCH messages, zero loss;" \
	"rate = offered msgs/s (max: unpaced)"
printf "%-24s %9s %8s %10s %10s %9s %10s %6s %8s  %s\n" "receiver" "rate" "wall s" "msgs/s" \
	"trades/s" "pkts/s" "sent/s" "cpu" "ns/msg" "vs base: rate  cpu  bound"
bench_sender
echo "  ($PACKETS data packets, $((MSGS / PACKETS)) messages each on average;" \
	"the sender alone is the most any receiver can see)"
LOST=0
search base "recvmmsg baseline"
BASE_RATE=$FOUND_RATE
[ -n "$BASE_RATE" ] || fail "the baseline lost messages at every rate: nothing to compare with"
row "recvmmsg baseline" "$BASE_RATE" "$R_NS" "$R_CPU"
for io in uring epoll; do
	search "$io" "serve --io $io"
	if [ -z "$FOUND_RATE" ]; then
		LOST=1
		continue
	fi
	r=$FOUND_RATE
	if [ -z "${RES_NS[base:$r]:-}" ]; then
		# the baseline at the same offered rate, for the ratio
		save_ns=$R_NS save_cpu=$R_CPU save_send=$SEND_NS
		baseline "$r"
		[ "$LOSSLESS" = 1 ] || fail "the baseline lost messages at $(rate_label "$r") msgs/s"
		RES_NS[base:$r]=$R_NS
		RES_CPU[base:$r]=$R_CPU
		row "recvmmsg baseline" "$r" "$R_NS" "$R_CPU"
		R_NS=$save_ns R_CPU=$save_cpu SEND_NS=$save_send
	fi
	row "serve --io $io" "$r" "${RES_NS[base:$r]}" "${RES_CPU[base:$r]}"
done
echo "vs base(line) at the same offered rate -- rate: baseline time / serve time (1.00 = as fast);"
echo "cpu: serve CPU / baseline CPU (what decoding and storing cost on top of receiving);"
echo "sent/s: the sender's own rate in that run;" \
	"bound: receiver (took > 10% longer than the sender),"
echo "else offered (paced at --rate) or sender (unpaced: a faster receiver would not show it)"
exit "$LOST"
