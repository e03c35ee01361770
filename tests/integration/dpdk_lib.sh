# dpdk_lib.sh -- shared by the test_dpdk*.sh tests (after lib.sh): is this
# binary built with DPDK, are the PMDs there, and DPDK runtime directories
# named per test so that nothing collides and nothing is left behind.
DPDK_PMD_DIR=$(ls -d /usr/lib/*/dpdk/pmds-* 2>/dev/null | head -n 1)

# dpdk_require: exits 0 after checking the refusal when built without DPDK
# (that build must say so and exit 2), so the suite passes either way.
dpdk_require() {
	if ! "$TRADES" version | grep -q 'dpdk=yes'; then
		local rc=0
		"$TRADES" serve --dpdk "--no-pci" --dpdk-mold 1 --state-dir "$T/nodpdk" \
			>/dev/null 2>"$T/nodpdk.err" || rc=$?
		[ "$rc" -eq 2 ] || fail "built without DPDK: serve --dpdk exited $rc, want 2"
		grep -q 'built without DPDK' "$T/nodpdk.err" || fail "no 'built without DPDK' message"
		echo "PASS ${1:-dpdk}: this trades is built without DPDK (-Ddpdk=disabled or no" \
			"libdpdk-dev); checked that --dpdk is refused with exit 2"
		exit 0
	fi
}

# dpdk_pmd NAME PACKAGE: the PMD's shared object must be installed.
dpdk_pmd() {
	ls "$DPDK_PMD_DIR"/librte_"$1".so* >/dev/null 2>&1 ||
		fail "DPDK PMD $1 not found in '$DPDK_PMD_DIR': install the Debian package $2"
}

# dpdk_prefix NAME: a --file-prefix of this test's own (trades-test-PID-NAME),
# removed at exit by dpdk_cleanup.
dpdk_prefix() {
	echo "trades-test-$$-$1"
}

dpdk_cleanup() {
	rm -rf /var/run/dpdk/trades-test-$$-* "${XDG_RUNTIME_DIR:-/nonexistent}"/dpdk/trades-test-$$-*
}
