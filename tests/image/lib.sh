# tests/image/lib.sh -- shared by test_image.sh and test_unit_systemd.sh (sourced after they
# define log and die): the tool checks, the host's Debian mirror, and the network options of
# `podman build`.  Why each podman setting is what it is: deploy/README.md "Podman set-up".

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
