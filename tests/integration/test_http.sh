#!/usr/bin/env bash
# test_http.sh -- serve --http (issue 14): a real Prometheus scrapes /metrics
# and its query API reports the accepted count of a known number of trades;
# promtool validates the exposition; /stat is `trades stat --json`; /healthz
# is `trades health`; headless Chromium renders the status page (DOM checked,
# screenshot written); hostile clients (slow, huge, many) do not stop the
# endpoint from serving nor the service from ingesting.
source "$(dirname "$0")/lib.sh"
need_tool curl curl
need_tool promtool prometheus
need_tool prometheus prometheus
need_tool chromium chromium
N=3000
PROM_PID=

free_port() {
	"$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
stop_prom() {
	[ -n "$PROM_PID" ] && kill "$PROM_PID" 2>/dev/null && wait "$PROM_PID" 2>/dev/null || true
	PROM_PID=
}
trap 'stop_prom; cleanup' EXIT

start_serve http --state-dir "$T/s" --tcp 127.0.0.1:0 --udp 127.0.0.1:0 --http 127.0.0.1:0 \
	--http-instruments 4
HTTP=$(awk '$1=="listening" && $2=="http" {print $3; exit}' "$T/http.out")
[ -n "$HTTP" ] || fail "no 'listening http' line: $(cat "$T/http.out")"
"$TRADES_GEN" --count $N --instruments 8 --tcp "127.0.0.1:$TCP_PORT" 2>/dev/null ||
	fail "trades-gen"
wait_received "$T/s" $N 30
"$TRADES_GEN" --count $N --instruments 8 --out "$T/sent.jsonl" 2>/dev/null || fail "trades-gen --out"
SENT=$(stat -c %s "$T/sent.jsonl")
metric() { awk -v k="$1" '$1==k {print $2}' "$T/metrics"; }

# ---- /metrics: exposition format, values
# The source figures are published every STATE_PUBLISH_MS (100 ms), not at each commit: the
# trades can be counted before the bytes that carried them are.  Scrape until they are (a
# bounded wait, 10 s), then check that scrape.
for i in $(seq 100); do
	curl -sf "http://$HTTP/metrics" >"$T/metrics" || fail "GET /metrics"
	[ "$(metric 'trades_source_bytes_total{feed="tcp:127.0.0.1:0"}')" = "$SENT" ] && break
	sleep 0.1
done
promtool check metrics <"$T/metrics" >"$T/promtool.out" 2>&1 ||
	fail "promtool check metrics: $(cat "$T/promtool.out")"
grep -q '^# TYPE trades_feed_accepted_total counter$' "$T/metrics" || fail "no # TYPE"
grep -q "^trades_feed_accepted_total{feed=\"tcp:127.0.0.1:0\"} $N\$" "$T/metrics" ||
	fail "accepted $N not in /metrics: $(grep accepted "$T/metrics")"
[ "$(grep -c '^trades_instrument_trades_total{' "$T/metrics")" -eq 4 ] ||
	fail "--http-instruments 4: not 4 instrument series"
grep -q '^trades_http_request_duration_seconds_bucket{le="+Inf"}' "$T/metrics" ||
	fail "no histogram"
# the operations series (state version 6): per feed source, journal, candles,
# stage latency histograms; the byte count is exactly what the generator sent
[ "$(metric 'trades_source_bytes_total{feed="tcp:127.0.0.1:0"}')" = "$SENT" ] ||
	fail "source bytes $(metric 'trades_source_bytes_total{feed="tcp:127.0.0.1:0"}'), sent $SENT"
[ "$(metric 'trades_source_packets_total{feed="tcp:127.0.0.1:0"}')" -gt 0 ] || fail "no packets"
grep -q '^# TYPE trades_source_kernel_drops_total counter$' "$T/metrics" || fail "no kernel drops"
[ "$(metric trades_journal_entries_total)" -ge $N ] || fail "journal entries: $(metric trades_journal_entries_total)"
[ "$(metric trades_journal_segments)" -ge 1 ] || fail "journal segments"
for k in hits misses failures; do
	grep -q "^# TYPE trades_journal_spare_${k}_total counter\$" "$T/metrics" &&
		[ -n "$(metric "trades_journal_spare_${k}_total")" ] || fail "no trades_journal_spare_${k}_total"
done
grep -q '^trades_journal_last_sync_age_seconds [0-9]' "$T/metrics" || fail "no sync age"
grep -q '^trades_candles_late_total{interval="1m"} 0$' "$T/metrics" || fail "no late candle counter"
grep -q '^# TYPE trades_stage_latency_seconds histogram$' "$T/metrics" || fail "no latency histogram"
for st in rx_to_decoded decoded_to_committed; do
	c=$(metric "trades_stage_latency_seconds_count{stage=\"$st\"}")
	[ "$c" -gt 0 ] && [ "$(metric "trades_stage_latency_seconds_bucket{stage=\"$st\",le=\"+Inf\"}")" = "$c" ] ||
		fail "stage $st: count '$c' or +Inf bucket wrong"
done
"$TRADES" stat --state-dir "$T/s" --json | "$PY" -c "
import json, sys
d = json.load(sys.stdin)
f = [x for x in d['feeds'] if x['feed'] == 'tcp:127.0.0.1:0'][0]['source']
assert f['bytes'] == $SENT and set(f) == {'bytes', 'packets', 'kernel_drops', 'acks_sent', 'acks_dropped'}, f
assert d['journal']['entries'] >= $N and d['latency']['rx_to_decoded']['count'] > 0, d['journal']
assert d['candles']['late'] == {'1m': 0}, d['candles']
" || fail "stat --json operations fields"
# plain `trades stat` prints the same operations figures as `stat --json`
"$TRADES" stat --state-dir "$T/s" >"$T/stat.txt" || fail "trades stat"
"$TRADES" stat --state-dir "$T/s" --json >"$T/stat_ops.json" || fail "trades stat --json"
"$PY" - "$T/stat_ops.json" "$T/stat.txt" <<'PY' || fail "stat table's operations figures"
import json, re, sys
d, txt = json.load(open(sys.argv[1])), open(sys.argv[2]).read()
j = d["journal"]
sp = j["spare"]
want = (f"journal: {j['entries']} entries, {j['bytes']} bytes, {j['segments']} segments; "
        f"spare segment: {sp['hits']} hits, {sp['misses']} misses, {sp['failures']} failures")
assert want in txt, (want, txt)
for f in d["feeds"]:
    s = f["source"]
    if not s["bytes"]:
        continue
    line = (f"{f['feed']:<28} source bytes={s['bytes']} packets={s['packets']} "
            f"kernel_drops={s['kernel_drops']} acks_sent={s['acks_sent']} "
            f"acks_dropped={s['acks_dropped']}")
    assert line in txt, (line, txt)
assert re.search(r"^candles: late 1m=0, pool_full=0$", txt, re.M), txt
PY
echo "metrics ok: promtool clean, accepted $N, source bytes $SENT, histograms"

# ---- /stat is trades stat --json, /healthz is trades health
curl -sf "http://$HTTP/stat" >"$T/http_stat.json" || fail "GET /stat"
stat_json "$T/s" "$T/stat.json"
"$PY" - "$T/http_stat.json" "$T/stat.json" <<'PY' || fail "/stat differs from stat --json"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
ages = [x["journal"].pop("last_sync_age_ms") for x in (a, b)]  # read at two moments
assert a == b and min(ages) >= 0, (a, b)
PY
curl -sf "http://$HTTP/healthz" >"$T/healthz" || fail "GET /healthz not 200"
grep -q "^healthy: writer pid $SERVE_PID," "$T/healthz" || fail "/healthz: $(cat "$T/healthz")"
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://$HTTP/nope")" = 404 ] || fail "404"
[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://$HTTP/stat")" = 405 ] || fail "405"
"$TRADES" serve --state-dir "$T/s" --tcp 127.0.0.1:0 --udp 127.0.0.1:0 2>/dev/null &&
	fail "a second writer opened the state: the HTTP reader dropped the writer's lock"
echo "stat/healthz ok"

# ---- a real Prometheus scrapes it; its query API gives the accepted count
PP=$(free_port)
cat >"$T/prom.yml" <<YML
global: {scrape_interval: 1s, scrape_timeout: 1s}
scrape_configs:
  - job_name: trades
    static_configs: [{targets: ['$HTTP']}]
YML
prometheus --config.file="$T/prom.yml" --storage.tsdb.path="$T/tsdb" \
	--web.listen-address="127.0.0.1:$PP" >"$T/prom.log" 2>&1 &
PROM_PID=$!
got=
deadline=$((SECONDS + 60))
while [ "$SECONDS" -lt "$deadline" ]; do
	got=$(curl -sf "http://127.0.0.1:$PP/api/v1/query" \
		--data-urlencode 'query=sum(trades_feed_accepted_total{job="trades"})' 2>/dev/null |
		"$PY" -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "")' \
		2>/dev/null || true)
	[ "$got" = "$N" ] && break
	sleep 0.5
done
[ "$got" = "$N" ] || fail "prometheus query: accepted '$got', want $N: $(tail -5 "$T/prom.log")"
stop_prom
echo "prometheus ok: scraped accepted = $got"

# ---- /candles: the engine's candle rings, the same as `trades candles --json`
PAIR=$("$PY" -c 'import json,sys; print(max(json.load(open(sys.argv[1]))["instruments"], key=lambda i: i["trades"])["pair"])' "$T/stat.json")
curl -sf "http://$HTTP/candles?pair=$(printf %s "$PAIR" | sed 's|/|%2F|g')" >"$T/candles.json" ||
	fail "GET /candles?pair=$PAIR"
"$TRADES" candles --state-dir "$T/s" --pair "$PAIR" --json >"$T/candles_cli.jsonl" ||
	fail "trades candles --pair $PAIR"
"$PY" - "$T/candles.json" "$T/candles_cli.jsonl" <<'PY' || fail "/candles differs from trades candles"
import json, sys
web = json.load(open(sys.argv[1]))["candles"]
cli = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
assert web and len(web) == len(cli), (len(web), len(cli))
for w, c in zip(web, cli):
    assert w["start_ms"] == c["start_ns"] // 1000000, (w, c)
    for k in ("open", "high", "low", "close", "volume", "trades"):
        assert w[k] == c[k], (k, w, c)
print("candles ok:", len(web), "candles of", cli[0]["pair"])
PY
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://$HTTP/candles?pair=NOPE/XX")" = 404 ] ||
	fail "/candles of an unknown pair is not 404"
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://$HTTP/candles")" = 400 ] ||
	fail "/candles without ?pair is not 400"

# ---- the status page in headless Chromium
chrome() {
	timeout 90 chromium --headless --no-sandbox --disable-gpu --user-data-dir="$T/chrome" \
		--virtual-time-budget=5000 --window-size=900,1000 "$@" 2>>"$T/chrome.log"
}
chrome --dump-dom "http://$HTTP/" >"$T/dom.html" || fail "chromium --dump-dom"
"$PY" - "$T/dom.html" "$T/stat.json" <<'PY' || fail "status page DOM"
import json, re, sys
dom, st = open(sys.argv[1]).read(), json.load(open(sys.argv[2]))
feeds = re.findall(r'<tr class="feed"><td>([^<]*)</td><td>(\d+)</td><td>(\d+)</td>', dom)
want = [(f['feed'], str(f['received']), str(f['accepted'])) for f in st['feeds']]
assert sorted(feeds) == sorted(want), (feeds, want)
insts = re.findall(r'<tr class="inst"><td>([^<]*)</td><td>(\d+)</td>', dom)
busiest = sorted(st['instruments'], key=lambda i: -i['trades'])
assert len(insts) == len(busiest) and insts[0] == (busiest[0]['pair'], str(busiest[0]['trades'])), insts
assert sum(int(n) for _, n in insts) == sum(i['trades'] for i in busiest)
assert re.search(r'<rect class="candle"', dom), 'no candle drawn'
assert 'serving' in dom
print('dom ok:', len(feeds), 'feeds,', len(insts), 'instruments')
PY
SHOT=${TRADES_HTTP_SHOT:-$T/status.png}
chrome --screenshot="$SHOT" "http://$HTTP/" >/dev/null || fail "chromium --screenshot"
[ "$(head -c 4 "$SHOT" | od -An -tx1 | tr -d ' ')" = 89504e47 ] || fail "screenshot not a PNG"
echo "chromium ok: screenshot $SHOT ($(stat -c %s "$SHOT") bytes)"

# ---- hostile clients from 127.0.0.2 while trades stream in
"$PY" - "$HTTP" >"$T/hostile.out" 2>&1 <<'PY' &
import socket, sys, time
host, port = sys.argv[1].rsplit(':', 1)
port = int(port)
def conn():
    s = socket.socket(); s.settimeout(2)
    s.bind(('127.0.0.2', 0)); s.connect((host, port)); return s
slow = []
for i in range(100):              # many at once, each dribbling a header
    try:
        s = conn(); s.send(b'GET /metrics HTTP/1.1\r\nHost: x\r\n'); slow.append(s)
    except OSError:
        pass
huge = [b'GET /' + b'a' * 200000 + b' HTTP/1.1\r\n\r\n',
        b'GET / HTTP/1.1\r\nX: ' + b'b' * 200000 + b'\r\n\r\n']
for h in huge:                    # huge URL and huge header: refused, not served
    try:
        s = conn(); s.sendall(h); r = s.recv(64); print('huge ->', r[:12] if r else 'closed'); s.close()
    except OSError as e:
        print('huge -> closed', e)
for t in range(8):                # bounded: 8 s of slowloris
    for s in slow:
        try:
            s.send(b'X-a: b\r\n')
        except OSError:
            pass
    time.sleep(1)
print('slow done')
PY
HOSTILE=$!
sleep 1
"$TRADES_GEN" --count $N --seed 2 --instruments 8 --tcp "127.0.0.1:$TCP_PORT" 2>/dev/null ||
	fail "trades-gen during the attack"
ok=0
for i in $(seq 1 10); do # the endpoint answers others during the attack
	curl -sf -m 2 "http://$HTTP/healthz" >/dev/null && ok=$((ok + 1))
	sleep 0.3
done
[ "$ok" -ge 8 ] || fail "only $ok of 10 /healthz answered during the attack"
wait "$HOSTILE" || fail "hostile client: $(cat "$T/hostile.out")"
[ "$(grep -c -e "^huge -> b'HTTP/1.1 4" -e '^huge -> closed' "$T/hostile.out")" -eq 2 ] ||
	fail "huge requests were not refused: $(cat "$T/hostile.out")"
wait_received "$T/s" $((2 * N)) 30
stat_json "$T/s" "$T/stat2.json"
ACC=$("$PY" -c 'import json,sys; print(sum(f["accepted"] for f in json.load(open(sys.argv[1]))["feeds"]))' "$T/stat2.json")
[ "$ACC" -gt "$N" ] || fail "the second stream was not accepted"
curl -sf -m 5 "http://$HTTP/metrics" >"$T/metrics2" || fail "GET /metrics after the attack"
grep -q "^trades_feed_accepted_total{feed=\"tcp:127.0.0.1:0\"} $ACC\$" "$T/metrics2" ||
	fail "/metrics after the attack: accepted $ACC not shown"
echo "hostile ok: $ok/10 answered during it; ingest reached $((2 * N))"
stop_serve

# ---- source counters of an ,ack listener and a UDP one (stat --json "source")
start_serve acks --state-dir "$T/a" --tcp 127.0.0.1:0,ack,feed=acked --udp 127.0.0.1:0,feed=dgram
head -n 100 "$T/sent.jsonl" >"$T/acked.jsonl"
"$PY" - "$TCP_PORT" "$UDP_PORT" "$T/acked.jsonl" <<'PY' || fail "ack client"
import socket, sys, time
data = open(sys.argv[3], "rb").read()
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(data)
got, end = b"", time.time() + 10
while b"ack 100\n" not in got and time.time() < end:
    got += s.recv(4096)
assert b"ack 100\n" in got, got
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for line in data.splitlines()[:5]:
    u.sendto(line + b"\n", ("127.0.0.1", int(sys.argv[2])))
PY
wait_received "$T/a" 105 30
sleep 0.5 # the next publish (every 100 ms)
"$TRADES" stat --state-dir "$T/a" --json | "$PY" -c "
import json, sys
src = {f['feed']: f['source'] for f in json.load(sys.stdin)['feeds']}
a, d = src['acked'], src['dgram']
assert a['bytes'] == $(stat -c %s "$T/acked.jsonl") and a['acks_sent'] >= 1 and a['acks_dropped'] == 0, a
assert d['packets'] == 5 and d['kernel_drops'] == 0, d
" || fail "source counters: $("$TRADES" stat --state-dir "$T/a" --json)"
stop_serve
echo "source counters ok: ,ack bytes and acks, UDP packets"
echo "PASS http"
