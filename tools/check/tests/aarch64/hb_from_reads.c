/*
 * Root cause E (found on the library's signal strategy, test_slots
 * signal): a from-reads edge lost when the reading thread's clock had
 * just grown.  The writer completes its maintenance, fences, and reads a
 * reader's state as "offline"; the reader then stores "online", and its
 * DSB and ISB are ordered after the writer's maintenance through that
 * from-read (herd7: fre in ob, then DSB-ob and IFB-ob; the Dekker argument
 * of cmodx_thread_online).  The model records what was ordered before a
 * load in the slot the load read; it skipped that when the thread's store
 * snapshot was not computed, which happens whenever a load joined new
 * knowledge since the thread's last barrier: in a scan of thread records
 * (other threads stored them) between the fence and the state load.
 *
 * The reader learns that the writer has read its state through bytes
 * written by a FEAT_MOPS SET sequence, which the model does not take as
 * ordering (no memory callback): only the from-read orders the writer's
 * maintenance before the reader's ISB.  The code pointer the reader then
 * loads (after its ISB) gives no context synchronisation.
 *
 * argv[1]: grow (the writer's clock grows between its fence and the
 *          state load), plain (it does not);
 * argv[2]: dsb (the reader stores online, DMB, DSB, ISB), nodsb (DMB, ISB:
 *          a DMB does not order the from-read before the ISB), noisb (DMB,
 *          DSB).
 *
 * RUN: grow dsb => clean
 * RUN: plain dsb => clean
 * RUN: grow nodsb => no-context-sync
 * RUN: grow noisb => no-context-sync
 */
#include "common.h"

#include <pthread.h>

static struct dual d;
static int ready, flag0;
static int state __attribute__((aligned(64)));
static int junk __attribute__((aligned(64)));
static unsigned char seen __attribute__((aligned(64)));   /* written only by SET* */
static void *ptr __attribute__((aligned(64)));
static int reader_dsb, reader_isb;   /* decided before the threads start */

/* SETP/SETM/SETE [x0]!, x2!, x1: a store the model sees no ordering in. */
static void mops_set(void *dst, int byte, size_t n)
{
    register void *p __asm__("x0") = dst;
    register uint64_t v __asm__("x1") = (uint64_t)byte;
    register size_t len __asm__("x2") = n;
    __asm__ volatile(".inst 0x19c10440\n\t.inst 0x19c14440\n\t.inst 0x19c18440"
                     : "+r"(p), "+r"(len) : "r"(v) : "memory");
}

static void *reader(void *arg)
{
    (void)arg;
    __atomic_store_n(&state, 0, __ATOMIC_RELAXED);   /* the slot the writer's load reads */
    __atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
    while (!__atomic_load_n(&flag0, __ATOMIC_ACQUIRE)) {
    }
    /* Carries the writer's stores: the writer's clock grows when it
     * reads this. */
    __atomic_store_n(&junk, 1, __ATOMIC_RELAXED);
    while (!__atomic_load_n(&seen, __ATOMIC_RELAXED)) {
    }
    __atomic_store_n(&state, 1, __ATOMIC_RELAXED);   /* replaces what the writer read */
    __asm__ volatile("dmb ish" ::: "memory");
    if (reader_dsb) {
        dsb_ish();
    }
    if (reader_isb) {
        isb();
    }
    void *p;
    while (!(p = __atomic_load_n(&ptr, __ATOMIC_RELAXED))) {
    }
    return (void *)(intptr_t)as_fn(p)();
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        return 2;
    }
    int grow = strcmp(argv[1], "grow") == 0;
    reader_dsb = strcmp(argv[2], "nodsb") != 0;
    reader_isb = strcmp(argv[2], "noisb") != 0;
    d = dual_map(4096);
    pthread_t t;
    pthread_create(&t, NULL, reader, NULL);
    while (!__atomic_load_n(&ready, __ATOMIC_ACQUIRE)) {
    }
    const uint32_t code[] = { A64_MOV_W0(7), A64_RET };
    emit(d.rw, code, 2);
    __atomic_store_n(&flag0, 1, __ATOMIC_RELEASE);
    if (!grow) {
        while (!__atomic_load_n(&junk, __ATOMIC_RELAXED)) {
        }
    }
    maintain(&d, 0, sizeof(code), S_DC | S_DSB1 | S_IC | S_DSB2);
    __asm__ volatile("dmb ish" ::: "memory");   /* the scan's fence */
    if (grow) {
        while (!__atomic_load_n(&junk, __ATOMIC_RELAXED)) {
        }
    }
    int st = __atomic_load_n(&state, __ATOMIC_RELAXED);
    mops_set(&seen, 1, 1);
    __atomic_store_n(&ptr, d.rx, __ATOMIC_RELAXED);
    void *r;
    pthread_join(t, &r);
    return st == 0 && (intptr_t)r == 7 ? 0 : 1;
}
