#!/bin/sh
# shared_case.sh - run one program of the shared reliability cases (built
# from ../shared/cases beside the checkout) and check what it prints.
#
#   shared_case.sh PATTERN... -- COMMAND...
#
# Passes when COMMAND exits with status 0 and its output matches every
# extended regular expression PATTERN, each on a line of its own.
set -u
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
if [ "$rc" -ne 0 ]; then
    echo "shared_case: exit status $rc, expected 0"
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
