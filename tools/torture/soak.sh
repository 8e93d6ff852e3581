#!/bin/sh
# soak.sh - the long cmodx-torture run: every strategy on every architecture.
#
#   sh tools/torture/soak.sh [SECONDS] [BUILD_DIR]
#
# Builds cmodx-torture natively and for aarch64, armhf and riscv64 (each in
# BUILD_DIR/<arch>, default build/soak in the source tree), then runs, for
# each architecture in parallel, every strategy in turn for SECONDS each
# (default 600): natively on x86-64, under qemu-user elsewhere.  Different
# seeds each run (printed; rerun one with --seed).  Logs go to
# BUILD_DIR/<arch>-<strategy>.log; the exit status is non-zero if any run
# failed.  docs/TORTURE.md explains the output.
set -eu

root=$(cd "$(dirname "$0")/../.." && pwd)
seconds=${1:-600}
build=${2:-$root/build/soak}
mkdir -p "$build"

build_one() {
    arch=$1 tc=$2
    # shellcheck disable=SC2086 # $tc is empty or one word
    cmake -S "$root" -B "$build/$arch" $tc -DBUILD_TESTING=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        >"$build/$arch.build.log" 2>&1 &&
        cmake --build "$build/$arch" --target cmodx-torture -j 2 >>"$build/$arch.build.log" 2>&1
}

# soak_arch ARCH RUNNER...: every strategy for SECONDS, one after another.
soak_arch() {
    arch=$1
    shift
    strategies="membarrier signal epoch trampoline"
    [ "$arch" = x86_64 ] && strategies="$strategies mprotect"
    status=0
    for s in $strategies; do
        log=$build/$arch-$s.log
        if "$@" "$build/$arch/tools/torture/cmodx-torture" --seconds "$seconds" --strategy "$s" \
            --callers 4 --writers 2 --slots 16 --block-sizes 16-1024 --heap-limit 128K \
            >"$log" 2>&1; then
            echo "$arch $s: passed ($(grep -E '^  calls' "$log" | sed 's/^ *//'))"
        else
            echo "$arch $s: FAILED (see $log)"
            status=1
        fi
    done
    return $status
}

tc_dir=$root/cmake/toolchains
build_one x86_64 ""
build_one aarch64 "-DCMAKE_TOOLCHAIN_FILE=$tc_dir/aarch64-linux-gnu.cmake"
build_one armhf "-DCMAKE_TOOLCHAIN_FILE=$tc_dir/arm-linux-gnueabihf.cmake"
build_one riscv64 "-DCMAKE_TOOLCHAIN_FILE=$tc_dir/riscv64-linux-gnu.cmake"

echo "soak: $seconds s per strategy, started $(date -u +%H:%M:%SZ)"
fail=0
soak_arch x86_64 env >"$build/x86_64.result" 2>&1 &
soak_arch aarch64 qemu-aarch64 -L /usr/aarch64-linux-gnu >"$build/aarch64.result" 2>&1 &
soak_arch armhf qemu-arm -L /usr/arm-linux-gnueabihf >"$build/armhf.result" 2>&1 &
soak_arch riscv64 qemu-riscv64 -L /usr/riscv64-linux-gnu >"$build/riscv64.result" 2>&1 &
wait
cat "$build"/*.result
grep -q FAILED "$build"/*.result && fail=1
[ $fail -eq 0 ] && echo "soak: passed" || echo "soak: FAILED"
exit $fail
