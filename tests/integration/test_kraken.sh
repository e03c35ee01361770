#!/usr/bin/env bash
# test_kraken.sh -- Kraken end to end on loopback: a TLS WebSocket server
# (self-signed cert made here) replays v2 frames with a mid-frame drop, a
# re-sent snapshot, skipped trade ids, heartbeats, status and a subscription
# error; a TLS REST server pages Trades with `last` and throttles.  Checks
# exact totals, dedup, the gap fill, the counters, backfill, replay of
# kraken-ws / kraken-rest files, the drop-in environment and TLS refusals.
source "$(dirname "$0")/lib.sh"
TOOLS="$SRCDIR/tests/tools"
need_tool curl curl
command -v openssl >/dev/null || fail "needs openssl (Debian package openssl)"
"$PY" -c 'import ssl' || fail "needs python3 with ssl (Debian package python3)"
if "$TRADES" serve --kraken BTC/USD --help 2>&1 | grep -q 'needs a build'; then
	fail "trades was built without the Kraken source (-Dkraken needs libssl-dev, libcurl4-openssl-dev, libwslay-dev)"
fi

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$T/key.pem" -out "$T/cert.pem" -days 2 \
	-subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null ||
	fail "openssl req could not make a self-signed certificate"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$T/key2.pem" -out "$T/cert2.pem" -days 2 \
	-subj /CN=other.example -addext "subjectAltName=DNS:other.example" 2>/dev/null ||
	fail "openssl req (second certificate) failed"
"$PY" "$TOOLS/kraken_fixtures.py" "$T"

# start_py NAME ARGS...: a test server in the background; sets PORT.
PIDS=()
start_py() {
	local name=$1 i
	shift
	"$PY" "$@" >"$T/$name.out" 2>"$T/$name.err" &
	PIDS+=($!)
	for i in $(seq 1 100); do # 5 s
		grep -q '^port ' "$T/$name.out" && break
		sleep 0.05
	done
	PORT=$(awk '$1=="port" {print $2; exit}' "$T/$name.out")
	[ -n "$PORT" ] || fail "$name did not start: $(cat "$T/$name.err")"
}
stop_pys() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	PIDS=()
}

# The Kafka leg (the Python service's whole job: Kraken in, topic `trades` out): a
# librdkafka mock cluster in a process of its own, read back with kcat.  Built with
# -Dkafka, meson sets TRADES_KAFKA_MOCK; then kcat must be there.
KAFKA=()
MOCK_PID=
if [ -n "${TRADES_KAFKA_MOCK:-}" ]; then
	kafka_mock_start 2 # lib.sh: sets MOCK_PID, BROKERS
	KAFKA=(--kafka "$BROKERS")
else
	echo "note: built without -Dkafka: the Kafka leg of the live test does not run"
fi
stop_mock() {
	{ exec 7>&-; } 2>/dev/null || true # braces: a bare exec 2>/dev/null would silence the whole script
	[ -z "$MOCK_PID" ] || kill -KILL "$MOCK_PID" 2>/dev/null || true
}
trap 'stop_pys; stop_mock; cleanup' EXIT

# check_feeds DIR < lines "FEED KEY WANT" (KEY may be decoder.NAME): one stat,
# one python for the lot (python starts slowly on a loaded machine).
check_feeds() {
	"$TRADES" stat --state-dir "$1" --json >"$T/snap.json" || fail "stat $1 failed"
	"$PY" -c '
import json, sys
d = json.load(open(sys.argv[1]))
bad = 0
for line in sys.stdin:
    if not line.strip():
        continue
    feed, key, want = line.split()
    f = next((f for f in d["feeds"] if f["feed"] == feed), None)
    v = f
    for k in key.split("."):
        v = (v or {}).get(k, 0)
    if f is None or str(v) != want:
        print("feed %s %s = %s, expected %s" % (feed, key, v if f else "(no feed)", want))
        bad = 1
sys.exit(bad)' "$T/snap.json" >"$T/check.out" || fail "$(cat "$T/check.out")"
}
# check_totals DIR PAIR WHICH: the instrument equals expect.json[WHICH], exactly.
check_totals() {
	"$TRADES" stat --state-dir "$1" --json >"$T/stat.json"
	"$PY" - "$T/stat.json" "$T/expect.json" "$2" "$3" <<'PYEOF' || fail "totals of $2 differ ($3)"
import json, sys
from decimal import Decimal
st, ex, pair, which = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), sys.argv[3], sys.argv[4]
inst = next(i for i in st["instruments"] if i["pair"] == pair)
want = ex[which]
bad = [k for k in want if (inst[k] != want[k] if k == "trades" else Decimal(inst[k]) != Decimal(want[k]))]
for k in bad:
    print("%s: got %s, want %s" % (k, inst[k], want[k]), file=sys.stderr)
sys.exit(1 if bad else 0)
PYEOF
}

# ---- 1. live: WebSocket v2 with a drop, a re-sent snapshot and a gap REST fills ----
start_py rest "$TOOLS/kraken_rest_server.py" --cert "$T/cert.pem" --key "$T/key.pem" \
	--data "$T/rest.json" --page 4 --log "$T/rest1.log" --timeout 60
REST_PORT=$PORT
start_py ws "$TOOLS/kraken_ws_server.py" --cert "$T/cert.pem" --key "$T/key.pem" \
	--scenario "$T/live.scenario" --timeout 30
WS_PORT=$PORT
# The drop-in environment selects the Kraken source (no --kraken flag here).
PRODUCT_IDS='["BTC/USD", "NOPE/USD"]' LIVE_OR_HISTORICAL=live \
	"$TRADES" serve --kraken-url "wss://localhost:$WS_PORT/v2" --tls-ca "$T/cert.pem" \
	--kraken-backfill --rest-url "https://localhost:$REST_PORT" --rest-interval-ms 0 \
	--ping-ms 300 --backoff-min-ms 20 --backoff-max-ms 100 --state-dir "$T/live" "${KAFKA[@]}" \
	>"$T/live.out" 2>"$T/serve.err" &
SERVE_PID=$!
for i in $(seq 1 300); do # 30 s
	st=$("$TRADES" stat --state-dir "$T/live" --json 2>/dev/null || true)
	[[ "$st" == *'"feed":"kraken:BTC/USD","received":24,"accepted":19,'* ]] &&
		[[ "$st" == *'"feed":"kraken","received":1,'* ]] && break
	kill -0 "$SERVE_PID" 2>/dev/null || fail "serve --kraken exited early"
	sleep 0.1
done
if [ -n "$MOCK_PID" ]; then # the Kafka sink's figures in the state, as serve --tcp's
	for i in $(seq 1 300); do # 30 s
		"$TRADES" stat --state-dir "$T/live" --json 2>/dev/null | "$PY" -c '
import json, sys
k = [s for s in json.load(sys.stdin)["sinks"] if s["name"] == "kafka"]
sys.exit(0 if k and k[0]["acked"] >= 19 and k[0]["errors"] == 0 else 1)' && break
		sleep 0.1
	done
	[ "$i" -lt 300 ] || fail "--kraken --kafka: the state's sink figures never showed 19 acked: $("$TRADES" stat --state-dir "$T/live" --json)"
fi
stop_serve
for i in $(seq 1 100); do # the WS server ends when the client's close arrives
	grep -q '^summary' "$T/ws.out" && break
	sleep 0.05
done
grep -q '^summary' "$T/ws.out" || fail "ws server: no summary: $(cat "$T/ws.err")"
summary=$(grep '^summary' "$T/ws.out")
for kv in sessions=2 subscribes=2 pong_ok=1 app_pings=1 drops=1 close_received=1 \
	path=/v2 symbols=BTC/USD,NOPE/USD; do
	[[ " $summary " == *" $kv "* ]] || fail "ws server summary lacks $kv: $summary"
done
check_totals "$T/live" BTC/USD live
check_feeds "$T/live" <<EOF
kraken:BTC/USD received 24
kraken:BTC/USD accepted 19
kraken:BTC/USD duplicates 5
kraken:BTC/USD malformed 0
kraken:BTC/USD gaps 1
kraken:BTC/USD gap_missing 3
kraken:BTC/USD out_of_order 0
kraken:BTC/USD decoder.recovered 3
kraken received 1
kraken malformed 1
kraken decoder.subscribe_errors 2
kraken decoder.reconnects 1
EOF
grep -q 'subscription NOPE/USD refused: Currency pair not supported' "$T/serve.err" ||
	fail "the subscription error is not in the log"
if [ -n "$MOCK_PID" ]; then
	# Every stored trade is in the topic exactly once, byte-equal to the journal's contract
	# line, keyed by the pair, with its jseq header, in journal order per partition.
	"$TRADES" tail --state-dir "$T/live" >"$T/tail.jsonl" || fail "trades tail"
	timeout 60 kcat -C -b "$BROKERS" -t trades -o beginning -e -q -f '%p\t%k\t%h\t%s\n' \
		>"$T/topic.tsv" 2>"$T/kcat.err" || fail "kcat: $(cat "$T/kcat.err")"
	"$PY" - "$T/topic.tsv" "$T/tail.jsonl" <<'PYEOF' || fail "the trades topic != the journal"
import json, sys
rows = [l.rstrip("\n").split("\t", 3) for l in open(sys.argv[1], encoding="utf-8")]
tail = [l.rstrip("\n") for l in open(sys.argv[2], encoding="utf-8")]
if len(rows) != len(tail) or len(tail) < 19:
    sys.exit("topic holds %d messages, the journal %d trades" % (len(rows), len(tail)))
seen, last = {}, {}
for part, key, hdr, value in rows:
    j = int(hdr.split("jseq=")[1].split(",")[0])
    if j in seen:
        sys.exit("jseq %d twice in the topic" % j)
    if last.get(part, 0) >= j:
        sys.exit("partition %s out of journal order at jseq %d" % (part, j))
    last[part] = seen[j] = j
    t = json.loads(value)
    if key != t["pair"] or value not in tail:
        sys.exit("message %r (key %r) is not a journal contract line" % (value, key))
print("kafka: %d trades in the topic, exactly once, in order" % len(rows))
PYEOF
fi
grep -q 'gap 14..16: 3 of 3 trades filled from REST' "$T/serve.err" || fail "no gap fill logged"
# Each id once; the filled 14..16 are journaled after 17, which revealed the gap.
ids=$("$TRADES" tail --state-dir "$T/live" | "$PY" -c '
import json, sys
ids = [json.loads(l)["trade_id"] for l in sys.stdin if l.startswith("{")]
ok = sorted(ids) == list(range(1, 20)) and ids.index(17) < ids.index(14)
print("ok" if ok else ids)')
[ "$ids" = ok ] || fail "journal ids: $ids"
echo "live: ok (${SECONDS} s)"

# ---- 1b. restart with --kraken-backfill: the downtime (20..25) comes from REST first ----
stop_pys
start_py rest "$TOOLS/kraken_rest_server.py" --cert "$T/cert.pem" --key "$T/key.pem" \
	--data "$T/rest.json" --page 4 --timeout 60
REST_PORT=$PORT
start_py ws "$TOOLS/kraken_ws_server.py" --cert "$T/cert.pem" --key "$T/key.pem" \
	--scenario "$T/restart.scenario" --timeout 30
start_serve restart --kraken BTC/USD --kraken-url "wss://localhost:$PORT/v2" \
	--tls-ca "$T/cert.pem" --kraken-backfill --rest-url "https://localhost:$REST_PORT" \
	--rest-interval-ms 0 --state-dir "$T/live" --http 127.0.0.1:0
HTTP=$(awk '$1=="listening" && $2=="http" {print $3; exit}' "$T/restart.out")
[ -n "$HTTP" ] || fail "--kraken --http: no 'listening http' line: $(cat "$T/restart.out")"
for i in $(seq 1 300); do # 30 s: 19 and the snapshot's 23..25 come back as duplicates
	st=$("$TRADES" stat --state-dir "$T/live" --json 2>/dev/null || true)
	[[ "$st" == *'"feed":"kraken:BTC/USD","received":34,'* ]] && break
	sleep 0.1
done
# /metrics while it runs: the WebSocket's two messages (the ack, the snapshot) as the
# kraken feed's source figures, within a publish (100 ms)
pk=
for i in $(seq 1 50); do
	pk=$(curl -sf "http://$HTTP/metrics" | awk '$1=="trades_source_packets_total{feed=\"kraken\"}" {print $2}')
	[ "$pk" = 2 ] && break
	sleep 0.1
done
[ "$pk" = 2 ] || fail "--kraken /metrics: source packets of feed kraken '$pk', want 2"
stop_serve
for i in $(seq 1 100); do # the WS server ends when the client's close arrives
	grep -q '^summary' "$T/ws.out" && break
	sleep 0.05
done
summary=$(grep '^summary' "$T/ws.out") || fail "ws server: no summary: $(cat "$T/ws.err")"
SB=$(sed -n 's/.* sent_bytes=\([0-9]*\).*/\1/p' <<<"$summary")
"$TRADES" stat --state-dir "$T/live" --json | "$PY" -c "
import json, sys
s = [f for f in json.load(sys.stdin)['feeds'] if f['feed'] == 'kraken'][0]['source']
assert s['packets'] == 2 and s['bytes'] == int('$SB'), (s, '$SB')
" || fail "--kraken: stat source figures != the server's sent texts ($summary)"
check_totals "$T/live" BTC/USD all
check_feeds "$T/live" <<EOF
kraken:BTC/USD received 34
kraken:BTC/USD accepted 25
kraken:BTC/USD duplicates 9
kraken:BTC/USD gaps 1
EOF
grep -q 'BTC/USD: 6 trades of the downtime backfilled' "$T/serve.err" || fail "no downtime fill"
echo "restart: ok (${SECONDS} s)"

# ---- 2. backfill: pages with `last`, rate-limit backoff, dedup against the journal ----
stop_pys
start_py rest "$TOOLS/kraken_rest_server.py" --cert "$T/cert.pem" --key "$T/key.pem" \
	--data "$T/rest.json" --page 4 --throttle 2 --log "$T/rest2.log" --timeout 60
REST_PORT=$PORT
bf() { "$TRADES" backfill --rest-url "https://localhost:$REST_PORT" --tls-ca "$T/cert.pem" \
	--rest-interval-ms 0 "$@"; }
bf --kraken XBTUSD --since 2023-11-14T22:13:20Z --state-dir "$T/bf" 2>"$T/bf1.err" ||
	fail "backfill failed: $(tail -n 5 "$T/bf1.err")"
check_totals "$T/bf" BTC/USD all
check_feeds "$T/bf" <<EOF
kraken:BTC/USD accepted 25
kraken:BTC/USD gaps 0
EOF
[ "$(grep -c '^/0/public/Trades' "$T/rest2.log")" -eq 10 ] ||
	fail "expected 2 throttled + 8 page requests: $(cat "$T/rest2.log")"
grep -q 'Rate limit exceeded; backing off' "$T/bf1.err" || fail "no API rate-limit backoff"
grep -q 'HTTP 429; retry 1' "$T/bf1.err" || fail "no HTTP 429 retry"
bf --kraken BTC/USD --since 1700000000000000000 --state-dir "$T/bf" 2>"$T/bf2.err" ||
	fail "second backfill failed"
check_feeds "$T/bf" <<EOF
kraken:BTC/USD accepted 25
kraken:BTC/USD duplicates 25
EOF
bf --kraken NOPE/USD --since 0 --state-dir "$T/bf" 2>"$T/bf4.err" && fail "unknown pair accepted"
grep -q 'NOPE/USD: not a Kraken pair' "$T/bf4.err" || fail "unknown pair not named"
echo "backfill: ok (${SECONDS} s)"

# ---- 3. drop-in historical mode: the last N days over REST, exit 0 ----
stop_pys
start_py rest "$TOOLS/kraken_rest_server.py" --cert "$T/cert.pem" --key "$T/key.pem" \
	--data "$T/recent.json" --page 2 --timeout 60
# The endpoint and CA from the environment (TRADES_REST_URL, TRADES_TLS_CA), as the image takes them.
PRODUCT_IDS=XBT/USD LIVE_OR_HISTORICAL=historical LAST_N_DAYS=1 TRADES_REST_URL="https://localhost:$PORT" \
	TRADES_TLS_CA="$T/cert.pem" "$TRADES" serve --rest-interval-ms 0 \
	--state-dir "$T/hist" 2>"$T/hist.err" || fail "historical mode: $(tail -n 3 "$T/hist.err")"
check_feeds "$T/hist" <<EOF
kraken:BTC/USD accepted 5
EOF
LIVE_OR_HISTORICAL=sometimes PRODUCT_IDS=XBT/USD "$TRADES" serve --state-dir "$T/x" 2>/dev/null &&
	fail "a bad LIVE_OR_HISTORICAL was accepted"
[ $? -eq 2 ] || fail "a bad LIVE_OR_HISTORICAL must exit 2"
echo "historical: ok (${SECONDS} s)"

# ---- 4. TLS refusals: an untrusted certificate, a host name mismatch ----
stop_pys
echo session >"$T/one.scenario"
start_py ws2 "$TOOLS/kraken_ws_server.py" --cert "$T/cert.pem" --key "$T/key.pem" \
	--scenario "$T/one.scenario" --timeout 5
rc=0
"$TRADES" serve --kraken BTC/USD --kraken-url "wss://localhost:$PORT/v2" --max-sessions 1 \
	--state-dir "$T/tls" >/dev/null 2>"$T/tls1.err" || rc=$?
[ "$rc" -eq 1 ] || fail "untrusted certificate: exit $rc, expected 1"
grep -q 'certificate verify failed' "$T/tls1.err" || fail "untrusted certificate not named"
stop_pys
start_py ws3 "$TOOLS/kraken_ws_server.py" --cert "$T/cert2.pem" --key "$T/key2.pem" \
	--scenario "$T/one.scenario" --timeout 5
rc=0
# TRADES_KRAKEN_URL and TRADES_TLS_CA (a mismatch, not an unknown issuer: the CA was loaded).
TRADES_KRAKEN_URL="wss://localhost:$PORT/v2" TRADES_TLS_CA="$T/cert2.pem" "$TRADES" serve --kraken BTC/USD \
	--max-sessions 1 --state-dir "$T/tls" >/dev/null 2>"$T/tls2.err" || rc=$?
[ "$rc" -eq 1 ] || fail "host name mismatch: exit $rc, expected 1"
grep -q 'certificate verify failed: hostname mismatch' "$T/tls2.err" || fail "mismatch not named"
stop_pys
echo "tls: ok (${SECONDS} s)"

# ---- 5. replay of a kraken-ws capture (v1 and v2, cryptofeed prefixes) and a REST page ----
"$TRADES" replay --format kraken-ws --state-dir "$T/rp" "$T/capture.ws" 2>"$T/rp.err" ||
	fail "replay kraken-ws failed"
grep -q '7 frames, 2 skipped lines, 9 messages, 6 accepted, 1 duplicates, 2 malformed' \
	"$T/rp.err" || fail "replay kraken-ws counts: $(tail -n 1 "$T/rp.err")"
check_feeds "$T/rp" <<EOF
kraken-v1:BTC/USD accepted 2
kraken-v1:BTC/USD malformed 1
kraken:BTC/USD accepted 4
kraken malformed 1
EOF
"$PY" - "$T/rest.json" >"$T/page.json" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
rows = d["trades"]["XXBTZUSD"]
print(json.dumps({"error": [], "result": {"XXBTZUSD": rows, "last": "1700000025123456000"}}))
json.dump({"error": [], "result": d["pairs"]}, open(sys.argv[1] + ".pairs", "w"))
PYEOF
# Into the state the v2 lines filled: 1..4 are duplicates on the shared feed.
"$TRADES" replay --format kraken-rest --asset-pairs "$T/rest.json.pairs" --feed kraken \
	--state-dir "$T/rp" "$T/page.json" 2>"$T/rp2.err" || fail "replay kraken-rest failed"
grep -q '25 messages, 21 accepted, 4 duplicates, 0 malformed' "$T/rp2.err" ||
	fail "replay kraken-rest counts: $(tail -n 1 "$T/rp2.err")"
check_feeds "$T/rp" <<EOF
kraken:BTC/USD accepted 25
EOF
"$TRADES" replay --format kraken-rest --pair XBT/USD --state-dir "$T/rp3" "$T/page.json" \
	2>/dev/null || fail "replay kraken-rest --pair failed"
check_totals "$T/rp3" BTC/USD all
echo "replay: ok (${SECONDS} s)"
