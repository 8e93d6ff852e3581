/*
 * cmodx/reclaim.h - reuse a retired block only after every thread left it.
 *
 * Quiescent-state-based reclamation (QSBR), as in liburcu's QSBR flavour:
 * each registered thread announces, at points where it holds no pointer
 * into any block of the domain and runs no such code (its "quiescent
 * states"), that it has seen the current grace period.  A block retired
 * after a grace period G started is freed (trap-filled, back to the heap)
 * once every online thread has announced G or later.  Offline threads never
 * hold a grace period up.  See docs/RECLAMATION.md for the ordering
 * argument and the guarantees.
 */
#ifndef CMODX_RECLAIM_H
#define CMODX_RECLAIM_H

#include "api.h"

#include <stddef.h>
#include <stdint.h>

#include "slot.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * NAME
 *   cmodx_quiescent - announce a quiescent state (the reader's fast path)
 * DESCRIPTION
 *   The calling thread holds no pointer into, and runs no code of, any
 *   block of SELF's domain.  Costs a load and a compare when no grace
 *   period is pending.  Where the domain fences with membarrier the
 *   announcement is a release store (the writer's membarrier provides the
 *   rest of the ordering).  With CMODX_DOMAIN_SYMMETRIC_FENCES, or without
 *   membarrier, it is an acquire fence, a release store and one full
 *   fence, as in liburcu QSBR.  Has no effect while the thread is offline.
 * THREAD SAFETY
 *   Acts on the calling thread's record; async-signal-safe.
 */

/*
 * NAME
 *   cmodx_gp_wake - wake writers sleeping for a grace period
 * DESCRIPTION
 *   The out-of-line part of cmodx_quiescent(), which calls it after an
 *   announcement when SELF's domain has a writer waiting for a grace
 *   period: counts the wake-up request (a sequentially consistent
 *   increment, ordered after the announcement's release store) and, when
 *   a writer sleeps and the count has reached the one it waits for, wakes
 *   it (FUTEX_WAKE; counted in cmodx_reclaim_stats.wakeups).  Programs
 *   call cmodx_quiescent(), not this.  SELF NULL: does nothing.
 * THREAD SAFETY
 *   Any thread registered as SELF; async-signal-safe (atomic operations
 *   and one futex system call).
 *   Never waits.
 */
CMODX_API void cmodx_gp_wake(cmodx_thread *self);

static inline void cmodx_quiescent(cmodx_thread *self)
{
    uint64_t g = __atomic_load_n(self->fast.gp_seq, __ATOMIC_RELAXED);
    uint64_t mine = __atomic_load_n(&self->fast.qs_ctr, __ATOMIC_RELAXED);
    if (__builtin_expect(g == mine || mine == 0, 1))
        return;
    if (self->fast.asym_fences) {
        /* The writer's membarrier between its slot switch and the new
         * grace period orders our later slot loads (no acquire fence; on
         * x86-64 the processor keeps loads in order and the writer needs
         * no membarrier); release keeps our earlier accesses to old
         * blocks before the announcement (a plain store on x86, STLR on
         * AArch64). */
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
        __atomic_store_n(&self->fast.qs_ctr, g, __ATOMIC_RELEASE);
        /* Once per grace period: tell a waiting writer.  Store then load,
         * ordered by the writer's membarrier between raising the flag and
         * its last look at the announcements (or the flag was raised
         * before the period began): either it sees ours or we see its
         * flag. */
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
        if (__builtin_expect(__atomic_load_n(self->fast.gp_waiting, __ATOMIC_RELAXED), 0))
            cmodx_gp_wake(self);
    } else {
        /* Acquire: later slot loads see what the writer switched before it
         * advanced the period.  Release: our earlier loads (the old
         * target) are done before the writer can see the announcement. */
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        __atomic_store_n(&self->fast.qs_ctr, g, __ATOMIC_RELEASE);
        /* Symmetric: our fence pairs with the writer's fence between
         * setting the flag and its last look (store-load, both sides). */
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        if (__builtin_expect(__atomic_load_n(self->fast.gp_waiting, __ATOMIC_RELAXED), 0))
            cmodx_gp_wake(self);
    }
}

/*
 * NAME
 *   cmodx_retire - free a block after a grace period
 * DESCRIPTION
 *   BLOCK (the start of a live block of the domain's heap) is no longer
 *   reachable through any slot.  It becomes pending (retired, not yet
 *   free: neither cmodx_block_free() nor a second cmodx_retire() accepts
 *   it) and is freed to the heap, trap-filled, once a grace
 *   period has passed, by this or a later call of the writer side
 *   (publish, retire, poll, synchronize): no helper thread is needed.
 *   When more than the domain's retired_limit_bytes are waiting, this
 *   applies back-pressure: it waits for grace periods (bounded by
 *   grace_timeout_ms) before returning.
 *   The grace period covers D's threads only.  A block that slots of
 *   another domain B targeted may still run in a thread of B that loaded
 *   it before B's slot switched away: before retiring it in D, call
 *   cmodx_synchronize(B) after B's slots left it (or retire it in B).
 * RETURN VALUE
 *   0; EINVAL (NULL domain or no heap in it; BLOCK is not the start of a
 *   live block of that heap: an interior address, another heap's block,
 *   free space, or a block already retired and pending ("retired twice");
 *   a slot of the domain still targets an address in BLOCK: switch it
 *   away first, or publish with CMODX_RETIRE_OLD, which retires the block
 *   once no slot targets it); EBUSY (a slot of ANOTHER domain, on this
 *   heap or on another one, still targets an address in BLOCK: the
 *   library counts every initialised slot per targeted block, one lookup
 *   whatever the number of slots); ETIMEDOUT (back-pressure wait
 *   exceeded; the block IS retired, and the message names the thread
 *   that never went quiescent); ENOMEM.
 *   Nothing is retired on EINVAL, EBUSY or ENOMEM.  Likewise a block that
 *   CMODX_RETIRE_OLD would retire stays live while another domain's slot
 *   targets it (it is then the caller's again: free it once no slot does).
 * THREAD SAFETY
 *   Thread-safe.  Like every writer-side call, it is a quiescent state of
 *   the calling thread.
 *   May wait for other threads: back-pressure (up to grace_timeout_ms) and
 *   the writer lock; parked meanwhile, cancellation disabled.
 */
CMODX_API int cmodx_retire(cmodx_domain *d, cmodx_xptr block);

/*
 * NAME
 *   cmodx_synchronize - wait for a full grace period
 * DESCRIPTION
 *   Returns when every thread that was online when it was called has
 *   passed a quiescent state, then frees every retired block whose grace
 *   period has passed: when it returns 0, every block retired before the
 *   call is back in the heap (it waits for the free hooks other threads
 *   are running for such blocks, cmodx_debug_set_free_hook(), within
 *   TIMEOUT_MS; never from inside a free hook, see below).  TIMEOUT_MS 0
 *   waits without bound.
 *   Concurrent callers share grace periods (as liburcu's synchronize_rcu
 *   callers do): a call that arrives while another caller's period runs
 *   waits for the next one, which one caller runs for every call that
 *   arrived meanwhile; a call never returns on a period that began before
 *   it was called.  The caller that runs a period frees what it covers,
 *   blocks the others retired before their calls included.
 * RETURN VALUE
 *   0, or ETIMEDOUT with the thread id of an online, never-quiescent
 *   thread in cmodx_last_error(), or because other threads' free hooks
 *   for the blocks still ran when TIMEOUT_MS expired (the grace period
 *   completed; those blocks return to the heap when their hooks end);
 *   EDEADLK when called from a free hook of another domain while other
 *   threads run free hooks of D (the grace period completed, those
 *   blocks are not yet back in the heap: waiting could deadlock, e.g. two
 *   domains whose hooks synchronize each other's domain); or the errno of a membarrier that failed
 *   after the domain registered it (ENOMEM, EPERM under a seccomp filter
 *   installed later...), where readers rely on it (asymmetric fences on a
 *   weakly ordered processor): no grace period started, the retired
 *   blocks stay pending and are freed by a later call once membarrier
 *   works again (docs/RECLAMATION.md, "When membarrier fails later").
 * THREAD SAFETY
 *   Thread-safe; the calling thread counts as quiescent.
 *   Waits for other threads (that is its purpose), up to TIMEOUT_MS or
 *   without bound for 0, another caller's period included; parked
 *   meanwhile (offline in every domain the caller is registered in), so
 *   it never waits for itself, and cancellation is disabled until it
 *   returns.  Relies on the ordering argument in src/thread/reclaim.c: a
 *   period begins with a fence on every thread (on a TSO processor, on
 *   the writer alone) after every call it covers began.
 */
CMODX_API int cmodx_synchronize(cmodx_domain *d, unsigned timeout_ms);

/*
 * NAME
 *   cmodx_reclaim_poll - free whatever is safe now, without waiting
 * RETURN VALUE
 *   The number of blocks freed by this call.
 * THREAD SAFETY
 *   Thread-safe; a quiescent state of the calling thread.
 *   Never waits for a grace period; may wait for the writer lock, parked
 *   meanwhile.
 *   Cancellation: not a cancellation point.  Cancellation is disabled
 *   while the call holds a library lock or waits (parked), so it never
 *   ends with a lock held; a request sent meanwhile acts at the caller's
 *   next cancellation point after the call returns.
 */
CMODX_API size_t cmodx_reclaim_poll(cmodx_domain *d);

struct cmodx_reclaim_stats {
    uint64_t grace_periods;     /* grace periods started */
    uint64_t fences;            /* membarrier/fence calls on the writer side */
    uint64_t retired_blocks;    /* ever retired */
    uint64_t freed_blocks;      /* ever freed after their grace period */
    size_t pending_blocks;      /* retired, not yet freed */
    size_t pending_bytes;
    uint64_t backpressure_waits;
    uint64_t publishes;
    uint64_t syncs;             /* cross-thread synchronisations */
    /* Where grace-period waits spend their time (docs/RECLAMATION.md). */
    uint64_t membarriers;       /* of FENCES: membarrier calls reclamation made itself */
    uint64_t waits;             /* waits for a grace period (synchronize, back-pressure) */
    uint64_t slept_waits;       /* of WAITS: those whose spin did not suffice */
    uint64_t sleeps;            /* FUTEX_WAIT calls in those waits */
    uint64_t wakeups;           /* futex wake calls made by announcing threads */
};

/*
 * NAME
 *   cmodx_reclaim_get_stats - a snapshot of a domain's reclamation counters
 * DESCRIPTION
 *   Copies D's counters (struct cmodx_reclaim_stats above: counts, and
 *   bytes for pending_bytes) into *OUT, all taken together under the
 *   domain's writer lock, so they are consistent with one another.  D
 *   NULL: *OUT is zeroed.  OUT NULL: does nothing.
 * THREAD SAFETY
 *   Thread-safe.
 *   May wait for the writer lock (held by a publish or by a writer
 *   waiting for a grace period), parked meanwhile (offline in every
 *   domain the caller is registered in); never waits for a grace period.
 *   Cancellation: not a cancellation point.  Cancellation is disabled
 *   while the call holds a library lock or waits (parked), so it never
 *   ends with a lock held; a request sent meanwhile acts at the caller's
 *   next cancellation point after the call returns.
 */
CMODX_API void cmodx_reclaim_get_stats(cmodx_domain *d, struct cmodx_reclaim_stats *out);

/*
 * NAME
 *   cmodx_debug_set_free_hook - observe every block just before it is freed
 * DESCRIPTION
 *   HOOK(ARG, BLOCK) runs for every retired block whose grace period has
 *   completed, in the thread whose call completed it, right before the
 *   block is trap-filled and freed to the heap: no thread can still be
 *   inside BLOCK, and its bytes are still the ones written (for tests that
 *   check exactly that).  It runs after that call released the domain's
 *   writer lock, with the thread parked (offline in every domain, so it
 *   must not call through slots), before the call returns.  So the hook
 *   may call back into its own domain: cmodx_retire, cmodx_slot_publish,
 *   cmodx_batch_*, cmodx_synchronize, cmodx_reclaim_poll,
 *   cmodx_reclaim_get_stats, cmodx_debug_set_free_hook, cmodx_slot_init
 *   and cmodx_slot_fini return what they return outside a hook (the
 *   blocks they complete run their hooks in turn), and heap calls
 *   (cmodx_block_free, ...) work; cmodx_domain_destroy of the hook's
 *   own domain is refused with EDEADLK (the call running the hook still
 *   uses the domain).  The rule for hooks: a hook never waits for other
 *   threads' hooks, of any domain (they may be waiting for it).  So a
 *   cmodx_synchronize made from a hook of D returns 0 without waiting for
 *   the hooks other threads run for D (its promise covers the blocks this
 *   thread's calls completed), and one made from a hook of another domain
 *   returns EDEADLK while other threads run hooks of D (0 when none do).
 *   cmodx_domain_destroy of another domain from a hook still waits for
 *   that domain's running hooks (the domain is freed next).  NULL removes
 *   the hook.
 *   The statistics count a block as freed when its hook is scheduled.
 * THREAD SAFETY
 *   Set it before the domain is used concurrently.
 *   May wait for the writer lock, parked meanwhile (as
 *   cmodx_reclaim_get_stats()).
 *   Cancellation: not a cancellation point.  Cancellation is disabled
 *   while the call holds a library lock or waits (parked), so it never
 *   ends with a lock held; a request sent meanwhile acts at the caller's
 *   next cancellation point after the call returns.
 */
CMODX_API void cmodx_debug_set_free_hook(cmodx_domain *d, void (*hook)(void *arg, cmodx_xptr block),
                               void *arg);

#ifdef __cplusplus
}
#endif
#endif
