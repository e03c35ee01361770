#!/usr/bin/env bash
# test_busy_poll.sh IO -- serve --busy-poll (issue 13, latency) with --io IO (uring | epoll):
#   1. TRADES_BUSY_POLL other than 1 or 0 is a usage error (exit 2) naming the variable;
#   2. an idle busy poller keeps its core busy (it polls, it does not sleep): at least 0.5 s
#      of CPU in 2 s, where the same serve without it takes less than 0.2 s;
#   3. trades over TCP and over UDP arrive whole: exact totals, nothing lost, a clean stop;
#   4. TRADES_BUSY_POLL=1 turns it on as the flag does.
source "$(dirname "$0")/lib.sh"
IO=${1:?uring|epoll}
N=20000
CLK_TCK=$(getconf CLK_TCK)

# cpu_s PID: user + system seconds of the process so far (from /proc/PID/stat)
cpu_s() {
	"$PY" -c 'import sys; f=open("/proc/%s/stat" % sys.argv[1]).read().rsplit(")",1)[1].split(); print((int(f[11])+int(f[12]))/int(sys.argv[2]))' "$1" "$CLK_TCK"
}

# idle_cpu: CPU seconds serve (SERVE_PID) takes in 2 s without traffic
idle_cpu() {
	local a b
	a=$(cpu_s "$SERVE_PID")
	sleep 2
	b=$(cpu_s "$SERVE_PID")
	"$PY" -c "print(round($b - $a, 3))"
}

# 1. a bad value
rc=0
TRADES_BUSY_POLL=yes "$TRADES" serve --udp 127.0.0.1:0 --state-dir "$T/bad" 2>"$T/bad.err" || rc=$?
[ "$rc" -eq 2 ] || fail "TRADES_BUSY_POLL=yes: exit $rc, want 2 (usage)"
grep -q "TRADES_BUSY_POLL 'yes'" "$T/bad.err" || fail "the error does not name TRADES_BUSY_POLL: $(cat "$T/bad.err")"
[ ! -e "$T/bad/trades.state" ] || fail "a usage error created a state file"

# 2. idle: the sleeping loop, then the busy one
start_serve quiet --io "$IO" --udp 127.0.0.1:0 --state-dir "$T/q"
quiet=$(idle_cpu)
stop_serve
start_serve tcp --io "$IO" --busy-poll --tcp 127.0.0.1:0 --state-dir "$T/tcp"
grep -q "io: $IO" "$T/serve.err" || fail "serve did not report 'io: $IO'"
busy=$(idle_cpu)
echo "idle CPU in 2 s: $quiet s sleeping, $busy s --busy-poll"
"$PY" -c "import sys; sys.exit(0 if $quiet < 0.2 else 1)" || fail "serve without --busy-poll took $quiet s of CPU in 2 idle s"
"$PY" -c "import sys; sys.exit(0 if $busy >= 0.5 else 1)" || fail "serve --busy-poll took only $busy s of CPU in 2 idle s: it sleeps"

# 3. TCP: exact totals
"$TRADES_GEN" --count "$N" --instruments 16 --seed 3 --tcp "127.0.0.1:$TCP_PORT" \
	--totals "$T/tcp.totals.json" 2>"$T/gen.err" || fail "gen: $(cat "$T/gen.err")"
wait_received "$T/tcp" "$N" 60
stop_serve
stat_json "$T/tcp" "$T/tcp.stat.json"
"$PY" "$HERE/compare.py" totals "$T/tcp.totals.json" "$T/tcp.stat.json" \
	--received "$N" --accepted "$N" --duplicates 0 --malformed 0 || fail "tcp: state != generator totals"
check_clean "$T/tcp.stat.json"

# 3, 4. UDP, turned on from the environment: 20,000 lines (about 2 MB) fit the receive buffer
# at once, so no datagram can be dropped whatever the timing
"$TRADES_GEN" --count "$N" --instruments 16 --seed 4 --out "$T/udp.jsonl" \
	--totals "$T/udp.totals.json" 2>"$T/gen.err" || fail "gen: $(cat "$T/gen.err")"
TRADES_BUSY_POLL=1 start_serve udp --io "$IO" --udp 127.0.0.1:0 --state-dir "$T/udp"
busy=$(idle_cpu)
"$PY" -c "import sys; sys.exit(0 if $busy >= 0.5 else 1)" || fail "TRADES_BUSY_POLL=1: only $busy s of CPU in 2 idle s"
"$PY" - "$UDP_PORT" "$T/udp.jsonl" <<'PY' || fail "udp sender"
import socket, sys
port, path = int(sys.argv[1]), sys.argv[2]
grams, cur = [], b""
for ln in open(path, "rb").read().splitlines(keepends=True):
    if len(cur) + len(ln) > 1400:
        grams.append(cur)
        cur = b""
    cur += ln
grams.append(cur)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for g in grams:
    u.sendto(g, ("127.0.0.1", port))
PY
wait_received "$T/udp" "$N" 60
stop_serve
stat_json "$T/udp" "$T/udp.stat.json"
"$PY" "$HERE/compare.py" totals "$T/udp.totals.json" "$T/udp.stat.json" \
	--received "$N" --accepted "$N" --duplicates 0 --malformed 0 || fail "udp: state != generator totals"
check_clean "$T/udp.stat.json"
echo "PASS busy-poll ($IO)"
