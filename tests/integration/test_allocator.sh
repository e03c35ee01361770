#!/usr/bin/env bash
# test_allocator.sh -- jemalloc is the allocator actually serving malloc in
# the trades binaries: `trades version` resolves malloc at run time (dladdr)
# and asks jemalloc's mallctl for its version.  In an AddressSanitizer build
# (.ci/run's second stage) ASan must serve malloc instead, or its heap checks
# would see nothing: there the test asserts that.
source "$(dirname "$0")/lib.sh"
need_tool ldd libc-bin
"$TRADES" version >"$T/v" || fail "trades version"
# ldd's output captured first: with pipefail, `ldd | grep -q` fails when grep exits early and
# ldd gets SIGPIPE (it did, now and then, for trades-gen).
ldd "$TRADES" >"$T/ldd" || fail "ldd $TRADES"
ldd "$TRADES_GEN" >"$T/ldd-gen" || fail "ldd $TRADES_GEN"
if grep -q libasan "$T/ldd"; then
	grep -Eq '^allocator: .*\(malloc from .*libasan\.so' "$T/v" ||
		fail "ASan build, but malloc is not ASan's: $(grep allocator "$T/v")"
	grep -q libasan "$T/ldd-gen" || fail "trades-gen not built with ASan"
	echo "PASS allocator (ASan build): $(grep allocator "$T/v")"
	exit 0
fi
grep -Eq '^allocator: jemalloc [0-9]+\.[0-9]+\.[0-9]+.*\(malloc from .*libjemalloc\.so' "$T/v" ||
	fail "jemalloc not in use: $(grep allocator "$T/v")"
grep -q libjemalloc "$T/ldd" || fail "trades not linked against libjemalloc"
grep -q libjemalloc "$T/ldd-gen" || fail "trades-gen not linked against libjemalloc"
echo "PASS allocator: $(grep allocator "$T/v")"
