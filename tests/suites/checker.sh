#!/bin/sh
# label: cmodx-check (qemu 10 + plugin): validation programs, and the aarch64/armhf/riscv64 suites under the checker
# Builds the checker's qemu-user once (cached outside the tree), runs the
# checker's own validation programs (each must report exactly the expected
# hazards), then the library's whole test suite for each architecture with
# cmodx-check as the emulator: every test passes and no hazard is reported.
set -u
root=$1
log=$root/build/checker
mkdir -p "$log"
if ! sh "$root/tools/check/build-qemu.sh" >"$log/build-qemu.log" 2>&1; then
    echo "building the checker's qemu failed:"
    tail -n 30 "$log/build-qemu.log"
    echo "0 passed, 1 failed"
    exit 1
fi
pass=0 fail=0
sh "$root/tools/check/run-validation.sh" -o "$log/validation" >"$log/validation.log" 2>&1
line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log/validation.log" | tail -n 1)
if [ -n "$line" ]; then
    echo "validation programs: $line"
    pass=$((pass + ${line%% passed*}))
    fail=$((fail + $(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')))
    grep -E '^FAIL' "$log/validation.log" | head -n 20
else
    echo "validation programs: no result"
    tail -n 20 "$log/validation.log"
    fail=$((fail + 1))
fi
sh "$root/tools/check/check-suite.sh" -o "$log/suite" aarch64 arm riscv64 >"$log/suite.log" 2>&1
for arch in aarch64 arm riscv64; do
    line=$(grep -E "^$arch: [0-9]+ passed, [0-9]+ failed" "$log/suite.log" | tail -n 1)
    if [ -z "$line" ]; then
        echo "$arch under cmodx-check: no result"
        fail=$((fail + 1))
        continue
    fi
    echo "$line"
    p=$(echo "$line" | sed -E 's/^[a-z0-9]+: ([0-9]+) passed.*/\1/')
    f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')
    pass=$((pass + p))
    fail=$((fail + f))
done
[ "$fail" -eq 0 ] || tail -n 40 "$log/suite.log"
echo "$pass passed, $fail failed"
