/*
 * src/thread/thread.c - registered threads: registration, online/offline,
 * the thread-exit destructor, the writer's entry and exit, and the thread
 * records' part of fork.
 *
 * Each registered thread owns a CACHE_ALIGN-aligned record; the fields it
 * writes on its fast paths (quiescent counter, seen epoch) share lines with
 * nothing another thread writes.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>

#include "arch/arch.h"
#include "base/base.h"
#include "thread/reclaim.h"
#include "thread/thread.h"

/* This thread's records, one per domain it joined.  Read by the signal
 * handler, so it is only changed with the sync signal blocked. */
static __thread struct thread_rec *tls_recs;

static pthread_key_t exit_key;
static pthread_once_t exit_key_once = PTHREAD_ONCE_INIT;

struct thread_rec *thread_find(cmodx_domain *d)
{
    for (struct thread_rec *t = tls_recs; t; t = t->tls_next)
        if (t->domain == d)
            return t;
    return NULL;
}

struct thread_rec *threads_of_self(void)
{
    return tls_recs;
}

/* Free a record that no list holds any more, with what the strategy added
 * to it. */
static void thread_free(cmodx_domain *d, struct thread_rec *t)
{
    if (d->thread_fini)
        d->thread_fini(d, t);
    free(t);
}

static void block_sync_signals(sigset_t *old)
{
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, old);
}

/* Remove T from its domain and from this thread's list, then free it. */
static void thread_remove(struct thread_rec *t)
{
    cmodx_domain *d = t->domain;
    /* Leaving: offline first, so that a writer holding the list lock while
     * it waits for acknowledgements or quiescent states stops waiting for
     * us instead of depending on a signal reaching us in the lock wait.
     * Offline in EVERY domain (parked, the lock rule below): a signal
     * writer of D holds the list lock for up to its timeout, and a writer
     * of another domain must not wait for us meanwhile.  Parking also
     * disables cancellation until we are done with D.  (The mutant goes
     * offline in D only, as before.) */
    int park = !MUTANT(unregister_no_park);
    if (park)
        thread_park();
    cmodx_thread_offline(&t->pub);
    pthread_mutex_lock(&d->reg_lock);
    sigset_t old;
    block_sync_signals(&old);
    for (struct thread_rec **p = &d->threads; *p; p = &(*p)->next)
        if (*p == t) {
            *p = t->next;
            d->nthreads--;
            /* No longer registered (destroy may go ahead), but we still
             * use D until the strategy's part of the record is freed:
             * destroy waits for LEAVING to drop (threads_wait_leaving). */
            d->leaving++;
            break;
        }
    for (struct thread_rec **p = &tls_recs; *p; p = &(*p)->tls_next)
        if (*p == t) {
            *p = t->tls_next;
            break;
        }
    pthread_mutex_unlock(&d->reg_lock);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (d->thread_fini)
        d->thread_fini(d, t);
    /* Our last use of D: the unlock (destroy reads LEAVING under the same
     * lock, so it frees D only after this critical section). */
    pthread_mutex_lock(&d->reg_lock);
    d->leaving--;
    pthread_mutex_unlock(&d->reg_lock);
    free(t);
    if (park)
        thread_unpark(); /* T is off our list: only the other domains come back */
}

void threads_wait_leaving(cmodx_domain *d)
{
    /* The list lock may be held by a signal writer waiting for
     * acknowledgements (up to its timeout): parked meanwhile. */
    thread_park();
    for (;;) {
        pthread_mutex_lock(&d->reg_lock);
        size_t n = d->leaving;
        pthread_mutex_unlock(&d->reg_lock);
        if (!n)
            break;
        sched_yield(); /* they are freeing a record: microseconds */
    }
    thread_unpark();
}

/* Thread exit without unregistering: leave every domain. */
static void on_thread_exit(void *unused)
{
    (void)unused;
    while (tls_recs)
        thread_remove(tls_recs);
}

static void make_exit_key(void)
{
    pthread_key_create(&exit_key, on_thread_exit);
}

int cmodx_thread_register(cmodx_domain *d, cmodx_thread **self)
{
    if (fork_unusable_quiet())
        return fork_unusable("cmodx_thread_register");
    if (self)
        *self = NULL; /* defined and unusable on every failure but EEXIST */
    if (!d)
        return cmodx_fail(EINVAL, "cmodx_thread_register: NULL domain");
    struct thread_rec *t = thread_find(d);
    if (t) {
        if (self)
            *self = &t->pub;
        return cmodx_fail(EEXIST, "cmodx_thread_register: thread already registered");
    }
    pthread_once(&exit_key_once, make_exit_key);
    size_t size = sizeof *t;
    t = aligned_alloc(CACHE_ALIGN, (size + CACHE_ALIGN - 1) / CACHE_ALIGN * CACHE_ALIGN);
    if (!t)
        return cmodx_fail(ENOMEM, "cmodx_thread_register: out of memory");
    memset(t, 0, size);
    t->domain = d;
    t->tid = (pid_t)syscall(SYS_gettid);
    t->state = T_ONLINE;
    t->pub.fast.gp_seq = &d->gp_seq;
    t->pub.fast.epoch = &d->epoch;
    t->pub.fast.gp_waiting = &d->gp_waiting;
    t->pub.fast.strategy = d->strategy;
    t->pub.fast.asym_fences = (uint32_t)d->asym_fences;

    /* The strategy's part (the hook is under the writer lock: it keeps
     * slot creation out while, for example, trampoline copies are set).
     * The lock may be held by a writer waiting for a grace period: parked
     * meanwhile in the domains this thread already belongs to. */
    writer_enter(d);
    int err = d->thread_init ? d->thread_init(d, t) : 0;
    if (err) {
        writer_leave(d, NULL);
        thread_free(d, t);
        return err;
    }
    pthread_mutex_lock(&d->reg_lock);
    t->pub.fast.qs_ctr = __atomic_load_n(&d->gp_seq, __ATOMIC_ACQUIRE);
    t->pub.fast.seen_epoch = __atomic_load_n(&d->epoch, __ATOMIC_ACQUIRE);
    t->next = d->threads;
    d->threads = t;
    d->nthreads++;
    sigset_t old;
    block_sync_signals(&old);
    t->tls_next = tls_recs;
    tls_recs = t;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_mutex_unlock(&d->reg_lock);
    writer_leave(d, NULL);

    pthread_setspecific(exit_key, (void *)1);
    /* From here writers wait for us.  Code published before we were in the
     * list was synchronised without us: synchronise ourselves now.  The
     * fence pairs with the writer's fence before it reads the list. */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    arch_context_sync();
    if (self)
        *self = &t->pub;
    return 0;
}

int cmodx_thread_unregister(cmodx_domain *d)
{
    if (fork_unusable_quiet())
        return fork_unusable("cmodx_thread_unregister");
    struct thread_rec *t = d ? thread_find(d) : NULL;
    if (!t)
        return cmodx_fail(ENOENT, "cmodx_thread_unregister: thread not registered");
    thread_remove(t);
    return 0;
}

static struct thread_rec *rec_of(cmodx_thread *self)
{
    return (struct thread_rec *)(void *)self; /* pub is the first member */
}

void cmodx_thread_offline(cmodx_thread *self)
{
    if (!self)
        return; /* documented: ignored (no message: async-signal-safe) */
    struct thread_rec *t = rec_of(self);
    /* Release: our accesses to blocks happen before a writer can see us
     * offline and free them. */
    __atomic_store_n(&t->state, T_OFFLINE, __ATOMIC_RELEASE);
    __atomic_store_n(&t->pub.fast.qs_ctr, 0, __ATOMIC_RELEASE);
    /* Going offline ends our part of a grace period: wake a writer that
     * sleeps waiting for us.  Store then load (Dekker) with the writer's
     * fence between raising the flag and its last look at the threads
     * (src/thread/reclaim.c): either it sees us offline or we see it. */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (__atomic_load_n(t->pub.fast.gp_waiting, __ATOMIC_RELAXED))
        cmodx_gp_wake(self);
}

/*
 * Coming online, and why it is ordered (writer W publishing code, this
 * thread T coming back):
 *   T1  qs_ctr and state = ONLINE (stores);
 *   T2  a fence (below: which one);
 *   T3  context synchronisation (ISB, fence.i, serialising instruction);
 *   T4  later: loads of slots, calls into code.
 *   W1  maintenance of the new code, completed (DSB);
 *   W2  a full fence: membarrier, or a seq_cst fence;
 *   W3  reads T's state; T offline: W neither signals it nor waits for it;
 *   W4  the slot's release store.
 * If W3 reads T offline, T1 is after W3 in coherence order, so with a
 * store-load fence on both sides (T2 and W2), T2 is after W2, hence T3
 * after W1's completion: T's instruction fetch after T3 sees the new code,
 * whatever T4 reads.  If W3 reads T online, W acts for T (signal, waiting
 * for its acknowledgement or its announcement).  A compiler barrier is not
 * a fence on a weakly ordered processor (AArch64, ARMv7, RISC-V): without
 * T2, T1 may still sit in T's store buffer when W3 reads it, while T3 has
 * already executed before W1 completed, and T runs stale instructions.
 * So T2 is a seq_cst fence followed by a completing barrier (DSB ISH on
 * AArch64: a DMB does not order T1 before the ISB of T3), except where W2 is a
 * membarrier that every such W issues between W1 and W3: the membarrier
 * puts a full barrier into T at a point that is either before T1 (then W3
 * sees T1, or, seeing it offline, T1 came after the barrier and T3 after
 * W1) or after it.  Reclamation with asymmetric fences on a weakly ordered
 * processor is such a W (src/thread/reclaim.c, argument (c)); a strategy
 * that reads thread states without a membarrier (the signal strategy)
 * says so in its operations table (online_fence, src/strategy/strategy.h),
 * copied to d->online_fence, and then T always fences.
 */
void cmodx_thread_online(cmodx_thread *self)
{
    if (!self)
        return; /* documented: ignored (no message: async-signal-safe) */
    struct thread_rec *t = rec_of(self);
    cmodx_domain *d = t->domain;
    __atomic_store_n(&t->pub.fast.qs_ctr, __atomic_load_n(&d->gp_seq, __ATOMIC_RELAXED),
                     __ATOMIC_RELAXED);
    __atomic_store_n(&t->state, T_ONLINE, __ATOMIC_RELAXED);
    if (d->asym_fences && !arch_memory_tso() && !d->online_fence) {
        /* Every writer that reads our state runs membarrier between its
         * maintenance (or its unlink) and that read: it orders our store
         * before our later loads. */
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
    } else {
        /* T2: store-load (Dekker) with W2, the writer's fence before its
         * scan.  On a TSO processor reclamation starts grace periods
         * without membarrier (src/thread/reclaim.c), so this fence is
         * ours there too.  A completing barrier (DSB ISH on AArch64 and
         * ARMv7), not a DMB: the argument needs T3 after T1 is visible,
         * and a DMB orders T1 only before later memory accesses, not
         * before the ISB (Arm's instruction-fetch model; found by
         * cmodx-check's happens-before model). */
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        arch_barrier_complete();
    }
    /* T3: code published while we were offline was not synchronised for
     * us. */
    arch_context_sync();
}

/* ---- parking: offline in every domain while the library may wait --------------- */

/* How deeply this thread is inside calls that parked it (writer_enter may
 * nest: a free hook that publishes), and the cancellation state to give
 * back at the outermost exit. */
static __thread unsigned park_depth;
static __thread int park_cancel_state;

/*
 * The lock rule.  A writer holds its domain's writer lock (and, for patches,
 * the process's patch lock) while it waits for other threads: for a grace
 * period, for signal acknowledgements.  Any thread that blocks on such a
 * lock, or waits for other threads itself, while it is online in ANY domain
 * can be one of the threads waited for: a deadlock against an untimed
 * cmodx_synchronize(), or an ETIMEDOUT naming an innocent thread.  Domains
 * share the patch lock and fork's locks, and a thread waiting in one domain
 * can be the one a second domain's writer waits for while a third thread
 * blocks on the first domain's lock, so parking in the one domain the call
 * is about is not enough: the caller goes offline in every domain it is
 * online in.  It holds no block of any domain inside the library, so this
 * is a quiescent state everywhere (documented for every writer-side call).
 *
 * Cancellation: a call that parks also disables cancellation until it
 * returns, so that no cancellation point inside (nanosleep in the signal
 * strategy's acknowledgement wait, pwrite when the text is moved, close)
 * acts while a lock is held; a pending cancellation acts at the caller's
 * next cancellation point after the call.  Asynchronous cancellation is not
 * supported inside library calls (POSIX: only async-cancel-safe functions
 * may run with it enabled).
 */
void thread_park(void)
{
    lib_enter(); /* inside the library: fork from a signal handler (src/base/fork.c) */
    if (park_depth++)
        return;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &park_cancel_state);
    for (struct thread_rec *t = tls_recs; t; t = t->tls_next)
        if (__atomic_load_n(&t->state, __ATOMIC_RELAXED) == T_ONLINE) {
            t->parked = 1;
            if (!MUTANT(park_no_offline))
                cmodx_thread_offline(&t->pub);
        }
}

void thread_unpark(void)
{
    if (!park_depth)
        return;
    if (!--park_depth) {
        for (struct thread_rec *t = tls_recs; t; t = t->tls_next)
            if (t->parked) {
                t->parked = 0;
                cmodx_thread_online(&t->pub);
            }
        int ignored;
        pthread_setcancelstate(park_cancel_state, &ignored);
    }
    lib_leave();
}

struct thread_rec *writer_enter(cmodx_domain *d)
{
    thread_park();
    pthread_mutex_lock(&d->writer_lock);
    return thread_find(d);
}

void writer_leave(cmodx_domain *d, struct thread_rec *self)
{
    (void)self;
    pthread_mutex_unlock(&d->writer_lock);
    /* Free hooks run here, unlocked and still parked (src/thread/
     * reclaim.c: they may call back into the domain). */
    reclaim_run_hooks();
    thread_unpark();
}

/* ---- fork ----------------------------------------------------------------- */

/* The child has one thread: keep its record, drop the others (their
 * threads do not exist here). */
void threads_after_fork(cmodx_domain *d)
{
    struct thread_rec *keep = thread_find(d), *t = d->threads;
    while (t) {
        struct thread_rec *n = t->next;
        if (t != keep)
            thread_free(d, t);
        t = n;
    }
    d->threads = keep;
    d->nthreads = keep ? 1 : 0;
    if (keep) {
        keep->next = NULL;
        keep->tid = (pid_t)syscall(SYS_gettid);
    }
}
