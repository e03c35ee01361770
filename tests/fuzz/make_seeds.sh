#!/usr/bin/env bash
# make_seeds.sh TRADES_GEN -- (re)writes the generated seeds of corpus/{jsonl,itch,mold,pcap}
# with trades-gen (small, fixed seeds: byte-identical each time).  The hand-made seeds
# (decimal, kraken_ws, kraken_rest, and any crash inputs, named crash-*) are files of their own.
set -euo pipefail
gen=$1
here=$(cd "$(dirname "$0")" && pwd)
c=$here/corpus
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$c"/{jsonl,itch,mold,pcap}
# jsonl: first byte = chunk size selector of fuzz_jsonl, then the lines
"$gen" --count 12 --instruments 3 --seed 7 --out "$tmp/a.jsonl" 2>/dev/null
"$gen" --count 12 --instruments 3 --seed 8 --malformed-every 2 --dup-every 3 \
	--out "$tmp/b.jsonl" 2>/dev/null
{ printf '\x05'; cat "$tmp/a.jsonl"; } >"$c/jsonl/gen-valid"
{ printf '\x3f'; cat "$tmp/b.jsonl"; } >"$c/jsonl/gen-malformed-dup"
# itch: first byte = chunk selector of fuzz_itch, then the binary file framing
"$gen" --format itch --count 40 --instruments 3 --seed 7 --out "$tmp/a.itch" 2>/dev/null
"$gen" --format itch --count 40 --instruments 3 --seed 9 --mix nasdaq --join-late 5 \
	--out "$tmp/b.itch" 2>/dev/null
{ printf '\x10'; cat "$tmp/a.itch"; } >"$c/itch/gen-test-mix"
{ printf '\x02'; cat "$tmp/b.itch"; } >"$c/itch/gen-nasdaq-join-late"
# pcap: MoldUDP64 in UDP/IPv4/Ethernet, a short capture
"$gen" --format moldudp64 --count 20 --instruments 2 --seed 7 --mtu 300 \
	--pcap "$c/pcap/gen-mold" 2>/dev/null
"$gen" --format moldudp64 --count 20 --instruments 2 --seed 8 --mtu 200 --drop-every 3 \
	--pcap "$tmp/drop.pcap" 2>/dev/null
cp "$tmp/drop.pcap" "$c/pcap/gen-mold-drops"
# mold: the same packets in fuzz_mold's framing [line][step ms][len BE16][packet]
python3 - "$c/pcap/gen-mold" "$c/mold/gen-one-line" 0 \
	"$tmp/drop.pcap" "$c/mold/gen-drops-two-lines" 1 <<'PY'
import struct, sys
args = sys.argv[1:]
for src, dst, mode in zip(args[0::3], args[1::3], args[2::3]):
    b = open(src, 'rb').read()
    off, out, i = 24, bytearray(), 0
    while off + 16 <= len(b):
        incl = struct.unpack_from('<I', b, off + 8)[0]
        pkt = b[off + 16: off + 16 + incl][14 + 20 + 8:]
        off += 16 + incl
        line = (i & 1) if mode == '1' else 0
        out += bytes([line, 1 if i % 4 else 250]) + struct.pack('>H', len(pkt)) + pkt
        i += 1
    open(dst, 'wb').write(bytes([int(mode)]) + bytes(3) + out)
PY
