#!/bin/sh
# label: x86_64 valgrind memcheck (heap, publish, trap, slots, reclaim, grace waits, patches, block lifecycle)
# Runs native tests under valgrind's memcheck: no invalid access, no
# uninitialised use, no definite leak.  --smc-check=all: the tests run
# code they just wrote.  Uses the x86_64-gcc build made earlier.
set -u
root=$1
bin=$root/build/x86_64-gcc/tests
pass=0 fail=0
run() {
    name=$1
    shift
    if valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
        --smc-check=all "$bin/$name" "$@" >"$root/build/valgrind-$name.log" 2>&1; then
        echo "$name: ok"
        pass=$((pass + 1))
    else
        echo "$name: FAILED"
        tail -n 30 "$root/build/valgrind-$name.log"
        fail=$((fail + 1))
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
echo "$pass passed, $fail failed"
