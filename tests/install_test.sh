#!/bin/sh
# Install this build into a temporary prefix and consume it the two ways a
# user does: examples/hello.c with pkg-config (PKG_CONFIG_LIBDIR on the
# prefix), and tests/packaging/consumer with find_package(cmodx) found
# through CMAKE_PREFIX_PATH (under the same toolchain file when cross: the
# project's toolchain files add CMAKE_PREFIX_PATH to their find roots),
# linked to the shared and to the static library.  Every program runs (under
# the emulator when cross) and must print "<arch>: generated code returned
# 42".  tests/suites/install.sh covers the README's other install paths.
# usage: install_test.sh BUILD_DIR SOURCE_DIR C_COMPILER [TOOLCHAIN_FILE] [EMULATOR]
set -eu
build=$1 src=$2 cc=$3 toolchain=${4:-} emulator=$(printf '%s' "${5:-}" | tr ';' ' ')
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix

cmake --install "$build" --prefix "$prefix" >/dev/null
pc=$(find "$prefix" -name cmodx.pc)
libdir=$(dirname "$(find "$prefix" -name 'libcmodx.so' | head -n 1)")
test -f "$prefix/include/cmodx/cmodx.h"
test -f "$libdir/libcmodx.a"

# runs PROGRAM: it prints exactly "<arch>: generated code returned 42".
runs() {
    out=$($emulator "$1")
    echo "$out"
    case $out in
    *": generated code returned 42") ;;
    *) echo "unexpected output from $1"; return 1 ;;
    esac
}

echo "== pkg-config"
flags=$(PKG_CONFIG_LIBDIR=$(dirname "$pc") pkg-config --cflags --libs cmodx)
# shellcheck disable=SC2086
"$cc" -std=gnu11 -Wall -Wextra -Werror "$src/examples/hello.c" $flags \
    -Wl,-rpath,"$libdir" -o "$work/hello_pkgconfig"
runs "$work/hello_pkgconfig"

echo "== find_package (CMAKE_PREFIX_PATH)"
set -- -S "$src/tests/packaging/consumer" -B "$work/consumer" -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_C_COMPILER="$cc"
if [ -n "$toolchain" ]; then
    set -- "$@" -DCMAKE_TOOLCHAIN_FILE="$toolchain"
fi
cmake "$@" >/dev/null
# The package found is the one just installed, not another cmodx.
grep -qx "cmodx_DIR:PATH=$(dirname "$(find "$prefix" -name cmodxConfig.cmake)")" "$work/consumer/CMakeCache.txt"
cmake --build "$work/consumer" >/dev/null
runs "$work/consumer/hello_shared"
runs "$work/consumer/hello_static"
echo "install_and_consume: ok"
