#!/bin/sh
# label: Debian packages: dpkg-buildpackage -us -uc -b, lintian, install, examples built against /usr
#
# Copies this checkout's files (tracked and untracked, not ignored; no
# build/) to a temporary directory, so that dpkg-buildpackage's outputs,
# written to the parent of the source tree, land there and not beside the
# checkout.  Builds with DEB_BUILD_OPTIONS=nocheck: the test command runs
# the same test suite natively already (debian/rules then configures with
# BUILD_TESTING=OFF).  Then:
#   - the three packages exist and hold what they should (libcmodx0: the
#     shared library and its symbols file; libcmodx-dev: headers, static
#     library, pkg-config, CMake package, section 3 pages; cmodx-tools:
#     cmodx-check and its sources, the other tools, section 1 pages);
#   - lintian reports no error and no warning (remaining tags are
#     overridden in debian/*.lintian-overrides, each with its reason);
#   - as root, the packages are installed with apt-get, examples/ is built
#     against /usr with find_package and examples/hello.c with pkg-config,
#     both run with no rpath; man finds the installed pages; the installed
#     cmodx-check runs a small aarch64 program.  Packages that were not
#     installed before are purged at the end.
#   - libcmodx-dev's libcmodx.a exports only cmodx_*;
#   - a cross build for arm64 (debian/rules up to dh_install; the whole
#     dpkg-buildpackage -aarm64 -d where libc6:arm64 is installed).
# About 4 minutes on 2 cores (the cross build is about half of it).
set -u
root=$1
. "$root/tests/packaging/common.sh"
logdir=$root/build/pkg-debian-logs
rm -rf "$logdir"
mkdir -p "$logdir"
work=$(mktemp -d "${TMPDIR:-/tmp}/cmodx-deb.XXXXXX")
installed_here=""
cleanup() {
    if [ -n "$installed_here" ]; then
        # shellcheck disable=SC2086
        DEBIAN_FRONTEND=noninteractive apt-get purge -y -q $installed_here >/dev/null 2>&1
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
version=$(sed -n '1s/^cmodx (\([^)]*\)).*/\1/p' "$root/debian/changelog")
arch=$(dpkg --print-architecture)
src=$work/cmodx-$version

build() {
    copy_tree "$root" "$src" || return 1
    # What dpkg-buildpackage would leave beside a tree it built in place.
    beside() { ls -A "$(dirname "$root")" | grep -E '^(cmodx|libcmodx0|libcmodx-dev|cmodx-tools)(-dbgsym)?_.*\.(deb|ddeb|changes|buildinfo)$'; }
    beside >"$work/beside-before.txt"
    (cd "$src" && DEB_BUILD_OPTIONS=nocheck dpkg-buildpackage -us -uc -b) || return 1
    beside >"$work/beside-after.txt"
    cmp "$work/beside-before.txt" "$work/beside-after.txt" || { echo "files appeared beside the checkout"; return 1; }
    ls -l "$work"
}
check "dpkg-buildpackage -us -uc -b (in a copy of the tree)" build

deb() { echo "$work/$1_${version}_$arch.deb"; }

# has PACKAGE REGEX...: the package's file list matches every REGEX.
has() {
    p=$1
    shift
    dpkg-deb -c "$(deb "$p")" | awk '{print $6}' >"$work/list-$p.txt" || return 1
    for re in "$@"; do
        grep -Eq "$re" "$work/list-$p.txt" || { echo "$p: nothing matches $re"; return 1; }
    done
}
# The package's symbols file lists exactly the library's exported symbols
# (functions and data alike: every defined dynamic symbol), and every
# CMODX_API function of the headers is among them.
symbols_complete() {
    dpkg-deb -I "$(deb libcmodx0)" symbols | sed -n 's/^ \([^@]*\)@Base .*/\1/p' | sort >"$work/sym-control.txt"
    mkdir -p "$work/x0" && dpkg-deb -x "$(deb libcmodx0)" "$work/x0" || return 1
    nm -D --defined-only "$work"/x0/usr/lib/*/libcmodx.so.0 | awk 'NF == 3 {print $3}' | sort >"$work/sym-lib.txt"
    for h in "$src"/include/cmodx/*.h; do
        sed -n -E 's/^CMODX_API[^(]*[ *](cmodx_[a-z0-9_]+)\(.*/\1/p' "$h"
    done | sort >"$work/sym-api.txt"
    cmp "$work/sym-control.txt" "$work/sym-lib.txt" || { echo "symbols file != exported symbols:"; diff "$work/sym-control.txt" "$work/sym-lib.txt"; return 1; }
    missing=$(comm -23 "$work/sym-api.txt" "$work/sym-lib.txt")
    [ -z "$missing" ] || { echo "public functions not exported: $missing"; return 1; }
    echo "$(wc -l <"$work/sym-control.txt") symbols"
    new=$(sed -n 's/^ \([^@]*\)@Base .*/\1/p' "$src/debian/libcmodx0.symbols" | sort | comm -13 - "$work/sym-control.txt")
    [ -z "$new" ] || echo "note: not yet in debian/libcmodx0.symbols: $new"
}
contents() {
    has libcmodx0 '^\./usr/lib/[^/]+/libcmodx\.so\.0$' '^\./usr/lib/[^/]+/libcmodx\.so\.0\.' &&
        ! grep -Eq 'include|\.a$|\.pc$|/bin/' "$work/list-libcmodx0.txt" &&
        symbols_complete &&
        has libcmodx-dev '^\./usr/include/cmodx/cmodx\.h$' '/libcmodx\.a$' '/libcmodx\.so$' \
            '/pkgconfig/cmodx\.pc$' '/cmake/cmodx/cmodxConfig\.cmake$' \
            '^\./usr/share/man/man3/cmodx_heap_create\.3\.gz$' '^\./usr/share/man/man3/CMODX_CALL\.3\.gz$' &&
        has cmodx-tools '^\./usr/bin/cmodx-check$' '^\./usr/bin/cmodx-torture$' '^\./usr/bin/cmodx-bench$' \
            '^\./usr/bin/cmodx-demo$' '^\./usr/share/cmodx/check/build-qemu\.sh$' \
            '^\./usr/share/cmodx/check/plugin/plugin\.c$' '^\./usr/share/man/man1/cmodx-check\.1\.gz$'
}
check "package contents (libcmodx0 + symbols, libcmodx-dev, cmodx-tools)" contents

# The -dev package's static library exports only cmodx_* (built from one
# relocatable object whose internal symbols are local).
static_public() {
    mkdir -p "$work/xdev" && dpkg-deb -x "$(deb libcmodx-dev)" "$work/xdev" || return 1
    only_public nm "$work"/xdev/usr/lib/*/libcmodx.a
}
check "libcmodx-dev: libcmodx.a exports only cmodx_*" static_public

lint() {
    # --fail-on: any error or warning fails; info tags are printed too.
    # Experimental tags (X:) are shown and must not appear either: each
    # one found is fixed or overridden with its reason.
    lintian --fail-on error,warning --info --display-experimental \
        "$work"/cmodx_"${version}"_"$arch".changes >"$work/lintian.txt" 2>&1
    rc=$?
    cat "$work/lintian.txt"
    [ "$rc" -eq 0 ] || return 1
    absent '^[EWX]: ' "$work/lintian.txt"
}
check "lintian (with experimental tags): no error, no warning, no experimental tag" lint

use() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "not root: cannot install packages"
        return 1
    fi
    for p in libcmodx0 libcmodx-dev cmodx-tools; do
        dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'ok installed' ||
            installed_here="$installed_here $p"
    done
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        "$(deb libcmodx0)" "$(deb libcmodx-dev)" "$(deb cmodx-tools)" || return 1
    echo "== examples/ against /usr (find_package)"
    cmake -S "$root/examples" -B "$work/ex" && cmake --build "$work/ex" || return 1
    grep -q '/usr/lib/[^/]*/cmake/cmodx' "$work/ex/CMakeCache.txt" || { echo "cmodx not found in /usr"; return 1; }
    out=$("$work/ex/hello") && echo "$out" && [ "$out" = "$(uname -m): generated code returned 42" ] || return 1
    timeout 120 "$work/ex/slot_switch" || return 1
    echo "== examples/hello.c with pkg-config, no rpath"
    # shellcheck disable=SC2046
    cc "$root/examples/hello.c" $(pkg-config --cflags --libs cmodx) -o "$work/hello-pc" &&
        ldd "$work/hello-pc" | grep -E 'libcmodx\.so\.0 => /(usr/)?lib/' &&
        env -u LD_LIBRARY_PATH "$work/hello-pc" || return 1
    echo "== man pages"
    if grep -qs '^path-exclude.*/usr/share/man' /etc/dpkg/dpkg.cfg.d/*; then
        # Minimal container images tell dpkg to drop every manual page.
        echo "dpkg excludes /usr/share/man here (/etc/dpkg/dpkg.cfg.d): pages checked in the package only"
    else
        man -w cmodx_slot_publish && man -w 1 cmodx-check &&
            man cmodx_make_visible | grep -q 'DC CVAU' || return 1
    fi
    echo "== cmodx-check from /usr/bin"
    aarch64-linux-gnu-gcc -std=gnu11 -O2 "$root/tests/packaging/checker_prog.c" -o "$work/bad" &&
        (cd / && cmodx-check "$work/bad") >"$work/check.txt" 2>&1
    rc=$?
    cat "$work/check.txt"
    [ "$rc" -eq 99 ] && grep -q 'missing   DC CVAU' "$work/check.txt"
}
check "install the packages; examples against /usr; man; cmodx-check" use

# A cross build for arm64 with Debian's cross compiler.  debian/rules'
# build and install stages (everything up to dh_install, which failed on
# the section 1 pages a cross build cannot make) must succeed: the
# libraries are AArch64 code, the archive exports only cmodx_*, and
# cmodx-tools gets its programs but no section 1 pages.  The packages
# themselves (dpkg-buildpackage -aarm64 -d) are then built when the
# machine has arm64's C library through multiarch, as every Debian cross
# build needs it for dpkg-shlibdeps (README, "Debian packages"); otherwise
# the log says that this last step was not run.
cross_arm64() {
    x=$work/cross/cmodx-$version
    copy_tree "$root" "$x" || return 1
    # dh's own sequences run on to dh_shlibdeps: the steps one by one.
    (cd "$x" && DEB_BUILD_OPTIONS=nocheck dpkg-architecture -aarm64 -c sh -ec '
        debian/rules build
        dh_prep
        dh_auto_install --buildsystem=cmake
        debian/rules override_dh_install') || return 1
    readelf -h "$x"/debian/libcmodx0/usr/lib/aarch64-linux-gnu/libcmodx.so.0 | grep -q 'Machine: *AArch64' ||
        { echo "libcmodx.so.0 is not AArch64 code"; return 1; }
    only_public aarch64-linux-gnu-nm "$x/debian/libcmodx-dev/usr/lib/aarch64-linux-gnu/libcmodx.a" || return 1
    test -x "$x/debian/cmodx-tools/usr/bin/cmodx-torture" && test -L "$x/debian/cmodx-tools/usr/bin/cmodx-check" ||
        { echo "tools missing"; return 1; }
    [ ! -e "$x/debian/cmodx-tools/usr/share/man/man1" ] || { echo "man1 in a cross build?"; return 1; }
    if ! dpkg-query -W -f='${Status}\n' libc6:arm64 2>/dev/null | grep -q 'ok installed'; then
        echo "libc6:arm64 is not installed (no multiarch arm64 here): dpkg-buildpackage -aarm64 not run"
        return 0
    fi
    (cd "$x" && DEB_BUILD_OPTIONS=nocheck dpkg-buildpackage -aarm64 -d -us -uc -b) || return 1
    for p in libcmodx0 libcmodx-dev cmodx-tools; do
        test -f "$work/cross/${p}_${version}_arm64.deb" || { echo "no ${p}_${version}_arm64.deb"; return 1; }
    done
}
check "cross build for arm64: debian/rules build and install; the packages when arm64 multiarch libc is present" cross_arm64
finish
