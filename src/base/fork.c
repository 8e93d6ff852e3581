/*
 * src/base/fork.c - the order of the library's fork steps.
 *
 * The whole sequence, for every heap and every domain of the process, in
 * the order of enum fork_stage (src/base/fork.h), outermost lock first:
 *
 *   prepare (parent, before fork), stages in that order:
 *     1. domains: the forking thread parks (offline in every domain: a
 *        writer holding a lock below may be waiting for it), then the
 *        list lock, then each domain's writer lock and thread list lock
 *        (writers hold the writer lock while they take every lock below);
 *     2. patch: the lock of the process's patch sites (src/patch/patch.c),
 *        which a patcher takes under its domain's writer lock and holds
 *        while it looks into heaps and the moved text;
 *     3. heaps: the list lock, then each heap's lock, then each heap's
 *        snapshot: a copy of its backing file's data, taken while nothing
 *        can change it, which the child will map (the memfd is shared
 *        memory: otherwise parent and child would write, trap-fill and
 *        reuse the same code; copied after fork returned, the child would
 *        get the parent's later bytes);
 *     4. text: the lock of the program text moved into a backing file for
 *        patching (src/heap/text.c), and its snapshot, likewise.
 *   parent (after fork), stages in reverse (text, heaps, patch, domains):
 *   the snapshots closed, the same locks released; the thread unparks.
 *   child (after fork, one thread), stages in reverse too:
 *     4. text: lock re-initialised; the snapshot mapped over both views of
 *        the moved text, at the same addresses (or the child exits: sharing
 *        the parent's text would let each patch the other);
 *     3. heaps: locks re-initialised; each heap maps its snapshot over
 *        both views, at the same addresses;
 *     2. patch: lock re-initialised;
 *     1. domains: locks re-initialised; the records of threads that do not
 *        exist in the child dropped; what the kernel registers per process
 *        (membarrier) registered again; the thread unparks.
 *   Cancellation is disabled from before the first lock to after the last
 *   unlock, in parent and child (see prepare()).
 *
 * What each step does lives with the objects (src/domain/domain.c,
 * src/patch/patch.c, src/heap/heap.c, src/heap/text.c); the order lives
 * here.
 */
#include "base/fork.h"

#include <pthread.h>

static const struct fork_steps *steps[FORK_STAGES];
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* Outermost lock: one fork at a time passes through the handlers, and the
 * stages seen by prepare are the ones parent or child undo, even if a
 * stage registers meanwhile. */
static pthread_mutex_t fork_lock = PTHREAD_MUTEX_INITIALIZER;
static const struct fork_steps *seen[FORK_STAGES]; /* under fork_lock */
static int cancel_state; /* the forking thread's, given back after the fork */

/* The steps hold every lock of the library while they copy the heaps
 * (pwrite, copy_file_range and open are cancellation points): with
 * cancellation enabled, a pending cancel would end the thread there with
 * the locks held.  Disabled from before the first lock to after the last
 * unlock, in the parent and in the child; a pending cancel then acts at
 * the caller's next cancellation point. */
static void prepare(void)
{
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel_state);
    pthread_mutex_lock(&fork_lock);
    for (int s = 0; s < FORK_STAGES; s++)
        seen[s] = __atomic_load_n(&steps[s], __ATOMIC_ACQUIRE);
    if (seen[FORK_STAGE_DOMAINS])
        seen[FORK_STAGE_DOMAINS]->prepare();
    if (seen[FORK_STAGE_PATCH])
        seen[FORK_STAGE_PATCH]->prepare();
    if (seen[FORK_STAGE_HEAPS])
        seen[FORK_STAGE_HEAPS]->prepare();
    if (seen[FORK_STAGE_TEXT])
        seen[FORK_STAGE_TEXT]->prepare();
}

static void parent(void)
{
    if (seen[FORK_STAGE_TEXT])
        seen[FORK_STAGE_TEXT]->parent();
    if (seen[FORK_STAGE_HEAPS])
        seen[FORK_STAGE_HEAPS]->parent();
    if (seen[FORK_STAGE_PATCH])
        seen[FORK_STAGE_PATCH]->parent();
    if (seen[FORK_STAGE_DOMAINS])
        seen[FORK_STAGE_DOMAINS]->parent();
    pthread_mutex_unlock(&fork_lock);
    int ignored;
    pthread_setcancelstate(cancel_state, &ignored);
}

static void child(void)
{
    if (seen[FORK_STAGE_TEXT])
        seen[FORK_STAGE_TEXT]->child();
    if (seen[FORK_STAGE_HEAPS])
        seen[FORK_STAGE_HEAPS]->child();
    if (seen[FORK_STAGE_PATCH])
        seen[FORK_STAGE_PATCH]->child();
    if (seen[FORK_STAGE_DOMAINS])
        seen[FORK_STAGE_DOMAINS]->child();
    pthread_mutex_init(&fork_lock, NULL);
    int ignored;
    pthread_setcancelstate(cancel_state, &ignored);
}

static void install(void)
{
    pthread_atfork(prepare, parent, child);
}

void fork_register(enum fork_stage s, const struct fork_steps *st)
{
    pthread_once(&once, install);
    __atomic_store_n(&steps[s], st, __ATOMIC_RELEASE);
}
