#!/usr/bin/env bash
# test_ingest.sh PROTO IO -- 1,000,000 generated trades over TCP (4 clients)
# or UDP into `trades serve --io IO`; stop with SIGTERM; the state must match
# the generator's totals exactly, count nothing as lost, duplicate or
# malformed, survive a restart, and the journal must hold every trade.
source "$(dirname "$0")/lib.sh"
PROTO=${1:?tcp|udp}
IO=${2:?uring|epoll}
N=${INGEST_COUNT:-1000000}

start_serve serve --"$PROTO" 127.0.0.1:0 --io "$IO" --state-dir "$T/state"
grep -q "io: $IO" "$T/serve.err" || fail "serve did not report 'io: $IO'"
PORT=$([ "$PROTO" = tcp ] && echo "$TCP_PORT" || echo "$UDP_PORT")
[ -n "$PORT" ] || fail "no $PROTO port printed"

if [ "$PROTO" = tcp ]; then
	"$TRADES_GEN" --count "$N" --instruments 64 --seed 11 --tcp "127.0.0.1:$PORT" \
		--connections 4 --totals "$T/totals.json" 2>"$T/gen.err" || fail "gen: $(cat "$T/gen.err")"
else
	# UDP on loopback drops instead of pushing back: pace the sender.
	"$TRADES_GEN" --count "$N" --instruments 64 --seed 11 --udp "127.0.0.1:$PORT" \
		--rate 400000 --totals "$T/totals.json" 2>"$T/gen.err" || fail "gen: $(cat "$T/gen.err")"
fi
wait_received "$T/state" "$N" 120
stop_serve

stat_json "$T/state" "$T/stat.json"
"$PY" "$HERE/compare.py" totals "$T/totals.json" "$T/stat.json" \
	--received "$N" --accepted "$N" --duplicates 0 --malformed 0 || fail "state != generator totals"
"$PY" - "$T/stat.json" <<'PY' || fail "state not marked clean after SIGTERM"
import json, sys
d = json.load(open(sys.argv[1]))
sys.exit(0 if d["clean"] and d["writer_pid"] == 0 else 1)
PY

# The journal holds every trade, and re-deriving the state from it agrees.
"$TRADES" tail --state-dir "$T/state" >"$T/tail.jsonl" || fail "tail failed"
[ "$(wc -l <"$T/tail.jsonl")" -eq "$N" ] || fail "journal has $(wc -l <"$T/tail.jsonl") trades, want $N"
"$PY" "$HERE/compare.py" journal "$T/tail.jsonl" "$T/stat.json" || fail "journal != state"

# A restart reopens the same state: nothing replayed, nothing changed.
start_serve serve2 --"$PROTO" 127.0.0.1:0 --io "$IO" --state-dir "$T/state"
stop_serve
stat_json "$T/state" "$T/stat2.json"
"$PY" "$HERE/compare.py" totals "$T/totals.json" "$T/stat2.json" --accepted "$N" ||
	fail "state changed across a restart"
echo "PASS ingest $PROTO $IO: $N trades"
