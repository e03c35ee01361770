#!/usr/bin/env bash
# test_kafka.sh SCENARIO -- the Kafka sink against librdkafka's mock cluster
# run as a separate process (trades-kafka-mock), read back by kcat as an
# independent consumer.  Every scenario ends with the same check: the topic
# holds every journal trade exactly once, in journal order per partition,
# each value byte-equal to `trades tail`'s contract line (without its '\n'),
# key = pair, header jseq = the trade's journal entry.
#   basic    env drop-in (KAFKA_BROKER_ADDRESS, KAFKA_TOPIC_NAME), restart
#            with nothing new (no re-send), then another topic with
#            --kafka-keys product_id,quantity (the whole journal again)
#   down     the broker goes down mid-stream: lag rises in `stat`, the
#            journal keeps everything, the sink catches up when it returns
#   errors   injected Produce errors, retriable and not
#   kill9    kill -9 of serve mid-stream, restart: no duplicates, no holes
#   candles  --kafka-candles-topic: every closed candle once in the topic
#            "candles", equal to candles_check.py's own computation from the
#            trades, across a kill -9 + restart, a restart with nothing new
#            and a rebuild of the state from the journal (neither re-sends)
#   usage    option errors exit 2 and name the input
source "$(dirname "$0")/lib.sh"
SCENARIO=${1:?usage: test_kafka.sh basic|down|errors|kill9|candles|usage}
: "${TRADES_KAFKA_MOCK:?TRADES_KAFKA_MOCK must point at trades-kafka-mock}"
command -v kcat >/dev/null || fail "kcat not found: install the Debian package kcat"
N=${KAFKA_COUNT:-30000} # the mock keeps ~5 MiB per partition: stay well below
PARTS=4

MOCK_PID=
kafka_cleanup() {
	{ exec 7>&-; } 2>/dev/null || true # braces: a bare exec 2>/dev/null would silence the whole script
	if [ -n "$MOCK_PID" ] && kill -0 "$MOCK_PID" 2>/dev/null; then
		kill -KILL "$MOCK_PID" 2>/dev/null || true
	fi
	cleanup
}
trap kafka_cleanup EXIT

start_mock() { kafka_mock_start "$PARTS"; } # lib.sh

# mock_cmd CMD...: one command, its answer must be "ok".
mock_cmd() {
	local before i
	before=$(wc -l <"$T/mock.out")
	echo "$*" >&7
	for i in $(seq 1 50); do
		[ "$(wc -l <"$T/mock.out")" -gt "$before" ] && break
		sleep 0.1
	done
	[ "$(tail -n 1 "$T/mock.out")" = ok ] || fail "mock '$*': $(tail -n 1 "$T/mock.out")"
}

# kjson DIR EXPR: a Python expression over stat --json's object d (k = d["kafka"]).
kjson() {
	"$TRADES" stat --state-dir "$1" --json | "$PY" -c \
		"import json,sys; d=json.load(sys.stdin); k=d.get('kafka',{}); print($2)"
}

# cursor KEY: a value of the sink's cursor file (cheap: no Python).
cursor() { awk -v k="$1" '$1==k {print $2}' "$T/state/sinks/kafka.cursor" 2>/dev/null || echo 0; }

# wait_delivered N: until the sink delivered journal entry N (30 s at most).
wait_delivered() {
	for _ in $(seq 1 300); do
		[ "$(cursor delivered)" -ge "$1" ] 2>/dev/null && return 0
		sleep 0.1
	done
	fail "the sink did not deliver entry $1 in 30 s: $(cat "$T/state/sinks/kafka.cursor")"
}

# wait_synced DIR SECS: until the running serve's sink delivered everything the journal
# holds.  The figures must be that serve's (pid): after a restart the state still shows the
# last run's sink, caught up, until the new one publishes (a race seen once under ASan).
wait_synced() {
	local i s=
	for i in $(seq 1 $(($2 * 5))); do
		s=$(kjson "$1" "k.get('pid')==${SERVE_PID:-0} and k.get('lag',-1)==0 and k.get('delivered_jseq')==d['applied_jseq']")
		[ "$s" = True ] && return 0
		sleep 0.2
	done
	fail "kafka sink not caught up after $2 s: $(kjson "$1" k)"
}

# check_topic TOPIC DIR [PAIR_KEY VOLUME_KEY]: the end-to-end property.
check_topic() {
	local topic=$1 dir=$2
	"$TRADES" tail --state-dir "$dir" >"$T/tail.jsonl" || fail "trades tail"
	timeout 60 kcat -C -b "$BROKERS" -t "$topic" -o beginning -e -q \
		-f '%p\t%o\t%k\t%h\t%s\n' >"$T/topic.tsv" 2>"$T/kcat.err" ||
		fail "kcat: $(cat "$T/kcat.err")"
	"$PY" - "$T/topic.tsv" "$T/tail.jsonl" "${3:-pair}" "${4:-volume}" <<'EOF' || fail "topic $topic != journal"
import datetime, json, sys
rows = [l.rstrip("\n").split("\t", 4) for l in open(sys.argv[1], encoding="utf-8")]
tail = [l.rstrip("\n") for l in open(sys.argv[2], encoding="utf-8")]
pk, vk = sys.argv[3], sys.argv[4]
def die(msg):
    print("check:", msg, file=sys.stderr); sys.exit(1)
msgs, part_of = [], {}
last = {}
for p, off, key, hdr, val in rows:
    if not hdr.startswith("jseq=") or not hdr[5:].isdigit():
        die(f"partition {p} offset {off}: header {hdr!r}")
    j = int(hdr[5:])
    if last.get(p, (0, -1))[0] >= j or last.get(p, (0, -1))[1] >= int(off):
        die(f"partition {p}: jseq {j} at offset {off} after {last[p]}: not journal order")
    last[p] = (j, int(off))
    if part_of.setdefault(key, p) != p:
        die(f"pair {key} on partitions {part_of[key]} and {p}")
    msgs.append((j, key, val))
msgs.sort()
dups = [a[0] for a, b in zip(msgs, msgs[1:]) if a[0] == b[0]]
if dups:
    die(f"{len(dups)} duplicated jseq, first {dups[:5]}")
if len(msgs) != len(tail):
    die(f"topic holds {len(msgs)} trades, journal {len(tail)}")
for (j, key, val), line in zip(msgs, tail):
    want = line
    if pk != "pair":
        want = want.replace('{"pair":', '{"%s":' % pk, 1)
    if vk != "volume":
        want = want.replace(',"volume":', ',"%s":' % vk, 1)
    if val != want:
        die(f"jseq {j}: value\n  {val}\nwant\n  {want}")
    d = json.loads(val)
    if d[pk] != key:
        die(f"jseq {j}: key {key!r} != pair {d[pk]!r}")
    base, _, frac = d["timestamp"].rstrip("Z").partition(".")
    utc = datetime.timezone.utc
    ns = int(datetime.datetime.fromisoformat(base).replace(tzinfo=utc).timestamp()) * 10**9
    ns += int((frac + "000000000")[:9])
    if d["timestamp_ms"] != ns // 10**6:
        die(f"jseq {j}: timestamp_ms {d['timestamp_ms']} is not {d['timestamp']} in ms")
print(f"topic: {len(msgs)} trades, each once, journal order on {len(last)} partitions")
EOF
}

serve_kafka() { # serve_kafka NAME ARGS...: serve on ephemeral TCP with the sink
	local name=$1
	shift
	start_serve "$name" --tcp 127.0.0.1:0,feed=exch --udp 127.0.0.1:0 --state-dir "$T/state" "$@"
}

gen() { # gen ARGS...: the deterministic stream, in the background (GEN_PID)
	"$TRADES_GEN" --instruments 24 --seed 7 --tcp "127.0.0.1:$TCP_PORT" "$@" \
		>/dev/null 2>"$T/gen.err" &
	GEN_PID=$!
}

case $SCENARIO in
usage)
	expect() {
		local rc=0
		# Bounded, on a port of its own, should a refusal ever be missing.
		timeout 20 "$TRADES" serve --tcp 127.0.0.1:0 --udp 127.0.0.1:0 --state-dir "$T/x" \
			"$@" >"$T/out" 2>&1 || rc=$?
		[ "$rc" -eq 2 ] || fail "serve $* exited $rc, want 2: $(cat "$T/out")"
		grep -q -- "$PAT" "$T/out" || fail "serve $*: no '$PAT' in: $(cat "$T/out")"
	}
	PAT="--kafka-keys 'product_id'" expect --kafka 127.0.0.1:1 --kafka-keys product_id
	PAT="--kafka-keys 'a b,c'" expect --kafka 127.0.0.1:1 --kafka-keys 'a b,c'
	PAT="--kafka-opt 'linger'" expect --kafka 127.0.0.1:1 --kafka-opt linger
	PAT="enable.idempotence" expect --kafka 127.0.0.1:1 --kafka-opt enable.idempotence=false
	PAT="partitioner=random" expect --kafka 127.0.0.1:1 --kafka-opt partitioner=random
	PAT="trades-kafka-mock" expect --kafka 127.0.0.1:1 --kafka-opt test.mock.num.brokers=3
	PAT="no.such.property" expect --kafka 127.0.0.1:1 --kafka-opt no.such.property=1
	PAT="topic 'bad topic'" expect --kafka 127.0.0.1:1 --kafka-topic 'bad topic'
	grep -q -- '--kafka BROKERS' <<<"$("$TRADES" serve --help)" || fail "serve --help lacks --kafka"
	echo "PASS kafka usage"
	exit 0
	;;
esac

start_mock
case $SCENARIO in
basic)
	# Drop-in: the Python service's environment variables configure the sink.
	KAFKA_BROKER_ADDRESS=$BROKERS KAFKA_TOPIC_NAME=trades serve_kafka serve
	gen --count "$N"
	wait "$GEN_PID" || fail "gen: $(cat "$T/gen.err")"
	wait_received "$T/state" "$N" 60
	wait_synced "$T/state" 60
	"$TRADES" stat --state-dir "$T/state" | grep -q '^kafka sink: topic trades, streaming' ||
		fail "stat table lacks the kafka block"
	stop_serve
	check_topic trades "$T/state"
	# A restart with nothing new sends nothing (the tails say it is all there).
	KAFKA_BROKER_ADDRESS=$BROKERS KAFKA_TOPIC=trades serve_kafka serve2
	wait_synced "$T/state" 30
	[ "$(kjson "$T/state" "k['sent']")" = 0 ] || fail "restart re-sent: $(kjson "$T/state" k)"
	stop_serve
	check_topic trades "$T/state"
	# Another topic, the other record variant: the whole journal again.
	mock_cmd topic trades2 3
	serve_kafka serve3 --kafka "$BROKERS" --kafka-topic trades2 --kafka-keys product_id,quantity
	wait_synced "$T/state" 60
	[ "$(kjson "$T/state" "k['sent']")" = "$N" ] || fail "trades2: $(kjson "$T/state" k)"
	stop_serve
	check_topic trades2 "$T/state" product_id quantity
	;;
down)
	serve_kafka serve --kafka "$BROKERS"
	gen --count "$N" --rate $((N / 10))
	wait_delivered $((N / 10))
	mock_cmd down
	sleep 2
	LAG1=$(kjson "$T/state" "k['lag']")
	sleep 1
	LAG2=$(kjson "$T/state" "k['lag']")
	echo "broker down: lag $LAG1 then $LAG2 ($(kjson "$T/state" k))"
	[ "$LAG2" -gt "$LAG1" ] && [ "$LAG1" -gt 0 ] || fail "lag did not rise while the broker was down"
	mock_cmd up
	wait "$GEN_PID" || fail "gen: $(cat "$T/gen.err")"
	wait_received "$T/state" "$N" 60
	wait_synced "$T/state" 90
	stop_serve
	check_topic trades "$T/state"
	;;
errors)
	serve_kafka serve --kafka "$BROKERS"
	gen --count "$N" --rate $((N / 6))
	wait_delivered $((N / 10))
	mock_cmd errors 30 NOT_LEADER_FOR_PARTITION # retriable: librdkafka retries in order
	sleep 1
	mock_cmd errors 3 TOPIC_AUTHORIZATION_FAILED # permanent: the sink resumes from the tails
	wait "$GEN_PID" || fail "gen: $(cat "$T/gen.err")"
	wait_received "$T/state" "$N" 60
	wait_synced "$T/state" 90
	echo "after injected errors: $(kjson "$T/state" k)"
	[ "$(kjson "$T/state" "k['errors'] > 0 and k['resumes'] > 1")" = True ] ||
		fail "the permanent errors did not make the sink resume: $(kjson "$T/state" k)"
	stop_serve
	check_topic trades "$T/state"
	;;
kill9)
	serve_kafka serve --kafka "$BROKERS"
	gen --count "$N" --rate $((N / 10))
	wait_delivered $((N / 4))
	kill -KILL "$SERVE_PID"
	wait "$SERVE_PID" 2>/dev/null || true
	SERVE_PID=
	wait "$GEN_PID" 2>/dev/null || true # its peer died
	STORED=$("$TRADES" tail --state-dir "$T/state" | wc -l)
	[ "$STORED" -lt "$N" ] || fail "kill landed after the end of the stream"
	echo "killed with $STORED trades journaled; topic had $(timeout 30 kcat -C -b "$BROKERS" -t trades -e -q -f 'x\n' | wc -l)"
	serve_kafka serve2 --kafka "$BROKERS"
	wait_synced "$T/state" 60
	echo "after restart: $(kjson "$T/state" k)"
	# The rest of the stream on top (an exchange re-sends; duplicates dropped).
	gen --count "$N"
	wait "$GEN_PID" || fail "gen: $(cat "$T/gen.err")"
	wait_received "$T/state" "$((N + STORED))" 60
	wait_synced "$T/state" 60
	stop_serve
	check_topic trades "$T/state"
	;;
candles)
	mock_cmd topic candles 3
	CHECK="$HERE/candles_check.py"
	C_OPTS=(--kafka "$BROKERS" --kafka-candles-topic candles --candles 1s,1m --candle-grace 2s)
	"$TRADES_GEN" --count 6000 --instruments 4 --seed 14 --out "$T/gen.jsonl" 2>/dev/null ||
		fail "trades-gen"
	"$PY" "$CHECK" make "$T/gen.jsonl" "$T/trades.jsonl" 10 || fail "candles_check make"
	head -n 3000 "$T/trades.jsonl" >"$T/first.jsonl"
	tail -n +3001 "$T/trades.jsonl" >"$T/second.jsonl"
	ccount() { timeout 30 kcat -C -b "$BROKERS" -t candles -o beginning -e -q -f 'x\n' | wc -l; }
	serve_kafka serve "${C_OPTS[@]}"
	cat "$T/first.jsonl" >"/dev/tcp/127.0.0.1/$TCP_PORT"
	wait_received "$T/state" 3000 60
	for _ in $(seq 1 100); do [ "$(ccount)" -gt 20 ] && break; sleep 0.2; done
	kill -0 "$SERVE_PID" 2>/dev/null || fail "serve exited before the kill -9"
	kill -KILL "$SERVE_PID"
	wait "$SERVE_PID" 2>/dev/null || true
	SERVE_PID=
	echo "killed with $(ccount) candles in the topic"
	serve_kafka serve2 "${C_OPTS[@]}"
	cat "$T/second.jsonl" >"/dev/tcp/127.0.0.1/$TCP_PORT"
	wait_received "$T/state" 6000 60
	# every candle the stream closed, as the check computes it
	WANT=$("$PY" -c "
import sys; sys.path.insert(0, '$HERE'); import candles_check as c
n = 0
for (p, iv), r in c.expect('$T/trades.jsonl', 2 * 10**9, [10**9, 60 * 10**9]).items():
    n += sum(1 for x in r.get('all', []) if r['wm'] >= x['start'] + iv + 2 * 10**9)
print(n)")
	for _ in $(seq 1 150); do [ "$(ccount)" -ge "$WANT" ] && break; sleep 0.2; done
	sleep 0.5 # one more publish of the sinks' counters into the state (every 100 ms)
	SINKS=$(kjson "$T/state" "{s['name']: s for s in d['sinks']}")
	"$PY" -c "
s = $SINKS
c, k = s['kafka-candles'], s['kafka']
assert c['sent'] > 0 and c['acked'] == c['sent'] and c['lag'] == 0 and c['errors'] == 0, c
assert k['sent'] > 0 and k['acked'] == k['sent'], k
" || fail "stat --json sinks: $SINKS"
	# plain `trades stat`: a line per sink with the same counters (read after the JSON:
	# the counters only grow, so each is at least the JSON's)
	"$TRADES" stat --state-dir "$T/state" >"$T/stat.txt" || fail "trades stat"
	"$PY" - "$T/stat.txt" <<PY || fail "stat table sinks: $(grep '^sink ' "$T/stat.txt")"
import re, sys
s, txt = $SINKS, open(sys.argv[1]).read()
for name in ("kafka", "kafka-candles"):
    m = re.search(r"^sink %s: sent=(\d+) acked=(\d+) errors=(\d+) lag=(\d+)$" % name, txt, re.M)
    assert m, name
    sent, acked, errors, lag = map(int, m.groups())
    assert sent >= s[name]["sent"] and acked >= s[name]["acked"] and errors == 0, (name, m.groups())
PY
	stop_serve
	timeout 30 kcat -C -b "$BROKERS" -t candles -o beginning -e -q -f '%k\t%h\t%s\n' \
		>"$T/candles.tsv" || fail "kcat candles"
	cut -f 3 "$T/candles.tsv" >"$T/candles.jsonl"
	"$PY" "$CHECK" sink "$T/trades.jsonl" "$T/candles.jsonl" 2 1 60 ||
		fail "candles topic differs from the computation"
	"$PY" - "$T/candles.tsv" <<'EOF' || fail "candle keys/headers"
import json, sys
for line in open(sys.argv[1]):
    key, hdr, val = line.rstrip("\n").split("\t", 2)
    d = json.loads(val)
    iv, start = hdr.removeprefix("candle=").split(":")
    if key != d["pair"] or int(start) // 10**6 != d["window_start_ms"] or \
            int(iv) // 10**9 != d["candle_seconds"] or not isinstance(d["open"], str):
        sys.exit(f"bad candle message: {line}")
EOF
	# a restart with nothing new, then a rebuild from the journal: nothing re-sent
	serve_kafka serve3 "${C_OPTS[@]}"
	sleep 1
	stop_serve
	rm "$T/state/trades.state"
	serve_kafka serve4 "${C_OPTS[@]}"
	sleep 1
	stop_serve
	[ "$(grep -c 'kafka candles: stopped: 0 sent' "$T/serve.err")" -eq 2 ] ||
		fail "a restart re-sent candles: $(grep 'kafka candles: stopped' "$T/serve.err")"
	[ "$(ccount)" -eq "$WANT" ] || fail "topic holds $(ccount) candles, want $WANT"
	;;
*) fail "unknown scenario $SCENARIO" ;;
esac
echo "PASS kafka $SCENARIO"
