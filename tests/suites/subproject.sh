#!/bin/sh
# label: cmodx as a subproject: add_subdirectory and FetchContent (git URL of a snapshot of this checkout, no network)
#
# Builds tests/packaging/parent, a parent project with tests of its own,
# with cmodx added by add_subdirectory (this checkout) and by FetchContent
# (a local git repository holding a snapshot of this checkout's files, so
# uncommitted work is what is tested).  For each:
#   - the parent links cmodx::cmodx and cmodx::cmodx_static and runs both;
#   - no global flags: the parent's own file with an unused variable builds
#     (cmodx's -Werror did not leak) and its compile line has none of
#     cmodx's -Wall/-Wextra/-Werror/-std=/-fsanitize;
#   - tests and tools off: ctest lists only the parent's test, no cmodx
#     test or tool target exists;
#   - install: the parent's install holds only its own program; with
#     -DCMODX_INSTALL=ON also the library, headers and package files, and
#     still no tool (cmodx's tools are installed only when asked);
#   - a parent that asks for the tools (-DCMODX_BUILD_TOOLS=ON) gets them
#     built, but no test of theirs and, without CMODX_INSTALL_TOOLS, nothing
#     installed;
#   - a parent that asks for -DCMODX_SANITIZE=address links both libraries
#     (the sanitizer's runtime comes with cmodx's targets) and runs;
#   - the static parent program also defines heap_flags, writer_enter, ...
#     (tests/packaging/collide.c): the archive exports only cmodx_*.
# Build directories: build/pkg-sub-*.  About 2 minutes on 2 cores.
set -u
root=$1
. "$root/tests/packaging/common.sh"
logdir=$root/build/pkg-sub-logs
rm -rf "$logdir"
mkdir -p "$logdir"
work=$(mktemp -d "${TMPDIR:-/tmp}/cmodx-sub.XXXXXX")
trap 'rm -rf "$work"' EXIT
trap 'exit 1' INT TERM HUP
parent=$root/tests/packaging/parent

# A git repository with this checkout's files (tracked and untracked, not
# ignored): FetchContent clones it by its file path.
snapshot() {
    copy_tree "$root" "$work/repo" &&
        cd "$work/repo" && git init -q && git add -A &&
        git -c user.name=cmodx-test -c user.email=test@cmodx.invalid commit -q -m snapshot &&
        git rev-parse HEAD
}

# parent NAME [cmake args...]: configure, build and check a parent project.
parent_build() {
    tag=$1
    shift
    b=$root/build/pkg-sub-$tag
    rm -rf "$b"
    cmake -S "$parent" -B "$b" -DCMAKE_EXPORT_COMPILE_COMMANDS=ON "$@" &&
        cmake --build "$b" -j 2 || return 1
    for t in shared static; do
        out=$("$b/parent_$t") && echo "$out" &&
            [ "$out" = "x86_64: generated code returned 42" ] || return 1
    done
    echo "== tests registered"
    (cd "$b" && ctest -N) | tee "$work/ctest-$tag.txt"
    grep -q 'Total Tests: 1$' "$work/ctest-$tag.txt" || { echo "cmodx registered tests"; return 1; }
    echo "== no cmodx test or tool target"
    cmake --build "$b" --target help >"$work/targets-$tag.txt"
    absent '^\.\.\. (test_[a-z_]+|cmodx-[a-z]+|hello|slot_switch|cmodx_man[0-9])$' "$work/targets-$tag.txt" || return 1
    echo "== the parent's flags only"
    line=$(grep '"command".*flags\.c' "$b/compile_commands.json")
    echo "$line"
    [ -n "$line" ] || { echo "no compile line for flags.c"; return 1; }
    case $line in
    *-Wall* | *-Wextra* | *-Werror* | *-std=* | *-fsanitize*)
        echo "cmodx's flags leaked into the parent"
        return 1 ;;
    esac
    echo "== install: the parent's program only"
    cmake --install "$b" --prefix "$work/inst-$tag" >/dev/null || return 1
    (cd "$work/inst-$tag" && find . ! -type d | sort) | tee "$work/files-$tag.txt"
    [ "$(cat "$work/files-$tag.txt")" = "./bin/parent_static" ] || { echo "unexpected files installed"; return 1; }
    echo "== install with -DCMODX_INSTALL=ON: the library, no tool"
    cmake -DCMODX_INSTALL=ON "$b" >/dev/null && cmake --build "$b" -j 2 >/dev/null &&
        cmake --install "$b" --prefix "$work/inst2-$tag" >/dev/null || return 1
    (cd "$work/inst2-$tag" && find . ! -type d | sort) | tee "$work/files2-$tag.txt"
    grep -q '^./include/cmodx/cmodx.h$' "$work/files2-$tag.txt" &&
        grep -q '/libcmodx.so.0$' "$work/files2-$tag.txt" &&
        grep -q '/cmodxConfig.cmake$' "$work/files2-$tag.txt" &&
        grep -q '/cmodx.pc$' "$work/files2-$tag.txt" || { echo "library files missing"; return 1; }
    absent 'cmodx-|/man1/|share/cmodx' "$work/files2-$tag.txt"
}

check "add_subdirectory(<this checkout>)" parent_build subdirectory \
    -DCMODX_FROM=subdirectory -DCMODX_SOURCE="$root"

fetch() {
    rev=$(snapshot) || return 1
    echo "snapshot $rev"
    parent_build fetchcontent -DCMODX_FROM=fetchcontent -DCMODX_GIT="$work/repo" -DCMODX_REV="$rev"
}
check "FetchContent (git URL of a snapshot of this checkout)" fetch

# A parent that asks for the tools gets them built, but no test of theirs
# and, without CMODX_INSTALL_TOOLS, nothing installed.
tools_asked() {
    b=$root/build/pkg-sub-tools
    rm -rf "$b"
    cmake -S "$parent" -B "$b" -DCMODX_FROM=subdirectory -DCMODX_SOURCE="$root" \
        -DCMODX_BUILD_TOOLS=ON && cmake --build "$b" -j 2 || return 1
    test -x "$b/cmodx/tools/torture/cmodx-torture" || { echo "tools not built"; return 1; }
    (cd "$b" && ctest -N) | tee "$work/ctest-tools.txt"
    grep -q 'Total Tests: 1$' "$work/ctest-tools.txt" || { echo "cmodx's tools registered tests"; return 1; }
    cmake --install "$b" --prefix "$work/inst-tools" >/dev/null || return 1
    (cd "$work/inst-tools" && find . ! -type d | sort) | tee "$work/files-tools.txt"
    [ "$(cat "$work/files-tools.txt")" = "./bin/parent_static" ] || { echo "unexpected files installed"; return 1; }
}
check "add_subdirectory with -DCMODX_BUILD_TOOLS=ON: tools built, no test registered, nothing of theirs installed" tools_asked

# A parent that builds cmodx with a sanitizer: the sanitizer's runtime
# reaches the parent's programs through the targets' link options (the
# static library's objects call __asan_*), the parent's own sources are
# still compiled with its flags only, and both programs run.
sanitized() {
    b=$root/build/pkg-sub-asan
    rm -rf "$b"
    cmake -S "$parent" -B "$b" -DCMODX_FROM=subdirectory -DCMODX_SOURCE="$root" \
        -DCMODX_SANITIZE=address -DCMAKE_EXPORT_COMPILE_COMMANDS=ON &&
        cmake --build "$b" -j 2 || return 1
    for t in shared static; do
        out=$("$b/parent_$t") && echo "$out" &&
            [ "$out" = "x86_64: generated code returned 42" ] || return 1
    done
    nm "$b/parent_static" | grep -q ' __asan_init' || { echo "parent_static has no ASan runtime"; return 1; }
    line=$(grep '"command".*flags\.c' "$b/compile_commands.json")
    echo "$line"
    case $line in
    *-fsanitize*) echo "the sanitizer's compile flags leaked into the parent's sources"; return 1 ;;
    esac
}
check "add_subdirectory with -DCMODX_SANITIZE=address: cmodx::cmodx_static and cmodx::cmodx link and run" sanitized
finish
