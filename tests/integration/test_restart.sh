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
# The kill must land mid-stream whatever the machine's speed (an ASan binary on
# a loaded VM was too slow for a poll of `stat` to catch a paced stream).  So
# the sender sends the first half, holds the connection open until the test
# says go, then trickles the rest (20,000 lines/s: seconds, not milliseconds);
# the kill comes 0.2 s after go, with the connection open and lines in flight.
"$TRADES_GEN" --count "$N" --instruments 32 --seed 5 --out "$T/stream.jsonl" 2>/dev/null ||
	fail "gen to file"
HALF=$((N / 2))
"$PY" - "$T/stream.jsonl" "$TCP_PORT" "$HALF" "$T/go" <<'PYEOF' >/dev/null 2>"$T/gen.err" &
import os, socket, sys, time
path, port, half, go = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
lines = open(path, "rb").read().splitlines(keepends=True)
s = socket.create_connection(("127.0.0.1", port))
s.sendall(b"".join(lines[:half]))
for _ in range(6000):  # bounded: 10 minutes at most
    if os.path.exists(go):
        break
    time.sleep(0.1)
try:
    for i in range(half, len(lines), 200):  # 200 lines per 10 ms
        s.sendall(b"".join(lines[i:i + 200]))
        time.sleep(0.01)
except OSError:
    pass  # its peer died: expected
PYEOF
GEN_PID=$!
wait_accepted() { # $1 = count: bounded wait for the first half to be in
	for i in $(seq 1 1200); do
		got=$("$TRADES" stat --state-dir "$T/state" --json |
			"$PY" -c 'import json,sys; print(sum(f["accepted"] for f in json.load(sys.stdin)["feeds"]))')
		[ "$got" -ge "$1" ] && return 0
		sleep 0.1
	done
	return 1
}
wait_accepted "$HALF" || fail "the first half did not arrive ($got of $HALF accepted)"
touch "$T/go"
sleep 0.2
kill -KILL "$SERVE_PID"
wait "$SERVE_PID" 2>/dev/null || true
SERVE_PID=
wait "$GEN_PID" 2>/dev/null || true

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
