#!/usr/bin/env bash
# bench_dpdk.sh BUILD_DIR [N] -- the DPDK source, each part against its baseline in the same run.
#
# 1. net_pcap replay (no hugepages: --no-huge -m 512 --no-pci, lcores 0-1: rx on lcore 1) of a
#    MoldUDP64 capture of N trade-bearing ITCH messages (default 200,000) in packets of at most
#    BENCH_MTU bytes (default 256: few messages per packet, so the per-packet path dominates):
#      bench_dpdk_free               rx burst + rte_pktmbuf_free_bulk only: the floor
#      trades serve --dpdk ...       parse, filter, MoldUDP64 + ITCH decode, dedup, journal, state
#    Best of BENCH_RUNS (3).  Time is first to last frame, each receiver's own batch clock (serve
#    logs it at stop).  Printed: packets/s, trades/s (serve) and the ratio serve / free-only
#    (the aim: >= 0.90).  Both read the capture through the PMD, which is part of both.
#
# 2. veth (root; two network namespaces made and deleted here): trades-gen sends MoldUDP64 at
#    BENCH_RATE messages/s (default 400,000) to one end of a veth pair; the other end is read by
#      trades serve --dpdk (net_af_packet, framecnt 8192)
#      trades serve --io uring --mold (the kernel's UDP stack on the same veth, an address added)
#    Time: the sequencer's log lines at the first and the last packet, for both (1 ms).
#    Printed: packets/s received, messages lost (gaps; no re-requests here), CPU seconds of the
#    receiver over the send (user + system), and the ratios.  The DPDK loop polls: CPU ~ wall.
#
# Exit status: 0 ok, 1 a step failed, 2 usage.
set -euo pipefail

usage() {
	echo "usage: $0 BUILD_DIR [N]   (N trade-bearing ITCH messages, default 200000)" >&2
	exit 2
}
[ $# -ge 1 ] && [ $# -le 2 ] || usage
BUILD=$1
N=${2:-200000}
[[ $N =~ ^[1-9][0-9]{0,8}$ ]] || { echo "$0: N must be 1..999999999, got '$N'" >&2; exit 2; }
MTU=${BENCH_MTU:-256}
RUNS=${BENCH_RUNS:-3}
RATE=${BENCH_RATE:-400000}
[[ $MTU =~ ^[0-9]+$ ]] && [[ $RUNS =~ ^[1-9]$ ]] && [[ $RATE =~ ^[1-9][0-9]*$ ]] ||
	{ echo "$0: BENCH_MTU, BENCH_RUNS (1..9), BENCH_RATE must be numbers" >&2; exit 2; }
TRADES=$BUILD/trades
GEN=$BUILD/trades-gen
FREE=$BUILD/bench/bench_dpdk_free
PY=${PYTHON:-python3}
MID=(--itch-midnight 2025-01-02T00:00:00-05:00)
START_WAIT_S=60
T=$(mktemp -d "${TMPDIR:-/tmp}/bench-dpdk.XXXXXX")
chmod 0755 "$T"
source "$(dirname "$0")/lib.sh"
need_bins "$TRADES" "$GEN" "$FREE"
"$TRADES" version | grep -q 'dpdk=yes' || { echo "$0: $TRADES is built without DPDK" >&2; exit 2; }
NSR=bench-dr-$$ NST=bench-dt-$$
bench_dpdk_cleanup() {
	ip netns del "$NSR" 2>/dev/null || true
	ip netns del "$NST" 2>/dev/null || true
	rm -rf /var/run/dpdk/bench-$$-* 2>/dev/null || true
	bench_cleanup
}
trap bench_dpdk_cleanup EXIT
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }'; }
ipackets() { # STATE_DIR: the DPDK port's packet count published in the state
	"$TRADES" stat --state-dir "$1" --json 2>/dev/null | "$PY" -c '
import json, sys
f = [x for x in json.load(sys.stdin)["feeds"] if x["feed"] == "dpdk:port0"]
print(f[0]["decoder"].get("port_ipackets", 0) if f else 0)' 2>/dev/null || echo 0
}
accepted() { # STATE_DIR FEED
	"$TRADES" stat --state-dir "$1" --json | "$PY" -c "
import json, sys
print([f for f in json.load(sys.stdin)['feeds'] if f['feed'] == '$2'][0]['accepted'])"
}

# ---------------------------------------------------------------- 1. net_pcap replay
"$GEN" --format moldudp64 --count "$N" --seed 1 --mtu "$MTU" --pcap "$T/p.pcap" \
	--totals "$T/p.json" 2>"$T/gen.err" || fail "trades-gen"
FRAMES=$(sed -n 's/.*pcap \([0-9]*\) packets.*/\1/p' "$T/gen.err" | head -n 1)
[ -n "$FRAMES" ] || fail "no packet count from trades-gen"
eal() { echo "-l 0-1 --no-huge -m 512 --no-pci --no-shconf --file-prefix=bench-$$-$1 --vdev=net_pcap0,rx_pcap=$T/p.pcap"; }
echo "net_pcap replay: $N trade-bearing messages, $FRAMES packets of <= $MTU bytes, best of $RUNS"

best_free=0
for i in $(seq 1 "$RUNS"); do
	out=$("$FREE" "$FRAMES" 2000 $(eal free$i) 2>"$T/free.err") || fail "bench_dpdk_free"
	ns=$(awk '{print $6}' <<<"$out")
	[ "$(awk '{print $2}' <<<"$out")" = "$FRAMES" ] || fail "free-only got $out, want $FRAMES frames"
	[ "$best_free" = 0 ] || [ "$ns" -lt "$best_free" ] && best_free=$ns
done

best_serve=0 trades=0
for i in $(seq 1 "$RUNS"); do
	rm -rf "$T/s"
	"$TRADES" serve --dpdk "$(eal serve$i)" --dpdk-mold 26477,group=233.54.12.111,feed=b \
		--dpdk-idle-us 0 "${MID[@]}" --state-dir "$T/s" >"$T/serve.out" 2>"$T/serve.err" &
	RECV_PID=$!
	wait_for "$T/serve.out" '^ready$'
	for _ in $(seq 1 600); do # 60 s
		[ "$(ipackets "$T/s")" -ge "$FRAMES" ] && break
		sleep 0.1
	done
	stop_serve
	ns=$(sed -n 's/.* over \([0-9]*\) ns (first to last).*/\1/p' "$T/serve.err")
	[ -n "$ns" ] || fail "no timing line in serve's log"
	grep -q "ipackets $FRAMES," "$T/serve.err" || fail "serve did not get all $FRAMES frames"
	trades=$(accepted "$T/s" b)
	[ "$best_serve" = 0 ] || [ "$ns" -lt "$best_serve" ] && best_serve=$ns
done
pf=$(rate "$FRAMES" "$best_free")
ps=$(rate "$FRAMES" "$best_serve")
printf '  %-34s %10s packets/s  (%s s)\n' "free-only rx loop" "$pf" "$(secs "$best_free")"
printf '  %-34s %10s packets/s  %10s trades/s  (%s s)\n' "trades serve --dpdk (full)" "$ps" \
	"$(rate "$trades" "$best_serve")" "$(secs "$best_serve")"
echo "  full / free-only packet rate: $(ratio "$ps" "$pf")   (aim >= 0.90)"

# ---------------------------------------------------------------- 2. veth: af_packet vs io_uring
if [ "$(id -u)" -ne 0 ]; then
	echo "veth: SKIP (needs root for ip netns)"
	exit 0
fi
ip netns add "$NSR" && ip netns add "$NST" || fail "ip netns add"
ip link add vd0 netns "$NSR" type veth peer name vd1 netns "$NST" || fail "veth"
ip -n "$NSR" link set lo up && ip -n "$NSR" link set vd0 up
MAC=$(ip netns exec "$NSR" cat /sys/class/net/vd0/address)
ip -n "$NST" addr add 10.99.0.1/24 dev vd1 && ip -n "$NST" link set vd1 up &&
	ip -n "$NST" neigh add 10.99.0.2 lladdr "$MAC" dev vd1 nud permanent || fail "veth addresses"
VN=$((N / 2))
echo "veth: $VN trade-bearing messages at $RATE messages/s, MoldUDP64 packets <= 1500 bytes"

# veth_run NAME SERVE-ARGS...: serve in the rx namespace, the paced send, stop; prints
# "PACKETS NS CPU_S LOST" (NS: first to last packet).
veth_run() {
	local name=$1 c0 c1 ns lost pk hz
	shift
	hz=$(getconf CLK_TCK)
	rm -rf "$T/$name"
	ip netns exec "$NSR" "$TRADES" serve "$@" "${MID[@]}" --state-dir "$T/$name" \
		>"$T/$name.out" 2>"$T/$name.err" &
	RECV_PID=$!
	wait_for "$T/$name.out" '^ready$'
	sleep 0.5
	c0=$(awk '{print $14 + $15}' "/proc/$RECV_PID/stat")
	ip netns exec "$NST" "$GEN" --format moldudp64 --count "$VN" --seed 2 --rate "$RATE" \
		--udp 10.99.0.2:26477 --totals "$T/v.json" 2>"$T/$name.gen" || fail "$name: gen"
	sleep 0.5
	c1=$(awk '{print $14 + $15}' "/proc/$RECV_PID/stat")
	stop_serve
	pk=$(sed -n 's/.*line A: \([0-9]*\) datagrams sent.*/\1/p' "$T/$name.gen")
	lost=$("$TRADES" stat --state-dir "$T/$name" --json | "$PY" -c '
import json, sys
print(sum(f["gap_missing"] for f in json.load(sys.stdin)["feeds"] if f["feed"] == "v"))')
	# Both receivers: the sequencer's first and last packet log lines (1 ms).  Not the DPDK
	# port's own span: the port also sees the veth's IPv6 chatter, long before the feed.
	ns=$("$PY" - "$T/$name.err" <<'PY'
import re, sys, datetime
t = {}
for l in open(sys.argv[1]):
    for k in ("adopted session", "end of session"):
        if k in l and k not in t:
            t[k] = datetime.datetime.strptime(l[:23], "%Y-%m-%dT%H:%M:%S.%f")
print(int((t["end of session"] - t["adopted session"]).total_seconds() * 1e9))
PY
	)
	echo "$pk $ns $(awk -v c=$((c1 - c0)) -v hz="$hz" 'BEGIN { printf "%.2f", c / hz }') $lost"
}
read -r pa na ca la <<<"$(veth_run afp --dpdk "-l 0-1 --no-huge -m 512 --no-pci --no-shconf --file-prefix=bench-$$-afp --vdev=net_af_packet0,iface=vd0,framecnt=8192" \
	--dpdk-mold 26477,feed=v)"
ip -n "$NSR" addr add 10.99.0.2/24 dev vd0 || fail "address for io_uring"
read -r pu nu cu lu <<<"$(veth_run uring --io uring --mold 10.99.0.2:26477,feed=v)"
printf '  %-34s %10s packets/s  lost %6s messages  CPU %6s s\n' "DPDK net_af_packet" \
	"$(rate "$pa" "$na")" "$la" "$ca" "io_uring (kernel UDP)" "$(rate "$pu" "$nu")" "$lu" "$cu"
echo "  DPDK af_packet / io_uring: packet rate $(ratio "$(rate "$pa" "$na")" "$(rate "$pu" "$nu")"), CPU $(ratio "$ca" "$cu")"
