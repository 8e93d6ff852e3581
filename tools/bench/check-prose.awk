# tools/bench/check-prose.awk - check that the generated prose of a
# benchmark report quotes only figures its tables print, each as a whole
# cell exactly as printed.
#
#   awk -f tools/bench/check-prose.awk BENCHMARKS.md
#
# Reads markdown as report.awk writes it: the tables (lines starting with
# "|": a header row, a separator row, data rows), then a section "## What
# the figures say".  The data cells of the tables are the only source of
# figures:
#   - a figure cell prints one number: an optional "<", digits with an
#     optional fraction, and optionally "x", "%" or a time unit ("0.57",
#     "1.25x", "<0.01x", "18.2%", "0.00 ms").  Its unit is the one it
#     prints, else the time unit its column's header names ("median us",
#     "ns best"; a bare statistic such as "median" or "p10" takes the unit
#     of the nearest header to its left that names one: "us best |
#     median"), else the row's "unit" column ("us", "us/batch");
#   - any other cell or header with a digit in it ("10 ms timeout",
#     "32 + stub + 8/thread", "0.094..4.271", "speedup vs B=1") is a
#     label: the prose may quote it whole, verbatim, and its digits are then
#     no figures.
# In the prose, "table 4.2" is a label too.  Every other number of the
# prose (digits with an optional fraction, an optional leading "<",
# followed by "x" or "%" or by a time unit, or by neither; not part of a
# word such as "rel32") must equal a figure cell as printed: "1.0" is not
# the cell "1.00", nor part of "11.0" or "1.0x"; "1.25" is not "1.25x";
# and a figure with a unit matches only a cell with that unit ("0.71 us"
# is not the cell 0.71 of a column in ns).  A figure recomputed or rounded
# again, or quoted with another unit, is therefore caught.  Prints each
# stray figure with its line; exit status 0 when there is none, 1
# otherwise, 2 when the file has no tables or no such section.

function trim(s) { gsub(/^[ \t]+|[ \t]+$/, "", s); return s }

# The time unit named by a header: a word us, ns, ms or µs (also as the
# first part of "ns/call"), or "".
function head_unit(h,    w, n, i, u) {
    n = split(h, w, /[ \t(),]+/)
    for (i = 1; i <= n; i++) {
        u = w[i]
        sub(/\/.*/, "", u)
        if (u ~ /^(us|ns|ms|µs)$/)
            return u
    }
    return ""
}

# A header naming only a statistic: it takes its unit from its left.
function bare_stat(h) { return h ~ /^(best|median|mean|min|max|p[0-9]+|p[0-9]+\.\.p[0-9]+)$/ }

# A cell that prints one figure ("" unit when it prints none).
function is_figure(c) { return c ~ /^<?[0-9]+(\.[0-9]+)?([x%]| (us|ns|ms|µs))?$/ }

# Record a label (text quoted whole, whose digits are not figures).
function add_label(c) {
    if (c ~ /[0-9]/ && !(c in islabel)) {
        islabel[c] = 1
        labels[++nlabels] = c
    }
}

# A table line: the header row of a new table, its separator, or data.
function table_line(line,    f, n, i, c, u) {
    sub(/^\|/, "", line)
    sub(/\|[ \t]*$/, "", line)
    n = split(line, f, "|")
    if (!intable) { # header row
        intable = 1
        u = ""
        unitcolumn = 0
        for (i = 1; i <= n; i++) {
            c = trim(f[i])
            add_label(c)
            if (head_unit(c) != "")
                u = head_unit(c)
            else if (!bare_stat(c))
                u = ""
            colunit[i] = head_unit(c) != "" ? head_unit(c) : bare_stat(c) ? u : ""
            if (c == "unit")
                unitcolumn = i
        }
        return
    }
    if (line ~ /^[- :|]+$/)
        return # the separator
    for (i = 1; i <= n; i++) {
        c = trim(f[i])
        if (!is_figure(c)) {
            add_label(c)
            continue
        }
        if (c ~ /[x%]$/)
            u = substr(c, length(c))
        else if (c ~ / /)
            u = substr(c, index(c, " ") + 1)
        else if (colunit[i] != "")
            u = colunit[i]
        else if (unitcolumn && unitcolumn <= n)
            u = trim(f[unitcolumn])
        else
            u = ""
        printed[c] = 1 # as printed, unit and all: "1.25x", "0.57", "0.00 ms"
        sub(/ .*/, "", c)
        withunit[c, u] = 1
    }
}

# Blank every verbatim occurrence of label L in S whose ends are not
# inside a word or number.
function blank_label(s, l,    out, i, before, after) {
    out = ""
    while ((i = index(s, l)) > 0) {
        before = i > 1 ? substr(s, i - 1, 1) : " "
        after = substr(s, i + length(l), 1)
        if (before !~ /[A-Za-z0-9_.]/ && after !~ /[A-Za-z0-9_]/ &&
            !(after == "." && substr(s, i + length(l) + 1, 1) ~ /[0-9]/)) {
            out = out substr(s, 1, i - 1) " "
        } else {
            out = out substr(s, 1, i + length(l) - 1)
        }
        s = substr(s, i + length(l))
    }
    return out s
}

# Check the figures of prose line S; counts them in FIGURES, strays in BAD.
function check_line(s,    i, t, num, unit, rest, m) {
    s = " " s " "
    gsub(/[Tt]able [0-9]+\.[0-9]+/, " ", s)
    for (i = 1; i <= nlabels; i++)
        if (index(s, labels[i]))
            s = blank_label(s, labels[i])
    while (match(s, /[^A-Za-z0-9_.]<?[0-9]+(\.[0-9]+)?/)) {
        num = substr(s, RSTART + 1, RLENGTH - 1)
        rest = substr(s, RSTART + RLENGTH)
        s = rest
        if (rest ~ /^[A-Za-z0-9_]/ && rest !~ /^x[^A-Za-z0-9_]/)
            continue # part of a word ("3rd", "64bit"), not a figure
        unit = ""
        if (rest ~ /^[x%]/) {
            unit = substr(rest, 1, 1)
        } else if (match(rest, /^ (us|ns|ms|µs)(\/[a-z]+)?([^A-Za-z0-9_]|$)/)) {
            m = substr(rest, 2, RLENGTH - 1)
            sub(/[^A-Za-z0-9_\/µ]$/, "", m)
            unit = m
        }
        figures++
        if (unit == "x" || unit == "%") {
            t = num unit
            if (!(t in printed)) {
                printf "check-prose: line %d: figure %s is in no table: %s\n", NR, t, $0
                bad++
            }
        } else if (unit != "") {
            if (!((num, unit) in withunit)) {
                printf "check-prose: line %d: figure %s %s is in no table (with that unit): %s\n",
                       NR, num, unit, $0
                bad++
            }
        } else if (!(num in printed)) {
            printf "check-prose: line %d: figure %s is in no table: %s\n", NR, num, $0
            bad++
        }
    }
}

/^## What the figures say/ { prose = 1; found = 1; intable = 0; next }
/^## / { prose = 0 }
!prose && /^\|/ { if (!intable) ntables++; table_line($0); next }
{ intable = 0 }
prose { check_line($0) }
END {
    if (!ntables || !found) {
        print "check-prose: no tables or no \"What the figures say\" section" > "/dev/stderr"
        exit 2
    }
    printf "check-prose: %d figure(s) checked, %d in no table\n", figures, bad
    exit bad ? 1 : 0
}
