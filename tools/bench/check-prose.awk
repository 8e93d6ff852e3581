# tools/bench/check-prose.awk - check that the generated prose of a
# benchmark report quotes only figures its tables print.
#
#   awk -f tools/bench/check-prose.awk BENCHMARKS.md
#
# Reads markdown as report.awk writes it: the tables (lines starting with
# "|"), then a section "## What the figures say".  Every number in that
# section (a run of digits with an optional fraction, an optional leading
# "<" and trailing "x" or "%", not part of a word such as "rel32") must
# appear, written exactly so, among the numbers of the tables' cells;
# "table 4.2" and "Table 4.2" are labels, not figures.  A figure that was
# recomputed or rounded again ("11 us" where the table says 11.39, or a
# ratio of two cells) is therefore caught.  Prints each stray figure with
# its line; exit status 0 when there is none, 1 otherwise, 2 when the file
# has no tables or no such section.

# The numbers of S, each as written, into the array A (A[token] = 1).
function tokens(s, a,    t, n) {
    n = 0
    s = " " s " "
    gsub(/[Tt]able [0-9]+\.[0-9]+/, " ", s)
    while (match(s, /[^A-Za-z0-9_.]<?[0-9]+(\.[0-9]+)?[x%]?[^A-Za-z0-9_]/)) {
        t = substr(s, RSTART + 1, RLENGTH - 2)
        a[t] = 1
        n++
        s = substr(s, RSTART + RLENGTH - 1)
    }
    return n
}

/^## What the figures say/ { prose = 1; found = 1; next }
/^## / { prose = 0 }
!prose && /^\|/ { ntables++; tokens($0, intable); next }
prose {
    delete here
    if (tokens($0, here))
        for (t in here)
            if (!(t in intable)) {
                printf "check-prose: line %d: figure %s is in no table: %s\n", NR, t, $0
                bad++
            }
    figures += length(here)
}
END {
    if (!ntables || !found) {
        print "check-prose: no tables or no \"What the figures say\" section" > "/dev/stderr"
        exit 2
    }
    printf "check-prose: %d figure(s) checked, %d in no table\n", figures, bad
    exit bad ? 1 : 0
}
