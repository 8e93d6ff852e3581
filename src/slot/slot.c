/*
 * src/slot/slot.c - slots: initialisation and release.  What a strategy
 * attaches to a slot (the trampoline's id and stub) is its slot_init and
 * slot_fini operations; publishing is in publish.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "base/fork.h"
#include "heap/heap.h"
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

/* ---- the process's initialised slots --------------------------------------------- */

/*
 * Every initialised slot of the process, by address, with its domain: so
 * that cmodx_slot_init() refuses a slot that is already initialised
 * without reading the slot's own memory (which is the caller's and may be
 * uninitialised: deciding from its bytes would be a read of undefined
 * memory, and a stale tag would be believed), and a failed init never
 * clobbers a live slot.  An open-addressing set of addresses (TOMB marks
 * a removed entry), grown before an entry is needed.
 *
 * Each entry also names the block (of any heap) that its slot's target
 * lies in, and TARGETS counts the slots per such block: the heap's
 * question "does a slot of any domain target this block?", asked on
 * every block free and retirement, is one lookup there (a scan of every
 * live slot made freeing 100,000 blocks with a million slots take hours).
 * A slot's entry moves from its old block to its new one after the
 * publish's switches; the new block is counted before them (a block is
 * never uncounted while a slot targets it).  Counted per block, not per
 * domain: a block shared by slots of several domains, on one heap or
 * across heaps, is known to be targeted until the last of them leaves.
 *
 * Lock rule: live_lock is taken only with a domain's writer lock held
 * (the caller is parked: src/thread/thread.c) and is never held while
 * waiting for anything, so fork's prepare handler, which holds every
 * writer lock, never sees it held.
 */
struct live_ent {
    const cmodx_slot *s; /* NULL: empty; TOMB: removed */
    const cmodx_domain *d;
    const void *blk; /* the start of the block its target lies in, counted
                      * in TARGETS; NULL: static code (or not yet counted) */
};
#define TOMB ((const cmodx_slot *)1)
static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static struct live_ent *live;
static size_t live_cap, live_used; /* capacity (a power of 2), entries incl. tombs */
static struct block_refs targets;  /* initialised slots per targeted block (refs.c) */

static size_t live_hash(const cmodx_slot *s)
{
    uint64_t v = (uint64_t)(uintptr_t)s * 0x9e3779b97f4a7c15u;
    return (size_t)(v >> 17);
}

/* Under live_lock: the entry of S, or NULL. */
static struct live_ent *live_find(const cmodx_slot *s)
{
    if (!live_cap)
        return NULL;
    for (size_t i = live_hash(s) & (live_cap - 1);; i = (i + 1) & (live_cap - 1)) {
        if (live[i].s == s)
            return &live[i];
        if (!live[i].s)
            return NULL;
    }
}

/* Under live_lock: room for one more entry (at most 1/2 full, tombs
 * included); 0 or ENOMEM.  The table is rebuilt without its tombs at a
 * size set by the live entries alone (at most 1/4 full after the
 * rebuild, so rebuilds stay amortised O(1) per insertion): doubling at
 * every rebuild made its size follow the number of slots ever
 * initialised, not the number alive (a program that inits and finis
 * slots for ever grew it without bound). */
static int live_reserve(void)
{
    if ((live_used + 1) * 2 <= live_cap)
        return 0;
    size_t alive = 0;
    for (size_t i = 0; i < live_cap; i++)
        alive += live[i].s && live[i].s != TOMB;
    size_t cap = 64;
    while ((alive + 1) * 4 > cap)
        cap *= 2;
    struct live_ent *n = calloc(cap, sizeof *n);
    if (!n)
        return ENOMEM;
    size_t used = 0;
    for (size_t i = 0; i < live_cap; i++)
        if (live[i].s && live[i].s != TOMB) {
            size_t j = live_hash(live[i].s) & (cap - 1);
            while (n[j].s)
                j = (j + 1) & (cap - 1);
            n[j] = live[i];
            used++;
        }
    free(live);
    live = n;
    live_cap = cap;
    live_used = used;
    return 0;
}

/* Under live_lock, after live_reserve(). */
static void live_add(const cmodx_slot *s, const cmodx_domain *d)
{
    size_t i = live_hash(s) & (live_cap - 1);
    while (live[i].s && live[i].s != TOMB)
        i = (i + 1) & (live_cap - 1);
    if (!live[i].s)
        live_used++;
    live[i] = (struct live_ent){s, d, NULL};
}

/* Under live_lock: E leaves the set, and its block loses a slot. */
static void live_drop(struct live_ent *e)
{
    refs_table_drop(&targets, e->blk);
    e->blk = NULL;
    e->s = TOMB;
}

static void live_remove(const cmodx_slot *s)
{
    lib_enter(); /* a lock fork's prepare takes (src/base/fork.c) */
    pthread_mutex_lock(&live_lock);
    struct live_ent *e = live_find(s);
    if (e)
        live_drop(e);
    pthread_mutex_unlock(&live_lock);
    lib_leave();
}

size_t slots_forget(const cmodx_domain *d)
{
    size_t n = 0;
    lib_enter(); /* a lock fork's prepare takes (src/base/fork.c) */
    pthread_mutex_lock(&live_lock);
    for (size_t i = 0; i < live_cap; i++)
        if (live[i].s && live[i].s != TOMB && live[i].d == d) {
            live_drop(&live[i]);
            n++;
        }
    pthread_mutex_unlock(&live_lock);
    lib_leave();
    return n;
}

/* The heap's questions (heap_set_target_check).  Does an initialised slot
 * target an address in the block starting at START?  One lookup. */
static int slots_target_block(const void *start)
{
    lib_enter(); /* a lock fork's prepare takes (src/base/fork.c) */
    pthread_mutex_lock(&live_lock);
    int hit = refs_table_of(&targets, start) != 0;
    pthread_mutex_unlock(&live_lock);
    lib_leave();
    return hit;
}

/* ... in [B, B+LEN) (a heap's chunk, whole blocks)?  A block lies inside
 * the range iff its start does: a scan of the targeted blocks, not of
 * the slots (heap destruction asks, once per chunk). */
static int slots_target_range(uintptr_t b, size_t len)
{
    int hit = 0;
    lib_enter(); /* a lock fork's prepare takes (src/base/fork.c) */
    pthread_mutex_lock(&live_lock);
    for (size_t i = 0; i < targets.cap && !hit; i++)
        hit = targets.e[i].start && targets.e[i].slots &&
              (uintptr_t)targets.e[i].start - b < len;
    pthread_mutex_unlock(&live_lock);
    lib_leave();
    return hit;
}

int slots_count_new(const struct entry *e, size_t n)
{
    lib_enter(); /* a lock fork's prepare takes (src/base/fork.c) */
    pthread_mutex_lock(&live_lock);
    int err = refs_table_reserve(&targets, n);
    for (size_t i = 0; i < n && !err; i++)
        refs_table_add(&targets, e[i].tblock.ptr);
    pthread_mutex_unlock(&live_lock);
    lib_leave();
    if (err)
        return cmodx_fail(ENOMEM, "publish: out of memory for the index of targeted blocks");
    return 0;
}

void slots_uncount_new(const struct entry *e, size_t n)
{
    lib_enter(); /* a lock fork's prepare takes (src/base/fork.c) */
    pthread_mutex_lock(&live_lock);
    for (size_t i = 0; i < n; i++)
        refs_table_drop(&targets, e[i].tblock.ptr);
    pthread_mutex_unlock(&live_lock);
    lib_leave();
}

void slots_count_switched(const struct entry *e, size_t n)
{
    lib_enter(); /* a lock fork's prepare takes (src/base/fork.c) */
    pthread_mutex_lock(&live_lock);
    for (size_t i = 0; i < n; i++) {
        struct live_ent *le = live_find(e[i].slot);
        /* The new block was counted once for this entry before the switch
         * (slots_count_new): the slot's entry takes that count over, and
         * its old block loses one.  (A slot of the batch twice: its second
         * entry takes over from its first.)  A valid slot is always found;
         * if not, the count is given back. */
        if (le) {
            refs_table_drop(&targets, le->blk);
            le->blk = e[i].tblock.ptr;
        } else {
            refs_table_drop(&targets, e[i].tblock.ptr);
        }
    }
    pthread_mutex_unlock(&live_lock);
    lib_leave();
}

static void live_fork_prepare(void) { pthread_mutex_lock(&live_lock); }
static void live_fork_parent(void) { pthread_mutex_unlock(&live_lock); }
/* The child's only thread took the lock in live_fork_prepare(). */
static void live_fork_child(void) { pthread_mutex_unlock(&live_lock); }
static const struct fork_steps live_fork_steps = {live_fork_prepare, live_fork_parent,
                                                  live_fork_child, NULL, NULL};

/* Is S registered as initialised?  (live_lock is a leaf with its own
 * fork stage: taken here without a writer lock.) */
static int slot_is_live(const cmodx_slot *s)
{
    fork_register(FORK_STAGE_SLOTS, &live_fork_steps);
    lib_enter(); /* a lock fork's prepare takes (src/base/fork.c) */
    pthread_mutex_lock(&live_lock);
    int r = live_find(s) != NULL;
    pthread_mutex_unlock(&live_lock);
    lib_leave();
    return r;
}

/* The live slot S (just claimed) targets the block at BLK (NULL: static
 * code): 0 or ENOMEM (cmodx_fail() called). */
static int live_count(const cmodx_slot *s, const void *blk)
{
    lib_enter(); /* a lock fork's prepare takes (src/base/fork.c) */
    pthread_mutex_lock(&live_lock);
    int err = refs_table_reserve(&targets, 1);
    struct live_ent *e = err ? NULL : live_find(s);
    if (e) {
        refs_table_add(&targets, blk);
        refs_table_drop(&targets, e->blk);
        e->blk = blk;
    }
    pthread_mutex_unlock(&live_lock);
    lib_leave();
    if (err)
        return cmodx_fail(ENOMEM, "cmodx_slot_init: out of memory for the index of targeted "
                          "blocks");
    return 0;
}

/* Register S as initialised in D: EINVAL if it already is (in any
 * domain), ENOMEM; 0 with the entry made. */
static int live_claim(cmodx_slot *s, cmodx_domain *d)
{
    fork_register(FORK_STAGE_SLOTS, &live_fork_steps);
    heap_set_target_check(slots_target_block, slots_target_range);
    lib_enter(); /* a lock fork's prepare takes (src/base/fork.c) */
    pthread_mutex_lock(&live_lock);
    struct live_ent *e = live_find(s);
    /* What the message needs, copied under the lock: once it is released
     * another thread's live_reserve() may realloc or free the table E
     * points into. */
    int same = e && e->d == d;
    int err = e ? EINVAL : live_reserve();
    if (!err)
        live_add(s, d);
    pthread_mutex_unlock(&live_lock);
    lib_leave();
    if (err == EINVAL)
        return cmodx_fail(EINVAL, "cmodx_slot_init: slot %p is already initialised (in %s "
                          "domain); cmodx_slot_fini it first", (void *)s,
                          same ? "this" : "another");
    if (err)
        return cmodx_fail(ENOMEM, "cmodx_slot_init: out of memory");
    return 0;
}

int slot_init_locked(cmodx_domain *d, cmodx_slot *s, cmodx_xptr initial)
{
    /* Before anything is written: a live slot is refused untouched. */
    int err = live_claim(s, d);
    if (err)
        return err;
    memset(s, 0, sizeof *s); /* unusable (publish: EINVAL) unless we succeed */
    cmodx_xptr block = {NULL}, any = {NULL};
    size_t size = 0;
    err = code_check(d, "cmodx_slot_init", initial, 0, &block, &size, &any);
    if (!err && block.ptr)
        err = refs_reserve(d, 1);
    if (!err)
        err = live_count(s, any.ptr);
    if (!err) {
        struct entry one = {.block = block, .tblock = any};
        err = recheck_live(d, "cmodx_slot_init", &one, 1);
    }
    if (err) {
        live_remove(s);
        return err;
    }
    s->domain = d;
    __atomic_store_n(&s->target, initial.ptr, __ATOMIC_RELEASE);
    if (d->ops->slot_init && (err = d->ops->slot_init(d, s)) != 0) {
        /* The mutant leaves the half-made slot usable, as it once was:
         * a publish into it then switches another slot's copies. */
        if (MUTANT(failed_slot_init_usable)) {
            s->reserved = slot_tag(s, d);
            d->nslots++;
        } else {
            memset(s, 0, sizeof *s);
            live_remove(s);
        }
        return err;
    }
    if (block.ptr)
        refs_add(d, block);
    s->reserved = slot_tag(s, d);
    d->nslots++;
    return 0;
}

int cmodx_slot_init(cmodx_domain *d, cmodx_slot *s, cmodx_xptr initial)
{
    if (fork_unusable_quiet())
        return fork_unusable("cmodx_slot_init");
    if (!s)
        return cmodx_fail(EINVAL, "cmodx_slot_init: NULL slot");
    if ((uintptr_t)s % _Alignof(void *))
        return cmodx_fail(EINVAL, "cmodx_slot_init: slot %p is not pointer-aligned", (void *)s);
    /* Zeroed (defined, not initialised) unless it is a live slot: a failed
     * call never clobbers one. */
    if ((!d || !initial.ptr) && !slot_is_live(s))
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
    if (fork_unusable_quiet())
        return; /* src/base/fork.c: unusable here */
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
    /* Out of the process's live slots before its block may be retired:
     * the heap's check (slots_target_block) must not count this slot. */
    live_remove(s);
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
    d->nslots--;
}
