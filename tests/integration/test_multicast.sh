#!/usr/bin/env bash
# test_multicast.sh -- a MoldUDP64 feed on an IPv4 multicast group: serve
# joins the group (IP_ADD_MEMBERSHIP on iface=) and gets every trade.  Runs
# inside a network namespace of its own (loopback with multicast on), so it
# touches no real interface; needs root for `ip netns`.
source "$(dirname "$0")/lib.sh"
need_tool ip iproute2
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root for ip netns"; exit 77; }
NS=trades-mc-$$
ip netns add "$NS" || fail "ip netns add"
trap 'ip netns del "$NS" 2>/dev/null; cleanup' EXIT
ip netns exec "$NS" ip link set lo up
ip netns exec "$NS" ip link set lo multicast on
ip netns exec "$NS" ip route add 224.0.0.0/4 dev lo
GROUP=239.7.7.7:45000

ip netns exec "$NS" "$TRADES" serve --mold "$GROUP,iface=127.0.0.1,feed=mc" --state-dir "$T/mc" \
	--itch-midnight 2025-01-02T00:00:00-05:00 --book-orders 1Mi >"$T/mc.out" 2>"$T/serve.err" &
SERVE_PID=$!
for _ in $(seq 1 100); do grep -q '^ready$' "$T/mc.out" && break; sleep 0.1; done
grep -q '^ready$' "$T/mc.out" || fail "serve not ready"
ip netns exec "$NS" "$TRADES_GEN" --format moldudp64 --count 5000 --instruments 6 --seed 4 \
	--udp "$GROUP" --rate 100000 --totals "$T/mc.json" 2>/dev/null || fail "gen"
# Wait on the service's own counters (the feed's accepted reaching the generator's trades), not
# a fixed 0.3 s: a loaded or ASan receiver can take longer than that.
want=$("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["trades"])' "$T/mc.json")
deadline=$((SECONDS + 60))
until [ "$("$TRADES" stat --state-dir "$T/mc" --json | "$PY" -c '
import json, sys
print(sum(f["accepted"] for f in json.load(sys.stdin)["feeds"] if f["feed"] == "mc"))')" -ge "$want" ]; do
	[ "$SECONDS" -lt "$deadline" ] || fail "feed mc: fewer than $want trades accepted after 60 s"
	sleep 0.1
done
stop_serve
stat_json "$T/mc" "$T/stat.json"
"$PY" "$HERE/compare.py" totals "$T/mc.json" "$T/stat.json" --feed mc --gaps 0 || fail "multicast totals"
echo "PASS multicast"
