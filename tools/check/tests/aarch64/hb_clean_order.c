/*
 * Root cause A of the first generation: the clean is ordered before the
 * publication by a DMB, not completed by a DSB of the cleaning thread, and
 * the reader's own IC IVAU; DSB; ISB completes the sequence.  herd7 forbids
 * the stale fetch (MP.RF+dc.cvau-dmb.ish+ctrl-ic.ivau-dsb.ish-isb): a DMB
 * orders DC CVAU before a later store (Barrier-ordered-before), the reader's
 * control dependency orders its IC after the flag it read, and its DSB
 * completes the invalidate, whoever cleaned.
 *
 * argv[1]: the writer's barrier between its clean and its flag store:
 *          dmb, dsb, none;  argv[2]: what the reader does after the flag:
 *          full (IC; DSB; ISB), noisb (IC; DSB), noic (DSB; ISB).
 *
 * RUN: dmb full => clean
 * RUN: dsb full => clean
 * RUN: none full => clean-not-completed
 * RUN: dmb noisb => no-context-sync
 * RUN: dmb noic => not-invalidated
 */
#include "common.h"

#include <pthread.h>

static struct dual d;
static int flag, ready;
static int reader_ic, reader_isb;   /* decided before the threads start */

static void *reader(void *arg)
{
    (void)arg;
    __atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
    /* The loop is a control dependency from the flag to what follows. */
    while (!__atomic_load_n(&flag, __ATOMIC_RELAXED)) {
    }
    if (reader_ic) {
        ic_ivau(d.rx);
    }
    dsb_ish();
    if (reader_isb) {
        isb();
    }
    return (void *)(intptr_t)as_fn(d.rx)();
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        return 2;
    }
    reader_ic = strcmp(argv[2], "noic") != 0;
    reader_isb = strcmp(argv[2], "noisb") != 0;
    d = dual_map(4096);
    pthread_t t;
    pthread_create(&t, NULL, reader, NULL);
    while (!__atomic_load_n(&ready, __ATOMIC_ACQUIRE)) {
    }
    /* Decided before the code is written: no call (and no barrier of
     * the dynamic linker's lazy binding) between the clean and the flag. */
    int bar = strcmp(argv[1], "dmb") == 0 ? 1 : strcmp(argv[1], "dsb") == 0 ? 2 : 0;
    const uint32_t code[] = { A64_MOV_W0(7), A64_RET };
    emit(d.rw, code, 2);
    dc_cvau(d.rw);
    if (bar == 1) {
        __asm__ volatile("dmb ish" ::: "memory");
    } else if (bar == 2) {
        dsb_ish();
    }
    /* A plain store: only the barrier above orders the clean before it. */
    __atomic_store_n(&flag, 1, __ATOMIC_RELAXED);
    void *r;
    pthread_join(t, &r);
    return (intptr_t)r == 7 ? 0 : 1;
}
