/*
 * cmodx-check — the scoreboard gate: see gate.h.
 *
 * When is a growth possible?  qemu numbers a new vCPU one past the
 * highest index in its list of vCPUs, and grows the boards when a new
 * index reaches their size.  The list holds:
 *   - the vCPUs whose init callback has run and that have not exited
 *     (their indexes are the bits of live; top is one past the highest,
 *     lowered at an exit only while no creation is announced: a child
 *     already numbered against the exiting vCPU stays counted);
 *   - vCPUs left behind by a clone that failed after qemu had made the
 *     CPU (its thread could not be started: qemu keeps the CPU for good);
 *     ghost bounds their indexes;
 *   - the children of creations announced and not over (spawning of
 *     them, made or still to be), each numbered at most one past the
 *     list's highest.
 * So every index present or to come is below max(top, ghost) + spawning
 * (top is raised, and a failed creation's ghost recorded, before
 * spawning falls).  qemu's boards hold at least board_size(high) entries,
 * high being one past the highest index ever started: 16 at first (qemu
 * 10, plugins/core.c), doubled until every started vCPU fitted.  While
 * max(top, ghost) + spawning <= board_size(high), no growth can be under
 * way nor come from the creations announced: the gate is open.  Most
 * thread creations are thus no wait for anyone (each one closed the gate
 * in a first version: test_threads under the checker took a quarter
 * longer; with top never lowered, every creation after a peak of 16
 * threads did).
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
#include <stdint.h>

#include "cmodx_check.h"

#define FIRST_SIZE 16u   /* qemu 10's first board size (plugin_init) */

static unsigned holders;    /* callbacks holding the gate */
static unsigned spawning;   /* creations announced and not over */
static unsigned high;       /* one past the highest index ever started */
static unsigned top;        /* one past the highest live index (above) */
static unsigned ghost;      /* bound on the indexes of CPUs failed clones left */
static uint64_t live[MAX_VCPU_INDEX / 64];   /* started and not exited */
static bool top_fixed;      /* an index past MAX_VCPU_INDEX started: top stays */
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
    unsigned t = __atomic_load_n(&top, __ATOMIC_SEQ_CST);
    unsigned g = __atomic_load_n(&ghost, __ATOMIC_SEQ_CST);
    unsigned h = __atomic_load_n(&high, __ATOMIC_SEQ_CST);
    return p && (t > g ? t : g) + p > board_size(h);
}

static void raise_to(unsigned *x, unsigned v)
{
    unsigned o = __atomic_load_n(x, __ATOMIC_SEQ_CST);
    while (v > o && !__atomic_compare_exchange_n(x, &o, v, false, __ATOMIC_SEQ_CST,
                                                 __ATOMIC_SEQ_CST)) {
    }
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

void gate_spawned(int idx, bool left_cpu)
{
    /* Before spawning falls: the bound above must hold throughout. */
    if (idx >= 0) {
        unsigned i = (unsigned)idx;
        if (i < MAX_VCPU_INDEX) {
            __atomic_or_fetch(&live[i / 64], 1ull << (i % 64), __ATOMIC_SEQ_CST);
        } else {
            __atomic_store_n(&top_fixed, true, __ATOMIC_SEQ_CST);
        }
        raise_to(&high, i + 1);
        raise_to(&top, i + 1);
    } else if (left_cpu) {
        unsigned t = __atomic_load_n(&top, __ATOMIC_SEQ_CST);
        unsigned g = __atomic_load_n(&ghost, __ATOMIC_SEQ_CST);
        raise_to(&ghost, (t > g ? t : g) + __atomic_load_n(&spawning, __ATOMIC_SEQ_CST));
    }
    unsigned n = __atomic_load_n(&spawning, __ATOMIC_SEQ_CST);
    /* Never below 0: a vCPU no clone announced (the first) ends none. */
    while (n && !__atomic_compare_exchange_n(&spawning, &n, n - 1, false, __ATOMIC_SEQ_CST,
                                             __ATOMIC_SEQ_CST)) {
    }
    wake();
}

unsigned gate_started(void)
{
    return __atomic_load_n(&high, __ATOMIC_SEQ_CST);
}

void gate_exited(unsigned idx)
{
    if (idx < MAX_VCPU_INDEX) {
        __atomic_and_fetch(&live[idx / 64], ~(1ull << (idx % 64)), __ATOMIC_SEQ_CST);
    }
    /* qemu holds its clone lock here until the CPU is off its list, so no
     * CPU is numbered meanwhile; a creation announced may already have
     * numbered one against this vCPU: then top stays. */
    if (__atomic_load_n(&top_fixed, __ATOMIC_SEQ_CST) ||
        __atomic_load_n(&spawning, __ATOMIC_SEQ_CST)) {
        return;
    }
    unsigned t = __atomic_load_n(&top, __ATOMIC_SEQ_CST);
    unsigned n = t;
    while (n && !(__atomic_load_n(&live[(n - 1) / 64], __ATOMIC_SEQ_CST) & (1ull << ((n - 1) % 64)))) {
        n--;
    }
    /* Unless an init raised it meanwhile (then it stays: only a bound). */
    __atomic_compare_exchange_n(&top, &t, n, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

void gate_fork_child(void)
{
    pthread_mutex_init(&lock, NULL);
    pthread_cond_init(&cond, NULL);
    holders = 0;
    spawning = 0;
    sleepers = 0;
}
