#!/usr/bin/env bash
# test_torture.sh SYNC -- crash torture of acknowledged ingest (issue 10).
# A reliable generator (trades-gen --reliable, 4 connections) streams
# TORTURE_COUNT trades to a `--tcp HOST:PORT,ack` listener while the service
# is killed with SIGKILL at random moments, TORTURE_ROUNDS times, each time
# restarted on the same port; the generator reconnects and resends what was
# not acknowledged.  After every restart received == accepted + duplicates +
# malformed + store_failed; at the end state and journal equal the
# generator's totals exactly: nothing lost, nothing stored twice.
# SYNC: always | interval:MS.  Longer runs: TORTURE_ROUNDS=200 TORTURE_COUNT=5000000.
source "$(dirname "$0")/lib.sh"
SYNC=${1:?usage: test_torture.sh always|interval:MS}
N=${TORTURE_COUNT:-1000000}
ROUNDS=${TORTURE_ROUNDS:-20}
CONNS=4
GEN_PID=
torture_cleanup() {
	[ -z "$GEN_PID" ] || kill -KILL "$GEN_PID" 2>/dev/null || true
	cleanup
}
trap torture_cleanup EXIT

# feed_counts: "received accepted duplicates malformed store_failed" of feed torture
feed_counts() {
	"$TRADES" stat --state-dir "$T/state" --json | "$PY" -c '
import json, sys
f = [x for x in json.load(sys.stdin)["feeds"] if x["feed"] == "torture"]
print(*(f[0][k] for k in ("received", "accepted", "duplicates", "malformed", "store_failed")) if f else "0 0 0 0 0")'
}

serve_at() { # PORT
	start_serve serve --tcp "127.0.0.1:$1,ack,feed=torture" --state-dir "$T/state" --sync "$SYNC"
}
serve_at 0
PORT=$TCP_PORT
# paced so that the stream outlasts the rounds (each ~0.1-0.5 s plus two restarts)
RATE=$((N / (ROUNDS * 2 + 4)))
"$TRADES_GEN" --count "$N" --instruments 64 --seed 11 --connections "$CONNS" --reliable \
	--rate "$RATE" --tcp "127.0.0.1:$PORT" --totals "$T/totals.json" >/dev/null 2>"$T/gen.err" &
GEN_PID=$!

survived=0
for round in $(seq 1 "$ROUNDS"); do
	sleep "0.$((RANDOM % 4 + 1))$((RANDOM % 10))"
	kill -0 "$GEN_PID" 2>/dev/null || break # the stream ended before the rounds did
	kill -KILL "$SERVE_PID"
	wait "$SERVE_PID" 2>/dev/null || true
	SERVE_PID=
	# recover on a port the generator does not know, stop cleanly, and check
	# the counters at rest; then the real restart, on the generator's port
	start_serve check --tcp "127.0.0.1:0,ack,feed=torture" --state-dir "$T/state" --sync "$SYNC"
	stop_serve
	read -r r a d m s < <(feed_counts)
	[ "$r" -eq $((a + d + m + s)) ] ||
		fail "round $round: received $r != accepted $a + duplicates $d + malformed $m + store_failed $s"
	serve_at "$PORT"
	survived=$round
done
[ "$survived" -ge "$ROUNDS" ] ||
	fail "only $survived of $ROUNDS kill rounds ran before the stream ended (raise TORTURE_COUNT)"
deadline=$((SECONDS + 120))
while kill -0 "$GEN_PID" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
kill -0 "$GEN_PID" 2>/dev/null && fail "generator still running 120 s after the last kill"
rc=0
wait "$GEN_PID" || rc=$?
GEN_PID=
[ "$rc" -eq 0 ] || fail "reliable generator exited $rc: $(tail -n 3 "$T/gen.err")"
stop_serve

stat_json "$T/state" "$T/final.json"
"$TRADES" tail --state-dir "$T/state" >"$T/tail.jsonl" || fail "trades tail"
STORED=$(wc -l <"$T/tail.jsonl")
read -r r a d m s < <(feed_counts)
echo "torture $SYNC: $survived rounds survived; journal $STORED trades of $N;" \
	"lost $((N - a > 0 ? N - a : 0)), duplicates stored $((STORED > N ? STORED - N : 0)); " \
	"received $r = accepted $a + duplicates dropped $d + malformed $m + store_failed $s"
[ "$r" -eq $((a + d + m + s)) ] || fail "counter identity broken at the end"
[ "$STORED" -eq "$N" ] || fail "journal holds $STORED trades, the generator sent $N"
"$PY" "$HERE/compare.py" totals "$T/totals.json" "$T/final.json" --feed torture --accepted "$N" ||
	fail "final state != generator totals"
"$PY" "$HERE/compare.py" journal "$T/tail.jsonl" "$T/final.json" || fail "state != journal"
"$TRADES" check --state-dir "$T/state" || fail "trades check found damage"
echo "PASS torture $SYNC: $survived kill -9 rounds, 0 lost, 0 duplicated"
