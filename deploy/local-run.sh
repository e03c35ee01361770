#!/usr/bin/env bash
# local-run.sh -- the README's first command: on a fresh Debian 12, install
# what the build needs, build into ./build, start `trades serve` on its
# embedded defaults (state in ./state, TCP 127.0.0.1:7001, UDP 127.0.0.1:7002),
# feed it a generated stream of trades, show `trades stat`, and keep serving
# in the foreground until Ctrl-C.  --once stops after showing the stats.
set -euo pipefail
cd "$(dirname "$0")/.."
ONCE=${1:-}
COUNT=${TRADES_DEMO_COUNT:-100000}

# gcc only recommends libc6-dev: with --no-install-recommends it must be named.
need=(meson ninja-build pkg-config gcc libc6-dev liburing-dev libjemalloc-dev libpcap-dev systemtap-sdt-dev python3)
missing=()
for p in "${need[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
	SUDO=$([ "$(id -u)" -eq 0 ] && echo "" || echo sudo)
	$SUDO apt-get update -qq
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
[ -d build ] || meson setup build --buildtype=release >/dev/null
ninja -C build trades trades-gen >/dev/null

mkdir -p state
build/trades serve --state-dir ./state >state/serve.out &
PID=$!
trap 'kill -TERM $PID 2>/dev/null; wait $PID 2>/dev/null' EXIT
for _ in $(seq 1 100); do grep -q '^ready$' state/serve.out 2>/dev/null && break; sleep 0.05; done
cat state/serve.out
build/trades-gen --count "$COUNT" --instruments 16 --seed "$RANDOM" --tcp 127.0.0.1:7001
sleep 0.5
build/trades stat --state-dir ./state
build/trades tail --state-dir ./state --count 3
[ "$ONCE" = --once ] && exit 0
echo "serving on 127.0.0.1:7001 (tcp) and 127.0.0.1:7002 (udp); Ctrl-C stops it"
wait $PID
