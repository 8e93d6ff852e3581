/*
 * Found by a review of the cross-process checker (fixed with it):
 * two invalidates of the same line by two threads of the reading
 * process, only the first one completed by its own thread's DSB:
 *   writer (argv[1] "fork": a child process; "thread": a thread of this
 *   process) stores the code, DC CVAU, DSB.  Then thread T1 (main): IC IVAU;
 *   thread T2: IC IVAU (no DSB) and exits; T1: DSB; ISB; runs the code.
 * T1's invalidate is completed by T1's DSB before T1's ISB: expect clean.
 *
 * RUN: fork => clean
 * RUN: thread => clean
 */
#include "common.h"
#include "../xproc.h"
#include <pthread.h>

static uint32_t *mem;

static void writer(void *arg)
{
    (void)arg;
    const uint32_t code[] = { A64_MOV_W0(7), A64_RET };
    emit(mem + 16, code, 2);
    dc_cvau(mem + 16);
    dsb_ish();
}

static void *t2(void *arg)
{
    (void)arg;
    ic_ivau(mem + 16);
    return NULL;
}

int main(int argc, char **argv)
{
    int fork_mode = !(argc > 1 && strcmp(argv[1], "thread") == 0);
    int one_ic = argc > 2 && strcmp(argv[2], "one") == 0;
    mem = xp_shared_page();
    if (!mem) {
        return 2;
    }
    pid_t p = xp_writer(fork_mode, writer, NULL);
    if (p < 0) {
        return 2;
    }
    pthread_t t;
    ic_ivau(mem + 16);
    if (!one_ic) {
        pthread_create(&t, NULL, t2, NULL);
        pthread_join(t, NULL);
    }
    dsb_ish();
    isb();
    int got = as_fn(mem + 16)();
    return xp_status(p, got, 7);
}
