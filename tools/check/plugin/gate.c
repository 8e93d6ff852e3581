/*
 * cmodx-check — the scoreboard gate: see gate.h.
 *
 * A holder counts itself in (holders), then reads spawning; a creator
 * counts itself in (spawning), then reads holders; all sequentially
 * consistent, so at least one of the two sees the other (the store-load
 * pattern that needs the total order) and a holder never runs while a
 * creation it did not see goes on.  The slow paths sleep on a condition
 * variable; whoever changes a count another thread may sleep on
 * broadcasts under the mutex, after the change, so no wake-up is lost.
 * Holding the gate costs two atomic read-modify-writes and two loads per
 * system call when no thread is being created.
 */
#include "gate.h"

#include <pthread.h>
#include <stdbool.h>

static unsigned holders;    /* callbacks holding the gate */
static unsigned spawning;   /* creations announced and not over */
static unsigned sleepers;   /* threads asleep on cond */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;

static void wake(void)
{
    if (__atomic_load_n(&sleepers, __ATOMIC_SEQ_CST)) {
        pthread_mutex_lock(&lock);
        pthread_cond_broadcast(&cond);
        pthread_mutex_unlock(&lock);
    }
}

/* Sleep until *count is 0 (counts change only as above: checked under
 * the mutex after sleepers was raised, so a change after the check
 * broadcasts to this thread). */
static void wait_zero(const unsigned *count)
{
    pthread_mutex_lock(&lock);
    __atomic_add_fetch(&sleepers, 1, __ATOMIC_SEQ_CST);
    while (__atomic_load_n(count, __ATOMIC_SEQ_CST)) {
        pthread_cond_wait(&cond, &lock);
    }
    __atomic_sub_fetch(&sleepers, 1, __ATOMIC_SEQ_CST);
    pthread_mutex_unlock(&lock);
}

void gate_enter(void)
{
    for (;;) {
        __atomic_add_fetch(&holders, 1, __ATOMIC_SEQ_CST);
        if (!__atomic_load_n(&spawning, __ATOMIC_SEQ_CST)) {
            return;
        }
        gate_leave();   /* a creator may be waiting for this thread */
        wait_zero(&spawning);
    }
}

void gate_leave(void)
{
    if (__atomic_sub_fetch(&holders, 1, __ATOMIC_SEQ_CST) == 0 &&
        __atomic_load_n(&spawning, __ATOMIC_SEQ_CST)) {
        wake();
    }
}

void gate_spawn(void)
{
    __atomic_add_fetch(&spawning, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&holders, __ATOMIC_SEQ_CST)) {
        wait_zero(&holders);
    }
}

void gate_spawned(void)
{
    unsigned n = __atomic_load_n(&spawning, __ATOMIC_SEQ_CST);
    /* Never below 0: a vCPU no clone announced (the first) ends none. */
    while (n && !__atomic_compare_exchange_n(&spawning, &n, n - 1, false, __ATOMIC_SEQ_CST,
                                             __ATOMIC_SEQ_CST)) {
    }
    if (n == 1) {
        wake();
    }
}

void gate_fork_child(void)
{
    pthread_mutex_init(&lock, NULL);
    pthread_cond_init(&cond, NULL);
    holders = 0;
    spawning = 0;
    sleepers = 0;
}
