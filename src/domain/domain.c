/*
 * src/domain/domain.c - domains: the one file that knows every part and
 * wires them.  Creation chooses the strategy (src/strategy/), registers
 * its thread hooks with the thread layer, and puts the domain on the
 * process's list; destruction undoes that in reverse.  The domains' steps
 * at fork are here too (their order among the library's is in
 * src/base/fork.c).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "base/fork.h"
#include "patch/patch.h"
#include "slot/publish.h"
#include "strategy/strategy.h"
#include "heap/heap.h"
#include "thread/reclaim.h"
#include "thread/refs.h"
#include "thread/thread.h"

/* ---- the process's domains, and fork ------------------------------------------ */

static pthread_mutex_t all_domains_lock = PTHREAD_MUTEX_INITIALIZER;
static cmodx_domain *all_domains;

/* The forking thread may be online in some domain while another thread's
 * writer holds that domain's writer lock and waits for it (a grace period
 * without a timeout), and a second forker may hold fork_lock while it
 * waits for that writer lock: it parks (offline everywhere) before it
 * takes any lock, fork_lock included (src/base/fork.c runs this enter
 * step first), and comes back online after the last unlock, in the parent
 * and in the child (src/thread/thread.c, the lock rule).  Fork is a
 * quiescent state. */
static void domains_enter(void)
{
    if (!MUTANT(atfork_online))
        thread_park();
}

static void domains_leave(void)
{
    if (!MUTANT(atfork_online))
        thread_unpark();
}

static void domains_prepare(void)
{
    pthread_mutex_lock(&all_domains_lock);
    for (cmodx_domain *d = all_domains; d; d = d->all_next) {
        pthread_mutex_lock(&d->writer_lock);
        pthread_mutex_lock(&d->reg_lock);
    }
}

static void domains_parent(void)
{
    for (cmodx_domain *d = all_domains; d; d = d->all_next) {
        pthread_mutex_unlock(&d->reg_lock);
        pthread_mutex_unlock(&d->writer_lock);
    }
    pthread_mutex_unlock(&all_domains_lock);
}

/* The child has one thread, the one that took every lock in prepare: keep
 * its records, drop the others (their threads do not exist here), renew
 * what belongs to the process, and unlock (re-initialising a locked mutex
 * is undefined).  It comes back online in domains_leave(), where it was
 * online before (its records survived). */
static void domains_child(void)
{
    for (cmodx_domain *d = all_domains; d; d = d->all_next) {
        threads_after_fork(d);
        fences_after_fork(d);
        reclaim_after_fork(d);
        pthread_mutex_unlock(&d->reg_lock);
        pthread_mutex_unlock(&d->writer_lock);
    }
    pthread_mutex_unlock(&all_domains_lock);
}

static const struct fork_steps domain_fork_steps = {domains_prepare, domains_parent,
                                                    domains_child, domains_enter,
                                                    domains_leave};

/* The list lock is held by a forking thread while it waits for every
 * domain's writer lock, and a writer may hold one of those while it waits
 * for the caller: parked meanwhile (src/thread/thread.c, the lock rule). */
static void domain_list_add(cmodx_domain *d)
{
    fork_register(FORK_STAGE_DOMAINS, &domain_fork_steps);
    thread_park();
    pthread_mutex_lock(&all_domains_lock);
    d->all_next = all_domains;
    all_domains = d;
    pthread_mutex_unlock(&all_domains_lock);
    thread_unpark();
}

static void domain_list_remove(cmodx_domain *d)
{
    thread_park(); /* as domain_list_add() */
    pthread_mutex_lock(&all_domains_lock);
    for (cmodx_domain **p = &all_domains; *p; p = &(*p)->all_next)
        if (*p == d) {
            *p = d->all_next;
            break;
        }
    pthread_mutex_unlock(&all_domains_lock);
    thread_unpark();
}

/* ---- creation and destruction ------------------------------------------------------ */

int cmodx_domain_create(const struct cmodx_domain_config *cfg, cmodx_domain **out)
{
    if (fork_unusable_quiet())
        return fork_unusable("cmodx_domain_create");
    if (!out)
        return cmodx_fail(EINVAL, "cmodx_domain_create: NULL out");
    *out = NULL; /* defined and unusable until success */
    struct cmodx_domain_config def = {0};
    if (!cfg)
        cfg = &def;
    if (!strategy_known(cfg->strategy))
        return cmodx_fail(EINVAL, "cmodx_domain_create: unknown strategy %d", (int)cfg->strategy);
    if (cfg->flags & ~(unsigned)CMODX_DOMAIN_SYMMETRIC_FENCES)
        return cmodx_fail(EINVAL, "cmodx_domain_create: unknown flags 0x%x", cfg->flags);
    cmodx_domain *d = aligned_alloc(CACHE_ALIGN, (sizeof *d + CACHE_ALIGN - 1) / CACHE_ALIGN *
                                                     CACHE_ALIGN);
    if (!d)
        return cmodx_fail(ENOMEM, "cmodx_domain_create: out of memory");
    memset(d, 0, sizeof *d);
    pthread_mutex_init(&d->writer_lock, NULL);
    pthread_mutex_init(&d->reg_lock, NULL);
    d->gp_seq = 1;
    d->epoch = 1;
    d->heap = cfg->heap;
    d->retired_limit = cfg->retired_limit_bytes ? cfg->retired_limit_bytes : (size_t)16 << 20;
    d->grace_timeout_ms = cfg->grace_timeout_ms ? cfg->grace_timeout_ms : 10000;
    d->retired_tail = &d->retired_head;
    d->symmetric_fences = (cfg->flags & CMODX_DOMAIN_SYMMETRIC_FENCES) != 0;
    int err = strategy_select(d, cfg);
    if (err) {
        pthread_mutex_destroy(&d->writer_lock);
        pthread_mutex_destroy(&d->reg_lock);
        free(d);
        return err;
    }
    /* The thread layer calls the strategy through these hooks only. */
    d->thread_init = d->ops->thread_init;
    d->thread_fini = d->ops->thread_fini;
    /* Retired blocks go back to the heap: it must outlive the domain
     * (cmodx_heap_destroy() refuses with EBUSY until we release it). */
    if (d->heap)
        heap_hold(d->heap);
    domain_list_add(d);
    *out = d;
    return 0;
}

/* Why DESTROY must refuse, with the count named, or 0 if nothing keeps D
 * alive.  Under D's writer lock (the caller is parked: the lock rule). */
static int destroy_refusal(cmodx_domain *d, struct thread_rec *self)
{
    size_t batches = __atomic_load_n(&d->open_batches, __ATOMIC_ACQUIRE);
    if (batches)
        return cmodx_fail(EBUSY, "cmodx_domain_destroy: %zu batch(es) of this domain still "
                          "open (commit or abort them first)", batches);
    pthread_mutex_lock(&d->reg_lock);
    size_t others = d->nthreads - (self ? 1 : 0);
    pthread_mutex_unlock(&d->reg_lock);
    if (others)
        return cmodx_fail(EBUSY, "cmodx_domain_destroy: %zu other thread(s) still registered",
                          others);
    /* The caller's slots: a later publish or fini of one would use the
     * freed domain.  The function entries' own slots are the library's
     * (entries_release() below lets them go). */
    size_t slots = d->nslots - entries_slots(d);
    if (slots && !MUTANT(destroy_live_slots))
        return cmodx_fail(EBUSY, "cmodx_domain_destroy: %zu slot(s) of this domain still "
                          "initialised (cmodx_slot_fini them first)", slots);
    return 0;
}

int cmodx_domain_destroy(cmodx_domain *d)
{
    if (fork_unusable_quiet())
        return fork_unusable("cmodx_domain_destroy");
    if (!d)
        return 0;
    /* The call that runs the hook still uses D after the hook returns. */
    if (reclaim_in_free_hook(d))
        return cmodx_fail(EDEADLK, "cmodx_domain_destroy: called from the domain's own free "
                          "hook, inside a call that still uses the domain");
    struct thread_rec *self = thread_find(d);
    /* Parked for the whole call (offline in every domain, cancellation
     * disabled): every lock below (the writer lock, the thread list lock,
     * the patch lock, the list of domains) may be held by a writer that
     * waits for other threads, the list lock by a signal writer for up to
     * its timeout (src/thread/thread.c, the lock rule). */
    thread_park();
    /* Every check before anything changes, so that a refused destroy
     * leaves the domain as it was.  Under the writer lock: the counts are
     * changed under it (slot init and fini, registration). */
    struct thread_rec *w = writer_enter(d);
    int err = destroy_refusal(d, self);
    writer_leave(d, w);
    /* Functions redirected through D keep calling through its slots. */
    if (!err && entries_release(d))
        err = cmodx_fail(EBUSY, "cmodx_domain_destroy: a function entry is still redirected "
                         "through this domain (cmodx_entry_restore it first)");
    if (err) {
        thread_unpark();
        return err;
    }
    if (self)
        cmodx_thread_unregister(d);
    /* A thread that unregistered (or is exiting) may still be freeing its
     * record, which reads the domain: let it finish. */
    threads_wait_leaving(d);
    /* What is left of the initialised slots are the restored function
     * entries' (a live caller's slot was refused above): forgotten, so
     * that a later redirection by another domain adopts them (src/patch/
     * entry.c). */
    w = writer_enter(d);
    slots_forget(d);
    writer_leave(d, w);
    reclaim_teardown(d);
    refs_free(d);
    if (d->heap)
        heap_release(d->heap);
    domain_list_remove(d);
    if (d->ops->teardown)
        d->ops->teardown(d);
    pthread_mutex_destroy(&d->writer_lock);
    pthread_mutex_destroy(&d->reg_lock);
    free(d);
    thread_unpark(); /* back online in the caller's other domains */
    return 0;
}

enum cmodx_strategy cmodx_domain_strategy(const cmodx_domain *d)
{
    return d ? d->strategy : CMODX_SYNC_AUTO;
}
