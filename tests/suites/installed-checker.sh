#!/bin/sh
# label: cmodx-check installed: run from an installed prefix, the source tree hidden, on small aarch64, armhf and riscv64 programs
#
# Installs the tools (build/pkg-tools) into a temporary prefix, builds
# tests/packaging/checker_prog.c for each architecture with and without its
# cache maintenance, then runs PREFIX/bin/cmodx-check in a private mount
# namespace where this checkout is covered by an empty tmpfs: the checker
# must find build-qemu.sh and its plugin sources under PREFIX/share/cmodx,
# report nothing (exit 0) on the maintained program and the missing step
# (exit 99) on the other.
#
# qemu: the installed build-qemu.sh finds the qemu the checker suite built
# (tests/suites/checker.sh runs first): the cache directory
# ~/.cache/cmodx/qemu-<version>-<hash> is keyed by the qemu version, the
# configure line and the patch, not by where the script lives.  The plugin
# is keyed by its sources' hash, so it is the one already built from the
# same sources.  With an empty cache the first run builds both (minutes).
# Needs root (a mount namespace).  About 1 minute on 2 cores.
set -u
root=$1
. "$root/tests/packaging/common.sh"
logdir=$root/build/pkg-checker-logs
rm -rf "$logdir"
mkdir -p "$logdir"
work=$(mktemp -d "${TMPDIR:-/tmp}/cmodx-checker.XXXXXX")
trap 'rm -rf "$work"' EXIT
trap 'exit 1' INT TERM HUP
prefix=$work/prefix

install_it() {
    tools_install "$root" "$prefix" || return 1
    test -L "$prefix/bin/cmodx-check" &&
        test -x "$prefix/share/cmodx/check/build-qemu.sh" &&
        ls "$prefix"/share/cmodx/check/plugin/*.c
}
check "install the tools into a prefix (cmodx-check, build-qemu.sh, plugin sources)" install_it

progs() {
    for t in aarch64-linux-gnu arm-linux-gnueabihf riscv64-linux-gnu; do
        "$t-gcc" -std=gnu11 -Wall -Wextra -Werror -O2 -DMAINTAIN \
            "$root/tests/packaging/checker_prog.c" -o "$work/good-$t" &&
            "$t-gcc" -std=gnu11 -Wall -Wextra -Werror -O2 \
                "$root/tests/packaging/checker_prog.c" -o "$work/bad-$t" || return 1
    done
}
check "build the small programs" progs

# hidden COMMAND...: run COMMAND with the checkout covered by an empty
# tmpfs, from a directory outside it.
hidden() {
    unshare --mount sh -c '
        mount -t tmpfs -o size=1m cmodx-hidden "$1" || exit 97
        shift
        if [ -e "$0/CMakeLists.txt" ]; then echo "source tree still visible"; exit 97; fi
        cd / && exec "$@"' "$root" "$root" "$@"
}

run_checker() {
    t=$1 want=$2 missing=$3
    hidden env PATH="$prefix/bin:/usr/bin:/bin" cmodx-check "$work/$4-$t" >"$work/out" 2>&1
    rc=$?
    cat "$work/out"
    [ "$rc" -eq "$want" ] || { echo "exit status $rc, expected $want"; return 1; }
    if [ "$want" -eq 0 ]; then
        grep -q '^returned 42$' "$work/out" && grep -q ' 0 hazards' "$work/out"
    else
        grep -qF "missing   $missing" "$work/out"
    fi
}
for t in aarch64-linux-gnu arm-linux-gnueabihf riscv64-linux-gnu; do
    case $t in
    aarch64*) miss="DC CVAU" ;;
    arm*) miss="cacheflush(2)" ;;
    riscv64*) miss="fence.i" ;;
    esac
    check "$t: installed cmodx-check, tree hidden: maintained program, no hazard" run_checker "$t" 0 "" good
    check "$t: installed cmodx-check, tree hidden: missing maintenance reported" run_checker "$t" 99 "$miss" bad
done
finish
