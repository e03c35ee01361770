#!/usr/bin/env bash
# test_valgrind.sh -- valgrind memcheck on the service's file paths (issue 10, item 8): a
# `trades replay` of a generated JSON-lines file (with duplicates and malformed lines), of a
# generated ITCH day, then `trades stat` on each state dir.  Each run must be clean: no
# memcheck error (--error-exitcode), no definite or indirect leak (--errors-for-leak-kinds),
# and the replay's own result right (the totals match the generator's).
# --soname-synonyms: the binary links jemalloc as its allocator; memcheck then replaces
# jemalloc's malloc/free (not only libc's), so the leak check sees every allocation.
source "$(dirname "$0")/lib.sh"
need_tool valgrind valgrind

VG=(valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect
	--show-leak-kinds=definite,indirect --soname-synonyms=somalloc='*jemalloc*'
	--track-fds=no)
vg() { # vg NAME CMD...: runs CMD under memcheck; fails on any report
	local name=$1 rc=0
	shift
	"${VG[@]}" --log-file="$T/$name.vg" "$@" >"$T/$name.out" 2>"$T/$name.err" || rc=$?
	[ "$rc" -ne 99 ] || fail "valgrind: $name: $(head -c 1500 "$T/$name.vg")"
	[ "$rc" -eq 0 ] || fail "$name exited $rc under valgrind: $(tail -n 5 "$T/$name.err")"
	[ ! -s "$T/$name.vg" ] || fail "valgrind: $name reported: $(head -c 1500 "$T/$name.vg")"
}

"$TRADES_GEN" --count 3000 --instruments 8 --seed 5 --dup-every 50 --malformed-every 70 \
	--out "$T/a.jsonl" --totals "$T/a.json" 2>/dev/null || fail "gen jsonl"
vg replay-jsonl "$TRADES" replay --state-dir "$T/j" "$T/a.jsonl"
vg stat-jsonl "$TRADES" stat --state-dir "$T/j" --json
cp "$T/stat-jsonl.out" "$T/j.json"
"$PY" "$HERE/compare.py" totals "$T/a.json" "$T/j.json" || fail "JSON-lines replay != generator totals"

"$TRADES_GEN" --format itch --count 3000 --instruments 6 --seed 5 --out "$T/day.itch" \
	--totals "$T/day.json" 2>/dev/null || fail "gen itch"
vg replay-itch "$TRADES" replay --format itch --itch-midnight 2025-01-02T00:00:00-05:00 \
	--book-orders 64Ki --feed itch --state-dir "$T/i" "$T/day.itch"
vg stat-itch "$TRADES" stat --state-dir "$T/i"
stat_json "$T/i" "$T/i.json"
"$PY" "$HERE/compare.py" totals "$T/day.json" "$T/i.json" --feed itch --duplicates 0 ||
	fail "ITCH replay != generator totals"
echo "PASS valgrind (replay jsonl, replay itch, stat: 0 errors, no definite/indirect leaks)"
