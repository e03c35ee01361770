#!/usr/bin/env bash
# test_dpdk_veth.sh -- serve --dpdk on one end of a veth pair, in a network
# namespace of this test's own, with trades-gen as the exchange in a second
# one: MoldUDP64 at a bounded rate with induced gaps (every 7th packet
# dropped), recovered through the generator's re-request server over a
# second veth pair (the kernel path, as exchanges expect), and JSON lines on
# another port.  PMDs: net_af_packet, and net_af_xdp where it works here.
# Totals must be exact; the same traffic through io_uring on the same veth
# gives the same totals.  No hugepages: --no-huge -m 512 --no-pci.
source "$(dirname "$0")/lib.sh"
source "$HERE/dpdk_lib.sh"
dpdk_require dpdk-veth
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root for ip netns and raw sockets"; exit 77; }
command -v ip >/dev/null || fail "needs ip: install the Debian package iproute2"
dpdk_pmd net_af_packet librte-net-af-packet23
NSR=trades-dr-$$ NST=trades-dt-$$
trap 'ip netns del "$NSR" 2>/dev/null; ip netns del "$NST" 2>/dev/null; dpdk_cleanup; cleanup' EXIT
# --mold-timeout, --rate: re-request answers can be late on a loaded 2-core machine; 512
# packets wait behind a hole, 0.85 s at this rate.
MID=(--itch-midnight 2025-01-02T00:00:00-05:00 --book-orders 1Mi --mold-timeout 1000)
RR=10.98.0.1:26400

ip netns add "$NSR" && ip netns add "$NST" || fail "ip netns add"
ip link add vd0 netns "$NSR" type veth peer name vd1 netns "$NST" || fail "veth (data)"
ip link add vc0 netns "$NSR" type veth peer name vc1 netns "$NST" || fail "veth (control)"
R() { ip netns exec "$NSR" "$@"; }
X() { ip netns exec "$NST" "$@"; }
R ip link set lo up && R ip link set vd0 up && R ip addr add 10.98.0.2/24 dev vc0 &&
	R ip link set vc0 up || fail "rx namespace set-up"
MAC=$(R cat /sys/class/net/vd0/address)
X ip link set lo up && X ip addr add 10.99.0.1/24 dev vd1 && X ip link set vd1 up &&
	X ip neigh add 10.99.0.2 lladdr "$MAC" dev vd1 nud permanent &&
	X ip addr add 10.98.0.1/24 dev vc1 && X ip link set vc1 up || fail "tx namespace set-up"


# traffic NAME: the exchange: MoldUDP64 with gaps, then JSON lines, paced.
traffic() {
	X "$TRADES_GEN" --format moldudp64 --count 20000 --instruments 12 --seed 9 --rate 25000 \
		--udp 10.99.0.2:26477 --drop-every 7 --rerequest "$RR" --linger-ms 1500 \
		--totals "$T/mold.json" 2>"$T/$1.gen" || fail "$1: gen mold: $(cat "$T/$1.gen")"
	X "$TRADES_GEN" --count 5000 --instruments 5 --seed 3 --rate 50000 --udp 10.99.0.2:7002 \
		--totals "$T/j.json" 2>>"$T/$1.gen" || fail "$1: gen jsonl"
	sleep 0.5
}

# run NAME SERVE-ARGS...: serve in the rx namespace, the traffic, stop, stat.
run() {
	local name=$1 i rc=0
	shift
	ip netns exec "$NSR" "$TRADES" serve "$@" --mold-rerequest "$RR" "${MID[@]}" --state-dir "$T/$name" \
		>"$T/$name.out" 2>"$T/$name.err" &
	SERVE_PID=$!
	for i in $(seq 1 300); do # 30 s: EAL init is slow on a loaded machine
		grep -q '^ready$' "$T/$name.out" && break
		kill -0 "$SERVE_PID" 2>/dev/null || return 1
		sleep 0.1
	done
	grep -q '^ready$' "$T/$name.out" || fail "$name: not ready in 30 s"
	traffic "$name"
	stop_serve
	stat_json "$T/$name" "$T/$name.json"
}

# check NAME: exact totals (both feeds), every gap recovered.
check() {
	"$PY" - "$T/mold.json" "$T/j.json" "$T/$1.json" <<'PY' || fail "$1: totals"
import json, sys
a, b, st = (json.load(open(p)) for p in sys.argv[1:])
want = {i["pair"]: i for i in a["instruments"] + b["instruments"]}
got = {i["pair"]: i for i in st["instruments"]}
keys = ("trades", "volume", "notional", "vwap", "first", "last", "high", "low")
bad = [(p, k, want[p][k], got.get(p, {}).get(k)) for p in want for k in keys
       if got.get(p, {}).get(k) != want[p][k]]
assert not bad and set(got) == set(want), bad[:5]
f = {x["feed"]: x for x in st["feeds"]}
m, j = f["v"], f["vj"]
assert m["gaps"] > 0 and m["decoder"].get("recovered", 0) == m["gap_missing"], m
assert m["decoder"].get("gaps_unrecovered", 0) == 0 and m["duplicates"] == 0, m
assert j["accepted"] == b["count"] and j["malformed"] == 0 and j["duplicates"] == 0, j
print("exact:", sum(i["trades"] for i in got.values()), "trades,",
      m["decoder"]["recovered"], "messages recovered")
PY
}

EAL="--no-huge -m 512 --no-pci --no-shconf"
FILTERS=(--dpdk-mold 26477,feed=v --dpdk-jsonl 7002,feed=vj --dpdk-idle-us 200)

# 1. net_af_packet (framecnt 8192: the default 512 drops under load).
run afp --dpdk "$EAL --file-prefix=$(dpdk_prefix afp) --vdev=net_af_packet0,iface=vd0,framecnt=8192" \
	"${FILTERS[@]}" || fail "af_packet: serve exited at start: $(tail -n 5 "$T/afp.err")"
check afp
grep -q "port net_af_packet0: ipackets" "$T/afp.err" || fail "af_packet: no port stats at stop"

# 2. net_af_xdp where the kernel, libbpf and the veth allow it; else say why.
if ls "$DPDK_PMD_DIR"/librte_net_af_xdp.so* >/dev/null 2>&1; then
	if run afx --dpdk "$EAL --file-prefix=$(dpdk_prefix afx) --vdev=net_af_xdp0,iface=vd0" \
		"${FILTERS[@]}"; then
		check afx
	else
		echo "SKIP af_xdp part: the PMD did not start here: $(grep -E 'ERR|rror' "$T/afx.err" | tail -n 2)"
		SERVE_PID=
	fi
else
	echo "SKIP af_xdp part: librte_net_af_xdp not installed (Debian package librte-net-af-xdp23)"
fi

# 3. The same traffic through the kernel and io_uring on the same veth.
R ip addr add 10.99.0.2/24 dev vd0 || fail "address for the io_uring run"
run uring --io uring --mold 10.99.0.2:26477,feed=v --udp 10.99.0.2:7002,feed=vj ||
	fail "io_uring: serve exited at start: $(tail -n 5 "$T/uring.err")"
check uring
"$PY" - "$T/afp.json" "$T/uring.json" <<'PY' || fail "DPDK and io_uring totals differ"
import json, sys
a, b = (sorted(json.load(open(p))["instruments"], key=lambda i: i["pair"]) for p in sys.argv[1:])
strip = lambda l: [{k: v for k, v in i.items() if k != "last_ts_ns"} for i in l]
assert strip(a) == strip(b)
PY
echo "PASS dpdk-veth"
