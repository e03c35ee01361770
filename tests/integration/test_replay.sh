#!/usr/bin/env bash
# test_replay.sh -- `trades replay` through the same pipeline: exact totals,
# idempotent (a second replay stores nothing), stdin works, and the output
# contract round-trips: the journal's JSON lines replayed into a fresh state
# give the same totals digit for digit.
source "$(dirname "$0")/lib.sh"
N=200000

"$TRADES_GEN" --count "$N" --instruments 40 --seed 3 --out "$T/feed.jsonl" \
	--totals "$T/totals.json" 2>/dev/null || fail "gen failed"
"$TRADES" replay --state-dir "$T/s1" "$T/feed.jsonl" 2>"$T/replay.err" || fail "replay: $(cat "$T/replay.err")"
grep -q "$N accepted" "$T/replay.err" || fail "summary: $(cat "$T/replay.err")"
stat_json "$T/s1" "$T/stat.json"
"$PY" "$HERE/compare.py" totals "$T/totals.json" "$T/stat.json" --feed replay \
	--accepted "$N" --duplicates 0 --malformed 0 || fail "replay != totals"

# Idempotent: the same file again (through stdin) is all duplicates.
"$TRADES" replay --state-dir "$T/s1" - <"$T/feed.jsonl" 2>"$T/replay2.err" || fail "stdin replay"
stat_json "$T/s1" "$T/stat2.json"
"$PY" "$HERE/compare.py" totals "$T/totals.json" "$T/stat2.json" --feed replay \
	--accepted "$N" --duplicates "$N" || fail "second replay changed the state"

# Contract round trip: tail -> replay into a fresh state -> same totals.
"$TRADES" tail --state-dir "$T/s1" >"$T/tail.jsonl"
[ "$(wc -l <"$T/tail.jsonl")" -eq "$N" ] || fail "tail printed $(wc -l <"$T/tail.jsonl") lines"
head -n 1 "$T/tail.jsonl" | "$PY" -c '
import json, sys
t = json.loads(sys.stdin.read())
want = ["pair","price","volume","timestamp","timestamp_ms","side","trade_id","feed","seq","rx_ns"]
assert list(t)[:10] == want, list(t)
assert t["feed"] == "replay" and isinstance(t["timestamp_ms"], int)
' || fail "contract keys wrong: $(head -n 1 "$T/tail.jsonl")"
"$TRADES" replay --state-dir "$T/s2" "$T/tail.jsonl" 2>/dev/null || fail "replay of tail output"
stat_json "$T/s2" "$T/stat3.json"
"$PY" "$HERE/compare.py" totals "$T/totals.json" "$T/stat3.json" --accepted "$N" ||
	fail "contract round trip changed values"

# tail --from N --count M prints exactly that window (entry numbers are
# journal positions; the first entries define feed and instruments).
"$TRADES" tail --state-dir "$T/s1" --from 1 --count 5 | wc -l | grep -qx 5 || fail "tail --count"

# --decode-only stores nothing.
"$TRADES" replay --decode-only --state-dir "$T/s3" "$T/feed.jsonl" 2>"$T/d.err" || fail "decode-only"
[ ! -e "$T/s3/trades.state" ] || fail "--decode-only created a state file"
echo "PASS replay"
