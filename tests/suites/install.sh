#!/bin/sh
# label: install and consume (README "Install"): library-only builds; find_package and pkg-config, native (a prefix, and /usr/local + ldconfig) and cross (aarch64, armhf, riscv64, run under qemu-user)
#
# Runs the README's install and consume commands, with temporary prefixes
# instead of /opt/cmodx/<arch>:
#   - a library-only build (BUILD_TESTING=OFF, CMODX_BUILD_TOOLS=OFF) asks
#     for nothing beyond the C compiler and CMake (no pkg-config, liburcu,
#     gnuplot or help2man probe in its cache) and builds no tool;
#   - native: install to a prefix; the archive exports only cmodx_* and
#     a static consumer defining heap_flags, writer_enter, ... links;
#     strict C11/C17 -Wpedantic -Werror consumers (gcc, clang) compile;
#     consume with find_package (shared and static) and pkg-config; the
#     rpath/LD_LIBRARY_PATH advice of a non-root install; absolute
#     CMAKE_INSTALL_LIBDIR/INCLUDEDIR in cmodx.pc; as root, the README's
#     plain `cmake --install` to /usr/local, after which a program built
#     with `cc ... $(pkg-config --cflags --libs cmodx)` runs with no rpath
#     or LD_LIBRARY_PATH (the install ran ldconfig); the uninstall target
#     then leaves /usr/local exactly as it was (directories included);
#   - cross, per architecture: install to a prefix (its archive exports
#     only cmodx_*); consume with find_package under the project's
#     toolchain file and -DCMAKE_PREFIX_PATH or the environment's
#     CMAKE_PREFIX_PATH, under a user's typical toolchain file (package
#     mode ONLY) and -Dcmodx_DIR, with pkg-config (PKG_CONFIG_LIBDIR) on the
#     prefix, and with pkg-config (PKG_CONFIG_SYSROOT_DIR + PKG_CONFIG_LIBDIR)
#     on a DESTDIR-staged sysroot; every program runs under qemu-user and
#     must print "<arch>: generated code returned 42".
# Build directories: build/pkg-install-*.  About 3 minutes on 2 cores.
set -u
root=$1
. "$root/tests/packaging/common.sh"
logdir=$root/build/pkg-install-logs
rm -rf "$logdir"
mkdir -p "$logdir"
work=$(mktemp -d "${TMPDIR:-/tmp}/cmodx-install.XXXXXX")
# The /usr/local install is undone on any exit (see native_system), by the
# project's uninstall target; should that fail, by the manifest, and the
# directories the install recorded as created.
uninstall_system() {
    [ -f "$work/system-installed" ] || return 0
    rm -f "$work/system-installed"
    cmake --build "$nb" --target uninstall && return 0
    echo "uninstall target failed: removing by hand"
    # (CMake ends the manifest without a newline: read its last line too)
    [ -f "$nb/install_manifest.txt" ] &&
        while IFS= read -r f || [ -n "$f" ]; do rm -f "$f"; done <"$nb/install_manifest.txt"
    [ -f "$nb/install_created_dirs.txt" ] && sort -r "$nb/install_created_dirs.txt" |
        while IFS= read -r d; do rmdir "$d" 2>/dev/null; done
    ldconfig
    return 1
}
trap 'uninstall_system; rm -rf "$work"' EXIT
trap 'exit 1' INT TERM HUP
consumer=$root/tests/packaging/consumer
hello=$root/examples/hello.c

# Every CMake option of the project (option(), a CACHE variable, or a
# variable a toolchain file lets the user set) has its row in the README's
# "Build options" table.
options_documented() {
    rc=0
    opts=$(cd "$root" && {
        find . -path ./build -prune -o \( -name CMakeLists.txt -o -name '*.cmake' \) -print |
            grep -v '^./tests/packaging/' | xargs sed -n -E \
            's/^[ \t]*option\(([A-Z0-9_]+) .*/\1/p; s/^[ \t]*set\(([A-Z0-9_]+) .* CACHE .*/\1/p'
        sed -n -E 's/^if\(NOT DEFINED (CMODX_[A-Z0-9_]+)\)/\1/p' cmake/toolchains/*.cmake
    } | sort -u)
    [ -n "$opts" ] || { echo "no option found"; return 1; }
    for o in $opts BUILD_TESTING; do
        if grep -q "^| \`$o\` |" "$root/README.md"; then
            echo "$o: documented"
        else
            echo "$o: not in the README's option table"
            rc=1
        fi
    done
    return $rc
}
check "every CMake option is in the README's option table" options_documented

# lib_only NAME [cmake args...]: the README's library-only build.
lib_only() {
    b=$root/build/pkg-install-$1
    shift
    rm -rf "$b"
    cmake -S "$root" -B "$b" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF \
        -DCMODX_BUILD_TOOLS=OFF "$@" && cmake --build "$b" -j 2
}

# says ARCH COMMAND...: COMMAND prints "ARCH: generated code returned 42".
says() {
    want="$1: generated code returned 42"
    shift
    out=$("$@") || { echo "$*: exit status $?"; return 1; }
    echo "$out"
    [ "$out" = "$want" ] || { echo "expected: $want"; return 1; }
}

# ---- native --------------------------------------------------------------
native() {
    lib_only native || return 1
    b=$root/build/pkg-install-native
    # Nothing but the compiler and CMake: no probe for other programs or
    # packages (the cache would hold its result), no tool built.
    absent 'PKG_CONFIG|URCU|urcu|HELP2MAN|GNUPLOT|Python' "$b/CMakeCache.txt" &&
        ! test -e "$b/tools" && ! test -e "$b/tests"
}
check "library-only build (needs only a C compiler and CMake)" native
nb=$root/build/pkg-install-native

native_prefix() {
    p=$work/native
    cmake --install "$nb" --prefix "$p" || return 1
    only_public nm "$p/lib/libcmodx.a" || return 1
    # Strict ISO C consumers of the installed headers (CMODX_CALL with no
    # arguments is the README's example).
    for c in gcc clang; do
        for std in c11 c17; do
            echo "$c -std=$std -Wpedantic -Werror"
            "$c" -std=$std -Wpedantic -Wall -Wextra -Werror -I"$p/include" -c \
                "$root/tests/packaging/pedantic.c" -o "$work/pedantic.o" || return 1
        done
    done
    # The consumer's hello_static also defines heap_flags, writer_enter, ...
    cmake -S "$consumer" -B "$work/c-native" -DCMAKE_PREFIX_PATH="$p" &&
        cmake --build "$work/c-native" &&
        says x86_64 "$work/c-native/hello_shared" &&
        says x86_64 "$work/c-native/hello_static" || return 1
    flags=$(PKG_CONFIG_LIBDIR=$p/lib/pkgconfig pkg-config --cflags --libs cmodx) || return 1
    echo "pkg-config: $flags"
    # shellcheck disable=SC2086
    cc "$hello" $flags -Wl,-rpath,"$p/lib" -o "$work/hello-pc" &&
        says x86_64 "$work/hello-pc" || return 1
    echo "== the installed tree moved elsewhere: both still find it"
    m=$work/moved
    mv "$p" "$m" &&
        cmake -S "$consumer" -B "$work/c-moved" -DCMAKE_PREFIX_PATH="$m" &&
        cmake --build "$work/c-moved" &&
        says x86_64 "$work/c-moved/hello_static" || return 1
    flags=$(PKG_CONFIG_LIBDIR=$m/lib/pkgconfig pkg-config --cflags --libs cmodx) || return 1
    echo "pkg-config: $flags"
    # shellcheck disable=SC2086
    cc "$hello" $flags -Wl,-rpath,"$m/lib" -o "$work/hello-moved" &&
        says x86_64 "$work/hello-moved"
}
check "native: install to a prefix; archive exports only cmodx_*; strict C11/C17 consumers; find_package (shared, static with colliding names) and pkg-config; still found after moving the prefix" native_prefix

# An install by a user who is not root, into a prefix the dynamic linker
# does not search (~/.local, say): the install step (its ldconfig script,
# run here as that user on its own, as the install runs it) says how
# programs find the library.  Then a real install by root into such a
# prefix says the same.
not_root_advice() {
    u=$work/user
    mkdir -p "$u/.local/lib"
    chown -R nobody:nogroup "$u"
    chmod 755 "$work"
    setpriv --reuid=nobody --regid=nogroup --clear-groups env HOME="$u" \
        cmake -DCMAKE_INSTALL_PREFIX="$u/.local" -DCMODX_INSTALL_LIBDIR=lib -DCMODX_BINARY_DIR="$u" \
        -P "$root/cmake/cmodxLdconfig.cmake" >"$u/out" 2>&1 || { cat "$u/out"; return 1; }
    cat "$u/out"
    grep -qF -- "-Wl,-rpath,$u/.local/lib" "$u/out" && grep -qF "LD_LIBRARY_PATH=$u/.local/lib" "$u/out" ||
        { echo "no rpath/LD_LIBRARY_PATH advice for a non-root install"; return 1; }
    echo "== as that user, into /usr/local/lib (searched, but only root rebuilds the cache)"
    setpriv --reuid=nobody --regid=nogroup --clear-groups env HOME="$u" \
        cmake -DCMAKE_INSTALL_PREFIX=/usr/local -DCMODX_INSTALL_LIBDIR=lib -DCMODX_BINARY_DIR="$u" \
        -P "$root/cmake/cmodxLdconfig.cmake" >"$u/out1" 2>&1 || { cat "$u/out1"; return 1; }
    cat "$u/out1"
    grep -q "run ldconfig as root" "$u/out1" || { echo "no ldconfig advice"; return 1; }
    echo "== root, cmake --install into a prefix the linker does not search"
    cmake --install "$nb" --prefix "$work/root-prefix" >"$u/out2" 2>&1 || { cat "$u/out2"; return 1; }
    grep -F -- "-Wl,-rpath,$work/root-prefix/lib" "$u/out2"
}
check "native: install by a non-root user to ~/.local (and by root to another prefix) prints the rpath/LD_LIBRARY_PATH advice" not_root_advice

# Absolute CMAKE_INSTALL_LIBDIR and CMAKE_INSTALL_INCLUDEDIR: cmodx.pc
# names them as they are (no "${prefix}//abs"), and a program built with
# its flags runs.
absolute_dirs() {
    b=$root/build/pkg-install-absdirs
    a=$work/absdirs
    rm -rf "$b"
    cmake -S "$root" -B "$b" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF -DCMODX_BUILD_TOOLS=OFF \
        -DCMODX_BUILD_EXAMPLES=OFF -DCMODX_BUILD_MAN=OFF -DCMAKE_INSTALL_PREFIX="$a/prefix" \
        -DCMAKE_INSTALL_LIBDIR="$a/elsewhere/lib" -DCMAKE_INSTALL_INCLUDEDIR="$a/elsewhere/include" &&
        cmake --build "$b" -j 2 && cmake --install "$b" || return 1
    cat "$a/elsewhere/lib/pkgconfig/cmodx.pc"
    absent '//' "$a/elsewhere/lib/pkgconfig/cmodx.pc" || return 1
    flags=$(PKG_CONFIG_LIBDIR=$a/elsewhere/lib/pkgconfig pkg-config --cflags --libs cmodx) || return 1
    echo "pkg-config: $flags"
    # (pkg-config ends its output with a space)
    [ "${flags% }" = "-I$a/elsewhere/include -L$a/elsewhere/lib -lcmodx" ] || { echo "wrong flags"; return 1; }
    # shellcheck disable=SC2086
    cc "$hello" $flags -Wl,-rpath,"$a/elsewhere/lib" -o "$work/hello-abs" && says x86_64 "$work/hello-abs" &&
        cmake -S "$consumer" -B "$work/c-abs" -Dcmodx_DIR="$a/elsewhere/lib/cmake/cmodx" &&
        cmake --build "$work/c-abs" && says x86_64 "$work/c-abs/hello_shared" &&
        says x86_64 "$work/c-abs/hello_static"
}
check "native: absolute CMAKE_INSTALL_LIBDIR/INCLUDEDIR: cmodx.pc and the CMake package" absolute_dirs

# The README's native install as root: default prefix /usr/local, then the
# plain pkg-config line, run with no rpath and no LD_LIBRARY_PATH.
native_system() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "not root: cannot install to /usr/local"
        return 1
    fi
    # Never overwrite (and then delete) a cmodx someone installed there
    # (any file of cmodx's: the comparison below must be meaningful).
    old=$(find /usr/local \( -iname '*cmodx*' -o -iname 'CMODX_*' \) 2>/dev/null)
    if [ -n "$old" ]; then
        echo "files of a cmodx are in /usr/local already: not installing over them"
        echo "$old"
        return 1
    fi
    # Everything under /usr/local (directories too), to compare after.
    find /usr/local | sort >"$work/usr-local-before.txt"
    : >"$work/system-installed"
    cmake --install "$nb" || return 1
    rc=0
    flags=$(pkg-config --cflags --libs cmodx) &&
        echo "pkg-config: $flags" &&
        cc "$hello" $flags -o "$work/hello-sys" &&
        env -u LD_LIBRARY_PATH sh -c 'ldd "$1" | grep "libcmodx\.so\.0 => /usr/local/lib/"' sh "$work/hello-sys" &&
        env -u LD_LIBRARY_PATH "$work/hello-sys" | grep -x 'x86_64: generated code returned 42' || rc=1
    # The uninstall target: exactly what was installed, the directories
    # the install created, and ldconfig's cache entry.
    uninstall_system || rc=1
    ! ldconfig -p | grep -q 'libcmodx\.so\.0 .*/usr/local/' || { echo "uninstall left libcmodx in the cache"; rc=1; }
    find /usr/local | sort >"$work/usr-local-after.txt"
    if ! cmp -s "$work/usr-local-before.txt" "$work/usr-local-after.txt"; then
        echo "/usr/local differs after uninstall:"
        diff "$work/usr-local-before.txt" "$work/usr-local-after.txt"
        rc=1
    fi
    return $rc
}
check "native: cmake --install to /usr/local as root, found at run time (ldconfig); the uninstall target leaves /usr/local as it was" native_system

# A staged install (DESTDIR) and its uninstall: under another DESTDIR (or
# none) the uninstall refuses and removes nothing there (it once removed
# the same paths under the wrong root: a system's headers, its empty
# /usr/lib/pkgconfig); under the install's own it removes the stage.
staged_uninstall() {
    sb=$root/build/pkg-install-staged
    rm -rf "$sb" "$work/stage" "$work/other"
    cmake -S "$root" -B "$sb" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF \
        -DCMODX_BUILD_TOOLS=OFF -DCMODX_BUILD_MAN=OFF -DCMAKE_INSTALL_PREFIX=/usr >/dev/null &&
        cmake --build "$sb" -j 2 >/dev/null || return 1
    DESTDIR=$work/stage cmake --install "$sb" >/dev/null || return 1
    test -f "$work/stage/usr/include/cmodx/cmodx.h" || { echo "nothing staged"; return 1; }
    # A second root holding the same paths, as a system would.
    mkdir -p "$work/other/usr/include/cmodx" "$work/other/usr/lib/pkgconfig"
    echo planted >"$work/other/usr/include/cmodx/cmodx.h"
    if DESTDIR=$work/other cmake --build "$sb" --target uninstall >"$work/un.log" 2>&1; then
        echo "uninstall under another DESTDIR succeeded:"; cat "$work/un.log"; return 1
    fi
    grep -q "nothing removed" "$work/un.log" || { cat "$work/un.log"; return 1; }
    test -f "$work/other/usr/include/cmodx/cmodx.h" && test -d "$work/other/usr/lib/pkgconfig" ||
        { echo "the other root lost files"; return 1; }
    test -f "$work/stage/usr/include/cmodx/cmodx.h" || { echo "the stage lost files"; return 1; }
    DESTDIR=$work/stage cmake --build "$sb" --target uninstall >"$work/un.log" 2>&1 ||
        { cat "$work/un.log"; return 1; }
    left=$(find "$work/stage" -type f | wc -l)
    [ "$left" -eq 0 ] || { echo "$left file(s) left in the stage"; find "$work/stage" -type f; return 1; }
    test -f "$work/other/usr/include/cmodx/cmodx.h" || { echo "the other root lost files"; return 1; }
}
check "native: a staged install (DESTDIR) is uninstalled only under the same DESTDIR; another root keeps its files" staged_uninstall

# ---- cross ---------------------------------------------------------------
cross() {
    arch=$1 triple=$2 proc=$3 qemu=$4 name=$5
    tc=$root/cmake/toolchains/$triple.cmake
    lib_only "$arch" -DCMAKE_TOOLCHAIN_FILE="$tc" || return 1
    b=$root/build/pkg-install-$arch
    p=$work/$arch
    cmake --install "$b" --prefix "$p" || return 1
    test -f "$p/lib/libcmodx.so.0" && test -f "$p/lib/libcmodx.a" || return 1
    only_public "$triple-nm" "$p/lib/libcmodx.a" || return 1

    echo "== find_package, project toolchain file, CMAKE_PREFIX_PATH"
    cmake -S "$consumer" -B "$work/c-$arch-tc" -DCMAKE_TOOLCHAIN_FILE="$tc" \
        -DCMAKE_PREFIX_PATH="$p" &&
        cmake --build "$work/c-$arch-tc" &&
        says "$name" "$qemu" -L "/usr/$triple" "$work/c-$arch-tc/hello_shared" &&
        says "$name" "$qemu" -L "/usr/$triple" "$work/c-$arch-tc/hello_static" || return 1

    echo "== find_package, project toolchain file, CMAKE_PREFIX_PATH in the environment"
    CMAKE_PREFIX_PATH=/nonexistent:$p cmake -S "$consumer" -B "$work/c-$arch-env" -DCMAKE_TOOLCHAIN_FILE="$tc" &&
        cmake --build "$work/c-$arch-env" &&
        says "$name" "$qemu" -L "/usr/$triple" "$work/c-$arch-env/hello_static" || return 1

    echo "== find_package, a user's toolchain file, cmodx_DIR"
    cat >"$work/user-$arch.cmake" <<EOF
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR $proc)
set(CMAKE_C_COMPILER $triple-gcc)
set(CMAKE_FIND_ROOT_PATH /usr/$triple)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
EOF
    cmake -S "$consumer" -B "$work/c-$arch-user" -DCMAKE_TOOLCHAIN_FILE="$work/user-$arch.cmake" \
        -Dcmodx_DIR="$p/lib/cmake/cmodx" &&
        cmake --build "$work/c-$arch-user" &&
        says "$name" "$qemu" -L "/usr/$triple" "$work/c-$arch-user/hello_shared" &&
        says "$name" "$qemu" -L "/usr/$triple" "$work/c-$arch-user/hello_static" || return 1

    echo "== pkg-config, PKG_CONFIG_LIBDIR on the prefix"
    flags=$(PKG_CONFIG_LIBDIR=$p/lib/pkgconfig pkg-config --cflags --libs cmodx) || return 1
    echo "pkg-config: $flags"
    # shellcheck disable=SC2086
    "$triple-gcc" "$hello" $flags -Wl,-rpath,"$p/lib" -o "$work/hello-$arch-pc" &&
        says "$name" "$qemu" -L "/usr/$triple" "$work/hello-$arch-pc" || return 1

    echo "== pkg-config, PKG_CONFIG_SYSROOT_DIR + PKG_CONFIG_LIBDIR on a staged sysroot"
    s=$work/sysroot-$arch
    DESTDIR=$s cmake --install "$b" --prefix /usr || return 1
    flags=$(PKG_CONFIG_SYSROOT_DIR=$s PKG_CONFIG_LIBDIR=$s/usr/lib/pkgconfig \
        pkg-config --cflags --libs cmodx) || return 1
    echo "pkg-config: $flags"
    case $flags in
    *"-I$s/"*"-L$s/"*) ;;
    *) echo "flags do not point into the sysroot $s"; return 1 ;;
    esac
    # shellcheck disable=SC2086
    "$triple-gcc" "$hello" $flags -o "$work/hello-$arch-sysroot" &&
        says "$name" "$qemu" -L "/usr/$triple" -E LD_LIBRARY_PATH="$s/usr/lib" "$work/hello-$arch-sysroot"
}
check "aarch64: cross install; find_package (project and user toolchain), pkg-config (prefix, sysroot); qemu-user" \
    cross aarch64 aarch64-linux-gnu aarch64 qemu-aarch64 aarch64
check "armhf: cross install; find_package (project and user toolchain), pkg-config (prefix, sysroot); qemu-user" \
    cross armhf arm-linux-gnueabihf arm qemu-arm arm
check "riscv64: cross install; find_package (project and user toolchain), pkg-config (prefix, sysroot); qemu-user" \
    cross riscv64 riscv64-linux-gnu riscv64 qemu-riscv64 riscv64
finish
