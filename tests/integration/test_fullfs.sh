#!/usr/bin/env bash
# test_fullfs.sh -- `trades serve`, `stat` and `replay` on a full disk (a
# 16 MB tmpfs filled to the last block).  The state file is allocated at
# creation, so nothing faults (SIGBUS) when the disk fills; trades the
# journal cannot store are counted per feed as store_failed, logged at a
# limited rate, and received == accepted + duplicates + malformed +
# store_failed holds; once space is back they are stored again; replay exits 1.
# Needs root (mount); without it the test is skipped (exit 77), saying why.
source "$(dirname "$0")/lib.sh"
N=${FULLFS_COUNT:-30000}
MNT="$T/mnt"
mkdir -p "$MNT"
if [ "$(id -u)" != 0 ] || ! mount -t tmpfs -o size=16m tmpfs "$MNT" 2>"$T/mount.err"; then
	echo "SKIP fullfs: cannot mount a 16 MB tmpfs (needs root or CAP_SYS_ADMIN): $(cat "$T/mount.err")"
	exit 77
fi
fullfs_cleanup() {
	if [ -n "$SERVE_PID" ]; then
		kill -KILL "$SERVE_PID" 2>/dev/null || true
		wait "$SERVE_PID" 2>/dev/null || true
		SERVE_PID=
	fi
	umount "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null || true
	cleanup
}
trap fullfs_cleanup EXIT
# A small state file and segment: ~0.7 MB and 1 MiB, so the disk fills fast.
export TRADES_INSTRUMENTS=1024 TRADES_SEGMENT_SIZE=1048576

fill_disk() { # until ENOSPC: bounded by the 16 MB of the mount
	dd if=/dev/zero of="$MNT/fill" bs=64k 2>/dev/null || true
	[ "$(df --output=avail "$MNT" | tail -n 1 | tr -d ' ')" -eq 0 ] || fail "tmpfs not full"
}

# feed_counts DIR FEED: "received accepted duplicates malformed store_failed"
feed_counts() {
	"$TRADES" stat --state-dir "$1" --json | "$PY" -c '
import json, sys
f = [x for x in json.load(sys.stdin)["feeds"] if x["feed"] == sys.argv[1]][0]
print(f["received"], f["accepted"], f["duplicates"], f["malformed"], f["store_failed"])' "$2"
}

wait_feed_received() { # DIR FEED N SECONDS
	local i got=0
	for i in $(seq 1 $(($4 * 5))); do
		got=$(feed_counts "$1" "$2" | cut -d' ' -f1)
		[ "$got" -ge "$3" ] && return 0
		sleep 0.2
	done
	fail "only $got of $3 lines received after $4 s"
}

check_identity() { # DIR FEED
	local r a d m s
	read -r r a d m s < <(feed_counts "$1" "$2")
	[ "$r" -eq $((a + d + m + s)) ] ||
		fail "received $r != accepted $a + duplicates $d + malformed $m + store_failed $s"
}

"$TRADES_GEN" --count "$N" --instruments 8 --seed 3 --out "$T/in.jsonl" 2>/dev/null || fail "gen"

# 1. serve, then the disk fills up under it: stat must keep working.
start_serve serve --tcp 127.0.0.1:0,feed=exch --state-dir "$MNT/state"
fill_disk
for i in $(seq 1 9); do
	rc=0
	"$TRADES" stat --state-dir "$MNT/state" >/dev/null 2>"$T/stat.err" || rc=$?
	[ "$rc" -eq 0 ] || fail "trades stat on a full disk exited $rc (signal $((rc - 128))?): $(cat "$T/stat.err")"
	"$TRADES" stat --state-dir "$MNT/state" --json >/dev/null || fail "trades stat --json on a full disk"
done

# 2. more trades than the first journal segment holds: the rest fail to store.
t0=$(date +%s%N)
"$TRADES_GEN" --count "$N" --instruments 8 --seed 3 --tcp "127.0.0.1:$TCP_PORT" 2>"$T/gen.err" ||
	fail "send: $(cat "$T/gen.err")"
wait_feed_received "$MNT/state" exch "$N" 60
t1=$(date +%s%N)
kill -0 "$SERVE_PID" 2>/dev/null || fail "serve died on the full disk"
check_identity "$MNT/state" exch
read -r rec acc dup mal sf < <(feed_counts "$MNT/state" exch)
[ "$sf" -gt 0 ] && [ "$acc" -gt 0 ] || fail "expected some accepted and some store_failed: $acc / $sf"
echo "full disk: $rec lines in $(((t1 - t0) / 1000000)) ms, $acc accepted, $sf store_failed"
grep -q "feed exch: trade not stored: journal .*No space left on device" "$T/serve.err" ||
	fail "no log line naming the feed and the cause"
logged=$(grep -c "trade not stored" "$T/serve.err")
[ "$logged" -le 10 ] || fail "storage failure logged $logged times: not rate-limited"

# 3. space again: after the retry deadline the re-sent stream is stored --
#    exactly what failed before, the rest are duplicates.
rm -f "$MNT/fill"
sleep 1.5
"$TRADES_GEN" --count "$N" --instruments 8 --seed 3 --tcp "127.0.0.1:$TCP_PORT" 2>"$T/gen2.err" ||
	fail "re-send: $(cat "$T/gen2.err")"
wait_feed_received "$MNT/state" exch $((2 * N)) 60
check_identity "$MNT/state" exch
read -r rec2 acc2 dup2 mal2 sf2 < <(feed_counts "$MNT/state" exch)
[ "$acc2" -eq "$N" ] || fail "after the re-send $acc2 accepted, expected all $N stored once"
[ "$dup2" -eq "$acc" ] || fail "after the re-send $dup2 duplicates, expected $acc"
[ "$sf2" -eq "$sf" ] || fail "store_failed grew to $sf2 with space available"
stop_serve

# 4. replay into a state on the full disk: counted, and exit status 1.
head -n 10 "$T/in.jsonl" | "$TRADES" replay --state-dir "$MNT/rstate" --feed r - 2>/dev/null ||
	fail "replay with space"
fill_disk
rc=0
"$TRADES" replay --state-dir "$MNT/rstate" --feed r "$T/in.jsonl" 2>"$T/replay.err" || rc=$?
[ "$rc" -eq 1 ] || fail "replay on a full disk exited $rc, expected 1: $(tail -n 3 "$T/replay.err")"
grep -q "store_failed" "$T/replay.err" || fail "replay summary lacks store_failed"
check_identity "$MNT/rstate" r

# 5. serve restarts on the full disk, and stat reads it.
start_serve serve2 --tcp 127.0.0.1:0,feed=exch --state-dir "$MNT/state"
"$TRADES" stat --state-dir "$MNT/state" >/dev/null || fail "stat with serve on a full disk"
check_identity "$MNT/state" exch
stop_serve
echo "PASS fullfs: $sf trades counted store_failed on a full disk, all $N stored after space came back"
