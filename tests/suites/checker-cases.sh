#!/bin/sh
# label: cmodx-check on the public bug-report cases (../shared/cases/checker and jit/, when present)
# The cases rebuilt from other projects' bug reports live outside this
# repository, in ../shared/cases/checker beside the checkout; without them
# the suite says so and counts nothing.  Each RUN line of their run.sh must
# be a HIT (a flagged pattern reported, a correct program clean).  The jit/
# programs have no RUN lines; their expected verdicts are the table below
# (README of jit/): armhf high mappings run clean, code made executable by
# mprotect RX or RWX is reported, memcpy'd code is reported with the cross
# sysroot's libc and with Debian bookworm's current arm64 libc (FEAT_MOPS
# memcpy on qemu's default CPU), fetched by tools/check/debian-root.sh;
# without network access that one run is skipped and said so.
#
# First, whatever ../shared holds, the report itself: a hazard names the
# function and file of the executed and storing pc with a call stack, the
# JSON carries the same, and --suppressions silences exactly the matching
# report (tools/check/tests/aarch64/vdso_time.c).
set -u
root=$1
work=$root/build/checker-cases
mkdir -p "$work"
checker=$root/tools/check/cmodx-check
. "$root/tests/tally.sh"
check() { # description, then a command that must succeed
    d=$1
    shift
    if "$@"; then
        ok "$d"
    else
        bad "$d"
    fi
}
src=$root/tools/check/tests/aarch64
if aarch64-linux-gnu-gcc -O2 -o "$work/vdso_time" "$src/vdso_time.c" 2> "$work/cc.log"; then
    log=$work/report.log
    rm -f "$log" "$log.json"
    "$checker" --log-file="$log" --json="$log.json" -- "$work/vdso_time" vdso > /dev/null 2>&1
    check "report: executed pc named by mapping" grep -q "executed  pc 0x[0-9a-f]* (\[anonymous mapping\|(\[heap\]" "$log"
    check "report: store named main+offset (vdso_time+address)" \
        grep -q "store at pc 0x[0-9a-f]* main+0x[0-9a-f]* (vdso_time+0x" "$log"
    check "report: call stack reaches __libc_start_main" grep -q "by 0x[0-9a-f]* __libc_start_main+" "$log"
    check "report: JSON has exec_at and exec_stack" grep -q '"exec_stack": \["0x' "$log.json"
    printf '# accepted\nno-context-sync  *  main@vdso_time\n' > "$work/supp"
    rm -f "$log"
    "$checker" --log-file="$log" --suppressions="$work/supp" -- "$work/vdso_time" vdso > /dev/null 2>&1
    st=$?
    check "suppressions: matching reports silenced, exit 0" test "$st" = 0
    check "suppressions: counted in the report" grep -q "occurrences suppressed by 1 rules" "$log"
    printf 'not-cleaned  *  main@vdso_time\n' > "$work/supp2"
    "$checker" --log-file="$log.2" --suppressions="$work/supp2" -- "$work/vdso_time" vdso > /dev/null 2>&1
    st=$?
    check "suppressions: another kind is still reported (status 99)" test "$st" = 99
    printf 'no-such-kind  *\n' > "$work/supp3"
    "$checker" --suppressions="$work/supp3" -- "$work/vdso_time" vdso > "$work/supp3.out" 2>&1
    st=$?
    check "suppressions: a malformed rule stops the run" test "$st" != 0 -a "$st" != 99
    check "suppressions: the unknown kind is named" grep -q "supp3:1: unknown report kind 'no-such-kind'" "$work/supp3.out"
    printf '# ok\nno-context-sync  *  *\nnot-cleaned  *  main@vdso_time  extra\n' > "$work/supp4"
    "$checker" --suppressions="$work/supp4" -- "$work/vdso_time" vdso > "$work/supp4.out" 2>&1
    st=$?
    check "suppressions: a rule with extra fields stops the run" test "$st" != 0 -a "$st" != 99
    check "suppressions: the line with extra fields is named" grep -q "supp4:3: expected KIND" "$work/supp4.out"
    # With CTR_EL0.IDC=1 and DIC=1 a missing DSB is advised as a DSB before
    # the context synchronisation, not with the maintenance DIC waives.
    if aarch64-linux-gnu-gcc -O2 -o "$work/store_no_dsb" "$src/store_no_dsb.c" 2> "$work/cc3.log"; then
        "$checker" --idc --dic --log-file="$log.nd" -- "$work/store_no_dsb" > /dev/null 2>&1
        check "advice: IDC+DIC, a missing DSB is advised without IC IVAU" \
            sh -c 'grep -q "^    missing   a DSB by the writer between the store and the context synchronisation" "$1" && ! grep -q "IC IVAU" "$1"' sh "$log.nd"
    else
        bad "store_no_dsb.c does not build"
    fi
    # Writes made by a system call (pwrite into a memfd) count in the
    # summary like store instructions.
    if aarch64-linux-gnu-gcc -O2 -o "$work/file_write" "$src/file_write.c" 2> "$work/cc2.log"; then
        "$checker" --log-file="$log.fw" -- "$work/file_write" none > /dev/null 2>&1
        check "summary: writes by a system call are counted" \
            grep -q "summary: .*, [1-9][0-9]* code writes tracked" "$log.fw"
    else
        bad "file_write.c does not build"
    fi
else
    bad "vdso_time.c does not build"
fi

cases=$(cd "$root/.." && pwd)/shared/cases/checker
if [ ! -f "$cases/run.sh" ]; then
    echo "skipped: no checker cases at $cases (they are not part of this repository)"
    finish
    exit
fi

# 1. The bug-report cases, with run.sh's own verdicts.
(cd "$root" && CHECKER=$checker sh "$cases/run.sh" -o "$work/cases") > "$work/cases.log" 2>&1
if tally_from "$work/cases.log" '' HIT MISS; then
    grep -E '^c[0-9].* MISS$' "$work/cases.log"
    echo "bug-report cases: $tally_line"
else
    tail -n 20 "$work/cases.log"
fi

# 2. The jit/ cases: program | arch | args | -L root (sysroot|bookworm) | expected
kinds() {
    sed -n 's/^cmodx-check: hazard \([a-z-]*\) .*/\1/p' "$1" 2>/dev/null | sort -u |
        paste -sd, - | sed 's/^$/clean/'
}
bookworm=
rm -f "$work/jit.tally"
runs='
arm_high_mmap   |arm    |          |sysroot  |clean
rwx_after_write |aarch64|mmap-rx   |sysroot  |not-cleaned
rwx_after_write |aarch64|mmap-rwx  |sysroot  |not-cleaned
rwx_after_write |aarch64|heap-rx   |sysroot  |not-cleaned
rwx_after_write |aarch64|heap-rwx  |sysroot  |not-cleaned
rwx_after_write |aarch64|bss-rx    |sysroot  |not-cleaned
memcpy_code     |aarch64|loop      |sysroot  |not-cleaned
memcpy_code     |aarch64|memcpy    |sysroot  |not-cleaned
memcpy_code     |aarch64|memcpy    |bookworm |not-cleaned
memcpy_code     |aarch64|loop      |bookworm |not-cleaned
'
echo "$runs" | while IFS='|' read -r name arch args libc expect; do
    name=$(echo "$name" | tr -d ' ')
    [ -n "$name" ] || continue
    arch=$(echo "$arch" | tr -d ' ') args=$(echo "$args" | tr -d ' ')
    libc=$(echo "$libc" | tr -d ' ') expect=$(echo "$expect" | tr -d ' ')
    case $arch in
    aarch64) cc=aarch64-linux-gnu-gcc sysroot=/usr/aarch64-linux-gnu ;;
    arm) cc=arm-linux-gnueabihf-gcc sysroot=/usr/arm-linux-gnueabihf ;;
    esac
    bin=$work/jit-$arch-$name
    if [ ! -x "$bin" ] && ! $cc -O2 -o "$bin" "$cases/jit/$name.c" 2> "$bin.cc"; then
        echo "FAIL  jit/$name: does not build"
        echo F >> "$work/jit.tally"
        continue
    fi
    if [ "$libc" = bookworm ]; then
        if [ -z "$bookworm" ]; then
            bookworm=$(sh "$root/tools/check/debian-root.sh" arm64 bookworm \
                "$work/root-arm64-bookworm" libc6 2> "$work/debian-root.log") || bookworm=none
        fi
        if [ "$bookworm" = none ]; then
            echo "skipped: jit/$name $args with bookworm's arm64 libc (could not fetch it: $work/debian-root.log)"
            continue
        fi
        sysroot=$bookworm
    fi
    log=$work/jit-$name-$args-$libc.log
    rm -f "$log"
    timeout 300 "$checker" -L "$sysroot" --log-file="$log" -- "$bin" $args > "$log.out" 2>&1
    st=$?
    got=$(kinds "$log")
    if [ "$got" = "$expect" ] && { [ "$expect" != clean ] || [ "$st" = 0 ]; }; then
        echo "PASS  jit/$name $args ($libc libc): $got"
        echo P >> "$work/jit.tally"
    else
        echo "FAIL  jit/$name $args ($libc libc): expected $expect, got $got (status $st)"
        tail -n 3 "$log.out" | sed 's/^/      | /'
        echo F >> "$work/jit.tally"
    fi
done
if [ -f "$work/jit.tally" ]; then
    pass=$((pass + $(grep -c P "$work/jit.tally")))
    fail=$((fail + $(grep -c F "$work/jit.tally")))
    rm -f "$work/jit.tally"
fi

# 3. The wrapper's start-up record (cmodx-check's fast path): a copy of
# the checker, given its own cache, finds its qemu and plugin from the
# record on a second run, and a change to a plugin source makes it build
# and use a new plugin, not the recorded one.
fast_path() {
    fp=$work/fastpath
    rm -rf "$fp"
    mkdir -p "$fp/cache"
    cp -r "$root/tools/check" "$fp/check" || return 1
    qd=$("$checker" --build | head -n 1) || return 1
    a=$(CMODX_CACHE=$fp/cache CMODX_QEMU_DIR=$qd "$fp/check/cmodx-check" --build | tail -n 1) &&
        [ -f "$fp/cache/resolved/$(echo "$fp/check" | tr / %)" ] &&
        b=$(CMODX_CACHE=$fp/cache CMODX_QEMU_DIR=$qd "$fp/check/cmodx-check" --build | tail -n 1) &&
        [ "$a" = "$b" ] && [ -f "$a" ] || return 1
    echo "/* changed */" >> "$fp/check/plugin/verdicts.h"
    c=$(CMODX_CACHE=$fp/cache CMODX_QEMU_DIR=$qd "$fp/check/cmodx-check" --build | tail -n 1) &&
        [ "$c" != "$a" ] && [ -f "$c" ] || return 1
    # A source edited while the plugin builds (a compiler that edits a
    # header once, after compiling): the next run must not take the
    # plugin built from the old source for the new one.
    printf '#!/bin/sh\ncc "$@" || exit\n[ -e "%s" ] && exit 0\n: > "%s"\necho "/* edited */" >> "%s"\n' \
        "$fp/edited" "$fp/edited" "$fp/check/plugin/verdicts.h" > "$fp/editcc"
    chmod +x "$fp/editcc"
    e1=$(HOST_CC=$fp/editcc CMODX_CACHE=$fp/cache CMODX_QEMU_DIR=$qd "$fp/check/cmodx-check" --build |
        tail -n 1) && [ -e "$fp/edited" ] &&
        e2=$(HOST_CC=$fp/editcc CMODX_CACHE=$fp/cache CMODX_QEMU_DIR=$qd "$fp/check/cmodx-check" \
            --build | tail -n 1) && [ "$e2" != "$e1" ] && [ -f "$e2" ]
}
check "start-up record: reused while nothing changed, a new plugin after a source change (also one made during the build)" fast_path
finish
