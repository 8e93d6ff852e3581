#!/bin/sh
# tools/bench/smoke.sh - the test suite's run of the benchmark tool.
#
#   smoke.sh SOURCE-DIR WORK-DIR COMMAND...
#
# COMMAND runs cmodx-bench (an emulator and the binary in a cross build).
# Runs `cmodx-bench --quick` (its exit status fails the test: a sanitizer
# report, or call-path ratios it could not compute), writing its tables as
# markdown; renders them with tools/bench/report.awk as run-standard.sh
# does; and checks with tools/bench/check-prose.awk that every figure of
# the generated prose is one the tables print.  Then the same for the
# tables of the committed docs/BENCHMARKS.md (its prose regenerated), for
# that document as committed, and once with a figure no table has, which
# the check must refuse.  Never a
# timing assertion: only what the report says about its own tables.
set -u
[ $# -ge 3 ] || { echo "usage: smoke.sh SOURCE-DIR WORK-DIR COMMAND..." >&2; exit 2; }
src=$1
work=$2
shift 2
mkdir -p "$work"
rc=0
"$@" --quick --markdown "$work/tables.md" >"$work/bench.out" 2>&1 || {
    cat "$work/bench.out"
    echo "smoke: cmodx-bench --quick failed"
    exit 1
}
tail -n 3 "$work/bench.out"
check() { # NAME TABLES
    awk -v plots=bench -f "$src/tools/bench/report.awk" "$2" >"$work/$1.md" || {
        echo "smoke: report.awk failed on $1"
        return 1
    }
    awk -f "$src/tools/bench/check-prose.awk" "$work/$1.md" || {
        echo "smoke: the prose generated from $1 quotes figures its tables do not print"
        return 1
    }
}
check quick "$work/tables.md" || rc=1
sed -n '/^## What the figures say/q;p' "$src/docs/BENCHMARKS.md" >"$work/committed-tables.md"
check committed "$work/committed-tables.md" || rc=1
# And the committed document as it stands (its prose not hand-edited).
awk -f "$src/tools/bench/check-prose.awk" "$src/docs/BENCHMARKS.md" || {
    echo "smoke: docs/BENCHMARKS.md quotes figures its tables do not print"
    rc=1
}
# The check itself refuses a figure that is in no table.
cp "$work/committed.md" "$work/stray.md"
echo "A stray figure: 123456.789 us (table 1.1)." >>"$work/stray.md"
if awk -f "$src/tools/bench/check-prose.awk" "$work/stray.md" >"$work/stray.out" 2>&1; then
    echo "smoke: check-prose.awk accepted a figure that is in no table"
    rc=1
elif ! grep -q "figure 123456.789 us is in no table" "$work/stray.out"; then
    cat "$work/stray.out"
    echo "smoke: check-prose.awk failed without naming the stray figure"
    rc=1
fi
exit $rc
