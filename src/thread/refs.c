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
 * The table is a hash table keyed by the block's start (open addressing,
 * linear probing, deletion by backward shift, at most half full), so each
 * operation costs O(1) whatever the number of slots; the callers find a
 * target's block start with the heap (heap_find_block).  Its size is the
 * number of distinct blocks that slots target (at most the number of
 * slots).  Every call is under the domain's writer lock (publishes, slot
 * init and fini, retire).
 *
 * The same table, without the domain, is the slot layer's process-wide
 * index of the blocks that initialised slots of every domain target
 * (src/slot/slot.c, under its own lock): the refs_table_* functions.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "thread/refs.h"
#include "thread/thread.h"

/* Block starts are granule-aligned and close together: every bit of the
 * address must reach the low bits the mask keeps (splitmix64's
 * finaliser, a full avalanche). */
static size_t hash(const void *p, size_t mask)
{
    uint64_t v = (uint64_t)(uintptr_t)p;
    v ^= v >> 30;
    v *= 0xbf58476d1ce4e5b9u;
    v ^= v >> 27;
    v *= 0x94d049bb133111ebu;
    v ^= v >> 31;
    return (size_t)v & mask;
}

/* The slot of START, or NULL. */
static struct block_ref *find(struct block_refs *t, const void *start)
{
    if (!t->cap || !start)
        return NULL;
    size_t mask = t->cap - 1;
    for (size_t i = hash(start, mask);; i = (i + 1) & mask) {
        if (t->e[i].start == start)
            return &t->e[i];
        if (!t->e[i].start)
            return NULL;
    }
}

static void insert(struct block_refs *t, struct block_ref r)
{
    size_t mask = t->cap - 1, i = hash(r.start, mask);
    while (t->e[i].start)
        i = (i + 1) & mask;
    t->e[i] = r;
    t->n++;
}

/* Remove R, shifting back the entries of its probe run that would
 * otherwise no longer be found (no tombstones). */
static void remove_ref(struct block_refs *t, struct block_ref *r)
{
    size_t mask = t->cap - 1, i = (size_t)(r - t->e), j = i;
    t->e[i].start = NULL;
    for (;;) {
        j = (j + 1) & mask;
        if (!t->e[j].start)
            break;
        size_t home = hash(t->e[j].start, mask);
        /* Move E[j] into the hole at I unless its home lies cyclically in
         * (I, J]: then it is still reachable from its home. */
        if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
            t->e[i] = t->e[j];
            t->e[j].start = NULL;
            i = j;
        }
    }
    t->n--;
}

int refs_table_reserve(struct block_refs *t, size_t more)
{
    if (more > SIZE_MAX / 4 / sizeof *t->e - t->n)
        return ENOMEM;
    size_t need = 2 * (t->n + more); /* at most half full */
    if (need <= t->cap)
        return 0;
    size_t cap = t->cap ? t->cap : 16;
    while (cap < need)
        cap *= 2;
    struct block_ref *e = calloc(cap, sizeof *e);
    if (!e)
        return ENOMEM;
    struct block_refs old = *t;
    t->e = e;
    t->cap = cap;
    t->n = 0;
    for (size_t i = 0; i < old.cap; i++)
        if (old.e[i].start)
            insert(t, old.e[i]);
    free(old.e);
    return 0;
}

int refs_reserve(cmodx_domain *d, size_t more)
{
    if (refs_table_reserve(&d->refs, more) == 0)
        return 0;
    if (more > SIZE_MAX / 4 / sizeof *d->refs.e - d->refs.n)
        return cmodx_fail(ENOMEM, "publish: %zu slot switches are too many to count", more);
    return cmodx_fail(ENOMEM, "publish: out of memory for the slots' block counts");
}

void refs_table_add(struct block_refs *t, const void *start)
{
    struct block_ref *r = find(t, start);
    if (r) {
        r->slots++;
        return;
    }
    if (!start || 2 * (t->n + 1) > t->cap)
        return; /* not reserved: a caller's bug; uncounted, never retired */
    insert(t, (struct block_ref){start, 1, 0});
}

void refs_table_drop(struct block_refs *t, const void *start)
{
    struct block_ref *r = find(t, start);
    if (!r || !r->slots)
        return;
    if (--r->slots == 0 && !r->doomed)
        remove_ref(t, r);
}

unsigned refs_table_of(struct block_refs *t, const void *start)
{
    struct block_ref *r = find(t, start);
    return r ? r->slots : 0;
}

void refs_add(cmodx_domain *d, cmodx_xptr start) { refs_table_add(&d->refs, start.ptr); }

void refs_drop(cmodx_domain *d, cmodx_xptr start) { refs_table_drop(&d->refs, start.ptr); }

int refs_leave(cmodx_domain *d, cmodx_xptr start, int doom)
{
    struct block_ref *r = find(&d->refs, start.ptr);
    if (!r)
        return -1;
    if (doom)
        r->doomed = 1;
    if (!r->slots)
        return r->doomed; /* refs_drop() would change nothing */
    if (--r->slots == 0 && !r->doomed) {
        remove_ref(&d->refs, r);
        return 0;
    }
    return r->doomed && r->slots == 0;
}

void refs_prefetch(cmodx_domain *d, const void *start)
{
    struct block_refs *t = &d->refs;
    if (t->cap && start)
        __builtin_prefetch(&t->e[hash(start, t->cap - 1)], 1);
}

unsigned refs_of(cmodx_domain *d, cmodx_xptr start) { return refs_table_of(&d->refs, start.ptr); }

int refs_doom(cmodx_domain *d, cmodx_xptr start)
{
    struct block_ref *r = find(&d->refs, start.ptr);
    if (!r)
        return 0;
    r->doomed = 1;
    return 1;
}

int refs_take_doomed(cmodx_domain *d, cmodx_xptr start)
{
    struct block_ref *r = find(&d->refs, start.ptr);
    /* The mutant retires the block although slots still target it. */
    if (!r || !r->doomed || (r->slots && !MUTANT(retire_old_no_refcount)))
        return 0;
    remove_ref(&d->refs, r);
    return 1;
}

void refs_free(cmodx_domain *d)
{
    free(d->refs.e);
    memset(&d->refs, 0, sizeof d->refs);
}
