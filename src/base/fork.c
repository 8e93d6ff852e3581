/*
 * src/base/fork.c - the order of the library's fork steps.
 *
 * The whole sequence, for every heap and every domain of the process, in
 * the order of enum fork_stage (src/base/fork.h), outermost lock first:
 *
 *   prepare (parent, before fork):
 *     0. before any lock, fork_lock included: the domains' enter step, the
 *        forking thread parks (offline in every domain: a writer holding a
 *        lock below may be waiting for it; see prepare()); then fork_lock
 *        and the stages in that order:
 *     1. domains: the list lock, then each domain's writer lock and thread list lock
 *        (writers hold the writer lock while they take every lock below);
 *     2. patch: the lock of the process's patch sites (src/patch/patch.c),
 *        which a patcher takes under its domain's writer lock and holds
 *        while it looks into heaps and the moved text;
 *     2b. slots: the lock of the process's initialised slots
 *        (src/slot/slot.c), a leaf taken under writer locks and the patch
 *        lock, and by cmodx_block_free's check; never held with a heap
 *        lock;
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
 *   child (after fork, one thread), stages in reverse too; the child's
 *   thread is the one that took every lock, and unlocks them:
 *     4. text: lock released; the snapshot mapped over both views of
 *        the moved text, at the same addresses (or the child exits: sharing
 *        the parent's text would let each patch the other);
 *     3. heaps: locks released; each heap maps its snapshot over
 *        both views, at the same addresses;
 *     2. patch: lock released;
 *     1. domains: locks released; the records of threads that do not
 *        exist in the child dropped; what the kernel registers per process
 *        (membarrier) registered again; after fork_lock, the thread
 *        unparks (the domains' leave step).
 *   Cancellation is disabled from before the first lock to after the last
 *   unlock, in parent and child (see prepare()).
 *
 * What each step does lives with the objects (src/domain/domain.c,
 * src/patch/patch.c, src/heap/heap.c, src/heap/text.c); the order lives
 * here.
 */
#include "base/fork.h"

#include <errno.h>
#include <pthread.h>

#include "base/base.h"

static const struct fork_steps *steps[FORK_STAGES];
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* Outermost lock: one fork at a time passes through the handlers, and the
 * stages seen by prepare are the ones parent or child undo, even if a
 * stage registers meanwhile. */
static pthread_mutex_t fork_lock = PTHREAD_MUTEX_INITIALIZER;
static const struct fork_steps *seen[FORK_STAGES]; /* under fork_lock */

/* Per forking thread, kept from prepare to parent or child: two threads
 * may be between prepare() and their wait for fork_lock at once, so
 * neither may keep its state where the other overwrites it.  ENTERED is
 * the stage whose enter step ran (and whose leave step must run). */
static __thread int cancel_state;
static __thread const struct fork_steps *entered;

/*
 * fork() from a signal handler that interrupted a library call.  The
 * interrupted call may hold any of the locks below (a writer lock while it
 * waits for a grace period, a heap lock), and this thread would wait for
 * itself in prepare().  So a thread already inside the library
 * (lib_depth() > 0: every section that may hold a lock counts itself,
 * src/base/cancel.c) takes no lock and copies nothing: SKIPPED, kept from
 * prepare to parent or child.  The parent is unaffected (it took nothing,
 * releases nothing; the interrupted call goes on when the handler
 * returns).  The child cannot be repaired: its heaps are the parent's
 * shared memory (no snapshot), its locks may be held by a frame that will
 * never return (the usual child _exits or execs from the handler), its
 * records name threads that do not exist.  So its library is marked
 * unusable: every public call that could take a lock or touch shared code
 * returns ENOTRECOVERABLE (void ones do nothing), and nothing waits.
 */
static __thread int skipped;
static int unusable; /* this process is such a child (written in its only thread) */

int fork_unusable_quiet(void)
{
    return __atomic_load_n(&unusable, __ATOMIC_RELAXED);
}

int fork_unusable(const char *who)
{
    if (!fork_unusable_quiet())
        return 0;
    return cmodx_fail(ENOTRECOVERABLE, "%s: this process was forked by a signal handler that "
                      "interrupted a cmodx call: the library is unusable here (exec, or _exit)",
                      who);
}

/* The steps hold every lock of the library while they copy the heaps
 * (pwrite, copy_file_range and open are cancellation points): with
 * cancellation enabled, a pending cancel would end the thread there with
 * the locks held.  Disabled from before the first lock to after the last
 * unlock, in the parent and in the child; a pending cancel then acts at
 * the caller's next cancellation point.
 *
 * Before any lock, fork_lock included, the outermost stage's enter step
 * runs (the domains': the thread parks, offline everywhere).  Another
 * thread's writer may hold a domain's writer lock while it waits for
 * this thread to pass a quiescent state, and a second forker holds
 * fork_lock while it waits for that writer lock: a thread that blocked
 * on fork_lock while online would wait for the writer that waits for it.
 * The stage is read before the lock: a thread can be online only in a
 * domain whose creation registered the stage before the thread joined
 * it, so a thread that reads NULL here is online nowhere. */
static void prepare(void)
{
    if (lib_depth() > 0 && !MUTANT(fork_in_library_locks)) {
        skipped = 1;
        return;
    }
    lib_enter(); /* a handler that forks inside this fork skips, as above */
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel_state);
    entered = __atomic_load_n(&steps[FORK_STAGE_DOMAINS], __ATOMIC_ACQUIRE);
    if (entered && entered->enter)
        entered->enter();
    pthread_mutex_lock(&fork_lock);
    for (int s = 0; s < FORK_STAGES; s++)
        seen[s] = __atomic_load_n(&steps[s], __ATOMIC_ACQUIRE);
    if (seen[FORK_STAGE_DOMAINS])
        seen[FORK_STAGE_DOMAINS]->prepare();
    if (seen[FORK_STAGE_PATCH])
        seen[FORK_STAGE_PATCH]->prepare();
    if (seen[FORK_STAGE_SLOTS])
        seen[FORK_STAGE_SLOTS]->prepare();
    if (seen[FORK_STAGE_HEAPS])
        seen[FORK_STAGE_HEAPS]->prepare();
    if (seen[FORK_STAGE_TEXT])
        seen[FORK_STAGE_TEXT]->prepare();
}

/* After the last unlock: the enter step undone, cancellation given back. */
static void leave(void)
{
    if (entered && entered->leave)
        entered->leave();
    entered = NULL;
    int ignored;
    pthread_setcancelstate(cancel_state, &ignored);
    lib_leave();
}

static void parent(void)
{
    if (skipped) {
        skipped = 0;
        return;
    }
    if (seen[FORK_STAGE_TEXT])
        seen[FORK_STAGE_TEXT]->parent();
    if (seen[FORK_STAGE_HEAPS])
        seen[FORK_STAGE_HEAPS]->parent();
    if (seen[FORK_STAGE_SLOTS])
        seen[FORK_STAGE_SLOTS]->parent();
    if (seen[FORK_STAGE_PATCH])
        seen[FORK_STAGE_PATCH]->parent();
    if (seen[FORK_STAGE_DOMAINS])
        seen[FORK_STAGE_DOMAINS]->parent();
    pthread_mutex_unlock(&fork_lock);
    leave();
}

/* The child's only thread is the one that took every lock in prepare():
 * it unlocks them (re-initialising a locked mutex is undefined). */
static void child(void)
{
    if (skipped) {
        skipped = 0;
        __atomic_store_n(&unusable, 1, __ATOMIC_RELAXED);
        return;
    }
    if (seen[FORK_STAGE_TEXT])
        seen[FORK_STAGE_TEXT]->child();
    if (seen[FORK_STAGE_HEAPS])
        seen[FORK_STAGE_HEAPS]->child();
    if (seen[FORK_STAGE_SLOTS])
        seen[FORK_STAGE_SLOTS]->child();
    if (seen[FORK_STAGE_PATCH])
        seen[FORK_STAGE_PATCH]->child();
    if (seen[FORK_STAGE_DOMAINS])
        seen[FORK_STAGE_DOMAINS]->child();
    pthread_mutex_unlock(&fork_lock);
    leave();
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
