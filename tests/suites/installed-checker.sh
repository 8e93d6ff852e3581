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
# Then: a first use as a user who is not root, without the build
# dependencies; an install with a relative prefix and one with DESTDIR,
# each undone by the uninstall target.
# Needs root (a mount namespace, setpriv).  About 1 minute on 2 cores.
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
    riscv64*) miss="riscv_flush_icache(2)" ;;
    esac
    check "$t: installed cmodx-check, tree hidden: maintained program, no hazard" run_checker "$t" 0 "" good
    check "$t: installed cmodx-check, tree hidden: missing maintenance reported" run_checker "$t" 99 "$miss" bad
done

# First use by a user who is not root, on a machine without qemu's build
# dependencies (a dpkg-query first in PATH that knows no package stands in
# for them), with an empty cache: build-qemu.sh prints the commands to run
# as root and exits 2; cmodx-check must stop right there with that status
# (its one line last), and leave no cache entry behind.
first_use_not_root() {
    u=$work/user
    mkdir -p "$u/fakebin" "$u/home"
    printf '#!/bin/sh\nexit 1\n' >"$u/fakebin/dpkg-query"
    chmod 755 "$u/fakebin/dpkg-query"
    chown -R nobody:nogroup "$u/home"
    chmod 755 "$work" "$u" "$prefix"
    setpriv --reuid=nobody --regid=nogroup --clear-groups \
        env HOME="$u/home" XDG_CACHE_HOME= CMODX_CACHE="$u/home/cache" \
        PATH="$u/fakebin:$prefix/bin:/usr/bin:/bin" \
        cmodx-check "$work/good-aarch64-linux-gnu" >"$u/out" 2>"$u/err"
    rc=$?
    cat "$u/out" "$u/err"
    [ "$rc" -eq 2 ] || { echo "exit status $rc, expected 2 (build-qemu.sh's)"; return 1; }
    grep -q 'apt-get install' "$u/err" || { echo "no commands printed"; return 1; }
    tail -n 1 "$u/err" | grep -q '^cmodx-check: qemu is not built (build-qemu.sh exit status 2' ||
        { echo "cmodx-check went on after build-qemu.sh failed"; return 1; }
    [ ! -s "$u/out" ] || { echo "unexpected output on stdout"; return 1; }
    left=$(find "$u/home/cache" -mindepth 1 2>/dev/null)
    [ -z "$left" ] || { echo "cache entries left:"; echo "$left"; return 1; }
}
check "not root, build dependencies missing: cmodx-check stops with build-qemu.sh's status, no cache entry" first_use_not_root

# cmake --install with a relative prefix (resolved against the working
# directory, as CMake does), the cmodx-check link among the manifest's
# entries exactly as CMake writes its own (no DESTDIR), and the uninstall
# target leaving nothing, empty directories included.
relative_prefix() {
    b=$root/build/pkg-tools
    mkdir -p "$work/rel"
    (cd "$work/rel" && cmake --install "$b" --prefix ./p) || return 1
    test -L "$work/rel/p/bin/cmodx-check" &&
        test "$(readlink "$work/rel/p/bin/cmodx-check")" = ../share/cmodx/check/cmodx-check &&
        test -x "$work/rel/p/bin/cmodx-check" || { echo "bad cmodx-check link"; return 1; }
    grep -qx "$work/rel/p/bin/cmodx-check" "$b/install_manifest.txt" || { echo "link not in the manifest"; return 1; }
    cmake --build "$b" --target uninstall || return 1
    [ -z "$(ls -A "$work/rel")" ] || { echo "left after uninstall:"; find "$work/rel"; return 1; }
    echo "== DESTDIR: manifest entries without DESTDIR, the link's too"
    DESTDIR=$work/stage cmake --install "$b" --prefix /opt/cmodx-test || return 1
    grep -n "$work/stage" "$b/install_manifest.txt" && { echo "DESTDIR in the manifest"; return 1; }
    grep -qx /opt/cmodx-test/bin/cmodx-check "$b/install_manifest.txt" || { echo "link not in the manifest"; return 1; }
    grep -qx /opt/cmodx-test/bin/cmodx-torture "$b/install_manifest.txt" || return 1
    DESTDIR=$work/stage cmake --build "$b" --target uninstall || return 1
    [ ! -e "$work/stage" ] || [ -z "$(find "$work/stage" -mindepth 1 -path "$work/stage/opt/*")" ] ||
        { echo "left after uninstall:"; find "$work/stage"; return 1; }
}
check "install with a relative prefix and with DESTDIR; manifest as CMake's; uninstall leaves nothing" relative_prefix
finish
