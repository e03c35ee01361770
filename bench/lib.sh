# lib.sh -- what the bench_*.sh scripts share: arithmetic on ns, the temp
# dir and receiver clean-up, failing with the receivers' logs, waiting for a
# receiver (bounded), stopping `trades serve`.  Sourced after the script has
# set T (its temp dir); RECV_PID is the receiver running now, if any.

now_ns() { date +%s%N; }
# rate COUNT NS -> per second, integer; secs NS -> seconds, 3 decimals
rate() { echo $(($1 * 1000000000 / ($2 > 0 ? $2 : 1))); }
secs() { awk -v ns="$1" 'BEGIN { printf "%.3f", ns / 1e9 }'; }

# need_bins PATH...: each must be an executable (exit 2, naming it, if not).
need_bins() {
	local b
	for b in "$@"; do
		[ -x "$b" ] || { echo "$0: $b not found or not executable (build it first)" >&2; exit 2; }
	done
}

RECV_PID=
bench_cleanup() {
	if [ -n "$RECV_PID" ] && kill -0 "$RECV_PID" 2>/dev/null; then
		kill -KILL "$RECV_PID" 2>/dev/null || true
		wait "$RECV_PID" 2>/dev/null || true
	fi
	rm -rf "$T"
}
trap bench_cleanup EXIT

# fail MSG: prints MSG and the tail of every $T/*.err, exits 1.
fail() {
	echo "$0: $*" >&2
	for f in "$T"/*.err; do
		[ -s "$f" ] && { echo "--- $(basename "$f") (last 5 lines)" >&2; tail -n 5 "$f" >&2; }
	done
	exit 1
}

# wait_for FILE REGEX: until a line of FILE matches, START_WAIT_S at most,
# while the receiver lives.
wait_for() {
	for _ in $(seq 1 $((START_WAIT_S * 20))); do
		grep -qE "$2" "$1" 2>/dev/null && return 0
		kill -0 "$RECV_PID" 2>/dev/null || fail "receiver exited at start"
		sleep 0.05
	done
	fail "receiver did not print /$2/ within $START_WAIT_S s"
}

# stop_serve: SIGTERM the receiver (a `trades serve`), 60 s at most; it must
# exit 0.
stop_serve() {
	local rc=0
	kill -TERM "$RECV_PID"
	for _ in $(seq 1 600); do # 60 s
		kill -0 "$RECV_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$RECV_PID" 2>/dev/null && fail "serve did not stop within 60 s of SIGTERM"
	wait "$RECV_PID" || rc=$?
	RECV_PID=
	[ "$rc" -eq 0 ] || fail "serve exited with $rc after SIGTERM"
}
