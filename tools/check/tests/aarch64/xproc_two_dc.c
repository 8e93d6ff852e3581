/*
 * Found by a review of the cross-process checker (fixed with it):
 * two cleans of the same line by two threads of the reading
 * process.  The writer (argv[1] "fork": a child process; "thread": a
 * thread of this process) only stores the code.  Helper thread H: DC CVAU;
 * then main: DC CVAU; then H: DSB (completes H's clean); then main: IC
 * IVAU; DSB; ISB; runs the code.  H's clean was completed before main's
 * invalidate (main synchronised with H through a flag): expect clean.
 *
 * RUN: fork => clean
 * RUN: thread => clean
 */
#include "common.h"
#include "../xproc.h"
#include <pthread.h>

static uint32_t *mem;
static int f1, f2, f3;

static void writer(void *arg)
{
    (void)arg;
    const uint32_t code[] = { A64_MOV_W0(7), A64_RET };
    emit(mem + 16, code, 2);
}

static void *helper(void *arg)
{
    (void)arg;
    dc_cvau(mem + 16);
    __atomic_store_n(&f1, 1, __ATOMIC_RELEASE);
    while (!__atomic_load_n(&f2, __ATOMIC_ACQUIRE)) {
    }
    dsb_ish();
    __atomic_store_n(&f3, 1, __ATOMIC_RELEASE);
    return NULL;
}

int main(int argc, char **argv)
{
    int fork_mode = !(argc > 1 && strcmp(argv[1], "thread") == 0);
    mem = xp_shared_page();
    if (!mem) {
        return 2;
    }
    pid_t p = xp_writer(fork_mode, writer, NULL);
    if (p < 0) {
        return 2;
    }
    pthread_t t;
    pthread_create(&t, NULL, helper, NULL);
    while (!__atomic_load_n(&f1, __ATOMIC_ACQUIRE)) {
    }
    dc_cvau(mem + 16);
    __atomic_store_n(&f2, 1, __ATOMIC_RELEASE);
    while (!__atomic_load_n(&f3, __ATOMIC_ACQUIRE)) {
    }
    ic_ivau(mem + 16);
    dsb_ish();
    isb();
    int got = as_fn(mem + 16)();
    pthread_join(t, NULL);
    return xp_status(p, got, 7);
}
