/*
 * Write a function, run the writer's sequence with the steps chosen by
 * argv[1] (a number: the enum step bits of common.h), run the function.
 *
 * RUN: 31 => clean
 * RUN: 30 => not-cleaned
 * RUN: 29 => clean-not-completed
 * RUN: 27 => not-invalidated
 * RUN: 23 => invalidate-not-completed
 * RUN: 15 => no-context-sync
 */
#include "common.h"

int main(int argc, char **argv)
{
    unsigned steps = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 0) : S_ALL;
    struct dual d = dual_map(4096);
    const uint32_t code[] = { A64_MOV_W0(42), A64_RET };
    emit(d.rw, code, 2);
    maintain(&d, 0, sizeof(code), steps);
    return as_fn(d.rx)() == 42 ? 0 : 1;
}
