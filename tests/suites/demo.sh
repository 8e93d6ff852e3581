#!/bin/sh
# label: README quick start: ./cmodx.sh demo (short run)
# Keeps the README's first command true: it must build and run the demo
# from its own build directory and finish with errors = 0.
set -u
root=$1
rm -rf "$root/build/demo"
if sh "$root/cmodx.sh" demo --seconds 2 --threads 2 >"$root/build/demo-command.log" 2>&1 &&
    grep -q 'errors = 0$' "$root/build/demo-command.log"; then
    tail -n 1 "$root/build/demo-command.log"
    echo "1 passed, 0 failed"
else
    tail -n 20 "$root/build/demo-command.log"
    echo "0 passed, 1 failed"
fi
