#!/usr/bin/env bash
# test_malformed.sh -- bad input is counted per reason and per feed, logged
# (rate-limited) with the peer and the offending bytes, and never stops the
# service; received = accepted + duplicates + malformed.
source "$(dirname "$0")/lib.sh"

# One line per reason (reason name first, the line after a tab).
cat >"$T/cases.tsv" <<'CASES'
syntax	{"pair":"BTC/USD","price":1,"volume":1,"timestamp_ms":1
syntax	not json at all
missing_pair	{"price":"1","volume":"1","timestamp_ms":1700000000000}
bad_pair	{"pair":"","price":"1","volume":"1","timestamp_ms":1700000000000}
bad_pair	{"pair":"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789","price":"1","volume":"1","timestamp_ms":1700000000000}
missing_price	{"pair":"BTC/USD","volume":"1","timestamp_ms":1700000000000}
bad_price	{"pair":"BTC/USD","price":"abc","volume":"1","timestamp_ms":1700000000000}
price_precision	{"pair":"BTC/USD","price":"1.123456789","volume":"1","timestamp_ms":1700000000000}
price_range	{"pair":"BTC/USD","price":"99999999999999999999","volume":"1","timestamp_ms":1700000000000}
missing_volume	{"pair":"BTC/USD","price":"1","timestamp_ms":1700000000000}
bad_volume	{"pair":"BTC/USD","price":"1","volume":"x","timestamp_ms":1700000000000}
volume_precision	{"pair":"BTC/USD","price":"1","volume":"0.000000001","timestamp_ms":1700000000000}
volume_range	{"pair":"BTC/USD","price":"1","volume":"0","timestamp_ms":1700000000000}
missing_time	{"pair":"BTC/USD","price":"1","volume":"1"}
bad_timestamp	{"pair":"BTC/USD","price":"1","volume":"1","timestamp":"yesterday"}
bad_timestamp_ms	{"pair":"BTC/USD","price":"1","volume":"1","timestamp_ms":"soon"}
bad_side	{"pair":"BTC/USD","price":"1","volume":"1","timestamp_ms":1700000000000,"side":"up"}
bad_trade_id	{"pair":"BTC/USD","price":"1","volume":"1","timestamp_ms":1700000000000,"trade_id":-4}
bad_seq	{"pair":"BTC/USD","price":"1","volume":"1","timestamp_ms":1700000000000,"seq":"x"}
duplicate_key	{"pair":"BTC/USD","pair":"ETH/USD","price":"1","volume":"1","timestamp_ms":1700000000000}
CASES
cut -f2- "$T/cases.tsv" >"$T/bad.jsonl"
# Good lines around the bad ones: 3 trades, one of them sent twice.
GOOD='{"pair":"BTC/USD","price":105944.1,"volume":"0.5","timestamp":"2025-01-02T03:04:05.123Z","side":"buy","trade_id":1}'
{
	echo "$GOOD"
	cat "$T/bad.jsonl"
	printf '%s\r\n' '{"pair":"BTC/USD","price":"105944.2","volume":0.25,"timestamp_ms":1735787045124,"trade_id":2,"extra":{"a":[1,2,{"b":null}]}}'
	head -c 5000 /dev/zero | tr '\0' 'x'; echo # line_too_long
	echo ""                                    # blank: not a message
	echo "$GOOD"                                # duplicate
	echo '{"pair":"ETH/USD","price":"3000","volume":"2","timestamp":"2025-01-02T03:04:05Z","side":"s","trade_id":9}'
} >"$T/mixed.jsonl"
NBAD=$(($(wc -l <"$T/bad.jsonl") + 1))

check_counts() { # check_counts STAT FEED
	"$PY" - "$1" "$2" "$T/cases.tsv" "$NBAD" <<'PY'
import collections, json, sys
stat, feed, cases, nbad = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3], int(sys.argv[4])
want = collections.Counter(l.split("\t")[0] for l in open(cases))
want["line_too_long"] += 1
f = [x for x in stat["feeds"] if x["feed"] == feed][0]
errs = []
if dict(want) != f["malformed_by"]:
    errs.append(f"malformed_by {f['malformed_by']} != {dict(want)}")
exp = {"received": nbad + 4, "accepted": 3, "duplicates": 1, "malformed": nbad}
errs += [f"{k} {f[k]} != {v}" for k, v in exp.items() if f[k] != v]
pairs = {i["pair"]: i for i in stat["instruments"]}
if pairs["BTC/USD"]["volume"] != "0.75" or pairs["BTC/USD"]["last"] != "105944.2":
    errs.append(f"BTC/USD {pairs['BTC/USD']}")
print("\n".join(errs) or "counts exact")
sys.exit(1 if errs else 0)
PY
}

# Through replay.
"$TRADES" replay --state-dir "$T/r" "$T/mixed.jsonl" 2>"$T/replay.err" || fail "replay exited non-zero"
stat_json "$T/r" "$T/r.json"
check_counts "$T/r.json" replay || fail "replay counts"

# Through a live TCP listener: logged with the peer, service keeps running.
start_serve serve --tcp 127.0.0.1:0,feed=bad --state-dir "$T/s"
"$PY" - "$TCP_PORT" "$T/mixed.jsonl" <<'PY' || fail "sending over TCP"
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
data = open(sys.argv[2], "rb").read()
for i in range(0, len(data), 7):   # 7-byte writes: every line spans reads
    s.sendall(data[i:i + 7])
s.close()
PY
wait_received "$T/s" "$((NBAD + 4))" 30
kill -0 "$SERVE_PID" || fail "serve died on bad input"
grep -q 'malformed (syntax) from 127.0.0.1:[0-9]*: not json at all' "$T/serve.err" ||
	fail "no log line naming the peer and the bytes"
[ "$(grep -c 'malformed (' "$T/serve.err")" -le 5 ] || fail "malformed log not rate-limited"
stop_serve
stat_json "$T/s" "$T/s.json"
check_counts "$T/s.json" bad || fail "tcp counts"
echo "PASS malformed"
