/*
 * A word the consumer has run, found settled and run again, then
 * rewritten.  Per round: the consumer runs its round's entry several
 * times (after the initial maintenance and its own ISB: clean); the writer
 * then rewrites the entry with the whole maintenance sequence (DC CVAU,
 * DSB, IC IVAU, DSB) and publishes the round with a release store; the
 * consumer acquires it and runs the entry again, with or without an ISB
 * of its own.  Without one, nothing orders the invalidate before its
 * fetch (ARM ARM B2.2.5, "Concurrent modification and execution of
 * instructions"): one no-context-sync per round, each at its own address.
 *
 * The checker keeps, per thread, the words whose fetch passed its check
 * with the store they held (model.c, model_settled_seen), so that a page
 * another thread keeps writing does not send every run to the model's
 * lock.  A cache keyed by the word alone would take the rewritten entry
 * for settled and lose every round's report.
 *
 * RUN: isb => clean
 * RUN: noisb => no-context-sync*200
 */
#include "common.h"

#include <pthread.h>
#include <string.h>

#define ROUNDS 200
#define ENTRY_WORDS 2
#define RUNS 8   /* runs of an entry before its rewrite: settled, then cached */

static const struct dual *code;
static unsigned ran;         /* rounds whose entry the consumer has run before the rewrite */
static unsigned published;   /* rounds whose rewrite the writer has published */
static int mode_isb;

static unsigned call(unsigned r)
{
    const uint32_t *entry = code->rx + (size_t)(r - 1) * ENTRY_WORDS;
    return (unsigned)((unsigned (*)(void))(uintptr_t)entry)();
}

static void *consumer(void *arg)
{
    (void)arg;
    isb();
    for (unsigned r = 1; r <= ROUNDS; r++) {
        for (unsigned k = 0; k < RUNS; k++) {
            if (call(r) != 0) {
                fprintf(stderr, "round %u: the old entry returned non-zero\n", r);
                exit(1);
            }
        }
        __atomic_store_n(&ran, r, __ATOMIC_RELEASE);
        while (__atomic_load_n(&published, __ATOMIC_ACQUIRE) != r) {
            /* spin: no system call, so no context synchronisation */
        }
        if (mode_isb) {
            isb();
        }
        unsigned got = call(r);
        if (got != 0 && got != 1) {
            fprintf(stderr, "round %u: entry returned %u\n", r, got);
            exit(1);
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2 || (strcmp(argv[1], "isb") != 0 && strcmp(argv[1], "noisb") != 0)) {
        fprintf(stderr, "usage: settled_rewrite isb|noisb\n");
        return 2;
    }
    mode_isb = strcmp(argv[1], "isb") == 0;
    struct dual d = dual_map((size_t)ROUNDS * ENTRY_WORDS * 4 + 4096);
    code = &d;
    /* Every entry "mov w0, #0; ret", maintained before the consumer starts. */
    for (unsigned r = 0; r < ROUNDS; r++) {
        const uint32_t entry[] = { A64_MOV_W0(0), A64_RET };
        emit(d.rw + (size_t)r * ENTRY_WORDS, entry, ENTRY_WORDS);
    }
    maintain(&d, 0, (size_t)ROUNDS * ENTRY_WORDS * 4, S_ALL);
    pthread_t c;
    if (pthread_create(&c, NULL, consumer, NULL) != 0) {
        return 2;
    }
    for (unsigned r = 1; r <= ROUNDS; r++) {
        while (__atomic_load_n(&ran, __ATOMIC_ACQUIRE) != r) {
            /* spin: the consumer runs the old entry */
        }
        const uint32_t mov1 = A64_MOV_W0(1);
        size_t off = (size_t)(r - 1) * ENTRY_WORDS;
        emit(d.rw + off, &mov1, 1);
        maintain(&d, off * 4, 4, S_DC | S_DSB1 | S_IC | S_DSB2);
        __atomic_store_n(&published, r, __ATOMIC_RELEASE);
    }
    return pthread_join(c, NULL) != 0 ? 2 : 0;
}
