#!/usr/bin/env bash
# test_hostile.sh -- issue 10 item 6, hostile input: oversized lines, binary
# garbage, deep nesting, 400-digit numbers, NULs and invalid UTF-8 over TCP,
# UDP and replay are counted and refused while the good lines around them are
# accepted; one trade_id of 2^64-1 does not poison the duplicate filter (not
# even after a restart); prices of 0 and below are refused unless the feed
# allows them; a spoofed MoldUDP64 heartbeat at seq 2^64-2 and another
# session's packet do not stop a Mold feed.  RSS bound: the service's VmRSS
# grows by at most 64 MiB over the hostile phase (the 10 MB line is never
# buffered: a line over 4096 bytes is counted and skipped to its newline).
source "$(dirname "$0")/lib.sh"
RSS_BOUND_KB=$((64 * 1024))

good() { # good ID [PRICE]
	printf '{"pair":"BTC/USD","price":"%s","volume":"1","timestamp_ms":1700000000000,"trade_id":%s}\n' "${2:-100}" "$1"
}
# The hostile lines, each ending in a newline, and how many messages they are.
"$PY" - "$T/hostile.bin" <<'PY'
import sys
L = []
L.append(b"x" * (10 * 1024 * 1024))                       # 10 MB without a newline (then one)
L.append(bytes(range(256)).replace(b"\n", b"") * 8)         # binary garbage, one line
L.append(b"[" * 3000)                                       # deep nesting within the line limit
L.append(b'{"a":' * 200000)                                 # deep nesting past it
L.append(b'{"pair":"BTC/USD","price":"' + b"9" * 400 + b'","volume":"1","timestamp_ms":1}')
L.append(b'{"pair":"BTC/USD","price":"1","volume":"' + b"1" * 400 + b'","timestamp_ms":1}')
L.append(b'{"pair":"BTC\x00USD","price":"1","volume":"1","timestamp_ms":1}')
L.append(b'\x00\x00\x00')
L.append(b'{"pair":"BTC/\xff\xfe","price":"1","volume":"1","timestamp_ms":1}')
L.append(b'{"pair":"BTC/USD","price":"0e400","volume":"1","timestamp_ms":1700000000000,"trade_id":900}')
L.append(b'{"pair":"BTC/USD","price":"-5","volume":"1","timestamp_ms":1700000000000,"trade_id":901}')
L.append(b'{"pair":"BTC/USD","price":0,"volume":"1","timestamp_ms":1700000000000,"trade_id":902}')
open(sys.argv[1], "wb").write(b"".join(l + b"\n" for l in L))
print(len(L))
PY
NHOST=12
{
	for i in 1 2 3 4 5; do good $i; done
	good 18446744073709551615
	cat "$T/hostile.bin"
	for i in 6 7 8 9 10; do good $i; done
} >"$T/in.jsonl"

# check FILE FEED RECEIVED ACCEPTED DUPS MALFORMED NONPOS IDJUMPS
check() {
	"$PY" - "$@" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
f = [x for x in d["feeds"] if x["feed"] == sys.argv[2]][0]
want = dict(zip(["received", "accepted", "duplicates", "malformed"], map(int, sys.argv[3:7])))
errs = [f"{k} {f[k]} != {v}" for k, v in want.items() if f[k] != v]
if f["received"] != f["accepted"] + f["duplicates"] + f["malformed"] + f["store_failed"]:
    errs.append(f"identity broken: {f}")
if f["malformed_by"].get("price_nonpositive", 0) != int(sys.argv[7]):
    errs.append(f"price_nonpositive {f['malformed_by']}")
if f["id_jumps"] != int(sys.argv[8]):
    errs.append(f"id_jumps {f['id_jumps']} != {sys.argv[8]}")
print("; ".join(errs) or "ok")
sys.exit(1 if errs else 0)
PY
}

# Replay.
"$TRADES" replay --state-dir "$T/r" "$T/in.jsonl" 2>"$T/replay.err" || fail "replay exited non-zero"
stat_json "$T/r" "$T/r.json"
check "$T/r.json" replay $((11 + NHOST)) 11 0 $NHOST 3 1 || fail "replay counts"

# ITCH: a flipped bit 40 in one match number (it cost a symbol 24,020 of its
# 25,688 trades) and a trade at price 0, in a replayed ITCH file.
"$PY" - "$T/day.itch" <<'PY'
import struct, sys
out = []
def msg(b): out.append(struct.pack(">H", len(b)) + b)
ts = (10 * 3600 * 10**9).to_bytes(6, "big")
msg(b"R" + struct.pack(">HH", 1, 0) + ts + b"AAPL    " + b"Q" + b"N" + struct.pack(">I", 100) + b"N" + b"C" + b"Z " + b"P" + b"A" + b"N" + b"1" + b"N" + struct.pack(">I", 0) + b"N")
def p(match, price=1000000):
    msg(b"P" + struct.pack(">HH", 1, 0) + ts + struct.pack(">Q", 0) + b"B" + struct.pack(">I", 10) + b"AAPL    " + struct.pack(">IQ", price, match))
for m in range(1, 6): p(m)
p(6 | (1 << 40))          # match number 6 with bit 40 flipped
for m in range(6, 11): p(m)
p(11, 0)                  # price 0
open(sys.argv[1], "wb").write(b"".join(out))
PY
"$TRADES" replay --format itch --itch-midnight 2025-01-02T00:00:00-05:00 --state-dir "$T/i" \
	"$T/day.itch" 2>"$T/itch.err" || fail "itch replay exited non-zero"
stat_json "$T/i" "$T/i.json"
check "$T/i.json" replay 12 11 0 1 1 1 || fail "itch counts"
grep -q 'trade id 1099511627782 is more than' "$T/itch.err" || fail "no itch id jump log line"

rss() { awk '/^VmRSS/ {print $2}' "/proc/$SERVE_PID/status"; }

# TCP (feed j) and UDP (feed u), one service; feed s allows prices <= 0.
start_serve s1 --tcp 127.0.0.1:0,feed=j --udp 127.0.0.1:0,feed=u --tcp 127.0.0.1:0,feed=s \
	--allow-negative-prices s --state-dir "$T/s"
S_PORT=$(awk '$1=="listening" && $2=="tcp" && $4=="feed=s" {n=split($3,a,":"); print a[n]}' "$T/s1.out")
RSS0=$(rss)
"$PY" - "$TCP_PORT" "$UDP_PORT" "$S_PORT" "$T/in.jsonl" <<'PY' || fail "sending"
import socket, sys, time
tcp, udp, sp, data = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), open(sys.argv[4], "rb").read()
s = socket.create_connection(("127.0.0.1", tcp)); s.sendall(data); s.close()
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for line in data.split(b"\n")[:-1]:
    if len(line) < 60000:     # a datagram holds at most 64 KiB
        u.sendto(line + b"\n", ("127.0.0.1", udp)); time.sleep(0.002)
s = socket.create_connection(("127.0.0.1", sp))
s.sendall(b'{"pair":"SPREAD","price":"-5","volume":"1","timestamp_ms":1700000000000,"trade_id":1}\n'
          b'{"pair":"SPREAD","price":"0","volume":"1","timestamp_ms":1700000000000,"trade_id":2}\n')
s.close()
PY
# UDP: the 10 MB line and the 1 MB nesting are not sent (over a datagram).
wait_received "$T/s" $((11 + NHOST + 11 + NHOST - 2 + 2)) 30
RSS1=$(rss)
kill -0 "$SERVE_PID" || fail "serve died on hostile input"
echo "VmRSS before $RSS0 kB, after the hostile phase $RSS1 kB (bound: +$RSS_BOUND_KB kB)"
[ $((RSS1 - RSS0)) -le "$RSS_BOUND_KB" ] || fail "RSS grew by $((RSS1 - RSS0)) kB"
grep -q 'trade id 18446744073709551615 is more than' "$T/serve.err" || fail "no id jump log line"
stop_serve
stat_json "$T/s" "$T/s.json"
check "$T/s.json" j $((11 + NHOST)) 11 0 $NHOST 3 1 || fail "tcp counts"
check "$T/s.json" u $((11 + NHOST - 2)) 11 0 $((NHOST - 2)) 3 1 || fail "udp counts"
check "$T/s.json" s 2 2 0 0 0 0 || fail "allowed feed counts"
"$TRADES" stat --state-dir "$T/s" | grep -q 'id_jumps=1' || fail "stat text has no id_jumps"

# After a restart the mark is still the real one: id 11 is new, 10 a duplicate.
start_serve s2 --tcp 127.0.0.1:0,feed=j --state-dir "$T/s"
{ good 11; good 10; } | "$PY" -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1]))); s.sendall(sys.stdin.buffer.read()); s.close()' "$TCP_PORT"
wait_received "$T/s" $((11 + NHOST + 11 + NHOST - 2 + 2 + 2)) 30
stop_serve
stat_json "$T/s" "$T/s2.json"
check "$T/s2.json" j $((13 + NHOST)) 12 1 $NHOST 3 1 || fail "after restart"

# MoldUDP64: a spoofed heartbeat at 2^64-2 and a packet of another session
# before the real stream; every real message is still delivered.
MID=(--itch-midnight 2025-01-02T00:00:00-05:00 --book-orders 64Ki)
start_serve m --mold 127.0.0.1:0,feed=m "${MID[@]}" --mold-timeout 50 --state-dir "$T/m"
"$PY" - "$UDP_PORT" <<'PY' || fail "spoofing"
import socket, struct, sys
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
a = ("127.0.0.1", int(sys.argv[1]))
u.sendto(b"TRADES0001" + struct.pack(">QH", 1, 0), a)               # adopt the session
u.sendto(b"TRADES0001" + struct.pack(">QH", 2**64 - 2, 0), a)       # spoofed heartbeat
u.sendto(b"EVIL000000" + struct.pack(">QH", 1, 0), a)               # another session
u.sendto(b"TRADES0001" + struct.pack(">QH", 2**64 - 1, 5), a)       # count past 2^64
u.sendto(b"TRADES0001" + struct.pack(">QH", 1, 3) + b"\x00\x01", a) # count over the datagram
PY
"$TRADES_GEN" --format itch --format moldudp64 --instruments 4 --count 300 --rate 20000 --seed 3 \
	--udp "127.0.0.1:$UDP_PORT" --totals "$T/m.json" 2>"$T/m.gen" || fail "gen: $(cat "$T/m.gen")"
ok=0
for _ in $(seq 1 75); do
	stat_json "$T/m" "$T/mlive.json"
	if "$PY" - "$T/mlive.json" "$T/m.json" >"$T/why" <<'PY'; then
import json, sys
f = [x for x in json.load(open(sys.argv[1]))["feeds"] if x["feed"] == "m"][0]
want = json.load(open(sys.argv[2]))["messages"]
dec = f["decoder"]
errs = []
if dec.get("messages", 0) != want: errs.append(f"messages {dec.get('messages')} != {want}")
if f["gaps"] or dec.get("gaps_unrecovered"): errs.append(f"gaps {f['gaps']}")
if dec.get("dup_messages", 0): errs.append(f"dup_messages {dec['dup_messages']}")
if dec.get("wrong_session") != 1: errs.append(f"wrong_session {dec.get('wrong_session')}")
if dec.get("bad_packets") != 3: errs.append(f"bad_packets {dec.get('bad_packets')}")
print("; ".join(errs))
sys.exit(1 if errs else 0)
PY
		ok=1
		break
	fi
	sleep 0.2
done
[ "$ok" -eq 1 ] || fail "mold after spoofing: $(cat "$T/why")"
grep -q "is 18446744073709551613 past the next seq" "$T/serve.err" || fail "no seq jump log line"
grep -q "packet of session 'EVIL000000'" "$T/serve.err" || fail "no wrong session log line"
stop_serve
echo "PASS hostile: RSS +$((RSS1 - RSS0)) kB"
