#!/bin/sh
# tools/layers/check-layers.sh - check that the library's arrows point down.
#
#   check-layers.sh [--src DIR] [--objects DIR]... [--quiet]
#
# The library is one directory per layer under src/, bottom first:
#
#   base  arch  heap  thread  strategy  slot  patch  domain
#
# (docs/ARCHITECTURE.md says what each owns).  A file may include or call
# a file of its own layer or of a layer below it, never above.  Two
# checks:
#   includes  every #include "...", #include <...>, #include_next and
#             assembler .include of every file under src/ (C, headers,
#             assembly), resolved as the compiler resolves it for the
#             library, which is built with -I src and -I include: a quoted
#             one first relative to the including file, then in src/ and
#             include/; an angle one in src/ and include/ only ("..",
#             symbolic links and public headers that lead back into src/
#             are followed to the file they reach).  A file reached in
#             src/ belongs to its layer.  An angle include naming a layer
#             directory counts as that layer even if the file is missing;
#             one found in neither src/ nor include/ is a system header.
#             An include whose name is a macro (computed) cannot be
#             resolved, and is itself a violation;
#   calls     for every object file of the library under each --objects
#             DIR (a build tree; objects are matched to src/ by their
#             path, as CMake names them), every undefined symbol that
#             another object of the library defines: the defining file's
#             layer must not be above the referencing file's.  Calls
#             through pointers a layer above registered (hooks, operation
#             tables) name no symbol, and are the allowed way up.
# A file outside the layer directories, or a directory that is not a
# layer, is itself an error: a new file must be placed in a layer.
#
# Prints each violation, then "layers: ..." with the counts.  Exit status
# 0 when there is none, 1 otherwise, 2 on a usage error.
set -eu

LAYERS="base arch heap thread strategy slot patch domain"

src=
objdirs=
quiet=0
while [ $# -gt 0 ]; do
    case $1 in
    --src) src=$2; shift 2 ;;
    --objects) objdirs="$objdirs
$2"; shift 2 ;;
    --quiet) quiet=1; shift ;;
    -h|--help) sed -n '2,37p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "check-layers.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
[ -n "$src" ] || src=$(cd "$(dirname "$0")/../.." && pwd)/src
[ -d "$src" ] || { echo "check-layers.sh: no source directory $src" >&2; exit 2; }
NM=${NM:-nm}
srcabs=$(realpath -- "$src")
incabs=$(realpath -m -- "$src/../include")

# rank LAYER: its position, bottom = 1; 0 if it is not a layer.
rank() {
    r=0 i=1
    for l in $LAYERS; do
        [ "$l" = "$1" ] && r=$i
        i=$((i + 1))
    done
    echo "$r"
}

violations=0
files=0
objects=0
say() { echo "violation: $*"; violations=$((violations + 1)); }

# ---- includes ----------------------------------------------------------------
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$src" && find . -type f \( -name '*.c' -o -name '*.h' -o -name '*.S' -o -name '*.s' \) |
    sed 's|^\./||' | LC_ALL=C sort) >"$tmp/files"
while IFS= read -r f; do
    files=$((files + 1))
    case $f in
    */*) layer=${f%%/*} ;;
    *) say "src/$f is outside every layer directory ($LAYERS)"; continue ;;
    esac
    lr=$(rank "$layer")
    if [ "$lr" -eq 0 ]; then
        say "src/$f: directory src/$layer is not a layer ($LAYERS)"
        continue
    fi
    # One line per include: Q name (quoted), A name (angle), M text
    # (computed: a macro).  #include_next is searched like the same
    # include (it can only reach further along the same path).
    sed -n -e 's/^[[:space:]]*#[[:space:]]*include\(_next\)\{0,1\}[[:space:]]*"\([^"]*\)".*/Q \2/p' \
        -e 's/^[[:space:]]*#[[:space:]]*include\(_next\)\{0,1\}[[:space:]]*<\([^>]*\)>.*/A \2/p' \
        -e 's/^[[:space:]]*#[[:space:]]*include\(_next\)\{0,1\}[[:space:]]*\([^"<[:space:]].*\)/M \2/p' \
        -e 's/^[[:space:]]*\.include[[:space:]]*"\([^"]*\)".*/Q \1/p' \
        -e 's/^[[:space:]]*\.incbin[[:space:]]*"\([^"]*\)".*/Q \1/p' \
        "$src/$f" >"$tmp/inc"
    while read -r kind inc; do
        if [ "$kind" = M ]; then
            say "src/$f includes $inc, a computed include that cannot be checked"
            continue
        fi
        if [ "$kind" = A ]; then shown="<$inc>"; else shown="\"$inc\""; fi
        # Candidates in the compiler's order; the first that exists wins.
        hit=
        if [ "$kind" = Q ]; then
            set -- "$srcabs/$(dirname "$f")" "$srcabs" "$incabs"
        else
            set -- "$srcabs" "$incabs"
        fi
        for base in "$@"; do
            c=$(realpath -m -- "$base/$inc")
            if [ -f "$c" ]; then
                hit=$c
                break
            fi
        done
        case $hit in
        "$srcabs"/*) r=${hit#"$srcabs"/}
            case $r in
            */*) il=${r%%/*} ;;
            *) il=. ;;
            esac ;;
        "$incabs"/*) continue ;; # public headers are below everything
        ?*) [ "$kind" = A ] && continue # a system header
            say "src/$f includes $shown, which is outside src/ and include/"
            continue ;;
        *) # Not found: judge by the name, as the build would once it exists.
            r=$(realpath -m -- "$srcabs/$inc")
            case $r in
            "$srcabs"/*/*) r=${r#"$srcabs"/}; il=${r%%/*} ;;
            *) il= ;;
            esac
            if [ -z "$il" ] || [ "$(rank "$il")" -eq 0 ]; then
                [ "$kind" = A ] && continue # a system header
                case $inc in
                cmodx/*) continue ;;
                */*) ;;
                *) il=$layer ;; # relative to the including file
                esac
            fi ;;
        esac
        ir=$(rank "$il")
        if [ "$ir" -eq 0 ]; then
            say "src/$f includes $shown, which is in no layer"
        elif [ "$ir" -gt "$lr" ]; then
            say "src/$f ($layer) includes $shown ($il, a layer above)"
        fi
    done <"$tmp/inc"
done <"$tmp/files"

# ---- calls ---------------------------------------------------------------------
# Objects: <dir>/.../src/<layer>/<name>.<ext>.o for a source that exists.
: >"$tmp/defs"
: >"$tmp/refs"
printf '%s\n' "$objdirs" >"$tmp/objdirs"
while IFS= read -r dir; do
    [ -z "$dir" ] || [ -d "$dir" ] || { echo "check-layers.sh: no object directory $dir" >&2; exit 2; }
done <"$tmp/objdirs"
while IFS= read -r dir; do
    [ -n "$dir" ] || continue
    find "$dir" -type f -name '*.o' -path '*/src/*' | LC_ALL=C sort | while IFS= read -r o; do
        rel=${o##*/src/}
        rel=${rel%.o}
        [ -f "$src/$rel" ] || continue # stale object of a removed source
        case $rel in
        */*) layer=${rel%%/*} ;;
        *) layer=- ;;
        esac
        # One namespace per build tree: the same symbol may be defined in
        # two trees (two architectures).
        "$NM" -P "$o" | awk -v obj="$dir|$rel" -v layer="$layer" -v tree="$dir" \
            -v defs="$tmp/defs" -v refs="$tmp/refs" '
            $2 == "U" || $2 == "w" { print tree "|" $1, obj, layer >> refs; next }
            $2 ~ /^[A-Z]$/ { print tree "|" $1, obj, layer >> defs }'
        echo "$o" >>"$tmp/objlist"
    done
done <"$tmp/objdirs"
[ -f "$tmp/objlist" ] && objects=$(wc -l <"$tmp/objlist")
ranks=""
i=1
for l in $LAYERS; do
    ranks="$ranks $l=$i"
    i=$((i + 1))
done
awk -v ranks="$ranks" '
    BEGIN { n = split(ranks, a, " "); for (i = 1; i <= n; i++) { split(a[i], kv, "="); r[kv[1]] = kv[2] } }
    FILENAME == ARGV[1] { def[$1] = $2; dl[$1] = $3; next }
    ($1 in def) {
        if (!($3 in r) || !(dl[$1] in r)) next   # outside the layers: reported by the include check
        if (r[dl[$1]] > r[$3]) {
            sym = $1; sub(/^[^|]*\|/, "", sym)
            o = $2; sub(/^[^|]*\|/, "", o)
            d = def[$1]; sub(/^[^|]*\|/, "", d)
            printf "violation: src/%s (%s) uses %s, defined in src/%s (%s, a layer above)\n", o, $3, sym, d, dl[$1]
        }
    }' "$tmp/defs" "$tmp/refs" >"$tmp/callviol"
cat "$tmp/callviol"
violations=$((violations + $(wc -l <"$tmp/callviol")))

[ "$quiet" -eq 1 ] && [ "$violations" -eq 0 ] ||
    echo "layers: $files files, $objects objects checked; $violations violation(s)"
[ "$violations" -eq 0 ]
