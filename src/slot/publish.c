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
#include "thread/refs.h"
#include "thread/thread.h"

/* An upper bound on what the publish retires, for the retired-memory
 * limit: the blocks that CMODX_RETIRE_OLD entries leave. */
static size_t retiring_bytes(cmodx_domain *d, const struct entry *e, size_t n)
{
    size_t total = 0;
    for (size_t i = 0; d->heap && i < n; i++)
        if (e[i].flags & CMODX_RETIRE_OLD) {
            const void *old = __atomic_load_n(&e[i].slot->target, __ATOMIC_RELAXED);
            size_t size = 0;
            if (heap_find_block(d->heap, old, 0, NULL, &size) == HEAP_LIVE)
                total += size;
        }
    return total;
}

cmodx_xptr slot_block_of(cmodx_domain *d, const void *x)
{
    cmodx_xptr start = {x};
    /* Most targets are a block's start, and a slot's target is counted:
     * found in the counts, no heap lookup (and no heap lock) is needed. */
    if (!d->heap || refs_of(d, start))
        return d->heap ? start : (cmodx_xptr){NULL};
    if (heap_find_block(d->heap, x, 0, &start, NULL) != HEAP_LIVE)
        start.ptr = NULL;
    return start;
}

int code_check(cmodx_domain *d, const char *who, cmodx_xptr code, size_t len, cmodx_xptr *block,
               size_t *size, cmodx_xptr *any)
{
    block->ptr = NULL;
    any->ptr = NULL;
    *size = 0;
    /* A range that wraps the address space is no code at all: outside every
     * heap, it would pass as static code with no maintenance done (as
     * cmodx_make_visible refuses it). */
    if ((uintptr_t)code.ptr + len < (uintptr_t)code.ptr)
        return cmodx_fail(EINVAL, "%s: %zu bytes at %p wrap around the address space", who, len,
                          code.ptr);
    /* The domain's heap first: its blocks are counted.  Then every other
     * heap of the process: their blocks are checked, not counted. */
    const char *which = "the domain's heap";
    enum heap_where where = d->heap ? heap_find_block(d->heap, code.ptr, len, block, size)
                                    : HEAP_OUTSIDE;
    if (where == HEAP_OUTSIDE) {
        cmodx_xptr other;
        where = heap_find_in_any(code.ptr, len, d->heap, &other, size);
        which = "a code heap";
        if (where != HEAP_LIVE) {
            block->ptr = other.ptr; /* for the messages */
        } else {
            *any = other; /* another heap's live block: not counted by D */
            return 0;
        }
    }
    switch (where) {
    case HEAP_OUTSIDE:
        block->ptr = NULL; /* static code: not counted */
        return 0;
    case HEAP_LIVE:
        *any = *block;
        return 0;
    case HEAP_WRITE_VIEW:
        return cmodx_fail(EINVAL, "%s: %p is in the write view of %s; slots target "
                          "execute-view addresses (cmodx_block's exec)", who, code.ptr, which);
    case HEAP_NOT_LIVE:
        return cmodx_fail(EINVAL, "%s: %p is free space of %s, not inside a live block", who,
                          code.ptr, which);
    case HEAP_PENDING:
        return cmodx_fail(EINVAL, "%s: %p is inside the block at %p, which is retired and "
                          "waits to be freed", who, code.ptr, block->ptr);
    case HEAP_PAST_END:
        return cmodx_fail(EINVAL, "%s: %zu bytes at %p run past the end of their %zu-byte "
                          "block at %p", who, len, code.ptr, *size, block->ptr);
    }
    return cmodx_fail(EINVAL, "%s: %p: unknown heap answer", who, code.ptr);
}

int recheck_live(cmodx_domain *d, const char *who, const struct entry *e, size_t n)
{
    /* Another domain retires into D's heap only if it holds the heap too
     * (heap_hold), and a domain holding it from now on counts our blocks
     * already (its retirement reads the index after this check). */
    int shared = d->heap && heap_users(d->heap) > 1;
    const void *last = NULL;
    for (size_t i = 0; i < n; i++) {
        const void *t = e[i].tblock.ptr;
        if (!t || t == last || (!shared && t == e[i].block.ptr))
            continue;
        cmodx_xptr start = {NULL};
        enum heap_where w = t == e[i].block.ptr
                                ? heap_find_block(d->heap, t, 0, &start, NULL)
                                : heap_find_in_any(t, 0, d->heap, &start, NULL);
        if (w != HEAP_LIVE || start.ptr != t)
            return cmodx_fail(EINVAL, "%s: the block at %p was retired or freed meanwhile (by "
                              "another domain, or its heap's owner)", who, t);
        last = t;
    }
    return 0;
}

int publish_validate(cmodx_domain *d, struct entry *e, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!slot_valid(e[i].slot) || e[i].slot->domain != d)
            return cmodx_fail(EINVAL, "publish: slot %p is not initialised for this domain "
                              "(never initialised, its init failed, or finished)",
                              (void *)e[i].slot);
        if (!e[i].code.ptr || !e[i].len)
            return cmodx_fail(EINVAL, "publish: empty code for slot %p", (void *)e[i].slot);
        if (e[i].flags & ~(unsigned)CMODX_RETIRE_OLD)
            return cmodx_fail(EINVAL, "publish: unknown flags 0x%x", e[i].flags);
        if ((e[i].flags & CMODX_RETIRE_OLD) && !d->heap)
            return cmodx_fail(EINVAL, "publish: CMODX_RETIRE_OLD needs a domain with a heap");
        int err = code_check(d, "publish", e[i].code, e[i].len, &e[i].block, &e[i].block_size,
                             &e[i].tblock);
        if (err)
            return err;
    }
    return 0;
}

/* After the switches: retire the blocks that CMODX_RETIRE_OLD left and
 * that no slot of the domain targets any more (refs.c), each once.  A
 * block still targeted by another slot is retired when the last one
 * leaves it (a later publish or cmodx_slot_fini). */
static void retire_left(cmodx_domain *d, const struct entry *e, size_t n)
{
    /* Only the blocks a switch left doomed and unreferenced, and those a
     * CMODX_RETIRE_OLD entry left (refs_take_doomed checks the count
     * again: a later switch of the batch may have returned to the block):
     * no lookup for the others. */
    for (size_t i = 0; d->heap && i < n; i++)
        if (e[i].prev_block.ptr && (e[i].prev_doomed || (e[i].flags & CMODX_RETIRE_OLD)) &&
            refs_take_doomed(d, e[i].prev_block))
            reclaim_retire_locked(d, e[i].prev_block, 0); /* a reserved record
                                                           * (publish_commit_locked);
                                                           * EINVAL: retired already */
}

int publish_commit_locked(cmodx_domain *d, struct entry *e, size_t n, cmodx_xptr *old)
{
    int err = publish_validate(d, e, n);
    /* Room to count every new block, and a record for every old block
     * CMODX_RETIRE_OLD may retire, so nothing fails after a switch (a
     * failed retirement there would leave the old block neither queued
     * nor freed, silently). */
    if (!err && d->heap)
        err = refs_reserve(d, n);
    if (!err && d->heap)
        err = reclaim_reserve_locked(d, n);
    if (!err)
        err = reclaim_make_room_locked(d, retiring_bytes(d, e, n));
    /* Every new block counted as targeted before the first switch (a
     * block_free or another domain's retirement meanwhile is refused). */
    int counted = !err && (err = slots_count_new(e, n)) == 0;
    if (counted)
        err = recheck_live(d, "publish", e, n);
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
    if (err) {
        if (counted)
            slots_uncount_new(e, n);
        return err; /* nothing switched */
    }
    /* The counts' table is a hash table: each switch below looks up two
     * entries (the new block's and the old one's), at addresses unrelated
     * to the last ones, so in a large batch each would miss the cache.
     * Ask for them a few switches ahead. */
    enum { AHEAD = 8 };
    for (size_t i = 0; d->heap && i < n && i < AHEAD; i++) {
        refs_prefetch(d, e[i].block.ptr);
        refs_prefetch(d, __atomic_load_n(&e[i].slot->target, __ATOMIC_RELAXED));
    }
    for (size_t i = 0; i < n; i++) {
        if (d->heap && i + AHEAD < n) {
            refs_prefetch(d, e[i + AHEAD].block.ptr);
            refs_prefetch(d, __atomic_load_n(&e[i + AHEAD].slot->target, __ATOMIC_RELAXED));
        }
        const void *prev = __atomic_load_n(&e[i].slot->target, __ATOMIC_RELAXED);
        /* Release: pairs with the epoch caller's acquire load, and orders
         * the code bytes before the pointer for any data-side reader. */
        __atomic_store_n(&e[i].slot->target, e[i].code.ptr, __ATOMIC_RELEASE);
        if (d->ops->after_switch)
            d->ops->after_switch(d, e[i].slot);
        if (old)
            old[i].ptr = prev;
        e[i].prev = prev;
        /* The counts follow the switch: the new block gains a slot, the
         * old one loses it, and with CMODX_RETIRE_OLD the old block (the
         * one holding the old target, which may be an entry point inside
         * it) is to be retired once no slot targets it.  Not when the new
         * target lies in the same block. */
        if (e[i].block.ptr)
            refs_add(d, e[i].block);
        /* The old target is usually a counted block's start: one lookup
         * finds, dooms and drops it.  Else (an entry point inside a
         * block, or code outside the table) the heap names the block. */
        int retire_old = (e[i].flags & CMODX_RETIRE_OLD) != 0;
        e[i].prev_block.ptr = NULL;
        e[i].prev_doomed = 0;
        int left = d->heap ? refs_leave(d, (cmodx_xptr){prev}, retire_old && prev != e[i].block.ptr)
                           : -1;
        if (left >= 0) {
            e[i].prev_block.ptr = prev;
        } else {
            e[i].prev_block = slot_block_of(d, prev);
            if (e[i].prev_block.ptr)
                left = refs_leave(d, e[i].prev_block,
                                  retire_old && e[i].prev_block.ptr != e[i].block.ptr);
        }
        e[i].prev_doomed = left > 0;
    }
    /* The old blocks lose their slots in the index before any of them is
     * retired (heap_block_retire asks it). */
    slots_count_switched(e, n);
    retire_left(d, e, n);
    d->stats.publishes += n;
    reclaim_advance_locked(d, d->ops->fences_on_publish);
    return 0;
}

int cmodx_slot_publish(cmodx_slot *slot, cmodx_xptr code, size_t len, unsigned flags,
                       cmodx_xptr *old)
{
    if (fork_unusable_quiet())
        return fork_unusable("cmodx_slot_publish");
    if (old)
        old->ptr = NULL; /* defined until success */
    if (!slot_valid(slot))
        return cmodx_fail(EINVAL, "cmodx_slot_publish: slot %p not initialised (never "
                          "initialised, its init failed, or finished)", (void *)slot);
    cmodx_domain *d = slot->domain;
    struct entry e = {slot, code, len, flags, {NULL}, 0, NULL, {NULL}, 0, {NULL}};
    struct thread_rec *t = writer_enter(d);
    int err = publish_commit_locked(d, &e, 1, old);
    writer_leave(d, t);
    return err;
}

int cmodx_sync_others(cmodx_domain *d)
{
    if (fork_unusable_quiet())
        return fork_unusable("cmodx_sync_others");
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
