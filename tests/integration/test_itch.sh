#!/usr/bin/env bash
# test_itch.sh -- Nasdaq ITCH 5.0: binary file replay, a pcap of MoldUDP64,
# and MoldUDP64 over loopback UDP (A/B lines, re-request recovery, drops,
# duplicates, reordering), each against the generator's totals, which it
# computes from its own encoder, not from the service's decoder.
source "$(dirname "$0")/lib.sh"
GEN_ITCH=("$TRADES_GEN" --format itch --instruments 12 --seed 9)
MID=(--itch-midnight 2025-01-02T00:00:00-05:00 --book-orders 1Mi)

stat_field() { # stat_field STAT.json FEED EXPR (python, f = the feed's dict, d = decoder)
	"$PY" -c "
import json, sys
f = [x for x in json.load(open('$1'))['feeds'] if x['feed'] == '$2'][0]
d = f['decoder']
print($3)"
}

# 1. The Nasdaq binary file: exact totals; a second replay is all duplicates
#    (breaks included: they are deduplicated under their own key).
"${GEN_ITCH[@]}" --count 40000 --out "$T/day.itch" --totals "$T/day.json" 2>"$T/gen.err" || fail "gen"
"$TRADES" replay --format itch "${MID[@]}" --feed itch --state-dir "$T/f" "$T/day.itch" 2>/dev/null ||
	fail "replay itch"
stat_json "$T/f" "$T/f1.json"
"$PY" "$HERE/compare.py" totals "$T/day.json" "$T/f1.json" --feed itch --duplicates 0 ||
	fail "ITCH file replay != generator totals"
ACC=$(stat_field "$T/f1.json" itch "f['accepted']")
"$TRADES" replay --format itch "${MID[@]}" --feed itch --state-dir "$T/f" "$T/day.itch" 2>/dev/null
stat_json "$T/f" "$T/f2.json"
"$PY" "$HERE/compare.py" totals "$T/day.json" "$T/f2.json" --feed itch --accepted "$ACC" \
	--duplicates "$ACC" || fail "second ITCH replay changed the state"
"$TRADES" tail --state-dir "$T/f" --count 1 | grep -q '"timestamp":"2025-01-02T' || fail "ITCH time"

# 2. Joined mid-day: executions of orders never seen are counted per type.
"${GEN_ITCH[@]}" --count 20000 --join-late 300 --out "$T/late.itch" --totals "$T/late.json" 2>/dev/null
"$TRADES" replay --format itch "${MID[@]}" --feed late --state-dir "$T/l" "$T/late.itch" 2>/dev/null
stat_json "$T/l" "$T/l.json"
"$PY" "$HERE/compare.py" totals "$T/late.json" "$T/l.json" --feed late || fail "join-late totals"
"$PY" - "$T/late.json" "$T/l.json" <<'PY' || fail "unknown-order counts"
import json, sys
want = json.load(open(sys.argv[1]))["unknown_order"]
d = [f for f in json.load(open(sys.argv[2]))["feeds"] if f["feed"] == "late"][0]["decoder"]
got = {k: d.get("unknown_order_" + k.lower(), 0) for k in want}
print("unknown orders", got)
assert sum(want.values()) > 0 and got == want, (got, want)
PY

# 3. A pcap of line A with drops, duplicates and reordering, no recovery:
#    every dropped packet is one gap, counted exactly; duplicates dropped.
"${GEN_ITCH[@]}" --format moldudp64 --count 5000 --pcap "$T/a.pcap" --drop-every 10 --dup-every 7 \
	--reorder-every 9 --totals "$T/p.json" 2>"$T/pgen.err" || fail "gen pcap"
DROPPED=$(sed -n 's/.* \([0-9]*\) packets dropped.*/\1/p' "$T/pgen.err")
MSGS=$("$PY" -c "import json; print(json.load(open('$T/p.json'))['messages'])")
"$TRADES" replay --format pcap "${MID[@]}" --feed p --state-dir "$T/p" "$T/a.pcap" 2>/dev/null ||
	fail "replay pcap"
stat_json "$T/p" "$T/p1.json"
[ "$(stat_field "$T/p1.json" p "f['gaps']")" = "$DROPPED" ] ||
	fail "pcap: gaps $(stat_field "$T/p1.json" p "f['gaps']"), want $DROPPED"
[ "$(stat_field "$T/p1.json" p "d['messages'] + f['gap_missing']")" = "$MSGS" ] ||
	fail "pcap: decoded + missing != $MSGS"
[ "$(stat_field "$T/p1.json" p "d['gaps_unrecovered']")" = "$DROPPED" ] || fail "pcap: gaps not journaled"
[ "$(stat_field "$T/p1.json" p "d['dup_messages'] > 0")" = True ] || fail "pcap: no duplicates seen"

# 4. MoldUDP64 over loopback: serve on ephemeral ports, the generator as
#    exchange (paced: loopback UDP drops rather than pushes back).
mold_serve() { # mold_serve NAME SERVE-ARGS...: sets PA, PB (first two UDP ports)
	local name=$1
	shift
	start_serve "$name" "$@" "${MID[@]}" --state-dir "$T/$name"
	PA=$(awk '$1=="listening" {n=split($3,a,":"); print a[n]; exit}' "$T/$name.out")
	PB=$(awk '$1=="listening" {n=split($3,a,":"); if (++k == 2) {print a[n]; exit}}' "$T/$name.out")
}
# ITCH_RATE, ITCH_LINGER_MS, ITCH_SETTLE: a slower receiver (the sanitized build of .ci/run)
# gets a slower exchange, a re-request server that answers longer, and more time to settle.
ITCH_RATE=${ITCH_RATE:-150000} ITCH_LINGER_MS=${ITCH_LINGER_MS:-300} ITCH_SETTLE=${ITCH_SETTLE:-0.5}
mold_gen() { # mold_gen NAME GEN-ARGS...
	local name=$1
	shift
	"${GEN_ITCH[@]}" --format moldudp64 --count 20000 --rate "$ITCH_RATE" \
		--totals "$T/$name.json" "$@" 2>"$T/$name.gen" || fail "$name: gen: $(cat "$T/$name.gen")"
	sleep "$ITCH_SETTLE" # the last holes' deadlines
	stop_serve
	stat_json "$T/$name" "$T/$name.stat.json"
}

# 4a. A and B lines each dropping different packets: no gap, exact totals.
mold_serve ab --mold 127.0.0.1:0,feed=ab --mold 127.0.0.1:0,feed=ab
# Unpaced (--rate 0, the last --rate wins): the generator then sends each line's packets in
# batches, so line A's later packets arrive before line B's copy of a dropped one and holes
# open for B to fill.  Paced slowly (the ASan pass) each packet went to both lines in turn, B's
# copy came first and no hole ever opened.  20,000 messages fit the socket buffers.
mold_gen ab --udp "127.0.0.1:$PA" --udp-b "127.0.0.1:$PB" --drop-every 6 --drop-b-every 6 \
	--rate 0
"$PY" "$HERE/compare.py" totals "$T/ab.json" "$T/ab.stat.json" --feed ab --gaps 0 ||
	fail "A/B: totals or gaps"
[ "$(stat_field "$T/ab.stat.json" ab "d.get('holes_filled', 0) > 0")" = True ] ||
	fail "A/B: no hole was filled by the other line"

# 4b. One line dropping every 5th packet, with a re-request server: all
#     recovered, exact totals, nothing given up.
RR=$("$PY" -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mold_serve rr --mold 127.0.0.1:0,feed=rr --mold-rerequest "127.0.0.1:$RR"
mold_gen rr --udp "127.0.0.1:$PA" --drop-every 5 --dup-every 11 --reorder-every 13 \
	--rerequest "127.0.0.1:$RR" --linger-ms "$ITCH_LINGER_MS"
"$PY" "$HERE/compare.py" totals "$T/rr.json" "$T/rr.stat.json" --feed rr || fail "re-request totals"
[ "$(stat_field "$T/rr.stat.json" rr "d.get('recovered', 0) > 0 and d.get('gaps_unrecovered', 0) == 0")" = True ] ||
	fail "re-request: $(stat_field "$T/rr.stat.json" rr d)"

# 4b'. 3% random loss, holes declared at once (--mold-reorder 0) and re-requested in
#      parallel (--mold-ahead, default 8): all recovered, exact totals, and the serve log's
#      one "session complete" line says nothing was given up.
mold_serve rl --mold 127.0.0.1:0,feed=rl --mold-rerequest "127.0.0.1:$RR" --mold-reorder 0
mold_gen rl --udp "127.0.0.1:$PA" --loss-ppm 30000 --seed 7 --rerequest "127.0.0.1:$RR" \
	--linger-ms "$ITCH_LINGER_MS"
"$PY" "$HERE/compare.py" totals "$T/rl.json" "$T/rl.stat.json" --feed rl || fail "random loss totals"
grep -Eq "feed rl: mold: session complete at seq [0-9]+: [1-9][0-9]* gaps, [0-9]+ messages recovered, 0 given up" \
	"$T/serve.err" || fail "random loss: $(grep 'feed rl' "$T/serve.err" | tail -n 3)"
grep -q " [1-9][0-9]* packets dropped" "$T/rl.gen" ||
	fail "random loss: the generator dropped nothing: $(cat "$T/rl.gen")"

# 4b''. 1% random loss unpaced (--rate 0, the last --rate wins), 200,000 messages in
#       13,800 packets: the receiver takes up to a few thousand datagrams in one batch
#       before it reads the answers to what that batch re-requested, so a gap's later packets
#       pile up behind it.  All recovered and the reorder buffer never full (at 512
#       packets it was, and gaps were given up).
mold_serve fr --mold 127.0.0.1:0,feed=fr --mold-rerequest "127.0.0.1:$RR" --mold-reorder 0
mold_gen fr --udp "127.0.0.1:$PA" --count 200000 --loss-ppm 10000 --seed 7 --rate 0 \
	--rerequest "127.0.0.1:$RR" --linger-ms "$ITCH_LINGER_MS"
"$PY" "$HERE/compare.py" totals "$T/fr.json" "$T/fr.stat.json" --feed fr || fail "full-rate loss totals"
[ "$(stat_field "$T/fr.stat.json" fr "d.get('buffer_overflow', 0) == 0 and d.get('gaps_unrecovered', 0) == 0 and d.get('recovered', 0) > 0")" = True ] ||
	fail "full-rate loss: $(stat_field "$T/fr.stat.json" fr d); $(grep 'feed fr' "$T/serve.err" | tail -n 3)"

# 4c. The same faults without recovery: gaps counted exactly, the rest applied.
mold_serve nr --mold 127.0.0.1:0,feed=nr
mold_gen nr --udp "127.0.0.1:$PA" --drop-every 5 --dup-every 11 --reorder-every 13
DROPPED=$(sed -n 's/.* \([0-9]*\) packets dropped.*/\1/p' "$T/nr.gen")
MSGS=$("$PY" -c "import json; print(json.load(open('$T/nr.json'))['messages'])")
[ "$(stat_field "$T/nr.stat.json" nr "f['gaps']")" = "$DROPPED" ] ||
	fail "no recovery: gaps $(stat_field "$T/nr.stat.json" nr "f['gaps']"), want $DROPPED"
[ "$(stat_field "$T/nr.stat.json" nr "d['messages'] + f['gap_missing']")" = "$MSGS" ] ||
	fail "no recovery: decoded + missing != $MSGS"
echo "PASS itch"
