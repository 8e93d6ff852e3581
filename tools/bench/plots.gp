# tools/bench/plots.gp - the plots of docs/BENCHMARKS.md, from the data
# files of `cmodx-bench --data DIR`.  Run by run-standard.sh:
#   gnuplot -e "datadir='DIR'; outdir='docs/bench'" tools/bench/plots.gp
if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
    set terminal pngcairo size 900,540 font "sans,10"
} else {
    set terminal png size 900,540
}
set grid
set termoption noenhanced
set key top left

# 1. Call path: ns per call, best and median repetition side by side.
set output outdir."/call.png"
set title "Call path: ns per call (best and median repetition)"
set style fill solid 0.7 border -1
set boxwidth 0.35 absolute
set ylabel "ns per call"
set xtics rotate by -20 scale 0 nomirror
set xrange [-0.6:5.6]
set yrange [0:*]
set bmargin 6
set rmargin 12
set key top left
plot datadir."/call.dat" using ($1-0.18):3:xtic(2) with boxes lc rgb "#4a7ebb" title "best", \
     "" using ($1+0.18):5 with boxes lc rgb "#e0a040" title "median"
set xtics norotate mirror
set xrange [*:*]
set bmargin
set rmargin

# 2. Publish latency vs callers, median, log scale.
set output outdir."/publish.png"
set title "Publish latency vs caller threads (median; 2 cores: >1 caller oversubscribes)"
set style data linespoints
set logscale y
set yrange [*:*]
set xlabel "caller threads"
set ylabel "microseconds (log)"
set xtics (1, 2, 4, 8)
set key outside right
plot for [s in "floor membarrier retire signal epoch trampoline mprotect naive"] \
     datadir."/publish-".s.".dat" using 1:2 title s lw 2
unset logscale y

# 3. Batch throughput vs batch size, log-log.
set output outdir."/batch.png"
set title "Batch throughput: slots switched per second (median)"
set logscale xy
set xlabel "batch size"
set ylabel "slots per second (log)"
set xtics auto
plot for [s in "membarrier signal epoch trampoline mprotect"] \
     datadir."/batch-".s.".dat" using 1:2 title s lw 2
unset logscale xy

# 4. Grace periods vs readers, median and p99.
set output outdir."/grace.png"
set title "Grace-period latency vs reader threads (median solid, p99 dashed)"
set logscale y
set xlabel "reader threads"
set ylabel "microseconds (log)"
set xtics (1, 2, 4, 8)
# "cmodx-sym": CMODX_DOMAIN_SYMMETRIC_FENCES; "membarrier": the raw
# membarrier(PRIVATE_EXPEDITED) part.  A file missing from the run (no
# liburcu, no membarrier) leaves its lines out.
names = "cmodx cmodx-sym qsbr memb membarrier"
files = ""
do for [i=1:words(names)] {
    f = datadir."/grace-".word(names, i).".dat"
    if (system("test -s '".f."' && echo 1") eq "1") { files = files." ".word(names, i) }
}
plot for [i=1:words(files)] datadir."/grace-".word(files, i).".dat" using 1:2 \
         title word(files, i)." median" lw 2 lc i, \
     for [i=1:words(files)] datadir."/grace-".word(files, i).".dat" using 1:3 \
         title word(files, i)." p99" dt 2 lc i
