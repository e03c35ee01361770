#!/usr/bin/env bash
# tests/image/test_unit_systemd.sh BUILD_DIR -- deploy/trades.service under a real systemd.
#
# The CI VMs do not run systemd as PID 1, so the unit is tested in a podman container that does
# (--systemd=always; --privileged because the unit's sandbox needs mount namespaces): the host-built
# binaries are installed to /usr/local/bin with the unit and /etc/default/trades, then checked:
# systemd-analyze verify, the service starts (DynamicUser, StateDirectory), io_uring works under the
# unit's SystemCallFilter, no capabilities, NoNewPrivs, trades flow and match trades-gen's totals,
# SIGTERM stop is a clean exit 0, state survives a restart, `trades health` passes.
#
# Uses the cached base image (localhost/debian:bookworm-slim) and podman storage of
# tests/image/test_image.sh: run that first.  ~25 s warm.  Needs podman [podman], runc [runc], the
# CNI plugins [containernetworking-plugins], iptables [iptables], python3 [python3], each checked
# first; TRADES_IMAGE_NO_CACHE=1 builds with --no-cache (as in test_image.sh).
set -uo pipefail
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${1:-${BUILD:-}}
CACHE=${TRADES_CI_CACHE:-/var/cache/trades-ci}
BASE_IMAGE=localhost/debian:bookworm-slim
IMAGE=localhost/trades-systemd-test:dev
C=trades-systemd
T0=$(date +%s)
log() { printf '[%4ss] %s\n' "$(( $(date +%s) - T0 ))" "$*"; }
die() { log "FATAL: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root"
# shellcheck source=lib.sh
source "$SRC/tests/image/lib.sh"
need_podman
need_tool python3 python3
[ -n "$BUILD" ] && [ -x "$BUILD/trades" ] && [ -x "$BUILD/trades-gen" ] || die "usage: $0 BUILD_DIR (with trades, trades-gen)"
# shellcheck source=../../deploy/podman/env.sh
source "$SRC/deploy/podman/env.sh" "$CACHE/podman"
podman image exists "$BASE_IMAGE" || die "$BASE_IMAGE missing: run tests/image/test_image.sh first"

CTX=$(mktemp -d "$TMPDIR/test-unit.XXXXXX")
cleanup() { podman rm -f -t 5 "$C" >/dev/null 2>&1; rm -rf "$CTX"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
podman rm -f -t 2 "$C" >/dev/null 2>&1

PASSED=() FAILED=()
pass() { PASSED+=("$1"); printf 'PASS %s%s\n' "$1" "${2:+ ($2)}"; }
fail() { FAILED+=("$1"); printf 'FAIL %s%s\n' "$1" "${2:+ ($2)}"; }
check() { local n=$1; shift; if "$@"; then pass "$n"; else fail "$n"; fi; }
wait_for() {
	local deadline=$(( $(date +%s) + $1 )); shift
	until "$@" >/dev/null 2>&1; do [ "$(date +%s)" -lt "$deadline" ] || return 1; sleep 0.25; done
}
X() { podman exec "$C" "$@"; }

cp "$BUILD/trades" "$BUILD/trades-gen" "$SRC/deploy/trades.service" "$SRC/deploy/trades.default" "$CTX/"
# Runtime libraries of the host build (same Debian release), found like the Dockerfile does.
pkgs=$(ldd "$BUILD/trades" "$BUILD/trades-gen" | awk '$2 == "=>" && $3 ~ /^\// {print $3}' | sort -u |
	while read -r l; do dpkg -S "$l" 2>/dev/null || dpkg -S "/usr$l" 2>/dev/null || dpkg -S "$(readlink -f "$l")"; done |
	cut -d: -f1 | sort -u | tr '\n' ' ')
cat > "$CTX/Containerfile" <<EOF
FROM $BASE_IMAGE
RUN apt-get update && apt-get install -y --no-install-recommends systemd systemd-sysv dbus python3 $pkgs \
 && rm -rf /var/lib/apt/lists/*
COPY trades trades-gen /usr/local/bin/
COPY trades.service /etc/systemd/system/trades.service
COPY trades.default /etc/default/trades
RUN systemctl enable trades && systemctl mask getty@tty1.service console-getty.service systemd-logind.service
CMD ["/sbin/init"]
EOF
log "building $IMAGE (systemd + runtime packages: $pkgs)"
# Same network options as the image build (tests/image/lib.sh: host network, mirror names).
build_net_args "$(debian_mirror)"
CACHE_OPT=()
[ "${TRADES_IMAGE_NO_CACHE:-0}" = 1 ] && CACHE_OPT=(--no-cache)
timeout --foreground 600 podman build --layers "${CACHE_OPT[@]}" "${BUILD_NET[@]}" -t "$IMAGE" "$CTX" \
	> "$CTX/build.log" 2>&1 || { tail -30 "$CTX/build.log"; die "build failed"; }
apt_errors=$(grep -E '^(Err:|W: Failed to fetch|E: )|Temporary failure resolving|Could not resolve' "$CTX/build.log")
[ -z "$apt_errors" ] || { head -c 600 <<<"$apt_errors"; die "apt in the build did not reach the mirror"; }

podman run -d --name "$C" --systemd=always --privileged "$IMAGE" >/dev/null 2>"$CTX/run.err" \
	|| die "podman run: $(cat "$CTX/run.err")"
check systemd-pid1-running wait_for 60 bash -c "podman exec $C systemctl is-system-running | grep -qE 'running|degraded'"
check unit-verify X systemd-analyze verify /etc/systemd/system/trades.service
check unit-active wait_for 30 bash -c "podman exec $C systemctl is-active trades | grep -qx active"
check unit-ready wait_for 30 bash -c "podman exec $C journalctl -u trades --no-pager | grep -q 'ready'"
X journalctl -u trades --no-pager -o cat | grep -E 'io: |io_uring|listening|WARN' | sed 's/^/  | /'
check unit-io-uring bash -c "podman exec $C journalctl -u trades --no-pager | grep -q 'io: uring'"
check unit-state-dir X test -f /var/lib/private/trades/trades.state
pid=$(X systemctl show trades -p MainPID --value)
st=$(X cat "/proc/$pid/status")
uid=$(awk '/^Uid:/{print $2}' <<<"$st")
if [ -n "$uid" ] && [ "$uid" != 0 ]; then pass unit-dynamic-user "uid $uid"; else fail unit-dynamic-user "uid '$uid'"; fi
check unit-no-capabilities grep -qx $'CapEff:\t0000000000000000' <<<"$st"
check unit-no-new-privs    grep -qx $'NoNewPrivs:\t1' <<<"$st"
check unit-seccomp         grep -qx $'Seccomp:\t2' <<<"$st"

X trades-gen --count 20000 --seed 3 --instruments 16 --tcp 127.0.0.1:7001 --totals /root/totals.json >/dev/null 2>&1
check unit-all-accepted wait_for 30 bash -c "[ \"\$(podman exec $C trades stat --state-dir /var/lib/trades --json | python3 -c 'import json,sys; print(sum(f[\"accepted\"] for f in json.load(sys.stdin)[\"feeds\"]))')\" = 20000 ]"
cmp_totals='import json,sys
t={i["pair"]:i for i in json.load(open("/root/totals.json"))["instruments"]}
s={i["pair"]:i for i in json.load(sys.stdin)["instruments"]}
bad=[p for p in t if any(str(t[p][k])!=str(s.get(p,{}).get(k)) for k in t[p] if k in s.get(p,{}) or k=="trades")]
print("  compared %d instruments, mismatches: %s" % (len(t), bad[:5])); sys.exit(1 if bad or not t else 0)'
check unit-totals-exact bash -c "podman exec $C trades stat --state-dir /var/lib/trades --json | podman exec -i $C python3 -c '$cmp_totals'"
check unit-health X trades health --state-dir /var/lib/trades
X systemctl stop trades
check unit-stop-clean bash -c "[ \"\$(podman exec $C systemctl show trades -p Result --value)\" = success ] && [ \"\$(podman exec $C systemctl show trades -p ExecMainStatus --value)\" = 0 ]"
X systemctl start trades
check unit-restart-active wait_for 30 bash -c "podman exec $C trades health --state-dir /var/lib/trades"
check unit-state-survived bash -c "podman exec $C trades stat --state-dir /var/lib/trades --json | podman exec -i $C python3 -c '$cmp_totals'"

log "${#PASSED[@]} passed, ${#FAILED[@]} failed"
[ ${#FAILED[@]} -eq 0 ] || { printf 'FAILED: %s\n' "${FAILED[*]}"; exit 1; }
echo "ALL UNIT CHECKS PASSED"
exit 0
