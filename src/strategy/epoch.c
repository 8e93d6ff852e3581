/*
 * src/strategy/epoch.c - the epoch strategy.
 *
 * Guarantee: a caller that runs a target it loaded from a slot has
 * context-synchronised after that target's cache maintenance completed.
 * The writer pays one atomic increment; each caller pays one load and
 * compare per call, and one context synchronisation per publish it sees.
 *
 * Ordering: the writer's maintenance completes (DSB ISH / system call)
 * before before_switch increments the domain's epoch with release order;
 * the slot's release store comes after.  A caller loads the slot with
 * acquire (cmodx_slot_target_epoch, include/cmodx/slot.h), then the
 * epoch: if it loaded a new target it sees the new epoch (or a later
 * one), differs from the epoch it last synchronised at, and calls
 * cmodx_epoch_resync(), which executes the context-synchronising
 * instruction before the caller branches to the target.
 */
#include "arch/arch.h"
#include "base/base.h"
#include "strategy/strategy.h"
#include "thread/thread.h"

static int epoch_before_switch(cmodx_domain *d)
{
    /* Release: the maintenance (completed by its DSB) is ordered before
     * the new epoch; the slot store that follows is ordered after it.
     * Callers pair with cmodx_slot_target_epoch(). */
    if (!MUTANT(no_epoch_bump))
        __atomic_add_fetch(&d->epoch, 1, __ATOMIC_RELEASE);
    return 0;
}

void cmodx_epoch_resync(cmodx_thread *self, uint64_t epoch)
{
    if (!self)
        return; /* no record: nothing to remember (and no error: hot path) */
    /* The caller loaded the slot (acquire) and then saw EPOCH: the code of
     * any target it loaded was made visible before EPOCH was published.
     * Synchronise before calling it, and remember. */
    if (!MUTANT(no_epoch_check))
        arch_context_sync();
    self->fast.seen_epoch = epoch;
}

const struct strategy_ops strategy_epoch = {
    .id = CMODX_SYNC_EPOCH,
    .name = "epoch",
    .before_switch = epoch_before_switch,
};
