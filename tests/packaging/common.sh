# Sourced by the packaging suites in tests/suites/: counting and logging.
# Each check is one command; its output goes to the suite's log directory,
# and the suite prints one line per check and, last, "N passed, N failed"
# (the count: tests/tally.sh).
. "$root/tests/tally.sh"
# check NAME COMMAND...: run COMMAND, log its output, count it.
check() {
    _cn=$1
    shift
    _cl=$logdir/$(printf '%s' "$_cn" | tr -c 'A-Za-z0-9\n' '_').log
    if "$@" >"$_cl" 2>&1; then
        ok "$_cn"
    else
        bad "$_cn (log: $_cl)"
        tail -n 25 "$_cl" | sed 's/^/    /'
    fi
}
# Fails (for use inside check) when FILE contains a line matching REGEX.
absent() {
    if grep -En "$1" "$2"; then
        echo "unexpected match for '$1' in $2"
        return 1
    fi
    return 0
}
# tools_install ROOT PREFIX: the README's "library and tools" build (native,
# tests off) in build/pkg-tools, installed into PREFIX.  Shared by the man
# page and installed-checker suites: the second finds the build up to date.
tools_install() {
    _b=$1/build/pkg-tools
    cmake -S "$1" -B "$_b" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF &&
        cmake --build "$_b" -j 2 &&
        cmake --install "$_b" --prefix "$2"
}
# copy_tree ROOT DEST: the checkout's files as git sees them (tracked and
# untracked, not ignored, so no build/), skipping tracked files deleted in
# the working tree; the copy is what the working tree holds now.
copy_tree() {
    mkdir -p "$2" &&
        (cd "$1" && git ls-files -z -c -o --exclude-standard |
            xargs -0 sh -c 'for f; do if [ -e "$f" ] || [ -L "$f" ]; then printf "%s\0" "$f"; fi; done' sh |
            xargs -0 cp -P --parents -t "$2")
}
# only_public NM ARCHIVE: every global symbol ARCHIVE defines starts with
# cmodx_ (the internal ones were made local when it was built), and it
# defines the public ones at all.
only_public() {
    _syms=$("$1" -g --defined-only "$2" | awk 'NF == 3 { print $3 }') || return 1
    _bad=$(printf '%s\n' "$_syms" | grep -v '^cmodx_')
    if [ -n "$_bad" ]; then
        echo "$2 exports symbols without the cmodx_ prefix:"
        printf '%s\n' "$_bad"
        return 1
    fi
    printf '%s\n' "$_syms" | grep -qx cmodx_slot_init || { echo "$2: no cmodx_slot_init"; return 1; }
    echo "$2: $(printf '%s\n' "$_syms" | wc -l) global symbols, all cmodx_*"
}
