#!/bin/sh
# jit-validate.sh — cmodx-check against real JITs from Debian's packages.
#
#   tools/check/jit-validate.sh [-o DIR] [-r N] [ARCH...]   ARCH: arm64 armhf riscv64
#
# For each architecture, Debian's LuaJIT and PCRE2 (with the C library they
# were built against) are fetched with tools/check/debian-root.sh (bookworm;
# trixie for riscv64, which bookworm lacks) and unpacked as a qemu -L root.
# Then:
#  1. each workload (a LuaJIT loop that compiles traces, pcre2test's JIT on
#     a few patterns compiled forty times, pcre2grep over 200000 lines, 10 MB)
#     runs under plain qemu and
#     under the checker: the checker must report nothing, exit 0 and print
#     what plain qemu printed (their flushes are correct and they are
#     single-threaded);
#  2. a copy of the JIT's library with one maintenance step replaced by a
#     no-op (found by its encoding, see mutate_*) runs under the checker:
#     the missing step must be reported, as its kind;
#  3. the time of each workload under plain qemu and under the checker is
#     printed (never asserted: the machine may be loaded): the median of N
#     runs of each (-r N, default 3; plain and checker alternate, so that
#     a change in the machine's load reaches both), and the geometric mean
#     and worst of the ratios.
# Output: one line per check, the timing table, then "N passed, N failed".
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${CMODX_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cmodx}
out=
reps=3
while getopts o:r: opt; do
    case $opt in
    o) out=$OPTARG ;;
    r) reps=$OPTARG ;;
    *) exit 2 ;;
    esac
done
shift $((OPTIND - 1))
if [ -z "$out" ]; then
    out=$(mktemp -d "${TMPDIR:-/tmp}/cmodx-jit.XXXXXX")
    trap 'rm -rf "$out"' EXIT INT TERM
fi
mkdir -p "$out"
archs=${*:-"arm64 armhf riscv64"}
qemu_dir=$("$HERE/cmodx-check" --build | head -n 1) || exit 1
checker=$HERE/cmodx-check
pass=0 fail=0
timing=$out/timing
: > "$timing"

ok() { pass=$((pass + 1)); printf 'PASS  %s\n' "$*"; }
ko() { fail=$((fail + 1)); printf 'FAIL  %s\n' "$*"; }

# ---- workloads ----
cat > "$out/loop.lua" <<'LUA'
local function f(n) local s = 0 for i = 1, n do s = s + (i % 7) * 3 end return s end
local t = 0
for k = 1, 40 do t = t + f(100000 + k) end
local tab = {}
for i = 1, 100000 do tab[i] = i * 2 end
local u = 0
for _, v in ipairs(tab) do u = u + v end
local words = {}
for w in string.gmatch(string.rep("alpha beta gamma ", 2000), "%a+") do
    words[w] = (words[w] or 0) + 1
end
print(t, u, words.alpha, words.gamma)
LUA
cat > "$out/patterns1.txt" <<'PCRE'
/(a|b)*c[0-9]+/
    ababababc123
    xyz
    aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaac9

/^([a-z]+)@([a-z]+)\.(com|org)$/i
    someone@example.com
    SOMEONE@EXAMPLE.ORG
    not-an-address

/(?<year>\d{4})-(?<month>\d\d)-(?<day>\d\d)/
    on 2024-05-17 and 1999-12-31
    no date here

/\b(\w+)\s+\1\b/
    this is is a test test
    nothing repeated

/[^\x00-\x7f]+|[[:punct:]]{2,}/
    hello!!! world...
    plain
PCRE
# Forty copies: each pattern is compiled by the JIT forty times, so that
# the run lasts long enough (a few tenths of a second under plain qemu)
# for its time to say more than the start-up of qemu and the checker.
: > "$out/patterns.txt"
i=0
while [ $i -lt 40 ]; do
    cat "$out/patterns1.txt" >> "$out/patterns.txt"
    i=$((i + 1))
done
i=0
while [ $i -lt 200000 ]; do
    echo "$i someone@example.org lorem ipsum 2024-01-02 dolor"
    i=$((i + 1))
done > "$out/lines.txt"
grep_re='[a-z]+@[a-z]+\.(com|org).*\d{4}-\d\d'

now() { date +%s.%N; }
elapsed() { echo "$1 $2" | awk '{ printf "%.2f", $2 - $1 }'; }

# Hazard kinds of a checker log, sorted and comma separated ("clean": none).
kinds() {
    sed -n 's/^cmodx-check: hazard \([a-z-]*\) .*/\1/p' "$1" 2>/dev/null | sort -u |
        paste -sd, - | sed 's/^$/clean/'
}

# Code writes the checker tracked, over every process of a checker log:
# 0 when the JIT never ran.  LuaJIT under qemu-user now and then finds no
# memory for machine code within branch range of itself (it asks mmap for
# random nearby addresses) and runs the whole script in its interpreter:
# about one run in fifteen.  Such a run writes no code, so it shows
# nothing about the checker: neither a clean verdict nor a missing report
# means anything.  The runs below are made again, up to three times, until
# code was written.
writes() {
    sed -n 's/^cmodx-check: summary: .* \([0-9][0-9]*\) code writes tracked.*/\1/p' "$1" \
        2>/dev/null | awk '{ n += $1 } END { print n + 0 }'
}

# run_pair ARCH NAME ROOT PROGRAM ARGS...: plain qemu, then the checker.
run_pair() {
    arch=$1 name=$2 root=$3
    shift 3
    tag=$arch-$name
    try=1
    while :; do
        t0=$(now)
        "$qemu_dir/bin/$qemu" -L "$root" "$@" > "$out/$tag.plain" 2>&1
        st0=$?
        t1=$(now)
        rm -f "$out/$tag.log"
        "$checker" -L "$root" --log-file="$out/$tag.log" -- "$@" > "$out/$tag.checked" 2>&1
        st1=$?
        t2=$(now)
        [ "$(writes "$out/$tag.log")" -gt 0 ] || [ "$try" -ge 3 ] && break
        try=$((try + 1))
    done
    p=$(elapsed "$t0" "$t1") c=$(elapsed "$t1" "$t2")
    echo "$tag $p $c" >> "$timing"
    got=$(kinds "$out/$tag.log")
    r=1
    while [ "$r" -lt "$reps" ]; do   # timing only
        t0=$(now)
        "$qemu_dir/bin/$qemu" -L "$root" "$@" > /dev/null 2>&1
        t1=$(now)
        "$checker" -L "$root" --log-file=/dev/null -- "$@" > /dev/null 2>&1
        t2=$(now)
        echo "$tag $(elapsed "$t0" "$t1") $(elapsed "$t1" "$t2")" >> "$timing"
        r=$((r + 1))
    done
    if [ "$(writes "$out/$tag.log")" -eq 0 ]; then
        ko "$tag: no code written under the checker in $try runs (the JIT did not run)"
    elif [ "$st0" = 0 ] && [ "$st1" = 0 ] && [ "$got" = clean ] &&
        cmp -s "$out/$tag.plain" "$out/$tag.checked"; then
        ok "$tag: clean under the checker, same output as plain qemu"
    else
        ko "$tag: plain status $st0, checker status $st1, reports $got"
        tail -n 5 "$out/$tag.log" 2>/dev/null | sed 's/^/      | /'
    fi
}

# run_mutant ARCH NAME ROOT LIBDIR EXPECT PROGRAM ARGS...: the mutated
# library comes first in the loader's path.
run_mutant() {
    arch=$1 name=$2 root=$3 libdir=$4 expect=$5
    shift 5
    tag=$arch-$name
    try=1
    while :; do
        rm -f "$out/$tag.log"
        # QEMU_SET_ENV sets the guest's environment only (qemu itself is a
        # host program that must not see the guest's libraries).
        QEMU_SET_ENV=LD_LIBRARY_PATH=$libdir "$checker" -L "$root" --log-file="$out/$tag.log" \
            -- "$@" > "$out/$tag.out" 2>&1
        st=$?
        [ "$(writes "$out/$tag.log")" -gt 0 ] || [ "$try" -ge 3 ] && break
        try=$((try + 1))
    done
    got=$(kinds "$out/$tag.log")
    if [ "$(writes "$out/$tag.log")" -eq 0 ]; then
        ko "$tag: no code written under the checker in $try runs (the JIT did not run)"
    elif [ "$st" = 99 ] && [ "$got" = "$expect" ]; then
        ok "$tag: the missing step is reported ($got)"
    else
        ko "$tag: expected $expect (status 99), got $got (status $st)"
    fi
}

# The name the loader looks for: the SONAME of a library, "luajit" for
# the program.
soname() {
    n=$(readelf -dW "$1" | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')
    [ -n "$n" ] && echo "$n" || basename "$1" | sed 's/-2\..*//'
}

# File offset of virtual address $2 (hex) in ELF $1, from its LOAD segments.
vaddr_to_off() {
    a=$((0x$2))
    readelf -lW "$1" | while read -r type off va pa fs rest; do
        [ "$type" = LOAD ] || continue
        if [ "$a" -ge $((va)) ] && [ "$a" -lt $((va + fs)) ]; then
            echo $((a - va + off))
            break
        fi
    done
}

# Overwrite bytes at file offset $2 of $1 with the hex string $3.
patch_bytes() {
    esc=
    for pb_byte in $(echo "$3" | sed 's/../& /g'); do
        esc="$esc$(printf '\\%03o' $((0x$pb_byte)))"
    done
    # shellcheck disable=SC2059 # the format is the octal escapes built above
    printf "$esc" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

# AArch64: the first 4-aligned instruction matching the byte regex $2
# (little endian) becomes NOP (d503201f).
mutate_a64() { # lib pattern out
    cp "$1" "$3"
    off=$(LC_ALL=C grep -obUaP "$2" "$1" | awk -F: '$1 % 4 == 0 { print $1; exit }')
    [ -n "$off" ] && patch_bytes "$3" "$off" 1f2003d5
}

# ARMv7 (Thumb-2): the SVC of libgcc's __clear_cache, "movw r7, #2;
# movt r7, #15; mov.w r2, #0; svc 0", becomes a Thumb NOP (bf00).
mutate_arm() { # lib out
    cp "$1" "$2"
    at=$(LC_ALL=C grep -obUaP '\x40\xf2\x02\x07\xc0\xf2\x0f\x07' "$1" | head -n 1 | cut -d: -f1)
    [ -n "$at" ] || return 1
    svc=$(LC_ALL=C grep -obUaP '\x00\xdf' "$1" |
        awk -F: -v a="$at" '$1 > a && $1 < a + 24 && $1 % 2 == 0 { print $1; exit }')
    [ -n "$svc" ] && patch_bytes "$2" "$svc" 00bf
}

# RISC-V: every call to __riscv_flush_icache (glibc, then the vDSO or the
# system call) becomes NOP (00000013).
mutate_rv() { # lib out
    cp "$1" "$2"
    n=0
    for a in $(riscv64-linux-gnu-objdump -d "$1" |
        sed -n 's/^ *\([0-9a-f]*\):.*jal.*<__riscv_flush_icache@plt>.*/\1/p'); do
        patch_bytes "$2" "$(vaddr_to_off "$1" "$a")" 13000000
        n=$((n + 1))
    done
    [ "$n" -gt 0 ]
}

for arch in $archs; do
    case $arch in
    arm64) suite=bookworm qemu=qemu-aarch64 triplet=aarch64-linux-gnu ;;
    armhf) suite=bookworm qemu=qemu-arm triplet=arm-linux-gnueabihf ;;
    riscv64) suite=trixie qemu=qemu-riscv64 triplet=riscv64-linux-gnu ;;
    *) ko "$arch: unknown architecture"; continue ;;
    esac
    root=$(sh "$HERE/debian-root.sh" "$arch" "$suite" "$CACHE/debian/root-$arch-$suite" \
        libc6 luajit pcre2-utils 2> "$out/$arch.fetch.log")
    if [ -z "$root" ] || [ ! -x "$root/usr/bin/pcre2test" ]; then
        ko "$arch: could not fetch Debian $suite packages (see $out/$arch.fetch.log)"
        tail -n 3 "$out/$arch.fetch.log" | sed 's/^/      | /'
        continue
    fi
    lib=$root/usr/lib/$triplet
    # Debian's luajit binary carries the LuaJIT core itself (libluajit is
    # for embedders): the mutants change the binary.
    lj=$(readlink -f "$root/usr/bin/luajit")
    pc=$(readlink -f "$lib/libpcre2-8.so.0")
    if [ -x "$root/usr/bin/luajit" ]; then
        run_pair "$arch" luajit "$root" "$root/usr/bin/luajit" "$out/loop.lua"
    fi
    run_pair "$arch" pcre2test "$root" "$root/usr/bin/pcre2test" -jit "$out/patterns.txt"
    run_pair "$arch" pcre2grep "$root" "$root/usr/bin/pcre2grep" -c "$grep_re" "$out/lines.txt"

    m=$out/mut-$arch
    rm -rf "$m"
    mkdir -p "$m/no-ic" "$m/no-dc" "$m/no-flush"
    case $arch in
    arm64)
        # IC IVAU Xt is d50b7520|t, DC CVAU Xt d50b7b20|t.
        for l in "$lj" "$pc"; do
            so=$(soname "$l")
            mutate_a64 "$l" '[\x20-\x3f]\x75\x0b\xd5' "$m/no-ic/$so" || ko "$arch: no IC IVAU in $so"
            mutate_a64 "$l" '[\x20-\x3f]\x7b\x0b\xd5' "$m/no-dc/$so" || ko "$arch: no DC CVAU in $so"
        done
        run_mutant "$arch" luajit-no-ic "$root" "$m/no-ic" not-invalidated \
            "$m/no-ic/luajit" "$out/loop.lua"
        run_mutant "$arch" luajit-no-dc "$root" "$m/no-dc" not-cleaned \
            "$m/no-dc/luajit" "$out/loop.lua"
        run_mutant "$arch" pcre2test-no-ic "$root" "$m/no-ic" not-invalidated \
            "$root/usr/bin/pcre2test" -jit "$out/patterns.txt"
        run_mutant "$arch" pcre2test-no-dc "$root" "$m/no-dc" not-cleaned \
            "$root/usr/bin/pcre2test" -jit "$out/patterns.txt"
        ;;
    armhf)
        for l in "$lj" "$pc"; do
            mutate_arm "$l" "$m/no-flush/$(soname "$l")" || ko "$arch: no cacheflush call in $(soname "$l")"
        done
        run_mutant "$arch" luajit-no-cacheflush "$root" "$m/no-flush" no-cacheflush \
            "$m/no-flush/luajit" "$out/loop.lua"
        run_mutant "$arch" pcre2test-no-cacheflush "$root" "$m/no-flush" no-cacheflush \
            "$root/usr/bin/pcre2test" -jit "$out/patterns.txt"
        ;;
    riscv64)
        for l in "$lj" "$pc"; do
            [ -f "$l" ] || continue
            mutate_rv "$l" "$m/no-flush/$(soname "$l")" || ko "$arch: no flush call in $(soname "$l")"
        done
        if [ -x "$root/usr/bin/luajit" ]; then
            run_mutant "$arch" luajit-no-flush "$root" "$m/no-flush" no-fence-i \
                "$m/no-flush/luajit" "$out/loop.lua"
        fi
        run_mutant "$arch" pcre2test-no-flush "$root" "$m/no-flush" no-fence-i \
            "$root/usr/bin/pcre2test" -jit "$out/patterns.txt"
        ;;
    esac
done

if [ -s "$timing" ]; then
    echo "seconds (wall clock, median of $reps; not asserted)   plain-qemu  checker  ratio"
    # Per workload, in the order run: the medians of its plain and of its
    # checker times, and their ratio.
    awk 'function med(s,   a, k, m, i, j, t) {
             k = split(s, a, " ")
             for (i = 2; i <= k; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] + 0 > t + 0; j--) a[j + 1] = a[j]; a[j + 1] = t }
             return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2 }
         !($1 in P) { order[++nw] = $1 }
         { P[$1] = P[$1] " " $2; C[$1] = C[$1] " " $3 }
         END { for (i = 1; i <= nw; i++) { t = order[i]; p = med(P[t]); c = med(C[t])
                   r = p > 0 ? c / p : 0; printf "  %-34s %10.2f %8.2f %6.2f\n", t, p, c, r
                   if (p > 0) { n++; lg += log(r); if (r > w) w = r } }
               if (n) printf "  geometric mean %.2fx, worst %.2fx over %d workloads\n", exp(lg / n), w, n }' \
        "$timing"
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
