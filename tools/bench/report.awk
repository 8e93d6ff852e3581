# tools/bench/report.awk - the body of docs/BENCHMARKS.md from the markdown
# tables of one `cmodx-bench --markdown` run (run by run-standard.sh):
#
#   awk -v plots=bench -f tools/bench/report.awk TABLES.md
#
# It prints the run's sections with a label before every table ("Table
# 4.2": section 4, second table), the plots, then "What the figures say":
# sentences whose every figure is a cell of those tables, quoted as the
# table prints it (never recomputed or rounded again: a ratio is the
# table's own ratio column).  Every sentence with a figure names its table
# ("table 4.2"), and a figure of one row follows that row's label (first
# text cell) and, where rows share a label, the row's count ("`epoch` with
# 2 callers 0.16 us"): check-prose.awk binds each figure to that table and
# to that one row.  Words that
# judge a figure ("below", "slower") are decided from the printed cell, so
# they cannot contradict it.  Text that is not generated here carries no
# figure.  tools/bench/check-prose.awk checks the result.  A table or row missing from the run
# (liburcu absent, --quick, a strategy unavailable) drops the sentences
# that need it.

function trim(s) { gsub(/^[ \t]+|[ \t]+$/, "", s); return s }

# The number in a cell: "0.63x" -> 0.63, "100.0%" -> 100.0, "n/a" -> "".
function num(c) {
    c = trim(c)
    sub(/^</, "", c)
    sub(/[x%]$/, "", c)
    return c ~ /^-?[0-9]+(\.[0-9]+)?$/ ? c + 0 : ""
}

# Row of table (S, T) whose first cell is K1 and, if K2 != "", whose
# second is K2; 0 if none.
function row(s, t, k1, k2,    r) {
    for (r = 1; r <= nrow[s, t]; r++)
        if (cell[s, t, r, 1] == k1 && (k2 == "" || cell[s, t, r, 2] == k2))
            return r
    return 0
}

# Column of table (S, T) named NAME; 0 if none.
function col(s, t, name,    c) {
    for (c = 1; c <= ncol[s, t]; c++)
        if (head[s, t, c] == name)
            return c
    return 0
}

# Value of column NAME in the row (K1, K2) of table (S, T), or "".
function val(s, t, k1, k2, name,    r, c) {
    r = row(s, t, k1, k2)
    c = col(s, t, name)
    return r && c ? num(cell[s, t, r, c]) : ""
}

# The same cell as printed ("0.57", "1.25x", "<0.01x"), or "" when the
# row or column is missing or the cell holds no number.
function txt(s, t, k1, k2, name,    r, c) {
    r = row(s, t, k1, k2)
    c = col(s, t, name)
    return r && c && num(cell[s, t, r, c]) != "" ? cell[s, t, r, c] : ""
}

# A printed ratio against 1: -1 below, 0 equal as printed, 1 above.
# "<0.01x" is below.
function cmp1(c) {
    if (c ~ /^</) return -1
    return num(c) < 1 ? -1 : num(c) > 1 ? 1 : 0
}

# The first table of section S whose first column is named FIRST and
# whose rows include K1; 0 if none.  N-th such table with NTH.
function table(s, first, k1, nth,    t, seen) {
    seen = 0
    for (t = 1; t <= ntab[s]; t++)
        if (head[s, t, 1] == first && (k1 == "" || row(s, t, k1, "")))
            if (++seen == (nth ? nth : 1))
                return t
    return 0
}

function us(c) { return c " us" }
function label(s, t) { return "table " s "." t }
function plural(n, word) { return n " " word (n == 1 ? "" : "s") }
function say(text) { out = out text "\n" }

function plot(n) {
    if (n == 1) print "![call path](" plots "/call.png)\n"
    if (n == 2) print "![publish latency](" plots "/publish.png)\n"
    if (n == 3) print "![batch throughput](" plots "/batch.png)\n"
    if (n == 4) print "![grace periods](" plots "/grace.png)\n"
}

# ---- read the tables, print the sections --------------------------------------

/^## [0-9]+\./ {
    if (sec) plot(sec)
    sec = substr($2, 1, length($2) - 1) + 0
    intable = 0
    print
    next
}
/^\|/ {
    line = $0
    sub(/^\|/, "", line)
    sub(/\|[ \t]*$/, "", line)
    n = split(line, f, "|")
    if (!intable) {                     # header row
        intable = 1
        t = ++ntab[sec]
        ncol[sec, t] = n
        for (i = 1; i <= n; i++)
            head[sec, t, i] = trim(f[i])
        print "*Table " sec "." t "*\n"
    } else if (line !~ /^[- :|]+$/) {   # data row (not the separator)
        r = ++nrow[sec, t]
        for (i = 1; i <= n; i++)
            cell[sec, t, r, i] = trim(f[i])
    }
    print
    next
}
{ intable = 0; print }

END {
    if (sec) plot(sec)
    out = ""
    call_path()
    publish()
    batches()
    grace()
    scale()
    print "## What the figures say\n"
    print "Generated from the tables above by `tools/bench/report.awk`: every figure"
    print "below is a cell of the table named in its sentence, of the row whose label"
    print "precedes it, as the table prints it, and every verdict is decided from the"
    print "printed cell (`tools/bench/check-prose.awk` checks that no other figure"
    print "appears).  Medians of latencies include whatever else the machine ran (see"
    print "the load average above); ratios within one table compare runs that shared it.\n"
    printf "%s", out
}

# ---- 1. call path -------------------------------------------------------------

function call_path(    t, d, v, names, n, i, r, list, worst, wname) {
    t = table(1, "variant", "direct (JIT block, fn pointer)")
    if (!t) return
    d = "direct (JIT block, fn pointer)"
    n = split("slot (plain load)|slot + epoch check|slot (per-thread trampoline)|CMODX_CALL (dispatching)", names, "|")
    list = ""
    worst = 0
    for (i = 1; i <= n; i++) {
        r = val(1, t, names[i], "", "ratio (best)")
        if (r == "") continue
        list = list (list ? ", " : "") "`" names[i] "` " txt(1, t, names[i], "", "ratio (best)")
        if (r > worst) { worst = r; wname = names[i] }
    }
    if (list == "") return
    say("**Call path (" label(1, t) ", column \"ratio (best)\").** On the best repetition")
    say("of each variant, relative to the direct call through a function pointer (" label(1, t) "): " list ".")
    say("The dearest is `" wname "`, at " txt(1, t, wname, "", "ratio (best)") " the direct call (" label(1, t) ").")
    r = txt(1, t, "compiled function (call rel32)", "", "ratio (best)")
    if (r != "")
        say("A `compiled function (call rel32)` costs " r " the call through a pointer (" label(1, t) "), which a JIT pays anyway to reach its code.")
    say("")
}

# ---- 2. publish ---------------------------------------------------------------

function publish(    t, k, n, w, fl, mb, re, nb, ep, tr, sg, mp, nv, s, vf, vre, vnb) {
    t = table(2, "strategy", "membarrier")
    if (!t) return
    say("**Publish (" label(2, t) ", medians).**")
    split("1 2 4 8", k, " ")
    for (i = 1; i <= 4; i++) {
        n = k[i]
        fl = txt(2, t, "floor: raw membarrier SYNC_CORE", n, "median us")
        mb = txt(2, t, "membarrier", n, "median us")
        vf = txt(2, t, "membarrier", n, "vs floor")
        re = txt(2, t, "membarrier + CMODX_RETIRE_OLD", n, "median us")
        nb = txt(2, t, "membarrier, new block each time", n, "median us")
        ep = txt(2, t, "epoch", n, "median us")
        tr = txt(2, t, "trampoline", n, "median us")
        sg = txt(2, t, "signal", n, "median us")
        nv = txt(2, t, "naive: sleep 1 time slice (WRONG)", n, "median us")
        if (mb == "") continue
        # Each figure follows the row label it comes from and the row's
        # number of callers, which check-prose.awk binds it to.
        w = " with " plural(n, "caller")
        s = "- `membarrier`" w " (" label(2, t) "): a publish takes " us(mb)
        if (fl != "" && vf != "") s = s ", " vf " (column \"vs floor\") the raw `membarrier(PRIVATE_EXPEDITED_SYNC_CORE)` alone, row `floor: raw membarrier SYNC_CORE`" w ", " us(fl)
        vre = txt(2, t, "membarrier + CMODX_RETIRE_OLD", n, "vs floor")
        vnb = txt(2, t, "membarrier, new block each time", n, "vs floor")
        if (re != "" && nb != "") s = s "; with a new block each time, retiring the replaced block (`membarrier + CMODX_RETIRE_OLD`" w ") takes " us(re) \
            (vre != "" && vnb != "" ? " (" vre " the floor)" : "") " against `membarrier, new block each time`" w ", whose publishes leave it to a later `cmodx_retire()`, " us(nb) (vre != "" && vnb != "" ? " (" vnb ")" : "")
        if (ep != "" && tr != "") s = s "; the strategies that make callers synchronise later, `epoch`" w " " us(ep) " and `trampoline`" w " " us(tr)
        if (sg != "") s = s "; `signal`" w ", which waits for every caller's handler, " us(sg)
        if (nv != "") s = s "; `naive: sleep 1 time slice (WRONG)`" w " (not a correct synchronisation) " us(nv)
        say(s ".")
    }
    say("Rows with more callers than cores include waiting for the scheduler (column \"cores\").")
    say("")
}

# ---- 3. batches ---------------------------------------------------------------

function batches(    t, r, sname, s, sp, slow, c) {
    t = table(3, "strategy", "")
    if (!t) return
    c = col(3, t, "speedup vs B=1")
    if (!c) return
    s = ""
    slow = ""
    # The last row of each strategy is its largest batch.
    for (r = 1; r <= nrow[3, t]; r++) {
        sname = cell[3, t, r, 1]
        sp = cell[3, t, r, c]
        if (num(sp) != "" && num(sp) < 1)
            slow = slow (slow ? "; " : "") "`" sname "` at batch size " cell[3, t, r, 2] " (" sp ")"
        if (r == nrow[3, t] || cell[3, t, r + 1, 1] != sname) {
            if (num(sp) == "") continue
            s = s (s ? "; " : "") "`" sname "` " sp " at batch size " cell[3, t, r, 2] \
                " (" cell[3, t, r, col(3, t, "per slot us")] " us per slot)" \
                (cmp1(sp) < 0 ? ", SLOWER per slot than single publishes" : cmp1(sp) == 0 ? ", no gain" : "")
        }
    }
    if (s == "") return
    say("**Batches (" label(3, t) ", column \"speedup vs B=1\", medians).** A batch pays one")
    say("cross-thread synchronisation for all its slots, so its rate should grow with its size.")
    say("Throughput at the largest batch, relative to batch size 1 (" label(3, t) "): " s ".")
    if (slow != "")
        say("**Batching is slower than single publishes** (a speedup below one, a regression to look into) in " label(3, t) " for: " slow ".")
    say("")
}

# ---- 4. grace periods -----------------------------------------------------------

function grace(    tc, ppc, cr, qr, t, ta, ts, tw, tp, a, b, c, k, n, i, m, tt, cm, q, cm99, q99, mb, s, verdict, mode, name, rm, r99) {
    t = table(4, "announcement", "cmodx_quiescent()")
    if (t) {
        q = val(4, t, "cmodx_quiescent()", "", "ratio to urcu QSBR")
        if (q != "") {
            say("**Grace periods, reader side (" label(4, t) ").** `cmodx_quiescent()` with no grace")
            say("period pending costs " txt(4, t, "cmodx_quiescent()", "", "ns best") " ns on its best repetition, " \
                txt(4, t, "cmodx_quiescent()", "", "ratio to urcu QSBR") " `urcu_qsbr_quiescent_state()` (" txt(4, t, "urcu_qsbr_quiescent_state()", "", "ns best") " ns) in the same run (" label(4, t) ").")
            say("")
        }
    }
    ta = table(4, "implementation", "cmodx_synchronize")
    ts = table(4, "implementation", "cmodx_synchronize (symmetric fences)")
    split("1 2 4 8", k, " ")
    for (m = 0; m < 2; m++) {
        tt = m ? ts : ta
        name = m ? "cmodx_synchronize (symmetric fences)" : "cmodx_synchronize"
        mode = m ? "with `CMODX_DOMAIN_SYMMETRIC_FENCES`" : "with the default (asymmetric) fences"
        if (!tt || !row(4, tt, "urcu_qsbr synchronize_rcu", "")) continue
        say("**Grace periods, writer side, " mode " (" label(4, tt) ").** `cmodx_synchronize()` against")
        say("liburcu QSBR's `synchronize_rcu()`, same readers, same run (median / p99):")
        for (i = 1; i <= 4; i++) {
            n = k[i]
            cm = txt(4, tt, name, n, "median us")
            q = txt(4, tt, "urcu_qsbr synchronize_rcu", n, "median us")
            cm99 = txt(4, tt, name, n, "p99 us")
            q99 = txt(4, tt, "urcu_qsbr synchronize_rcu", n, "p99 us")
            rm = txt(4, tt, name, n, "median / QSBR")
            r99 = txt(4, tt, name, n, "p99 / QSBR")
            if (cm == "" || q == "" || cm99 == "" || q99 == "" || rm == "" || r99 == "") continue
            # From the printed ratios: "at or below" when the ratio as
            # printed is 1.00x or less.
            verdict = (cmp1(rm) <= 0 && cmp1(r99) <= 0) ? "at or below QSBR on both" \
                    : (cmp1(rm) <= 0) ? "at or below QSBR on the median, above on the p99" \
                    : (cmp1(r99) <= 0) ? "above QSBR on the median, at or below on the p99" : "above QSBR on both"
            say("- `" name "` with " plural(n, "reader") " (" label(4, tt) "): " us(cm) " / " us(cm99) ", " rm " / " r99 \
                " of `urcu_qsbr synchronize_rcu` with " plural(n, "reader") " (" us(q) " / " us(q99) "): " verdict \
                (cell[4, tt, row(4, tt, name, n), col(4, tt, "cores")] ~ /OVERSUBSCRIBED/ ? " (oversubscribed)" : "") ".")
        }
        if (!m) {
            mb = txt(4, tt, "part: raw membarrier PRIVATE_EXPEDITED", "1", "median us")
            q = txt(4, tt, "part: raw membarrier PRIVATE_EXPEDITED", "1", "median / QSBR")
            if (mb != "" && q != "")
                say("- The raw `membarrier(PRIVATE_EXPEDITED)` alone, row `part: raw membarrier PRIVATE_EXPEDITED` with 1 reader (" label(4, tt) "), takes " us(mb) ", " q \
                    " QSBR's grace period: what every grace period with asymmetric fences would cost on a weakly ordered processor, where it remains F (docs/RECLAMATION.md).")
        }
        say("")
    }
    tp = table(4, "futex sleep", "no timeout")
    if (tp) {
        a = txt(4, tp, "no timeout", "", "median")
        b = txt(4, tp, "10 ms timeout", "", "median")
        c = txt(4, tp, "1 ms timeout", "", "median")
        if (a != "" && b != "" && c != "")
            say("**A sleep's timeout (" label(4, tp) ").** A futex wake-up round trip, at the median and on the best repetition (" label(4, tp) \
                "): when the sleepers arm no timer (`no timeout`), " us(a) " and " us(txt(4, tp, "no timeout", "", "us best")) \
                "; with a `10 ms timeout`, " us(b) " (" txt(4, tp, "10 ms timeout", "", "median / no timeout") \
                " the median without one) and " us(txt(4, tp, "10 ms timeout", "", "us best")) \
                "; with a `1 ms timeout`, " us(c) " (" txt(4, tp, "1 ms timeout", "", "median / no timeout") ") and " \
                us(txt(4, tp, "1 ms timeout", "", "us best")) ".\n")
    }
    tw = table(4, "fences", "")
    if (tw) {
        say("**Where the waits went (" label(4, tw) ").**")
        for (r = 1; r <= nrow[4, tw]; r++) {
            say("- " cell[4, tw, r, 1] " fences, " plural(cell[4, tw, r, 2], "reader") " (" label(4, tw) "): " \
                cell[4, tw, r, col(4, tw, "spin only")] " of " cell[4, tw, r, col(4, tw, "waits")] " waits ended in the spin; " \
                cell[4, tw, r, col(4, tw, "sleeps per wait")] " futex sleeps, " cell[4, tw, r, col(4, tw, "wake calls per wait")] \
                " reader wake calls and " cell[4, tw, r, col(4, tw, "membarriers per wait")] " membarriers per wait.")
        }
        say("")
    }
    tc = table(4, "writers", "")
    if (tc) {
        say("**Concurrent callers (" label(4, tc) ").** Several writers calling `cmodx_synchronize()` at once share grace")
        say("periods, as liburcu QSBR's `synchronize_rcu()` callers do (median / p99 per call, same readers, same run):")
        for (r = 1; r <= nrow[4, tc]; r++) {
            if (cell[4, tc, r, 2] != "cmodx_synchronize") continue
            n = cell[4, tc, r, 1]
            cm = txt(4, tc, n, "cmodx_synchronize", "median us")
            cm99 = txt(4, tc, n, "cmodx_synchronize", "p99 us")
            q = txt(4, tc, n, "urcu_qsbr synchronize_rcu", "median us")
            q99 = txt(4, tc, n, "urcu_qsbr synchronize_rcu", "p99 us")
            rm = txt(4, tc, n, "cmodx_synchronize", "median / QSBR")
            r99 = txt(4, tc, n, "cmodx_synchronize", "p99 / QSBR")
            ppc = txt(4, tc, n, "cmodx_synchronize", "periods per call")
            cr = txt(4, tc, n, "cmodx_synchronize", "calls per ms")
            qr = txt(4, tc, n, "urcu_qsbr synchronize_rcu", "calls per ms")
            if (cm == "" || cm99 == "" || ppc == "") continue
            # The figures of each row follow its label and its number of
            # writers (check-prose.awk binds them to that one row).
            s = "- `cmodx_synchronize` with " plural(n, "writer") " (" label(4, tc) "): " us(cm) " / " us(cm99)
            verdict = ""
            if (q != "" && q99 != "" && rm != "" && r99 != "") {
                verdict = (cmp1(rm) <= 0 && cmp1(r99) <= 0) ? "at or below QSBR on both" \
                        : (cmp1(rm) <= 0) ? "at or below QSBR on the median, above on the p99" \
                        : (cmp1(r99) <= 0) ? "above QSBR on the median, at or below on the p99" : "above QSBR on both"
                s = s ", " rm " / " r99 " of QSBR's"
            }
            if (cr != "")
                s = s "; " cr " calls per ms of all writers"
            s = s "; " ppc " grace periods started per call"
            if (verdict != "" || (cr != "" && qr != "")) {
                s = s "; `urcu_qsbr synchronize_rcu` with " plural(n, "writer")
                if (verdict != "") s = s ", " us(q) " / " us(q99)
                if (cr != "" && qr != "") s = s ", " qr " calls per ms"
                if (verdict != "") s = s ": " verdict
            }
            s = s (cell[4, tc, r, col(4, tc, "cores")] ~ /OVERSUBSCRIBED/ ? " (oversubscribed)" : "") "."
            say(s)
        }
        say("")
    }
}

# ---- 5. scale -------------------------------------------------------------------

function scale(    t, r, s, tm, a, b) {
    t = table(5, "strategy", "")
    if (t) {
        s = ""
        for (r = 1; r <= nrow[5, t]; r++)
            s = s (s ? "; " : "") cell[5, t, r, 1] " " cell[5, t, r, col(5, t, "bytes/slot")] " bytes per slot"
        say("**Scale (" label(5, t) ").** Per strategy (" label(5, t) "): " s ".")
    }
    t = table(5, "figure", "metadata bytes per live block")
    if (t)
        say("The metadata of a live block (`metadata bytes per live block`) takes " cell[5, t, row(5, t, "metadata bytes per live block", ""), 2] \
            " bytes; after the churn, the share of the mapped bytes that is free (`after churn: free bytes / mapped`) is " cell[5, t, row(5, t, "after churn: free bytes / mapped", ""), 2] \
            " (" label(5, t) ").")
    tm = table(5, "step", "mmap MAP_FIXED remap (1 page)")
    if (tm) {
        a = txt(5, tm, "mmap MAP_FIXED remap (1 page)", "", "ns median")
        b = txt(5, tm, "mprotect R then RX (1 page)", "", "ns median")
        if (a != "" && b != "")
            say("The remap before reuse, one `mmap(MAP_FIXED)` per page (`mmap MAP_FIXED remap (1 page)`), takes " a " ns at the median; an `mprotect` pair (`mprotect R then RX (1 page)`) would take " \
                b " ns, but would fault the live neighbours on the page between its two calls (" label(5, tm) ").")
    }
    t = table(5, "with live slots", "free/s, no live slot")
    tm = table(5, "strategy", "")
    if (t && tm && nrow[5, t] >= 4)
        say("Each free and retirement asks whether a slot of any domain targets the block, one lookup whatever the number of slots: " \
            cell[5, t, 1, 2] " frees per second with no live slot, " cell[5, t, 2, 2] " with " cell[5, tm, 1, 2] \
            " live slots, and " cell[5, t, 4, 2] " retirements per second (median chunks, " label(5, t) "; the number of live slots from " label(5, tm) ").")
    say("")
}
