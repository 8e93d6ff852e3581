#!/bin/sh
# measure-overhead.sh — wall time of programs under plain qemu-user versus
# under cmodx-check, same qemu build, same machine.
#
# Usage: tools/check/measure-overhead.sh [-n REPS] [-L SYSROOT] [-f MODE] < COMMANDS
#   COMMANDS: one program with its arguments per line (for the library's
#   own programs: bench/library-programs.sh).
#   -f MODE: measure bench/floor.c instead of the checker (MODE: stores,
#   loads or values; the callbacks any model of the same kind pays, with
#   nothing in them); the wrapper column is then not measured ("-").
# For each command it prints the median wall time of REPS runs under plain
# qemu (bin/qemu-<arch>), under qemu with the plugin, and under the
# cmodx-check wrapper (plugin + shell start-up), the ratios to plain, and
# the median CPU time (user + system) plain and with the plugin and their
# ratio; then the geometric means of the ratios.  The three ways alternate
# within each repetition.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
reps=5
sysroot=${QEMU_LD_PREFIX:-}
floor=
while getopts n:L:f: opt; do
    case $opt in
    n) reps=$OPTARG ;;
    L) sysroot=$OPTARG ;;
    f) case $OPTARG in
       stores | loads | values) floor=$OPTARG ;;
       *) echo "$0: -f: stores, loads or values" >&2; exit 2 ;;
       esac ;;
    *) exit 2 ;;
    esac
done
built=$("$HERE/cmodx-check" --build)
qemu_dir=$(echo "$built" | sed -n 1p)
plugin=$(echo "$built" | sed -n 2p)
tmp=$(mktemp)
trap 'rm -f "$tmp" "$tmp.p" "$tmp.g" "$tmp.w" "$tmp.so"' EXIT
if [ -n "$floor" ]; then
    # shellcheck disable=SC2046 # glib's flags
    ${HOST_CC:-cc} -std=c11 -O2 -Wall -Wextra -Werror -fPIC -shared -fvisibility=hidden \
        -I"$qemu_dir/include" $(pkg-config --cflags glib-2.0) -o "$tmp.so" \
        "$HERE/bench/floor.c" || exit 1
    plugin="$tmp.so,mode=$floor"
fi
label=plugin   # what the plugin column measured
[ -z "$floor" ] || label="floor $floor"

now() { date +%s.%N; }

# "wall cpu status" of one run of CMD... (seconds; cpu: user + system of
# the run, from the shell's `times`, steadier than wall time on a busy
# machine; status: the run's exit status)
run1() {
    t0=$(now)
    # times: the shell's own line, then its children's (the run's)
    c=$( ("$@" </dev/null >/dev/null 2>&1; echo "status $?"; times) | tail -n 3)
    t1=$(now)
    echo "$c" | awk -v a="$t0" -v b="$t1" '
        function sec(s) { split(s, p, "m"); sub("s", "", p[2]); return p[1] * 60 + p[2] }
        $1 == "status" { st = $2; next }
        { cpu = sec($1) + sec($2) }
        END { printf "%.6f %.6f %s\n", b - a, cpu, st }'
}

# median of column $1 of stdin
median() { awk -v c="$1" '{ print $c }' | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

arch_of() {
    case $(od -An -t u2 -j 18 -N 2 "$1" | tr -d ' ') in
    183) echo aarch64 ;; 40) echo arm ;; 243) echo riscv64 ;; *) echo unknown ;;
    esac
}

failed=0
printf '%-34s %7s %7s %7s %7s %7s %7s %7s %7s\n' program wall wall+p wall+w ratio-p ratio-w cpu cpu+p cpu-rat
while IFS= read -r line; do
    [ -n "$line" ] || continue
    # shellcheck disable=SC2086 # a command line
    set -- $line
    arch=$(arch_of "$1")
    q="$qemu_dir/bin/qemu-$arch"
    root=$sysroot
    [ -n "$root" ] || root=/usr/$( [ "$arch" = arm ] && echo arm-linux-gnueabihf || echo "$arch-linux-gnu")
    # The three ways alternate within each repetition, so that a change of
    # machine load hits them alike.
    : > "$tmp.p"; : > "$tmp.g"; : > "$tmp.w"
    i=0
    while [ "$i" -lt "$reps" ]; do
        run1 "$q" -L "$root" "$@" >> "$tmp.p"
        CMODX_QEMU_CTR_EL0=0x80038003 run1 "$q" -L "$root" \
            -plugin "$plugin,log=/dev/null" "$@" >> "$tmp.g"
        # (With -f, the wrapper has nothing to run: $tmp.w stays empty.)
        [ -n "$floor" ] ||
            run1 "$HERE/cmodx-check" -L "$root" --log-file=/dev/null -- "$@" >> "$tmp.w"
        i=$((i + 1))
    done
    # A run that ended otherwise than plain qemu's (a plugin that did not
    # load, a crash, a hazard) measured something else: said, and the
    # script fails at the end.
    pst=$(awk 'NR == 1 { print $3 }' "$tmp.p")
    if awk -v s="$pst" '$3 != s { bad = 1 } END { exit !bad }' "$tmp.p" "$tmp.g" "$tmp.w"; then
        echo "$0: $* : a run did not exit as plain qemu's (status $pst); its times are not the program's" >&2
        failed=1
    fi
    plain=$(median 1 < "$tmp.p")
    plug=$(median 1 < "$tmp.g")
    cplain=$(median 2 < "$tmp.p")
    cplug=$(median 2 < "$tmp.g")
    rp=$(awk -v a="$plug" -v b="$plain" 'BEGIN { printf "%.4f", a / b }')
    rc=$(awk -v a="$cplug" -v b="$cplain" 'BEGIN { printf "%.4f", (b > 0 ? a / b : 1) }')
    rw=- wcol=- rwcol=-   # the wrapper, when measured
    if [ -s "$tmp.w" ]; then
        wrap=$(median 1 < "$tmp.w")
        rw=$(awk -v a="$wrap" -v b="$plain" 'BEGIN { printf "%.4f", a / b }')
        wcol=$(printf %.3f "$wrap") rwcol=$(printf %.2f "$rw")
    fi
    echo "$rp $rw $rc" >> "$tmp"
    printf '%-34s %7.3f %7.3f %7s %7.2f %7s %7.3f %7.3f %7.2f\n' "$(basename "$1") ${2:-}" \
        "$plain" "$plug" "$wcol" "$rp" "$rwcol" "$cplain" "$cplug" "$rc"
done
awk -v reps="$reps" -v label="$label" '{ p += log($1); c += log($3); n++ }
     $2 != "-" { w += log($2); nw++ }
     END { if (n) printf "geometric mean over %d programs (%s runs each, median): wall %s %.2fx, wall wrapper %s, cpu %s %.2fx\n", n, reps, label, exp(p / n), nw ? sprintf("%.2fx", exp(w / nw)) : "-", label, exp(c / n) }' "$tmp"
exit "$failed"
