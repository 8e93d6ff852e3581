/*
 * Threads numbered past the checker's per-thread records.  qemu-user
 * numbers a new thread one past the highest live one, so after a chain
 * of 1100 threads (each created while the previous one still runs) the
 * next threads have indexes past 1100 with only a few alive.  The checker
 * keeps 1024 records; threads past the last once all shared it, so that
 * one thread's ISB counted for another and one's start wiped what another
 * knew (verdicts wrong both ways).  Now a high index is given a record no
 * live thread holds.
 *
 * After the chain, two callers A and B run at once.  The main thread
 * publishes ROUNDS freshly written blocks (DC CVAU, DSB, IC IVAU, DSB on
 * the write alias, then a store-release of the address); each caller
 * loads it with load-acquire and calls it once per round.
 *
 * argv[1]: isb (both callers execute an ISB after the load: correct),
 *          b-noisb (B does not: only B's fetches are reported; with the
 *          shared record about half of them were missed),
 *          start-between (B alone calls, correctly; in every round, after
 *          B's load and ISB and before its call, the main thread creates
 *          and joins a thread: a record's reuse must leave B's alone),
 *          isb-elsewhere (in every round B loads, then A loads and
 *          executes an ISB, then B calls with no ISB of its own: every
 *          call of B is reported; with the shared record A's ISB counted
 *          for B and none was).
 * argv[2]: the chain's length (default 1100; 0: no chain, low indexes).
 *
 * RUN: isb => clean
 * RUN: b-noisb => no-context-sync
 * RUN: b-noisb 0 => no-context-sync
 * RUN: start-between => clean
 * RUN: isb-elsewhere => no-context-sync
 * RUN: isb-elsewhere 0 => no-context-sync
 */
#include "common.h"

#define ROUNDS 50
#define BLOCK_WORDS 2

static struct dual d;
static const void *current;   /* the published block */
static unsigned round_no;     /* its round, published with it */
static unsigned answered;     /* calls made, both callers */
static int b_noisb;
static unsigned b_ready, b_go;   /* start-between: B has loaded; B may call */

struct caller {
    int isb;
    int late;       /* start-between's and isb-elsewhere's B: after its load
                     * (and ISB), it calls only when the main thread or A
                     * lets it */
    unsigned bad;   /* calls that returned another round's value */
};

static void *nothing(void *arg)
{
    return arg;
}

/* isb-elsewhere's A: after B's load, load and synchronise, then let B
 * call. */
static void *isb_elsewhere(void *arg)
{
    (void)arg;
    for (unsigned r = 1; r <= ROUNDS; r++) {
        while (__atomic_load_n(&b_ready, __ATOMIC_ACQUIRE) != r) {
            /* spin: B loads */
        }
        (void)__atomic_load_n(&current, __ATOMIC_ACQUIRE);
        isb();
        __atomic_store_n(&b_go, r, __ATOMIC_RELEASE);
    }
    return NULL;
}

static void *caller(void *arg)
{
    struct caller *c = arg;
    for (unsigned r = 1; r <= ROUNDS; r++) {
        while (__atomic_load_n(&round_no, __ATOMIC_ACQUIRE) != r) {
            /* spin: the main thread publishes */
        }
        const void *p = __atomic_load_n(&current, __ATOMIC_ACQUIRE);
        if (c->isb) {
            isb();
        }
        if (c->late) {
            __atomic_store_n(&b_ready, r, __ATOMIC_RELEASE);
            while (__atomic_load_n(&b_go, __ATOMIC_ACQUIRE) != r) {
                /* spin: the main thread starts and joins a thread, or A */
            }
        }
        if ((unsigned)as_fn(p)() != r) {
            c->bad++;
        }
        /* Late, B answers for both (A makes no call). */
        __atomic_add_fetch(&answered, c->late ? 2 : 1, __ATOMIC_RELEASE);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "isb";
    unsigned n = argc > 2 ? (unsigned)atoi(argv[2]) : 1100;
    int between = strcmp(mode, "start-between") == 0;
    int elsewhere = strcmp(mode, "isb-elsewhere") == 0;
    if (strcmp(mode, "isb") && strcmp(mode, "b-noisb") && !between && !elsewhere) {
        fprintf(stderr, "usage: high_index isb|b-noisb|start-between|isb-elsewhere [chain]\n");
        return 2;
    }
    b_noisb = strcmp(mode, "b-noisb") == 0 || elsewhere;
    d = dual_map((size_t)ROUNDS * BLOCK_WORDS * 4 + 4096);
    pthread_t last = 0, ta, tb;
    int *rel = NULL;
    if (n) {
        thread_chain(n, &last, &rel);   /* the callers come after it */
    }
    struct caller a = { 1, 0, 0 }, b = { !b_noisb, between || elsewhere, 0 };
    if (between) {
        ta = 0;
        if (pthread_create(&tb, NULL, caller, &b) != 0) {
            return 2;
        }
    } else if (elsewhere) {
        if (pthread_create(&ta, NULL, isb_elsewhere, NULL) != 0 ||
            pthread_create(&tb, NULL, caller, &b) != 0) {
            return 2;
        }
    } else if (pthread_create(&ta, NULL, caller, &a) != 0 ||
               pthread_create(&tb, NULL, caller, &b) != 0) {
        return 2;
    }
    if (n) {
        __atomic_store_n(rel, 1, __ATOMIC_RELEASE);
        pthread_join(last, NULL);
    }
    for (unsigned r = 1; r <= ROUNDS; r++) {
        const uint32_t code[] = { A64_MOV_W0(r), A64_RET };
        size_t off = (size_t)(r - 1) * BLOCK_WORDS * 4;
        emit(d.rw + off / 4, code, 2);
        maintain(&d, off, sizeof(code), S_DC | S_DSB1 | S_IC | S_DSB2);
        __atomic_store_n(&current, (const char *)d.rx + off, __ATOMIC_RELAXED);
        __atomic_store_n(&round_no, r, __ATOMIC_RELEASE);
        if (between) {
            while (__atomic_load_n(&b_ready, __ATOMIC_ACQUIRE) != r) {
                /* spin: B loads and synchronises */
            }
            pthread_t t;
            if (pthread_create(&t, NULL, nothing, NULL) != 0 || pthread_join(t, NULL) != 0) {
                return 2;
            }
            __atomic_store_n(&b_go, r, __ATOMIC_RELEASE);
        }
        while (__atomic_load_n(&answered, __ATOMIC_ACQUIRE) != 2 * r) {
            /* spin: both callers answer */
        }
    }
    if (ta) {
        pthread_join(ta, NULL);
    }
    pthread_join(tb, NULL);
    /* qemu keeps code coherent with stores: the old value never runs
     * here; the checker's verdict is the test. */
    return a.bad || b.bad ? 1 : 0;
}
