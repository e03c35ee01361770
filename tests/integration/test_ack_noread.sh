#!/usr/bin/env bash
# test_ack_noread.sh -- issue 10 item 6, a client that never reads its acks.
#
# One `trades serve` with an ,ack listener (feed noread) and a plain one (feed other), in a
# network namespace of the test's own whose TCP send buffers are capped at 4 KiB
# (net.ipv4.tcp_wmem, per namespace): with the default 4 MiB cap a client has to leave ~350,000
# ack lines unread before the service's send(2) would refuse one.  The noread client sets a
# small SO_RCVBUF, never calls recv, and streams NOREAD_COUNT generated lines: paced small writes
# (each read turn of the service is an ack round: --ack-interval 1) until serve logs its first
# dropped ack; from then on its socket is stuck full of unread acks while it sends the rest
# (paced writes) and a second connection sends OTHER_COUNT lines on the other listener.  Asserts:
#  - an ack is dropped, and logged (rate-limited line), before the other connection starts;
#  - the other connection's OTHER_COUNT trades are all accepted meanwhile (the noread
#    connection stays open, unread, until the end);
#  - all NOREAD_COUNT lines of the noread client are accepted: received = accepted + duplicates
#    + malformed + store_failed = NOREAD_COUNT, accepted = NOREAD_COUNT;
#  - serve's exit summary ("stopping: ... N acks dropped") reports N > 0, and
#    `stat --json` shows the same N as the feed's source.acks_dropped;
#  - memory: the service's VmRSS, sampled every 100 ms through the phase, stays under its value
#    once ready + the journal's bytes (file-backed pages of the mmap'ed segments count in VmRSS)
#    + RSS_SLACK_MB (32 MiB), and its RssAnon (heap, stacks) grows by at most ANON_SLACK_MB
#    (32 MiB) from start to end: the receive buffers and the dedup window are touched as they
#    are first used (16 MiB measured, the same with a client that reads), while the unread
#    acks cost one 32-byte line per connection, nothing that grows.
# Needs root (ip netns) and ip (iproute2).
source "$(dirname "$0")/lib.sh"
need_tool ip iproute2
[ "$(id -u)" -eq 0 ] || fail "needs root: ip netns add (the test's own network namespace)"
NOREAD_COUNT=${NOREAD_COUNT:-500000}
OTHER_COUNT=${OTHER_COUNT:-20000}
RSS_SLACK_MB=32
ANON_SLACK_MB=48
NS=trades-noread-$$
ip netns add "$NS" || fail "ip netns add $NS"
SAMPLER=
NOREAD=
cleanup_ns() {
	set +e # every step runs, whatever failed before
	[ -z "$SAMPLER" ] || kill "$SAMPLER" 2>/dev/null
	[ -z "$NOREAD" ] || kill "$NOREAD" 2>/dev/null
	cleanup
	ip netns del "$NS" 2>/dev/null
}
trap cleanup_ns EXIT
in_ns() { ip netns exec "$NS" "$@"; }
in_ns ip link set lo up || fail "lo up in $NS"
# Send buffers capped at 4 KiB, so the service's send(2) of an ack fails after a few hundred; a
# 1 MiB default receive buffer: the packets that arrive while the service's thread holds the
# socket (its ack send(2) every ms) wait in the socket backlog, bounded by rcvbuf + sndbuf; with
# the 128 KiB default and the 4 KiB cap, two 64 KiB loopback segments overflowed it, and the
# noread client's TCP fell into RTO backoff (its segments dropped again and again).
in_ns sh -c 'echo "4096 4096 4096" >/proc/sys/net/ipv4/tcp_wmem' || fail "tcp_wmem in $NS"
in_ns sh -c 'echo "4096 1048576 6291456" >/proc/sys/net/ipv4/tcp_rmem' || fail "tcp_rmem in $NS"

"$TRADES_GEN" --count "$NOREAD_COUNT" --instruments 64 --seed 21 --out "$T/noread.jsonl" \
	2>/dev/null || fail "trades-gen noread"
"$TRADES_GEN" --count "$OTHER_COUNT" --instruments 8 --seed 22 --out "$T/other.jsonl" \
	2>/dev/null || fail "trades-gen other"

# start_serve runs serve here; in the namespace through a wrapper that execs it there, so
# SERVE_PID is serve itself (ip netns exec execs its command).
cat >"$T/trades-ns" <<EOF
#!/bin/sh
exec ip netns exec "$NS" "$TRADES" "\$@"
EOF
chmod +x "$T/trades-ns"
TRADES_HOST=$TRADES
TRADES=$T/trades-ns start_serve s1 --tcp 127.0.0.1:0,ack,feed=noread --tcp 127.0.0.1:0,feed=other \
	--ack-interval 1 --state-dir "$T/s"
TRADES=$TRADES_HOST
port_of() { awk -v f="feed=$1" '$1=="listening" && $2=="tcp" && $4==f {n=split($3,a,":"); print a[n]}' "$T/s1.out"; }
P_NOREAD=$(port_of noread)
P_OTHER=$(port_of other)
[ -n "$P_NOREAD" ] && [ -n "$P_OTHER" ] || fail "no listening lines: $(cat "$T/s1.out")"

status_kb() { awk -v k="$1:" '$1==k {print $2}' "/proc/$SERVE_PID/status"; }
RSS0=$(status_kb VmRSS)
ANON0=$(status_kb RssAnon)
(
	end=$((SECONDS + 120)) # bounded: the whole test is far shorter
	while [ "$SECONDS" -lt "$end" ] && [ -r "/proc/$SERVE_PID/status" ]; do
		awk '$1=="VmRSS:" {r=$2} $1=="RssAnon:" {a=$2} END {if (r) print r, a}' \
			"/proc/$SERVE_PID/status" 2>/dev/null
		sleep 0.1
	done
) >"$T/rss.log" &
SAMPLER=$!

# The noread client, in three phases.  1: lines in small paced writes (20 lines, then 1 ms), so
# that nearly every read turn of the service has a new ack due, until serve's log shows the first
# dropped ack (its socket and the service's send buffer are full); then it marks "stuck".
# 2: the rest in writes of 100 lines, 0.5 ms apart (the other connection runs meanwhile), mark
# "sent", hold the connection open until "done", close.  Every wait is bounded (60 s).  Paced,
# not sendall of megabytes: bursts into a socket whose receive side is full and whose peer keeps
# ack bytes queued stalled the client's own TCP in RTO backoff (the service's ACKs to it lost),
# until --idle-timeout closed the connection; a client that does not read can hurt only itself.
cat >"$T/noread.py" <<'PY'
import os, socket, sys, time
port, path, d, log = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
def wait_for(name):
    end = time.monotonic() + 60
    while not os.path.exists(os.path.join(d, name)):
        if time.monotonic() > end:
            sys.exit(f"noread: no {name} within 60 s")
        time.sleep(0.02)
def mark(name):
    open(os.path.join(d, name), "w").close()
def dropped():
    with open(log, "rb") as f:
        return b"does not read its acks: ack dropped" in f.read()
data = open(path, "rb").read()
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)    # before connect: a small window
s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 18)  # its own sends: not the 4 KiB cap
s.connect(("127.0.0.1", port))
def send(off, lines, pause):
    nl = off
    for _ in range(lines):
        nl = data.index(b"\n", nl) + 1
        if nl == len(data):
            break
    s.sendall(data[off:nl])
    time.sleep(pause)
    return nl
off, writes, end = 0, 0, time.monotonic() + 60
while off < len(data):          # phase 1, bounded by the data and by 60 s
    off, writes = send(off, 20, 0.001), writes + 1
    if writes % 25 == 0 and (dropped() or time.monotonic() > end):
        break
lines = data.count(b"\n", 0, off)
if not dropped():
    sys.exit(f"noread: no ack dropped after {lines} lines")
print(f"noread: the first ack dropped within {lines} lines", file=sys.stderr)
mark("stuck")
while off < len(data):          # phase 2: each pass sends >= 1 line
    off = send(off, 100, 0.0005)
mark("sent")
wait_for("done")
s.close()   # never called recv
PY
# Not through in_ns (a function: its & would fork a subshell): $! is the client itself, as
# ip netns exec execs it, so cleanup_ns can end it.
ip netns exec "$NS" "$PY" "$T/noread.py" "$P_NOREAD" "$T/noread.jsonl" "$T" "$T/serve.err" \
	2>"$T/noread.err" &
NOREAD=$!

wait_file() { # wait_file NAME SECONDS
	local end=$((SECONDS + $2))
	while [ ! -e "$T/$1" ]; do
		kill -0 "$NOREAD" 2>/dev/null || fail "noread client exited early: $(cat "$T/noread.err")"
		[ "$SECONDS" -lt "$end" ] || fail "noread client: no $1 within $2 s"
		sleep 0.05
	done
}
# wait_feed FEED N SECONDS: until the feed's received reaches N (wall-clock bound).
wait_feed() {
	local got=0 end=$((SECONDS + $3))
	while :; do
		got=$("$TRADES" stat --state-dir "$T/s" --json | "$PY" -c '
import json, sys
print(sum(f["received"] for f in json.load(sys.stdin)["feeds"] if f["feed"] == sys.argv[1]))' "$1")
		[ "$got" -ge "$2" ] && return 0
		[ "$SECONDS" -lt "$end" ] || fail "feed $1: $got of $2 received after $3 s"
		sleep 0.1
	done
}

wait_file stuck 90 # phase 1 saw its first ack dropped
ANON1=$(status_kb RssAnon) # from here on acks pile up unread
grep -q 'does not read its acks: ack dropped' "$T/serve.err" || fail "no dropped-ack log line"
# While the noread connection is stuck: the other connection is served in full.
in_ns "$TRADES_GEN" --count "$OTHER_COUNT" --instruments 8 --seed 22 --tcp "127.0.0.1:$P_OTHER" \
	2>"$T/other.err" || fail "trades-gen --tcp to the other listener: $(cat "$T/other.err")"
wait_feed other "$OTHER_COUNT" 60
wait_file sent 120
wait_feed noread "$NOREAD_COUNT" 120
kill -0 "$SERVE_PID" || fail "serve died"
: >"$T/done"
wait "$NOREAD" || fail "noread client: $(cat "$T/noread.err")"
kill "$SAMPLER" 2>/dev/null || true
wait "$SAMPLER" 2>/dev/null || true
SAMPLER=
stop_serve

summary=$(grep 'INFO stopping:' "$T/serve.err" | tail -n 1)
dropped=$(sed -n 's/.* \([0-9][0-9]*\) acks dropped.*/\1/p' <<<"$summary")
[ -n "$dropped" ] || fail "no 'acks dropped' in the exit summary: $summary"
[ "$dropped" -gt 0 ] || fail "acks dropped is 0: $summary"

stat_json "$T/s" "$T/s.json"
"$PY" - "$T/s.json" "$NOREAD_COUNT" "$OTHER_COUNT" "$dropped" <<'PY' || fail "counts"
import json, sys
d = json.load(open(sys.argv[1]))
want = {"noread": int(sys.argv[2]), "other": int(sys.argv[3])}
errs = []
# The drops are in `stat` too (per feed, "source"), equal to the exit summary's.
src = {x["feed"]: x.get("source", {}) for x in d["feeds"]}
if src.get("noread", {}).get("acks_dropped", 0) <= 0:
    errs.append(f"stat: noread acks_dropped not > 0: {src.get('noread')}")
if sum(v.get("acks_dropped", 0) for v in src.values()) != int(sys.argv[4]):
    errs.append(f"stat: acks_dropped {src} != the exit summary's {sys.argv[4]}")
for name, n in want.items():
    f = [x for x in d["feeds"] if x["feed"] == name]
    if not f:
        errs.append(f"no feed {name}")
        continue
    f = f[0]
    if f["received"] != f["accepted"] + f["duplicates"] + f["malformed"] + f["store_failed"]:
        errs.append(f"{name}: identity broken: {f}")
    if f["received"] != n or f["accepted"] != n:
        errs.append(f"{name}: received {f['received']} accepted {f['accepted']}, want {n}")
print("; ".join(errs) or "counts ok")
sys.exit(1 if errs else 0)
PY

jbytes=$(du -sk "$T/s/journal" | awk '{print $1}')
read -r peak_rss peak_anon < <(awk 'BEGIN {r=0; a=0} $1>r {r=$1} $2>a {a=$2} END {print r, a}' "$T/rss.log")
samples=$(wc -l <"$T/rss.log")
bound=$((RSS0 + jbytes + RSS_SLACK_MB * 1024))
echo "VmRSS: $RSS0 kB at start, peak $peak_rss kB over $samples samples" \
	"(bound $bound kB = start + journal $jbytes kB + $RSS_SLACK_MB MiB);" \
	"RssAnon: $ANON0 kB at start, $ANON1 kB at the first dropped ack, peak $peak_anon kB" \
	"(bound: start + $ANON_SLACK_MB MiB)"
[ "$samples" -ge 5 ] || fail "only $samples RSS samples"
[ "$peak_rss" -le "$bound" ] || fail "VmRSS peaked at $peak_rss kB, over $bound kB"
[ $((peak_anon - ANON0)) -le $((ANON_SLACK_MB * 1024)) ] ||
	fail "RssAnon grew by $((peak_anon - ANON0)) kB"
echo "PASS ack-noread: $NOREAD_COUNT + $OTHER_COUNT accepted, $dropped acks dropped"
