#!/usr/bin/env python3
"""compare.py -- checks `trades stat --json` against expected totals.

  compare.py totals EXPECTED.json STAT.json [--feed NAME] [--accepted N]
        [--duplicates N] [--malformed N] [--received N]
      instruments must match exactly, string for string; feed counters as given.
  compare.py journal TAIL.jsonl STAT.json
      recomputes every instrument's aggregates from the journal's contract lines
      (exact decimal arithmetic) and requires the state to agree exactly.
Exit 0 on agreement; otherwise prints every difference and exits 1.
"""
import json
import sys
from decimal import Decimal, ROUND_HALF_EVEN, getcontext

getcontext().prec = 80
KEYS = ("trades", "volume", "notional", "vwap", "first", "last", "high", "low")


def fmt(v, min_dp):
    """Decimal -> text: at least min_dp fractional digits, no trailing zeros beyond."""
    s = format(v, "f")
    if "." in s:
        i, f = s.split(".")
    else:
        i, f = s, ""
    f = f.rstrip("0")
    if len(f) < min_dp:
        f = f + "0" * (min_dp - len(f))
    if i in ("-0", "") and not f.strip("0"):
        i = "0"
    return i + ("." + f if f else "")


def dp(text):
    return len(text.split(".")[1]) if "." in text else 0


def from_journal(path):
    inst = {}
    with open(path) as fh:
        for line in fh:
            t = json.loads(line, parse_float=str, parse_int=str)
            p, q = str(t["price"]), str(t["volume"])
            a = inst.setdefault(t["pair"], {"n": 0, "vol": Decimal(0), "not": Decimal(0),
                                            "pdp": 0, "qdp": 0, "first": None})
            sign = -1 if t.get("correction") == "true" or t.get("correction") is True else 1
            P, Q = Decimal(p), Decimal(q)
            a["pdp"], a["qdp"] = max(a["pdp"], dp(p)), max(a["qdp"], dp(q))
            a["n"] += sign
            a["vol"] += sign * Q
            a["not"] += sign * P * Q
            if sign > 0:
                if a["first"] is None:
                    a["first"] = a["high"] = a["low"] = P
                a["last"] = P
                a["high"], a["low"] = max(a["high"], P), min(a["low"], P)
    out = []
    for pair, a in sorted(inst.items()):
        vwap = (a["not"] / a["vol"]).quantize(Decimal("1e-8"), rounding=ROUND_HALF_EVEN) \
            if a["vol"] else Decimal(0)
        out.append({"pair": pair, "trades": a["n"], "volume": fmt(a["vol"], a["qdp"]),
                    "notional": fmt(a["not"], a["pdp"] + a["qdp"]), "vwap": fmt(vwap, a["pdp"]),
                    "first": fmt(a["first"], a["pdp"]), "last": fmt(a["last"], a["pdp"]),
                    "high": fmt(a["high"], a["pdp"]), "low": fmt(a["low"], a["pdp"])})
    return out


def diff_instruments(want, got):
    errs = []
    w = {i["pair"]: i for i in want}
    g = {i["pair"]: i for i in got}
    for pair in sorted(set(w) | set(g)):
        if pair not in g:
            errs.append(f"{pair}: missing from state")
            continue
        if pair not in w:
            errs.append(f"{pair}: in state but not expected ({g[pair]['trades']} trades)")
            continue
        for k in KEYS:
            if str(w[pair][k]) != str(g[pair][k]):
                errs.append(f"{pair}: {k} expected {w[pair][k]} got {g[pair][k]}")
    return errs


def main(argv):
    mode, exp_path, stat_path = argv[1], argv[2], argv[3]
    stat = json.load(open(stat_path))
    if mode == "journal":
        want = from_journal(exp_path)
        errs = diff_instruments(want, stat["instruments"])
        total = sum(i["trades"] for i in want)
        print(f"journal: {total} trades over {len(want)} instruments")
    else:
        want = json.load(open(exp_path))
        errs = diff_instruments(want["instruments"], stat["instruments"])
        opts = dict(zip(argv[4::2], argv[5::2]))
        feed = opts.pop("--feed", None)
        feeds = [f for f in stat["feeds"] if feed is None or f["feed"] == feed]
        for opt, val in opts.items():
            key = opt.lstrip("-")
            got = sum(f[key] for f in feeds)
            if got != int(val):
                errs.append(f"feed {feed or '*'}: {key} expected {val} got {got}")
        print(f"totals: {sum(i['trades'] for i in want['instruments'])} trades over "
              f"{len(want['instruments'])} instruments")
    for e in errs[:50]:
        print("DIFF", e)
    if errs:
        print(f"{len(errs)} differences")
        return 1
    print("exact match")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
