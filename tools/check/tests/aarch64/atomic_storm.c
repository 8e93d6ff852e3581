/*
 * Code published through a word that many threads hit with atomic
 * read-modify-writes at once.
 *
 * One thread writes a function per round into a fresh slot of a dual
 * mapping, cleans and invalidates it (DC CVAU, DSB ISH, IC IVAU, DSB ISH)
 * and publishes the round with LDADDAL on a shared counter (its high
 * half counts rounds).  THREADS other threads add to the same counter
 * with LDADDAL until each has made ROUNDS calls: whenever the value one
 * reads counts a round, it executes an ISB and calls that round's
 * function.  Each
 * caller's acquire reads either the writer's add or another caller's,
 * whose own add (release) passes on what it had acquired: the calls are
 * all ordered after the maintenance, and nothing is to be reported.
 *
 * With more threads than cores nearly every add reads a value whose
 * writer's callback has not run yet, so the checker's loads wait for the
 * stores in flight that wrote what they read.  Two faults of the checker
 * lost reads-from edges on this chain, each shown as a false
 * no-context-sync on a call here (docs/CHECKER.md, "Atomics on one word
 * from many threads"): waits that chained until a rule against cycles
 * gave one up (9 of 10 runs of 4 threads and 3000 calls had reports),
 * and, the cause of those chains, qemu 10 giving an LDADD's write callback
 * its operand instead of the value written (1 run in 5 to 10 still had
 * reports after the first fix).  Since the second, 0 in 34 runs of 4, 6
 * and 12 callers, on the 2-core machine, idle and at a load of 3.
 *
 * Arguments: THREADS (callers, 1 to 64, default 12), ROUNDS (calls each,
 * default 1500), then any of "noisb", for a broken twin whose callers
 * execute no ISB before the call (reported), and "aba", where each caller
 * takes its add back with a second LDADDAL of -1 (the low half goes 0, 1,
 * 0: values written by many atomics; a correct program still).  Exit
 * status 0 when every call returned its round and the counter adds up.
 *
 * "aba" is the reproducer of an open finding, not a RUN line: the checker
 * reports calls there in about a third of the runs of 8 callers and 500
 * rounds (docs/CHECKER.md, "Atomics on one word from many threads",
 * values that repeat; found by the hostile review of the fix above).
 *
 * RUN: 4 1000 => clean
 * RUN: 8 400 => clean
 * RUN: 4 300 noisb => no-context-sync
 */
#include "common.h"

#include <pthread.h>
#include <string.h>

#define SLOTS 500   /* one 8-byte function per round, each written once */

static uint64_t counter;   /* high half: rounds published; low half: callers' adds */
static struct dual d;
static int rounds;
static unsigned long bad;
static uint64_t adds;   /* the callers' adds, counted apart */
static int no_isb, aba;

static uint64_t ldaddal(uint64_t *p, uint64_t v)
{
    uint64_t old;
    __asm__ volatile(".arch_extension lse\n\tldaddal %2, %0, [%1]"
                     : "=&r"(old) : "r"(p), "r"(v) : "memory");
    return old;
}

static void *writer(void *arg)
{
    (void)arg;
    uint32_t *w = d.rw;
    for (uint32_t r = 0; r < SLOTS; r++) {
        w[2 * r] = A64_MOV_W0(r);
        w[2 * r + 1] = A64_RET;
        maintain(&d, 8 * r, 8, S_DC | S_DSB1 | S_IC | S_DSB2);
        ldaddal(&counter, 1ull << 32);
        if (r % 8 == 0) {
            sched_yield();   /* let the callers' adds pile up */
        }
    }
    return NULL;
}

static void *caller(void *arg)
{
    (void)arg;
    unsigned long wrong = 0;
    for (int calls = 0; calls < rounds;) {
        uint64_t old = ldaddal(&counter, 1);
        uint32_t published = (uint32_t)(old >> 32);
        if (aba) {
            uint32_t again = (uint32_t)(ldaddal(&counter, (uint64_t)-1) >> 32);
            published = again > published ? again : published;
        } else {
            __atomic_fetch_add(&adds, 1, __ATOMIC_RELAXED);
        }
        if (published) {
            if (!no_isb) {
                isb();
            }
            uint32_t r = published - 1;
            if (as_fn((const char *)d.rx + 8 * r)() != (int)r) {
                wrong++;
            }
            calls++;
        }
    }
    __atomic_fetch_add(&bad, wrong, __ATOMIC_RELAXED);
    return NULL;
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 12;
    rounds = argc > 2 ? atoi(argv[2]) : 1500;
    for (int k = 3; k < argc; k++) {
        no_isb |= !strcmp(argv[k], "noisb");
        aba |= !strcmp(argv[k], "aba");
    }
    if (threads < 1 || threads > 64 || rounds < 1) {
        fprintf(stderr, "usage: %s [THREADS 1..64] [ROUNDS] [noisb] [aba]\n", argv[0]);
        return 2;
    }
    d = dual_map(4096);
    pthread_t t[65];
    for (int k = 0; k < threads; k++) {
        pthread_create(&t[k], NULL, caller, NULL);
    }
    pthread_create(&t[threads], NULL, writer, NULL);
    for (int k = 0; k <= threads; k++) {
        pthread_join(t[k], NULL);
    }
    uint64_t want = ((uint64_t)SLOTS << 32) + adds;
    printf("counter %#llx (want %#llx), wrong results %lu\n", (unsigned long long)counter,
           (unsigned long long)want, bad);
    return counter == want && bad == 0 ? 0 : 1;
}
