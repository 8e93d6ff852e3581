/* src/domain.h - the domain and thread records, shared by thread.c,
 * sync.c, slot.c and reclaim.c. */
#ifndef CMODX_DOMAIN_H
#define CMODX_DOMAIN_H

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
    __attribute__((aligned(CACHE_ALIGN))) uint64_t sig_ack; /* last signal seq acknowledged */
    uint64_t sig_sent;              /* signal round it was sent; reg_lock */
    int state;                      /* enum thread_state, atomic */
    pid_t tid;
    struct cmodx_domain *domain;
    struct thread_rec *next;        /* domain's list, under reg_lock */
    struct thread_rec *tls_next;    /* this thread's records, one per domain */
    const void **copies_dir[];      /* trampoline: directory of copy pages */
};

struct retired {
    struct retired *next;
    cmodx_xptr block;
    size_t bytes;
    uint64_t fence_at_retire; /* d->fences when it was unlinked */
    uint64_t gp;              /* grace period it waits for; 0 = not started */
};

struct cmodx_domain {
    /* Read by every caller on the fast path: one line each, read-mostly. */
    __attribute__((aligned(CACHE_ALIGN))) uint64_t epoch;
    __attribute__((aligned(CACHE_ALIGN))) uint64_t gp_seq;
    uint32_t gp_waiting; /* futex word: a writer sleeps in wait_for() */
    __attribute__((aligned(CACHE_ALIGN))) uint64_t sig_seq;

    pthread_mutex_t writer_lock; /* publishes, batches, reclamation */
    pthread_mutex_t reg_lock;    /* the thread list */
    struct thread_rec *threads;
    size_t nthreads;

    enum cmodx_strategy strategy;
    int asym_fences;     /* membarrier PRIVATE_EXPEDITED registered */
    int symmetric_fences; /* CMODX_DOMAIN_SYMMETRIC_FENCES asked for */
    int sync_core;       /* membarrier SYNC_CORE registered */
    int signal_number;
    int signal_installed;
    unsigned signal_timeout_ms;
    void *mprotect_page;

    /* Trampoline: slot ids, their slots, and the fixed per-id stubs. */
    uint32_t tramp_capacity, tramp_next_id;
    uint32_t *tramp_free_ids;
    uint32_t tramp_nfree;
    cmodx_slot **tramp_slots;
    cmodx_heap *stub_heap;
    cmodx_block stub_block;
    size_t stub_size;

    /* Reclamation. */
    cmodx_heap *heap;
    size_t retired_limit;
    unsigned grace_timeout_ms;
    struct retired *retired_head, **retired_tail, *retired_last;
    struct retired *unassigned; /* first block without a grace period, or NULL */
    uint64_t fences;
    struct cmodx_reclaim_stats stats;
    void (*free_hook)(void *, cmodx_xptr);
    void *free_hook_arg;

    struct cmodx_domain *all_next; /* process-wide list, for fork */
};

/* thread.c */
struct thread_rec *thread_find(cmodx_domain *d);          /* calling thread's */
void threads_atfork_init(void);
void domain_list_add(cmodx_domain *d);
void domain_list_remove(cmodx_domain *d);
void thread_ack_signal(int sig);
struct thread_rec *writer_enter(cmodx_domain *d); /* lock, offline if online */
void writer_leave(cmodx_domain *d, struct thread_rec *was_online);

/* sync.c */
int sync_select(cmodx_domain *d, const struct cmodx_domain_config *cfg);
void sync_teardown(cmodx_domain *d);
int sync_others_locked(cmodx_domain *d); /* the strategy's cross-thread step */
int membarrier_fence(cmodx_domain *d);   /* asymmetric fence for reclamation */
int sync_reregister_after_fork(cmodx_domain *d);

/* slot.c */
int tramp_setup(cmodx_domain *d);
void tramp_teardown(cmodx_domain *d);
int tramp_thread_init(cmodx_domain *d, struct thread_rec *t);
void tramp_redirect_all(cmodx_domain *d, cmodx_slot *s);

/* reclaim.c */
int reclaim_retire_locked(cmodx_domain *d, cmodx_xptr block, int wait_allowed);
int reclaim_make_room_locked(cmodx_domain *d, size_t incoming);
void reclaim_advance_locked(cmodx_domain *d);
void reclaim_note_fence(cmodx_domain *d);
void reclaim_teardown(cmodx_domain *d);

#endif
