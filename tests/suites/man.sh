#!/bin/sh
# label: man pages: a section 3 page for every public function (generated from the headers), section 1 for every installed tool; man -l renders each
#
# The list of public functions is read from include/cmodx/*.h here, by a
# different method than the generator's (tools/man/man3.cmake): every
# CMODX_API prototype, static inline function and function-like CMODX_*
# macro.  Each must have an installed page (build/pkg-tools installed into
# a prefix) that `man --warnings -l` renders without a warning, whose NAME
# names it, and that man finds through MANPATH; no page may exist for
# anything else.  Every installed program in bin/ must have a section 1
# page that renders.  Then the generator's refusals: a public function
# without a comment, a comment without THREAD SAFETY or RETURN VALUE, and
# a NAME that names no declaration, must stop it.  Last, a build from a
# source path and into a build path with spaces.
# About 2.5 minutes on 2 cores (shares build/pkg-tools with
# installed-checker.sh; the build with spaces is about 2 minutes).
set -u
root=$1
. "$root/tests/packaging/common.sh"
logdir=$root/build/pkg-man-logs
rm -rf "$logdir"
mkdir -p "$logdir"
work=$(mktemp -d "${TMPDIR:-/tmp}/cmodx-man.XXXXXX")
trap 'rm -rf "$work"' EXIT
trap 'exit 1' INT TERM HUP
prefix=$work/prefix
export MANWIDTH=80

check "install the library and tools with their man pages" tools_install "$root" "$prefix"
man3=$prefix/share/man/man3
man1=$prefix/share/man/man1

public_functions() {
    for h in "$1"/cmodx/*.h; do
        sed -n -E 's/^CMODX_API[^(]*[ *](cmodx_[a-z0-9_]+)\(.*/\1/p;
                   s/^static inline[^(]*[ *](cmodx_[a-z0-9_]+)\(.*/\1/p;
                   s/^#define (CMODX_[A-Z0-9_]+)\(.*/\1/p' "$h"
    done | sort -u
}

# renders PAGE NAME: man -l formats PAGE with no warning, NAME in NAME.
renders() {
    man --warnings -l "$1" >"$work/render.txt" 2>"$work/render.err" || { cat "$work/render.err"; return 1; }
    if [ -s "$work/render.err" ]; then
        echo "$1: warnings:"
        cat "$work/render.err"
        return 1
    fi
    sed -n '/^NAME/,/^[A-Z]/p' "$work/render.txt" | grep -q -- "$2" || { echo "$1: NAME does not name $2"; return 1; }
}

section3() {
    public_functions "$root/include" >"$work/functions.txt"
    n=$(wc -l <"$work/functions.txt")
    echo "$n public functions"
    [ "$n" -gt 20 ] || { echo "too few public functions found"; return 1; }
    rc=0
    while read -r f; do
        if [ ! -f "$man3/$f.3" ]; then
            echo "$f: no page"
            rc=1
            continue
        fi
        renders "$man3/$f.3" "$f" || rc=1
        # Every page states thread safety; every function not returning
        # void, its return value (the header's declaration says which).
        grep -q '^THREAD SAFETY' "$work/render.txt" || { echo "$f: no THREAD SAFETY"; rc=1; }
        if ! grep -hEq "^(CMODX_API +|static +inline +)void +$f\(" "$root"/include/cmodx/*.h; then
            grep -q '^RETURN VALUE' "$work/render.txt" || { echo "$f: no RETURN VALUE"; rc=1; }
        fi
        # Found by name through MANPATH, as an installed page is.
        [ "$(MANPATH=$prefix/share/man man -w 3 "$f")" = "$man3/$f.3" ] || { echo "$f: man -w does not find it"; rc=1; }
    done <"$work/functions.txt"
    (cd "$man3" && ls) | sed 's/\.3$//' | sort >"$work/pages.txt"
    if ! cmp -s "$work/pages.txt" "$work/functions.txt"; then
        echo "pages for things that are not public functions:"
        comm -23 "$work/pages.txt" "$work/functions.txt"
        rc=1
    fi
    return $rc
}
check "section 3: one page per public function, each renders (man -l) and is found (man -w)" section3

section1() {
    rc=0
    n=0
    for p in "$prefix"/bin/*; do
        t=$(basename "$p")
        n=$((n + 1))
        if [ ! -f "$man1/$t.1" ]; then
            echo "$t: no section 1 page"
            rc=1
            continue
        fi
        renders "$man1/$t.1" "$t" || rc=1
        # A SYNOPSIS naming the tool, and no NAME or SYNOPSIS heading
        # inside another section (a --help written as a man page).
        sed -n '/^SYNOPSIS/,/^[A-Z]/p' "$work/render.txt" | grep -q "^ *$t " ||
            { echo "$t.1: no SYNOPSIS naming $t"; rc=1; }
        [ "$(grep -cE '^ *(NAME|SYNOPSIS) *$' "$work/render.txt")" -eq 2 ] ||
            { echo "$t.1: NAME or SYNOPSIS twice"; rc=1; }
        # The --help names files of the installed tree only: every
        # share/... path it mentions exists under the prefix.
        for f in $("$p" --help 2>&1 | grep -oE 'share/[A-Za-z0-9_./-]*[A-Za-z0-9_]' | sort -u); do
            [ -e "$prefix/$f" ] || { echo "$t --help names $f, not installed"; rc=1; }
        done
        if "$p" --help 2>&1 | grep -nE '(^|[ (])(tools|docs)/' | grep -v 'in the sources'; then
            echo "$t --help names a source-tree path"
            rc=1
        fi
        # help2man turns the --help text into the page: its first option
        # (a line starting with "-") must be there.
        opt=$("$p" --help 2>&1 | sed -n -E 's/^ *(-[-A-Za-z]+).*/\1/p' | head -n 1)
        [ -n "$opt" ] && grep -q -- "$opt" "$work/render.txt" || { echo "$t.1: no option ($opt) of its --help"; rc=1; }
    done
    echo "$n tools"
    [ "$n" -ge 4 ] || { echo "expected cmodx-check, -demo, -torture and -bench"; rc=1; }
    return $rc
}
check "section 1: one page per installed tool (help2man), each renders" section1

# The generator on a copy of the headers, changed: it must refuse.
refuses() {
    rm -rf "$work/inc"
    cp -r "$root/include" "$work/inc"
    printf '%s\n' "$1" >>"$work/inc/cmodx/error.h"
    if cmake -DINCLUDE_DIR="$work/inc" -DOUT_DIR="$work/out3" -DVERSION=0 \
        -P "$root/tools/man/man3.cmake"; then
        echo "the generator accepted: $1"
        return 1
    fi
}
generator() {
    # The unchanged headers are accepted.
    cmake -DINCLUDE_DIR="$root/include" -DOUT_DIR="$work/out3" -DVERSION=0 \
        -P "$root/tools/man/man3.cmake" || return 1
    refuses '#define X 1
CMODX_API int cmodx_undocumented(void);' &&
        refuses '/*
 * NAME
 *   cmodx_not_declared - a page for nothing
 */
#define Y 2'
}
check "the generator refuses an undocumented function and a NAME without declaration" generator

# A public function whose comment has no THREAD SAFETY section, or (not
# returning void) no RETURN VALUE section, or is not man-page style at
# all, stops the generator.
incomplete() {
    refuses '/*
 * NAME
 *   cmodx_no_thread_safety - a page without THREAD SAFETY
 * RETURN VALUE
 *   0.
 */
CMODX_API int cmodx_no_thread_safety(void);' &&
        refuses '/*
 * NAME
 *   cmodx_no_return_value - a page without RETURN VALUE
 * THREAD SAFETY
 *   Thread-safe.
 */
CMODX_API int cmodx_no_return_value(void);' &&
        refuses '/* A one-line comment. */
CMODX_API void cmodx_one_line(void);' || return 1
    # A void function needs no RETURN VALUE.
    rm -rf "$work/inc" && cp -r "$root/include" "$work/inc" &&
        printf '%s\n' '/*
 * NAME
 *   cmodx_void_ok - a void function
 * THREAD SAFETY
 *   Thread-safe.  Never waits.
 */
CMODX_API void cmodx_void_ok(void);' >>"$work/inc/cmodx/error.h" &&
        cmake -DINCLUDE_DIR="$work/inc" -DOUT_DIR="$work/out3v" -DVERSION=0 \
            -P "$root/tools/man/man3.cmake" && test -f "$work/out3v/cmodx_void_ok.3"
}
check "the generator refuses a function without THREAD SAFETY, without RETURN VALUE, or with a plain comment" incomplete

# The source and the build directory with spaces in their paths: the
# library, the tools and every man page still build (help2man runs each
# tool through a shell).
spaces() {
    s="$work/source dir/cmodx"
    b="$work/build dir/b"
    copy_tree "$root" "$s" || return 1
    cmake -S "$s" -B "$b" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF -DCMODX_BUILD_EXAMPLES=OFF &&
        cmake --build "$b" -j 2 || return 1
    n=$(ls "$b/man/man1"/*.1 | wc -l)
    echo "$n section 1 pages"
    [ "$n" -ge 5 ] && renders "$b/man/man1/cmodx-demo.1" cmodx-demo &&
        renders "$b/man/man1/cmodx-check.1" cmodx-check && renders "$b/man/man3/cmodx_slot_init.3" cmodx_slot_init
}
check "source and build paths with spaces: library, tools and man pages build" spaces
finish
