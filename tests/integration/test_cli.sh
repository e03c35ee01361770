#!/usr/bin/env bash
# test_cli.sh -- help texts, usage errors that name the bad input, exit codes.
source "$(dirname "$0")/lib.sh"

expect() { # expect CODE PATTERN CMD...: exit code and a pattern in stdout+stderr
	local code=$1 pat=$2 rc=0
	shift 2
	"$@" >"$T/out" 2>&1 || rc=$?
	[ "$rc" -eq "$code" ] || fail "'$*' exited $rc, want $code: $(head -c 300 "$T/out")"
	grep -q -- "$pat" "$T/out" || fail "'$*' output lacks '$pat': $(head -c 300 "$T/out")"
}

expect 0 'usage: trades COMMAND' "$TRADES" --help
expect 2 'usage: trades COMMAND' "$TRADES"
expect 2 "unknown command 'frobnicate'" "$TRADES" frobnicate
for c in serve replay stat tail health; do
	expect 0 "usage: trades $c" "$TRADES" "$c" --help
done
expect 0 'exit codes' "$TRADES" serve --help
expect 2 "\-\-io 'fast'" "$TRADES" serve --io fast --state-dir "$T/x"
expect 2 "\-\-sync 'sometimes'" "$TRADES" serve --sync sometimes --state-dir "$T/x"
expect 2 "\-\-max-conns '0'" "$TRADES" serve --max-conns 0 --state-dir "$T/x"
expect 2 "99999" "$TRADES" serve --tcp 127.0.0.1:99999 --state-dir "$T/x"
expect 2 "nohost" "$TRADES" serve --tcp nohost --state-dir "$T/x"
expect 2 "TRADES_LOG_LEVEL 'loud'" env TRADES_LOG_LEVEL=loud "$TRADES" serve --state-dir "$T/x"
expect 2 "no FILE" "$TRADES" replay --state-dir "$T/x"
expect 2 "\-\-format 'xml'" "$TRADES" replay --format xml --state-dir "$T/x" /dev/null
expect 1 "no-such-file" "$TRADES" replay --state-dir "$T/x" "$T/no-such-file"
expect 3 "$T/missing" "$TRADES" stat --state-dir "$T/missing"
expect 3 "$T/missing" "$TRADES" tail --state-dir "$T/missing"
expect 1 "unhealthy" "$TRADES" health --state-dir "$T/missing"
expect 2 "\-\-from 'x'" "$TRADES" tail --from x --state-dir "$T/x"
expect 0 "trades 0" "$TRADES" version

# A port already in use is a runtime error (1) naming the address.
start_serve serve --tcp 127.0.0.1:0 --state-dir "$T/a"
expect 1 "127.0.0.1:$TCP_PORT" "$TRADES" serve --tcp "127.0.0.1:$TCP_PORT" --state-dir "$T/b"
# Environment variables stand in for flags; health sees the live writer.
expect 0 "healthy" env TRADES_STATE_DIR="$T/a" "$TRADES" health
expect 0 '"instruments":\[\]' env TRADES_STATE_DIR="$T/a" "$TRADES" stat --json
stop_serve
expect 1 "no process is serving" "$TRADES" health --state-dir "$T/a"
echo "PASS cli"
