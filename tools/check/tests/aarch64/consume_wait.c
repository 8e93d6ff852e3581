/*
 * A consumer that takes the published pointer by writing the flag itself:
 * the writer publishes each round's freshly written block (DC CVAU, DSB,
 * IC IVAU, DSB on the write alias) with a store-release of its address;
 * the consumer spins until it takes a non-null address, executes an ISB
 * and calls the block.  How it takes it (argv[1]):
 *
 *   swp       SWPA of zero: the address read, the flag cleared at once
 *   cas       a plain load, then CASA of the address to zero
 *   ldxr      LDAXR, then STXR of zero (retried when it fails)
 *   ldar-str  LDAR, then a plain store of zero once the address is seen
 *   ldadd     LDADDA of zero (the flag rewritten with what it holds)
 *
 * Every one of them stores to the flag while the writer stores to it, so
 * the two threads' stores to one granule reach the checker's callbacks in
 * either order: the consumer's store of zero from the previous spin can
 * have its callback after the writer's store of the address has been
 * published.  The checker took the consumer's late entry for the flag's
 * and lost the writer's: a false no-context-sync in every run of a
 * correct program (the swp case; found by a newcomer's own JIT).
 *
 * argv[2]: isb (correct), noisb (the consumer runs no ISB: reported).
 * argv[3], how the writer publishes: stlr (the default), swpl, casl (of
 * null to the address: the consumer has cleared the flag), stlxr.
 *
 * RUN: swp isb => clean
 * RUN: cas isb => clean
 * RUN: ldxr isb => clean
 * RUN: ldar-str isb => clean
 * RUN: ldadd isb => clean
 * RUN: swp isb swpl => clean
 * RUN: cas isb casl => clean
 * RUN: ldxr isb stlxr => clean
 * RUN: ldadd isb swpl => clean
 * RUN: swp noisb => no-context-sync
 * RUN: ldxr noisb => no-context-sync
 */
#include "common.h"

#include <pthread.h>

#define ROUNDS 200
#define BLOCK_WORDS 2

static const void *flag;   /* the published block, or null */
static unsigned done;      /* rounds the consumer ran */
static int kind;
static int no_isb;

static const void *take_swp(void)
{
    const void *old;
    __asm__ volatile(".arch_extension lse\n\tswpa xzr, %0, [%1]"
                     : "=&r"(old) : "r"(&flag) : "memory");
    return old;
}

static const void *take_cas(void)
{
    const void *p = __atomic_load_n(&flag, __ATOMIC_RELAXED);
    if (!p) {
        return NULL;
    }
    const void *old = p;
    __asm__ volatile(".arch_extension lse\n\tcasa %0, xzr, [%1]"
                     : "+r"(old) : "r"(&flag) : "memory");
    return old == p ? p : NULL;
}

static const void *take_ldxr(void)
{
    const void *old;
    unsigned failed;
    do {
        __asm__ volatile("ldaxr %0, [%2]\n\tstxr %w1, xzr, [%2]"
                         : "=&r"(old), "=&r"(failed) : "r"(&flag) : "memory");
    } while (failed);
    return old;
}

static const void *take_ldar_str(void)
{
    const void *p = __atomic_load_n(&flag, __ATOMIC_ACQUIRE);
    if (p) {
        __atomic_store_n(&flag, NULL, __ATOMIC_RELAXED);
    }
    return p;
}

static const void *take_ldadd(void)
{
    const void *old;
    __asm__ volatile(".arch_extension lse\n\tldadda xzr, %0, [%1]"
                     : "=&r"(old) : "r"(&flag) : "memory");
    if (old) {
        __atomic_store_n(&flag, NULL, __ATOMIC_RELAXED);
    }
    return old;
}

static void *consumer(void *arg)
{
    (void)arg;
    for (unsigned r = 1; r <= ROUNDS; r++) {
        const void *p;
        do {
            p = kind == 0   ? take_swp()
                : kind == 1 ? take_cas()
                : kind == 2 ? take_ldxr()
                : kind == 3 ? take_ldar_str()
                            : take_ldadd();
        } while (!p);
        if (!no_isb) {
            isb();
        }
        if ((unsigned)as_fn(p)() != r) {
            fprintf(stderr, "round %u ran old code\n", r);
            exit(1);
        }
        __atomic_store_n(&done, r, __ATOMIC_RELEASE);
    }
    return NULL;
}

/* The writer's store-release of the address, by argv[3]'s instruction. */
static void publish(const char *how, const void *p)
{
    if (strcmp(how, "swpl") == 0) {
        const void *old;
        __asm__ volatile(".arch_extension lse\n\tswpl %1, %0, [%2]"
                         : "=&r"(old) : "r"(p), "r"(&flag) : "memory");
    } else if (strcmp(how, "casl") == 0) {
        const void *old;
        do {
            old = NULL;
            __asm__ volatile(".arch_extension lse\n\tcasl %0, %1, [%2]"
                             : "+r"(old) : "r"(p), "r"(&flag) : "memory");
        } while (old != NULL);   /* the consumer has not cleared it yet */
    } else if (strcmp(how, "stlxr") == 0) {
        const void *old;
        unsigned failed;
        do {
            __asm__ volatile("ldxr %0, [%3]\n\tstlxr %w1, %2, [%3]"
                             : "=&r"(old), "=&r"(failed) : "r"(p), "r"(&flag) : "memory");
        } while (failed);
    } else {
        __atomic_store_n(&flag, p, __ATOMIC_RELEASE);
    }
}

int main(int argc, char **argv)
{
    static const char *const kinds[] = { "swp", "cas", "ldxr", "ldar-str", "ldadd" };
    kind = -1;
    for (int k = 0; argc > 1 && k < 5; k++) {
        if (strcmp(argv[1], kinds[k]) == 0) {
            kind = k;
        }
    }
    const char *how = argc > 3 ? argv[3] : "stlr";
    if (kind < 0 || argc < 3 || (strcmp(argv[2], "isb") && strcmp(argv[2], "noisb")) ||
        (strcmp(how, "stlr") && strcmp(how, "swpl") && strcmp(how, "casl") &&
         strcmp(how, "stlxr"))) {
        fprintf(stderr, "usage: consume_wait swp|cas|ldxr|ldar-str|ldadd isb|noisb "
                        "[stlr|swpl|casl|stlxr]\n");
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
        publish(how, (const char *)d.rx + off);
        while (__atomic_load_n(&done, __ATOMIC_ACQUIRE) != r) {
            /* spin: the consumer answers */
        }
    }
    return pthread_join(t, NULL) != 0 ? 2 : 0;
}
