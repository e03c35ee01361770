#!/usr/bin/env bash
# run_fuzz.sh FUZZER SEED_DIR -- one bounded libFuzzer run (a meson test, suite 'fuzz').
# Runs FUZZER for FUZZ_SECONDS (default 25) from the seeds in SEED_DIR (read, never written:
# new inputs go to a scratch dir), then prints "fuzz NAME: N executions in S s".  Exit status
# is libFuzzer's: non-zero on a crash, a leak, a UBSan report or a timeout; the input is kept
# in ./fuzz-artifacts/ of the build dir (meson runs tests there).
set -uo pipefail
fuzzer=$1
seeds=$2
name=$(basename "$fuzzer")
secs=${FUZZ_SECONDS:-25}
[ -x "$fuzzer" ] || { echo "$name: $fuzzer not built" >&2; exit 1; }
[ -d "$seeds" ] || { echo "$name: no seed corpus $seeds" >&2; exit 1; }
scratch=$(mktemp -d "${TMPDIR:-/tmp}/trades-$name.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
mkdir -p fuzz-artifacts
log=$scratch/log
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1 \
	"$fuzzer" -max_total_time="$secs" -timeout=10 -rss_limit_mb=1024 -print_final_stats=1 \
	-artifact_prefix="fuzz-artifacts/$name-" "$scratch" "$seeds" >"$log" 2>&1
rc=$?
# libFuzzer's closing figures: "stat::number_of_executed_units: N" (or "Done N runs in S s").
execs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -n 1)
[ -n "$execs" ] || execs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log" | tail -n 1)
cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1)
echo "fuzz $name: ${execs:-?} executions in ${secs} s (${cov:-cov: ?}), exit $rc"
if [ $rc -ne 0 ]; then
	tail -n 60 "$log" >&2
	ls -l fuzz-artifacts/ >&2
fi
exit $rc
