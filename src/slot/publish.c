/*
 * src/slot/publish.c - the publish protocol: single publishes, batches
 * (batch.c) and cmodx_sync_others all end here.
 *
 * The protocol (one batch; a single publish is a batch of one):
 *   1. every new block is made visible to instruction fetch (arch layer),
 *      then the writer context-synchronises once;
 *   2. ONE cross-thread synchronisation covers all of them (the domain's
 *      strategy, ops->before_switch: src/strategy/);
 *   3. every slot is switched with a release store;
 *   4. the strategy's after_switch for each slot (trampoline: every
 *      thread's copy is pointed at the slot's stub, which synchronises
 *      that thread on its next call);
 *   5. replaced blocks are retired (src/thread/reclaim.c).
 * Steps 1-2 can fail; they come before any switch, so a failure switches
 * nothing.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>

#include "arch/arch.h"
#include "base/base.h"
#include "heap/heap.h"
#include "slot/publish.h"
#include "strategy/strategy.h"
#include "thread/reclaim.h"
#include "thread/thread.h"

static size_t retiring_bytes(cmodx_domain *d, const struct entry *e, size_t n)
{
    size_t total = 0;
    for (size_t i = 0; d->heap && i < n; i++)
        if (e[i].flags & CMODX_RETIRE_OLD) {
            cmodx_xptr old = {__atomic_load_n(&e[i].slot->target, __ATOMIC_RELAXED)};
            total += heap_live_block_size(d->heap, old);
        }
    return total;
}

int publish_validate(cmodx_domain *d, const struct entry *e, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!e[i].slot || e[i].slot->domain != d)
            return cmodx_fail(EINVAL, "publish: slot %p is not initialised for this domain",
                              (void *)e[i].slot);
        if (!e[i].code.ptr || !e[i].len)
            return cmodx_fail(EINVAL, "publish: empty code for slot %p", (void *)e[i].slot);
        if (e[i].flags & ~(unsigned)CMODX_RETIRE_OLD)
            return cmodx_fail(EINVAL, "publish: unknown flags 0x%x", e[i].flags);
        if ((e[i].flags & CMODX_RETIRE_OLD) && !d->heap)
            return cmodx_fail(EINVAL, "publish: CMODX_RETIRE_OLD needs a domain with a heap");
    }
    return 0;
}

int publish_commit_locked(cmodx_domain *d, const struct entry *e, size_t n, cmodx_xptr *old)
{
    int err = publish_validate(d, e, n);
    if (!err)
        err = reclaim_make_room_locked(d, retiring_bytes(d, e, n));
    /* Maintenance per block; the writer's own context synchronisation
     * once for the whole batch. */
    for (size_t i = 0; i < n && !err; i++) {
        uintptr_t b = (uintptr_t)e[i].code.ptr;
        err = arch_make_visible_nosync(b, b + e[i].len);
        if (err)
            err = cmodx_fail(err, "publish: cache maintenance failed: %s", strerror(err));
    }
    if (!err && !MUTANT(no_writer_isb))
        arch_context_sync();
    if (!err)
        err = strategy_before_switch(d);
    if (err)
        return err; /* nothing switched */
    for (size_t i = 0; i < n; i++) {
        const void *prev = __atomic_load_n(&e[i].slot->target, __ATOMIC_RELAXED);
        /* Release: pairs with the epoch caller's acquire load, and orders
         * the code bytes before the pointer for any data-side reader. */
        __atomic_store_n(&e[i].slot->target, e[i].code.ptr, __ATOMIC_RELEASE);
        if (d->ops->after_switch)
            d->ops->after_switch(d, e[i].slot);
        if (old)
            old[i].ptr = prev;
        if ((e[i].flags & CMODX_RETIRE_OLD) && prev != e[i].code.ptr) {
            cmodx_xptr p = {prev};
            if (heap_live_block_size(d->heap, p))
                reclaim_retire_locked(d, p, 0);
        }
    }
    d->stats.publishes += n;
    reclaim_advance_locked(d, d->ops->fences_on_publish);
    return 0;
}

int cmodx_slot_publish(cmodx_slot *slot, cmodx_xptr code, size_t len, unsigned flags,
                       cmodx_xptr *old)
{
    if (!slot || !slot->domain)
        return cmodx_fail(EINVAL, "cmodx_slot_publish: slot not initialised");
    cmodx_domain *d = slot->domain;
    struct entry e = {slot, code, len, flags};
    struct thread_rec *t = writer_enter(d);
    int err = publish_commit_locked(d, &e, 1, old);
    writer_leave(d, t);
    return err;
}

int cmodx_sync_others(cmodx_domain *d)
{
    if (!d)
        return cmodx_fail(EINVAL, "cmodx_sync_others: NULL domain");
    /* Parked: the lock may be held by a writer waiting for this thread,
     * and the strategy's step may wait for the others (thread.c). */
    struct thread_rec *t = writer_enter(d);
    int err = strategy_before_switch(d);
    if (!err && d->ops->after_sync_all)
        d->ops->after_sync_all(d);
    writer_leave(d, t);
    return err;
}
