#!/bin/sh
# measure-overhead.sh — wall time of programs under plain qemu-user versus
# under cmodx-check, same qemu build, same machine.
#
# Usage: tools/check/measure-overhead.sh [-n REPS] [-L SYSROOT] < COMMANDS
#   COMMANDS: one program with its arguments per line.
# For each command it prints the median of REPS runs under plain qemu
# (bin/qemu-<arch>), under qemu with the plugin, and under the
# cmodx-check wrapper (plugin + shell start-up), with the ratios; then the
# geometric means of the ratios.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
reps=5
sysroot=${QEMU_LD_PREFIX:-}
while getopts n:L: opt; do
    case $opt in
    n) reps=$OPTARG ;;
    L) sysroot=$OPTARG ;;
    *) exit 2 ;;
    esac
done
built=$("$HERE/cmodx-check" --build)
qemu_dir=$(echo "$built" | sed -n 1p)
plugin=$(echo "$built" | sed -n 2p)

now() { date +%s.%N; }

# wall seconds of one run of CMD...
wall() {
    t0=$(now)
    "$@" >/dev/null 2>&1 || true
    t1=$(now)
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f\n", b - a }'
}

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

arch_of() {
    case $(od -An -t u2 -j 18 -N 2 "$1" | tr -d ' ') in
    183) echo aarch64 ;; 40) echo arm ;; 243) echo riscv64 ;; *) echo unknown ;;
    esac
}

printf '%-44s %8s %8s %8s %7s %7s\n' program plain plugin wrapper ratio-p ratio-w
tmp=$(mktemp)
trap 'rm -f "$tmp" "$tmp.p" "$tmp.g" "$tmp.w"' EXIT
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
        wall "$q" -L "$root" "$@" >> "$tmp.p"
        CMODX_QEMU_CTR_EL0=0x80038003 wall "$q" -L "$root" \
            -plugin "$plugin,log=/dev/null" "$@" >> "$tmp.g"
        wall "$HERE/cmodx-check" -L "$root" --log-file=/dev/null -- "$@" >> "$tmp.w"
        i=$((i + 1))
    done
    plain=$(median < "$tmp.p")
    plug=$(median < "$tmp.g")
    wrap=$(median < "$tmp.w")
    rp=$(awk -v a="$plug" -v b="$plain" 'BEGIN { printf "%.4f", a / b }')
    rw=$(awk -v a="$wrap" -v b="$plain" 'BEGIN { printf "%.4f", a / b }')
    echo "$rp $rw" >> "$tmp"
    printf '%-44s %8.3f %8.3f %8.3f %7.2f %7.2f\n' "$(basename "$1") ${2:-}" "$plain" "$plug" "$wrap" "$rp" "$rw"
done
awk '{ p += log($1); w += log($2); n++ }
     END { if (n) printf "geometric mean over %d programs (%s runs each, median): plugin %.2fx, wrapper %.2fx\n", n, "'"$reps"'", exp(p / n), exp(w / n) }' "$tmp"
