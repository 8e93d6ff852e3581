/*
 * src/thread/thread.h - the domain and thread records, and the thread
 * layer's interface: registered threads (thread.c), the process-wide
 * fences a domain uses (fences.c).  Reclamation (reclaim.c) is declared in
 * reclaim.h.
 *
 * The records are plain data shared by every layer from here up; each
 * group of fields says which file owns it (writes it after creation).
 * Code that reads or writes a strategy's fields lives in that strategy's
 * file.  The thread layer calls nothing above it: what a strategy adds to
 * a thread's registration and removal reaches it through the hooks below,
 * which the domain registers.
 */
#ifndef CMODX_SRC_THREAD_THREAD_H
#define CMODX_SRC_THREAD_THREAD_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include "cmodx/reclaim.h"
#include "cmodx/slot.h"

#define CACHE_ALIGN 128 /* two 64-byte lines: also defeats adjacent-line prefetch */

enum thread_state { T_ONLINE = 1, T_OFFLINE = 2 };

struct thread_rec {
    /* Written by the owning thread on its fast paths; the record is
     * CACHE_ALIGN-aligned so no other thread's record shares its lines. */
    cmodx_thread pub;
    /* Below: written rarely. */
    /* Signal strategy (src/strategy/signal.c). */
    __attribute__((aligned(CACHE_ALIGN))) uint64_t sig_ack; /* last signal seq acknowledged */
    uint64_t sig_sent;              /* signal round it was sent; reg_lock */
    /* Trampoline strategy (src/strategy/trampoline.c): the directory of
     * this thread's copy pages, CMODX_TRAMPOLINE_PAGE copies each. */
    const void ***copies_dir;
    /* thread.c */
    int state;                      /* enum thread_state, atomic */
    pid_t tid;
    struct cmodx_domain *domain;
    struct thread_rec *next;        /* domain's list, under reg_lock */
    struct thread_rec *tls_next;    /* this thread's records, one per domain */
    int parked;                     /* online before thread_park(); the owning thread only */
};

struct retired {
    struct retired *next;
    cmodx_xptr block;
    size_t bytes;
    uint64_t fence_at_retire; /* d->fences when it was unlinked */
    uint64_t gp;              /* grace period it waits for; 0 = not started */
    /* Set once its grace period completed with a free hook installed: the
     * hook to run, and the heap to free into, after the writer lock is
     * released (reclaim.c, reclaim_run_hooks()). */
    struct cmodx_domain *d;
    void (*hook)(void *, cmodx_xptr);
    void *hook_arg;
    cmodx_heap *heap;
};

/* refs.c: a block of the domain's heap and how many of the domain's slots
 * target an address inside it. */
struct block_ref {
    const void *start; /* NULL: an empty entry */
    unsigned slots;
    unsigned doomed; /* CMODX_RETIRE_OLD left it: retire once SLOTS is 0 */
};

struct block_refs {
    struct block_ref *e; /* hash table by start, CAP a power of two */
    size_t n, cap;
};

struct strategy_ops;

struct cmodx_domain {
    /* Read by every caller on the fast path: one line each, read-mostly. */
    __attribute__((aligned(CACHE_ALIGN))) uint64_t epoch; /* strategy/epoch.c */
    __attribute__((aligned(CACHE_ALIGN))) uint64_t gp_seq; /* reclaim.c */
    uint32_t gp_waiting; /* a writer waits: announcers call cmodx_gp_wake() (reclaim.c) */
    /* reclaim.c: written by announcing readers while a writer waits, so
     * kept off the readers' read-mostly line above. */
    __attribute__((aligned(CACHE_ALIGN))) uint32_t gp_wakes; /* futex word: announcements counted */
    uint32_t gp_sleeping;  /* the writer sleeps (or is about to) on gp_wakes */
    uint32_t gp_wake_at;   /* the count of gp_wakes that should wake it */
    uint64_t gp_wakeups;   /* FUTEX_WAKE calls made by announcers (statistics) */
    /* reclaim.c, cmodx_synchronize(): concurrent callers share grace
     * periods (the argument above sync_lead()).  Callers' own line: the
     * readers never touch it. */
    __attribute__((aligned(CACHE_ALIGN))) uint64_t sync_tickets; /* callers so far (atomic) */
    uint64_t sync_done;     /* callers up to this ticket have had a period (atomic) */
    uint32_t sync_gen;      /* futex word: bumped when a leader's period ends */
    uint32_t sync_active;   /* a leader runs a period (set and cleared under writer_lock) */
    uint32_t sync_sleepers; /* followers asleep (or about to be) on sync_gen */
    __attribute__((aligned(CACHE_ALIGN))) uint64_t sig_seq; /* strategy/signal.c */

    pthread_mutex_t writer_lock; /* publishes, batches, reclamation */
    pthread_mutex_t reg_lock;    /* the thread list */

    /* thread.c */
    struct thread_rec *threads;
    size_t nthreads;
    size_t open_batches; /* begun, not yet committed or aborted (atomic; src/slot/batch.c) */
    /* Initialised slots of the domain, the library's own (function entries,
     * src/patch/entry.c) included; under writer_lock (src/slot/slot.c).
     * Destroy refuses while the caller's own remain. */
    size_t nslots;
    /* Records unlinked but still being freed by their (exiting) threads,
     * which still use the domain meanwhile: destroy waits for 0. */
    size_t leaving;
    /* Hooks the domain registers (src/domain/domain.c, from its strategy):
     * what registering a thread adds (called under writer_lock; returns 0
     * or an errno) and what removing one releases.  NULL: nothing. */
    int (*thread_init)(struct cmodx_domain *d, struct thread_rec *t);
    void (*thread_fini)(struct cmodx_domain *d, struct thread_rec *t);

    /* The strategy (src/strategy/): its operations and its id. */
    const struct strategy_ops *ops;
    enum cmodx_strategy strategy;

    /* The strategy's online_fence (struct strategy_ops), copied here by
     * strategy_select(): it reads thread states without a membarrier
     * between its maintenance and the read, so a thread coming online
     * fences itself (the argument above cmodx_thread_online()). */
    int online_fence;

    /* fences.c */
    int asym_fences;     /* membarrier PRIVATE_EXPEDITED registered */
    int symmetric_fences; /* CMODX_DOMAIN_SYMMETRIC_FENCES asked for */
    int sync_core;       /* membarrier SYNC_CORE registered */

    /* Signal strategy (src/strategy/signal.c). */
    int signal_number;
    int signal_installed;
    unsigned signal_timeout_ms;
    /* mprotect strategy (src/strategy/mprotect.c). */
    void *mprotect_page;

    /* Trampoline strategy (src/strategy/trampoline.c): slot ids, their
     * slots, and the fixed per-id stubs. */
    uint32_t tramp_capacity, tramp_next_id;
    uint32_t *tramp_free_ids;
    uint32_t tramp_nfree;
    cmodx_slot **tramp_slots;
    /* Per id: the target its stub resolves to (the slot's, copied at each
     * switch; kept after cmodx_slot_fini), so that the stub never reads
     * the caller's slot memory. */
    const void **tramp_targets;
    /* Ids finished but not yet reusable: FIFO of (id, gp_seq at the
     * fini); reusable once a grace period begun after it has completed
     * (a thread may still be inside the old stub). */
    uint32_t *tramp_pend_ids;
    uint64_t *tramp_pend_seq;
    uint32_t tramp_pend_head, tramp_npend;
    cmodx_heap *stub_heap;
    cmodx_block stub_block;
    size_t stub_size;

    /* Reclamation (reclaim.c). */
    cmodx_heap *heap;
    size_t retired_limit;
    unsigned grace_timeout_ms;
    struct retired *retired_head, **retired_tail, *retired_last;
    struct retired *unassigned; /* first block without a grace period, or NULL */
    struct retired *spare;      /* records reserved by reclaim_reserve_locked() */
    size_t nspare;
    uint64_t fences;
    unsigned gp_spin;     /* scans before sleeping, adapted (wait_for()) */
    int gp_slept;         /* the last wait slept: preset the flag next time */
    struct cmodx_reclaim_stats stats;
    struct block_refs refs; /* refs.c: blocks the slots target */
    void (*free_hook)(void *, cmodx_xptr);
    void *free_hook_arg;
    /* Blocks whose grace period completed, counted as freed, whose hooks
     * (and heap free) some thread has yet to finish after its writer
     * section (atomic; reclaim.c, reclaim_run_hooks()). */
    size_t hooks_inflight;

    struct cmodx_domain *all_next; /* process-wide list, for fork (src/domain/domain.c) */
};

/* ---- thread.c ---------------------------------------------------------------- */

/* The calling thread's record in D, or NULL. */
struct thread_rec *thread_find(cmodx_domain *d);

/* The calling thread's first record (then ->tls_next): one per domain it
 * joined.  Async-signal-safe; changed only with every signal blocked. */
struct thread_rec *threads_of_self(void);

/* Park the calling thread: offline in every domain it is online in, and
 * cancellation disabled, until the matching thread_unpark() (calls nest;
 * the outermost unpark brings it back online and restores cancellation).
 * Every public function that may block on a lock a waiting writer holds,
 * or wait for other threads, parks first (the rule is above
 * thread_park() in thread.c). */
void thread_park(void);
void thread_unpark(void);

/* Writer side: park (above), then lock D's writer lock.  Returns the
 * caller's record in D, or NULL.  writer_leave() unlocks, then unparks. */
struct thread_rec *writer_enter(cmodx_domain *d);
void writer_leave(cmodx_domain *d, struct thread_rec *self);

/* Domain destruction, once no other thread is registered: wait until the
 * threads that were leaving (thread_remove(), often the exit destructor)
 * no longer use D.  Bounded by their freeing of a record: no lock of D is
 * held meanwhile by the caller. */
void threads_wait_leaving(cmodx_domain *d);

/* Child after fork, only thread: drop the records of D's other threads
 * (they do not exist here) and renew this thread's.  The caller holds, or
 * has re-initialised, D's locks. */
void threads_after_fork(cmodx_domain *d);

/* ---- fences.c ----------------------------------------------------------------- */

/* Query membarrier once per domain and register what D uses (sets
 * sync_core and asym_fences).  Registration is per process and idempotent. */
void fences_probe(cmodx_domain *d);

/* Child after fork: membarrier registrations are per process (mm); the
 * child's is new.  Register again what D had. */
void fences_after_fork(cmodx_domain *d);

/* membarrier PRIVATE_EXPEDITED_SYNC_CORE: every thread of the process has
 * executed a core-serialising instruction when it returns 0 (else errno). */
int fences_sync_core(void);

/* A full memory barrier on every running thread of the process (and on
 * the others before they return to user space): the writer's half of the
 * asymmetric fences.  0 or errno. */
int fences_membarrier(cmodx_domain *d);

#endif
