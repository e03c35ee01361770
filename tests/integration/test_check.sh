#!/usr/bin/env bash
# test_check.sh -- issue 10: `trades check` (exit 0 clean, 1 damage, 2 usage),
# readers' locks cannot keep serve from starting, files 0600 in 0700
# directories under umask 022 and 000, symlinked state refused (exit 3).
source "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || fail "needs python3 (Debian package python3)"

"$TRADES_GEN" --count 3000 --instruments 4 --seed 3 --out "$T/f.jsonl" 2>/dev/null

# permissions, whatever the umask
for u in 022 000; do
	(umask $u && "$TRADES" replay --state-dir "$T/u$u" "$T/f.jsonl" 2>/dev/null) || fail "replay umask $u"
	for p in "$T/u$u" "$T/u$u/journal"; do
		[ "$(stat -c %a "$p")" = 700 ] || fail "umask $u: $p is $(stat -c %a "$p")"
	done
	for p in "$T/u$u"/trades.state "$T/u$u"/*.lock "$T/u$u"/journal/*.seg; do
		[ "$(stat -c %a "$p")" = 600 ] || fail "umask $u: $p is $(stat -c %a "$p")"
	done
done

D=$T/u022
rc=0; "$TRADES" check --state-dir "$D" >"$T/out" || rc=$?
[ "$rc" -eq 0 ] || fail "clean dir: check exit $rc: $(cat "$T/out")"
rc=0; "$TRADES" check --bogus >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 2 ] || fail "usage: exit $rc"
grep -q "exit codes" <<<"$("$TRADES" check --help)" || fail "check --help"

# a flipped bit in an instrument slot: check says so and exits 1
cp -a "$D" "$T/flip"
python3 - "$T/flip/trades.state" <<'PY'
import struct, sys
with open(sys.argv[1], 'r+b') as f:
    off_inst = struct.unpack_from('<Q', f.read(64), 48)[0]
    f.seek(off_inst + 100); b = f.read(1)
    f.seek(off_inst + 100); f.write(bytes([b[0] ^ 0x40]))
PY
rc=0; "$TRADES" check --state-dir "$T/flip" >"$T/out" || rc=$?
[ "$rc" -eq 1 ] || fail "flipped slot: check exit $rc"
grep -q "instrument 0 .*differ" "$T/out" || fail "flipped slot not named: $(cat "$T/out")"

# a state file replaced by a symlink: refused, exit 3
cp -a "$D" "$T/link" && mv "$T/link/trades.state" "$T/real.state"
ln -s "$T/real.state" "$T/link/trades.state"
rc=0; "$TRADES" replay --state-dir "$T/link" "$T/f.jsonl" 2>"$T/err" || rc=$?
[ "$rc" -eq 3 ] || fail "symlinked state: exit $rc ($(cat "$T/err"))"
grep -q "symbolic link" "$T/err" || fail "symlink message: $(cat "$T/err")"
rc=0; "$TRADES" check --state-dir "$T/link" >"$T/out" || rc=$?
[ "$rc" -eq 1 ] || fail "symlinked state: check exit $rc"

# readers holding an fcntl read lock on trades.state and flock(LOCK_SH) on
# journal/ must not keep the writer from starting
python3 - "$D" >"$T/locker.out" <<'PY' &
import fcntl, os, sys, time
d = sys.argv[1]
f = open(os.path.join(d, 'trades.state'), 'rb')
fcntl.lockf(f, fcntl.LOCK_SH | fcntl.LOCK_NB)
jd = os.open(os.path.join(d, 'journal'), os.O_RDONLY)
fcntl.flock(jd, fcntl.LOCK_SH | fcntl.LOCK_NB)
print('locked', flush=True)
time.sleep(30)
PY
LOCKER=$!
for i in $(seq 1 100); do grep -q locked "$T/locker.out" && break; sleep 0.05; done
grep -q locked "$T/locker.out" || fail "python locker did not lock"
start_serve serve --tcp 127.0.0.1:0 --state-dir "$D"
# two writers stay excluded
rc=0; "$TRADES" replay --state-dir "$D" "$T/f.jsonl" 2>"$T/err" || rc=$?
[ "$rc" -eq 3 ] || fail "second writer: exit $rc"
grep -q "$SERVE_PID" "$T/err" || fail "lock message lacks pid $SERVE_PID: $(cat "$T/err")"
# check does not block, and is not blocked by, the live writer
rc=0; timeout 20 "$TRADES" check --state-dir "$D" >"$T/out" || rc=$?
[ "$rc" -eq 0 ] || fail "check beside a live writer: exit $rc: $(cat "$T/out")"
stop_serve
kill "$LOCKER" 2>/dev/null; wait "$LOCKER" 2>/dev/null || true

# after kill -9 and a clean restart, check is clean
start_serve serve --tcp 127.0.0.1:0 --state-dir "$D"
kill -9 "$SERVE_PID"; wait "$SERVE_PID" 2>/dev/null || true
rc=0; "$TRADES" check --state-dir "$D" >"$T/out" || rc=$?
[ "$rc" -eq 0 ] || fail "after kill -9: check exit $rc: $(cat "$T/out")"
start_serve serve --tcp 127.0.0.1:0 --state-dir "$D"
stop_serve
rc=0; "$TRADES" check --state-dir "$D" >"$T/out" || rc=$?
[ "$rc" -eq 0 ] || fail "after restart: check exit $rc: $(cat "$T/out")"
echo "PASS check"
