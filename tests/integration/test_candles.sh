#!/usr/bin/env bash
# test_candles.sh -- candles in the state equal OHLCV computed independently
# (candles_check.py) from the generator's trades: across 1s and 1m interval
# boundaries, with late trades beyond the grace (counted, not applied) and
# inside it (applied), across a kill -9 and restart mid-stream, and after a
# rebuild of the state from the journal (state file deleted).
source "$(dirname "$0")/lib.sh"
N=${CANDLES_COUNT:-6000}
CHECK="$HERE/candles_check.py"
CANDLE_OPTS=(--candles 1s,1m --candle-grace 2s)

"$TRADES_GEN" --count "$N" --instruments 4 --seed 14 --out "$T/gen.jsonl" 2>/dev/null ||
	fail "trades-gen"
# 6000 trades 10 ms apart: 60 s of exchange time, two 1m buckets, 60 1s ones
"$PY" "$CHECK" make "$T/gen.jsonl" "$T/trades.jsonl" 10 || fail "candles_check make"
head -n $((N / 2)) "$T/trades.jsonl" >"$T/first.jsonl"
tail -n +$((N / 2 + 1)) "$T/trades.jsonl" >"$T/second.jsonl"

# replay: the same rule from a file
"$TRADES" replay --state-dir "$T/replay" "${CANDLE_OPTS[@]}" --print-candles "$T/trades.jsonl" \
	>"$T/replay.out" 2>"$T/replay.err" || fail "replay: $(tail -n 3 "$T/replay.err")"
"$PY" "$CHECK" check "$TRADES" "$T/replay" "$T/trades.jsonl" 2 1 60 || fail "replay candles differ"
# closed candles to the JSON-lines sink: each once, in the downstream's schema
"$PY" "$CHECK" sink "$T/trades.jsonl" "$T/replay.out" 2 1 60 || fail "--print-candles output"

# serve: first half, kill -9, restart (the file keeps its settings), second half
start_serve serve --tcp 127.0.0.1:0,feed=exch --state-dir "$T/state" "${CANDLE_OPTS[@]}"
cat "$T/first.jsonl" >"/dev/tcp/127.0.0.1/$TCP_PORT"
wait_received "$T/state" $((N / 2)) 60
kill -KILL "$SERVE_PID"
wait "$SERVE_PID" 2>/dev/null || true
SERVE_PID=
"$PY" "$CHECK" check "$TRADES" "$T/state" "$T/first.jsonl" 2 1 60 ||
	fail "candles after kill -9 differ from the first half"
start_serve serve2 --tcp 127.0.0.1:0,feed=exch --state-dir "$T/state"
cat "$T/second.jsonl" >"/dev/tcp/127.0.0.1/$TCP_PORT"
wait_received "$T/state" "$N" 60
stop_serve
"$PY" "$CHECK" check "$TRADES" "$T/state" "$T/trades.jsonl" 2 1 60 ||
	fail "candles after restart differ"
"$TRADES" candles --state-dir "$T/state" --pair BTC/USD --interval 1s --json >"$T/before.json" ||
	fail "trades candles"
[ -s "$T/before.json" ] || fail "no BTC/USD candles"

# other settings on a state that holds trades: refused, exit 3, named
rc=0
"$TRADES" serve --tcp 127.0.0.1:0 --state-dir "$T/state" --candles 5m >/dev/null 2>"$T/refuse.err" ||
	rc=$?
[ "$rc" -eq 3 ] || fail "serve --candles 5m on a 1s,1m state exited $rc, expected 3"
grep -q "candles were kept with 2 intervals" "$T/refuse.err" || fail "refusal: $(cat "$T/refuse.err")"

# rebuild: delete the state file, restart with the same settings: the same candles
rm "$T/state/trades.state"
start_serve serve3 --tcp 127.0.0.1:0,feed=exch --state-dir "$T/state" "${CANDLE_OPTS[@]}"
stop_serve
"$TRADES" candles --state-dir "$T/state" --pair BTC/USD --interval 1s --json >"$T/after.json"
cmp "$T/before.json" "$T/after.json" || fail "rebuilt candles differ from the live ones"
"$PY" "$CHECK" check "$TRADES" "$T/state" "$T/trades.jsonl" 2 1 60 || fail "rebuilt candles differ"

# errors name the input
rc=0
"$TRADES" candles --state-dir "$T/state" --pair NOPE/USD 2>"$T/e1" || rc=$?
[ "$rc" -eq 1 ] && grep -q "pair 'NOPE/USD': not in state" "$T/e1" || fail "unknown pair: rc $rc $(cat "$T/e1")"
rc=0
"$TRADES" candles --state-dir "$T/state" --pair BTC/USD --interval 5m 2>"$T/e2" || rc=$?
[ "$rc" -eq 1 ] && grep -q "interval '5m': state .* does not keep it" "$T/e2" || fail "interval: $(cat "$T/e2")"
rc=0
"$TRADES" serve --candles 1x --state-dir "$T/x" 2>"$T/e3" || rc=$?
[ "$rc" -eq 2 ] && grep -q "'1x' is not an interval" "$T/e3" || fail "bad --candles: rc $rc $(cat "$T/e3")"
grep -q -- "--interval" <<<"$("$TRADES" candles --help)" || fail "candles --help"
echo "PASS candles: replay, kill -9 + restart, rebuild from the journal"
