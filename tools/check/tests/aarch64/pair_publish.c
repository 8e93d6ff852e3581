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
 *   st1 ST1 {V0.2D, V1.2D}: a store of several registers, whose accesses
 *       the checker does not count (no record: always waited for)
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
 * argv[3] "end": the store is the last instruction of its translation
 * block (the last word of a page: qemu ends a block there).  Such a store
 * clears its own mark of a store in flight in its callback, there being
 * no next instruction in the block to clear it; a pair or an ST1 cleared
 * it at its first access's callback, so the consumer could read the
 * second access's bytes with no store in flight, take them as written
 * without a store and be reported for the ISB it executed (found by the
 * hostile review: two to four runs in eight).
 *
 * RUN: x isb => clean
 * RUN: d isb => clean
 * RUN: q isb => clean
 * RUN: st1 isb => clean
 * RUN: q noisb => no-context-sync
 * RUN: x isb end => clean
 * RUN: d isb end => clean
 * RUN: q isb end => clean
 * RUN: st1 isb end => clean
 * RUN: d noisb end => no-context-sync
 */
#include "common.h"

#include <pthread.h>

#define ROUNDS 1000
#define BLOCK_WORDS 2

static uint64_t pair[4] __attribute__((aligned(16)));   /* the address: pair[1] or pair[2] */
static unsigned done;
static int kind;   /* 0 x, 1 d, 2 q, 3 st1 */
static int no_isb, at_end;

static const void *volatile *flag_word(void)
{
    return (const void *volatile *)&pair[kind >= 2 ? 2 : 1];
}

/*
 * The same stores as publish() below, each the last word of a page:
 * PUB_END(x0 = the address, x1 = pair), "DMB ISH; store; RET" with the
 * RET on the next page.
 */
void pub_end_x(uint64_t p, uint64_t *to);
void pub_end_d(uint64_t p, uint64_t *to);
void pub_end_q(uint64_t p, uint64_t *to);
void pub_end_st1(uint64_t p, uint64_t *to);
#define PUB_END(name, store)                                                         \
    ".balign 4096\n.skip 4096 - 16\n.global " name "\n.type " name ", %function\n" \
    name ":\n"                                                                      \
    "  movi v0.16b, #0\n"                                                          \
    "  fmov d1, x0\n"                                                              \
    "  dmb ish\n"                                                                  \
    "  " store "\n"                                                                \
    "  ret\n"
__asm__(".text\n"
        PUB_END("pub_end_x", "stp xzr, x0, [x1]")
        PUB_END("pub_end_d", "stp d0, d1, [x1]")
        PUB_END("pub_end_q", "stp q0, q1, [x1]")
        PUB_END("pub_end_st1", "st1 {v0.2d, v1.2d}, [x1]"));

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
    if (at_end) {
        static void (*const end_fn[])(uint64_t, uint64_t *) = { pub_end_x, pub_end_d, pub_end_q,
                                                                pub_end_st1 };
        end_fn[kind](b, pair);
    } else if (kind == 0) {
        __asm__ volatile("dmb ish\n\tstp %0, %1, [%2]" ::"r"(a), "r"(b), "r"(pair) : "memory");
    } else if (kind == 1) {
        __asm__ volatile("fmov d0, %0\n\tfmov d1, %1\n\tdmb ish\n\tstp d0, d1, [%2]"
                         ::"r"(a), "r"(b), "r"(pair) : "v0", "v1", "memory");
    } else if (kind == 2) {
        __asm__ volatile("movi v0.16b, #0\n\tfmov d1, %0\n\tdmb ish\n\tstp q0, q1, [%1]"
                         ::"r"(b), "r"(pair) : "v0", "v1", "memory");
    } else {
        __asm__ volatile("movi v0.16b, #0\n\tfmov d1, %0\n\tdmb ish\n\tst1 {v0.2d, v1.2d}, [%1]"
                         ::"r"(b), "r"(pair) : "v0", "v1", "memory");
    }
}

int main(int argc, char **argv)
{
    static const char *const kinds[] = { "x", "d", "q", "st1" };
    kind = -1;
    for (int k = 0; argc > 1 && k < 4; k++) {
        if (strcmp(argv[1], kinds[k]) == 0) {
            kind = k;
        }
    }
    at_end = argc > 3 && strcmp(argv[3], "end") == 0;
    if (kind < 0 || argc < 3 || (strcmp(argv[2], "isb") && strcmp(argv[2], "noisb")) ||
        (argc > 3 && !at_end) || argc > 4) {
        fprintf(stderr, "usage: pair_publish x|d|q|st1 isb|noisb [end]\n");
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
