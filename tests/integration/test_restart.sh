#!/usr/bin/env bash
# test_restart.sh -- kill -9 `trades serve` mid-stream, restart it: the state
# must equal what the journal says, exactly (nothing double-counted, nothing
# that reached the journal lost).  Then the whole stream is sent again, as an
# exchange re-sends after a reconnect: every trade already stored must be
# dropped as a duplicate and the final state must equal the generator's totals.
source "$(dirname "$0")/lib.sh"
N=${RESTART_COUNT:-600000}

# The generator is deterministic: the same arguments give the same trades
# whatever the transport, so the expected totals come from a dry run.
"$TRADES_GEN" --count "$N" --instruments 32 --seed 5 --out /dev/null --totals "$T/totals.json" \
	2>/dev/null || fail "gen dry run"
start_serve serve --tcp 127.0.0.1:0,feed=exch --state-dir "$T/state"
"$TRADES_GEN" --count "$N" --instruments 32 --seed 5 --tcp "127.0.0.1:$TCP_PORT" --rate 200000 \
	>/dev/null 2>"$T/gen.err" &
GEN_PID=$!
# Kill once a good part of the stream is in: mid-stream by construction.
for i in $(seq 1 300); do
	got=$("$TRADES" stat --state-dir "$T/state" --json |
		"$PY" -c 'import json,sys; print(sum(f["accepted"] for f in json.load(sys.stdin)["feeds"]))')
	[ "$got" -ge $((N / 4)) ] && break
	sleep 0.1
done
[ "$got" -ge $((N / 4)) ] || fail "stream did not get going ($got accepted)"
kill -KILL "$SERVE_PID"
wait "$SERVE_PID" 2>/dev/null || true
SERVE_PID=
wait "$GEN_PID" 2>/dev/null || true # it fails: its peer died

# Restart: recovery applies what the state missed; state == journal.
start_serve serve2 --tcp 127.0.0.1:0,feed=exch --state-dir "$T/state"
"$TRADES" tail --state-dir "$T/state" >"$T/tail.jsonl"
stat_json "$T/state" "$T/mid.json"
STORED=$(wc -l <"$T/tail.jsonl")
echo "killed after $got accepted; journal holds $STORED trades"
[ "$STORED" -ge "$got" ] || fail "journal lost trades: $STORED < $got seen accepted before the kill"
[ "$STORED" -lt "$N" ] || fail "kill landed after the end of the stream; not a mid-stream test"
"$PY" "$HERE/compare.py" journal "$T/tail.jsonl" "$T/mid.json" || fail "state != journal after kill -9"

# The exchange re-sends everything: exactly STORED duplicates, exact totals.
"$TRADES_GEN" --count "$N" --instruments 32 --seed 5 --tcp "127.0.0.1:$TCP_PORT" 2>"$T/gen2.err" ||
	fail "re-send failed: $(cat "$T/gen2.err")"
wait_received "$T/state" "$((N + STORED))" 120
stop_serve
stat_json "$T/state" "$T/final.json"
"$PY" "$HERE/compare.py" totals "$T/totals.json" "$T/final.json" --feed exch \
	--accepted "$N" --duplicates "$STORED" || fail "final state != generator totals"
echo "PASS restart: $STORED trades survived kill -9, $N total after re-send"
