#!/usr/bin/env bash
# test_stat_json.sh -- `trades stat --json` is valid JSON whatever the input
# put into the names it prints: a feed name with '"', '\' and UTF-8, and an
# ITCH symbol with the raw bytes 0x01 and 0xff (0xff is not UTF-8: printed as
# \u00ff).  The ITCH file is made by hand here: one 'R' and one 'P'.
source "$(dirname "$0")/lib.sh"

"$PY" - "$T/raw.itch" <<'PY'
import struct, sys
def frame(msg):
    return struct.pack('>H', len(msg)) + msg
ts = (9 * 3600 + 30 * 60) * 10**9
def hdr(t, locate):
    return t + struct.pack('>HH', locate, 0) + ts.to_bytes(6, 'big')
stock = b'A\x01\xffB    '
r = hdr(b'R', 1) + stock + b'Q' + b'N' + struct.pack('>I', 100) + b'N' + b'C' + b'Z ' + \
    b'P' + b'N' + b' ' + b'N' + b' ' + struct.pack('>I', 0) + b'N'
p = hdr(b'P', 1) + struct.pack('>Q', 77) + b'B' + struct.pack('>I', 300) + stock + \
    struct.pack('>I', 1234500) + struct.pack('>Q', 4242)
assert len(r) == 39 and len(p) == 44
open(sys.argv[1], 'wb').write(frame(r) + frame(p))
PY
FEED='we"ird\feed é'
"$TRADES" replay --format itch --itch-midnight 2025-01-02T00:00:00-05:00 --feed "$FEED" \
	--state-dir "$T/s" "$T/raw.itch" 2>"$T/replay.err" || fail "replay: $(cat "$T/replay.err")"
"$TRADES" stat --json --state-dir "$T/s" >"$T/stat.json" || fail "stat --json"
"$PY" - "$T/stat.json" "$FEED" <<'PY' || fail "stat --json: $(cat "$T/stat.json")"
import json, sys
d = json.load(open(sys.argv[1], encoding='utf-8'))
feeds = [f['feed'] for f in d['feeds']]
assert feeds == [sys.argv[2]], feeds
pairs = [i['pair'] for i in d['instruments']]
assert pairs == ['A\x01\xffB'], pairs
inst = d['instruments'][0]
assert inst['trades'] == 1 and inst['last'] == '123.4500', inst
print('stat --json ok:', feeds, pairs)
PY

# the journal's spare segment: 1 MiB of trades in 64 KiB segments rolls about
# 20 times; each roll took the spare or built its own, none failed
"$TRADES_GEN" --count 20000 --instruments 8 --out "$T/t.jsonl" 2>/dev/null || fail "trades-gen"
TRADES_SEGMENT_SIZE=65536 "$TRADES" replay --state-dir "$T/j" "$T/t.jsonl" 2>"$T/replay.err" ||
	fail "replay: $(cat "$T/replay.err")"
"$TRADES" stat --json --state-dir "$T/j" >"$T/j.json" || fail "stat --json"
"$TRADES" stat --state-dir "$T/j" >"$T/j.txt" || fail "stat"
"$PY" - "$T/j.json" "$T/j.txt" <<'PY' || fail "spare counters: $(cat "$T/j.json")"
import json, sys
j, txt = json.load(open(sys.argv[1]))['journal'], open(sys.argv[2]).read()
sp = j['spare']
assert j['segments'] >= 10 and sp['hits'] + sp['misses'] == j['segments'] - 1, j
assert sp['failures'] == 0 and sp['hits'] >= 1, sp
line = (f"journal: {j['entries']} entries, {j['bytes']} bytes, {j['segments']} segments; "
        f"spare segment: {sp['hits']} hits, {sp['misses']} misses, {sp['failures']} failures")
assert line in txt, (line, txt)
print('spare ok:', j['segments'], 'segments,', sp)
PY
echo "PASS stat-json"
