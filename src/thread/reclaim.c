/*
 * src/thread/reclaim.c - quiescent-state-based reclamation of retired blocks.
 *
 * State: the domain's grace-period counter gp_seq; each registered
 * thread's qs_ctr (0 while offline, else the last gp_seq it announced at a
 * quiescent state); a FIFO of retired blocks, each with the grace period
 * it waits for (0 until one is started for it).
 *
 * Ordering argument (writer W, reader R; "fence" = membarrier when the
 * domain has asymmetric fences, else a seq_cst fence on W with the reader
 * side's acquire/release):
 *   W1  unlink: the slot's release store (src/slot/publish.c), before retire;
 *   F   a fence that happened after W1 (a publish's membarrier SYNC_CORE
 *       counts: reclaim_note_fence), issued here if none did;
 *   W2  gp_seq = G (release);
 *   W3  read every online qs_ctr, after F;
 *   W4  free the block once every online qs_ctr >= G.
 * (a) A reader that announces G read W2.  With membarrier, F forced a full
 *     barrier into R at a point P of its program; R's load of W2 comes
 *     after P (W2 did not exist before F returned), so R's later slot
 *     loads also come after P and see W1: R cannot newly obtain the old
 *     block after announcing G.  Without membarrier, R's acquire fence
 *     after reading W2 gives the same.
 * (b) R's accesses to the old block come before its announcement, which is
 *     a release store: W4, which read it, comes after them.
 * (c) A thread coming online stores qs_ctr before it loads any slot; F
 *     (or its own seq_cst fence, pairing with W's before W3) makes W3
 *     either see it online or it see W1.
 * One membarrier therefore serves both the instruction-stream
 * synchronisation of a publish and the grace period's fence.
 *
 * On a TSO processor (arch_memory_tso(): x86-64) F is a seq_cst fence on
 * the writer alone, even with asymmetric fences.  (a) W1 stays before W2
 * (stores are not reordered with older stores) and R's later slot loads
 * stay after its load of W2 (loads are not reordered with older loads;
 * the compiler barriers in cmodx_quiescent() keep the program order), so
 * R, having read W2, sees W1.  (b) as above.  (c) the thread coming online
 * fences itself (cmodx_thread_online()), pairing with F before W3.  This
 * saves a membarrier, an IPI to every core running the process, per grace
 * period.
 *
 * Waiting (wait_for()), a second store-load pair on both sides:
 *   writer: raise gp_waiting and gp_sleeping; fence; s = gp_wakes;
 *           scan qs_ctr; sleep on gp_wakes while it still equals s.
 *   reader: store qs_ctr (the announcement); load gp_waiting; if set,
 *           cmodx_gp_wake(): gp_wakes += 1 (seq_cst), and FUTEX_WAKE if
 *           gp_sleeping.
 * A reader whose announcement the scan missed sees the flags raised: the
 * writer's fence is a membarrier when readers run no fence (asymmetric:
 * the store-load pair needs one on both sides, even on TSO), else a
 * seq_cst fence pairing with the reader's.  Its increment then either
 * happened before the writer read s (and the scan, after that acquire
 * load, saw its announcement) or changes gp_wakes from s, so that the
 * futex wait returns at once or is woken by its FUTEX_WAKE (gp_sleeping
 * versus gp_wakes: seq_cst on both sides).  No wake-up is lost, none is
 * needed while the writer spins, and the writer makes one fence per
 * sleep phase, not per wake-up.  The writer also publishes how far the
 * count must go (gp_wake_at = s + the threads it still waits for): only
 * the announcer whose count reaches it wakes the writer, so N laggards
 * cost one wake-up, not N (wait_for()).  gp_waiting may also be raised before F
 * ("preset", when the previous wait slept): every reader that announces
 * the new period read W2, so it sees the flag (F orders the flag before
 * W2 for it, as it orders W1; on TSO the order of stores and of loads),
 * and the sleep phase needs no membarrier; but then every announcer
 * counts itself.
 *
 * Concurrent cmodx_synchronize() callers share grace periods; why a call
 * never returns on a period that began before it is argued above
 * sync_lead().
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <time.h>
#include <unistd.h>
#include <linux/futex.h>
#include <sys/syscall.h>

#include "arch/arch.h"
#include "base/base.h"
#include "heap/heap.h"
#include "thread/reclaim.h"
#include "thread/refs.h"
#include "thread/thread.h"

void reclaim_note_fence(cmodx_domain *d)
{
    d->fences++;
    d->stats.fences++;
}

/* Whether F (see the top) must be a membarrier: with asymmetric fences,
 * on a weakly ordered processor. */
static int f_needs_membarrier(const cmodx_domain *d)
{
    return d->asym_fences && !arch_memory_tso();
}

/* A full barrier on every running thread of the process where readers run
 * none themselves (asymmetric fences), else a seq_cst fence that pairs
 * with theirs.  0, or the errno of a membarrier that failed.
 *
 * When membarrier fails after the domain registered it (a seccomp filter
 * installed later, ENOMEM), a fence on the writer alone would not do: the
 * readers run no fence of their own, and switching them to symmetric fences
 * would itself need a barrier in each of them.  So nothing is weakened:
 * the caller fails with the error and the blocks stay retired, never
 * freed on a guess (docs/RECLAMATION.md, "When membarrier fails later"). */
static int fence_readers(cmodx_domain *d)
{
    if (!d->asym_fences) {
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        return 0;
    }
    int err = fences_membarrier(d);
    if (err && MUTANT(membarrier_fail_silent)) {
        __atomic_thread_fence(__ATOMIC_SEQ_CST); /* the old, silent fallback */
        return 0;
    }
    if (!err)
        d->stats.membarriers++;
    return err;
}

/* F.  0 or the errno of a failed membarrier (then no fence happened). */
static int fence_all(cmodx_domain *d)
{
    if (f_needs_membarrier(d)) {
        int err = fence_readers(d);
        if (err)
            return err;
    } else {
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
    }
    reclaim_note_fence(d);
    return 0;
}

/* Give retired blocks without a grace period the next one.  A fence must
 * separate a block's unlink from the new gp_seq.  Blocks retired before
 * the latest fence (a publish's membarrier counts) have one; for the rest
 * a fence is issued if MAY_FENCE, else they wait for the next publish's
 * membarrier, which then serves both purposes.  FORCE starts a period even
 * with nothing pending (cmodx_synchronize).  0, or the errno of a fence
 * that failed: then no period started and no block was given one. */
static int start_grace_period(cmodx_domain *d, int force, int may_fence)
{
    /* Blocks are retired in order and fences only increase, so the blocks
     * still waiting for a period are a tail of the list and, within it,
     * those with a fence since their unlink come first. */
    struct retired *first = d->unassigned;
    int fenced = first && first->fence_at_retire < d->fences;
    int unfenced = first && d->retired_last->fence_at_retire == d->fences;
    /* FORCE: the caller may have unlinked code itself; fence for it. */
    if (force || (unfenced && may_fence)) {
        int err = fence_all(d);
        if (err)
            return err;
        fenced |= unfenced;
    }
    if (!fenced && !force)
        return 0;
    uint64_t g = d->gp_seq + 1;
    __atomic_store_n(&d->gp_seq, g, __ATOMIC_RELEASE);
    d->stats.grace_periods++;
    struct retired *r = first;
    for (; r && r->fence_at_retire < d->fences; r = r->next)
        r->gp = g;
    d->unassigned = r;
    return 0;
}

/* The smallest grace period announced by an online thread (the current
 * one if none lags); *LAGGARD names a thread that holds it back. */
static uint64_t oldest_announced(cmodx_domain *d, pid_t *laggard)
{
    uint64_t min = __atomic_load_n(&d->gp_seq, __ATOMIC_RELAXED);
    *laggard = 0;
    if (!f_needs_membarrier(d))
        __atomic_thread_fence(__ATOMIC_SEQ_CST); /* pairs with cmodx_thread_online() */
    pthread_mutex_lock(&d->reg_lock);
    for (struct thread_rec *t = d->threads; t; t = t->next) {
        uint64_t c = __atomic_load_n(&t->pub.fast.qs_ctr, __ATOMIC_ACQUIRE);
        if (c != 0 && c < min) {
            min = c;
            *laggard = t->tid;
        }
    }
    pthread_mutex_unlock(&d->reg_lock);
    return min;
}

/* How many online threads have not announced TARGET yet; *LAGGARD names
 * one of them. */
static unsigned lagging(cmodx_domain *d, uint64_t target, pid_t *laggard)
{
    unsigned n = 0;
    *laggard = 0;
    if (!f_needs_membarrier(d))
        __atomic_thread_fence(__ATOMIC_SEQ_CST); /* pairs with cmodx_thread_online() */
    pthread_mutex_lock(&d->reg_lock);
    for (struct thread_rec *t = d->threads; t; t = t->next) {
        uint64_t c = __atomic_load_n(&t->pub.fast.qs_ctr, __ATOMIC_ACQUIRE);
        if (c != 0 && c < target) {
            n++;
            *laggard = t->tid;
        }
    }
    pthread_mutex_unlock(&d->reg_lock);
    return n;
}

/*
 * Free hooks, and why they run after the writer lock is released.
 *
 * A hook that calls back into its domain (publishes, retires, synchronizes,
 * reads the statistics) would take the writer lock its own thread holds:
 * a self-deadlock.  So a block whose grace period completed with a hook
 * installed is counted as freed under the lock (statistics, queue) but
 * handed, with its hook, to this thread's list below, and writer_leave()
 * runs the hooks after the unlock, then frees the blocks to the heap.
 *
 * Ordering: the grace period that covers the block completed under the
 * lock (every thread online since the unlink has announced a quiescent
 * state after it: arguments (a) and (b) at the top), so no thread can
 * reach the block any more; freeing it later changes nothing of that
 * argument (a delay is always safe).  The block stays pending in the heap
 * until heap_free_retired(): no other retire or cmodx_block_free can take
 * it meanwhile (both need it live), so it is freed once, after its hook,
 * which still sees it allocated (the trap fill comes with the free).  The
 * thread is still parked when the hooks run (writer_leave unparks after
 * them): offline, as it was under the lock.  A hook that re-enters adds
 * its own blocks to the list, which its own writer_leave() or the outer
 * one drains: every block is freed before the outermost call returns.
 * Calls that promise the blocks are freed when they return wait for the
 * hooks other threads still run (wait_hooks()).
 */
static __thread struct retired *hooks_head, *hooks_last; /* FIFO */

/* Domains whose hook this thread is running, innermost first. */
struct hook_frame {
    const cmodx_domain *d;
    struct hook_frame *up;
};
static __thread struct hook_frame *hook_frames;

void reclaim_run_hooks(void)
{
    while (hooks_head) {
        struct retired *r = hooks_head;
        hooks_head = r->next;
        if (!hooks_head)
            hooks_last = NULL;
        struct hook_frame f = {r->d, hook_frames};
        hook_frames = &f;
        r->hook(r->hook_arg, r->block);
        hook_frames = f.up;
        heap_free_retired(r->heap, r->block);
        /* Release: the free happens before a waiter (wait_hooks) reads 0. */
        __atomic_sub_fetch(&r->d->hooks_inflight, 1, __ATOMIC_RELEASE);
        free(r);
    }
}

int reclaim_in_free_hook(const cmodx_domain *d)
{
    for (const struct hook_frame *f = hook_frames; f; f = f->up)
        if (f->d == d)
            return 1;
    return 0;
}

/* This thread's hooks of D: queued to run, or running (nested). */
static size_t own_hooks_of(const cmodx_domain *d)
{
    size_t own = 0;
    for (const struct retired *r = hooks_head; r; r = r->next)
        own += r->d == d;
    for (const struct hook_frame *f = hook_frames; f; f = f->up)
        own += f->d == d;
    return own;
}

void reclaim_after_fork(cmodx_domain *d)
{
    /* Shared grace periods (above sync_lead()): the parent's leader and
     * followers do not exist here. */
    __atomic_store_n(&d->sync_active, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&d->sync_sleepers, 0, __ATOMIC_RELAXED);
    /* The hooks other threads were about to run will never run here:
     * their blocks stay pending in the child's heap (unreachable, leaked
     * in the child only).  This thread's own, if it forked from a hook or
     * with hooks queued, still run and count down. */
    __atomic_store_n(&d->hooks_inflight, own_hooks_of(d), __ATOMIC_RELAXED);
}

/*
 * cmodx_synchronize() promises that what was retired before it is freed
 * when it returns 0, and cmodx_domain_destroy() that the heap is no longer
 * used.  A block another thread's writer section completed is counted as
 * freed but may still wait for its hook (above): wait for those, parked
 * (the hook may itself wait for a grace period, which must not wait for
 * us) and holding no lock, within the caller's timeout (the hooks are
 * user code: ETIMEDOUT when they outlast it; TIMEOUT_MS 0 is unbounded).
 *
 * A thread that runs a hook never waits for other threads' hooks: two
 * hook runners would wait for each other, whether their hooks are of the
 * same domain or of two domains whose hooks synchronize each other's.
 *   - From a hook of D itself: no wait, 0: the promise covers the blocks
 *     this thread's own calls completed (the documented behaviour).
 *   - From a hook of another domain, while other threads' hooks of D are
 *     in flight: EDEADLK (the grace period did complete; those blocks are
 *     not yet back in the heap, and waiting could deadlock).
 */
static int wait_hooks(cmodx_domain *d, unsigned timeout_ms, uint64_t start)
{
    if (reclaim_in_free_hook(d))
        return 0;
    if (hook_frames) {
        if (__atomic_load_n(&d->hooks_inflight, __ATOMIC_ACQUIRE) > own_hooks_of(d))
            return cmodx_fail(EDEADLK, "cmodx_synchronize: called from a free hook of another "
                              "domain while other threads run free hooks of this one: the "
                              "grace period completed, but waiting for those hooks could "
                              "deadlock (their blocks are not yet back in the heap)");
        return 0;
    }
    uint64_t limit = (uint64_t)timeout_ms * 1000000u;
    for (unsigned i = 0; __atomic_load_n(&d->hooks_inflight, __ATOMIC_ACQUIRE); i++) {
        if (timeout_ms && cmodx_now_ns() - start >= limit)
            return cmodx_fail(ETIMEDOUT, "cmodx_synchronize: grace period complete, but other "
                              "threads' free hooks for its blocks still run after %u ms",
                              timeout_ms);
        if (i < 64) {
            sched_yield();
        } else {
            struct timespec nap = {0, 50000}; /* a hook is running user code */
            nanosleep(&nap, NULL);
        }
    }
    return 0;
}

static size_t free_completed(cmodx_domain *d, uint64_t done)
{
    size_t n = 0;
    while (d->retired_head && d->retired_head->gp != 0 &&
           (d->retired_head->gp <= done || MUTANT(no_grace_period))) {
        struct retired *r = d->retired_head;
        d->retired_head = r->next;
        if (!d->retired_head) {
            d->retired_tail = &d->retired_head;
            d->retired_last = NULL;
        }
        d->stats.pending_blocks--;
        d->stats.pending_bytes -= r->bytes;
        d->stats.freed_blocks++;
        n++;
        if (d->free_hook) {
            /* The hook may call back into D (publish, retire, synchronize):
             * it runs once the writer lock is released (reclaim_run_hooks). */
            if (MUTANT(free_hook_locked)) {
                d->free_hook(d->free_hook_arg, r->block); /* the old re-entry deadlock */
            } else {
                r->d = d;
                r->hook = d->free_hook;
                r->hook_arg = d->free_hook_arg;
                r->heap = d->heap;
                r->next = NULL;
                __atomic_add_fetch(&d->hooks_inflight, 1, __ATOMIC_RELAXED);
                if (hooks_last)
                    hooks_last->next = r;
                else
                    hooks_head = r;
                hooks_last = r;
                continue;
            }
        }
        /* Pending -> free: the heap checks the block is still pending, so
         * nothing is ever freed twice (retire refused a second retirement). */
        heap_free_retired(d->heap, r->block);
        free(r);
    }
    return n;
}

static size_t advance(cmodx_domain *d, int may_fence)
{
    pid_t laggard;
    if (!d->retired_head)
        return 0; /* nothing retired: no period to start, no scan */
    /* A failed fence leaves the blocks without a period: none is freed. */
    start_grace_period(d, 0, may_fence);
    return free_completed(d, oldest_announced(d, &laggard));
}

/* May the writer pay for a fence now to start a grace period?  Always when
 * F is cheap (no membarrier).  With membarrier, once enough blocks
 * wait, so one call serves many; never after a publish of the membarrier
 * strategy, whose next publish fences anyway and serves both purposes. */
#define RETIRED_PER_FENCE 32

static int fence_now(cmodx_domain *d, int publishes_fence)
{
    if (!f_needs_membarrier(d))
        return 1;
    return !publishes_fence && d->stats.pending_blocks >= RETIRED_PER_FENCE;
}

void reclaim_advance_locked(cmodx_domain *d, int publish_fences)
{
    advance(d, fence_now(d, publish_fences));
}

int reclaim_reserve_locked(cmodx_domain *d, size_t n)
{
    while (d->nspare < n) {
        struct retired *r = malloc(sizeof *r);
        if (!r)
            return cmodx_fail(ENOMEM, "publish: out of memory for the retired blocks' records");
        r->next = d->spare;
        d->spare = r;
        d->nspare++;
    }
    return 0;
}

int reclaim_retire_locked(cmodx_domain *d, cmodx_xptr block, int wait_allowed)
{
    struct retired *r = d->spare;
    if (r) {
        d->spare = r->next;
        d->nspare--;
    } else if (!(r = malloc(sizeof *r))) {
        return cmodx_fail(ENOMEM, "cmodx_retire: out of memory");
    }
    /* Live -> pending, checked by the heap: a block already pending (or
     * freed, or not a block's start) is refused, so it is never queued,
     * and never freed, twice. */
    size_t bytes = 0;
    int err = heap_block_retire(d->heap, block, &bytes);
    if (err) {
        r->next = d->spare; /* back to the reserve */
        d->spare = r;
        d->nspare++;
        return err;
    }
    err = wait_allowed ? reclaim_make_room_locked(d, bytes) : 0;
    r->next = NULL;
    r->block = block;
    r->bytes = bytes;
    r->fence_at_retire = d->fences;
    r->gp = 0;
    *d->retired_tail = r;
    d->retired_tail = &r->next;
    d->retired_last = r;
    if (!d->unassigned)
        d->unassigned = r;
    d->stats.retired_blocks++;
    d->stats.pending_blocks++;
    d->stats.pending_bytes += bytes;
    return err;
}

/* The out-of-line part of an announcement while a writer waits (see the
 * top of the file).  Async-signal-safe. */
void cmodx_gp_wake(cmodx_thread *self)
{
    if (!self)
        return; /* async-signal-safe: no message */
    cmodx_domain *d = ((struct thread_rec *)(void *)self)->domain; /* pub is first */
    /* seq_cst: after our announcement (release), and before our load of
     * gp_sleeping in the single order of the writer's fence. */
    uint32_t n = __atomic_add_fetch(&d->gp_wakes, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&d->gp_sleeping, __ATOMIC_SEQ_CST) &&
        (int32_t)(n - __atomic_load_n(&d->gp_wake_at, __ATOMIC_SEQ_CST)) >= 0) {
        __atomic_add_fetch(&d->gp_wakeups, 1, __ATOMIC_RELAXED);
        syscall(SYS_futex, &d->gp_wakes, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
    }
}

/* The spin before sleeping, in scans of the thread list (each about
 * 10-40 ns).  A reader running on another core announces within a few
 * microseconds, and a wake-up costs the writer a sleep and a reschedule
 * (tens of microseconds in a virtual machine), so the writer first spins,
 * as liburcu QSBR does (100 attempts).  But a reader that waits for the
 * writer's core gains nothing from the spin, which only delays it.  The
 * budget adapts: it halves, down to GP_SPIN_MIN, after a wait in which the
 * writer had to block (the readers could not announce while it spun), and
 * doubles back after one that did not: the spin sufficed, or the last
 * announcements arrived while the writer was getting ready to sleep (the
 * spin was merely short, as after a reader was preempted once). */
#define GP_SPIN_MAX 100u
#define GP_SPIN_MIN 4u

/* Wait until every online thread has announced grace period TARGET (or is
 * offline).  PRESET: gp_waiting was raised before the fence that started
 * the period.  0 or ETIMEDOUT (after TIMEOUT_MS, 0 = none). */
static int wait_for(cmodx_domain *d, uint64_t target, unsigned timeout_ms, const char *who,
                    int preset)
{
    uint64_t start = cmodx_now_ns();
    pid_t laggard = 0;
    int err = 0;
    d->stats.waits++;
    unsigned spin = d->gp_spin ? d->gp_spin : GP_SPIN_MAX;
    for (unsigned i = 0; i < spin; i++) {
        if (!lagging(d, target, &laggard)) {
            d->gp_spin = spin * 2 < GP_SPIN_MAX ? spin * 2 : GP_SPIN_MAX;
            d->gp_slept = 0;
            /* Only if raised: gp_waiting shares the readers' line with
             * gp_seq, and a store would cost each of them a miss. */
            if (preset)
                __atomic_store_n(&d->gp_waiting, 0, __ATOMIC_RELAXED);
            return 0;
        }
        arch_cpu_relax();
    }
    int blocked = 0, poll_only = 0;
    d->gp_slept = 1;
    d->stats.slept_waits++;
    /* Raise the flags, then one fence before the first look. */
    __atomic_store_n(&d->gp_sleeping, 1, __ATOMIC_RELAXED);
    if (preset) {
        /* Every announcer of TARGET sees gp_waiting (it read W2 after F);
         * what remains is gp_sleeping against gp_wakes, seq_cst on both
         * sides. */
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
    } else {
        __atomic_store_n(&d->gp_waiting, 1, __ATOMIC_RELAXED);
        /* Without this fence an announcement may miss the flag and never
         * wake us: if membarrier fails, sleep in bounded naps and look
         * again (slower, never wrong). */
        poll_only = fence_readers(d) != 0;
    }
    for (;;) {
        uint32_t seen = __atomic_load_n(&d->gp_wakes, __ATOMIC_ACQUIRE);
        unsigned behind = lagging(d, target, &laggard);
        if (!behind)
            break;
        /* Each of them counts itself at least once after SEEN (see the
         * top): only the count that reaches SEEN + BEHIND wakes us.
         * Others may count too (threads that announced during the scan,
         * or go offline twice): then we wake early and look again.
         * seq_cst fence: an announcer that reads an older gp_wake_at
         * counted itself before our futex wait reads gp_wakes, which then
         * returns at once. */
        __atomic_store_n(&d->gp_wake_at, seen + behind, __ATOMIC_RELAXED);
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        /* Every way a thread stops holding the period up (announcing,
         * going offline, exiting) counts itself and wakes us, so a sleep
         * needs a timeout only for the caller's.  Without one it arms no
         * timer: a timer costs each sleep microseconds in a virtual
         * machine (docs/BENCHMARKS.md, section 4). */
        struct timespec ts = {0, 0};
        int timed = timeout_ms != 0 || poll_only;
        if (timeout_ms) {
            uint64_t spent = cmodx_now_ns() - start, limit = (uint64_t)timeout_ms * 1000000u;
            if (spent >= limit) {
                err = cmodx_fail(ETIMEDOUT, "%s: grace period not complete after %u ms: thread "
                                 "%d is online but has not passed a quiescent state", who,
                                 timeout_ms, (int)laggard);
                break;
            }
            ts.tv_sec = (time_t)((limit - spent) / 1000000000u);
            ts.tv_nsec = (long)((limit - spent) % 1000000000u);
        }
        if (poll_only && (!timeout_ms || ts.tv_sec > 0 || ts.tv_nsec > 1000000)) {
            ts.tv_sec = 0;
            ts.tv_nsec = 1000000; /* 1 ms naps */
        }
        d->stats.sleeps++;
        /* Returns at once if an announcement counted itself since SEEN. */
        if (syscall(SYS_futex, &d->gp_wakes, FUTEX_WAIT_PRIVATE, seen, timed ? &ts : NULL,
                    NULL, 0) == 0 || errno == ETIMEDOUT)
            blocked = 1; /* not EAGAIN (counted meanwhile) or EINTR */
    }
    if (blocked)
        d->gp_spin = spin / 2 > GP_SPIN_MIN ? spin / 2 : GP_SPIN_MIN;
    else
        d->gp_spin = spin * 2 < GP_SPIN_MAX ? spin * 2 : GP_SPIN_MAX;
    __atomic_store_n(&d->gp_sleeping, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&d->gp_waiting, 0, __ATOMIC_RELAXED);
    return err;
}

int reclaim_make_room_locked(cmodx_domain *d, size_t incoming)
{
    if (d->stats.pending_bytes + incoming <= d->retired_limit)
        return 0;
    advance(d, 1);
    if (d->stats.pending_bytes + incoming <= d->retired_limit || !d->retired_head)
        return 0;
    /* Back-pressure: wait for the grace period of everything pending. */
    d->stats.backpressure_waits++;
    int err = start_grace_period(d, 0, 1);
    if (err)
        return cmodx_fail(err, "retired-memory limit: membarrier failed (%s): no grace period "
                          "can start, and the retired blocks stay pending", strerror(err));
    err = wait_for(d, d->gp_seq, d->grace_timeout_ms, "retired-memory limit", 0);
    if (!err)
        free_completed(d, d->gp_seq);
    return err;
}

/* ---- public API -------------------------------------------------------------------- */

int cmodx_retire(cmodx_domain *d, cmodx_xptr block)
{
    if (fork_unusable_quiet())
        return fork_unusable("cmodx_retire");
    if (!d || !d->heap)
        return cmodx_fail(EINVAL, "cmodx_retire: %s", d ? "the domain has no heap" : "NULL domain");
    struct thread_rec *t = writer_enter(d);
    unsigned slots = refs_of(d, block);
    int err = slots ? cmodx_fail(EINVAL, "cmodx_retire: %u slot(s) of the domain still target "
                                 "the block at %p: switch them away first (or publish with "
                                 "CMODX_RETIRE_OLD, which retires it once none does)", slots,
                                 block.ptr)
                    : reclaim_retire_locked(d, block, 1);
    if (err != EINVAL && err != ENOMEM)
        advance(d, fence_now(d, 0));
    writer_leave(d, t);
    return err;
}

/*
 * Concurrent cmodx_synchronize() callers share grace periods, as liburcu's
 * do: a caller that arrives while another caller (the leader) runs a grace
 * period for everyone who arrived before it does not queue for the writer
 * lock to run one of its own; it waits for the next period that covers it,
 * which one leader runs for all the callers that arrived meanwhile.
 *
 * State (the domain's sync_* line): sync_tickets counts callers; sync_done
 * is the highest ticket whose caller has had a complete grace period;
 * sync_active says a leader is running one; sync_gen is bumped, and the
 * sleepers woken, when it ends.
 *
 * Ordering argument.  A caller C's period must begin after C's call began:
 * a reader may have announced a period that began before C was called, and
 * then taken a reference to what C unlinked just before calling (C's W1);
 * only a period that begins after W1 (its F and W2 after W1) waits for
 * that reader's next announcement.
 *   C1  C takes ticket c: a seq_cst fetch-and-add, after everything C did
 *       before the call (W1).
 *   L1  The leader L, holding the writer lock, loads sync_tickets = u
 *       (seq_cst); then, as ever, F, W2 (gp_seq = G), the wait W3, and
 *       frees what G covers (W4).
 *   L2  L stores sync_done = u (release), only if the wait completed.
 *   C2  C returns when it loads sync_done >= c (acquire).
 * If L1 read u >= c, it read C1's fetch-and-add or a later one of the same
 * read-modify-write chain, so C1 happens before L1 (the chain continues C's
 * release sequence), and W1 happens before L's F and W2: G is a grace
 * period that began after C's call, exactly as if C had taken the writer
 * lock itself (the lock also passes W1 to the next holder by happens-
 * before).  With asymmetric fences on a weakly ordered processor, F is a
 * membarrier issued by L after W1 became visible to L: every reader's
 * barrier point P is after W1 (cumulativity), so argument (a) at the top
 * holds for W1.  On TSO F is L's own fence; W1 reached memory before C's
 * locked fetch-and-add, which L read before storing W2, so a reader that
 * reads W2 and then (in order) the slot sees W1: the total store order is
 * causal.  C2 reads L2 (or a later leader's store), which follows L's
 * acquire loads of every announcement of G (W3), so C happens after
 * every reader's accesses before its announcement: argument (b).  A
 * ticket taken after L1 is not covered by L's period (u < c): its caller
 * waits for the next leader, or leads.  A leader that fails (timeout,
 * membarrier) stores no sync_done: its followers are not covered, and
 * lead or time out themselves.
 *
 * Waking the followers: a follower raises sync_sleepers (seq_cst) before
 * its FUTEX_WAIT on sync_gen, which returns at once if sync_gen changed
 * since it read it; L bumps sync_gen (seq_cst), then loads sync_sleepers:
 * either L sees the sleeper and wakes it, or the sleeper's wait (its
 * kernel read of sync_gen comes after a full barrier) sees the new value.
 * No wake-up is lost, and a leader without followers makes no system call.
 *
 * Leadership is claimed by a compare-and-swap of sync_active from 0 to 1,
 * before the writer lock: when a period ends, one of the callers it did
 * not cover leads the next and the others keep following (and are woken
 * together), instead of all queueing for the writer lock and taking it
 * in turn only to find themselves covered.
 *
 * Fork: a caller may have claimed sync_active and be waiting for the
 * writer lock that the fork handlers hold; neither it nor the parent's
 * followers exist in the child, so reclaim_after_fork() clears
 * sync_active and sync_sleepers there.
 */

/* Spin of a follower before it sleeps, in loads of sync_gen: a leader's
 * period with readers on other cores ends within microseconds (liburcu's
 * followers spin too before their futex wait). */
#define SYNC_SPIN 100u

/* The leader's period ended (or it found nothing to do): let the next
 * caller lead, and wake the followers, which look again. */
static void sync_release(cmodx_domain *d)
{
    __atomic_store_n(&d->sync_active, 0, __ATOMIC_RELEASE);
    __atomic_add_fetch(&d->sync_gen, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&d->sync_sleepers, __ATOMIC_SEQ_CST))
        syscall(SYS_futex, &d->sync_gen, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

/* Lead (the caller claimed sync_active): under the writer lock, run a
 * grace period that covers every ticket taken before it began.  0 or an
 * errno; when the caller's ticket MY turned out to be covered already
 * (another leader's period, while we took the lock), 0 without running
 * one.  TIMEOUT_MS: the caller's remaining time (0 = none). */
static int sync_lead(cmodx_domain *d, uint64_t my, unsigned timeout_ms)
{
    struct thread_rec *t = writer_enter(d);
    if ((int64_t)(__atomic_load_n(&d->sync_done, __ATOMIC_ACQUIRE) - my) >= 0) {
        sync_release(d);
        writer_leave(d, t);
        return 0;
    }
    /* L1: every ticket up to UPTO was taken before the fence below. */
    uint64_t upto = __atomic_load_n(&d->sync_tickets, __ATOMIC_SEQ_CST);
    /* With asymmetric fences, a sleep phase costs a membarrier unless
     * gp_waiting is raised before F.  Raised, it makes every announcer
     * count itself (an atomic increment per reader and grace period), a
     * waste when the spin suffices: raise it only if the last wait slept.
     * Symmetric fences are cheap: never. */
    int preset = d->asym_fences && d->gp_slept;
    if (preset)
        __atomic_store_n(&d->gp_waiting, 1, __ATOMIC_RELAXED);
    int err = start_grace_period(d, 1, 1);
    if (err) {
        __atomic_store_n(&d->gp_waiting, 0, __ATOMIC_RELAXED);
        err = cmodx_fail(err, "cmodx_synchronize: membarrier failed (%s): readers rely on it "
                         "(asymmetric fences), so no grace period can start; retired blocks "
                         "stay pending", strerror(err));
    } else {
        err = wait_for(d, d->gp_seq, timeout_ms, "cmodx_synchronize", preset);
        if (!err && d->heap)
            free_completed(d, d->gp_seq);
    }
    /* L2: the callers up to UPTO had their period. */
    if (!err)
        __atomic_store_n(&d->sync_done, upto, __ATOMIC_RELEASE);
    sync_release(d);
    writer_leave(d, t);
    return err;
}

int cmodx_synchronize(cmodx_domain *d, unsigned timeout_ms)
{
    if (fork_unusable_quiet())
        return fork_unusable("cmodx_synchronize");
    if (!d)
        return cmodx_fail(EINVAL, "cmodx_synchronize: NULL domain");
    /* Offline in every domain while we wait (a leader must not wait for
     * its followers), as writer_enter() would. */
    thread_park();
    uint64_t start = timeout_ms ? cmodx_now_ns() : 0;
    uint64_t limit = (uint64_t)timeout_ms * 1000000u;
    /* C1: after everything this thread did before the call. */
    uint64_t my = __atomic_add_fetch(&d->sync_tickets, 1, __ATOMIC_SEQ_CST);
    unsigned spun = 0;
    int err, followed = 0;
    uint32_t followed_gen = 0;
    for (;;) {
        uint32_t gen = __atomic_load_n(&d->sync_gen, __ATOMIC_ACQUIRE);
        if (MUTANT(sync_share_early) && followed && gen != followed_gen) {
            err = 0; /* the mutant: the period we followed ended; it began before us */
            break;
        }
        /* C2: a period that began after our ticket has completed. */
        if ((int64_t)(__atomic_load_n(&d->sync_done, __ATOMIC_ACQUIRE) - my) >= 0) {
            err = 0;
            break;
        }
        uint64_t spent = timeout_ms ? cmodx_now_ns() - start : 0;
        if (timeout_ms && spent >= limit) {
            /* Name a thread that holds up the running period. */
            pid_t laggard;
            lagging(d, __atomic_load_n(&d->gp_seq, __ATOMIC_ACQUIRE), &laggard);
            err = laggard ? cmodx_fail(ETIMEDOUT, "cmodx_synchronize: grace period not complete "
                                       "after %u ms: thread %d is online but has not passed a "
                                       "quiescent state", timeout_ms, (int)laggard)
                          : cmodx_fail(ETIMEDOUT, "cmodx_synchronize: grace period not complete "
                                       "after %u ms (another caller's, which this call waited "
                                       "to share, was ending)", timeout_ms);
            break;
        }
        uint32_t idle = 0;
        if (__atomic_compare_exchange_n(&d->sync_active, &idle, 1, 0, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE)) {
            /* No leader: lead, for us and whoever arrived before us; the
             * other callers that saw the last period end follow us instead
             * of queueing for the writer lock.  The rest of our time,
             * rounded up, bounds the wait. */
            unsigned left = timeout_ms ? (unsigned)((limit - spent + 999999u) / 1000000u) : 0;
            err = sync_lead(d, my, left);
            break;
        }
        /* Follow: wait for the running period to end, then look again (it
         * covers us only if it began after our ticket). */
        if (!followed) {
            followed = 1;
            followed_gen = gen;
        }
        if (spun < SYNC_SPIN) {
            spun++;
            arch_cpu_relax();
            continue;
        }
        struct timespec ts;
        if (timeout_ms) {
            ts.tv_sec = (time_t)((limit - spent) / 1000000000u);
            ts.tv_nsec = (long)((limit - spent) % 1000000000u);
        }
        __atomic_add_fetch(&d->sync_sleepers, 1, __ATOMIC_SEQ_CST);
        syscall(SYS_futex, &d->sync_gen, FUTEX_WAIT_PRIVATE, gen, timeout_ms ? &ts : NULL,
                NULL, 0);
        __atomic_sub_fetch(&d->sync_sleepers, 1, __ATOMIC_RELAXED);
    }
    if (!err) /* blocks a leader completed may still wait for their hooks */
        err = wait_hooks(d, timeout_ms, start);
    thread_unpark();
    return err;
}

size_t cmodx_reclaim_poll(cmodx_domain *d)
{
    if (fork_unusable_quiet())
        return 0; /* src/base/fork.c: unusable here */
    if (!d)
        return 0;
    struct thread_rec *t = writer_enter(d);
    size_t n = d->heap ? advance(d, 1) : 0;
    writer_leave(d, t);
    return n;
}

void cmodx_reclaim_get_stats(cmodx_domain *d, struct cmodx_reclaim_stats *out)
{
    if (fork_unusable_quiet()) { /* src/base/fork.c: nothing to report */
        if (out)
            memset(out, 0, sizeof *out);
        return;
    }
    if (out && !d)
        memset(out, 0, sizeof *out); /* defined: no domain, no counts */
    if (!d || !out)
        return;
    /* The writer lock may be held by a writer waiting for a grace period:
     * parked meanwhile (src/thread/thread.c, the lock rule). */
    struct thread_rec *t = writer_enter(d);
    *out = d->stats;
    out->wakeups = __atomic_load_n(&d->gp_wakeups, __ATOMIC_RELAXED);
    writer_leave(d, t);
}

void cmodx_debug_set_free_hook(cmodx_domain *d, void (*hook)(void *, cmodx_xptr), void *arg)
{
    if (fork_unusable_quiet())
        return; /* src/base/fork.c: unusable here */
    if (!d)
        return;
    struct thread_rec *t = writer_enter(d); /* parked: as cmodx_reclaim_get_stats */
    d->free_hook = hook;
    d->free_hook_arg = arg;
    writer_leave(d, t);
}

int reclaim_quiesced_since_locked(cmodx_domain *d, uint64_t mark, const char *who)
{
    pid_t laggard;
    /* A period numbered above MARK began after it; every online thread
     * announcing it (or offline) passed a quiescent state since. */
    if (oldest_announced(d, &laggard) > mark)
        return 0;
    int err = start_grace_period(d, 1, 1);
    if (err)
        return cmodx_fail(err, "%s: membarrier failed (%s): no grace period can start", who,
                          strerror(err));
    err = wait_for(d, d->gp_seq, d->grace_timeout_ms, who, 0);
    if (!err && d->heap)
        free_completed(d, d->gp_seq);
    return err;
}

/* Forget the retired blocks no grace period covered: they stay pending in
 * the heap (leaked rather than freed unsafely). */
static void drop_retired(cmodx_domain *d)
{
    while (d->retired_head) {
        struct retired *r = d->retired_head;
        d->retired_head = r->next;
        free(r);
    }
    d->retired_tail = &d->retired_head;
    d->retired_last = d->unassigned = NULL;
}

/* Domain destruction: one last bounded grace period, then free what it
 * covers; blocks it could not cover are leaked rather than freed unsafely. */
void reclaim_teardown(cmodx_domain *d)
{
    while (d->spare) { /* reserved records never used */
        struct retired *r = d->spare;
        d->spare = r->next;
        free(r);
    }
    d->nspare = 0;
    if (!d->retired_head)
        return;
    /* Waits for a grace period: parked in the caller's other domains. */
    struct thread_rec *t = writer_enter(d);
    if (start_grace_period(d, 1, 1) == 0 &&
        wait_for(d, d->gp_seq, d->grace_timeout_ms, "cmodx_domain_destroy", 0) == 0)
        free_completed(d, d->gp_seq);
    drop_retired(d);
    /* The free hooks run here; one that retired a block into D meanwhile
     * left it pending: dropped too (leaked, never freed unsafely). */
    writer_leave(d, t);
    drop_retired(d);
    /* Other threads' hooks of D: the domain is freed next, so this wait
     * has no bound and no exception (their callers still touch D).  Not
     * reached from a hook of D (cmodx_domain_destroy refuses: EDEADLK). */
    while (__atomic_load_n(&d->hooks_inflight, __ATOMIC_ACQUIRE) > own_hooks_of(d)) {
        struct timespec nap = {0, 50000};
        nanosleep(&nap, NULL);
    }
}
