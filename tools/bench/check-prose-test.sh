#!/bin/sh
# tools/bench/check-prose-test.sh - the test of check-prose.awk itself.
#
#   check-prose-test.sh SOURCE-DIR WORK-DIR
#
# Writes small reports, each the same tables and one sentence of prose,
# and checks that check-prose.awk accepts a sentence whose every figure is
# a whole cell as printed (with its unit) and refuses each kind of drift:
# a figure rounded or padded differently ("1.0" for the cell "1.00"), one
# that is only part of a cell ("1.0x" inside "11.0x", "2" inside
# "0.00 ms + reg 2.50 ms"), a unit dropped or changed ("2.95" for
# "2.95x", "0.57 ms" for a cell of a "median us" column).  Then the same
# on the committed docs/BENCHMARKS.md: each figure of its prose, changed
# by one digit, must make the check fail.  No binary is needed: it runs
# in every build.
set -u
[ $# -eq 2 ] || { echo "usage: check-prose-test.sh SOURCE-DIR WORK-DIR" >&2; exit 2; }
src=$1
work=$2
awkf=$src/tools/bench/check-prose.awk
mkdir -p "$work"
rc=0

tables() {
    cat <<'EOF'
# report

## 1. Something

| variant | median us | p99 us | ratio | ns best | median |
|---|---:|---:|---:|---:|---:|
| a | 1.00 | 11.0 | 11.0x | 3.5 | 4.25 |
| b | 0.57 | 2.50 | 2.95x | 7 | 8.125 |
| c (2 threads) | 11.0 | 12.00 | <0.01x | 9 | 18.2% |

| operation | best | median | unit |
|---|---:|---:|---:|
| publish | 0.70 | 0.71 | us |
| batch | 41.71 | 43.30 | us/batch |
| timer | 1.5 | 1.75 | ms |

| strategy | bytes/slot | create | futex sleep |
|---|---:|---:|---:|
| tramp | 32 + stub + 8/thread | 0.00 ms + reg 2.50 ms | 10 ms timeout |

## What the figures say

EOF
}

# expect pass|fail SENTENCE
expect() {
    n=$((n + 1))
    { tables; echo "$2"; } >"$work/case$n.md"
    if awk -f "$awkf" "$work/case$n.md" >"$work/case$n.out" 2>&1; then got=pass; else got=fail; fi
    if [ "$got" != "$1" ]; then
        echo "check-prose-test: expected $1, got $got: $2"
        cat "$work/case$n.out"
        rc=1
    fi
}
n=0
# Whole cells, as printed, with their units.
expect pass "a takes 1.00 us (p99 11.0 us), 11.0x; b 0.57 us, 2.95x; c <0.01x and 18.2%."
expect pass "Best 3.5 ns, median 4.25 ns; best 7 ns and median 8.125 ns (bare columns take the unit on their left)."
expect pass "A publish takes 0.71 us, a batch 43.30 us/batch, the timer 1.75 ms; the median publish 0.71."
expect pass "The trampoline costs 32 + stub + 8/thread bytes per slot, with a 10 ms timeout, created in 0.00 ms + reg 2.50 ms."
expect pass "With 1.00 us and c (2 threads) in table 1.1, of 11.0 us."
# Drifted: rounded or padded differently.
expect fail "a takes 1.0 us."
expect fail "a takes 1.000 us."
expect fail "b takes 0.570 us."
# Drifted: part of a cell only.
expect fail "The ratio is 1.0x."
expect fail "It is 1.0, near the cell 11.0."
expect fail "The trampoline costs 8 bytes per thread."
expect fail "It is created in 2.50 ms."
expect fail "With a 1 ms timeout."
# Drifted: the unit dropped, added or changed.
expect fail "b is 2.95 times a."
expect fail "b takes 0.57x."
expect fail "b takes 0.57 ms."
expect fail "b takes 0.57 ns."
expect fail "The median publish is 0.71 ms."
expect fail "The batch takes 43.30 us."
expect fail "The timer takes 1.75 us."
expect fail "c is 18.2 percent."
# A figure in no table at all, and one only in a header.
expect fail "A stray figure: 123456.789 us."
expect fail "Two threads: 2 of them."

# The committed report: every figure of its prose, one digit changed (the
# last one, so "0.71" becomes "0.72" and never a longer or shorter
# number), must make the check fail unless the changed figure happens to
# be another cell as printed ("table 4.2" is a label, not a figure); and
# the document as committed must pass.
doc=$src/docs/BENCHMARKS.md
if ! awk -f "$awkf" "$doc" >"$work/doc.out" 2>&1; then
    cat "$work/doc.out"
    echo "check-prose-test: docs/BENCHMARKS.md fails the check as committed"
    rc=1
fi
awk '
    /^## What the figures say/ { prose = 1; next }
    /^## / { prose = 0 }
    !prose && /^\|/ {
        line = $0; sub(/^\|/, "", line); sub(/\|[ \t]*$/, "", line)
        n = split(line, f, "|")
        for (i = 1; i <= n; i++) { c = f[i]; gsub(/^[ \t]+|[ \t]+$/, "", c); cells[c] = 1 }
        next
    }
    prose {
        s = $0; pos = 0
        while (match(s, /[ (]<?[0-9]+\.[0-9]+[x%]?[ ,;:).]/)) {
            fig = substr(s, RSTART + 1, RLENGTH - 2)
            start = pos + RSTART + 1
            # The last digit of the figure, bumped by one (9 -> 8).
            for (k = length(fig); substr(fig, k, 1) !~ /[0-9]/; k--) ;
            d = substr(fig, k, 1) + 0
            nd = d == 9 ? 8 : d + 1
            mut = substr(fig, 1, k - 1) nd substr(fig, k + 1)
            label = start > 6 && substr($0, start - 6, 6) ~ /[Tt]able $/
            if (!label && !(mut in cells))
                printf "%d\t%d\t%d\t%s\t%s\n", NR, start, length(fig), fig, mut
            pos += RSTART + RLENGTH - 2
            s = substr(s, RSTART + RLENGTH - 1)
        }
    }' "$doc" >"$work/mutations.txt"
nm=$(wc -l <"$work/mutations.txt")
if [ "$nm" -lt 20 ]; then
    echo "check-prose-test: only $nm figures of docs/BENCHMARKS.md's prose to mutate"
    rc=1
fi
escaped=0
i=0
while IFS='	' read -r line start len fig mut; do
    i=$((i + 1))
    awk -v L="$line" -v S="$start" -v N="$len" -v M="$mut" \
        'NR == L { $0 = substr($0, 1, S - 1) M substr($0, S + N) } { print }' \
        "$doc" >"$work/mutant.md"
    if awk -f "$awkf" "$work/mutant.md" >"$work/mutant.out" 2>&1; then
        echo "check-prose-test: line $line: $fig changed to $mut, and the check still passed"
        escaped=$((escaped + 1))
    fi
done <"$work/mutations.txt"
echo "check-prose-test: $n sentences, $i drifted figures of docs/BENCHMARKS.md, $escaped accepted"
[ "$escaped" -eq 0 ] || rc=1
exit $rc
