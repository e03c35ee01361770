#!/usr/bin/env bash
# test_privdrop.sh -- `serve --user NAME` as root: after start-up the service
# runs as a throwaway system user with no capability (Uid/Gid/CapEff/CapPrm/
# CapBnd in /proc/PID/status, no_new_privs), still ingests every trade
# (totals exact), and the state directory and its files are the user's (0700).
# A state directory another user owns is refused (exit 3); --user without
# root is a usage error; --dpdk (net_pcap, --no-huge) drops the same way.
source "$(dirname "$0")/lib.sh"
[ "$(id -u)" -eq 0 ] || fail "test_privdrop needs root (it switches users)"
need_tool useradd passwd
need_tool userdel passwd
U=trades-pd-$$
useradd --system --no-create-home --shell /usr/sbin/nologin "$U" || fail "useradd $U"
trap 'userdel "$U" 2>/dev/null || true; cleanup' EXIT
UID_U=$(id -u "$U")
GID_U=$(id -g "$U")
chmod 0711 "$T" # the user must reach its state directory inside the root-owned temp dir

# status_check PID: the process runs as U with nothing left.
status_check() {
	local st=/proc/$1/status
	awk '$1=="Uid:"{print $2,$3,$4,$5}' "$st" | grep -qx "$UID_U $UID_U $UID_U $UID_U" ||
		fail "Uid: $(grep ^Uid: "$st"), want $UID_U"
	awk '$1=="Gid:"{print $2,$3,$4,$5}' "$st" | grep -qx "$GID_U $GID_U $GID_U $GID_U" ||
		fail "Gid: $(grep ^Gid: "$st"), want $GID_U"
	awk '$1=="Groups:"{print $2}' "$st" | grep -qx "$GID_U" || fail "$(grep ^Groups: "$st")"
	for f in CapEff CapPrm CapInh CapBnd CapAmb; do
		grep -q "^$f:[[:space:]]*0000000000000000$" "$st" || fail "$(grep "^$f:" "$st"), want 0"
	done
	grep -q '^NoNewPrivs:[[:space:]]*1$' "$st" || fail "$(grep ^NoNewPrivs: "$st"), want 1"
	for t in /proc/"$1"/task/*; do # every thread, not only the main one
		grep -q '^CapEff:[[:space:]]*0000000000000000$' "$t/status" || fail "thread $t keeps caps"
	done
}
owned_check() { # DIR: the directory and every file in it are U's, the directory 0700
	[ "$(stat -c '%U %a' "$1")" = "$U 700" ] || fail "$1: $(stat -c '%U %a' "$1"), want $U 700"
	[ -z "$(find "$1" ! -user "$U")" ] || fail "not $U's: $(find "$1" ! -user "$U" | head -3)"
}

# 1. Sockets (io_uring, then epoll), state dir created by root at start.
N=20000
for io in uring epoll; do
	start_serve "s-$io" --tcp 127.0.0.1:0 --io "$io" --state-dir "$T/st-$io" --user "$U"
	grep -q "privileges: running as user $U (uid $UID_U, gid $GID_U), capabilities kept: none" \
		"$T/serve.err" || fail "no privileges line"
	status_check "$SERVE_PID"
	"$TRADES_GEN" --count "$N" --instruments 16 --seed 5 --tcp "127.0.0.1:$TCP_PORT" \
		--connections 2 --totals "$T/tot.json" 2>"$T/gen.err" || fail "gen: $(cat "$T/gen.err")"
	wait_received "$T/st-$io" "$N" 60
	stop_serve
	stat_json "$T/st-$io" "$T/stat.json"
	"$PY" "$HERE/compare.py" totals "$T/tot.json" "$T/stat.json" --received "$N" --accepted "$N" \
		--duplicates 0 --malformed 0 || fail "$io: state != generator totals"
	owned_check "$T/st-$io"
done

# 2. TRADES_USER and a restart on the user's existing state (segment roll as U).
TRADES_USER=$U start_serve s-env --tcp 127.0.0.1:0 --state-dir "$T/st-uring" --segment-size 1Mi
status_check "$SERVE_PID"
stop_serve
owned_check "$T/st-uring"

# 3. A state directory another (non-root) user owns is refused, untouched.
mkdir -p "$T/other" && chown nobody "$T/other"
rc=0
"$TRADES" serve --tcp 127.0.0.1:0 --state-dir "$T/other" --user "$U" >/dev/null 2>"$T/err" || rc=$?
[ "$rc" -eq 3 ] || fail "state dir owned by nobody: exit $rc, want 3 ($(cat "$T/err"))"
grep -q "is owned by uid $(id -u nobody), not by --user $U" "$T/err" || fail "message: $(cat "$T/err")"

# 4. Usage errors: no such user; --user without root.
rc=0
"$TRADES" serve --tcp 127.0.0.1:0 --state-dir "$T/x" --user no-such-user-$$ 2>"$T/err" || rc=$?
[ "$rc" -eq 2 ] && grep -q "no such user" "$T/err" || fail "unknown user: exit $rc: $(cat "$T/err")"
rc=0
setpriv --reuid "$UID_U" --regid "$GID_U" --clear-groups "$TRADES" serve --tcp 127.0.0.1:0 \
	--state-dir "$T/st-uring" --user root 2>"$T/err" || rc=$?
[ "$rc" -eq 2 ] && grep -q "needs root" "$T/err" || fail "--user without root: exit $rc: $(cat "$T/err")"

# 5. --dpdk: net_pcap from a capture, --no-huge; no capability needed after EAL init.
if "$TRADES" version 2>/dev/null | grep -q 'dpdk=yes'; then
	"$TRADES_GEN" --count 3000 --instruments 5 --seed 3 --out "$T/j.jsonl" --totals "$T/j.json" \
		2>"$T/gen.err" || fail "gen jsonl"
	"$TRADES_GEN" --format moldudp64 --count 2000 --instruments 4 --seed 9 --pcap "$T/m.pcap" \
		--totals "$T/m.json" 2>"$T/gen.err" || fail "gen mold"
	"$PY" "$HERE/dpdk_frames.py" "$T/m.pcap" "$T/j.jsonl" "$T/all.pcap" "$T/expect.json" ||
		fail "dpdk_frames.py"
	FRAMES=$("$PY" -c "import json; print(json.load(open('$T/expect.json'))['frames'])")
	"$TRADES" serve --dpdk "--no-huge -m 512 --no-pci --no-shconf --vdev=net_pcap0,rx_pcap=$T/all.pcap" \
		--dpdk-mold 26477,group=233.54.12.111,feed=p --dpdk-jsonl 7002,feed=j --dpdk-idle-us 500 \
		--itch-midnight 2025-01-02T00:00:00-05:00 --state-dir "$T/st-dpdk" --user "$U" \
		>"$T/d.out" 2>"$T/serve.err" &
	SERVE_PID=$!
	SERVE_PID_D=$SERVE_PID
	got=0
	for i in $(seq 1 150); do # 30 s
		kill -0 "$SERVE_PID" 2>/dev/null || fail "dpdk serve exited"
		got=$("$TRADES" stat --state-dir "$T/st-dpdk" --json 2>/dev/null | "$PY" -c '
import json, sys
f = [x for x in json.load(sys.stdin)["feeds"] if x["feed"] == "dpdk:port0"]
print(f[0]["decoder"].get("port_ipackets", 0) if f else 0)' 2>/dev/null || echo 0)
		[ "$got" -ge "$FRAMES" ] && break
		sleep 0.2
	done
	[ "$got" -ge "$FRAMES" ] || fail "dpdk: port saw $got of $FRAMES frames"
	grep -q "privileges: running as user $U .*capabilities kept: none" "$T/serve.err" ||
		fail "dpdk: no privileges line"
	status_check "$SERVE_PID"
	sleep 0.3
	stop_serve
	stat_json "$T/st-dpdk" "$T/dstat.json"
	"$PY" - "$T/m.json" "$T/j.json" "$T/both.json" <<'PY'
import json, sys
a, b = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
json.dump({"instruments": a["instruments"] + b["instruments"]}, open(sys.argv[3], "w"))
PY
	"$PY" "$HERE/compare.py" totals "$T/both.json" "$T/dstat.json" --feed j --duplicates 0 ||
		fail "dpdk: state != the generators' totals"
	# Known limit (README "Least privilege"): /var/run/dpdk is root's 0700, so the
	# unprivileged service cannot remove its runtime dir at exit: we do.
	rm -rf "/var/run/dpdk/trades-$SERVE_PID_D"
	owned_check "$T/st-dpdk"
fi
# 6. --kraken (TLS WebSocket + REST on loopback, the servers of test_kraken.sh): no capability.
if ! "$TRADES" serve --kraken BTC/USD --help 2>&1 | grep -q 'needs a build'; then
	need_tool openssl openssl
	TOOLS="$SRCDIR/tests/tools"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$T/key.pem" \
		-out "$T/cert.pem" -days 2 -subj /CN=localhost \
		-addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null || fail "openssl req"
	chmod 0644 "$T/cert.pem"
	"$PY" "$TOOLS/kraken_fixtures.py" "$T"
	"$PY" "$TOOLS/kraken_ws_server.py" --cert "$T/cert.pem" --key "$T/key.pem" \
		--scenario "$T/restart.scenario" --timeout 30 >"$T/ws.out" 2>"$T/ws.err" &
	WS_PID=$!
	for i in $(seq 1 100); do grep -q '^port ' "$T/ws.out" && break; sleep 0.05; done
	WS_PORT=$(awk '$1=="port" {print $2; exit}' "$T/ws.out")
	[ -n "$WS_PORT" ] || fail "kraken_ws_server.py did not start: $(cat "$T/ws.err")"
	start_serve k --kraken BTC/USD --kraken-url "wss://localhost:$WS_PORT/v2" \
		--tls-ca "$T/cert.pem" --state-dir "$T/st-k" --user "$U"
	st=
	for i in $(seq 1 150); do # 15 s
		st=$("$TRADES" stat --state-dir "$T/st-k" --json 2>/dev/null || true)
		[[ "$st" =~ \"feed\":\"kraken:BTC/USD\",\"received\":[1-9] ]] && break
		sleep 0.1
	done
	[[ "$st" =~ \"feed\":\"kraken:BTC/USD\",\"received\":[1-9] ]] || fail "kraken: nothing received"
	status_check "$SERVE_PID"
	stop_serve
	kill "$WS_PID" 2>/dev/null || true
	wait "$WS_PID" 2>/dev/null || true
	owned_check "$T/st-k"
fi
echo "PASS privdrop: user $U, no capabilities (sockets, dpdk, kraken)"
