/*
 * CTR_EL0.IDC=1 and DIC=1: an earlier fetch of the same thread can order
 * a later one.  With both bits set herd7's model orders a fetch that read
 * a value coherence-before a store before that store (IC-ca [F]; ca; [W]),
 * and, since Instr-read-ordered-before contains ca when DIC=1, an earlier
 * fetch of the thread before the store too (IC-ob [F1]; po; [F2]; ca).
 * So once a thread has fetched an instruction whose store is itself ordered
 * after the flag it read, its later fetches cannot run code older than what
 * the flag published, even with no ISB (the catalogue's
 * DIC1.MP.RF+dmb.st+addr-rfiINSTR*, which the litmus translator skips).
 *
 * The publisher rewrites a routine (no maintenance: DIC=1, IDC=1), then
 * DMB ISHST and sets a data flag.  The runner waits for the flag, then
 * calls a gate word in its own code page that branches past the routine
 * until it is a NOP, and from the gate falls into the routine:
 *   late   the runner stores the NOP into the gate after it read the flag
 *          (a control dependency orders the load before the store); its
 *          fetch of the new gate is ordered after the flag, and so is the
 *          fetch of the routine: nothing to report but the gate itself,
 *          an allowed B->NOP replacement run without an ISB after its
 *          store (a note);
 *   early  the gate store comes before the runner reads the flag: the
 *          gate's fetch says nothing about the flag, and the routine's
 *          fetch has no context synchronisation after the flag;
 *   isb    the gate is a NOP from the start (no store); an ISB after the
 *          flag orders the routine's fetch.
 * The publisher waits until the runner has started, so that no system
 * call of either (thread start, join) orders the routine through the
 * kernel.
 *
 * RUN: --idc --dic late => note:stale-replacement
 * RUN: --idc --dic early => no-context-sync,note:stale-replacement
 * RUN: --idc --dic isb => clean
 * RUN: --idc late => not-invalidated,note:stale-replacement
 */
#include "common.h"

#include <pthread.h>

#define ROUTINE 64   /* words: the routine on its own cache lines */

static uint32_t *page;
static int flag, ready;
static int mode;     /* 0 late, 1 early, 2 isb */

static void *runner(void *arg)
{
    (void)arg;
    const uint32_t nop = A64_NOP;
    if (mode == 1) {
        emit(page, &nop, 1);
    }
    /* No system call from here on: the kernel would order the flag. */
    __atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
    while (!__atomic_load_n(&flag, __ATOMIC_RELAXED)) {
    }
    if (mode == 0) {
        emit(page, &nop, 1);
    } else if (mode == 2) {
        isb();
    }
    return (void *)(intptr_t)as_fn(page)();
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        return 2;
    }
    mode = strcmp(argv[1], "late") == 0 ? 0 : strcmp(argv[1], "early") == 0 ? 1 : 2;
    page = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED) {
        return 2;
    }
    /* [0] gate: b 2 (closed) or nop (open)   [1] b ROUTINE
     * [2] mov w0,#0; ret                       [ROUTINE] mov w0,#1; ret */
    const uint32_t head[] = { mode == 2 ? A64_NOP : A64_B(0, 8), A64_B(4, 4 * ROUTINE),
                              A64_MOV_W0(0), A64_RET };
    const uint32_t old[] = { A64_MOV_W0(1), A64_RET };
    emit(page, head, 4);
    emit(page + ROUTINE, old, 2);
    sync_words(page, ROUTINE + 8);
    pthread_t t;
    pthread_create(&t, NULL, runner, NULL);
    while (!__atomic_load_n(&ready, __ATOMIC_ACQUIRE)) {
    }
    const uint32_t new_insn = A64_MOV_W0(7);
    emit(page + ROUTINE, &new_insn, 1);
    __asm__ volatile("dmb ishst" ::: "memory");
    __atomic_store_n(&flag, 1, __ATOMIC_RELAXED);
    void *r;
    pthread_join(t, &r);
    /* 7: new routine; 1: stale routine; 0: the gate still closed. */
    return (intptr_t)r == 7 || (intptr_t)r == 1 ? 0 : 1;
}
