/*
 * src/slot.c - domains, slots, publishing and batches, and the trampoline
 * strategy's per-thread copies.
 *
 * The publish protocol (one batch; a single publish is a batch of one):
 *   1. every new block is made visible to instruction fetch (arch layer);
 *   2. ONE cross-thread synchronisation (sync.c) covers all of them;
 *   3. every slot is switched with a release store;
 *   4. trampoline only: every thread's copy of each slot is pointed at the
 *      slot's stub, which synchronises that thread on its next call;
 *   5. replaced blocks are retired (reclaim.c).
 * Steps 1-2 can fail; they come before any switch, so a failure switches
 * nothing.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "arch/arch.h"
#include "domain.h"
#include "internal.h"

#define DEFAULT_TRAMPOLINE_SLOTS 4096u

/* ---- trampoline --------------------------------------------------------------
 * Each slot id has a fixed stub in the domain's stub block, written once
 * when the domain is created (before any thread can register, and every
 * thread context-synchronises when it registers).  The stub loads the
 * address of its own literal pair {domain, id} into a scratch register and
 * jumps to the architecture's common stub (src/arch/<arch>-stub.S), which
 * saves the argument registers and calls cmodx_tramp_resync(). */

struct tramp_lit {
    cmodx_domain *domain;
    uintptr_t id;
};

static const void *stub_of(cmodx_domain *d, uint32_t id)
{
    return (const char *)d->stub_block.exec.ptr + (size_t)id * d->stub_size;
}

int tramp_setup(cmodx_domain *d)
{
    d->stub_size = arch_tramp_stub_size();
    d->tramp_slots = calloc(d->tramp_capacity, sizeof *d->tramp_slots);
    d->tramp_free_ids = calloc(d->tramp_capacity, sizeof *d->tramp_free_ids);
    if (!d->tramp_slots || !d->tramp_free_ids)
        return cmodx_fail(ENOMEM, "trampoline: out of memory");
    int err = cmodx_heap_create(NULL, &d->stub_heap);
    if (!err)
        err = cmodx_block_alloc(d->stub_heap, (size_t)d->tramp_capacity * d->stub_size,
                                &d->stub_block);
    if (err)
        return err;
    for (uint32_t id = 0; id < d->tramp_capacity; id++) {
        char *w = (char *)d->stub_block.write.ptr + (size_t)id * d->stub_size;
        arch_emit_tramp_stub(w, d, id);
    }
    uintptr_t x0 = (uintptr_t)d->stub_block.exec.ptr;
    err = arch_make_visible(x0, x0 + (size_t)d->tramp_capacity * d->stub_size);
    if (err)
        return cmodx_fail(err, "trampoline: publishing the stubs failed");
    return 0;
}

void tramp_teardown(cmodx_domain *d)
{
    cmodx_heap_destroy(d->stub_heap);
    d->stub_heap = NULL;
    free(d->tramp_slots);
    free(d->tramp_free_ids);
}

/* A registering thread's copies: every existing slot starts at its stub,
 * so the thread's first call through it synchronises. */
int tramp_thread_init(cmodx_domain *d, struct thread_rec *t)
{
    if (d->strategy != CMODX_SYNC_TRAMPOLINE)
        return 0;
    for (uint32_t p = 0; p < d->tramp_capacity / CMODX_TRAMPOLINE_PAGE; p++) {
        t->copies_dir[p] = calloc(CMODX_TRAMPOLINE_PAGE, sizeof(void *));
        if (!t->copies_dir[p])
            return ENOMEM;
        for (uint32_t i = 0; i < CMODX_TRAMPOLINE_PAGE; i++)
            t->copies_dir[p][i] = stub_of(d, p * CMODX_TRAMPOLINE_PAGE + i);
    }
    return 0;
}

static const void **copy_of(struct thread_rec *t, uint32_t id)
{
    return &t->copies_dir[id / CMODX_TRAMPOLINE_PAGE][id % CMODX_TRAMPOLINE_PAGE];
}

/* Writer, after the slot's release store: point every thread's copy at
 * the stub.  Release orders the slot store before each redirect, which
 * the stub's re-check relies on. */
void tramp_redirect_all(cmodx_domain *d, cmodx_slot *s)
{
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
__attribute__((visibility("hidden"))) const void *cmodx_tramp_resync(const struct tramp_lit *lit)
{
    cmodx_domain *d = lit->domain;
    uint32_t id = (uint32_t)lit->id;
    cmodx_slot *s = __atomic_load_n(&d->tramp_slots[id], __ATOMIC_ACQUIRE);
    const void *target = __atomic_load_n(&s->target, __ATOMIC_ACQUIRE);
    if (!MUTANT(no_trampoline_sync))
        arch_context_sync();
    struct thread_rec *t = thread_find(d);
    if (!t)
        return target;
    const void **copy = copy_of(t, id);
    const void *expected = stub_of(d, id);
    if (__atomic_compare_exchange_n(copy, &expected, target, 0, __ATOMIC_ACQ_REL,
                                    __ATOMIC_ACQUIRE) &&
        __atomic_load_n(&s->target, __ATOMIC_ACQUIRE) != target) {
        expected = target;
        __atomic_compare_exchange_n(copy, &expected, stub_of(d, id), 0, __ATOMIC_ACQ_REL,
                                    __ATOMIC_RELAXED);
    }
    return target;
}

/* ---- epoch ------------------------------------------------------------------------- */

void cmodx_epoch_resync(cmodx_thread *self, uint64_t epoch)
{
    /* The caller loaded the slot (acquire) and then saw EPOCH: the code of
     * any target it loaded was made visible before EPOCH was published.
     * Synchronise before calling it, and remember. */
    if (!MUTANT(no_epoch_check))
        arch_context_sync();
    self->fast.seen_epoch = epoch;
}

/* ---- domains ------------------------------------------------------------------------ */

int cmodx_domain_create(const struct cmodx_domain_config *cfg, cmodx_domain **out)
{
    if (!out)
        return cmodx_fail(EINVAL, "cmodx_domain_create: NULL out");
    struct cmodx_domain_config def = {0};
    if (!cfg)
        cfg = &def;
    if ((unsigned)cfg->strategy > CMODX_SYNC_MPROTECT)
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
    d->signal_timeout_ms = cfg->signal_timeout_ms ? cfg->signal_timeout_ms : 2000;
    d->retired_limit = cfg->retired_limit_bytes ? cfg->retired_limit_bytes : (size_t)16 << 20;
    d->grace_timeout_ms = cfg->grace_timeout_ms ? cfg->grace_timeout_ms : 10000;
    d->retired_tail = &d->retired_head;
    d->symmetric_fences = (cfg->flags & CMODX_DOMAIN_SYMMETRIC_FENCES) != 0;
    uint32_t cap = cfg->max_trampoline_slots ? cfg->max_trampoline_slots
                                             : DEFAULT_TRAMPOLINE_SLOTS;
    d->tramp_capacity = (cap + CMODX_TRAMPOLINE_PAGE - 1) / CMODX_TRAMPOLINE_PAGE *
                        CMODX_TRAMPOLINE_PAGE;
    int err = sync_select(d, cfg);
    if (d->strategy != CMODX_SYNC_TRAMPOLINE)
        d->tramp_capacity = 0;
    if (err) {
        sync_teardown(d);
        if (d->stub_heap || d->tramp_slots)
            tramp_teardown(d);
        free(d);
        return err;
    }
    domain_list_add(d);
    *out = d;
    return 0;
}

int cmodx_domain_destroy(cmodx_domain *d)
{
    if (!d)
        return 0;
    struct thread_rec *self = thread_find(d);
    pthread_mutex_lock(&d->reg_lock);
    size_t others = d->nthreads - (self ? 1 : 0);
    pthread_mutex_unlock(&d->reg_lock);
    if (others)
        return cmodx_fail(EBUSY, "cmodx_domain_destroy: %zu other thread(s) still registered",
                          others);
    if (self)
        cmodx_thread_unregister(d);
    reclaim_teardown(d);
    domain_list_remove(d);
    sync_teardown(d);
    if (d->strategy == CMODX_SYNC_TRAMPOLINE)
        tramp_teardown(d);
    pthread_mutex_destroy(&d->writer_lock);
    pthread_mutex_destroy(&d->reg_lock);
    free(d);
    return 0;
}

enum cmodx_strategy cmodx_domain_strategy(const cmodx_domain *d)
{
    return d ? d->strategy : CMODX_SYNC_AUTO;
}

/* ---- slots ------------------------------------------------------------------------------ */

int cmodx_slot_init(cmodx_domain *d, cmodx_slot *s, cmodx_xptr initial)
{
    if (!d || !s || !initial.ptr)
        return cmodx_fail(EINVAL, "cmodx_slot_init: NULL %s", !d ? "domain" : !s ? "slot"
                                                                             : "initial target");
    if ((uintptr_t)s % _Alignof(void *))
        return cmodx_fail(EINVAL, "cmodx_slot_init: slot %p is not pointer-aligned", (void *)s);
    memset(s, 0, sizeof *s);
    s->domain = d;
    __atomic_store_n(&s->target, initial.ptr, __ATOMIC_RELEASE);
    if (d->strategy != CMODX_SYNC_TRAMPOLINE)
        return 0;
    pthread_mutex_lock(&d->writer_lock);
    uint32_t id;
    if (d->tramp_nfree) {
        id = d->tramp_free_ids[--d->tramp_nfree];
    } else if (d->tramp_next_id < d->tramp_capacity) {
        id = d->tramp_next_id++;
    } else {
        pthread_mutex_unlock(&d->writer_lock);
        return cmodx_fail(ENOMEM, "cmodx_slot_init: all %u trampoline slots in use (raise "
                          "max_trampoline_slots)", d->tramp_capacity);
    }
    s->id = id;
    s->stub = stub_of(d, id);
    __atomic_store_n(&d->tramp_slots[id], s, __ATOMIC_RELEASE);
    tramp_redirect_all(d, s);
    pthread_mutex_unlock(&d->writer_lock);
    return 0;
}

void cmodx_slot_fini(cmodx_slot *s)
{
    if (!s || !s->domain)
        return;
    cmodx_domain *d = s->domain;
    if (d->strategy == CMODX_SYNC_TRAMPOLINE && s->stub) {
        pthread_mutex_lock(&d->writer_lock);
        __atomic_store_n(&d->tramp_slots[s->id], NULL, __ATOMIC_RELEASE);
        d->tramp_free_ids[d->tramp_nfree++] = s->id;
        pthread_mutex_unlock(&d->writer_lock);
    }
    s->domain = NULL;
    s->stub = NULL;
}

/* ---- publishing ------------------------------------------------------------------------- */

struct entry {
    cmodx_slot *slot;
    cmodx_xptr code;
    size_t len;
    unsigned flags;
};

struct cmodx_batch {
    cmodx_domain *domain;
    struct entry *e;
    size_t n, cap;
};

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

static int validate(cmodx_domain *d, const struct entry *e, size_t n)
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

static int commit_locked(cmodx_domain *d, const struct entry *e, size_t n, cmodx_xptr *old)
{
    int err = validate(d, e, n);
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
        err = sync_others_locked(d);
    if (err)
        return err; /* nothing switched */
    for (size_t i = 0; i < n; i++) {
        const void *prev = __atomic_load_n(&e[i].slot->target, __ATOMIC_RELAXED);
        /* Release: pairs with the epoch caller's acquire load, and orders
         * the code bytes before the pointer for any data-side reader. */
        __atomic_store_n(&e[i].slot->target, e[i].code.ptr, __ATOMIC_RELEASE);
        if (d->strategy == CMODX_SYNC_TRAMPOLINE)
            tramp_redirect_all(d, e[i].slot);
        if (old)
            old[i].ptr = prev;
        if ((e[i].flags & CMODX_RETIRE_OLD) && prev != e[i].code.ptr) {
            cmodx_xptr p = {prev};
            if (heap_live_block_size(d->heap, p))
                reclaim_retire_locked(d, p, 0);
        }
    }
    d->stats.publishes += n;
    reclaim_advance_locked(d);
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
    int err = commit_locked(d, &e, 1, old);
    writer_leave(d, t);
    return err;
}

int cmodx_batch_begin(cmodx_domain *d, cmodx_batch **out)
{
    if (!d || !out)
        return cmodx_fail(EINVAL, "cmodx_batch_begin: NULL argument");
    cmodx_batch *b = calloc(1, sizeof *b);
    if (!b)
        return cmodx_fail(ENOMEM, "cmodx_batch_begin: out of memory");
    b->domain = d;
    *out = b;
    return 0;
}

int cmodx_batch_add(cmodx_batch *b, cmodx_slot *slot, cmodx_xptr code, size_t len,
                    unsigned flags)
{
    if (!b)
        return cmodx_fail(EINVAL, "cmodx_batch_add: NULL batch");
    struct entry e = {slot, code, len, flags};
    int err = validate(b->domain, &e, 1);
    if (err)
        return err;
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 16;
        struct entry *ne = realloc(b->e, cap * sizeof *ne);
        if (!ne)
            return cmodx_fail(ENOMEM, "cmodx_batch_add: out of memory");
        b->e = ne;
        b->cap = cap;
    }
    b->e[b->n++] = e;
    return 0;
}

void cmodx_batch_abort(cmodx_batch *b)
{
    if (!b)
        return;
    free(b->e);
    free(b);
}

int cmodx_batch_commit(cmodx_batch *b, cmodx_xptr *old_targets)
{
    if (!b)
        return cmodx_fail(EINVAL, "cmodx_batch_commit: NULL batch");
    cmodx_domain *d = b->domain;
    int err = 0;
    if (b->n) {
        struct thread_rec *t = writer_enter(d);
        err = commit_locked(d, b->e, b->n, old_targets);
        writer_leave(d, t);
    }
    cmodx_batch_abort(b);
    return err;
}
