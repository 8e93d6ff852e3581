/*
 * From-reads through one 8-byte granule of the shadow of memory.  The
 * writer (main) completes the maintenance of a fresh block (DC CVAU, DSB,
 * IC IVAU, DSB), then reads field a of struct { int a, b; } X, and with
 * "clear" stores field a again.  The reader has only told the writer it
 * started (an edge from reader to writer), waits half a second by the
 * virtual counter (no system call, no shared variable), then stores one
 * field of X, executes DSB and ISB, and calls the block.
 *
 * Stored b: a and b are different locations, nothing orders the writer's
 * maintenance before the reader's fetch, and herd7's aarch64-ifetch
 * allows the stale fetch.  The checker's from-reads notes are per
 * granule: the note of the writer's load of a was once kept for every
 * later store of the granule, so that the reader's store of b took it
 * after the writer's own store of a and the hazard went unreported.
 *
 * Stored a (without the writer's store): the reader's store replaces the
 * value the writer's load read (fr), its DSB orders the writer's
 * maintenance before its ISB: clean.
 *
 * argv[1]: clear | keep (the writer stores a after its load, or not)
 * argv[2]: b | a (the field the reader stores)
 *
 * RUN: clear b => no-context-sync
 * RUN: keep a => clean
 */
#include "common.h"

#include <pthread.h>

static struct dual d;
static struct {
    int a, b;
} X __attribute__((aligned(64)));
static int reader_stores_a;
static int started __attribute__((aligned(64)));   /* reader -> writer only */

static uint64_t counter(void)
{
    uint64_t v;
    __asm__ volatile("isb; mrs %0, cntvct_el0" : "=r"(v)::"memory");
    return v;
}

static uint64_t counter_hz(void)
{
    uint64_t v;
    __asm__ volatile("mrs %0, cntfrq_el0" : "=r"(v));
    return v;
}

static void *reader(void *arg)
{
    (void)arg;
    __atomic_store_n(&started, 1, __ATOMIC_RELAXED);
    uint64_t end = counter() + counter_hz() / 2;
    while (counter() < end) {
        /* by time only */
    }
    __atomic_store_n(reader_stores_a ? &X.a : &X.b, 3, __ATOMIC_RELAXED);
    dsb_ish();
    isb();
    return (void *)(intptr_t)as_fn(d.rx)();
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: fr_granule clear|keep a|b\n");
        return 2;
    }
    int clear = strcmp(argv[1], "clear") == 0;
    reader_stores_a = strcmp(argv[2], "a") == 0;
    d = dual_map(4096);
    X.a = 1;
    pthread_t t;
    if (pthread_create(&t, NULL, reader, NULL) != 0) {
        return 2;
    }
    while (!__atomic_load_n(&started, __ATOMIC_RELAXED)) {
        /* no system call from here on */
    }
    const uint32_t code[] = { A64_MOV_W0(7), A64_RET };
    emit(d.rw, code, 2);
    maintain(&d, 0, sizeof(code), S_DC | S_DSB1 | S_IC | S_DSB2);
    int seen = __atomic_load_n(&X.a, __ATOMIC_RELAXED);
    if (clear) {
        __atomic_store_n(&X.a, 2, __ATOMIC_RELAXED);
    }
    void *r;
    if (pthread_join(t, &r) != 0) {
        return 2;
    }
    return seen >= 1 && (intptr_t)r == 7 ? 0 : 1;
}
