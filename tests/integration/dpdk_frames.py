#!/usr/bin/env python3
"""dpdk_frames.py -- a capture for the DPDK net_pcap test.

  dpdk_frames.py MOLD.pcap LINES.jsonl OUT.pcap EXPECT.json
      [--mold-port 26477] [--group 233.54.12.111] [--jsonl-port 7002]

OUT.pcap holds every frame of MOLD.pcap (trades-gen's MoldUDP64 line A), the
JSON lines of LINES.jsonl packed into UDP datagrams (<= 1400 bytes of whole
lines) in 802.1Q-tagged frames to --jsonl-port, and frames the service must
count and drop, of every kind: ARP, IPv6, ICMP, IPv4 fragments, runts, bad
IPv4 header checksums, other UDP ports and the right port on another group.
EXPECT.json: {"frames": N, "jsonl_datagrams": N, "drops": {kind: N}, "delivered": N,
"payload_bytes": N} (delivered: the Mold and JSON datagrams the filters pass; payload_bytes:
their UDP payloads, from each frame's UDP length field).
"""
import argparse
import json
import struct

ETH_IPV4, ETH_ARP, ETH_IPV6, ETH_VLAN = 0x0800, 0x0806, 0x86DD, 0x8100
SRC_MAC, DST_MAC = bytes.fromhex("020000000001"), bytes.fromhex("01005e366c6f")


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ipv4(dst, payload, proto=17, frag=0, bad_csum=False, src="10.1.1.1"):
    a = lambda s: bytes(int(x) for x in s.split("."))
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 1, frag, 64, proto, 0, a(src), a(dst))
    c = csum(h) ^ (0x5555 if bad_csum else 0)
    return h[:10] + struct.pack("!H", c) + h[12:] + payload


def udp(dport, payload, sport=40000):
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def eth(ethertype, body, vlan=None):
    h = DST_MAC + SRC_MAC
    if vlan is not None:
        h += struct.pack("!HH", ETH_VLAN, vlan)
    return h + struct.pack("!H", ethertype) + body


def read_pcap(path):
    with open(path, "rb") as f:
        hdr = f.read(24)
        assert struct.unpack("<I", hdr[:4])[0] == 0xA1B2C3D4, "classic little-endian pcap"
        frames = []
        while True:
            rec = f.read(16)
            if len(rec) < 16:
                return hdr, frames
            sec, usec, incl, _ = struct.unpack("<IIII", rec)
            frames.append((sec, usec, f.read(incl)))


def jsonl_datagrams(path, limit=1400):
    out, cur = [], b""
    for line in open(path, "rb"):
        if cur and len(cur) + len(line) > limit:
            out.append(cur)
            cur = b""
        cur += line
    if cur:
        out.append(cur)
    return out


def udp_payload_len(f):
    """The UDP payload length of an Ethernet (optionally 802.1Q) IPv4 frame."""
    off, etype = 14, struct.unpack("!H", f[12:14])[0]
    if etype == ETH_VLAN:
        off, etype = 18, struct.unpack("!H", f[16:18])[0]
    assert etype == ETH_IPV4, etype
    ihl = (f[off] & 15) * 4
    return struct.unpack("!H", f[off + ihl + 4:off + ihl + 6])[0] - 8


def junk(a):
    """(kind, frame) pairs: every kind a few times, counts differ per kind."""
    mold = udp(a.mold_port, b"\0" * 20)
    j = [("arp", eth(ETH_ARP, bytes(28))) for _ in range(3)]
    j += [("not_ipv4", eth(ETH_IPV6, bytes(60))) for _ in range(2)]
    j += [("not_udp", eth(ETH_IPV4, ipv4(a.group, bytes(16), proto=1))) for _ in range(4)]
    j += [("fragment", eth(ETH_IPV4, ipv4(a.group, mold, frag=0x2000))) for _ in range(5)]
    j += [("fragment", eth(ETH_IPV4, ipv4(a.group, bytes(40), frag=0x0010)))]
    j += [("runt", eth(ETH_IPV4, bytes(8))) for _ in range(2)]
    j += [("runt", eth(ETH_IPV4, ipv4(a.group, mold)[:30])) for _ in range(5)]
    j += [("bad_csum", eth(ETH_IPV4, ipv4(a.group, mold, bad_csum=True))) for _ in range(7)]
    j += [("other_port", eth(ETH_IPV4, ipv4(a.group, udp(a.mold_port + 1, b"x")))) for _ in range(8)]
    j += [("other_group", eth(ETH_IPV4, ipv4("233.54.12.112", mold))) for _ in range(9)]
    return j


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mold")
    ap.add_argument("jsonl")
    ap.add_argument("out")
    ap.add_argument("expect")
    ap.add_argument("--mold-port", type=int, default=26477)
    ap.add_argument("--group", default="233.54.12.111")
    ap.add_argument("--jsonl-port", type=int, default=7002)
    a = ap.parse_args()
    hdr, frames = read_pcap(a.mold)
    dgrams = [eth(ETH_VLAN, struct.pack("!HH", 100, ETH_IPV4) + ipv4("10.1.1.2", udp(a.jsonl_port, d)))
              for d in jsonl_datagrams(a.jsonl)]
    extra = junk(a)
    drops = {}
    for kind, _ in extra:
        drops[kind] = drops.get(kind, 0) + 1
    # Interleave: the JSON datagrams and the junk spread over the Mold frames.
    mixed, k = [], 0
    others = [f for f in dgrams] + [f for _, f in extra]
    step = max(1, len(frames) // max(1, len(others)))
    for i, (sec, usec, f) in enumerate(frames):
        mixed.append((sec, usec, f))
        if i % step == 0 and k < len(others):
            mixed.append((sec, usec, others[k]))
            k += 1
    sec, usec = frames[-1][0], frames[-1][1]
    mixed += [(sec, usec, f) for f in others[k:]]
    with open(a.out, "wb") as o:
        o.write(hdr)
        for sec, usec, f in mixed:
            o.write(struct.pack("<IIII", sec, usec, len(f), len(f)) + f)
    delivered = [f for _, _, f in frames] + dgrams
    json.dump({"frames": len(mixed), "jsonl_datagrams": len(dgrams), "drops": drops,
               "delivered": len(delivered),
               "payload_bytes": sum(udp_payload_len(f) for f in delivered)},
              open(a.expect, "w"))


if __name__ == "__main__":
    main()
