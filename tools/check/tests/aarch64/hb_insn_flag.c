/*
 * Root cause C of the first generation: an instruction used as the flag.
 * The writer rewrites a routine with the full sequence (DC, DSB, IC, DSB)
 * and then turns a "B ." the reader is spinning on into a NOP.  Once the
 * reader has fetched the NOP, it runs the routine with no ISB: herd7
 * forbids the stale routine (MP-inst+dc.cvau-dsb.ish-ic.vau-dsb.ish, the
 * model's JIT example), because a fetch that reads a store made after the
 * invalidate completed orders that thread's later fetches after the
 * invalidate (IC-ordered-before).  One page, mapped read-write-execute, so
 * that qemu sees the flag's store at the address the reader runs.
 *
 * argv[1]: what the writer does to the routine before the flag:
 *          full (DC; DSB; IC; DSB), noic (DC; DSB), nodsb (DC; DSB; IC).
 * The flag's own store is an allowed B->NOP replacement: a
 * stale-replacement note at most (the reader may spin on the old B).
 *
 * RUN: full => note:stale-replacement
 * RUN: noic => not-invalidated,note:stale-replacement
 * RUN: nodsb => invalidate-not-completed,note:stale-replacement
 * RUN: --replacements=off full => clean
 */
#include "common.h"

#include <pthread.h>

static uint32_t *page;
static int ready;

#define ROUTINE 64   /* words: the routine has its own cache lines */

static void *reader(void *arg)
{
    (void)arg;
    __atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
    return (void *)(intptr_t)as_fn(page)();
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        return 2;
    }
    page = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED) {
        return 2;
    }
    /* [0] b .  (the flag)   [1] b ROUTINE   [ROUTINE] mov w0,#1; ret */
    const uint32_t head[] = { A64_B(0, 0), A64_B(4, 4 * ROUTINE) };
    const uint32_t old[] = { A64_MOV_W0(1), A64_RET };
    emit(page, head, 2);
    emit(page + ROUTINE, old, 2);
    sync_words(page, ROUTINE + 8);
    pthread_t t;
    pthread_create(&t, NULL, reader, NULL);
    while (!__atomic_load_n(&ready, __ATOMIC_ACQUIRE)) {
    }
    int ic = strcmp(argv[1], "noic") != 0, dsb = strcmp(argv[1], "nodsb") != 0;
    const uint32_t new_insn = A64_MOV_W0(7);
    emit(page + ROUTINE, &new_insn, 1);
    dc_cvau(page + ROUTINE);
    dsb_ish();
    if (ic) {
        ic_ivau(page + ROUTINE);
    }
    if (dsb) {
        dsb_ish();
    }
    const uint32_t nop = A64_NOP;
    emit(page, &nop, 1);   /* the flag: release the reader */
    void *r;
    pthread_join(t, &r);
    return (intptr_t)r == 7 ? 0 : 1;
}
