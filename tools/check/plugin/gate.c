/*
 * cmodx-check — the scoreboard gate: see gate.h.
 *
 * When is a growth possible?  qemu numbers a new vCPU one past the
 * highest index in its list of vCPUs, and grows the boards when a new
 * index reaches their size.  The list holds vCPUs whose init callback
 * has run (indexes below high) and the children of creations announced
 * and not over (spawning of them, created or still to be): each child
 * is numbered at most one past the list's highest, so every index
 * present or to come from those creations is below high + spawning.
 * (The bound holds as creations end: high is raised to the new vCPU's
 * index + 1 before spawning falls.)  qemu's boards hold at least
 * board_size(high) entries: 16 at first (qemu 10, plugins/core.c), then
 * doubled until every started vCPU fits.  So while high + spawning <=
 * board_size(high) no growth can be under way nor come from the
 * creations announced: the gate is open.  Most thread creations are
 * thus no wait for anyone (each one closed the gate in a first version:
 * test_threads under the checker took a quarter longer).
 *
 * A holder counts itself in (holders), then reads the state; a creator
 * counts itself in (spawning), then reads holders; all sequentially
 * consistent, so at least one of the two sees the other (the store-load
 * pattern that needs the total order): a creator that closes the gate
 * waits for the holders that came before, and later holders wait for it.
 * The slow paths sleep on a condition variable; whoever changes a count
 * another thread may sleep on broadcasts under the mutex, after the
 * change, so no wake-up is lost.  Holding the gate costs two atomic
 * read-modify-writes and a few loads per system call callback.
 */
#include "gate.h"

#include <pthread.h>
#include <stdbool.h>

#define FIRST_SIZE 16u   /* qemu 10's first board size (plugin_init) */

static unsigned holders;    /* callbacks holding the gate */
static unsigned spawning;   /* creations announced and not over */
static unsigned high;       /* one past the highest index whose init has run */
static unsigned sleepers;   /* threads asleep on cond */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;

static unsigned board_size(unsigned h)
{
    unsigned s = FIRST_SIZE;
    while (s < h) {
        s *= 2;
    }
    return s;
}

/* May qemu be growing the boards, or come to for a creation announced? */
static bool closed(void)
{
    unsigned p = __atomic_load_n(&spawning, __ATOMIC_SEQ_CST);
    unsigned h = __atomic_load_n(&high, __ATOMIC_SEQ_CST);
    return p && h + p > board_size(h);
}

static void wake(void)
{
    if (__atomic_load_n(&sleepers, __ATOMIC_SEQ_CST)) {
        pthread_mutex_lock(&lock);
        pthread_cond_broadcast(&cond);
        pthread_mutex_unlock(&lock);
    }
}

/* Sleep while the gate is closed and (a creator: holders_too) some
 * callback holds it; the state is read under the mutex after sleepers was
 * raised, so a change after the check broadcasts to this thread. */
static void sleep_while_closed(bool holders_too)
{
    pthread_mutex_lock(&lock);
    __atomic_add_fetch(&sleepers, 1, __ATOMIC_SEQ_CST);
    while (closed() && (!holders_too || __atomic_load_n(&holders, __ATOMIC_SEQ_CST) != 0)) {
        pthread_cond_wait(&cond, &lock);
    }
    __atomic_sub_fetch(&sleepers, 1, __ATOMIC_SEQ_CST);
    pthread_mutex_unlock(&lock);
}

void gate_enter(void)
{
    for (;;) {
        __atomic_add_fetch(&holders, 1, __ATOMIC_SEQ_CST);
        if (!closed()) {
            return;
        }
        gate_leave();   /* a creator may be waiting for this thread */
        sleep_while_closed(false);
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
    if (closed() && __atomic_load_n(&holders, __ATOMIC_SEQ_CST)) {
        /* Until the holders have left; or until the gate opened again
         * (another creation ended: none announced can grow the boards,
         * and holders may be entering again). */
        sleep_while_closed(true);
    }
}

void gate_spawned(int idx)
{
    if (idx >= 0) {
        /* Before spawning falls: the bound above must hold throughout. */
        unsigned h = __atomic_load_n(&high, __ATOMIC_SEQ_CST);
        while ((unsigned)idx + 1 > h &&
               !__atomic_compare_exchange_n(&high, &h, (unsigned)idx + 1, false, __ATOMIC_SEQ_CST,
                                            __ATOMIC_SEQ_CST)) {
        }
    }
    unsigned n = __atomic_load_n(&spawning, __ATOMIC_SEQ_CST);
    /* Never below 0: a vCPU no clone announced (the first) ends none. */
    while (n && !__atomic_compare_exchange_n(&spawning, &n, n - 1, false, __ATOMIC_SEQ_CST,
                                             __ATOMIC_SEQ_CST)) {
    }
    wake();
}

void gate_fork_child(void)
{
    pthread_mutex_init(&lock, NULL);
    pthread_cond_init(&cond, NULL);
    holders = 0;
    spawning = 0;
    sleepers = 0;
}
