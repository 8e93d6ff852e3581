# Sourced by the suites in tests/suites/ (after setting root): the count
# each suite prints as its last line, "N passed, N failed", which the
# test command (cmodx.sh) adds up.  POSIX sh.
pass=0 fail=0
# ok [TEXT], bad [TEXT]: one check passed, failed; TEXT is printed as
# "PASS  TEXT" or "FAIL  TEXT".
ok() {
    [ $# -eq 0 ] || echo "PASS  $*"
    pass=$((pass + 1))
}
bad() {
    [ $# -eq 0 ] || echo "FAIL  $*"
    fail=$((fail + 1))
}
# tally_from FILE [PREFIX [PASS_WORD FAIL_WORD]]: adds the counts of the
# last line of FILE reading "PREFIX<n> passed, <n> failed" (another
# script's result; other words for other scripts, e.g. HIT and MISS) and
# sets tally_line to that line without PREFIX.  With no such line: counts
# one failure, sets tally_line empty and returns 1.
tally_from() {
    _tp=${2:-} _tw=${3:-passed} _tf=${4:-failed}
    tally_line=$(grep -E "^$_tp[0-9]+ $_tw, [0-9]+ $_tf" "$1" 2>/dev/null | tail -n 1)
    if [ -z "$tally_line" ]; then
        fail=$((fail + 1))
        return 1
    fi
    tally_line=${tally_line#"$_tp"}
    pass=$((pass + ${tally_line%% *}))
    fail=$((fail + $(echo "$tally_line" | sed -E "s/.* ([0-9]+) $_tf.*/\\1/")))
}
# finish [PREFIX]: prints the count (after PREFIX); false when a check
# failed.
finish() {
    echo "${1:-}$pass passed, $fail failed"
    [ "$fail" -eq 0 ]
}
