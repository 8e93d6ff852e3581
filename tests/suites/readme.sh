#!/bin/sh
# label: README examples: the "Using the library" program (gcc, clang, aarch64 under qemu-user), the AArch64 demo and trace_calls commands, docs/CHECKER.md's fix for every kind
# Keeps parts of README.md (run as written) and docs/CHECKER.md true:
#   - the C program under "Using the library" is extracted, compiled as a
#     real program with -std=c11 -Wall -Wextra -Werror by gcc and clang
#     against a library-only build, and with the aarch64 cross compiler
#     against the library the demo commands below build; each must print
#     "1 then 2" (the first version, then the published one) and exit 0;
#   - the shell block after "To run it on AArch64" (configure and build
#     cmodx-demo for aarch64, run it under qemu-user) is run with a shorter
#     run time and must end with "errors = 0";
#   - the clang commands for examples/trace_calls.c are run as written and
#     must trace calls with no wrong result and explain the calls traced
#     after the restore;
#   - docs/CHECKER.md's "How to fix each kind" has a row for every kind of
#     tools/check/plugin/report.c.
# Build directories: build/readme-lib and the README's own
# build/aarch64-demo and build/clang.  About 30 s on 2 cores (the builds).
set -u
root=$1
work=$root/build/readme
rm -rf "$work"
mkdir -p "$work"
. "$root/tests/tally.sh"

# The first ```c block after the heading, and the first ```sh block after
# the sentence that introduces the AArch64 demo.
awk '/^## Using the library/ { s = 1 } s == 1 && /^```c$/ { s = 2; next }
     s == 2 && /^```$/ { exit } s == 2 { print }' "$root/README.md" >"$work/snippet.c"
awk '/^To run it on AArch64/ { s = 1 } s == 1 && /^```sh$/ { s = 2; next }
     s == 2 && /^```$/ { exit } s == 2 { print }' "$root/README.md" >"$work/aarch64-demo.sh"
if grep -q 'int main' "$work/snippet.c"; then ok "README C program found"; else bad "README C program found"; fi
if grep -q 'qemu-aarch64' "$work/aarch64-demo.sh"; then
    ok "README AArch64 demo commands found"
else
    bad "README AArch64 demo commands found"
fi

# ---- the program, natively ----------------------------------------------------
lib=$root/build/readme-lib
if cmake -S "$root" -B "$lib" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF -DCMODX_BUILD_TOOLS=OFF \
        -DCMODX_BUILD_EXAMPLES=OFF >"$work/lib.log" 2>&1 &&
    cmake --build "$lib" --target cmodx_static >>"$work/lib.log" 2>&1; then
    for cc in gcc clang; do
        d="README program, $cc -std=c11 -Wall -Wextra -Werror"
        if $cc -std=c11 -Wall -Wextra -Werror -I"$root/include" "$work/snippet.c" "$lib/libcmodx.a" \
                -lpthread -o "$work/snippet-$cc" >"$work/$cc.log" 2>&1 &&
            "$work/snippet-$cc" >"$work/$cc.out" 2>&1 && [ "$(cat "$work/$cc.out")" = "1 then 2" ]; then
            ok "$d prints \"1 then 2\""
        else
            cat "$work/$cc.log" "$work/$cc.out" 2>/dev/null | tail -n 20
            bad "$d prints \"1 then 2\""
        fi
    done
else
    tail -n 20 "$work/lib.log"
    bad "library-only build for the README program"
fi

# ---- the AArch64 demo commands, then the program for aarch64 -------------------
# Run from the checkout as the README says; only the run time is shortened.
sed 's/--seconds 5/--seconds 1 --threads 2/' "$work/aarch64-demo.sh" >"$work/aarch64-demo-short.sh"
rm -rf "$root/build/aarch64-demo"
if (cd "$root" && sh -e "$work/aarch64-demo-short.sh") >"$work/aarch64-demo.log" 2>&1 &&
    tail -n 1 "$work/aarch64-demo.log" | grep -q 'errors = 0$'; then
    ok "README AArch64 demo commands: cmodx-demo runs under qemu-aarch64 with errors = 0"
else
    tail -n 20 "$work/aarch64-demo.log"
    bad "README AArch64 demo commands: cmodx-demo runs under qemu-aarch64 with errors = 0"
fi
d="README program, aarch64-linux-gnu-gcc, under qemu-aarch64"
if aarch64-linux-gnu-gcc -std=c11 -Wall -Wextra -Werror -I"$root/include" "$work/snippet.c" \
        "$root/build/aarch64-demo/libcmodx.a" -lpthread -o "$work/snippet-aarch64" >"$work/a64.log" 2>&1 &&
    qemu-aarch64 -L /usr/aarch64-linux-gnu "$work/snippet-aarch64" >"$work/a64.out" 2>&1 &&
    [ "$(cat "$work/a64.out")" = "1 then 2" ]; then
    ok "$d prints \"1 then 2\""
else
    cat "$work/a64.log" "$work/a64.out" 2>/dev/null | tail -n 20
    bad "$d prints \"1 then 2\""
fi

# ---- examples/trace_calls.c, built with clang as the README says --------------
awk '/^`examples\/trace_calls.c`/ { s = 1 } s == 1 && /^```sh$/ { s = 2; next }
     s == 2 && /^```$/ { exit } s == 2 { print }' "$root/README.md" >"$work/trace-calls.sh"
d="README trace_calls commands (clang): calls traced, 0 wrong results, the after-restore count explained"
rm -rf "$root/build/clang"
if grep -q 'trace_calls' "$work/trace-calls.sh" &&
    (cd "$root" && sh -e "$work/trace-calls.sh") >"$work/trace-calls.log" 2>&1 &&
    grep -q '^[1-9][0-9]* calls traced, 0 wrong results, [0-9]* traced after the restore returned' \
        "$work/trace-calls.log" &&
    grep -q '^(after the restore: calls that had taken the jump' "$work/trace-calls.log"; then
    ok "$d"
else
    tail -n 20 "$work/trace-calls.log"
    bad "$d"
fi

# ---- docs/CHECKER.md: a "How to fix" row for every kind the checker reports -----
kinds=$(sed -n '/kind_names\[K_COUNT\]/,/^};/p' "$root/tools/check/plugin/report.c" |
    sed -n 's/.*= "\([a-z-]*\)",.*/\1/p')
fixes=$(awk '/^### How to fix each kind/ { s = 1; next } s && /^#/ { exit } s' "$root/docs/CHECKER.md")
if [ -z "$kinds" ]; then
    bad "docs/CHECKER.md: kinds read from tools/check/plugin/report.c"
fi
for k in $kinds; do
    if printf '%s\n' "$fixes" | grep -q "^| \`$k\`"; then
        ok "docs/CHECKER.md: how to fix $k"
    else
        bad "docs/CHECKER.md: how to fix $k"
    fi
done

# ---- docs/CHECKER.md: the suppressions file shown is one the checker accepts -----
d="docs/CHECKER.md: the suppressions example is accepted"
awk '/^### Suppressions/ { s = 1; next } s == 1 && /^```$/ { s = 2; next }
     s == 2 && /^```$/ { exit } s == 2 { print }' "$root/docs/CHECKER.md" >"$work/supp.txt"
printf 'int main(void) { return 0; }\n' >"$work/supp-prog.c"
if [ -s "$work/supp.txt" ] &&
    aarch64-linux-gnu-gcc -o "$work/supp-prog" "$work/supp-prog.c" 2>"$work/supp.log" &&
    "$root/tools/check/cmodx-check" --suppressions="$work/supp.txt" -- "$work/supp-prog" \
        >>"$work/supp.log" 2>&1; then
    ok "$d"
else
    tail -n 5 "$work/supp.log"
    bad "$d"
fi

finish
