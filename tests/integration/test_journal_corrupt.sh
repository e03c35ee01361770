#!/usr/bin/env bash
# test_journal_corrupt.sh -- a journal damaged in the middle (a bad entry with
# valid entries behind it) is refused by `trades serve` with exit 3 and a
# message naming the segment, the offset and the jseq, and not one byte of it
# changes; `trades tail` stops there with exit 1 and says where.  A real torn
# tail (the last entry cut short) is still dropped and serve starts.
source "$(dirname "$0")/lib.sh"

"$TRADES_GEN" --count 3000 --instruments 4 --seed 7 --out "$T/f.jsonl" 2>/dev/null
"$TRADES" replay --state-dir "$T/s" "$T/f.jsonl" >/dev/null 2>&1 || fail "replay"
SEG="$T/s/journal/00000000000000000001.seg"
[ -f "$SEG" ] || fail "no segment $SEG"

# frame_at N: "OFFSET LEN" of the entry with jseq N, or of the last entry for
# "last" (walks the 16-byte frame headers: crc u32, type u16, len u16, jseq u64).
frame_at() {
	"$PY" - "$SEG" "$1" <<'PYEOF'
import struct, sys
data = open(sys.argv[1], 'rb').read()
want, off, last = sys.argv[2], 64, None
while off + 16 <= len(data):
    crc, typ, ln, jseq = struct.unpack_from('<IHHQ', data, off)
    if crc == 0 and ln == 0:
        break
    if want != 'last' and jseq == int(want):
        print(off, ln)
        sys.exit(0)
    last = (off, ln)
    off += 16 + ln
if want == 'last' and last:
    print(*last)
    sys.exit(0)
sys.exit(1)
PYEOF
}
# The journal's bytes (the state file is the state module's: its open
# records the writer before the journal is looked at).
hash_journal() { sha256sum "$T/s/journal/"* | sha256sum; }

read -r OFF LEN <<<"$(frame_at 1500)" || fail "no entry 1500"
read -r LAST_OFF LAST_LEN <<<"$(frame_at last)" || fail "no last entry"
total=$("$TRADES" tail --state-dir "$T/s" | wc -l)
[ "$total" -eq 3000 ] || fail "tail printed $total of 3000 before the damage"

# flip_byte OFFSET: xor one byte of the segment with 0xa5 (twice = undone)
flip_byte() {
	"$PY" - "$SEG" "$1" <<'PYEOF'
import sys
with open(sys.argv[1], 'r+b') as f:
    f.seek(int(sys.argv[2]))
    b = f.read(1)[0]
    f.seek(int(sys.argv[2]))
    f.write(bytes([b ^ 0xa5]))
PYEOF
}

# one payload byte of entry 1500 flipped
flip_byte $((OFF + 16 + 3))
before=$(hash_journal)

rc=0
timeout 30 "$TRADES" serve --tcp 127.0.0.1:0 --state-dir "$T/s" >"$T/serve.out" 2>"$T/err" || rc=$?
[ "$rc" -eq 3 ] || fail "serve on a corrupt journal: exit $rc, want 3 ($(cat "$T/err"))"
for want in "00000000000000000001.seg" "offset $OFF" "jseq 1500" "corrupt"; do
	grep -q "$want" "$T/err" || fail "serve message lacks '$want': $(cat "$T/err")"
done
[ "$(hash_journal)" = "$before" ] || fail "the refused journal was modified"
# and again: refusing is repeatable, nothing was repaired behind our back
rc=0
timeout 30 "$TRADES" serve --tcp 127.0.0.1:0 --state-dir "$T/s" >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 3 ] || fail "second serve: exit $rc"
[ "$(hash_journal)" = "$before" ] || fail "the journal changed on the second refusal"

# tail: exit 1, says where it stopped, prints only what precedes the damage
rc=0
"$TRADES" tail --state-dir "$T/s" >"$T/tail.out" 2>"$T/tail.err" || rc=$?
[ "$rc" -eq 1 ] || fail "tail on a corrupt journal: exit $rc, want 1"
grep -q "stopped at journal entry 1500" "$T/tail.err" || fail "tail message: $(cat "$T/tail.err")"
grep -q "offset $OFF" "$T/tail.err" || fail "tail does not name the offset: $(cat "$T/tail.err")"
n=$(wc -l <"$T/tail.out")
[ "$n" -lt 1500 ] && [ "$n" -gt 1400 ] || fail "tail printed $n trades before entry 1500"
[ "$(hash_journal)" = "$before" ] || fail "tail modified the journal"

# Repaired (the byte put back), then a real torn tail: the last entry cut
# short, as a writer killed mid-append leaves it (the state file, which had
# applied that entry, moved away so it is rebuilt from the journal).  serve
# drops just that entry and starts.
flip_byte $((OFF + 16 + 3))
"$TRADES" tail --state-dir "$T/s" >/dev/null 2>&1 || fail "tail after repair"
dd if=/dev/zero of="$SEG" bs=1 seek=$((LAST_OFF + 8)) count=8 conv=notrunc status=none
mv "$T/s/trades.state" "$T/trades.state.old"
start_serve serve --tcp 127.0.0.1:0 --state-dir "$T/s"
stop_serve
grep -q "torn tail at offset $LAST_OFF" "$T/serve.err" || fail "torn tail not reported"
echo "PASS journal-corrupt"
