#!/usr/bin/env python3
"""candles_check.py -- candles computed here, independently of the engine,
from the generator's trades, and compared with `trades candles --json`.

  candles_check.py make GEN_JSONL OUT_JSONL STEP_MS
      rewrites the generator's trades with spread exchange timestamps
      (trade i at 2025-01-02T00:00:00Z + i * STEP_MS), every 50th one 3.5 s
      in the past (late beyond a 2 s grace for 1s candles, inside a 1m one)
      and every 50th + 25 one 1.2 s in the past (inside the grace)
  candles_check.py check TRADES STATE_DIR JSONL GRACE_S INTERVAL_S...
      computes OHLCV, trade count, VWAP per pair and interval with the
      documented rule (bucket = floor(ts / interval); a trade whose bucket
      ended + grace at or before the pair's highest timestamp applied so far
      is late: counted, not applied; the ring keeps the 32 newest-created
      candles) and compares every field with what the state gives.
"""
import json
import subprocess
import sys
from decimal import Decimal, ROUND_HALF_EVEN

BASE_NS = 1735776000 * 10**9  # 2025-01-02T00:00:00Z
RING = 32


def ts_str(ns):
    sec, frac = divmod(ns, 10**9)
    import time
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)) + ".%09dZ" % frac


def make(src, out, step_ms):
    step = int(step_ms) * 10**6
    with open(src) as f, open(out, "w") as o:
        for i, line in enumerate(f):
            d = json.loads(line, parse_float=str, parse_int=str)  # the text, exactly
            ns = BASE_NS + i * step
            if i % 50 == 49:
                ns -= 3500 * 10**6
            elif i % 50 == 24:
                ns -= 1200 * 10**6
            t = {"pair": d["pair"], "price": str(d["price"]), "volume": str(d["volume"]),
                 "side": d.get("side", "buy"), "trade_id": int(d.get("trade_id", i + 1)), "timestamp": ts_str(ns)}
            o.write(json.dumps(t) + "\n")


def parse_ts(s):
    import calendar
    date, frac = s.rstrip("Z").split(".")
    sec = calendar.timegm(__import__("time").strptime(date, "%Y-%m-%dT%H:%M:%S"))
    return sec * 10**9 + int(frac.ljust(9, "0"))


def expect(path, grace_ns, iv_ns):
    """{(pair, iv): (candles in creation order (last RING), late, watermark)}"""
    rings = {}
    with open(path) as f:
        for line in f:
            d = json.loads(line)
            ts, price, qty = parse_ts(d["timestamp"]), Decimal(d["price"]), Decimal(d["volume"])
            for iv in iv_ns:
                r = rings.setdefault((d["pair"], iv), {"c": [], "late": 0, "wm": None})
                start = ts // iv * iv
                if r["wm"] is not None and r["wm"] >= start + iv + grace_ns:
                    r["late"] += 1
                    continue
                c = next((c for c in r["c"] if c["start"] == start), None)
                if c is None:
                    c = {"start": start, "open": price, "high": price, "low": price,
                         "close": price, "volume": Decimal(0), "notional": Decimal(0),
                         "trades": 0}
                    r["c"].append(c)
                    r.setdefault("all", []).append(c)
                    r["c"] = r["c"][-RING:]
                c["high"] = max(c["high"], price)
                c["low"] = min(c["low"], price)
                c["close"] = price
                c["volume"] += qty
                c["notional"] += price * qty
                c["trades"] += 1
                r["wm"] = ts if r["wm"] is None else max(r["wm"], ts)
    return rings


def check(trades, state, path, grace_s, ivs):
    iv_ns = [int(x) * 10**9 for x in ivs]
    grace_ns = int(Decimal(grace_s) * 10**9)
    rings = expect(path, grace_ns, iv_ns)
    bad = 0
    total = late = 0
    for (pair, iv), r in sorted(rings.items()):
        name = "%ds" % (iv // 10**9) if iv < 60 * 10**9 else "%dm" % (iv // (60 * 10**9))
        out = subprocess.run([trades, "candles", "--state-dir", state, "--pair", pair,
                              "--interval", name, "--json"], capture_output=True, text=True)
        if out.returncode != 0:
            print("FAIL: trades candles %s %s: %s" % (pair, name, out.stderr), file=sys.stderr)
            return 1
        got = [json.loads(x) for x in out.stdout.splitlines()]
        want = sorted(r["c"], key=lambda c: c["start"])
        if len(got) != len(want):
            print("FAIL: %s %s: %d candles, expected %d" % (pair, name, len(got), len(want)),
                  file=sys.stderr)
            return 1
        for g, w in zip(got, want):
            vwap = (w["notional"] / w["volume"]).quantize(Decimal("1e-8"), ROUND_HALF_EVEN)
            closed = r["wm"] >= w["start"] + iv + grace_ns
            exp = {"start_ns": w["start"], "open": w["open"], "high": w["high"],
                   "low": w["low"], "close": w["close"], "volume": w["volume"],
                   "trades": w["trades"], "vwap": vwap, "closed": closed, "late": r["late"]}
            for k, v in exp.items():
                gv = Decimal(g[k]) if isinstance(v, Decimal) else g[k]
                if gv != v:
                    print("FAIL: %s %s candle %d: %s is %s, expected %s" %
                          (pair, name, w["start"], k, g[k], v), file=sys.stderr)
                    bad += 1
        total += len(want)
        late += r["late"]
    if bad:
        return 1
    print("candles: %d candles over %d rings equal the independent computation, %d late"
          % (total, len(rings), late))
    return 0 if late > 0 else 1


def sinkcheck(path, out, grace_s, ivs):
    """Every candle closed by the end of the stream, exactly once, in the
    downstream's schema, from the --print-candles lines in out."""
    iv_ns = [int(x) * 10**9 for x in ivs]
    grace_ns = int(Decimal(grace_s) * 10**9)
    want = {}
    for (pair, iv), r in expect(path, grace_ns, iv_ns).items():
        for c in r.get("all", []):
            if r["wm"] >= c["start"] + iv + grace_ns:
                want[(pair, iv // 10**9, c["start"] // 10**6)] = c
    got = {}
    with open(out) as f:
        for line in f:
            d = json.loads(line)
            if d.get("type") != "candle":
                continue
            k = (d["pair"], d["candle_seconds"], d["window_start_ms"])
            if k in got:
                print("FAIL: candle %s emitted twice" % (k,), file=sys.stderr)
                return 1
            got[k] = d
            w = want.get(k)
            if w is None or d["window_end_ms"] != k[2] + k[1] * 1000:
                print("FAIL: candle %s not expected closed: %s" % (k, line), file=sys.stderr)
                return 1
            for f_ in ("open", "high", "low", "close", "volume"):
                if Decimal(d[f_]) != w[f_]:
                    print("FAIL: candle %s: %s %s, expected %s" % (k, f_, d[f_], w[f_]),
                          file=sys.stderr)
                    return 1
            if d["trades"] != w["trades"]:
                print("FAIL: candle %s: trades" % (k,), file=sys.stderr)
                return 1
    if set(got) != set(want):
        print("FAIL: %d closed candles expected, %d emitted" % (len(want), len(got)),
              file=sys.stderr)
        return 1
    print("sink: %d closed candles emitted once each, equal to the computation" % len(got))
    return 0


if __name__ == "__main__":
    if sys.argv[1] == "sink":
        sys.exit(sinkcheck(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:]))
    if sys.argv[1] == "make":
        make(*sys.argv[2:5])
        sys.exit(0)
    sys.exit(check(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6:]))
