#!/usr/bin/env bash
# test_damage.sh -- issue 10: damaged files.  Start-up failures exit 1 on an
# I/O error and 3 on a refused file; a torn journal tail is truncated; a
# damaged state is rebuilt from the journal (aggregates = the generator's
# totals); a journal damaged in the middle is refused with nothing changed;
# `trades check` flags each damage (exit 1) and passes once repaired.
source "$(dirname "$0")/lib.sh"

"$TRADES_GEN" --count 3000 --instruments 4 --seed 7 --out "$T/f.jsonl" --totals "$T/f.json" \
	2>"$T/gen.err" || fail "gen: $(cat "$T/gen.err")"
"$TRADES" replay --state-dir "$T/base" "$T/f.jsonl" 2>/dev/null || fail "base replay"
SEG=journal/00000000000000000001.seg

# Byte offsets in the base files: frame K of the segment, the state's tables.
frame_off() { # frame_off DIR K -> offset of frame K (0-based)
	"$PY" - "$1/$SEG" "$2" <<'PY'
import struct, sys
with open(sys.argv[1], 'rb') as f:
    data = f.read(4 << 20)
off = 64
for _ in range(int(sys.argv[2])):
    off += 16 + struct.unpack_from('<H', data, off + 6)[0]
print(off)
PY
}
nframes() { # frames in the segment
	"$PY" - "$1/$SEG" <<'PY'
import struct, sys
with open(sys.argv[1], 'rb') as f:
    data = f.read(4 << 20)
off, n = 64, 0
while struct.unpack_from('<Q', data, off)[0] != 0:
    off += 16 + struct.unpack_from('<H', data, off + 6)[0]
    n += 1
print(n)
PY
}
flip() { # flip FILE OFFSET: xor one byte with 0x40
	"$PY" - "$1" "$2" <<'PY'
import sys
with open(sys.argv[1], 'r+b') as f:
    f.seek(int(sys.argv[2])); b = f.read(1)
    f.seek(int(sys.argv[2])); f.write(bytes([b[0] ^ 0x40]))
PY
}
off_inst() { "$PY" -c 'import struct,sys; print(struct.unpack_from("<Q", open(sys.argv[1],"rb").read(64), 48)[0])' "$1/trades.state"; }
# replay of nothing: opens (recovers) the store, adds no trade
open_store() { # open_store DIR -> exit code; stderr in $T/err
	local rc=0
	: >"$T/empty.jsonl"
	"$TRADES" replay --state-dir "$1" "$T/empty.jsonl" 2>"$T/err" || rc=$?
	return $rc
}
totals_ok() { # the state's aggregates equal the generator's totals
	"$TRADES" stat --json --state-dir "$1" >"$T/stat.json" 2>"$T/stat.err" ||
		fail "$2: stat: $(cat "$T/stat.err")"
	"$PY" "$HERE/compare.py" totals "$T/f.json" "$T/stat.json" >"$T/cmp" 2>&1 ||
		fail "$2: aggregates differ from the generator's: $(cat "$T/cmp")"
}
check_rc() { # check_rc DIR WANT WHAT
	local rc=0
	"$TRADES" check --state-dir "$1" >"$T/check.out" 2>&1 || rc=$?
	[ "$rc" -eq "$2" ] || fail "$3: check exit $rc, expected $2: $(cat "$T/check.out")"
}
fresh() { rm -rf "$T/$1" && cp -a "$T/base" "$T/$1"; }

# ---- exit codes at start: I/O failure 1, refused 3 ----
touch "$T/regular"
rc=0; open_store "$T/regular/sub" || rc=$?
[ "$rc" -eq 1 ] || fail "state dir under a regular file: exit $rc, expected 1: $(cat "$T/err")"
grep -q "Not a directory" "$T/err" || fail "I/O failure message: $(cat "$T/err")"

# ---- torn tail: the last frame cut short is truncated, nothing else ----
fresh torn
N=$(nframes "$T/torn")
[ "$N" -gt 3000 ] || fail "base journal has only $N frames"
# a writer killed inside its next append: the frame after the last one is
# only half there (the state never applied it)
"$PY" - "$T/torn/$SEG" "$(frame_off "$T/torn" $((N - 1)))" "$(frame_off "$T/torn" "$N")" <<'PY'
import struct, sys
with open(sys.argv[1], 'r+b') as f:
    last, end = int(sys.argv[2]), int(sys.argv[3])
    f.seek(last); fr = bytearray(f.read(end - last))
    struct.pack_into('<Q', fr, 8, struct.unpack_from('<Q', fr, 8)[0] + 1)
    f.seek(end); f.write(fr[:len(fr) // 2])
PY
check_rc "$T/torn" 1 "torn tail"
open_store "$T/torn" || fail "torn tail: open exit $?: $(cat "$T/err")"
[ "$(grep -c "torn" "$T/err")" -eq 1 ] || fail "torn tail: no one line about it: $(cat "$T/err")"
[ "$(nframes "$T/torn")" -eq "$N" ] || fail "torn tail: a valid frame was dropped"
totals_ok "$T/torn" "torn tail"
check_rc "$T/torn" 0 "torn tail repaired"

# ---- a frame damaged in the middle: refused (3), the files untouched ----
fresh mid
flip "$T/mid/$SEG" $(($(frame_off "$T/mid" 1500) + 30))
check_rc "$T/mid" 1 "mid-segment damage"
sum=$(sha256sum "$T/mid/$SEG" "$T/mid/trades.state")
rc=0; open_store "$T/mid" || rc=$?
[ "$rc" -eq 3 ] || fail "mid-segment damage: exit $rc, expected 3: $(cat "$T/err")"
grep -q "corrupt at offset .*refused" "$T/err" || fail "mid-segment message: $(cat "$T/err")"
[ "$sum" = "$(sha256sum "$T/mid/$SEG" "$T/mid/trades.state")" ] || fail "refused files changed"
check_rc "$T/mid" 1 "mid-segment damage after the refusal"

# ---- a damaged state: rebuilt from the journal, one line says so ----
state_damaged() { # state_damaged NAME WHAT: after the damage is done in $T/NAME
	check_rc "$T/$1" 1 "$2"
	open_store "$T/$1" || fail "$2: open exit $?: $(cat "$T/err")"
	[ "$(grep -c "rebuilding it from the journal" "$T/err")" -eq 1 ] ||
		fail "$2: no one line about the rebuild: $(cat "$T/err")"
	totals_ok "$T/$1" "$2"
	check_rc "$T/$1" 0 "$2 repaired"
}
fresh hdr && flip "$T/hdr/trades.state" 20
hsum=$(sha256sum <"$T/hdr/trades.state")
state_damaged hdr "state header flipped"
# the damaged file is kept aside, byte for byte, not erased
[ "$(sha256sum <"$T"/hdr/trades.state.damaged.*)" = "$hsum" ] || fail "damaged state not kept aside"
# a flipped bit in instrument slot 1's trade count: stat must not show it
fresh slot
IN1=$(($(off_inst "$T/slot") + 192))
"$TRADES" stat --json --state-dir "$T/slot" >"$T/before.json" 2>/dev/null || fail "stat before"
flip "$T/slot/trades.state" $((IN1 + 55)) # the top byte of trades
rc=0; "$TRADES" stat --json --state-dir "$T/slot" >"$T/bad.json" 2>"$T/err" || rc=$?
[ "$rc" -eq 1 ] || fail "damaged slot: stat exit $rc, expected 1"
grep -q "instrument 1: slot fails its checksum" "$T/err" || fail "stat message: $(cat "$T/err")"
"$PY" - "$T/before.json" "$T/bad.json" <<'PY' || fail "stat served the damaged slot"
import json, sys
before, bad = (json.load(open(p)) for p in sys.argv[1:3])
sym = lambda d: {i['pair']: i for i in d['instruments']}
b, d = sym(before), sym(bad)
assert len(d) == len(b) - 1, (len(b), len(d))
assert all(d[k] == b[k] for k in d), 'a sound slot changed'
assert all(int(v['trades']) < 1 << 32 for v in d.values())
PY
grep -q "slot fails its checksum" <("$TRADES" check --state-dir "$T/slot" 2>&1) || fail "check missed the slot"
state_damaged slot "instrument slot flipped"
fresh gone && rm "$T/gone/trades.state"
state_damaged gone "state removed"
# a symlink is not followed: refused (3), link and target untouched
fresh link && mv "$T/link/trades.state" "$T/link.real" && ln -s "$T/link.real" "$T/link/trades.state"
check_rc "$T/link" 1 "state replaced by a symlink"
sum=$(sha256sum "$T/link.real")
rc=0; open_store "$T/link" || rc=$?
[ "$rc" -eq 3 ] || fail "symlinked state: exit $rc, expected 3: $(cat "$T/err")"
[ "$(grep -c "symbolic link" "$T/err")" -eq 1 ] || fail "symlink message: $(cat "$T/err")"
[ -L "$T/link/trades.state" ] && [ "$sum" = "$(sha256sum "$T/link.real")" ] ||
	fail "symlinked state or its target changed"
# serve itself: a damaged slot is found at start and the state rebuilt
fresh srv && flip "$T/srv/trades.state" $(($(off_inst "$T/srv") + 192 + 55))
: >"$T/serve.err"
start_serve srv --tcp 127.0.0.1:0 --state-dir "$T/srv"
stop_serve
[ "$(grep -c "instrument slot 1 .*fails its checksum.*rebuilding it from the journal" "$T/serve.err")" -eq 1 ] ||
	fail "serve: no one line about the damaged slot: $(cat "$T/serve.err")"
totals_ok "$T/srv" "serve after a damaged slot"
check_rc "$T/srv" 0 "serve repaired the slot"
echo "PASS damage"
