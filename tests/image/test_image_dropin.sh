#!/usr/bin/env bash
# tests/image/test_image_dropin.sh BUILD_DIR -- the image as a drop-in for the Python service:
# its DEFAULT command (`trades serve`, no command given), host networking, a named volume on
# /app/state and only the Python service's environment (KAFKA_BROKER_ADDRESS, KAFKA_TOPIC or
# KAFKA_TOPIC_NAME, PRODUCT_IDS as a JSON list, LIVE_OR_HISTORICAL, LAST_N_DAYS), plus
# TRADES_KRAKEN_URL / TRADES_REST_URL / TRADES_TLS_CA pointing it at local servers and their CA:
#   live        the loopback TLS WebSocket server replays recorded Kraken v2 frames
#               (tests/tools/kraken_fixtures.py live.scenario: a drop mid-frame, a re-sent
#               snapshot, skipped ids, heartbeats, status, a subscription error) into the
#               topic of librdkafka's mock cluster (BUILD_DIR/trades-kafka-mock on 127.0.0.1);
#   historical  LAST_N_DAYS=1 over the loopback TLS REST server into the same topic; the
#               container exits 0 once everything is delivered.
# After each, kcat reads the topic as an independent consumer: every expected trade exactly
# once, per pair in the fixture's order, jseq rising per partition, key = pair, the output
# contract's fields with the fixture's exact decimals and timestamp_ms in milliseconds.
#
# Needs root and: podman [podman], runc [runc], CNI plugins [containernetworking-plugins],
# iptables [iptables], kcat [kcat], openssl [openssl], python3 [python3]; BUILD_DIR configured
# with -Dkafka (trades-kafka-mock).  Uses the image test's cache (TRADES_CI_CACHE, default
# /var/cache/trades-ci): right after the `image` test (meson runs it first: priority) the build
# here is all layer-cache hits; run alone it builds what changed (and the base image if absent).
# One run at a time per cache folder.  Timings here (2 cores, loaded, 2026-12-02): ~115 s right
# after the image test (build all cache hits ~26 s, live ~10 s, historical ~11 s, the rest podman
# start-up and kcat); run alone after a source change ~4 min (the image's compile step reruns).
# Prints one "PASS|FAIL name" line per check; exit 0 only if every check passed.
set -uo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${1:-${BUILD:-}}
CACHE=${TRADES_CI_CACHE:-/var/cache/trades-ci}
IMAGE=trades:dev
C=trades-dropin
VOL=trades-dropin-state
TOPIC=trades
TOOLS=$SRC/tests/tools
T0=$(date +%s)
log() { printf '[%4ss] %s\n' "$(($(date +%s) - T0))" "$*"; }
die() {
	log "FATAL: $*"
	exit 1
}

[ "$(id -u)" = 0 ] || die "run as root (podman storage)"
# shellcheck source=lib.sh
source "$SRC/tests/image/lib.sh"
need_podman
need_tool kcat kcat
need_tool openssl openssl
need_tool python3 python3
[ -n "$BUILD" ] || die "usage: $0 BUILD_DIR (a meson build dir with trades-kafka-mock)"
BUILD=$(cd "$BUILD" 2>/dev/null && pwd) || die "no build dir $1"
MOCK=$BUILD/trades-kafka-mock
[ -x "$MOCK" ] || die "$MOCK not built (meson -Dkafka=enabled needs librdkafka-dev; ninja -C $BUILD)"

mkdir -p "$CACHE"
# shellcheck source=../../deploy/podman/env.sh
source "$SRC/deploy/podman/env.sh" "$CACHE/podman"
WORK=$(mktemp -d "$TMPDIR/test-dropin.XXXXXX")
chmod 0755 "$WORK"
PIDS=() # the mock cluster and the Python servers, ended by pid
cleanup() {
	local p
	podman rm -f -t 5 "$C" >/dev/null 2>&1
	podman volume rm -f "$VOL" >/dev/null 2>&1
	exec 7>&- 2>/dev/null
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
podman rm -f -t 2 "$C" >/dev/null 2>&1 # left by an interrupted run
podman volume rm -f "$VOL" >/dev/null 2>&1

FAILED=()
pass() { printf 'PASS %s%s\n' "$1" "${2:+ ($2)}"; }
fail() {
	FAILED+=("$1")
	printf 'FAIL %s%s\n' "$1" "${2:+ ($2)}"
}

# ---------------------------------------------------------------- the image (layer cache)
ts=$(date +%s)
base_image_ensure || die "could not build the base image"
if image_build "$WORK/build.log"; then
	pass build "$(($(date +%s) - ts))s, $(grep -c -- '--> Using cache' "$WORK/build.log") cached steps"
else
	tail -30 "$WORK/build.log"
	die "image build failed"
fi
# The Kafka sink and the Kraken client are built in, and TLS has a system CA store.
libs=$(podman run --rm --no-healthcheck "$IMAGE" sh -c 'ldd /app/bin/trades' 2>&1)
missing=
for l in librdkafka libssl libcurl libwslay; do grep -q "$l" <<<"$libs" || missing+=" $l"; done
if [ -z "$missing" ]; then pass image-links-kafka-kraken; else fail image-links-kafka-kraken "no$missing"; fi
if podman run --rm --no-healthcheck "$IMAGE" test -s /etc/ssl/certs/ca-certificates.crt; then
	pass image-has-ca-store
else
	fail image-has-ca-store "no /etc/ssl/certs/ca-certificates.crt (ca-certificates)"
fi

# ---------------------------------------------------------------- the local servers
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$WORK/key.pem" \
	-out "$WORK/cert.pem" -days 2 -subj /CN=localhost \
	-addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>"$WORK/openssl.err" ||
	die "openssl req: $(cat "$WORK/openssl.err")"
chmod 0644 "$WORK/cert.pem" # read by the container's app user
python3 "$TOOLS/kraken_fixtures.py" "$WORK" || die "kraken_fixtures.py failed"
# The recorded live session, with the refused subscription naming the second product id.
sed 's#NOPE/USD#ETH/EUR#g' "$WORK/live.scenario" >"$WORK/dropin.scenario"
# REST data for LAST_N_DAYS=1: BTC/USD ids 20..25 of the fixture (20 three days old, so outside
# the window; 21..25 in the last two hours) and an ETH/EUR book of 4 trades with exact decimals.
python3 - "$WORK" <<'PY' || die "could not write the historical REST data"
import json, sys, time
d = sys.argv[1]
fx = json.load(open(d + "/rest.json"))
now = int(time.time())
btc = []
for row in fx["trades"]["XXBTZUSD"][19:25]:
    i = row[6]
    t = now - 3 * 86400 if i == 20 else now - 7200 + i
    btc.append(row[:2] + ["%d.%03d456" % (t, i)] + row[3:])
eth = [["2250.01", "0.00000001", "%d.000001" % (now - 3600), "b", "m", "", 1],
       ["2250.1", "12.5", "%d.999999" % (now - 3599), "s", "l", "", 2],
       ["0.00000001", "100000", "%d.5" % (now - 3598), "b", "l", "", 3],
       ["2251", "1", "%d" % (now - 3597), "s", "l", "", 4]]
pairs = dict(fx["pairs"], XETHZEUR={"altname": "ETHEUR", "wsname": "ETH/EUR"})
json.dump({"pairs": pairs, "trades": {"XXBTZUSD": btc, "XETHZEUR": eth}},
          open(d + "/hist.json", "w"))
PY

# start_bg NAME WORD CMD...: CMD in the background (stdin: start_bg's), its pid in PIDS; waits
# (5 s) for the line "WORD VALUE" on its stdout and sets VALUE.
start_bg() {
	local name=$1 word=$2
	shift 2
	# <&0: without it a background command of a non-interactive shell reads /dev/null.
	"$@" <&0 >"$WORK/$name.out" 2>"$WORK/$name.err" &
	PIDS+=($!)
	VALUE=
	for _ in $(seq 1 100); do
		VALUE=$(awk -v w="$word" '$1 == w {print $2; exit}' "$WORK/$name.out")
		[ -n "$VALUE" ] && return 0
		sleep 0.05
	done
	die "$name did not start: $(cat "$WORK/$name.err")"
}

# The mock cluster reads commands on stdin: a fifo held open (read-write, so neither open
# blocks) keeps it up until cleanup closes fd 7 (EOF: it exits).
mkfifo "$WORK/mock.in"
exec 7<>"$WORK/mock.in"
start_bg mock bootstrap "$MOCK" --topic "$TOPIC" --partitions 3 <"$WORK/mock.in"
BROKERS=$VALUE
log "mock cluster: $BROKERS (topic $TOPIC, 3 partitions: the two pairs hash apart)"
start_bg ws port python3 "$TOOLS/kraken_ws_server.py" --cert "$WORK/cert.pem" --key "$WORK/key.pem" \
	--scenario "$WORK/dropin.scenario" --timeout 60
WS_PORT=$VALUE

# topic FILE: the whole topic as "partition<TAB>key<TAB>headers<TAB>value" lines.
topic() {
	timeout 60 kcat -C -b "$BROKERS" -t "$TOPIC" -o beginning -e -q -f '%p\t%k\t%h\t%s\n' \
		>"$1" 2>"$WORK/kcat.err"
}
topic_has() {
	topic "$WORK/poll.tsv" && [ "$(wc -l <"$WORK/poll.tsv")" -ge "$1" ]
}
# check_topic NAME EXPECT: the topic holds exactly the trades of EXPECT ({pair: [rows]}, REST
# row layout), each once, per pair in EXPECT's order and on one partition, jseq rising per
# partition.
check_topic() {
	if ! topic "$WORK/$1.tsv"; then
		fail "$1-topic" "kcat: $(cat "$WORK/kcat.err")"
		return
	fi
	if python3 - "$WORK/$1.tsv" "$2" >"$WORK/$1.check" 2>&1 <<'PY'; then
import json, re, sys
from datetime import datetime, timezone
from decimal import Decimal
rows = [l.rstrip("\n").split("\t", 3) for l in open(sys.argv[1], encoding="utf-8") if l.strip()]
expect = json.load(open(sys.argv[2]))
bad = []
seen, last_jseq, got, parts = set(), {}, {}, {}
for part, key, hdr, value in rows:
    m = re.fullmatch(r"jseq=(\d+)", hdr)
    if not m:
        bad.append("headers %r: no jseq" % hdr); continue
    j = int(m.group(1))
    if j in seen:
        bad.append("jseq %d twice" % j)
    if last_jseq.get(part, 0) >= j:
        bad.append("partition %s: jseq %d after %d" % (part, j, last_jseq[part]))
    seen.add(j); last_jseq[part] = j
    t = json.loads(value, parse_float=Decimal, parse_int=Decimal)
    if list(t)[:5] != ["pair", "price", "volume", "timestamp", "timestamp_ms"]:
        bad.append("fields %r" % list(t)); continue
    for k in ("price", "volume"):  # plain decimals in the text, never an exponent
        if not re.search(r'"%s":\d+(\.\d+)?[,}]' % k, value):
            bad.append("%s not a plain decimal in %s" % (k, value))
    if key != t["pair"]:
        bad.append("key %r, pair %r" % (key, t["pair"]))
    got.setdefault(t["pair"], []).append(t)
    parts.setdefault(t["pair"], set()).add(part)
for pair, want in expect.items():
    have = got.pop(pair, [])
    ids = [int(t["trade_id"]) for t in have]
    if ids != [r[6] for r in want]:
        bad.append("%s: trade ids %s, want %s" % (pair, ids, [r[6] for r in want]))
        continue
    for t, r in zip(have, want):
        ts = Decimal(r[2])
        ms = int(ts * 1000)
        exch = datetime.strptime(t["timestamp"][:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
        frac = Decimal("0" + t["timestamp"][19:-1]) if len(t["timestamp"]) > 20 else Decimal(0)
        if (t["price"], t["volume"]) != (Decimal(r[0]), Decimal(r[1])):
            bad.append("%s %s: price/volume %s/%s, want %s/%s" % (pair, r[6], t["price"], t["volume"], r[0], r[1]))
        if t["timestamp_ms"] != ms or not 10**12 <= ms < 10**13:
            bad.append("%s %s: timestamp_ms %s, want %d" % (pair, r[6], t["timestamp_ms"], ms))
        if not t["timestamp"].endswith("Z") or Decimal(int(exch.timestamp())) + frac != ts:
            bad.append("%s %s: timestamp %s, want %s s" % (pair, r[6], t["timestamp"], r[2]))
        if t["side"] != {"b": "buy", "s": "sell"}[r[3]]:
            bad.append("%s %s: side %s" % (pair, r[6], t["side"]))
for pair, ps in parts.items():
    if len(ps) != 1:
        bad.append("%s on partitions %s: a pair stays on one" % (pair, sorted(ps)))
for pair in got:
    bad.append("unexpected pair %s (%d messages)" % (pair, len(got[pair])))
for b in bad[:10]:
    print(b)
n = sum(len(v) for v in expect.values())
print("%d messages, %d expected, %d partitions" % (len(rows), n, len(last_jseq)))
sys.exit(1 if bad or len(rows) != n else 0)
PY
		pass "$1-topic" "$(tail -n 1 "$WORK/$1.check")"
	else
		fail "$1-topic" "$(tr '\n' ';' <"$WORK/$1.check")"
	fi
}
# expect FILE PAIR:DATAFILE:KEY:IDS...: writes {PAIR: rows of DATAFILE's KEY with those ids}.
expect() {
	python3 - "$@" <<'PY'
import json, sys
out = {}
for spec in sys.argv[2:]:
    pair, data, key, ids = spec.split(":")
    rows = {r[6]: r for r in json.load(open(data))["trades"][key]}
    out[pair] = [rows[int(i)] for i in ids.split(",")]
json.dump(out, open(sys.argv[1], "w"))
PY
}
stat_check() { # the state on the volume, read by a second container (readers need no lock)
	podman run --rm --no-healthcheck -v "$VOL:/app/state" "$IMAGE" trades stat --json \
		>"$WORK/stat.json" 2>"$WORK/stat.err" || return 1
	python3 - "$WORK/stat.json" "$@" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
feeds = {f["feed"]: f for f in d["feeds"]}
bad = []
for spec in sys.argv[2:]:
    feed, key, want = spec.split("=")[0].rsplit(".", 1) + [spec.split("=")[1]]
    v = feeds.get(feed, {})
    v = v.get(key, v.get("decoder", {}).get(key))
    if str(v) != want:
        bad.append("%s.%s = %s, want %s" % (feed, key, v, want))
print("; ".join(bad))
sys.exit(1 if bad else 0)
PY
}

# ================================================================= live
# Only the Python service's environment, and where the test's servers are: no command, no flag.
CA_IN=/run/trades-test-ca.pem
log "live: $IMAGE default CMD, PRODUCT_IDS=[\"BTC/USD\",\"ETH/EUR\"], ws 127.0.0.1:$WS_PORT"
ts=$(date +%s)
if podman run -d --name "$C" --network host --health-interval=disable -v "$VOL:/app/state" \
	-v "$WORK/cert.pem:$CA_IN:ro" \
	-e KAFKA_BROKER_ADDRESS="$BROKERS" -e KAFKA_TOPIC="$TOPIC" \
	-e PRODUCT_IDS='["BTC/USD","ETH/EUR"]' -e LIVE_OR_HISTORICAL=live \
	-e TRADES_KRAKEN_URL="wss://127.0.0.1:$WS_PORT/v2" -e TRADES_TLS_CA="$CA_IN" \
	"$IMAGE" >/dev/null 2>"$WORK/run.err"; then
	pass live-run
else
	die "podman run: $(cat "$WORK/run.err")"
fi
# The fixture's live session stores ids 1..13, 17, 18, 19 (14..16 were skipped: a gap, no
# backfill asked for); 6..10 come twice (the re-sent snapshot) and are dropped.
expect "$WORK/live.expect" "BTC/USD:$WORK/rest.json:XXBTZUSD:1,2,3,4,5,6,7,8,9,10,11,12,13,17,18,19"
deadline=$((SECONDS + 60))
until topic_has 16; do
	if [ "$SECONDS" -ge "$deadline" ] || [ "$(podman inspect --format '{{.State.Running}}' "$C" 2>/dev/null)" != true ]; then
		break
	fi
	sleep 0.5
done
log "live: $(wc -l <"$WORK/poll.tsv" 2>/dev/null || echo 0) messages in the topic after $(($(date +%s) - ts))s"
podman logs "$C" >"$WORK/live.log" 2>&1
grep -q "^kraken wss://127.0.0.1:$WS_PORT/v2 pairs=2 feed=kraken$" "$WORK/live.log" &&
	pass live-env-selected-kraken "TRADES_KRAKEN_URL, PRODUCT_IDS" ||
	fail live-env-selected-kraken "$(head -c 600 "$WORK/live.log")"
grep -q 'subscription ETH/EUR refused' "$WORK/live.log" && pass live-subscription-error-logged ||
	fail live-subscription-error-logged
podman stop -t 30 "$C" >/dev/null 2>&1
rc=$(podman inspect --format '{{.State.ExitCode}}' "$C")
[ "$rc" = 0 ] && pass live-stop-exit-0 || { fail live-stop-exit-0 "exit $rc"; tail -n 20 "$WORK/live.log"; }
podman logs "$C" >"$WORK/live.log" 2>&1
podman rm -f "$C" >/dev/null 2>&1
for _ in $(seq 1 100); do # the WebSocket server prints its summary once the close arrived
	grep -q '^summary' "$WORK/ws.out" && break
	sleep 0.05
done
summary=$(grep '^summary' "$WORK/ws.out")
ok=1
for kv in sessions=2 subscribes=2 pong_ok=1 app_pings=1 drops=1 close_received=1 path=/v2 \
	symbols=BTC/USD,ETH/EUR; do
	[[ " $summary " == *" $kv "* ]] || ok=
done
[ -n "$ok" ] && pass live-ws-session "$summary" || fail live-ws-session "${summary:-$(cat "$WORK/ws.err")}"
check_topic live "$WORK/live.expect"
if out=$(stat_check kraken:BTC/USD.received=21 kraken:BTC/USD.accepted=16 \
	kraken:BTC/USD.duplicates=5 kraken:BTC/USD.gaps=1 kraken:BTC/USD.gap_missing=3 \
	kraken.subscribe_errors=2 kraken.reconnects=1); then
	pass live-state-on-volume "16 accepted, 5 duplicates, 1 gap of 3"
else
	fail live-state-on-volume "$out $(cat "$WORK/stat.err")"
fi

# ================================================================= historical
# The same volume and topic (named by KAFKA_TOPIC_NAME this time): the backfill adds the last
# day's trades, the sink resumes after what the live run delivered, and the container exits 0.
start_bg rest port python3 "$TOOLS/kraken_rest_server.py" --cert "$WORK/cert.pem" \
	--key "$WORK/key.pem" --data "$WORK/hist.json" --page 2 --log "$WORK/rest.log" --timeout 120
REST_PORT=$VALUE
log "historical: LAST_N_DAYS=1, rest 127.0.0.1:$REST_PORT"
ts=$(date +%s)
rc=0
timeout --foreground 180 podman run --name "$C" --network host --health-interval=disable \
	-v "$VOL:/app/state" -v "$WORK/cert.pem:$CA_IN:ro" \
	-e KAFKA_BROKER_ADDRESS="$BROKERS" -e KAFKA_TOPIC_NAME="$TOPIC" \
	-e PRODUCT_IDS='["BTC/USD","ETH/EUR"]' -e LIVE_OR_HISTORICAL=historical -e LAST_N_DAYS=1 \
	-e TRADES_REST_URL="https://127.0.0.1:$REST_PORT" -e TRADES_TLS_CA="$CA_IN" \
	"$IMAGE" >"$WORK/hist.log" 2>&1 || rc=$?
[ "$rc" = 0 ] && pass historical-exit-0 "$(($(date +%s) - ts))s" ||
	{ fail historical-exit-0 "exit $rc"; tail -n 20 "$WORK/hist.log"; }
podman rm -f "$C" >/dev/null 2>&1
grep -Eq 'backfill: kafka: all [0-9]+ journal entries delivered to trades' "$WORK/hist.log" &&
	pass historical-delivered || fail historical-delivered "$(tail -n 3 "$WORK/hist.log")"
grep -q "^/0/public/Trades pair=ETHEUR" "$WORK/rest.log" && grep -q "^/0/public/Trades pair=XBTUSD" "$WORK/rest.log" &&
	pass historical-rest-env "TRADES_REST_URL: $(grep -c . "$WORK/rest.log") requests" ||
	fail historical-rest-env "$(cat "$WORK/rest.log")"
expect "$WORK/hist.expect" "BTC/USD:$WORK/rest.json:XXBTZUSD:1,2,3,4,5,6,7,8,9,10,11,12,13,17,18,19" \
	"ETH/EUR:$WORK/hist.json:XETHZEUR:1,2,3,4"
# BTC/USD of the last day: 21..25 from hist.json (20 is three days old), after the live ones.
python3 - "$WORK/hist.expect" "$WORK/hist.json" <<'PY'
import json, sys
e = json.load(open(sys.argv[1]))
e["BTC/USD"] += [r for r in json.load(open(sys.argv[2]))["trades"]["XXBTZUSD"] if r[6] >= 21]
json.dump(e, open(sys.argv[1], "w"))
PY
check_topic historical "$WORK/hist.expect"
if out=$(stat_check kraken:BTC/USD.accepted=21 kraken:ETH/EUR.accepted=4 kraken:ETH/EUR.duplicates=0); then
	pass historical-state-on-volume "BTC/USD 21, ETH/EUR 4 accepted"
else
	fail historical-state-on-volume "$out $(cat "$WORK/stat.err")"
fi

echo
log "${#FAILED[@]} failed"
if [ ${#FAILED[@]} -ne 0 ]; then
	printf 'FAILED: %s\n' "${FAILED[*]}"
	exit 1
fi
echo "ALL DROP-IN CHECKS PASSED"
exit 0
