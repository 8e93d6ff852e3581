#!/bin/sh
# label: cmodx-check (qemu 10 + plugin): validation programs, and the aarch64/armhf/riscv64 suites under the checker
# Builds the checker's qemu-user once (cached outside the tree), runs the
# checker's own validation programs (each must report exactly the expected
# hazards), then the library's whole test suite for each architecture with
# cmodx-check as the emulator: every test passes and no hazard is reported.
set -u
root=$1
log=$root/build/checker
mkdir -p "$log"
if ! sh "$root/tools/check/build-qemu.sh" >"$log/build-qemu.log" 2>&1; then
    echo "building the checker's qemu failed:"
    tail -n 30 "$log/build-qemu.log"
    echo "0 passed, 1 failed"
    exit 1
fi
. "$root/tests/tally.sh"
sh "$root/tools/check/run-validation.sh" -o "$log/validation" >"$log/validation.log" 2>&1
if tally_from "$log/validation.log"; then
    echo "validation programs: $tally_line"
    grep -E '^FAIL' "$log/validation.log" | head -n 20
else
    echo "validation programs: no result"
    tail -n 20 "$log/validation.log"
fi
sh "$root/tools/check/check-suite.sh" -o "$log/suite" aarch64 arm riscv64 >"$log/suite.log" 2>&1
for arch in aarch64 arm riscv64; do
    if tally_from "$log/suite.log" "$arch: "; then
        echo "$arch: $tally_line"
    else
        echo "$arch under cmodx-check: no result"
    fi
done
[ "$fail" -eq 0 ] || tail -n 40 "$log/suite.log"
# The overhead tools (docs/CHECKER.md, "Measuring it yourself"): the
# program list names 16 programs of the aarch64 build above, and
# measure-overhead.sh measures one of them under the checker and under each
# floor plugin: every run exits as under plain qemu (the script's status)
# and a ratio is printed (its value is the machine's, not judged).
sh "$root/tools/check/bench/library-programs.sh" "$log/suite/aarch64" /bin/true \
    >"$log/programs" 2>"$log/programs.err" || true
if [ "$(grep -c . "$log/programs")" = 16 ]; then
    ok
else
    bad "bench/library-programs.sh: not 16 programs"
    cat "$log/programs.err"
fi
for f in '' stores loads values; do
    label=plugin
    [ -z "$f" ] || label="floor $f"
    # shellcheck disable=SC2086 # no option, or one
    grep test_trap "$log/programs" |
        sh "$root/tools/check/measure-overhead.sh" -n 1 -L /usr/aarch64-linux-gnu ${f:+-f $f} \
            >"$log/overhead$f.log" 2>&1
    st=$?
    if [ "$st" = 0 ] &&
        grep -Eq "^geometric mean over 1 programs .*: wall $label [0-9]+\.[0-9]+x" "$log/overhead$f.log"; then
        ok
    else
        bad "measure-overhead.sh${f:+ -f $f}"
        tail -n 5 "$log/overhead$f.log"
    fi
done
finish
