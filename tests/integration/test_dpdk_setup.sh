#!/usr/bin/env bash
# test_dpdk_setup.sh -- deploy/dpdk-setup.sh: --dry-run prints every host step
# (hugepages, vfio-pci binding, core isolation, --persist files) and changes
# nothing; bad arguments exit 2.  As root, when no hugepages are reserved
# yet, it really reserves a few on a private mount, `serve --dpdk` runs on
# them (net_pcap, --in-memory --huge-dir) with exact totals, and --reset
# gives them back.  Also: the systemd drop-in deploy/trades-dpdk.conf
# passes `systemd-analyze verify` with the unit.
source "$(dirname "$0")/lib.sh"
source "$HERE/dpdk_lib.sh"
SETUP="$SRCDIR/deploy/dpdk-setup.sh"
SYSFS=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
[ -x "$SETUP" ] || fail "$SETUP missing or not executable"

# 1. --dry-run: the steps, in order, and nothing changed.
BEFORE=$(cat "$SYSFS" 2>/dev/null || echo none)
"$SETUP" --dry-run --hugepages 512 --bind 0000:03:00.0 --isolate 2-3 --persist >"$T/dry.out" ||
	fail "dry run exited $?"
for want in "echo 512 > $SYSFS" "mount -t hugetlbfs -o pagesize=2M nodev /dev/hugepages" \
	"80-trades-dpdk.conf" "modprobe vfio-pci" "dpdk-devbind.py --bind=vfio-pci 0000:03:00.0" \
	"isolcpus=2-3" "nohz_full=2-3" "rcu_nocbs=2-3" "update-grub" "nothing was changed"; do
	grep -qF -- "$want" "$T/dry.out" || fail "dry run lacks '$want': $(cat "$T/dry.out")"
done
[ "$(cat "$SYSFS" 2>/dev/null || echo none)" = "$BEFORE" ] || fail "dry run changed nr_hugepages"
[ ! -e /etc/default/grub.d/80-trades-dpdk.cfg ] || fail "dry run wrote the GRUB file"
"$SETUP" --dry-run --reset >"$T/reset.out" && grep -qF "echo 0 > $SYSFS" "$T/reset.out" ||
	fail "dry run of --reset"
"$SETUP" --help >"$T/help.out" && grep -q -- "--dry-run" "$T/help.out" || fail "--help"

# 2. Usage errors: exit 2 with a reason.
for args in "" "--hugepages abc" "--hugepages 0" "--bind eth0" "--isolate x" "--frobnicate" \
	"--hugepages 8 --huge-dir rel/dir"; do
	rc=0
	# shellcheck disable=SC2086
	"$SETUP" --dry-run $args >/dev/null 2>"$T/bad.err" || rc=$?
	[ "$rc" -eq 2 ] && [ -s "$T/bad.err" ] || fail "'$args': exit $rc, want 2 with a message"
done

# 3. The drop-in with the unit (systemd-analyze verify, when installed).
if command -v systemd-analyze >/dev/null; then
	mkdir -p "$T/units/trades.service.d"
	sed "s|/usr/local/bin/trades|$TRADES|" "$SRCDIR/deploy/trades.service" >"$T/units/trades.service"
	sed "s|/usr/local/bin/trades|$TRADES|" "$SRCDIR/deploy/trades-dpdk.conf" \
		>"$T/units/trades.service.d/dpdk.conf"
	SYSTEMD_UNIT_PATH="$T/units:" systemd-analyze verify "$T/units/trades.service" \
		>"$T/verify.out" 2>&1 || fail "systemd-analyze verify: $(cat "$T/verify.out")"
	! grep -qi "dpdk.conf" "$T/verify.out" || fail "drop-in warnings: $(cat "$T/verify.out")"
	SYSTEMD_UNIT_PATH="$T/units:" systemd-analyze cat-config "$T/units/trades.service" \
		>/dev/null 2>&1 || true
else
	echo "SKIP drop-in check: systemd-analyze not installed (Debian package systemd)"
fi

# 4. For real, as root and only when nobody holds hugepages already.
if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP real hugepages: needs root"
elif [ "$BEFORE" != 0 ]; then
	echo "SKIP real hugepages: $BEFORE already reserved on this host; not touching them"
elif ! "$TRADES" version | grep -q 'dpdk=yes'; then
	echo "SKIP real hugepages with serve: built without DPDK"
else
	dpdk_pmd net_pcap librte-net-pcap23
	trap '"$SETUP" --reset --huge-dir "$T/huge" >/dev/null 2>&1; dpdk_cleanup; cleanup' EXIT
	"$SETUP" --hugepages 64 --huge-dir "$T/huge" >"$T/real.out" || fail "setup: $(cat "$T/real.out")"
	[ "$(cat "$SYSFS")" -ge 64 ] && mountpoint -q "$T/huge" || fail "no hugepages or no mount"
	"$TRADES_GEN" --format moldudp64 --count 5000 --instruments 6 --seed 2 --pcap "$T/m.pcap" \
		--totals "$T/m.json" 2>/dev/null || fail "gen"
	"$TRADES" serve --dpdk "--in-memory --huge-dir=$T/huge --no-pci --file-prefix=$(dpdk_prefix huge) --vdev=net_pcap0,rx_pcap=$T/m.pcap" \
		--dpdk-mold 26477,feed=h --dpdk-idle-us 500 --itch-midnight 2025-01-02T00:00:00-05:00 \
		--book-orders 1Mi --state-dir "$T/h" >"$T/h.out" 2>"$T/serve.err" &
	SERVE_PID=$!
	for _ in $(seq 1 300); do grep -q '^ready$' "$T/h.out" && break; sleep 0.1; done
	grep -q '^ready$' "$T/h.out" || fail "serve on hugepages not ready"
	wait_received "$T/h" "$("$PY" -c "import json; print(json.load(open('$T/m.json'))['trades'])")" 30
	stop_serve
	stat_json "$T/h" "$T/h.json"
	"$PY" "$HERE/compare.py" totals "$T/m.json" "$T/h.json" --feed h --duplicates 0 ||
		fail "totals on hugepages"
	"$SETUP" --reset --huge-dir "$T/huge" >/dev/null || fail "--reset"
	[ "$(cat "$SYSFS")" = 0 ] && ! mountpoint -q "$T/huge" || fail "--reset left hugepages or the mount"
fi
echo "PASS dpdk-setup"
