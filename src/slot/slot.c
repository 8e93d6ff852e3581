/*
 * src/slot/slot.c - slots: initialisation and release.  What a strategy
 * attaches to a slot (the trampoline's id and stub) is its slot_init and
 * slot_fini operations; publishing is in publish.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "base/base.h"
#include "slot/publish.h"
#include "strategy/strategy.h"
#include "thread/reclaim.h"
#include "thread/refs.h"
#include "thread/thread.h"

/* ---- slots ------------------------------------------------------------------------------ */

/* A slot's proof of initialisation: a function of its own address and its
 * domain's, so that a zeroed slot, a slot whose init failed, a finished
 * slot, garbage and a slot copied elsewhere are all told apart from an
 * initialised one without following the DOMAIN pointer.  Never 0. */
static uint32_t slot_tag(const cmodx_slot *s, const cmodx_domain *d)
{
    uint64_t v = (uint64_t)(uintptr_t)s * 0x9e3779b97f4a7c15u ^ (uint64_t)(uintptr_t)d;
    uint32_t tag = (uint32_t)(v >> 32) ^ (uint32_t)v ^ 0x5107c0deu;
    return tag ? tag : 1;
}

int slot_valid(const cmodx_slot *s)
{
    return s && s->domain && s->reserved == slot_tag(s, s->domain);
}

int slot_init_locked(cmodx_domain *d, cmodx_slot *s, cmodx_xptr initial)
{
    memset(s, 0, sizeof *s); /* unusable (publish: EINVAL) unless we succeed */
    cmodx_xptr block = {NULL};
    size_t size = 0;
    int err = code_check(d, "cmodx_slot_init", initial, 0, &block, &size);
    if (!err && block.ptr)
        err = refs_reserve(d, 1);
    if (err)
        return err;
    s->domain = d;
    __atomic_store_n(&s->target, initial.ptr, __ATOMIC_RELEASE);
    if (d->ops->slot_init && (err = d->ops->slot_init(d, s)) != 0) {
        /* The mutant leaves the half-made slot usable, as it once was:
         * a publish into it then switches another slot's copies. */
        if (MUTANT(failed_slot_init_usable))
            s->reserved = slot_tag(s, d);
        else
            memset(s, 0, sizeof *s);
        return err;
    }
    if (block.ptr)
        refs_add(d, block);
    s->reserved = slot_tag(s, d);
    return 0;
}

int cmodx_slot_init(cmodx_domain *d, cmodx_slot *s, cmodx_xptr initial)
{
    if (!s)
        return cmodx_fail(EINVAL, "cmodx_slot_init: NULL slot");
    if ((uintptr_t)s % _Alignof(void *))
        return cmodx_fail(EINVAL, "cmodx_slot_init: slot %p is not pointer-aligned", (void *)s);
    memset(s, 0, sizeof *s);
    if (!d || !initial.ptr)
        return cmodx_fail(EINVAL, "cmodx_slot_init: NULL %s", !d ? "domain" : "initial target");
    /* Under the writer lock (the block counts, the trampoline's ids), and
     * offline meanwhile, as every writer-side call (thread.c). */
    struct thread_rec *t = writer_enter(d);
    int err = slot_init_locked(d, s, initial);
    writer_leave(d, t);
    return err;
}

void cmodx_slot_fini(cmodx_slot *s)
{
    if (!slot_valid(s))
        return; /* never initialised, init failed, or finished already */
    cmodx_domain *d = s->domain;
    struct thread_rec *t = writer_enter(d);
    slot_fini_locked(s);
    writer_leave(d, t);
}

void slot_fini_locked(cmodx_slot *s)
{
    if (!slot_valid(s))
        return;
    cmodx_domain *d = s->domain;
    if (d->ops->slot_fini)
        d->ops->slot_fini(d, s);
    /* The slot no longer targets its block: a block that CMODX_RETIRE_OLD
     * left to be retired once no slot targets it is retired now. */
    cmodx_xptr block = slot_block_of(d, __atomic_load_n(&s->target, __ATOMIC_RELAXED));
    if (block.ptr)
        refs_drop(d, block);
    /* Only with a record in hand: without one (out of memory) the block
     * stays doomed in the counts, a live block of the heap at worst, never
     * lost between the counts and the queue. */
    if (block.ptr && reclaim_reserve_locked(d, 1) == 0 && refs_take_doomed(d, block) &&
        reclaim_retire_locked(d, block, 0) == 0)
        reclaim_advance_locked(d, 0);
    s->domain = NULL;
    s->stub = NULL;
    s->id = 0;
    s->reserved = 0;
}
