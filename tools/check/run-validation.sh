#!/bin/sh
# run-validation.sh — build the cmodx-check validation programs and check
# that the checker reports exactly what each program's "RUN:" lines expect.
#
#   RUN: [--checker-option ...] [program-args ...] => clean | kind[,kind...]
#
# Each RUN line is one run; it passes when the set of distinct hazard kinds
# reported equals the expected set and the exit status is the program's own
# (0) when clean or only notes, the checker's hazard status (99) otherwise.
# A kind written KIND*N must also have exactly N distinct reports, as the
# summary lines count them (all of them, printed or not; one line per
# process, summed): for a program that makes one hazard per round, each at
# its own address, and must see every round reported.
# A note (a report that does not set the exit status) is written note:KIND.  One line is
# printed per run, then "N passed, N failed"; the exit status is non-zero
# on any failure.
#
# Usage: tools/check/run-validation.sh [-o BUILD_DIR] [ARCH...]
#        ARCH: aarch64 arm riscv64 (default: all that have tests)
# A run that has not finished after CMODX_VALIDATION_TIMEOUT seconds (600)
# fails.
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
out=
while getopts o: opt; do
    case $opt in
    o) out=$OPTARG ;;
    *) exit 2 ;;
    esac
done
shift $((OPTIND - 1))
if [ -z "$out" ]; then
    out=$(mktemp -d "${TMPDIR:-/tmp}/cmodx-check-validation.XXXXXX")
    trap 'rm -rf "$out"' EXIT INT TERM
fi
mkdir -p "$out"
archs=${*:-"aarch64 arm riscv64"}
limit=${CMODX_VALIDATION_TIMEOUT:-600}   # seconds per run

# Build (or find) qemu and the plugin first, so that the runs are timed alone.
"$HERE/cmodx-check" --build >/dev/null || exit 1

cross_cc() {
    case $1 in
    aarch64) echo aarch64-linux-gnu-gcc ;;
    arm) echo arm-linux-gnueabihf-gcc ;;
    riscv64) echo riscv64-linux-gnu-gcc ;;
    esac
}

pass=0 fail=0
# Normalise a kind list: sorted, unique, comma separated; "clean" if empty.
norm() { tr ' ,' '\n' | grep -v '^$' | grep -v '^clean$' | sort -u | paste -sd, - | sed 's/^$/clean/'; }

run_one() { # arch name binary spec
    arch=$1 name=$2 bin=$3 spec=$4
    counts=$(printf '%s' "${spec#*=>}" | tr ' ,' '\n' | grep '\*' || true)
    expect=$(printf '%s' "${spec#*=>}" | sed 's/\*[0-9]*//g' | norm)
    args=${spec%%=>*}
    opts='' pargs=''
    for a in $args; do
        case $a in
        --*) opts="$opts $a" ;;
        *) pargs="$pargs $a" ;;
        esac
    done
    log="$out/$name.$$.log"
    rm -f "$log"
    # A run that does not finish fails (a checker that deadlocks must not
    # hang the suite); the limit is generous, not a speed requirement.
    # shellcheck disable=SC2086 # option and argument lists
    timeout -k 10 "$limit" "$HERE/cmodx-check" $opts --log-file="$log" -- "$bin" $pargs \
        >"$out/$name.out" 2>&1
    st=$?
    if [ "$st" = 124 ] || [ "$st" = 137 ]; then
        fail=$((fail + 1))
        printf 'FAIL  %-48s did not finish in %s s\n' "$arch/$name${pargs:+ $pargs}" "$limit"
        return
    fi
    # Notes (kinds that do not set the exit status) read "note:KIND".
    got=$(sed -n -e 's/^cmodx-check: hazard \([a-z-]*\) .*/\1/p' \
                 -e 's/^cmodx-check: note \([a-z-]*\) .*/note:\1/p' "$log" 2>/dev/null | norm)
    want_st=0
    if printf '%s\n' "$expect" | tr ',' '\n' | grep -v -e '^clean$' -e '^note:' | grep -q .; then
        want_st=99
    fi
    label="$arch/$name${pargs:+ $pargs}${opts:+ [${opts# }]}"
    # KIND*N: the distinct reports of KIND in the summary lines, summed.
    miscount=''
    set -f   # KIND*N is no file pattern
    for kc in $counts; do
        k=${kc%%\**}
        n=$(grep '^cmodx-check: summary:' "$log" 2>/dev/null |
            sed -n "s/.*[:,] ${k#note:} \([0-9]*\).*/\1/p" | awk '{ s += $1 } END { print s + 0 }')
        [ "$n" = "${kc##*\*}" ] || miscount="$miscount $k*${n:-0}"
    done
    set +f
    if [ -n "$miscount" ]; then
        got="$got (counted$miscount)"
    fi
    if [ "$got" = "$expect" ] && [ "$st" = "$want_st" ]; then
        pass=$((pass + 1))
        printf 'PASS  %-48s %s\n' "$label" "$got"
    else
        fail=$((fail + 1))
        printf 'FAIL  %-48s expected %s (status %s), got %s (status %s)\n' \
            "$label" "$expect" "$want_st" "$got" "$st"
        sed 's/^/      | /' "$out/$name.out" | tail -n 5
    fi
}

for arch in $archs; do
    dir="$HERE/tests/$arch"
    [ -d "$dir" ] || continue
    cc=$(cross_cc "$arch")
    for src in "$dir"/*.c; do
        name=$(basename "$src" .c)
        bin="$out/$arch-$name"
        if ! $cc -O2 -Wall -Wextra -pthread -o "$bin" "$src" 2>"$out/$name.cc"; then
            fail=$((fail + 1))
            printf 'FAIL  %-48s does not compile\n' "$arch/$name"
            sed 's/^/      | /' "$out/$name.cc" | head -n 5
            continue
        fi
        grep '^ \* RUN:' "$src" | sed 's/^ \* RUN: *//' > "$out/$name.runs"
        while IFS= read -r spec; do
            run_one "$arch" "$name" "$bin" "$spec" </dev/null
        done < "$out/$name.runs"
    done
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
