# lib.sh -- shared by the integration tests: start/stop `trades serve` on
# ephemeral loopback ports, wait for conditions with a bound, compare JSON.
# Every wait here is bounded; a test that times out fails, it never hangs.
set -euo pipefail

: "${TRADES:?TRADES must point at the trades binary}"
: "${TRADES_GEN:?TRADES_GEN must point at the trades-gen binary}"
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PY=${PYTHON:-python3}

# need_tool TOOL PACKAGE: fail (exit 1, not a skip) naming the tool and the Debian package that
# provides it, before the test starts.  Every tool a test runs that is not in Debian's essential
# set (bash, coreutils, grep, sed, mawk, ...) is checked this way; .ci/run installs them all.
need_tool() {
	command -v "$1" >/dev/null 2>&1 || {
		echo "FAIL: ${0##*/} needs '$1' (Debian package $2:" \
			"apt-get install --no-install-recommends $2)" >&2
		exit 1
	}
}
need_tool "$PY" python3 # compare.py, JSON checks, every test

T=$(mktemp -d /tmp/trades-test.XXXXXX)
SERVE_PID=
cleanup() {
	if [ -n "$SERVE_PID" ] && kill -0 "$SERVE_PID" 2>/dev/null; then
		kill -KILL "$SERVE_PID" 2>/dev/null || true
	fi
	[ -n "${KEEP:-}" ] || rm -rf "$T"
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*" >&2
	if [ -f "$T/serve.err" ]; then
		echo "--- serve stderr (last 20 lines) ---" >&2
		tail -n 20 "$T/serve.err" >&2
	fi
	exit 1
}

# start_serve NAME ARGS...: runs serve in the background; sets SERVE_PID and
# TCP_PORT/UDP_PORT from its "listening" lines (first of each kind).
start_serve() {
	local name=$1 i
	shift
	: >"$T/$name.out"
	"$TRADES" serve "$@" >"$T/$name.out" 2>>"$T/serve.err" &
	SERVE_PID=$!
	for i in $(seq 1 200); do # 200 x 50 ms = 10 s
		grep -q '^ready$' "$T/$name.out" && break
		kill -0 "$SERVE_PID" 2>/dev/null || fail "serve exited at start: $(tail -n 3 "$T/serve.err")"
		sleep 0.05
	done
	grep -q '^ready$' "$T/$name.out" || fail "serve not ready in 10 s"
	TCP_PORT=$(awk '$1=="listening" && $2=="tcp" {n=split($3,a,":"); print a[n]; exit}' "$T/$name.out")
	UDP_PORT=$(awk '$1=="listening" && $2=="udp" {n=split($3,a,":"); print a[n]; exit}' "$T/$name.out")
}

# stop_serve: SIGTERM, wait (bounded), require exit status 0.
stop_serve() {
	local i rc=0
	kill -TERM "$SERVE_PID"
	for i in $(seq 1 600); do # 60 s
		kill -0 "$SERVE_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$SERVE_PID" 2>/dev/null && fail "serve did not stop within 60 s of SIGTERM"
	wait "$SERVE_PID" || rc=$?
	SERVE_PID=
	[ "$rc" -eq 0 ] || fail "serve exited with $rc after SIGTERM"
}

# stat_json DIR FILE
stat_json() {
	"$TRADES" stat --state-dir "$1" --json >"$2" || fail "trades stat --json failed on $1"
}

# check_clean FILE: the stat --json in FILE says the state was closed clean, by no live writer
check_clean() {
	"$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d["clean"] and d["writer_pid"] == 0 else 1)' "$1" ||
		fail "state not marked clean after SIGTERM: $1"
}

# wait_received DIR N SECONDS: until N messages were processed, i.e. the sum
# over feeds of accepted + duplicates + malformed reaches N.
# The bound is wall-clock time, not a count of polls: one poll (stat + python) can take most of
# a second on a loaded machine or under ASan, and 5 x SECONDS polls then ran far past SECONDS.
wait_received() {
	local dir=$1 want=$2 secs=$3 got=0 deadline=$((SECONDS + $3))
	while :; do
		got=$("$TRADES" stat --state-dir "$dir" --json |
			"$PY" -c 'import json,sys; d=json.load(sys.stdin); print(sum(f["accepted"] + f["duplicates"] + f["malformed"] for f in d["feeds"]))')
		[ "$got" -ge "$want" ] && return 0
		[ "$SECONDS" -lt "$deadline" ] || break
		sleep 0.2
	done
	fail "only $got of $want messages processed after $secs s"
}

# kafka_mock_start PARTITIONS: librdkafka's mock cluster in a process of its own
# ($TRADES_KAFKA_MOCK, built with -Dkafka), commands on fd 7 (a fifo), answers in
# $T/mock.out.  Sets MOCK_PID and BROKERS; kafka_mock_stop ends it.  Needs kcat to read back.
MOCK_PID=
kafka_mock_start() {
	: "${TRADES_KAFKA_MOCK:?TRADES_KAFKA_MOCK must point at trades-kafka-mock (meson -Dkafka)}"
	need_tool kcat kcat
	mkfifo "$T/mock.in"
	"$TRADES_KAFKA_MOCK" --partitions "$1" <"$T/mock.in" >"$T/mock.out" 2>"$T/mock.err" &
	MOCK_PID=$!
	exec 7>"$T/mock.in"
	for _ in $(seq 1 100); do # 10 s
		grep -q '^ready$' "$T/mock.out" && break
		sleep 0.1
	done
	grep -q '^ready$' "$T/mock.out" || fail "trades-kafka-mock not ready: $(cat "$T/mock.err")"
	BROKERS=$(awk '$1=="bootstrap" {print $2}' "$T/mock.out")
}
kafka_mock_stop() {
	{ exec 7>&-; } 2>/dev/null || true # braces: a bare exec 2>/dev/null would silence the whole script
	[ -z "$MOCK_PID" ] || kill -KILL "$MOCK_PID" 2>/dev/null || true
	MOCK_PID=
}
