/*
 * Threads that come and go: the checker returns to its one-thread mode
 * when the last other thread has exited (plugin.c, go_one: no load
 * callbacks, an empty shadow of memory), and back to the full mode at
 * the next thread's clone.  Each round here is one such phase in one
 * process: the main thread creates a caller, then publishes a freshly
 * written block (DC CVAU, DSB, IC IVAU, DSB on the write alias, then a
 * store-release of its address); the caller loads the address with
 * load-acquire, executes an ISB and calls it until it returns the round's
 * value; then it exits and the main thread joins it, alone again, and
 * sleeps 60 ms.
 *
 * Rounds after the first run after a return to the one-thread mode, so
 * what they must show is what the first shows: nothing for the correct
 * sequence (the new caller's acquire finds the publish in the shadow made
 * afresh after its clone), and the report for a step left out.
 *
 * argv[1]: isb (every round correct), late-noisb (from the second round
 *          on, the caller runs no ISB after its load), late-noic (from
 *          the second round on, the main thread makes no IC IVAU).
 *
 * RUN: isb => clean
 * RUN: late-noisb => no-context-sync
 * RUN: late-noic => not-invalidated
 */
#include "common.h"

#include <pthread.h>
#include <unistd.h>

#define ROUNDS 6
#define BLOCK_WORDS 16   /* a fresh 64-byte block for every round */

static struct dual d;
static const void *current;   /* the published code */
static int done;              /* the caller ran the round's block */
static int skip_isb;          /* this round's caller runs no ISB */
static uint32_t want;         /* the value the round's block returns */

static void *caller(void *arg)
{
    (void)arg;
    for (;;) {
        const void *p = __atomic_load_n(&current, __ATOMIC_ACQUIRE);
        if (p) {
            if (!__atomic_load_n(&skip_isb, __ATOMIC_RELAXED)) {
                isb();
            }
            if ((uint32_t)as_fn(p)() == __atomic_load_n(&want, __ATOMIC_RELAXED)) {
                break;
            }
        }
    }
    __atomic_store_n(&done, 1, __ATOMIC_RELEASE);
    return NULL;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "isb";
    int late_noisb = strcmp(mode, "late-noisb") == 0;
    int late_noic = strcmp(mode, "late-noic") == 0;
    d = dual_map((size_t)ROUNDS * BLOCK_WORDS * 4 + 4096);
    for (unsigned r = 0; r < ROUNDS; r++) {
        __atomic_store_n(&current, NULL, __ATOMIC_RELAXED);
        __atomic_store_n(&done, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&want, r + 1, __ATOMIC_RELAXED);
        __atomic_store_n(&skip_isb, late_noisb && r > 0, __ATOMIC_RELAXED);
        pthread_t t;
        if (pthread_create(&t, NULL, caller, NULL) != 0) {
            return 2;
        }
        const uint32_t code[] = { A64_MOV_W0(r + 1), A64_RET };
        size_t off = (size_t)r * BLOCK_WORDS * 4;
        emit(d.rw + off / 4, code, 2);
        unsigned steps = S_DC | S_DSB1 | S_IC | S_DSB2;
        if (late_noic && r > 0) {
            steps &= ~(unsigned)S_IC;
        }
        maintain(&d, off, sizeof(code), steps);
        __atomic_store_n(&current, (const char *)d.rx + off, __ATOMIC_RELEASE);
        while (!__atomic_load_n(&done, __ATOMIC_ACQUIRE)) {
            /* spin: the caller answers */
        }
        if (pthread_join(t, NULL) != 0) {
            return 2;
        }
        /* Alone, in a system call that returns after the phase has lasted
         * long enough for the checker to leave the full mode (it stays in
         * it through phases shorter than 50 ms). */
        usleep(60 * 1000);
    }
    return 0;
}
