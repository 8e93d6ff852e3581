# tools/bench/check-prose.awk - check that the generated prose of a
# benchmark report quotes only figures of the tables its sentences name,
# each as a whole cell exactly as printed, and from the row a sentence
# names.
#
#   awk -f tools/bench/check-prose.awk BENCHMARKS.md
#
# Reads markdown as report.awk writes it: sections "## N. title" holding
# tables (lines starting with "|": a header row, a separator row, data
# rows), table N.T being the T-th table of section N; then a section "##
# What the figures say".
#
# The tables.  A data cell that prints one number is a figure: an optional
# "<", digits with an optional fraction, optionally "x", "%" or a time
# unit ("0.57", "1.25x", "<0.01x", "18.2%", "0.00 ms").  Its unit is the
# one it prints, else the time unit its column's header names ("median
# us", "ns best"; a bare statistic such as "median" or "p10" takes the
# unit of the nearest header to its left that names one), else the row's
# "unit" column ("us", "us/batch").  A unit after "per" names a rate, not
# a duration: the cells of "calls per ms" have no unit.  Any other cell or
# header with a digit in it ("10 ms timeout", "32 + stub + 8/thread",
# "speedup vs B=1") is a label: the prose may quote it whole, and its
# digits are then no figures.  A row's first cell that is not a figure is
# its row label.
#
# The prose is cut into sentences (a sentence ends with "." and a blank,
# a blank line or a list item "- ").  Each sentence that quotes a figure
# must name its table(s) ("table 4.2"), and each figure must be a cell of
# a table it names:
#   - a figure is every number of the sentence outside the labels it
#     quotes whole and outside "table N.T": digits with an optional
#     fraction and an optional leading "<";
#   - its unit is what follows, glued or after one blank: "x", "%", "us",
#     "ns", "ms", "s", optionally "/word" ("us/batch"), or the words
#     "times", "percent", "seconds", "milliseconds", "microseconds",
#     "nanoseconds"; "µs" is "us" and "×" is "x".  A figure with a unit
#     matches only a cell of that unit; one with none must equal a cell
#     as printed ("1.0" is not the cell "1.00", "1.25" not "1.25x");
#   - a number glued to other letters ("7e3", "v2.95x", "64bit") must
#     itself be a cell as printed, which it never is;
#   - where the sentence quotes a row label of a table it names, the
#     figures after it (up to the next row label) must all be cells of ONE
#     row with that label: "`membarrier` with 2 callers takes 0.91 us,
#     1.26x" binds 2, 0.91 us and 1.26x to the same row.  Figures before
#     any row label may be any cells of the named tables.
# Prints each stray figure with its line; exit status 0 when there is
# none, 1 otherwise, 2 when the file has no tables or no such section.

function trim(s) { gsub(/^[ \t]+|[ \t]+$/, "", s); return s }

# One spelling per unit: "µs" and "microseconds" are "us", "×" and
# "times" are "x", "percent" is "%"; a "/word" suffix is kept.
function norm_unit(u,    h, t) {
    h = u; t = ""
    if (index(u, "/")) { h = substr(u, 1, index(u, "/") - 1); t = substr(u, index(u, "/")) }
    if (h == "µs" || h == "microseconds") h = "us"
    else if (h == "nanoseconds") h = "ns"
    else if (h == "milliseconds") h = "ms"
    else if (h == "seconds") h = "s"
    else if (h == "×" || h == "times") h = "x"
    else if (h == "percent") h = "%"
    return h t
}

# The time unit named by a header: a word us, ns, ms or µs (also as the
# first part of "ns/call") not after "per" ("calls per ms" is a rate), or "".
function head_unit(h,    w, n, i, u) {
    n = split(h, w, /[ \t(),]+/)
    for (i = 1; i <= n; i++) {
        u = w[i]
        sub(/\/.*/, "", u)
        if (u ~ /^(us|ns|ms|µs)$/)
            return i > 1 && w[i - 1] == "per" ? "" : norm_unit(u)
    }
    return ""
}

# A header naming only a statistic: it takes its unit from its left.
function bare_stat(h) { return h ~ /^(best|median|mean|min|max|p[0-9]+|p[0-9]+\.\.p[0-9]+)$/ }

# A cell that prints one figure.
function is_figure(c) { return c ~ /^<?[0-9]+(\.[0-9]+)?(x|×|%| (us|ns|ms|µs|s))?$/ }

# Record a label (text quoted whole, whose digits are not figures).  The
# words of a header that hold a letter and a digit ("p99" of "p99 us")
# are labels too: the prose names statistics by them.
function add_head_words(h,    w, n, i) {
    n = split(h, w, /[ \t(),]+/)
    for (i = 1; i <= n; i++)
        if (w[i] ~ /[A-Za-z]/ && w[i] ~ /[0-9]/)
            add_label(w[i])
}
function add_label(c) {
    if (c ~ /[0-9]/ && !(c in islabel)) {
        islabel[c] = 1
        labels[++nlabels] = c
    }
}

# A table line: the header row of a new table, its separator, or data.
function table_line(line,    f, n, i, c, u, r) {
    sub(/^\|/, "", line)
    sub(/\|[ \t]*$/, "", line)
    n = split(line, f, "|")
    if (!intable) { # header row
        intable = 1
        k = ++ntables
        name = sec "." (++tinsec)
        tabname[k] = name
        tabidx[name] = k
        u = ""
        unitcolumn = 0
        for (i = 1; i <= n; i++) {
            c = trim(f[i])
            add_label(c)
            add_head_words(c)
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
    r = ++nrows[k]
    for (i = 1; i <= n; i++) {
        c = trim(f[i])
        if (!is_figure(c)) {
            add_label(c)
            if (!((k, r) in rowlabel) && c != "" && c != "-")
                rowlabel[k, r] = c
            continue
        }
        if (c ~ /(x|%)$/)
            u = substr(c, length(c))
        else if (c ~ /×$/)
            u = "x"
        else if (c ~ / /)
            u = substr(c, index(c, " ") + 1)
        else if (colunit[i] != "")
            u = colunit[i]
        else if (unitcolumn && unitcolumn <= n)
            u = trim(f[unitcolumn])
        else
            u = ""
        u = norm_unit(u)
        printed[k, r, c] = 1 # as printed, unit and all: "1.25x", "0.57", "0.00 ms"
        sub(/ .*/, "", c)
        sub(/(x|×|%)$/, "", c)
        withunit[k, r, c, u] = 1
    }
}

# 1 when S[I..I+L-1] stands alone: not inside a word or number, and not
# a function name followed by "(".
function alone(s, i, l,    before, after) {
    before = i > 1 ? substr(s, i - 1, 1) : " "
    after = substr(s, i + l, 1)
    return before !~ /[A-Za-z0-9_.\/]/ && after !~ /[A-Za-z0-9_(\/]/ &&
           !(after == "." && substr(s, i + l + 1, 1) ~ /[0-9]/)
}

# Replace every standalone occurrence of L in S with R.
function replace_label(s, l, r,    out, i) {
    out = ""
    while ((i = index(s, l)) > 0) {
        if (alone(s, i, length(l))) out = out substr(s, 1, i - 1) r
        else out = out substr(s, 1, i + length(l) - 1)
        s = substr(s, i + length(l))
    }
    return out s
}

# Sort the strings A[1..N] longest first (a label inside a longer one is
# replaced only where the longer one is not).
function by_length(a, n,    i, j, t) {
    for (i = 2; i <= n; i++) {
        t = a[i]
        for (j = i - 1; j >= 1 && length(a[j]) < length(t); j--)
            a[j + 1] = a[j]
        a[j + 1] = t
    }
}

# Is the figure (NUM, UNIT; TEXT as written when UNIT is "") a cell of
# row R of table K?
function in_row(k, r, num, unit, text) {
    return unit == "" ? ((k, r, text) in printed) : ((k, r, num, unit) in withunit)
}

function stray(what) {
    printf "check-prose: line %d: %s: %s\n", sline, what, stext
    bad++
}

# Check one sentence S (starting on line SLINE).
function check_sentence(s,    nk, kk, i, j, k, r, name, rest, nl, cand, lab, ncand, tok, num, unit, pre, text, cur, keep, any, found, t) {
    stext = s
    s = " " s " "
    # The tables it names.
    nk = 0
    rest = s
    s = ""
    while (match(rest, /[Tt]able [0-9]+\.[0-9]+/)) {
        name = substr(rest, RSTART + 6, RLENGTH - 6)
        s = s substr(rest, 1, RSTART - 1) " "
        rest = substr(rest, RSTART + RLENGTH)
        if (!(name in tabidx)) { stray("it names table " name ", which the document does not have"); continue }
        kk[++nk] = tabidx[name]
    }
    s = s rest
    # The row labels of those tables it quotes become markers \001i\002.
    nl = 0
    for (i = 1; i <= nk; i++)
        for (r = 1; r <= nrows[kk[i]]; r++)
            if ((kk[i], r) in rowlabel && !(rowlabel[kk[i], r] in seenl) && index(s, rowlabel[kk[i], r])) {
                seenl[rowlabel[kk[i], r]] = 1
                lab[++nl] = rowlabel[kk[i], r]
            }
    for (i = 1; i <= nl; i++) delete seenl[lab[i]]
    by_length(lab, nl)
    for (i = 1; i <= nl; i++)
        s = replace_label(s, lab[i], "\001" i "\002")
    # Other labels are blanked.
    for (i = 1; i <= nlabels; i++)
        if (index(s, labels[i]))
            s = replace_label(s, labels[i], " ")
    cur = 0
    while (match(s, /\001[0-9]+\002|[0-9]+(\.[0-9]+)?/)) {
        tok = substr(s, RSTART, RLENGTH)
        pre = RSTART > 1 ? substr(s, RSTART - 1, 1) : " "
        rest = substr(s, RSTART + RLENGTH)
        s = rest
        if (tok ~ /^\001/) { # a row label: the rows it names
            cur = substr(tok, 2, length(tok) - 2) + 0
            ncand = 0
            for (i = 1; i <= nk; i++)
                for (r = 1; r <= nrows[kk[i]]; r++)
                    if (rowlabel[kk[i], r] == lab[cur]) {
                        ++ncand
                        cand[ncand, "k"] = kk[i]
                        cand[ncand, "r"] = r
                        cand[ncand, "ok"] = 1
                    }
            continue
        }
        num = tok
        if (pre == "<") num = "<" num
        unit = ""
        text = num
        if (pre ~ /[A-Za-z_.]/) {
            # Glued after letters ("v2.95x"): the whole word must be a cell.
            match(rest, /^[A-Za-z0-9_%.]*/)
            text = pre num substr(rest, 1, RLENGTH)
            s = substr(rest, RLENGTH + 1)
        } else if (match(rest, /^(x|×|%|us|µs|ns|ms|s)(\/[A-Za-z]+)?/) &&
                   substr(rest, RLENGTH + 1, 1) !~ /[A-Za-z0-9_]/) {
            unit = norm_unit(substr(rest, 1, RLENGTH))
            s = substr(rest, RLENGTH + 1)
        } else if (rest ~ /^[A-Za-z0-9_]/) {
            # Glued to a word that is no unit ("7e3", "3rd").
            match(rest, /^[A-Za-z0-9_]*/)
            text = num substr(rest, 1, RLENGTH)
            s = substr(rest, RLENGTH + 1)
        } else if (match(rest, /^ (x|×|us|µs|ns|ms|s|times|percent|seconds|milliseconds|microseconds|nanoseconds)(\/[A-Za-z]+)?/) &&
                   substr(rest, RLENGTH + 1, 1) !~ /[A-Za-z0-9_]/) {
            unit = norm_unit(substr(rest, 2, RLENGTH - 1))
            s = substr(rest, RLENGTH + 1)
        }
        figures++
        t = text (unit == "" ? "" : unit ~ /^(x|%)$/ ? unit : " " unit)
        if (!nk) { stray("figure " t " in a sentence that names no table"); continue }
        if (!cur) {
            found = 0
            for (i = 1; i <= nk && !found; i++)
                for (r = 1; r <= nrows[kk[i]] && !found; r++)
                    found = in_row(kk[i], r, num, unit, text)
            if (!found) stray("figure " t " is in no table the sentence names (with that unit)")
            continue
        }
        any = 0
        for (j = 1; j <= ncand; j++)
            if (cand[j, "ok"] && in_row(cand[j, "k"], cand[j, "r"], num, unit, text))
                any = 1
        if (!any) {
            stray("figure " t " is not in the row \"" lab[cur] "\" of the named table(s), with the figures quoted before it")
            continue
        }
        for (j = 1; j <= ncand; j++)
            if (cand[j, "ok"] && !in_row(cand[j, "k"], cand[j, "r"], num, unit, text))
                cand[j, "ok"] = 0
    }
}

# Cut the paragraph or list item gathered in UNIT_TEXT into sentences.
function flush(    p, one) {
    p = unit_text " "
    unit_text = ""
    while (p ~ /[^ \t]/) {
        if (match(p, /\.(\*\*)?[ \t]/)) {
            one = substr(p, 1, RSTART + RLENGTH - 2)
            p = substr(p, RSTART + RLENGTH)
            check_sentence(one)
        } else {
            check_sentence(p)
            p = ""
        }
    }
}

/^## What the figures say/ { prose = 1; found = 1; intable = 0; next }
/^## / {
    if (prose) flush()
    prose = 0
    if ($2 ~ /^[0-9]+\.$/) { sec = substr($2, 1, length($2) - 1); tinsec = 0 }
}
!prose && /^\|/ { table_line($0); next }
{ intable = 0 }
prose {
    if ($0 ~ /^[ \t]*$/ || $0 ~ /^- /) flush()
    if ($0 ~ /[^ \t]/) {
        if (unit_text == "") sline = NR
        unit_text = unit_text " " $0
    }
}
END {
    if (prose) flush()
    if (!ntables || !found) {
        print "check-prose: no tables or no \"What the figures say\" section" > "/dev/stderr"
        exit 2
    }
    printf "check-prose: %d figure(s) checked, %d stray\n", figures, bad
    exit bad ? 1 : 0
}
