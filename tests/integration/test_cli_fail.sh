#!/usr/bin/env bash
# test_cli_fail.sh -- init and runtime failures of replay and serve end in a
# clear error and exit code, never a crash (issue 7):
#   - defect 5: sink_jsonl_open failing (calloc refused by an LD_PRELOAD
#     injector) is an init error naming the call, for replay and serve;
#   - replay exits 1 when the ITCH decoder lost its framing and dropped bytes.
source "$(dirname "$0")/lib.sh"
: "${FAIL_CALLOC:?FAIL_CALLOC must point at the fail_calloc.so injector}"

expect() { # expect CODE PATTERN CMD...: exit code and a pattern in stdout+stderr
	local code=$1 pat=$2 rc=0
	shift 2
	"$@" >"$T/out" 2>&1 || rc=$?
	[ "$rc" -eq "$code" ] || fail "'$*' exited $rc, want $code: $(head -c 400 "$T/out")"
	grep -q -- "$pat" "$T/out" || fail "'$*' output lacks '$pat': $(head -c 400 "$T/out")"
}

printf '{"pair":"BTC/USD","price":"1.5","volume":"2","timestamp":"2025-01-02T03:04:05Z","trade_id":1}\n' \
	>"$T/one.jsonl"
# Without the injector --print works; with it, the sink cannot be made.
expect 0 '"pair":"BTC/USD"' "$TRADES" replay --print --state-dir "$T/a" "$T/one.jsonl"
expect 1 "sink_jsonl_open(stdout)" env LD_PRELOAD="$FAIL_CALLOC" \
	"$TRADES" replay --print --state-dir "$T/b" "$T/one.jsonl"
expect 1 "sink_jsonl_open(stdout)" env LD_PRELOAD="$FAIL_CALLOC" \
	"$TRADES" serve --print --tcp 127.0.0.1:0 --state-dir "$T/c"

# An ITCH file whose framing is lost: an unknown type with a length prefix
# of 0, then bytes nothing can frame.  They are skipped, and replay says so.
printf '\000\000~0123456789abcdef0123456789abcdef' >"$T/lost.itch"
expect 1 "skipped" "$TRADES" replay --format itch --itch-midnight 2025-01-02T00:00:00-05:00 \
	--book-orders 1Ki --state-dir "$T/d" "$T/lost.itch"
echo "PASS cli-fail"
