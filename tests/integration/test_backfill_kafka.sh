#!/usr/bin/env bash
# test_backfill_kafka.sh -- the drop-in historical mode: LIVE_OR_HISTORICAL=historical with
# PRODUCT_IDS, LAST_N_DAYS and KAFKA_BROKER_ADDRESS backfills the last N days over REST (the
# local TLS server of test_kraken.sh) into the journal AND the topic of the mock cluster, waits
# until every trade is delivered and exits 0; read back with kcat: every trade once.  A second
# run adds nothing (exactly once); an unreachable broker is exit 1 after --kafka-wait-ms.
source "$(dirname "$0")/lib.sh"
TOOLS="$SRCDIR/tests/tools"
need_tool openssl openssl
if "$TRADES" serve --kraken BTC/USD --help 2>&1 | grep -q 'needs a build'; then
	fail "trades was built without the Kraken source (-Dkraken)"
fi
kafka_mock_start 2
REST_PID=
trap '[ -z "$REST_PID" ] || kill "$REST_PID" 2>/dev/null; kafka_mock_stop; cleanup' EXIT

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$T/key.pem" \
	-out "$T/cert.pem" -days 2 -subj /CN=localhost \
	-addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null || fail "openssl req"
"$PY" "$TOOLS/kraken_fixtures.py" "$T"
"$PY" "$TOOLS/kraken_rest_server.py" --cert "$T/cert.pem" --key "$T/key.pem" \
	--data "$T/recent.json" --page 2 --timeout 60 >"$T/rest.out" 2>"$T/rest.err" &
REST_PID=$!
for _ in $(seq 1 100); do grep -q '^port ' "$T/rest.out" && break; sleep 0.05; done
PORT=$(awk '$1=="port" {print $2; exit}' "$T/rest.out")
[ -n "$PORT" ] || fail "kraken_rest_server.py did not start: $(cat "$T/rest.err")"

hist() { # STATE_DIR BROKERS [options...]: the image's default command in historical mode
	local dir=$1 brokers=$2
	shift 2
	KAFKA_BROKER_ADDRESS=$brokers KAFKA_TOPIC=trades PRODUCT_IDS=XBT/USD \
		LIVE_OR_HISTORICAL=historical LAST_N_DAYS=1 "$TRADES" serve \
		--rest-url "https://localhost:$PORT" --tls-ca "$T/cert.pem" --rest-interval-ms 0 \
		--state-dir "$dir" "$@"
}
topic() { # the topic as "jseq<TAB>value" lines
	timeout 60 kcat -C -b "$BROKERS" -t trades -o beginning -e -q -f '%h\t%s\n' \
		2>"$T/kcat.err" || fail "kcat: $(cat "$T/kcat.err")"
}

hist "$T/h" "$BROKERS" 2>"$T/h1.err" || fail "historical mode: $(tail -n 3 "$T/h1.err")"
grep -Eq 'backfill: kafka: all [0-9]+ journal entries delivered to trades' "$T/h1.err" ||
	fail "no delivery line: $(tail -n 3 "$T/h1.err")"
"$TRADES" tail --state-dir "$T/h" >"$T/journal.jsonl" || fail "tail"
[ "$(wc -l <"$T/journal.jsonl")" -eq 5 ] || fail "journal: $(wc -l <"$T/journal.jsonl") trades, want 5"
topic >"$T/t1.tsv"
"$PY" - "$T/t1.tsv" "$T/journal.jsonl" <<'PY' || fail "topic != journal"
import json, sys
rows = [l.rstrip("\n").split("\t", 1) for l in open(sys.argv[1]) if l.strip()]
jseqs = [int(h.split("=", 1)[1]) for h, _ in rows]
assert len(jseqs) == 5 and len(set(jseqs)) == 5, jseqs  # every trade, once
journal = sorted(json.loads(l)["trade_id"] for l in open(sys.argv[2]))
topic = sorted(json.loads(v)["trade_id"] for _, v in rows)
assert topic == journal, (topic, journal)
PY

# Exactly once across runs: everything is a duplicate, nothing new is produced.
hist "$T/h" "$BROKERS" 2>"$T/h2.err" || fail "second run: $(tail -n 3 "$T/h2.err")"
topic >"$T/t2.tsv"
[ "$(wc -l <"$T/t2.tsv")" -eq 5 ] || fail "second run: topic has $(wc -l <"$T/t2.tsv") messages, want 5"

# Nothing listens: the trades stay journaled, exit 1 naming the bound.
rc=0
hist "$T/down" 127.0.0.1:1 --kafka-wait-ms 1500 2>"$T/h3.err" || rc=$?
[ "$rc" -eq 1 ] || fail "unreachable broker: exit $rc, want 1"
grep -Eq 'backfill: kafka: 0 of [0-9]+ journal entries delivered to 127.0.0.1:1 within 1500 ms' \
	"$T/h3.err" || fail "message: $(tail -n 3 "$T/h3.err")"
echo "PASS backfill-kafka: 5 trades, once, across two runs"
