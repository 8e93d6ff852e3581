/*
 * cmodx/slot.h - slots, registered threads and the cross-thread
 * synchronisation strategies.
 *
 * Code is never rewritten where it may be executing.  Callers branch
 * through a slot, a naturally aligned pointer-sized jump target.  The writer:
 *   1. writes a new block (cmodx/heap.h),
 *   2. makes it visible to instruction fetch (cache maintenance),
 *   3. makes sure that no thread can run the block without first
 *      context-synchronising after step 2 (the domain's strategy),
 *   4. switches the slot with a release store.
 * A caller therefore runs either the old block or the new one, and never a
 * stale or half-written copy of the new one.  The old block is retired and
 * reused only after a grace period (cmodx/reclaim.h).
 *
 * Layout for code that does not use the C inline functions (JIT-emitted
 * callers): see docs/SLOTS.md for the instruction sequences per
 * architecture.  In short, SLOT->target is at offset 0 of struct cmodx_slot.
 */
#ifndef CMODX_SLOT_H
#define CMODX_SLOT_H

#include "api.h"

#include <stddef.h>
#include <stdint.h>

#include "heap.h"

#ifdef __cplusplus
extern "C" {
#endif

/* How other threads are made to refetch instructions before they can
 * reach new code.  docs/STRATEGIES.md gives the guarantees and costs. */
enum cmodx_strategy {
    CMODX_SYNC_AUTO = 0,    /* $CMODX_STRATEGY, else the best available */
    CMODX_SYNC_MEMBARRIER,  /* membarrier(PRIVATE_EXPEDITED_SYNC_CORE) */
    CMODX_SYNC_SIGNAL,      /* a signal to every online registered thread */
    CMODX_SYNC_EPOCH,       /* callers check an epoch and synchronise lazily */
    CMODX_SYNC_TRAMPOLINE,  /* per-thread slot copies through a sync stub */
    CMODX_SYNC_MPROTECT,    /* TLB-shootdown IPIs; x86-64 only */
};

typedef struct cmodx_domain cmodx_domain;

/* The part of a registered thread's record that the inline fast paths
 * read.  Layout is part of the ABI; treat it as read-only. */
struct cmodx_thread_fast {
    uint64_t qs_ctr;            /* grace period last announced; 0 offline */
    uint64_t seen_epoch;        /* epoch strategy: last epoch synchronised */
    const uint64_t *gp_seq;     /* the domain's grace-period counter */
    const uint64_t *epoch;      /* the domain's publication epoch */
    const void *const *const *copies; /* trampoline: per-thread slot copies */
    uint32_t strategy;          /* enum cmodx_strategy actually in use */
    uint32_t asym_fences;       /* writer fences with membarrier */
    const uint32_t *gp_waiting; /* nonzero: a writer sleeps until readers announce */
};

typedef struct cmodx_thread {
    struct cmodx_thread_fast fast;
} cmodx_thread;

/* A patch point.  TARGET (offset 0) is the jump target; the rest is
 * bookkeeping.  Initialise with cmodx_slot_init(); never write TARGET. */
typedef struct cmodx_slot {
    const void *target;
    cmodx_domain *domain;
    const void *stub;   /* trampoline strategy: this slot's sync stub */
    uint32_t id;        /* index into per-thread copies (trampoline) */
    uint32_t reserved;
} cmodx_slot;

#define CMODX_TRAMPOLINE_PAGE 1024u /* copies per directory page */

/* Flags for struct cmodx_domain_config. */
enum {
    /*
     * Grace periods without membarrier: each reader's announcement (once
     * per grace period) adds a full fence, and the writer needs no system
     * call, as in liburcu's QSBR flavour.  For programs that wait on grace
     * periods often.  The default (asymmetric) keeps readers fence-free
     * and makes the writer pay one membarrier per grace period.
     */
    CMODX_DOMAIN_SYMMETRIC_FENCES = 1u << 0,
};

struct cmodx_domain_config {
    enum cmodx_strategy strategy; /* CMODX_SYNC_AUTO to choose */
    int signal_number;            /* signal strategy; 0 = SIGRTMIN+4 */
    unsigned signal_timeout_ms;   /* bound on waiting for acks; 0 = 2000 */
    cmodx_heap *heap;             /* where retired blocks go back; may be NULL */
    size_t retired_limit_bytes;   /* back-pressure bound; 0 = 16 MiB */
    unsigned grace_timeout_ms;    /* back-pressure wait bound; 0 = 10000 */
    uint32_t max_trampoline_slots; /* trampoline: slots per domain; 0 = 4096;
                                    * at most 2^20, rounded up to 1024s */
    unsigned flags;               /* CMODX_DOMAIN_* */
};

/*
 * NAME
 *   cmodx_domain_create - a set of slots, threads and one strategy
 * DESCRIPTION
 *   Chooses the synchronisation strategy: CONFIG->strategy if not AUTO;
 *   else the environment variable CMODX_STRATEGY (membarrier, signal,
 *   epoch, trampoline, mprotect); else membarrier if the kernel supports
 *   PRIVATE_EXPEDITED_SYNC_CORE, else signal if its signal is free, else
 *   epoch.  Registers with membarrier when it is used (also for the
 *   reclamation's asymmetric fences).  For the signal strategy it installs
 *   the handler, and refuses (EBUSY) a signal that already has one.  Only
 *   SIGUSR1, SIGUSR2 and SIGRTMIN..SIGRTMAX may carry the signal strategy:
 *   any other signal_number is EINVAL, with the reason (a fault signal such
 *   as SIGTRAP or SIGSEGV would be swallowed, a termination signal
 *   ignored; docs/STRATEGIES.md).  The mprotect strategy is accepted only
 *   where a TLB shootdown is known to interrupt every core (x86-64 without
 *   INVLPGB in use, and no hypervisor or KVM without paravirtual TLB
 *   flushes), and AUTO never chooses it.  When the last domain using a
 *   signal is destroyed, a pending instance left by a timed-out publish
 *   is discarded before the previous action is restored.
 *   CONFIG->heap, if not NULL, must outlive the domain: cmodx_heap_destroy()
 *   refuses it (EBUSY) until the domain is destroyed.  On failure *OUT is
 *   set to NULL.
 * RETURN VALUE
 *   0; EINVAL (bad config or unknown CMODX_STRATEGY; max_trampoline_slots
 *   above 2^20: the message names the field; signal_number unfit for the
 *   signal strategy), ENOSYS (membarrier asked for but unavailable),
 *   ENOTSUP (mprotect asked for where its premise cannot be
 *   established: the message says why), EBUSY
 *   (signal in use), ENOMEM.  The trampoline strategy keeps its stubs in
 *   a heap of its own, created with the flags of CONFIG->heap: it fails
 *   as cmodx_heap_create() does (ENOSYS or EPERM without memfd, with the
 *   advice to give the domain a heap created with
 *   CMODX_HEAP_ALLOW_TMPFILE; EPERM or EACCES when that temporary file
 *   cannot be mapped executable, a noexec CMODX_TMPDIR; EFBIG under a
 *   file size limit below a chunk; EMFILE, ENFILE).
 * THREAD SAFETY
 *   Thread-safe.  Waits for no grace period, but may wait for a fork in
 *   progress (which holds the process's list of domains while it waits for
 *   writer locks); parked meanwhile (offline in every domain the caller is
 *   registered in), so it never holds such a writer up.
 *   Cancellation: not a cancellation point.  Cancellation is disabled
 *   while the call holds a library lock or waits (parked), so it never
 *   ends with a lock held; a request sent meanwhile acts at the caller's
 *   next cancellation point after the call returns.
 */
CMODX_API int cmodx_domain_create(const struct cmodx_domain_config *config, cmodx_domain **out);

/*
 * NAME
 *   cmodx_domain_destroy - free a domain
 * DESCRIPTION
 *   Waits for a grace period, frees every retired block, removes the
 *   signal handler, and releases the domain's heap (which may then be
 *   destroyed).  The calling thread is unregistered if registered.
 *   Refused (EBUSY, the message naming what and how many) while anything
 *   still depends on the domain: another registered (and alive) thread;
 *   an initialised slot of the domain (cmodx_slot_fini it first: a later
 *   publish or fini of it would use the freed domain); a batch of the
 *   domain still open (begun, neither committed nor aborted); a function
 *   entry still redirected through the domain (cmodx/patch.h: restore it
 *   first; restored entries are the library's and are released, and a
 *   later redirection by another domain adopts them).  Every check is
 *   made before anything changes: a refused call leaves the domain fully
 *   usable, the caller still registered.  Blocks that CMODX_RETIRE_OLD
 *   left are retired by the cmodx_slot_fini of their last slot, and
 *   freed here.  NULL: returns 0.
 * RETURN VALUE
 *   0 (the domain is freed); EBUSY (above: nothing was freed and the
 *   domain stays usable); EDEADLK (called from a free hook of this domain,
 *   cmodx/reclaim.h: the call running the hook still uses the domain;
 *   nothing changed).
 * THREAD SAFETY
 *   Not thread-safe with other uses of the domain.
 *   May wait for other threads: for the writer lock (a writer may hold it
 *   while it waits for a grace period), one grace period for the retired
 *   blocks (bounded by grace_timeout_ms), for the free hooks other threads
 *   are running for this domain (without bound: the domain is freed next,
 *   and a hook is user code), and for registered threads that are
 *   still leaving; the caller is parked meanwhile (offline in every
 *   domain, docs/RECLAMATION.md, "Calls that wait").
 *   Cancellation: not a cancellation point.  Cancellation is disabled
 *   while the call holds a library lock or waits (parked), so it never
 *   ends with a lock held; a request sent meanwhile acts at the caller's
 *   next cancellation point after the call returns.
 */
CMODX_API int cmodx_domain_destroy(cmodx_domain *d);

/*
 * NAME
 *   cmodx_domain_strategy - the strategy a domain uses
 * DESCRIPTION
 *   The cross-thread synchronisation strategy D chose when it was created
 *   (never CMODX_SYNC_AUTO for a domain: auto is resolved at creation).
 *   It decides which cmodx_slot_target_*() function callers may use.
 * RETURN VALUE
 *   The strategy; CMODX_SYNC_AUTO if D is NULL.  Never fails.
 * THREAD SAFETY
 *   Thread-safe (the strategy never changes after creation).
 *   Never waits.
 */
CMODX_API enum cmodx_strategy cmodx_domain_strategy(const cmodx_domain *d);

/*
 * NAME
 *   cmodx_strategy_name - the name of a strategy
 * DESCRIPTION
 *   The name of S as cmodx_strategy_parse() and the CMODX_STRATEGY
 *   environment variable accept it: "auto", "membarrier", "signal",
 *   "epoch", "trampoline" or "mprotect".  The strategies of the library
 *   are the values 1, 2, ... up to the first for which this returns
 *   "unknown", without gaps: a program lists them by counting up from
 *   CMODX_SYNC_AUTO + 1 (the tools do), and so names a strategy a later
 *   version adds.
 * RETURN VALUE
 *   A static, NUL-terminated string, not to be freed; "unknown" for a
 *   value that is no strategy of this build (mprotect exists on x86-64
 *   only).  Never NULL.
 * THREAD SAFETY
 *   Thread-safe and async-signal-safe (constant tables).
 *   Never waits.
 */
CMODX_API const char *cmodx_strategy_name(enum cmodx_strategy s);

/*
 * NAME
 *   cmodx_strategy_parse - a strategy from its name
 * DESCRIPTION
 *   The inverse of cmodx_strategy_name(): NAME must be one of its names,
 *   whole and in lower case ("auto" gives CMODX_SYNC_AUTO).
 * RETURN VALUE
 *   The enum cmodx_strategy value (0 or more); -1 if NAME is NULL or names
 *   no strategy of this build.  Sets no error (cmodx_last_error() is
 *   unchanged).
 * THREAD SAFETY
 *   Thread-safe and async-signal-safe (constant tables, string compares).
 *   Never waits.
 */
CMODX_API int cmodx_strategy_parse(const char *name);

/*
 * NAME
 *   cmodx_thread_register, cmodx_thread_unregister - join or leave a domain
 * DESCRIPTION
 *   A thread that calls through the domain's slots registers first and
 *   gets its record in *SELF (pass it to the fast paths).  Registering
 *   twice returns EEXIST and the existing record; on any other failure
 *   *SELF is NULL.  A registered thread is
 *   online.  A thread that exits without unregistering is unregistered by
 *   a thread-exit destructor; it never holds a writer up.  (A thread that
 *   leaves by a raw exit system call bypasses that: do not do that.)
 * RETURN VALUE
 *   0, EINVAL (NULL D), EEXIST, ENOMEM (also for the trampoline
 *   strategy's copies of the slots); unregister: ENOENT if not registered
 *   (also for a NULL D).
 * THREAD SAFETY
 *   Thread-safe; each acts on the calling thread.
 *   May wait for a writer of D that holds its lock (a publish, a grace
 *   period); the caller is parked meanwhile (offline in the domains it
 *   already belongs to).  cmodx_thread_unregister() parks first (offline
 *   in every domain, so a writer of another domain never waits for it)
 *   and never waits for a grace period; it may wait, bounded by
 *   signal_timeout_ms, for a signal-strategy writer's acknowledgement
 *   round.  Both disable cancellation until they return (a cancellation
 *   sent meanwhile acts at the caller's next cancellation point: no
 *   library lock is ever left held).
 */
CMODX_API int cmodx_thread_register(cmodx_domain *d, cmodx_thread **self);
CMODX_API int cmodx_thread_unregister(cmodx_domain *d);

/*
 * NAME
 *   cmodx_thread_offline, cmodx_thread_online - leave and rejoin for a while
 * DESCRIPTION
 *   Before blocking for long, a thread goes offline: writers neither wait
 *   for its acknowledgement nor for its quiescent states.  It must not run
 *   code reached through the domain's slots (or hold such a pointer) while
 *   offline.  cmodx_thread_online() context-synchronises the thread and
 *   makes it take part again.  Both are cheap and async-signal-safe.  A
 *   NULL SELF is ignored (no error is recorded: the functions may run in
 *   a signal handler).
 * THREAD SAFETY
 *   Act on the calling thread's own record.
 *   Never wait; take no lock.  Async-signal-safe.
 */
CMODX_API void cmodx_thread_offline(cmodx_thread *self);
CMODX_API void cmodx_thread_online(cmodx_thread *self);

/*
 * NAME
 *   cmodx_slot_init - make SLOT a patch point of D, jumping to INITIAL
 * DESCRIPTION
 *   INITIAL is an execute-view address whose code every thread may already
 *   run (made visible and, if recently written, published); often a static
 *   function or the first block of a JIT.  It may be any address inside a
 *   live block (an entry point after a header), never a write-view
 *   address, free space or a block retired and pending.  SLOT's storage
 *   belongs to the caller and must stay put while the domain uses it (a
 *   copy of an initialised slot is not a slot).  The trampoline strategy
 *   also builds the slot's synchronisation stub.  A slot whose target
 *   lies in a block of the domain's heap counts as a user of that block
 *   (see CMODX_RETIRE_OLD).  Each address is checked against the domain's
 *   heap and every other heap of the process.
 *   A slot that is initialised (in any domain) is refused untouched: it
 *   must be finished (cmodx_slot_fini) before it is initialised again;
 *   the library knows the process's initialised slots by address, not
 *   from the slot's bytes, so SLOT's memory need not be zeroed first.
 *   A domain is not destroyed while it has initialised slots (EBUSY).
 *   Trampoline strategy: a finished slot's id is reused only after a
 *   grace period begun after its cmodx_slot_fini (a thread may still be
 *   inside the old stub, docs/STRATEGIES.md); when every id is in use or
 *   waits for one, the call waits for that grace period, bounded by the
 *   domain's grace_timeout_ms.
 *   On any other failure SLOT is left zeroed: not initialised, so cmodx_slot_publish and
 *   cmodx_batch_add refuse it (EINVAL) and cmodx_slot_fini ignores it.
 * RETURN VALUE
 *   0; EINVAL (NULL or misaligned SLOT, SLOT already initialised, NULL D
 *   or INITIAL, INITIAL in a heap's write view, free space or a pending
 *   block); ENOMEM (the
 *   trampoline strategy's slots are all in use: raise
 *   max_trampoline_slots; or memory); trampoline strategy, every id in
 *   use or finished: ETIMEDOUT (the finished ids' grace period did not
 *   complete within grace_timeout_ms; the message names a thread that
 *   holds it up) or the errno of a failed membarrier.
 * THREAD SAFETY
 *   Thread-safe.  Takes the domain's writer lock, so it may wait for a
 *   publish or a grace period in progress.  The caller is parked
 *   meanwhile (offline in every domain it is registered in, cancellation
 *   disabled until it returns), so it never holds that wait up itself:
 *   a writer-side call is a quiescent state of the caller in all its
 *   domains, and it must hold no block of any domain across the call.
 *   Trampoline strategy: may wait for a grace period (above).
 */
CMODX_API int cmodx_slot_init(cmodx_domain *d, cmodx_slot *slot, cmodx_xptr initial);

/*
 * NAME
 *   cmodx_slot_fini - release a slot
 * DESCRIPTION
 *   Releases what cmodx_slot_init() built (the trampoline stub and id) and
 *   the slot's use of its target's block: if CMODX_RETIRE_OLD left that
 *   block and this was the last slot of the domain targeting it, the
 *   block is retired now.  SLOT is then not initialised, and its memory
 *   is the caller's again.  No call through SLOT may START after the
 *   fini begins; a call that already loaded SLOT's target (or, with the
 *   trampoline strategy, its stub) still runs SLOT's last target, never
 *   another slot's code: the trampoline id is reused only after a grace
 *   period (docs/STRATEGIES.md).  The last target must then stay valid
 *   until such a call has returned (retire it, do not free it).  A NULL,
 *   never initialised, failed or already finished slot is ignored.
 * THREAD SAFETY
 *   As cmodx_slot_init(): may wait for the writer lock, parked meanwhile.
 */
CMODX_API void cmodx_slot_fini(cmodx_slot *slot);

/* Flags for cmodx_slot_publish() and cmodx_batch_add(). */
enum {
    /*
     * Retire the replaced block into the domain's reclamation: it is freed
     * to the domain's heap after a grace period.  The block retired is the
     * live block of the domain's heap that holds the old target (which may
     * be an entry point inside it), and it is retired only once no slot of
     * the domain targets any address in it: the domain counts, per block,
     * the slots that target it (cmodx_slot_init, every publish,
     * cmodx_slot_fini).  A block shared with other slots (a lazy-compile
     * stub every slot starts on) is retired when the last of them leaves
     * it, by a publish with or without the flag, or by cmodx_slot_fini.  A
     * batch is judged on the state it leaves.  Nothing is retired when the
     * new target lies in the same block, or when the old target is outside
     * the domain's heap (static code, another heap).  Without this flag
     * the old target is reported in *OLD and stays the caller's, with one
     * exception: a block that an earlier CMODX_RETIRE_OLD publish left to
     * be retired while other slots still targeted it (a shared stub) is
     * retired by whichever call makes its last slot leave it, flagless
     * publishes and cmodx_slot_fini included; the caller must then not
     * free it or retire it again (it is no longer the caller's).
     * A domain's grace periods cover its own threads only.  A block that
     * slots of another domain B targeted (B's slot switched away from it
     * without the flag) may still be running in a thread of B that loaded
     * it before the switch; retiring it here waits only for this domain's
     * threads.  So before it is retired here, call cmodx_synchronize(B)
     * after B's slots left it (or retire it in B instead).
     */
    CMODX_RETIRE_OLD = 1u << 0,
};

/*
 * NAME
 *   cmodx_slot_publish - switch SLOT to new code
 * SYNOPSIS
 *   int cmodx_slot_publish(cmodx_slot *slot, cmodx_xptr code, size_t len,
 *                          unsigned flags, cmodx_xptr *old);
 * DESCRIPTION
 *   CODE..CODE+LEN must have been written through the write view.  Makes
 *   it visible to instruction fetch, synchronises every other thread by
 *   the domain's strategy, then stores CODE into SLOT with release order.
 *   The previous target goes to *OLD (if OLD is not NULL) and, with
 *   CMODX_RETIRE_OLD, into the domain's reclamation (see the flag for
 *   which block and when).  A batch of one.  Inside a code heap, [CODE,
 *   CODE+LEN) must lie within one live block.
 * RETURN VALUE
 *   0; EINVAL (SLOT not initialised for a domain: never, failed, finished
 *   or moved; CODE NULL or LEN 0; unknown flags; CMODX_RETIRE_OLD without
 *   a heap in the domain; CODE in a heap's write view, in free space or
 *   in a pending block; LEN past the end of CODE's block; CODE+LEN
 *   wrapping around the address space, heap or not); ENOMEM;
 *   ETIMEDOUT (signal strategy: a thread did not acknowledge; its thread
 *   id is in cmodx_last_error(); or the retired-memory limit's wait) or
 *   the error of a failing system call.  On any error SLOT is unchanged
 *   and *OLD is NULL.
 * THREAD SAFETY
 *   Thread-safe; publishes of a domain are serialised internally.
 *   May wait for other threads: the strategy's step (signal:
 *   acknowledgements, up to signal_timeout_ms), back-pressure (up to
 *   grace_timeout_ms), the writer lock.  Parked meanwhile (offline in
 *   every domain the caller is registered in, cancellation disabled until
 *   it returns): a quiescent state of the caller.
 */
CMODX_API int cmodx_slot_publish(cmodx_slot *slot, cmodx_xptr code, size_t len, unsigned flags,
                       cmodx_xptr *old);

/*
 * NAME
 *   cmodx_sync_others - context-synchronise every other thread now
 * DESCRIPTION
 *   The strategy's cross-thread step on its own.  For epoch and
 *   trampoline it bumps the epoch / redirects every copy, so it is lazy:
 *   threads synchronise at their next call through a slot.  To patch an
 *   instruction in place (a B <-> NOP on AArch64), use cmodx_patch_insn()
 *   (cmodx/patch.h), which does the single-copy-atomic store, the
 *   maintenance and this step, and refuses lazy strategies: code reached
 *   by a direct branch passes no slot.
 * RETURN VALUE
 *   0 once every other thread is synchronised (or, for epoch and
 *   trampoline, will be before its next call through a slot); EINVAL (D
 *   NULL); ETIMEDOUT (signal strategy: a thread did not acknowledge; its
 *   thread id is in cmodx_last_error()) or the error of a failing system
 *   call (membarrier, mprotect), as cmodx_slot_publish().
 * THREAD SAFETY
 *   Thread-safe.
 *   May wait for other threads as the strategy does (signal:
 *   acknowledgements, up to signal_timeout_ms) and for the writer lock;
 *   parked meanwhile, as cmodx_slot_publish().
 *   Cancellation: not a cancellation point.  Cancellation is disabled
 *   while the call holds a library lock or waits (parked), so it never
 *   ends with a lock held; a request sent meanwhile acts at the caller's
 *   next cancellation point after the call returns.
 */
CMODX_API int cmodx_sync_others(cmodx_domain *d);

/* ---- batches ----------------------------------------------------------- */

typedef struct cmodx_batch cmodx_batch;

/*
 * NAME
 *   cmodx_batch_begin, cmodx_batch_add, cmodx_batch_commit,
 *   cmodx_batch_abort - switch many slots with one synchronisation
 * DESCRIPTION
 *   Collect (slot, new code) pairs, then commit: every block is made
 *   visible, ONE cross-thread synchronisation covers them all, then every
 *   slot is switched.  All or nothing: an error before the switch leaves
 *   every slot as it was.  A slot added twice is switched twice, in add
 *   order (the first code then shows up as the second entry's old target).
 *   OLD_TARGETS (may be NULL) receives the replaced targets in add order;
 *   when commit fails, each of its entries is set to NULL.
 *   After commit or abort the batch is freed.  cmodx_batch_add checks
 *   each entry as cmodx_slot_publish does (and commit checks again).  On
 *   failure cmodx_batch_begin sets *OUT to NULL.
 * RETURN VALUE
 *   0; EINVAL (as cmodx_slot_publish; NULL batch, domain or OUT); ENOMEM;
 *   a synchronisation error (nothing switched).
 * THREAD SAFETY
 *   A batch belongs to one thread; commits are serialised with publishes.
 *   Only cmodx_batch_commit() may wait (as cmodx_slot_publish(), parked
 *   meanwhile); begin, add and abort never wait.
 *   Cancellation: none is a cancellation point.  cmodx_batch_commit
 *   disables cancellation while it holds a library lock or waits
 *   (parked), so it never ends with a lock held; a request sent meanwhile
 *   acts at the caller's next cancellation point after it returns.
 */
CMODX_API int cmodx_batch_begin(cmodx_domain *d, cmodx_batch **out);
CMODX_API int cmodx_batch_add(cmodx_batch *b, cmodx_slot *slot, cmodx_xptr code, size_t len,
                    unsigned flags);
CMODX_API int cmodx_batch_commit(cmodx_batch *b, cmodx_xptr *old_targets);
CMODX_API void cmodx_batch_abort(cmodx_batch *b);

/* ---- the call path ------------------------------------------------------
 * Load the target to call.  Each is a handful of instructions and no
 * function call in the common case.  Use the one for your domain's
 * strategy, or cmodx_slot_target() which dispatches on it. */

/*
 * NAME
 *   cmodx_epoch_resync - the slow path of the epoch check
 * DESCRIPTION
 *   Called by cmodx_slot_target_epoch() when the calling thread sees a
 *   domain epoch EPOCH it has not synchronised for: executes the
 *   architecture's context synchronisation on this thread (AArch64 ISB,
 *   ARMv7 ISB, RISC-V fence.i, x86-64 a serialising instruction), which
 *   pairs with the writer's release increment of the epoch after its
 *   cache maintenance, then records EPOCH as seen in SELF.  Programs call
 *   cmodx_slot_target_epoch() or cmodx_slot_target(), not this.  SELF
 *   NULL: does nothing.
 * THREAD SAFETY
 *   Only the thread registered as SELF; async-signal-safe.
 *   Never waits.
 */
CMODX_API void cmodx_epoch_resync(cmodx_thread *self, uint64_t epoch);

/*
 * NAME
 *   cmodx_slot_target_plain - the target of a slot (membarrier, signal,
 *   mprotect strategies)
 * DESCRIPTION
 *   Loads SLOT's current target: an execute-view address to call.  The
 *   membarrier, signal and mprotect strategies synchronised every thread
 *   before the writer stored the target, so a relaxed load suffices
 *   (instruction fetch is not ordered by acquire anyway).  Only for a slot
 *   of a domain using one of those strategies (cmodx_domain_strategy()).
 * RETURN VALUE
 *   The target, never NULL for an initialised slot.  No error is checked.
 * THREAD SAFETY
 *   Thread-safe and async-signal-safe (one load).
 *   Never waits.
 */
static inline const void *cmodx_slot_target_plain(const cmodx_slot *slot)
{
    return __atomic_load_n(&slot->target, __ATOMIC_RELAXED);
}

/*
 * NAME
 *   cmodx_slot_target_epoch - the target of a slot (epoch strategy)
 * DESCRIPTION
 *   Loads SLOT's current target, then the domain's epoch: the writer bumps
 *   the epoch (release) after the maintenance and before the slot store
 *   (release).  Loading the slot with acquire first means a new target
 *   implies seeing the new epoch, and an epoch SELF has not seen makes
 *   this thread context-synchronise (cmodx_epoch_resync()) before it calls
 *   the target.  SELF is the calling thread's registration in SLOT's
 *   domain, which must use the epoch strategy.
 * RETURN VALUE
 *   The target, an execute-view address; never NULL for an initialised
 *   slot.  No error is checked.
 * THREAD SAFETY
 *   Only the thread registered as SELF; async-signal-safe.
 *   Never waits.
 */
static inline const void *cmodx_slot_target_epoch(const cmodx_slot *slot, cmodx_thread *self)
{
    const void *t = __atomic_load_n(&slot->target, __ATOMIC_ACQUIRE);
    uint64_t e = __atomic_load_n(self->fast.epoch, __ATOMIC_RELAXED);
    if (__builtin_expect(e != self->fast.seen_epoch, 0))
        cmodx_epoch_resync(self, e);
    return t;
}

/*
 * NAME
 *   cmodx_slot_target_trampoline - the target of a slot (trampoline
 *   strategy)
 * DESCRIPTION
 *   Loads the calling thread's copy of SLOT's target.  After a publish the
 *   copy points at the slot's stub, which context-synchronises the
 *   thread, repairs the copy and jumps on to the real target, so calling
 *   what this returns is always correct.  SELF is the calling thread's
 *   registration in SLOT's domain, which must use the trampoline
 *   strategy.
 * RETURN VALUE
 *   An execute-view address to call (the target or the slot's stub);
 *   never NULL for an initialised slot.  No error is checked.
 * THREAD SAFETY
 *   Only the thread registered as SELF; async-signal-safe (two loads).
 *   Never waits.
 */
static inline const void *cmodx_slot_target_trampoline(const cmodx_slot *slot,
                                                        cmodx_thread *self)
{
    const void *const *page = self->fast.copies[slot->id / CMODX_TRAMPOLINE_PAGE];
    return __atomic_load_n(&page[slot->id % CMODX_TRAMPOLINE_PAGE], __ATOMIC_RELAXED);
}

/*
 * NAME
 *   cmodx_slot_target - the target of a slot, for the domain's strategy
 * DESCRIPTION
 *   Dispatches on the strategy recorded in SELF (the calling thread's
 *   registration in SLOT's domain): cmodx_slot_target_epoch(),
 *   cmodx_slot_target_trampoline() or cmodx_slot_target_plain().  One
 *   predictable branch more than calling the right one directly.
 * RETURN VALUE
 *   An execute-view address to call; never NULL for an initialised slot.
 *   No error is checked.
 * THREAD SAFETY
 *   Only the thread registered as SELF; async-signal-safe.
 *   Never waits.
 */
static inline const void *cmodx_slot_target(const cmodx_slot *slot, cmodx_thread *self)
{
    switch (self->fast.strategy) {
    case CMODX_SYNC_EPOCH:
        return cmodx_slot_target_epoch(slot, self);
    case CMODX_SYNC_TRAMPOLINE:
        return cmodx_slot_target_trampoline(slot, self);
    default:
        return cmodx_slot_target_plain(slot);
    }
}

/*
 * NAME
 *   CMODX_CALL - call through a slot
 * SYNOPSIS
 *   CMODX_CALL(FNTYPE, SLOT, SELF, ARGS...)
 * DESCRIPTION
 *   Calls the current target of SLOT (a cmodx_slot *), loaded with
 *   cmodx_slot_target(SLOT, SELF), as a function of the pointer type
 *   FNTYPE with the arguments ARGS (none, or up to 17), for example
 *   CMODX_CALL(uint32_t (*)(void), &slot, self) or
 *   CMODX_CALL(uint32_t (*)(int), &slot, self, 42).  FNTYPE must be the
 *   type of the code the slot's targets hold.  SLOT and SELF are
 *   evaluated once each; the order of their evaluation relative to ARGS
 *   is unspecified, as for the operands of any call.  Valid in
 *   strict ISO C11 and later (-std=c11 -Wpedantic) with or without ARGS:
 *   the argument count selects one of two expansions.
 * RETURN VALUE
 *   What the called code returns (an expression of FNTYPE's return type).
 * THREAD SAFETY
 *   Only the thread registered as SELF (as cmodx_slot_target()); the
 *   call itself is the called code's.  The load never waits.
 */
#define CMODX_CALL(...)                                                       \
    cmodx_call_pick_(__VA_ARGS__, cmodx_calln_, cmodx_calln_, cmodx_calln_,   \
                     cmodx_calln_, cmodx_calln_, cmodx_calln_, cmodx_calln_,  \
                     cmodx_calln_, cmodx_calln_, cmodx_calln_, cmodx_calln_,  \
                     cmodx_calln_, cmodx_calln_, cmodx_calln_, cmodx_calln_,  \
                     cmodx_calln_, cmodx_calln_, cmodx_call0_,                \
                     cmodx_call_needs_fntype_slot_self_,                      \
                     cmodx_call_needs_fntype_slot_self_, ~)(__VA_ARGS__)
/* The 21st argument: cmodx_call0_ for exactly (FNTYPE, SLOT, SELF). */
#define cmodx_call_pick_(a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12,   \
                         a13, a14, a15, a16, a17, a18, a19, a20, which, ...)  \
    which
#define cmodx_call0_(fntype, slot, self)                                      \
    ((fntype)(uintptr_t)cmodx_slot_target((slot), (self)))()
#define cmodx_calln_(fntype, slot, self, ...)                                 \
    ((fntype)(uintptr_t)cmodx_slot_target((slot), (self)))(__VA_ARGS__)

#ifdef __cplusplus
}
#endif
#endif
