#!/bin/sh
# label: x86_64 valgrind memcheck (heap, publish, trap, slots, reclaim, grace waits, patches, block lifecycle)
# Runs native tests under valgrind's memcheck: no invalid access, no
# uninitialised use, no definite leak.  --smc-check=all: the tests run
# code they just wrote.  Uses the x86_64-gcc build made earlier.
set -u
root=$1
bin=$root/build/x86_64-gcc/tests
. "$root/tests/tally.sh"
run() {
    name=$1
    shift
    # A test run with several modes keeps one log per mode.
    label=$(echo "$name $*" | sed 's/ *$//')
    log=$root/build/valgrind-$(echo "$label" | tr ' ' '_').log
    if valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
        --smc-check=all "$bin/$name" "$@" >"$log" 2>&1; then
        ok "$label"
    else
        bad "$label"
        tail -n 30 "$log"
    fi
}
run test_publish
run test_heap
run test_trap
run test_slots membarrier 300 2
run test_batch
run test_grace
run test_patch membarrier 200
run test_blocks
# Concurrency and lifecycle (issue 12): the lock rule, cancellation inside
# a publish, the signal strategy's edges, membarrier failing later, the
# fork snapshot (about a minute in all under valgrind).
run test_lifecycle lock epoch
run test_lifecycle cancel
run test_lifecycle cancel-fork
run test_lifecycle signal
run test_lifecycle membarrier
run test_lifecycle fork epoch
finish
