#!/bin/sh
# label: mutation testing (every protocol step removed in turn; cmodx-torture + cmodx-check)
#
# Runs tools/mutate/cmodx-mutate: builds one library per mutant for the
# architectures its plan names, runs cmodx-torture (native / qemu-user) and
# cmodx-check against each, prints the table, and ends with
# "N passed, N failed": a detected mutant passes; a surviving mutant or a
# false alarm on the unmutated build fails.  See docs/MUTATION.md.
# Usage: sh tests/suites/mutation.sh [REPO_ROOT]
set -u
root=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
exec sh "$root/tools/mutate/cmodx-mutate" --build-dir "$root/build/mutate"
