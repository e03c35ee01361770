#!/usr/bin/env bash
# test_zero_alloc.sh -- no heap allocation per trade on any hot path, counted
# with jemalloc's own statistics (MALLOC_CONF=stats_print:true prints them at
# exit): each path runs once with N trades and once with 2N, and the
# allocation requests of the two runs must be equal up to a small constant
# (start-up work that depends on timing: a log line, a reconnect).  A single
# allocation per trade, per batch of 64 or per Kafka message would add
# N / 64 or more between the two runs.
#
# Paths: replay of JSON lines, replay of an ITCH day, serve over TCP into the
# journal with the Kafka sink producing every trade to librdkafka's mock
# cluster (when built with -Dkafka; librdkafka itself allocates for every
# message it is given, so that leg is bounded by librdkafka's count), MoldUDP64 over UDP on io_uring, and serve
# --dpdk on the net_pcap PMD (when built with -Ddpdk).  A count, not a time.
# Suite 'alloc': left out of .ci/run's ASan pass, where ASan's allocator
# replaces jemalloc and these statistics do not exist (test_allocator.sh
# checks which allocator serves malloc in each build).
source "$(dirname "$0")/lib.sh"
source "$HERE/dpdk_lib.sh"
trap 'dpdk_cleanup; kafka_mock_stop; cleanup' EXIT
N=${ZERO_ALLOC_COUNT:-100000}
SLACK=16 # allocation requests the two runs may differ by (fixed costs)
MID=(--itch-midnight 2025-01-02T00:00:00-05:00 --book-orders 1Mi)
"$TRADES" version | grep -q 'allocator: jemalloc' ||
	fail "trades does not allocate with jemalloc ($("$TRADES" version | grep allocator)): build with -Djemalloc (Debian package libjemalloc-dev)"
STATS=MALLOC_CONF=stats_print:true # on the measured commands only

# requests FILE: jemalloc's merged "total:" row (the first one printed):
# nmalloc and nrequests, the two counts an allocation per trade would raise.
requests() {
	awk '$1=="total:" {print $3 + $7; exit}' "$1"
}
# check NAME A B: the second run (2N trades) allocated no more per trade.
RESULTS=()
check() {
	local name=$1 a=$2 b=$3
	[ -n "$a" ] && [ -n "$b" ] || fail "$name: no jemalloc statistics in the exit output"
	[ $((b - a)) -le $SLACK ] && [ $((a - b)) -le $SLACK ] ||
		fail "$name: $a allocation requests for $N trades, $b for $((2 * N)): $(((b - a))) more"
	RESULTS+=("$name $a/$b")
}

# --- replay: JSON lines and an ITCH day (real-day mix) ---
for k in 1 2; do
	"$TRADES_GEN" --count $((k * N)) --instruments 64 --seed 1 --out "$T/j$k.jsonl" 2>/dev/null ||
		fail "gen jsonl"
	"$TRADES_GEN" --format itch --mix nasdaq --count $((k * N / 10)) --instruments 50 --seed 1 \
		--out "$T/i$k.itch" 2>/dev/null || fail "gen itch"
	env "$STATS" "$TRADES" replay --state-dir "$T/rj$k" "$T/j$k.jsonl" 2>"$T/rj$k.err" >/dev/null ||
		fail "replay jsonl: $(grep -v '^[ a-z]*:  ' "$T/rj$k.err" | tail -n 3)"
	env "$STATS" "$TRADES" replay --format itch "${MID[@]}" --state-dir "$T/ri$k" "$T/i$k.itch" \
		2>"$T/ri$k.err" >/dev/null || fail "replay itch"
done
check "replay-jsonl" "$(requests "$T/rj1.err")" "$(requests "$T/rj2.err")"
grep -q "accepted" "$T/ri1.err" || fail "replay itch printed no summary"
check "replay-itch" "$(requests "$T/ri1.err")" "$(requests "$T/ri2.err")"

# serve_run NAME COUNT ARGS...: serve on TCP, COUNT trades in, SIGTERM; the
# statistics land in $T/NAME.err.
serve_run() {
	local name=$1 count=$2
	shift 2
	: >"$T/serve.err"
	MALLOC_CONF=stats_print:true start_serve "$name" --tcp 127.0.0.1:0,feed=exch --state-dir "$T/$name" "$@"
	"$TRADES_GEN" --count "$count" --instruments 64 --seed 2 --tcp "127.0.0.1:$TCP_PORT" \
		2>/dev/null || fail "$name: gen --tcp"
	wait_received "$T/$name" "$count" 60
	[ -z "${WAIT_SINK:-}" ] || wait_kafka "$T/$name" 60
	stop_serve
	cp "$T/serve.err" "$T/$name.err"
}
wait_kafka() { # DIR SECS: until the Kafka sink has no lag
	local i
	for i in $(seq 1 $(($2 * 5))); do
		"$TRADES" stat --state-dir "$1" --json | "$PY" -c '
import json, sys
d = json.load(sys.stdin)
k = d.get("kafka", {})
sys.exit(0 if k.get("lag", -1) == 0 and k.get("delivered_jseq") == d["applied_jseq"] else 1)' &&
			return 0
		sleep 0.2
	done
	fail "kafka sink not caught up after $2 s"
}

wait_accepted() { # DIR N SECS: until the feeds accepted N trades (ITCH: trades, not messages)
	local i got=0
	for i in $(seq 1 $(($3 * 5))); do
		got=$("$TRADES" stat --state-dir "$1" --json 2>/dev/null |
			"$PY" -c 'import json,sys; print(sum(f["accepted"] for f in json.load(sys.stdin)["feeds"]))' \
				2>/dev/null || echo 0) # 0 until the service has made its state file
		[ "$got" -ge "$2" ] && return 0
		sleep 0.2
	done
	fail "$1: only $got of $2 trades accepted after $3 s"
}

# --- serve over TCP (the default io backend), journal only ---
serve_run t1 "$N"
serve_run t2 $((2 * N))
check "serve-tcp" "$(requests "$T/t1.err")" "$(requests "$T/t2.err")"

# --- serve over TCP with the Kafka sink: every trade produced to the mock cluster ---
if [ -n "${TRADES_KAFKA_MOCK:-}" ]; then
	kafka_mock_start 2
	WAIT_SINK=1 serve_run k1 "$N" --kafka "$BROKERS" --kafka-topic za1
	WAIT_SINK=1 serve_run k2 $((2 * N)) --kafka "$BROKERS" --kafka-topic za2
	kafka_mock_stop
	# librdkafka allocates inside rd_kafka_producev for every message (the
	# message with its copied value, the key, the header list and the jseq
	# header) and in its delivery reports: measured 7.8 per message.  Nothing
	# of the sink's own does: the bound below is librdkafka's, and an
	# allocation per trade in the sink (or per batch) would push past it.
	ka=$(requests "$T/k1.err") kb=$(requests "$T/k2.err")
	[ -n "$ka" ] && [ -n "$kb" ] || fail "serve-kafka-sink: no jemalloc statistics"
	per=$("$PY" -c "print(round(($kb - $ka) / $N, 2))")
	"$PY" -c "import sys; sys.exit(0 if ($kb - $ka) / $N <= 9 else 1)" ||
		fail "serve-kafka-sink: $per allocation requests per trade, more than librdkafka's 9"
	RESULTS+=("serve-kafka-sink $ka/$kb: $per per trade, all inside librdkafka (bound 9)")
else
	RESULTS+=("serve-kafka-sink: not built (-Dkafka needs librdkafka-dev)")
fi

# --- MoldUDP64 over UDP on io_uring, with a re-request server so that a
#     datagram the loaded machine drops is recovered (zero loss either way) ---
RR=$("$PY" -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
for k in 1 2; do
	: >"$T/serve.err"
	MALLOC_CONF=stats_print:true start_serve "u$k" --io uring --mold 127.0.0.1:0,feed=m \
		--mold-rerequest "127.0.0.1:$RR" "${MID[@]}" --state-dir "$T/u$k"
	"$TRADES_GEN" --format moldudp64 --count $((k * N / 10)) --instruments 30 --seed 3 \
		--rate 100000 --udp "127.0.0.1:$UDP_PORT" --rerequest "127.0.0.1:$RR" --linger-ms 3000 \
		--totals "$T/u$k.json" 2>/dev/null || fail "gen moldudp64"
	want=$("$PY" -c "import json; print(json.load(open('$T/u$k.json'))['trades'])")
	wait_accepted "$T/u$k" "$want" 60
	stop_serve
	cp "$T/serve.err" "$T/u$k.err"
done
check "serve-udp-mold-uring" "$(requests "$T/u1.err")" "$(requests "$T/u2.err")"

# --- DPDK: net_pcap replaying a MoldUDP64 capture ---
if "$TRADES" version | grep -q 'dpdk=yes' && ls "$DPDK_PMD_DIR"/librte_net_pcap.so* >/dev/null 2>&1; then
	for k in 1 2; do
		"$TRADES_GEN" --format moldudp64 --count $((k * N / 10)) --instruments 30 --seed 4 \
			--pcap "$T/d$k.pcap" --totals "$T/d$k.json" 2>/dev/null || fail "gen pcap"
		want=$("$PY" -c "import json; print(json.load(open('$T/d$k.json'))['trades'])")
		env "$STATS" "$TRADES" serve --dpdk "--no-huge -m 512 --no-pci --no-shconf --file-prefix $(dpdk_prefix d$k) --vdev=net_pcap0,rx_pcap=$T/d$k.pcap" \
			--dpdk-mold 26477,group=233.54.12.111,feed=p --dpdk-idle-us 500 "${MID[@]}" \
			--state-dir "$T/d$k" >"$T/d$k.out" 2>"$T/d$k.err" &
		SERVE_PID=$!
		wait_accepted "$T/d$k" "$want" 60
		stop_serve
	done
	check "serve-dpdk" "$(requests "$T/d1.err")" "$(requests "$T/d2.err")"
else
	RESULTS+=("serve-dpdk: not built (-Ddpdk needs libdpdk-dev and librte-net-pcap23)")
fi

printf '  %s\n' "${RESULTS[@]}"
echo "PASS zero-alloc: allocation requests (N / 2N trades) equal within $SLACK on every path"
