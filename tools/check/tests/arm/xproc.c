/*
 * Code written by one process and run by another: a forked child writes
 * a function into MAP_SHARED|MAP_ANONYMOUS memory it shares with its
 * parent, with or without cacheflush(2); the parent, told over a pipe (its
 * read(2) returns through an exception: context synchronising), runs it.
 *
 * RUN: flush => clean
 * RUN: none => no-cacheflush
 */
#include "common.h"
#include "../xproc.h"

static int flush;
static uint32_t *mem;

static void child(void *arg)
{
    (void)arg;
    const uint32_t code[] = { A32_MOV_R0(5), A32_BX_LR };
    emit(mem + 16, code, 2);
    if (flush) {
        cacheflush(mem + 16, mem + 18);
    }
}

int main(int argc, char **argv)
{
    flush = !(argc > 1 && strcmp(argv[1], "none") == 0);
    mem = xp_shared_page();
    pid_t p = mem ? xp_child_writes(child, NULL) : -1;
    if (p < 0) {
        return 2;
    }
    return xp_status(p, as_fn(mem + 16)(), 5);
}
