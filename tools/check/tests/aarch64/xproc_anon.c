/*
 * Code written by one process and run by another: a forked child writes
 * a function into MAP_SHARED|MAP_ANONYMOUS memory (read-write-execute,
 * shared with its parent) and performs the given steps of the sequence
 * (steps.c's numbering: 1 DC, 2 DSB, 4 IC, 8 DSB, 16 ISB); the parent,
 * told over a pipe (its read(2) returns through an exception: context
 * synchronising), runs the function.  The checker of the parent must see
 * the child's store and its maintenance (the cross-process state).  A
 * second number is the steps the parent performs itself before the call:
 * maintenance by the reading process counts too (the child's clean, then
 * the parent's invalidate), and needs its own completion.
 *
 * RUN: 31 => clean
 * RUN: 15 => clean
 * RUN: 30 => not-cleaned
 * RUN: 29 => clean-not-completed
 * RUN: 27 => not-invalidated
 * RUN: 23 => invalidate-not-completed
 * RUN: 3 28 => clean
 * RUN: 1 28 => clean
 * RUN: 3 4 => invalidate-not-completed
 * RUN: 3 0 => not-invalidated
 */
#include "common.h"
#include "../xproc.h"

static unsigned steps;
static uint32_t *mem;

static void child(void *arg)
{
    (void)arg;
    const uint32_t code[] = { A64_MOV_W0(7), A64_RET };
    emit(mem + 16, code, 2);
    struct dual d = { mem, mem, 4096 };
    maintain(&d, 64, sizeof(code), steps);
}

int main(int argc, char **argv)
{
    steps = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 0) : S_ALL;
    unsigned psteps = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 0) : 0;
    mem = xp_shared_page();
    pid_t p = mem ? xp_child_writes(child, NULL) : -1;
    if (p < 0) {
        return 2;
    }
    struct dual d = { mem, mem, 4096 };
    maintain(&d, 64, 8, psteps);
    return xp_status(p, as_fn(mem + 16)(), 7);
}
