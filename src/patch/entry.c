/*
 * src/patch/entry.c - function-entry patch points (-fpatchable-function-
 * entry): redirect, restore, list.
 *
 * The entry's NOP is replaced, once, by a direct jump to a trampoline
 * allocated within the jump's reach (cmodx_block_alloc_near).  The
 * trampoline loads a slot's target and jumps there (src/arch/<arch>-
 * patch.c: arch_emit_entry_tramp), so every later redirection is an
 * ordinary slot publish (src/slot/publish.c: visibility, one cross-thread
 * synchronisation, release store) and the text is touched again only to
 * restore the NOP.  The slot the trampoline reads is named by a literal in
 * the trampoline: the record's own slot, or a slot of the user's
 * (cmodx_entry_redirect_slot).  Switching that literal is a data store,
 * which instruction fetch never reads: a thread loads the old or the new
 * literal, and either slot holds a target published to every thread.
 *
 * Records live for the life of the process, and so do their trampolines:
 * after a restore, a thread that fetched the jump before may still take
 * it (the replacement rule promises old or new, not when the new one is
 * seen), so the trampoline and its last target must stay valid.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/arch.h"
#include "arch/patch.h"
#include "base/base.h"
#include "cmodx/error.h"
#include "cmodx/patch.h"
#include "heap/heap.h"
#include "patch/patch.h"
#include "slot/publish.h"
#include "strategy/strategy.h"
#include "thread/thread.h"

struct entry_rec {
    struct entry_rec *next;
    cmodx_domain *d;
    uintptr_t func, site;
    void *w;                     /* write view of the patch point */
    cmodx_block tramp;
    cmodx_slot slot;             /* the target when no user slot is followed */
    const cmodx_slot *follows;   /* the user's slot, or NULL */
    uint8_t orig[ARCH_PATCH_MAX]; /* the NOP found at the patch point */
    uint8_t jump[ARCH_PATCH_MAX]; /* the jump to the trampoline */
    int redirected;
};

/* Every record, oldest first; under the patch lock. */
static struct entry_rec *entries, **entries_tail = &entries;

/* The trampolines' heap: the library's own, created at the first
 * redirection and never destroyed.  A trampoline must outlive every
 * restore (a thread may still take an old jump to it), so it cannot live
 * in a heap the user may destroy or cap with a limit. */
static cmodx_heap *tramp_heap;

static struct entry_rec *rec_of(uintptr_t func)
{
    for (struct entry_rec *r = entries; r; r = r->next)
        if (r->func == func)
            return r;
    return NULL;
}

/* The literal of the trampoline: which target cell it loads. */
static void set_cell(struct entry_rec *r, const cmodx_slot *follow)
{
    const void *const *cell = follow ? &follow->target : &r->slot.target;
    uint64_t v = (uint64_t)(uintptr_t)cell;
    /* Data, not instructions: an aligned 64-bit store that the
     * trampoline's literal load sees whole, old or new. */
    __atomic_store_n((uint64_t *)((char *)r->tramp.write.ptr + arch_entry_tramp_size() - 8), v,
                     __ATOMIC_RELEASE);
    r->follows = follow;
}

/* The code bytes to make visible for TARGET: the rest of its heap block,
 * or one instruction (compiled code: nothing was written). */
static size_t target_len(cmodx_domain *d, const void *target)
{
    cmodx_block b;
    cmodx_xptr x = {target};
    if (d->heap && cmodx_heap_lookup(d->heap, x, &b, NULL) == 0)
        return (size_t)((uintptr_t)b.exec.ptr + b.size - (uintptr_t)target);
    return arch_patch_insn_size();
}

/* A new record for FUNC: the patch point checked, the trampoline allocated
 * near it, written and made visible (the caller synchronises), the slot
 * set to INITIAL.  Order: the mapping before any byte of FUNC is read,
 * every check and allocation before the write view (which moves program
 * text onto the memfd for good), so a refused or failed redirection
 * leaves the process as it was.  0 or an errno with cmodx_fail() called. */
static int rec_create(cmodx_domain *d, uintptr_t func, const void *initial,
                      struct entry_rec **out)
{
    size_t len = arch_patch_insn_size(), off = 0;
    uint8_t head[4 + ARCH_PATCH_MAX];
    const char *why = NULL;
    /* Mapped and patchable (reads nothing): an unmapped FUNC is EINVAL,
     * not a fault in the memcpy below. */
    int err = patch_check(d, func, sizeof head);
    if (err)
        return err; /* the message names the address and why */
    memcpy(head, (const void *)func, sizeof head);
    err = arch_entry_patch_point(head, sizeof head, &off, &why);
    if (err == EINVAL) {
        /* A branch where the NOP should be, after any landing pad (ENDBR64,
         * BTI): somebody redirected it. */
        uint8_t nop[ARCH_PATCH_MAX];
        arch_encode_nop(nop);
        for (size_t pad = 0; pad <= 4; pad += 4) {
            /* Would it be a patch point at PAD, with the NOP in place of
             * what is there?  (PAD: none, or after a 4-byte landing pad,
             * ENDBR64 or BTI, which the architecture's check recognises.) */
            uint8_t probe[sizeof head];
            size_t at = 0;
            const char *w2 = NULL;
            memcpy(probe, head, sizeof head);
            memcpy(probe + pad, nop, len);
            if (memcmp(head + pad, nop, len) != 0 &&
                arch_entry_patch_point(probe, sizeof probe, &at, &w2) == 0 && at == pad &&
                arch_patch_allowed(nop, head + pad, &w2) == 0)
                return cmodx_fail(EBUSY, "entry: %p was redirected by someone else (its patch "
                                  "point holds a branch cmodx did not write)", (void *)func);
        }
        arch_entry_patch_point(head, sizeof head, &off, &why);
        return cmodx_fail(EINVAL, "entry: %p is not a patch point: %s", (void *)func, why);
    }
    if (err)
        return cmodx_fail(err, "entry: %p: %s", (void *)func, why);
    if ((uintptr_t)initial >= func && (uintptr_t)initial < func + off + len)
        /* The trampoline would jump back to the entry, up to and including
         * the patch point, and so to itself: every call would loop. */
        return cmodx_fail(EINVAL, "entry: %p cannot be redirected to itself (%p)", (void *)func,
                          initial);
    struct entry_rec *r = calloc(1, sizeof *r);
    if (!r)
        return cmodx_fail(ENOMEM, "entry: out of memory");
    r->d = d;
    r->func = func;
    r->site = func + off;
    memcpy(r->orig, head + off, len);
    cmodx_xptr near = {(const void *)r->site};
    size_t reach = arch_jump_reach() - cmodx_page_size();
    if (!err && !tramp_heap)
        err = cmodx_heap_create(NULL, &tramp_heap); /* its message says why */
    /* ENOMEM (the message names the distance) or EFBIG (the file size
     * limit, docs/HEAP.md), passed on as the call returned it. */
    if (!err)
        err = cmodx_block_alloc_near(tramp_heap, arch_entry_tramp_size(), near, reach,
                                     &r->tramp);
    if (!err && arch_encode_jump(r->site, (uintptr_t)r->tramp.exec.ptr, 0, r->jump) != 0)
        err = cmodx_fail(ENOMEM, "entry: the trampoline at %p is beyond the jump's reach",
                         r->tramp.exec.ptr);
    if (!err) {
        arch_emit_entry_tramp(r->tramp.write.ptr, &r->slot.target);
        uintptr_t tx = (uintptr_t)r->tramp.exec.ptr;
        err = arch_make_visible_nosync(tx, tx + arch_entry_tramp_size());
        if (err)
            err = cmodx_fail(err, "entry: cache maintenance failed: %s", strerror(err));
    }
    /* Last, once nothing else can fail: the write view. */
    if (!err)
        err = patch_resolve(d, r->site, len, &r->w);
    /* The caller holds the writer lock. */
    cmodx_xptr init = {initial};
    if (!err)
        err = slot_init_locked(d, &r->slot, init);
    if (err) {
        /* Nothing jumps to the trampoline yet: freed at once. */
        if (r->tramp.exec.ptr)
            cmodx_block_free(tramp_heap, r->tramp.exec);
        free(r);
        return err;
    }
    *out = r;
    return 0;
}

/* Is TARGET an entry trampoline (the library's own code: redirecting a
 * function there would make it loop through slots)? */
static int is_tramp(const void *target)
{
    cmodx_block b;
    cmodx_xptr x = {target};
    return tramp_heap && cmodx_heap_lookup(tramp_heap, x, &b, NULL) == 0;
}

int entries_claimed(uintptr_t x, size_t len, const char *who)
{
    size_t n = arch_patch_insn_size();
    for (struct entry_rec *r = entries; r; r = r->next)
        if (r->redirected && r->site < x + len && x < r->site + n)
            return cmodx_fail(EBUSY, "%s: %p overlaps the patch point of the function entry %p, "
                              "which a domain redirected: restore it first", who, (void *)x,
                              (void *)r->func);
    return 0;
}

static int check_domain(cmodx_domain *d, const char *who)
{
    if (arch_patch_method() == ARCH_PATCH_NONE)
        return cmodx_fail(ENOTSUP, "%s: %s", who, arch_patch_unsupported_reason());
    return patch_usable(d, who);
}

int cmodx_entry_redirect_batch(cmodx_domain *d, const struct cmodx_entry_change *c, size_t n)
{
    if (fork_unusable_quiet())
        return fork_unusable("cmodx_entry_redirect_batch");
    if (!d || (!c && n))
        return cmodx_fail(EINVAL, "cmodx_entry_redirect_batch: NULL %s", d ? "changes" : "domain");
    if (n == 0)
        return 0;
    struct entry_rec **recs = calloc(n, sizeof *recs);
    char *fresh = calloc(n, 1);
    struct entry *pub = calloc(n, sizeof *pub);
    struct patch_site *sites = calloc(n, sizeof *sites);
    cmodx_xptr *was = calloc(n, sizeof *was);               /* step 2's old targets */
    const cmodx_slot **followed = calloc(n, sizeof *followed); /* each cell's old slot */
    if (!recs || !fresh || !pub || !sites || !was || !followed) {
        free(recs), free(fresh), free(pub), free(sites), free(was), free(followed);
        return cmodx_fail(ENOMEM, "cmodx_entry_redirect_batch: out of memory");
    }
    struct thread_rec *t = writer_enter(d);
    patch_lock();
    int err = check_domain(d, "cmodx_entry_redirect_batch");
    size_t len = arch_patch_insn_size();

    /* 1. Every check, and the new records (nothing reachable yet). */
    for (size_t i = 0; i < n && !err; i++) {
        uintptr_t f = (uintptr_t)c[i].function.ptr;
        const void *target = c[i].slot ? __atomic_load_n(&c[i].slot->target, __ATOMIC_ACQUIRE)
                                       : c[i].target.ptr;
        if (!f || !target) {
            err = cmodx_fail(EINVAL, "cmodx_entry_redirect_batch: change %zu: NULL %s", i,
                             !f ? "function" : "target");
            break;
        }
        if (c[i].slot && c[i].slot->domain != d) {
            err = cmodx_fail(EINVAL, "cmodx_entry_redirect_batch: change %zu: the slot belongs "
                             "to another domain", i);
            break;
        }
        for (size_t j = 0; j < i && !err; j++)
            if ((uintptr_t)c[j].function.ptr == f)
                err = cmodx_fail(EINVAL, "cmodx_entry_redirect_batch: %p is in the batch twice",
                                 (void *)f);
        if (err)
            break;
        struct entry_rec *r = rec_of(f);
        if (is_tramp(target) ||
            (r && (uintptr_t)target >= f && (uintptr_t)target < r->site + len)) {
            err = cmodx_fail(EINVAL, "cmodx_entry_redirect_batch: change %zu: %p %s: every call "
                             "of %p would loop", i, target,
                             is_tramp(target) ? "is an entry trampoline of the library"
                                              : "is the function's own entry",
                             (void *)f);
            break;
        }
        if (r && !r->d && !r->redirected) {
            /* Restored, and its domain destroyed: this domain adopts it.
             * The trampoline reads the slot; a thread that still takes an
             * old jump finds the last target there until the slot is
             * published below. */
            cmodx_xptr keep = {__atomic_load_n(&r->slot.target, __ATOMIC_RELAXED)};
            /* Every field but the target, which a thread taking an old
             * jump may be loading right now (slot_init_locked stores the
             * same target again). */
            r->slot.domain = NULL;
            r->slot.stub = NULL;
            r->slot.id = 0;
            r->slot.reserved = 0;
            err = slot_init_locked(d, &r->slot, keep); /* D's writer lock is held */
            if (!err) {
                r->d = d;
                set_cell(r, NULL);
            }
        }
        if (err)
            break;
        if (r && r->d != d) {
            err = cmodx_fail(EBUSY, "cmodx_entry_redirect_batch: %p is redirected through "
                             "another domain", (void *)f);
        } else if (r) {
            const void *now = r->w;
            if (memcmp(now, r->redirected ? r->jump : r->orig, len) != 0)
                err = cmodx_fail(EBUSY, "cmodx_entry_redirect_batch: the patch point of %p was "
                                 "changed by someone else", (void *)f);
        } else {
            err = rec_create(d, f, target, &r);
            fresh[i] = !err;
        }
        recs[i] = r;
    }

    /* 2. The slots: new trampolines and targets visible, ONE cross-thread
     *    synchronisation (publish_commit_locked), the slots switched. */
    size_t np = 0;
    for (size_t i = 0; i < n && !err; i++)
        if (!c[i].slot) {
            pub[np].slot = &recs[i]->slot;
            pub[np].code = c[i].target;
            pub[np].len = target_len(d, c[i].target.ptr);
            pub[np].flags = 0;
            np++;
        }
    int switched = 0;
    if (!err) {
        if (!MUTANT(no_writer_isb))
            arch_context_sync(); /* the trampolines' maintenance, for the writer */
        err = np ? publish_commit_locked(d, pub, np, was) : strategy_before_switch(d);
        switched = !err;
    }
    if (!err)
        for (size_t i = 0; i < n; i++) {
            followed[i] = recs[i]->follows;
            set_cell(recs[i], c[i].slot);
        }

    /* 3. The text: each new or restored patch point gets its jump (the
     *    patch protocol and its synchronisation). */
    size_t ns = 0;
    for (size_t i = 0; i < n && !err; i++)
        if (!recs[i]->redirected) {
            sites[ns].x = recs[i]->site;
            sites[ns].w = recs[i]->w;
            memcpy(sites[ns].old, recs[i]->orig, len);
            memcpy(sites[ns].insn, recs[i]->jump, len);
            ns++;
        }
    int text_tried = 0;
    if (!err && ns) {
        text_tried = 1;
        err = patch_apply_locked(d, sites, ns);
    }
    if (err && switched) {
        /* Step 3 failed (its protocol wrote the old instructions back):
         * undo step 2, so that nothing is redirected, as documented.  The
         * records that existed get their cells and slots back (a second
         * publish, with its own synchronisation: a thread that took a
         * redirected entry meanwhile ran the new target or the old one,
         * either a published target). */
        size_t nu = 0, k = 0;
        for (size_t i = 0; i < n; i++) {
            if (c[i].slot)
                continue;
            if (!fresh[i]) {
                pub[nu].slot = &recs[i]->slot;
                pub[nu].code = was[k];
                pub[nu].len = target_len(d, was[k].ptr);
                pub[nu].flags = 0;
                nu++;
            }
            k++;
        }
        for (size_t i = 0; i < n; i++)
            if (!fresh[i])
                set_cell(recs[i], followed[i]);
        char why[256];
        snprintf(why, sizeof why, "%s", cmodx_last_error());
        if (nu && publish_commit_locked(d, pub, nu, NULL) != 0) {
            char why2[256];
            snprintf(why2, sizeof why2, "%s", cmodx_last_error());
            err = cmodx_fail(err, "%s; switching the slots back failed too: %s", why, why2);
        } else
            err = cmodx_fail(err, "%s; the slots were switched back", why);
    }
    for (size_t i = 0; i < n; i++) {
        if (!recs[i])
            continue;
        if (!err)
            recs[i]->redirected = 1;
        if (fresh[i] && err && !text_tried) {
            /* Never reachable: no byte of the jump to it was written. */
            slot_fini_locked(&recs[i]->slot);
            cmodx_block_free(tramp_heap, recs[i]->tramp.exec);
            free(recs[i]);
        } else if (fresh[i]) {
            /* Redirected, or its text step failed: then a thread may have
             * reached the trampoline meanwhile (the breakpoint handler
             * emulates the jump while the INT3 stands; a core may fetch the
             * new branch before the old one is back), so the record stays,
             * restored, with its trampoline and slot, as every restored
             * record does; a later redirection reuses it. */
            *entries_tail = recs[i];
            entries_tail = &recs[i]->next;
        }
    }
    patch_unlock();
    writer_leave(d, t);
    free(recs), free(fresh), free(pub), free(sites), free(was), free(followed);
    return err;
}

int cmodx_entry_redirect(cmodx_domain *d, cmodx_xptr function, cmodx_xptr target)
{
    struct cmodx_entry_change c = {function, target, NULL};
    return cmodx_entry_redirect_batch(d, &c, 1);
}

int cmodx_entry_redirect_slot(cmodx_domain *d, cmodx_xptr function, const cmodx_slot *slot)
{
    if (!slot)
        return cmodx_fail(EINVAL, "cmodx_entry_redirect_slot: NULL slot");
    struct cmodx_entry_change c = {function, {NULL}, slot};
    return cmodx_entry_redirect_batch(d, &c, 1);
}

int cmodx_entry_restore(cmodx_domain *d, cmodx_xptr function)
{
    if (fork_unusable_quiet())
        return fork_unusable("cmodx_entry_restore");
    if (!d || !function.ptr)
        return cmodx_fail(EINVAL, "cmodx_entry_restore: NULL %s", d ? "function" : "domain");
    struct thread_rec *t = writer_enter(d);
    patch_lock();
    int err = check_domain(d, "cmodx_entry_restore");
    struct entry_rec *r = err ? NULL : rec_of((uintptr_t)function.ptr);
    size_t len = arch_patch_insn_size();
    if (!err && (!r || r->d != d))
        err = cmodx_fail(EINVAL, "cmodx_entry_restore: %p was not redirected by this domain",
                         function.ptr);
    if (!err && r->redirected) {
        if (memcmp(r->w, r->jump, len) != 0) {
            err = cmodx_fail(EBUSY, "cmodx_entry_restore: the patch point of %p was changed by "
                             "someone else", function.ptr);
        } else {
            struct patch_site s = {.x = r->site, .w = r->w};
            memcpy(s.old, r->jump, len);
            memcpy(s.insn, r->orig, len);
            err = patch_apply_locked(d, &s, 1);
            if (!err)
                r->redirected = 0;
        }
    }
    patch_unlock();
    writer_leave(d, t);
    return err;
}

int entries_release(cmodx_domain *d)
{
    int busy = 0;
    patch_lock();
    for (struct entry_rec *r = entries; r; r = r->next)
        busy |= r->d == d && r->redirected;
    for (struct entry_rec *r = entries; r && !busy; r = r->next)
        if (r->d == d)
            r->d = NULL;
    patch_unlock();
    return busy;
}

size_t entries_slots(cmodx_domain *d)
{
    size_t n = 0;
    patch_lock();
    for (struct entry_rec *r = entries; r; r = r->next)
        n += r->d == d && slot_valid(&r->slot);
    patch_unlock();
    return n;
}

size_t cmodx_entry_list(cmodx_domain *d, struct cmodx_entry_info *out, size_t cap)
{
    if (fork_unusable_quiet())
        return 0; /* src/base/fork.c: unusable here */
    size_t n = 0;
    if (!d)
        return 0;
    /* The patch lock is held by writers of any domain while they wait for
     * other threads: parked meanwhile (src/thread/thread.c, the lock rule). */
    thread_park();
    patch_lock();
    for (struct entry_rec *r = entries; r; r = r->next) {
        if (r->d != d)
            continue;
        if (out && n < cap) {
            const cmodx_slot *s = r->follows ? r->follows : &r->slot;
            out[n].function.ptr = (const void *)r->func;
            out[n].patch_point.ptr = (const void *)r->site;
            out[n].trampoline = r->tramp.exec;
            out[n].target.ptr = __atomic_load_n(&s->target, __ATOMIC_ACQUIRE);
            out[n].slot = r->follows;
            out[n].redirected = r->redirected;
        }
        n++;
    }
    patch_unlock();
    thread_unpark();
    return n;
}
