#!/bin/sh
# cmodx.sh - the project's entry point (see README.md).
#
#   ./cmodx.sh demo [demo options]   build natively and run the demo
#   ./cmodx.sh test                  the whole test suite, every architecture
#   ./cmodx.sh deps [demo|test]      only install what the command needs
#
# Both commands install the Debian packages they need when run as root, and
# otherwise stop at once with the exact apt-get line to run.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
jobs=$(nproc 2>/dev/null || echo 2)

demo_packages="cmake make gcc libc6-dev"
test_packages="$demo_packages clang pkg-config qemu-user
  gcc-aarch64-linux-gnu libc6-dev-arm64-cross
  gcc-arm-linux-gnueabihf libc6-dev-armhf-cross
  gcc-riscv64-linux-gnu libc6-dev-riscv64-cross
  liburcu-dev gnuplot-nox valgrind
  git help2man man-db build-essential debhelper dpkg-dev fakeroot lintian"

missing_packages() {
    for p in "$@"; do
        dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' ||
            printf '%s ' "$p"
    done
}

ensure_packages() {
    # shellcheck disable=SC2086
    missing=$(missing_packages $*)
    [ -z "$missing" ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "cmodx: missing Debian packages; run as root:" >&2
        echo "  apt-get update && apt-get install -y $missing" >&2
        exit 1
    fi
    echo "cmodx: installing $missing"
    apt-get update -q >/dev/null
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing >/dev/null
}

# configure_and_build NAME [cmake args...]: an out-of-tree build in build/NAME.
configure_and_build() {
    name=$1
    shift
    dir=$here/build/$name
    cmake -S "$here" -B "$dir" "$@" >"$here/build/$name.configure.log" 2>&1 &&
        cmake --build "$dir" -j "$jobs" >"$here/build/$name.build.log" 2>&1
}

total_pass=0
total_skip=0
total_fail=0

# run_suite LABEL NAME [cmake args...]: build, run ctest, print one result.
run_suite() {
    label=$1 name=$2
    shift 2
    log=$here/build/$name.test.log
    if ! configure_and_build "$name" "$@"; then
        echo "$label: build FAILED (see build/$name.*.log)"
        tail -n 30 "$here/build/$name.build.log" "$here/build/$name.configure.log" 2>/dev/null | sed 's/^/    /'
        total_fail=$((total_fail + 1))
        return
    fi
    (cd "$here/build/$name" && ctest -j "$jobs" --output-on-failure --timeout 600) >"$log" 2>&1 || true
    line=$(grep -E 'tests passed, [0-9]+ tests failed out of [0-9]+' "$log" | tail -n 1)
    total=$(echo "$line" | sed -E 's/.* out of ([0-9]+).*/\1/')
    failed=$(echo "$line" | sed -E 's/.*passed, ([0-9]+) tests failed.*/\1/')
    if [ -z "$line" ]; then
        total=1 failed=1
    fi
    # A test that skips itself (exit 77: it cannot run on this machine,
    # and says why in its output) is neither passed nor failed.
    skipped=$(grep -cE '\*\*\*Skipped' "$log" || true)
    passed=$((total - failed - skipped))
    total_pass=$((total_pass + passed))
    total_fail=$((total_fail + failed))
    total_skip=$((total_skip + skipped))
    if [ "$skipped" -gt 0 ]; then
        echo "$label: $passed passed, $failed failed, $skipped skipped"
        sed -n -E 's/.*Test +#[0-9]+: ([^ ]+) .*\*\*\*Skipped.*/\1/p' "$log" | paste -sd' ' - |
            sed "s|^|    skipped (why: build/$name/Testing/Temporary/LastTest.log): |"
    else
        echo "$label: $passed passed, $failed failed"
    fi
    if [ "$failed" -ne 0 ]; then
        # The names of the failed tests first (the only part a truncated
        # CI report is sure to keep), then what each one said.
        sed -n '/The following tests FAILED:/,$p' "$log" | grep -E '^[[:space:]]+[0-9]+ - ' |
            head -n 20 | sed 's/^[[:space:]]*/    FAILED: /'
        # What each failed test printed (ctest --output-on-failure puts it
        # after the test's "***Failed" line), then sanitizer summaries.
        awk '/\*\*\*(Failed|Exception|Timeout)/ { grab = 1; print; n = 0; next }
             /^ *[0-9]+\/[0-9]+ Test +#|^ *Start +[0-9]+:/ { grab = 0 }
             grab && n < 15 && NF { print; n++ }' "$log" | head -n 40 | sed 's/^/    /'
        grep -E 'SUMMARY: [A-Za-z]+Sanitizer|WARNING: [A-Za-z]+Sanitizer' "$log" |
            head -n 10 | sed 's/^/    /'
        echo "    (whole log: build/$name.test.log)"
    fi
}

# run_script LABEL COMMAND...: a script that ends with "N passed, N failed".
run_script() {
    label=$1
    shift
    log=$here/build/$(echo "$label" | tr -c 'A-Za-z0-9\n' '_').log
    "$@" >"$log" 2>&1 || true
    line=$(grep -E '^([A-Za-z-]+: )?[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
    passed=$(echo "$line" | sed -E 's/^([A-Za-z-]+: )?([0-9]+) passed.*/\2/')
    failed=$(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')
    if [ -z "$line" ]; then
        passed=0 failed=1
    fi
    total_pass=$((total_pass + passed))
    total_fail=$((total_fail + failed))
    echo "$label: $passed passed, $failed failed"
    if [ "$failed" -ne 0 ]; then
        tail -n 40 "$log" | sed 's/^/    /'
    fi
}

cmd_demo() {
    ensure_packages $demo_packages
    mkdir -p "$here/build"
    if ! configure_and_build demo -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF; then
        cat "$here/build/demo.build.log" >&2
        exit 1
    fi
    exec "$here/build/demo/tools/demo/cmodx-demo" "$@"
}

cmd_test() {
    ensure_packages $test_packages
    mkdir -p "$here/build"
    if [ "$(id -u)" -ne 0 ] &&
        ! sh "$here/tools/check/build-qemu.sh" >"$here/build/build-qemu.log" 2>&1; then
        # Not root and the checker's qemu is not built yet: its script
        # printed the exact commands (its build needs packages and sources).
        cat "$here/build/build-qemu.log" >&2
        exit 1
    fi
    tc=$here/cmake/toolchains
    echo "cmodx test suite: $(uname -m) host, $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ)"
    run_suite "x86_64 gcc" x86_64-gcc -DCMAKE_C_COMPILER=gcc
    run_suite "x86_64 clang" x86_64-clang -DCMAKE_C_COMPILER=clang
    run_suite "x86_64 gcc ThreadSanitizer" x86_64-tsan -DCMAKE_C_COMPILER=gcc -DCMODX_SANITIZE=thread
    run_suite "x86_64 gcc AddressSanitizer+UBSan" x86_64-asan -DCMAKE_C_COMPILER=gcc -DCMODX_SANITIZE=address
    run_suite "aarch64 (qemu-user)" aarch64 -DCMAKE_TOOLCHAIN_FILE="$tc/aarch64-linux-gnu.cmake"
    run_suite "armhf (qemu-user)" armhf -DCMAKE_TOOLCHAIN_FILE="$tc/arm-linux-gnueabihf.cmake"
    run_suite "riscv64 (qemu-user)" riscv64 -DCMAKE_TOOLCHAIN_FILE="$tc/riscv64-linux-gnu.cmake"
    for extra in "$here"/tests/suites/*.sh; do
        [ -f "$extra" ] || continue
        run_script "$(sed -n 's/^# label: //p' "$extra")" sh "$extra" "$here"
    done
    if [ "$total_skip" -gt 0 ]; then
        echo "$total_pass passed, $total_fail failed ($total_skip tests skipped themselves: see above)"
    else
        echo "$total_pass passed, $total_fail failed"
    fi
    [ "$total_fail" -eq 0 ]
}

case "${1:-}" in
demo) shift; cmd_demo "$@" ;;
test) shift; cmd_test "$@" ;;
deps)
    case "${2:-test}" in
    demo) ensure_packages $demo_packages ;;
    *) ensure_packages $test_packages ;;
    esac ;;
*)
    sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
    exit 2 ;;
esac
