#!/usr/bin/env python3
"""kraken_ws_server.py -- a loopback WebSocket-over-TLS server that replays
recorded Kraken v2 frames from a scenario file, for the integration tests.

Standard library only (ssl, socket).  Usage:

    kraken_ws_server.py --cert C --key K --scenario FILE [--timeout S]

Prints "port N" on stdout once listening on 127.0.0.1 (ephemeral port), runs
the scenario, then prints one "summary k=v ..." line and exits 0; any
protocol violation by the client (unmasked frame, bad handshake, wrong
subscribe, no pong) exits 1 naming it.  Every wait is bounded by --timeout.

Scenario lines (blank lines and # comments ignored):
    session                 accept the next connection (TLS + RFC 6455 upgrade)
    expect-subscribe        read the client's subscribe; $REQ in later lines
                            becomes its req_id
    send JSON               one text frame ($REQ substituted)
    send-fragmented N JSON  the same message as N frames: text + continuations
    ping                    a WebSocket ping; the client must answer a pong
    expect-ping             wait for the client's {"method":"ping"}; answer pong
    drop-mid-frame JSON     send half of that frame, then cut the TCP connection
    hold                    read until the client closes (close frame or EOF)
"""
import argparse
import base64
import hashlib
import json
import os
import socket
import ssl
import struct
import sys

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class Fail(Exception):
    pass


def recv_exact(conn, n):
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            raise EOFError("client closed")
        buf += chunk
    return buf


def handshake(conn):
    req = b""
    while b"\r\n\r\n" not in req:
        chunk = conn.recv(4096)
        if not chunk:
            raise Fail("client closed during the upgrade")
        req += chunk
        if len(req) > 16384:
            raise Fail("upgrade request too long")
    head = req.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    if not head[0].startswith("GET ") or not head[0].endswith(" HTTP/1.1"):
        raise Fail("bad request line %r" % head[0])
    hdr = {}
    for line in head[1:]:
        k, _, v = line.partition(":")
        hdr[k.strip().lower()] = v.strip()
    if hdr.get("upgrade", "").lower() != "websocket" or hdr.get("sec-websocket-version") != "13":
        raise Fail("not a WebSocket upgrade: %r" % hdr)
    if "host" not in hdr:
        raise Fail("no Host header")
    key = hdr.get("sec-websocket-key", "").encode()
    if len(base64.b64decode(key)) != 16:
        raise Fail("bad Sec-WebSocket-Key")
    accept = base64.b64encode(hashlib.sha1(key + GUID).digest()).decode()
    conn.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                  "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n" % accept).encode())
    return head[0].split(" ")[1]


def frame(opcode, payload, fin=True):
    b0 = (0x80 if fin else 0) | opcode
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", b0, n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, 126, n)
    else:
        head = struct.pack("!BBQ", b0, 127, n)
    return head + payload


class Session:
    def __init__(self, conn, stats):
        self.conn = conn
        self.stats = stats
        self.req = 0

    def read_frame(self):
        b0, b1 = recv_exact(self.conn, 2)
        if not b1 & 0x80:
            raise Fail("client frame not masked (RFC 6455 5.1)")
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", recv_exact(self.conn, 2))[0]
        elif n == 127:
            n = struct.unpack("!Q", recv_exact(self.conn, 8))[0]
        mask = recv_exact(self.conn, 4)
        data = bytes(c ^ mask[i % 4] for i, c in enumerate(recv_exact(self.conn, n)))
        return b0 & 0x0F, data

    def next_text(self, want_pong=None):
        """Reads until a text message; control frames are handled here."""
        while True:
            op, data = self.read_frame()
            if op == 0x1:
                self.stats["texts"] += 1
                return data.decode()
            if op == 0xA:
                self.stats["pongs"] += 1
                if want_pong is not None and data == want_pong:
                    return None
            elif op == 0x9:
                self.conn.sendall(frame(0xA, data))
            elif op == 0x8:
                self.stats["close_received"] += 1
                self.conn.sendall(frame(0x8, data[:2]))
                raise EOFError("client sent close")

    def expect_subscribe(self):
        msg = json.loads(self.next_text())
        p = msg.get("params", {})
        if msg.get("method") != "subscribe" or p.get("channel") != "trade" or \
                p.get("snapshot") is not True or not isinstance(p.get("symbol"), list):
            raise Fail("bad subscribe %r" % msg)
        self.req = msg.get("req_id", 0)
        self.stats["subscribes"] += 1
        self.stats["symbols"] = ",".join(p["symbol"])

    def expect_ping(self):
        while True:
            msg = json.loads(self.next_text())
            if msg.get("method") == "ping":
                self.stats["app_pings"] += 1
                self.send(json.dumps({"method": "pong", "req_id": msg.get("req_id"),
                                      "time_in": "2024-01-01T00:00:00.000000Z",
                                      "time_out": "2024-01-01T00:00:00.000001Z"}))
                return

    def sent(self, data):
        """Counts one whole text message sent (the client's source figures)."""
        self.stats["sent_texts"] += 1
        self.stats["sent_bytes"] += len(data)

    def send(self, text):
        data = text.replace("$REQ", str(self.req)).encode()
        self.conn.sendall(frame(0x1, data))
        self.sent(data)

    def send_fragmented(self, n, text):
        data = text.replace("$REQ", str(self.req)).encode()
        self.sent(data)
        step = max(1, len(data) // n)
        parts = [data[i:i + step] for i in range(0, len(data), step)]
        for i, part in enumerate(parts):
            self.conn.sendall(frame(0x1 if i == 0 else 0x0, part, fin=i == len(parts) - 1))

    def ping(self):
        self.conn.sendall(frame(0x9, b"are-you-there"))
        if self.next_text(want_pong=b"are-you-there") is not None:
            raise Fail("text message where the pong was due")
        self.stats["pong_ok"] += 1

    def drop_mid_frame(self, text):
        data = frame(0x1, text.replace("$REQ", str(self.req)).encode())
        self.conn.sendall(data[:len(data) // 2])
        self.stats["drops"] += 1
        self.conn.shutdown(socket.SHUT_RDWR)
        self.conn.close()

    def hold(self):
        try:
            while True:
                self.next_text()
        except (EOFError, ConnectionError, ssl.SSLError):
            return


def run(args):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(4)
    lsock.settimeout(args.timeout)
    print("port %d" % lsock.getsockname()[1], flush=True)
    stats = {k: 0 for k in ("sessions", "subscribes", "texts", "pongs", "pong_ok", "app_pings",
                            "drops", "close_received", "sent_texts", "sent_bytes")}
    stats["symbols"] = ""
    sess = None
    for raw in open(args.scenario):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        cmd, _, rest = line.partition(" ")
        if cmd == "session":
            tcp, _ = lsock.accept()
            tcp.settimeout(args.timeout)
            conn = ctx.wrap_socket(tcp, server_side=True)
            stats["path"] = handshake(conn)
            stats["sessions"] += 1
            sess = Session(conn, stats)
        elif cmd == "expect-subscribe":
            sess.expect_subscribe()
        elif cmd == "send":
            sess.send(rest)
        elif cmd == "send-fragmented":
            n, _, text = rest.partition(" ")
            sess.send_fragmented(int(n), text)
        elif cmd == "ping":
            sess.ping()
        elif cmd == "expect-ping":
            sess.expect_ping()
        elif cmd == "drop-mid-frame":
            sess.drop_mid_frame(rest)
        elif cmd == "hold":
            sess.hold()
        else:
            raise Fail("unknown scenario line %r" % line)
    print("summary " + " ".join("%s=%s" % kv for kv in sorted(stats.items())), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--scenario", required=True)
    ap.add_argument("--timeout", type=float, default=20.0)
    args = ap.parse_args()
    try:
        run(args)
    except (Fail, EOFError, socket.timeout, OSError) as e:
        print("kraken_ws_server: %s" % e, file=sys.stderr, flush=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
