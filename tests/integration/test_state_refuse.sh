#!/usr/bin/env bash
# test_state_refuse.sh -- a state file that is not ours (wrong magic, wrong
# version, wrong size) is refused with exit 3 and a clear message, and is
# never modified; a second writer on the same state is refused naming the pid.
source "$(dirname "$0")/lib.sh"

"$TRADES_GEN" --count 1000 --instruments 4 --seed 2 --out "$T/f.jsonl" 2>/dev/null
"$TRADES" replay --state-dir "$T/good" "$T/f.jsonl" 2>/dev/null || fail "replay"

refused() { # refused DIR PATTERN
	local sum rc=0
	sum=$(sha256sum "$1/trades.state")
	"$TRADES" replay --state-dir "$1" "$T/f.jsonl" 2>"$T/err" || rc=$?
	[ "$rc" -eq 3 ] || fail "exit $rc, want 3 ($(cat "$T/err"))"
	grep -q "$2" "$T/err" || fail "message lacks '$2': $(cat "$T/err")"
	grep -q "$1/trades.state" "$T/err" || fail "message does not name the file: $(cat "$T/err")"
	[ "$(sha256sum "$1/trades.state")" = "$sum" ] || fail "refused file was modified"
	rc=0
	"$TRADES" stat --state-dir "$1" >/dev/null 2>&1 || rc=$?
	[ "$rc" -eq 3 ] || fail "stat exit $rc on a refused file"
}

mkdir -p "$T/magic" && head -c 1048576 /dev/urandom >"$T/magic/trades.state"
refused "$T/magic" "magic"

mkdir -p "$T/ver" && cp "$T/good/trades.state" "$T/ver/"
printf '\x63' | dd of="$T/ver/trades.state" bs=1 seek=8 conv=notrunc status=none # version 99
refused "$T/ver" "version"

mkdir -p "$T/short" && head -c 100000 "$T/good/trades.state" >"$T/short/trades.state"
refused "$T/short" "truncated"

# Locked: a running serve holds the state; replay must not write into it.
start_serve serve --tcp 127.0.0.1:0 --state-dir "$T/good"
rc=0
"$TRADES" replay --state-dir "$T/good" "$T/f.jsonl" 2>"$T/err" || rc=$?
[ "$rc" -eq 3 ] || fail "second writer: exit $rc"
grep -q "$SERVE_PID" "$T/err" || fail "lock message does not name pid $SERVE_PID: $(cat "$T/err")"
stop_serve
echo "PASS state-refuse"
