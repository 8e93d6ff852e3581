/*
 * src/thread/refs.c - how many slots of a domain target each block of its
 * heap.
 *
 * Why: a slot's old target may be shared (the usual lazy-compile stub is
 * every slot's first target) or be an entry point inside a block (a JIT
 * header before the code).  CMODX_RETIRE_OLD must retire the block that
 * holds the old target, and only once no slot of the domain targets any
 * address in it: a block retired while another slot still jumps into it
 * would be freed (trap-filled, reused) under that slot's callers.  The
 * counts live here, below the slot layer, because cmodx_retire()
 * (reclaim.c) consults them too.
 *
 * The table is an array of blocks sorted by start address, searched by
 * bisection for the block whose range holds an address; dropping a count
 * needs no heap lookup, so it works even for a block the caller freed
 * behind the domain's back.  Its length is the number of distinct blocks
 * that slots target (at most the number of slots).  Every call is under
 * the domain's writer lock (publishes, slot init and fini, retire).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "thread/refs.h"
#include "thread/thread.h"

/* The index of the first block whose start is above X. */
static size_t upper(const struct block_refs *t, uintptr_t x)
{
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if ((uintptr_t)t->e[mid].start > x)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

/* The block holding X, or NULL. */
static struct block_ref *find(struct block_refs *t, const void *x)
{
    size_t i = upper(t, (uintptr_t)x);
    if (i == 0)
        return NULL;
    struct block_ref *r = &t->e[i - 1];
    return (uintptr_t)x - (uintptr_t)r->start < r->size ? r : NULL;
}

static void remove_ref(struct block_refs *t, struct block_ref *r)
{
    size_t i = (size_t)(r - t->e);
    memmove(&t->e[i], &t->e[i + 1], (t->n - i - 1) * sizeof *r);
    t->n--;
}

int refs_reserve(cmodx_domain *d, size_t more)
{
    struct block_refs *t = &d->refs;
    if (more <= t->cap - t->n)
        return 0;
    if (more > SIZE_MAX / sizeof *t->e / 2 - t->n)
        return cmodx_fail(ENOMEM, "publish: %zu slot switches are too many to count", more);
    size_t cap = t->cap ? t->cap : 16;
    while (cap - t->n < more)
        cap *= 2;
    struct block_ref *e = realloc(t->e, cap * sizeof *e);
    if (!e)
        return cmodx_fail(ENOMEM, "publish: out of memory for the slots' block counts");
    t->e = e;
    t->cap = cap;
    return 0;
}

void refs_add(cmodx_domain *d, cmodx_xptr start, size_t size)
{
    struct block_refs *t = &d->refs;
    struct block_ref *r = find(t, start.ptr);
    if (r && r->start == start.ptr) {
        r->slots++;
        return;
    }
    if (r) {
        /* A stale range overlapping this block (its block was freed behind
         * the domain's back and the space reused): the heap's answer wins. */
        remove_ref(t, r);
    }
    if (t->n == t->cap)
        return; /* not reserved: a caller's bug; uncounted, never retired */
    size_t i = upper(t, (uintptr_t)start.ptr);
    memmove(&t->e[i + 1], &t->e[i], (t->n - i) * sizeof *t->e);
    t->e[i] = (struct block_ref){start.ptr, size, 1, 0};
    t->n++;
}

void refs_drop(cmodx_domain *d, const void *x)
{
    struct block_ref *r = find(&d->refs, x);
    if (!r || !r->slots)
        return;
    if (--r->slots == 0 && !r->doomed)
        remove_ref(&d->refs, r);
}

unsigned refs_of(cmodx_domain *d, const void *x, cmodx_xptr *start)
{
    struct block_ref *r = find(&d->refs, x);
    if (!r)
        return 0;
    if (start)
        start->ptr = r->start;
    return r->slots;
}

int refs_doom(cmodx_domain *d, const void *x)
{
    struct block_ref *r = find(&d->refs, x);
    if (!r)
        return 0;
    r->doomed = 1;
    return 1;
}

int refs_take_doomed(cmodx_domain *d, const void *x, cmodx_xptr *start)
{
    struct block_ref *r = find(&d->refs, x);
    /* The mutant retires the block although slots still target it. */
    if (!r || !r->doomed || (r->slots && !MUTANT(retire_old_no_refcount)))
        return 0;
    start->ptr = r->start;
    remove_ref(&d->refs, r);
    return 1;
}

void refs_free(cmodx_domain *d)
{
    free(d->refs.e);
    memset(&d->refs, 0, sizeof d->refs);
}
