#!/usr/bin/env python3
"""check_includes.py -- the include graph of src/ and include/trades/ has no
cycle and nothing includes upward.

Every file belongs to a module; every module has a rank.  A file may include
the headers of its own module and of modules of a lower rank, nothing else,
so the module graph is layered (and acyclic) by construction.  The header
graph itself is also walked for cycles (a.h -> b.h -> a.h inside a module).
A file this script cannot place fails the check: a new module gets a line
here, which is where the layering is written down.

  python3 tests/check_includes.py SRCDIR      (exit 0 ok, 1 violations)
  python3 tests/check_includes.py SRCDIR --graph   (print "module: includes")
"""
import os
import re
import sys

# rank: lower is more basic.  Equal ranks may not include each other.
RANK = {
    "record": 0,     # trade record, reasons, decimals, time
    "util": 1,       # log/ENSURE, crc32c, HOST:PORT
    "state": 2,      # state file (dedup window, feed counters, undo)
    "journal": 2,    # journal segments, reader
    "sequencer": 3,  # MoldUDP64 session (the sequencer of Mold feeds)
    "parser": 3,     # wire formats: JSON lines, ITCH 5.0, order book
    "sink": 3,       # output contract
    "pipeline": 4,   # dedup -> journal -> state -> sinks, recovery
    "decoder": 5,    # per-channel framing, parsers wired to the pipeline
    "source": 6,     # sockets, io_uring/epoll/pcap backends
    "http": 7,       # serve --http: reads the state (libmicrohttpd thread)
    "cli": 8,
    "tools": 7,
}

HEADER_MODULE = {
    "trade.h": "record", "reason.h": "record", "decimal.h": "record",
    "timefmt.h": "record",
    "log.h": "util", "crc32c.h": "util", "addr.h": "util",
    "state.h": "state", "candles.h": "state", "journal.h": "journal", "mold.h": "sequencer",
    "jsonl.h": "parser", "itch.h": "parser", "book.h": "parser",
    "sink.h": "sink", "sink_kafka.h": "sink", "pipeline.h": "pipeline",
    "decoder.h": "decoder", "source.h": "source", "source_dpdk.h": "source",
    "source_ws.h": "source", "source_rest.h": "source", "kraken.h": "parser", "probe.h": "util",
    "http.h": "http",
}

SRC_MODULE = {  # directory (or file) under src/ -> module
    "record": "record", "util": "util", "state": "state",
    "journal": "journal", "sequencer": "sequencer", "sink": "sink",
    "pipeline": "pipeline", "source": "source", "cli": "cli",
    "tools": "tools", "main.c": "cli", "http": "http",
    "decoder/jsonl.c": "parser", "decoder/itch.c": "parser",
    "decoder/book.c": "parser", "decoder/decoder.c": "decoder",
    "decoder/itch_feed.c": "decoder", "decoder/feeds.c": "decoder",
    "decoder/kraken.c": "parser",
}

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def module_of(rel):
    """Module of a path relative to the source root, or None."""
    parts = rel.split("/")
    if parts[0] == "include" and len(parts) == 3 and parts[1] == "trades":
        return HEADER_MODULE.get(parts[2])
    if parts[0] == "src" and len(parts) >= 2:
        sub = "/".join(parts[1:])
        if sub in SRC_MODULE:
            return SRC_MODULE[sub]
        if len(parts) >= 3 and parts[1] != "decoder":
            return SRC_MODULE.get(parts[1])
    return None


def target_path(inc):
    """Path (relative to the root) an include names, or None if not ours."""
    if inc.startswith("trades/"):
        return "include/" + inc
    if inc.startswith("src/"):
        return inc
    return None


def collect(root):
    files = {}
    for top in ("src", "include"):
        for d, _, names in os.walk(os.path.join(root, top)):
            for n in sorted(names):
                if n.endswith((".c", ".h")):
                    p = os.path.join(d, n)
                    rel = os.path.relpath(p, root)
                    with open(p, encoding="utf-8", errors="replace") as f:
                        files[rel] = INCLUDE.findall(f.read())
    return files


def header_cycles(files):
    """Cycles among our headers, as lists of paths."""
    graph = {f: [t for t in map(target_path, incs) if t in files]
             for f, incs in files.items()}
    colour, stack, found = {}, [], []

    def visit(n):  # recursion depth bounded by the number of headers
        colour[n] = 1
        stack.append(n)
        for m in graph[n]:
            if colour.get(m) == 1:
                found.append(stack[stack.index(m):] + [m])
            elif m not in colour:
                visit(m)
        stack.pop()
        colour[n] = 2

    for n in sorted(graph):
        if n not in colour:
            visit(n)
    return found


def main():
    if len(sys.argv) < 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    root = sys.argv[1]
    files = collect(root)
    errors, edges = [], {}
    for rel, incs in sorted(files.items()):
        src_mod = module_of(rel)
        if src_mod is None:
            errors.append(f"{rel}: not in any module (add it to check_includes.py)")
            continue
        edges.setdefault(src_mod, set())
        for inc in incs:
            tgt = target_path(inc)
            if tgt is None:
                continue  # config.h, the tools' own headers
            if tgt not in files:
                errors.append(f"{rel}: includes {inc}, which does not exist")
                continue
            tgt_mod = module_of(tgt)
            if tgt_mod is None:
                continue  # reported as unplaced above
            if tgt_mod == src_mod:
                continue
            edges[src_mod].add(tgt_mod)
            if RANK[tgt_mod] >= RANK[src_mod]:
                errors.append(f"{rel} ({src_mod}, rank {RANK[src_mod]}) includes {inc} "
                              f"({tgt_mod}, rank {RANK[tgt_mod]}): upward or sideways")
    for cyc in header_cycles(files):
        errors.append("include cycle: " + " -> ".join(cyc))
    if "--graph" in sys.argv:
        for mod in sorted(edges, key=lambda m: (RANK[m], m)):
            deps = sorted(edges[mod], key=lambda m: (RANK[m], m))
            print(f"{mod} ({RANK[mod]}): {', '.join(deps) if deps else '-'}")
    for e in errors:
        print("FAIL: " + e, file=sys.stderr)
    if not errors:
        print(f"include graph: {len(files)} files, {len(edges)} modules, layered, no cycle")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
