/*
 * Concurrent replacement of one B by another while a thread keeps
 * executing it without ever synchronising: allowed by the architecture
 * (the executor sees the old or the new branch, never a mix), so no
 * hazard by default.  But nothing orders the new branch before any of the
 * executor's fetches, which may see the old one for ever (herd7:
 * MP.RF+dmb.st+ctrlisb): the checker says so as a "stale-replacement"
 * note (exit status unaffected), a hazard with --replacements=hazard,
 * nothing with --replacements=off.  The targets themselves were published
 * before the executor started.
 *
 * RUN: => note:stale-replacement
 * RUN: --replacements=note => note:stale-replacement
 * RUN: --replacements=hazard => stale-replacement
 * RUN: --replacements=off => clean
 */
#include "common.h"

#include <pthread.h>

static struct dual d;
static int started;

static void *executor(void *arg)
{
    (void)arg;
    for (long i = 0; i < 200000000L; i++) {
        if (i == 1000) {
            __atomic_store_n(&started, 1, __ATOMIC_RELEASE);
        }
        if (as_fn(d.rx)() == 2) {
            return (void *)1;
        }
    }
    return (void *)0;
}

int main(void)
{
    d = dual_map(4096);
    uint32_t code[24] = { 0 };
    code[0] = A64_B(0, 32);                          /* patch site -> t1 */
    code[8] = A64_MOV_W0(1), code[9] = A64_RET;      /* t1 at 32 */
    code[16] = A64_MOV_W0(2), code[17] = A64_RET;    /* t2 at 64 */
    emit(d.rw, code, 24);
    maintain(&d, 0, sizeof(code), S_ALL);
    pthread_t t;
    pthread_create(&t, NULL, executor, NULL);
    while (!__atomic_load_n(&started, __ATOMIC_ACQUIRE)) {
    }
    const uint32_t b2 = A64_B(0, 64);
    emit(d.rw, &b2, 1);                              /* one aligned 32-bit store */
    maintain(&d, 0, 4, S_DC | S_DSB1 | S_IC | S_DSB2);
    void *r;
    pthread_join(t, &r);
    return r ? 0 : 1;
}
