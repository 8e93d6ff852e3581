/*
 * A fetch through the execute view of an instruction whose store, through
 * the write view, is still in flight.  The writer rewrites one word of a
 * dual-mapped memfd per round through the read-write view, with no cache
 * maintenance at all; the consumer polls that word through the
 * read-execute view with a load, executes an ISB and runs it.  Every
 * round runs an instruction that was never cleaned to the Point of
 * Unification nor invalidated: one not-cleaned report per round, each at
 * its own address, so the run must count exactly ROUNDS of them (1000).
 *
 * The consumer's fetch may come while the writer is between its store's
 * memory access and the store's callback (the helper threads keep both
 * cores busy, so that the writer is preempted there now and then).  The
 * fetch then finds bytes the model has not seen stored and waits for the
 * stores in flight.  A store in flight records the virtual range it
 * writes (plugin.c, flight_record), and a load stops waiting for a store
 * recorded elsewhere; the fetch must not, because the record names the
 * write view's addresses and the fetch the execute view's, the same
 * bytes.  A fetch that stopped waiting took the bytes as written without
 * a store and missed that round's report.
 *
 * RUN: => not-cleaned*1000
 */
#include "common.h"

#include <pthread.h>

#define ROUNDS 1000
#define ENTRY_WORDS 2
#define HELPERS 2

static unsigned done;   /* rounds the consumer has run */
static const struct dual *code;

static void *consumer(void *arg)
{
    (void)arg;
    for (unsigned r = 1; r <= ROUNDS; r++) {
        const uint32_t *entry = code->rx + (size_t)(r - 1) * ENTRY_WORDS;
        while (__atomic_load_n(entry, __ATOMIC_RELAXED) != A64_MOV_W0(1)) {
            /* spin: the writer's store reaches the execute view */
        }
        isb();
        unsigned got = (unsigned)((unsigned (*)(void))(uintptr_t)entry)();
        if (got != 0 && got != 1) {
            fprintf(stderr, "round %u: entry returned %u\n", r, got);
            exit(1);
        }
        __atomic_store_n(&done, r, __ATOMIC_RELEASE);
    }
    return NULL;
}

/* Private stores and barriers until the consumer is done: stores in
 * flight elsewhere, and the checker's model lock taken at every DSB, which
 * the writer's store callback also takes (so that it comes late). */
static void *helper(void *arg)
{
    volatile uint64_t *own = arg;
    while (__atomic_load_n(&done, __ATOMIC_ACQUIRE) != ROUNDS) {
        for (unsigned i = 0; i < 64; i++) {
            own[i % 8] = own[i % 8] + i;
            dsb_ish();
        }
    }
    return NULL;
}

int main(void)
{
    static uint64_t helper_mem[HELPERS][16] __attribute__((aligned(64)));
    struct dual d = dual_map((size_t)ROUNDS * ENTRY_WORDS * 4 + 4096);
    code = &d;
    /* Every entry "mov w0, #0; ret", maintained, never run before its
     * round (so no translation of the old bytes exists). */
    for (unsigned r = 0; r < ROUNDS; r++) {
        const uint32_t entry[] = { A64_MOV_W0(0), A64_RET };
        emit(d.rw + (size_t)r * ENTRY_WORDS, entry, ENTRY_WORDS);
    }
    maintain(&d, 0, (size_t)ROUNDS * ENTRY_WORDS * 4, S_ALL);
    pthread_t c, h[HELPERS];
    for (unsigned i = 0; i < HELPERS; i++) {
        if (pthread_create(&h[i], NULL, helper, helper_mem[i]) != 0) {
            return 2;
        }
    }
    if (pthread_create(&c, NULL, consumer, NULL) != 0) {
        return 2;
    }
    for (unsigned r = 1; r <= ROUNDS; r++) {
        const uint32_t mov1 = A64_MOV_W0(1);
        emit(d.rw + (size_t)(r - 1) * ENTRY_WORDS, &mov1, 1);   /* no maintenance */
        while (__atomic_load_n(&done, __ATOMIC_ACQUIRE) != r) {
            /* spin: the consumer runs the round */
        }
    }
    int bad = pthread_join(c, NULL) != 0;
    for (unsigned i = 0; i < HELPERS; i++) {
        bad |= pthread_join(h[i], NULL) != 0;
    }
    return bad ? 2 : 0;
}
