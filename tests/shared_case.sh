#!/bin/sh
# shared_case.sh - run one program of the shared reliability cases (built
# from ../shared/cases beside the checkout) and check what it prints.
#
#   shared_case.sh [--status signal] [--absent PATTERN] PATTERN... -- COMMAND...
#
# Passes when COMMAND exits with status 0 (--status signal: is killed by a
# signal) and its output matches every extended regular expression PATTERN,
# each on a line of its own, and no line matches the --absent PATTERN.
set -u
want=0
absent=
while :; do
    case ${1-} in
    --status) want=$2; shift 2 ;;
    --absent) absent=$2; shift 2 ;;
    *) break ;;
    esac
done
n=0
while [ $# -gt 0 ] && [ "$1" != -- ]; do
    n=$((n + 1))
    eval "pat_$n=\$1"
    shift
done
[ $# -gt 1 ] || { echo "usage: shared_case.sh PATTERN... -- COMMAND..." >&2; exit 2; }
shift
out=$("$@" 2>&1)
rc=$?
printf '%s\n' "$out"
fail=0
if [ "$want" = signal ]; then
    if [ "$rc" -le 128 ]; then
        echo "shared_case: exit status $rc, expected death by a signal"
        fail=1
    fi
elif [ "$rc" -ne "$want" ]; then
    echo "shared_case: exit status $rc, expected $want"
    fail=1
fi
if [ -n "$absent" ] && printf '%s\n' "$out" | grep -Eq -- "$absent"; then
    echo "shared_case: a line matches what must not appear: $absent"
    fail=1
fi
i=1
while [ "$i" -le "$n" ]; do
    eval "pat=\$pat_$i"
    if ! printf '%s\n' "$out" | grep -Eq -- "$pat"; then
        echo "shared_case: no line matches: $pat"
        fail=1
    fi
    i=$((i + 1))
done
exit "$fail"
