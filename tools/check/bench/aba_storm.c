/*
 * atomic_storm.c with values that repeat (ABA): each caller adds 1 to the
 * counter (LDADDAL: acquire, reads the rounds published) and then takes
 * it back with a second LDADDAL of -1, so the low half goes 0,1,0,1,...
 * and the same value is written by many atomics.  One writer publishes a
 * function per round (DC CVAU, DSB, IC IVAU, DSB, then LDADDAL 1<<32).
 * A caller that reads round r executes ISB and calls round r's function.
 * Correct program: nothing should be reported.
 * Args: THREADS ROUNDS [noisb] [swp]
 *
 * A reproducer of an open finding (docs/CHECKER.md, "Atomics on one word
 * from many threads": values that repeat), not a validation program: the
 * checker reports calls here in about a third of the runs of 8 callers
 * and 500 rounds.
 *
 *   aarch64-linux-gnu-gcc -O2 -pthread -o aba_storm tools/check/bench/aba_storm.c
 *   tools/check/cmodx-check -L /usr/aarch64-linux-gnu ./aba_storm 8 500
 */
#include "../tests/aarch64/common.h"
#include <pthread.h>
#include <string.h>

#define SLOTS 500

static uint64_t counter;
static struct dual d;
static int rounds;
static unsigned long bad;
static int no_isb;

static uint64_t ldaddal(uint64_t *p, uint64_t v)
{
    uint64_t old;
    __asm__ volatile(".arch_extension lse\n\tldaddal %2, %0, [%1]" : "=&r"(old) : "r"(p), "r"(v) : "memory");
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
        if (r % 8 == 0) sched_yield();
    }
    return NULL;
}

static void *caller(void *arg)
{
    (void)arg;
    unsigned long wrong = 0;
    for (int calls = 0; calls < rounds;) {
        uint64_t old = ldaddal(&counter, 1);
        uint64_t old2 = ldaddal(&counter, (uint64_t)-1);
        uint32_t published = (uint32_t)(old >> 32);
        uint32_t p2 = (uint32_t)(old2 >> 32);
        if (p2 > published) published = p2;
        if (published) {
            if (!no_isb) isb();
            uint32_t r = published - 1;
            if (as_fn((const char *)d.rx + 8 * r)() != (int)r) wrong++;
            calls++;
        }
    }
    __atomic_fetch_add(&bad, wrong, __ATOMIC_RELAXED);
    return NULL;
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 8;
    rounds = argc > 2 ? atoi(argv[2]) : 1000;
    no_isb = argc > 3 && !strcmp(argv[3], "noisb");
    d = dual_map(4096);
    pthread_t t[65];
    for (int k = 0; k < threads; k++) pthread_create(&t[k], NULL, caller, NULL);
    pthread_create(&t[threads], NULL, writer, NULL);
    for (int k = 0; k <= threads; k++) pthread_join(t[k], NULL);
    printf("counter %#llx (want %#llx), wrong %lu\n", (unsigned long long)counter,
           (unsigned long long)SLOTS << 32, bad);
    return counter == (uint64_t)SLOTS << 32 && bad == 0 ? 0 : 1;
}
