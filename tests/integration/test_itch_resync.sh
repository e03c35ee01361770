#!/usr/bin/env bash
# test_itch_resync.sh -- an ITCH file whose framing is lost resynchronises:
# `00 00 7f` as its first bytes (an unknown type with no length) and a run of
# junk between two messages, in a file whose length prefixes are all zeroed
# (as in real captures that zero them), still give the generator's exact
# totals, and `trades stat` shows the scans and the bytes they skipped.
source "$(dirname "$0")/lib.sh"
MID=(--itch-midnight 2025-01-02T00:00:00-05:00 --book-orders 1Mi)

"$TRADES_GEN" --format itch --instruments 12 --seed 5 --count 20000 --out "$T/day.itch" \
	--totals "$T/day.json" 2>/dev/null || fail "gen"
# damage DAY OUT: zero every prefix, put 00 00 7f first and 40 junk bytes
# after message 1000.  Prints the bytes the decoder must skip.
"$PY" - "$T/day.itch" "$T/bad.itch" <<'PY' >"$T/skip"
import struct, sys
data, out, off, n = open(sys.argv[1], 'rb').read(), bytearray(b'\x00\x00\x7f'), 0, 0
junk = b'\xff' * 40
while off < len(data):
    ln = struct.unpack_from('>H', data, off)[0]
    out += b'\x00\x00' + data[off + 2:off + 2 + ln]
    off += 2 + ln
    n += 1
    if n == 1000:
        out += junk
open(sys.argv[2], 'wb').write(out)
print(3 + len(junk))
PY
rc=0
"$TRADES" replay --format itch "${MID[@]}" --feed bad --state-dir "$T/s" "$T/bad.itch" \
	2>"$T/replay.err" || rc=$?
stat_json "$T/s" "$T/stat.json"
"$PY" "$HERE/compare.py" totals "$T/day.json" "$T/stat.json" --feed bad --duplicates 0 ||
	fail "resynchronised replay != generator totals"
"$PY" - "$T/stat.json" "$(cat "$T/skip")" <<'PY' || fail "resync counters: $(cat "$T/stat.json")"
import json, sys
f = [x for x in json.load(open(sys.argv[1]))['feeds'] if x['feed'] == 'bad'][0]
d = f['decoder']
print('decoder', d)
assert d.get('stream_unsync') == 2, d
assert d.get('stream_dropped') == int(sys.argv[2]), d
assert d.get('unknown_type') == 2, d  # the 0x7f, and the 0xff the junk starts with
assert 'length_mismatch' not in d, d  # zeroed prefixes are not mismatches
PY
[ "$rc" -eq 1 ] || fail "replay skipped bytes but exited $rc (want 1)"
grep -q "ITCH decoder skipped" "$T/replay.err" || fail "replay did not say it skipped bytes"
echo "PASS itch-resync"
