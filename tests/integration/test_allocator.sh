#!/usr/bin/env bash
# test_allocator.sh -- jemalloc is the allocator actually serving malloc in
# the trades binaries: `trades version` resolves malloc at run time (dladdr)
# and asks jemalloc's mallctl for its version.
source "$(dirname "$0")/lib.sh"
"$TRADES" version >"$T/v" || fail "trades version"
grep -Eq '^allocator: jemalloc [0-9]+\.[0-9]+\.[0-9]+.*\(malloc from .*libjemalloc\.so' "$T/v" ||
	fail "jemalloc not in use: $(grep allocator "$T/v")"
ldd "$TRADES" | grep libjemalloc >/dev/null || fail "trades not linked against libjemalloc"
ldd "$TRADES_GEN" | grep libjemalloc >/dev/null || fail "trades-gen not linked against libjemalloc"
echo "PASS allocator: $(grep allocator "$T/v")"
