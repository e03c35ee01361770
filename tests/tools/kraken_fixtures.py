#!/usr/bin/env python3
"""kraken_fixtures.py -- writes the Kraken integration test's inputs into DIR:
rest.json (kraken_rest_server.py data), live.scenario (kraken_ws_server.py),
recent.json (REST data near now, for LAST_N_DAYS), capture.ws (a kraken-ws
replay file) and expect.json (the totals, computed here with Decimal).

Trades of BTC/USD have ids 1..25; price 43000 + id/8, qty id/1000, times
1700000000 + id + 0.123456 s, sides alternating (odd: buy).
"""
import json
import sys
import time
from datetime import datetime, timezone
from decimal import Decimal

D = sys.argv[1]
N = 25


def trade(i):
    return {"id": i, "price": Decimal(43000) + Decimal(i) / 8, "qty": Decimal(i) / 1000,
            "t": Decimal(1700000000 + i) + Decimal("0.123456"),
            "side": "buy" if i % 2 else "sell"}


T = [None] + [trade(i) for i in range(1, N + 1)]


def rfc3339(t):
    sec = int(t)
    us = int((t - sec) * 1000000)
    return datetime.fromtimestamp(sec, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S") + \
        ".%06dZ" % us


def v2(i):
    t = T[i]
    return ('{"symbol":"BTC/USD","side":"%s","price":%s,"qty":%s,"ord_type":"limit",'
            '"trade_id":%d,"timestamp":"%s"}' % (t["side"], t["price"], t["qty"], i,
                                                 rfc3339(t["t"])))


def msg(kind, ids):
    return '{"channel":"trade","type":"%s","data":[%s]}' % (kind, ",".join(v2(i) for i in ids))


def rest_row(t):
    return [str(t["price"]), str(t["qty"]), str(t["t"]), t["side"][0], "l", "", t["id"]]


PAIRS = {"XXBTZUSD": {"altname": "XBTUSD", "wsname": "XBT/USD"},
         "XETHZUSD": {"altname": "ETHUSD", "wsname": "ETH/USD"}}
json.dump({"pairs": PAIRS, "trades": {"XXBTZUSD": [rest_row(T[i]) for i in range(1, N + 1)]}},
          open(D + "/rest.json", "w"))

now = Decimal(int(time.time()))
recent = [dict(T[1], t=now - 3 * 86400)] + [dict(T[i], t=now - 7200 + i) for i in range(2, 7)]
json.dump({"pairs": PAIRS, "trades": {"XXBTZUSD": [rest_row(t) for t in recent]}},
          open(D + "/recent.json", "w"))

STATUS = ('{"channel":"status","data":[{"api_version":"v2","connection_id":7,'
          '"system":"online","version":"2.0.0"}],"type":"update"}')
ACK = ('{"method":"subscribe","result":{"channel":"trade","snapshot":true,"symbol":"BTC/USD"},'
       '"success":true,"time_in":"2023-11-14T22:13:20.000000Z",'
       '"time_out":"2023-11-14T22:13:20.000100Z","req_id":$REQ}')
NACK = ('{"error":"Currency pair not supported NOPE/USD","method":"subscribe","req_id":$REQ,'
        '"success":false,"symbol":"NOPE/USD","time_in":"2023-11-14T22:13:20.000000Z",'
        '"time_out":"2023-11-14T22:13:20.000100Z"}')
HB = '{"channel":"heartbeat"}'
lines = [
    "# session 1: snapshot 1-5, updates 6-10 (6-8 fragmented), dropped inside 11",
    "session", "expect-subscribe", "send " + STATUS, "send " + ACK, "send " + NACK,
    "send " + msg("snapshot", range(1, 6)), "send " + HB,
    "send-fragmented 3 " + msg("update", [6, 7, 8]), "ping", "send " + HB,
    "send " + msg("update", [9, 10]), "drop-mid-frame " + msg("update", [11]),
    "# session 2: the snapshot re-sends 6-11; 14-16 are skipped (a gap REST fills)",
    "session", "expect-subscribe", "send " + STATUS, "send " + ACK, "send " + NACK,
    "send " + msg("snapshot", range(6, 12)), "send " + msg("update", [12, 13]), "send " + HB,
    "send " + msg("update", [17]), "send " + msg("update", [18]),
    "expect-ping",
    'send {"channel":"trade","type":"update","data":[{"symbol":"BTC/USD","price":1',
    "send " + msg("update", [19]), "hold",
]
open(D + "/live.scenario", "w").write("\n".join(lines) + "\n")

restart = ["session", "expect-subscribe", "send " + ACK, "send " + msg("snapshot", [23, 24, 25]),
           "hold"]
open(D + "/restart.scenario", "w").write("\n".join(restart) + "\n")

cap = [
    "wss://ws.kraken.com <-> 1700000000.000001",
    'wss://ws.kraken.com <- 1700000000.1: {"event":"subscribe","pair":["XBT/USD"]}',
    '1700000000.2: {"connectionID":1,"event":"systemStatus","status":"online","version":"1.9"}',
    '1700000000.3: [1,[["43000.125","0.001","1700000001.123456","b","l",""],'
    '["43000.25","0.002","1700000002.123456","s","m",""]],"trade","XBT/USD"]',
    '1700000000.4: {"event":"heartbeat"}',
    "1700000000.5: " + msg("update", [1, 2, 3]),
    msg("update", [3, 4]),
    '1700000000.6: [1,[["bad","0.001","1700000003.1","b","l",""]],"trade","XBT/USD"]',
    "1700000000.7: {not json",
]
open(D + "/capture.ws", "w").write("\n".join(cap) + "\n")


def totals(ids):
    ts = [T[i] for i in ids]
    return {"trades": len(ts), "volume": str(sum(t["qty"] for t in ts)),
            "notional": str(sum(t["price"] * t["qty"] for t in ts)),
            "high": str(max(t["price"] for t in ts)), "low": str(min(t["price"] for t in ts)),
            "first": str(ts[0]["price"]), "last": str(ts[-1]["price"])}


json.dump({"live": totals(range(1, 20)), "all": totals(range(1, N + 1)),
           "recent_since_ns": None}, open(D + "/expect.json", "w"))
