#!/bin/sh
# label: layering: no include or call from a layer of src/ to one above
# Runs tools/layers/check-layers.sh on the source tree and on the library
# objects of every build the test command made (x86_64-gcc, aarch64,
# armhf, riscv64; a native one of its own if there is none), then shows
# that the check fails on a small tree with an upward include (quoted,
# angle, through "..", through include/), a computed include, an upward
# call, and a file outside the layers.
set -u
root=$1
check=$root/tools/layers/check-layers.sh
. "$root/tests/tally.sh"

# ---- the library ------------------------------------------------------------
set --
for b in x86_64-gcc aarch64 armhf riscv64; do
    d=$root/build/$b/CMakeFiles/cmodx_objects.dir
    [ -d "$d" ] && set -- "$@" --objects "$d"
done
if [ $# -eq 0 ]; then
    own=$root/build/layers
    if cmake -S "$root" -B "$own" -DBUILD_TESTING=OFF -DCMODX_BUILD_TOOLS=OFF \
            -DCMODX_BUILD_EXAMPLES=OFF >"$root/build/layers-build.log" 2>&1 &&
        cmake --build "$own" --target cmodx_objects >>"$root/build/layers-build.log" 2>&1; then
        set -- --objects "$own/CMakeFiles/cmodx_objects.dir"
    else
        tail -n 20 "$root/build/layers-build.log"
    fi
fi
if [ $# -gt 0 ] && sh "$check" --src "$root/src" "$@"; then
    ok "src/ arrows point down"
else
    bad "src/ arrows point down"
fi

# ---- the documents name what is there ---------------------------------------------
# docs/ARCHITECTURE.md names every file of src/ (per-architecture files as
# <arch>...), and the README's layout table every layer.
missing=
for f in $(cd "$root/src" && find . -type f \( -name '*.c' -o -name '*.h' -o -name '*.S' \) |
    sed 's|^\./||' | LC_ALL=C sort); do
    g=$(echo "$f" | sed -E 's,(^|/)(x86_64|aarch64|arm|riscv64)([-.]),\1<arch>\3,')
    grep -qF "$f" "$root/docs/ARCHITECTURE.md" || grep -qF "$g" "$root/docs/ARCHITECTURE.md" ||
        missing="$missing src/$f"
done
if [ -z "$missing" ]; then
    ok "docs/ARCHITECTURE.md names every file of src/"
else
    echo "not in docs/ARCHITECTURE.md:$missing"
    bad "docs/ARCHITECTURE.md names every file of src/"
fi
missing=
for l in $(sed -n 's/^LAYERS="\(.*\)"$/\1/p' "$check"); do
    grep -qF "\`src/$l/" "$root/README.md" || missing="$missing src/$l/"
done
if [ -z "$missing" ]; then
    ok "the README's layout table names every layer"
else
    echo "not in README.md:$missing"
    bad "the README's layout table names every layer"
fi

# ---- the check itself fails when it should --------------------------------------
t=$root/build/layers-selftest
rm -rf "$t"
mkdir -p "$t/src/heap" "$t/src/domain" "$t/obj/src/heap" "$t/obj/src/domain" "$t/include/cmodx"
cat >"$t/src/domain/d.h" <<'X'
int d_fn(void);
X
cat >"$t/src/domain/d.c" <<'X'
#include "domain/d.h"
#include "heap/h.h"
int d_fn(void) { return h_fn(); }
X
cat >"$t/src/heap/h.h" <<'X'
int h_fn(void);
X
cat >"$t/src/heap/h.c" <<'X'
#include "h.h"
int h_fn(void) { return 1; }
X
compile() {
    cc -c -I"$t/src" "$t/src/$1" -o "$t/obj/src/$1.o"
}
compile domain/d.c && compile heap/h.c || bad "self-test objects compile"
if sh "$check" --src "$t/src" --objects "$t/obj" >"$t/clean.log" 2>&1; then
    ok "check passes a tree whose arrows point down"
else
    cat "$t/clean.log"
    bad "check passes a tree whose arrows point down"
fi

# An upward include only.
printf '#include "domain/d.h"\n' >>"$t/src/heap/h.h"
if ! sh "$check" --src "$t/src" >"$t/inc.log" 2>&1 &&
    grep -q 'src/heap/h.h (heap) includes "domain/d.h"' "$t/inc.log"; then
    ok "check fails on an upward include"
else
    cat "$t/inc.log"
    bad "check fails on an upward include"
fi
sed -i '$d' "$t/src/heap/h.h"

# The same header reached otherwise: the library is built with -I src, so
# an angle include finds it too; so does a path through "..", and one
# through the public include/ directory.  A system header is no violation.
n=0
for how in '<domain/d.h>' '"../domain/d.h"' '<../src/domain/d.h>' '"cmodx/../../src/domain/d.h"'; do
    n=$((n + 1))
    printf '#include <stddef.h>\n#include %s\n' "$how" >>"$t/src/heap/h.h"
    if ! sh "$check" --src "$t/src" >"$t/inc$n.log" 2>&1 &&
        grep -qF "src/heap/h.h (heap) includes $how (domain, a layer above)" "$t/inc$n.log" &&
        [ "$(grep -c '^violation' "$t/inc$n.log")" -eq 1 ]; then
        ok "check fails on an upward include written $how"
    else
        cat "$t/inc$n.log"
        bad "check fails on an upward include written $how"
    fi
    sed -i '$d' "$t/src/heap/h.h"
    sed -i '$d' "$t/src/heap/h.h"
done

# A computed include: the check cannot know where it leads.
printf '#define H "domain/d.h"\n#include H\n' >>"$t/src/heap/h.h"
if ! sh "$check" --src "$t/src" >"$t/macro.log" 2>&1 &&
    grep -q 'src/heap/h.h includes H, a computed include' "$t/macro.log"; then
    ok "check fails on a computed include"
else
    cat "$t/macro.log"
    bad "check fails on a computed include"
fi
sed -i '$d' "$t/src/heap/h.h"
sed -i '$d' "$t/src/heap/h.h"

# An upward call without an include (declared locally).
cat >"$t/src/heap/h.c" <<'X'
int d_fn(void);
int h_fn(void) { return d_fn() ? 1 : 0; }
X
compile heap/h.c || bad "self-test objects compile"
if ! sh "$check" --src "$t/src" --objects "$t/obj" >"$t/call.log" 2>&1 &&
    grep -q 'src/heap/h.c (heap) uses d_fn, defined in src/domain/d.c' "$t/call.log"; then
    ok "check fails on an upward call"
else
    cat "$t/call.log"
    bad "check fails on an upward call"
fi
printf 'int h_fn(void) { return 1; }\n' >"$t/src/heap/h.c"

# A file outside the layers.
printf 'int loose;\n' >"$t/src/loose.c"
if ! sh "$check" --src "$t/src" >"$t/loose.log" 2>&1 &&
    grep -q 'src/loose.c is outside every layer' "$t/loose.log"; then
    ok "check fails on a file outside the layers"
else
    cat "$t/loose.log"
    bad "check fails on a file outside the layers"
fi
finish
