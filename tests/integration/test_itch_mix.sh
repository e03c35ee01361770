#!/usr/bin/env bash
# test_itch_mix.sh -- the generator's real-day message mix (--mix nasdaq, the
# benchmark harness's ITCH file): the mix is what it claims, and replay ends
# with exactly the generator's totals.
source "$(dirname "$0")/lib.sh"
"$TRADES_GEN" --format itch --mix nasdaq --count 20000 --instruments 200 --seed 3 \
	--out "$T/day.itch" --totals "$T/day.json" 2>"$T/gen.err" || fail "gen: $(cat "$T/gen.err")"
"$TRADES" replay --format itch --itch-midnight 2025-01-02T00:00:00-05:00 --book-orders 1Mi \
	--feed day --state-dir "$T/s" "$T/day.itch" 2>"$T/replay.err" || fail "replay"
stat_json "$T/s" "$T/s.json"
"$PY" "$HERE/compare.py" totals "$T/day.json" "$T/s.json" --feed day --duplicates 0 ||
	fail "replay of the nasdaq mix != generator totals"
# The mix, from the generator's own per-type counts (stderr summary):
# A 45, D 38, U 8, E 3, X 2, F 2, P 1, C 1 (percent of messages, +-2).
"$PY" - "$T/gen.err" <<'PY' || fail "message mix is not a real day's"
import re, sys
line = [l for l in open(sys.argv[1]) if "messages (" in l][0]
total = int(re.search(r"itch: (\d+) messages", line).group(1))
by = {k: int(v) for k, v in re.findall(r"\b([A-Z]) (\d+)", line)}
want = {"A": 45, "D": 38, "U": 8, "E": 3, "X": 2, "F": 2, "P": 1, "C": 1}
bad = [f"{k}: {100 * by.get(k, 0) / total:.1f}% (want {w}%)" for k, w in want.items()
       if abs(100 * by.get(k, 0) / total - w) > 2.5]
if bad:
    print("mix off:", ", ".join(bad)); sys.exit(1)
print("mix ok:", {k: round(100 * by[k] / total, 1) for k in want})
PY
echo "ok: nasdaq mix, $(grep -o 'itch: [0-9]* messages' "$T/gen.err")"
