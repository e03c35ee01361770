#!/usr/bin/env bash
# test_mold_feeds.sh -- issue 7, defect 4: more MoldUDP64 feeds than the
# pipeline used to have tickers for (8).  serve takes 10 --mold feeds; every
# one must publish its decoder counters into the state while serve runs (the
# ticker does that), and a dropped packet on the last feed must become a
# journaled gap on its deadline, not only when another packet arrives.
source "$(dirname "$0")/lib.sh"
FEEDS=10
MID=(--itch-midnight 2025-01-02T00:00:00-05:00 --book-orders 64Ki)
GEN=("$TRADES_GEN" --format itch --format moldudp64 --instruments 4 --count 300 --rate 20000)

args=()
for i in $(seq 0 $((FEEDS - 1))); do
	args+=(--mold "127.0.0.1:0,feed=m$i")
done
start_serve feeds "${args[@]}" "${MID[@]}" --mold-timeout 50 --state-dir "$T/st"
mapfile -t PORTS < <(awk '$1=="listening" && $2=="udp" {n=split($3,a,":"); print a[n]}' "$T/feeds.out")
[ "${#PORTS[@]}" -eq "$FEEDS" ] || fail "serve listens on ${#PORTS[@]} UDP ports, want $FEEDS"

for i in $(seq 0 $((FEEDS - 1))); do
	drop=()
	[ "$i" -eq $((FEEDS - 1)) ] && drop=(--drop-every 4)
	"${GEN[@]}" --seed "$((i + 1))" --udp "127.0.0.1:${PORTS[$i]}" "${drop[@]}" \
		--totals "$T/m$i.json" 2>"$T/m$i.gen" || fail "gen m$i: $(cat "$T/m$i.gen")"
done
DROPPED=$(sed -n 's/.* \([0-9]*\) packets dropped.*/\1/p' "$T/m$((FEEDS - 1)).gen")
[ "${DROPPED:-0}" -gt 0 ] || fail "the last feed's generator dropped nothing: $(cat "$T/m$((FEEDS - 1)).gen")"

# While serve still runs, and with no packet arriving any more: every feed's
# decoded + missing messages reach the generator's count, and the last
# feed's holes are gaps.  Bounded: 15 s.
ok=0
end=$(($(date +%s) + 15))
while [ "$(date +%s)" -lt "$end" ]; do
	stat_json "$T/st" "$T/live.json"
	if "$PY" - "$T/live.json" "$T" "$FEEDS" "$DROPPED" >"$T/why" <<'PY'; then
import json, sys
d = json.load(open(sys.argv[1]))
T, n, dropped = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
feeds = {f["feed"]: f for f in d["feeds"]}
bad = []
for i in range(n):
    want = json.load(open(f"{T}/m{i}.json"))["messages"]
    f = feeds.get(f"m{i}")
    got = f["decoder"].get("messages", 0) + f["gap_missing"] if f else None
    if got != want:
        bad.append(f"m{i}: {got} of {want} messages published")
last = feeds.get(f"m{n - 1}")
if not last or last["gaps"] != dropped:
    bad.append(f"m{n - 1}: gaps {last and last['gaps']}, want {dropped}")
print("; ".join(bad))
sys.exit(1 if bad else 0)
PY
		ok=1
		break
	fi
	sleep 0.2
done
[ "$ok" -eq 1 ] || fail "live counters: $(cat "$T/why")"
stop_serve
echo "PASS mold feeds: $FEEDS feeds publish their counters"
