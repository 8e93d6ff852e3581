/*
 * src/strategy/trampoline.c - the trampoline strategy: per-thread copies
 * of every slot, redirected through a synchronising stub.
 *
 * Guarantee: a thread calls a slot's new target only after it has
 * context-synchronised after that target's maintenance, and it pays that
 * synchronisation once per publish of a slot it calls, not per call.  The
 * writer pays a store per registered thread per switched slot.
 *
 * Each registered thread has its own copy of every slot (a directory of
 * pages of CMODX_TRAMPOLINE_PAGE pointers); callers load the target from
 * their copy with a plain load (cmodx_slot_target_trampoline,
 * include/cmodx/slot.h).  Each slot id has a fixed stub in the domain's
 * stub block, written once when the domain is created (before any thread
 * can register, and every thread context-synchronises when it registers).
 * The stub loads the address of its own literal pair {domain, id} into a
 * scratch register and jumps to the architecture's common stub
 * (src/arch/<arch>-stub.S), which saves the argument registers and calls
 * tramp_resync() (its address is the stub's last literal).
 *
 * Ordering: after the slot's release store, after_switch points every
 * thread's copy at the slot's stub with release stores.  A thread that
 * loads its copy either gets the stub, which resynchronises it (see
 * tramp_resync for its order), or a target it installed itself
 * after its own synchronisation.  A thread that registers later starts
 * with every copy at its stub.
 *
 * The stub resolves through a per-id target cell of the domain
 * (tramp_targets), which every switch updates before the copies are
 * redirected, never through the caller's slot: a thread may be inside a
 * stub when the slot is finished (its caller loaded the slot's id and its
 * copy before), and the slot's memory is the caller's after
 * cmodx_slot_fini.
 *
 * Ids after cmodx_slot_fini (the rule, docs/STRATEGIES.md): a thread that
 * was inside a call through the slot when it was finished (in the stub,
 * or about to load its copy) runs the slot's LAST target, never code of
 * another slot.  So the id is not reused at once: its cell keeps the last
 * target, and the id waits (tramp_pend_*) until a grace period begun after
 * the fini has completed: every thread has since passed a quiescent
 * state, outside any call through the finished slot.  cmodx_slot_init
 * takes a free id first, then a never used one, and only then waits, under
 * its writer lock and parked (bounded by grace_timeout_ms: ETIMEDOUT), for
 * the oldest finished id's grace period.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "arch/arch.h"
#include "base/base.h"
#include "cmodx/error.h"
#include "heap/heap.h"
#include "strategy/strategy.h"
#include "thread/reclaim.h"
#include "thread/thread.h"

#define DEFAULT_TRAMPOLINE_SLOTS 4096u
/* The most slots a domain may ask for: 2^20 (stubs of 16-40 bytes: at most
 * 40 MiB of stubs, and as many copies per registered thread).  Larger
 * values would wrap the rounding to whole copy pages. */
#define MAX_TRAMPOLINE_SLOTS (1u << 20)

/* ---- stubs ---------------------------------------------------------------- */

/* The start of each stub's literals (src/arch/arch.h gives the rest). */
struct tramp_lit {
    cmodx_domain *domain;
    uintptr_t id;
};

static const void *tramp_resync(const void *literals);

static const void *stub_of(cmodx_domain *d, uint32_t id)
{
    return (const char *)d->stub_block.exec.ptr + (size_t)id * d->stub_size;
}

static int tramp_setup(cmodx_domain *d, const struct cmodx_domain_config *cfg)
{
    if (cfg->max_trampoline_slots > MAX_TRAMPOLINE_SLOTS)
        return cmodx_fail(EINVAL, "cmodx_domain_create: max_trampoline_slots %u above the "
                          "maximum %u", cfg->max_trampoline_slots, MAX_TRAMPOLINE_SLOTS);
    uint32_t cap = cfg->max_trampoline_slots ? cfg->max_trampoline_slots
                                             : DEFAULT_TRAMPOLINE_SLOTS;
    d->tramp_capacity = (cap + CMODX_TRAMPOLINE_PAGE - 1) / CMODX_TRAMPOLINE_PAGE *
                        CMODX_TRAMPOLINE_PAGE;
    d->stub_size = arch_tramp_stub_size();
    d->tramp_slots = calloc(d->tramp_capacity, sizeof *d->tramp_slots);
    d->tramp_free_ids = calloc(d->tramp_capacity, sizeof *d->tramp_free_ids);
    d->tramp_targets = calloc(d->tramp_capacity, sizeof *d->tramp_targets);
    d->tramp_pend_ids = calloc(d->tramp_capacity, sizeof *d->tramp_pend_ids);
    d->tramp_pend_seq = calloc(d->tramp_capacity, sizeof *d->tramp_pend_seq);
    if (!d->tramp_slots || !d->tramp_free_ids || !d->tramp_targets || !d->tramp_pend_ids ||
        !d->tramp_pend_seq)
        return cmodx_fail(ENOMEM, "trampoline: out of memory");
    /* The stubs' own heap takes the domain's heap's flags, so that a
     * program whose heap may fall back to a temporary file (no memfd)
     * gets the same fallback here. */
    struct cmodx_heap_config hc = {.flags = d->heap ? heap_flags(d->heap) : 0};
    int err = cmodx_heap_create(&hc, &d->stub_heap);
    if (err && (err == ENOSYS || err == EPERM) && !(hc.flags & CMODX_HEAP_ALLOW_TMPFILE)) {
        char why[160];
        snprintf(why, sizeof why, "%s", cmodx_last_error()); /* cmodx_fail rewrites it */
        return cmodx_fail(err, "trampoline: cannot create the stubs' heap (%s): give the "
                          "domain a heap created with CMODX_HEAP_ALLOW_TMPFILE (the stubs' "
                          "heap takes its flags)", why);
    }
    if (!err)
        err = cmodx_block_alloc(d->stub_heap, (size_t)d->tramp_capacity * d->stub_size,
                                &d->stub_block);
    if (err)
        return err;
    for (uint32_t id = 0; id < d->tramp_capacity; id++) {
        char *w = (char *)d->stub_block.write.ptr + (size_t)id * d->stub_size;
        arch_emit_tramp_stub(w, d, id, tramp_resync);
    }
    uintptr_t x0 = (uintptr_t)d->stub_block.exec.ptr;
    err = arch_make_visible(x0, x0 + (size_t)d->tramp_capacity * d->stub_size);
    if (err)
        return cmodx_fail(err, "trampoline: publishing the stubs failed");
    return 0;
}

static void tramp_teardown(cmodx_domain *d)
{
    cmodx_heap_destroy(d->stub_heap);
    d->stub_heap = NULL;
    free(d->tramp_slots);
    free(d->tramp_free_ids);
    free(d->tramp_targets);
    free(d->tramp_pend_ids);
    free(d->tramp_pend_seq);
    d->tramp_slots = NULL;
    d->tramp_free_ids = NULL;
    d->tramp_targets = NULL;
    d->tramp_pend_ids = NULL;
    d->tramp_pend_seq = NULL;
}

/* ---- threads' copies ---------------------------------------------------------- */

/* A registering thread's copies: every existing slot starts at its stub,
 * so the thread's first call through it synchronises. */
static int tramp_thread_init(cmodx_domain *d, struct thread_rec *t)
{
    uint32_t pages = d->tramp_capacity / CMODX_TRAMPOLINE_PAGE;
    t->copies_dir = calloc(pages, sizeof *t->copies_dir);
    if (!t->copies_dir)
        return cmodx_fail(ENOMEM, "cmodx_thread_register: out of memory for trampoline copies");
    t->pub.fast.copies = (const void *const *const *)t->copies_dir;
    for (uint32_t p = 0; p < pages; p++) {
        t->copies_dir[p] = calloc(CMODX_TRAMPOLINE_PAGE, sizeof(void *));
        if (!t->copies_dir[p])
            return cmodx_fail(ENOMEM, "cmodx_thread_register: out of memory for trampoline "
                              "copies");
        for (uint32_t i = 0; i < CMODX_TRAMPOLINE_PAGE; i++)
            t->copies_dir[p][i] = stub_of(d, p * CMODX_TRAMPOLINE_PAGE + i);
    }
    return 0;
}

/* The record is being freed: its copies go with it (also after a failed
 * init). */
static void tramp_thread_fini(cmodx_domain *d, struct thread_rec *t)
{
    if (!t->copies_dir)
        return;
    for (uint32_t i = 0; i < d->tramp_capacity / CMODX_TRAMPOLINE_PAGE; i++)
        free(t->copies_dir[i]);
    free(t->copies_dir);
    t->copies_dir = NULL;
}

static const void **copy_of(struct thread_rec *t, uint32_t id)
{
    return &t->copies_dir[id / CMODX_TRAMPOLINE_PAGE][id % CMODX_TRAMPOLINE_PAGE];
}

/* Writer, after the slot's release store: point every thread's copy at
 * the stub.  Release orders the slot store before each redirect, which
 * the stub's re-check relies on. */
static void tramp_redirect_all(cmodx_domain *d, cmodx_slot *s)
{
    /* The stub's cell first (release: after the slot's own store, which
     * came after the target's maintenance), then the copies. */
    __atomic_store_n(&d->tramp_targets[s->id], __atomic_load_n(&s->target, __ATOMIC_RELAXED),
                     __ATOMIC_RELEASE);
    if (MUTANT(no_trampoline_redirect))
        return;
    const void *stub = stub_of(d, s->id);
    pthread_mutex_lock(&d->reg_lock);
    for (struct thread_rec *t = d->threads; t; t = t->next)
        __atomic_store_n(copy_of(t, s->id), stub, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&d->reg_lock);
}

/*
 * Called by the common stub, in the calling thread, with the stub's
 * literal pair.  The order matters:
 *  - load the target with acquire: its maintenance completed (DSB) before
 *    the writer's release store of it;
 *  - THEN context-synchronise, so that fetches of the target come after;
 *  - repair this thread's copy only if it still holds the stub, and undo
 *    the repair if the writer switched the slot meanwhile (its redirect
 *    may have landed before our repair and been overwritten by it).
 */
static const void *tramp_resync(const void *literals)
{
    const struct tramp_lit *lit = literals;
    cmodx_domain *d = lit->domain;
    uint32_t id = (uint32_t)lit->id;
    /* The id's cell, not the slot: the slot may have been finished (and
     * its memory reused) since our caller loaded the id. */
    const void *target = __atomic_load_n(&d->tramp_targets[id], __ATOMIC_ACQUIRE);
    if (!MUTANT(no_trampoline_sync))
        arch_context_sync();
    struct thread_rec *t = thread_find(d);
    if (!t)
        return target;
    const void **copy = copy_of(t, id);
    const void *expected = stub_of(d, id);
    if (__atomic_compare_exchange_n(copy, &expected, target, 0, __ATOMIC_ACQ_REL,
                                    __ATOMIC_ACQUIRE) &&
        __atomic_load_n(&d->tramp_targets[id], __ATOMIC_ACQUIRE) != target) {
        expected = target;
        __atomic_compare_exchange_n(copy, &expected, stub_of(d, id), 0, __ATOMIC_ACQ_REL,
                                    __ATOMIC_RELAXED);
    }
    return target;
}

/* ---- slots ------------------------------------------------------------------ */

/* cmodx_slot_init, under the writer lock: give S an id and its stub, and
 * point every thread's copy of it at the stub. */
/* No id free nor fresh: wait (bounded) until a grace period begun after
 * the oldest finished id's fini has completed; that id, and every one
 * finished before the same mark, becomes free.  0, or ETIMEDOUT (the
 * laggard named) or a membarrier's errno, with nothing changed. */
static int tramp_reclaim_ids(cmodx_domain *d)
{
    uint64_t mark = d->tramp_pend_seq[d->tramp_pend_head];
    int err = reclaim_quiesced_since_locked(d, mark, "cmodx_slot_init (every trampoline id is "
                                            "in use or waits for a grace period after its "
                                            "cmodx_slot_fini)");
    if (err)
        return err;
    while (d->tramp_npend && d->tramp_pend_seq[d->tramp_pend_head] <= mark) {
        d->tramp_free_ids[d->tramp_nfree++] = d->tramp_pend_ids[d->tramp_pend_head];
        d->tramp_pend_head = (d->tramp_pend_head + 1) % d->tramp_capacity;
        d->tramp_npend--;
    }
    return 0;
}

static int tramp_slot_init(cmodx_domain *d, cmodx_slot *s)
{
    uint32_t id;
    if (!d->tramp_nfree && d->tramp_next_id >= d->tramp_capacity && d->tramp_npend) {
        int err = tramp_reclaim_ids(d);
        if (err)
            return err;
    }
    if (d->tramp_nfree) {
        id = d->tramp_free_ids[--d->tramp_nfree];
    } else if (d->tramp_next_id < d->tramp_capacity) {
        id = d->tramp_next_id++;
    } else {
        return cmodx_fail(ENOMEM, "cmodx_slot_init: all %u trampoline slots in use (raise "
                          "max_trampoline_slots)", d->tramp_capacity);
    }
    s->id = id;
    s->stub = stub_of(d, id);
    __atomic_store_n(&d->tramp_slots[id], s, __ATOMIC_RELEASE);
    tramp_redirect_all(d, s);
    return 0;
}

static void tramp_slot_fini(cmodx_domain *d, cmodx_slot *s)
{
    if (!s->stub)
        return;
    __atomic_store_n(&d->tramp_slots[s->id], NULL, __ATOMIC_RELEASE);
    /* The id's cell keeps the last target for threads still inside the
     * stub; the id waits for a grace period (the rule at the top).  The
     * mutant reuses it at once, as the library once did. */
    if (MUTANT(tramp_id_reuse_at_once)) {
        d->tramp_free_ids[d->tramp_nfree++] = s->id;
        return;
    }
    uint32_t tail = (d->tramp_pend_head + d->tramp_npend) % d->tramp_capacity;
    d->tramp_pend_ids[tail] = s->id;
    d->tramp_pend_seq[tail] = __atomic_load_n(&d->gp_seq, __ATOMIC_RELAXED);
    d->tramp_npend++;
}

/* cmodx_sync_others: every slot's copies back to its stub. */
static void tramp_after_sync_all(cmodx_domain *d)
{
    for (uint32_t id = 0; id < d->tramp_next_id; id++)
        if (d->tramp_slots[id])
            tramp_redirect_all(d, d->tramp_slots[id]);
}

const struct strategy_ops strategy_trampoline = {
    .id = CMODX_SYNC_TRAMPOLINE,
    .name = "trampoline",
    .setup = tramp_setup,
    .teardown = tramp_teardown,
    .thread_init = tramp_thread_init,
    .thread_fini = tramp_thread_fini,
    .slot_init = tramp_slot_init,
    .slot_fini = tramp_slot_fini,
    .after_switch = tramp_redirect_all,
    .after_sync_all = tramp_after_sync_all,
};
