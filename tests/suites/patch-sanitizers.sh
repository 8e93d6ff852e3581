#!/bin/sh
# label: patch tests built with clang under ThreadSanitizer and ASan+UBSan
# The x86_64 sanitizer suites build with gcc, whose patchable entries
# (five 1-byte NOPs) cmodx refuses, so there they never redirect a
# function of the program's own text.  Here the patch tests and the patch
# torture modes are built with clang (one 5-byte NOP) under each
# sanitizer, so entry redirection, the move of the text onto the memfd and
# the SIGTRAP handler run instrumented.  The signal strategy's test_patch
# is left out under ThreadSanitizer: its fork() reports a lock-order
# inversion, reg_lock -> patch lock (the fork steps: every domain's writer
# lock, then its reg_lock, then the patch and text locks) against patch
# lock -> reg_lock (a patch's signal round).  Both orders are taken only
# under the same domain's writer lock, taken first by both, which TSan's
# lock graph does not model; the child then exits 66 (TSan's status).
set -u
root=$1
. "$root/tests/tally.sh"
[ "$(uname -m)" = x86_64 ] || { finish "patch-sanitizers: "; exit; }
command -v clang >/dev/null || { bad "no clang"; finish "patch-sanitizers: "; exit; }
for san in thread address; do
    b=$root/build/x86_64-clang-$san-patch
    log=$root/build/x86_64-clang-$san-patch.log
    if cmake -S "$root" -B "$b" -DCMAKE_C_COMPILER=clang -DCMODX_SANITIZE=$san \
            -DCMODX_BUILD_EXAMPLES=OFF >"$log" 2>&1 &&
        cmake --build "$b" -j2 --target test_patch test_patch_errors cmodx-torture >>"$log" 2>&1; then
        exclude='^$'
        [ $san = thread ] && exclude='^test_patch_signal$'
        if (cd "$b" && ctest -R 'patch' -E "$exclude" --output-on-failure) >>"$log" 2>&1; then
            ok "clang $san patch tests"
        else
            bad "clang $san patch tests"
            tail -n 40 "$log"
        fi
    else
        bad "clang $san build"
        tail -n 20 "$log"
    fi
done
finish "patch-sanitizers: "
