#!/bin/sh
# tools/fuzz/soak.sh - a long cmodx-fuzz run of every strategy (docs/FUZZ.md).
#
#   sh tools/fuzz/soak.sh [SECONDS [BUILD_DIR [SANITIZER]]]
#
# Builds cmodx-fuzz natively (SANITIZER: thread or address, or empty), then
# runs each strategy available here for SECONDS (default 600) with a fresh
# seed, two strategies at a time.  Each run's log is BUILD_DIR/soak-NAME.log;
# one result line per strategy is printed, then "N passed, N failed".  The
# exit status is non-zero if any run failed; its log holds the seed and the
# command that reproduces the failing episode.
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
seconds=${1:-600}
dir=${2:-$root/build/fuzz-soak}
san=${3:-}
cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMODX_SANITIZE="$san" \
    >"$dir.configure.log" 2>&1 &&
    cmake --build "$dir" -j 2 --target cmodx-fuzz >"$dir.build.log" 2>&1 || {
    echo "soak: build failed (see $dir.build.log)"
    exit 1
}
bin=$dir/tools/fuzz/cmodx-fuzz
strategies="membarrier signal epoch trampoline"
[ "$(uname -m)" = x86_64 ] && strategies="$strategies mprotect"
pass=0 fail=0
run() {
    s=$1
    seed=$(od -An -N8 -tu8 /dev/urandom | tr -d ' ')
    "$bin" --strategy "$s" --seconds "$seconds" --seed "$seed" >"$dir/soak-$s.log" 2>&1
    echo $? >"$dir/soak-$s.rc"
}
set -- $strategies
while [ $# -gt 0 ]; do
    run "$1" &
    if [ $# -gt 1 ]; then run "$2" & shift; fi
    shift
    wait
done
for s in $strategies; do
    rc=$(cat "$dir/soak-$s.rc")
    case $rc in
    0) pass=$((pass + 1)); echo "$s: passed ($(tail -n 1 "$dir/soak-$s.log"))" ;;
    77) echo "$s: not available here" ;;
    *) fail=$((fail + 1)); echo "$s: FAILED, see $dir/soak-$s.log"
       grep -m 3 -E 'FAIL|kind|reproduce' "$dir/soak-$s.log" | sed 's/^/    /' ;;
    esac
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
