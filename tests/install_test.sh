#!/bin/sh
# Install cmodx into a temporary prefix and build examples/hello.c against
# it twice: with pkg-config and with find_package(cmodx); run both.
# usage: install_test.sh BUILD_DIR SOURCE_DIR C_COMPILER [TOOLCHAIN_FILE] [EMULATOR]
set -eu
build=$1 src=$2 cc=$3 toolchain=${4:-} emulator=$(printf '%s' "${5:-}" | tr ';' ' ')
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix

cmake --install "$build" --prefix "$prefix" >/dev/null
pc=$(find "$prefix" -name cmodx.pc)
cfgdir=$(dirname "$(find "$prefix" -name cmodxConfig.cmake)")
libdir=$(dirname "$(find "$prefix" -name 'libcmodx.so' | head -n 1)")
test -f "$prefix/include/cmodx/cmodx.h"
test -f "$libdir/libcmodx.a"

echo "== pkg-config"
flags=$(PKG_CONFIG_LIBDIR=$(dirname "$pc") pkg-config --cflags --libs cmodx)
# shellcheck disable=SC2086
"$cc" -std=gnu11 -Wall -Wextra -Werror "$src/examples/hello.c" $flags \
    -Wl,-rpath,"$libdir" -o "$work/hello_pkgconfig"
$emulator "$work/hello_pkgconfig"

echo "== find_package"
set -- -S "$src/examples" -B "$work/consumer" -Dcmodx_DIR="$cfgdir" -DCMAKE_C_COMPILER="$cc"
if [ -n "$toolchain" ]; then
    set -- "$@" -DCMAKE_TOOLCHAIN_FILE="$toolchain"
fi
cmake "$@" >/dev/null
cmake --build "$work/consumer" >/dev/null
$emulator "$work/consumer/hello"
echo "install_and_consume: ok"
