#!/usr/bin/env bash
# test_bench_run.sh -- bench/run --quick --json is complete: every scenario ran
# (or says why it could not, and only when its feature is not built), every
# comparison has its ratio row, every row has its fields, and every scenario
# has its picture.  It checks completeness, not speed.
set -euo pipefail
: "${TRADES:?TRADES must point at the trades binary}"
BUILD=$(dirname "$TRADES")
SRC=${SRCDIR:?SRCDIR must point at the source tree}
for t in python3:python3 gnuplot:gnuplot-nox redis-server:redis-server redis-cli:redis-tools \
	nats-server:nats-server; do
	command -v "${t%%:*}" >/dev/null ||
		{ echo "FAIL: ${t%%:*} not found (Debian package ${t#*:})" >&2; exit 1; }
done
T=$(mktemp -d /tmp/trades-bench-test.XXXXXX)
trap 'rm -rf "$T"' EXIT
"$SRC/bench/run" --quick --build "$BUILD" --json "$T/bench.json" >"$T/table.txt" 2>"$T/err.txt" ||
	{ tail -n 30 "$T/err.txt" "$T/table.txt"; echo "FAIL: bench/run exited non-zero" >&2; exit 1; }
cat "$T/table.txt"
python3 - "$T/bench.json" "$("$TRADES" version)" "$TRADES" <<'PY'
import json, os, re, sys
d = json.load(open(sys.argv[1]))
version = sys.argv[2].lower()
meta, rows = d["meta"], d["rows"]
bad = []
for k in ("cpu", "cores", "kernel", "commit", "date"):
    if not meta.get(k):
        bad.append(f"meta.{k} missing")
# Scenarios that need a compiled-in feature may skip only when it is not built.
# (latency: trades-trace is built with -Dbpf; dpdk: `trades version` says dpdk=yes).
build = os.path.dirname(sys.argv[3])
built = {"latency": os.access(os.path.join(build, "bpf", "trades-trace"), os.X_OK),
         "dpdk": re.search(r"\bdpdk[=:] ?(yes|enabled)\b", version) is not None}
for s, st in meta["scenarios"].items():
    if st == "ok":
        continue
    if not (st.startswith("skipped") and s in built and not built[s]):
        bad.append(f"scenario {s}: {st}")
want = ["replay-jsonl", "replay-itch", "tcp", "udp-mold", "peers", "kafka", "scale", "latency",
        "dpdk", "http"]
for s in want:
    if s not in meta["scenarios"]:
        bad.append(f"scenario {s} not run")
ratios = {
    "replay-jsonl": ["trades vs decode-only", "trades vs memcpy"],
    "replay-itch": ["trades vs decode-only", "trades vs memcpy"],
    "tcp": ["trades vs read()-only", "trades-ack vs read()-only"],
    "udp-mold": ["trades-uring vs recvmmsg", "trades-epoll vs recvmmsg", "trades-uring vs trades-epoll"],
    "peers": ["trades vs redis-streams", "trades vs nats-jetstream",
              "read()-only vs redis-streams", "read()-only vs nats-jetstream"],
    "kafka": ["trades+kafka-mock (smoke) vs trades (journal only)"],
    "scale": ["trades 100000 instruments vs trades 10 instruments"],
    "dpdk": ["trades vs free-only"],
    "http": ["trades+http vs trades"],
}
if os.access(os.path.join(build, "bench", "bench_simdjson"), os.X_OK):  # issue 13 goal 1
    ratios["replay-jsonl"].append("decode-only (vs simdjson) vs simdjson-ondemand")
    ratios["replay-jsonl"].append("decode in memory (vs simdjson) vs simdjson-ondemand")
for s, names in ratios.items():
    if meta["scenarios"].get(s) != "ok":
        continue
    have = {r["system"] for r in rows if r["scenario"] == s and r["metric"] == "ratio"}
    bad += [f"{s}: no ratio row '{n}'" for n in names if n not in have]
    if s not in meta["pictures"] or not os.path.getsize(meta["pictures"][s]) > 1000:
        bad.append(f"{s}: no picture")
    elif open(meta["pictures"][s], "rb").read(8) != b"\x89PNG\r\n\x1a\n":
        bad.append(f"{s}: picture is not a PNG")
if meta["scenarios"].get("latency") == "ok":
    for pct in (10, 50, 90):
        if f"latency-{pct}" not in meta["pictures"]:
            bad.append(f"latency: no picture at {pct}%")
        # issue 12: end to end, the kernel's receive stamp to journal commit; issue 13: also
        # serve --busy-poll (pinned), with its ratios to the sleeping receiver (2 cores or more)
        systems = [f"trades-uring at {pct}%"]
        if len(os.sched_getaffinity(0)) >= 2:
            systems.append(f"trades-uring busy-poll at {pct}%")
            for q in ("p50_ns", "p99_ns"):
                if not any(r["scenario"] == "latency" and r["metric"] == "ratio"
                           and r.get("of") == f"kernel_to_committed {q}"
                           and r["system"] == f"{systems[1]} vs {systems[0]}" for r in rows):
                    bad.append(f"latency: no busy-poll ratio of {q} at {pct}%")
        for system in systems:
            for q in ("p50_ns", "p99_ns", "p999_ns", "max_ns"):
                if not any(r["scenario"] == "latency" and r["system"] == system
                           and r["metric"] == f"kernel_to_committed {q}" for r in rows):
                    bad.append(f"latency: no kernel_to_committed {q} row for '{system}'")
for r in rows:
    for k in ("scenario", "system", "metric", "value", "unit", "runs", "min", "median", "max"):
        if k not in r:
            bad.append(f"row {r.get('scenario')}/{r.get('system')}: no {k}")
    if r["metric"] != "ratio" and r["runs"] < 3 and "allocations" not in r["metric"] \
            and "offered" not in r["metric"]:
        bad.append(f"row {r['scenario']}/{r['system']}/{r['metric']}: {r['runs']} runs (< 3)")
    if not r["min"] <= r["median"] <= r["max"]:
        bad.append(f"row {r['scenario']}/{r['system']}/{r['metric']}: min/median/max out of order")
alloc = [r for r in rows if r["metric"] == "heap allocations per trade"]
if meta["scenarios"].get("scale") == "ok" and (not alloc or alloc[0]["value"] != 0):  # to 1e-4
    bad.append(f"heap allocations per trade: {alloc[0]['value'] if alloc else 'missing'} (must be 0)")
if bad:
    print("FAIL:\n  " + "\n  ".join(bad))
    sys.exit(1)
print(f"ok: {len(rows)} rows, {len(meta['pictures'])} pictures, scenarios {meta['scenarios']}")
PY
