/*
 * Atomic read-modify-writes of several threads on the same words must not
 * wait for each other inside the checker.
 *
 * The reads-from shadow makes a load that sees a value not yet in the
 * shadow wait for the stores other threads have in flight (marked before
 * their access, cleared after their callbacks).  An atomic's own load runs
 * while its own mark is set, so it must not wait for other atomics: two
 * of them, each having read the other's value, would wait for each other
 * for ever.  The checker told an atomic's load from a plain one by the
 * access's "store" flag, but qemu 10 reports an atomic read-modify-write
 * as two accesses, a read and then a write, and the read is never a
 * store: cmodx-demo on aarch64 (four callers taking a lock's bit with
 * LDSET) hung with every host core spinning in the plugin.  Now the kind
 * comes from the instruction.
 *
 * THREADS threads each run ROUNDS rounds of the LSE atomics (LDSET,
 * LDCLR, LDADD, SWP, CAS, CASP) on two shared words and a shared pair,
 * then the main thread checks the sums (qemu keeps them atomic).  The run
 * must finish and report nothing; the validation runner fails a run that
 * does not finish in its time limit.
 *
 * RUN: => clean
 */
#include "common.h"

#include <pthread.h>

#define THREADS 4
#define ROUNDS 20000

static uint32_t bits;      /* LDSET / LDCLR: one bit per thread */
static uint64_t counter;   /* LDADD, CAS loops */
static uint64_t swapped;   /* SWP */
static __attribute__((aligned(16))) uint64_t pair[2];   /* CASP */

/* OP old, [p] with v: the LSE atomic OP, returning the old value (W is
 * "w" for a 32-bit operand, empty for 64-bit). */
#define LSE_OP(name, type, insn, w)                                                      \
    static type name(type *p, type v)                                                  \
    {                                                                                  \
        type old;                                                                      \
        __asm__ volatile(".arch_extension lse\n\t" insn " %" w "2, %" w "0, [%1]"    \
                         : "=&r"(old) : "r"(p), "r"(v) : "memory");                    \
        return old;                                                                    \
    }
LSE_OP(ldset, uint32_t, "ldset", "w")
LSE_OP(ldclr, uint32_t, "ldclr", "w")
LSE_OP(ldadd, uint64_t, "ldadd", "")

static uint64_t swp(uint64_t *p, uint64_t v)
{
    uint64_t old;
    __asm__ volatile(".arch_extension lse\n\tswpal %2, %0, [%1]"
                     : "=&r"(old) : "r"(p), "r"(v) : "memory");
    return old;
}

static uint64_t cas(uint64_t *p, uint64_t expect, uint64_t v)
{
    __asm__ volatile(".arch_extension lse\n\tcasal %0, %2, [%1]"
                     : "+&r"(expect) : "r"(p), "r"(v) : "memory");
    return expect;
}

/* CASP on the pair: add 1 to both halves. */
static void casp_inc(uint64_t *p)
{
    for (;;) {
        register uint64_t x0 __asm__("x0") = __atomic_load_n(&p[0], __ATOMIC_RELAXED);
        register uint64_t x1 __asm__("x1") = __atomic_load_n(&p[1], __ATOMIC_RELAXED);
        uint64_t e0 = x0, e1 = x1;
        register uint64_t x2 __asm__("x2") = e0 + 1;
        register uint64_t x3 __asm__("x3") = e1 + 1;
        __asm__ volatile(".arch_extension lse\n\tcaspal x0, x1, x2, x3, [%4]"
                         : "+r"(x0), "+r"(x1) : "r"(x2), "r"(x3), "r"(p) : "memory");
        if (x0 == e0 && x1 == e1) {
            return;
        }
    }
}

static void *worker(void *arg)
{
    uint32_t bit = 1u << (unsigned)(uintptr_t)arg;
    for (unsigned r = 0; r < ROUNDS; r++) {
        if (ldset(&bits, bit) & bit) {
            return (void *)1;   /* only this thread sets or clears its bit */
        }
        (void)ldadd(&counter, 1);
        uint64_t c = __atomic_load_n(&counter, __ATOMIC_RELAXED);
        while (cas(&counter, c, c + 1) != c) {
            c = __atomic_load_n(&counter, __ATOMIC_RELAXED);
        }
        (void)swp(&swapped, r);
        if (r % 8 == 0) {
            casp_inc(pair);
        }
        if (!(ldclr(&bits, bit) & bit)) {
            return (void *)1;
        }
    }
    return NULL;
}

int main(void)
{
    pthread_t th[THREADS];
    for (unsigned i = 0; i < THREADS; i++) {
        if (pthread_create(&th[i], NULL, worker, (void *)(uintptr_t)i) != 0) {
            return 2;
        }
    }
    int bad = 0;
    for (unsigned i = 0; i < THREADS; i++) {
        void *res;
        pthread_join(th[i], &res);
        bad |= res != NULL;
    }
    uint64_t want = 2ull * THREADS * ROUNDS, want_pair = (uint64_t)THREADS * ((ROUNDS + 7) / 8);
    if (bad || counter != want || bits != 0 || pair[0] != want_pair || pair[1] != want_pair) {
        fprintf(stderr, "atomic_contention: counter %llu (want %llu), bits %#x, pair %llu/%llu\n",
                (unsigned long long)counter, (unsigned long long)want, bits,
                (unsigned long long)pair[0], (unsigned long long)pair[1]);
        return 1;
    }
    return 0;
}
