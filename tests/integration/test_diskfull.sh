#!/usr/bin/env bash
# test_diskfull.sh -- acknowledged ingest on a full disk (issue 10 item 5).
# The state directory is a small tmpfs mounted inside a private mount
# namespace (unshare -m: nothing is left on the host).  A reliable generator
# streams to a `--tcp HOST:PORT,ack` listener while the disk is full: the
# service logs the failure (once, then rate-limited), counts store_failed,
# stops acknowledging (the generator keeps its data), and carries on once a
# filler file is removed -- without a restart, and, the second time, after a
# restart made while the disk was still full.  At the end nothing is lost:
# state and journal hold exactly the generator's trades, and the files check.
# Needs root (mount, unshare); without it the test is skipped (exit 77).
if [ -z "${DISKFULL_INNER:-}" ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "SKIP diskfull: needs root for a tmpfs in a private mount namespace"
		exit 77
	fi
	command -v unshare >/dev/null 2>&1 ||
		{ echo "FAIL: test_diskfull.sh needs 'unshare' (Debian package util-linux)" >&2; exit 1; }
	DISKFULL_INNER=1 exec unshare -m --propagation private bash "$0" "$@"
fi
source "$(dirname "$0")/lib.sh"
N=${DISKFULL_COUNT:-200000}
MNT="$T/mnt"
mkdir -p "$MNT"
mount -t tmpfs -o size=32m tmpfs "$MNT" || fail "mount tmpfs in the namespace"
GEN_PID=
df_cleanup() {
	[ -z "$GEN_PID" ] || kill -KILL "$GEN_PID" 2>/dev/null || true
	[ -z "$SERVE_PID" ] || kill -KILL "$SERVE_PID" 2>/dev/null || true
	SERVE_PID=
	umount -l "$MNT" 2>/dev/null || true
	cleanup
}
trap df_cleanup EXIT
export TRADES_INSTRUMENTS=1024 TRADES_SEGMENT_SIZE=1048576
ST="$MNT/state"

feed_counts() { # "received accepted duplicates malformed store_failed"
	"$TRADES" stat --state-dir "$ST" --json | "$PY" -c '
import json, sys
f = [x for x in json.load(sys.stdin)["feeds"] if x["feed"] == "full"]
print(*(f[0][k] for k in ("received", "accepted", "duplicates", "malformed", "store_failed")) if f else "0 0 0 0 0")'
}
counts() { read -r R A D M S < <(feed_counts); }
fill() { # $1: file; until ENOSPC, bounded by the mount's size
	dd if=/dev/zero of="$MNT/$1" bs=64k 2>/dev/null || true
	[ "$(df --output=avail "$MNT" | tail -n 1 | tr -d ' ')" -eq 0 ] || fail "tmpfs not full"
}
wait_for() { # SECONDS DESCRIPTION COMMAND...: until COMMAND succeeds
	local secs=$1 what=$2 deadline=$((SECONDS + $1))
	shift 2
	until "$@"; do
		[ "$SECONDS" -lt "$deadline" ] || fail "$what: not within $secs s"
		sleep 0.2
	done
}
failing() { counts; [ "$S" -gt "${1:-0}" ]; }
accepted_at_least() { counts; [ "$A" -ge "$1" ]; }
gen_done() { ! kill -0 "$GEN_PID" 2>/dev/null; }

start_serve serve --tcp "127.0.0.1:0,ack,feed=full" --state-dir "$ST" --sync always
PORT=$TCP_PORT
fill filler1
"$TRADES_GEN" --count "$N" --instruments 32 --seed 7 --connections 2 --reliable --rate 4000 \
	--tcp "127.0.0.1:$PORT" --totals "$T/totals.json" >/dev/null 2>"$T/gen.err" &
GEN_PID=$!
t0=$SECONDS

# 1. full (the journal's first segment is preallocated: it fills first):
# failures counted, nothing more stored, the generator still waiting for acks
wait_for 30 "store_failed counted" failing 0
counts
a0=$A
sleep 3
counts
[ "$A" -eq "$a0" ] || fail "accepted went from $a0 to $A on a full disk"
kill -0 "$GEN_PID" 2>/dev/null || fail "generator ended while nothing was acknowledged"
nospc=$(grep -c "No space left on device" "$T/serve.err" || true)
[ "$nospc" -ge 1 ] || fail "the service never said the disk is full"
# rate limits: PIPELINE_STORE_LOG_PER_MIN (5) per feed, one per journal roll retry (<= 1/s)
bound=$((5 + 2 * (SECONDS - t0 + 1)))
[ "$nospc" -le "$bound" ] ||
	fail "$nospc 'No space left' lines in $((SECONDS - t0)) s (bound $bound): not rate-limited"
echo "[$((SECONDS - t0)) s] disk full: store_failed $S, $nospc log lines, generator holding its data"

# 2. space freed, no restart: the stream goes on
rm -f "$MNT/filler1"
wait_for 60 "ingest after freeing space" accepted_at_least $((a0 + 20000))
counts
echo "[$((SECONDS - t0)) s] freed, no restart: accepted $A"

# 3. full again, restart while full, then free
fill filler2
counts
wait_for 30 "store_failed after the second fill" failing "$S"
stop_serve
start_serve serve2 --tcp "127.0.0.1:$PORT,ack,feed=full" --state-dir "$ST" --sync always
counts
sf=$S
wait_for 30 "store_failed after the restart on a full disk" failing "$sf"
# the spare segment cannot be prepared on the full disk either: counted, in stat and /metrics
spare_failed() {
	[ "$("$TRADES" stat --state-dir "$ST" --json |
		"$PY" -c 'import json, sys; print(json.load(sys.stdin)["journal"]["spare"]["failures"])')" -ge 1 ]
}
wait_for 30 "spare segment failures counted" spare_failed
rm -f "$MNT/filler2"
wait_for 120 "the generator's final ack" gen_done
rc=0
wait "$GEN_PID" || rc=$?
GEN_PID=
[ "$rc" -eq 0 ] || fail "reliable generator exited $rc: $(tail -n 3 "$T/gen.err")"
stop_serve

stat_json "$ST" "$T/final.json"
"$TRADES" tail --state-dir "$ST" >"$T/tail.jsonl" || fail "trades tail"
STORED=$(wc -l <"$T/tail.jsonl")
counts
echo "[$((SECONDS - t0)) s] diskfull: journal $STORED of $N; received $R = accepted $A + duplicates $D + malformed $M + store_failed $S"
[ "$R" -eq $((A + D + M + S)) ] || fail "counter identity broken"
[ "$STORED" -eq "$N" ] || fail "journal holds $STORED trades, the generator sent $N"
"$PY" "$HERE/compare.py" totals "$T/totals.json" "$T/final.json" --feed full --accepted "$N" ||
	fail "final state != generator totals"
"$PY" "$HERE/compare.py" journal "$T/tail.jsonl" "$T/final.json" || fail "state != journal"
"$TRADES" check --state-dir "$ST" || fail "trades check found damage"
echo "PASS diskfull: nothing acknowledged lost, totals exact"
