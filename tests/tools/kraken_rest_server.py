#!/usr/bin/env python3
"""kraken_rest_server.py -- a loopback HTTPS server answering Kraken's public
REST calls from recorded data, paging Trades with the `last` cursor.

Standard library only (ssl, http.server).  Usage:

    kraken_rest_server.py --cert C --key K --data FILE [--page N]
                          [--throttle N] [--log FILE] [--timeout S]

FILE is JSON: {"pairs": {KEY: {"altname": A, "wsname": W}, ...},
               "trades": {KEY: [[price, volume, time, side, ord, misc, id], ...]}}
with time a decimal-seconds string, written into the responses as a JSON
number exactly as given (as Kraken sends it).

  GET /0/public/AssetPairs              the pairs table
  GET /0/public/Trades?pair=P&since=NS  up to N rows with time > NS (ns), in
                                        order; "last" is the ns time of the
                                        last row returned (NS if none)

--throttle N: the first N Trades requests are refused, alternately with HTTP
429 and with Kraken's {"error":["EAPI:Rate limit exceeded"]}.  Each request
is logged as one line "PATH QUERY" to --log.  Prints "port N" on stdout, and
exits after --timeout seconds without a request.
"""
import argparse
import json
import ssl
import sys
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlparse


def ns_of(t):
    return int(Decimal(t) * 1000000000)


class Handler(BaseHTTPRequestHandler):
    def log_message(self, fmt, *args):
        pass

    def reply(self, code, body):
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        srv = self.server
        u = urlparse(self.path)
        q = parse_qs(u.query)
        if srv.log:
            srv.log.write("%s %s\n" % (u.path, u.query))
            srv.log.flush()
        if u.path == "/0/public/AssetPairs":
            return self.reply(200, json.dumps({"error": [], "result": srv.data["pairs"]}))
        if u.path != "/0/public/Trades":
            return self.reply(404, json.dumps({"error": ["EGeneral:Unknown method"]}))
        if srv.throttle > 0:
            srv.throttle -= 1
            srv.refused += 1
            if srv.refused % 2 == 1:
                return self.reply(429, "{}")
            return self.reply(200, json.dumps({"error": ["EAPI:Rate limit exceeded"]}))
        pair = q.get("pair", [""])[0]
        key = next((k for k, v in srv.data["pairs"].items()
                    if pair in (k, v["altname"])), None)
        if key is None:
            return self.reply(200, json.dumps({"error": ["EQuery:Unknown asset pair"]}))
        since = int(q.get("since", ["0"])[0])
        rows = [r for r in srv.data["trades"].get(key, []) if ns_of(r[2]) > since][:srv.page]
        last = ns_of(rows[-1][2]) if rows else since
        # time is a JSON number with the recorded digits: format by hand.
        text = ",".join("[%s,%s,%s,%s,%s,%s,%d]" % (json.dumps(r[0]), json.dumps(r[1]), r[2],
                                                   json.dumps(r[3]), json.dumps(r[4]),
                                                   json.dumps(r[5]), r[6]) for r in rows)
        self.reply(200, '{"error":[],"result":{%s:[%s],"last":"%d"}}' % (json.dumps(key), text,
                                                                         last))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--page", type=int, default=1000)
    ap.add_argument("--throttle", type=int, default=0)
    ap.add_argument("--log")
    ap.add_argument("--timeout", type=float, default=30.0)
    args = ap.parse_args()
    srv = Server(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    srv.timeout = args.timeout
    srv.data = json.load(open(args.data))
    srv.page = args.page
    srv.throttle = args.throttle
    srv.refused = 0
    srv.log = open(args.log, "a") if args.log else None
    print("port %d" % srv.server_address[1], flush=True)
    while not srv.timed_out:
        srv.handle_request()  # returns after one request or the timeout


class Server(HTTPServer):
    timed_out = False

    def handle_timeout(self):
        self.timed_out = True


if __name__ == "__main__":
    main()
