#!/usr/bin/env bash
# test_dpdk_pcap.sh -- serve --dpdk with the net_pcap PMD replaying a capture
# (no hugepages: --no-huge -m 512 --no-pci): MoldUDP64 from trades-gen on one
# filter, JSON lines in VLAN-tagged frames on another, and frames of every
# kind that must be dropped.  Totals exact against the generators', drops
# counted by kind, port statistics in `trades stat`; two instances at once
# (default --file-prefix each); a second run on the same state is all
# duplicates; nothing left in /var/run/dpdk.
source "$(dirname "$0")/lib.sh"
source "$HERE/dpdk_lib.sh"
trap 'dpdk_cleanup; cleanup' EXIT
dpdk_require dpdk-pcap
dpdk_pmd net_pcap librte-net-pcap23
need_tool curl curl
MID=(--itch-midnight 2025-01-02T00:00:00-05:00 --book-orders 1Mi)

"$TRADES_GEN" --format moldudp64 --count 20000 --instruments 12 --seed 9 --pcap "$T/mold.pcap" \
	--totals "$T/mold.json" 2>"$T/gen.err" || fail "gen mold: $(cat "$T/gen.err")"
"$TRADES_GEN" --count 3000 --instruments 5 --seed 3 --out "$T/j.jsonl" --totals "$T/j.json" \
	2>>"$T/gen.err" || fail "gen jsonl"
"$PY" "$HERE/dpdk_frames.py" "$T/mold.pcap" "$T/j.jsonl" "$T/all.pcap" "$T/expect.json" ||
	fail "dpdk_frames.py"
# Both feeds share the state's instrument table: the expected instruments
# are the two generators' together (their symbols are disjoint).
"$PY" - "$T/mold.json" "$T/j.json" "$T/both.json" <<'PY'
import json, sys
a, b = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert not {i["pair"] for i in a["instruments"]} & {i["pair"] for i in b["instruments"]}
json.dump({"instruments": a["instruments"] + b["instruments"]}, open(sys.argv[3], "w"))
PY
JCOUNT=$("$PY" -c "import json; print(json.load(open('$T/j.json'))['count'])")
FRAMES=$("$PY" -c "import json; print(json.load(open('$T/expect.json'))['frames'])")
DELIVERED=$("$PY" -c "import json; print(json.load(open('$T/expect.json'))['delivered'])")
PBYTES=$("$PY" -c "import json; print(json.load(open('$T/expect.json'))['payload_bytes'])")
SD_EXTRA=() # more serve options (section 3)
DROPS=$("$PY" -c "import json; print(sum(json.load(open('$T/expect.json'))['drops'].values()))")

# dpdk_serve_start NAME [EAL ARGS...] (sets LAST_PID): serve --dpdk on the capture until the port has
# seen every frame (port_ipackets in `trades stat`), then SIGTERM.
dpdk_serve_start() {
	local name=$1
	shift
	"$TRADES" serve --dpdk "--no-huge -m 512 --no-pci --no-shconf --vdev=net_pcap0,rx_pcap=$T/all.pcap $*" \
		--dpdk-mold 26477,group=233.54.12.111,feed=p --dpdk-jsonl 7002,feed=j --dpdk-csum --dpdk-idle-us 500 \
		"${MID[@]}" "${SD_EXTRA[@]}" --state-dir "$T/$name" >"$T/$name.out" 2>"$T/$name.err" &
	LAST_PID=$!
}
dpdk_wait_frames() { # NAME PID [WANT: port_ipackets, the state's total over runs (FRAMES)]
	local i got=0 want=${3:-$FRAMES}
	for i in $(seq 1 150); do # 150 x 0.2 s = 30 s
		kill -0 "$2" 2>/dev/null || fail "$1: serve exited: $(tail -n 5 "$T/$1.err")"
		got=$("$TRADES" stat --state-dir "$T/$1" --json 2>/dev/null | "$PY" -c '
import json, sys
f = [x for x in json.load(sys.stdin)["feeds"] if x["feed"] == "dpdk:port0"]
print(f[0]["decoder"].get("port_ipackets", 0) if f else 0)' 2>/dev/null || echo 0)
		[ "$got" -ge "$want" ] && return 0
		sleep 0.2
	done
	fail "$1: port saw $got of $want frames in 30 s"
}
dpdk_stop() { # NAME PID
	local rc=0
	sleep 0.3 # the last holes' deadlines, the last publish
	kill -TERM "$2"
	wait "$2" || rc=$?
	[ "$rc" -eq 0 ] || fail "$1: serve exited $rc: $(tail -n 5 "$T/$1.err")"
	stat_json "$T/$1" "$T/$1.json"
}

# 1. Two instances at once, each with its own default --file-prefix.
dpdk_serve_start a
P1=$LAST_PID
dpdk_serve_start b
P2=$LAST_PID
dpdk_wait_frames a "$P1"
dpdk_wait_frames b "$P2"
for n in a b; do
	[ -d "/var/run/dpdk/trades-$([ $n = a ] && echo "$P1" || echo "$P2")" ] ||
		fail "$n: no runtime dir trades-PID while running"
done
dpdk_stop a "$P1"
dpdk_stop b "$P2"
for n in a b; do
	"$PY" "$HERE/compare.py" totals "$T/both.json" "$T/$n.json" --feed p --duplicates 0 --gaps 0 \
		--malformed 0 || fail "$n: totals != the generators' (or Mold feed counters)"
	"$PY" "$HERE/compare.py" totals "$T/both.json" "$T/$n.json" --feed j --accepted "$JCOUNT" \
		--duplicates 0 --malformed 0 --received "$JCOUNT" || fail "$n: JSON-lines feed counters"
done
[ ! -e "/var/run/dpdk/trades-$P1" ] && [ ! -e "/var/run/dpdk/trades-$P2" ] ||
	fail "runtime directories left in /var/run/dpdk"

# 2. Drops by kind (log at stop) and port statistics (stat --json, table); the
# port's source figures (stat --json "source", and /metrics of serve --http below).
"$PY" - "$T/expect.json" "$T/a.json" "$T/a.err" "$FRAMES" "$DROPS" <<'PY' || fail "drop counters"
import json, re, sys
want = json.load(open(sys.argv[1]))["drops"]
port = [f for f in json.load(open(sys.argv[2]))["feeds"] if f["feed"] == "dpdk:port0"][0]["decoder"]
log = open(sys.argv[3]).read()
m = re.search(r"dropped \((.*)\)", log)
assert m, "no drop line in the log"
got = {k: int(v) for k, v in (x.split(" ") for x in m.group(1).split(", "))}
print("drops", got, "port", port)
for k, v in want.items():
    assert got[k] == v, (k, got[k], v)
assert sum(got.values()) == int(sys.argv[5]), got
assert port["port_ipackets"] == int(sys.argv[4]), port
assert port["port_unmatched"] == int(sys.argv[5]), port
assert port.get("port_imissed", 0) == 0 and port.get("port_rx_nombuf", 0) == 0, port
src = [f for f in json.load(open(sys.argv[2]))["feeds"] if f["feed"] == "dpdk:port0"][0]["source"]
e = json.load(open(sys.argv[1]))
assert src["packets"] == e["delivered"] and src["bytes"] == e["payload_bytes"], (src, e)
assert src["kernel_drops"] == 0, src
assert "ipackets %s" % sys.argv[4] in log, "port stats not logged at stop"
PY
"$TRADES" stat --state-dir "$T/a" | grep -Eq "dpdk:port0 .*port_ipackets=$FRAMES" ||
	fail "stat table lacks the port statistics: $("$TRADES" stat --state-dir "$T/a" | tail -n 4)"
"$TRADES" stat --state-dir "$T/a" |
	grep -Eq "^dpdk:port0 +source bytes=$PBYTES packets=$DELIVERED kernel_drops=0 " ||
	fail "stat table: port source figures, want bytes=$PBYTES packets=$DELIVERED: $("$TRADES" stat --state-dir "$T/a" | grep source)"

# 3. The same capture again on state a: every trade a duplicate.  With --http
# and candles, as serve without --dpdk: /metrics shows the port's source figures.
SD_EXTRA=(--http 127.0.0.1:0 --candles 1m) # the state's own settings (section 4: others)
dpdk_serve_start a "--file-prefix=$(dpdk_prefix again)"
P1=$LAST_PID
dpdk_wait_frames a "$P1" $((2 * FRAMES)) # the port counters add up over runs
HTTP=$(awk '$1=="listening" && $2=="http" {print $3; exit}' "$T/a.out")
[ -n "$HTTP" ] || fail "--dpdk --http: no 'listening http' line: $(cat "$T/a.out")"
pk=
for _ in $(seq 1 50); do # 50 x 0.2 s: the next publish of the source figures
	curl -sf "http://$HTTP/metrics" >"$T/dpdk.metrics" || fail "--dpdk: GET /metrics"
	pk=$(awk '$1=="trades_source_packets_total{feed=\"dpdk:port0\"}" {print $2}' "$T/dpdk.metrics")
	[ "$pk" = "$DELIVERED" ] && break
	sleep 0.2
done
[ "$pk" = "$DELIVERED" ] || fail "--dpdk /metrics: source packets '$pk', want $DELIVERED"
grep -q "^trades_source_bytes_total{feed=\"dpdk:port0\"} $PBYTES\$" "$T/dpdk.metrics" ||
	fail "--dpdk /metrics: source bytes, want $PBYTES: $(grep source_bytes "$T/dpdk.metrics")"
grep -q '^trades_candles_late_total{interval="1m"} 0$' "$T/dpdk.metrics" ||
	fail "--dpdk --candles 1m: no 1m candle series"
dpdk_stop a "$P1"
SD_EXTRA=()
"$PY" "$HERE/compare.py" totals "$T/both.json" "$T/a.json" --feed j --accepted "$JCOUNT" \
	--duplicates "$JCOUNT" ||
	fail "second run: JSON lines not all duplicates"

# 4. Usage errors exit 2 and say why.
rc=0
"$TRADES" serve --dpdk "--no-pci" --dpdk-mold 0 --state-dir "$T/u" 2>"$T/u.err" || rc=$?
[ "$rc" -eq 2 ] && grep -q "use UDP_PORT" "$T/u.err" || fail "bad --dpdk-mold: exit $rc"
rc=0
"$TRADES" serve --dpdk "--no-pci" --dpdk-mold 1 --udp 127.0.0.1:0 2>"$T/u.err" || rc=$?
[ "$rc" -eq 2 ] || fail "--udp with --dpdk: exit $rc"
rc=0
"$TRADES" serve --dpdk "--no-huge -m 512 --no-pci --no-shconf --file-prefix $(dpdk_prefix kafka) --vdev=net_null0" \
	--dpdk-mold 1 --kafka-candles-topic c --state-dir "$T/k" >/dev/null 2>"$T/k.err" || rc=$?
[ "$rc" -eq 2 ] && grep -Eq "kafka-candles-topic c needs --kafka|without" "$T/k.err" ||
	fail "--dpdk --kafka-candles-topic without --kafka: exit $rc: $(tail -n 2 "$T/k.err")"
# Other candle settings than the state's: refused (exit 3) before the EAL starts.
rc=0
"$TRADES" serve --dpdk "--no-pci" --dpdk-mold 1 --candles 1s,1m --state-dir "$T/a" \
	>/dev/null 2>"$T/c.err" || rc=$?
[ "$rc" -eq 3 ] && grep -q "candles were kept with 1 intervals" "$T/c.err" ||
	fail "--dpdk --candles 1s,1m on a 1m state: exit $rc: $(tail -n 2 "$T/c.err")"
# Three lines on one feed: the decoder's set-up (the one --mold uses) refuses it.
rc=0
"$TRADES" serve --dpdk "--no-huge -m 512 --no-pci --no-shconf --file-prefix $(dpdk_prefix three) --vdev=net_null0" \
	--dpdk-mold 1,feed=a --dpdk-mold 2,feed=a --dpdk-mold 3,feed=a --state-dir "$T/three" \
	>/dev/null 2>"$T/three.err" || rc=$?
[ "$rc" -eq 2 ] && grep -q "feed a: 3 --mold lines; at most two" "$T/three.err" ||
	fail "three lines on one feed: exit $rc: $(tail -n 2 "$T/three.err")"
echo "PASS dpdk-pcap ($FRAMES frames, $DROPS dropped by kind)"
