# shellcheck shell=bash
# tests/image/lib.sh -- shared by the tests of tests/image/ (sourced after they define log and
# die): the tool checks, the host's Debian mirror, the network options of `podman build`, the
# debootstrap base image and the build of trades:dev (base_image_ensure, image_build: the image
# test builds the image with them, and a test that runs the image calls them too, so it works
# alone, on layer-cache hits after the image test).  Why each podman setting is what it is:
# deploy/README.md "Podman set-up".

# need_tool TOOL PACKAGE: die naming the tool and the Debian package that provides it.
need_tool() {
	command -v "$1" >/dev/null 2>&1 ||
		die "needs '$1' (Debian package $2: apt-get install --no-install-recommends $2)"
}

# need_podman: podman plus what deploy/podman/containers.conf.in makes it use: runc as the
# runtime, the CNI plugins (the bridge and portmap plugins behind `podman run -p`) and iptables,
# which those plugins call.
need_podman() {
	need_tool podman podman
	need_tool runc runc
	need_tool iptables iptables
	local p
	for p in bridge portmap host-local loopback firewall tuning; do
		[ -x "/usr/lib/cni/$p" ] || die "needs the CNI plugin /usr/lib/cni/$p (Debian package" \
			"containernetworking-plugins: apt-get install --no-install-recommends containernetworking-plugins)"
	done
}

# debian_mirror: the first Debian mirror URI serving "bookworm" in the host's apt sources
# (deb822 or one-line); deb.debian.org if there is none.
debian_mirror() {
	python3 - <<'PY'
import glob, re
uris = []
for f in sorted(glob.glob('/etc/apt/sources.list.d/*.sources')):
    for stanza in re.split(r'\n\s*\n', open(f).read()):
        fields = {}
        for line in stanza.splitlines():
            if line.startswith('#') or ':' not in line or line[0].isspace():
                continue
            k, v = line.split(':', 1)
            fields[k.strip().lower()] = v.split()
        if fields.get('enabled', ['yes'])[0] == 'no' or 'deb' not in fields.get('types', []):
            continue
        if 'bookworm' in fields.get('suites', []):
            uris += fields.get('uris', [])
for f in ['/etc/apt/sources.list'] + sorted(glob.glob('/etc/apt/sources.list.d/*.list')):
    try:
        for line in open(f):
            p = line.split('#')[0].split()
            if p[:1] == ['deb']:
                p = [x for x in p[1:] if not x.startswith('[')]
                if len(p) >= 2 and p[1] == 'bookworm':
                    uris.append(p[0])
    except OSError:
        pass
print(uris[0] if uris else 'http://deb.debian.org/debian')
PY
}

# debian_security_mirror MIRROR: the security archive next to MIRROR (.../debian ->
# .../debian-security), else deb.debian.org's.
debian_security_mirror() {
	local sec=${1%/debian}/debian-security
	[ "$sec" != "$1/debian-security" ] || sec=http://deb.debian.org/debian-security
	echo "$sec"
}

# build_net_args MIRROR: sets BUILD_NET, the network options for every `podman build` here.
#   --network host   RUN steps use the host's network namespace, so apt in the build reaches the
#                    mirror exactly as the host does: through a proxy on the host's loopback, a
#                    route only the host has, and without the CNI bridge or a DNS server.
#   --add-host H:IP  each mirror host name as the HOST resolves it (getent: /etc/hosts first,
#                    then DNS).  Where the mirror resolves only through the host's /etc/hosts,
#                    DNS in the build cannot find it ("Temporary failure resolving"); this puts
#                    the host's answer into the build's /etc/hosts.
# A name the host cannot resolve is left out (apt then fails naming it, as it would on the host).
build_net_args() {
	local mirror=$1 h ip
	BUILD_NET=(--network host)
	for h in $(printf '%s\n' "$mirror" "$(debian_security_mirror "$mirror")" |
		sed -n 's|^[a-z+]*://\([^/:@]*@\)\{0,1\}\([^/:]*\).*|\2|p' | sort -u); do
		[[ $h =~ ^[0-9.]+$ ]] && continue
		ip=$(getent ahostsv4 "$h" | awk '{print $1; exit}')
		[ -n "$ip" ] && BUILD_NET+=(--add-host "$h:$ip")
	done
}

# ---------------------------------------------------------------- base image and trades:dev
# Callers set SRC (the repository) and CACHE (TRADES_CI_CACHE); BASE_IMAGE, BASE_TAR and IMAGE
# default to the image test's names.  podman must already be set up (deploy/podman/env.sh).
: "${BASE_IMAGE:=localhost/debian:bookworm-slim}"
: "${IMAGE:=trades:dev}"
: "${BASE_TAR:=${CACHE:-${TRADES_CI_CACHE:-/var/cache/trades-ci}}/debian-bookworm-slim.tar}"

# build_base_tar: debootstrap a minbase bookworm from the host's mirror into $BASE_TAR, slimmed
# to the shape of the official debian:bookworm-slim (~30-50 s, ~80 MB).
build_base_tar() {
	local mirror rootfs=$CACHE/rootfs.tmp
	mirror=$(debian_mirror)
	log "debootstrap --variant=minbase bookworm from $mirror"
	rm -rf "$rootfs"
	debootstrap --variant=minbase bookworm "$rootfs" "$mirror" > "$CACHE/debootstrap.log" 2>&1 \
		|| { tail -20 "$CACHE/debootstrap.log"; return 1; }
	local sec
	sec=$(debian_security_mirror "$mirror")
	# Same shape as the official debian:bookworm-slim: deb822 sources with updates + security,
	# dpkg path excludes, no translations, the docker-clean hook; docs/man/locales/lists removed.
	rm -f "$rootfs/etc/apt/sources.list"
	cat > "$rootfs/etc/apt/sources.list.d/debian.sources" <<-EOF
	Types: deb
	URIs: $mirror
	Suites: bookworm bookworm-updates
	Components: main
	Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

	Types: deb
	URIs: $sec
	Suites: bookworm-security
	Components: main
	Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
	EOF
	cat > "$rootfs/etc/dpkg/dpkg.cfg.d/docker" <<-'EOF'
	path-exclude /usr/share/doc/*
	path-include /usr/share/doc/*/copyright
	path-exclude /usr/share/man/*
	path-exclude /usr/share/groff/*
	path-exclude /usr/share/info/*
	path-exclude /usr/share/lintian/*
	path-exclude /usr/share/linda/*
	path-exclude /usr/share/locale/*
	path-include /usr/share/locale/locale.alias
	EOF
	cat > "$rootfs/etc/apt/apt.conf.d/docker-clean" <<-'EOF'
	DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
	APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
	Dir::Cache::pkgcache "";
	Dir::Cache::srcpkgcache "";
	EOF
	echo 'Acquire::Languages "none";' > "$rootfs/etc/apt/apt.conf.d/docker-no-languages"
	echo 'APT::AutoRemove::SuggestsImportant "false";' > "$rootfs/etc/apt/apt.conf.d/docker-autoremove-suggests"
	find "$rootfs/usr/share/doc" -mindepth 1 ! -name copyright ! -type d -delete
	find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete
	rm -rf "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/usr/share/groff/* \
	       "$rootfs"/usr/share/lintian/* "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin \
	       "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/debconf/*-old \
	       "$rootfs"/var/lib/dpkg/*-old "$rootfs"/var/log/* "$rootfs"/tmp/* "$rootfs"/dev/*
	find "$rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
	: > "$rootfs/etc/machine-id"
	rm -f "$rootfs/etc/hostname" "$rootfs/etc/resolv.conf"
	tar --numeric-owner -C "$rootfs" -cf "$BASE_TAR.tmp" . && mv -f "$BASE_TAR.tmp" "$BASE_TAR"
	rm -rf "$rootfs"
}


# base_image_ensure: $BASE_IMAGE in podman's storage, from $BASE_TAR (rebuilt when missing,
# older than 7 days or TRADES_CI_REFRESH_BASE=1).  0, or 1 (logged) on failure.
base_image_ensure() {
	local fresh=
	if [ "${TRADES_CI_REFRESH_BASE:-0}" = 1 ] || [ -z "$(find "$BASE_TAR" -mtime -7 2>/dev/null)" ]; then
		need_tool debootstrap debootstrap
		build_base_tar || { log "could not build the base rootfs"; return 1; }
		fresh=1
	fi
	if [ -n "$fresh" ] || ! podman image exists "$BASE_IMAGE"; then
		log "podman import $BASE_TAR -> $BASE_IMAGE"
		podman import --quiet --change 'CMD ["bash"]' "$BASE_TAR" "$BASE_IMAGE" >/dev/null ||
			{ log "podman import failed"; return 1; }
	fi
}

# image_build LOG [podman build options...]: builds $IMAGE from deploy/trades.Dockerfile on
# $BASE_IMAGE with the layer cache (--no-cache among the options forces every layer), labels
# from meson.build's version and git's revision; sets BUILD_NET.  Output to LOG; podman's status.
# Right after the image test built the same sources every layer is a cache hit (seconds).
image_build() {
	local out=$1 version revision
	shift
	version=$(sed -n "s/^ *version: *'\([^']*\)'.*/\1/p" "$SRC/meson.build" | head -n1)
	revision=$(git -C "$SRC" rev-parse --short HEAD 2>/dev/null || echo unknown)
	build_net_args "$(debian_mirror)"
	log "podman build $IMAGE (version ${version:-?}, revision $revision) $* ${BUILD_NET[*]}"
	timeout --foreground 900 podman build --format docker --layers "$@" "${BUILD_NET[@]}" \
		--ignorefile "$SRC/deploy/trades.Dockerfile.dockerignore" \
		--build-arg BASE="$BASE_IMAGE" --build-arg VERSION="${version:-0.0.0}" --build-arg REVISION="$revision" \
		-f "$SRC/deploy/trades.Dockerfile" -t "$IMAGE" "$SRC" >"$out" 2>&1
}
