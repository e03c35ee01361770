#!/usr/bin/env bash
# dpdk-setup.sh -- the host steps for `trades serve --dpdk` on bare metal
# (deploy/DPDK.md explains each one):
#
#   --hugepages N      reserve N 2 MiB hugepages and mount hugetlbfs on --huge-dir
#   --huge-dir DIR     where to mount it (default /dev/hugepages)
#   --bind PCI         load vfio-pci and bind the NIC at PCI (0000:03:00.0) to it
#                      with dpdk-devbind.py (its kernel interface is set down first)
#   --isolate CPUS     keep CPUS (e.g. 2-3) for the rx lcore: isolcpus, nohz_full and
#                      rcu_nocbs on the kernel command line (GRUB; takes a reboot)
#   --persist          also make the hugepages and the kernel command line survive a
#                      reboot (/etc/sysctl.d, /etc/fstab, /etc/default/grub.d)
#   --reset            release the hugepages and unmount --huge-dir
#   --dry-run          print every command instead of running it
#
# Exit codes: 0 done, 1 a step failed (named), 2 usage.
set -euo pipefail
PROG=dpdk-setup.sh
DRY=0 PERSIST=0 RESET=0 PAGES= HUGE_DIR=/dev/hugepages PCI= CPUS=
SYSFS_PAGES=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
PAGES_MAX=1048576 # 2 TiB of 2 MiB pages: a typo guard

usage() {
	sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
	exit "${1:-2}"
}
die() {
	echo "$PROG: $*" >&2
	exit 1
}
bad() {
	echo "$PROG: $*" >&2
	exit 2
}
# run CMD...: the command, printed; run unless --dry-run.
run() {
	printf '+ %s\n' "$*"
	[ "$DRY" = 1 ] || "$@" || die "failed: $*"
}
# write FILE TEXT: echo TEXT > FILE, printed; written unless --dry-run.
write() {
	printf '+ echo %q > %s\n' "$2" "$1"
	[ "$DRY" = 1 ] || printf '%s\n' "$2" >"$1" || die "failed: write $1"
}

while [ $# -gt 0 ]; do
	case $1 in
	--hugepages) PAGES=${2:-}; shift ;;
	--huge-dir) HUGE_DIR=${2:-}; shift ;;
	--bind) PCI=${2:-}; shift ;;
	--isolate) CPUS=${2:-}; shift ;;
	--persist) PERSIST=1 ;;
	--reset) RESET=1 ;;
	--dry-run) DRY=1 ;;
	-h | --help) usage 0 ;;
	*) bad "unknown argument '$1' (see --help)" ;;
	esac
	shift
done
[ -n "$PAGES$PCI$CPUS" ] || [ "$RESET" = 1 ] || bad "nothing to do: give --hugepages, --bind, --isolate or --reset"
if [ -n "$PAGES" ]; then
	[[ $PAGES =~ ^[0-9]+$ ]] && [ "$PAGES" -ge 1 ] && [ "$PAGES" -le $PAGES_MAX ] ||
		bad "--hugepages '$PAGES': a number of 2 MiB pages, 1..$PAGES_MAX"
fi
[ -z "$PCI" ] || [[ $PCI =~ ^[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$ ]] ||
	bad "--bind '$PCI': a PCI address like 0000:03:00.0 (dpdk-devbind.py --status lists them)"
[ -z "$CPUS" ] || [[ $CPUS =~ ^[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*$ ]] ||
	bad "--isolate '$CPUS': a CPU list like 2-3 or 2,4"
[[ $HUGE_DIR == /* ]] || bad "--huge-dir '$HUGE_DIR': an absolute path"
[ "$DRY" = 1 ] || [ "$(id -u)" = 0 ] || die "needs root (or --dry-run to see the steps)"

hugepages() {
	echo "# hugepages: $PAGES x 2 MiB on $HUGE_DIR"
	write "$SYSFS_PAGES" "$PAGES"
	if [ "$DRY" = 0 ]; then
		local got
		got=$(cat "$SYSFS_PAGES")
		[ "$got" -ge "$PAGES" ] || die "only $got of $PAGES hugepages reserved (memory fragmented: reserve at boot with --persist)"
	fi
	run mkdir -p "$HUGE_DIR"
	if [ "$DRY" = 1 ] || ! mountpoint -q "$HUGE_DIR"; then
		run mount -t hugetlbfs -o pagesize=2M nodev "$HUGE_DIR"
	fi
	if [ "$PERSIST" = 1 ]; then
		write /etc/sysctl.d/80-trades-dpdk.conf "vm.nr_hugepages = $PAGES"
		if [ "$DRY" = 1 ] || ! grep -q " $HUGE_DIR hugetlbfs" /etc/fstab 2>/dev/null; then
			printf '+ echo %q >> /etc/fstab\n' "nodev $HUGE_DIR hugetlbfs pagesize=2M 0 0"
			[ "$DRY" = 1 ] || echo "nodev $HUGE_DIR hugetlbfs pagesize=2M 0 0" >>/etc/fstab
		fi
	fi
}

bind_nic() {
	local iface=
	echo "# NIC $PCI to vfio-pci"
	command -v dpdk-devbind.py >/dev/null || [ "$DRY" = 1 ] ||
		die "dpdk-devbind.py not found: install the Debian package dpdk"
	[ -d "/sys/bus/pci/devices/$PCI" ] || [ "$DRY" = 1 ] || die "no PCI device $PCI"
	if [ -d "/sys/bus/pci/devices/$PCI/net" ]; then
		iface=$(ls "/sys/bus/pci/devices/$PCI/net" | head -n 1)
	fi
	run modprobe vfio-pci
	[ -z "$iface" ] || run ip link set "$iface" down
	run dpdk-devbind.py --bind=vfio-pci "$PCI"
	run dpdk-devbind.py --status-dev net
}

isolate() {
	local args="isolcpus=$CPUS nohz_full=$CPUS rcu_nocbs=$CPUS"
	echo "# CPUs $CPUS for the rx lcore: kernel command line += $args"
	if [ "$PERSIST" = 1 ]; then
		run mkdir -p /etc/default/grub.d
		write /etc/default/grub.d/80-trades-dpdk.cfg "GRUB_CMDLINE_LINUX=\"\$GRUB_CMDLINE_LINUX $args\""
		run update-grub
		echo "# reboot, then check: cat /sys/devices/system/cpu/isolated"
	else
		echo "# not changed without --persist: add it to GRUB_CMDLINE_LINUX and reboot"
	fi
	echo "# then pin the rx lcore: trades serve --dpdk \"-l <main>,<isolated> ...\" (the first worker lcore is the rx lcore)"
}

reset() {
	echo "# release hugepages"
	if [ "$DRY" = 1 ] || mountpoint -q "$HUGE_DIR"; then
		run umount "$HUGE_DIR"
	fi
	write "$SYSFS_PAGES" 0
}

[ "$RESET" = 0 ] || reset
[ -z "$PAGES" ] || hugepages
[ -z "$PCI" ] || bind_nic
[ -z "$CPUS" ] || isolate
[ "$DRY" = 0 ] || echo "# dry run: nothing was changed"
