/*
 * Root cause B of the first generation: with CTR_EL0.IDC=1 no clean is
 * needed by anyone, and any thread's IC IVAU ordered after the store
 * completes the sequence (herd7: IDC1.MP.RF+dmb+ctrlisb-dc-dsb-ic-dsb-isb);
 * with IDC=1 and DIC=1 the writer's DMB and the reader's ISB are enough
 * (DIC1.MP.RF+dmb.st+ctrlisb).  The writer stores, orders (or not) its
 * store before the flag, and does no maintenance at all.
 *
 * argv[1]: writer's barrier before the flag: dmb, none;  argv[2]: the
 *          reader after the flag: full (DC; DSB; IC; DSB; ISB), ic (IC;
 *          DSB; ISB), isb (ISB), run (nothing).
 *
 * RUN: --idc dmb ic => clean
 * RUN: --idc dmb full => clean
 * RUN: dmb full => clean
 * RUN: dmb ic => not-cleaned
 * RUN: --idc none ic => clean-not-completed
 * RUN: --idc --dic dmb isb => clean
 * RUN: --idc --dic dmb run => no-context-sync
 * RUN: --idc dmb isb => not-invalidated
 */
#include "common.h"

#include <pthread.h>

static struct dual d;
static int flag, ready;
static int reader_dc, reader_ic, reader_isb;   /* decided before the threads start */

static void *reader(void *arg)
{
    (void)arg;
    __atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
    while (!__atomic_load_n(&flag, __ATOMIC_RELAXED)) {
    }
    if (reader_dc) {
        dc_cvau(d.rw);
        dsb_ish();
    }
    if (reader_ic) {
        ic_ivau(d.rx);
        dsb_ish();
    }
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
    reader_dc = strcmp(argv[2], "full") == 0;
    reader_ic = reader_dc || strcmp(argv[2], "ic") == 0;
    reader_isb = strcmp(argv[2], "run") != 0;
    d = dual_map(4096);
    pthread_t t;
    pthread_create(&t, NULL, reader, NULL);
    while (!__atomic_load_n(&ready, __ATOMIC_ACQUIRE)) {
    }
    /* Decided before the code is written: no call (and no barrier of
     * the dynamic linker's lazy binding) between the store and the flag. */
    int bar = strcmp(argv[1], "dmb") == 0;
    const uint32_t code[] = { A64_MOV_W0(7), A64_RET };
    emit(d.rw, code, 2);
    if (bar) {
        __asm__ volatile("dmb ishst" ::: "memory");
    }
    __atomic_store_n(&flag, 1, __ATOMIC_RELAXED);
    void *r;
    pthread_join(t, &r);
    return (intptr_t)r == 7 ? 0 : 1;
}
