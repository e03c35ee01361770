#!/usr/bin/env bash
# tests/image/test_trace_container.sh BUILD_DIR -- trades-trace against `trades serve` in the
# image, two ways:
#   host       the host's BUILD_DIR/bpf/trades-trace -p <host PID of the container's service>,
#              the container unprivileged (default seccomp: epoll fallback)
#   inside     the image's own /app/bin/trades-trace, run as root by `podman exec` in a
#              --privileged container, against the service's PID as that container sees it
# Each attaches with --json while trades-gen on the host sends trades to the container (host
# network, port 0), and requires the final line's trades to equal what the service accepted.
#
# Needs root, podman, the image test's cache: the base image `localhost/debian:bookworm-slim`
# is built by tests/image/test_image.sh (the `image` test, which meson runs first); this script
# (re)builds trades:dev from it with podman's layer cache.  TRADES_CI_CACHE as there.
# Prints PASS/FAIL per check; exit 0 only if every check passed.
set -uo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${1:-${BUILD:-}}
CACHE=${TRADES_CI_CACHE:-/var/cache/trades-ci}
BASE_IMAGE=localhost/debian:bookworm-slim
IMAGE=trades:dev
COUNT=${TRADES_IMAGE_COUNT:-20000}

die() { echo "FATAL: $*"; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (podman, BPF)"
for p in podman python3; do command -v "$p" >/dev/null || die "missing $p (Debian package $p)"; done
[ -n "$BUILD" ] || die "usage: $0 BUILD_DIR"
BUILD=$(cd "$BUILD" && pwd) || die "no build dir"
GEN=$BUILD/trades-gen TRACE=$BUILD/bpf/trades-trace TRADES=$BUILD/trades
for b in "$GEN" "$TRACE" "$TRADES"; do [ -x "$b" ] || die "$b not built (meson -Dbpf=enabled)"; done
# shellcheck source=../../deploy/podman/env.sh
source "$SRC/deploy/podman/env.sh" "$CACHE/podman"
podman image exists "$BASE_IMAGE" ||
	die "$BASE_IMAGE missing in $CACHE: run tests/image/test_image.sh first (the 'image' test)"

WORK=$(mktemp -d "$TMPDIR/test-trace-container.XXXXXX")
CONTAINERS=(trades-trace-host trades-trace-priv)
remove_containers() { for c in "${CONTAINERS[@]}"; do podman rm -f -t 5 "$c" >/dev/null 2>&1; done; }
cleanup() {
	remove_containers
	rm -rf "$WORK"
}
trap cleanup EXIT
remove_containers # left by an interrupted run

FAILED=0
pass() { printf 'PASS %s%s\n' "$1" "${2:+ ($2)}"; }
fail() { FAILED=$((FAILED + 1)); printf 'FAIL %s%s\n' "$1" "${2:+ ($2)}"; }

if timeout --foreground 900 podman build --format docker --layers \
	--ignorefile "$SRC/deploy/trades.Dockerfile.dockerignore" --build-arg BASE="$BASE_IMAGE" \
	-f "$SRC/deploy/trades.Dockerfile" -t "$IMAGE" "$SRC" >"$WORK/build.log" 2>&1; then
	pass build
else
	tail -30 "$WORK/build.log"
	die "image build failed"
fi
if podman run --rm --no-healthcheck "$IMAGE" test -x /app/bin/trades-trace; then
	pass image-ships-trades-trace
else
	fail image-ships-trades-trace
fi

# start NAME ARGS...: the service on the host network, ephemeral ports; sets PORT (TCP) and
# returns once it is ready (30 s at most).
start() {
	local name=$1 i
	shift
	podman run -d --name "$name" --network host --no-healthcheck -e TRADES_TCP=127.0.0.1:0 \
		-e TRADES_UDP= "$@" "$IMAGE" trades serve --state-dir /tmp/state >/dev/null || return 1
	for i in $(seq 1 120); do
		PORT=$(podman logs "$name" 2>/dev/null |
			awk '$1=="listening" && $2=="tcp" {n=split($3,a,":"); print a[n]; exit}')
		[ -n "$PORT" ] && podman logs "$name" 2>/dev/null | grep -q '^ready$' && return 0
		sleep 0.25
	done
	podman logs "$name" 2>&1 | tail -5
	return 1
}

accepted_in() {
	podman exec "$1" trades stat --state-dir /tmp/state --json | python3 -c \
		'import json,sys; print(sum(f["accepted"] for f in json.load(sys.stdin)["feeds"]))'
}

# traced NAME OUT TRACER...: runs TRACER (with -d long enough for the whole send) while COUNT
# trades are sent, then compares its final trades with the service's accepted count.
traced() {
	local name=$1 out=$2 i before after got
	shift 2
	before=$(accepted_in "$name") || return 1
	"$@" >"$out" 2>"$out.err" &
	local tp=$!
	for i in $(seq 1 200); do grep -q 'tracing pid' "$out.err" && break; sleep 0.1; done
	grep -q 'tracing pid' "$out.err" || { cat "$out.err"; kill "$tp"; return 1; }
	"$GEN" --count "$COUNT" --seed 21 --tcp "127.0.0.1:$PORT" 2>/dev/null || return 1
	for i in $(seq 1 240); do
		after=$(accepted_in "$name")
		[ "$after" -ge $((before + COUNT)) ] && break
		sleep 0.25
	done
	# the tracer ends by its -d (SIGINT would not cross `podman exec`); 60 s at most
	for i in $(seq 1 600); do kill -0 "$tp" 2>/dev/null || break; sleep 0.1; done
	kill -0 "$tp" 2>/dev/null && { kill -KILL "$tp"; echo "  tracer did not end"; return 1; }
	wait "$tp" || { cat "$out.err"; return 1; }
	got=$(tail -n 1 "$out" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["trades"] if d.get("final") else -1)')
	echo "  $name: service accepted $((after - before)), trades-trace counted $got"
	[ "$got" -eq $((after - before)) ] && [ "$got" -gt 0 ]
}

# ---- host -> container
if start trades-trace-host; then
	pid=$(podman inspect --format '{{.State.Pid}}' trades-trace-host)
	if traced trades-trace-host "$WORK/host.jsonl" "$TRACE" -p "$pid" -d 20 --json; then
		pass traced-from-host "host pid $pid"
	else
		fail traced-from-host
	fi
	podman stop -t 30 trades-trace-host >/dev/null 2>&1
	[ "$(podman inspect --format '{{.State.ExitCode}}' trades-trace-host)" = 0 ] &&
		pass host-service-exit-0-after-detach || fail host-service-exit-0-after-detach
else
	fail traced-from-host "service did not start"
fi

# ---- inside a privileged container
if start trades-trace-priv --privileged; then
	cpid=$(podman exec trades-trace-priv sh -c 'for p in /proc/[0-9]*; do
		[ "$(readlink $p/exe)" = /app/bin/trades ] && { echo ${p#/proc/}; break; }; done')
	if [ -n "$cpid" ] && traced trades-trace-priv "$WORK/priv.jsonl" podman exec --user root \
		trades-trace-priv /app/bin/trades-trace -p "$cpid" -d 20 --json; then
		pass traced-inside-privileged "container pid $cpid"
	else
		fail traced-inside-privileged "pid '$cpid'"
	fi
	podman stop -t 30 trades-trace-priv >/dev/null 2>&1
else
	fail traced-inside-privileged "service did not start"
fi

[ "$FAILED" -eq 0 ] && echo "ALL PASS" || echo "$FAILED FAILED"
exit $((FAILED > 0))
