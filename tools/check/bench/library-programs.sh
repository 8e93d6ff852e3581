#!/bin/sh
# library-programs.sh — the 16 aarch64 programs the checker's overhead is
# measured on (docs/CHECKER.md, Overhead), one command per line, for
# measure-overhead.sh:
#
#   sh tools/check/bench/library-programs.sh BUILD_DIR STORE_HEAVY \
#       | sh tools/check/measure-overhead.sh -n 3 -L /usr/aarch64-linux-gnu
#
# BUILD_DIR: an aarch64 cross build of the project (README, "Cross builds
# by hand": the default build type, tests on), built;
# STORE_HEAVY: aarch64-linux-gnu-gcc -O2 -o store_heavy tools/check/bench/store_heavy.c
# Use -n 3 at least: single runs of the multi-threaded programs move by a
# factor of two.
set -eu
[ $# -eq 2 ] || { echo "usage: $0 BUILD_DIR STORE_HEAVY" >&2; exit 2; }
b=$1
for f in "$2" "$b/tests/test_publish" "$b/tools/bench/cmodx-bench"; do
    [ -x "$f" ] || { echo "$0: $f: not built" >&2; exit 1; }
done
echo "$2"
for t in test_publish test_heap test_trap; do
    echo "$b/tests/$t"
done
for t in test_slots test_reclaim; do
    for s in membarrier signal epoch trampoline; do
        echo "$b/tests/$t $s"
    done
done
for t in test_strategies test_batch test_threads; do
    echo "$b/tests/$t"
done
echo "$b/tools/bench/cmodx-bench --quick"
