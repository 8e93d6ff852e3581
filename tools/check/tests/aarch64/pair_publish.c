/*
 * Code published by the second register of a pair store.  The writer
 * writes each round's block, maintains it (DC CVAU, DSB, IC IVAU, DSB on
 * the write alias), executes DMB ISH and stores a pair whose second
 * register holds the block's address; the consumer spins on an LDAR of
 * that second half, executes an ISB and calls the block.  How the pair is
 * stored (argv[1]):
 *
 *   x   STP of two X registers: one access of 16 bytes under qemu
 *   d   STP of two D registers: two accesses of 8 bytes
 *   q   STP of two Q registers: two accesses of 16 bytes, the address in
 *       the low half of the second
 *
 * A load that reads a value whose store's callback has not yet run waits
 * for the stores in flight, except those whose first callback recorded
 * that they write elsewhere (plugin.c, flight_record).  A SIMD&FP pair's
 * first callback comes before its second access, so its record must
 * cover both: one that named the first access only let the consumer stop
 * waiting for the store it read, lose its reads-from edge and be reported
 * for the ISB it executed.
 *
 * argv[2]: isb (correct), noisb (the consumer runs no ISB: reported).
 *
 * RUN: x isb => clean
 * RUN: d isb => clean
 * RUN: q isb => clean
 * RUN: q noisb => no-context-sync
 */
#include "common.h"

#include <pthread.h>

#define ROUNDS 1000
#define BLOCK_WORDS 2

static uint64_t pair[4] __attribute__((aligned(16)));   /* the address: pair[1] or pair[2] */
static unsigned done;
static int kind;   /* 0 x, 1 d, 2 q */
static int no_isb;

static const void *volatile *flag_word(void)
{
    return (const void *volatile *)&pair[kind == 2 ? 2 : 1];
}

static void *consumer(void *arg)
{
    (void)arg;
    const void *volatile *f = flag_word();
    for (unsigned r = 1; r <= ROUNDS; r++) {
        const void *p;
        while (!(p = __atomic_load_n((const void **)f, __ATOMIC_ACQUIRE))) {
            /* spin */
        }
        if (!no_isb) {
            isb();
        }
        if ((unsigned)as_fn(p)() != r) {
            fprintf(stderr, "round %u ran old code\n", r);
            exit(1);
        }
        __atomic_store_n((const void **)f, NULL, __ATOMIC_RELAXED);
        __atomic_store_n(&done, r, __ATOMIC_RELEASE);
    }
    return NULL;
}

/* DMB ISH, then the pair store with p in its second register. */
static void publish(const void *p)
{
    uint64_t a = 0, b = (uint64_t)(uintptr_t)p;
    if (kind == 0) {
        __asm__ volatile("dmb ish\n\tstp %0, %1, [%2]" ::"r"(a), "r"(b), "r"(pair) : "memory");
    } else if (kind == 1) {
        __asm__ volatile("fmov d0, %0\n\tfmov d1, %1\n\tdmb ish\n\tstp d0, d1, [%2]"
                         ::"r"(a), "r"(b), "r"(pair) : "v0", "v1", "memory");
    } else {
        __asm__ volatile("movi v0.16b, #0\n\tfmov d1, %0\n\tdmb ish\n\tstp q0, q1, [%1]"
                         ::"r"(b), "r"(pair) : "v0", "v1", "memory");
    }
}

int main(int argc, char **argv)
{
    static const char *const kinds[] = { "x", "d", "q" };
    kind = -1;
    for (int k = 0; argc > 1 && k < 3; k++) {
        if (strcmp(argv[1], kinds[k]) == 0) {
            kind = k;
        }
    }
    if (kind < 0 || argc < 3 || (strcmp(argv[2], "isb") && strcmp(argv[2], "noisb"))) {
        fprintf(stderr, "usage: pair_publish x|d|q isb|noisb\n");
        return 2;
    }
    no_isb = strcmp(argv[2], "noisb") == 0;
    struct dual d = dual_map((size_t)ROUNDS * BLOCK_WORDS * 4 + 4096);
    pthread_t t;
    if (pthread_create(&t, NULL, consumer, NULL) != 0) {
        return 2;
    }
    for (unsigned r = 1; r <= ROUNDS; r++) {
        const uint32_t code[] = { A64_MOV_W0(r), A64_RET };
        size_t off = (size_t)(r - 1) * BLOCK_WORDS * 4;
        emit(d.rw + off / 4, code, 2);
        maintain(&d, off, sizeof(code), S_DC | S_DSB1 | S_IC | S_DSB2);
        publish((const char *)d.rx + off);
        while (__atomic_load_n(&done, __ATOMIC_ACQUIRE) != r) {
            /* spin: the consumer answers */
        }
    }
    return pthread_join(t, NULL) != 0 ? 2 : 0;
}
