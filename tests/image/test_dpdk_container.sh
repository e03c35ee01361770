#!/usr/bin/env bash
# tests/image/test_dpdk_container.sh BUILD_DIR -- `trades serve --dpdk` inside the privileged
# container, with the image's own DPDK and net_pcap PMD replaying a capture trades-gen wrote on
# the host: once with --no-huge (-m 512), once on hugepages reserved on the host
# (deploy/dpdk-setup.sh) and mounted at /dev/hugepages (--in-memory --huge-dir).  Each run: the
# port sees every frame, SIGTERM stops it with exit 0, and the state it left matches the
# generator's totals exactly.
#
# Uses the image and podman storage of tests/image/test_image.sh (run that first):
# IMAGE (default trades:dev), TRADES_CI_CACHE (default /var/cache/trades-ci).
set -uo pipefail
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${1:-${BUILD:-}}
CACHE=${TRADES_CI_CACHE:-/var/cache/trades-ci}
IMAGE=${IMAGE:-trades:dev}
C=trades-dpdk
HP_FILE=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
T0=$(date +%s)
log() { printf '[%4ss] %s\n' "$(($(date +%s) - T0))" "$*"; }
die() {
	log "FATAL: $*"
	exit 1
}

[ "$(id -u)" = 0 ] || die "run as root (podman storage, hugepages)"
[ -n "$BUILD" ] && [ -x "$BUILD/trades" ] && [ -x "$BUILD/trades-gen" ] ||
	die "usage: $0 BUILD_DIR (with trades, trades-gen)"
BUILD=$(cd "$BUILD" && pwd)
# shellcheck source=../../deploy/podman/env.sh
source "$SRC/deploy/podman/env.sh" "$CACHE/podman"
podman image exists "$IMAGE" || die "$IMAGE missing: run tests/image/test_image.sh first"

WORK=$(mktemp -d "$TMPDIR/test-dpdk.XXXXXX")
chmod 0755 "$WORK"
HP_OLD=$(cat "$HP_FILE" 2>/dev/null || echo 0)
HUGE_MINE=0
cleanup() {
	podman rm -f -t 5 "$C" >/dev/null 2>&1
	if [ "$HUGE_MINE" = 1 ]; then
		umount "$WORK/hugetlbfs" 2>/dev/null
		echo "$HP_OLD" >"$HP_FILE" 2>/dev/null
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
podman rm -f -t 2 "$C" >/dev/null 2>&1

PASSED=() FAILED=()
pass() {
	PASSED+=("$1")
	printf 'PASS %s%s\n' "$1" "${2:+ ($2)}"
}
fail() {
	FAILED+=("$1")
	printf 'FAIL %s%s\n' "$1" "${2:+ ($2)}"
}

version=$(podman run --rm --no-healthcheck "$IMAGE" trades version 2>&1)
if grep -q 'dpdk=yes' <<<"$version"; then
	pass image-has-dpdk "$(grep '^dpdk:' <<<"$version")"
else
	fail image-has-dpdk "$version"
fi

"$BUILD/trades-gen" --format moldudp64 --count 20000 --instruments 12 --seed 9 \
	--pcap "$WORK/m.pcap" --totals "$WORK/m.json" 2>"$WORK/gen.err" || die "trades-gen: $(cat "$WORK/gen.err")"
FRAMES=$(sed -n 's/.*pcap \([0-9]*\) packets.*/\1/p' "$WORK/gen.err" | head -n 1)
[ -n "$FRAMES" ] || die "no packet count from trades-gen: $(cat "$WORK/gen.err")"

# port_ipackets NAME: the port's packet count in the state, read from the host.
port_ipackets() {
	"$BUILD/trades" stat --state-dir "$WORK/$1" --json 2>/dev/null | python3 -c '
import json, sys
f = [x for x in json.load(sys.stdin)["feeds"] if x["feed"] == "dpdk:port0"]
print(f[0]["decoder"].get("port_ipackets", 0) if f else 0)' 2>/dev/null || echo 0
}

# privdrop_check NAME: the service (PID 1 of the running container) runs as app (10001) with no
# capability permitted, effective or in its bounding set, and no_new_privs; its state is app's.
privdrop_check() {
	local st
	st=$(podman exec "$C" cat /proc/1/status 2>&1)
	if awk '/^Uid:/{u=($2==10001&&$3==10001&&$4==10001)} /^Cap(Eff|Prm|Bnd|Amb):/{if($2!="0000000000000000")c=1}
		/^NoNewPrivs:/{n=($2==1)} END{exit !(u&&!c&&n)}' <<<"$st"; then
		pass "$1-privdrop" "uid 10001, no capabilities"
	else
		fail "$1-privdrop" "$(grep -E '^(Uid|Cap|NoNew)' <<<"$st" | tr '\n' ' ')"
	fi
	if [ "$(stat -c %u "$WORK/$1")" = 10001 ]; then pass "$1-state-owned"; else
		fail "$1-state-owned" "$(stat -c %u "$WORK/$1")"
	fi
}

# run_mode NAME "EAL ARGS" [podman run options...]: serve --dpdk in the privileged container
# (started as root inside: DPDK maps memory and opens devices; then --user app: uid 10001 and no
# capability left once the EAL and the port are up), state on the host in $WORK/NAME.
run_mode() {
	local name=$1 eal=$2 i got=0 rc hp hp_min
	shift 2
	hp_min=$(cat /sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages)
	mkdir -p "$WORK/$name"
	if ! podman run -d --name "$C" --no-healthcheck --privileged --user root -v "$WORK:/data" "$@" \
		"$IMAGE" trades serve --dpdk "$eal --no-pci --vdev=net_pcap0,rx_pcap=/data/m.pcap" \
		--dpdk-mold 26477,feed=c --dpdk-idle-us 500 --itch-midnight 2025-01-02T00:00:00-05:00 \
		--book-orders 1Mi --state-dir "/data/$name" --user app >/dev/null 2>"$WORK/$name.run.err"; then
		fail "$name-start" "$(cat "$WORK/$name.run.err")"
		return
	fi
	for i in $(seq 1 300); do # 60 s
		hp=$(cat /sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages)
		[ "$hp" -ge "$hp_min" ] || hp_min=$hp
		got=$(port_ipackets "$name")
		[ "$got" -ge "$FRAMES" ] && break
		[ "$(podman inspect --format '{{.State.Running}}' "$C" 2>/dev/null)" = true ] || break
		sleep 0.2
	done
	HP_MIN=$hp_min
	privdrop_check "$name"
	if [ "$got" -ge "$FRAMES" ]; then pass "$name-frames" "$got of $FRAMES"; else
		fail "$name-frames" "$got of $FRAMES; $(podman logs "$C" 2>&1 | tail -n 5)"
	fi
	sleep 0.3
	podman stop -t 30 "$C" >/dev/null 2>&1
	rc=$(podman inspect --format '{{.State.ExitCode}}' "$C" 2>/dev/null)
	podman logs "$C" >"$WORK/$name.log" 2>&1
	podman rm -f "$C" >/dev/null 2>&1
	if [ "$rc" = 0 ]; then pass "$name-stop-exit-0"; else fail "$name-stop-exit-0" "exit $rc"; fi
	if grep -q "dpdk: port net_pcap0: ipackets $FRAMES," "$WORK/$name.log"; then
		pass "$name-port-stats-logged"
	else
		fail "$name-port-stats-logged" "$(grep dpdk "$WORK/$name.log" | tail -n 3)"
	fi
	"$BUILD/trades" stat --state-dir "$WORK/$name" --json >"$WORK/$name.json" 2>&1
	if python3 "$SRC/tests/integration/compare.py" totals "$WORK/m.json" "$WORK/$name.json" \
		--feed c --duplicates 0 >"$WORK/$name.cmp" 2>&1; then
		pass "$name-totals" "$(grep totals: "$WORK/$name.cmp")"
	else
		fail "$name-totals" "$(tail -n 5 "$WORK/$name.cmp")"
	fi
}

log "(1) --no-huge -m 512"
run_mode nohuge "--no-huge -m 512"

log "(2) hugepages from the host at /dev/hugepages"
# 128 pages of our own on top of whatever the host holds (other tests may hold some), on a
# mount of our own; the count is put back at exit.
HUGE_MINE=1
"$SRC/deploy/dpdk-setup.sh" --hugepages $((HP_OLD + 128)) --huge-dir "$WORK/hugetlbfs" >"$WORK/setup.out" 2>&1 ||
	die "dpdk-setup.sh: $(cat "$WORK/setup.out")"
HUGE_DIR=$WORK/hugetlbfs
FREE=$(cat /sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages)
[ "$FREE" -ge 64 ] || die "only $FREE free hugepages"
run_mode huge "--in-memory --huge-dir=/dev/hugepages" -v "$HUGE_DIR:/dev/hugepages"
if [ "$HP_MIN" -lt "$FREE" ]; then
	pass huge-pages-used "free hugepages $FREE -> $HP_MIN while it ran"
else
	fail huge-pages-used "free hugepages stayed at $FREE: DPDK did not map any"
fi

log "${#PASSED[@]} passed, ${#FAILED[@]} failed"
[ "${#FAILED[@]}" -eq 0 ]
