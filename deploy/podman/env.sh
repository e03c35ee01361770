#!/usr/bin/env bash
# Podman that works on the trades VMs without touching the system's config or storage.
#
#   source deploy/podman/env.sh [ROOT]      # exports CONTAINERS_CONF, CONTAINERS_STORAGE_CONF, TMPDIR
#   deploy/podman/env.sh [ROOT] -- ARGS...  # or run one podman command with that setup
#
# ROOT (default $TRADES_PODMAN_ROOT, else /var/lib/trades-podman) holds the rendered
# configs, images, containers, volumes and podman's temp files.
_tp_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
_tp_root=${TRADES_PODMAN_ROOT:-/var/lib/trades-podman}
if [ $# -gt 0 ] && [ "$1" != "--" ]; then _tp_root=$1; shift; fi
mkdir -p "$_tp_root"/conf "$_tp_root"/tmp "$_tp_root"/run "$_tp_root"/storage "$_tp_root"/networks
_tp_root=$(cd "$_tp_root" && pwd)
for _tp_f in containers.conf storage.conf; do
	sed "s|@ROOT@|$_tp_root|g" "$_tp_here/$_tp_f.in" > "$_tp_root/conf/$_tp_f.tmp"
	mv -f "$_tp_root/conf/$_tp_f.tmp" "$_tp_root/conf/$_tp_f"
done
export TRADES_PODMAN_ROOT=$_tp_root
export CONTAINERS_CONF=$_tp_root/conf/containers.conf
export CONTAINERS_STORAGE_CONF=$_tp_root/conf/storage.conf
export TMPDIR=$_tp_root/tmp
unset _tp_f _tp_here _tp_root
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	[ "${1:-}" = "--" ] && shift
	exec podman "$@"
fi
